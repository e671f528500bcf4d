//! Records of the server-side RPCSEC_GSS caches:
//! `/proc/net/rpc/auth.rpcsec.init/channel` (init requests and replies) and
//! `/proc/net/rpc/auth.rpcsec.context/channel` (established contexts).

use super::qword::{end_line, push_hex, push_text, QwordError, QwordReader};

/// Each write to a cache channel must be shorter than this (the kernel's
/// `cache_downcall` limit).
pub const MAX_CHANNEL_WRITE: usize = 32767;

/// The largest supplementary group count the kernel accepts (`NGROUPS_MAX`).
pub const MAX_GROUPS: usize = 65536;

/// An init request: `<in_handle> <in_token>\n`. The pair is the kernel's
/// cache key, so the reply must echo both unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitRequest {
    /// Empty for RPCSEC_GSS_INIT, the server's handle for CONTINUE_INIT.
    pub handle: Vec<u8>,
    /// The client's GSS token.
    pub token: Vec<u8>,
}

impl InitRequest {
    /// Parses one request line as read from the init channel.
    pub fn parse(line: &[u8]) -> Result<Self, QwordError> {
        let mut r = QwordReader::new(line);
        let handle = r.bytes("in_handle")?;
        let token = r.bytes("in_token")?;
        r.finish()?;
        Ok(Self { handle, token })
    }
}

/// Errors from encoding channel records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("{record} record is {len} bytes, but the kernel takes at most {MAX_CHANNEL_WRITE} per write")]
    TooLong { record: &'static str, len: usize },
    #[error("{count} supplementary groups, more than the kernel's limit of {MAX_GROUPS}")]
    TooManyGroups { count: usize },
}

/// The reply to an init request, written back to the init channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitReply<'a> {
    pub request: &'a InitRequest,
    /// When the kernel may drop this reply, in seconds since the epoch.
    pub expiry: i64,
    pub major: u32,
    pub minor: u32,
    /// The new context's handle; empty on error.
    pub out_handle: &'a [u8],
    /// The acceptor's output token (the AP-REP); empty on error.
    pub out_token: &'a [u8],
}

impl InitReply<'_> {
    pub fn encode(&self) -> Result<String, RecordError> {
        let mut line = String::new();
        push_hex(&mut line, &self.request.handle);
        push_hex(&mut line, &self.request.token);
        push_text(&mut line, &self.expiry.to_string());
        push_text(&mut line, &self.major.to_string());
        push_text(&mut line, &self.minor.to_string());
        push_hex(&mut line, self.out_handle);
        push_hex(&mut line, self.out_token);
        end_line(&mut line);
        check_len("init reply", line)
    }
}

/// The local identity a context's principal maps to. The kernel reads -1 as
/// "no mapping" and then uses the export's anonymous uid and gid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: i64,
    pub gid: i64,
    pub groups: Vec<u32>,
}

impl Identity {
    /// Returns the identity of a principal that maps to no local user.
    pub fn unmapped() -> Self {
        Self {
            uid: -1,
            gid: -1,
            groups: Vec::new(),
        }
    }
}

/// An established context for the context channel.
#[derive(Clone, PartialEq, Eq)]
pub struct ContextRecord<'a> {
    pub handle: &'a [u8],
    /// The context's end time, in seconds since the epoch.
    pub expiry: i64,
    pub identity: &'a Identity,
    /// The kernel's mechanism name, `krb5`.
    pub mech: &'a str,
    /// The exported (lucid) context.
    pub context: &'a [u8],
    /// The client's host-based name (`nfs@client.example.com`), only for
    /// principals with an instance; NFSv4.0 callbacks need it.
    pub client_principal: Option<&'a str>,
}

impl ContextRecord<'_> {
    pub fn encode(&self) -> Result<String, RecordError> {
        let groups = &self.identity.groups;
        if groups.len() > MAX_GROUPS {
            return Err(RecordError::TooManyGroups {
                count: groups.len(),
            });
        }

        let mut line = String::new();
        push_hex(&mut line, self.handle);
        push_text(&mut line, &self.expiry.to_string());
        push_text(&mut line, &self.identity.uid.to_string());
        push_text(&mut line, &self.identity.gid.to_string());
        push_text(&mut line, &groups.len().to_string());
        for gid in groups {
            push_text(&mut line, &gid.to_string());
        }
        push_text(&mut line, self.mech);
        push_hex(&mut line, self.context);
        if let Some(principal) = self.client_principal {
            push_text(&mut line, principal);
        }
        end_line(&mut line);
        check_len("context", line)
    }
}

impl std::fmt::Debug for ContextRecord<'_> {
    /// Omits the context, which contains the session key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextRecord")
            .field("handle", &hex::encode(self.handle))
            .field("expiry", &self.expiry)
            .field("identity", &self.identity)
            .field("mech", &self.mech)
            .field("context_len", &self.context.len())
            .field("client_principal", &self.client_principal)
            .finish()
    }
}

