//! Helpers shared by the integration tests that run the built binary.

// Each test crate compiles this module and uses only part of it.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A fresh directory under the system temporary directory, mode 0755 so
/// that the daemons can reach it after switching to a user's ids, removed
/// with its contents on drop.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    /// Creates `rgssd-TEST-PID` under the temporary directory, replacing
    /// what an earlier run may have left there.
    pub fn new(test: &str) -> Self {
        let path = std::env::temp_dir().join(format!("rgssd-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        ScratchDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `content` to `relative` under the directory, creating its
    /// parents, and returns the full path.
    pub fn write(&self, relative: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
