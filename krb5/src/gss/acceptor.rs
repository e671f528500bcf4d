//! The acceptor side of the krb5 mechanism (RFC 4121 §4.1, RFC 4120 §3.2.3):
//! decrypt the ticket with a keytab key, check the authenticator and the
//! channel bindings, and reply with an AP-REP that carries an acceptor
//! subkey unless the options turn it off.

use rasn::types::Integer;
use rasn_kerberos::{ApRep, AuthorizationDataValue, EncApRepPart, EncryptedData, KrbError};

use subtle::ConstantTimeEq;

use super::checksum::{flags, ChannelBindings, GssChecksum};
use super::context::EstablishedContext;
use super::initiator::{ad_type, random_seq};
use super::replay::ReplayCache;
use super::sequence::SequenceState;
use super::status::{krb5_minor, major, minor, GssError};
use super::token::{self, tok_id, KRB5_OID};
use crate::credentials::ticket_flags;
use crate::crypto::{self, Key};
use crate::iana::{cksumtype, key_usage, msg_type};
use crate::keytab::Keytab;
use crate::messages::{self, convert, error_code, flags as wire_flags, time, ApReq, Authenticator};
use crate::principal::Principal;

/// The acceptor's settings for one call.
#[derive(Debug, Clone)]
pub struct AcceptorOptions<'a> {
    /// The only principal to accept tickets for, or `None` for any principal
    /// in the keytab.
    pub acceptor_name: Option<&'a Principal>,
    /// Enctypes allowed for the context key (for rpc.svcgssd, the kernel's
    /// list), in preference order. Empty allows every supported enctype.
    pub enctypes: &'a [i32],
    /// The allowed clock difference in seconds (krb5.conf `clockskew`).
    pub clockskew: i64,
    /// The current time, seconds and microseconds since the epoch.
    pub now: (i64, u32),
    /// Channel bindings that the initiator's must match, or `None` to
    /// ignore the initiator's. As in MIT krb5 1.20, an initiator that sent
    /// none (a zero hash) is still accepted, unless it asserted
    /// KERB_AP_OPTIONS_CBT; only a matching hash sets `flags::CHANNEL_BOUND`.
    pub channel_bindings: Option<&'a ChannelBindings>,
    /// With mutual authentication, send a fresh acceptor subkey in the
    /// AP-REP (true, as MIT's acceptor always does for RFC 4121 enctypes),
    /// or keep the initiator's subkey as the context key (false). Even when
    /// true, none is sent for a des3 or rc4-hmac key whose enctype the
    /// negotiation keeps, because MIT's initiator ignores such a subkey.
    pub acceptor_subkey: bool,
}

/// An accepted context.
#[derive(Debug)]
pub struct Accepted {
    pub context: EstablishedContext,
    /// The AP-REP token to return; empty when mutual authentication was not requested.
    pub output_token: Vec<u8>,
}

/// A rejected token: the status to report and, where MIT's acceptor sends
/// one, a KRB-ERROR token for the initiator.
#[derive(Debug)]
pub struct Rejected {
    pub error: GssError,
    pub output_token: Option<Vec<u8>>,
}

impl From<GssError> for Rejected {
    fn from(error: GssError) -> Self {
        Self {
            error,
            output_token: None,
        }
    }
}

fn defective(message: impl Into<String>) -> Rejected {
    GssError::new(major::DEFECTIVE_TOKEN, 0, message).into()
}

