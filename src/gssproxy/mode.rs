//! The kernel's choice between the procfs channel and gss-proxy, made
//! through `/proc/net/rpc/use-gss-proxy` (net/sunrpc/auth_gss/svcauth_gss.c,
//! Linux 6.12).
//!
//! The file reads `-1` while undecided, `0` once the legacy channel is in
//! use and `1` once gss-proxy is. Writing `1` makes the kernel create its
//! RPC client for the socket, so the socket must listen first. The first
//! RPCSEC_GSS request seen while undecided fixes the legacy channel, and
//! after that only a reboot (or a new network namespace) changes it: the
//! write then fails with EBUSY.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

/// The kernel's interface for RPCSEC_GSS context creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelChoice {
    /// The file does not exist: auth_rpcgss is not loaded, or the kernel
    /// predates gss-proxy support.
    Unavailable,
    /// Nothing is fixed yet.
    Undecided,
    /// The procfs channel, for good.
    Legacy,
    /// gss-proxy.
    Proxy,
}

/// Reads the kernel's choice from `path`.
pub fn read_choice(path: &Path) -> io::Result<KernelChoice> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(KernelChoice::Unavailable),
        Err(e) => return Err(e),
    };
    match text.trim() {
        "-1" => Ok(KernelChoice::Undecided),
        "0" => Ok(KernelChoice::Legacy),
        "1" => Ok(KernelChoice::Proxy),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} reads {other:?}, expected -1, 0 or 1", path.display()),
        )),
    }
}

/// The outcome of asking the kernel to use gss-proxy.
#[derive(Debug)]
pub enum EnableError {
    /// The kernel has fixed the legacy channel (EBUSY).
    Latched,
    /// The file is missing.
    Unavailable,
    /// Another failure.
    Io(io::Error),
}

impl std::fmt::Display for EnableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnableError::Latched => write!(
                f,
                "the kernel already uses the legacy procfs channel, because an RPCSEC_GSS request arrived before gss-proxy was enabled; only a reboot changes that"
            ),
            EnableError::Unavailable => write!(
                f,
                "use-gss-proxy does not exist; load the auth_rpcgss module (modprobe auth_rpcgss)"
            ),
            EnableError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Writes `1` to `path`, which makes the kernel connect to the gss-proxy
/// socket. The socket must already listen.
pub fn enable_proxy(path: &Path) -> Result<(), EnableError> {
    let mut file = match OpenOptions::new().write(true).truncate(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(EnableError::Unavailable),
        Err(e) => return Err(EnableError::Io(e)),
    };
    match file.write_all(b"1\n") {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(nix::libc::EBUSY) => Err(EnableError::Latched),
        Err(e) => Err(EnableError::Io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rgssd-mode-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reads_each_kernel_value() {
        let dir = temp_dir("read");
        let path = dir.join("use-gss-proxy");
        assert_eq!(read_choice(&path).unwrap(), KernelChoice::Unavailable);
        for (text, choice) in [
            ("-1\n", KernelChoice::Undecided),
            ("0\n", KernelChoice::Legacy),
            ("1\n", KernelChoice::Proxy),
        ] {
            std::fs::write(&path, text).unwrap();
            assert_eq!(read_choice(&path).unwrap(), choice, "{text:?}");
        }
        std::fs::write(&path, "yes\n").unwrap();
        let error = read_choice(&path).unwrap_err();
        assert!(error.to_string().contains("yes"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn enable_writes_one_or_reports_missing_file() {
        let dir = temp_dir("enable");
        let path = dir.join("use-gss-proxy");
        assert!(matches!(enable_proxy(&path), Err(EnableError::Unavailable)));
        std::fs::write(&path, "-1\n").unwrap();
        enable_proxy(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
