//! Live interoperability of our GSS-API krb5 mechanism with MIT's
//! libgssapi_krb5, through the C peer `mit_gss_peer.c` and an MIT KDC
//! started by `testkdc`, for every strong enctype in both directions: with
//! and without mutual authentication, with and without our acceptor subkey,
//! and with matching, missing and mismatched channel bindings. Each
//! direction and enctype shares one KDC across its contexts.
//!
//! Each established context is checked end to end. MIC tokens and Wrap
//! tokens (sealed and integrity-only, several payload sizes) go both ways,
//! MIT must reject a changed token, and with replay and sequence detection
//! both sides must report replays and reordering. MIT's lucid v1 export
//! must then match our context and its lucid v2 export in the base key, its
//! enctype, the acceptor-subkey choice, the sequence numbers and the end
//! time.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use krb5::config::Config;
use krb5::credentials::Credential;
use krb5::crypto::Key;
use krb5::gss::acceptor::{accept_sec_context, AcceptorOptions};
use krb5::gss::checksum::{flags, ChannelBindings};
use krb5::gss::context::EstablishedContext;
use krb5::gss::initiator::{init_sec_context, InitStep, InitiatorOptions};
use krb5::gss::lucid;
use krb5::gss::replay::ReplayCache;
use krb5::gss::status::{major, GssError};
use krb5::gss::wrap::Unwrapped;
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

/// Compiles the C peer once per test process into the target's temporary
/// directory, or panics naming what to install.
fn peer_program() -> &'static Path {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mit_gss_peer.c");
        let program = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mit_gss_peer");
        // Each process builds its own file and renames it into place, so
        // concurrent test runs never execute a half-written program.
        let building = program.with_extension(std::process::id().to_string());

        let output = Command::new("cc")
            .arg("-Wall")
            .arg("-o")
            .arg(&building)
            .arg(&source)
            .args(["-lgssapi_krb5", "-lkrb5"])
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run cc to build {}: {e}; install a C compiler and \
                     libkrb5-dev (MIT's GSS-API headers and libraries)",
                    source.display()
                )
            });
        assert!(
            output.status.success(),
            "cc failed to build {}; install libkrb5-dev (MIT's GSS-API headers \
             and libgssapi_krb5):\n{}",
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
    })
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

    fn send_line(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Reads the next line without its line ending.
    fn next_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim_end().to_string()
    }

    /// Ends a peer whose context failed: `line` is the last line read,
    /// which must report an error, and the peer must exit with failure.
    fn refused(mut self, line: String, ours: Option<GssError>) -> Refused {
        assert!(
            line.starts_with("error "),
            "MIT peer: expected an error, got {line:?}"
        );
        drop(self.stdin);
        let status = self.child.wait().unwrap();
        assert!(
            !status.success(),
            "MIT peer reported {line:?} but exited with success"
        );
        Refused {
            mit_line: line,
            ours,
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

/// One context's settings beyond the realm's enctype.
#[derive(Clone, Copy)]
struct Case<'a> {
    mutual: bool,
    /// Our initiator's RFC 4537 offer, or our acceptor's allowed enctypes.
    enctypes: &'a [i32],
    initiator_bindings: Option<&'a ChannelBindings>,
    acceptor_bindings: Option<&'a ChannelBindings>,
    /// Whether our acceptor sends a subkey; MIT's acceptor always does.
    acceptor_subkey: bool,
    /// The initiator requests replay and sequence detection.
    sequence: bool,
}

impl Default for Case<'_> {
    fn default() -> Self {
        Self {
            mutual: true,
            enctypes: &[],
            initiator_bindings: None,
            acceptor_bindings: None,
            acceptor_subkey: true,
            sequence: false,
        }
    }
}

/// Formats bindings as the peer's `cb=` option.
fn bindings_arg(bindings: &ChannelBindings) -> String {
    format!(
        "cb={}:{}:{}:{}:{}",
        bindings.initiator_addrtype,
        hex::encode(&bindings.initiator_address),
        bindings.acceptor_addrtype,
        hex::encode(&bindings.acceptor_address),
        hex::encode(&bindings.application_data)
    )
}

