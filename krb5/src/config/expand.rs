//! `%{token}` expansion in cache, keytab and path names, as MIT krb5 1.20's
//! `k5_expand_path_tokens` does it on Unix.

/// MIT's `%{LIBDIR}`, `%{BINDIR}` and `%{SBINDIR}` are its build's install
/// directories.
///
/// NOTE: Debian's MIT packages use `/usr/lib/<multiarch triplet>` for LIBDIR;
/// rgssd has no install-time LIBDIR of its own and uses `/usr/lib`.
pub const LIBDIR: &str = "/usr/lib";
pub const BINDIR: &str = "/usr/bin";
pub const SBINDIR: &str = "/usr/sbin";

/// A failed expansion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("invalid token %{{{token}}} in {template:?}; known tokens: uid, euid, USERID, username, TEMP, LIBDIR, BINDIR, SBINDIR, null")]
    UnknownToken { template: String, token: String },
    #[error("unterminated %{{ in {0:?}; add the closing '}}'")]
    Unterminated(String),
    #[error("cannot expand %{{username}} in {template:?}: no user with uid {uid}")]
    NoSuchUser { template: String, uid: u32 },
}

/// Expands the `%{...}` tokens of `template` for the user `uid`.
///
/// `uid` stands for both the real and effective uid, so `%{uid}`,
/// `%{USERID}` and `%{euid}` all give it, and `%{username}` gives its login
/// name from the password database. `%{TEMP}` is `$TMPDIR` or `/tmp`;
/// `%{null}` is empty. Text outside tokens is copied as it is, including a
/// `%` that does not start `%{`.
///
/// Unlike MIT, which compares only the length of the token written (so
/// `%{u}` matches `uid`), a token must be spelt in full.
pub fn expand_path(template: &str, uid: u32) -> Result<String, ExpandError> {
    expand_path_with(template, uid, &|uid| {
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(|user| user.name)
    })
}

/// [`expand_path`] with the uid-to-name lookup given, for tests.
pub fn expand_path_with(
    template: &str,
    uid: u32,
    user_name: &dyn Fn(u32) -> Option<String>,
) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("%{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(ExpandError::Unterminated(template.to_string()));
        };
        let token = &after[..end];
        match token {
            "uid" | "euid" | "USERID" => out.push_str(&uid.to_string()),
            "username" => {
                let name = user_name(uid).ok_or_else(|| ExpandError::NoSuchUser {
                    template: template.to_string(),
                    uid,
                })?;
                out.push_str(&name);
            }
            "TEMP" => {
                let temp = std::env::var("TMPDIR")
                    .ok()
                    .filter(|dir| !dir.is_empty())
                    .unwrap_or_else(|| "/tmp".to_string());
                out.push_str(&temp);
            }
            "LIBDIR" => out.push_str(LIBDIR),
            "BINDIR" => out.push_str(BINDIR),
            "SBINDIR" => out.push_str(SBINDIR),
            "null" => {}
            _ => {
                return Err(ExpandError::UnknownToken {
                    template: template.to_string(),
                    token: token.to_string(),
                })
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(uid: u32) -> Option<String> {
        (uid == 1000).then(|| "alice".to_string())
    }

    fn expand(template: &str, uid: u32) -> Result<String, ExpandError> {
        expand_path_with(template, uid, &names)
    }

    #[test]
    fn uid_tokens() {
        assert_eq!(
            expand("FILE:/tmp/krb5cc_%{uid}", 1000).as_deref(),
            Ok("FILE:/tmp/krb5cc_1000")
        );
        assert_eq!(expand("%{euid}-%{USERID}", 7).as_deref(), Ok("7-7"));
    }

    #[test]
    fn username_token() {
        assert_eq!(
            expand("/home/%{username}/k", 1000).as_deref(),
            Ok("/home/alice/k")
        );
        assert_eq!(
            expand("%{username}", 4242),
            Err(ExpandError::NoSuchUser {
                template: "%{username}".into(),
                uid: 4242
            })
        );
    }

    #[test]
    fn fixed_tokens() {
        assert_eq!(expand("a%{null}b", 0).as_deref(), Ok("ab"));
        assert_eq!(
            expand("%{LIBDIR}/krb5/plugins", 0).as_deref(),
            Ok("/usr/lib/krb5/plugins")
        );
        assert_eq!(
            expand("%{SBINDIR}|%{BINDIR}", 0).as_deref(),
            Ok("/usr/sbin|/usr/bin")
        );
    }

    #[test]
    fn literal_percent_and_braces() {
        assert_eq!(expand("100% {uid} }", 3).as_deref(), Ok("100% {uid} }"));
        assert_eq!(expand("", 3).as_deref(), Ok(""));
    }

    #[test]
    fn invalid_tokens() {
        assert!(matches!(
            expand("%{u}", 0),
            Err(ExpandError::UnknownToken { .. })
        ));
        assert!(matches!(
            expand("%{}", 0),
            Err(ExpandError::UnknownToken { .. })
        ));
        assert!(matches!(
            expand("%{euser}", 0),
            Err(ExpandError::UnknownToken { .. })
        ));
        assert_eq!(
            expand("/tmp/%{uid", 0),
            Err(ExpandError::Unterminated("/tmp/%{uid".into()))
        );
    }

    #[test]
    fn root_name_from_password_database() {
        assert_eq!(expand_path("%{username}", 0).as_deref(), Ok("root"));
    }
}
