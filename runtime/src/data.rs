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

pub(crate) fn error_at(path: &Path<'_>, message: impl Into<String>) -> DataError {
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
        let slot = field_slot(fields, key, path)?;
        let Some(field) = fields.get(slot) else { continue };
        let raw = value(v, &field.ty, program, tables, entities, &Path::Key(path, key), depth)?;
        out.set(slot, raw);
    }
    missing_fields(&out, fields, path)?;
    Ok(out)
}

/// The slot of field `key` of a record of `fields`, or the error naming
/// it as undeclared (with the declared fields, or the nearest one).
#[inline]
pub(crate) fn field_slot(fields: &[Field], key: &str, path: &Path<'_>) -> Result<usize, DataError> {
    match fields.iter().position(|f| f.name == key) {
        Some(slot) => Ok(slot),
        None => Err(undeclared_field(fields, key, path)),
    }
}

/// The error for a field `key` that `fields` does not declare: off the hot
/// path, since every request that is decided has none.
#[cold]
#[inline(never)]
fn undeclared_field(fields: &[Field], key: &str, path: &Path<'_>) -> DataError {
    let known: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    let help = ward_ir::did_you_mean(key, known.iter().copied()).unwrap_or_else(|| {
        if known.is_empty() { "no fields are declared".to_string() } else { format!("declared: {}", known.join(", ")) }
    });
    error_at(&Path::Key(path, key), format!("not declared in the schema ({help})"))
}

/// Refuses `record` if a required field of `fields` is not set, naming the first.
pub(crate) fn missing_fields(record: &Record, fields: &[Field], path: &Path<'_>) -> Result<(), DataError> {
    for (slot, field) in fields.iter().enumerate() {
        if !field.optional && record.get(slot).is_none() {
            return Err(error_at(&Path::Key(path, &field.name), "missing (the schema requires it)"));
        }
    }
    Ok(())
}

/// A value given in Rust for a context field ([`crate::engine::RequestBuilder::context`]):
/// read as its JSON counterpart would be (an `Int` as a JSON integer, a
/// `Str` as a JSON string, so a string also gives a time, a date, a
/// duration, a decimal, an IP address or an enum value), with the same
/// checks and errors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    Bool(bool),
    Int(i64),
    Str(&'a str),
    /// An entity reference `Type::"id"` (JSON: `{"type": …, "id": …}`).
    Entity(&'a str, &'a str),
    /// An IP address (JSON: its text).
    Ip(std::net::IpAddr),
    /// A set (JSON: an array).
    Set(&'a [FieldValue<'a>]),
    /// A record, by field name (JSON: an object; a name given twice is refused).
    Record(&'a [(&'a str, FieldValue<'a>)]),
    /// Any JSON value, read as in a JSON context.
    Json(&'a Json),
}

impl<'a> FieldValue<'a> {
    /// The entity reference `ty::"id"`.
    pub fn entity(ty: &'a str, id: &'a str) -> FieldValue<'a> {
        FieldValue::Entity(ty, id)
    }

    /// The JSON value this stands for; `Err` names a record field given twice.
    pub fn to_json(&self) -> Result<Json, String> {
        Ok(match self {
            FieldValue::Bool(b) => Json::Bool(*b),
            FieldValue::Int(i) => Json::from(*i),
            FieldValue::Str(s) => Json::String((*s).to_string()),
            FieldValue::Entity(t, id) => serde_json::json!({"type": t, "id": id}),
            FieldValue::Ip(ip) => Json::String(ip.to_string()),
            FieldValue::Set(items) => Json::Array(items.iter().map(FieldValue::to_json).collect::<Result<_, _>>()?),
            FieldValue::Record(fields) => {
                let mut map = serde_json::Map::new();
                for (name, v) in *fields {
                    if map.insert((*name).to_string(), v.to_json()?).is_some() {
                        return Err((*name).to_string());
                    }
                }
                Json::Object(map)
            }
            FieldValue::Json(j) => (*j).clone(),
        })
    }

    /// Whether this is read without its JSON counterpart: scalars, and sets
    /// of them nested no deeper than [`MAX_DEPTH`] (deeper ones are refused
    /// by the JSON reading, with its error).
    fn direct(&self, depth: usize) -> bool {
        match self {
            FieldValue::Set(items) => depth <= MAX_DEPTH && items.iter().all(|i| i.direct(depth + 1)),
            FieldValue::Record(_) | FieldValue::Json(_) => false,
            _ => true,
        }
    }
}

impl From<bool> for FieldValue<'_> {
    fn from(b: bool) -> Self {
        FieldValue::Bool(b)
    }
}

impl From<i64> for FieldValue<'_> {
    fn from(i: i64) -> Self {
        FieldValue::Int(i)
    }
}

impl From<i32> for FieldValue<'_> {
    fn from(i: i32) -> Self {
        FieldValue::Int(i64::from(i))
    }
}

