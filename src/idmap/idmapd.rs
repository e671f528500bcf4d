//! Principal-to-identity mapping configured by idmapd.conf, with the
//! semantics rpc.svcgssd gets from libnfsidmap 2.9 (`nfs4_gss_princ_to_ids`
//! with the `nsswitch` and `static` methods), reading accounts from the
//! passwd and group files instead of NSS.
//!
//! The idmapd.conf settings used:
//! - `[General] Domain`: the NFSv4 domain. Default: the host's DNS domain
//!   (see [`super::hostdomain`]), else `localdomain`.
//! - `[General] Local-Realms`: the realms whose principals the `nsswitch`
//!   method maps. Default: the domain in upper case, as libnfsidmap's
//!   `get_local_realms` computes it. The idmapd.conf man page promises the
//!   host's default realm instead, but rgssd follows the code so that it
//!   maps as rpc.idmapd and nfsidmap on the same host do.
//! - `[Translation] GSS-Methods`, else `[Translation] Method`, else
//!   `nsswitch`: the methods, tried in order until one finds the name.
//! - `[Static]`: `principal@REALM = localuser` for the `static` method.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use krb5::Principal;

use super::hostdomain::{self, FALLBACK_DOMAIN};
use super::passwd::{AccountFiles, Accounts, User};
use super::{Identity, IdentityMapper, IdmapError};
use crate::config::{Config, IDMAPD_CONF};
use crate::kernel::rpcsec::MAX_GROUPS;

/// A translation method of `[Translation] GSS-Methods`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Strips the realm of a local realm's principal and looks the rest up
    /// as a user name.
    Nsswitch,
    /// Looks the whole principal up in `[Static]` for a user name.
    Static,
}

impl Method {
    /// Returns the method of a `Method` or `GSS-Methods` entry. Names match
    /// exactly, as libnfsidmap's plugin file names do.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "nsswitch" => Some(Method::Nsswitch),
            "static" => Some(Method::Static),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Nsswitch => "nsswitch",
            Method::Static => "static",
        }
    }
}

/// The source of the user and group databases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountSource {
    /// passwd and group files, checked again for each mapping so that
    /// account changes apply without a restart, as NSS lookups do.
    Files { passwd: PathBuf, group: PathBuf },
    /// Accounts given once, for tests and tools.
    Fixed(Accounts),
}

impl AccountSource {
    /// Returns /etc/passwd and /etc/group.
    pub fn system() -> Self {
        AccountSource::Files {
            passwd: PathBuf::from("/etc/passwd"),
            group: PathBuf::from("/etc/group"),
        }
    }
}

/// The outcome of one method: a user, or a name the method does not know,
/// so that the next method runs.
enum Lookup<'a> {
    Found(&'a User),
    NotFound,
}

/// The identity mapper of rpc.svcgssd, configured by idmapd.conf.
#[derive(Debug, Clone)]
pub struct IdmapdMapper {
    config: Config,
    domain: String,
    local_realms: Vec<String>,
    methods: Vec<Method>,
    skipped_methods: Vec<String>,
    accounts: MapperAccounts,
}

/// The user and group databases of a mapper. The files are shared by the
/// clones of the mapper, so that they parse them once.
#[derive(Debug, Clone)]
enum MapperAccounts {
    Files(Arc<AccountFiles>),
    Fixed(Arc<Accounts>),
}

impl IdmapdMapper {
    /// Builds a mapper from a loaded idmapd.conf. `host_domain` is the
    /// domain to use when `[General] Domain` is not set, and `None` means
    /// `localdomain`.
    ///
    /// NOTE: Methods other than `nsswitch` and `static` (`umich_ldap`,
    /// `regex`, plugins) are skipped with one warning each. libnfsidmap
    /// instead fails to load, and then maps no principal at all.
    pub fn new(config: Config, host_domain: Option<&str>, accounts: AccountSource) -> Self {
        let domain = match config.get_str("General", None, "Domain") {
            Some(domain) => domain,
            None => {
                let domain = host_domain.unwrap_or(FALLBACK_DOMAIN).to_string();
                log::info!("idmapd.conf sets no Domain, so the NFSv4 domain defaults to {domain}");
                domain
            }
        };

        let local_realms = config
            .get_list("General", "Local-Realms")
            .unwrap_or_else(|| vec![domain.to_ascii_uppercase()]);

        let method_names = config
            .get_list("Translation", "GSS-Methods")
            .or_else(|| config.get_list("Translation", "Method"))
            .unwrap_or_else(|| vec![Method::Nsswitch.name().to_string()]);
        let mut methods = Vec::new();
        let mut skipped_methods = Vec::new();
        for name in method_names {
            match Method::from_name(&name) {
                Some(method) => methods.push(method),
                None => {
                    log::warn!(
                        "idmapd.conf names the translation method {name:?}, which rgssd does not \
                         implement, so it is skipped; use nsswitch or static"
                    );
                    skipped_methods.push(name);
                }
            }
        }

        Self {
            config,
            domain,
            local_realms,
            methods,
            skipped_methods,
            accounts: match accounts {
                AccountSource::Files { passwd, group } => {
                    MapperAccounts::Files(Arc::new(AccountFiles::new(&passwd, &group)))
                }
                AccountSource::Fixed(accounts) => MapperAccounts::Fixed(Arc::new(accounts)),
            },
        }
    }

