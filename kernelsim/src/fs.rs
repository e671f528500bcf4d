//! The FUSE filesystem shared by the pipefs and procfs simulations.
//!
//! The tree lives in memory behind one mutex. Tests change it only through
//! system calls on the mount (mkdir, mknod, unlink, rmdir), announced first
//! in [`Tree::pending`], so that inotify reports every change as it does on
//! rpc_pipefs. Anything else that tries to create or remove an
//! entry gets EPERM, as on the real filesystems.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, INodeNo, LockOwner, OpenAccMode,
    OpenFlags, PollEvents, PollFlags, PollNotifier, ReplyAttr, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyPoll, ReplyWrite, Request, WriteFlags,
};

use crate::pipefs::{DummyPipe, MessagePipe};
use crate::procfs::{ContextChannel, InitChannel};

const ROOT: u64 = 1;
/// Attributes and entries are never cached, so every lookup reaches the tree.
const TTL: Duration = Duration::ZERO;

/// The kind of a node, which sets how its file behaves.
pub(crate) enum Kind {
    Dir(BTreeMap<String, u64>),
    /// A read-only file with fixed content, such as `info`.
    Text(Vec<u8>),
    Pipe(MessagePipe),
    Dummy(DummyPipe),
    Init(InitChannel),
    Context(ContextChannel),
}

pub(crate) struct Node {
    pub parent: u64,
    pub name: String,
    pub kind: Kind,
    pub mode: u16,
}

/// An open file: which node, and whether it was opened for reading and
/// for writing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenFile {
    pub ino: u64,
    pub read: bool,
    pub write: bool,
}

/// A change a test is about to make through the mount.
pub(crate) enum Pending {
    Create(Box<Kind>, u16),
    Remove,
}

pub(crate) struct Tree {
    pub nodes: HashMap<u64, Node>,
    next_ino: u64,
    next_fh: u64,
    pub pending: HashMap<(u64, String), Pending>,
    pub open: HashMap<u64, OpenFile>,
    pollers: HashMap<u64, PollNotifier>,
    /// Enctypes the simulated kernel can import, in its order.
    pub enctypes: Vec<i32>,
    /// While true, writes to a context channel wait, so that a test can
    /// act while the daemon has a request in progress.
    pub hold_context_writes: bool,
    /// Writes to a context channel that have waited because of the hold.
    pub held_context_writes: usize,
}

impl Tree {
    fn new(enctypes: Vec<i32>) -> Self {
        let mut nodes = HashMap::new();
        nodes.insert(
            ROOT,
            Node {
                parent: ROOT,
                name: String::new(),
                kind: Kind::Dir(BTreeMap::new()),
                mode: 0o555,
            },
        );
        Self {
            nodes,
            next_ino: ROOT + 1,
            next_fh: 1,
            pending: HashMap::new(),
            open: HashMap::new(),
            pollers: HashMap::new(),
            enctypes,
            hold_context_writes: false,
            held_context_writes: 0,
        }
    }

    /// Finds the node of a path relative to the root.
    pub fn resolve(&self, relative: &Path) -> Option<u64> {
        let mut ino = ROOT;
        for part in relative.components() {
            let name = part.as_os_str().to_str()?;
            match &self.nodes.get(&ino)?.kind {
                Kind::Dir(children) => ino = *children.get(name)?,
                _ => return None,
            }
        }
        Some(ino)
    }

    /// Wakes every poller of `ino`; the kernel then polls again.
    pub fn wake(&mut self, ino: u64) {
        let handles: Vec<u64> = self
            .open
            .iter()
            .filter(|(_, f)| f.ino == ino)
            .map(|(fh, _)| *fh)
            .collect();
        for fh in handles {
            if let Some(notifier) = self.pollers.remove(&fh) {
                if let Err(e) = notifier.notify() {
                    log::debug!("poll notification failed: {e}");
                }
            }
        }
    }

