//! The initiator side of the krb5 mechanism (RFC 4121 §4.1): an AP-REQ in
//! the InitialContextToken, then the acceptor's AP-REP.

use rasn::types::Integer;
use rasn_kerberos::{ApOptions, ApReq, Authenticator, AuthorizationDataValue, EncryptedData};

use super::checksum::{flags, ChannelBindings, GssChecksum};
use super::context::EstablishedContext;
use super::sequence::SequenceState;
use super::status::{krb5_minor, major, GssError, KRB5_MUTUAL_FAILED};
use super::token::{self, tok_id, KRB5_OID};
use crate::credentials::Credential;
use crate::crypto::Key;
use crate::iana::{cksumtype, key_usage, msg_type};
use crate::messages::{self, convert, error_code, flags as wire_flags, time};
use crate::principal::Principal;

/// Authorization-data types used in the authenticator.
pub mod ad_type {
    /// AD-IF-RELEVANT (RFC 4120 §5.2.6.1).
    pub const IF_RELEVANT: i32 = 1;
    /// AD-ETYPE-NEGOTIATION (RFC 4537 §3).
    pub const ETYPE_NEGOTIATION: i32 = 129;
}

/// The flags rpc.gssd's initiator sends for RPCSEC_GSS: mutual
/// authentication, with confidentiality and integrity offered as MIT's
/// initiator always offers them, and no replay or sequence detection because
/// RPCSEC_GSS keeps its own sequence window (RFC 2203 §5.3.3.1).
pub const RPCSEC_GSS_FLAGS: u32 = flags::MUTUAL | flags::CONF | flags::INTEG;

/// The initiator's request.
#[derive(Debug, Clone)]
pub struct InitiatorOptions<'a> {
    /// Requested context flags (`checksum::flags`). Delegation is not offered.
    pub flags: u32,
    /// Enctypes the caller can use for the context key, in preference order,
    /// offered to the acceptor through RFC 4537 negotiation. Empty sends none,
    /// and the context then uses the session key's enctype.
    pub enctypes: &'a [i32],
    /// The current time, seconds and microseconds since the epoch.
    pub now: (i64, u32),
    /// Channel bindings whose MD5 hash goes into the authenticator checksum,
    /// or `None` to send zeros (RFC 4121 §4.1.1.2).
    pub channel_bindings: Option<&'a ChannelBindings>,
}

/// A context waiting for the acceptor's AP-REP.
#[derive(Debug)]
pub struct PendingContext {
    session_key: Key,
    subkey: Key,
    ctime: i64,
    cusec: u32,
    seq_send: u32,
    flags: u32,
    client: Principal,
    server: Principal,
    endtime: u32,
    enctypes: Vec<i32>,
}

/// The result of starting a context.
#[derive(Debug)]
pub enum InitStep {
    /// The token to send, and the context that waits for the reply.
    ContinueNeeded(Box<PendingContext>, Vec<u8>),
    /// Without mutual authentication the context is complete at once.
    Complete(Box<EstablishedContext>, Vec<u8>),
}

fn failure(code: i32, message: impl Into<String>) -> GssError {
    GssError::new(major::FAILURE, krb5_minor(code), message)
}

fn defective(message: impl Into<String>) -> GssError {
    GssError::new(major::DEFECTIVE_TOKEN, 0, message)
}

