//! Sending one request to the KDCs of a realm (RFC 4120 §7.2.1-§7.2.2):
//! UDP datagrams, or TCP with a 4-byte big-endian length before each
//! message, failing over from one KDC to the next.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::{kdc_display, KdcServer, Settings, Transport};
use crate::messages::error_code::KRB_ERR_RESPONSE_TOO_BIG;

/// The largest reply read over TCP. MIT krb5 1.20 refuses TCP replies over
/// 1 MiB as well; a PAC-laden Active Directory ticket is well under that.
pub const MAX_TCP_REPLY: usize = 1 << 20;

/// The largest UDP payload over IPv4 or IPv6 without jumbograms.
const MAX_UDP_REPLY: usize = 65_535;

/// The identifier octet of a KRB-ERROR, the only reply that is read before decoding.
const KRB_ERROR_IDENTIFIER: u8 = 0x7e;

/// A failed attempt at one KDC, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub kdc: String,
    pub transport: &'static str,
    pub error: String,
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.kdc, self.transport, self.error)
    }
}

/// Sends `request` to the KDCs of a realm in order and returns the first
/// reply, or the reason each attempt failed.
///
/// UDP goes first unless the request is longer than
/// `udp_preference_limit`. A UDP reply of KRB_ERR_RESPONSE_TOO_BIG makes
/// the same KDC be asked again over TCP. Each attempt gets `kdc_timeout`.
///
/// NOTE: a UDP reply that arrives after its attempt timed out is lost, and
/// a datagram is never sent twice. MIT krb5 1.20.1 (`sendto_kdc.c`) keeps
/// every socket open and resends for about 20 s, so a KDC with a long queue
/// still replies to MIT clients after rgssd has given up. In the VM
/// benchmark (docs/benchmarks.md), 50 users at once made some upcalls fail
/// after 3 s over UDP plus 3 s over TCP.
pub async fn send(
    request: &[u8],
    kdcs: &[KdcServer],
    settings: &Settings,
) -> Result<Vec<u8>, Vec<Attempt>> {
    let prefer_tcp = request.len() > settings.udp_preference_limit;
    let mut attempts = Vec::new();

    for kdc in kdcs {
        let order: &[Protocol] = match (kdc.transport, prefer_tcp) {
            (Transport::Udp, _) => &[Protocol::Udp],
            (Transport::Tcp, _) => &[Protocol::Tcp],
            (Transport::Any, false) => &[Protocol::Udp, Protocol::Tcp],
            (Transport::Any, true) => &[Protocol::Tcp, Protocol::Udp],
        };
        let addresses = match resolve(kdc).await {
            Ok(addresses) => addresses,
            Err(error) => {
                attempts.push(Attempt {
                    kdc: kdc_display(kdc),
                    transport: "dns",
                    error,
                });
                continue;
            }
        };

        for address in addresses {
            for &protocol in order {
                match attempt(protocol, address, request, settings.kdc_timeout).await {
                    Ok(reply) if protocol == Protocol::Udp && is_response_too_big(&reply) => {
                        log::info!(
                            "KDC {address} replied RESPONSE_TOO_BIG over UDP, retrying over TCP"
                        );
                        match attempt(Protocol::Tcp, address, request, settings.kdc_timeout).await {
                            Ok(reply) => return Ok(reply),
                            Err(error) => {
                                log::info!("KDC {address} over tcp: {error}");
                                attempts.push(Attempt {
                                    kdc: address.to_string(),
                                    transport: Protocol::Tcp.name(),
                                    error,
                                });
                                break;
                            }
                        }
                    }
                    Ok(reply) => return Ok(reply),
                    Err(error) => {
                        log::info!("KDC {address} over {}: {error}", protocol.name());
                        attempts.push(Attempt {
                            kdc: address.to_string(),
                            transport: protocol.name(),
                            error,
                        });
                    }
                }
            }
        }
    }
    Err(attempts)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Udp,
    Tcp,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
        }
    }
}

async fn resolve(kdc: &KdcServer) -> Result<Vec<SocketAddr>, String> {
    let addresses = crate::locate::resolve_host(&kdc.host)
        .await
        .map_err(|e| e.to_string())?;
    Ok(addresses
        .into_iter()
        .map(|ip| SocketAddr::new(ip, kdc.port))
        .collect())
}

/// Returns true if `reply` is a KRB-ERROR with code 52 (KRB_ERR_RESPONSE_TOO_BIG).
fn is_response_too_big(reply: &[u8]) -> bool {
    if reply.first() != Some(&KRB_ERROR_IDENTIFIER) {
        return false;
    }
    matches!(
        crate::messages::decode_krb_error(reply),
        Ok(error) if error.error_code == KRB_ERR_RESPONSE_TOO_BIG
    )
}

async fn attempt(
    protocol: Protocol,
    address: SocketAddr,
    request: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    tokio::time::timeout(timeout, exchange(protocol, address, request))
        .await
        .unwrap_or_else(|_| Err(format!("timed out after {} ms", timeout.as_millis())))
}

