//! Interoperability of keytabs and FILE caches with MIT krb5's tools
//! (`klist`, `ktutil`) and library (`libkrb5.so.3`, loaded at run time).
//!
//! Each test skips itself, with a message, when the MIT tool it needs is
//! not installed (Debian packages krb5-user and libkrb5-3).

use std::ffi::{c_char, c_void, CString};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use krb5::ccache::{self, file, CredentialCache};
use krb5::credentials::Credential;
use krb5::crypto::Key;
use krb5::iana::enctype;
use krb5::keytab::{Keytab, KeytabEntry};
use krb5::Principal;

fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found {
        eprintln!("skipping: MIT {tool} is not installed");
    }
    found
}

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
    let dir = std::env::temp_dir().join(format!("rgssd-mit-{tag}-{}", hex::encode(random)));
    fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// Runs an MIT tool with a throwaway krb5.conf so the host's does not matter.
fn mit(dir: &Path, tool: &str, args: &[&str]) -> String {
    let conf = dir.join("krb5.conf");
    if !conf.exists() {
        fs::write(&conf, "[libdefaults]\n default_realm = EXAMPLE.TEST\n").unwrap();
    }
    let out = Command::new(tool)
        .args(args)
        .env("KRB5_CONFIG", &conf)
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn der_int(v: i32) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut i = 0;
    while i < 3
        && ((bytes[i] == 0 && bytes[i + 1] & 0x80 == 0)
            || (bytes[i] == 0xff && bytes[i + 1] & 0x80 != 0))
    {
        i += 1;
    }
    der(0x02, &bytes[i..])
}

/// Builds a DER Ticket (RFC 4120 §5.3) whose enc-part claims `etype`, so
/// that `klist -e` can show the ticket enctype.
fn ticket(server: &Principal, etype: i32) -> Vec<u8> {
    let names: Vec<u8> = server
        .components
        .iter()
        .flat_map(|c| der(0x1b, c.as_bytes()))
        .collect();
    let sname = der(
        0x30,
        &[
            der(0xa0, &der_int(server.name_type)),
            der(0xa1, &der(0x30, &names)),
        ]
        .concat(),
    );
    let enc_part = der(
        0x30,
        &[
            der(0xa0, &der_int(etype)),
            der(0xa1, &der_int(2)),
            der(0xa2, &der(0x04, &[0xee; 48])),
        ]
        .concat(),
    );
    der(
        0x61,
        &der(
            0x30,
            &[
                der(0xa0, &der_int(5)),
                der(0xa1, &der(0x1b, server.realm.as_bytes())),
                der(0xa2, &sname),
                der(0xa3, &enc_part),
            ]
            .concat(),
        ),
    )
}

fn credential(client: &Principal, server: &str, etype: i32, key_len: usize) -> Credential {
    let server = Principal::parse(server, None).unwrap();
    Credential {
        client: client.clone(),
        ticket: ticket(&server, etype),
        server,
        session_key: Key::from_raw(etype, vec![0x42; key_len]),
        authtime: 1_900_000_000,
        starttime: 1_900_000_000,
        endtime: 1_900_036_000,
        renew_till: 1_900_600_000,
        is_skey: false,
        flags: 0x40e1_0000,
        addresses: Vec::new(),
        authdata: Vec::new(),
        second_ticket: Vec::new(),
    }
}

const STRONG_ENCTYPES: [(i32, usize, &str); 6] = [
    (
        enctype::AES256_CTS_HMAC_SHA1_96,
        32,
        "aes256-cts-hmac-sha1-96",
    ),
    (
        enctype::AES128_CTS_HMAC_SHA1_96,
        16,
        "aes128-cts-hmac-sha1-96",
    ),
    (
        enctype::AES256_CTS_HMAC_SHA384_192,
        32,
        "aes256-cts-hmac-sha384-192",
    ),
    (
        enctype::AES128_CTS_HMAC_SHA256_128,
        16,
        "aes128-cts-hmac-sha256-128",
    ),
    (enctype::CAMELLIA256_CTS_CMAC, 32, "camellia256-cts-cmac"),
    (enctype::CAMELLIA128_CTS_CMAC, 16, "camellia128-cts-cmac"),
];

