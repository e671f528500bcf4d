//! Finding the credentials for an upcall: the machine's, from the keytab,
//! or a user's, from the credential caches that user owns.

use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use krb5::ccache::{self, CredentialCache, ResolveOptions};
use krb5::config::Config;
use krb5::credentials::{ticket_flags, Credential};
use krb5::kdc::{AsOptions, KdcClient, Secret, ServiceCredentials};
use krb5::keytab::Keytab;
use krb5::Principal;
use log::{debug, info};

use super::usercache::{self, StoreRequest, UserCacheRequest};

/// Seconds before expiry at which a cached TGT counts as expired, so that a
/// ticket is not used just before it runs out (rpc.gssd uses the same).
pub const EXPIRY_MARGIN: u32 = 300;

/// A credential lookup failure. `expired` marks the case where a cache
/// for the user existed but held no valid TGT, which the kernel reports to
/// the user as EKEYEXPIRED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredsError {
    pub message: String,
    pub expired: bool,
}

impl CredsError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            expired: false,
        }
    }
}

impl std::fmt::Display for CredsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The sources of machine and user credentials.
#[derive(Debug, Clone)]
pub struct CredsSettings {
    /// The keytab for machine credentials (`-k`).
    pub keytab: String,
    /// Directories searched for user caches (`-d`), `%U` already unexpanded.
    pub ccache_dirs: Vec<String>,
    /// The realm tried first (`-R`), else the default realm.
    pub preferred_realm: Option<String>,
    /// Keep machine TGTs in memory only (`-M`).
    pub memory_cache: bool,
    /// Whether caches are read and written in a short-lived thread that
    /// takes the uid's identity ([`super::usercache`]). `false` reads them
    /// in the calling thread, with its rights, and writes only the
    /// caller's own caches.
    pub as_user: bool,
}

/// The local host's names for building machine principals.
#[derive(Debug, Clone)]
pub struct LocalHost {
    /// The canonical, lowercased host name.
    pub fqdn: String,
    /// The uncanonicalized host name, for the `HOST$` account name.
    pub short: String,
}

/// Machine TGTs by client principal, reused until close to expiry.
#[derive(Debug, Default)]
pub struct MachineCache {
    tgts: Mutex<HashMap<String, Credential>>,
}

/// Returns the service names tried in order: `$` stands for the `HOST$`
/// account, then `root`, `nfs` and `host`; or only the upcall's `service=`.
pub fn machine_services(requested: Option<&str>) -> Vec<String> {
    match requested {
        Some(service) if service != "*" => vec![service.to_string()],
        _ => ["$", "root", "nfs", "host"].map(str::to_string).to_vec(),
    }
}

/// Finds the keytab principal for machine credentials, in rpc.gssd's order:
/// per realm, exact names per service (`HOST$`, then `service/fqdn`), then
/// any two-component principal of each service in that realm.
pub fn find_machine_principal(
    keytab: &Keytab,
    host: &LocalHost,
    services: &[String],
    realms: &[String],
) -> Option<Principal> {
    let principals = keytab.principals();
    for realm in realms {
        for service in services {
            let candidates = if service == "$" {
                let account = format!("{}$", host.short.split('.').next().unwrap_or_default());
                vec![
                    Principal::new(vec![account.clone()], realm.clone()),
                    Principal::new(vec![account.to_uppercase()], realm.clone()),
                ]
            } else {
                vec![Principal::host_service(service, &host.fqdn, realm)]
            };
            for candidate in candidates {
                if let Some(found) = principals.iter().find(|p| p.same_name(&candidate)) {
                    return Some((*found).clone());
                }
            }
        }
        for service in services.iter().filter(|s| *s != "$") {
            if let Some(found) = principals.iter().find(|p| {
                p.realm == *realm && p.components.len() == 2 && p.components[0] == *service
            }) {
                return Some((*found).clone());
            }
        }
    }
    None
}

