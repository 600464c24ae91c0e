//! JSON text read strictly, for everything Ward decides on: requests,
//! entity files, service bodies, gateway messages.
//!
//! serde_json accepts two things Ward must not:
//! - **duplicate keys** (the last one wins): `{"action": "delete", "action":
//!   "read"}` would be decided as `read` while a proxy in front that keeps
//!   the first key acted on `delete`. Here a duplicate key is an error
//!   naming it.
//! - **numbers that a double cannot hold** (rounded silently):
//!   `100000000000000.0001` would become `100000000000000.0`. Here every
//!   number is kept exactly or refused: an integer as a 64-bit integer; a
//!   number whose double reads back as the same decimal value (`0.1`,
//!   `12.5`, `1e3`) as that double; any other number that is an exact Ward
//!   decimal (at most 4 fractional digits, in range) as Cedar's decimal
//!   value `{"__extn": {"fn": "decimal", "arg": "100000000000000.0001"}}`,
//!   which a `Decimal` field reads exactly and every other type refuses;
//!   anything else is refused, naming where it is.
//!
//! The parser is a single pass over the bytes, with nesting bounded by
//! [`MAX_JSON_DEPTH`] (recursion is at most that deep) and errors that name
//! the path (`context.amount`) or, for syntax, the line and column.

use serde_json::{Map, Number, Value as Json};

use crate::data::{DataError, MAX_JSON_DEPTH, Path};

/// Parses `text` strictly. `what` names the document in syntax errors
/// (`request`, `entities`); `root` is the path its values are named under
/// (`Path::Root("")` for a request, whose fields are named bare:
/// `context.amount`).
pub fn parse(text: &str, what: &str, root: &Path<'_>) -> Result<Json, DataError> {
    let mut p = Parser { text, bytes: text.as_bytes(), at: 0, what };
    p.skip_ws();
    let value = p.value(root, 1)?;
    p.skip_ws();
    if p.at < p.bytes.len() {
        return Err(p.syntax("trailing characters"));
    }
    Ok(value)
}

/// Parses a request's text (paths named bare: `action`, `context.amount`).
pub fn parse_request(text: &str) -> Result<Json, DataError> {
    parse(text, "request", &Path::Root(""))
}

