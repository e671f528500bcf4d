//! `rgssd svcgssd` (also called as `rpc.svcgssd`): the server side of
//! RPCSEC_GSS context creation over the kernel's procfs cache channels.
//!
//! knfsd writes each RPCSEC_GSS_INIT token to
//! `/proc/net/rpc/auth.rpcsec.init/channel`. The daemon accepts it with the
//! keytab, maps the client principal to local ids, writes the context to
//! `auth.rpcsec.context/channel` and the reply to the init channel.

pub mod channel;
pub mod handler;
mod proxy;

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, RwLock};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use krb5::config::Config;
use krb5::gss::replay::ReplayCache;
use krb5::keytab::Keytab;
use krb5::Principal;
use log::{debug, error, info, warn};
use tokio::sync::watch;

use crate::idmap::IdmapdMapper;
use crate::kernel::rpcsec::InitRequest;
use crate::mech::AcceptorCredential;
use crate::tools::getopt::{self, HasArg, LongOption, OptionId};
use crate::tools::{defaults, Invocation, FAILURE};
use channel::Channels;
use handler::{HandleAllocator, Server};

/// The number of requests handled at once.
const WORKERS: usize = 8;

/// Command-line settings, with rpc.svcgssd's letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub foreground: bool,
    pub verbosity: u8,
    pub rpc_verbosity: u8,
    pub idmap_verbosity: u8,
    /// `-n`: accept tickets for any principal in the keytab.
    pub any_principal: bool,
    /// `-p`: accept tickets for this principal only.
    pub principal: Option<String>,
    /// `--proc-dir`: where the channels are, for tests; `/proc/net/rpc` by default.
    pub proc_dir: PathBuf,
    /// `--mode`: which kernel interface to serve.
    pub mode: Mode,
    /// `--socket`: the gss-proxy socket, `/var/run/gssproxy.sock` by default.
    pub socket: PathBuf,
}

/// The kernel interface the daemon serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// gss-proxy where the kernel offers `use-gss-proxy`, else the procfs channel.
    Auto,
    /// The procfs channel only, as rpc.svcgssd.
    Legacy,
    /// gss-proxy, waiting for `use-gss-proxy` to appear.
    Proxy,
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "auto" => Ok(Mode::Auto),
            "legacy" => Ok(Mode::Legacy),
            "proxy" => Ok(Mode::Proxy),
            _ => Err(format!("invalid mode {text:?}; use auto, legacy or proxy")),
        }
    }
}

/// The option letters the parser accepts, in getopt's syntax.
pub const SHORT_OPTIONS: &str = "fvrinp:h";

/// The long options the parser accepts.
pub const LONG_OPTIONS: &[LongOption] = &[
    LongOption {
        name: "proc-dir",
        has_arg: HasArg::Required,
        id: OptionId::Long("proc-dir"),
    },
    LongOption {
        name: "mode",
        has_arg: HasArg::Required,
        id: OptionId::Long("mode"),
    },
    LongOption {
        name: "socket",
        has_arg: HasArg::Required,
        id: OptionId::Long("socket"),
    },
];

const USAGE: &str = "usage: rpc.svcgssd [-f] [-v] [-r] [-i] [-n] [-p principal] [--mode auto|legacy|proxy]\n                   [--socket PATH] [--proc-dir DIR]";

