//! Parsers for the value types of krb5.conf relations: booleans, integers and
//! durations, as MIT krb5 1.20 reads them.

use std::time::Duration;

/// The largest duration in seconds: MIT keeps durations in a signed 32-bit
/// `krb5_deltat`.
const MAX_SECONDS: i64 = i32::MAX as i64;

/// Parses a boolean as MIT's `profile_parse_boolean` does, ignoring case:
/// `y`, `yes`, `true`, `t`, `1`, `on` are true and `n`, `no`, `false`, `nil`,
/// `0`, `off` are false. Anything else is `None`.
pub fn parse_boolean(text: &str) -> Option<bool> {
    const TRUE: [&str; 6] = ["y", "yes", "true", "t", "1", "on"];
    const FALSE: [&str; 6] = ["n", "no", "false", "nil", "0", "off"];
    if TRUE.iter().any(|t| t.eq_ignore_ascii_case(text)) {
        Some(true)
    } else if FALSE.iter().any(|f| f.eq_ignore_ascii_case(text)) {
        Some(false)
    } else {
        None
    }
}

/// Parses a decimal integer as MIT's `profile_get_integer` does (C `strtol`
/// in base 10 over the whole value): leading blanks and a sign are allowed,
/// trailing characters are not, and the result must fit in an `i32`.
pub fn parse_integer(text: &str) -> Option<i32> {
    let trimmed = text.trim_start_matches(super::profile::is_c_space);
    let (negative, digits) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude: i64 = digits.parse().ok()?;
    let value = if negative { -magnitude } else { magnitude };
    i32::try_from(value).ok()
}

/// An invalid duration, with the text that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {0:?}; use seconds (\"3600\"), units (\"1d2h3m4s\"), \"h:m\", \"h:m:s\" or \"d-h:m:s\"")]
pub struct DurationError(pub String);

/// Parses a duration as MIT's `krb5_string_to_deltat` does, for `kinit -l`
/// and krb5.conf relations such as `ticket_lifetime`.
///
/// Accepted forms, each number optionally preceded by blanks:
/// - `N`: seconds;
/// - `Nd Nh Nm Ns` in that order, each part optional but at least one present
///   (`1d`, `2h30m`, `1d 4s`), with blanks allowed at the end unless the last
///   unit is `s`;
/// - `h:m`, `h:m:s` and `d-h:m:s`, where `m` and `s` have one or two digits.
///
/// The total must fit in a signed 32-bit number of seconds and be
/// non-negative: `-` before a number is part of MIT's grammar, but a negative
/// duration is rejected here because no caller can use one.
///
/// NOTE: MIT's parser stops at the first character it does not know and
/// accepts what it read so far (`"10x"` is 10 seconds there). This parser
/// rejects such trailing text instead.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let error = || DurationError(text.to_string());
    let tokens = tokenize_duration(text).ok_or_else(error)?;
    let seconds = DurationParser { tokens, pos: 0 }
        .parse()
        .ok_or_else(error)?;
    if !(0..=MAX_SECONDS).contains(&seconds) {
        return Err(error());
    }
    Ok(Duration::from_secs(seconds.unsigned_abs()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    /// A number and how many digits it had.
    Number(i64, usize),
    Blank,
    Minus,
    Colon,
    Unit(u8),
}

fn tokenize_duration(text: &str) -> Option<Vec<Token>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'0'..=b'9' => {
                let start = i;
                let mut value: i64 = 0;
                while let Some(digit) = bytes.get(i).filter(|d| d.is_ascii_digit()) {
                    value = value * 10 + i64::from(digit - b'0');
                    if value > MAX_SECONDS {
                        return None;
                    }
                    i += 1;
                }
                tokens.push(Token::Number(value, i - start));
            }
            b' ' | b'\t' | b'\n' => {
                while bytes.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
                    i += 1;
                }
                tokens.push(Token::Blank);
            }
            b'-' => {
                tokens.push(Token::Minus);
                i += 1;
            }
            b':' => {
                tokens.push(Token::Colon);
                i += 1;
            }
            b'd' | b'h' | b'm' | b's' => {
                tokens.push(Token::Unit(b));
                i += 1;
            }
            _ => return None,
        }
    }
    Some(tokens)
}

