//! Sending one RPC call and receiving its reply over TCP (with RFC 5531 §11
//! record marking) or UDP, within a deadline.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

use super::record::{self, LAST_FRAGMENT};

/// The largest reply accepted. A creation reply carries one AP-REP token,
/// which is far smaller; the bound keeps a hostile server from making us
/// allocate without limit.
pub const MAX_REPLY_LEN: usize = 1 << 20;

/// The transport named by the `protocol:` line of a client's `info` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

/// How long one call may take: `connect` bounds the TCP connection,
/// `reply` the wait for the reply after the call is sent (over UDP, the
/// whole exchange with its resends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub connect: Duration,
    pub reply: Duration,
}

impl Deadlines {
    /// Returns deadlines that give each phase `limit`.
    pub fn both(limit: Duration) -> Deadlines {
        Deadlines {
            connect: limit,
            reply: limit,
        }
    }
}

/// Errors from one call.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("connecting to {addr} over TCP timed out after {secs} s")]
    ConnectTimeout { addr: SocketAddr, secs: u64 },
    #[error("no reply from {addr} over {proto:?} within {secs} s")]
    Timeout {
        addr: SocketAddr,
        proto: Protocol,
        secs: u64,
    },
    #[error("RPC call to {addr} failed: {source}")]
    Io {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("RPC reply from {addr} is larger than {MAX_REPLY_LEN} bytes")]
    ReplyTooLarge { addr: SocketAddr },
}

/// Sends `call` (an encoded RPC message) and returns the first reply whose
/// first four bytes match `xid`, within `deadlines`.
pub async fn call(
    addr: SocketAddr,
    proto: Protocol,
    call: &[u8],
    xid: u32,
    deadlines: Deadlines,
) -> Result<Vec<u8>, TransportError> {
    let reply_timeout = || TransportError::Timeout {
        addr,
        proto,
        secs: deadlines.reply.as_secs(),
    };
    match proto {
        Protocol::Tcp => {
            let mut stream = timeout(deadlines.connect, TcpStream::connect(addr))
                .await
                .map_err(|_| TransportError::ConnectTimeout {
                    addr,
                    secs: deadlines.connect.as_secs(),
                })?
                .map_err(|source| TransportError::Io { addr, source })?;
            timeout(deadlines.reply, call_tcp(&mut stream, addr, call, xid))
                .await
                .map_err(|_| reply_timeout())?
        }
        Protocol::Udp => timeout(deadlines.reply, call_udp(addr, call, xid))
            .await
            .map_err(|_| reply_timeout())?,
    }
}

async fn call_tcp(
    stream: &mut TcpStream,
    addr: SocketAddr,
    call: &[u8],
    xid: u32,
) -> Result<Vec<u8>, TransportError> {
    let io_err = |source| TransportError::Io { addr, source };
    let len = u32::try_from(call.len())
        .ok()
        .filter(|len| *len < LAST_FRAGMENT)
        .ok_or_else(|| io_err(io::Error::other("call too large for one record fragment")))?;

    let mut record = Vec::with_capacity(4 + call.len());
    record.extend_from_slice(&(LAST_FRAGMENT | len).to_be_bytes());
    record.extend_from_slice(call);
    stream.write_all(&record).await.map_err(io_err)?;

    loop {
        let reply = read_record(stream, addr).await?;
        if reply.get(..4) == Some(&xid.to_be_bytes()[..]) {
            return Ok(reply);
        }
    }
}

/// Reads one reply record, joining its fragments.
async fn read_record(stream: &mut TcpStream, addr: SocketAddr) -> Result<Vec<u8>, TransportError> {
    match record::read_record(stream, MAX_REPLY_LEN).await {
        Ok(Some(reply)) => Ok(reply),
        Ok(None) => Err(TransportError::Io {
            addr,
            source: io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection without a reply",
            ),
        }),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            Err(TransportError::ReplyTooLarge { addr })
        }
        Err(source) => Err(TransportError::Io { addr, source }),
    }
}

