//! Principal to local user name mapping (`krb5_aname_to_localname`), as MIT
//! krb5 1.20 does it with its built-in modules, in this order:
//!
//! 1. `auth_to_local_names`: `[realms] DEFAULT_REALM auth_to_local_names`
//!    maps the principal name without realm to a user; the last value wins.
//! 2. `auth_to_local`: the `[realms] DEFAULT_REALM auth_to_local` values are
//!    tried in order until one maps the principal. Without any, `DEFAULT`
//!    applies.
//!
//! Both use the section of the default realm, whatever the principal's realm.
//!
//! `RULE:[n:fmt](regex)s/pattern/replacement/[g]...` applies only to
//! principals with `n` components. `fmt` builds the selection string: `$0` is
//! the realm and `$1`... the components; other text is copied. Without
//! `[n:fmt]` the selection string is the principal name without realm. The
//! optional `(regex)` (which cannot contain `)`) must match the whole
//! selection string. Each `s/pattern/replacement/` then replaces the first
//! match, or every match with `g`; the replacement is literal text.
//! `DEFAULT` maps `user@DEFAULT_REALM` and `user/DEFAULT_REALM@DEFAULT_REALM`
//! to `user`.
//!
//! Regular expressions use the `regex` crate, which supports the POSIX
//! extended syntax that rules use in practice (classes, `[[:alpha:]]`,
//! repetition, alternation) but matches leftmost-first where POSIX matches
//! leftmost-longest. That can change which text `s///` replaces when a
//! pattern has alternatives of different lengths.

use regex::Regex;

use super::Config;
use crate::principal::Principal;

/// A mapping rule that cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid auth_to_local value {rule:?} in [realms] of the default realm: {reason}")]
pub struct AuthToLocalError {
    pub rule: String,
    pub reason: String,
}

/// The outcome of one mapping step: MIT's `KRB5_LNAME_NOTRANS` is `None`.
type Step = Result<Option<String>, AuthToLocalError>;

impl Config {
    /// Maps `principal` to a local user name. Returns `Ok(None)` when no
    /// rule applies (MIT's "no translation"), and an error for a malformed
    /// rule, which, as in MIT, stops the search.
    pub fn aname_to_localname(&self, principal: &Principal) -> Step {
        let Some(default_realm) = self.default_realm() else {
            return Ok(None);
        };

        let name = principal.name_without_realm();
        let explicit = self.values(&["realms", default_realm, "auth_to_local_names", &name]);
        if let Some(user) = explicit.last() {
            return Ok(Some(user.to_string()));
        }

        let rules = self.values(&["realms", default_realm, "auth_to_local"]);
        if rules.is_empty() {
            return Ok(default_rule(principal, default_realm));
        }
        for value in rules {
            let (kind, residual) = match value.split_once(':') {
                Some((kind, residual)) => (kind, Some(residual)),
                None => (value, None),
            };
            let mapped = match kind {
                "DEFAULT" => default_rule(principal, default_realm),
                "RULE" => {
                    let residual = residual.ok_or_else(|| AuthToLocalError {
                        rule: value.to_string(),
                        reason: "RULE needs ':' and a rule after it".to_string(),
                    })?;
                    apply_rule(residual, principal).map_err(|reason| AuthToLocalError {
                        rule: value.to_string(),
                        reason,
                    })?
                }
                _ => {
                    return Err(AuthToLocalError {
                        rule: value.to_string(),
                        reason: format!("unknown mapping type {kind:?}; use RULE:... or DEFAULT"),
                    })
                }
            };
            if mapped.is_some() {
                return Ok(mapped);
            }
        }
        Ok(None)
    }
}

/// MIT's `DEFAULT` mapping.
fn default_rule(principal: &Principal, default_realm: &str) -> Option<String> {
    if principal.realm != default_realm {
        return None;
    }
    match principal.components.as_slice() {
        [user] => Some(user.clone()),
        [user, instance] if instance == default_realm => Some(user.clone()),
        _ => None,
    }
}

/// Evaluates the text after `RULE:`. `Ok(None)` means the rule does not
/// apply; `Err` carries the reason the rule is malformed.
pub fn apply_rule(rule: &str, principal: &Principal) -> Result<Option<String>, String> {
    let (selection, rest) = if let Some(format) = rule.strip_prefix('[') {
        match selection_string(format, principal)? {
            Some(found) => found,
            None => return Ok(None),
        }
    } else {
        (principal.name_without_realm(), rule)
    };

    let rest = match rest.strip_prefix('(') {
        Some(after) => {
            let (pattern, rest) = after
                .split_once(')')
                .ok_or_else(|| "the match expression has no closing ')'".to_string())?;
            let Some(matcher) = compile(&format!("^(?:{pattern})$")) else {
                return Ok(None);
            };
            if !matcher.is_match(&selection) {
                return Ok(None);
            }
            rest
        }
        None => rest,
    };

    substitute(rest, selection)
}

