use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::file::tests::sample_credential;
use super::*;

/// A temporary directory, removed with its contents when dropped (also
/// when a test fails).
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(tag: &str) -> TempDir {
    let mut random = [0u8; 4];
    getrandom::fill(&mut random).unwrap();
    let dir = std::env::temp_dir().join(format!("rgssd-cc-{tag}-{}", hex::encode(random)));
    fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

fn alice() -> Principal {
    Principal::parse("alice@EXAMPLE.TEST", None).unwrap()
}

/// Runs the behaviour every cache type shares against `cache`.
fn exercise(cache: &dyn CredentialCache) {
    assert!(matches!(
        cache.principal(),
        Err(CcacheError::NotFound { .. })
    ));

    cache.initialize(&alice()).unwrap();
    assert_eq!(cache.principal().unwrap(), alice());
    assert!(cache.credentials().unwrap().is_empty());

    let tgt = sample_credential("krbtgt/EXAMPLE.TEST@EXAMPLE.TEST", 18);
    let mut nfs = sample_credential("nfs/server@EXAMPLE.TEST", 20);
    cache.store(&tgt).unwrap();
    cache.store(&nfs).unwrap();
    let servers: Vec<String> = cache
        .credentials()
        .unwrap()
        .iter()
        .map(|c| c.server.to_string())
        .collect();
    assert_eq!(
        servers,
        [
            "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST",
            "nfs/server@EXAMPLE.TEST"
        ]
    );

    // A newer ticket for the same server replaces the older one.
    nfs.endtime += 100;
    nfs.ticket = vec![0x61, 0x01, 0x00];
    cache.store(&nfs).unwrap();
    let creds = cache.credentials().unwrap();
    assert_eq!(creds.len(), 2);
    let got = cache.retrieve(&nfs.server, None).unwrap();
    assert_eq!(got, nfs);

    // Retrieval matches the session key's enctype when asked to.
    assert!(cache.retrieve(&nfs.server, Some(20)).is_ok());
    assert!(matches!(
        cache.retrieve(&nfs.server, Some(18)),
        Err(CcacheError::CredentialNotFound { .. })
    ));

    // Configuration entries are kept apart from tickets.
    cache
        .set_config("pa_type", Some(&tgt.server), Some(b"2"))
        .unwrap();
    cache.set_config("fast_avail", None, Some(b"yes")).unwrap();
    assert_eq!(cache.credentials().unwrap().len(), 2);
    assert_eq!(cache.entries().unwrap().len(), 4);
    assert_eq!(
        cache.get_config("pa_type", Some(&tgt.server)).unwrap(),
        Some(b"2".to_vec())
    );
    assert_eq!(cache.get_config("pa_type", None).unwrap(), None);
    cache.set_config("fast_avail", None, Some(b"no")).unwrap();
    assert_eq!(
        cache.get_config("fast_avail", None).unwrap(),
        Some(b"no".to_vec())
    );
    cache.set_config("fast_avail", None, None).unwrap();
    assert_eq!(cache.get_config("fast_avail", None).unwrap(), None);

    assert_eq!(cache.remove(&tgt.server).unwrap(), 1);
    assert_eq!(cache.credentials().unwrap().len(), 1);

    // Initializing again empties the cache.
    cache
        .initialize_with_offset(
            &alice(),
            Some(KdcOffset {
                seconds: 5,
                microseconds: 6,
            }),
        )
        .unwrap();
    assert!(cache.entries().unwrap().is_empty());
    assert_eq!(cache.kdc_offset().unwrap().unwrap().seconds, 5);

    cache.destroy().unwrap();
    assert!(matches!(
        cache.principal(),
        Err(CcacheError::NotFound { .. })
    ));
}

#[test]
fn file_cache_behaviour() {
    let dir = temp_dir("file");
    let path = dir.join("krb5cc_test");
    let cache = resolve(&format!("FILE:{}", path.display())).unwrap();
    exercise(cache.as_ref());
}

#[test]
fn memory_cache_behaviour() {
    let cache = resolve("MEMORY:behaviour").unwrap();
    exercise(cache.as_ref());
}

#[test]
fn dir_cache_behaviour() {
    let dir = temp_dir("dir");
    let cache = resolve(&format!("DIR:{}", dir.display())).unwrap();
    assert_eq!(cache.name(), format!("DIR::{}/tkt", dir.display()));
    assert_eq!(fs::read_to_string(dir.join("primary")).unwrap(), "tkt\n");
    exercise(cache.as_ref());
}

#[test]
fn file_cache_is_private_and_replaces_links() {
    let dir = temp_dir("link");
    let target = dir.join("victim");
    fs::write(&target, b"keep").unwrap();
    let path = dir.join("krb5cc_link");
    std::os::unix::fs::symlink(&target, &path).unwrap();

    let cache = file::FileCache::new(path.clone()).unwrap();
    cache.initialize(&alice()).unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"keep");
    let meta = fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

#[test]
fn file_store_marks_old_entries_removed() {
    let dir = temp_dir("mark");
    let path = dir.join("krb5cc");
    let cache = file::FileCache::new(path.clone()).unwrap();
    cache.initialize(&alice()).unwrap();
    let cred = sample_credential("nfs/server@EXAMPLE.TEST", 18);
    cache.store(&cred).unwrap();
    cache.set_config("pa_type", None, Some(b"2")).unwrap();
    cache.store(&cred).unwrap();
    cache.set_config("pa_type", None, Some(b"3")).unwrap();

    // The file keeps the old entries, marked the way MIT marks them.
    let raw = file::parse(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(raw.credentials.len(), 4);
    assert!(file::is_removed(&raw.credentials[0]));
    assert_eq!(raw.credentials[0].authtime, u32::MAX);
    assert_eq!(raw.credentials[1].server.realm, "X-RMED-CONF:");
    assert!(!file::is_removed(&raw.credentials[2]));
    assert_eq!(cache.entries().unwrap().len(), 2);
}

#[test]
fn file_errors_name_the_file() {
    let dir = temp_dir("bad");
    let path = dir.join("krb5cc_bad");
    fs::write(&path, [0x05, 0x04, 0x00]).unwrap();
    let cache = resolve(path.to_str().unwrap()).unwrap();
    let err = cache.principal().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("krb5cc_bad"), "{text}");
    assert!(
        text.contains("header length") && text.contains("offset 2"),
        "{text}"
    );
}

#[test]
fn dir_collection_lists_primary_first() {
    let dir = temp_dir("col");
    let first = dir::DirCache::new_unique(&dir).unwrap();
    let second = dir::DirCache::new_unique(&dir).unwrap();
    assert!(matches!(
        first.principal(),
        Err(CcacheError::NotInitialized { .. })
    ));
    assert!(matches!(
        first.store(&sample_credential("a@EXAMPLE.TEST", 18)),
        Err(CcacheError::NotInitialized { .. })
    ));
    first.initialize(&alice()).unwrap();
    second
        .initialize(&Principal::parse("bob@EXAMPLE.TEST", None).unwrap())
        .unwrap();
    second.make_primary().unwrap();

    let caches = collection(&format!("DIR:{}", dir.display())).unwrap();
    assert_eq!(caches.len(), 2);
    assert_eq!(caches[0].name(), second.name());
    assert_eq!(
        caches[0].principal().unwrap().to_string(),
        "bob@EXAMPLE.TEST"
    );

    let primary = resolve(&format!("DIR:{}", dir.display())).unwrap();
    assert_eq!(primary.name(), second.name());

    assert!(matches!(
        resolve(&format!("DIR::{}/notkt", dir.display())),
        Err(CcacheError::InvalidName { .. })
    ));
    fs::write(dir.join("primary"), "bogus\n").unwrap();
    assert!(matches!(
        resolve(&format!("DIR:{}", dir.display())),
        Err(CcacheError::InvalidName { .. })
    ));
}

#[test]
fn names_split_by_type() {
    assert_eq!(
        split_name("/tmp/krb5cc_0").unwrap(),
        ("FILE", "/tmp/krb5cc_0")
    );
    assert_eq!(split_name("krb5cc").unwrap(), ("FILE", "krb5cc"));
    assert_eq!(
        split_name("KEYRING:persistent:0").unwrap(),
        ("KEYRING", "persistent:0")
    );
    assert_eq!(split_name("DIR::/d/tkt").unwrap(), ("DIR", ":/d/tkt"));
    assert!(split_name("").is_err());
    assert!(matches!(
        resolve("API:x"),
        Err(CcacheError::UnsupportedType { .. })
    ));
}

#[test]
fn default_name_precedence() {
    assert_eq!(default_name(Some("KCM:"), Some("DIR:/d"), 5), "KCM:");
    assert_eq!(default_name(Some(""), Some("DIR:/d"), 5), "DIR:/d");
    assert_eq!(default_name(None, None, 1001), "FILE:/tmp/krb5cc_1001");
}

#[test]
fn config_principal_layout() {
    let tgt = Principal::krbtgt("EXAMPLE.TEST", "EXAMPLE.TEST");
    let p = config_principal("pa_type", Some(&tgt));
    assert_eq!(
        p.components,
        [
            "krb5_ccache_conf_data",
            "pa_type",
            "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST"
        ]
    );
    assert_eq!(p.realm, "X-CACHECONF:");
    assert!(is_config_principal(&p));
    assert!(!is_config_principal(&tgt));
}

#[test]
fn file_store_waits_for_posix_lock() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let dir = temp_dir("lock");
    let path = dir.join("krb5cc");
    let cache = file::FileCache::new(path.clone()).unwrap();
    cache.initialize(&alice()).unwrap();

    // Another process holds a classic POSIX lock (as MIT krb5 takes without
    // OFD locks) for a while.
    let script = format!(
        "import fcntl, time\nf = open('{}', 'r+')\nfcntl.lockf(f, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(0.8)\n",
        path.display()
    );
    let Ok(mut child) = Command::new("python3")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .spawn()
    else {
        eprintln!("skipping: python3 is not installed");
        return;
    };
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");

    let start = Instant::now();
    cache
        .store(&sample_credential("nfs/server@EXAMPLE.TEST", 18))
        .unwrap();
    let waited = start.elapsed();
    assert!(child.wait().unwrap().success());
    assert!(
        waited >= Duration::from_millis(400),
        "store did not wait: {waited:?}"
    );
    assert_eq!(cache.credentials().unwrap().len(), 1);
}

#[test]
fn file_cache_hides_mit_removed_entries() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/mit-ccache-user-removed-entry.bin");
    let cache = file::FileCache::new(path).unwrap();
    let servers: Vec<String> = cache
        .entries()
        .unwrap()
        .iter()
        .map(|c| c.server.to_string())
        .collect();
    assert!(
        servers.iter().all(|s| !s.starts_with("nfs/")),
        "{servers:?}"
    );
    assert!(
        servers.iter().all(|s| !s.contains("fast_avail")),
        "{servers:?}"
    );
    assert_eq!(cache.credentials().unwrap().len(), 1);
}
