//! Reading and writing a user's credential caches as that user.
//!
//! The daemon runs as root, but a user's caches must be read with the
//! user's own rights. A FILE cache path may be a symbolic link that the
//! user planted toward another user's cache. sssd-kcm and Heimdal's kcm
//! serve the caches of the effective uid that connected to their socket.
//! The kernel picks the user and persistent keyrings by the caller's uid.
//!
//! So each lookup or store runs in a short-lived thread of its own, as
//! rpc.gssd does it. Linux keeps credentials per thread, and only the C
//! library's wrappers of setgroups, setresgid and setresuid apply a change
//! to every thread of the process. The raw system calls used here change
//! the calling thread alone. The thread clears its supplementary groups,
//! sets its effective gid and uid to the user's while it keeps saved ids
//! of 0, and then reads or writes the caches. Only for a KEYRING cache
//! does it take the user's real uid as well and join a new session
//! keyring. The thread is never a tokio worker and never returns to a
//! pool, so the identity ends with it.
//!
//! Saved ids of 0 keep the user from tracing the thread even if the
//! process were dumpable, because ptrace(2) access needs the tracer's uid
//! and gid to match the real, effective and saved ids of the target. A
//! real uid of 0 also keeps the user from signalling it.
//! (rpc.gssd of nfs-utils 2.6 sets all three to the user's and relies on
//! the kernel making the process non-dumpable when a thread changes its
//! effective uid.) The daemons also make themselves non-dumpable at start.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use krb5::ccache::{self, ResolveOptions};
use krb5::credentials::Credential;
use nix::libc;

use super::creds::{find_user_credential, CredsError, TicketQuery, UserCredential};

/// The time that a lookup or store may take, so that a cache on a hung
/// file system or a stuck KCM daemon does not hold the upcall forever. The
/// thread of an upcall that timed out is left to end by itself.
const ACCESS_TIMEOUT: Duration = Duration::from_secs(10);

/// The maximum number of cache threads alive at once, counting those left
/// behind by timed-out upcalls. Past it, upcalls fail at once instead of
/// piling up threads that a hung file system never releases.
const MAX_CACHE_THREADS: usize = 1024;

/// The number of cache threads alive now.
static CACHE_THREADS: AtomicUsize = AtomicUsize::new(0);

/// The gid used for a uid that /etc/passwd does not list, as rpc.gssd
/// falls back to `nobody`'s entry.
const NOBODY_GID: u32 = 65534;

/// The system call numbers with 32-bit ids. On 32-bit x86 and Arm the
/// plain numbers take 16-bit ids.
#[cfg(any(target_arch = "x86", target_arch = "arm"))]
mod sys {
    pub use nix::libc::{
        SYS_setgroups32 as SETGROUPS, SYS_setresgid32 as SETRESGID, SYS_setresuid32 as SETRESUID,
    };
}
#[cfg(not(any(target_arch = "x86", target_arch = "arm")))]
mod sys {
    pub use nix::libc::{
        SYS_setgroups as SETGROUPS, SYS_setresgid as SETRESGID, SYS_setresuid as SETRESUID,
    };
}

/// A lookup of the credential that an upcall of `uid` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCacheRequest {
    pub uid: u32,
    /// The current time, seconds since the epoch.
    pub now: u32,
    /// Skip caches whose names contain `machine_` (uid 0 with `-n`).
    pub skip_machine_caches: bool,
    /// krb5.conf's `kcm_socket`, if set.
    pub kcm_socket: Option<String>,
    /// krb5.conf's `default_ccache_name` expanded for the uid.
    pub default_name: Option<String>,
    pub preferred_realm: Option<String>,
    /// The service ticket looked for before the TGT, if any.
    pub query: Option<TicketQuery>,
    /// The search directories, `%U` already expanded.
    pub dirs: Vec<String>,
}

