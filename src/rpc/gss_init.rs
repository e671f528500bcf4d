//! Codec for the RPCSEC_GSS_INIT and CONTINUE_INIT NULL calls and their
//! replies (RFC 5531 messages, RFC 2203 §5.2.2 and §5.2.3.1 bodies). XDR is
//! big-endian with every item padded to four bytes.

use krb5::codec::{DecodeError, Reader, Writer};

use super::xdr::{get_opaque, put_opaque};

/// The RPC protocol version (RFC 5531).
pub const RPC_VERSION: u32 = 2;
/// The RPCSEC_GSS authentication flavor.
pub const AUTH_RPCSEC_GSS: u32 = 6;
/// RPCSEC_GSS version 1, the only one Linux servers accept.
pub const RPCSEC_GSS_VERSION: u32 = 1;
/// The `rpc_gss_service_t` value `rpc_gss_svc_none`, sent during creation.
pub const SERVICE_NONE: u32 = 1;
/// The largest opaque_auth body (RFC 5531 §8.2).
pub const MAX_AUTH_BYTES: usize = 400;

/// `rpc_gss_proc_t` values used in creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GssProc {
    Init = 1,
    ContinueInit = 2,
}

/// A creation call: the NULL procedure of the service's program and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitCall<'a> {
    pub xid: u32,
    pub program: u32,
    pub version: u32,
    pub gss_proc: GssProc,
    /// Empty for INIT; the server's handle for CONTINUE_INIT.
    pub handle: &'a [u8],
    /// The GSS token (an InitialContextToken for krb5).
    pub token: &'a [u8],
}

/// Errors from encoding a call or decoding a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    #[error("malformed RPC reply: {0}")]
    Decode(#[from] DecodeError),
    #[error("RPC reply xid {actual:#x} does not match call xid {expected:#x}")]
    XidMismatch { expected: u32, actual: u32 },
    #[error("RPC message type {0} is not a reply")]
    NotAReply(u32),
    #[error("server rejected the call: RPC version mismatch (it supports {low} to {high})")]
    RpcMismatch { low: u32, high: u32 },
    #[error("server rejected the RPCSEC_GSS credential: auth_stat {0} ({name})", name = auth_stat_name(*.0))]
    AuthError(u32),
    #[error("server did not accept the call: accept_stat {0} ({name})", name = accept_stat_name(*.0))]
    NotAccepted(u32),
    #[error(
        "context handle of {0} bytes is larger than the {MAX_AUTH_BYTES}-byte credential limit"
    )]
    HandleTooLong(usize),
    #[error("GSS token of {0} bytes does not fit in an XDR opaque")]
    TokenTooLong(usize),
}

/// The server's `rpc_gss_init_res` and the reply verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitResult {
    pub handle: Vec<u8>,
    pub major: u32,
    pub minor: u32,
    pub seq_window: u32,
    pub token: Vec<u8>,
    /// The reply verifier's flavor and body: for a complete context, flavor 6
    /// and a MIC over the big-endian `seq_window`.
    pub verifier_flavor: u32,
    pub verifier: Vec<u8>,
}

impl InitCall<'_> {
    /// Encodes the call message without the TCP record mark.
    pub fn encode(&self) -> Result<Vec<u8>, RpcError> {
        if self.handle.len() > MAX_AUTH_BYTES - 20 {
            return Err(RpcError::HandleTooLong(self.handle.len()));
        }
        if u32::try_from(self.token.len()).is_err() {
            return Err(RpcError::TokenTooLong(self.token.len()));
        }

        let mut w = Writer::new();
        w.u32(self.xid);
        w.u32(0); // msg_type CALL
        w.u32(RPC_VERSION);
        w.u32(self.program);
        w.u32(self.version);
        w.u32(0); // NULLPROC

        let mut cred = Writer::new();
        cred.u32(RPCSEC_GSS_VERSION);
        cred.u32(self.gss_proc as u32);
        cred.u32(0); // seq_num, ignored by the server during creation
        cred.u32(SERVICE_NONE);
        put_opaque(&mut cred, self.handle);
        w.u32(AUTH_RPCSEC_GSS);
        put_opaque(&mut w, cred.as_slice());

        // The verifier of a creation call is AUTH_NONE with an empty body.
        w.u32(0);
        w.u32(0);

        put_opaque(&mut w, self.token);
        Ok(w.into_inner())
    }
}

