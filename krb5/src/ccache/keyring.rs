//! KEYRING caches in MIT krb5's layout in the Linux kernel keyring.

use super::{CcacheError, CredentialCache};

/// Placeholder until the type is implemented.
pub struct KeyringCache;

impl KeyringCache {
    pub fn resolve(residual: &str) -> Result<Box<dyn CredentialCache>, CcacheError> {
        Err(CcacheError::UnsupportedType {
            name: format!("KEYRING:{residual}"),
        })
    }
}

pub fn list(residual: &str) -> Result<Vec<Box<dyn CredentialCache>>, CcacheError> {
    Err(CcacheError::UnsupportedType {
        name: format!("KEYRING:{residual}"),
    })
}
