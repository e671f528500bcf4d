//! camellia128-cts-cmac (25) and camellia256-cts-cmac (26), RFC 6803:
//! Camellia in CBC mode with ciphertext stealing, CMAC over the plaintext
//! for integrity and checksums, and the SP 800-108 feedback-mode KDF with
//! CMAC for key derivation.

use std::marker::PhantomData;

use aes::cipher::consts::U16;
use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use camellia::{Camellia128, Camellia256};
use cmac::{Cmac, Mac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::profile::EnctypeOps;
use super::rfc3961::{iteration_count, usage_constant, KC, KE, KI};
use super::rfc3962::{cts_decrypt, cts_encrypt};
use super::CryptoError;
use crate::iana::enctype;

/// One of the two RFC 6803 enctypes over Camellia cipher `C`.
pub(crate) struct CamelliaCmac<C> {
    enctype: i32,
    /// The enctype name, prefixed to the salt in string-to-key.
    name: &'static str,
    _cipher: PhantomData<fn() -> C>,
}

pub(crate) static CAMELLIA128_CTS_CMAC: CamelliaCmac<Camellia128> = CamelliaCmac {
    enctype: enctype::CAMELLIA128_CTS_CMAC,
    name: "camellia128-cts-cmac",
    _cipher: PhantomData,
};

pub(crate) static CAMELLIA256_CTS_CMAC: CamelliaCmac<Camellia256> = CamelliaCmac {
    enctype: enctype::CAMELLIA256_CTS_CMAC,
    name: "camellia256-cts-cmac",
    _cipher: PhantomData,
};

const BLOCK: usize = 16;

impl<C> CamelliaCmac<C>
where
    C: KeyInit + BlockCipherEncrypt<BlockSize = U16> + BlockCipherDecrypt<BlockSize = U16> + Clone,
{
    fn key_length(&self) -> usize {
        <C::KeySize as aes::cipher::typenum::Unsigned>::USIZE
    }

    fn cipher(&self, key: &[u8]) -> Result<C, CryptoError> {
        C::new_from_slice(key).map_err(|_| self.key_error(key.len()))
    }

    fn key_error(&self, actual: usize) -> CryptoError {
        CryptoError::KeyLength {
            enctype: self.enctype,
            actual,
            expected: self.key_length(),
        }
    }

    fn cmac(&self, key: &[u8], parts: &[&[u8]]) -> Result<[u8; BLOCK], CryptoError> {
        let mut mac =
            <Cmac<C> as KeyInit>::new_from_slice(key).map_err(|_| self.key_error(key.len()))?;
        for part in parts {
            mac.update(part);
        }
        Ok(mac.finalize().into_bytes().into())
    }

    /// Computes DK(key, constant) = KDF-FEEDBACK-CMAC(key, constant) of RFC
    /// 6803 §2: K(i) = CMAC(key, K(i-1) | i | constant | 00 | k), starting
    /// from a zero block, with `k` the key length in bits. Random-to-key is
    /// the identity for Camellia.
    pub(crate) fn derive(
        &self,
        key: &[u8],
        constant: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let len = self.key_length();
        let bits = ((len * 8) as u32).to_be_bytes();
        let mut out = Zeroizing::new(Vec::with_capacity(len + BLOCK));
        let mut previous = Zeroizing::new([0u8; BLOCK]);
        let mut counter: u32 = 1;
        while out.len() < len {
            *previous = self.cmac(
                key,
                &[&previous[..], &counter.to_be_bytes(), constant, &[0], &bits],
            )?;
            out.extend_from_slice(&previous[..]);
            counter += 1;
        }
        out.truncate(len);
        Ok(out)
    }

    /// Computes the string-to-key function without checking the iteration
    /// count against the minimum (RFC 6803 §3): DK(PBKDF2-HMAC-SHA1(password,
    /// name | 00 | salt, count, key length), "kerberos").
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
        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, &saltp, count, &mut tkey);
        self.derive(&tkey, b"kerberos")
    }
}

impl<C> EnctypeOps for CamelliaCmac<C>
where
    C: KeyInit + BlockCipherEncrypt<BlockSize = U16> + BlockCipherDecrypt<BlockSize = U16> + Clone,
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
        let ke = self.derive(key, &usage_constant(usage, KE))?;
        let ki = self.derive(key, &usage_constant(usage, KI))?;

        let mut out = Vec::with_capacity(confounder.len() + plaintext.len() + BLOCK);
        out.extend_from_slice(confounder);
        out.extend_from_slice(plaintext);
        let tag = self.cmac(&ki, &[&out])?;

        let len = out.len();
        cts_encrypt(&self.cipher(&ke)?, &mut out).map_err(|_| CryptoError::CiphertextTooShort {
            enctype: self.enctype,
            len,
        })?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    fn decrypt(&self, key: &[u8], usage: u32, ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let too_short = CryptoError::CiphertextTooShort {
            enctype: self.enctype,
            len: ciphertext.len(),
        };
        if ciphertext.len() < 2 * BLOCK {
            return Err(too_short);
        }
        let (body, tag) = ciphertext.split_at(ciphertext.len() - BLOCK);

        let ke = self.derive(key, &usage_constant(usage, KE))?;
        let ki = self.derive(key, &usage_constant(usage, KI))?;
        let mut out = body.to_vec();
        cts_decrypt(&self.cipher(&ke)?, &mut out).map_err(|_| too_short)?;

        let expected = self.cmac(&ki, &[&out])?;
        if !bool::from(expected.ct_eq(tag)) {
            return Err(CryptoError::IntegrityCheckFailed);
        }
        out.drain(..BLOCK);
        Ok(out)
    }

    fn checksum(&self, key: &[u8], usage: u32, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let kc = self.derive(key, &usage_constant(usage, KC))?;
        Ok(self.cmac(&kc, &[data])?.to_vec())
    }

    /// PRF = CMAC(DK(key, "prf"), input) (RFC 6803 §5).
    fn prf(&self, key: &[u8], input: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let kprf = self.derive(key, b"prf")?;
        Ok(self.cmac(&kprf, &[input])?.to_vec())
    }
}
