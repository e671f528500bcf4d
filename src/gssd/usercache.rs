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
//! session keyring and reads the caches. It writes the service ticket or
//! TGT it found, or the reason it found none, to its standard output.
//! Started in store mode, it reads tickets from its standard input and
//! stores them in one of the user's caches, so that root never writes a
//! user's cache itself.
//!
//! A find reply starts with a letter. After `S` comes the service ticket
//! in the version 4 credential encoding. After `T` come the cache's name
//! (a 32-bit big-endian length and UTF-8) and the TGT. After `E` come a
//! byte that is 1 when only expired caches were found and a UTF-8 message.
//! A store reply is the letter `K`, or `E` as above. The tickets to store
//! arrive as a sequence of 32-bit big-endian lengths, each followed by a
//! credential. The helper runs as the user, who may trace it, so the
//! daemon decodes its reply as untrusted input. That reply holds no more
//! than the user's own cache.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use krb5::ccache::{self, file, ResolveOptions};
use krb5::credentials::Credential;
use krb5::Principal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zeroize::Zeroizing;

use super::creds::{find_user_credential, CredsError, TicketQuery, UserCredential};

/// The hidden first argument that selects the helper in the multi-call
/// binary. It is not listed by `rgssd --help`.
pub const HELPER_TOOL: &str = "__gssd-user-cache";

/// The time a helper process may take; a cache on a hung file system or
/// a stuck KCM daemon must not hold the upcall forever.
const HELPER_TIMEOUT: Duration = Duration::from_secs(10);

/// The maximum reply read from a helper process, and the maximum input
/// the helper reads in store mode. A ticket takes a few kilobytes.
const MAX_REPLY_LEN: u64 = 1 << 20;

/// The helper's first argument for looking up a user's credential.
const FIND_MODE: &str = "find";
/// The helper's first argument for storing tickets in a user's cache.
const STORE_MODE: &str = "store";

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
    /// The service ticket looked for before the TGT, if any.
    pub query: Option<TicketQuery>,
    /// The search directories, `%U` already expanded.
    pub dirs: Vec<String>,
}

const FIXED_ARGS: usize = 9;