    /// Returns the accounts, parsing the files again only when one of them
    /// changed since the last mapping.
    fn accounts(&self) -> Result<Arc<Accounts>, IdmapError> {
        match &self.accounts {
            MapperAccounts::Fixed(accounts) => Ok(Arc::clone(accounts)),
            MapperAccounts::Files(files) => files
                .current()
                .map_err(|e| IdmapError::Accounts(format!("reading {files} failed: {e}"))),
        }
    }

    /// Builds the mapper as rpc.svcgssd does on this host: /etc/idmapd.conf
    /// and its family, the host's DNS domain from uname(2) and /etc/hosts,
    /// and /etc/passwd and /etc/group. Logs the configuration's warnings.
    pub fn from_system() -> Self {
        let config = Config::load(IDMAPD_CONF);
        for warning in config.warnings() {
            log::warn!("{warning}");
        }
        let host_domain = hostdomain::host_dns_domain(Path::new("/etc/hosts"));
        let mapper = Self::new(config, host_domain.as_deref(), AccountSource::system());
        log::info!(
            "identity mapping: NFSv4 domain {}, local realms {:?}, methods {:?}",
            mapper.domain,
            mapper.local_realms,
            mapper.methods
        );
        mapper
    }

    /// Returns the NFSv4 domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Returns the realms whose principals the `nsswitch` method maps.
    pub fn local_realms(&self) -> &[String] {
        &self.local_realms
    }

    /// Returns the methods to try, in order.
    pub fn methods(&self) -> &[Method] {
        &self.methods
    }

    /// Returns the configured method names that rgssd does not implement
    /// and so skips.
    pub fn skipped_methods(&self) -> &[String] {
        &self.skipped_methods
    }

    /// Maps `name`, the display form of a principal authenticated by the
    /// mechanism `mech` (the kernel's name, `krb5` or `spkm3`), as
    /// libnfsidmap's `nfs4_gss_princ_to_ids` does. Returns
    /// [`Identity::unmapped`] when no method finds the name, and an error
    /// for a name or mechanism that a method cannot handle.
    ///
    /// The groups are the mapped user's primary group followed by its
    /// supplementary groups, as getgrouplist(3) lists them.
    ///
    /// NOTE: rpc.svcgssd queries the methods for the groups in a second pass,
    /// where `nsswitch` skips the realm check. With `GSS-Methods = nsswitch,
    /// static` that can pair the static user's ids with the groups of the
    /// local user named like the principal. rgssd always takes the groups of
    /// the user whose ids it returns.
    pub fn map_name(&self, mech: &str, name: &str) -> Result<Identity, IdmapError> {
        let accounts = self.accounts()?;

        for method in &self.methods {
            let lookup = match method {
                Method::Nsswitch => self.lookup_nsswitch(mech, name, &accounts)?,
                Method::Static => self.lookup_static(mech, name, &accounts)?,
            };
            if let Lookup::Found(user) = lookup {
                log::debug!("{} method maps {name} to user {}", method.name(), user.name);
                return Ok(identity_of(user, &accounts));
            }
        }

        log::debug!("no translation method maps {name}, so it gets the anonymous ids");
        Ok(Identity::unmapped())
    }

