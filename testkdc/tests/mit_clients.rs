//! Starts the test KDC and drives it with MIT's own client tools
//! (Debian krb5-user), which must be installed.

use std::io::Write;
use std::process::{Output, Stdio};

use testkdc::{PrincipalSpec, TestKdc, TestKdcOptions};

fn run_with_stdin(kdc: &TestKdc, program: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = kdc
        .command(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} (install krb5-user): {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn mit_kinit_and_klist_with_password() {
    let kdc = TestKdc::start(TestKdcOptions::new("EXAMPLE.TEST").user("alice", "alice-pw"))
        .unwrap_or_else(|e| panic!("{e}"));

    let kinit = run_with_stdin(&kdc, "kinit", &["alice"], "alice-pw\n");
    assert!(
        kinit.status.success(),
        "kinit failed: {}\n{}",
        text(&kinit.stderr),
        kdc.log()
    );

    let klist = kdc.command("klist").output().unwrap();
    assert!(klist.status.success(), "klist: {}", text(&klist.stderr));
    let listing = text(&klist.stdout);
    assert!(
        listing.contains(&format!("Ticket cache: {}", kdc.ccache_name())),
        "{listing}"
    );
    assert!(
        listing.contains("Default principal: alice@EXAMPLE.TEST"),
        "{listing}"
    );
    assert!(
        listing.contains("krbtgt/EXAMPLE.TEST@EXAMPLE.TEST"),
        "{listing}"
    );
}

#[test]
fn wrong_password_fails_preauth() {
    let kdc = TestKdc::start(TestKdcOptions::new("EXAMPLE.TEST").user("alice", "alice-pw"))
        .unwrap_or_else(|e| panic!("{e}"));
    let kinit = run_with_stdin(&kdc, "kinit", &["alice"], "wrong\n");
    assert!(!kinit.status.success());

    // MIT's kinit reports the KDC's PREAUTH_FAILED error as a wrong password.
    assert!(
        text(&kinit.stderr).contains("Password incorrect while getting initial credentials"),
        "{}",
        text(&kinit.stderr)
    );
    assert!(kdc.log().contains("PREAUTH_FAILED"), "{}", kdc.log());
}

#[test]
fn forced_enctype_and_service_keytab() {
    for enctype in [17, 18, 19, 20, 25, 26] {
        let kdc = TestKdc::start(
            TestKdcOptions::new("EXAMPLE.TEST")
                .with_enctypes(&[enctype])
                .user("alice", "alice-pw")
                .service("nfs/server.example.test"),
        )
        .unwrap_or_else(|e| panic!("{e}"));

        let kinit = run_with_stdin(&kdc, "kinit", &["alice"], "alice-pw\n");
        assert!(kinit.status.success(), "{enctype}: {}", text(&kinit.stderr));
        let kvno = kdc
            .command("kvno")
            .arg("nfs/server.example.test")
            .output()
            .unwrap();
        assert!(kvno.status.success(), "{enctype}: {}", text(&kvno.stderr));

        let klist = kdc.command("klist").arg("-e").output().unwrap();
        let name = testkdc::enctype_name(enctype).unwrap();
        let listing = text(&klist.stdout);
        assert!(
            listing.contains(&format!("Etype (skey, tkt): {name}, {name}")),
            "{enctype}: {listing}"
        );

        let keytab = kdc.keytab("nfs/server.example.test").unwrap();
        let klist_k = kdc
            .command("klist")
            .args(["-k", "-e"])
            .arg(keytab)
            .output()
            .unwrap();
        let keys = text(&klist_k.stdout);
        assert!(
            keys.contains(&format!("nfs/server.example.test@EXAMPLE.TEST ({name})")),
            "{enctype}: {keys}"
        );
        assert_eq!(keys.matches("nfs/server.example.test").count(), 1, "{keys}");
    }
}

#[test]
fn keytab_of_password_principal_accepts_password_too() {
    let kdc = TestKdc::start(
        TestKdcOptions::new("EXAMPLE.TEST")
            .principal(PrincipalSpec::user("bob", "bob-pw").with_keytab("client.keytab")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let keytab = kdc.keytab("bob").unwrap().to_path_buf();
    assert_eq!(keytab, kdc.client_keytab());

    let kinit = kdc
        .command("kinit")
        .args(["-k", "-t"])
        .arg(&keytab)
        .arg("bob")
        .output()
        .unwrap();
    assert!(kinit.status.success(), "{}", text(&kinit.stderr));

    let kinit = run_with_stdin(&kdc, "kinit", &["bob"], "bob-pw\n");
    assert!(kinit.status.success(), "{}", text(&kinit.stderr));
}

#[test]
fn cross_realm_service_ticket() {
    let kdc = TestKdc::start(
        TestKdcOptions::new("EXAMPLE.TEST")
            .with_second_realm("OTHER.TEST")
            .user("alice", "alice-pw")
            .service("nfs/server.other.test@OTHER.TEST"),
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let kinit = run_with_stdin(&kdc, "kinit", &["alice"], "alice-pw\n");
    assert!(kinit.status.success(), "{}", text(&kinit.stderr));
    let kvno = kdc
        .command("kvno")
        .arg("nfs/server.other.test@OTHER.TEST")
        .output()
        .unwrap();
    assert!(
        kvno.status.success(),
        "{}\n{}",
        text(&kvno.stderr),
        kdc.log()
    );
    let klist = text(&kdc.command("klist").output().unwrap().stdout);
    assert!(klist.contains("krbtgt/OTHER.TEST@EXAMPLE.TEST"), "{klist}");
    assert!(
        klist.contains("nfs/server.other.test@OTHER.TEST"),
        "{klist}"
    );
}

#[test]
fn dead_kdc_listed_first_is_skipped() {
    let dead = format!("127.0.0.1:{}", testkdc::free_port().unwrap());
    let kdc = TestKdc::start(
        TestKdcOptions::new("EXAMPLE.TEST")
            .kdc_before(&dead)
            .user("alice", "alice-pw"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let kinit = run_with_stdin(&kdc, "kinit", &["alice"], "alice-pw\n");
    assert!(kinit.status.success(), "{}", text(&kinit.stderr));
}

#[test]
fn drop_stops_kdc_and_removes_files() {
    let kdc = TestKdc::start(TestKdcOptions::new("EXAMPLE.TEST")).unwrap_or_else(|e| panic!("{e}"));
    let dir = kdc.dir().to_path_buf();
    let port = kdc.port();
    assert!(dir.join("kdc.conf").exists());
    drop(kdc);
    assert!(!dir.exists());
    assert!(std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok());
}

/// Parses klist's `MM/DD/YY HH:MM:SS` (in UTC) into seconds since the epoch.
fn klist_seconds(text: &str) -> i64 {
    let numbers: Vec<i64> = text
        .split(['/', ' ', ':'])
        .map(|part| part.parse().unwrap())
        .collect();
    let [month, day, year, hour, minute, second] = numbers[..] else {
        panic!("unexpected time {text:?}");
    };
    // POSIX strptime reads %y values 00-68 as 20YY and 69-99 as 19YY.
    let century = if year < 69 { 2000 } else { 1900 };

    // Days from 1970-01-01, counted in 400-year eras that start on March 1.
    let year = century + year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    days * 86400 + hour * 3600 + minute * 60 + second
}

#[test]
fn max_life_limits_tickets() {
    let kdc = TestKdc::start(
        TestKdcOptions::new("EXAMPLE.TEST")
            .with_max_life("1h")
            .with_max_renewable_life("2h")
            .user("alice", "alice-pw"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let kinit = run_with_stdin(
        &kdc,
        "kinit",
        &["-l", "10h", "-r", "1d", "alice"],
        "alice-pw\n",
    );
    assert_eq!(klist_seconds("01/01/70 00:00:00"), 0);
    assert_eq!(klist_seconds("03/01/00 00:00:01"), 951_868_801);
    assert!(kinit.status.success(), "{}", text(&kinit.stderr));

    let klist = kdc.command("klist").env("TZ", "UTC").output().unwrap();
    let listing = text(&klist.stdout);
    let line = listing
        .lines()
        .find(|line| line.contains("krbtgt/EXAMPLE.TEST@EXAMPLE.TEST"))
        .unwrap_or_else(|| panic!("{listing}"));
    let start = klist_seconds(&line[..17]);
    let end = klist_seconds(&line[19..36]);
    assert_eq!(end - start, 3600, "{listing}");
    let renew = listing
        .lines()
        .find_map(|line| line.trim().strip_prefix("renew until "))
        .unwrap_or_else(|| panic!("{listing}"));
    assert_eq!(klist_seconds(renew) - start, 7200, "{listing}");
}