impl MachineCache {
    /// Returns a TGT for `principal`, from memory if it is valid for more
    /// than [`EXPIRY_MARGIN`] seconds, else from the KDC with the keytab.
    pub async fn tgt(
        &self,
        kdc: &KdcClient,
        config: &Config,
        keytab: &Keytab,
        principal: &Principal,
        settings: &CredsSettings,
        now: u32,
    ) -> Result<Credential, CredsError> {
        let key = principal.to_string();
        if let Some(tgt) = self.lock().get(&key) {
            if tgt.endtime > now.saturating_add(EXPIRY_MARGIN) {
                return Ok(tgt.clone());
            }
        }

        let keys: Vec<_> = keytab
            .entries()
            .iter()
            .filter(|e| e.principal.same_name(principal))
            .map(|e| e.key.clone())
            .collect();
        let options = AsOptions::from_config(config, &principal.realm)
            .map_err(|e| CredsError::new(e.to_string()))?;
        let tgt = kdc
            .get_initial_credentials(principal, &Secret::Keys(keys), &options)
            .await
            .map_err(|e| {
                CredsError::new(format!(
                    "cannot get a TGT for machine principal {principal} from keytab {}: {e}",
                    settings.keytab
                ))
            })?;
        info!("got a TGT for {principal}, valid until {}", tgt.endtime);

        if !settings.memory_cache {
            if let Some(dir) = settings.ccache_dirs.first() {
                write_machine_ccache(dir, principal, &tgt);
            }
        }
        self.lock().insert(key, tgt.clone());
        Ok(tgt)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Credential>> {
        self.tgts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The machine ccache files this process wrote, removed at shutdown.
static WRITTEN_MACHINE_CCACHES: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Removes the machine ccache files this process wrote, as rpc.gssd does
/// when it stops, and returns how many it removed.
pub fn destroy_machine_ccaches() -> usize {
    let mut written = WRITTEN_MACHINE_CCACHES
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let mut removed = 0;
    for path in std::mem::take(&mut *written) {
        match std::fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log::warn!(
                "cannot remove the machine credential cache {}: {e}",
                path.display()
            ),
        }
    }
    removed
}

/// Returns the path of the machine ccache of `principal`'s realm in `dir`.
fn machine_ccache_path(dir: &str, principal: &Principal) -> PathBuf {
    Path::new(dir).join(format!("krb5ccmachine_{}", principal.realm))
}

/// Writes the machine TGT to `DIR/krb5ccmachine_REALM`, where rpc.gssd
/// keeps it, so that administrators can inspect it with klist. Failure only
/// logs: the daemon keeps its own copy in memory.
fn write_machine_ccache(dir: &str, principal: &Principal, tgt: &Credential) {
    let path = machine_ccache_path(dir, principal);
    let name = format!("FILE:{}", path.display());
    let result = ccache::resolve(&name).and_then(|cache| {
        cache.initialize(principal)?;
        cache.store(tgt)
    });
    match result {
        Ok(()) => {
            WRITTEN_MACHINE_CCACHES
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(path);
        }
        Err(e) => log::warn!("cannot write the machine credential cache {name}: {e}"),
    }
}

/// Adds a service ticket that `principal`'s machine TGT got, with the
/// cross-realm TGTs on the way, to the machine ccache this process wrote, as
/// MIT's gss_init_sec_context does. The ticket is stored under the name
/// asked for, `service`. Nothing is written with `-M` or when the daemon
/// did not write that file itself, and failure only logs.
pub fn store_machine_tickets(
    settings: &CredsSettings,
    principal: &Principal,
    service: &Principal,
    obtained: &ServiceCredentials,
) {
    if settings.memory_cache {
        return;
    }
    let Some(dir) = settings.ccache_dirs.first() else {
        return;
    };
    let path = machine_ccache_path(dir, principal);
    let written = WRITTEN_MACHINE_CCACHES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&path);
    if !written {
        return;
    }
    let name = format!("FILE:{}", path.display());
    let ticket = Credential {
        server: service.clone(),
        ..obtained.credential.clone()
    };
    let result = ccache::resolve(&name).and_then(|cache| {
        obtained
            .tgts
            .iter()
            .chain(std::iter::once(&ticket))
            .try_for_each(|credential| cache.store(credential))
    });
    if let Err(e) = result {
        log::warn!(
            "cannot store the ticket for {service} in the machine credential cache {name}: {e}"
        );
    }
}

/// A candidate user cache found in the search directories.
#[derive(Debug)]
struct Candidate {
    name: String,
    mtime: i64,
}

/// Expands `%U` to the uid and `%%` to `%` in a search directory.
pub fn expand_dir(template: &str, uid: u32) -> String {
    let mut out = String::new();
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('U') => out.push_str(&uid.to_string()),
                Some('%') => out.push('%'),
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The service ticket an upcall needs: a user's cache entry for `service`
/// is used in place of a TGS exchange when its session key has one of
/// `enctypes`, the enctypes the kernel and krb5.conf both allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketQuery {
    pub service: Principal,
    pub enctypes: Vec<i32>,
}

/// A valid credential found in a user's caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCredential {
    /// A ticket for the queried service, used without asking the KDC.
    ServiceTicket(Credential),
    /// A TGT, with the name of the cache that contains it, where new
    /// service tickets are stored.
    Tgt { tgt: Credential, cache: String },
}

