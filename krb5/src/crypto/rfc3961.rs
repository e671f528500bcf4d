//! The RFC 3961 framework: key derivation (DR and DK, §5.1), the
//! simplified profile (§5.3) and the checks on string-to-key parameters.
//!
//! The simplified profile builds an enctype from a block cipher mode and
//! HMAC-SHA1: aes128/aes256-cts-hmac-sha1-96 (RFC 3962) and des3-cbc-sha1
//! (§6.3) use it. Three keys are derived from the base key for each key
//! usage: Kc (usage | 0x99) for checksums, Ke (usage | 0xAA) for
//! encryption and Ki (usage | 0x55) for the integrity tag.

use hmac::{Hmac, KeyInit, Mac};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::derived::DerivedKeys;
use super::nfold::nfold;
use super::profile::{EnctypeOps, Profile};
use super::CryptoError;

/// Key-derivation constant suffix for checksum keys (Kc).
pub(crate) const KC: u8 = 0x99;
/// Key-derivation constant suffix for encryption keys (Ke).
pub(crate) const KE: u8 = 0xAA;
/// Key-derivation constant suffix for integrity keys (Ki).
pub(crate) const KI: u8 = 0x55;

/// Returns the 5-byte derivation constant: the key usage as a 32-bit
/// big-endian number followed by the key kind.
pub(crate) fn usage_constant(usage: u32, kind: u8) -> [u8; 5] {
    let usage = usage.to_be_bytes();
    [usage[0], usage[1], usage[2], usage[3], kind]
}

/// Largest PBKDF2 iteration count accepted, as in MIT krb5
/// (`MAX_ITERATION_COUNT` in lib/crypto/krb/s2k_pbkdf2.c): counts from
/// 2^24 on are rejected.
pub(crate) const MAX_ITERATIONS: u32 = 1 << 24;

/// Checks s2kparams against the profile before string-to-key runs.
pub(crate) fn check_s2kparams(profile: &Profile, params: &[u8]) -> Result<(), CryptoError> {
    let reject = |reason: String| CryptoError::S2kParams {
        enctype: profile.enctype,
        reason,
    };

    if profile.default_s2kparams.is_empty() {
        if params.is_empty() {
            return Ok(());
        }
        return Err(reject(format!(
            "{} takes no string-to-key parameters, got {} bytes",
            profile.name,
            params.len()
        )));
    }

    let count = iteration_count(profile.enctype, params)?;
    let default = iteration_count(profile.enctype, profile.default_s2kparams)?;
    if count == 0 {
        return Err(reject(
            "iteration count 0 means 2^32 iterations, which is not accepted".into(),
        ));
    }
    if count < default {
        return Err(reject(format!(
            "iteration count {count} is below the minimum {default}; the KDC's reply may be forged, or the principal's key needs new s2kparams"
        )));
    }
    if count >= MAX_ITERATIONS {
        return Err(reject(format!(
            "iteration count {count} is not below the maximum 2^24"
        )));
    }
    Ok(())
}

/// Parses PBKDF2 s2kparams: a 4-byte big-endian iteration count.
pub(crate) fn iteration_count(enctype: i32, params: &[u8]) -> Result<u32, CryptoError> {
    let bytes: [u8; 4] = params.try_into().map_err(|_| CryptoError::S2kParams {
        enctype,
        reason: format!(
            "expected a 4-byte iteration count, got {} bytes",
            params.len()
        ),
    })?;
    Ok(u32::from_be_bytes(bytes))
}

/// The encryption primitive E of a simplified-profile enctype: a block
/// cipher in a mode with a zero initial vector.
pub(crate) trait BasicCipher: Sized {
    /// Cipher block size, which is also the confounder length.
    const BLOCK: usize;
    /// The plaintext is zero-padded to a multiple of this length.
    const PADDING: usize;
    /// Length of the DR output fed to random-to-key.
    const SEED: usize;
    /// Length of the truncated HMAC-SHA1 integrity tag and checksum.
    const MAC: usize;

    fn new(key: &[u8]) -> Result<Self, CryptoError>;

    /// Encrypts one block of `BLOCK` bytes in place.
    fn encrypt_block(&self, block: &mut [u8]);

    /// Encrypts in place. `buf` is at least one block long and a multiple
    /// of `PADDING`.
    fn encrypt(&self, buf: &mut [u8]) -> Result<(), CryptoError>;

    /// Decrypts in place, under the same length rules as `encrypt`.
    fn decrypt(&self, buf: &mut [u8]) -> Result<(), CryptoError>;

    fn random_to_key(seed: &[u8]) -> Zeroizing<Vec<u8>>;
}

/// Computes DR(key, constant) (RFC 3961 §5.1): the cipher applied
/// repeatedly to n-fold(constant), the outputs concatenated and truncated to
/// `SEED` bytes.
pub(crate) fn dr<C: BasicCipher>(
    key: &[u8],
    constant: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let cipher = C::new(key)?;
    let mut block = Zeroizing::new(nfold(constant, C::BLOCK));
    let mut out = Zeroizing::new(Vec::with_capacity(C::SEED + C::BLOCK));
    while out.len() < C::SEED {
        cipher.encrypt_block(&mut block);
        out.extend_from_slice(&block);
    }
    out.truncate(C::SEED);
    Ok(out)
}

