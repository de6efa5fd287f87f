//! Timestamps: writing them as Python's `datetime.isoformat()`, reading them
//! as Python 3.11's `datetime.fromisoformat()` (which the reference uses for
//! both `--since` and the entries' `timestamp`), and `--since` itself.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, Weekday};

use super::AuditError;

/// 0001-01-01T00:00:00Z, Python's `datetime.min`, in Unix seconds.
const PY_MIN_UNIX: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z, the last second `datetime.utcfromtimestamp` takes.
const PY_MAX_UNIX: u64 = 253_402_300_799;

/// `t` as `datetime.now(UTC).isoformat()` prints it:
/// `2025-06-01T10:00:00.123456+00:00` (no fraction when it is zero).
pub(crate) fn py_isoformat_utc(t: SystemTime) -> String {
    let dt = offset_datetime(t).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let micros = dt.microsecond();
    let frac = if micros == 0 {
        String::new()
    } else {
        format!(".{micros:06}")
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{frac}+00:00",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// `t` in UTC, or `None` outside the `time` crate's range.
fn offset_datetime(t: SystemTime) -> Option<OffsetDateTime> {
    let nanos = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).ok()?,
        Err(e) => -i128::try_from(e.duration().as_nanos()).ok()?,
    };
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// A file's modification time for `audit info`: the reference prints local time; we print UTC
/// and say so (finding the local offset safely needs a dependency this one column is not worth).
pub(crate) fn format_local_mtime(t: SystemTime) -> String {
    match offset_datetime(t) {
        Some(utc) => format!("{} UTC", format_ymd_hms(utc)),
        None => "-".into(),
    }
}

/// `%Y-%m-%d %H:%M:%S`.
pub(crate) fn format_ymd_hms(dt: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// Parses a `--since` value exactly as the reference's `_parse_since` accepts it:
///
/// * surrounding whitespace is ignored;
/// * digits followed by one of `s`, `m`, `h`, `d` (`90s`, `30m`, `2h`, `1d`) is
///   that long before `now`;
/// * digits alone are Unix epoch seconds (`1718700000`), up to
///   9999-12-31T23:59:59Z; longer digit strings fall through to the next form;
/// * anything else is read by Python 3.11's `datetime.fromisoformat` rules
///   after dropping one trailing `Z`: `2025-06-18`, `2025-06-18T12:34`,
///   `2025-06-18 12:34:56.123`, `20250618T123456`, `2025-W25-3`,
///   `2025-06-18T12:34:56+02:00`, ... Without an offset the time is UTC (the
///   reference means UTC: its other forms use `utcnow()`/`utcfromtimestamp()`).
pub fn parse_since(text: &str, now: SystemTime) -> Result<SystemTime, AuditError> {
    let invalid = || AuditError::InvalidSince {
        value: text.to_string(),
    };
    let value = text.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c));
    let mut chars = value.chars();
    let last = chars.next_back().ok_or_else(invalid)?;
    let head = chars.as_str();
    if let Some(unit) = unit_seconds(last) {
        if !head.is_empty() && head.bytes().all(|b| b.is_ascii_digit()) {
            let qty: u64 = head.parse().map_err(|_| invalid())?;
            let secs = qty.checked_mul(unit).ok_or_else(invalid)?;
            let since = now
                .checked_sub(Duration::from_secs(secs))
                .ok_or_else(invalid)?;
            let floor = UNIX_EPOCH.checked_sub(Duration::from_secs(PY_MIN_UNIX.unsigned_abs()));
            return match floor {
                Some(f) if since >= f => Ok(since),
                _ => Err(invalid()),
            };
        }
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        if let Some(secs) = value.parse::<u64>().ok().filter(|s| *s <= PY_MAX_UNIX) {
            return Ok(UNIX_EPOCH + Duration::from_secs(secs));
        }
    }
    let iso = value.strip_suffix('Z').unwrap_or(value);
    py_fromisoformat(iso)
        .and_then(|t| unix_micros_to_system_time(t.unix_micros))
        .ok_or_else(invalid)
}

