//! The daemons under load, against the simulated kernel (kernelsim) with
//! an MIT KDC on 127.0.0.1, next to nfs-utils' daemons in the same run:
//!
//! - `gssd`: `rgssd gssd` and rpc.gssd serve upcalls of 1, 50 and 200
//!   users at once, each user with a FILE cache from kinit. The first
//!   round is cold (each upcall needs a TGS exchange) and the next ones
//!   warm (the service ticket is cached). Root makes one machine upcall
//!   per run.
//! - `svcgssd`: `rgssd svcgssd` and rpc.svcgssd get a burst of 1000 INIT
//!   requests on the simulated `auth.rpcsec.init` channel. rpc.svcgssd
//!   opens /proc/net/rpc itself, so it runs in a private mount namespace
//!   where the simulated tree is bound over its own /proc/PID/net/rpc.
//!
//! It needs root, /dev/fuse, MIT's KDC and tools, and nfs-utils' daemons
//! (Debian: krb5-kdc, krb5-admin-server, krb5-user, nfs-common,
//! nfs-kernel-server). docs/benchmarks.md describes the method.
//!
//! `cargo bench --bench daemons -- [gssd] [svcgssd] [--runs N]
//! [--users 1,50,200] [--requests 1000] [--rgssd PATH] [--verbose]`
//!
//! `--rgssd` measures another rgssd binary than the one cargo built with
//! this benchmark, such as a release build of another branch.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kernelsim::pipefs::{ClientInfo, Outcome, PipeFs};
use kernelsim::procfs::ProcFs;
use kernelsim::rpcserver::{Accepted, Acceptor, RpcServer};
use testkdc::{PrincipalSpec, TestKdc, TestKdcOptions};

const REALM: &str = "EXAMPLE.TEST";
const SERVER: &str = "nfs.example.test";
const PASSWORD: &str = "user password";
/// The simulated kernel's enctypes: Linux 6.12 with AES-SHA2 enabled.
const KERNEL_ENCTYPES: [i32; 4] = [20, 19, 18, 17];
/// The enctypes of the kernel's upcalls, as Linux 6.12 lists them.
const UPCALL_ENCTYPES: &str = "20,19,18,17";
/// The first user's uid; user `i` (from 0) has uid `FIRST_UID + i`.
const FIRST_UID: u32 = 70000;
/// How long one upcall or request may take before it counts as lost.
const WAIT: Duration = Duration::from_secs(120);
/// How long a daemon may take to open its pipes or channel.
const STARTUP: Duration = Duration::from_secs(30);
/// Warm rounds per run, after the cold one.
const WARM_ROUNDS: usize = 3;

type Error = Box<dyn std::error::Error>;

fn main() {
    if let Err(e) = run() {
        eprintln!("daemons benchmark: {e}");
        std::process::exit(1);
    }
}

struct Settings {
    gssd: bool,
    svcgssd: bool,
    runs: usize,
    users: Vec<usize>,
    requests: usize,
    /// Runs the daemons with -vvv, for diagnosis rather than measurement.
    verbose: bool,
    /// The rgssd binary to measure.
    rgssd: PathBuf,
}

fn settings() -> Result<Settings, Error> {
    let mut settings = Settings {
        gssd: false,
        svcgssd: false,
        runs: 5,
        users: vec![1, 50, 200],
        requests: 1000,
        verbose: false,
        rgssd: env!("CARGO_BIN_EXE_rgssd").into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value, such as {name} 5"))
        };
        let number = |name: &str, text: String| -> Result<usize, Error> {
            match text.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{name} {text:?}: expected a positive number").into()),
            }
        };
        match arg.as_str() {
            "gssd" => settings.gssd = true,
            "svcgssd" => settings.svcgssd = true,
            "--verbose" => settings.verbose = true,
            "--rgssd" => settings.rgssd = value("--rgssd")?.into(),
            "--runs" => settings.runs = number("--runs", value("--runs")?)?,
            "--requests" => settings.requests = number("--requests", value("--requests")?)?,
            "--users" => {
                settings.users = value("--users")?
                    .split(',')
                    .map(|n| number("--users", n.to_string()))
                    .collect::<Result<_, _>>()?;
            }
            // cargo bench passes --bench to every benchmark binary.
            "--bench" => {}
            other => {
                return Err(format!(
                    "unknown argument {other:?}; use gssd, svcgssd, --runs N, --users 1,50,200, --requests N, --rgssd PATH or --verbose"
                )
                .into())
            }
        }
    }
    if !settings.gssd && !settings.svcgssd {
        settings.gssd = true;
        settings.svcgssd = true;
    }
    Ok(settings)
}

