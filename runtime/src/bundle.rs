//! Policy bundles: a compiled policy set in one versioned file, with the
//! hash of the sources it came from, metadata, and optionally an ed25519
//! signature. What `ward build` writes and `ward serve` loads.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! offset  size  field
//! 0       8     magic "WARDBNDL"
//! 8       4     format version (u32, currently 1)
//! 12      8     payload length n (u64)
//! 20      32    SHA-256 of the payload
//! 52      n     payload: JSON {"meta": {...}, "program": <ward_ir::Program>}
//! 52+n    1     0 = unsigned (end of file), 1 = signed:
//! 53+n    32    the signer's ed25519 public key
//! 85+n    64    ed25519 signature over bytes 0 .. 52+n (header and payload)
//! ```
//!
//! Nothing may follow. A bundle is refused when any of this does not hold:
//! reading never yields a policy that is not exactly the one that was built
//! (and, with a trusted key, signed).

use std::path::Path;
use std::sync::Arc;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ward_ir::{IR_VERSION, Program};

pub use ed25519_dalek;

use crate::engine::Loaded;
use crate::store::Store;

/// The bundle format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
const MAGIC: &[u8; 8] = b"WARDBNDL";
const HEADER: usize = 8 + 4 + 8 + 32;
/// The largest payload accepted (a sanity bound against a corrupt length).
const MAX_PAYLOAD: u64 = 1 << 30;

/// What a bundle says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub format_version: u32,
    /// The version of Ward that built it.
    pub ward_version: String,
    /// The decision IR's version (`ward_ir::IR_VERSION`).
    pub ir_version: u32,
    /// Build time, RFC 3339 (UTC).
    pub built_at: String,
    /// `sha256:` + hex SHA-256 over the sorted source paths and contents.
    pub source_hash: String,
    /// The source files, sorted.
    pub files: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    meta: Meta,
    program: Program,
}

/// A bundle that was read and verified (or is about to be written).
#[derive(Debug, Clone)]
pub struct Bundle {
    pub meta: Meta,
    pub program: Arc<Program>,
    /// The key that signed it, if it is signed.
    pub signer: Option<VerifyingKey>,
}

/// Why a bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleError {
    /// Shorter than its header or its declared payload says.
    Truncated {
        expected: u64,
        found: u64,
    },
    /// Does not start with the bundle magic.
    NotABundle,
    UnsupportedVersion {
        found: u32,
        supported: u32,
    },
    /// The payload does not match its digest: altered or corrupt.
    DigestMismatch,
    /// Bytes after the end of the bundle.
    TrailingBytes(u64),
    /// A trusted key is configured but the bundle is not signed.
    Unsigned,
    /// Signed, but by a key other than the trusted one.
    WrongKey {
        signer: String,
        trusted: String,
    },
    /// The signature does not verify over the header and payload.
    BadSignature,
    /// The trailer is neither "unsigned" nor "signed".
    BadTrailer(u8),
    /// The payload is not a bundle payload (after the digest matched: a bug
    /// or a bundle written by a different program).
    Payload(String),
    /// The compiled program is for another IR version.
    IrVersion {
        found: u32,
        supported: u32,
    },
    /// The program breaks an invariant of the IR (an index out of range, a
    /// node of an impossible type, an expression cycle): refused before
    /// anything evaluates or compiles it, even when the signature is valid.
    Invalid(String),
    /// The entities do not fit the bundle's schema.
    Entities(String),
    Io(String),
    Key(String),
}