impl UserCacheRequest {
    /// Encodes the request as arguments: uid, gid, time, the skip flag,
    /// the KCM socket, the default name, the realm, the queried service and
    /// its comma-separated enctypes (each empty when unset), then the
    /// directories.
    pub fn to_args(&self) -> Vec<String> {
        let (service, enctypes) = match &self.query {
            Some(query) => (
                query.service.to_string(),
                query
                    .enctypes
                    .iter()
                    .map(i32::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            None => (String::new(), String::new()),
        };
        let mut args = vec![
            self.uid.to_string(),
            self.gid.to_string(),
            self.now.to_string(),
            u8::from(self.skip_machine_caches).to_string(),
            self.kcm_socket.clone().unwrap_or_default(),
            self.default_name.clone().unwrap_or_default(),
            self.preferred_realm.clone().unwrap_or_default(),
            service,
            enctypes,
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
            query: query_from_args(&args[7], &args[8])?,
            dirs: args[FIXED_ARGS..].to_vec(),
        })
    }

    /// Looks for the credential in this process, with this process's rights.
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

/// Decodes the queried service and its enctypes. Both empty means none.
fn query_from_args(service: &str, enctypes: &str) -> Result<Option<TicketQuery>, String> {
    if service.is_empty() && enctypes.is_empty() {
        return Ok(None);
    }
    let service = Principal::parse(service, None)
        .map_err(|e| format!("invalid service principal {service:?}: {e}"))?;
    let enctypes = enctypes
        .split(',')
        .map(|e| {
            e.parse()
                .map_err(|_| format!("invalid enctype {e:?}: expected a number"))
        })
        .collect::<Result<Vec<i32>, String>>()?;
    Ok(Some(TicketQuery { service, enctypes }))
}

fn resolve_options(kcm_socket: Option<&str>) -> ResolveOptions {
    ResolveOptions {
        kcm_socket: kcm_socket.map(Into::into),
    }
}

/// A request to store tickets in one cache of a user, passed to the
/// helper process as its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRequest {
    pub uid: u32,
    /// The primary gid the helper runs with.
    pub gid: u32,
    /// krb5.conf's `kcm_socket`, if set.
    pub kcm_socket: Option<String>,
    /// The cache's full name, as the lookup returned it.
    pub cache: String,
}

impl StoreRequest {
    /// Encodes the request as arguments: uid, gid, the KCM socket (empty
    /// when unset) and the cache name.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            self.uid.to_string(),
            self.gid.to_string(),
            self.kcm_socket.clone().unwrap_or_default(),
            self.cache.clone(),
        ]
    }

    /// Decodes the arguments that [`Self::to_args`] wrote.
    pub fn from_args(args: &[String]) -> Result<Self, String> {
        let [uid, gid, kcm_socket, cache] = args else {
            return Err(format!("expected 4 arguments, got {}", args.len()));
        };
        let number = |text: &str, what: &str| -> Result<u32, String> {
            text.parse()
                .map_err(|_| format!("invalid {what} {text:?}: expected a number"))
        };
        Ok(Self {
            uid: number(uid, "uid")?,
            gid: number(gid, "gid")?,
            kcm_socket: Some(kcm_socket.clone()).filter(|s| !s.is_empty()),
            cache: cache.clone(),
        })
    }

    /// Stores `credentials` in the cache, with this process's rights. Each
    /// ticket must belong to the cache's principal, so that a cache that
    /// was initialized for someone else since the lookup is left alone.
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
    let Ok(accounts) = crate::idmap::passwd::Accounts::load_system() else {
        return NOBODY_GID;
    };
    let by_uid = accounts.users.iter().find(|u| u.uid == uid);
    by_uid
        .or_else(|| accounts.user("nobody"))
        .map_or(NOBODY_GID, |u| u.gid)
}

/// Runs `program` (this binary) as the request's user and returns the
/// service ticket or TGT it found.
pub async fn find_as_user(
    program: &Path,
    request: &UserCacheRequest,
) -> Result<UserCredential, CredsError> {
    let mut args = vec![FIND_MODE.to_string()];
    args.extend(request.to_args());
    let reply = run_as_user(program, request.uid, request.gid, &args, None).await?;
    decode_reply(&reply)
}

/// Runs `program` (this binary) as the request's user to store
/// `credentials` in the request's cache.
pub async fn store_as_user(
    program: &Path,
    request: &StoreRequest,
    credentials: &[Credential],
) -> Result<(), CredsError> {
    let input = encode_credentials(credentials)
        .map_err(|e| CredsError::new(format!("cannot encode the tickets to store: {e}")))?;
    let mut args = vec![STORE_MODE.to_string()];
    args.extend(request.to_args());
    let reply = run_as_user(program, request.uid, request.gid, &args, Some(&input)).await?;
    decode_store_reply(&reply)
}

/// Runs the helper as `uid` and `gid` with `args`, writes `input` to its
/// standard input and returns its standard output.
async fn run_as_user(
    program: &Path,
    uid: u32,
    gid: u32,
    args: &[String],
    input: Option<&[u8]>,
) -> Result<Zeroizing<Vec<u8>>, CredsError> {
    let failed = |reason: String| {
        CredsError::new(format!(
            "cannot use the credential caches of uid {uid} as that user: {reason}"
        ))
    };
    let mut child = tokio::process::Command::new(program)
        .arg0("rgssd")
        .arg(HELPER_TOOL)
        .args(args)
        .uid(uid)
        .gid(gid)
        .env_clear()
        .env("HOME", "/")
        .current_dir("/")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(format!("cannot start {}: {e}", program.display())))?;
    let Some(stdout) = child.stdout.take() else {
        return Err(failed("the helper process has no output pipe".to_string()));
    };
    let stdin = child.stdin.take();

    // Room for any real ticket up front, so that growing the buffer leaves
    // no unzeroed copy of key material behind.
    let mut reply = Zeroizing::new(Vec::with_capacity(REPLY_CAPACITY));
    let exchange = async {
        if let (Some(mut stdin), Some(input)) = (stdin, input) {
            // A helper that fails early exits without reading its input, and
            // its reply gives the reason, so a broken pipe is not an error.
            let _ = stdin.write_all(input).await;
        }
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
    Ok(reply)
}

