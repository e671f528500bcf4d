//! `rgssd gssd` (also called as `rpc.gssd`): the client side. The kernel's
//! RPC clients request RPCSEC_GSS contexts through upcalls in rpc_pipefs.
//! For each, the daemon finds credentials, runs the context creation with
//! the NFS server and writes the context down to the kernel.

pub mod creds;
pub mod pipefs;
pub mod upcall;
pub mod usercache;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use krb5::config::Config;
use krb5::kdc::KdcClient;
use krb5::locate::Locator;
use log::{error, info, warn};

use crate::tools::getopt::{self, OptionId};
use crate::tools::{Invocation, FAILURE};
use creds::{CredsSettings, LocalHost};
use pipefs::{Control, SharedGssd, UpcallLimits};
use tokio::sync::mpsc;
use upcall::Gssd;

/// Command-line settings, with rpc.gssd's letters and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub foreground: bool,
    pub verbosity: u8,
    pub rpc_verbosity: u8,
    /// `-M`: keep machine TGTs in memory only.
    pub memory_cache: bool,
    /// Without `-n`, uid 0 uses machine credentials.
    pub use_machine_creds: bool,
    /// `-p`: the rpc_pipefs mount point.
    pub pipefs: PathBuf,
    /// `-k`: the keytab for machine credentials.
    pub keytab: String,
    /// `-d`: directories searched for user caches, `%U` for the uid.
    pub ccache_dirs: Vec<String>,
    /// `-t`: replaces the context lifetime in downcalls when non-zero.
    pub context_timeout: u32,
    /// `-T`: timeout of the creation call, seconds.
    pub rpc_timeout: u64,
    /// `-R`: the realm tried first.
    pub preferred_realm: Option<String>,
    /// `-D`: reverse-resolve server addresses even for dotted names.
    pub always_reverse_resolve: bool,
    /// Without `-H`, HOME is set to `/`.
    pub set_home: bool,
    /// `-U`: upcall timeout, seconds, 5 to 600.
    pub upcall_timeout: u64,
    /// `-C`: give up on timed-out upcalls with ETIMEDOUT.
    pub cancel_timed_out: bool,
    /// nfs.conf `allowed-enctypes`: limits the enctypes negotiated.
    pub allowed_enctypes: Option<Vec<i32>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            foreground: false,
            verbosity: 0,
            rpc_verbosity: 0,
            memory_cache: false,
            use_machine_creds: true,
            pipefs: PathBuf::from("/var/lib/nfs/rpc_pipefs"),
            keytab: "/etc/krb5.keytab".to_string(),
            ccache_dirs: vec!["/tmp".to_string(), "/run/user/%U".to_string()],
            context_timeout: 0,
            rpc_timeout: 5,
            preferred_realm: None,
            always_reverse_resolve: false,
            set_home: true,
            upcall_timeout: 30,
            cancel_timed_out: false,
            allowed_enctypes: None,
        }
    }
}

