//! RPC replies from the NFS server and from its rpcbind: the RPCSEC_GSS
//! INIT reply and the portmapper and rpcbind replies. The first four bytes
//! are taken as the expected xid so that the body is reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgssd::rpc::{gss_init, rpcbind};

fuzz_target!(|data: &[u8]| {
    let xid = data
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .unwrap_or(0);
    if let Ok(result) = gss_init::decode_reply(data, xid) {
        assert!(result.handle.len() <= gss_init::MAX_AUTH_BYTES);
        assert!(result.verifier.len() <= gss_init::MAX_AUTH_BYTES);
        assert!(result.token.len() < data.len());
    }
    let _ = rpcbind::decode_getport_reply(data, xid);
    let _ = rpcbind::decode_set_reply(data, xid);
    if let Ok(text) = rpcbind::decode_getaddr_reply(data, xid) {
        round_trip(&text);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        round_trip(text);
    }
});

/// Checks that a universal address that parses formats back to the same
/// address.
fn round_trip(text: &str) {
    if let Some(address) = rpcbind::parse_universal_address(text) {
        let again = rpcbind::universal_address(address);
        assert_eq!(rpcbind::parse_universal_address(&again), Some(address));
    }
}