/// Accepts an InitialContextToken.
pub fn accept_sec_context(
    keytab: &Keytab,
    replay_cache: &ReplayCache,
    options: &AcceptorOptions<'_>,
    input: &[u8],
) -> Result<Accepted, Rejected> {
    let (id, body) = token::unwrap_krb5(input).map_err(|e| match e {
        // RFC 2743 §2.2.2: a token of a mechanism we do not implement.
        token::FramingError::WrongMechanism(_) => {
            GssError::new(major::BAD_MECH, 0, e.to_string()).into()
        }
        _ => defective(e.to_string()),
    })?;
    if id != tok_id::AP_REQ {
        return Err(defective(format!(
            "expected an AP-REQ token, got TOK_ID {id:02x?}"
        )));
    }
    let ap_req = messages::decode_ap_req(body).map_err(|e| defective(e.to_string()))?;
    let server = convert::principal(&ap_req.ticket.sname, &ap_req.ticket.realm)
        .map_err(|e| defective(e.to_string()))?;
    let reject = |code: i32, message: String| Rejected {
        output_token: error_token(code, &ap_req, options.now),
        error: GssError::new(major::FAILURE, krb5_minor(code), message),
    };

    if let Some(wanted) = options.acceptor_name {
        if !wanted.same_name(&server) {
            return Err(reject(
                error_code::KRB_AP_ERR_NOT_US,
                format!("the ticket is for {server}, but only {wanted} is accepted"),
            ));
        }
    }

    // The ticket.
    let enc = &ap_req.ticket.enc_part;
    let entry = keytab
        .select_key(Some(&server), enc.kvno, enc.etype)
        .map_err(|e| {
            let code = match e {
                crate::keytab::KeyLookupError::WrongKvno { .. } => error_code::KRB_AP_ERR_BADKEYVER,
                crate::keytab::KeyLookupError::NoEntry { .. } => error_code::KRB_AP_ERR_NOKEY,
            };
            Rejected {
                output_token: error_token(code, &ap_req, options.now),
                error: GssError::new(major::FAILURE, krb5_minor(code), e.to_string()),
            }
        })?;
    let plaintext = entry
        .key
        .decrypt(key_usage::KDC_REP_TICKET, &enc.cipher)
        .map_err(|e| {
            reject(
                error_code::KRB_AP_ERR_BAD_INTEGRITY,
                format!(
                    "cannot decrypt the ticket for {server} with keytab kvno {}: {e}; the keytab may be out of date",
                    entry.kvno
                ),
            )
        })?;
    let padding = entry.key.profile().map_or(1, |p| p.padding);
    let ticket =
        messages::decode_enc_ticket_part(messages::strip_cipher_padding(&plaintext, padding))
            .map_err(|e| defective(e.to_string()))?;
    let client =
        convert::principal(&ticket.cname, &ticket.crealm).map_err(|e| defective(e.to_string()))?;

    let (now, _) = options.now;
    let skew = options.clockskew;
    let start = ticket.start_time.as_ref().unwrap_or(&ticket.auth_time);
    let ticket_flags = wire_flags::to_u32(&ticket.flags.0);
    if ticket_flags & ticket_flags::INVALID != 0 || time::to_unix(start) - skew > now {
        return Err(reject(
            error_code::KRB_AP_ERR_TKT_NYV,
            format!("the ticket of {client} for {server} is not yet valid"),
        ));
    }
    // GSS_S_CREDENTIALS_EXPIRED would name the acceptor's own credential
    // (RFC 2743 §2.2.2), so an expired ticket is a failure, as in MIT 1.20.
    if time::to_unix(&ticket.end_time) + skew < now {
        return Err(reject(
            error_code::KRB_AP_ERR_TKT_EXPIRED,
            format!(
                "the ticket of {client} for {server} has expired; the client must get a new one"
            ),
        ));
    }

    // The authenticator.
    let session_key = convert::key(&ticket.key);
    let auth_cipher = &ap_req.authenticator.cipher;
    let plaintext = session_key
        .decrypt(key_usage::AP_REQ_AUTH, auth_cipher)
        .map_err(|e| {
            reject(
                error_code::KRB_AP_ERR_BAD_INTEGRITY,
                format!("cannot decrypt the authenticator of {client}: {e}"),
            )
        })?;
    let padding = session_key.profile().map_or(1, |p| p.padding);
    let authenticator =
        messages::decode_authenticator(messages::strip_cipher_padding(&plaintext, padding))
            .map_err(|e| defective(e.to_string()))?;
    let auth_client = convert::principal(&authenticator.cname, &authenticator.crealm)
        .map_err(|e| defective(e.to_string()))?;
    if !auth_client.same_name(&client) {
        return Err(reject(
            error_code::KRB_AP_ERR_BADMATCH,
            format!("the authenticator names {auth_client}, but the ticket is for {client}"),
        ));
    }

    let ctime = time::to_unix(&authenticator.ctime);
    if (ctime - now).abs() > skew {
        return Err(reject(
            error_code::KRB_AP_ERR_SKEW,
            format!(
                "the clock of {client} differs from ours by {} s, more than the allowed {skew} s; synchronize the clocks",
                ctime - now
            ),
        ));
    }
    let cusec = i64::try_from(&authenticator.cusec).unwrap_or(-1);
    if !(0..1_000_000).contains(&cusec) {
        return Err(defective(format!(
            "authenticator cusec {cusec} is out of range"
        )));
    }
    if !replay_cache.check_and_insert(&client.to_string(), ctime, cusec, auth_cipher, now, skew) {
        return Err(reject(
            error_code::KRB_AP_ERR_REPEAT,
            format!("replayed authenticator from {client}"),
        ));
    }

    let checksum = gss_checksum(&authenticator)?;
    let offered = offered_enctypes(&authenticator)?;
    let mutual = wire_flags::to_u32(&ap_req.ap_options.0) & wire_flags::ap_options::MUTUAL_REQUIRED
        != 0
        || checksum.flags & flags::MUTUAL != 0;
    let channel_bound = check_bindings(&checksum, &authenticator, options.channel_bindings)
        .map_err(|(status, message)| Rejected {
            // MIT's acceptor replies to a mutual request with KRB_ERR_GENERIC,
            // because the failure has no Kerberos error code.
            output_token: if mutual {
                error_token(error_code::KRB_ERR_GENERIC, &ap_req, options.now)
            } else {
                None
            },
            error: GssError::new(status, 0, format!("{message} (from {client})")),
        })?;

    // The context key: with mutual authentication, by default a fresh
    // acceptor subkey of the negotiated enctype, sent in the AP-REP.
    let initiator_subkey = authenticator.subkey.as_ref().map(convert::key);
    let seq_recv = authenticator.seq_number.unwrap_or(0);
    let base_enctype = initiator_subkey.as_ref().unwrap_or(&session_key).enctype();
    let subkey_enctype = if mutual && options.acceptor_subkey {
        let enctype = negotiate_enctype(offered.as_deref(), options.enctypes, base_enctype)
            .map_err(|message| GssError::new(major::FAILURE, 0, message))?;
        // MIT's initiator (krb5 1.20, init_sec_context.c) ignores an
        // acceptor subkey of its own key's enctype when that enctype
        // predates RFC 4121, so we send none then, as MIT's acceptor does.
        Some(enctype).filter(|e| *e != base_enctype || !crypto::is_weak(*e))
    } else {
        None
    };
    let (key, acceptor_subkey, seq_send, output_token) = if let Some(enctype) = subkey_enctype {
        let subkey = Key::random(enctype)
            .map_err(|e| GssError::new(major::FAILURE, 0, format!("cannot make a subkey: {e}")))?;
        let seq_send = random_seq()?;
        let token = ap_rep_token(&session_key, &authenticator, Some(&subkey), seq_send)?;
        (subkey, true, seq_send, token)
    } else if mutual {
        // The AP-REP carries only our sequence number, so the initiator's
        // subkey (else the session key) stays the context key.
        let key = initiator_subkey.unwrap_or_else(|| session_key.clone());
        check_enctype_allowed(key.enctype(), options.enctypes)
            .map_err(|message| GssError::new(major::FAILURE, 0, message))?;
        let seq_send = random_seq()?;
        let token = ap_rep_token(&session_key, &authenticator, None, seq_send)?;
        (key, false, seq_send, token)
    } else {
        // Without an AP-REP the initiator learns no acceptor subkey or
        // sequence number, so the base key is the initiator's subkey (else
        // the session key), and, as MIT's acceptor does, our sequence
        // numbers continue from the initiator's.
        let key = initiator_subkey.unwrap_or_else(|| session_key.clone());
        check_enctype_allowed(key.enctype(), options.enctypes)
            .map_err(|message| GssError::new(major::FAILURE, 0, message))?;
        (key, false, seq_recv, Vec::new())
    };

    let mut context_flags =
        (checksum.flags & !(flags::DELEG | flags::CHANNEL_BOUND)) | flags::CONF | flags::INTEG;
    if channel_bound {
        context_flags |= flags::CHANNEL_BOUND;
    }
    let context = EstablishedContext {
        initiator: false,
        initiator_name: client,
        acceptor_name: server,
        key,
        acceptor_subkey,
        flags: context_flags,
        seq_send: u64::from(seq_send),
        seq_recv: u64::from(seq_recv),
        endtime: time::to_u32(&ticket.end_time),
        sequence: SequenceState::new(u64::from(seq_send), u64::from(seq_recv), context_flags),
    };
    Ok(Accepted {
        context,
        output_token,
    })
}

