//! Reading literal values: integers, decimals, durations, dates, times, IP
//! addresses, CIDR ranges and patterns. The parser keeps literals as text; the
//! compiler validates them here, once, and later stages use the values.
//!
//! Every function returns `Err(message)` with a sentence fit for a diagnostic.

use std::net::IpAddr;

/// Decimals are fixed-point with four fractional digits (like Cedar's).
pub const DECIMAL_SCALE: i64 = 10_000;

pub fn int(raw: &str) -> Result<i64, String> {
    raw.parse::<i64>().map_err(|_| format!("integer literal `{raw}` does not fit in 64 bits (at most {})", i64::MAX))
}

/// A decimal as an integer count of 1/10,000ths.
pub fn decimal(raw: &str) -> Result<i64, String> {
    let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
    let (negative, whole) = match whole.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, whole),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{raw}` is not a decimal number such as `12.50`"));
    }
    if frac.len() > 4 {
        return Err(format!("decimal `{raw}` has {} fractional digits; Ward decimals have at most 4", frac.len()));
    }
    let too_big = || format!("decimal `{raw}` is out of range (at most 922337203685477.5807)");
    let whole: i64 = whole.parse().map_err(|_| too_big())?;
    let mut frac_value: i64 = 0;
    for (i, b) in frac.bytes().enumerate() {
        frac_value += i64::from(b - b'0') * 10_i64.pow(3 - i as u32);
    }
    let value = whole.checked_mul(DECIMAL_SCALE).and_then(|w| w.checked_add(frac_value)).ok_or_else(too_big)?;
    Ok(if negative { -value } else { value })
}

/// A duration in milliseconds. Units: `w d h m s ms`, each at most once, in
/// decreasing order (`1h30m`, not `30m1h`).
pub fn duration_ms(raw: &str) -> Result<i64, String> {
    const UNITS: [(&str, i64); 6] =
        [("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];
    let bytes = raw.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    let mut last_rank: Option<usize> = None;
    let too_long = || format!("duration `{raw}` is too long");
    while i < bytes.len() {
        let start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = raw.get(start..i).unwrap_or("");
        let unit_start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_alphabetic) {
            i += 1;
        }
        let unit = raw.get(unit_start..i).unwrap_or("");
        let Some(rank) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(format!("`{unit}` is not a duration unit (use w, d, h, m, s or ms)"));
        };
        if digits.is_empty() {
            return Err(format!("`{raw}` is not a duration such as `90d` or `1h30m`"));
        }
        if last_rank.is_some_and(|last| rank <= last) {
            return Err(format!("duration `{raw}`: units must appear once each, largest first (as in `1h30m`)"));
        }
        last_rank = Some(rank);
        let n: i64 = digits.parse().map_err(|_| too_long())?;
        let part = n.checked_mul(UNITS.get(rank).map_or(1, |u| u.1)).ok_or_else(too_long)?;
        total = total.checked_add(part).ok_or_else(too_long)?;
    }
    Ok(total)
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01
/// (the inverse of [`days_from_civil`], Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A day count since 1970-01-01 as `YYYY-MM-DD`.
pub fn date_text(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

fn number(text: Option<&str>) -> Option<u32> {
    text.filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())).and_then(|t| t.parse().ok())
}

/// A date (`2026-11-26`) as days since 1970-01-01.
pub fn date_days(raw: &str) -> Result<i64, String> {
    let bad = || format!("`{raw}` is not a valid date (YYYY-MM-DD)");
    let (y, m, d) = (number(raw.get(0..4)), number(raw.get(5..7)), number(raw.get(8..10)));
    let (Some(y), Some(m), Some(d)) = (y, m, d) else { return Err(bad()) };
    if raw.len() != 10 || raw.get(4..5) != Some("-") || raw.get(7..8) != Some("-") {
        return Err(bad());
    }
    let year = i64::from(y);
    if !(1..=12).contains(&m) {
        return Err(format!("`{raw}` is not a valid date: there is no month {m}"));
    }
    if d == 0 || d > days_in_month(year, m) {
        return Err(format!("`{raw}` is not a valid date: month {m} of {y} has {} days", days_in_month(year, m)));
    }
    Ok(days_from_civil(year, m, d))
}

/// A time (`2026-11-26T09:00:00Z`, `…+02:00`) as milliseconds since the epoch (UTC).
pub fn time_ms(raw: &str) -> Result<i64, String> {
    let bad = || format!("`{raw}` is not a valid time such as `2026-11-26T09:00:00Z`");
    let days = date_days(raw.get(0..10).ok_or_else(bad)?)?;
    let rest = raw.get(11..).ok_or_else(bad)?;
    let (clock, offset_minutes) = if let Some(clock) = rest.strip_suffix('Z') {
        (clock, 0_i64)
    } else {
        let split = rest.rfind(['+', '-']).ok_or_else(bad)?;
        let (clock, offset) = rest.split_at(split);
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let oh = number(offset.get(1..3)).ok_or_else(bad)?;
        let om = number(offset.get(4..6)).ok_or_else(bad)?;
        if oh > 23 || om > 59 {
            return Err(format!("`{raw}`: the UTC offset is out of range"));
        }
        (clock, sign * i64::from(oh * 60 + om))
    };
    let h = number(clock.get(0..2)).ok_or_else(bad)?;
    let mi = number(clock.get(3..5)).ok_or_else(bad)?;
    let (s, frac_ms) = match clock.get(5..) {
        None | Some("") => (0, 0),
        Some(sec) => {
            let s = number(sec.get(1..3)).ok_or_else(bad)?;
            let frac = sec.get(4..).unwrap_or("");
            let mut ms = 0_i64;
            for (i, b) in frac.bytes().take(3).enumerate() {
                ms += i64::from(b - b'0') * 10_i64.pow(2 - i as u32);
            }
            (s, ms)
        }
    };
    if h > 23 || mi > 59 || s > 59 {
        return Err(format!("`{raw}` is not a valid time: {h:02}:{mi:02}:{s:02} is not a time of day"));
    }
    let seconds = days * 86_400 + i64::from(h * 3600 + mi * 60 + s) - offset_minutes * 60;
    Ok(seconds * 1000 + frac_ms)
}

pub fn ip(text: &str) -> Result<IpAddr, String> {
    text.parse::<IpAddr>().map_err(|_| format!("`{text}` is not an IPv4 or IPv6 address"))
}

/// A CIDR range: its network address and prefix length.
pub fn cidr(text: &str) -> Result<(IpAddr, u8), String> {
    let bad = || format!("`{text}` is not a CIDR range such as `10.0.0.0/8` or `2001:db8::/32`");
    let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
    let addr = addr.parse::<IpAddr>().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(format!("`{text}`: a prefix of /{prefix} is longer than the address ({max} bits)"));
    }
    Ok((addr, prefix))
}

/// Checks that `pattern` is a regex Ward can run in linear time.
pub fn pattern(pattern: &str) -> Result<(), String> {
    let mut parser = regex_syntax::ParserBuilder::new().nest_limit(64).build();
    match parser.parse(pattern) {
        Ok(_) => Ok(()),
        Err(e) => {
            let text = e.to_string();
            let reason =
                text.lines().last().unwrap_or("invalid pattern").trim().trim_start_matches("error: ").to_string();
            let hint = if reason.contains("look-around") || reason.contains("backreference") {
                " (Ward patterns must run in linear time)"
            } else {
                ""
            };
            Err(format!("invalid pattern: {reason}{hint}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_ms("90d"), Ok(90 * 86_400_000));
        assert_eq!(duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(duration_ms("250ms"), Ok(250));
        assert!(duration_ms("30m1h").is_err());
        assert!(duration_ms("1h1h").is_err());
        assert!(duration_ms("99999999999999999w").is_err());
    }

    #[test]
    fn decimals() {
        assert_eq!(decimal("12.5"), Ok(125_000));
        assert_eq!(decimal("0.0001"), Ok(1));
        assert!(decimal("1.00001").is_err());
        assert!(decimal("99999999999999999.0").is_err());
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(date_days("1970-01-01"), Ok(0));
        assert_eq!(date_days("2024-02-29"), Ok(19_782));
        assert!(date_days("2025-02-29").is_err());
        assert!(date_days("2025-13-01").is_err());
        assert_eq!(time_ms("1970-01-01T00:00:01Z"), Ok(1000));
        assert_eq!(time_ms("1970-01-01T02:00:00+02:00"), Ok(0));
        assert_eq!(time_ms("1970-01-01T00:00:00.250Z"), Ok(250));
        assert!(time_ms("2026-01-01T24:00:00Z").is_err());
    }

    #[test]
    fn networks_and_patterns() {
        assert!(ip("10.0.0.1").is_ok());
        assert!(ip("10.0.0.256").is_err());
        assert_eq!(cidr("10.0.0.0/8").map(|c| c.1), Ok(8));
        assert!(cidr("10.0.0.0/33").is_err());
        assert!(pattern("^[a-z]+$").is_ok());
        let err = pattern("(?=x)").unwrap_err();
        assert!(err.contains("linear time"), "{err}");
    }
}
