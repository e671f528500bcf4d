//! The SPKM-3 mechanism (RFC 2847), recognised by name and OID only.
//!
//! Linux 5.10 and later have no SPKM-3 mechanism, so they neither create
//! `spkm3` pipes nor import SPKM-3 contexts. rgssd recognises the mechanism
//! and fails every request for it cleanly: an error downcall on the client
//! side and an error reply on the server side, never a hang.

/// The kernel's and rpc.gssd's name of the mechanism.
pub const NAME: &str = "spkm3";

/// The DER content bytes of the SPKM-3 OID 1.3.6.1.5.5.1.3.
pub const OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x01, 0x03];

/// The one result of every SPKM-3 request.
pub const UNAVAILABLE: &str =
    "the SPKM-3 mechanism is not supported (Linux 5.10 and later have none); use sec=krb5, krb5i or krb5p";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_bytes() {
        assert_eq!(OID, [0x2b, 0x06, 0x01, 0x05, 0x05, 0x01, 0x03]);
    }
}
