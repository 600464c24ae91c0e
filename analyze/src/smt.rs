//! SMT-LIB text: terms are built as strings by these helpers, which keep
//! the few syntactic rules in one place (quoting, string literals, n-ary
//! operators with zero or one operand).

/// The largest code point SMT-LIB strings can hold (the theory's alphabet is
/// `0` to `0x2FFFF`).
pub const MAX_SMT_CHAR: u32 = 0x2FFFF;

/// A quoted symbol: `|name|`. The characters `|` and `\` cannot appear in a
/// quoted symbol; they are replaced (names come from Ward identifiers,
/// which never contain them).
pub fn sym(name: &str) -> String {
    let clean: String = name.chars().map(|c| if c == '|' || c == '\\' { '_' } else { c }).collect();
    format!("|{clean}|")
}

/// A string literal, or `None` when the text holds a character SMT-LIB
/// strings cannot represent (above `0x2FFFF`).
pub fn string_lit(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        let code = c as u32;
        if code > MAX_SMT_CHAR {
            return None;
        }
        match c {
            '"' => out.push_str("\"\""),
            ' '..='~' if c != '\\' => out.push(c),
            _ => out.push_str(&format!("\\u{{{code:x}}}")),
        }
    }
    out.push('"');
    Some(out)
}

/// An integer literal (negative numbers as `(- n)`).
pub fn int(v: i128) -> String {
    if v < 0 { format!("(- {})", v.unsigned_abs()) } else { v.to_string() }
}

pub fn bool_lit(b: bool) -> String {
    if b { "true".into() } else { "false".into() }
}

/// `(and …)`, simplified: no operand is `true`, one is itself.
pub fn and(items: impl IntoIterator<Item = String>) -> String {
    let mut parts = Vec::new();
    for i in items {
        if i == "false" {
            return "false".into();
        }
        if i != "true" {
            parts.push(i);
        }
    }
    match parts.len() {
        0 => "true".into(),
        1 => parts.pop().unwrap_or_default(),
        _ => format!("(and {})", parts.join(" ")),
    }
}

/// `(or …)`, simplified like [`and`].
pub fn or(items: impl IntoIterator<Item = String>) -> String {
    let mut parts = Vec::new();
    for i in items {
        if i == "true" {
            return "true".into();
        }
        if i != "false" {
            parts.push(i);
        }
    }
    match parts.len() {
        0 => "false".into(),
        1 => parts.pop().unwrap_or_default(),
        _ => format!("(or {})", parts.join(" ")),
    }
}

pub fn not(a: &str) -> String {
    match a {
        "true" => "false".into(),
        "false" => "true".into(),
        _ => format!("(not {a})"),
    }
}

pub fn implies(a: &str, b: &str) -> String {
    match (a, b) {
        ("false", _) | (_, "true") => "true".into(),
        ("true", _) => b.to_string(),
        _ => format!("(=> {a} {b})"),
    }
}

pub fn eq(a: &str, b: &str) -> String {
    if a == b {
        return "true".into();
    }
    // Two different literals (numbers, `(- n)`, strings) are never equal.
    if is_literal(a) && is_literal(b) {
        return "false".into();
    }
    format!("(= {a} {b})")
}

/// A numeral, a negated numeral or a string literal.
fn is_literal(t: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(t)
        || t.strip_prefix("(- ").and_then(|r| r.strip_suffix(')')).is_some_and(digits)
        || (t.starts_with('"') && t.ends_with('"') && t.len() >= 2)
}

pub fn ite(c: &str, a: &str, b: &str) -> String {
    match c {
        "true" => a.to_string(),
        "false" => b.to_string(),
        _ if a == b => a.to_string(),
        _ => format!("(ite {c} {a} {b})"),
    }
}

/// `lo <= x <= hi`.
pub fn between(x: &str, lo: i128, hi: i128) -> String {
    format!("(and (<= {} {x}) (<= {x} {}))", int(lo), int(hi))
}

/// `x` is one of `values`.
pub fn one_of(x: &str, values: impl IntoIterator<Item = String>) -> String {
    or(values.into_iter().map(|v| eq(x, &v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(string_lit("a\"b").as_deref(), Some("\"a\"\"b\""));
        assert_eq!(string_lit("é\\").as_deref(), Some("\"\\u{e9}\\u{5c}\""));
        assert_eq!(string_lit("\u{10FFFF}"), None);
    }

    #[test]
    fn connectives_simplify() {
        assert_eq!(and(["true".to_string(), "x".to_string()]), "x");
        assert_eq!(or(Vec::<String>::new()), "false");
        assert_eq!(and(["x".to_string(), "false".to_string()]), "false");
        assert_eq!(int(-3), "(- 3)");
    }
}
