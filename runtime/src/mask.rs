//! Applying a decision's masks to what an agent is about to receive.
//!
//! Field masks (`resource.ssn`, `response.items.*.email`) apply to a JSON
//! payload — the resource record or tool response the decision was about —
//! with the path's root (`resource` or `response`) naming the payload
//! itself. Detector masks (`text with pii.email`) apply to every string in
//! the payload, or to a text payload. All detectors run in one pass over
//! each string ([`crate::detect::Scanner`]).
//!
//! Fail closed: a mask that cannot be applied (no key for `tokenize`, a field
//! mask on a text payload, a path through a non-object) is an error, and the
//! caller must deny rather than send the unmasked payload.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use ward_ir::MaskMethod;

use crate::decision::Mask;
use crate::detect::{Scanner, Selection};

/// Where tokenization keys come from.
pub trait Keys: Send + Sync {
    /// The 32-byte key named `name`, if there is one.
    fn key(&self, name: &str) -> Option<[u8; 32]>;
}

/// Keys from the environment: `WARD_KEY_<NAME>` (upper case, `-` and `.` as
/// `_`), base64 or hex of 32 bytes.
pub struct EnvKeys;

impl Keys for EnvKeys {
    fn key(&self, name: &str) -> Option<[u8; 32]> {
        let var = format!("WARD_KEY_{}", name.to_uppercase().replace(['-', '.'], "_"));
        decode_key(&std::env::var(var).ok()?)
    }
}

/// Keys given in a map (from a keys file, or by an embedder).
#[derive(Default)]
pub struct StaticKeys(pub HashMap<String, [u8; 32]>);

impl Keys for StaticKeys {
    fn key(&self, name: &str) -> Option<[u8; 32]> {
        self.0.get(name).copied()
    }
}

impl StaticKeys {
    /// Reads `{"name": "base64 or hex of 32 bytes", …}`.
    pub fn from_json(json: &Json) -> Result<StaticKeys, String> {
        let obj = json.as_object().ok_or("a keys file is a JSON object of name → key")?;
        let mut keys = HashMap::new();
        for (name, v) in obj {
            let text = v.as_str().ok_or_else(|| format!("key `{name}` must be a string"))?;
            let key = decode_key(text).ok_or_else(|| format!("key `{name}` is not 32 bytes of base64 or hex"))?;
            keys.insert(name.clone(), key);
        }
        Ok(StaticKeys(keys))
    }
}

fn decode_key(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32).map(|i| u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()).collect::<Option<Vec<u8>>>()?
    } else {
        base64::engine::general_purpose::STANDARD.decode(text).or_else(|_| URL_SAFE_NO_PAD.decode(text)).ok()?
    };
    bytes.try_into().ok()
}

/// Why a mask could not be applied. The decision must become a deny.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskError {
    pub rule: String,
    pub message: String,
}

impl std::fmt::Display for MaskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mask `{}` cannot be applied: {}", self.rule, self.message)
    }
}

impl std::error::Error for MaskError {}

/// How strongly a method hides a value: when two masks hit the same value,
/// the stronger wins.
fn strength(m: &MaskMethod) -> u8 {
    match m {
        MaskMethod::Drop => 5,
        MaskMethod::Redact => 4,
        MaskMethod::Hash { .. } => 3,
        MaskMethod::Tokenize { .. } => 2,
        MaskMethod::Partial { .. } => 1,
    }
}

/// Applies masks, with the detectors of one program and a key source.
pub struct Masker<'k> {
    scanner: Arc<Scanner>,
    #[cfg_attr(not(feature = "tokenize"), allow(dead_code))]
    keys: &'k dyn Keys,
}

/// What happens to one value.
enum Action {
    Keep,
    Drop,
    Replace(String),
}

