//! The procfs simulation of knfsd's two RPCSEC_GSS cache channels:
//! `auth.rpcsec.init/channel`, where requests wait to be read and replies
//! are written, and `auth.rpcsec.context/channel`, where contexts are
//! installed. Each read gives one request (the rest of a long one on the
//! next read of the same file) or nothing. Each write is parsed whole, the
//! way the kernel parses it, and the write returns the parse error.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fuser::{Errno, PollEvents};

use crate::downcall::{errno, import_lucid, Lucid};
use crate::fs::{Kind, Mounted};
use crate::qword::{IntError, Line};

/// Each write must be shorter than this.
pub const MAX_WRITE: usize = 32768;
/// The kernel's limit on supplementary groups.
pub const NGROUPS_MAX: i32 = 65536;

const EOPNOTSUPP: i32 = 95;
const ENOENT_INT: i32 = errno::ENOENT;

/// One write to a channel and its result (bytes taken, or a positive errno).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub data: Vec<u8>,
    pub result: Result<usize, i32>,
}

/// A parsed init reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReply {
    pub in_handle: Vec<u8>,
    pub in_token: Vec<u8>,
    pub expiry: i64,
    pub major: u32,
    pub minor: u32,
    pub out_handle: Vec<u8>,
    pub out_token: Vec<u8>,
}

/// The credentials of a positive context entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextCreds {
    pub uid: i32,
    pub gid: i32,
    pub groups: Vec<i32>,
    pub mech: String,
    pub context: Lucid,
    pub principal: Option<String>,
}

/// A parsed context record; `creds` is `None` for a negative entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEntry {
    pub handle: Vec<u8>,
    pub expiry: i64,
    pub creds: Option<ContextCreds>,
}

struct Request {
    line: Vec<u8>,
    key: Option<(Vec<u8>, Vec<u8>)>,
    reply: Option<InitReply>,
    read_by: HashSet<u64>,
    /// When the request was queued, and when its reply was written.
    queued_at: Instant,
    replied_at: Option<Instant>,
}

pub(crate) struct InitChannel {
    requests: Vec<Request>,
    partial: HashMap<u64, (usize, usize)>,
    writers: usize,
    pub writes: Vec<Write>,
}

fn int_errno(e: IntError) -> i32 {
    match e {
        IntError::Missing => ENOENT_INT,
        IntError::Invalid => errno::EINVAL,
    }
}

/// Parses an init reply as `rsi_parse` does.
pub fn parse_init_reply(data: &[u8]) -> Result<InitReply, i32> {
    let mut line = Line::new(data);
    let size = data.len();
    let in_handle = line.field(size).ok_or(errno::EINVAL)?;
    let in_token = line.field(size).ok_or(errno::EINVAL)?;
    let expiry = line.time().map_err(int_errno)?;
    let major = line.decimal(size).map_err(|_| errno::EINVAL)?;
    let minor = line.decimal(size).map_err(|_| errno::EINVAL)?;
    let out_handle = line.field(size).ok_or(errno::EINVAL)?;
    let out_token = line.field(size).ok_or(errno::EINVAL)?;
    Ok(InitReply {
        in_handle,
        in_token,
        expiry,
        major,
        minor,
        out_handle,
        out_token,
    })
}

