//! Live interoperability of our GSS-API krb5 mechanism with MIT's
//! libgssapi_krb5, through the C peer `mit_gss_peer.c` and an MIT KDC
//! started by `testkdc`, for every strong enctype in both directions, with
//! and without mutual authentication.
//!
//! Each test compares the two ends of one context. MIT's lucid v1 export
//! must match our context and its lucid v2 export in the base key, its
//! enctype, the acceptor-subkey choice, the sequence numbers and the end
//! time. A MIC token is then checked in each direction.

mod mit_program;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use krb5::config::Config;
use krb5::credentials::Credential;
use krb5::gss::acceptor::{accept_sec_context, AcceptorOptions};
use krb5::gss::checksum::flags;
use krb5::gss::context::EstablishedContext;
use krb5::gss::initiator::{init_sec_context, InitStep, InitiatorOptions};
use krb5::gss::lucid;
use krb5::gss::replay::ReplayCache;
use krb5::iana::enctype;
use krb5::kdc::{AsOptions, KdcClient, Secret, TgsOptions};
use krb5::keytab::Keytab;
use krb5::Principal;
use testkdc::{PrincipalSpec, TestKdc, TestKdcOptions};

const REALM: &str = "KRBTEST.COM";
const SERVICE: &str = "nfs/server.krbtest.com";
const TARGET: &str = "nfs@server.krbtest.com";
const USER: &str = "alice";
const PASSWORD: &str = "alice password";

/// The messages that we and MIT sign.
const OUR_MESSAGE: &[u8] = b"signed by rgssd";
const MIT_MESSAGE: &[u8] = b"signed by MIT libgssapi_krb5";

/// Builds `mit_gss_peer.c` once per test process.
fn peer_program() -> &'static Path {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM.get_or_init(|| mit_program::build("mit_gss_peer"))
}

/// A running C peer and its line protocol.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn spawn(kdc: &TestKdc, args: &[&str]) -> Peer {
        let mut child = kdc
            .command(peer_program())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the MIT GSS-API peer: {e}"));
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Peer {
            child,
            stdin,
            stdout,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        writeln!(self.stdin, "{}", hex::encode(bytes)).unwrap();
        self.stdin.flush().unwrap();
    }

    /// Reads the next line, which must start with `tag`, and returns the rest.
    fn expect(&mut self, tag: &str) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let line = line.trim_end();
        match line.strip_prefix(tag) {
            Some(rest) if rest.is_empty() || rest.starts_with(' ') => rest.trim().to_string(),
            _ => {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = self.child.kill();
                    let _ = pipe.read_to_string(&mut stderr);
                }
                panic!("MIT peer: expected {tag:?}, got {line:?}\nstderr: {stderr}");
            }
        }
    }

    fn expect_hex(&mut self, tag: &str) -> Vec<u8> {
        let text = self.expect(tag);
        hex::decode(&text).unwrap_or_else(|e| panic!("MIT peer sent invalid hex {text:?}: {e}"))
    }

    fn wait(mut self) {
        drop(self.stdin);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "MIT peer exited with {status}");
    }
}

/// The fields of MIT's lucid v1 export that the peer prints.
#[derive(Debug)]
struct MitLucid {
    initiate: bool,
    endtime: u32,
    send_seq: u64,
    recv_seq: u64,
    protocol: u32,
    acceptor_subkey: bool,
    enctype: i32,
    key: Vec<u8>,
}

fn parse_lucid(line: &str) -> MitLucid {
    let fields: HashMap<&str, &str> = line
        .split_whitespace()
        .filter_map(|field| field.split_once('='))
        .collect();
    let field = |name: &str| {
        *fields
            .get(name)
            .unwrap_or_else(|| panic!("lucid line {line:?} lacks {name}"))
    };
    let number = |name: &str| -> u64 {
        field(name)
            .parse()
            .unwrap_or_else(|e| panic!("lucid field {name} in {line:?}: {e}"))
    };
    assert_eq!(number("version"), 1);
    MitLucid {
        initiate: number("initiate") != 0,
        endtime: number("endtime") as u32,
        send_seq: number("send_seq"),
        recv_seq: number("recv_seq"),
        protocol: number("protocol") as u32,
        acceptor_subkey: number("acceptor_subkey") != 0,
        enctype: number("enctype") as i32,
        key: hex::decode(field("key")).unwrap(),
    }
}

/// Our lucid v2 export, decoded.
struct OurLucid {
    flags: u32,
    endtime: u32,
    seq_send: u64,
    enctype: i32,
    key: Vec<u8>,
}

