//! KEYRING caches in MIT krb5's layout in the Linux kernel keyring.
//!
//! The layout, as MIT krb5 1.20's `cc_keyring.c` keeps it:
//! - a residual is `ANCHOR:COLLECTION[:SUBSIDIARY]`, or a bare `COLLECTION`
//!   for the `legacy` anchor. Anchors: `session`, `user`, `persistent`,
//!   `process`, `thread` and `legacy` (the session keyring);
//! - the collection is a keyring named `_krb_COLLECTION` linked from the
//!   anchor keyring; for `persistent:UID` it is the keyring `_krb` inside
//!   the UID's persistent keyring;
//! - the collection contains a `user` key `krb_ccache:primary` (32-bit
//!   big-endian version 1, 32-bit length, subsidiary name) and one keyring
//!   per cache, named by its subsidiary name. Without a primary key the
//!   primary is the collection name (`tkt` for an empty one);
//! - a cache keyring contains the `user` key `__krb5_princ__` (the default
//!   principal), optionally `__krb5_time_offsets__` (32-bit big-endian
//!   seconds and microseconds) and one key per credential, named by the
//!   unparsed server principal, of type `big_key` or `user`. Principals and
//!   credentials use the FILE cache's version 4 encoding.
//!
//! NOTE: the `linux-keyutils` crate (0.2.5) can add only `user` keys and
//! cannot create keyrings, so this module reads and updates caches inside
//! existing keyrings (such as those MIT's kinit or sssd create) but cannot
//! create a new collection or cache keyring; those operations return
//! [`CcacheError::Keyring`] naming the missing keyring. Credentials are
//! written as `user` keys, which MIT reads as it reads `big_key` ones, with
//! the `user` type's 32767-byte payload limit.

use std::time::{SystemTime, UNIX_EPOCH};

use linux_keyutils::{Key, KeyError, KeyRing, KeyRingIdentifier, KeySerialId, KeyType, LinkNode};

use super::file::{decode_credential, decode_principal, encode_credential, encode_principal};
use super::{CcacheError, CredentialCache, KdcOffset};
use crate::credentials::Credential;
use crate::principal::Principal;

const PRIMARY_KEY: &str = "krb_ccache:primary";
const PRINCIPAL_KEY: &str = "__krb5_princ__";
const TIME_OFFSETS_KEY: &str = "__krb5_time_offsets__";
const COLLECTION_PREFIX: &str = "_krb_";
const PERSISTENT_COLLECTION: &str = "_krb";
const COLLECTION_VERSION: u32 = 1;
const LEGACY_ANCHOR: &str = "legacy";

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

fn describe(err: KeyError) -> String {
    format!("{err:?}")
}

/// Reads a key's whole payload, growing the buffer to the size the kernel
/// reports (a keyring's payload is the list of its links' serial numbers).
fn read_payload(key: Key) -> Result<Vec<u8>, KeyError> {
    let mut buf = vec![0u8; 4096];
    loop {
        let len = key.read(&mut buf)?;
        if len <= buf.len() {
            buf.truncate(len);
            return Ok(buf);
        }
        buf = vec![0u8; len];
    }
}

/// Lists the serial numbers linked from keyring `id`.
fn link_ids(id: KeySerialId) -> Result<Vec<KeySerialId>, KeyError> {
    let payload = read_payload(Key::from_id(id))?;
    Ok(payload
        .chunks_exact(4)
        .filter_map(|c| c.try_into().ok())
        .map(|c: [u8; 4]| KeySerialId(i32::from_ne_bytes(c)))
        .collect())
}

/// Finds the key of `kind` named `description` directly inside keyring `id`.
fn find_link(
    id: KeySerialId,
    kind: KeyType,
    description: &str,
) -> Result<Option<KeySerialId>, KeyError> {
    for link in link_ids(id)? {
        let Ok(meta) = Key::from_id(link).metadata() else {
            // Unlinked or expired meanwhile, or not viewable: not ours.
            continue;
        };
        if meta.get_type() == kind && meta.get_description() == description {
            return Ok(Some(link));
        }
    }
    Ok(None)
}

