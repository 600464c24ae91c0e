//! The HTTP API: authentication, limits, and the decision endpoints.
//!
//! Every error is a JSON object `{"error": "..."}` with the status that says
//! what kind it is; no error path yields an allow.

// Errors here are the responses to send: built once, on the way out.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};
use ward_runtime::audit::{AuditLog, Entry};
use ward_runtime::mask::Keys;
use ward_runtime::masking::{Payload, deny_for, merge_masked};
use ward_runtime::{Decision, Effect, EntityUid};

use crate::config::Config;
use crate::identity::{self, Identity, Issuers};
use crate::metrics::{Endpoint, ErrorKind, Metrics};
use crate::policy::{Policy, Version};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Decide,
    Mask,
    Metrics,
    Admin,
    /// Name another principal than the token's (JWT callers; docs/identity.md).
    Impersonate,
}

impl Scope {
    fn parse(s: &str) -> Option<Scope> {
        match s {
            "decide" => Some(Scope::Decide),
            "mask" => Some(Scope::Mask),
            "metrics" => Some(Scope::Metrics),
            "admin" => Some(Scope::Admin),
            "impersonate" => Some(Scope::Impersonate),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scope::Decide => "decide",
            Scope::Mask => "mask",
            Scope::Metrics => "metrics",
            Scope::Admin => "admin",
            Scope::Impersonate => "impersonate",
        }
    }
}

struct Client {
    name: String,
    scopes: Vec<Scope>,
}

/// Who is calling: a configured API token, or a verified JWT and what it maps to.
pub(crate) struct Caller {
    /// The token's name, or `issuer:Principal::"id"`.
    pub name: String,
    scopes: Vec<Scope>,
    pub identity: Option<Identity>,
}

/// Everything the handlers share.
pub struct App {
    pub policy: Arc<Policy>,
    pub metrics: Metrics,
    /// Hex SHA-256 of a token → its client.
    clients: HashMap<String, Client>,
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    audit: Option<AuditLog>,
    keys: Box<dyn Keys>,
    max_body: usize,
    pub(crate) max_batch: usize,
    timeout: Duration,
    metrics_require_token: bool,
    issuers: Issuers,
    max_token_bytes: usize,
    pub(crate) authzen_base: Option<String>,
    pub(crate) tls: bool,
}

