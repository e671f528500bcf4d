//! The multi-call entry point: `rgssd TOOL ARGS...`, or a link named after
//! the tool (`kinit`, `klist`, ...) pointing at the `rgssd` binary.
//!
//! The Kerberos tools (kinit, klist, kvno, kdestroy) follow MIT krb5
//! 1.20's commands of the same names: their options, environment
//! variables, output layout and messages, so scripts written for MIT's
//! tools keep working. They exit 0 on success and 1 on any failure,
//! including usage errors.

use std::ffi::OsString;
use std::io::{self, Write};

pub mod defaults;
pub mod errors;
pub mod format;
pub mod getopt;
pub mod kdestroy;
pub mod kinit;
pub mod klist;
pub mod kvno;
pub mod localtime;
pub mod password;

/// One invocation of a tool: the name it reports in messages, its
/// arguments (without the tool name) and its output streams.
pub struct Invocation<'a> {
    pub program: String,
    pub args: Vec<String>,
    pub stdout: &'a mut dyn Write,
    pub stderr: &'a mut dyn Write,
}

impl Invocation<'_> {
    /// Writes `program: message` and a newline to stderr.
    pub fn error(&mut self, message: impl std::fmt::Display) {
        let _ = writeln!(self.stderr, "{}: {message}", self.program);
    }

    /// Writes each non-empty error line and then `usage` to stderr, and
    /// returns [`FAILURE`]. An empty entry (from `-h`) prints only the usage.
    pub fn usage_failure(&mut self, errors: &[String], usage: &str) -> i32 {
        for error in errors.iter().filter(|e| !e.is_empty()) {
            let _ = writeln!(self.stderr, "{error}");
        }
        let _ = self.stderr.write_all(usage.as_bytes());
        if !usage.ends_with('\n') {
            let _ = self.stderr.write_all(b"\n");
        }
        FAILURE
    }
}

/// Loads krb5.conf (KRB5_CONFIG, else /etc/krb5.conf), or prints why it
/// cannot be loaded and returns `None`.
pub fn load_config(invocation: &mut Invocation<'_>) -> Option<krb5::config::Config> {
    match krb5::config::Config::load() {
        Ok(config) => Some(config),
        Err(error) => {
            invocation.error(format!("{error} while initializing krb5"));
            None
        }
    }
}

/// A tool of the multi-call binary.
pub struct Tool {
    /// The name that selects the tool, as the first argument or as the
    /// binary's file name.
    pub name: &'static str,
    /// Other file names that select it, such as `rpc.gssd` for `gssd`.
    pub aliases: &'static [&'static str],
    pub summary: &'static str,
    pub run: fn(&mut Invocation<'_>) -> i32,
}

/// Every tool, in the order `rgssd --help` lists them.
pub const TOOLS: &[Tool] = &[
    Tool {
        name: "kinit",
        aliases: &[],
        summary: "get a ticket-granting ticket with a password or a keytab, or renew one",
        run: kinit::run,
    },
    Tool {
        name: "klist",
        aliases: &[],
        summary: "list the tickets of a credential cache or the keys of a keytab",
        run: klist::run,
    },
    Tool {
        name: "kvno",
        aliases: &[],
        summary: "get service tickets and print the key version numbers",
        run: kvno::run,
    },
    Tool {
        name: "kdestroy",
        aliases: &[],
        summary: "destroy a credential cache or every cache of a collection",
        run: kdestroy::run,
    },
    Tool {
        name: "gssd",
        aliases: &["rpc.gssd"],
        summary: "serve the kernel's RPCSEC_GSS upcalls in rpc_pipefs (replaces rpc.gssd)",
        run: crate::gssd::run,
    },
    Tool {
        name: "svcgssd",
        aliases: &["rpc.svcgssd"],
        summary: "serve knfsd's RPCSEC_GSS context requests (replaces rpc.svcgssd)",
        run: crate::svcgssd::run,
    },
    Tool {
        name: "install",
        aliases: &[],
        summary: "install the binary, its links, the systemd units and the man pages",
        run: crate::install::run,
    },
];

fn find_tool(name: &str) -> Option<&'static Tool> {
    TOOLS
        .iter()
        .find(|tool| tool.name == name || tool.aliases.contains(&name))
}

/// The exit status of every failure.
pub const FAILURE: i32 = 1;

/// Runs the tool that `argv` selects and returns the process exit status.
pub fn main_with_args(argv: Vec<OsString>) -> i32 {
    // The handles lock per write, not for the whole run: the daemons log
    // from several threads, which would wait forever for a lock held here.
    let mut stdout = io::stdout();
    let mut stderr = io::stderr();

    let mut args = Vec::with_capacity(argv.len());
    for (position, arg) in argv.into_iter().enumerate() {
        match arg.into_string() {
            Ok(arg) => args.push(arg),
            Err(arg) => {
                let _ = writeln!(
                    stderr,
                    "rgssd: argument {position} ({}) is not valid UTF-8",
                    arg.to_string_lossy()
                );
                return FAILURE;
            }
        }
    }

    let status = dispatch(args, &mut stdout, &mut stderr);
    let _ = stdout.flush();
    status
}

