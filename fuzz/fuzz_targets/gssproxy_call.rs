//! Calls on the gss-proxy socket, as the kernel's NFS server sends them.
//! Decoded arguments must survive a round trip through the encoder, and
//! every call must get through the whole service without a panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use krb5::crypto::Key;
use krb5::gss::replay::ReplayCache;
use krb5::keytab::{Keytab, KeytabEntry};
use krb5::Principal;
use libfuzzer_sys::fuzz_target;
use rgssd::gssproxy::gssx::{AcceptArgs, AcceptResult, LinuxCreds};
use rgssd::gssproxy::service::handle_message;
use rgssd::idmap::{IdentityMapper, IdmapError};
use rgssd::kernel::rpcsec::Identity;
use rgssd::mech::AcceptorCredential;
use rgssd::rpc::server::Call;
use rgssd::svcgssd::handler::{HandleAllocator, Server};

struct Unmapped;

impl IdentityMapper for Unmapped {
    fn map(&self, _: &Principal) -> Result<Identity, IdmapError> {
        Ok(Identity::unmapped())
    }
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let mut keytab = Keytab::new();
        keytab.add_entry(KeytabEntry {
            principal: Principal::host_service("nfs", "server.example.test", "EXAMPLE.TEST"),
            timestamp: 0,
            kvno: 2,
            key: Key::random(18).expect("random key"),
        });
        Server {
            credential: AcceptorCredential {
                keytab: Arc::new(keytab),
                principal: None,
            },
            replay_cache: Arc::new(ReplayCache::new()),
            enctypes: Vec::new(),
            clockskew: 300,
            mapper: Box::new(Unmapped),
            handles: Arc::new(HandleAllocator::with_prefix([0; 4])),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(call) = Call::decode(data) {
        if let Ok(args) = AcceptArgs::decode(call.args) {
            if args.cred_handle.is_none() {
                if let Ok(encoded) = args.encode() {
                    assert_eq!(AcceptArgs::decode(&encoded).ok(), Some(args));
                }
            }
        }
    }
    let _ = AcceptResult::decode(data);
    let _ = LinuxCreds::from_value(data);
    let _ = handle_message(server(), data, (1_800_000_000, 0));
});
