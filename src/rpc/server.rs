//! The server's half of an ONC RPC exchange (RFC 5531 §9): decoding a call
//! header and encoding the reply, for the RPC services rgssd offers.

use krb5::codec::{DecodeError, Reader, Writer};

use super::gss_init::{MAX_AUTH_BYTES, RPC_VERSION};
use super::xdr::get_opaque;

/// A decoded call: its header, and the procedure's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call<'a> {
    pub xid: u32,
    pub program: u32,
    pub version: u32,
    pub procedure: u32,
    pub cred_flavor: u32,
    pub args: &'a [u8],
}

/// The reason a message could not be decoded as a call. Where the xid could
/// be read, the server still sends a reply that names the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("malformed RPC call: {0}")]
    Decode(#[from] DecodeError),
    #[error("RPC message {xid:#x} has type {msg_type}, not CALL (0)")]
    NotACall { xid: u32, msg_type: u32 },
    #[error("RPC call {xid:#x} uses RPC version {version}; only version 2 exists")]
    RpcVersion { xid: u32, version: u32 },
}

/// `accept_stat` values of an accepted reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// SUCCESS, with the procedure's results.
    Success,
    /// PROG_UNAVAIL: the program is not served here.
    ProgramUnavailable,
    /// PROG_MISMATCH: the program is served in versions `low` to `high`.
    ProgramMismatch { low: u32, high: u32 },
    /// PROC_UNAVAIL: the program has no such procedure.
    ProcedureUnavailable,
    /// GARBAGE_ARGS: the arguments could not be decoded.
    GarbageArgs,
    /// SYSTEM_ERR: the server failed, for example to allocate memory.
    SystemError,
}

impl<'a> Call<'a> {
    /// Decodes a call message (without its record mark).
    pub fn decode(message: &'a [u8]) -> Result<Self, CallError> {
        let mut r = Reader::new(message);
        let xid = r.u32("xid")?;
        let msg_type = r.u32("msg_type")?;
        if msg_type != 0 {
            return Err(CallError::NotACall { xid, msg_type });
        }
        let version = r.u32("rpcvers")?;
        if version != RPC_VERSION {
            return Err(CallError::RpcVersion { xid, version });
        }
        let program = r.u32("prog")?;
        let prog_version = r.u32("vers")?;
        let procedure = r.u32("proc")?;
        let cred_flavor = r.u32("cred.flavor")?;
        get_opaque(&mut r, "cred.body", MAX_AUTH_BYTES)?;
        r.u32("verf.flavor")?;
        get_opaque(&mut r, "verf.body", MAX_AUTH_BYTES)?;
        Ok(Call {
            xid,
            program,
            version: prog_version,
            procedure,
            cred_flavor,
            args: r.rest(),
        })
    }
}

/// Encodes an accepted reply with an AUTH_NONE verifier, followed by
/// `results` when the reply is [`Reply::Success`].
pub fn accepted_reply(xid: u32, reply: Reply, results: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u32(xid);
    w.u32(1); // REPLY
    w.u32(0); // MSG_ACCEPTED
    w.u32(0); // verifier AUTH_NONE
    w.u32(0);
    match reply {
        Reply::Success => {
            w.u32(0);
            w.put(results);
        }
        Reply::ProgramUnavailable => w.u32(1),
        Reply::ProgramMismatch { low, high } => {
            w.u32(2);
            w.u32(low);
            w.u32(high);
        }
        Reply::ProcedureUnavailable => w.u32(3),
        Reply::GarbageArgs => w.u32(4),
        Reply::SystemError => w.u32(5),
    }
    w.into_inner()
}

/// Encodes the denied reply RPC_MISMATCH, which names the one RPC version.
pub fn rpc_mismatch_reply(xid: u32) -> Vec<u8> {
    let mut w = Writer::new();
    w.u32(xid);
    w.u32(1); // REPLY
    w.u32(1); // MSG_DENIED
    w.u32(0); // RPC_MISMATCH
    w.u32(RPC_VERSION);
    w.u32(RPC_VERSION);
    w.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call_bytes(rpc_version: u32, cred: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for word in [0x1234u32, 0, rpc_version, 400_112, 1, 9, 0] {
            out.extend_from_slice(&word.to_be_bytes());
        }
        out.extend_from_slice(&(cred.len() as u32).to_be_bytes());
        out.extend_from_slice(cred);
        out.extend_from_slice(&[0; 8]); // verifier AUTH_NONE
        out.extend_from_slice(b"args");
        out
    }

    #[test]
    fn decodes_call_header() {
        let message = call_bytes(2, &[]);
        let call = Call::decode(&message).unwrap();
        assert_eq!(call.xid, 0x1234);
        assert_eq!(call.program, 400_112);
        assert_eq!(call.version, 1);
        assert_eq!(call.procedure, 9);
        assert_eq!(call.args, b"args");
    }

    #[test]
    fn rejects_wrong_rpc_version_and_replies() {
        let message = call_bytes(3, &[]);
        let error = Call::decode(&message).unwrap_err();
        assert_eq!(
            error,
            CallError::RpcVersion {
                xid: 0x1234,
                version: 3
            }
        );
        assert_eq!(
            rpc_mismatch_reply(0x1234),
            [0, 0, 0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2]
        );
    }

    #[test]
    fn rejects_oversized_credential() {
        let message = call_bytes(2, &[0; 404]);
        assert!(matches!(Call::decode(&message), Err(CallError::Decode(_))));
    }

    #[test]
    fn every_truncated_header_is_an_error() {
        let message = call_bytes(2, &[1, 2, 3, 4]);
        for len in 0..message.len() - 4 {
            assert!(Call::decode(&message[..len]).is_err(), "prefix {len}");
        }
    }

    #[test]
    fn accepted_reply_layouts() {
        let success = accepted_reply(7, Reply::Success, &[9, 9, 9, 9]);
        assert_eq!(
            success,
            [0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9]
        );
        let mismatch = accepted_reply(7, Reply::ProgramMismatch { low: 1, high: 1 }, &[]);
        assert_eq!(&mismatch[20..], &[0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1]);
        let unavailable = accepted_reply(7, Reply::ProcedureUnavailable, &[]);
        assert_eq!(&unavailable[20..], &[0, 0, 0, 3]);
    }
}
