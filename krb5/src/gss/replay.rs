//! An in-memory replay cache for the acceptor (RFC 4120 §3.2.3): an
//! authenticator is accepted once within the clock-skew window.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// Remembers authenticators until their time falls out of the skew window.
#[derive(Debug, Default)]
pub struct ReplayCache {
    entries: Mutex<Entries>,
}

/// The digests of the remembered authenticators, also grouped by
/// authenticator time so that expiry visits only the entries it drops.
#[derive(Debug, Default)]
struct Entries {
    digests: HashSet<[u8; 32]>,
    by_time: BTreeMap<i64, Vec<[u8; 32]>>,
}

impl Entries {
    /// Drops every entry whose time is before `oldest`.
    fn expire(&mut self, oldest: i64) {
        while let Some(entry) = self.by_time.first_entry() {
            if *entry.key() >= oldest {
                break;
            }
            for digest in entry.remove() {
                self.digests.remove(&digest);
            }
        }
    }
}

impl ReplayCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an authenticator and returns false if it was seen before.
    ///
    /// The key hashes the client name, the authenticator's time and the
    /// authenticator ciphertext, so two different authenticators with the
    /// same time from one client are both accepted, as MIT's cache does.
    /// Entries older than `now - skew` are dropped first, because a replay of
    /// them fails the clock-skew check anyway.
    pub fn check_and_insert(
        &self,
        client: &str,
        ctime: i64,
        cusec: i64,
        ciphertext: &[u8],
        now: i64,
        skew: i64,
    ) -> bool {
        let mut hasher = Sha256::new();
        hasher.update((client.len() as u64).to_be_bytes());
        hasher.update(client.as_bytes());
        hasher.update(ctime.to_be_bytes());
        hasher.update(cusec.to_be_bytes());
        hasher.update(ciphertext);
        let key: [u8; 32] = hasher.finalize().into();

        let mut entries = self.lock();
        entries.expire(now - skew);
        if !entries.digests.insert(key) {
            return false;
        }
        entries.by_time.entry(ctime).or_default().push(key);
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A poisoned lock only means another thread panicked mid-insert, and
        // each insert leaves the two collections consistent before it ends.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().digests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_use_is_a_replay() {
        let cache = ReplayCache::new();
        assert!(cache.check_and_insert("alice@R", 100, 5, b"ct", 100, 300));
        assert!(!cache.check_and_insert("alice@R", 100, 5, b"ct", 101, 300));
        assert!(cache.check_and_insert("alice@R", 100, 5, b"other", 101, 300));
        assert!(cache.check_and_insert("bob@R", 100, 5, b"ct", 101, 300));
    }

    #[test]
    fn old_entries_expire() {
        let cache = ReplayCache::new();
        assert!(cache.check_and_insert("alice@R", 100, 0, b"ct", 100, 300));
        assert!(cache.check_and_insert("alice@R", 1000, 0, b"x", 1000, 300));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn expiry_keeps_entries_in_window() {
        let cache = ReplayCache::new();
        for ctime in 100..110 {
            assert!(cache.check_and_insert("alice@R", ctime, 0, b"ct", ctime, 300));
        }
        // At 405 the window starts at 105: the entries of 100 to 104 go.
        assert!(cache.check_and_insert("bob@R", 405, 0, b"ct", 405, 300));
        assert_eq!(cache.len(), 6);
        assert!(!cache.check_and_insert("alice@R", 105, 0, b"ct", 405, 300));
        assert!(!cache.check_and_insert("alice@R", 109, 0, b"ct", 405, 300));
        assert_eq!(cache.len(), 6);
    }
}
