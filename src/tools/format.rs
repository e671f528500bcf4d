//! Output formats shared by the tools, matching MIT krb5 1.20's klist in the
//! C locale: column layout, timestamps, ticket flag letters and enctype names.

use krb5::credentials::ticket_flags;
use krb5::iana::enctype;

use super::localtime::TimeZone;

/// The width of a timestamp: `%x %X` in the C locale, `12/04/26 21:49:46`.
///
/// NOTE: MIT's klist picks the first of several strftime formats that fits
/// in 19 columns under the user's locale, so under en_US.UTF-8 it prints
/// `12/04/2026 21:49:46`. These tools always use the C locale's format.
pub const TIMESTAMP_WIDTH: usize = 17;

/// Formats a Unix time as local `MM/DD/YY HH:MM:SS`.
pub fn timestamp(time: u32, zone: &TimeZone) -> String {
    let local = zone.to_local(i64::from(time));
    format!(
        "{:02}/{:02}/{:02} {:02}:{:02}:{:02}",
        local.month,
        local.day,
        local.year.rem_euclid(100),
        local.hour,
        local.minute,
        local.second
    )
}

/// Returns MIT's display name of an enctype: its canonical name, prefixed
/// with `DEPRECATED:` for des3-cbc-sha1 and arcfour-hmac, or `etype N`.
pub fn enctype_display(e: i32) -> String {
    match enctype::name(e) {
        Some(name) if matches!(e, enctype::DES3_CBC_SHA1 | enctype::RC4_HMAC) => {
            format!("DEPRECATED:{name}")
        }
        Some(name) => name.to_string(),
        None => format!("etype {e}"),
    }
}

/// Returns klist's ticket flag letters, in MIT's order.
pub fn flag_letters(flags: u32) -> String {
    const LETTERS: &[(u32, char)] = &[
        (ticket_flags::FORWARDABLE, 'F'),
        (ticket_flags::FORWARDED, 'f'),
        (ticket_flags::PROXIABLE, 'P'),
        (ticket_flags::PROXY, 'p'),
        (ticket_flags::MAY_POSTDATE, 'D'),
        (ticket_flags::POSTDATED, 'd'),
        (ticket_flags::INVALID, 'i'),
        (ticket_flags::RENEWABLE, 'R'),
        (ticket_flags::INITIAL, 'I'),
        (ticket_flags::HW_AUTHENT, 'H'),
        (ticket_flags::PRE_AUTHENT, 'A'),
        (ticket_flags::TRANSITED_POLICY_CHECKED, 'T'),
        (ticket_flags::OK_AS_DELEGATE, 'O'),
        (ticket_flags::ANONYMOUS, 'a'),
    ];
    LETTERS
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, letter)| *letter)
        .collect()
}

/// Returns the ticket table header, `Valid starting     Expires            Service principal`.
pub fn ticket_table_header() -> String {
    format!(
        "{:<width$}  {:<width$}  Service principal",
        "Valid starting",
        "Expires",
        width = TIMESTAMP_WIDTH
    )
}

/// Returns the keytab table header lines, with or without the timestamp column.
pub fn keytab_table_header(show_timestamps: bool) -> [String; 2] {
    if show_timestamps {
        [
            format!("KVNO {:<TIMESTAMP_WIDTH$} Principal", "Timestamp"),
            format!(
                "---- {} {}",
                "-".repeat(TIMESTAMP_WIDTH),
                "-".repeat(78 - TIMESTAMP_WIDTH - 5)
            ),
        ]
    } else {
        [
            "KVNO Principal".to_string(),
            format!("---- {}", "-".repeat(74)),
        ]
    }
}

/// Formats key bytes as klist `-K` shows them: `0x` and lowercase hex.
pub fn key_hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_utc_and_offset() {
        let utc = TimeZone::utc();
        assert_eq!(timestamp(1_796_420_986, &utc), "12/04/26 21:49:46");
        assert_eq!(timestamp(0, &utc), "01/01/70 00:00:00");
        let cet = TimeZone::from_tz(Some("CET-1"));
        assert_eq!(timestamp(1_796_420_986, &cet), "12/04/26 22:49:46");
        assert_eq!(timestamp(1_796_420_986, &utc).len(), TIMESTAMP_WIDTH);
    }

    #[test]
    fn enctype_names_like_mit() {
        assert_eq!(enctype_display(18), "aes256-cts-hmac-sha1-96");
        assert_eq!(enctype_display(26), "camellia256-cts-cmac");
        assert_eq!(enctype_display(16), "DEPRECATED:des3-cbc-sha1");
        assert_eq!(enctype_display(23), "DEPRECATED:arcfour-hmac");
        assert_eq!(enctype_display(99), "etype 99");
        assert_eq!(enctype_display(-128), "etype -128");
    }

    #[test]
    fn flag_letters_in_mit_order() {
        let tgt = ticket_flags::FORWARDABLE
            | ticket_flags::RENEWABLE
            | ticket_flags::INITIAL
            | ticket_flags::PRE_AUTHENT;
        assert_eq!(flag_letters(tgt), "FRIA");
        assert_eq!(flag_letters(0), "");
        assert_eq!(flag_letters(u32::MAX), "FfPpDdiRIHATOa");
    }

    #[test]
    fn headers_match_mit_layout() {
        assert_eq!(
            ticket_table_header(),
            "Valid starting     Expires            Service principal"
        );
        assert_eq!(
            keytab_table_header(true),
            [
                "KVNO Timestamp         Principal".to_string(),
                "---- ----------------- --------------------------------------------------------"
                    .to_string()
            ]
        );
        assert_eq!(
            keytab_table_header(false),
            [
                "KVNO Principal".to_string(),
                "---- --------------------------------------------------------------------------"
                    .to_string()
            ]
        );
    }

    #[test]
    fn key_hex_lowercase() {
        assert_eq!(key_hex(&[0xde, 0xad, 0x01]), "0xdead01");
    }
}
