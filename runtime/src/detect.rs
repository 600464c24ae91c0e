//! String matchers: `like` globs, `matches` regexes and detectors.
//!
//! Detectors find sensitive or hostile content in text: for masking
//! ([`Scanner::find_selected`]) and for conditions such as
//! `context.query matches inputs.sql_injection` ([`Matcher`]).
//!
//! # One pass
//!
//! All detectors of a program are compiled into one multi-pattern regex,
//! ordered by priority (specific credentials first, phone numbers last). A
//! [`Scanner`] never runs one regex per detector:
//!
//! - When every detector is a built-in one (`stdlib.pii`), a single pass over
//!   the bytes looks for **triggers** — digits, `@`, `:`, and the first bytes
//!   of the literal prefixes (`eyJ`, `AKIA`, `Bearer`, `-----BEGIN`, …) — and
//!   derives the positions where a match can start. The multi-pattern regex
//!   then runs *anchored* at those positions only. Text without triggers is
//!   skipped at the speed of a table lookup per byte.
//! - Otherwise (user `pattern` and `keywords` detectors, whose prefixes are
//!   unknown) the same regex runs unanchored over the text.
//!
//! Either way a candidate is **confirmed** before it is reported: checksums
//! (Luhn, mod-97), structural rules (SSN areas, issuer prefixes and lengths,
//! IPv6 parsing, a JWT header that decodes to JSON with `alg`) and context
//! (a card number that is the middle of a longer digit sequence, a phone
//! number that is really a date or an amount). A rejected candidate gives way
//! to the next pattern that matches at the same position. Matches never
//! overlap and come left to right. Everything is linear in the text.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use regex_automata::meta::Regex;
use regex_automata::{Anchored, Input, PatternSet};
use ward_ir::{Detector, DetectorPart, Pattern};

/// A compiled `Pattern`.
#[derive(Debug)]
pub enum Matcher {
    Glob(Vec<String>),
    Regex(Regex),
    Detector(Box<Scanner>),
    /// A pattern that failed to compile: matching it is an evaluation error.
    Invalid(String),
}

/// Checksums a `pattern "…" validate NAME` detector can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validator {
    Luhn,
    Mod97,
    Ssn,
}

/// The built-in recognisers. The order is the priority when two of them
/// match at the same position: the most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    PrivateKey,
    Putty,
    Jwt,
    Bearer,
    AwsKeyId,
    AwsSecret,
    Email,
    Iban,
    Card,
    Ssn,
    Ipv6,
    Ipv4,
    Phone,
}

const OCTET: &str = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";

fn kind_regex(kind: Kind) -> String {
    match kind {
        Kind::PrivateKey => r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----".to_string(),
        Kind::Putty => r"PuTTY-User-Key-File-[0-9]{1,2}: ".to_string(),
        Kind::Jwt => r"(?-u:\b)eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*".to_string(),
        Kind::Bearer => r"(?-u:\b)(?:Bearer|bearer|BEARER)[ \t]+[A-Za-z0-9._~+/-]{16,}=*".to_string(),
        Kind::AwsKeyId => r"(?-u:\b)(?:AKIA|ASIA)[A-Z2-7]{16}(?-u:\b)".to_string(),
        Kind::AwsSecret => {
            r#"(?-u:\b)(?:aws|AWS)_?(?:secret|SECRET)_?(?:access|ACCESS)?_?(?:key|KEY)["']?[ \t]*[:=][ \t]*["']?[A-Za-z0-9/+]{40}"#
                .to_string()
        }
        Kind::Email => {
            r"[\p{Alphabetic}\p{N}_.%+\-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?-u:\b)".to_string()
        }
        Kind::Iban => r"(?-u:\b)[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?(?-u:\b)".to_string(),
        Kind::Card => r"(?-u:\b)[0-9](?:[ -]?[0-9]){12,18}(?-u:\b)".to_string(),
        Kind::Ssn => r"(?-u:\b)[0-9]{3}(?:-[0-9]{2}-| [0-9]{2} )[0-9]{4}(?-u:\b)".to_string(),
        // Eight groups, six and an IPv4 tail, or a `::` somewhere: never
        // fewer colons than an address has (`10:22:33` is a time).
        Kind::Ipv6 => {
            let h = "[0-9A-Fa-f]{1,4}";
            let v4 = format!(r"{OCTET}(?:\.{OCTET}){{3}}");
            format!(
                r"(?:(?:{h}:){{7}}{h}|(?:{h}:){{6}}{v4}|(?:(?:{h}:){{1,7}}|:):(?:(?:{h}:){{0,6}}(?:{v4}|{h}))?)(?:%[0-9A-Za-z._-]{{1,32}})?"
            )
        }
        Kind::Ipv4 => format!(r"(?-u:\b)(?:{OCTET}\.){{3}}{OCTET}(?-u:\b)"),
        Kind::Phone => concat!(
            r"(?:\+[0-9]{1,3}[ .-]?(?:\(0\)[ .-]?)?(?:\([0-9]{1,5}\)[ .-]?)?",
            r"|\([0-9]{1,5}\)[ .-]?",
            r"|(?-u:\b))",
            r"[0-9](?:[ .\-/]?[0-9]){5,16}(?-u:\b)"
        )
        .to_string(),
    }
}

/// A piece of a built-in detector.
enum BuiltinPart {
    Kind(Kind),
    /// A plain regex, confirmed by nothing (the input detectors).
    Plain(&'static str),
}

fn builtin_parts(name: &str) -> Option<Vec<BuiltinPart>> {
    use BuiltinPart::{Kind as K, Plain};
    Some(match name {
        "email" => vec![K(Kind::Email)],
        "phone" => vec![K(Kind::Phone)],
        "credit_card" => vec![K(Kind::Card)],
        "ssn" => vec![K(Kind::Ssn)],
        "iban" => vec![K(Kind::Iban)],
        "ipv4" => vec![K(Kind::Ipv4)],
        "ipv6" => vec![K(Kind::Ipv6)],
        "aws_access_key" => vec![K(Kind::AwsKeyId), K(Kind::AwsSecret)],
        "bearer_token" => vec![K(Kind::Bearer)],
        "jwt" => vec![K(Kind::Jwt)],
        "private_key" => vec![K(Kind::PrivateKey), K(Kind::Putty)],
        "sql_injection" => vec![Plain(
            r"(?i)(?:\bunion\b[\s\S]{0,40}\bselect\b|'\s*(?:or|and)\s+'?[0-9a-z]+'?\s*=\s*'?[0-9a-z]+|;\s*(?:drop|delete|insert|update|alter|truncate)\b|\bor\s+1\s*=\s*1\b|--\s*$|/\*[\s\S]*?\*/|\bxp_cmdshell\b|\bsleep\s*\()",
        )],
        "shell_metachar" => vec![Plain(r"[;&|`]|\$\(|\$\{|>\s*/|<\(")],
        "path_traversal" => vec![Plain(r"(?:^|[/\\])\.\.(?:[/\\]|$)|%2e%2e|^/etc/|^[A-Za-z]:\\")],
        "prompt_injection" => vec![Plain(
            r"(?i)\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier)\s+(?:instructions|prompts|rules)|\bsystem\s+prompt\b|\byou\s+are\s+now\s+(?:in\s+)?(?:developer|dan|jailbreak)|\bact\s+as\s+(?:an?\s+)?(?:unrestricted|jailbroken)",
        )],
        _ => return None,
    })
}

/// The regexes of a built-in detector (each confirmed by its own rules).
pub fn builtin_regexes(name: &str) -> Option<Vec<String>> {
    builtin_parts(name).map(|parts| {
        parts
            .into_iter()
            .map(|p| match p {
                BuiltinPart::Kind(k) => kind_regex(k),
                BuiltinPart::Plain(r) => r.to_string(),
            })
            .collect()
    })
}

fn validator(name: &str) -> Option<Validator> {
    match name {
        "luhn" => Some(Validator::Luhn),
        "mod97" | "iban" => Some(Validator::Mod97),
        "ssn" => Some(Validator::Ssn),
        _ => None,
    }
}

fn compile_regex(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| format!("pattern `{pattern}` does not compile: {e}"))
}

