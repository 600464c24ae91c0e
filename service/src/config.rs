//! `ward serve`'s configuration: one TOML file, every field optional with
//! the defaults below (docs/deploy.md is the reference), and command-line
//! flags for the common things, which win over the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: Server,
    #[serde(default)]
    pub policy: Policy,
    #[serde(default)]
    pub audit: Audit,
    #[serde(default)]
    pub mask: Mask,
    #[serde(default)]
    pub tokens: Vec<Token>,
    /// Identity providers whose JWTs are accepted as bearer tokens (docs/identity.md).
    #[serde(default)]
    pub issuers: Vec<Issuer>,
    /// `[authzen]`: the OpenID AuthZEN 1.0 endpoints.
    #[serde(default)]
    pub authzen: Authzen,
    /// `[check]` and `[test]`: a policy project's settings (`ward check` and
    /// the other compiling commands read them from a `ward.toml` too), ignored here.
    #[serde(default)]
    pub check: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub test: Option<serde::de::IgnoredAny>,
}

/// `[server]`: where and how to listen.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    pub listen: SocketAddr,
    /// PEM certificate chain; with `tls_key`, the service speaks only TLS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address.
    pub insecure: bool,
    /// Largest request body accepted, in bytes (larger: 413).
    pub max_body_bytes: usize,
    /// Most requests in one `/v1/decide/batch` call.
    pub max_batch: usize,
    /// Time allowed for one request, body included (over: 408).
    pub request_timeout_ms: u64,
    /// Time allowed for a TLS handshake.
    pub tls_handshake_timeout_ms: u64,
    /// Time allowed for a request's headers to arrive, and for a kept-alive
    /// connection to stay idle between requests (over: the connection is closed).
    pub header_timeout_ms: u64,
    /// Connections open at once, in all (over: 503 and closed).
    pub max_connections: usize,
    /// Connections open at once from one client address (over: 503 and closed).
    pub max_connections_per_ip: usize,
    /// Sustained requests per second allowed per client (token); 0 disables the limit.
    pub rate_limit_per_second: u32,
    /// Requests a client may make in a burst above the sustained rate.
    pub rate_limit_burst: u32,
    /// Whether `/metrics` needs a token with the `metrics` (or `admin`) scope.
    pub metrics_require_token: bool,
    /// The longest bearer token accepted, in bytes (longer: 401).
    pub max_token_bytes: usize,
}

impl Default for Server {
    fn default() -> Server {
        Server {
            listen: SocketAddr::from(([127, 0, 0, 1], 8180)),
            tls_cert: None,
            tls_key: None,
            insecure: false,
            max_body_bytes: 1 << 20,
            max_batch: 1000,
            request_timeout_ms: 5_000,
            tls_handshake_timeout_ms: 10_000,
            header_timeout_ms: 10_000,
            max_connections: 4_096,
            max_connections_per_ip: 256,
            rate_limit_per_second: 1_000,
            rate_limit_burst: 2_000,
            metrics_require_token: true,
            max_token_bytes: 8192,
        }
    }
}

/// `[policy]`: what is decided with, and how it is reloaded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// The bundle made by `ward build` (required).
    pub bundle: Option<PathBuf>,
    /// The public key (file written by `ward keygen`) bundles must be signed with.
    pub trusted_key: Option<PathBuf>,
    /// Entities, Cedar's JSON entity format; default: none beyond the policy's own.
    pub entities: Option<PathBuf>,
    /// Links of the policy's `@template` rules, Cedar's template-linked JSON; default: none.
    pub links: Option<PathBuf>,
    /// How often to check the bundle, entities and links files for changes; 0 turns polling off (SIGHUP still reloads).
    pub watch_interval_ms: u64,
    /// `jit` or `interp`.
    pub backend: String,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            bundle: None,
            trusted_key: None,
            entities: None,
            links: None,
            watch_interval_ms: 2_000,
            backend: "jit".to_string(),
        }
    }
}

/// `[audit]`: the hash-chained audit log of every decision.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    /// The log file; no log when absent.
    pub log: Option<PathBuf>,
    /// `record` (fsync after every record) or `batch` (every 256 records or 200 ms).
    pub sync: String,
    /// Seal the log with checkpoints signed by this key (`ward keygen`'s `.key`).
    pub signing_key: Option<PathBuf>,
    /// A checkpoint after this many records …
    pub checkpoint_every: u64,
    /// … or when a record comes this long after the last checkpoint.
    pub checkpoint_interval_ms: u64,
}

impl Default for Audit {
    fn default() -> Audit {
        Audit {
            log: None,
            sync: "batch".to_string(),
            signing_key: None,
            checkpoint_every: 1000,
            checkpoint_interval_ms: 60_000,
        }
    }
}

