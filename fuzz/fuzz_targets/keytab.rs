//! Keytab files as read from disk. A keytab that parses must encode, and
//! the encoding must parse back to the same entries.
#![no_main]

use krb5::keytab::Keytab;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(keytab) = Keytab::parse(data) else {
        return;
    };
    let encoded = match keytab.to_bytes() {
        Ok(encoded) => encoded,
        Err(e) => panic!("parsed keytab does not encode: {e}"),
    };
    match Keytab::parse(&encoded) {
        Ok(reparsed) => assert_eq!(reparsed, keytab, "keytab changed in a round trip"),
        Err(e) => panic!("encoded keytab does not parse: {e}"),
    }
});