impl<'k> Masker<'k> {
    pub fn new(scanner: Arc<Scanner>, keys: &'k dyn Keys) -> Masker<'k> {
        Masker { scanner, keys }
    }

    #[cfg(feature = "tokenize")]
    fn key(&self, mask: &Mask, name: &str) -> Result<[u8; 32], MaskError> {
        self.keys.key(name).ok_or_else(|| MaskError {
            rule: mask.rule.clone(),
            message: format!(
                "no tokenization key `{name}` (set WARD_KEY_{} or give a keys file)",
                name.to_uppercase().replace(['-', '.'], "_")
            ),
        })
    }

    #[cfg(feature = "tokenize")]
    fn tokenize(&self, mask: &Mask, key: &str, value: &str) -> Result<String, MaskError> {
        Ok(crate::token::tokenize(&self.key(mask, key)?, value))
    }

    /// Without the `tokenize` feature a tokenize mask cannot be applied, so
    /// the decision it belongs to becomes a deny (fail closed).
    #[cfg(not(feature = "tokenize"))]
    fn tokenize(&self, mask: &Mask, _key: &str, _value: &str) -> Result<String, MaskError> {
        Err(MaskError {
            rule: mask.rule.clone(),
            message: "this build of Ward has no tokenization (cargo feature `tokenize` of ward-runtime)".into(),
        })
    }

    /// `value` masked whole by `method` (for `kind`, the detector that found it, if any).
    fn apply(
        &self,
        mask: &Mask,
        method: &MaskMethod,
        value: &str,
        kind: Option<&str>,
    ) -> Result<Option<String>, MaskError> {
        Ok(Some(match method {
            MaskMethod::Drop => return Ok(None),
            MaskMethod::Redact => match kind {
                Some(k) => format!("[REDACTED:{}]", k.rsplit('.').next().unwrap_or(k)),
                None => "[REDACTED]".to_string(),
            },
            MaskMethod::Partial { first, last } => {
                let chars: Vec<char> = value.chars().collect();
                let (first, last) = (*first as usize, *last as usize);
                if first + last >= chars.len() {
                    // Revealing that much would reveal everything.
                    "****".to_string()
                } else {
                    let head: String = chars.iter().take(first).collect();
                    let tail: String = chars.iter().skip(chars.len() - last).collect();
                    format!("{head}****{tail}")
                }
            }
            MaskMethod::Hash { salt } => {
                let mut h = Sha256::new();
                h.update(salt.as_deref().unwrap_or("").as_bytes());
                h.update([0u8]);
                h.update(value.as_bytes());
                let digest = h.finalize();
                let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
                format!("sha256:{hex}")
            }
            MaskMethod::Tokenize { key } => self.tokenize(mask, key, value)?,
        }))
    }

    /// The detectors the masks use, compiled together: only they are
    /// searched for, so a match of another detector of the program cannot
    /// hide one of theirs.
    fn selection(&self, masks: &[&Mask]) -> Result<Selection, MaskError> {
        let mut names: Vec<&str> = masks.iter().flat_map(|m| m.detectors.iter().map(String::as_str)).collect();
        names.sort_unstable();
        names.dedup();
        self.scanner
            .select(&names)
            .map_err(|message| MaskError { rule: masks.first().map_or_else(String::new, |m| m.rule.clone()), message })
    }

    /// Masks detector matches inside `text` with the detector masks that
    /// apply to it; returns the new text, or `None` when nothing matched.
    fn scan(&self, masks: &[&Mask], selection: &Selection, text: &str) -> Result<Option<String>, MaskError> {
        if masks.is_empty() {
            return Ok(None);
        }
        let found = self.scanner.find_selected(selection, text);
        if found.is_empty() {
            return Ok(None);
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for m in found {
            // The strongest mask whose detectors include this match's.
            let Some(mask) = masks
                .iter()
                .filter(|mask| mask.detectors.iter().any(|d| self.scanner.detector_covers(d, m.pattern)))
                .max_by_key(|mask| strength(&mask.method))
            else {
                continue;
            };
            let found = text.get(m.start..m.end).unwrap_or("");
            let kind = self.scanner.name(m.pattern);
            let replacement = self.apply(mask, &mask.method, found, Some(kind))?.unwrap_or_default();
            out.push_str(text.get(last..m.start).unwrap_or(""));
            out.push_str(&replacement);
            last = m.end;
        }
        out.push_str(text.get(last..).unwrap_or(""));
        Ok(Some(out))
    }

    /// Masks a text payload. Only detector masks can apply to text; a field
    /// mask cannot, and fails closed.
    pub fn mask_text(&self, masks: &[Mask], text: &str) -> Result<String, MaskError> {
        if let Some(field) = masks.iter().find(|m| m.detectors.is_empty() && m.paths.iter().any(|p| p != "text")) {
            return Err(MaskError {
                rule: field.rule.clone(),
                message: format!("`{}` names a field, but the payload is text, not JSON", field.paths.join(", ")),
            });
        }
        let text_masks: Vec<&Mask> = masks.iter().filter(|m| !m.detectors.is_empty()).collect();
        let whole: Vec<&Mask> = masks.iter().filter(|m| m.detectors.is_empty()).collect();
        if let Some(mask) = whole.iter().max_by_key(|m| strength(&m.method)) {
            // `mask text with redact`: the whole text.
            return Ok(self.apply(mask, &mask.method, text, None)?.unwrap_or_default());
        }
        if text_masks.is_empty() {
            return Ok(text.to_string());
        }
        let selection = self.selection(&text_masks)?;
        Ok(self.scan(&text_masks, &selection, text)?.unwrap_or_else(|| text.to_string()))
    }

    /// Masks a JSON payload in place.
    pub fn mask_json(&self, masks: &[Mask], payload: &mut Json) -> Result<(), MaskError> {
        // Field masks first (the strongest per field wins), then detectors
        // over every string that is left.
        let mut by_path: Vec<(Vec<Segment>, &Mask, &str)> = Vec::new();
        for mask in masks.iter().filter(|m| m.detectors.is_empty()) {
            for path in &mask.paths {
                match parse_path(path) {
                    Some(segments) => by_path.push((segments, mask, path)),
                    None if path == "text" => {}
                    None => {
                        return Err(MaskError {
                            rule: mask.rule.clone(),
                            message: format!("cannot apply `{path}` to a payload"),
                        });
                    }
                }
            }
        }
        // Whole-text masks (`mask text with redact`) act on every string.
        let whole_text: Vec<&Mask> =
            masks.iter().filter(|m| m.detectors.is_empty() && m.paths.iter().any(|p| p == "text")).collect();
        let mut decisions: Vec<(Vec<PathKey>, &Mask)> = Vec::new();
        for (segments, mask, path) in &by_path {
            let mut found = Vec::new();
            let mut blocked = None;
            resolve(payload, segments, &mut Vec::new(), &mut found, &mut blocked);
            if let Some(at) = blocked {
                let place = if at.is_empty() { "the payload".to_string() } else { format!("`{}`", render_key(&at)) };
                return Err(MaskError {
                    rule: mask.rule.clone(),
                    message: format!("`{path}` cannot be followed: {place} is not a record or a list"),
                });
            }
            for key in found {
                match decisions.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) if strength(&mask.method) > strength(&slot.1.method) => slot.1 = mask,
                    Some(_) => {}
                    None => decisions.push((key, mask)),
                }
            }
        }
        for (key, mask) in &decisions {
            let action = match get(payload, key) {
                Some(Json::String(s)) => match self.apply(mask, &mask.method, s, None)? {
                    Some(v) => Action::Replace(v),
                    None => Action::Drop,
                },
                Some(Json::Null) | None => Action::Keep,
                Some(other) if mask.method == MaskMethod::Drop => {
                    let _ = other;
                    Action::Drop
                }
                Some(other) => {
                    // Masking the text of a number or a boolean leaks nothing
                    // less than redacting it; other shapes cannot be masked.
                    match other {
                        Json::Number(_) | Json::Bool(_) => {
                            match self.apply(mask, &mask.method, &other.to_string(), None)? {
                                Some(v) => Action::Replace(v),
                                None => Action::Drop,
                            }
                        }
                        _ => {
                            return Err(MaskError {
                                rule: mask.rule.clone(),
                                message: format!("`{}` is not a string in the payload", render_key(key)),
                            });
                        }
                    }
                }
            };
            match action {
                Action::Keep => {}
                Action::Drop => remove(payload, key),
                Action::Replace(v) => {
                    if let Some(slot) = get_mut(payload, key) {
                        *slot = Json::String(v);
                    }
                }
            }
        }
        let detector_masks: Vec<&Mask> = masks.iter().filter(|m| !m.detectors.is_empty()).collect();
        if detector_masks.is_empty() && whole_text.is_empty() {
            return Ok(());
        }
        let selection = if whole_text.is_empty() { Some(self.selection(&detector_masks)?) } else { None };
        self.walk_strings(payload, &detector_masks, selection.as_ref(), &whole_text, 0)
    }