/// Compiles a program's patterns.
pub fn compile(pattern: &Pattern, detectors: &[Detector]) -> Matcher {
    match pattern {
        Pattern::Glob(g) => Matcher::Glob(g.split('*').map(str::to_string).collect()),
        Pattern::Regex(r) => compile_regex(r).map_or_else(Matcher::Invalid, Matcher::Regex),
        Pattern::Detector(d) => match detectors.get(*d as usize) {
            Some(detector) => match Scanner::new(std::slice::from_ref(detector)) {
                Ok(scanner) => Matcher::Detector(Box::new(scanner)),
                Err(e) => Matcher::Invalid(e),
            },
            None => Matcher::Invalid(format!("unknown detector #{d}")),
        },
    }
}

impl Matcher {
    /// Whether `text` matches: the whole string for a glob, anywhere for a
    /// regex or detector.
    pub fn is_match(&self, text: &str) -> Result<bool, String> {
        match self {
            Matcher::Glob(pieces) => Ok(glob(pieces, text)),
            Matcher::Regex(r) => Ok(r.is_match(text)),
            Matcher::Detector(scanner) => Ok(scanner.is_match(text)),
            Matcher::Invalid(e) => Err(e.clone()),
        }
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pieces: &[String], text: &str) -> bool {
    let [first, middle @ .., last] = pieces else {
        return pieces.first().is_some_and(|p| p == text);
    };
    let Some(mut rest) = text.strip_prefix(first.as_str()) else { return false };
    for piece in middle {
        match rest.find(piece.as_str()) {
            Some(at) => rest = rest.get(at + piece.len()..).unwrap_or(""),
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last.as_str())
}

pub fn validate(v: Validator, candidate: &str) -> bool {
    match v {
        Validator::Luhn => luhn(candidate),
        Validator::Mod97 => iban(candidate),
        Validator::Ssn => ssn(candidate),
    }
}

fn luhn_digits(digits: &[u32]) -> bool {
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
fn iban_length(country: &str) -> Option<usize> {
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

// ───────────────────────── confirming candidates ─────────────────────────

fn byte(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

/// The byte `n` positions before `i` (0 before the start).
fn before(b: &[u8], i: usize, n: usize) -> u8 {
    i.checked_sub(n).map_or(0, |j| byte(b, j))
}

fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn digits_from(b: &[u8], i: usize) -> usize {
    b.get(i..).map_or(0, |r| r.iter().take_while(|c| c.is_ascii_digit()).count())
}

fn digits_before(b: &[u8], i: usize) -> usize {
    b.get(..i).map_or(0, |r| r.iter().rev().take_while(|c| c.is_ascii_digit()).count())
}

/// Whether a run of digits is part of a token of another shape: an IP
/// address, a time, a path, a version, a hex string (`10.0.0.1`, `12:30`,
/// `v1.2`, `8d:30:0e`), given the byte that delimits the run and the one
/// beyond it.
fn other_token(delimiter: u8, beyond: u8) -> bool {
    delimiter.is_ascii_alphabetic() || (matches!(delimiter, b'.' | b':' | b'/') && beyond.is_ascii_alphanumeric())
}

/// Whether the number at `s..e` continues on either side: another group
/// of the same number after a separator, thousands before it, a decimal
/// part after it. It is then a piece of a longer number (a tracking code,
/// an amount), not a number of its own. Digits that belong to a token of
/// another shape (`10.0.0.1 4111 1111 1111 1111`, `… 14:41:18`) or to the
/// next field of a CSV row (`…,4111111111111111,536-22-8145`) do not count.
fn glued(b: &[u8], s: usize, e: usize, seps: &[u8]) -> bool {
    glued_before(b, s, seps) || glued_after(b, e, seps)
}

fn glued_before(b: &[u8], s: usize, seps: &[u8]) -> bool {
    let (p1, p2) = (before(b, s, 1), before(b, s, 2));
    if p1.is_ascii_digit() {
        return true;
    }
    if !p2.is_ascii_digit() {
        return false;
    }
    let run = digits_before(b, s - 1);
    let thousands = run <= 3 && digits_from(b, s) == 3 && matches!(byte(b, s + 3), b'.' | b',');
    if p1 == b'.' || (p1 == b',' && thousands) {
        return true; // `1.4111…`, `15,630,995.76`
    }
    seps.contains(&p1) && !other_token(before(b, s - 1 - run, 1), before(b, s - 1 - run, 2))
}

fn glued_after(b: &[u8], e: usize, seps: &[u8]) -> bool {
    let (n1, n2) = (byte(b, e), byte(b, e + 1));
    if n1.is_ascii_digit() {
        return true;
    }
    if !n2.is_ascii_digit() {
        return false;
    }
    let run = digits_from(b, e + 1);
    if n1 == b'.' || (n1 == b',' && run <= 2) {
        return true; // a decimal part
    }
    seps.contains(&n1) && !other_token(byte(b, e + 1 + run), byte(b, e + 2 + run))
}

/// Payment card: uniform grouping, an issuer prefix in use with one of its
/// lengths, and the Luhn check.
fn card(b: &[u8], s: usize, e: usize) -> bool {
    let Some(cand) = b.get(s..e) else { return false };
    let digits: Vec<u32> = cand.iter().filter(|c| c.is_ascii_digit()).map(|c| u32::from(c - b'0')).collect();
    let sep = cand.iter().copied().find(|c| !c.is_ascii_digit());
    if let Some(sep) = sep {
        let groups: Vec<&[u8]> = cand.split(|c| *c == sep).collect();
        if groups.iter().any(|g| g.iter().any(|c| !c.is_ascii_digit())) {
            return false; // mixed separators
        }
        let Some((last, rest)) = groups.split_last() else { return false };
        if rest.first().map(|g| g.len()) != Some(4)
            || rest.iter().any(|g| !(4..=6).contains(&g.len()))
            || last.is_empty()
        {
            return false;
        }
    }
    let prefix = |k: usize| digits.iter().take(k).fold(0u32, |acc, d| acc * 10 + d);
    let n = digits.len();
    let brand = match () {
        _ if prefix(1) == 4 => n == 16 || n == 19 || (n == 13 && sep.is_some()),
        _ if (51..=55).contains(&prefix(2)) || (2221..=2720).contains(&prefix(4)) => n == 16,
        _ if prefix(2) == 34 || prefix(2) == 37 => n == 15,
        _ if prefix(4) == 6011 || prefix(2) == 65 || (644..=649).contains(&prefix(3)) || prefix(2) == 62 => {
            (16..=19).contains(&n)
        }
        _ if (3528..=3589).contains(&prefix(4)) => (16..=19).contains(&n),
        _ if (300..=305).contains(&prefix(3)) || matches!(prefix(2), 36 | 38 | 39) => (14..=19).contains(&n),
        _ => false,
    };
    brand && luhn_digits(&digits) && !glued(b, s, e, b" -")
}

/// Whether the text before `s` names a currency (`$ `, `€`, `EUR `, `R$ `):
/// what follows is an amount.
fn after_currency(text: &str, s: usize) -> bool {
    let head = text.get(..s).unwrap_or("");
    let head = head.strip_suffix(' ').unwrap_or(head);
    ["$", "€", "£", "¥", "₹", "EUR", "USD", "GBP", "INR", "BRL", "CHF", "Rs", "Rs."].iter().any(|c| head.ends_with(c))
}

/// Words that introduce an identifier rather than a telephone number.
const ID_WORDS: [&str; 27] = [
    "order",
    "ref",
    "reference",
    "serial",
    "sn",
    "invoice",
    "inv",
    "lot",
    "sku",
    "ticket",
    "case",
    "tracking",
    "account",
    "acct",
    "po",
    "id",
    "no",
    "nr",
    "isbn",
    "imei",
    "model",
    "part",
    "build",
    "meeting",
    "passcode",
    "pin",
    "code",
];

/// Words that introduce a telephone number (`Tel. no.`, `Telefon-Nr.`).
const PHONE_WORDS: [&str; 16] = [
    "tel",
    "phone",
    "telephone",
    "mobile",
    "mob",
    "cell",
    "fax",
    "call",
    "contact",
    "handy",
    "telefon",
    "tél",
    "téléphone",
    "portable",
    "telefone",
    "celular",
];

/// Whether the words just before `s` (on the same line) say that what
/// follows is an identifier: `Serial`, `Order no.`, `ID:`, `#`.
fn id_context(text: &str, s: usize) -> bool {
    let head = text.get(..s).unwrap_or("");
    let line = head.rsplit('\n').next().unwrap_or(head);
    let words: Vec<String> = line
        .split(|c: char| !c.is_alphanumeric() && c != '#')
        .filter(|w| !w.is_empty())
        .rev()
        .take(2)
        .map(str::to_lowercase)
        .collect();
    let Some(last) = words.first() else { return false };
    let phone_word = |w: &String| PHONE_WORDS.iter().any(|p| w == p || w.starts_with(p));
    if words.iter().any(phone_word) {
        return false;
    }
    last.ends_with('#') || ID_WORDS.contains(&last.as_str())
}

/// Telephone numbers: 7 to 15 digits (8 to 15 after `+`), grouped, and not
/// something else that is written with digits and separators.
fn phone(text: &str, s: usize, e: usize) -> bool {
    let b = text.as_bytes();
    let Some(cand) = b.get(s..e) else { return false };
    let plus = cand.first() == Some(&b'+');
    let paren = cand.contains(&b'(');
    // Digit groups (start, len, in parentheses) and the separators between them.
    let mut groups: Vec<(usize, usize, bool)> = Vec::new();
    let mut seps: Vec<u8> = Vec::new();
    let mut in_paren = false;
    let mut start = None;
    for (i, &c) in cand.iter().enumerate() {
        if c.is_ascii_digit() {
            start.get_or_insert(i);
            continue;
        }
        if let Some(st) = start.take() {
            groups.push((st, i - st, in_paren));
        }
        match c {
            b'(' => in_paren = true,
            b')' => in_paren = false,
            b'+' => {}
            _ => seps.push(c),
        }
    }
    if let Some(st) = start {
        groups.push((st, cand.len() - st, in_paren));
    }
    let digits: usize = groups.iter().map(|g| g.1).sum();
    if !(if plus { 8..=15 } else { 7..=15 }).contains(&digits) {
        return false;
    }
    // A trunk prefix written `(0)` is not a group of its own.
    let mut groups: Vec<(usize, usize, bool)> =
        groups.into_iter().filter(|&(st, len, p)| !(p && len == 1 && cand.get(st) == Some(&b'0'))).collect();
    if plus && groups.len() >= 2 {
        groups.remove(0); // the country code
    }
    if !plus && !paren && groups.len() < 2 {
        return false; // a bare run of digits
    }
    if groups.iter().skip(1).any(|g| g.1 == 1) {
        return false; // `1.3.6.1.4`, `1.1 200 1534`
    }
    let lens: Vec<usize> = groups.iter().map(|g| g.1).collect();
    let group = |i: usize| groups.get(i).and_then(|&(st, len, _)| cand.get(st..st + len)).unwrap_or(b"");
    let year = |g: &[u8]| g.len() == 4 && (g.starts_with(b"19") || g.starts_with(b"20"));
    if !plus && !paren {
        let sep0 = seps.first().copied().unwrap_or(0);
        let uniform = seps.iter().all(|c| *c == sep0);
        if lens.len() == 2 && (digits < 10 || lens.iter().any(|l| *l < 3) || (year(group(0)) && sep0 == b'-')) {
            return false; // `2019-2024`, `2024-0001234`, `1577584812 96`
        }
        let date_seps = seps.len() >= 2 && seps.first() == seps.get(1) && matches!(sep0, b'-' | b'.' | b'/');
        let ymd = year(group(0)) && lens.get(1).is_some_and(|l| *l <= 2) && lens.get(2).is_some_and(|l| *l <= 2);
        let dmy = lens.first().is_some_and(|l| *l <= 2) && lens.get(1).is_some_and(|l| *l <= 2) && year(group(2));
        if date_seps && (ymd || dmy) {
            return false; // a date, perhaps followed by a time
        }
        if lens == [3, 2, 4] {
            return false; // shaped like an SSN
        }
        if uniform
            && matches!(sep0, b' ' | b'.')
            && lens.first().is_some_and(|l| *l <= 3)
            && lens.iter().skip(1).all(|l| *l == 3)
        {
            return false; // thousands: `12 345 678`
        }
        if uniform && sep0 == b'.' && lens.len() == 4 && lens.iter().all(|l| *l <= 3) {
            return false; // shaped like an IPv4 address
        }
        if year(group(0)) && matches!(sep0, b'-' | b'/') || (0..lens.len()).all(|i| year(group(i))) {
            return false; // `2023/11/0042`, `2020-123-456`, `2004 2005 2006`
        }
        if lens.last().is_some_and(|l| *l <= 2) && !lens.iter().all(|l| *l == 2) {
            return false; // `1234-5678-90`: only the French layout ends in pairs
        }
        if id_context(text, s) {
            return false; // `Serial 1234 5678 9012`, `Meeting ID: 845 2231 9087`
        }
    }
    let (p1, p2) = (before(b, s, 1), before(b, s, 2));
    let (n1, n2) = (byte(b, e), byte(b, e + 1));
    if !plus && cand.first().is_some_and(u8::is_ascii_digit) {
        if p1 == b'+' || p1 == b'#' || (p1 == b'-' && p2.is_ascii_alphanumeric()) {
            return false; // `#4155550142`, the tail of an id: `INV-2024-000123`
        }
        if glued(b, s, e, b" .-/") {
            return false;
        }
    } else if glued_after(b, e, b" .-/") {
        return false;
    }
    if (n1 == b':' && n2.is_ascii_alphanumeric()) || (n1 == b'-' && n2.is_ascii_alphanumeric()) {
        return false; // a time or an id follows
    }
    !after_currency(text, s)
}

/// A number at `s..e` that `valid` accepts, or else a prefix of it cut at a
/// separator (with at least `min_digits` digits): the regexes are greedy and
/// take a number that follows after a space (`0159 51653067 89:d1:…`).
fn shortest_cut(
    b: &[u8],
    s: usize,
    mut e: usize,
    min_digits: usize,
    valid: impl Fn(usize) -> bool,
) -> Option<(usize, usize)> {
    for _ in 0..8 {
        if valid(e) {
            return Some((s, e));
        }
        let cut = b.get(s..e)?.iter().rposition(|c| matches!(c, b' ' | b'.' | b'-' | b'/'))?;
        e = s + cut;
        if b.get(s..e)?.iter().filter(|c| c.is_ascii_digit()).count() < min_digits {
            return None;
        }
    }
    None
}

/// IBAN: a registered country, its length, groups of four, mod-97. A
/// candidate that ran on into the next group is cut back to the length.
fn iban_at(text: &str, s: usize, e: usize) -> Option<(usize, usize)> {
    let cand = text.get(s..e)?;
    let length = iban_length(&cand.get(..2)?.to_ascii_uppercase())?;
    let mut count = 0;
    let mut end = None;
    for (i, c) in cand.char_indices() {
        if c != ' ' {
            count += 1;
            if count == length {
                end = Some(i + 1);
                break;
            }
        }
    }
    let end = end?;
    let rest = cand.get(end..)?;
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    let kept = cand.get(..end)?;
    if kept.contains(' ') {
        let groups: Vec<&str> = kept.split(' ').collect();
        let (last, full) = groups.split_last()?;
        if full.iter().any(|g| g.len() != 4) || last.is_empty() || last.len() > 4 {
            return None;
        }
    }
    iban(&kept.to_ascii_uppercase()).then_some((s, s + end))
}

fn ipv4_ok(b: &[u8], s: usize, e: usize) -> bool {
    let dotted_before = before(b, s, 1) == b'.' && before(b, s, 2).is_ascii_alphanumeric();
    let dotted_after = byte(b, e) == b'.' && byte(b, e + 1).is_ascii_digit();
    !(dotted_before || dotted_after)
}

/// IPv6: what the standard library parses, with an optional zone; a stray
/// `:` before or after (a label, a log separator) is not part of it.
fn ipv6_at(text: &str, mut s: usize, mut e: usize) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let zone = text.get(s..e)?.find('%');
    let mut addr_end = zone.map_or(e, |z| s + z);
    for _ in 0..3 {
        let addr = text.get(s..addr_end)?;
        if addr.parse::<std::net::Ipv6Addr>().is_ok() {
            break;
        }
        if addr.ends_with(':') && !addr.ends_with("::") {
            addr_end -= 1;
            e = addr_end; // the zone went with it
        } else if addr.starts_with(':') && !addr.starts_with("::") {
            s += 1;
        } else {
            return None;
        }
    }
    let addr = text.get(s..addr_end)?;
    addr.parse::<std::net::Ipv6Addr>().ok()?;
    let groups = addr.split(':').filter(|g| !g.is_empty()).count();
    if !(addr.bytes().any(|c| c.is_ascii_digit()) || groups >= 3) {
        return None; // `a::b`, `std::`
    }
    let (p1, p2) = (before(b, s, 1), before(b, s, 2));
    let (n1, n2) = (byte(b, e), byte(b, e + 1));
    if p1.is_ascii_alphanumeric() || p1 == b'_' || p1 == b'.' || n1.is_ascii_alphanumeric() || n1 == b'_' {
        return None;
    }
    if p1 == b':' && is_hex_or_colon(p2) {
        return None; // inside a longer run of hex digits and colons; only `label:` may precede
    }
    if n1 == b'.' && n2.is_ascii_digit() {
        return None;
    }
    Some((s, e))
}

/// `aws_secret_access_key = …`: only the 40-character secret is the match.
fn aws_secret(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    let n = byte(b, e);
    if n.is_ascii_alphanumeric() || matches!(n, b'/' | b'+' | b'=') || e < s + 40 {
        return None;
    }
    Some((e - 40, e))
}

/// `Bearer …`: only the token is the match. Words (`Bearer authentication`)
/// are not tokens: a token has a digit or mixes cases.
fn bearer(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    let mut t = s + 6;
    while matches!(byte(b, t), b' ' | b'\t') {
        t += 1;
    }
    let token = b.get(t..e)?;
    let digit = token.iter().any(u8::is_ascii_digit);
    let mixed = token.iter().any(u8::is_ascii_uppercase) && token.iter().any(u8::is_ascii_lowercase);
    (digit || mixed).then_some((t, e))
}

/// A JWT's first segment decodes to a JSON object with an `alg` member.
fn jwt(cand: &str) -> bool {
    let Some(header) = cand.split('.').next() else { return false };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header.trim_end_matches('=')) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|v| v.get("alg").is_some())
}

/// How far a private-key block may run past its header.
const KEY_WINDOW: usize = 64 * 1024;

/// Positions of a literal in the text, found once per scan and shared by
/// every candidate that needs them.
#[derive(Default)]
struct Marks {
    pem_ends: Option<Vec<usize>>,
    putty_macs: Option<Vec<usize>>,
}

fn all_positions(b: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(p) = b.get(at..).and_then(|h| find_bytes(h, needle)) {
        out.push(at + p);
        at += p + needle.len();
    }
    out
}

/// The first position in `sorted` at or after `from`, if before `limit`.
fn next_mark(sorted: &[usize], from: usize, limit: usize) -> Option<usize> {
    let i = sorted.partition_point(|p| *p < from);
    sorted.get(i).copied().filter(|p| *p < limit)
}

/// Extends a match over the lines that follow while `keep` accepts them.
fn extend_lines(b: &[u8], mut end: usize, keep: impl Fn(&[u8]) -> bool) -> usize {
    let limit = (end + KEY_WINDOW).min(b.len());
    loop {
        if byte(b, end) == b'\r' {
            end += 1;
        }
        if byte(b, end) != b'\n' || end >= limit {
            return end;
        }
        let from = end + 1;
        let line_end = b.get(from..limit).and_then(|r| r.iter().position(|c| *c == b'\n')).map_or(limit, |p| from + p);
        let line = b.get(from..line_end).unwrap_or(b"");
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || !keep(line) {
            return end;
        }
        end = from + line.len();
    }
}

/// A PEM private key: from the header to the end of its `-----END …-----`
/// line; without one (a key cut short), the header and the base64 lines
/// after it.
fn pem_block(b: &[u8], s: usize, e: usize, marks: &mut Marks) -> Option<(usize, usize)> {
    let ends = marks.pem_ends.get_or_insert_with(|| all_positions(b, b"-----END "));
    if let Some(end) = next_mark(ends, e, e + KEY_WINDOW) {
        let close = b.get(end + 9..).and_then(|r| find_bytes(r.get(..80).unwrap_or(r), b"-----"));
        if let Some(c) = close {
            return Some((s, end + 9 + c + 5));
        }
    }
    let body = |line: &[u8]| {
        line.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'\\'))
            || line.starts_with(b"Proc-Type:")
            || line.starts_with(b"DEK-Info:")
    };
    Some((s, extend_lines(b, e, body)))
}