    /// Drops an unlinked node that no file has open. Pipes stay, so that
    /// tests can still read the outcomes of their upcalls.
    fn forget_if_unused(&mut self, ino: u64) {
        let is_pipe = matches!(self.nodes.get(&ino).map(|n| &n.kind), Some(Kind::Pipe(_)));
        if !is_pipe && self.opens_of(ino).is_empty() {
            self.nodes.remove(&ino);
        }
    }

    /// Returns the open files of `ino`.
    pub fn opens_of(&self, ino: u64) -> Vec<(u64, OpenFile)> {
        self.open
            .iter()
            .filter(|(_, f)| f.ino == ino)
            .map(|(fh, f)| (*fh, *f))
            .collect()
    }

    fn attr(&self, ino: u64) -> Option<FileAttr> {
        let node = self.nodes.get(&ino)?;
        let (kind, size, nlink) = match &node.kind {
            Kind::Dir(children) => (FileType::Directory, 0, 2 + children.len() as u32),
            Kind::Text(content) => (FileType::RegularFile, content.len() as u64, 1),
            _ => (FileType::RegularFile, 0, 1),
        };
        let now = SystemTime::now();
        Some(FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: 0,
            atime: now,
            mtime: now,
            ctime: now,
            crtime: now,
            kind,
            perm: node.mode,
            nlink,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    fn create(&mut self, parent: u64, name: &str) -> Result<u64, Errno> {
        let Some(Pending::Create(_, _)) = self.pending.get(&(parent, name.to_string())) else {
            return Err(Errno::EPERM);
        };
        let Some(Pending::Create(kind, mode)) = self.pending.remove(&(parent, name.to_string()))
        else {
            return Err(Errno::EPERM);
        };
        let ino = self.next_ino;
        self.next_ino += 1;
        match self.nodes.get_mut(&parent).map(|n| &mut n.kind) {
            Some(Kind::Dir(children)) => {
                if children.contains_key(name) {
                    return Err(Errno::EEXIST);
                }
                children.insert(name.to_string(), ino);
            }
            _ => return Err(Errno::ENOTDIR),
        }
        self.nodes.insert(
            ino,
            Node {
                parent,
                name: name.to_string(),
                kind: *kind,
                mode,
            },
        );
        Ok(ino)
    }

    fn remove(&mut self, parent: u64, name: &str, directory: bool) -> Result<(), Errno> {
        if !matches!(
            self.pending.get(&(parent, name.to_string())),
            Some(Pending::Remove)
        ) {
            return Err(Errno::EPERM);
        }
        self.pending.remove(&(parent, name.to_string()));
        let ino = match self.nodes.get(&parent).map(|n| &n.kind) {
            Some(Kind::Dir(children)) => *children.get(name).ok_or(Errno::ENOENT)?,
            _ => return Err(Errno::ENOTDIR),
        };
        match self.nodes.get(&ino).map(|n| &n.kind) {
            Some(Kind::Dir(children)) if directory && !children.is_empty() => {
                return Err(Errno::ENOTEMPTY)
            }
            Some(Kind::Dir(_)) if !directory => return Err(Errno::EISDIR),
            Some(Kind::Dir(_)) => {}
            Some(_) if directory => return Err(Errno::ENOTDIR),
            _ => {}
        }
        if let Some(Kind::Dir(children)) = self.nodes.get_mut(&parent).map(|n| &mut n.kind) {
            children.remove(name);
        }
        // The node stays while files are open on it, as an unlinked inode does.
        if let Some(Kind::Pipe(pipe)) = self.nodes.get_mut(&ino).map(|n| &mut n.kind) {
            pipe.close();
        }
        self.wake(ino);
        self.forget_if_unused(ino);
        Ok(())
    }
}

/// The state shared between the FUSE thread and the test's handles.
pub(crate) struct Shared {
    tree: Mutex<Tree>,
    /// Signalled after every change that a test may wait for.
    pub changed: Condvar,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Tree> {
        self.tree.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `ready` returns a value or `timeout` passes.
    pub fn wait_for<T>(
        &self,
        timeout: Duration,
        mut ready: impl FnMut(&mut Tree) -> Option<T>,
    ) -> Option<T> {
        let deadline = std::time::Instant::now() + timeout;
        let mut tree = self.lock();
        loop {
            if let Some(value) = ready(&mut tree) {
                return Some(value);
            }
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            tree = self
                .changed
                .wait_timeout(tree, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

struct SimFs {
    shared: Arc<Shared>,
}

/// A mounted simulation. Dropping it unmounts the filesystem.
pub(crate) struct Mounted {
    pub shared: Arc<Shared>,
    pub root: PathBuf,
    session: Option<fuser::BackgroundSession>,
    _dir: Option<tempfile::TempDir>,
}

impl Mounted {
    /// Mounts an empty tree on a new temporary directory.
    pub fn new(fs_name: &str, enctypes: Vec<i32>) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("kernelsim-{fs_name}-"))
            .tempdir()?;
        let shared = Arc::new(Shared {
            tree: Mutex::new(Tree::new(enctypes)),
            changed: Condvar::new(),
        });
        let mut config = fuser::Config::default();
        config.mount_options = vec![
            fuser::MountOption::FSName(fs_name.to_string()),
            fuser::MountOption::Subtype("kernelsim".to_string()),
        ];
        let session = fuser::Session::new(
            SimFs {
                shared: Arc::clone(&shared),
            },
            dir.path(),
            &config,
        )
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot mount a FUSE filesystem on {}: {e}; the simulation needs /dev/fuse and root",
                    dir.path().display()
                ),
            )
        })?
        .spawn()?;
        Ok(Self {
            shared,
            root: dir.path().to_path_buf(),
            session: Some(session),
            _dir: Some(dir),
        })
    }

    /// Creates `relative` through the mount, as the kernel would create it.
    pub fn create(&self, relative: &Path, kind: Kind, mode: u16) -> io::Result<()> {
        let directory = matches!(kind, Kind::Dir(_));
        self.announce(relative, Pending::Create(Box::new(kind), mode))?;
        let path = self.root.join(relative);
        let result = if directory {
            std::fs::create_dir(&path)
        } else {
            nix::sys::stat::mknod(
                &path,
                nix::sys::stat::SFlag::S_IFREG,
                nix::sys::stat::Mode::from_bits_truncate(u32::from(mode)),
                0,
            )
            .map_err(io::Error::from)
        };
        self.shared.changed.notify_all();
        result.map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", path.display())))
    }

    /// Removes `relative` (a file, or an empty directory) through the mount.
    pub fn remove(&self, relative: &Path) -> io::Result<()> {
        let path = self.root.join(relative);
        let directory = path.is_dir();
        self.announce(relative, Pending::Remove)?;
        let result = if directory {
            std::fs::remove_dir(&path)
        } else {
            std::fs::remove_file(&path)
        };
        self.shared.changed.notify_all();
        result.map_err(|e| io::Error::new(e.kind(), format!("removing {}: {e}", path.display())))
    }

    fn announce(&self, relative: &Path, pending: Pending) -> io::Result<()> {
        let parent = relative.parent().unwrap_or(Path::new(""));
        let name = relative
            .file_name()
            .and_then(OsStr::to_str)
            .ok_or_else(|| {
                io::Error::other(format!(
                    "invalid simulated path {relative:?}: expected a file name inside the mount"
                ))
            })?;
        let mut tree = self.shared.lock();
        let parent = tree.resolve(parent).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} does not exist", parent.display()),
            )
        })?;
        tree.pending.insert((parent, name.to_string()), pending);
        Ok(())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            let root = self.root.clone();
            // A process still holding files open keeps the mount busy: detach it
            // then, and let the kernel finish it when the files are closed.
            if session.umount_and_join().is_err() {
                let _ = nix::mount::umount2(&root, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

fn name_of(name: &OsStr) -> Result<&str, Errno> {
    name.to_str().ok_or(Errno::ENOENT)
}

impl Filesystem for SimFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let tree = self.shared.lock();
        let Ok(name) = name_of(name) else {
            return reply.error(Errno::ENOENT);
        };
        let child = match tree.nodes.get(&parent.0).map(|n| &n.kind) {
            Some(Kind::Dir(children)) => children.get(name).copied(),
            _ => None,
        };
        match child.and_then(|ino| tree.attr(ino)) {
            Some(attr) => reply.entry(&TTL, &attr, fuser::Generation(0)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.shared.lock().attr(ino.0) {
            Some(attr) => reply.attr(&TTL, &attr),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        let mut tree = self.shared.lock();
        let result = name_of(name).and_then(|name| tree.create(parent.0, name));
        match result.map(|ino| tree.attr(ino)) {
            Ok(Some(attr)) => reply.entry(&TTL, &attr, fuser::Generation(0)),
            Ok(None) => reply.error(Errno::EIO),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        self.mknod(req, parent, name, mode, umask, 0, reply);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut tree = self.shared.lock();
        match name_of(name).and_then(|name| tree.remove(parent.0, name, false)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut tree = self.shared.lock();
        match name_of(name).and_then(|name| tree.remove(parent.0, name, true)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut tree = self.shared.lock();
        let (read, write) = match flags.acc_mode() {
            OpenAccMode::O_RDONLY => (true, false),
            OpenAccMode::O_WRONLY => (false, true),
            OpenAccMode::O_RDWR => (true, true),
        };
        let fh = tree.next_fh;
        let version_busy = {
            // Kernel pipe version lock: the first open GSS pipe fixes the
            // version; a pipe of the other kind is then busy.
            let version = match tree.nodes.get(&ino.0).map(|n| &n.kind) {
                Some(Kind::Pipe(pipe)) => Some(pipe.version()),
                _ => None,
            };
            version.is_some_and(|v| {
                tree.open.values().any(|f| {
                    matches!(tree.nodes.get(&f.ino).map(|n| &n.kind),
                        Some(Kind::Pipe(other)) if other.version() != v && !other.is_closed())
                })
            })
        };
        if version_busy {
            return reply.error(Errno::EBUSY);
        }
        let result = match tree.nodes.get_mut(&ino.0).map(|n| &mut n.kind) {
            None => Err(Errno::ENOENT),
            Some(Kind::Dir(_)) => Err(Errno::EISDIR),
            Some(Kind::Text(_)) if write => Err(Errno::EACCES),
            Some(Kind::Text(_)) => Ok(()),
            Some(Kind::Pipe(pipe)) => pipe.open(read, write),
            Some(Kind::Dummy(dummy)) => {
                dummy.opens += 1;
                Ok(())
            }
            Some(Kind::Init(channel)) => {
                channel.open(fh, write);
                Ok(())
            }
            Some(Kind::Context(channel)) => {
                channel.open(write);
                Ok(())
            }
        };
        match result {
            Ok(()) => {
                tree.next_fh += 1;
                tree.open.insert(
                    fh,
                    OpenFile {
                        ino: ino.0,
                        read,
                        write,
                    },
                );
                self.shared.changed.notify_all();
                reply.opened(
                    FileHandle(fh),
                    FopenFlags::FOPEN_DIRECT_IO | FopenFlags::FOPEN_NONSEEKABLE,
                )
            }
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let mut tree = self.shared.lock();
        let result = match tree.nodes.get_mut(&ino.0).map(|n| &mut n.kind) {
            None => Err(Errno::ENOENT),
            Some(Kind::Dir(_)) => Err(Errno::EISDIR),
            Some(Kind::Text(content)) => {
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(content.len());
                let end = start.saturating_add(size as usize).min(content.len());
                Ok(content[start..end].to_vec())
            }
            Some(Kind::Pipe(pipe)) => pipe.read(fh.0, size as usize),
            // The dummy pipe never queues anything.
            Some(Kind::Dummy(_)) => Ok(Vec::new()),
            Some(Kind::Init(channel)) => Ok(channel.read(fh.0, size as usize)),
            Some(Kind::Context(_)) => Ok(Vec::new()),
        };
        self.shared.changed.notify_all();
        match result {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut tree = self.shared.lock();
        let is_context = matches!(
            tree.nodes.get(&ino.0).map(|n| &n.kind),
            Some(Kind::Context(_))
        );
        if is_context && tree.hold_context_writes {
            tree.held_context_writes += 1;
            self.shared.changed.notify_all();
            // Waiting releases the lock, so the test's handles keep working.
            while tree.hold_context_writes {
                tree = self
                    .shared
                    .changed
                    .wait(tree)
                    .unwrap_or_else(|e| e.into_inner());
            }
        }
        let enctypes = tree.enctypes.clone();
        let result = match tree.nodes.get_mut(&ino.0).map(|n| &mut n.kind) {
            None => Err(Errno::ENOENT),
            Some(Kind::Dir(_)) => Err(Errno::EISDIR),
            Some(Kind::Text(_)) => Err(Errno::EACCES),
            Some(Kind::Pipe(pipe)) => pipe.write(data, &enctypes),
            Some(Kind::Dummy(_)) => Err(Errno::EINVAL),
            Some(Kind::Init(channel)) => channel.write(data),
            Some(Kind::Context(channel)) => channel.write(data, &enctypes),
        };
        tree.wake(ino.0);
        self.shared.changed.notify_all();
        match result {
            Ok(n) => reply.written(n as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let mut tree = self.shared.lock();
        let file = tree.open.remove(&fh.0);
        tree.pollers.remove(&fh.0);
        let linked = tree.nodes.get(&ino.0).is_some_and(|n| {
            match tree.nodes.get(&n.parent).map(|p| &p.kind) {
                Some(Kind::Dir(children)) => children.get(&n.name) == Some(&ino.0),
                _ => false,
            }
        });
        if let Some(file) = file {
            match tree.nodes.get_mut(&ino.0).map(|n| &mut n.kind) {
                Some(Kind::Pipe(pipe)) => pipe.release(fh.0, file.read, file.write),
                Some(Kind::Dummy(dummy)) => dummy.opens = dummy.opens.saturating_sub(1),
                Some(Kind::Init(channel)) => channel.release(fh.0, file.write),
                Some(Kind::Context(channel)) => channel.release(file.write),
                _ => {}
            }
        }
        if !linked && ino.0 != ROOT {
            tree.forget_if_unused(ino.0);
        }
        self.shared.changed.notify_all();
        reply.ok();
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let tree = self.shared.lock();
        let Some(node) = tree.nodes.get(&ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let Kind::Dir(children) = &node.kind else {
            return reply.error(Errno::ENOTDIR);
        };
        let mut entries: Vec<(u64, FileType, String)> = vec![
            (ino.0, FileType::Directory, ".".to_string()),
            (node.parent, FileType::Directory, "..".to_string()),
        ];
        for (name, child) in children {
            let kind = match tree.nodes.get(child).map(|n| &n.kind) {
                Some(Kind::Dir(_)) => FileType::Directory,
                _ => FileType::RegularFile,
            };
            entries.push((*child, kind, name.clone()));
        }
        for (i, (child, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(child), (i + 1) as u64, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn poll(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        ph: PollNotifier,
        _events: PollEvents,
        flags: PollFlags,
        reply: ReplyPoll,
    ) {
        let mut tree = self.shared.lock();
        let events = match tree.nodes.get(&ino.0).map(|n| &n.kind) {
            Some(Kind::Pipe(pipe)) => pipe.poll(fh.0),
            Some(Kind::Init(channel)) => channel.poll(fh.0),
            Some(Kind::Dummy(_)) | Some(Kind::Context(_)) => {
                PollEvents::POLLOUT | PollEvents::POLLWRNORM
            }
            Some(_) => PollEvents::POLLIN | PollEvents::POLLRDNORM,
            None => PollEvents::POLLERR | PollEvents::POLLHUP,
        };
        if flags.contains(PollFlags::FUSE_POLL_SCHEDULE_NOTIFY) {
            tree.pollers.insert(fh.0, ph);
        }
        reply.poll(events);
    }
}
