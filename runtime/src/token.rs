//! Keyed deterministic tokenization (`mask … with tokenize(key: NAME)`):
//! the same value gives the same token under one key, and only that key
//! turns a token back into its value.
//!
//! Standard constructions from well-kept crates, nothing home-made:
//!
//! - **AES-SIV** (RFC 5297, `aes-siv`: AES-256-SIV, CMAC-S2V and CTR), the
//!   deterministic authenticated encryption made for this use: equal values
//!   give equal tokens, nothing else about a value leaks, and a token that
//!   was altered, truncated or made under another key does not decrypt.
//! - **HKDF-SHA256** (RFC 5869, `hkdf`) derives, from the 32-byte key the
//!   operator configures, one key per purpose: the 64-byte AES-SIV key, and
//!   a 4-byte key id that names the key in its tokens without revealing it.
//!
//! A token is `tok2_` and the URL-safe base64 (no padding) of the key id
//! and the AES-SIV output (the 16-byte synthetic IV, then the encrypted
//! value). The key id and the format version are authenticated as
//! associated data, so a token cannot be moved under another id. With the
//! id, `detokenize` picks the key among the current and previous ones of a
//! name (rotation) and tells a token of an unknown key from a forged one.
//!
//! Tokens of the scheme before (`tok_…`: AES-256-GCM under a nonce that was
//! an HMAC of the value under the same key) are refused with a message on
//! how to re-tokenize: no silent compatibility with the weak scheme.

use aes_siv::KeyInit;
use aes_siv::siv::Aes256Siv;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use sha2::Sha256;

/// The prefix of every token, so that tokens are recognisable in text.
pub const TOKEN_PREFIX: &str = "tok2_";
/// The prefix of the tokens of the previous, refused scheme.
pub const OLD_TOKEN_PREFIX: &str = "tok_";

/// HKDF salt: the domain of every key Ward derives for tokens.
const SALT: &[u8] = b"ward.tokenize";
/// HKDF info of the AES-SIV key.
const INFO_SIV: &[u8] = b"ward.tokenize.v2 aes-256-siv key";
/// HKDF info of the key id.
const INFO_ID: &[u8] = b"ward.tokenize.v2 key id";
/// Associated data of every token: the format version (then the key id).
const VERSION_AD: &[u8] = b"ward.tokenize.v2";
/// The longest value a token may hold, and so the longest token read.
pub const MAX_VALUE: usize = 64 * 1024;

/// Why a value could not be tokenized, or a token not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// A `tok_…` token of the previous scheme.
    OldScheme,
    /// Not the base64 of a key id and an AES-SIV output.
    Malformed(String),
    /// The token names a key id that none of the keys given has.
    UnknownKey { id: String, keys: usize },
    /// A key has the token's id, but the token does not authenticate
    /// under it: altered, truncated or forged.
    DoesNotAuthenticate { id: String },
    /// The value in the token is not UTF-8 (it was never made by Ward).
    NotText,
    /// The value is longer than [`MAX_VALUE`].
    TooLong(usize),
    /// The cipher refused (it should not).
    Cipher(String),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::OldScheme => write!(
                f,
                "a `tok_` token of Ward's previous tokenization (AES-GCM under an HMAC nonce), which this \
                 version no longer reads: detokenize it with the Ward release that made it, then mask the \
                 values again with this one (new tokens start with `{TOKEN_PREFIX}`)"
            ),
            TokenError::Malformed(why) => write!(f, "not a Ward token: {why}"),
            TokenError::UnknownKey { id, keys } => write!(
                f,
                "made with a key (id {id}) that is none of the {keys} key(s) given; list the key it was \
                 made with (a previous key in the keys file, or WARD_KEY_<NAME>_PREVIOUS)"
            ),
            TokenError::DoesNotAuthenticate { id } => {
                write!(f, "does not authenticate under key id {id}: it was altered, cut short or forged")
            }
            TokenError::NotText => write!(f, "its value is not UTF-8 text"),
            TokenError::TooLong(n) => write!(f, "a value of {n} bytes is longer than {MAX_VALUE} bytes"),
            TokenError::Cipher(why) => write!(f, "the cipher failed: {why}"),
        }
    }
}

impl std::error::Error for TokenError {}

/// The keys derived from one configured key.
pub struct Tokenizer {
    cipher: Aes256Siv,
    id: [u8; 4],
}