fn our_lucid(context: &EstablishedContext) -> OurLucid {
    let blob = context.export_lucid().unwrap();
    OurLucid {
        flags: u32::from_ne_bytes(blob[0..4].try_into().unwrap()),
        endtime: u32::from_ne_bytes(blob[4..8].try_into().unwrap()),
        seq_send: u64::from_ne_bytes(blob[8..16].try_into().unwrap()),
        enctype: i32::from_ne_bytes(blob[16..20].try_into().unwrap()),
        key: blob[20..].to_vec(),
    }
}

fn now() -> (i64, u32) {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (elapsed.as_secs() as i64, elapsed.subsec_micros())
}

fn enctype_name(enctype: i32) -> &'static str {
    enctype::name(enctype).unwrap()
}

fn service_principal() -> Principal {
    Principal::parse(SERVICE, Some(REALM)).unwrap()
}

/// Starts a realm whose keys, and so whose session keys, all have `enctype`,
/// with extra `[libdefaults]` lines. The service's keys go to the default keytab (KRB5_KTNAME) that MIT's
/// acceptor reads.
fn start_kdc(enctype: i32, libdefaults: &[&str]) -> TestKdc {
    let name = enctype_name(enctype);
    let mut options = TestKdcOptions::new(REALM)
        .with_enctypes(&[enctype])
        .libdefault(&format!("default_tkt_enctypes = {name}"))
        .user(USER, PASSWORD)
        .principal(PrincipalSpec::service(SERVICE).with_keytab("krb5.keytab"));
    // A repeated relation would leave the value to the profile library's
    // choice, so an override replaces the default line.
    if !libdefaults
        .iter()
        .any(|line| line.starts_with("default_tgs_enctypes"))
    {
        options = options.libdefault(&format!("default_tgs_enctypes = {name}"));
    }
    for line in libdefaults {
        options = options.libdefault(line);
    }
    TestKdc::start(options).unwrap_or_else(|e| panic!("cannot start the test KDC: {e}"))
}

