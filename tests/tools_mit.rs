//! The rgssd binary's kinit, klist, kvno and kdestroy against a real MIT
//! KDC, side by side with MIT's own tools (Debian krb5-user), which read
//! the caches ours write and write the caches and keytabs ours read.

use std::io::Write;
use std::process::{Command, Stdio};

use testkdc::{enctype_name, PrincipalSpec, TestKdc, TestKdcOptions};

const REALM: &str = "EXAMPLE.TEST";
const SERVICE: &str = "nfs/server.example.test";

/// The exit status and output of one command.
#[derive(Debug)]
struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn assert_success(&self, what: &str) -> &Self {
        assert_eq!(self.status, 0, "{what} failed: {self:#?}");
        self
    }
}

fn execute(mut command: Command, stdin: Option<&str>) -> Run {
    // MIT's klist formats times per the locale; ours always uses the C locale's format.
    command
        .env("LC_ALL", "C")
        .env_remove("TZ")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap_or_else(|e| {
        panic!("cannot run {command:?} (MIT's tools need Debian krb5-user): {e}")
    });
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        // A tool that fails before reading its input closes the pipe early.
        if let Err(error) = pipe.write_all(text.as_bytes()) {
            assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
        }
    }
    let output = child.wait_with_output().unwrap();
    Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `rgssd TOOL ARGS...` in the KDC's environment.
fn ours(kdc: &TestKdc, tool: &str, args: &[&str], stdin: Option<&str>) -> Run {
    let mut command = kdc.command(env!("CARGO_BIN_EXE_rgssd"));
    command.arg(tool).args(args);
    execute(command, stdin)
}

/// Runs one of MIT's tools in the KDC's environment.
fn mit(kdc: &TestKdc, tool: &str, args: &[&str], stdin: Option<&str>) -> Run {
    let mut command = kdc.command(tool);
    command.args(args);
    execute(command, stdin)
}

fn start(options: TestKdcOptions) -> TestKdc {
    TestKdc::start(options).unwrap_or_else(|e| panic!("{e}"))
}

fn realm_with_enctype(enctype: i32) -> TestKdc {
    start(
        TestKdcOptions::new(REALM)
            .with_enctypes(&[enctype])
            .user("alice", "alice-pw")
            .principal(PrincipalSpec::user("bob", "bob-pw").with_keytab("bob.keytab"))
            .service(SERVICE),
    )
}

fn etype_line(enctype: i32) -> String {
    let name = enctype_name(enctype).unwrap();
    format!("Etype (skey, tkt): {name}, {name}")
}

#[test]
fn kinit_password_each_enctype() {
    for enctype in [17, 18, 19, 20, 25, 26] {
        let kdc = realm_with_enctype(enctype);
        let kinit = ours(&kdc, "kinit", &["alice"], Some("alice-pw\n"));
        kinit.assert_success("kinit");
        assert_eq!(kinit.stdout, "Password for alice@EXAMPLE.TEST: \n");

        let klist = mit(&kdc, "klist", &["-e"], None);
        klist.assert_success("MIT klist");
        assert!(
            klist
                .stdout
                .contains("Default principal: alice@EXAMPLE.TEST"),
            "{enctype}: {}",
            klist.stdout
        );
        assert!(
            klist.stdout.contains(&etype_line(enctype)),
            "{enctype}: {}",
            klist.stdout
        );

        // MIT's kvno uses the TGT from our cache for a TGS exchange.
        let kvno = mit(&kdc, "kvno", &[SERVICE], None);
        kvno.assert_success("MIT kvno");
        assert_eq!(kvno.stdout, format!("{SERVICE}@{REALM}: kvno = 1\n"));
    }
}