impl Options {
    /// Reads the defaults from nfs.conf's `[gssd]` section (and
    /// `[general] pipefs-directory`), with rpc.gssd's key names. Messages
    /// about keys that are set but unusable go to `warnings`.
    pub fn from_nfs_conf(conf: &crate::config::Config, warnings: &mut Vec<String>) -> Self {
        let defaults = Self::default();
        let seconds = |key: &str, default: u64| -> u64 {
            u64::try_from(conf.get_num("gssd", key, i32::try_from(default).unwrap_or(i32::MAX)))
                .unwrap_or(default)
        };
        let pipefs = conf
            .get_str("general", None, "pipefs-directory")
            .or_else(|| {
                let old = conf.get_str("gssd", None, "pipefs-directory");
                if old.is_some() {
                    warnings.push(
                        "nfs.conf: [gssd] pipefs-directory is deprecated; set it in [general]"
                            .to_string(),
                    );
                }
                old
            })
            .map(PathBuf::from)
            .unwrap_or(defaults.pipefs);
        if conf.get_bool("gssd", "use-gss-proxy", false) {
            warnings.push(
                "nfs.conf: [gssd] use-gss-proxy has no effect: rgssd carries its own GSS mechanism"
                    .to_string(),
            );
        }
        Self {
            foreground: false,
            verbosity: u8::try_from(conf.get_num("gssd", "verbosity", 0).max(0)).unwrap_or(u8::MAX),
            rpc_verbosity: u8::try_from(conf.get_num("gssd", "rpc-verbosity", 0).max(0))
                .unwrap_or(u8::MAX),
            memory_cache: conf.get_bool("gssd", "use-memcache", false),
            use_machine_creds: conf.get_bool("gssd", "use-machine-creds", true),
            pipefs,
            keytab: conf
                .get_str("gssd", None, "keytab-file")
                .unwrap_or(defaults.keytab),
            ccache_dirs: conf
                .get_str("gssd", None, "cred-cache-directory")
                .map(|dirs| dirs.split(':').filter(|d| !d.is_empty()).map(str::to_string).collect())
                .filter(|dirs: &Vec<String>| !dirs.is_empty())
                .unwrap_or(defaults.ccache_dirs),
            context_timeout: u32::try_from(seconds("context-timeout", 0)).unwrap_or(u32::MAX),
            rpc_timeout: seconds("rpc-timeout", defaults.rpc_timeout).max(1),
            preferred_realm: conf.get_str("gssd", None, "preferred-realm"),
            always_reverse_resolve: !conf.get_bool("gssd", "avoid-dns", true),
            set_home: conf.get_bool("gssd", "set-home", true),
            upcall_timeout: seconds("upcall-timeout", defaults.upcall_timeout).clamp(5, 600),
            cancel_timed_out: conf.get_bool("gssd", "cancel-timed-out-upcalls", false),
            allowed_enctypes: conf.get_list("gssd", "allowed-enctypes").map(|names| {
                names
                    .iter()
                    .filter_map(|name| {
                        let e = krb5::iana::enctype::from_name(name.trim());
                        if e.is_none() {
                            warnings.push(format!(
                                "nfs.conf: [gssd] allowed-enctypes: unknown enctype {name:?} ignored"
                            ));
                        }
                        e
                    })
                    .collect()
            }),
        }
    }
}

/// The option letters the parser accepts, in getopt's syntax.
pub const SHORT_OPTIONS: &str = "fvrmlnMp:k:d:t:T:R:DHU:Ch";

const USAGE: &str = "usage: rpc.gssd [-f] [-M] [-n] [-v] [-r] [-p pipefsdir] [-k keytab] [-d ccachedir] [-t timeout] [-T timeout] [-U timeout] [-C] [-R preferred realm] [-D] [-H]";