/// Gets a service ticket for `SERVICE` through our KDC client.
async fn our_service_ticket(kdc: &TestKdc) -> Credential {
    let path = kdc.krb5_conf();
    let config = Config::load_path_list(path.to_str().unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let client = KdcClient::from_config(Arc::new(config)).unwrap();
    let alice = Principal::parse(USER, Some(REALM)).unwrap();
    let tgt = client
        .get_initial_credentials(&alice, &Secret::password(PASSWORD), &AsOptions::default())
        .await
        .unwrap_or_else(|e| panic!("AS exchange: {e}\n{}", kdc.log()));
    client
        .get_service_credentials(&tgt, &service_principal(), &TgsOptions::default())
        .await
        .unwrap_or_else(|e| panic!("TGS exchange: {e}\n{}", kdc.log()))
        .credential
}

/// Fills the environment's ccache with MIT's kinit.
fn mit_kinit(kdc: &TestKdc) {
    let kinit = testkdc::find_program("kinit", "krb5-user").unwrap();
    let mut child = kdc
        .command(kinit)
        .arg(format!("{USER}@{REALM}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "kinit failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        kdc.log()
    );
}

/// Runs the MIC exchange of the peer's protocol: MIT verifies our MIC, then
/// we verify MIT's and return its sequence number.
fn exchange_mics(peer: &mut Peer, context: &EstablishedContext) -> u64 {
    let mic = context.get_mic(context.seq_send, OUR_MESSAGE).unwrap();
    peer.send(OUR_MESSAGE);
    peer.send(&mic);
    peer.expect("verified");

    peer.send(MIT_MESSAGE);
    let mit_mic = peer.expect_hex("mic");
    context
        .verify_mic(MIT_MESSAGE, &mit_mic)
        .unwrap_or_else(|e| panic!("MIT's MIC does not verify with our context: {e}"))
}

/// Checks the agreement of MIT's lucid export with our context, after MIT
/// made exactly one MIC token (which advanced its send_seq by one).
fn assert_lucid_agrees(mit: &MitLucid, ours: &EstablishedContext) {
    let exported = our_lucid(ours);

    assert_eq!(mit.protocol, 1, "MIT context uses RFC 1964 tokens");
    assert_eq!(mit.initiate, !ours.initiator, "MIT's initiate flag");
    assert_eq!(mit.enctype, ours.key.enctype(), "context key enctype");
    assert_eq!(mit.key, ours.key.bytes(), "context key bytes");
    assert_eq!(mit.acceptor_subkey, ours.acceptor_subkey, "acceptor subkey");
    assert_eq!(mit.recv_seq, ours.seq_send, "MIT recv_seq vs our seq_send");
    assert_eq!(
        mit.send_seq,
        ours.seq_recv + 1,
        "MIT send_seq vs our seq_recv"
    );
    assert_eq!(mit.endtime, ours.endtime, "context end time");

    assert_eq!(exported.enctype, mit.enctype, "our lucid enctype");
    assert_eq!(exported.key, mit.key, "our lucid key");
    assert_eq!(exported.seq_send, mit.recv_seq, "our lucid seq_send");
    assert_eq!(exported.endtime, mit.endtime, "our lucid end time");
    assert_eq!(
        exported.flags & lucid::FLAG_ACCEPTOR_SUBKEY != 0,
        mit.acceptor_subkey,
        "our lucid acceptor-subkey flag"
    );
    assert_eq!(
        exported.flags & lucid::FLAG_INITIATOR != 0,
        ours.initiator,
        "our lucid initiator flag"
    );
    assert_ne!(exported.flags & lucid::FLAG_CFX, 0, "our lucid CFX flag");
}

/// Our initiator against MIT's acceptor. Returns our context.
async fn our_initiator(
    enctype: i32,
    mutual: bool,
    offered: &[i32],
    libdefaults: &[&str],
) -> EstablishedContext {
    let kdc = start_kdc(enctype, libdefaults);
    let ticket = our_service_ticket(&kdc).await;
    assert_eq!(ticket.session_key.enctype(), enctype);

    let mut request = flags::CONF | flags::INTEG;
    if mutual {
        request |= flags::MUTUAL;
    }
    let options = InitiatorOptions {
        flags: request,
        enctypes: offered,
        now: now(),
    };
    let mut peer = Peer::spawn(&kdc, &["accept"]);
    let context = match init_sec_context(&ticket, &options).unwrap() {
        InitStep::ContinueNeeded(pending, token) => {
            assert!(
                mutual,
                "a context without mutual authentication waited for a reply"
            );
            peer.send(&token);
            let reply = peer.expect_hex("token");
            pending
                .complete(&reply)
                .unwrap_or_else(|e| panic!("MIT's AP-REP is rejected: {e}"))
        }
        InitStep::Complete(context, token) => {
            assert!(!mutual, "mutual authentication completed without an AP-REP");
            peer.send(&token);
            let reply = peer.expect_hex("token");
            assert!(
                reply.is_empty(),
                "MIT sent a reply without mutual authentication"
            );
            *context
        }
    };
    let mit_flags = peer.expect("flags");
    let mit_flags = u32::from_str_radix(mit_flags.trim_start_matches("0x"), 16).unwrap();
    assert_eq!(mit_flags & flags::MUTUAL != 0, mutual, "MIT's mutual flag");

    let mit_seq = exchange_mics(&mut peer, &context);
    assert_eq!(mit_seq, context.seq_recv, "sequence number of MIT's MIC");
    let mit = parse_lucid(&peer.expect("lucid"));
    peer.wait();

    assert_lucid_agrees(&mit, &context);
    context
}

/// MIT's initiator (after MIT's kinit) against our acceptor. Returns our context.
fn mit_initiator(
    enctype: i32,
    mutual: bool,
    allowed: &[i32],
    libdefaults: &[&str],
) -> EstablishedContext {
    let kdc = start_kdc(enctype, libdefaults);
    mit_kinit(&kdc);
    let keytab = Keytab::load_path(kdc.keytab(SERVICE).unwrap()).unwrap();
    let service = service_principal();
    let replay_cache = ReplayCache::new();

    let mut args = vec!["init", TARGET];
    if !mutual {
        args.push("nomutual");
    }
    let mut peer = Peer::spawn(&kdc, &args);
    let token = peer.expect_hex("token");
    let options = AcceptorOptions {
        acceptor_name: Some(&service),
        enctypes: allowed,
        clockskew: 300,
        now: now(),
    };
    let accepted = accept_sec_context(&keytab, &replay_cache, &options, &token)
        .unwrap_or_else(|r| panic!("MIT's AP-REQ is rejected: {}", r.error));
    let context = accepted.context;
    assert_eq!(
        context.flags & flags::MUTUAL != 0,
        mutual,
        "our mutual flag"
    );
    if mutual {
        assert!(!accepted.output_token.is_empty(), "no AP-REP for mutual");
        peer.send(&accepted.output_token);
    } else {
        assert!(accepted.output_token.is_empty(), "AP-REP without mutual");
    }
    peer.expect("flags");

    let mit_seq = exchange_mics(&mut peer, &context);
    assert_eq!(mit_seq, context.seq_recv, "sequence number of MIT's MIC");
    let mit = parse_lucid(&peer.expect("lucid"));
    peer.wait();

    assert_lucid_agrees(&mit, &context);
    context
}

macro_rules! interop_tests {
    ($($name:ident: $enctype:expr;)*) => {
        mod ours_to_mit_mutual {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let context = our_initiator($enctype, true, &[], &[]).await;
                    assert!(context.acceptor_subkey, "MIT asserted no acceptor subkey");
                    assert_eq!(context.key.enctype(), $enctype);
                }
            )*
        }

        mod ours_to_mit_no_mutual {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let context = our_initiator($enctype, false, &[], &[]).await;
                    assert!(!context.acceptor_subkey);
                    assert_eq!(context.key.enctype(), $enctype);
                }
            )*
        }

        mod mit_to_ours_mutual {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let context = mit_initiator($enctype, true, &[], &[]);
                    assert!(context.acceptor_subkey);
                    assert_eq!(context.key.enctype(), $enctype);
                }
            )*
        }

        mod mit_to_ours_no_mutual {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let context = mit_initiator($enctype, false, &[], &[]);
                    assert!(!context.acceptor_subkey, "acceptor subkey without an AP-REP");
                    assert_eq!(context.key.enctype(), $enctype);
                }
            )*
        }
    };
}

