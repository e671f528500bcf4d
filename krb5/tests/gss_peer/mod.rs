//! The driver for `peer.c`, a GSS-API peer built against MIT's or Heimdal's
//! krb5 mechanism, and the interop checks that gss_mit.rs and gss_heimdal.rs
//! share. They establish a context in either direction with an MIT KDC
//! started by `testkdc`, with or without mutual authentication, our acceptor
//! subkey and channel bindings. They then exchange MIC and Wrap tokens each
//! way, check replay and reorder detection, and compare the peer's lucid v1
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
    /// sends no AP-REP, the only message that could carry the number.
    /// `sequence` is whether the initiator requested replay or sequence
    /// detection. MIT's acceptor continues from the initiator's number.
    /// Heimdal's (7.8) does so only with `sequence`, and otherwise starts
    /// from 0.
    pub fn acceptor_seq_without_ap_rep(self, initiator_seq: u64, sequence: bool) -> u64 {
        match self {
            Library::Heimdal if !sequence => 0,
            _ => initiator_seq,
        }
    }

    /// Returns the supplementary status that the peer's initiator reports
    /// for the acceptor's first token when no AP-REP came back and it
    /// requested replay and sequence detection. MIT's initiator expects the
    /// acceptor to continue from the initiator's number. Heimdal's (7.8)
    /// expects 0, so it reports GSS_S_GAP_TOKEN for that token from MIT's
    /// acceptor or ours, and then follows the new numbers.
    pub fn initiator_first_status_without_ap_rep(self) -> u32 {
        match self {
            Library::Mit => 0,
            Library::Heimdal => major::GAP_TOKEN,
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

    /// Returns whether the peer's acceptor reports GSS_C_CHANNEL_BOUND_FLAG
    /// when the initiator's bindings match its own. MIT added the flag in
    /// krb5 1.19.
    pub fn sets_channel_bound_flag(self) -> bool {
        match self {
            Library::Mit => true,
            Library::Heimdal => false,
        }
    }

    /// Returns the right rotation count (RRC) of the library's Wrap tokens
    /// for a key whose checksum has `checksum_length` bytes. MIT (1.20)
    /// rotates nothing. Heimdal (7.8) rotates what follows the data to the
    /// front: the checksum of an integrity-only token, or the encrypted
    /// header copy (16 bytes) and the HMAC of a sealed one.
    pub fn wrap_rrc(self, seal: bool, checksum_length: usize) -> usize {
        match self {
            Library::Mit => 0,
            Library::Heimdal if seal => 16 + checksum_length,
            Library::Heimdal => checksum_length,
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
        let program = Path::new(env!("CARGO_TARGET_TMPDIR")).join(file);
        // Each process builds its own file and renames it into place, so
        // concurrent test runs never execute a half-written program. The
        // source is embedded, so that test crates of other packages that
        // include this module build the same peer.
        let building = program.with_extension(std::process::id().to_string());
        let source = program.with_extension(format!("{}.c", std::process::id()));
        std::fs::write(&source, include_str!("peer.c"))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", source.display()));
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
                    "cannot run cc to build the GSS-API peer: {e}; install a C \
                     compiler and {package} ({self}'s GSS-API headers and \
                     libraries)"
                )
            });
        let _ = std::fs::remove_file(&source);
        assert!(
            output.status.success(),
            "cc failed to build the GSS-API peer (krb5/tests/gss_peer/peer.c) \
             against {self}'s GSS-API library; install {package}:\n{}",
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
        let mut command = kdc.command(library.program());
        command.args(args);
        Peer::start(library, command)
    }

    /// Runs `command`, which must name [`Library::program`], as a peer.
    pub fn start(library: Library, mut command: Command) -> Peer {
        let mut child = command
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

    /// Writes one command line of the peer's `commands` loop.
    pub fn send_line(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
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

    /// Ends a peer whose context failed and returns the rejection: `line` is
    /// the last line read, which must report an error, and the peer must
    /// exit with failure.
    pub fn rejection(mut self, line: String, ours: Option<GssError>) -> Rejection {
        assert!(
            line.starts_with("error "),
            "{} peer: expected an error, got {line:?}",
            self.library
        );
        drop(self.stdin);
        let status = self.child.wait().unwrap();
        assert!(
            !status.success(),
            "{} peer reported {line:?} but exited with success",
            self.library
        );
        Rejection {
            peer_line: line,
            ours,
        }
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

/// Why a context was not established: the line the peer printed, and our
/// error where our side saw one.
#[derive(Debug)]
pub struct Rejection {
    pub peer_line: String,
    pub ours: Option<GssError>,
}

/// One context's settings beyond the realm's enctype.
#[derive(Clone, Copy)]
pub struct Case<'a> {
    pub mutual: bool,
    /// Our initiator's RFC 4537 offer, or our acceptor's allowed enctypes.
    pub enctypes: &'a [i32],
    pub initiator_bindings: Option<&'a ChannelBindings>,
    pub acceptor_bindings: Option<&'a ChannelBindings>,
    /// Whether our acceptor sends a subkey. MIT's and Heimdal's acceptors
    /// always do.
    pub acceptor_subkey: bool,
    /// The initiator requests replay and sequence detection.
    pub sequence: bool,
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
pub fn loopback_bindings(application_data: &[u8]) -> ChannelBindings {
    ChannelBindings {
        initiator_addrtype: 2,
        initiator_address: vec![127, 0, 0, 1],
        acceptor_addrtype: 2,
        acceptor_address: vec![127, 0, 0, 1],
        application_data: application_data.to_vec(),
    }
}

/// Runs the MIC exchange of the peer's protocol: the peer verifies our MIC,
/// then we verify the peer's and return its sequence number.
/// `expected_status` is the peer's gss_verify_mic status for our MIC.
fn exchange_mics(peer: &mut Peer, context: &mut EstablishedContext, expected_status: u32) -> u64 {
    let mic = context.get_mic_sequenced(OUR_MESSAGE).unwrap();
    peer.send(OUR_MESSAGE);
    peer.send(&mic);
    let status = peer.expect("verified");
    assert_eq!(
        status,
        format!("{expected_status:#010x}"),
        "{}'s gss_verify_mic status for our MIC",
        peer.library
    );

    peer.send(PEER_MESSAGE);
    let peer_mic = peer.expect_hex("mic");
    let seq = context
        .verify_mic(PEER_MESSAGE, &peer_mic)
        .unwrap_or_else(|e| {
            panic!(
                "{}'s MIC does not verify with our context: {e}",
                peer.library
            )
        });
    assert_eq!(
        context.sequence.receive.check(seq),
        0,
        "our sequence status for {}'s MIC",
        peer.library
    );
    seq
}

/// Payloads of Wrap tokens: empty, shorter than a block, not a multiple of
/// the 16-byte block, and several blocks.
const PAYLOADS: [&[u8]; 4] = [b"", b"x", b"fifteen bytes!!", &[0x5a; 100]];

/// Has the peer unwrap our `token` and returns the peer's conf_state, major
/// status and message, or the major status of a failure.
pub fn peer_unwrap(peer: &mut Peer, token: &[u8]) -> Result<(bool, u32, Vec<u8>), u32> {
    peer.send_line(&format!("unwrap {}", hex::encode(token)));
    let line = peer.read_line();
    let parse_status = |text: &str| u32::from_str_radix(text.trim_start_matches("0x"), 16).unwrap();
    if let Some(status) = line.strip_prefix("unwrap-failed ") {
        return Err(parse_status(status));
    }
    let Some(rest) = line.strip_prefix("unwrapped ") else {
        panic!(
            "{} peer: expected \"unwrapped\", got {line:?}",
            peer.library
        );
    };
    let mut fields = rest.split(' ');
    let conf = fields.next().unwrap() == "1";
    let status = parse_status(fields.next().unwrap());
    let message = hex::decode(fields.next().unwrap_or("")).unwrap();
    Ok((conf, status, message))
}

/// Has the peer wrap `message` and returns the peer's token.
pub fn peer_wrap(peer: &mut Peer, seal: bool, message: &[u8]) -> Vec<u8> {
    peer.send_line(&format!("wrap {} {}", u8::from(seal), hex::encode(message)));
    let rest = peer.expect("wrapped");
    let (conf, token) = rest.split_once(' ').unwrap_or((&rest, ""));
    assert_eq!(conf == "1", seal, "{}'s conf_state", peer.library);
    hex::decode(token).unwrap()
}

/// Has the peer sign `message` with gss_get_mic and returns the token.
pub fn peer_mic(peer: &mut Peer, message: &[u8]) -> Vec<u8> {
    peer.send_line(&format!("mic {}", hex::encode(message)));
    peer.expect_hex("mic")
}

/// Has the peer check `token` over `message` with gss_verify_mic and
/// returns its major status, or the major status of a failure.
pub fn peer_verify_mic(peer: &mut Peer, message: &[u8], token: &[u8]) -> Result<u32, u32> {
    peer.send_line(&format!(
        "verify {} {}",
        hex::encode(token),
        hex::encode(message)
    ));
    let line = peer.read_line();
    let parse_status = |text: &str| u32::from_str_radix(text.trim_start_matches("0x"), 16).unwrap();
    if let Some(status) = line.strip_prefix("verify-failed ") {
        return Err(parse_status(status));
    }
    match line.strip_prefix("verified ") {
        Some(status) => Ok(parse_status(status)),
        None => panic!("{} peer: expected \"verified\", got {line:?}", peer.library),
    }
}

/// Checks the sizes that the peer chose for its Wrap token: EC 0 when
/// sealed (so the ciphertext covers exactly message and header copy), EC
/// equal to the checksum length when not, and the library's RRC.
fn assert_wrap_layout(library: Library, token: &[u8], seal: bool, message_len: usize, key: &Key) {
    let profile = key.profile().unwrap();
    let ec = u16::from_be_bytes([token[4], token[5]]);
    let rrc = u16::from_be_bytes([token[6], token[7]]);
    assert_eq!(
        usize::from(rrc),
        library.wrap_rrc(seal, profile.checksum_length),
        "RRC of {library}'s Wrap token"
    );
    if seal {
        assert_eq!(ec, 0, "EC of {library}'s sealed Wrap token");
        assert_eq!(
            token.len(),
            16 + profile.ciphertext_length(message_len + 16),
            "length of {library}'s sealed Wrap token"
        );
    } else {
        assert_eq!(
            usize::from(ec),
            profile.checksum_length,
            "EC of {library}'s Wrap token"
        );
        assert_eq!(
            token.len(),
            16 + message_len + profile.checksum_length,
            "length of {library}'s Wrap token"
        );
    }
}

/// Exchanges Wrap tokens of every payload, sealed and not, in both
/// directions, then checks that the peer rejects a changed token and, with
/// `sequence`, that each side reports a replay and reordering. Returns the
/// number of tokens the peer made.
fn exchange_wraps(peer: &mut Peer, context: &mut EstablishedContext, sequence: bool) -> u64 {
    let library = peer.library;
    let mut peer_tokens = 0;
    let mut first = None;
    for payload in PAYLOADS {
        for seal in [false, true] {
            let case_name = format!("{}-byte payload, sealed {seal}", payload.len());
            let ours = context.wrap_sequenced(seal, payload).unwrap();
            let (conf, status, message) = peer_unwrap(peer, &ours).unwrap_or_else(|major| {
                panic!("{library} rejects our token ({case_name}): {major:#x}")
            });
            assert_eq!(
                (conf, status),
                (seal, 0),
                "{library}'s unwrap of {case_name}"
            );
            assert_eq!(message, payload, "{library}'s unwrap of {case_name}");
            first.get_or_insert(ours);

            let theirs = peer_wrap(peer, seal, payload);
            peer_tokens += 1;
            assert_wrap_layout(library, &theirs, seal, payload.len(), &context.key);
            let (opened, status) = context
                .unwrap_sequenced(&theirs)
                .unwrap_or_else(|e| panic!("{library}'s token ({case_name}) is rejected: {e}"));
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
        peer_unwrap(peer, &changed),
        Err(major::BAD_SIG),
        "{library}'s status for a changed token"
    );

    if sequence {
        let first = first.unwrap();
        assert_eq!(
            peer_unwrap(peer, &first).map(|(_, status, _)| status),
            Ok(major::DUPLICATE_TOKEN),
            "{library}'s status for a replay"
        );
        let early = peer_wrap(peer, true, b"early");
        let late = peer_wrap(peer, true, b"late");
        peer_tokens += 2;
        let status = |result: Result<(Unwrapped, u32), GssError>| result.unwrap().1;
        assert_eq!(status(context.unwrap_sequenced(&late)), major::GAP_TOKEN);
        assert_eq!(status(context.unwrap_sequenced(&early)), major::UNSEQ_TOKEN);
        assert_eq!(
            status(context.unwrap_sequenced(&early)),
            major::DUPLICATE_TOKEN
        );
    }
    peer.send_line("end");
    peer_tokens
}

/// The sequence numbers that the peer's lucid export must show.
pub struct ExpectedSeq {
    /// The peer's send_seq: one past the number of the last token it made.
    pub send: u64,
    /// The peer's recv_seq.
    pub recv: u64,
}

/// Runs the per-message part of the protocol on an established context:
/// MICs, Wrap tokens and the peer's lucid export, which must agree with
/// ours. `mutual` is whether an AP-REP carried the acceptor's sequence
/// number.
fn exercise(mut peer: Peer, context: &mut EstablishedContext, mutual: bool, sequence: bool) {
    let library = peer.library;
    // Our first token carries the number the peer expects first, so the
    // status has no supplementary bits such as GSS_S_UNSEQ_TOKEN, except
    // where the peer's initiator expects another number without an AP-REP.
    let expected_status = if !mutual && !context.initiator && sequence {
        library.initiator_first_status_without_ap_rep()
    } else {
        0
    };
    let peer_seq = exchange_mics(&mut peer, context, expected_status);
    // Without an AP-REP our initiator takes its own sequence number as the
    // acceptor's, as MIT's does, and our receive window checks nothing
    // unless replay or sequence detection was requested.
    let expected_peer_seq = if mutual || !context.initiator {
        context.seq_recv
    } else {
        library.acceptor_seq_without_ap_rep(context.seq_send, sequence)
    };
    assert_eq!(
        peer_seq, expected_peer_seq,
        "sequence number of {library}'s MIC"
    );
    let wrap_tokens = exchange_wraps(&mut peer, context, sequence);
    let lucid = parse_lucid(&peer.expect("lucid"));
    peer.wait();

    let expected = ExpectedSeq {
        send: peer_seq + 1 + wrap_tokens,
        recv: if mutual || context.initiator {
            context.seq_send
        } else {
            library.initiator_recv_seq_without_ap_rep(context.seq_send)
        },
    };
    assert_lucid_agrees(library, &lucid, context, expected);
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

/// Runs our initiator against the peer's acceptor in a new realm of
/// `enctype`, with mutual authentication or not and offering `offered`, and
/// returns our context.
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
    let case = Case {
        mutual,
        enctypes: offered,
        ..Case::default()
    };
    our_initiator_with(library, &kdc, &ticket, &case)
        .unwrap_or_else(|r| panic!("{library} rejected the context: {r:?}"))
}

/// Runs our initiator with `ticket` against the peer's acceptor in `kdc`'s
/// realm. Returns our context after the per-message exchange, or how the
/// peer's acceptor rejected our token.
pub fn our_initiator_with(
    library: Library,
    kdc: &TestKdc,
    ticket: &Credential,
    case: &Case<'_>,
) -> Result<EstablishedContext, Rejection> {
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
    let mut peer = Peer::spawn(library, kdc, &args);

    let mut context = match init_sec_context(ticket, &options).unwrap() {
        InitStep::ContinueNeeded(pending, token) => {
            assert!(
                case.mutual,
                "a context without mutual authentication waited for a reply"
            );
            peer.send(&token);
            let line = peer.read_line();
            let Some(reply) = line.strip_prefix("token ") else {
                return Err(peer.rejection(line, None));
            };
            let reply = hex::decode(reply).unwrap();
            match pending.complete(&reply) {
                Ok(context) => context,
                Err(ours) => {
                    let line = peer.read_line();
                    return Err(peer.rejection(line, Some(ours)));
                }
            }
        }
        InitStep::Complete(context, token) => {
            assert!(
                !case.mutual,
                "mutual authentication completed without an AP-REP"
            );
            peer.send(&token);
            let line = peer.read_line();
            if line.starts_with("error") {
                return Err(peer.rejection(line, None));
            }
            assert_eq!(
                line, "token",
                "{library} sent a reply without mutual authentication"
            );
            *context
        }
    };
    let peer_flags = peer.expect("flags");
    let peer_flags = u32::from_str_radix(peer_flags.trim_start_matches("0x"), 16).unwrap();
    assert_eq!(
        peer_flags & flags::MUTUAL != 0,
        case.mutual,
        "{library}'s mutual flag"
    );
    let bound =
        case.initiator_bindings.is_some() && case.initiator_bindings == case.acceptor_bindings;
    assert_eq!(
        peer_flags & flags::CHANNEL_BOUND != 0,
        bound && library.sets_channel_bound_flag(),
        "{library}'s GSS_C_CHANNEL_BOUND_FLAG"
    );

    exercise(peer, &mut context, case.mutual, case.sequence);
    Ok(context)
}

/// Runs the peer's initiator (after MIT's kinit) against our acceptor in a
/// new realm of `enctype`, with mutual authentication or not and allowing
/// `allowed`, and returns our context.
pub fn peer_initiator(
    library: Library,
    enctype: i32,
    mutual: bool,
    allowed: &[i32],
    libdefaults: &[&str],
) -> EstablishedContext {
    let kdc = start_kdc(enctype, libdefaults);
    mit_kinit(&kdc);
    let case = Case {
        mutual,
        enctypes: allowed,
        ..Case::default()
    };
    peer_initiator_with(library, &kdc, &case).unwrap_or_else(|r| panic!("context rejected: {r:?}"))
}

/// Runs the peer's initiator, whose ccache `mit_kinit` filled, against our
/// acceptor in `kdc`'s realm. Returns our context after the per-message
/// exchange, or our rejection and the peer's report of it.
pub fn peer_initiator_with(
    library: Library,
    kdc: &TestKdc,
    case: &Case<'_>,
) -> Result<EstablishedContext, Rejection> {
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
    let mut peer = Peer::spawn(library, kdc, &args);

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
            let line = peer.read_line();
            return Err(peer.rejection(line, Some(rejected.error)));
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

    exercise(peer, &mut context, case.mutual, case.sequence);
    Ok(context)
}
