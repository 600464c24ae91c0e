//! A small reader for what solvers print: S-expressions with string
//! literals (`""` escapes a quote, `\u{…}` a code point) and quoted symbols.
//! Iterative, so that no answer can exhaust the stack.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sexp {
    Atom(String),
    Str(String),
    List(Vec<Sexp>),
}

impl Sexp {
    pub fn list(&self) -> Option<&[Sexp]> {
        match self {
            Sexp::List(items) => Some(items),
            _ => None,
        }
    }

    /// An integer value: `5` or `(- 5)`.
    pub fn int(&self) -> Option<i128> {
        match self {
            Sexp::Atom(a) => a.parse().ok(),
            Sexp::List(items) => match items.as_slice() {
                [Sexp::Atom(minus), v] if minus == "-" => v.int().and_then(i128::checked_neg),
                _ => None,
            },
            Sexp::Str(_) => None,
        }
    }

    pub fn boolean(&self) -> Option<bool> {
        match self {
            Sexp::Atom(a) if a == "true" => Some(true),
            Sexp::Atom(a) if a == "false" => Some(false),
            _ => None,
        }
    }

    pub fn string(&self) -> Option<&str> {
        match self {
            Sexp::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The text of this expression as SMT-LIB (for messages and for matching
    /// a `get-value` answer to the term asked for).
    pub fn text(&self) -> String {
        match self {
            Sexp::Atom(a) => a.clone(),
            Sexp::Str(s) => crate::smt::string_lit(s).unwrap_or_default(),
            Sexp::List(items) => format!("({})", items.iter().map(Sexp::text).collect::<Vec<_>>().join(" ")),
        }
    }
}

/// Reads every S-expression in `text`.
pub fn parse_all(text: &str) -> Result<Vec<Sexp>, String> {
    let mut stack: Vec<Vec<Sexp>> = vec![Vec::new()];
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let push = |stack: &mut Vec<Vec<Sexp>>, item: Sexp| {
        if let Some(top) = stack.last_mut() {
            top.push(item);
        }
    };
    while let Some(&c) = chars.get(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            ';' => {
                while chars.get(i).is_some_and(|c| *c != '\n') {
                    i += 1;
                }
            }
            '(' => {
                stack.push(Vec::new());
                i += 1;
            }
            ')' => {
                let items = stack.pop().ok_or("unbalanced `)`")?;
                if stack.is_empty() {
                    return Err("unbalanced `)`".into());
                }
                push(&mut stack, Sexp::List(items));
                i += 1;
            }
            '"' => {
                i += 1;
                let mut raw = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('"') if chars.get(i + 1) == Some(&'"') => {
                            raw.push('"');
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(c) => {
                            raw.push(*c);
                            i += 1;
                        }
                    }
                }
                push(&mut stack, Sexp::Str(unescape(&raw)));
            }
            '|' => {
                i += 1;
                let mut name = String::from("|");
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated quoted symbol".into()),
                        Some('|') => {
                            i += 1;
                            break;
                        }
                        Some(c) => {
                            name.push(*c);
                            i += 1;
                        }
                    }
                }
                name.push('|');
                push(&mut stack, Sexp::Atom(name));
            }
            _ => {
                let mut atom = String::new();
                while let Some(&c) = chars.get(i) {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '"' || c == ';' {
                        break;
                    }
                    atom.push(c);
                    i += 1;
                }
                push(&mut stack, Sexp::Atom(atom));
            }
        }
    }
    if stack.len() != 1 {
        return Err("unbalanced `(`".into());
    }
    Ok(stack.pop().unwrap_or_default())
}

/// SMT-LIB 2.6 string escapes: `\u{d…}` (1–5 hex digits) and `\udddd`.
/// Anything else stands for itself. A code point that is not a Rust `char`
/// (a surrogate) becomes U+FFFD, which replay then exposes as a mismatch.
pub fn unescape(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c == '\\' && chars.get(i + 1) == Some(&'u') {
            if chars.get(i + 2) == Some(&'{') {
                let end = (i + 3..chars.len()).find(|j| chars.get(*j) == Some(&'}'));
                if let Some(end) = end {
                    let hex: String = chars.get(i + 3..end).map(|s| s.iter().collect()).unwrap_or_default();
                    if (1..=5).contains(&hex.len())
                        && let Ok(code) = u32::from_str_radix(&hex, 16)
                    {
                        out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                        i = end + 1;
                        continue;
                    }
                }
            } else {
                let hex: String = chars.get(i + 2..i + 6).map(|s| s.iter().collect()).unwrap_or_default();
                if hex.len() == 4
                    && hex.chars().all(|h| h.is_ascii_hexdigit())
                    && let Ok(code) = u32::from_str_radix(&hex, 16)
                {
                    out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                    i += 6;
                    continue;
                }
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_values() {
        let v = parse_all("((x (- 5)) (|a b| \"q\"\"\\u{e9}\") ((f x) true))").unwrap();
        let pairs = v[0].list().unwrap();
        assert_eq!(pairs[0].list().unwrap()[1].int(), Some(-5));
        assert_eq!(pairs[1].list().unwrap()[0], Sexp::Atom("|a b|".into()));
        assert_eq!(pairs[1].list().unwrap()[1].string(), Some("q\"é"));
        assert_eq!(pairs[2].list().unwrap()[0].text(), "(f x)");
        assert_eq!(pairs[2].list().unwrap()[1].boolean(), Some(true));
    }

    #[test]
    fn refuses_unbalanced_input() {
        assert!(parse_all("((a)").is_err());
        assert!(parse_all("a)").is_err());
        assert!(parse_all("\"abc").is_err());
    }

    #[test]
    fn unescapes_both_forms() {
        assert_eq!(unescape("\\u0041\\u{42}\\x"), "AB\\x");
    }
}