/// Parses the command line over `base` (nfs.conf's settings). `-m` and
/// `-l` are accepted and ignored with a warning, because old rpc.gssd
/// versions took them.
pub fn parse_args(
    program: &str,
    args: &[String],
    base: Options,
) -> Result<(Options, Vec<String>), Vec<String>> {
    let parsed = getopt::parse(program, args, SHORT_OPTIONS, &[]);
    let mut errors = parsed.errors;
    let mut warnings = Vec::new();
    let mut options = base;

    let number = |letter: char, value: &str, errors: &mut Vec<String>| -> Option<u64> {
        match value.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.push(format!(
                    "{program}: invalid value {value:?} for -{letter}: expected a number of seconds"
                ));
                None
            }
        }
    };
    for (id, value) in parsed.options {
        let value = value.unwrap_or_default();
        match id {
            OptionId::Short('f') => options.foreground = true,
            OptionId::Short('v') => options.verbosity = options.verbosity.saturating_add(1),
            OptionId::Short('r') => options.rpc_verbosity = options.rpc_verbosity.saturating_add(1),
            OptionId::Short(letter @ ('m' | 'l')) => {
                warnings.push(format!("-{letter} is obsolete and ignored"))
            }
            OptionId::Short('n') => options.use_machine_creds = false,
            OptionId::Short('M') => options.memory_cache = true,
            OptionId::Short('p') => options.pipefs = PathBuf::from(value),
            OptionId::Short('k') => options.keytab = value,
            OptionId::Short('d') => {
                options.ccache_dirs = value
                    .split(':')
                    .filter(|d| !d.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            OptionId::Short('t') => {
                if let Some(n) = number('t', &value, &mut errors) {
                    options.context_timeout = u32::try_from(n).unwrap_or(u32::MAX);
                }
            }
            OptionId::Short('T') => {
                if let Some(n) = number('T', &value, &mut errors) {
                    options.rpc_timeout = n.max(1);
                }
            }
            OptionId::Short('U') => {
                if let Some(n) = number('U', &value, &mut errors) {
                    options.upcall_timeout = n.clamp(5, 600);
                }
            }
            OptionId::Short('R') => options.preferred_realm = Some(value),
            OptionId::Short('D') => options.always_reverse_resolve = true,
            OptionId::Short('H') => options.set_home = false,
            OptionId::Short('C') => options.cancel_timed_out = true,
            OptionId::Short('h') => errors.push(String::new()),
            _ => {}
        }
    }
    if let Some(operand) = parsed.operands.first() {
        errors.push(format!("{program}: unexpected argument {operand:?}"));
    }
    if options.ccache_dirs.is_empty() {
        errors.push(format!("{program}: -d needs at least one directory"));
    }
    if errors.is_empty() {
        Ok((options, warnings))
    } else {
        Err(errors)
    }
}

/// Reads nfs.conf and applies the command line `args` over it; the
/// messages about the settings go to `warnings`.
fn read_options(
    program: &str,
    args: &[String],
    warnings: &mut Vec<String>,
) -> Result<Options, Vec<String>> {
    let nfs_conf = crate::config::Config::load(crate::config::NFS_CONF);
    warnings.extend(nfs_conf.warnings().iter().map(|w| w.to_string()));
    let base = Options::from_nfs_conf(&nfs_conf, warnings);
    let (options, obsolete) = parse_args(program, args, base)?;
    warnings.extend(obsolete);
    Ok(options)
}

/// Runs the daemon until SIGTERM or SIGINT. Returns 0 after a clean stop,
/// else [`FAILURE`] on a startup failure.
pub fn run(invocation: &mut Invocation<'_>) -> i32 {
    let program = invocation.program.clone();
    let mut warnings = Vec::new();
    let options = match read_options(&program, &invocation.args, &mut warnings) {
        Ok(options) => options,
        Err(errors) => return invocation.usage_failure(&errors, USAGE),
    };
    let _ = crate::logging::init(&program, options.verbosity, options.foreground);
    for w in warnings {
        warn!("{w}");
    }
    if let Err(message) = crate::hardening::forbid_core_dumps_and_tracing() {
        error!("{message}");
        return FAILURE;
    }
    if options.set_home {
        // krb5 files in $HOME could live on the very NFS mount being served.
        std::env::set_var("HOME", "/");
    }

    let config = match Config::load() {
        Ok(config) => Arc::new(config),
        Err(e) => {
            error!("cannot load krb5.conf: {e}");
            return FAILURE;
        }
    };
    if !options.foreground {
        if let Err(e) = nix::unistd::daemon(false, false) {
            error!("cannot run in the background: {e}");
            return FAILURE;
        }
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            error!("cannot start the async runtime: {e}");
            return FAILURE;
        }
    };
    let args = invocation.args.clone();
    let status = runtime.block_on(serve(program, args, options, config));
    runtime.shutdown_timeout(Duration::from_secs(1));
    status
}

/// Builds the upcall handler from the settings.
async fn build_gssd(options: &Options, config: Arc<Config>) -> Result<Gssd, String> {
    let kdc = KdcClient::from_config(Arc::clone(&config))
        .map_err(|e| format!("invalid krb5.conf settings: {e}"))?;
    let locator = Locator::from_system().map_err(|e| format!("cannot set up DNS lookups: {e}"))?;
    let host = local_host(&config, &locator).await;
    info!("local host name {}", host.fqdn);

    let creds = CredsSettings {
        keytab: options.keytab.clone(),
        ccache_dirs: options.ccache_dirs.clone(),
        preferred_realm: options
            .preferred_realm
            .clone()
            .or_else(|| config.default_realm().map(str::to_string)),
        memory_cache: options.memory_cache,
        as_user: true,
    };
    Ok(Gssd::new(
        Arc::clone(&config),
        kdc,
        locator,
        creds,
        host,
        options.use_machine_creds,
        options.allowed_enctypes.clone(),
        options.context_timeout,
        Duration::from_secs(options.rpc_timeout),
        options.always_reverse_resolve,
    ))
}