/// A PuTTY key file: from its header to the end of its `Private-MAC:` line.
fn putty_block(b: &[u8], s: usize, e: usize, marks: &mut Marks) -> Option<(usize, usize)> {
    let macs = marks.putty_macs.get_or_insert_with(|| all_positions(b, b"Private-MAC: "));
    let end = match next_mark(macs, e, e + KEY_WINDOW) {
        Some(m) => {
            b.get(m..).and_then(|r| r.iter().position(|c| *c == b'\n' || *c == b'\r')).map_or(b.len(), |p| m + p)
        }
        None => {
            let line_end = b.get(e..).and_then(|r| r.iter().position(|c| *c == b'\n')).map_or(b.len(), |p| e + p);
            extend_lines(b, line_end, |line| !line.contains(&b' ') || line.contains(&b':'))
        }
    };
    Some((s, end))
}

fn confirm(kind: Kind, text: &str, s: usize, e: usize, marks: &mut Marks) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let ok = |yes: bool| yes.then_some((s, e));
    match kind {
        Kind::Email | Kind::AwsKeyId => Some((s, e)),
        Kind::Phone => shortest_cut(b, s, e, 7, |e| phone(text, s, e)),
        Kind::Card => shortest_cut(b, s, e, 13, |e| card(b, s, e)),
        Kind::Ssn => ok(ssn(text.get(s..e)?) && !glued(b, s, e, b"- ")),
        Kind::Iban => iban_at(text, s, e),
        Kind::Ipv4 => ok(ipv4_ok(b, s, e)),
        Kind::Ipv6 => ipv6_at(text, s, e),
        Kind::AwsSecret => aws_secret(b, s, e),
        Kind::Bearer => bearer(b, s, e),
        Kind::Jwt => ok(jwt(text.get(s..e)?)),
        Kind::PrivateKey => pem_block(b, s, e, marks),
        Kind::Putty => putty_block(b, s, e, marks),
    }
}

