//! KDC location, canonicalization and host realms against a DNS server that
//! the test runs on 127.0.0.1, so no other address is ever contacted.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, CNAME, PTR, SRV, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use krb5::config::Config;
use krb5::locate::{DnsSettings, HostsFile, KdcServer, LocateError, Locator, Transport};
use tokio::net::UdpSocket;

/// DNS records keyed by lowercase query name and type.
type Zone = HashMap<(String, RecordType), Vec<Record>>;

fn name(text: &str) -> Name {
    Name::from_str(text).expect("valid DNS name")
}

fn record(owner: &str, data: RData) -> Record {
    Record::from_rdata(name(owner), 60, data)
}

fn srv(owner: &str, priority: u16, weight: u16, port: u16, target: &str) -> Record {
    record(
        owner,
        RData::SRV(SRV::new(priority, weight, port, name(target))),
    )
}

fn address(owner: &str, ip: [u8; 4]) -> Record {
    record(owner, RData::A(A(Ipv4Addr::from(ip))))
}

/// The test zone. Only the name server on 127.0.0.1 is contacted: the
/// addresses in the records are data. Reverse lookups use 192.0.2.7 (RFC 5737
/// documentation range) because hickory returns `localhost` for every
/// 127.0.0.0/8 address without asking the server.
fn zone() -> Zone {
    let mut zone = Zone::new();
    let mut add = |owner: &str, kind: RecordType, records: Vec<Record>| {
        zone.insert((owner.to_string(), kind), records);
    };

    add(
        "_kerberos._udp.srv.test.",
        RecordType::SRV,
        vec![
            srv("_kerberos._udp.srv.test.", 20, 0, 88, "backup.srv.test."),
            srv("_kerberos._udp.srv.test.", 10, 0, 8888, "kdc1.srv.test."),
        ],
    );
    add(
        "_kerberos._tcp.srv.test.",
        RecordType::SRV,
        vec![srv(
            "_kerberos._tcp.srv.test.",
            0,
            0,
            1088,
            "kdc1.srv.test.",
        )],
    );
    add(
        "_kerberos._udp.none.test.",
        RecordType::SRV,
        vec![srv("_kerberos._udp.none.test.", 0, 0, 0, ".")],
    );
    add(
        "kdc1.srv.test.",
        RecordType::A,
        vec![address("kdc1.srv.test.", [127, 0, 0, 1])],
    );

    add(
        "alias.example.test.",
        RecordType::A,
        vec![
            record(
                "alias.example.test.",
                RData::CNAME(CNAME(name("real.example.test."))),
            ),
            address("real.example.test.", [192, 0, 2, 7]),
        ],
    );
    add(
        "real.example.test.",
        RecordType::A,
        vec![address("real.example.test.", [192, 0, 2, 7])],
    );
    add(
        "7.2.0.192.in-addr.arpa.",
        RecordType::PTR,
        vec![record(
            "7.2.0.192.in-addr.arpa.",
            RData::PTR(PTR(name("ptr-name.example.test."))),
        )],
    );
    add(
        "_kerberos.example.test.",
        RecordType::TXT,
        vec![record(
            "_kerberos.example.test.",
            RData::TXT(TXT::new(vec!["TXT.REALM".to_string()])),
        )],
    );
    zone
}

/// Serves `zone` over UDP on 127.0.0.1 until the test's runtime stops.
async fn start_dns_server(zone: Zone) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
    let local = socket.local_addr().expect("local address");
    let zone = Arc::new(zone);
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 4096];
        loop {
            let Ok((length, peer)) = socket.recv_from(&mut buffer).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buffer[..length]) else {
                continue;
            };
            let mut response =
                Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
            response.metadata.recursion_desired = query.metadata.recursion_desired;
            response.metadata.recursion_available = true;
            response.metadata.authoritative = true;
            let mut found = false;
            for question in &query.queries {
                response.add_query(question.clone());
                let key = (
                    question.name().to_ascii().to_ascii_lowercase(),
                    question.query_type(),
                );
                if let Some(records) = zone.get(&key) {
                    found = true;
                    for answer in records {
                        response.add_answer(answer.clone());
                    }
                }
            }
            if !found {
                response.metadata.response_code = ResponseCode::NXDomain;
            }
            if let Ok(bytes) = response.to_vec() {
                let _ = socket.send_to(&bytes, peer).await;
            }
        }
    });
    local
}

