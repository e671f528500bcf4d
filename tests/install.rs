//! `rgssd install` into staging directories, and the systemd units it
//! installs: their conditions, their likeness to nfs-common's units and
//! `systemd-analyze verify`.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::ScratchDir;
use rgssd::install::{LINKS, MAN_PAGES, UNITS};

fn rgssd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rgssd"))
        .args(args)
        .env_remove("DESTDIR")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn install(stage: &Path, extra: &[&str]) -> Output {
    let destdir = stage.to_str().unwrap();
    let mut args = vec!["install", "--destdir", destdir];
    args.extend_from_slice(extra);
    rgssd(&args)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Returns the `KEY=VALUE` lines of a unit file, without comments.
fn directives(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with('['))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect()
}

#[test]
fn install_stages_binary_links_units_and_pages() {
    let stage = ScratchDir::new("install-stage");
    let output = install(stage.path(), &["--prefix", "/usr"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let listing = text(&output.stdout);

    let binary = stage.path().join("usr/bin/rgssd");
    assert_eq!(mode(&binary), 0o755);
    assert_eq!(
        std::fs::metadata(&binary).unwrap().len(),
        std::fs::metadata(env!("CARGO_BIN_EXE_rgssd"))
            .unwrap()
            .len()
    );
    assert!(listing.contains(&binary.display().to_string()), "{listing}");

    for (name, dir) in LINKS {
        let link = stage.path().join("usr").join(dir.name()).join(name);
        let target = std::fs::read_link(&link).unwrap();
        assert!(
            target.is_relative(),
            "{} -> {}",
            link.display(),
            target.display()
        );
        assert_eq!(
            std::fs::canonicalize(&link).unwrap(),
            std::fs::canonicalize(&binary).unwrap()
        );
        assert!(listing.contains(&link.display().to_string()), "{listing}");
    }

    // A link's name selects its tool.
    for link in ["usr/bin/klist", "usr/sbin/rpc.gssd"] {
        let output = Command::new(stage.path().join(link))
            .arg("-Z")
            .output()
            .unwrap();
        let stderr = text(&output.stderr);
        let tool = link.rsplit('/').next().unwrap();
        assert!(
            stderr.starts_with(&format!("{tool}: invalid option -- 'Z'")),
            "{stderr}"
        );
    }

    // The units name the final paths, not the staging directory.
    for (name, _) in UNITS {
        let unit = stage.path().join("usr/lib/systemd/system").join(name);
        assert_eq!(mode(&unit), 0o644);
        let unit = std::fs::read_to_string(unit).unwrap();
        let daemon = name.trim_end_matches(".service").replace('-', ".");
        assert!(
            unit.contains(&format!("\nExecStart=/usr/sbin/{daemon}\n")),
            "{unit}"
        );
    }
    for (name, content) in MAN_PAGES {
        let page = stage.path().join("usr/share/man/man8").join(name);
        assert_eq!(mode(&page), 0o644);
        assert_eq!(std::fs::read_to_string(page).unwrap(), *content);
    }
}

#[test]
fn install_takes_destdir_from_environment() {
    let stage = ScratchDir::new("install-env");
    let output = Command::new(env!("CARGO_BIN_EXE_rgssd"))
        .args(["install", "--unit-dir", "/etc/systemd/system"])
        .env("DESTDIR", stage.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(stage.path().join("usr/local/bin/rgssd").is_file());
    assert!(stage
        .path()
        .join("etc/systemd/system/rpc-gssd.service")
        .is_file());
    let unit = std::fs::read_to_string(stage.path().join("etc/systemd/system/rpc-svcgssd.service"))
        .unwrap();
    assert!(
        unit.contains("\nExecStart=/usr/local/sbin/rpc.svcgssd\n"),
        "{unit}"
    );
}

#[test]
fn dry_run_writes_nothing() {
    let stage = ScratchDir::new("install-dry");
    let output = install(stage.path(), &["--dry-run"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let listing = text(&output.stdout);
    let expected = 1 + LINKS.len() + UNITS.len() + MAN_PAGES.len();
    assert_eq!(listing.lines().count(), expected + 1, "{listing}");
    assert!(
        listing.ends_with("dry run: nothing was written\n"),
        "{listing}"
    );
    assert_eq!(std::fs::read_dir(stage.path()).unwrap().count(), 0);
}

#[test]
fn reinstall_replaces_links_but_not_files() {
    let stage = ScratchDir::new("install-again");
    for _ in 0..2 {
        let output = install(stage.path(), &[]);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }

    // A real file where a link goes, such as MIT's kinit, stops the install
    // before anything is written.
    let kinit = stage.path().join("usr/local/bin/kinit");
    std::fs::remove_file(&kinit).unwrap();
    std::fs::write(&kinit, "MIT kinit").unwrap();
    let page = stage.path().join("usr/local/share/man/man8/rgssd.8");
    std::fs::remove_file(&page).unwrap();

    let output = install(stage.path(), &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert_eq!(
        stderr,
        format!(
            "rgssd install: {} exists and is not a symbolic link; remove it or choose another --prefix\n",
            kinit.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&kinit).unwrap(), "MIT kinit");
    assert!(!page.exists());
}

#[test]
fn relative_prefix_rejected() {
    let output = rgssd(&["install", "--prefix", "usr/local", "--dry-run"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(
            "rgssd install: --prefix usr/local is not an absolute path; the units name it at run time\n"
        ),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

/// Every path a unit's conditions test is one that the kernel provides or
/// one that the daemons read by default, so no condition can be stuck on a
/// path that never exists.
#[test]
fn unit_conditions_point_at_real_paths() {
    let default_keytab = rgssd::gssd::Options::default().keytab;
    let svcgssd_keytab = krb5::config::Config::default()
        .default_keytab_name_for(0)
        .unwrap();
    // (path, who provides it)
    let known: &[(&str, &str)] = &[
        // rpc.gssd's default -k and the default keytab name of krb5.conf
        // (default_keytab_name), which svcgssd reads; made by kadmin ktadd.
        (&default_keytab, "the daemons' default keytab"),
        // The sunrpc module creates it when it can hand server contexts to
        // gssproxy (Linux 3.10 and later).
        ("/proc/net/rpc/use-gss-proxy", "the kernel"),
        // gssproxy.service's PIDFile, present only while gssproxy runs.
        ("/run/gssproxy.pid", "gssproxy"),
    ];
    assert_eq!(svcgssd_keytab, format!("FILE:{default_keytab}"));

    for (name, template) in UNITS {
        let conditions: Vec<(String, String)> = directives(template)
            .into_iter()
            .filter(|(key, _)| key.starts_with("Condition") || key.starts_with("Assert"))
            .collect();
        assert!(!conditions.is_empty(), "{name} has no conditions");
        for (key, value) in conditions {
            assert!(key.ends_with("PathExists"), "{name}: {key}={value}");
            let path = value.trim_start_matches('|').trim_start_matches('!');
            assert!(
                known.iter().any(|(known, _)| *known == path),
                "{name}: {key}={value} tests a path that neither the kernel nor the daemons provide"
            );
        }
    }
}

/// The units order, require and condition like Debian 12's nfs-common
/// units of the same names, so they drop in for them.
#[test]
fn units_match_nfs_common_dependencies() {
    let packaged = Path::new("/lib/systemd/system");
    for (name, template) in UNITS {
        let Ok(theirs) = std::fs::read_to_string(packaged.join(name)) else {
            eprintln!(
                "skipped: {name} of nfs-common is not installed in {}",
                packaged.display()
            );
            return;
        };
        let relevant = |unit: &str| -> BTreeSet<(String, String)> {
            directives(unit)
                .into_iter()
                .filter(|(key, _)| {
                    !matches!(key.as_str(), "Description" | "Documentation" | "ExecStart")
                })
                .collect()
        };
        assert_eq!(relevant(template), relevant(&theirs), "{name}");
    }
}

/// Runs `systemd-analyze verify` on the installed units in a root that also
/// contains the nfs-common units they refer to, and with the installed man
/// pages on MANPATH so that their Documentation= lines resolve.
#[test]
fn systemd_analyze_verifies_units() {
    let Ok(analyze) = testkdc::find_program("systemd-analyze", "systemd") else {
        eprintln!("skipped: systemd-analyze not found; install Debian's systemd package");
        return;
    };
    let packaged = Path::new("/lib/systemd/system");
    let referenced = [
        "rpc_pipefs.target",
        "var-lib-nfs-rpc_pipefs.mount",
        "nfs-utils.service",
    ];
    if referenced.iter().any(|unit| !packaged.join(unit).exists()) {
        eprintln!(
            "skipped: nfs-common's units are not installed in {}",
            packaged.display()
        );
        return;
    }

    let root = ScratchDir::new("install-verify");
    let output = install(root.path(), &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    for unit in referenced {
        std::fs::create_dir_all(root.path().join("lib/systemd/system")).unwrap();
        std::fs::copy(
            packaged.join(unit),
            root.path().join("lib/systemd/system").join(unit),
        )
        .unwrap();
    }

    let mut command = Command::new(analyze);
    command
        .arg("verify")
        .arg(format!("--root={}", root.path().display()))
        .env("MANPATH", root.path().join("usr/local/share/man"));
    for (name, _) in UNITS {
        command.arg(name);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "systemd-analyze verify: {}\n{}",
        output.status,
        text(&output.stderr)
    );
}
