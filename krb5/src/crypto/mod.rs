//! The RFC 3961 framework: keys, and a table of enctype profiles that the
//! rest of the crate asks instead of branching on enctype numbers.
//!
//! One module per defining document:
//! `nfold` and `rfc3961` (n-fold, DK/DR, the simplified profile),
//! `rfc3962` (AES with HMAC-SHA1), `rfc8009` (AES with HMAC-SHA2),
//! `rfc6803` (Camellia with CMAC), and behind the `legacy-enctypes` feature
//! `des3` (RFC 3961 §6.3) and `rfc4757` (RC4-HMAC).

use std::fmt;

use zeroize::Zeroizing;

use crate::iana::enctype;

/// Errors from key handling, encryption and checksums.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("unsupported enctype {0}; supported: aes256-cts-hmac-sha1-96 (18), aes128-cts-hmac-sha1-96 (17), aes256-cts-hmac-sha384-192 (20), aes128-cts-hmac-sha256-128 (19), camellia256-cts-cmac (26), camellia128-cts-cmac (25)")]
    UnsupportedEnctype(i32),
    #[error("unsupported checksum type {0}")]
    UnsupportedChecksum(i32),
    #[error("wrong key length for enctype {enctype}: {actual} bytes, expected {expected}")]
    KeyLength {
        enctype: i32,
        actual: usize,
        expected: usize,
    },
    #[error("ciphertext of {len} bytes is too short for enctype {enctype}")]
    CiphertextTooShort { enctype: i32, len: usize },
    #[error("decrypt integrity check failed (wrong key, or the data was altered)")]
    IntegrityCheckFailed,
    #[error("checksum verification failed")]
    BadChecksum,
    #[error("invalid string-to-key parameters for enctype {enctype}: {reason}")]
    S2kParams { enctype: i32, reason: String },
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

/// A Kerberos key: an enctype and its key bytes, zeroed on drop.
///
/// `Debug` prints the enctype and length only, never the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    enctype: i32,
    bytes: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("enctype", &self.enctype)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl Key {
    /// Wraps raw key bytes without checking them against an enctype profile.
    ///
    /// Keytabs and caches may hold keys of enctypes this crate cannot use;
    /// they are kept as read so that they can be written back unchanged.
    pub fn from_raw(enctype: i32, bytes: Vec<u8>) -> Self {
        Self {
            enctype,
            bytes: Zeroizing::new(bytes),
        }
    }

    pub fn enctype(&self) -> i32 {
        self.enctype
    }

    /// The raw key bytes, for writing keytabs, caches and lucid contexts.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A checksum as carried in messages: its type and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub cksumtype: i32,
    pub value: Vec<u8>,
}

/// Returns true if `enctype` is one of the strong enctypes this crate implements.
pub fn is_strong(e: i32) -> bool {
    matches!(
        e,
        enctype::AES128_CTS_HMAC_SHA1_96
            | enctype::AES256_CTS_HMAC_SHA1_96
            | enctype::AES128_CTS_HMAC_SHA256_128
            | enctype::AES256_CTS_HMAC_SHA384_192
            | enctype::CAMELLIA128_CTS_CMAC
            | enctype::CAMELLIA256_CTS_CMAC
    )
}
