//! The KDC client against a real MIT krb5kdc started by `testkdc`.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use krb5::config::Config;
use krb5::credentials::{ticket_flags, Credential};
use krb5::iana::{enctype, key_usage};
use krb5::kdc::{
    AsOptions, KdcClient, KdcError, KdcServer, Secret, Settings, TgsOptions, Transport,
};
use krb5::keytab::Keytab;
use krb5::messages::padata::SaltInfo;
use krb5::messages::{self, error_code};
use krb5::Principal;
use testkdc::{TestKdc, TestKdcOptions};

const REALM: &str = "KRBTEST.COM";
const SECOND_REALM: &str = "SECOND.TEST";

fn endpoint(port: u16) -> KdcServer {
    KdcServer {
        host: "127.0.0.1".to_string(),
        port,
        transport: Transport::Any,
    }
}

/// Settings that reach `kdc` for both of its realms.
fn settings(kdc: &TestKdc) -> Settings {
    let mut kdcs = BTreeMap::new();
    kdcs.insert(kdc.realm().to_string(), vec![endpoint(kdc.port())]);
    if let Some(second) = kdc.second_realm() {
        kdcs.insert(second.to_string(), vec![endpoint(kdc.port())]);
    }
    Settings {
        kdcs,
        kdc_timeout: Duration::from_secs(2),
        ..Settings::default()
    }
}

fn enctype_name(enctype: i32) -> &'static str {
    krb5::iana::enctype::name(enctype).unwrap()
}

fn principal(name: &str) -> Principal {
    Principal::parse(name, Some(REALM)).unwrap()
}

fn start(options: TestKdcOptions) -> TestKdc {
    TestKdc::start(options).unwrap_or_else(|e| panic!("cannot start the test KDC: {e}"))
}

fn now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

/// Decrypts a service ticket with the service's keytab and returns its EncTicketPart.
fn open_ticket(credential: &Credential, keytab: &Keytab) -> messages::EncTicketPart {
    let ticket = messages::decode_ticket(&credential.ticket).unwrap();
    let entry = keytab
        .find_key(
            Some(&credential.server),
            ticket.enc_part.kvno,
            ticket.enc_part.etype,
        )
        .expect("service key in keytab");
    let plaintext = entry
        .key
        .decrypt(key_usage::KDC_REP_TICKET, &ticket.enc_part.cipher)
        .unwrap();
    messages::decode_enc_ticket_part(&plaintext).unwrap()
}

