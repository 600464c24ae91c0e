//! A test-only token issuer: an RSA key generated here, its JWKS, and JWTs
//! minted with jsonwebtoken — no external IdP. Shared by tests/identity.rs
//! and tests/mcp_identity.rs through `#[path]`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, jwk::Jwk, jwk::JwkSet};
use rsa::pkcs1::{EncodeRsaPrivateKey as _, EncodeRsaPublicKey as _};
use rsa::{Generate as _, PrivateKey};
use serde_json::Value as Json;

pub struct Key {
    pub kid: String,
    pub encoding: EncodingKey,
    /// The public key, PKCS#1 DER: what an HS/RS confusion attack uses as the HMAC secret.
    pub public_der: Vec<u8>,
    pub jwk: Jwk,
}

pub fn rsa_key(kid: &str) -> Key {
    let private = PrivateKey::generate();
    let der = private.to_pkcs1_der().unwrap();
    let encoding = EncodingKey::from_rsa_der(der.as_bytes());
    let public_der = private.to_public_key().to_pkcs1_der().unwrap().as_bytes().to_vec();
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(kid.to_string());
    Key { kid: kid.to_string(), encoding, public_der, jwk }
}

pub fn jwks_text(keys: &[&Key]) -> String {
    serde_json::to_string(&JwkSet { keys: keys.iter().map(|k| k.jwk.clone()).collect() }).unwrap()
}

/// Writes the JWKS atomically (a reader never sees half a file: key rotation).
pub fn write_jwks(path: &Path, keys: &[&Key]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, jwks_text(keys)).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

pub fn mint(key: &Key, claims: &Json) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    encode(&header, claims, &key.encoding).unwrap()
}

/// A token with `kid` in its header (signed with `key` all the same).
pub fn mint_with_kid(key: &Key, kid: &str, claims: &Json) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    encode(&header, claims, &key.encoding).unwrap()
}

/// "Signed" with HS256 and the RSA public key as the secret (HS/RS confusion).
pub fn mint_hs256_with_public_key(key: &Key, claims: &Json) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid.clone());
    encode(&header, claims, &EncodingKey::from_secret(&key.public_der).unwrap()).unwrap()
}

/// An unsigned token (`alg: none`).
pub fn unsigned(claims: &Json) -> String {
    format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(claims.to_string().as_bytes()))
}

/// `token` with its payload replaced by `claims` (the signature no longer matches).
pub fn tampered(token: &str, claims: &Json) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!("{}.{}.{}", parts[0], b64(claims.to_string().as_bytes()), parts[2])
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