    fn lookup_nsswitch<'a>(
        &self,
        mech: &str,
        name: &str,
        accounts: &'a Accounts,
    ) -> Result<Lookup<'a>, IdmapError> {
        if mech == "spkm3" {
            return Ok(Lookup::NotFound);
        }
        if mech != "krb5" {
            return Err(failed(
                name,
                format!("the nsswitch method cannot map names of mechanism {mech}"),
            ));
        }

        // libnfsidmap takes the realm after the first '@' but the user name
        // before the last one. An escaped "\@" in a component thus makes the
        // realm check fail.
        let Some((_, realm)) = name.split_once('@') else {
            return Err(failed(name, "the name has no realm".to_string()));
        };
        if !self.local_realms.iter().any(|local| local == realm) {
            log::debug!(
                "realm {realm} of {name} is not in Local-Realms {:?}",
                self.local_realms
            );
            return Ok(Lookup::NotFound);
        }

        let user_name = name.rsplit_once('@').map_or(name, |(user, _)| user);
        Ok(match accounts.user(user_name) {
            Some(user) => Lookup::Found(user),
            None => Lookup::NotFound,
        })
    }

    fn lookup_static<'a>(
        &self,
        mech: &str,
        name: &str,
        accounts: &'a Accounts,
    ) -> Result<Lookup<'a>, IdmapError> {
        if mech != "krb5" && mech != "spkm3" {
            return Err(failed(
                name,
                format!("the static method cannot map names of mechanism {mech}"),
            ));
        }

        let Some(local) = self.config.get_str("Static", None, name) else {
            return Ok(Lookup::NotFound);
        };
        match accounts.user(&local) {
            Some(user) => Ok(Lookup::Found(user)),
            None => {
                log::warn!(
                    "idmapd.conf maps {name} to user {local}, which is not in the passwd file"
                );
                Ok(Lookup::NotFound)
            }
        }
    }
}

impl IdentityMapper for IdmapdMapper {
    /// Maps a krb5 principal through its display form.
    fn map(&self, principal: &Principal) -> Result<Identity, IdmapError> {
        self.map_name("krb5", &principal.to_string())
    }
}

fn failed(name: &str, reason: String) -> IdmapError {
    IdmapError::Failed {
        principal: name.to_string(),
        reason,
    }
}

