//! `--identity FILE`: the gateway as an OAuth 2.1 resource server (the MCP
//! authorization spec). The agent is not a flag but whoever the bearer
//! token names, verified by `ward serve`'s own verifier
//! ([`ward_service::identity`], the same `[[issuers]]` tables), per request
//! over HTTP and once at start over stdio (`WARD_MCP_TOKEN`).
//!
//! Over HTTP a request without an acceptable token is answered here and
//! never forwarded: 401 with `WWW-Authenticate: Bearer resource_metadata=…`
//! pointing at the Protected Resource Metadata (RFC 9728), with
//! `error="invalid_token"` for a token refused (RFC 6750 §3.1); 403
//! `insufficient_scope` for a token not granted `decide`; 403 for a token
//! whose agent Ward does not know. Each refusal is an audit record naming
//! the reason and the SHA-256 of the token, never the token. See
//! docs/mcp.md, "Identity: the gateway as an OAuth resource server".

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value as Json, json};
use ward_service::config::Issuer;
use ward_service::identity::Issuers;

use crate::gate::{Agent, Gate};

/// The path of the metadata document (RFC 9728 §3).
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The environment variable holding the token in stdio mode.
pub const TOKEN_VAR: &str = "WARD_MCP_TOKEN";

/// The `--identity` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityFile {
    /// The resource identifier (RFC 8707): the gateway's MCP endpoint as
    /// clients reach it (`https://mcp.example.com/mcp`). Default: `http://`,
    /// the request's `Host` and the upstream's path.
    pub resource: Option<String>,
    /// The issuers' URLs, for clients to discover where to get a token.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// The scopes listed in the metadata; default: every token scope that
    /// grants `decide` in an issuer's `grants`.
    pub scopes_supported: Option<Vec<String>>,
    /// The longest bearer token accepted, in bytes (longer: 401).
    #[serde(default = "max_token_bytes")]
    pub max_token_bytes: usize,
    /// The same tables as `ward serve`'s `[[issuers]]` (docs/identity.md).
    pub issuers: Vec<Issuer>,
}

fn max_token_bytes() -> usize {
    8192
}

/// The verifier and what the metadata document says.
pub struct Auth {
    issuers: Issuers,
    resource: Option<String>,
    authorization_servers: Vec<String>,
    scopes: Vec<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("resource", &self.resource).field("scopes", &self.scopes).finish_non_exhaustive()
    }
}

/// A request refused for its token: the HTTP status, the RFC 6750 error
/// code (none when no token was presented), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub error: Option<&'static str>,
    pub message: String,
}