/// Bindings of two IPv4 loopback addresses (GSS_C_AF_INET is 2) and
/// application data.
fn loopback_bindings(application_data: &[u8]) -> ChannelBindings {
    ChannelBindings {
        initiator_addrtype: 2,
        initiator_address: vec![127, 0, 0, 1],
        acceptor_addrtype: 2,
        acceptor_address: vec![127, 0, 0, 1],
        application_data: application_data.to_vec(),
    }
}

/// Runs the MIC exchange of the peer's protocol: MIT verifies our MIC, then
/// we verify MIT's and return its sequence number.
fn exchange_mics(peer: &mut Peer, context: &mut EstablishedContext) -> u64 {
    let mic = context.get_mic_sequenced(OUR_MESSAGE).unwrap();
    peer.send(OUR_MESSAGE);
    peer.send(&mic);
    peer.expect("verified");

    peer.send(MIT_MESSAGE);
    let mit_mic = peer.expect_hex("mic");
    let seq = context
        .verify_mic(MIT_MESSAGE, &mit_mic)
        .unwrap_or_else(|e| panic!("MIT's MIC does not verify with our context: {e}"));
    assert_eq!(context.sequence.receive.check(seq), 0, "MIT's MIC");
    seq
}

/// Payloads of Wrap tokens: empty, shorter than a block, not a multiple of
/// the 16-byte block, and several blocks.
const PAYLOADS: [&[u8]; 4] = [b"", b"x", b"fifteen bytes!!", &[0x5a; 100]];

/// Has the peer unwrap our `token` and returns MIT's conf_state, major
/// status and message, or the major status of a failure.
fn mit_unwrap(peer: &mut Peer, token: &[u8]) -> Result<(bool, u32, Vec<u8>), u32> {
    writeln!(peer.stdin, "unwrap {}", hex::encode(token)).unwrap();
    peer.stdin.flush().unwrap();
    let line = peer.next_line();
    let parse_status = |text: &str| u32::from_str_radix(text.trim_start_matches("0x"), 16).unwrap();
    if let Some(status) = line.strip_prefix("unwrap-failed ") {
        return Err(parse_status(status));
    }
    let Some(rest) = line.strip_prefix("unwrapped ") else {
        panic!("MIT peer: expected \"unwrapped\", got {line:?}");
    };
    let mut fields = rest.split(' ');
    let conf = fields.next().unwrap() == "1";
    let status = parse_status(fields.next().unwrap());
    let message = hex::decode(fields.next().unwrap_or("")).unwrap();
    Ok((conf, status, message))
}

/// Has the peer wrap `message` and returns MIT's token.
fn mit_wrap(peer: &mut Peer, seal: bool, message: &[u8]) -> Vec<u8> {
    writeln!(
        peer.stdin,
        "wrap {} {}",
        u8::from(seal),
        hex::encode(message)
    )
    .unwrap();
    peer.stdin.flush().unwrap();
    let rest = peer.expect("wrapped");
    let (conf, token) = rest.split_once(' ').unwrap_or((&rest, ""));
    assert_eq!(conf == "1", seal, "MIT's conf_state");
    hex::decode(token).unwrap()
}

/// Checks the sizes MIT 1.20 chooses: RRC 0, EC 0 when sealed (so the
/// ciphertext covers exactly message and header copy), and EC equal to the
/// checksum length when not.
fn assert_mit_wrap_layout(token: &[u8], seal: bool, message_len: usize, key: &Key) {
    let profile = key.profile().unwrap();
    let ec = u16::from_be_bytes([token[4], token[5]]);
    let rrc = u16::from_be_bytes([token[6], token[7]]);
    assert_eq!(rrc, 0, "RRC of MIT's Wrap token");
    if seal {
        assert_eq!(ec, 0, "EC of MIT's sealed Wrap token");
        assert_eq!(
            token.len(),
            16 + profile.ciphertext_length(message_len + 16)
        );
    } else {
        assert_eq!(
            usize::from(ec),
            profile.checksum_length,
            "EC of MIT's Wrap token"
        );
        assert_eq!(token.len(), 16 + message_len + profile.checksum_length);
    }
}

