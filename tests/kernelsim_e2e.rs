//! End to end: the unmodified `rgssd gssd` and `rgssd svcgssd` binaries
//! against the simulated kernel (rpc_pipefs and /proc/net/rpc on FUSE),
//! with an MIT KDC and an RPCSEC_GSS server stand-in on 127.0.0.1 that
//! relays tokens to svcgssd through the simulated cache channels. MIT's
//! GSS-API library, in the krb5 crate's C peer, is the other end in some
//! tests: the stand-in's acceptor for gssd, and the initiator for svcgssd.
//! Every exported context that a test checks must also exchange MIC and
//! Wrap tokens with the other end of its context.
//!
//! The tests need root and /dev/fuse, MIT's KDC and kinit, and cc and
//! libkrb5-dev to build the C peer. Without FUSE they report that they
//! were skipped.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kernelsim::context::KernelContext;
use kernelsim::downcall::{
    errno, DowncallBody, Lucid, FLAG_ACCEPTOR_SUBKEY, FLAG_CFX, FLAG_INITIATOR,
};
use kernelsim::pipefs::{Client, ClientInfo, Outcome, PipeFs};
use kernelsim::procfs::ProcFs;
use kernelsim::rpcserver::{Accepted, Acceptor, ProcRelay, RpcServer, NO_CONTEXT, WINDOW};
use testkdc::{PrincipalSpec, TestKdc, TestKdcOptions};

// The driver of the C GSS-API peer that the krb5 crate's MIT interop tests
// use, here as MIT's acceptor and initiator.
#[path = "../krb5/tests/gss_peer/mod.rs"]
mod gss_peer;
use gss_peer::{
    parse_lucid, peer_mic, peer_unwrap, peer_verify_mic, peer_wrap, Library, Peer, PeerLucid,
};

const REALM: &str = "EXAMPLE.TEST";
const SERVER: &str = "nfs.example.test";
const PASSWORD: &str = "user password";
/// The simulated kernel's enctypes: Linux 6.12 with AES-SHA2 enabled.
const KERNEL_ENCTYPES: [i32; 4] = [20, 19, 18, 17];
const WAIT: Duration = Duration::from_secs(30);

/// A daemon started by a test; stopped (by its PID) when dropped.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the daemon exited with {status}; its log:\n{}", self.log());
        }
    }
}

impl Daemon {
    /// Stops the daemon by its PID and reaps it.
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Returns the local host name as gssd derives it with DNS canonicalization off.
fn local_host() -> String {
    nix::unistd::gethostname()
        .unwrap()
        .into_string()
        .unwrap()
        .to_lowercase()
}

fn start_kdc() -> TestKdc {
    start_kdc_with(&[])
}

/// Starts the KDC with extra `[libdefaults]` lines in its krb5.conf.
fn start_kdc_with(libdefaults: &[&str]) -> TestKdc {
    start_kdc_in(REALM, libdefaults)
}

/// Starts the KDC of `realm`, with extra `[libdefaults]` lines.
fn start_kdc_in(realm: &str, libdefaults: &[&str]) -> TestKdc {
    let mut options = TestKdcOptions::new(realm)
        .user("alice", PASSWORD)
        .user("root", PASSWORD)
        .principal(
            PrincipalSpec::service(&format!("nfs/{SERVER}"))
                .with_keytab("server.keytab")
                .with_enctypes(&KERNEL_ENCTYPES),
        )
        .principal(
            PrincipalSpec::service(&format!("nfs/{}", local_host())).with_keytab("client.keytab"),
        )
        .principal(PrincipalSpec::service("nfs/other.example.test").with_keytab("other.keytab"))
        .principal(
            PrincipalSpec::service("nfs/callback.example.test").with_keytab("client.keytab"),
        );
    for line in libdefaults {
        options = options.libdefault(line);
    }
    TestKdc::start(options).unwrap_or_else(|e| panic!("cannot start the test KDC: {e}"))
}

fn rgssd(kdc: &TestKdc, krb5_conf: &Path, args: &[&str], log: PathBuf) -> Daemon {
    let out = fs::File::create(&log).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_rgssd"));
    command
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("KRB5_CONFIG", krb5_conf)
        .env(
            "KRB5_KTNAME",
            format!(
                "FILE:{}",
                kdc.keytab(&format!("nfs/{SERVER}")).unwrap().display()
            ),
        )
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    let child = command.spawn().expect("cannot start rgssd");
    Daemon { child, log }
}

/// Gets a TGT for alice into `cache` with MIT's kinit, then gives the
/// cache (a file, or a DIR collection) to `uid`.
fn kinit_as(kdc: &TestKdc, cache: &str, lifetime: &str, owned: &Path, uid: u32) {
    kinit_user(kdc, "alice", cache, lifetime, owned, uid);
}

/// Gets a TGT for `user` as [`kinit_as`] does.
fn kinit_user(kdc: &TestKdc, user: &str, cache: &str, lifetime: &str, owned: &Path, uid: u32) {
    let kinit = testkdc::find_program("kinit", "krb5-user").unwrap();
    let client = format!("{user}@{}", kdc.realm());
    let mut child = kdc
        .command(kinit)
        .args(["-l", lifetime, "-c", cache, &client])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "kinit: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    chown_tree(owned, uid);
}

fn chown_tree(path: &Path, uid: u32) {
    let uid = nix::unistd::Uid::from_raw(uid);
    nix::unistd::chown(path, Some(uid), None).unwrap();
    if path.is_dir() {
        for entry in fs::read_dir(path).unwrap().flatten() {
            chown_tree(&entry.path(), uid.as_raw());
        }
    }
}

/// Starts the shared svcgssd on `procfs` and waits until it listens.
fn start_svcgssd(kdc: &TestKdc, procfs: &ProcFs, log: &Path) -> Daemon {
    let principal = format!("nfs/{SERVER}@{}", kdc.realm());
    let args = [
        "svcgssd",
        "-f",
        "-vvv",
        "-p",
        &principal,
        "--proc-dir",
        procfs.root().to_str().unwrap(),
    ];
    let svcgssd = rgssd(kdc, &kdc.krb5_conf(), &args, log.to_owned());
    assert!(
        procfs.wait_listener(true, WAIT),
        "svcgssd did not open the init channel; its log:\n{}",
        svcgssd.log()
    );
    svcgssd
}

/// Starts the shared gssd on `pipefs` and waits until it has the dummy
/// pipe open.
fn start_gssd(kdc: &TestKdc, pipefs: &PipeFs, ccdir: &Path, log: &Path) -> Daemon {
    let keytab = kdc.keytab(&format!("nfs/{}", local_host())).unwrap();
    let args = [
        "gssd",
        "-f",
        "-vvv",
        "-T",
        "3",
        "-p",
        pipefs.root().to_str().unwrap(),
        "-k",
        keytab.to_str().unwrap(),
        "-d",
        ccdir.to_str().unwrap(),
    ];
    let gssd = rgssd(kdc, &kdc.krb5_conf(), &args, log.to_owned());
    assert!(
        pipefs.wait_gssd_running(true, WAIT),
        "gssd did not open the dummy pipe; its log:\n{}",
        gssd.log()
    );
    gssd
}

/// Everything an end-to-end test needs: the KDC, both simulated trees,
/// the stand-in server and both daemons.
struct World {
    // Fields drop in this order: the daemons first, so that no process has
    // the mounts open when they are unmounted.
    gssd: Daemon,
    svcgssd: Daemon,
    server: RpcServer,
    pipefs: PipeFs,
    procfs: Arc<ProcFs>,
    kdc: TestKdc,
    dir: tempfile::TempDir,
}

impl World {
    fn start() -> World {
        World::start_with(&[])
    }

    fn start_with(libdefaults: &[&str]) -> World {
        World::start_custom(REALM, libdefaults, &KERNEL_ENCTYPES)
    }

    /// Starts a world whose server kernel imports only `server_enctypes`.
    fn start_custom(realm: &str, libdefaults: &[&str], server_enctypes: &[i32]) -> World {
        let kdc = start_kdc_in(realm, libdefaults);
        let dir = tempfile::tempdir().unwrap();
        // Users must reach their caches when gssd reads them as the user.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let ccdir = dir.path().join("cc");
        fs::create_dir(&ccdir).unwrap();
        fs::set_permissions(&ccdir, fs::Permissions::from_mode(0o1777)).unwrap();
        let procfs = Arc::new(ProcFs::mount(server_enctypes).unwrap());
        let pipefs = PipeFs::mount(&KERNEL_ENCTYPES).unwrap();
        let server = RpcServer::start(Arc::new(ProcRelay {
            procfs: Arc::clone(&procfs),
            timeout: Duration::from_secs(10),
        }))
        .unwrap();
        let svcgssd = start_svcgssd(&kdc, &procfs, &dir.path().join("svcgssd.log"));
        let gssd = start_gssd(&kdc, &pipefs, &ccdir, &dir.path().join("gssd.log"));
        World {
            kdc,
            dir,
            pipefs,
            procfs,
            server,
            svcgssd,
            gssd,
        }
    }

