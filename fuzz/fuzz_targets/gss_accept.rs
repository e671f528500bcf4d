//! InitialContextTokens for the acceptor: `accept_sec_context` with a fixed
//! keytab and clock. An input it accepts must name the fixture's client,
//! because only the fixed service key can make a ticket pass, and a
//! rejection must carry an error status and a message.
#![no_main]

use krb5::gss::acceptor::accept_sec_context;
use krb5::gss::replay::ReplayCache;
use krb5::gss::status::major;
use krb5::gss::token::{self, tok_id};
use libfuzzer_sys::fuzz_target;
use rgssd_fuzz::{acceptor_options, client, keytab};

fuzz_target!(|data: &[u8]| {
    // A fresh replay cache per input keeps every run independent of the last.
    let result = accept_sec_context(&keytab(), &ReplayCache::new(), &acceptor_options(), data);
    match result {
        Ok(accepted) => {
            assert_eq!(accepted.context.initiator_name, client());
            if !accepted.output_token.is_empty() {
                let (id, _) = token::unwrap_krb5(&accepted.output_token).unwrap();
                assert_eq!(id, tok_id::AP_REP);
            }
        }
        Err(rejected) => {
            assert_ne!(rejected.error.major & 0x00ff_0000, major::COMPLETE);
            assert!(!rejected.error.message.is_empty());
            if let Some(error_token) = rejected.output_token {
                let (id, _) = token::unwrap_krb5(&error_token).unwrap();
                assert_eq!(id, tok_id::KRB_ERROR);
            }
        }
    }
});