    fn walk_strings(
        &self,
        v: &mut Json,
        detectors: &[&Mask],
        selection: Option<&Selection>,
        whole: &[&Mask],
        depth: usize,
    ) -> Result<(), MaskError> {
        if depth > crate::data::MAX_DEPTH * 4 {
            let rule = detectors.first().or(whole.first()).map_or_else(String::new, |m| m.rule.clone());
            return Err(MaskError { rule, message: "the payload is nested too deeply to inspect".to_string() });
        }
        match v {
            Json::String(s) => {
                if let Some(mask) = whole.iter().max_by_key(|m| strength(&m.method)) {
                    *s = self.apply(mask, &mask.method, s, None)?.unwrap_or_default();
                } else if let Some(selection) = selection
                    && let Some(masked) = self.scan(detectors, selection, s)?
                {
                    *s = masked;
                }
            }
            Json::Array(items) => {
                for item in items {
                    self.walk_strings(item, detectors, selection, whole, depth + 1)?;
                }
            }
            Json::Object(map) => {
                // Keys are strings of the payload too (`{"dana@acme.example": …}`):
                // detector matches in them are masked like any other. A key
                // that now equals another gets a suffix rather than replace it.
                if let Some(selection) = selection {
                    let keys: Vec<String> = map.keys().cloned().collect();
                    for key in keys {
                        let Some(masked) = self.scan(detectors, selection, &key)? else { continue };
                        if masked != key
                            && let Some(value) = map.remove(&key)
                        {
                            let mut unique = masked.clone();
                            let mut n = 2;
                            while map.contains_key(&unique) {
                                unique = format!("{masked}#{n}");
                                n += 1;
                            }
                            map.insert(unique, value);
                        }
                    }
                }
                for (_, item) in map.iter_mut() {
                    self.walk_strings(item, detectors, selection, whole, depth + 1)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Field(String),
    Star,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PathKey {
    Field(String),
    Index(usize),
}

/// `resource.a.*.b` → `[a, *, b]` (the root names the payload itself).
fn parse_path(path: &str) -> Option<Vec<Segment>> {
    let mut parts = path.split('.');
    let root = parts.next()?;
    if !matches!(root, "resource" | "response" | "context") {
        return None;
    }
    Some(parts.map(|p| if p == "*" { Segment::Star } else { Segment::Field(p.to_string()) }).collect())
}

/// The values at `segments` under `v`, into `out`. A path that must go on
/// through a string, number or boolean cannot be followed: the first such
/// place goes into `blocked` (the mask cannot be applied there, and what it
/// meant to hide may be in that value). A missing field or `null` holds
/// nothing to mask.
fn resolve(
    v: &Json,
    segments: &[Segment],
    prefix: &mut Vec<PathKey>,
    out: &mut Vec<Vec<PathKey>>,
    blocked: &mut Option<Vec<PathKey>>,
) {
    let Some((first, rest)) = segments.split_first() else {
        out.push(prefix.clone());
        return;
    };
    match (first, v) {
        (Segment::Field(name), Json::Object(map)) => {
            if let Some(child) = map.get(name) {
                prefix.push(PathKey::Field(name.clone()));
                resolve(child, rest, prefix, out, blocked);
                prefix.pop();
            }
        }
        (Segment::Field(_), Json::Array(items)) => {
            // A field path through a list applies to each element (records
            // returned as lists are common; `*` is then optional), with the
            // rest of the path after it.
            for (i, item) in items.iter().enumerate() {
                prefix.push(PathKey::Index(i));
                resolve(item, segments, prefix, out, blocked);
                prefix.pop();
            }
        }
        (Segment::Star, Json::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                prefix.push(PathKey::Index(i));
                resolve(item, rest, prefix, out, blocked);
                prefix.pop();
            }
        }
        (Segment::Star, Json::Object(map)) => {
            for (k, item) in map {
                prefix.push(PathKey::Field(k.clone()));
                resolve(item, rest, prefix, out, blocked);
                prefix.pop();
            }
        }
        (_, Json::Null) => {}
        _ => {
            if blocked.is_none() {
                *blocked = Some(prefix.clone());
            }
        }
    }
}

fn get<'j>(v: &'j Json, key: &[PathKey]) -> Option<&'j Json> {
    key.iter().try_fold(v, |v, k| match (k, v) {
        (PathKey::Field(f), Json::Object(m)) => m.get(f),
        (PathKey::Index(i), Json::Array(a)) => a.get(*i),
        _ => None,
    })
}

fn get_mut<'j>(v: &'j mut Json, key: &[PathKey]) -> Option<&'j mut Json> {
    key.iter().try_fold(v, |v, k| match (k, v) {
        (PathKey::Field(f), Json::Object(m)) => m.get_mut(f),
        (PathKey::Index(i), Json::Array(a)) => a.get_mut(*i),
        _ => None,
    })
}

