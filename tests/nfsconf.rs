//! nfs.conf loading end to end: the sample files in tests/data/nfsconf, the
//! vendor and drop-in layers in temporary directories, and a comparison
//! with the installed nfs-utils `nfsconf` tool where there is one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use rgssd::config::{Config, Environment};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/nfsconf")
        .join(name)
}

/// A directory under the system temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("rgssd-nfsconf-{}-{name}", std::process::id()));
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

fn warning_lines(config: &Config) -> Vec<Option<usize>> {
    config.warnings().iter().map(|w| w.line).collect()
}

fn no_environment() -> Environment {
    Environment::Fixed(BTreeMap::new())
}

#[test]
fn malformed_lines_skipped() {
    let config = Config::load(data("malformed.conf"));
    assert_eq!(
        config.dump(),
        "[nfsd]\n port = 2049 = 2050\n vers4.2 = y\n\n\
         [svcgssd]\n principal = nfs/server.example.test@EXAMPLE.TEST\n"
    );
    assert_eq!(
        warning_lines(&config),
        [
            Some(4),
            Some(5),
            Some(7),
            Some(10),
            Some(11),
            Some(14),
            Some(15),
            Some(18)
        ]
    );
    for warning in config.warnings() {
        assert_eq!(warning.path, data("malformed.conf"));
    }
}

#[test]
fn valid_file_with_include() {
    let config = Config::load(data("valid.conf"));
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
    assert_eq!(
        config.dump(),
        "[environment]\n keytab = /etc/krb5.keytab\n realm = EXAMPLE.TEST\n\n\
         [exports \"site-a\"]\n debug = call\n rootdir = /srv/a\n\n\
         [exports \"site-b\"]\n debug = auth\n manage-gids = y\n rootdir = /srv/b\n \
         state-directory-path = /var/lib/nfs/b\n threads = \" 16 \"\n\n\
         [gssd]\n avoid dns = yes please\n context-timeout = 600\n \
         cred-cache-directory = \"/run/user:/tmp  \"\n keytab-file = $keytab\n \
         preferred-realm = $realm\n\n\
         [mountd]\n port = 20048\n ttl = 1800\n"
    );
}

#[test]
fn valid_file_getters() {
    let config = Config::load(data("valid.conf")).with_environment(Environment::Fixed(
        [("realm".to_string(), "ENV.TEST".to_string())]
            .into_iter()
            .collect(),
    ));
    assert_eq!(
        config.get_str("gssd", None, "keytab-file").as_deref(),
        Some("/etc/krb5.keytab")
    );
    assert_eq!(
        config.get_str("gssd", None, "preferred-realm").as_deref(),
        Some("ENV.TEST")
    );
    assert_eq!(config.get_num("gssd", "context-timeout", 0), 600);
    assert!(config.get_bool("gssd", "use-memcache", true));
    assert!(!config.get_bool("gssd", "avoid dns", false));
    assert_eq!(
        config
            .get_str("exports", Some("SITE-B"), "threads")
            .as_deref(),
        Some(" 16 ")
    );
    assert_eq!(config.get_str("exports", None, "rootdir"), None);
    assert_eq!(
        config.get_str("mountd", None, "port").as_deref(),
        Some("20048")
    );

    let plain = Config::load(data("valid.conf")).with_environment(no_environment());
    assert_eq!(
        plain.get_str("gssd", None, "preferred-realm").as_deref(),
        Some("EXAMPLE.TEST")
    );
}

#[test]
fn admin_file_replaces_vendor_layer() {
    let dir = TempDir::new("replace");
    let vendor = dir.write(
        "usr/etc/nfs.conf",
        "[gssd]\nuse-memcache = yes\nverbosity = 1\n",
    );
    dir.write(
        "usr/etc/nfs.conf.d/50-vendor.conf",
        "[gssd]\nrpc-timeout = 7\n",
    );
    let admin = dir.write("etc/nfs.conf", "[gssd]\nverbosity = 2\n");
    dir.write("etc/nfs.conf.d/50-site.conf", "[gssd]\navoid-dns = no\n");

    let config = Config::load_layers(Some(&vendor), &admin);
    assert_eq!(config.dump(), "[gssd]\n avoid-dns = no\n verbosity = 2\n");
}

