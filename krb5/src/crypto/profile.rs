//! The table of enctype profiles (RFC 3961 §3): one entry per enctype with
//! its sizes, checksum type and operations. Everything outside this module
//! looks up the table instead of branching on enctype numbers.

use zeroize::Zeroizing;

use super::derived::DerivedKeys;
use super::CryptoError;
use crate::iana::{cksumtype, enctype};

/// The operations an enctype profile defines (RFC 3961 §3).
///
/// Callers check the key length against [`Profile::key_length`] and the
/// confounder length against [`Profile::confounder_length`] before calling.
/// `derived` caches the keys derived from `key` for each key usage.
pub(crate) trait EnctypeOps: Sync {
    /// Turns `seed_length` random bytes into a protocol key.
    fn random_to_key(&self, seed: &[u8]) -> Zeroizing<Vec<u8>>;

    /// Derives a key from a password, a salt and checked s2kparams.
    fn string_to_key(
        &self,
        password: &[u8],
        salt: &[u8],
        params: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError>;

    fn encrypt(
        &self,
        key: &[u8],
        derived: &DerivedKeys,
        usage: u32,
        confounder: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError>;

    fn decrypt(
        &self,
        key: &[u8],
        derived: &DerivedKeys,
        usage: u32,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CryptoError>;

    /// Computes the enctype's mandatory keyed checksum.
    fn checksum(
        &self,
        key: &[u8],
        derived: &DerivedKeys,
        usage: u32,
        data: &[u8],
    ) -> Result<Vec<u8>, CryptoError>;

    fn prf(&self, key: &[u8], input: &[u8]) -> Result<Vec<u8>, CryptoError>;
}

/// An enctype profile: the sizes and operations of one encryption type.
pub struct Profile {
    pub enctype: i32,
    /// MIT krb5's canonical name, as `klist -e` prints it.
    pub name: &'static str,
    /// Length of the protocol key in bytes.
    pub key_length: usize,
    /// Length of the random-to-key input in bytes.
    pub seed_length: usize,
    /// Length of the random confounder put before the plaintext.
    pub confounder_length: usize,
    /// The confounder and plaintext are padded with zeros to a multiple of
    /// this many bytes (1 means no padding).
    pub padding: usize,
    /// Length of the integrity tag carried with the ciphertext.
    pub mac_length: usize,
    /// The mandatory checksum type of the enctype (RFC 3961 §4).
    pub cksumtype: i32,
    pub checksum_length: usize,
    /// Length of the pseudo-random function output.
    pub prf_length: usize,
    /// The string-to-key parameters used when the KDC sends none.
    pub default_s2kparams: &'static [u8],
    /// Deprecated enctypes (des3-cbc-sha1, rc4-hmac), usable only when the
    /// configuration allows weak crypto.
    pub weak: bool,
    pub(crate) ops: &'static dyn EnctypeOps,
}

impl Profile {
    /// Returns the length of the ciphertext that encrypting `plaintext_len`
    /// bytes produces.
    pub fn ciphertext_length(&self, plaintext_len: usize) -> usize {
        let padded = (self.confounder_length + plaintext_len).div_ceil(self.padding) * self.padding;
        padded + self.mac_length
    }
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("enctype", &self.enctype)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// RFC 3962 and RFC 6803 default: 4096 iterations for AES-SHA1, 32768 for
/// the RFC 8009 and Camellia enctypes, as four big-endian bytes.
const ITERATIONS_4096: &[u8] = &[0, 0, 0x10, 0];
const ITERATIONS_32768: &[u8] = &[0, 0, 0x80, 0];

static STRONG: [Profile; 6] = [
    Profile {
        enctype: enctype::AES256_CTS_HMAC_SHA1_96,
        name: "aes256-cts-hmac-sha1-96",
        key_length: 32,
        seed_length: 32,
        confounder_length: 16,
        padding: 1,
        mac_length: 12,
        cksumtype: cksumtype::HMAC_SHA1_96_AES256,
        checksum_length: 12,
        prf_length: 16,
        default_s2kparams: ITERATIONS_4096,
        weak: false,
        ops: &super::rfc3962::AES256_CTS_HMAC_SHA1_96,
    },
    Profile {
        enctype: enctype::AES128_CTS_HMAC_SHA1_96,
        name: "aes128-cts-hmac-sha1-96",
        key_length: 16,
        seed_length: 16,
        confounder_length: 16,
        padding: 1,
        mac_length: 12,
        cksumtype: cksumtype::HMAC_SHA1_96_AES128,
        checksum_length: 12,
        prf_length: 16,
        default_s2kparams: ITERATIONS_4096,
        weak: false,
        ops: &super::rfc3962::AES128_CTS_HMAC_SHA1_96,
    },
    Profile {
        enctype: enctype::AES256_CTS_HMAC_SHA384_192,
        name: "aes256-cts-hmac-sha384-192",
        key_length: 32,
        seed_length: 32,
        confounder_length: 16,
        padding: 1,
        mac_length: 24,
        cksumtype: cksumtype::HMAC_SHA384_192_AES256,
        checksum_length: 24,
        prf_length: 48,
        default_s2kparams: ITERATIONS_32768,
        weak: false,
        ops: &super::rfc8009::AES256_CTS_HMAC_SHA384_192,
    },
    Profile {
        enctype: enctype::AES128_CTS_HMAC_SHA256_128,
        name: "aes128-cts-hmac-sha256-128",
        key_length: 16,
        seed_length: 16,
        confounder_length: 16,
        padding: 1,
        mac_length: 16,
        cksumtype: cksumtype::HMAC_SHA256_128_AES128,
        checksum_length: 16,
        prf_length: 32,
        default_s2kparams: ITERATIONS_32768,
        weak: false,
        ops: &super::rfc8009::AES128_CTS_HMAC_SHA256_128,
    },
    Profile {
        enctype: enctype::CAMELLIA256_CTS_CMAC,
        name: "camellia256-cts-cmac",
        key_length: 32,
        seed_length: 32,
        confounder_length: 16,
        padding: 1,
        mac_length: 16,
        cksumtype: cksumtype::CMAC_CAMELLIA256,
        checksum_length: 16,
        prf_length: 16,
        default_s2kparams: ITERATIONS_32768,
        weak: false,
        ops: &super::rfc6803::CAMELLIA256_CTS_CMAC,
    },
    Profile {
        enctype: enctype::CAMELLIA128_CTS_CMAC,
        name: "camellia128-cts-cmac",
        key_length: 16,
        seed_length: 16,
        confounder_length: 16,
        padding: 1,
        mac_length: 16,
        cksumtype: cksumtype::CMAC_CAMELLIA128,
        checksum_length: 16,
        prf_length: 16,
        default_s2kparams: ITERATIONS_32768,
        weak: false,
        ops: &super::rfc6803::CAMELLIA128_CTS_CMAC,
    },
];

#[cfg(feature = "legacy-enctypes")]
static LEGACY: [Profile; 2] = [
    Profile {
        enctype: enctype::DES3_CBC_SHA1,
        name: "des3-cbc-sha1",
        key_length: 24,
        seed_length: 21,
        confounder_length: 8,
        padding: 8,
        mac_length: 20,
        cksumtype: cksumtype::HMAC_SHA1_DES3_KD,
        checksum_length: 20,
        prf_length: 16,
        default_s2kparams: &[],
        weak: true,
        ops: &super::des3::DES3_CBC_SHA1,
    },
    Profile {
        enctype: enctype::RC4_HMAC,
        name: "arcfour-hmac",
        key_length: 16,
        seed_length: 16,
        confounder_length: 8,
        padding: 1,
        mac_length: 16,
        cksumtype: cksumtype::HMAC_MD5,
        checksum_length: 16,
        prf_length: 20,
        default_s2kparams: &[],
        weak: true,
        ops: &super::rfc4757::RC4_HMAC,
    },
];

#[cfg(not(feature = "legacy-enctypes"))]
static LEGACY: [Profile; 0] = [];

/// Returns every compiled-in profile, strongest first.
pub fn all() -> impl Iterator<Item = &'static Profile> {
    STRONG.iter().chain(LEGACY.iter())
}

/// Returns the profile of `enctype`, if it is compiled in.
pub fn find(enctype: i32) -> Option<&'static Profile> {
    all().find(|p| p.enctype == enctype)
}

/// Returns the profile whose mandatory checksum type is `cksumtype`.
pub fn find_by_cksumtype(cksumtype: i32) -> Option<&'static Profile> {
    all().find(|p| p.cksumtype == cksumtype)
}
