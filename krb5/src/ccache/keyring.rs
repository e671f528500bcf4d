//! KEYRING caches in MIT krb5's layout in the Linux kernel keyring.
//!
//! The layout, as MIT krb5 1.20's `cc_keyring.c` keeps it:
//! - a residual is `ANCHOR:COLLECTION[:SUBSIDIARY]`, or a bare `COLLECTION`
//!   for the `legacy` anchor. Anchors: `session`, `user`, `persistent`,
//!   `process`, `thread` and `legacy` (the session keyring);
//! - the collection is a keyring named `_krb_COLLECTION` linked from the
//!   anchor keyring; for `persistent:UID` it is the keyring `_krb` inside
//!   the UID's persistent keyring. Collections under the `user` and
//!   `persistent` anchors are also linked from the process keyring, which
//!   gives this process possession of them;
//! - the collection contains a `user` key `krb_ccache:primary` (32-bit
//!   big-endian version 1, 32-bit length, subsidiary name) and one keyring
//!   per cache, named by its subsidiary name. Without a primary key the
//!   primary is the collection name (`tkt` for an empty one);
//! - a cache keyring contains the `user` key `__krb5_princ__` (the default
//!   principal), optionally `__krb5_time_offsets__` (32-bit big-endian
//!   seconds and microseconds) and one key per credential, named by the
//!   unparsed server principal. Credential keys are of type `big_key`, or
//!   `user` in legacy caches and where the kernel lacks `big_key`.
//!   Principals and credentials use the FILE cache's version 4 encoding.
//!
//! Like MIT, resolving a name creates its collection keyring, and
//! initializing a cache creates its cache keyring.

use std::time::{SystemTime, UNIX_EPOCH};

use nix::errno::Errno;

use super::file::{decode_credential, decode_principal, encode_credential, encode_principal};
use super::{CcacheError, CredentialCache, KdcOffset};
use crate::credentials::Credential;
use crate::principal::Principal;

#[allow(unsafe_code)]
mod keyctl;

use keyctl::Serial;

const PRIMARY_KEY: &str = "krb_ccache:primary";
const PRINCIPAL_KEY: &str = "__krb5_princ__";
const TIME_OFFSETS_KEY: &str = "__krb5_time_offsets__";
const COLLECTION_PREFIX: &str = "_krb_";
const PERSISTENT_COLLECTION: &str = "_krb";
const COLLECTION_VERSION: u32 = 1;
const LEGACY_ANCHOR: &str = "legacy";
const KEYRING_TYPE: &str = "keyring";
const USER_TYPE: &str = "user";
const CREDENTIAL_TYPE: &str = "big_key";

/// A parsed KEYRING residual.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringName {
    pub anchor: String,
    pub collection: String,
    /// The cache within the collection; `None` names the collection's primary.
    pub subsidiary: Option<String>,
}

