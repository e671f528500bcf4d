//! Credential caches: MIT krb5's cache types behind one trait.
//!
//! A cache name is `TYPE:residual`; [`resolve`] picks the type by prefix:
//! - `FILE:path`, or a bare path: one file in MIT's format ([`file`]);
//! - `DIR:/dir` (the directory's primary cache) or `DIR::/dir/tktXXX` ([`dir`]);
//! - `MEMORY:name`: a process-wide map ([`memory`]);
//! - `KEYRING:...`: MIT's layout in the Linux kernel keyring ([`keyring`]);
//! - `KCM:[name]`: a KCM daemon such as sssd-kcm or Heimdal's kcm ([`kcm`]).
//!
//! Besides tickets a cache contains configuration entries: pseudo-credentials
//! whose server is `krb5_ccache_conf_data/KEY[/PRINCIPAL]@X-CACHECONF:` and
//! whose ticket field carries the value. [`CredentialCache::credentials`]
//! leaves them out; [`CredentialCache::get_config`] reads them.

pub mod dir;
pub mod file;
pub mod kcm;
pub mod keyring;
pub mod memory;

use std::io;
use std::path::PathBuf;

use crate::codec::{DecodeError, EncodeError};
use crate::credentials::Credential;
use crate::crypto::Key;
use crate::principal::Principal;

/// The realm of configuration entries' server principals.
pub const CONFIG_REALM: &str = "X-CACHECONF:";
/// The first component of configuration entries' server principals.
pub const CONFIG_COMPONENT: &str = "krb5_ccache_conf_data";

/// The KDC time offset a cache records: the KDC's clock minus ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdcOffset {
    pub seconds: i32,
    pub microseconds: i32,
}

/// Errors from credential caches.
#[derive(Debug, thiserror::Error)]
pub enum CcacheError {
    #[error("credential cache {name} not found; run kinit or check KRB5CCNAME")]
    NotFound { name: String },
    #[error("I/O error on credential cache {name}: {source}")]
    Io { name: String, source: io::Error },
    #[error("invalid credential cache {name}: {source}")]
    Format { name: String, source: DecodeError },
    #[error("cannot encode for credential cache {name}: {source}")]
    Encode { name: String, source: EncodeError },
    #[error("invalid credential cache name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    #[error(
        "unsupported credential cache type in {name:?}; supported: FILE, DIR, MEMORY, KEYRING, KCM"
    )]
    UnsupportedType { name: String },
    #[error("no credentials for {server} in credential cache {name}")]
    CredentialNotFound { name: String, server: String },
    #[error("credential cache {name} has no default principal; initialize it first")]
    NotInitialized { name: String },
    #[error("kernel keyring operation {operation} failed for {name}: {reason}")]
    Keyring {
        name: String,
        operation: &'static str,
        reason: String,
    },
    #[error("KCM request {operation} for {name} failed: {reason}")]
    Kcm {
        name: String,
        operation: &'static str,
        reason: String,
    },
}

impl CcacheError {
    pub(crate) fn io(name: &str, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::NotFound {
            Self::NotFound {
                name: name.to_string(),
            }
        } else {
            Self::Io {
                name: name.to_string(),
                source,
            }
        }
    }
}

/// Returns true if `cred` is a configuration entry, not a ticket.
pub fn is_config_entry(cred: &Credential) -> bool {
    is_config_principal(&cred.server)
}

/// Returns true if `server` names a configuration entry.
pub fn is_config_principal(server: &Principal) -> bool {
    server.realm == CONFIG_REALM
        && server.components.first().map(String::as_str) == Some(CONFIG_COMPONENT)
}

/// Builds the server principal of configuration entry `key`, scoped to
/// `principal` when given (MIT unparses it into the third component).
pub fn config_principal(key: &str, principal: Option<&Principal>) -> Principal {
    let mut components = vec![CONFIG_COMPONENT.to_string(), key.to_string()];
    if let Some(p) = principal {
        components.push(p.to_string());
    }
    Principal::new(components, CONFIG_REALM)
}

