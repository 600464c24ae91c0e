//! Reading JSON values (Cedar's shapes) into typed value words.
//!
//! Errors name the place (`context.amount`, `User::"dana".manager`) and the
//! problem; a value of the wrong shape is never guessed at.

use serde_json::Value as Json;
use std::borrow::Cow;
use ward_ir::literals;
use ward_ir::{Field, Program, Ty};

use crate::value::{Raw, Record, Tables};

/// Why input data was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    /// Where in the input: `context.amount`, `entities[3].attrs.owner`.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for DataError {}

pub fn error(path: &str, message: impl Into<String>) -> DataError {
    DataError { path: path.to_string(), message: message.into() }
}

/// Where a value sits in the input, rendered only when an error names it:
/// reading a well-formed request formats nothing.
#[derive(Clone, Copy)]
pub enum Path<'a> {
    Root(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root(s) => f.write_str(s),
            Path::Key(Path::Root(""), key) => f.write_str(key),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

fn error_at(path: &Path<'_>, message: impl Into<String>) -> DataError {
    DataError { path: path.to_string(), message: message.into() }
}

/// Re-labels an error raised without knowing where the value was (its
/// path, if any, is relative to `path`).
fn at<'p>(path: &'p Path<'_>) -> impl Fn(DataError) -> DataError + 'p {
    move |e| {
        let path = if e.path.is_empty() { path.to_string() } else { Path::Key(path, &e.path).to_string() };
        DataError { path, message: e.message }
    }
}

/// How far nested a value may be: deeper input is refused, not recursed into.
pub const MAX_DEPTH: usize = 64;

/// How far nested JSON may be before it is refused unread: twice
/// [`MAX_DEPTH`] (entity references and extension values add levels of
/// their own), which is also serde_json's limit for parsed text. Only a value
/// built in memory can be deeper.
pub const MAX_JSON_DEPTH: usize = 2 * MAX_DEPTH;

/// Refuses `json` if it nests deeper than [`MAX_JSON_DEPTH`], naming the
/// field (`path.key`) that does. Iterative: however deep the value, checking
/// it takes no stack, and callers check before they copy or read it
/// recursively.
pub fn check_depth(json: &Json, path: &str) -> Result<(), DataError> {
    let too_deep = |at: String| Err(error(&at, format!("nested more than {MAX_JSON_DEPTH} levels deep")));
    match json {
        Json::Object(map) => {
            for (key, value) in map {
                if deeper_than_limit(value) {
                    return too_deep(join(path, key));
                }
            }
        }
        Json::Array(items) => {
            for (i, value) in items.iter().enumerate() {
                if deeper_than_limit(value) {
                    return too_deep(format!("{path}[{i}]"));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Whether `value`, a field at the second level, nests past [`MAX_JSON_DEPTH`].
fn deeper_than_limit(value: &Json) -> bool {
    if !matches!(value, Json::Array(_) | Json::Object(_)) {
        return false;
    }
    let mut stack: Vec<(&Json, usize)> = vec![(value, 2)];
    while let Some((v, depth)) = stack.pop() {
        if depth > MAX_JSON_DEPTH {
            return true;
        }
        match v {
            Json::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            Json::Object(map) => stack.extend(map.values().map(|i| (i, depth + 1))),
            _ => {}
        }
    }
    false
}

/// Resolves `{"type": …, "id": …}` references to entity indexes, and
/// strings to their ids.
pub trait Entities {
    fn entity(&mut self, ty: &str, id: &str, path: &str) -> Result<(u32, Raw), DataError>;

    /// The id of a string. A request's strings reuse the store's ids, so
    /// that equal strings always have equal ids.
    fn string(&mut self, s: &str, tables: &mut Tables) -> Raw {
        tables.intern(s)
    }
}

/// A JSON value's kind, for messages.
pub fn kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        // A number kept exactly by the strict reader (`crate::json`).
        Json::Object(_) if extension(json, "decimal").is_some() => "a decimal",
        Json::Object(_) => "an object",
    }
}

/// The Ward action a Cedar action entity names: `Action::"view"` is the
/// action `view`, and `Ns::Action::"view"` the action `Ns::view`, declared
/// in `namespace Ns`. `None` when `ty` is no action type.
pub fn action_name<'a>(ty: &str, id: &'a str) -> Option<Cow<'a, str>> {
    if ty == "Action" {
        return Some(Cow::Borrowed(id));
    }
    let ns = ty.strip_suffix("::Action")?;
    Some(Cow::Owned(format!("{ns}::{id}")))
}

/// The `(type, id)` of an entity reference, in each form Cedar accepts:
/// exactly `{"type", "id"}`, `{"__entity": {"type", "id"}}`, or the string
/// `T::"id"` (Cedar's CLI requests). Any other field is refused, naming it:
/// a reader that ignored it could see a different entity than its sender
/// meant.
pub fn entity_ref<'j>(json: &'j Json, path: &str) -> Result<(Cow<'j, str>, Cow<'j, str>), DataError> {
    let (obj, path) = match json {
        Json::String(s) if s.contains("::\"") => {
            let (t, id) = entity_ref_text(s).map_err(|e| error(path, e))?;
            return Ok((Cow::Borrowed(t), id));
        }
        Json::Object(o) => match o.get("__entity") {
            Some(Json::Object(inner)) => {
                only_fields(o, &["__entity"], path, "an entity reference")?;
                (inner, join(path, "__entity"))
            }
            Some(_) => return Err(error(path, "`__entity` must be an object with `type` and `id`")),
            None => (o, path.to_string()),
        },
        other => {
            return Err(error(
                path,
                format!(
                    "expected an entity such as {{\"type\": \"User\", \"id\": \"dana\"}} or \"User::\\\"dana\\\"\", found {}",
                    kind(other)
                ),
            ));
        }
    };
    only_fields(obj, &["type", "id"], &path, "an entity reference")?;
    match (obj.get("type"), obj.get("id")) {
        (Some(Json::String(t)), Some(Json::String(i))) => Ok((Cow::Borrowed(t), Cow::Borrowed(i))),
        (Some(Json::String(_)), Some(other)) => {
            Err(error(&join(&path, "id"), format!("expected a string, found {}", kind(other))))
        }
        (Some(other), Some(_)) => Err(error(&join(&path, "type"), format!("expected a string, found {}", kind(other)))),
        _ => Err(error(&path, "an entity reference needs string fields `type` and `id`")),
    }
}

/// Cedar's entity reference text `Type::"id"` (the type possibly
/// namespaced, `A::B::"id"`; the id a Cedar string literal with its
/// escapes). Nothing may precede or follow it.
pub fn entity_ref_text(text: &str) -> Result<(&str, Cow<'_, str>), String> {
    let bad = |why: &str| format!("`{text}` is not an entity reference such as `User::\"dana\"`: {why}");
    let Some(split) = text.find("::\"") else { return Err(bad("no `::\"`")) };
    let (ty, quoted) = text.split_at(split);
    let well_formed = !ty.is_empty()
        && ty.split("::").all(|seg| {
            let mut chars = seg.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if !well_formed {
        return Err(bad("the type must be a name (or names joined by `::`)"));
    }
    let body = quoted
        .strip_prefix("::\"")
        .and_then(|q| q.strip_suffix('"'))
        .ok_or_else(|| bad("the id must be one quoted string, with nothing after it"))?;
    if !body.contains('\\') {
        if body.contains('"') {
            return Err(bad("a `\"` inside the id must be escaped"));
        }
        return Ok((ty, Cow::Borrowed(body)));
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Err(bad("a `\"` inside the id must be escaped")),
            '\\' => out.push(match chars.next() {
                Some('n') => '\n',
                Some('r') => '\r',
                Some('t') => '\t',
                Some('0') => '\0',
                Some(c @ ('\\' | '"' | '\'')) => c,
                Some('u') => {
                    let rest: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    rest.strip_prefix('{')
                        .filter(|h| (1..=6).contains(&h.len()))
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .and_then(char::from_u32)
                        .ok_or_else(|| bad("`\\u` must be followed by `{` 1 to 6 hex digits `}` naming a character"))?
                }
                Some(other) => return Err(bad(&format!("unknown escape `\\{other}`"))),
                None => return Err(bad("the id ends in a lone `\\`")),
            }),
            c => out.push(c),
        }
    }
    Ok((ty, Cow::Owned(out)))
}

/// Refuses a field of `obj` not in `allowed`, naming it.
pub fn only_fields(
    obj: &serde_json::Map<String, Json>,
    allowed: &[&str],
    path: &str,
    what: &str,
) -> Result<(), DataError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(error(&join(path, k), format!("not a field of {what} (its fields: {})", allowed.join(", ")))),
        None => Ok(()),
    }
}