/// Computes DK(key, constant) = random-to-key(DR(key, constant)).
pub(crate) fn dk<C: BasicCipher>(
    key: &[u8],
    constant: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    Ok(C::random_to_key(&dr::<C>(key, constant)?))
}

/// Returns DK(key, usage | kind), from the cache when it is there.
fn usage_key<C: BasicCipher>(
    key: &[u8],
    derived: &DerivedKeys,
    usage: u32,
    kind: u8,
) -> Result<std::sync::Arc<Zeroizing<Vec<u8>>>, CryptoError> {
    derived.get_or_derive(usage, kind, || dk::<C>(key, &usage_constant(usage, kind)))
}

pub(crate) fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

pub(crate) type StringToKey =
    fn(password: &[u8], salt: &[u8], params: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError>;

/// An enctype of the simplified profile over the basic cipher `C`.
pub(crate) struct SimplifiedProfile<C> {
    pub enctype: i32,
    pub string_to_key: StringToKey,
    pub _cipher: std::marker::PhantomData<fn() -> C>,
}

impl<C: BasicCipher> SimplifiedProfile<C> {
    fn too_short(&self, len: usize) -> CryptoError {
        CryptoError::CiphertextTooShort {
            enctype: self.enctype,
            len,
        }
    }
}

impl<C: BasicCipher> EnctypeOps for SimplifiedProfile<C> {
    fn random_to_key(&self, seed: &[u8]) -> Zeroizing<Vec<u8>> {
        C::random_to_key(seed)
    }

    fn string_to_key(
        &self,
        password: &[u8],
        salt: &[u8],
        params: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        (self.string_to_key)(password, salt, params)
    }

    fn encrypt(
        &self,
        key: &[u8],
        derived: &DerivedKeys,
        usage: u32,
        confounder: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let ke = usage_key::<C>(key, derived, usage, KE)?;
        let ki = usage_key::<C>(key, derived, usage, KI)?;

        let padded_len = (confounder.len() + plaintext.len()).div_ceil(C::PADDING) * C::PADDING;
        let mut out = Vec::with_capacity(padded_len + C::MAC);
        out.extend_from_slice(confounder);
        out.extend_from_slice(plaintext);
        out.resize(padded_len, 0);

        let tag = hmac_sha1(&ki, &out);
        C::new(&ke)?
            .encrypt(&mut out)
            .map_err(|_| self.too_short(padded_len))?;
        out.extend_from_slice(&tag[..C::MAC]);
        Ok(out)
    }

    fn decrypt(
        &self,
        key: &[u8],
        derived: &DerivedKeys,
        usage: u32,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if ciphertext.len() < C::BLOCK + C::MAC {
            return Err(self.too_short(ciphertext.len()));
        }
        let (body, tag) = ciphertext.split_at(ciphertext.len() - C::MAC);
        if body.len() % C::PADDING != 0 {
            return Err(CryptoError::CiphertextLength {
                enctype: self.enctype,
                len: ciphertext.len(),
                block: C::PADDING,
            });
        }

        let ke = usage_key::<C>(key, derived, usage, KE)?;
        let ki = usage_key::<C>(key, derived, usage, KI)?;
        let mut out = body.to_vec();
        C::new(&ke)?
            .decrypt(&mut out)
            .map_err(|_| self.too_short(ciphertext.len()))?;

        let expected = hmac_sha1(&ki, &out);
        if !bool::from(expected[..C::MAC].ct_eq(tag)) {
            return Err(CryptoError::IntegrityCheckFailed);
        }
        out.drain(..C::BLOCK);
        Ok(out)
    }

    fn checksum(
        &self,
        key: &[u8],
        derived: &DerivedKeys,
        usage: u32,
        data: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let kc = usage_key::<C>(key, derived, usage, KC)?;
        Ok(hmac_sha1(&kc, data)[..C::MAC].to_vec())
    }

    /// PRF = E(DK(key, "prf"), SHA-1(input) truncated to whole blocks).
    fn prf(&self, key: &[u8], input: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let hash = Sha1::digest(input);
        let whole_blocks = hash.len() / C::BLOCK * C::BLOCK;
        let mut out = hash[..whole_blocks].to_vec();
        let kprf = dk::<C>(key, b"prf")?;
        C::new(&kprf)?.encrypt(&mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_constant_layout() {
        assert_eq!(usage_constant(2, KE), [0, 0, 0, 2, 0xAA]);
        assert_eq!(usage_constant(0x01020304, KC), [1, 2, 3, 4, 0x99]);
    }

    #[test]
    fn iteration_count_wrong_length() {
        assert!(iteration_count(18, &[0, 1]).is_err());
        assert_eq!(iteration_count(18, &[0, 0, 0x10, 0]), Ok(4096));
    }
}