/// `[mask]`: tokenization keys for `/v1/mask`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mask {
    /// JSON object of key name → 32-byte key (base64 or hex); default: `WARD_KEY_<NAME>` variables.
    pub keys: Option<PathBuf>,
}

/// `[[tokens]]`: one client.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// Who the client is (in logs, metrics and the audit trail of reloads).
    pub name: String,
    /// Hex SHA-256 of the bearer token (`ward token` prints it).
    pub sha256: String,
    /// Any of `decide`, `mask`, `metrics`, `admin` (`admin` implies all).
    pub scopes: Vec<String>,
}

pub const SCOPES: &[&str] = &["decide", "mask", "metrics", "admin"];

/// A claim: a top-level name (`"sub"`, `"https://example.com/groups"`) or a
/// path into nested objects (`["realm_access", "roles"]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ClaimPath {
    Name(String),
    Path(Vec<String>),
}

impl ClaimPath {
    pub fn keys(&self) -> &[String] {
        match self {
            ClaimPath::Name(n) => std::slice::from_ref(n),
            ClaimPath::Path(p) => p,
        }
    }
}

impl std::fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.keys().join("."))
    }
}

fn sub() -> ClaimPath {
    ClaimPath::Name("sub".to_string())
}

fn scope() -> ClaimPath {
    ClaimPath::Name("scope".to_string())
}

/// `[[issuers]]`: one identity provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issuer {
    /// Ward's name for it (in errors, logs and the audit trail).
    pub name: String,
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// A token's `aud` must hold one of these.
    pub audiences: Vec<String>,
    /// Its JSON Web Key Set from a file … (exactly one of `jwks` and `jwks_url`).
    pub jwks: Option<PathBuf>,
    /// … or from a URL, where the issuer publishes it (its `jwks_uri`):
    /// `https://`, or `http://` to a loopback host only (keys fetched in
    /// clear could be swapped on the way). Fetched at start (a failure stops
    /// the start), then again only on an unknown `kid`, as the file is re-read.
    pub jwks_url: Option<String>,
    /// PEM certificates to trust for `jwks_url` instead of the system's
    /// (`/etc/ssl/certs/ca-certificates.crt`): a private CA.
    pub ca_file: Option<PathBuf>,
    /// Time allowed for one fetch of `jwks_url`, from connecting to the last
    /// byte, in seconds (1 to 60).
    #[serde(default = "default_jwks_timeout")]
    pub jwks_timeout_seconds: u64,
    /// The signature algorithms accepted (asymmetric only: RS256 … EdDSA).
    pub algorithms: Vec<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// The shortest time between two re-reads (file) or fetches (URL) of the
    /// JWKS on an unknown `kid`: what bounds the load a stream of made-up
    /// `kid`s can put on the issuer.
    #[serde(default = "default_refresh")]
    pub jwks_refresh_seconds: u64,
    /// The deepest RFC 8693 `act` nesting accepted (the delegation chain's length).
    #[serde(default = "default_act_depth")]
    pub max_act_depth: usize,
    /// Who the token's subject is.
    pub principal: PrincipalMap,
    /// Who the actors of `act` claims are (required to accept tokens with `act`).
    pub actor: Option<PrincipalMap>,
    /// The claim holding the token's scopes (space-separated string or list).
    #[serde(default = "scope")]
    pub scope_claim: ClaimPath,
    /// Ward scope (`decide`, `mask`, `metrics`, `admin`, `impersonate`) →
    /// the token scope that grants it, or `"*"` for every verified token.
    /// Default: `decide` and `mask` for every token, nothing else.
    pub grants: Option<std::collections::BTreeMap<String, String>>,
    /// Context fields filled from claims.
    #[serde(default)]
    pub context: Vec<ContextClaim>,
}

fn default_leeway() -> u64 {
    30
}

fn default_refresh() -> u64 {
    10
}

fn default_jwks_timeout() -> u64 {
    5
}

fn default_act_depth() -> usize {
    4
}

impl Issuer {
    /// Ward scope → what grants it.
    pub fn grants(&self) -> Vec<(String, String)> {
        match &self.grants {
            Some(g) => g.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            None => vec![("decide".to_string(), "*".to_string()), ("mask".to_string(), "*".to_string())],
        }
    }
}

/// A claim → an entity of a type.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalMap {
    #[serde(default = "sub")]
    pub claim: ClaimPath,
    /// The entity type (`User`, `Agent`).
    #[serde(rename = "type")]
    pub entity_type: String,
}

/// `[[issuers.context]]`: a claim → a context field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextClaim {
    /// The context field (declared by the schema).
    pub field: String,
    pub claim: ClaimPath,
    /// Makes a Bool: whether the claim (list or space-separated string) holds this value.
    pub contains: Option<String>,
}