#[test]
fn klist_reads_our_file_cache() {
    if !have("klist") {
        return;
    }
    let dir = temp_dir("cc");
    let path = dir.join("krb5cc_ours");
    let name = format!("FILE:{}", path.display());
    let alice = Principal::parse("alice@EXAMPLE.TEST", None).unwrap();

    let cache = ccache::resolve(&name).unwrap();
    cache.initialize(&alice).unwrap();
    cache
        .store(&credential(
            &alice,
            "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST",
            18,
            32,
        ))
        .unwrap();
    for (i, (etype, len, _)) in STRONG_ENCTYPES.iter().enumerate() {
        let server = format!("nfs/server{i}.example.test@EXAMPLE.TEST");
        cache
            .store(&credential(&alice, &server, *etype, *len))
            .unwrap();
    }
    // Replacing a ticket leaves one visible entry for its server.
    cache
        .store(&credential(
            &alice,
            "nfs/server0.example.test@EXAMPLE.TEST",
            18,
            32,
        ))
        .unwrap();
    let tgt = Principal::krbtgt("EXAMPLE.TEST", "EXAMPLE.TEST");
    cache.set_config("pa_type", Some(&tgt), Some(b"2")).unwrap();
    cache
        .set_config("fast_avail", Some(&tgt), Some(b"yes"))
        .unwrap();

    let out = mit(&dir, "klist", &["-e", "-c", &name]);
    assert!(
        out.contains("Default principal: alice@EXAMPLE.TEST"),
        "{out}"
    );
    assert_eq!(
        out.matches("nfs/server0.example.test@EXAMPLE.TEST").count(),
        1,
        "{out}"
    );
    assert!(
        !out.contains("X-CACHECONF"),
        "klist shows config entries only with -C: {out}"
    );
    for (i, (_, _, etype_name)) in STRONG_ENCTYPES.iter().enumerate() {
        let line = format!("nfs/server{i}.example.test@EXAMPLE.TEST");
        let at = out
            .find(&line)
            .unwrap_or_else(|| panic!("{line} missing: {out}"));
        let etypes = out[at..].lines().find(|l| l.contains("Etype")).unwrap();
        assert!(
            etypes
                .trim()
                .ends_with(&format!("Etype (skey, tkt): {etype_name}, {etype_name}")),
            "{out}"
        );
    }
    assert!(
        out.contains("03/17/30 17:46:40  03/18/30 03:46:40"),
        "{out}"
    );

    let with_config = mit(&dir, "klist", &["-C", "-c", &name]);
    assert!(
        with_config.contains("config: pa_type(krbtgt/EXAMPLE.TEST@EXAMPLE.TEST) = 2"),
        "{with_config}"
    );
    assert!(
        with_config.contains("config: fast_avail(krbtgt/EXAMPLE.TEST@EXAMPLE.TEST) = yes"),
        "{with_config}"
    );
}

#[test]
fn klist_reads_our_keytab() {
    if !have("klist") {
        return;
    }
    let dir = temp_dir("kt");
    let path = dir.join("ours.keytab");
    let mut kt = Keytab::new();
    let nfs = Principal::parse("nfs/server.example.test@EXAMPLE.TEST", None).unwrap();
    for (kvno, (etype, len, _)) in [(2u32, STRONG_ENCTYPES[0]), (300, STRONG_ENCTYPES[2])]
        .into_iter()
        .chain(STRONG_ENCTYPES.iter().map(|e| (7u32, *e)))
    {
        kt.add_entry(KeytabEntry {
            principal: nfs.clone(),
            timestamp: 1_900_000_000,
            kvno,
            key: Key::from_raw(etype, (0..len as u8).collect()),
        });
    }
    kt.save(&format!("FILE:{}", path.display())).unwrap();

    let out = mit(
        &dir,
        "klist",
        &["-k", "-t", "-e", "-K", path.to_str().unwrap()],
    );
    let lines: Vec<&str> = out.lines().skip(3).collect();
    assert_eq!(lines.len(), 8, "{out}");
    assert!(
        lines[0].starts_with(
            "   2 03/17/30 17:46:40 nfs/server.example.test@EXAMPLE.TEST (aes256-cts-hmac-sha1-96)"
        ),
        "{out}"
    );
    assert!(lines[1].starts_with(" 300 "), "{out}");
    assert!(lines[1].contains("(aes256-cts-hmac-sha384-192)"), "{out}");
    for (line, (_, len, name)) in lines[2..].iter().zip(STRONG_ENCTYPES) {
        assert!(line.starts_with("   7 "), "{line}");
        assert!(line.contains(&format!("({name})")), "{line}");
        let key_hex: String = (0..len as u8).map(|b| format!("{b:02x}")).collect();
        assert!(line.contains(&format!("(0x{key_hex})")), "{line}");
    }
}

