//! Asking a server's rpcbind which port a program listens on, for services
//! whose `info` file gives no port (NFSv2 and NFSv3 mounts without
//! `port=`). IPv4 servers are asked with portmapper version 2 GETPORT
//! (RFC 1833 §3), IPv6 servers with rpcbind version 4, then 3, GETADDR
//! (RFC 1833 §2), over the transport the service itself uses.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use krb5::codec::{Reader, Writer};

use super::gss_init::{accepted_reply, put_call_header, RpcError};
use super::transport::{self, Deadlines, Protocol, TransportError};
use super::xdr::{get_opaque, put_opaque};

/// The rpcbind program and its well-known port.
pub const RPCBIND_PROGRAM: u32 = 100_000;
pub const RPCBIND_PORT: u16 = 111;
/// Portmapper version 2 procedures.
pub const PMAPPROC_SET: u32 = 1;
pub const PMAPPROC_GETPORT: u32 = 3;
/// rpcbind version 3 and 4 procedures.
pub const RPCBPROC_SET: u32 = 1;
pub const RPCBPROC_GETADDR: u32 = 3;
/// The IP protocol numbers a portmapper mapping names.
const IPPROTO_TCP: u32 = 6;
const IPPROTO_UDP: u32 = 17;
/// The maximum length of a universal address accepted in a reply. An
/// IPv6 universal address has at most 54 bytes, so this bound only stops
/// a hostile reply.
const MAX_STRING: usize = 1024;

/// Errors from a port lookup.
#[derive(Debug, thiserror::Error)]
pub enum RpcbindError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("rpcbind reply: {0}")]
    Reply(#[from] RpcError),
    #[error("rpcbind at {server} has no {protocol} port for program {program} version {version}; is the service running there?")]
    NotRegistered {
        server: IpAddr,
        program: u32,
        version: u32,
        protocol: &'static str,
    },
    #[error("rpcbind reply holds the malformed universal address {0:?}")]
    BadUniversalAddress(String),
}

/// A portmapper `mapping` or the program part of an rpcbind `rpcb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub program: u32,
    pub version: u32,
    pub protocol: Protocol,
}

impl Mapping {
    fn ip_protocol(&self) -> u32 {
        match self.protocol {
            Protocol::Tcp => IPPROTO_TCP,
            Protocol::Udp => IPPROTO_UDP,
        }
    }

    /// Returns the netid of the mapping's transport over `address`'s family.
    pub fn netid(&self, address: IpAddr) -> &'static str {
        match (self.protocol, address.is_ipv6()) {
            (Protocol::Tcp, false) => "tcp",
            (Protocol::Udp, false) => "udp",
            (Protocol::Tcp, true) => "tcp6",
            (Protocol::Udp, true) => "udp6",
        }
    }
}

/// Encodes a portmapper version 2 call with a `mapping` argument: GETPORT
/// (port 0) or SET.
pub fn encode_pmap_call(xid: u32, procedure: u32, mapping: &Mapping, port: u16) -> Vec<u8> {
    let mut w = Writer::new();
    put_call_header(&mut w, xid, RPCBIND_PROGRAM, 2, procedure);
    w.u32(mapping.program);
    w.u32(mapping.version);
    w.u32(mapping.ip_protocol());
    w.u32(u32::from(port));
    w.into_inner()
}

/// Encodes an rpcbind version 3 or 4 call with an `rpcb` argument: GETADDR
/// (the server's address with port 0, an empty owner) or SET.
pub fn encode_rpcb_call(
    xid: u32,
    rpcb_version: u32,
    procedure: u32,
    mapping: &Mapping,
    netid: &str,
    universal_address: &str,
    owner: &str,
) -> Vec<u8> {
    let mut w = Writer::new();
    put_call_header(&mut w, xid, RPCBIND_PROGRAM, rpcb_version, procedure);
    w.u32(mapping.program);
    w.u32(mapping.version);
    for text in [netid, universal_address, owner] {
        put_opaque(&mut w, text.as_bytes());
    }
    w.into_inner()
}