#[test]
fn kinit_keytab_each_enctype() {
    for enctype in [17, 18, 19, 20, 25, 26] {
        let kdc = realm_with_enctype(enctype);
        let keytab = kdc.keytab("bob").unwrap().to_str().unwrap().to_string();
        let kinit = ours(&kdc, "kinit", &["-k", "-t", &keytab, "bob"], None);
        kinit.assert_success("kinit -k");
        assert_eq!(kinit.stdout, "");

        let klist = mit(&kdc, "klist", &["-e"], None);
        assert!(
            klist.stdout.contains("Default principal: bob@EXAMPLE.TEST"),
            "{enctype}: {}",
            klist.stdout
        );
        assert!(
            klist.stdout.contains(&etype_line(enctype)),
            "{enctype}: {}",
            klist.stdout
        );

        // Our kvno on our cache, checked against the service's keytab.
        let service_keytab = kdc.keytab(SERVICE).unwrap().to_str().unwrap().to_string();
        let kvno = ours(&kdc, "kvno", &["-k", &service_keytab, SERVICE], None);
        kvno.assert_success("kvno -k");
        assert_eq!(
            kvno.stdout,
            format!("{SERVICE}@{REALM}: kvno = 1, keytab entry valid\n")
        );
    }
}

#[test]
fn klist_matches_mit_on_mit_cache() {
    let kdc = realm_with_enctype(18);
    mit(
        &kdc,
        "kinit",
        &["-f", "-r", "2d", "alice"],
        Some("alice-pw\n"),
    )
    .assert_success("MIT kinit");
    mit(&kdc, "kvno", &[SERVICE], None).assert_success("MIT kvno");

    for args in [
        &[][..],
        &["-e"],
        &["-f"],
        &["-e", "-f"],
        &["-ef", "-a"],
        &["-C"],
        &["-d"],
        &["-l"],
        &["-A"],
    ] {
        let expected = mit(&kdc, "klist", args, None);
        let actual = ours(&kdc, "klist", args, None);
        assert_eq!(actual.stdout, expected.stdout, "klist {args:?}");
        assert_eq!(actual.status, expected.status, "klist {args:?}");
    }
    let cache = kdc.ccache_name();
    let expected = mit(&kdc, "klist", &["-c", &cache], None);
    let actual = ours(&kdc, "klist", &["-c", &cache], None);
    assert_eq!(actual.stdout, expected.stdout);

    assert_eq!(ours(&kdc, "klist", &["-s"], None).status, 0);
}

#[test]
fn kvno_matches_mit_on_mit_cache() {
    let kdc = start(
        TestKdcOptions::new(REALM)
            .user("alice", "alice-pw")
            .service(SERVICE)
            .service("host/server.example.test"),
    );
    mit(&kdc, "kinit", &["alice"], Some("alice-pw\n")).assert_success("MIT kinit");

    let kvno = ours(&kdc, "kvno", &[SERVICE, "host/server.example.test"], None);
    kvno.assert_success("kvno");
    assert_eq!(
        kvno.stdout,
        "nfs/server.example.test@EXAMPLE.TEST: kvno = 1\nhost/server.example.test@EXAMPLE.TEST: kvno = 1\n"
    );
    let quiet = ours(&kdc, "kvno", &["-q", SERVICE], None);
    quiet.assert_success("kvno -q");
    assert_eq!(quiet.stdout, "");

    // Our kvno stored the tickets where MIT's klist finds them.
    let klist = mit(&kdc, "klist", &[], None);
    assert!(klist.stdout.contains(SERVICE), "{}", klist.stdout);
    assert!(
        klist.stdout.contains("host/server.example.test"),
        "{}",
        klist.stdout
    );

    let unknown = ours(&kdc, "kvno", &["nfs/unknown.example.test", SERVICE], None);
    assert_eq!(unknown.status, 1);
    assert_eq!(
        unknown.stderr,
        "kvno: Server nfs/unknown.example.test@EXAMPLE.TEST not found in Kerberos database while getting credentials for nfs/unknown.example.test@EXAMPLE.TEST\n"
    );
    assert_eq!(unknown.stdout, format!("{SERVICE}@{REALM}: kvno = 1\n"));
}

#[test]
fn kvno_enctype_and_cached_only() {
    let kdc = start(
        TestKdcOptions::new(REALM)
            .user("alice", "alice-pw")
            .service(SERVICE),
    );
    ours(&kdc, "kinit", &["alice"], Some("alice-pw\n")).assert_success("kinit");

    let cached = ours(&kdc, "kvno", &["--cached-only", SERVICE], None);
    assert_eq!(cached.status, 1);
    assert!(
        cached.stderr.contains("Matching credential not found"),
        "{}",
        cached.stderr
    );

    ours(
        &kdc,
        "kvno",
        &["-e", "aes128-cts-hmac-sha1-96", SERVICE],
        None,
    )
    .assert_success("kvno -e");
    let klist = mit(&kdc, "klist", &["-e"], None);
    assert!(
        klist
            .stdout
            .contains("Etype (skey, tkt): aes128-cts-hmac-sha1-96, aes256-cts-hmac-sha1-96"),
        "{}",
        klist.stdout
    );
    ours(&kdc, "kvno", &["--cached-only", SERVICE], None).assert_success("kvno --cached-only");
}