impl UserCredential {
    /// Returns the client principal of the credential.
    pub fn client(&self) -> &Principal {
        match self {
            Self::ServiceTicket(ticket) => &ticket.client,
            Self::Tgt { tgt, .. } => &tgt.client,
        }
    }
}

/// Finds a valid TGT for `uid` as [`user_credential`] does, ignoring
/// service tickets.
pub async fn user_tgt(
    config: &Config,
    uid: u32,
    settings: &CredsSettings,
    skip_machine_caches: bool,
    now: u32,
) -> Result<Credential, CredsError> {
    match user_credential(config, uid, settings, skip_machine_caches, now, None).await? {
        UserCredential::Tgt { tgt, .. } => Ok(tgt),
        UserCredential::ServiceTicket(_) => Err(CredsError::new(
            "the credential cache lookup returned a service ticket where a TGT was requested",
        )),
    }
}

/// Finds a valid ticket for `query`, else a valid TGT, for `uid` as
/// [`find_user_credential`] does. With `settings.as_user` the caches are
/// read in a thread running as that uid.
pub async fn user_credential(
    config: &Config,
    uid: u32,
    settings: &CredsSettings,
    skip_machine_caches: bool,
    now: u32,
    query: Option<&TicketQuery>,
) -> Result<UserCredential, CredsError> {
    let request = UserCacheRequest {
        uid,
        now,
        skip_machine_caches,
        kcm_socket: config
            .libdefault_for_realm(None, "kcm_socket")
            .map(str::to_string),
        default_name: config.default_ccache_name_for(uid).ok(),
        preferred_realm: settings.preferred_realm.clone(),
        query: query.cloned(),
        dirs: settings
            .ccache_dirs
            .iter()
            .map(|dir| expand_dir(dir, uid))
            .collect(),
    };
    if settings.as_user {
        usercache::find_in_thread(request).await
    } else {
        request.find_here()
    }
}

/// Stores `credentials` in the cache named `cache` of `uid`, as MIT's
/// gss_init_sec_context stores the tickets it gets. A user's cache is
/// written only by a thread running as that uid (`settings.as_user`).
/// Without it, only the caller's own caches are written.
pub async fn store_user_credentials(
    config: &Config,
    uid: u32,
    settings: &CredsSettings,
    cache: &str,
    credentials: &[Credential],
) -> Result<(), CredsError> {
    let request = StoreRequest {
        uid,
        kcm_socket: config
            .libdefault_for_realm(None, "kcm_socket")
            .map(str::to_string),
        cache: cache.to_string(),
    };
    if settings.as_user {
        usercache::store_in_thread(request, credentials.to_vec()).await
    } else if uid == nix::unistd::geteuid().as_raw() {
        request.store_here(credentials)
    } else {
        Err(CredsError::new(format!(
            "not storing tickets in cache {cache} of uid {uid}: the daemon does not run as that uid"
        )))
    }
}

