//! RFC 4120 messages, on top of the ASN.1 types of `rasn-kerberos`.
//!
//! Every decoder here runs the structural check of [`der`] first (bounded
//! depth and lengths, strict KerberosTime, no trailing bytes), then `rasn`'s
//! DER decoder, then the pvno and msg-type checks of RFC 4120 §5.4-§5.9.1.
//! None of them panics on any input. They are pure functions, so fuzz
//! targets can call them directly.
//!
//! Submodules: [`time`] (KerberosTime), [`flags`] (KerberosFlags, KDC and
//! AP options), [`padata`] (PA-DATA contents), [`convert`] (principals and
//! credentials), and [`error_code`] (the KRB-ERROR code table).

pub mod convert;
pub mod der;
pub mod error_code;
pub mod flags;
pub mod padata;
pub mod time;

pub use rasn_kerberos::{
    ApRep, ApReq, AsRep, AsReq, Authenticator, Checksum, EncApRepPart, EncAsRepPart, EncKdcRepPart,
    EncKrbCredPart, EncTgsRepPart, EncTicketPart, EncryptedData, EncryptionKey, EtypeInfo2Entry,
    EtypeInfoEntry, HostAddress, KdcRep, KdcReq, KdcReqBody, KerberosFlags, KerberosString,
    KerberosTime, KrbCred, KrbCredInfo, KrbError, LastReqValue, PaData, PaEncTsEnc, PrincipalName,
    Realm, TgsRep, TgsReq, Ticket, TicketFlags, TransitedEncoding,
};

pub use padata::PaPacRequest;

/// The protocol version number of every Kerberos 5 message.
pub const PVNO: u8 = 5;

/// Errors from decoding or encoding a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("invalid {asn1_type}: malformed DER at offset {offset}: {reason}")]
    Malformed {
        asn1_type: &'static str,
        offset: usize,
        reason: String,
    },
    #[error("invalid {asn1_type}: {count} trailing bytes after the message")]
    TrailingData {
        asn1_type: &'static str,
        count: usize,
    },
    #[error(
        "invalid KerberosTime {text:?} in {asn1_type}: expected YYYYMMDDHHMMSSZ with no fraction"
    )]
    InvalidTime {
        asn1_type: &'static str,
        text: String,
    },
    #[error("invalid {asn1_type}: {reason}")]
    Asn1 {
        asn1_type: &'static str,
        reason: String,
    },
    #[error("invalid {asn1_type}: {field} is {actual}, expected {expected}")]
    UnexpectedValue {
        asn1_type: &'static str,
        field: &'static str,
        actual: String,
        expected: String,
    },
    #[error("unexpected message: expected {expected}, got a message with identifier octet {identifier:#04x}")]
    UnexpectedMessage {
        expected: &'static str,
        identifier: u8,
    },
    #[error("invalid {asn1_type}: {field} is not valid UTF-8")]
    NotUtf8 {
        asn1_type: &'static str,
        field: &'static str,
    },
    #[error("cannot encode {asn1_type}: {reason}")]
    Encode {
        asn1_type: &'static str,
        reason: String,
    },
}

/// Decodes one DER value of type `T`, named `asn1_type` in errors.
pub fn decode<T: rasn::Decode>(input: &[u8], asn1_type: &'static str) -> Result<T, MessageError> {
    der::check(input, asn1_type)?;
    rasn::der::decode(input).map_err(|e| MessageError::Asn1 {
        asn1_type,
        reason: e.to_string(),
    })
}

/// Returns `plaintext` without the bytes that a block cipher's padding left
/// after its one DER value. Enctypes with a `padding` above 1 (des3-cbc-sha1
/// pads to 8 bytes, RFC 3961 §5.3) decrypt to the value followed by up to
/// `padding - 1` filler bytes, which MIT krb5's decoder ignores. Any other
/// input comes back unchanged, for [`decode`] to judge.
pub fn strip_cipher_padding(plaintext: &[u8], padding: usize) -> &[u8] {
    let Some(value_len) = der_value_len(plaintext) else {
        return plaintext;
    };
    if value_len <= plaintext.len() && plaintext.len() - value_len < padding {
        &plaintext[..value_len]
    } else {
        plaintext
    }
}

/// Reads the single-byte tag and the definite length of a DER value and
/// returns the value's whole length, or None if they are not well formed.
fn der_value_len(input: &[u8]) -> Option<usize> {
    let tag = *input.first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let first = *input.get(1)?;
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let count = usize::from(first & 0x7f);
    if count == 0 || count > 4 {
        return None;
    }
    let bytes = input.get(2..2 + count)?;
    let len = bytes
        .iter()
        .fold(0usize, |acc, b| acc << 8 | usize::from(*b));
    Some(2 + count + len)
}

