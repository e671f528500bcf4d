//! Host-to-realm mapping (`[domain_realm]` and MIT's domain fallback) and
//! cross-realm paths (`[capaths]`, else the RFC 4120 §1.2 hierarchy).

use std::net::IpAddr;

use super::Config;

/// Lowercases a host name and strips one trailing dot, as MIT's
/// `clean_hostname` does before any realm lookup.
pub fn clean_hostname(host: &str) -> String {
    let lower = host.to_ascii_lowercase();
    match lower.strip_suffix('.') {
        Some(stripped) => stripped.to_string(),
        None => lower,
    }
}

/// Returns true when `host` is an IPv4 or IPv6 address literal.
pub fn is_numeric_address(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok()
}

impl Config {
    /// Maps a host to its realm with `[domain_realm]`, as MIT 1.20's profile
    /// module does: the cleaned host name itself, then for each parent domain
    /// `.domain` followed by `domain`. So `example.com = R` also matches
    /// `host.example.com`, after any `.example.com` entry. Address literals
    /// are never mapped.
    ///
    /// `None` means no entry matched. MIT then requests a referral from the
    /// KDC and uses [`Config::fallback_host_realm`] when that fails.
    pub fn domain_realm(&self, host: &str) -> Option<&str> {
        let host = clean_hostname(host);
        if is_numeric_address(&host) {
            return None;
        }
        let mut candidate = host.as_str();
        loop {
            if let Some(realm) = self.value(&["domain_realm", candidate]) {
                return Some(realm);
            }
            candidate = if let Some(rest) = candidate.strip_prefix('.') {
                rest
            } else {
                match candidate.find('.') {
                    Some(dot) => &candidate[dot..],
                    None => return None,
                }
            };
            if candidate.is_empty() {
                return None;
            }
        }
    }

    /// Returns the realm MIT's domain heuristic gives a host when nothing
    /// else maps it: the uppercased host name without its first label
    /// (`nfs1.lab.example.com` → `LAB.EXAMPLE.COM`), or the default realm
    /// for a one-label name or an address literal.
    ///
    /// NOTE: MIT first tries DNS TXT records (when `dns_lookup_realm` is set)
    /// and the `realm_try_domains` KDC probes. Those need the network, so
    /// `locate::Locator::fallback_realm_for_host` does them before it calls
    /// this.
    pub fn fallback_host_realm(&self, host: &str) -> Option<String> {
        let host = clean_hostname(host);
        if !is_numeric_address(&host) {
            if let Some((_, parent)) = host.split_once('.') {
                return Some(parent.to_ascii_uppercase());
            }
        }
        self.default_realm().map(str::to_string)
    }

    /// Returns the `[capaths]` path from `client` to `server`: the client
    /// realm, the intermediate realms, then the server realm. A first value
    /// of `.` means a direct path. `None` when capaths has no entry.
    pub fn capath(&self, client: &str, server: &str) -> Option<Vec<String>> {
        let values = self.values(&["capaths", client, server]);
        if values.is_empty() {
            return None;
        }
        let mut path = vec![client.to_string()];
        if !values.first().is_some_and(|v| v.starts_with('.')) {
            // MIT keeps each value up to its first blank.
            path.extend(
                values
                    .iter()
                    .map(|v| v.split([' ', '\t']).next().unwrap_or(v).to_string()),
            );
        }
        path.push(server.to_string());
        Some(path)
    }

    /// Returns the realms a client in `client` passes through to reach
    /// `server`, both ends included: the `[capaths]` path when configured,
    /// else the hierarchical path of RFC 4120 §1.2 (see [`hierarchical_path`]).
    /// The path for a realm to itself is that realm alone.
    pub fn realm_path(&self, client: &str, server: &str) -> Vec<String> {
        if client == server {
            return vec![client.to_string()];
        }
        self.capath(client, server)
            .unwrap_or_else(|| hierarchical_path(client, server))
    }
}

