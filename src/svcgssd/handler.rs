//! Turning one init request into the context record and the init reply,
//! without any I/O, so that it can be tested against recorded kernel lines.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use krb5::gss::replay::ReplayCache;
use krb5::gss::status::{major, GssError};
use krb5::Principal;

use crate::idmap::{Identity, IdentityMapper};
use crate::kernel::rpcsec::{ContextRecord, InitReply, InitRequest};
use crate::mech::{self, AcceptOptions, AcceptorCredential, Mechanism, Rejected, SecurityContext};
use zeroize::Zeroizing;

/// How long the kernel keeps an init reply, in seconds. rpc.svcgssd uses
/// the same: the entry only has to outlive the RPC that asked for it.
pub const INIT_REPLY_LIFETIME: i64 = 60;

/// Context handles: four random bytes chosen at start, then a counter, so a
/// restarted daemon does not reuse the handles of contexts that the kernel
/// still keeps (rpc.svcgssd restarts its counter at 1).
#[derive(Debug)]
pub struct HandleAllocator {
    prefix: [u8; 4],
    next: AtomicU32,
}

impl HandleAllocator {
    pub fn new() -> std::io::Result<Self> {
        let mut prefix = [0u8; 4];
        getrandom::fill(&mut prefix).map_err(std::io::Error::other)?;
        Ok(Self::with_prefix(prefix))
    }

    pub fn with_prefix(prefix: [u8; 4]) -> Self {
        Self {
            prefix,
            next: AtomicU32::new(1),
        }
    }

    pub fn allocate(&self) -> [u8; 8] {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut handle = [0u8; 8];
        handle[..4].copy_from_slice(&self.prefix);
        handle[4..].copy_from_slice(&n.to_be_bytes());
        handle
    }
}

/// The records to write for one request. The context record (if any) goes
/// to the context channel first, then the reply to the init channel. The
/// kernel looks the new handle up in the context cache when it builds the
/// reply, so the order matters.
#[derive(Debug)]
pub struct Response {
    pub context_record: Option<String>,
    pub reply: String,
    /// One log line describing the outcome.
    pub summary: String,
    /// True if the request failed.
    pub failed: bool,
}

/// The server side of RPCSEC_GSS context creation, shared by the procfs
/// channel and the gss-proxy socket.
pub struct Server {
    pub credential: AcceptorCredential,
    /// Shared with the server that replaces this one on SIGHUP.
    pub replay_cache: Arc<ReplayCache>,
    /// The kernel's enctypes, which limit the context key.
    pub enctypes: Vec<i32>,
    pub clockskew: i64,
    pub mapper: Box<dyn IdentityMapper>,
    /// Shared with the server that replaces this one on SIGHUP.
    pub handles: Arc<HandleAllocator>,
}

/// A client whose token was accepted: its context, exported for the kernel,
/// and its local identity.
pub struct AcceptedClient {
    pub mechanism: &'static dyn Mechanism,
    pub context: Box<dyn SecurityContext>,
    /// The context in the kernel's import format.
    pub exported: Zeroizing<Vec<u8>>,
    pub identity: Identity,
    /// The token for the client, empty without mutual authentication.
    pub output_token: Vec<u8>,
}

impl AcceptedClient {
    /// Returns one log line about the accepted client.
    pub fn describe(&self) -> String {
        format!(
            "accepted {} for {} as {}",
            self.context.initiator_name(),
            self.context.acceptor_name(),
            describe(&self.identity)
        )
    }
}

impl Server {
    /// Accepts a first context-creation token and maps the client to local
    /// ids. On failure, returns the status and, where the mechanism makes
    /// one, an error token for the client.
    pub fn accept(&self, token: &[u8], now: (i64, u32)) -> Result<AcceptedClient, Rejected> {
        let mechanism = mech::for_token(token)?;
        let options = AcceptOptions {
            enctypes: &self.enctypes,
            clockskew: self.clockskew,
            now,
        };
        let accepted =
            mechanism.accept_sec_context(&self.credential, &self.replay_cache, &options, token)?;

        let client = accepted.context.initiator_name();
        let identity = self
            .mapper
            .map(client)
            .map_err(|e| GssError::new(major::BAD_NAME, 0, e.to_string()))?;
        let exported = accepted.context.export()?;
        Ok(AcceptedClient {
            mechanism,
            context: accepted.context,
            exported,
            identity,
            output_token: accepted.output_token,
        })
    }

