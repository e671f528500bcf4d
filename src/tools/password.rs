//! Password prompts: from the terminal without echo, or one line from
//! stdin when stdin is not a terminal, as MIT's `krb5_prompter_posix` does.

use std::io::{self, BufRead, IsTerminal, Write};

use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
use zeroize::Zeroizing;

/// Errors from reading a password.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("Cannot read password: stdin reached end of file")]
    EndOfFile,
    #[error("Cannot read password: {0}")]
    Io(#[from] io::Error),
    #[error("Cannot read password: cannot turn off terminal echo: {0}")]
    Terminal(nix::Error),
}

/// Writes `prompt` and `: ` to `out`, then reads one line from stdin with
/// terminal echo off, and returns it without its line ending.
///
/// Echo goes off before the prompt appears and without flushing pending
/// input (TCSANOW), so a password typed as soon as the prompt shows is
/// neither echoed nor lost.
///
/// NOTE: an interrupt (Ctrl-C) while the prompt waits leaves echo off, as
/// no signal handler restores it; `stty echo` turns it back on.
pub fn read_password(
    prompt: &str,
    out: &mut dyn Write,
) -> Result<Zeroizing<String>, PasswordError> {
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        write!(out, "{prompt}: ")?;
        out.flush()?;
        let line = read_line(&mut stdin.lock())?;
        writeln!(out)?;
        return Ok(line);
    }

    let saved = tcgetattr(&stdin).map_err(PasswordError::Terminal)?;
    let mut silent = saved.clone();
    silent.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &silent).map_err(PasswordError::Terminal)?;

    let line = write!(out, "{prompt}: ")
        .and_then(|()| out.flush())
        .map_err(PasswordError::from)
        .and_then(|()| read_line(&mut stdin.lock()));
    let restored = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    // The user's Enter was not echoed, so the newline is written here.
    writeln!(out)?;
    restored.map_err(PasswordError::Terminal)?;
    line
}

/// Reads one line and strips `\n` or `\r\n`.
pub fn read_line(input: &mut dyn BufRead) -> Result<Zeroizing<String>, PasswordError> {
    let mut line = Zeroizing::new(String::new());
    if input.read_line(&mut line)? == 0 {
        return Err(PasswordError::EndOfFile);
    }
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_line_strips_line_endings() {
        let mut input: &[u8] = b"secret pw\r\nnext\n";
        assert_eq!(read_line(&mut input).unwrap().as_str(), "secret pw");
        assert_eq!(read_line(&mut input).unwrap().as_str(), "next");
        assert!(matches!(
            read_line(&mut input),
            Err(PasswordError::EndOfFile)
        ));
    }

    #[test]
    fn read_line_without_newline() {
        let mut input: &[u8] = b"last";
        assert_eq!(read_line(&mut input).unwrap().as_str(), "last");
    }
}