interop_tests! {
    aes128_sha1: enctype::AES128_CTS_HMAC_SHA1_96;
    aes256_sha1: enctype::AES256_CTS_HMAC_SHA1_96;
    aes128_sha2: enctype::AES128_CTS_HMAC_SHA256_128;
    aes256_sha2: enctype::AES256_CTS_HMAC_SHA384_192;
    camellia128: enctype::CAMELLIA128_CTS_CMAC;
    camellia256: enctype::CAMELLIA256_CTS_CMAC;
}

/// Our RFC 4537 offer, most preferred first, with an aes256-cts-hmac-sha1-96
/// session key.
const OFFERED: [i32; 4] = [
    enctype::AES256_CTS_HMAC_SHA384_192,
    enctype::AES128_CTS_HMAC_SHA256_128,
    enctype::AES256_CTS_HMAC_SHA1_96,
    enctype::AES128_CTS_HMAC_SHA1_96,
];

/// MIT's acceptor (krb5 1.20, rd_req_dec.c) picks the first enctype of its
/// own `permitted_enctypes` that the initiator offered, not the initiator's
/// first. Its default list starts with aes256-cts-hmac-sha1-96, so it keeps
/// the session key's enctype for its subkey.
#[tokio::test]
async fn ours_to_mit_negotiation_default_order() {
    let session = enctype::AES256_CTS_HMAC_SHA1_96;
    let context = our_initiator(session, true, &OFFERED, &[]).await;
    assert!(context.acceptor_subkey);
    assert_eq!(context.key.enctype(), session);
}

/// With `permitted_enctypes` preferring the SHA-2 enctypes, MIT's acceptor
/// upgrades the context key to aes256-cts-hmac-sha384-192 and our initiator
/// takes that subkey.
#[tokio::test]
async fn ours_to_mit_negotiation_upgrade() {
    let permitted = "permitted_enctypes = aes256-cts-hmac-sha384-192 \
                     aes128-cts-hmac-sha256-128 aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96";
    let session = enctype::AES256_CTS_HMAC_SHA1_96;
    let context = our_initiator(session, true, &OFFERED, &[permitted]).await;
    assert!(context.acceptor_subkey);
    assert_eq!(context.key.enctype(), enctype::AES256_CTS_HMAC_SHA384_192);
}

/// MIT's initiator offers its `default_tgs_enctypes` (here
/// aes256-cts-hmac-sha384-192, then aes256-cts-hmac-sha1-96) while the
/// realm's keys, and so the session key, are aes256-cts-hmac-sha1-96.
const MIT_OFFER: &str = "default_tgs_enctypes = aes256-cts-hmac-sha384-192 aes256-cts-hmac-sha1-96";

/// Like MIT's acceptor, ours picks by its own preference order among the
/// offered enctypes, so rpc.svcgssd's enctype list decides.
#[test]
fn mit_to_ours_negotiation_acceptor_order() {
    let session = enctype::AES256_CTS_HMAC_SHA1_96;
    let upgrade = enctype::AES256_CTS_HMAC_SHA384_192;

    let context = mit_initiator(session, true, &[session, upgrade], &[MIT_OFFER]);
    assert_eq!(context.key.enctype(), session);

    let context = mit_initiator(session, true, &[upgrade, session], &[MIT_OFFER]);
    assert_eq!(context.key.enctype(), upgrade);
}

/// With no enctype list, our acceptor takes the initiator's first offer.
#[test]
fn mit_to_ours_negotiation_initiator_order() {
    let session = enctype::AES256_CTS_HMAC_SHA1_96;
    let context = mit_initiator(session, true, &[], &[MIT_OFFER]);
    assert_eq!(context.key.enctype(), enctype::AES256_CTS_HMAC_SHA384_192);
}
