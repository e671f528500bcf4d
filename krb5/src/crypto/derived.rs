//! A per-key cache of the keys derived for each key usage (Kc, Ke, Ki),
//! so that repeated messages under one key and usage skip the derivation,
//! as MIT krb5's `krb5_key` does.

use std::sync::{Arc, Mutex};

use zeroize::Zeroizing;

use super::CryptoError;

/// Number of derived keys kept per base key. A GSS context uses four key
/// usages with up to two derived keys each; a KDC exchange uses a few more.
const CAPACITY: usize = 16;

type DerivedKey = Arc<Zeroizing<Vec<u8>>>;

/// Derived keys by (key usage, kind), the oldest evicted first. The keys
/// are zeroed when the last reference to them is dropped.
#[derive(Default)]
pub(crate) struct DerivedKeys {
    entries: Mutex<Vec<(u32, u8, DerivedKey)>>,
}

impl DerivedKeys {
    /// Returns the cached key for (`usage`, `kind`), or derives and caches
    /// it. A poisoned lock only disables the cache.
    pub(crate) fn get_or_derive(
        &self,
        usage: u32,
        kind: u8,
        derive: impl FnOnce() -> Result<Zeroizing<Vec<u8>>, CryptoError>,
    ) -> Result<DerivedKey, CryptoError> {
        if let Ok(entries) = self.entries.lock() {
            let found = entries.iter().find(|(u, k, _)| *u == usage && *k == kind);
            if let Some((_, _, key)) = found {
                return Ok(Arc::clone(key));
            }
        }

        let key = Arc::new(derive()?);
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CAPACITY {
                entries.remove(0);
            }
            entries.push((usage, kind, Arc::clone(&key)));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_returns_first_derivation() {
        let cache = DerivedKeys::default();
        let first = cache
            .get_or_derive(1, 0xAA, || Ok(Zeroizing::new(vec![1])))
            .unwrap();
        let second = cache
            .get_or_derive(1, 0xAA, || Ok(Zeroizing::new(vec![2])))
            .unwrap();
        assert_eq!(**first, vec![1]);
        assert_eq!(**second, vec![1]);
        let other = cache
            .get_or_derive(1, 0x55, || Ok(Zeroizing::new(vec![3])))
            .unwrap();
        assert_eq!(**other, vec![3]);
    }

    #[test]
    fn cache_evicts_oldest_entry() {
        let cache = DerivedKeys::default();
        for usage in 0..=CAPACITY as u32 {
            cache
                .get_or_derive(usage, 0x99, || Ok(Zeroizing::new(vec![0])))
                .unwrap();
        }
        let again = cache
            .get_or_derive(0, 0x99, || Ok(Zeroizing::new(vec![9])))
            .unwrap();
        assert_eq!(**again, vec![9]);
        assert_eq!(cache.entries.lock().unwrap().len(), CAPACITY);
    }

    #[test]
    fn failed_derivation_is_not_cached() {
        let cache = DerivedKeys::default();
        let failed = cache.get_or_derive(1, 0xAA, || Err(CryptoError::IntegrityCheckFailed));
        assert!(failed.is_err());
        let key = cache
            .get_or_derive(1, 0xAA, || Ok(Zeroizing::new(vec![4])))
            .unwrap();
        assert_eq!(**key, vec![4]);
    }
}
