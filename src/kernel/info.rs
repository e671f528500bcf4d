//! The `info` file of an rpc_pipefs client directory (`clntXX/info`).
//!
//! Current kernels write five lines:
//! `RPC server:`, `service: NAME (PROGRAM) version N`, `address:`,
//! `protocol:` and `port:`. Kernels before 2007 left out `port:` and the
//! earliest ones `protocol:` too, so those two are optional, with `tcp` and
//! no port as the defaults, as rpc.gssd assumes.

/// The parsed contents of an `info` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// The server's name as the mount gave it, or its address for callbacks.
    pub server: String,
    /// The RPC program name, `nfs` or `nfs4_cb`.
    pub program_name: String,
    pub program: u32,
    pub version: u32,
    /// The numeric peer address.
    pub address: String,
    /// `tcp`, `udp`, `rdma` or `local`.
    pub protocol: String,
    /// The peer port, when the kernel reports one.
    pub port: Option<u16>,
}

/// An `info` file parse failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed rpc_pipefs info file, line {line}: {reason}")]
pub struct InfoError {
    pub line: usize,
    pub reason: String,
}

impl ClientInfo {
    /// Parses the text of an `info` file.
    pub fn parse(text: &str) -> Result<Self, InfoError> {
        let mut lines = text.lines();
        let mut number = 0;
        let mut next = |prefix: &str, required: bool| -> Result<Option<String>, InfoError> {
            number += 1;
            match lines.next() {
                Some(line) => match line.strip_prefix(prefix) {
                    Some(value) => Ok(Some(value.trim().to_string())),
                    None => Err(InfoError {
                        line: number,
                        reason: format!("expected {prefix:?}, found {line:?}"),
                    }),
                },
                None if required => Err(InfoError {
                    line: number,
                    reason: format!("missing {prefix:?} line"),
                }),
                None => Ok(None),
            }
        };

        let server = next("RPC server:", true)?.unwrap_or_default();
        let service = next("service:", true)?.unwrap_or_default();
        let address = next("address:", true)?.unwrap_or_default();
        let protocol = next("protocol:", false)?.unwrap_or_else(|| "tcp".to_string());
        let port = next("port:", false)?;

        let (program_name, program, version) =
            parse_service(&service).ok_or_else(|| InfoError {
                line: 2,
                reason: format!("expected \"NAME (PROGRAM) version N\", found {service:?}"),
            })?;
        let port = match port {
            None => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| InfoError {
                line: 5,
                reason: format!("port {p:?} is not a number from 0 to 65535"),
            })?),
        };
        if server.is_empty() || address.is_empty() {
            return Err(InfoError {
                line: if server.is_empty() { 1 } else { 3 },
                reason: "empty value".to_string(),
            });
        }

        Ok(Self {
            server,
            program_name,
            program,
            version,
            address,
            protocol,
            port,
        })
    }
}

fn parse_service(text: &str) -> Option<(String, u32, u32)> {
    let (name, rest) = text.split_once(" (")?;
    let (program, rest) = rest.split_once(") version ")?;
    Some((
        name.to_string(),
        program.parse().ok()?,
        rest.trim().parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_nfs_client_info() {
        let info = ClientInfo::parse(
            "RPC server: nfs.example.test\nservice: nfs (100003) version 4\naddress: 127.0.0.1\nprotocol: tcp\nport: 2049\n",
        )
        .unwrap();
        assert_eq!(info.server, "nfs.example.test");
        assert_eq!(info.program_name, "nfs");
        assert_eq!(info.program, 100003);
        assert_eq!(info.version, 4);
        assert_eq!(info.address, "127.0.0.1");
        assert_eq!(info.protocol, "tcp");
        assert_eq!(info.port, Some(2049));
    }

    #[test]
    fn parse_dummy_client_info() {
        let info = ClientInfo::parse(
            "RPC server: nfs.example.test\nservice: foo (1) version 0\naddress: 127.0.0.1\nprotocol: tcp\nport: 0\n",
        )
        .unwrap();
        assert_eq!(info.program_name, "foo");
        assert_eq!(info.port, Some(0));
    }

    #[test]
    fn old_kernel_info_without_port_or_protocol() {
        let info = ClientInfo::parse(
            "RPC server: srv\nservice: nfs (100003) version 3\naddress: 10.0.0.1\n",
        )
        .unwrap();
        assert_eq!(info.protocol, "tcp");
        assert_eq!(info.port, None);
    }

    #[test]
    fn malformed_info_names_line() {
        let err =
            ClientInfo::parse("RPC server: s\nservice: nfs version 4\naddress: a\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = ClientInfo::parse("RPC server: s\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = ClientInfo::parse(
            "RPC server: s\nservice: nfs (100003) version 4\naddress: a\nprotocol: tcp\nport: 99999\n",
        )
        .unwrap_err();
        assert_eq!(err.line, 5);
    }
}
