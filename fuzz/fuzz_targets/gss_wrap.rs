//! Per-message tokens a context receives from its peer: RFC 4121 Wrap and
//! MIC tokens, checked against fixed contexts of every RFC 4121 enctype,
//! and the sequence numbers they carry.
//!
//! The first input byte picks the context: bits 0-2 the enctype (modulo
//! six), bit 3 the receiving side (acceptor or initiator), bit 4 whether an
//! acceptor subkey was asserted, bit 5 the mode.
//!
//! * Raw mode (bit 5 clear): the rest is a token for `unwrap` and
//!   `verify_mic`, and is also read as big-endian sequence numbers for the
//!   receive window.
//! * Made mode (bit 5 set): byte 1 bit 0 chooses sealing, and bytes 2-3 are
//!   an RRC to rotate by. Bytes 4-5 are a position and byte 6 a mask to XOR
//!   there, so mask 0 changes nothing. The rest is the message. The peer
//!   wraps the message, the token is rotated and changed, and the receiver
//!   must return the message unchanged or reject the token.
#![no_main]

use krb5::crypto::Key;
use krb5::gss::checksum::flags;
use krb5::gss::context::EstablishedContext;
use krb5::gss::sequence::{ReceiveWindow, SequenceState};
use krb5::Principal;
use libfuzzer_sys::fuzz_target;

const ENCTYPES: [i32; 6] = [17, 18, 19, 20, 25, 26];

/// Builds one side of a context with a fixed key of `enctype`.
fn context(enctype: i32, initiator: bool, acceptor_subkey: bool) -> EstablishedContext {
    let length = krb5::crypto::key_length(enctype).expect("RFC 4121 enctype");
    let bytes = (0..length)
        .map(|i| (i as u8).wrapping_mul(7) ^ enctype as u8)
        .collect();
    let context_flags = flags::REPLAY | flags::SEQUENCE | flags::CONF | flags::INTEG;
    EstablishedContext {
        initiator,
        initiator_name: Principal::parse("alice@FUZZ.TEST", None).expect("valid name"),
        acceptor_name: Principal::parse("nfs/server@FUZZ.TEST", None).expect("valid name"),
        key: Key::new(enctype, bytes).expect("key of the enctype's length"),
        acceptor_subkey,
        flags: context_flags,
        seq_send: 1000,
        seq_recv: 2000,
        endtime: u32::MAX,
        sequence: SequenceState::new(1000, 2000, context_flags),
    }
}

fn rotate_right(token: &mut [u8], rrc: u16) {
    token[6..8].copy_from_slice(&rrc.to_be_bytes());
    let body = &mut token[16..];
    if !body.is_empty() {
        let shift = usize::from(rrc) % body.len();
        body.rotate_right(shift);
    }
}

fn raw(receiver: &mut EstablishedContext, token: &[u8]) {
    if let Ok(unwrapped) = receiver.unwrap(token) {
        assert!(unwrapped.message.len() + 16 <= token.len());
    }
    let _ = receiver.unwrap_sequenced(token);
    let _ = receiver.verify_mic(b"", token);
    let _ = receiver.verify_mic_sequenced(token, token);

    let mut window = ReceiveWindow::new(
        u64::from(token.first().copied().unwrap_or(0)),
        receiver.flags,
    );
    for chunk in token.chunks_exact(8) {
        let seq = u64::from_be_bytes(chunk.try_into().expect("8 bytes"));
        let _ = window.check(seq);
    }
}

fn made(sender: &mut EstablishedContext, receiver: &mut EstablishedContext, data: &[u8]) {
    let [options, rrc_high, rrc_low, position_high, position_low, mask, message @ ..] = data else {
        return;
    };
    let seal = options & 1 != 0;
    let mut token = sender
        .wrap_sequenced(seal, message)
        .expect("wrap with a valid key");
    rotate_right(&mut token, u16::from_be_bytes([*rrc_high, *rrc_low]));
    let position = usize::from(u16::from_be_bytes([*position_high, *position_low])) % token.len();
    token[position] ^= mask;

    match receiver.unwrap_sequenced(&token) {
        Ok((unwrapped, _status)) => {
            assert_eq!(
                unwrapped.message, message,
                "a changed token opened to another message"
            );
            assert_eq!(unwrapped.seq, 1000);
        }
        Err(error) => assert_ne!(*mask, 0, "an unchanged token is rejected: {error}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let enctype = ENCTYPES[usize::from(selector & 7) % ENCTYPES.len()];
    let receiver_is_initiator = selector & 8 != 0;
    let acceptor_subkey = selector & 16 != 0;
    let mut receiver = context(enctype, receiver_is_initiator, acceptor_subkey);
    if selector & 32 == 0 {
        raw(&mut receiver, rest);
    } else {
        let mut sender = context(enctype, !receiver_is_initiator, acceptor_subkey);
        made(&mut sender, &mut receiver, rest);
    }
});
