//! The choice, at start, between the procfs channel and the gss-proxy
//! socket, and serving the socket. The interface the kernel uses must always
//! have a server, so every failure before the kernel switches to gss-proxy
//! falls back to the procfs channel.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use log::{error, info, warn};

use super::handler::Server;
use super::{Mode, Options, StopState};
use crate::gssproxy::mode::{self, EnableError, KernelChoice};
use crate::gssproxy::service;
use crate::tools::FAILURE;

/// Serves the gss-proxy socket if `options` and the kernel call for it.
/// Each call uses the server that `server` contains at that moment, so a
/// reload on SIGHUP takes effect. Returns `None` when the procfs channel
/// should be served instead, and otherwise the exit status once the socket
/// fails, or 0 once the calls in flight at SIGTERM or SIGINT have replies.
pub(super) fn run(
    server: &Arc<RwLock<Arc<Server>>>,
    options: &Options,
    stop: &StopState,
) -> Option<i32> {
    let control = options.proc_dir.join("use-gss-proxy");
    match options.mode {
        Mode::Legacy => return None,
        Mode::Auto => match mode::read_choice(&control) {
            Ok(KernelChoice::Unavailable) => {
                info!(
                    "{} does not exist; serving the procfs channel",
                    control.display()
                );
                return None;
            }
            Ok(KernelChoice::Legacy) => {
                warn!("{}; serving the procfs channel", EnableError::Latched);
                return None;
            }
            Ok(KernelChoice::Undecided | KernelChoice::Proxy) => {}
            Err(e) => {
                warn!(
                    "cannot read {}: {e}; serving the procfs channel",
                    control.display()
                );
                return None;
            }
        },
        Mode::Proxy => {
            if wait_for_control(&control) == KernelChoice::Legacy {
                warn!(
                    "{}; serving the procfs channel instead of gss-proxy",
                    EnableError::Latched
                );
                return None;
            }
        }
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            error!("cannot start the async runtime: {e}; serving the procfs channel");
            return None;
        }
    };
    runtime.block_on(serve_socket(
        Arc::clone(server),
        &options.socket,
        &control,
        stop,
    ))
}

/// Binds the socket, switches the kernel to it and serves it.
async fn serve_socket(
    server: Arc<RwLock<Arc<Server>>>,
    socket: &Path,
    control: &Path,
    stop: &StopState,
) -> Option<i32> {
    let listener = match service::bind_socket(socket) {
        Ok(listener) => listener,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            // gssproxy, or another svcgssd, serves the kernel already.
            error!("{e}");
            return Some(FAILURE);
        }
        Err(e) => {
            error!(
                "cannot listen on {}: {e}; serving the procfs channel",
                socket.display()
            );
            return None;
        }
    };
    if let Err(e) = mode::enable_proxy(control) {
        error!(
            "cannot switch the kernel to gss-proxy through {}: {e}; serving the procfs channel",
            control.display()
        );
        drop(listener);
        let _ = std::fs::remove_file(socket);
        return None;
    }
    info!(
        "the kernel sends RPCSEC_GSS context requests to {}",
        socket.display()
    );

    let current = move || Arc::clone(&server.read().unwrap_or_else(|e| e.into_inner()));
    // Set before the stop flag is checked, so that the signal thread
    // either waits for the service or has stopped it before it starts.
    stop.socket_serving.store(true, Ordering::SeqCst);
    let result = if stop.stopping.load(Ordering::SeqCst) {
        Ok(())
    } else {
        service::serve(
            Arc::new(current),
            listener,
            stop.shutdown.clone(),
            Arc::clone(&stop.pending),
        )
        .await
    };
    stop.socket_serving.store(false, Ordering::SeqCst);
    match result {
        Ok(()) => {
            info!(
                "stopped serving {}; every call in flight got its reply",
                socket.display()
            );
            Some(0)
        }
        Err(e) => {
            error!(
                "the gss-proxy socket {} failed: {e}; exiting, so that a restart binds it again",
                socket.display()
            );
            Some(FAILURE)
        }
    }
}

/// Waits until `control` exists, retrying every second for ten tries and
/// then every ten seconds, and returns the kernel's choice.
fn wait_for_control(control: &Path) -> KernelChoice {
    let mut attempt = 0u32;
    loop {
        match mode::read_choice(control) {
            Ok(KernelChoice::Unavailable) => {
                if attempt % 10 == 0 {
                    warn!(
                        "{} does not exist yet; the auth_rpcgss module must be loaded before nfsd starts (modprobe auth_rpcgss). Retrying",
                        control.display()
                    );
                }
            }
            Ok(choice) => return choice,
            Err(e) => {
                if attempt % 10 == 0 {
                    warn!("cannot read {}: {e}; retrying", control.display());
                }
            }
        }
        attempt += 1;
        let delay = if attempt < 10 { 1 } else { 10 };
        std::thread::sleep(Duration::from_secs(delay));
    }
}
