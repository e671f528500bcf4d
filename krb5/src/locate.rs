//! KDC location, host name canonicalization and host-to-realm mapping, with
//! DNS done by hickory-resolver instead of glibc's NSS so that a static musl
//! build behaves the same as a glibc one.
//!
//! `/etc/resolv.conf` (name servers, search domains, timeout and attempts)
//! and `/etc/hosts` are read here. Host names are looked up in `/etc/hosts`
//! first and then in DNS, as the usual `hosts: files dns` NSS order does.
//! Address literals never reach either.
//!
//! The sources of KDC addresses, in MIT krb5 1.20's order:
//! 1. `[realms] REALM kdc` entries: `host`, `host:port`, `[v6addr]`,
//!    `[v6addr]:port`, with port 88 by default. A `udp/` or `tcp/` prefix (as
//!    Heimdal writes them; MIT 1.20 has no such prefix) pins the transport.
//!    `https://` entries (MS-KKDCP proxies) are skipped with a warning
//!    because rgssd has no HTTPS transport.
//! 2. When no entry exists and `dns_lookup_kdc` is true: the SRV records
//!    `_kerberos._udp.REALM` then `_kerberos._tcp.REALM`, each set ordered
//!    by priority and weight (RFC 2782).
//!
//! NOTE: MIT 1.20 also looks up URI records (`_kerberos.REALM`, MS-KKDCP
//! and transport hints) before SRV records; they are not looked up here.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData};
use hickory_resolver::TokioResolver;

use crate::config::realms::{clean_hostname, is_numeric_address};
use crate::config::{CanonicalizeHostname, Config, ConfigError};

/// The Kerberos port (RFC 4120 §7.2.1 and §7.2.2).
pub const KDC_PORT: u16 = 88;

/// The resolver configuration file.
pub const RESOLV_CONF_PATH: &str = "/etc/resolv.conf";

/// The static host table.
pub const HOSTS_PATH: &str = "/etc/hosts";

/// The transport used to reach a KDC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Either: UDP first for small requests, TCP otherwise (see
    /// `udp_preference_limit`).
    Any,
    Udp,
    Tcp,
}

/// One KDC to try, in the order returned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KdcServer {
    /// A host name or an address literal (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    pub transport: Transport,
}

/// A failure to locate KDCs or to resolve a host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("invalid kdc entry {entry:?} for realm {realm} in krb5.conf: {reason}")]
    InvalidKdcEntry {
        realm: String,
        entry: String,
        reason: String,
    },
    #[error("cannot locate a KDC for realm {realm:?}: {reason}")]
    NoKdc { realm: String, reason: String },
    #[error("cannot resolve host {host:?}: {reason}")]
    HostNotFound { host: String, reason: String },
    #[error("cannot set up the DNS resolver: {0}")]
    Resolver(String),
}

/// Parses one `[realms] kdc` entry. Returns `Ok(None)` for an `https://`
/// entry, which is skipped, and an error text for a malformed one.
///
/// The host part follows MIT's `k5_parse_host_string`: it ends at the first
/// blank or `:`, and text after a blank is ignored. A bare IPv6 address
/// needs brackets, because its first `:` would start the port.
pub fn parse_kdc_entry(entry: &str) -> Result<Option<KdcServer>, String> {
    if entry.starts_with("https://") {
        return Ok(None);
    }
    let (transport, spec) = if let Some(rest) = entry.strip_prefix("udp/") {
        (Transport::Udp, rest)
    } else if let Some(rest) = entry.strip_prefix("tcp/") {
        (Transport::Tcp, rest)
    } else {
        (Transport::Any, entry)
    };
    if spec.is_empty() || spec.starts_with(':') {
        return Err("the host name is missing".to_string());
    }
    if spec.bytes().all(|b| b.is_ascii_digit()) {
        return Err("a port alone is not a KDC; write host:port".to_string());
    }

    let (host, port_text) = if let Some(bracketed) = spec.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| "the '[' before an IPv6 address is not closed".to_string())?;
        (host, after.strip_prefix(':'))
    } else {
        let end = spec.find([' ', '\t', ':']).unwrap_or(spec.len());
        let host = &spec[..end];
        (host, spec[end..].strip_prefix(':'))
    };
    if host.is_empty() {
        return Err("the host name is missing".to_string());
    }

    let port = match port_text {
        None => KDC_PORT,
        Some(text) => text
            .parse::<u16>()
            .ok()
            .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| format!("invalid port {text:?}; use a number from 0 to 65535"))?,
    };
    Ok(Some(KdcServer {
        host: host.to_string(),
        port,
        transport,
    }))
}

