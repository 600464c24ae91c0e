//! Who is really asking: bearer tokens that are JWTs, verified against the
//! issuers of the configuration (`[[issuers]]`), and mapped to a principal,
//! its delegation chain (RFC 8693 `act`), service scopes and context fields.
//!
//! Verification is `jsonwebtoken`'s (RustCrypto backend): nothing here
//! computes or compares a signature. What this module adds is the policy
//! around it, failing closed at every step: a token over the size limit, of
//! an issuer not configured, with an algorithm outside the issuer's
//! allow-list (`none` and the HMAC algorithms can never be in it), with a
//! `kid` the issuer's JWKS does not hold (after one bounded re-read of the
//! file or fetch of the URL), a key whose family or declared `alg` is not
//! the token's, a signature that does not verify, an `exp`/`nbf`/`iat` out
//! of range (with the issuer's leeway) or not a number, another audience or
//! issuer, a payload with a key twice, an `act` nested deeper than allowed,
//! or claims the mapping cannot read — each is refused with a message that
//! names it.
//! See docs/identity.md.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde_json::Value as Json;
use ward_ir::{Program, Ty};
use ward_runtime::EntityUid;

use crate::config::{ClaimPath, Issuer};
use crate::jwks::{Fetcher, MAX_JWKS_BYTES};

/// The algorithms an issuer may allow: asymmetric ones only. HMAC would
/// need a shared secret (and invites HS/RS confusion); `none` is not an
/// algorithm.
pub const ALGORITHMS: &[&str] = &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

/// What a token may grant on the service.
pub const GRANTS: &[&str] = &["decide", "mask", "metrics", "admin", "impersonate"];

/// The most keys a JWKS may hold.
const MAX_KEYS: usize = 100;

/// A verified token, mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The configured name of the issuer that vouched for it.
    pub issuer: String,
    /// The principal the request is decided for: the current actor when the
    /// token carries `act`, else the subject.
    pub principal: EntityUid,
    /// The delegation chain, origin first (the subject, then earlier
    /// actors), without the principal; empty without `act`.
    pub chain: Vec<EntityUid>,
    /// Context fields from claims (`field` → value), typed against the schema.
    pub context: Vec<(String, Json)>,
    /// Service scopes the token grants (names of [`GRANTS`]).
    pub grants: Vec<String>,
}

/// A refusal: the status to answer with (401: the token is not accepted;
/// 403: it is, but may not do this) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

fn unauthorized(message: impl Into<String>) -> Refusal {
    Refusal { status: 401, message: message.into() }
}

/// What a context claim becomes, from the schema's type of the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    String,
    Strings,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Bool => "Bool",
            Kind::Int => "Int",
            Kind::String => "String",
            Kind::Strings => "Set<String>",
        }
    }
}

#[derive(Debug)]
struct ContextMap {
    field: String,
    claim: ClaimPath,
    contains: Option<String>,
    kind: Kind,
}

struct Key {
    key: DecodingKey,
    /// The JWK's `alg`, when it declares one: then only that algorithm.
    alg: Option<Algorithm>,
}

struct KeySet {
    by_kid: HashMap<String, Key>,
    /// Keys without a `kid` (used only when the set holds exactly one key).
    anonymous: Vec<Key>,
}

/// Where an issuer's keys come from.
enum Source {
    File(PathBuf),
    Url(Fetcher),
}

impl Source {
    async fn load(&self) -> Result<KeySet, String> {
        match self {
            Source::File(path) => read_jwks(path),
            Source::Url(fetcher) => parse_jwks(&fetcher.fetch().await?, &format!("jwks_url `{}`", fetcher.url)),
        }
    }
}

/// One configured issuer, ready to verify.
struct Verifier {
    config: Issuer,
    algorithms: Vec<Algorithm>,
    context: Vec<ContextMap>,
    source: Source,
    keys: RwLock<KeySet>,
    /// When the keys were last loaded or tried: a `kid` not found loads them
    /// again at most once per `jwks_refresh_seconds`. An async lock, held
    /// for the whole load, so that tokens arriving meanwhile wait for that
    /// one load instead of starting their own (see [`Verifier::refresh`]).
    loaded_at: tokio::sync::Mutex<Instant>,
}

