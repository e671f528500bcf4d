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

use super::derived::DerivedKeys;
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

    /// Returns the key of `kind` (Ke, Ki or Kc) for `usage`, from the cache
    /// when it is there. Ke is as long as the base key, Ki and Kc as the tag.
    fn usage_key(
        &self,
        key: &[u8],
        derived: &DerivedKeys,
        usage: u32,
        kind: u8,
    ) -> Result<std::sync::Arc<Zeroizing<Vec<u8>>>, CryptoError> {
        let len = if kind == KE {
            self.key_length()
        } else {
            self.mac_length
        };
        derived.get_or_derive(usage, kind, || {
            Ok(kdf_hmac_sha2::<D>(
                key,
                &usage_constant(usage, kind),
                &[],
                len,
            ))
        })
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
        derived: &DerivedKeys,
        usage: u32,
        confounder: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let ke = self.usage_key(key, derived, usage, KE)?;
        let ki = self.usage_key(key, derived, usage, KI)?;

        let mut out = Vec::with_capacity(confounder.len() + plaintext.len() + self.mac_length);
        out.extend_from_slice(confounder);
        out.extend_from_slice(plaintext);
        let len = out.len();
        cts_encrypt(&self.cipher(&ke)?, &mut out).map_err(|_| self.too_short(len))?;

        let tag = self.tag(&ki, &out);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    fn decrypt(
        &self,
        key: &[u8],
        derived: &DerivedKeys,
        usage: u32,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if ciphertext.len() < 16 + self.mac_length {
            return Err(self.too_short(ciphertext.len()));
        }
        let (body, tag) = ciphertext.split_at(ciphertext.len() - self.mac_length);

        let ki = self.usage_key(key, derived, usage, KI)?;
        if !bool::from(self.tag(&ki, body).ct_eq(tag)) {
            return Err(CryptoError::IntegrityCheckFailed);
        }

        let ke = self.usage_key(key, derived, usage, KE)?;
        let mut out = body.to_vec();
        cts_decrypt(&self.cipher(&ke)?, &mut out).map_err(|_| self.too_short(ciphertext.len()))?;
        out.drain(..16);
        Ok(out)
    }

    fn checksum(
        &self,
        key: &[u8],
        derived: &DerivedKeys,
        usage: u32,
        data: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let kc = self.usage_key(key, derived, usage, KC)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Key;

    fn unhex(text: &str) -> Vec<u8> {
        hex::decode(text).unwrap()
    }

    const BASE_128: &str = "3705d96080c17728a0e800eab6e0d23c";
    const BASE_256: &str = "6d404d37faf79f9df0d33568d320669800eb4836472ea8a026d16b7182460c52";

    /// RFC 8009 appendix A, sample results for string-to-key conversion
    /// (iteration count 32768).
    #[test]
    fn rfc8009_appendix_a_string_to_key() {
        let mut salt = unhex("10df9dd783e5bc8acea1730e74355f61");
        salt.extend_from_slice(b"ATHENA.MIT.EDUraeburn");
        let params = 32768u32.to_be_bytes();

        let key = AES128_CTS_HMAC_SHA256_128
            .string_to_key_unchecked(b"password", &salt, &params)
            .unwrap();
        assert_eq!(hex::encode(&*key), "089bca48b105ea6ea77ca5d2f39dc5e7");

        let key = Key::from_password(20, b"password", &salt, None).unwrap();
        assert_eq!(
            hex::encode(key.bytes()),
            "45bd806dbf6a833a9cffc1c94589a222367a79bc21c413718906e9f578a78467"
        );
    }

    /// RFC 8009 appendix A, sample results for key derivation (key usage 2).
    #[test]
    fn rfc8009_appendix_a_key_derivation() {
        let base = unhex(BASE_128);
        let derive = |kind, len| {
            hex::encode(&*kdf_hmac_sha2::<Sha256>(
                &base,
                &usage_constant(2, kind),
                &[],
                len,
            ))
        };
        assert_eq!(derive(KC, 16), "b31a018a48f54776f403e9a396325dc3");
        assert_eq!(derive(KE, 16), "9b197dd1e8c5609d6e67c3e37c62c72e");
        assert_eq!(derive(KI, 16), "9fda0e56ab2d85e1569a688696c26a6c");

        let base = unhex(BASE_256);
        let derive = |kind, len| {
            hex::encode(&*kdf_hmac_sha2::<Sha384>(
                &base,
                &usage_constant(2, kind),
                &[],
                len,
            ))
        };
        assert_eq!(
            derive(KC, 24),
            "ef5718be86cc84963d8bbb5031e9f5c4ba41f28faf69e73d"
        );
        assert_eq!(
            derive(KE, 32),
            "56ab22bee63d82d7bc5227f6773f8ea7a5eb1c825160c38312980c442e5c7e49"
        );
        assert_eq!(
            derive(KI, 24),
            "69b16514e3cd8e56b82010d5c73012b622c4d00ffc23ed1f"
        );
    }

    /// RFC 8009 appendix A, sample encryptions (key usage 2): (enctype,
    /// confounder, plaintext, ciphertext with the HMAC appended).
    #[test]
    fn rfc8009_appendix_a_encryption() {
        let cases: [(i32, &str, &str, &str); 8] = [
            (
                19,
                "7e5895eaf2672435bad817f545a37148",
                "",
                "ef85fb890bb8472f4dab20394dca781dad877eda39d50c870c0d5a0a8e48c718",
            ),
            (
                19,
                "7bca285e2fd4130fb55b1a5c83bc5b24",
                "000102030405",
                "84d7f30754ed987bab0bf3506beb09cfb55402cef7e6877ce99e247e52d16ed4421dfdf8976c",
            ),
            (
                19,
                "56ab21713ff62c0a1457200f6fa9948f",
                "000102030405060708090a0b0c0d0e0f",
                "3517d640f50ddc8ad3628722b3569d2ae07493fa8263254080ea65c1008e8fc295fb4852e7d83e1e7c48c37eebe6b0d3",
            ),
            (
                19,
                "a7a4e29a4728ce10664fb64e49ad3fac",
                "000102030405060708090a0b0c0d0e0f1011121314",
                "720f73b18d9859cd6ccb4346115cd336c70f58edc0c4437c5573544c31c813bce1e6d072c186b39a413c2f92ca9b8334a287ffcbfc",
            ),
            (
                20,
                "f764e9fa15c276478b2c7d0c4e5f58e4",
                "",
                "41f53fa5bfe7026d91faf9be959195a058707273a96a40f0a01960621ac612748b9bbfbe7eb4ce3c",
            ),
            (
                20,
                "b80d3251c1f6471494256ffe712d0b9a",
                "000102030405",
                "4ed7b37c2bcac8f74f23c1cf07e62bc7b75fb3f637b9f559c7f664f69eab7b6092237526ea0d1f61cb20d69d10f2",
            ),
            (
                20,
                "53bf8a0d105265d4e276428624ce5e63",
                "000102030405060708090a0b0c0d0e0f",
                "bc47ffec7998eb91e8115cf8d19dac4bbbe2e163e87dd37f49beca92027764f68cf51f14d798c2273f35df574d1f932e40c4ff255b36a266",
            ),
            (
                20,
                "763e65367e864f02f55153c7e3b58af1",
                "000102030405060708090a0b0c0d0e0f1011121314",
                "40013e2df58e8751957d2878bcd2d6fe101ccfd556cb1eae79db3c3ee86429f2b2a602ac86fef6ecb647d6295fae077a1feb517508d2c16b4192e01f62",
            ),
        ];
        for (enctype, confounder, plaintext, expected) in cases {
            let base = if enctype == 19 { BASE_128 } else { BASE_256 };
            let key = Key::new(enctype, unhex(base)).unwrap();
            let plaintext = unhex(plaintext);
            let ciphertext = key
                .encrypt_with_confounder(2, &unhex(confounder), &plaintext)
                .unwrap();
            assert_eq!(hex::encode(&ciphertext), expected, "enctype {enctype}");
            assert_eq!(key.decrypt(2, &ciphertext).unwrap(), plaintext);
        }
    }

    /// RFC 8009 appendix A, sample checksums (key usage 2).
    #[test]
    fn rfc8009_appendix_a_checksums() {
        let data = unhex("000102030405060708090a0b0c0d0e0f1011121314");

        let key = Key::new(19, unhex(BASE_128)).unwrap();
        let checksum = key.checksum(2, &data).unwrap();
        assert_eq!(checksum.cksumtype, 19);
        assert_eq!(
            hex::encode(&checksum.value),
            "d78367186643d67b411cba9139fc1dee"
        );

        let key = Key::new(20, unhex(BASE_256)).unwrap();
        let checksum = key.checksum(2, &data).unwrap();
        assert_eq!(checksum.cksumtype, 20);
        assert_eq!(
            hex::encode(&checksum.value),
            "45ee791567eefca37f4ac1e0222de80d43c3bfa06699672a"
        );
    }

    /// RFC 8009 appendix A, sample pseudorandom function invocations
    /// (input "test").
    #[test]
    fn rfc8009_appendix_a_prf() {
        let key = Key::new(19, unhex(BASE_128)).unwrap();
        assert_eq!(
            hex::encode(key.prf(b"test").unwrap()),
            "9d188616f63852fe86915bb840b4a886ff3e6bb0f819b49b893393d393854295"
        );

        let key = Key::new(20, unhex(BASE_256)).unwrap();
        assert_eq!(
            hex::encode(key.prf(b"test").unwrap()),
            "9801f69a368c2bf675e59521e177d9a07f67efe1cfde8d3c8d6f6a0256e3b17db3c1b62ad1b8553360d17367eb1514d2"
        );
    }
}