/// Builds a configuration entry as MIT's `krb5_cc_set_config` stores it:
/// the cache's principal as client, no key, zero times, the value as ticket.
pub fn config_entry(
    client: &Principal,
    key: &str,
    principal: Option<&Principal>,
    value: &[u8],
) -> Credential {
    Credential {
        client: client.clone(),
        server: config_principal(key, principal),
        session_key: Key::from_raw(0, Vec::new()),
        authtime: 0,
        starttime: 0,
        endtime: 0,
        renew_till: 0,
        is_skey: false,
        flags: 0,
        addresses: Vec::new(),
        authdata: Vec::new(),
        ticket: value.to_vec(),
        second_ticket: Vec::new(),
    }
}

/// A credential cache. Methods take `&self`, and each call opens, locks and
/// closes the backing store as MIT krb5 does. Several handles (and other
/// processes) can therefore share one cache.
pub trait CredentialCache: Send + Sync {
    /// Returns the full name, `TYPE:residual`.
    fn name(&self) -> String;

    /// Returns the default (client) principal.
    fn principal(&self) -> Result<Principal, CcacheError>;

    /// Empties the cache and sets its default principal and KDC time offset.
    fn initialize_with_offset(
        &self,
        principal: &Principal,
        offset: Option<KdcOffset>,
    ) -> Result<(), CcacheError>;

    /// Returns every stored entry, tickets and configuration entries, in the
    /// store's order: file order for FILE and DIR, link order for KEYRING,
    /// the server's order for KCM.
    fn entries(&self) -> Result<Vec<Credential>, CcacheError>;

    /// Stores `cred`, replacing entries with the same client and server.
    fn store(&self, cred: &Credential) -> Result<(), CcacheError>;

    /// Removes the entries whose server is `server` and returns how many.
    fn remove(&self, server: &Principal) -> Result<usize, CcacheError>;

    /// Deletes the cache.
    fn destroy(&self) -> Result<(), CcacheError>;

    /// Returns the KDC time offset recorded at initialization, if any.
    fn kdc_offset(&self) -> Result<Option<KdcOffset>, CcacheError>;

    /// Empties the cache and sets its default principal.
    fn initialize(&self, principal: &Principal) -> Result<(), CcacheError> {
        self.initialize_with_offset(principal, None)
    }

    /// Returns the tickets, in the order of [`Self::entries`], without
    /// configuration entries.
    fn credentials(&self) -> Result<Vec<Credential>, CcacheError> {
        let mut all = self.entries()?;
        all.retain(|c| !is_config_entry(c));
        Ok(all)
    }

    /// Returns the ticket for `server` (matching name and realm, not name
    /// type), optionally with a session key of `enctype`.
    fn retrieve(
        &self,
        server: &Principal,
        enctype: Option<i32>,
    ) -> Result<Credential, CcacheError> {
        self.credentials()?
            .into_iter()
            .find(|c| {
                c.server.same_name(server) && enctype.is_none_or(|e| c.session_key.enctype() == e)
            })
            .ok_or_else(|| CcacheError::CredentialNotFound {
                name: self.name(),
                server: server.to_string(),
            })
    }

    /// Returns the value of configuration entry `key`, optionally scoped to `principal`.
    fn get_config(
        &self,
        key: &str,
        principal: Option<&Principal>,
    ) -> Result<Option<Vec<u8>>, CcacheError> {
        let wanted = config_principal(key, principal);
        Ok(self
            .entries()?
            .into_iter()
            .find(|c| c.server.same_name(&wanted))
            .map(|c| c.ticket))
    }

    /// Sets configuration entry `key` (removing it when `value` is `None`).
    fn set_config(
        &self,
        key: &str,
        principal: Option<&Principal>,
        value: Option<&[u8]>,
    ) -> Result<(), CcacheError> {
        match value {
            Some(value) => {
                let client = self.principal()?;
                self.store(&config_entry(&client, key, principal, value))
            }
            None => self.remove(&config_principal(key, principal)).map(|_| ()),
        }
    }
}