async fn exchange(
    protocol: Protocol,
    address: SocketAddr,
    request: &[u8],
) -> Result<Vec<u8>, String> {
    match protocol {
        Protocol::Udp => exchange_udp(address, request).await,
        Protocol::Tcp => exchange_tcp(address, request).await,
    }
}

async fn exchange_udp(address: SocketAddr, request: &[u8]) -> Result<Vec<u8>, String> {
    let local: SocketAddr = if address.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    // A connected socket drops datagrams from other peers and reports ICMP
    // port-unreachable as an error, so a dead KDC fails fast.
    socket
        .connect(address)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    socket
        .send(request)
        .await
        .map_err(|e| format!("send failed: {e}"))?;
    let mut buffer = vec![0u8; MAX_UDP_REPLY];
    let len = socket
        .recv(&mut buffer)
        .await
        .map_err(|e| format!("receive failed: {e}"))?;
    buffer.truncate(len);
    Ok(buffer)
}

async fn exchange_tcp(address: SocketAddr, request: &[u8]) -> Result<Vec<u8>, String> {
    let length = u32::try_from(request.len())
        .ok()
        .filter(|&len| len & 0x8000_0000 == 0)
        .ok_or_else(|| format!("request of {} bytes is too long for TCP", request.len()))?;
    let mut stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let mut framed = Vec::with_capacity(4 + request.len());
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(request);
    stream
        .write_all(&framed)
        .await
        .map_err(|e| format!("send failed: {e}"))?;

    let mut prefix = [0u8; 4];
    stream
        .read_exact(&mut prefix)
        .await
        .map_err(|e| format!("receive failed: {e}"))?;
    let length = u32::from_be_bytes(prefix);
    // RFC 4120 §7.2.2 reserves the high bit for extensions, and a reply
    // that sets it is one we cannot read.
    if length & 0x8000_0000 != 0 {
        return Err(format!(
            "reply length {length:#010x} sets the reserved high bit"
        ));
    }
    let length = usize::try_from(length).unwrap_or(usize::MAX);
    if length > MAX_TCP_REPLY {
        return Err(format!(
            "reply of {length} bytes exceeds the maximum of {MAX_TCP_REPLY}"
        ));
    }
    let mut reply = vec![0u8; length];
    stream
        .read_exact(&mut reply)
        .await
        .map_err(|e| format!("receive failed: {e}"))?;
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            kdc_timeout: Duration::from_millis(500),
            ..Settings::default()
        }
    }

    fn endpoint(address: SocketAddr, transport: Transport) -> KdcServer {
        KdcServer {
            host: address.ip().to_string(),
            port: address.port(),
            transport,
        }
    }

    #[tokio::test]
    async fn tcp_framing_round_trip() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut prefix = [0u8; 4];
            stream.read_exact(&mut prefix).await.unwrap();
            let mut request = vec![0u8; u32::from_be_bytes(prefix) as usize];
            stream.read_exact(&mut request).await.unwrap();
            assert_eq!(request, b"ping");
            stream.write_all(&[0, 0, 0, 4]).await.unwrap();
            stream.write_all(b"pong").await.unwrap();
        });
        let reply = send(b"ping", &[endpoint(address, Transport::Tcp)], &settings())
            .await
            .unwrap();
        assert_eq!(reply, b"pong");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn tcp_rejects_huge_length_prefix() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 64];
            let _ = stream.read(&mut buffer).await;
            let _ = stream.write_all(&[0x7f, 0xff, 0xff, 0xff]).await;
        });
        let attempts = send(b"ping", &[endpoint(address, Transport::Tcp)], &settings())
            .await
            .unwrap_err();
        assert_eq!(attempts.len(), 1);
        assert!(
            attempts[0].error.contains("exceeds the maximum"),
            "{}",
            attempts[0]
        );
    }

    #[tokio::test]
    async fn udp_fails_over_to_next_kdc() {
        let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let dead_address = dead.local_addr().unwrap();
        drop(dead);
        let live = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let live_address = live.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buffer = [0u8; 64];
            let (_, peer) = live.recv_from(&mut buffer).await.unwrap();
            live.send_to(b"reply", peer).await.unwrap();
        });
        let kdcs = [
            endpoint(dead_address, Transport::Udp),
            endpoint(live_address, Transport::Udp),
        ];
        let reply = send(b"ping", &kdcs, &settings()).await.unwrap();
        assert_eq!(reply, b"reply");
    }

    #[tokio::test]
    async fn long_request_goes_to_tcp_first() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 64];
            let _ = stream.read(&mut buffer).await;
            stream.write_all(&[0, 0, 0, 3]).await.unwrap();
            stream.write_all(b"tcp").await.unwrap();
        });
        let settings = Settings {
            udp_preference_limit: 1,
            ..settings()
        };
        let reply = send(b"ping", &[endpoint(address, Transport::Any)], &settings)
            .await
            .unwrap();
        assert_eq!(reply, b"tcp");
    }
}
