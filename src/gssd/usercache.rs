//! Reading a user's credential caches as that user.
//!
//! The daemon runs as root, but a user's caches must be read with the
//! user's own rights. A FILE cache path may be a symbolic link that the
//! user planted toward another user's cache. sssd-kcm and Heimdal's kcm
//! serve the caches of the uid on the other end of their socket. The
//! kernel gives keyrings to the uid of the caller. rpc.gssd changes the
//! identity of its worker thread; a tokio daemon cannot do that safely,
//! because its tasks move between threads. So rgssd starts its own binary
//! again (`/proc/self/exe`) as a short-lived helper process. The standard
//! library sets the user's uid and primary gid, and clears the
//! supplementary groups, between fork and exec. The helper joins a new
//! session keyring and reads the caches. It writes the TGT it found, or
//! the reason it found none, to its standard output.
//!
//! The reply is the letter `T` and the TGT in the version 4 credential
//! encoding, or the letter `E`, a byte that is 1 when only expired caches
//! were found, and a UTF-8 message. The helper runs as the user, who may
//! trace it, so the daemon decodes its reply as untrusted input. That
//! reply holds no more than the user's own cache.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use krb5::ccache::{self, file, ResolveOptions};
use krb5::credentials::Credential;
use tokio::io::AsyncReadExt;
use zeroize::Zeroizing;

use super::creds::{find_user_tgt, CredsError};

/// The hidden first argument that selects the helper in the multi-call
/// binary. It is not listed by `rgssd --help`.
pub const HELPER_TOOL: &str = "__gssd-user-cache";

/// The time a helper process may take; a cache on a hung file system or
/// a stuck KCM daemon must not hold the upcall forever.
const HELPER_TIMEOUT: Duration = Duration::from_secs(10);

/// The maximum reply read from a helper process. A TGT takes a few
/// kilobytes.
const MAX_REPLY_LEN: u64 = 1 << 20;

/// The initial size of the reply buffer; a TGT takes a few kilobytes.
const REPLY_CAPACITY: usize = 64 * 1024;

/// The gid used for a uid that /etc/passwd does not list, as rpc.gssd
/// falls back to `nobody`'s entry.
const NOBODY_GID: u32 = 65534;

/// A TGT lookup request for the helper process, passed as its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCacheRequest {
    pub uid: u32,
    /// The primary gid the helper runs with.
    pub gid: u32,
    /// The current time, seconds since the epoch.
    pub now: u32,
    /// Skip caches whose names contain `machine_` (uid 0 with `-n`).
    pub skip_machine_caches: bool,
    /// krb5.conf's `kcm_socket`, if set.
    pub kcm_socket: Option<String>,
    /// krb5.conf's `default_ccache_name` expanded for the uid.
    pub default_name: Option<String>,
    pub preferred_realm: Option<String>,
    /// The search directories, `%U` already expanded.
    pub dirs: Vec<String>,
}

const FIXED_ARGS: usize = 7;

impl UserCacheRequest {
    /// Encodes the request as arguments: uid, gid, time, the skip flag,
    /// the KCM socket, the default name, the realm (empty when unset),
    /// then the directories.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            self.uid.to_string(),
            self.gid.to_string(),
            self.now.to_string(),
            u8::from(self.skip_machine_caches).to_string(),
            self.kcm_socket.clone().unwrap_or_default(),
            self.default_name.clone().unwrap_or_default(),
            self.preferred_realm.clone().unwrap_or_default(),
        ];
        args.extend(self.dirs.iter().cloned());
        args
    }

    /// Decodes the arguments that [`Self::to_args`] wrote.
    pub fn from_args(args: &[String]) -> Result<Self, String> {
        if args.len() < FIXED_ARGS {
            return Err(format!(
                "expected at least {FIXED_ARGS} arguments, got {}",
                args.len()
            ));
        }
        let number = |index: usize, what: &str| -> Result<u32, String> {
            args[index]
                .parse()
                .map_err(|_| format!("invalid {what} {:?}: expected a number", args[index]))
        };
        let optional = |index: usize| Some(args[index].clone()).filter(|s| !s.is_empty());
        Ok(Self {
            uid: number(0, "uid")?,
            gid: number(1, "gid")?,
            now: number(2, "time")?,
            skip_machine_caches: match args[3].as_str() {
                "0" => false,
                "1" => true,
                other => return Err(format!("invalid skip flag {other:?}: expected 0 or 1")),
            },
            kcm_socket: optional(4),
            default_name: optional(5),
            preferred_realm: optional(6),
            dirs: args[FIXED_ARGS..].to_vec(),
        })
    }

    fn resolve_options(&self) -> ResolveOptions {
        ResolveOptions {
            kcm_socket: self.kcm_socket.as_ref().map(Into::into),
        }
    }

    /// Looks for the TGT in this process, with this process's rights.
    pub fn find_here(&self) -> Result<Credential, CredsError> {
        find_user_tgt(
            self.default_name.as_deref(),
            self.uid,
            &self.dirs,
            self.preferred_realm.as_deref(),
            &self.resolve_options(),
            self.skip_machine_caches,
            self.now,
        )
    }
}

