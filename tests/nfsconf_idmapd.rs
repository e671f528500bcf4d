//! idmapd.conf through the nfs.conf loader into the identity mapper, and a
//! comparison with the installed libnfsidmap where there is one.

use std::ffi::{c_char, c_int, CString};
use std::path::{Path, PathBuf};

use rgssd::config::Config;
use rgssd::idmap::passwd::Accounts;
use rgssd::idmap::{AccountSource, Identity, IdmapdMapper};

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
    alice:x:1001:1001:Alice:/home/alice:/bin/sh\n\
    backup:x:34:34:backup:/var/backups:/usr/sbin/nologin\n";
const GROUP: &str = "root:x:0:\n\
    alice:x:1001:\n\
    staff:x:50:alice\n\
    backup:x:34:\n\
    disk:x:6:backup,alice\n";

/// A directory under the system temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("rgssd-idmapd-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ids(identity: &Identity) -> (i64, i64, Vec<u32>) {
    (identity.uid, identity.gid, identity.groups.clone())
}

#[test]
fn layered_idmapd_conf_maps() {
    let dir = TempDir::new("layers");
    let vendor = dir.write(
        "usr/etc/idmapd.conf",
        "[General]\nDomain = vendor.example\n",
    );
    let admin = dir.write(
        "etc/idmapd.conf",
        "[General]\nDomain = example.test\n\n[Translation]\nMethod = nsswitch\n",
    );
    dir.write(
        "etc/idmapd.conf.d/50-static.conf",
        "[Translation]\nGSS-Methods = static, nsswitch\n\n\
         [Static]\nnfs/backup.example.test@EXAMPLE.TEST = backup\n",
    );

    let config = Config::load_layers(Some(&vendor), &admin);
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
    let mapper = IdmapdMapper::new(
        config,
        Some("ignored.example"),
        AccountSource::Fixed(Accounts::parse(PASSWD, GROUP)),
    );
    assert_eq!(mapper.domain(), "example.test");
    assert_eq!(mapper.local_realms(), ["EXAMPLE.TEST"]);

    let map = |name: &str| ids(&mapper.map_name("krb5", name).unwrap());
    assert_eq!(map("alice@EXAMPLE.TEST"), (1001, 1001, vec![1001, 50, 6]));
    assert_eq!(
        map("nfs/backup.example.test@EXAMPLE.TEST"),
        (34, 34, vec![34, 6])
    );
    assert_eq!(map("nfs/other.example.test@EXAMPLE.TEST"), (-1, -1, vec![]));
    assert_eq!(map("alice@VENDOR.EXAMPLE"), (-1, -1, vec![]));
}

/// The entry points of libnfsidmap that rpc.svcgssd calls.
struct Libnfsidmap {
    library: libloading::Library,
}

/// ENOENT on Linux, which libnfsidmap returns negated for "no mapping".
const ENOENT: c_int = 2;

type InitFn = unsafe extern "C" fn(*mut c_char) -> c_int;
type PrincToIdsFn = unsafe extern "C" fn(*mut c_char, *mut c_char, *mut u32, *mut u32) -> c_int;

impl Libnfsidmap {
    fn open() -> Option<Self> {
        use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};

        // The method plugins that libnfsidmap opens resolve its symbols
        // (nfsidmap_conf_path, conf_get_str) globally, hence RTLD_GLOBAL.
        // SAFETY: libnfsidmap's initialisers only set up its own state.
        let library =
            unsafe { Library::open(Some("libnfsidmap.so.1"), RTLD_NOW | RTLD_GLOBAL) }.ok()?;
        Some(Self {
            library: library.into(),
        })
    }

    fn init(&self, conffile: &Path) -> c_int {
        let path = CString::new(conffile.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: the symbol has libnfsidmap's documented signature
        // `int nfs4_init_name_mapping(char *conffile)`, and the library only
        // reads the NUL-terminated path.
        unsafe {
            let init: libloading::Symbol<InitFn> =
                self.library.get(b"nfs4_init_name_mapping\0").unwrap();
            init(path.as_ptr() as *mut c_char)
        }
    }

    /// Returns the uid and gid, or the negative errno.
    fn princ_to_ids(&self, mech: &str, name: &str) -> Result<(u32, u32), c_int> {
        let mech = CString::new(mech).unwrap();
        let name = CString::new(name).unwrap();
        let mut uid = u32::MAX;
        let mut gid = u32::MAX;
        // SAFETY: the symbol has the signature `int nfs4_gss_princ_to_ids(char
        // *secname, char *princ, uid_t *uid, gid_t *gid)`; the strings are
        // NUL-terminated and only read, and the outputs are valid u32s.
        let status = unsafe {
            let map: libloading::Symbol<PrincToIdsFn> =
                self.library.get(b"nfs4_gss_princ_to_ids\0").unwrap();
            map(
                mech.as_ptr() as *mut c_char,
                name.as_ptr() as *mut c_char,
                &mut uid,
                &mut gid,
            )
        };
        if status == 0 {
            Ok((uid, gid))
        } else {
            Err(status)
        }
    }
}