impl KeyringName {
    /// Parses `ANCHOR:COLLECTION[:SUBSIDIARY]` or a bare legacy `COLLECTION`.
    pub fn parse(residual: &str) -> Result<Self, CcacheError> {
        let invalid = |reason: &str| CcacheError::InvalidName {
            name: format!("KEYRING:{residual}"),
            reason: reason.to_string(),
        };
        let (anchor, rest) = match residual.split_once(':') {
            Some((a, rest)) => (a.to_string(), rest),
            None => (LEGACY_ANCHOR.to_string(), residual),
        };
        if !matches!(
            anchor.as_str(),
            "session" | "user" | "persistent" | "process" | "thread" | "legacy"
        ) {
            return Err(invalid(
                "unknown anchor; use session, user, persistent, process, thread or legacy",
            ));
        }
        let (collection, subsidiary) = match rest.split_once(':') {
            Some((c, s)) => (c.to_string(), Some(s.to_string())),
            None => (rest.to_string(), None),
        };
        if collection.is_empty() && anchor != "persistent" {
            return Err(invalid("the collection name is empty"));
        }
        if subsidiary.as_deref() == Some("") {
            return Err(invalid("the cache name after the collection is empty"));
        }
        Ok(Self {
            anchor,
            collection,
            subsidiary,
        })
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn describe(err: Errno) -> String {
    err.to_string()
}

/// Finds the key of `kind` named `description` directly inside `keyring`.
fn find_link(keyring: Serial, kind: &str, description: &str) -> Result<Option<Serial>, Errno> {
    for link in keyctl::links(keyring)? {
        let Ok(found) = keyctl::describe(link) else {
            // Unlinked or expired meanwhile, or not viewable: not ours.
            continue;
        };
        if found.kind == kind && found.description == description {
            return Ok(Some(link));
        }
    }
    Ok(None)
}

/// Finds the keyring `name` in `parent` (recursively, as keyctl_search(3)
/// does) or creates it, as MIT does. With `possessor`, the keyring is also
/// linked from `possessor`, because the user and persistent keyrings do
/// not give this process possession of what they contain.
fn find_or_create_keyring(
    parent: Serial,
    possessor: Option<Serial>,
    name: &str,
) -> Result<Serial, Errno> {
    let link_into = possessor.unwrap_or(0);
    if let Some(found) = keyctl::search_and_link(parent, KEYRING_TYPE, name, link_into)? {
        return Ok(found);
    }
    match possessor {
        Some(possessor) => {
            let created = keyctl::add_key(KEYRING_TYPE, name, None, possessor)?;
            keyctl::link(created, parent)?;
            Ok(created)
        }
        None => keyctl::add_key(KEYRING_TYPE, name, None, parent),
    }
}

/// A cache keyring located in the kernel.
#[derive(Clone, Copy)]
struct Located {
    collection: Serial,
    cache: Option<Serial>,
}

/// A KEYRING cache.
#[derive(Debug, Clone)]
pub struct KeyringCache {
    name: KeyringName,
    /// The subsidiary name of the cache, resolved from the primary key when
    /// the residual named only the collection.
    subsidiary: String,
}

impl KeyringCache {
    /// Resolves a KEYRING residual, creating the collection keyring if it
    /// does not exist yet.
    pub fn resolve(residual: &str) -> Result<Box<dyn CredentialCache>, CcacheError> {
        Ok(Box::new(Self::open(residual)?))
    }

    /// Resolves a KEYRING residual to the concrete type.
    pub fn open(residual: &str) -> Result<Self, CcacheError> {
        let name = KeyringName::parse(residual)?;
        let collection = collection_keyring(&name)?;
        let subsidiary = match &name.subsidiary {
            Some(s) => s.clone(),
            None => primary_name(&name, collection)?,
        };
        Ok(Self { name, subsidiary })
    }

    fn full_name(&self) -> String {
        format!(
            "KEYRING:{}:{}:{}",
            self.name.anchor, self.name.collection, self.subsidiary
        )
    }

    fn error(&self, operation: &'static str, err: Errno) -> CcacheError {
        match err {
            Errno::ENOKEY => CcacheError::NotFound {
                name: self.full_name(),
            },
            other => CcacheError::Keyring {
                name: self.full_name(),
                operation,
                reason: describe(other),
            },
        }
    }

    fn locate(&self) -> Result<Located, CcacheError> {
        let collection = collection_keyring(&self.name)?;
        let cache = keyctl::search(collection, KEYRING_TYPE, &self.subsidiary)
            .map_err(|e| self.error("find cache keyring", e))?;
        Ok(Located { collection, cache })
    }

    fn cache_ring(&self) -> Result<Serial, CcacheError> {
        self.locate()?.cache.ok_or_else(|| CcacheError::NotFound {
            name: self.full_name(),
        })
    }

    /// Lists the credential keys of the cache with their decoded contents.
    fn credential_keys(&self, ring: Serial) -> Result<Vec<(Serial, Credential)>, CcacheError> {
        let links = keyctl::links(ring).map_err(|e| self.error("read cache keyring", e))?;
        let mut out = Vec::new();
        for key in links {
            if let Ok(found) = keyctl::describe(key) {
                let special =
                    matches!(found.description.as_str(), PRINCIPAL_KEY | TIME_OFFSETS_KEY);
                if special || found.kind == KEYRING_TYPE {
                    continue;
                }
            }
            let payload = match keyctl::read(key) {
                Ok(p) => p,
                // Removed or expired since the list was read, as MIT skips.
                Err(Errno::ENOKEY | Errno::EKEYEXPIRED | Errno::EKEYREVOKED) => continue,
                Err(e) => return Err(self.error("read credential key", e)),
            };
            let cred = decode_credential(&payload).map_err(|source| CcacheError::Format {
                name: self.full_name(),
                source,
            })?;
            out.push((key, cred));
        }
        Ok(out)
    }

    fn unlink_matching(
        &self,
        ring: Serial,
        matches: impl Fn(&Credential) -> bool,
    ) -> Result<usize, CcacheError> {
        let mut removed = 0;
        for (key, cred) in self.credential_keys(ring)? {
            if matches(&cred) {
                keyctl::unlink(key, ring).map_err(|e| self.error("unlink credential key", e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Adds a credential key as a `big_key`, falling back to a `user` key
    /// when the kernel lacks `big_key` (EINVAL or ENODEV) and for legacy
    /// caches, which pre-1.12 MIT code reads only as `user` keys.
    fn add_credential_key(
        &self,
        ring: Serial,
        name: &str,
        payload: &[u8],
    ) -> Result<Serial, Errno> {
        if !self.is_legacy_name() {
            match keyctl::add_key(CREDENTIAL_TYPE, name, Some(payload), ring) {
                Err(Errno::EINVAL | Errno::ENODEV) => {}
                other => return other,
            }
        }
        keyctl::add_key(USER_TYPE, name, Some(payload), ring)
    }

    /// Sets the cache keyring to expire with its last ticket, as MIT does.
    fn update_expiry(&self, ring: Serial) -> Result<(), CcacheError> {
        let last = self
            .credential_keys(ring)?
            .iter()
            .map(|(_, c)| u64::from(c.endtime))
            .max()
            .unwrap_or(0);
        if last == 0 {
            return Ok(());
        }
        // Zero would clear the timeout, so expired tickets get one second.
        let timeout = last.saturating_sub(now()).clamp(1, u64::from(u32::MAX));
        keyctl::set_timeout(ring, timeout as u32).map_err(|e| self.error("set cache timeout", e))
    }

    /// Makes this cache its collection's primary, as `kswitch` does.
    pub fn make_primary(&self) -> Result<(), CcacheError> {
        let located = self.locate()?;
        set_primary(located.collection, &self.subsidiary).map_err(|e| self.error("set primary", e))
    }

    fn is_legacy_name(&self) -> bool {
        self.name.anchor == LEGACY_ANCHOR && self.name.collection == self.subsidiary
    }
}

fn set_primary(collection: Serial, subsidiary: &str) -> Result<(), Errno> {
    let len = u32::try_from(subsidiary.len()).map_err(|_| Errno::EINVAL)?;
    let mut payload = COLLECTION_VERSION.to_be_bytes().to_vec();
    payload.extend_from_slice(&len.to_be_bytes());
    payload.extend_from_slice(subsidiary.as_bytes());
    keyctl::add_key(USER_TYPE, PRIMARY_KEY, Some(&payload), collection).map(|_| ())
}

/// Returns the keyring MIT writes session-anchored collections into: the
/// user session keyring when the process has no session keyring of its
/// own, because some kernels would otherwise create an empty one.
fn session_anchor() -> Result<Serial, Errno> {
    let session = keyctl::keyring_id(keyctl::SESSION_KEYRING, false)?;
    let user_session = keyctl::keyring_id(keyctl::USER_SESSION_KEYRING, false)?;
    Ok(if session == user_session {
        keyctl::USER_SESSION_KEYRING
    } else {
        keyctl::SESSION_KEYRING
    })
}

/// Gives the calling thread a new session keyring that links the user
/// keyring, as pam_keyinit does at login. A process started from a
/// daemon's process otherwise shares the daemon's session keyring, so
/// `KEYRING:session:` names would reach the daemon's keys instead of the
/// user's.
pub fn start_login_session() -> Result<(), CcacheError> {
    let failed = |operation: &'static str| {
        move |err: Errno| CcacheError::Keyring {
            name: "KEYRING:session".to_string(),
            operation,
            reason: describe(err),
        }
    };
    keyctl::join_anonymous_session().map_err(failed("join a new session keyring"))?;
    keyctl::link(keyctl::USER_KEYRING, keyctl::SESSION_KEYRING)
        .map_err(failed("link the user keyring into the session keyring"))
}

/// Returns the persistent keyring of `uid`, linked into the process
/// keyring. Kernels without persistent keyrings get the user keyring for
/// the caller's own uid, as in MIT.
fn persistent_keyring(uid: u32) -> Result<Serial, Errno> {
    match keyctl::get_persistent(uid, keyctl::PROCESS_KEYRING) {
        Err(Errno::EOPNOTSUPP) if uid == nix::unistd::geteuid().as_raw() => {
            Ok(keyctl::USER_KEYRING)
        }
        other => other,
    }
}

/// Finds or creates the collection keyring of `name`.
fn collection_keyring(name: &KeyringName) -> Result<Serial, CcacheError> {
    let display = format!("KEYRING:{}:{}", name.anchor, name.collection);
    let keyring_error = |operation: &'static str, err: Errno| CcacheError::Keyring {
        name: display.clone(),
        operation,
        reason: describe(err),
    };

    if name.anchor == "persistent" {
        let uid = if name.collection.is_empty() {
            nix::unistd::geteuid().as_raw()
        } else {
            name.collection
                .parse::<u32>()
                .map_err(|_| CcacheError::InvalidName {
                    name: display.clone(),
                    reason: "the persistent anchor needs a numeric uid after `persistent:`".into(),
                })?
        };
        let persistent = persistent_keyring(uid).map_err(|err| CcacheError::Keyring {
            name: display.clone(),
            operation: "get persistent keyring",
            reason: match err {
                Errno::EPERM | Errno::EACCES => format!(
                    "{err}; opening the persistent keyring of uid {uid} needs CAP_SETUID (run as root)"
                ),
                other => describe(other),
            },
        })?;
        return find_or_create_keyring(
            persistent,
            Some(keyctl::PROCESS_KEYRING),
            PERSISTENT_COLLECTION,
        )
        .map_err(|e| keyring_error("create collection keyring", e));
    }

    let (anchor, possessor) = match name.anchor.as_str() {
        "process" => (keyctl::PROCESS_KEYRING, None),
        "thread" => (keyctl::THREAD_KEYRING, None),
        "user" => (keyctl::USER_KEYRING, Some(keyctl::PROCESS_KEYRING)),
        _ => (
            session_anchor().map_err(|e| keyring_error("open session keyring", e))?,
            None,
        ),
    };
    let collection_name = format!("{COLLECTION_PREFIX}{}", name.collection);
    find_or_create_keyring(anchor, possessor, &collection_name)
        .map_err(|e| keyring_error("create collection keyring", e))
}

/// Reads the primary subsidiary name of a collection, writing the default
/// (the collection name, or `tkt`) when the primary key is missing.
fn primary_name(name: &KeyringName, collection: Serial) -> Result<String, CcacheError> {
    let display = format!("KEYRING:{}:{}", name.anchor, name.collection);
    let keyring_error = |operation: &'static str, err: Errno| CcacheError::Keyring {
        name: display.clone(),
        operation,
        reason: describe(err),
    };
    match keyctl::search(collection, USER_TYPE, PRIMARY_KEY)
        .map_err(|e| keyring_error("find primary", e))?
    {
        Some(key) => {
            let payload = keyctl::read(key).map_err(|e| keyring_error("read primary", e))?;
            parse_primary(&payload).ok_or_else(|| CcacheError::Keyring {
                name: display.clone(),
                operation: "read primary",
                reason: "the krb_ccache:primary key is not version 1 with a name".into(),
            })
        }
        None => {
            let default = if name.collection.is_empty() {
                "tkt".to_string()
            } else {
                name.collection.clone()
            };
            set_primary(collection, &default).map_err(|e| keyring_error("set primary", e))?;
            if name.anchor == LEGACY_ANCHOR {
                adopt_legacy_cache(collection, &default)
                    .map_err(|e| keyring_error("link legacy cache", e))?;
            }
            Ok(default)
        }
    }
}

/// Links a cache keyring that MIT krb5 before 1.12 left in the session
/// keyring, named `subsidiary`, into the new collection, as MIT's
/// resolution of a legacy name does.
fn adopt_legacy_cache(collection: Serial, subsidiary: &str) -> Result<(), Errno> {
    match keyctl::search(keyctl::SESSION_KEYRING, KEYRING_TYPE, subsidiary)? {
        Some(legacy) => keyctl::link(legacy, collection),
        None => Ok(()),
    }
}

/// Parses the `krb_ccache:primary` payload: version 1, length, name.
pub fn parse_primary(payload: &[u8]) -> Option<String> {
    let version = u32::from_be_bytes(payload.get(0..4)?.try_into().ok()?);
    let len = u32::from_be_bytes(payload.get(4..8)?.try_into().ok()?) as usize;
    if version != COLLECTION_VERSION {
        return None;
    }
    let name = payload.get(8..8usize.checked_add(len)?)?;
    String::from_utf8(name.to_vec()).ok()
}

/// Lists the caches of a KEYRING collection, the primary first.
pub fn list(residual: &str) -> Result<Vec<Box<dyn CredentialCache>>, CcacheError> {
    let name = KeyringName::parse(residual)?;
    let collection = collection_keyring(&name)?;
    let primary = primary_name(&name, collection)?;
    let links = keyctl::links(collection).map_err(|e| CcacheError::Keyring {
        name: format!("KEYRING:{residual}"),
        operation: "read collection",
        reason: describe(e),
    })?;

    let mut names = Vec::new();
    for link in links {
        if let Ok(found) = keyctl::describe(link) {
            if found.kind == KEYRING_TYPE {
                names.push(found.description);
            }
        }
    }
    names.sort_by_key(|n| *n != primary);

    let mut out: Vec<Box<dyn CredentialCache>> = Vec::new();
    for subsidiary in names {
        out.push(Box::new(KeyringCache {
            name: KeyringName {
                subsidiary: Some(subsidiary.clone()),
                ..name.clone()
            },
            subsidiary,
        }));
    }
    Ok(out)
}

impl CredentialCache for KeyringCache {
    fn name(&self) -> String {
        self.full_name()
    }

    fn principal(&self) -> Result<Principal, CcacheError> {
        let ring = self.cache_ring()?;
        let key = find_link(ring, USER_TYPE, PRINCIPAL_KEY)
            .map_err(|e| self.error("find principal key", e))?
            .ok_or_else(|| CcacheError::NotInitialized {
                name: self.full_name(),
            })?;
        let payload = keyctl::read(key).map_err(|e| self.error("read principal key", e))?;
        decode_principal(&payload).map_err(|source| CcacheError::Format {
            name: self.full_name(),
            source,
        })
    }

    fn initialize_with_offset(
        &self,
        principal: &Principal,
        offset: Option<KdcOffset>,
    ) -> Result<(), CcacheError> {
        let located = self.locate()?;
        let ring = match located.cache {
            Some(ring) => {
                keyctl::clear(ring).map_err(|e| self.error("clear cache keyring", e))?;
                ring
            }
            None => find_or_create_keyring(located.collection, None, &self.subsidiary)
                .map_err(|e| self.error("create cache keyring", e))?,
        };
        if self.is_legacy_name() {
            // Linked into the session keyring too, where pre-1.12 MIT code
            // looks for it.
            let anchor = session_anchor().map_err(|e| self.error("open session keyring", e))?;
            keyctl::link(ring, anchor).map_err(|e| self.error("link legacy cache", e))?;
        }
        let encoded = encode_principal(principal).map_err(|source| CcacheError::Encode {
            name: self.full_name(),
            source,
        })?;
        keyctl::add_key(USER_TYPE, PRINCIPAL_KEY, Some(&encoded), ring)
            .map_err(|e| self.error("add principal key", e))?;
        // Legacy-named caches stay readable by pre-1.12 MIT code, which
        // would fail on the offsets key.
        if let Some(o) = offset.filter(|_| !self.is_legacy_name()) {
            let mut payload = o.seconds.to_be_bytes().to_vec();
            payload.extend_from_slice(&o.microseconds.to_be_bytes());
            keyctl::add_key(USER_TYPE, TIME_OFFSETS_KEY, Some(&payload), ring)
                .map_err(|e| self.error("add time offsets key", e))?;
        }
        Ok(())
    }

    fn entries(&self) -> Result<Vec<Credential>, CcacheError> {
        let ring = self.cache_ring()?;
        Ok(self
            .credential_keys(ring)?
            .into_iter()
            .map(|(_, c)| c)
            .collect())
    }

    fn store(&self, cred: &Credential) -> Result<(), CcacheError> {
        let ring = self.cache_ring()?;
        self.unlink_matching(ring, |c| {
            c.client.same_name(&cred.client) && c.server.same_name(&cred.server)
        })?;
        let payload = encode_credential(cred).map_err(|source| CcacheError::Encode {
            name: self.full_name(),
            source,
        })?;
        let key = self
            .add_credential_key(ring, &cred.server.to_string(), &payload)
            .map_err(|e| self.error("add credential key", e))?;
        let remaining = u64::from(cred.endtime).saturating_sub(now());
        if remaining > 0 {
            let remaining = remaining.min(u64::from(u32::MAX)) as u32;
            keyctl::set_timeout(key, remaining)
                .map_err(|e| self.error("set credential timeout", e))?;
        }
        self.update_expiry(ring)
    }

    fn remove(&self, server: &Principal) -> Result<usize, CcacheError> {
        let ring = self.cache_ring()?;
        self.unlink_matching(ring, |c| c.server.same_name(server))
    }

    fn destroy(&self) -> Result<(), CcacheError> {
        let located = self.locate()?;
        let ring = located.cache.ok_or_else(|| CcacheError::NotFound {
            name: self.full_name(),
        })?;
        keyctl::clear(ring).map_err(|e| self.error("clear cache keyring", e))?;
        keyctl::unlink(ring, located.collection)
            .map_err(|e| self.error("unlink cache keyring", e))?;
        if self.is_legacy_name() {
            // Only linked there by legacy-aware writers; absence is fine.
            if let Ok(anchor) = session_anchor() {
                let _ = keyctl::unlink(ring, anchor);
            }
        }
        Ok(())
    }

    fn kdc_offset(&self) -> Result<Option<KdcOffset>, CcacheError> {
        let ring = self.cache_ring()?;
        let Some(key) = find_link(ring, USER_TYPE, TIME_OFFSETS_KEY)
            .map_err(|e| self.error("find time offsets key", e))?
        else {
            return Ok(None);
        };
        let payload = keyctl::read(key).map_err(|e| self.error("read time offsets key", e))?;
        match payload.as_slice() {
            [s0, s1, s2, s3, u0, u1, u2, u3] => Ok(Some(KdcOffset {
                seconds: i32::from_be_bytes([*s0, *s1, *s2, *s3]),
                microseconds: i32::from_be_bytes([*u0, *u1, *u2, *u3]),
            })),
            _ => Err(CcacheError::Keyring {
                name: self.full_name(),
                operation: "read time offsets key",
                reason: format!("{} bytes; expected 8", payload.len()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residual_forms() {
        let n = KeyringName::parse("persistent:1000").unwrap();
        assert_eq!(
            (n.anchor.as_str(), n.collection.as_str()),
            ("persistent", "1000")
        );
        assert_eq!(n.subsidiary, None);
        let n = KeyringName::parse("user:krb:tkt1").unwrap();
        assert_eq!(n.subsidiary.as_deref(), Some("tkt1"));
        let n = KeyringName::parse("mycache").unwrap();
        assert_eq!(
            (n.anchor.as_str(), n.collection.as_str()),
            ("legacy", "mycache")
        );
        assert!(KeyringName::parse("bogus:x").is_err());
        assert!(KeyringName::parse("session:").is_err());
        assert!(KeyringName::parse("session:c:").is_err());
        assert!(KeyringName::parse("persistent:").is_ok());
    }

    #[test]
    fn primary_payload() {
        let mut p = 1u32.to_be_bytes().to_vec();
        p.extend_from_slice(&3u32.to_be_bytes());
        p.extend_from_slice(b"tkt");
        assert_eq!(parse_primary(&p).as_deref(), Some("tkt"));
        p[3] = 2;
        assert_eq!(parse_primary(&p), None);
        assert_eq!(parse_primary(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(parse_primary(&[0, 0]), None);
    }
}
