//! Python values ↔ JSON, entity references and times, with errors that name
//! the field.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString, PyTuple};
use serde_json::{Map, Number, Value as Json};
use ward_runtime::EntityUid;

/// Why a Python value could not be read: where, and what is wrong.
#[derive(Debug)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid { field: field.into(), message: message.into() }
    }

    pub fn into_request_error(self, py: Python<'_>) -> PyErr {
        crate::errors::request(py, &self.field, &format!("{}: {}", self.field, self.message))
    }
}

/// Deeper than this is refused (the runtime's own limit).
const MAX_DEPTH: usize = ward_runtime::data::MAX_DEPTH;

static TO_JSON_VALUE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".to_string())
}

/// Converts a Python value to JSON: dicts with string keys, lists, tuples,
/// sets, strings, booleans, integers (64-bit), finite floats and `None`;
/// other values (datetimes, durations, decimals, IP addresses, enums) go
/// through `ward._convert.to_json_value`, which refuses what has no JSON form.
pub fn to_json(obj: &Bound<'_, PyAny>, field: &str, depth: usize) -> Result<Json, Invalid> {
    if depth > MAX_DEPTH {
        return Err(Invalid::new(field, format!("nested more than {MAX_DEPTH} levels deep")));
    }
    if obj.is_none() {
        return Ok(Json::Null);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s.to_cow().map(|c| Json::String(c.into_owned())).map_err(|e| Invalid::new(field, e.to_string()));
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Json::Bool(b.is_true()));
    }
    if obj.cast::<PyInt>().is_ok() {
        return obj
            .extract::<i64>()
            .map(|i| Json::Number(i.into()))
            .map_err(|_| Invalid::new(field, "an integer outside the 64-bit range"));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Number::from_f64(f.value())
            .map(Json::Number)
            .ok_or_else(|| Invalid::new(field, "a float that is not finite"));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in d.iter() {
            let key = match k.cast::<PyString>() {
                Ok(s) => s.to_cow().map_err(|e| Invalid::new(field, e.to_string()))?.into_owned(),
                Err(_) => {
                    return Err(Invalid::new(field, format!("a key of type {} (keys are strings)", type_name(&k))));
                }
            };
            let child = if field.is_empty() { key.clone() } else { format!("{field}.{key}") };
            let value = to_json(&v, &child, depth + 1)?;
            map.insert(key, value);
        }
        return Ok(Json::Object(map));
    }
    if obj.cast::<PyList>().is_ok() || obj.cast::<PyTuple>().is_ok() {
        return sequence(obj, field, depth);
    }
    if obj.cast::<PySet>().is_ok() || obj.cast::<PyFrozenSet>().is_ok() {
        return sequence(obj, field, depth);
    }
    let py = obj.py();
    let convert = TO_JSON_VALUE
        .import(py, "ward._convert", "to_json_value")
        .map_err(|e| Invalid::new(field, format!("cannot load ward._convert: {e}")))?;
    match convert.call1((obj,)) {
        // The helper returns only plain values, so this does not recurse again.
        Ok(plain) if !plain.is(obj) => to_json(&plain, field, depth + 1),
        Ok(_) => Err(Invalid::new(field, format!("a value of type {} has no JSON form", type_name(obj)))),
        Err(e) => Err(Invalid::new(field, e.value(py).to_string())),
    }
}

fn sequence(obj: &Bound<'_, PyAny>, field: &str, depth: usize) -> Result<Json, Invalid> {
    let iter = obj.try_iter().map_err(|e| Invalid::new(field, e.to_string()))?;
    let mut items = Vec::new();
    for (i, item) in iter.enumerate() {
        let item = item.map_err(|e| Invalid::new(field, e.to_string()))?;
        items.push(to_json(&item, &format!("{field}[{i}]"), depth + 1)?);
    }
    Ok(Json::Array(items))
}