/// Starts a context with the service ticket `ticket`, returning the
/// InitialContextToken to send.
pub fn init_sec_context(
    ticket: &Credential,
    options: &InitiatorOptions<'_>,
) -> Result<InitStep, GssError> {
    let (now, usec) = options.now;
    if ticket.is_expired(u32::try_from(now.max(0)).unwrap_or(u32::MAX)) {
        return Err(GssError::new(
            major::CREDENTIALS_EXPIRED,
            krb5_minor(error_code::KRB_AP_ERR_TKT_EXPIRED),
            format!("the ticket for {} has expired", ticket.server),
        ));
    }

    let session_key = ticket.session_key.clone();
    let subkey = Key::random(session_key.enctype())
        .map_err(|e| failure(0, format!("cannot make a subkey: {e}")))?;
    let seq_send = random_seq()?;
    let context_flags = (options.flags | flags::CONF | flags::INTEG) & !flags::DELEG;

    let wire_ticket = messages::decode_ticket(&ticket.ticket).map_err(|e| {
        GssError::new(
            major::DEFECTIVE_CREDENTIAL,
            0,
            format!("the cached ticket for {} is invalid: {e}", ticket.server),
        )
    })?;
    let (cname, crealm) = convert::principal_name(&ticket.client)
        .map_err(|e| failure(0, format!("cannot encode client name: {e}")))?;

    let authorization_data = if options.enctypes.is_empty() {
        None
    } else {
        Some(etype_negotiation_data(options.enctypes)?)
    };
    let authenticator = Authenticator {
        authenticator_vno: Integer::from(5),
        crealm,
        cname,
        cksum: Some(rasn_kerberos::Checksum {
            r#type: cksumtype::GSSAPI,
            checksum: GssChecksum::with_bindings(context_flags, options.channel_bindings)
                .encode()
                .into(),
        }),
        cusec: Integer::from(i64::from(usec)),
        ctime: time::from_unix(now).map_err(|e| failure(0, e.to_string()))?,
        subkey: Some(convert::encryption_key(&subkey)),
        seq_number: Some(seq_send),
        authorization_data,
    };
    let plaintext =
        messages::encode(&authenticator, "Authenticator").map_err(|e| failure(0, e.to_string()))?;
    let cipher = session_key
        .encrypt(key_usage::AP_REQ_AUTH, &plaintext)
        .map_err(|e| failure(0, format!("cannot encrypt the authenticator: {e}")))?;

    let mut ap_options = 0;
    if context_flags & flags::MUTUAL != 0 {
        ap_options |= wire_flags::ap_options::MUTUAL_REQUIRED;
    }
    let ap_req = ApReq {
        pvno: Integer::from(5),
        msg_type: Integer::from(msg_type::AP_REQ),
        ap_options: ApOptions(wire_flags::from_u32(ap_options)),
        ticket: wire_ticket,
        authenticator: EncryptedData {
            etype: session_key.enctype(),
            kvno: None,
            cipher: cipher.into(),
        },
    };
    let message = messages::encode(&ap_req, "AP-REQ").map_err(|e| failure(0, e.to_string()))?;
    let output = token::wrap(KRB5_OID, tok_id::AP_REQ, &message);

    let pending = PendingContext {
        session_key,
        subkey,
        ctime: now,
        cusec: usec,
        seq_send,
        flags: context_flags,
        client: ticket.client.clone(),
        server: ticket.server.clone(),
        endtime: ticket.endtime,
        enctypes: options.enctypes.to_vec(),
    };
    if context_flags & flags::MUTUAL == 0 {
        // With no AP-REP, the acceptor's sequence numbers continue from ours,
        // as MIT's acceptor sets them.
        let context = pending.established(None, seq_send);
        return Ok(InitStep::Complete(Box::new(context), output));
    }
    Ok(InitStep::ContinueNeeded(Box::new(pending), output))
}