/// Every configured issuer.
pub struct Issuers {
    verifiers: Vec<Verifier>,
    max_token_bytes: usize,
}

fn at(i: usize, issuer: &Issuer) -> String {
    format!("issuers[{i}] (`{}`)", issuer.name)
}

fn algorithm(name: &str) -> Option<Algorithm> {
    ALGORITHMS.contains(&name).then(|| name.parse::<Algorithm>().ok()).flatten()
}

/// Reads a JWKS file (see [`parse_jwks`]).
fn read_jwks(path: &Path) -> Result<KeySet, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("jwks `{shown}`: {e}"))?;
    if meta.len() > MAX_JWKS_BYTES {
        return Err(format!("jwks `{shown}`: {} bytes, over the limit of {MAX_JWKS_BYTES}", meta.len()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("jwks `{shown}`: {e}"))?;
    parse_jwks(&text, &format!("jwks `{shown}`"))
}

/// A JWKS, from a file or a URL (`shown` names it in errors): every public
/// key usable for signatures, by `kid`. Read strictly (a key twice in an
/// object is refused), at most [`MAX_KEYS`] keys, no symmetric key, and a
/// key's `alg` must be one Ward accepts.
fn parse_jwks(text: &str, shown: &str) -> Result<KeySet, String> {
    let strict = ward_runtime::json::parse(text, "the JWKS", &ward_runtime::data::Path::Root(""))
        .map_err(|e| format!("{shown}: {e}"))?;
    let set: JwkSet = serde_json::from_value(strict).map_err(|e| format!("{shown}: not a JWK set: {e}"))?;
    if set.keys.len() > MAX_KEYS {
        return Err(format!("{shown}: {} keys, over the limit of {MAX_KEYS}", set.keys.len()));
    }
    let mut keys = KeySet { by_kid: HashMap::new(), anonymous: Vec::new() };
    for (i, jwk) in set.keys.iter().enumerate() {
        let kid = jwk.common.key_id.clone();
        let name = kid.as_deref().map_or_else(|| format!("keys[{i}]"), |k| format!("keys[{i}] (kid `{k}`)"));
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
            return Err(format!("{shown}: {name} is a symmetric (`oct`) key: Ward verifies only with public keys"));
        }
        let alg = match &jwk.common.key_algorithm {
            None => None,
            Some(a) => Some(
                algorithm(&format!("{a:?}"))
                    .ok_or_else(|| format!("{shown}: {name}: `alg` {a:?} is not a signature algorithm Ward accepts"))?,
            ),
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("{shown}: {name}: {e}"))?;
        let key = Key { key, alg };
        match kid {
            Some(kid) => {
                if keys.by_kid.insert(kid.clone(), key).is_some() {
                    return Err(format!("{shown}: kid `{kid}` appears twice"));
                }
            }
            None => keys.anonymous.push(key),
        }
    }
    Ok(keys)
}

/// A claim by path (`["realm_access", "roles"]`).
fn claim<'a>(claims: &'a Json, path: &ClaimPath) -> Option<&'a Json> {
    path.keys().iter().try_fold(claims, |v, k| v.get(k.as_str()))
}

/// A claim that is a list of strings: a JSON array of strings, or a string
/// of space-separated values (OAuth's `scope`).
fn strings(value: &Json, name: &str) -> Result<Vec<String>, Refusal> {
    match value {
        Json::String(s) => Ok(s.split_whitespace().map(str::to_string).collect()),
        Json::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| unauthorized(format!("token claim `{name}`: expected strings"))),
        _ => Err(unauthorized(format!("token claim `{name}`: expected a string or a list of strings"))),
    }
}

/// The schema's type of a context field, for every action that declares it.
fn field_types<'p>(program: &'p Program, field: &str) -> Vec<(&'p str, &'p Ty)> {
    program
        .actions
        .iter()
        .filter(|a| !a.is_group)
        .filter_map(|a| a.context.iter().find(|f| f.name == field).map(|f| (a.name.as_str(), &f.ty)))
        .collect()
}

fn kind_of(ty: &Ty) -> Option<Kind> {
    match ty {
        Ty::Bool => Some(Kind::Bool),
        Ty::Int => Some(Kind::Int),
        Ty::String => Some(Kind::String),
        Ty::Set(inner) if **inner == Ty::String => Some(Kind::Strings),
        _ => None,
    }
}

