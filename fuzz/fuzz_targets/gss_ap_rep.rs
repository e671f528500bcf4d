//! Acceptor replies for an initiator context: `PendingContext::complete`
//! on a context started at a fixed time with a fixed session key. A reply
//! it takes must name the expected peers and leave a context key of an
//! offered enctype.
#![no_main]

use krb5::gss::status::major;
use libfuzzer_sys::fuzz_target;
use rgssd_fuzz::{client, credential, pending, service, OFFERED};

fuzz_target!(|data: &[u8]| {
    let credential = credential();
    match pending(&credential).complete(data) {
        Ok(context) => {
            assert_eq!(context.initiator_name, client());
            assert_eq!(context.acceptor_name, service());
            assert!(OFFERED.contains(&context.key.enctype()));
        }
        Err(error) => {
            assert_ne!(error.major & 0x00ff_0000, major::COMPLETE);
            assert!(!error.message.is_empty());
        }
    }
});
