//! The rpc_pipefs simulation: top directories, `clntXX` client directories
//! with `info` and upcall pipes, and the `gssd/clntXX/gssd` dummy pipe.
//!
//! Each pipe gives one queued upcall per read (a short read leaves the
//! rest for the next read on the same open file) and takes one downcall
//! per write, matched to a read upcall by uid. Removing a pipe fails its
//! upcalls with EPIPE and makes reads and writes on open files fail with
//! EPIPE; when the last reader closes, unread upcalls fail with EAGAIN.
//!
//! NOTE: the kernel's 30-second timeout for upcalls queued while no
//! process has the pipe open is not simulated.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fuser::{Errno, PollEvents};

use crate::downcall::{decode_downcall, downcall_uid, errno, Downcall, DowncallBody};
use crate::fs::{Kind, Mounted, Tree};

/// The top directories the kernel creates at mount time.
pub const TOP_DIRS: [&str; 9] = [
    "lockd", "mount", "nfs", "portmap", "statd", "nfsd4_cb", "cache", "nfsd", "gssd",
];

/// The outcome of an upcall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A context downcall the kernel could import.
    Context(Downcall),
    /// An error downcall: the errno gssd wrote (negative) and the error the
    /// waiting RPC gets (the kernel turns all but EKEYEXPIRED into EACCES).
    Error { sent: i32, result: i32 },
    /// No usable downcall: EAGAIN after a downcall the kernel could not
    /// parse or a reader that closed, EPIPE after the pipe went away.
    Failed(i32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum MsgState {
    Queued,
    /// Read (at least partly) and waiting for its downcall.
    InFlight,
    Done(Outcome),
}

struct Message {
    uid: u32,
    data: Vec<u8>,
    copied: usize,
    state: MsgState,
    /// When the upcall was queued, and when its outcome was settled.
    queued_at: Instant,
    done_at: Option<Instant>,
}

/// One write to a pipe and its result (bytes taken, or a positive errno).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub data: Vec<u8>,
    pub result: Result<usize, i32>,
}

/// A `gssd`, `krb5` or `spkm3` upcall pipe.
pub(crate) struct MessagePipe {
    /// 1 for the text `gssd` pipe, 0 for mechanism-named pipes.
    version: u8,
    messages: HashMap<u64, Message>,
    /// Newest last.
    order: Vec<u64>,
    queue: VecDeque<u64>,
    attached: HashMap<u64, u64>,
    readers: usize,
    writers: usize,
    closed: bool,
    next_id: u64,
    pub writes: Vec<Write>,
}

impl MessagePipe {
    pub fn new(version: u8) -> Self {
        Self {
            version,
            messages: HashMap::new(),
            order: Vec::new(),
            queue: VecDeque::new(),
            attached: HashMap::new(),
            readers: 0,
            writers: 0,
            closed: false,
            next_id: 1,
            writes: Vec::new(),
        }
    }

