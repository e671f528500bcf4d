//! Export of an established krb5 context in the Linux kernel's "lucid" v2
//! layout, which rpc.gssd sends down rpc_pipefs and rpc.svcgssd writes to the
//! context channel. The kernel derives the per-direction keys itself, so the
//! export carries one base key.
//!
//! Layout, packed, integers in host byte order:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | flags: 0x1 initiator, 0x2 RFC 4121 tokens, 0x4 acceptor subkey |
//! | 4 | 4 | context end time, seconds since the epoch |
//! | 8 | 8 | initial send sequence number |
//! | 16 | 4 | enctype |
//! | 20 | k | the key, with no length prefix |
//!
//! The kernel stores the sequence number in a signed 32-bit counter and
//! rejects a value that does not survive that, so it must be below 2^31.
//! Kernels up to 6.1 parse a blob of exactly 85 bytes as the single-DES v1
//! layout; no strong enctype produces that length.

use zeroize::Zeroizing;

use crate::crypto::Key;
use crate::iana::enctype;

/// The context was established by the initiator (the NFS client side).
pub const FLAG_INITIATOR: u32 = 0x1;
/// Per-message tokens use the RFC 4121 format.
pub const FLAG_CFX: u32 = 0x2;
/// The acceptor asserted a subkey, which is then the base key.
pub const FLAG_ACCEPTOR_SUBKEY: u32 = 0x4;

/// The largest initial sequence number the kernel accepts.
pub const MAX_SEQ_SEND: u64 = (1 << 31) - 1;

/// The parts of an established context that the kernel imports.
#[derive(Debug, Clone)]
pub struct LucidContext {
    /// True on the initiator (rpc.gssd) side.
    pub initiator: bool,
    /// True if the acceptor sent a subkey in its AP-REP; `key` is then that subkey.
    pub acceptor_subkey: bool,
    /// Context end time, seconds since the epoch.
    pub endtime: u32,
    /// Our initial send sequence number.
    pub seq_send: u64,
    /// The base key: the acceptor's subkey if asserted, else the initiator's
    /// subkey, else the ticket's session key (RFC 4121 §2).
    pub key: Key,
}

/// Errors from [`LucidContext::export_v2`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("initial sequence number {0} is 2^31 or more, which the kernel rejects")]
    SequenceTooLarge(u64),
    #[error("enctype {0} has no lucid export; the kernel takes AES, Camellia, DES3 and RC4 keys")]
    UnsupportedEnctype(i32),
}

impl LucidContext {
    /// Encodes the v2 layout. The result contains the key and zeroes itself on drop.
    pub fn export_v2(&self) -> Result<Zeroizing<Vec<u8>>, ExportError> {
        if self.seq_send > MAX_SEQ_SEND {
            return Err(ExportError::SequenceTooLarge(self.seq_send));
        }
        let rfc4121 = match self.key.enctype() {
            enctype::AES128_CTS_HMAC_SHA1_96
            | enctype::AES256_CTS_HMAC_SHA1_96
            | enctype::AES128_CTS_HMAC_SHA256_128
            | enctype::AES256_CTS_HMAC_SHA384_192
            | enctype::CAMELLIA128_CTS_CMAC
            | enctype::CAMELLIA256_CTS_CMAC => true,
            enctype::DES3_CBC_SHA1 | enctype::RC4_HMAC => false,
            other => return Err(ExportError::UnsupportedEnctype(other)),
        };

        let mut flags = 0;
        if self.initiator {
            flags |= FLAG_INITIATOR;
        }
        if rfc4121 {
            flags |= FLAG_CFX;
            if self.acceptor_subkey {
                flags |= FLAG_ACCEPTOR_SUBKEY;
            }
        }

        let key = self.key.bytes();
        let mut out = Zeroizing::new(Vec::with_capacity(20 + key.len()));
        out.extend_from_slice(&flags.to_ne_bytes());
        out.extend_from_slice(&self.endtime.to_ne_bytes());
        out.extend_from_slice(&self.seq_send.to_ne_bytes());
        out.extend_from_slice(&self.key.enctype().to_ne_bytes());
        out.extend_from_slice(key);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(enctype: i32, key_len: usize) -> LucidContext {
        LucidContext {
            initiator: false,
            acceptor_subkey: true,
            endtime: 1_796_450_945,
            seq_send: 0x1005_3f0f,
            key: Key::from_raw(enctype, (0..key_len as u8).collect()),
        }
    }

    /// Checks against a context that rpc.svcgssd (nfs-utils 2.6 on MIT krb5 1.20) exported
    /// on x86-64 Linux 6.12 for an aes256-cts-hmac-sha384-192 acceptor
    /// subkey, from a throwaway test realm.
    #[test]
    #[cfg(target_endian = "little")]
    fn acceptor_export_matches_capture() {
        let captured = hex::decode(
            "0600000081aa136b0f3f05100000000014000000dfa2bac31d6e45f9c4c4607b4218148dca74c3adc53960fbf153bf4968681579",
        )
        .unwrap();
        let ctx = LucidContext {
            initiator: false,
            acceptor_subkey: true,
            endtime: 1_796_450_945,
            seq_send: 0x1005_3f0f,
            key: Key::from_raw(enctype::AES256_CTS_HMAC_SHA384_192, captured[20..].to_vec()),
        };
        assert_eq!(ctx.export_v2().unwrap().as_slice(), captured.as_slice());
    }

    #[test]
    fn initiator_without_acceptor_subkey() {
        let mut ctx = context(enctype::AES128_CTS_HMAC_SHA1_96, 16);
        ctx.initiator = true;
        ctx.acceptor_subkey = false;
        let blob = ctx.export_v2().unwrap();
        assert_eq!(blob.len(), 36);
        assert_eq!(&blob[0..4], &(FLAG_INITIATOR | FLAG_CFX).to_ne_bytes());
    }

    #[test]
    fn rfc1964_enctypes_have_no_cfx_flag() {
        let blob = context(enctype::DES3_CBC_SHA1, 24).export_v2().unwrap();
        assert_eq!(&blob[0..4], &0u32.to_ne_bytes());
        assert_eq!(blob.len(), 44);
    }

    #[test]
    fn large_sequence_number_is_rejected() {
        let mut ctx = context(enctype::AES256_CTS_HMAC_SHA1_96, 32);
        ctx.seq_send = 1 << 31;
        assert_eq!(ctx.export_v2(), Err(ExportError::SequenceTooLarge(1 << 31)));
    }

    #[test]
    fn single_des_is_rejected() {
        let ctx = context(1, 8);
        assert_eq!(ctx.export_v2(), Err(ExportError::UnsupportedEnctype(1)));
    }
}
