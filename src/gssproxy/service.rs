//! The gss-proxy RPC service: each call on the socket is decoded, its token
//! accepted through the same [`Server`] as the procfs channel, and the
//! result encoded for the kernel.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use krb5::gss::status::{major, GssError};
use log::{debug, info, warn};
use tokio::io::AsyncReadExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use super::gssx::{self, AcceptArgs, AcceptResult, Ctx, LinuxCreds, Name, Status};
use crate::mech::Rejected;
use crate::rpc::record;
use crate::rpc::server::{accepted_reply, rpc_mismatch_reply, Call, CallError, Reply};
use crate::svcgssd::handler::{AcceptedClient, Server};

/// The socket path the kernel connects to (gss_rpc_upcall.c, Linux 6.12).
pub const DEFAULT_SOCKET: &str = "/var/run/gssproxy.sock";

/// The largest call taken from the socket. The kernel sends the client's
/// token whole, and tokens with a large PAC reach tens of KiB; this bound
/// only keeps a broken peer from exhausting memory.
pub const MAX_CALL_LEN: usize = 4 * 1024 * 1024;

/// Calls handled at once across all connections.
const WORKERS: usize = 8;

/// Handles one call message and returns the reply message. Returns `None`,
/// after logging why, for a message that is not a well-formed call.
pub fn handle_message(server: &Server, message: &[u8], now: (i64, u32)) -> Option<Vec<u8>> {
    let call = match Call::decode(message) {
        Ok(call) => call,
        Err(CallError::RpcVersion { xid, version }) => {
            warn!("gss-proxy call {xid:#x} uses RPC version {version}; replying RPC_MISMATCH");
            return Some(rpc_mismatch_reply(xid));
        }
        Err(CallError::NotACall { xid, msg_type }) => {
            warn!("ignoring gss-proxy message {xid:#x} of type {msg_type}, which is not a call");
            return None;
        }
        Err(CallError::Decode(e)) => {
            warn!(
                "ignoring a malformed gss-proxy message of {} bytes: {e}",
                message.len()
            );
            return None;
        }
    };

    if call.program != gssx::PROGRAM {
        warn!(
            "gss-proxy call {:#x} is for program {}, not {}; replying PROG_UNAVAIL",
            call.xid,
            call.program,
            gssx::PROGRAM
        );
        return Some(accepted_reply(call.xid, Reply::ProgramUnavailable, &[]));
    }
    if call.version != gssx::VERSION {
        warn!(
            "gss-proxy call {:#x} asks for version {}; replying PROG_MISMATCH",
            call.xid, call.version
        );
        let mismatch = Reply::ProgramMismatch {
            low: gssx::VERSION,
            high: gssx::VERSION,
        };
        return Some(accepted_reply(call.xid, mismatch, &[]));
    }
    match call.procedure {
        0 => Some(accepted_reply(call.xid, Reply::Success, &[])),
        gssx::PROC_ACCEPT_SEC_CONTEXT => Some(accept_call(server, &call, now)),
        other => {
            warn!(
                "gss-proxy call {:#x} asks for procedure {other}; only ACCEPT_SEC_CONTEXT ({}) is served, replying PROC_UNAVAIL",
                call.xid,
                gssx::PROC_ACCEPT_SEC_CONTEXT
            );
            Some(accepted_reply(call.xid, Reply::ProcedureUnavailable, &[]))
        }
    }
}

fn accept_call(server: &Server, call: &Call<'_>, now: (i64, u32)) -> Vec<u8> {
    let args = match AcceptArgs::decode(call.args) {
        Ok(args) => args,
        Err(e) => {
            warn!(
                "gss-proxy call {:#x}: invalid ACCEPT_SEC_CONTEXT arguments: {e}; replying GARBAGE_ARGS",
                call.xid
            );
            return accepted_reply(call.xid, Reply::GarbageArgs, &[]);
        }
    };

    let result = accept_result(server, &args, now);
    if result.status.major_status == u64::from(major::COMPLETE) {
        debug!("gss-proxy call {:#x}: context complete", call.xid);
    }
    match result.encode() {
        Ok(body) => accepted_reply(call.xid, Reply::Success, &body),
        Err(e) => {
            warn!(
                "gss-proxy call {:#x}: cannot encode the result: {e}",
                call.xid
            );
            let failure =
                failure_result(&GssError::new(major::FAILURE, 0, e.to_string()), Vec::new());
            let body = failure.encode().unwrap_or_default();
            accepted_reply(call.xid, Reply::Success, &body)
        }
    }
}

