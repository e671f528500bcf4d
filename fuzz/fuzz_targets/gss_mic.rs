//! RFC 4121 MIC tokens: `mic::verify_mic` with the key and expected flags
//! that the input's first byte selects, over a fixed message. A token that
//! verifies must be exactly the token `get_mic` makes for its flags and
//! sequence number, and a rejection must map to an error status.
#![no_main]

use krb5::gss::mic::{get_mic, verify_mic};
use krb5::gss::status::{major, GssError};
use libfuzzer_sys::fuzz_target;
use rgssd_fuzz::{mic_key, MIC_MESSAGE};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, token)) = data.split_first() else {
        return;
    };
    let (key, expected_flags) = mic_key(selector);
    match verify_mic(&key, expected_flags, MIC_MESSAGE, token) {
        Ok(seq) => {
            let remade = get_mic(&key, token[2], seq, MIC_MESSAGE).unwrap();
            assert_eq!(remade, token);
        }
        Err(error) => {
            let status = GssError::from(error);
            assert_ne!(status.major & 0x00ff_0000, major::COMPLETE);
        }
    }
});