/// Decodes the 0x8003 checksum, which RFC 4121 §4.1.1 requires.
///
/// MIT 1.20 accepts an authenticator without a checksum, and it verifies
/// other checksum types as raw krb5 checksums (GSS_S_BAD_SIG when they
/// fail). This acceptor rejects both. A malformed 0x8003 value gets MIT's
/// minor status KG_BAD_LENGTH.
fn gss_checksum(authenticator: &Authenticator) -> Result<GssChecksum, GssError> {
    let cksum = authenticator.cksum.as_ref().ok_or_else(|| {
        GssError::new(
            major::DEFECTIVE_TOKEN,
            0,
            "the authenticator has no checksum; a GSS-API initiator sends type 0x8003",
        )
    })?;
    if cksum.r#type != cksumtype::GSSAPI {
        return Err(GssError::new(
            major::BAD_SIG,
            krb5_minor(error_code::KRB_AP_ERR_INAPP_CKSUM),
            format!(
                "authenticator checksum type {} is not the GSS-API type 0x8003",
                cksum.r#type
            ),
        ));
    }
    GssChecksum::decode(&cksum.checksum).map_err(|e| {
        GssError::new(
            major::DEFECTIVE_TOKEN,
            minor::KG_BAD_LENGTH,
            format!("invalid 0x8003 authenticator checksum: {e}"),
        )
    })
}