/// Parses a context record as `rsc_parse` does, importing the context
/// with the simulated kernel's enctypes.
pub fn parse_context(data: &[u8], enctypes: &[i32]) -> Result<ContextEntry, i32> {
    let mut line = Line::new(data);
    let size = data.len();
    let handle = line.field(size).ok_or(errno::EINVAL)?;
    let expiry = line.time().map_err(int_errno)?;
    let uid = match line.int() {
        Err(IntError::Missing) => {
            return Ok(ContextEntry {
                handle,
                expiry,
                creds: None,
            })
        }
        Err(IntError::Invalid) => return Err(errno::EINVAL),
        Ok(uid) => uid,
    };
    let gid = line.int().map_err(|_| errno::EINVAL)?;
    let n = line.int().map_err(|_| errno::EINVAL)?;
    if !(0..=NGROUPS_MAX).contains(&n) {
        return Err(errno::EINVAL);
    }
    let mut groups = Vec::new();
    for _ in 0..n {
        let g = line.int().map_err(|_| errno::EINVAL)?;
        if g == -1 {
            return Err(errno::EINVAL);
        }
        groups.push(g);
    }
    let mech = line.field(size).ok_or(errno::EINVAL)?;
    if mech != b"krb5" {
        return Err(EOPNOTSUPP);
    }
    let blob = line.field(size).ok_or(errno::EINVAL)?;
    let context = import_lucid(&blob, enctypes)?;
    let principal = match line.field(size) {
        Some(name) if !name.is_empty() => {
            // The kernel copies it as a C string.
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            Some(String::from_utf8_lossy(&name[..end]).into_owned())
        }
        _ => None,
    };
    Ok(ContextEntry {
        handle,
        expiry,
        creds: Some(ContextCreds {
            uid,
            gid,
            groups,
            mech: "krb5".to_string(),
            context,
            principal,
        }),
    })
}

fn check_size(data: &[u8]) -> Result<(), i32> {
    if data.is_empty() || data.len() >= MAX_WRITE {
        Err(errno::EINVAL)
    } else {
        Ok(())
    }
}

impl InitChannel {
    fn new() -> Self {
        Self {
            requests: Vec::new(),
            partial: HashMap::new(),
            writers: 0,
            writes: Vec::new(),
        }
    }

    pub fn open(&mut self, _fh: u64, write: bool) {
        self.writers += usize::from(write);
    }

    pub fn release(&mut self, fh: u64, write: bool) {
        self.writers = self.writers.saturating_sub(usize::from(write));
        self.partial.remove(&fh);
    }

    fn next_unread(&self, fh: u64) -> Option<usize> {
        self.requests
            .iter()
            .position(|r| r.reply.is_none() && !r.read_by.contains(&fh))
    }

    pub fn read(&mut self, fh: u64, size: usize) -> Vec<u8> {
        let (index, offset) = match self.partial.remove(&fh) {
            Some(at) => at,
            None => match self.next_unread(fh) {
                Some(index) => {
                    self.requests[index].read_by.insert(fh);
                    (index, 0)
                }
                None => return Vec::new(),
            },
        };
        let line = &self.requests[index].line;
        let end = (offset + size).min(line.len());
        let out = line[offset..end].to_vec();
        if end < line.len() {
            self.partial.insert(fh, (index, end));
        }
        out
    }

    pub fn poll(&self, fh: u64) -> PollEvents {
        let mut events = PollEvents::POLLOUT | PollEvents::POLLWRNORM;
        if self.partial.contains_key(&fh) || self.next_unread(fh).is_some() {
            events |= PollEvents::POLLIN | PollEvents::POLLRDNORM;
        }
        events
    }

    pub fn write(&mut self, data: &[u8]) -> Result<usize, Errno> {
        let result = check_size(data).and_then(|()| parse_init_reply(data));
        let result = result.map(|reply| {
            let key = (reply.in_handle.clone(), reply.in_token.clone());
            // The key names one cache entry, which completes every request
            // with that key. A reply for an unknown key is still taken: the
            // kernel makes a new cache entry for it.
            for request in self
                .requests
                .iter_mut()
                .filter(|r| r.reply.is_none() && r.key.as_ref() == Some(&key))
            {
                request.reply = Some(reply.clone());
                request.replied_at = Some(Instant::now());
            }
            data.len()
        });
        self.writes.push(Write {
            data: data.to_vec(),
            result,
        });
        result.map_err(Errno::from_i32)
    }
}

pub(crate) struct ContextChannel {
    writers: usize,
    pub writes: Vec<Write>,
    pub entries: Vec<ContextEntry>,
}