fn remove(v: &mut Json, key: &[PathKey]) {
    let Some((last, parent)) = key.split_last() else {
        *v = Json::Null;
        return;
    };
    match (get_mut(v, parent), last) {
        (Some(Json::Object(m)), PathKey::Field(f)) => {
            m.remove(f);
        }
        (Some(Json::Array(a)), PathKey::Index(i)) => {
            // Keep indexes stable for the other masks: null, not remove.
            if let Some(slot) = a.get_mut(*i) {
                *slot = Json::Null;
            }
        }
        _ => {}
    }
}

fn render_key(key: &[PathKey]) -> String {
    key.iter()
        .map(|k| match k {
            PathKey::Field(f) => f.clone(),
            PathKey::Index(i) => i.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masker_test(masks: &[Mask], payload: &mut Json) -> Result<(), MaskError> {
        let detectors = vec![ward_ir::Detector {
            name: "pii.email".into(),
            parts: vec![ward_ir::DetectorPart::Builtin("email".into())],
        }];
        let scanner = Arc::new(Scanner::new(&detectors).unwrap_or_else(|e| unreachable!("{e}")));
        let keys = StaticKeys::default();
        Masker::new(scanner, &keys).mask_json(masks, payload)
    }

    fn mask(paths: &[&str], method: MaskMethod, detectors: &[&str]) -> Mask {
        Mask {
            rule: "p.0".into(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            method,
            detectors: detectors.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn a_field_path_through_a_list_keeps_the_rest_of_the_path() {
        let mut payload = serde_json::json!({"orders": [{"card": {"number": "4111", "brand": "visa"}}, {"card": {"number": "5500"}}]});
        let masks = [mask(&["response.orders.card.number"], MaskMethod::Redact, &[])];
        assert_eq!(masker_test(&masks, &mut payload), Ok(()));
        assert_eq!(
            payload,
            serde_json::json!({"orders": [{"card": {"number": "[REDACTED]", "brand": "visa"}}, {"card": {"number": "[REDACTED]"}}]})
        );
    }

    #[test]
    fn a_field_path_through_a_plain_value_fails_closed() {
        let masks = [mask(&["resource.address.street"], MaskMethod::Redact, &[])];
        let mut payload = serde_json::json!({"address": "12 Main St, Springfield"});
        let err = masker_test(&masks, &mut payload).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("`resource.address.street` cannot be followed: `address` is not a record"), "{err}");
        let err = masker_test(&masks, &mut serde_json::json!("12 Main St")).err().map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("the payload is not a record"));
        // Absent or null: nothing to hide, nothing to do.
        assert_eq!(masker_test(&masks, &mut serde_json::json!({"name": "x"})), Ok(()));
        assert_eq!(masker_test(&masks, &mut serde_json::json!({"address": null})), Ok(()));
    }

    #[test]
    fn detector_masks_reach_object_keys() {
        let mut payload =
            serde_json::json!({"dana@acme.example": {"note": "sam@acme.example"}, "[REDACTED:email]": 1, "plain": 2});
        let masks = [mask(&["text"], MaskMethod::Redact, &["pii.email"])];
        assert_eq!(masker_test(&masks, &mut payload), Ok(()));
        assert_eq!(
            payload,
            serde_json::json!({"[REDACTED:email]#2": {"note": "[REDACTED:email]"}, "[REDACTED:email]": 1, "plain": 2})
        );
        // A detector the program does not have fails closed.
        let masks = [mask(&["text"], MaskMethod::Redact, &["pii.nope"])];
        assert!(masker_test(&masks, &mut serde_json::json!({"a": "b"})).is_err());
    }

    #[test]
    fn keys_decode_from_hex_and_base64() {
        let hex = "00".repeat(31) + "01";
        assert_eq!(decode_key(&hex).map(|k| k[31]), Some(1));
        let b64 = base64::engine::general_purpose::STANDARD.encode([2u8; 32]);
        assert_eq!(decode_key(&b64), Some([2u8; 32]));
        assert_eq!(decode_key("short"), None);
    }
}