/// The AD-AP-OPTIONS authorization-data type and its KERB_AP_OPTIONS_CBT
/// bit (Microsoft's, as MIT krb5 1.20's `check_cbt` reads them), with which
/// an initiator demands that an acceptor given channel bindings reject a
/// token without them.
const AD_AP_OPTIONS: i32 = 143;
const KERB_AP_OPTIONS_CBT: u32 = 0x4000;

/// Compares the initiator's channel-binding hash with `bindings` by MIT
/// krb5 1.20's rule (`process_checksum`): without acceptor bindings
/// anything passes; with them, a hash of zeros (no bindings) passes unless
/// the initiator asserted KERB_AP_OPTIONS_CBT, and any other hash must
/// match. Returns true if the hash matched, or the major status and message
/// of the rejection.
fn check_bindings(
    checksum: &GssChecksum,
    authenticator: &Authenticator,
    bindings: Option<&ChannelBindings>,
) -> Result<bool, (u32, String)> {
    let Some(bindings) = bindings else {
        return Ok(false);
    };
    let expected = bindings.hash();
    let matched = bool::from(checksum.bnd.ct_eq(&expected));
    let sent_none = checksum.bnd == [0; 16];
    if !matched && !sent_none {
        return Err((
            major::BAD_BINDINGS,
            format!(
                "the channel bindings do not match: the initiator's hash is {}, ours is {}; both sides must pass the same bindings",
                hex::encode(checksum.bnd),
                hex::encode(expected)
            ),
        ));
    }
    if !matched && requires_bindings(authenticator).map_err(|e| (major::DEFECTIVE_TOKEN, e))? {
        return Err((
            major::BAD_BINDINGS,
            "the initiator sent no channel bindings but asserted KERB_AP_OPTIONS_CBT".into(),
        ));
    }
    Ok(matched)
}

/// Returns true if the authenticator's AD-AP-OPTIONS, at the top level or
/// inside AD-IF-RELEVANT, has the KERB_AP_OPTIONS_CBT bit.
fn requires_bindings(authenticator: &Authenticator) -> Result<bool, String> {
    for element in authdata_elements(authenticator) {
        if element.r#type != AD_AP_OPTIONS {
            continue;
        }
        let bytes: [u8; 4] = element.data.as_ref().try_into().map_err(|_| {
            format!(
                "AD-AP-OPTIONS in the authenticator is {} bytes, expected 4",
                element.data.len()
            )
        })?;
        if u32::from_le_bytes(bytes) & KERB_AP_OPTIONS_CBT != 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Returns the authenticator's authorization-data elements, with those
/// inside AD-IF-RELEVANT containers in place of the containers. A container
/// that does not decode is skipped.
fn authdata_elements(authenticator: &Authenticator) -> Vec<AuthorizationDataValue> {
    let mut elements = Vec::new();
    for element in authenticator.authorization_data.iter().flatten() {
        if element.r#type != ad_type::IF_RELEVANT {
            elements.push(element.clone());
            continue;
        }
        if let Ok(inner) =
            messages::decode::<Vec<AuthorizationDataValue>>(&element.data, "AD-IF-RELEVANT")
        {
            elements.extend(inner);
        }
    }
    elements
}

