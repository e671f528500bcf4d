//! Runs a test KDC until stdin reaches end of file, printing the shell
//! `export` lines that point Kerberos tools at it.
//!
//! The realm is EXAMPLE.TEST with `alice` (password `alice-pw`), and the
//! service `nfs/HOST` and `host/HOST` in the default keytab, where HOST is
//! the first argument or `localhost`.

use std::io::Read;

use testkdc::{PrincipalSpec, TestKdc, TestKdcOptions};

fn main() {
    let host = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "localhost".to_string());
    let options = TestKdcOptions::new("EXAMPLE.TEST")
        .user("alice", "alice-pw")
        .principal(PrincipalSpec::service(&format!("nfs/{host}")).with_keytab("krb5.keytab"))
        .principal(PrincipalSpec::service(&format!("host/{host}")).with_keytab("krb5.keytab"));
    let kdc = match TestKdc::start(options) {
        Ok(kdc) => kdc,
        Err(error) => {
            eprintln!("serve: {error}");
            std::process::exit(1);
        }
    };

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
}
