//! nfs.conf and idmapd.conf: nfs-utils' configuration file format and the
//! order in which its files are read.
//!
//! [`Config::load`] reads a file family ([`NFS_CONF`], [`IDMAPD_CONF`]) and
//! the typed getters read values as nfs-utils' `conf_get_*` functions do.
//! Problems in the files never stop loading; they are kept as
//! [`Config::warnings`] for the daemon to log.

mod conffile;
mod loader;
mod parser;
pub mod values;
pub mod versionsort;

pub use conffile::{Config, Environment, Warning};
pub use loader::{drop_in_directory, vendor_path, IDMAPD_CONF, NFS_CONF};
pub use parser::MAX_INCLUDE_DEPTH;