/// Encodes tickets for the store helper's input.
pub fn encode_credentials(credentials: &[Credential]) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut out = Zeroizing::new(Vec::with_capacity(REPLY_CAPACITY));
    for credential in credentials {
        let encoded =
            Zeroizing::new(file::encode_credential(credential).map_err(|e| e.to_string())?);
        let len = u32::try_from(encoded.len()).map_err(|_| "a ticket is too long".to_string())?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&encoded);
    }
    Ok(out)
}

/// Decodes the store helper's input.
pub fn decode_credentials(mut data: &[u8]) -> Result<Vec<Credential>, String> {
    let mut credentials = Vec::new();
    while !data.is_empty() {
        let (encoded, rest) = split_length_prefixed(data)?;
        credentials.push(
            file::decode_credential(encoded)
                .map_err(|e| format!("a ticket does not decode: {e}"))?,
        );
        data = rest;
    }
    Ok(credentials)
}

/// Splits a 32-bit big-endian length and that many bytes off `data`.
fn split_length_prefixed(data: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let Some((len, rest)) = data.split_first_chunk::<4>() else {
        return Err(format!("truncated length: {} bytes left", data.len()));
    };
    let len = u32::from_be_bytes(*len) as usize;
    if rest.len() < len {
        return Err(format!(
            "truncated field: {len} bytes expected, {} left",
            rest.len()
        ));
    }
    Ok(rest.split_at(len))
}

/// Encodes the helper's reply to a find request.
pub fn encode_reply(result: &Result<UserCredential, CredsError>) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(REPLY_CAPACITY));
    let (tag, cache, credential) = match result {
        Ok(UserCredential::ServiceTicket(ticket)) => (b'S', None, ticket),
        Ok(UserCredential::Tgt { tgt, cache }) => (b'T', Some(cache), tgt),
        Err(e) => {
            encode_error(&mut out, e);
            return out;
        }
    };
    let encoded = match file::encode_credential(credential) {
        Ok(encoded) => Zeroizing::new(encoded),
        Err(e) => {
            encode_error(
                &mut out,
                &CredsError::new(format!("cannot encode the ticket: {e}")),
            );
            return out;
        }
    };
    out.push(tag);
    if let Some(cache) = cache {
        let len = u32::try_from(cache.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(cache.as_bytes());
    }
    out.extend_from_slice(&encoded);
    out
}

fn encode_error(out: &mut Vec<u8>, error: &CredsError) {
    out.push(b'E');
    out.push(u8::from(error.expired));
    out.extend_from_slice(error.message.as_bytes());
}

fn invalid_reply(reason: String) -> CredsError {
    CredsError::new(format!(
        "invalid reply from the user cache helper: {reason}"
    ))
}

/// Decodes the `E` reply's expiry flag and message.
fn decode_error(rest: &[u8]) -> CredsError {
    match rest.split_first() {
        Some((0, message)) => CredsError {
            message: String::from_utf8_lossy(message).into_owned(),
            expired: false,
        },
        Some((1, message)) => CredsError {
            message: String::from_utf8_lossy(message).into_owned(),
            expired: true,
        },
        _ => invalid_reply("missing expiry flag".to_string()),
    }
}

