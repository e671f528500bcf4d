//! Text and legacy upcalls and `info` files, as a hostile kernel or a
//! corrupted rpc_pipefs could present them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgssd::kernel::{info::ClientInfo, upcall};

fuzz_target!(|data: &[u8]| {
    let _ = upcall::parse_text(data);
    let _ = upcall::parse_legacy(data, "krb5");
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ClientInfo::parse(text);
    }
});
