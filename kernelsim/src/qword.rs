//! The kernel's cache-channel field reader (`qword_get` and the integer
//! helpers built on it), written from its documented behaviour: fields are
//! separated by spaces; `\x` starts a hex field that ends at the first
//! character that is not a pair of hex digits; other fields end at a
//! space, newline or NUL and may hold `\ooo` octal escapes (first digit
//! 0-3); a field followed by anything but a space, newline or NUL is an
//! error. The buffer ends with an implicit NUL, as the kernel adds one
//! after each write.

/// The reason an integer field was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntError {
    /// The field is empty (the kernel's -ENOENT).
    Missing,
    /// The field is malformed (-EINVAL).
    Invalid,
}

/// A cursor over one written record.
pub struct Line<'a> {
    buf: &'a [u8],
    at: usize,
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn octal(b: u8) -> bool {
    (b'0'..=b'7').contains(&b)
}

impl<'a> Line<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, at: 0 }
    }

    fn at(&self, i: usize) -> u8 {
        self.buf.get(i).copied().unwrap_or(0)
    }

    /// Reads one field of at most `bufsize - 1` bytes; `None` is the
    /// kernel's -1.
    pub fn field(&mut self, bufsize: usize) -> Option<Vec<u8>> {
        let mut p = self.at;
        let mut out = Vec::new();
        while self.at(p) == b' ' {
            p += 1;
        }
        if self.at(p) == b'\\' && self.at(p + 1) == b'x' {
            p += 2;
            while out.len() + 1 < bufsize {
                let (Some(h), Some(l)) = (hex(self.at(p)), hex(self.at(p + 1))) else {
                    break;
                };
                out.push((h << 4) | l);
                p += 2;
            }
        } else {
            while !matches!(self.at(p), b' ' | b'\n' | 0) && out.len() + 1 < bufsize {
                let (a, b, c) = (self.at(p + 1), self.at(p + 2), self.at(p + 3));
                if self.at(p) == b'\\' && octal(a) && a <= b'3' && octal(b) && octal(c) {
                    out.push(((a - b'0') << 6) | ((b - b'0') << 3) | (c - b'0'));
                    p += 4;
                } else {
                    out.push(self.at(p));
                    p += 1;
                }
            }
        }
        if !matches!(self.at(p), b' ' | b'\n' | 0) {
            return None;
        }
        while self.at(p) == b' ' {
            p += 1;
        }
        self.at = p;
        Some(out)
    }

    /// A text field read into the kernel's 50-byte integer buffer.
    fn small(&mut self) -> Result<Vec<u8>, IntError> {
        match self.field(50) {
            None => Err(IntError::Invalid),
            Some(f) if f.is_empty() => Err(IntError::Missing),
            Some(f) => Ok(f),
        }
    }

    /// `get_int`: base detected from a `0x` or `0` prefix, a leading `-`
    /// allowed, and the whole field must be digits.
    pub fn int(&mut self) -> Result<i32, IntError> {
        let field = self.small()?;
        let (negative, digits) = match field.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, &field[..]),
        };
        let (value, used) = parse_digits(digits);
        if used != digits.len() {
            return Err(IntError::Invalid);
        }
        let value = value as i64 as i32;
        Ok(if negative {
            value.wrapping_neg()
        } else {
            value
        })
    }

    /// `get_expiry`'s number: a 64-bit integer with base detection and
    /// strict overflow checks. The result is seconds since the epoch.
    pub fn time(&mut self) -> Result<i64, IntError> {
        let field = self.small()?;
        let (negative, digits) = match field.split_first() {
            Some((b'-', rest)) => (true, rest),
            Some((b'+', rest)) => (false, rest),
            _ => (false, &field[..]),
        };
        let (base, start) = radix(digits);
        let digits = &digits[start..];
        if digits.is_empty() {
            return Err(IntError::Invalid);
        }
        let mut value: u64 = 0;
        for &d in digits {
            let v = (d as char).to_digit(base).ok_or(IntError::Invalid)?;
            value = value
                .checked_mul(u64::from(base))
                .and_then(|x| x.checked_add(u64::from(v)))
                .ok_or(IntError::Invalid)?;
        }
        if negative {
            if value > i64::MAX as u64 + 1 {
                return Err(IntError::Invalid);
            }
            Ok((value as i64).wrapping_neg())
        } else {
            i64::try_from(value).map_err(|_| IntError::Invalid)
        }
    }

    /// A decimal status number (major or minor): non-empty and all digits.
    pub fn decimal(&mut self, bufsize: usize) -> Result<u32, IntError> {
        let field = self.field(bufsize).ok_or(IntError::Invalid)?;
        if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
            return Err(IntError::Invalid);
        }
        let mut value: u64 = 0;
        for d in field {
            value = value.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
        }
        Ok(value as u32)
    }
}