impl Options {
    /// Reads the defaults from nfs.conf's `[svcgssd]` section with
    /// rpc.svcgssd's key names: `principal` (`system` for any keytab
    /// principal, as `-n`), `verbosity`, `rpc-verbosity`, `idmap-verbosity`,
    /// and rgssd's own `mode` and `socket`. An invalid `mode` is logged by
    /// the caller through [`Options::nfs_conf_warnings`] and means `auto`.
    pub fn from_nfs_conf(conf: &crate::config::Config) -> Self {
        let level =
            |key: &str| u8::try_from(conf.get_num("svcgssd", key, 0).max(0)).unwrap_or(u8::MAX);
        let principal = conf.get_str("svcgssd", None, "principal");
        Self {
            foreground: false,
            verbosity: level("verbosity"),
            rpc_verbosity: level("rpc-verbosity"),
            idmap_verbosity: level("idmap-verbosity"),
            any_principal: principal.as_deref() == Some("system"),
            principal: principal.filter(|p| p != "system"),
            proc_dir: PathBuf::from("/proc/net/rpc"),
            mode: conf
                .get_str("svcgssd", None, "mode")
                .and_then(|m| m.parse().ok())
                .unwrap_or(Mode::Auto),
            socket: conf
                .get_str("svcgssd", None, "socket")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(crate::gssproxy::service::DEFAULT_SOCKET)),
        }
    }

    /// Returns warnings about `[svcgssd]` values that [`Options::from_nfs_conf`]
    /// replaced with defaults.
    pub fn nfs_conf_warnings(conf: &crate::config::Config) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(mode) = conf.get_str("svcgssd", None, "mode") {
            if let Err(e) = mode.parse::<Mode>() {
                warnings.push(format!("nfs.conf [svcgssd] mode: {e}; using auto"));
            }
        }
        warnings
    }
}

/// Parses the command line over `base` (nfs.conf's settings).
pub fn parse_args(program: &str, args: &[String], base: Options) -> Result<Options, Vec<String>> {
    let parsed = getopt::parse(program, args, SHORT_OPTIONS, LONG_OPTIONS);
    let mut errors = parsed.errors;
    let mut options = base;
    for (id, value) in parsed.options {
        match (id, value) {
            (OptionId::Short('f'), _) => options.foreground = true,
            (OptionId::Short('v'), _) => options.verbosity = options.verbosity.saturating_add(1),
            (OptionId::Short('r'), _) => {
                options.rpc_verbosity = options.rpc_verbosity.saturating_add(1)
            }
            (OptionId::Short('i'), _) => {
                options.idmap_verbosity = options.idmap_verbosity.saturating_add(1)
            }
            (OptionId::Short('n'), _) => {
                options.any_principal = true;
                options.principal = None;
            }
            (OptionId::Short('p'), Some(p)) => {
                options.principal = Some(p);
                options.any_principal = false;
            }
            (OptionId::Long("proc-dir"), Some(dir)) => options.proc_dir = PathBuf::from(dir),
            (OptionId::Long("mode"), Some(mode)) => match mode.parse() {
                Ok(mode) => options.mode = mode,
                Err(e) => errors.push(format!("{program}: {e}")),
            },
            (OptionId::Long("socket"), Some(path)) => options.socket = PathBuf::from(path),
            (OptionId::Short('h'), _) => errors.push(String::new()),
            _ => {}
        }
    }
    if !parsed.operands.is_empty() {
        errors.push(format!(
            "{program}: unexpected argument {:?}",
            parsed.operands[0]
        ));
    }
    if errors.is_empty() {
        Ok(options)
    } else {
        Err(errors)
    }
}