/// Finds a valid ticket for `query` (when given) or else a valid TGT for
/// `uid`, reading with the calling thread's rights. The first place is the cache
/// that krb5.conf's `default_ccache_name` names for the uid
/// (`default_name`), then the other caches of its collection. Then come the
/// caches named `*krb5cc*` and owned by the uid in the search directories
/// `dirs`, preferring `preferred_realm` and then the newest. Within one
/// cache a service ticket comes before the TGT.
#[allow(clippy::too_many_arguments)]
pub fn find_user_credential(
    default_name: Option<&str>,
    uid: u32,
    dirs: &[String],
    preferred_realm: Option<&str>,
    options: &ResolveOptions,
    skip_machine_caches: bool,
    now: u32,
    query: Option<&TicketQuery>,
) -> Result<UserCredential, CredsError> {
    let mut saw_cache = false;

    if let Some(name) = default_name {
        match valid_credential(name, uid, now, options, query) {
            Ok(Some(found)) => return Ok(found),
            Ok(None) => saw_cache = true,
            Err(()) => {}
        }
        // The other caches of a DIR, KEYRING or KCM collection.
        for cache in ccache::collection_with(name, options).unwrap_or_default() {
            match credential_in(cache.as_ref(), uid, now, query) {
                Ok(Some(found)) => return Ok(found),
                Ok(None) => saw_cache = true,
                Err(()) => {}
            }
        }
    }

    let mut candidates = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if !file_name.contains("krb5cc") {
                continue;
            }
            if skip_machine_caches && file_name.contains("machine_") {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if meta.uid() != uid {
                continue;
            }
            let path = entry.path();
            let name = if meta.is_file() {
                format!("FILE:{}", path.display())
            } else if meta.is_dir() {
                format!("DIR:{}", path.display())
            } else {
                continue;
            };
            candidates.push(Candidate {
                name,
                mtime: meta.mtime(),
            });
        }
    }
    candidates.sort_by_key(|c| std::cmp::Reverse(c.mtime));

    let mut valid = Vec::new();
    for candidate in &candidates {
        match valid_credential(&candidate.name, uid, now, options, query) {
            Ok(Some(found)) => valid.push(found),
            Ok(None) | Err(()) => saw_cache = true,
        }
    }
    if let Some(realm) = preferred_realm {
        if let Some(index) = valid.iter().position(|t| t.client().realm == realm) {
            return Ok(valid.swap_remove(index));
        }
    }
    if let Some(found) = valid.into_iter().next() {
        return Ok(found);
    }

    Err(CredsError {
        message: if saw_cache {
            format!("the credential caches of uid {uid} hold no valid ticket-granting ticket; run kinit")
        } else {
            format!(
                "no credential cache for uid {uid} in {} or the default cache; run kinit",
                dirs.join(":")
            )
        },
        expired: saw_cache,
    })
}

/// Reads a cache and returns its valid credential as [`credential_in`]
/// does. `Err(())` means the cache does not exist or cannot be read.
fn valid_credential(
    name: &str,
    uid: u32,
    now: u32,
    options: &ResolveOptions,
    query: Option<&TicketQuery>,
) -> Result<Option<UserCredential>, ()> {
    let cache = ccache::resolve_with(name, options).map_err(|_| ())?;
    credential_in(cache.as_ref(), uid, now, query)
}

