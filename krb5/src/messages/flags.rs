//! KerberosFlags (RFC 4120 §5.2.8) as 32-bit words, where RFC bit 0 is the
//! most significant bit, the same layout as ticket flags in
//! [`crate::credentials::ticket_flags`].

use rasn::types::BitString;
use rasn_kerberos::KerberosFlags;

/// KDCOptions bits (RFC 4120 §5.4.1, RFC 6806 §11 for canonicalize).
pub mod kdc_options {
    pub const FORWARDABLE: u32 = 0x4000_0000;
    pub const FORWARDED: u32 = 0x2000_0000;
    pub const PROXIABLE: u32 = 0x1000_0000;
    pub const PROXY: u32 = 0x0800_0000;
    pub const ALLOW_POSTDATE: u32 = 0x0400_0000;
    pub const POSTDATED: u32 = 0x0200_0000;
    pub const RENEWABLE: u32 = 0x0080_0000;
    pub const CANONICALIZE: u32 = 0x0001_0000;
    pub const DISABLE_TRANSITED_CHECK: u32 = 0x0000_0020;
    pub const RENEWABLE_OK: u32 = 0x0000_0010;
    pub const ENC_TKT_IN_SKEY: u32 = 0x0000_0008;
    pub const RENEW: u32 = 0x0000_0002;
    pub const VALIDATE: u32 = 0x0000_0001;
}

/// APOptions bits (RFC 4120 §5.5.1).
pub mod ap_options {
    pub const USE_SESSION_KEY: u32 = 0x4000_0000;
    pub const MUTUAL_REQUIRED: u32 = 0x2000_0000;
}

/// Builds a 32-bit KerberosFlags value from a flags word.
pub fn from_u32(word: u32) -> KerberosFlags {
    BitString::from_slice(&word.to_be_bytes())
}

/// Returns the first 32 bits of a KerberosFlags value as a word. Missing
/// bits count as clear, and bits past 32 are ignored, as MIT krb5 does.
pub fn to_u32(flags: &KerberosFlags) -> u32 {
    flags
        .iter()
        .take(32)
        .enumerate()
        .fold(0u32, |word, (bit, set)| {
            if *set {
                word | (0x8000_0000 >> bit)
            } else {
                word
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let word = kdc_options::FORWARDABLE | kdc_options::CANONICALIZE | kdc_options::RENEW;
        assert_eq!(to_u32(&from_u32(word)), word);
    }

    #[test]
    fn encodes_32_bits() {
        let der = super::super::encode(
            &from_u32(kdc_options::FORWARDABLE | kdc_options::RENEWABLE_OK),
            "KDCOptions",
        )
        .unwrap();
        assert_eq!(der, [0x03, 0x05, 0x00, 0x40, 0x00, 0x00, 0x10]);
    }

    #[test]
    fn short_flags_read_as_clear() {
        let flags = BitString::from_slice(&[0x40]);
        assert_eq!(to_u32(&flags), 0x4000_0000);
    }
}