/// Decodes a reply to the call with `xid` (without the TCP record mark).
pub fn decode_reply(data: &[u8], xid: u32) -> Result<InitResult, RpcError> {
    let mut r = Reader::new(data);
    let (verifier_flavor, verifier) = accepted_reply(&mut r, xid)?;
    let verifier = verifier.to_vec();

    let handle = get_opaque(&mut r, "rpc_gss_init_res.handle", MAX_AUTH_BYTES)?.to_vec();
    let major = r.u32("rpc_gss_init_res.gss_major")?;
    let minor = r.u32("rpc_gss_init_res.gss_minor")?;
    let seq_window = r.u32("rpc_gss_init_res.seq_window")?;
    let token = get_opaque(&mut r, "rpc_gss_init_res.gss_token", usize::MAX)?.to_vec();
    r.finish("RPCSEC_GSS init reply")?;

    Ok(InitResult {
        handle,
        major,
        minor,
        seq_window,
        token,
        verifier_flavor,
        verifier,
    })
}

/// Reads the RPC reply header (RFC 5531 §9) up to the procedure's results:
/// checks the xid and that the call was accepted and succeeded, and returns
/// the verifier's flavor and body.
pub(crate) fn accepted_reply<'a>(
    r: &mut Reader<'a>,
    xid: u32,
) -> Result<(u32, &'a [u8]), RpcError> {
    let actual = r.u32("xid")?;
    if actual != xid {
        return Err(RpcError::XidMismatch {
            expected: xid,
            actual,
        });
    }
    let msg_type = r.u32("msg_type")?;
    if msg_type != 1 {
        return Err(RpcError::NotAReply(msg_type));
    }

    match r.u32("reply_stat")? {
        0 => {}
        1 => {
            return Err(match r.u32("reject_stat")? {
                0 => RpcError::RpcMismatch {
                    low: r.u32("mismatch_info.low")?,
                    high: r.u32("mismatch_info.high")?,
                },
                _ => RpcError::AuthError(r.u32("auth_stat")?),
            })
        }
        other => {
            return Err(r
                .invalid("reply_stat", format!("unknown value {other}"))
                .into())
        }
    }

    let verifier_flavor = r.u32("verf.flavor")?;
    let verifier = get_opaque(r, "verf.body", MAX_AUTH_BYTES)?;
    let accept_stat = r.u32("accept_stat")?;
    if accept_stat != 0 {
        return Err(RpcError::NotAccepted(accept_stat));
    }
    Ok((verifier_flavor, verifier))
}

/// Writes the head of a call message with AUTH_NONE credential and
/// verifier; the procedure's arguments follow.
pub(crate) fn put_call_header(
    w: &mut Writer,
    xid: u32,
    program: u32,
    version: u32,
    procedure: u32,
) {
    w.u32(xid);
    w.u32(0); // msg_type CALL
    w.u32(RPC_VERSION);
    w.u32(program);
    w.u32(version);
    w.u32(procedure);
    for _ in 0..4 {
        w.u32(0); // flavor AUTH_NONE and an empty body, for cred and verf
    }
}

fn auth_stat_name(stat: u32) -> &'static str {
    match stat {
        1 => "AUTH_BADCRED",
        2 => "AUTH_REJECTEDCRED",
        3 => "AUTH_BADVERF",
        4 => "AUTH_REJECTEDVERF",
        5 => "AUTH_TOOWEAK",
        6 => "AUTH_INVALIDRESP",
        7 => "AUTH_FAILED",
        13 => "RPCSEC_GSS_CREDPROBLEM",
        14 => "RPCSEC_GSS_CTXPROBLEM",
        _ => "unknown",
    }
}

