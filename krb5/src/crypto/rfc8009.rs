//! aes128-cts-hmac-sha256-128 (19) and aes256-cts-hmac-sha384-192 (20),
//! RFC 8009: AES-CTS for confidentiality, HMAC-SHA-256/384 over the
//! ciphertext for integrity, and the SP 800-108 counter-mode KDF with
//! HMAC for key derivation.

use std::marker::PhantomData;

use aes::cipher::consts::U16;
use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use aes::{Aes128, Aes256};
use hmac::EagerHash;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::profile::EnctypeOps;
use super::rfc3961::{iteration_count, usage_constant, KC, KE, KI};
use super::rfc3962::{cts_decrypt, cts_encrypt};
use super::CryptoError;
use crate::iana::enctype;

/// One of the two RFC 8009 enctypes, over AES cipher `C` and hash `D`.
pub(crate) struct AesSha2<C, D> {
    enctype: i32,
    /// The enctype name, prefixed to the salt in string-to-key.
    name: &'static str,
    /// Length of Ki, Kc, the integrity tag and the checksum, in bytes.
    mac_length: usize,
    _types: PhantomData<fn() -> (C, D)>,
}

pub(crate) static AES128_CTS_HMAC_SHA256_128: AesSha2<Aes128, Sha256> = AesSha2 {
    enctype: enctype::AES128_CTS_HMAC_SHA256_128,
    name: "aes128-cts-hmac-sha256-128",
    mac_length: 16,
    _types: PhantomData,
};

pub(crate) static AES256_CTS_HMAC_SHA384_192: AesSha2<Aes256, Sha384> = AesSha2 {
    enctype: enctype::AES256_CTS_HMAC_SHA384_192,
    name: "aes256-cts-hmac-sha384-192",
    mac_length: 24,
    _types: PhantomData,
};

const IV_ZERO: [u8; 16] = [0; 16];

/// KDF-HMAC-SHA2(key, label, context, k) of RFC 8009 §3: the first `len`
/// bytes of HMAC(key, 00000001 | label | 00 | context | k), where `k` is
/// the output length in bits. Every output this crate needs fits one HMAC
/// block, so the counter is always 1.
pub(crate) fn kdf_hmac_sha2<D: EagerHash>(
    key: &[u8],
    label: &[u8],
    context: &[u8],
    len: usize,
) -> Zeroizing<Vec<u8>> {
    let mut mac = new_hmac::<D>(key);
    mac.update(&1u32.to_be_bytes());
    mac.update(label);
    mac.update(&[0]);
    mac.update(context);
    mac.update(&((len * 8) as u32).to_be_bytes());
    let full = Zeroizing::new(mac.finalize().into_bytes());
    Zeroizing::new(full[..len.min(full.len())].to_vec())
}

fn new_hmac<D: EagerHash>(key: &[u8]) -> Hmac<D> {
    <Hmac<D> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
}

impl<C, D> AesSha2<C, D>
where
    C: KeyInit + BlockCipherEncrypt<BlockSize = U16> + BlockCipherDecrypt<BlockSize = U16>,
    D: EagerHash,
{
    fn key_length(&self) -> usize {
        <C::KeySize as aes::cipher::typenum::Unsigned>::USIZE
    }

    fn cipher(&self, key: &[u8]) -> Result<C, CryptoError> {
        C::new_from_slice(key).map_err(|_| CryptoError::KeyLength {
            enctype: self.enctype,
            actual: key.len(),
            expected: self.key_length(),
        })
    }

    fn too_short(&self, len: usize) -> CryptoError {
        CryptoError::CiphertextTooShort {
            enctype: self.enctype,
            len,
        }
    }

    /// Computes HMAC(Ki, IV | C) truncated to the tag length.
    fn tag(&self, ki: &[u8], ciphertext: &[u8]) -> Zeroizing<Vec<u8>> {
        let mut mac = new_hmac::<D>(ki);
        mac.update(&IV_ZERO);
        mac.update(ciphertext);
        let full = mac.finalize().into_bytes();
        Zeroizing::new(full[..self.mac_length].to_vec())
    }

    /// Computes the string-to-key function without checking the iteration
    /// count against the minimum (RFC 8009 §4).
    pub(crate) fn string_to_key_unchecked(
        &self,
        password: &[u8],
        salt: &[u8],
        params: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let count = iteration_count(self.enctype, params)?;
        let mut saltp = Vec::with_capacity(self.name.len() + 1 + salt.len());
        saltp.extend_from_slice(self.name.as_bytes());
        saltp.push(0);
        saltp.extend_from_slice(salt);

        let mut tkey = Zeroizing::new(vec![0u8; self.key_length()]);
        pbkdf2::pbkdf2_hmac::<D>(password, &saltp, count, &mut tkey);
        Ok(kdf_hmac_sha2::<D>(
            &tkey,
            b"kerberos",
            &[],
            self.key_length(),
        ))
    }
}

impl<C, D> EnctypeOps for AesSha2<C, D>
where
    C: KeyInit + BlockCipherEncrypt<BlockSize = U16> + BlockCipherDecrypt<BlockSize = U16>,
    D: EagerHash,
{
    fn random_to_key(&self, seed: &[u8]) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(seed.to_vec())
    }

    fn string_to_key(
        &self,
        password: &[u8],
        salt: &[u8],
        params: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.string_to_key_unchecked(password, salt, params)
    }

    fn encrypt(
        &self,
        key: &[u8],
        usage: u32,
        confounder: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let ke = kdf_hmac_sha2::<D>(key, &usage_constant(usage, KE), &[], self.key_length());
        let ki = kdf_hmac_sha2::<D>(key, &usage_constant(usage, KI), &[], self.mac_length);

        let mut out = Vec::with_capacity(confounder.len() + plaintext.len() + self.mac_length);
        out.extend_from_slice(confounder);
        out.extend_from_slice(plaintext);
        let len = out.len();
        cts_encrypt(&self.cipher(&ke)?, &mut out).map_err(|_| self.too_short(len))?;

        let tag = self.tag(&ki, &out);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    fn decrypt(&self, key: &[u8], usage: u32, ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if ciphertext.len() < 16 + self.mac_length {
            return Err(self.too_short(ciphertext.len()));
        }
        let (body, tag) = ciphertext.split_at(ciphertext.len() - self.mac_length);

        let ki = kdf_hmac_sha2::<D>(key, &usage_constant(usage, KI), &[], self.mac_length);
        if !bool::from(self.tag(&ki, body).ct_eq(tag)) {
            return Err(CryptoError::IntegrityCheckFailed);
        }

        let ke = kdf_hmac_sha2::<D>(key, &usage_constant(usage, KE), &[], self.key_length());
        let mut out = body.to_vec();
        cts_decrypt(&self.cipher(&ke)?, &mut out).map_err(|_| self.too_short(ciphertext.len()))?;
        out.drain(..16);
        Ok(out)
    }

    fn checksum(&self, key: &[u8], usage: u32, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let kc = kdf_hmac_sha2::<D>(key, &usage_constant(usage, KC), &[], self.mac_length);
        let mut mac = new_hmac::<D>(&kc);
        mac.update(data);
        Ok(mac.finalize().into_bytes()[..self.mac_length].to_vec())
    }

    /// PRF = KDF-HMAC-SHA2(key, "prf", input, hash length) (RFC 8009 §5).
    fn prf(&self, key: &[u8], input: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let len = <D as hmac::digest::OutputSizeUser>::output_size();
        Ok(kdf_hmac_sha2::<D>(key, b"prf", input, len).to_vec())
    }
}
