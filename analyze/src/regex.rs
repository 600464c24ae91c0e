//! `matches "regex"` as an SMT regular expression, where the regex's
//! meaning carries over exactly; otherwise the caller approximates.
//!
//! The runtime runs patterns with `regex-automata`'s defaults: Unicode
//! classes, case-sensitive, `.` not matching `\n`, `^`/`$` at the ends of
//! the text, and a match anywhere in the string. The translation keeps all
//! of that: it parses with `regex-syntax`'s same defaults, and surrounds the
//! expression with "anything" unless it is anchored. Word boundaries and
//! anchors inside the expression have no SMT counterpart and are refused.

use regex_syntax::hir::{Class, Hir, HirKind, Look};

use crate::smt::{MAX_SMT_CHAR, string_lit};

/// The SMT-LIB regular expression matching the strings in which `pattern`
/// finds a match, or why it cannot be expressed.
pub fn translate(pattern: &str) -> Result<String, String> {
    let hir = regex_syntax::ParserBuilder::new()
        .nest_limit(64)
        .build()
        .parse(pattern)
        .map_err(|e| format!("the pattern does not parse: {e}"))?;
    // Anchors at the very start and end of the top-level sequence.
    let parts: Vec<&Hir> = match hir.kind() {
        HirKind::Concat(items) => items.iter().collect(),
        _ => vec![&hir],
    };
    let mut body: &[&Hir] = &parts;
    let mut start = false;
    let mut end = false;
    if let Some((first, rest)) = body.split_first()
        && matches!(first.kind(), HirKind::Look(Look::Start))
    {
        start = true;
        body = rest;
    }
    if let Some((last, rest)) = body.split_last()
        && matches!(last.kind(), HirKind::Look(Look::End))
    {
        end = true;
        body = rest;
    }
    let mut out = Vec::new();
    if !start {
        out.push("re.all".to_string());
    }
    for h in body {
        out.push(re(h, 0)?);
    }
    if !end {
        out.push("re.all".to_string());
    }
    Ok(concat(out))
}

fn concat(mut parts: Vec<String>) -> String {
    match parts.len() {
        0 => "(str.to_re \"\")".into(),
        1 => parts.pop().unwrap_or_default(),
        _ => format!("(re.++ {})", parts.join(" ")),
    }
}

fn re(h: &Hir, depth: usize) -> Result<String, String> {
    if depth > 128 {
        return Err("the pattern nests too deeply".into());
    }
    Ok(match h.kind() {
        HirKind::Empty => "(str.to_re \"\")".into(),
        HirKind::Literal(lit) => {
            let text = std::str::from_utf8(&lit.0).map_err(|_| "a literal that is not UTF-8".to_string())?;
            format!("(str.to_re {})", string_lit(text).ok_or("characters beyond SMT strings")?)
        }
        HirKind::Class(Class::Unicode(c)) => {
            let mut ranges = Vec::new();
            for r in c.ranges() {
                let (lo, hi) = (r.start() as u32, (r.end() as u32).min(MAX_SMT_CHAR));
                if lo > hi {
                    continue;
                }
                let (Some(a), Some(b)) = (char::from_u32(lo), char::from_u32(hi).or(char::from_u32(MAX_SMT_CHAR)))
                else {
                    continue;
                };
                let (a, b) = (string_lit(&a.to_string()), string_lit(&b.to_string()));
                if let (Some(a), Some(b)) = (a, b) {
                    ranges.push(format!("(re.range {a} {b})"));
                }
            }
            match ranges.len() {
                0 => "re.none".into(),
                1 => ranges.pop().unwrap_or_default(),
                _ => format!("(re.union {})", ranges.join(" ")),
            }
        }
        HirKind::Class(Class::Bytes(c)) => {
            let mut ranges = Vec::new();
            for r in c.ranges() {
                if r.end() > 0x7F {
                    return Err("a byte class beyond ASCII".into());
                }
                let (a, b) = (char::from(r.start()).to_string(), char::from(r.end()).to_string());
                let (Some(a), Some(b)) = (string_lit(&a), string_lit(&b)) else { continue };
                ranges.push(format!("(re.range {a} {b})"));
            }
            match ranges.len() {
                0 => "re.none".into(),
                1 => ranges.pop().unwrap_or_default(),
                _ => format!("(re.union {})", ranges.join(" ")),
            }
        }
        HirKind::Look(look) => {
            return Err(format!("the assertion {look:?} (word boundaries and inner anchors have no SMT counterpart)"));
        }
        HirKind::Repetition(rep) => {
            let sub = re(&rep.sub, depth + 1)?;
            match (rep.min, rep.max) {
                (0, None) => format!("(re.* {sub})"),
                (1, None) => format!("(re.+ {sub})"),
                (min, None) => format!("(re.++ ((_ re.loop {min} {min}) {sub}) (re.* {sub}))"),
                (min, Some(max)) => format!("((_ re.loop {min} {max}) {sub})"),
            }
        }
        HirKind::Capture(cap) => re(&cap.sub, depth + 1)?,
        HirKind::Concat(items) => {
            let parts: Result<Vec<String>, String> = items.iter().map(|i| re(i, depth + 1)).collect();
            concat(parts?)
        }
        HirKind::Alternation(items) => {
            let parts: Result<Vec<String>, String> = items.iter().map(|i| re(i, depth + 1)).collect();
            format!("(re.union {})", parts?.join(" "))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_what_carries_over() {
        assert_eq!(translate("^ab$").unwrap(), "(str.to_re \"ab\")");
        assert!(translate("a[0-9]{2,3}").unwrap().contains("(_ re.loop 2 3)"));
        assert!(translate("\\bword\\b").is_err());
        assert!(translate("a^b").is_err());
    }
}
