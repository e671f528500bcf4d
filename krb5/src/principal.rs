//! Kerberos principal names and MIT's string form of them.
//!
//! The string form is `component/component@REALM`. A backslash escapes `/`,
//! `@` and `\` itself, and `\n`, `\t`, `\b` and `\0` stand for the control
//! characters, as in MIT krb5's `krb5_parse_name` and `krb5_unparse_name`.

use std::fmt;

use crate::iana::name_type;

/// A principal: a name type, its components and its realm.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal {
    pub name_type: i32,
    pub components: Vec<String>,
    pub realm: String,
}

/// Errors from [`Principal::parse`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("invalid principal name {0:?}: it is empty")]
    Empty(String),
    #[error("invalid principal name {0:?}: more than one unescaped '@'")]
    SecondRealmSeparator(String),
    #[error("invalid principal name {0:?}: it ends in a lone backslash")]
    TrailingBackslash(String),
    #[error("invalid principal name {0:?}: an empty component")]
    EmptyComponent(String),
    #[error("principal name {0:?} has no realm and no default realm is set; add @REALM or set default_realm in krb5.conf")]
    NoRealm(String),
}

impl Principal {
    /// Builds a principal of type `NT-PRINCIPAL` (or `NT-SRV-INST` for `krbtgt`).
    pub fn new<S: Into<String>>(components: Vec<S>, realm: impl Into<String>) -> Self {
        let components: Vec<String> = components.into_iter().map(Into::into).collect();
        let name_type = if components.first().map(String::as_str) == Some("krbtgt") {
            name_type::SRV_INST
        } else {
            name_type::PRINCIPAL
        };
        Self {
            name_type,
            components,
            realm: realm.into(),
        }
    }

    /// Builds `krbtgt/SERVICE_REALM@CLIENT_REALM`, the ticket-granting service principal.
    pub fn krbtgt(service_realm: &str, client_realm: &str) -> Self {
        Self::new(vec!["krbtgt", service_realm], client_realm)
    }

    /// Builds a host-based service principal `service/host@realm` of type `NT-SRV-HST`.
    pub fn host_service(service: &str, host: &str, realm: &str) -> Self {
        Self {
            name_type: name_type::SRV_HST,
            components: vec![service.to_string(), host.to_string()],
            realm: realm.to_string(),
        }
    }

    /// Parses MIT's string form. A name without `@REALM` takes `default_realm`.
    pub fn parse(text: &str, default_realm: Option<&str>) -> Result<Self, ParseError> {
        if text.is_empty() {
            return Err(ParseError::Empty(text.to_string()));
        }

        let mut components = Vec::new();
        let mut current = String::new();
        let mut realm: Option<String> = None;
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    let escaped = chars
                        .next()
                        .ok_or_else(|| ParseError::TrailingBackslash(text.to_string()))?;
                    current.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        'b' => '\u{8}',
                        '0' => '\0',
                        other => other,
                    });
                }
                '/' if realm.is_none() => components.push(std::mem::take(&mut current)),
                '@' if realm.is_none() => {
                    components.push(std::mem::take(&mut current));
                    realm = Some(String::new());
                }
                '@' => return Err(ParseError::SecondRealmSeparator(text.to_string())),
                other => current.push(other),
            }
        }

        let realm = match realm {
            Some(_) => current,
            None => {
                components.push(current);
                default_realm
                    .filter(|r| !r.is_empty())
                    .ok_or_else(|| ParseError::NoRealm(text.to_string()))?
                    .to_string()
            }
        };
        if components.iter().any(String::is_empty) {
            return Err(ParseError::EmptyComponent(text.to_string()));
        }
        Ok(Self::new(components, realm))
    }

    /// Returns the components joined by `/`, escaped, without the realm.
    pub fn name_without_realm(&self) -> String {
        let escaped: Vec<String> = self.components.iter().map(|c| escape(c, false)).collect();
        escaped.join("/")
    }

    /// Returns true for `krbtgt/REALM@REALM`-style ticket-granting service names.
    pub fn is_krbtgt(&self) -> bool {
        self.components.len() == 2 && self.components[0] == "krbtgt"
    }

    /// Compares names and realms, ignoring the name type, as RFC 4120 §6.2 specifies.
    pub fn same_name(&self, other: &Principal) -> bool {
        self.components == other.components && self.realm == other.realm
    }
}

fn escape(text: &str, is_realm: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '/' if !is_realm => out.push_str("\\/"),
            '@' => out.push_str("\\@"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\0' => out.push_str("\\0"),
            other => out.push(other),
        }
    }
    out
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{}",
            self.name_without_realm(),
            escape(&self.realm, true)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_service_principal() {
        let p = Principal::parse("nfs/server.example.test@EXAMPLE.TEST", None).unwrap();
        assert_eq!(p.components, ["nfs", "server.example.test"]);
        assert_eq!(p.realm, "EXAMPLE.TEST");
        assert_eq!(p.to_string(), "nfs/server.example.test@EXAMPLE.TEST");
    }

    #[test]
    fn parse_takes_default_realm() {
        let p = Principal::parse("alice", Some("EXAMPLE.TEST")).unwrap();
        assert_eq!(p.to_string(), "alice@EXAMPLE.TEST");
        assert_eq!(
            Principal::parse("alice", None),
            Err(ParseError::NoRealm("alice".into()))
        );
    }

    #[test]
    fn escapes_round_trip() {
        let p = Principal::parse(r"a\/b\@c\\d/x@R\@S", None).unwrap();
        assert_eq!(p.components, ["a/b@c\\d", "x"]);
        assert_eq!(p.realm, "R@S");
        assert_eq!(p.to_string(), r"a\/b\@c\\d/x@R\@S");
    }

    #[test]
    fn parse_rejects_malformed_names() {
        assert!(matches!(
            Principal::parse("", None),
            Err(ParseError::Empty(_))
        ));
        assert!(matches!(
            Principal::parse("a@B@C", None),
            Err(ParseError::SecondRealmSeparator(_))
        ));
        assert!(matches!(
            Principal::parse("a\\", None),
            Err(ParseError::TrailingBackslash(_))
        ));
        assert!(matches!(
            Principal::parse("a//b@R", None),
            Err(ParseError::EmptyComponent(_))
        ));
    }

    #[test]
    fn krbtgt_has_srv_inst_type() {
        let p = Principal::krbtgt("EXAMPLE.TEST", "EXAMPLE.TEST");
        assert_eq!(p.name_type, name_type::SRV_INST);
        assert!(p.is_krbtgt());
    }
}