struct Parser<'t> {
    text: &'t str,
    bytes: &'t [u8],
    at: usize,
    what: &'t str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// A syntax error at the current position: `not valid JSON: … at line L column C`.
    fn syntax(&self, problem: &str) -> DataError {
        let before = self.text.get(..self.at.min(self.text.len())).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        let problem = if self.at >= self.bytes.len() { "unexpected end of input" } else { problem };
        DataError {
            path: self.what.to_string(),
            message: format!("not valid JSON: {problem} at line {line} column {column}"),
        }
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), DataError> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.syntax(&format!("expected {what}")))
        }
    }

    fn value(&mut self, path: &Path<'_>, depth: usize) -> Result<Json, DataError> {
        match self.peek() {
            Some(b'{') => {
                self.nest(path, depth)?;
                self.object(path, depth)
            }
            Some(b'[') => {
                self.nest(path, depth)?;
                self.array(path, depth)
            }
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'n') => self.word("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(path),
            _ => Err(self.syntax("expected a value")),
        }
    }

    fn nest(&self, path: &Path<'_>, depth: usize) -> Result<(), DataError> {
        if depth > MAX_JSON_DEPTH {
            return Err(DataError {
                path: path_text(path, self.what),
                message: format!("nested more than {MAX_JSON_DEPTH} levels deep"),
            });
        }
        Ok(())
    }

    fn word(&mut self, word: &str, value: Json) -> Result<Json, DataError> {
        if self.bytes.get(self.at..self.at + word.len()) == Some(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.syntax("expected a value"))
        }
    }

    fn object(&mut self, path: &Path<'_>, depth: usize) -> Result<Json, DataError> {
        self.at += 1; // `{`
        let mut map = Map::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Json::Object(map));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a key (a string)"));
            }
            let key = self.string()?;
            self.skip_ws();
            self.expect(b':', "`:`")?;
            self.skip_ws();
            let value = self.value(&Path::Key(path, &key), depth + 1)?;
            if map.contains_key(&key) {
                return Err(DataError {
                    path: Path::Key(path, &key).to_string(),
                    message: format!(
                        "the key `{key}` appears twice in one object (refused: readers that keep the first \
                         and readers that keep the last would see different input)"
                    ),
                });
            }
            map.insert(key, value);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Json::Object(map));
                }
                _ => return Err(self.syntax("expected `,` or `}`")),
            }
        }
    }

    fn array(&mut self, path: &Path<'_>, depth: usize) -> Result<Json, DataError> {
        self.at += 1; // `[`
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(&Path::Index(path, items.len()), depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.syntax("expected `,` or `]`")),
            }
        }
    }

    /// A string, its escapes decoded. The input is `&str`, so the bytes
    /// between escapes are valid UTF-8 already.
    fn string(&mut self) -> Result<String, DataError> {
        self.at += 1; // `"`
        let mut out = String::new();
        let mut start = self.at;
        loop {
            let Some(b) = self.peek() else { return Err(self.syntax("unterminated string")) };
            match b {
                b'"' => {
                    out.push_str(self.text.get(start..self.at).unwrap_or(""));
                    self.at += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(self.text.get(start..self.at).unwrap_or(""));
                    self.at += 1;
                    self.escape(&mut out)?;
                    start = self.at;
                }
                0x00..=0x1f => return Err(self.syntax("control character in a string")),
                _ => self.at += 1,
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), DataError> {
        let Some(b) = self.peek() else { return Err(self.syntax("unterminated string")) };
        self.at += 1;
        let c = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                let code = if (0xD800..0xDC00).contains(&first) {
                    // A high surrogate must be followed by `\u` and a low one.
                    if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
                        return Err(self.syntax("lone leading surrogate in a \\u escape"));
                    }
                    self.at += 2;
                    let second = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&second) {
                        return Err(self.syntax("invalid low surrogate in a \\u escape"));
                    }
                    0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                } else if (0xDC00..0xE000).contains(&first) {
                    return Err(self.syntax("lone trailing surrogate in a \\u escape"));
                } else {
                    first
                };
                char::from_u32(code).ok_or_else(|| self.syntax("invalid \\u escape"))?
            }
            _ => {
                self.at -= 1;
                return Err(self.syntax("invalid escape"));
            }
        };
        out.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, DataError> {
        let digits = self.bytes.get(self.at..self.at + 4).ok_or_else(|| self.syntax("invalid \\u escape"))?;
        let mut v = 0u32;
        for d in digits {
            let x = (*d as char).to_digit(16).ok_or_else(|| self.syntax("invalid \\u escape"))?;
            v = v * 16 + x;
        }
        self.at += 4;
        Ok(v)
    }

    /// A number, by JSON's grammar, kept exactly or refused (see the module docs).
    fn number(&mut self, path: &Path<'_>) -> Result<Json, DataError> {
        let start = self.at;
        let digits = |p: &mut Parser<'_>| {
            let from = p.at;
            while p.peek().is_some_and(|b| b.is_ascii_digit()) {
                p.at += 1;
            }
            p.at - from
        };
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.syntax("expected a digit")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            integer = false;
            if digits(self) == 0 {
                return Err(self.syntax("expected a digit after `.`"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            integer = false;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(self.syntax("expected a digit in the exponent"));
            }
        }
        let text = self.text.get(start..self.at).unwrap_or("");
        exact_number(text, integer).map_err(|message| DataError { path: path_text(path, self.what), message })
    }
}

/// The path of a value, or the document's name for the document itself.
fn path_text(path: &Path<'_>, what: &str) -> String {
    match path {
        Path::Root("") => what.to_string(),
        p => p.to_string(),
    }
}

/// A JSON number's text (valid by the grammar) as a value that holds it exactly.
fn exact_number(text: &str, integer: bool) -> Result<Json, String> {
    if integer {
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Json::Number(Number::from(i)));
        }
        if let Ok(u) = text.parse::<u64>() {
            return Ok(Json::Number(Number::from(u)));
        }
    } else if let Ok(f) = text.parse::<f64>()
        && f.is_finite()
        && same_decimal(text, &format!("{f}"))
        && let Some(n) = Number::from_f64(f)
    {
        return Ok(Json::Number(n));
    }
    // Not a 64-bit integer nor a double: a Ward decimal, held exactly, or refused.
    match ward_ir::literals::decimal_number(text) {
        Ok(scaled) => Ok(decimal_value(scaled)),
        Err(_) => Err(format!(
            "the number {text} cannot be read exactly (Ward's numbers are 64-bit integers and decimals with at \
             most 4 fractional digits); refused rather than rounded"
        )),
    }
}

/// Cedar's decimal extension value for a scaled decimal.
pub fn decimal_value(scaled: i64) -> Json {
    serde_json::json!({"__extn": {"fn": "decimal", "arg": ward_ir::literals::decimal_text(scaled)}})
}

