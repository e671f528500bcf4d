//! The RFC 3961 framework: keys, and a table of enctype profiles that the
//! rest of the crate looks up instead of branching on enctype numbers.
//!
//! One module per defining document:
//! `nfold` and `rfc3961` (n-fold, DK/DR, the simplified profile),
//! `rfc3962` (AES with HMAC-SHA1), `rfc8009` (AES with HMAC-SHA2),
//! `rfc6803` (Camellia with CMAC), and behind the `legacy-enctypes` feature
//! `des3` (RFC 3961 §6.3) and `rfc4757` (RC4-HMAC).

use std::fmt;
use std::sync::Arc;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::iana::enctype;
use crate::principal::Principal;

mod derived;
#[cfg(feature = "legacy-enctypes")]
mod des3;
mod nfold;
pub mod profile;
mod rfc3961;
mod rfc3962;
#[cfg(feature = "legacy-enctypes")]
mod rfc4757;
mod rfc6803;
mod rfc8009;

#[cfg(feature = "legacy-enctypes")]
pub(crate) use des3::{
    raw_cbc_decrypt as des3_raw_cbc_decrypt, raw_cbc_encrypt as des3_raw_cbc_encrypt,
};
pub use nfold::nfold;
pub use profile::Profile;
#[cfg(feature = "legacy-enctypes")]
pub(crate) use rfc4757::gss_rc4;

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
    #[error("ciphertext length {len} is not valid for enctype {enctype}: the encrypted part must be a multiple of {block} bytes")]
    CiphertextLength {
        enctype: i32,
        len: usize,
        block: usize,
    },
    #[error("decrypt integrity check failed (wrong key, or the data was altered)")]
    IntegrityCheckFailed,
    #[error("checksum verification failed")]
    BadChecksum,
    #[error("checksum type {cksumtype} cannot be used with a key of enctype {enctype}; expected checksum type {expected}")]
    ChecksumTypeMismatch {
        cksumtype: i32,
        enctype: i32,
        expected: i32,
    },
    #[error("invalid string-to-key parameters for enctype {enctype}: {reason}")]
    S2kParams { enctype: i32, reason: String },
    #[error("invalid password for enctype {enctype}: {reason}")]
    InvalidPassword { enctype: i32, reason: String },
    #[error("wrong confounder length for enctype {enctype}: {actual} bytes, expected {expected}")]
    ConfounderLength {
        enctype: i32,
        actual: usize,
        expected: usize,
    },
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

/// A Kerberos key: an enctype and its key bytes, zeroed on drop.
///
/// `Debug` prints the enctype and length only, never the bytes. The keys
/// derived for each key usage are cached with the key and shared by its
/// clones; equality compares the enctype and bytes only.
#[derive(Clone)]
pub struct Key {
    enctype: i32,
    bytes: Zeroizing<Vec<u8>>,
    derived: Arc<derived::DerivedKeys>,
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.enctype == other.enctype && self.bytes == other.bytes
    }
}