fn run() -> Result<(), Error> {
    let settings = settings()?;
    if !kernelsim::fuse_available() {
        return Err("the simulated kernel needs root and /dev/fuse".into());
    }
    for program in [RPC_GSSD, RPC_SVCGSSD] {
        if !Path::new(program).exists() {
            return Err(format!(
                "{program} is missing; install the Debian packages nfs-common and nfs-kernel-server"
            )
            .into());
        }
    }
    let users = settings.users.iter().copied().max().unwrap_or(1);
    let started = Instant::now();
    if !settings.rgssd.is_file() {
        return Err(format!("--rgssd {}: no such file", settings.rgssd.display()).into());
    }
    let mut world = World::start(users)?;
    world.rgssd = settings.rgssd.clone();
    if settings.verbose {
        world.verbosity = vec!["-vvv"];
    }
    eprintln!(
        "KDC with {users} users and their caches ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("{}", machine_summary());
    if settings.gssd {
        bench_gssd(&world, &settings)?;
    }
    if settings.svcgssd {
        bench_svcgssd(&world, &settings)?;
    }
    Ok(())
}

const RPC_GSSD: &str = "/usr/sbin/rpc.gssd";
const RPC_SVCGSSD: &str = "/usr/sbin/rpc.svcgssd";

/// The two implementations compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Rgssd,
    NfsUtils,
}

impl Side {
    const BOTH: [Side; 2] = [Side::Rgssd, Side::NfsUtils];

    fn gssd_name(self) -> &'static str {
        match self {
            Side::Rgssd => "rgssd gssd",
            Side::NfsUtils => "rpc.gssd",
        }
    }

    fn svcgssd_name(self) -> &'static str {
        match self {
            Side::Rgssd => "rgssd svcgssd",
            Side::NfsUtils => "rpc.svcgssd",
        }
    }
}

/// The KDC, its users and their caches, shared by every run.
struct World {
    kdc: TestKdc,
    dir: tempfile::TempDir,
    /// One cache file per user, holding only the TGT; each run copies them.
    templates: Vec<PathBuf>,
    /// The daemons' verbosity options.
    verbosity: Vec<&'static str>,
    /// The rgssd binary to measure.
    rgssd: PathBuf,
}

fn local_host() -> Result<String, Error> {
    let name = nix::unistd::gethostname()?
        .into_string()
        .map_err(|name| format!("the host name {name:?} is not UTF-8"))?;
    Ok(name.to_lowercase())
}

fn user_name(index: usize) -> String {
    format!("user{index}")
}

impl World {
    fn start(users: usize) -> Result<World, Error> {
        let mut options = TestKdcOptions::new(REALM)
            .principal(
                PrincipalSpec::service(&format!("nfs/{SERVER}"))
                    .with_keytab("server.keytab")
                    .with_enctypes(&KERNEL_ENCTYPES),
            )
            .principal(
                PrincipalSpec::service(&format!("nfs/{}", local_host()?))
                    .with_keytab("client.keytab"),
            );
        for index in 0..users {
            options = options.user(&user_name(index), PASSWORD);
        }
        let kdc = TestKdc::start(options).map_err(|e| format!("cannot start the KDC: {e}"))?;
        let dir = tempfile::Builder::new().prefix("rgssd-bench-").tempdir()?;
        // Users must reach their caches when a daemon reads them as the user.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
        let template_dir = dir.path().join("templates");
        fs::create_dir(&template_dir)?;
        let kinit = testkdc::find_program("kinit", "krb5-user")?;
        let mut templates = Vec::new();
        for index in 0..users {
            let path = template_dir.join(format!("krb5cc_{}", FIRST_UID + index as u32));
            let mut child = kdc
                .command(&kinit)
                .arg("-c")
                .arg(format!("FILE:{}", path.display()))
                .arg(format!("{}@{REALM}", user_name(index)))
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()?;
            writeln!(
                child.stdin.take().ok_or("kinit has no stdin")?,
                "{PASSWORD}"
            )?;
            let output = child.wait_with_output()?;
            if !output.status.success() {
                return Err(format!(
                    "kinit {}: {}",
                    user_name(index),
                    String::from_utf8_lossy(&output.stderr)
                )
                .into());
            }
            templates.push(path);
        }
        Ok(World {
            kdc,
            dir,
            templates,
            verbosity: Vec::new(),
            rgssd: PathBuf::new(),
        })
    }

