//! A byte cursor and writer for the binary formats (keytab, ccache, KCM,
//! KDC framing). Every read returns an error naming the field instead of
//! panicking, and [`Reader::finish`] rejects trailing bytes.

/// A decoding failure, naming the field that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated input: {field} needs {needed} bytes at offset {offset}, {available} left")]
    Truncated {
        field: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error("{count} trailing bytes after {what} at offset {offset}")]
    TrailingData {
        what: &'static str,
        offset: usize,
        count: usize,
    },
    #[error("invalid {field} at offset {offset}: {reason}")]
    Invalid {
        field: &'static str,
        offset: usize,
        reason: String,
    },
}

/// A cursor over a byte slice. Multi-byte integers are big-endian unless a
/// method's name or documentation states otherwise.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, offset: 0 }
    }

    /// Returns the offset of the next unread byte.
    pub fn offset(&self) -> usize {
        self.offset
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.offset
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Takes `len` bytes, or fails naming `field`.
    pub fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if len > self.remaining() {
            return Err(DecodeError::Truncated {
                field,
                offset: self.offset,
                needed: len,
                available: self.remaining(),
            });
        }
        let bytes = &self.data[self.offset..self.offset + len];
        self.offset += len;
        Ok(bytes)
    }

    /// Takes `len` bytes as a sub-reader whose offsets stay relative to this one's start.
    pub fn sub(&mut self, len: usize, field: &'static str) -> Result<Reader<'a>, DecodeError> {
        let start = self.offset;
        self.take(len, field)?;
        Ok(Reader {
            data: &self.data[..start + len],
            offset: start,
        })
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let bytes = &self.data[self.offset..];
        self.offset = self.data.len();
        bytes
    }

    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, field)?[0])
    }

    pub fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub fn i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }

    pub fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    /// Reads a 16-bit length and that many bytes.
    pub fn bytes_u16(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u16(field)?;
        self.take(len.into(), field)
    }

    /// Reads a 32-bit length and that many bytes.
    pub fn bytes_u32(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(field)?;
        let len =
            usize::try_from(len).map_err(|_| self.invalid(field, "length overflows usize"))?;
        self.take(len, field)
    }

    /// Builds an [`DecodeError::Invalid`] at the current offset.
    pub fn invalid(&self, field: &'static str, reason: impl Into<String>) -> DecodeError {
        DecodeError::Invalid {
            field,
            offset: self.offset,
            reason: reason.into(),
        }
    }

    /// Fails if any bytes are left after `what`.
    pub fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingData {
                what,
                offset: self.offset,
                count: self.remaining(),
            })
        }
    }
}

/// A growable big-endian writer, the counterpart of [`Reader`].
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn put(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn u16(&mut self, v: u16) {
        self.put(&v.to_be_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.put(&v.to_be_bytes());
    }

    pub fn i32(&mut self, v: i32) {
        self.put(&v.to_be_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.put(&v.to_be_bytes());
    }

    /// Writes a 16-bit length and the bytes; fails if they do not fit.
    pub fn bytes_u16(&mut self, bytes: &[u8], field: &'static str) -> Result<(), EncodeError> {
        let len = u16::try_from(bytes.len()).map_err(|_| EncodeError::TooLong {
            field,
            len: bytes.len(),
            max: u16::MAX.into(),
        })?;
        self.u16(len);
        self.put(bytes);
        Ok(())
    }

    /// Writes a 32-bit length and the bytes; fails if they do not fit.
    pub fn bytes_u32(&mut self, bytes: &[u8], field: &'static str) -> Result<(), EncodeError> {
        let len = u32::try_from(bytes.len()).map_err(|_| EncodeError::TooLong {
            field,
            len: bytes.len(),
            max: u32::MAX as usize,
        })?;
        self.u32(len);
        self.put(bytes);
        Ok(())
    }
}

/// An encoding failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{field} is {len} bytes long, more than the format's maximum of {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_names_truncated_field() {
        let mut r = Reader::new(&[0, 1, 2]);
        assert_eq!(r.u16("version").unwrap(), 1);
        let err = r.u32("length").unwrap_err();
        assert_eq!(
            err,
            DecodeError::Truncated {
                field: "length",
                offset: 2,
                needed: 4,
                available: 1
            }
        );
    }

    #[test]
    fn sub_reader_keeps_offsets() {
        let mut r = Reader::new(&[9, 0, 0, 0, 2, 7, 8, 5]);
        r.u8("tag").unwrap();
        let len = r.u32("len").unwrap() as usize;
        let mut inner = r.sub(len, "body").unwrap();
        assert_eq!(inner.offset(), 5);
        assert_eq!(inner.take(2, "body").unwrap(), &[7, 8]);
        assert!(inner.finish("body").is_ok());
        assert_eq!(r.u8("last").unwrap(), 5);
        assert!(r.finish("message").is_ok());
    }

    #[test]
    fn finish_rejects_trailing_bytes() {
        let r = Reader::new(&[1]);
        assert!(matches!(
            r.finish("keytab"),
            Err(DecodeError::TrailingData { count: 1, .. })
        ));
    }

    #[test]
    fn writer_round_trip() {
        let mut w = Writer::new();
        w.bytes_u16(b"abc", "realm").unwrap();
        w.u32(7);
        let data = w.into_inner();
        let mut r = Reader::new(&data);
        assert_eq!(r.bytes_u16("realm").unwrap(), b"abc");
        assert_eq!(r.u32("n").unwrap(), 7);
    }
}
