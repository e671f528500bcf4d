//! The KDC client for the tools, built from krb5.conf.

use std::sync::Arc;

use krb5::config::Config;
use krb5::kdc::{KdcClient, Settings};
use krb5::locate::{self, LocateError};

/// Builds a KDC client from krb5.conf: its `[libdefaults]` settings,
/// `[capaths]`, and the `kdc` entries of every realm in `[realms]`.
///
/// TODO: drop the KDC list once `KdcClient::send` locates the KDCs of a
/// realm missing from `Settings::kdcs` itself (krb5.conf, then DNS SRV).
pub fn kdc_client(config: &Config) -> Result<KdcClient, LocateError> {
    let mut settings = Settings::from_config(config)?;
    for realm in config.section_names(&["realms"]) {
        let Some(servers) = locate::configured_kdcs(config, realm)? else {
            continue;
        };
        settings.kdcs.insert(realm.to_string(), servers);
    }
    Ok(KdcClient::with_config(settings, Arc::new(config.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use krb5::kdc::Transport;

    #[test]
    fn client_lists_configured_kdcs() {
        let config = Config::from_text(
            "[libdefaults]\n udp_preference_limit = 1\n\
             [realms]\n A.TEST = {\n  kdc = 127.0.0.1:1\n  kdc = tcp/127.0.0.1:2\n }\n B.TEST = {\n  kdc = b\n }\n",
            "test",
        )
        .unwrap();
        let client = kdc_client(&config).unwrap();
        let settings = client.settings();
        assert_eq!(settings.udp_preference_limit, 1);
        let ports: Vec<u16> = settings.kdcs["A.TEST"].iter().map(|k| k.port).collect();
        assert_eq!(ports, [1, 2]);
        assert_eq!(settings.kdcs["A.TEST"][1].transport, Transport::Tcp);
        assert_eq!(settings.kdcs["B.TEST"][0].host, "b");
        assert_eq!(settings.kdcs["B.TEST"][0].port, 88);
    }

    #[test]
    fn invalid_kdc_entry_is_reported() {
        let config =
            Config::from_text("[realms]\n A.TEST = {\n  kdc = host:x\n }\n", "test").unwrap();
        let error = kdc_client(&config).unwrap_err().to_string();
        assert!(error.contains("\"host:x\""), "{error}");
    }
}
