//! The driver for `peer.c`, a GSS-API peer built against MIT's or Heimdal's
//! krb5 mechanism, and the interop checks that gss_mit.rs and gss_heimdal.rs
//! share: a context in either direction with an MIT KDC started by
//! `testkdc`, a MIC token each way, and agreement of the peer's lucid v1
//! export with our context and our lucid v2 export.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
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

pub const REALM: &str = "KRBTEST.COM";
pub const SERVICE: &str = "nfs/server.krbtest.com";
pub const TARGET: &str = "nfs@server.krbtest.com";
pub const USER: &str = "alice";
pub const PASSWORD: &str = "alice password";

/// The messages that we and the peer sign.
pub const OUR_MESSAGE: &[u8] = b"signed by rgssd";
pub const PEER_MESSAGE: &[u8] = b"signed by the GSS-API peer";

/// The GSS-API library that `peer.c` is built against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Library {
    /// MIT krb5's libgssapi_krb5, from Debian's libkrb5-dev.
    Mit,
    /// Heimdal's libgssapi, from Debian's heimdal-multidev, which keeps its
    /// headers and link libraries in heimdal/ directories beside MIT's.
    Heimdal,
}

impl fmt::Display for Library {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Library::Mit => "MIT",
            Library::Heimdal => "Heimdal",
        })
    }
}

impl Library {
    /// Returns the first sequence number of the peer's acceptor when it
    /// sends no AP-REP, the only message that could carry the number. MIT's
    /// acceptor continues from the initiator's number, and Heimdal's (7.8)
    /// starts from 0.
    pub fn acceptor_seq_without_ap_rep(self, initiator_seq: u64) -> u64 {
        match self {
            Library::Mit => initiator_seq,
            Library::Heimdal => 0,
        }
    }

    /// Returns the recv_seq of the peer initiator's lucid export when no
    /// AP-REP came back. MIT's initiator expects the acceptor to continue from the
    /// initiator's number, and Heimdal's (7.8) leaves the field 0 because it
    /// never sets the remote sequence number of its krb5_auth_context.
    pub fn initiator_recv_seq_without_ap_rep(self, initiator_seq: u64) -> u64 {
        match self {
            Library::Mit => initiator_seq,
            Library::Heimdal => 0,
        }
    }

    /// Returns the Debian package with the headers and link libraries.
    fn package(self) -> &'static str {
        match self {
            Library::Mit => "libkrb5-dev",
            Library::Heimdal => "heimdal-multidev",
        }
    }

    /// Returns the compiler and linker arguments that select this library.
    fn build_args(self) -> Vec<String> {
        match self {
            Library::Mit => vec!["-lgssapi_krb5".to_string(), "-lkrb5".to_string()],
            Library::Heimdal => {
                let config = testkdc::find_program("krb5-config.heimdal", "heimdal-multidev")
                    .unwrap_or_else(|e| panic!("{e}"));
                let mut args = Vec::new();
                for query in ["--cflags", "--libs"] {
                    let output = Command::new(&config)
                        .args([query, "gssapi"])
                        .output()
                        .unwrap_or_else(|e| panic!("cannot run {}: {e}", config.display()));
                    assert!(
                        output.status.success(),
                        "{} {query} gssapi failed: {}",
                        config.display(),
                        String::from_utf8_lossy(&output.stderr)
                    );
                    let text = String::from_utf8(output.stdout).unwrap();
                    args.extend(text.split_whitespace().map(str::to_string));
                }
                args
            }
        }
    }

    /// Compiles the C peer once per test process into the target's temporary
    /// directory, or panics naming what to install.
    pub fn program(self) -> &'static Path {
        static MIT: OnceLock<PathBuf> = OnceLock::new();
        static HEIMDAL: OnceLock<PathBuf> = OnceLock::new();
        let (cell, file) = match self {
            Library::Mit => (&MIT, "gss_peer_mit"),
            Library::Heimdal => (&HEIMDAL, "gss_peer_heimdal"),
        };
        cell.get_or_init(|| self.build(file))
    }

    fn build(self, file: &str) -> PathBuf {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gss_peer/peer.c");
        let program = Path::new(env!("CARGO_TARGET_TMPDIR")).join(file);
        // Each process builds its own file and renames it into place, so
        // concurrent test runs never execute a half-written program.
        let building = program.with_extension(std::process::id().to_string());
        let package = self.package();

        let output = Command::new("cc")
            .arg("-Wall")
            .arg("-o")
            .arg(&building)
            .arg(&source)
            .args(self.build_args())
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run cc to build {}: {e}; install a C compiler and \
                     {package} ({self}'s GSS-API headers and libraries)",
                    source.display()
                )
            });
        assert!(
            output.status.success(),
            "cc failed to build {} against {self}'s GSS-API library; install \
             {package}:\n{}",
            source.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::rename(&building, &program).unwrap_or_else(|e| {
            panic!(
                "cannot rename {} to {}: {e}",
                building.display(),
                program.display()
            )
        });
        program
    }
}