/// Picks the context enctype from the initiator's RFC 4537 list: the first
/// of `allowed` that was offered, as MIT's acceptor picks by its own
/// preference order, or with `allowed` empty the first offered enctype we
/// implement. Without an offer in common, the initiator's key's enctype.
fn negotiate_enctype(
    offered: Option<&[i32]>,
    allowed: &[i32],
    fallback: i32,
) -> Result<i32, String> {
    let usable = |e: i32| crypto::is_supported(e) && !crypto::is_weak(e);

    if let Some(offered) = offered {
        let chosen = if allowed.is_empty() {
            offered.iter().copied().find(|e| usable(*e))
        } else {
            allowed
                .iter()
                .copied()
                .find(|e| usable(*e) && offered.contains(e))
        };
        if let Some(e) = chosen {
            return Ok(e);
        }
    }
    if crypto::is_supported(fallback) && (allowed.is_empty() || allowed.contains(&fallback)) {
        return Ok(fallback);
    }
    Err(format!(
        "no common enctype: the initiator's key is enctype {fallback}, and the allowed enctypes are {allowed:?}"
    ))
}

/// Checks that the context key's enctype, which no AP-REP can change, is
/// implemented and allowed.
fn check_enctype_allowed(enctype: i32, allowed: &[i32]) -> Result<(), String> {
    if crypto::is_supported(enctype) && (allowed.is_empty() || allowed.contains(&enctype)) {
        return Ok(());
    }
    Err(format!(
        "the initiator's key is enctype {enctype}, which is not among the allowed enctypes {allowed:?}, and without an acceptor subkey no other can be chosen"
    ))
}