/// Returns a `KeyRing` handle for the keyring `id` linked from `parent`.
///
/// NOTE: linux-keyutils 0.2.5's `KeyRing::get_links(max)` passes `max` to
/// the kernel as a byte count for a buffer of `max` 4-byte serials, and it
/// trusts the reply length. So the buffer gets twice the bytes the current
/// links need, plus room for links added meanwhile.
fn keyring_handle(parent: KeyRing, id: KeySerialId) -> Result<Option<KeyRing>, KeyError> {
    let count = link_ids(parent_id(parent)?)?.len();
    let links = parent.get_links((count + 16) * 8)?;
    Ok(links.iter().find_map(|node| match node {
        LinkNode::KeyRing(ring) if ring_id(*ring) == Some(id) => Some(*ring),
        _ => None,
    }))
}

fn parent_id(ring: KeyRing) -> Result<KeySerialId, KeyError> {
    ring_id(ring).ok_or(KeyError::InvalidIdentifier)
}

/// Returns the serial number of `ring`.
///
/// `KeyRing` keeps its serial private; its `Debug` form is the only way
/// out in linux-keyutils 0.2.5, so it is parsed from there.
fn ring_id(ring: KeyRing) -> Option<KeySerialId> {
    let text = format!("{ring:?}");
    let start = text.find("KeySerialId(")? + "KeySerialId(".len();
    let end = text[start..].find(')')? + start;
    text[start..end].parse().ok().map(KeySerialId)
}

/// A cache keyring located in the kernel.
#[derive(Clone, Copy)]
struct Located {
    collection: KeyRing,
    cache: Option<KeyRing>,
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
    /// Resolves a KEYRING residual. The collection keyring must exist.
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

