//! The per-message half of the kernel's krb5 mechanism. An imported
//! [`Lucid`] context makes and checks RFC 4121 MIC and Wrap tokens with its
//! key, direction and acceptor-subkey flag, as the kernel does with a
//! context from a downcall or a context record. Like the kernel, it numbers
//! its tokens from the imported send sequence number. It checks no received
//! sequence number, because RPCSEC_GSS keeps its own window.

use krb5::crypto::Key;
use krb5::gss::mic::{self, token_flags, MicError};
use krb5::gss::wrap::{self, Unwrapped, WrapError};

use crate::downcall::{Lucid, FLAG_ACCEPTOR_SUBKEY, FLAG_CFX, FLAG_INITIATOR};

/// An imported context, either end.
pub struct KernelContext {
    key: Key,
    initiator: bool,
    acceptor_subkey: bool,
    next_send: u64,
}

impl KernelContext {
    /// Imports `lucid`. Fails on a context without RFC 4121 tokens or with
    /// a key the krb5 crate cannot use.
    ///
    /// NOTE: des3-cbc-sha1 and arcfour-hmac contexts (RFC 1964 tokens) are
    /// not simulated; no kernel enctype list of the tests offers them.
    pub fn import(lucid: &Lucid) -> Result<Self, String> {
        if lucid.flags & FLAG_CFX == 0 {
            return Err(format!(
                "the context of enctype {} lacks the RFC 4121 flag (flags {:#x}); \
                 only RFC 4121 tokens are simulated",
                lucid.enctype, lucid.flags
            ));
        }
        let key = Key::new(lucid.enctype, lucid.key.clone())
            .map_err(|e| format!("the key of enctype {} is unusable: {e}", lucid.enctype))?;
        Ok(Self {
            key,
            initiator: lucid.flags & FLAG_INITIATOR != 0,
            acceptor_subkey: lucid.flags & FLAG_ACCEPTOR_SUBKEY != 0,
            next_send: lucid.seq_send,
        })
    }

    /// Returns the flags of a token sent by the initiator when
    /// `from_initiator` is true, or by the acceptor otherwise.
    fn token_flags(&self, from_initiator: bool) -> u8 {
        let mut flags = 0;
        if !from_initiator {
            flags |= token_flags::SENT_BY_ACCEPTOR;
        }
        if self.acceptor_subkey {
            flags |= token_flags::ACCEPTOR_SUBKEY;
        }
        flags
    }

    fn take_seq(&mut self) -> u64 {
        let seq = self.next_send;
        self.next_send += 1;
        seq
    }

    /// Makes a MIC token over `message` with the next send sequence number.
    pub fn get_mic(&mut self, message: &[u8]) -> Result<Vec<u8>, MicError> {
        let seq = self.take_seq();
        mic::get_mic(&self.key, self.token_flags(self.initiator), seq, message)
    }

    /// Verifies the other end's MIC token over `message` and returns its
    /// sequence number.
    pub fn verify_mic(&self, message: &[u8], token: &[u8]) -> Result<u64, MicError> {
        mic::verify_mic(&self.key, self.token_flags(!self.initiator), message, token)
    }

    /// Makes a Wrap token over `message` with the next send sequence
    /// number, encrypted when `seal` is true.
    pub fn wrap(&mut self, seal: bool, message: &[u8]) -> Result<Vec<u8>, WrapError> {
        let seq = self.take_seq();
        wrap::wrap(
            &self.key,
            self.token_flags(self.initiator),
            seq,
            seal,
            message,
        )
    }

    /// Checks and opens the other end's Wrap token.
    pub fn unwrap(&self, token: &[u8]) -> Result<Unwrapped, WrapError> {
        wrap::unwrap(&self.key, self.token_flags(!self.initiator), token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lucid(flags: u32) -> Lucid {
        Lucid {
            flags,
            endtime: 2_000_000_000,
            seq_send: 7,
            enctype: 18,
            key: (0..32).collect(),
        }
    }

    #[test]
    fn ends_accept_each_other() {
        let mut initiator =
            KernelContext::import(&lucid(FLAG_INITIATOR | FLAG_CFX | FLAG_ACCEPTOR_SUBKEY))
                .unwrap();
        let mut acceptor = KernelContext::import(&lucid(FLAG_CFX | FLAG_ACCEPTOR_SUBKEY)).unwrap();

        let token = initiator.get_mic(b"message").unwrap();
        assert_eq!(acceptor.verify_mic(b"message", &token), Ok(7));
        assert!(initiator.verify_mic(b"message", &token).is_err());
        let token = acceptor.wrap(true, b"sealed").unwrap();
        let opened = initiator.unwrap(&token).unwrap();
        assert_eq!((opened.message, opened.sealed), (b"sealed".to_vec(), true));
        assert!(acceptor.unwrap(&token).is_err());
        // The send counter moves on with each token.
        let token = initiator.wrap(false, b"second").unwrap();
        assert_eq!(acceptor.unwrap(&token).unwrap().seq, 8);
    }

    #[test]
    fn subkey_flag_must_match() {
        let mut with_subkey =
            KernelContext::import(&lucid(FLAG_INITIATOR | FLAG_CFX | FLAG_ACCEPTOR_SUBKEY))
                .unwrap();
        let without_subkey = KernelContext::import(&lucid(FLAG_CFX)).unwrap();
        let token = with_subkey.get_mic(b"message").unwrap();
        assert!(without_subkey.verify_mic(b"message", &token).is_err());
    }

    #[test]
    fn rfc1964_context_is_rejected() {
        let error = KernelContext::import(&lucid(FLAG_INITIATOR))
            .err()
            .expect("a context without the RFC 4121 flag was imported");
        assert!(error.contains("RFC 4121"), "{error}");
    }
}
