//! The names the tools use when the command line gives none: default
//! credential cache, keytab, client keytab and host name, taken from the
//! environment first and krb5.conf second, as MIT krb5 1.20 does.

use krb5::config::{CanonicalizeHostname, Config, ConfigError};
use krb5::Principal;

/// The credential cache named by KRB5CCNAME, else `default_ccache_name`.
pub fn ccache_name(config: &Config) -> Result<String, ConfigError> {
    match non_empty_env("KRB5CCNAME") {
        Some(name) => Ok(name),
        None => config.default_ccache_name_for(nix::unistd::getuid().as_raw()),
    }
}

/// The keytab named by KRB5_KTNAME, else `default_keytab_name`.
pub fn keytab_name(config: &Config) -> Result<String, ConfigError> {
    match non_empty_env("KRB5_KTNAME") {
        Some(name) => Ok(name),
        None => config.default_keytab_name_for(nix::unistd::geteuid().as_raw()),
    }
}

/// The client keytab named by KRB5_CLIENT_KTNAME, else
/// `default_client_keytab_name`.
pub fn client_keytab_name(config: &Config) -> Result<String, ConfigError> {
    match non_empty_env("KRB5_CLIENT_KTNAME") {
        Some(name) => Ok(name),
        None => config.default_client_keytab_name_for(nix::unistd::geteuid().as_raw()),
    }
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Errors from building the local host's service principal.
#[derive(Debug, thiserror::Error)]
pub enum HostPrincipalError {
    #[error("cannot read the host name: {0}")]
    Hostname(nix::Error),
    #[error("the host name is not valid UTF-8")]
    HostnameNotUtf8,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("no realm for host {0}: add it to [domain_realm] or set default_realm in krb5.conf")]
    NoRealm(String),
}

/// Builds `service/HOST@REALM` for the local host, as MIT's
/// `krb5_sname_to_principal` does with no host name given: the host name
/// from gethostname(2), canonicalized unless `dns_canonicalize_hostname`
/// is false, and lowercased; the realm from `[domain_realm]`, else the
/// default realm.
pub fn local_host_principal(
    config: &Config,
    service: &str,
) -> Result<Principal, HostPrincipalError> {
    let hostname = nix::unistd::gethostname().map_err(HostPrincipalError::Hostname)?;
    let hostname = hostname
        .into_string()
        .map_err(|_| HostPrincipalError::HostnameNotUtf8)?;

    let host = match config.dns_canonicalize_hostname()? {
        CanonicalizeHostname::False => hostname,
        CanonicalizeHostname::True | CanonicalizeHostname::Fallback => {
            canonical_name_from_hosts(&hostname, &read_hosts_file()).unwrap_or(hostname)
        }
    };
    let host = krb5::config::realms::clean_hostname(&host);

    let realm = match config.domain_realm(&host) {
        Some(realm) => realm.to_string(),
        None => config
            .default_realm()
            .ok_or_else(|| HostPrincipalError::NoRealm(host.clone()))?
            .to_string(),
    };
    Ok(Principal::host_service(service, &host, &realm))
}

fn read_hosts_file() -> String {
    std::fs::read_to_string("/etc/hosts").unwrap_or_default()
}

/// Returns the canonical name `/etc/hosts` gives `name`: the first name on
/// the first line that lists it, as getaddrinfo(3) with AI_CANONNAME does
/// for names found there.
///
/// NOTE: names that only DNS knows are not canonicalized, where MIT (through
/// the C library's resolver) would follow CNAME records.
pub fn canonical_name_from_hosts(name: &str, hosts: &str) -> Option<String> {
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let Some(_address) = fields.next() else {
            continue;
        };
        let names: Vec<&str> = fields.collect();
        if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return names.first().map(|n| n.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTS: &str = "\
127.0.0.1\tlocalhost
# 10.0.0.9 nfs1
10.0.0.5   nfs1.example.test nfs1   # the file server
::1 localhost ip6-localhost
";

    #[test]
    fn canonical_name_is_first_on_line() {
        assert_eq!(
            canonical_name_from_hosts("nfs1", HOSTS).as_deref(),
            Some("nfs1.example.test")
        );
        assert_eq!(
            canonical_name_from_hosts("NFS1.example.test", HOSTS).as_deref(),
            Some("nfs1.example.test")
        );
        assert_eq!(
            canonical_name_from_hosts("ip6-localhost", HOSTS).as_deref(),
            Some("localhost")
        );
    }

    #[test]
    fn canonical_name_ignores_comments_and_unknown() {
        assert_eq!(canonical_name_from_hosts("10.0.0.9", HOSTS), None);
        assert_eq!(canonical_name_from_hosts("server", HOSTS), None);
        assert_eq!(canonical_name_from_hosts("the", HOSTS), None);
    }

    #[test]
    fn host_principal_takes_domain_realm() {
        let config = Config::from_text(
            "[libdefaults]\n default_realm = DEFAULT.TEST\n dns_canonicalize_hostname = false\n",
            "test",
        )
        .unwrap();
        let principal = local_host_principal(&config, "host").unwrap();
        assert_eq!(principal.components[0], "host");
        assert_eq!(principal.realm, "DEFAULT.TEST");
        let hostname = nix::unistd::gethostname().unwrap().into_string().unwrap();
        assert_eq!(principal.components[1], hostname.to_ascii_lowercase());
    }
}
