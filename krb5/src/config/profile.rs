//! The profile file syntax of krb5.conf, parsed as MIT krb5 1.20's profile
//! library (`util/profile/prof_parse.c`) parses it.
//!
//! The rules, all checked against that parser:
//! - Lines before the first line that starts with `[` in column 0 are ignored.
//! - A line whose first non-blank character is `#` or `;` is a comment. There
//!   are no trailing comments: `kdc = host # x` has the value `host # x`.
//! - `[name]` opens a top-level section, optionally followed by `*` (final).
//!   A repeated section name continues the earlier section.
//! - `name = value` adds a relation. The value keeps inner blanks and loses
//!   trailing ones. A value starting with `"` ends at the next unescaped `"`,
//!   with `\n`, `\t`, `\b` and `\<c>` (any other `c`) escapes, and the rest of
//!   the line is ignored.
//! - `name = {` (or `name =` followed by a line starting with `{`) opens a
//!   group, closed by `}`. A `*` at the end of the name or after the `}` marks
//!   the group final. Groups of the same name in one section are merged.
//! - `include PATH` and `includedir DIR`, in column 0, read more files into
//!   the top level, each starting afresh (it must open its own section).
//! - Nodes of one section are kept sorted by name; relations of the same name
//!   keep their file order.
//!
//! NOTE: MIT reads lines into a 2048-byte buffer and parses a longer line as
//! several lines. Here a line is parsed whole, whatever its length.

use std::fmt;
use std::io;

/// The maximum nesting of `include`/`includedir`.
///
/// MIT 1.20 has no limit and recurses until it runs out of file descriptors on
/// an include cycle. The limit turns such a cycle into an error.
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// A node of a profile tree: a relation (`name = value`) or a section/group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    /// Set by `*`: later files of a KRB5_CONFIG list are not searched past a
    /// final section. MIT 1.20 records the flag on relations too but ignores
    /// it there when looking values up, and so does [`super::Config`].
    pub is_final: bool,
    pub value: NodeValue,
}

/// The content of a [`Node`]: a relation value or a section's children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeValue {
    Relation(String),
    Section(Vec<Node>),
}

impl Node {
    /// Returns the child nodes of a section, or nothing for a relation.
    pub fn children(&self) -> &[Node] {
        match &self.value {
            NodeValue::Section(children) => children,
            NodeValue::Relation(_) => &[],
        }
    }

    /// Returns the value of a relation.
    pub fn relation_value(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Relation(value) => Some(value),
            NodeValue::Section(_) => None,
        }
    }
}

/// One parsed file, with the files it includes merged into it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// The path or name of the file, for messages.
    pub origin: String,
    /// The top-level sections.
    pub sections: Vec<Node>,
}

impl Profile {
    /// Finds the section at `path` (section names from the top level down).
    pub fn section(&self, path: &[&str]) -> Option<&Node> {
        let (first, rest) = path.split_first()?;
        let mut node = find_section(&self.sections, first)?;
        for name in rest {
            node = find_section(node.children(), name)?;
        }
        Some(node)
    }
}

fn find_section<'a>(nodes: &'a [Node], name: &str) -> Option<&'a Node> {
    nodes
        .iter()
        .find(|n| n.name == name && matches!(n.value, NodeValue::Section(_)))
}

/// A syntax or include failure, with the file and line where it happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}, line {line}: {kind}")]
pub struct ProfileError {
    pub origin: String,
    /// 1-based line number.
    pub line: usize,
    pub kind: ProfileErrorKind,
}

/// The problem found at a [`ProfileError`]'s line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileErrorKind {
    #[error("section header [{0}] inside a group; close the group with '}}' first")]
    SectionNotTopLevel(String),
    #[error("invalid section header {0:?}; expected [name] or [name]*")]
    SectionSyntax(String),
    #[error("invalid relation {line:?}: {reason}")]
    RelationSyntax { line: String, reason: &'static str },
    #[error("'}}' without an open group")]
    ExtraCloseBrace,
    #[error("expected '{{' to open the group started on the line before, found {0:?}")]
    MissingOpenBrace(String),
    #[error("the 'module' directive (profile from a plug-in) is not supported")]
    ModuleDirective,
    #[error("cannot read included file {path:?}: {reason}")]
    IncludeFile { path: String, reason: String },
    #[error("cannot read included directory {path:?}: {reason}")]
    IncludeDir { path: String, reason: String },
    #[error("includes nested deeper than {MAX_INCLUDE_DEPTH} levels at {0:?}; check for an include cycle")]
    IncludeDepth(String),
}

