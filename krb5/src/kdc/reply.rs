//! Checks shared by AS and TGS replies, after the enc-part is decrypted
//! (RFC 4120 §3.1.5 and §3.3.4).

use zeroize::Zeroizing;

use super::KdcError;
use crate::crypto::Key;
use crate::messages::{
    self, convert, decode_enc_kdc_rep_part, time, EncKdcRepPart, KdcRep, MessageError,
};
use crate::principal::Principal;

/// The values of a request that its reply must match.
pub(super) struct Expected<'a> {
    pub nonce: u32,
    pub service: &'a Principal,
    /// With canonicalize the KDC may return another name for the service
    /// (RFC 6806 §5), so the service name is not compared.
    pub canonicalize: bool,
    pub till: i64,
    pub rtime: Option<i64>,
    /// `permitted_enctypes`: the session key must have one of them.
    pub permitted: &'a [i32],
}

/// Decrypts a reply's enc-part with `key` for key usage `usage`.
pub(super) fn decrypt_enc_part(
    rep: &KdcRep,
    key: &Key,
    usage: u32,
    context: &'static str,
    principal: &Principal,
) -> Result<EncKdcRepPart, KdcError> {
    if rep.enc_part.etype != key.enctype() {
        return Err(KdcError::ReplyMismatch {
            field: "enc-part etype",
            actual: rep.enc_part.etype.to_string(),
            expected: key.enctype().to_string(),
        });
    }
    let plaintext = Zeroizing::new(key.decrypt(usage, &rep.enc_part.cipher).map_err(|source| {
        KdcError::Crypto {
            context,
            principal: principal.to_string(),
            source,
        }
    })?);
    let padding = key.profile().map_or(1, |p| p.padding);
    let (part, _tag) = decode_enc_kdc_rep_part(messages::strip_cipher_padding(&plaintext, padding))
        .map_err(|source| invalid(principal, source))?;
    Ok(part)
}

pub(super) fn invalid(principal: &Principal, source: MessageError) -> KdcError {
    KdcError::InvalidReply {
        realm: principal.realm.clone(),
        source,
    }
}

/// Returns the principal the reply's ticket is for, after checking that
/// the ticket and the enc-part name the same service.
pub(super) fn check_enc_part(
    rep: &KdcRep,
    part: &EncKdcRepPart,
    expected: &Expected<'_>,
) -> Result<Principal, KdcError> {
    if part.nonce != expected.nonce {
        return Err(mismatch("nonce", part.nonce, expected.nonce));
    }

    let server = convert::principal(&part.sname, &part.srealm)
        .map_err(|source| invalid(expected.service, source))?;
    let ticket_server = convert::principal(&rep.ticket.sname, &rep.ticket.realm)
        .map_err(|source| invalid(expected.service, source))?;
    if !server.same_name(&ticket_server) {
        return Err(mismatch("ticket sname", &ticket_server, &server));
    }
    if !expected.canonicalize && !server.same_name(expected.service) {
        return Err(mismatch("sname", &server, expected.service));
    }

    let endtime = time::to_unix(&part.end_time);
    if expected.till != 0 && endtime > expected.till {
        return Err(mismatch("endtime", endtime, expected.till));
    }
    if let (Some(rtime), Some(renew_till)) = (expected.rtime, part.renew_till.as_ref()) {
        let renew_till = time::to_unix(renew_till);
        if renew_till > rtime {
            return Err(mismatch("renew-till", renew_till, rtime));
        }
    }
    let session_enctype = part.key.r#type;
    if !crate::crypto::is_supported(session_enctype)
        || !expected.permitted.contains(&session_enctype)
    {
        return Err(KdcError::ReplyMismatch {
            field: "session key enctype",
            actual: session_enctype.to_string(),
            expected: format!(
                "one of permitted_enctypes {:?} that this build supports",
                expected.permitted
            ),
        });
    }
    Ok(server)
}

pub(super) fn mismatch(
    field: &'static str,
    actual: impl std::fmt::Display,
    expected: impl std::fmt::Display,
) -> KdcError {
    KdcError::ReplyMismatch {
        field,
        actual: actual.to_string(),
        expected: expected.to_string(),
    }
}

pub(super) fn encode_error(source: MessageError) -> KdcError {
    KdcError::Encode(source)
}

/// Builds the Credential of a checked reply.
pub(super) fn credential(
    client: Principal,
    rep: &KdcRep,
    part: &EncKdcRepPart,
) -> Result<crate::credentials::Credential, KdcError> {
    messages::convert::credential(client, &rep.ticket, part).map_err(encode_error)
}
