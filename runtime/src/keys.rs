//! Where tokenization keys come from: the environment, a keys file, or an
//! embedder's own secret store. A key has a name (`tokenize(key: "crm")`),
//! a current value (new tokens are made with it) and, while a rotation is
//! under way, previous values (tokens made with them still detokenize).

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value as Json;

/// Where tokenization keys come from.
pub trait Keys: Send + Sync {
    /// The current 32-byte key named `name`, if there is one: new tokens
    /// are made with it.
    fn key(&self, name: &str) -> Option<[u8; 32]>;

    /// Earlier keys of that name, still accepted by `detokenize` while a
    /// rotation is under way. None by default.
    fn previous(&self, _name: &str) -> Vec<[u8; 32]> {
        Vec::new()
    }
}

/// The environment variable of a key: `WARD_KEY_<NAME>`, upper case, `-`
/// and `.` as `_` (`cx-email` → `WARD_KEY_CX_EMAIL`).
pub fn env_var(name: &str) -> String {
    format!("WARD_KEY_{}", name.to_uppercase().replace(['-', '.'], "_"))
}

/// Keys from the environment: `WARD_KEY_<NAME>` holds the current key and
/// `WARD_KEY_<NAME>_PREVIOUS` earlier ones (separated by commas or
/// spaces), each base64 or hex of 32 bytes.
pub struct EnvKeys;

impl Keys for EnvKeys {
    fn key(&self, name: &str) -> Option<[u8; 32]> {
        decode_key(&std::env::var(env_var(name)).ok()?)
    }

    fn previous(&self, name: &str) -> Vec<[u8; 32]> {
        let Ok(list) = std::env::var(format!("{}_PREVIOUS", env_var(name))) else { return Vec::new() };
        list.split([',', ' ', '\n']).filter(|k| !k.trim().is_empty()).filter_map(decode_key).collect()
    }
}

/// Keys given in a map (from a keys file, or by an embedder).
#[derive(Default)]
pub struct StaticKeys {
    current: HashMap<String, [u8; 32]>,
    previous: HashMap<String, Vec<[u8; 32]>>,
}

impl Keys for StaticKeys {
    fn key(&self, name: &str) -> Option<[u8; 32]> {
        self.current.get(name).copied()
    }

    fn previous(&self, name: &str) -> Vec<[u8; 32]> {
        self.previous.get(name).cloned().unwrap_or_default()
    }
}

impl StaticKeys {
    /// Keys without previous values.
    pub fn new(current: HashMap<String, [u8; 32]>) -> StaticKeys {
        StaticKeys { current, previous: HashMap::new() }
    }

    /// Adds a previous key of `name` (accepted by `detokenize` only).
    pub fn with_previous(mut self, name: &str, key: [u8; 32]) -> StaticKeys {
        self.previous.entry(name.to_string()).or_default().push(key);
        self
    }

    /// Reads a keys file: a JSON object of name → key, where a key is
    /// base64 or hex of 32 bytes, or a list of them — the current key
    /// first, then earlier ones still accepted by `detokenize`:
    /// `{"crm": "…", "cx-email": ["…new…", "…old…"]}`.
    pub fn from_json(json: &Json) -> Result<StaticKeys, String> {
        let obj = json.as_object().ok_or("a keys file is a JSON object of name → key (or list of keys)")?;
        let mut keys = StaticKeys::default();
        for (name, v) in obj {
            let texts: Vec<&Json> = match v {
                Json::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            let mut decoded = Vec::with_capacity(texts.len());
            for (i, t) in texts.iter().enumerate() {
                let at = if texts.len() > 1 { format!("key `{name}`[{i}]") } else { format!("key `{name}`") };
                let text = t.as_str().ok_or_else(|| format!("{at} must be a string"))?;
                decoded.push(decode_key(text).ok_or_else(|| format!("{at} is not 32 bytes of base64 or hex"))?);
            }
            let mut decoded = decoded.into_iter();
            let current = decoded.next().ok_or_else(|| format!("key `{name}` is an empty list"))?;
            keys.current.insert(name.clone(), current);
            keys.previous.insert(name.clone(), decoded.collect());
        }
        Ok(keys)
    }
}

/// 32 bytes from 64 hex digits or base64 (standard or URL-safe).
pub fn decode_key(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32).map(|i| u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()).collect::<Option<Vec<u8>>>()?
    } else {
        STANDARD.decode(text).or_else(|_| URL_SAFE_NO_PAD.decode(text)).ok()?
    };
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode_from_hex_and_base64() {
        let hex = "00".repeat(31) + "01";
        assert_eq!(decode_key(&hex).map(|k| k[31]), Some(1));
        let b64 = STANDARD.encode([2u8; 32]);
        assert_eq!(decode_key(&b64), Some([2u8; 32]));
        assert_eq!(decode_key("short"), None);
    }

    #[test]
    fn a_keys_file_lists_current_and_previous_keys() {
        let (new, old) = ("11".repeat(32), "22".repeat(32));
        let keys = StaticKeys::from_json(&serde_json::json!({"crm": [new, old], "one": "33".repeat(32)}))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(keys.key("crm"), Some([0x11; 32]));
        assert_eq!(keys.previous("crm"), vec![[0x22; 32]]);
        assert_eq!(keys.key("one"), Some([0x33; 32]));
        assert!(keys.previous("one").is_empty());
        let err = StaticKeys::from_json(&serde_json::json!({"crm": ["11", 3]})).err().unwrap_or_default();
        assert_eq!(err, "key `crm`[0] is not 32 bytes of base64 or hex");
        assert!(StaticKeys::from_json(&serde_json::json!({"crm": []})).is_err());
    }
}
