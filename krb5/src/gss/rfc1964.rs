//! RFC 1964 §1.2 per-message tokens for the two enctypes older than
//! RFC 4121 that a context may still use: des3-cbc-sha1 (16) and rc4-hmac
//! (23, RFC 4757 §7.2 and §7.3).
//!
//! ```text
//! [0x60 framing] TOK_ID | SGN_ALG | SEAL_ALG | ff ff | SND_SEQ (8) | SGN_CKSUM
//!                [Wrap only: confounder (8) | message | padding]
//! ```
//!
//! TOK_ID is 01 01 for a MIC token and 02 01 for a Wrap token. SGN_ALG is
//! 04 00 (HMAC-SHA1 with a des3 derived key) or 11 00 (HMAC-MD5). SEAL_ALG is
//! 02 00 (des3) or 10 00 (RC4) in a sealed Wrap token and ff ff otherwise.
//! The facts below follow MIT krb5's `k5seal.c` and `k5unseal.c`, and
//! tests/gss_mit_legacy.rs checks them against MIT krb5 1.20:
//!
//! * SGN_CKSUM covers the 8 bytes from TOK_ID to the filler, followed by the
//!   message (MIC) or by confounder, message and padding before encryption
//!   (Wrap). des3 uses hmac-sha1-des3-kd (12) with key usage 23, all 20
//!   bytes. rc4-hmac uses hmac-md5 (-138) with usage 15 for a MIC token and
//!   23 (13 after RFC 4757's usage mapping) for a Wrap token, cut to 8 bytes.
//! * SND_SEQ is the encryption of the 32-bit sequence number followed by four
//!   direction bytes, 00 when the initiator sends and ff when the acceptor
//!   sends. des3 writes the number little-endian and encrypts with triple
//!   DES in CBC mode under the context key itself, with the first 8 bytes of
//!   SGN_CKSUM as IV. rc4-hmac writes it big-endian and applies RC4 keyed
//!   from the context key and SGN_CKSUM.
//! * des3 pads to a multiple of 8 bytes with 1 to 8 bytes that each contain
//!   the pad length, and seals with triple DES in CBC mode under the context
//!   key with a zero IV. rc4-hmac pads with one byte 01 and seals confounder,
//!   message and padding in one RC4 stream keyed from the context key XOR f0
//!   and the big-endian sequence number.
//!
//! Tokens are sent inside the RFC 2743 framing with the krb5 OID, as MIT does.
//! MIT also accepts them without the framing, and so does this module.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::status::{major, GssError};
use super::token::{self, FramingError, KRB5_OID};
use super::wrap::Unwrapped;
use crate::crypto::{self, Checksum, CryptoError, Key};
use crate::iana::{cksumtype, enctype};

const TOK_ID_MIC: [u8; 2] = [0x01, 0x01];
const TOK_ID_WRAP: [u8; 2] = [0x02, 0x01];
const NOT_SEALED: [u8; 2] = [0xff, 0xff];
const FILLER: [u8; 2] = [0xff, 0xff];
/// TOK_ID, SGN_ALG, SEAL_ALG and filler: the bytes the checksum covers.
const HEADER_LEN: usize = 8;
const SND_SEQ_LEN: usize = 8;
const CONFOUNDER_LEN: usize = 8;
/// Key usage of every des3 checksum and of the rc4-hmac Wrap checksum.
const USAGE_SIGN: u32 = 23;
/// Key usage of the rc4-hmac MIC checksum.
const USAGE_RC4_MIC: u32 = 15;