impl UserCacheRequest {
    /// Looks for the credential with the calling thread's rights.
    pub fn find_here(&self) -> Result<UserCredential, CredsError> {
        find_user_credential(
            self.default_name.as_deref(),
            self.uid,
            &self.dirs,
            self.preferred_realm.as_deref(),
            &resolve_options(self.kcm_socket.as_deref()),
            self.skip_machine_caches,
            self.now,
            self.query.as_ref(),
        )
    }
}

fn resolve_options(kcm_socket: Option<&str>) -> ResolveOptions {
    ResolveOptions {
        kcm_socket: kcm_socket.map(Into::into),
    }
}

/// A request to store tickets in one cache of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRequest {
    pub uid: u32,
    /// krb5.conf's `kcm_socket`, if set.
    pub kcm_socket: Option<String>,
    /// The cache's full name, as the lookup returned it.
    pub cache: String,
}

impl StoreRequest {
    /// Stores `credentials` in the cache with the calling thread's rights.
    /// Each ticket must belong to the cache's principal, so that a cache
    /// that was initialized for someone else since the lookup is left alone.
    pub fn store_here(&self, credentials: &[Credential]) -> Result<(), CredsError> {
        let failed = |reason: String| {
            CredsError::new(format!(
                "cannot store tickets in credential cache {} of uid {}: {reason}",
                self.cache, self.uid
            ))
        };
        let cache = ccache::resolve_with(&self.cache, &resolve_options(self.kcm_socket.as_deref()))
            .map_err(|e| failed(e.to_string()))?;
        let principal = cache.principal().map_err(|e| failed(e.to_string()))?;
        for credential in credentials {
            if !credential.client.same_name(&principal) {
                return Err(failed(format!(
                    "the ticket for {} belongs to {}, but the cache now belongs to {principal}",
                    credential.server, credential.client
                )));
            }
            cache.store(credential).map_err(|e| failed(e.to_string()))?;
        }
        Ok(())
    }
}

/// Returns the primary gid of `uid` from /etc/passwd, else `nobody`'s.
pub fn primary_gid(uid: u32) -> u32 {
    let Ok(accounts) = crate::idmap::passwd::AccountFiles::system().current() else {
        return NOBODY_GID;
    };
    let by_uid = accounts.users.iter().find(|u| u.uid == uid);
    by_uid
        .or_else(|| accounts.user("nobody"))
        .map_or(NOBODY_GID, |u| u.gid)
}

/// Finds the service ticket or TGT of the request's uid in a cache thread
/// (see [`run_in_cache_thread`]).
pub async fn find_in_thread(request: UserCacheRequest) -> Result<UserCredential, CredsError> {
    let keyring = request.default_name.as_deref().is_some_and(is_keyring);
    run_in_cache_thread(request.uid, keyring, move || request.find_here()).await
}

/// Stores `credentials` in the request's cache from a cache thread (see
/// [`run_in_cache_thread`]).
pub async fn store_in_thread(
    request: StoreRequest,
    credentials: Vec<Credential>,
) -> Result<(), CredsError> {
    let keyring = is_keyring(&request.cache);
    run_in_cache_thread(request.uid, keyring, move || {
        request.store_here(&credentials)
    })
    .await
}

/// Returns true for a cache name of the KEYRING type, the only one whose
/// access depends on the real uid.
fn is_keyring(name: &str) -> bool {
    name.starts_with("KEYRING:")
}

/// Runs `work` in a new thread that acts as `uid`, unless the process
/// already runs as `uid`, and returns its result. The thread takes the
/// uid's identity with [`take_identity`] first. When `keyring` is set it
/// takes the real uid too and joins a new session keyring. Fails after [`ACCESS_TIMEOUT`], leaving the thread to end by
/// itself. The daemon's own uid gets a thread too: a process keyring that
/// a KEYRING lookup creates belongs to the creating thread alone, so it
/// dies with that thread and no later cache thread inherits it.
pub(crate) async fn run_in_cache_thread<T, F>(
    uid: u32,
    keyring: bool,
    work: F,
) -> Result<T, CredsError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, CredsError> + Send + 'static,
{
    run_with_timeout(uid, keyring, ACCESS_TIMEOUT, work).await
}

