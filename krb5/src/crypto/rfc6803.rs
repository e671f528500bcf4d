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

use super::derived::DerivedKeys;
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

    /// Returns DK(key, usage | kind), from the cache when it is there.
    fn usage_key(
        &self,
        key: &[u8],
        derived: &DerivedKeys,
        usage: u32,
        kind: u8,
    ) -> Result<std::sync::Arc<Zeroizing<Vec<u8>>>, CryptoError> {
        derived.get_or_derive(usage, kind, || {
            self.derive(key, &usage_constant(usage, kind))
        })
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
        derived: &DerivedKeys,
        usage: u32,
        confounder: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let ke = self.usage_key(key, derived, usage, KE)?;
        let ki = self.usage_key(key, derived, usage, KI)?;

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

    fn decrypt(
        &self,
        key: &[u8],
        derived: &DerivedKeys,
        usage: u32,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let too_short = CryptoError::CiphertextTooShort {
            enctype: self.enctype,
            len: ciphertext.len(),
        };
        if ciphertext.len() < 2 * BLOCK {
            return Err(too_short);
        }
        let (body, tag) = ciphertext.split_at(ciphertext.len() - BLOCK);

        let ke = self.usage_key(key, derived, usage, KE)?;
        let ki = self.usage_key(key, derived, usage, KI)?;
        let mut out = body.to_vec();
        cts_decrypt(&self.cipher(&ke)?, &mut out).map_err(|_| too_short)?;

        let expected = self.cmac(&ki, &[&out])?;
        if !bool::from(expected.ct_eq(tag)) {
            return Err(CryptoError::IntegrityCheckFailed);
        }
        out.drain(..BLOCK);
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
        Ok(self.cmac(&kc, &[data])?.to_vec())
    }

    /// PRF = CMAC(DK(key, "prf"), input) (RFC 6803 §5).
    fn prf(&self, key: &[u8], input: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let kprf = self.derive(key, b"prf")?;
        Ok(self.cmac(&kprf, &[input])?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Key;

    fn unhex(text: &str) -> Vec<u8> {
        hex::decode(text).unwrap()
    }

    /// RFC 6803 §10, sample results for key derivation (key usage 2).
    #[test]
    fn rfc6803_section10_key_derivation() {
        let cases = [(
            &CAMELLIA128_CTS_CMAC,
            "57d0297298ffd9d35de5a47fb4bde24b",
            "d155775a209d05f02b38d42a389e5a56",
            "64df83f85a532f17577d8c37035796ab",
            "3e4fbdf30fb8259c425cb6c96f1f4635",
        )];
        for (profile, base, kc, ke, ki) in cases {
            let base = unhex(base);
            assert_eq!(
                hex::encode(&*profile.derive(&base, &usage_constant(2, KC)).unwrap()),
                kc
            );
            assert_eq!(
                hex::encode(&*profile.derive(&base, &usage_constant(2, KE)).unwrap()),
                ke
            );
            assert_eq!(
                hex::encode(&*profile.derive(&base, &usage_constant(2, KI)).unwrap()),
                ki
            );
        }

        let base = unhex("b9d6828b2056b7be656d88a123b1fac68214ac2b727ecf5f69afe0c4df2a6d2c");
        let derive = |kind| {
            hex::encode(
                &*CAMELLIA256_CTS_CMAC
                    .derive(&base, &usage_constant(2, kind))
                    .unwrap(),
            )
        };
        assert_eq!(
            derive(KC),
            "e467f9a9552bc7d3155a6220af9c19220eeed4ff78b0d1e6a1544991461a9e50"
        );
        assert_eq!(
            derive(KE),
            "412aefc362a7285fc3966c6a5181e7605ae675235b6d549fbfc9ab6630a4c604"
        );
        assert_eq!(
            derive(KI),
            "fa624fa0e523993fa388aefdc67e67ebcd8c08e8a0246b1d73b0d1dd9fc582b0"
        );
    }

    /// RFC 6803 §10, sample encryptions, with the key usages 0 to 4 of
    /// erratum 4326: (enctype, usage, base key, confounder, plaintext,
    /// ciphertext).
    #[test]
    fn rfc6803_section10_encryption() {
        type Case = (
            i32,
            u32,
            &'static str,
            &'static str,
            &'static [u8],
            &'static str,
        );
        let cases: [Case; 10] = [
            (
                25,
                0,
                "1dc46a8d763f4f93742bcba3387576c3",
                "b69822a19a6b09c0ebc8557d1f1b6c0a",
                b"",
                "c466f1871069921edb7c6fde244a52db0ba10edc197bdb8006658ca3ccce6eb8",
            ),
            (
                25,
                1,
                "5027bc231d0f3a9d23333f1ca6fdbe7c",
                "6f2fc3c2a166fd8898967a83de9596d9",
                b"1",
                "842d21fd950311c0dd464a3f4be8d6da88a56d559c9b47d3f9a85067af661559b8",
            ),
            (
                25,
                2,
                "a1bb61e805f9ba6dde8fdbddc05cdea0",
                "a5b4a71e077aeef93c8763c18fdb1f10",
                b"9 bytesss",
                "619ff072e36286ff0a28deb3a352ec0d0edf5c5160d663c901758ccf9d1ed33d71db8f23aabf8348a0",
            ),
            (
                25,
                3,
                "2ca27a5faf5532244506434e1cef6676",
                "19fee40d810c524b5b22f01874c693da",
                b"13 bytes byte",
                "b8eca3167ae6315512e59f98a7c500205e5f63ff3bb389af1c41a21d640d8615c9ed3fbeb05ab6acb67689b5ea",
            ),
            (
                25,
                4,
                "7824f8c16f83ff354c6bf7515b973f43",
                "ca7a7ab4be192dabd603506db19c39e2",
                b"30 bytes bytes bytes bytes byt",
                "a26a3905a4ffd5816b7b1e27380d08090c8ec1f304496e1abdcd2bdcd1dffc660989e117a713ddbb57a4146c1587cba4356665591d2240282f5842b105a5",
            ),
            (
                26,
                0,
                "b61c86cc4e5d2757545ad423399fb7031ecab913cbb900bd7a3c6dd8bf92015b",
                "3cbbd2b45917941067f96599bb98926c",
                b"",
                "03886d03310b47a6d8f06d7b94d1dd837ecce315ef652aff620859d94a259266",
            ),
            (
                26,
                1,
                "1b97fe0a190e2021eb30753e1b6e1e77b0754b1d684610355864104963463833",
                "def487fcebe6de6346d4da4521bba2d2",
                b"1",
                "2c9c1570133c99bf6a34bc1b0212002fd194338749db4135497a347cfcd9d18a12",
            ),
            (
                26,
                2,
                "32164c5b434d1d1538e4cfd9be8040fe8c4ac7acc4b93d3314d2133668147a05",
                "ad4ff904d34e555384b14100fc465f88",
                b"9 bytesss",
                "9c6de75f812de7ed0d28b2963557a115640998275b0af5152709913ff52a2a9c8e63b872f92e64c839",
            ),
            (
                26,
                3,
                "b038b132cd8e06612267fab7170066d88aeccba0b744bfc60dc89bca182d0715",
                "cf9bca6df1144e0c0af9b8f34c90d514",
                b"13 bytes byte",
                "eeec85a9813cdc536772ab9b42defc5706f726e975dde05a87eb5406ea324ca185c9986b42aabe794b84821bee",
            ),
            (
                26,
                4,
                "ccfcd349bf4c6677e86e4b02b8eab924a546ac731cf9bf6989b996e7d6bfbba7",
                "644def38da35007275878d216855e228",
                b"30 bytes bytes bytes bytes byt",
                "0e44680985855f2d1f1812529ca83bfd8e349de6fd9ada0baaa048d68e265febf34ad1255a344999ad37146887a6c6845731ac7f46376a0504cd06571474",
            ),
        ];
        for (enctype, usage, base, confounder, plaintext, expected) in cases {
            let key = Key::new(enctype, unhex(base)).unwrap();
            let confounder = unhex(confounder);
            let expected = unhex(expected);
            let ciphertext = key
                .encrypt_with_confounder(usage, &confounder, plaintext)
                .unwrap();
            assert_eq!(
                hex::encode(&ciphertext),
                hex::encode(&expected),
                "enctype {enctype}, usage {usage}"
            );
            assert_eq!(key.decrypt(usage, &ciphertext).unwrap(), plaintext);
        }
    }

    /// RFC 6803 §10, sample checksums: (enctype, usage, base key, data,
    /// checksum).
    #[test]
    fn rfc6803_section10_checksums() {
        let cases: [(i32, u32, &str, &[u8], &str); 4] = [
            (
                25,
                7,
                "1dc46a8d763f4f93742bcba3387576c3",
                b"abcdefghijk",
                "1178e6c5c47a8c1ae0c4b9c7d4eb7b6b",
            ),
            (
                25,
                8,
                "5027bc231d0f3a9d23333f1ca6fdbe7c",
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                "d1b34f7004a731f23a0c00bf6c3f753a",
            ),
            (
                26,
                9,
                "b61c86cc4e5d2757545ad423399fb7031ecab913cbb900bd7a3c6dd8bf92015b",
                b"123456789",
                "87a12cfd2b96214810f01c826e7744b1",
            ),
            (
                26,
                10,
                "32164c5b434d1d1538e4cfd9be8040fe8c4ac7acc4b93d3314d2133668147a05",
                b"!@#$%^&*()!@#$%^&*()!@#$%^&*()",
                "3fa0b42355e52b189187294aa252ab64",
            ),
        ];
        for (enctype, usage, base, data, expected) in cases {
            let key = Key::new(enctype, unhex(base)).unwrap();
            let checksum = key.checksum(usage, data).unwrap();
            assert_eq!(
                hex::encode(&checksum.value),
                expected,
                "enctype {enctype}, usage {usage}"
            );
            key.verify_checksum(usage, data, &checksum).unwrap();
        }
    }
}
