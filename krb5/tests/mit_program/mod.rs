//! Builds the C programs in `tests/` that drive MIT's GSS-API library.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Compiles `tests/NAME.c` against MIT's libgssapi_krb5 into the target's
/// temporary directory and returns the program's path, or panics naming
/// what to install. Callers build each program once per test process.
pub fn build(name: &str) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(format!("{name}.c"));
    let program = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    // Each process builds its own file and renames it into place, so
    // concurrent test runs never execute a half-written program.
    let building = program.with_extension(std::process::id().to_string());

    let output = Command::new("cc")
        .arg("-Wall")
        .arg("-o")
        .arg(&building)
        .arg(&source)
        .args(["-lgssapi_krb5", "-lkrb5"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run cc to build {}: {e}; install a C compiler and \
                 libkrb5-dev (MIT's GSS-API headers and libraries)",
                source.display()
            )
        });
    assert!(
        output.status.success(),
        "cc failed to build {}; install libkrb5-dev (MIT's GSS-API headers \
         and libgssapi_krb5):\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&building, &program).unwrap_or_else(|e| {
        panic!(
            "cannot rename {} to {}: {e}",
            building.display(),
            program.display()
        )
    });
    program
}
