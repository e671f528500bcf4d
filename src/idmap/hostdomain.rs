//! The host's DNS domain, the default NFSv4 domain when idmapd.conf sets
//! none, found as libnfsidmap 2.9 (`domain_from_dns`) finds it but without
//! NSS: the host name from uname(2) and its canonical name from /etc/hosts.
//!
//! NOTE: libnfsidmap resolves the host name through NSS, which may ask DNS,
//! and prefers the `_nfsv4idmapdomain` TXT record of the domain when there
//! is one. rgssd reads only /etc/hosts and never queries DNS, so a site
//! that relies on either must set `Domain` in idmapd.conf.

use std::net::Ipv4Addr;
use std::path::Path;

/// The NFSv4 domain libnfsidmap uses when neither idmapd.conf nor the host
/// name gives one.
pub const FALLBACK_DOMAIN: &str = "localdomain";

/// Returns the canonical name of `host` from /etc/hosts content: the first
/// name on the first IPv4 line that lists `host` (ignoring ASCII case), as
/// glibc's `gethostbyname` gives it from the files database.
pub fn canonical_name<'a>(host: &str, hosts: &'a str) -> Option<&'a str> {
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_ascii_whitespace();
        let Some(address) = fields.next() else {
            continue;
        };
        if address.parse::<Ipv4Addr>().is_err() {
            continue;
        }

        let names: Vec<&str> = fields.collect();
        if names.iter().any(|name| name.eq_ignore_ascii_case(host)) {
            return names.first().copied();
        }
    }
    None
}

/// Returns the DNS domain of `host`: the part after the first dot of its
/// canonical name from `hosts`, or of `host` itself when `hosts` does not
/// list it. Returns `None` when that name has no dot or ends in one.
pub fn dns_domain(host: &str, hosts: &str) -> Option<String> {
    let name = canonical_name(host, hosts).unwrap_or(host);
    let (_, domain) = name.split_once('.')?;
    if domain.is_empty() {
        return None;
    }
    Some(domain.to_string())
}

/// Returns the DNS domain of this host from uname(2) and `hosts_path`
/// (normally /etc/hosts), or `None` when it has none.
pub fn host_dns_domain(hosts_path: &Path) -> Option<String> {
    let host = match nix::unistd::gethostname() {
        Ok(host) => host.to_string_lossy().into_owned(),
        Err(e) => {
            log::warn!("cannot read the host name for the default NFSv4 domain: {e}");
            return None;
        }
    };

    let hosts = match std::fs::read_to_string(hosts_path) {
        Ok(hosts) => hosts,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            log::warn!(
                "cannot read {}, so the host name {host} is used as it is: {e}",
                hosts_path.display()
            );
            String::new()
        }
    };
    dns_domain(&host, &hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTS: &str = "127.0.0.1\tlocalhost\n\
        ::1 server.v6.example localhost ip6-localhost server\n\
        # 192.0.2.9 server.commented.example server\n\
        192.0.2.10 server.example.com server   # the NFS server\n\
        192.0.2.11 bare other.example.org\n\
        192.0.2.12 server.later.example server\n";

    #[test]
    fn canonical_from_first_ipv4_line() {
        assert_eq!(canonical_name("server", HOSTS), Some("server.example.com"));
        assert_eq!(canonical_name("SERVER", HOSTS), Some("server.example.com"));
        assert_eq!(canonical_name("other.example.org", HOSTS), Some("bare"));
        assert_eq!(canonical_name("absent", HOSTS), None);
    }

    #[test]
    fn domain_after_first_dot() {
        assert_eq!(dns_domain("server", HOSTS).as_deref(), Some("example.com"));
        assert_eq!(
            dns_domain("web.dept.example.net", "").as_deref(),
            Some("dept.example.net")
        );
    }

    #[test]
    fn domain_missing_without_dot() {
        // The canonical name wins even when it has no dot, as in libnfsidmap.
        assert_eq!(dns_domain("other.example.org", HOSTS), None);
        assert_eq!(dns_domain("localhost", HOSTS), None);
        assert_eq!(dns_domain("plain", ""), None);
        assert_eq!(dns_domain("trailing.", ""), None);
    }
}