/// Accepts the token in `args` and builds the result, logging the outcome.
fn accept_result(server: &Server, args: &AcceptArgs, now: (i64, u32)) -> AcceptResult {
    let rejected = |error: GssError| {
        warn!("gss-proxy: rejected a context: {error}");
        failure_result(&error, Vec::new())
    };
    if args.context_handle.is_some() {
        return rejected(GssError::new(
            major::NO_CONTEXT,
            0,
            "a context handle was passed, but krb5 contexts complete in one round trip and none was handed out",
        ));
    }
    if args.cred_handle.is_some() {
        return rejected(GssError::new(
            major::NO_CRED,
            0,
            "credential handles are not supported; the acceptor uses its keytab",
        ));
    }
    if args.input_cb.is_some() {
        return rejected(GssError::new(
            major::BAD_BINDINGS,
            0,
            "channel bindings are not supported on the gss-proxy socket",
        ));
    }
    if !args.call_ctx.wants_lucid_context() {
        return rejected(GssError::new(
            major::FAILURE,
            0,
            "the call does not ask for exported_context_type linux_lucid_v1, the only context format served",
        ));
    }

    match server.accept(&args.input_token, now) {
        Ok(client) => {
            info!(
                "gss-proxy: {}, expires at {}",
                client.describe(),
                client.context.endtime()
            );
            success_result(&client, args.call_ctx.wants_linux_creds(), now)
        }
        Err(Rejected {
            error,
            output_token,
        }) => {
            warn!("gss-proxy: rejected a context: {error}");
            failure_result(&error, output_token.unwrap_or_default())
        }
    }
}

fn success_result(client: &AcceptedClient, with_creds: bool, now: (i64, u32)) -> AcceptResult {
    let context = &client.context;
    let mech = client.mechanism.oid().to_vec();
    let lifetime = (i64::from(context.endtime()) - now.0).max(0);
    let mut options = Vec::new();
    if with_creds {
        let identity = &client.identity;
        let creds = LinuxCreds {
            uid: kernel_id(identity.uid),
            gid: kernel_id(identity.gid),
            groups: identity.groups.clone(),
        };
        match creds.to_option() {
            Ok(option) => options.push(option),
            Err(e) => {
                let error = GssError::new(major::FAILURE, 0, e.to_string());
                warn!("gss-proxy: rejected a context: {error}");
                return failure_result(&error, Vec::new());
            }
        }
    }

    AcceptResult {
        status: Status {
            major_status: u64::from(major::COMPLETE),
            mech: mech.clone(),
            ..Status::default()
        },
        context_handle: Some(Ctx {
            exported_context_token: client.exported.to_vec(),
            mech,
            src_name: display_name(&context.initiator_name().to_string()),
            targ_name: display_name(&context.acceptor_name().to_string()),
            lifetime: lifetime as u64,
            ctx_flags: u64::from(context.flags()),
            open: true,
            ..Ctx::default()
        }),
        // Always present, even when empty: the kernel's reader leaves its
        // token buffer unset when the field is absent.
        output_token: Some(client.output_token.clone()),
        options,
    }
}

fn failure_result(error: &GssError, output_token: Vec<u8>) -> AcceptResult {
    AcceptResult {
        status: Status {
            major_status: u64::from(error.major),
            minor_status: u64::from(error.minor),
            minor_status_string: error.message.clone().into_bytes(),
            ..Status::default()
        },
        context_handle: None,
        output_token: Some(output_token),
        options: Vec::new(),
    }
}

/// Converts a mapped id to the kernel's 32-bit form. An unmapped client
/// has uid and gid -1, which become 4294967295, the id the kernel treats as
/// invalid and replaces with the export's anonymous user.
fn kernel_id(id: i64) -> u32 {
    u32::try_from(id).unwrap_or(u32::MAX)
}

/// Returns `principal` as a gssx name. A name longer than the kernel's
/// buffer would make the kernel fail the whole call, so it is sent empty
/// instead: the kernel keeps only service principals' names, as the
/// identity of NFSv4.0 callbacks, and an empty name only loses that.
fn display_name(principal: &str) -> Name {
    let mut display_name = principal.as_bytes().to_vec();
    if display_name.len() > gssx::kernel_limit::PRINCIPAL {
        warn!(
            "gss-proxy: the name of {} bytes is longer than the kernel's {}-byte limit, so it is sent empty: {}...",
            display_name.len(),
            gssx::kernel_limit::PRINCIPAL,
            principal.chars().take(64).collect::<String>()
        );
        display_name.clear();
    }
    Name {
        display_name,
        ..Name::default()
    }
}

/// Binds the listening socket at `path`, replacing a stale socket file left
/// by a crashed server, and restricts it to root, the only peer the kernel
/// connects as. Fails if another server still listens there.
pub fn bind_socket(path: &Path) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "another server is listening on {}; stop gssproxy or the other rgssd first",
                        path.display()
                    ),
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket; remove it or choose another socket path",
                    path.display()
                ),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// The source of the server for each call: a reload may replace it.
pub type ServerSource = Arc<dyn Fn() -> Arc<Server> + Send + Sync>;