/// Runs the daemon; returns only on a startup failure.
pub fn run(invocation: &mut Invocation<'_>) -> i32 {
    let program = invocation.program.clone();
    let nfs_conf = crate::config::Config::load(crate::config::NFS_CONF);
    let base = Options::from_nfs_conf(&nfs_conf);
    let options = match parse_args(&program, &invocation.args, base) {
        Ok(options) => options,
        Err(errors) => return invocation.usage_failure(&errors, USAGE),
    };
    let to_syslog = crate::logging::init(&program, options.verbosity, options.foreground);
    for warning in nfs_conf.warnings() {
        warn!("{warning}");
    }
    for warning in Options::nfs_conf_warnings(&nfs_conf) {
        warn!("{warning}");
    }
    if let Err(message) = crate::hardening::forbid_core_dumps_and_tracing() {
        error!("{message}");
        return FAILURE;
    }

    let server = match build_server(&options) {
        Ok(server) => server,
        Err(message) => {
            error!("{message}");
            if to_syslog {
                let _ = writeln_err(invocation, &format!("{program}: {message}"));
            }
            return FAILURE;
        }
    };

    if !options.foreground {
        if let Err(e) = nix::unistd::daemon(false, false) {
            error!("cannot run in the background: {e}");
            return FAILURE;
        }
    }
    let signals = match block_signals() {
        Ok(signals) => signals,
        Err(e) => {
            error!("cannot handle signals: {e}");
            return FAILURE;
        }
    };
    let channels = Channels::under(&options.proc_dir);
    let shared = Arc::new(RwLock::new(Arc::new(server)));
    let (stop, stop_signal) = match StopState::new() {
        Ok(pair) => pair,
        Err(e) => {
            error!("cannot create the stop pipe: {e}");
            return FAILURE;
        }
    };
    let handler = SignalHandler {
        program,
        args: invocation.args.clone(),
        server: Arc::clone(&shared),
        stop: stop.clone(),
        stop_signal,
    };
    std::thread::spawn(move || handler.run(signals));
    if let Some(status) = proxy::run(&shared, &options, &stop) {
        return status;
    }
    serve(&shared, &channels, &stop)
}

/// The stop state that the request readers share with the signal thread.
#[derive(Clone)]
struct StopState {
    /// Requests read, or being read, and not yet completed.
    pending: Arc<AtomicUsize>,
    /// Set on SIGTERM or SIGINT, after which no request is read.
    stopping: Arc<AtomicBool>,
    /// Becomes readable on SIGTERM or SIGINT, to end the procfs reader's poll.
    wake: Arc<OwnedFd>,
    /// Turns true on SIGTERM or SIGINT, for the gss-proxy service.
    shutdown: watch::Receiver<bool>,
    /// True while the gss-proxy service runs. It returns once its calls in
    /// flight have their replies.
    socket_serving: Arc<AtomicBool>,
}

/// The signal thread's side of [`StopState`].
struct StopSignal {
    wake: OwnedFd,
    shutdown: watch::Sender<bool>,
}

impl StopState {
    fn new() -> nix::Result<(Self, StopSignal)> {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let (sender, receiver) = watch::channel(false);
        let state = Self {
            pending: Arc::new(AtomicUsize::new(0)),
            stopping: Arc::new(AtomicBool::new(false)),
            wake: Arc::new(read),
            shutdown: receiver,
            socket_serving: Arc::new(AtomicBool::new(false)),
        };
        let signal = StopSignal {
            wake: write,
            shutdown: sender,
        };
        Ok((state, signal))
    }

    /// Returns true while a request is in progress or the gss-proxy
    /// service has calls in flight.
    fn busy(&self) -> bool {
        self.pending.load(Ordering::SeqCst) > 0 || self.socket_serving.load(Ordering::SeqCst)
    }
}

/// Blocks SIGHUP, SIGTERM and SIGINT in this thread and the threads it
/// starts later, and returns a descriptor that reads them instead.
fn block_signals() -> nix::Result<SignalFd> {
    let mut set = SigSet::empty();
    for signal in [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGINT] {
        set.add(signal);
    }
    set.thread_block()?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC)
}

/// The thread that acts on signals: SIGHUP reloads the keytab and the
/// settings, SIGTERM and SIGINT stop the daemon once the requests in
/// progress are completed.
struct SignalHandler {
    program: String,
    args: Vec<String>,
    server: Arc<RwLock<Arc<Server>>>,
    stop: StopState,
    stop_signal: StopSignal,
}

impl SignalHandler {
    fn run(self, signals: SignalFd) {
        loop {
            let signal = match signals.read_signal() {
                Ok(Some(info)) => info.ssi_signo,
                Ok(None) => continue,
                Err(e) => {
                    error!("reading signals failed: {e}");
                    return;
                }
            };
            if signal == Signal::SIGHUP as u32 {
                self.reload();
            } else {
                self.stop(&signals, signal);
            }
        }
    }