/// JSON → Python (dicts, lists, strings, ints, floats, booleans, `None`).
pub fn to_py<'py>(py: Python<'py>, json: &Json) -> PyResult<Bound<'py, PyAny>> {
    Ok(match json {
        Json::Null => py.None().into_bound(py),
        Json::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Json::String(s) => PyString::new(py, s).into_any(),
        Json::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Json::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// An entity reference: `("Agent", "bot")`, `{"type": "Agent", "id": "bot"}`
/// (or Cedar's `{"__entity": {…}}`), or the text `Agent::"bot"`.
pub fn entity(obj: &Bound<'_, PyAny>, field: &str) -> Result<EntityUid, Invalid> {
    let string = |v: &Bound<'_, PyAny>, what: &str| -> Result<String, Invalid> {
        v.extract::<String>().map_err(|_| Invalid::new(field, format!("the entity's {what} must be a string")))
    };
    if let Ok(t) = obj.cast::<PyTuple>() {
        if t.len() != 2 {
            return Err(Invalid::new(field, format!("an entity tuple has 2 items (type, id), found {}", t.len())));
        }
        let ty = t.get_item(0).map_err(|e| Invalid::new(field, e.to_string()))?;
        let id = t.get_item(1).map_err(|e| Invalid::new(field, e.to_string()))?;
        return Ok(EntityUid::new(string(&ty, "type")?, string(&id, "id")?));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        let text = s.to_cow().map_err(|e| Invalid::new(field, e.to_string()))?;
        return parse_uid(&text).ok_or_else(|| {
            Invalid::new(field, format!("`{text}` is not an entity reference such as Agent::\"support_bot\""))
        });
    }
    if obj.cast::<PyDict>().is_ok() {
        let json = to_json(obj, field, 0)?;
        let (ty, id) = ward_runtime::data::entity_ref(&json, field).map_err(|e| Invalid::new(field, e.message))?;
        return Ok(EntityUid::new(ty.into_owned(), id.into_owned()));
    }
    Err(Invalid::new(
        field,
        format!(
            "expected an entity: a (type, id) tuple, {{\"type\": …, \"id\": …}} or Type::\"id\"; found {}",
            type_name(obj)
        ),
    ))
}

/// `Type::"id"` (the id a JSON string, so quotes and backslashes escape).
fn parse_uid(text: &str) -> Option<EntityUid> {
    let (ty, rest) = text.split_once("::")?;
    let ty = ty.trim();
    let valid_type = !ty.is_empty() && ty.chars().all(|c| c.is_alphanumeric() || c == '_');
    if !valid_type {
        return None;
    }
    let id: String = serde_json::from_str(rest.trim()).ok()?;
    Some(EntityUid::new(ty, id))
}

/// Decision time in milliseconds since the epoch: an int (milliseconds), an
/// aware `datetime`, or RFC 3339 text.
pub fn time_ms(obj: &Bound<'_, PyAny>) -> Result<i64, Invalid> {
    if obj.cast::<PyInt>().is_ok() && obj.cast::<PyBool>().is_err() {
        return obj.extract::<i64>().map_err(|_| Invalid::new("at", "milliseconds outside the 64-bit range"));
    }
    let text = if let Ok(s) = obj.cast::<PyString>() {
        s.to_cow().map_err(|e| Invalid::new("at", e.to_string()))?.into_owned()
    } else {
        match to_json(obj, "at", 0)? {
            Json::String(s) => s,
            Json::Number(n) => {
                return n.as_i64().ok_or_else(|| Invalid::new("at", "not a whole number of milliseconds"));
            }
            _ => return Err(Invalid::new("at", "expected milliseconds, an aware datetime or RFC 3339 text")),
        }
    };
    ward_compiler::literals::time_ms(&text)
        .or_else(|_| ward_compiler::literals::date_days(&text).map(|d| d * 86_400_000))
        .map_err(|e| Invalid::new("at", e))
}
