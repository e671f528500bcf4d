//! rpc.gssd's lookup of a user's TGT reads the caches as that user. MIT's
//! kinit, run as unlisted uids with setpriv, fills FILE, KEYRING and KCM
//! caches from a test KDC. The lookup then reads them in a thread that
//! takes the user's identity. Tests skip themselves, with a message,
//! unless they run as root with setpriv, keyctl and (for KCM) Heimdal's
//! kcm installed.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use krb5::config::Config;
use krb5::credentials::Credential;
use krb5::kdc::{KdcClient, TgsOptions};
use krb5::Principal;
use rgssd::gssd::creds::{
    store_user_credentials, user_credential, user_tgt, CredsSettings, TicketQuery, UserCredential,
};
use testkdc::{PrincipalSpec, TestKdc, TestKdcOptions};

mod common;

use common::ScratchDir;

const REALM: &str = "EXAMPLE.TEST";
const SERVICE: &str = "nfs/server.example.test@EXAMPLE.TEST";

fn usable() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: running caches as other uids needs root");
        return false;
    }
    let found = Command::new("sh")
        .args(["-c", "command -v setpriv && command -v keyctl"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("skipping: setpriv (util-linux) or keyctl (keyutils) is not installed");
    }
    found
}

/// Returns two uids that /etc/passwd does not list, so that the test owns
/// their keyrings and KCM caches.
fn unlisted_uids() -> (u32, u32) {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let mut random = [0u8; 2];
    getrandom::fill(&mut random).unwrap();
    let mut uid = 3_200_000 + 2 * u32::from(u16::from_ne_bytes(random));
    while passwd.contains(&format!(":{uid}:")) || passwd.contains(&format!(":{}:", uid + 1)) {
        uid += 2;
    }
    (uid, uid + 1)
}

fn now() -> u32 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u32::try_from(secs.as_secs()).unwrap()
}

/// Writes a krb5.conf for the KDC with `extra` libdefaults, readable by
/// every uid, and returns its path.
fn write_conf(kdc: &TestKdc, dir: &Path, extra: &str) -> PathBuf {
    let base = fs::read_to_string(kdc.krb5_conf()).unwrap();
    let text = base.replacen("[libdefaults]\n", &format!("[libdefaults]\n{extra}\n"), 1);
    assert!(text.contains(extra), "{base}");
    let path = dir.join("krb5.conf");
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    path
}

/// Runs `sh -c script` as `uid` in a new session keyring, with `stdin`.
fn as_uid(uid: u32, conf: &Path, script: &str, stdin: &str) {
    let mut child = Command::new("setpriv")
        .args(["--reuid", &uid.to_string(), "--regid", &uid.to_string()])
        .args([
            "--clear-groups",
            "keyctl",
            "session",
            "-",
            "sh",
            "-c",
            script,
        ])
        .env("KRB5_CONFIG", conf)
        .env_remove("KRB5CCNAME")
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "as uid {uid}: {script}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn settings(dirs: &[String], as_user: bool) -> CredsSettings {
    CredsSettings {
        keytab: String::new(),
        ccache_dirs: dirs.to_vec(),
        preferred_realm: None,
        memory_cache: true,
        as_user,
    }
}

