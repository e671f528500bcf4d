//! Conversion of Unix times to local civil time, without libc.
//!
//! klist prints times in local time, as MIT's does through `localtime_r`.
//! A static binary cannot rely on the C library for that, so this module
//! reads the zone the way glibc and musl do: `TZ` names a TZif file
//! (`:Europe/Berlin`, `Europe/Berlin`, or an absolute path) or contains a POSIX
//! TZ string (`CET-1CEST,M3.5.0,M10.5.0/3`); with `TZ` unset, the zone is
//! `/etc/localtime`; when nothing can be read, it is UTC.
//!
//! TZif files follow RFC 8536: the version 2+ 64-bit block is used when
//! present, and times after the last transition follow the footer's POSIX
//! TZ string. Leap-second records are skipped, as for "right/" zones glibc
//! also counts them; those zones are rare on servers.

use std::path::{Path, PathBuf};

use krb5::codec::Reader;

const ZONEINFO_DIR: &str = "/usr/share/zoneinfo";

/// A civil date and time of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CivilTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// A time zone: TZif transitions, a POSIX rule for later times, or both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeZone {
    /// Transition times (seconds since the epoch) with the UTC offset that
    /// starts at each, in ascending order.
    transitions: Vec<(i64, i32)>,
    /// The offset before the first transition.
    initial_offset: i32,
    /// The rule after the last transition, or for every time without a TZif file.
    rule: Option<PosixRule>,
}

impl TimeZone {
    pub fn utc() -> Self {
        Self {
            transitions: Vec::new(),
            initial_offset: 0,
            rule: None,
        }
    }

    /// Loads the zone named by `tz` (the value of `TZ`, if set), falling back
    /// to UTC as the C library does when the zone cannot be read.
    pub fn from_tz(tz: Option<&str>) -> Self {
        let Some(tz) = tz else {
            return read_tzif_file(Path::new("/etc/localtime")).unwrap_or_else(Self::utc);
        };
        if tz.is_empty() {
            return Self::utc();
        }

        let name = tz.strip_prefix(':').unwrap_or(tz);
        let path = if name.starts_with('/') {
            PathBuf::from(name)
        } else {
            Path::new(ZONEINFO_DIR).join(name)
        };
        // A relative name with ".." could leave the zoneinfo directory, so
        // it is read only as a POSIX string.
        if !name.contains("..") {
            if let Some(zone) = read_tzif_file(&path) {
                return zone;
            }
        }
        match PosixRule::parse(name) {
            Some(rule) => Self {
                transitions: Vec::new(),
                initial_offset: rule.std_offset,
                rule: Some(rule),
            },
            None => Self::utc(),
        }
    }

    /// Returns the zone's UTC offset in seconds at `time`.
    pub fn offset_at(&self, time: i64) -> i32 {
        let position = self.transitions.partition_point(|(at, _)| *at <= time);
        if position == 0 {
            return match (&self.rule, self.transitions.is_empty()) {
                (Some(rule), true) => rule.offset_at(time),
                _ => self.initial_offset,
            };
        }
        if position == self.transitions.len() {
            if let Some(rule) = &self.rule {
                return rule.offset_at(time);
            }
        }
        self.transitions[position - 1].1
    }

    /// Converts `time` (seconds since the epoch) to local civil time.
    pub fn to_local(&self, time: i64) -> CivilTime {
        civil_from_unix(time + i64::from(self.offset_at(time)))
    }
}

fn read_tzif_file(path: &Path) -> Option<TimeZone> {
    let data = std::fs::read(path).ok()?;
    parse_tzif(&data)
}

/// The counts of one TZif header (RFC 8536 §3.1).
struct TzifCounts {
    isutcnt: usize,
    isstdcnt: usize,
    leapcnt: usize,
    timecnt: usize,
    typecnt: usize,
    charcnt: usize,
}

fn read_tzif_header(reader: &mut Reader<'_>) -> Option<(u8, TzifCounts)> {
    if reader.take(4, "TZif magic").ok()? != b"TZif" {
        return None;
    }
    let version = reader.u8("TZif version").ok()?;
    reader.take(15, "TZif reserved bytes").ok()?;
    let mut count = || -> Option<usize> { usize::try_from(reader.u32("TZif count").ok()?).ok() };
    Some((
        version,
        TzifCounts {
            isutcnt: count()?,
            isstdcnt: count()?,
            leapcnt: count()?,
            timecnt: count()?,
            typecnt: count()?,
            charcnt: count()?,
        },
    ))
}