#[test]
fn klist_keytab_matches_mit_ktadd() {
    let kdc = start(
        TestKdcOptions::new(REALM)
            .with_enctypes(&[18, 17, 20, 26])
            .principal(PrincipalSpec::service(SERVICE).with_keytab("krb5.keytab"))
            .principal(
                PrincipalSpec::service("host/server.example.test").with_keytab("krb5.keytab"),
            ),
    );
    let keytab = kdc.default_keytab();
    let keytab = keytab.to_str().unwrap();
    for args in [
        vec!["-k"],
        vec!["-k", "-t", "-e"],
        vec!["-ket"],
        vec!["-k", "-K", "-e"],
        vec!["-k", keytab],
        vec!["-k", "-t", &format!("FILE:{keytab}")],
    ] {
        let expected = mit(&kdc, "klist", &args, None);
        expected.assert_success("MIT klist -k");
        let actual = ours(&kdc, "klist", &args, None);
        assert_eq!(actual.stdout, expected.stdout, "klist {args:?}");
        assert_eq!(actual.status, 0, "klist {args:?}: {}", actual.stderr);
    }

    let missing = ours(&kdc, "klist", &["-k", "/nonexistent/keytab"], None);
    assert_eq!(missing.status, 1);
    assert_eq!(missing.stdout, "Keytab name: FILE:/nonexistent/keytab\n");
    assert_eq!(
        missing.stderr,
        "klist: Key table file '/nonexistent/keytab' not found while starting keytab scan\n"
    );
}

#[test]
fn kinit_wrong_password() {
    let kdc = start(TestKdcOptions::new(REALM).user("alice", "alice-pw"));
    let kinit = ours(&kdc, "kinit", &["alice"], Some("not-the-password\n"));
    assert_eq!(kinit.status, 1);
    assert!(
        kinit.stderr.contains("Preauthentication failed"),
        "{}",
        kinit.stderr
    );
    assert_eq!(
        kinit.stderr,
        "kinit: Password incorrect (KDC error 24: Preauthentication failed) while getting initial credentials\n"
    );
    assert!(!kdc.ccache_path().exists());
}

#[test]
fn kinit_unknown_principal() {
    let kdc = start(TestKdcOptions::new(REALM));
    let kinit = ours(&kdc, "kinit", &["nobody"], Some("whatever\n"));
    assert_eq!(kinit.status, 1);
    assert_eq!(
        kinit.stderr,
        "kinit: Client 'nobody@EXAMPLE.TEST' not found in Kerberos database while getting initial credentials\n"
    );
}

#[test]
fn kinit_keytab_without_key() {
    let kdc = realm_with_enctype(18);
    let keytab = kdc.keytab("bob").unwrap().to_str().unwrap().to_string();
    let kinit = ours(&kdc, "kinit", &["-k", "-t", &keytab, "alice"], None);
    assert_eq!(kinit.status, 1);
    assert_eq!(
        kinit.stderr,
        "kinit: Keytab contains no suitable keys for alice@EXAMPLE.TEST while getting initial credentials\n"
    );

    // After a key change on the KDC, the keytab's old key fails pre-authentication.
    kdc.kadmin(REALM, "cpw -pw changed bob").unwrap();
    let kinit = ours(&kdc, "kinit", &["-k", "-t", &keytab, "bob"], None);
    assert_eq!(kinit.status, 1);
    assert!(
        kinit
            .stderr
            .starts_with("kinit: Preauthentication failed (KDC error 24)"),
        "{}",
        kinit.stderr
    );
}

