//! The `--expires-in` grammar of the spec: `N` days, or `N` with a suffix `h`, `d`, `w`, `m` (30 days),
//! `y` (365 days), case-insensitive. Zero, negative and overflowing values are errors.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses a token lifetime such as `30`, `12h`, `2w`, `6m` or `1y`.
pub fn parse_lifetime(text: &str) -> Result<Duration, super::LifetimeError> {
    use super::LifetimeError as E;
    let t = text.trim();
    if t.is_empty() {
        return Err(E::Empty);
    }
    let (digits, unit_secs) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let secs = match c.to_ascii_lowercase() {
                'h' => 3_600u64,
                'd' => 86_400,
                'w' => 7 * 86_400,
                'm' => 30 * 86_400,
                'y' => 365 * 86_400,
                _ => {
                    return Err(E::Unit {
                        unit: c,
                        text: t.to_owned(),
                    })
                }
            };
            (&t[..i], secs)
        }
        _ => (t, 86_400),
    };
    let digits = digits.trim();
    if digits.starts_with('-') {
        return Err(E::Negative(t.to_owned()));
    }
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(E::NotANumber(t.to_owned()));
    }
    let n: u64 = digits.parse().map_err(|_| E::TooLarge(t.to_owned()))?;
    if n == 0 {
        return Err(E::Zero(t.to_owned()));
    }
    let secs = n
        .checked_mul(unit_secs)
        .filter(|s| *s <= MAX_LIFETIME_SECS)
        .ok_or_else(|| E::TooLarge(t.to_owned()))?;
    Ok(Duration::from_secs(secs))
}

/// The longest lifetime accepted: 100 years.
pub const MAX_LIFETIME_SECS: u64 = 100 * 365 * 86_400;

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `2026-11-28T18:20:00Z` for a Unix time in seconds (UTC, proleptic Gregorian).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Like [`rfc3339`] with milliseconds, for log lines.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let s = rfc3339(d.as_secs());
    format!("{}.{:03}Z", &s[..s.len() - 1], d.subsec_millis())
}

/// The UTC calendar date (year, month, day) of a Unix time in seconds.
pub fn ymd(secs: u64) -> (i32, u8, u8) {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    (y as i32, m as u8, d as u8)
}

/// One implementation of the calendar for the whole server (state/time.rs).
use crate::state::time::civil as civil_from_days;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn grammar() {
        let day = 86_400;
        for (t, secs) in [
            ("30", 30 * day),
            ("12h", 12 * 3600),
            ("12H", 12 * 3600),
            ("2d", 2 * day),
            ("1w", 7 * day),
            ("6m", 180 * day),
            ("1y", 365 * day),
            ("1Y", 365 * day),
            (" 3d ", 3 * day),
        ] {
            assert_eq!(parse_lifetime(t).unwrap().as_secs(), secs, "{t}");
        }
        for bad in [
            "",
            "0",
            "0d",
            "-1",
            "-1d",
            "1x",
            "d",
            "1.5d",
            "99999999999999999999y",
            "101y",
            "1 d1",
        ] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_890_000), "2026-11-28T18:20:00Z");
    }
}