impl std::fmt::Display for BundleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BundleError::Truncated { expected, found } => {
                write!(f, "the bundle is truncated: expected at least {expected} bytes, found {found}")
            }
            BundleError::NotABundle => write!(f, "not a Ward bundle (the file does not start with `WARDBNDL`)"),
            BundleError::UnsupportedVersion { found, supported } => write!(
                f,
                "bundle format version {found} is not supported (this Ward reads version {supported}; rebuild the bundle)"
            ),
            BundleError::DigestMismatch => {
                write!(f, "the bundle's contents do not match their digest: it was altered or is corrupt")
            }
            BundleError::TrailingBytes(n) => write!(f, "{n} unexpected bytes after the end of the bundle"),
            BundleError::Unsigned => write!(f, "the bundle is not signed, but a trusted key is configured"),
            BundleError::WrongKey { signer, trusted } => {
                write!(f, "the bundle is signed by key {signer}, not by the trusted key {trusted}")
            }
            BundleError::BadSignature => write!(f, "the bundle's signature does not verify: it was altered"),
            BundleError::BadTrailer(b) => write!(f, "the bundle's trailer is malformed (marker byte {b})"),
            BundleError::Payload(e) => write!(f, "the bundle's payload cannot be read: {e}"),
            BundleError::IrVersion { found, supported } => write!(
                f,
                "the bundle holds decision IR version {found}, this Ward runs version {supported}; rebuild the bundle"
            ),
            BundleError::Invalid(e) => write!(f, "the bundle's program is not valid decision IR: {e}"),
            BundleError::Entities(e) => write!(f, "entities: {e}"),
            BundleError::Io(e) => write!(f, "{e}"),
            BundleError::Key(e) => write!(f, "key: {e}"),
        }
    }
}

impl std::error::Error for BundleError {}