/// A running C peer and its line protocol.
pub struct Peer {
    library: Library,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    pub fn spawn(library: Library, kdc: &TestKdc, args: &[&str]) -> Peer {
        let mut child = kdc
            .command(library.program())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {library} GSS-API peer: {e}"));
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Peer {
            library,
            child,
            stdin,
            stdout,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        writeln!(self.stdin, "{}", hex::encode(bytes)).unwrap();
        self.stdin.flush().unwrap();
    }

    /// Reads the next line without its line break.
    pub fn read_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim_end().to_string()
    }

    /// Reads the next line, which must start with `tag`, and returns the rest.
    pub fn expect(&mut self, tag: &str) -> String {
        let line = self.read_line();
        match line.strip_prefix(tag) {
            Some(rest) if rest.is_empty() || rest.starts_with(' ') => rest.trim().to_string(),
            _ => {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = self.child.kill();
                    let _ = pipe.read_to_string(&mut stderr);
                }
                panic!(
                    "{} peer: expected {tag:?}, got {line:?}\nstderr: {stderr}",
                    self.library
                );
            }
        }
    }

    pub fn expect_hex(&mut self, tag: &str) -> Vec<u8> {
        let text = self.expect(tag);
        hex::decode(&text)
            .unwrap_or_else(|e| panic!("{} peer sent invalid hex {text:?}: {e}", self.library))
    }

    /// Waits for the peer to exit, which it must do successfully.
    pub fn wait(mut self) {
        drop(self.stdin);
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "{} peer exited with {status}",
            self.library
        );
    }

    /// Waits for the peer to exit after it reported an error, and returns its exit status code.
    pub fn wait_failed(mut self) -> Option<i32> {
        drop(self.stdin);
        self.child.wait().unwrap().code()
    }
}

/// The fields of the peer's lucid v1 export (`gss_krb5_lucid_context_v1_t`,
/// the same struct in MIT and Heimdal) that the peer prints.
#[derive(Debug)]
pub struct PeerLucid {
    pub initiate: bool,
    pub endtime: u32,
    pub send_seq: u64,
    pub recv_seq: u64,
    pub protocol: u32,
    pub acceptor_subkey: bool,
    pub enctype: i32,
    pub key: Vec<u8>,
}