    fn error(&self, operation: &'static str, err: KeyError) -> CcacheError {
        match err {
            KeyError::KeyDoesNotExist | KeyError::KeyringDoesNotExist => CcacheError::NotFound {
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
        let collection_id = parent_id(collection).map_err(|e| self.error("find collection", e))?;
        let cache_id = find_link(collection_id, KeyType::KeyRing, &self.subsidiary)
            .map_err(|e| self.error("find cache keyring", e))?;
        let cache = match cache_id {
            Some(id) => {
                keyring_handle(collection, id).map_err(|e| self.error("open cache keyring", e))?
            }
            None => None,
        };
        Ok(Located { collection, cache })
    }

    fn cache_ring(&self) -> Result<KeyRing, CcacheError> {
        self.locate()?.cache.ok_or_else(|| CcacheError::NotFound {
            name: self.full_name(),
        })
    }

    /// Lists the credential keys of the cache with their decoded contents.
    fn credential_keys(&self, ring: KeyRing) -> Result<Vec<(Key, Credential)>, CcacheError> {
        let id = parent_id(ring).map_err(|e| self.error("read cache keyring", e))?;
        let mut out = Vec::new();
        for link in link_ids(id).map_err(|e| self.error("read cache keyring", e))? {
            let key = Key::from_id(link);
            if let Ok(meta) = key.metadata() {
                let special = matches!(meta.get_description(), PRINCIPAL_KEY | TIME_OFFSETS_KEY);
                if special || meta.get_type() == KeyType::KeyRing {
                    continue;
                }
            }
            let payload = match read_payload(key) {
                Ok(p) => p,
                // Removed or expired since the list was read, as MIT skips.
                Err(KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked) => {
                    continue
                }
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
        ring: KeyRing,
        matches: impl Fn(&Credential) -> bool,
    ) -> Result<usize, CcacheError> {
        let mut removed = 0;
        for (key, cred) in self.credential_keys(ring)? {
            if matches(&cred) {
                ring.unlink_key(key)
                    .map_err(|e| self.error("unlink credential key", e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Sets the cache keyring to expire with its last ticket, as MIT does.
    fn update_expiry(&self, ring: KeyRing) -> Result<(), CcacheError> {
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
        let timeout = last.saturating_sub(now()).max(1);
        let id = parent_id(ring).map_err(|e| self.error("set cache timeout", e))?;
        Key::from_id(id)
            .set_timeout(timeout as usize)
            .map_err(|e| self.error("set cache timeout", e))
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

fn set_primary(collection: KeyRing, subsidiary: &str) -> Result<(), KeyError> {
    let mut payload = COLLECTION_VERSION.to_be_bytes().to_vec();
    payload.extend_from_slice(&(subsidiary.len() as u32).to_be_bytes());
    payload.extend_from_slice(subsidiary.as_bytes());
    collection.add_key(PRIMARY_KEY, &payload).map(|_| ())
}

/// Returns the keyring MIT writes session-anchored collections into: the
/// user session keyring when the process has no session keyring of its
/// own, because some kernels would otherwise create an empty one.
fn session_anchor() -> Result<KeyRing, KeyError> {
    let session = KeyRing::from_special_id(KeyRingIdentifier::Session, false)?;
    let user_session = KeyRing::from_special_id(KeyRingIdentifier::UserSession, false)?;
    Ok(if session == user_session {
        user_session
    } else {
        session
    })
}

/// Finds the collection keyring of `name`.
fn collection_keyring(name: &KeyringName) -> Result<KeyRing, CcacheError> {
    let display = format!("KEYRING:{}:{}", name.anchor, name.collection);
    let keyring_error = |operation: &'static str, err: KeyError| CcacheError::Keyring {
        name: display.clone(),
        operation,
        reason: describe(err),
    };

    let (anchor, collection_name) = if name.anchor == "persistent" {
        let euid = nix::unistd::geteuid().as_raw();
        if !name.collection.is_empty() && name.collection != euid.to_string() {
            return Err(CcacheError::InvalidName {
                name: display,
                reason: format!(
                    "only the persistent keyring of the effective UID ({euid}) can be opened; switch to that user first"
                ),
            });
        }
        // Kernels without persistent keyrings get the user keyring, as in MIT.
        let ring = match KeyRing::get_persistent(KeyRingIdentifier::Process) {
            Err(KeyError::OperationNotSupported) => {
                KeyRing::from_special_id(KeyRingIdentifier::User, false)
            }
            other => other,
        }
        .map_err(|e| keyring_error("get persistent keyring", e))?;
        (ring, PERSISTENT_COLLECTION.to_string())
    } else {
        let ring = match name.anchor.as_str() {
            "process" => KeyRing::from_special_id(KeyRingIdentifier::Process, false),
            "thread" => KeyRing::from_special_id(KeyRingIdentifier::Thread, false),
            "user" => KeyRing::from_special_id(KeyRingIdentifier::User, false),
            _ => session_anchor(),
        }
        .map_err(|e| keyring_error("open anchor keyring", e))?;
        (ring, format!("{COLLECTION_PREFIX}{}", name.collection))
    };

    let anchor_id = parent_id(anchor).map_err(|e| keyring_error("open anchor keyring", e))?;
    let found = find_link(anchor_id, KeyType::KeyRing, &collection_name)
        .map_err(|e| keyring_error("find collection", e))?;
    let handle = match found {
        Some(id) => keyring_handle(anchor, id).map_err(|e| keyring_error("open collection", e))?,
        None => None,
    };
    handle.ok_or_else(|| CcacheError::Keyring {
        name: display.clone(),
        operation: "create collection keyring",
        reason: format!(
            "keyring {collection_name:?} does not exist and this build cannot create keyrings; create it with MIT kinit or `keyctl newring`"
        ),
    })
}

/// Reads the primary subsidiary name of a collection, writing the default
/// (the collection name, or `tkt`) when the primary key is missing.
fn primary_name(name: &KeyringName, collection: KeyRing) -> Result<String, CcacheError> {
    let display = format!("KEYRING:{}:{}", name.anchor, name.collection);
    let keyring_error = |operation: &'static str, err: KeyError| CcacheError::Keyring {
        name: display.clone(),
        operation,
        reason: describe(err),
    };
    let id = parent_id(collection).map_err(|e| keyring_error("read collection", e))?;
    match find_link(id, KeyType::User, PRIMARY_KEY).map_err(|e| keyring_error("find primary", e))? {
        Some(key) => {
            let payload =
                read_payload(Key::from_id(key)).map_err(|e| keyring_error("read primary", e))?;
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

/// Links a cache keyring that MIT krb5 before 1.12 left directly in the
/// session keyring, named `subsidiary`, into the new collection, as MIT's
/// resolution of a legacy name does.
fn adopt_legacy_cache(collection: KeyRing, subsidiary: &str) -> Result<(), KeyError> {
    let session = KeyRing::from_special_id(KeyRingIdentifier::Session, false)?;
    let Some(id) = find_link(parent_id(session)?, KeyType::KeyRing, subsidiary)? else {
        return Ok(());
    };
    match keyring_handle(session, id)? {
        Some(legacy) => collection.link_keyring(legacy),
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
    let display = format!("KEYRING:{residual}");
    let id = parent_id(collection).map_err(|e| CcacheError::Keyring {
        name: display.clone(),
        operation: "read collection",
        reason: describe(e),
    })?;
    let links = link_ids(id).map_err(|e| CcacheError::Keyring {
        name: display.clone(),
        operation: "read collection",
        reason: describe(e),
    })?;

    let mut names = Vec::new();
    for link in links {
        if let Ok(meta) = Key::from_id(link).metadata() {
            if meta.get_type() == KeyType::KeyRing {
                names.push(meta.get_description().to_string());
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
        let id = parent_id(ring).map_err(|e| self.error("read cache keyring", e))?;
        let key = find_link(id, KeyType::User, PRINCIPAL_KEY)
            .map_err(|e| self.error("find principal key", e))?
            .ok_or_else(|| CcacheError::NotInitialized {
                name: self.full_name(),
            })?;
        let payload =
            read_payload(Key::from_id(key)).map_err(|e| self.error("read principal key", e))?;
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
        let ring = self.locate()?.cache.ok_or_else(|| CcacheError::Keyring {
            name: self.full_name(),
            operation: "create cache keyring",
            reason: format!(
                "keyring {:?} does not exist in the collection and this build cannot create keyrings",
                self.subsidiary
            ),
        })?;
        ring.clear()
            .map_err(|e| self.error("clear cache keyring", e))?;
        if self.is_legacy_name() {
            // Linked into the session keyring too, where pre-1.12 MIT code
            // looks for it.
            let anchor = session_anchor().map_err(|e| self.error("open session keyring", e))?;
            anchor
                .link_keyring(ring)
                .map_err(|e| self.error("link legacy cache", e))?;
        }
        let encoded = encode_principal(principal).map_err(|source| CcacheError::Encode {
            name: self.full_name(),
            source,
        })?;
        ring.add_key(PRINCIPAL_KEY, &encoded)
            .map_err(|e| self.error("add principal key", e))?;
        // Legacy-named caches stay readable by pre-1.12 MIT code, which
        // would fail on the offsets key.
        if let Some(o) = offset.filter(|_| !self.is_legacy_name()) {
            let mut payload = o.seconds.to_be_bytes().to_vec();
            payload.extend_from_slice(&o.microseconds.to_be_bytes());
            ring.add_key(TIME_OFFSETS_KEY, &payload)
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
        let key = ring
            .add_key(&cred.server.to_string(), &payload)
            .map_err(|e| self.error("add credential key", e))?;
        let remaining = u64::from(cred.endtime).saturating_sub(now());
        if remaining > 0 {
            key.set_timeout(remaining as usize)
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
        ring.clear()
            .map_err(|e| self.error("clear cache keyring", e))?;
        located
            .collection
            .unlink_keyring(ring)
            .map_err(|e| self.error("unlink cache keyring", e))?;
        if self.is_legacy_name() {
            // Only linked there by legacy-aware writers; absence is fine.
            if let Ok(anchor) = session_anchor() {
                let _ = anchor.unlink_keyring(ring);
            }
        }
        Ok(())
    }

    fn kdc_offset(&self) -> Result<Option<KdcOffset>, CcacheError> {
        let ring = self.cache_ring()?;
        let id = parent_id(ring).map_err(|e| self.error("read cache keyring", e))?;
        let Some(key) = find_link(id, KeyType::User, TIME_OFFSETS_KEY)
            .map_err(|e| self.error("find time offsets key", e))?
        else {
            return Ok(None);
        };
        let payload =
            read_payload(Key::from_id(key)).map_err(|e| self.error("read time offsets key", e))?;
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
    fn ring_id_reads_serial_from_debug_form() {
        // Guards the Debug-format parsing against a linux-keyutils change.
        let Ok(session) = KeyRing::from_special_id(KeyRingIdentifier::Session, false) else {
            eprintln!("skipping: no session keyring");
            return;
        };
        let id = ring_id(session).expect("KeyRing's Debug form has no KeySerialId");
        assert!(id.as_raw_id() > 0);
        assert!(link_ids(id).is_ok());
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