impl App {
    pub fn new(
        config: &Config,
        policy: Arc<Policy>,
        audit: Option<AuditLog>,
        keys: Box<dyn Keys>,
        issuers: Issuers,
    ) -> App {
        let clients = config
            .tokens
            .iter()
            .map(|t| {
                let scopes = t.scopes.iter().filter_map(|s| Scope::parse(s)).collect();
                (t.sha256.to_ascii_lowercase(), Client { name: t.name.clone(), scopes })
            })
            .collect();
        let limiter = NonZeroU32::new(config.server.rate_limit_per_second).map(|rate| {
            let burst = NonZeroU32::new(config.server.rate_limit_burst).unwrap_or(rate);
            DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        App {
            policy,
            metrics: Metrics::default(),
            clients,
            limiter,
            audit,
            keys,
            max_body: config.server.max_body_bytes,
            max_batch: config.server.max_batch,
            timeout: Duration::from_millis(config.server.request_timeout_ms),
            metrics_require_token: config.server.metrics_require_token,
            issuers,
            max_token_bytes: config.server.max_token_bytes,
            authzen_base: config.authzen.policy_decision_point.clone(),
            tls: config.server.tls_cert.is_some(),
        }
    }

    /// Seals (a closing checkpoint, with a signing key) and syncs the audit log, at shutdown.
    pub fn close_audit(&self) {
        if let Some(log) = &self.audit
            && let Err(e) = log.close()
        {
            eprintln!("ward serve: {e}");
        }
    }

    pub(crate) fn fail(&self, status: StatusCode, kind: ErrorKind, message: impl Into<String>) -> Response {
        self.metrics.error(kind);
        json_response(status, &json!({ "error": message.into() }))
    }

    /// Writes an audit record of a refused identity (a token not accepted,
    /// or a request its token may not make): effect `deny`, the reason in
    /// `errors`, `stage` `authentication` or `identity`, and as
    /// `request_digest` the SHA-256 of the token presented (never the token)
    /// or of the request as sent.
    fn audit_refusal(&self, principal: &str, presented: &[u8], stage: &str, why: &str) {
        let Some(log) = &self.audit else { return };
        let now = self.policy.engine.clock().now_ms();
        let entry = Entry::refusal(now, &self.policy.current().hash, principal, presented, stage, why);
        if let Err(e) = log.append(entry) {
            eprintln!("ward serve: the refusal could not be audited: {e}");
        }
    }

    /// The caller behind the request's bearer token: a configured API token,
    /// or a JWT of a configured issuer, verified.
    /// Takes the headers rather than the request: a request's body is not
    /// `Sync`, and verifying may await a fetch of an issuer's keys.
    pub(crate) async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, Response> {
        let unauthorized = |message: &str, challenge: HeaderValue| {
            let mut r = self.fail(StatusCode::UNAUTHORIZED, ErrorKind::Unauthorized, message);
            r.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
            r
        };
        let plain = HeaderValue::from_static("Bearer");
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Err(unauthorized("missing `Authorization: Bearer <token>`", plain));
        };
        if values.next().is_some() {
            // Which one is meant? A proxy in front may have read the other.
            return Err(self.fail(
                StatusCode::BAD_REQUEST,
                ErrorKind::BadRequest,
                "more than one Authorization header: send exactly one",
            ));
        }
        let token = value
            .to_str()
            .ok()
            .and_then(bearer_token)
            .ok_or_else(|| unauthorized("the Authorization header is not `Bearer <token>`", plain.clone()))?;
        if !self.issuers.is_empty() && (token.len() > self.max_token_bytes || Issuers::is_jwt(token)) {
            let verified = if token.len() > self.max_token_bytes {
                Err(identity::Refusal {
                    status: 401,
                    message: format!(
                        "token refused: {} bytes, over the limit of {} (`max_token_bytes`)",
                        token.len(),
                        self.max_token_bytes
                    ),
                })
            } else {
                self.issuers.verify(token).await
            };
            return match verified {
                Ok(id) => {
                    let scopes = id.grants.iter().filter_map(|g| Scope::parse(g)).collect();
                    Ok(Caller { name: format!("{}:{}", id.issuer, id.principal), scopes, identity: Some(id) })
                }
                Err(refusal) => {
                    self.audit_refusal("", token.as_bytes(), "authentication", &refusal.message);
                    let challenge = format!(
                        "Bearer error=\"invalid_token\", error_description=\"{}\"",
                        refusal
                            .message
                            .chars()
                            .filter(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\\') || *c == ' ')
                            .collect::<String>()
                    );
                    Err(unauthorized(&refusal.message, HeaderValue::from_str(&challenge).unwrap_or(plain)))
                }
            };
        }
        let digest = Sha256::digest(token.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let client = self.clients.get(&hex).ok_or_else(|| unauthorized("unknown token", plain))?;
        Ok(Caller { name: client.name.clone(), scopes: client.scopes.clone(), identity: None })
    }

    /// The caller behind the request's bearer token, if it has `scope`.
    pub(crate) async fn authorize(&self, headers: &HeaderMap, scope: Scope) -> Result<Caller, Response> {
        let caller = self.authenticate(headers).await?;
        if !caller.scopes.contains(&scope) && !caller.scopes.contains(&Scope::Admin) {
            let message = match &caller.identity {
                None => format!("the token `{}` does not have the `{}` scope", caller.name, scope.name()),
                Some(id) => format!(
                    "the token of `{}` (issuer `{}`) is not granted the `{}` scope",
                    id.principal,
                    id.issuer,
                    scope.name()
                ),
            };
            if let Some(id) = &caller.identity {
                self.audit_refusal(&id.principal.to_string(), b"", "identity", &message);
            }
            return Err(self.fail(StatusCode::FORBIDDEN, ErrorKind::Forbidden, message));
        }
        Ok(caller)
    }

    /// Binds a request (Cedar-shaped JSON, as the client sent it) to the
    /// verified identity of its caller: the principal, delegation chain and
    /// mapped context fields come from the token. A request that names
    /// another principal or chain, or sets a context field the token fills,
    /// is refused (403) unless the token grants `impersonate`, in which case
    /// it is decided as sent. A token whose principal (or a link of its
    /// chain) is not among the service's entities is refused (403). Callers
    /// with API tokens are unchanged. Each refusal is audited.
    pub(crate) fn bind(&self, caller: &Caller, json: &mut Json, at: &str) -> Result<(), identity::Refusal> {
        let Some(id) = &caller.identity else { return Ok(()) };
        let Some(obj) = json.as_object_mut() else { return Ok(()) };
        let impersonate = caller.scopes.contains(&Scope::Impersonate);
        // The request as sent, for the audit record of a refusal.
        let sent = serde_json::to_vec(&*obj).unwrap_or_default();
        let refuse = |message: String| {
            self.audit_refusal(&id.principal.to_string(), &sent, "identity", &message);
            identity::Refusal { status: 403, message }
        };
        let uid = |u: &EntityUid| json!({ "type": u.ty, "id": u.id });
        match obj.get("principal") {
            None => {
                obj.insert("principal".to_string(), uid(&id.principal));
            }
            Some(p) if *p == uid(&id.principal) => {}
            Some(p) if impersonate => {
                let _ = p;
                return Ok(());
            }
            Some(p) => {
                return Err(refuse(format!(
                    "{at}principal: the token is for {}, the request names {p}; naming another principal needs \
                     the `impersonate` grant",
                    id.principal
                )));
            }
        }
        let chain = Json::Array(id.chain.iter().map(uid).collect());
        match obj.get("on_behalf_of") {
            None if id.chain.is_empty() => {}
            None => {
                obj.insert("on_behalf_of".to_string(), chain);
            }
            Some(c) if *c == chain || impersonate => {}
            Some(c) => {
                return Err(refuse(format!(
                    "{at}on_behalf_of: the token's delegation chain is {chain}, the request names {c}; naming \
                     another chain needs the `impersonate` grant"
                )));
            }
        }
        let loaded = self.policy.engine.loaded();
        let program = loaded.program();
        let action =
            obj.get("action").and_then(Json::as_str).and_then(|a| program.actions.iter().find(|x| x.name == a));
        let mapped = self.issuers.mapped_fields(&id.issuer);
        if let Some(Json::Object(context)) = obj.get("context")
            && !impersonate
            && let Some(field) = mapped.iter().find(|f| context.contains_key(**f))
        {
            return Err(refuse(format!(
                "{at}context.{field}: this field comes from the token, the request may not set it"
            )));
        }
        // A `@verified` field the token does not fill cannot come from the
        // token's holder either: only from a caller trusted to impersonate.
        if let (Some(Json::Object(context)), Some(action)) = (obj.get("context"), action)
            && !impersonate
            && let Some(field) =
                action.verified.iter().find(|f| context.contains_key(*f) && !mapped.contains(&f.as_str()))
        {
            return Err(refuse(format!(
                "{at}context.{field}: a `@verified` field, set only from an authenticated source; no configured \
                 claim fills it (`[[issuers.context]]`) and the request may not set it"
            )));
        }
        if let Some(action) = action {
            let context = obj.entry("context").or_insert_with(|| json!({}));
            if let Json::Object(context) = context {
                for (field, value) in &id.context {
                    if action.context.iter().any(|f| &f.name == field) && !context.contains_key(field) {
                        context.insert(field.clone(), value.clone());
                    }
                }
            }
        }
        let store = &loaded.store;
        for (what, who) in
            std::iter::once(("principal", &id.principal)).chain(id.chain.iter().map(|u| ("delegation chain link", u)))
        {
            let known = store.type_index(&who.ty).and_then(|t| store.find(t, &who.id)).is_some();
            if !known {
                return Err(refuse(format!(
                    "the token's {what} {who} is not among the service's entities: no decision is made for an \
                     identity Ward does not know"
                )));
            }
        }
        Ok(())
    }

    /// A refusal of [`App::bind`] as the answer to send.
    pub(crate) fn refused(&self, r: identity::Refusal) -> Response {
        let (status, kind) = if r.status == 401 {
            (StatusCode::UNAUTHORIZED, ErrorKind::Unauthorized)
        } else {
            (StatusCode::FORBIDDEN, ErrorKind::Forbidden)
        };
        self.fail(status, kind, r.message)
    }

    pub(crate) fn rate_limit(&self, client: &Caller) -> Result<(), Response> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        // One key per verified principal: forget idle ones rather than grow without bound.
        if limiter.len() > 100_000 {
            limiter.retain_recent();
        }
        match limiter.check_key(&client.name) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let ms = wait.as_millis().max(1);
                let mut r = self.fail(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorKind::RateLimited,
                    format!("rate limit of client `{}` exceeded; retry in {ms} ms", client.name),
                );
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                Err(r)
            }
        }
    }

