//! RFC 4121 §4.2.6.2 Wrap tokens, sealed (encrypted) or integrity-only.
//!
//! ```text
//! 05 04 | flags | ff | EC (2 bytes) | RRC (2 bytes) | SND_SEQ (8 bytes) | body
//! ```
//!
//! Both kinds use the key usage of a Wrap token: 22 when the acceptor sends
//! and 24 when the initiator sends (RFC 4121 §2).
//!
//! * Sealed: the body is the encryption of `message | EC filler bytes |
//!   header`, where the header copy has RRC 0.
//! * Integrity-only: the body is `message | checksum`, EC is the checksum
//!   length, and the checksum covers `message | header` with EC and RRC 0.
//!
//! A sender may rotate the body right by RRC bytes (RFC 4121 §4.2.5), which
//! the receiver undoes. Like MIT krb5 1.20 (`k5sealv3.c`), we send EC 0 in
//! sealed tokens and RRC 0 in both kinds, because every RFC 4121 enctype is
//! a CTS mode that needs no padding.

use super::mic::{checksum_type, token_flags};
use super::status::{major, GssError};
use crate::crypto::{Checksum, CryptoError, Key};
use crate::iana::key_usage;

const TOK_ID: [u8; 2] = [0x05, 0x04];
const FILLER: u8 = 0xff;
const HEADER_LEN: usize = 16;

/// Errors from making or reading a Wrap token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WrapError {
    #[error("Wrap token is {0} bytes, shorter than its 16-byte header")]
    TooShort(usize),
    #[error("Wrap token has TOK_ID {0:02x?}, expected 05 04")]
    BadTokId([u8; 2]),
    #[error("Wrap token filler is {0:#04x}, expected 0xff")]
    BadFiller(u8),
    #[error("Wrap token flags {actual:#04x} do not match the context (expected {expected:#04x} in the SentByAcceptor and AcceptorSubkey bits)")]
    BadFlags { actual: u8, expected: u8 },
    #[error("integrity-only Wrap token has EC {ec}, expected the checksum length {expected}")]
    BadChecksumLength { ec: u16, expected: usize },
    #[error("integrity-only Wrap token body is {body} bytes, shorter than its {ec}-byte checksum")]
    BodyTooShort { body: usize, ec: u16 },
    #[error("sealed Wrap token decrypts to {plaintext} bytes, too few for EC {ec} and the 16-byte header copy")]
    PlaintextTooShort { plaintext: usize, ec: u16 },
    #[error("the header copy inside the sealed Wrap token differs in {0}")]
    HeaderCopyMismatch(&'static str),
    #[error("sealed Wrap token ciphertext is malformed: {0}")]
    BadCiphertext(CryptoError),
    #[error("Wrap token checksum or integrity check does not verify (GSS_S_BAD_SIG)")]
    BadSignature,
    #[error("message of {0} bytes is too long for a Wrap token")]
    MessageTooLong(usize),
    #[error("enctype {0} has no RFC 4121 Wrap token")]
    UnsupportedEnctype(i32),
    #[error(transparent)]
    Crypto(CryptoError),
    #[cfg(feature = "legacy-enctypes")]
    #[error(transparent)]
    Rfc1964(#[from] super::rfc1964::Rfc1964Error),
}

impl WrapError {
    /// Returns the GSS major status that reports this error.
    pub fn major(&self) -> u32 {
        match self {
            Self::BadSignature => major::BAD_SIG,
            Self::UnsupportedEnctype(_) | Self::MessageTooLong(_) | Self::Crypto(_) => {
                major::FAILURE
            }
            #[cfg(feature = "legacy-enctypes")]
            Self::Rfc1964(error) => error.major(),
            _ => major::DEFECTIVE_TOKEN,
        }
    }
}

impl From<WrapError> for GssError {
    fn from(error: WrapError) -> Self {
        GssError::new(error.major(), 0, error.to_string())
    }
}

/// A Wrap token's contents after checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unwrapped {
    /// The application message.
    pub message: Vec<u8>,
    /// True if the token was encrypted (the Sealed flag).
    pub sealed: bool,
    /// The token's SND_SEQ.
    pub seq: u64,
}

fn usage(flags: u8) -> u32 {
    if flags & token_flags::SENT_BY_ACCEPTOR != 0 {
        key_usage::GSS_ACCEPTOR_SEAL
    } else {
        key_usage::GSS_INITIATOR_SEAL
    }
}

fn header(flags: u8, ec: u16, rrc: u16, seq: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..2].copy_from_slice(&TOK_ID);
    h[2] = flags;
    h[3] = FILLER;
    h[4..6].copy_from_slice(&ec.to_be_bytes());
    h[6..8].copy_from_slice(&rrc.to_be_bytes());
    h[8..16].copy_from_slice(&seq.to_be_bytes());
    h
}