    /// Handles one parsed request from the procfs init channel at time `now`.
    pub fn handle(&self, request: &InitRequest, now: (i64, u32)) -> Response {
        let expiry = now.0 + INIT_REPLY_LIFETIME;
        let fail = |error: GssError, token: Option<Vec<u8>>| {
            let reply = InitReply {
                request,
                expiry,
                major: error.major,
                minor: error.minor,
                out_handle: &[],
                out_token: token.as_deref().unwrap_or(&[]),
            };
            Response {
                context_record: None,
                reply: reply.encode().unwrap_or_default(),
                summary: format!("rejected an RPCSEC_GSS init request: {error}"),
                failed: true,
            }
        };

        if !request.handle.is_empty() {
            return fail(
                GssError::new(
                    major::NO_CONTEXT,
                    0,
                    "CONTINUE_INIT for an unknown handle; krb5 contexts complete in one round trip",
                ),
                None,
            );
        }
        let client = match self.accept(&request.token, now) {
            Ok(client) => client,
            Err(rejected) => return fail(rejected.error, rejected.output_token),
        };

        let context = &client.context;
        let handle = self.handles.allocate();
        let host_based = host_based_name(context.initiator_name());
        let record = ContextRecord {
            handle: &handle,
            expiry: i64::from(context.endtime()),
            identity: &client.identity,
            mech: client.mechanism.name(),
            context: &client.exported,
            client_principal: host_based.as_deref(),
        };
        let record = match record.encode() {
            Ok(line) => line,
            Err(e) => return fail(GssError::new(major::FAILURE, 0, e.to_string()), None),
        };
        let reply = InitReply {
            request,
            expiry,
            major: major::COMPLETE,
            minor: 0,
            out_handle: &handle,
            out_token: &client.output_token,
        };
        let reply = match reply.encode() {
            Ok(line) => line,
            Err(e) => return fail(GssError::new(major::FAILURE, 0, e.to_string()), None),
        };

        Response {
            context_record: Some(record),
            reply,
            summary: format!(
                "{}, handle {}, expires at {}",
                client.describe(),
                hex::encode(handle),
                context.endtime()
            ),
            failed: false,
        }
    }
}

/// Returns `service@host` for a two-component principal, the form the kernel
/// keeps for NFSv4.0 callbacks; user principals have none.
pub fn host_based_name(principal: &Principal) -> Option<String> {
    match principal.components.as_slice() {
        [service, host] => Some(format!("{service}@{host}")),
        _ => None,
    }
}

fn describe(identity: &Identity) -> String {
    if identity.uid < 0 {
        "the anonymous user (no mapping)".to_string()
    } else {
        format!(
            "uid {} gid {} with {} groups",
            identity.uid,
            identity.gid,
            identity.groups.len()
        )
    }
}

