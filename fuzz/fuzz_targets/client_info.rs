//! The `info` file of an rpc_pipefs client directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgssd::kernel::info::ClientInfo;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(info) = ClientInfo::parse(text) {
        assert!(!info.server.is_empty());
        assert!(!info.address.is_empty());
    }
});