async fn locator(hosts: &str) -> Locator {
    let server = start_dns_server(zone()).await;
    let settings = DnsSettings {
        name_servers: vec![server],
        search: vec!["example.test".to_string()],
        timeout: Duration::from_secs(2),
        attempts: 1,
        ndots: 1,
    };
    Locator::new(&settings, HostsFile::parse(hosts)).expect("resolver builds")
}

fn config(text: &str) -> Config {
    Config::from_text(text, "test.conf").expect("valid profile")
}

fn kdc(host: &str, port: u16, transport: Transport) -> KdcServer {
    KdcServer {
        host: host.to_string(),
        port,
        transport,
    }
}

#[tokio::test]
async fn srv_records_udp_then_tcp() {
    let locator = locator("").await;
    let servers = locator
        .locate_kdcs(&Config::default(), "SRV.TEST")
        .await
        .expect("SRV records found");
    assert_eq!(
        servers,
        vec![
            kdc("kdc1.srv.test", 8888, Transport::Udp),
            kdc("backup.srv.test", 88, Transport::Udp),
            kdc("kdc1.srv.test", 1088, Transport::Tcp),
        ]
    );
}

#[tokio::test]
async fn config_kdcs_take_precedence_over_dns() {
    let locator = locator("").await;
    let c = config("[realms]\nSRV.TEST = {\n kdc = 127.0.0.1:7088\n}\n");
    let servers = locator
        .locate_kdcs(&c, "SRV.TEST")
        .await
        .expect("configured");
    assert_eq!(servers, vec![kdc("127.0.0.1", 7088, Transport::Any)]);
}

#[tokio::test]
async fn dns_lookup_kdc_false_skips_dns() {
    let locator = locator("").await;
    let c = config("[libdefaults]\ndns_lookup_kdc = false\n");
    let error = locator
        .locate_kdcs(&c, "SRV.TEST")
        .await
        .expect_err("DNS is off");
    assert!(matches!(error, LocateError::NoKdc { .. }), "{error}");
}

#[tokio::test]
async fn srv_dot_target_means_no_service() {
    let locator = locator("").await;
    let error = locator
        .locate_kdcs(&Config::default(), "NONE.TEST")
        .await
        .expect_err("no service");
    assert!(matches!(error, LocateError::NoKdc { .. }), "{error}");
}

#[tokio::test]
async fn missing_srv_records_name_the_realm() {
    let locator = locator("").await;
    let error = locator
        .locate_kdcs(&Config::default(), "ABSENT.TEST")
        .await
        .expect_err("no records");
    let message = error.to_string();
    assert!(message.contains("ABSENT.TEST"), "{message}");
    assert!(message.contains("_kerberos._udp.ABSENT.TEST."), "{message}");
}

#[tokio::test]
async fn resolve_host_from_dns_and_hosts() {
    let locator = locator("127.0.0.9 static.example.test static\n").await;
    assert_eq!(
        locator.resolve_host("kdc1.srv.test").await,
        Ok(vec![IpAddr::from([127, 0, 0, 1])])
    );
    assert_eq!(
        locator.resolve_host("static").await,
        Ok(vec![IpAddr::from([127, 0, 0, 9])])
    );
    assert!(locator.resolve_host("absent.srv.test.").await.is_err());
    let addresses = locator
        .kdc_addresses(&kdc("kdc1.srv.test", 8888, Transport::Udp))
        .await
        .expect("resolves");
    assert_eq!(addresses, vec![SocketAddr::from(([127, 0, 0, 1], 8888))]);
}

#[tokio::test]
async fn canonicalize_follows_cname_and_ptr() {
    let locator = locator("").await;
    let names = locator
        .canonicalize_host(&Config::default(), "Alias.Example.Test")
        .await
        .expect("canonicalizes");
    assert_eq!(names, vec!["ptr-name.example.test"]);
}

#[tokio::test]
async fn canonicalize_without_rdns_keeps_cname_target() {
    let locator = locator("").await;
    let c = config("[libdefaults]\nrdns = false\n");
    let names = locator
        .canonicalize_host(&c, "alias.example.test")
        .await
        .expect("canonicalizes");
    assert_eq!(names, vec!["real.example.test"]);
}

#[tokio::test]
async fn canonicalize_false_uses_name_as_given() {
    let locator = locator("").await;
    let c = config("[libdefaults]\ndns_canonicalize_hostname = false\n");
    let names = locator
        .canonicalize_host(&c, "Alias.Example.Test.")
        .await
        .expect("no lookups");
    assert_eq!(names, vec!["alias.example.test"]);
}

