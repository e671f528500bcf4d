//! Process settings that the daemons apply at start.

/// Marks the process as not dumpable (prctl `PR_SET_DUMPABLE` 0), so that
/// a crash writes no core file, which could hold keys and tickets. It
/// also keeps every process without CAP_SYS_PTRACE from tracing the
/// daemon or reading its memory, environment and open files under
/// /proc/PID. That includes the users whose identity gssd's cache
/// threads take. Files such as /proc/PID/status and /proc/PID/stat stay
/// readable. The setting lasts until the process execs another program.
pub fn forbid_core_dumps_and_tracing() -> Result<(), String> {
    nix::sys::prctl::set_dumpable(false)
        .map_err(|e| format!("cannot make the process non-dumpable (prctl PR_SET_DUMPABLE): {e}"))
}

#[cfg(test)]
mod tests {
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};

    #[test]
    fn process_not_dumpable_after_call() {
        // A child process takes the setting, so that the test process stays
        // dumpable. The child makes only system calls until it exits.
        // SAFETY: the child calls only prctl and _exit, which are safe
        // after fork in a multithreaded process. On this path it takes no
        // lock and allocates nothing.
        let child = match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let changed = super::forbid_core_dumps_and_tracing().is_ok();
                let after = nix::sys::prctl::get_dumpable();
                let code = if changed && after == Ok(false) { 0 } else { 1 };
                // SAFETY: _exit ends the child without running the test
                // harness's exit handlers.
                unsafe { nix::libc::_exit(code) }
            }
            ForkResult::Parent { child } => child,
        };
        assert_eq!(waitpid(child, None), Ok(WaitStatus::Exited(child, 0)));
    }
}