    /// Authenticates, rate-limits and reads the JSON body.
    pub(crate) async fn admit(&self, req: Request, scope: Scope) -> Result<(Caller, Json), Response> {
        let (caller, body) = self.admit_bytes(req, scope).await?;
        // Strictly (ward_runtime::json): a duplicate key is a 400 naming it, a
        // number a double would round is read exactly or refused.
        let text = std::str::from_utf8(&body).map_err(|e| {
            self.fail(
                StatusCode::BAD_REQUEST,
                ErrorKind::BadRequest,
                format!("the body is not valid JSON: not UTF-8: {e}"),
            )
        })?;
        let json = ward_runtime::json::parse(text, "the body", &ward_runtime::data::Path::Root(""))
            .map_err(|e| self.fail(StatusCode::BAD_REQUEST, ErrorKind::BadRequest, e.to_string()))?;
        Ok((caller, json))
    }

    /// Authenticates, rate-limits and reads the body (bytes, at most `max_body`).
    async fn admit_bytes(&self, req: Request, scope: Scope) -> Result<(Caller, bytes::Bytes), Response> {
        let client = self.authorize(req.headers(), scope).await?;
        self.rate_limit(&client)?;
        let too_large = || {
            self.fail(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorKind::TooLarge,
                format!("the body is larger than the limit of {} bytes", self.max_body),
            )
        };
        let declared =
            req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body as u64) {
            return Err(too_large());
        }
        let body = match axum::body::to_bytes(req.into_body(), self.max_body).await {
            Ok(b) => b,
            Err(e) => {
                let limit = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                    || e.to_string().contains("length limit");
                return Err(if limit {
                    too_large()
                } else {
                    self.fail(StatusCode::BAD_REQUEST, ErrorKind::BadRequest, format!("cannot read the body: {e}"))
                });
            }
        };
        Ok((client, body))
    }

    pub(crate) fn bad_request(&self, message: impl Into<String>) -> Response {
        self.fail(StatusCode::BAD_REQUEST, ErrorKind::BadRequest, message)
    }

    /// A request from its JSON, or a 400 naming the problem. `at` prefixes
    /// field names (`requests[3].`).
    pub(crate) fn request(&self, json: &Json, at: &str) -> Result<ward_runtime::Request, Response> {
        if json.get("entities").is_some() {
            return Err(self.bad_request(format!(
                "{at}entities: requests may not carry entities; the service decides with the entities it was \
                 configured with (a client must not vouch for its own attributes)"
            )));
        }
        ward_runtime::Request::from_json(json).map_err(|e| self.bad_request(format!("{at}{e}")))
    }

    /// Appends to the audit log (if any) and counts the decision.
    pub(crate) fn record(
        &self,
        request: &ward_runtime::Request,
        decision: &Decision,
        version: &Version,
    ) -> Result<(), Response> {
        self.metrics.decision(decision);
        if let Some(log) = &self.audit {
            let now = self.policy.engine.clock().now_ms();
            let program = self.policy.engine.loaded();
            let entry = Entry::new(request, decision, &version.hash, now).with_severity(program.program(), decision);
            if let Err(e) = log.append(entry) {
                eprintln!("ward serve: {e}");
                return Err(self.fail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorKind::Internal,
                    format!("the decision could not be audited, so it is not given: {e}"),
                ));
            }
        }
        Ok(())
    }
}

