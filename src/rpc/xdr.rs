//! XDR primitives (RFC 4506) on top of the byte cursor: booleans,
//! variable-length opaques with their padding, and array counts that cannot
//! ask for more elements than the remaining bytes could hold.

use krb5::codec::{DecodeError, Reader, Writer};

/// Returns the number of zero bytes that pad `len` bytes to a multiple of four.
pub fn padding(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// Writes a variable-length opaque: its length, the bytes, zero padding.
///
/// The caller keeps `bytes` below 4 GiB; every opaque rgssd writes is
/// bounded far below that.
pub fn put_opaque(w: &mut Writer, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    w.u32(len);
    w.put(bytes);
    w.put(&[0u8; 3][..padding(bytes.len())]);
}

/// Writes an XDR boolean.
pub fn put_bool(w: &mut Writer, value: bool) {
    w.u32(u32::from(value));
}

/// Reads a variable-length opaque of at most `max` bytes and skips its
/// padding. The padding bytes are not checked, as the kernel's decoder does
/// not check them either.
pub fn get_opaque<'a>(
    r: &mut Reader<'a>,
    field: &'static str,
    max: usize,
) -> Result<&'a [u8], DecodeError> {
    let len = r.u32(field)? as usize;
    if len > max {
        return Err(r.invalid(field, format!("length {len} exceeds the maximum of {max}")));
    }
    let bytes = r.take(len, field)?;
    r.take(padding(len), field)?;
    Ok(bytes)
}

/// Reads an XDR boolean, which must be 0 or 1.
pub fn get_bool(r: &mut Reader<'_>, field: &'static str) -> Result<bool, DecodeError> {
    match r.u32(field)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(r.invalid(field, format!("{other} is not an XDR boolean (0 or 1)"))),
    }
}

/// Reads an array count and checks that the remaining input can hold that
/// many elements of at least `min_element_len` bytes each, so that a hostile
/// count cannot make the decoder reserve memory for elements that are not
/// there.
pub fn get_count(
    r: &mut Reader<'_>,
    field: &'static str,
    min_element_len: usize,
) -> Result<usize, DecodeError> {
    let count = r.u32(field)? as usize;
    let fits = count
        .checked_mul(min_element_len.max(1))
        .is_some_and(|needed| needed <= r.remaining());
    if !fits {
        return Err(r.invalid(
            field,
            format!(
                "count {count} needs at least {} bytes, but only {} remain",
                count.saturating_mul(min_element_len.max(1)),
                r.remaining()
            ),
        ));
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_round_trip_with_padding() {
        for len in 0..9 {
            let data: Vec<u8> = (1..=len).map(|b| b as u8).collect();
            let mut w = Writer::new();
            put_opaque(&mut w, &data);
            let encoded = w.into_inner();
            assert_eq!(encoded.len(), 4 + len + padding(len), "length {len}");
            assert_eq!(encoded.len() % 4, 0, "length {len}");

            let mut r = Reader::new(&encoded);
            assert_eq!(get_opaque(&mut r, "data", 16).unwrap(), &data[..]);
            assert!(r.is_empty(), "length {len}");
        }
    }

    #[test]
    fn opaque_over_maximum_is_rejected() {
        let mut w = Writer::new();
        put_opaque(&mut w, &[7; 20]);
        let encoded = w.into_inner();
        let error = get_opaque(&mut Reader::new(&encoded), "token", 16).unwrap_err();
        assert!(error.to_string().contains("token"), "{error}");
        assert!(error.to_string().contains("20"), "{error}");
    }

    #[test]
    fn opaque_missing_padding_is_truncated() {
        let encoded = [0, 0, 0, 1, 0xaa];
        assert!(get_opaque(&mut Reader::new(&encoded), "data", 16).is_err());
    }

    #[test]
    fn bool_accepts_only_zero_and_one() {
        assert!(!get_bool(&mut Reader::new(&[0, 0, 0, 0]), "flag").unwrap());
        assert!(get_bool(&mut Reader::new(&[0, 0, 0, 1]), "flag").unwrap());
        let error = get_bool(&mut Reader::new(&[0, 0, 0, 2]), "flag").unwrap_err();
        assert!(error.to_string().contains("flag"), "{error}");
    }

    #[test]
    fn count_larger_than_input_is_rejected() {
        let encoded = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        let error = get_count(&mut Reader::new(&encoded), "options", 8).unwrap_err();
        assert!(error.to_string().contains("options"), "{error}");

        let encoded = [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            get_count(&mut Reader::new(&encoded), "options", 8).unwrap(),
            1
        );
    }
}