/// Re-reads nfs.conf, the command line over it, and krb5.conf, and builds
/// a new handler. The keytab is read again by each upcall that needs it;
/// the new handler starts without the old one's tickets.
async fn reload(program: &str, args: &[String], pipefs: &Path) -> Result<Gssd, String> {
    let mut warnings = Vec::new();
    let options = read_options(program, args, &mut warnings)
        .map_err(|errors| format!("invalid settings: {}", errors.join("; ")))?;
    for w in warnings {
        warn!("{w}");
    }
    if options.pipefs != pipefs {
        warn!(
            "the rpc_pipefs directory changed to {}; restart to use it",
            options.pipefs.display()
        );
    }
    let config = Config::load().map_err(|e| format!("cannot load krb5.conf: {e}"))?;
    build_gssd(&options, Arc::new(config)).await
}

async fn serve(program: String, args: Vec<String>, options: Options, config: Arc<Config>) -> i32 {
    let mut signals = match Signals::new() {
        Ok(signals) => signals,
        Err(e) => {
            error!("cannot handle signals: {e}");
            return FAILURE;
        }
    };
    let gssd = match build_gssd(&options, config).await {
        Ok(gssd) => gssd,
        Err(e) => {
            error!("{e}");
            return FAILURE;
        }
    };
    let shared: SharedGssd = Arc::new(RwLock::new(Arc::new(gssd)));
    let (control, requests) = mpsc::unbounded_channel();
    let limits = UpcallLimits {
        timeout: Duration::from_secs(options.upcall_timeout),
        cancel_timed_out: options.cancel_timed_out,
    };
    let watcher = tokio::spawn(pipefs::watch(
        options.pipefs.clone(),
        Arc::clone(&shared),
        limits,
        requests,
    ));

    let pipefs = options.pipefs.clone();
    let signal_task = tokio::spawn(async move {
        loop {
            match signals.next().await {
                Signal::Reload => {
                    info!("SIGHUP: reloading the settings");
                    match reload(&program, &args, &pipefs).await {
                        Ok(gssd) => {
                            *shared.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(gssd);
                        }
                        Err(e) => error!("reload failed, keeping the old settings: {e}"),
                    }
                    let _ = control.send(Control::Rescan);
                }
                Signal::Stop(name) => {
                    info!("{name}: stopping");
                    if control.send(Control::Stop).is_err() {
                        return;
                    }
                }
            }
        }
    });

    let result = watcher.await;
    signal_task.abort();
    let removed = creds::destroy_machine_ccaches();
    if removed > 0 {
        info!("removed {removed} machine credential caches");
    }
    match result {
        Ok(Ok(())) => {
            info!("stopped");
            0
        }
        Ok(Err(e)) => {
            error!("cannot watch {}: {e}", options.pipefs.display());
            FAILURE
        }
        Err(e) => {
            error!("the rpc_pipefs watcher failed: {e}");
            FAILURE
        }
    }
}

/// The signals the daemons act on.
pub(crate) enum Signal {
    /// SIGHUP.
    Reload,
    /// SIGTERM or SIGINT, by name.
    Stop(&'static str),
}

/// Streams of SIGHUP, SIGTERM and SIGINT.
pub(crate) struct Signals {
    hangup: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            hangup: signal(SignalKind::hangup())?,
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for the next signal.
    pub(crate) async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.hangup.recv() => Signal::Reload,
            _ = self.terminate.recv() => Signal::Stop("SIGTERM"),
            _ = self.interrupt.recv() => Signal::Stop("SIGINT"),
        }
    }
}

