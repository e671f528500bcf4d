//! krb5.conf text (MIT profile syntax) and the typed settings read from it:
//! enctype lists, durations, booleans, integers, realm lookups and
//! auth_to_local rules.
#![no_main]

use krb5::config::expand::expand_path_with;
use krb5::config::profile::parse_str;
use krb5::config::Config;
use krb5::Principal;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_str(text, "krb5.conf");
    let Ok(config) = Config::from_text(text, "krb5.conf") else {
        return;
    };

    let _ = config.dns_lookup_kdc();
    let _ = config.dns_lookup_realm();
    let _ = config.dns_canonicalize_hostname();
    let _ = config.rdns();
    let _ = config.allow_weak_crypto();
    let _ = config.udp_preference_limit();
    let _ = config.permitted_enctypes();
    let _ = config.default_tkt_enctypes();
    let _ = config.default_tgs_enctypes();
    let _ = config.clockskew();
    let _ = config.kdc_timesync();
    let _ = config.realm_try_domains();
    let _ = config.qualify_shortname();

    // A name lookup through NSS would dominate the run time.
    let no_user = |_uid: u32| None;
    let _ = expand_path_with(config.default_ccache_name(), 1000, &no_user);
    let _ = expand_path_with(config.default_keytab_name(), 1000, &no_user);
    let _ = expand_path_with(config.default_client_keytab_name(), 1000, &no_user);

    let default_realm = config.default_realm().map(str::to_string);
    let mut realms: Vec<String> = config
        .section_names(&["realms"])
        .into_iter()
        .map(str::to_string)
        .collect();
    realms.extend(default_realm.clone());
    for realm in &realms {
        let _ = config.ticket_lifetime(Some(realm));
        let _ = config.renew_lifetime(Some(realm));
        let _ = config.forwardable(Some(realm));
        let _ = config.proxiable(Some(realm));
        let _ = config.kdcs(realm);
        let _ = config.primary_kdcs(realm);
        let _ = config.admin_servers(realm);
        let _ = config.default_domain(realm);
    }
    let _ = config.ticket_lifetime(None);
    let _ = config.renew_lifetime(None);

    let _ = config.domain_realm("nfs.example.com");
    let _ = config.fallback_host_realm("nfs.example.com");
    if let (Some(first), Some(last)) = (realms.first(), realms.last()) {
        let _ = config.capath(first, last);
        let _ = config.realm_path(first, last);
    }

    let realm = default_realm.unwrap_or_else(|| "EXAMPLE.COM".to_string());
    for name in ["alice", "nfs/server.example.com", "a/b/c"] {
        if let Ok(principal) = Principal::parse(name, Some(&realm)) {
            let _ = config.aname_to_localname(&principal);
        }
    }
});