#[test]
fn vendor_layer_without_admin_file() {
    let dir = TempDir::new("vendor");
    let vendor = dir.write(
        "usr/etc/nfs.conf",
        "[gssd]\nuse-memcache = yes\nverbosity = 1\n",
    );
    dir.write(
        "usr/etc/nfs.conf.d/50-vendor.conf",
        "[gssd]\nverbosity = 3\n",
    );
    dir.write("etc/nfs.conf.d/50-site.conf", "[gssd]\navoid-dns = no\n");
    let admin = dir.0.join("etc/nfs.conf");

    let config = Config::load_layers(Some(&vendor), &admin);
    assert_eq!(
        config.dump(),
        "[gssd]\n avoid-dns = no\n use-memcache = yes\n verbosity = 3\n"
    );
    assert!(config.warnings().is_empty());
}

#[test]
fn drop_ins_in_version_order() {
    let dir = TempDir::new("order");
    let admin = dir.write("nfs.conf", "[gssd]\nkey = main\nmain-only = 1\n");
    dir.write("nfs.conf.d/10-b.conf", "[gssd]\nkey = 10\n");
    dir.write("nfs.conf.d/9-a.conf", "[gssd]\nkey = 9\nnine = 1\n");
    dir.write("nfs.conf.d/100-z.conf", "[gssd]\nkey = 100\n");
    dir.write("nfs.conf.d/.hidden.conf", "[gssd]\nhidden = 1\n");
    dir.write("nfs.conf.d/notes.txt", "[gssd]\ntext = 1\n");
    dir.write("nfs.conf.d/200.conf~", "[gssd]\nbackup = 1\n");
    dir.write("nfs.conf.d/.conf", "[gssd]\nbare = 1\n");
    dir.write(
        "nfs.conf.d/300-dir.conf/inner.conf",
        "[gssd]\ndirectory = 1\n",
    );

    let config = Config::load_layers(None, &admin);
    assert_eq!(config.get_str("gssd", None, "key").as_deref(), Some("100"));
    assert_eq!(
        config.dump(),
        "[gssd]\n key = 100\n main-only = 1\n nine = 1\n"
    );
}

#[test]
fn drop_in_later_file_wins() {
    let dir = TempDir::new("later");
    let admin = dir.0.join("nfs.conf");
    dir.write("nfs.conf.d/1.conf", "[gssd]\nkey = 1\n");
    dir.write("nfs.conf.d/2.conf", "[gssd]\nkey = 2\n");
    dir.write("nfs.conf.d/01.conf", "[gssd]\nkey = 01\n");

    // Leading zeros sort first: 01 < 1 < 2.
    let config = Config::load_layers(None, &admin);
    assert_eq!(config.get_str("gssd", None, "key").as_deref(), Some("2"));
}

#[test]
fn drop_in_symlink_followed() {
    let dir = TempDir::new("symlink");
    let admin = dir.0.join("nfs.conf");
    let target = dir.write("shared/gssd.settings", "[gssd]\nlinked = yes\n");
    std::fs::create_dir_all(dir.0.join("nfs.conf.d")).unwrap();
    std::os::unix::fs::symlink(&target, dir.0.join("nfs.conf.d/20-linked.conf")).unwrap();
    std::os::unix::fs::symlink(
        dir.0.join("absent"),
        dir.0.join("nfs.conf.d/30-dangling.conf"),
    )
    .unwrap();

    let config = Config::load_layers(None, &admin);
    assert_eq!(
        config.get_str("gssd", None, "linked").as_deref(),
        Some("yes")
    );
    assert!(config.warnings().is_empty(), "{:?}", config.warnings());
}

#[test]
fn drop_in_include_relative() {
    let dir = TempDir::new("include");
    let admin = dir.0.join("nfs.conf");
    dir.write(
        "nfs.conf.d/10-site.conf",
        "[svcgssd]\ninclude = parts/principal.inc\n",
    );
    dir.write(
        "nfs.conf.d/parts/principal.inc",
        "principal = nfs/server.example.test@EXAMPLE.TEST\n",
    );

    let config = Config::load_layers(None, &admin);
    assert_eq!(
        config.get_str("svcgssd", None, "principal").as_deref(),
        Some("nfs/server.example.test@EXAMPLE.TEST")
    );
}

#[test]
fn unreadable_main_file_warns() {
    let dir = TempDir::new("unreadable");
    let vendor = dir.write("usr/nfs.conf", "[gssd]\nverbosity = 1\n");
    // A directory where the admin file should be cannot be read, so the
    // vendor settings stay.
    std::fs::create_dir_all(dir.0.join("etc/nfs.conf")).unwrap();
    let admin = dir.0.join("etc/nfs.conf");

    let config = Config::load_layers(Some(&vendor), &admin);
    assert_eq!(config.get_num("gssd", "verbosity", 0), 1);
    assert_eq!(config.warnings().len(), 1);
    assert_eq!(config.warnings()[0].path, admin);
    assert_eq!(config.warnings()[0].line, None);
}