/// The token of an `Authorization` value with the `Bearer` scheme, whose
/// name is case-insensitive (RFC 9110 §11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub(crate) fn json_response(status: StatusCode, body: &Json) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(crate) fn policy_json(v: &Version) -> Json {
    json!({ "hash": v.hash, "version": v.generation })
}

/// The decision JSON, with the policy version that made it.
pub(crate) fn decision_json(d: &Decision, v: &Version) -> Json {
    let mut out = d.to_json();
    if let Json::Object(map) = &mut out {
        map.insert("policy".to_string(), policy_json(v));
    }
    out
}

/// The engine's refusal of a request that does not fit the policy's schema
/// (unknown action, entity, or a context of the wrong shape): a deny that
/// names the problem, answered with 400.
pub(crate) fn refusal(d: &Decision) -> Option<&str> {
    match (d.effect, d.reasons.as_slice()) {
        (Effect::Deny, [only]) if only.rule.is_none() => only.clause.strip_prefix("the request was refused: "),
        _ => None,
    }
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/decide", post(decide))
        .route("/v1/decide/batch", post(batch))
        .route("/v1/results", post(results))
        .route("/v1/mask", post(mask))
        .route("/v1/mask/batch", post(mask_batch))
        .route("/v1/policy", get(policy))
        .route("/v1/reload", post(reload))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/access/v1/evaluation", post(crate::authzen::evaluation))
        .route("/access/v1/evaluations", post(crate::authzen::evaluations))
        .route("/.well-known/authzen-configuration", get(crate::authzen::metadata))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&app), deadline))
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&app), keep_alive))
        .layer(axum::middleware::from_fn(crate::authzen::request_id))
        .with_state(app)
}

/// A request body the handler may leave unread: what it does not read stays
/// here, for [`keep_alive`] to drain.
struct Unread {
    body: std::sync::Mutex<Option<Body>>,
    /// Bytes the handler read.
    read: std::sync::atomic::AtomicUsize,
    /// The handler read it to the end.
    done: std::sync::atomic::AtomicBool,
}

struct TrackedBody(Arc<Unread>);

impl http_body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, axum::Error>>> {
        use std::sync::atomic::Ordering;
        use std::task::Poll;
        let mut slot = self.0.body.lock().unwrap_or_else(|e| e.into_inner());
        let Some(body) = slot.as_mut() else { return Poll::Ready(None) };
        let polled = std::pin::Pin::new(body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.0.done.store(true, Ordering::Release),
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.0.read.fetch_add(data.len(), Ordering::AcqRel);
                }
            }
            _ => {}
        }
        polled
    }
}