    fn server_keytab(&self) -> Result<&Path, Error> {
        Ok(self
            .kdc
            .keytab(&format!("nfs/{SERVER}"))
            .ok_or("the KDC made no server keytab")?)
    }

    /// Makes a new run directory with a cache directory holding copies of
    /// the first `users` caches, each owned by its user.
    fn run_dir(&self, name: &str, users: usize) -> Result<PathBuf, Error> {
        let dir = self.dir.path().join(name);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        let ccdir = dir.join("cc");
        fs::create_dir(&ccdir)?;
        fs::set_permissions(&ccdir, fs::Permissions::from_mode(0o1777))?;
        for (index, template) in self.templates.iter().take(users).enumerate() {
            let path = ccdir.join(template.file_name().ok_or("a template has no name")?);
            fs::copy(template, &path)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
            let uid = nix::unistd::Uid::from_raw(FIRST_UID + index as u32);
            nix::unistd::chown(&path, Some(uid), None)?;
        }
        Ok(dir)
    }

    /// Makes a command with the KDC's krb5.conf and the server keytab,
    /// and no other environment.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>, log: &Path) -> Result<Command, Error> {
        let out = fs::File::create(log)?;
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("KRB5_CONFIG", self.kdc.krb5_conf())
            .env(
                "KRB5_KTNAME",
                format!("FILE:{}", self.server_keytab()?.display()),
            )
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        Ok(command)
    }
}

impl World {
    /// Runs `program` (the first of `program`) in a mount namespace of its
    /// own, after `setup`, a shell script that gets `setup_args` as $1, $2
    /// and so on. unshare(1) without --fork runs the shell, and the shell
    /// runs the program, in one process: its /proc/self is /proc/$$ of
    /// `setup`, and its PID is the child's.
    fn namespaced(
        &self,
        setup: &str,
        setup_args: &[&std::ffi::OsStr],
        program: &[std::ffi::OsString],
        log: &Path,
    ) -> Result<Command, Error> {
        let mut command = self.command("unshare", log)?;
        command
            .args(["--mount", "--propagation", "private", "sh", "-ec"])
            .arg(format!(
                "{setup}\nshift {}\nexec \"$@\"\n",
                setup_args.len()
            ))
            .arg("sh")
            .args(setup_args)
            .args(program);
        Ok(command)
    }
}

/// A daemon started by the benchmark; stopped by its PID when dropped.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(mut command: Command, log: PathBuf) -> Result<Daemon, Error> {
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {command:?}: {e}"))?;
        Ok(Daemon { child, log })
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Returns the daemon when it is `ready`, or else an error with
    /// `problem` and the daemon's log.
    fn ready_or_log(mut self, ready: bool, problem: &str) -> Result<Daemon, Error> {
        if ready {
            return Ok(self);
        }
        self.check_alive()?;
        Err(format!("{problem}; its log:\n{}", self.log()).into())
    }

    /// Fails with the daemon's log when it has exited.
    fn check_alive(&mut self) -> Result<(), Error> {
        match self.child.try_wait()? {
            Some(status) => {
                Err(format!("the daemon exited with {status}; its log:\n{}", self.log()).into())
            }
            None => Ok(()),
        }
    }

    /// Returns the CPU time of the daemon, its threads and its reaped
    /// children.
    fn cpu_time(&self) -> Duration {
        cpu_time(&self.child.id().to_string())
    }

    /// Returns the peak resident set size of the process (all threads),
    /// in KiB.
    fn peak_rss(&self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

/// Returns the CPU time of a process, its threads and its reaped children,
/// from /proc/`pid`/stat; `pid` may be `self`.
fn cpu_time(pid: &str) -> Duration {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which ends with the last ')':
    // state is the first, utime, stime, cutime and cstime the 12th to 15th.
    let ticks: u64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default()
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100);
    Duration::from_secs_f64(ticks as f64 / per_second as f64)
}