/// Reads the test KDC's krb5.conf, which lists its address.
fn krb5_conf(kdc: &TestKdc) -> Config {
    let path = kdc.krb5_conf();
    Config::load_path_list(path.to_str().unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Builds a client that reads settings and KDC addresses only from the test KDC's krb5.conf.
fn client_from_krb5_conf(kdc: &TestKdc) -> KdcClient {
    KdcClient::from_config(Arc::new(krb5_conf(kdc))).unwrap()
}

async fn as_with_password(enctype: i32) {
    let name = enctype_name(enctype);
    let kdc = start(
        TestKdcOptions::new(REALM)
            .with_enctypes(&[enctype])
            .libdefault(&format!("default_tkt_enctypes = {name}"))
            .libdefault(&format!("default_tgs_enctypes = {name}"))
            .user("alice", "alice password")
            .service("nfs/server.krbtest.com"),
    );
    let client = client_from_krb5_conf(&kdc);
    assert_eq!(client.settings().default_tkt_enctypes, [enctype]);
    let alice = principal("alice");
    let credential = client
        .get_initial_credentials(
            &alice,
            &Secret::password("alice password"),
            &AsOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("AS for enctype {enctype}: {e}\n{}", kdc.log()));

    assert_eq!(credential.client, alice);
    assert!(credential
        .server
        .same_name(&Principal::krbtgt(REALM, REALM)));
    assert_eq!(credential.session_key.enctype(), enctype);
    assert!(credential.flags & ticket_flags::INITIAL != 0);
    assert!(credential.flags & ticket_flags::PRE_AUTHENT != 0);
    assert!(credential.endtime > now());
    let ticket = messages::decode_ticket(&credential.ticket).unwrap();
    assert_eq!(ticket.enc_part.etype, enctype);

    // The TGS exchange with this enctype: the req-body checksum, the
    // authenticator and the subkey-encrypted reply.
    let nfs = principal("nfs/server.krbtest.com");
    let service = client
        .get_service_credentials(&credential, &nfs, &TgsOptions::default())
        .await
        .unwrap_or_else(|e| panic!("TGS for enctype {enctype}: {e}\n{}", kdc.log()))
        .credential;
    assert_eq!(service.session_key.enctype(), enctype);
    let keytab = Keytab::load_path(kdc.keytab("nfs/server.krbtest.com").unwrap()).unwrap();
    let part = open_ticket(&service, &keytab);
    assert_eq!(part.key.value.as_ref(), service.session_key.bytes());
}

async fn as_with_keytab(enctype: i32) {
    let name = enctype_name(enctype);
    let kdc = start(
        TestKdcOptions::new(REALM)
            .with_enctypes(&[enctype])
            .libdefault(&format!("default_tkt_enctypes = {name}"))
            .service("host/client.krbtest.com"),
    );
    let client = client_from_krb5_conf(&kdc);
    let host = principal("host/client.krbtest.com");
    let keytab = Keytab::load_path(kdc.keytab("host/client.krbtest.com").unwrap()).unwrap();
    let credential = client
        .get_initial_credentials(
            &host,
            &Secret::from_keytab(&keytab, &host),
            &AsOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("AS with keytab for enctype {enctype}: {e}\n{}", kdc.log()));
    assert!(credential.client.same_name(&host));
    assert_eq!(credential.session_key.enctype(), enctype);
}

#[tokio::test]
async fn as_password_aes128_sha1() {
    as_with_password(enctype::AES128_CTS_HMAC_SHA1_96).await;
}

#[tokio::test]
async fn as_password_aes256_sha1() {
    as_with_password(enctype::AES256_CTS_HMAC_SHA1_96).await;
}

#[tokio::test]
async fn as_password_aes128_sha2() {
    as_with_password(enctype::AES128_CTS_HMAC_SHA256_128).await;
}

#[tokio::test]
async fn as_password_aes256_sha2() {
    as_with_password(enctype::AES256_CTS_HMAC_SHA384_192).await;
}

#[tokio::test]
async fn as_password_camellia128() {
    as_with_password(enctype::CAMELLIA128_CTS_CMAC).await;
}

#[tokio::test]
async fn as_password_camellia256() {
    as_with_password(enctype::CAMELLIA256_CTS_CMAC).await;
}

#[tokio::test]
async fn as_keytab_aes128_sha1() {
    as_with_keytab(enctype::AES128_CTS_HMAC_SHA1_96).await;
}

#[tokio::test]
async fn as_keytab_aes256_sha1() {
    as_with_keytab(enctype::AES256_CTS_HMAC_SHA1_96).await;
}

#[tokio::test]
async fn as_keytab_aes128_sha2() {
    as_with_keytab(enctype::AES128_CTS_HMAC_SHA256_128).await;
}

#[tokio::test]
async fn as_keytab_aes256_sha2() {
    as_with_keytab(enctype::AES256_CTS_HMAC_SHA384_192).await;
}

#[tokio::test]
async fn as_keytab_camellia128() {
    as_with_keytab(enctype::CAMELLIA128_CTS_CMAC).await;
}

#[tokio::test]
async fn as_keytab_camellia256() {
    as_with_keytab(enctype::CAMELLIA256_CTS_CMAC).await;
}

#[tokio::test]
async fn tgs_service_ticket() {
    let kdc = start(
        TestKdcOptions::new(REALM)
            .user("alice", "pw")
            .service("nfs/server.krbtest.com"),
    );
    let client = KdcClient::new(settings(&kdc));
    let alice = principal("alice");
    let tgt = client
        .get_initial_credentials(&alice, &Secret::password("pw"), &AsOptions::default())
        .await
        .unwrap();
    let nfs = principal("nfs/server.krbtest.com");
    let result = client
        .get_service_credentials(&tgt, &nfs, &TgsOptions::default())
        .await
        .unwrap_or_else(|e| panic!("TGS: {e}\n{}", kdc.log()));

    assert!(result.tgts.is_empty());
    let credential = result.credential;
    assert!(credential.server.same_name(&nfs));
    assert_eq!(credential.client, alice);
    assert!(credential.endtime <= tgt.endtime);

    // The service can open the ticket, and it names alice with the same session key.
    let keytab = Keytab::load_path(kdc.keytab("nfs/server.krbtest.com").unwrap()).unwrap();
    let part = open_ticket(&credential, &keytab);
    assert_eq!(part.crealm.as_bytes(), REALM.as_bytes());
    assert_eq!(part.cname.string[0].as_bytes(), b"alice");
    assert_eq!(part.key.value.as_ref(), credential.session_key.bytes());
}

#[tokio::test]
async fn tgs_unknown_service_names_it() {
    let kdc = start(TestKdcOptions::new(REALM).user("alice", "pw"));
    let client = KdcClient::new(settings(&kdc));
    let tgt = client
        .get_initial_credentials(
            &principal("alice"),
            &Secret::password("pw"),
            &AsOptions::default(),
        )
        .await
        .unwrap();
    let error = client
        .get_service_credentials(
            &tgt,
            &principal("nfs/missing.krbtest.com"),
            &TgsOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.kdc_code(),
        Some(error_code::KDC_ERR_S_PRINCIPAL_UNKNOWN)
    );
    let text = error.to_string();
    assert!(
        text.starts_with("Server not found in Kerberos database"),
        "{text}"
    );
    assert!(
        text.contains("nfs/missing.krbtest.com@KRBTEST.COM"),
        "{text}"
    );
}

#[tokio::test]
async fn as_wrong_password() {
    let kdc = start(TestKdcOptions::new(REALM).user("alice", "right"));
    let client = KdcClient::new(settings(&kdc));
    let error = client
        .get_initial_credentials(
            &principal("alice"),
            &Secret::password("wrong"),
            &AsOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kdc_code(), Some(error_code::KDC_ERR_PREAUTH_FAILED));
    let text = error.to_string();
    assert!(text.starts_with("Preauthentication failed"), "{text}");
    assert!(text.contains("alice@KRBTEST.COM"), "{text}");
}

#[tokio::test]
async fn as_unknown_client() {
    let kdc = start(TestKdcOptions::new(REALM));
    let client = KdcClient::new(settings(&kdc));
    let error = client
        .get_initial_credentials(
            &principal("nobody"),
            &Secret::password("x"),
            &AsOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error.kdc_code(),
        Some(error_code::KDC_ERR_C_PRINCIPAL_UNKNOWN)
    );
    let text = error.to_string();
    assert!(
        text.starts_with("Client not found in Kerberos database"),
        "{text}"
    );
    assert!(text.contains("nobody@KRBTEST.COM"), "{text}");
}

#[tokio::test]
async fn failover_from_dead_kdc() {
    // krb5.conf lists a closed loopback port before the real KDC.
    let dead = testkdc::free_port().unwrap();
    let kdc = start(
        TestKdcOptions::new(REALM)
            .kdc_before(&format!("127.0.0.1:{dead}"))
            .user("alice", "pw"),
    );
    let client = client_from_krb5_conf(&kdc);
    let located = krb5::locate::locate_kdcs(&krb5_conf(&kdc), REALM)
        .await
        .unwrap();
    assert_eq!(located.len(), 2);
    assert_eq!(located[0].port, dead);

    let credential = client
        .get_initial_credentials(
            &principal("alice"),
            &Secret::password("pw"),
            &AsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(credential.client, principal("alice"));
}

#[tokio::test]
async fn all_kdcs_dead_is_unreachable() {
    let dead = testkdc::free_port().unwrap();
    let mut settings = Settings {
        kdc_timeout: Duration::from_millis(500),
        ..Settings::default()
    };
    settings
        .kdcs
        .insert(REALM.to_string(), vec![endpoint(dead)]);
    let client = KdcClient::new(settings);
    let error = client
        .get_initial_credentials(
            &principal("alice"),
            &Secret::password("pw"),
            &AsOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, KdcError::Unreachable { .. }), "{error}");
    assert!(error
        .to_string()
        .starts_with("Cannot contact any KDC for realm KRBTEST.COM"));
}

/// What the relay does with TCP connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TcpPlan {
    /// Relays them to the KDC.
    Relay,
    /// Accepts them and never replies.
    Silent,
    /// Listens on nothing, so connections are refused.
    Refused,
}

/// How the relay treats the traffic it receives.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Reply to every datagram with KRB_ERR_RESPONSE_TOO_BIG instead of
    /// relaying it.
    too_big: bool,
    /// The number of datagrams dropped before the relay forwards any.
    drop_first: usize,
    /// The delay before a KDC reply goes back over UDP.
    reply_delay: Duration,
    /// Forward each distinct request once and drop its resends.
    once_per_request: bool,
    /// Drop every datagram.
    udp_silent: bool,
    tcp: TcpPlan,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            too_big: false,
            drop_first: 0,
            reply_delay: Duration::ZERO,
            once_per_request: false,
            udp_silent: false,
            tcp: TcpPlan::Relay,
        }
    }
}