/// Returns the local host's names: gethostname(2), canonicalized as krb5.conf sets.
async fn local_host(config: &Config, locator: &Locator) -> LocalHost {
    let short = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_string());
    let fqdn = locator
        .canonicalize_host(config, &short)
        .await
        .ok()
        .and_then(|names| names.into_iter().next())
        .unwrap_or_else(|| short.to_lowercase());
    LocalHost { fqdn, short }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<(Options, Vec<String>), Vec<String>> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        parse_args("rpc.gssd", &args, Options::default())
    }

    #[test]
    fn nfs_conf_sets_defaults_and_command_line_wins() {
        let conf = crate::config::Config::parse_str(
            "[general]\npipefs-directory = /run/rpc_pipefs\n[gssd]\nuse-memcache = yes\nuse-machine-creds = 0\n\
             keytab-file = /etc/nfs.keytab\ncred-cache-directory = /var/tmp:/run/user/%U\ncontext-timeout = 600\n\
             rpc-timeout = 9\npreferred-realm = EXAMPLE.TEST\navoid-dns = false\nset-home = no\nupcall-timeout = 2\n\
             cancel-timed-out-upcalls = on\nallowed-enctypes = aes256-cts-hmac-sha1-96,aes128-cts-hmac-sha1-96,bogus\nverbosity = 2\n",
            std::path::Path::new("nfs.conf"),
        );
        let mut warnings = Vec::new();
        let options = Options::from_nfs_conf(&conf, &mut warnings);
        assert_eq!(options.pipefs, PathBuf::from("/run/rpc_pipefs"));
        assert!(options.memory_cache);
        assert!(!options.use_machine_creds);
        assert_eq!(options.keytab, "/etc/nfs.keytab");
        assert_eq!(options.ccache_dirs, ["/var/tmp", "/run/user/%U"]);
        assert_eq!(options.context_timeout, 600);
        assert_eq!(options.rpc_timeout, 9);
        assert_eq!(options.preferred_realm.as_deref(), Some("EXAMPLE.TEST"));
        assert!(options.always_reverse_resolve);
        assert!(!options.set_home);
        assert_eq!(options.upcall_timeout, 5);
        assert!(options.cancel_timed_out);
        assert_eq!(options.allowed_enctypes, Some(vec![18, 17]));
        assert_eq!(options.verbosity, 2);
        assert_eq!(warnings.len(), 1, "{warnings:?}");

        let args: Vec<String> = ["-p", "/var/lib/nfs/rpc_pipefs", "-k", "/etc/krb5.keytab"]
            .iter()
            .map(|a| a.to_string())
            .collect();
        let (options, _) = parse_args("rpc.gssd", &args, options).unwrap();
        assert_eq!(options.pipefs, PathBuf::from("/var/lib/nfs/rpc_pipefs"));
        assert_eq!(options.keytab, "/etc/krb5.keytab");
        assert!(options.memory_cache);
    }

    #[test]
    fn defaults_match_rpc_gssd() {
        let (options, warnings) = parse(&[]).unwrap();
        assert_eq!(options, Options::default());
        assert!(warnings.is_empty());
        assert_eq!(options.pipefs, PathBuf::from("/var/lib/nfs/rpc_pipefs"));
        assert_eq!(options.upcall_timeout, 30);
    }

    #[test]
    fn options_are_read() {
        let (options, _) = parse(&[
            "-fvv",
            "-n",
            "-M",
            "-p",
            "/run/rpc_pipefs",
            "-k",
            "/etc/nfs.keytab",
            "-d",
            "/var/tmp:/run/user/%U",
            "-t",
            "600",
            "-T",
            "10",
            "-U",
            "1000",
            "-C",
            "-R",
            "EXAMPLE.TEST",
            "-D",
            "-H",
        ])
        .unwrap();
        assert!(options.foreground);
        assert_eq!(options.verbosity, 2);
        assert!(!options.use_machine_creds);
        assert!(options.memory_cache);
        assert_eq!(options.pipefs, PathBuf::from("/run/rpc_pipefs"));
        assert_eq!(options.keytab, "/etc/nfs.keytab");
        assert_eq!(options.ccache_dirs, ["/var/tmp", "/run/user/%U"]);
        assert_eq!(options.context_timeout, 600);
        assert_eq!(options.rpc_timeout, 10);
        assert_eq!(options.upcall_timeout, 600);
        assert!(options.cancel_timed_out);
        assert_eq!(options.preferred_realm.as_deref(), Some("EXAMPLE.TEST"));
        assert!(options.always_reverse_resolve);
        assert!(!options.set_home);
    }

    #[test]
    fn obsolete_options_warn() {
        let (_, warnings) = parse(&["-m", "-l"]).unwrap();
        assert_eq!(warnings.len(), 2);
    }

    #[test]
    fn bad_values_are_errors() {
        let errors = parse(&["-t", "ten"]).unwrap_err();
        assert!(errors[0].contains("\"ten\""), "{errors:?}");
        assert!(parse(&["-Z"]).is_err());
        assert!(parse(&["extra"]).is_err());
    }
}
