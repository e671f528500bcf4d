//! The "qword" encoding of the kernel's sunrpc cache channels
//! (`/proc/net/rpc/*/channel`).
//!
//! A record is one line of fields separated by spaces. A binary field is
//! `\x` followed by two hex digits per byte (`\x` alone is empty). A text
//! field may write any byte as `\` and three octal digits, and must so write
//! space, tab, newline and backslash. The parser here accepts what the
//! kernel's `qword_get` accepts.

use std::fmt::Write as _;

/// Appends `bytes` in hex form, followed by a space.
pub fn push_hex(line: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    line.reserve(3 + 2 * bytes.len());
    line.push_str("\\x");
    // A table lookup per nibble: formatting each byte with write! took 6%
    // of svcgssd's CPU time in a burst of INIT requests.
    for &b in bytes {
        line.push(char::from(DIGITS[usize::from(b >> 4)]));
        line.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    line.push(' ');
}

/// Appends `text` with space, tab, newline and backslash octal-escaped,
/// followed by a space.
pub fn push_text(line: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            ' ' | '\t' | '\n' | '\\' => {
                let _ = write!(line, "\\{:03o}", c as u32);
            }
            other => line.push(other),
        }
    }
    line.push(' ');
}

/// Ends a record: the trailing space after the last field becomes the newline.
pub fn end_line(line: &mut String) {
    if line.ends_with(' ') {
        line.pop();
    }
    line.push('\n');
}

/// A record parse failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QwordError {
    #[error("missing field {field} at byte {offset}")]
    Missing { field: &'static str, offset: usize },
    #[error("field {field} at byte {offset} is not followed by a space or newline")]
    BadTerminator { field: &'static str, offset: usize },
    #[error("field {field} ({value:?}) is not a decimal number")]
    NotANumber { field: &'static str, value: String },
    #[error("{count} unexpected bytes after the last field, at byte {offset}")]
    Trailing { offset: usize, count: usize },
}

/// Walks the fields of one record.
#[derive(Debug)]
pub struct QwordReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> QwordReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Reads the next field as bytes, decoding either form.
    pub fn bytes(&mut self, field: &'static str) -> Result<Vec<u8>, QwordError> {
        self.skip_spaces();
        let start = self.pos;
        let mut out = Vec::new();

        if self.data[self.pos..].starts_with(b"\\x") {
            self.pos += 2;
            while let (Some(h), Some(l)) = (self.hex_at(self.pos), self.hex_at(self.pos + 1)) {
                out.push(h << 4 | l);
                self.pos += 2;
            }
        } else {
            while let Some(&c) = self.data.get(self.pos) {
                if matches!(c, b' ' | b'\n' | 0) {
                    break;
                }
                if let Some(escaped) = self.octal_escape_at(self.pos) {
                    out.push(escaped);
                    self.pos += 4;
                } else {
                    out.push(c);
                    self.pos += 1;
                }
            }
            if self.pos == start {
                return Err(QwordError::Missing {
                    field,
                    offset: start,
                });
            }
        }

        match self.data.get(self.pos) {
            None | Some(b' ') | Some(b'\n') | Some(0) => Ok(out),
            Some(_) => Err(QwordError::BadTerminator {
                field,
                offset: start,
            }),
        }
    }

    /// Reads a text field as a string (invalid UTF-8 replaced).
    pub fn text(&mut self, field: &'static str) -> Result<String, QwordError> {
        Ok(String::from_utf8_lossy(&self.bytes(field)?).into_owned())
    }

    /// Reads a base-10 integer field.
    pub fn int(&mut self, field: &'static str) -> Result<i64, QwordError> {
        let value = self.text(field)?;
        value
            .parse()
            .map_err(|_| QwordError::NotANumber { field, value })
    }

    /// Fails unless only spaces and one final newline remain.
    pub fn finish(&mut self) -> Result<(), QwordError> {
        self.skip_spaces();
        let rest = &self.data[self.pos..];
        if rest.is_empty() || rest == b"\n" {
            Ok(())
        } else {
            Err(QwordError::Trailing {
                offset: self.pos,
                count: rest.len(),
            })
        }
    }

    /// Returns true if only spaces and the final newline remain.
    pub fn at_end(&self) -> bool {
        self.data[self.pos..]
            .iter()
            .all(|&c| c == b' ' || c == b'\n')
    }

    fn skip_spaces(&mut self) {
        while self.data.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
    }

    fn hex_at(&self, pos: usize) -> Option<u8> {
        let c = *self.data.get(pos)?;
        (c as char).to_digit(16).map(|d| d as u8)
    }

    fn octal_escape_at(&self, pos: usize) -> Option<u8> {
        let digits = self.data.get(pos..pos + 4)?;
        if digits[0] != b'\\' || !(b'0'..=b'3').contains(&digits[1]) {
            return None;
        }
        if !digits[2..].iter().all(|d| (b'0'..=b'7').contains(d)) {
            return None;
        }
        Some((digits[1] - b'0') << 6 | (digits[2] - b'0') << 3 | (digits[3] - b'0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_empty() {
        let mut line = String::new();
        push_hex(&mut line, &[]);
        push_hex(&mut line, &[0x60, 0x82, 0xff]);
        end_line(&mut line);
        assert_eq!(line, "\\x \\x6082ff\n");

        let mut r = QwordReader::new(line.as_bytes());
        assert_eq!(r.bytes("handle").unwrap(), b"");
        assert_eq!(r.bytes("token").unwrap(), [0x60, 0x82, 0xff]);
        assert!(r.finish().is_ok());
    }

    #[test]
    fn hex_accepts_upper_case() {
        let mut r = QwordReader::new(b"\\xABcd\n");
        assert_eq!(r.bytes("token").unwrap(), [0xab, 0xcd]);
    }

    #[test]
    fn text_escapes_round_trip() {
        let mut line = String::new();
        push_text(&mut line, "a b\\c\td\ne");
        end_line(&mut line);
        assert_eq!(line, "a\\040b\\134c\\011d\\012e\n");
        let mut r = QwordReader::new(line.as_bytes());
        assert_eq!(r.text("name").unwrap(), "a b\\c\td\ne");
    }

    #[test]
    fn odd_hex_digit_is_bad_terminator() {
        let mut r = QwordReader::new(b"\\xabc next\n");
        assert!(matches!(
            r.bytes("token"),
            Err(QwordError::BadTerminator { field: "token", .. })
        ));
    }

    #[test]
    fn integers_are_strict_decimal() {
        let mut r = QwordReader::new(b"-1 12 0x10\n");
        assert_eq!(r.int("uid").unwrap(), -1);
        assert_eq!(r.int("gid").unwrap(), 12);
        assert!(matches!(r.int("n"), Err(QwordError::NotANumber { .. })));
    }

    #[test]
    fn missing_and_trailing_fields() {
        let mut r = QwordReader::new(b"\\x01\n");
        r.bytes("handle").unwrap();
        assert!(matches!(r.bytes("token"), Err(QwordError::Missing { .. })));

        let mut r = QwordReader::new(b"\\x01 extra\n");
        r.bytes("handle").unwrap();
        assert!(matches!(r.finish(), Err(QwordError::Trailing { .. })));
    }
}