/// Decodes the reply to GETPORT: the port, 0 when the program is not
/// registered.
pub fn decode_getport_reply(data: &[u8], xid: u32) -> Result<u16, RpcError> {
    let mut r = Reader::new(data);
    accepted_reply(&mut r, xid)?;
    let port = r.u32("port")?;
    r.finish("portmapper GETPORT reply")?;
    u16::try_from(port).map_err(|_| r.invalid("port", format!("{port} is above 65535")).into())
}

/// Decodes the reply to GETADDR: a universal address, empty when the
/// program is not registered.
pub fn decode_getaddr_reply(data: &[u8], xid: u32) -> Result<String, RpcError> {
    let mut r = Reader::new(data);
    accepted_reply(&mut r, xid)?;
    let address = get_opaque(&mut r, "universal address", MAX_STRING)?;
    r.finish("rpcbind GETADDR reply")?;
    String::from_utf8(address.to_vec())
        .map_err(|_| r.invalid("universal address", "not UTF-8").into())
}

/// Decodes the boolean reply to SET.
pub fn decode_set_reply(data: &[u8], xid: u32) -> Result<bool, RpcError> {
    let mut r = Reader::new(data);
    accepted_reply(&mut r, xid)?;
    let done = r.u32("bool")?;
    r.finish("rpcbind SET reply")?;
    Ok(done != 0)
}

/// Parses an IPv4 or IPv6 universal address (RFC 5665 §5.2.3.3, §5.2.3.4):
/// the address text, a dot, the port's high byte, a dot, its low byte.
pub fn parse_universal_address(text: &str) -> Option<SocketAddr> {
    let (rest, low) = text.rsplit_once('.')?;
    let (host, high) = rest.rsplit_once('.')?;
    let port_byte = |s: &str| -> Option<u16> {
        if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<u8>().ok().map(u16::from)
    };
    let port = port_byte(high)? << 8 | port_byte(low)?;
    Some(SocketAddr::new(host.parse().ok()?, port))
}

/// Formats a socket address as a universal address.
pub fn universal_address(address: SocketAddr) -> String {
    let port = address.port();
    format!("{}.{}.{}", address.ip(), port >> 8, port & 0xff)
}

/// Asks the rpcbind of `server` for the port of `mapping`, as rpc.gssd
/// does for services without a port in `info`.
pub async fn lookup_port(
    server: IpAddr,
    mapping: &Mapping,
    deadline: Duration,
) -> Result<u16, RpcbindError> {
    let rpcbind = SocketAddr::new(server, RPCBIND_PORT);
    let deadlines = Deadlines::both(deadline);
    let xid = random_xid()?;
    let port = if server.is_ipv4() {
        let call = encode_pmap_call(xid, PMAPPROC_GETPORT, mapping, 0);
        let reply = transport::call(rpcbind, mapping.protocol, &call, xid, deadlines).await?;
        decode_getport_reply(&reply, xid)?
    } else {
        let netid = mapping.netid(server);
        // The server's own address, which rpcbind may use to pick the
        // address it returns on a multi-homed host (rpc.gssd sends it too).
        let server_uaddr = universal_address(SocketAddr::new(server, 0));
        let mut found = None;
        for version in [4, 3] {
            let call = encode_rpcb_call(
                xid,
                version,
                RPCBPROC_GETADDR,
                mapping,
                netid,
                &server_uaddr,
                "",
            );
            let reply = transport::call(rpcbind, mapping.protocol, &call, xid, deadlines).await?;
            match decode_getaddr_reply(&reply, xid) {
                // PROG_MISMATCH: an rpcbind that speaks only version 3.
                Err(RpcError::NotAccepted(2)) if version == 4 => continue,
                Err(e) => return Err(e.into()),
                Ok(text) if text.is_empty() => break,
                Ok(text) => {
                    let address = parse_universal_address(&text)
                        .ok_or(RpcbindError::BadUniversalAddress(text))?;
                    found = Some(address.port());
                    break;
                }
            }
        }
        found.unwrap_or(0)
    };
    if port == 0 {
        return Err(RpcbindError::NotRegistered {
            server,
            program: mapping.program,
            version: mapping.version,
            protocol: mapping.netid(server),
        });
    }
    Ok(port)
}