/// Exchanges Wrap tokens of every payload, sealed and not, in both
/// directions, then checks that MIT rejects a changed token and, with
/// `sequence`, that each side reports a replay. Returns the number of
/// tokens MIT made.
fn exchange_wraps(peer: &mut Peer, context: &mut EstablishedContext, sequence: bool) -> u64 {
    let mut mit_tokens = 0;
    let mut first = None;
    for payload in PAYLOADS {
        for seal in [false, true] {
            let case_name = format!("{}-byte payload, sealed {seal}", payload.len());
            let ours = context.wrap_sequenced(seal, payload).unwrap();
            let (conf, status, message) = mit_unwrap(peer, &ours)
                .unwrap_or_else(|major| panic!("MIT rejects our token ({case_name}): {major:#x}"));
            assert_eq!((conf, status), (seal, 0), "MIT's unwrap of {case_name}");
            assert_eq!(message, payload, "MIT's unwrap of {case_name}");
            first.get_or_insert(ours);

            let theirs = mit_wrap(peer, seal, payload);
            mit_tokens += 1;
            assert_mit_wrap_layout(&theirs, seal, payload.len(), &context.key);
            let (opened, status) = context
                .unwrap_sequenced(&theirs)
                .unwrap_or_else(|e| panic!("MIT's token ({case_name}) is rejected: {e}"));
            assert_eq!(opened.message, payload, "our unwrap of {case_name}");
            assert_eq!(
                (opened.sealed, status),
                (seal, 0),
                "our unwrap of {case_name}"
            );
        }
    }

    let mut changed = context.wrap_sequenced(true, b"changed").unwrap();
    *changed.last_mut().unwrap() ^= 1;
    assert_eq!(
        mit_unwrap(peer, &changed),
        Err(major::BAD_SIG),
        "changed token"
    );

    if sequence {
        let first = first.unwrap();
        assert_eq!(
            mit_unwrap(peer, &first).map(|(_, status, _)| status),
            Ok(major::DUPLICATE_TOKEN),
            "MIT's status for a replay"
        );
        let early = mit_wrap(peer, true, b"early");
        let late = mit_wrap(peer, true, b"late");
        mit_tokens += 2;
        let status = |result: Result<(Unwrapped, u32), GssError>| result.unwrap().1;
        assert_eq!(status(context.unwrap_sequenced(&late)), major::GAP_TOKEN);
        assert_eq!(status(context.unwrap_sequenced(&early)), major::UNSEQ_TOKEN);
        assert_eq!(
            status(context.unwrap_sequenced(&early)),
            major::DUPLICATE_TOKEN
        );
    }
    peer.send_line("end");
    mit_tokens
}

/// Runs the per-message part of the protocol on an established context:
/// MICs, Wrap tokens and MIT's lucid export, which must agree with ours.
fn exercise(mut peer: Peer, context: &mut EstablishedContext, sequence: bool) {
    let mit_seq = exchange_mics(&mut peer, context);
    assert_eq!(mit_seq, context.seq_recv, "sequence number of MIT's MIC");
    let mit_tokens = exchange_wraps(&mut peer, context, sequence);
    let mit = parse_lucid(&peer.expect("lucid"));
    peer.wait();
    assert_lucid_agrees(&mit, context, 1 + mit_tokens);
}

