//! Port lookups against Debian's rpcbind. The daemon runs in a private
//! network and mount namespace (`unshare`, which needs root) with its own
//! /run. So it neither takes port 111 of this machine nor touches the
//! machine's rpcbind state. The test thread joins that network namespace
//! with setns(2). rpcbind runs with `-i` so that the test may register
//! programs over loopback UDP. A test skips itself, with a message, when
//! rpcbind or the namespaces are unavailable.

use std::fs::File;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use rgssd::rpc::rpcbind::{self, Mapping, RpcbindError};
use rgssd::rpc::transport::Protocol;

/// rpcbind started by the test; killed when dropped.
struct Rpcbind {
    child: Child,
}

impl Drop for Rpcbind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_rpcbind() -> Option<Rpcbind> {
    if !std::path::Path::new("/usr/sbin/rpcbind").exists() {
        eprintln!("skipping: rpcbind (/usr/sbin/rpcbind) is not installed");
        return None;
    }
    let script = "mount -t tmpfs none /run && ip link set lo up && exec /usr/sbin/rpcbind -f -i";
    let child = match Command::new("unshare")
        .args(["--net", "--mount", "--propagation", "private"])
        .args(["sh", "-c", script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("skipping: cannot run unshare: {e}");
            return None;
        }
    };
    let mut daemon = Rpcbind { child };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if daemon.child.try_wait().ok().flatten().is_some() {
            eprintln!("skipping: rpcbind did not start in private namespaces");
            return None;
        }
        // rpcbind lists itself once it serves.
        let listed = Command::new("nsenter")
            .args(["-t", &daemon.child.id().to_string(), "-n"])
            .args(["rpcinfo", "-p", "127.0.0.1"])
            .stderr(Stdio::null())
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).contains("portmapper"))
            .unwrap_or(false);
        if listed {
            return Some(daemon);
        }
        if Instant::now() > deadline {
            eprintln!("skipping: rpcbind did not answer within 10 s");
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `body` on a thread that has joined the network namespace of `pid`.
fn in_netns<T: Send + 'static>(pid: u32, body: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        let ns = File::open(format!("/proc/{pid}/ns/net")).unwrap();
        // setns(2) moves only the calling thread, so other tests keep theirs.
        setns(ns, CloneFlags::CLONE_NEWNET).unwrap();
        body()
    })
    .join()
    .unwrap()
}

fn udp_call(server: SocketAddr, call: &[u8]) -> Vec<u8> {
    let local: SocketAddr = if server.is_ipv4() {
        "127.0.0.1:0".parse().unwrap()
    } else {
        "[::1]:0".parse().unwrap()
    };
    let socket = UdpSocket::bind(local).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket.send_to(call, server).unwrap();
    let mut buf = [0u8; 1024];
    let (n, _) = socket.recv_from(&mut buf).unwrap();
    buf[..n].to_vec()
}

/// Registers a mapping with a portmapper version 2 SET over IPv4.
fn pmap_set(mapping: &Mapping, port: u16) {
    let call = rpcbind::encode_pmap_call(11, rpcbind::PMAPPROC_SET, mapping, port);
    let reply = udp_call("127.0.0.1:111".parse().unwrap(), &call);
    assert!(
        rpcbind::decode_set_reply(&reply, 11).unwrap(),
        "SET refused"
    );
}

/// Registers a mapping with an rpcbind version 3 SET over IPv6.
fn rpcb_set(mapping: &Mapping, address: SocketAddr) {
    let netid = mapping.netid(address.ip());
    let uaddr = rpcbind::universal_address(address);
    let call = rpcbind::encode_rpcb_call(12, 3, rpcbind::RPCBPROC_SET, mapping, netid, &uaddr, "");
    let reply = udp_call("[::1]:111".parse().unwrap(), &call);
    assert!(
        rpcbind::decode_set_reply(&reply, 12).unwrap(),
        "SET refused"
    );
}

fn lookup(server: &str, mapping: Mapping) -> Result<u16, RpcbindError> {
    let server: IpAddr = server.parse().unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(rpcbind::lookup_port(
            server,
            &mapping,
            Duration::from_secs(5),
        ))
}

const NFS3_TCP: Mapping = Mapping {
    program: 100_003,
    version: 3,
    protocol: Protocol::Tcp,
};
const NFS3_UDP: Mapping = Mapping {
    program: 100_003,
    version: 3,
    protocol: Protocol::Udp,
};

#[test]
fn ports_from_real_rpcbind() {
    let Some(daemon) = start_rpcbind() else {
        return;
    };
    let pid = daemon.child.id();
    in_netns(pid, || {
        pmap_set(&NFS3_TCP, 20049);
        pmap_set(&NFS3_UDP, 20050);
        rpcb_set(&NFS3_TCP, "[::1]:20051".parse().unwrap());

        // portmapper v2 GETPORT over TCP and UDP.
        assert_eq!(lookup("127.0.0.1", NFS3_TCP).unwrap(), 20049);
        assert_eq!(lookup("127.0.0.1", NFS3_UDP).unwrap(), 20050);
        // rpcbind v4 GETADDR over TCP.
        assert_eq!(lookup("::1", NFS3_TCP).unwrap(), 20051);

        // rpcbind answers for any version of a registered program (the
        // service itself then reports the version mismatch), so only an
        // unregistered program gives no port.
        assert_eq!(
            lookup(
                "127.0.0.1",
                Mapping {
                    version: 2,
                    ..NFS3_TCP
                }
            )
            .unwrap(),
            20049
        );
        let missing = Mapping {
            program: 100_005,
            version: 3,
            protocol: Protocol::Tcp,
        };
        for server in ["127.0.0.1", "::1"] {
            let err = lookup(server, missing).unwrap_err();
            assert!(
                matches!(err, RpcbindError::NotRegistered { .. }),
                "{server}: {err}"
            );
            assert!(
                err.to_string().contains("program 100005 version 3"),
                "{err}"
            );
        }
    });

    // rpcbind's own listing agrees with what was registered.
    let out = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-n", "rpcinfo", "-p", "127.0.0.1"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("100003    3   tcp  20049"), "{listing}");
}