#[test]
fn kinit_lifetimes_and_flags() {
    let kdc = start(TestKdcOptions::new(REALM).user("alice", "alice-pw"));
    ours(
        &kdc,
        "kinit",
        &["-l", "1h", "-r", "2d", "-f", "alice"],
        Some("alice-pw\n"),
    )
    .assert_success("kinit -l -r -f");
    let klist = mit(&kdc, "klist", &["-f"], None);
    assert!(klist.stdout.contains("Flags: FRIA"), "{}", klist.stdout);
    assert!(klist.stdout.contains("renew until"), "{}", klist.stdout);

    ours(&kdc, "kinit", &["-F", "alice"], Some("alice-pw\n")).assert_success("kinit -F");
    let klist = mit(&kdc, "klist", &["-f"], None);
    assert!(!klist.stdout.contains("Flags: F"), "{}", klist.stdout);

    // Our klist reads the same times MIT's does.
    let ours_klist = ours(&kdc, "klist", &["-f"], None);
    assert_eq!(ours_klist.stdout, klist.stdout);
}

#[test]
fn kinit_renews_tgt() {
    let kdc = start(TestKdcOptions::new(REALM).user("alice", "alice-pw"));
    ours(&kdc, "kinit", &["-r", "2d", "alice"], Some("alice-pw\n")).assert_success("kinit -r");
    let renew = ours(&kdc, "kinit", &["-R"], None);
    renew.assert_success("kinit -R");
    let klist = mit(&kdc, "klist", &[], None);
    assert!(
        klist
            .stdout
            .contains("Default principal: alice@EXAMPLE.TEST"),
        "{}",
        klist.stdout
    );
    assert!(
        klist.stdout.contains("krbtgt/EXAMPLE.TEST@EXAMPLE.TEST"),
        "{}",
        klist.stdout
    );

    // The renewed TGT stays renewable, as after MIT's kinit -R, so it can
    // be renewed again.
    assert!(klist.stdout.contains("renew until"), "{}", klist.stdout);
    let flags = mit(&kdc, "klist", &["-f"], None);
    assert!(flags.stdout.contains("Flags: R"), "{}", flags.stdout);
    ours(&kdc, "kinit", &["-R"], None).assert_success("second kinit -R");
    let klist = mit(&kdc, "klist", &[], None);
    assert!(klist.stdout.contains("renew until"), "{}", klist.stdout);
}

/// Returns the ticket flags that MIT's `klist -f` shows for the first
/// ticket of the KDC's default cache, such as `FRIA`.
fn mit_klist_flags(kdc: &TestKdc) -> String {
    let klist = mit(kdc, "klist", &["-f"], None);
    klist.assert_success("MIT klist -f");
    klist
        .stdout
        .split_once("Flags: ")
        .and_then(|(_, rest)| rest.lines().next())
        .unwrap_or_else(|| panic!("no flags in MIT klist -f: {}", klist.stdout))
        .trim()
        .to_string()
}

#[test]
fn kinit_default_flags_match_mit() {
    // The KDC's one-hour maximum is shorter than kinit's default 24-hour
    // request, so RENEWABLE-OK, which MIT's kinit sets by default, makes the
    // ticket renewable up to the requested end time.
    let kdc = start(
        TestKdcOptions::new(REALM)
            .user("alice", "alice-pw")
            .with_max_life("1h"),
    );
    mit(&kdc, "kinit", &["alice"], Some("alice-pw\n")).assert_success("MIT kinit");
    let mit_flags = mit_klist_flags(&kdc);
    assert!(mit_flags.contains('R'), "{mit_flags}");

    ours(&kdc, "kinit", &["alice"], Some("alice-pw\n")).assert_success("kinit");
    assert_eq!(mit_klist_flags(&kdc), mit_flags);
    let klist = mit(&kdc, "klist", &[], None);
    assert!(klist.stdout.contains("renew until"), "{}", klist.stdout);
}

