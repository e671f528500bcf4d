//! RFC 1964 MIC and Wrap tokens that a des3-cbc-sha1 or rc4-hmac context
//! receives from its peer.
//!
//! The first input byte picks the context: bit 0 the enctype (des3 or
//! rc4-hmac), bit 1 the receiving side (acceptor or initiator), bit 2 the
//! mode.
//!
//! * Raw mode (bit 2 clear): the rest is a token for `unwrap`,
//!   `unwrap_sequenced`, `verify_mic` and `verify_mic_sequenced`.
//! * Made mode (bit 2 set): byte 1 bit 0 chooses sealing, bytes 2-3 are a
//!   position and byte 4 a mask to XOR there, so mask 0 changes nothing. The
//!   rest is the message. The peer wraps the message, the token is changed,
//!   and the receiver must return the message unchanged or reject the token.
#![no_main]

use krb5::crypto::Key;
use krb5::gss::checksum::flags;
use krb5::gss::context::EstablishedContext;
use krb5::gss::sequence::SequenceState;
use krb5::Principal;
use libfuzzer_sys::fuzz_target;

const ENCTYPES: [i32; 2] = [16, 23];

/// Builds one side of a context with a fixed key of `enctype`.
fn context(enctype: i32, initiator: bool) -> EstablishedContext {
    let length = krb5::crypto::key_length(enctype).expect("legacy enctype");
    let bytes = (0..length)
        .map(|i| (i as u8).wrapping_mul(7) ^ enctype as u8)
        .collect();
    let context_flags = flags::REPLAY | flags::SEQUENCE | flags::CONF | flags::INTEG;
    EstablishedContext {
        initiator,
        initiator_name: Principal::parse("alice@FUZZ.TEST", None).expect("valid name"),
        acceptor_name: Principal::parse("nfs/server@FUZZ.TEST", None).expect("valid name"),
        key: Key::new(enctype, bytes).expect("key of the enctype's length"),
        acceptor_subkey: false,
        flags: context_flags,
        seq_send: 1000,
        seq_recv: 2000,
        endtime: u32::MAX,
        sequence: SequenceState::new(1000, 2000, context_flags),
    }
}

fn raw(receiver: &mut EstablishedContext, token: &[u8]) {
    if let Ok(unwrapped) = receiver.unwrap(token) {
        assert!(unwrapped.message.len() < token.len());
    }
    let _ = receiver.unwrap_sequenced(token);
    let _ = receiver.verify_mic(b"", token);
    let _ = receiver.verify_mic_sequenced(token, token);
}

fn made(sender: &mut EstablishedContext, receiver: &mut EstablishedContext, data: &[u8]) {
    let [options, position_high, position_low, mask, message @ ..] = data else {
        return;
    };
    let seal = options & 1 != 0;
    let mut token = sender
        .wrap_sequenced(seal, message)
        .expect("wrap with a valid key");
    let position = usize::from(u16::from_be_bytes([*position_high, *position_low])) % token.len();
    token[position] ^= mask;

    // No checksum covers SND_SEQ, so a change there may open the token with
    // another sequence number, but never with another message.
    match receiver.unwrap_sequenced(&token) {
        Ok((unwrapped, _status)) => {
            assert_eq!(
                unwrapped.message, message,
                "a changed token opened to another message"
            );
            if *mask == 0 {
                assert_eq!(unwrapped.seq, 1000);
            }
        }
        Err(error) => assert_ne!(*mask, 0, "an unchanged token is rejected: {error}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let enctype = ENCTYPES[usize::from(selector & 1)];
    let receiver_is_initiator = selector & 2 != 0;
    let mut receiver = context(enctype, receiver_is_initiator);
    if selector & 4 == 0 {
        raw(&mut receiver, rest);
    } else {
        let mut sender = context(enctype, !receiver_is_initiator);
        made(&mut sender, &mut receiver, rest);
    }
});