/// Builds the selection string from `n:fmt]...` (the `[` already removed).
/// Returns the string and the rule text after `]`, or `None` when the
/// principal has a different number of components.
fn selection_string<'r>(
    format: &'r str,
    principal: &Principal,
) -> Result<Option<(String, &'r str)>, String> {
    let (count, mut rest) = format
        .split_once(':')
        .ok_or_else(|| "the selection '[n:format]' lacks ':'".to_string())?;
    let count: usize = count
        .trim_start()
        .parse()
        .map_err(|_| format!("invalid component count {count:?} in '[n:format]'"))?;
    if count != principal.components.len() {
        return Ok(None);
    }

    let mut selection = String::new();
    loop {
        let literal_end = rest.find(['$', ']']).unwrap_or(rest.len());
        selection.push_str(&rest[..literal_end]);
        rest = &rest[literal_end..];
        let Some(after_dollar) = rest.strip_prefix('$') else {
            break;
        };
        let digits = after_dollar.bytes().take_while(u8::is_ascii_digit).count();
        // MIT reads a '$' without digits as $0, the realm.
        let index: usize = after_dollar[..digits].parse().unwrap_or(0);
        if index > count {
            return Err(format!("${index} exceeds the {count} components"));
        }
        let part = match index.checked_sub(1) {
            None => &principal.realm,
            Some(i) => principal
                .components
                .get(i)
                .ok_or_else(|| format!("${index} exceeds the components"))?,
        };
        selection.push_str(part);
        rest = &after_dollar[digits..];
    }
    match rest.strip_prefix(']') {
        Some(after) => Ok(Some((selection, after))),
        None => Err("the selection '[n:format]' has no closing ']'".to_string()),
    }
}

/// Applies `s/pattern/replacement/[g]` expressions to `current`.
fn substitute(mut rest: &str, mut current: String) -> Result<Option<String>, String> {
    loop {
        rest = rest.trim_start_matches(super::profile::is_c_space);
        if rest.is_empty() {
            return Ok(Some(current));
        }
        let malformed = || format!("expected s/pattern/replacement/ at {rest:?}");
        let body = rest.strip_prefix("s/").ok_or_else(malformed)?;
        let (pattern, after_pattern) = body.split_once('/').ok_or_else(malformed)?;
        let (replacement, after) = after_pattern.split_once('/').ok_or_else(malformed)?;
        let (global, after) = match after.strip_prefix('g') {
            Some(after) => (true, after),
            None => (false, after),
        };
        let Some(matcher) = compile(pattern) else {
            return Ok(None);
        };
        current = replace(&matcher, replacement, global, &current);
        rest = after;
    }
}

fn compile(pattern: &str) -> Option<Regex> {
    match Regex::new(pattern) {
        Ok(regex) => Some(regex),
        Err(e) => {
            // MIT treats a pattern that does not compile as "no translation".
            log::warn!("auth_to_local pattern {pattern:?} does not compile, rule skipped: {e}");
            None
        }
    }
}