fn identity_of(user: &User, accounts: &Accounts) -> Identity {
    let mut groups = vec![user.gid];
    groups.extend(accounts.supplementary_groups(user));
    if groups.len() > MAX_GROUPS {
        log::warn!(
            "user {} is in {} groups, more than the kernel's limit of {MAX_GROUPS}, so the rest are dropped",
            user.name,
            groups.len()
        );
        groups.truncate(MAX_GROUPS);
    }

    Identity {
        uid: i64::from(user.uid),
        gid: i64::from(user.gid),
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        alice:x:1001:1001:Alice:/home/alice:/bin/sh\n\
        bob:x:1002:100:Bob:/home/bob:/bin/sh\n\
        nfsclient:x:990:990:client machine:/:/usr/sbin/nologin\n";
    const GROUP: &str = "root:x:0:\n\
        users:x:100:alice\n\
        alice:x:1001:\n\
        staff:x:50:alice,bob\n\
        nfsclient:x:990:\n";

    fn mapper(idmapd_conf: &str) -> IdmapdMapper {
        let config = Config::parse_str(idmapd_conf, Path::new("/test/idmapd.conf"));
        assert!(config.warnings().is_empty(), "{:?}", config.warnings());
        IdmapdMapper::new(
            config,
            Some("host.example"),
            AccountSource::Fixed(Accounts::parse(PASSWD, GROUP)),
        )
    }

    fn ids(identity: &Identity) -> (i64, i64, Vec<u32>) {
        (identity.uid, identity.gid, identity.groups.clone())
    }

    fn alice() -> (i64, i64, Vec<u32>) {
        (1001, 1001, vec![1001, 100, 50])
    }

    fn unmapped() -> (i64, i64, Vec<u32>) {
        (-1, -1, Vec::new())
    }

    fn map(mapper: &IdmapdMapper, name: &str) -> (i64, i64, Vec<u32>) {
        ids(&mapper.map_name("krb5", name).unwrap())
    }

    const EXAMPLE_COM: &str = "[General]\nDomain = example.com\n";

    #[test]
    fn user_principal_maps() {
        let mapper = mapper(EXAMPLE_COM);
        assert_eq!(map(&mapper, "alice@EXAMPLE.COM"), alice());
        assert_eq!(
            ids(&mapper
                .map(&Principal::new(vec!["bob"], "EXAMPLE.COM"))
                .unwrap()),
            (1002, 100, vec![100, 50])
        );
    }

    #[test]
    fn machine_principal_unmapped() {
        let mapper = mapper(EXAMPLE_COM);
        assert_eq!(
            map(&mapper, "nfs/client.example.com@EXAMPLE.COM"),
            unmapped()
        );
        let principal = Principal::host_service("host", "client.example.com", "EXAMPLE.COM");
        assert_eq!(ids(&mapper.map(&principal).unwrap()), unmapped());
    }

    #[test]
    fn static_maps_machine_principal() {
        let mapper = mapper(
            "[General]\nDomain = example.com\n[Translation]\nMethod = static,nsswitch\n\
             [Static]\nnfs/client.example.com@EXAMPLE.COM = nfsclient\nhost/admin.example.com@EXAMPLE.COM = root\n",
        );
        assert_eq!(
            map(&mapper, "nfs/client.example.com@EXAMPLE.COM"),
            (990, 990, vec![990])
        );
        assert_eq!(
            map(&mapper, "NFS/CLIENT.example.com@example.com"),
            (990, 990, vec![990])
        );
        assert_eq!(
            map(&mapper, "host/admin.example.com@EXAMPLE.COM"),
            (0, 0, vec![0])
        );
        assert_eq!(map(&mapper, "alice@EXAMPLE.COM"), alice());
        assert_eq!(
            map(&mapper, "nfs/other.example.com@EXAMPLE.COM"),
            unmapped()
        );
    }

    #[test]
    fn foreign_realm_unmapped() {
        let mapper = mapper(EXAMPLE_COM);
        assert_eq!(map(&mapper, "alice@OTHER.ORG"), unmapped());
        // Realms compare exactly, as libnfsidmap's strcmp does.
        assert_eq!(map(&mapper, "alice@example.com"), unmapped());
    }

    #[test]
    fn several_local_realms() {
        let mapper = mapper("[General]\nDomain = example.com\nLocal-Realms = EXAMPLE.COM, CORP.EXAMPLE.COM ,OTHER.ORG\n");
        assert_eq!(
            mapper.local_realms(),
            ["EXAMPLE.COM", "CORP.EXAMPLE.COM", "OTHER.ORG"]
        );
        assert_eq!(map(&mapper, "alice@EXAMPLE.COM"), alice());
        assert_eq!(map(&mapper, "alice@CORP.EXAMPLE.COM"), alice());
        assert_eq!(map(&mapper, "alice@OTHER.ORG"), alice());
        assert_eq!(map(&mapper, "alice@THIRD.NET"), unmapped());
    }

    #[test]
    fn local_realms_replace_default() {
        let mapper = mapper("[General]\nDomain = example.com\nLocal-Realms = OTHER.ORG\n");
        assert_eq!(map(&mapper, "alice@EXAMPLE.COM"), unmapped());
        assert_eq!(map(&mapper, "alice@OTHER.ORG"), alice());
    }

    #[test]
    fn method_order_decides() {
        let statics = "[Static]\nalice@EXAMPLE.COM = bob\n";
        let nss_first = mapper(&format!(
            "{EXAMPLE_COM}[Translation]\nMethod = nsswitch, static\n{statics}"
        ));
        let static_first = mapper(&format!(
            "{EXAMPLE_COM}[Translation]\nMethod = static, nsswitch\n{statics}"
        ));
        assert_eq!(map(&nss_first, "alice@EXAMPLE.COM"), alice());
        assert_eq!(
            map(&static_first, "alice@EXAMPLE.COM"),
            (1002, 100, vec![100, 50])
        );
    }

    #[test]
    fn gss_methods_override_method() {
        let mapper = mapper(
            "[General]\nDomain = example.com\n[Translation]\nMethod = nsswitch\nGSS-Methods = static\n\
             [Static]\nbob@EXAMPLE.COM = root\n",
        );
        assert_eq!(mapper.methods(), [Method::Static]);
        assert_eq!(map(&mapper, "alice@EXAMPLE.COM"), unmapped());
        assert_eq!(map(&mapper, "bob@EXAMPLE.COM"), (0, 0, vec![0]));
    }

    #[test]
    fn default_method_is_nsswitch() {
        let mapper = mapper("");
        assert_eq!(mapper.methods(), [Method::Nsswitch]);
        assert!(mapper.skipped_methods().is_empty());
    }

    #[test]
    fn domain_defaults() {
        let from_host = mapper("");
        assert_eq!(from_host.domain(), "host.example");
        assert_eq!(from_host.local_realms(), ["HOST.EXAMPLE"]);
        assert_eq!(map(&from_host, "alice@HOST.EXAMPLE"), alice());

        let fallback = IdmapdMapper::new(
            Config::new(),
            None,
            AccountSource::Fixed(Accounts::default()),
        );
        assert_eq!(fallback.domain(), "localdomain");
        assert_eq!(fallback.local_realms(), ["LOCALDOMAIN"]);
    }

    #[test]
    fn empty_local_realms_map_nothing() {
        let mapper = mapper("[General]\nDomain = example.com\nLocal-Realms = \" , \"\n");
        assert!(mapper.local_realms().is_empty());
        assert_eq!(map(&mapper, "alice@EXAMPLE.COM"), unmapped());
    }

    #[test]
    fn unknown_methods_skipped() {
        let mapper = mapper("[General]\nDomain = example.com\n[Translation]\nMethod = umich_ldap, regex, Nsswitch, nsswitch\n");
        assert_eq!(mapper.methods(), [Method::Nsswitch]);
        assert_eq!(
            mapper.skipped_methods(),
            ["umich_ldap", "regex", "Nsswitch"]
        );
        assert_eq!(map(&mapper, "alice@EXAMPLE.COM"), alice());
    }

    #[test]
    fn static_target_missing_falls_through() {
        let mapper = mapper(
            "[General]\nDomain = example.com\n[Translation]\nMethod = static, nsswitch\n\
             [Static]\nalice@EXAMPLE.COM = nosuchuser\n",
        );
        assert_eq!(map(&mapper, "alice@EXAMPLE.COM"), alice());
    }

    #[test]
    fn spkm3_only_static_maps() {
        // SPKM-3 names are X.509 distinguished names, whose '=' cannot occur
        // in a [Static] key, so in practice they never map.
        let mapper = mapper(
            "[General]\nDomain = example.com\n[Translation]\nMethod = nsswitch, static\n\
             [Static]\nspkm3-bob = bob\n/C=US/O=Example/CN=Carol = bob\n",
        );
        let bob = mapper.map_name("spkm3", "spkm3-bob").unwrap();
        assert_eq!(ids(&bob), (1002, 100, vec![100, 50]));
        let alice = mapper.map_name("spkm3", "alice@EXAMPLE.COM").unwrap();
        assert_eq!(ids(&alice), unmapped());
        let carol = mapper
            .map_name("spkm3", "/C=US/O=Example/CN=Carol")
            .unwrap();
        assert_eq!(ids(&carol), unmapped());
    }

    #[test]
    fn unknown_mechanism_fails() {
        let mapper = mapper(EXAMPLE_COM);
        assert!(matches!(
            mapper.map_name("lipkey", "alice@EXAMPLE.COM"),
            Err(IdmapError::Failed { .. })
        ));
    }

    #[test]
    fn name_without_realm_fails() {
        let mapper = mapper(EXAMPLE_COM);
        assert!(matches!(
            mapper.map_name("krb5", "alice"),
            Err(IdmapError::Failed { .. })
        ));
    }

    #[test]
    fn escaped_at_sign_unmapped() {
        let mapper = mapper(EXAMPLE_COM);
        let principal = Principal::new(vec!["alice@EXAMPLE.COM"], "EXAMPLE.COM");
        assert_eq!(principal.to_string(), "alice\\@EXAMPLE.COM@EXAMPLE.COM");
        assert_eq!(ids(&mapper.map(&principal).unwrap()), unmapped());
    }

    #[test]
    fn unreadable_accounts_fail() {
        let mapper = IdmapdMapper::new(
            Config::new(),
            Some("example.com"),
            AccountSource::Files {
                passwd: PathBuf::from("/"),
                group: PathBuf::from("/nonexistent/group"),
            },
        );
        assert!(matches!(
            mapper.map_name("krb5", "alice@EXAMPLE.COM"),
            Err(IdmapError::Accounts(_))
        ));
    }

    #[test]
    fn account_files_read_per_mapping() {
        let directory = std::env::temp_dir().join(format!("rgssd-idmap-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let passwd = directory.join("passwd");
        let group = directory.join("group");
        std::fs::write(&passwd, "").unwrap();
        std::fs::write(&group, GROUP).unwrap();
        let mapper = IdmapdMapper::new(
            Config::new(),
            Some("example.com"),
            AccountSource::Files {
                passwd: passwd.clone(),
                group,
            },
        );

        assert_eq!(map(&mapper, "alice@EXAMPLE.COM"), unmapped());
        std::fs::write(&passwd, PASSWD).unwrap();
        assert_eq!(map(&mapper, "alice@EXAMPLE.COM"), alice());

        // Unchanged files are not parsed again.
        let first = mapper.accounts().unwrap();
        let second = mapper.accounts().unwrap();
        assert!(Arc::ptr_eq(&first, &second));

        std::fs::remove_dir_all(&directory).unwrap();
    }
}