// libnfsidmap reads accounts through NSS, so this compares against the
// host's own passwd file with principals of the accounts every Debian
// system has (root, daemon, bin).
#[test]
fn same_as_libnfsidmap() {
    let Some(library) = Libnfsidmap::open() else {
        eprintln!("libnfsidmap.so.1 is not installed, so the comparison is skipped");
        return;
    };

    let dir = TempDir::new("libnfsidmap");
    let conf = dir.write(
        "idmapd.conf",
        "[General]\nDomain = example.test\nLocal-Realms = EXAMPLE.TEST, OTHER.TEST\n\n\
         [Translation]\nMethod = nsswitch\nGSS-Methods = static, nsswitch\n\n\
         [Static]\nnfs/client.example.test@EXAMPLE.TEST = daemon\n\
         host/admin.example.test@FOREIGN.TEST = bin\n\
         nfs/ghost.example.test@EXAMPLE.TEST = no-such-user-rgssd\n",
    );
    assert_eq!(library.init(&conf), 0, "nfs4_init_name_mapping failed");

    let mapper = IdmapdMapper::new(Config::load(&conf), None, AccountSource::system());
    let cases = [
        ("krb5", "root@EXAMPLE.TEST"),
        ("krb5", "root@OTHER.TEST"),
        ("krb5", "root@FOREIGN.TEST"),
        ("krb5", "root@example.test"),
        ("krb5", "bin@EXAMPLE.TEST"),
        ("krb5", "no-such-user-rgssd@EXAMPLE.TEST"),
        ("krb5", "nfs/client.example.test@EXAMPLE.TEST"),
        ("krb5", "NFS/Client.Example.Test@example.test"),
        ("krb5", "host/admin.example.test@FOREIGN.TEST"),
        ("krb5", "nfs/ghost.example.test@EXAMPLE.TEST"),
        ("krb5", "nfs/unknown.example.test@EXAMPLE.TEST"),
        ("krb5", "root\\@EXAMPLE.TEST@EXAMPLE.TEST"),
        ("spkm3", "root@EXAMPLE.TEST"),
        ("spkm3", "nfs/client.example.test@EXAMPLE.TEST"),
    ];
    let mut mapped = Vec::new();
    for (mech, name) in cases {
        let theirs = library.princ_to_ids(mech, name);
        if theirs.is_ok() {
            mapped.push(name);
        }
        let ours = mapper.map_name(mech, name).unwrap();
        match theirs {
            Ok((uid, gid)) => {
                assert_eq!(
                    (ours.uid, ours.gid),
                    (i64::from(uid), i64::from(gid)),
                    "{mech} {name}"
                );
                assert_eq!(ours.groups.first().copied(), Some(gid), "{mech} {name}");
            }
            Err(status) => {
                assert_eq!(status, -ENOENT, "{mech} {name}: libnfsidmap failed");
                assert_eq!(ids(&ours), (-1, -1, vec![]), "{mech} {name}");
            }
        }
    }
    assert_eq!(
        mapped,
        [
            "root@EXAMPLE.TEST",
            "root@OTHER.TEST",
            "bin@EXAMPLE.TEST",
            "nfs/client.example.test@EXAMPLE.TEST",
            "NFS/Client.Example.Test@example.test",
            "host/admin.example.test@FOREIGN.TEST",
            "nfs/client.example.test@EXAMPLE.TEST",
        ]
    );
}
