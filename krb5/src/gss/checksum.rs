//! The authenticator checksum of type 0x8003 (RFC 4121 §4.1.1), which carries
//! the channel-binding hash and the requested context flags. Its integers are
//! little-endian, unlike the rest of Kerberos.

use md5::{Digest, Md5};

use crate::codec::{DecodeError, Reader};

/// Context flags (RFC 2744 §3.9 values, as RFC 4121 §4.1.1.1 carries them).
pub mod flags {
    pub const DELEG: u32 = 1;
    pub const MUTUAL: u32 = 2;
    pub const REPLAY: u32 = 4;
    pub const SEQUENCE: u32 = 8;
    pub const CONF: u32 = 16;
    pub const INTEG: u32 = 32;
    pub const ANON: u32 = 64;
    /// MIT's GSS_C_CHANNEL_BOUND_FLAG (krb5 1.19 and later): the acceptor
    /// was given channel bindings and the initiator's hash matched them.
    pub const CHANNEL_BOUND: u32 = 2048;
}

/// Channel bindings (RFC 2744 §3.11 `gss_channel_bindings_struct`): data
/// about the channel under the context, such as addresses or a TLS channel
/// binding, that both sides pass in and the acceptor compares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelBindings {
    pub initiator_addrtype: u32,
    pub initiator_address: Vec<u8>,
    pub acceptor_addrtype: u32,
    pub acceptor_address: Vec<u8>,
    pub application_data: Vec<u8>,
}

impl ChannelBindings {
    /// Returns the MD5 hash that the checksum's Bnd field carries (RFC 4121
    /// §4.1.1.2). The input is laid out as MIT krb5 1.20 does it
    /// (`kg_checksum_channel_bindings`): each address type as a 4-byte
    /// little-endian integer, and each address and the application data as
    /// a 4-byte little-endian length followed by the bytes.
    pub fn hash(&self) -> [u8; BND_LEN] {
        // A field of 4 GiB or more cannot be described; its length saturates,
        // so such bindings only ever match identical ones.
        let length = |bytes: &[u8]| u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_le_bytes();
        let mut md5 = Md5::new();
        md5.update(self.initiator_addrtype.to_le_bytes());
        md5.update(length(&self.initiator_address));
        md5.update(&self.initiator_address);
        md5.update(self.acceptor_addrtype.to_le_bytes());
        md5.update(length(&self.acceptor_address));
        md5.update(&self.acceptor_address);
        md5.update(length(&self.application_data));
        md5.update(&self.application_data);
        md5.finalize().into()
    }
}

/// The length of the channel-binding hash field.
const BND_LEN: usize = 16;

/// The decoded checksum. Delegated credentials and extensions are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GssChecksum {
    /// MD5 of the channel bindings, or zeros when the initiator had none.
    pub bnd: [u8; BND_LEN],
    pub flags: u32,
    /// The KRB-CRED of delegated credentials, when DELEG is set.
    pub delegation: Option<Vec<u8>>,
}

impl GssChecksum {
    /// Builds the checksum without channel bindings or delegation.
    pub fn new(flags: u32) -> Self {
        Self {
            bnd: [0; BND_LEN],
            flags: flags & !flags::DELEG,
            delegation: None,
        }
    }