fn skip(reader: &mut Reader<'_>, count: usize, size: usize) -> Option<()> {
    reader.take(count.checked_mul(size)?, "TZif data").ok()?;
    Some(())
}

/// Parses a TZif file; `None` for anything malformed.
fn parse_tzif(data: &[u8]) -> Option<TimeZone> {
    let mut reader = Reader::new(data);
    let (version, v1) = read_tzif_header(&mut reader)?;

    let (counts, time_size) = if version >= b'2' {
        // Skip the 32-bit block; the 64-bit one after it has the same content.
        skip(&mut reader, v1.timecnt, 5)?;
        skip(&mut reader, v1.typecnt, 6)?;
        skip(&mut reader, v1.charcnt, 1)?;
        skip(&mut reader, v1.leapcnt, 8)?;
        skip(&mut reader, v1.isstdcnt, 1)?;
        skip(&mut reader, v1.isutcnt, 1)?;
        let (_, v2) = read_tzif_header(&mut reader)?;
        (v2, 8)
    } else {
        (v1, 4)
    };
    if counts.typecnt == 0 {
        return None;
    }

    let mut times = Vec::with_capacity(counts.timecnt.min(4096));
    for _ in 0..counts.timecnt {
        let time = if time_size == 8 {
            reader.u64("TZif transition time").ok()? as i64
        } else {
            i64::from(reader.i32("TZif transition time").ok()?)
        };
        times.push(time);
    }
    let mut indices = Vec::with_capacity(times.len());
    for _ in 0..counts.timecnt {
        indices.push(usize::from(reader.u8("TZif type index").ok()?));
    }
    let mut offsets = Vec::with_capacity(counts.typecnt.min(256));
    for _ in 0..counts.typecnt {
        offsets.push(reader.i32("TZif UT offset").ok()?);
        reader.take(2, "TZif isdst and designation index").ok()?;
    }
    skip(&mut reader, counts.charcnt, 1)?;
    skip(&mut reader, counts.leapcnt, time_size + 4)?;
    skip(&mut reader, counts.isstdcnt, 1)?;
    skip(&mut reader, counts.isutcnt, 1)?;

    let mut transitions = Vec::with_capacity(times.len());
    for (time, index) in times.into_iter().zip(indices) {
        transitions.push((time, *offsets.get(index)?));
    }

    let rule = if version >= b'2' {
        let footer = reader.rest();
        let text = std::str::from_utf8(footer).ok()?;
        let text = text.trim_matches('\n');
        if text.is_empty() {
            None
        } else {
            PosixRule::parse(text)
        }
    } else {
        None
    };

    Some(TimeZone {
        transitions,
        initial_offset: offsets[0],
        rule,
    })
}

/// A POSIX TZ string's content: the standard offset, and an optional
/// daylight saving offset with the rule for when it applies. Offsets are
/// seconds east of UTC (the string itself counts west).
#[derive(Clone, Debug, PartialEq, Eq)]
struct PosixRule {
    std_offset: i32,
    dst: Option<DstRule>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct DstRule {
    offset: i32,
    start: (RuleDate, i32),
    end: (RuleDate, i32),
}

/// A date form of a POSIX TZ rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RuleDate {
    /// `Jn`: day 1 to 365, never counting February 29.
    Julian1(u32),
    /// `n`: day 0 to 365, counting February 29.
    Julian0(u32),
    /// `Mm.w.d`: day `d` (0 is Sunday) of week `w` (5 means last) of month `m`.
    MonthWeekDay(u32, u32, u32),
}

/// A cursor over a POSIX TZ string.
struct TzText<'a> {
    rest: &'a str,
}

impl<'a> TzText<'a> {
    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn number(&mut self) -> Option<u32> {
        let digits = self.rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 6 {
            return None;
        }
        let (number, rest) = self.rest.split_at(digits);
        self.rest = rest;
        number.parse().ok()
    }

