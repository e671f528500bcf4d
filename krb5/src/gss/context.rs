//! An established krb5 security context: what both sides know once the AP
//! exchange is complete.

use super::lucid::{ExportError, LucidContext};
use super::mic::{self, token_flags, MicError};
use crate::crypto::Key;
use crate::principal::Principal;
use zeroize::Zeroizing;

/// A complete krb5 context.
#[derive(Debug, Clone)]
pub struct EstablishedContext {
    /// True on the initiator side.
    pub initiator: bool,
    /// The initiator's principal.
    pub initiator_name: Principal,
    /// The acceptor's principal (the ticket's server).
    pub acceptor_name: Principal,
    /// The base key of RFC 4121 §2.
    pub key: Key,
    /// True if the acceptor asserted a subkey, which `key` then is.
    pub acceptor_subkey: bool,
    /// The context flags both sides agreed on (the `checksum::flags` bits).
    pub flags: u32,
    /// Our initial send sequence number.
    pub seq_send: u64,
    /// The peer's initial sequence number.
    pub seq_recv: u64,
    /// The context's end time (the ticket's), seconds since the epoch.
    pub endtime: u32,
}

impl EstablishedContext {
    /// Exports the context in the kernel's lucid v2 layout.
    pub fn export_lucid(&self) -> Result<Zeroizing<Vec<u8>>, ExportError> {
        LucidContext {
            initiator: self.initiator,
            acceptor_subkey: self.acceptor_subkey,
            endtime: self.endtime,
            seq_send: self.seq_send,
            key: self.key.clone(),
        }
        .export_v2()
    }

    /// Returns the seconds left until `endtime`, or 0 if it has passed.
    pub fn lifetime(&self, now: i64) -> u32 {
        u32::try_from((i64::from(self.endtime) - now).max(0)).unwrap_or(u32::MAX)
    }

    fn flags_from(&self, sender_is_acceptor: bool) -> u8 {
        let mut flags = 0;
        if sender_is_acceptor {
            flags |= token_flags::SENT_BY_ACCEPTOR;
        }
        if self.acceptor_subkey {
            flags |= token_flags::ACCEPTOR_SUBKEY;
        }
        flags
    }

    /// Makes a MIC token over `message` with sequence number `seq`.
    pub fn get_mic(&self, seq: u64, message: &[u8]) -> Result<Vec<u8>, MicError> {
        mic::get_mic(&self.key, self.flags_from(!self.initiator), seq, message)
    }

    /// Verifies the peer's MIC token over `message` and returns its sequence number.
    pub fn verify_mic(&self, message: &[u8], token: &[u8]) -> Result<u64, MicError> {
        mic::verify_mic(&self.key, self.flags_from(self.initiator), message, token)
    }
}