    fn ccdir(&self) -> PathBuf {
        self.dir.path().join("cc")
    }

    /// Adds an NFSv4 client of `server` and waits until gssd opens its `gssd` pipe.
    fn client(&self, server: &str, port: u16) -> Client {
        let client = self
            .pipefs
            .add_client("nfs", &ClientInfo::nfs4(server, "127.0.0.1", port))
            .unwrap();
        // Linux 6.12 makes both pipes, the text one first.
        client.add_pipe("gssd").unwrap();
        client.add_pipe("krb5").unwrap();
        assert!(
            client.wait_reader("gssd", WAIT),
            "gssd did not open {}; its log:\n{}",
            client.path().display(),
            self.gssd.log()
        );
        client
    }

    fn logs(&self) -> String {
        format!(
            "gssd log:\n{}\nsvcgssd log:\n{}",
            self.gssd.log(),
            self.svcgssd.log()
        )
    }

    /// Checks a context downcall against the context svcgssd installed.
    fn check_context(&self, outcome: &Outcome, uid: u32, client_name: Option<&str>) {
        let Outcome::Context(downcall) = outcome else {
            panic!(
                "uid {uid}: expected a context, got {outcome:?}\n{}",
                self.logs()
            );
        };
        assert_eq!(downcall.uid, uid);
        assert_eq!(downcall.window, 128);
        let DowncallBody::Context {
            handle,
            context,
            acceptor,
        } = &downcall.body
        else {
            unreachable!()
        };
        assert_eq!(acceptor.as_deref(), Some(&b"nfs@nfs.example.test\0"[..]));
        assert_eq!(context.flags & FLAG_INITIATOR, FLAG_INITIATOR);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as u32;
        assert!(context.endtime > now);
        assert!(downcall.timeout > 0);
        // The lifetime was counted when gssd wrote it, a moment ago.
        assert!(i64::from(downcall.timeout) <= i64::from(context.endtime) - i64::from(now) + 60);

        let entry = self
            .procfs
            .context(handle)
            .unwrap_or_else(|| panic!("no context {} on the server", hex::encode(handle)));
        let creds = entry.creds.expect("a positive context entry");
        assert_eq!(creds.mech, "krb5");
        // Both ends hold the same key and end time; only the direction differs.
        assert_eq!(creds.context.key, context.key);
        assert_eq!(creds.context.enctype, context.enctype);
        assert_eq!(creds.context.endtime, context.endtime);
        assert_eq!(entry.expiry, i64::from(context.endtime));
        assert_eq!(creds.context.flags & FLAG_INITIATOR, 0);
        assert_eq!(
            creds.context.flags & FLAG_ACCEPTOR_SUBKEY,
            context.flags & FLAG_ACCEPTOR_SUBKEY
        );
        assert_eq!(creds.principal.as_deref(), client_name);
        // Neither principal maps to a local account here.
        if client_name.is_some() {
            assert_eq!((creds.uid, creds.gid, creds.groups.len()), (-1, -1, 0));
        }
        prove_downcall_context(context, &creds.context);
    }
}

/// Returns the outcome of an error downcall carrying `errno`: the kernel
/// keeps EKEYEXPIRED and turns every other errno into EACCES.
fn error_outcome(errno: i32) -> Option<Outcome> {
    let result = if errno == errno::EKEYEXPIRED {
        -errno::EKEYEXPIRED
    } else {
        -errno::EACCES
    };
    Some(Outcome::Error {
        sent: -errno,
        result,
    })
}

/// Queues a user upcall for `uid` and waits for its outcome.
fn user_upcall(client: &Client, uid: u32) -> Option<Outcome> {
    let line = format!("mech=krb5 uid={uid} enctypes=18,17\n");
    let upcall = client.upcall(uid, &line).unwrap();
    client.wait(upcall, WAIT)
}

/// Queues a machine-credential upcall and waits for its outcome.
fn machine_upcall(client: &Client) -> Option<Outcome> {
    let upcall = client
        .upcall(0, "mech=krb5 uid=0 service=* enctypes=18,17\n")
        .unwrap();
    client.wait(upcall, WAIT)
}

/// Starts a gssd with `options` on its own simulated rpc_pipefs, for
/// settings that the shared [`World`] does not use.
fn lone_gssd(kdc: &TestKdc, krb5_conf: &Path, options: &[&str], dir: &Path) -> (PipeFs, Daemon) {
    let pipefs = PipeFs::mount(&KERNEL_ENCTYPES).unwrap();
    let keytab = kdc.keytab(&format!("nfs/{}", local_host())).unwrap();
    let mut args = vec!["gssd", "-f", "-v"];
    args.extend_from_slice(options);
    args.extend([
        "-p",
        pipefs.root().to_str().unwrap(),
        "-k",
        keytab.to_str().unwrap(),
        "-d",
        dir.to_str().unwrap(),
    ]);
    let gssd = rgssd(kdc, krb5_conf, &args, dir.join("gssd.log"));
    assert!(pipefs.wait_gssd_running(true, WAIT), "{}", gssd.log());
    (pipefs, gssd)
}

/// Adds an NFSv4 client of the server at `port` on a lone gssd's tree and
/// waits until gssd opens its `gssd` pipe.
fn lone_client(pipefs: &PipeFs, port: u16) -> Client {
    let client = pipefs
        .add_client("nfs", &ClientInfo::nfs4(SERVER, "127.0.0.1", port))
        .unwrap();
    client.add_pipe("gssd").unwrap();
    assert!(client.wait_reader("gssd", WAIT));
    client
}

/// One end of an established context, for [`exchange_tokens`]. Errors are
/// the end's description of a rejected token.
trait ContextEnd {
    /// Returns the end's name for failure messages.
    fn name(&self) -> &str;
    fn get_mic(&mut self, message: &[u8]) -> Vec<u8>;
    fn verify_mic(&mut self, message: &[u8], token: &[u8]) -> Result<(), String>;
    fn wrap(&mut self, seal: bool, message: &[u8]) -> Vec<u8>;
    /// Opens a Wrap token and returns whether it was sealed, and its message.
    fn unwrap(&mut self, token: &[u8]) -> Result<(bool, Vec<u8>), String>;
}

/// A context as the kernel imports it from a downcall or a context record.
struct KernelEnd {
    name: &'static str,
    context: KernelContext,
}

impl KernelEnd {
    fn import(name: &'static str, lucid: &Lucid) -> Self {
        let context = KernelContext::import(lucid)
            .unwrap_or_else(|e| panic!("cannot import {name} ({lucid:?}): {e}"));
        KernelEnd { name, context }
    }
}

impl ContextEnd for KernelEnd {
    fn name(&self) -> &str {
        self.name
    }

    fn get_mic(&mut self, message: &[u8]) -> Vec<u8> {
        self.context
            .get_mic(message)
            .unwrap_or_else(|e| panic!("{}: get_mic failed: {e}", self.name))
    }

    fn verify_mic(&mut self, message: &[u8], token: &[u8]) -> Result<(), String> {
        self.context
            .verify_mic(message, token)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn wrap(&mut self, seal: bool, message: &[u8]) -> Vec<u8> {
        self.context
            .wrap(seal, message)
            .unwrap_or_else(|e| panic!("{}: wrap failed: {e}", self.name))
    }

    fn unwrap(&mut self, token: &[u8]) -> Result<(bool, Vec<u8>), String> {
        self.context
            .unwrap(token)
            .map(|opened| (opened.sealed, opened.message))
            .map_err(|e| e.to_string())
    }
}

/// MIT's context in a running C peer whose command loop was started with
/// `commands-only`.
struct MitEnd {
    name: &'static str,
    peer: Peer,
}

impl MitEnd {
    /// Ends the command loop and returns MIT's lucid v1 export of the context.
    fn finish(mut self) -> PeerLucid {
        self.peer.send_line("end");
        let lucid = parse_lucid(&self.peer.expect("lucid"));
        self.peer.wait();
        lucid
    }
}

impl ContextEnd for MitEnd {
    fn name(&self) -> &str {
        self.name
    }

    fn get_mic(&mut self, message: &[u8]) -> Vec<u8> {
        peer_mic(&mut self.peer, message)
    }

    fn verify_mic(&mut self, message: &[u8], token: &[u8]) -> Result<(), String> {
        match peer_verify_mic(&mut self.peer, message, token) {
            Ok(0) => Ok(()),
            Ok(status) => panic!("{}: gss_verify_mic status {status:#x}", self.name),
            Err(status) => Err(format!("gss_verify_mic failed with {status:#010x}")),
        }
    }

    fn wrap(&mut self, seal: bool, message: &[u8]) -> Vec<u8> {
        peer_wrap(&mut self.peer, seal, message)
    }

