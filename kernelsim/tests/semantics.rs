//! The simulated files behave as the kernel's do, seen through ordinary
//! system calls on the FUSE mounts.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use kernelsim::downcall::errno;
use kernelsim::pipefs::{ClientInfo, Outcome, PipeFs};
use kernelsim::procfs::ProcFs;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

const WAIT: Duration = Duration::from_secs(5);

fn readable(file: &std::fs::File, ms: u16) -> PollFlags {
    let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::from(ms)).unwrap();
    fds[0].revents().unwrap_or(PollFlags::empty())
}

/// Mounts the channel simulation and opens the init channel as svcgssd does.
fn mount_init_channel() -> (ProcFs, std::fs::File) {
    let proc = ProcFs::mount(&[18, 17]).unwrap();
    let init = OpenOptions::new()
        .read(true)
        .write(true)
        .open(proc.root().join("auth.rpcsec.init/channel"))
        .unwrap();
    (proc, init)
}

fn error_downcall(uid: u32, err: i32) -> Vec<u8> {
    let mut v = Vec::new();
    for w in [uid, 0, 0, (-err) as u32] {
        v.extend_from_slice(&w.to_ne_bytes());
    }
    v
}

#[test]
fn pipe_reads_and_downcalls() {
    if !kernelsim::fuse_available() {
        eprintln!("skipped: needs root and /dev/fuse");
        return;
    }
    let fs = PipeFs::mount(&[18, 17]).unwrap();
    for top in ["nfs", "nfsd4_cb", "gssd", "lockd"] {
        assert!(fs.root().join(top).is_dir());
    }
    let info = std::fs::read_to_string(fs.root().join("gssd/clntXX/info")).unwrap();
    assert!(info.starts_with("RPC server: "), "{info}");
    assert!(!fs.gssd_running());
    let dummy = OpenOptions::new()
        .read(true)
        .write(true)
        .open(fs.root().join("gssd/clntXX/gssd"))
        .unwrap();
    assert!(fs.gssd_running());
    assert_eq!(
        (&dummy).write(b"x").unwrap_err().raw_os_error(),
        Some(errno::EINVAL)
    );
    drop(dummy);
    assert!(fs.wait_gssd_running(false, WAIT));

    let client = fs
        .add_client(
            "nfs",
            &ClientInfo::nfs4("server.example.test", "127.0.0.1", 2049),
        )
        .unwrap();
    assert_eq!(client.dir().to_str(), Some("nfs/clnt0"));
    let text = std::fs::read_to_string(client.path().join("info")).unwrap();
    assert_eq!(
        text,
        "RPC server: server.example.test\nservice: nfs (100003) version 4\naddress: 127.0.0.1\nprotocol: tcp\nport: 2049\n"
    );
    client.add_pipe("gssd").unwrap();
    client.add_pipe("krb5").unwrap();
    let mut pipe = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(client.path().join("gssd"))
        .unwrap();
    // The version lock: the legacy pipe is busy while the text one is open.
    let busy = OpenOptions::new()
        .read(true)
        .open(client.path().join("krb5"));
    assert_eq!(busy.unwrap_err().raw_os_error(), Some(nix::libc::EBUSY));

    let mut buf = [0u8; 256];
    assert_eq!(pipe.read(&mut buf).unwrap(), 0, "nothing queued yet");
    assert!(!readable(&pipe, 10).contains(PollFlags::POLLIN));
    let first = client
        .upcall(1000, "mech=krb5 uid=1000 enctypes=18,17\n")
        .unwrap();
    // An identical request waits for the pending upcall instead of queueing.
    let same = client
        .upcall(1000, "mech=krb5 uid=1000 enctypes=18,17\n")
        .unwrap();
    assert_eq!(same, first);
    let second = client
        .upcall(1001, "mech=krb5 uid=1001 enctypes=18,17\n")
        .unwrap();
    assert!(readable(&pipe, 1000).contains(PollFlags::POLLIN));
    // A short read leaves the rest of the message for the next read.
    let mut small = [0u8; 10];
    assert_eq!(client.latency(first), None, "queued, not settled");
    assert_eq!(pipe.read(&mut small).unwrap(), 10);
    assert_eq!(&small, b"mech=krb5 ");
    let n = pipe.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"uid=1000 enctypes=18,17\n");
    let n = pipe.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"mech=krb5 uid=1001 enctypes=18,17\n");

    // A downcall for a uid with no read upcall is refused with ENOENT.
    let err = pipe.write(&error_downcall(7, errno::EACCES)).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(errno::ENOENT));
    // A truncated downcall fails its upcall with EAGAIN.
    let err = pipe.write(&error_downcall(1000, 13)[..14]).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(errno::EFAULT));
    assert_eq!(
        client.wait(first, WAIT),
        Some(Outcome::Failed(-errno::EAGAIN))
    );
    assert_eq!(client.latency(second), None, "read, not settled");
    pipe.write_all(&error_downcall(1001, errno::ETIMEDOUT))
        .unwrap();
    assert_eq!(
        client.wait(second, WAIT),
        Some(Outcome::Error {
            sent: -errno::ETIMEDOUT,
            result: -errno::EACCES
        })
    );
    // The latency spans the queueing and the downcall, and stays fixed.
    let latency = client.latency(second).expect("a settled upcall's latency");
    assert!(latency > Duration::ZERO);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(client.latency(second), Some(latency));
    assert_eq!(
        pipe.write(&[0u8; 1025]).unwrap_err().raw_os_error(),
        Some(errno::EFBIG)
    );

    // A read upcall whose pipe is removed fails with EPIPE, and so does
    // every later read and write on the open file.
    let third = client.upcall(5, "mech=krb5 uid=5\n").unwrap();
    assert!(pipe.read(&mut buf).unwrap() > 0);
    client.remove_pipe("gssd").unwrap();
    assert_eq!(
        client.wait(third, WAIT),
        Some(Outcome::Failed(-errno::EPIPE))
    );
    assert!(readable(&pipe, 100).contains(PollFlags::POLLHUP));
    assert_eq!(
        pipe.read(&mut buf).unwrap_err().raw_os_error(),
        Some(errno::EPIPE)
    );
    drop(pipe);

    client.remove().unwrap();
    assert!(!client.path().exists());
    // Outcomes stay readable after the pipe is gone.
    assert!(matches!(
        client.wait(second, WAIT),
        Some(Outcome::Error { .. })
    ));
}