impl Auth {
    /// Reads the file and the issuers' keys, checked against the policy's
    /// schema as `ward serve` checks them. Relative paths are the file's.
    pub async fn load(path: &Path, gate: &Gate) -> Result<Auth, String> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| format!("--identity: cannot read `{shown}`: {e}"))?;
        let mut file: IdentityFile = toml::from_str(&text).map_err(|e| format!("--identity `{shown}`: {e}"))?;
        if file.issuers.is_empty() {
            return Err(format!("--identity `{shown}`: no `[[issuers]]`: no token could be accepted"));
        }
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let relative = |p: &mut Option<PathBuf>| {
            if let Some(path) = p
                && path.is_relative()
            {
                *path = base.join(&*path);
            }
        };
        for issuer in &mut file.issuers {
            relative(&mut issuer.jwks);
            relative(&mut issuer.ca_file);
        }
        let loaded = gate.engine().loaded();
        let issuers = Issuers::new(&file.issuers, file.max_token_bytes, loaded.program())
            .await
            .map_err(|e| format!("--identity `{shown}`: {e}"))?;
        let scopes = file.scopes_supported.unwrap_or_else(|| {
            let mut scopes: Vec<String> = file
                .issuers
                .iter()
                .flat_map(Issuer::grants)
                .filter(|(grant, needs)| grant == "decide" && needs != "*")
                .map(|(_, needs)| needs)
                .collect();
            scopes.sort();
            scopes.dedup();
            scopes
        });
        Ok(Auth { issuers, resource: file.resource, authorization_servers: file.authorization_servers, scopes })
    }

    /// The agent of `token`, or why not: the token verified, granted
    /// `decide`, and naming an agent (and chain) Ward knows. Each refusal is
    /// audited (`Err` of the audit is logged: the request is refused anyway).
    pub async fn agent(&self, gate: &Gate, token: &str) -> Result<Agent, Refused> {
        let audit = |principal: &str, stage: &str, message: &str| {
            if let Err(e) = gate.audit_refusal(principal, token.as_bytes(), stage, message) {
                crate::stdio::log(&e);
            }
        };
        let identity = match self.issuers.verify(token).await {
            Ok(id) => id,
            Err(refusal) => {
                audit("", "authentication", &refusal.message);
                return Err(Refused { status: 401, error: Some("invalid_token"), message: refusal.message });
            }
        };
        let principal = identity.principal.to_string();
        if !identity.grants.iter().any(|g| g == "decide") {
            let message = format!(
                "the token of {principal} (issuer `{}`) is not granted `decide`: it may not call tools through the \
                 gateway",
                identity.issuer
            );
            audit(&principal, "identity", &message);
            return Err(Refused { status: 403, error: Some("insufficient_scope"), message });
        }
        let agent = Agent::from_identity(&identity);
        if let Some(message) = gate.unknown(&agent) {
            audit(&principal, "identity", &message);
            return Err(Refused { status: 403, error: None, message });
        }
        Ok(agent)
    }

    /// The refusal of a request that presented no usable bearer token.
    pub fn missing(&self, gate: &Gate, why: &str) -> Refused {
        if let Err(e) = gate.audit_refusal("", b"", "authentication", why) {
            crate::stdio::log(&e);
        }
        Refused { status: 401, error: None, message: why.to_string() }
    }

    /// The resource identifier: as configured, else from the request's host
    /// and the upstream's path.
    pub fn resource(&self, host: &str, path: &str) -> String {
        self.resource.clone().unwrap_or_else(|| format!("http://{host}{path}"))
    }

    /// The URL of the metadata document for `resource` (RFC 9728 §3.1: the
    /// well-known path goes between the host and the resource's path).
    pub fn metadata_url(resource: &str) -> String {
        let (scheme, rest) = resource.split_once("://").unwrap_or(("http", resource));
        let (authority, _) = rest.split_once('/').unwrap_or((rest, ""));
        format!("{scheme}://{authority}{}", Self::metadata_path(resource))
    }

    /// The path of the metadata document for `resource`.
    fn metadata_path(resource: &str) -> String {
        let rest = resource.split_once("://").map_or(resource, |(_, r)| r);
        let path = rest.split_once('/').map_or("", |(_, p)| p);
        let path = path.split(['?', '#']).next().unwrap_or("").trim_end_matches('/');
        if path.is_empty() { WELL_KNOWN.to_string() } else { format!("{WELL_KNOWN}/{path}") }
    }

    /// The paths the metadata document is served at: the bare well-known
    /// path and the one suffixed with the resource's path.
    pub fn is_metadata_path(path: &str, resource: &str) -> bool {
        path == WELL_KNOWN || path == Self::metadata_path(resource)
    }

    /// The Protected Resource Metadata document (RFC 9728 §2).
    pub fn metadata(&self, resource: &str) -> Json {
        json!({
            "resource": resource,
            "authorization_servers": self.authorization_servers,
            "bearer_methods_supported": ["header"],
            "scopes_supported": self.scopes,
            "resource_name": "Ward MCP gateway",
        })
    }

    /// The `WWW-Authenticate` value for a refusal (RFC 6750 §3, RFC 9728 §5.1).
    pub fn challenge(&self, resource: &str, refused: &Refused) -> String {
        let mut value = format!("Bearer resource_metadata=\"{}\"", quoted(&Self::metadata_url(resource)));
        if let Some(error) = refused.error {
            value.push_str(&format!(", error=\"{error}\", error_description=\"{}\"", quoted(&refused.message)));
        }
        if refused.error == Some("insufficient_scope") && !self.scopes.is_empty() {
            value.push_str(&format!(", scope=\"{}\"", quoted(&self.scopes.join(" "))));
        }
        value
    }
}

/// Text fit for a quoted header parameter: visible ASCII and spaces, no `"` or `\`.
fn quoted(text: &str) -> String {
    text.chars().filter(|c| *c == ' ' || c.is_ascii_graphic() && !matches!(c, '"' | '\\')).collect()
}

/// The bearer token of an `Authorization` header value.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn the_metadata_url_puts_the_well_known_path_before_the_resource_path() {
        assert_eq!(
            Auth::metadata_url("https://mcp.example.com/mcp"),
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            Auth::metadata_url("http://127.0.0.1:8808"),
            "http://127.0.0.1:8808/.well-known/oauth-protected-resource"
        );
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(quoted("a \"b\"\\\nc"), "a bc");
    }
}