/// Shows the end of the daemon's log when some of its upcalls or
/// requests failed in this run.
fn report_failures(daemon: &Daemon, failed: usize) {
    if failed > 0 {
        let log = daemon.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        eprintln!("  {failed} failed in this run; the end of the daemon's log:\n{tail}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Accepts INIT calls in the stand-in server with rgssd's own acceptor,
/// so that the server side costs both gssd implementations the same.
struct DirectAcceptor {
    credential: rgssd::mech::AcceptorCredential,
    replay: krb5::gss::replay::ReplayCache,
}

impl Acceptor for DirectAcceptor {
    fn accept(&self, _handle: &[u8], token: &[u8]) -> Option<Accepted> {
        let mech = rgssd::mech::by_name("krb5")?;
        let options = rgssd::mech::AcceptOptions {
            enctypes: &KERNEL_ENCTYPES,
            clockskew: 300,
            now: rgssd::mech::now(),
        };
        let rejected = |major, minor| {
            Some(Accepted {
                major,
                minor,
                ..Accepted::default()
            })
        };
        match mech.accept_sec_context(&self.credential, &self.replay, &options, token) {
            Ok(accepted) => {
                let lucid = accepted
                    .context
                    .export()
                    .ok()
                    .and_then(|e| kernelsim::downcall::import_lucid(&e, &KERNEL_ENCTYPES).ok());
                let verifier = lucid.and_then(|l| kernelsim::rpcserver::window_mic(&l).ok());
                match verifier {
                    Some(verifier) => Some(Accepted {
                        major: 0,
                        minor: 0,
                        handle: next_handle(),
                        token: accepted.output_token,
                        verifier: Some(verifier),
                    }),
                    // GSS_S_FAILURE: the context could not be exported.
                    None => rejected(0x000d_0000, 0),
                }
            }
            Err(e) => rejected(e.error.major, e.error.minor),
        }
    }
}

fn next_handle() -> Vec<u8> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .to_be_bytes()
        .to_vec()
}

/// Latencies, wall time and the daemon's CPU time of one burst.
#[derive(Default)]
struct Burst {
    latencies: Vec<Duration>,
    wall: Duration,
    cpu: Duration,
    /// The CPU time of this process (the simulated kernel and the
    /// benchmark) during the burst; measured for init bursts only.
    simulator_cpu: Duration,
    failed: usize,
}

impl Burst {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }
}

/// Figures of one kind over all runs.
#[derive(Default)]
struct Series {
    rates: Vec<f64>,
    walls: Vec<f64>,
    latencies: Vec<Duration>,
    /// The daemon's CPU time over all bursts, and that of the simulated
    /// kernel and the benchmark.
    cpu: Duration,
    simulator_cpu: Duration,
    failed: usize,
    attempts: usize,
    peak_rss: Vec<u64>,
}

impl Series {
    fn add(&mut self, burst: &Burst) {
        self.rates.push(burst.rate());
        self.walls.push(burst.wall.as_secs_f64());
        self.latencies.extend_from_slice(&burst.latencies);
        self.cpu += burst.cpu;
        self.simulator_cpu += burst.simulator_cpu;
        self.failed += burst.failed;
        self.attempts += burst.latencies.len() + burst.failed;
    }

    /// Returns the mean CPU time per successful upcall or request, in ms.
    /// /proc counts CPU time in clock ticks (10 ms), so only the sum over
    /// many upcalls is precise.
    fn cpu_ms(&self, cpu: Duration) -> f64 {
        cpu.as_secs_f64() * 1000.0 / self.latencies.len() as f64
    }

    fn median_rate(&self) -> f64 {
        median(&self.rates)
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies, p).as_secs_f64() * 1000.0
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Returns the nearest-rank percentile `p` (0 to 100) of `values`.
fn percentile(values: &[Duration], p: f64) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

// ---------------------------------------------------------------- gssd

fn start_gssd(world: &World, side: Side, pipefs: &PipeFs, dir: &Path) -> Result<Daemon, Error> {
    let keytab = world
        .kdc
        .keytab(&format!("nfs/{}", local_host()?))
        .ok_or("the KDC made no client keytab")?;
    let mut args: Vec<std::ffi::OsString> = match side {
        Side::Rgssd => vec![world.rgssd.clone().into(), "gssd".into()],
        Side::NfsUtils => vec![RPC_GSSD.into()],
    };
    args.push("-f".into());
    args.extend(world.verbosity.iter().map(Into::into));
    for (option, value) in [
        ("-p", pipefs.root()),
        ("-k", keytab),
        ("-d", &dir.join("cc")),
    ] {
        args.push(option.into());
        args.push(value.into());
    }
    // rpc.gssd resolves the server's name to find a machine principal, so
    // both daemons see a hosts file that names the stand-in server.
    let hosts = dir.join("hosts");
    fs::write(
        &hosts,
        format!(
            "{}\n127.0.0.1 {SERVER}\n",
            fs::read_to_string("/etc/hosts").unwrap_or_default()
        ),
    )?;
    let log = dir.join("gssd.log");
    let command = world.namespaced(
        "mount --bind \"$1\" /etc/hosts",
        &[hosts.as_os_str()],
        &args,
        &log,
    )?;
    let daemon = Daemon::start(command, log)?;
    let ready = pipefs.wait_gssd_running(true, STARTUP);
    daemon.ready_or_log(
        ready,
        &format!("{} did not open the dummy pipe", side.gssd_name()),
    )
}

/// Queues one upcall per uid at once and waits for every outcome.
fn upcall_burst(
    daemon: &Daemon,
    client: &kernelsim::pipefs::Client,
    lines: &[(u32, String)],
) -> Result<Burst, Error> {
    let cpu = daemon.cpu_time();
    let start = Instant::now();
    let mut queued = Vec::new();
    for (uid, line) in lines {
        queued.push((start.elapsed(), client.upcall(*uid, line)?));
    }
    let mut burst = Burst::default();
    for (offset, upcall) in queued {
        match client.wait(upcall, WAIT) {
            Some(Outcome::Context(_)) => {
                let latency = client
                    .latency(upcall)
                    .ok_or("a settled upcall has no latency")?;
                burst.wall = burst.wall.max(offset + latency);
                burst.latencies.push(latency);
            }
            _ => burst.failed += 1,
        }
    }
    if burst.latencies.is_empty() {
        burst.wall = start.elapsed();
    }
    burst.cpu = daemon.cpu_time().saturating_sub(cpu);
    Ok(burst)
}

#[derive(Default)]
struct GssdFigures {
    machine_cold: Series,
    machine_warm: Series,
    /// Per user count: cold, warm.
    users: Vec<(usize, Series, Series)>,
}

/// Runs one daemon with `users` users: the machine credential upcall
/// cold and warm, then one cold and `WARM_ROUNDS` warm user bursts.
fn gssd_run(
    world: &World,
    server: &RpcServer,
    side: Side,
    users: usize,
    figures: &mut GssdFigures,
) -> Result<(), Error> {
    let dir = world.run_dir("gssd", users)?;
    let pipefs = PipeFs::mount(&KERNEL_ENCTYPES)?;
    let mut daemon = start_gssd(world, side, &pipefs, &dir)?;
    let client = pipefs.add_client("nfs", &ClientInfo::nfs4(SERVER, "127.0.0.1", server.port()))?;
    // Linux 6.12 makes both pipes, the text one first.
    client.add_pipe("gssd")?;
    client.add_pipe("krb5")?;
    if !client.wait_reader("gssd", STARTUP) {
        daemon.check_alive()?;
        return Err(format!("{} did not open the gssd pipe", side.gssd_name()).into());
    }
    let machine = vec![(
        0,
        format!("mech=krb5 uid=0 service=* enctypes={UPCALL_ENCTYPES}\n"),
    )];
    let mut failed = 0;
    for series in [&mut figures.machine_cold, &mut figures.machine_warm] {
        let burst = upcall_burst(&daemon, &client, &machine)?;
        failed += burst.failed;
        series.add(&burst);
    }

    let lines: Vec<(u32, String)> = (0..users)
        .map(|i| {
            let uid = FIRST_UID + i as u32;
            (
                uid,
                format!("mech=krb5 uid={uid} enctypes={UPCALL_ENCTYPES}\n"),
            )
        })
        .collect();
    let entry = match figures.users.iter().position(|(n, _, _)| *n == users) {
        Some(at) => at,
        None => {
            figures
                .users
                .push((users, Series::default(), Series::default()));
            figures.users.len() - 1
        }
    };
    let cold = upcall_burst(&daemon, &client, &lines)?;
    failed += cold.failed;
    eprintln!(
        "  {} {users} users cold: {:.3} s, {} failed",
        side.gssd_name(),
        cold.wall.as_secs_f64(),
        cold.failed
    );
    figures.users[entry].1.add(&cold);
    for _ in 0..WARM_ROUNDS {
        let warm = upcall_burst(&daemon, &client, &lines)?;
        failed += warm.failed;
        figures.users[entry].2.add(&warm);
    }
    daemon.check_alive()?;
    report_failures(&daemon, failed);
    let rss = daemon.peak_rss().unwrap_or(0);
    figures.users[entry].1.peak_rss.push(rss);
    drop(daemon);
    drop(client);
    drop(pipefs);
    Ok(())
}

fn bench_gssd(world: &World, settings: &Settings) -> Result<(), Error> {
    let keytab = krb5::keytab::Keytab::load(&format!("FILE:{}", world.server_keytab()?.display()))?;
    let server = RpcServer::start(Arc::new(DirectAcceptor {
        credential: rgssd::mech::AcceptorCredential {
            keytab: Arc::new(keytab),
            principal: None,
        },
        replay: krb5::gss::replay::ReplayCache::new(),
    }))?;
    let mut figures = [GssdFigures::default(), GssdFigures::default()];
    for run in 0..settings.runs {
        for &users in &settings.users {
            for (side, figures) in Side::BOTH.iter().zip(figures.iter_mut()) {
                eprintln!(
                    "gssd run {} of {}: {} with {users} users",
                    run + 1,
                    settings.runs,
                    side.gssd_name()
                );
                gssd_run(world, &server, *side, users, figures)?;
            }
        }
    }
    print_gssd(&figures, settings);
    Ok(())
}

fn print_gssd(figures: &[GssdFigures; 2], settings: &Settings) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\ngssd: upcalls per second (median of {} runs), latency from upcall to downcall (ms, all runs)\n",
        settings.runs
    );
    let _ = writeln!(
        out,
        "| daemon | users | phase | upcalls/s | p50 ms | p99 ms | CPU ms/upcall | failed | peak RSS KiB |"
    );
    let _ = writeln!(out, "|---|--:|---|--:|--:|--:|--:|--:|--:|");
    let mut rows: Vec<(String, [&Series; 2])> = Vec::new();
    rows.push((
        "root, machine, cold".into(),
        [&figures[0].machine_cold, &figures[1].machine_cold],
    ));
    rows.push((
        "root, machine, warm".into(),
        [&figures[0].machine_warm, &figures[1].machine_warm],
    ));
    for (at, (users, _, _)) in figures[0].users.iter().enumerate() {
        rows.push((
            format!("{users}, cold"),
            [&figures[0].users[at].1, &figures[1].users[at].1],
        ));
        rows.push((
            format!("{users}, warm"),
            [&figures[0].users[at].2, &figures[1].users[at].2],
        ));
    }
    for (label, series) in &rows {
        let (users, phase) = label.split_once(", ").unwrap_or((label, ""));
        for (side, s) in Side::BOTH.iter().zip(series) {
            let rss = if s.peak_rss.is_empty() {
                String::new()
            } else {
                format!(
                    "{:.0}",
                    median(&s.peak_rss.iter().map(|&k| k as f64).collect::<Vec<_>>())
                )
            };
            let _ = writeln!(
                out,
                "| {} | {users} | {phase} | {:.1} | {:.2} | {:.2} | {:.2} | {}/{} | {rss} |",
                side.gssd_name(),
                s.median_rate(),
                s.percentile_ms(50.0),
                s.percentile_ms(99.0),
                s.cpu_ms(s.cpu),
                s.failed,
                s.attempts,
            );
        }
    }
    let _ = writeln!(
        out,
        "\nratios, rgssd over rpc.gssd (upcalls/s; p50, p99 and CPU time rpc.gssd over rgssd)\n"
    );
    let _ = writeln!(
        out,
        "| users | phase | rate ratio | p50 ratio | p99 ratio | CPU ratio |"
    );
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|");
    for (label, [ours, theirs]) in &rows {
        let (users, phase) = label.split_once(", ").unwrap_or((label, ""));
        let _ = writeln!(
            out,
            "| {users} | {phase} | {:.2} | {:.2} | {:.2} | {:.2} |",
            ours.median_rate() / theirs.median_rate(),
            theirs.percentile_ms(50.0) / ours.percentile_ms(50.0),
            theirs.percentile_ms(99.0) / ours.percentile_ms(99.0),
            theirs.cpu_ms(theirs.cpu) / ours.cpu_ms(ours.cpu),
        );
    }
    println!("{out}");
}

