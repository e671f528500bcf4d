//! A throwaway MIT Kerberos KDC for tests.
//!
//! [`TestKdc::start`] creates a temporary directory holding `kdc.conf`,
//! `krb5.conf` and one database per realm, adds the requested principals
//! with `kadmin.local`, exports keytabs, and runs `krb5kdc -n` in the
//! foreground on `127.0.0.1` with a free port (the same number for UDP and
//! TCP). Dropping the [`TestKdc`] kills that process by PID and removes the
//! directory.
//!
//! It needs MIT krb5 1.20 or later: `krb5kdc` and `kdb5_util` from the Debian
//! package `krb5-kdc`, and `kadmin.local` from `krb5-admin-server`. When one
//! is missing, [`TestKdc::start`] fails with [`Error::MissingProgram`], which
//! names the package to install; it never skips.
//!
//! Set `RGSSD_TESTKDC_KEEP=1` to keep the directory (configuration,
//! databases, keytabs and `kdc.log`) after the test for inspection.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Encryption type numbers (RFC 3961 §8 and its successors) with MIT's names.
const ENCTYPE_NAMES: &[(i32, &str)] = &[
    (16, "des3-cbc-sha1"),
    (17, "aes128-cts-hmac-sha1-96"),
    (18, "aes256-cts-hmac-sha1-96"),
    (19, "aes128-cts-hmac-sha256-128"),
    (20, "aes256-cts-hmac-sha384-192"),
    (23, "arcfour-hmac"),
    (25, "camellia128-cts-cmac"),
    (26, "camellia256-cts-cmac"),
];

/// Returns MIT's name for `enctype`, for the enctypes MIT krb5 1.20 implements.
pub fn enctype_name(enctype: i32) -> Option<&'static str> {
    ENCTYPE_NAMES
        .iter()
        .find(|(number, _)| *number == enctype)
        .map(|(_, name)| *name)
}

