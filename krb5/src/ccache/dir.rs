//! DIR caches: a directory of FILE caches with a switchable primary.
//!
//! `DIR:/dir` names the directory's primary cache: the file `primary` in it
//! contains one line with the primary cache's file name, and is created with
//! `tkt` when missing. `DIR::/dir/tktXXX` names one cache directly. Cache
//! file names start with `tkt`, as MIT krb5 requires.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::file::FileCache;
use super::{CcacheError, CredentialCache, KdcOffset};
use crate::credentials::Credential;
use crate::principal::Principal;

const PRIMARY_FILE: &str = "primary";
const CACHE_PREFIX: &str = "tkt";

/// One cache file of a DIR collection.
#[derive(Debug, Clone)]
pub struct DirCache {
    file: FileCache,
}

fn invalid(name: &str, reason: impl Into<String>) -> CcacheError {
    CcacheError::InvalidName {
        name: name.to_string(),
        reason: reason.into(),
    }
}

/// Checks that `dir` is a directory, creating it with mode 0700 if missing.
fn verify_dir(dir: &Path, name: &str) -> Result<(), CcacheError> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(invalid(
            name,
            format!("{} is not a directory", dir.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(|e| CcacheError::io(name, e)),
        Err(e) => Err(CcacheError::io(name, e)),
    }
}

/// Reads the primary file: one line ending in a newline, naming a `tkt*` file.
fn read_primary(dir: &Path, name: &str) -> Result<Option<String>, CcacheError> {
    let path = dir.join(PRIMARY_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CcacheError::io(name, e)),
    };
    match text.strip_suffix('\n') {
        Some(line) if line.starts_with(CACHE_PREFIX) && !line.contains(['/', '\n']) => {
            Ok(Some(line.to_string()))
        }
        _ => Err(invalid(
            name,
            format!(
                "{} must hold one line naming a file that starts with \"tkt\"",
                path.display()
            ),
        )),
    }
}

/// Replaces the primary file through a temporary file and a rename.
fn write_primary(dir: &Path, file_name: &str, name: &str) -> Result<(), CcacheError> {
    let mut contents = file_name.as_bytes().to_vec();
    contents.push(b'\n');
    crate::keytab::write_atomically(&dir.join(PRIMARY_FILE), &contents)
        .map_err(|e| CcacheError::io(name, e))
}

impl DirCache {
    /// Resolves a DIR residual: `/dir` (the primary) or `:/dir/tktXXX`.
    pub fn resolve(residual: &str) -> Result<Self, CcacheError> {
        let name = format!("DIR:{residual}");
        if let Some(path) = residual.strip_prefix(':') {
            let path = PathBuf::from(path);
            let (dir, _) = split(&path, &name)?;
            verify_dir(&dir, &name)?;
            return Ok(Self {
                file: FileCache::new(path)?,
            });
        }

        if residual.is_empty() {
            return Err(invalid(&name, "the directory is empty"));
        }
        let dir = PathBuf::from(residual);
        verify_dir(&dir, &name)?;
        let primary = match read_primary(&dir, &name)? {
            Some(p) => p,
            None => {
                write_primary(&dir, CACHE_PREFIX, &name)?;
                CACHE_PREFIX.to_string()
            }
        };
        Ok(Self {
            file: FileCache::new(dir.join(primary))?,
        })
    }

    /// Creates a new empty cache file with a unique `tkt` name in `dir`.
    pub fn new_unique(dir: &Path) -> Result<Self, CcacheError> {
        let name = format!("DIR:{}", dir.display());
        verify_dir(dir, &name)?;
        for _ in 0..16 {
            let mut random = [0u8; 4];
            getrandom::fill(&mut random)
                .map_err(|e| CcacheError::io(&name, io::Error::other(e.to_string())))?;
            let path = dir.join(format!("{CACHE_PREFIX}{}", hex::encode(random)));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(_) => {
                    return Ok(Self {
                        file: FileCache::new(path)?,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(CcacheError::io(&name, e)),
            }
        }
        Err(CcacheError::io(
            &name,
            io::Error::new(io::ErrorKind::AlreadyExists, "no free unique cache name"),
        ))
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Makes this cache its directory's primary, as `kswitch` does.
    pub fn make_primary(&self) -> Result<(), CcacheError> {
        let name = self.name();
        let (dir, file_name) = split(self.file.path(), &name)?;
        write_primary(&dir, &file_name, &name)
    }
}

/// Splits a subsidiary cache path into directory and `tkt*` file name.
fn split(path: &Path, name: &str) -> Result<(PathBuf, String), CcacheError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .ok_or_else(|| invalid(name, "the cache path has no parent directory"))?;
    let file_name = path
        .file_name()
        .and_then(|f| f.to_str())
        .filter(|f| f.starts_with(CACHE_PREFIX))
        .ok_or_else(|| invalid(name, "the cache file name must start with \"tkt\""))?;
    Ok((dir.to_path_buf(), file_name.to_string()))
}

/// Lists the caches of directory `residual`, the primary first, then the
/// other `tkt*` files in name order.
pub fn list(residual: &str) -> Result<Vec<Box<dyn CredentialCache>>, CcacheError> {
    if let Some(path) = residual.strip_prefix(':') {
        return Ok(vec![Box::new(DirCache::resolve(&format!(":{path}"))?)]);
    }
    let name = format!("DIR:{residual}");
    let dir = PathBuf::from(residual);
    let primary = read_primary(&dir, &name)?;
    let mut others = Vec::new();
    for entry in fs::read_dir(&dir).map_err(|e| CcacheError::io(&name, e))? {
        let entry = entry.map_err(|e| CcacheError::io(&name, e))?;
        let Some(file_name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if is_file && file_name.starts_with(CACHE_PREFIX) && Some(&file_name) != primary.as_ref() {
            others.push(file_name);
        }
    }
    others.sort();

    let mut out: Vec<Box<dyn CredentialCache>> = Vec::new();
    if let Some(p) = primary.filter(|p| dir.join(p).is_file()) {
        out.push(Box::new(DirCache {
            file: FileCache::new(dir.join(p))?,
        }));
    }
    for f in others {
        out.push(Box::new(DirCache {
            file: FileCache::new(dir.join(f))?,
        }));
    }
    Ok(out)
}

impl CredentialCache for DirCache {
    fn name(&self) -> String {
        format!("DIR::{}", self.file.path().display())
    }

    fn principal(&self) -> Result<Principal, CcacheError> {
        self.file.principal()
    }

    fn initialize_with_offset(
        &self,
        principal: &Principal,
        offset: Option<KdcOffset>,
    ) -> Result<(), CcacheError> {
        self.file.initialize_with_offset(principal, offset)
    }

    fn entries(&self) -> Result<Vec<Credential>, CcacheError> {
        self.file.entries()
    }

    fn store(&self, cred: &Credential) -> Result<(), CcacheError> {
        self.file.store(cred)
    }

    fn remove(&self, server: &Principal) -> Result<usize, CcacheError> {
        self.file.remove(server)
    }

    fn destroy(&self) -> Result<(), CcacheError> {
        self.file.destroy()
    }

    fn kdc_offset(&self) -> Result<Option<KdcOffset>, CcacheError> {
        self.file.kdc_offset()
    }
}