    pub fn version(&self) -> u8 {
        self.version
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn finish(&mut self, id: u64, outcome: Outcome) {
        if let Some(m) = self.messages.get_mut(&id) {
            if !matches!(m.state, MsgState::Done(_)) {
                m.state = MsgState::Done(outcome);
                m.done_at = Some(Instant::now());
            }
        }
    }

    pub fn open(&mut self, read: bool, write: bool) -> Result<(), Errno> {
        if self.closed {
            return Err(Errno::ENOENT);
        }
        self.readers += usize::from(read);
        self.writers += usize::from(write);
        Ok(())
    }

    pub fn read(&mut self, fh: u64, size: usize) -> Result<Vec<u8>, Errno> {
        if self.closed {
            return Err(Errno::EPIPE);
        }
        let id = match self.attached.get(&fh) {
            Some(id) => *id,
            None => match self.queue.pop_front() {
                Some(id) => {
                    self.attached.insert(fh, id);
                    if let Some(m) = self.messages.get_mut(&id) {
                        m.state = MsgState::InFlight;
                        m.copied = 0;
                    }
                    id
                }
                None => return Ok(Vec::new()),
            },
        };
        let Some(m) = self.messages.get_mut(&id) else {
            self.attached.remove(&fh);
            return Ok(Vec::new());
        };
        let end = (m.copied + size).min(m.data.len());
        let out = m.data[m.copied..end].to_vec();
        m.copied = end;
        if m.copied == m.data.len() {
            self.attached.remove(&fh);
        }
        Ok(out)
    }

    pub fn write(&mut self, data: &[u8], enctypes: &[i32]) -> Result<usize, Errno> {
        let result = self.downcall(data, enctypes);
        self.writes.push(Write {
            data: data.to_vec(),
            result,
        });
        result.map_err(Errno::from_i32)
    }

    fn downcall(&mut self, data: &[u8], enctypes: &[i32]) -> Result<usize, i32> {
        if self.closed {
            return Err(errno::EPIPE);
        }
        let uid = downcall_uid(data)?;
        // The newest read upcall of that uid.
        let id = self
            .order
            .iter()
            .rev()
            .copied()
            .find(|id| {
                self.messages
                    .get(id)
                    .is_some_and(|m| m.uid == uid && m.state == MsgState::InFlight)
            })
            .ok_or(errno::ENOENT)?;
        match decode_downcall(data, enctypes) {
            Ok(downcall) => {
                let outcome = match downcall.body {
                    DowncallBody::Error { errno: sent } => Outcome::Error {
                        sent,
                        result: if sent == -errno::EKEYEXPIRED {
                            -errno::EKEYEXPIRED
                        } else {
                            -errno::EACCES
                        },
                    },
                    DowncallBody::Context { .. } => Outcome::Context(downcall),
                };
                self.finish(id, outcome);
                Ok(data.len())
            }
            Err(e) => {
                self.finish(id, Outcome::Failed(-errno::EAGAIN));
                Err(e)
            }
        }
    }

    pub fn release(&mut self, fh: u64, read: bool, write: bool) {
        if read {
            self.readers = self.readers.saturating_sub(1);
            if let Some(id) = self.attached.remove(&fh) {
                self.finish(id, Outcome::Failed(-errno::EAGAIN));
            }
        }
        if write {
            self.writers = self.writers.saturating_sub(1);
        }
        if self.readers == 0 {
            for id in std::mem::take(&mut self.queue) {
                self.finish(id, Outcome::Failed(-errno::EAGAIN));
            }
        }
        if self.readers == 0 && self.writers == 0 {
            self.fail_in_flight(-errno::EPIPE);
        }
    }

    fn fail_in_flight(&mut self, error: i32) {
        let ids: Vec<u64> = self.order.clone();
        for id in ids {
            if self
                .messages
                .get(&id)
                .is_some_and(|m| m.state == MsgState::InFlight)
            {
                self.finish(id, Outcome::Failed(error));
            }
        }
    }

    /// Marks the pipe removed, failing everything pending with EPIPE.
    pub fn close(&mut self) {
        self.closed = true;
        for id in std::mem::take(&mut self.queue) {
            self.finish(id, Outcome::Failed(-errno::EPIPE));
        }
        self.attached.clear();
        self.fail_in_flight(-errno::EPIPE);
    }

    pub fn poll(&self, fh: u64) -> PollEvents {
        let mut events = PollEvents::POLLOUT | PollEvents::POLLWRNORM;
        if self.closed {
            events |= PollEvents::POLLERR | PollEvents::POLLHUP;
        } else if self.attached.contains_key(&fh) || !self.queue.is_empty() {
            events |= PollEvents::POLLIN | PollEvents::POLLRDNORM;
        }
        events
    }

    /// Queues an upcall, or returns the pending one with the same uid and
    /// bytes: the kernel keeps at most one upcall per uid and auth on a
    /// pipe, and makes later requests wait for it.
    fn push(&mut self, uid: u32, data: Vec<u8>) -> u64 {
        let pending = self.order.iter().copied().find(|id| {
            self.messages.get(id).is_some_and(|m| {
                m.uid == uid && m.data == data && !matches!(m.state, MsgState::Done(_))
            })
        });
        if let Some(id) = pending {
            return id;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.messages.insert(
            id,
            Message {
                uid,
                data,
                copied: 0,
                state: MsgState::Queued,
                queued_at: Instant::now(),
                done_at: None,
            },
        );
        self.order.push(id);
        self.queue.push_back(id);
        id
    }
}

/// The dummy `gssd/clntXX/gssd` pipe: it never carries an upcall, refuses
/// writes with EINVAL, and its being open tells the kernel gssd runs.
pub(crate) struct DummyPipe {
    pub opens: usize,
}

/// The lines of a client's `info` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    pub server: String,
    pub program_name: String,
    pub program: u32,
    pub version: u32,
    pub address: String,
    pub protocol: String,
    pub port: u16,
}

impl ClientInfo {
    /// Describes an NFSv4 client of `server` at `address:port` over TCP.
    pub fn nfs4(server: &str, address: &str, port: u16) -> Self {
        Self {
            server: server.to_string(),
            program_name: "nfs".to_string(),
            program: 100_003,
            version: 4,
            address: address.to_string(),
            protocol: "tcp".to_string(),
            port,
        }
    }

