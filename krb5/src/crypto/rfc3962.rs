//! aes128-cts-hmac-sha1-96 (17) and aes256-cts-hmac-sha1-96 (18), RFC 3962:
//! the RFC 3961 simplified profile over AES in CBC mode with ciphertext
//! stealing, HMAC-SHA1 truncated to 96 bits, and PBKDF2-HMAC-SHA1
//! string-to-key.
//!
//! The CTS helpers here are shared by RFC 8009 and RFC 6803.

use std::marker::PhantomData;

use aes::cipher::consts::U16;
use aes::cipher::{Block, BlockCipherDecrypt, BlockCipherEncrypt, InnerIvInit, KeyInit};
use aes::{Aes128, Aes256};
use cts::{CbcCs3, Decrypt, Encrypt};
use sha1::Sha1;
use zeroize::Zeroizing;

use super::rfc3961::{dk, iteration_count, BasicCipher, SimplifiedProfile};
use super::CryptoError;
use crate::iana::enctype;

/// A CTS input shorter than one block.
#[derive(Debug)]
pub(crate) struct ShortInput;

/// Encrypts `buf` in place with CBC and ciphertext stealing as Kerberos
/// defines it (RFC 3962 §5): zero IV, and the last two blocks always
/// swapped, even when the input is a whole number of blocks. A single block
/// is plain CBC. Callers rule out inputs shorter than one block.
pub(crate) fn cts_encrypt<C>(cipher: &C, buf: &mut [u8]) -> Result<(), ShortInput>
where
    C: BlockCipherEncrypt<BlockSize = U16>,
{
    if buf.len() == 16 {
        let block: &mut Block<C> = buf.try_into().map_err(|_| ShortInput)?;
        cipher.encrypt_block(block);
        return Ok(());
    }
    CbcCs3::<&C>::inner_iv_init(cipher, &Default::default())
        .encrypt(buf)
        .map_err(|_| ShortInput)
}

/// Decrypts what [`cts_encrypt`] produced, in place.
pub(crate) fn cts_decrypt<C>(cipher: &C, buf: &mut [u8]) -> Result<(), ShortInput>
where
    C: BlockCipherDecrypt<BlockSize = U16>,
{
    if buf.len() == 16 {
        let block: &mut Block<C> = buf.try_into().map_err(|_| ShortInput)?;
        cipher.decrypt_block(block);
        return Ok(());
    }
    CbcCs3::<&C>::inner_iv_init(cipher, &Default::default())
        .decrypt(buf)
        .map_err(|_| ShortInput)
}

/// AES-CTS as the basic cipher of the simplified profile.
pub(crate) struct AesCts<C>(C);

/// Returns the RFC 3962 enctype whose keys are `key_length` bytes long.
fn aes_sha1_enctype(key_length: usize) -> i32 {
    if key_length == 16 {
        enctype::AES128_CTS_HMAC_SHA1_96
    } else {
        enctype::AES256_CTS_HMAC_SHA1_96
    }
}

impl<C> AesCts<C>
where
    AesCts<C>: BasicCipher,
{
    fn too_short(&self, len: usize) -> CryptoError {
        CryptoError::CiphertextTooShort {
            enctype: aes_sha1_enctype(<Self as BasicCipher>::SEED),
            len,
        }
    }
}

impl<C> BasicCipher for AesCts<C>
where
    C: KeyInit + BlockCipherEncrypt<BlockSize = U16> + BlockCipherDecrypt<BlockSize = U16>,
{
    const BLOCK: usize = 16;
    const PADDING: usize = 1;
    const SEED: usize = <C::KeySize as aes::cipher::typenum::Unsigned>::USIZE;
    const MAC: usize = 12;

    fn new(key: &[u8]) -> Result<Self, CryptoError> {
        C::new_from_slice(key)
            .map(Self)
            .map_err(|_| CryptoError::KeyLength {
                enctype: aes_sha1_enctype(Self::SEED),
                actual: key.len(),
                expected: Self::SEED,
            })
    }

    fn encrypt_block(&self, block: &mut [u8]) {
        if let Ok(block) = <&mut Block<C>>::try_from(block) {
            self.0.encrypt_block(block);
        }
    }

    fn encrypt(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        cts_encrypt(&self.0, buf).map_err(|_| self.too_short(buf.len()))
    }

    fn decrypt(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        cts_decrypt(&self.0, buf).map_err(|_| self.too_short(buf.len()))
    }

    fn random_to_key(seed: &[u8]) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(seed.to_vec())
    }
}

