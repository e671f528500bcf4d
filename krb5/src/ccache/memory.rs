//! MEMORY caches: named caches shared by every handle in the process and
//! lost when it exits.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};

use super::{CcacheError, CredentialCache, KdcOffset};
use crate::credentials::Credential;
use crate::principal::Principal;

#[derive(Default)]
struct Contents {
    principal: Option<Principal>,
    kdc_offset: Option<KdcOffset>,
    credentials: Vec<Credential>,
}

fn registry() -> MutexGuard<'static, HashMap<String, Contents>> {
    static CACHES: OnceLock<Mutex<HashMap<String, Contents>>> = OnceLock::new();
    let lock = CACHES.get_or_init(Default::default).lock();
    // A panic while holding the lock cannot leave the map half-updated (each
    // update is a single insert or push), so a poisoned lock is still usable.
    lock.unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A handle on the MEMORY cache `name`.
#[derive(Debug, Clone)]
pub struct MemoryCache {
    residual: String,
}

impl MemoryCache {
    pub fn resolve(residual: &str) -> Self {
        Self {
            residual: residual.to_string(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Contents) -> T) -> Result<T, CcacheError> {
        let mut map = registry();
        match map.get_mut(&self.residual) {
            Some(c) if c.principal.is_some() => Ok(f(c)),
            _ => Err(CcacheError::NotFound { name: self.name() }),
        }
    }
}

impl CredentialCache for MemoryCache {
    fn name(&self) -> String {
        format!("MEMORY:{}", self.residual)
    }

    fn principal(&self) -> Result<Principal, CcacheError> {
        self.with(|c| c.principal.clone())?
            .ok_or_else(|| CcacheError::NotInitialized { name: self.name() })
    }

    fn initialize_with_offset(
        &self,
        principal: &Principal,
        offset: Option<KdcOffset>,
    ) -> Result<(), CcacheError> {
        registry().insert(
            self.residual.clone(),
            Contents {
                principal: Some(principal.clone()),
                kdc_offset: offset,
                credentials: Vec::new(),
            },
        );
        Ok(())
    }

    fn entries(&self) -> Result<Vec<Credential>, CcacheError> {
        self.with(|c| c.credentials.clone())
    }

    fn store(&self, cred: &Credential) -> Result<(), CcacheError> {
        self.with(|c| {
            c.credentials.retain(|old| {
                !(old.client.same_name(&cred.client) && old.server.same_name(&cred.server))
            });
            c.credentials.push(cred.clone());
        })
    }

    fn remove(&self, server: &Principal) -> Result<usize, CcacheError> {
        self.with(|c| {
            let before = c.credentials.len();
            c.credentials.retain(|old| !old.server.same_name(server));
            before - c.credentials.len()
        })
    }

    fn destroy(&self) -> Result<(), CcacheError> {
        match registry().remove(&self.residual) {
            Some(_) => Ok(()),
            None => Err(CcacheError::NotFound { name: self.name() }),
        }
    }

    fn kdc_offset(&self) -> Result<Option<KdcOffset>, CcacheError> {
        self.with(|c| c.kdc_offset)
    }
}
