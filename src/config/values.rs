//! Conversions of nfs.conf values, as nfs-utils 2.9's `conf_get_bool`,
//! `conf_get_num` and `conf_get_list` (support/nfs/conffile.c) make them.

/// Parses a boolean word, ignoring ASCII case: `1`, `t`, `true`, `y`, `yes`
/// and `on` are true, `0`, `f`, `false`, `n`, `no` and `off` are false.
/// Anything else is `None`, so the caller's default applies.
pub fn parse_bool(text: &str) -> Option<bool> {
    const TRUE: [&str; 6] = ["1", "t", "true", "y", "yes", "on"];
    const FALSE: [&str; 6] = ["0", "f", "false", "n", "no", "off"];

    if TRUE.iter().any(|word| word.eq_ignore_ascii_case(text)) {
        Some(true)
    } else if FALSE.iter().any(|word| word.eq_ignore_ascii_case(text)) {
        Some(false)
    } else {
        None
    }
}

/// Converts a number as glibc's `atoi` does on 64-bit Linux, because
/// nfs-utils converts numeric settings with it. Leading white space and one
/// sign are skipped, and decimal digits are read up to the first other
/// character. Text without digits reads as 0.
///
/// A value beyond the 64-bit range saturates, as `strtol` does, and is then
/// truncated to 32 bits as glibc's `atoi` does, so `4294967297` reads as 1.
/// That is what the C daemons would use for such a value.
pub fn atoi(text: &str) -> i32 {
    let bytes = text.as_bytes();
    let mut index = 0;
    while bytes.get(index).is_some_and(|&b| is_c_space(b)) {
        index += 1;
    }

    let negative = match bytes.get(index) {
        Some(b'-') => {
            index += 1;
            true
        }
        Some(b'+') => {
            index += 1;
            false
        }
        _ => false,
    };

    // The magnitude saturates one past i64::MAX so that "-9223372036854775808"
    // still reads exactly.
    let limit = i128::from(i64::MAX) + 1;
    let mut magnitude: i128 = 0;
    while let Some(digit) = bytes.get(index).filter(|b| b.is_ascii_digit()) {
        magnitude = (magnitude * 10 + i128::from(digit - b'0')).min(limit);
        index += 1;
    }

    let value = if negative { -magnitude } else { magnitude };
    let long = value.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    long as i32
}

/// Splits a comma-separated list. Each field loses its leading white space,
/// and every field but the last also loses its trailing white space. Empty
/// fields are dropped.
///
/// The last field keeps trailing white space because nfs-utils trims only
/// fields followed by a comma. An unquoted value never ends in white space,
/// so this shows only in quoted values such as `"a, b "`.
pub fn split_list(text: &str) -> Vec<String> {
    let fields: Vec<&str> = text.split(',').collect();
    let last = fields.len().saturating_sub(1);

    let mut list = Vec::new();
    for (position, field) in fields.into_iter().enumerate() {
        let mut field = field.trim_start_matches(|c: char| c.is_ascii() && is_c_space(c as u8));
        if position != last {
            field = field.trim_end_matches(|c: char| c.is_ascii() && is_c_space(c as u8));
        }
        if !field.is_empty() {
            list.push(field.to_string());
        }
    }
    list
}

/// C's `isspace` in the C locale: space, tab, newline, vertical tab, form
/// feed and carriage return.
pub(crate) fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// C's `isblank` in the C locale: space and tab.
pub(crate) fn is_c_blank(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bool_words() {
        for word in ["1", "t", "T", "true", "TRUE", "y", "Yes", "on", "ON"] {
            assert_eq!(parse_bool(word), Some(true), "{word}");
        }
        for word in ["0", "f", "False", "n", "NO", "off", "Off"] {
            assert_eq!(parse_bool(word), Some(false), "{word}");
        }
        for word in ["", "2", "enabled", "nil", "yes ", " no", "ja"] {
            assert_eq!(parse_bool(word), None, "{word:?}");
        }
    }

    #[test]
    fn atoi_reads_leading_decimal() {
        assert_eq!(atoi("42"), 42);
        assert_eq!(atoi("  \t-17"), -17);
        assert_eq!(atoi("+8"), 8);
        assert_eq!(atoi("12abc"), 12);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi(""), 0);
        assert_eq!(atoi("0x10"), 0);
        assert_eq!(atoi("010"), 10);
        assert_eq!(atoi("- 5"), 0);
        assert_eq!(atoi("2147483647"), i32::MAX);
    }

    #[test]
    fn atoi_out_of_range_truncates() {
        assert_eq!(atoi("4294967297"), 1);
        assert_eq!(atoi("2147483648"), i32::MIN);
        // Saturates at i64::MAX = 0x7fff_ffff_ffff_ffff, whose low 32 bits are -1.
        assert_eq!(atoi("99999999999999999999999"), -1);
        assert_eq!(atoi("-99999999999999999999999"), 0);
        assert_eq!(atoi("-9223372036854775808"), 0);
    }

    #[test]
    fn list_fields_trimmed() {
        assert_eq!(split_list("nsswitch"), ["nsswitch"]);
        assert_eq!(split_list("static, nsswitch"), ["static", "nsswitch"]);
        assert_eq!(split_list(" a ,\tb\t, c"), ["a", "b", "c"]);
        assert_eq!(split_list("a,,b,"), ["a", "b"]);
        assert_eq!(split_list(" , ,"), Vec::<String>::new());
        assert_eq!(split_list(""), Vec::<String>::new());
        assert_eq!(split_list("a, b "), ["a", "b "]);
    }
}