/// Keeps connections usable when a handler answers without reading the
/// whole request body (401, 403, 404, 405, 429 …): the rest of the body is
/// read and dropped (up to `max_body_bytes`, within the request deadline),
/// so that the next request on the connection is read from where it starts.
/// When that cannot be done (a body over the limit, a request that timed
/// out), the answer says `Connection: close` and the connection is closed
/// after it — never closed under a client that was not told.
async fn keep_alive(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    use std::sync::atomic::Ordering;
    let (parts, body) = req.into_parts();
    if http_body::Body::is_end_stream(&body) {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let unread = Arc::new(Unread {
        body: std::sync::Mutex::new(Some(body)),
        read: std::sync::atomic::AtomicUsize::new(0),
        done: std::sync::atomic::AtomicBool::new(false),
    });
    let tracked = Body::new(TrackedBody(Arc::clone(&unread)));
    let mut response = next.run(Request::from_parts(parts, tracked)).await;
    if unread.done.load(Ordering::Acquire) {
        return response;
    }
    let rest = unread.body.lock().unwrap_or_else(|e| e.into_inner()).take();
    let budget = app.max_body.saturating_sub(unread.read.load(Ordering::Acquire));
    let drainable = !matches!(response.status(), StatusCode::REQUEST_TIMEOUT | StatusCode::PAYLOAD_TOO_LARGE);
    let drained = match rest {
        Some(rest) if drainable => tokio::time::timeout(app.timeout, drain(rest, budget)).await.unwrap_or(false),
        _ => false,
    };
    if !drained {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads `body` to its end and drops it; `false` if it is longer than `budget` bytes or fails.
async fn drain(mut body: Body, budget: usize) -> bool {
    use http_body_util::BodyExt as _;
    let mut left = budget;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return false };
        if let Some(data) = frame.data_ref() {
            match left.checked_sub(data.len()) {
                Some(l) => left = l,
                None => return false,
            }
        }
    }
    true
}

async fn deadline(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(app.timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => app.fail(
            StatusCode::REQUEST_TIMEOUT,
            ErrorKind::Timeout,
            format!("the request took longer than {} ms", app.timeout.as_millis()),
        ),
    }
}

async fn not_found(State(app): State<Arc<App>>, req: Request) -> Response {
    app.fail(StatusCode::NOT_FOUND, ErrorKind::BadRequest, format!("no endpoint {} {}", req.method(), req.uri().path()))
}

async fn method_not_allowed(State(app): State<Arc<App>>, req: Request) -> Response {
    app.fail(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::BadRequest,
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

async fn decide(State(app): State<Arc<App>>, req: Request) -> Response {
    let start = Instant::now();
    let (caller, mut body) = match app.admit(req, Scope::Decide).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Err(r) = app.bind(&caller, &mut body, "") {
        return app.refused(r);
    }
    let request = match app.request(&body, "") {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (decision, version) = {
        let current = app.policy.read();
        (app.policy.engine.decide(&request), Arc::clone(&current))
    };
    if let Err(r) = app.record(&request, &decision, &version) {
        return r;
    }
    let response = match refusal(&decision) {
        Some(problem) => {
            app.metrics.error(ErrorKind::BadRequest);
            json_response(
                StatusCode::BAD_REQUEST,
                &json!({ "error": problem, "decision": decision_json(&decision, &version) }),
            )
        }
        None => json_response(StatusCode::OK, &decision_json(&decision, &version)),
    };
    app.metrics.latency(Endpoint::Decide, start.elapsed());
    response
}

/// `/v1/results`: the enforcement point reports the result of a request it
/// was allowed to carry out — `{"request": {…}, "result": JSON}`, or
/// `{"request": {…}, "unreadable": "why"}` when the action's result could
/// not be read as JSON — and the result flows that look at its action
/// record it (docs/deploy.md). The request is bound to the caller's
/// identity as `/v1/decide` binds it (scope `decide`). The answer names the
/// facts recorded and the flows made unknown, never values; the audit
/// record (stage `result`) names them too.
async fn results(State(app): State<Arc<App>>, req: Request) -> Response {
    let start = Instant::now();
    let (caller, mut body) = match app.admit(req, Scope::Decide).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(obj) = body.as_object_mut() else {
        return app
            .bad_request("expected {\"request\": {…}, \"result\": …} or {\"request\": {…}, \"unreadable\": \"why\"}");
    };
    if let Some(key) = obj.keys().find(|k| !["request", "result", "unreadable"].contains(&k.as_str())) {
        return app.bad_request(format!("{key}: not a field of a result report (request, result, unreadable)"));
    }
    let reported = match (obj.get("result"), obj.get("unreadable")) {
        (Some(result), None) => Ok(result.clone()),
        (None, Some(Json::String(why))) => Err(why.clone()),
        (None, Some(_)) => {
            return app.bad_request("unreadable: expected a string saying why the result cannot be read");
        }
        (None, None) => return app.bad_request("result: missing (or `unreadable` with why)"),
        (Some(_), Some(_)) => return app.bad_request("result and unreadable: give one of them"),
    };
    let Some(request_json) = obj.get_mut("request") else { return app.bad_request("request: missing") };
    if let Err(r) = app.bind(&caller, request_json, "request.") {
        return app.refused(r);
    }
    let request = match app.request(request_json, "request.") {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (record, version) = {
        let current = app.policy.read();
        let engine = &app.policy.engine;
        let now = engine.clock().now_ms();
        let record = match &reported {
            Ok(result) => engine.record_result_at(&request, ward_runtime::ActionResult::Json(result), now),
            Err(why) => engine.record_result_at(&request, ward_runtime::ActionResult::Unreadable(why), now),
        };
        (record, Arc::clone(&current))
    };
    // A request that does not fit the policy set is the client's error; a
    // state store that failed is the service's.
    if let Some(e) = record.errors.first() {
        let fits = engine_fits(&app, &request);
        return if fits {
            app.fail(StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Internal, e.clone())
        } else {
            app.bad_request(e.clone())
        };
    }
    if let Some(log) = &app.audit {
        let now = app.policy.engine.clock().now_ms();
        let mut entry = Entry::new(&request, &Decision::empty(Effect::Allow), &version.hash, now).at_stage("result");
        entry.facts = record.facts.clone();
        entry.unknown_facts = record.unreadable.iter().map(|(name, why)| format!("{name}: {why}")).collect();
        if let Err(e) = log.append(entry) {
            eprintln!("ward serve: {e}");
            return app.fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorKind::Internal,
                format!("the result could not be audited: {e}"),
            );
        }
    }
    let unknown: Vec<Json> = record.unreadable.iter().map(|(flow, why)| json!({ "flow": flow, "why": why })).collect();
    let response = json_response(
        StatusCode::OK,
        &json!({ "facts": record.facts, "unknown": unknown, "policy": policy_json(&version) }),
    );
    app.metrics.latency(Endpoint::Results, start.elapsed());
    response
}

/// Whether `request` fits the policy set being served (its action, parties
/// and context are what the schema declares).
fn engine_fits(app: &App, request: &ward_runtime::Request) -> bool {
    app.policy.engine.prepare(request, 0).is_ok()
}

/// `/v1/decide/batch`, in memory bounded per item: the body's requests are
/// read one at a time from its bytes (never as one JSON tree), twice — first
/// to refuse the batch whole if any request is malformed (400 naming it) or
/// there are too many (413), then to decide each under one policy version,
/// audit it and write its decision into the answer, dropping it before the
/// next. What stays is the body and the answer's bytes, both linear in the
/// batch.
async fn batch(State(app): State<Arc<App>>, req: Request) -> Response {
    let start = Instant::now();
    let (caller, body) = match app.admit_bytes(req, Scope::Decide).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let shape = |e: String| app.bad_request(format!("expected {{\"requests\": [request, …]}}: {e}"));
    let too_many = || {
        app.fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::TooLarge,
            format!("more requests than the batch limit of {}", app.max_batch),
        )
    };
    let checked = batch::for_each(&body, |i, mut item| {
        if i >= app.max_batch {
            return Err(too_many());
        }
        let at = format!("requests[{i}].");
        app.bind(&caller, &mut item, &at).map_err(|r| app.refused(r))?;
        app.request(&item, &at).map(drop)
    });
    let count = match checked {
        Ok(n) => n,
        Err(batch::Stop::Shape(e)) => return shape(e),
        Err(batch::Stop::Item(r)) => return r,
        Err(batch::Stop::Request(e)) => return app.bad_request(e),
    };
    // One version for the whole batch.
    let mut out: Vec<u8> = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(b"{\"decisions\":[");
    let decided = {
        let current = app.policy.read();
        batch::for_each(&body, |i, mut item| {
            let at = format!("requests[{i}].");
            app.bind(&caller, &mut item, &at).map_err(|r| app.refused(r))?;
            let request = app.request(&item, &at)?;
            let decision = app.policy.engine.decide(&request);
            app.record(&request, &decision, &current)?;
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, &decision).map_err(|e| {
                app.fail(StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Internal, format!("decision {i}: {e}"))
            })
        })
        .map(|n| (n, Arc::clone(&current)))
    };
    let version = match decided {
        Ok((n, version)) if n == count => version,
        Ok(_) => return shape("the body changed between two readings".to_string()),
        Err(batch::Stop::Shape(e)) => return shape(e),
        Err(batch::Stop::Item(r)) => return r,
        Err(batch::Stop::Request(e)) => return app.bad_request(e),
    };
    out.extend_from_slice(b"],\"policy\":");
    if let Err(e) = serde_json::to_writer(&mut out, &policy_json(&version)) {
        return app.fail(StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Internal, e.to_string());
    }
    out.push(b'}');
    app.metrics.latency(Endpoint::Batch, start.elapsed());
    let mut r = (StatusCode::OK, out).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Reading `{"requests": [...]}` one request at a time.
mod batch {
    use std::fmt;

    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde_json::Value as Json;
    use serde_json::value::RawValue;
    use ward_runtime::data::Path;

    /// Why the reading stopped.
    pub enum Stop<E> {
        /// The body is not `{"requests": [...]}`.
        Shape(String),
        /// `each` refused an item.
        Item(E),
        /// An item is not strict JSON (a duplicate key, a number a double
        /// would round): the error names it (`requests[1].action: …`).
        Request(String),
    }

    /// Called with each item's index and its strict reading; `false` stops.
    type Each<'a> = &'a mut dyn FnMut(usize, Result<Json, String>) -> bool;

    /// Calls `each(index, request JSON)` for every element of `requests`, in
    /// order, holding one at a time; stops at the first `Err`. The number of
    /// requests, or why not.
    pub fn for_each<E>(body: &[u8], mut each: impl FnMut(usize, Json) -> Result<(), E>) -> Result<usize, Stop<E>> {
        let mut failure = None;
        let mut count = 0;
        let result = {
            let mut call = |i: usize, item: Result<Json, String>| match item.map_err(Stop::Request) {
                Ok(item) => match each(i, item) {
                    Ok(()) => true,
                    Err(e) => {
                        failure = Some(Stop::Item(e));
                        false
                    }
                },
                Err(stop) => {
                    failure = Some(stop);
                    false
                }
            };
            let mut de = serde_json::Deserializer::from_slice(body);
            Top { each: &mut call, count: &mut count }.deserialize(&mut de).and_then(|()| de.end())
        };
        if let Some(stop) = failure {
            return Err(stop);
        }
        result.map_err(|e| Stop::Shape(e.to_string()))?;
        Ok(count)
    }

    struct Top<'a, 'b> {
        each: Each<'a>,
        count: &'b mut usize,
    }

    impl<'de> DeserializeSeed<'de> for Top<'_, '_> {
        type Value = ();

        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for Top<'_, '_> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object with `requests`")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let Top { each, count } = self;
            let mut seen = false;
            while let Some(key) = map.next_key::<String>()? {
                if key != "requests" {
                    return Err(de::Error::custom(format!("`{key}` is not a field of a batch (only `requests`)")));
                }
                if seen {
                    return Err(de::Error::custom("`requests` appears twice"));
                }
                seen = true;
                map.next_value_seed(Items { each: &mut *each, count: &mut *count })?;
            }
            if seen { Ok(()) } else { Err(de::Error::custom("`requests` is missing")) }
        }
    }

    struct Items<'a, 'b> {
        each: Each<'a>,
        count: &'b mut usize,
    }

    impl<'de> DeserializeSeed<'de> for Items<'_, '_> {
        type Value = ();

        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_seq(self)
        }
    }

    impl<'de> Visitor<'de> for Items<'_, '_> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of requests")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut i = 0;
            // Each item's text, read again strictly: serde_json's own reading
            // would keep the last of two equal keys and round long numbers.
            while let Some(raw) = seq.next_element::<&'de RawValue>()? {
                let requests = Path::Key(&Path::Root(""), "requests");
                let item = ward_runtime::json::parse(raw.get(), "the body", &Path::Index(&requests, i))
                    .map_err(|e| e.to_string());
                if !(self.each)(i, item) {
                    return Err(de::Error::custom("stopped"));
                }
                i += 1;
            }
            *self.count = i;
            Ok(())
        }
    }

    #[cfg(test)]
    mod tests {
        #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

        use super::*;

        #[test]
        fn reads_items_one_by_one_and_stops_where_told() {
            let mut seen = Vec::new();
            let n = for_each(br#"{"requests": [1, {"a": 2}, "x"]}"#, |i, v| {
                seen.push((i, v));
                Ok::<(), ()>(())
            });
            assert_eq!(n.ok(), Some(3));
            assert_eq!(seen.len(), 3);
            let stopped = for_each(br#"{"requests": [1, 2, 3]}"#, |i, _| if i == 1 { Err(i) } else { Ok(()) });
            assert!(matches!(stopped, Err(Stop::Item(1))));
            for bad in
                [&br#"[]"#[..], br#"{}"#, br#"{"requests": 1}"#, br#"{"requests": [], "x": 1}"#, br#"{"requests": [1"#]
            {
                assert!(matches!(for_each(bad, |_, _| Ok::<(), ()>(())), Err(Stop::Shape(_))));
            }
        }

        #[test]
        fn an_item_with_a_duplicate_key_is_refused_naming_it() {
            let body = br#"{"requests": [{"a": 1}, {"action": "delete", "action": "read"}]}"#;
            let mut decided = 0;
            let stopped = for_each(body, |_, _| {
                decided += 1;
                Ok::<(), ()>(())
            });
            let Err(Stop::Request(e)) = stopped else { panic!("a duplicate key was read") };
            assert!(e.starts_with("requests[1].action:"), "{e}");
            assert!(e.contains("`action` appears twice"), "{e}");
            assert_eq!(decided, 1, "the items before it are read, the duplicate is not passed on");
        }
    }
}

