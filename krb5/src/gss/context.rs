//! An established krb5 security context: what both sides know once the AP
//! exchange is complete, and its per-message operations.
//!
//! The per-message methods come in two kinds. `get_mic`, `verify_mic`,
//! `wrap` and `unwrap` take or return the SND_SEQ and keep no state, for a
//! caller such as rpc.gssd that checks one token and leaves the rest to the
//! kernel. The `_sequenced` methods take the next SND_SEQ from the context's
//! [`SequenceState`] and check received ones against its window, as
//! `gss_get_mic`, `gss_verify_mic`, `gss_wrap` and `gss_unwrap` do.
//!
//! With the `legacy-enctypes` feature, a context whose key is des3-cbc-sha1
//! (16) or rc4-hmac (23) uses the RFC 1964 tokens of [`super::rfc1964`], as
//! MIT krb5 does. Every other enctype uses the RFC 4121 tokens. RFC 1964
//! sequence numbers are 32 bits wide and wrap to 0 after 2^32 - 1, and the
//! receive window of such a context follows that wrap.

use super::lucid::{ExportError, LucidContext};
use super::mic::{self, token_flags, MicError};
use super::sequence::SequenceState;
use super::status::GssError;
use super::wrap::{self, Unwrapped, WrapError};
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
    /// The send counter and receive window of the `_sequenced` methods.
    pub sequence: SequenceState,
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
        #[cfg(feature = "legacy-enctypes")]
        if super::rfc1964::uses_rfc1964(self.key.enctype()) {
            return Ok(super::rfc1964::get_mic(
                &self.key,
                !self.initiator,
                seq,
                message,
            )?);
        }
        mic::get_mic(&self.key, self.flags_from(!self.initiator), seq, message)
    }

    /// Verifies the peer's MIC token over `message` and returns its sequence number.
    pub fn verify_mic(&self, message: &[u8], token: &[u8]) -> Result<u64, MicError> {
        #[cfg(feature = "legacy-enctypes")]
        if super::rfc1964::uses_rfc1964(self.key.enctype()) {
            return Ok(super::rfc1964::verify_mic(
                &self.key,
                self.initiator,
                message,
                token,
            )?);
        }
        mic::verify_mic(&self.key, self.flags_from(self.initiator), message, token)
    }

    /// Makes a Wrap token over `message` with sequence number `seq`,
    /// encrypted when `seal` is true.
    pub fn wrap(&self, seq: u64, seal: bool, message: &[u8]) -> Result<Vec<u8>, WrapError> {
        #[cfg(feature = "legacy-enctypes")]
        if super::rfc1964::uses_rfc1964(self.key.enctype()) {
            return Ok(super::rfc1964::wrap(
                &self.key,
                !self.initiator,
                seq,
                seal,
                message,
            )?);
        }
        wrap::wrap(
            &self.key,
            self.flags_from(!self.initiator),
            seq,
            seal,
            message,
        )
    }

    /// Checks and opens the peer's Wrap token, without sequence checks.
    pub fn unwrap(&self, token: &[u8]) -> Result<Unwrapped, WrapError> {
        #[cfg(feature = "legacy-enctypes")]
        if super::rfc1964::uses_rfc1964(self.key.enctype()) {
            return Ok(super::rfc1964::unwrap(&self.key, self.initiator, token)?);
        }
        wrap::unwrap(&self.key, self.flags_from(self.initiator), token)
    }

    /// Checks a received SND_SEQ against the receive window.
    fn check_received(&mut self, seq: u64) -> u32 {
        #[cfg(feature = "legacy-enctypes")]
        if super::rfc1964::uses_rfc1964(self.key.enctype()) {
            // RFC 1964 tokens carry 32 bits, so `seq` fits.
            return self.sequence.receive.check_32bit(seq as u32);
        }
        self.sequence.receive.check(seq)
    }

    /// Makes a MIC token with the next send sequence number.
    pub fn get_mic_sequenced(&mut self, message: &[u8]) -> Result<Vec<u8>, GssError> {
        let token = self.get_mic(self.sequence.next_send, message)?;
        self.sequence.take_send();
        Ok(token)
    }

    /// Verifies the peer's MIC token and checks its sequence number against
    /// the receive window. Returns the supplementary status bits
    /// (`major::DUPLICATE_TOKEN` and the others), 0 for a token in sequence.
    pub fn verify_mic_sequenced(&mut self, message: &[u8], token: &[u8]) -> Result<u32, GssError> {
        let seq = self.verify_mic(message, token)?;
        Ok(self.check_received(seq))
    }

    /// Makes a Wrap token with the next send sequence number.
    pub fn wrap_sequenced(&mut self, seal: bool, message: &[u8]) -> Result<Vec<u8>, GssError> {
        let token = self.wrap(self.sequence.next_send, seal, message)?;
        self.sequence.take_send();
        Ok(token)
    }

    /// Opens the peer's Wrap token and checks its sequence number against
    /// the receive window. Returns the contents and the supplementary
    /// status bits, as [`Self::verify_mic_sequenced`] does.
    pub fn unwrap_sequenced(&mut self, token: &[u8]) -> Result<(Unwrapped, u32), GssError> {
        let unwrapped = self.unwrap(token)?;
        let status = self.check_received(unwrapped.seq);
        Ok((unwrapped, status))
    }
}