    /// Re-reads nfs.conf, the command line over it, krb5.conf and the
    /// keytab. The replay cache and the handle counter carry over.
    fn reload(&self) {
        info!("SIGHUP: reloading the keytab and the settings");
        let nfs_conf = crate::config::Config::load(crate::config::NFS_CONF);
        let options = match parse_args(&self.program, &self.args, Options::from_nfs_conf(&nfs_conf))
        {
            Ok(options) => options,
            Err(errors) => {
                error!(
                    "reload failed, keeping the old settings: {}",
                    errors.join("; ")
                );
                return;
            }
        };
        match build_server(&options) {
            Ok(mut server) => {
                let mut current = self.server.write().unwrap_or_else(|e| e.into_inner());
                server.replay_cache = Arc::clone(&current.replay_cache);
                server.handles = Arc::clone(&current.handles);
                *current = Arc::new(server);
            }
            Err(e) => error!("reload failed, keeping the old settings: {e}"),
        }
    }

    /// Stops reading, waits up to [`SHUTDOWN_GRACE`] for the requests in
    /// progress on the procfs channel or the gss-proxy socket, then exits
    /// with status 0. A second signal exits at once.
    fn stop(&self, signals: &SignalFd, signal: u32) -> ! {
        let name = if signal == Signal::SIGINT as u32 {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        info!("{name}: stopping");
        self.stop.stopping.store(true, Ordering::SeqCst);
        if let Err(e) = nix::unistd::write(&self.stop_signal.wake, &[1]) {
            warn!("cannot wake the procfs reader: {e}");
        }
        self.stop_signal.shutdown.send_replace(true);
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while self.stop.busy() {
            if Instant::now() >= deadline {
                warn!(
                    "stopping with {} requests still in progress",
                    self.stop.pending.load(Ordering::SeqCst)
                );
                break;
            }
            let mut fds = [PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
            if poll(&mut fds, PollTimeout::from(20u16)).unwrap_or(0) > 0 {
                warn!("second signal: stopping at once");
                break;
            }
        }
        info!("stopped");
        std::process::exit(0)
    }
}

/// The maximum wait for requests in progress after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

fn writeln_err(invocation: &mut Invocation<'_>, text: &str) -> std::io::Result<()> {
    writeln!(invocation.stderr, "{text}")
}
/// Loads krb5.conf and the keytab and picks the acceptor principal.
fn build_server(options: &Options) -> Result<Server, String> {
    let config = Config::load().map_err(|e| format!("cannot load krb5.conf: {e}"))?;
    let keytab_name = defaults::keytab_name(&config).map_err(|e| e.to_string())?;
    let keytab = Keytab::load(&keytab_name).map_err(|e| {
        format!("{e}; create the keytab with kadmin's ktadd, or name another with KRB5_KTNAME")
    })?;
    if keytab.is_empty() {
        return Err(format!(
            "keytab {keytab_name} has no keys; add an nfs/HOST principal with ktadd"
        ));
    }

    let principal = if options.any_principal {
        None
    } else {
        let principal = match &options.principal {
            Some(name) => Principal::parse(name, config.default_realm())
                .map_err(|e| format!("invalid -p principal: {e}"))?,
            None => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the async runtime: {e}"))?;
                runtime
                    .block_on(defaults::local_host_principal(&config, "nfs"))
                    .map_err(|e| e.to_string())?
            }
        };
        if !keytab.principals().iter().any(|p| p.same_name(&principal)) {
            return Err(format!(
                "keytab {keytab_name} has no key for {principal}; add one, name another principal with -p, or accept any keytab principal with -n"
            ));
        }
        Some(principal)
    };
    match &principal {
        Some(p) => info!("accepting contexts for {p} with keys from {keytab_name}"),
        None => info!("accepting contexts for any principal in {keytab_name}"),
    }

    let clockskew = config
        .clockskew()
        .map_err(|e| e.to_string())?
        .as_secs()
        .try_into()
        .unwrap_or(i64::MAX);
    let enctypes = kernel_enctypes(&options.proc_dir);
    if enctypes.is_empty() {
        info!("the kernel lists no enctypes, so every enctype of the keytab is allowed");
    } else {
        info!("kernel enctypes: {enctypes:?}");
    }

    Ok(Server {
        credential: AcceptorCredential {
            keytab: Arc::new(keytab),
            principal,
        },
        replay_cache: Arc::new(ReplayCache::new()),
        enctypes,
        clockskew,
        mapper: Box::new(IdmapdMapper::from_system()),
        handles: Arc::new(
            HandleAllocator::new().map_err(|e| format!("cannot seed context handles: {e}"))?,
        ),
    })
}

/// Reads the kernel's enctype list, as rpc.svcgssd does, from
/// `/proc/fs/nfsd/supported_krb5_enctypes`, else from `gss_krb5_enctypes`
/// in the channel directory. An empty list allows every enctype.
fn kernel_enctypes(proc_dir: &std::path::Path) -> Vec<i32> {
    let candidates = [
        PathBuf::from("/proc/fs/nfsd/supported_krb5_enctypes"),
        proc_dir.join("gss_krb5_enctypes"),
    ];
    for path in candidates {
        if let Ok(text) = std::fs::read_to_string(&path) {
            let list: Vec<i32> = text
                .trim()
                .split(',')
                .filter_map(|e| e.trim().parse().ok())
                .collect();
            if !list.is_empty() {
                return list;
            }
        }
    }
    Vec::new()
}

/// Reads requests until SIGTERM or SIGINT and hands them to a pool of
/// workers.
fn serve(server: &Arc<RwLock<Arc<Server>>>, channels: &Channels, stop: &StopState) -> i32 {
    let pending = &stop.pending;
    let (sender, receiver) = mpsc::sync_channel::<Vec<u8>>(WORKERS * 4);
    let receiver = Arc::new(std::sync::Mutex::new(receiver));
    let mut last_oversized: Option<Instant> = None;

    let mut init = channel::open_init_channel(&channels.init, |attempt, e| {
        if attempt == 1 || attempt % 10 == 0 {
            warn!(
                "cannot open {}: {e}; is the auth_rpcgss module loaded? retrying",
                channels.init.display()
            );
        }
    });
    info!("listening on {}", channels.init.display());
    let mut reader = channel::RequestReader::new();

    for _ in 0..WORKERS {
        let server = Arc::clone(server);
        let receiver = Arc::clone(&receiver);
        let channels = channels.clone();
        let pending = Arc::clone(pending);
        let reply_file = match init.try_clone() {
            Ok(file) => file,
            Err(e) => {
                error!("cannot duplicate the init channel descriptor: {e}");
                return FAILURE;
            }
        };
        std::thread::spawn(move || worker(&server, &receiver, &channels, reply_file, &pending));
    }

    loop {
        // The read counts as pending before `stopping` is checked. So the
        // signal thread either finds it counted and waits for its request,
        // or sets `stopping` first and no read starts.
        pending.fetch_add(1, Ordering::SeqCst);
        if stop.stopping.load(Ordering::SeqCst) {
            pending.fetch_sub(1, Ordering::SeqCst);
            // The signal thread ends the process.
            std::thread::park();
            continue;
        }
        let read = reader.read(&mut init, stop.wake.as_fd(), Duration::from_secs(1));
        if !matches!(read, Ok(Some(_))) {
            pending.fetch_sub(1, Ordering::SeqCst);
        }
        match read {
            Ok(Some(request)) => {
                // The count taken for the read stays until a worker completes it.
                if sender.send(request).is_err() {
                    error!("all request workers have stopped");
                    return FAILURE;
                }
            }
            Ok(None) => {}
            Err(e) if channel::is_oversized_request(&e) => {
                // The kernel keeps the oversized request at the head of the
                // queue until it expires, so every read fails the same way
                // until then. One warning a minute is enough.
                let now = Instant::now();
                if last_oversized
                    .is_none_or(|last| now.duration_since(last) >= Duration::from_secs(60))
                {
                    warn!(
                        "a client's RPCSEC_GSS token is too large for {} (the kernel logs 'RPCSEC/GSS credential too large'), such as a ticket with a large PAC. The kernel keeps it queued, which delays every later request until it expires (up to 2 minutes). Run svcgssd with --mode proxy to accept such tokens",
                        channels.init.display()
                    );
                    last_oversized = Some(now);
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(e) => {
                warn!(
                    "reading {} failed: {e}; reopening it",
                    channels.init.display()
                );
                std::thread::sleep(Duration::from_secs(1));
                init = channel::open_init_channel(&channels.init, |_, _| {});
            }
        }
    }
}

/// Counts one request as completed when dropped.
struct Completed<'a>(&'a AtomicUsize);

impl Drop for Completed<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn worker(
    server: &RwLock<Arc<Server>>,
    receiver: &std::sync::Mutex<mpsc::Receiver<Vec<u8>>>,
    channels: &Channels,
    mut reply_file: std::fs::File,
    pending: &AtomicUsize,
) {
    let mut context = channel::ContextWriter::new(&channels.context);
    loop {
        let request = {
            let guard = receiver.lock().unwrap_or_else(|e| e.into_inner());
            match guard.recv() {
                Ok(request) => request,
                Err(_) => return,
            }
        };
        let _completed = Completed(pending);
        let server = Arc::clone(&*server.read().unwrap_or_else(|e| e.into_inner()));

        let parsed = match InitRequest::parse(&request) {
            Ok(parsed) => parsed,
            Err(e) => {
                // Without the handle and token there is no key to reply
                // under; the kernel drops the request when it expires.
                warn!(
                    "ignoring a malformed init request ({} bytes): {e}",
                    request.len()
                );
                continue;
            }
        };
        debug!(
            "init request: handle {} bytes, token {} bytes",
            parsed.handle.len(),
            parsed.token.len()
        );

        let response = server.handle(&parsed, crate::mech::now());
        if response.failed {
            warn!("{}", response.summary);
        } else {
            info!("{}", response.summary);
        }
        if let Some(record) = &response.context_record {
            if let Err(e) = context.write(record) {
                error!(
                    "writing the context to {} failed: {e}",
                    channels.context.display()
                );
            }
        }
        if let Err(e) = channel::write_record(&mut reply_file, &response.reply) {
            error!(
                "writing the init reply to {} failed: {e}",
                channels.init.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], base: Options) -> Result<Options, Vec<String>> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        parse_args("rpc.svcgssd", &args, base)
    }

    fn conf(text: &str) -> Options {
        Options::from_nfs_conf(&crate::config::Config::parse_str(
            text,
            std::path::Path::new("nfs.conf"),
        ))
    }

    #[test]
    fn nfs_conf_principal_and_verbosity() {
        let options =
            conf("[svcgssd]\nprincipal = nfs/server.example.test@EXAMPLE.TEST\nverbosity = 2\n");
        assert_eq!(
            options.principal.as_deref(),
            Some("nfs/server.example.test@EXAMPLE.TEST")
        );
        assert!(!options.any_principal);
        assert_eq!(options.verbosity, 2);

        let options = conf("[svcgssd]\nprincipal = system\n");
        assert!(options.any_principal);
        assert_eq!(options.principal, None);
    }

    #[test]
    fn command_line_overrides_nfs_conf() {
        let base = conf("[svcgssd]\nprincipal = system\n");
        let options = parse(&["-f", "-vv", "-p", "nfs/other@R"], base).unwrap();
        assert!(options.foreground);
        assert_eq!(options.verbosity, 2);
        assert_eq!(options.principal.as_deref(), Some("nfs/other@R"));
        assert!(!options.any_principal);

        let options = parse(&["-n", "--proc-dir", "/tmp/rpc"], conf("")).unwrap();
        assert!(options.any_principal);
        assert_eq!(options.proc_dir, PathBuf::from("/tmp/rpc"));
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(parse(&["-Z"], conf("")).is_err());
        assert!(parse(&["extra"], conf("")).is_err());
        assert!(parse(&["-p"], conf("")).is_err());
    }
}
