//! `rgssd svcgssd` serving the kernel's gss-proxy protocol, driven by a
//! client that writes the kernel's calls byte for byte
//! (net/sunrpc/auth_gss/gss_rpc_xdr.c, Linux 6.12) over the Unix socket,
//! with a fake `use-gss-proxy` file in place of /proc/net/rpc.
//!
//! Tickets are minted under a service key that the daemon's keytab holds,
//! which also makes a ticket with 64 KiB of authorization data, the size of
//! a large Active Directory PAC, that the procfs channel cannot carry.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use krb5::credentials::Credential;
use krb5::crypto::Key;
use krb5::gss::initiator::{init_sec_context, InitStep, InitiatorOptions, RPCSEC_GSS_FLAGS};
use krb5::keytab::{Keytab, KeytabEntry};
use krb5::messages;
use krb5::testing::TicketSpec;
use krb5::Principal;
use rasn_kerberos::AuthorizationDataValue;
use rgssd::gssproxy::gssx::{self, AcceptResult, LinuxCreds};

const REALM: &str = "EXAMPLE.TEST";
const PAC_AD_TYPE: i32 = 128;

/// A scratch directory with the daemon's keytab, krb5.conf and fake proc dir.
struct Setup {
    dir: PathBuf,
    service_key: Key,
}