/// Errors from making or reading an RFC 1964 token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rfc1964Error {
    #[error("enctype {0} has no RFC 1964 token; only des3-cbc-sha1 (16) and rc4-hmac (23) do")]
    UnsupportedEnctype(i32),
    #[error(transparent)]
    Framing(#[from] FramingError),
    #[error("RFC 1964 token is {actual} bytes after its framing, shorter than the {min} bytes of its header and checksum")]
    TooShort { actual: usize, min: usize },
    #[error("RFC 1964 token has TOK_ID {actual:02x?}, expected {expected:02x?}")]
    BadTokId { actual: [u8; 2], expected: [u8; 2] },
    #[error(
        "RFC 1964 token has {field} {actual:02x?}, expected {expected:02x?} for enctype {enctype}"
    )]
    BadAlgorithm {
        field: &'static str,
        actual: [u8; 2],
        expected: [u8; 2],
        enctype: i32,
    },
    #[error("RFC 1964 token filler is {0:02x?}, expected ff ff")]
    BadFiller([u8; 2]),
    #[error("RFC 1964 Wrap token carries {len} bytes of data, too few for the 8-byte confounder and the padding")]
    DataTooShort { len: usize },
    #[error(
        "sealed des3 Wrap token carries {len} bytes of data, not a multiple of the 8-byte block"
    )]
    DataNotBlocks { len: usize },
    #[error("RFC 1964 Wrap token ends with pad length {pad}, not valid for {len} bytes of data with an 8-byte confounder")]
    BadPadding { pad: u8, len: usize },
    #[error("RFC 1964 token checksum does not verify (GSS_S_BAD_SIG)")]
    BadSignature,
    #[error("RFC 1964 token direction bytes are {actual:02x?}, expected four {expected:#04x} bytes from the peer (GSS_S_BAD_SIG)")]
    BadDirection { actual: [u8; 4], expected: u8 },
    #[error(transparent)]
    Crypto(CryptoError),
}

impl Rfc1964Error {
    /// Returns the GSS major status that reports this error, as MIT does.
    pub fn major(&self) -> u32 {
        match self {
            Self::BadSignature | Self::BadDirection { .. } => major::BAD_SIG,
            Self::UnsupportedEnctype(_) | Self::Crypto(_) => major::FAILURE,
            _ => major::DEFECTIVE_TOKEN,
        }
    }
}

impl From<Rfc1964Error> for GssError {
    fn from(error: Rfc1964Error) -> Self {
        GssError::new(error.major(), 0, error.to_string())
    }
}

/// The algorithm bytes and sizes that one enctype uses.
#[derive(Clone, Copy)]
struct Algorithm {
    enctype: i32,
    sgn_alg: [u8; 2],
    seal_alg: [u8; 2],
    cksum_len: usize,
}

const DES3: Algorithm = Algorithm {
    enctype: enctype::DES3_CBC_SHA1,
    sgn_alg: [0x04, 0x00],
    seal_alg: [0x02, 0x00],
    cksum_len: 20,
};

const RC4: Algorithm = Algorithm {
    enctype: enctype::RC4_HMAC,
    sgn_alg: [0x11, 0x00],
    seal_alg: [0x10, 0x00],
    cksum_len: 8,
};

/// Returns true if contexts with keys of `enctype` use RFC 1964 tokens.
pub fn uses_rfc1964(enctype: i32) -> bool {
    algorithm(enctype).is_ok()
}

fn algorithm(enctype: i32) -> Result<Algorithm, Rfc1964Error> {
    match enctype {
        enctype::DES3_CBC_SHA1 => Ok(DES3),
        enctype::RC4_HMAC => Ok(RC4),
        other => Err(Rfc1964Error::UnsupportedEnctype(other)),
    }
}

fn direction_byte(sent_by_acceptor: bool) -> u8 {
    if sent_by_acceptor {
        0xff
    } else {
        0x00
    }
}

fn header(tok_id: [u8; 2], alg: &Algorithm, seal_alg: [u8; 2]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..2].copy_from_slice(&tok_id);
    h[2..4].copy_from_slice(&alg.sgn_alg);
    h[4..6].copy_from_slice(&seal_alg);
    h[6..8].copy_from_slice(&FILLER);
    h
}

