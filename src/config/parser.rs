//! The line syntax of nfs.conf-format files, as nfs-utils 2.9's
//! `conf_parse` and `conf_parse_line` (support/nfs/conffile.c) read it.
//!
//! - A backslash right before a newline joins the next line; both characters
//!   become spaces.
//! - Lines whose first non-blank character is `#` or `;` are comments.
//! - `[name]` and `[name "subsection"]` start a section. Blanks around the
//!   name are dropped, the subsection keeps its blanks, and anything after
//!   the first `]` is ignored.
//! - `key = value` assigns; blanks around `=` are dropped. A value in double
//!   or single quotes is taken up to the next matching quote, with no
//!   escapes. An unquoted value ends at the first `#` or `;` and loses its
//!   trailing white space.
//! - `include = FILE` reads FILE in place, relative to the including file's
//!   directory, inheriting the current section. `include = -FILE` skips a
//!   missing FILE without a warning.
//! - The last line counts only if a newline ends it.
//!
//! Malformed lines are skipped with a [`Warning`]; nothing is fatal.

use std::borrow::Cow;
use std::io;
use std::path::{Path, PathBuf};

use super::conffile::Warning;
use super::values::{is_c_blank, is_c_space};

/// The maximum include nesting. nfs-utils has no limit and recurses until
/// the stack overflows on an include loop; 16 levels leave room for any
/// real layout.
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// One `key = value` line, with the section it appeared in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub section: String,
    pub subsection: Option<String>,
    pub key: String,
    pub value: String,
}

/// The assignments of a file and its includes, in file order.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub assignments: Vec<Assignment>,
    pub warnings: Vec<Warning>,
}

/// Reads a whole file from the file system.
pub(crate) fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    std::fs::read(path)
}

/// Parses the content of the file `path`. `read` reads included files.
pub(crate) fn parse(
    content: &[u8],
    path: &Path,
    read: &mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
) -> Outcome {
    let mut parser = Parser {
        read,
        outcome: Outcome::default(),
    };
    let mut position = SectionState::default();
    parser.parse_content(content, path, &mut position, 0);
    parser.outcome
}

/// The section that assignments go to, as the header lines set it.
#[derive(Debug, Clone, Default)]
struct SectionState {
    section: Option<String>,
    subsection: Option<String>,
}

struct Parser<'r> {
    read: &'r mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
    outcome: Outcome,
}