/// Replaces the first match, or all matches, with literal text. Like MIT,
/// each search starts afresh after the previous match, so `^` can match
/// again there. An empty match copies one character before searching on.
fn replace(matcher: &Regex, replacement: &str, global: bool, input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(found) = matcher.find(rest) {
        out.push_str(&rest[..found.start()]);
        out.push_str(replacement);
        rest = &rest[found.end()..];
        if !global {
            break;
        }
        if found.is_empty() {
            let Some(c) = rest.chars().next() else {
                break;
            };
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(text: &str) -> Principal {
        Principal::parse(text, None).expect("valid principal")
    }

    fn config(realm_body: &str) -> Config {
        let text = format!(
            "[libdefaults]\ndefault_realm = EXAMPLE.COM\n[realms]\nEXAMPLE.COM = {{\n{realm_body}\n}}\n"
        );
        Config::from_text(&text, "test.conf").expect("valid profile")
    }

    fn map(config: &Config, name: &str) -> Option<String> {
        config
            .aname_to_localname(&principal(name))
            .expect("rules are well formed")
    }

    #[test]
    fn default_mapping_without_rules() {
        let c = config("");
        assert_eq!(map(&c, "alice@EXAMPLE.COM").as_deref(), Some("alice"));
        assert_eq!(
            map(&c, "alice/EXAMPLE.COM@EXAMPLE.COM").as_deref(),
            Some("alice")
        );
        assert_eq!(map(&c, "alice/admin@EXAMPLE.COM"), None);
        assert_eq!(map(&c, "alice@OTHER.COM"), None);
        assert_eq!(map(&c, "a/b/c@EXAMPLE.COM"), None);
    }

    #[test]
    fn no_default_realm_no_mapping() {
        let c = Config::from_text("[libdefaults]\n", "t").expect("valid");
        assert_eq!(
            c.aname_to_localname(&principal("alice@EXAMPLE.COM")),
            Ok(None)
        );
    }

    #[test]
    fn rule_maps_other_realm() {
        let c = config(
            "auth_to_local = RULE:[1:$1@$0](.*@OTHER\\.COM)s/@.*//\n\
             auth_to_local = DEFAULT",
        );
        assert_eq!(map(&c, "bob@OTHER.COM").as_deref(), Some("bob"));
        assert_eq!(map(&c, "alice@EXAMPLE.COM").as_deref(), Some("alice"));
        assert_eq!(map(&c, "carol@THIRD.COM"), None);
    }

    #[test]
    fn rule_for_host_principals() {
        let c = config("auth_to_local = RULE:[2:$1;$2](^nfs;.*)s/;.*//");
        assert_eq!(
            map(&c, "nfs/server.example.com@EXAMPLE.COM").as_deref(),
            Some("nfs")
        );
        assert_eq!(map(&c, "host/server.example.com@EXAMPLE.COM"), None);
        assert_eq!(map(&c, "nfs@EXAMPLE.COM"), None);
    }

    #[test]
    fn rule_global_and_chained_substitutions() {
        let c = config("auth_to_local = RULE:[1:$1](a.*)s/a/o/g s/^o/x/");
        assert_eq!(map(&c, "anna@EXAMPLE.COM").as_deref(), Some("xnno"));
        let c = config("auth_to_local = RULE:[1:$1]s/a/o/");
        assert_eq!(map(&c, "anna@EXAMPLE.COM").as_deref(), Some("onna"));
    }

    #[test]
    fn rule_without_selection_uses_name() {
        // The pattern cannot contain '/', so '.' matches it instead.
        let c = config("auth_to_local = RULE:(.*/admin)s/.admin$//");
        assert_eq!(map(&c, "root/admin@EXAMPLE.COM").as_deref(), Some("root"));
    }

    #[test]
    fn rule_match_must_cover_whole_string() {
        let c = config("auth_to_local = RULE:[1:$1](ali)");
        assert_eq!(map(&c, "alice@EXAMPLE.COM"), None);
        assert_eq!(map(&c, "ali@EXAMPLE.COM").as_deref(), Some("ali"));
    }

    #[test]
    fn caret_rematches_after_each_replacement() {
        let c = config("auth_to_local = RULE:[1:$1]s/^x//g");
        assert_eq!(map(&c, "xxxy@EXAMPLE.COM").as_deref(), Some("y"));
    }

    #[test]
    fn empty_match_terminates() {
        let c = config("auth_to_local = RULE:[1:$1]s/z*/-/g");
        assert_eq!(map(&c, "ab@EXAMPLE.COM").as_deref(), Some("-a-b-"));
    }

    #[test]
    fn auth_to_local_names_win() {
        let c = config(
            "auth_to_local_names = {\n\
             \thost/nfs.example.com = nfsuser\n\
             \thost/nfs.example.com = other\n\
             }\n\
             auth_to_local = RULE:[2:$1](host)",
        );
        assert_eq!(
            map(&c, "host/nfs.example.com@EXAMPLE.COM").as_deref(),
            Some("other")
        );
        assert_eq!(
            map(&c, "host/b.example.com@EXAMPLE.COM").as_deref(),
            Some("host")
        );
    }

    #[test]
    fn malformed_rules_are_errors() {
        for rule in [
            "RULE:[1:$1",
            "RULE:[x:$1]",
            "RULE:[1:$1](abc",
            "RULE:[1:$1]s/a/b",
            "RULE:[1:$1] junk",
            "RULE:[1:$5]",
            "RULE",
            "LOOKUP:x",
        ] {
            let c = config(&format!("auth_to_local = {rule}"));
            let result = c.aname_to_localname(&principal("alice@EXAMPLE.COM"));
            assert!(result.is_err(), "{rule}: {result:?}");
        }
    }

    #[test]
    fn invalid_regex_is_no_translation() {
        let c = config("auth_to_local = RULE:[1:$1](a[)\nauth_to_local = DEFAULT");
        assert_eq!(map(&c, "alice@EXAMPLE.COM").as_deref(), Some("alice"));
    }

    #[test]
    fn dollar_without_digits_is_realm() {
        let c = config("auth_to_local = RULE:[1:$1%$]");
        assert_eq!(
            map(&c, "alice@EXAMPLE.COM").as_deref(),
            Some("alice%EXAMPLE.COM")
        );
    }
}