/// Computes SGN_CKSUM over `header | data`.
fn checksum(
    key: &Key,
    alg: &Algorithm,
    is_mic: bool,
    header: &[u8; HEADER_LEN],
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Rfc1964Error> {
    let usage = if alg.enctype == enctype::RC4_HMAC && is_mic {
        USAGE_RC4_MIC
    } else {
        USAGE_SIGN
    };
    let mut input = Zeroizing::new(Vec::with_capacity(HEADER_LEN + data.len()));
    input.extend_from_slice(header);
    input.extend_from_slice(data);
    let Checksum { cksumtype, value } =
        key.checksum(usage, &input).map_err(Rfc1964Error::Crypto)?;
    let expected_type = match alg.enctype {
        enctype::DES3_CBC_SHA1 => cksumtype::HMAC_SHA1_DES3_KD,
        _ => cksumtype::HMAC_MD5,
    };
    if cksumtype != expected_type || value.len() < alg.cksum_len {
        return Err(Rfc1964Error::Crypto(CryptoError::UnsupportedChecksum(
            cksumtype,
        )));
    }
    Ok(Zeroizing::new(value[..alg.cksum_len].to_vec()))
}

/// Encrypts the sequence number and direction into SND_SEQ.
fn seal_seq(
    key: &Key,
    alg: &Algorithm,
    seq: u32,
    sent_by_acceptor: bool,
    cksum: &[u8],
) -> Result<[u8; SND_SEQ_LEN], Rfc1964Error> {
    let mut plain = [direction_byte(sent_by_acceptor); SND_SEQ_LEN];
    if alg.enctype == enctype::RC4_HMAC {
        plain[..4].copy_from_slice(&seq.to_be_bytes());
        crypto::gss_rc4(key.bytes(), cksum, &mut plain).map_err(Rfc1964Error::Crypto)?;
    } else {
        plain[..4].copy_from_slice(&seq.to_le_bytes());
        crypto::des3_raw_cbc_encrypt(key.bytes(), &iv_from(cksum), &mut plain)
            .map_err(Rfc1964Error::Crypto)?;
    }
    Ok(plain)
}

/// Decrypts SND_SEQ and returns the sequence number and direction bytes.
fn open_seq(
    key: &Key,
    alg: &Algorithm,
    snd_seq: &[u8],
    cksum: &[u8],
) -> Result<(u32, [u8; 4]), Rfc1964Error> {
    let mut plain = [0u8; SND_SEQ_LEN];
    plain.copy_from_slice(snd_seq);
    let mut number = [0u8; 4];
    let mut direction = [0u8; 4];
    if alg.enctype == enctype::RC4_HMAC {
        crypto::gss_rc4(key.bytes(), cksum, &mut plain).map_err(Rfc1964Error::Crypto)?;
        number.copy_from_slice(&plain[..4]);
        direction.copy_from_slice(&plain[4..]);
        return Ok((u32::from_be_bytes(number), direction));
    }
    crypto::des3_raw_cbc_decrypt(key.bytes(), &iv_from(cksum), &mut plain)
        .map_err(Rfc1964Error::Crypto)?;
    number.copy_from_slice(&plain[..4]);
    direction.copy_from_slice(&plain[4..]);
    Ok((u32::from_le_bytes(number), direction))
}

fn iv_from(cksum: &[u8]) -> [u8; 8] {
    let mut iv = [0u8; 8];
    iv.copy_from_slice(&cksum[..8]);
    iv
}

fn check_direction(direction: [u8; 4], sent_by_acceptor: bool) -> Result<(), Rfc1964Error> {
    let expected = direction_byte(sent_by_acceptor);
    if direction != [expected; 4] {
        return Err(Rfc1964Error::BadDirection {
            actual: direction,
            expected,
        });
    }
    Ok(())
}

/// Applies the rc4-hmac Wrap cipher: RC4 keyed from the context key XOR f0
/// and the big-endian sequence number (RFC 4757 §7.3).
fn rc4_seal_data(key: &Key, seq: u32, data: &mut [u8]) -> Result<(), Rfc1964Error> {
    let local: Zeroizing<Vec<u8>> = Zeroizing::new(key.bytes().iter().map(|b| b ^ 0xf0).collect());
    crypto::gss_rc4(&local, &seq.to_be_bytes(), data).map_err(Rfc1964Error::Crypto)
}

/// Removes the optional RFC 2743 framing and checks TOK_ID.
fn inner_token(token: &[u8], tok_id: [u8; 2]) -> Result<&[u8], Rfc1964Error> {
    let (actual, body) = if token.first() == Some(&0x60) {
        token::unwrap_krb5(token)?
    } else if token.len() >= 2 {
        ([token[0], token[1]], &token[2..])
    } else {
        return Err(Rfc1964Error::TooShort {
            actual: token.len(),
            min: 2,
        });
    };
    if actual != tok_id {
        return Err(Rfc1964Error::BadTokId {
            actual,
            expected: tok_id,
        });
    }
    Ok(body)
}

/// The parsed fixed part of a received token.
struct Received<'a> {
    header: [u8; HEADER_LEN],
    seal_alg: [u8; 2],
    snd_seq: &'a [u8],
    cksum: &'a [u8],
    data: &'a [u8],
}

