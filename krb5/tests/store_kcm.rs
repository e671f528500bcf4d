//! KCM caches against real KCM daemons: Heimdal's kcm (Debian package
//! heimdal-kcm) and sssd-kcm (package sssd-kcm), with MIT's klist reading
//! what we store.
//!
//! Both daemons listen on /run/.heim_org.h5l.kcm-socket, so each test runs
//! its daemon in a private mount namespace (`unshare`, which needs root)
//! with temporary directories bound over /run and, for sssd, over its
//! configuration and database directories. A test skips itself, with a
//! message, when its daemon, unshare or the namespace is unavailable.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use krb5::ccache::kcm::{KcmCache, KcmClient};
use krb5::ccache::{self, file, CcacheError, CredentialCache, KdcOffset, ResolveOptions};
use krb5::Principal;

/// A kcm daemon started by the test; killed when dropped.
struct Daemon {
    child: Child,
    dir: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Daemon {
    fn socket(&self) -> PathBuf {
        self.dir.join("run/.heim_org.h5l.kcm-socket")
    }
}

/// Starts `script` in a private mount namespace and waits for the socket.
fn start_daemon(tag: &str, prepare: impl FnOnce(&Path) -> String) -> Option<Daemon> {
    let mut random = [0u8; 4];
    getrandom::fill(&mut random).unwrap();
    let dir = std::env::temp_dir().join(format!("rgssd-{tag}-{}", hex::encode(random)));
    fs::create_dir_all(dir.join("run")).unwrap();
    let script = prepare(&dir);

    let child = match Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("skipping: cannot run unshare: {e}");
            let _ = fs::remove_dir_all(&dir);
            return None;
        }
    };
    let mut daemon = Daemon { child, dir };

    let deadline = Instant::now() + Duration::from_secs(15);
    while !daemon.socket().exists() {
        if Instant::now() > deadline || daemon.child.try_wait().ok().flatten().is_some() {
            eprintln!("skipping: {tag} did not start in a private mount namespace");
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(daemon)
}

fn start_heimdal_kcm() -> Option<Daemon> {
    if !Path::new("/usr/sbin/kcm").exists() {
        eprintln!("skipping: Heimdal's kcm (/usr/sbin/kcm) is not installed");
        return None;
    }
    start_daemon("heimdal-kcm", |dir| {
        format!(
            "mount --bind '{}' /run && exec /usr/sbin/kcm",
            dir.join("run").display()
        )
    })
}

/// Starts sssd_kcm with its own configuration, configuration database,
/// secrets database and log directory, all under the test's directory.
fn start_sssd_kcm() -> Option<Daemon> {
    let binary = Path::new("/usr/libexec/sssd/sssd_kcm");
    if !binary.exists() || !Path::new("/usr/sbin/sssd").exists() {
        eprintln!("skipping: sssd-kcm (/usr/libexec/sssd/sssd_kcm) is not installed");
        return None;
    }
    start_daemon("sssd-kcm", |dir| {
        let mut binds = String::new();
        for (sub, target) in [
            ("run", "/run"),
            ("lib", "/var/lib/sss"),
            ("etc", "/etc/sssd"),
            ("log", "/var/log/sssd"),
        ] {
            let source = dir.join(sub);
            fs::create_dir_all(&source).unwrap();
            binds += &format!("mount --bind '{}' {target} && ", source.display());
        }
        for sub in ["db", "secrets", "pipes/private", "mc", "pubconf"] {
            fs::create_dir_all(dir.join("lib").join(sub)).unwrap();
        }
        fs::create_dir_all(dir.join("etc/conf.d")).unwrap();
        let conf = dir.join("etc/sssd.conf");
        fs::write(
            &conf,
            "[sssd]\nservices = kcm\n[kcm]\nsocket_path = /run/.heim_org.h5l.kcm-socket\n",
        )
        .unwrap();
        fs::set_permissions(&conf, fs::Permissions::from_mode(0o600)).unwrap();
        format!(
            "{binds}/usr/sbin/sssd --genconf-section=kcm && exec {} --uid 0 --gid 0 --logger=stderr",
            binary.display()
        )
    })
}

fn klist(daemon: &Daemon, args: &[&str]) -> String {
    let conf = daemon.dir.join("krb5.conf");
    fs::write(
        &conf,
        format!(
            "[libdefaults]\n kcm_socket = {}\n",
            daemon.socket().display()
        ),
    )
    .unwrap();
    let out = Command::new("klist")
        .args(args)
        .env("KRB5_CONFIG", &conf)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn capture() -> file::CacheFile {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mit-ccache-user-aes-sha1.bin");
    file::parse(&fs::read(path).unwrap()).unwrap()
}

#[test]
fn kcm_cache_against_heimdal_kcm() {
    if let Some(daemon) = start_heimdal_kcm() {
        exercise(&daemon);
    }
}

#[test]
fn kcm_cache_against_sssd_kcm() {
    if let Some(daemon) = start_sssd_kcm() {
        exercise(&daemon);
    }
}

fn exercise(daemon: &Daemon) {
    let client = KcmClient::new(daemon.socket());

    // The default cache of root is named after the UID.
    let cache = KcmCache::open(client.clone(), "").unwrap();
    assert_eq!(cache.name(), "KCM:0");
    let options = ResolveOptions {
        kcm_socket: Some(daemon.socket()),
    };
    assert_eq!(
        ccache::resolve_with("KCM:", &options).unwrap().name(),
        "KCM:0"
    );
    assert!(matches!(
        cache.principal(),
        Err(CcacheError::NotFound { .. })
    ));

    let mit = capture();
    cache.initialize(&mit.principal).unwrap();
    assert_eq!(cache.principal().unwrap(), mit.principal);
    assert!(cache.entries().unwrap().is_empty());
    for cred in &mit.credentials {
        cache.store(cred).unwrap();
    }
    // Each server lists entries in its own order (sssd-kcm's is not the
    // order of storing), so compare them sorted.
    let sorted = |mut creds: Vec<krb5::credentials::Credential>| {
        creds.sort_by_key(|c| c.server.to_string());
        creds
    };
    assert_eq!(
        sorted(cache.entries().unwrap()),
        sorted(mit.credentials.clone())
    );
    assert_eq!(cache.credentials().unwrap().len(), 2);

    // A second store for the same server replaces the first.
    let nfs_name = Principal::parse("nfs/nfs.example.test@EXAMPLE.TEST", None).unwrap();
    let mut nfs = cache.retrieve(&nfs_name, Some(18)).unwrap();
    nfs.flags ^= 0x0004_0000;
    cache.store(&nfs).unwrap();
    assert_eq!(cache.credentials().unwrap().len(), 2);
    assert_eq!(cache.retrieve(&nfs_name, None).unwrap(), nfs);

    // MIT's klist reads what we stored, through the same daemon.
    let listed = klist(daemon, &["-c", "KCM:0"]);
    assert!(
        listed.contains("Default principal: alice@EXAMPLE.TEST"),
        "{listed}"
    );
    assert!(
        listed.contains("krbtgt/EXAMPLE.TEST@EXAMPLE.TEST"),
        "{listed}"
    );
    assert_eq!(
        listed.matches("nfs/nfs.example.test@EXAMPLE.TEST").count(),
        1,
        "{listed}"
    );

    // Configuration entries.
    cache.set_config("rgssd_test", None, Some(b"v1")).unwrap();
    cache.set_config("rgssd_test", None, Some(b"v2")).unwrap();
    assert_eq!(
        cache.get_config("rgssd_test", None).unwrap(),
        Some(b"v2".to_vec())
    );
    assert_eq!(cache.credentials().unwrap().len(), 2);
    let with_config = klist(daemon, &["-C", "-c", "KCM:0"]);
    assert!(
        with_config.contains("config: rgssd_test = v2"),
        "{with_config}"
    );

    assert_eq!(cache.remove(&nfs_name).unwrap(), 1);
    assert_eq!(cache.credentials().unwrap().len(), 1);

    cache
        .initialize_with_offset(
            &mit.principal,
            Some(KdcOffset {
                seconds: 42,
                microseconds: 0,
            }),
        )
        .unwrap();
    assert!(cache.entries().unwrap().is_empty());
    assert_eq!(cache.kdc_offset().unwrap().map(|o| o.seconds), Some(42));

    // A second cache appears in the collection; the server's default comes first.
    let other = KcmCache::new_unique(client.clone()).unwrap();
    other
        .initialize(&Principal::parse("bob@EXAMPLE.TEST", None).unwrap())
        .unwrap();
    let names: Vec<String> = ccache::collection_with("KCM:", &options)
        .unwrap()
        .iter()
        .map(|c| c.name())
        .collect();
    let default = format!("KCM:{}", client.default_cache().unwrap());
    assert_eq!(names.first(), Some(&default), "{names:?}");
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&other.name()), "{names:?}");
    assert!(names.contains(&cache.name()), "{names:?}");

    other.destroy().unwrap();
    cache.destroy().unwrap();
    assert!(matches!(
        cache.principal(),
        Err(CcacheError::NotFound { .. })
    ));
}