impl ContextChannel {
    pub fn open(&mut self, write: bool) {
        self.writers += usize::from(write);
    }

    pub fn release(&mut self, write: bool) {
        self.writers = self.writers.saturating_sub(usize::from(write));
    }

    pub fn write(&mut self, data: &[u8], enctypes: &[i32]) -> Result<usize, Errno> {
        let result = check_size(data).and_then(|()| parse_context(data, enctypes));
        let result = result.map(|entry| {
            self.entries.push(entry);
            data.len()
        });
        self.writes.push(Write {
            data: data.to_vec(),
            result,
        });
        result.map_err(Errno::from_i32)
    }
}

/// A request queued on the init channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId(usize);

/// A mounted `/proc/net/rpc` simulation.
pub struct ProcFs {
    mount: Arc<Mounted>,
}

const INIT: &str = "auth.rpcsec.init/channel";
const CONTEXT: &str = "auth.rpcsec.context/channel";

/// Hex-encodes a field as the kernel writes binary fields.
pub fn hex_field(bytes: &[u8]) -> String {
    format!("\\x{}", hex::encode(bytes))
}

impl ProcFs {
    /// Mounts the two channels and `gss_krb5_enctypes` on a new temporary
    /// directory; `enctypes` are those the simulated kernel supports.
    pub fn mount(enctypes: &[i32]) -> io::Result<Self> {
        let mount = Arc::new(Mounted::new("proc", enctypes.to_vec())?);
        for dir in ["auth.rpcsec.init", "auth.rpcsec.context"] {
            mount.create(Path::new(dir), Kind::Dir(Default::default()), 0o555)?;
        }
        mount.create(Path::new(INIT), Kind::Init(InitChannel::new()), 0o600)?;
        mount.create(
            Path::new(CONTEXT),
            Kind::Context(ContextChannel {
                writers: 0,
                writes: Vec::new(),
                entries: Vec::new(),
            }),
            0o600,
        )?;
        let list: Vec<String> = enctypes.iter().map(i32::to_string).collect();
        mount.create(
            Path::new("gss_krb5_enctypes"),
            Kind::Text(format!("{}\n", list.join(",")).into_bytes()),
            0o444,
        )?;
        Ok(Self { mount })
    }

    /// Returns the directory to give to `rgssd svcgssd --proc-dir`.
    pub fn root(&self) -> &Path {
        &self.mount.root
    }

    fn with_init<T>(&self, f: impl FnOnce(&mut InitChannel) -> T) -> Option<T> {
        let mut tree = self.mount.shared.lock();
        let ino = tree.resolve(Path::new(INIT))?;
        let result = match tree.nodes.get_mut(&ino).map(|n| &mut n.kind) {
            Some(Kind::Init(channel)) => Some(f(channel)),
            _ => None,
        };
        tree.wake(ino);
        result
    }

    /// Queues the request line the kernel writes for an INIT (empty
    /// handle) or CONTINUE_INIT call.
    pub fn request(&self, handle: &[u8], token: &[u8]) -> RequestId {
        let line = format!("{} {}\n", hex_field(handle), hex_field(token));
        self.request_raw(line.into_bytes())
    }

    /// Queues any bytes as a request line, for hostile input.
    pub fn request_raw(&self, line: Vec<u8>) -> RequestId {
        let mut key_line = Line::new(&line);
        let key = match (key_line.field(line.len()), key_line.field(line.len())) {
            (Some(h), Some(t)) => Some((h, t)),
            _ => None,
        };
        let id = self
            .with_init(|channel| {
                channel.requests.push(Request {
                    line: line.clone(),
                    key,
                    reply: None,
                    read_by: HashSet::new(),
                    queued_at: Instant::now(),
                    replied_at: None,
                });
                channel.requests.len() - 1
            })
            .unwrap_or(usize::MAX);
        self.mount.shared.changed.notify_all();
        RequestId(id)
    }