/// Checks that `ty` names an entity type some action takes as principal.
fn principal_type(program: &Program, ty: &str, what: &str) -> Result<(), String> {
    let Some(index) = program.entity_types.iter().position(|e| e.name == ty) else {
        let known: Vec<&str> = program.entity_types.iter().map(|e| e.name.as_str()).collect();
        return Err(format!("{what}: `{ty}` is not an entity type of the policy (known: {})", known.join(", ")));
    };
    let index = index as u32;
    let principal = program.actions.iter().any(|a| a.principals.as_ref().is_none_or(|p| p.contains(&index)));
    if principal { Ok(()) } else { Err(format!("{what}: no action of the policy takes a `{ty}` as principal")) }
}

impl Issuers {
    /// The issuers of the configuration, checked against the policy's schema
    /// (principal and actor types, context fields and their types) and with
    /// their JWKS read or fetched: a JWKS that cannot be had stops the start
    /// (fail closed). Any problem is an error naming the issuer and field.
    pub async fn new(issuers: &[Issuer], max_token_bytes: usize, program: &Program) -> Result<Issuers, String> {
        let mut verifiers = Vec::new();
        for (i, issuer) in issuers.iter().enumerate() {
            let at = at(i, issuer);
            let mut algorithms = Vec::new();
            for name in &issuer.algorithms {
                algorithms.push(algorithm(name).ok_or_else(|| {
                    format!("{at}.algorithms: `{name}` is not allowed (allowed: {})", ALGORITHMS.join(", "))
                })?);
            }
            principal_type(program, &issuer.principal.entity_type, &format!("{at}.principal.type"))?;
            if let Some(actor) = &issuer.actor {
                principal_type(program, &actor.entity_type, &format!("{at}.actor.type"))?;
            }
            let mut context = Vec::new();
            for (j, c) in issuer.context.iter().enumerate() {
                let what = format!("{at}.context[{j}] (field `{}`)", c.field);
                let types = field_types(program, &c.field);
                let Some((_, first)) = types.first() else {
                    return Err(format!("{what}: no action of the policy has a context field `{}`", c.field));
                };
                if let Some((action, ty)) = types.iter().find(|(_, t)| t != first) {
                    return Err(format!(
                        "{what}: the field has different types in different actions (`{action}`: {ty:?}); map it \
                         only when it has one type"
                    ));
                }
                let kind = kind_of(first).ok_or_else(|| {
                    format!("{what}: the field is {first:?}; a claim maps to Bool, Int, String or Set<String>")
                })?;
                if c.contains.is_some() && kind != Kind::Bool {
                    return Err(format!("{what}: `contains` gives a Bool, but the field is {}", kind.name()));
                }
                context.push(ContextMap {
                    field: c.field.clone(),
                    claim: c.claim.clone(),
                    contains: c.contains.clone(),
                    kind,
                });
            }
            let source = match (&issuer.jwks, &issuer.jwks_url) {
                (Some(path), _) => Source::File(path.clone()),
                (None, Some(url)) => {
                    let url = crate::jwks::Url::parse(url).map_err(|e| format!("{at}.jwks_url: {e}"))?;
                    let timeout = Duration::from_secs(issuer.jwks_timeout_seconds);
                    Source::Url(
                        Fetcher::new(url, issuer.ca_file.as_deref(), timeout).map_err(|e| format!("{at}: {e}"))?,
                    )
                }
                (None, None) => return Err(format!("{at}: give `jwks` (a file) or `jwks_url`")),
            };
            let keys = source.load().await.map_err(|e| format!("{at}: {e}"))?;
            verifiers.push(Verifier {
                config: issuer.clone(),
                algorithms,
                context,
                source,
                keys: RwLock::new(keys),
                loaded_at: tokio::sync::Mutex::new(Instant::now()),
            });
        }
        Ok(Issuers { verifiers, max_token_bytes })
    }

    pub fn is_empty(&self) -> bool {
        self.verifiers.is_empty()
    }

    /// The context fields filled from tokens (a request may not set them itself).
    pub fn mapped_fields(&self, issuer: &str) -> Vec<&str> {
        self.verifiers
            .iter()
            .filter(|v| v.config.name == issuer)
            .flat_map(|v| v.context.iter().map(|c| c.field.as_str()))
            .collect()
    }

