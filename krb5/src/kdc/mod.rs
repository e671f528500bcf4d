//! The asynchronous KDC client: the AS exchange (initial tickets from a
//! password or a long-term key) and the TGS exchange (service tickets,
//! referrals, cross-realm paths, renewal), over UDP and TCP.
//!
//! [`transport`] moves bytes, [`as_exchange`] and [`tgs_exchange`] build
//! requests and check replies, and [`KdcError`] names what failed with the
//! messages MIT krb5 users know.

pub mod as_exchange;
mod error;
mod reply;
pub mod tgs_exchange;
pub mod transport;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub use as_exchange::{AsOptions, Secret};
pub use error::KdcError;
pub use tgs_exchange::{ServiceCredentials, TgsOptions};

use crate::config::{Config, ConfigError};
use crate::iana::enctype;
use crate::messages::time;

pub use crate::locate::{KdcServer, Transport};

/// Formats a KDC address for messages, with brackets around IPv6 literals.
pub(crate) fn kdc_display(kdc: &KdcServer) -> String {
    if kdc.host.contains(':') && !kdc.host.starts_with('[') {
        format!("[{}]:{}", kdc.host, kdc.port)
    } else {
        format!("{}:{}", kdc.host, kdc.port)
    }
}

/// Client settings. Those that krb5.conf's `[libdefaults]` sets default to
/// MIT krb5 1.20's values.
#[derive(Debug, Clone)]
pub struct Settings {
    /// KDCs per realm, in the order to try them. A realm missing here is
    /// located through krb5.conf and DNS when the client has a [`Config`].
    pub kdcs: BTreeMap<String, Vec<KdcServer>>,
    /// Requests longer than this many bytes go over TCP first
    /// (`udp_preference_limit`, default 1465).
    pub udp_preference_limit: usize,
    /// The step of the resend schedule in [`transport`]. After each datagram
    /// or new connection the client waits this long before it contacts the
    /// next address. The pauses after the three passes over all addresses
    /// last 2, 4 and 8 steps. Default 1 s, MIT krb5's fixed value, which
    /// krb5.conf cannot change.
    pub kdc_timeout: Duration,
    /// The maximum time for one request to a realm's KDCs (`request_timeout`,
    /// MIT krb5 1.22). `None`, the default, ends the request when the resend
    /// schedule ends.
    pub request_timeout: Option<Duration>,
    /// The maximum difference between the local clock and a KDC's (`clockskew`, default 300 s).
    pub clockskew: Duration,
    /// Enctypes to request for the AS reply key and session key, in order of preference.
    pub default_tkt_enctypes: Vec<i32>,
    /// Enctypes to request for TGS session keys, in order of preference.
    pub default_tgs_enctypes: Vec<i32>,
    /// Enctypes allowed at all, for reply keys and session keys (`permitted_enctypes`).
    pub permitted_enctypes: Vec<i32>,
    /// Seconds added to the system clock for every time the client sends or
    /// checks, like the offset MIT keeps with `kdc_timesync`.
    pub clock_offset: i64,
    /// The maximum number of referrals or cross-realm hops followed for one service ticket.
    pub max_hops: usize,
}

/// The enctypes MIT krb5 1.20 requests by default, restricted to those this crate implements.
pub const DEFAULT_ENCTYPES: &[i32] = &[
    enctype::AES256_CTS_HMAC_SHA1_96,
    enctype::AES128_CTS_HMAC_SHA1_96,
    enctype::AES256_CTS_HMAC_SHA384_192,
    enctype::AES128_CTS_HMAC_SHA256_128,
    enctype::CAMELLIA256_CTS_CMAC,
    enctype::CAMELLIA128_CTS_CMAC,
];

impl Default for Settings {
    fn default() -> Self {
        Self {
            kdcs: BTreeMap::new(),
            udp_preference_limit: 1465,
            kdc_timeout: Duration::from_secs(1),
            request_timeout: None,
            clockskew: Duration::from_secs(300),
            default_tkt_enctypes: DEFAULT_ENCTYPES.to_vec(),
            default_tgs_enctypes: DEFAULT_ENCTYPES.to_vec(),
            permitted_enctypes: DEFAULT_ENCTYPES.to_vec(),
            clock_offset: 0,
            max_hops: 10,
        }
    }
}

impl Settings {
    /// Reads the `[libdefaults]` settings of krb5.conf. KDC addresses are
    /// not read here but located per realm when a request needs them.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        Ok(Self {
            udp_preference_limit: config.udp_preference_limit()?,
            clockskew: config.clockskew()?,
            request_timeout: config.request_timeout()?,
            default_tkt_enctypes: config.default_tkt_enctypes()?,
            default_tgs_enctypes: config.default_tgs_enctypes()?,
            permitted_enctypes: config.permitted_enctypes()?,
            ..Self::default()
        })
    }
}

