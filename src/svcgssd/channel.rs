//! The procfs cache channels: `auth.rpcsec.init/channel`, which the daemon
//! keeps open for reading requests and writing replies, and
//! `auth.rpcsec.context/channel`, which each worker keeps open for its
//! context records.
//!
//! A read returns one pending request, or nothing when none is pending;
//! poll(2) reports when one arrives. Each write must carry one whole record,
//! and its result is the kernel's verdict on that record.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// The kernel writes each request into one page, so no request is larger.
pub const MAX_REQUEST: usize = 1 << 16;

/// The channel files under a procfs `net/rpc` directory.
#[derive(Debug, Clone)]
pub struct Channels {
    pub init: PathBuf,
    pub context: PathBuf,
}

impl Channels {
    pub fn under(rpc_dir: &Path) -> Self {
        Self {
            init: rpc_dir.join("auth.rpcsec.init/channel"),
            context: rpc_dir.join("auth.rpcsec.context/channel"),
        }
    }
}

/// Returns true if a read of the init channel failed because the request
/// at the head of the kernel's queue does not fit one page hex-encoded.
/// The kernel keeps that request queued, so every later read fails the
/// same way until it expires (net/sunrpc/cache.c, Linux 6.12). Flushing the
/// cache does not help: the waiting nfsd request is run again at once and
/// queues the same token.
pub fn is_oversized_request(error: &io::Error) -> bool {
    error.raw_os_error() == Some(nix::libc::E2BIG)
}

/// Opens the init channel for reading and writing, retrying while it does
/// not exist (the auth_rpcgss module is not loaded yet) as rpc.svcgssd
/// does: every second for ten tries, then every ten seconds.
pub fn open_init_channel(path: &Path, mut on_retry: impl FnMut(u32, &io::Error)) -> File {
    let mut attempt = 0u32;
    loop {
        match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => return file,
            Err(e) => {
                attempt += 1;
                on_retry(attempt, &e);
                let pause = if attempt <= 10 { 1 } else { 10 };
                std::thread::sleep(Duration::from_secs(pause));
            }
        }
    }
}

/// Reads requests from the init channel into one buffer that is kept
/// between reads.
pub struct RequestReader {
    buf: Vec<u8>,
}

impl Default for RequestReader {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestReader {
    pub fn new() -> Self {
        Self {
            buf: vec![0u8; MAX_REQUEST],
        }
    }

    /// Reads a pending request. When none is pending, waits until one
    /// arrives, `timeout` passes or `wake` becomes readable, and returns
    /// `Ok(None)` in the last two cases. During a burst the read comes
    /// first, so each request costs one read(2) and no poll(2).
    pub fn read(
        &mut self,
        file: &mut File,
        wake: BorrowedFd<'_>,
        timeout: Duration,
    ) -> io::Result<Option<Vec<u8>>> {
        if let Some(request) = self.read_pending(file)? {
            return Ok(Some(request));
        }
        let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        let mut fds = [
            PollFd::new(file.as_fd(), PollFlags::POLLIN),
            PollFd::new(wake, PollFlags::POLLIN),
        ];
        match poll(&mut fds, timeout) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let woken = fds[1].revents().is_some_and(|r| !r.is_empty());
        let readable = fds[0].revents().is_some_and(|r| !r.is_empty());
        if woken || !readable {
            return Ok(None);
        }
        self.read_pending(file)
    }

    /// Reads one request if one is pending: a read of the channel returns
    /// 0 bytes when the queue is empty.
    fn read_pending(&mut self, file: &mut File) -> io::Result<Option<Vec<u8>>> {
        let n = file.read(&mut self.buf)?;
        Ok((n > 0).then(|| self.buf[..n].to_vec()))
    }
}

/// Writes one record to a channel with a single write(2).
pub fn write_record(file: &mut File, record: &str) -> io::Result<()> {
    let n = file.write(record.as_bytes())?;
    if n != record.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write: {n} of {} bytes", record.len()),
        ));
    }
    Ok(())
}

/// The context channel of one worker, opened at the first record and kept
/// open for the next ones. After a failed write it is opened again for the
/// next record, in case the descriptor itself went bad.
pub struct ContextWriter {
    path: PathBuf,
    file: Option<File>,
}

impl ContextWriter {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            file: None,
        }
    }

    /// Writes one context record with a single write(2).
    pub fn write(&mut self, record: &str) -> io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            None => self
                .file
                .insert(OpenOptions::new().write(true).open(&self.path)?),
        };
        let result = write_record(file, record);
        if result.is_err() {
            self.file = None;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_request_is_e2big() {
        let e2big = io::Error::from_raw_os_error(nix::libc::E2BIG);
        assert!(is_oversized_request(&e2big));
        let other = io::Error::from_raw_os_error(nix::libc::EIO);
        assert!(!is_oversized_request(&other));
    }
}