/// Encodes `value` in DER, named `asn1_type` in errors.
pub fn encode<T: rasn::Encode>(
    value: &T,
    asn1_type: &'static str,
) -> Result<Vec<u8>, MessageError> {
    rasn::der::encode(value).map_err(|e| MessageError::Encode {
        asn1_type,
        reason: e.to_string(),
    })
}

/// Application-class, constructed identifier octets of the RFC 4120 messages.
mod identifier {
    pub const AS_REP: u8 = 0x6b;
    pub const TGS_REP: u8 = 0x6d;
    pub const ENC_AS_REP_PART: u8 = 0x79;
    pub const ENC_TGS_REP_PART: u8 = 0x7a;
    pub const KRB_ERROR: u8 = 0x7e;
}

/// A reply from a KDC: either reply type or a KRB-ERROR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KdcReply {
    AsRep(KdcRep),
    TgsRep(KdcRep),
    Error(Box<KrbError>),
}

/// Decodes a KDC reply, telling AS-REP, TGS-REP and KRB-ERROR apart by their application tag.
pub fn decode_kdc_reply(input: &[u8]) -> Result<KdcReply, MessageError> {
    match input.first().copied() {
        Some(identifier::AS_REP) => decode_as_rep(input).map(KdcReply::AsRep),
        Some(identifier::TGS_REP) => decode_tgs_rep(input).map(KdcReply::TgsRep),
        Some(identifier::KRB_ERROR) => {
            decode_krb_error(input).map(|e| KdcReply::Error(Box::new(e)))
        }
        other => Err(MessageError::UnexpectedMessage {
            expected: "AS-REP, TGS-REP or KRB-ERROR",
            identifier: other.unwrap_or(0),
        }),
    }
}

/// Checks the pvno and msg-type fields that every top-level message carries.
fn check_header(
    asn1_type: &'static str,
    pvno: &rasn::types::Integer,
    msg_type: &rasn::types::Integer,
    expected_type: i32,
) -> Result<(), MessageError> {
    if *pvno != rasn::types::Integer::from(i64::from(PVNO)) {
        return Err(MessageError::UnexpectedValue {
            asn1_type,
            field: "pvno",
            actual: pvno.to_string(),
            expected: PVNO.to_string(),
        });
    }
    if *msg_type != rasn::types::Integer::from(i64::from(expected_type)) {
        return Err(MessageError::UnexpectedValue {
            asn1_type,
            field: "msg-type",
            actual: msg_type.to_string(),
            expected: expected_type.to_string(),
        });
    }
    Ok(())
}

/// Decodes an AS-REP.
pub fn decode_as_rep(input: &[u8]) -> Result<KdcRep, MessageError> {
    let rep: AsRep = decode(input, "AS-REP")?;
    check_header(
        "AS-REP",
        &rep.0.pvno,
        &rep.0.msg_type,
        crate::iana::msg_type::AS_REP,
    )?;
    Ok(rep.0)
}

/// Decodes a TGS-REP.
pub fn decode_tgs_rep(input: &[u8]) -> Result<KdcRep, MessageError> {
    let rep: TgsRep = decode(input, "TGS-REP")?;
    check_header(
        "TGS-REP",
        &rep.0.pvno,
        &rep.0.msg_type,
        crate::iana::msg_type::TGS_REP,
    )?;
    Ok(rep.0)
}

/// Decodes an AS-REQ.
pub fn decode_as_req(input: &[u8]) -> Result<KdcReq, MessageError> {
    let req: AsReq = decode(input, "AS-REQ")?;
    check_header(
        "AS-REQ",
        &req.0.pvno,
        &req.0.msg_type,
        crate::iana::msg_type::AS_REQ,
    )?;
    Ok(req.0)
}

/// Decodes a TGS-REQ.
pub fn decode_tgs_req(input: &[u8]) -> Result<KdcReq, MessageError> {
    let req: TgsReq = decode(input, "TGS-REQ")?;
    check_header(
        "TGS-REQ",
        &req.0.pvno,
        &req.0.msg_type,
        crate::iana::msg_type::TGS_REQ,
    )?;
    Ok(req.0)
}

/// Decodes a KRB-ERROR.
pub fn decode_krb_error(input: &[u8]) -> Result<KrbError, MessageError> {
    let error: KrbError = decode(input, "KRB-ERROR")?;
    check_header(
        "KRB-ERROR",
        &error.pvno,
        &error.msg_type,
        crate::iana::msg_type::KRB_ERROR,
    )?;
    Ok(error)
}

/// Decodes an AP-REQ.
pub fn decode_ap_req(input: &[u8]) -> Result<ApReq, MessageError> {
    let req: ApReq = decode(input, "AP-REQ")?;
    check_header(
        "AP-REQ",
        &req.pvno,
        &req.msg_type,
        crate::iana::msg_type::AP_REQ,
    )?;
    Ok(req)
}