/// Whether two decimal numerals (JSON number syntax) denote the same value.
fn same_decimal(a: &str, b: &str) -> bool {
    normalize(a) == normalize(b)
}

/// `(negative, significant digits, exponent)` with value `0.digits × 10^exponent`,
/// without leading or trailing zeros; zero is `(false, "", 0)`. `None` when
/// the exponent does not fit (such a number is never a double's value).
fn normalize(text: &str) -> Option<(bool, String, i64)> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (rest.get(..i)?, rest.get(i + 1..)?.trim_start_matches('+').parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (whole, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = whole.chars().chain(frac.chars()).collect();
    let lead = all.len() - all.trim_start_matches('0').len();
    let significant = all.trim_start_matches('0').trim_end_matches('0');
    if significant.is_empty() {
        return Some((false, String::new(), 0));
    }
    // The first significant digit is at position `lead` of `all`; the point sits after `whole`.
    let point = i64::try_from(whole.len()).ok()? - i64::try_from(lead).ok()?;
    Some((negative, significant.to_string(), exponent.checked_add(point)?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;

    fn p(text: &str) -> Result<Json, DataError> {
        parse_request(text)
    }

    #[test]
    fn agrees_with_serde_json_on_ordinary_documents() {
        let docs = [
            r#"{"a": [1, -2, 3.5, 0.1, 1e3, 0.0, true, false, null], "b": {"c": "d\n\u00e9\ud83d\ude00\"\\\/"}}"#,
            "[]",
            "{}",
            " \t\r\n 12 ",
            r#""plain""#,
            "18446744073709551615",
            "-9223372036854775808",
            "1.7976931348623157e308",
            "5e-324",
        ];
        for d in docs {
            let ours = p(d).unwrap_or_else(|e| panic!("{d}: {e}"));
            let theirs: Json = serde_json::from_str(d).unwrap();
            assert_eq!(ours, theirs, "{d}");
        }
        // The one difference: serde_json reads `-0` as the double -0.0, which no integer field accepts.
        assert_eq!(p("-0").unwrap(), serde_json::json!(0));
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        for d in [
            "",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "nul",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "\"\\x\"",
            "\"\u{1}\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "[1] 2",
            "{1: 2}",
            "'a'",
            "\"abc",
            "+1",
            "NaN",
            "Infinity",
        ] {
            assert!(serde_json::from_str::<Json>(d).is_err(), "serde accepts {d:?}");
            let e = p(d).expect_err(d);
            assert!(e.message.starts_with("not valid JSON"), "{d:?}: {e}");
        }
    }

    #[test]
    fn duplicate_keys_are_named_with_their_path() {
        let e = p(r#"{"a": {"b": [{"c": 1, "c": 2}]}}"#).unwrap_err();
        assert_eq!(e.path, "a.b[0].c");
        assert!(e.message.contains("`c` appears twice"), "{e}");
        let e = parse("[{\"x\": 1, \"x\": 1}]", "entities", &Path::Root("entities")).unwrap_err();
        assert_eq!(e.path, "entities[0].x");
    }

    #[test]
    fn numbers_are_exact_or_refused() {
        assert_eq!(p("100000000000000.0001").unwrap(), decimal_value(1_000_000_000_000_000_001));
        assert_eq!(p("100000000000000.0001").unwrap()["__extn"]["arg"], "100000000000000.0001");
        assert_eq!(p("-0.5").unwrap(), serde_json::json!(-0.5));
        assert_eq!(p("12.50").unwrap(), serde_json::json!(12.5));
        for bad in ["1e400", "-1e400", "0.1234567890123456789", "123456789012345678901234567890"] {
            let e = p(bad).unwrap_err();
            assert!(e.message.contains("cannot be read exactly"), "{bad}: {e}");
        }
        let e = p(r#"{"ctx": {"n": 1e999}}"#).unwrap_err();
        assert_eq!(e.path, "ctx.n");
    }

    #[test]
    fn nesting_is_bounded_and_named() {
        let deep = format!("{}1{}", "[".repeat(MAX_JSON_DEPTH + 1), "]".repeat(MAX_JSON_DEPTH + 1));
        let e = p(&deep).unwrap_err();
        assert!(e.message.contains("nested more than"), "{e}");
        let ok = format!("{}1{}", "[".repeat(MAX_JSON_DEPTH), "]".repeat(MAX_JSON_DEPTH));
        assert!(p(&ok).is_ok());
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let e = p("{\"a\": 1,\n \"b\": x}").unwrap_err();
        assert_eq!(e.path, "request");
        assert!(e.message.contains("line 2 column 7"), "{e}");
    }
}