// ───────────────────────── the scanner ─────────────────────────

/// How a pattern's candidates are confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    None,
    Validator(Validator),
    Kind(Kind),
}

#[derive(Debug)]
struct PatternInfo {
    source: String,
    check: Check,
    /// The detectors (indexes into `Scanner::names`) this pattern belongs to.
    detectors: Vec<usize>,
    /// What it finds, for `[REDACTED:label]`.
    label: String,
    /// Priority: built-in kinds in `Kind` order, then the input detectors,
    /// then user patterns and keywords in declaration order.
    rank: usize,
}

/// What the trigger pass looks for.
#[derive(Debug, Clone, Copy, Default)]
struct Triggers {
    digits: bool,
    iban: bool,
    phone: bool,
    colon: bool,
    at: bool,
    jwt: bool,
    bearer: bool,
    aws_key: bool,
    aws_secret: bool,
    pem: bool,
    putty: bool,
}

impl Triggers {
    fn with(mut self, kind: Kind) -> Triggers {
        match kind {
            Kind::PrivateKey => self.pem = true,
            Kind::Putty => self.putty = true,
            Kind::Jwt => self.jwt = true,
            Kind::Bearer => self.bearer = true,
            Kind::AwsKeyId => self.aws_key = true,
            Kind::AwsSecret => self.aws_secret = true,
            Kind::Email => self.at = true,
            Kind::Iban => self.iban = true,
            Kind::Card | Kind::Ssn | Kind::Ipv4 => self.digits = true,
            Kind::Ipv6 => self.colon = true,
            Kind::Phone => {
                self.digits = true;
                self.phone = true;
            }
        }
        self
    }