fn map_crypto(error: CryptoError) -> WrapError {
    match error {
        CryptoError::UnsupportedEnctype(e) => WrapError::UnsupportedEnctype(e),
        other => WrapError::Crypto(other),
    }
}

/// Makes a Wrap token over `message` with sequence number `seq`. `flags`
/// contains the sender's SentByAcceptor and AcceptorSubkey bits; `seal`
/// chooses encryption.
pub fn wrap(
    key: &Key,
    flags: u8,
    seq: u64,
    seal: bool,
    message: &[u8],
) -> Result<Vec<u8>, WrapError> {
    let (_, cksum_len) =
        checksum_type(key).map_err(|_| WrapError::UnsupportedEnctype(key.enctype()))?;
    let flags = flags & (token_flags::SENT_BY_ACCEPTOR | token_flags::ACCEPTOR_SUBKEY);

    if seal {
        let header = header(flags | token_flags::SEALED, 0, 0, seq);
        let mut plaintext = zeroize::Zeroizing::new(Vec::with_capacity(message.len() + HEADER_LEN));
        plaintext.extend_from_slice(message);
        plaintext.extend_from_slice(&header);
        let ciphertext = key.encrypt(usage(flags), &plaintext).map_err(map_crypto)?;
        let mut token = header.to_vec();
        token.extend_from_slice(&ciphertext);
        return Ok(token);
    }

    let ec = u16::try_from(cksum_len).map_err(|_| WrapError::UnsupportedEnctype(key.enctype()))?;
    let mut data = Vec::with_capacity(message.len() + HEADER_LEN);
    data.extend_from_slice(message);
    data.extend_from_slice(&header(flags, 0, 0, seq));
    let checksum = key.checksum(usage(flags), &data).map_err(map_crypto)?;

    let mut token = Vec::with_capacity(HEADER_LEN + message.len() + cksum_len);
    token.extend_from_slice(&header(flags, ec, 0, seq));
    token.extend_from_slice(message);
    token.extend_from_slice(&checksum.value);
    Ok(token)
}

/// Checks and opens the peer's Wrap token. `expected_flags` contains the
/// SentByAcceptor and AcceptorSubkey bits the peer must have set; other
/// unknown flag bits are ignored, as for MIC tokens.
pub fn unwrap(key: &Key, expected_flags: u8, token: &[u8]) -> Result<Unwrapped, WrapError> {
    let (cksumtype, cksum_len) =
        checksum_type(key).map_err(|_| WrapError::UnsupportedEnctype(key.enctype()))?;
    if token.len() < HEADER_LEN {
        return Err(WrapError::TooShort(token.len()));
    }
    let (head, rotated) = token.split_at(HEADER_LEN);

    let tok_id = [head[0], head[1]];
    if tok_id != TOK_ID {
        return Err(WrapError::BadTokId(tok_id));
    }
    let flags = head[2];
    let relevant = token_flags::SENT_BY_ACCEPTOR | token_flags::ACCEPTOR_SUBKEY;
    if flags & relevant != expected_flags & relevant {
        return Err(WrapError::BadFlags {
            actual: flags,
            expected: expected_flags & relevant,
        });
    }
    if head[3] != FILLER {
        return Err(WrapError::BadFiller(head[3]));
    }
    let ec = u16::from_be_bytes([head[4], head[5]]);
    let rrc = u16::from_be_bytes([head[6], head[7]]);
    let mut seq_bytes = [0u8; 8];
    seq_bytes.copy_from_slice(&head[8..16]);
    let seq = u64::from_be_bytes(seq_bytes);

    // Undo the sender's right rotation by RRC bytes.
    let mut body = rotated.to_vec();
    if !body.is_empty() {
        let shift = usize::from(rrc) % body.len();
        body.rotate_left(shift);
    }

    let sealed = flags & token_flags::SEALED != 0;
    let message = if sealed {
        open_sealed(key, head, ec, &body)?
    } else {
        check_integrity(key, head, ec, cksumtype, cksum_len, body)?
    };
    Ok(Unwrapped {
        message,
        sealed,
        seq,
    })
}