pub fn parse_lucid(line: &str) -> PeerLucid {
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
    PeerLucid {
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

pub fn now() -> (i64, u32) {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (elapsed.as_secs() as i64, elapsed.subsec_micros())
}

pub fn enctype_name(enctype: i32) -> &'static str {
    enctype::name(enctype).unwrap()
}

pub fn service_principal() -> Principal {
    Principal::parse(SERVICE, Some(REALM)).unwrap()
}

/// Starts a realm whose keys, and so whose session keys, all have `enctype`,
/// with extra `[libdefaults]` lines. The service's keys go to the default
/// keytab (KRB5_KTNAME) that the peer's acceptor reads.
pub fn start_kdc(enctype: i32, libdefaults: &[&str]) -> TestKdc {
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
pub async fn our_service_ticket(kdc: &TestKdc) -> Credential {
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

/// Fills the environment's FILE ccache with MIT's kinit. Heimdal reads
/// that file format too.
pub fn mit_kinit(kdc: &TestKdc) {
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

/// Runs the MIC exchange of the peer's protocol: the peer verifies our MIC,
/// then we verify the peer's and return its sequence number.
pub fn exchange_mics(peer: &mut Peer, context: &EstablishedContext) -> u64 {
    let mic = context.get_mic(context.seq_send, OUR_MESSAGE).unwrap();
    peer.send(OUR_MESSAGE);
    peer.send(&mic);
    // Neither side requested sequence or replay detection, so the status
    // carries no supplementary bits such as GSS_S_UNSEQ_TOKEN.
    let status = peer.expect("verified");
    assert_eq!(
        status, "0x00000000",
        "{}'s gss_verify_mic status for our MIC",
        peer.library
    );

    peer.send(PEER_MESSAGE);
    let peer_mic = peer.expect_hex("mic");
    context
        .verify_mic(PEER_MESSAGE, &peer_mic)
        .unwrap_or_else(|e| {
            panic!(
                "{}'s MIC does not verify with our context: {e}",
                peer.library
            )
        })
}

/// The sequence numbers that the peer's lucid export must show.
pub struct ExpectedSeq {
    /// The peer's send_seq: one past the number of the one MIC it made.
    pub send: u64,
    /// The peer's recv_seq.
    pub recv: u64,
}

/// Checks the agreement of the peer's lucid export with our context.
pub fn assert_lucid_agrees(
    library: Library,
    peer: &PeerLucid,
    ours: &EstablishedContext,
    expected: ExpectedSeq,
) {
    let exported = our_lucid(ours);

    assert_eq!(peer.protocol, 1, "{library} context uses RFC 1964 tokens");
    assert_eq!(peer.initiate, !ours.initiator, "{library}'s initiate flag");
    assert_eq!(peer.enctype, ours.key.enctype(), "context key enctype");
    assert_eq!(peer.key, ours.key.bytes(), "context key bytes");
    assert_eq!(
        peer.acceptor_subkey, ours.acceptor_subkey,
        "acceptor subkey"
    );
    assert_eq!(peer.recv_seq, expected.recv, "{library} recv_seq");
    assert_eq!(peer.send_seq, expected.send, "{library} send_seq");
    assert_eq!(peer.endtime, ours.endtime, "context end time");

    assert_eq!(exported.enctype, peer.enctype, "our lucid enctype");
    assert_eq!(exported.key, peer.key, "our lucid key");
    assert_eq!(exported.seq_send, ours.seq_send, "our lucid seq_send");
    assert_eq!(exported.endtime, peer.endtime, "our lucid end time");
    assert_eq!(
        exported.flags & lucid::FLAG_ACCEPTOR_SUBKEY != 0,
        peer.acceptor_subkey,
        "our lucid acceptor-subkey flag"
    );
    assert_eq!(
        exported.flags & lucid::FLAG_INITIATOR != 0,
        ours.initiator,
        "our lucid initiator flag"
    );
    assert_ne!(exported.flags & lucid::FLAG_CFX, 0, "our lucid CFX flag");
}

/// Runs our initiator against the peer's acceptor and returns our context.
pub async fn our_initiator(
    library: Library,
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
    let mut peer = Peer::spawn(library, &kdc, &["accept"]);
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
                .unwrap_or_else(|e| panic!("{library}'s AP-REP is rejected: {e}"))
        }
        InitStep::Complete(context, token) => {
            assert!(!mutual, "mutual authentication completed without an AP-REP");
            peer.send(&token);
            let reply = peer.expect_hex("token");
            assert!(
                reply.is_empty(),
                "{library} sent a reply without mutual authentication"
            );
            *context
        }
    };
    let peer_flags = peer.expect("flags");
    let peer_flags = u32::from_str_radix(peer_flags.trim_start_matches("0x"), 16).unwrap();
    assert_eq!(
        peer_flags & flags::MUTUAL != 0,
        mutual,
        "{library}'s mutual flag"
    );

    // Without an AP-REP our initiator takes its own sequence number as the
    // acceptor's, as MIT's does, and verify_mic does not check it.
    let peer_seq = exchange_mics(&mut peer, &context);
    let expected_peer_seq = if mutual {
        context.seq_recv
    } else {
        library.acceptor_seq_without_ap_rep(context.seq_send)
    };
    assert_eq!(
        peer_seq, expected_peer_seq,
        "sequence number of {library}'s MIC"
    );
    let lucid = parse_lucid(&peer.expect("lucid"));
    peer.wait();

    let expected = ExpectedSeq {
        send: peer_seq + 1,
        recv: context.seq_send,
    };
    assert_lucid_agrees(library, &lucid, &context, expected);
    context
}

/// Runs the peer's initiator (after MIT's kinit) against our acceptor and
/// returns our context.
pub fn peer_initiator(
    library: Library,
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
    let mut peer = Peer::spawn(library, &kdc, &args);
    let token = peer.expect_hex("token");
    let options = AcceptorOptions {
        acceptor_name: Some(&service),
        enctypes: allowed,
        clockskew: 300,
        now: now(),
    };
    let accepted = accept_sec_context(&keytab, &replay_cache, &options, &token)
        .unwrap_or_else(|r| panic!("{library}'s AP-REQ is rejected: {}", r.error));
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

    let peer_seq = exchange_mics(&mut peer, &context);
    assert_eq!(
        peer_seq, context.seq_recv,
        "sequence number of {library}'s MIC"
    );
    let lucid = parse_lucid(&peer.expect("lucid"));
    peer.wait();

    let expected = ExpectedSeq {
        send: peer_seq + 1,
        recv: if mutual {
            context.seq_send
        } else {
            library.initiator_recv_seq_without_ap_rep(context.seq_send)
        },
    };
    assert_lucid_agrees(library, &lucid, &context, expected);
    context
}