async fn mask(State(app): State<Arc<App>>, req: Request) -> Response {
    let start = Instant::now();
    let (caller, body) = match app.admit(req, Scope::Mask).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(obj) = body.as_object() else {
        return app
            .bad_request("expected {\"request\": {…}, \"payload\": <JSON>} or {\"request\": {…}, \"text\": \"…\"}");
    };
    if let Some(k) = obj.keys().find(|k| !["request", "payload", "text"].contains(&k.as_str())) {
        return app.bad_request(format!("{k}: not a field of a mask request (request, payload, text)"));
    }
    let mut payload = match (obj.get("payload"), obj.get("text")) {
        (Some(p), None) => Payload::Json(p.clone()),
        (None, Some(Json::String(t))) => Payload::Text(t.clone()),
        (None, Some(_)) => return app.bad_request("text: expected a string"),
        _ => return app.bad_request("give exactly one of `payload` (JSON) or `text` (a string)"),
    };
    let Some(request_json) = obj.get("request") else {
        return app.bad_request("request: missing");
    };
    let mut request_json = request_json.clone();
    if let Err(r) = app.bind(&caller, &mut request_json, "request.") {
        return app.refused(r);
    }
    let request = match app.request(&request_json, "request.") {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (mut decision, masked, version) = {
        let current = app.policy.read();
        let mut decision = app.policy.engine.decide(&request);
        let masked = app.policy.engine.mask(&mut decision, &mut payload, app.keys.as_ref());
        (decision, masked, Arc::clone(&current))
    };
    if let Some(problem) = refusal(&decision) {
        let problem = problem.to_string();
        if let Err(r) = app.record(&request, &decision, &version) {
            return r;
        }
        return app.bad_request(format!("request.{problem}"));
    }
    if masked.is_err() && decision.effect != Effect::Deny {
        decision.effect = Effect::Deny;
    }
    if let Err(r) = app.record(&request, &decision, &version) {
        return r;
    }
    let mut out = json!({ "decision": decision.to_json(), "policy": policy_json(&version) });
    if masked.is_ok()
        && let Json::Object(map) = &mut out
    {
        match payload {
            Payload::Json(p) => map.insert("payload".to_string(), p),
            Payload::Text(t) => map.insert("text".to_string(), Json::String(t)),
        };
    }
    app.metrics.latency(Endpoint::Mask, start.elapsed());
    json_response(StatusCode::OK, &out)
}

/// One document of a mask batch: `{"payload": <JSON>}` or `{"text": "…"}`.
fn batch_item(item: &Json, i: usize) -> Result<Payload, String> {
    let obj =
        item.as_object().ok_or_else(|| format!("items[{i}]: expected {{\"payload\": …}} or {{\"text\": \"…\"}}"))?;
    if let Some(k) = obj.keys().find(|k| !["payload", "text"].contains(&k.as_str())) {
        return Err(format!("items[{i}].{k}: not a field of an item (payload, text)"));
    }
    match (obj.get("payload"), obj.get("text")) {
        (Some(p), None) => Ok(Payload::Json(p.clone())),
        (None, Some(Json::String(t))) => Ok(Payload::Text(t.clone())),
        (None, Some(_)) => Err(format!("items[{i}].text: expected a string")),
        _ => Err(format!("items[{i}]: give exactly one of `payload` (JSON) or `text` (a string)")),
    }
}

/// `/v1/mask/batch`: one request decided once, its masks applied to every
/// item (`{"request": …, "items": [{"payload": …} | {"text": "…"}, …]}`).
/// All or nothing: if a mask cannot be applied to one item, the decision
/// is a deny and no item is returned. Audited once, with what was masked.
async fn mask_batch(State(app): State<Arc<App>>, req: Request) -> Response {
    let start = Instant::now();
    let (caller, body) = match app.admit(req, Scope::Mask).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(obj) = body.as_object() else {
        return app.bad_request("expected {\"request\": {…}, \"items\": [{\"payload\": …} | {\"text\": \"…\"}, …]}");
    };
    if let Some(k) = obj.keys().find(|k| !["request", "items"].contains(&k.as_str())) {
        return app.bad_request(format!("{k}: not a field of a mask batch (request, items)"));
    }
    let Some(items) = obj.get("items").and_then(Json::as_array) else {
        return app.bad_request("items: expected a list of {\"payload\": …} or {\"text\": \"…\"}");
    };
    if items.len() > app.max_batch {
        return app.fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::TooLarge,
            format!("{} items is more than the batch limit of {}", items.len(), app.max_batch),
        );
    }
    let mut payloads = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match batch_item(item, i) {
            Ok(p) => payloads.push(p),
            Err(e) => return app.bad_request(e),
        }
    }
    let Some(request_json) = obj.get("request") else {
        return app.bad_request("request: missing");
    };
    let mut request_json = request_json.clone();
    if let Err(r) = app.bind(&caller, &mut request_json, "request.") {
        return app.refused(r);
    }
    let request = match app.request(&request_json, "request.") {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (decision, masked, version) = {
        let current = app.policy.read();
        let mut decision = app.policy.engine.decide(&request);
        let masked = app.policy.engine.mask_session(&decision, app.keys.as_ref()).and_then(|session| {
            for p in &mut payloads {
                session.mask(p)?;
            }
            Ok(session.take_masked())
        });
        match &masked {
            Ok(counts) => merge_masked(&mut decision.masked, counts.clone()),
            Err(e) if decision.effect != Effect::Deny => deny_for(&mut decision, e),
            Err(_) => {}
        }
        (decision, masked.is_ok(), Arc::clone(&current))
    };
    if let Some(problem) = refusal(&decision) {
        let problem = problem.to_string();
        if let Err(r) = app.record(&request, &decision, &version) {
            return r;
        }
        return app.bad_request(format!("request.{problem}"));
    }
    if let Err(r) = app.record(&request, &decision, &version) {
        return r;
    }
    let mut out = json!({ "decision": decision.to_json(), "policy": policy_json(&version) });
    if masked && let Json::Object(map) = &mut out {
        let items: Vec<Json> = payloads
            .into_iter()
            .map(|p| match p {
                Payload::Json(p) => json!({ "payload": p }),
                Payload::Text(t) => json!({ "text": t }),
            })
            .collect();
        map.insert("items".to_string(), Json::Array(items));
    }
    app.metrics.latency(Endpoint::MaskBatch, start.elapsed());
    json_response(StatusCode::OK, &out)
}