fn accept_stat_name(stat: u32) -> &'static str {
    match stat {
        1 => "PROG_UNAVAIL",
        2 => "PROG_MISMATCH",
        3 => "PROC_UNAVAIL",
        4 => "GARBAGE_ARGS",
        5 => "SYSTEM_ERR",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_call_layout() {
        let call = InitCall {
            xid: 0x1234_5678,
            program: 100003,
            version: 4,
            gss_proc: GssProc::Init,
            handle: &[],
            token: &[0x60, 0x01, 0x02],
        };
        let bytes = call.encode().unwrap();
        let expected = hex::decode(concat!(
            "12345678", "00000000", "00000002", "000186a3", "00000004", "00000000", "00000006",
            "00000014", "00000001", "00000001", "00000000", "00000001", "00000000", "00000000",
            "00000000", "00000003", "60010200",
        ))
        .unwrap();
        assert_eq!(bytes, expected);
    }

    #[test]
    fn continue_init_carries_padded_handle() {
        let call = InitCall {
            xid: 1,
            program: 100003,
            version: 4,
            gss_proc: GssProc::ContinueInit,
            handle: &[1, 2, 3, 4, 5],
            token: &[],
        };
        let bytes = call.encode().unwrap();
        assert_eq!(&bytes[28..32], &28u32.to_be_bytes());
        assert_eq!(&bytes[36..40], &2u32.to_be_bytes());
        assert_eq!(&bytes[48..52], &5u32.to_be_bytes());
        assert_eq!(&bytes[52..60], &[1, 2, 3, 4, 5, 0, 0, 0]);
    }

    fn reply(body: &[u32], tail: &[u8]) -> Vec<u8> {
        let mut out: Vec<u8> = body.iter().flat_map(|v| v.to_be_bytes()).collect();
        out.extend_from_slice(tail);
        out
    }

    #[test]
    fn decode_complete_reply() {
        let data = reply(
            &[7, 1, 0, 6, 4, 0xaabb_ccdd, 0, 4, 0x0100_0000, 0, 0, 128, 2],
            &[0x60, 0x02, 0, 0],
        );
        let res = decode_reply(&data, 7).unwrap();
        assert_eq!(res.verifier_flavor, 6);
        assert_eq!(res.verifier, [0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(res.handle, [1, 0, 0, 0]);
        assert_eq!(res.major, 0);
        assert_eq!(res.seq_window, 128);
        assert_eq!(res.token, [0x60, 0x02]);
    }

    #[test]
    fn decode_rejections() {
        let denied = reply(&[7, 1, 1, 1, 1], &[]);
        assert_eq!(decode_reply(&denied, 7), Err(RpcError::AuthError(1)));
        let mismatch = reply(&[7, 1, 1, 0, 2, 2], &[]);
        assert_eq!(
            decode_reply(&mismatch, 7),
            Err(RpcError::RpcMismatch { low: 2, high: 2 })
        );
        let unavailable = reply(&[7, 1, 0, 0, 0, 1], &[]);
        assert_eq!(decode_reply(&unavailable, 7), Err(RpcError::NotAccepted(1)));
        assert!(matches!(
            decode_reply(&unavailable, 8),
            Err(RpcError::XidMismatch { .. })
        ));
    }

    #[test]
    fn decode_rejects_truncation_and_trailing_bytes() {
        let data = reply(&[7, 1, 0, 0, 0, 0, 0, 0, 0, 128, 0], &[]);
        assert!(decode_reply(&data, 7).is_ok());
        for len in 0..data.len() {
            assert!(
                decode_reply(&data[..len], 7).is_err(),
                "prefix of {len} bytes"
            );
        }
        let mut long = data.clone();
        long.push(0);
        assert!(decode_reply(&long, 7).is_err());
    }

    #[test]
    fn decode_rejects_huge_verifier() {
        let data = reply(&[7, 1, 0, 6, 401], &[]);
        assert!(matches!(decode_reply(&data, 7), Err(RpcError::Decode(_))));
    }
}
