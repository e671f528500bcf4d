//! Init request lines from the server's procfs channel. A parsed request
//! must survive a round trip through the reply encoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rgssd::kernel::qword::QwordReader;
use rgssd::kernel::rpcsec::{InitReply, InitRequest};

fuzz_target!(|data: &[u8]| {
    let Ok(request) = InitRequest::parse(data) else {
        return;
    };
    let reply = InitReply {
        request: &request,
        expiry: 0,
        major: 0,
        minor: 0,
        out_handle: &[],
        out_token: &[],
    };
    if let Ok(line) = reply.encode() {
        let mut reader = QwordReader::new(line.as_bytes());
        assert_eq!(reader.bytes("in_handle").ok(), Some(request.handle.clone()));
        assert_eq!(reader.bytes("in_token").ok(), Some(request.token.clone()));
    }
});