    /// The trigger-byte classes to stop at.
    fn mask(&self) -> u8 {
        let mut m = 0;
        for (on, bit) in [(self.digits || self.iban, T_DIGIT), (self.at, T_AT), (self.colon, T_COLON)] {
            if on {
                m |= bit;
            }
        }
        m
    }

    /// The literal prefixes to look for, and what each starts.
    fn literals(&self) -> Vec<(&'static str, Literal)> {
        let mut out = Vec::new();
        if self.jwt {
            out.push(("eyJ", Literal::Word));
        }
        if self.aws_key {
            out.extend([("AKIA", Literal::Word), ("ASIA", Literal::Word)]);
        }
        if self.aws_secret {
            out.extend([("aws", Literal::Word), ("AWS", Literal::Word)]);
        }
        if self.bearer {
            out.extend([("Bearer", Literal::Word), ("bearer", Literal::Word), ("BEARER", Literal::Word)]);
        }
        if self.pem {
            out.extend([("-----BEGIN ", Literal::Start), ("-----END ", Literal::PemEnd)]);
        }
        if self.putty {
            out.push(("PuTTY-User-Key-File-", Literal::Start));
        }
        out
    }
}

/// What an occurrence of a literal prefix means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Literal {
    /// A match may start here if a word starts here.
    Word,
    /// A match may start here.
    Start,
    /// The end of a PEM block (see [`pem_block`]).
    PemEnd,
}

const T_DIGIT: u8 = 1;
const T_AT: u8 = 2;
const T_COLON: u8 = 4;

/// The trigger class of a byte.
fn trigger(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => T_DIGIT,
        b'@' => T_AT,
        b':' => T_COLON,
        _ => 0,
    }
}

/// Whether the number starting at `r` can be the start of a card, SSN,
/// IPv4 address or phone number that validates: at least seven digits
/// (four with three dots) before any byte none of them contains; not a
/// bare run of fewer than 13 digits (only a card is written without
/// separators, and only after `+` is a phone number); not a date.
fn numeric_token(b: &[u8], r: usize) -> bool {
    let run = digits_from(b, r);
    let after = byte(b, r + run);
    let prefixed = matches!(before(b, r, 1), b'+' | b'(');
    if !prefixed && !matches!(after, b' ' | b'.' | b'-' | b'/' | b'(' | b')') && run < 13 {
        return false;
    }
    if !prefixed && starts_with_date(b, r) {
        return false;
    }
    let (mut digits, mut dots) = (0, 0);
    for &c in b.iter().skip(r).take(40) {
        match c {
            b'0'..=b'9' => digits += 1,
            b'.' => dots += 1,
            b' ' | b'-' | b'/' | b'(' | b')' | b'+' => {}
            _ => break,
        }
        if digits >= 7 {
            return true;
        }
    }
    dots >= 3 && digits >= 4
}

/// `2024-03-15…`, `15.03.2024…`: a card's first group has four digits and
/// its groups one separator; an SSN is `ddd-dd-dddd`; a phone number that
/// starts with a date is rejected. Nothing that starts so validates.
fn starts_with_date(b: &[u8], r: usize) -> bool {
    let year = |i: usize| digits_from(b, i) == 4 && matches!((byte(b, i), byte(b, i + 1)), (b'1', b'9') | (b'2', b'0'));
    let short = |i: usize| (1..=2).contains(&digits_from(b, i));
    let sep = |i: usize| matches!(byte(b, i), b'-' | b'.' | b'/');
    let first = digits_from(b, r);
    if first == 4 && year(r) && sep(r + 4) && short(r + 5) {
        let m = r + 5 + digits_from(b, r + 5);
        return byte(b, m) == byte(b, r + 4) && short(m + 1);
    }
    if (1..=2).contains(&first) && sep(r + first) && short(r + first + 1) {
        let m = r + first + 1 + digits_from(b, r + first + 1);
        return byte(b, m) == byte(b, r + first) && year(m + 1);
    }
    false
}

fn is_local_part(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '%' | '+' | '-')
}

fn is_hex_or_colon(c: u8) -> bool {
    c.is_ascii_hexdigit() || c == b':'
}

/// Candidate start positions for built-in detectors: sorted, without
/// duplicates. One pass over the bytes stops at digits, `@` and `:`; one
/// Aho-Corasick search (SIMD where the CPU has it) finds the literal
/// prefixes. `pem_ends` receives the positions of `-----END `.
fn candidate_starts(t: &Triggers, literals: Option<&Literals>, text: &str, pem_ends: &mut Vec<usize>) -> Vec<usize> {
    let b = text.as_bytes();
    let mask = t.mask();
    let mut out: Vec<usize> = Vec::new();
    let mut sorted = true;
    let mut push = |out: &mut Vec<usize>, s: usize| {
        if out.last().is_some_and(|l| *l > s) {
            sorted = false;
        }
        if out.last() != Some(&s) {
            out.push(s);
        }
    };
    // The last `:` seen and the start of its run of hex digits and colons.
    let mut colon: Option<(usize, usize)> = None;
    let mut i = 0;
    while mask != 0
        && let Some(at) = next_trigger(b, i, mask)
    {
        i = at;
        let c = byte(b, i);
        if c.is_ascii_digit() {
            let run_end = i + digits_from(b, i);
            let prev = before(b, i, 1);
            if t.iban && i >= 2 && before(b, i, 2).is_ascii_alphabetic() && prev.is_ascii_alphabetic() {
                push(&mut out, i - 2);
            }
            if t.digits && numeric_token(b, i) {
                if t.phone && (prev == b'+' || prev == b'(') {
                    push(&mut out, i - 1);
                }
                push(&mut out, i);
            }
            i = run_end;
            continue;
        }
        if c == b'@' {
            let head = text.get(..i).unwrap_or("");
            let run: usize = head.chars().rev().take_while(|c| is_local_part(*c)).map(char::len_utf8).sum();
            if run > 0 {
                push(&mut out, i - run);
            }
        } else if c == b':' {
            let start = match colon {
                Some((last, start)) if b.get(last + 1..i).is_some_and(|r| r.iter().all(|c| is_hex_or_colon(*c))) => {
                    start
                }
                _ => {
                    let floor = colon.map_or(0, |(last, _)| last + 1);
                    let back =
                        b.get(floor..i).map_or(0, |r| r.iter().rev().take_while(|c| c.is_ascii_hexdigit()).count());
                    i - back
                }
            };
            colon = Some((i, start));
            // An address has a hex digit or another colon next to each colon.
            if is_hex_or_colon(before(b, i, 1)) || is_hex_or_colon(byte(b, i + 1)) {
                push(&mut out, start);
                if byte(b, start) == b':' {
                    push(&mut out, start + 1); // `host:2001:db8::1`
                }
            }
        }
        i += 1;
    }
    if let Some(lits) = literals {
        let mut found = Vec::new();
        for m in lits.automaton.find_iter(b) {
            let at = m.start();
            match lits.kinds.get(m.pattern().as_usize()) {
                Some(Literal::Word) if !is_word(before(b, at, 1)) => found.push(at),
                Some(Literal::Start) => found.push(at),
                Some(Literal::PemEnd) => pem_ends.push(at),
                _ => {}
            }
        }
        if !found.is_empty() {
            sorted = false;
            out.extend(found);
        }
    }
    if !sorted {
        out.sort_unstable();
        out.dedup();
    }
    out
}