#[test]
fn kinit_creates_keyring_cache() {
    let mut probe = Command::new("sh");
    probe.args(["-c", "command -v keyctl"]);
    if execute(probe, None).status != 0 {
        eprintln!("skipping: keyctl (Debian package keyutils) is not installed");
        return;
    }
    let kdc = start(TestKdcOptions::new(REALM).user("alice", "alice-pw"));

    // `keyctl session -` runs the script in a new anonymous session
    // keyring, so the keyrings created stay out of the machine's session
    // and go away with the script.
    let script = format!(
        "set -e\n\
         '{rgssd}' kinit -c KEYRING:session:rgssd alice\n\
         klist -c KEYRING:session:rgssd\n\
         echo ==\n\
         KRB5CCNAME=KEYRING:session:rgssd klist -l\n\
         echo ==\n\
         keyctl show @s\n",
        rgssd = env!("CARGO_BIN_EXE_rgssd")
    );
    let mut command = kdc.command("keyctl");
    command.args(["session", "-", "sh", "-c", &script]);
    let run = execute(command, Some("alice-pw\n"));
    run.assert_success("rgssd kinit -c KEYRING:session:rgssd, then MIT klist");

    let mut parts = run.stdout.split("==\n");
    let klist = parts.next().unwrap_or_default();
    assert!(
        klist.contains("Ticket cache: KEYRING:session:rgssd:rgssd"),
        "{klist}"
    );
    assert!(
        klist.contains("Default principal: alice@EXAMPLE.TEST"),
        "{klist}"
    );
    assert!(
        klist.contains("krbtgt/EXAMPLE.TEST@EXAMPLE.TEST"),
        "{klist}"
    );
    let listing = parts.next().unwrap_or_default();
    assert!(
        listing.contains("alice@EXAMPLE.TEST             KEYRING:session:rgssd:rgssd"),
        "{listing}"
    );
    let shown = parts.next().unwrap_or_default();
    assert!(shown.contains("keyring: _krb_rgssd\n"), "{shown}");
    assert!(shown.contains("user: krb_ccache:primary\n"), "{shown}");
    assert!(shown.contains("keyring: rgssd\n"), "{shown}");
    assert!(shown.contains("user: __krb5_princ__\n"), "{shown}");
}

/// Runs `sh -c SCRIPT` and returns its trimmed output if it succeeds.
fn shell(script: &str) -> Option<String> {
    let mut command = Command::new("sh");
    command.args(["-c", script]);
    let run = execute(command, None);
    (run.status == 0).then(|| run.stdout.trim().to_string())
}

#[test]
fn klist_reads_user_persistent_keyring_as_root() {
    if shell("id -u").as_deref() != Some("0") {
        eprintln!("skipping: reading another uid's persistent keyring needs root");
        return;
    }
    if shell("command -v keyctl && command -v setpriv").is_none() {
        eprintln!("skipping: keyctl (keyutils) or setpriv (util-linux) is not installed");
        return;
    }
    let kdc = start(TestKdcOptions::new(REALM).user("alice", "alice-pw"));

    // A uid that /etc/passwd does not list, so that the test owns its
    // persistent keyring, and a krb5.conf that this uid can read.
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let mut uid = 3_100_000 + std::process::id() % 50_000;
    while passwd.contains(&format!(":{uid}:")) {
        uid += 1;
    }
    let conf = std::env::temp_dir().join(format!("rgssd-krb5-{uid}.conf"));
    std::fs::copy(kdc.krb5_conf(), &conf).unwrap();
    let readable = std::os::unix::fs::PermissionsExt::from_mode(0o644);
    std::fs::set_permissions(&conf, readable).unwrap();

    // MIT's kinit, running as that uid, creates the collection in the
    // uid's persistent keyring. Then MIT's klist and ours read it as root.
    // `keyctl session -` keeps the keyrings out of the machine's session.
    let name = format!("KEYRING:persistent:{uid}");
    let script = format!(
        "setpriv --reuid {uid} --regid {uid} --clear-groups \\\n\
         env KRB5_CONFIG='{conf}' kinit -c {name} alice\n\
         status=$?\n\
         echo ==\n\
         klist -c {name}\n\
         echo ==\n\
         '{rgssd}' klist -c {name}\n\
         keyctl invalidate $(keyctl get_persistent @s {uid})\n\
         exit $status\n",
        conf = conf.display(),
        rgssd = env!("CARGO_BIN_EXE_rgssd"),
    );
    let mut command = kdc.command("keyctl");
    command.args(["session", "-", "sh", "-c", &script]);
    let run = execute(command, Some("alice-pw\n"));
    std::fs::remove_file(&conf).unwrap();
    run.assert_success("MIT kinit as another uid into its persistent keyring");

    let mut parts = run.stdout.split("==\n").skip(1);
    let theirs = parts.next().unwrap_or_default();
    let cache = format!("Ticket cache: {name}:{uid}");
    assert!(theirs.contains(&cache), "{theirs}");
    assert!(
        theirs.contains("Default principal: alice@EXAMPLE.TEST"),
        "{theirs}"
    );
    let ours_listing = parts.next().unwrap_or_default();
    assert!(
        ours_listing.contains(&cache),
        "{ours_listing}\n{}",
        run.stderr
    );
    assert!(
        ours_listing.contains("Default principal: alice@EXAMPLE.TEST"),
        "{ours_listing}"
    );
    assert!(
        ours_listing.contains("krbtgt/EXAMPLE.TEST@EXAMPLE.TEST"),
        "{ours_listing}"
    );
}