/// Splits the body after TOK_ID and checks SGN_ALG, SEAL_ALG and the filler.
fn parse<'a>(
    alg: &Algorithm,
    tok_id: [u8; 2],
    body: &'a [u8],
) -> Result<Received<'a>, Rfc1964Error> {
    let fixed = HEADER_LEN - 2 + SND_SEQ_LEN + alg.cksum_len;
    if body.len() < fixed {
        return Err(Rfc1964Error::TooShort {
            actual: body.len() + 2,
            min: fixed + 2,
        });
    }

    let sgn_alg = [body[0], body[1]];
    let seal_alg = [body[2], body[3]];
    let filler = [body[4], body[5]];

    if sgn_alg != alg.sgn_alg {
        return Err(Rfc1964Error::BadAlgorithm {
            field: "SGN_ALG",
            actual: sgn_alg,
            expected: alg.sgn_alg,
            enctype: alg.enctype,
        });
    }

    let sealed_allowed = tok_id == TOK_ID_WRAP && seal_alg == alg.seal_alg;
    if seal_alg != NOT_SEALED && !sealed_allowed {
        let expected = if tok_id == TOK_ID_WRAP {
            alg.seal_alg
        } else {
            NOT_SEALED
        };
        return Err(Rfc1964Error::BadAlgorithm {
            field: "SEAL_ALG",
            actual: seal_alg,
            expected,
            enctype: alg.enctype,
        });
    }
    if filler != FILLER {
        return Err(Rfc1964Error::BadFiller(filler));
    }

    let mut header = [0u8; HEADER_LEN];
    header[..2].copy_from_slice(&tok_id);
    header[2..].copy_from_slice(&body[..6]);
    let (snd_seq, rest) = body[6..].split_at(SND_SEQ_LEN);
    let (cksum, data) = rest.split_at(alg.cksum_len);
    Ok(Received {
        header,
        seal_alg,
        snd_seq,
        cksum,
        data,
    })
}

fn verify_checksum(expected: &[u8], received: &[u8]) -> Result<(), Rfc1964Error> {
    if bool::from(expected.ct_eq(received)) {
        Ok(())
    } else {
        Err(Rfc1964Error::BadSignature)
    }
}

/// Makes a framed MIC token over `message`. Only the low 32 bits of `seq`
/// are sent, because SND_SEQ contains a 32-bit number.
pub fn get_mic(
    key: &Key,
    sent_by_acceptor: bool,
    seq: u64,
    message: &[u8],
) -> Result<Vec<u8>, Rfc1964Error> {
    let alg = algorithm(key.enctype())?;
    let header = header(TOK_ID_MIC, &alg, NOT_SEALED);
    let cksum = checksum(key, &alg, true, &header, message)?;
    let snd_seq = seal_seq(key, &alg, seq as u32, sent_by_acceptor, &cksum)?;

    let mut body = Vec::with_capacity(HEADER_LEN - 2 + SND_SEQ_LEN + cksum.len());
    body.extend_from_slice(&header[2..]);
    body.extend_from_slice(&snd_seq);
    body.extend_from_slice(&cksum);
    Ok(token::wrap(KRB5_OID, TOK_ID_MIC, &body))
}

/// Verifies the peer's MIC token over `message` and returns its sequence
/// number. `sent_by_acceptor` is true when the peer is the acceptor.
pub fn verify_mic(
    key: &Key,
    sent_by_acceptor: bool,
    message: &[u8],
    token: &[u8],
) -> Result<u64, Rfc1964Error> {
    let alg = algorithm(key.enctype())?;
    let body = inner_token(token, TOK_ID_MIC)?;
    let received = parse(&alg, TOK_ID_MIC, body)?;
    // Bytes after SGN_CKSUM are ignored, as MIT krb5 1.20 ignores them. No
    // checksum covers them, so they cannot change what the token proves.
    let expected = checksum(key, &alg, true, &received.header, message)?;
    verify_checksum(&expected, received.cksum)?;
    let (seq, direction) = open_seq(key, &alg, received.snd_seq, received.cksum)?;
    check_direction(direction, sent_by_acceptor)?;
    Ok(seq.into())
}

