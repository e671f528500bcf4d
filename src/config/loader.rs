//! Reading a configuration file family in nfs-utils 2.9's order
//! (`conf_init_file` in support/nfs/conffile.c).
//!
//! For a file under /etc, the vendor file under /usr/etc is read first:
//!
//! 1. /usr/etc/nfs.conf, then /usr/etc/nfs.conf.d/*.conf;
//! 2. /etc/nfs.conf, then /etc/nfs.conf.d/*.conf.
//!
//! A main file that exists replaces everything read before it, so an
//! /etc/nfs.conf hides /usr/etc/nfs.conf and /usr/etc/nfs.conf.d. The files
//! of a `.d` directory add to what came before, in `versionsort` order.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::conffile::{Config, Warning};
use super::parser;
use super::versionsort;

/// The configuration file of the NFS daemons, rpc.gssd and rpc.svcgssd among
/// them.
pub const NFS_CONF: &str = "/etc/nfs.conf";

/// libnfsidmap's configuration file, which rpc.svcgssd's identity mapping
/// reads.
pub const IDMAPD_CONF: &str = "/etc/idmapd.conf";

/// The suffix a file in a `.d` directory needs to be read.
const DROP_IN_SUFFIX: &[u8] = b".conf";

impl Config {
    /// Loads `path` and its family as nfs-utils does: the vendor copy under
    /// /usr when `path` is under /etc (see [`vendor_path`]), then `path`,
    /// each followed by its `.d` directory. Missing files are skipped
    /// silently. Unreadable files and malformed lines become
    /// [`Config::warnings`].
    pub fn load(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        Self::load_layers(vendor_path(path).as_deref(), path)
    }

    /// Loads `vendor` (if given) and `admin`, each followed by its `.d`
    /// directory, with the precedence [`Config::load`] describes.
    pub fn load_layers(vendor: Option<&Path>, admin: &Path) -> Self {
        let mut config = Self::new();
        for main in vendor.into_iter().chain([admin]) {
            load_main_file(&mut config, main);
            load_drop_in_directory(&mut config, main);
        }
        config
    }
}

/// Returns the vendor copy of `path`: `/usr` followed by `path` when `path`
/// starts with `/etc/`, as nfs-utils 2.7.1 and later read it.
pub fn vendor_path(path: &Path) -> Option<PathBuf> {
    let bytes = path.as_os_str().as_bytes();
    if !bytes.starts_with(b"/etc/") {
        return None;
    }
    let mut vendor = b"/usr".to_vec();
    vendor.extend_from_slice(bytes);
    Some(PathBuf::from(OsString::from_vec(vendor)))
}

/// Returns the drop-in directory of `path`: `path` with `.d` appended.
pub fn drop_in_directory(path: &Path) -> PathBuf {
    let mut directory = path.as_os_str().to_os_string();
    directory.push(".d");
    PathBuf::from(directory)
}

/// Reads a file, returning `None` when it does not exist and a warning for
/// any other failure.
fn read_config_file(config: &mut Config, path: &Path) -> Option<Vec<u8>> {
    match parser::read_file(path) {
        Ok(content) => Some(content),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            config.push_warning(Warning {
                path: path.to_path_buf(),
                line: None,
                message: format!("cannot read the file, so it is skipped: {e}"),
            });
            None
        }
    }
}

fn load_main_file(config: &mut Config, path: &Path) {
    let Some(content) = read_config_file(config, path) else {
        return;
    };
    let outcome = parser::parse(&content, path, &mut parser::read_file);
    config.extend_warnings(outcome.warnings);
    config.clear_settings();
    config.apply(outcome.assignments);
}

fn load_drop_in_directory(config: &mut Config, main: &Path) {
    let directory = drop_in_directory(main);
    for path in drop_in_files(config, &directory) {
        let Some(content) = read_config_file(config, &path) else {
            continue;
        };
        let outcome = parser::parse(&content, &path, &mut parser::read_file);
        config.extend_warnings(outcome.warnings);
        config.apply(outcome.assignments);
    }
}

/// Lists the files nfs-utils reads from a `.d` directory: regular files and
/// symbolic links whose names do not start with `.` and end in `.conf`
/// (with something before it), in `versionsort` order.
fn drop_in_files(config: &mut Config, directory: &Path) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            config.push_warning(Warning {
                path: directory.to_path_buf(),
                line: None,
                message: format!("cannot list the directory, so its files are skipped: {e}"),
            });
            return Vec::new();
        }
    };

    let mut names: Vec<OsString> = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                config.push_warning(Warning {
                    path: directory.to_path_buf(),
                    line: None,
                    message: format!("cannot list the directory completely: {e}"),
                });
                continue;
            }
        };
        // A type that cannot be read counts as unknown, which nfs-utils
        // accepts, and reading the file reports what is wrong with it.
        let acceptable_type = entry
            .file_type()
            .map(|kind| kind.is_file() || kind.is_symlink())
            .unwrap_or(true);
        let name = entry.file_name();
        if acceptable_type && is_drop_in_name(name.as_bytes()) {
            names.push(name);
        }
    }

    names.sort_by(|a, b| versionsort::compare(a.as_bytes(), b.as_bytes()));
    names.into_iter().map(|name| directory.join(name)).collect()
}

fn is_drop_in_name(name: &[u8]) -> bool {
    !name.starts_with(b".") && name.len() > DROP_IN_SUFFIX.len() && name.ends_with(DROP_IN_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_path_only_for_etc() {
        assert_eq!(
            vendor_path(Path::new("/etc/nfs.conf")),
            Some(PathBuf::from("/usr/etc/nfs.conf"))
        );
        assert_eq!(
            vendor_path(Path::new("/etc/idmapd.conf")),
            Some(PathBuf::from("/usr/etc/idmapd.conf"))
        );
        assert_eq!(vendor_path(Path::new("/srv/nfs.conf")), None);
        assert_eq!(vendor_path(Path::new("etc/nfs.conf")), None);
        assert_eq!(vendor_path(Path::new("/etcetera/nfs.conf")), None);
    }

    #[test]
    fn drop_in_names() {
        assert!(is_drop_in_name(b"10-gssd.conf"));
        assert!(is_drop_in_name(b"x.conf"));
        assert!(!is_drop_in_name(b".conf"));
        assert!(!is_drop_in_name(b".hidden.conf"));
        assert!(!is_drop_in_name(b"gssd.conf~"));
        assert!(!is_drop_in_name(b"gssd.conf.rpmsave"));
        assert!(!is_drop_in_name(b"gssd.CONF"));
        assert!(!is_drop_in_name(b"gssd"));
    }

    #[test]
    fn drop_in_directory_appends_d() {
        assert_eq!(
            drop_in_directory(Path::new("/etc/nfs.conf")),
            PathBuf::from("/etc/nfs.conf.d")
        );
    }
}