#[test]
fn kinit_default_host_principal() {
    let mut kdc = start(TestKdcOptions::new(REALM).user("alice", "alice-pw"));

    // MIT's kvno -S canonicalizes a host name as MIT's kinit -k does with
    // the local one, and names the result in its error.
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    mit(&kdc, "kinit", &["alice"], Some("alice-pw\n")).assert_success("MIT kinit");
    let probe = mit(&kdc, "kvno", &["-S", "host", hostname.trim()], None);
    assert_eq!(probe.status, 1, "{probe:#?}");
    let host = probe
        .stderr
        .rsplit_once("while getting credentials for host/")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(host, _)| host.to_string())
        .unwrap_or_else(|| panic!("unexpected MIT kvno message: {}", probe.stderr));
    let host_principal = format!("host/{host}@{REALM}");
    kdc.add_principal(&PrincipalSpec::service(&format!("host/{host}")).with_keytab("krb5.keytab"))
        .unwrap();

    ours(&kdc, "kinit", &["-k"], None).assert_success("kinit -k");
    let klist = mit(&kdc, "klist", &[], None);
    assert!(
        klist
            .stdout
            .contains(&format!("Default principal: {host_principal}\n")),
        "{}",
        klist.stdout
    );
}

#[test]
fn kinit_with_dead_kdc_first_and_tcp() {
    let dead = format!("127.0.0.1:{}", testkdc::free_port().unwrap());
    let kdc = start(
        TestKdcOptions::new(REALM)
            .kdc_before(&dead)
            .libdefault("udp_preference_limit = 1")
            .user("alice", "alice-pw"),
    );
    ours(&kdc, "kinit", &["alice"], Some("alice-pw\n")).assert_success("kinit");
    assert!(kdc.log().contains("AS_REQ"), "{}", kdc.log());
}

#[test]
fn kvno_cross_realm() {
    let kdc = start(
        TestKdcOptions::new(REALM)
            .with_second_realm("OTHER.TEST")
            .user("alice", "alice-pw")
            .service("nfs/server.other.test@OTHER.TEST"),
    );
    ours(&kdc, "kinit", &["alice"], Some("alice-pw\n")).assert_success("kinit");
    let kvno = ours(&kdc, "kvno", &["nfs/server.other.test@OTHER.TEST"], None);
    kvno.assert_success("kvno");
    assert_eq!(kvno.stdout, "nfs/server.other.test@OTHER.TEST: kvno = 1\n");
    let klist = mit(&kdc, "klist", &[], None);
    assert!(
        klist.stdout.contains("krbtgt/OTHER.TEST@EXAMPLE.TEST"),
        "{}",
        klist.stdout
    );
}

#[test]
fn kdestroy_removes_cache() {
    let kdc = start(TestKdcOptions::new(REALM).user("alice", "alice-pw"));
    ours(&kdc, "kinit", &["alice"], Some("alice-pw\n")).assert_success("kinit");
    assert!(kdc.ccache_path().exists());

    let destroy = ours(&kdc, "kdestroy", &[], None);
    destroy.assert_success("kdestroy");
    assert_eq!(destroy.stderr, "");
    assert!(!kdc.ccache_path().exists());
    assert_eq!(mit(&kdc, "klist", &["-s"], None).status, 1);
    assert_eq!(ours(&kdc, "klist", &["-s"], None).status, 1);

    // As in MIT, a missing cache is reported but is no failure.
    let again = ours(&kdc, "kdestroy", &[], None);
    assert_eq!(again.status, 0);
    assert!(
        again.stderr.contains("No credentials cache found"),
        "{}",
        again.stderr
    );

    let listing = ours(&kdc, "klist", &[], None);
    assert_eq!(listing.status, 1);
    assert_eq!(
        listing.stderr,
        format!(
            "klist: No credentials cache found (filename: {})\n",
            kdc.ccache_path().display()
        )
    );
}