/// Returns the KDCs that `[realms] REALM kdc` lists, or `None` when it lists
/// none. Entries that are skipped (`https://`) are logged.
pub fn configured_kdcs(
    config: &Config,
    realm: &str,
) -> Result<Option<Vec<KdcServer>>, LocateError> {
    let entries = config.kdcs(realm);
    if entries.is_empty() {
        return Ok(None);
    }
    let mut servers = Vec::new();
    for entry in &entries {
        match parse_kdc_entry(entry) {
            Ok(Some(server)) => {
                if !servers.contains(&server) {
                    servers.push(server);
                }
            }
            Ok(None) => log::warn!(
                "skipping kdc {entry:?} of realm {realm}: HTTPS (MS-KKDCP) proxies are not supported"
            ),
            Err(reason) => {
                return Err(LocateError::InvalidKdcEntry {
                    realm: realm.to_string(),
                    entry: entry.to_string(),
                    reason,
                })
            }
        }
    }
    if servers.is_empty() {
        return Err(LocateError::NoKdc {
            realm: realm.to_string(),
            reason: "every kdc entry in krb5.conf is an https:// proxy, which is not supported"
                .to_string(),
        });
    }
    Ok(Some(servers))
}

/// The parts of `/etc/resolv.conf` that the resolver uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    pub name_servers: Vec<SocketAddr>,
    /// The search list (`search`, or the `domain` line when it comes last).
    pub search: Vec<String>,
    pub timeout: Duration,
    pub attempts: usize,
    pub ndots: usize,
}

impl Default for DnsSettings {
    /// Returns the resolv.conf(5) defaults: the local name server, 5 s, 2 attempts.
    fn default() -> Self {
        Self {
            name_servers: Vec::new(),
            search: Vec::new(),
            timeout: Duration::from_secs(5),
            attempts: 2,
            ndots: 1,
        }
    }
}

