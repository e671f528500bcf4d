//! Runs a throwaway KDC on 127.0.0.1 for trying Kerberos tools by hand.
//!
//! `serve COMMAND [ARGS...]` runs the command with KRB5_CONFIG, KRB5CCNAME,
//! KRB5_KTNAME and the rest pointing at the KDC, stops the KDC when the
//! command ends, and exits with the command's status. Without a command it
//! prints the shell `export` lines and serves until stdin reaches end of
//! file.
//!
//! The realm is EXAMPLE.TEST with the user `alice` (password `alice-pw`)
//! and the services `nfs/localhost` and `host/localhost` in the default
//! keytab.

use std::io::Read;
use std::process::Command;

use testkdc::{PrincipalSpec, TestKdc, TestKdcOptions};

fn main() {
    let command: Vec<String> = std::env::args().skip(1).collect();
    let options = TestKdcOptions::new("EXAMPLE.TEST")
        .user("alice", "alice-pw")
        .principal(PrincipalSpec::service("nfs/localhost").with_keytab("krb5.keytab"))
        .principal(PrincipalSpec::service("host/localhost").with_keytab("krb5.keytab"));
    let kdc = match TestKdc::start(options) {
        Ok(kdc) => kdc,
        Err(error) => {
            eprintln!("serve: {error}");
            std::process::exit(1);
        }
    };

    let Some((program, args)) = command.split_first() else {
        for (name, value) in kdc.env() {
            println!("export {name}={}", value.to_string_lossy());
        }
        eprintln!(
            "serve: KDC for {} on {}; close stdin (Ctrl-D) to stop it",
            kdc.realm(),
            kdc.address()
        );
        let mut rest = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut rest);
        return;
    };

    let mut child = Command::new(program);
    child.args(args);
    for (name, value) in kdc.env() {
        child.env(name, value);
    }
    let status = match child.status() {
        Ok(status) => status.code().unwrap_or(1),
        Err(error) => {
            eprintln!("serve: cannot run {program}: {error}");
            1
        }
    };
    drop(kdc);
    std::process::exit(status);
}