/// Makes a framed Wrap token over `message`, sealed when `seal` is true.
/// Only the low 32 bits of `seq` are sent.
pub fn wrap(
    key: &Key,
    sent_by_acceptor: bool,
    seq: u64,
    seal: bool,
    message: &[u8],
) -> Result<Vec<u8>, Rfc1964Error> {
    let mut confounder = Zeroizing::new([0u8; CONFOUNDER_LEN]);
    crypto::fill_random(&mut confounder[..]).map_err(Rfc1964Error::Crypto)?;
    wrap_with_confounder(key, sent_by_acceptor, seq, seal, message, &confounder)
}

fn wrap_with_confounder(
    key: &Key,
    sent_by_acceptor: bool,
    seq: u64,
    seal: bool,
    message: &[u8],
    confounder: &[u8; CONFOUNDER_LEN],
) -> Result<Vec<u8>, Rfc1964Error> {
    let alg = algorithm(key.enctype())?;
    let seq = seq as u32;
    let seal_alg = if seal { alg.seal_alg } else { NOT_SEALED };
    let header = header(TOK_ID_WRAP, &alg, seal_alg);

    let pad = if alg.enctype == enctype::RC4_HMAC {
        1
    } else {
        8 - message.len() % 8
    };
    let mut data = Zeroizing::new(Vec::with_capacity(CONFOUNDER_LEN + message.len() + pad));
    data.extend_from_slice(confounder);
    data.extend_from_slice(message);
    let padded_len = data.len() + pad;
    data.resize(padded_len, pad as u8);

    let cksum = checksum(key, &alg, false, &header, &data)?;
    let snd_seq = seal_seq(key, &alg, seq, sent_by_acceptor, &cksum)?;
    if seal {
        if alg.enctype == enctype::RC4_HMAC {
            rc4_seal_data(key, seq, &mut data)?;
        } else {
            crypto::des3_raw_cbc_encrypt(key.bytes(), &[0; 8], &mut data)
                .map_err(Rfc1964Error::Crypto)?;
        }
    }

    let mut body = Vec::with_capacity(HEADER_LEN - 2 + SND_SEQ_LEN + cksum.len() + data.len());
    body.extend_from_slice(&header[2..]);
    body.extend_from_slice(&snd_seq);
    body.extend_from_slice(&cksum);
    body.extend_from_slice(&data);
    Ok(token::wrap(KRB5_OID, TOK_ID_WRAP, &body))
}

