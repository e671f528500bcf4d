//! Enctype lists (`permitted_enctypes`, `default_tkt_enctypes`,
//! `default_tgs_enctypes`) in the syntax of MIT krb5 1.20's
//! `krb5int_parse_enctype_list`.

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::iana::enctype;

/// MIT krb5 1.20's `DEFAULT` list, in its order of preference.
pub const DEFAULT_ENCTYPES: [i32; 8] = [
    enctype::AES256_CTS_HMAC_SHA1_96,
    enctype::AES128_CTS_HMAC_SHA1_96,
    enctype::AES256_CTS_HMAC_SHA384_192,
    enctype::AES128_CTS_HMAC_SHA256_128,
    enctype::DES3_CBC_SHA1,
    enctype::RC4_HMAC,
    enctype::CAMELLIA128_CTS_CMAC,
    enctype::CAMELLIA256_CTS_CMAC,
];

/// Returns true for the enctypes that are left out of every list unless
/// `allow_weak_crypto` is set.
///
/// NOTE: MIT krb5 1.20 only marks single-DES and export RC4 as weak (it has
/// dropped them) and keeps des3-cbc-sha1 and arcfour-hmac as "deprecated" but
/// permitted. rgssd treats those two as weak as well, because RFC 8429
/// deprecates both and NFS deployments have no reason to negotiate them.
pub fn is_weak(etype: i32) -> bool {
    matches!(etype, enctype::DES3_CBC_SHA1 | enctype::RC4_HMAC)
}

/// The outcome of parsing an enctype list: the enctypes and the words that
/// named no enctype (MIT ignores those and only traces them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnctypeList {
    pub enctypes: Vec<i32>,
    pub unknown: Vec<String>,
}

/// An enctype list that selects nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{relation} = {value:?} in [libdefaults] leaves no usable enctype{}; list e.g. \"aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96\"", unknown_note(.unknown))]
pub struct EmptyEnctypeList {
    pub relation: String,
    pub value: String,
    pub unknown: Vec<String>,
}

fn unknown_note(unknown: &[String]) -> String {
    if unknown.is_empty() {
        String::new()
    } else {
        format!(" (unknown names: {})", unknown.join(", "))
    }
}

/// Parses an enctype list.
///
/// Words are separated by blanks or commas. A word adds enctypes, or removes
/// them when it starts with `-` (a leading `+` is allowed and adds). Words
/// are matched without regard to case: `DEFAULT` is [`DEFAULT_ENCTYPES`],
/// `aes` the four AES enctypes (SHA-1 ones first), `camellia`, `des3` and
/// `rc4` their families, and any name from [`enctype::NAMES`] that one
/// enctype. `aes-sha1` and `aes-sha2` select the two AES enctypes of each
/// kind; they are an rgssd extension (MIT 1.20 ignores them as unknown).
/// Adding an enctype twice keeps its first position. Weak enctypes (see
/// [`is_weak`]) are skipped unless `allow_weak` is set.
///
/// `relation` names the relation in the error for an empty result.
pub fn parse_enctype_list(
    relation: &str,
    value: &str,
    allow_weak: bool,
) -> Result<EnctypeList, EmptyEnctypeList> {
    let mut enctypes: Vec<i32> = Vec::new();
    let mut unknown = Vec::new();

    for word in value
        .split([' ', '\t', '\r', '\n', ','])
        .filter(|w| !w.is_empty())
    {
        let (add, name) = if let Some(name) = word.strip_prefix('+') {
            (true, name)
        } else if let Some(name) = word.strip_prefix('-') {
            (false, name)
        } else {
            (true, word)
        };
        let Some(selected) = select(name) else {
            warn_unknown_once(relation, name);
            unknown.push(name.to_string());
            continue;
        };
        for etype in selected {
            if !allow_weak && is_weak(etype) {
                continue;
            }
            if add {
                if !enctypes.contains(&etype) {
                    enctypes.push(etype);
                }
            } else {
                enctypes.retain(|e| *e != etype);
            }
        }
    }

    if enctypes.is_empty() {
        return Err(EmptyEnctypeList {
            relation: relation.to_string(),
            value: value.to_string(),
            unknown,
        });
    }
    Ok(EnctypeList { enctypes, unknown })
}

/// Logs an unknown enctype name once per relation, because the lists are
/// parsed again on every lookup. At most 64 names are remembered.
fn warn_unknown_once(relation: &str, name: &str) {
    const MAX_REMEMBERED: usize = 64;
    static WARNED: Mutex<BTreeSet<(String, String)>> = Mutex::new(BTreeSet::new());

    let key = (relation.to_string(), name.to_string());
    let Ok(mut warned) = WARNED.lock() else {
        return;
    };
    if warned.contains(&key) {
        return;
    }
    log::warn!("ignoring unknown enctype {name:?} in {relation} in krb5.conf");
    if warned.len() < MAX_REMEMBERED {
        warned.insert(key);
    }
}

