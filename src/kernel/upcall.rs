//! Upcalls that the kernel's RPCSEC_GSS client writes into rpc_pipefs.
//!
//! The `gssd` pipe carries one text line per upcall:
//! `mech=NAME uid=N[ target=NAME][ service=NAME[ srchost=HOST]][ enctypes=N,N]\n`.
//! The older `krb5` and `spkm3` pipes carry only the uid, as four bytes in
//! host byte order.

use std::fmt;

/// A parsed upcall: whose credentials the kernel wants, and for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upcall {
    /// Mechanism name, `krb5` (or `spkm3` on historic kernels).
    pub mech: String,
    /// The uid whose credentials are wanted; 0 for machine credentials.
    pub uid: u32,
    /// The acceptor's host-based name (`service@host`), set only by knfsd's
    /// NFSv4.0 callback client.
    pub target: Option<String>,
    /// The source service for machine credentials, or `*` for any.
    pub service: Option<String>,
    /// The host part of the source principal, replacing the local host name.
    pub srchost: Option<String>,
    /// The kernel's enctypes in its order of preference; empty when not sent.
    pub enctypes: Vec<i32>,
}

/// An upcall parse failure. `uid` is set whenever the uid itself
/// was readable, so that the daemon can still send an error downcall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpcallError {
    pub uid: Option<u32>,
    pub reason: String,
}

impl fmt::Display for UpcallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.uid {
            Some(uid) => write!(f, "malformed upcall for uid {uid}: {}", self.reason),
            None => write!(f, "malformed upcall: {}", self.reason),
        }
    }
}

impl std::error::Error for UpcallError {}

/// Length of a legacy binary upcall: one `uid_t`.
pub const LEGACY_UPCALL_LEN: usize = 4;

/// Parses a legacy binary upcall from the `krb5` or `spkm3` pipe.
pub fn parse_legacy(data: &[u8], mech: &str) -> Result<Upcall, UpcallError> {
    let bytes: [u8; LEGACY_UPCALL_LEN] = data.try_into().map_err(|_| UpcallError {
        uid: None,
        reason: format!(
            "legacy upcall is {} bytes long, expected {LEGACY_UPCALL_LEN}",
            data.len()
        ),
    })?;
    Ok(Upcall {
        mech: mech.to_string(),
        uid: u32::from_ne_bytes(bytes),
        target: None,
        service: None,
        srchost: None,
        enctypes: Vec::new(),
    })
}

/// Parses a text upcall from the `gssd` pipe.
///
/// Unknown keys are ignored, as newer kernels may add some. Unlike nfs-utils,
/// a line whose uid is readable is never dropped silently: the error carries
/// the uid so that the caller sends an error downcall and the kernel does not
/// wait forever.
pub fn parse_text(data: &[u8]) -> Result<Upcall, UpcallError> {
    let text = String::from_utf8_lossy(data);
    let uid = find_uid(&text);
    let fail = |reason: String| UpcallError { uid, reason };

    let line = text
        .strip_suffix('\n')
        .ok_or_else(|| fail(format!("{:?} does not end in a newline", text)))?;
    if line.contains('\n') {
        return Err(fail("more than one line in one upcall".to_string()));
    }

    let mut mech = None;
    let mut target = None;
    let mut service = None;
    let mut srchost = None;
    let mut enctypes = Vec::new();
    for token in line.split(' ').filter(|t| !t.is_empty()) {
        let Some((key, value)) = token.split_once('=') else {
            return Err(fail(format!("token {token:?} is not key=value")));
        };
        match key {
            "mech" => mech = Some(non_empty(key, value).map_err(fail)?),
            "uid" => {}
            "target" => target = Some(non_empty(key, value).map_err(fail)?),
            "service" => service = Some(non_empty(key, value).map_err(fail)?),
            "srchost" => srchost = Some(non_empty(key, value).map_err(fail)?),
            "enctypes" => enctypes = parse_enctypes(value).map_err(fail)?,
            _ => {}
        }
    }

    let uid = uid.ok_or_else(|| fail("missing or invalid uid=".to_string()))?;
    let mech = mech.ok_or_else(|| fail("missing mech=".to_string()))?;
    Ok(Upcall {
        mech,
        uid,
        target,
        service,
        srchost,
        enctypes,
    })
}

/// Finds a well-formed `uid=N` token anywhere in the line.
fn find_uid(text: &str) -> Option<u32> {
    text.split([' ', '\n'])
        .find_map(|token| token.strip_prefix("uid="))
        .and_then(|value| {
            if value.bytes().all(|b| b.is_ascii_digit()) {
                value.parse().ok()
            } else {
                None
            }
        })
}

fn non_empty(key: &str, value: &str) -> Result<String, String> {
    if value.is_empty() {
        Err(format!("{key}= is empty"))
    } else {
        Ok(value.to_string())
    }
}

fn parse_enctypes(value: &str) -> Result<Vec<i32>, String> {
    value
        .split(',')
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<i32>()
                .map_err(|_| format!("enctype {v:?} in enctypes={value} is not a number"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_upcall_machine_credentials() {
        let up = parse_text(b"mech=krb5 uid=0 service=* enctypes=20,19,18,17\n").unwrap();
        assert_eq!(up.mech, "krb5");
        assert_eq!(up.uid, 0);
        assert_eq!(up.service.as_deref(), Some("*"));
        assert_eq!(up.target, None);
        assert_eq!(up.enctypes, [20, 19, 18, 17]);
    }

    #[test]
    fn text_upcall_callback_with_srchost() {
        let up = parse_text(
            b"mech=krb5 uid=0 target=nfs@client.example.test service=nfs srchost=server.example.test enctypes=18,17\n",
        )
        .unwrap();
        assert_eq!(up.target.as_deref(), Some("nfs@client.example.test"));
        assert_eq!(up.service.as_deref(), Some("nfs"));
        assert_eq!(up.srchost.as_deref(), Some("server.example.test"));
    }

    #[test]
    fn text_upcall_ignores_unknown_keys() {
        let up = parse_text(b"mech=krb5 uid=1000 future=1 enctypes=18\n").unwrap();
        assert_eq!(up.uid, 1000);
        assert_eq!(up.enctypes, [18]);
    }

    #[test]
    fn malformed_upcall_keeps_uid() {
        let err = parse_text(b"mech=krb5 uid=1000 target= enctypes=18\n").unwrap_err();
        assert_eq!(err.uid, Some(1000));
        assert!(err.reason.contains("target="));

        let err = parse_text(b"mech=krb5 uid=1000").unwrap_err();
        assert_eq!(err.uid, Some(1000));
        assert!(err.reason.contains("newline"));

        let err = parse_text(b"uid=7 enctypes=18\n").unwrap_err();
        assert_eq!(err.uid, Some(7));
        assert!(err.reason.contains("mech="));
    }

    #[test]
    fn unreadable_uid_is_none() {
        assert_eq!(parse_text(b"mech=krb5 uid=x1\n").unwrap_err().uid, None);
        assert_eq!(parse_text(b"mech=krb5 uid=-1\n").unwrap_err().uid, None);
        assert_eq!(parse_text(b"mech=krb5\n").unwrap_err().uid, None);
    }

    #[test]
    fn legacy_upcall_is_host_order_uid() {
        let up = parse_legacy(&1001u32.to_ne_bytes(), "krb5").unwrap();
        assert_eq!(up.uid, 1001);
        assert_eq!(up.mech, "krb5");
        assert!(parse_legacy(&[1, 2, 3], "krb5").is_err());
    }
}
