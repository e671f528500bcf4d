//! The static binary in an empty root. The tests chroot(8) into a directory
//! that contains only the binary and the files it reads (hosts,
//! resolv.conf, passwd, group, krb5.conf, idmapd.conf and a keytab), with
//! no libc, no NSS module and no /proc. There the binary lists the keytab,
//! looks up users and groups and gets tickets from an MIT KDC on 127.0.0.1
//! outside the root, and svcgssd maps a client to its uid and groups.
//!
//! The binary is the one `RGSSD_STATIC_BINARY` names, which `.ci/run` sets
//! after its static release build. The test needs root for chroot(2) and
//! is skipped, with a message, without either.

mod common;

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::ScratchDir;
use krb5::gss::initiator::{init_sec_context, InitStep, InitiatorOptions, RPCSEC_GSS_FLAGS};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use testkdc::{PrincipalSpec, TestKdc, TestKdcOptions};

const REALM: &str = "STATIC.TEST";
const SERVICE: &str = "nfs/nfs-server.static.test";
const ALICE_UID: u32 = 1234;
const STAFF_GID: u32 = 4321;

/// Returns the static binary, or `None` after saying why the test is skipped.
fn static_binary() -> Option<PathBuf> {
    let Some(binary) = std::env::var_os("RGSSD_STATIC_BINARY") else {
        eprintln!(
            "skipped: RGSSD_STATIC_BINARY is not set; build with \
             'cargo build --release --target x86_64-unknown-linux-musl' and set it to the binary"
        );
        return None;
    };
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: chroot(2) needs root");
        return None;
    }
    Some(PathBuf::from(binary))
}

/// An empty root with the binary at `/rgssd` and the files it reads.
struct Root {
    dir: ScratchDir,
    chroot: PathBuf,
}