    /// Builds the checksum with the hash of `bindings`, or zeros for none.
    pub fn with_bindings(flags: u32, bindings: Option<&ChannelBindings>) -> Self {
        let mut checksum = Self::new(flags);
        if let Some(bindings) = bindings {
            checksum.bnd = bindings.hash();
        }
        checksum
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24);
        out.extend_from_slice(&(BND_LEN as u32).to_le_bytes());
        out.extend_from_slice(&self.bnd);
        out.extend_from_slice(&self.flags.to_le_bytes());
        if let Some(cred) = &self.delegation {
            // A KRB-CRED longer than 65535 bytes cannot be carried; callers
            // never build one, as delegation is not offered.
            out.extend_from_slice(&1u16.to_le_bytes());
            out.extend_from_slice(&(cred.len().min(usize::from(u16::MAX)) as u16).to_le_bytes());
            out.extend_from_slice(cred);
        }
        out
    }

    /// Decodes the checksum value. Bytes after the delegation field are
    /// RFC 4121 §4.1.1.2 extensions, which this acceptor ignores.
    pub fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(value);
        let lgth = u32::from_le_bytes(r.array("Lgth")?);
        if lgth as usize != BND_LEN {
            return Err(r.invalid("Lgth", format!("{lgth}, expected {BND_LEN}")));
        }
        let bnd = r.array::<BND_LEN>("Bnd")?;
        let flags = u32::from_le_bytes(r.array("Flags")?);

        let delegation = if flags & flags::DELEG != 0 && !r.is_empty() {
            let _dlg_opt = u16::from_le_bytes(r.array("DlgOpt")?);
            let dlgth = u16::from_le_bytes(r.array("Dlgth")?);
            Some(r.take(dlgth.into(), "Deleg")?.to_vec())
        } else {
            None
        };
        Ok(Self {
            bnd,
            flags,
            delegation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_layout_is_little_endian() {
        let bytes = GssChecksum::new(flags::MUTUAL | flags::CONF | flags::INTEG).encode();
        assert_eq!(bytes.len(), 24);
        assert_eq!(&bytes[0..4], &[16, 0, 0, 0]);
        assert_eq!(&bytes[4..20], &[0; 16]);
        assert_eq!(&bytes[20..24], &[0x32, 0, 0, 0]);
    }

    #[test]
    fn decode_round_trip_and_extensions() {
        let mut bytes = GssChecksum::new(flags::MUTUAL).encode();
        bytes.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0]);
        let decoded = GssChecksum::decode(&bytes).unwrap();
        assert_eq!(decoded.flags, flags::MUTUAL);
        assert_eq!(decoded.delegation, None);
    }

    #[test]
    fn decode_delegation() {
        let mut bytes = GssChecksum::new(0).encode();
        bytes[20] = (flags::DELEG | flags::MUTUAL) as u8;
        bytes.extend_from_slice(&[1, 0, 3, 0, 0x76, 0x01, 0x00]);
        let decoded = GssChecksum::decode(&bytes).unwrap();
        assert_eq!(decoded.delegation.as_deref(), Some(&[0x76, 0x01, 0x00][..]));
    }

    /// The bindings are hashed as MD5 of 02000000 04000000 7f000001
    /// 02000000 04000000 7f000002 03000000 616263, whose digest Python's
    /// hashlib computed.
    #[test]
    fn bindings_hash_layout() {
        let bindings = ChannelBindings {
            initiator_addrtype: 2,
            initiator_address: vec![127, 0, 0, 1],
            acceptor_addrtype: 2,
            acceptor_address: vec![127, 0, 0, 2],
            application_data: b"abc".to_vec(),
        };
        let expected: [u8; 16] = hex::decode("c3babf49b37db049681e48f6121a55a7")
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(bindings.hash(), expected);
        assert_ne!(bindings.hash(), ChannelBindings::default().hash());

        let checksum = GssChecksum::with_bindings(flags::MUTUAL, Some(&bindings)).encode();
        assert_eq!(&checksum[4..20], &expected);
        let checksum = GssChecksum::with_bindings(flags::MUTUAL, None).encode();
        assert_eq!(&checksum[4..20], &[0; 16]);
    }

    #[test]
    fn decode_rejects_bad_values() {
        let mut bytes = GssChecksum::new(0).encode();
        bytes[0] = 15;
        assert!(GssChecksum::decode(&bytes).is_err());
        let bytes = GssChecksum::new(0).encode();
        for len in 0..bytes.len() {
            assert!(GssChecksum::decode(&bytes[..len]).is_err(), "prefix {len}");
        }
    }
}