async fn policy(State(app): State<Arc<App>>, req: Request) -> Response {
    // Any valid token may read which policy is served.
    if let Err(r) = match app.authenticate(req.headers()).await {
        Ok(caller) => app.rate_limit(&caller),
        Err(r) => Err(r),
    } {
        return r;
    }
    json_response(StatusCode::OK, &app.policy.current().to_json())
}

async fn reload(State(app): State<Arc<App>>, req: Request) -> Response {
    let who = match app.authorize(req.headers(), Scope::Admin).await {
        Ok(c) => c.name.clone(),
        Err(r) => return r,
    };
    let policy = Arc::clone(&app.policy);
    let result = tokio::task::spawn_blocking(move || policy.reload()).await;
    match result {
        Ok(Ok(v)) => {
            app.metrics.reload(true);
            eprintln!("ward serve: reloaded by `{who}`: version {} ({})", v.generation, v.hash);
            json_response(StatusCode::OK, &v.to_json())
        }
        Ok(Err(e)) => {
            app.metrics.reload(false);
            eprintln!("ward serve: reload by `{who}` refused: {e}");
            let current = app.policy.current();
            json_response(
                StatusCode::CONFLICT,
                &json!({ "error": format!("the new policy was refused: {e}"), "serving": current.to_json() }),
            )
        }
        Err(e) => app.fail(StatusCode::INTERNAL_SERVER_ERROR, ErrorKind::Internal, format!("reload: {e}")),
    }
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    let v = app.policy.current();
    json_response(StatusCode::OK, &json!({ "status": "ok", "policy": policy_json(&v) }))
}

async fn metrics(State(app): State<Arc<App>>, req: Request) -> Response {
    if app.metrics_require_token
        && let Err(r) = app.authorize(req.headers(), Scope::Metrics).await
    {
        return r;
    }
    let v = app.policy.current();
    let mut r = Response::new(Body::from(app.metrics.render(&v.hash, v.generation, v.loaded_at_ms)));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    r
}