impl Root {
    fn new(test: &str, binary: &Path, kdc: &TestKdc) -> Self {
        let dir = ScratchDir::new(test);
        std::fs::copy(binary, dir.path().join("rgssd")).unwrap();
        std::fs::create_dir(dir.path().join("tmp")).unwrap();

        dir.write(
            "etc/hosts",
            "127.0.0.1 localhost\n127.0.1.1 nfs-server.static.test nfs-server\n",
        );
        // No lookup may reach a name server; 127.0.0.1 keeps a stray one local.
        dir.write("etc/resolv.conf", "nameserver 127.0.0.1\n");
        dir.write(
            "etc/passwd",
            format!(
                "root:x:0:0:root:/root:/bin/sh\nalice:x:{ALICE_UID}:{ALICE_UID}::/home/alice:/bin/sh\n"
            ),
        );
        dir.write(
            "etc/group",
            format!("root:x:0:\nalice:x:{ALICE_UID}:\nstaff:x:{STAFF_GID}:alice\n"),
        );
        dir.write(
            "etc/idmapd.conf",
            format!("[General]\nDomain = static.test\nLocal-Realms = {REALM}\n"),
        );
        dir.write("etc/krb5.conf", std::fs::read(kdc.krb5_conf()).unwrap());
        dir.write(
            "etc/krb5.keytab",
            std::fs::read(kdc.keytab(SERVICE).unwrap()).unwrap(),
        );

        let chroot = testkdc::find_program("chroot", "coreutils").unwrap();
        Root { dir, chroot }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Builds a command that runs `/rgssd ARGS` inside the root, with an environment
    /// that names only files inside it.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.chroot);
        command
            .arg(self.path())
            .arg("/rgssd")
            .args(args)
            .env_clear()
            .env("KRB5CCNAME", "FILE:/tmp/krb5cc_test")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str], stdin: &str) -> Output {
        testkdc::output_with_stdin(&mut self.command(args), stdin.as_bytes()).unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_success(step: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{step}: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// Starts the KDC and builds the root for `test`, or returns `None` when
/// the test is skipped. The KDC must outlive the root's commands.
fn start(test: &str) -> Option<(TestKdc, Root)> {
    let binary = static_binary()?;
    let kdc = TestKdc::start(
        TestKdcOptions::new(REALM)
            .user("root", "root-password")
            .user("alice", "alice-password")
            .principal(PrincipalSpec::service(SERVICE)),
    )
    .unwrap();
    let root = Root::new(test, &binary, &kdc);
    Some((kdc, root))
}

#[test]
fn static_binary_works_in_empty_root() {
    let Some((_kdc, root)) = start("static-tools") else {
        return;
    };

    let output = root.run(&["klist", "-k", "/etc/krb5.keytab"], "");
    assert_success("klist -k", &output);
    let listing = text(&output.stdout);
    assert!(listing.contains(&format!("{SERVICE}@{REALM}")), "{listing}");

    // Without a principal kinit takes uid 0's login name from /etc/passwd.
    let output = root.run(&["kinit"], "root-password\n");
    assert_success("kinit as root", &output);
    let output = root.run(&["klist"], "");
    assert_success("klist", &output);
    let listing = text(&output.stdout);
    assert!(
        listing.contains(&format!("Default principal: root@{REALM}")),
        "{listing}"
    );
    assert!(
        listing.contains(&format!("krbtgt/{REALM}@{REALM}")),
        "{listing}"
    );

    let output = root.run(&["kvno", SERVICE], "");
    assert_success("kvno", &output);
    assert_eq!(
        text(&output.stdout),
        format!("{SERVICE}@{REALM}: kvno = 1\n")
    );
}

/// Reads what a writer puts into the FIFO at `path` until a newline, or
/// fails after `timeout`.
fn read_line_from_fifo(path: &Path, timeout: Duration) -> Result<String, String> {
    let mut fifo = OpenOptions::new()
        .read(true)
        .custom_flags(OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(|e| format!("opening {}: {e}", path.display()))?;
    let deadline = Instant::now() + timeout;
    let mut line = Vec::new();
    let mut buffer = [0u8; 4096];
    while !line.ends_with(b"\n") {
        if Instant::now() > deadline {
            return Err(format!(
                "no line in {} after {timeout:?}; got {:?}",
                path.display(),
                text(&line)
            ));
        }
        match fifo.read(&mut buffer) {
            Ok(0) => std::thread::sleep(Duration::from_millis(50)),
            Ok(n) => line.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        }
    }
    Ok(text(&line))
}

/// Opens the FIFO at `path` for writing once a reader has it open, or
/// fails after `timeout` (the daemon may have exited).
fn open_fifo_for_writing(path: &Path, timeout: Duration) -> Result<std::fs::File, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match OpenOptions::new()
            .write(true)
            .custom_flags(OFlag::O_NONBLOCK.bits())
            .open(path)
        {
            Ok(file) => return Ok(file),
            Err(e) if Instant::now() > deadline => {
                return Err(format!("opening {}: {e}", path.display()))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Stops the daemon this test started, on every exit path.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Daemon {
    fn stop_and_collect_log(mut self) -> String {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let mut log = String::new();
        if let Some(mut stderr) = self.0.stderr.take() {
            let _ = stderr.read_to_string(&mut log);
        }
        log
    }
}

/// svcgssd in the empty root accepts alice's AP-REQ and writes a context
/// with the uid and groups from the root's /etc/passwd and /etc/group. FIFOs
/// take the place of the kernel's cache channels. The test writes the
/// request line and reads the context record, but does not check the reply
/// that the daemon writes back to the init FIFO.
#[test]
fn static_svcgssd_maps_user_in_empty_root() {
    let Some((_kdc, root)) = start("static-svcgssd") else {
        return;
    };

    let cache = "FILE:/tmp/krb5cc_alice";
    let output = root.run(&["kinit", "-c", cache, "alice"], "alice-password\n");
    assert_success("kinit alice", &output);
    let output = root.run(&["kvno", "-c", cache, SERVICE], "");
    assert_success("kvno for alice", &output);

    let cache_path = root.path().join("tmp/krb5cc_alice");
    let cache = krb5::ccache::resolve(&format!("FILE:{}", cache_path.display())).unwrap();
    let ticket = cache
        .entries()
        .unwrap()
        .into_iter()
        .find(|credential| credential.server.to_string() == format!("{SERVICE}@{REALM}"))
        .expect("kvno stored the service ticket");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let options = InitiatorOptions {
        flags: RPCSEC_GSS_FLAGS,
        enctypes: &[],
        now: (now.as_secs() as i64, now.subsec_micros()),
        channel_bindings: None,
    };
    let token = match init_sec_context(&ticket, &options).unwrap() {
        InitStep::ContinueNeeded(_, token) | InitStep::Complete(_, token) => token,
    };

    for channel in ["auth.rpcsec.init", "auth.rpcsec.context"] {
        let dir = root.path().join("rpc").join(channel);
        std::fs::create_dir_all(&dir).unwrap();
        nix::unistd::mkfifo(&dir.join("channel"), Mode::from_bits_truncate(0o600)).unwrap();
    }
    let daemon = Daemon(
        root.command(&[
            "svcgssd",
            "-f",
            "-vv",
            "-p",
            &format!("{SERVICE}@{REALM}"),
            "--proc-dir",
            "/rpc",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );

    let context_channel = root.path().join("rpc/auth.rpcsec.context/channel");
    let reader =
        std::thread::spawn(move || read_line_from_fifo(&context_channel, Duration::from_secs(20)));

    // One request line: an empty handle and the token, hex-encoded. It is
    // shorter than PIPE_BUF, so the daemon reads it in one piece.
    let request = format!("\\x \\x{}\n", hex::encode(&token));
    assert!(request.len() < 4096);
    let init_channel = root.path().join("rpc/auth.rpcsec.init/channel");
    let written =
        open_fifo_for_writing(&init_channel, Duration::from_secs(20)).and_then(|mut fifo| {
            fifo.write_all(request.as_bytes())
                .map_err(|e| format!("writing the request: {e}"))
        });
    let record = reader.join().unwrap();
    let log = daemon.stop_and_collect_log();
    written.unwrap_or_else(|e| panic!("{e}\ndaemon log:\n{log}"));
    let record = record.unwrap_or_else(|e| panic!("{e}\ndaemon log:\n{log}"));

    // handle expiry uid gid ngroups gid... mech context
    let fields: Vec<&str> = record.split_whitespace().collect();
    assert!(fields.len() >= 8, "{record}");
    assert_eq!(fields[2], ALICE_UID.to_string(), "uid in {record}");
    assert_eq!(fields[3], ALICE_UID.to_string(), "gid in {record}");
    let count: usize = fields[4].parse().unwrap();
    let groups = &fields[5..5 + count];
    assert!(
        groups.contains(&STAFF_GID.to_string().as_str()),
        "groups {groups:?} in {record}"
    );
    assert_eq!(fields[5 + count], "krb5", "mechanism in {record}");
}