fn random_xid() -> Result<u32, RpcbindError> {
    let mut xid = [0u8; 4];
    getrandom::fill(&mut xid).map_err(|e| {
        RpcbindError::Transport(TransportError::Io {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            source: std::io::Error::other(e.to_string()),
        })
    })?;
    Ok(u32::from_be_bytes(xid))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NFS3_TCP: Mapping = Mapping {
        program: 100_003,
        version: 3,
        protocol: Protocol::Tcp,
    };

    #[test]
    fn getport_call_layout() {
        let call = encode_pmap_call(0x0102_0304, PMAPPROC_GETPORT, &NFS3_TCP, 0);
        let expected = hex::decode(concat!(
            "01020304", "00000000", "00000002", "000186a0", "00000002", "00000003", "00000000",
            "00000000", "00000000", "00000000", "000186a3", "00000003", "00000006", "00000000",
        ))
        .unwrap();
        assert_eq!(call, expected);
    }

    #[test]
    fn getaddr_call_layout() {
        let call = encode_rpcb_call(9, 4, RPCBPROC_GETADDR, &NFS3_TCP, "tcp6", "", "");
        let expected = hex::decode(concat!(
            "00000009", "00000000", "00000002", "000186a0", "00000004", "00000003", "00000000",
            "00000000", "00000000", "00000000", "000186a3", "00000003", "00000004", "74637036",
            "00000000", "00000000",
        ))
        .unwrap();
        assert_eq!(call, expected);
    }

    /// Builds an accepted, successful reply to xid 9 with an AUTH_NONE verifier.
    fn reply(results: &[u8]) -> Vec<u8> {
        let mut out: Vec<u8> = [9u32, 1, 0, 0, 0, 0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        out.extend_from_slice(results);
        out
    }

    #[test]
    fn getport_reply() {
        assert_eq!(
            decode_getport_reply(&reply(&[0, 0, 8, 1]), 9).unwrap(),
            2049
        );
        assert_eq!(decode_getport_reply(&reply(&[0, 0, 0, 0]), 9).unwrap(), 0);
        assert!(decode_getport_reply(&reply(&[0, 1, 0, 0]), 9).is_err());
        assert!(decode_getport_reply(&reply(&[0, 0, 8]), 9).is_err());
        assert!(decode_getport_reply(&reply(&[0, 0, 8, 1, 0]), 9).is_err());
    }

    #[test]
    fn getaddr_reply() {
        let mut body = 7u32.to_be_bytes().to_vec();
        body.extend_from_slice(b"::1.8.1\0");
        assert_eq!(decode_getaddr_reply(&reply(&body), 9).unwrap(), "::1.8.1");
        assert!(decode_getaddr_reply(&reply(&[0, 0, 0, 8, b':']), 9).is_err());
        assert_eq!(decode_getaddr_reply(&reply(&[0; 4]), 9).unwrap(), "");
    }

    #[test]
    fn universal_addresses() {
        assert_eq!(
            parse_universal_address("192.0.2.7.8.1"),
            Some("192.0.2.7:2049".parse().unwrap())
        );
        assert_eq!(
            parse_universal_address("fe80::1.3.255"),
            Some("[fe80::1]:1023".parse().unwrap())
        );
        for bad in [
            "",
            "1.2",
            "192.0.2.7.256.1",
            "192.0.2.7.8.+1",
            "host.8.1",
            "::1.8.",
        ] {
            assert_eq!(parse_universal_address(bad), None, "{bad:?}");
        }
        let address: SocketAddr = "[::1]:20049".parse().unwrap();
        assert_eq!(universal_address(address), "::1.78.81");
        assert_eq!(
            parse_universal_address(&universal_address(address)),
            Some(address)
        );
    }
}
