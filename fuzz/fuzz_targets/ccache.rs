//! FILE credential caches as read from disk, and the version 4 principal
//! and credential encodings that KEYRING keys and KCM replies carry. What
//! parses must encode, and the encoding must parse back to the same value.
#![no_main]

use krb5::ccache::file;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cache) = file::parse(data) {
        let encoded = match file::encode(&cache) {
            Ok(encoded) => encoded,
            Err(e) => panic!("parsed cache does not encode: {e}"),
        };
        match file::parse(&encoded) {
            Ok(reparsed) => assert_eq!(reparsed, cache, "cache changed in a round trip"),
            Err(e) => panic!("encoded cache does not parse: {e}"),
        }
    }

    if let Ok(principal) = file::decode_principal(data) {
        let encoded = match file::encode_principal(&principal) {
            Ok(encoded) => encoded,
            Err(e) => panic!("parsed principal does not encode: {e}"),
        };
        assert_eq!(
            file::decode_principal(&encoded).ok(),
            Some(principal),
            "principal changed in a round trip"
        );
    }

    if let Ok(credential) = file::decode_credential(data) {
        let encoded = match file::encode_credential(&credential) {
            Ok(encoded) => encoded,
            Err(e) => panic!("parsed credential does not encode: {e}"),
        };
        assert_eq!(
            file::decode_credential(&encoded).ok(),
            Some(credential),
            "credential changed in a round trip"
        );
    }
});
