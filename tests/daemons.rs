//! The daemons as processes: the `rgssd` binary is started and signalled.
//! For gssd, a directory stands in for rpc_pipefs with a FIFO as a
//! client's `gssd` pipe. The NFS server is a TCP listener on 127.0.0.1 that
//! accepts and never replies, so an upcall stays in progress until the
//! creation call times out, and its connection shows that the daemon got
//! that far.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use testkdc::{PrincipalSpec, TestKdc, TestKdcOptions};

mod common;

use common::ScratchDir;

const REALM: &str = "EXAMPLE.TEST";

/// A daemon started by a test; killed when dropped.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        kill(pid, signal).unwrap();
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `text`, or panics with the log.
    fn wait_for_log(&self, text: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} in the log within {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the exit, or panics with the log.
    fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Starts `rgssd TOOL ARGS` in the KDC's environment, with `krb5_conf`
/// as KRB5_CONFIG when given.
fn start(kdc: &TestKdc, tool: &str, args: &[&str], dir: &Path, krb5_conf: Option<&Path>) -> Daemon {
    let log = dir.join(format!("{tool}.log"));
    let mut command = kdc.command(env!("CARGO_BIN_EXE_rgssd"));
    if let Some(conf) = krb5_conf {
        command.env("KRB5_CONFIG", conf);
    }
    let child = command
        .arg(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Daemon { child, log }
}

/// Creates `pipefs/nfs/clnt0` with an `info` file naming `port` and a FIFO
/// as its `gssd` pipe, and returns the pipe opened for reading and writing.
fn fake_client(pipefs: &Path, port: u16) -> File {
    let client = pipefs.join("nfs/clnt0");
    fs::create_dir_all(&client).unwrap();
    fs::write(
        client.join("info"),
        format!(
            "RPC server: server.example.test\nservice: nfs (100003) version 4\n\
             address: 127.0.0.1\nprotocol: tcp\nport: {port}\n"
        ),
    )
    .unwrap();
    let pipe = client.join("gssd");
    nix::unistd::mkfifo(&pipe, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(&pipe)
        .unwrap()
}

fn start_kdc() -> TestKdc {
    TestKdc::start(
        TestKdcOptions::new(REALM)
            .principal(PrincipalSpec::service("nfs/client.example.test").with_keytab("machine"))
            .service("nfs/server.example.test")
            .user("alice", "alice-pw"),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Accepts the creation call's connection, or panics with the log after
/// 15 s.
fn accept_within(listener: &TcpListener, daemon: &Daemon) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match listener.accept() {
            Ok((stream, _)) => return stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "no creation call:\n{}",
                    daemon.log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// A running gssd with a fake client whose server never replies.
struct Gssd {
    daemon: Daemon,
    pipe: File,
    server: TcpListener,
    ccdir: PathBuf,
}

/// Starts gssd with machine credentials from the KDC and the creation
/// timeout `rpc_timeout`, and waits until it serves the fake client.
fn start_gssd(
    kdc: &TestKdc,
    tmp: &ScratchDir,
    rpc_timeout: &str,
    krb5_conf: Option<&Path>,
) -> Gssd {
    let pipefs = tmp.0.join("pipefs");
    let ccdir = tmp.0.join("ccache");
    fs::create_dir_all(&ccdir).unwrap();
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let pipe = fake_client(&pipefs, server.local_addr().unwrap().port());
    let keytab = kdc.keytab("nfs/client.example.test").unwrap().to_owned();
    let args = [
        "-f",
        "-vv",
        "-p",
        pipefs.to_str().unwrap(),
        "-k",
        keytab.to_str().unwrap(),
        "-d",
        ccdir.to_str().unwrap(),
        "-T",
        rpc_timeout,
    ];
    let daemon = start(kdc, "gssd", &args, &tmp.0, krb5_conf);
    daemon.wait_for_log("serving upcalls on", Duration::from_secs(10));
    Gssd {
        daemon,
        pipe,
        server,
        ccdir,
    }
}

#[test]
fn gssd_sigterm_waits_for_upcall() {
    let kdc = start_kdc();
    let tmp = ScratchDir::new("gssd-signals");
    let Gssd {
        mut daemon,
        mut pipe,
        server: silent_server,
        ccdir,
    } = start_gssd(&kdc, &tmp, "2", None);

    // SIGHUP reloads the settings and rescans; the daemon keeps serving.
    daemon.signal(Signal::SIGHUP);
    daemon.wait_for_log("rescanning", Duration::from_secs(10));

    pipe.write_all(b"mech=krb5 uid=0 service=* enctypes=18,17\n")
        .unwrap();
    // The creation call waits on the silent server once the machine TGT is
    // in its cache file.
    let machine_cache = ccdir.join(format!("krb5ccmachine_{REALM}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !machine_cache.exists() {
        assert!(
            Instant::now() < deadline,
            "no machine cache:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let connection = accept_within(&silent_server, &daemon);

    let stopped = Instant::now();
    daemon.signal(Signal::SIGTERM);
    // The daemon waits 25 s for the creation reply, longer than its 5 s
    // for upcalls at a stop, so the server ends the call by closing.
    std::thread::sleep(Duration::from_secs(1));
    drop(connection);
    let status = daemon.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}:\n{}", daemon.log());
    // The upcall in progress ended before the exit, and its error downcall
    // reached the pipe.
    assert!(
        stopped.elapsed() >= Duration::from_secs(1),
        "{}",
        daemon.log()
    );
    let mut downcall = [0u8; 64];
    let n = pipe
        .read(&mut downcall)
        .unwrap_or_else(|e| panic!("no downcall ({e}):\n{}", daemon.log()));
    assert_eq!(&downcall[..4], &0u32.to_ne_bytes(), "{:?}", &downcall[..n]);
    assert!(!machine_cache.exists(), "{}", daemon.log());
    let log = daemon.log();
    assert!(log.contains("SIGTERM: stopping"), "{log}");
    assert!(log.contains("removed 1 machine credential caches"), "{log}");
}

#[test]
fn gssd_second_sigterm_exits_at_once() {
    let kdc = start_kdc();
    let tmp = ScratchDir::new("gssd-signals2");
    let Gssd {
        mut daemon,
        mut pipe,
        server: silent_server,
        ..
    } = start_gssd(&kdc, &tmp, "30", None);
    pipe.write_all(b"mech=krb5 uid=0 service=* enctypes=18,17\n")
        .unwrap();
    let _connection = accept_within(&silent_server, &daemon);

    daemon.signal(Signal::SIGTERM);
    daemon.wait_for_log("waiting up to", Duration::from_secs(5));
    let stopped = Instant::now();
    daemon.signal(Signal::SIGTERM);
    let status = daemon.wait_exit(Duration::from_secs(5));
    assert!(status.success(), "{status}:\n{}", daemon.log());
    assert!(
        stopped.elapsed() < Duration::from_secs(3),
        "{}",
        daemon.log()
    );
    assert!(daemon.log().contains("second signal"), "{}", daemon.log());
}

#[test]
fn svcgssd_sighup_and_sigterm() {
    let kdc = start_kdc();
    let tmp = ScratchDir::new("svcgssd-signals");
    let proc_dir = tmp.0.join("rpc");
    for channel in ["auth.rpcsec.init", "auth.rpcsec.context"] {
        fs::create_dir_all(proc_dir.join(channel)).unwrap();
        let mode = nix::sys::stat::Mode::from_bits_truncate(0o600);
        nix::unistd::mkfifo(&proc_dir.join(channel).join("channel"), mode).unwrap();
    }
    let keytab = tmp.0.join("nfs.keytab");
    fs::copy(kdc.keytab("nfs/server.example.test").unwrap(), &keytab).unwrap();

    let mut command = kdc.command(env!("CARGO_BIN_EXE_rgssd"));
    let log = tmp.0.join("svcgssd.log");
    command
        .args(["svcgssd", "-f", "-v", "-n", "--proc-dir"])
        .arg(&proc_dir)
        .env("KRB5_KTNAME", &keytab)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log).unwrap());
    let mut daemon = Daemon {
        child: command.spawn().unwrap(),
        log,
    };
    daemon.wait_for_log("listening on", Duration::from_secs(10));

    // A reload reads the keytab again: without it the old settings stay.
    fs::remove_file(&keytab).unwrap();
    daemon.signal(Signal::SIGHUP);
    daemon.wait_for_log(
        "reload failed, keeping the old settings",
        Duration::from_secs(10),
    );
    fs::copy(kdc.keytab("nfs/server.example.test").unwrap(), &keytab).unwrap();
    daemon.signal(Signal::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while daemon
        .log()
        .matches("accepting contexts for any principal")
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "no reload:\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(20));
    }

    daemon.signal(Signal::SIGTERM);
    let status = daemon.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}:\n{}", daemon.log());
    assert!(
        daemon.log().contains("SIGTERM: stopping"),
        "{}",
        daemon.log()
    );
}

#[test]
fn gssd_reads_user_cache_as_user() {
    let usable = nix::unistd::geteuid().is_root()
        && Command::new("sh")
            .args(["-c", "command -v setpriv"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !usable {
        eprintln!("skipping: needs root and setpriv (util-linux)");
        return;
    }
    let kdc = start_kdc();
    let tmp = ScratchDir::new("gssd-user");
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let mut uid = 3_300_000 + std::process::id() % 50_000;
    while passwd.contains(&format!(":{uid}:")) {
        uid += 1;
    }
    let home = tmp.0.join(uid.to_string());
    fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(uid), Some(uid)).unwrap();
    let conf = tmp.0.join("krb5.conf");
    let text = fs::read_to_string(kdc.krb5_conf()).unwrap().replacen(
        "[libdefaults]\n",
        &format!(
            "[libdefaults]\n default_ccache_name = FILE:{}/%{{uid}}/krb5cc\n",
            tmp.0.display()
        ),
        1,
    );
    fs::write(&conf, text).unwrap();

    // The user's own kinit fills the cache that the daemon reads as the user.
    let mut kinit = Command::new("setpriv")
        .args(["--reuid", &uid.to_string(), "--regid", &uid.to_string()])
        .args(["--clear-groups", "kinit", "alice"])
        .env("KRB5_CONFIG", &conf)
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    kinit
        .stdin
        .take()
        .unwrap()
        .write_all(b"alice-pw\n")
        .unwrap();
    assert!(kinit.wait().unwrap().success());

    let Gssd {
        mut daemon,
        mut pipe,
        server,
        ..
    } = start_gssd(&kdc, &tmp, "2", Some(&conf));
    pipe.write_all(format!("mech=krb5 uid={uid} enctypes=18,17\n").as_bytes())
        .unwrap();
    // A creation call means the daemon found alice's TGT and the KDC
    // gave a ticket for the server.
    let _connection = accept_within(&server, &daemon);
    daemon.signal(Signal::SIGTERM);
    assert!(daemon.wait_exit(Duration::from_secs(10)).success());
    let log = daemon.log();
    assert!(log.contains(&format!("upcall for uid {uid}")), "{log}");
}