impl Eq for Key {}

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
            derived: Arc::default(),
        }
    }

    /// Builds a key of a supported enctype, checking the length of `bytes`.
    pub fn new(enctype: i32, bytes: Vec<u8>) -> Result<Self, CryptoError> {
        let key = Self::from_raw(enctype, bytes);
        key.profile()?;
        Ok(key)
    }

    /// Generates a random key with the system random number generator.
    pub fn random(enctype: i32) -> Result<Self, CryptoError> {
        let profile = find_profile(enctype)?;
        let mut seed = Zeroizing::new(vec![0u8; profile.seed_length]);
        fill_random(&mut seed)?;
        Ok(Self::from_zeroizing(
            enctype,
            profile.ops.random_to_key(&seed),
        ))
    }

    /// Derives a key from a password (string-to-key, RFC 3961 §3).
    ///
    /// `s2kparams` is the value from ETYPE-INFO2, or `None` for the enctype's
    /// default. For the PBKDF2 enctypes it is a 4-byte big-endian iteration
    /// count. As in MIT krb5 1.20, counts below the enctype's default (4096
    /// for AES-SHA1, 32768 for AES-SHA2 and Camellia) are rejected, because a
    /// forged KDC reply could otherwise make password guessing cheap. Counts
    /// of 0 (which RFC 3962 defines as 2^32) and of 2^24 or more are rejected
    /// too. des3-cbc-sha1 and rc4-hmac take no parameters, and rc4-hmac
    /// ignores the salt.
    pub fn from_password(
        enctype: i32,
        password: &[u8],
        salt: &[u8],
        s2kparams: Option<&[u8]>,
    ) -> Result<Self, CryptoError> {
        let profile = find_profile(enctype)?;
        let params = s2kparams.unwrap_or(profile.default_s2kparams);
        rfc3961::check_s2kparams(profile, params)?;
        let bytes = profile.ops.string_to_key(password, salt, params)?;
        Ok(Self::from_zeroizing(enctype, bytes))
    }

    fn from_zeroizing(enctype: i32, mut bytes: Zeroizing<Vec<u8>>) -> Self {
        Self {
            enctype,
            bytes: Zeroizing::new(std::mem::take(&mut *bytes)),
            derived: Arc::default(),
        }
    }

    pub fn enctype(&self) -> i32 {
        self.enctype
    }

    /// The raw key bytes, for writing keytabs, caches and lucid contexts.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Returns the profile of this key's enctype, checking the key length.
    pub fn profile(&self) -> Result<&'static Profile, CryptoError> {
        let profile = find_profile(self.enctype)?;
        if self.bytes.len() != profile.key_length {
            return Err(CryptoError::KeyLength {
                enctype: self.enctype,
                actual: self.bytes.len(),
                expected: profile.key_length,
            });
        }
        Ok(profile)
    }

    /// Encrypts `plaintext` for key usage `usage` with a random confounder.
    pub fn encrypt(&self, usage: u32, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let profile = self.profile()?;
        let mut confounder = [0u8; 16];
        let confounder = confounder.get_mut(..profile.confounder_length).ok_or(
            CryptoError::ConfounderLength {
                enctype: self.enctype,
                actual: 16,
                expected: profile.confounder_length,
            },
        )?;
        fill_random(confounder)?;
        profile
            .ops
            .encrypt(&self.bytes, &self.derived, usage, confounder, plaintext)
    }

    /// Encrypts with the given confounder instead of a random one, so that
    /// published test vectors can be reproduced. Never use it for messages.
    #[doc(hidden)]
    pub fn encrypt_with_confounder(
        &self,
        usage: u32,
        confounder: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let profile = self.profile()?;
        if confounder.len() != profile.confounder_length {
            return Err(CryptoError::ConfounderLength {
                enctype: self.enctype,
                actual: confounder.len(),
                expected: profile.confounder_length,
            });
        }
        profile
            .ops
            .encrypt(&self.bytes, &self.derived, usage, confounder, plaintext)
    }

    /// Decrypts and checks the integrity of `ciphertext` made for key usage
    /// `usage`. Returns [`CryptoError::IntegrityCheckFailed`] if the integrity
    /// tag does not match. For des3-cbc-sha1 the result keeps the zero
    /// padding, which the enclosed DER encoding delimits.
    pub fn decrypt(&self, usage: u32, ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let profile = self.profile()?;
        profile
            .ops
            .decrypt(&self.bytes, &self.derived, usage, ciphertext)
    }

    /// Computes the enctype's mandatory keyed checksum of `data` for key usage `usage`.
    pub fn checksum(&self, usage: u32, data: &[u8]) -> Result<Checksum, CryptoError> {
        let profile = self.profile()?;
        let value = profile
            .ops
            .checksum(&self.bytes, &self.derived, usage, data)?;
        Ok(Checksum {
            cksumtype: profile.cksumtype,
            value,
        })
    }

    /// Verifies a keyed checksum in constant time. The checksum type must be
    /// the mandatory checksum type of this key's enctype.
    pub fn verify_checksum(
        &self,
        usage: u32,
        data: &[u8],
        checksum: &Checksum,
    ) -> Result<(), CryptoError> {
        let profile = self.profile()?;
        if checksum.cksumtype != profile.cksumtype {
            return Err(CryptoError::ChecksumTypeMismatch {
                cksumtype: checksum.cksumtype,
                enctype: self.enctype,
                expected: profile.cksumtype,
            });
        }
        let expected = profile
            .ops
            .checksum(&self.bytes, &self.derived, usage, data)?;
        if bool::from(expected.ct_eq(&checksum.value)) {
            Ok(())
        } else {
            Err(CryptoError::BadChecksum)
        }
    }

    /// Computes the enctype's pseudo-random function of `input` (RFC 3961 §3).
    pub fn prf(&self, input: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let profile = self.profile()?;
        profile.ops.prf(&self.bytes, input)
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

/// Returns true for deprecated enctypes: single DES (1, 2, 3), des3-cbc-sha1
/// (16), rc4-hmac (23) and rc4-hmac-exp (24). MIT krb5 1.20 calls only
/// single DES and rc4-hmac-exp weak and des3 and rc4-hmac deprecated; this
/// crate treats all of them as needing `allow_weak_crypto`.
pub fn is_weak(enctype: i32) -> bool {
    matches!(enctype, 1..=3 | 16 | 23 | 24)
}

/// Returns true if `enctype` is compiled into this build.
pub fn is_supported(enctype: i32) -> bool {
    profile::find(enctype).is_some()
}

/// Returns the protocol key length of `enctype` in bytes.
pub fn key_length(enctype: i32) -> Option<usize> {
    profile::find(enctype).map(|p| p.key_length)
}

/// Returns the length of checksums of type `cksumtype` in bytes.
pub fn checksum_length(cksumtype: i32) -> Option<usize> {
    profile::find_by_cksumtype(cksumtype).map(|p| p.checksum_length)
}

/// Returns the default salt of a principal (RFC 4120 §4): the realm
/// followed by the name components, with no separators.
pub fn default_salt(principal: &Principal) -> Vec<u8> {
    let mut salt = principal.realm.as_bytes().to_vec();
    for component in &principal.components {
        salt.extend_from_slice(component.as_bytes());
    }
    salt
}

fn find_profile(enctype: i32) -> Result<&'static Profile, CryptoError> {
    profile::find(enctype).ok_or(CryptoError::UnsupportedEnctype(enctype))
}

pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|e| CryptoError::Random(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_salt_is_realm_then_components() {
        let principal = Principal::new(vec!["nfs", "server.example.com"], "EXAMPLE.COM");
        assert_eq!(
            default_salt(&principal),
            b"EXAMPLE.COMnfsserver.example.com"
        );
    }

    #[test]
    fn key_new_checks_length() {
        assert!(Key::new(18, vec![0; 32]).is_ok());
        assert_eq!(
            Key::new(18, vec![0; 16]),
            Err(CryptoError::KeyLength {
                enctype: 18,
                actual: 16,
                expected: 32
            })
        );
        assert_eq!(
            Key::new(1, vec![0; 8]),
            Err(CryptoError::UnsupportedEnctype(1))
        );
    }

    #[test]
    fn raw_key_of_wrong_length_is_rejected() {
        let key = Key::from_raw(17, vec![0; 5]);
        assert!(matches!(
            key.encrypt(1, b"x"),
            Err(CryptoError::KeyLength { .. })
        ));
        assert!(matches!(
            key.decrypt(1, &[0; 40]),
            Err(CryptoError::KeyLength { .. })
        ));
        assert!(matches!(
            key.checksum(1, b"x"),
            Err(CryptoError::KeyLength { .. })
        ));
        assert!(matches!(key.prf(b"x"), Err(CryptoError::KeyLength { .. })));
    }

    #[test]
    fn decrypt_garbage_fails_without_panic() {
        for profile in profile::all() {
            let key = Key::random(profile.enctype).unwrap();
            for len in 0..100 {
                let mut garbage = vec![0u8; len];
                fill_random(&mut garbage).unwrap();
                assert!(
                    key.decrypt(7, &garbage).is_err(),
                    "enctype {}, length {len}",
                    profile.enctype
                );
            }
        }
    }

    #[test]
    fn ciphertext_length_matches_encrypt() {
        for profile in profile::all() {
            let key = Key::random(profile.enctype).unwrap();
            for len in [0, 1, 7, 8, 15, 16, 17, 100] {
                let ciphertext = key.encrypt(1, &vec![1; len]).unwrap();
                assert_eq!(
                    ciphertext.len(),
                    profile.ciphertext_length(len),
                    "enctype {}, length {len}",
                    profile.enctype
                );
            }
        }
    }

    #[test]
    fn encrypt_with_confounder_checks_length() {
        let key = Key::random(17).unwrap();
        assert!(matches!(
            key.encrypt_with_confounder(1, &[0; 8], b"x"),
            Err(CryptoError::ConfounderLength { .. })
        ));
    }

    #[test]
    fn weak_and_supported_enctypes() {
        assert!(is_weak(16));
        assert!(is_weak(23));
        assert!(!is_weak(18));
        assert!(is_supported(18));
        assert!(is_supported(25));
        assert!(!is_supported(1));
        assert_eq!(is_supported(16), cfg!(feature = "legacy-enctypes"));
        assert_eq!(key_length(20), Some(32));
        assert_eq!(checksum_length(16), Some(12));
        assert_eq!(checksum_length(20), Some(24));
        assert_eq!(checksum_length(0x8003), None);
    }

    #[test]
    fn key_debug_hides_bytes() {
        let key = Key::new(17, vec![0xab; 16]).unwrap();
        let text = format!("{key:?}");
        assert!(!text.contains("171"), "{text}");
        assert!(!text.to_lowercase().contains("ab, "), "{text}");
    }
}