    /// A zone abbreviation: three or more letters, or `<...>` quoted.
    fn name(&mut self) -> Option<()> {
        if self.eat('<') {
            let end = self.rest.find('>')?;
            if end < 3 {
                return None;
            }
            self.rest = &self.rest[end + 1..];
        } else {
            let letters = self
                .rest
                .bytes()
                .take_while(u8::is_ascii_alphabetic)
                .count();
            if letters < 3 {
                return None;
            }
            self.rest = &self.rest[letters..];
        }
        Some(())
    }

    /// `[+-]hh[:mm[:ss]]` as seconds, with `max_hours` bounding hh.
    fn signed_time(&mut self, max_hours: u32) -> Option<i32> {
        let negative = if self.eat('-') {
            true
        } else {
            self.eat('+');
            false
        };
        let hours = self.number()?;
        if hours > max_hours {
            return None;
        }
        let mut seconds = hours * 3600;
        if self.eat(':') {
            let minutes = self.number()?;
            if minutes > 59 {
                return None;
            }
            seconds += minutes * 60;
            if self.eat(':') {
                let secs = self.number()?;
                if secs > 59 {
                    return None;
                }
                seconds += secs;
            }
        }
        let seconds = i32::try_from(seconds).ok()?;
        Some(if negative { -seconds } else { seconds })
    }

    fn rule_date(&mut self) -> Option<RuleDate> {
        if self.eat('J') {
            let day = self.number()?;
            return (1..=365).contains(&day).then_some(RuleDate::Julian1(day));
        }
        if self.eat('M') {
            let month = self.number()?;
            if !self.eat('.') {
                return None;
            }
            let week = self.number()?;
            if !self.eat('.') {
                return None;
            }
            let weekday = self.number()?;
            let valid = (1..=12).contains(&month) && (1..=5).contains(&week) && weekday <= 6;
            return valid.then_some(RuleDate::MonthWeekDay(month, week, weekday));
        }
        let day = self.number()?;
        (day <= 365).then_some(RuleDate::Julian0(day))
    }

    /// A rule date with its optional `/time` (default 02:00:00).
    fn transition(&mut self) -> Option<(RuleDate, i32)> {
        let date = self.rule_date()?;
        let time = if self.eat('/') {
            self.signed_time(167)?
        } else {
            7200
        };
        Some((date, time))
    }
}

impl PosixRule {
    fn parse(text: &str) -> Option<Self> {
        let mut tz = TzText { rest: text };
        tz.name()?;
        let std_offset = -tz.signed_time(24)?;
        if tz.peek().is_none() {
            return Some(Self {
                std_offset,
                dst: None,
            });
        }

        tz.name()?;
        let dst_offset = match tz.peek() {
            Some(',') | None => std_offset + 3600,
            Some(_) => -tz.signed_time(24)?,
        };
        let (start, end) = if tz.eat(',') {
            let start = tz.transition()?;
            if !tz.eat(',') {
                return None;
            }
            (start, tz.transition()?)
        } else {
            // glibc's default for a DST zone without a rule: the US rules
            // in force since 2007.
            (
                (RuleDate::MonthWeekDay(3, 2, 0), 7200),
                (RuleDate::MonthWeekDay(11, 1, 0), 7200),
            )
        };
        if !tz.rest.is_empty() {
            return None;
        }
        Some(Self {
            std_offset,
            dst: Some(DstRule {
                offset: dst_offset,
                start,
                end,
            }),
        })
    }

    fn offset_at(&self, time: i64) -> i32 {
        let Some(dst) = &self.dst else {
            return self.std_offset;
        };
        let year = civil_from_unix(time + i64::from(self.std_offset)).year;

        // The start is given in standard time and the end in daylight time.
        let start = transition_utc(year, dst.start, self.std_offset);
        let end = transition_utc(year, dst.end, dst.offset);
        let in_dst = if start < end {
            start <= time && time < end
        } else {
            // Southern hemisphere: daylight time spans the new year.
            time < end || time >= start
        };
        if in_dst {
            dst.offset
        } else {
            self.std_offset
        }
    }
}

