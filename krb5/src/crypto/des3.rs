//! des3-cbc-sha1 (16), RFC 3961 §6.3: the simplified profile over
//! three-key triple DES in CBC mode with HMAC-SHA1, and n-fold string-to-key.
//! Deprecated: compiled only with the `legacy-enctypes` feature.

use std::marker::PhantomData;

use des::cipher::array::Array;
use des::cipher::{Block, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use des::TdesEde3;
use zeroize::Zeroizing;

use super::nfold::nfold;
use super::rfc3961::{dk, BasicCipher, SimplifiedProfile};
use super::CryptoError;
use crate::iana::enctype;

/// Weak and semi-weak DES keys, with odd parity (FIPS 74 §3.6).
const WEAK_KEYS: [[u8; 8]; 16] = [
    [0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01],
    [0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe],
    [0xe0, 0xe0, 0xe0, 0xe0, 0xf1, 0xf1, 0xf1, 0xf1],
    [0x1f, 0x1f, 0x1f, 0x1f, 0x0e, 0x0e, 0x0e, 0x0e],
    [0x01, 0xfe, 0x01, 0xfe, 0x01, 0xfe, 0x01, 0xfe],
    [0xfe, 0x01, 0xfe, 0x01, 0xfe, 0x01, 0xfe, 0x01],
    [0x1f, 0xe0, 0x1f, 0xe0, 0x0e, 0xf1, 0x0e, 0xf1],
    [0xe0, 0x1f, 0xe0, 0x1f, 0xf1, 0x0e, 0xf1, 0x0e],
    [0x01, 0xe0, 0x01, 0xe0, 0x01, 0xf1, 0x01, 0xf1],
    [0xe0, 0x01, 0xe0, 0x01, 0xf1, 0x01, 0xf1, 0x01],
    [0x1f, 0xfe, 0x1f, 0xfe, 0x0e, 0xfe, 0x0e, 0xfe],
    [0xfe, 0x1f, 0xfe, 0x1f, 0xfe, 0x0e, 0xfe, 0x0e],
    [0x01, 0x1f, 0x01, 0x1f, 0x01, 0x0e, 0x01, 0x0e],
    [0x1f, 0x01, 0x1f, 0x01, 0x0e, 0x01, 0x0e, 0x01],
    [0xe0, 0xfe, 0xe0, 0xfe, 0xf1, 0xfe, 0xf1, 0xfe],
    [0xfe, 0xe0, 0xfe, 0xe0, 0xfe, 0xf1, 0xfe, 0xf1],
];

/// Sets the low bit of each byte so that every byte has odd parity.
fn fix_parity(key: &mut [u8]) {
    for byte in key {
        let high = *byte & 0xfe;
        *byte = high | u8::from(high.count_ones() % 2 == 0);
    }
}

/// Turns 7 random bytes into a DES key (RFC 3961 §6.2.2). The 7 bytes keep
/// their high 7 bits, and their low bits fill the eighth byte, the first
/// byte's bit just above the parity bit. Parity is then fixed, and a weak
/// key has its last byte XORed with 0xF0.
fn des_random_to_key(seed: &[u8], out: &mut [u8; 8]) {
    let mut last = 0u8;
    for (i, (&byte, slot)) in seed.iter().zip(out.iter_mut()).enumerate() {
        *slot = byte;
        last |= (byte & 1) << (i + 1);
    }
    out[7] = last;
    fix_parity(out);
    if WEAK_KEYS.contains(out) {
        out[7] ^= 0xf0;
    }
}

/// Triple DES in CBC mode with a zero IV, the basic cipher of des3-cbc-sha1.
pub(crate) struct Des3Cbc(TdesEde3);

impl BasicCipher for Des3Cbc {
    const BLOCK: usize = 8;
    const PADDING: usize = 8;
    const SEED: usize = 21;
    const MAC: usize = 20;

    fn new(key: &[u8]) -> Result<Self, CryptoError> {
        TdesEde3::new_from_slice(key)
            .map(Self)
            .map_err(|_| CryptoError::KeyLength {
                enctype: enctype::DES3_CBC_SHA1,
                actual: key.len(),
                expected: 24,
            })
    }

    fn encrypt_block(&self, block: &mut [u8]) {
        if let Ok(block) = <&mut Block<TdesEde3>>::try_from(block) {
            self.0.encrypt_block(block);
        }
    }

    fn encrypt(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        self.encrypt_cbc(&[0; 8], buf)
    }

    fn decrypt(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        self.decrypt_cbc(&[0; 8], buf)
    }

    /// Turns 21 random bytes into a 24-byte key, 7 bytes per DES key.
    fn random_to_key(seed: &[u8]) -> Zeroizing<Vec<u8>> {
        let mut key = Zeroizing::new(vec![0u8; 24]);
        for (chunk, out) in seed.chunks(7).zip(key.chunks_mut(8)) {
            let mut des_key = Zeroizing::new([0u8; 8]);
            des_random_to_key(chunk, &mut des_key);
            out.copy_from_slice(&des_key[..]);
        }
        key
    }
}

impl Des3Cbc {
    fn encrypt_cbc(&self, iv: &[u8; 8], buf: &mut [u8]) -> Result<(), CryptoError> {
        let blocks = whole_blocks(buf)?;
        let mut chain = Block::<TdesEde3>::from(*iv);
        for block in blocks {
            for (b, c) in block.iter_mut().zip(chain.iter()) {
                *b ^= c;
            }
            self.0.encrypt_block(block);
            chain = *block;
        }
        Ok(())
    }

    fn decrypt_cbc(&self, iv: &[u8; 8], buf: &mut [u8]) -> Result<(), CryptoError> {
        let blocks = whole_blocks(buf)?;
        let mut chain = Block::<TdesEde3>::from(*iv);
        for block in blocks {
            let next_chain = *block;
            self.0.decrypt_block(block);
            for (b, c) in block.iter_mut().zip(chain.iter()) {
                *b ^= c;
            }
            chain = next_chain;
        }
        Ok(())
    }
}

/// Encrypts `buf` in place with triple DES in CBC mode under the 24-byte
/// `key` itself (no key derivation, confounder or checksum) and `iv`. RFC 1964
/// tokens for des3 use this, as MIT krb5's des3-cbc-raw enctype does.
pub(crate) fn raw_cbc_encrypt(key: &[u8], iv: &[u8; 8], buf: &mut [u8]) -> Result<(), CryptoError> {
    Des3Cbc::new(key)?.encrypt_cbc(iv, buf)
}

/// Decrypts what [`raw_cbc_encrypt`] produced.
pub(crate) fn raw_cbc_decrypt(key: &[u8], iv: &[u8; 8], buf: &mut [u8]) -> Result<(), CryptoError> {
    Des3Cbc::new(key)?.decrypt_cbc(iv, buf)
}

fn whole_blocks(buf: &mut [u8]) -> Result<&mut [Block<TdesEde3>], CryptoError> {
    let (blocks, rest) = Array::slice_as_chunks_mut(buf);
    if !rest.is_empty() || blocks.is_empty() {
        return Err(CryptoError::CiphertextLength {
            enctype: enctype::DES3_CBC_SHA1,
            len: blocks.len() * 8 + rest.len(),
            block: 8,
        });
    }
    Ok(blocks)
}

/// Computes the des3-cbc-sha1 string-to-key (RFC 3961 §6.3.1):
/// DK(random-to-key(168-fold(password | salt)), "kerberos").
fn string_to_key(
    password: &[u8],
    salt: &[u8],
    _params: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut input = Zeroizing::new(Vec::with_capacity(password.len() + salt.len()));
    input.extend_from_slice(password);
    input.extend_from_slice(salt);
    let folded = Zeroizing::new(nfold(&input, Des3Cbc::SEED));
    let tkey = Des3Cbc::random_to_key(&folded);
    dk::<Des3Cbc>(&tkey, b"kerberos")
}

pub(crate) static DES3_CBC_SHA1: SimplifiedProfile<Des3Cbc> = SimplifiedProfile {
    enctype: enctype::DES3_CBC_SHA1,
    string_to_key,
    _cipher: PhantomData,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::rfc3961::dr;
    use crate::crypto::Key;

    fn unhex(text: &str) -> Vec<u8> {
        hex::decode(text).unwrap()
    }

    /// RFC 3961 appendix A.3: DES3 DR and DK, as (base key, constant, DK).
    #[test]
    fn rfc3961_appendix_a3_dk() {
        let cases = [
            (
                "dce06b1f64c857a11c3db57c51899b2cc1791008ce973b92",
                "0000000155",
                "925179d04591a79b5d3192c4a7e9c289b049c71f6ee604cd",
            ),
            (
                "5e13d31c70ef765746578531cb51c15bf11ca82c97cee9f2",
                "00000001aa",
                "9e58e5a146d9942a101c469845d67a20e3c4259ed913f207",
            ),
            (
                "98e6fd8a04a4b6859b75a176540b9752bad3ecd610a252bc",
                "0000000155",
                "13fef80d763e94ec6d13fd2ca1d085070249dad39808eabf",
            ),
            (
                "622aec25a2fe2cad7094680b7c64940280084c1a7cec92b5",
                "00000001aa",
                "f8dfbf04b097e6d9dc0702686bcb3489d91fd9a4516b703e",
            ),
            (
                "d3f8298ccb166438dcb9b93ee5a7629286a491f838f802fb",
                "6b65726265726f73",
                "2370da575d2a3da864cebfdc5204d56df779a7df43d9da43",
            ),
            (
                "c1081649ada74362e6a1459d01dfd30d67c2234c940704da",
                "0000000155",
                "348057ec98fdc48016161c2a4c7a943e92ae492c989175f7",
            ),
            (
                "5d154af238f46713155719d55e2f1f790dd661f279a7917c",
                "00000001aa",
                "a8808ac267dada3dcbe9a7c84626fbc761c294b01315e5c1",
            ),
            (
                "798562e049852f57dc8c343ba17f2ca1d97394efc8adc443",
                "0000000155",
                "c813f88a3be3b334f75425ce9175fbe3c8493b89c8703b49",
            ),
            (
                "26dce334b545292f2feab9a8701a89a4b99eb9942cecd016",
                "00000001aa",
                "f48ffd6e83f83e7354e694fd252cf83bfe58f7d5ba37ec5d",
            ),
        ];
        for (base, constant, expected) in cases {
            let derived = dk::<Des3Cbc>(&unhex(base), &unhex(constant)).unwrap();
            assert_eq!(hex::encode(&*derived), expected, "base key {base}");
        }

        let random = dr::<Des3Cbc>(
            &unhex("dce06b1f64c857a11c3db57c51899b2cc1791008ce973b92"),
            &unhex("0000000155"),
        )
        .unwrap();
        assert_eq!(
            hex::encode(&*random),
            "935079d14490a75c3093c4a6e8c3b049c71e6ee705"
        );
    }

    /// RFC 3961 appendix A.4: DES3 string-to-key.
    #[test]
    fn rfc3961_appendix_a4_string_to_key() {
        let cases: [(&[u8], &[u8], &str); 5] = [
            (
                b"password",
                b"ATHENA.MIT.EDUraeburn",
                "850bb51358548cd05e86768c313e3bfef7511937dcf72c3e",
            ),
            (
                b"potatoe",
                b"WHITEHOUSE.GOVdanny",
                "dfcd233dd0a43204ea6dc437fb15e061b02979c1f74f377a",
            ),
            (
                b"penny",
                b"EXAMPLE.COMbuckaroo",
                "6d2fcdf2d6fbbc3ddcadb5da5710a23489b0d3b69d5d9d4a",
            ),
            (
                "\u{df}".as_bytes(),
                "ATHENA.MIT.EDUJuri\u{161}i\u{107}".as_bytes(),
                "16d5a40e1ce3bacb61b9dce00470324c831973a7b952feb0",
            ),
            (
                b"\xf0\x9d\x84\x9e",
                b"EXAMPLE.COMpianist",
                "85763726585dbc1cce6ec43e1f751f07f1c4cbb098f40b19",
            ),
        ];
        for (password, salt, expected) in cases {
            let key = Key::from_password(16, password, salt, None).unwrap();
            assert_eq!(hex::encode(key.bytes()), expected);
        }
    }

    // Known-answer tests. tests/mit_crypto.rs checks the same operations
    // against MIT krb5 at run time.

    #[test]
    fn encrypt_known_answer() {
        let key = Key::new(
            16,
            unhex("0dd52094e0f41ceccb5be510a764b35176e3981332f1e598"),
        )
        .unwrap();
        let ciphertext = key
            .encrypt_with_confounder(3, &unhex("94690a17b2da3c9b"), b"13 bytes byte")
            .unwrap();
        assert_eq!(
            hex::encode(&ciphertext),
            "839a17081ecbafbcdc91b88c6955dd3c4514023cf177b77bf0d0177a16f705e849cb7781d76a316b193f8d30"
        );
    }

    #[test]
    fn checksum_known_answer() {
        let key = Key::new(
            16,
            unhex("7a25df8992296dceda0e135bc4046e2375b3c14c98fbc162"),
        )
        .unwrap();
        let checksum = key.checksum(2, b"six seven").unwrap();
        assert_eq!(checksum.cksumtype, 12);
        assert_eq!(
            hex::encode(&checksum.value),
            "0eefc9c3e049aabc1ba5c401677d9ab699082bb4"
        );
    }

    #[test]
    fn random_to_key_fixes_weak_keys() {
        let mut key = [0u8; 8];
        des_random_to_key(&[0; 7], &mut key);
        assert_eq!(key, [0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0xf1]);
    }

    #[test]
    fn decrypt_rejects_partial_block() {
        let key = Key::random(16).unwrap();
        let ciphertext = key.encrypt(3, b"13 bytes byte").unwrap();
        assert_eq!(ciphertext.len(), 24 + 20);
        assert!(matches!(
            key.decrypt(3, &ciphertext[1..]),
            Err(CryptoError::CiphertextLength { .. })
        ));
        assert_eq!(key.decrypt(3, &ciphertext).unwrap(), b"13 bytes byte\0\0\0");
    }
}