impl Parser<'_> {
    fn warn(&mut self, path: &Path, line: Option<usize>, message: String) {
        self.outcome.warnings.push(Warning {
            path: path.to_path_buf(),
            line,
            message,
        });
    }

    fn parse_content(
        &mut self,
        content: &[u8],
        path: &Path,
        state: &mut SectionState,
        depth: usize,
    ) {
        // nfs-utils handles the file as a C string, so a NUL byte ends it.
        let content = match content.iter().position(|&b| b == 0) {
            Some(end) => {
                self.warn(
                    path,
                    None,
                    format!(
                        "contains a NUL byte at offset {end}, so the rest of the file is ignored"
                    ),
                );
                &content[..end]
            }
            None => content,
        };
        let text = String::from_utf8_lossy(content);
        if let Cow::Owned(_) = text {
            self.warn(
                path,
                None,
                "is not valid UTF-8, so invalid bytes read as U+FFFD".to_string(),
            );
        }

        let mut logical = String::new();
        let mut physical_line = 1;
        let mut start_line = 1;
        let mut rest: &str = &text;
        loop {
            let Some(newline) = rest.find('\n') else {
                if !rest.is_empty() || !logical.is_empty() {
                    self.warn(
                        path,
                        Some(start_line),
                        "the last line has no newline at its end, so it is ignored as nfs-utils ignores it. Add a newline to use it".to_string(),
                    );
                }
                break;
            };
            let piece = &rest[..newline];
            rest = &rest[newline + 1..];
            physical_line += 1;

            if let Some(joined) = piece.strip_suffix('\\') {
                logical.push_str(joined);
                logical.push_str("  ");
                continue;
            }
            logical.push_str(piece);
            let line = std::mem::take(&mut logical);
            self.parse_line(&line, path, start_line, state, depth);
            start_line = physical_line;
        }
    }

    fn parse_line(
        &mut self,
        line: &str,
        path: &Path,
        number: usize,
        state: &mut SectionState,
        depth: usize,
    ) {
        let line = line.trim_start_matches(is_space_char);
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            return;
        }

        if let Some(header) = line.strip_prefix('[') {
            self.parse_header(header, path, number, state);
            return;
        }

        let Some(equals) = line.find('=') else {
            self.warn(
                path,
                Some(number),
                "the line is not a section header, an assignment or a comment, so it is ignored"
                    .to_string(),
            );
            return;
        };
        let Some(section) = state.section.clone() else {
            self.warn(
                path,
                Some(number),
                "the assignment is outside any section, so it is ignored".to_string(),
            );
            return;
        };

        let key = line[..equals].trim_end_matches(is_blank_char);
        let raw = line[equals + 1..].trim_start_matches(is_blank_char);
        let value = match quoted_value(raw) {
            Quoted::Value(value) => value,
            Quoted::Unterminated(quote) => {
                self.warn(
                    path,
                    Some(number),
                    format!("the value has no closing {quote}, so the line is ignored"),
                );
                return;
            }
            Quoted::Plain => unquoted_value(raw),
        };
        if key.is_empty() {
            self.warn(
                path,
                Some(number),
                "the assignment has no key before '=', so it is ignored".to_string(),
            );
            return;
        }

        if key.eq_ignore_ascii_case("include") {
            self.include(value, path, number, state, depth);
        } else if !value.is_empty() {
            self.outcome.assignments.push(Assignment {
                section,
                subsection: state.subsection.clone(),
                key: key.to_string(),
                value: value.to_string(),
            });
        }
    }

    /// Parses what follows `[`. The previous section ends even when the
    /// header is malformed.
    fn parse_header(&mut self, header: &str, path: &Path, number: usize, state: &mut SectionState) {
        state.section = None;
        state.subsection = None;

        let header = header.trim_start_matches(is_blank_char);
        let Some(close) = header.find(']') else {
            self.warn(
                path,
                Some(number),
                "the section header has no closing ']', so assignments up to the next section header are ignored".to_string(),
            );
            return;
        };
        let content = header[..close].trim_end_matches(is_blank_char);

        let Some(quote) = content.find('"') else {
            state.section = Some(content.to_string());
            return;
        };
        let name = content[..quote].trim_end_matches(is_blank_char);
        state.section = Some(name.to_string());

        let subsection = &content[quote + 1..];
        match subsection.find('"') {
            Some(end) => state.subsection = Some(subsection[..end].to_string()),
            None => self.warn(
                path,
                Some(number),
                format!(
                    "the subsection name has no closing '\"', so assignments up to the next section header go to [{name}] without a subsection"
                ),
            ),
        }
    }

    fn include(
        &mut self,
        target: &str,
        path: &Path,
        number: usize,
        state: &SectionState,
        depth: usize,
    ) {
        let (optional, target) = match target.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, target),
        };
        let included = resolve_include(path, target);

        if depth + 1 >= MAX_INCLUDE_DEPTH {
            self.warn(
                path,
                Some(number),
                format!(
                    "includes are nested more than {MAX_INCLUDE_DEPTH} deep, so {} is not read; check for an include loop",
                    included.display()
                ),
            );
            return;
        }

        let content = match (self.read)(&included) {
            Ok(content) => content,
            Err(e) if e.kind() == io::ErrorKind::NotFound && optional => return,
            Err(e) => {
                self.warn(
                    path,
                    Some(number),
                    format!("cannot read the included file {}: {e}", included.display()),
                );
                return;
            }
        };

        // The included file starts in the current section, and its own
        // section headers do not change the section of the including file.
        let mut inherited = state.clone();
        self.parse_content(&content, &included, &mut inherited, depth + 1);
    }
}

enum Quoted<'a> {
    Value(&'a str),
    Unterminated(&'static str),
    Plain,
}

fn quoted_value(raw: &str) -> Quoted<'_> {
    for (quote, name) in [('"', "'\"'"), ('\'', "\"'\"")] {
        if let Some(inner) = raw.strip_prefix(quote) {
            return match inner.find(quote) {
                Some(end) => Quoted::Value(&inner[..end]),
                None => Quoted::Unterminated(name),
            };
        }
    }
    Quoted::Plain
}