// ------------------------------------------------------------- svcgssd

/// Gets service tickets for the server with MIT's kvno, one per user,
/// for minting AP-REQs.
fn service_tickets(
    world: &World,
    users: usize,
) -> Result<Vec<krb5::credentials::Credential>, Error> {
    let kvno = testkdc::find_program("kvno", "krb5-user")?;
    let dir = world.dir.path().join("tickets");
    fs::create_dir_all(&dir)?;
    let mut tickets = Vec::new();
    for template in world.templates.iter().take(users) {
        let path = dir.join(template.file_name().ok_or("a template has no name")?);
        fs::copy(template, &path)?;
        let output = world
            .kdc
            .command(&kvno)
            .arg("-c")
            .arg(format!("FILE:{}", path.display()))
            .arg(format!("nfs/{SERVER}@{REALM}"))
            .output()?;
        if !output.status.success() {
            return Err(format!("kvno: {}", String::from_utf8_lossy(&output.stderr)).into());
        }
        let cache = krb5::ccache::file::parse(&fs::read(&path)?)?;
        let ticket = cache
            .credentials
            .into_iter()
            .find(|c| c.server.components.first().map(String::as_str) == Some("nfs"))
            .ok_or_else(|| format!("kvno left no service ticket in {}", path.display()))?;
        tickets.push(ticket);
    }
    Ok(tickets)
}