impl PendingContext {
    /// Completes the context with the acceptor's reply token: an AP-REP, or a
    /// KRB-ERROR that becomes the returned error.
    pub fn complete(self, reply: &[u8]) -> Result<EstablishedContext, GssError> {
        let (id, body) = token::unwrap_krb5(reply).map_err(|e| defective(e.to_string()))?;
        if id == tok_id::KRB_ERROR {
            let error = messages::decode_krb_error(body).map_err(|e| defective(e.to_string()))?;
            let text = error
                .e_text
                .as_ref()
                .map(|t| format!(" ({})", String::from_utf8_lossy(t.as_bytes())))
                .unwrap_or_default();
            return Err(failure(
                error.error_code,
                format!(
                    "{} rejected the AP-REQ: {}{text}",
                    self.server,
                    error_code::message(error.error_code)
                ),
            ));
        }
        if id != tok_id::AP_REP {
            return Err(defective(format!(
                "expected an AP-REP token, got TOK_ID {id:02x?}"
            )));
        }

        let ap_rep = messages::decode_ap_rep(body).map_err(|e| defective(e.to_string()))?;
        let plaintext = self
            .session_key
            .decrypt(key_usage::AP_REP_ENC_PART, &ap_rep.enc_part.cipher)
            .map_err(|e| {
                failure(
                    error_code::KRB_AP_ERR_BAD_INTEGRITY,
                    format!("cannot decrypt the AP-REP from {}: {e}", self.server),
                )
            })?;
        let padding = self.session_key.profile().map_or(1, |p| p.padding);
        let part =
            messages::decode_enc_ap_rep_part(messages::strip_cipher_padding(&plaintext, padding))
                .map_err(|e| defective(e.to_string()))?;

        let cusec = i64::try_from(&part.cusec).unwrap_or(-1);
        if time::to_unix(&part.ctime) != self.ctime || cusec != i64::from(self.cusec) {
            return Err(GssError::new(
                major::FAILURE,
                KRB5_MUTUAL_FAILED,
                format!(
                    "mutual authentication with {} failed: the AP-REP does not echo our time",
                    self.server
                ),
            ));
        }

        let acceptor_subkey = part.subkey.as_ref().map(convert::key);
        if let Some(key) = &acceptor_subkey {
            let offered =
                self.enctypes.contains(&key.enctype()) || key.enctype() == self.subkey.enctype();
            if !offered {
                return Err(failure(
                    0,
                    format!(
                        "{} chose subkey enctype {}, which was not offered",
                        self.server,
                        key.enctype()
                    ),
                ));
            }
            key.profile().map_err(|e| failure(0, e.to_string()))?;
        }
        // Like MIT's initiator (krb5 1.20, init_sec_context.c), keep an
        // acceptor subkey of our own key's enctype only for RFC 4121
        // enctypes. An RFC 1964 acceptor keeps using our key then.
        let own_enctype = self.subkey.enctype();
        let acceptor_subkey = acceptor_subkey
            .filter(|key| key.enctype() != own_enctype || !crate::crypto::is_weak(own_enctype));
        let seq_recv = part.seq_number.unwrap_or(0);
        Ok(self.established(acceptor_subkey, seq_recv))
    }

    fn established(self, acceptor_subkey: Option<Key>, seq_recv: u32) -> EstablishedContext {
        let has_acceptor_subkey = acceptor_subkey.is_some();
        EstablishedContext {
            initiator: true,
            initiator_name: self.client,
            acceptor_name: self.server,
            key: acceptor_subkey.unwrap_or(self.subkey),
            acceptor_subkey: has_acceptor_subkey,
            flags: self.flags,
            seq_send: u64::from(self.seq_send),
            seq_recv: u64::from(seq_recv),
            endtime: self.endtime,
            sequence: SequenceState::new(u64::from(self.seq_send), u64::from(seq_recv), self.flags),
        }
    }
}

/// Builds AD-IF-RELEVANT holding AD-ETYPE-NEGOTIATION with `enctypes`.
fn etype_negotiation_data(enctypes: &[i32]) -> Result<Vec<AuthorizationDataValue>, GssError> {
    let list =
        messages::encode(&enctypes.to_vec(), "EtypeList").map_err(|e| failure(0, e.to_string()))?;
    let inner = vec![AuthorizationDataValue {
        r#type: ad_type::ETYPE_NEGOTIATION,
        data: list.into(),
    }];
    let relevant =
        messages::encode(&inner, "AD-IF-RELEVANT").map_err(|e| failure(0, e.to_string()))?;
    Ok(vec![AuthorizationDataValue {
        r#type: ad_type::IF_RELEVANT,
        data: relevant.into(),
    }])
}

/// Returns a random initial sequence number below 2^31, the largest the
/// Linux kernel accepts in a lucid context.
pub(crate) fn random_seq() -> Result<u32, GssError> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes)
        .map_err(|e| failure(0, format!("the system random number generator failed: {e}")))?;
    Ok(u32::from_be_bytes(bytes) & 0x7fff_ffff)
}
