//! The KDC client's settings from krb5.conf: the `kdc` entries of each
//! realm in `[realms]`, `[capaths]`, and the libdefaults the client uses.
//!
//! TODO: take the KDC list from the `locate` module (which adds DNS SRV
//! lookups when `dns_lookup_kdc` is set) once it provides one.

use std::collections::BTreeMap;

use krb5::config::{Config, ConfigError};
use krb5::kdc::{KdcEndpoint, Settings, Transport};

/// The port KDCs listen on when krb5.conf names none (RFC 4120 §7.2.3.1).
const KDC_PORT: u16 = 88;

/// Errors in the KDC settings of krb5.conf.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("invalid kdc {entry:?} for realm {realm} in krb5.conf: {reason}; use HOST, HOST:PORT or [ADDRESS]:PORT, optionally after tcp/ or udp/")]
    InvalidKdc {
        realm: String,
        entry: String,
        reason: String,
    },
}

/// Parses one `kdc` entry: `[tcp/|udp/]host[:port]` or `[address]:port`.
pub fn parse_kdc_entry(realm: &str, entry: &str) -> Result<KdcEndpoint, SettingsError> {
    let invalid = |reason: &str| SettingsError::InvalidKdc {
        realm: realm.to_string(),
        entry: entry.to_string(),
        reason: reason.to_string(),
    };

    let (transport, rest) = if let Some(rest) = entry.strip_prefix("tcp/") {
        (Transport::Tcp, rest)
    } else if let Some(rest) = entry.strip_prefix("udp/") {
        (Transport::Udp, rest)
    } else {
        (Transport::Any, entry)
    };

    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| invalid("missing ']'"))?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(invalid("unexpected text after ']'")),
        }
    } else if rest.matches(':').count() > 1 {
        // An IPv6 address without brackets cannot carry a port.
        (rest, None)
    } else {
        match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(invalid("the host is empty"));
    }
    let port = match port {
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => return Err(invalid("the port is not a number from 1 to 65535")),
        },
        None => KDC_PORT,
    };
    Ok(KdcEndpoint {
        host: host.to_string(),
        port,
        transport,
    })
}

/// Builds the KDC client's settings from krb5.conf.
pub fn kdc_settings(config: &Config) -> Result<Settings, SettingsError> {
    let mut settings = Settings {
        udp_preference_limit: config.udp_preference_limit()?,
        clockskew: config.clockskew()?,
        default_tkt_enctypes: config.default_tkt_enctypes()?,
        default_tgs_enctypes: config.default_tgs_enctypes()?,
        ..Settings::default()
    };

    for realm in config.section_names(&["realms"]) {
        let mut endpoints = Vec::new();
        for entry in config.kdcs(realm) {
            endpoints.push(parse_kdc_entry(realm, entry)?);
        }
        settings.kdcs.insert(realm.to_string(), endpoints);
    }

    for client in config.section_names(&["capaths"]) {
        let mut paths: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (server, hop) in config.relations(&["capaths", client]) {
            let hops = paths.entry(server.to_string()).or_default();
            // "." marks a direct path, so it adds no intermediate realm.
            if hop != "." {
                hops.push(hop.to_string());
            }
        }
        settings.capaths.insert(client.to_string(), paths);
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(entry: &str) -> KdcEndpoint {
        parse_kdc_entry("EXAMPLE.TEST", entry).unwrap()
    }

    #[test]
    fn kdc_entry_forms() {
        let e = endpoint("kdc.example.test");
        assert_eq!(
            (e.host.as_str(), e.port, e.transport),
            ("kdc.example.test", 88, Transport::Any)
        );
        let e = endpoint("127.0.0.1:40088");
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 40088));
        let e = endpoint("tcp/kdc:750");
        assert_eq!(
            (e.host.as_str(), e.port, e.transport),
            ("kdc", 750, Transport::Tcp)
        );
        let e = endpoint("udp/[::1]:88");
        assert_eq!(
            (e.host.as_str(), e.port, e.transport),
            ("::1", 88, Transport::Udp)
        );
        let e = endpoint("[2001:db8::1]");
        assert_eq!((e.host.as_str(), e.port), ("2001:db8::1", 88));
        let e = endpoint("2001:db8::1");
        assert_eq!((e.host.as_str(), e.port), ("2001:db8::1", 88));
    }

    #[test]
    fn kdc_entry_errors_name_entry() {
        for entry in ["", ":88", "kdc:0", "kdc:x", "kdc:70000", "[::1", "[::1]x"] {
            let error = parse_kdc_entry("EXAMPLE.TEST", entry)
                .unwrap_err()
                .to_string();
            assert!(error.contains(&format!("{entry:?}")), "{error}");
        }
    }

    #[test]
    fn settings_from_config() {
        let config = Config::from_text(
            "[libdefaults]\n udp_preference_limit = 1\n\
             [realms]\n A.TEST = {\n  kdc = 127.0.0.1:1\n  kdc = 127.0.0.1:2\n }\n B.TEST = {\n  kdc = b\n }\n\
             [capaths]\n A.TEST = {\n  C.TEST = B.TEST\n  B.TEST = .\n }\n",
            "test",
        )
        .unwrap();
        let settings = kdc_settings(&config).unwrap();
        assert_eq!(settings.udp_preference_limit, 1);
        let ports: Vec<u16> = settings.kdcs["A.TEST"].iter().map(|k| k.port).collect();
        assert_eq!(ports, [1, 2]);
        assert_eq!(settings.kdcs["B.TEST"][0].host, "b");
        assert_eq!(settings.capaths["A.TEST"]["C.TEST"], ["B.TEST"]);
        assert!(settings.capaths["A.TEST"]["B.TEST"].is_empty());
    }
}
