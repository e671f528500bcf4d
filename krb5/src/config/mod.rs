//! krb5.conf: the profile syntax, lookups across a KRB5_CONFIG list, and
//! typed access to `[libdefaults]`, `[realms]`, `[domain_realm]` and
//! `[capaths]` with MIT krb5 1.20's defaults.
//!
//! - [`profile`]: the file syntax ([`profile::parse_str`] is pure);
//! - [`values`]: booleans, integers and durations ([`parse_duration`]);
//! - [`enctypes`]: enctype lists such as `DEFAULT -rc4`;
//! - [`expand`]: `%{uid}`-style tokens ([`expand_path`]);
//! - [`auth_to_local`]: principal to local user name mapping;
//! - [`realms`]: host-to-realm mapping and cross-realm paths.

pub mod auth_to_local;
pub mod enctypes;
pub mod expand;
pub mod profile;
pub mod realms;
pub mod values;

use std::io;
use std::time::Duration;

pub use enctypes::{parse_enctype_list, EmptyEnctypeList};
pub use expand::{expand_path, ExpandError};
pub use profile::{parse_str, Node, NodeValue, Profile, ProfileError};
pub use values::{parse_boolean, parse_duration, DurationError};

/// The file read when KRB5_CONFIG is not set.
pub const DEFAULT_PATH: &str = "/etc/krb5.conf";

/// The environment variable holding a colon-separated list of files.
pub const CONFIG_ENV: &str = "KRB5_CONFIG";

/// MIT's built-in defaults (Debian's build for the three names).
pub mod defaults {
    use std::time::Duration;

    pub const CLOCKSKEW: Duration = Duration::from_secs(300);
    pub const TICKET_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
    pub const RENEW_LIFETIME: Duration = Duration::ZERO;
    pub const UDP_PREFERENCE_LIMIT: usize = 1465;
    /// MIT never sends a UDP datagram larger than this, whatever the setting.
    pub const UDP_PREFERENCE_LIMIT_MAX: usize = 32700;
    pub const CCACHE_NAME: &str = "FILE:/tmp/krb5cc_%{uid}";
    pub const KEYTAB_NAME: &str = "FILE:/etc/krb5.keytab";
    /// Debian's MIT 1.20 build; upstream's default is under its local state
    /// directory (`$(localstatedir)/krb5/user/%{euid}/client.keytab`).
    pub const CLIENT_KEYTAB_NAME: &str = "FILE:/etc/krb5/user/%{euid}/client.keytab";
}

/// A failure to load krb5.conf or to read one of its values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid krb5.conf: {0}")]
    Syntax(#[from] ProfileError),
    #[error("cannot read krb5.conf file {path:?}: {reason}")]
    Read { path: String, reason: String },
    #[error("invalid boolean {value:?} for {relation} in krb5.conf; use true or false")]
    InvalidBoolean { relation: String, value: String },
    #[error("invalid integer {value:?} for {relation} in krb5.conf")]
    InvalidInteger { relation: String, value: String },
    #[error("invalid value {value:?} for {relation} in krb5.conf: {reason}")]
    InvalidValue {
        relation: String,
        value: String,
        reason: String,
    },
    #[error(transparent)]
    Enctypes(#[from] EmptyEnctypeList),
    #[error(transparent)]
    Expand(#[from] ExpandError),
}

/// The three settings of `dns_canonicalize_hostname`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanonicalizeHostname {
    /// Look the name up in DNS and use the canonical name (MIT's default).
    True,
    /// Use the name as given, lowercased.
    False,
    /// Try the name as given first, then the canonical name.
    Fallback,
}

/// A loaded krb5.conf: one [`Profile`] per file of the KRB5_CONFIG list, in
/// order. For a single value the first file that has it wins; a section
/// marked final (`[realms]*`) stops the search at its file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    profiles: Vec<Profile>,
}

impl Config {
    /// Loads the files named by KRB5_CONFIG, or [`DEFAULT_PATH`].
    pub fn load() -> Result<Self, ConfigError> {
        match std::env::var(CONFIG_ENV) {
            Ok(list) => Self::load_path_list(&list),
            Err(_) => Self::load_path_list(DEFAULT_PATH),
        }
    }

