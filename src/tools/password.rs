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
/// NOTE: an interrupt (Ctrl-C) while the prompt waits leaves echo off, as
/// no signal handler restores it; `stty echo` turns it back on.
pub fn read_password(
    prompt: &str,
    out: &mut dyn Write,
) -> Result<Zeroizing<String>, PasswordError> {
    write!(out, "{prompt}: ")?;
    out.flush()?;

    let stdin = io::stdin();
    let line = if stdin.is_terminal() {
        let saved = tcgetattr(&stdin).map_err(PasswordError::Terminal)?;
        let mut silent = saved.clone();
        silent.local_flags.remove(LocalFlags::ECHO);
        tcsetattr(&stdin, SetArg::TCSAFLUSH, &silent).map_err(PasswordError::Terminal)?;
        let line = read_line(&mut stdin.lock());
        let restored = tcsetattr(&stdin, SetArg::TCSAFLUSH, &saved);
        // The user's Enter was not echoed, so the newline is written here.
        writeln!(out)?;
        restored.map_err(PasswordError::Terminal)?;
        line?
    } else {
        let line = read_line(&mut stdin.lock())?;
        writeln!(out)?;
        line
    };
    Ok(line)
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