/// Makes `count` InitialContextTokens, each with a new authenticator,
/// from the tickets in turn.
fn mint_tokens(
    tickets: &[krb5::credentials::Credential],
    count: usize,
) -> Result<Vec<Vec<u8>>, Error> {
    use krb5::gss::initiator::{init_sec_context, InitStep, InitiatorOptions, RPCSEC_GSS_FLAGS};
    let mut tokens = Vec::with_capacity(count);
    for i in 0..count {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
        let options = InitiatorOptions {
            flags: RPCSEC_GSS_FLAGS,
            enctypes: &KERNEL_ENCTYPES,
            now: (now.as_secs() as i64, now.subsec_micros()),
            channel_bindings: None,
        };
        let token = match init_sec_context(&tickets[i % tickets.len()], &options)? {
            InitStep::ContinueNeeded(_, token) | InitStep::Complete(_, token) => token,
        };
        tokens.push(token);
    }
    Ok(tokens)
}

fn start_svcgssd(world: &World, side: Side, procfs: &ProcFs, dir: &Path) -> Result<Daemon, Error> {
    let principal = format!("nfs/{SERVER}@{REALM}");
    let log = dir.join("svcgssd.log");
    let command = match side {
        Side::Rgssd => {
            let mut command = world.command(&world.rgssd, &log)?;
            command
                .args(["svcgssd", "-f"])
                .args(&world.verbosity)
                .args(["-p", &principal, "--mode", "legacy", "--proc-dir"])
                .arg(procfs.root());
            command
        }
        Side::NfsUtils => {
            let rcache = dir.join("rcache");
            fs::create_dir_all(&rcache)?;
            let mut args: Vec<std::ffi::OsString> = vec![RPC_SVCGSSD.into(), "-f".into()];
            args.extend(world.verbosity.iter().map(Into::into));
            args.extend(["-p".into(), principal.into()]);
            let mut command = world.namespaced(
                concat!(
                    "mount -t tmpfs rgssd-bench /proc/$$/net\n",
                    "mkdir /proc/$$/net/rpc\n",
                    "mount --bind \"$1\" /proc/$$/net/rpc",
                ),
                &[procfs.root().as_os_str()],
                &args,
                &log,
            )?;
            command.env("KRB5RCACHEDIR", rcache);
            command
        }
    };
    let daemon = Daemon::start(command, log)?;
    let ready = procfs.wait_listener(true, STARTUP);
    daemon.ready_or_log(
        ready,
        &format!("{} did not open the init channel", side.svcgssd_name()),
    )
}