/// A KDC client for a set of realms.
#[derive(Debug, Clone)]
pub struct KdcClient {
    settings: Settings,
    /// krb5.conf, for `[capaths]` and, for realms missing from
    /// [`Settings::kdcs`], KDC location.
    config: Option<Arc<Config>>,
}

impl KdcClient {
    /// Builds a client that knows only the KDCs listed in `settings` and
    /// takes hierarchical cross-realm paths.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            config: None,
        }
    }

    /// Builds a client from krb5.conf.
    pub fn from_config(config: Arc<Config>) -> Result<Self, ConfigError> {
        Ok(Self {
            settings: Settings::from_config(&config)?,
            config: Some(config),
        })
    }

    /// Builds a client with explicit settings that reads `[capaths]` and
    /// locates KDCs through `config`.
    pub fn with_config(settings: Settings, config: Arc<Config>) -> Self {
        Self {
            settings,
            config: Some(config),
        }
    }

    pub fn config(&self) -> Option<&Config> {
        self.config.as_deref()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Returns the current time in seconds since the epoch, with the clock offset applied.
    pub fn now(&self) -> i64 {
        time::now_unix().saturating_add(self.settings.clock_offset)
    }

    /// Returns the KDCs of `realm`: from [`Settings::kdcs`], else located
    /// through krb5.conf and DNS SRV records.
    async fn kdcs(&self, realm: &str) -> Result<Vec<KdcServer>, KdcError> {
        if let Some(kdcs) = self
            .settings
            .kdcs
            .get(realm)
            .filter(|list| !list.is_empty())
        {
            return Ok(kdcs.clone());
        }
        let Some(config) = &self.config else {
            return Err(KdcError::NoKdc {
                realm: realm.to_string(),
            });
        };
        let kdcs = crate::locate::locate_kdcs(config, realm)
            .await
            .map_err(|source| KdcError::Locate {
                realm: realm.to_string(),
                source,
            })?;
        if kdcs.is_empty() {
            return Err(KdcError::NoKdc {
                realm: realm.to_string(),
            });
        }
        Ok(kdcs)
    }

    /// Sends one request to the KDCs of `realm` and returns the raw reply.
    pub async fn send(&self, realm: &str, request: &[u8]) -> Result<Vec<u8>, KdcError> {
        let kdcs = self.kdcs(realm).await?;
        transport::send(request, &kdcs, &self.settings)
            .await
            .map_err(|attempts| KdcError::Unreachable {
                realm: realm.to_string(),
                attempts,
            })
    }

    /// Fails with [`KdcError::ClockSkew`] when `kdc_time` is further from
    /// the local clock than `clockskew`.
    fn check_skew(&self, realm: &str, kdc_time: i64) -> Result<(), KdcError> {
        let skew = kdc_time.saturating_sub(self.now());
        let allowed = self.settings.clockskew.as_secs();
        if skew.unsigned_abs() > allowed {
            return Err(KdcError::ClockSkew {
                realm: realm.to_string(),
                skew,
                allowed,
            });
        }
        Ok(())
    }
}

/// Returns a fresh nonce. Nonces stay below 2^31 because some KDCs encode
/// the UInt32 nonce as a signed 32-bit INTEGER.
fn new_nonce() -> Result<u32, KdcError> {
    let value = getrandom::u32().map_err(|e| KdcError::Random(e.to_string()))?;
    Ok(value & 0x7fff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdc_display_brackets_ipv6() {
        let v6 = KdcServer {
            host: "::1".to_string(),
            port: 88,
            transport: Transport::Any,
        };
        assert_eq!(kdc_display(&v6), "[::1]:88");
        let v4 = KdcServer {
            host: "127.0.0.1".to_string(),
            port: 750,
            transport: Transport::Udp,
        };
        assert_eq!(kdc_display(&v4), "127.0.0.1:750");
    }

    #[test]
    fn skew_check_uses_clock_offset() {
        let client = KdcClient::new(Settings {
            clock_offset: 3600,
            ..Settings::default()
        });
        let now = time::now_unix();
        assert!(matches!(
            client.check_skew("R", now),
            Err(KdcError::ClockSkew { .. })
        ));
        assert!(client.check_skew("R", now + 3600).is_ok());
    }

    #[tokio::test]
    async fn send_without_kdcs_fails() {
        let client = KdcClient::new(Settings::default());
        assert!(matches!(
            client.send("EXAMPLE.TEST", b"x").await,
            Err(KdcError::NoKdc { .. })
        ));
    }
}
