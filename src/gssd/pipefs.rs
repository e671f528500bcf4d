//! Watching rpc_pipefs: client directories (`*/clntXX`) appear and vanish
//! as the kernel creates and destroys RPC clients, and their upcall pipes
//! appear when an RPCSEC_GSS auth is created for them.
//!
//! Every inotify event triggers a rescan that reconciles the set of open
//! pipes with the tree, which is small, so a missed or reordered event never
//! leaves a pipe unread.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use log::{debug, error, info, warn};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use super::upcall::Gssd;
use crate::kernel::downcall::{encode_error, errno};
use crate::kernel::info::ClientInfo;
use crate::kernel::upcall::{parse_legacy, parse_text, Upcall};

/// The largest upcall read at once; text upcalls are at most 256 bytes.
const READ_BUFFER: usize = 32768;

/// Upcall handling limits.
#[derive(Debug, Clone, Copy)]
pub struct UpcallLimits {
    /// How long an upcall may take before it is reported (`-U`).
    pub timeout: Duration,
    /// Send ETIMEDOUT and give up on an upcall past the timeout (`-C`).
    pub cancel_timed_out: bool,
}

/// The upcall handler, replaced as a whole when SIGHUP reloads the
/// settings. Each upcall takes the handler current when it arrives.
pub type SharedGssd = Arc<RwLock<Arc<Gssd>>>;

/// Requests to the watcher from the signal handling task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Rescan the tree (SIGHUP).
    Rescan,
    /// Stop reading and return once the upcalls in progress have written
    /// their downcalls (SIGTERM, SIGINT). A second `Stop` returns at once.
    Stop,
}

/// The maximum wait for upcalls in progress after `Stop`.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The count of upcalls in progress.
#[derive(Default)]
struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

/// Marks one upcall in progress until dropped.
struct InFlightGuard(Arc<InFlight>);

impl InFlight {
    fn start(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(Arc::clone(self))
    }