impl Tokenizer {
    /// Derives the AES-SIV key and the key id from a configured key.
    pub fn new(key: &[u8; 32]) -> Result<Tokenizer, TokenError> {
        let hk = Hkdf::<Sha256>::new(Some(SALT), key);
        let mut siv_key = [0u8; 64];
        let mut id = [0u8; 4];
        hk.expand(INFO_SIV, &mut siv_key).map_err(|e| TokenError::Cipher(e.to_string()))?;
        hk.expand(INFO_ID, &mut id).map_err(|e| TokenError::Cipher(e.to_string()))?;
        let cipher = Aes256Siv::new_from_slice(&siv_key).map_err(|e| TokenError::Cipher(e.to_string()))?;
        siv_key.fill(0);
        Ok(Tokenizer { cipher, id })
    }

    /// The key id in hex, as error messages show it.
    pub fn id(&self) -> String {
        hex(&self.id)
    }

    /// The token for `value`: the same value, the same token.
    pub fn tokenize(&mut self, value: &str) -> Result<String, TokenError> {
        if value.len() > MAX_VALUE {
            return Err(TokenError::TooLong(value.len()));
        }
        let sealed = self
            .cipher
            .encrypt([VERSION_AD, &self.id[..]], value.as_bytes())
            .map_err(|e| TokenError::Cipher(e.to_string()))?;
        let mut blob = Vec::with_capacity(4 + sealed.len());
        blob.extend_from_slice(&self.id);
        blob.extend_from_slice(&sealed);
        Ok(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(blob)))
    }

    fn open(&mut self, sealed: &[u8]) -> Result<String, TokenError> {
        let plain = self
            .cipher
            .decrypt([VERSION_AD, &self.id[..]], sealed)
            .map_err(|_| TokenError::DoesNotAuthenticate { id: hex(&self.id) })?;
        String::from_utf8(plain).map_err(|_| TokenError::NotText)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The token for `value` under `key`.
pub fn tokenize(key: &[u8; 32], value: &str) -> Result<String, TokenError> {
    Tokenizer::new(key)?.tokenize(value)
}

/// Reads tokens with a set of keys: the current and previous keys of one
/// name, each derived once.
pub struct Detokenizer {
    keys: Vec<Tokenizer>,
}

impl Detokenizer {
    pub fn new(keys: &[[u8; 32]]) -> Result<Detokenizer, TokenError> {
        Ok(Detokenizer { keys: keys.iter().map(Tokenizer::new).collect::<Result<_, _>>()? })
    }

    /// The value of one token (`tok2_…`).
    pub fn detokenize(&mut self, token: &str) -> Result<String, TokenError> {
        let Some(body) = token.strip_prefix(TOKEN_PREFIX) else {
            return Err(if token.starts_with(OLD_TOKEN_PREFIX) {
                TokenError::OldScheme
            } else {
                TokenError::Malformed(format!("it does not start with `{TOKEN_PREFIX}`"))
            });
        };
        if body.len() > (MAX_VALUE + 64) * 4 / 3 {
            return Err(TokenError::Malformed("it is longer than any token".to_string()));
        }
        let blob = URL_SAFE_NO_PAD.decode(body).map_err(|e| TokenError::Malformed(format!("bad base64: {e}")))?;
        let (id, sealed) = blob.split_at_checked(4).ok_or_else(|| TokenError::Malformed("it is cut short".into()))?;
        if sealed.len() < 16 {
            return Err(TokenError::Malformed("it is cut short".to_string()));
        }
        let count = self.keys.len();
        let key = self
            .keys
            .iter_mut()
            .find(|k| k.id == id)
            .ok_or_else(|| TokenError::UnknownKey { id: hex(id), keys: count })?;
        key.open(sealed)
    }

    /// `text` with every token (`tok2_…`) replaced by its value. A token
    /// that cannot be read, and any `tok_…` token of the previous scheme,
    /// is an error naming where it is: nothing is left half-done silently.
    pub fn detokenize_text(&mut self, text: &str) -> Result<String, (usize, TokenError)> {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for (at, len) in tokens_in(text) {
            let token = text.get(at..at + len).unwrap_or("");
            out.push_str(text.get(last..at).unwrap_or(""));
            out.push_str(&self.detokenize(token).map_err(|e| (at, e))?);
            last = at + len;
        }
        out.push_str(text.get(last..).unwrap_or(""));
        Ok(out)
    }
}

/// The tokens in `text` (new and old prefixes), as (start, length): a
/// prefix at a word start, then the URL-safe base64 alphabet.
pub fn tokens_in(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = text.get(from..).and_then(|r| r.find("tok")) {
        let at = from + p;
        let word_start = at == 0 || !b.get(at - 1).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
        let prefix =
            [TOKEN_PREFIX, OLD_TOKEN_PREFIX].into_iter().find(|pre| text.get(at..).is_some_and(|r| r.starts_with(pre)));
        match prefix {
            Some(pre) if word_start => {
                let body = b.get(at + pre.len()..).map_or(0, |r| {
                    r.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'-' || **c == b'_').count()
                });
                if body >= 8 {
                    out.push((at, pre.len() + body));
                }
                from = at + pre.len() + body;
            }
            _ => from = at + 3,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| unreachable!("{e:?}"))
    }

    #[test]
    fn tokens_are_deterministic_and_reversible_only_with_the_key() {
        let (key, other) = ([7u8; 32], [8u8; 32]);
        let a = ok(tokenize(&key, "dana@acme.example"));
        assert!(a.starts_with("tok2_"), "{a}");
        assert_eq!(a, ok(tokenize(&key, "dana@acme.example")));
        assert_ne!(a, ok(tokenize(&key, "sam@acme.example")));
        assert_ne!(a, ok(tokenize(&other, "dana@acme.example")));
        assert_eq!(ok(ok(Detokenizer::new(&[key])).detokenize(&a)), "dana@acme.example");
        let text = format!("write to {a} today");
        assert_eq!(ok(ok(Detokenizer::new(&[key])).detokenize_text(&text)), "write to dana@acme.example today");
        // The empty value has a token too, and it is not empty.
        let empty = ok(tokenize(&key, ""));
        assert!(empty.len() > TOKEN_PREFIX.len() + 20, "{empty}");
        assert_eq!(ok(ok(Detokenizer::new(&[key])).detokenize(&empty)), "");
    }

    /// RFC 5297's own test vector (A.1), through the crate: the cipher is
    /// the standard one, not a look-alike.
    #[test]
    fn aes_siv_matches_rfc_5297() {
        let key: Vec<u8> = (0xf0..=0xff).rev().chain(0xf0..=0xff).map(|b: u16| b as u8).collect();
        let ad: Vec<u8> = (0x10..=0x27).collect();
        let plain = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee];
        let mut siv = ok(aes_siv::siv::Aes128Siv::new_from_slice(&key));
        let out = ok(siv.encrypt([&ad], &plain));
        assert_eq!(hex(&out), "85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c");
    }

    #[test]
    fn keys_rotate_and_failures_are_named() {
        let (old, new, stranger) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let old_token = ok(tokenize(&old, "4111 1111 1111 1111"));
        let new_token = ok(tokenize(&new, "4111 1111 1111 1111"));
        assert_ne!(old_token, new_token);
        // Both read while the old key is listed; only the new one after.
        let mut both = ok(Detokenizer::new(&[new, old]));
        assert_eq!(ok(both.detokenize(&old_token)), "4111 1111 1111 1111");
        assert_eq!(ok(both.detokenize(&new_token)), "4111 1111 1111 1111");
        let mut only_new = ok(Detokenizer::new(&[new]));
        assert!(matches!(only_new.detokenize(&old_token), Err(TokenError::UnknownKey { keys: 1, .. })));
        let mut stranger = ok(Detokenizer::new(&[stranger]));
        assert!(matches!(stranger.detokenize(&new_token), Err(TokenError::UnknownKey { .. })));
        // A flipped byte, a cut: refused, never a wrong value.
        let mut blob = ok(URL_SAFE_NO_PAD.decode(new_token.strip_prefix(TOKEN_PREFIX).unwrap_or("")));
        if let Some(last) = blob.last_mut() {
            *last ^= 1;
        }
        let forged = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(&blob));
        assert!(matches!(only_new.detokenize(&forged), Err(TokenError::DoesNotAuthenticate { .. })));
        assert!(matches!(only_new.detokenize(new_token.get(..20).unwrap_or("")), Err(TokenError::Malformed(_))));
        // The previous scheme's tokens are refused with the way out.
        let err = only_new.detokenize_text("card tok_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBka end").err();
        let (at, e) = err.unwrap_or((0, TokenError::NotText));
        assert_eq!((at, e.clone()), (5, TokenError::OldScheme));
        assert!(e.to_string().contains("detokenize it with the Ward release that made it"), "{e}");
    }

    #[test]
    fn tokens_are_found_at_word_starts() {
        let t = "a tok2_abcdefghij, mytok2_abcdefghij tok_12345678 tok2_ab stock_photo";
        let found: Vec<&str> = tokens_in(t).into_iter().filter_map(|(a, l)| t.get(a..a + l)).collect();
        assert_eq!(found, ["tok2_abcdefghij", "tok_12345678"]);
    }
}