#[test]
fn dir_collection_switches_caches() {
    let kdc = start(
        TestKdcOptions::new(REALM)
            .user("alice", "alice-pw")
            .user("bob", "bob-pw"),
    );
    let collection = kdc.dir().join("collection");
    let name = format!("DIR:{}", collection.display());
    let with_dir = |tool: &str, args: &[&str], stdin: Option<&str>, ours_tool: bool| {
        let mut command = if ours_tool {
            let mut command = kdc.command(env!("CARGO_BIN_EXE_rgssd"));
            command.arg(tool);
            command
        } else {
            kdc.command(tool)
        };
        command.args(args).env("KRB5CCNAME", &name);
        execute(command, stdin)
    };

    with_dir("kinit", &["alice"], Some("alice-pw\n"), true).assert_success("kinit alice");
    with_dir("kinit", &["bob"], Some("bob-pw\n"), true).assert_success("kinit bob");

    // bob's cache is now the primary, and alice's is kept.
    let expected = with_dir("klist", &["-l"], None, false);
    expected.assert_success("MIT klist -l");
    assert_eq!(expected.stdout.lines().count(), 4, "{}", expected.stdout);
    assert!(expected
        .stdout
        .lines()
        .nth(2)
        .unwrap()
        .starts_with("bob@EXAMPLE.TEST"));
    let actual = with_dir("klist", &["-l"], None, true);
    assert_eq!(actual.stdout, expected.stdout);
    let actual = with_dir("klist", &["-A"], None, true);
    assert_eq!(
        actual.stdout,
        with_dir("klist", &["-A"], None, false).stdout
    );

    with_dir("kdestroy", &["-p", "alice"], None, true).assert_success("kdestroy -p");
    let remaining = with_dir("klist", &["-l"], None, false);
    assert_eq!(remaining.stdout.lines().count(), 3, "{}", remaining.stdout);
    with_dir("kdestroy", &["-A"], None, true).assert_success("kdestroy -A");
    assert_eq!(
        with_dir("klist", &["-l"], None, false)
            .stdout
            .lines()
            .count(),
        2
    );
}

