//! The settings store behind nfs.conf and idmapd.conf, and its getters, with
//! the semantics of nfs-utils 2.9's support/nfs/conffile.c.
//!
//! Section, subsection and key names compare without regard to ASCII case.
//! A later assignment replaces an earlier one. An empty value is never
//! stored, so `key =` leaves an earlier value in place.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::parser::{self, Assignment};
use super::values;

/// The maximum number of `$NAME` indirections one lookup follows. nfs-utils
/// has no limit and loops forever on `[environment] a = $a`.
const MAX_EXPANSIONS: usize = 16;

/// A problem found while reading a configuration file. Problems are never
/// fatal: the line or file is skipped, as nfs-utils does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub path: PathBuf,
    /// The line number, from 1, of the first physical line of the logical
    /// line, or `None` for problems with the whole file.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.path.display(), line, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// The source of `$NAME` variables, searched before the `[environment]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Environment {
    /// The process environment.
    #[default]
    Process,
    /// A fixed set of variables, for tests and tools.
    Fixed(BTreeMap<String, String>),
}

impl Environment {
    fn get(&self, name: &str) -> Option<String> {
        match self {
            // No variable can have such a name, and std::env rejects them.
            Environment::Process if name.is_empty() || name.contains(['=', '\0']) => None,
            Environment::Process => std::env::var_os(name)
                .filter(|value| !value.is_empty())
                .map(|value| value.to_string_lossy().into_owned()),
            Environment::Fixed(variables) => variables
                .get(name)
                .filter(|value| !value.is_empty())
                .cloned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Binding {
    /// Lower-cased, as nfs-utils stores it.
    section: String,
    subsection: Option<String>,
    key: String,
    value: String,
}

/// Settings read from an nfs.conf-format file family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Bindings in the order they were set. Lookups search from the end.
    bindings: Vec<Binding>,
    warnings: Vec<Warning>,
    environment: Environment,
}

impl Config {
    /// Creates an empty configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `text` as the content of the file `path`. Relative `include`
    /// paths resolve against the directory of `path` and are read from the
    /// file system.
    pub fn parse_str(text: &str, path: &Path) -> Self {
        let mut config = Self::new();
        let outcome = parser::parse(text.as_bytes(), path, &mut parser::read_file);
        config.warnings.extend(outcome.warnings);
        config.apply(outcome.assignments);
        config
    }

    /// Replaces the source of `$NAME` variables.
    pub fn with_environment(mut self, environment: Environment) -> Self {
        self.environment = environment;
        self
    }

    /// Returns the problems found while reading, in the order found.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    pub(crate) fn push_warning(&mut self, warning: Warning) {
        self.warnings.push(warning);
    }

    pub(crate) fn extend_warnings(&mut self, warnings: Vec<Warning>) {
        self.warnings.extend(warnings);
    }

    /// Drops every setting but keeps the warnings. A file that nfs-utils
    /// loads with `conf_load_file` replaces what came before it.
    pub(crate) fn clear_settings(&mut self) {
        self.bindings.clear();
    }

    pub(crate) fn apply(&mut self, assignments: Vec<Assignment>) {
        for assignment in assignments {
            self.set(
                &assignment.section,
                assignment.subsection.as_deref(),
                &assignment.key,
                &assignment.value,
            );
        }
    }

    /// Sets `key` in `section` (and `subsection`), replacing an earlier
    /// value, as a later line in the file would. An empty value is ignored.
    /// The daemons apply command-line options through this.
    ///
    /// The replaced binding is the newest one with the same section and key
    /// whose subsection matches. With no subsection, nfs-utils matches a
    /// binding of any subsection, so `[s "x"] k = 1` followed by `[s] k = 2`
    /// loses the subsection's value. This store does the same, because
    /// rgssd must read a file as the other nfs-utils daemons on the host do.
    pub fn set(&mut self, section: &str, subsection: Option<&str>, key: &str, value: &str) {
        if value.is_empty() {
            return;
        }

        let replaced = self.bindings.iter().rposition(|binding| {
            let subsection_matches = match subsection {
                Some(wanted) => binding
                    .subsection
                    .as_deref()
                    .is_some_and(|have| have.eq_ignore_ascii_case(wanted)),
                None => true,
            };
            subsection_matches
                && binding.section.eq_ignore_ascii_case(section)
                && binding.key.eq_ignore_ascii_case(key)
        });
        if let Some(index) = replaced {
            self.bindings.remove(index);
        }

        self.bindings.push(Binding {
            section: section.to_ascii_lowercase(),
            subsection: subsection.map(str::to_string),
            key: key.to_string(),
            value: value.to_string(),
        });
    }

    /// Returns the stored value of `key` without `$NAME` expansion, as
    /// nfs-utils' `conf_get_entry` does. With no subsection, only bindings
    /// outside any subsection match.
    pub fn get_entry(&self, section: &str, subsection: Option<&str>, key: &str) -> Option<&str> {
        self.bindings
            .iter()
            .rev()
            .find(|binding| {
                binding.section.eq_ignore_ascii_case(section)
                    && match (subsection, binding.subsection.as_deref()) {
                        (Some(wanted), Some(have)) => have.eq_ignore_ascii_case(wanted),
                        (None, None) => true,
                        _ => false,
                    }
                    && binding.key.eq_ignore_ascii_case(key)
            })
            .map(|binding| binding.value.as_str())
    }

    /// Returns the value of `key`, as nfs-utils' `conf_get_section` does.
    ///
    /// A value that starts with `$` names a variable: the rest of the value,
    /// braces included, so `${HOME}` names `{HOME}`. A non-empty variable in
    /// the environment wins. Otherwise the lookup continues with that name
    /// as the key in the `[environment]` section (with the same subsection),
    /// and a missing entry there makes the whole value missing.
    pub fn get_str(&self, section: &str, subsection: Option<&str>, key: &str) -> Option<String> {
        let mut section = section;
        let mut key = key;
        for _ in 0..=MAX_EXPANSIONS {
            let value = self.get_entry(section, subsection, key)?;
            let Some(name) = value.strip_prefix('$') else {
                return Some(value.to_string());
            };
            if let Some(variable) = self.environment.get(name) {
                return Some(variable);
            }
            section = "environment";
            key = name;
        }
        None
    }

    /// Returns the boolean value of `key` in `section` (outside any
    /// subsection), or `default` when it is missing or not a boolean word
    /// (see [`values::parse_bool`]).
    pub fn get_bool(&self, section: &str, key: &str, default: bool) -> bool {
        self.get_str(section, None, key)
            .and_then(|value| values::parse_bool(&value))
            .unwrap_or(default)
    }

    /// Returns the numeric value of `key` in `section` (outside any
    /// subsection), or `default` when it is missing. A present value is
    /// converted as C's `atoi` does (see [`values::atoi`]), so `abc` reads
    /// as 0, not as the default.
    pub fn get_num(&self, section: &str, key: &str, default: i32) -> i32 {
        match self.get_str(section, None, key) {
            Some(value) => values::atoi(&value),
            None => default,
        }
    }

    /// Returns the comma-separated list in `key` (see
    /// [`values::split_list`]), or `None` when the key is missing. A present
    /// key whose fields are all empty gives an empty list.
    pub fn get_list(&self, section: &str, key: &str) -> Option<Vec<String>> {
        self.get_str(section, None, key)
            .map(|value| values::split_list(&value))
    }

    /// Returns the keys set in `section`, newest first, as nfs-utils'
    /// `conf_get_tag_list` does. With no subsection, keys of every
    /// subsection are included.
    pub fn get_keys(&self, section: &str, subsection: Option<&str>) -> Vec<String> {
        self.bindings
            .iter()
            .rev()
            .filter(|binding| binding.section.eq_ignore_ascii_case(section))
            .filter(|binding| match subsection {
                Some(wanted) => binding
                    .subsection
                    .as_deref()
                    .is_some_and(|have| have.eq_ignore_ascii_case(wanted)),
                None => true,
            })
            .map(|binding| binding.key.clone())
            .collect()
    }

    /// Formats every binding as `nfsconf --dump` prints it: sorted by
    /// section, subsection and key, each section under a `[section]` or
    /// `[section "subsection"]` header, values that begin or end in white
    /// space in double quotes, and unexpanded.
    pub fn dump(&self) -> String {
        let mut sorted: Vec<&Binding> = self.bindings.iter().collect();
        sorted.sort_by(|a, b| {
            (
                a.section.as_bytes(),
                a.subsection.as_deref().map(str::as_bytes),
                a.key.as_bytes(),
            )
                .cmp(&(
                    b.section.as_bytes(),
                    b.subsection.as_deref().map(str::as_bytes),
                    b.key.as_bytes(),
                ))
        });

        let mut text = String::new();
        let mut previous: Option<(&str, Option<&str>)> = None;
        for binding in sorted {
            let header = (binding.section.as_str(), binding.subsection.as_deref());
            if previous != Some(header) {
                if previous.is_some() {
                    text.push('\n');
                }
                match binding.subsection.as_deref() {
                    Some(subsection) => {
                        text.push_str(&format!("[{} \"{}\"]\n", binding.section, subsection))
                    }
                    None => text.push_str(&format!("[{}]\n", binding.section)),
                }
                previous = Some(header);
            }

            let quoted = binding
                .value
                .starts_with(|c: char| c.is_ascii() && values::is_c_space(c as u8))
                || binding
                    .value
                    .ends_with(|c: char| c.is_ascii() && values::is_c_space(c as u8));
            if quoted {
                text.push_str(&format!(" {} = \"{}\"\n", binding.key, binding.value));
            } else {
                text.push_str(&format!(" {} = {}\n", binding.key, binding.value));
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        Config::parse_str(text, Path::new("/nonexistent/test.conf"))
    }

    fn fixed_env(pairs: &[(&str, &str)]) -> Environment {
        Environment::Fixed(
            pairs
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        )
    }

    #[test]
    fn names_ignore_case() {
        let config = parse("[GSSD]\nUse-Memcache = yes\n[svcgssd \"Sub\"]\nkey = v\n");
        assert_eq!(
            config.get_str("gssd", None, "use-memcache").as_deref(),
            Some("yes")
        );
        assert_eq!(
            config.get_str("Gssd", None, "USE-MEMCACHE").as_deref(),
            Some("yes")
        );
        assert_eq!(
            config.get_str("SVCGSSD", Some("sub"), "KEY").as_deref(),
            Some("v")
        );
    }

    #[test]
    fn later_assignment_wins() {
        let config = parse("[a]\nk = 1\nk = 2\n[b]\nk = 3\n[a]\nk = 4\n");
        assert_eq!(config.get_str("a", None, "k").as_deref(), Some("4"));
        assert_eq!(config.get_str("b", None, "k").as_deref(), Some("3"));
        assert_eq!(config.dump(), "[a]\n k = 4\n\n[b]\n k = 3\n");
    }

    #[test]
    fn empty_value_keeps_earlier() {
        let config = parse("[a]\nk = 1\nk =\nk = \"\"\nempty =\n");
        assert_eq!(config.get_str("a", None, "k").as_deref(), Some("1"));
        assert_eq!(config.get_str("a", None, "empty"), None);
        assert!(config.warnings().is_empty());
    }

    #[test]
    fn subsections_kept_apart() {
        let config = parse("[s]\nk = plain\n[s \"x\"]\nk = x\n[s \"y\"]\nk = y\n");
        assert_eq!(config.get_str("s", None, "k").as_deref(), Some("plain"));
        assert_eq!(config.get_str("s", Some("x"), "k").as_deref(), Some("x"));
        assert_eq!(config.get_str("s", Some("Y"), "k").as_deref(), Some("y"));
        assert_eq!(config.get_str("s", Some("z"), "k"), None);
    }

    #[test]
    fn plain_assignment_replaces_subsection_value() {
        // nfs-utils' conf_remove_now matches any subsection when the new
        // binding has none, so the newest "k" in section "s" goes.
        let config = parse("[s \"x\"]\nk = x\n[s]\nk = plain\n");
        assert_eq!(config.get_str("s", None, "k").as_deref(), Some("plain"));
        assert_eq!(config.get_str("s", Some("x"), "k"), None);
    }

    #[test]
    fn dollar_value_from_environment() {
        let text = "[environment]\nthree = 3\nloop = $loop\n\
                    [s]\nfrom_env = $HOME_DIR\nfrom_section = $three\nmissing = $nothing\n\
                    braces = ${three}\nlooping = $loop\nbare = $\n";
        let config =
            parse(text).with_environment(fixed_env(&[("HOME_DIR", "/home/x"), ("three", "")]));
        assert_eq!(
            config.get_str("s", None, "from_env").as_deref(),
            Some("/home/x")
        );
        assert_eq!(
            config.get_str("s", None, "from_section").as_deref(),
            Some("3")
        );
        assert_eq!(config.get_str("s", None, "missing"), None);
        assert_eq!(config.get_str("s", None, "braces"), None);
        assert_eq!(config.get_str("s", None, "looping"), None);
        assert_eq!(config.get_str("s", None, "bare"), None);
        assert_eq!(config.get_entry("s", None, "from_section"), Some("$three"));
    }

    #[test]
    fn dollar_value_from_process() {
        // PATH is set in any test environment, and the odd names must not
        // reach std::env.
        let mut config = parse("[s]\npath = $PATH\nbare = $\nequals = $A=B\n");
        config.set("s", None, "nul", "$A\0B");
        assert_eq!(
            config.get_str("s", None, "path"),
            std::env::var("PATH").ok()
        );
        assert_eq!(config.get_str("s", None, "bare"), None);
        assert_eq!(config.get_str("s", None, "equals"), None);
        assert_eq!(config.get_str("s", None, "nul"), None);
    }

    #[test]
    fn dollar_expansion_keeps_subsection() {
        // Plain sections come first: a plain assignment would replace the
        // subsection's binding of the same key.
        let text = "[environment]\nname = plain\n[environment \"x\"]\nname = in-x\n\
                    [s]\nk = $name\n[s \"x\"]\nk = $name\n";
        let config = parse(text).with_environment(fixed_env(&[]));
        assert_eq!(config.get_str("s", Some("x"), "k").as_deref(), Some("in-x"));
        assert_eq!(config.get_str("s", None, "k").as_deref(), Some("plain"));
    }

    #[test]
    fn typed_getters() {
        let text = "[gssd]\nuse-memcache = Yes\navoid-dns = off\nset-home = maybe\n\
                    context-timeout = 300\nrpc-timeout = 5s\nverbosity = x\n\
                    [translation]\nmethod = static , nsswitch\nempty-list = \" , \"\n";
        let config = parse(text);
        assert!(config.get_bool("gssd", "use-memcache", false));
        assert!(!config.get_bool("gssd", "avoid-dns", true));
        assert!(config.get_bool("gssd", "set-home", true));
        assert!(!config.get_bool("gssd", "set-home", false));
        assert!(config.get_bool("gssd", "absent", true));
        assert_eq!(config.get_num("gssd", "context-timeout", 0), 300);
        assert_eq!(config.get_num("gssd", "rpc-timeout", 0), 5);
        assert_eq!(config.get_num("gssd", "verbosity", 7), 0);
        assert_eq!(config.get_num("gssd", "absent", 7), 7);
        assert_eq!(
            config.get_list("translation", "method"),
            Some(vec!["static".to_string(), "nsswitch".to_string()])
        );
        assert_eq!(
            config.get_list("translation", "empty-list"),
            Some(Vec::new())
        );
        assert_eq!(config.get_list("translation", "absent"), None);
    }

    #[test]
    fn set_overrides_file() {
        let mut config = parse("[gssd]\nkeytab-file = /etc/krb5.keytab\n");
        config.set("gssd", None, "Keytab-File", "/etc/nfs.keytab");
        assert_eq!(
            config.get_str("gssd", None, "keytab-file").as_deref(),
            Some("/etc/nfs.keytab")
        );
        config.set("gssd", None, "keytab-file", "");
        assert_eq!(
            config.get_str("gssd", None, "keytab-file").as_deref(),
            Some("/etc/nfs.keytab")
        );
    }

    #[test]
    fn keys_newest_first() {
        let config = parse(
            "[Static]\na@R = alice\nb@R = bob\n[static \"x\"]\nc@R = carol\n[other]\nd = e\n",
        );
        assert_eq!(config.get_keys("static", None), ["c@R", "b@R", "a@R"]);
        assert_eq!(config.get_keys("static", Some("X")), ["c@R"]);
        assert!(config.get_keys("absent", None).is_empty());
    }

    #[test]
    fn dump_quotes_outer_space() {
        let config =
            parse("[B]\nz = \" pad\"\ny = 'end '\nx = plain\n[a]\nk = w\n[a \"sub\"]\nk = v\n");
        assert_eq!(
            config.dump(),
            "[a]\n k = w\n\n[a \"sub\"]\n k = v\n\n[b]\n x = plain\n y = \"end \"\n z = \" pad\"\n"
        );
    }

    #[test]
    fn warning_display_names_location() {
        let warning = Warning {
            path: PathBuf::from("/etc/nfs.conf"),
            line: Some(7),
            message: "unmatched quote".to_string(),
        };
        assert_eq!(warning.to_string(), "/etc/nfs.conf:7: unmatched quote");
    }
}
