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
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};
use ward_runtime::audit::{AuditLog, Entry};
use ward_runtime::mask::Keys;
use ward_runtime::masking::Payload;
use ward_runtime::{Decision, Effect};

use crate::config::Config;
use crate::metrics::{Endpoint, ErrorKind, Metrics};
use crate::policy::{Policy, Version};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Decide,
    Mask,
    Metrics,
    Admin,
}

impl Scope {
    fn parse(s: &str) -> Option<Scope> {
        match s {
            "decide" => Some(Scope::Decide),
            "mask" => Some(Scope::Mask),
            "metrics" => Some(Scope::Metrics),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scope::Decide => "decide",
            Scope::Mask => "mask",
            Scope::Metrics => "metrics",
            Scope::Admin => "admin",
        }
    }
}

struct Client {
    name: String,
    scopes: Vec<Scope>,
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
    max_batch: usize,
    timeout: Duration,
    metrics_require_token: bool,
}

impl App {
    pub fn new(config: &Config, policy: Arc<Policy>, audit: Option<AuditLog>, keys: Box<dyn Keys>) -> App {
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
        }
    }

    /// Syncs the audit log (at shutdown).
    pub fn sync_audit(&self) {
        if let Some(log) = &self.audit
            && let Err(e) = log.sync()
        {
            eprintln!("ward serve: {e}");
        }
    }

    fn fail(&self, status: StatusCode, kind: ErrorKind, message: impl Into<String>) -> Response {
        self.metrics.error(kind);
        json_response(status, &json!({ "error": message.into() }))
    }

    /// The client behind the request's bearer token.
    fn authenticate(&self, req: &Request) -> Result<&Client, Response> {
        let unauthorized = |message: &str| {
            let mut r = self.fail(StatusCode::UNAUTHORIZED, ErrorKind::Unauthorized, message);
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        };
        let Some(value) = req.headers().get(header::AUTHORIZATION) else {
            return Err(unauthorized("missing `Authorization: Bearer <token>`"));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| unauthorized("the Authorization header is not `Bearer <token>`"))?;
        let digest = Sha256::digest(token.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.clients.get(&hex).ok_or_else(|| unauthorized("unknown token"))
    }

    /// The client behind the request's bearer token, if it has `scope`.
    fn authorize(&self, req: &Request, scope: Scope) -> Result<&Client, Response> {
        let client = self.authenticate(req)?;
        if !client.scopes.contains(&scope) && !client.scopes.contains(&Scope::Admin) {
            return Err(self.fail(
                StatusCode::FORBIDDEN,
                ErrorKind::Forbidden,
                format!("the token `{}` does not have the `{}` scope", client.name, scope.name()),
            ));
        }
        Ok(client)
    }

    fn rate_limit(&self, client: &Client) -> Result<(), Response> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
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
    async fn admit(&self, req: Request, scope: Scope) -> Result<Json, Response> {
        let client = self.authorize(&req, scope)?;
        self.rate_limit(client)?;
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
        // Strictly (ward_runtime::json): a duplicate key is a 400 naming it, a
        // number a double would round is read exactly or refused.
        let text = std::str::from_utf8(&body).map_err(|e| {
            self.fail(
                StatusCode::BAD_REQUEST,
                ErrorKind::BadRequest,
                format!("the body is not valid JSON: not UTF-8: {e}"),
            )
        })?;
        ward_runtime::json::parse(text, "the body", &ward_runtime::data::Path::Root(""))
            .map_err(|e| self.fail(StatusCode::BAD_REQUEST, ErrorKind::BadRequest, e.to_string()))
    }

    fn bad_request(&self, message: impl Into<String>) -> Response {
        self.fail(StatusCode::BAD_REQUEST, ErrorKind::BadRequest, message)
    }

    /// A request from its JSON, or a 400 naming the problem. `at` prefixes
    /// field names (`requests[3].`).
    fn request(&self, json: &Json, at: &str) -> Result<ward_runtime::Request, Response> {
        if json.get("entities").is_some() {
            return Err(self.bad_request(format!(
                "{at}entities: requests may not carry entities; the service decides with the entities it was \
                 configured with (a client must not vouch for its own attributes)"
            )));
        }
        ward_runtime::Request::from_json(json).map_err(|e| self.bad_request(format!("{at}{e}")))
    }

    /// Appends to the audit log (if any) and counts the decision.
    fn record(&self, request: &ward_runtime::Request, decision: &Decision, version: &Version) -> Result<(), Response> {
        self.metrics.decision(decision);
        if let Some(log) = &self.audit {
            let now = self.policy.engine.clock().now_ms();
            if let Err(e) = log.append(Entry::new(request, decision, &version.hash, now)) {
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

fn json_response(status: StatusCode, body: &Json) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn policy_json(v: &Version) -> Json {
    json!({ "hash": v.hash, "version": v.generation })
}

/// The decision JSON, with the policy version that made it.
fn decision_json(d: &Decision, v: &Version) -> Json {
    let mut out = d.to_json();
    if let Json::Object(map) = &mut out {
        map.insert("policy".to_string(), policy_json(v));
    }
    out
}

/// The engine's refusal of a request that does not fit the policy's schema
/// (unknown action, entity, or a context of the wrong shape): a deny that
/// names the problem, answered with 400.
fn refusal(d: &Decision) -> Option<&str> {
    match (d.effect, d.reasons.as_slice()) {
        (Effect::Deny, [only]) if only.rule.is_none() => only.clause.strip_prefix("the request was refused: "),
        _ => None,
    }
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/decide", post(decide))
        .route("/v1/decide/batch", post(batch))
        .route("/v1/mask", post(mask))
        .route("/v1/policy", get(policy))
        .route("/v1/reload", post(reload))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&app), deadline))
        .with_state(app)
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
    let body = match app.admit(req, Scope::Decide).await {
        Ok(b) => b,
        Err(r) => return r,
    };
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

async fn batch(State(app): State<Arc<App>>, req: Request) -> Response {
    let start = Instant::now();
    let body = match app.admit(req, Scope::Decide).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let items = match body.as_object().and_then(|o| o.get("requests")).and_then(Json::as_array) {
        Some(items) if body.as_object().is_some_and(|o| o.len() == 1) => items,
        _ => return app.bad_request("expected {\"requests\": [request, …]}"),
    };
    if items.len() > app.max_batch {
        return app.fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::TooLarge,
            format!("{} requests is more than the batch limit of {}", items.len(), app.max_batch),
        );
    }
    let mut requests = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match app.request(item, &format!("requests[{i}].")) {
            Ok(r) => requests.push(r),
            Err(r) => return r,
        }
    }
    // One version for the whole batch.
    let (decisions, version) = {
        let current = app.policy.read();
        let ds: Vec<Decision> = requests.iter().map(|r| app.policy.engine.decide(r)).collect();
        (ds, Arc::clone(&current))
    };
    for (r, d) in requests.iter().zip(&decisions) {
        if let Err(resp) = app.record(r, d, &version) {
            return resp;
        }
    }
    let out: Vec<Json> = decisions.iter().map(Decision::to_json).collect();
    app.metrics.latency(Endpoint::Batch, start.elapsed());
    json_response(StatusCode::OK, &json!({ "decisions": out, "policy": policy_json(&version) }))
}

async fn mask(State(app): State<Arc<App>>, req: Request) -> Response {
    let start = Instant::now();
    let body = match app.admit(req, Scope::Mask).await {
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
    let request = match app.request(request_json, "request.") {
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

async fn policy(State(app): State<Arc<App>>, req: Request) -> Response {
    // Any valid token may read which policy is served.
    if let Err(r) = app.authenticate(&req).and_then(|c| app.rate_limit(c)) {
        return r;
    }
    json_response(StatusCode::OK, &app.policy.current().to_json())
}

async fn reload(State(app): State<Arc<App>>, req: Request) -> Response {
    let who = match app.authorize(&req, Scope::Admin) {
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
        && let Err(r) = app.authorize(&req, Scope::Metrics)
    {
        return r;
    }
    let v = app.policy.current();
    let mut r = Response::new(Body::from(app.metrics.render(&v.hash, v.generation, v.loaded_at_ms)));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    r
}
