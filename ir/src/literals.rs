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

/// A JSON number's text (`-12.5`, `1.50000`, `1e3`) as a decimal, exactly:
/// refused when its value has more than 4 fractional digits or is out of
/// range, never rounded. Unlike [`decimal`], exponents and trailing zeros
/// are accepted, since they do not change the value.
pub fn decimal_number(raw: &str) -> Result<i64, String> {
    let not_a_number = || format!("`{raw}` is not a decimal number such as `12.50`");
    let too_big = || format!("decimal `{raw}` is out of range (at most 922337203685477.5807)");
    let too_precise = || format!("decimal `{raw}` has more than 4 fractional digits; Ward decimals have at most 4");
    let (negative, rest) = match raw.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, raw),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => {
            let exp = rest.get(i + 1..).ok_or_else(not_a_number)?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(not_a_number());
            }
            // An exponent too large for an i64 is out of range either way (or all zeros).
            let value = exp.trim_start_matches('+').parse::<i64>().unwrap_or(if exp.starts_with('-') {
                i64::MIN / 2
            } else {
                i64::MAX / 2
            });
            (rest.get(..i).ok_or_else(not_a_number)?, value)
        }
        None => (rest, 0),
    };
    let (whole, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (mantissa.contains('.') && frac.is_empty())
    {
        return Err(not_a_number());
    }
    let digits: String = whole.chars().chain(frac.chars()).collect();
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(0);
    }
    // value = digits × 10^shift / 10^4
    let frac_len = i64::try_from(frac.len()).map_err(|_| too_precise())?;
    let shift = exponent.saturating_sub(frac_len).saturating_add(4);
    let len = i64::try_from(digits.len()).map_err(|_| too_big())?;
    let scaled = if shift < 0 {
        let keep = len.saturating_add(shift);
        let (kept, dropped) = if keep <= 0 { ("", digits) } else { digits.split_at(keep as usize) };
        if dropped.bytes().any(|b| b != b'0') {
            return Err(too_precise());
        }
        if kept.is_empty() { String::from("0") } else { kept.to_string() }
    } else {
        if len.saturating_add(shift) > 19 {
            return Err(too_big());
        }
        format!("{digits}{}", "0".repeat(shift as usize))
    };
    let magnitude: i64 = scaled.parse().map_err(|_| too_big())?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// A decimal's canonical text (`12.5`, `-0.0001`, `3.0`): what [`decimal`]
/// reads back as the same value.
pub fn decimal_text(scaled: i64) -> String {
    let sign = if scaled < 0 { "-" } else { "" };
    let abs = scaled.unsigned_abs();
    let scale = DECIMAL_SCALE.unsigned_abs();
    let frac = format!("{:04}", abs % scale);
    let frac = frac.trim_end_matches('0');
    format!("{sign}{}.{}", abs / scale, if frac.is_empty() { "0" } else { frac })
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
    if raw.is_empty() {
        return Err("an empty duration (write one such as `90d` or `1h30m`)".into());
    }
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

/// A time as milliseconds since the epoch (UTC): `2026-11-26T09:00:00Z`,
/// with fractional seconds (`…:00.250Z`), a UTC offset written `+02:00` or,
/// as Cedar's `datetime` writes it, `-0500`, seconds optional (`…T09:00Z`),
/// or a date alone (`2026-11-26`, midnight UTC, as in Cedar).
pub fn time_ms(raw: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "`{raw}` is not a valid time such as `2026-11-26T09:00:00Z`, `2026-11-26T09:00:00.250-0500` or `2026-11-26`"
        )
    };
    let days = date_days(raw.get(0..10).ok_or_else(bad)?)?;
    if raw.len() == 10 {
        return Ok(days * 86_400_000);
    }
    let rest = raw.get(10..).and_then(|r| r.strip_prefix('T')).ok_or_else(bad)?;
    let zone_at = rest.find(['Z', '+', '-']).ok_or_else(bad)?;
    let (clock, zone) = rest.split_at(zone_at);
    let offset_minutes = match zone {
        "Z" => 0_i64,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let digits = zone.get(1..).ok_or_else(bad)?;
            let (oh, om) = match digits.len() {
                4 => (number(digits.get(0..2)), number(digits.get(2..4))),
                5 if digits.get(2..3) == Some(":") => (number(digits.get(0..2)), number(digits.get(3..5))),
                _ => return Err(bad()),
            };
            let (Some(oh), Some(om)) = (oh, om) else { return Err(bad()) };
            if oh > 23 || om > 59 {
                return Err(format!("`{raw}`: the UTC offset is out of range"));
            }
            sign * i64::from(oh * 60 + om)
        }
    };
    if clock.get(2..3) != Some(":") {
        return Err(bad());
    }
    let h = number(clock.get(0..2)).ok_or_else(bad)?;
    let mi = number(clock.get(3..5)).ok_or_else(bad)?;
    let (s, frac_ms) = match clock.get(5..) {
        Some("") => (0, 0),
        Some(sec) => {
            let s = match (sec.get(0..1), number(sec.get(1..3))) {
                (Some(":"), Some(s)) => s,
                _ => return Err(bad()),
            };
            let frac = match sec.get(3..) {
                Some("") => "",
                Some(f) => f.strip_prefix('.').filter(|f| !f.is_empty()).ok_or_else(bad)?,
                None => return Err(bad()),
            };
            if !frac.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let mut ms = 0_i64;
            for (i, b) in frac.bytes().take(3).enumerate() {
                ms += i64::from(b - b'0') * 10_i64.pow(2 - i as u32);
            }
            (s, ms)
        }
        None => return Err(bad()),
    };
    if h > 23 || mi > 59 || s > 59 {
        return Err(format!("`{raw}` is not a valid time: {h:02}:{mi:02}:{s:02} is not a time of day"));
    }
    let seconds = days * 86_400 + i64::from(h * 3600 + mi * 60 + s) - offset_minutes * 60;
    Ok(seconds * 1000 + frac_ms)
}