/// Seconds in one relative `--since` unit.
fn unit_seconds(c: char) -> Option<u64> {
    match c {
        's' => Some(1),
        'm' => Some(60),
        'h' => Some(3600),
        'd' => Some(86_400),
        _ => None,
    }
}

/// An entry's `timestamp` field as an instant (naive times taken as UTC).
pub(crate) fn entry_time(text: &str) -> Option<SystemTime> {
    py_fromisoformat(text).and_then(|t| unix_micros_to_system_time(t.unix_micros))
}

/// Microseconds since the Unix epoch as a `SystemTime`.
fn unix_micros_to_system_time(micros: i128) -> Option<SystemTime> {
    let magnitude = Duration::from_micros(u64::try_from(micros.unsigned_abs()).ok()?);
    if micros >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
}

/// What [`py_fromisoformat`] read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IsoTime {
    /// The instant, naive times taken as UTC.
    pub(crate) unix_micros: i128,
    /// Whether the text carried an offset (`Z`, `+02:00`, ...).
    pub(crate) aware: bool,
}

/// CPython 3.11's `datetime.fromisoformat`, reproduced on the UTF-8 bytes
/// the way its C implementation reads them (including its leniencies: any
/// single character as the date/time separator, `,` as decimal mark, digits
/// past the sixth fractional one ignored, offsets up to ±23:59:59.999999).
pub(crate) fn py_fromisoformat(text: &str) -> Option<IsoTime> {
    if text.chars().count() < 7 {
        return None;
    }
    let b = text.as_bytes();
    let sep = find_separator(b)?;
    let date = parse_date(b, sep)?;
    let (mut hms, mut micros, mut offset) = ([0u32; 3], 0u32, None);
    if b.len() > sep {
        let lead = b[sep];
        let skip = if lead & 0x80 == 0 {
            1
        } else {
            match lead & 0xf0 {
                0xe0 => 3,
                0xf0 => 4,
                _ => 2,
            }
        };
        (hms, micros, offset) = parse_time(b, sep + skip)?;
    }
    let time = Time::from_hms_micro(
        u8::try_from(hms[0]).ok()?,
        u8::try_from(hms[1]).ok()?,
        u8::try_from(hms[2]).ok()?,
        micros,
    )
    .ok()?;
    let naive = PrimitiveDateTime::new(date, time)
        .assume_utc()
        .unix_timestamp_nanos()
        / 1000;
    Some(IsoTime {
        unix_micros: naive - offset.unwrap_or(0),
        aware: offset.is_some(),
    })
}

/// The byte at `i`, or NUL past the end (the C code reads a NUL-terminated string).
fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

/// Reads `n` ASCII digits at `*pos`.
fn digits(b: &[u8], pos: &mut usize, n: usize) -> Option<u32> {
    let mut v = 0u32;
    for _ in 0..n {
        let d = at(b, *pos).wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u32::from(d);
        *pos += 1;
    }
    Some(v)
}

/// `_find_isoformat_datetime_separator`: where the date part ends.
fn find_separator(b: &[u8]) -> Option<usize> {
    let len = b.len();
    if len == 7 {
        return Some(7);
    }
    if at(b, 4) == b'-' {
        if at(b, 5) != b'W' {
            return Some(10);
        }
        if len > 8 && at(b, 8) == b'-' {
            if len == 9 {
                return None;
            }
            if len > 10 && at(b, 10).is_ascii_digit() {
                return Some(8);
            }
            return Some(10);
        }
        return Some(8);
    }
    if at(b, 4) == b'W' {
        let mut idx = 7;
        while idx < len && at(b, idx).is_ascii_digit() {
            idx += 1;
        }
        if idx < 9 {
            return Some(idx);
        }
        return Some(if idx % 2 == 0 { 7 } else { 8 });
    }
    Some(8)
}