/// Decrypts a sealed body and checks the header copy at its end.
fn open_sealed(key: &Key, head: &[u8], ec: u16, body: &[u8]) -> Result<Vec<u8>, WrapError> {
    let plaintext =
        zeroize::Zeroizing::new(key.decrypt(usage(head[2]), body).map_err(|e| match e {
            CryptoError::IntegrityCheckFailed => WrapError::BadSignature,
            e @ (CryptoError::CiphertextTooShort { .. } | CryptoError::CiphertextLength { .. }) => {
                WrapError::BadCiphertext(e)
            }
            other => map_crypto(other),
        })?);
    let trailer = HEADER_LEN + usize::from(ec);
    if plaintext.len() < trailer {
        return Err(WrapError::PlaintextTooShort {
            plaintext: plaintext.len(),
            ec,
        });
    }
    let copy = &plaintext[plaintext.len() - HEADER_LEN..];
    // The copy's RRC is not compared: the sender writes 0 there (RFC 4121
    // §4.2.4), but MIT krb5 1.20 and Heimdal ignore it on receipt.
    let fields: [(&'static str, std::ops::Range<usize>); 5] = [
        ("TOK_ID", 0..2),
        ("flags", 2..3),
        ("filler", 3..4),
        ("EC", 4..6),
        ("SND_SEQ", 8..16),
    ];
    for (name, range) in fields {
        if copy[range.clone()] != head[range] {
            return Err(WrapError::HeaderCopyMismatch(name));
        }
    }
    Ok(plaintext[..plaintext.len() - trailer].to_vec())
}

/// Verifies an integrity-only body and returns its message.
fn check_integrity(
    key: &Key,
    head: &[u8],
    ec: u16,
    cksumtype: i32,
    cksum_len: usize,
    mut body: Vec<u8>,
) -> Result<Vec<u8>, WrapError> {
    if usize::from(ec) != cksum_len {
        return Err(WrapError::BadChecksumLength {
            ec,
            expected: cksum_len,
        });
    }
    let Some(message_len) = body.len().checked_sub(cksum_len) else {
        return Err(WrapError::BodyTooShort {
            body: body.len(),
            ec,
        });
    };
    let checksum = Checksum {
        cksumtype,
        value: body.split_off(message_len),
    };

    let mut signed_header = [0u8; HEADER_LEN];
    signed_header.copy_from_slice(head);
    signed_header[4..8].fill(0);
    let mut data = body;
    let message_len = data.len();
    data.extend_from_slice(&signed_header);
    key.verify_checksum(usage(head[2]), &data, &checksum)
        .map_err(|e| match e {
            CryptoError::BadChecksum => WrapError::BadSignature,
            other => map_crypto(other),
        })?;
    data.truncate(message_len);
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iana::enctype;

    const ENCTYPES: [i32; 6] = [17, 18, 19, 20, 25, 26];
    const ACCEPTOR: u8 = token_flags::SENT_BY_ACCEPTOR | token_flags::ACCEPTOR_SUBKEY;

    fn key(enctype: i32) -> Key {
        Key::random(enctype).unwrap()
    }

    /// Rotates a token's body right by `rrc` bytes and records RRC, as a
    /// sender may.
    fn rotate(token: &[u8], rrc: u16) -> Vec<u8> {
        let mut out = token.to_vec();
        out[6..8].copy_from_slice(&rrc.to_be_bytes());
        let body = &mut out[HEADER_LEN..];
        if !body.is_empty() {
            let shift = usize::from(rrc) % body.len();
            body.rotate_right(shift);
        }
        out
    }

    #[test]
    fn round_trip_every_enctype() {
        for e in ENCTYPES {
            let key = key(e);
            for seal in [false, true] {
                for len in [0usize, 1, 15, 16, 17, 100] {
                    let message: Vec<u8> = (0..len as u8).collect();
                    let token = wrap(&key, ACCEPTOR, 42 + len as u64, seal, &message).unwrap();
                    let opened = unwrap(&key, ACCEPTOR, &token).unwrap();
                    assert_eq!(opened.message, message, "enctype {e} seal {seal} len {len}");
                    assert_eq!(opened.sealed, seal);
                    assert_eq!(opened.seq, 42 + len as u64);
                }
            }
        }
    }

    #[test]
    fn header_fields_as_sent() {
        let key = key(enctype::AES256_CTS_HMAC_SHA384_192);
        let token = wrap(&key, ACCEPTOR, 0x0102_0304_0506_0708, false, b"abc").unwrap();
        assert_eq!(&token[..4], &[0x05, 0x04, 0x05, 0xff]);
        assert_eq!(
            &token[4..6],
            &24u16.to_be_bytes(),
            "EC is the checksum length"
        );
        assert_eq!(&token[6..8], &[0, 0], "RRC");
        assert_eq!(&token[8..16], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&token[16..19], b"abc");
        assert_eq!(token.len(), 16 + 3 + 24);

        let token = wrap(&key, 0, 9, true, b"abc").unwrap();
        assert_eq!(&token[..8], &[0x05, 0x04, 0x02, 0xff, 0, 0, 0, 0]);
        // Confounder, message, header copy and HMAC-SHA384-192 tag.
        assert_eq!(token.len(), 16 + 16 + 3 + 16 + 24);
    }

    #[test]
    fn any_rotation_is_undone() {
        let key = key(enctype::AES128_CTS_HMAC_SHA1_96);
        for seal in [false, true] {
            let token = wrap(&key, 0, 1, seal, b"rotated message").unwrap();
            for rrc in [1u16, 12, 16, 28, 43, 1000, u16::MAX] {
                let rotated = rotate(&token, rrc);
                let opened = unwrap(&key, 0, &rotated).unwrap();
                assert_eq!(opened.message, b"rotated message", "seal {seal} rrc {rrc}");
            }
        }
    }

    #[test]
    fn wrong_direction_or_subkey_flag() {
        let key = key(enctype::AES128_CTS_HMAC_SHA1_96);
        let token = wrap(&key, ACCEPTOR, 1, true, b"m").unwrap();
        for expected in [
            0,
            token_flags::SENT_BY_ACCEPTOR,
            token_flags::ACCEPTOR_SUBKEY,
        ] {
            let err = unwrap(&key, expected, &token).unwrap_err();
            assert!(matches!(err, WrapError::BadFlags { .. }), "{err}");
            assert_eq!(err.major(), major::DEFECTIVE_TOKEN);
        }
    }

    #[test]
    fn tampered_tokens_are_rejected() {
        let key = key(enctype::CAMELLIA128_CTS_CMAC);
        for seal in [false, true] {
            let token = wrap(&key, 0, 5, seal, b"some payload bytes").unwrap();
            for i in 0..token.len() {
                // Bytes 6 and 7 are RRC, which only moves the body around.
                if i == 6 || i == 7 {
                    continue;
                }
                let mut bad = token.clone();
                bad[i] ^= 0x01;
                let err = unwrap(&key, 0, &bad).unwrap_err();
                assert!(
                    matches!(err.major(), major::BAD_SIG | major::DEFECTIVE_TOKEN),
                    "seal {seal} byte {i}: {err}"
                );
            }
            for len in 0..token.len() {
                assert!(
                    unwrap(&key, 0, &token[..len]).is_err(),
                    "seal {seal} prefix {len}"
                );
            }
        }
    }

    #[test]
    fn integrity_only_checks_ec() {
        let key = key(enctype::AES128_CTS_HMAC_SHA256_128);
        let mut token = wrap(&key, 0, 5, false, b"payload").unwrap();
        token[5] = 12;
        assert_eq!(
            unwrap(&key, 0, &token),
            Err(WrapError::BadChecksumLength {
                ec: 12,
                expected: 16
            })
        );
    }

    #[test]
    fn sealed_header_copy_must_match() {
        // A sealed token whose inner header names another SND_SEQ: made by
        // hand, since `wrap` always copies the header.
        let key = key(enctype::AES256_CTS_HMAC_SHA1_96);
        let outer = header(token_flags::SEALED, 0, 0, 7);
        let inner = header(token_flags::SEALED, 0, 0, 8);
        let mut plaintext = b"msg".to_vec();
        plaintext.extend_from_slice(&inner);
        let mut token = outer.to_vec();
        token.extend_from_slice(
            &key.encrypt(key_usage::GSS_INITIATOR_SEAL, &plaintext)
                .unwrap(),
        );
        assert_eq!(
            unwrap(&key, 0, &token),
            Err(WrapError::HeaderCopyMismatch("SND_SEQ"))
        );

        // EC larger than the plaintext allows.
        let mut token = wrap(&key, 0, 7, true, b"msg").unwrap();
        token[4..6].copy_from_slice(&100u16.to_be_bytes());
        let err = unwrap(&key, 0, &token).unwrap_err();
        assert!(matches!(err, WrapError::PlaintextTooShort { .. }), "{err}");
    }

    #[test]
    fn sealed_token_with_filler_bytes() {
        // EC filler bytes between message and header copy, as Heimdal may send.
        let key = key(enctype::AES128_CTS_HMAC_SHA1_96);
        let head = header(token_flags::SEALED | token_flags::SENT_BY_ACCEPTOR, 4, 0, 3);
        let mut plaintext = b"msg".to_vec();
        plaintext.extend_from_slice(&[0xff; 4]);
        plaintext.extend_from_slice(&head);
        let mut token = head.to_vec();
        token.extend_from_slice(
            &key.encrypt(key_usage::GSS_ACCEPTOR_SEAL, &plaintext)
                .unwrap(),
        );
        let opened = unwrap(&key, token_flags::SENT_BY_ACCEPTOR, &token).unwrap();
        assert_eq!(opened.message, b"msg");
    }

    #[test]
    fn wrong_key_is_bad_signature() {
        let token = wrap(&key(18), 0, 1, true, b"m").unwrap();
        assert_eq!(unwrap(&key(18), 0, &token), Err(WrapError::BadSignature));
        let token = wrap(&key(18), 0, 1, false, b"m").unwrap();
        assert_eq!(unwrap(&key(18), 0, &token), Err(WrapError::BadSignature));
    }
}