/// A UDP and TCP relay on one loopback port in front of a KDC, counting
/// what it receives and forwards.
struct Relay {
    port: u16,
    udp_requests: Arc<AtomicUsize>,
    /// Datagrams forwarded to the KDC.
    forwarded: Arc<AtomicUsize>,
    tcp_requests: Arc<AtomicUsize>,
    /// UDP replies that were KRB_ERR_RESPONSE_TOO_BIG, from the KDC or the relay.
    too_big_replies: Arc<AtomicUsize>,
}

async fn start_relay(kdc_port: u16, plan: Plan) -> Relay {
    let port = testkdc::free_port().unwrap();
    let udp = Arc::new(
        tokio::net::UdpSocket::bind(("127.0.0.1", port))
            .await
            .unwrap(),
    );
    let relay = Relay {
        port,
        udp_requests: Arc::new(AtomicUsize::new(0)),
        forwarded: Arc::new(AtomicUsize::new(0)),
        tcp_requests: Arc::new(AtomicUsize::new(0)),
        too_big_replies: Arc::new(AtomicUsize::new(0)),
    };

    let received = Arc::clone(&relay.udp_requests);
    let forwarded = Arc::clone(&relay.forwarded);
    let too_big_count = Arc::clone(&relay.too_big_replies);
    tokio::spawn(async move {
        let mut seen = HashSet::new();
        let mut buffer = vec![0u8; 65_535];
        loop {
            let Ok((len, peer)) = udp.recv_from(&mut buffer).await else {
                return;
            };
            let count = received.fetch_add(1, Ordering::SeqCst) + 1;
            let request = buffer[..len].to_vec();
            let repeat = !seen.insert(request.clone());
            if plan.udp_silent || count <= plan.drop_first || (plan.once_per_request && repeat) {
                continue;
            }
            if !plan.too_big {
                forwarded.fetch_add(1, Ordering::SeqCst);
            }
            let udp = Arc::clone(&udp);
            let too_big_count = Arc::clone(&too_big_count);
            tokio::spawn(async move {
                let reply = if plan.too_big {
                    response_too_big()
                } else {
                    ask_kdc_udp(kdc_port, &request).await
                };
                if matches!(
                    messages::decode_krb_error(&reply),
                    Ok(error) if error.error_code == error_code::KRB_ERR_RESPONSE_TOO_BIG
                ) {
                    too_big_count.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(plan.reply_delay).await;
                let _ = udp.send_to(&reply, peer).await;
            });
        }
    });

    if plan.tcp != TcpPlan::Refused {
        let tcp = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let accepted = Arc::clone(&relay.tcp_requests);
        tokio::spawn(async move {
            let mut open_streams = Vec::new();
            loop {
                let Ok((mut stream, _)) = tcp.accept().await else {
                    return;
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                if plan.tcp == TcpPlan::Silent {
                    open_streams.push(stream);
                    continue;
                }
                tokio::spawn(async move {
                    let mut upstream = tokio::net::TcpStream::connect(("127.0.0.1", kdc_port))
                        .await
                        .unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
                });
            }
        });
    }
    relay
}

async fn ask_kdc_udp(kdc_port: u16, request: &[u8]) -> Vec<u8> {
    let upstream = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    upstream
        .send_to(request, ("127.0.0.1", kdc_port))
        .await
        .unwrap();
    let mut reply = vec![0u8; 65_535];
    let len = upstream.recv(&mut reply).await.unwrap();
    reply.truncate(len);
    reply
}

fn response_too_big() -> Vec<u8> {
    let error = messages::KrbError {
        pvno: 5.into(),
        msg_type: 30.into(),
        ctime: None,
        cusec: None,
        stime: messages::time::from_unix(i64::from(now())).unwrap(),
        susec: 0.into(),
        error_code: error_code::KRB_ERR_RESPONSE_TOO_BIG,
        crealm: None,
        cname: None,
        realm: messages::convert::kerberos_string(REALM, "KRB-ERROR", "realm").unwrap(),
        sname: messages::convert::principal_name(&Principal::krbtgt(REALM, REALM))
            .unwrap()
            .0,
        e_text: None,
        e_data: None,
    };
    messages::encode(&error, "KRB-ERROR").unwrap()
}

#[tokio::test]
async fn udp_preference_limit_sends_tcp_first() {
    let kdc = start(TestKdcOptions::new(REALM).user("alice", "pw"));
    let relay = start_relay(kdc.port(), Plan::default()).await;
    let mut settings = settings(&kdc);
    settings
        .kdcs
        .insert(REALM.to_string(), vec![endpoint(relay.port)]);

    let udp_client = KdcClient::new(settings.clone());
    udp_client
        .get_initial_credentials(
            &principal("alice"),
            &Secret::password("pw"),
            &AsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(relay.udp_requests.load(Ordering::SeqCst), 2);
    assert_eq!(relay.tcp_requests.load(Ordering::SeqCst), 0);

    settings.udp_preference_limit = 1;
    let tcp_client = KdcClient::new(settings);
    tcp_client
        .get_initial_credentials(
            &principal("alice"),
            &Secret::password("pw"),
            &AsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(relay.udp_requests.load(Ordering::SeqCst), 2);
    assert_eq!(relay.tcp_requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn response_too_big_retries_over_tcp() {
    // The relay sends RESPONSE_TOO_BIG for every UDP request, so both
    // requests of the exchange go over TCP after it.
    let kdc = start(TestKdcOptions::new(REALM).user("alice", "pw"));
    let relay = start_relay(
        kdc.port(),
        Plan {
            too_big: true,
            ..Plan::default()
        },
    )
    .await;
    let mut settings = settings(&kdc);
    settings
        .kdcs
        .insert(REALM.to_string(), vec![endpoint(relay.port)]);
    let client = KdcClient::new(settings);
    let credential = client
        .get_initial_credentials(
            &principal("alice"),
            &Secret::password("pw"),
            &AsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(credential.client, principal("alice"));
    assert_eq!(relay.udp_requests.load(Ordering::SeqCst), 2);
    assert_eq!(relay.too_big_replies.load(Ordering::SeqCst), 2);
    assert_eq!(relay.tcp_requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn mit_response_too_big_retries_over_tcp() {
    // NOTE: testkdc has no [kdcdefaults] option. krb5kdc reads krb5.conf
    // after kdc.conf, so the limit rides in after a libdefaults line.
    let kdc = start(
        TestKdcOptions::new(REALM)
            .libdefault(
                "rdns = false\n[kdcdefaults]\n    kdc_max_dgram_reply_size = 400\n[libdefaults]",
            )
            .user("alice", "pw"),
    );
    let relay = start_relay(kdc.port(), Plan::default()).await;
    let mut settings = settings(&kdc);
    settings
        .kdcs
        .insert(REALM.to_string(), vec![endpoint(relay.port)]);
    let client = KdcClient::new(settings);
    let credential = client
        .get_initial_credentials(
            &principal("alice"),
            &Secret::password("pw"),
            &AsOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("AS: {e}\n{}", kdc.log()));
    assert_eq!(credential.client, principal("alice"));

    // The PREAUTH_REQUIRED error fits in 400 bytes, the AS-REP does not.
    assert_eq!(relay.udp_requests.load(Ordering::SeqCst), 2);
    assert_eq!(relay.too_big_replies.load(Ordering::SeqCst), 1);
    assert_eq!(relay.tcp_requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn clock_skew_is_reported() {
    let kdc = start(TestKdcOptions::new(REALM).user("alice", "pw"));
    let client = KdcClient::new(Settings {
        clock_offset: 3600,
        ..settings(&kdc)
    });
    let error = client
        .get_initial_credentials(
            &principal("alice"),
            &Secret::password("pw"),
            &AsOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, KdcError::ClockSkew { .. }), "{error}");
    let text = error.to_string();
    assert!(text.starts_with("Clock skew too great"), "{text}");
    assert!(text.contains("fix the system clock"), "{text}");
}

#[tokio::test]
async fn tgs_clock_skew_is_reported() {
    let kdc = start(
        TestKdcOptions::new(REALM)
            .user("alice", "pw")
            .service("nfs/server.krbtest.com"),
    );
    let tgt = KdcClient::new(settings(&kdc))
        .get_initial_credentials(
            &principal("alice"),
            &Secret::password("pw"),
            &AsOptions::default(),
        )
        .await
        .unwrap();

    // The authenticator's ctime is an hour behind the KDC's clock.
    let skewed = KdcClient::new(Settings {
        clock_offset: -3600,
        ..settings(&kdc)
    });
    let error = skewed
        .get_service_credentials(
            &tgt,
            &principal("nfs/server.krbtest.com"),
            &TgsOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, KdcError::ClockSkew { .. }), "{error}");
    let KdcError::ClockSkew { skew, .. } = error else {
        unreachable!();
    };
    assert!((3500..=3700).contains(&skew), "skew {skew}");
}

#[tokio::test]
async fn renew_extends_ticket() {
    let kdc = start(TestKdcOptions::new(REALM).user("alice", "pw"));
    let client = KdcClient::new(settings(&kdc));
    let options = AsOptions {
        lifetime: Duration::from_secs(600),
        renew_lifetime: Some(Duration::from_secs(7200)),
        forwardable: true,
        ..AsOptions::default()
    };
    let tgt = client
        .get_initial_credentials(&principal("alice"), &Secret::password("pw"), &options)
        .await
        .unwrap();
    assert!(tgt.flags & ticket_flags::RENEWABLE != 0);
    assert!(tgt.flags & ticket_flags::FORWARDABLE != 0);
    assert!(tgt.renew_till > tgt.endtime);
    assert!(tgt.endtime <= now() + 600 + 5);

    // MIT's KDC keeps the ticket's lifetime on renewal, so the new end time
    // moves forward by the time since the ticket started.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let renewed = client
        .renew(&tgt)
        .await
        .unwrap_or_else(|e| panic!("renew: {e}\n{}", kdc.log()));
    assert!(renewed.server.same_name(&tgt.server));
    assert_eq!(renewed.authtime, tgt.authtime);
    assert!(renewed.endtime > tgt.endtime);
    assert!(renewed.endtime <= tgt.renew_till);
    assert_ne!(renewed.session_key, tgt.session_key);
    assert!(renewed.flags & ticket_flags::FORWARDABLE != 0);

    // The renewed ticket stays renewable until the same time, so it can be
    // renewed again.
    assert!(
        renewed.flags & ticket_flags::RENEWABLE != 0,
        "{:#x}",
        renewed.flags
    );
    assert_eq!(renewed.renew_till, tgt.renew_till);
    let again = client
        .renew(&renewed)
        .await
        .unwrap_or_else(|e| panic!("second renew: {e}\n{}", kdc.log()));
    assert!(again.flags & ticket_flags::RENEWABLE != 0);
    assert_eq!(again.renew_till, tgt.renew_till);
}

/// Reads the flags and times of the TGT that MIT's kinit stores for `user`
/// with the KDC's krb5.conf.
fn mit_kinit_tgt(kdc: &TestKdc, user: &str, password: &str) -> Credential {
    use std::io::Write;

    let cache = kdc.dir().join(format!("mit-kinit-{user}.ccache"));
    let mut child = kdc
        .command("kinit")
        .args(["-c", &format!("FILE:{}", cache.display()), user])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("MIT kinit (Debian krb5-user) runs");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "MIT kinit: {output:?}");
    let parsed = krb5::ccache::file::parse(&std::fs::read(&cache).unwrap()).unwrap();
    parsed
        .credentials
        .into_iter()
        .find(|c| c.server.is_krbtgt())
        .expect("a TGT in MIT's cache")
}

#[tokio::test]
async fn default_as_request_is_renewable_ok() {
    // A maximum lifetime shorter than the 24 hours requested: with
    // RENEWABLE-OK the KDC returns a renewable ticket up to the requested
    // end time instead.
    let kdc = start(
        TestKdcOptions::new(REALM)
            .user("alice", "pw")
            .with_max_life("1h"),
    );
    let client = KdcClient::new(settings(&kdc));
    let started = now();
    let ours = client
        .get_initial_credentials(
            &principal("alice"),
            &Secret::password("pw"),
            &AsOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("AS exchange: {e}\n{}", kdc.log()));

    assert!(
        ours.flags & ticket_flags::RENEWABLE != 0,
        "{:#x}",
        ours.flags
    );
    assert!(ours.endtime <= started + 3600 + 5);
    let day = 24 * 3600;
    assert!(
        (started + day - 5..=now() + day + 5).contains(&ours.renew_till),
        "renew-till {} for a request at {started}",
        ours.renew_till
    );

    let theirs = mit_kinit_tgt(&kdc, "alice", "pw");
    assert_eq!(
        ours.flags, theirs.flags,
        "our flags {:#x}, MIT kinit's {:#x}",
        ours.flags, theirs.flags
    );
    assert!(ours.renew_till.abs_diff(theirs.renew_till) <= 10);
}

#[tokio::test]
async fn renewable_ok_can_be_disabled() {
    let kdc = start(
        TestKdcOptions::new(REALM)
            .user("alice", "pw")
            .with_max_life("1h"),
    );
    let client = KdcClient::new(settings(&kdc));
    let options = AsOptions {
        renewable_ok: false,
        ..AsOptions::default()
    };
    let tgt = client
        .get_initial_credentials(&principal("alice"), &Secret::password("pw"), &options)
        .await
        .unwrap();
    assert_eq!(tgt.flags & ticket_flags::RENEWABLE, 0, "{:#x}", tgt.flags);
    assert_eq!(tgt.renew_till, 0);
}

#[tokio::test]
async fn cross_realm_service_ticket() {
    let kdc = start(
        TestKdcOptions::new(REALM)
            .with_second_realm(SECOND_REALM)
            .user("alice", "pw")
            .service("nfs/server.second.test@SECOND.TEST"),
    );
    let client = KdcClient::new(settings(&kdc));
    let alice = principal("alice");
    let tgt = client
        .get_initial_credentials(&alice, &Secret::password("pw"), &AsOptions::default())
        .await
        .unwrap();
    let nfs = Principal::parse("nfs/server.second.test@SECOND.TEST", None).unwrap();
    let result = client
        .get_service_credentials(&tgt, &nfs, &TgsOptions::default())
        .await
        .unwrap_or_else(|e| panic!("cross-realm TGS: {e}\n{}", kdc.log()));

    assert_eq!(result.tgts.len(), 1);
    assert!(result.tgts[0]
        .server
        .same_name(&Principal::krbtgt(SECOND_REALM, REALM)));
    assert!(result.credential.server.same_name(&nfs));
    assert_eq!(result.credential.client, alice);

    let keytab =
        Keytab::load_path(kdc.keytab("nfs/server.second.test@SECOND.TEST").unwrap()).unwrap();
    let part = open_ticket(&result.credential, &keytab);
    assert_eq!(part.crealm.as_bytes(), REALM.as_bytes());
    assert_eq!(part.transited.contents.as_ref(), b"");
}

#[tokio::test]
async fn tcp_only_endpoint() {
    let kdc = start(TestKdcOptions::new(REALM).user("alice", "pw"));
    let mut settings = settings(&kdc);
    settings.kdcs.insert(
        REALM.to_string(),
        vec![KdcServer {
            host: "127.0.0.1".to_string(),
            port: kdc.port(),
            transport: Transport::Tcp,
        }],
    );
    let client = KdcClient::new(settings);
    let credential = client
        .get_initial_credentials(
            &principal("alice"),
            &Secret::password("pw"),
            &AsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(credential.client, principal("alice"));
}

#[tokio::test]
async fn known_salt_saves_round_trip() {
    let kdc = start(TestKdcOptions::new(REALM).user("alice", "pw"));
    let relay = start_relay(kdc.port(), Plan::default()).await;
    let mut settings = settings(&kdc);
    settings
        .kdcs
        .insert(REALM.to_string(), vec![endpoint(relay.port)]);
    let client = KdcClient::new(settings);

    let known = AsOptions {
        known_salt: Some(SaltInfo {
            enctype: enctype::AES256_CTS_HMAC_SHA1_96,
            salt: Some(b"KRBTEST.COMalice".to_vec()),
            s2kparams: None,
        }),
        ..AsOptions::default()
    };
    client
        .get_initial_credentials(&principal("alice"), &Secret::password("pw"), &known)
        .await
        .unwrap();
    assert_eq!(relay.udp_requests.load(Ordering::SeqCst), 1);

    // A stale salt costs one failed request, then the KDC's salt is used.
    let stale = AsOptions {
        known_salt: Some(SaltInfo {
            enctype: enctype::AES256_CTS_HMAC_SHA1_96,
            salt: Some(b"stale salt".to_vec()),
            s2kparams: None,
        }),
        ..AsOptions::default()
    };
    client
        .get_initial_credentials(&principal("alice"), &Secret::password("pw"), &stale)
        .await
        .unwrap_or_else(|e| panic!("AS with a stale salt: {e}\n{}", kdc.log()));
    assert_eq!(relay.udp_requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn referral_to_second_realm() {
    // NOTE: testkdc has no [domain_realm] option, so the mapping the KDC
    // needs to refer host-based names rides in after a libdefaults line.
    let kdc = start(
        TestKdcOptions::new(REALM)
            .with_second_realm(SECOND_REALM)
            .libdefault(
                "rdns = false\n[domain_realm]\n    server.second.test = SECOND.TEST\n[libdefaults]",
            )
            .user("alice", "pw")
            .service("nfs/server.second.test@SECOND.TEST"),
    );
    let client = KdcClient::new(settings(&kdc));
    let alice = principal("alice");
    let tgt = client
        .get_initial_credentials(&alice, &Secret::password("pw"), &AsOptions::default())
        .await
        .unwrap();

    // The client guesses its own realm for the host; the KDC refers it on.
    let guessed = Principal::host_service("nfs", "server.second.test", REALM);
    let result = client
        .get_service_credentials(&tgt, &guessed, &TgsOptions::default())
        .await
        .unwrap_or_else(|e| panic!("TGS with referral: {e}\n{}", kdc.log()));

    assert_eq!(result.tgts.len(), 1);
    assert!(result.tgts[0]
        .server
        .same_name(&Principal::krbtgt(SECOND_REALM, REALM)));
    let expected = Principal::parse("nfs/server.second.test@SECOND.TEST", None).unwrap();
    assert!(
        result.credential.server.same_name(&expected),
        "{}",
        result.credential.server
    );

    let keytab =
        Keytab::load_path(kdc.keytab("nfs/server.second.test@SECOND.TEST").unwrap()).unwrap();
    let part = open_ticket(&result.credential, &keytab);
    assert_eq!(part.cname.string[0].as_bytes(), b"alice");
}

/// The resend schedule's step in the relay tests. The KDC replies within a
/// few milliseconds, so a step this long rarely triggers a resend by itself.
const STEP: Duration = Duration::from_millis(100);

/// Room for a loaded machine in the upper bounds on elapsed time.
const SLACK: Duration = Duration::from_secs(2);

/// Builds a client that reaches the realm only through the relay.
fn relay_client(relay: &Relay, transport: Transport) -> KdcClient {
    let kdc = KdcServer {
        host: "127.0.0.1".to_string(),
        port: relay.port,
        transport,
    };
    KdcClient::new(Settings {
        kdcs: BTreeMap::from([(REALM.to_string(), vec![kdc])]),
        kdc_timeout: STEP,
        ..Settings::default()
    })
}

/// Starts a KDC with the user alice and a relay with `plan` in front of it.
async fn kdc_behind_relay(plan: Plan) -> (TestKdc, Relay) {
    let kdc = start(TestKdcOptions::new(REALM).user("alice", "pw"));
    let relay = start_relay(kdc.port(), plan).await;
    (kdc, relay)
}

/// Runs an AS exchange for alice, two requests with pre-authentication.
async fn get_tgt(client: &KdcClient) -> Result<(), KdcError> {
    let credential = client
        .get_initial_credentials(
            &principal("alice"),
            &Secret::password("pw"),
            &AsOptions::default(),
        )
        .await?;
    assert_eq!(credential.client, principal("alice"));
    Ok(())
}

#[tokio::test]
async fn lost_datagram_is_resent() {
    let (kdc, relay) = kdc_behind_relay(Plan {
        drop_first: 1,
        ..Plan::default()
    })
    .await;
    let start = Instant::now();
    get_tgt(&relay_client(&relay, Transport::Udp))
        .await
        .unwrap_or_else(|e| panic!("AS through the relay: {e}\n{}", kdc.log()));

    // The resend of the first request comes after 1 + 2 steps.
    assert!(start.elapsed() >= STEP * 3, "{:?}", start.elapsed());
    assert!(relay.udp_requests.load(Ordering::SeqCst) >= 3);
    assert_eq!(relay.tcp_requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn late_reply_to_first_datagram_is_accepted() {
    // Each distinct request reaches the KDC once, and its reply returns
    // after the client has resent it. Success means the client took the
    // late reply to the first datagram.
    let (kdc, relay) = kdc_behind_relay(Plan {
        reply_delay: STEP * 5,
        once_per_request: true,
        ..Plan::default()
    })
    .await;
    get_tgt(&relay_client(&relay, Transport::Udp))
        .await
        .unwrap_or_else(|e| panic!("AS through the relay: {e}\n{}", kdc.log()));

    assert_eq!(relay.forwarded.load(Ordering::SeqCst), 2);
    assert!(relay.udp_requests.load(Ordering::SeqCst) >= 4);
    assert_eq!(relay.tcp_requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn tcp_answers_when_udp_is_lost() {
    let (kdc, relay) = kdc_behind_relay(Plan {
        udp_silent: true,
        ..Plan::default()
    })
    .await;
    let start = Instant::now();
    get_tgt(&relay_client(&relay, Transport::Any))
        .await
        .unwrap_or_else(|e| panic!("AS through the relay: {e}\n{}", kdc.log()));

    // Each request waits one step on UDP before TCP starts beside it.
    assert!(start.elapsed() >= STEP * 2, "{:?}", start.elapsed());
    assert!(start.elapsed() < STEP * 2 + SLACK, "{:?}", start.elapsed());
    assert_eq!(relay.tcp_requests.load(Ordering::SeqCst), 2);
    assert!(relay.udp_requests.load(Ordering::SeqCst) >= 2);
}

#[tokio::test]
async fn silent_kdc_fails_within_bound() {
    let (_kdc, relay) = kdc_behind_relay(Plan {
        udp_silent: true,
        tcp: TcpPlan::Silent,
        ..Plan::default()
    })
    .await;
    let start = Instant::now();
    let error = get_tgt(&relay_client(&relay, Transport::Any))
        .await
        .unwrap_err();
    let elapsed = start.elapsed();

    // One UDP and one TCP address, with the TCP connection established:
    // 3 * 1 + 1 + 14 steps, plus 9 more for the pause after the TCP connection.
    assert!(elapsed >= STEP * 27, "{elapsed:?}");
    assert!(elapsed < STEP * 27 + SLACK, "{elapsed:?}");
    assert!(matches!(error, KdcError::Unreachable { .. }), "{error}");
    let text = error.to_string();
    let address = format!("127.0.0.1:{}", relay.port);
    assert!(
        text.starts_with(&format!(
            "Cannot contact any KDC for realm {REALM}: {address} (udp): no reply to 3 datagrams in "
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("; {address} (tcp): connected, but no reply in ")),
        "{text}"
    );
    assert_eq!(relay.udp_requests.load(Ordering::SeqCst), 3);
    assert_eq!(relay.tcp_requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn request_timeout_from_krb5_conf() {
    let (_kdc, relay) = kdc_behind_relay(Plan {
        udp_silent: true,
        tcp: TcpPlan::Refused,
        ..Plan::default()
    })
    .await;
    let text = format!(
        "[libdefaults]\n    request_timeout = 1\n[realms]\n    {REALM} = {{\n        kdc = 127.0.0.1:{}\n    }}\n",
        relay.port
    );
    let config = Config::from_text(&text, "krb5.conf").unwrap();
    let client = KdcClient::from_config(Arc::new(config)).unwrap();
    assert_eq!(
        client.settings().request_timeout,
        Some(Duration::from_secs(1))
    );

    let start = Instant::now();
    let error = get_tgt(&client).await.unwrap_err();
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(1) + SLACK, "{elapsed:?}");
    let text = error.to_string();
    let address = format!("127.0.0.1:{}", relay.port);
    assert!(
        text.contains(&format!("{address} (udp): no reply to 1 datagram in ")),
        "{text}"
    );
    assert!(
        text.contains(", when request_timeout ended the request"),
        "{text}"
    );
    // The deadline comes before the first step ends and TCP would start.
    assert!(
        text.ends_with(&format!(
            "{address} (tcp): not contacted before request_timeout"
        )),
        "{text}"
    );
}