/// `parse_isoformat_date`: `YYYY-MM-DD`, `YYYYMMDD`, `YYYY-Www[-D]`, `YYYYWww[D]`.
fn parse_date(b: &[u8], sep: usize) -> Option<Date> {
    let mut p = 0;
    let year = digits(b, &mut p, 4)?;
    let dashed = at(b, p) == b'-';
    if dashed {
        p += 1;
    }
    let year = i32::try_from(year)
        .ok()
        .filter(|y| (1..=9999).contains(y))?;
    if at(b, p) == b'W' {
        p += 1;
        let week = digits(b, &mut p, 2)?;
        let mut day = 1;
        if p < sep {
            if dashed {
                p += 1;
                if at(b, p - 1) != b'-' {
                    return None;
                }
            }
            day = digits(b, &mut p, 1)?;
        }
        if !(1..=7).contains(&day) {
            return None;
        }
        let weekday = Weekday::Monday.nth_next(u8::try_from(day - 1).ok()?);
        let date = Date::from_iso_week_date(year, u8::try_from(week).ok()?, weekday).ok()?;
        return (1..=9999).contains(&date.year()).then_some(date);
    }
    let month = digits(b, &mut p, 2)?;
    if dashed {
        p += 1;
        if at(b, p - 1) != b'-' {
            return None;
        }
    }
    let day = digits(b, &mut p, 2)?;
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()
}

/// `parse_hh_mm_ss_ff` over `b[start..end]` (reads may run past `end`, as in C).
/// Returns the fields and whether anything but NUL follows them.
fn hh_mm_ss_ff(b: &[u8], start: usize, end: usize) -> Option<([u32; 3], u32, bool)> {
    let mut p = start;
    let mut vals = [0u32; 3];
    let mut has_sep = true;
    for (i, val) in vals.iter_mut().enumerate() {
        *val = digits(b, &mut p, 2)?;
        let c = at(b, p);
        p += 1;
        if i == 0 {
            has_sep = c == b':';
        }
        if p >= end {
            return Some((vals, 0, c != 0));
        } else if has_sep && c == b':' {
            continue;
        } else if c == b'.' || c == b',' {
            break;
        } else if !has_sep {
            p -= 1;
        } else {
            return None;
        }
    }
    const CORRECTION: [u32; 5] = [100_000, 10_000, 1_000, 100, 10];
    let to_parse = end.saturating_sub(p).min(6);
    let mut micros = digits(b, &mut p, to_parse)?;
    if to_parse < 6 {
        micros *= CORRECTION.get(to_parse.checked_sub(1)?).copied()?;
    }
    while at(b, p).is_ascii_digit() {
        p += 1;
    }
    Some((vals, micros, at(b, p) != 0))
}

/// `parse_isoformat_time`: the time and the offset in microseconds, if any.
#[allow(clippy::type_complexity)]
fn parse_time(b: &[u8], start: usize) -> Option<([u32; 3], u32, Option<i128>)> {
    let end = b.len();
    let mut tz = start;
    loop {
        if matches!(at(b, tz), b'Z' | b'+' | b'-') {
            break;
        }
        tz += 1;
        if tz >= end {
            break;
        }
    }
    let (hms, micros, trailing) = hh_mm_ss_ff(b, start, tz)?;
    if tz == end {
        return (!trailing).then_some((hms, micros, None));
    }
    if at(b, tz) == b'Z' {
        return (at(b, tz + 1) == 0).then_some((hms, micros, Some(0)));
    }
    let sign: i128 = if at(b, tz) == b'-' { -1 } else { 1 };
    let (off, off_micros, trailing) = hh_mm_ss_ff(b, tz + 1, end)?;
    if trailing {
        return None;
    }
    let secs = i128::from(off[0]) * 3600 + i128::from(off[1]) * 60 + i128::from(off[2]);
    if secs == 0 {
        // CPython returns UTC when the whole seconds are zero, dropping any fraction.
        return Some((hms, micros, Some(0)));
    }
    let offset = sign * (secs * 1_000_000 + i128::from(off_micros));
    (offset.abs() < 86_400 * 1_000_000).then_some((hms, micros, Some(offset)))
}
