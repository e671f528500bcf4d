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
use std::fmt;
use std::time::Duration;

pub use as_exchange::{AsOptions, Secret};
pub use error::KdcError;
pub use tgs_exchange::{ServiceCredentials, TgsOptions};

use crate::iana::enctype;
use crate::messages::time;

/// The transports a KDC may be reached by.
///
/// TODO: replace with `krb5::locate::Transport` and [`KdcEndpoint`] with
/// `krb5::locate::KdcServer` once KDC location from krb5.conf and DNS exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP or TCP, as the request size and the KDC's replies call for.
    Any,
    Udp,
    Tcp,
}

/// One KDC address of a realm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KdcEndpoint {
    pub host: String,
    pub port: u16,
    pub transport: Transport,
}

impl fmt::Display for KdcEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') && !self.host.starts_with('[') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Client settings, with the defaults of MIT krb5 1.20's `[libdefaults]`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The KDCs of each realm, in the order to try them.
    pub kdcs: BTreeMap<String, Vec<KdcEndpoint>>,
    /// Requests longer than this many bytes go over TCP first
    /// (`udp_preference_limit`, default 1465).
    pub udp_preference_limit: usize,
    /// The time to wait for one KDC before trying the next.
    pub kdc_timeout: Duration,
    /// The time to wait for one whole exchange with a realm's KDCs.
    pub total_timeout: Duration,
    /// The maximum difference between the local clock and a KDC's (`clockskew`, default 300 s).
    pub clockskew: Duration,
    /// Enctypes to request for the AS reply key and session key, in order of preference.
    pub default_tkt_enctypes: Vec<i32>,
    /// Enctypes to request for TGS session keys, in order of preference.
    pub default_tgs_enctypes: Vec<i32>,
    /// `[capaths]`: for a client realm, the intermediate realms on the path
    /// to each server realm. An empty list means the realms share a key directly.
    pub capaths: BTreeMap<String, BTreeMap<String, Vec<String>>>,
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
            kdc_timeout: Duration::from_secs(3),
            total_timeout: Duration::from_secs(30),
            clockskew: Duration::from_secs(300),
            default_tkt_enctypes: DEFAULT_ENCTYPES.to_vec(),
            default_tgs_enctypes: DEFAULT_ENCTYPES.to_vec(),
            capaths: BTreeMap::new(),
            clock_offset: 0,
            max_hops: 10,
        }
    }
}

/// A KDC client for a set of realms.
#[derive(Debug, Clone)]
pub struct KdcClient {
    settings: Settings,
}

impl KdcClient {
    pub fn new(settings: Settings) -> Self {
        Self { settings }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Returns the current time in seconds since the epoch, with the clock offset applied.
    pub fn now(&self) -> i64 {
        time::now_unix().saturating_add(self.settings.clock_offset)
    }

    /// Sends one request to the KDCs of `realm` and returns the raw reply.
    pub async fn send(&self, realm: &str, request: &[u8]) -> Result<Vec<u8>, KdcError> {
        let kdcs = self
            .settings
            .kdcs
            .get(realm)
            .filter(|list| !list.is_empty())
            .ok_or_else(|| KdcError::NoKdc {
                realm: realm.to_string(),
            })?;
        let total = self.settings.total_timeout;
        match tokio::time::timeout(total, transport::send(request, kdcs, &self.settings)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(attempts)) => Err(KdcError::Unreachable {
                realm: realm.to_string(),
                attempts,
            }),
            Err(_) => Err(KdcError::Timeout {
                realm: realm.to_string(),
                seconds: total.as_secs(),
            }),
        }
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
    fn endpoint_display_brackets_ipv6() {
        let v6 = KdcEndpoint {
            host: "::1".to_string(),
            port: 88,
            transport: Transport::Any,
        };
        assert_eq!(v6.to_string(), "[::1]:88");
        let v4 = KdcEndpoint {
            host: "127.0.0.1".to_string(),
            port: 750,
            transport: Transport::Udp,
        };
        assert_eq!(v4.to_string(), "127.0.0.1:750");
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