#[test]
fn missing_files_load_empty() {
    let config = Config::load("/nonexistent/rgssd/nfs.conf");
    assert_eq!(config.dump(), "");
    assert!(config.warnings().is_empty());
}

#[test]
fn include_loop_terminates() {
    let dir = TempDir::new("loop");
    let admin = dir.write("nfs.conf", "[gssd]\ninclude = a.inc\nafter = 1\n");
    dir.write("a.inc", "a = 1\ninclude = b.inc\n");
    dir.write("b.inc", "b = 1\ninclude = a.inc\n");

    let config = Config::load_layers(None, &admin);
    assert_eq!(config.dump(), "[gssd]\n a = 1\n after = 1\n b = 1\n");
    assert_eq!(config.warnings().len(), 1);
}

/// Returns the installed nfs-utils `nfsconf`, if any.
fn nfsconf_tool() -> Option<PathBuf> {
    ["/usr/sbin/nfsconf", "/sbin/nfsconf", "/usr/bin/nfsconf"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
}

/// Runs `nfsconf --file NAME --dump -` in the data directory and returns
/// the dump and the line numbers of its config errors.
fn nfsconf_dump(tool: &Path, name: &str) -> (String, Vec<Option<usize>>) {
    let output = Command::new(tool)
        .current_dir(data(""))
        .args(["--file", name, "--dump", "-"])
        .output()
        .unwrap();
    assert!(output.status.success(), "nfsconf failed: {output:?}");

    let stderr = String::from_utf8_lossy(&output.stderr);
    let prefix = format!("config error at {name}:");
    let lines = stderr
        .lines()
        .filter_map(|line| line.split_once(&prefix))
        .map(|(_, rest)| rest.split(':').next().and_then(|n| n.parse().ok()))
        .collect();
    (String::from_utf8_lossy(&output.stdout).into_owned(), lines)
}

// The installed nfsconf may predate nfs-utils 2.8.3, whose conffile fixed
// one subsection replacing another's key, so the files compared here set
// no key in two subsections of one section.
#[test]
fn same_as_installed_nfsconf() {
    let Some(tool) = nfsconf_tool() else {
        eprintln!("nfs-utils nfsconf is not installed, so the comparison is skipped");
        return;
    };

    for name in ["malformed.conf", "rules.conf"] {
        let (their_dump, their_lines) = nfsconf_dump(&tool, name);
        let config = Config::load(data(name));
        assert_eq!(config.dump(), their_dump, "dump of {name}");

        let our_lines: Vec<Option<usize>> = config
            .warnings()
            .iter()
            .filter(|w| w.path == data(name) && w.line.is_some())
            .map(|w| w.line)
            .collect();
        assert_eq!(our_lines, their_lines, "warning lines of {name}");
    }
}

#[test]
fn get_same_as_installed_nfsconf() {
    let Some(tool) = nfsconf_tool() else {
        eprintln!("nfs-utils nfsconf is not installed, so the comparison is skipped");
        return;
    };

    let queries: [(&str, Option<&str>, &str); 8] = [
        ("gssd", None, "keytab-file"),
        ("gssd", None, "preferred-realm"),
        ("gssd", None, "missing-variable"),
        ("GSSD", None, "Context-Timeout"),
        ("exports", Some("SITE-A"), "rootdir"),
        ("exports", None, "rootdir"),
        ("mountd", None, "ttl"),
        ("nosuch", None, "key"),
    ];
    let config = Config::load(data("rules.conf")).with_environment(Environment::Fixed(
        [("RGSSD_TEST_REALM".to_string(), "FROM.ENV".to_string())]
            .into_iter()
            .collect(),
    ));
    for (section, subsection, key) in queries {
        let mut command = Command::new(&tool);
        command
            .current_dir(data(""))
            .env_clear()
            .env("RGSSD_TEST_REALM", "FROM.ENV")
            .args(["--file", "rules.conf", "--get"]);
        if let Some(subsection) = subsection {
            command.args(["--arg", subsection]);
        }
        let output = command.args([section, key]).output().unwrap();
        let theirs = output.status.success().then(|| {
            String::from_utf8_lossy(&output.stdout)
                .trim_end_matches('\n')
                .to_string()
        });

        assert_eq!(
            config.get_str(section, subsection, key),
            theirs,
            "[{section}] {key}"
        );
    }
}