/// The next byte at or after `from` in the trigger classes of `mask`.
/// Eight bytes at a time: a word without any byte in `'0'..=':'` or `'@'`
/// (the only trigger bytes) is skipped with a few arithmetic operations.
fn next_trigger(b: &[u8], from: usize, mask: u8) -> Option<usize> {
    const L: u64 = 0x0101_0101_0101_0101;
    const H: u64 = 0x8080_8080_8080_8080;
    let hit = |c: &u8| trigger(*c) & mask != 0;
    let rest = b.get(from..)?;
    let mut chunks = rest.chunks_exact(8);
    let mut i = from;
    for chunk in &mut chunks {
        if let Ok(bytes) = <[u8; 8]>::try_from(chunk) {
            let w = u64::from_le_bytes(bytes);
            // Bytes strictly between 0x2F and 0x3B (Bit Twiddling Hacks' `hasbetween`), or zero after xor with `@`.
            let low = w & (L * 127);
            let between = (L * (127 + 0x3B)).wrapping_sub(low) & !w & low.wrapping_add(L * (127 - 0x2F)) & H;
            let at = w ^ (L * u64::from(b'@'));
            let zero = at.wrapping_sub(L) & !at & H;
            if between | zero == 0 {
                i += 8;
                continue;
            }
        }
        if let Some(p) = chunk.iter().position(hit) {
            return Some(i + p);
        }
        i += 8;
    }
    chunks.remainder().iter().position(hit).map(|p| i + p)
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The literal prefixes of the built-in detectors in a set, compiled into
/// one automaton.
#[derive(Debug)]
struct Literals {
    automaton: aho_corasick::AhoCorasick,
    kinds: Vec<Literal>,
}

impl Literals {
    fn new(t: &Triggers) -> Result<Option<Literals>, String> {
        let literals = t.literals();
        if literals.is_empty() {
            return Ok(None);
        }
        let automaton = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostFirst)
            .build(literals.iter().map(|(l, _)| l))
            .map_err(|e| format!("detector prefixes do not compile: {e}"))?;
        Ok(Some(Literals { automaton, kinds: literals.into_iter().map(|(_, k)| k).collect() }))
    }
}

/// A compiled set of patterns: all of a program's, or those a mask needs.
#[derive(Debug)]
struct Compiled {
    regex: Option<Regex>,
    /// Pattern id in `regex` → index into `Scanner::patterns`.
    global: Vec<usize>,
    /// Set when every pattern is a built-in kind: then only trigger
    /// positions are tried.
    triggers: Option<Triggers>,
    literals: Option<Literals>,
}

/// The patterns a set of masks needs (see [`Scanner::select`]).
#[derive(Debug, Clone)]
pub struct Selection(Arc<Compiled>);

/// Every detector of a program, compiled into one multi-pattern regex so
/// that a string is scanned once whatever the number of detectors.
#[derive(Debug)]
pub struct Scanner {
    patterns: Vec<PatternInfo>,
    /// Detector names (qualified), by index.
    names: Vec<String>,
    all: Arc<Compiled>,
    /// Compiled subsets, by their sorted pattern indexes.
    subsets: Mutex<Vec<(Vec<usize>, Arc<Compiled>)>>,
}

/// A validated match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    /// The pattern that matched (see [`Scanner::detector_covers`]).
    pub pattern: usize,
}

/// The most compiled subsets a scanner keeps.
const MAX_SUBSETS: usize = 64;

impl Scanner {
    /// Compiles the detectors of a program. Identical parts shared by several
    /// detectors (a group and its members) are compiled once.
    pub fn new(detectors: &[Detector]) -> Result<Scanner, String> {
        let mut patterns: Vec<PatternInfo> = Vec::new();
        for (d, detector) in detectors.iter().enumerate() {
            for part in &detector.parts {
                let specs: Vec<(String, Check, String, usize)> = match part {
                    DetectorPart::Builtin(name) => builtin_parts(name)
                        .ok_or_else(|| format!("no built-in detector `{name}`"))?
                        .into_iter()
                        .map(|p| match p {
                            BuiltinPart::Kind(k) => (kind_regex(k), Check::Kind(k), name.clone(), k as usize),
                            BuiltinPart::Plain(r) => (r.to_string(), Check::None, name.clone(), 100),
                        })
                        .collect(),
                    DetectorPart::Pattern { regex, validate } => {
                        let check = validate.as_deref().and_then(validator).map_or(Check::None, Check::Validator);
                        vec![(regex.clone(), check, detector.name.clone(), 200)]
                    }
                    DetectorPart::Keywords(words) => {
                        let alternatives: Vec<String> =
                            words.iter().filter(|w| !w.is_empty()).map(|w| regex_syntax::escape(w)).collect();
                        if alternatives.is_empty() {
                            continue; // matches nothing
                        }
                        vec![(format!("(?i:{})", alternatives.join("|")), Check::None, detector.name.clone(), 200)]
                    }
                };
                for (source, check, label, rank) in specs {
                    match patterns.iter_mut().find(|p| p.source == source && p.check == check) {
                        Some(p) => {
                            if !p.detectors.contains(&d) {
                                p.detectors.push(d);
                            }
                        }
                        None => patterns.push(PatternInfo { source, check, detectors: vec![d], label, rank }),
                    }
                }
            }
        }
        patterns.sort_by_key(|p| p.rank);
        let ids: Vec<usize> = (0..patterns.len()).collect();
        let all = Arc::new(compile_set(&patterns, &ids)?);
        Ok(Scanner {
            patterns,
            names: detectors.iter().map(|d| d.name.clone()).collect(),
            all,
            subsets: Mutex::new(Vec::new()),
        })
    }

