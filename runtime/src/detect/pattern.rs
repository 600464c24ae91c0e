//! `like` globs and `matches` patterns: what a condition matches a string against.

use regex_automata::meta::Regex;
use ward_ir::{Detector, Pattern};

use super::Scanner;

/// A compiled `Pattern`.
#[derive(Debug)]
pub enum Matcher {
    Glob(Vec<String>),
    Regex(Regex),
    Detector(Box<Scanner>),
    /// A pattern that failed to compile: matching it is an evaluation error.
    Invalid(String),
}

pub(super) fn compile_regex(pattern: &str) -> Result<Regex, String> {
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
pub(super) fn glob(pieces: &[String], text: &str) -> bool {
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