/// Checks the agreement of MIT's lucid export with our context, after MIT
/// made `mit_tokens` per-message tokens, each of which advanced its send_seq.
fn assert_lucid_agrees(mit: &MitLucid, ours: &EstablishedContext, mit_tokens: u64) {
    let exported = our_lucid(ours);

    assert_eq!(mit.protocol, 1, "MIT context uses RFC 1964 tokens");
    assert_eq!(mit.initiate, !ours.initiator, "MIT's initiate flag");
    assert_eq!(mit.enctype, ours.key.enctype(), "context key enctype");
    assert_eq!(mit.key, ours.key.bytes(), "context key bytes");
    assert_eq!(mit.acceptor_subkey, ours.acceptor_subkey, "acceptor subkey");
    assert_eq!(mit.recv_seq, ours.seq_send, "MIT recv_seq vs our seq_send");
    assert_eq!(
        mit.send_seq,
        ours.seq_recv + mit_tokens,
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

/// Why a context was not established: the line MIT's peer printed, and
/// our error where our side saw one.
#[derive(Debug)]
struct Refused {
    mit_line: String,
    ours: Option<GssError>,
}

/// Our initiator, offering `offered`, against MIT's acceptor with mutual
/// authentication in a realm of `enctype`. Returns our context.
async fn our_initiator(enctype: i32, offered: &[i32], libdefaults: &[&str]) -> EstablishedContext {
    let kdc = start_kdc(enctype, libdefaults);
    let ticket = our_service_ticket(&kdc).await;
    assert_eq!(ticket.session_key.enctype(), enctype);
    let case = Case {
        enctypes: offered,
        ..Case::default()
    };
    our_initiator_with(&kdc, &ticket, &case).unwrap_or_else(|r| panic!("MIT refused: {r:?}"))
}

/// Our initiator with `ticket` against MIT's acceptor in `kdc`'s realm.
/// Returns our context after the per-message exchange, or how MIT's
/// acceptor refused our token.
fn our_initiator_with(
    kdc: &TestKdc,
    ticket: &Credential,
    case: &Case<'_>,
) -> Result<EstablishedContext, Refused> {
    let mut request = flags::CONF | flags::INTEG;
    if case.mutual {
        request |= flags::MUTUAL;
    }
    if case.sequence {
        request |= flags::REPLAY | flags::SEQUENCE;
    }
    let options = InitiatorOptions {
        flags: request,
        enctypes: case.enctypes,
        now: now(),
        channel_bindings: case.initiator_bindings,
    };
    let mut args = vec!["accept".to_string(), "commands".to_string()];
    args.extend(case.acceptor_bindings.map(bindings_arg));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut peer = Peer::spawn(kdc, &args);

    let mut context = match init_sec_context(ticket, &options).unwrap() {
        InitStep::ContinueNeeded(pending, token) => {
            assert!(
                case.mutual,
                "a context without mutual authentication waited for a reply"
            );
            peer.send(&token);
            let line = peer.next_line();
            let Some(reply) = line.strip_prefix("token ") else {
                return Err(peer.refused(line, None));
            };
            let reply = hex::decode(reply).unwrap();
            match pending.complete(&reply) {
                Ok(context) => context,
                Err(ours) => {
                    let line = peer.next_line();
                    return Err(peer.refused(line, Some(ours)));
                }
            }
        }
        InitStep::Complete(context, token) => {
            assert!(
                !case.mutual,
                "mutual authentication completed without an AP-REP"
            );
            peer.send(&token);
            let line = peer.next_line();
            if line.starts_with("error") {
                return Err(peer.refused(line, None));
            }
            assert_eq!(
                line, "token",
                "MIT sent a reply without mutual authentication"
            );
            *context
        }
    };
    let mit_flags = peer.expect("flags");
    let mit_flags = u32::from_str_radix(mit_flags.trim_start_matches("0x"), 16).unwrap();
    assert_eq!(
        mit_flags & flags::MUTUAL != 0,
        case.mutual,
        "MIT's mutual flag"
    );
    assert_eq!(
        mit_flags & flags::CHANNEL_BOUND != 0,
        case.initiator_bindings.is_some() && case.initiator_bindings == case.acceptor_bindings,
        "MIT's GSS_C_CHANNEL_BOUND_FLAG"
    );

    exercise(peer, &mut context, case.sequence);
    Ok(context)
}

/// Starts a realm of `enctype` and fills its ccache with MIT's kinit.
fn start_kdc_with_tgt(enctype: i32, libdefaults: &[&str]) -> TestKdc {
    let kdc = start_kdc(enctype, libdefaults);
    mit_kinit(&kdc);
    kdc
}

/// MIT's initiator against our acceptor with mutual authentication and
/// `allowed` enctypes. Returns our context.
fn mit_initiator(kdc: &TestKdc, allowed: &[i32]) -> EstablishedContext {
    let case = Case {
        enctypes: allowed,
        ..Case::default()
    };
    mit_initiator_with(kdc, &case).unwrap_or_else(|r| panic!("refused: {r:?}"))
}

/// MIT's initiator, whose ccache `mit_kinit` filled, against our acceptor
/// in `kdc`'s realm. Returns our context after the per-message exchange,
/// or our rejection and MIT's report of it.
fn mit_initiator_with(kdc: &TestKdc, case: &Case<'_>) -> Result<EstablishedContext, Refused> {
    let keytab = Keytab::load_path(kdc.keytab(SERVICE).unwrap()).unwrap();
    let service = service_principal();
    let replay_cache = ReplayCache::new();

    let mut args = vec![
        "init".to_string(),
        TARGET.to_string(),
        "commands".to_string(),
    ];
    if !case.mutual {
        args.push("nomutual".into());
    }
    if case.sequence {
        args.push("sequence".into());
    }
    args.extend(case.initiator_bindings.map(bindings_arg));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut peer = Peer::spawn(kdc, &args);

    let token = peer.expect_hex("token");
    let options = AcceptorOptions {
        acceptor_name: Some(&service),
        enctypes: case.enctypes,
        clockskew: 300,
        now: now(),
        channel_bindings: case.acceptor_bindings,
        acceptor_subkey: case.acceptor_subkey,
    };
    let accepted = match accept_sec_context(&keytab, &replay_cache, &options, &token) {
        Ok(accepted) => accepted,
        Err(rejected) => {
            if let Some(token) = &rejected.output_token {
                peer.send(token);
            }
            let line = peer.next_line();
            return Err(peer.refused(line, Some(rejected.error)));
        }
    };
    let mut context = accepted.context;
    assert_eq!(
        context.flags & flags::MUTUAL != 0,
        case.mutual,
        "our mutual flag"
    );
    assert_eq!(
        context.flags & (flags::REPLAY | flags::SEQUENCE) != 0,
        case.sequence,
        "our replay and sequence flags"
    );
    if case.mutual {
        assert!(!accepted.output_token.is_empty(), "no AP-REP for mutual");
        peer.send(&accepted.output_token);
    } else {
        assert!(accepted.output_token.is_empty(), "AP-REP without mutual");
    }
    peer.expect("flags");

    exercise(peer, &mut context, case.sequence);
    Ok(context)
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
    let context = our_initiator(session, &OFFERED, &[]).await;
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
    let context = our_initiator(session, &OFFERED, &[permitted]).await;
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

    let kdc = start_kdc_with_tgt(session, &[MIT_OFFER]);
    let context = mit_initiator(&kdc, &[session, upgrade]);
    assert_eq!(context.key.enctype(), session);

    let context = mit_initiator(&kdc, &[upgrade, session]);
    assert_eq!(context.key.enctype(), upgrade);
}

/// With no enctype list, our acceptor takes the initiator's first offer.
#[test]
fn mit_to_ours_negotiation_initiator_order() {
    let session = enctype::AES256_CTS_HMAC_SHA1_96;
    let kdc = start_kdc_with_tgt(session, &[MIT_OFFER]);
    let context = mit_initiator(&kdc, &[]);
    assert_eq!(context.key.enctype(), enctype::AES256_CTS_HMAC_SHA384_192);
}

/// Our initiator against MIT's acceptor in one realm of `enctype`, for
/// every case that needs no special krb5.conf:
///
/// * mutual authentication, where MIT's acceptor always asserts a subkey;
/// * no mutual authentication;
/// * matching channel bindings, with replay and sequence detection;
/// * no bindings from us while MIT has some, which MIT 1.20 accepts;
/// * mismatched bindings with and without mutual authentication, which MIT
///   rejects with GSS_S_BAD_BINDINGS.
async fn ours_to_mit(enctype: i32) {
    let kdc = start_kdc(enctype, &[]);
    let ticket = our_service_ticket(&kdc).await;
    assert_eq!(ticket.session_key.enctype(), enctype);

    let context = our_initiator_with(&kdc, &ticket, &Case::default()).unwrap();
    assert!(context.acceptor_subkey, "MIT asserted no acceptor subkey");
    assert_eq!(context.key.enctype(), enctype);

    let no_mutual = Case {
        mutual: false,
        ..Case::default()
    };
    let context = our_initiator_with(&kdc, &ticket, &no_mutual).unwrap();
    assert!(!context.acceptor_subkey);
    assert_eq!(context.key.enctype(), enctype);

    let bindings = loopback_bindings(b"rgssd interop");
    let other = loopback_bindings(b"another channel");
    let bound = Case {
        initiator_bindings: Some(&bindings),
        acceptor_bindings: Some(&bindings),
        sequence: true,
        ..Case::default()
    };
    our_initiator_with(&kdc, &ticket, &bound).unwrap();

    let unbound = Case {
        acceptor_bindings: Some(&bindings),
        ..Case::default()
    };
    our_initiator_with(&kdc, &ticket, &unbound)
        .unwrap_or_else(|r| panic!("MIT rejects an initiator without bindings: {r:?}"));

    for mutual in [true, false] {
        let mismatched = Case {
            mutual,
            initiator_bindings: Some(&other),
            acceptor_bindings: Some(&bindings),
            ..Case::default()
        };
        let refused = our_initiator_with(&kdc, &ticket, &mismatched).unwrap_err();
        assert!(
            refused.mit_line.contains("major 0x00040000"),
            "MIT's error for mismatched bindings (mutual {mutual}): {}",
            refused.mit_line
        );
        // With mutual authentication MIT replies with a KRB-ERROR, which
        // our initiator reports.
        if mutual {
            let ours = refused.ours.expect("our initiator accepted a KRB-ERROR");
            assert!(ours.message.contains("rejected the AP-REQ"), "{ours}");
        }
    }
}

/// MIT's initiator against our acceptor in one realm of `enctype`, for
/// every case that needs no special krb5.conf:
///
/// * mutual authentication with and without our acceptor subkey;
/// * no mutual authentication;
/// * matching channel bindings, with replay and sequence detection;
/// * no bindings from MIT while we have some, which we accept as MIT does;
/// * mismatched bindings, which we reject with GSS_S_BAD_BINDINGS.
fn mit_to_ours(enctype: i32) {
    let kdc = start_kdc_with_tgt(enctype, &[]);

    let context = mit_initiator_with(&kdc, &Case::default()).unwrap();
    assert!(context.acceptor_subkey);
    assert_eq!(context.key.enctype(), enctype);

    let no_subkey = Case {
        acceptor_subkey: false,
        ..Case::default()
    };
    let context = mit_initiator_with(&kdc, &no_subkey).unwrap();
    assert!(!context.acceptor_subkey);
    assert_eq!(context.key.enctype(), enctype);

    let no_mutual = Case {
        mutual: false,
        ..Case::default()
    };
    let context = mit_initiator_with(&kdc, &no_mutual).unwrap();
    assert!(
        !context.acceptor_subkey,
        "acceptor subkey without an AP-REP"
    );
    assert_eq!(context.key.enctype(), enctype);

    let bindings = loopback_bindings(b"rgssd interop");
    let other = loopback_bindings(b"another channel");
    let bound = Case {
        initiator_bindings: Some(&bindings),
        acceptor_bindings: Some(&bindings),
        sequence: true,
        ..Case::default()
    };
    let context = mit_initiator_with(&kdc, &bound).unwrap();
    assert_ne!(
        context.flags & flags::CHANNEL_BOUND,
        0,
        "channel-bound flag"
    );

    let unbound = Case {
        acceptor_bindings: Some(&bindings),
        ..Case::default()
    };
    let context = mit_initiator_with(&kdc, &unbound).unwrap();
    assert_eq!(
        context.flags & flags::CHANNEL_BOUND,
        0,
        "channel-bound flag"
    );

    let mismatched = Case {
        initiator_bindings: Some(&other),
        acceptor_bindings: Some(&bindings),
        ..Case::default()
    };
    let refused = mit_initiator_with(&kdc, &mismatched).unwrap_err();
    let ours = refused.ours.expect("our acceptor's error");
    assert_eq!(ours.major, major::BAD_BINDINGS, "{ours}");
    // MIT's initiator reports our KRB-ERROR (KRB_ERR_GENERIC).
    assert!(
        refused
            .mit_line
            .contains("gss_init_sec_context (reply) failed"),
        "{}",
        refused.mit_line
    );
}

macro_rules! interop_tests {
    ($($name:ident: $enctype:expr;)*) => {
        mod ours_to_mit {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    ours_to_mit($enctype).await;
                }
            )*
        }

        mod mit_to_ours {
            use super::*;
            $(
                #[test]
                fn $name() {
                    mit_to_ours($enctype);
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