/// Returns the hierarchical path between two domain-style realms, as MIT's
/// `krb5_walk_realm_tree` builds it: up from `client` through each parent
/// domain to the longest common suffix of whole labels, then down to
/// `server`. Without a common suffix the path climbs to the last label of
/// `client` and descends from the last label of `server`
/// (`A.EXAMPLE.COM`, `EXAMPLE.COM`, `COM`, `ORG`, `B.ORG`).
pub fn hierarchical_path(client: &str, server: &str) -> Vec<String> {
    let client_labels: Vec<&str> = client.split('.').collect();
    let server_labels: Vec<&str> = server.split('.').collect();
    let common = client_labels
        .iter()
        .rev()
        .zip(server_labels.iter().rev())
        .take_while(|(c, s)| c == s)
        .count();

    let suffix = |labels: &[&str], start: usize| labels[start..].join(".");

    let mut path = Vec::new();
    // Client side: every suffix from the full name down to the common one,
    // or down to the last label when nothing is shared.
    let client_stop = if common == 0 {
        client_labels.len()
    } else {
        client_labels.len() - common + 1
    };
    for start in 0..client_stop {
        path.push(suffix(&client_labels, start));
    }
    // Server side: the suffixes below the common one, outermost first.
    let server_stop = server_labels.len() - common;
    for start in (0..server_stop).rev() {
        path.push(suffix(&server_labels, start));
    }
    path.dedup();
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::from_text(text, "test.conf").expect("valid profile")
    }

    #[test]
    fn clean_hostname_lowercases_and_strips_dot() {
        assert_eq!(clean_hostname("NFS.Example.COM."), "nfs.example.com");
        assert_eq!(clean_hostname("host"), "host");
    }

    #[test]
    fn domain_realm_most_specific_first() {
        let c = config(
            "[domain_realm]\n\
             .example.com = EXAMPLE.COM\n\
             example.com = PLAIN.EXAMPLE.COM\n\
             special.example.com = SPECIAL.COM\n\
             .lab.example.com = LAB.EXAMPLE.COM\n",
        );
        assert_eq!(c.domain_realm("special.example.com"), Some("SPECIAL.COM"));
        assert_eq!(
            c.domain_realm("NFS.LAB.example.com."),
            Some("LAB.EXAMPLE.COM")
        );
        assert_eq!(c.domain_realm("www.example.com"), Some("EXAMPLE.COM"));
        assert_eq!(c.domain_realm("example.com"), Some("PLAIN.EXAMPLE.COM"));
        assert_eq!(c.domain_realm("example.org"), None);
        assert_eq!(c.domain_realm("localhost"), None);
    }

    #[test]
    fn domain_realm_bare_domain_matches_subdomains() {
        let c = config("[domain_realm]\nexample.com = EXAMPLE.COM\n");
        assert_eq!(c.domain_realm("a.b.example.com"), Some("EXAMPLE.COM"));
    }

    #[test]
    fn domain_realm_skips_addresses() {
        let c = config("[domain_realm]\n127.0.0.1 = LOOP\n.1 = ONE\n");
        assert_eq!(c.domain_realm("127.0.0.1"), None);
        assert_eq!(c.domain_realm("::1"), None);
    }

    #[test]
    fn fallback_realm_uppercases_parent() {
        let c = config("[libdefaults]\ndefault_realm = DEF.REALM\n");
        assert_eq!(
            c.fallback_host_realm("nfs1.lab.example.com").as_deref(),
            Some("LAB.EXAMPLE.COM")
        );
        assert_eq!(c.fallback_host_realm("nfs1").as_deref(), Some("DEF.REALM"));
        assert_eq!(
            c.fallback_host_realm("10.0.0.1").as_deref(),
            Some("DEF.REALM")
        );
        assert_eq!(Config::default().fallback_host_realm("nfs1"), None);
    }

    #[test]
    fn capaths_intermediates_and_direct() {
        let c = config(
            "[capaths]\n\
             A.COM = {\n\
             \tC.COM = B.COM\n\
             \tC.COM = X.COM\n\
             \tD.COM = .\n\
             }\n",
        );
        assert_eq!(
            c.capath("A.COM", "C.COM"),
            Some(vec![
                "A.COM".into(),
                "B.COM".into(),
                "X.COM".into(),
                "C.COM".into()
            ])
        );
        assert_eq!(
            c.capath("A.COM", "D.COM"),
            Some(vec!["A.COM".into(), "D.COM".into()])
        );
        assert_eq!(c.capath("A.COM", "E.COM"), None);
        assert_eq!(c.realm_path("A.COM", "D.COM"), vec!["A.COM", "D.COM"]);
    }

    #[test]
    fn hierarchy_siblings() {
        assert_eq!(
            hierarchical_path("A.EXAMPLE.COM", "B.EXAMPLE.COM"),
            vec!["A.EXAMPLE.COM", "EXAMPLE.COM", "B.EXAMPLE.COM"]
        );
    }

    #[test]
    fn hierarchy_climbs_to_shared_suffix() {
        assert_eq!(
            hierarchical_path("ATHENA.MIT.EDU", "CS.WASHINGTON.EDU"),
            vec![
                "ATHENA.MIT.EDU",
                "MIT.EDU",
                "EDU",
                "WASHINGTON.EDU",
                "CS.WASHINGTON.EDU"
            ]
        );
    }

    #[test]
    fn hierarchy_parent_and_child() {
        assert_eq!(
            hierarchical_path("EXAMPLE.COM", "A.EXAMPLE.COM"),
            vec!["EXAMPLE.COM", "A.EXAMPLE.COM"]
        );
        assert_eq!(
            hierarchical_path("X.A.EXAMPLE.COM", "EXAMPLE.COM"),
            vec!["X.A.EXAMPLE.COM", "A.EXAMPLE.COM", "EXAMPLE.COM"]
        );
    }

    #[test]
    fn hierarchy_nothing_shared() {
        assert_eq!(
            hierarchical_path("A.EXAMPLE.COM", "B.ORG"),
            vec!["A.EXAMPLE.COM", "EXAMPLE.COM", "COM", "ORG", "B.ORG"]
        );
    }

    #[test]
    fn hierarchy_partial_label_is_not_shared() {
        assert_eq!(
            hierarchical_path("XEXAMPLE.COM", "EXAMPLE.COM"),
            vec!["XEXAMPLE.COM", "COM", "EXAMPLE.COM"]
        );
    }

    #[test]
    fn realm_path_same_realm() {
        assert_eq!(
            Config::default().realm_path("A.COM", "A.COM"),
            vec!["A.COM"]
        );
    }
}