/// The argument of a Cedar extension value `{"__extn": {"fn": NAME, "arg": …}}`
/// or, as Cedar also reads it, `{"fn": NAME, "arg": …}` (exactly those fields).
fn extension<'j>(json: &'j Json, name: &str) -> Option<&'j str> {
    let outer = json.as_object()?;
    let inner = match outer.get("__extn") {
        Some(inner) if outer.len() == 1 => inner.as_object()?,
        Some(_) => return None,
        None => outer,
    };
    if inner.len() != 2 || inner.get("fn")?.as_str()? != name {
        return None;
    }
    inner.get("arg")?.as_str()
}

/// A decimal from a JSON number, exactly: integers as they are, a double
/// by its shortest decimal form (what [`crate::json`] keeps only when that
/// is exactly the number's text). Never rounded: more than 4 fractional
/// digits or out of range is an error.
fn decimal_of_number(n: &serde_json::Number) -> Result<i64, String> {
    let text = match (n.as_i64(), n.as_u64(), n.as_f64()) {
        (Some(i), _, _) => i.to_string(),
        (None, Some(u), _) => u.to_string(),
        (None, None, Some(f)) => format!("{f}"),
        _ => n.to_string(),
    };
    literals::decimal_number(&text)
}

/// Converts `json` to a value of type `ty`.
pub fn value(
    json: &Json,
    ty: &Ty,
    program: &Program,
    tables: &mut Tables,
    entities: &mut dyn Entities,
    path: &Path<'_>,
    depth: usize,
) -> Result<Raw, DataError> {
    if depth > MAX_DEPTH {
        return Err(error_at(path, format!("nested more than {MAX_DEPTH} levels deep")));
    }
    let expected = |what: &str| error_at(path, format!("expected {what}, found {}", kind(json)));
    fn text<'j>(json: &'j Json, ext: &str) -> Option<&'j str> {
        json.as_str().or_else(|| extension(json, ext))
    }
    match ty {
        Ty::Bool => json.as_bool().map(u64::from).ok_or_else(|| expected("a boolean")),
        Ty::Int => json.as_i64().map(|i| i as u64).ok_or_else(|| expected("an integer")),
        Ty::Decimal => {
            let value = match json {
                Json::Number(n) => decimal_of_number(n),
                other => literals::decimal(
                    text(other, "decimal")
                        .ok_or_else(|| expected("a decimal (a number or a string such as \"12.50\")"))?,
                ),
            };
            value.map(|v| v as u64).map_err(|e| error_at(path, e))
        }
        Ty::String => {
            let s = json.as_str().ok_or_else(|| expected("a string"))?;
            Ok(entities.string(s, tables))
        }
        Ty::Time => match json {
            Json::Number(n) => {
                n.as_i64().map(|v| v as u64).ok_or_else(|| expected("a time (milliseconds or RFC 3339)"))
            }
            other => {
                let s = text(other, "datetime").ok_or_else(|| expected("a time such as \"2026-11-26T09:00:00Z\""))?;
                literals::time_ms(s).map(|v| v as u64).map_err(|e| error_at(path, e))
            }
        },
        Ty::Date => {
            let s = text(json, "date").ok_or_else(|| expected("a date such as \"2026-11-26\""))?;
            literals::date_days(s).map(|v| v as u64).map_err(|e| error_at(path, e))
        }
        Ty::Duration => match json {
            Json::Number(n) => {
                n.as_i64().map(|v| v as u64).ok_or_else(|| expected("a duration (milliseconds or \"1h30m\")"))
            }
            other => {
                let s = text(other, "duration").ok_or_else(|| expected("a duration such as \"1h30m\" or \"-5h\""))?;
                literals::signed_duration_ms(s).map(|v| v as u64).map_err(|e| error_at(path, e))
            }
        },
        Ty::Ip => {
            let s = text(json, "ip").ok_or_else(|| expected("an IP address such as \"10.0.0.1\""))?;
            // Cedar's `ip` also holds ranges; a bare address is what an `Ip` is.
            let ip = literals::ip(s).map_err(|e| error_at(path, e))?;
            Ok(tables.add_ip(ip))
        }
        Ty::Cidr => {
            let s = text(json, "ip")
                .or_else(|| text(json, "cidr"))
                .ok_or_else(|| expected("a CIDR range such as \"10.0.0.0/8\""))?;
            let cidr = literals::cidr(s).map_err(|e| error_at(path, e))?;
            Ok(tables.add_cidr(cidr))
        }
        Ty::Entity(types) => {
            let (t, id) = entity_ref(json, "").map_err(at(path))?;
            let (ty_index, index) = entities.entity(&t, &id, "").map_err(at(path))?;
            if !types.contains(&ty_index) {
                let names: Vec<&str> = types
                    .iter()
                    .filter_map(|i| program.entity_types.get(*i as usize))
                    .map(|e| e.name.as_str())
                    .collect();
                return Err(error_at(path, format!("expected an entity of type {}, found `{t}`", names.join(" or "))));
            }
            Ok(index)
        }
        Ty::Enum(e) => {
            let info = program.enums.get(*e as usize).ok_or_else(|| error_at(path, "unknown enum"))?;
            let s = json.as_str().ok_or_else(|| expected(&format!("a value of `{}`", info.name)))?;
            match info.variants.iter().position(|v| v == s) {
                Some(i) => Ok(i as u64),
                None => Err(error_at(
                    path,
                    format!("`{s}` is not a value of `{}` ({})", info.name, info.variants.join(", ")),
                )),
            }
        }
        Ty::Set(element) => {
            let items = json.as_array().ok_or_else(|| expected("an array"))?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(value(item, element, program, tables, entities, &Path::Index(path, i), depth + 1)?);
            }
            Ok(tables.add_set(out))
        }
        Ty::Record(fields) => {
            let record = record(json, fields, program, tables, entities, path, depth + 1)?;
            Ok(tables.add_record(record))
        }
        Ty::Action => {
            let s = json.as_str().ok_or_else(|| expected("an action name"))?;
            program
                .actions
                .iter()
                .position(|a| a.name == s)
                .map(|i| i as u64)
                .ok_or_else(|| error_at(path, format!("unknown action `{s}`")))
        }
        Ty::Unknown => Err(error_at(path, "a value of unknown type")),
    }
}

