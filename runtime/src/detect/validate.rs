//! Checksums and structural checks (`pattern "…" validate NAME`, and the
//! built-in detectors' confirmations): Luhn, IBAN mod-97, SSN structure.

/// Checksums a `pattern "…" validate NAME` detector can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validator {
    Luhn,
    Mod97,
    Ssn,
    Secret,
}

pub(super) fn validator(name: &str) -> Option<Validator> {
    match name {
        "luhn" => Some(Validator::Luhn),
        "mod97" | "iban" => Some(Validator::Mod97),
        "ssn" => Some(Validator::Ssn),
        "secret" => Some(Validator::Secret),
        _ => None,
    }
}

pub fn validate(v: Validator, candidate: &str) -> bool {
    match v {
        Validator::Luhn => luhn(candidate),
        Validator::Mod97 => iban(candidate),
        Validator::Ssn => ssn(candidate),
        Validator::Secret => secret(candidate),
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

/// The Luhn check over the digits of `s`, other bytes skipped.
pub(super) fn luhn_bytes(s: &[u8]) -> bool {
    let sum: u32 = s
        .iter()
        .rev()
        .filter(|c| c.is_ascii_digit())
        .map(|c| u32::from(c - b'0'))
        .enumerate()
        .map(|(i, d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d })
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
    mod97(s, false)
}

/// The same, lowercase letters read as uppercase.
pub(super) fn iban_ignoring_case(s: &str) -> bool {
    mod97(s, true)
}

fn mod97(s: &str, fold: bool) -> bool {
    let compact = || s.chars().filter(|c| !c.is_whitespace());
    let len: usize = compact().map(char::len_utf8).sum();
    if !(15..=34).contains(&len) || !compact().all(|c| c.is_ascii()) {
        return false;
    }
    // The country and check digits go last.
    let mut remainder: u32 = 0;
    for c in compact().skip(4).chain(compact().take(4)) {
        let c = if fold { c.to_ascii_uppercase() } else { c };
        let value = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        remainder = if value >= 10 { (remainder * 100 + value) % 97 } else { (remainder * 10 + value) % 97 };
    }
    remainder == 1
}

/// US SSN structure (`AAA-GG-SSSS`, `AAA GG SSSS` or nine bare digits):
/// area not 000, 666 or 900–999; group not 00; serial not 0000. Whether
/// nine bare digits are an SSN at all is for the context to say (a keyword
/// before them, a pattern's own context, a JSON key named `ssn`).
pub fn ssn(s: &str) -> bool {
    let mut parts = s.split(['-', ' ']);
    let (area, group, serial) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(area), Some(group), Some(serial), None) => (area, group, serial),
        (Some(bare), None, None, None) if bare.len() == 9 => {
            (bare.get(..3).unwrap_or(""), bare.get(3..5).unwrap_or(""), bare.get(5..).unwrap_or(""))
        }
        _ => return false,
    };
    if area.len() != 3
        || group.len() != 2
        || serial.len() != 4
        || !s.bytes().all(|c| c.is_ascii_digit() || c == b'-' || c == b' ')
    {
        return false;
    }
    let (Ok(a), Ok(g), Ok(n)) = (area.parse::<u32>(), group.parse::<u32>(), serial.parse::<u32>()) else {
        return false;
    };
    a != 0 && a != 666 && a < 900 && g != 0 && n != 0
}

/// Shannon entropy of the characters of `s`, in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts: Vec<(char, u32)> = Vec::new();
    let mut n = 0u32;
    for c in s.chars() {
        n += 1;
        match counts.iter_mut().find(|(k, _)| *k == c) {
            Some((_, k)) => *k += 1,
            None => counts.push((c, 1)),
        }
    }
    let n = f64::from(n.max(1));
    counts.iter().map(|(_, k)| f64::from(*k) / n).map(|p| -p * p.log2()).sum()
}

/// Words that stand in for a secret in documentation, templates and tests.
const PLACEHOLDERS: [&str; 13] = [
    "changeme",
    "change_me",
    "change-me",
    "example",
    "placeholder",
    "password",
    "passw0rd",
    "redacted",
    "secret",
    "dummy",
    "sample",
    "your_",
    "your-",
];

/// A file path (`/etc/ssl/private/x.pem`, `~/.ssh/id_ed25519`): short
/// segments of name characters. A base64 key that starts with `/` has long
/// segments, `+` or `=`.
fn looks_like_path(s: &str) -> bool {
    let rest = s.strip_prefix("~/").or_else(|| s.strip_prefix("./")).or_else(|| s.strip_prefix('/'));
    rest.is_some_and(|r| {
        r.split('/').all(|seg| seg.len() <= 32 && seg.bytes().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c)))
    })
}

/// A value that looks like a real secret rather than a placeholder
/// (`validate secret`; gitleaks and detect-secrets filter their generic
/// rules the same way): at least 8 characters; not a reference to one
/// (`${DB_PASSWORD}`, `$DB_PASSWORD`, `{{ secret }}`, `<password>`, `%s`,
/// `os.environ[…]`, a function call, a file path); not a stand-in
/// (`changeme`, `example`, `your-api-key`, `xxxxxxxx`, `********`, a
/// `tok2_` token, one character making up 40 % of it); not only digits
/// (ids, ports, timestamps); without a digit, only when random-looking (3
/// bits of entropy per character) and long (16+) or of 10+ characters
/// mixing cases as no word does (`REPLACE_ME`, `Authorization` and
/// `required.` are words); with a digit, at least 2 bits per character.
pub fn secret(s: &str) -> bool {
    let len = s.chars().count();
    if !(8..=1024).contains(&len) {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    let reference = s.contains("%s")
        || ["${", "{{", "%(", "<", ">", "[", "](", "()", "://", "environ", "getenv", "process.env"]
            .iter()
            .any(|r| lower.contains(r))
        || (s.starts_with('$') && s.chars().nth(1).is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '{'))
        || looks_like_path(s)
        || lower.starts_with("tok_")
        || lower.starts_with("tok2_");
    if reference || PLACEHOLDERS.iter().any(|p| lower.contains(p)) {
        return false;
    }
    let mut counts = [0usize; 256];
    for b in s.bytes() {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c += 1;
        }
    }
    if counts.iter().max().is_some_and(|m| *m * 10 >= s.len() * 4) {
        return false; // `xxxxxxxxxxxx`, `********`, `ghp_xxxx…`
    }
    if s.bytes().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let h = entropy(s);
    if !s.bytes().any(|c| c.is_ascii_digit()) {
        // Without a digit: long, or mixing cases like no word does.
        let upper = s.bytes().filter(u8::is_ascii_uppercase).count();
        let lower = s.bytes().filter(u8::is_ascii_lowercase).count();
        let symbol = s.bytes().any(|c| !c.is_ascii_alphanumeric());
        let mixed = upper >= 2 && lower >= 2 && (symbol || upper >= 3);
        return h >= 3.0 && (len >= 16 || mixed && len >= 10);
    }
    h >= 2.0
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
