//! The KDC client's resend schedule against a real MIT krb5kdc started by
//! `testkdc`, behind a loopback relay that loses, delays or refuses
//! traffic.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use krb5::config::Config;
use krb5::kdc::{AsOptions, KdcClient, KdcError, KdcServer, Secret, Settings, Transport};
use krb5::Principal;
use testkdc::{TestKdc, TestKdcOptions};

const REALM: &str = "KRBTEST.COM";

/// The schedule's step in these tests. The KDC replies within a few
/// milliseconds, so a step this long rarely triggers a resend by itself.
const STEP: Duration = Duration::from_millis(100);

/// Room for a loaded machine in the upper bounds on elapsed time.
const SLACK: Duration = Duration::from_secs(2);

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
            drop_first: 0,
            reply_delay: Duration::ZERO,
            once_per_request: false,
            udp_silent: false,
            tcp: TcpPlan::Relay,
        }
    }
}

/// A UDP and TCP relay on one loopback port in front of the KDC, counting
/// what it receives and forwards.
struct Relay {
    port: u16,
    datagrams: Arc<AtomicUsize>,
    forwarded: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
}

async fn start_relay(kdc_port: u16, plan: Plan) -> Relay {
    let port = testkdc::free_port().unwrap();
    let udp = Arc::new(
        tokio::net::UdpSocket::bind(("127.0.0.1", port))
            .await
            .unwrap(),
    );
    let datagrams = Arc::new(AtomicUsize::new(0));
    let forwarded = Arc::new(AtomicUsize::new(0));
    let connections = Arc::new(AtomicUsize::new(0));

    let received = Arc::clone(&datagrams);
    let sent_on = Arc::clone(&forwarded);
    tokio::spawn(async move {
        let seen = Mutex::new(HashSet::new());
        let mut buffer = vec![0u8; 65_535];
        loop {
            let Ok((len, peer)) = udp.recv_from(&mut buffer).await else {
                return;
            };
            let count = received.fetch_add(1, Ordering::SeqCst) + 1;
            let request = buffer[..len].to_vec();
            let repeat = !seen.lock().unwrap().insert(request.clone());
            if plan.udp_silent || count <= plan.drop_first || (plan.once_per_request && repeat) {
                continue;
            }
            sent_on.fetch_add(1, Ordering::SeqCst);
            let udp = Arc::clone(&udp);
            tokio::spawn(async move {
                let reply = ask_kdc_udp(kdc_port, &request).await;
                tokio::time::sleep(plan.reply_delay).await;
                let _ = udp.send_to(&reply, peer).await;
            });
        }
    });

    if plan.tcp != TcpPlan::Refused {
        let tcp = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let accepted = Arc::clone(&connections);
        tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let Ok((mut stream, _)) = tcp.accept().await else {
                    return;
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                if plan.tcp == TcpPlan::Silent {
                    held.push(stream);
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

    Relay {
        port,
        datagrams,
        forwarded,
        connections,
    }
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

fn start_kdc() -> TestKdc {
    TestKdc::start(TestKdcOptions::new(REALM).user("alice", "pw"))
        .unwrap_or_else(|e| panic!("cannot start the test KDC: {e}"))
}

/// A client that reaches the realm only through the relay.
fn client(relay: &Relay, transport: Transport) -> KdcClient {
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

/// Runs an AS exchange for alice, two requests with pre-authentication.
async fn get_tgt(client: &KdcClient) -> Result<(), KdcError> {
    let alice = Principal::parse("alice", Some(REALM)).unwrap();
    let credential = client
        .get_initial_credentials(&alice, &Secret::password("pw"), &AsOptions::default())
        .await?;
    assert_eq!(credential.client, alice);
    Ok(())
}

#[tokio::test]
async fn lost_datagram_is_resent() {
    let kdc = start_kdc();
    let relay = start_relay(
        kdc.port(),
        Plan {
            drop_first: 1,
            ..Plan::default()
        },
    )
    .await;
    let start = Instant::now();
    get_tgt(&client(&relay, Transport::Udp))
        .await
        .unwrap_or_else(|e| panic!("AS through the relay: {e}\n{}", kdc.log()));

    // The resend of the first request comes after 1 + 2 steps.
    assert!(start.elapsed() >= STEP * 3, "{:?}", start.elapsed());
    assert!(relay.datagrams.load(Ordering::SeqCst) >= 3);
    assert_eq!(relay.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn late_reply_to_first_datagram_is_accepted() {
    // Each distinct request reaches the KDC once, and its reply returns
    // after the client has resent it. Success means the client took the
    // late reply to the first datagram.
    let kdc = start_kdc();
    let relay = start_relay(
        kdc.port(),
        Plan {
            reply_delay: STEP * 5,
            once_per_request: true,
            ..Plan::default()
        },
    )
    .await;
    get_tgt(&client(&relay, Transport::Udp))
        .await
        .unwrap_or_else(|e| panic!("AS through the relay: {e}\n{}", kdc.log()));

    assert_eq!(relay.forwarded.load(Ordering::SeqCst), 2);
    assert!(relay.datagrams.load(Ordering::SeqCst) >= 4);
    assert_eq!(relay.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn tcp_answers_when_udp_is_lost() {
    let kdc = start_kdc();
    let relay = start_relay(
        kdc.port(),
        Plan {
            udp_silent: true,
            ..Plan::default()
        },
    )
    .await;
    let start = Instant::now();
    get_tgt(&client(&relay, Transport::Any))
        .await
        .unwrap_or_else(|e| panic!("AS through the relay: {e}\n{}", kdc.log()));

    // Each request waits one step on UDP before TCP starts beside it.
    assert!(start.elapsed() >= STEP * 2, "{:?}", start.elapsed());
    assert!(start.elapsed() < STEP * 2 + SLACK, "{:?}", start.elapsed());
    assert_eq!(relay.connections.load(Ordering::SeqCst), 2);
    assert!(relay.datagrams.load(Ordering::SeqCst) >= 2);
}

#[tokio::test]
async fn silent_kdc_fails_within_bound() {
    let kdc = start_kdc();
    let relay = start_relay(
        kdc.port(),
        Plan {
            udp_silent: true,
            tcp: TcpPlan::Silent,
            ..Plan::default()
        },
    )
    .await;
    let start = Instant::now();
    let error = get_tgt(&client(&relay, Transport::Any)).await.unwrap_err();
    let elapsed = start.elapsed();

    // One UDP and one TCP address, with the TCP connection established:
    // 3 * 1 + 1 + 14 steps, plus 9 more for the TCP hold (see transport.rs).
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
    assert_eq!(relay.datagrams.load(Ordering::SeqCst), 3);
    assert_eq!(relay.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn request_timeout_from_krb5_conf() {
    let kdc = start_kdc();
    let relay = start_relay(
        kdc.port(),
        Plan {
            udp_silent: true,
            tcp: TcpPlan::Refused,
            ..Plan::default()
        },
    )
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
