//! rgssd: Kerberos GSS daemons for Linux NFS, replacing nfs-utils' rpc.gssd and
//! rpc.svcgssd.

pub mod config;
pub mod gssd;
pub mod gssproxy;
pub mod hardening;
pub mod idmap;
pub mod install;
pub mod kernel;
pub mod logging;
pub mod mech;
pub mod rpc;
pub mod svcgssd;
pub mod tools;
