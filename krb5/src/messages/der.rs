//! A structural walk over DER input that runs before `rasn` decodes it.
//!
//! The walk bounds nesting depth, checks that every length fits inside its
//! parent (so no allocation is ever sized from a length the input cannot
//! back), rejects indefinite lengths and trailing bytes, and restricts every
//! GeneralizedTime to the KerberosTime form `YYYYMMDDHHMMSSZ` of RFC 4120
//! §5.2.3. MIT krb5 rejects fractional seconds and local-time forms as well;
//! `rasn`'s DER decoder alone would accept a fraction.

use super::MessageError;

/// Maximum nesting of constructed values. The deepest RFC 4120 message
/// (a KRB-CRED carrying tickets with authorization data) nests about 15
/// levels, so 32 leaves room without letting hostile input recurse far.
pub const MAX_DEPTH: usize = 32;

/// The identifier octet of a primitive, universal GeneralizedTime.
const GENERALIZED_TIME: u8 = 0x18;
/// The identifier octet of a constructed, universal GeneralizedTime, which DER forbids.
const GENERALIZED_TIME_CONSTRUCTED: u8 = 0x38;

/// Checks that `input` is exactly one well-formed DER value (see the module docs).
pub fn check(input: &[u8], asn1_type: &'static str) -> Result<(), MessageError> {
    let end = walk(input, 0, input.len(), 0, asn1_type)?;
    if end != input.len() {
        return Err(MessageError::TrailingData {
            asn1_type,
            count: input.len() - end,
        });
    }
    Ok(())
}

/// Walks one TLV that starts at `pos` and must end by `limit`; returns the
/// offset just after it.
fn walk(
    input: &[u8],
    pos: usize,
    limit: usize,
    depth: usize,
    asn1_type: &'static str,
) -> Result<usize, MessageError> {
    let malformed = |offset: usize, reason: &str| MessageError::Malformed {
        asn1_type,
        offset,
        reason: reason.to_string(),
    };
    if depth > MAX_DEPTH {
        return Err(malformed(
            pos,
            &format!("nesting deeper than {MAX_DEPTH} levels"),
        ));
    }

    let identifier = *input
        .get(pos)
        .filter(|_| pos < limit)
        .ok_or_else(|| malformed(pos, "truncated identifier"))?;
    let mut cursor = pos + 1;
    if identifier & 0x1f == 0x1f {
        // High tag numbers: base-128 digits, the last one without bit 8.
        let mut digits = 0;
        loop {
            let byte = *input
                .get(cursor)
                .filter(|_| cursor < limit)
                .ok_or_else(|| malformed(cursor, "truncated tag number"))?;
            cursor += 1;
            digits += 1;
            if digits > 4 {
                return Err(malformed(pos, "tag number longer than 4 bytes"));
            }
            if byte & 0x80 == 0 {
                break;
            }
        }
    }

    let first_length = *input
        .get(cursor)
        .filter(|_| cursor < limit)
        .ok_or_else(|| malformed(cursor, "truncated length"))?;
    cursor += 1;
    let length = match first_length {
        0x00..=0x7f => usize::from(first_length),
        0x80 => return Err(malformed(cursor - 1, "indefinite length (not DER)")),
        0x81..=0x84 => {
            let count = usize::from(first_length & 0x7f);
            let bytes = input
                .get(cursor..cursor + count)
                .filter(|_| cursor + count <= limit)
                .ok_or_else(|| malformed(cursor, "truncated long-form length"))?;
            cursor += count;
            bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        }
        _ => return Err(malformed(cursor - 1, "length longer than 4 bytes")),
    };
    let end = cursor
        .checked_add(length)
        .filter(|&end| end <= limit)
        .ok_or_else(|| {
            malformed(
                pos,
                &format!(
                    "length {length} runs past the end of the enclosing value ({} bytes left)",
                    limit - cursor
                ),
            )
        })?;

    if identifier == GENERALIZED_TIME_CONSTRUCTED {
        return Err(malformed(pos, "constructed GeneralizedTime (not DER)"));
    }
    if identifier == GENERALIZED_TIME {
        check_kerberos_time(&input[cursor..end], asn1_type)?;
    }

    // Bit 6 of the identifier marks a constructed encoding, whose contents are TLVs.
    if identifier & 0x20 != 0 {
        let mut child = cursor;
        while child < end {
            child = walk(input, child, end, depth + 1, asn1_type)?;
        }
    }
    Ok(end)
}