/// `sha256:` + hex SHA-256 over the files sorted by path: for each, the
/// path, a NUL, the content's length (u64 LE) and the content.
pub fn source_hash(files: &[(String, Vec<u8>)]) -> String {
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = Sha256::new();
    for (path, bytes) in sorted {
        h.update(path.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    format!("sha256:{}", hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A short, stable name for a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    hex(digest.get(..8).unwrap_or_default())
}

/// Milliseconds since the epoch as RFC 3339 (UTC, second precision).
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = crate::interp::civil(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", t / 3600, t % 3600 / 60, t % 60)
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    bytes.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes)
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes)
}

impl Bundle {
    /// A bundle for `program`, compiled from `files` (path, contents) at `built_at_ms`.
    pub fn new(program: Program, files: &[(String, Vec<u8>)], built_at_ms: i64) -> Bundle {
        let mut names: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
        names.sort();
        Bundle {
            meta: Meta {
                format_version: FORMAT_VERSION,
                ward_version: env!("CARGO_PKG_VERSION").to_string(),
                ir_version: program.version,
                built_at: rfc3339(built_at_ms),
                source_hash: source_hash(files),
                files: names,
            },
            program: Arc::new(program),
            signer: None,
        }
    }

    /// The bundle's bytes, signed with `key` if given.
    pub fn to_bytes(&self, key: Option<&SigningKey>) -> Result<Vec<u8>, BundleError> {
        #[derive(Serialize)]
        struct PayloadRef<'a> {
            meta: &'a Meta,
            program: &'a Program,
        }
        let payload = serde_json::to_vec(&PayloadRef { meta: &self.meta, program: &self.program })
            .map_err(|e| BundleError::Payload(e.to_string()))?;
        let mut out = Vec::with_capacity(HEADER + payload.len() + 97);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&Sha256::digest(&payload));
        out.extend_from_slice(&payload);
        match key {
            None => out.push(0),
            Some(key) => {
                let signature = key.sign(&out);
                out.push(1);
                out.extend_from_slice(key.verifying_key().as_bytes());
                out.extend_from_slice(&signature.to_bytes());
            }
        }
        Ok(out)
    }

    /// Reads and verifies a bundle. With `trusted`, only a bundle signed by
    /// that key is accepted; without, a signed bundle's signature is still
    /// checked (against the key it names).
    pub fn read(bytes: &[u8], trusted: Option<&VerifyingKey>) -> Result<Bundle, BundleError> {
        let found = bytes.len() as u64;
        if bytes.len() < MAGIC.len() {
            return Err(if MAGIC.starts_with(bytes) {
                BundleError::Truncated { expected: HEADER as u64 + 1, found }
            } else {
                BundleError::NotABundle
            });
        }
        if bytes.get(..MAGIC.len()) != Some(MAGIC.as_slice()) {
            return Err(BundleError::NotABundle);
        }
        let truncated = |expected: u64| BundleError::Truncated { expected, found };
        let version = read_u32(bytes, 8).ok_or_else(|| truncated(HEADER as u64 + 1))?;
        if version != FORMAT_VERSION {
            return Err(BundleError::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
        }
        let len = read_u64(bytes, 12).ok_or_else(|| truncated(HEADER as u64 + 1))?;
        if len > MAX_PAYLOAD {
            return Err(BundleError::Payload(format!("declared payload length {len} is implausible")));
        }
        let digest = bytes.get(20..HEADER).ok_or_else(|| truncated(HEADER as u64 + 1))?;
        let end = HEADER + len as usize;
        let payload = bytes.get(HEADER..end).ok_or_else(|| truncated(end as u64 + 1))?;
        if Sha256::digest(payload).as_slice() != digest {
            return Err(BundleError::DigestMismatch);
        }
        let marker = *bytes.get(end).ok_or_else(|| truncated(end as u64 + 1))?;
        let (signer, trailer_end) = match marker {
            0 => (None, end + 1),
            1 => {
                let key_bytes: [u8; 32] = bytes
                    .get(end + 1..end + 33)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| truncated(end as u64 + 97))?;
                let sig_bytes: [u8; 64] = bytes
                    .get(end + 33..end + 97)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| truncated(end as u64 + 97))?;
                let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| BundleError::BadSignature)?;
                let signed = bytes.get(..end).ok_or_else(|| truncated(end as u64))?;
                key.verify_strict(signed, &Signature::from_bytes(&sig_bytes)).map_err(|_| BundleError::BadSignature)?;
                (Some(key), end + 97)
            }
            other => return Err(BundleError::BadTrailer(other)),
        };
        if bytes.len() > trailer_end {
            return Err(BundleError::TrailingBytes((bytes.len() - trailer_end) as u64));
        }
        if let Some(trusted) = trusted {
            match &signer {
                None => return Err(BundleError::Unsigned),
                Some(key) if key != trusted => {
                    return Err(BundleError::WrongKey { signer: key_id(key), trusted: key_id(trusted) });
                }
                Some(_) => {}
            }
        }
        let parsed: Payload = serde_json::from_slice(payload).map_err(|e| BundleError::Payload(e.to_string()))?;
        if parsed.program.version != IR_VERSION || parsed.meta.ir_version != IR_VERSION {
            return Err(BundleError::IrVersion { found: parsed.program.version, supported: IR_VERSION });
        }
        // A valid signature says who built it, not that it is well-formed.
        ward_ir::validate(&parsed.program).map_err(BundleError::Invalid)?;
        Ok(Bundle { meta: parsed.meta, program: Arc::new(parsed.program), signer })
    }

    /// Reads and verifies the bundle at `path` (errors other than reading
    /// the file do not name it: the caller knows it).
    pub fn read_file(path: &Path, trusted: Option<&VerifyingKey>) -> Result<Bundle, BundleError> {
        let bytes =
            std::fs::read(path).map_err(|e| BundleError::Io(format!("cannot read `{}`: {e}", path.display())))?;
        Bundle::read(&bytes, trusted)
    }

    /// The policy set with `entities` (Cedar's JSON entity format), ready
    /// for [`crate::Engine::new`] or [`crate::Engine::swap`].
    pub fn loaded(&self, entities: &serde_json::Value, want_jit: bool) -> Result<Loaded, BundleError> {
        let store =
            Store::load(Arc::clone(&self.program), entities).map_err(|e| BundleError::Entities(e.to_string()))?;
        Ok(Loaded::new(Arc::clone(&self.program), store, want_jit))
    }

    /// [`Bundle::loaded`] for a reload: when `previous` holds the same
    /// program (only the entities changed), its native code, buckets and
    /// detectors are reused ([`Loaded::new_reusing`]) and nothing is compiled.
    pub fn reloaded(
        &self,
        entities: &serde_json::Value,
        want_jit: bool,
        previous: &Loaded,
    ) -> Result<Loaded, BundleError> {
        let store =
            Store::load(Arc::clone(&self.program), entities).map_err(|e| BundleError::Entities(e.to_string()))?;
        Ok(Loaded::new_reusing(Arc::clone(&self.program), store, want_jit, previous))
    }
}