    /// Waits until no upcall is in progress.
    async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// The kind of pipe a reader serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PipeKind {
    /// `gssd`: text upcalls.
    Text,
    /// `krb5` or `spkm3`: four-byte uid upcalls for that mechanism.
    Legacy(&'static str),
}

struct OpenPipe {
    task: JoinHandle<()>,
}

/// A pipe fd that tokio can wait on.
struct PipeFd(File);

impl AsRawFd for PipeFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Watches `root`, serving every client's upcall pipe, until `control`
/// sends [`Control::Stop`] or closes.
pub async fn watch(
    root: PathBuf,
    gssd: SharedGssd,
    limits: UpcallLimits,
    mut control: mpsc::UnboundedReceiver<Control>,
) -> io::Result<()> {
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
    // SAFETY: `InotifyFd` owns the inotify descriptor and returns that same
    // open descriptor from every `as_raw_fd` call until it is dropped
    // together with the `AsyncFd`.
    let inotify = unsafe { AsyncFd::register(InotifyFd(inotify)) }.map_err(io::Error::from)?;
    let mut pipes: HashMap<PathBuf, OpenPipe> = HashMap::new();
    let mut watched: HashMap<PathBuf, ()> = HashMap::new();
    let pipe_closed = Arc::new(Notify::new());
    let in_flight = Arc::new(InFlight::default());

    if !root.is_dir() {
        warn!(
            "rpc_pipefs directory {} does not exist; mount rpc_pipefs there or set -p or [general] pipefs-directory in nfs.conf. Waiting for it",
            root.display()
        );
    }
    info!("watching {}", root.display());
    loop {
        reconcile(
            &root,
            &inotify,
            &mut watched,
            &mut pipes,
            &gssd,
            limits,
            &pipe_closed,
            &in_flight,
        );

        // Wait for a change in the tree or a closed pipe, or rescan once a
        // minute as a safety net.
        tokio::select! {
            ready = inotify.readable() => {
                if let Ok(mut guard) = ready {
                    match guard.get_inner().0.read_events() {
                        Ok(events) => {
                            for event in events {
                                log::trace!("inotify: {:?} {:?}", event.mask, event.name);
                            }
                        }
                        Err(e) => log::trace!("inotify read: {e}"),
                    }
                    guard.clear_ready();
                }
            }
            _ = pipe_closed.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            request = control.recv() => match request {
                Some(Control::Rescan) => info!("rescanning {}", root.display()),
                Some(Control::Stop) | None => break,
            },
        }
        // Let a burst of directory changes settle before rescanning.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Stop reading; the upcalls in progress keep their pipes open.
    for (_, pipe) in pipes.drain() {
        pipe.task.abort();
    }
    let pending = in_flight.count.load(Ordering::SeqCst);
    if pending > 0 {
        info!(
            "waiting up to {} s for {pending} upcalls in progress",
            SHUTDOWN_GRACE.as_secs()
        );
        tokio::select! {
            _ = in_flight.wait_idle() => {}
            _ = tokio::time::sleep(SHUTDOWN_GRACE) => {
                warn!("stopping with {} upcalls still in progress", in_flight.count.load(Ordering::SeqCst));
            }
            _ = control.recv() => warn!("second signal: stopping at once"),
        }
    }
    Ok(())
}

struct InotifyFd(Inotify);

impl AsRawFd for InotifyFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// Brings watches and open pipes in line with the tree.
#[allow(clippy::too_many_arguments)]
fn reconcile(
    root: &Path,
    inotify: &AsyncFd<InotifyFd>,
    watched: &mut HashMap<PathBuf, ()>,
    pipes: &mut HashMap<PathBuf, OpenPipe>,
    gssd: &SharedGssd,
    limits: UpcallLimits,
    pipe_closed: &Arc<Notify>,
    in_flight: &Arc<InFlight>,
) {
    let flags = AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_MOVED_FROM;
    let mut add_watch = |dir: &Path| {
        if !watched.contains_key(dir) {
            match inotify.get_ref().0.add_watch(dir, flags) {
                Ok(_) => {
                    watched.insert(dir.to_path_buf(), ());
                }
                Err(e) => debug!("cannot watch {}: {e}", dir.display()),
            }
        }
    };

    add_watch(root);
    let mut present: Vec<(PathBuf, PipeKind, PathBuf)> = Vec::new();
    for top in subdirectories(root) {
        add_watch(&top);
        for client in subdirectories(&top) {
            let is_client = client
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("clnt"));
            if !is_client {
                continue;
            }
            add_watch(&client);
            let chosen = choose_pipe(&client);
            let text = matches!(chosen, Some((_, PipeKind::Text)));
            if let Some((pipe, kind)) = chosen {
                present.push((pipe, kind, client.clone()));
            }
            // With a text pipe open the kernel sends spkm3 upcalls there too,
            // and refuses to open mechanism pipes (EBUSY).
            let spkm3 = client.join("spkm3");
            if !text && spkm3.exists() {
                present.push((spkm3, PipeKind::Legacy("spkm3"), client.clone()));
            }
        }
    }
    log::trace!(
        "rescan of {}: pipes {:?}",
        root.display(),
        present.iter().map(|(p, _, _)| p).collect::<Vec<_>>()
    );
    // Watches of removed directories vanish with them (IN_IGNORED); forget them.
    watched.retain(|dir, _| dir.exists());

    pipes.retain(|path, pipe| {
        if !present.iter().any(|(p, _, _)| p == path) {
            debug!("{} is gone; closing it", path.display());
            pipe.task.abort();
            false
        } else if pipe.task.is_finished() {
            debug!("the reader of {} stopped; reopening it", path.display());
            false
        } else {
            true
        }
    });
    for (path, kind, client) in present {
        if pipes.contains_key(&path) {
            continue;
        }
        match open_pipe(&path) {
            Ok(file) => {
                info!("serving upcalls on {}", path.display());
                let closed = Arc::clone(pipe_closed);
                let reader = serve_pipe(
                    file,
                    path.clone(),
                    client,
                    kind,
                    Arc::clone(gssd),
                    limits,
                    Arc::clone(in_flight),
                );
                let task = tokio::spawn(async move {
                    reader.await;
                    // The pipe went away or failed (EPIPE after the kernel
                    // recreated it): rescan so that it is opened again.
                    closed.notify_one();
                });
                pipes.insert(path, OpenPipe { task });
            }
            Err(e) => warn!("cannot open {}: {e}", path.display()),
        }
    }
}

/// Prefers the text `gssd` pipe; kernels without it have only `krb5`.
fn choose_pipe(client: &Path) -> Option<(PathBuf, PipeKind)> {
    let text = client.join("gssd");
    if text.exists() {
        return Some((text, PipeKind::Text));
    }
    let legacy = client.join("krb5");
    legacy
        .exists()
        .then_some((legacy, PipeKind::Legacy("krb5")))
}

fn subdirectories(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

fn open_pipe(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
}

/// Reads upcalls from one pipe until it goes away; each upcall is handled
/// in its own task, which writes exactly one downcall.
async fn serve_pipe(
    file: File,
    path: PathBuf,
    client: PathBuf,
    kind: PipeKind,
    gssd: SharedGssd,
    limits: UpcallLimits,
    in_flight: Arc<InFlight>,
) {
    // SAFETY: `PipeFd` owns the open pipe and returns that same descriptor
    // from every `as_raw_fd` call until it is dropped with the `AsyncFd`.
    let pipe = match unsafe { AsyncFd::register(PipeFd(file)) }.map_err(io::Error::from) {
        Ok(pipe) => Arc::new(pipe),
        Err(e) => {
            error!("cannot poll {}: {e}", path.display());
            return;
        }
    };
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        let mut guard = match pipe.readable().await {
            Ok(guard) => guard,
            Err(e) => {
                warn!("polling {} failed: {e}", path.display());
                return;
            }
        };
        let n = match guard.try_io(|inner| (&inner.get_ref().0).read(&mut buf)) {
            Ok(Ok(0)) => {
                // No pending upcall. Without clearing the readiness the
                // loop would spin and starve the other tasks.
                log::trace!("empty read on {}", path.display());
                guard.clear_ready();
                continue;
            }
            Ok(Ok(n)) => n,
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(e)) => {
                debug!("reading {} failed: {e}; closing it", path.display());
                return;
            }
            Err(_would_block) => continue,
        };
        let message = buf[..n].to_vec();
        let current = Arc::clone(&gssd.read().unwrap_or_else(|e| e.into_inner()));
        let handler = handle_message(
            message,
            Arc::clone(&pipe),
            path.clone(),
            client.clone(),
            kind,
            current,
            limits,
        );
        let guard = in_flight.start();
        tokio::spawn(async move {
            handler.await;
            drop(guard);
        });
    }
}