/// Returns the cache's usable ticket for `query`, else its valid TGT for
/// the default principal's own realm.
fn credential_in(
    cache: &dyn CredentialCache,
    uid: u32,
    now: u32,
    query: Option<&TicketQuery>,
) -> Result<Option<UserCredential>, ()> {
    let principal = cache.principal().map_err(|e| {
        debug!("skipping cache {} of uid {uid}: {e}", cache.name());
    })?;
    let credentials = cache.credentials().map_err(|_| ())?;
    if let Some(query) = query {
        if let Some(ticket) = usable_service_ticket(&credentials, &principal, query, now) {
            debug!(
                "cache {} of uid {uid} holds a usable ticket for {}",
                cache.name(),
                query.service
            );
            return Ok(Some(UserCredential::ServiceTicket(ticket.clone())));
        }
    }
    let tgs = Principal::krbtgt(&principal.realm, &principal.realm);
    Ok(credentials
        .into_iter()
        .find(|c| c.server.same_name(&tgs) && c.endtime > now && c.client.same_name(&principal))
        .map(|tgt| UserCredential::Tgt {
            tgt,
            cache: cache.name(),
        }))
}

/// Picks the ticket for `query.service` that an upcall may use. It must be
/// issued to the cache's principal, not user-to-user, and not marked
/// invalid (an unvalidated postdated ticket). It must start within
/// [`EXPIRY_MARGIN`] seconds (the clock skew servers allow) and stay valid
/// for more than [`EXPIRY_MARGIN`] seconds. Its session key enctype must be
/// in `query.enctypes`, since the kernel cannot use any other. An entry
/// stored under the service's realm comes first. MIT krb5 (1.20's
/// gss_init_sec_context and `kvno -S`) stores a ticket under the name it
/// requested. That name has an empty realm when krb5.conf maps the host to
/// no realm and the KDC's referrals find it, so such an entry comes next.
pub fn usable_service_ticket<'a>(
    credentials: &'a [Credential],
    client: &Principal,
    query: &TicketQuery,
    now: u32,
) -> Option<&'a Credential> {
    let usable = |c: &&Credential| {
        c.server.components == query.service.components
            && c.client.same_name(client)
            && !c.is_skey
            && c.flags & ticket_flags::INVALID == 0
            && c.starttime <= now.saturating_add(EXPIRY_MARGIN)
            && c.endtime > now.saturating_add(EXPIRY_MARGIN)
            && query.enctypes.contains(&c.session_key.enctype())
    };
    let in_realm = credentials
        .iter()
        .filter(usable)
        .find(|c| c.server.realm == query.service.realm);
    in_realm.or_else(|| {
        credentials
            .iter()
            .filter(usable)
            .find(|c| c.server.realm.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use krb5::crypto::Key;
    use krb5::keytab::KeytabEntry;

    fn keytab(names: &[&str]) -> Keytab {
        let mut keytab = Keytab::new();
        for name in names {
            keytab.add_entry(KeytabEntry {
                principal: Principal::parse(name, None).unwrap(),
                timestamp: 0,
                kvno: 1,
                key: Key::from_raw(18, vec![0; 32]),
            });
        }
        keytab
    }

    fn host() -> LocalHost {
        LocalHost {
            fqdn: "client.example.test".into(),
            short: "client".into(),
        }
    }

    #[test]
    fn machine_principal_order() {
        let realms = vec!["EXAMPLE.TEST".to_string()];
        let all = machine_services(None);
        let kt = keytab(&[
            "host/client.example.test@EXAMPLE.TEST",
            "nfs/client.example.test@EXAMPLE.TEST",
        ]);
        assert_eq!(
            find_machine_principal(&kt, &host(), &all, &realms)
                .unwrap()
                .to_string(),
            "nfs/client.example.test@EXAMPLE.TEST"
        );

        let kt = keytab(&[
            "CLIENT$@EXAMPLE.TEST",
            "nfs/client.example.test@EXAMPLE.TEST",
        ]);
        assert_eq!(
            find_machine_principal(&kt, &host(), &all, &realms)
                .unwrap()
                .to_string(),
            "CLIENT$@EXAMPLE.TEST"
        );
    }

    #[test]
    fn machine_principal_any_instance_and_service_restriction() {
        let realms = vec!["EXAMPLE.TEST".to_string()];
        let kt = keytab(&["host/other.example.test@EXAMPLE.TEST"]);
        assert_eq!(
            find_machine_principal(&kt, &host(), &machine_services(Some("*")), &realms)
                .unwrap()
                .to_string(),
            "host/other.example.test@EXAMPLE.TEST"
        );
        assert!(
            find_machine_principal(&kt, &host(), &machine_services(Some("nfs")), &realms).is_none()
        );
        assert!(
            find_machine_principal(&kt, &host(), &machine_services(None), &["OTHER".into()])
                .is_none()
        );
    }

    fn service_ticket(server: &str, enctype: i32, endtime: u32) -> Credential {
        Credential {
            client: Principal::parse("alice@EXAMPLE.TEST", None).unwrap(),
            server: Principal::parse(server, None).unwrap(),
            session_key: Key::from_raw(enctype, vec![1; 32]),
            authtime: 1_000,
            starttime: 1_000,
            endtime,
            renew_till: 0,
            is_skey: false,
            flags: 0,
            addresses: Vec::new(),
            authdata: Vec::new(),
            ticket: vec![0x61, 0x00],
            second_ticket: Vec::new(),
        }
    }

    #[test]
    fn cached_service_ticket_choice() {
        let now = 10_000;
        let alice = Principal::parse("alice@EXAMPLE.TEST", None).unwrap();
        let query = TicketQuery {
            service: Principal::host_service("nfs", "server.example.test", "EXAMPLE.TEST"),
            enctypes: vec![18, 17],
        };
        let pick = |credentials: &[Credential]| {
            usable_service_ticket(credentials, &alice, &query, now).cloned()
        };
        let good = service_ticket("nfs/server.example.test@EXAMPLE.TEST", 18, now + 3600);
        assert_eq!(pick(std::slice::from_ref(&good)), Some(good.clone()));

        let rejected = [
            ("an enctype the kernel did not offer", {
                service_ticket("nfs/server.example.test@EXAMPLE.TEST", 20, now + 3600)
            }),
            ("expiring within the margin", {
                service_ticket("nfs/server.example.test@EXAMPLE.TEST", 18, now + 60)
            }),
            ("another realm", {
                service_ticket("nfs/server.example.test@OTHER.TEST", 18, now + 3600)
            }),
            ("another host", {
                service_ticket("nfs/other.example.test@EXAMPLE.TEST", 18, now + 3600)
            }),
            ("another client", {
                Credential {
                    client: Principal::parse("bob@EXAMPLE.TEST", None).unwrap(),
                    ..good.clone()
                }
            }),
            ("user-to-user", {
                Credential {
                    is_skey: true,
                    ..good.clone()
                }
            }),
            ("postdated and not validated", {
                Credential {
                    flags: ticket_flags::INVALID,
                    ..good.clone()
                }
            }),
            ("starting later", {
                Credential {
                    starttime: now + 3000,
                    ..good.clone()
                }
            }),
        ];
        for (case, credential) in rejected {
            assert_eq!(pick(&[credential]), None, "{case}");
        }

        // MIT stores a ticket got through referrals under an empty realm;
        // an entry under the service's realm is preferred.
        let referral = service_ticket("nfs/server.example.test@", 17, now + 3600);
        assert_eq!(
            pick(std::slice::from_ref(&referral)),
            Some(referral.clone())
        );
        assert_eq!(pick(&[referral, good.clone()]), Some(good));
    }

    #[test]
    fn search_dir_expansion() {
        assert_eq!(expand_dir("/run/user/%U", 1001), "/run/user/1001");
        assert_eq!(expand_dir("/tmp/%%U", 5), "/tmp/%U");
    }
}
