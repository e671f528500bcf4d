//! Legacy upcalls from the `krb5` and `spkm3` pipes: a bare uid in host
//! byte order, as a hostile kernel or a corrupted rpc_pipefs could present it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgssd::kernel::upcall;

fuzz_target!(|data: &[u8]| {
    for mech in ["krb5", "spkm3"] {
        if let Ok(parsed) = upcall::parse_legacy(data, mech) {
            assert_eq!(parsed.uid.to_ne_bytes().as_slice(), data);
            assert_eq!(parsed.mech, mech);
            assert!(parsed.target.is_none());
            assert!(parsed.service.is_none());
        }
    }
});