/// Decodes an AP-REP.
pub fn decode_ap_rep(input: &[u8]) -> Result<ApRep, MessageError> {
    let rep: ApRep = decode(input, "AP-REP")?;
    check_header(
        "AP-REP",
        &rep.pvno,
        &rep.msg_type,
        crate::iana::msg_type::AP_REP,
    )?;
    Ok(rep)
}

/// Decodes a KRB-CRED.
pub fn decode_krb_cred(input: &[u8]) -> Result<KrbCred, MessageError> {
    let cred: KrbCred = decode(input, "KRB-CRED")?;
    check_header(
        "KRB-CRED",
        &cred.pvno,
        &cred.msg_type,
        crate::iana::msg_type::KRB_CRED,
    )?;
    Ok(cred)
}

/// Decodes a Ticket.
pub fn decode_ticket(input: &[u8]) -> Result<Ticket, MessageError> {
    let ticket: Ticket = decode(input, "Ticket")?;
    if ticket.tkt_vno != rasn::types::Integer::from(i64::from(PVNO)) {
        return Err(MessageError::UnexpectedValue {
            asn1_type: "Ticket",
            field: "tkt-vno",
            actual: ticket.tkt_vno.to_string(),
            expected: PVNO.to_string(),
        });
    }
    Ok(ticket)
}

/// Decodes the plaintext of a Ticket's enc-part.
pub fn decode_enc_ticket_part(input: &[u8]) -> Result<EncTicketPart, MessageError> {
    decode(input, "EncTicketPart")
}

/// Decodes an Authenticator (the plaintext of an AP-REQ's authenticator).
pub fn decode_authenticator(input: &[u8]) -> Result<Authenticator, MessageError> {
    let authenticator: Authenticator = decode(input, "Authenticator")?;
    if authenticator.authenticator_vno != rasn::types::Integer::from(i64::from(PVNO)) {
        return Err(MessageError::UnexpectedValue {
            asn1_type: "Authenticator",
            field: "authenticator-vno",
            actual: authenticator.authenticator_vno.to_string(),
            expected: PVNO.to_string(),
        });
    }
    Ok(authenticator)
}

/// Decodes the plaintext of an AP-REP's enc-part. Subkey and seq-number are
/// optional, and a minimal reply carries neither.
pub fn decode_enc_ap_rep_part(input: &[u8]) -> Result<EncApRepPart, MessageError> {
    decode(input, "EncAPRepPart")
}

/// Decodes the plaintext of a KRB-CRED's enc-part.
pub fn decode_enc_krb_cred_part(input: &[u8]) -> Result<EncKrbCredPart, MessageError> {
    decode(input, "EncKrbCredPart")
}

/// The application tag an EncKDCRepPart arrived with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncKdcRepPartTag {
    EncAsRepPart,
    EncTgsRepPart,
}

/// Decodes the plaintext of a KDC-REP's enc-part. Both application tags are
/// accepted whichever exchange it came from, because KDCs differ: MIT sends
/// EncTGSRepPart in AS-REPs, as RFC 4120 §5.4.2 allows for compatibility.
pub fn decode_enc_kdc_rep_part(
    input: &[u8],
) -> Result<(EncKdcRepPart, EncKdcRepPartTag), MessageError> {
    match input.first().copied() {
        Some(identifier::ENC_AS_REP_PART) => {
            let part: EncAsRepPart = decode(input, "EncASRepPart")?;
            Ok((part.0, EncKdcRepPartTag::EncAsRepPart))
        }
        Some(identifier::ENC_TGS_REP_PART) => {
            let part: EncTgsRepPart = decode(input, "EncTGSRepPart")?;
            Ok((part.0, EncKdcRepPartTag::EncTgsRepPart))
        }
        other => Err(MessageError::UnexpectedMessage {
            expected: "EncASRepPart or EncTGSRepPart",
            identifier: other.unwrap_or(0),
        }),
    }
}

/// Encodes an AS-REQ.
pub fn encode_as_req(req: &KdcReq) -> Result<Vec<u8>, MessageError> {
    encode(&AsReq(req.clone()), "AS-REQ")
}

/// Encodes a TGS-REQ.
pub fn encode_tgs_req(req: &KdcReq) -> Result<Vec<u8>, MessageError> {
    encode(&TgsReq(req.clone()), "TGS-REQ")
}

/// Encodes an AS-REP.
pub fn encode_as_rep(rep: &KdcRep) -> Result<Vec<u8>, MessageError> {
    encode(&AsRep(rep.clone()), "AS-REP")
}

/// Encodes a TGS-REP.
pub fn encode_tgs_rep(rep: &KdcRep) -> Result<Vec<u8>, MessageError> {
    encode(&TgsRep(rep.clone()), "TGS-REP")
}

/// Builds the DER of a KDC-REQ-BODY, which the TGS-REQ authenticator checksum covers.
pub fn encode_kdc_req_body(body: &KdcReqBody) -> Result<Vec<u8>, MessageError> {
    encode(body, "KDC-REQ-BODY")
}

#[cfg(test)]
mod tests;