/// Feeds `ktutil` one line at a time: it reads passwords and keys with a
/// separate prompter that would miss lines already buffered by its shell.
fn ktutil(dir: &Path, lines: &[&str]) {
    let mut child = Command::new("ktutil")
        .env("KRB5_CONFIG", dir.join("krb5.conf"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for line in lines {
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

type InitContext = unsafe extern "C" fn(*mut *mut c_void) -> i32;
type Resolve = unsafe extern "C" fn(*mut c_void, *const c_char, *mut *mut c_void) -> i32;
type KtGetEntry =
    unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_void, u32, i32, *mut u8) -> i32;
type KtEntryOp = unsafe extern "C" fn(*mut c_void, *mut c_void, *mut u8) -> i32;
type FreeEntry = unsafe extern "C" fn(*mut c_void, *mut u8) -> i32;

/// MIT's keytab functions from libkrb5.so.3, loaded at run time.
struct MitKeytab {
    lib: libloading::Library,
    ctx: *mut c_void,
    kt: *mut c_void,
}

/// An 8-byte aligned buffer for a krb5_keytab_entry (48 bytes on LP64).
type EntryBuffer = [u64; 16];

impl MitKeytab {
    fn open(path: &Path) -> Option<Self> {
        // SAFETY: loading MIT's libkrb5 runs only its initializers, which
        // have no preconditions.
        let lib = match unsafe { libloading::Library::new("libkrb5.so.3") } {
            Ok(lib) => lib,
            Err(e) => {
                eprintln!("skipping: MIT libkrb5.so.3 not loadable: {e}");
                return None;
            }
        };
        let name = CString::new(format!("WRFILE:{}", path.display())).unwrap();
        let mut ctx = std::ptr::null_mut();
        let mut kt = std::ptr::null_mut();
        // SAFETY: the prototypes are those of MIT's krb5.h, and the out
        // pointers are live locals.
        unsafe {
            let init: libloading::Symbol<InitContext> = lib.get(b"krb5_init_context\0").unwrap();
            let resolve: libloading::Symbol<Resolve> = lib.get(b"krb5_kt_resolve\0").unwrap();
            assert_eq!(init(&mut ctx), 0);
            assert_eq!(resolve(ctx, name.as_ptr(), &mut kt), 0);
        }
        Some(Self { lib, ctx, kt })
    }

    /// Closes the keytab handle and frees the context.
    fn close(&self) {
        type Close = unsafe extern "C" fn(*mut c_void, *mut c_void) -> i32;
        type FreeContext = unsafe extern "C" fn(*mut c_void);
        // SAFETY: the handles came from krb5_kt_resolve and
        // krb5_init_context and are not used again.
        unsafe {
            let close: libloading::Symbol<Close> = self.lib.get(b"krb5_kt_close\0").unwrap();
            let free: libloading::Symbol<FreeContext> =
                self.lib.get(b"krb5_free_context\0").unwrap();
            close(self.ctx, self.kt);
            free(self.ctx);
        }
    }

    /// Calls krb5_kt_get_entry and returns the entry's kvno and enctype,
    /// read from their LP64 offsets in krb5_keytab_entry (20 and 28).
    fn get_entry(&self, principal: &str, kvno: u32, etype: i32) -> Option<(u32, i32)> {
        self.get_entry_with_timestamp(principal, kvno, etype)
            .map(|(kvno, etype, _)| (kvno, etype))
    }

    /// Like `get_entry`, adding the timestamp (LP64 offset 16).
    fn get_entry_with_timestamp(
        &self,
        principal: &str,
        kvno: u32,
        etype: i32,
    ) -> Option<(u32, i32, u32)> {
        let mut entry: EntryBuffer = [0; 16];
        self.with_entry(principal, kvno, etype, &mut entry, |_, _| ())?;
        let bytes: Vec<u8> = entry.iter().flat_map(|w| w.to_ne_bytes()).collect();
        Some((
            u32::from_ne_bytes(bytes[20..24].try_into().unwrap()),
            i32::from_ne_bytes(bytes[28..32].try_into().unwrap()),
            u32::from_ne_bytes(bytes[16..20].try_into().unwrap()),
        ))
    }

    /// Calls krb5_kt_remove_entry on the entry krb5_kt_get_entry selects;
    /// MIT leaves a hole where it was.
    fn remove_entry(&self, principal: &str, kvno: u32, etype: i32) {
        let mut entry: EntryBuffer = [0; 16];
        self.with_entry(principal, kvno, etype, &mut entry, |this, entry| {
            // SAFETY: entry was filled by krb5_kt_get_entry for this keytab.
            unsafe {
                let remove: libloading::Symbol<KtEntryOp> =
                    this.lib.get(b"krb5_kt_remove_entry\0").unwrap();
                assert_eq!(remove(this.ctx, this.kt, entry), 0);
            }
        })
        .expect("MIT found no entry to remove");
    }

    fn with_entry(
        &self,
        principal: &str,
        kvno: u32,
        etype: i32,
        entry: &mut EntryBuffer,
        f: impl FnOnce(&Self, *mut u8),
    ) -> Option<()> {
        let principal = CString::new(principal).unwrap();
        let entry = entry.as_mut_ptr().cast::<u8>();
        // SAFETY: the prototypes are those of MIT's krb5.h, the buffer is
        // larger than krb5_keytab_entry, and the entry's contents are freed
        // only after f has used them.
        unsafe {
            let parse: libloading::Symbol<Resolve> = self.lib.get(b"krb5_parse_name\0").unwrap();
            let get: libloading::Symbol<KtGetEntry> = self.lib.get(b"krb5_kt_get_entry\0").unwrap();
            let free: libloading::Symbol<FreeEntry> =
                self.lib.get(b"krb5_free_keytab_entry_contents\0").unwrap();
            let mut princ = std::ptr::null_mut();
            assert_eq!(parse(self.ctx, principal.as_ptr(), &mut princ), 0);
            if get(self.ctx, self.kt, princ, kvno, etype, entry) != 0 {
                return None;
            }
            f(self, entry);
            free(self.ctx, entry);
        }
        Some(())
    }
}

#[test]
fn reads_keytab_written_by_ktutil() {
    if !have("ktutil") || !have("klist") {
        return;
    }
    let dir = temp_dir("ktutil");
    mit(&dir, "true", &[]);
    let path = dir.join("mit.keytab");
    let wkt = format!("wkt {}", path.display());
    ktutil(
        &dir,
        &[
            "addent -password -p alice@EXAMPLE.TEST -k 1 -e aes256-cts-hmac-sha1-96",
            "first password",
            "addent -password -p alice@EXAMPLE.TEST -k 2 -e aes256-cts-hmac-sha1-96",
            "second password",
            "addent -password -p alice@EXAMPLE.TEST -k 2 -e aes128-cts-hmac-sha256-128",
            "second password",
            "addent -key -p nfs/server.example.test@EXAMPLE.TEST -k 258 -e aes256-cts-hmac-sha384-192",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "addent -key -p nfs/server.example.test@EXAMPLE.TEST -k 3 -e camellia128-cts-cmac",
            "00112233445566778899aabbccddeeff",
            &wkt,
            "quit",
        ],
    );
    let before = Keytab::load(path.to_str().unwrap()).unwrap();
    assert_eq!(before.entries().len(), 5);

    // Delete the kvno 1 key with MIT's library: it leaves a hole.
    let Some(mit_keytab) = MitKeytab::open(&path) else {
        return;
    };
    mit_keytab.remove_entry("alice@EXAMPLE.TEST", 1, 18);
    let data = fs::read(&path).unwrap();
    assert!(
        i32::from_be_bytes(data[2..6].try_into().unwrap()) < 0,
        "expected a hole first"
    );

    let kt = Keytab::load(&format!("FILE:{}", path.display())).unwrap();
    let listed: Vec<(String, u32, i32)> = kt
        .entries()
        .iter()
        .map(|e| (e.principal.to_string(), e.kvno, e.key.enctype()))
        .collect();
    assert_eq!(
        listed,
        [
            ("alice@EXAMPLE.TEST".to_string(), 2, 18),
            ("alice@EXAMPLE.TEST".to_string(), 2, 19),
            ("nfs/server.example.test@EXAMPLE.TEST".to_string(), 258, 20),
            ("nfs/server.example.test@EXAMPLE.TEST".to_string(), 3, 25),
        ]
    );

    // Our keys are MIT's keys: compare with klist -K.
    let out = mit(&dir, "klist", &["-k", "-e", "-K", path.to_str().unwrap()]);
    for e in kt.entries() {
        assert!(
            out.contains(&format!("(0x{})", hex::encode(e.key.bytes()))),
            "{out}"
        );
    }

    // Key selection over what ktutil wrote.
    let alice = Principal::parse("alice@EXAMPLE.TEST", None).unwrap();
    let nfs = Principal::parse("nfs/server.example.test@EXAMPLE.TEST", None).unwrap();
    assert_eq!(kt.find_key(Some(&alice), None, 18).unwrap().kvno, 2);
    assert!(kt.find_key(Some(&alice), Some(1), 18).is_none());
    // 258 is above 240 and 3 below 128, written in the same second: MIT
    // takes 3 as the newer kvno after a wrap, and so do we.
    assert_eq!(kt.find_key(Some(&nfs), None, 0).unwrap().kvno, 3);
    assert_eq!(kt.find_key(Some(&nfs), Some(258), 20).unwrap().kvno, 258);
    assert!(kt.find_key(Some(&nfs), Some(2), 20).is_none());
    assert_eq!(kt.find_key(Some(&nfs), None, 25).unwrap().kvno, 3);

    // Every selection agrees with MIT's krb5_kt_get_entry on the same file.
    for (principal, kvno, etype) in [
        ("alice@EXAMPLE.TEST", 0, 0),
        ("alice@EXAMPLE.TEST", 0, 18),
        ("alice@EXAMPLE.TEST", 0, 19),
        ("alice@EXAMPLE.TEST", 1, 18),
        ("alice@EXAMPLE.TEST", 2, 19),
        ("alice@EXAMPLE.TEST", 258, 18),
        ("nfs/server.example.test@EXAMPLE.TEST", 0, 0),
        ("nfs/server.example.test@EXAMPLE.TEST", 0, 20),
        ("nfs/server.example.test@EXAMPLE.TEST", 258, 0),
        ("nfs/server.example.test@EXAMPLE.TEST", 2, 20),
        ("nfs/server.example.test@EXAMPLE.TEST", 3, 25),
        ("nfs/server.example.test@EXAMPLE.TEST", 259, 25),
        ("bob@EXAMPLE.TEST", 0, 0),
    ] {
        let p = Principal::parse(principal, None).unwrap();
        let ours = kt
            .find_key(Some(&p), (kvno != 0).then_some(kvno), etype)
            .map(|e| (e.kvno, e.key.enctype()));
        let theirs = mit_keytab.get_entry(principal, kvno, etype);
        assert_eq!(ours, theirs, "{principal} kvno {kvno} enctype {etype}");
    }

    // Writing it back gives a keytab MIT lists the same way, minus the hole.
    let copy = dir.join("copy.keytab");
    kt.save(copy.to_str().unwrap()).unwrap();
    let again = mit(&dir, "klist", &["-k", "-e", "-K", copy.to_str().unwrap()]);
    assert_eq!(
        out.lines().skip(1).collect::<Vec<_>>(),
        again.lines().skip(1).collect::<Vec<_>>()
    );
}

#[test]
fn reads_mit_written_caches() {
    let data_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for (file_name, client) in [
        ("mit-ccache-user-aes-sha1.bin", "alice@EXAMPLE.TEST"),
        ("mit-ccache-user-aes-sha2.bin", "alice@EXAMPLE.TEST"),
        (
            "mit-ccache-machine-aes-sha1.bin",
            "nfs/nfs.example.test@EXAMPLE.TEST",
        ),
        (
            "mit-ccache-machine-aes-sha2.bin",
            "nfs/nfs.example.test@EXAMPLE.TEST",
        ),
    ] {
        let path = data_dir.join(file_name);
        let cache = file::FileCache::new(path).unwrap();
        assert_eq!(cache.principal().unwrap().to_string(), client);
        let tickets = cache.credentials().unwrap();
        assert_eq!(tickets.len(), 2, "{file_name}");
        assert!(tickets[0].server.is_krbtgt());
        assert_eq!(
            tickets[1].server.to_string(),
            "nfs/nfs.example.test@EXAMPLE.TEST"
        );
        if client.starts_with("alice") {
            // kinit leaves configuration entries (fast_avail, pa_type) in user caches.
            assert!(
                cache.entries().unwrap().len() > tickets.len(),
                "{file_name}"
            );
        }
    }
}

/// A small xorshift generator, so the random cases are repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

#[test]
fn key_selection_matches_mit_on_random_keytabs() {
    let dir = temp_dir("ktsel");
    let path = dir.join("random.keytab");
    let principals = ["a@R", "b/h@R", "a@S"];
    // Kvnos around the 8-bit wrap heuristic's bounds (128, 240, 256).
    let kvnos = [
        0u32, 1, 2, 3, 127, 128, 200, 240, 241, 255, 256, 257, 258, 300, 65537,
    ];
    let enctypes = [17, 18, 19, 20, 25, 26];
    let timestamps = [100u32, 200, 300];
    let mut rng = Rng(0x1234_5678_9abc_def1);

    for round in 0..300 {
        let mut kt = Keytab::new();
        for _ in 0..1 + rng.next() % 7 {
            kt.add_entry(KeytabEntry {
                principal: Principal::parse(rng.pick(&principals), None).unwrap(),
                timestamp: rng.pick(&timestamps),
                kvno: rng.pick(&kvnos),
                key: Key::from_raw(rng.pick(&enctypes), vec![round as u8; 16]),
            });
        }
        kt.save(path.to_str().unwrap()).unwrap();
        let Some(mit_keytab) = MitKeytab::open(&path) else {
            return;
        };
        for _ in 0..12 {
            let principal = rng.pick(&principals);
            let kvno = rng.pick(&kvnos);
            let etype = if rng.next() % 3 == 0 {
                0
            } else {
                rng.pick(&enctypes)
            };
            let p = Principal::parse(principal, None).unwrap();
            let ours = kt
                .find_key(Some(&p), (kvno != 0).then_some(kvno), etype)
                .map(|e| (e.kvno, e.key.enctype(), e.timestamp));
            // The timestamp distinguishes entries with equal kvno and enctype.
            let theirs = mit_keytab.get_entry_with_timestamp(principal, kvno, etype);
            assert_eq!(
                ours,
                theirs,
                "round {round}: {principal} kvno {kvno} enctype {etype} in {:?}",
                kt.entries()
            );
        }
        mit_keytab.close();
    }
}

#[test]
fn klist_reads_every_cache_version() {
    if !have("klist") {
        return;
    }
    let dir = temp_dir("ccver");
    let alice = Principal::parse("alice@EXAMPLE.TEST", None).unwrap();
    for version in 1..=4u8 {
        let cache = file::CacheFile {
            version,
            kdc_offset: None,
            principal: alice.clone(),
            credentials: vec![
                credential(&alice, "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST", 18, 32),
                credential(&alice, "nfs/server.example.test@EXAMPLE.TEST", 20, 32),
            ],
        };
        let path = dir.join(format!("krb5cc_v{version}"));
        fs::write(&path, file::encode(&cache).unwrap()).unwrap();
        let name = format!("FILE:{}", path.display());
        let out = mit(&dir, "klist", &["-e", "-c", &name]);
        assert!(
            out.contains("Default principal: alice@EXAMPLE.TEST"),
            "v{version}: {out}"
        );
        assert!(
            out.contains("krbtgt/EXAMPLE.TEST@EXAMPLE.TEST"),
            "v{version}: {out}"
        );
        assert!(
            out.contains(
                "Etype (skey, tkt): aes256-cts-hmac-sha384-192, aes256-cts-hmac-sha384-192"
            ),
            "v{version}: {out}"
        );
        // And our cache type reads it back, stores in the same version.
        let ours = file::FileCache::new(path.clone()).unwrap();
        ours.store(&credential(
            &alice,
            "host/x.example.test@EXAMPLE.TEST",
            17,
            16,
        ))
        .unwrap();
        assert_eq!(
            file::parse(&fs::read(&path).unwrap()).unwrap().version,
            version
        );
        let out = mit(&dir, "klist", &["-c", &name]);
        assert!(
            out.contains("host/x.example.test@EXAMPLE.TEST"),
            "v{version}: {out}"
        );
    }
}

/// Runs an MIT tool with `KRB5CCNAME` set, returning its output.
fn mit_with_ccname(dir: &Path, ccname: &str, tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .env("KRB5_CONFIG", dir.join("krb5.conf"))
        .env("KRB5CCNAME", ccname)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn mit_shares_dir_collection_and_primary() {
    if !have("klist") || !have("kswitch") {
        return;
    }
    let dir = temp_dir("dircol");
    mit(&dir, "true", &[]);
    let caches = dir.join("caches");
    let collection_name = format!("DIR:{}", caches.display());

    let alice = Principal::parse("alice@EXAMPLE.TEST", None).unwrap();
    let bob = Principal::parse("bob@EXAMPLE.TEST", None).unwrap();
    let primary = ccache::resolve(&collection_name).unwrap();
    primary.initialize(&alice).unwrap();
    primary
        .store(&credential(
            &alice,
            "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST",
            18,
            32,
        ))
        .unwrap();
    let second = ccache::dir::DirCache::new_unique(&caches).unwrap();
    second.initialize(&bob).unwrap();
    second
        .store(&credential(
            &bob,
            "krbtgt/EXAMPLE.TEST@EXAMPLE.TEST",
            20,
            32,
        ))
        .unwrap();

    // MIT lists both caches of our collection and takes our primary.
    let listed = mit_with_ccname(&dir, &collection_name, "klist", &["-l"]);
    assert!(listed.contains("alice@EXAMPLE.TEST"), "{listed}");
    assert!(listed.contains("bob@EXAMPLE.TEST"), "{listed}");
    let current = mit_with_ccname(&dir, &collection_name, "klist", &[]);
    assert!(
        current.contains("Default principal: alice@EXAMPLE.TEST"),
        "{current}"
    );

    // kswitch rewrites the primary file; our resolution follows it.
    mit_with_ccname(&dir, &collection_name, "kswitch", &["-c", &second.name()]);
    let resolved = ccache::resolve(&collection_name).unwrap();
    assert_eq!(resolved.name(), second.name());
    assert_eq!(resolved.principal().unwrap(), bob);

    // And our make_primary is what MIT then reads.
    let first =
        ccache::dir::DirCache::resolve(&format!(":{}", caches.join("tkt").display())).unwrap();
    first.make_primary().unwrap();
    let current = mit_with_ccname(&dir, &collection_name, "klist", &[]);
    assert!(
        current.contains("Default principal: alice@EXAMPLE.TEST"),
        "{current}"
    );
}