/// Queues every token's INIT request at once and waits for the replies,
/// checking each against what the kernel would accept.
///
/// NOTE: every channel read and write is a FUSE round trip here, which
/// costs about as much CPU time as a daemon's own work per request. The
/// real /proc channel has no such cost, so these bursts understate how
/// far apart the daemons' own costs are.
fn init_burst(daemon: &Daemon, procfs: &ProcFs, tokens: &[Vec<u8>]) -> Result<Burst, Error> {
    let cpu = daemon.cpu_time();
    let simulator_cpu = cpu_time("self");
    let start = Instant::now();
    let queued: Vec<_> = tokens
        .iter()
        .map(|token| (start.elapsed(), procfs.request(&[], token)))
        .collect();
    let mut burst = Burst::default();
    for (offset, id) in queued {
        let Some(reply) = procfs.wait_reply(id, WAIT) else {
            burst.failed += 1;
            continue;
        };
        let installed = reply.major == 0
            && procfs
                .context(&reply.out_handle)
                .and_then(|entry| entry.creds)
                .is_some_and(|creds| creds.mech == "krb5");
        if !installed {
            burst.failed += 1;
            continue;
        }
        let latency = procfs.latency(id).ok_or("a reply has no latency")?;
        burst.wall = burst.wall.max(offset + latency);
        burst.latencies.push(latency);
    }
    let rejected = procfs
        .init_writes()
        .into_iter()
        .chain(procfs.context_writes())
        .filter(|w| w.result.is_err())
        .count();
    if rejected > 0 {
        return Err(format!("the simulated kernel rejected {rejected} records").into());
    }
    if burst.latencies.is_empty() {
        burst.wall = start.elapsed();
    }
    burst.cpu = daemon.cpu_time().saturating_sub(cpu);
    burst.simulator_cpu = cpu_time("self").saturating_sub(simulator_cpu);
    Ok(burst)
}