#[test]
fn pipe_last_reader_close() {
    if !kernelsim::fuse_available() {
        eprintln!("skipped: needs root and /dev/fuse");
        return;
    }
    let fs = PipeFs::mount(&[18, 17]).unwrap();
    let client = fs
        .add_client(
            "nfs",
            &ClientInfo::nfs4("s.example.test", "127.0.0.1", 2049),
        )
        .unwrap();
    client.add_pipe("krb5").unwrap();
    let pipe = OpenOptions::new()
        .read(true)
        .write(true)
        .open(client.path().join("krb5"))
        .unwrap();
    let in_flight = client.legacy_upcall("krb5", 42).unwrap();
    let unread = client.legacy_upcall("krb5", 43).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!((&pipe).read(&mut buf).unwrap(), 4);
    assert_eq!(u32::from_ne_bytes(buf[..4].try_into().unwrap()), 42);
    drop(pipe);
    assert_eq!(
        client.wait(in_flight, WAIT),
        Some(Outcome::Failed(-errno::EPIPE))
    );
    assert_eq!(
        client.wait(unread, WAIT),
        Some(Outcome::Failed(-errno::EAGAIN))
    );
}

#[test]
fn init_channel_reads_and_writes() {
    if !kernelsim::fuse_available() {
        eprintln!("skipped: needs root and /dev/fuse");
        return;
    }
    let (proc, mut init) = mount_init_channel();
    assert!(proc.wait_listener(true, WAIT));
    let mut buf = vec![0u8; 65536];
    assert_eq!(init.read(&mut buf).unwrap(), 0);
    let id = proc.request(&[], &[0x60, 0x01]);
    assert!(readable(&init, 1000).contains(PollFlags::POLLIN));
    let n = init.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"\\x \\x6001\n");
    assert_eq!(proc.latency(id), None, "read, not answered");
    assert_eq!(init.read(&mut buf).unwrap(), 0, "each request is read once");

    let err = init.write(b"\\x \\x6001 1000 0x0 0 \\x \\x\n").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(errno::EINVAL));
    init.write_all(b"\\x \\x6001 2000000000 458752 5 \\x \\x\n")
        .unwrap();
    let reply = proc.wait_reply(id, WAIT).unwrap();
    assert_eq!(
        (reply.major, reply.minor, reply.expiry),
        (458_752, 5, 2_000_000_000)
    );
    let latency = proc.latency(id).expect("an answered request's latency");
    assert!(latency > Duration::ZERO);

    let mut context = OpenOptions::new()
        .write(true)
        .open(proc.root().join("auth.rpcsec.context/channel"))
        .unwrap();
    let mut blob = Vec::new();
    blob.extend_from_slice(&6u32.to_ne_bytes());
    blob.extend_from_slice(&2_000_000_000u32.to_ne_bytes());
    blob.extend_from_slice(&0u64.to_ne_bytes());
    blob.extend_from_slice(&17i32.to_ne_bytes());
    blob.extend_from_slice(&[1; 16]);
    let line = format!(
        "\\x0a0b 2000000000 1000 100 2 10 20 krb5 \\x{} nfs@client.example.test\n",
        hex::encode(&blob)
    );
    context.write_all(line.as_bytes()).unwrap();
    let entry = proc.context(&[10, 11]).unwrap();
    let creds = entry.creds.unwrap();
    assert_eq!(
        (creds.uid, creds.gid, creds.groups),
        (1000, 100, vec![10, 20])
    );
    assert_eq!(creds.principal.as_deref(), Some("nfs@client.example.test"));
    let bad = line.replace("krb5", "spkm3");
    assert_eq!(
        context.write(bad.as_bytes()).unwrap_err().raw_os_error(),
        Some(95)
    );
    let big = vec![b'a'; 40000];
    assert_eq!(
        context.write(&big).unwrap_err().raw_os_error(),
        Some(errno::EINVAL)
    );
    assert_eq!(proc.context_writes().len(), 3);
}

#[test]
fn init_channel_long_request() {
    if !kernelsim::fuse_available() {
        eprintln!("skipped: needs root and /dev/fuse");
        return;
    }
    let (proc, mut init) = mount_init_channel();
    let token = vec![0xab; 6000];
    proc.request(&[], &token);
    assert!(readable(&init, 1000).contains(PollFlags::POLLIN));
    let mut buf = vec![0u8; 65536];
    let n = init.read(&mut buf).unwrap();
    assert_eq!(n, 6 + 12000);
}