/// The test server and recorded request, shared with the gss-proxy service tests.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kernel::qword::QwordReader;
    use krb5::keytab::Keytab;

    /// 2026-12-04 20:09:06 UTC, when the request was recorded.
    pub(crate) const RECORDED_AT: i64 = 1_796_414_946;

    struct Fixed(Identity);

    impl IdentityMapper for Fixed {
        fn map(&self, _: &Principal) -> Result<Identity, crate::idmap::IdmapError> {
            Ok(self.0.clone())
        }
    }

    pub(crate) fn server(identity: Identity) -> Server {
        let keytab = Keytab::parse(include_bytes!(
            "../../krb5/tests/data/mit-keytab-host-aes-sha1.bin"
        ))
        .unwrap();
        Server {
            credential: AcceptorCredential {
                keytab: Arc::new(keytab),
                principal: None,
            },
            replay_cache: Arc::new(ReplayCache::new()),
            enctypes: vec![20, 19, 18, 17],
            clockskew: 300,
            mapper: Box::new(Fixed(identity)),
            handles: Arc::new(HandleAllocator::with_prefix([0xab, 0xcd, 0xef, 0x01])),
        }
    }

    /// Returns a request that Linux 6.12 wrote for MIT's rpc.gssd (machine
    /// credentials of nfs/nfs.example.test).
    pub(crate) fn recorded_request() -> InitRequest {
        InitRequest::parse(include_bytes!(
            "../../tests/data/kernel/init-request-krb5.txt"
        ))
        .unwrap()
    }

    #[test]
    fn recorded_request_gets_context_and_reply() {
        let request = recorded_request();
        let response = server(Identity::unmapped()).handle(&request, (RECORDED_AT, 0));
        assert!(!response.failed, "{}", response.summary);

        let record = response.context_record.unwrap();
        let mut r = QwordReader::new(record.as_bytes());
        assert_eq!(
            r.bytes("handle").unwrap(),
            [0xab, 0xcd, 0xef, 0x01, 0, 0, 0, 1]
        );
        assert!(r.int("expiry").unwrap() > RECORDED_AT);
        assert_eq!(r.int("uid").unwrap(), -1);
        assert_eq!(r.int("gid").unwrap(), -1);
        assert_eq!(r.int("groups").unwrap(), 0);
        assert_eq!(r.text("mech").unwrap(), "krb5");
        let context = r.bytes("context").unwrap();
        assert_eq!(context.len(), 52);
        assert_eq!(&context[0..4], &6u32.to_ne_bytes());
        assert_eq!(&context[16..20], &20i32.to_ne_bytes());
        assert_eq!(r.text("principal").unwrap(), "nfs@nfs.example.test");
        assert!(r.finish().is_ok());

        let mut r = QwordReader::new(response.reply.as_bytes());
        assert_eq!(r.bytes("in_handle").unwrap(), request.handle);
        assert_eq!(r.bytes("in_token").unwrap(), request.token);
        assert_eq!(r.int("expiry").unwrap(), RECORDED_AT + INIT_REPLY_LIFETIME);
        assert_eq!(r.int("major").unwrap(), 0);
        assert_eq!(r.int("minor").unwrap(), 0);
        assert_eq!(
            r.bytes("out_handle").unwrap(),
            [0xab, 0xcd, 0xef, 0x01, 0, 0, 0, 1]
        );
        assert_eq!(r.bytes("out_token").unwrap()[0], 0x60);
    }

    #[test]
    fn mapped_user_and_groups_in_record() {
        let identity = Identity {
            uid: 1001,
            gid: 1001,
            groups: vec![100, 27],
        };
        let response = server(identity).handle(&recorded_request(), (RECORDED_AT, 0));
        let record = response.context_record.unwrap();
        assert!(record.contains(" 1001 1001 2 100 27 krb5 "), "{record}");
    }

    #[test]
    fn failures_reply_with_status_and_no_context() {
        let late =
            server(Identity::unmapped()).handle(&recorded_request(), (RECORDED_AT + 7200, 0));
        assert!(late.failed);
        assert!(late.context_record.is_none());
        let mut r = QwordReader::new(late.reply.as_bytes());
        r.bytes("in_handle").unwrap();
        r.bytes("in_token").unwrap();
        r.int("expiry").unwrap();
        assert_eq!(r.int("major").unwrap(), i64::from(major::FAILURE));
        assert_ne!(r.int("minor").unwrap(), 0);
        assert!(r.bytes("out_handle").unwrap().is_empty());

        let garbage = InitRequest {
            handle: Vec::new(),
            token: b"not a token".to_vec(),
        };
        let response = server(Identity::unmapped()).handle(&garbage, (RECORDED_AT, 0));
        assert!(response.failed);
        assert!(response.reply.contains(&major::DEFECTIVE_TOKEN.to_string()));

        let continued = InitRequest {
            handle: vec![1, 2, 3, 4],
            token: Vec::new(),
        };
        let response = server(Identity::unmapped()).handle(&continued, (RECORDED_AT, 0));
        assert!(response
            .reply
            .contains(&format!(" {} 0 ", major::NO_CONTEXT)));
    }

    /// Returns the major status of a reply to an init request with `token`.
    fn reply_major(token: Vec<u8>) -> i64 {
        let request = InitRequest {
            handle: Vec::new(),
            token,
        };
        let response = server(Identity::unmapped()).handle(&request, (RECORDED_AT, 0));
        assert!(response.failed, "{}", response.summary);
        assert!(response.context_record.is_none());
        let mut r = QwordReader::new(response.reply.as_bytes());
        r.bytes("in_handle").unwrap();
        r.bytes("in_token").unwrap();
        r.int("expiry").unwrap();
        r.int("major").unwrap()
    }

    #[test]
    fn spkm3_token_is_unavailable() {
        let token = krb5::gss::token::wrap(spkm3::OID, [1, 0], b"REQ-TOKEN");
        assert_eq!(reply_major(token), i64::from(major::UNAVAILABLE));
    }

    #[test]
    fn unknown_mechanism_is_bad_mech() {
        let token = krb5::gss::token::wrap(&[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02], [1, 0], b"x");
        assert_eq!(reply_major(token), i64::from(major::BAD_MECH));
    }

    #[test]
    fn handles_are_unique() {
        let handles = HandleAllocator::with_prefix([1, 2, 3, 4]);
        assert_ne!(handles.allocate(), handles.allocate());
    }

    #[test]
    fn host_based_names() {
        let machine = Principal::parse("nfs/client.example.test@R", None).unwrap();
        assert_eq!(
            host_based_name(&machine).as_deref(),
            Some("nfs@client.example.test")
        );
        let user = Principal::parse("alice@R", None).unwrap();
        assert_eq!(host_based_name(&user), None);
    }
}