    /// Renders the file's text, five lines as the kernel prints them.
    pub fn render(&self) -> String {
        format!(
            "RPC server: {}\nservice: {} ({}) version {}\naddress: {}\nprotocol: {}\nport: {}\n",
            self.server,
            self.program_name,
            self.program,
            self.version,
            self.address,
            self.protocol,
            self.port
        )
    }
}

/// A mounted rpc_pipefs simulation.
pub struct PipeFs {
    mount: Arc<Mounted>,
    counter: AtomicU32,
}

impl PipeFs {
    /// Mounts the tree with its top directories and the dummy client, on a
    /// new temporary directory. `enctypes` are the enctypes the simulated
    /// kernel imports.
    pub fn mount(enctypes: &[i32]) -> io::Result<Self> {
        let mount = Arc::new(Mounted::new("rpc_pipefs", enctypes.to_vec())?);
        for top in TOP_DIRS {
            mount.create(Path::new(top), Kind::Dir(Default::default()), 0o555)?;
        }
        let dummy = Path::new("gssd/clntXX");
        mount.create(dummy, Kind::Dir(Default::default()), 0o555)?;
        let info = ClientInfo {
            server: "localhost".to_string(),
            program_name: "foo".to_string(),
            program: 1,
            version: 0,
            address: "127.0.0.1".to_string(),
            protocol: "tcp".to_string(),
            port: 0,
        };
        mount.create(
            &dummy.join("info"),
            Kind::Text(info.render().into_bytes()),
            0o400,
        )?;
        mount.create(
            &dummy.join("gssd"),
            Kind::Dummy(DummyPipe { opens: 0 }),
            0o600,
        )?;
        Ok(Self {
            mount,
            counter: AtomicU32::new(0),
        })
    }

    /// Returns the mount point, to give to `rgssd gssd -p`.
    pub fn root(&self) -> &Path {
        &self.mount.root
    }

    /// Whether anything holds the dummy pipe open: the kernel's test for a
    /// running gssd.
    pub fn gssd_running(&self) -> bool {
        dummy_open(&self.mount.shared.lock())
    }

    /// Waits until the dummy pipe is held open (`running`) or no longer
    /// held open; false if that did not happen within `timeout`.
    pub fn wait_gssd_running(&self, running: bool, timeout: Duration) -> bool {
        self.mount
            .shared
            .wait_for(timeout, |tree| (dummy_open(tree) == running).then_some(()))
            .is_some()
    }

    /// Creates `<top>/clntN` with its `info` file, as the kernel does for a
    /// new RPC client.
    pub fn add_client(&self, top: &str, info: &ClientInfo) -> io::Result<Client> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let dir = PathBuf::from(top).join(format!("clnt{n:x}"));
        self.mount
            .create(&dir, Kind::Dir(Default::default()), 0o555)?;
        self.mount.create(
            &dir.join("info"),
            Kind::Text(info.render().into_bytes()),
            0o400,
        )?;
        Ok(Client {
            mount: Arc::clone(&self.mount),
            dir,
        })
    }
}

fn dummy_open(tree: &Tree) -> bool {
    let ino = tree.resolve(Path::new("gssd/clntXX/gssd"));
    ino.and_then(|ino| tree.nodes.get(&ino))
        .is_some_and(|n| matches!(&n.kind, Kind::Dummy(d) if d.opens > 0))
}

/// A queued upcall, to wait for its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpcallId {
    ino: u64,
    id: u64,
}

/// A simulated RPC client directory.
pub struct Client {
    mount: Arc<Mounted>,
    dir: PathBuf,
}

impl Client {
    /// Returns the directory, relative to the mount point.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Returns the directory's full path.
    pub fn path(&self) -> PathBuf {
        self.mount.root.join(&self.dir)
    }

    /// Creates an upcall pipe: `gssd` (text upcalls) or a mechanism name
    /// (`krb5`, four-byte uid upcalls).
    pub fn add_pipe(&self, name: &str) -> io::Result<()> {
        let version = if name == "gssd" { 1 } else { 0 };
        self.mount.create(
            &self.dir.join(name),
            Kind::Pipe(MessagePipe::new(version)),
            0o600,
        )
    }

    /// Removes a pipe, as the kernel does when the auth goes away.
    pub fn remove_pipe(&self, name: &str) -> io::Result<()> {
        self.mount.remove(&self.dir.join(name))
    }