/// Checks and opens the peer's Wrap token. `sent_by_acceptor` is true when
/// the peer is the acceptor.
pub fn unwrap(key: &Key, sent_by_acceptor: bool, token: &[u8]) -> Result<Unwrapped, Rfc1964Error> {
    let alg = algorithm(key.enctype())?;
    let body = inner_token(token, TOK_ID_WRAP)?;
    let received = parse(&alg, TOK_ID_WRAP, body)?;
    let sealed = received.seal_alg != NOT_SEALED;
    let len = received.data.len();
    if len < CONFOUNDER_LEN + 1 {
        return Err(Rfc1964Error::DataTooShort { len });
    }
    if sealed && alg.enctype == enctype::DES3_CBC_SHA1 && len % 8 != 0 {
        return Err(Rfc1964Error::DataNotBlocks { len });
    }

    let (seq, direction) = open_seq(key, &alg, received.snd_seq, received.cksum)?;
    let mut data = Zeroizing::new(received.data.to_vec());
    if sealed {
        if alg.enctype == enctype::RC4_HMAC {
            rc4_seal_data(key, seq, &mut data)?;
        } else {
            crypto::des3_raw_cbc_decrypt(key.bytes(), &[0; 8], &mut data)
                .map_err(Rfc1964Error::Crypto)?;
        }
    }
    let expected = checksum(key, &alg, false, &received.header, &data)?;
    verify_checksum(&expected, received.cksum)?;
    check_direction(direction, sent_by_acceptor)?;

    let pad = data[len - 1];
    if pad == 0 || usize::from(pad) > len - CONFOUNDER_LEN {
        return Err(Rfc1964Error::BadPadding { pad, len });
    }
    Ok(Unwrapped {
        message: data[CONFOUNDER_LEN..len - usize::from(pad)].to_vec(),
        sealed,
        seq: seq.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gss::context::EstablishedContext;
    use crate::gss::sequence::SequenceState;
    use crate::principal::Principal;

    const DES3_KEY: &str = "7a25df8992296dceda0e135bc4046e2375b3c14c98fbc162";
    const RC4_KEY: &str = "f7d3a155af5e238a0b7a871a96ba2ab2";
    const CONFOUNDER: [u8; 8] = *b"confound";

    fn key(enctype: i32) -> Key {
        let bytes = match enctype {
            enctype::DES3_CBC_SHA1 => DES3_KEY,
            _ => RC4_KEY,
        };
        Key::new(enctype, hex::decode(bytes).unwrap()).unwrap()
    }

    /// Returns every way to make a token: MIC, then Wrap sealed or not.
    fn tokens(key: &Key, sent_by_acceptor: bool, message: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("MIC", get_mic(key, sent_by_acceptor, 7, message).unwrap()),
            (
                "sealed Wrap",
                wrap(key, sent_by_acceptor, 7, true, message).unwrap(),
            ),
            (
                "integrity-only Wrap",
                wrap(key, sent_by_acceptor, 7, false, message).unwrap(),
            ),
        ]
    }

    fn check(
        key: &Key,
        kind: &str,
        sent_by_acceptor: bool,
        message: &[u8],
        token: &[u8],
    ) -> Result<u64, Rfc1964Error> {
        if kind == "MIC" {
            verify_mic(key, sent_by_acceptor, message, token)
        } else {
            let opened = unwrap(key, sent_by_acceptor, token)?;
            assert_eq!(opened.message, message, "{kind}");
            assert_eq!(opened.sealed, kind == "sealed Wrap");
            Ok(opened.seq)
        }
    }

    #[test]
    fn round_trip_both_enctypes_and_directions() {
        for enctype in [16, 23] {
            let key = key(enctype);
            for sent_by_acceptor in [false, true] {
                for len in [0usize, 1, 7, 8, 9, 16, 100] {
                    let message: Vec<u8> = (0..len as u8).collect();
                    for (kind, token) in tokens(&key, sent_by_acceptor, &message) {
                        let seq = check(&key, kind, sent_by_acceptor, &message, &token);
                        assert_eq!(seq, Ok(7), "enctype {enctype} {kind} of {len} bytes");
                    }
                }
            }
        }
    }

    #[test]
    fn token_layout() {
        let cases = [
            (16, [0x04, 0x00], [0x02, 0x00], 20, 8),
            (23, [0x11, 0x00], [0x10, 0x00], 8, 1),
        ];
        for (enctype, sgn_alg, seal_alg, cksum_len, pad) in cases {
            let key = key(enctype);
            let mic = get_mic(&key, false, 1, b"abc").unwrap();
            let (tok_id, body) = token::unwrap_krb5(&mic).unwrap();
            assert_eq!(tok_id, TOK_ID_MIC);
            assert_eq!(
                &body[..6],
                &[sgn_alg[0], sgn_alg[1], 0xff, 0xff, 0xff, 0xff]
            );
            assert_eq!(body.len(), 6 + 8 + cksum_len, "enctype {enctype} MIC");

            let sealed = wrap(&key, false, 1, true, b"").unwrap();
            let (tok_id, body) = token::unwrap_krb5(&sealed).unwrap();
            assert_eq!(tok_id, TOK_ID_WRAP);
            assert_eq!(
                &body[..6],
                &[sgn_alg[0], sgn_alg[1], seal_alg[0], seal_alg[1], 0xff, 0xff]
            );
            assert_eq!(body.len(), 6 + 8 + cksum_len + 8 + pad);

            let plain = wrap_with_confounder(&key, false, 1, false, b"hi", &CONFOUNDER).unwrap();
            let (_, body) = token::unwrap_krb5(&plain).unwrap();
            assert_eq!(&body[2..4], &[0xff, 0xff]);
            let data = &body[6 + 8 + cksum_len..];
            assert_eq!(&data[..8], &CONFOUNDER);
            assert_eq!(&data[8..10], b"hi");
            let pad = if enctype == 16 { 6 } else { 1 };
            assert_eq!(&data[10..], vec![pad as u8; pad].as_slice());
        }
    }

    // Known answers computed by this module, to pin the byte layout.
    // tests/gss_mit_legacy.rs checks tokens of this format against MIT
    // krb5 1.20 at run time.
    #[test]
    fn known_answers() {
        let cases = [
            (16, "MIC", "602f06092a864886f71201020201010400ffffffff3a36ce898a800e18c361d1b7c09f5acd594807e8ef223531e43fff51"),
            (16, "sealed Wrap", "604706092a864886f712010202020104000200ffff56b4921e6bf26cee5c3072bc60da2b7803363e6e6644d173ce4edc414bc3e285cce01348b306409c394c4ab7d83902d40a3b5cd1"),
            (23, "MIC", "602306092a864886f71201020201011100ffffffff265697fea581b9450d960ec92a70e0b5"),
            (23, "sealed Wrap", "603806092a864886f712010202020111001000ffff8781f0f56d1315fe85e5fe972767da40775ece35a292146cd879979d03f1940a35838181fb"),
        ];
        for (enctype, kind, expected) in cases {
            let key = key(enctype);
            let token = if kind == "MIC" {
                get_mic(&key, true, 0x0102_0304, b"known answer").unwrap()
            } else {
                wrap_with_confounder(&key, true, 0x0102_0304, true, b"known answer", &CONFOUNDER)
                    .unwrap()
            };
            assert_eq!(hex::encode(&token), expected, "enctype {enctype} {kind}");
        }
    }

    #[test]
    fn every_changed_byte_is_rejected() {
        for enctype in [16, 23] {
            let key = key(enctype);
            for (kind, token) in tokens(&key, false, b"tamper with me") {
                let snd_seq = token.len() - token::unwrap_krb5(&token).unwrap().1.len() + 6;
                for i in 0..token.len() {
                    let mut bad = token.clone();
                    bad[i] ^= 0x01;
                    let result = check(&key, kind, false, b"tamper with me", &bad);
                    // No checksum covers SND_SEQ. Under RC4 a changed bit in
                    // its number part only changes the number, which the
                    // receive window then judges, as with MIT krb5.
                    if (snd_seq..snd_seq + 4).contains(&i) && result.is_ok() {
                        assert_eq!(enctype, 23, "{kind} byte {i}");
                        assert_ne!(result, Ok(7), "{kind} byte {i}");
                        continue;
                    }
                    assert!(result.is_err(), "enctype {enctype} {kind} byte {i}");
                }
            }
        }
    }

    #[test]
    fn every_truncation_is_rejected() {
        for enctype in [16, 23] {
            let key = key(enctype);
            for (kind, token) in tokens(&key, true, b"cut me short") {
                for len in 0..token.len() {
                    let result = check(&key, kind, true, b"cut me short", &token[..len]);
                    assert!(result.is_err(), "enctype {enctype} {kind} cut to {len}");
                }
            }
        }
    }

    #[test]
    fn wrong_direction_is_rejected() {
        for enctype in [16, 23] {
            let key = key(enctype);
            for (kind, token) in tokens(&key, false, b"reflected") {
                let error = check(&key, kind, true, b"reflected", &token).unwrap_err();
                assert_eq!(
                    error,
                    Rfc1964Error::BadDirection {
                        actual: [0; 4],
                        expected: 0xff
                    },
                    "enctype {enctype} {kind}"
                );
                assert_eq!(error.major(), major::BAD_SIG);
            }
        }
    }

    #[test]
    fn wrong_message_is_bad_signature() {
        for enctype in [16, 23] {
            let key = key(enctype);
            let mic = get_mic(&key, false, 3, b"signed").unwrap();
            let error = verify_mic(&key, false, b"other", &mic).unwrap_err();
            assert_eq!(error, Rfc1964Error::BadSignature);
            assert_eq!(error.major(), major::BAD_SIG);
        }
    }

    #[test]
    fn unframed_tokens_are_accepted() {
        for enctype in [16, 23] {
            let key = key(enctype);
            for (kind, token) in tokens(&key, true, b"bare") {
                let (tok_id, body) = token::unwrap_krb5(&token).unwrap();
                let mut bare = tok_id.to_vec();
                bare.extend_from_slice(body);
                assert_eq!(check(&key, kind, true, b"bare", &bare), Ok(7), "{kind}");
            }
        }
    }

    #[test]
    fn mic_and_wrap_tokens_are_not_interchangeable() {
        let key = key(16);
        let mic = get_mic(&key, false, 1, b"x").unwrap();
        let sealed = wrap(&key, false, 1, true, b"x").unwrap();
        assert!(matches!(
            unwrap(&key, false, &mic),
            Err(Rfc1964Error::BadTokId { .. })
        ));
        assert!(matches!(
            verify_mic(&key, false, b"x", &sealed),
            Err(Rfc1964Error::BadTokId { .. })
        ));
    }

    #[test]
    fn sequence_number_keeps_low_32_bits() {
        for enctype in [16, 23] {
            let key = key(enctype);
            let mic = get_mic(&key, false, 0x1_8000_0005, b"m").unwrap();
            assert_eq!(verify_mic(&key, false, b"m", &mic), Ok(0x8000_0005));
        }
    }

    #[test]
    fn other_enctypes_are_unsupported() {
        let key = Key::new(18, vec![0; 32]).unwrap();
        assert_eq!(
            get_mic(&key, false, 0, b"m"),
            Err(Rfc1964Error::UnsupportedEnctype(18))
        );
        assert!(!uses_rfc1964(18));
    }

    fn context(enctype: i32, initiator: bool) -> EstablishedContext {
        EstablishedContext {
            initiator,
            initiator_name: Principal::new(vec!["user"], "EXAMPLE.COM"),
            acceptor_name: Principal::new(vec!["nfs", "server"], "EXAMPLE.COM"),
            key: key(enctype),
            acceptor_subkey: false,
            flags: 0,
            seq_send: 10,
            seq_recv: 20,
            endtime: 0,
            sequence: SequenceState::new(10, 20, 0),
        }
    }

    #[test]
    fn receive_window_follows_32_bit_wrap() {
        let flags = crate::gss::checksum::flags::REPLAY | crate::gss::checksum::flags::SEQUENCE;
        for enctype in [16, 23] {
            let mut initiator = context(enctype, true);
            let mut acceptor = context(enctype, false);
            initiator.sequence = SequenceState::new(u64::from(u32::MAX), 0, flags);
            acceptor.sequence = SequenceState::new(0, u64::from(u32::MAX), flags);

            let last = initiator.get_mic_sequenced(b"before").unwrap();
            let wrapped = initiator.wrap_sequenced(true, b"after").unwrap();
            assert_eq!(acceptor.verify_mic_sequenced(b"before", &last), Ok(0));
            let (opened, status) = acceptor.unwrap_sequenced(&wrapped).unwrap();
            assert_eq!(opened.seq, 0, "enctype {enctype}");
            assert_eq!(status, 0, "enctype {enctype}");
            let (_, status) = acceptor.unwrap_sequenced(&wrapped).unwrap();
            assert_eq!(status, major::DUPLICATE_TOKEN, "enctype {enctype}");
        }
    }

    #[test]
    fn context_dispatches_legacy_enctypes() {
        for enctype in [16, 23] {
            let initiator = context(enctype, true);
            let acceptor = context(enctype, false);

            let mic = initiator.get_mic(10, b"call").unwrap();
            assert_eq!(&token::unwrap_krb5(&mic).unwrap().0, &TOK_ID_MIC);
            assert_eq!(acceptor.verify_mic(b"call", &mic), Ok(10));
            let error = initiator.verify_mic(b"call", &mic).unwrap_err();
            assert_eq!(error.major(), major::BAD_SIG);

            let reply = acceptor.wrap(20, true, b"reply").unwrap();
            let opened = initiator.unwrap(&reply).unwrap();
            assert_eq!((opened.message.as_slice(), opened.seq), (&b"reply"[..], 20));
            assert!(opened.sealed);
        }
    }
}