#[tokio::test]
async fn canonicalize_fallback_tries_both() {
    let locator = locator("").await;
    let c = config("[libdefaults]\ndns_canonicalize_hostname = fallback\nrdns = false\n");
    let names = locator
        .canonicalize_host(&c, "alias.example.test")
        .await
        .expect("canonicalizes");
    assert_eq!(names, vec!["alias.example.test", "real.example.test"]);
}

#[tokio::test]
async fn canonicalize_short_name_qualified() {
    let locator = locator("").await;
    let c = config("[libdefaults]\ndns_canonicalize_hostname = false\n");
    let names = locator
        .canonicalize_host(&c, "nfs")
        .await
        .expect("no lookups");
    assert_eq!(names, vec!["nfs.example.test"]);
    let c =
        config("[libdefaults]\ndns_canonicalize_hostname = false\nqualify_shortname = corp.test\n");
    let names = locator
        .canonicalize_host(&c, "nfs")
        .await
        .expect("no lookups");
    assert_eq!(names, vec!["nfs.corp.test"]);
    let c = config("[libdefaults]\ndns_canonicalize_hostname = false\nqualify_shortname = \"\"\n");
    let names = locator
        .canonicalize_host(&c, "nfs")
        .await
        .expect("no lookups");
    assert_eq!(names, vec!["nfs"]);
}

#[tokio::test]
async fn canonicalize_uses_hosts_file() {
    let locator = locator("127.0.0.8 server.example.test server nfsalias\n").await;
    let names = locator
        .canonicalize_host(&Config::default(), "nfsalias")
        .await
        .expect("canonicalizes");
    assert_eq!(names, vec!["server.example.test"]);
}

#[tokio::test]
async fn canonicalize_unknown_name_kept() {
    let locator = locator("").await;
    let c = config("[libdefaults]\nqualify_shortname = \"\"\n");
    let names = locator
        .canonicalize_host(&c, "unknown.srv.test")
        .await
        .expect("falls back to the name");
    assert_eq!(names, vec!["unknown.srv.test"]);
}

#[tokio::test]
async fn canonicalize_address_literal_reverse() {
    let locator = locator("").await;
    let names = locator
        .canonicalize_host(&Config::default(), "192.0.2.7")
        .await
        .expect("canonicalizes");
    assert_eq!(names, vec!["ptr-name.example.test"]);
}

#[tokio::test]
async fn realm_for_host_order() {
    let locator = locator("").await;
    let c = config(
        "[libdefaults]\n\
         default_realm = DEFAULT.REALM\n\
         dns_lookup_realm = true\n\
         [domain_realm]\n\
         .mapped.test = MAPPED.REALM\n",
    );
    assert_eq!(
        locator.realm_for_host(&c, "a.mapped.test").await,
        Ok(Some("MAPPED.REALM".to_string()))
    );
    assert_eq!(
        locator.realm_for_host(&c, "nfs.example.test").await,
        Ok(Some("TXT.REALM".to_string()))
    );
    assert_eq!(
        locator.realm_for_host(&c, "host.unmapped.test").await,
        Ok(Some("DEFAULT.REALM".to_string()))
    );
    let c = config("[libdefaults]\ndefault_realm = DEFAULT.REALM\n");
    assert_eq!(
        locator.realm_for_host(&c, "nfs.example.test").await,
        Ok(Some("DEFAULT.REALM".to_string()))
    );
}

#[tokio::test]
async fn fallback_realm_for_host_order() {
    let locator = locator("").await;
    let c = config("[libdefaults]\ndefault_realm = DEFAULT.REALM\ndns_lookup_realm = true\n");
    assert_eq!(
        locator
            .fallback_realm_for_host(&c, "nfs.example.test")
            .await,
        Ok(Some("TXT.REALM".to_string()))
    );
    assert_eq!(
        locator
            .fallback_realm_for_host(&c, "nfs.lab.unmapped.test")
            .await,
        Ok(Some("LAB.UNMAPPED.TEST".to_string()))
    );
    assert_eq!(
        locator.fallback_realm_for_host(&c, "shortname").await,
        Ok(Some("DEFAULT.REALM".to_string()))
    );
}

#[tokio::test]
async fn realm_try_domains_probes_kdcs() {
    let locator = locator("").await;
    let c = config("[libdefaults]\nrealm_try_domains = 1\n");
    assert_eq!(
        locator.fallback_realm_for_host(&c, "nfs.srv.test").await,
        Ok(Some("SRV.TEST".to_string()))
    );
    let c = config("[libdefaults]\nrealm_try_domains = 0\n");
    assert_eq!(
        locator.fallback_realm_for_host(&c, "x.nfs.srv.test").await,
        Ok(Some("NFS.SRV.TEST".to_string()))
    );
}