/// Converts a JSON object to a record of `fields` (sorted by name). Unknown
/// fields and missing required fields are errors.
pub fn record(
    json: &Json,
    fields: &[Field],
    program: &Program,
    tables: &mut Tables,
    entities: &mut dyn Entities,
    path: &Path<'_>,
    depth: usize,
) -> Result<Record, DataError> {
    let obj = match json {
        Json::Object(o) => o,
        other => return Err(error_at(path, format!("expected an object, found {}", kind(other)))),
    };
    let mut out = tables.take_record(fields.len());
    for (key, v) in obj {
        let Some(slot) = fields.iter().position(|f| f.name == *key) else {
            let known: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            let help = ward_ir::did_you_mean(key, known.iter().copied()).unwrap_or_else(|| {
                if known.is_empty() {
                    "no fields are declared".to_string()
                } else {
                    format!("declared: {}", known.join(", "))
                }
            });
            return Err(error_at(&Path::Key(path, key), format!("not declared in the schema ({help})")));
        };
        let Some(field) = fields.get(slot) else { continue };
        let raw = value(v, &field.ty, program, tables, entities, &Path::Key(path, key), depth)?;
        out.set(slot, raw);
    }
    for (slot, field) in fields.iter().enumerate() {
        if !field.optional && out.get(slot).is_none() {
            return Err(error_at(&Path::Key(path, &field.name), "missing (the schema requires it)"));
        }
    }
    Ok(out)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}