/// A new signing key from the operating system's random source.
pub fn generate_key() -> Result<SigningKey, BundleError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| BundleError::Key(format!("no randomness: {e}")))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// 32 bytes from base64 or hex text (surrounding whitespace ignored).
fn key_bytes(text: &str, what: &str) -> Result<[u8; 32], BundleError> {
    use base64::Engine as _;
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| text.get(2 * i..2 * i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<Vec<u8>>>()
            .unwrap_or_default()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| BundleError::Key(format!("{what} is neither base64 nor hex: {e}")))?
    };
    bytes.try_into().map_err(|b: Vec<u8>| BundleError::Key(format!("{what} must be 32 bytes, found {}", b.len())))
}

/// A signing key as written by [`signing_key_text`] (base64 or hex of the 32-byte seed).
pub fn parse_signing_key(text: &str) -> Result<SigningKey, BundleError> {
    Ok(SigningKey::from_bytes(&key_bytes(text, "the signing key")?))
}

/// A public key as written by [`verifying_key_text`] (base64 or hex of 32 bytes).
pub fn parse_verifying_key(text: &str) -> Result<VerifyingKey, BundleError> {
    VerifyingKey::from_bytes(&key_bytes(text, "the public key")?)
        .map_err(|e| BundleError::Key(format!("not an ed25519 public key: {e}")))
}

pub fn signing_key_text(key: &SigningKey) -> String {
    use base64::Engine as _;
    format!("{}\n", base64::engine::general_purpose::STANDARD.encode(key.to_bytes()))
}