/// Returns the UTC time of a rule transition in `year`, given the local
/// offset in force just before it.
fn transition_utc(year: i64, (date, time): (RuleDate, i32), offset_before: i32) -> i64 {
    let jan1 = days_from_civil(year, 1, 1);
    let day = match date {
        RuleDate::Julian1(n) => {
            let n = i64::from(n);
            // February 29 is never counted, so days after it shift by one.
            if is_leap_year(year) && n >= 60 {
                jan1 + n
            } else {
                jan1 + n - 1
            }
        }
        RuleDate::Julian0(n) => jan1 + i64::from(n),
        RuleDate::MonthWeekDay(month, week, weekday) => {
            let first = days_from_civil(year, month, 1);
            // 1970-01-01 was a Thursday (weekday 4).
            let first_weekday = (first + 4).rem_euclid(7);
            let mut day = first + (i64::from(weekday) - first_weekday).rem_euclid(7);
            day += 7 * (i64::from(week) - 1);
            let month_length = i64::from(days_in_month(year, month));
            while day >= first + month_length {
                day -= 7;
            }
            day
        }
    };
    day * 86400 + i64::from(time) - i64::from(offset_before)
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Returns the days from 1970-01-01 to a proleptic Gregorian date, using
/// 400-year eras of 146097 days that start on March 1.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let month = i64::from(month);
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Converts seconds since the epoch (already shifted to local time) to a
/// civil date and time, the inverse of [`days_from_civil`].
pub fn civil_from_unix(time: i64) -> CivilTime {
    let days = time.div_euclid(86400);
    let seconds_of_day = time.rem_euclid(86400);

    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);

    CivilTime {
        year,
        // The ranges of the era arithmetic keep these in 1..=12, 1..=31 and 0..86400.
        month: month as u32,
        day: day as u32,
        hour: (seconds_of_day / 3600) as u32,
        minute: (seconds_of_day % 3600 / 60) as u32,
        second: (seconds_of_day % 60) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(year: i64, month: u32, day: u32, hour: u32, minute: u32) -> i64 {
        days_from_civil(year, month, day) * 86400 + i64::from(hour * 3600 + minute * 60)
    }

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11017);
        for days in [-800_000_i64, -1, 0, 59, 60, 11016, 11017, 20_000, 2_932_896] {
            let civil = civil_from_unix(days * 86400);
            assert_eq!(days_from_civil(civil.year, civil.month, civil.day), days);
        }
        assert_eq!(
            civil_from_unix(1_780_000_000),
            CivilTime {
                year: 2026,
                month: 5,
                day: 28,
                hour: 20,
                minute: 26,
                second: 40
            }
        );
    }

    #[test]
    fn posix_rule_europe() {
        let zone = TimeZone::from_tz(Some("CET-1CEST,M3.5.0,M10.5.0/3"));
        // In 2026 daylight time runs from March 29 01:00 UTC to October 25 01:00 UTC.
        assert_eq!(zone.offset_at(utc(2026, 3, 29, 0, 59)), 3600);
        assert_eq!(zone.offset_at(utc(2026, 3, 29, 1, 0)), 7200);
        assert_eq!(zone.offset_at(utc(2026, 10, 25, 0, 59)), 7200);
        assert_eq!(zone.offset_at(utc(2026, 10, 25, 1, 0)), 3600);
        assert_eq!(zone.to_local(utc(2026, 7, 1, 12, 0)).hour, 14);
    }

    #[test]
    fn posix_rule_default_us_dates() {
        let zone = TimeZone::from_tz(Some("EST5EDT"));
        // 2026-03-08 02:00 EST is 07:00 UTC; 2026-11-01 02:00 EDT is 06:00 UTC.
        assert_eq!(zone.offset_at(utc(2026, 3, 8, 6, 59)), -5 * 3600);
        assert_eq!(zone.offset_at(utc(2026, 3, 8, 7, 0)), -4 * 3600);
        assert_eq!(zone.offset_at(utc(2026, 11, 1, 5, 59)), -4 * 3600);
        assert_eq!(zone.offset_at(utc(2026, 11, 1, 6, 0)), -5 * 3600);
    }

    #[test]
    fn posix_rule_southern_hemisphere() {
        let zone = TimeZone::from_tz(Some("AEST-10AEDT,M10.1.0,M4.1.0/3"));
        assert_eq!(zone.offset_at(utc(2026, 1, 15, 0, 0)), 11 * 3600);
        assert_eq!(zone.offset_at(utc(2026, 6, 15, 0, 0)), 10 * 3600);
        assert_eq!(zone.offset_at(utc(2026, 12, 15, 0, 0)), 11 * 3600);
    }

    #[test]
    fn posix_rule_quoted_names_and_julian_dates() {
        let zone = TimeZone::from_tz(Some("<+0330>-3:30"));
        assert_eq!(zone.offset_at(0), 3 * 3600 + 1800);
        let rule = PosixRule::parse("XXX3YYY,J60/0,300").unwrap();
        let dst = rule.dst.unwrap();
        assert_eq!(dst.start, (RuleDate::Julian1(60), 0));
        assert_eq!(dst.end, (RuleDate::Julian0(300), 7200));
        // J60 is March 1 even in a leap year.
        assert_eq!(
            transition_utc(2024, dst.start, 0),
            days_from_civil(2024, 3, 1) * 86400
        );
    }

    #[test]
    fn invalid_tz_falls_back_to_utc() {
        for tz in [
            "",
            "X",
            "ABC",
            "ABC+99",
            "../../etc/passwd",
            "CET-1CEST,M13.1.0,M1.1.0",
        ] {
            assert_eq!(
                TimeZone::from_tz(Some(tz)).offset_at(1_780_000_000),
                0,
                "{tz}"
            );
        }
    }

    /// Builds a version 2 TZif file with the given transitions, type
    /// offsets and footer.
    fn tzif(transitions: &[(i64, u8)], offsets: &[i32], footer: &str) -> Vec<u8> {
        let header = |out: &mut Vec<u8>, timecnt: usize, typecnt: usize| {
            out.extend_from_slice(b"TZif2");
            out.extend_from_slice(&[0; 15]);
            for count in [0, 0, 0, timecnt, typecnt, 4] {
                out.extend_from_slice(&(count as u32).to_be_bytes());
            }
        };
        let mut out = Vec::new();
        header(&mut out, 0, 1);
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(b"UTC\0");
        header(&mut out, transitions.len(), offsets.len());
        for (time, _) in transitions {
            out.extend_from_slice(&time.to_be_bytes());
        }
        for (_, index) in transitions {
            out.push(*index);
        }
        for offset in offsets {
            out.extend_from_slice(&offset.to_be_bytes());
            out.extend_from_slice(&[0, 0]);
        }
        out.extend_from_slice(b"ABC\0");
        out.extend_from_slice(format!("\n{footer}\n").as_bytes());
        out
    }

    #[test]
    fn tzif_transitions_then_footer() {
        let data = tzif(
            &[(1000, 1), (2000, 0)],
            &[3600, 7200],
            "CET-1CEST,M3.5.0,M10.5.0/3",
        );
        let zone = parse_tzif(&data).unwrap();
        assert_eq!(zone.offset_at(999), 3600);
        assert_eq!(zone.offset_at(1000), 7200);
        assert_eq!(zone.offset_at(1999), 7200);
        assert_eq!(zone.offset_at(utc(2026, 1, 1, 0, 0)), 3600);
        assert_eq!(zone.offset_at(utc(2026, 7, 1, 0, 0)), 7200);
    }

    #[test]
    fn tzif_rejects_bad_index_and_truncation() {
        let data = tzif(&[(1000, 5)], &[0], "");
        assert_eq!(parse_tzif(&data), None);
        let data = tzif(&[(1000, 0)], &[0], "UTC0");
        assert_eq!(parse_tzif(&data[..data.len() - 20]), None);
        assert_eq!(parse_tzif(b"TZif"), None);
        assert_eq!(
            parse_tzif(b"not a zone file at all, no magic here......"),
            None
        );
    }

    #[test]
    fn system_zone_files_match_rules() {
        let berlin = Path::new(ZONEINFO_DIR).join("Europe/Berlin");
        assert!(
            berlin.exists(),
            "{} is missing; install the Debian package tzdata",
            berlin.display()
        );
        let zone = TimeZone::from_tz(Some("Europe/Berlin"));
        assert_eq!(zone.offset_at(utc(2026, 1, 1, 0, 0)), 3600);
        assert_eq!(zone.offset_at(utc(2026, 7, 1, 0, 0)), 7200);
        assert_eq!(zone.offset_at(utc(1990, 7, 1, 0, 0)), 7200);
        let zone = TimeZone::from_tz(Some(":America/New_York"));
        assert_eq!(zone.offset_at(utc(2026, 1, 1, 0, 0)), -5 * 3600);
    }
}