    /// Removes the pipes, `info` and the directory, as when the RPC client
    /// is destroyed.
    pub fn remove(&self) -> io::Result<()> {
        let names: Vec<String> = {
            let tree = self.mount.shared.lock();
            match tree
                .resolve(&self.dir)
                .and_then(|ino| tree.nodes.get(&ino))
                .map(|n| &n.kind)
            {
                Some(Kind::Dir(children)) => children.keys().cloned().collect(),
                _ => Vec::new(),
            }
        };
        // Pipes first, as the kernel removes them before the directory.
        for name in names.iter().filter(|n| n.as_str() != "info") {
            self.mount.remove(&self.dir.join(name))?;
        }
        if names.iter().any(|n| n == "info") {
            self.mount.remove(&self.dir.join("info"))?;
        }
        self.mount.remove(&self.dir)
    }

    /// Queues a text upcall, for example
    /// `mech=krb5 uid=1000 enctypes=18,17\n`, on the `gssd` pipe. `uid` is
    /// the uid the downcall must carry.
    pub fn upcall(&self, uid: u32, text: &str) -> io::Result<UpcallId> {
        self.queue("gssd", uid, text.as_bytes().to_vec())
    }

    /// Queues a legacy four-byte upcall on a mechanism pipe.
    pub fn legacy_upcall(&self, pipe: &str, uid: u32) -> io::Result<UpcallId> {
        self.queue(pipe, uid, uid.to_ne_bytes().to_vec())
    }

    /// Queues raw bytes as an upcall on `pipe`, matched by `uid`.
    pub fn queue(&self, pipe: &str, uid: u32, data: Vec<u8>) -> io::Result<UpcallId> {
        let mut tree = self.mount.shared.lock();
        let path = self.dir.join(pipe);
        let ino = tree
            .resolve(&path)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no {path:?}")))?;
        let id = match tree.nodes.get_mut(&ino).map(|n| &mut n.kind) {
            Some(Kind::Pipe(p)) if !p.is_closed() => p.push(uid, data),
            _ => return Err(io::Error::other(format!("{path:?} is not an open pipe"))),
        };
        tree.wake(ino);
        drop(tree);
        self.mount.shared.changed.notify_all();
        Ok(UpcallId { ino, id })
    }

    /// Waits for the outcome of an upcall.
    pub fn wait(&self, upcall: UpcallId, timeout: Duration) -> Option<Outcome> {
        self.mount.shared.wait_for(timeout, |tree| {
            match tree.nodes.get(&upcall.ino).map(|n| &n.kind) {
                Some(Kind::Pipe(p)) => match p.messages.get(&upcall.id).map(|m| &m.state) {
                    Some(MsgState::Done(outcome)) => Some(outcome.clone()),
                    _ => None,
                },
                _ => None,
            }
        })
    }

    /// Returns the time from queueing the upcall to the downcall (or
    /// failure) that settled it; `None` while it is pending.
    pub fn latency(&self, upcall: UpcallId) -> Option<Duration> {
        let tree = self.mount.shared.lock();
        match tree.nodes.get(&upcall.ino).map(|n| &n.kind) {
            Some(Kind::Pipe(p)) => p
                .messages
                .get(&upcall.id)
                .and_then(|m| Some(m.done_at?.duration_since(m.queued_at))),
            _ => None,
        }
    }

    /// Waits until the daemon has read the upcall; false after `timeout`.
    pub fn wait_read(&self, upcall: UpcallId, timeout: Duration) -> bool {
        self.mount
            .shared
            .wait_for(timeout, |tree| {
                match tree.nodes.get(&upcall.ino).map(|n| &n.kind) {
                    Some(Kind::Pipe(p)) => p
                        .messages
                        .get(&upcall.id)
                        .is_some_and(|m| m.state != MsgState::Queued)
                        .then_some(()),
                    _ => Some(()),
                }
            })
            .is_some()
    }

    /// Waits until some process has `pipe` open for reading.
    pub fn wait_reader(&self, pipe: &str, timeout: Duration) -> bool {
        let path = self.dir.join(pipe);
        self.mount
            .shared
            .wait_for(timeout, |tree| {
                let ino = tree.resolve(&path)?;
                match tree.nodes.get(&ino).map(|n| &n.kind) {
                    Some(Kind::Pipe(p)) if p.readers > 0 => Some(()),
                    _ => None,
                }
            })
            .is_some()
    }

    /// Returns every write made to `pipe` so far, with its result.
    pub fn writes(&self, pipe: &str) -> Vec<Write> {
        let tree = self.mount.shared.lock();
        let path = self.dir.join(pipe);
        match tree
            .resolve(&path)
            .and_then(|ino| tree.nodes.get(&ino))
            .map(|n| &n.kind)
        {
            Some(Kind::Pipe(p)) => p.writes.clone(),
            _ => Vec::new(),
        }
    }
}