/// Errors from starting or driving the test KDC.
#[derive(Debug)]
pub enum Error {
    /// An MIT program is not installed.
    MissingProgram {
        program: &'static str,
        package: &'static str,
    },
    /// An option has a value the KDC cannot use.
    InvalidOption(String),
    /// A file or socket operation failed.
    Io { context: String, source: io::Error },
    /// An MIT program exited with a failure status.
    CommandFailed {
        command: String,
        status: String,
        stdout: String,
        stderr: String,
    },
    /// `krb5kdc` exited or did not reply to a probe in time.
    KdcNotReady { reason: String, log: String },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::MissingProgram { program, package } => write!(
                f,
                "{program} not found in /usr/sbin, /usr/bin or PATH; \
                 install the Debian package {package} (apt-get install {package})"
            ),
            Error::InvalidOption(message) => write!(f, "invalid test KDC option: {message}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::CommandFailed {
                command,
                status,
                stdout,
                stderr,
            } => write!(
                f,
                "`{command}` failed ({status})\nstdout: {stdout}\nstderr: {stderr}"
            ),
            Error::KdcNotReady { reason, log } => {
                write!(f, "krb5kdc is not serving: {reason}\nKDC log:\n{log}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_context(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// The source of a principal's keys.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// Keys derived from this password (`addprinc -pw`).
    Password(String),
    /// Random keys (`addprinc -randkey`), for services.
    Random,
}

/// A principal to add to the database.
#[derive(Clone, Debug)]
pub struct PrincipalSpec {
    /// The name, with `@REALM` to place it in the second realm; without a
    /// realm it goes to the first realm.
    pub name: String,
    pub key: KeySource,
    /// The enctypes of its keys; `None` takes [`TestKdcOptions::enctypes`].
    pub enctypes: Option<Vec<i32>>,
    /// The keytab file name (inside the KDC's `keytabs/` directory) to export
    /// its keys to, unchanged (`ktadd -norandkey`); `None` exports nothing.
    /// Several principals may share one file.
    pub keytab: Option<String>,
}

impl PrincipalSpec {
    /// A principal with a password and no keytab.
    pub fn user(name: &str, password: &str) -> Self {
        Self {
            name: name.to_string(),
            key: KeySource::Password(password.to_string()),
            enctypes: None,
            keytab: None,
        }
    }

    /// A principal with random keys, exported to `<name>.keytab` (with `/`
    /// and `@` replaced by `_`).
    pub fn service(name: &str) -> Self {
        Self {
            name: name.to_string(),
            key: KeySource::Random,
            enctypes: None,
            keytab: Some(default_keytab_file(name)),
        }
    }

    /// Sets the enctypes of this principal's keys.
    pub fn with_enctypes(mut self, enctypes: &[i32]) -> Self {
        self.enctypes = Some(enctypes.to_vec());
        self
    }

    /// Exports the keys to the keytab file `file` inside `keytabs/`.
    pub fn with_keytab(mut self, file: &str) -> Self {
        self.keytab = Some(file.to_string());
        self
    }
}

fn default_keytab_file(principal: &str) -> String {
    let safe: String = principal
        .chars()
        .map(|c| if c == '/' || c == '@' { '_' } else { c })
        .collect();
    format!("{safe}.keytab")
}

/// The realms, principals and settings for [`TestKdc::start`]. Build it with [`TestKdcOptions::new`] and
/// the `with_*`/`user`/`service` methods, or fill the fields directly.
#[derive(Clone, Debug)]
pub struct TestKdcOptions {
    pub realm: String,
    /// A second realm served by the same `krb5kdc` process and port, with
    /// cross-realm keys `krbtgt/SECOND@FIRST` and `krbtgt/FIRST@SECOND` in
    /// both databases.
    pub second_realm: Option<String>,
    /// The enctypes of every key the realms hold unless a principal sets its
    /// own (`supported_enctypes` in kdc.conf, so also the `krbtgt` keys).
    /// Empty means MIT's default (aes256-cts-hmac-sha1-96 and
    /// aes128-cts-hmac-sha1-96 in 1.20).
    pub enctypes: Vec<i32>,
    pub principals: Vec<PrincipalSpec>,
    /// The realm's `max_life`, in MIT's duration syntax.
    pub max_life: String,
    /// The realm's `max_renewable_life`, in MIT's duration syntax.
    pub max_renewable_life: String,
    /// Extra `[libdefaults]` lines for krb5.conf, such as
    /// `udp_preference_limit = 1`.
    pub libdefaults: Vec<String>,
    /// KDC addresses written to krb5.conf before the real one, such as a
    /// dead `127.0.0.1:PORT` from [`free_port`].
    pub kdcs_before: Vec<String>,
    /// The time to wait for `krb5kdc` to reply to a probe.
    pub startup_timeout: Duration,
}

impl TestKdcOptions {
    /// Options for one realm with no principals but `krbtgt`, a 10 hour
    /// `max_life` and a 7 day `max_renewable_life`.
    pub fn new(realm: &str) -> Self {
        Self {
            realm: realm.to_string(),
            second_realm: None,
            enctypes: Vec::new(),
            principals: Vec::new(),
            max_life: "10h".to_string(),
            max_renewable_life: "7d".to_string(),
            libdefaults: Vec::new(),
            kdcs_before: Vec::new(),
            startup_timeout: Duration::from_secs(30),
        }
    }

    /// Adds a principal with a password.
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.principals.push(PrincipalSpec::user(name, password));
        self
    }

    /// Adds a principal with random keys and its own keytab.
    pub fn service(mut self, name: &str) -> Self {
        self.principals.push(PrincipalSpec::service(name));
        self
    }

    pub fn principal(mut self, principal: PrincipalSpec) -> Self {
        self.principals.push(principal);
        self
    }

    pub fn with_enctypes(mut self, enctypes: &[i32]) -> Self {
        self.enctypes = enctypes.to_vec();
        self
    }

    pub fn with_second_realm(mut self, realm: &str) -> Self {
        self.second_realm = Some(realm.to_string());
        self
    }

    pub fn with_max_life(mut self, duration: &str) -> Self {
        self.max_life = duration.to_string();
        self
    }

    pub fn with_max_renewable_life(mut self, duration: &str) -> Self {
        self.max_renewable_life = duration.to_string();
        self
    }

    /// Adds one `[libdefaults]` line, such as `permitted_enctypes = aes256-sha2`.
    pub fn libdefault(mut self, line: &str) -> Self {
        self.libdefaults.push(line.to_string());
        self
    }

    /// Lists `address` in krb5.conf before the real KDC.
    pub fn kdc_before(mut self, address: &str) -> Self {
        self.kdcs_before.push(address.to_string());
        self
    }
}

/// The MIT programs the KDC needs, with the Debian package of each.
const KRB5KDC: (&str, &str) = ("krb5kdc", "krb5-kdc");
const KDB5_UTIL: (&str, &str) = ("kdb5_util", "krb5-kdc");
const KADMIN_LOCAL: (&str, &str) = ("kadmin.local", "krb5-admin-server");

/// Finds an MIT program in /usr/sbin, /usr/bin or `PATH`.
pub fn find_program(program: &'static str, package: &'static str) -> Result<PathBuf, Error> {
    let mut dirs = vec![PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter()
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .ok_or(Error::MissingProgram { program, package })
}

/// Returns a port number that is free on 127.0.0.1 for both UDP and TCP at
/// the time of the call. Nothing keeps it reserved.
pub fn free_port() -> Result<u16, Error> {
    for _ in 0..50 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(io_context("binding a UDP socket on 127.0.0.1"))?;
        let port = udp
            .local_addr()
            .map_err(io_context("reading a UDP socket's address"))?
            .port();
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(Error::Io {
        context: "finding a port free for both UDP and TCP on 127.0.0.1".to_string(),
        source: io::Error::new(io::ErrorKind::AddrInUse, "50 attempts failed"),
    })
}

/// A running `krb5kdc` and its files. Dropping it kills the process and
/// removes the directory.
#[derive(Debug)]
pub struct TestKdc {
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    realm: String,
    second_realm: Option<String>,
    port: u16,
    keytabs: BTreeMap<String, PathBuf>,
    kadmin_local: PathBuf,
}

impl TestKdc {
    /// Creates the realms and principals and starts `krb5kdc`, waiting until
    /// it replies on UDP and TCP.
    pub fn start(options: TestKdcOptions) -> Result<TestKdc, Error> {
        let krb5kdc = find_program(KRB5KDC.0, KRB5KDC.1)?;
        let kdb5_util = find_program(KDB5_UTIL.0, KDB5_UTIL.1)?;
        let kadmin_local = find_program(KADMIN_LOCAL.0, KADMIN_LOCAL.1)?;
        validate(&options)?;

        let dir = tempfile::Builder::new()
            .prefix("rgssd-testkdc-")
            .tempdir()
            .map_err(io_context("creating the KDC's temporary directory"))?;
        let path = dir.path().to_path_buf();
        let mut kdc = TestKdc {
            child: None,
            dir: Some(dir),
            path,
            realm: options.realm.clone(),
            second_realm: options.second_realm.clone(),
            port: 0,
            keytabs: BTreeMap::new(),
            kadmin_local,
        };

        // The port goes into both files, and another process may take it
        // between free_port() and krb5kdc's bind, so a failed start retries
        // with a new port.
        let mut last_error = None;
        let mut databases_created = false;
        for _ in 0..3 {
            kdc.port = free_port()?;
            kdc.write_files(&options)?;
            if !databases_created {
                kdc.create_databases(&kdb5_util, &options)?;
                databases_created = true;
            }
            match kdc.spawn_and_wait(&krb5kdc, &options) {
                Ok(()) => return Ok(kdc),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| Error::KdcNotReady {
            reason: "no start attempted".to_string(),
            log: String::new(),
        }))
    }

    /// The temporary directory holding every file of this KDC.
    pub fn dir(&self) -> &Path {
        &self.path
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    pub fn second_realm(&self) -> Option<&str> {
        self.second_realm.as_deref()
    }

    /// The port `krb5kdc` serves on 127.0.0.1, for both UDP and TCP.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The KDC address as krb5.conf lists it: `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The path of the client configuration (KRB5_CONFIG).
    pub fn krb5_conf(&self) -> PathBuf {
        self.path.join("krb5.conf")
    }

    /// The path of the KDC configuration (KRB5_KDC_PROFILE).
    pub fn kdc_conf(&self) -> PathBuf {
        self.path.join("kdc.conf")
    }

    /// The default credential cache the environment names, `FILE:<dir>/ccache`.
    pub fn ccache_name(&self) -> String {
        format!("FILE:{}", self.ccache_path().display())
    }

    /// The file of the default credential cache.
    pub fn ccache_path(&self) -> PathBuf {
        self.path.join("ccache")
    }

    /// The default keytab the environment names (KRB5_KTNAME). Principals go
    /// into it when their keytab file is `krb5.keytab`.
    pub fn default_keytab(&self) -> PathBuf {
        self.path.join("keytabs").join("krb5.keytab")
    }

    /// The default client keytab the environment names (KRB5_CLIENT_KTNAME).
    pub fn client_keytab(&self) -> PathBuf {
        self.path.join("keytabs").join("client.keytab")
    }

    /// The keytab a principal was exported to, by the name given in its
    /// [`PrincipalSpec`].
    pub fn keytab(&self, principal: &str) -> Option<&Path> {
        self.keytabs.get(principal).map(PathBuf::as_path)
    }

    /// The environment for MIT's tools and ours: KRB5_CONFIG, KRB5_KDC_PROFILE,
    /// KRB5CCNAME, KRB5_KTNAME and KRB5_CLIENT_KTNAME, all inside [`Self::dir`].
    pub fn env(&self) -> Vec<(String, OsString)> {
        vec![
            ("KRB5_CONFIG".to_string(), self.krb5_conf().into_os_string()),
            (
                "KRB5_KDC_PROFILE".to_string(),
                self.kdc_conf().into_os_string(),
            ),
            ("KRB5CCNAME".to_string(), OsString::from(self.ccache_name())),
            (
                "KRB5_KTNAME".to_string(),
                OsString::from(format!("FILE:{}", self.default_keytab().display())),
            ),
            (
                "KRB5_CLIENT_KTNAME".to_string(),
                OsString::from(format!("FILE:{}", self.client_keytab().display())),
            ),
        ]
    }

    /// A command running `program` with [`Self::env`] set and KRB5_TRACE removed.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.env_remove("KRB5_TRACE");
        for (name, value) in self.env() {
            command.env(name, value);
        }
        command
    }

    /// Runs one `kadmin.local` query in `realm`, such as `cpw -pw new alice`.
    pub fn kadmin(&self, realm: &str, query: &str) -> Result<Output, Error> {
        run_checked(
            self.command(&self.kadmin_local)
                .args(["-r", realm, "-q", query]),
        )
    }

    /// Adds a principal after start, exporting its keytab if its spec names one.
    pub fn add_principal(&mut self, principal: &PrincipalSpec) -> Result<(), Error> {
        let default_enctypes = Vec::new();
        self.add_principal_with_defaults(principal, &default_enctypes)
    }

    /// The KDC's log file (`[logging] kdc`), for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.path.join("kdc.log")).unwrap_or_default()
    }

    fn realm_of<'a>(&'a self, principal: &'a str) -> &'a str {
        match principal.rsplit_once('@') {
            Some((_, realm)) => realm,
            None => &self.realm,
        }
    }

    fn realms(&self) -> Vec<&str> {
        let mut realms = vec![self.realm.as_str()];
        realms.extend(self.second_realm.as_deref());
        realms
    }

    fn write_files(&self, options: &TestKdcOptions) -> Result<(), Error> {
        fs::create_dir_all(self.path.join("keytabs"))
            .map_err(io_context("creating the keytab directory"))?;
        for realm in self.realms() {
            fs::create_dir_all(self.path.join("db").join(realm))
                .map_err(io_context("creating a database directory"))?;
        }
        fs::write(self.kdc_conf(), self.kdc_conf_text(options))
            .map_err(io_context("writing kdc.conf"))?;
        fs::write(self.krb5_conf(), self.krb5_conf_text(options))
            .map_err(io_context("writing krb5.conf"))?;
        Ok(())
    }

    fn kdc_conf_text(&self, options: &TestKdcOptions) -> String {
        let dir = self.path.display();
        let mut text = String::new();
        let _ = writeln!(text, "[kdcdefaults]");
        let _ = writeln!(text, "    kdc_listen = 127.0.0.1:{}", self.port);
        let _ = writeln!(text, "    kdc_tcp_listen = 127.0.0.1:{}", self.port);
        if !options.enctypes.is_empty() {
            // krb5kdc reads kdc.conf before krb5.conf, so this limits only the
            // KDC's choice of session key and ticket enctypes to the forced
            // ones, while clients keep requesting their own defaults.
            let _ = writeln!(text, "\n[libdefaults]");
            let _ = writeln!(
                text,
                "    permitted_enctypes = {}",
                enctype_list(&options.enctypes)
            );
        }
        let _ = writeln!(text, "\n[realms]");
        for realm in self.realms() {
            let _ = writeln!(text, "    {realm} = {{");
            let _ = writeln!(text, "        database_name = {dir}/db/{realm}/principal");
            let _ = writeln!(text, "        key_stash_file = {dir}/db/{realm}/stash");
            let _ = writeln!(text, "        acl_file = {dir}/kadm5.acl");
            let _ = writeln!(text, "        max_life = {}", options.max_life);
            let _ = writeln!(
                text,
                "        max_renewable_life = {}",
                options.max_renewable_life
            );
            let _ = writeln!(text, "        master_key_type = aes256-cts-hmac-sha1-96");
            if !options.enctypes.is_empty() {
                let _ = writeln!(
                    text,
                    "        supported_enctypes = {}",
                    key_salt_list(&options.enctypes)
                );
            }
            // A wrong password then fails at the KDC with KDC_ERR_PREAUTH_FAILED,
            // as in most deployments, rather than only at the client.
            let _ = writeln!(text, "        default_principal_flags = +preauth");
            let _ = writeln!(text, "    }}");
        }
        let _ = writeln!(text, "\n[logging]");
        let _ = writeln!(text, "    kdc = FILE:{dir}/kdc.log");
        let _ = writeln!(text, "    admin_server = FILE:{dir}/kadmin.log");
        let _ = writeln!(text, "    default = FILE:{dir}/krb5lib.log");
        text
    }

    fn krb5_conf_text(&self, options: &TestKdcOptions) -> String {
        let mut text = String::new();
        let _ = writeln!(text, "[libdefaults]");
        let _ = writeln!(text, "    default_realm = {}", self.realm);
        let _ = writeln!(text, "    dns_lookup_kdc = false");
        let _ = writeln!(text, "    dns_lookup_realm = false");
        let _ = writeln!(text, "    dns_canonicalize_hostname = false");
        let _ = writeln!(text, "    rdns = false");
        for line in &options.libdefaults {
            let _ = writeln!(text, "    {line}");
        }
        let _ = writeln!(text, "\n[realms]");
        for realm in self.realms() {
            let _ = writeln!(text, "    {realm} = {{");
            for address in &options.kdcs_before {
                let _ = writeln!(text, "        kdc = {address}");
            }
            let _ = writeln!(text, "        kdc = 127.0.0.1:{}", self.port);
            let _ = writeln!(text, "    }}");
        }
        text
    }

    fn create_databases(
        &mut self,
        kdb5_util: &Path,
        options: &TestKdcOptions,
    ) -> Result<(), Error> {
        for realm in self.realms() {
            let master_password = random_password()?;
            run_checked(self.command(kdb5_util).args([
                "create",
                "-s",
                "-r",
                realm,
                "-P",
                &master_password,
            ]))?;
        }

        if let Some(second) = self.second_realm.clone() {
            // The same password and salt give both databases the same
            // cross-realm keys, with kvno 1 on each side.
            let password = random_password()?;
            let first = self.realm.clone();
            for name in [
                format!("krbtgt/{second}@{first}"),
                format!("krbtgt/{first}@{second}"),
            ] {
                for realm in [&first, &second] {
                    self.kadmin(realm, &format!("addprinc -pw {} {name}", quote(&password)?))?;
                }
            }
        }

        for principal in &options.principals {
            self.add_principal_with_defaults(principal, &options.enctypes)?;
        }
        Ok(())
    }

    fn add_principal_with_defaults(
        &mut self,
        principal: &PrincipalSpec,
        default_enctypes: &[i32],
    ) -> Result<(), Error> {
        let realm = self.realm_of(&principal.name).to_string();
        let mut query = String::from("addprinc");
        match &principal.key {
            KeySource::Password(password) => {
                let _ = write!(query, " -pw {}", quote(password)?);
            }
            KeySource::Random => query.push_str(" -randkey"),
        }
        let enctypes = principal.enctypes.as_deref().unwrap_or(default_enctypes);
        if !enctypes.is_empty() {
            let _ = write!(query, " -e {}", quote(&key_salt_list(enctypes))?);
        }
        let _ = write!(query, " {}", quote(&principal.name)?);
        self.kadmin(&realm, &query)?;

        if let Some(file) = &principal.keytab {
            let keytab = self.path.join("keytabs").join(file);
            // -norandkey keeps the keys (and kvno 1) the database holds, so
            // password principals still accept their password.
            let query = format!(
                "ktadd -k {} -norandkey {}",
                quote(&keytab.display().to_string())?,
                quote(&principal.name)?
            );
            self.kadmin(&realm, &query)?;
            self.keytabs.insert(principal.name.clone(), keytab);
        }
        Ok(())
    }

    fn spawn_and_wait(&mut self, krb5kdc: &Path, options: &TestKdcOptions) -> Result<(), Error> {
        let stderr = fs::File::create(self.path.join("krb5kdc.stderr"))
            .map_err(io_context("creating krb5kdc.stderr"))?;
        let mut command = self.command(krb5kdc);
        command.arg("-n");
        for realm in self.realms() {
            command.args(["-r", realm]);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(io_context(format!("starting {}", krb5kdc.display())))?;
        self.child = Some(child);

        let result = self.wait_until_serving(options.startup_timeout);
        if result.is_err() {
            self.stop();
        }
        result
    }

    fn wait_until_serving(&mut self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let request = probe_as_req(&self.realm);
        let mut udp_ok = false;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(self.not_ready(format!("krb5kdc exited with {status}")));
                }
            }
            if !udp_ok {
                udp_ok = probe_udp(address, &request).unwrap_or(false);
            }
            if udp_ok && probe_tcp(address, &request).unwrap_or(false) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let which = if udp_ok { "TCP" } else { "UDP" };
                return Err(self.not_ready(format!(
                    "timed out after {timeout:?} waiting for a reply on {which} {address}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn not_ready(&self, reason: String) -> Error {
        let stderr = fs::read_to_string(self.path.join("krb5kdc.stderr")).unwrap_or_default();
        Error::KdcNotReady {
            reason,
            log: format!("{}{}", stderr, self.log()),
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Child::kill sends SIGKILL to this PID only.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestKdc {
    fn drop(&mut self) {
        self.stop();
        if std::env::var_os("RGSSD_TESTKDC_KEEP").is_some() {
            if let Some(dir) = self.dir.take() {
                let kept = dir.keep();
                eprintln!("test KDC files kept in {}", kept.display());
            }
        }
    }
}

fn validate(options: &TestKdcOptions) -> Result<(), Error> {
    let mut realms = vec![options.realm.as_str()];
    realms.extend(options.second_realm.as_deref());
    for realm in &realms {
        if realm.is_empty()
            || !realm
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
        {
            return Err(Error::InvalidOption(format!(
                "realm {realm:?} must be non-empty ASCII letters, digits, '.', '-' or '_'"
            )));
        }
    }
    if options.second_realm.as_deref() == Some(options.realm.as_str()) {
        return Err(Error::InvalidOption(format!(
            "the second realm must differ from the first ({})",
            options.realm
        )));
    }

    let principal_enctypes = options
        .principals
        .iter()
        .filter_map(|p| p.enctypes.as_ref());
    for enctypes in std::iter::once(&options.enctypes).chain(principal_enctypes) {
        if let Some(unknown) = enctypes.iter().find(|e| enctype_name(**e).is_none()) {
            return Err(Error::InvalidOption(format!(
                "enctype {unknown} is not one MIT krb5 implements; use 16, 17, 18, 19, 20, 23, 25 or 26"
            )));
        }
    }

    for principal in &options.principals {
        if let Some((_, realm)) = principal.name.rsplit_once('@') {
            if !realms.contains(&realm) {
                return Err(Error::InvalidOption(format!(
                    "principal {} is in realm {realm}, which this KDC does not serve",
                    principal.name
                )));
            }
        }
        if let Some(file) = &principal.keytab {
            if file.is_empty() || file.contains('/') {
                return Err(Error::InvalidOption(format!(
                    "keytab file name {file:?} of {} must be a plain file name",
                    principal.name
                )));
            }
        }
    }
    Ok(())
}

fn enctype_list(enctypes: &[i32]) -> String {
    enctypes
        .iter()
        .filter_map(|e| enctype_name(*e))
        .collect::<Vec<_>>()
        .join(" ")
}

fn key_salt_list(enctypes: &[i32]) -> String {
    enctypes
        .iter()
        .filter_map(|e| enctype_name(*e))
        .map(|name| format!("{name}:normal"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes an argument for kadmin's query parser, which splits on blanks and
/// takes double-quoted strings whole but has no escape for a quote inside.
fn quote(argument: &str) -> Result<String, Error> {
    if argument.contains('"') {
        return Err(Error::InvalidOption(format!(
            "{argument:?} contains a double quote, which kadmin.local queries cannot carry"
        )));
    }
    Ok(format!("\"{argument}\""))
}

fn random_password() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    fs::File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut bytes))
        .map_err(io_context("reading /dev/urandom"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Runs `command` with `stdin` as its standard input and collects its
/// status and output, as [`Command::output`] does.
pub fn output_with_stdin(command: &mut Command, stdin: &[u8]) -> std::io::Result<Output> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut pipe) = child.stdin.take() {
        // A program may exit without reading its input (EPIPE here), and
        // its exit status then reports what went wrong.
        let _ = pipe.write_all(stdin);
    }
    child.wait_with_output()
}

fn run_checked(command: &mut Command) -> Result<Output, Error> {
    let description = format!("{command:?}");
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(io_context(format!("running {description}")))?;
    if !output.status.success() {
        return Err(Error::CommandFailed {
            command: description,
            status: output.status.to_string(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(output)
}

/// Encodes one DER element: tag, definite length and contents.
fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xff {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(contents);
    out
}

fn der_int(value: u32) -> Vec<u8> {
    let mut bytes = value.to_be_bytes().to_vec();
    while bytes.len() > 1 && bytes[0] == 0 && bytes[1] < 0x80 {
        bytes.remove(0);
    }
    if bytes[0] >= 0x80 {
        bytes.insert(0, 0);
    }
    der(0x02, &bytes)
}

fn der_principal_name(name_type: u32, components: &[&str]) -> Vec<u8> {
    let strings: Vec<u8> = components
        .iter()
        .flat_map(|c| der(0x1b, c.as_bytes()))
        .collect();
    let mut fields = der(0xa0, &der_int(name_type));
    fields.extend(der(0xa1, &der(0x30, &strings)));
    der(0x30, &fields)
}

/// Builds an AS-REQ (RFC 4120 §5.4.1) for a client that does not exist, so
/// that a serving KDC replies with a KRB-ERROR.
fn probe_as_req(realm: &str) -> Vec<u8> {
    let mut body = der(0xa0, &der(0x03, &[0, 0, 0, 0, 0]));
    body.extend(der(0xa1, &der_principal_name(1, &["rgssd-testkdc-probe"])));
    body.extend(der(0xa2, &der(0x1b, realm.as_bytes())));
    body.extend(der(0xa3, &der_principal_name(2, &["krbtgt", realm])));
    body.extend(der(0xa5, &der(0x18, b"20370101000000Z")));
    body.extend(der(0xa7, &der_int(0x1234_5678)));
    body.extend(der(0xa8, &der(0x30, &der_int(18))));

    let mut request = der(0xa1, &der_int(5));
    request.extend(der(0xa2, &der_int(10)));
    request.extend(der(0xa4, &der(0x30, &body)));
    der(0x6a, &der(0x30, &request))
}

/// Returns true if the first byte is a KRB-ERROR or AS-REP application tag.
fn is_kdc_reply(reply: &[u8]) -> bool {
    matches!(reply.first(), Some(0x7e) | Some(0x6b))
}

fn probe_udp(address: SocketAddr, request: &[u8]) -> io::Result<bool> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    socket.set_read_timeout(Some(Duration::from_millis(300)))?;
    socket.send_to(request, address)?;
    let mut reply = [0u8; 4096];
    let (len, _) = socket.recv_from(&mut reply)?;
    Ok(is_kdc_reply(&reply[..len.min(reply.len())]))
}

fn probe_tcp(address: SocketAddr, request: &[u8]) -> io::Result<bool> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(300))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let len = u32::try_from(request.len()).map_err(io::Error::other)?;
    stream.write_all(&len.to_be_bytes())?;
    stream.write_all(request)?;
    let mut header = [0u8; 5];
    stream.read_exact(&mut header)?;
    Ok(is_kdc_reply(&header[4..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_int_is_minimal_and_positive() {
        assert_eq!(der_int(5), [0x02, 0x01, 0x05]);
        assert_eq!(der_int(0x80), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(der_int(0x1234_5678), [0x02, 0x04, 0x12, 0x34, 0x56, 0x78]);
        assert_eq!(der_int(0), [0x02, 0x01, 0x00]);
    }

    #[test]
    fn der_long_length() {
        let encoded = der(0x04, &[0u8; 200]);
        assert_eq!(&encoded[..3], &[0x04, 0x81, 200]);
        let encoded = der(0x04, &[0u8; 300]);
        assert_eq!(&encoded[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn options_reject_unknown_enctype() {
        let options = TestKdcOptions::new("EXAMPLE.TEST").with_enctypes(&[1]);
        assert!(matches!(validate(&options), Err(Error::InvalidOption(_))));
    }

    #[test]
    fn options_reject_principal_in_unknown_realm() {
        let options = TestKdcOptions::new("EXAMPLE.TEST").user("alice@OTHER.TEST", "pw");
        assert!(matches!(validate(&options), Err(Error::InvalidOption(_))));
    }

    #[test]
    fn missing_program_names_package() {
        let message = Error::MissingProgram {
            program: "kadmin.local",
            package: "krb5-admin-server",
        }
        .to_string();
        assert!(message.contains("kadmin.local not found"), "{message}");
        assert!(
            message.contains("apt-get install krb5-admin-server"),
            "{message}"
        );
    }

    #[test]
    fn quote_rejects_double_quote() {
        assert_eq!(quote("a b").unwrap(), "\"a b\"");
        assert!(quote("a\"b").is_err());
    }
}