    /// Whether `token` has the shape of a JWS compact serialization (three
    /// base64url segments), which is what is verified here.
    pub fn is_jwt(token: &str) -> bool {
        token.split('.').count() == 3
            && token.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
    }

    /// Verifies `token` and maps its claims. Async only because an unknown
    /// `kid` may wait for the issuer's keys to be fetched again.
    pub async fn verify(&self, token: &str) -> Result<Identity, Refusal> {
        if token.len() > self.max_token_bytes {
            return Err(unauthorized(format!(
                "token refused: {} bytes, over the limit of {} (`max_token_bytes`)",
                token.len(),
                self.max_token_bytes
            )));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| unauthorized(format!("token refused: its header is not a JWS header Ward accepts: {e}")))?;
        // The issuer is read before verification only to pick its keys; the
        // verification checks it again.
        let unverified: Json = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|e| unauthorized(format!("token refused: its payload is not a JSON object: {e}")))?;
        let iss =
            unverified.get("iss").and_then(Json::as_str).ok_or_else(|| unauthorized("token refused: no `iss`"))?;
        let verifier = self
            .verifiers
            .iter()
            .find(|v| v.config.issuer == iss)
            .ok_or_else(|| unauthorized(format!("token refused: issuer `{iss}` is not configured")))?;
        verifier.verify(token, &header).await
    }
}

impl Verifier {
    fn name(&self) -> &str {
        &self.config.name
    }

    /// Loads the keys again for a token whose `kid` was not found; true if
    /// they may have changed since (look again).
    ///
    /// Verification runs in the request's task on the tokio runtime, so the
    /// fetch of a `jwks_url` is awaited, never blocked on: a worker thread
    /// serves other requests meanwhile. The load is single-flight: the lock
    /// on `loaded_at` is held across it, and a token that waited for the
    /// lock while another load began only looks again, so a burst of
    /// unknown `kid`s costs one fetch. Loads are at most once per
    /// `jwks_refresh_seconds`, counted from when the last one began, failed
    /// or not. A failed load keeps the keys had before (and is logged).
    async fn refresh(&self) -> bool {
        let asked = Instant::now();
        let mut loaded_at = self.loaded_at.lock().await;
        if *loaded_at >= asked {
            return true;
        }
        if loaded_at.elapsed() < Duration::from_secs(self.config.jwks_refresh_seconds) {
            return false;
        }
        *loaded_at = Instant::now();
        match self.source.load().await {
            Ok(keys) => {
                *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
                true
            }
            Err(e) => {
                eprintln!("ward serve: issuer `{}`: keeping the keys had before: {e}", self.name());
                false
            }
        }
    }

