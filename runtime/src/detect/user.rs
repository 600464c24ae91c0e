//! User detectors: `pattern "REGEX" [validate NAME]` and `keywords [...]`
//! parts, as the scanner runs them (unanchored, after the built-in kinds).

use super::scanner::{Check, RANK_USER, Spec};
use super::validate::validator;

/// A `pattern` part; `validate` names a checksum every match must pass.
pub(super) fn pattern(detector: &str, regex: &str, validate: Option<&str>) -> Vec<Spec> {
    let check = validate.and_then(validator).map_or(Check::None, Check::Validator);
    vec![Spec { source: regex.to_string(), check, label: detector.to_string(), rank: RANK_USER }]
}

/// A `keywords` part: any of the words, case-insensitively; none matches nothing.
pub(super) fn keywords(detector: &str, words: &[String]) -> Vec<Spec> {
    let alternatives: Vec<String> = words.iter().filter(|w| !w.is_empty()).map(|w| regex_syntax::escape(w)).collect();
    if alternatives.is_empty() {
        return Vec::new();
    }
    vec![Spec {
        source: format!("(?i:{})", alternatives.join("|")),
        check: Check::None,
        label: detector.to_string(),
        rank: RANK_USER,
    }]
}