    fn unwrap(&mut self, token: &[u8]) -> Result<(bool, Vec<u8>), String> {
        match peer_unwrap(&mut self.peer, token) {
            Ok((sealed, 0, message)) => Ok((sealed, message)),
            Ok((_, status, _)) => panic!("{}: gss_unwrap status {status:#x}", self.name),
            Err(status) => Err(format!("gss_unwrap failed with {status:#010x}")),
        }
    }
}

/// Proves that two ends of one context work together: MIC and Wrap tokens
/// (integrity only and sealed) in both directions are accepted, and
/// changed tokens, reflected tokens and a MIC over another message are
/// rejected.
fn exchange_tokens(initiator: &mut dyn ContextEnd, acceptor: &mut dyn ContextEnd) {
    send_tokens(initiator, acceptor);
    send_tokens(acceptor, initiator);
}

/// Returns `token` with one bit of byte `index` flipped.
fn flip(token: &[u8], index: usize) -> Vec<u8> {
    let mut changed = token.to_vec();
    changed[index] ^= 1;
    changed
}

/// Sends MIC and Wrap tokens one way, for [`exchange_tokens`].
fn send_tokens(sender: &mut dyn ContextEnd, receiver: &mut dyn ContextEnd) {
    let route = format!("from {} to {}", sender.name(), receiver.name());
    let message = format!("a message {route}").into_bytes();

    let mic = sender.get_mic(&message);
    assert_eq!(receiver.verify_mic(&message, &mic), Ok(()), "MIC {route}");
    assert!(
        receiver.verify_mic(b"another message", &mic).is_err(),
        "MIC {route} verified over another message"
    );
    // Byte 10 is in the sequence number, the last byte in the checksum.
    for index in [10, mic.len() - 1] {
        assert!(
            receiver.verify_mic(&message, &flip(&mic, index)).is_err(),
            "MIC {route} verified with byte {index} changed"
        );
    }
    // The direction flag and key usage keep a token from verifying at the
    // end that made it.
    assert!(
        sender.verify_mic(&message, &mic).is_err(),
        "MIC {route} verified at its sender"
    );

    for seal in [false, true] {
        let kind = if seal { "sealed Wrap" } else { "Wrap" };
        let token = sender.wrap(seal, &message);
        assert_eq!(
            receiver.unwrap(&token),
            Ok((seal, message.clone())),
            "{kind} token {route}"
        );
        // Byte 10 is in the sequence number, byte 16 the first of the
        // message or ciphertext, the last byte in the checksum.
        for index in [10, 16, token.len() - 1] {
            assert!(
                receiver.unwrap(&flip(&token, index)).is_err(),
                "{kind} token {route} opened with byte {index} changed"
            );
        }
        assert!(
            sender.unwrap(&token).is_err(),
            "{kind} token {route} opened at its sender"
        );
    }
}

/// Proves a downcall's context against the server's end of the same
/// context, as the kernel would use both.
fn prove_downcall_context(client: &Lucid, server: &Lucid) {
    let mut initiator = KernelEnd::import("the downcall's context", client);
    let mut acceptor = KernelEnd::import("the server's context", server);
    exchange_tokens(&mut initiator, &mut acceptor);
}

fn fuse_or_skip() -> bool {
    if kernelsim::fuse_available() {
        true
    } else {
        eprintln!("skipped: the kernel simulation needs root and /dev/fuse");
        false
    }
}

#[test]
fn daemons_establish_contexts() {
    if !fuse_or_skip() {
        return;
    }
    let mut world = World::start();
    let ccdir = world.ccdir();
    // Users: 61001 with a FILE cache, 61002 with a DIR collection, 61003
    // with an expired ticket, 61004 with nothing.
    let expired = ccdir.join("krb5cc_61003");
    kinit_as(
        &world.kdc,
        &format!("FILE:{}", expired.display()),
        "2s",
        &expired,
        61003,
    );
    let expired_at = Instant::now() + Duration::from_secs(3);
    let file = ccdir.join("krb5cc_61001");
    kinit_as(
        &world.kdc,
        &format!("FILE:{}", file.display()),
        "1h",
        &file,
        61001,
    );
    let collection = ccdir.join("krb5cc_61002");
    fs::create_dir(&collection).unwrap();
    kinit_as(
        &world.kdc,
        &format!("DIR:{}", collection.display()),
        "1h",
        &collection,
        61002,
    );

    let client = world.client(SERVER, world.server.port());
    let machine = client
        .upcall(0, "mech=krb5 uid=0 service=* enctypes=20,19,18,17\n")
        .unwrap();
    let outcome = client.wait(machine, WAIT).expect("no downcall for uid 0");
    let host_based = format!("nfs@{}", local_host());
    world.check_context(&outcome, 0, Some(&host_based));
    // The service ticket joins the machine TGT in the machine ccache.
    let realm = world.kdc.realm();
    let machine_cache = format!("FILE:{}/krb5ccmachine_{realm}", ccdir.display());
    let listed = klist_as(&world.kdc, 0, &machine_cache);
    assert!(
        listed.contains(&format!("krbtgt/{realm}@{realm}")),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("nfs/{SERVER}@{realm}")),
        "{listed}"
    );

    for uid in [61001, 61002] {
        let upcall = client
            .upcall(uid, &format!("mech=krb5 uid={uid} enctypes=18,17\n"))
            .unwrap();
        let outcome = client.wait(upcall, WAIT).expect("no downcall");
        world.check_context(&outcome, uid, None);
        if let Outcome::Context(d) = &outcome {
            if let DowncallBody::Context { context, .. } = &d.body {
                assert!([18, 17].contains(&context.enctype), "{context:?}");
            }
        }
    }

    std::thread::sleep(expired_at.saturating_duration_since(Instant::now()));
    assert_eq!(
        user_upcall(&client, 61003),
        error_outcome(errno::EKEYEXPIRED),
        "{}",
        world.logs()
    );
    assert_eq!(user_upcall(&client, 61004), error_outcome(errno::EACCES));

    // Every call the stand-in saw was a well-formed INIT over TCP.
    let calls = world.server.calls();
    assert_eq!(calls.len(), 3);
    for call in &calls {
        assert_eq!(
            (call.program, call.version, call.procedure),
            (100_003, 4, 0)
        );
        assert_eq!((call.gss_version, call.gss_proc, call.udp), (1, 1, false));
        assert!(call.handle.is_empty());
        assert_eq!(call.rejected, None);
    }

    // A replayed AP-REQ is refused by svcgssd with a GSS error reply.
    let replayed = world.procfs.request(&[], &calls[0].token);
    let reply = world
        .procfs
        .wait_reply(replayed, WAIT)
        .expect("no reply to a replay");
    assert_ne!(reply.major, 0);
    assert!(reply.out_handle.is_empty());
    // Unlike rpc.svcgssd, which sends no token on errors, rgssd passes the
    // acceptor's KRB-ERROR token (TOK_ID 03 00 after the krb5 OID) along.
    if !reply.out_token.is_empty() {
        assert_eq!(reply.out_token[0], 0x60);
        assert!(reply.out_token.windows(2).any(|w| w == [3, 0]));
    }

    // A ticket for a principal that svcgssd does not accept: the server's
    // failure reaches gssd, which sends EACCES down.
    let other = world.client("other.example.test", world.server.port());
    assert_eq!(user_upcall(&other, 61001), error_outcome(errno::EACCES));
    let log = world.gssd.log();
    assert!(log.contains("rejected the context"), "{log}");

    // A client of a kernel that still has SPKM-3 gets its spkm3 upcalls on
    // the text pipe; the spkm3 pipe stays closed, because the kernel
    // refuses to open it while a text pipe is open.
    let spkm3 = world
        .pipefs
        .add_client(
            "nfs",
            &ClientInfo::nfs4(SERVER, "127.0.0.1", world.server.port()),
        )
        .unwrap();
    spkm3.add_pipe("gssd").unwrap();
    spkm3.add_pipe("spkm3").unwrap();
    assert!(spkm3.wait_reader("gssd", WAIT));
    let upcall = spkm3.upcall(61001, "mech=spkm3 uid=61001\n").unwrap();
    assert_eq!(spkm3.wait(upcall, WAIT), error_outcome(errno::EACCES));
    let log = world.gssd.log();
    assert!(!log.contains("Device or resource busy"), "{log}");
    spkm3.remove().unwrap();

    // The legacy krb5 pipe of a kernel without the text pipe: the kernel
    // lets it be opened once no text pipe is open any more.
    client.remove().unwrap();
    other.remove().unwrap();
    let legacy = world
        .pipefs
        .add_client(
            "nfs",
            &ClientInfo::nfs4(SERVER, "127.0.0.1", world.server.port()),
        )
        .unwrap();
    legacy.add_pipe("krb5").unwrap();
    assert!(legacy.wait_reader("krb5", WAIT), "{}", world.logs());
    let upcall = legacy.legacy_upcall("krb5", 61001).unwrap();
    let outcome = legacy.wait(upcall, WAIT).expect("no legacy downcall");
    world.check_context(&outcome, 61001, None);

