//! String matchers: `like` globs, `matches` regexes and detectors.
//!
//! Detectors here find whether a string contains a match (for conditions
//! such as `context.query matches inputs.sql_injection`). Candidates are
//! confirmed by validators (Luhn for cards, mod-97 for IBANs, SSN rules), so
//! a look-alike does not count.

use regex_automata::meta::Regex;
use ward_compiler::ir::{Detector, DetectorPart, Pattern};

/// A compiled `Pattern`.
#[derive(Debug)]
pub enum Matcher {
    Glob(Vec<String>),
    Regex(Regex),
    Detector(Vec<Part>),
    /// A pattern that failed to compile: matching it is an evaluation error.
    Invalid(String),
}

#[derive(Debug)]
pub enum Part {
    Regex { regex: Regex, validate: Option<Validator> },
    Keywords(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validator {
    Luhn,
    Mod97,
    Ssn,
}

/// The regex and validator of each built-in detector.
pub fn builtin(name: &str) -> Option<(&'static str, Option<Validator>)> {
    Some(match name {
        "email" => (r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", None),
        "phone" => (r"(?:\+[0-9]{1,3}[ .-]?)?(?:\([0-9]{1,4}\)[ .-]?)?[0-9]{2,4}(?:[ .-]?[0-9]{2,4}){2,4}", None),
        "credit_card" => (r"\b[0-9](?:[ -]?[0-9]){12,18}\b", Some(Validator::Luhn)),
        "ssn" => (r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b", Some(Validator::Ssn)),
        "iban" => (r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", Some(Validator::Mod97)),
        "ipv4" => (
            r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\b",
            None,
        ),
        "ipv6" => (
            r"\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b|\b(?:[0-9A-Fa-f]{1,4}:){1,7}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?",
            None,
        ),
        "aws_access_key" => (r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b", None),
        "bearer_token" => (r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*", None),
        "jwt" => (r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}", None),
        "private_key" => (r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----", None),
        "sql_injection" => (
            r"(?i)(?:\bunion\b[\s\S]{0,40}\bselect\b|'\s*(?:or|and)\s+'?[0-9a-z]+'?\s*=\s*'?[0-9a-z]+|;\s*(?:drop|delete|insert|update|alter|truncate)\b|\bor\s+1\s*=\s*1\b|--\s*$|/\*[\s\S]*?\*/|\bxp_cmdshell\b|\bsleep\s*\()",
            None,
        ),
        "shell_metachar" => (r"[;&|`]|\$\(|\$\{|>\s*/|<\(", None),
        "path_traversal" => (r"(?:^|[/\\])\.\.(?:[/\\]|$)|%2e%2e|^/etc/|^[A-Za-z]:\\", None),
        "prompt_injection" => (
            r"(?i)\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier)\s+(?:instructions|prompts|rules)|\bsystem\s+prompt\b|\byou\s+are\s+now\s+(?:in\s+)?(?:developer|dan|jailbreak)|\bact\s+as\s+(?:an?\s+)?(?:unrestricted|jailbroken)",
            None,
        ),
        _ => return None,
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
            Some(detector) => match detector_parts(detector) {
                Ok(parts) => Matcher::Detector(parts),
                Err(e) => Matcher::Invalid(e),
            },
            None => Matcher::Invalid(format!("unknown detector #{d}")),
        },
    }
}

pub fn detector_parts(detector: &Detector) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    for part in &detector.parts {
        parts.push(match part {
            DetectorPart::Builtin(name) => {
                let (regex, validate) = builtin(name).ok_or_else(|| format!("no built-in detector `{name}`"))?;
                Part::Regex { regex: compile_regex(regex)?, validate }
            }
            DetectorPart::Pattern { regex, validate } => {
                Part::Regex { regex: compile_regex(regex)?, validate: validate.as_deref().and_then(validator) }
            }
            DetectorPart::Keywords(words) => Part::Keywords(words.iter().map(|w| w.to_lowercase()).collect()),
        });
    }
    Ok(parts)
}

impl Matcher {
    /// Whether `text` matches: the whole string for a glob, anywhere for a
    /// regex or detector.
    pub fn is_match(&self, text: &str) -> Result<bool, String> {
        match self {
            Matcher::Glob(pieces) => Ok(glob(pieces, text)),
            Matcher::Regex(r) => Ok(r.is_match(text)),
            Matcher::Detector(parts) => Ok(parts.iter().any(|p| part_matches(p, text))),
            Matcher::Invalid(e) => Err(e.clone()),
        }
    }
}

fn part_matches(part: &Part, text: &str) -> bool {
    match part {
        Part::Regex { regex, validate: None } => regex.is_match(text),
        Part::Regex { regex, validate: Some(v) } => {
            regex.find_iter(text).any(|m| text.get(m.range()).is_some_and(|candidate| validate(*v, candidate)))
        }
        Part::Keywords(words) => {
            let lower = text.to_lowercase();
            words.iter().any(|w| lower.contains(w.as_str()))
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

/// The Luhn checksum of the digits of `s` (separators ignored), 13–19 digits.
pub fn luhn(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { *d })
        .sum();
    sum.is_multiple_of(10)
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

/// US SSN structure: area not 000, 666 or 900–999; group not 00; serial not 0000.
pub fn ssn(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [area, group, serial] = parts.as_slice() else { return false };
    let (Ok(a), Ok(g), Ok(n)) = (area.parse::<u32>(), group.parse::<u32>(), serial.parse::<u32>()) else {
        return false;
    };
    a != 0 && a != 666 && a < 900 && g != 0 && n != 0
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(!ssn("000-45-6789"));
        assert!(!ssn("666-45-6789"));
        assert!(!ssn("123-00-6789"));
    }

    #[test]
    fn every_builtin_compiles() {
        for name in ward_compiler::symbols::BUILTIN_DETECTORS {
            let (regex, _) = builtin(name).unwrap_or(("(", None));
            assert!(compile_regex(regex).is_ok(), "{name}");
        }
    }
}

/// Every detector of a program, compiled into one multi-pattern regex so
/// that a string is scanned once whatever the number of detectors.
#[derive(Debug)]
pub struct Scanner {
    regex: Option<Regex>,
    /// Per pattern of `regex`: its validator and the detectors it belongs to.
    patterns: Vec<(Option<Validator>, Vec<usize>, String)>,
    /// Detector names (qualified), by index.
    names: Vec<String>,
}

/// A validated match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    /// The pattern that matched (see [`Scanner::detector_covers`]).
    pub pattern: usize,
}

impl Scanner {
    /// Compiles the detectors of a program. Identical parts shared by several
    /// detectors (a group and its members) are compiled once.
    pub fn new(detectors: &[Detector]) -> Result<Scanner, String> {
        let mut sources: Vec<String> = Vec::new();
        let mut patterns: Vec<(Option<Validator>, Vec<usize>, String)> = Vec::new();
        for (d, detector) in detectors.iter().enumerate() {
            for part in &detector.parts {
                let (regex, validate, label) = match part {
                    DetectorPart::Builtin(name) => {
                        let (r, v) = builtin(name).ok_or_else(|| format!("no built-in detector `{name}`"))?;
                        (r.to_string(), v, name.clone())
                    }
                    DetectorPart::Pattern { regex, validate } => {
                        (regex.clone(), validate.as_deref().and_then(validator), detector.name.clone())
                    }
                    DetectorPart::Keywords(words) => {
                        let alternatives: Vec<String> = words.iter().map(|w| regex_syntax::escape(w)).collect();
                        (format!("(?i:{})", alternatives.join("|")), None, detector.name.clone())
                    }
                };
                match sources.iter().position(|s| *s == regex) {
                    Some(i) => {
                        if let Some(p) = patterns.get_mut(i) {
                            p.1.push(d);
                        }
                    }
                    None => {
                        sources.push(regex);
                        patterns.push((validate, vec![d], label));
                    }
                }
            }
        }
        let regex = if sources.is_empty() {
            None
        } else {
            Some(Regex::new_many(&sources).map_err(|e| format!("detectors do not compile: {e}"))?)
        };
        Ok(Scanner { regex, patterns, names: detectors.iter().map(|d| d.name.clone()).collect() })
    }

    /// Validated, non-overlapping matches of every detector, left to right.
    pub fn find(&self, text: &str) -> Vec<Found> {
        let Some(regex) = &self.regex else { return Vec::new() };
        let mut out = Vec::new();
        for m in regex.find_iter(text) {
            let pattern = m.pattern().as_usize();
            let valid = match self.patterns.get(pattern).and_then(|p| p.0) {
                Some(v) => text.get(m.range()).is_some_and(|c| validate(v, c)),
                None => true,
            };
            if valid {
                out.push(Found { start: m.start(), end: m.end(), pattern });
            }
        }
        out
    }

    /// Whether the detector named `name` includes the pattern that found a match.
    pub fn detector_covers(&self, name: &str, pattern: usize) -> bool {
        self.patterns.get(pattern).is_some_and(|p| p.1.iter().any(|d| self.names.get(*d).is_some_and(|n| n == name)))
    }

    /// A short label for what a pattern finds (`email`), for `[REDACTED:email]`.
    pub fn name(&self, pattern: usize) -> &str {
        self.patterns.get(pattern).map_or("pii", |p| p.2.as_str())
    }
}
