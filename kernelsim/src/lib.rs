//! A test simulation of the kernel interfaces that rgssd's daemons speak,
//! for integration tests that run the real `rgssd` binary:
//!
//! - [`pipefs::PipeFs`]: an rpc_pipefs tree on FUSE, with client
//!   directories, `info` files, upcall pipes and the dummy pipe;
//! - [`procfs::ProcFs`]: knfsd's `auth.rpcsec.init` and
//!   `auth.rpcsec.context` cache channels on FUSE;
//! - [`rpcserver::RpcServer`]: an RPCSEC_GSS server stand-in on 127.0.0.1
//!   that can relay tokens to `rgssd svcgssd` through the channels;
//! - [`context::KernelContext`]: the kernel's MIC and Wrap tokens with an
//!   imported context.
//!
//! Downcalls and channel records are decoded here, independently of
//! rgssd's own encoders, by the rules the kernel applies. Mounting needs
//! root and /dev/fuse.

pub mod context;
pub mod downcall;
mod fs;
pub mod pipefs;
pub mod procfs;
pub mod qword;
pub mod rpcserver;

/// Whether FUSE mounts can be made here: root, /dev/fuse, and a trial
/// mount that works (a container may refuse it). Checked once.
pub fn fuse_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        nix::unistd::geteuid().is_root()
            && std::path::Path::new("/dev/fuse").exists()
            && match fs::Mounted::new("probe", Vec::new()) {
                Ok(_) => true,
                Err(e) => {
                    eprintln!("FUSE is not usable here: {e}");
                    false
                }
            }
    })
}
