//! Helpers shared by the daemon tests.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// A temporary directory, mode 0755, removed with its contents when
/// dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let mut random = [0u8; 4];
        getrandom::fill(&mut random).unwrap();
        let path = std::env::temp_dir().join(format!("rgssd-{tag}-{}", hex::encode(random)));
        fs::create_dir_all(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