    /// The patterns of the detectors named (qualified names), compiled
    /// together. An unknown name is an error: a mask must not silently
    /// match nothing.
    pub fn select(&self, detectors: &[&str]) -> Result<Selection, String> {
        let mut wanted = Vec::new();
        for name in detectors {
            let d = self
                .names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| format!("no detector `{name}` in the program"))?;
            wanted.extend(self.patterns.iter().enumerate().filter(|(_, p)| p.detectors.contains(&d)).map(|(i, _)| i));
        }
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.len() == self.patterns.len() {
            return Ok(Selection(Arc::clone(&self.all)));
        }
        if let Ok(subsets) = self.subsets.lock()
            && let Some((_, c)) = subsets.iter().find(|(k, _)| *k == wanted)
        {
            return Ok(Selection(Arc::clone(c)));
        }
        let compiled = Arc::new(compile_set(&self.patterns, &wanted)?);
        if let Ok(mut subsets) = self.subsets.lock()
            && subsets.len() < MAX_SUBSETS
        {
            subsets.push((wanted, Arc::clone(&compiled)));
        }
        Ok(Selection(compiled))
    }

    /// Validated, non-overlapping matches of every detector, left to right.
    pub fn find(&self, text: &str) -> Vec<Found> {
        let mut out = Vec::new();
        self.run(&self.all, text, false, |f| {
            out.push(f);
            true
        });
        out
    }

    /// Validated, non-overlapping matches of the selected detectors.
    pub fn find_selected(&self, selection: &Selection, text: &str) -> Vec<Found> {
        let mut out = Vec::new();
        self.run(&selection.0, text, false, |f| {
            out.push(f);
            true
        });
        out
    }

    /// The same matches as [`Scanner::find`], found without the trigger
    /// pass (the regex runs over every byte). For tests and benchmarks.
    #[doc(hidden)]
    pub fn find_unfiltered(&self, text: &str) -> Vec<Found> {
        let mut out = Vec::new();
        self.run(&self.all, text, true, |f| {
            out.push(f);
            true
        });
        out
    }

    /// Whether any detector finds a validated match in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        let mut found = false;
        self.run(&self.all, text, false, |_| {
            found = true;
            false
        });
        found
    }

    /// Whether the detector named `name` includes the pattern that found a match.
    pub fn detector_covers(&self, name: &str, pattern: usize) -> bool {
        self.patterns
            .get(pattern)
            .is_some_and(|p| p.detectors.iter().any(|d| self.names.get(*d).is_some_and(|n| n == name)))
    }

    /// A short label for what a pattern finds (`email`), for `[REDACTED:email]`.
    pub fn name(&self, pattern: usize) -> &str {
        self.patterns.get(pattern).map_or("pii", |p| p.label.as_str())
    }

    /// Reports matches to `emit` until it returns false.
    fn run(&self, c: &Compiled, text: &str, unfiltered: bool, mut emit: impl FnMut(Found) -> bool) {
        let Some(regex) = &c.regex else { return };
        let mut marks = Marks::default();
        match c.triggers {
            Some(t) if !unfiltered => {
                let mut pem_ends = Vec::new();
                let starts = candidate_starts(&t, c.literals.as_ref(), text, &mut pem_ends);
                if t.pem {
                    marks.pem_ends = Some(pem_ends);
                }
                let (mut done, mut tried) = (0, None);
                for s in starts {
                    if s < done || tried == Some(s) {
                        continue;
                    }
                    let mut at = s;
                    // After a match, try where it ended too: a match may start
                    // there whose trigger lay inside the one before (an e-mail
                    // whose local part runs back into it).
                    loop {
                        tried = Some(at);
                        let input = Input::new(text).range(at..).anchored(Anchored::Yes);
                        let Some(m) = regex.search(&input) else { break };
                        let Some(f) = self.confirm_at(c, regex, text, m, &mut marks) else { break };
                        done = f.end.max(at + 1);
                        if !emit(f) {
                            return;
                        }
                        if done >= text.len() || !text.is_char_boundary(done) {
                            break;
                        }
                        at = done;
                    }
                }
            }
            _ => {
                let mut pos = 0;
                while pos <= text.len() {
                    let Some(m) = regex.search(&Input::new(text).range(pos..)) else { return };
                    match self.confirm_at(c, regex, text, m, &mut marks) {
                        Some(f) => {
                            if !emit(f) {
                                return;
                            }
                            pos = f.end.max(next_boundary(text, m.start()));
                        }
                        // A long candidate is skipped whole, so that the scan stays linear.
                        None if m.len() > 256 => pos = m.end(),
                        None => pos = next_boundary(text, m.start()),
                    }
                }
            }
        }
    }

    /// The validated match at `m`'s start: `m` itself, or else the first
    /// lower-priority pattern that also matches there and validates.
    fn confirm_at(
        &self,
        c: &Compiled,
        regex: &Regex,
        text: &str,
        m: regex_automata::Match,
        marks: &mut Marks,
    ) -> Option<Found> {
        let first = m.pattern().as_usize();
        if let Some(f) = self.check(c, text, first, m.start(), m.end(), marks) {
            return Some(f);
        }
        if first + 1 >= c.global.len() {
            return None;
        }
        let at = Input::new(text).range(m.start()..).anchored(Anchored::Yes);
        let mut set = PatternSet::new(regex.pattern_len());
        regex.which_overlapping_matches(&at, &mut set);
        for pid in set.iter().filter(|p| p.as_usize() > first) {
            let input = Input::new(text).range(m.start()..).anchored(Anchored::Pattern(pid));
            if let Some(mq) = regex.search(&input)
                && let Some(f) = self.check(c, text, pid.as_usize(), mq.start(), mq.end(), marks)
            {
                return Some(f);
            }
        }
        None
    }

    fn check(
        &self,
        c: &Compiled,
        text: &str,
        local: usize,
        start: usize,
        end: usize,
        marks: &mut Marks,
    ) -> Option<Found> {
        if start >= end {
            return None;
        }
        let global = *c.global.get(local)?;
        let info = self.patterns.get(global)?;
        let (start, end) = match info.check {
            Check::None => (start, end),
            Check::Validator(v) => validate(v, text.get(start..end)?).then_some((start, end))?,
            Check::Kind(k) => confirm(k, text, start, end, marks)?,
        };
        (start < end).then_some(Found { start, end, pattern: global })
    }
}