async fn handle_message(
    message: Vec<u8>,
    pipe: Arc<AsyncFd<PipeFd>>,
    path: PathBuf,
    client: PathBuf,
    kind: PipeKind,
    gssd: Arc<Gssd>,
    limits: UpcallLimits,
) {
    let parsed = match kind {
        PipeKind::Text => parse_text(&message),
        PipeKind::Legacy(mech) => parse_legacy(&message, mech),
    };
    let upcall: Upcall = match parsed {
        Ok(upcall) => upcall,
        Err(e) => {
            warn!("{e} on {}", path.display());
            if let Some(uid) = e.uid {
                write_downcall(pipe.get_ref(), &path, &encode_error(uid, errno::EACCES));
            }
            return;
        }
    };
    debug!(
        "upcall on {}: {:?}",
        path.display(),
        String::from_utf8_lossy(&message).trim_end()
    );

    let info = match std::fs::read_to_string(client.join("info"))
        .map_err(|e| e.to_string())
        .and_then(|text| ClientInfo::parse(&text).map_err(|e| e.to_string()))
    {
        Ok(info) => info,
        Err(e) => {
            warn!("cannot read {}/info: {e}", client.display());
            write_downcall(
                pipe.get_ref(),
                &path,
                &encode_error(upcall.uid, errno::EACCES),
            );
            return;
        }
    };

    let uid = upcall.uid;
    let work = async { gssd.handle(&info, &upcall).await };
    tokio::pin!(work);
    let result = match tokio::time::timeout(limits.timeout, &mut work).await {
        Ok(result) => result,
        Err(_) if limits.cancel_timed_out => {
            warn!(
                "upcall for uid {uid} to {} timed out after {} s; cancelled",
                info.server,
                limits.timeout.as_secs()
            );
            write_downcall(pipe.get_ref(), &path, &encode_error(uid, errno::ETIMEDOUT));
            return;
        }
        Err(_) => {
            warn!(
                "upcall for uid {uid} to {} is taking longer than {} s",
                info.server,
                limits.timeout.as_secs()
            );
            work.await
        }
    };

    let downcall = match result {
        Ok(downcall) => downcall,
        Err(e) => {
            warn!(
                "upcall for uid {uid} to {} failed: {}",
                info.server, e.message
            );
            encode_error(uid, e.errno)
        }
    };
    write_downcall(pipe.get_ref(), &path, &downcall);
}

fn write_downcall(pipe: &PipeFd, path: &Path, downcall: &[u8]) {
    let fd: BorrowedFd<'_> = pipe.0.as_fd();
    match nix::unistd::write(fd, downcall) {
        Ok(n) if n == downcall.len() => {}
        Ok(n) => warn!(
            "short downcall write on {}: {n} of {} bytes",
            path.display(),
            downcall.len()
        ),
        Err(e) => warn!("writing the downcall to {} failed: {e}", path.display()),
    }
}
