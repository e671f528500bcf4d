//! Numbers assigned by RFC 3961, RFC 4120 and the IANA Kerberos parameters
//! registry, in one place with their registered names.

/// Encryption types (RFC 3961 §8, RFC 3962, RFC 4757, RFC 6803, RFC 8009).
pub mod enctype {
    pub const DES3_CBC_SHA1: i32 = 16;
    pub const AES128_CTS_HMAC_SHA1_96: i32 = 17;
    pub const AES256_CTS_HMAC_SHA1_96: i32 = 18;
    pub const AES128_CTS_HMAC_SHA256_128: i32 = 19;
    pub const AES256_CTS_HMAC_SHA384_192: i32 = 20;
    pub const RC4_HMAC: i32 = 23;
    pub const CAMELLIA128_CTS_CMAC: i32 = 25;
    pub const CAMELLIA256_CTS_CMAC: i32 = 26;

    /// MIT krb5's names for each enctype, the canonical one first (as `klist -e` prints it).
    pub const NAMES: &[(i32, &[&str])] = &[
        (
            DES3_CBC_SHA1,
            &["des3-cbc-sha1", "des3-hmac-sha1", "des3-cbc-sha1-kd"],
        ),
        (
            AES128_CTS_HMAC_SHA1_96,
            &["aes128-cts-hmac-sha1-96", "aes128-cts", "aes128-sha1"],
        ),
        (
            AES256_CTS_HMAC_SHA1_96,
            &["aes256-cts-hmac-sha1-96", "aes256-cts", "aes256-sha1"],
        ),
        (
            AES128_CTS_HMAC_SHA256_128,
            &["aes128-cts-hmac-sha256-128", "aes128-sha2"],
        ),
        (
            AES256_CTS_HMAC_SHA384_192,
            &["aes256-cts-hmac-sha384-192", "aes256-sha2"],
        ),
        (RC4_HMAC, &["arcfour-hmac", "rc4-hmac", "arcfour-hmac-md5"]),
        (
            CAMELLIA128_CTS_CMAC,
            &["camellia128-cts-cmac", "camellia128-cts"],
        ),
        (
            CAMELLIA256_CTS_CMAC,
            &["camellia256-cts-cmac", "camellia256-cts"],
        ),
    ];

    /// Returns MIT's canonical name of `enctype`, if it is one of ours.
    pub fn name(enctype: i32) -> Option<&'static str> {
        NAMES
            .iter()
            .find(|(e, _)| *e == enctype)
            .map(|(_, names)| names[0])
    }

    /// Looks up an enctype by any of MIT's names, ignoring case.
    pub fn from_name(name: &str) -> Option<i32> {
        NAMES
            .iter()
            .find(|(_, names)| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .map(|(e, _)| *e)
    }
}

/// Checksum types (RFC 3961 §8, RFC 3962, RFC 4757, RFC 6803, RFC 8009).
pub mod cksumtype {
    pub const HMAC_SHA1_DES3_KD: i32 = 12;
    pub const HMAC_SHA1_96_AES128: i32 = 15;
    pub const HMAC_SHA1_96_AES256: i32 = 16;
    pub const CMAC_CAMELLIA128: i32 = 17;
    pub const CMAC_CAMELLIA256: i32 = 18;
    pub const HMAC_SHA256_128_AES128: i32 = 19;
    pub const HMAC_SHA384_192_AES256: i32 = 20;
    /// The GSS-API krb5 authenticator checksum (RFC 4121 §4.1.1).
    pub const GSSAPI: i32 = 0x8003;
    pub const HMAC_MD5: i32 = -138;
}

/// Key usage numbers (RFC 4120 §7.5.1, RFC 4121 §2).
pub mod key_usage {
    pub const AS_REQ_PA_ENC_TIMESTAMP: u32 = 1;
    pub const KDC_REP_TICKET: u32 = 2;
    pub const AS_REP_ENC_PART: u32 = 3;
    pub const TGS_REQ_AUTH_DATA_SESSION_KEY: u32 = 4;
    pub const TGS_REQ_AUTH_DATA_SUBKEY: u32 = 5;
    pub const TGS_REQ_AUTH_CKSUM: u32 = 6;
    pub const TGS_REQ_AUTH: u32 = 7;
    pub const TGS_REP_ENC_PART_SESSION_KEY: u32 = 8;
    pub const TGS_REP_ENC_PART_SUBKEY: u32 = 9;
    pub const AP_REQ_AUTH_CKSUM: u32 = 10;
    pub const AP_REQ_AUTH: u32 = 11;
    pub const AP_REP_ENC_PART: u32 = 12;
    pub const KRB_PRIV_ENC_PART: u32 = 13;
    pub const KRB_CRED_ENC_PART: u32 = 14;
    pub const KRB_SAFE_CKSUM: u32 = 15;
    pub const GSS_ACCEPTOR_SEAL: u32 = 22;
    pub const GSS_ACCEPTOR_SIGN: u32 = 23;
    pub const GSS_INITIATOR_SEAL: u32 = 24;
    pub const GSS_INITIATOR_SIGN: u32 = 25;
}

/// Principal name types (RFC 4120 §6.2).
pub mod name_type {
    pub const UNKNOWN: i32 = 0;
    pub const PRINCIPAL: i32 = 1;
    pub const SRV_INST: i32 = 2;
    pub const SRV_HST: i32 = 3;
    pub const SRV_XHST: i32 = 4;
    pub const UID: i32 = 5;
    pub const ENTERPRISE: i32 = 10;
}

/// Pre-authentication data types (RFC 4120 §7.5.2, RFC 6113, MS-KILE).
pub mod pa_type {
    pub const TGS_REQ: i32 = 1;
    pub const ENC_TIMESTAMP: i32 = 2;
    pub const PW_SALT: i32 = 3;
    pub const ETYPE_INFO: i32 = 11;
    pub const ETYPE_INFO2: i32 = 19;
    pub const PAC_REQUEST: i32 = 128;
    pub const FX_FAST: i32 = 136;
    pub const ENCRYPTED_CHALLENGE: i32 = 138;
    pub const REQ_ENC_PA_REP: i32 = 149;
}

/// Message types (RFC 4120 §5.10 application tags).
pub mod msg_type {
    pub const AS_REQ: i32 = 10;
    pub const AS_REP: i32 = 11;
    pub const TGS_REQ: i32 = 12;
    pub const TGS_REP: i32 = 13;
    pub const AP_REQ: i32 = 14;
    pub const AP_REP: i32 = 15;
    pub const KRB_CRED: i32 = 22;
    pub const KRB_ERROR: i32 = 30;
}