    /// Waits for the reply to a request.
    pub fn wait_reply(&self, id: RequestId, timeout: Duration) -> Option<InitReply> {
        self.mount.shared.wait_for(timeout, |tree| {
            let ino = tree.resolve(Path::new(INIT))?;
            match tree.nodes.get(&ino).map(|n| &n.kind) {
                Some(Kind::Init(channel)) => channel.requests.get(id.0)?.reply.clone(),
                _ => None,
            }
        })
    }

    /// Returns the time from queueing a request to the reply that
    /// completed it; `None` while it has no reply.
    pub fn latency(&self, id: RequestId) -> Option<Duration> {
        let tree = self.mount.shared.lock();
        let ino = tree.resolve(Path::new(INIT))?;
        match tree.nodes.get(&ino).map(|n| &n.kind) {
            Some(Kind::Init(channel)) => {
                let request = channel.requests.get(id.0)?;
                Some(request.replied_at?.duration_since(request.queued_at))
            }
            _ => None,
        }
    }

    /// Waits until the daemon has read a request; false after `timeout`.
    pub fn wait_read(&self, id: RequestId, timeout: Duration) -> bool {
        self.mount
            .shared
            .wait_for(timeout, |tree| {
                let ino = tree.resolve(Path::new(INIT))?;
                match tree.nodes.get(&ino).map(|n| &n.kind) {
                    Some(Kind::Init(channel)) => {
                        (!channel.requests.get(id.0)?.read_by.is_empty()).then_some(())
                    }
                    _ => None,
                }
            })
            .is_some()
    }

    /// Waits until a process has the init channel open for writing (the
    /// kernel's test for a listener), or with `present` false until none
    /// has; false if that did not happen within `timeout`.
    ///
    /// NOTE: the kernel also counts a listener for 30 seconds after the
    /// last close; the simulation does not.
    pub fn wait_listener(&self, present: bool, timeout: Duration) -> bool {
        self.mount
            .shared
            .wait_for(timeout, |tree| {
                let ino = tree.resolve(Path::new(INIT))?;
                match tree.nodes.get(&ino).map(|n| &n.kind) {
                    Some(Kind::Init(channel)) if (channel.writers > 0) == present => Some(()),
                    _ => None,
                }
            })
            .is_some()
    }

    /// Returns the installed context with this handle, if any.
    pub fn context(&self, handle: &[u8]) -> Option<ContextEntry> {
        let tree = self.mount.shared.lock();
        let ino = tree.resolve(Path::new(CONTEXT))?;
        match tree.nodes.get(&ino).map(|n| &n.kind) {
            Some(Kind::Context(channel)) => channel
                .entries
                .iter()
                .rev()
                .find(|e| e.handle == handle)
                .cloned(),
            _ => None,
        }
    }

    /// Returns every write made to the init channel so far.
    pub fn init_writes(&self) -> Vec<Write> {
        self.with_init(|c| c.writes.clone()).unwrap_or_default()
    }

    /// Returns every write made to the context channel so far.
    pub fn context_writes(&self) -> Vec<Write> {
        let tree = self.mount.shared.lock();
        let Some(ino) = tree.resolve(Path::new(CONTEXT)) else {
            return Vec::new();
        };
        match tree.nodes.get(&ino).map(|n| &n.kind) {
            Some(Kind::Context(channel)) => channel.writes.clone(),
            _ => Vec::new(),
        }
    }

    /// Makes every later write to the context channel wait until
    /// [`Self::release_context_writes`]. The whole simulated file system
    /// waits with it, because the simulation serves one FUSE request at a
    /// time.
    pub fn hold_context_writes(&self) {
        self.mount.shared.lock().hold_context_writes = true;
    }

    /// Lets the writes held by [`Self::hold_context_writes`] go on.
    pub fn release_context_writes(&self) {
        self.mount.shared.lock().hold_context_writes = false;
        self.mount.shared.changed.notify_all();
    }

