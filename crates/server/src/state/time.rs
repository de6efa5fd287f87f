//! UTC calendar arithmetic for budget and ledger buckets (no time-zone database needed).
use std::time::{SystemTime, UNIX_EPOCH};

const DAY_MS: u64 = 86_400_000;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// (year, month 1-12, day 1-31) of a day number since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Day number since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a time in ms.
pub fn day(ms: u64) -> String {
    let (y, m, d) = civil((ms / DAY_MS) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM` of a time in ms.
pub fn month(ms: u64) -> String {
    let (y, m, _) = civil((ms / DAY_MS) as i64);
    format!("{y:04}-{m:02}")
}

/// Milliseconds from `ms` to the next UTC midnight.
pub fn ms_to_next_day(ms: u64) -> u64 {
    DAY_MS - ms % DAY_MS
}

/// Milliseconds from `ms` to the first instant of the next UTC month.
pub fn ms_to_next_month(ms: u64) -> u64 {
    let (y, m, _) = civil((ms / DAY_MS) as i64);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let start = days_from_civil(ny, nm, 1).max(0) as u64 * DAY_MS;
    start.saturating_sub(ms).max(1)
}

/// Parses `YYYY-MM-DD` (checked), returning it normalised.
pub fn parse_day(s: &str) -> Option<String> {
    let mut it = s.trim().splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    let n = days_from_civil(y, m, d);
    (civil(n) == (y, m, d)).then(|| format!("{y:04}-{m:02}-{d:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        // 2024-02-29 12:00:00 UTC
        let ms = 1_709_208_000_000;
        assert_eq!(day(ms), "2024-02-29");
        assert_eq!(month(ms), "2024-02");
        assert_eq!(ms_to_next_day(ms), 12 * 3_600_000);
        assert_eq!(ms_to_next_month(ms), 12 * 3_600_000);
        assert_eq!(day(0), "1970-01-01");
        assert_eq!(parse_day("2024-02-29").as_deref(), Some("2024-02-29"));
        assert_eq!(parse_day("2023-02-29"), None);
        assert_eq!(parse_day("2023-13-01"), None);
        for n in [-1000i64, 0, 10_957, 20_000, 50_000] {
            let (y, m, d) = civil(n);
            assert_eq!(days_from_civil(y, m, d), n);
        }
    }
}
