//! The mechanism-independent token framing of RFC 2743 §3.1 as RFC 4121 §4.1
//! uses it for context establishment:
//!
//! ```text
//! 0x60 <DER length> 0x06 <OID length> <OID> <TOK_ID (2 bytes)> <Kerberos message>
//! ```

use crate::codec::{DecodeError, Reader};

/// The DER content bytes of the krb5 mechanism OID 1.2.840.113554.1.2.2.
pub const KRB5_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];

/// TOK_ID values of the context-establishment tokens (RFC 4121 §4.1).
pub mod tok_id {
    pub const AP_REQ: [u8; 2] = [0x01, 0x00];
    pub const AP_REP: [u8; 2] = [0x02, 0x00];
    pub const KRB_ERROR: [u8; 2] = [0x03, 0x00];
}

/// Errors from unwrapping a framed token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("malformed GSS token: {0}")]
    Decode(#[from] DecodeError),
    #[error("GSS token starts with {0:#04x}, not the [APPLICATION 0] tag 0x60")]
    NotFramed(u8),
    #[error("GSS token names mechanism OID {0}, not krb5 (1.2.840.113554.1.2.2)")]
    WrongMechanism(String),
}

/// Wraps a Kerberos message in the framing with `tok_id` and `oid`.
pub fn wrap(oid: &[u8], tok_id: [u8; 2], message: &[u8]) -> Vec<u8> {
    let inner_len = 2 + oid.len() + 2 + message.len();
    let mut out = Vec::with_capacity(inner_len + 6);
    out.push(0x60);
    push_der_length(&mut out, inner_len);
    out.push(0x06);
    push_der_length(&mut out, oid.len());
    out.extend_from_slice(oid);
    out.extend_from_slice(&tok_id);
    out.extend_from_slice(message);
    out
}

/// A framed token split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framed<'a> {
    /// The mechanism OID's content bytes.
    pub oid: &'a [u8],
    /// The inner token after the OID: TOK_ID and message for krb5.
    pub inner: &'a [u8],
}

/// Reads the framing and returns the OID and the inner token, without
/// judging the OID. The framing's length must cover the token exactly.
pub fn unwrap_any(token: &[u8]) -> Result<Framed<'_>, FramingError> {
    let mut r = Reader::new(token);
    let tag = r.u8("InitialContextToken tag")?;
    if tag != 0x60 {
        return Err(FramingError::NotFramed(tag));
    }
    let len = read_der_length(&mut r, "InitialContextToken length")?;
    let mut body = r.sub(len, "InitialContextToken")?;
    r.finish("InitialContextToken")?;

    let oid_tag = body.u8("thisMech tag")?;
    if oid_tag != 0x06 {
        return Err(body
            .invalid(
                "thisMech",
                format!("tag {oid_tag:#04x} is not OBJECT IDENTIFIER"),
            )
            .into());
    }
    let oid_len = read_der_length(&mut body, "thisMech length")?;
    let oid = body.take(oid_len, "thisMech")?;
    Ok(Framed {
        oid,
        inner: body.rest(),
    })
}

/// Unwraps a krb5 token and returns its TOK_ID and Kerberos message.
pub fn unwrap_krb5(token: &[u8]) -> Result<([u8; 2], &[u8]), FramingError> {
    let framed = unwrap_any(token)?;
    if framed.oid != KRB5_OID {
        return Err(FramingError::WrongMechanism(oid_to_string(framed.oid)));
    }
    let mut r = Reader::new(framed.inner);
    let tok_id = r.array::<2>("TOK_ID")?;
    Ok((tok_id, r.rest()))
}

/// Formats OID content bytes in dotted form, for messages.
pub fn oid_to_string(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &b in oid {
        value = value.saturating_mul(128) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    if oid.is_empty() || oid.last().is_some_and(|b| b & 0x80 != 0) {
        return format!("(malformed: {})", hex::encode(oid));
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn push_der_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    out.push(0x80 | (bytes.len() - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

/// Reads a definite DER length of at most four bytes, in minimal form.
fn read_der_length(r: &mut Reader<'_>, field: &'static str) -> Result<usize, DecodeError> {
    let first = r.u8(field)?;
    if first < 0x80 {
        return Ok(first.into());
    }
    let count = usize::from(first & 0x7f);
    if count == 0 || count > 4 {
        return Err(r.invalid(field, format!("length of {count} bytes is not supported")));
    }
    let bytes = r.take(count, field)?;
    if bytes[0] == 0 {
        return Err(r.invalid(field, "length is not in minimal form"));
    }
    let len = bytes
        .iter()
        .fold(0usize, |acc, b| acc << 8 | usize::from(*b));
    if len < 0x80 {
        return Err(r.invalid(field, "length is not in minimal form"));
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap_round_trip() {
        for len in [0usize, 10, 200, 70_000] {
            let message = vec![0xab; len];
            let token = wrap(KRB5_OID, tok_id::AP_REQ, &message);
            let (id, body) = unwrap_krb5(&token).unwrap();
            assert_eq!(id, tok_id::AP_REQ);
            assert_eq!(body, message.as_slice());
        }
    }

    /// The first bytes of an AP-REQ token that MIT krb5 1.20 sent to Linux 6.12.
    #[test]
    fn captured_mit_prefix() {
        let token = hex::decode("6082033d06092a864886f71201020201006e82032c").unwrap();
        let mut full = token.clone();
        full.resize(4 + 0x33d, 0);
        let (id, body) = unwrap_krb5(&full).unwrap();
        assert_eq!(id, tok_id::AP_REQ);
        assert_eq!(&body[..2], &[0x6e, 0x82]);
    }

    #[test]
    fn rejects_other_mechanisms_and_bad_framing() {
        let spkm3 = wrap(
            &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x01, 0x03],
            tok_id::AP_REQ,
            b"x",
        );
        assert_eq!(
            unwrap_krb5(&spkm3),
            Err(FramingError::WrongMechanism("1.3.6.1.5.5.1.3".into()))
        );
        assert_eq!(unwrap_krb5(&[0x30, 0]), Err(FramingError::NotFramed(0x30)));

        let mut token = wrap(KRB5_OID, tok_id::AP_REQ, b"abc");
        token.push(0);
        assert!(matches!(unwrap_krb5(&token), Err(FramingError::Decode(_))));
        assert!(unwrap_krb5(&token[..5]).is_err());
        assert!(unwrap_krb5(&[0x60, 0x81, 0x05]).is_err());
    }

    #[test]
    fn oid_formatting() {
        assert_eq!(oid_to_string(KRB5_OID), "1.2.840.113554.1.2.2");
        assert!(oid_to_string(&[0x86]).starts_with("(malformed"));
    }
}