/// Checks the KerberosTime form `YYYYMMDDHHMMSSZ`, as MIT's decoder does.
fn check_kerberos_time(text: &[u8], asn1_type: &'static str) -> Result<(), MessageError> {
    let valid = text.len() == 15 && text[..14].iter().all(u8::is_ascii_digit) && text[14] == b'Z';
    if valid {
        Ok(())
    } else {
        Err(MessageError::InvalidTime {
            asn1_type,
            text: String::from_utf8_lossy(text).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_nested_value() {
        // SEQUENCE { [0] INTEGER 5, [1] GeneralizedTime }
        let mut time = vec![0x18, 15];
        time.extend_from_slice(b"20240102030405Z");
        let mut tagged = vec![0xa1, time.len() as u8];
        tagged.extend_from_slice(&time);
        let mut body = vec![0xa0, 3, 0x02, 1, 5];
        body.extend_from_slice(&tagged);
        let mut seq = vec![0x30, body.len() as u8];
        seq.extend_from_slice(&body);
        assert!(check(&seq, "test").is_ok());
    }

    #[test]
    fn rejects_fractional_time() {
        let mut value = vec![0x18, 17];
        value.extend_from_slice(b"20240102030405.5Z");
        assert!(matches!(
            check(&value, "test"),
            Err(MessageError::InvalidTime { .. })
        ));
    }

    #[test]
    fn rejects_time_without_z() {
        let mut value = vec![0x18, 14];
        value.extend_from_slice(b"20240102030405");
        assert!(matches!(
            check(&value, "test"),
            Err(MessageError::InvalidTime { .. })
        ));
        let mut offset = vec![0x18, 19];
        offset.extend_from_slice(b"20240102030405+0100");
        assert!(matches!(
            check(&offset, "test"),
            Err(MessageError::InvalidTime { .. })
        ));
    }

    #[test]
    fn rejects_length_past_end() {
        assert!(matches!(
            check(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00], "test"),
            Err(MessageError::Malformed { .. })
        ));
        assert!(matches!(
            check(&[0x30, 0x03, 0x02, 0x05, 0x00], "test"),
            Err(MessageError::Malformed { .. })
        ));
    }

    #[test]
    fn rejects_indefinite_length() {
        assert!(matches!(
            check(&[0x30, 0x80, 0x00, 0x00], "test"),
            Err(MessageError::Malformed { .. })
        ));
    }

    #[test]
    fn rejects_deep_nesting() {
        let depth = 10_000;
        let mut value = Vec::new();
        // Each level is a SEQUENCE with a long-form length covering the rest.
        let mut inner: Vec<u8> = vec![0x05, 0x00];
        for _ in 0..depth {
            let len = inner.len() as u32;
            let mut outer = vec![0x30, 0x84];
            outer.extend_from_slice(&len.to_be_bytes());
            outer.extend_from_slice(&inner);
            inner = outer;
        }
        value.extend_from_slice(&inner);
        assert!(matches!(
            check(&value, "test"),
            Err(MessageError::Malformed { .. })
        ));
    }

    #[test]
    fn rejects_trailing_bytes() {
        assert!(matches!(
            check(&[0x05, 0x00, 0x00], "test"),
            Err(MessageError::TrailingData { count: 1, .. })
        ));
    }

    #[test]
    fn rejects_empty_and_truncated_input() {
        assert!(check(&[], "test").is_err());
        assert!(check(&[0x30], "test").is_err());
        assert!(check(&[0x1f, 0x81], "test").is_err());
        assert!(check(&[0x30, 0x82, 0x01], "test").is_err());
    }
}