struct DurationParser {
    tokens: Vec<Token>,
    pos: usize,
}

impl DurationParser {
    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.pos).copied()
    }

    fn eat(&mut self, token: Token) -> bool {
        if self.peek() == Some(token) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Reads `[blank] [-] number`, MIT's `wsnum`.
    fn signed_number(&mut self) -> Option<i64> {
        let start = self.pos;
        self.eat(Token::Blank);
        let negative = self.eat(Token::Minus);
        match self.peek() {
            Some(Token::Number(value, _)) => {
                self.pos += 1;
                Some(if negative { -value } else { value })
            }
            _ => {
                self.pos = start;
                None
            }
        }
    }

    /// Reads a number of at most two digits with no blank or sign before it.
    fn short_number(&mut self) -> Option<i64> {
        match self.peek() {
            Some(Token::Number(value, digits)) if digits <= 2 => {
                self.pos += 1;
                Some(value)
            }
            _ => None,
        }
    }

    fn at_end(&self) -> bool {
        self.pos == self.tokens.len()
    }

    fn parse(mut self) -> Option<i64> {
        let first = self.signed_number()?;
        let total = match self.peek() {
            None => first,
            Some(Token::Unit(unit)) => {
                self.pos += 1;
                self.units_after(unit, first)?
            }
            Some(Token::Minus) => {
                self.pos += 1;
                let hours = self.short_number()?;
                if !self.eat(Token::Colon) {
                    return None;
                }
                let minutes = self.short_number()?;
                if !self.eat(Token::Colon) {
                    return None;
                }
                let seconds = self.short_number()?;
                combine(first, hours, minutes, seconds)?
            }
            Some(Token::Colon) => {
                self.pos += 1;
                let minutes = self.short_number()?;
                let seconds = if self.eat(Token::Colon) {
                    self.short_number()?
                } else {
                    0
                };
                combine(0, first, minutes, seconds)?
            }
            Some(_) => return None,
        };
        self.at_end().then_some(total)
    }

    /// Reads the units that may follow `unit` (`d` then `h`, `m`, `s`) and
    /// returns the total. A trailing blank is allowed unless the last unit
    /// read is `s`.
    fn units_after(&mut self, unit: u8, value: i64) -> Option<i64> {
        const ORDER: [(u8, i64); 4] = [(b'd', 86_400), (b'h', 3_600), (b'm', 60), (b's', 1)];
        let mut next = ORDER.iter().position(|(u, _)| *u == unit)?;
        let mut total = checked_product(value, ORDER[next].1)?;
        let mut last = unit;
        next += 1;
        loop {
            let start = self.pos;
            let Some(number) = self.signed_number() else {
                break;
            };
            let Some(Token::Unit(found)) = self.peek() else {
                self.pos = start;
                break;
            };
            let index = ORDER[next..].iter().position(|(u, _)| *u == found)? + next;
            self.pos += 1;
            total = checked_sum(total, checked_product(number, ORDER[index].1)?)?;
            last = found;
            next = index + 1;
            if next == ORDER.len() {
                break;
            }
        }
        if last != b's' {
            self.eat(Token::Blank);
        }
        Some(total)
    }
}

fn checked_product(value: i64, unit_seconds: i64) -> Option<i64> {
    let product = value.checked_mul(unit_seconds)?;
    (-MAX_SECONDS - 1..=MAX_SECONDS)
        .contains(&product)
        .then_some(product)
}

