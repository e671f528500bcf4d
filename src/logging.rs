//! The daemons' log: standard error in the foreground (`-f`), syslog
//! (`/dev/log`, facility daemon) otherwise, as nfs-utils' daemons do.
//! Each `-v` raises the level one step from warnings.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Logger {
    program: String,
    syslog: Option<Mutex<UnixDatagram>>,
}

/// Maps a `-v` count to a level: none gives warnings and errors, one adds
/// informational messages, two debug messages, three or more everything.
pub fn level_for(verbosity: u8) -> LevelFilter {
    match verbosity {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// Installs the logger once per process; later calls only change the level.
/// Returns true if messages go to syslog, so that a caller can also print a
/// startup failure on its terminal.
pub fn init(program: &str, verbosity: u8, foreground: bool) -> bool {
    let syslog = if foreground {
        None
    } else {
        UnixDatagram::unbound()
            .and_then(|socket| socket.connect("/dev/log").map(|_| socket))
            .ok()
            .map(Mutex::new)
    };
    let to_syslog = syslog.is_some();
    let logger = Logger {
        program: program.to_string(),
        syslog,
    };
    let _ = log::set_boxed_logger(Box::new(logger));
    log::set_max_level(level_for(verbosity));
    to_syslog
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if let Some(socket) = &self.syslog {
            // RFC 3164 priority: facility daemon (3) * 8 + severity.
            let severity = match record.level() {
                Level::Error => 3,
                Level::Warn => 4,
                Level::Info => 6,
                Level::Debug | Level::Trace => 7,
            };
            let line = format!(
                "<{}>{}[{}]: {}",
                3 * 8 + severity,
                self.program,
                std::process::id(),
                record.args()
            );
            let socket = socket.lock().unwrap_or_else(|e| e.into_inner());
            if socket.send(line.as_bytes()).is_ok() {
                return;
            }
        }
        // In the foreground, a wall-clock time with microseconds lets the
        // log be lined up with the kernel's and the KDC's.
        let elapsed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let seconds = elapsed.as_secs() % 86_400;
        let _ = writeln!(
            std::io::stderr().lock(),
            "{:02}:{:02}:{:02}.{:06} {}: {}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60,
            elapsed.subsec_micros(),
            self.program,
            record.args()
        );
    }

    fn flush(&self) {}
}