    async fn verify(&self, token: &str, header: &jsonwebtoken::Header) -> Result<Identity, Refusal> {
        let name = self.name();
        if !self.algorithms.contains(&header.alg) {
            return Err(unauthorized(format!(
                "token refused: algorithm {:?} is not allowed for issuer `{name}` (allowed: {})",
                header.alg,
                self.config.algorithms.join(", ")
            )));
        }
        let lookup = |keys: &KeySet| -> Result<Option<(DecodingKey, Option<Algorithm>)>, Refusal> {
            Ok(match &header.kid {
                Some(kid) => keys.by_kid.get(kid).map(|k| (k.key.clone(), k.alg)),
                None if keys.by_kid.len() + keys.anonymous.len() == 1 => {
                    keys.by_kid.values().chain(keys.anonymous.iter()).next().map(|k| (k.key.clone(), k.alg))
                }
                None => {
                    return Err(unauthorized(format!(
                        "token refused: no `kid`, and issuer `{name}` has more than one key"
                    )));
                }
            })
        };
        let mut found = lookup(&self.keys.read().unwrap_or_else(|e| e.into_inner()))?;
        if found.is_none() && self.refresh().await {
            found = lookup(&self.keys.read().unwrap_or_else(|e| e.into_inner()))?;
        }
        let kid = header.kid.as_deref().unwrap_or("(none)");
        let Some((key, key_alg)) = found else {
            return Err(unauthorized(format!("token refused: unknown kid `{kid}` for issuer `{name}`")));
        };
        if key.family() != header.alg.family() || key.family() == AlgorithmFamily::Hmac {
            return Err(unauthorized(format!(
                "token refused: key `{kid}` of issuer `{name}` is a {:?} key, not for {:?}",
                key.family(),
                header.alg
            )));
        }
        if key_alg.is_some_and(|a| a != header.alg) {
            return Err(unauthorized(format!(
                "token refused: key `{kid}` of issuer `{name}` is for {:?}, the token says {:?}",
                key_alg.unwrap_or(header.alg),
                header.alg
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = self.config.leeway_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_audience(&self.config.audiences);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<Json>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as E;
            let why = match e.kind() {
                E::ExpiredSignature => "expired (`exp` is past, beyond the leeway)".to_string(),
                E::ImmatureSignature => "not yet valid (`nbf` is in the future, beyond the leeway)".to_string(),
                E::InvalidAudience => {
                    format!("wrong audience (`aud` holds none of {})", self.config.audiences.join(", "))
                }
                E::InvalidIssuer => "wrong issuer".to_string(),
                E::InvalidSignature => "the signature does not verify".to_string(),
                E::InvalidAlgorithm => "the algorithm does not match the key".to_string(),
                E::MissingRequiredClaim(c) => format!("no `{c}` claim"),
                E::InvalidClaimFormat(c) => format!("claim `{c}` is not of the right type"),
                _ => format!("{e}"),
            };
            unauthorized(format!("token refused: {why}"))
        })?;
        // The verified payload, read again strictly: a key twice is refused
        // (which of the two did the issuer mean?).
        let claims = strict_payload(token).and_then(|strict| {
            if strict == claims.claims { Ok(strict) } else { Err("the payload reads differently".to_string()) }
        });
        let claims = claims.map_err(|e| unauthorized(format!("token refused: {e}")))?;
        self.times(&claims)?;
        self.map(&claims)
    }

    /// `exp`, `nbf` and `iat` must be numbers; `iat` may not be in the future.
    fn times(&self, claims: &Json) -> Result<(), Refusal> {
        for name in ["exp", "nbf", "iat"] {
            if let Some(v) = claims.get(name)
                && !v.is_number()
            {
                return Err(unauthorized(format!("token refused: `{name}` is not a number")));
            }
        }
        if let Some(iat) = claims.get("iat").and_then(Json::as_f64) {
            let now = jsonwebtoken::get_current_timestamp() as f64;
            if iat > now + self.config.leeway_seconds as f64 {
                return Err(unauthorized("token refused: issued in the future (`iat`, beyond the leeway)"));
            }
        }
        Ok(())
    }

    fn map(&self, claims: &Json) -> Result<Identity, Refusal> {
        let config = &self.config;
        let id = |value: Option<&Json>, what: &str| -> Result<String, Refusal> {
            match value {
                Some(Json::String(s)) if !s.is_empty() => Ok(s.clone()),
                _ => Err(unauthorized(format!("token refused: {what} is missing or not a non-empty string"))),
            }
        };
        let subject = EntityUid::new(
            config.principal.entity_type.clone(),
            id(claim(claims, &config.principal.claim), &format!("claim `{}`", config.principal.claim))?,
        );
        // RFC 8693 §4.1: the outermost `act` is the current actor, nested
        // ones are earlier actors. Ward's chain runs origin first.
        let mut actors = Vec::new();
        let mut act = claims.get("act");
        while let Some(a) = act {
            if actors.len() == config.max_act_depth {
                return Err(unauthorized(format!(
                    "token refused: `act` nested deeper than {} (`max_act_depth`)",
                    config.max_act_depth
                )));
            }
            let Some(actor) = &config.actor else {
                return Err(unauthorized(format!(
                    "token refused: it has an `act` claim, and issuer `{}` maps no actors (`[issuers.actor]`)",
                    self.name()
                )));
            };
            if !a.is_object() {
                return Err(unauthorized("token refused: `act` is not an object"));
            }
            let path = "act".to_string() + &".act".repeat(actors.len());
            actors.push(EntityUid::new(
                actor.entity_type.clone(),
                id(claim(a, &actor.claim), &format!("`{path}.{}`", actor.claim))?,
            ));
            act = a.get("act");
        }
        let (principal, chain) = delegation(subject, &actors);
        let token_scopes = match claim(claims, &config.scope_claim) {
            None => Vec::new(),
            Some(v) => strings(v, &config.scope_claim.to_string())?,
        };
        let grants = self
            .config
            .grants()
            .into_iter()
            .filter(|(_, needs)| needs == "*" || token_scopes.iter().any(|s| s == needs))
            .map(|(grant, _)| grant)
            .collect();
        let mut context = Vec::new();
        for c in &self.context {
            let name = c.claim.to_string();
            let value = claim(claims, &c.claim);
            let json = match (c.kind, &c.contains, value) {
                (Kind::Bool, Some(_), None) => Json::Bool(false),
                (Kind::Bool, Some(wanted), Some(v)) => Json::Bool(strings(v, &name)?.iter().any(|s| s == wanted)),
                (_, _, None) => continue,
                (Kind::Bool, None, Some(v @ Json::Bool(_))) => v.clone(),
                (Kind::Int, None, Some(v)) if v.is_i64() => v.clone(),
                (Kind::String, None, Some(v @ Json::String(_))) => v.clone(),
                (Kind::Strings, None, Some(v)) => {
                    Json::Array(strings(v, &name)?.into_iter().map(Json::String).collect())
                }
                (kind, _, Some(_)) => {
                    return Err(unauthorized(format!(
                        "token refused: claim `{name}` cannot be read as {} for context.{}",
                        kind.name(),
                        c.field
                    )));
                }
            };
            context.push((c.field.clone(), json));
        }
        Ok(Identity { issuer: self.name().to_string(), principal, chain, context, grants })
    }
}

/// RFC 8693 §4.1 → Ward's delegation: `actors` outermost `act` first (the
/// current actor, then earlier ones); Ward's principal is the current actor
/// and its chain runs origin first: the subject, then the earlier actors
/// from the earliest.
fn delegation(subject: EntityUid, actors: &[EntityUid]) -> (EntityUid, Vec<EntityUid>) {
    match actors.split_first() {
        None => (subject, Vec::new()),
        Some((current, earlier)) => {
            let mut chain = vec![subject];
            chain.extend(earlier.iter().rev().cloned());
            (current.clone(), chain)
        }
    }
}

/// The payload of a compact JWS, decoded and parsed strictly.
fn strict_payload(token: &str) -> Result<Json, String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).ok_or("not a compact JWS")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| format!("the payload is not base64url: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "the payload is not UTF-8".to_string())?;
    ward_runtime::json::parse(&text, "the token's payload", &ward_runtime::data::Path::Root(""))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn nested_act_becomes_the_chain_origin_first() {
        let u = |t: &str, id: &str| EntityUid::new(t, id);
        assert_eq!(delegation(u("User", "dana"), &[]), (u("User", "dana"), vec![]));
        // dana → planner (earlier actor) → buyer_bot (current actor).
        let actors = [u("Agent", "buyer_bot"), u("Agent", "planner")];
        assert_eq!(
            delegation(u("User", "dana"), &actors),
            (u("Agent", "buyer_bot"), vec![u("User", "dana"), u("Agent", "planner")])
        );
        let actors = [u("Agent", "c"), u("Agent", "b"), u("Agent", "a")];
        assert_eq!(delegation(u("User", "o"), &actors).1, vec![u("User", "o"), u("Agent", "a"), u("Agent", "b")]);
    }

    #[test]
    fn claims_read_as_strings_and_paths() {
        let claims = serde_json::json!({"scope": "a b  c", "realm_access": {"roles": ["x", "y"]}, "n": 1});
        let path = ClaimPath::Path(vec!["realm_access".into(), "roles".into()]);
        assert_eq!(strings(claim(&claims, &path).unwrap(), "r").unwrap(), ["x", "y"]);
        assert_eq!(strings(&claims["scope"], "scope").unwrap(), ["a", "b", "c"]);
        assert_eq!(strings(&claims["n"], "n").unwrap_err().status, 401);
        assert!(claim(&claims, &ClaimPath::Name("absent".into())).is_none());
        assert!(Issuers::is_jwt("aGk.e30.c2ln") && !Issuers::is_jwt("ward_0123") && !Issuers::is_jwt("a.b.c.d"));
        assert!(algorithm("HS256").is_none() && algorithm("none").is_none() && algorithm("RS256").is_some());
    }
}
