//! Writing Ward tokens: identifiers, string literals, times and durations.

use std::fmt::Write as _;

/// Whether `s` is a Ward word (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn is_word(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `s` can name a declaration: a word that is not reserved.
pub fn is_ident(s: &str) -> bool {
    is_word(s) && !ward_grammar::lexer::RESERVED_WORDS.contains(&s)
}

/// How Ward names an action: by its identifier, or, for a name that is not
/// one (`view document`, a keyword), by a string (`"view document"`).
pub fn action(name: &str) -> String {
    if is_ident(name) { name.to_string() } else { string(name) }
}

/// How Ward refers to an action by its full name: a namespaced one
/// (`Taxpreparer::view`) as it is when each part is an identifier.
pub fn action_ref(name: &str) -> String {
    match name.rsplit_once("::") {
        Some((ns, id)) if ns.split("::").all(is_ident) && is_ident(id) => name.to_string(),
        _ => action(name),
    }
}

/// A Ward string literal for `s`, quotes included.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Cedar's `datetime` literal text as a Ward time literal text: a date alone
/// is midnight UTC, and an offset `±hhmm` is written `±hh:mm`.
pub fn cedar_datetime(s: &str) -> Option<String> {
    if s.len() == 10 {
        return Some(format!("{s}T00:00:00Z"));
    }
    if s.ends_with('Z') {
        return Some(s.to_string());
    }
    // `…T11:35:00.250-0500`: the last five characters are the offset.
    let split = s.len().checked_sub(5)?;
    let (head, offset) = (s.get(..split)?, s.get(split..)?);
    let (sign, digits) = offset.split_at_checked(1)?;
    if !(sign == "+" || sign == "-") || digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hh, mm) = digits.split_at_checked(2)?;
    Some(format!("{head}{sign}{hh}:{mm}"))
}

/// Cedar's `duration` literal text (`1d2h3m4s5ms`) as Ward's, or `None` for
/// a negative duration, which Ward cannot write as a literal.
pub fn cedar_duration(s: &str) -> Option<String> {
    if s.starts_with('-') || s.is_empty() {
        return None;
    }
    Some(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_idents() {
        assert!(is_word("isPublic") && is_word("_x1") && is_word("action"));
        assert!(!is_word("1x") && !is_word("view document") && !is_word("") && !is_word("café"));
        assert!(is_ident("readers") && !is_ident("action") && !is_ident("in"));
    }

    #[test]
    fn strings_escape_what_ward_escapes() {
        assert_eq!(string("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u{1}\"");
        assert_eq!(string("café"), "\"café\"");
    }

    #[test]
    fn cedar_datetimes() {
        assert_eq!(cedar_datetime("2024-10-15").as_deref(), Some("2024-10-15T00:00:00Z"));
        assert_eq!(cedar_datetime("2024-10-15T11:35:00Z").as_deref(), Some("2024-10-15T11:35:00Z"));
        assert_eq!(cedar_datetime("2024-10-15T11:35:00.250-0500").as_deref(), Some("2024-10-15T11:35:00.250-05:00"));
        assert_eq!(cedar_datetime("2024-10-15T11:35:00x0500"), None);
    }

    #[test]
    fn cedar_durations() {
        assert_eq!(cedar_duration("1d2h3m4s5ms").as_deref(), Some("1d2h3m4s5ms"));
        assert_eq!(cedar_duration("-5h"), None);
    }
}