fn check_len(record: &'static str, line: String) -> Result<String, RecordError> {
    if line.len() > MAX_CHANNEL_WRITE {
        Err(RecordError::TooLong {
            record,
            len: line.len(),
        })
    } else {
        Ok(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_request_from_kernel_line() {
        let req = InitRequest::parse(b"\\x \\x6082033d0609\n").unwrap();
        assert!(req.handle.is_empty());
        assert_eq!(req.token, [0x60, 0x82, 0x03, 0x3d, 0x06, 0x09]);
    }

    #[test]
    fn init_reply_echoes_request() {
        let req = InitRequest {
            handle: vec![],
            token: vec![0x60, 0x01],
        };
        let reply = InitReply {
            request: &req,
            expiry: 1796450945,
            major: 0,
            minor: 0,
            out_handle: &[1, 0, 0, 0],
            out_token: &[0x6f, 0x02],
        };
        assert_eq!(
            reply.encode().unwrap(),
            "\\x \\x6001 1796450945 0 0 \\x01000000 \\x6f02\n"
        );
    }

    #[test]
    fn context_record_matches_rpc_svcgssd_layout() {
        let identity = Identity {
            uid: 1001,
            gid: 1001,
            groups: vec![100, 27],
        };
        let record = ContextRecord {
            handle: &[1, 0, 0, 0],
            expiry: 1796450945,
            identity: &identity,
            mech: "krb5",
            context: &[6, 0, 0, 0],
            client_principal: Some("nfs@client.example.test"),
        };
        assert_eq!(
            record.encode().unwrap(),
            "\\x01000000 1796450945 1001 1001 2 100 27 krb5 \\x06000000 nfs@client.example.test\n"
        );
    }

    #[test]
    fn unmapped_identity_is_minus_one() {
        let identity = Identity::unmapped();
        let record = ContextRecord {
            handle: &[2, 0, 0, 0],
            expiry: 5,
            identity: &identity,
            mech: "krb5",
            context: &[],
            client_principal: None,
        };
        assert_eq!(record.encode().unwrap(), "\\x02000000 5 -1 -1 0 krb5 \\x\n");
    }

    /// A request line and the reply rpc.svcgssd (nfs-utils 2.6) wrote for it,
    /// captured from Linux 6.12.
    #[test]
    fn captured_request_and_reply_parse() {
        let request = include_bytes!("../../tests/data/kernel/init-request-krb5.txt");
        let req = InitRequest::parse(request).unwrap();
        assert!(req.handle.is_empty());
        assert_eq!(req.token.len(), 833);
        assert_eq!(&req.token[..2], &[0x60, 0x82]);

        let reply = include_bytes!("../../tests/data/kernel/init-reply-nfs-utils.txt");
        let mut r = QwordReader::new(reply);
        assert_eq!(r.bytes("in_handle").unwrap(), req.handle);
        assert_eq!(r.bytes("in_token").unwrap(), req.token);
        r.int("expiry").unwrap();
        assert_eq!(r.int("major").unwrap(), 0);
        assert_eq!(r.int("minor").unwrap(), 0);
        assert_eq!(r.bytes("out_handle").unwrap(), [1, 0, 0, 0]);
        assert_eq!(r.bytes("out_token").unwrap()[0], 0x60);
        assert!(r.finish().is_ok());
    }

    /// Our encoder writes the context line rpc.svcgssd wrote, except for the
    /// space nfs-utils leaves before the newline, which the kernel skips.
    #[test]
    fn context_record_matches_capture() {
        let captured = include_bytes!("../../tests/data/kernel/context-line-nfs-utils.txt");
        let mut r = QwordReader::new(captured);
        let handle = r.bytes("handle").unwrap();
        let expiry = r.int("expiry").unwrap();
        let identity = Identity {
            uid: r.int("uid").unwrap(),
            gid: r.int("gid").unwrap(),
            groups: Vec::new(),
        };
        assert_eq!(r.int("groups").unwrap(), 0);
        let mech = r.text("mech").unwrap();
        let context = r.bytes("context").unwrap();
        let principal = r.text("principal").unwrap();
        assert!(r.finish().is_ok());

        let record = ContextRecord {
            handle: &handle,
            expiry,
            identity: &identity,
            mech: &mech,
            context: &context,
            client_principal: Some(&principal),
        };
        let encoded = record.encode().unwrap();
        assert_eq!(
            encoded.trim_end(),
            std::str::from_utf8(captured).unwrap().trim_end()
        );
    }

    #[test]
    fn oversized_record_is_rejected() {
        let req = InitRequest {
            handle: vec![],
            token: vec![0; 20000],
        };
        let reply = InitReply {
            request: &req,
            expiry: 0,
            major: 0,
            minor: 0,
            out_handle: &[],
            out_token: &[],
        };
        assert!(matches!(reply.encode(), Err(RecordError::TooLong { .. })));
    }
}