impl DnsSettings {
    /// Reads [`RESOLV_CONF_PATH`]. A missing file gives the defaults.
    pub fn from_system() -> io::Result<Self> {
        match std::fs::read_to_string(RESOLV_CONF_PATH) {
            Ok(text) => Ok(Self::parse(&text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }

    /// Parses resolv.conf text as glibc does for the directives used here:
    /// `nameserver` (at most 3, as glibc's MAXNS), `search` and `domain`
    /// (the last of the two wins), and `options timeout:N attempts:N ndots:N`.
    /// Unknown lines are ignored.
    pub fn parse(text: &str) -> Self {
        const MAX_NAME_SERVERS: usize = 3;
        let mut settings = Self::default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword {
                "nameserver" => {
                    let Some(address) = words.next().and_then(parse_name_server) else {
                        continue;
                    };
                    if settings.name_servers.len() < MAX_NAME_SERVERS {
                        settings.name_servers.push(SocketAddr::new(address, 53));
                    }
                }
                "search" => {
                    settings.search = words
                        .take_while(|w| !w.starts_with(['#', ';']))
                        .map(|w| w.trim_end_matches('.').to_string())
                        .filter(|w| !w.is_empty())
                        .collect();
                }
                "domain" => {
                    settings.search = words
                        .next()
                        .map(|w| w.trim_end_matches('.').to_string())
                        .filter(|w| !w.is_empty())
                        .into_iter()
                        .collect();
                }
                "options" => {
                    for option in words {
                        let Some((name, value)) = option.split_once(':') else {
                            continue;
                        };
                        let Ok(value) = value.parse::<u64>() else {
                            continue;
                        };
                        // The caps are glibc's (RES_MAXRETRANS, RES_MAXTRIES, RES_MAXNDOTS).
                        match name {
                            "timeout" => settings.timeout = Duration::from_secs(value.clamp(1, 30)),
                            "attempts" => settings.attempts = value.clamp(1, 5) as usize,
                            "ndots" => settings.ndots = value.min(15) as usize,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if settings.name_servers.is_empty() {
            settings
                .name_servers
                .push(SocketAddr::from(([127, 0, 0, 1], 53)));
        }
        settings
    }

    /// Returns the primary domain (the first search domain), which MIT uses
    /// to qualify one-label host names.
    pub fn primary_domain(&self) -> Option<&str> {
        self.search.first().map(String::as_str)
    }
}

/// Parses a `nameserver` address; an IPv6 scope (`fe80::1%eth0`) is dropped.
fn parse_name_server(text: &str) -> Option<IpAddr> {
    let address = text.split('%').next().unwrap_or(text);
    address.parse().ok()
}

/// The static host table of `/etc/hosts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostsFile {
    /// Each line's address and names, the canonical name first.
    entries: Vec<(IpAddr, Vec<String>)>,
}

impl HostsFile {
    /// Reads [`HOSTS_PATH`]. A missing file gives an empty table.
    pub fn from_system() -> io::Result<Self> {
        match std::fs::read_to_string(HOSTS_PATH) {
            Ok(text) => Ok(Self::parse(&text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e),
        }
    }

    /// Parses hosts(5) text: an address and its names per line, `#` comments.
    /// Lines with an invalid address are skipped.
    pub fn parse(text: &str) -> Self {
        let mut entries = Vec::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or(line);
            let mut words = line.split_whitespace();
            let Some(address) = words.next().and_then(parse_name_server) else {
                continue;
            };
            let names: Vec<String> = words.map(str::to_string).collect();
            if !names.is_empty() {
                entries.push((address, names));
            }
        }
        Self { entries }
    }

    /// Looks a name up, ignoring case, as glibc does without `multi on`: the
    /// first line that lists it gives the canonical name and the address.
    pub fn lookup_name(&self, name: &str) -> Option<(&str, IpAddr)> {
        let name = name.strip_suffix('.').unwrap_or(name);
        self.entries
            .iter()
            .find(|(_, names)| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .and_then(|(address, names)| names.first().map(|n| (n.as_str(), *address)))
    }

    /// Returns the canonical name of the first line with `address`.
    pub fn lookup_address(&self, address: IpAddr) -> Option<&str> {
        self.entries
            .iter()
            .find(|(a, _)| *a == address)
            .and_then(|(_, names)| names.first())
            .map(String::as_str)
    }
}

/// One SRV record, as the ordering needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// Orders SRV records as RFC 2782 specifies: by ascending priority, and within
/// one priority by a weighted random choice. `random(n)` must return a
/// number from 0 to `n` inclusive.
pub fn order_srv_records(
    mut records: Vec<SrvRecord>,
    random: &mut dyn FnMut(u64) -> u64,
) -> Vec<SrvRecord> {
    // Zero weights first within each priority, as RFC 2782 specifies, so that
    // they are chosen only when their running sum is reached.
    records.sort_by_key(|r| (r.priority, r.weight != 0));

    let mut ordered = Vec::with_capacity(records.len());
    let mut start = 0;
    while start < records.len() {
        let priority = records[start].priority;
        let end = records[start..]
            .iter()
            .position(|r| r.priority != priority)
            .map_or(records.len(), |offset| start + offset);
        let mut group: Vec<SrvRecord> = records[start..end].to_vec();
        while !group.is_empty() {
            let total: u64 = group.iter().map(|r| u64::from(r.weight)).sum();
            let pick = random(total).min(total);
            let mut running = 0;
            let index = group
                .iter()
                .position(|r| {
                    running += u64::from(r.weight);
                    running >= pick
                })
                .unwrap_or(0);
            ordered.push(group.remove(index));
        }
        start = end;
    }
    ordered
}

/// Returns a uniform random number from 0 to `max` inclusive, or 0 when the
/// system random source fails (the order then follows the records).
fn system_random(max: u64) -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0;
    }
    match max.checked_add(1) {
        Some(bound) => u64::from_le_bytes(bytes) % bound,
        None => u64::from_le_bytes(bytes),
    }
}

/// A DNS resolver and host table, set up once and used for many lookups.
#[derive(Clone)]
pub struct Locator {
    resolver: TokioResolver,
    hosts: HostsFile,
    primary_domain: Option<String>,
}

impl Locator {
    /// Builds a locator from `/etc/resolv.conf` and `/etc/hosts`.
    pub fn from_system() -> Result<Self, LocateError> {
        let dns = DnsSettings::from_system()
            .map_err(|e| LocateError::Resolver(format!("cannot read {RESOLV_CONF_PATH}: {e}")))?;
        let hosts = HostsFile::from_system()
            .map_err(|e| LocateError::Resolver(format!("cannot read {HOSTS_PATH}: {e}")))?;
        Self::new(&dns, hosts)
    }

    /// Builds a locator that queries the name servers of `dns` and looks names
    /// up in `hosts` first.
    pub fn new(dns: &DnsSettings, hosts: HostsFile) -> Result<Self, LocateError> {
        let name_servers = dns
            .name_servers
            .iter()
            .map(|address| {
                let mut udp = ConnectionConfig::udp();
                udp.port = address.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = address.port();
                let mut server = NameServerConfig::udp_and_tcp(address.ip());
                server.connections = vec![udp, tcp];
                server
            })
            .collect();
        let search = dns
            .search
            .iter()
            .filter_map(|domain| Name::from_str(domain).ok())
            .collect();
        let config = ResolverConfig::from_parts(None, search, name_servers);

        let mut builder =
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
        let options = builder.options_mut();
        options.timeout = dns.timeout;
        options.attempts = dns.attempts;
        options.ndots = dns.ndots;
        // The host table is searched here, so that aliases map to the
        // canonical name as glibc returns it.
        options.use_hosts_file = ResolveHosts::Never;
        let resolver = builder
            .build()
            .map_err(|e| LocateError::Resolver(e.to_string()))?;

        Ok(Self {
            resolver,
            hosts,
            primary_domain: dns.primary_domain().map(str::to_string),
        })
    }

    /// Returns the KDCs of `realm`: the configured ones, else (when
    /// `dns_lookup_kdc` allows) those of the DNS SRV records.
    pub async fn locate_kdcs(
        &self,
        config: &Config,
        realm: &str,
    ) -> Result<Vec<KdcServer>, LocateError> {
        if realm.is_empty() {
            return Err(LocateError::NoKdc {
                realm: realm.to_string(),
                reason: "the realm name is empty".to_string(),
            });
        }
        if let Some(servers) = configured_kdcs(config, realm)? {
            return Ok(servers);
        }
        if !config.dns_lookup_kdc()? {
            return Err(LocateError::NoKdc {
                realm: realm.to_string(),
                reason: "krb5.conf has no [realms] kdc entry for it and dns_lookup_kdc is false"
                    .to_string(),
            });
        }

        let mut servers = Vec::new();
        let mut failures = Vec::new();
        for (label, transport) in [("_udp", Transport::Udp), ("_tcp", Transport::Tcp)] {
            let name = format!("_kerberos.{label}.{realm}.");
            match self.srv_records(&name).await {
                Ok(records) => {
                    let ordered = order_srv_records(records, &mut system_random);
                    servers.extend(ordered.into_iter().map(|r| KdcServer {
                        host: r.target,
                        port: r.port,
                        transport,
                    }));
                }
                Err(reason) => failures.push(format!("{name} {reason}")),
            }
        }
        if servers.is_empty() {
            let reason = if failures.is_empty() {
                "the DNS SRV records say the service is not available".to_string()
            } else {
                format!(
                    "no [realms] kdc entry in krb5.conf and no DNS SRV records ({})",
                    failures.join("; ")
                )
            };
            return Err(LocateError::NoKdc {
                realm: realm.to_string(),
                reason,
            });
        }
        Ok(servers)
    }

    /// Looks up SRV records. A lone record with target `.` means the service
    /// is not offered (RFC 2782) and gives an empty list.
    async fn srv_records(&self, name: &str) -> Result<Vec<SrvRecord>, String> {
        let lookup = self
            .resolver
            .srv_lookup(name)
            .await
            .map_err(|e| lookup_failure(&e))?;
        let records: Vec<SrvRecord> = lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::SRV(srv) => Some(SrvRecord {
                    priority: srv.priority,
                    weight: srv.weight,
                    port: srv.port,
                    target: dns_name_to_host(&srv.target),
                }),
                _ => None,
            })
            .collect();
        if let [only] = records.as_slice() {
            if only.target.is_empty() {
                return Ok(Vec::new());
            }
        }
        Ok(records
            .into_iter()
            .filter(|r| !r.target.is_empty())
            .collect())
    }

    /// Resolves a host name to addresses: an address literal as it is, then
    /// `/etc/hosts`, then DNS A and AAAA records.
    pub async fn resolve_host(&self, host: &str) -> Result<Vec<IpAddr>, LocateError> {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(address) = literal.parse::<IpAddr>() {
            return Ok(vec![address]);
        }
        if let Some((_, address)) = self.hosts.lookup_name(host) {
            return Ok(vec![address]);
        }
        let lookup =
            self.resolver
                .lookup_ip(host)
                .await
                .map_err(|e| LocateError::HostNotFound {
                    host: host.to_string(),
                    reason: lookup_failure(&e),
                })?;
        let addresses: Vec<IpAddr> = lookup.iter().collect();
        if addresses.is_empty() {
            return Err(LocateError::HostNotFound {
                host: host.to_string(),
                reason: "no A or AAAA records".to_string(),
            });
        }
        Ok(addresses)
    }

    /// Resolves a KDC to socket addresses on its port.
    pub async fn kdc_addresses(&self, kdc: &KdcServer) -> Result<Vec<SocketAddr>, LocateError> {
        let addresses = self.resolve_host(&kdc.host).await?;
        Ok(addresses
            .into_iter()
            .map(|ip| SocketAddr::new(ip, kdc.port))
            .collect())
    }

    /// Returns the host names to try, in order, for a host-based service
    /// principal (`nfs/HOST`), as MIT's `krb5_sname_to_principal` and
    /// `k5_canonprinc` build them:
    ///
    /// - `dns_canonicalize_hostname = true`: the canonical name from a forward
    ///   lookup, replaced by the reverse lookup of its first address when
    ///   `rdns` is true and the address has a name;
    /// - `false`: the name as given;
    /// - `fallback`: the name as given, then the canonical name if different.
    ///
    /// A lookup that fails keeps the name as given. A one-label name that
    /// was not canonicalized gets `qualify_shortname` (or the resolver's
    /// first search domain) appended. Every name is lowercased and loses a
    /// trailing dot.
    pub async fn canonicalize_host(
        &self,
        config: &Config,
        host: &str,
    ) -> Result<Vec<String>, LocateError> {
        let rdns = config.rdns()?;
        let names = match config.dns_canonicalize_hostname()? {
            CanonicalizeHostname::True => {
                vec![self.expand_hostname(config, host, Some(rdns)).await]
            }
            CanonicalizeHostname::False => vec![self.expand_hostname(config, host, None).await],
            CanonicalizeHostname::Fallback => {
                let plain = self.expand_hostname(config, host, None).await;
                let canonical = self.expand_hostname(config, host, Some(rdns)).await;
                if plain == canonical {
                    vec![plain]
                } else {
                    vec![plain, canonical]
                }
            }
        };
        Ok(names)
    }

    /// MIT's `expand_hostname`; `dns` is `None` for no lookups, or whether
    /// to follow the forward lookup with a reverse one.
    async fn expand_hostname(&self, config: &Config, host: &str, dns: Option<bool>) -> String {
        let mut canonical: Option<String> = None;
        if let Some(reverse) = dns {
            if let Some((name, address)) = self.forward_lookup(host).await {
                canonical = Some(name);
                if reverse {
                    if let Some(name) = self.reverse_lookup(address).await {
                        canonical = Some(name);
                    }
                }
            }
        }

        let name = match canonical {
            Some(name) => name,
            None if !host.contains('.') => {
                let domain = config
                    .qualify_shortname()
                    .or(self.primary_domain.as_deref());
                match domain.filter(|d| !d.is_empty()) {
                    Some(domain) => format!("{host}.{domain}"),
                    None => host.to_string(),
                }
            }
            None => host.to_string(),
        };
        clean_hostname(&name)
    }

    /// Returns the canonical name of `host` and its first address.
    async fn forward_lookup(&self, host: &str) -> Option<(String, IpAddr)> {
        if let Ok(address) = host.parse::<IpAddr>() {
            return Some((host.to_string(), address));
        }
        if let Some((name, address)) = self.hosts.lookup_name(host) {
            return Some((name.to_string(), address));
        }
        let lookup = match self.resolver.lookup_ip(host).await {
            Ok(lookup) => lookup,
            Err(e) => {
                log::debug!("forward lookup of {host} failed: {}", lookup_failure(&e));
                return None;
            }
        };
        lookup.as_lookup().answers().iter().find_map(|record| {
            record
                .data
                .ip_addr()
                .map(|address| (dns_name_to_host(&record.name), address))
        })
    }

    /// Returns the name of `address` from `/etc/hosts` or a PTR record.
    pub async fn reverse_lookup(&self, address: IpAddr) -> Option<String> {
        if let Some(name) = self.hosts.lookup_address(address) {
            return Some(name.to_string());
        }
        let lookup = match self
            .resolver
            .lookup(
                Name::from(address),
                hickory_resolver::proto::rr::RecordType::PTR,
            )
            .await
        {
            Ok(lookup) => lookup,
            Err(e) => {
                log::debug!("reverse lookup of {address} failed: {}", lookup_failure(&e));
                return None;
            }
        };
        lookup
            .answers()
            .iter()
            .find_map(|record| match &record.data {
                RData::PTR(ptr) => Some(dns_name_to_host(&ptr.0)),
                _ => None,
            })
    }

    /// Returns the realm of `host` for a service principal:
    /// `[domain_realm]`, then (when `dns_lookup_realm` is true) a TXT record
    /// `_kerberos.HOST` or of a parent domain, then `default_realm`.
    ///
    /// MIT's client in the last case requests a referral from the default
    /// realm's KDC and, if that fails, uses [`Locator::fallback_realm_for_host`].
    pub async fn realm_for_host(
        &self,
        config: &Config,
        host: &str,
    ) -> Result<Option<String>, LocateError> {
        if let Some(realm) = config.domain_realm(host) {
            return Ok(Some(realm.to_string()));
        }
        if let Some(realm) = self.txt_realm(config, host).await? {
            return Ok(Some(realm));
        }
        Ok(config.default_realm().map(str::to_string))
    }

    /// Returns the realm MIT's `krb5_get_fallback_host_realm` gives `host`:
    /// a TXT record (when `dns_lookup_realm` is true), then with
    /// `realm_try_domains = N` the first of the host's domain and up to `N`
    /// parents that has KDCs, then the uppercased parent domain, then
    /// `default_realm`.
    pub async fn fallback_realm_for_host(
        &self,
        config: &Config,
        host: &str,
    ) -> Result<Option<String>, LocateError> {
        if let Some(realm) = self.txt_realm(config, host).await? {
            return Ok(Some(realm));
        }

        let host = clean_hostname(host);
        let limit = config.realm_try_domains()?;
        if limit >= 0 && !is_numeric_address(&host) {
            let upper = host.to_ascii_uppercase();
            let mut suffix = upper.as_str();
            for _ in 0..=limit {
                let Some((_, parent)) = suffix.split_once('.') else {
                    break;
                };
                if self.locate_kdcs(config, suffix).await.is_ok() {
                    return Ok(Some(suffix.to_string()));
                }
                suffix = parent;
            }
        }

        Ok(config.fallback_host_realm(&host))
    }

    /// Looks up `_kerberos.NAME` TXT records for the host and each parent
    /// domain, when `dns_lookup_realm` is true.
    async fn txt_realm(&self, config: &Config, host: &str) -> Result<Option<String>, LocateError> {
        let host = clean_hostname(host);
        if !config.dns_lookup_realm()? || is_numeric_address(&host) {
            return Ok(None);
        }
        let mut domain = host.as_str();
        while !domain.is_empty() {
            let name = format!("_kerberos.{domain}.");
            match self.resolver.txt_lookup(name.as_str()).await {
                Ok(lookup) => {
                    let realm = lookup
                        .answers()
                        .iter()
                        .find_map(|record| match &record.data {
                            RData::TXT(txt) => txt
                                .txt_data
                                .first()
                                .map(|bytes| String::from_utf8_lossy(bytes).trim().to_string()),
                            _ => None,
                        });
                    if let Some(realm) = realm.filter(|r| !r.is_empty()) {
                        return Ok(Some(realm));
                    }
                }
                Err(e) => log::debug!("TXT lookup of {name} failed: {}", lookup_failure(&e)),
            }
            domain = match domain.split_once('.') {
                Some((_, parent)) => parent,
                None => "",
            };
        }
        Ok(None)
    }
}

fn lookup_failure(error: &hickory_resolver::net::NetError) -> String {
    if error.is_no_records_found() {
        "no records found".to_string()
    } else {
        error.to_string()
    }
}

/// Returns a DNS name as a host name without the trailing dot (empty for
/// the root name `.`).
fn dns_name_to_host(name: &Name) -> String {
    let text = name.to_ascii();
    text.strip_suffix('.').unwrap_or(&text).to_string()
}

/// Returns the KDCs of `realm` (see [`Locator::locate_kdcs`]). DNS settings
/// are read only when krb5.conf lists no KDC.
pub async fn locate_kdcs(config: &Config, realm: &str) -> Result<Vec<KdcServer>, LocateError> {
    if let Some(servers) = configured_kdcs(config, realm)? {
        return Ok(servers);
    }
    Locator::from_system()?.locate_kdcs(config, realm).await
}

/// Returns the host names to try for a service on `host` (see
/// [`Locator::canonicalize_host`]), with the system's DNS settings.
pub async fn canonicalize_host(config: &Config, host: &str) -> Result<Vec<String>, LocateError> {
    Locator::from_system()?
        .canonicalize_host(config, host)
        .await
}

/// Returns the realm of `host` (see [`Locator::realm_for_host`]). DNS
/// settings are read only when `[domain_realm]` has no match.
pub async fn realm_for_host(config: &Config, host: &str) -> Result<Option<String>, LocateError> {
    if let Some(realm) = config.domain_realm(host) {
        return Ok(Some(realm.to_string()));
    }
    Locator::from_system()?.realm_for_host(config, host).await
}

/// Resolves `host` to addresses with the system's settings (see
/// [`Locator::resolve_host`]). Address literals need no settings.
pub async fn resolve_host(host: &str) -> Result<Vec<IpAddr>, LocateError> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(address) = literal.parse::<IpAddr>() {
        return Ok(vec![address]);
    }
    Locator::from_system()?.resolve_host(host).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kdc(host: &str, port: u16, transport: Transport) -> Option<KdcServer> {
        Some(KdcServer {
            host: host.to_string(),
            port,
            transport,
        })
    }

    #[test]
    fn kdc_entry_forms() {
        let cases = [
            (
                "kdc.example.com",
                kdc("kdc.example.com", 88, Transport::Any),
            ),
            (
                "kdc.example.com:750",
                kdc("kdc.example.com", 750, Transport::Any),
            ),
            ("127.0.0.1:8888", kdc("127.0.0.1", 8888, Transport::Any)),
            ("[::1]", kdc("::1", 88, Transport::Any)),
            (
                "[2001:db8::5]:1088",
                kdc("2001:db8::5", 1088, Transport::Any),
            ),
            (
                "tcp/kdc.example.com",
                kdc("kdc.example.com", 88, Transport::Tcp),
            ),
            ("udp/[::1]:99", kdc("::1", 99, Transport::Udp)),
            (
                "kdc.example.com extra words",
                kdc("kdc.example.com", 88, Transport::Any),
            ),
            ("https://proxy.example.com/KdcProxy", None),
        ];
        for (entry, expected) in cases {
            assert_eq!(parse_kdc_entry(entry), Ok(expected), "{entry}");
        }
    }

    #[test]
    fn kdc_entry_errors() {
        for entry in [
            "",
            ":88",
            "88",
            "host:",
            "host:port",
            "host:65536",
            "host:+5",
            "[::1",
            "[]:88",
            "fe80::1",
            "tcp/",
        ] {
            assert!(parse_kdc_entry(entry).is_err(), "{entry:?}");
        }
    }

    fn config(text: &str) -> Config {
        Config::from_text(text, "test.conf").expect("valid profile")
    }

    #[test]
    fn configured_kdcs_in_order_without_duplicates() {
        let c = config(
            "[realms]\nR = {\n kdc = 127.0.0.1:1088\n kdc = https://p/x\n kdc = tcp/[::1]\n kdc = 127.0.0.1:1088\n}\n",
        );
        let servers = configured_kdcs(&c, "R").expect("valid").expect("listed");
        assert_eq!(
            servers,
            vec![
                KdcServer {
                    host: "127.0.0.1".into(),
                    port: 1088,
                    transport: Transport::Any
                },
                KdcServer {
                    host: "::1".into(),
                    port: 88,
                    transport: Transport::Tcp
                },
            ]
        );
        assert_eq!(configured_kdcs(&c, "OTHER"), Ok(None));
    }

    #[test]
    fn configured_kdcs_errors() {
        let c = config("[realms]\nR = {\n kdc = host:x\n}\nH = {\n kdc = https://p\n}\n");
        let error = configured_kdcs(&c, "R").expect_err("bad port");
        assert!(error.to_string().contains("host:x"), "{error}");
        assert!(matches!(
            configured_kdcs(&c, "H"),
            Err(LocateError::NoKdc { .. })
        ));
    }

    #[tokio::test]
    async fn locate_from_config_needs_no_dns() {
        let c =
            config("[libdefaults]\ndns_lookup_kdc = false\n[realms]\nR = {\n kdc = 127.0.0.1\n}\n");
        let servers = locate_kdcs(&c, "R").await.expect("configured");
        assert_eq!(
            servers,
            vec![kdc("127.0.0.1", 88, Transport::Any).expect("some")]
        );
    }

    #[tokio::test]
    async fn locate_without_source_is_an_error() {
        let c = config("[libdefaults]\ndns_lookup_kdc = false\n");
        let locator = Locator::new(&DnsSettings::default(), HostsFile::default()).expect("builds");
        let error = locator
            .locate_kdcs(&c, "NONE.TEST")
            .await
            .expect_err("no kdc");
        assert!(error.to_string().contains("dns_lookup_kdc"), "{error}");
        let error = locator.locate_kdcs(&c, "").await.expect_err("empty realm");
        assert!(matches!(error, LocateError::NoKdc { .. }));
    }

    #[tokio::test]
    async fn resolve_literals_without_dns() {
        assert_eq!(
            resolve_host("127.0.0.1").await,
            Ok(vec![IpAddr::from([127, 0, 0, 1])])
        );
        assert_eq!(
            resolve_host("[::1]").await,
            Ok(vec!["::1".parse::<IpAddr>().expect("literal")])
        );
    }

    #[test]
    fn resolv_conf_parsing() {
        let settings = DnsSettings::parse(
            "# comment\n\
             nameserver 127.0.0.1\n\
             nameserver ::1\n\
             nameserver fe80::1%eth0\n\
             nameserver 127.0.0.9\n\
             nameserver not-an-address\n\
             domain old.example\n\
             search lab.example.com. example.com # trailing\n\
             options ndots:2 timeout:3 attempts:9 rotate\n",
        );
        assert_eq!(
            settings.name_servers,
            vec![
                SocketAddr::from(([127, 0, 0, 1], 53)),
                "[::1]:53".parse().expect("address"),
                "[fe80::1]:53".parse().expect("address"),
            ]
        );
        assert_eq!(settings.search, vec!["lab.example.com", "example.com"]);
        assert_eq!(settings.primary_domain(), Some("lab.example.com"));
        assert_eq!(settings.ndots, 2);
        assert_eq!(settings.timeout, Duration::from_secs(3));
        assert_eq!(settings.attempts, 5);
    }

    #[test]
    fn resolv_conf_defaults() {
        let settings = DnsSettings::parse("");
        assert_eq!(
            settings.name_servers,
            vec![SocketAddr::from(([127, 0, 0, 1], 53))]
        );
        assert!(settings.search.is_empty());
        assert_eq!(settings.timeout, Duration::from_secs(5));
        assert_eq!(settings.attempts, 2);
        assert_eq!(settings.ndots, 1);
        let settings = DnsSettings::parse("search a.example\ndomain b.example\n");
        assert_eq!(settings.search, vec!["b.example"]);
    }

    #[test]
    fn hosts_file_lookups() {
        let hosts = HostsFile::parse(
            "127.0.0.1 localhost\n\
             # 127.0.0.5 commented.example\n\
             127.0.0.2 nfs.example.com nfs alias # comment\n\
             127.0.0.3 NFS.other.example nfs\n\
             bogus line\n\
             ::1 ip6-localhost\n",
        );
        assert_eq!(
            hosts.lookup_name("ALIAS"),
            Some(("nfs.example.com", IpAddr::from([127, 0, 0, 2])))
        );
        assert_eq!(
            hosts.lookup_name("nfs"),
            Some(("nfs.example.com", IpAddr::from([127, 0, 0, 2])))
        );
        assert_eq!(
            hosts.lookup_name("nfs.other.example."),
            Some(("NFS.other.example", IpAddr::from([127, 0, 0, 3])))
        );
        assert_eq!(hosts.lookup_name("commented.example"), None);
        assert_eq!(
            hosts.lookup_address(IpAddr::from([127, 0, 0, 3])),
            Some("NFS.other.example")
        );
        assert_eq!(
            hosts.lookup_address("::1".parse().expect("address")),
            Some("ip6-localhost")
        );
        assert_eq!(hosts.lookup_address(IpAddr::from([10, 0, 0, 1])), None);
    }

    fn srv(priority: u16, weight: u16, target: &str) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port: 88,
            target: target.to_string(),
        }
    }

