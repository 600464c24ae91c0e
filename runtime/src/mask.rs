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

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use ward_ir::MaskMethod;

use crate::decision::{Mask, Masked, method_text};
use crate::detect::{Found, Scanner, Selection};

pub use crate::keys::{EnvKeys, Keys, StaticKeys, decode_key};

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
    /// Values masked so far, by (rule, detector or path).
    counts: RefCell<BTreeMap<(String, String), u64>>,
    /// Ciphers of the keys used so far, by key name.
    #[cfg(feature = "tokenize")]
    ciphers: RefCell<std::collections::HashMap<String, crate::token::Tokenizer>>,
}

/// What happens to one value.
enum Action {
    Keep,
    Drop,
    Replace(String),
}

impl<'k> Masker<'k> {
    pub fn new(scanner: Arc<Scanner>, keys: &'k dyn Keys) -> Masker<'k> {
        Masker {
            scanner,
            keys,
            counts: RefCell::new(BTreeMap::new()),
            #[cfg(feature = "tokenize")]
            ciphers: RefCell::new(std::collections::HashMap::new()),
        }
    }

    fn count(&self, mask: &Mask, by: &str) {
        *self.counts.borrow_mut().entry((mask.rule.clone(), by.to_string())).or_default() += 1;
    }

    /// What was masked since the masker was made (or this was last
    /// called): per mask and detector or path, how many values.
    pub fn take_masked(&self, masks: &[Mask]) -> Vec<Masked> {
        std::mem::take(&mut *self.counts.borrow_mut())
            .into_iter()
            .map(|((rule, by), count)| {
                let method = masks.iter().find(|m| m.rule == rule).map_or_else(String::new, |m| method_text(&m.method));
                Masked { rule, by, method, count }
            })
            .collect()
    }

    /// A token for `value` under the key `name`; the key's cipher is made
    /// once per masker.
    #[cfg(feature = "tokenize")]
    fn tokenize(&self, mask: &Mask, name: &str, value: &str) -> Result<String, MaskError> {
        let fail = |message: String| MaskError { rule: mask.rule.clone(), message };
        let mut ciphers = self.ciphers.borrow_mut();
        if !ciphers.contains_key(name) {
            let key = self.keys.key(name).ok_or_else(|| {
                fail(format!("no tokenization key `{name}` (set {} or give a keys file)", crate::keys::env_var(name)))
            })?;
            let tokenizer = crate::token::Tokenizer::new(&key).map_err(|e| fail(format!("key `{name}`: {e}")))?;
            ciphers.insert(name.to_string(), tokenizer);
        }
        let tokenizer = ciphers.get_mut(name).ok_or_else(|| fail(format!("no tokenization key `{name}`")))?;
        tokenizer.tokenize(value).map_err(|e| fail(format!("cannot tokenize with key `{name}`: {e}")))
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
        self.replace(masks, text, &found)
    }

    /// Detector matches in a JSON value (a string, or a number's text)
    /// under `key`. The key is read as the words before the value: the
    /// value is scanned as `KEY: VALUE` (`{"password": "…"}`, `{"ssn":
    /// "536228145"}` read like `password: …` and `ssn: 536228145`), and a
    /// bare value of the kind the key names is found whole
    /// ([`Scanner::find_keyed`]); only what lies in the value is masked.
    fn find_in_value(&self, selection: &Selection, key: Option<&str>, text: &str, buf: &mut String) -> Vec<Found> {
        let Some(key) = key.filter(|k| !k.is_empty() && k.len() <= 256) else {
            return self.scanner.find_selected(selection, text);
        };
        if let Some(whole) = self.scanner.find_keyed(selection, key, text) {
            return vec![whole];
        }
        buf.clear();
        buf.push_str(key);
        buf.push_str(": ");
        let offset = buf.len();
        buf.push_str(text);
        let mut found: Vec<Found> = self
            .scanner
            .find_selected(selection, buf)
            .into_iter()
            .filter(|f| f.end > offset)
            .map(|f| Found { start: f.start.max(offset) - offset, end: f.end - offset, pattern: f.pattern })
            .collect();
        // A match that began in the key (`token: ghp_…` as a token
        // assignment) is named by what the value alone is, when a detector
        // finds all of it (`github_token`).
        if let Some(first) = found.first_mut()
            && first.start == 0
            && let Some(span) = text.get(..first.end)
            && let [alone] = self.scanner.find_selected(selection, span).as_slice()
            && alone.start == 0
            && alone.end == first.end
        {
            first.pattern = alone.pattern;
        }
        found
    }

    /// `text` with the matches `found` replaced by the strongest mask whose
    /// detectors include each; `None` when nothing is replaced.
    fn replace(&self, masks: &[&Mask], text: &str, found: &[Found]) -> Result<Option<String>, MaskError> {
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
            self.count(mask, kind.rsplit('.').next().unwrap_or(kind));
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
            self.count(mask, "text");
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
            if !matches!(action, Action::Keep) {
                self.count(mask, &mask_path(mask));
            }
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
        let walk = Walk { detectors: &detector_masks, selection: selection.as_ref(), whole: &whole_text };
        self.walk(payload, None, &walk, &mut String::new(), 0)
    }

    /// Masks one string (or a number's text) of a JSON payload: the new
    /// text, or `None` when nothing in it is masked.
    fn mask_leaf(
        &self,
        text: &str,
        key: Option<&str>,
        walk: &Walk,
        buf: &mut String,
    ) -> Result<Option<String>, MaskError> {
        if let Some(mask) = walk.whole.iter().max_by_key(|m| strength(&m.method)) {
            self.count(mask, "text");
            return Ok(Some(self.apply(mask, &mask.method, text, None)?.unwrap_or_default()));
        }
        let Some(selection) = walk.selection else { return Ok(None) };
        if walk.detectors.is_empty() {
            return Ok(None);
        }
        let found = self.find_in_value(selection, key, text, buf);
        self.replace(walk.detectors, text, &found)
    }

    /// Detector masks over every string, number and object key of `v`;
    /// `key` is the object key `v` is under (kept through lists).
    fn walk(
        &self,
        v: &mut Json,
        key: Option<&str>,
        walk: &Walk,
        buf: &mut String,
        depth: usize,
    ) -> Result<(), MaskError> {
        if depth > crate::data::MAX_DEPTH * 4 {
            let rule = walk.detectors.first().or(walk.whole.first()).map_or_else(String::new, |m| m.rule.clone());
            return Err(MaskError { rule, message: "the payload is nested too deeply to inspect".to_string() });
        }
        match v {
            Json::String(s) => {
                if let Some(masked) = self.mask_leaf(s, key, walk, buf)? {
                    *s = masked;
                }
            }
            // A number is scanned through its text (`{"card": 4111111111111111}`);
            // a masked number becomes a string.
            Json::Number(n) => {
                let text = n.to_string();
                if let Some(masked) = self.mask_leaf(&text, key, walk, buf)? {
                    *v = Json::String(masked);
                }
            }
            Json::Array(items) => {
                for item in items {
                    self.walk(item, key, walk, buf, depth + 1)?;
                }
            }
            Json::Object(map) => {
                // Keys are strings of the payload too (`{"dana@acme.example": …}`):
                // detector matches in them are masked like any other. A key
                // that now equals another gets a suffix rather than replace it.
                if let Some(selection) = walk.selection {
                    let keys: Vec<String> = map.keys().cloned().collect();
                    for key in keys {
                        let Some(masked) = self.scan(walk.detectors, selection, &key)? else { continue };
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
                for (k, item) in map.iter_mut() {
                    self.walk(item, Some(k), walk, buf, depth + 1)?;
                }
            }
            Json::Bool(_) | Json::Null => {}
        }
        Ok(())
    }
}

/// The detector masks of a JSON walk and what they need.
struct Walk<'a, 'm> {
    detectors: &'a [&'m Mask],
    selection: Option<&'a Selection>,
    /// `mask text with METHOD` without detectors: every string whole.
    whole: &'a [&'m Mask],
}

/// What a field mask masked, for the count: its paths (`resource.ssn`).
fn mask_path(mask: &Mask) -> String {
    mask.paths.join(", ")
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
            labels: vec![],
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

    fn pii_masker_test(masks: &[Mask], payload: &mut Json) -> Result<(), MaskError> {
        let detectors: Vec<ward_ir::Detector> = ["credit_card", "ssn", "phone", "email"]
            .iter()
            .map(|n| ward_ir::Detector {
                name: format!("pii.{n}"),
                parts: vec![ward_ir::DetectorPart::Builtin(n.to_string())],
                labels: vec![],
            })
            .collect();
        let scanner = Arc::new(Scanner::new(&detectors).unwrap_or_else(|e| unreachable!("{e}")));
        let keys = StaticKeys::default();
        Masker::new(scanner, &keys).mask_json(masks, payload)
    }

    /// Issue 14: detectors look inside JSON numbers; a masked number becomes a string.
    #[test]
    fn detector_masks_reach_json_numbers() {
        let masks = [mask(&["text"], MaskMethod::Redact, &["pii.credit_card", "pii.ssn"])];
        let mut payload = serde_json::json!({"card": 4111111111111111u64, "count": 3, "ratio": 0.5});
        assert_eq!(pii_masker_test(&masks, &mut payload), Ok(()));
        assert_eq!(payload, serde_json::json!({"card": "[REDACTED:credit_card]", "count": 3, "ratio": 0.5}));
    }

    /// Issue 14: a bare value under a key named like its kind is that kind.
    #[test]
    fn a_key_named_like_the_kind_confirms_a_bare_value() {
        let masks = [mask(&["text"], MaskMethod::Redact, &["pii.ssn", "pii.phone"])];
        let mut payload = serde_json::json!({
            "ssn": "536228145", "SSN": 536228145u64, "customer": {"social_security_number": "536228145"},
            "mobile": "07700900123", "order": "536228145", "ref": 536228145u64
        });
        assert_eq!(pii_masker_test(&masks, &mut payload), Ok(()));
        assert_eq!(
            payload,
            serde_json::json!({
                "ssn": "[REDACTED:ssn]", "SSN": "[REDACTED:ssn]", "customer": {"social_security_number": "[REDACTED:ssn]"},
                "mobile": "[REDACTED:phone]", "order": "536228145", "ref": 536228145u64
            })
        );
    }
}