/// The source of the files and directories that `include` and
/// `includedir` read.
pub trait IncludeSource {
    /// Reads a whole file as text.
    fn read_file(&mut self, path: &str) -> io::Result<String>;
    /// Lists the names of the regular files in a directory, in any order.
    fn list_dir(&mut self, path: &str) -> io::Result<Vec<String>>;
}

/// Reads includes from the file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileSystem;

impl IncludeSource for FileSystem {
    fn read_file(&mut self, path: &str) -> io::Result<String> {
        read_text_file(path)
    }

    fn list_dir(&mut self, path: &str) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            // MIT opens every listed name; a directory then reads as empty.
            // Skipping anything that is not a file (after symlinks) has the
            // same effect.
            if !std::fs::metadata(entry.path())?.is_file() {
                continue;
            }
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }
}

/// Reads a profile file as text. Bytes that are not UTF-8 become U+FFFD.
pub(crate) fn read_text_file(path: &str) -> io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// An [`IncludeSource`] that reads nothing, so that [`parse_str`] stays pure.
struct NoIncludes;

impl IncludeSource for NoIncludes {
    fn read_file(&mut self, _path: &str) -> io::Result<String> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "includes are not read when parsing a string; load the file instead",
        ))
    }

    fn list_dir(&mut self, path: &str) -> io::Result<Vec<String>> {
        self.read_file(path).map(|_| Vec::new())
    }
}

/// Parses profile text without touching the file system: an `include` or
/// `includedir` line is an error. `origin` names the text in messages.
pub fn parse_str(text: &str, origin: &str) -> Result<Profile, ProfileError> {
    parse_with(text, origin, &mut NoIncludes)
}

/// Parses profile text, reading includes from `source`.
pub fn parse_with(
    text: &str,
    origin: &str,
    source: &mut dyn IncludeSource,
) -> Result<Profile, ProfileError> {
    let mut profile = Profile {
        origin: origin.to_string(),
        sections: Vec::new(),
    };
    parse_fragment(text, origin, &mut profile.sections, source, 0)?;
    Ok(profile)
}

/// Reads and parses the file at `path`, following its includes.
pub fn parse_file(path: &str) -> Result<Profile, ProfileError> {
    let text = read_text_file(path).map_err(|e| ProfileError {
        origin: path.to_string(),
        line: 0,
        kind: ProfileErrorKind::IncludeFile {
            path: path.to_string(),
            reason: e.to_string(),
        },
    })?;
    parse_with(&text, path, &mut FileSystem)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first `[` in column 0.
    Preamble,
    Standard,
    /// After `name =` with nothing behind it: the next line must open with `{`.
    ExpectOpenBrace,
}

struct Parser {
    state: State,
    /// Names from the top level down to the current section or group. Names
    /// and not indexes, because an include inserts top-level sections.
    path: Vec<String>,
    depth: usize,
}

fn parse_fragment(
    text: &str,
    origin: &str,
    root: &mut Vec<Node>,
    source: &mut dyn IncludeSource,
    depth: usize,
) -> Result<(), ProfileError> {
    let mut parser = Parser {
        state: State::Preamble,
        path: Vec::new(),
        depth,
    };
    for (index, raw_line) in text.split('\n').enumerate() {
        let line = raw_line.trim_end_matches(['\r', '\n']);
        parser
            .parse_line(line, root, source)
            .map_err(|kind| match kind {
                LineError::Here(kind) => ProfileError {
                    origin: origin.to_string(),
                    line: index + 1,
                    kind,
                },
                LineError::Included(error) => error,
            })?;
    }
    Ok(())
}

enum LineError {
    Here(ProfileErrorKind),
    /// An error inside an included file, which already names its own place.
    Included(ProfileError),
}

impl From<ProfileErrorKind> for LineError {
    fn from(kind: ProfileErrorKind) -> Self {
        LineError::Here(kind)
    }
}

/// Returns true for the characters C's `isspace` accepts.
pub(crate) fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

fn skip_blanks(text: &str) -> &str {
    text.trim_start_matches(is_c_space)
}

/// Returns the rest of `line` after `keyword` when the keyword is followed by
/// a blank, as MIT checks for `include` and friends.
fn directive<'l>(line: &'l str, keyword: &str) -> Option<&'l str> {
    let rest = line.strip_prefix(keyword)?;
    if rest.starts_with(is_c_space) {
        Some(skip_blanks(rest))
    } else {
        None
    }
}