impl Setup {
    fn new(name: &str, use_gss_proxy: Option<&str>) -> Setup {
        let dir =
            std::env::temp_dir().join(format!("rgssd-gssproxy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("proc")).unwrap();
        if let Some(text) = use_gss_proxy {
            std::fs::write(dir.join("proc/use-gss-proxy"), text).unwrap();
        }
        std::fs::write(
            dir.join("krb5.conf"),
            format!("[libdefaults]\n\tdefault_realm = {REALM}\n"),
        )
        .unwrap();

        let service_key = Key::random(18).unwrap();
        let mut keytab = Keytab::new();
        keytab.add_entry(KeytabEntry {
            principal: service(),
            timestamp: 0,
            kvno: 2,
            key: service_key.clone(),
        });
        std::fs::write(dir.join("keytab"), keytab.to_bytes().unwrap()).unwrap();
        Setup { dir, service_key }
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("gssproxy.sock")
    }

    fn control(&self) -> PathBuf {
        self.dir.join("proc/use-gss-proxy")
    }

    /// Starts `rgssd svcgssd` in the foreground with `mode`.
    fn start(&self, mode: &str) -> Daemon {
        self.start_with_log(mode, "daemon.log")
    }

    /// Starts `rgssd svcgssd` with `mode`, logging to `log` in the directory.
    fn start_with_log(&self, mode: &str, log: &str) -> Daemon {
        let child = Command::new(env!("CARGO_BIN_EXE_rgssd"))
            .args(["svcgssd", "-f", "-vvv", "-n", "--mode", mode, "--proc-dir"])
            .arg(self.dir.join("proc"))
            .arg("--socket")
            .arg(self.socket())
            .env("KRB5_CONFIG", self.dir.join("krb5.conf"))
            .env(
                "KRB5_KTNAME",
                format!("FILE:{}", self.dir.join("keytab").display()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join(log)).unwrap())
            .spawn()
            .unwrap();
        Daemon {
            child,
            log: self.dir.join(log),
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The daemon under test, stopped by PID when dropped.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `text`, or fails with the log.
    fn wait_for_log(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.log().contains(text) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the daemon did not log {text:?}; its log:\n{}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn service() -> Principal {
    Principal::host_service("nfs", "server.example.test", REALM)
}

fn now() -> (i64, u32) {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    (elapsed.as_secs() as i64, elapsed.subsec_micros())
}

/// Mints a ticket for alice to the service, with `authz_len` bytes of
/// PAC-typed authorization data inside AD-IF-RELEVANT when nonzero.
fn mint_ticket(service_key: &Key, authz_len: usize) -> Credential {
    let (start, _) = now();
    let client = Principal::parse("alice@EXAMPLE.TEST", None).unwrap();
    let mut spec = TicketSpec::new(client, service(), start);
    spec.session_key = Key::random(18).unwrap();
    spec.kvno = 2;
    if authz_len > 0 {
        let inner = vec![AuthorizationDataValue {
            r#type: PAC_AD_TYPE,
            data: vec![0x5a; authz_len].into(),
        }];
        spec.authorization_data = vec![AuthorizationDataValue {
            r#type: 1,
            data: messages::encode(&inner, "AD-IF-RELEVANT").unwrap().into(),
        }];
    }
    spec.mint(service_key)
}

fn opaque(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

/// Builds a record-marked ACCEPT_SEC_CONTEXT call as the kernel sends it.
fn kernel_call(xid: u32, token: &[u8]) -> Vec<u8> {
    let mut call = Vec::new();
    for word in [xid, 0, 2, gssx::PROGRAM, gssx::VERSION, 9, 0, 0, 0, 0] {
        call.extend_from_slice(&word.to_be_bytes());
    }
    opaque(&mut call, b"");
    opaque(&mut call, b"");
    call.extend_from_slice(&2u32.to_be_bytes());
    opaque(&mut call, b"exported_context_type\0");
    opaque(&mut call, b"linux_lucid_v1\0");
    opaque(&mut call, b"exported_creds_type\0");
    opaque(&mut call, b"linux_creds_v1\0");
    call.extend_from_slice(&[0; 8]);
    opaque(&mut call, token);
    call.extend_from_slice(&[0; 12]);

    let mut record = (0x8000_0000u32 | call.len() as u32).to_be_bytes().to_vec();
    record.extend_from_slice(&call);
    record
}

/// Reads one record-marked reply message and checks its xid.
fn read_message(stream: &mut UnixStream, xid: u32) -> Vec<u8> {
    let mut message = Vec::new();
    loop {
        let mut mark = [0u8; 4];
        stream.read_exact(&mut mark).unwrap();
        let mark = u32::from_be_bytes(mark);
        let start = message.len();
        message.resize(start + (mark & 0x7fff_ffff) as usize, 0);
        stream.read_exact(&mut message[start..]).unwrap();
        if mark & 0x8000_0000 != 0 {
            break;
        }
    }
    assert_eq!(&message[0..4], &xid.to_be_bytes(), "xid");
    message
}

/// Reads an accepted reply and returns its accept_stat.
fn read_reply_stat(stream: &mut UnixStream, xid: u32) -> u32 {
    let message = read_message(stream, xid);
    assert_eq!(
        &message[4..20],
        &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    u32::from_be_bytes(message[20..24].try_into().unwrap())
}

/// Reads one reply and returns the results of a SUCCESS reply.
fn read_reply(stream: &mut UnixStream, xid: u32) -> AcceptResult {
    let message = read_message(stream, xid);
    assert_eq!(
        &message[4..24],
        &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    AcceptResult::decode(&message[24..]).unwrap()
}

fn wait_for_file(path: &Path, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::fs::read_to_string(path).is_ok_and(|text| text == expected) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} never read {expected:?}", path.display());
}

/// Sends a context token for `ticket` through the socket and checks that
/// the daemon's context matches the initiator's.
fn establish(stream: &mut UnixStream, xid: u32, ticket: &Credential) {
    establish_in_halves(stream, xid, ticket, || {});
}

/// Establishes a context as [`establish`] does, but sends the call in two
/// halves and runs `between` after the first.
fn establish_in_halves(
    stream: &mut UnixStream,
    xid: u32,
    ticket: &Credential,
    between: impl FnOnce(),
) {
    let options = InitiatorOptions {
        flags: RPCSEC_GSS_FLAGS,
        enctypes: &[18],
        now: now(),
        channel_bindings: None,
    };
    let InitStep::ContinueNeeded(pending, token) = init_sec_context(ticket, &options).unwrap()
    else {
        panic!("mutual authentication was requested");
    };
    let call = kernel_call(xid, &token);
    let (head, tail) = call.split_at(call.len() / 2);
    stream.write_all(head).unwrap();
    between();
    stream.write_all(tail).unwrap();
    let result = read_reply(stream, xid);
    assert_eq!(result.status.major_status, 0, "{result:?}");

    let ours = pending
        .complete(result.output_token.as_deref().unwrap())
        .unwrap();
    let context = result.context_handle.as_ref().unwrap();
    let exported = &context.exported_context_token;
    let initiator = ours.export_lucid().unwrap();
    assert_eq!(exported.len(), initiator.len());
    assert_eq!(&exported[16..], &initiator[16..], "enctype and key");
    assert_eq!(context.src_name.display_name, b"alice@EXAMPLE.TEST");
    assert_eq!(
        context.targ_name.display_name,
        b"nfs/server.example.test@EXAMPLE.TEST"
    );
    assert_eq!(context.mech, krb5::gss::token::KRB5_OID);

    let creds =
        LinuxCreds::from_value(result.option(gssx::option::LINUX_CREDS_V1).unwrap()).unwrap();
    assert_eq!(
        (creds.uid, creds.gid),
        (u32::MAX, u32::MAX),
        "alice is not a local user"
    );
}

/// Starts the daemon in proxy mode and connects to its socket as the
/// kernel does.
fn connect_to_proxy(setup: &Setup) -> (Daemon, UnixStream) {
    let daemon = setup.start("proxy");
    wait_for_file(&setup.control(), "1\n");
    daemon.wait_for_log("the kernel sends RPCSEC_GSS context requests to");
    let stream = UnixStream::connect(setup.socket()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    (daemon, stream)
}

#[test]
fn proxy_mode_accepts_normal_and_64_kib_tickets() {
    let setup = Setup::new("serve", Some("-1\n"));
    let (_daemon, mut stream) = connect_to_proxy(&setup);
    establish(&mut stream, 1, &mint_ticket(&setup.service_key, 0));

    let big = mint_ticket(&setup.service_key, 64 * 1024);
    assert!(
        big.ticket.len() > 64 * 1024,
        "ticket of {} bytes",
        big.ticket.len()
    );
    establish(&mut stream, 2, &big);

    // A garbage token is rejected and the connection keeps serving.
    stream.write_all(&kernel_call(3, b"not a token")).unwrap();
    let result = read_reply(&mut stream, 3);
    assert_eq!(result.status.major_status, u64::from(9u32 << 16));
    establish(&mut stream, 4, &mint_ticket(&setup.service_key, 0));

    // Truncated arguments and a huge option count get GARBAGE_ARGS, and a
    // record too short for an xid is dropped. The connection then still
    // serves a good call.
    let mut truncated = kernel_call(5, b"token");
    truncated.truncate(truncated.len() - 6);
    let length = (truncated.len() - 4) as u32 | 0x8000_0000;
    truncated[0..4].copy_from_slice(&length.to_be_bytes());
    stream.write_all(&truncated).unwrap();
    assert_eq!(read_reply_stat(&mut stream, 5), 4, "GARBAGE_ARGS");

    let mut huge = kernel_call(6, b"token");
    huge[4 + 48..4 + 52].copy_from_slice(&u32::MAX.to_be_bytes());
    stream.write_all(&huge).unwrap();
    assert_eq!(read_reply_stat(&mut stream, 6), 4, "GARBAGE_ARGS");

    stream.write_all(&[0x80, 0, 0, 2, 0, 0]).unwrap();
    establish(&mut stream, 8, &mint_ticket(&setup.service_key, 0));
}

#[test]
fn sigterm_answers_call_in_flight() {
    let setup = Setup::new("sigterm", Some("-1\n"));
    let (mut daemon, mut stream) = connect_to_proxy(&setup);
    daemon.wait_for_log("the kernel connected");

    // SIGTERM arrives after the first half of the call.
    let pid = nix::unistd::Pid::from_raw(daemon.child.id() as i32);
    establish_in_halves(&mut stream, 21, &mint_ticket(&setup.service_key, 0), || {
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        daemon.wait_for_log("SIGTERM: stopping");
        // The listener closes soon after the signal.
        let deadline = Instant::now() + Duration::from_secs(5);
        while UnixStream::connect(setup.socket()).is_ok() {
            assert!(
                Instant::now() < deadline,
                "new connections are still taken after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    });

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}:\n{}", daemon.log());
    let log = daemon.log();
    assert!(log.contains("every call in flight got its reply"), "{log}");
    assert!(!log.contains("still in progress"), "{log}");
}

#[test]
fn restart_rebinds_and_enables_again() {
    let setup = Setup::new("restart", Some("-1\n"));
    let first = setup.start("proxy");
    wait_for_file(&setup.control(), "1\n");
    first.wait_for_log("the kernel sends RPCSEC_GSS context requests to");
    drop(first);

    // The kernel keeps reading 1; a new daemon replaces the stale socket.
    let second = setup.start("auto");
    second.wait_for_log("the kernel sends RPCSEC_GSS context requests to");
    let mut stream = UnixStream::connect(setup.socket()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    establish(&mut stream, 7, &mint_ticket(&setup.service_key, 0));
}

#[test]
fn latched_legacy_kernel_gets_procfs_service() {
    let setup = Setup::new("latched", Some("0\n"));
    let daemon = setup.start("proxy");
    daemon.wait_for_log("serving the procfs channel instead of gss-proxy");
    assert!(!setup.socket().exists());
    assert_eq!(std::fs::read_to_string(setup.control()).unwrap(), "0\n");
}

#[test]
fn auto_mode_without_control_file_serves_procfs() {
    let setup = Setup::new("auto", None);
    let daemon = setup.start("auto");
    daemon.wait_for_log("does not exist; serving the procfs channel");
    assert!(!setup.socket().exists());
}

#[test]
fn proxy_mode_waits_for_control_file() {
    let setup = Setup::new("wait", None);
    let daemon = setup.start("proxy");
    daemon.wait_for_log("the auth_rpcgss module must be loaded before nfsd starts");
    std::fs::write(setup.control(), "-1\n").unwrap();
    wait_for_file(&setup.control(), "1\n");
    daemon.wait_for_log("the kernel sends RPCSEC_GSS context requests to");
}

#[test]
fn second_server_on_socket_exits() {
    let setup = Setup::new("second", Some("-1\n"));
    let first = setup.start("proxy");
    first.wait_for_log("the kernel sends RPCSEC_GSS context requests to");

    let mut second = setup.start_with_log("auto", "second.log");
    let status = second.child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(
        second.log().contains("another server is listening on"),
        "{}",
        second.log()
    );
}

#[test]
fn invalid_mode_is_a_usage_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_rgssd"))
        .args(["svcgssd", "-f", "--mode", "fast"])
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid mode \"fast\""), "{stderr}");
}