/// A duration as data may carry it (Cedar's `duration`): [`duration_ms`],
/// optionally negative (`-5h`).
pub fn signed_duration_ms(raw: &str) -> Result<i64, String> {
    match raw.strip_prefix('-') {
        Some(rest) => duration_ms(rest)?.checked_neg().ok_or_else(|| format!("duration `{raw}` is too long")),
        None => duration_ms(raw),
    }
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
    fn decimal_numbers_are_exact_or_refused() {
        let ok = [
            ("12.5", 125_000),
            ("1.50000", 15_000),
            ("1e3", 10_000_000),
            ("-0.0001", -1),
            ("100000000000000.0001", 1_000_000_000_000_000_001),
            ("922337203685477.5807", i64::MAX),
            ("1E-4", 1),
            ("0.0", 0),
            ("-0", 0),
            ("0e999999999999999999999", 0),
            ("1000e-7", 1),
        ];
        for (text, value) in ok {
            assert_eq!(decimal_number(text), Ok(value), "{text}");
            assert_eq!(decimal(&decimal_text(value)), Ok(value), "{text}");
        }
        for bad in ["1.00001", "1e-5", "922337203685477.5808", "1e15", "1e999999999999999999999", "1.", ".5", "x", "1e"]
        {
            assert!(decimal_number(bad).is_err(), "{bad}");
        }
        assert_eq!(decimal_text(1_000_000_000_000_000_001), "100000000000000.0001");
        assert_eq!(decimal_text(-30_000), "-3.0");
        assert_eq!(decimal_text(i64::MIN), "-922337203685477.5808");
    }

    #[test]
    fn signed_durations() {
        assert_eq!(signed_duration_ms("-5h"), Ok(-5 * 3_600_000));
        assert_eq!(signed_duration_ms("1d2h3m4s5ms"), Ok(93_784_005));
        assert!(signed_duration_ms("-").is_err());
        assert!(signed_duration_ms("").is_err());
        assert!(signed_duration_ms("--5h").is_err());
        assert!(signed_duration_ms("5h-").is_err());
    }

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
        // Cedar's `datetime` forms (issue 17): a date alone, `±hhmm` offsets.
        assert_eq!(time_ms("1970-01-02"), Ok(86_400_000));
        assert_eq!(time_ms("1970-01-01T00:00:00-0500"), Ok(5 * 3_600_000));
        assert_eq!(time_ms("1970-01-01T05:00:00.125+0500"), Ok(125));
        assert_eq!(time_ms("1970-01-01T00:01Z"), Ok(60_000));
        // Strict: no other separator, no stray text, no non-digit fraction (which used to underflow).
        for bad in [
            "1970-01-01X00:00:00Z",
            "1970-01-01T00:00:00",
            "1970-01-01T00:00:00.!!Z",
            "1970-01-01T00:00:00.Z",
            "1970-01-01T00:00:00Zjunk",
            "1970-01-01T00:00:00+05",
            "1970-01-01T00:00:00+05:0",
            "1970-01-01T0:00:00Z",
            "1970-01-01T00-00-00Z",
            "1970-01-01 ",
        ] {
            assert!(time_ms(bad).is_err(), "{bad}");
        }
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
