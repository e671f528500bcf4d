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

/// Turns 7 random bytes into a DES key (RFC 3961 §6.2.2): the bytes keep
/// their high 7 bits, their low bits fill the eighth byte (that of the
/// first byte just above the parity bit), parity is fixed, and a weak key
/// has its last byte XORed with 0xF0.
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
        let blocks = whole_blocks(buf)?;
        let mut chain = Block::<TdesEde3>::default();
        for block in blocks {
            for (b, c) in block.iter_mut().zip(chain.iter()) {
                *b ^= c;
            }
            self.0.encrypt_block(block);
            chain = *block;
        }
        Ok(())
    }

    fn decrypt(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        let blocks = whole_blocks(buf)?;
        let mut chain = Block::<TdesEde3>::default();
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