/// Returns the primary gid of `uid` from /etc/passwd, else `nobody`'s.
pub fn primary_gid(uid: u32) -> u32 {
    let Ok(accounts) = crate::idmap::passwd::Accounts::load_system() else {
        return NOBODY_GID;
    };
    let by_uid = accounts.users.iter().find(|u| u.uid == uid);
    by_uid
        .or_else(|| accounts.user("nobody"))
        .map_or(NOBODY_GID, |u| u.gid)
}

/// Runs `program` (this binary) as the request's user and returns the TGT
/// it found.
pub async fn find_as_user(
    program: &Path,
    request: &UserCacheRequest,
) -> Result<Credential, CredsError> {
    let failed = |reason: String| CredsError {
        message: format!(
            "cannot read the credential caches of uid {} as that user: {reason}",
            request.uid
        ),
        expired: false,
    };
    let mut child = tokio::process::Command::new(program)
        .arg0("rgssd")
        .arg(HELPER_TOOL)
        .args(request.to_args())
        .uid(request.uid)
        .gid(request.gid)
        .env_clear()
        .env("HOME", "/")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(format!("cannot start {}: {e}", program.display())))?;
    let Some(stdout) = child.stdout.take() else {
        return Err(failed("the helper process has no output pipe".to_string()));
    };

    // Room for any real TGT up front, so that growing the buffer leaves no
    // unzeroed copy of key material behind.
    let mut reply = Zeroizing::new(Vec::with_capacity(REPLY_CAPACITY));
    let exchange = async {
        stdout
            .take(MAX_REPLY_LEN)
            .read_to_end(&mut reply)
            .await
            .map_err(|e| failed(format!("reading the helper's reply failed: {e}")))?;
        child
            .wait()
            .await
            .map_err(|e| failed(format!("waiting for the helper failed: {e}")))
    };
    let status = match tokio::time::timeout(HELPER_TIMEOUT, exchange).await {
        Ok(status) => status?,
        Err(_) => {
            return Err(failed(format!(
                "the helper timed out after {} s (a hung file system or KCM daemon?)",
                HELPER_TIMEOUT.as_secs()
            )))
        }
    };
    if !status.success() {
        return Err(failed(format!("the helper process exited with {status}")));
    }
    decode_reply(&reply).map_err(|e| CredsError {
        message: e.message,
        expired: e.expired,
    })
}

/// Encodes the helper's reply.
pub fn encode_reply(result: &Result<Credential, CredsError>) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::new());
    match result {
        Ok(tgt) => match file::encode_credential(tgt) {
            Ok(encoded) => {
                let encoded = Zeroizing::new(encoded);
                out.reserve_exact(1 + encoded.len());
                out.push(b'T');
                out.extend_from_slice(&encoded);
            }
            Err(e) => {
                out.extend_from_slice(b"E\0");
                out.extend_from_slice(format!("cannot encode the TGT: {e}").as_bytes());
            }
        },
        Err(e) => {
            out.push(b'E');
            out.push(u8::from(e.expired));
            out.extend_from_slice(e.message.as_bytes());
        }
    }
    out
}