    world.gssd.assert_alive();
    world.svcgssd.assert_alive();
}

/// Drops every call: a server that takes the connection and stays silent.
struct Silent;

impl Acceptor for Silent {
    fn accept(&self, _handle: &[u8], _token: &[u8]) -> Option<Accepted> {
        None
    }
}

#[test]
fn gssd_failures_and_load() {
    if !fuse_or_skip() {
        return;
    }
    let mut world = World::start();
    let ccdir = world.ccdir();

    // A server that takes the call and never replies: the upcall ends at
    // the 25 s reply timeout, not at -T (3 s here), as in rpc.gssd. It runs
    // beside the rest of the test and is checked at the end.
    let silent = RpcServer::start(Arc::new(Silent)).unwrap();
    let patient = world.client(SERVER, silent.port());
    let patient_started = Instant::now();
    let patient_upcall = patient
        .upcall(0, "mech=krb5 uid=0 service=* enctypes=18,17\n")
        .unwrap();

    // An unreachable server: nothing listens on the port.
    let dead_port = testkdc::free_port().unwrap();
    let unreachable = world.client(SERVER, dead_port);
    let started = Instant::now();
    assert_eq!(
        machine_upcall(&unreachable),
        error_outcome(errno::EACCES),
        "{}",
        world.logs()
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // A malformed upcall whose uid is readable still gets an error downcall.
    let upcall = unreachable
        .upcall(61050, "mech=krb5 uid=61050 target= enctypes=18\n")
        .unwrap();
    assert_eq!(unreachable.wait(upcall, WAIT), error_outcome(errno::EACCES));

    // A server that never replies, and a client that goes away meanwhile.
    let vanishing = world.client(SERVER, silent.port());
    let upcall = vanishing
        .upcall(0, "mech=krb5 uid=0 service=* enctypes=18,17\n")
        .unwrap();
    assert!(vanishing.wait_read(upcall, WAIT));
    let deadline = Instant::now() + WAIT;
    while silent.calls().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    vanishing.remove().unwrap();
    assert_eq!(
        vanishing.wait(upcall, WAIT),
        Some(Outcome::Failed(-errno::EPIPE))
    );

    // The kernel recreates the pipe when the auth is recreated; gssd must
    // follow the new pipe.
    let recreated = world.client(SERVER, world.server.port());
    recreated.remove_pipe("gssd").unwrap();
    recreated.add_pipe("gssd").unwrap();
    assert!(recreated.wait_reader("gssd", WAIT), "{}", world.logs());
    let upcall = recreated
        .upcall(0, "mech=krb5 uid=0 service=* enctypes=18,17\n")
        .unwrap();
    let outcome = recreated
        .wait(upcall, WAIT)
        .expect("no downcall on the new pipe");
    world.check_context(&outcome, 0, Some(&format!("nfs@{}", local_host())));

    // 200 users at once, each with its own cache.
    let template = ccdir.join("template");
    kinit_as(
        &world.kdc,
        &format!("FILE:{}", template.display()),
        "1h",
        &template,
        0,
    );
    let uids: Vec<u32> = (62000..62200).collect();
    for uid in &uids {
        let cache = ccdir.join(format!("krb5cc_{uid}"));
        fs::copy(&template, &cache).unwrap();
        chown_tree(&cache, *uid);
    }
    let busy = world.client(SERVER, world.server.port());
    let started = Instant::now();
    let upcalls: Vec<_> = uids
        .iter()
        .map(|uid| {
            busy.upcall(*uid, &format!("mech=krb5 uid={uid} enctypes=18,17\n"))
                .unwrap()
        })
        .collect();
    for (uid, upcall) in uids.iter().zip(upcalls) {
        let outcome = busy
            .wait(upcall, WAIT)
            .unwrap_or_else(|| panic!("no downcall for uid {uid}\n{}", world.logs()));
        world.check_context(&outcome, *uid, None);
    }
    eprintln!("200 upcalls answered in {:?}", started.elapsed());
    // Exactly one whole downcall per upcall, each taken by the kernel.
    let writes = busy.writes("gssd");
    assert_eq!(writes.len(), uids.len());
    for write in &writes {
        assert_eq!(write.result, Ok(write.data.len()));
    }
    for write in world.procfs.context_writes() {
        assert_eq!(write.result, Ok(write.data.len()));
    }

    // The silent server's upcall from the start of the test.
    assert!(matches!(
        patient.wait(patient_upcall, WAIT),
        Some(Outcome::Error { sent, .. }) if sent == -errno::EACCES
    ));
    assert!(
        patient_started.elapsed() >= Duration::from_secs(24),
        "{:?}",
        patient_started.elapsed()
    );
    let reply_timeout = format!(
        "no reply from 127.0.0.1:{} over Tcp within 25 s",
        silent.port()
    );
    assert!(world.logs().contains(&reply_timeout), "{}", world.logs());
    world.gssd.assert_alive();
    world.svcgssd.assert_alive();
}

#[test]
fn gssd_dead_kdc() {
    if !fuse_or_skip() {
        return;
    }
    let kdc = start_kdc();
    let dir = tempfile::tempdir().unwrap();
    let dead = testkdc::free_port().unwrap();
    let conf = fs::read_to_string(kdc.krb5_conf())
        .unwrap()
        .replace(&kdc.address(), &format!("127.0.0.1:{dead}"));
    let conf_path = dir.path().join("krb5.conf");
    fs::write(&conf_path, conf).unwrap();
    // -M: no machine cache on disk, so the TGT must come from the KDC.
    let (pipefs, mut gssd) = lone_gssd(&kdc, &conf_path, &["-M"], dir.path());

    let client = lone_client(&pipefs, 2049);
    let started = Instant::now();
    assert_eq!(
        machine_upcall(&client),
        error_outcome(errno::EACCES),
        "{}",
        gssd.log()
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    gssd.assert_alive();
}

/// A KDC that takes datagrams and TCP connections but never replies, like
/// one with a long queue: the sockets are bound and never read or accepted.
struct SilentKdc {
    udp: std::net::UdpSocket,
    _tcp: std::net::TcpListener,
}

impl SilentKdc {
    fn start() -> Self {
        let port = testkdc::free_port().unwrap();
        Self {
            udp: std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap(),
            _tcp: std::net::TcpListener::bind(("127.0.0.1", port)).unwrap(),
        }
    }

    fn address(&self) -> String {
        self.udp.local_addr().unwrap().to_string()
    }
}

/// Runs one machine upcall through a gssd with `options` whose krb5.conf,
/// with extra `libdefaults`, sends the realm to a [`SilentKdc`]. Checks
/// that the upcall ends with `errno` and that gssd survives, and returns
/// the time the upcall took, gssd's log and the silent KDC's address.
fn upcall_with_silent_kdc(
    libdefaults: &[&str],
    options: &[&str],
    errno: i32,
) -> (Duration, String, String) {
    let kdc = start_kdc_with(libdefaults);
    let dir = tempfile::tempdir().unwrap();
    let silent = SilentKdc::start();
    let conf = fs::read_to_string(kdc.krb5_conf())
        .unwrap()
        .replace(&kdc.address(), &silent.address());
    let conf_path = dir.path().join("krb5.conf");
    fs::write(&conf_path, conf).unwrap();
    let (pipefs, mut gssd) = lone_gssd(&kdc, &conf_path, options, dir.path());

    let client = lone_client(&pipefs, 2049);
    let started = Instant::now();
    assert_eq!(
        machine_upcall(&client),
        error_outcome(errno),
        "{}",
        gssd.log()
    );
    let elapsed = started.elapsed();
    gssd.assert_alive();
    (elapsed, gssd.log(), silent.address())
}

#[test]
fn gssd_silent_kdc_request_timeout() {
    if !fuse_or_skip() {
        return;
    }
    // The KDC wait outlasts -U, which without -C only logs the upcall as
    // slow: its downcall still comes when request_timeout ends the wait.
    // The established TCP connection delays the UDP resend past then.
    let (elapsed, log, address) =
        upcall_with_silent_kdc(&["request_timeout = 6"], &["-M", "-U", "5"], errno::EACCES);
    assert!(elapsed >= Duration::from_secs(6), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
    assert!(log.contains("is taking longer than 5 s"), "{log}");
    let expected = format!("{address} (udp): no reply to 1 datagram in ");
    assert!(log.contains(&expected), "{log}");
    let expected = format!("{address} (tcp): connected, but no reply in ");
    assert!(log.contains(&expected), "{log}");
    assert!(
        log.contains("when request_timeout ended the request"),
        "{log}"
    );
}

#[test]
fn gssd_cancels_upcall_waiting_for_kdc() {
    if !fuse_or_skip() {
        return;
    }
    // Without request_timeout the AS request to the silent KDC lasts 27 s,
    // and -C -U 5 ends the upcall with ETIMEDOUT after 5 s instead.
    let (elapsed, _, _) = upcall_with_silent_kdc(&[], &["-M", "-C", "-U", "5"], errno::ETIMEDOUT);
    assert!(elapsed >= Duration::from_secs(5), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
}

#[test]
fn svcgssd_hostile_requests() {
    if !fuse_or_skip() {
        return;
    }
    let mut world = World::start();
    let hostile: Vec<Vec<u8>> = vec![
        b"\\xzz \\x6001\n".to_vec(),
        b"\\x0 \\x6001\n".to_vec(),
        b"\\x\n".to_vec(),
        b"\\x \\x6001".to_vec(),
        b"\n".to_vec(),
        b"plain words here\n".to_vec(),
        vec![0xff; 300],
    ];
    for line in &hostile {
        let id = world.procfs.request_raw(line.clone());
        assert!(world.procfs.wait_read(id, WAIT), "{}", world.logs());
    }
    // Well-formed lines with tokens that are no AP-REQ get a failure reply.
    let garbage: Vec<Vec<u8>> = vec![
        vec![1, 2, 3, 4, 5],
        Vec::new(),
        [&[0x60u8, 0x82, 0x10, 0x00][..], &[0xab; 6000]].concat(),
    ];
    for token in &garbage {
        let id = world.procfs.request(&[], token);
        let reply = world
            .procfs
            .wait_reply(id, WAIT)
            .unwrap_or_else(|| panic!("no reply to a garbage token\n{}", world.logs()));
        assert_ne!(reply.major, 0);
        assert_eq!(reply.in_token, *token);
        assert!(reply.out_handle.is_empty());
        assert!(reply.out_token.is_empty());
        // rpc.svcgssd keeps init replies for 60 seconds.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(
            (now + 50..=now + 70).contains(&reply.expiry),
            "{}",
            reply.expiry
        );
    }
    // A request line as Linux 6.12 wrote it, with an AP-REQ for keys this
    // KDC never made: a failure reply that echoes the 1672-byte line's key.
    let recorded = fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/kernel/init-request-krb5.txt"
    ))
    .unwrap();
    let id = world.procfs.request_raw(recorded.clone());
    let reply = world
        .procfs
        .wait_reply(id, WAIT)
        .expect("no reply to the recorded request");
    assert_ne!(reply.major, 0);
    let echoed = format!(
        "{} {}\n",
        kernelsim::procfs::hex_field(&reply.in_handle),
        kernelsim::procfs::hex_field(&reply.in_token)
    );
    assert_eq!(echoed.as_bytes(), &recorded[..]);

    // CONTINUE_INIT for a handle svcgssd never issued.
    let id = world.procfs.request(&[1, 2, 3, 4], &[0x60, 0]);
    let reply = world
        .procfs
        .wait_reply(id, WAIT)
        .expect("no reply to CONTINUE_INIT");
    assert_ne!(reply.major, 0);

    // Every record svcgssd wrote was accepted by the kernel's parser.
    for write in world.procfs.init_writes() {
        assert!(write.result.is_ok(), "{write:?}");
    }
    world.svcgssd.assert_alive();
    assert!(
        world.svcgssd.log().contains("malformed"),
        "{}",
        world.logs()
    );

    // And it still serves.
    let client = world.client(SERVER, world.server.port());
    let upcall = client
        .upcall(0, "mech=krb5 uid=0 service=* enctypes=18,17\n")
        .unwrap();
    let outcome = client.wait(upcall, WAIT).expect("no downcall");
    world.check_context(&outcome, 0, Some(&format!("nfs@{}", local_host())));
}

/// Accepts directly with rgssd's own krb5 acceptor, without svcgssd.
struct Direct {
    credential: rgssd::mech::AcceptorCredential,
    replay: krb5::gss::replay::ReplayCache,
    /// The context of the last call accepted.
    last: Mutex<Option<Lucid>>,
}

impl Direct {
    /// Accepts tickets for any principal of the server keytab.
    fn new(kdc: &TestKdc) -> Self {
        let keytab = kdc.keytab(&format!("nfs/{SERVER}")).unwrap();
        let keytab = krb5::keytab::Keytab::load(&format!("FILE:{}", keytab.display())).unwrap();
        Direct {
            credential: rgssd::mech::AcceptorCredential {
                keytab: Arc::new(keytab),
                principal: None,
            },
            replay: krb5::gss::replay::ReplayCache::new(),
            last: Mutex::new(None),
        }
    }

    /// Returns the context of the last call accepted.
    fn last(&self) -> Lucid {
        let last = self.last.lock().unwrap().clone();
        last.expect("the direct acceptor accepted no context")
    }
}

impl Acceptor for Direct {
    fn accept(&self, handle: &[u8], token: &[u8]) -> Option<Accepted> {
        assert!(handle.is_empty());
        let mech = rgssd::mech::by_name("krb5").unwrap();
        let options = rgssd::mech::AcceptOptions {
            enctypes: &KERNEL_ENCTYPES,
            clockskew: 300,
            now: rgssd::mech::now(),
        };
        match mech.accept_sec_context(&self.credential, &self.replay, &options, token) {
            Ok(accepted) => {
                let exported = accepted.context.export().unwrap();
                let lucid = kernelsim::downcall::import_lucid(&exported, &KERNEL_ENCTYPES).unwrap();
                let verifier = kernelsim::rpcserver::window_mic(&lucid).unwrap();
                *self.last.lock().unwrap() = Some(lucid);
                Some(Accepted {
                    major: 0,
                    minor: 0,
                    handle: vec![0xd1, 0x2e],
                    token: accepted.output_token,
                    verifier: Some(verifier),
                })
            }
            Err(rejected) => Some(Accepted {
                major: rejected.error.major,
                minor: rejected.error.minor,
                ..Accepted::default()
            }),
        }
    }
}

#[test]
fn gssd_udp_callback_direct_acceptor() {
    if !fuse_or_skip() {
        return;
    }
    let mut world = World::start();

    // UDP to the relay: the stand-in listens on the same port for both.
    let mut info = ClientInfo::nfs4(SERVER, "127.0.0.1", world.server.port());
    info.protocol = "udp".to_string();
    let udp = world.pipefs.add_client("nfs", &info).unwrap();
    udp.add_pipe("gssd").unwrap();
    assert!(udp.wait_reader("gssd", WAIT));
    let upcall = udp
        .upcall(0, "mech=krb5 uid=0 service=* enctypes=18,17\n")
        .unwrap();
    let outcome = udp.wait(upcall, WAIT).expect("no downcall over UDP");
    world.check_context(&outcome, 0, Some(&format!("nfs@{}", local_host())));
    assert!(world.server.calls().iter().any(|c| c.udp));

    // knfsd's NFSv4.0 callback client: target= names the acceptor and
    // service=nfs restricts the keytab to nfs/ keys.
    let callback_info = ClientInfo {
        server: "127.0.0.1".to_string(),
        program_name: "nfs4_cb".to_string(),
        program: 0x4000_0000,
        version: 1,
        address: "127.0.0.1".to_string(),
        protocol: "tcp".to_string(),
        port: world.server.port(),
    };
    let callback = world.pipefs.add_client("nfsd4_cb", &callback_info).unwrap();
    callback.add_pipe("gssd").unwrap();
    assert!(callback.wait_reader("gssd", WAIT), "{}", world.logs());
    let upcall = callback
        .upcall(
            0,
            &format!("mech=krb5 uid=0 target=nfs@{SERVER} service=nfs enctypes=18,17\n"),
        )
        .unwrap();
    let outcome = callback.wait(upcall, WAIT).expect("no callback downcall");
    world.check_context(&outcome, 0, Some(&format!("nfs@{}", local_host())));
    let call = world.server.calls().pop().unwrap();
    assert_eq!((call.program, call.version), (0x4000_0000, 1));

    // srchost= replaces the local host name in the machine principal.
    let upcall = callback
        .upcall(
            0,
            &format!(
                "mech=krb5 uid=0 target=nfs@{SERVER} service=nfs srchost=callback.example.test enctypes=18,17\n"
            ),
        )
        .unwrap();
    let outcome = callback.wait(upcall, WAIT).expect("no srchost downcall");
    world.check_context(&outcome, 0, Some("nfs@callback.example.test"));

    // Other mechanisms and enctypes the krb5.conf does not permit fail.
    for (line, uid) in [
        ("mech=spkm3 uid=61001\n", 61001),
        ("mech=krb5 uid=0 service=* enctypes=1,3\n", 0),
    ] {
        let upcall = callback.upcall(uid, line).unwrap();
        assert_eq!(
            callback.wait(upcall, WAIT),
            error_outcome(errno::EACCES),
            "{line}"
        );
    }

    // The stand-in accepting with rgssd's acceptor directly.
    let direct_acceptor = Arc::new(Direct::new(&world.kdc));
    let acceptor: Arc<dyn Acceptor> = direct_acceptor.clone();
    let direct = RpcServer::start(acceptor).unwrap();
    let client = world.client(SERVER, direct.port());
    let upcall = client
        .upcall(0, "mech=krb5 uid=0 service=* enctypes=18,17\n")
        .unwrap();
    match client.wait(upcall, WAIT) {
        Some(Outcome::Context(downcall)) => {
            let DowncallBody::Context {
                handle, context, ..
            } = downcall.body
            else {
                unreachable!()
            };
            assert_eq!(handle, [0xd1, 0x2e]);
            prove_downcall_context(&context, &direct_acceptor.last());
        }
        other => panic!("expected a context, got {other:?}\n{}", world.logs()),
    }
    world.gssd.assert_alive();
}

#[test]
fn gssd_cancel_timed_out_upcall() {
    if !fuse_or_skip() {
        return;
    }
    let kdc = start_kdc();
    let dir = tempfile::tempdir().unwrap();
    let options = ["-C", "-U", "5", "-T", "30"];
    let (pipefs, mut gssd) = lone_gssd(&kdc, &kdc.krb5_conf(), &options, dir.path());
    let silent = RpcServer::start(Arc::new(Silent)).unwrap();
    let client = lone_client(&pipefs, silent.port());

    let started = Instant::now();
    assert_eq!(
        machine_upcall(&client),
        error_outcome(errno::ETIMEDOUT),
        "{}",
        gssd.log()
    );
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_secs(5), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
    gssd.assert_alive();

    // -t replaces the context lifetime in the downcall.
    let dir = tempfile::tempdir().unwrap();
    let (pipefs, _gssd) = lone_gssd(&kdc, &kdc.krb5_conf(), &["-t", "600"], dir.path());
    let direct_acceptor = Arc::new(Direct::new(&kdc));
    let acceptor: Arc<dyn Acceptor> = direct_acceptor.clone();
    let direct = RpcServer::start(acceptor).unwrap();
    let client = lone_client(&pipefs, direct.port());
    match machine_upcall(&client) {
        Some(Outcome::Context(downcall)) => {
            assert_eq!(downcall.timeout, 600);
            let DowncallBody::Context { context, .. } = downcall.body else {
                unreachable!()
            };
            prove_downcall_context(&context, &direct_acceptor.last());
        }
        other => panic!("expected a context, got {other:?}"),
    }
}

#[test]
fn gssd_persistent_keyring_cache() {
    if !fuse_or_skip() {
        return;
    }
    // Only this uid is looked up, so that no other persistent keyring is made.
    let uid = 61005;
    let world = World::start_with(&["default_ccache_name = KEYRING:persistent:%{uid}"]);
    let cache = format!("KEYRING:persistent:{uid}");
    let kinit = testkdc::find_program("kinit", "krb5-user").unwrap();
    let mut child = world
        .kdc
        .command(kinit)
        .args(["-c", &cache, &format!("alice@{REALM}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let output = child.wait_with_output().unwrap();
    if !output.status.success() {
        eprintln!(
            "skipped: kinit cannot make {cache} here: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }
    let client = world.client(SERVER, world.server.port());
    let upcall = client
        .upcall(uid, &format!("mech=krb5 uid={uid} enctypes=18,17\n"))
        .unwrap();
    let outcome = client.wait(upcall, WAIT);
    let kdestroy = testkdc::find_program("kdestroy", "krb5-user").unwrap();
    let _ = world.kdc.command(kdestroy).args(["-c", &cache]).output();
    world.check_context(&outcome.expect("no downcall"), uid, None);
}

#[test]
fn svcgssd_limits_context_to_server_enctypes() {
    if !fuse_or_skip() {
        return;
    }
    // The client prefers AES-SHA2, but the server's kernel has only
    // AES-SHA1, so svcgssd must pick an AES-SHA1 acceptor subkey from the
    // enctypes the initiator lists (RFC 4537).
    let permitted = "permitted_enctypes = aes256-cts-hmac-sha384-192 aes128-cts-hmac-sha256-128 aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96";
    let world = World::start_custom(REALM, &[permitted], &[18, 17]);
    let client = world.client(SERVER, world.server.port());
    let upcall = client
        .upcall(0, "mech=krb5 uid=0 service=* enctypes=20,19,18,17\n")
        .unwrap();
    let outcome = client.wait(upcall, WAIT).expect("no downcall");
    world.check_context(&outcome, 0, Some(&format!("nfs@{}", local_host())));
    let Some(Outcome::Context(downcall)) = Some(outcome) else {
        unreachable!()
    };
    let DowncallBody::Context { context, .. } = downcall.body else {
        unreachable!()
    };
    assert!([18, 17].contains(&context.enctype), "{context:?}");
    assert_eq!(context.flags & FLAG_ACCEPTOR_SUBKEY, FLAG_ACCEPTOR_SUBKEY);
    for write in world.procfs.context_writes() {
        assert!(write.result.is_ok(), "{write:?}");
    }
}

#[test]
fn daemons_restart_with_pending_work() {
    if !fuse_or_skip() {
        return;
    }
    let mut world = World::start();
    let client = world.client(SERVER, world.server.port());

    // svcgssd is down while the request arrives: the request waits in the
    // channel, and a new svcgssd reads it when it opens the channel.
    world.svcgssd.stop();
    assert!(world.procfs.wait_listener(false, WAIT));
    let upcall = client
        .upcall(0, "mech=krb5 uid=0 service=* enctypes=18,17\n")
        .unwrap();
    assert!(client.wait_read(upcall, WAIT));
    let log = world.dir.path().join("svcgssd-2.log");
    world.svcgssd = start_svcgssd(&world.kdc, &world.procfs, &log);
    let outcome = client.wait(upcall, WAIT).expect("no downcall");
    world.check_context(&outcome, 0, Some(&format!("nfs@{}", local_host())));

    // gssd is down while the upcall is queued: the new gssd reads it.
    world.gssd.stop();
    assert!(world.pipefs.wait_gssd_running(false, WAIT));
    let upcall = client
        .upcall(0, "mech=krb5 uid=0 service=* enctypes=18,17\n")
        .unwrap();
    let log = world.dir.path().join("gssd-2.log");
    world.gssd = start_gssd(&world.kdc, &world.pipefs, &world.ccdir(), &log);
    let outcome = client
        .wait(upcall, WAIT)
        .expect("no downcall after restart");
    world.check_context(&outcome, 0, Some(&format!("nfs@{}", local_host())));
}

#[test]
fn svcgssd_maps_local_user_ids() {
    if !fuse_or_skip() {
        return;
    }
    // A KDC for the realm that this host's idmapd.conf takes as local, so
    // that root@REALM maps to the local root account through nsswitch.
    let Some(realm) = local_realm() else {
        eprintln!("skipped: idmapd.conf maps no realm through nsswitch");
        return;
    };
    let world = World::start_custom(&realm, &[], &KERNEL_ENCTYPES);
    let uid = 61007;
    let cache = world.ccdir().join(format!("krb5cc_{uid}"));
    let name = format!("FILE:{}", cache.display());
    kinit_user(&world.kdc, "root", &name, "1h", &cache, uid);

    let client = world.client(SERVER, world.server.port());
    let outcome = user_upcall(&client, uid).expect("no downcall");
    world.check_context(&outcome, uid, None);
    let Outcome::Context(downcall) = outcome else {
        unreachable!()
    };
    let DowncallBody::Context { handle, .. } = downcall.body else {
        unreachable!()
    };
    let creds = world.procfs.context(&handle).unwrap().creds.unwrap();

    // The ids are those of the local root account, as id(1) reports them.
    let root = local_ids("root").expect("id(1) does not know root");
    assert_eq!((creds.uid, creds.gid), (root.uid, root.gid));
    let mut groups = creds.groups.clone();
    groups.sort_unstable();
    assert_eq!(groups, root.groups);
}

/// Returns the realm that this host's idmapd.conf takes as local, if its
/// principals map to local users through nsswitch.
fn local_realm() -> Option<String> {
    let mapper = rgssd::idmap::IdmapdMapper::from_system();
    let realm = mapper.local_realms().first().cloned()?;
    let nsswitch = mapper.methods().contains(&rgssd::idmap::Method::Nsswitch);
    (nsswitch && !realm.contains(' ')).then_some(realm)
}

/// A local account's ids.
#[derive(Debug, PartialEq, Eq)]
struct LocalIds {
    uid: i32,
    gid: i32,
    /// Sorted.
    groups: Vec<i32>,
}

impl LocalIds {
    /// The ids of a principal that maps to no local account.
    const UNMAPPED: LocalIds = LocalIds {
        uid: -1,
        gid: -1,
        groups: Vec::new(),
    };
}

/// Returns the ids of the local user `name` as id(1) reports them, or
/// `None` if there is no such user.
fn local_ids(name: &str) -> Option<LocalIds> {
    let id = |flag: &str| -> Option<Vec<i32>> {
        let output = Command::new("id").args([flag, name]).output().unwrap();
        if !output.status.success() {
            return None;
        }
        let mut ids: Vec<i32> = String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        ids.sort_unstable();
        Some(ids)
    };
    Some(LocalIds {
        uid: *id("-u")?.first()?,
        gid: *id("-g")?.first()?,
        groups: id("-G")?,
    })
}

/// Accepts with MIT's gss_accept_sec_context in the C peer, one peer per
/// INIT call, and signs the window with MIT's context as knfsd signs it
/// with its own. The peer of each established context keeps running, so
/// that the test can exchange tokens with MIT's context afterwards.
struct MitAcceptor {
    /// The peer's environment: the KDC's, with the server keytab.
    env: Vec<(String, OsString)>,
    contexts: Mutex<HashMap<Vec<u8>, Peer>>,
    next_handle: AtomicU32,
}

impl MitAcceptor {
    /// Accepts with the keys of the server keytab, and keeps MIT's replay
    /// cache in `rcache_dir`.
    fn new(kdc: &TestKdc, rcache_dir: &Path) -> Self {
        let keytab = kdc.keytab(&format!("nfs/{SERVER}")).unwrap();
        let mut env = kdc.env();
        env.push((
            "KRB5_KTNAME".to_string(),
            format!("FILE:{}", keytab.display()).into(),
        ));
        env.push(("KRB5RCACHEDIR".to_string(), rcache_dir.into()));
        MitAcceptor {
            env,
            contexts: Mutex::new(HashMap::new()),
            next_handle: AtomicU32::new(1),
        }
    }

    /// Takes MIT's end of the context with `handle`.
    fn take(&self, handle: &[u8]) -> MitEnd {
        let peer = self
            .contexts
            .lock()
            .unwrap()
            .remove(handle)
            .unwrap_or_else(|| panic!("MIT's acceptor has no context {}", hex::encode(handle)));
        MitEnd {
            name: "MIT's acceptor",
            peer,
        }
    }
}

/// Returns the major and minor status of the peer's line
/// "error STEP failed: major 0x... minor ...", or GSS_S_FAILURE.
fn failure_status(line: &str) -> (u32, u32) {
    let word_after = |tag: &str| {
        line.split_once(tag)
            .and_then(|(_, rest)| rest.split_whitespace().next())
    };
    let major = word_after(" major 0x")
        .and_then(|word| u32::from_str_radix(word, 16).ok())
        .filter(|major| *major != 0);
    let minor = word_after(" minor ").and_then(|word| word.parse().ok());
    (
        major.unwrap_or(krb5::gss::status::major::FAILURE),
        minor.unwrap_or(0),
    )
}

impl Acceptor for MitAcceptor {
    fn accept(&self, handle: &[u8], token: &[u8]) -> Option<Accepted> {
        // A krb5 context completes in one round trip, so every
        // CONTINUE_INIT names an unknown context.
        if !handle.is_empty() {
            return Some(Accepted {
                major: NO_CONTEXT,
                ..Accepted::default()
            });
        }
        let mut command = Command::new(Library::Mit.program());
        command
            .env_remove("KRB5_TRACE")
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .args(["accept", "commands-only"]);
        let mut peer = Peer::start(Library::Mit, command);
        peer.send(token);

        let mut line = peer.read_line();
        let mut output = Vec::new();
        if let Some(reply) = line.strip_prefix("token") {
            output = hex::decode(reply.trim()).unwrap();
            line = peer.read_line();
        }
        if line.starts_with("error ") {
            eprintln!("MIT's acceptor: {line}");
            let (major, minor) = failure_status(&line);
            peer.wait_failed();
            return Some(Accepted {
                major,
                minor,
                token: output,
                ..Accepted::default()
            });
        }
        assert!(
            line.starts_with("flags "),
            "MIT's acceptor printed {line:?}"
        );
        let verifier = peer_mic(&mut peer, &WINDOW.to_be_bytes());
        let number = self.next_handle.fetch_add(1, Ordering::Relaxed);
        let handle = format!("mit-{number}").into_bytes();
        self.contexts.lock().unwrap().insert(handle.clone(), peer);
        Some(Accepted {
            major: 0,
            minor: 0,
            handle,
            token: output,
            verifier: Some(verifier),
        })
    }
}

/// Checks a context downcall for an INIT that MIT's acceptor accepted,
/// and proves the downcall's context against MIT's.
fn check_mit_context(world: &World, mit: &MitAcceptor, outcome: &Outcome, uid: u32, enctype: i32) {
    let Outcome::Context(downcall) = outcome else {
        panic!(
            "uid {uid}, enctype {enctype}: expected a context, got {outcome:?}\n{}",
            world.logs()
        );
    };
    assert_eq!((downcall.uid, downcall.window), (uid, WINDOW));
    let DowncallBody::Context {
        handle,
        context,
        acceptor,
    } = &downcall.body
    else {
        unreachable!()
    };
    assert_eq!(acceptor.as_deref(), Some(&b"nfs@nfs.example.test\0"[..]));
    assert_eq!(context.enctype, enctype, "uid {uid}");
    // MIT's acceptor (1.20) asserts a subkey in every AP-REP.
    assert_eq!(
        context.flags,
        FLAG_INITIATOR | FLAG_CFX | FLAG_ACCEPTOR_SUBKEY,
        "uid {uid}, enctype {enctype}"
    );

    let mut initiator = KernelEnd::import("the downcall's context", context);
    let mut acceptor = mit.take(handle);
    exchange_tokens(&mut initiator, &mut acceptor);

    let exported = acceptor.finish();
    assert!(!exported.initiate);
    assert_eq!(exported.protocol, 1, "MIT's context uses RFC 1964 tokens");
    assert_eq!(exported.enctype, context.enctype);
    assert_eq!(exported.key, context.key, "uid {uid}, enctype {enctype}");
    assert!(exported.acceptor_subkey);
    assert_eq!(exported.endtime, context.endtime);
    // MIT counts the initiator's tokens from the downcall's first number.
    assert_eq!(exported.recv_seq, context.seq_send);
}

#[test]
fn gssd_with_mit_acceptor() {
    if !fuse_or_skip() {
        return;
    }
    let mut world = World::start();
    let mit = Arc::new(MitAcceptor::new(&world.kdc, world.dir.path()));
    let acceptor: Arc<dyn Acceptor> = mit.clone();
    let server = RpcServer::start(acceptor).unwrap();
    let file = world.ccdir().join("krb5cc_61001");
    let cache = format!("FILE:{}", file.display());
    kinit_as(&world.kdc, &cache, "1h", &file, 61001);
    let client = world.client(SERVER, server.port());

    // The machine credential from the keytab and a user's FILE cache, each
    // with an AES-SHA1 and an AES-SHA2 session key.
    for (uid, enctype) in [(0, 18), (0, 20), (61001, 18), (61001, 19)] {
        let line = if uid == 0 {
            format!("mech=krb5 uid=0 service=* enctypes={enctype}\n")
        } else {
            format!("mech=krb5 uid={uid} enctypes={enctype}\n")
        };
        let upcall = client.upcall(uid, &line).unwrap();
        let outcome = client
            .wait(upcall, WAIT)
            .unwrap_or_else(|| panic!("no downcall for {line:?}\n{}", world.logs()));
        check_mit_context(&world, &mit, &outcome, uid, enctype);
    }

    // MIT's acceptor has no key for another service, and gssd passes its
    // failure on.
    let other = world.client("other.example.test", server.port());
    assert_eq!(user_upcall(&other, 61001), error_outcome(errno::EACCES));
    let calls = server.calls();
    assert_eq!(calls.len(), 5);
    assert!(calls.iter().all(|call| call.rejected.is_none()));
    world.gssd.assert_alive();
}

#[test]
fn svcgssd_with_mit_initiator() {
    if !fuse_or_skip() {
        return;
    }
    // In the realm that idmapd.conf takes as local, root@REALM maps to the
    // local root account. Elsewhere no principal maps, but the contexts
    // are still checked.
    let local = local_realm();
    if local.is_none() {
        eprintln!("idmapd.conf maps no realm through nsswitch; no principal will map");
    }
    let realm = local.clone().unwrap_or_else(|| REALM.to_string());
    let world = World::start_custom(&realm, &[], &KERNEL_ENCTYPES);

    for (user, enctype) in [("root", 18), ("root", 20), ("alice", 19)] {
        let case = format!("{user} with enctype {enctype}");
        let cache = world.dir.path().join(format!("mit-{user}-{enctype}"));
        let cache_name = format!("FILE:{}", cache.display());
        kinit_user(&world.kdc, user, &cache_name, "1h", &cache, 0);
        let mut command = world.kdc.command(Library::Mit.program());
        command.env("KRB5CCNAME", &cache_name).args([
            "init",
            &format!("nfs@{SERVER}"),
            &format!("enctypes={enctype}"),
            "commands-only",
        ]);
        let mut peer = Peer::start(Library::Mit, command);

        // The server's INIT path: the token goes to svcgssd through the
        // init channel, and its reply token back to MIT.
        let token = peer.expect_hex("token");
        let id = world.procfs.request(&[], &token);
        let reply = world
            .procfs
            .wait_reply(id, WAIT)
            .unwrap_or_else(|| panic!("{case}: no init reply\n{}", world.logs()));
        assert_eq!(
            (reply.major, reply.minor),
            (0, 0),
            "{case}\n{}",
            world.logs()
        );
        assert!(!reply.out_token.is_empty(), "{case}: no AP-REP");
        peer.send(&reply.out_token);
        // gss_init_sec_context reported GSS_S_COMPLETE.
        peer.expect("flags");

        let entry = world
            .procfs
            .context(&reply.out_handle)
            .unwrap_or_else(|| panic!("{case}: no context record\n{}", world.logs()));
        let creds = entry.creds.expect("a positive context entry");
        // svcgssd names only host-based principals to the kernel.
        assert_eq!(creds.principal, None, "{case}");
        let expected = match &local {
            Some(_) => local_ids(user).unwrap_or(LocalIds::UNMAPPED),
            None => LocalIds::UNMAPPED,
        };
        let mut groups = creds.groups.clone();
        groups.sort_unstable();
        let ids = LocalIds {
            uid: creds.uid,
            gid: creds.gid,
            groups,
        };
        assert_eq!(ids, expected, "{case}");
        let server = &creds.context;
        assert_eq!(server.enctype, enctype, "{case}");
        assert_eq!(server.flags, FLAG_CFX | FLAG_ACCEPTOR_SUBKEY, "{case}");
        assert_eq!(entry.expiry, i64::from(server.endtime));

        let mut acceptor = KernelEnd::import("svcgssd's context", server);
        let mut initiator = MitEnd {
            name: "MIT's initiator",
            peer,
        };
        // knfsd's INIT reply carries the window signed with the new context.
        let window = acceptor.get_mic(&WINDOW.to_be_bytes());
        assert_eq!(
            initiator.verify_mic(&WINDOW.to_be_bytes(), &window),
            Ok(()),
            "{case}: the window's MIC"
        );
        exchange_tokens(&mut initiator, &mut acceptor);

        let exported = initiator.finish();
        assert!(exported.initiate);
        assert_eq!(exported.enctype, server.enctype, "{case}");
        assert_eq!(exported.key, server.key, "{case}");
        assert!(exported.acceptor_subkey, "{case}");
        assert_eq!(exported.endtime, server.endtime, "{case}");
        // MIT counts svcgssd's tokens from the context record's first number.
        assert_eq!(exported.recv_seq, server.seq_send, "{case}");
    }
}

/// Runs MIT's klist as `uid` on `cache` and returns its output.
fn klist_as(kdc: &TestKdc, uid: u32, cache: &str) -> String {
    let klist = testkdc::find_program("klist", "krb5-user").unwrap();
    let output = kdc
        .command("setpriv")
        .args(["--reuid", &uid.to_string(), "--regid", &uid.to_string()])
        .arg("--clear-groups")
        .arg(klist)
        .args(["-e", "-c", cache])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "klist as uid {uid}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Gets the nfs service ticket into `cache` with MIT's kvno, as root.
fn kvno_into(kdc: &TestKdc, cache: &str) {
    let kvno = testkdc::find_program("kvno", "krb5-user").unwrap();
    let output = kdc
        .command(kvno)
        .args(["-c", cache, &format!("nfs/{SERVER}@{REALM}")])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "kvno: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Returns the cache's ticket for the nfs server.
fn nfs_ticket(cache: &str) -> krb5::credentials::Credential {
    let service = krb5::Principal::host_service("nfs", SERVER, REALM);
    krb5::ccache::resolve(cache)
        .unwrap()
        .retrieve(&service, None)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn gssd_user_cache_service_tickets() {
    if !fuse_or_skip() {
        return;
    }
    if testkdc::find_program("setpriv", "util-linux").is_err() {
        eprintln!("skipped: setpriv (util-linux) is not installed");
        return;
    }
    let world = World::start();
    let ccdir = world.ccdir();
    let client = world.client(SERVER, world.server.port());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;

    // A cache with only a TGT: after the upcall, MIT's klist run as the
    // user lists the nfs ticket that gssd stored, with a kernel enctype.
    let uid = 61011;
    let path = ccdir.join(format!("krb5cc_{uid}"));
    let cache = format!("FILE:{}", path.display());
    kinit_as(&world.kdc, &cache, "1h", &path, uid);
    let outcome = user_upcall(&client, uid).expect("no downcall");
    world.check_context(&outcome, uid, None);
    let listed = klist_as(&world.kdc, uid, &cache);
    assert!(
        listed.contains(&format!("nfs/{SERVER}@{REALM}")),
        "{listed}\n{}",
        world.logs()
    );
    assert!([18, 17].contains(&nfs_ticket(&cache).session_key.enctype()));
    assert_eq!(fs::metadata(&path).unwrap().uid(), uid);

    // A cache with only the nfs ticket, from MIT's kvno with the TGT
    // removed afterwards: gssd uses it without a TGS exchange.
    let uid = 61012;
    let path = ccdir.join(format!("krb5cc_{uid}"));
    let cache = format!("FILE:{}", path.display());
    kinit_as(&world.kdc, &cache, "1h", &path, uid);
    kvno_into(&world.kdc, &cache);
    let tgt = krb5::Principal::krbtgt(REALM, REALM);
    assert_eq!(
        krb5::ccache::resolve(&cache).unwrap().remove(&tgt).unwrap(),
        1
    );
    chown_tree(&path, uid);
    let stored = nfs_ticket(&cache);
    let outcome = user_upcall(&client, uid).expect("no downcall");
    world.check_context(&outcome, uid, None);
    let Outcome::Context(downcall) = &outcome else {
        unreachable!()
    };
    let DowncallBody::Context { context, .. } = &downcall.body else {
        unreachable!()
    };
    assert_eq!(i64::from(context.endtime), i64::from(stored.endtime));

    // MIT's `kvno -S` requests the host-based name with the referral
    // (empty) realm when krb5.conf maps no domain to a realm, and stores
    // the ticket under that name. gssd uses that entry too.
    let uid = 61015;
    let path = ccdir.join(format!("krb5cc_{uid}"));
    let cache = format!("FILE:{}", path.display());
    kinit_as(&world.kdc, &cache, "1h", &path, uid);
    let kvno = testkdc::find_program("kvno", "krb5-user").unwrap();
    let output = world
        .kdc
        .command(kvno)
        .args(["-c", &cache, "-S", "nfs", SERVER])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "kvno -S: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        krb5::ccache::resolve(&cache).unwrap().remove(&tgt).unwrap(),
        1
    );
    chown_tree(&path, uid);
    let servers: Vec<String> = krb5::ccache::resolve(&cache)
        .unwrap()
        .credentials()
        .unwrap()
        .iter()
        .map(|c| c.server.to_string())
        .collect();
    assert_eq!(servers, [format!("nfs/{SERVER}@")]);
    let outcome = user_upcall(&client, uid).expect("no downcall");
    world.check_context(&outcome, uid, None);

    // Cache entries that must not be used: one expired, one whose session
    // key enctype the kernel did not offer. gssd gets a new ticket and
    // stores it in place of the old entry.
    type Spoil = fn(&mut krb5::credentials::Credential, u32);
    let spoiled: [(u32, &str, Spoil); 2] = [
        (61013, "expired", |ticket, now| ticket.endtime = now - 60),
        (61014, "enctype 20", |ticket, _| {
            ticket.session_key =
                krb5::crypto::Key::from_raw(20, ticket.session_key.bytes().to_vec());
        }),
    ];
    for (uid, case, spoil) in spoiled {
        let path = ccdir.join(format!("krb5cc_{uid}"));
        let cache = format!("FILE:{}", path.display());
        kinit_as(&world.kdc, &cache, "1h", &path, uid);
        kvno_into(&world.kdc, &cache);
        let mut ticket = nfs_ticket(&cache);
        spoil(&mut ticket, now);
        krb5::ccache::resolve(&cache)
            .unwrap()
            .store(&ticket)
            .unwrap();
        chown_tree(&path, uid);

        let outcome = user_upcall(&client, uid).expect("no downcall");
        world.check_context(&outcome, uid, None);
        let renewed = nfs_ticket(&cache);
        assert!(renewed.endtime > now + 600, "{case}: {}", renewed.endtime);
        let enctype = renewed.session_key.enctype();
        assert!([18, 17].contains(&enctype), "{case}: enctype {enctype}");
        assert_ne!(renewed.ticket, ticket.ticket, "{case}");
    }
}

#[test]
fn svcgssd_sigterm_answers_request_in_flight() {
    if !fuse_or_skip() {
        return;
    }
    let mut world = World::start();
    let client = world.client(SERVER, world.server.port());

    // svcgssd has read the request and waits to install the context when
    // SIGTERM arrives.
    world.procfs.hold_context_writes();
    let upcall = client
        .upcall(0, "mech=krb5 uid=0 service=* enctypes=18,17\n")
        .unwrap();
    let held = world.procfs.wait_held_context_write(WAIT);
    if !held {
        world.procfs.release_context_writes();
    }
    assert!(held, "no context write:\n{}", world.logs());
    let pid = nix::unistd::Pid::from_raw(world.svcgssd.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + WAIT;
    while !world.svcgssd.log().contains("SIGTERM: stopping") {
        assert!(Instant::now() < deadline, "{}", world.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    world.procfs.release_context_writes();

    // The context and the reply still reach the kernel, and the daemon
    // then exits with status 0.
    let outcome = client.wait(upcall, WAIT).expect("no downcall");
    world.check_context(&outcome, 0, Some(&format!("nfs@{}", local_host())));
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = world.svcgssd.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "{}", world.logs());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}:\n{}", world.logs());
    let log = world.svcgssd.log();
    assert!(!log.contains("still in progress"), "{log}");
    assert!(world.procfs.wait_listener(false, WAIT));
}
