//! KEYRING caches against MIT krb5's own keyring code (libkrb5.so.3,
//! loaded at run time), `klist` and keyutils' `keyctl`.
//!
//! Each test first joins a new anonymous session keyring, which the
//! programs it starts inherit, so that its keyrings stay out of the
//! machine's session and go away with the test's thread. Tests skip
//! themselves, with a message, when libkrb5.so.3, `keyctl` or the kernel's
//! keyrings are unavailable.

use std::ffi::{c_char, c_void, CString};
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use krb5::ccache::{self, file, CcacheError};
use krb5::credentials::Credential;
use krb5::Principal;

/// Makes the calling thread, and the programs it starts, join a new
/// anonymous session keyring. Returns false (after saying why) when the
/// kernel has no keyrings.
fn join_private_session() -> bool {
    const KEYCTL_JOIN_SESSION_KEYRING: nix::libc::c_ulong = 1;
    // SAFETY: a null name requests an anonymous keyring, so the kernel
    // reads no memory of this process.
    let id = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<c_char>(),
        )
    };
    if id < 0 {
        eprintln!(
            "skipping: cannot join a new session keyring: {}",
            std::io::Error::last_os_error()
        );
        return false;
    }
    true
}

type InitContext = unsafe extern "C" fn(*mut *mut c_void) -> i32;
type CcResolve = unsafe extern "C" fn(*mut c_void, *const c_char, *mut *mut c_void) -> i32;
type CcGetPrincipal = unsafe extern "C" fn(*mut c_void, *mut c_void, *mut *mut c_void) -> i32;
type CcInitialize = unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_void) -> i32;
type CcCopyCreds = unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_void) -> i32;

