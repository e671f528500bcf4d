//! Error texts in MIT krb5's words where scripts and administrators know
//! them (`No credentials cache found (filename: ...)`, `Client '...' not
//! found in Kerberos database`), and the library's own messages elsewhere.

use std::io;

use krb5::ccache::CcacheError;
use krb5::crypto::CryptoError;
use krb5::kdc::KdcError;
use krb5::messages::error_code;

/// Returns an I/O error's text without Rust's ` (os error N)` suffix, as
/// strerror(3) prints it.
pub fn os_error_text(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error ") {
        Some(position) => text[..position].to_string(),
        None => text,
    }
}

/// Describes a credential cache failure.
pub fn ccache_error_text(error: &CcacheError) -> String {
    match error {
        CcacheError::NotFound { name } => match name.strip_prefix("FILE:") {
            Some(path) => format!("No credentials cache found (filename: {path})"),
            None => format!("No credentials cache found (ticket cache {name})"),
        },
        CcacheError::Io { name, source } => {
            format!("{} (ticket cache {name})", os_error_text(source))
        }
        other => other.to_string(),
    }
}

/// How kinit authenticated, which decides what a pre-authentication
/// failure means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authentication {
    Password,
    Keytab,
}

/// Describes a failed AS exchange for `client`.
///
/// As in MIT's kinit, a failure after a password was given (the KDC's
/// PREAUTH_FAILED, or a reply the password's key cannot decrypt) reads
/// `Password incorrect`; the KDC's error follows in brackets.
pub fn initial_credentials_error_text(
    error: &KdcError,
    client: &str,
    authentication: Authentication,
) -> String {
    let password = authentication == Authentication::Password;
    match error {
        KdcError::Kdc { code, message, .. }
            if *code == error_code::KDC_ERR_PREAUTH_FAILED && password =>
        {
            format!("Password incorrect (KDC error {code}: {message})")
        }
        KdcError::Crypto {
            source: CryptoError::IntegrityCheckFailed,
            ..
        } if password => {
            "Password incorrect (the KDC reply does not decrypt with the key from this password)"
                .to_string()
        }
        KdcError::Kdc { code, message, .. } if *code == error_code::KDC_ERR_PREAUTH_FAILED => {
            format!("{message} (KDC error {code}): the keytab's key for {client} does not match the KDC's")
        }
        KdcError::Kdc { code, .. } if *code == error_code::KDC_ERR_C_PRINCIPAL_UNKNOWN => {
            format!("Client '{client}' not found in Kerberos database")
        }
        other => other.to_string(),
    }
}

/// Describes a failed TGS exchange for `service`.
pub fn service_credentials_error_text(error: &KdcError, service: &str) -> String {
    match error {
        KdcError::Kdc { code, .. } if *code == error_code::KDC_ERR_S_PRINCIPAL_UNKNOWN => {
            format!("Server {service} not found in Kerberos database")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kdc_error(code: i32) -> KdcError {
        KdcError::Kdc {
            code,
            name: error_code::name(code),
            message: error_code::message(code),
            principal: "alice@EXAMPLE.TEST".to_string(),
            e_text: None,
        }
    }

    #[test]
    fn ccache_not_found_like_mit() {
        let error = CcacheError::NotFound {
            name: "FILE:/tmp/krb5cc_1000".to_string(),
        };
        assert_eq!(
            ccache_error_text(&error),
            "No credentials cache found (filename: /tmp/krb5cc_1000)"
        );
        let error = CcacheError::NotFound {
            name: "DIR::/run/user/1000/krb5cc/tkt".to_string(),
        };
        assert_eq!(
            ccache_error_text(&error),
            "No credentials cache found (ticket cache DIR::/run/user/1000/krb5cc/tkt)"
        );
    }

    #[test]
    fn os_error_text_drops_code() {
        let error = io::Error::from_raw_os_error(13);
        assert_eq!(os_error_text(&error), "Permission denied");
    }

    #[test]
    fn preauth_failure_texts() {
        let error = kdc_error(error_code::KDC_ERR_PREAUTH_FAILED);
        assert_eq!(
            initial_credentials_error_text(&error, "alice@EXAMPLE.TEST", Authentication::Password),
            "Password incorrect (KDC error 24: Preauthentication failed)"
        );
        assert_eq!(
            initial_credentials_error_text(&error, "nfs/h@EXAMPLE.TEST", Authentication::Keytab),
            "Preauthentication failed (KDC error 24): the keytab's key for nfs/h@EXAMPLE.TEST does not match the KDC's"
        );
    }

    #[test]
    fn unknown_principal_texts() {
        let error = kdc_error(error_code::KDC_ERR_C_PRINCIPAL_UNKNOWN);
        assert_eq!(
            initial_credentials_error_text(&error, "nobody@EXAMPLE.TEST", Authentication::Password),
            "Client 'nobody@EXAMPLE.TEST' not found in Kerberos database"
        );
        let error = kdc_error(error_code::KDC_ERR_S_PRINCIPAL_UNKNOWN);
        assert_eq!(
            service_credentials_error_text(&error, "nfs/x@EXAMPLE.TEST"),
            "Server nfs/x@EXAMPLE.TEST not found in Kerberos database"
        );
    }
}