/// Returns the default FILE cache name for `uid`, as MIT builds it when neither
/// KRB5CCNAME nor krb5.conf's `default_ccache_name` is set.
pub fn default_file_name(uid: u32) -> String {
    format!("FILE:/tmp/krb5cc_{uid}")
}

/// Picks the default cache name: the first of `KRB5CCNAME` (`env`), the
/// krb5.conf `default_ccache_name` (`configured`, already expanded), and
/// MIT's built-in `FILE:/tmp/krb5cc_UID`.
pub fn default_name(env: Option<&str>, configured: Option<&str>, uid: u32) -> String {
    env.filter(|s| !s.is_empty())
        .or(configured.filter(|s| !s.is_empty()))
        .map_or_else(|| default_file_name(uid), str::to_string)
}

/// Splits a cache name into its type and residual; a bare path is FILE.
pub fn split_name(name: &str) -> Result<(&str, &str), CcacheError> {
    if name.is_empty() {
        return Err(CcacheError::InvalidName {
            name: name.to_string(),
            reason: "the name is empty".into(),
        });
    }
    if name.starts_with('/') || name.starts_with('.') {
        return Ok(("FILE", name));
    }
    match name.split_once(':') {
        Some((kind, residual)) => Ok((kind, residual)),
        None => Ok(("FILE", name)),
    }
}

/// Settings from krb5.conf that change how names resolve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolveOptions {
    /// `[libdefaults] kcm_socket`; [`kcm::DEFAULT_SOCKET`] when `None`.
    pub kcm_socket: Option<PathBuf>,
}

impl ResolveOptions {
    fn kcm_client(&self) -> kcm::KcmClient {
        kcm::KcmClient::new(
            self.kcm_socket
                .clone()
                .unwrap_or_else(|| PathBuf::from(kcm::DEFAULT_SOCKET)),
        )
    }
}

/// Opens the cache named `name` with default settings. Nothing is created
/// until a write.
pub fn resolve(name: &str) -> Result<Box<dyn CredentialCache>, CcacheError> {
    resolve_with(name, &ResolveOptions::default())
}

/// Opens the cache named `name` with `options`.
pub fn resolve_with(
    name: &str,
    options: &ResolveOptions,
) -> Result<Box<dyn CredentialCache>, CcacheError> {
    let (kind, residual) = split_name(name)?;
    match kind {
        "FILE" => Ok(Box::new(file::FileCache::new(PathBuf::from(residual))?)),
        "DIR" => Ok(Box::new(dir::DirCache::resolve(residual)?)),
        "MEMORY" => Ok(Box::new(memory::MemoryCache::resolve(residual))),
        "KEYRING" => keyring::KeyringCache::resolve(residual),
        "KCM" => Ok(Box::new(kcm::KcmCache::open(
            options.kcm_client(),
            residual,
        )?)),
        _ => Err(CcacheError::UnsupportedType {
            name: name.to_string(),
        }),
    }
}

/// Lists the caches of the collection named `name` with default settings.
pub fn collection(name: &str) -> Result<Vec<Box<dyn CredentialCache>>, CcacheError> {
    collection_with(name, &ResolveOptions::default())
}

/// Lists the caches of the collection named `name`: every `tkt*` file of a
/// `DIR:` directory, every cache keyring of a `KEYRING:` collection, every
/// cache of a KCM daemon. Other names yield just that cache.
pub fn collection_with(
    name: &str,
    options: &ResolveOptions,
) -> Result<Vec<Box<dyn CredentialCache>>, CcacheError> {
    let (kind, residual) = split_name(name)?;
    match kind {
        "DIR" => dir::list(residual),
        "KEYRING" => keyring::list(residual),
        "KCM" => kcm::list_on(options.kcm_client(), residual),
        _ => Ok(vec![resolve_with(name, options)?]),
    }
}

#[cfg(test)]
mod tests;