/// Copies the FILE cache at `from` into the cache named `to` with MIT's
/// krb5_cc_initialize and krb5_cc_copy_creds. Returns false (after saying
/// why) when MIT's library or the keyring is unavailable.
fn mit_copy_cache(from: &Path, to: &str) -> bool {
    // SAFETY: loading MIT's libkrb5 runs only its initializers.
    let lib = match unsafe { libloading::Library::new("libkrb5.so.3") } {
        Ok(lib) => lib,
        Err(e) => {
            eprintln!("skipping: MIT libkrb5.so.3 not loadable: {e}");
            return false;
        }
    };
    let from = CString::new(format!("FILE:{}", from.display())).unwrap();
    let to = CString::new(to).unwrap();
    // SAFETY: the prototypes are those of MIT's krb5.h, and every pointer
    // passed is either a live local or a handle MIT returned.
    unsafe {
        let init: libloading::Symbol<InitContext> = lib.get(b"krb5_init_context\0").unwrap();
        let resolve: libloading::Symbol<CcResolve> = lib.get(b"krb5_cc_resolve\0").unwrap();
        let get_principal: libloading::Symbol<CcGetPrincipal> =
            lib.get(b"krb5_cc_get_principal\0").unwrap();
        let initialize: libloading::Symbol<CcInitialize> =
            lib.get(b"krb5_cc_initialize\0").unwrap();
        let copy: libloading::Symbol<CcCopyCreds> = lib.get(b"krb5_cc_copy_creds\0").unwrap();

        let mut ctx = std::ptr::null_mut();
        assert_eq!(init(&mut ctx), 0);
        let (mut src, mut dst, mut princ) = (
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        assert_eq!(resolve(ctx, from.as_ptr(), &mut src), 0);
        if resolve(ctx, to.as_ptr(), &mut dst) != 0 {
            eprintln!("skipping: MIT cannot resolve {to:?} (no session keyring?)");
            return false;
        }
        assert_eq!(get_principal(ctx, src, &mut princ), 0);
        assert_eq!(initialize(ctx, dst, princ), 0);
        assert_eq!(copy(ctx, src, dst), 0);
    }
    true
}

fn unique(tag: &str) -> String {
    let mut random = [0u8; 4];
    getrandom::fill(&mut random).unwrap();
    format!("rgssd{tag}{}", hex::encode(random))
}

fn klist(name: &str) -> String {
    let out = Command::new("klist")
        .args(["-c", name])
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn capture(name: &str) -> file::CacheFile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    file::parse(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn reads_and_updates_mit_keyring_cache() {
    if !join_private_session() {
        return;
    }
    let data =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mit-ccache-user-aes-sha2.bin");
    let collection = unique("col");
    let name = format!("KEYRING:session:{collection}");
    if !mit_copy_cache(&data, &name) {
        return;
    }
    let expected = capture("mit-ccache-user-aes-sha2.bin");

    // The collection name resolves to its primary, named after the collection.
    let cache = ccache::resolve(&name).unwrap();
    assert_eq!(cache.name(), format!("{name}:{collection}"));
    assert_eq!(cache.principal().unwrap(), expected.principal);
    let mut ours = cache.entries().unwrap();
    let mut theirs = expected.credentials.clone();
    ours.sort_by_key(|c| c.server.to_string());
    theirs.sort_by_key(|c| c.server.to_string());
    assert_eq!(ours, theirs);
    let tgt = cache
        .retrieve(&Principal::krbtgt("EXAMPLE.TEST", "EXAMPLE.TEST"), Some(20))
        .unwrap();
    assert_eq!(tgt.session_key.bytes().len(), 32);

    // Store a ticket for a new server and replace the existing nfs one; MIT
    // lists both, once each.
    let mut nfs = cache
        .retrieve(
            &Principal::parse("nfs/nfs.example.test@EXAMPLE.TEST", None).unwrap(),
            None,
        )
        .unwrap();
    let mut extra = nfs.clone();
    extra.server = Principal::parse("host/other.example.test@EXAMPLE.TEST", None).unwrap();
    cache.store(&extra).unwrap();
    nfs.flags ^= 0x0004_0000;
    cache.store(&nfs).unwrap();
    assert_eq!(cache.credentials().unwrap().len(), 3);
    assert_eq!(cache.retrieve(&nfs.server, None).unwrap(), nfs);

    let listed = klist(&name);
    assert!(
        listed.contains("Default principal: alice@EXAMPLE.TEST"),
        "{listed}"
    );
    assert!(
        listed.contains("host/other.example.test@EXAMPLE.TEST"),
        "{listed}"
    );
    let nfs_lines = listed
        .lines()
        .filter(|l| l.ends_with("  nfs/nfs.example.test@EXAMPLE.TEST"))
        .count();
    assert_eq!(nfs_lines, 1, "{listed}");

    // Configuration entries round-trip and stay out of the ticket list.
    cache.set_config("rgssd_test", None, Some(b"1")).unwrap();
    assert_eq!(
        cache.get_config("rgssd_test", None).unwrap(),
        Some(b"1".to_vec())
    );
    assert_eq!(cache.credentials().unwrap().len(), 3);

    assert_eq!(cache.remove(&extra.server).unwrap(), 1);
    assert!(!klist(&name).contains("host/other.example.test"));

    // The collection lists the one cache; initialize empties it.
    let caches = ccache::collection(&name).unwrap();
    assert_eq!(caches.len(), 1);
    assert_eq!(caches[0].name(), cache.name());
    let bob = Principal::parse("bob@EXAMPLE.TEST", None).unwrap();
    cache
        .initialize_with_offset(
            &bob,
            Some(ccache::KdcOffset {
                seconds: -2,
                microseconds: 7,
            }),
        )
        .unwrap();
    assert!(cache.entries().unwrap().is_empty());
    assert_eq!(cache.kdc_offset().unwrap().unwrap().seconds, -2);
    assert!(klist(&name).contains("Default principal: bob@EXAMPLE.TEST"));

    cache.destroy().unwrap();
    assert!(matches!(
        cache.principal(),
        Err(CcacheError::NotFound { .. })
    ));
    unlink_collection(&collection);
}

/// Unlinks the collection keyring MIT created, with keyutils' `keyctl`
/// when it is installed (destroying a cache leaves its collection, as in MIT).
fn unlink_collection(collection: &str) {
    let script = format!("k=$(keyctl search @s keyring _krb_{collection}) && keyctl unlink $k @s");
    let _ = Command::new("sh").args(["-c", &script]).output();
}

#[test]
fn reads_mit_persistent_keyring_cache() {
    if !join_private_session() {
        return;
    }
    let data =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mit-ccache-machine-aes-sha1.bin");
    // A named cache inside the shared `_krb` collection of the persistent
    // keyring, so that the collection's primary is left alone.
    let uid = nix::unistd::geteuid().as_raw();
    let name = format!("KEYRING:persistent:{uid}:{}", unique("p"));
    if !mit_copy_cache(&data, &name) {
        return;
    }
    let expected = capture("mit-ccache-machine-aes-sha1.bin");

    let cache = ccache::resolve(&name).unwrap();
    assert_eq!(cache.name(), name);
    assert_eq!(cache.principal().unwrap(), expected.principal);
    assert_eq!(cache.entries().unwrap().len(), expected.credentials.len());

    let listed = ccache::collection(&format!("KEYRING:persistent:{uid}")).unwrap();
    assert!(listed.iter().any(|c| c.name() == name));

    cache.destroy().unwrap();
    assert!(klist(&name).contains("not found") || !klist(&name).contains("Default principal"));
}

#[test]
fn reads_mit_legacy_keyring_cache() {
    if !join_private_session() {
        return;
    }
    let data =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mit-ccache-user-aes-sha1.bin");
    let collection = unique("legacy");
    let name = format!("KEYRING:{collection}");
    if !mit_copy_cache(&data, &name) {
        return;
    }
    let expected = capture("mit-ccache-user-aes-sha1.bin");

    let cache = ccache::resolve(&name).unwrap();
    assert_eq!(
        cache.name(),
        format!("KEYRING:legacy:{collection}:{collection}")
    );
    assert_eq!(cache.principal().unwrap(), expected.principal);
    assert_eq!(cache.entries().unwrap().len(), expected.credentials.len());

    let bob = Principal::parse("bob@EXAMPLE.TEST", None).unwrap();
    cache.initialize(&bob).unwrap();
    assert!(klist(&name).contains("Default principal: bob@EXAMPLE.TEST"));
    cache.destroy().unwrap();
    unlink_collection(&collection);
}

#[test]
fn switches_keyring_primary_for_mit() {
    if !join_private_session() {
        return;
    }
    let user =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mit-ccache-user-aes-sha2.bin");
    let machine =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mit-ccache-machine-aes-sha2.bin");
    let collection = unique("sw");
    let name = format!("KEYRING:session:{collection}");
    if !mit_copy_cache(&user, &name) || !mit_copy_cache(&machine, &format!("{name}:second")) {
        return;
    }

    let caches = ccache::collection(&name).unwrap();
    let names: Vec<String> = caches.iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        [format!("{name}:{collection}"), format!("{name}:second")],
        "the primary comes first"
    );

    let second =
        ccache::keyring::KeyringCache::open(&format!("session:{collection}:second")).unwrap();
    second.make_primary().unwrap();
    let listed = Command::new("klist")
        .env("KRB5CCNAME", &name)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("Default principal: nfs/nfs.example.test@EXAMPLE.TEST"),
        "{listed}"
    );
    assert_eq!(
        ccache::resolve(&name).unwrap().name(),
        format!("{name}:second")
    );

    for cache in ccache::collection(&name).unwrap() {
        cache.destroy().unwrap();
    }
    unlink_collection(&collection);
}

/// Runs a shell command (keyutils' `keyctl`), returning its trimmed output.
fn sh(script: &str) -> Option<String> {
    let out = Command::new("sh").args(["-c", script]).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn adopts_pre_collection_legacy_cache() {
    if !join_private_session() {
        return;
    }
    if sh("command -v keyctl").is_none() {
        eprintln!("skipping: keyctl (Debian package keyutils) is not installed");
        return;
    }
    // The layout MIT krb5 before 1.12 left: a cache keyring named NAME in
    // the session keyring, next to an empty collection without a primary.
    let name = unique("old");
    let alice = Principal::parse("alice@EXAMPLE.TEST", None).unwrap();
    let dir = std::env::temp_dir().join(format!("{name}.princ"));
    std::fs::write(&dir, file::encode_principal(&alice).unwrap()).unwrap();
    let created = sh(&format!(
        "c=$(keyctl newring _krb_{name} @s) && r=$(keyctl newring {name} @s) && \
         keyctl padd user __krb5_princ__ $r < '{}' >/dev/null && echo $r",
        dir.display()
    ));
    std::fs::remove_file(&dir).unwrap();
    let Some(legacy_id) = created else {
        eprintln!("skipping: keyctl could not create keyrings in the session keyring");
        return;
    };

    let cache = ccache::resolve(&format!("KEYRING:{name}")).unwrap();

    assert_eq!(cache.principal().unwrap(), alice);
    let listed = sh(&format!(
        "keyctl rdescribe $(keyctl search @s keyring _krb_{name})"
    ));
    assert!(listed.is_some());
    let linked = sh(&format!(
        "keyctl rlist $(keyctl search @s keyring _krb_{name})"
    ))
    .unwrap();
    assert!(linked.split(' ').any(|id| id == legacy_id), "{linked}");

    let _ = sh(&format!("keyctl unlink {legacy_id} @s"));
    unlink_collection(&name);
}

#[test]
fn persistent_uid_must_be_numeric() {
    match ccache::resolve("KEYRING:persistent:alice") {
        Err(CcacheError::InvalidName { reason, .. }) => {
            assert!(reason.contains("numeric uid"), "{reason}");
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("resolved a persistent collection named by a user name"),
    }
}

fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

/// Returns the credentials of a captured MIT cache, made valid for the
/// next hour so that the kernel does not expire their keys during the test.
fn current_credentials(name: &str) -> (Principal, Vec<Credential>) {
    let parsed = capture(name);
    let now = unix_now();
    let credentials = parsed
        .credentials
        .into_iter()
        .map(|mut c| {
            c.authtime = now;
            c.starttime = now;
            c.endtime = now + 3600;
            c.renew_till = 0;
            c
        })
        .collect();
    (parsed.principal, credentials)
}

/// Initializes the cache `name` with this crate and stores `credentials`.
fn write_cache(name: &str, principal: &Principal, credentials: &[Credential]) {
    let cache = ccache::resolve(name).unwrap_or_else(|e| panic!("resolve {name}: {e}"));
    cache
        .initialize(principal)
        .unwrap_or_else(|e| panic!("initialize {name}: {e}"));
    for credential in credentials {
        cache
            .store(credential)
            .unwrap_or_else(|e| panic!("store in {name}: {e}"));
    }
}

/// Returns `keyctl show` of `keyring` without serial numbers, sorted, with
/// `name` replaced by NAME, for comparing two layouts.
fn layout(keyring: &str, name: &str) -> Vec<String> {
    let shown = sh(&format!("keyctl show {keyring}")).unwrap_or_default();
    let mut lines: Vec<String> = shown
        .lines()
        .skip(1)
        .map(|line| {
            let line = line.trim_start();
            let without_serial = line.split_once(' ').map_or(line, |(_, rest)| rest);
            without_serial.replace(name, "NAME")
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn creates_session_collection_like_mit() {
    if sh("command -v keyctl").is_none() {
        eprintln!("skipping: keyctl (Debian package keyutils) is not installed");
        return;
    }
    if !join_private_session() {
        return;
    }
    let (alice, credentials) = current_credentials("mit-ccache-user-aes-sha2.bin");

    // Neither the collection nor the cache keyring exists beforehand.
    let ours = unique("new");
    let ours_name = format!("KEYRING:session:{ours}");
    assert!(sh(&format!("keyctl search @s keyring _krb_{ours}")).is_none());
    write_cache(&ours_name, &alice, &credentials);

    let listed = klist(&ours_name);
    assert!(
        listed.contains("Default principal: alice@EXAMPLE.TEST"),
        "{listed}"
    );
    assert!(
        listed.contains("krbtgt/EXAMPLE.TEST@EXAMPLE.TEST"),
        "{listed}"
    );
    assert!(
        listed.contains("nfs/nfs.example.test@EXAMPLE.TEST"),
        "{listed}"
    );

    // MIT's own copy of the same credentials has the same keyrings, keys,
    // key types and permissions.
    let theirs = unique("mit");
    let theirs_file = std::env::temp_dir().join(format!("{theirs}.ccache"));
    write_cache(
        &format!("FILE:{}", theirs_file.display()),
        &alice,
        &credentials,
    );
    let copied = mit_copy_cache(&theirs_file, &format!("KEYRING:session:{theirs}"));
    std::fs::remove_file(&theirs_file).unwrap();
    if !copied {
        return;
    }
    let our_layout = layout(&format!("%:_krb_{ours}"), &ours);
    let mit_layout = layout(&format!("%:_krb_{theirs}"), &theirs);
    assert!(!our_layout.is_empty());
    assert_eq!(our_layout, mit_layout);
    let primary = |collection: &str| {
        sh(&format!(
            "keyctl pipe $(keyctl search %:_krb_{collection} user krb_ccache:primary) | od -An -tx1"
        ))
    };
    let mut expected_primary = 1u32.to_be_bytes().to_vec();
    expected_primary.extend_from_slice(&(ours.len() as u32).to_be_bytes());
    expected_primary.extend_from_slice(ours.as_bytes());
    let hex: Vec<String> = expected_primary
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let od = primary(&ours).unwrap();
    assert_eq!(
        od.split_whitespace().collect::<Vec<_>>(),
        hex.iter().map(String::as_str).collect::<Vec<_>>()
    );

    // A second cache in our collection: `klist -l` lists both, the
    // primary first.
    let second = format!("{ours_name}:second");
    let (machine, machine_credentials) = current_credentials("mit-ccache-machine-aes-sha2.bin");
    write_cache(&second, &machine, &machine_credentials);
    let out = Command::new("klist")
        .arg("-l")
        .env("KRB5CCNAME", &ours_name)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = listing.lines().skip(2).collect();
    assert_eq!(rows.len(), 2, "{listing}");
    assert!(rows[0].starts_with("alice@EXAMPLE.TEST"), "{listing}");
    assert!(
        rows[0].ends_with(&format!("{ours_name}:{ours}")),
        "{listing}"
    );
    assert!(
        // klist -l cuts principal names to 30 characters.
        rows[1].starts_with("nfs/nfs.example.test@EXAMPLE.T"),
        "{listing}"
    );
    assert!(rows[1].ends_with(&second), "{listing}");

    for cache in ccache::collection(&ours_name).unwrap() {
        cache.destroy().unwrap();
    }
    unlink_collection(&ours);
    for cache in ccache::collection(&format!("KEYRING:session:{theirs}")).unwrap() {
        cache.destroy().unwrap();
    }
    unlink_collection(&theirs);
}

/// Returns a uid that `/etc/passwd` does not list, so that the test owns
/// its persistent keyring.
fn unused_uid() -> u32 {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let listed: Vec<u32> = passwd
        .lines()
        .filter_map(|line| line.split(':').nth(2)?.parse().ok())
        .collect();
    let mut random = [0u8; 2];
    getrandom::fill(&mut random).unwrap();
    let mut uid = 3_000_000 + u32::from(u16::from_ne_bytes(random));
    while listed.contains(&uid) {
        uid += 1;
    }
    uid
}

#[test]
fn creates_persistent_cache_for_other_uid() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: another uid's persistent keyring needs root");
        return;
    }
    if sh("command -v keyctl").is_none() {
        eprintln!("skipping: keyctl (Debian package keyutils) is not installed");
        return;
    }
    if !join_private_session() {
        return;
    }
    let uid = unused_uid();
    let name = format!("KEYRING:persistent:{uid}");
    let (alice, credentials) = current_credentials("mit-ccache-user-aes-sha1.bin");
    match ccache::resolve(&name) {
        Err(CcacheError::Keyring { reason, .. }) if reason.contains("EOPNOTSUPP") => {
            eprintln!("skipping: the kernel has no persistent keyrings");
            return;
        }
        Err(other) => panic!("resolve {name}: {other}"),
        Ok(_) => {}
    }
    write_cache(&name, &alice, &credentials);

    // As in MIT, the collection's primary is named after the collection.
    let cache = ccache::resolve(&name).unwrap();
    assert_eq!(cache.name(), format!("{name}:{uid}"));
    let listed = klist(&name);
    assert!(
        listed.contains("Default principal: alice@EXAMPLE.TEST"),
        "{listed}"
    );
    assert!(
        listed.contains("krbtgt/EXAMPLE.TEST@EXAMPLE.TEST"),
        "{listed}"
    );

    // The collection is `_krb` in the uid's persistent keyring.
    // Linked into the session, whose possession later keyctl runs share.
    let persistent = sh(&format!("keyctl get_persistent @s {uid}")).unwrap();
    let shown = sh(&format!("keyctl show {persistent}")).unwrap();
    assert!(shown.contains("keyring: _krb\n"), "{shown}");
    assert!(shown.contains(&format!("keyring: {uid}\n")), "{shown}");
    assert!(shown.contains("user: __krb5_princ__"), "{shown}");

    cache.destroy().unwrap();
    assert!(!klist(&name).contains("Default principal"));
    let _ = sh(&format!("keyctl invalidate {persistent}"));
}