/// Sends the datagram, resending it with a doubling interval until a reply
/// with our xid arrives; the caller's deadline bounds the whole exchange.
async fn call_udp(addr: SocketAddr, call: &[u8], xid: u32) -> Result<Vec<u8>, TransportError> {
    let io_err = |source| TransportError::Io { addr, source };
    let local = if addr.is_ipv4() {
        SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))
    };
    let socket = UdpSocket::bind(local).await.map_err(io_err)?;
    socket.connect(addr).await.map_err(io_err)?;

    let mut interval = Duration::from_millis(500);
    let mut buf = vec![0u8; 65536];
    loop {
        socket.send(call).await.map_err(io_err)?;
        let wait = async {
            loop {
                let n = socket.recv(&mut buf).await?;
                if buf[..n].get(..4) == Some(&xid.to_be_bytes()[..]) {
                    return Ok::<_, io::Error>(buf[..n].to_vec());
                }
            }
        };
        match timeout(interval, wait).await {
            Ok(reply) => return reply.map_err(io_err),
            Err(_) => interval = (interval * 2).min(Duration::from_secs(4)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn tcp_call_joins_fragments_and_skips_other_xids() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let request = read_record(&mut stream, addr).await.unwrap();
            assert_eq!(request, b"\0\0\0\x09call");

            // A stale reply, then the real one in two fragments.
            stream
                .write_all(&(LAST_FRAGMENT | 4).to_be_bytes())
                .await
                .unwrap();
            stream.write_all(&[0, 0, 0, 8]).await.unwrap();
            stream.write_all(&6u32.to_be_bytes()).await.unwrap();
            stream.write_all(&[0, 0, 0, 9, 1, 2]).await.unwrap();
            stream
                .write_all(&(LAST_FRAGMENT | 1).to_be_bytes())
                .await
                .unwrap();
            stream.write_all(&[3]).await.unwrap();
        });

        let reply = call(
            addr,
            Protocol::Tcp,
            b"\0\0\0\x09call",
            9,
            Deadlines::both(Duration::from_secs(5)),
        )
        .await
        .unwrap();
        assert_eq!(reply, [0, 0, 0, 9, 1, 2, 3]);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn tcp_reply_size_is_bounded() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let _ = read_record(&mut stream, addr).await;
            let huge = LAST_FRAGMENT | (MAX_REPLY_LEN as u32 + 1);
            stream.write_all(&huge.to_be_bytes()).await.unwrap();
        });
        let err = call(
            addr,
            Protocol::Tcp,
            b"\0\0\0\x01",
            1,
            Deadlines::both(Duration::from_secs(5)),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, TransportError::ReplyTooLarge { .. }));
    }

    #[tokio::test]
    async fn tcp_reply_may_outlast_connect_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let _ = read_record(&mut stream, addr).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            stream
                .write_all(&(LAST_FRAGMENT | 4).to_be_bytes())
                .await
                .unwrap();
            stream.write_all(&[0, 0, 0, 7]).await.unwrap();
        });
        let deadlines = Deadlines {
            connect: Duration::from_millis(100),
            reply: Duration::from_secs(5),
        };
        let reply = call(addr, Protocol::Tcp, b"\0\0\0\x07", 7, deadlines)
            .await
            .unwrap();
        assert_eq!(reply, [0, 0, 0, 7]);
    }

    #[tokio::test]
    async fn udp_call_and_timeout() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let (n, peer) = server.recv_from(&mut buf).await.unwrap();
            let mut reply = buf[..4].to_vec();
            reply.extend_from_slice(&buf[4..n]);
            server.send_to(&reply, peer).await.unwrap();
        });
        let reply = call(
            addr,
            Protocol::Udp,
            b"\0\0\0\x05ping",
            5,
            Deadlines::both(Duration::from_secs(5)),
        )
        .await
        .unwrap();
        assert_eq!(reply, b"\0\0\0\x05ping");

        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let err = call(
            silent.local_addr().unwrap(),
            Protocol::Udp,
            b"\0\0\0\x06",
            6,
            Deadlines::both(Duration::from_millis(300)),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, TransportError::Timeout { .. }));
    }
}
