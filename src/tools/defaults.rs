//! The names the tools use when the command line gives none: default
//! credential cache, keytab, client keytab and host name, taken from the
//! environment first and krb5.conf second, as MIT krb5 1.20 does.

use krb5::config::realms::clean_hostname;
use krb5::config::{Config, ConfigError};
use krb5::locate::{self, LocateError};
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
    Locate(#[from] LocateError),
    #[error("no realm for host {0}: add it to [domain_realm] or set default_realm in krb5.conf")]
    NoRealm(String),
}

/// Builds `service/HOST@REALM` for the local host, as MIT's
/// `krb5_sname_to_principal` does with no host name given: the host name
/// from gethostname(2), canonicalized as `dns_canonicalize_hostname` and
/// `rdns` say, and the realm from `[domain_realm]`, DNS TXT records when
/// `dns_lookup_realm` is set, or the default realm.
pub async fn local_host_principal(
    config: &Config,
    service: &str,
) -> Result<Principal, HostPrincipalError> {
    let hostname = nix::unistd::gethostname().map_err(HostPrincipalError::Hostname)?;
    let hostname = hostname
        .into_string()
        .map_err(|_| HostPrincipalError::HostnameNotUtf8)?;

    // With `fallback`, the first name is the one as given, which MIT's
    // kinit -k also uses.
    let names = locate::canonicalize_host(config, &hostname).await?;
    let host = names
        .into_iter()
        .next()
        .unwrap_or_else(|| clean_hostname(&hostname));
    let realm = locate::realm_for_host(config, &host)
        .await?
        .ok_or_else(|| HostPrincipalError::NoRealm(host.clone()))?;
    Ok(Principal::host_service(service, &host, &realm))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_principal_takes_default_realm() {
        let config = Config::from_text(
            "[libdefaults]\n default_realm = DEFAULT.TEST\n dns_canonicalize_hostname = false\n qualify_shortname = \"\"\n",
            "test",
        )
        .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let principal = runtime
            .block_on(local_host_principal(&config, "host"))
            .unwrap();
        assert_eq!(principal.components[0], "host");
        assert_eq!(principal.realm, "DEFAULT.TEST");
        let hostname = nix::unistd::gethostname().unwrap().into_string().unwrap();
        assert_eq!(principal.components[1], clean_hostname(&hostname));
    }
}