impl Parser {
    fn parse_line(
        &mut self,
        line: &str,
        root: &mut Vec<Node>,
        source: &mut dyn IncludeSource,
    ) -> Result<(), LineError> {
        if let Some(path) = directive(line, "include") {
            return self.include_file(path, root, source);
        }
        if let Some(path) = directive(line, "includedir") {
            return self.include_dir(path, root, source);
        }

        match self.state {
            State::Preamble => {
                if directive(line, "module").is_some() {
                    return Err(ProfileErrorKind::ModuleDirective.into());
                }
                if !line.starts_with('[') {
                    return Ok(());
                }
                self.state = State::Standard;
                self.parse_standard_line(line, root)
            }
            State::Standard => self.parse_standard_line(line, root),
            State::ExpectOpenBrace => {
                // MIT ignores whatever follows the brace on this line.
                if !skip_blanks(line).starts_with('{') {
                    return Err(ProfileErrorKind::MissingOpenBrace(line.to_string()).into());
                }
                self.state = State::Standard;
                Ok(())
            }
        }
    }

    fn parse_standard_line(&mut self, line: &str, root: &mut Vec<Node>) -> Result<(), LineError> {
        let text = skip_blanks(line);
        if text.is_empty() || text.starts_with(['#', ';']) {
            return Ok(());
        }

        if let Some(header) = text.strip_prefix('[') {
            return self.parse_section_header(line, header, root);
        }

        if let Some(rest) = text.strip_prefix('}') {
            if self.path.len() <= 1 {
                return Err(ProfileErrorKind::ExtraCloseBrace.into());
            }
            if rest.starts_with('*') {
                if let Some(group) = current_node(root, &self.path) {
                    group.is_final = true;
                }
            }
            self.path.pop();
            return Ok(());
        }

        self.parse_relation(text, root)
    }

    fn parse_section_header(
        &mut self,
        line: &str,
        header: &str,
        root: &mut Vec<Node>,
    ) -> Result<(), LineError> {
        if self.path.len() > 1 {
            let name = header.split(']').next().unwrap_or(header);
            return Err(ProfileErrorKind::SectionNotTopLevel(name.to_string()).into());
        }
        let Some((name, rest)) = header.split_once(']') else {
            return Err(ProfileErrorKind::SectionSyntax(line.to_string()).into());
        };
        let (is_final, rest) = match rest.strip_prefix('*') {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        if !skip_blanks(rest).is_empty() {
            return Err(ProfileErrorKind::SectionSyntax(line.to_string()).into());
        }

        let index = add_node(root, name, None);
        if is_final {
            root[index].is_final = true;
        }
        self.path = vec![name.to_string()];
        Ok(())
    }

    fn parse_relation(&mut self, text: &str, root: &mut [Node]) -> Result<(), LineError> {
        let syntax_error = |reason| ProfileErrorKind::RelationSyntax {
            line: text.to_string(),
            reason,
        };
        let Some((tag_part, value_part)) = text.split_once('=') else {
            return Err(syntax_error("expected 'name = value'").into());
        };
        if tag_part.is_empty() {
            return Err(syntax_error("the name before '=' is empty").into());
        }
        let (tag, after_tag) = tag_part.split_once(is_c_space).unwrap_or((tag_part, ""));
        if !skip_blanks(after_tag).is_empty() {
            return Err(syntax_error("the name before '=' contains a blank").into());
        }
        let (name, is_final) = match tag.split_once('*') {
            Some((name, _)) => (name, true),
            None => (tag, false),
        };

        let value = skip_blanks(value_part);
        let relation_value = if let Some(quoted) = value.strip_prefix('"') {
            Some(unquote(quoted))
        } else if value.is_empty() {
            self.state = State::ExpectOpenBrace;
            None
        } else if value.starts_with('{') && skip_blanks(&value[1..]).is_empty() {
            None
        } else {
            Some(value.trim_end_matches(is_c_space).to_string())
        };

        let Some(parent) = current_children(root, &self.path) else {
            // Unreachable: the state machine enters Standard at a header.
            return Err(syntax_error("a relation outside any section").into());
        };
        match relation_value {
            Some(value) => {
                let index = add_node(parent, name, Some(value));
                if is_final {
                    parent[index].is_final = true;
                }
            }
            None => {
                let index = add_node(parent, name, None);
                if is_final {
                    parent[index].is_final = true;
                }
                self.path.push(name.to_string());
            }
        }
        Ok(())
    }

    fn include_file(
        &mut self,
        path: &str,
        root: &mut Vec<Node>,
        source: &mut dyn IncludeSource,
    ) -> Result<(), LineError> {
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err(ProfileErrorKind::IncludeDepth(path.to_string()).into());
        }
        let text = source
            .read_file(path)
            .map_err(|e| ProfileErrorKind::IncludeFile {
                path: path.to_string(),
                reason: e.to_string(),
            })?;
        parse_fragment(&text, path, root, source, self.depth + 1).map_err(LineError::Included)
    }