/// Computes the RFC 3962 string-to-key without checking the iteration
/// count against the minimum: key = DK(PBKDF2-HMAC-SHA1(password, salt,
/// count, key length), "kerberos").
pub(crate) fn string_to_key<C>(
    password: &[u8],
    salt: &[u8],
    params: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError>
where
    AesCts<C>: BasicCipher,
{
    let count = iteration_count(aes_sha1_enctype(<AesCts<C> as BasicCipher>::SEED), params)?;
    let mut tkey = Zeroizing::new(vec![0u8; <AesCts<C> as BasicCipher>::SEED]);
    pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, count, &mut tkey);
    dk::<AesCts<C>>(&tkey, b"kerberos")
}

pub(crate) static AES128_CTS_HMAC_SHA1_96: SimplifiedProfile<AesCts<Aes128>> = SimplifiedProfile {
    enctype: enctype::AES128_CTS_HMAC_SHA1_96,
    string_to_key: string_to_key::<Aes128>,
    _cipher: PhantomData,
};

pub(crate) static AES256_CTS_HMAC_SHA1_96: SimplifiedProfile<AesCts<Aes256>> = SimplifiedProfile {
    enctype: enctype::AES256_CTS_HMAC_SHA1_96,
    string_to_key: string_to_key::<Aes256>,
    _cipher: PhantomData,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Key;

    /// RFC 3962 appendix B, string-to-key: (password, salt, iteration
    /// count, aes128 key, aes256 key).
    type S2kVector = (
        &'static [u8],
        &'static [u8],
        u32,
        &'static str,
        &'static str,
    );

    const S2K_VECTORS: &[S2kVector] = &[
        (
            b"password",
            b"ATHENA.MIT.EDUraeburn",
            1,
            "42263c6e89f4fc28b8df68ee09799f15",
            "fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161",
        ),
        (
            b"password",
            b"ATHENA.MIT.EDUraeburn",
            2,
            "c651bf29e2300ac27fa469d693bdda13",
            "a2e16d16b36069c135d5e9d2e25f896102685618b95914b467c67622225824ff",
        ),
        (
            b"password",
            b"ATHENA.MIT.EDUraeburn",
            1200,
            "4c01cd46d632d01e6dbe230a01ed642a",
            "55a6ac740ad17b4846941051e1e8b0a7548d93b0ab30a8bc3ff16280382b8c2a",
        ),
        (
            b"password",
            b"\x12\x34\x56\x78\x78\x56\x34\x12",
            5,
            "e9b23d52273747dd5c35cb55be619d8e",
            "97a4e786be20d81a382d5ebc96d5909cabcdadc87ca48f574504159f16c36e31",
        ),
        (
            b"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            b"pass phrase equals block size",
            1200,
            "59d1bb789a828b1aa54ef9c2883f69ed",
            "89adee3608db8bc71f1bfbfe459486b05618b70cbae22092534e56c553ba4b34",
        ),
        (
            b"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            b"pass phrase exceeds block size",
            1200,
            "cb8005dc5f90179a7f02104c0018751d",
            "d78c5c9cb872a8c9dad4697f0bb5b2d21496c82beb2caeda2112fceea057401b",
        ),
        (
            b"\xf0\x9d\x84\x9e",
            b"EXAMPLE.COMpianist",
            50,
            "f149c1f2e154a73452d43e7fe62a56e5",
            "4b6d9839f84406df1f09cc166db4b83c571848b784a3d6bdc346589a3e393f9e",
        ),
    ];

    #[test]
    fn rfc3962_appendix_b_string_to_key() {
        for (password, salt, count, aes128, aes256) in S2K_VECTORS {
            let params = count.to_be_bytes();
            let key = string_to_key::<Aes128>(password, salt, &params).unwrap();
            assert_eq!(hex::encode(&*key), *aes128, "aes128, count {count}");
            let key = string_to_key::<Aes256>(password, salt, &params).unwrap();
            assert_eq!(hex::encode(&*key), *aes256, "aes256, count {count}");
        }
    }

    /// RFC 3962 appendix B, CBC with ciphertext stealing and a zero IV,
    /// AES-128 key "chicken teriyaki".
    #[test]
    fn rfc3962_appendix_b_cts() {
        let plaintext = b"I would like the General Gau's Chicken, please, and wonton soup.";
        let cases: &[(usize, &str)] = &[
            (17, "c6353568f2bf8cb4d8a580362da7ff7f97"),
            (31, "fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5"),
            (32, "39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584"),
            (
                47,
                "97687268d6ecccc0c07b25e25ecfe584b3fffd940c16a18c1b5549d2f838029e39312523a78662d5be7fcbcc98ebf5",
            ),
            (
                48,
                "97687268d6ecccc0c07b25e25ecfe5849dad8bbb96c4cdc03bc103e1a194bbd839312523a78662d5be7fcbcc98ebf5a8",
            ),
            (
                64,
                "97687268d6ecccc0c07b25e25ecfe58439312523a78662d5be7fcbcc98ebf5a84807efe836ee89a526730dbc2f7bc8409dad8bbb96c4cdc03bc103e1a194bbd8",
            ),
        ];
        let cipher = Aes128::new_from_slice(b"chicken teriyaki").unwrap();
        for (len, expected) in cases {
            let mut buf = plaintext[..*len].to_vec();
            cts_encrypt(&cipher, &mut buf).unwrap();
            assert_eq!(hex::encode(&buf), *expected, "encrypt {len} bytes");
            cts_decrypt(&cipher, &mut buf).unwrap();
            assert_eq!(&buf[..], &plaintext[..*len], "decrypt {len} bytes");
        }
    }

    #[test]
    fn cts_single_block_is_ecb() {
        let cipher = Aes128::new_from_slice(b"chicken teriyaki").unwrap();
        let mut buf = [7u8; 16];
        let mut block = Block::<Aes128>::from([7u8; 16]);
        cipher.encrypt_block(&mut block);
        cts_encrypt(&cipher, &mut buf).unwrap();
        assert_eq!(&buf[..], &block[..]);
        cts_decrypt(&cipher, &mut buf).unwrap();
        assert_eq!(buf, [7u8; 16]);
    }

    #[test]
    fn cts_rejects_short_input() {
        let cipher = Aes128::new_from_slice(b"chicken teriyaki").unwrap();
        assert!(cts_encrypt(&cipher, &mut [0u8; 15]).is_err());
        assert!(cts_decrypt(&cipher, &mut [0u8; 0]).is_err());
    }

    #[test]
    fn round_trip_all_lengths() {
        for enctype in [17, 18] {
            let key = Key::random(enctype).unwrap();
            for len in 0..70 {
                let plaintext: Vec<u8> = (0..len as u8).collect();
                let ciphertext = key.encrypt(3, &plaintext).unwrap();
                assert_eq!(ciphertext.len(), 16 + len + 12);
                assert_eq!(key.decrypt(3, &ciphertext).unwrap(), plaintext);
            }
        }
    }

    #[test]
    fn decrypt_detects_tampering() {
        let key = Key::random(18).unwrap();
        let mut ciphertext = key.encrypt(3, b"attack at dawn").unwrap();
        assert_eq!(
            key.decrypt(4, &ciphertext),
            Err(CryptoError::IntegrityCheckFailed)
        );
        ciphertext[5] ^= 1;
        assert_eq!(
            key.decrypt(3, &ciphertext),
            Err(CryptoError::IntegrityCheckFailed)
        );
        assert!(matches!(
            key.decrypt(3, &ciphertext[..27]),
            Err(CryptoError::CiphertextTooShort { .. })
        ));
    }

    #[test]
    fn checksum_round_trip() {
        let key = Key::random(17).unwrap();
        let checksum = key.checksum(6, b"data").unwrap();
        assert_eq!(checksum.cksumtype, 15);
        assert_eq!(checksum.value.len(), 12);
        key.verify_checksum(6, b"data", &checksum).unwrap();
        assert_eq!(
            key.verify_checksum(6, b"datb", &checksum),
            Err(CryptoError::BadChecksum)
        );
        let wrong_type = crate::crypto::Checksum {
            cksumtype: 16,
            value: checksum.value.clone(),
        };
        assert!(matches!(
            key.verify_checksum(6, b"data", &wrong_type),
            Err(CryptoError::ChecksumTypeMismatch { .. })
        ));
    }
}