fn checked_sum(a: i64, b: i64) -> Option<i64> {
    let sum = a.checked_add(b)?;
    (-MAX_SECONDS - 1..=MAX_SECONDS)
        .contains(&sum)
        .then_some(sum)
}

fn combine(days: i64, hours: i64, minutes: i64, seconds: i64) -> Option<i64> {
    let total = checked_sum(
        checked_product(days, 86_400)?,
        checked_product(hours, 3_600)?,
    )?;
    let total = checked_sum(total, checked_product(minutes, 60)?)?;
    checked_sum(total, seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> Option<u64> {
        parse_duration(text).ok().map(|d| d.as_secs())
    }

    #[test]
    fn boolean_words() {
        for word in ["y", "YES", "true", "T", "1", "On"] {
            assert_eq!(parse_boolean(word), Some(true), "{word}");
        }
        for word in ["n", "No", "FALSE", "nil", "0", "off"] {
            assert_eq!(parse_boolean(word), Some(false), "{word}");
        }
        for word in ["", "maybe", "yes ", "2", "enabled"] {
            assert_eq!(parse_boolean(word), None, "{word:?}");
        }
    }

    #[test]
    fn integer_forms() {
        assert_eq!(parse_integer("1465"), Some(1465));
        assert_eq!(parse_integer("  -5"), Some(-5));
        assert_eq!(parse_integer("+7"), Some(7));
        assert_eq!(parse_integer(""), None);
        assert_eq!(parse_integer("12 "), None);
        assert_eq!(parse_integer("0x10"), None);
        assert_eq!(parse_integer("2147483648"), None);
        assert_eq!(parse_integer("-2147483648"), Some(i32::MIN));
    }

    #[test]
    fn duration_plain_seconds() {
        assert_eq!(secs("0"), Some(0));
        assert_eq!(secs("300"), Some(300));
        assert_eq!(secs(" 300"), Some(300));
        assert_eq!(secs("2147483647"), Some(2_147_483_647));
        assert_eq!(secs("2147483648"), None);
        assert_eq!(secs("300 "), None);
    }

    #[test]
    fn duration_units() {
        assert_eq!(secs("1d"), Some(86_400));
        assert_eq!(secs("1d2h3m4s"), Some(86_400 + 7_200 + 180 + 4));
        assert_eq!(secs("10h"), Some(36_000));
        assert_eq!(secs("2h30m"), Some(9_000));
        assert_eq!(secs("1d 4s"), Some(86_404));
        assert_eq!(secs("1d 2h"), Some(93_600));
        assert_eq!(secs("45m"), Some(2_700));
        assert_eq!(secs("5s"), Some(5));
        assert_eq!(secs("1d "), Some(86_400));
        assert_eq!(secs("7d"), Some(604_800));
    }

    #[test]
    fn duration_units_rejected() {
        for text in [
            "", "d", "1x", "10x", "1h1d", "1s1m", "1d1d", "5s ", "1 d", "1.5h", "1w",
        ] {
            assert_eq!(secs(text), None, "{text:?}");
        }
    }

    #[test]
    fn duration_colon_forms() {
        assert_eq!(secs("1:30"), Some(5_400));
        assert_eq!(secs("1:30:15"), Some(5_415));
        assert_eq!(
            secs("2-03:04:05"),
            Some(2 * 86_400 + 3 * 3_600 + 4 * 60 + 5)
        );
        assert_eq!(secs("100:00"), Some(360_000));
        assert_eq!(secs("1:300"), None);
        assert_eq!(secs("1:"), None);
        assert_eq!(secs("1-2:3"), None);
    }

    #[test]
    fn duration_negative_and_overflow() {
        assert_eq!(secs("-5"), None);
        // MIT's grammar lets every number carry a sign.
        assert_eq!(secs("1d-1h"), Some(82_800));
        assert_eq!(secs("1h-2h"), None);
        assert_eq!(secs("24856d"), None);
        assert_eq!(secs("24855d"), Some(24_855 * 86_400));
    }
}