/// Decodes the helper's reply: the TGT, or the helper's error.
pub fn decode_reply(data: &[u8]) -> Result<Credential, CredsError> {
    let invalid = |reason: String| CredsError {
        message: format!("invalid reply from the user cache helper: {reason}"),
        expired: false,
    };
    match data.split_first() {
        Some((b'T', encoded)) => file::decode_credential(encoded)
            .map_err(|e| invalid(format!("the TGT does not decode: {e}"))),
        Some((b'E', rest)) => {
            let (expired, message) = match rest.split_first() {
                Some((0, message)) => (false, message),
                Some((1, message)) => (true, message),
                _ => return Err(invalid("missing expiry flag".to_string())),
            };
            Err(CredsError {
                message: String::from_utf8_lossy(message).into_owned(),
                expired,
            })
        }
        Some((tag, _)) => Err(invalid(format!("unknown tag byte {tag:#04x}"))),
        None => Err(invalid("empty reply".to_string())),
    }
}

/// Runs the helper side: checks that the process runs as the requested
/// uid, joins a new session keyring, looks for the TGT and writes the
/// reply to `stdout`. Returns the exit status.
pub fn run_helper(args: &[String], stdout: &mut dyn Write) -> i32 {
    let result = UserCacheRequest::from_args(args)
        .map_err(|reason| CredsError {
            message: format!("invalid user cache helper request: {reason}"),
            expired: false,
        })
        .and_then(|request| {
            check_identity(&request)?;
            // Without keyring support only KEYRING caches fail, later.
            let _ = ccache::keyring::start_login_session();
            request.find_here()
        });
    let reply = encode_reply(&result);
    match stdout.write_all(&reply).and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        Err(_) => crate::tools::FAILURE,
    }
}

/// Rejects the request unless the real and effective uid and gid are
/// the requested ones and no supplementary group is left.
fn check_identity(request: &UserCacheRequest) -> Result<(), CredsError> {
    use nix::unistd::{getegid, geteuid, getgid, getgroups, getuid};
    let uids = (getuid().as_raw(), geteuid().as_raw());
    let gids = (getgid().as_raw(), getegid().as_raw());
    let groups = getgroups().map(|g| g.len()).unwrap_or(usize::MAX);
    if uids != (request.uid, request.uid) || gids != (request.gid, request.gid) || groups != 0 {
        return Err(CredsError {
            message: format!(
                "the user cache helper runs as uid {uids:?}, gid {gids:?} with {groups} groups, not as uid {} gid {}; it must be started by rgssd gssd",
                request.uid, request.gid
            ),
            expired: false,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_arguments_round_trip() {
        let request = UserCacheRequest {
            uid: 1001,
            gid: 100,
            now: 1_700_000_000,
            skip_machine_caches: true,
            kcm_socket: Some("/run/kcm".into()),
            default_name: Some("KEYRING:persistent:1001".into()),
            preferred_realm: None,
            dirs: vec!["/tmp".into(), "/run/user/1001".into()],
        };
        let args = request.to_args();
        assert_eq!(UserCacheRequest::from_args(&args), Ok(request));
    }

    #[test]
    fn request_arguments_invalid() {
        let args: Vec<String> = ["x", "1", "2", "0", "", "", ""].map(String::from).to_vec();
        let err = UserCacheRequest::from_args(&args).unwrap_err();
        assert!(err.contains("invalid uid \"x\""), "{err}");
        assert!(UserCacheRequest::from_args(&args[..3]).is_err());
    }

    #[test]
    fn reply_errors_round_trip() {
        let error = CredsError {
            message: "no cache".into(),
            expired: true,
        };
        let reply = encode_reply(&Err(error.clone()));
        assert_eq!(decode_reply(&reply), Err(error));
    }

    #[test]
    fn reply_malformed() {
        for bad in [&b""[..], b"E", b"E\x02x", b"X", b"T\x00\x01"] {
            let err = decode_reply(bad).unwrap_err();
            assert!(!err.expired, "{bad:?}");
            assert!(err.message.contains("invalid reply"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn helper_rejects_wrong_identity() {
        let args = UserCacheRequest {
            uid: 4_000_000_000,
            gid: 4_000_000_000,
            now: 0,
            skip_machine_caches: false,
            kcm_socket: None,
            default_name: None,
            preferred_realm: None,
            dirs: vec![],
        }
        .to_args();
        let mut out = Vec::new();
        assert_eq!(run_helper(&args, &mut out), 0);
        let err = decode_reply(&out).unwrap_err();
        assert!(
            err.message.contains("must be started by rgssd gssd"),
            "{err}"
        );
    }
}