/// `[authzen]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Authzen {
    /// The PDP's identifier and base URL in the metadata document
    /// (`https://ward.example.com`); default: from the request's `Host`.
    pub policy_decision_point: Option<String>,
}

impl Config {
    /// Reads and checks the file.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let config: Config = toml::from_str(&text).map_err(|e| format!("`{}`: {e}", path.display()))?;
        // Relative paths in the file are relative to the file.
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(config.relative_to(&base))
    }

    fn relative_to(mut self, base: &Path) -> Config {
        let fix = |p: &mut Option<PathBuf>| {
            if let Some(path) = p
                && path.is_relative()
            {
                *path = base.join(&*path);
            }
        };
        fix(&mut self.server.tls_cert);
        fix(&mut self.server.tls_key);
        fix(&mut self.policy.bundle);
        fix(&mut self.policy.trusted_key);
        fix(&mut self.policy.entities);
        fix(&mut self.policy.links);
        fix(&mut self.audit.log);
        fix(&mut self.audit.signing_key);
        fix(&mut self.mask.keys);
        for issuer in &mut self.issuers {
            fix(&mut issuer.jwks);
            fix(&mut issuer.ca_file);
        }
        self
    }

    /// Refuses configurations that are unsafe or cannot work.
    pub fn check(&self) -> Result<(), String> {
        if self.policy.bundle.is_none() {
            return Err("no bundle: give `--bundle FILE` or `[policy] bundle` in the configuration".to_string());
        }
        match (&self.server.tls_cert, &self.server.tls_key) {
            (Some(_), None) | (None, Some(_)) => {
                return Err("TLS needs both `tls_cert` and `tls_key`".to_string());
            }
            (None, None) if !self.server.listen.ip().is_loopback() && !self.server.insecure => {
                return Err(format!(
                    "refusing to listen on {} without TLS: give a certificate and key, listen on a loopback \
                     address, or say `--insecure` (plain HTTP: tokens and decisions travel in clear)",
                    self.server.listen
                ));
            }
            _ => {}
        }
        for (key, value) in [
            ("header_timeout_ms", self.server.header_timeout_ms as usize),
            ("max_connections", self.server.max_connections),
            ("max_connections_per_ip", self.server.max_connections_per_ip),
            ("request_timeout_ms", self.server.request_timeout_ms as usize),
        ] {
            if value == 0 {
                return Err(format!("[server] {key} must be positive"));
            }
        }
        if !["jit", "interp"].contains(&self.policy.backend.as_str()) {
            return Err(format!("[policy] backend: `{}` is not `jit` or `interp`", self.policy.backend));
        }
        if !["record", "batch"].contains(&self.audit.sync.as_str()) {
            return Err(format!("[audit] sync: `{}` is not `record` or `batch`", self.audit.sync));
        }
        for (i, t) in self.tokens.iter().enumerate() {
            let at = format!("tokens[{i}] (`{}`)", t.name);
            if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("{at}: sha256 must be 64 hex digits (the SHA-256 of the token)"));
            }
            for s in &t.scopes {
                if !SCOPES.contains(&s.as_str()) {
                    return Err(format!("{at}: unknown scope `{s}` (known: {})", SCOPES.join(", ")));
                }
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, issuer) in self.issuers.iter().enumerate() {
            let at = format!("issuers[{i}] (`{}`)", issuer.name);
            if !names.insert(issuer.issuer.as_str()) {
                return Err(format!("{at}: issuer `{}` is configured twice", issuer.issuer));
            }
            if issuer.audiences.is_empty() || issuer.audiences.iter().any(String::is_empty) {
                return Err(format!(
                    "{at}.audiences: give at least one audience (what the issuer puts in `aud` for Ward)"
                ));
            }
            if issuer.algorithms.is_empty() {
                return Err(format!("{at}.algorithms: give at least one (e.g. [\"RS256\"])"));
            }
            for (grant, needs) in issuer.grants() {
                if !crate::identity::GRANTS.contains(&grant.as_str()) {
                    return Err(format!(
                        "{at}.grants: unknown scope `{grant}` (known: {})",
                        crate::identity::GRANTS.join(", ")
                    ));
                }
                if needs.is_empty() || (needs == "*" && ["admin", "impersonate"].contains(&grant.as_str())) {
                    return Err(format!(
                        "{at}.grants.{grant}: name the token scope that grants it{}",
                        if needs == "*" { " (`*` is not allowed for admin or impersonate)" } else { "" }
                    ));
                }
            }
            match (&issuer.jwks, &issuer.jwks_url) {
                (Some(_), Some(_)) => {
                    return Err(format!("{at}: give one of `jwks` (a file) and `jwks_url`, not both"));
                }
                (None, None) => {
                    return Err(format!(
                        "{at}: give `jwks` (a file) or `jwks_url` (where the issuer publishes its keys)"
                    ));
                }
                (None, Some(url)) => {
                    let url = crate::jwks::Url::parse(url).map_err(|e| format!("{at}.jwks_url: {e}"))?;
                    if issuer.ca_file.is_some() && !url.tls {
                        return Err(format!("{at}.ca_file: only for an `https://` jwks_url"));
                    }
                }
                (Some(_), None) if issuer.ca_file.is_some() => {
                    return Err(format!("{at}.ca_file: only for an `https://` jwks_url"));
                }
                (Some(_), None) => {}
            }
            if !(1..=60).contains(&issuer.jwks_timeout_seconds) {
                return Err(format!("{at}.jwks_timeout_seconds: from 1 to 60"));
            }
            if issuer.max_act_depth > 32 {
                return Err(format!("{at}.max_act_depth: at most 32"));
            }
        }
        if self.server.max_token_bytes == 0 {
            return Err("[server] max_token_bytes must be positive".to_string());
        }
        if self.tokens.is_empty() && self.issuers.is_empty() {
            eprintln!(
                "ward serve: warning: no [[tokens]] or [[issuers]] configured; every authenticated endpoint will answer 401"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn defaults_fill_an_empty_file() {
        let c: Config = toml::from_str("").unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8180");
        assert_eq!(c.server.max_body_bytes, 1 << 20);
        assert_eq!(c.policy.backend, "jit");
        assert!(c.check().is_err(), "no bundle");
    }

    #[test]
    fn refuses_plain_http_off_loopback_and_unknown_fields() {
        let mut c: Config = toml::from_str("[server]\nlisten = \"0.0.0.0:80\"\n[policy]\nbundle = \"b\"\n").unwrap();
        assert!(c.check().unwrap_err().contains("without TLS"));
        c.server.insecure = true;
        assert!(c.check().is_ok());
        assert!(toml::from_str::<Config>("[server]\nlisten_on = 1\n").is_err());
        // A policy project's `[check]` and `[test]` may share the file.
        assert!(toml::from_str::<Config>("[check]\nmax_window = \"48h\"\n[test]\nat = \"2026-01-01\"\n").is_ok());
        let bad = "[policy]\nbundle = \"b\"\n[[tokens]]\nname = \"x\"\nsha256 = \"00\"\nscopes = [\"decide\"]\n";
        assert!(toml::from_str::<Config>(bad).unwrap().check().unwrap_err().contains("64 hex"));
    }

    #[test]
    fn an_issuer_takes_its_keys_from_one_file_or_one_https_url() {
        let issuer = |keys: &str| {
            let text = format!(
                "[policy]\nbundle = \"b\"\n[[issuers]]\nname = \"idp\"\nissuer = \"https://idp.test\"\n\
                 audiences = [\"ward\"]\nalgorithms = [\"RS256\"]\nprincipal = {{ type = \"User\" }}\n{keys}\n"
            );
            let c: Config = toml::from_str(&text).unwrap();
            let c = c.relative_to(Path::new("/etc/ward"));
            c.check().map(|()| c.issuers[0].clone())
        };
        let file = issuer("jwks = \"keys.json\"").unwrap();
        assert_eq!(file.jwks.as_deref(), Some(Path::new("/etc/ward/keys.json")));
        let url = issuer("jwks_url = \"https://idp.test/certs\"\nca_file = \"ca.pem\"").unwrap();
        assert_eq!(url.jwks_timeout_seconds, 5);
        assert_eq!(url.ca_file.as_deref(), Some(Path::new("/etc/ward/ca.pem")));
        assert!(issuer("jwks_url = \"http://127.0.0.1:8080/certs\"").is_ok());
        assert!(issuer("jwks_url = \"http://[::1]/certs\"\njwks_timeout_seconds = 60").is_ok());
        for (keys, says) in [
            ("jwks = \"k.json\"\njwks_url = \"https://idp.test/certs\"", "not both"),
            ("", "give `jwks` (a file) or `jwks_url`"),
            ("jwks_url = \"http://idp.test/certs\"", "jwks_url: `http://idp.test/certs`: plain `http://`"),
            ("jwks_url = \"http://10.1.2.3/certs\"", "loopback"),
            ("jwks_url = \"idp.test/certs\"", "jwks_url"),
            ("jwks = \"k.json\"\nca_file = \"ca.pem\"", "ca_file"),
            ("jwks_url = \"http://localhost/certs\"\nca_file = \"ca.pem\"", "ca_file"),
            ("jwks_url = \"https://idp.test/certs\"\njwks_timeout_seconds = 0", "jwks_timeout_seconds"),
        ] {
            let e = issuer(keys).unwrap_err();
            assert!(e.starts_with("issuers[0] (`idp`)") && e.contains(says), "{keys}: {e}");
        }
    }
}
