//! Errors of the KDC client.

use super::transport::Attempt;
use crate::crypto::CryptoError;
use crate::messages::{convert, error_code, KrbError, MessageError};

/// A failed exchange with a KDC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KdcError {
    /// The KDC replied with a KRB-ERROR. `message` is MIT's text for `code`,
    /// and `principal` the client or service the error is about.
    #[error("{message} for {principal} (KDC error {code} {name}{})", e_text_suffix(.e_text))]
    Kdc {
        code: i32,
        name: &'static str,
        message: String,
        principal: String,
        e_text: Option<String>,
    },
    #[error("Clock skew too great: the KDC for realm {realm} is {skew} seconds away from the local clock (at most {allowed} allowed); fix the system clock, for example with chronyd or ntpd")]
    ClockSkew {
        realm: String,
        /// KDC time minus local time, in seconds.
        skew: i64,
        allowed: u64,
    },
    #[error("Cannot find KDC for realm {realm}: no KDC is configured; add kdc = HOST to the realm in [realms] of krb5.conf")]
    NoKdc { realm: String },
    #[error("Cannot find KDC for realm {realm}: {source}")]
    Locate {
        realm: String,
        source: crate::locate::LocateError,
    },
    #[error("Cannot contact any KDC for realm {realm}: {}", join_attempts(.attempts))]
    Unreachable {
        realm: String,
        attempts: Vec<Attempt>,
    },
    #[error("invalid reply from the KDC for realm {realm}: {source}")]
    InvalidReply { realm: String, source: MessageError },
    #[error("cannot build the request: {0}")]
    Encode(MessageError),
    #[error("KDC reply did not match expectations: {field} is {actual}, expected {expected}")]
    ReplyMismatch {
        field: &'static str,
        actual: String,
        expected: String,
    },
    #[error("{context} for {principal} failed: {source}")]
    Crypto {
        context: &'static str,
        principal: String,
        source: CryptoError,
    },
    #[error("no key for {principal} matches the enctypes the KDC offers ({offered:?}); the keys at hand have enctypes {available:?}")]
    NoMatchingKey {
        principal: String,
        offered: Vec<i32>,
        available: Vec<i32>,
    },
    #[error("no enctype to request: none of {requested:?} is supported by this build and usable with the key at hand")]
    NoEnctypes { requested: Vec<i32> },
    #[error("the KDC required pre-authentication again for {principal} after accepting none of the padata sent")]
    PreauthLoop { principal: String },
    #[error("cannot get a ticket for {service}: {reason}")]
    CrossRealm { service: String, reason: String },
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

fn e_text_suffix(e_text: &Option<String>) -> String {
    match e_text {
        Some(text) if !text.is_empty() => format!(": {text}"),
        _ => String::new(),
    }
}

fn join_attempts(attempts: &[Attempt]) -> String {
    if attempts.is_empty() {
        return "no addresses to try".to_string();
    }
    attempts
        .iter()
        .map(Attempt::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl KdcError {
    /// Builds the error for a KRB-ERROR about `principal`.
    pub fn from_krb_error(error: &KrbError, principal: &str) -> Self {
        let e_text = error
            .e_text
            .as_ref()
            .and_then(|text| convert::string(text, "KRB-ERROR", "e-text").ok());
        KdcError::Kdc {
            code: error.error_code,
            name: error_code::name(error.error_code),
            message: error_code::message(error.error_code),
            principal: principal.to_string(),
            e_text,
        }
    }

    /// Returns the KRB-ERROR code, for errors that came from a KDC.
    pub fn kdc_code(&self) -> Option<i32> {
        match self {
            KdcError::Kdc { code, .. } => Some(*code),
            KdcError::ClockSkew { .. } => Some(error_code::KRB_AP_ERR_SKEW),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdc_error_names_principal() {
        let error = KdcError::Kdc {
            code: 6,
            name: "KDC_ERR_C_PRINCIPAL_UNKNOWN",
            message: error_code::message(6),
            principal: "nobody@EXAMPLE.TEST".to_string(),
            e_text: None,
        };
        assert_eq!(
            error.to_string(),
            "Client not found in Kerberos database for nobody@EXAMPLE.TEST (KDC error 6 KDC_ERR_C_PRINCIPAL_UNKNOWN)"
        );
    }

    #[test]
    fn clock_skew_says_to_fix_clock() {
        let error = KdcError::ClockSkew {
            realm: "EXAMPLE.TEST".to_string(),
            skew: -3600,
            allowed: 300,
        };
        let text = error.to_string();
        assert!(text.starts_with("Clock skew too great"), "{text}");
        assert!(text.contains("fix the system clock"), "{text}");
    }
}