    fn targets(records: &[SrvRecord]) -> Vec<&str> {
        records.iter().map(|r| r.target.as_str()).collect()
    }

    #[test]
    fn srv_priority_order() {
        let records = vec![
            srv(20, 0, "c"),
            srv(10, 0, "a"),
            srv(10, 0, "b"),
            srv(0, 5, "z"),
        ];
        let ordered = order_srv_records(records, &mut |_| 0);
        assert_eq!(targets(&ordered), vec!["z", "a", "b", "c"]);
    }

    #[test]
    fn srv_weighted_choice() {
        let records = vec![srv(1, 10, "light"), srv(1, 90, "heavy"), srv(1, 0, "zero")];
        // Running sums in the order zero, light, heavy: 0, 10, 100.
        let ordered = order_srv_records(records.clone(), &mut |total| total);
        assert_eq!(targets(&ordered), vec!["heavy", "light", "zero"]);
        let ordered = order_srv_records(records.clone(), &mut |_| 0);
        assert_eq!(targets(&ordered), vec!["zero", "light", "heavy"]);
        let ordered = order_srv_records(records, &mut |total| total.min(5));
        assert_eq!(targets(&ordered), vec!["light", "heavy", "zero"]);
    }

    #[test]
    fn srv_random_source_in_range() {
        for _ in 0..100 {
            assert!(system_random(3) <= 3);
        }
        assert_eq!(system_random(0), 0);
    }
}