    /// Loads a colon-separated list of files. Missing or unreadable files are
    /// skipped as MIT skips them, so an empty configuration is not an error;
    /// a file with a syntax error is.
    pub fn load_path_list(list: &str) -> Result<Self, ConfigError> {
        let mut profiles = Vec::new();
        for path in list.split(':').filter(|p| !p.is_empty()) {
            let text = match profile::read_text_file(path) {
                Ok(text) => text,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
                    ) =>
                {
                    log::debug!("skipping krb5.conf file {path}: {e}");
                    continue;
                }
                Err(e) => {
                    return Err(ConfigError::Read {
                        path: path.to_string(),
                        reason: e.to_string(),
                    })
                }
            };
            profiles.push(profile::parse_with(&text, path, &mut profile::FileSystem)?);
        }
        Ok(Self { profiles })
    }

    /// Builds a configuration from profiles parsed elsewhere, first one first.
    pub fn from_profiles(profiles: Vec<Profile>) -> Self {
        Self { profiles }
    }

    /// Parses one text without reading any file; includes are errors.
    pub fn from_text(text: &str, origin: &str) -> Result<Self, ConfigError> {
        Ok(Self::from_profiles(vec![parse_str(text, origin)?]))
    }

    /// Returns the loaded profiles, first file first.
    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// Collects the nodes named `name` (all nodes if `None`) in the section
    /// at `section_path`, over the files in order, as MIT's
    /// `profile_node_iterator` does. A final section on the path ends the
    /// search after its file, even when that file lacks the rest of the path.
    fn nodes<'a>(&'a self, section_path: &[&str], name: Option<&str>) -> Vec<&'a Node> {
        let mut found = Vec::new();
        for profile in &self.profiles {
            let mut final_seen = false;
            let mut nodes: &[Node] = &profile.sections;
            let mut complete = true;
            for section_name in section_path {
                let Some(section) = nodes
                    .iter()
                    .find(|n| n.name == *section_name && matches!(n.value, NodeValue::Section(_)))
                else {
                    complete = false;
                    break;
                };
                final_seen |= section.is_final;
                nodes = section.children();
            }
            if complete {
                found.extend(
                    nodes
                        .iter()
                        .filter(|n| name.is_none_or(|name| n.name == name)),
                );
            }
            if final_seen {
                break;
            }
        }
        found
    }

    /// Returns every value of the relation at `path` (sections, then the
    /// relation name), in file order.
    pub fn values(&self, path: &[&str]) -> Vec<&str> {
        let Some((name, sections)) = path.split_last() else {
            return Vec::new();
        };
        self.nodes(sections, Some(name))
            .into_iter()
            .filter_map(Node::relation_value)
            .collect()
    }

    /// Returns the first value of the relation at `path`.
    pub fn value(&self, path: &[&str]) -> Option<&str> {
        self.values(path).into_iter().next()
    }

    /// Returns the `(name, value)` relations directly inside the section at
    /// `section_path`, in MIT's order (sorted by name within each file).
    pub fn relations(&self, section_path: &[&str]) -> Vec<(&str, &str)> {
        self.nodes(section_path, None)
            .into_iter()
            .filter_map(|n| n.relation_value().map(|v| (n.name.as_str(), v)))
            .collect()
    }

    /// Returns the names of the sections directly inside `section_path`,
    /// without repeats.
    pub fn section_names(&self, section_path: &[&str]) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for node in self.nodes(section_path, None) {
            if matches!(node.value, NodeValue::Section(_)) && !names.contains(&node.name.as_str()) {
                names.push(&node.name);
            }
        }
        names
    }

    fn libdefault(&self, name: &str) -> Option<&str> {
        self.value(&["libdefaults", name])
    }

    /// Looks up a libdefault in `[libdefaults] REALM = { name = ... }` first,
    /// then in `[libdefaults]`, as MIT's `krb5int_libdefault_string` does.
    pub fn libdefault_for_realm(&self, realm: Option<&str>, name: &str) -> Option<&str> {
        realm
            .and_then(|realm| self.value(&["libdefaults", realm, name]))
            .or_else(|| self.libdefault(name))
    }

    fn boolean(
        &self,
        relation: &str,
        value: Option<&str>,
        default: bool,
    ) -> Result<bool, ConfigError> {
        match value {
            None => Ok(default),
            Some(text) => parse_boolean(text).ok_or_else(|| ConfigError::InvalidBoolean {
                relation: relation.to_string(),
                value: text.to_string(),
            }),
        }
    }

    fn libdefault_boolean(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        self.boolean(name, self.libdefault(name), default)
    }

    fn libdefault_integer(&self, name: &str, default: i32) -> Result<i32, ConfigError> {
        match self.libdefault(name) {
            None => Ok(default),
            Some(text) => values::parse_integer(text).ok_or_else(|| ConfigError::InvalidInteger {
                relation: name.to_string(),
                value: text.to_string(),
            }),
        }
    }

    fn duration(
        &self,
        relation: &str,
        value: Option<&str>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match value {
            None => Ok(default),
            Some(text) => parse_duration(text).map_err(|e| ConfigError::InvalidValue {
                relation: relation.to_string(),
                value: text.to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// `default_realm`, if set and not empty.
    pub fn default_realm(&self) -> Option<&str> {
        self.libdefault("default_realm").filter(|r| !r.is_empty())
    }

    /// `dns_lookup_kdc`: whether DNS SRV records may locate KDCs (default true).
    pub fn dns_lookup_kdc(&self) -> Result<bool, ConfigError> {
        self.dns_setting("dns_lookup_kdc", true)
    }

    /// `dns_lookup_realm`: whether DNS TXT records may map hosts to realms
    /// (default false).
    pub fn dns_lookup_realm(&self) -> Result<bool, ConfigError> {
        self.dns_setting("dns_lookup_realm", false)
    }

    /// MIT falls back to the generic `dns_fallback` relation when the
    /// specific one is absent.
    fn dns_setting(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.libdefault(name) {
            Some(value) => self.boolean(name, Some(value), default),
            None => self.boolean("dns_fallback", self.libdefault("dns_fallback"), default),
        }
    }

    /// `dns_canonicalize_hostname`: true, false or fallback (default true).
    pub fn dns_canonicalize_hostname(&self) -> Result<CanonicalizeHostname, ConfigError> {
        let name = "dns_canonicalize_hostname";
        match self.libdefault(name) {
            None => Ok(CanonicalizeHostname::True),
            Some(text) if text.eq_ignore_ascii_case("fallback") => {
                Ok(CanonicalizeHostname::Fallback)
            }
            Some(text) => match parse_boolean(text) {
                Some(true) => Ok(CanonicalizeHostname::True),
                Some(false) => Ok(CanonicalizeHostname::False),
                None => Err(ConfigError::InvalidValue {
                    relation: name.to_string(),
                    value: text.to_string(),
                    reason: "use true, false or fallback".to_string(),
                }),
            },
        }
    }

    /// `rdns`: whether a reverse lookup refines the canonical host name
    /// (default true).
    pub fn rdns(&self) -> Result<bool, ConfigError> {
        self.libdefault_boolean("rdns", true)
    }

    /// `allow_weak_crypto` (default false).
    pub fn allow_weak_crypto(&self) -> Result<bool, ConfigError> {
        self.libdefault_boolean("allow_weak_crypto", false)
    }

    /// `udp_preference_limit` in bytes: larger requests go over TCP first.
    /// A negative setting means the default, and values above
    /// [`defaults::UDP_PREFERENCE_LIMIT_MAX`] are capped, as in MIT.
    pub fn udp_preference_limit(&self) -> Result<usize, ConfigError> {
        let limit = self.libdefault_integer(
            "udp_preference_limit",
            defaults::UDP_PREFERENCE_LIMIT as i32,
        )?;
        Ok(usize::try_from(limit)
            .map(|l| l.min(defaults::UDP_PREFERENCE_LIMIT_MAX))
            .unwrap_or(defaults::UDP_PREFERENCE_LIMIT))
    }

    /// `permitted_enctypes` (default `DEFAULT`), weak ones removed unless
    /// allowed.
    pub fn permitted_enctypes(&self) -> Result<Vec<i32>, ConfigError> {
        self.enctype_list("permitted_enctypes", None)
    }

    /// `default_tkt_enctypes`, else `permitted_enctypes`, else `DEFAULT`: the
    /// enctypes an AS-REQ requests.
    pub fn default_tkt_enctypes(&self) -> Result<Vec<i32>, ConfigError> {
        self.enctype_list("permitted_enctypes", Some("default_tkt_enctypes"))
    }

    /// `default_tgs_enctypes`, else `permitted_enctypes`, else `DEFAULT`: the
    /// enctypes a TGS-REQ requests.
    pub fn default_tgs_enctypes(&self) -> Result<Vec<i32>, ConfigError> {
        self.enctype_list("permitted_enctypes", Some("default_tgs_enctypes"))
    }

    fn enctype_list(&self, fallback: &str, first: Option<&str>) -> Result<Vec<i32>, ConfigError> {
        let allow_weak = self.allow_weak_crypto()?;
        let chosen = first
            .and_then(|name| self.libdefault(name).map(|value| (name, value)))
            .or_else(|| self.libdefault(fallback).map(|value| (fallback, value)));
        let (relation, value) = chosen.unwrap_or((fallback, "DEFAULT"));
        Ok(parse_enctype_list(relation, value, allow_weak)?.enctypes)
    }

    /// `clockskew`: the maximum tolerated clock difference (default 300 s).
    ///
    /// MIT 1.20 reads this relation as an integer number of seconds; any
    /// duration form is accepted here, which includes those integers.
    pub fn clockskew(&self) -> Result<Duration, ConfigError> {
        self.duration(
            "clockskew",
            self.libdefault("clockskew"),
            defaults::CLOCKSKEW,
        )
    }

    /// `request_timeout`: the maximum time for one request to a realm's KDCs
    /// (MIT krb5 1.22 and later). Absent or 0 means no maximum beyond the
    /// resend schedule, as in MIT.
    pub fn request_timeout(&self) -> Result<Option<Duration>, ConfigError> {
        let timeout = self.duration(
            "request_timeout",
            self.libdefault("request_timeout"),
            Duration::ZERO,
        )?;
        Ok(Some(timeout).filter(|t| !t.is_zero()))
    }

    /// `ticket_lifetime` for `realm` (default one day).
    pub fn ticket_lifetime(&self, realm: Option<&str>) -> Result<Duration, ConfigError> {
        let value = self.libdefault_for_realm(realm, "ticket_lifetime");
        self.duration("ticket_lifetime", value, defaults::TICKET_LIFETIME)
    }

    /// `renew_lifetime` for `realm` (default 0: no renewable tickets).
    pub fn renew_lifetime(&self, realm: Option<&str>) -> Result<Duration, ConfigError> {
        let value = self.libdefault_for_realm(realm, "renew_lifetime");
        self.duration("renew_lifetime", value, defaults::RENEW_LIFETIME)
    }

    /// `forwardable` for `realm` (default false).
    pub fn forwardable(&self, realm: Option<&str>) -> Result<bool, ConfigError> {
        let value = self.libdefault_for_realm(realm, "forwardable");
        self.boolean("forwardable", value, false)
    }

    /// `proxiable` for `realm` (default false).
    pub fn proxiable(&self, realm: Option<&str>) -> Result<bool, ConfigError> {
        let value = self.libdefault_for_realm(realm, "proxiable");
        self.boolean("proxiable", value, false)
    }

    /// `kdc_timesync`: whether to correct for the KDC's clock offset
    /// (an integer in MIT, default 1; any non-zero value enables it).
    pub fn kdc_timesync(&self) -> Result<bool, ConfigError> {
        Ok(self.libdefault_integer("kdc_timesync", 1)? != 0)
    }

    /// `realm_try_domains` (default -1: off), for the domain fallback of
    /// host-to-realm mapping.
    pub fn realm_try_domains(&self) -> Result<i32, ConfigError> {
        self.libdefault_integer("realm_try_domains", -1)
    }

    /// `qualify_shortname`: the domain appended to a one-label host name when
    /// DNS canonicalization is off. `None` means the resolver's domain; an
    /// empty value disables qualification.
    pub fn qualify_shortname(&self) -> Option<&str> {
        self.libdefault("qualify_shortname")
    }

    /// `default_ccache_name` before token expansion.
    pub fn default_ccache_name(&self) -> &str {
        self.libdefault("default_ccache_name")
            .unwrap_or(defaults::CCACHE_NAME)
    }

    /// `default_keytab_name` before token expansion.
    pub fn default_keytab_name(&self) -> &str {
        self.libdefault("default_keytab_name")
            .unwrap_or(defaults::KEYTAB_NAME)
    }

    /// `default_client_keytab_name` before token expansion.
    pub fn default_client_keytab_name(&self) -> &str {
        self.libdefault("default_client_keytab_name")
            .unwrap_or(defaults::CLIENT_KEYTAB_NAME)
    }

    /// Returns the default credential cache name for the user `uid`, expanded.
    pub fn default_ccache_name_for(&self, uid: u32) -> Result<String, ConfigError> {
        Ok(expand_path(self.default_ccache_name(), uid)?)
    }

    /// Returns the default keytab name, expanded for `uid`.
    pub fn default_keytab_name_for(&self, uid: u32) -> Result<String, ConfigError> {
        Ok(expand_path(self.default_keytab_name(), uid)?)
    }

    /// Returns the default client keytab name for the user `uid`, expanded.
    pub fn default_client_keytab_name_for(&self, uid: u32) -> Result<String, ConfigError> {
        Ok(expand_path(self.default_client_keytab_name(), uid)?)
    }

    fn realm_values(&self, realm: &str, name: &str) -> Vec<&str> {
        self.values(&["realms", realm, name])
    }

    /// `[realms] REALM kdc` entries, as written (`host`, `host:port`,
    /// `[address]:port`, optionally with a transport prefix).
    pub fn kdcs(&self, realm: &str) -> Vec<&str> {
        self.realm_values(realm, "kdc")
    }

    /// `[realms] REALM primary_kdc`, or `master_kdc` (its older name).
    pub fn primary_kdcs(&self, realm: &str) -> Vec<&str> {
        let primary = self.realm_values(realm, "primary_kdc");
        if primary.is_empty() {
            self.realm_values(realm, "master_kdc")
        } else {
            primary
        }
    }

    /// `[realms] REALM admin_server` entries.
    pub fn admin_servers(&self, realm: &str) -> Vec<&str> {
        self.realm_values(realm, "admin_server")
    }

    /// `[realms] REALM default_domain`.
    pub fn default_domain(&self, realm: &str) -> Option<&str> {
        self.value(&["realms", realm, "default_domain"])
    }
}

#[cfg(test)]
mod tests;