/// Cuts an unquoted value at the first `#` or `;` and trims trailing white
/// space. As in nfs-utils, the first character is never trimmed, so a value
/// that is only `\r` (an empty value in a CRLF file) stays `\r`.
fn unquoted_value(raw: &str) -> &str {
    let end = raw.find(['#', ';']).unwrap_or(raw.len());
    let value = &raw[..end];
    let Some(first) = value.chars().next() else {
        return value;
    };
    let first_len = first.len_utf8();
    let kept = value[first_len..].trim_end_matches(is_space_char).len();
    &value[..first_len + kept]
}

/// Resolves an include target as nfs-utils' `relative_path` does: an
/// absolute target as is, otherwise relative to the including file's
/// directory (`.` for a bare file name).
fn resolve_include(including: &Path, target: &str) -> PathBuf {
    if target.starts_with('/') {
        return PathBuf::from(target);
    }
    let directory = match including.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    directory.join(target)
}

fn is_space_char(c: char) -> bool {
    c.is_ascii() && is_c_space(c as u8)
}

fn is_blank_char(c: char) -> bool {
    c.is_ascii() && is_c_blank(c as u8)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse_with_files(text: &str, files: &[(&str, &str)]) -> Outcome {
        let files: HashMap<PathBuf, Vec<u8>> = files
            .iter()
            .map(|(name, content)| (PathBuf::from(name), content.as_bytes().to_vec()))
            .collect();
        let mut read = |path: &Path| {
            files
                .get(path)
                .cloned()
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        };
        parse(text.as_bytes(), Path::new("/conf/main.conf"), &mut read)
    }

    fn parse_text(text: &str) -> Outcome {
        parse_with_files(text, &[])
    }

    fn triples(outcome: &Outcome) -> Vec<(String, Option<String>, String, String)> {
        outcome
            .assignments
            .iter()
            .map(|a| {
                (
                    a.section.clone(),
                    a.subsection.clone(),
                    a.key.clone(),
                    a.value.clone(),
                )
            })
            .collect()
    }

    fn one(
        section: &str,
        subsection: Option<&str>,
        key: &str,
        value: &str,
    ) -> (String, Option<String>, String, String) {
        (
            section.to_string(),
            subsection.map(str::to_string),
            key.to_string(),
            value.to_string(),
        )
    }

    fn warning_lines(outcome: &Outcome) -> Vec<Option<usize>> {
        outcome.warnings.iter().map(|w| w.line).collect()
    }

    #[test]
    fn assignment_blanks_trimmed() {
        let outcome = parse_text("[s]\n  key\t=\t value with  inner  \t\n");
        assert_eq!(
            triples(&outcome),
            [one("s", None, "key", "value with  inner")]
        );
        assert!(outcome.warnings.is_empty());
    }

    #[test]
    fn key_may_contain_blanks() {
        let outcome = parse_text("[s]\n five six = seven eight\nk = a=b\n");
        assert_eq!(
            triples(&outcome),
            [
                one("s", None, "five six", "seven eight"),
                one("s", None, "k", "a=b")
            ]
        );
    }

    #[test]
    fn comments_and_blank_lines() {
        let outcome = parse_text("# c\n; c\n   # indented\n\n \t \n[s]\n;k = v\n#k = v\nk = v\n");
        assert_eq!(triples(&outcome), [one("s", None, "k", "v")]);
        assert!(outcome.warnings.is_empty());
    }

    #[test]
    fn unquoted_value_cut_at_comment() {
        let outcome = parse_text("[s]\na = x # c\nb = x;c\nc = x ; y # z\nd = #only\ne = a#b;c\n");
        assert_eq!(
            triples(&outcome),
            [
                one("s", None, "a", "x"),
                one("s", None, "b", "x"),
                one("s", None, "c", "x"),
                one("s", None, "e", "a")
            ]
        );
    }

    #[test]
    fn quoted_values_verbatim() {
        let text = "[s]\na = \"six  \"\nb = ' Pump '\nc = \"x # not a comment; no\" trailing\n\
                    d = 'it\"s'\ne = \"back\\slash\"\nf = \"\"\n";
        let outcome = parse_text(text);
        assert_eq!(
            triples(&outcome),
            [
                one("s", None, "a", "six  "),
                one("s", None, "b", " Pump "),
                one("s", None, "c", "x # not a comment; no"),
                one("s", None, "d", "it\"s"),
                one("s", None, "e", "back\\slash"),
            ]
        );
        assert!(outcome.warnings.is_empty());
    }

    #[test]
    fn unmatched_quote_skips_line() {
        let outcome = parse_text("[s]\na = \" nothing\nb = 'open\nc = ok\n");
        assert_eq!(triples(&outcome), [one("s", None, "c", "ok")]);
        assert_eq!(warning_lines(&outcome), [Some(2), Some(3)]);
    }

    #[test]
    fn section_headers() {
        let text = "[ plain ]\na = 1\n[ sec \"Sub Name\" ] trailing words\nb = 2\n\
                    [x\" spaced \"]\nc = 3\n[]\nd = 4\n[ \"only sub\"]\ne = 5\n";
        let outcome = parse_text(text);
        assert_eq!(
            triples(&outcome),
            [
                one("plain", None, "a", "1"),
                one("sec", Some("Sub Name"), "b", "2"),
                one("x", Some(" spaced "), "c", "3"),
                one("", None, "d", "4"),
                one("", Some("only sub"), "e", "5"),
            ]
        );
        assert!(outcome.warnings.is_empty());
    }

    #[test]
    fn header_without_bracket_ends_section() {
        let outcome = parse_text("[s]\na = 1\n[ broken\nb = 2\n[t]\nc = 3\n");
        assert_eq!(
            triples(&outcome),
            [one("s", None, "a", "1"), one("t", None, "c", "3")]
        );
        assert_eq!(warning_lines(&outcome), [Some(3), Some(4)]);
    }

    #[test]
    fn header_without_closing_quote_keeps_name() {
        let outcome = parse_text("[ two \" foo ]\naa = foo\n");
        assert_eq!(triples(&outcome), [one("two", None, "aa", "foo")]);
        assert_eq!(warning_lines(&outcome), [Some(1)]);
    }

    #[test]
    fn lines_outside_section_ignored() {
        let outcome = parse_text("k = v\nword\n[s]\nk = w\n");
        assert_eq!(triples(&outcome), [one("s", None, "k", "w")]);
        assert_eq!(warning_lines(&outcome), [Some(1), Some(2)]);
    }

    #[test]
    fn malformed_assignments_warn() {
        let outcome = parse_text(
            "[four]\none\n = two\nthree =\nfour = foo = bar\nfive = \" nothing\nsix = normal\n",
        );
        assert_eq!(
            triples(&outcome),
            [
                one("four", None, "four", "foo = bar"),
                one("four", None, "six", "normal")
            ]
        );
        assert_eq!(warning_lines(&outcome), [Some(2), Some(3), Some(6)]);
        assert!(outcome.warnings[0].message.contains("not a section header"));
        assert!(outcome.warnings[1].message.contains("no key"));
        assert!(outcome.warnings[2].message.contains("closing"));
    }

    #[test]
    fn backslash_newline_joins_lines() {
        let outcome =
            parse_text("[s]\nk = one\\\ntwo\nnext = x\n# comment \\\nswallowed = yes\nlast = y\n");
        assert_eq!(
            triples(&outcome),
            [
                one("s", None, "k", "one  two"),
                one("s", None, "next", "x"),
                one("s", None, "last", "y")
            ]
        );
    }

    #[test]
    fn warning_line_after_join_is_physical() {
        let outcome = parse_text("[s]\nk = a\\\nb\nbad line\n");
        assert_eq!(warning_lines(&outcome), [Some(4)]);
    }

    #[test]
    fn unterminated_last_line_ignored() {
        let outcome = parse_text("[s]\na = 1\nb = 2");
        assert_eq!(triples(&outcome), [one("s", None, "a", "1")]);
        assert_eq!(warning_lines(&outcome), [Some(3)]);

        let joined = parse_text("[s]\na = 1\\\n");
        assert!(joined.assignments.is_empty());
        assert_eq!(warning_lines(&joined), [Some(2)]);
    }

    #[test]
    fn crlf_lines() {
        let outcome = parse_text("[s]\r\na = 1\r\nb = \"q\"\r\nc =\r\n");
        assert_eq!(
            triples(&outcome),
            [
                one("s", None, "a", "1"),
                one("s", None, "b", "q"),
                one("s", None, "c", "\r")
            ]
        );
    }

    #[test]
    fn nul_byte_ends_file() {
        let mut read = |_: &Path| Err(io::Error::from(io::ErrorKind::NotFound));
        let outcome = parse(b"[s]\na = 1\n\0b = 2\n", Path::new("x.conf"), &mut read);
        assert_eq!(triples(&outcome), [one("s", None, "a", "1")]);
        assert_eq!(outcome.warnings.len(), 1);
    }

    #[test]
    fn include_inherits_section() {
        let outcome = parse_with_files(
            "[s \"sub\"]\na = 1\ninclude = \"part.conf\"\nb = 2\n",
            &[("/conf/part.conf", "c = 3\n[other]\nd = 4\n")],
        );
        assert_eq!(
            triples(&outcome),
            [
                one("s", Some("sub"), "a", "1"),
                one("s", Some("sub"), "c", "3"),
                one("other", None, "d", "4"),
                one("s", Some("sub"), "b", "2"),
            ]
        );
        assert!(outcome.warnings.is_empty());
    }

    #[test]
    fn include_paths_resolve() {
        let outcome = parse_with_files(
            "[s]\nINCLUDE = sub/a.conf\ninclude = /abs/b.conf\n",
            &[
                ("/conf/sub/a.conf", "a = 1\ninclude = c.conf\n"),
                ("/conf/sub/c.conf", "c = 3\n"),
                ("/abs/b.conf", "b = 2\n"),
            ],
        );
        assert_eq!(
            triples(&outcome),
            [
                one("s", None, "a", "1"),
                one("s", None, "c", "3"),
                one("s", None, "b", "2")
            ]
        );
    }

    #[test]
    fn include_missing_warns_unless_optional() {
        let outcome = parse_with_files(
            "[s]\ninclude = gone.conf\ninclude = -gone.conf\nk = v\n",
            &[],
        );
        assert_eq!(triples(&outcome), [one("s", None, "k", "v")]);
        assert_eq!(warning_lines(&outcome), [Some(2)]);
        assert!(outcome.warnings[0].message.contains("/conf/gone.conf"));
    }

    #[test]
    fn include_outside_section_ignored() {
        let outcome = parse_with_files(
            "include = part.conf\n",
            &[("/conf/part.conf", "[s]\nk = v\n")],
        );
        assert!(outcome.assignments.is_empty());
        assert_eq!(warning_lines(&outcome), [Some(1)]);
    }

    #[test]
    fn include_loop_stops() {
        let outcome = parse_with_files(
            "[s]\ninclude = loop.conf\nafter = yes\n",
            &[("/conf/loop.conf", "k = v\ninclude = loop.conf\n")],
        );
        let loop_values = outcome.assignments.iter().filter(|a| a.key == "k").count();
        assert_eq!(loop_values, MAX_INCLUDE_DEPTH - 1);
        assert_eq!(
            outcome.assignments.last().map(|a| a.key.as_str()),
            Some("after")
        );
        assert_eq!(outcome.warnings.len(), 1);
        assert!(outcome.warnings[0].message.contains("include loop"));
    }

    #[test]
    fn include_resolution_rules() {
        assert_eq!(
            resolve_include(Path::new("nfs.conf"), "x.conf"),
            Path::new("./x.conf")
        );
        assert_eq!(
            resolve_include(Path::new("/etc/nfs.conf"), "x.conf"),
            Path::new("/etc/x.conf")
        );
        assert_eq!(
            resolve_include(Path::new("/etc/nfs.conf"), "/y.conf"),
            Path::new("/y.conf")
        );
        assert_eq!(
            resolve_include(Path::new("/nfs.conf"), "x.conf"),
            Path::new("/x.conf")
        );
    }
}