/// Looks up the TGT of `uid` as rpc.gssd does and returns its client name
/// or the error message.
fn lookup(conf: &Path, uid: u32, dirs: &[String], as_user: bool) -> Result<String, String> {
    let config = Config::load_path_list(&conf.display().to_string()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(user_tgt(
            &config,
            uid,
            &settings(dirs, as_user),
            false,
            now(),
        ))
        .map(|tgt| tgt.client.to_string())
        .map_err(|e| e.message)
}

fn start_kdc() -> TestKdc {
    TestKdc::start(
        TestKdcOptions::new(REALM)
            .user("alice", "alice-pw")
            .user("bob", "bob-pw")
            .principal(PrincipalSpec::service("nfs/server.example.test")),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn file_cache_symlink_not_followed() {
    if !usable() {
        return;
    }
    let kdc = start_kdc();
    let (alice, mallory) = unlisted_uids();
    let tmp = ScratchDir::new("usercache-file");
    for uid in [alice, mallory] {
        // Like /run/user/UID: owned by the uid, closed to others.
        let home = tmp.0.join(uid.to_string());
        fs::create_dir(&home).unwrap();
        chown(&home, Some(uid), Some(uid)).unwrap();
        fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();
    }
    let pattern = format!("{}/%{{uid}}/krb5cc", tmp.0.display());
    let conf = write_conf(
        &kdc,
        &tmp.0,
        &format!(" default_ccache_name = FILE:{pattern}"),
    );

    as_uid(alice, &conf, "kinit alice", "alice-pw\n");
    // The other user points its own cache name at alice's cache.
    let planted = format!(
        "ln -s {dir}/{alice}/krb5cc {dir}/{mallory}/krb5cc",
        dir = tmp.0.display()
    );
    as_uid(mallory, &conf, &planted, "");

    assert_eq!(
        lookup(&conf, alice, &[], true).as_deref(),
        Ok("alice@EXAMPLE.TEST")
    );
    let stolen = lookup(&conf, mallory, &[], true);
    assert!(stolen.is_err(), "{stolen:?}");
    // Read with root's rights, the same lookup would follow the link.
    assert_eq!(
        lookup(&conf, mallory, &[], false).as_deref(),
        Ok("alice@EXAMPLE.TEST")
    );

    // The search directories find the same cache, owned by alice.
    let dirs = vec![tmp.0.join(alice.to_string()).display().to_string()];
    let conf_without_default = write_conf(
        &kdc,
        &tmp.0.join(alice.to_string()),
        " default_ccache_name = FILE:/nonexistent/krb5cc",
    );
    assert_eq!(
        lookup(&conf_without_default, alice, &dirs, true).as_deref(),
        Ok("alice@EXAMPLE.TEST")
    );
}

fn nfs_query(enctypes: &[i32]) -> TicketQuery {
    TicketQuery {
        service: Principal::parse(SERVICE, None).unwrap(),
        enctypes: enctypes.to_vec(),
    }
}

/// Looks up the nfs ticket, else the TGT, of `uid` as that user.
fn lookup_service(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
    uid: u32,
    enctypes: &[i32],
) -> Result<UserCredential, String> {
    runtime
        .block_on(user_credential(
            config,
            uid,
            &settings(&[], true),
            false,
            now(),
            Some(&nfs_query(enctypes)),
        ))
        .map_err(|e| e.message)
}

/// Gets the nfs ticket with the TGT found for `uid`, stores it as that
/// user in the cache that contains the TGT, and returns MIT's klist output,
/// run as the user, for that cache.
fn store_service_ticket(conf: &Path, uid: u32) -> String {
    let config = Config::load_path_list(&conf.display().to_string()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let found = lookup_service(&config, &runtime, uid, &[18, 17]);
    let Ok(UserCredential::Tgt { tgt, cache }) = found else {
        panic!("expected a TGT for uid {uid}, got {found:?}");
    };
    let kdc = KdcClient::from_config(std::sync::Arc::new(config.clone())).unwrap();
    let service = Principal::parse(SERVICE, None).unwrap();
    let ticket: Credential = runtime
        .block_on(kdc.get_service_credentials(&tgt, &service, &TgsOptions::default()))
        .unwrap()
        .credential;
    let enctype = ticket.session_key.enctype();
    runtime
        .block_on(store_user_credentials(
            &config,
            uid,
            &settings(&[], true),
            &cache,
            &[ticket],
        ))
        .unwrap();

    // The next lookup returns the stored ticket, unless its session key
    // has an enctype that the upcall did not offer.
    let again = lookup_service(&config, &runtime, uid, &[18, 17]);
    assert!(
        matches!(&again, Ok(UserCredential::ServiceTicket(t)) if t.server.to_string() == SERVICE),
        "{again:?}"
    );
    let other_enctype = if enctype == 17 { 18 } else { 17 };
    let filtered = lookup_service(&config, &runtime, uid, &[other_enctype]);
    assert!(
        matches!(&filtered, Ok(UserCredential::Tgt { .. })),
        "{filtered:?}"
    );

    let output = Command::new("setpriv")
        .args(["--reuid", &uid.to_string(), "--regid", &uid.to_string()])
        .args(["--clear-groups", "klist", "-c", &cache])
        .env("KRB5_CONFIG", conf)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "klist -c {cache}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn persistent_keyring_read_as_user() {
    if !usable() {
        return;
    }
    let kdc = start_kdc();
    let (alice, bob) = unlisted_uids();
    let tmp = ScratchDir::new("usercache-keyring");
    let conf = write_conf(
        &kdc,
        &tmp.0,
        " default_ccache_name = KEYRING:persistent:%{uid}",
    );

    as_uid(alice, &conf, "kinit alice", "alice-pw\n");
    let found = lookup(&conf, alice, &[], true);
    let empty = lookup(&conf, bob, &[], true);
    let listed = std::panic::catch_unwind(|| store_service_ticket(&conf, alice));
    for uid in [alice, bob] {
        let _ = Command::new("keyctl")
            .args(["session", "-", "sh", "-c"])
            .arg(format!(
                "keyctl invalidate $(keyctl get_persistent @s {uid})"
            ))
            .output();
    }
    assert_eq!(found.as_deref(), Ok("alice@EXAMPLE.TEST"));
    let message = empty.unwrap_err();
    assert!(message.contains(&bob.to_string()), "{message}");
    let listed = listed.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    assert!(listed.contains(SERVICE), "{listed}");
}

#[test]
fn user_keyring_read_as_user() {
    if !usable() {
        return;
    }
    let kdc = start_kdc();
    let (alice, bob) = unlisted_uids();
    let tmp = ScratchDir::new("usercache-user-keyring");
    let conf = write_conf(&kdc, &tmp.0, " default_ccache_name = KEYRING:user:nfs");

    // The user keyring belongs to the uid, not to a login session, so the
    // cache thread reaches it from its own new session keyring.
    as_uid(alice, &conf, "kinit alice", "alice-pw\n");
    let found = lookup(&conf, alice, &[], true);
    let other = lookup(&conf, bob, &[], true);
    // Root's own user keyring holds no cache of that name.
    let as_root = lookup(&conf, alice, &[], false);
    as_uid(alice, &conf, "kdestroy -A", "");
    assert_eq!(found.as_deref(), Ok("alice@EXAMPLE.TEST"));
    assert!(other.is_err(), "{other:?}");
    assert!(as_root.is_err(), "{as_root:?}");
}

/// Heimdal's kcm, started in a private mount namespace with its own /run.
struct Kcm {
    child: Child,
    socket: PathBuf,
}

impl Drop for Kcm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_kcm(dir: &Path) -> Option<Kcm> {
    if !Path::new("/usr/sbin/kcm").exists() {
        eprintln!("skipping: Heimdal's kcm (/usr/sbin/kcm) is not installed");
        return None;
    }
    let run = dir.join("run");
    fs::create_dir(&run).unwrap();
    fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).unwrap();
    let script = format!(
        "mount --bind '{}' /run && exec /usr/sbin/kcm",
        run.display()
    );
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let kcm = Kcm {
        child,
        socket: run.join(".heim_org.h5l.kcm-socket"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !kcm.socket.exists() {
        if Instant::now() > deadline {
            eprintln!("skipping: kcm did not start in a private mount namespace");
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(kcm)
}

#[test]
fn kcm_caches_per_uid() {
    if !usable() {
        return;
    }
    let tmp = ScratchDir::new("usercache-kcm");
    let Some(kcm) = start_kcm(&tmp.0) else {
        return;
    };
    let kdc = start_kdc();
    let (alice, bob) = unlisted_uids();
    let nobody_else = bob + 1;
    let conf = write_conf(
        &kdc,
        &tmp.0,
        &format!(
            " default_ccache_name = KCM:\n kcm_socket = {}",
            kcm.socket.display()
        ),
    );

    as_uid(alice, &conf, "kinit alice", "alice-pw\n");
    as_uid(bob, &conf, "kinit bob", "bob-pw\n");

    assert_eq!(
        lookup(&conf, alice, &[], true).as_deref(),
        Ok("alice@EXAMPLE.TEST")
    );
    assert_eq!(
        lookup(&conf, bob, &[], true).as_deref(),
        Ok("bob@EXAMPLE.TEST")
    );
    let none = lookup(&conf, nobody_else, &[], true);
    assert!(none.is_err(), "{none:?}");

    // A new nfs ticket goes into alice's KCM cache, written as alice, and
    // bob's cache stays without it.
    let listed = store_service_ticket(&conf, alice);
    assert!(listed.contains(SERVICE), "{listed}");
    let output = Command::new("setpriv")
        .args(["--reuid", &bob.to_string(), "--regid", &bob.to_string()])
        .args(["--clear-groups", "klist"])
        .env("KRB5_CONFIG", &conf)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&output.stdout);
    assert!(listed.contains("bob@EXAMPLE.TEST"), "{listed}");
    assert!(!listed.contains(SERVICE), "{listed}");
}
