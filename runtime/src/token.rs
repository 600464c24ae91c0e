//! Keyed deterministic tokenization (`mask … with tokenize(key: NAME)`):
//! the same value gives the same token under one key, and only that key
//! turns a token back into its value.

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of every token, so that tokens are recognisable in text.
pub const TOKEN_PREFIX: &str = "tok_";

/// Deterministic, reversible tokenization: AES-256-GCM under `key` with a
/// synthetic nonce (HMAC-SHA256 of the value under the key), so the same
/// value gives the same token under one key and only the key reverses it.
pub fn tokenize(key: &[u8; 32], value: &str) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else { return String::new() };
    mac.update(value.as_bytes());
    let tag = mac.finalize().into_bytes();
    let nonce_bytes: [u8; 12] = core::array::from_fn(|i| tag.get(i).copied().unwrap_or(0));
    let Ok(cipher) = <Aes256Gcm as aes_gcm::KeyInit>::new_from_slice(key) else { return String::new() };
    let nonce = Nonce::from(nonce_bytes);
    let Ok(ciphertext) = cipher.encrypt(&nonce, value.as_bytes()) else { return String::new() };
    let mut blob = nonce_bytes.to_vec();
    blob.extend_from_slice(&ciphertext);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(blob))
}

/// Reverses [`tokenize`]; `None` if the token was not made with this key.
pub fn detokenize(key: &[u8; 32], token: &str) -> Option<String> {
    let blob = URL_SAFE_NO_PAD.decode(token.strip_prefix(TOKEN_PREFIX)?).ok()?;
    if blob.len() < 12 + 16 {
        return None;
    }
    let (nonce_bytes, ciphertext) = blob.split_at(12);
    let nonce_bytes: [u8; 12] = nonce_bytes.try_into().ok()?;
    let cipher = <Aes256Gcm as aes_gcm::KeyInit>::new_from_slice(key).ok()?;
    let plain = cipher.decrypt(&Nonce::from(nonce_bytes), ciphertext).ok()?;
    String::from_utf8(plain).ok()
}

/// Replaces every token in `text` made with `key` by its value.
pub fn detokenize_text(key: &[u8; 32], text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(TOKEN_PREFIX) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let len = from
            .char_indices()
            .skip(TOKEN_PREFIX.len())
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
            .map_or(from.len(), |(i, _)| i);
        let (token, after) = from.split_at(len);
        match detokenize(key, token) {
            Some(value) => out.push_str(&value),
            None => out.push_str(token),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_deterministic_and_reversible_only_with_the_key() {
        let key = [7u8; 32];
        let other = [8u8; 32];
        let a = tokenize(&key, "dana@acme.example");
        assert_eq!(a, tokenize(&key, "dana@acme.example"));
        assert_ne!(a, tokenize(&key, "sam@acme.example"));
        assert_ne!(a, tokenize(&other, "dana@acme.example"));
        assert_eq!(detokenize(&key, &a).as_deref(), Some("dana@acme.example"));
        assert_eq!(detokenize(&other, &a), None);
        let text = format!("write to {a} today");
        assert_eq!(detokenize_text(&key, &text), "write to dana@acme.example today");
    }
}