/// Accepts connections on `listener` and serves them until the listener
/// fails or `shutdown` turns true. After shutdown no connection or call is
/// taken any more. A call counts as in flight from its first byte until its
/// reply is written, and `in_flight` counts those calls. Once every call in
/// flight has its reply, `serve` returns `Ok`.
pub async fn serve(
    server: ServerSource,
    listener: UnixListener,
    shutdown: watch::Receiver<bool>,
    in_flight: Arc<AtomicUsize>,
) -> io::Result<()> {
    let workers = Arc::new(Semaphore::new(WORKERS));
    let mut connections = JoinSet::new();
    let mut stop = shutdown.clone();
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                info!("gss-proxy: the kernel connected");
                let connection = Connection {
                    server: Arc::clone(&server),
                    workers: Arc::clone(&workers),
                    shutdown: shutdown.clone(),
                    in_flight: Arc::clone(&in_flight),
                };
                connections.spawn(async move {
                    match connection.serve(stream).await {
                        Ok(()) => info!("gss-proxy: a connection closed"),
                        Err(e) => warn!("gss-proxy: a connection failed: {e}"),
                    }
                });
            }
        }
    }
    drop(listener);
    let open = connections.len();
    if open > 0 {
        info!(
            "gss-proxy: taking no more calls; finishing the calls in flight on {open} connections"
        );
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Waits until `shutdown` turns true; without a sender left, forever.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// One call in flight, counted in the shared counter until dropped.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn start(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(counter))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The shared state that one connection uses.
struct Connection {
    server: ServerSource,
    workers: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
    in_flight: Arc<AtomicUsize>,
}

impl Connection {
    /// Reads calls and replies to each as soon as it is done. The kernel
    /// sends several calls at once on one connection, each with its own
    /// xid, so replies may leave in another order than the calls came.
    /// After shutdown a call whose first bytes have arrived is still read
    /// and gets its reply, and no later one is read.
    async fn serve(mut self, stream: UnixStream) -> io::Result<()> {
        let (mut reader, writer) = stream.into_split();
        let (replies, outbox) = mpsc::channel::<(Vec<u8>, InFlight)>(WORKERS * 2);
        let writer_task = tokio::spawn(write_replies(writer, outbox));

        let read = self.read_calls(&mut reader, &replies).await;
        // The calls already read still get their replies, also after a read
        // error, before the connection counts as closed.
        drop(replies);
        let written = match writer_task.await {
            Ok(result) => result,
            Err(e) => Err(io::Error::other(e)),
        };
        read.and(written)
    }

    /// Reads calls until the end of the stream or shutdown and starts a
    /// handler for each, which sends its reply to `replies`.
    async fn read_calls(
        &mut self,
        reader: &mut OwnedReadHalf,
        replies: &mpsc::Sender<(Vec<u8>, InFlight)>,
    ) -> io::Result<()> {
        while let Some(first) = self.first_byte(reader).await? {
            let call = InFlight::start(&self.in_flight);
            let mut rest = (&first[..]).chain(&mut *reader);
            let Some(message) = record::read_record(&mut rest, MAX_CALL_LEN).await? else {
                break;
            };
            let Ok(permit) = Arc::clone(&self.workers).acquire_owned().await else {
                break;
            };
            let server = (self.server)();
            let replies = replies.clone();
            tokio::spawn(async move {
                let now = crate::mech::now();
                let reply =
                    tokio::task::spawn_blocking(move || handle_message(&server, &message, now))
                        .await;
                drop(permit);
                match reply {
                    Ok(Some(reply)) => {
                        let _ = replies.send((reply, call)).await;
                    }
                    Ok(None) => {}
                    Err(e) => warn!("gss-proxy: a call handler failed: {e}"),
                }
            });
        }
        Ok(())
    }
}

impl Connection {
    /// Waits for the first byte of the next call and returns it, or `None`
    /// at the end of the stream or after shutdown. A byte that arrived
    /// before shutdown still starts a call.
    async fn first_byte(&mut self, reader: &mut OwnedReadHalf) -> io::Result<Option<[u8; 1]>> {
        loop {
            let stopping = tokio::select! {
                biased;
                ready = reader.readable() => {
                    ready?;
                    false
                }
                () = stopped(&mut self.shutdown) => true,
            };
            let mut first = [0u8; 1];
            // Readiness may be spurious, so only a byte read starts a call.
            match reader.try_read(&mut first) {
                Ok(0) => return Ok(None),
                Ok(_) => return Ok(Some(first)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if stopping {
                return Ok(None);
            }
        }
    }
}

/// Writes the replies; each call stops counting as in flight once its
/// reply is written, or fails to be.
async fn write_replies(
    mut writer: OwnedWriteHalf,
    mut outbox: mpsc::Receiver<(Vec<u8>, InFlight)>,
) -> io::Result<()> {
    while let Some((reply, _call)) = outbox.recv().await {
        record::write_record(&mut writer, &reply).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
