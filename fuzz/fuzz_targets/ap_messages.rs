//! Messages an acceptor or initiator reads from its peer: GSS-API framed
//! tokens, AP-REQ and AP-REP, the tickets inside them, the decrypted parts
//! (EncTicketPart, Authenticator, EncAPRepPart) and the RFC 4121 checksum
//! carried in an Authenticator.
#![no_main]

use krb5::gss::checksum::GssChecksum;
use krb5::gss::token::{unwrap_any, unwrap_krb5};
use krb5::messages::{
    decode_ap_rep, decode_ap_req, decode_authenticator, decode_enc_ap_rep_part,
    decode_enc_ticket_part, decode_ticket,
};
use libfuzzer_sys::fuzz_target;

/// Runs every message decoder on `message`.
fn decode_messages(message: &[u8]) {
    let _ = decode_ap_req(message);
    let _ = decode_ap_rep(message);
    let _ = decode_authenticator(message);
    let _ = decode_enc_ap_rep_part(message);
    let _ = decode_enc_ticket_part(message);
    let _ = decode_ticket(message);
    let _ = GssChecksum::decode(message);
}

fuzz_target!(|data: &[u8]| {
    decode_messages(data);

    if let Ok(framed) = unwrap_any(data) {
        assert!(framed.oid.len() + framed.inner.len() < data.len());
    }

    // The message inside a krb5 token is what an acceptor decodes next.
    if let Ok((_tok_id, message)) = unwrap_krb5(data) {
        decode_messages(message);
    }
});