/// Returns the enctypes of AD-ETYPE-NEGOTIATION inside AD-IF-RELEVANT, if
/// sent. An AD-IF-RELEVANT container or EtypeList that does not decode is an
/// error, as in MIT krb5 1.20, although unknown elements inside the
/// container are ignored.
fn offered_enctypes(authenticator: &Authenticator) -> Result<Option<Vec<i32>>, GssError> {
    let Some(data) = authenticator.authorization_data.as_ref() else {
        return Ok(None);
    };
    let invalid = |e: messages::MessageError| {
        GssError::new(
            major::DEFECTIVE_TOKEN,
            0,
            format!("invalid authorization data in the authenticator: {e}"),
        )
    };
    for element in data.iter().filter(|e| e.r#type == ad_type::IF_RELEVANT) {
        let inner: Vec<AuthorizationDataValue> =
            messages::decode(&element.data, "AD-IF-RELEVANT").map_err(invalid)?;
        let negotiation = inner
            .iter()
            .find(|e| e.r#type == ad_type::ETYPE_NEGOTIATION);
        if let Some(ad) = negotiation {
            let list = messages::decode::<Vec<i32>>(&ad.data, "EtypeList").map_err(invalid)?;
            return Ok(Some(list));
        }
    }
    Ok(None)
}

fn ap_rep_token(
    session_key: &Key,
    authenticator: &Authenticator,
    subkey: Option<&Key>,
    seq_send: u32,
) -> Result<Vec<u8>, GssError> {
    let fail = |e: String| GssError::new(major::FAILURE, 0, e);
    let part = EncApRepPart {
        ctime: authenticator.ctime.clone(),
        cusec: authenticator.cusec.clone(),
        subkey: subkey.map(convert::encryption_key),
        seq_number: Some(seq_send),
    };
    let plaintext = messages::encode(&part, "EncAPRepPart").map_err(|e| fail(e.to_string()))?;
    let cipher = session_key
        .encrypt(key_usage::AP_REP_ENC_PART, &plaintext)
        .map_err(|e| fail(format!("cannot encrypt the AP-REP: {e}")))?;
    let ap_rep = ApRep {
        pvno: Integer::from(5),
        msg_type: Integer::from(msg_type::AP_REP),
        enc_part: EncryptedData {
            etype: session_key.enctype(),
            kvno: None,
            cipher: cipher.into(),
        },
    };
    let message = messages::encode(&ap_rep, "AP-REP").map_err(|e| fail(e.to_string()))?;
    Ok(token::wrap(KRB5_OID, tok_id::AP_REP, &message))
}

/// Builds a KRB-ERROR token naming the ticket's server, or `None` if it
/// cannot be encoded.
fn error_token(code: i32, ap_req: &ApReq, now: (i64, u32)) -> Option<Vec<u8>> {
    let error = KrbError {
        pvno: Integer::from(5),
        msg_type: Integer::from(msg_type::KRB_ERROR),
        ctime: None,
        cusec: None,
        stime: time::from_unix(now.0).ok()?,
        susec: Integer::from(i64::from(now.1)),
        error_code: code,
        crealm: None,
        cname: None,
        realm: ap_req.ticket.realm.clone(),
        sname: ap_req.ticket.sname.clone(),
        e_text: None,
        e_data: None,
    };
    let message = messages::encode(&error, "KRB-ERROR").ok()?;
    Some(token::wrap(KRB5_OID, tok_id::KRB_ERROR, &message))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An authenticator carrying `authorization_data`; only that field matters here.
    fn authenticator(authorization_data: Option<Vec<AuthorizationDataValue>>) -> Authenticator {
        let (cname, crealm) =
            convert::principal_name(&Principal::parse("alice@EXAMPLE.TEST", None).unwrap())
                .unwrap();
        Authenticator {
            authenticator_vno: Integer::from(5),
            crealm,
            cname,
            cksum: None,
            cusec: Integer::from(0),
            ctime: time::from_unix(0).unwrap(),
            subkey: None,
            seq_number: None,
            authorization_data,
        }
    }

    fn ap_options(value: u32) -> AuthorizationDataValue {
        AuthorizationDataValue {
            r#type: AD_AP_OPTIONS,
            data: value.to_le_bytes().to_vec().into(),
        }
    }

    fn checksum(bindings: Option<&ChannelBindings>) -> GssChecksum {
        GssChecksum::with_bindings(flags::MUTUAL, bindings)
    }

    #[test]
    fn bindings_rule_without_cbt() {
        let ours = ChannelBindings {
            application_data: b"ours".to_vec(),
            ..ChannelBindings::default()
        };
        let other = ChannelBindings {
            application_data: b"other".to_vec(),
            ..ChannelBindings::default()
        };
        let plain = authenticator(None);

        assert_eq!(
            check_bindings(&checksum(Some(&other)), &plain, None),
            Ok(false)
        );
        assert_eq!(
            check_bindings(&checksum(Some(&ours)), &plain, Some(&ours)),
            Ok(true)
        );
        assert_eq!(
            check_bindings(&checksum(None), &plain, Some(&ours)),
            Ok(false)
        );
        let (status, message) =
            check_bindings(&checksum(Some(&other)), &plain, Some(&ours)).unwrap_err();
        assert_eq!(status, major::BAD_BINDINGS);
        assert!(message.contains("do not match"), "{message}");
    }

    #[test]
    fn cbt_requires_bindings() {
        let ours = ChannelBindings::default();
        let direct = authenticator(Some(vec![ap_options(KERB_AP_OPTIONS_CBT)]));
        let (status, _) = check_bindings(&checksum(None), &direct, Some(&ours)).unwrap_err();
        assert_eq!(status, major::BAD_BINDINGS);
        // Matching bindings, or none on our side, satisfy the flag.
        assert_eq!(
            check_bindings(&checksum(Some(&ours)), &direct, Some(&ours)),
            Ok(true)
        );
        assert_eq!(check_bindings(&checksum(None), &direct, None), Ok(false));

        let inner =
            messages::encode(&vec![ap_options(KERB_AP_OPTIONS_CBT)], "AD-IF-RELEVANT").unwrap();
        let relevant = authenticator(Some(vec![AuthorizationDataValue {
            r#type: ad_type::IF_RELEVANT,
            data: inner.into(),
        }]));
        let (status, _) = check_bindings(&checksum(None), &relevant, Some(&ours)).unwrap_err();
        assert_eq!(status, major::BAD_BINDINGS);

        let other_bits = authenticator(Some(vec![ap_options(0x1)]));
        assert_eq!(
            check_bindings(&checksum(None), &other_bits, Some(&ours)),
            Ok(false)
        );
    }

    #[test]
    fn malformed_ap_options_is_defective() {
        let malformed = authenticator(Some(vec![AuthorizationDataValue {
            r#type: AD_AP_OPTIONS,
            data: vec![0x00, 0x40].into(),
        }]));
        let (status, message) = check_bindings(
            &checksum(None),
            &malformed,
            Some(&ChannelBindings::default()),
        )
        .unwrap_err();
        assert_eq!(status, major::DEFECTIVE_TOKEN);
        assert!(message.contains("2 bytes, expected 4"), "{message}");
    }
}