fn select(name: &str) -> Option<Vec<i32>> {
    let family: &[i32] = if name.eq_ignore_ascii_case("DEFAULT") {
        &DEFAULT_ENCTYPES
    } else if name.eq_ignore_ascii_case("des3") {
        &[enctype::DES3_CBC_SHA1]
    } else if name.eq_ignore_ascii_case("aes") {
        &[
            enctype::AES256_CTS_HMAC_SHA1_96,
            enctype::AES128_CTS_HMAC_SHA1_96,
            enctype::AES256_CTS_HMAC_SHA384_192,
            enctype::AES128_CTS_HMAC_SHA256_128,
        ]
    } else if name.eq_ignore_ascii_case("aes-sha1") {
        &[
            enctype::AES256_CTS_HMAC_SHA1_96,
            enctype::AES128_CTS_HMAC_SHA1_96,
        ]
    } else if name.eq_ignore_ascii_case("aes-sha2") {
        &[
            enctype::AES256_CTS_HMAC_SHA384_192,
            enctype::AES128_CTS_HMAC_SHA256_128,
        ]
    } else if name.eq_ignore_ascii_case("rc4") {
        &[enctype::RC4_HMAC]
    } else if name.eq_ignore_ascii_case("camellia") {
        &[enctype::CAMELLIA256_CTS_CMAC, enctype::CAMELLIA128_CTS_CMAC]
    } else {
        return enctype::from_name(name).map(|e| vec![e]);
    };
    Some(family.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iana::enctype::*;

    fn list(value: &str, weak: bool) -> Vec<i32> {
        parse_enctype_list("permitted_enctypes", value, weak)
            .map(|l| l.enctypes)
            .unwrap_or_default()
    }

    #[test]
    fn default_without_weak() {
        assert_eq!(
            list("DEFAULT", false),
            vec![
                AES256_CTS_HMAC_SHA1_96,
                AES128_CTS_HMAC_SHA1_96,
                AES256_CTS_HMAC_SHA384_192,
                AES128_CTS_HMAC_SHA256_128,
                CAMELLIA128_CTS_CMAC,
                CAMELLIA256_CTS_CMAC,
            ]
        );
    }

    #[test]
    fn default_with_weak() {
        assert_eq!(list("default", true), DEFAULT_ENCTYPES.to_vec());
    }

    #[test]
    fn removal_and_separators() {
        assert_eq!(
            list("DEFAULT,-aes -camellia128-cts", false),
            vec![CAMELLIA256_CTS_CMAC]
        );
        assert_eq!(
            list("aes256-cts  aes128-sha1,,aes256-sha2", false),
            vec![
                AES256_CTS_HMAC_SHA1_96,
                AES128_CTS_HMAC_SHA1_96,
                AES256_CTS_HMAC_SHA384_192
            ]
        );
    }

    #[test]
    fn families() {
        assert_eq!(
            list("camellia", false),
            vec![CAMELLIA256_CTS_CMAC, CAMELLIA128_CTS_CMAC]
        );
        assert_eq!(
            list("aes-sha2 aes-sha1", false),
            vec![
                AES256_CTS_HMAC_SHA384_192,
                AES128_CTS_HMAC_SHA256_128,
                AES256_CTS_HMAC_SHA1_96,
                AES128_CTS_HMAC_SHA1_96
            ]
        );
        assert_eq!(list("rc4 des3", true), vec![RC4_HMAC, DES3_CBC_SHA1]);
    }

    #[test]
    fn duplicates_keep_first_position() {
        assert_eq!(
            list("aes128-cts aes aes128-cts", false),
            vec![
                AES128_CTS_HMAC_SHA1_96,
                AES256_CTS_HMAC_SHA1_96,
                AES256_CTS_HMAC_SHA384_192,
                AES128_CTS_HMAC_SHA256_128
            ]
        );
    }

    #[test]
    fn removal_then_readd_moves_to_end() {
        assert_eq!(
            list("aes-sha1 -aes256-cts aes256-cts-hmac-sha1-96", false),
            vec![AES128_CTS_HMAC_SHA1_96, AES256_CTS_HMAC_SHA1_96]
        );
    }

    #[test]
    fn unknown_names_ignored() {
        let parsed =
            parse_enctype_list("default_tkt_enctypes", "des-cbc-crc aes256-cts foo", false);
        let parsed = parsed.expect("aes256-cts is usable");
        assert_eq!(parsed.enctypes, vec![AES256_CTS_HMAC_SHA1_96]);
        assert_eq!(parsed.unknown, vec!["des-cbc-crc", "foo"]);
    }

    #[test]
    fn weak_only_is_an_error() {
        let error = parse_enctype_list("default_tgs_enctypes", "rc4-hmac des3", false)
            .expect_err("nothing usable");
        assert_eq!(error.relation, "default_tgs_enctypes");
        assert!(error.to_string().contains("default_tgs_enctypes"));
    }

    #[test]
    fn empty_value_is_an_error() {
        let error = parse_enctype_list("permitted_enctypes", " , ", false).expect_err("empty");
        assert!(error.to_string().contains("permitted_enctypes"), "{error}");
        let error = parse_enctype_list("permitted_enctypes", "bogus", false).expect_err("unknown");
        assert!(error.to_string().contains("bogus"), "{error}");
    }
}
