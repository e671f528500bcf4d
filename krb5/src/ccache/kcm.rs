//! KCM caches.

use super::{CcacheError, CredentialCache};

/// Placeholder until the type is implemented.
pub struct KcmCache;

impl KcmCache {
    pub fn resolve(residual: &str) -> Result<Box<dyn CredentialCache>, CcacheError> {
        Err(CcacheError::UnsupportedType {
            name: format!("KCM:{residual}"),
        })
    }
}

pub fn list(residual: &str) -> Result<Vec<Box<dyn CredentialCache>>, CcacheError> {
    Err(CcacheError::UnsupportedType {
        name: format!("KCM:{residual}"),
    })
}
