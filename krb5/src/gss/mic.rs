//! RFC 4121 §4.2.6.1 MIC tokens. rpc.gssd verifies one: the NFS server's
//! reply verifier for a new RPCSEC_GSS context is a MIC over the big-endian
//! sequence window (RFC 2203 §5.2.3.1).
//!
//! ```text
//! 04 04 | flags | ff ff ff ff ff | SND_SEQ (8 bytes, big-endian) | checksum
//! ```
//!
//! The checksum covers the message followed by the 16-byte header, keyed with
//! usage 23 when the acceptor sends and 25 when the initiator sends.

use super::status::{generic_minor, major, GssError};
use crate::crypto::{Checksum, CryptoError, Key};
use crate::iana::{cksumtype, enctype, key_usage};

const TOK_ID: [u8; 2] = [0x04, 0x04];
const FILLER: [u8; 5] = [0xff; 5];
const HEADER_LEN: usize = 16;

/// Token flags (RFC 4121 §4.2.2).
pub mod token_flags {
    pub const SENT_BY_ACCEPTOR: u8 = 0x01;
    pub const SEALED: u8 = 0x02;
    pub const ACCEPTOR_SUBKEY: u8 = 0x04;
}

/// Errors from making or verifying a MIC token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MicError {
    #[error("MIC token is {0} bytes, shorter than its 16-byte header and checksum")]
    TooShort(usize),
    #[error("MIC token has TOK_ID {0:02x?}, expected 04 04")]
    BadTokId([u8; 2]),
    #[error("MIC token filler is {0:02x?}, expected ff ff ff ff ff")]
    BadFiller([u8; 5]),
    #[error("MIC token flags {actual:#04x} do not match the context (expected {expected:#04x})")]
    BadFlags { actual: u8, expected: u8 },
    #[error("MIC checksum does not verify: the message or the token was changed, or the peer signed with another key")]
    BadSignature,
    #[error("enctype {0} has no RFC 4121 MIC")]
    UnsupportedEnctype(i32),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[cfg(feature = "legacy-enctypes")]
    #[error(transparent)]
    Rfc1964(#[from] super::rfc1964::Rfc1964Error),
}

impl MicError {
    /// Returns the GSS major and minor status that report this error, as
    /// MIT krb5 1.20 reports them: a malformed token is defective, and a
    /// token from the wrong direction or with a checksum that does not
    /// verify has a bad signature.
    pub fn status(&self) -> (u32, u32) {
        match self {
            MicError::TooShort(_) | MicError::BadTokId(_) | MicError::BadFiller(_) => {
                (major::DEFECTIVE_TOKEN, 0)
            }
            MicError::BadFlags { actual, expected }
                if (actual ^ expected) & token_flags::SENT_BY_ACCEPTOR != 0 =>
            {
                (major::BAD_SIG, generic_minor::G_BAD_DIRECTION)
            }
            MicError::BadFlags { .. } | MicError::BadSignature => (major::BAD_SIG, 0),
            MicError::UnsupportedEnctype(_) | MicError::Crypto(_) => (major::FAILURE, 0),
            #[cfg(feature = "legacy-enctypes")]
            MicError::Rfc1964(error) => (error.major(), 0),
        }
    }

    /// Returns the GSS major status that reports this error.
    pub fn major(&self) -> u32 {
        self.status().0
    }
}

impl From<MicError> for GssError {
    fn from(error: MicError) -> Self {
        let (major, minor) = error.status();
        GssError::new(major, minor, error.to_string())
    }
}

/// Returns the RFC 4121 checksum type and length for a base key's enctype.
pub(super) fn checksum_type(key: &Key) -> Result<(i32, usize), MicError> {
    Ok(match key.enctype() {
        enctype::AES128_CTS_HMAC_SHA1_96 => (cksumtype::HMAC_SHA1_96_AES128, 12),
        enctype::AES256_CTS_HMAC_SHA1_96 => (cksumtype::HMAC_SHA1_96_AES256, 12),
        enctype::AES128_CTS_HMAC_SHA256_128 => (cksumtype::HMAC_SHA256_128_AES128, 16),
        enctype::AES256_CTS_HMAC_SHA384_192 => (cksumtype::HMAC_SHA384_192_AES256, 24),
        enctype::CAMELLIA128_CTS_CMAC => (cksumtype::CMAC_CAMELLIA128, 16),
        enctype::CAMELLIA256_CTS_CMAC => (cksumtype::CMAC_CAMELLIA256, 16),
        other => return Err(MicError::UnsupportedEnctype(other)),
    })
}

fn header(flags: u8, seq: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..2].copy_from_slice(&TOK_ID);
    h[2] = flags;
    h[3..8].copy_from_slice(&FILLER);
    h[8..16].copy_from_slice(&seq.to_be_bytes());
    h
}

fn usage(flags: u8) -> u32 {
    if flags & token_flags::SENT_BY_ACCEPTOR != 0 {
        key_usage::GSS_ACCEPTOR_SIGN
    } else {
        key_usage::GSS_INITIATOR_SIGN
    }
}

/// Makes a MIC token over `message` with sequence number `seq`.
pub fn get_mic(key: &Key, flags: u8, seq: u64, message: &[u8]) -> Result<Vec<u8>, MicError> {
    checksum_type(key)?;
    let header = header(flags, seq);
    let mut data = Vec::with_capacity(message.len() + HEADER_LEN);
    data.extend_from_slice(message);
    data.extend_from_slice(&header);
    let checksum = key.checksum(usage(flags), &data)?;

    let mut token = header.to_vec();
    token.extend_from_slice(&checksum.value);
    Ok(token)
}

/// Verifies a MIC token over `message`. `expected_flags` are the direction and
/// acceptor-subkey bits the peer must have set. Returns the token's SND_SEQ.
pub fn verify_mic(
    key: &Key,
    expected_flags: u8,
    message: &[u8],
    token: &[u8],
) -> Result<u64, MicError> {
    let (cksumtype, cksum_len) = checksum_type(key)?;
    if token.len() < HEADER_LEN + cksum_len {
        return Err(MicError::TooShort(token.len()));
    }
    let (head, value) = token.split_at(HEADER_LEN);

    let tok_id = [head[0], head[1]];
    if tok_id != TOK_ID {
        return Err(MicError::BadTokId(tok_id));
    }
    let flags = head[2];
    let relevant = token_flags::SENT_BY_ACCEPTOR | token_flags::ACCEPTOR_SUBKEY;
    if flags & relevant != expected_flags & relevant || flags & token_flags::SEALED != 0 {
        return Err(MicError::BadFlags {
            actual: flags,
            expected: expected_flags,
        });
    }
    let mut filler = [0u8; 5];
    filler.copy_from_slice(&head[3..8]);
    if filler != FILLER {
        return Err(MicError::BadFiller(filler));
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&head[8..16]);

    let mut data = Vec::with_capacity(message.len() + HEADER_LEN);
    data.extend_from_slice(message);
    data.extend_from_slice(head);
    let checksum = Checksum {
        cksumtype,
        value: value.to_vec(),
    };
    key.verify_checksum(usage(flags), &data, &checksum)
        .map_err(|e| match e {
            CryptoError::BadChecksum => MicError::BadSignature,
            other => MicError::Crypto(other),
        })?;
    Ok(u64::from_be_bytes(seq))
}