/// Decodes the helper's reply to a find request: the credential, or the
/// helper's error.
pub fn decode_reply(data: &[u8]) -> Result<UserCredential, CredsError> {
    let decode = |encoded: &[u8]| {
        file::decode_credential(encoded)
            .map_err(|e| invalid_reply(format!("the ticket does not decode: {e}")))
    };
    match data.split_first() {
        Some((b'S', encoded)) => Ok(UserCredential::ServiceTicket(decode(encoded)?)),
        Some((b'T', rest)) => {
            let (cache, encoded) = split_length_prefixed(rest)
                .map_err(|e| invalid_reply(format!("the cache name: {e}")))?;
            let cache = String::from_utf8(cache.to_vec())
                .map_err(|_| invalid_reply("the cache name is not UTF-8".to_string()))?;
            Ok(UserCredential::Tgt {
                tgt: decode(encoded)?,
                cache,
            })
        }
        Some((b'E', rest)) => Err(decode_error(rest)),
        Some((tag, _)) => Err(invalid_reply(format!("unknown tag byte {tag:#04x}"))),
        None => Err(invalid_reply("empty reply".to_string())),
    }
}

/// Encodes the helper's reply to a store request.
pub fn encode_store_reply(result: &Result<(), CredsError>) -> Vec<u8> {
    let mut out = Vec::new();
    match result {
        Ok(()) => out.push(b'K'),
        Err(e) => encode_error(&mut out, e),
    }
    out
}

/// Decodes the helper's reply to a store request.
pub fn decode_store_reply(data: &[u8]) -> Result<(), CredsError> {
    match data.split_first() {
        Some((b'K', [])) => Ok(()),
        Some((b'E', rest)) => Err(decode_error(rest)),
        Some((tag, _)) => Err(invalid_reply(format!("unknown tag byte {tag:#04x}"))),
        None => Err(invalid_reply("empty reply".to_string())),
    }
}

/// Runs the helper side: checks that the process runs as the requested
/// uid, joins a new session keyring, then looks for the credential or
/// stores the tickets read from `stdin`, and writes the reply to
/// `stdout`. Returns the exit status.
pub fn run_helper(args: &[String], stdin: &mut dyn Read, stdout: &mut dyn Write) -> i32 {
    let reply = match args.split_first() {
        Some((mode, rest)) if mode == FIND_MODE => encode_reply(&run_find(rest)),
        Some((mode, rest)) if mode == STORE_MODE => {
            Zeroizing::new(encode_store_reply(&run_store(rest, stdin)))
        }
        _ => Zeroizing::new(encode_store_reply(&Err(CredsError::new(format!(
            "invalid user cache helper request: the first argument must be {FIND_MODE} or {STORE_MODE}"
        ))))),
    };
    match stdout.write_all(&reply).and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        Err(_) => crate::tools::FAILURE,
    }
}

fn run_find(args: &[String]) -> Result<UserCredential, CredsError> {
    let request = UserCacheRequest::from_args(args).map_err(|reason| {
        CredsError::new(format!("invalid user cache helper request: {reason}"))
    })?;
    check_identity(request.uid, request.gid)?;
    // Without keyring support only KEYRING caches fail, later.
    let _ = ccache::keyring::start_login_session();
    request.find_here()
}

fn run_store(args: &[String], stdin: &mut dyn Read) -> Result<(), CredsError> {
    let request = StoreRequest::from_args(args).map_err(|reason| {
        CredsError::new(format!("invalid user cache helper request: {reason}"))
    })?;
    check_identity(request.uid, request.gid)?;
    let mut input = Zeroizing::new(Vec::with_capacity(REPLY_CAPACITY));
    stdin
        .take(MAX_REPLY_LEN)
        .read_to_end(&mut input)
        .map_err(|e| CredsError::new(format!("reading the tickets to store failed: {e}")))?;
    let credentials = decode_credentials(&input)
        .map_err(|e| CredsError::new(format!("invalid tickets for the user cache helper: {e}")))?;
    let _ = ccache::keyring::start_login_session();
    request.store_here(&credentials)
}