    /// Waits until a write to the context channel is held; false after
    /// `timeout`.
    pub fn wait_held_context_write(&self, timeout: Duration) -> bool {
        self.mount
            .shared
            .wait_for(timeout, |tree| (tree.held_context_writes > 0).then_some(()))
            .is_some()
    }

    /// Returns the enctypes the simulated kernel imports.
    pub fn enctypes(&self) -> Vec<i32> {
        self.mount.shared.lock().enctypes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records that rpc.svcgssd wrote under Linux 6.12 with AES-SHA2 keys.
    fn recorded(name: &str) -> Vec<u8> {
        let path = format!("{}/../tests/data/kernel/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
    }

    #[test]
    fn parses_recorded_context_line() {
        let line = &recorded("context-line-nfs-utils.txt")[..];
        let entry = parse_context(line, &[20, 19, 18, 17]).unwrap();
        assert_eq!(entry.handle, [1, 0, 0, 0]);
        assert_eq!(entry.expiry, 1_796_450_945);
        let creds = entry.creds.unwrap();
        assert_eq!((creds.uid, creds.gid, creds.groups.len()), (-1, -1, 0));
        assert_eq!(creds.context.flags, 6);
        assert_eq!(creds.context.enctype, 20);
        assert_eq!(creds.principal.as_deref(), Some("nfs@nfs.example.test"));
        // The same line for a kernel without AES-SHA2 fails to import.
        assert_eq!(parse_context(line, &[18, 17]), Err(errno::EINVAL));
    }

    #[test]
    fn context_line_errors() {
        let enc = [17];
        assert_eq!(
            parse_context(b"\\x01 100\n", &enc).unwrap().creds,
            None,
            "a negative entry has only handle and expiry"
        );
        assert_eq!(parse_context(b"\\x01\n", &enc), Err(errno::ENOENT));
        assert_eq!(
            parse_context(b"\\x01 100 0 0 1 -1 krb5", &enc),
            Err(errno::EINVAL)
        );
        assert_eq!(parse_context(b"\\x01 100 0 0 -1", &enc), Err(errno::EINVAL));
        assert_eq!(
            parse_context(b"\\x01 100 0 0 0 spkm3 \\x00", &enc),
            Err(EOPNOTSUPP)
        );
        assert_eq!(parse_context(b"\\x01 100 x", &enc), Err(errno::EINVAL));
        assert_eq!(parse_context(b"\\x0 100", &enc), Err(errno::EINVAL));
    }

    #[test]
    fn parses_recorded_init_reply() {
        let request = recorded("init-request-krb5.txt");
        let reply = parse_init_reply(&recorded("init-reply-nfs-utils.txt")).unwrap();
        let mut key = Line::new(&request);
        assert_eq!(key.field(request.len()), Some(reply.in_handle.clone()));
        assert_eq!(key.field(request.len()), Some(reply.in_token.clone()));
        assert_eq!((reply.major, reply.minor), (0, 0));
        assert_eq!(reply.out_handle, [1, 0, 0, 0]);
        assert_eq!(&reply.out_token[..2], &[0x60, 0x81]);
    }

    #[test]
    fn init_reply_fields() {
        let reply = parse_init_reply(b"\\x \\x0102 1000 0 0 \\x01000000 \\x6f\n").unwrap();
        assert_eq!(reply.in_token, [1, 2]);
        assert_eq!((reply.major, reply.minor), (0, 0));
        assert_eq!(reply.out_handle, [1, 0, 0, 0]);
        assert_eq!(
            parse_init_reply(b"\\x \\x01 1000 0x0 0 \\x \\x\n"),
            Err(errno::EINVAL)
        );
        assert_eq!(parse_init_reply(b"\\x \\x01 1000 0"), Err(errno::EINVAL));
        assert_eq!(parse_init_reply(b"\\x \\x01\n"), Err(errno::ENOENT));
    }
}