fn bench_svcgssd(world: &World, settings: &Settings) -> Result<(), Error> {
    let tickets = service_tickets(world, world.templates.len())?;
    let mut series = [Series::default(), Series::default()];
    for run in 0..settings.runs {
        for (side, series) in Side::BOTH.iter().zip(series.iter_mut()) {
            let dir = world.run_dir("svcgssd", 0)?;
            let procfs = ProcFs::mount(&KERNEL_ENCTYPES)?;
            let mut daemon = start_svcgssd(world, *side, &procfs, &dir)?;
            let tokens = mint_tokens(&tickets, settings.requests)?;
            let burst = init_burst(&daemon, &procfs, &tokens)?;
            daemon.check_alive()?;
            report_failures(&daemon, burst.failed);
            eprintln!(
                "svcgssd run {} of {}: {} answered {} in {:.3} s, {} failed",
                run + 1,
                settings.runs,
                side.svcgssd_name(),
                burst.latencies.len(),
                burst.wall.as_secs_f64(),
                burst.failed
            );
            series.add(&burst);
            series.peak_rss.push(daemon.peak_rss().unwrap_or(0));
            drop(daemon);
            drop(procfs);
        }
    }
    print_svcgssd(&series, settings, tickets.len());
    Ok(())
}

fn print_svcgssd(series: &[Series; 2], settings: &Settings, clients: usize) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nsvcgssd: a burst of {} INIT requests from {clients} client principals; time until every reply is written (median of {} runs), latency from request to reply (ms, all runs)\n",
        settings.requests, settings.runs
    );
    let _ = writeln!(
        out,
        "| daemon | burst s | requests/s | p50 ms | p99 ms | CPU ms/request | simulator CPU ms/request | failed | peak RSS KiB |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    for (side, s) in Side::BOTH.iter().zip(series) {
        let _ = writeln!(
            out,
            "| {} | {:.3} | {:.0} | {:.2} | {:.2} | {:.3} | {:.3} | {}/{} | {:.0} |",
            side.svcgssd_name(),
            median(&s.walls),
            s.median_rate(),
            s.percentile_ms(50.0),
            s.percentile_ms(99.0),
            s.cpu_ms(s.cpu),
            s.cpu_ms(s.simulator_cpu),
            s.failed,
            s.attempts,
            median(&s.peak_rss.iter().map(|&k| k as f64).collect::<Vec<_>>()),
        );
    }
    let ratios: Vec<String> = series[1]
        .walls
        .iter()
        .zip(&series[0].walls)
        .map(|(theirs, ours)| format!("{:.2}", theirs / ours))
        .collect();
    let _ = writeln!(
        out,
        "\nburst time of rpc.svcgssd over rgssd svcgssd: {:.2} (median); per run: {}",
        median(&series[1].walls) / median(&series[0].walls),
        ratios.join(", ")
    );
    let _ = writeln!(
        out,
        "CPU time per request of rpc.svcgssd over rgssd svcgssd: {:.2}",
        series[1].cpu_ms(series[1].cpu) / series[0].cpu_ms(series[0].cpu)
    );
    println!("{out}");
}

/// Describes the CPU, kernel, load and versions, for the benchmarks page.
fn machine_summary() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let version = |package: &str| {
        Command::new("dpkg-query")
            .args(["-W", "-f", "${Version}", package])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    format!(
        "machine: {cpu}, {cpus} CPUs, Linux {}, load average {}; nfs-common {}, nfs-kernel-server {}, krb5-kdc {}",
        kernel.trim(),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        version("nfs-common"),
        version("nfs-kernel-server"),
        version("krb5-kdc"),
    )
}