pub fn verifying_key_text(key: &VerifyingKey) -> String {
    use base64::Engine as _;
    format!("{}\n", base64::engine::general_purpose::STANDARD.encode(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    fn program() -> Program {
        let mut sources = ward_compiler::SourceSet::default();
        sources.add_bytes(
            "p.ward".to_string(),
            b"schema s {\n  entity User\n  entity Doc\n  action read by [User] on [Doc]\n}\n\npolicy p {\n  permit action: read\n}\n",
        );
        sources.add_stdlib();
        let (compiled, _) = ward_compiler::compile(&sources, &ward_compiler::Options::default())
            .unwrap_or_else(|d| panic!("{:?}", d.iter().map(|d| d.message.clone()).collect::<Vec<_>>()));
        compiled.program
    }

    fn bundle() -> Bundle {
        Bundle::new(program(), &[("p.ward".to_string(), b"text".to_vec())], 0)
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn round_trips_unsigned_and_signed() {
        let b = bundle();
        let read = Bundle::read(&b.to_bytes(None).unwrap(), None).unwrap();
        assert_eq!(read.meta, b.meta);
        assert_eq!(*read.program, *b.program);
        assert!(read.signer.is_none());
        let k = key(7);
        let read = Bundle::read(&b.to_bytes(Some(&k)).unwrap(), Some(&k.verifying_key())).unwrap();
        assert_eq!(read.signer, Some(k.verifying_key()));
        assert_eq!(read.meta.built_at, "1970-01-01T00:00:00Z");
        assert!(read.meta.source_hash.starts_with("sha256:"));
        // A signed bundle is also readable without a trusted key (integrity still checked).
        assert!(Bundle::read(&b.to_bytes(Some(&k)).unwrap(), None).is_ok());
        // And it loads into an engine.
        assert!(read.loaded(&serde_json::json!([]), false).is_ok());
    }

    #[test]
    fn refuses_a_tampered_payload() {
        let mut bytes = bundle().to_bytes(Some(&key(1))).unwrap();
        let at = HEADER + 10;
        bytes[at] ^= 1;
        assert_eq!(Bundle::read(&bytes, None).unwrap_err(), BundleError::DigestMismatch);
        // Even with the digest recomputed, the signature catches it.
        let len = bytes.len() - 97 - HEADER;
        let digest = Sha256::digest(&bytes[HEADER..HEADER + len - 1]);
        bytes[20..HEADER].copy_from_slice(&digest);
        let err = Bundle::read(&bytes, Some(&key(1).verifying_key())).unwrap_err();
        assert!(matches!(err, BundleError::DigestMismatch | BundleError::BadSignature), "{err}");
    }

    #[test]
    fn refuses_a_resigned_payload_with_recomputed_digest() {
        let b = bundle();
        let mut bytes = b.to_bytes(Some(&key(1))).unwrap();
        let end = bytes.len() - 97;
        // Alter the payload (keeping it JSON) and fix the digest: only the signature can tell.
        let payload = String::from_utf8(bytes[HEADER..end].to_vec()).unwrap().replacen("p.ward", "q.ward", 1);
        let digest = Sha256::digest(payload.as_bytes());
        bytes.splice(HEADER..end, payload.bytes());
        bytes[20..HEADER].copy_from_slice(&digest);
        assert_eq!(Bundle::read(&bytes, Some(&key(1).verifying_key())).unwrap_err(), BundleError::BadSignature);
    }

    #[test]
    fn refuses_the_wrong_key() {
        let bytes = bundle().to_bytes(Some(&key(1))).unwrap();
        let err = Bundle::read(&bytes, Some(&key(2).verifying_key())).unwrap_err();
        assert!(matches!(err, BundleError::WrongKey { .. }), "{err}");
        assert!(err.to_string().contains("not by the trusted key"));
    }

    #[test]
    fn refuses_unsigned_when_a_key_is_required() {
        let bytes = bundle().to_bytes(None).unwrap();
        assert_eq!(Bundle::read(&bytes, Some(&key(1).verifying_key())).unwrap_err(), BundleError::Unsigned);
    }

    #[test]
    fn refuses_a_truncated_file_at_every_length() {
        let bytes = bundle().to_bytes(Some(&key(1))).unwrap();
        for n in 0..bytes.len() {
            let err = Bundle::read(&bytes[..n], None).unwrap_err();
            assert!(matches!(err, BundleError::Truncated { .. } | BundleError::NotABundle), "length {n}: {err}");
        }
        let unsigned = bundle().to_bytes(None).unwrap();
        let err = Bundle::read(&unsigned[..unsigned.len() - 1], None).unwrap_err();
        assert!(matches!(err, BundleError::Truncated { .. }), "{err}");
    }

    #[test]
    fn refuses_another_format_version() {
        let mut bytes = bundle().to_bytes(None).unwrap();
        bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(
            Bundle::read(&bytes, None).unwrap_err(),
            BundleError::UnsupportedVersion { found: 2, supported: FORMAT_VERSION }
        );
    }

    #[test]
    fn refuses_other_files_trailing_bytes_and_bad_trailers() {
        assert_eq!(Bundle::read(b"{\"not\": \"a bundle\"}", None).unwrap_err(), BundleError::NotABundle);
        let mut bytes = bundle().to_bytes(None).unwrap();
        bytes.push(0);
        assert_eq!(Bundle::read(&bytes, None).unwrap_err(), BundleError::TrailingBytes(1));
        bytes.pop();
        *bytes.last_mut().unwrap() = 9;
        assert_eq!(Bundle::read(&bytes, None).unwrap_err(), BundleError::BadTrailer(9));
    }

    #[test]
    fn refuses_a_forged_signature() {
        let mut bytes = bundle().to_bytes(Some(&key(1))).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 0x40;
        assert_eq!(Bundle::read(&bytes, None).unwrap_err(), BundleError::BadSignature);
    }

    #[test]
    fn source_hash_depends_on_paths_and_contents_not_order() {
        let a = ("a.ward".to_string(), b"x".to_vec());
        let b = ("b.ward".to_string(), b"y".to_vec());
        assert_eq!(source_hash(&[a.clone(), b.clone()]), source_hash(&[b.clone(), a.clone()]));
        assert_ne!(source_hash(std::slice::from_ref(&a)), source_hash(&[("a.ward".to_string(), b"z".to_vec())]));
        assert_ne!(source_hash(&[a]), source_hash(&[("c.ward".to_string(), b"x".to_vec())]));
    }

    #[test]
    fn keys_round_trip_as_text() {
        let k = generate_key().unwrap();
        let back = parse_signing_key(&signing_key_text(&k)).unwrap();
        assert_eq!(back.to_bytes(), k.to_bytes());
        let p = parse_verifying_key(&verifying_key_text(&k.verifying_key())).unwrap();
        assert_eq!(p, k.verifying_key());
        assert!(parse_verifying_key("not a key").is_err());
        assert!(parse_signing_key("AAAA").is_err());
    }
}