impl From<u32> for FieldValue<'_> {
    fn from(i: u32) -> Self {
        FieldValue::Int(i64::from(i))
    }
}

impl<'a> From<&'a str> for FieldValue<'a> {
    fn from(s: &'a str) -> Self {
        FieldValue::Str(s)
    }
}

impl<'a> From<&'a String> for FieldValue<'a> {
    fn from(s: &'a String) -> Self {
        FieldValue::Str(s)
    }
}

impl From<std::net::IpAddr> for FieldValue<'_> {
    fn from(ip: std::net::IpAddr) -> Self {
        FieldValue::Ip(ip)
    }
}

impl<'a> From<&'a [FieldValue<'a>]> for FieldValue<'a> {
    fn from(items: &'a [FieldValue<'a>]) -> Self {
        FieldValue::Set(items)
    }
}

impl<'a> From<&'a Json> for FieldValue<'a> {
    fn from(j: &'a Json) -> Self {
        FieldValue::Json(j)
    }
}

/// Types a context field's `arg` as `ty`, exactly as [`record`] types the
/// field's JSON counterpart (same value words, same errors): the common
/// cases directly, without building JSON; every other (including every
/// mismatch, whose error names what was found) through [`value`].
pub(crate) fn field_value(
    arg: &FieldValue<'_>,
    ty: &Ty,
    program: &Program,
    tables: &mut Tables,
    entities: &mut dyn Entities,
    path: &Path<'_>,
) -> Result<Raw, DataError> {
    if arg.direct(0)
        && let Some(raw) = direct_value(arg, ty, program, tables, entities, path, 0)
    {
        return raw;
    }
    let json = arg
        .to_json()
        .map_err(|name| error_at(&Path::Key(path, &name), format!("the field `{name}` is given twice")))?;
    // As a JSON context is checked before it is read (`Request::from_json`).
    if deeper_than_limit(&json) {
        return Err(error_at(path, format!("nested more than {MAX_JSON_DEPTH} levels deep")));
    }
    value(&json, ty, program, tables, entities, path, 0)
}

/// [`value`] for the cases of `arg` and `ty` it reads the same way without
/// JSON; `None` for the others.
fn direct_value(
    arg: &FieldValue<'_>,
    ty: &Ty,
    program: &Program,
    tables: &mut Tables,
    entities: &mut dyn Entities,
    path: &Path<'_>,
    depth: usize,
) -> Option<Result<Raw, DataError>> {
    if depth > MAX_DEPTH {
        return Some(Err(error_at(path, format!("nested more than {MAX_DEPTH} levels deep"))));
    }
    let at_path = |r: Result<i64, String>| r.map(|v| v as u64).map_err(|e| error_at(path, e));
    Some(match (ty, arg) {
        (Ty::Bool, FieldValue::Bool(b)) => Ok(u64::from(*b)),
        (Ty::Int | Ty::Time | Ty::Duration, FieldValue::Int(i)) => Ok(*i as u64),
        (Ty::String, FieldValue::Str(s)) => Ok(entities.string(s, tables)),
        (Ty::Decimal, FieldValue::Str(s)) => at_path(literals::decimal(s)),
        (Ty::Time, FieldValue::Str(s)) => at_path(literals::time_ms(s)),
        (Ty::Date, FieldValue::Str(s)) => at_path(literals::date_days(s)),
        (Ty::Duration, FieldValue::Str(s)) => at_path(literals::signed_duration_ms(s)),
        (Ty::Ip, FieldValue::Str(s)) => literals::ip(s).map(|ip| tables.add_ip(ip)).map_err(|e| error_at(path, e)),
        (Ty::Ip, FieldValue::Ip(ip)) => Ok(tables.add_ip(*ip)),
        (Ty::Cidr, FieldValue::Str(s)) => literals::cidr(s).map(|c| tables.add_cidr(c)).map_err(|e| error_at(path, e)),
        (Ty::Enum(e), FieldValue::Str(s)) => {
            let info = program.enums.get(*e as usize)?;
            let i = info.variants.iter().position(|v| v == s)?;
            Ok(i as u64)
        }
        (Ty::Entity(types), FieldValue::Entity(t, id)) => {
            let (ty_index, index) = match entities.entity(t, id, "") {
                Ok(found) => found,
                Err(e) => return Some(Err(at(path)(e))),
            };
            if !types.contains(&ty_index) {
                return None;
            }
            Ok(index)
        }
        (Ty::Set(element), FieldValue::Set(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match direct_value(item, element, program, tables, entities, &Path::Index(path, i), depth + 1)? {
                    Ok(raw) => out.push(raw),
                    Err(e) => return Some(Err(e)),
                }
            }
            Ok(tables.add_set(out))
        }
        _ => return None,
    })
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}