#[test]
fn invalid_flags_print_usage() {
    let kdc = start(TestKdcOptions::new(REALM));
    let cases: &[(&str, &[&str], &str)] = &[
        ("kinit", &["-Z"], "kinit: invalid option -- 'Z'\n"),
        (
            "kinit",
            &["-l"],
            "kinit: option requires an argument -- 'l'\n",
        ),
        (
            "kinit",
            &["-l", "bogus", "alice"],
            "kinit: Bad lifetime value bogus for -l: ",
        ),
        (
            "kinit",
            &["-f", "-F", "alice"],
            "kinit: Only one of -f and -F allowed\n",
        ),
        (
            "kinit",
            &["-n"],
            "kinit: -n (anonymous PKINIT) is not supported\n",
        ),
        ("klist", &["-Z"], "klist: invalid option -- 'Z'\n"),
        (
            "klist",
            &["-c", "-k"],
            "klist: -c and -k cannot be combined\n",
        ),
        (
            "klist",
            &["-t"],
            "klist: -t applies to keytabs only; add -k\n",
        ),
        (
            "klist",
            &["a", "b"],
            "Extra arguments (starting with \"b\").\n",
        ),
        ("kvno", &[], "kvno: no service named\n"),
        (
            "kvno",
            &["-e", "nonsense", "x"],
            "kvno: invalid enctype 'nonsense' for -e",
        ),
        ("kdestroy", &["-x"], "kdestroy: invalid option -- 'x'\n"),
        (
            "kdestroy",
            &["-A", "-p", "alice"],
            "kdestroy: -A option is exclusive with -p option\n",
        ),
    ];
    for (tool, args, message) in cases {
        let run = ours(&kdc, tool, args, None);
        assert_eq!(run.status, 1, "{tool} {args:?}: {run:#?}");
        assert!(
            run.stderr.starts_with(message),
            "{tool} {args:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr
                .to_lowercase()
                .contains(&format!("usage: {tool}")),
            "{tool} {args:?}: {}",
            run.stderr
        );
        assert_eq!(run.stdout, "", "{tool} {args:?}");
    }

    let unknown = execute(
        {
            let mut command = kdc.command(env!("CARGO_BIN_EXE_rgssd"));
            command.arg("kfrobnicate");
            command
        },
        None,
    );
    assert_eq!(unknown.status, 1);
    assert!(
        unknown
            .stderr
            .starts_with("rgssd: unknown tool 'kfrobnicate'\n"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn tool_selected_by_link_name() {
    let kdc = start(TestKdcOptions::new(REALM).user("alice", "alice-pw"));
    let link = kdc.dir().join("klist");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_rgssd"), &link).unwrap();
    ours(&kdc, "kinit", &["alice"], Some("alice-pw\n")).assert_success("kinit");

    let run = execute(kdc.command(&link), None);
    run.assert_success("klist link");
    assert!(
        run.stdout.contains("Default principal: alice@EXAMPLE.TEST"),
        "{}",
        run.stdout
    );
}

#[test]
fn invalid_krb5_conf_is_reported() {
    let kdc = start(TestKdcOptions::new(REALM));
    let broken = kdc.dir().join("broken.conf");
    std::fs::write(&broken, "[libdefaults\n default_realm = X\n").unwrap();
    for tool in ["kinit", "klist", "kvno", "kdestroy"] {
        let mut command = kdc.command(env!("CARGO_BIN_EXE_rgssd"));
        command.arg(tool).env("KRB5_CONFIG", &broken);
        if tool == "kvno" {
            command.arg(SERVICE);
        }
        let run = execute(command, Some("pw\n"));
        assert_eq!(run.status, 1, "{tool}: {run:#?}");
        assert!(
            run.stderr
                .starts_with(&format!("{tool}: invalid krb5.conf")),
            "{tool}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("broken.conf"), "{tool}: {}", run.stderr);
    }
}

#[test]
fn non_utf8_argument_is_rejected() {
    use std::os::unix::ffi::OsStrExt;

    let kdc = start(TestKdcOptions::new(REALM));
    let mut command = kdc.command(env!("CARGO_BIN_EXE_rgssd"));
    command
        .arg("klist")
        .arg(std::ffi::OsStr::from_bytes(b"/tmp/\xff"));
    let run = execute(command, None);
    assert_eq!(run.status, 1);
    assert!(run.stderr.contains("is not valid UTF-8"), "{}", run.stderr);
}

#[test]
fn kinit_password_prompt_on_terminal_does_not_echo() {
    use std::io::Read;

    let kdc = start(TestKdcOptions::new(REALM).user("alice", "alice-pw"));

    // script(1) from util-linux gives kinit a pseudo-terminal as stdin,
    // and timeout(1) ends the test instead of hanging if kinit never returns.
    let kinit = format!("{} kinit alice", env!("CARGO_BIN_EXE_rgssd"));
    let mut child = kdc
        .command("timeout")
        .args(["60", "script", "-q", "-e", "-c", &kinit, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux (Debian bsdutils) is needed");
    let mut stdout = child.stdout.take().unwrap();

    // The password goes in only after the prompt, when echo is off.
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&seen).contains("Password for alice@EXAMPLE.TEST: ") {
        assert_eq!(stdout.read(&mut byte).unwrap(), 1, "no prompt: {seen:?}");
        seen.push(byte[0]);
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"alice-pw\n").unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();

    assert!(status.success(), "{rest}");
    assert!(
        !rest.contains("alice-pw"),
        "the password was echoed: {rest:?}"
    );
    let klist = mit(&kdc, "klist", &[], None);
    assert!(
        klist
            .stdout
            .contains("Default principal: alice@EXAMPLE.TEST"),
        "{}",
        klist.stdout
    );
}