/// Runs `work` as [`run_in_cache_thread`] does, waiting at most `timeout`.
async fn run_with_timeout<T, F>(
    uid: u32,
    keyring: bool,
    timeout: Duration,
    work: F,
) -> Result<T, CredsError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, CredsError> + Send + 'static,
{
    let failed = |reason: String| {
        CredsError::new(format!(
            "cannot use the credential caches of uid {uid}: {reason}"
        ))
    };
    let switch_identity = uid != nix::unistd::geteuid().as_raw();
    let slot = ThreadSlot::acquire().ok_or_else(|| {
        failed(format!(
            "{MAX_CACHE_THREADS} earlier cache reads are still running (a hung file system or KCM daemon?)"
        ))
    })?;

    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("rgssd-cache".to_string())
        .spawn(move || {
            let _slot = slot;
            let result = if switch_identity {
                // /etc/passwd is read while the thread is still root.
                take_identity(uid, primary_gid(uid), keyring).and_then(|()| {
                    if keyring {
                        // Without keyring support the KEYRING cache fails later.
                        let _ = ccache::keyring::start_login_session();
                    }
                    work()
                })
            } else {
                work()
            };
            // After a timeout the receiver is gone, so the result drops here
            // and its keys are zeroed.
            let _ = sender.send(result);
        })
        .map_err(|e| failed(format!("cannot start a thread: {e}")))?;

    match tokio::time::timeout(timeout, receiver).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(failed(
            "the cache thread ended without a result".to_string(),
        )),
        Err(_) => Err(failed(format!(
            "timed out after {} ms (a hung file system or KCM daemon?)",
            timeout.as_millis()
        ))),
    }
}

/// One place among the [`MAX_CACHE_THREADS`], released on drop.
struct ThreadSlot;

impl ThreadSlot {
    fn acquire() -> Option<Self> {
        let previous = CACHE_THREADS.fetch_add(1, Ordering::AcqRel);
        if previous >= MAX_CACHE_THREADS {
            CACHE_THREADS.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Self)
    }
}

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        CACHE_THREADS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Makes the calling thread act as `uid` and `gid`: no supplementary
/// groups (as rpc.gssd, because the upcall names only a uid and the
/// user's caches belong to the user), the user's effective ids, and saved
/// ids of 0. The real uid stays 0 unless `keyring` is set. Other threads
/// keep their identity. Then checks the result, so that no cache is read
/// with root's rights after a partial change.
///
/// File access and KCM's peer credentials follow the effective ids. With
/// real and saved uids of 0 the user can neither signal nor trace the
/// thread, because kill(2) and ptrace(2) compare the user's uid with
/// those.
///
/// NOTE: a KEYRING cache needs the user's real uid too, because the kernel
/// picks the user and persistent keyrings by the real uid. While such a
/// thread runs, the user may send it signals, and a SIGSTOP or SIGKILL of
/// that thread stops or kills the whole daemon, as with rpc.gssd, which
/// sets all of its thread's ids to the user's.
fn take_identity(uid: u32, gid: u32, keyring: bool) -> Result<(), CredsError> {
    let failed = |call: &str, error: nix::Error| {
        CredsError::new(format!(
            "cannot take the identity of uid {uid} gid {gid}: {call} failed: {error}; the daemon must run as root"
        ))
    };
    let root: libc::uid_t = 0;
    let real_uid = if keyring { uid } else { root };

    // SAFETY: setgroups with a count of 0 reads no list, so the null
    // pointer is never dereferenced. The raw call changes only this
    // thread's credentials, which this thread alone uses from here on.
    let result = unsafe {
        libc::syscall(
            sys::SETGROUPS,
            0 as libc::c_int,
            std::ptr::null::<libc::gid_t>(),
        )
    };
    nix::errno::Errno::result(result).map_err(|e| failed("setgroups", e))?;

    // SAFETY: setresgid takes three ids by value and touches no memory of
    // the process. It changes only this thread's credentials.
    let result = unsafe {
        libc::syscall(
            sys::SETRESGID,
            gid as libc::gid_t,
            gid as libc::gid_t,
            root as libc::gid_t,
        )
    };
    nix::errno::Errno::result(result).map_err(|e| failed("setresgid", e))?;

    // SAFETY: as for setresgid above.
    let result = unsafe {
        libc::syscall(
            sys::SETRESUID,
            real_uid as libc::uid_t,
            uid as libc::uid_t,
            root,
        )
    };
    nix::errno::Errno::result(result).map_err(|e| failed("setresuid", e))?;

    check_identity(real_uid, uid, gid)
}

