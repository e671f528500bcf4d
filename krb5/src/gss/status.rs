//! GSS-API status codes with RFC 2744 §3.9.1 numeric values, and krb5 minor
//! status codes in MIT's numbering, because rpc.svcgssd's init-channel reply
//! reports both as numbers.

use std::fmt;

/// Routine error codes, already shifted into the major status word.
pub mod major {
    pub const COMPLETE: u32 = 0;
    pub const CONTINUE_NEEDED: u32 = 1;
    pub const BAD_MECH: u32 = 1 << 16;
    pub const BAD_NAME: u32 = 2 << 16;
    pub const BAD_NAMETYPE: u32 = 3 << 16;
    pub const BAD_BINDINGS: u32 = 4 << 16;
    pub const BAD_STATUS: u32 = 5 << 16;
    pub const BAD_SIG: u32 = 6 << 16;
    pub const NO_CRED: u32 = 7 << 16;
    pub const NO_CONTEXT: u32 = 8 << 16;
    pub const DEFECTIVE_TOKEN: u32 = 9 << 16;
    pub const DEFECTIVE_CREDENTIAL: u32 = 10 << 16;
    pub const CREDENTIALS_EXPIRED: u32 = 11 << 16;
    pub const CONTEXT_EXPIRED: u32 = 12 << 16;
    pub const FAILURE: u32 = 13 << 16;
    pub const BAD_QOP: u32 = 14 << 16;
    pub const UNAUTHORIZED: u32 = 15 << 16;
    pub const UNAVAILABLE: u32 = 16 << 16;
    pub const DUPLICATE_ELEMENT: u32 = 17 << 16;
    pub const NAME_NOT_MN: u32 = 18 << 16;

    /// Supplementary status bits, which per-message calls report with
    /// `COMPLETE` when the token itself is valid.
    pub const DUPLICATE_TOKEN: u32 = 1 << 1;
    pub const OLD_TOKEN: u32 = 1 << 2;
    pub const UNSEQ_TOKEN: u32 = 1 << 3;
    pub const GAP_TOKEN: u32 = 1 << 4;

    /// Returns RFC 2744's name for a routine error.
    pub fn name(status: u32) -> &'static str {
        match status & 0x00ff_0000 {
            0 if status & CONTINUE_NEEDED != 0 => "GSS_S_CONTINUE_NEEDED",
            0 => "GSS_S_COMPLETE",
            BAD_MECH => "GSS_S_BAD_MECH",
            BAD_NAME => "GSS_S_BAD_NAME",
            BAD_NAMETYPE => "GSS_S_BAD_NAMETYPE",
            BAD_BINDINGS => "GSS_S_BAD_BINDINGS",
            BAD_STATUS => "GSS_S_BAD_STATUS",
            BAD_SIG => "GSS_S_BAD_SIG",
            NO_CRED => "GSS_S_NO_CRED",
            NO_CONTEXT => "GSS_S_NO_CONTEXT",
            DEFECTIVE_TOKEN => "GSS_S_DEFECTIVE_TOKEN",
            DEFECTIVE_CREDENTIAL => "GSS_S_DEFECTIVE_CREDENTIAL",
            CREDENTIALS_EXPIRED => "GSS_S_CREDENTIALS_EXPIRED",
            CONTEXT_EXPIRED => "GSS_S_CONTEXT_EXPIRED",
            FAILURE => "GSS_S_FAILURE",
            BAD_QOP => "GSS_S_BAD_QOP",
            UNAUTHORIZED => "GSS_S_UNAUTHORIZED",
            UNAVAILABLE => "GSS_S_UNAVAILABLE",
            DUPLICATE_ELEMENT => "GSS_S_DUPLICATE_ELEMENT",
            NAME_NOT_MN => "GSS_S_NAME_NOT_MN",
            _ => "unknown GSS major status",
        }
    }
}

/// The base of MIT's krb5 error table: a Kerberos protocol error code `n`
/// (RFC 4120 §7.5.9) is minor status `ERROR_TABLE_BASE_KRB5 + n`.
pub const ERROR_TABLE_BASE_KRB5: i32 = -1_765_328_384;

/// Minor status codes of MIT's GSS-API krb5 mechanism error table (`k5g`),
/// in the numbering of MIT krb5 1.20's libgssapi_krb5.
pub mod minor {
    /// The base of the `k5g` error table.
    pub const ERROR_TABLE_BASE_K5G: u32 = 39_756_032;
    /// KG_BAD_LENGTH, "Invalid field length in token": MIT's minor status for
    /// a 0x8003 authenticator checksum whose lengths do not fit its value.
    pub const KG_BAD_LENGTH: u32 = ERROR_TABLE_BASE_K5G + 6;
}

/// Minor status codes of MIT's generic GSS-API error table (`ggss`), in the
/// numbering of MIT krb5 1.20.
pub mod generic_minor {
    /// The base of the `ggss` error table, -2045022976 as a signed number.
    pub const ERROR_TABLE_BASE_GGSS: u32 = 2_249_944_320;
    /// G_BAD_DIRECTION: a per-message token claims to come from our own side.
    pub const G_BAD_DIRECTION: u32 = ERROR_TABLE_BASE_GGSS + 13;
}

/// Returns the minor status MIT reports for Kerberos error code `code`, as
/// the unsigned number the init channel carries.
pub const fn krb5_minor(code: i32) -> u32 {
    ERROR_TABLE_BASE_KRB5.wrapping_add(code) as u32
}

/// KRB5_MUTUAL_FAILED, "Mutual authentication failed", code 158 of MIT's
/// krb5 error table: the minor status MIT 1.20's initiator reports for an
/// AP-REP that does not echo its authenticator's time.
pub const KRB5_MUTUAL_FAILED: u32 = krb5_minor(158);

/// A failed GSS call: major and minor status and a message for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GssError {
    pub major: u32,
    pub minor: u32,
    pub message: String,
}

impl GssError {
    pub fn new(major: u32, minor: u32, message: impl Into<String>) -> Self {
        Self {
            major,
            minor,
            message: message.into(),
        }
    }
}

impl fmt::Display for GssError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, minor {}): {}",
            major::name(self.major),
            self.major,
            self.minor,
            self.message
        )
    }
}

impl std::error::Error for GssError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mit_minor_numbers() {
        // KRB5KRB_AP_ERR_BAD_INTEGRITY (31) and KRB5KRB_AP_ERR_SKEW (37) as
        // MIT's error table numbers them.
        assert_eq!(krb5_minor(31) as i32, -1_765_328_353);
        assert_eq!(krb5_minor(37) as i32, -1_765_328_347);
    }

    #[test]
    fn supplementary_bits_are_not_errors() {
        for bit in [
            major::DUPLICATE_TOKEN,
            major::OLD_TOKEN,
            major::UNSEQ_TOKEN,
            major::GAP_TOKEN,
        ] {
            assert_eq!(major::name(bit), "GSS_S_COMPLETE", "bit {bit:#x}");
        }
    }

    #[test]
    fn major_names() {
        assert_eq!(major::name(major::DEFECTIVE_TOKEN), "GSS_S_DEFECTIVE_TOKEN");
        assert_eq!(major::name(major::CONTINUE_NEEDED), "GSS_S_CONTINUE_NEEDED");
    }
}