    fn include_dir(
        &mut self,
        dir: &str,
        root: &mut Vec<Node>,
        source: &mut dyn IncludeSource,
    ) -> Result<(), LineError> {
        let mut names = source
            .list_dir(dir)
            .map_err(|e| ProfileErrorKind::IncludeDir {
                path: dir.to_string(),
                reason: e.to_string(),
            })?;
        // MIT 1.17 and later read the files in strcmp order.
        names.sort();
        for name in names.iter().filter(|n| is_includable_name(n)) {
            let path = format!("{dir}/{name}");
            self.include_file(&path, root, source)?;
        }
        Ok(())
    }
}

/// Returns true for the file names `includedir` reads: not starting with a
/// dot, and either ending in `.conf` or made only of ASCII letters, digits,
/// `-` and `_`. This skips editor backups and package manager leftovers.
pub fn is_includable_name(name: &str) -> bool {
    if name.starts_with('.') {
        return false;
    }
    name.ends_with(".conf")
        || name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Decodes a quoted value whose opening quote is already consumed.
fn unquote(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            // A backslash at the very end stays a backslash, as in MIT 1.20.
            '\\' if chars.peek().is_some() => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('b') => out.push('\u{8}'),
                Some(other) => out.push(other),
                None => {}
            },
            other => out.push(other),
        }
    }
    out
}

/// Adds a node to `nodes` after every node whose name sorts before or equal
/// to `name`, as MIT's `profile_add_node` does. Adding a section whose name
/// already names a section returns the existing one. Returns the index.
fn add_node(nodes: &mut Vec<Node>, name: &str, value: Option<String>) -> usize {
    let mut position = nodes.len();
    for (index, node) in nodes.iter().enumerate() {
        match node.name.as_str().cmp(name) {
            std::cmp::Ordering::Greater => {
                position = index;
                break;
            }
            std::cmp::Ordering::Equal
                if value.is_none() && matches!(node.value, NodeValue::Section(_)) =>
            {
                return index;
            }
            _ => {}
        }
    }
    let value = match value {
        Some(value) => NodeValue::Relation(value),
        None => NodeValue::Section(Vec::new()),
    };
    nodes.insert(
        position,
        Node {
            name: name.to_string(),
            is_final: false,
            value,
        },
    );
    position
}

fn find_section_mut<'a>(nodes: &'a mut [Node], name: &str) -> Option<&'a mut Node> {
    nodes
        .iter_mut()
        .find(|n| n.name == name && matches!(n.value, NodeValue::Section(_)))
}

fn current_node<'a>(root: &'a mut [Node], path: &[String]) -> Option<&'a mut Node> {
    let (first, rest) = path.split_first()?;
    let mut node = find_section_mut(root, first)?;
    for name in rest {
        node = match &mut node.value {
            NodeValue::Section(children) => find_section_mut(children, name)?,
            NodeValue::Relation(_) => return None,
        };
    }
    Some(node)
}

fn current_children<'a>(root: &'a mut [Node], path: &[String]) -> Option<&'a mut Vec<Node>> {
    match &mut current_node(root, path)?.value {
        NodeValue::Section(children) => Some(children),
        NodeValue::Relation(_) => None,
    }
}

impl fmt::Display for Profile {
    /// Writes the tree back in profile syntax, values quoted where needed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for section in &self.sections {
            writeln!(
                f,
                "[{}]{}",
                section.name,
                if section.is_final { "*" } else { "" }
            )?;
            write_children(f, section.children(), 1)?;
        }
        Ok(())
    }
}

fn write_children(f: &mut fmt::Formatter<'_>, nodes: &[Node], level: usize) -> fmt::Result {
    let indent = "\t".repeat(level);
    for node in nodes {
        let star = if node.is_final { "*" } else { "" };
        match &node.value {
            NodeValue::Relation(value) => writeln!(
                f,
                "{indent}{}{star} = {}",
                node.name,
                quote_if_needed(value)
            )?,
            NodeValue::Section(children) => {
                writeln!(f, "{indent}{}{star} = {{", node.name)?;
                write_children(f, children, level + 1)?;
                writeln!(f, "{indent}}}")?;
            }
        }
    }
    Ok(())
}

fn quote_if_needed(value: &str) -> String {
    let needs_quotes = value.is_empty()
        || value.starts_with(is_c_space)
        || value.ends_with(is_c_space)
        || value.starts_with(['"', '{'])
        || value.contains(['\n', '\t', '\u{8}']);
    if !needs_quotes {
        return value.to_string();
    }
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            other => out.push(other),
        }
    }
    out.push('"');
    out
}