/// The kernel's base detection: `0x` and a hex digit means 16, a leading
/// `0` means 8, else 10. Returns the base and where the digits start.
fn radix(s: &[u8]) -> (u32, usize) {
    if s.first() == Some(&b'0') {
        if matches!(s.get(1), Some(b'x' | b'X')) && s.get(2).is_some_and(|c| c.is_ascii_hexdigit())
        {
            (16, 2)
        } else {
            (8, 0)
        }
    } else {
        (10, 0)
    }
}

/// `simple_strtoull`: digits of the detected base, wrapping on overflow;
/// returns the value and how many bytes were used.
fn parse_digits(s: &[u8]) -> (u64, usize) {
    let (base, start) = radix(s);
    let mut value: u64 = 0;
    let mut used = start;
    for &d in &s[start..] {
        match (d as char).to_digit(base) {
            Some(v) => {
                value = value
                    .wrapping_mul(u64::from(base))
                    .wrapping_add(u64::from(v));
                used += 1;
            }
            None => break,
        }
    }
    (value, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_text_fields() {
        let mut l = Line::new(b"\\x0aFf \\x hi\\040there  x\n");
        assert_eq!(l.field(100), Some(vec![0x0a, 0xff]));
        assert_eq!(l.field(100), Some(vec![]));
        assert_eq!(l.field(100), Some(b"hi there".to_vec()));
        assert_eq!(l.field(100), Some(b"x".to_vec()));
        assert_eq!(l.field(100), Some(vec![]));
    }

    #[test]
    fn odd_hex_and_junk_after_hex_are_errors() {
        assert_eq!(Line::new(b"\\xabc \n").field(100), None);
        assert_eq!(Line::new(b"\\xabzz\n").field(100), None);
        // \4xx is not an escape: the backslash is kept.
        assert_eq!(Line::new(b"a\\400").field(100), Some(b"a\\400".to_vec()));
    }

    #[test]
    fn field_longer_than_the_buffer_is_an_error() {
        assert_eq!(Line::new(b"abcdef ").field(4), None);
        assert_eq!(Line::new(b"abc ").field(4), Some(b"abc".to_vec()));
    }

    #[test]
    fn integers_detect_their_base() {
        let mut l = Line::new(b"10 0x10 010 -1 09 \n");
        assert_eq!(l.int(), Ok(10));
        assert_eq!(l.int(), Ok(16));
        assert_eq!(l.int(), Ok(8));
        assert_eq!(l.int(), Ok(-1));
        assert_eq!(l.int(), Err(IntError::Invalid));
        assert_eq!(l.int(), Err(IntError::Missing));
        let mut l = Line::new(b"1796450945 +5 0x 99999999999999999999\n");
        assert_eq!(l.time(), Ok(1_796_450_945));
        assert_eq!(l.time(), Ok(5));
        assert_eq!(l.time(), Err(IntError::Invalid));
        assert_eq!(l.time(), Err(IntError::Invalid));
    }

    #[test]
    fn decimal_statuses_are_strict() {
        assert_eq!(Line::new(b"851968 ").decimal(100), Ok(851_968));
        assert_eq!(Line::new(b"0x1 ").decimal(100), Err(IntError::Invalid));
        assert_eq!(Line::new(b" \n").decimal(100), Err(IntError::Invalid));
    }
}