/// Rejects the calling thread's identity unless it is the one that
/// [`take_identity`] sets.
fn check_identity(real_uid: u32, uid: u32, gid: u32) -> Result<(), CredsError> {
    let uids =
        nix::unistd::getresuid().map(|r| (r.real.as_raw(), r.effective.as_raw(), r.saved.as_raw()));
    let gids =
        nix::unistd::getresgid().map(|r| (r.real.as_raw(), r.effective.as_raw(), r.saved.as_raw()));
    let groups = nix::unistd::getgroups().map(|g| g.len());
    if uids == Ok((real_uid, uid, 0)) && gids == Ok((gid, gid, 0)) && groups == Ok(0) {
        return Ok(());
    }
    Err(CredsError::new(format!(
        "the cache thread for uid {uid} gid {gid} has uids {uids:?}, gids {gids:?} and {groups:?} supplementary groups after the change; not reading any cache"
    )))
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;
    use std::sync::mpsc;

    use super::*;

    /// Returns the Uid, Gid and Groups lines of a /proc status file.
    fn identity_lines(path: &str) -> Vec<String> {
        let status = std::fs::read_to_string(path).unwrap();
        status
            .lines()
            .filter(|l| l.starts_with("Uid:") || l.starts_with("Gid:") || l.starts_with("Groups:"))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    fn thread_identity() -> Vec<String> {
        identity_lines("/proc/thread-self/status")
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn cache_thread_identity_is_per_thread() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipping: changing a thread's identity needs root");
            return;
        }
        let uid = 3_900_001;
        for keyring in [false, true] {
            check_thread_identity(uid, keyring);
        }
    }

    /// Checks the identity of a cache thread of `uid` and that the other
    /// threads stay root.
    fn check_thread_identity(uid: u32, keyring: bool) {
        // An unlisted uid runs with the primary gid of `nobody`.
        let gid = primary_gid(uid);
        let before = thread_identity();
        let (ready_sender, ready) = mpsc::channel();
        let (done, done_receiver) = mpsc::channel::<()>();
        let runtime = runtime();
        let task = runtime.spawn(run_in_cache_thread(uid, keyring, move || {
            let own = thread_identity();
            ready_sender.send(()).unwrap();
            // Stay alive while the other threads look at their identity.
            done_receiver.recv().unwrap();
            Ok(own)
        }));
        let (own, during, other, process) = runtime.block_on(async {
            tokio::task::spawn_blocking(move || ready.recv().unwrap())
                .await
                .unwrap();
            let during = thread_identity();
            let other = std::thread::spawn(thread_identity).join().unwrap();
            let process = identity_lines("/proc/self/status");
            done.send(()).unwrap();
            (task.await.unwrap().unwrap(), during, other, process)
        });

        let real_uid = if keyring { uid } else { 0 };
        assert_eq!(
            own,
            [
                format!("Uid: {real_uid} {uid} 0 {uid}"),
                format!("Gid: {gid} {gid} 0 {gid}"),
                "Groups:".to_string(),
            ]
        );
        assert_eq!(during, before, "the calling thread");
        assert_eq!(other, before, "a thread started meanwhile");
        assert!(process[0].starts_with("Uid: 0 0 0 0"), "{process:?}");
        let after = std::thread::spawn(thread_identity).join().unwrap();
        assert_eq!(after, before, "a thread started afterwards");
    }

    #[test]
    fn cache_thread_closed_to_its_user() {
        if !nix::unistd::geteuid().is_root() || !Path::new("/usr/bin/setpriv").exists() {
            eprintln!("skipping: needs root and setpriv (util-linux)");
            return;
        }
        let uid = 3_900_003;
        let gid = primary_gid(uid);
        let (tid_sender, tid) = mpsc::channel();
        let (done, done_receiver) = mpsc::channel::<()>();
        let runtime = runtime();
        let task = runtime.spawn(run_in_cache_thread(uid, false, move || {
            tid_sender.send(nix::unistd::gettid().as_raw()).unwrap();
            done_receiver.recv().unwrap();
            Ok(())
        }));
        // The task starts the cache thread once the runtime polls it.
        let tid = runtime.block_on(async {
            tokio::task::spawn_blocking(move || tid.recv().unwrap())
                .await
                .unwrap()
        });

        // Reading a task's environment needs ptrace access to that task.
        // The kernel made the process non-dumpable when the thread changed
        // its effective uid. Made dumpable again, as the process was at
        // start, only the real and saved ids of 0 keep the user out.
        nix::sys::prctl::set_dumpable(true).unwrap();
        let as_user = |command: &[&str]| {
            Command::new("setpriv")
                .args(["--reuid", &uid.to_string(), "--regid", &gid.to_string()])
                .arg("--clear-groups")
                .args(command)
                .output()
                .unwrap()
        };
        let environ = format!("/proc/{}/task/{tid}/environ", std::process::id());
        let read = as_user(&["cat", &environ]);
        // A signal to the thread would reach the whole daemon.
        let signal = as_user(&["kill", "-0", &tid.to_string()]);
        done.send(()).unwrap();
        runtime.block_on(task).unwrap().unwrap();

        let stderr = String::from_utf8_lossy(&read.stderr);
        assert!(!read.status.success(), "{stderr}");
        assert!(read.stdout.is_empty());
        assert!(stderr.contains("Permission denied"), "{stderr}");
        let stderr = String::from_utf8_lossy(&signal.stderr);
        assert!(!signal.status.success(), "kill -0 as uid {uid} succeeded");
        assert!(stderr.contains("Operation not permitted"), "{stderr}");
    }

    #[test]
    fn cache_thread_own_uid_unchanged() {
        let uid = nix::unistd::geteuid().as_raw();
        let before = thread_identity();
        let own = runtime()
            .block_on(run_in_cache_thread(uid, false, || Ok(thread_identity())))
            .unwrap();
        assert_eq!(own, before);
    }

    #[test]
    fn cache_thread_error_returned() {
        let uid = nix::unistd::geteuid().as_raw();
        let result: Result<(), CredsError> =
            runtime().block_on(run_in_cache_thread(uid, false, || {
                Err(CredsError::new("no cache"))
            }));
        assert_eq!(result, Err(CredsError::new("no cache")));
    }

    #[test]
    fn cache_thread_timeout_abandons_thread() {
        let uid = nix::unistd::geteuid().as_raw();
        let (release, blocked) = mpsc::channel::<()>();
        let (ended_sender, ended) = mpsc::channel();
        let result = runtime().block_on(run_with_timeout(
            uid,
            false,
            Duration::from_millis(100),
            move || {
                // Stands for a read on a hung file system.
                let _ = blocked.recv();
                ended_sender.send(()).unwrap();
                Ok(())
            },
        ));
        let message = result.unwrap_err().message;
        assert!(message.contains("timed out after 100 ms"), "{message}");

        // The abandoned thread ends once its read returns.
        release.send(()).unwrap();
        ended.recv_timeout(Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn identity_change_without_root_fails() {
        if nix::unistd::geteuid().is_root() {
            eprintln!("skipping: as root the identity change succeeds");
            return;
        }
        let uid = nix::unistd::geteuid().as_raw() + 1;
        let result = runtime().block_on(run_in_cache_thread(uid, false, || Ok(())));
        let message = result.unwrap_err().message;
        assert!(message.contains("the daemon must run as root"), "{message}");
    }
}