fn next_boundary(text: &str, at: usize) -> usize {
    let mut i = at + 1;
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

fn compile_set(patterns: &[PatternInfo], ids: &[usize]) -> Result<Compiled, String> {
    let sources: Vec<&str> = ids.iter().filter_map(|i| patterns.get(*i)).map(|p| p.source.as_str()).collect();
    let regex = if sources.is_empty() {
        None
    } else {
        Some(Regex::new_many(&sources).map_err(|e| format!("detectors do not compile: {e}"))?)
    };
    let triggers = ids.iter().try_fold(Triggers::default(), |t, i| match patterns.get(*i).map(|p| p.check) {
        Some(Check::Kind(k)) => Some(t.with(k)),
        _ => None,
    });
    let literals = match &triggers {
        Some(t) => Literals::new(t)?,
        None => None,
    };
    Ok(Compiled { regex, global: ids.to_vec(), triggers, literals })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner(names: &[&str]) -> Scanner {
        let detectors: Vec<Detector> = names
            .iter()
            .map(|n| Detector { name: format!("pii.{n}"), parts: vec![DetectorPart::Builtin(n.to_string())] })
            .collect();
        Scanner::new(&detectors).unwrap_or_else(|e| unreachable!("{e}"))
    }

    const PII: [&str; 11] = [
        "email",
        "phone",
        "credit_card",
        "ssn",
        "iban",
        "ipv4",
        "ipv6",
        "aws_access_key",
        "bearer_token",
        "jwt",
        "private_key",
    ];

    fn found(text: &str) -> Vec<(String, String)> {
        let s = scanner(&PII);
        let a: Vec<(String, String)> = s
            .find(text)
            .iter()
            .map(|f| (s.name(f.pattern).to_string(), text.get(f.start..f.end).unwrap_or("").to_string()))
            .collect();
        let b: Vec<(String, String)> = s
            .find_unfiltered(text)
            .iter()
            .map(|f| (s.name(f.pattern).to_string(), text.get(f.start..f.end).unwrap_or("").to_string()))
            .collect();
        assert_eq!(a, b, "trigger pass and full scan disagree on {text:?}");
        a
    }

    fn one(kind: &str, text: &str, expect: &str) {
        let got = found(text);
        assert_eq!(got, vec![(kind.to_string(), expect.to_string())], "in {text:?}");
    }

    fn none(text: &str) {
        assert_eq!(found(text), vec![], "in {text:?}");
    }

    #[test]
    fn globs() {
        let g = |p: &str, t: &str| glob(&p.split('*').map(str::to_string).collect::<Vec<_>>(), t);
        assert!(g("*@acme.com", "dana@acme.com"));
        assert!(!g("*@acme.com", "dana@acme.com.evil"));
        assert!(g("ticket-*", "ticket-17"));
        assert!(g("a*b*c", "axxbyyc"));
        assert!(!g("a*b*c", "ac"));
        assert!(g("exact", "exact"));
        assert!(!g("ab*ba", "aba"));
    }

    #[test]
    fn validators() {
        assert!(luhn("4111 1111 1111 1111"));
        assert!(!luhn("4111 1111 1111 1112"));
        assert!(iban("GB82 WEST 1234 5698 7654 32"));
        assert!(!iban("GB82 WEST 1234 5698 7654 33"));
        assert!(ssn("123-45-6789"));
        assert!(ssn("123 45 6789"));
        assert!(!ssn("000-45-6789"));
        assert!(!ssn("666-45-6789"));
        assert!(!ssn("900-45-6789"));
        assert!(!ssn("123-00-6789"));
        assert!(!ssn("123-45-0000"));
    }

    #[test]
    fn every_builtin_compiles() {
        for name in ward_ir::BUILTIN_DETECTORS {
            let regexes = builtin_regexes(name).unwrap_or_default();
            assert!(!regexes.is_empty(), "{name}");
            for regex in regexes {
                assert!(compile_regex(&regex).is_ok(), "{name}");
            }
        }
    }

    #[test]
    fn detectors_find_what_they_should() {
        one("email", "write to maria.anders@northwind.example.", "maria.anders@northwind.example");
        one("email", "<jürgen_k+crm@mail.example.de>", "jürgen_k+crm@mail.example.de");
        one("credit_card", "card 4111 1111 1111 1111 on file", "4111 1111 1111 1111");
        one("credit_card", "amex 3782 822463 10005.", "3782 822463 10005");
        one("ssn", "SSN: 536-22-8145", "536-22-8145");
        one("iban", "IBAN DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX", "DE89 3704 0044 0532 0130 00");
        one("iban", "to GB82WEST12345698765432.", "GB82WEST12345698765432");
        one("ipv4", "from 203.0.113.45:443", "203.0.113.45");
        one("ipv6", "addr=2001:db8::8a2e:370:7334 ok", "2001:db8::8a2e:370:7334");
        one("ipv6", "peer fe80::1ff:fe23:4567:890a%eth0: reset", "fe80::1ff:fe23:4567:890a%eth0");
        one("ipv6", "host:2001:db8::1", "2001:db8::1");
        one("phone", "call +44 20 7946 0958 today", "+44 20 7946 0958");
        one("phone", "call (415) 555-0142.", "(415) 555-0142");
        one("phone", "Tel. +33 (0)1 23 45 67 89", "+33 (0)1 23 45 67 89");
        one("phone", "mobile 98765 43210", "98765 43210");
        one("aws_access_key", "key AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE");
        one(
            "aws_access_key",
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        );
        one("bearer_token", "Authorization: Bearer mF_9.B5f-4.1JqM0123456789", "mF_9.B5f-4.1JqM0123456789");
        one(
            "jwt",
            "token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlc2lnbmF0dXJl end",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlc2lnbmF0dXJl",
        );
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\nKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ==\n-----END RSA PRIVATE KEY-----";
        one("private_key", &format!("key:\n{key}\nthanks"), key);
    }

    #[test]
    fn look_alikes_are_left_alone() {
        none("order 4111 1111 1111 1112 shipped"); // fails Luhn
        none("EAN 4006381333931");
        none("SSN 000-12-3456, 666-12-3456, 912-34-5678, 123-00-4567, 123-45-0000");
        none("at 2024-03-15T10:22:33.123+01:00 and 15.03.2024 10:22");
        none("id 550e8400-e29b-41d4-a716-446655440000 commit 9fceb02d0ae598e95dc970b74767f19372d61af8");
        none("version 2.14.3, Chrome/120.0.6099.109, build 10.0.19045.3803, v1.2.3.4");
        none("total $1,234.56 or 12 345 678,90 € or 12.345.678,90 EUR or ₹1,23,456.00");
        none("tracking 1Z999AA10123456784, 9400 1000 0000 0000 0000 00, 748956123456");
        none("Bearer authentication is described in RFC 6750");
        none("std::io::Error and a::b");
        none("from 2019-2024 and INV-2024-000123, OID 1.3.6.1.4.1.311");
        none("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----");
        none("Reference 2023/11/0042-77, Lot 1234-5678-90, Serial SN 1234 5678 9012, Model 2020-123-456");
        none("Order 123-4567890-1234567, Case #2024-118273-01, Acct no. 0012 3456 7890, PNR 482 193 554 221");
        none("badge 55-1029-33, between 1999 and 2004 2005 2006, Meeting ID: 845 2231 9087, Passcode: 482913");
        none("at 40.7128, -74.0060; ISO 8601: 2024-03-15T10:22:33+05:30; Routing 021000021");
    }

    /// Found by the property test below: the trigger pass and the full scan
    /// once disagreed on these.
    #[test]
    fn both_ways_agree_at_runs_and_match_boundaries() {
        one("ipv6", ":::00", "::00"); // after a lone `:`, as in `addr:::1`
        let key = "-----BEGIN PRIVATE KEY-----";
        assert_eq!(
            found(&format!("{key}DE@x.yx.y")),
            vec![("private_key".to_string(), key.to_string()), ("email".to_string(), "DE@x.yx".to_string())]
        );
    }

    #[test]
    fn phone_numbers_after_a_phone_word_or_in_a_row() {
        one("phone", "Tel no. 0151 2345 6789", "0151 2345 6789");
        one("phone", "Telefon-Nr.: 030 12345678", "030 12345678");
        let got = found("phone 020 7946 0958 or fax 020 7946 0959");
        assert_eq!(got.len(), 2, "{got:?}");
        let got = found("card 4111 1111 1111 1111 exp 12/26 cvv 123");
        assert_eq!(got, vec![("credit_card".to_string(), "4111 1111 1111 1111".to_string())]);
        let row = "c-1001,Maria,+44 20 7946 0958,4111111111111111,536-22-8145,DE89370400440532013000";
        let kinds: Vec<String> = found(row).into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, ["phone", "credit_card", "ssn", "iban"]);
    }

    /// Inputs built to make a backtracking matcher blow up. Linear time is
    /// guaranteed by construction (finite automata, no backtracking) and
    /// shown by `benches/mask.rs`; tests assert no timing, only that the
    /// scan finishes and returns matches inside the text.
    #[test]
    fn adversarial_input_is_safe() {
        let s = scanner(&PII);
        for text in [
            "9".repeat(200_000),
            "1 ".repeat(100_000),
            "a".repeat(100_000) + "@",
            ":".repeat(100_000),
            "-----BEGIN PRIVATE KEY-----.".repeat(5_000),
            "@".repeat(100_000),
            "eyJ".repeat(50_000),
        ] {
            for found in [s.find(&text), s.find_unfiltered(&text)] {
                for m in found {
                    assert!(m.start <= m.end && m.end <= text.len() && text.is_char_boundary(m.start));
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        /// On text made of the pieces detectors react to: no panic, matches
        /// in order, on character boundaries, and the trigger pass agrees
        /// with a full scan.
        #[test]
        fn random_text_is_scanned_safely_and_consistently(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "0", "1", "4", "9", "12", "4111", " ", "-", ".", ":", "::", "/", ",", "+", "(", ")", "@", "a", "ey", "J", "eyJ",
                "AKIA", "ASIA", "Bearer ", "aws_secret_access_key=", "DE", "GB82", "é", "€", "\n", "_", "#", "x.y", "T",
                "-----BEGIN PRIVATE KEY-----", "-----END ", "PuTTY-User-Key-File-2: ", "Private-MAC: ", "Order ", "Tel ",
            ]), 0..60)
        ) {
            let text: String = pieces.concat();
            let s = scanner(&PII);
            let found = s.find(&text);
            let mut last = 0;
            for f in &found {
                proptest::prop_assert!(f.start >= last && f.start < f.end && f.end <= text.len());
                proptest::prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
                last = f.end;
            }
            proptest::prop_assert_eq!(found, s.find_unfiltered(&text), "{:?}", text);
        }
    }

    #[test]
    fn a_selection_finds_only_its_detectors() {
        let s = scanner(&PII);
        let text = "mail dana@acme.example, card 4111 1111 1111 1111";
        let sel = s.select(&["pii.credit_card"]).unwrap_or_else(|e| unreachable!("{e}"));
        let got: Vec<&str> = s.find_selected(&sel, text).iter().map(|f| s.name(f.pattern)).collect();
        assert_eq!(got, ["credit_card"]);
        assert!(s.select(&["pii.nope"]).is_err());
    }

    #[test]
    fn user_patterns_and_keywords_run_unanchored() {
        let detectors = vec![
            Detector {
                name: "order".into(),
                parts: vec![DetectorPart::Pattern { regex: "ORD-[0-9]{4}".into(), validate: None }],
            },
            Detector {
                name: "card".into(),
                parts: vec![DetectorPart::Pattern { regex: "[0-9]{16}".into(), validate: Some("luhn".into()) }],
            },
            Detector {
                name: "words".into(),
                parts: vec![DetectorPart::Keywords(vec!["Secret".into(), String::new()])],
            },
            Detector { name: "nothing".into(), parts: vec![DetectorPart::Keywords(vec![])] },
        ];
        let s = Scanner::new(&detectors).unwrap_or_else(|e| unreachable!("{e}"));
        let text = "ORD-1234 SECRET 4111111111111111 4111111111111112";
        let got: Vec<&str> = s.find(text).iter().filter_map(|f| text.get(f.start..f.end)).collect();
        assert_eq!(got, ["ORD-1234", "SECRET", "4111111111111111"]);
        assert!(s.is_match("a secret"));
        assert!(!s.is_match("nothing here"));
    }
}