/// Rejects the request unless the real and effective uid and gid are
/// the requested ones and no supplementary group is left.
fn check_identity(uid: u32, gid: u32) -> Result<(), CredsError> {
    use nix::unistd::{getegid, geteuid, getgid, getgroups, getuid};
    let uids = (getuid().as_raw(), geteuid().as_raw());
    let gids = (getgid().as_raw(), getegid().as_raw());
    let groups = getgroups().map(|g| g.len()).unwrap_or(usize::MAX);
    if uids != (uid, uid) || gids != (gid, gid) || groups != 0 {
        return Err(CredsError {
            message: format!(
                "the user cache helper runs as uid {uids:?}, gid {gids:?} with {groups} groups, not as uid {uid} gid {gid}; it must be started by rgssd gssd"
            ),
            expired: false,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use krb5::crypto::Key;

    use super::*;

    fn request() -> UserCacheRequest {
        UserCacheRequest {
            uid: 1001,
            gid: 100,
            now: 1_700_000_000,
            skip_machine_caches: true,
            kcm_socket: Some("/run/kcm".into()),
            default_name: Some("KEYRING:persistent:1001".into()),
            preferred_realm: None,
            query: None,
            dirs: vec!["/tmp".into(), "/run/user/1001".into()],
        }
    }

    fn ticket(server: &str) -> Credential {
        Credential {
            client: Principal::parse("alice@EXAMPLE.TEST", None).unwrap(),
            server: Principal::parse(server, None).unwrap(),
            session_key: Key::from_raw(18, vec![7; 32]),
            authtime: 1_700_000_000,
            starttime: 1_700_000_000,
            endtime: 1_700_036_000,
            renew_till: 0,
            is_skey: false,
            flags: 0,
            addresses: Vec::new(),
            authdata: Vec::new(),
            ticket: vec![0x61, 0x03, 0x02, 0x01, 0x05],
            second_ticket: Vec::new(),
        }
    }

    #[test]
    fn request_arguments_round_trip() {
        let request = request();
        let args = request.to_args();
        assert_eq!(UserCacheRequest::from_args(&args), Ok(request));

        let with_service = UserCacheRequest {
            query: Some(TicketQuery {
                service: Principal::host_service("nfs", "server.example.test", "EXAMPLE.TEST"),
                enctypes: vec![20, 18, 17],
            }),
            ..self::request()
        };
        let decoded = UserCacheRequest::from_args(&with_service.to_args()).unwrap();
        let query = decoded.query.unwrap();
        assert_eq!(
            query.service.to_string(),
            "nfs/server.example.test@EXAMPLE.TEST"
        );
        assert_eq!(query.enctypes, vec![20, 18, 17]);
    }

    #[test]
    fn request_arguments_invalid() {
        let args: Vec<String> = ["x", "1", "2", "0", "", "", "", "", ""]
            .map(String::from)
            .to_vec();
        let err = UserCacheRequest::from_args(&args).unwrap_err();
        assert!(err.contains("invalid uid \"x\""), "{err}");
        assert!(UserCacheRequest::from_args(&args[..3]).is_err());

        let mut args = request().to_args();
        args[7] = "nfs/server@EXAMPLE.TEST".into();
        args[8] = "18,aes".into();
        let err = UserCacheRequest::from_args(&args).unwrap_err();
        assert!(err.contains("invalid enctype \"aes\""), "{err}");
    }

    #[test]
    fn store_arguments_round_trip() {
        let request = StoreRequest {
            uid: 1001,
            gid: 100,
            kcm_socket: None,
            cache: "DIR::/run/user/1001/krb5cc/tktAbC".into(),
        };
        assert_eq!(StoreRequest::from_args(&request.to_args()), Ok(request));
        let err = StoreRequest::from_args(&["1".to_string()]).unwrap_err();
        assert!(err.contains("expected 4 arguments"), "{err}");
    }

    #[test]
    fn credentials_round_trip() {
        let tickets = vec![
            ticket("krbtgt/OTHER.TEST@EXAMPLE.TEST"),
            ticket("nfs/server@OTHER.TEST"),
        ];
        let encoded = encode_credentials(&tickets).unwrap();
        assert_eq!(decode_credentials(&encoded), Ok(tickets));
        assert_eq!(decode_credentials(&[]), Ok(Vec::new()));
        let err = decode_credentials(&encoded[..encoded.len() - 1]).unwrap_err();
        assert!(err.contains("truncated field"), "{err}");
    }

    #[test]
    fn replies_round_trip() {
        let found = [
            UserCredential::ServiceTicket(ticket("nfs/server@EXAMPLE.TEST")),
            UserCredential::Tgt {
                tgt: ticket("krbtgt/EXAMPLE.TEST@EXAMPLE.TEST"),
                cache: "KCM:1001:42".into(),
            },
        ];
        for credential in found {
            let reply = encode_reply(&Ok(credential.clone()));
            assert_eq!(decode_reply(&reply), Ok(credential));
        }
        let error = CredsError {
            message: "no cache".into(),
            expired: true,
        };
        let reply = encode_reply(&Err(error.clone()));
        assert_eq!(decode_reply(&reply), Err(error.clone()));
        assert_eq!(decode_store_reply(&encode_store_reply(&Ok(()))), Ok(()));
        let reply = encode_store_reply(&Err(error.clone()));
        assert_eq!(decode_store_reply(&reply), Err(error));
    }

    #[test]
    fn reply_malformed() {
        let find_replies = [
            &b""[..],
            b"E",
            b"E\x02x",
            b"X",
            b"S\x00\x01",
            b"T\x00\x00",
            b"T\x00\x00\x00\x09KCM:",
            b"T\x00\x00\x00\x01\xff",
        ];
        for bad in find_replies {
            let err = decode_reply(bad).unwrap_err();
            assert!(!err.expired, "{bad:?}");
            assert!(err.message.contains("invalid reply"), "{bad:?}: {err}");
        }
        for bad in [&b""[..], b"K\x00", b"E", b"T"] {
            let err = decode_store_reply(bad).unwrap_err();
            assert!(err.message.contains("invalid reply"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn helper_rejects_wrong_identity() {
        let find = UserCacheRequest {
            uid: 4_000_000_000,
            gid: 4_000_000_000,
            ..request()
        };
        let mut args = vec![FIND_MODE.to_string()];
        args.extend(find.to_args());
        let mut out = Vec::new();
        assert_eq!(run_helper(&args, &mut std::io::empty(), &mut out), 0);
        let err = decode_reply(&out).unwrap_err();
        assert!(
            err.message.contains("must be started by rgssd gssd"),
            "{err}"
        );

        let store = StoreRequest {
            uid: 4_000_000_000,
            gid: 4_000_000_000,
            kcm_socket: None,
            cache: "FILE:/tmp/krb5cc_4000000000".into(),
        };
        let mut args = vec![STORE_MODE.to_string()];
        args.extend(store.to_args());
        let mut out = Vec::new();
        assert_eq!(run_helper(&args, &mut std::io::empty(), &mut out), 0);
        let err = decode_store_reply(&out).unwrap_err();
        assert!(
            err.message.contains("must be started by rgssd gssd"),
            "{err}"
        );
    }

    #[test]
    fn helper_rejects_unknown_mode() {
        let mut out = Vec::new();
        let args = vec!["1001".to_string()];
        assert_eq!(run_helper(&args, &mut std::io::empty(), &mut out), 0);
        let err = decode_store_reply(&out).unwrap_err();
        assert!(err.message.contains("must be find or store"), "{err}");
    }
}