/// Selects a tool by the binary's file name, else by the first argument.
pub fn dispatch(args: Vec<String>, stdout: &mut dyn Write, stderr: &mut dyn Write) -> i32 {
    let mut args = args.into_iter();
    let argv0 = args.next().unwrap_or_default();
    let called_as = argv0.rsplit('/').next().unwrap_or_default().to_string();

    if let Some(tool) = find_tool(&called_as) {
        let mut invocation = Invocation {
            program: called_as,
            args: args.collect(),
            stdout,
            stderr,
        };
        return (tool.run)(&mut invocation);
    }

    let Some(first) = args.next() else {
        print_usage(stderr);
        return FAILURE;
    };
    match first.as_str() {
        "-h" | "--help" | "help" => {
            print_usage(stdout);
            0
        }
        "-V" | "--version" => {
            let _ = writeln!(stdout, "rgssd version {}", env!("CARGO_PKG_VERSION"));
            0
        }
        name => match find_tool(name) {
            Some(tool) => {
                let mut invocation = Invocation {
                    program: tool.name.to_string(),
                    args: args.collect(),
                    stdout,
                    stderr,
                };
                (tool.run)(&mut invocation)
            }
            None => {
                let _ = writeln!(stderr, "rgssd: unknown tool '{name}'");
                print_usage(stderr);
                FAILURE
            }
        },
    }
}

fn print_usage(out: &mut dyn Write) {
    let _ = writeln!(out, "Usage: rgssd TOOL [ARGS...]");
    let _ = writeln!(
        out,
        "   or: TOOL [ARGS...], with TOOL a link to the rgssd binary"
    );
    let _ = writeln!(out, "Tools:");
    for tool in TOOLS {
        let _ = writeln!(out, "\t{:<10} {}", tool.name, tool.summary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> (i32, String, String) {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let status = dispatch(
            args.iter().map(|a| a.to_string()).collect(),
            &mut stdout,
            &mut stderr,
        );
        (
            status,
            String::from_utf8(stdout).unwrap(),
            String::from_utf8(stderr).unwrap(),
        )
    }

    #[test]
    fn dispatch_by_argument_and_by_name() {
        let (status, _, stderr) = run(&["/usr/bin/rgssd", "klist", "-Z"]);
        assert_eq!(status, FAILURE);
        assert!(
            stderr.starts_with("klist: invalid option -- 'Z'\n"),
            "{stderr}"
        );

        let (status, _, stderr) = run(&["/usr/local/bin/klist", "-Z"]);
        assert_eq!(status, FAILURE);
        assert!(
            stderr.starts_with("klist: invalid option -- 'Z'\n"),
            "{stderr}"
        );
    }

    #[test]
    fn unknown_tool_and_no_tool() {
        let (status, _, stderr) = run(&["rgssd", "kfoo"]);
        assert_eq!(status, FAILURE);
        assert!(stderr.starts_with("rgssd: unknown tool 'kfoo'\nUsage: rgssd TOOL"));

        let (status, _, stderr) = run(&["rgssd"]);
        assert_eq!(status, FAILURE);
        assert!(stderr.starts_with("Usage: rgssd TOOL"));
    }

    /// Feeds every pair of awkward tokens to each tool's parser; none may
    /// panic, whatever it returns.
    #[test]
    fn parsers_never_panic() {
        const TOKENS: &[&str] = &[
            "",
            "-",
            "--",
            "---",
            "-k",
            "-c",
            "-l",
            "-l0",
            "-l-1",
            "-r99999999999",
            "-ket",
            "-kt",
            "-t",
            "-e",
            "-eé",
            "-é",
            "é",
            "--u2u",
            "--u2u=",
            "--cached-only=1",
            "--=",
            "--forward",
            "--request",
            "-S",
            "-p",
            "-A",
            "-Z",
            "-:",
            "alice@",
            "@",
            "-R",
            "-x:",
        ];
        for first in TOKENS {
            for second in TOKENS {
                let args = vec![first.to_string(), second.to_string()];
                let _ = klist::parse_args("klist", &args);
                let _ = kinit::args::parse_args("kinit", &args);
                let _ = kvno::parse_args("kvno", &args);
                let _ = kdestroy::parse_args("kdestroy", &args);
            }
        }
    }

    #[test]
    fn help_lists_tools() {
        let (status, stdout, _) = run(&["rgssd", "--help"]);
        assert_eq!(status, 0);
        for tool in TOOLS {
            assert!(stdout.contains(tool.name), "{stdout}");
        }
    }
}
