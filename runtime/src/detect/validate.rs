//! Checksums and structural checks (`pattern "…" validate NAME`, and the
//! built-in detectors' confirmations): Luhn, IBAN mod-97, SSN structure.

/// Checksums a `pattern "…" validate NAME` detector can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validator {
    Luhn,
    Mod97,
    Ssn,
}

pub(super) fn validator(name: &str) -> Option<Validator> {
    match name {
        "luhn" => Some(Validator::Luhn),
        "mod97" | "iban" => Some(Validator::Mod97),
        "ssn" => Some(Validator::Ssn),
        _ => None,
    }
}

pub fn validate(v: Validator, candidate: &str) -> bool {
    match v {
        Validator::Luhn => luhn(candidate),
        Validator::Mod97 => iban(candidate),
        Validator::Ssn => ssn(candidate),
    }
}

pub(super) fn luhn_digits(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { *d })
        .sum();
    sum.is_multiple_of(10)
}

/// The Luhn checksum of the digits of `s` (separators ignored), 13–19 digits.
pub fn luhn(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    (13..=19).contains(&digits.len()) && luhn_digits(&digits)
}

/// IBAN mod-97 check (ISO 13616), spaces ignored.
pub fn iban(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) || !compact.is_ascii() {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut remainder: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let value = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        remainder = if value >= 10 { (remainder * 100 + value) % 97 } else { (remainder * 10 + value) % 97 };
    }
    remainder == 1
}

/// US SSN structure (`AAA-GG-SSSS` or `AAA GG SSSS`): area not 000, 666 or
/// 900–999; group not 00; serial not 0000.
pub fn ssn(s: &str) -> bool {
    let parts: Vec<&str> = s.split(['-', ' ']).collect();
    let [area, group, serial] = parts.as_slice() else { return false };
    if area.len() != 3 || group.len() != 2 || serial.len() != 4 {
        return false;
    }
    let (Ok(a), Ok(g), Ok(n)) = (area.parse::<u32>(), group.parse::<u32>(), serial.parse::<u32>()) else {
        return false;
    };
    a != 0 && a != 666 && a < 900 && g != 0 && n != 0
}

/// The registered IBAN length per country (ISO 13616 registry).
pub(super) fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "FO" | "GL" | "NL" => 18,
        "MK" | "SI" => 19,
        "AT" | "BA" | "EE" | "KZ" | "LT" | "LU" | "XK" => 20,
        "CH" | "HR" | "LI" | "LV" => 21,
        "BG" | "BH" | "CR" | "DE" | "GB" | "GE" | "IE" | "ME" | "RS" | "VA" => 22,
        "AE" | "GI" | "IL" | "IQ" | "TL" => 23,
        "AD" | "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" | "VG" => 24,
        "PT" | "ST" => 25,
        "IS" | "TR" => 26,
        "FR" | "GR" | "IT" | "MC" | "MR" | "SM" => 27,
        "AL" | "AZ" | "BY" | "CY" | "DO" | "GT" | "HU" | "LB" | "PL" | "SV" => 28,
        "BR" | "EG" | "PS" | "QA" | "UA" => 29,
        "JO" | "KW" | "MU" => 30,
        "MT" | "SC" => 31,
        "LC" => 32,
        _ => return None,
    })
}
