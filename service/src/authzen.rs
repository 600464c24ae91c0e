//! The OpenID AuthZEN Authorization API 1.0 over Ward's engine: Access
//! Evaluation (`POST /access/v1/evaluation`), Access Evaluations
//! (`POST /access/v1/evaluations`, with the three `evaluations_semantic`
//! options) and the PDP metadata document
//! (`GET /.well-known/authzen-configuration`).
//!
//! An AuthZEN subject, resource and action map to a Ward principal,
//! resource and action (`type` and `id` as Ward's entity type and id,
//! `name` as the action), its `context` to the request's context. Ward
//! decides with the entities it is configured with, never with attributes a
//! caller sends: non-empty `properties` are refused with 400 naming them.
//! `decision` is `true` only for Ward's `allow`; the response's `context`
//! carries Ward's whole decision (effect, reasons, masks, obligations,
//! limits, the policy version). The search endpoints are not offered: see
//! docs/identity.md. Identity, scopes and audit are those of `/v1/decide`.

// Errors here are the responses to send: built once, on the way out.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Map, Value as Json, json};

use crate::http::{App, Caller, Scope, decision_json, json_response, refusal};
use crate::metrics::ErrorKind;
use crate::policy::Version;

const REQUEST_ID: &str = "x-request-id";

/// AuthZEN §12: a `X-Request-ID` sent by the PEP is returned in the response.
pub async fn request_id(req: Request, next: Next) -> Response {
    let id = req.headers().get(REQUEST_ID).cloned();
    let mut response = next.run(req).await;
    if let Some(id) = id {
        response.headers_mut().insert(REQUEST_ID, id);
    }
    response
}

/// An entity of the information model (`subject` or `resource`) → a Ward entity reference.
fn entity(value: &Json, at: &str) -> Result<Json, String> {
    let obj = value.as_object().ok_or_else(|| format!("{at}: expected an object with `type` and `id`"))?;
    if let Some(k) = obj.keys().find(|k| !["type", "id", "properties"].contains(&k.as_str())) {
        return Err(format!("{at}.{k}: not a field of an AuthZEN {at} (type, id, properties)"));
    }
    properties(obj, at)?;
    let field = |name: &str| match obj.get(name) {
        Some(Json::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(format!("{at}.{name}: expected a non-empty string")),
        None => Err(format!("{at}.{name}: missing")),
    };
    Ok(json!({ "type": field("type")?, "id": field("id")? }))
}

/// `properties` must be absent or empty: Ward does not take a caller's word for attributes.
fn properties(obj: &Map<String, Json>, at: &str) -> Result<(), String> {
    match obj.get("properties") {
        None => Ok(()),
        Some(Json::Object(p)) if p.is_empty() => Ok(()),
        Some(_) => Err(format!(
            "{at}.properties: not accepted; Ward decides with the entities and attributes the service is \
             configured with (a caller must not vouch for its own attributes); put facts about the call in \
             `context`"
        )),
    }
}

/// One evaluation (with the batch's defaults filled in) → a Ward request, as JSON.
fn to_ward(item: &Map<String, Json>, defaults: &Map<String, Json>, at: &str) -> Result<Json, String> {
    let get = |name: &str| item.get(name).or_else(|| defaults.get(name));
    let mut out = Map::new();
    if let Some(subject) = get("subject") {
        out.insert("principal".to_string(), entity(subject, &format!("{at}subject"))?);
    }
    let action = get("action").ok_or_else(|| format!("{at}action: missing"))?;
    let action = action.as_object().ok_or_else(|| format!("{at}action: expected an object with `name`"))?;
    if let Some(k) = action.keys().find(|k| !["name", "properties"].contains(&k.as_str())) {
        return Err(format!("{at}action.{k}: not a field of an AuthZEN action (name, properties)"));
    }
    properties(action, &format!("{at}action"))?;
    match action.get("name") {
        Some(Json::String(n)) if !n.is_empty() => out.insert("action".to_string(), Json::String(n.clone())),
        Some(_) => return Err(format!("{at}action.name: expected a non-empty string")),
        None => return Err(format!("{at}action.name: missing")),
    };
    let resource = get("resource").ok_or_else(|| format!("{at}resource: missing"))?;
    out.insert("resource".to_string(), entity(resource, &format!("{at}resource"))?);
    match get("context") {
        None => {}
        Some(c @ Json::Object(_)) => {
            out.insert("context".to_string(), c.clone());
        }
        Some(_) => return Err(format!("{at}context: expected an object")),
    }
    Ok(Json::Object(out))
}

/// The AuthZEN decision object for Ward's decision.
fn answer(decision: &ward_runtime::Decision, version: &Version) -> Json {
    json!({
        "decision": decision.effect == ward_runtime::Effect::Allow,
        "context": decision_json(decision, version),
    })
}

/// An evaluation that could not be decided (malformed, or refused by the schema): a deny saying why.
fn error_answer(status: u16, message: &str) -> Json {
    json!({ "decision": false, "context": { "error": { "status": status, "message": message } } })
}

/// Why one evaluation was not decided.
enum Failed {
    /// 400: the evaluation is malformed or does not fit the schema.
    Bad(String),
    /// The caller's identity may not ask this (403 or 401): refuses the whole call.
    Identity(Response),
    /// The decision could not be audited (500): refuses the whole call.
    Audit(Response),
}

/// Decides one evaluation under the version held by the caller.
fn evaluate(
    app: &App,
    caller: &Caller,
    item: &Map<String, Json>,
    defaults: &Map<String, Json>,
    at: &str,
    version: &Version,
) -> Result<Json, Failed> {
    let mut ward = to_ward(item, defaults, at).map_err(Failed::Bad)?;
    if caller.identity.is_none() && ward.get("principal").is_none() {
        return Err(Failed::Bad(format!("{at}subject: missing")));
    }
    app.bind(caller, &mut ward, at).map_err(|r| Failed::Identity(app.refused(r)))?;
    let request = ward_runtime::Request::from_json(&ward).map_err(|e| Failed::Bad(format!("{at}{e}")))?;
    let decision = app.policy.engine.decide(&request);
    app.record(&request, &decision, version).map_err(Failed::Audit)?;
    if let Some(problem) = refusal(&decision) {
        return Err(Failed::Bad(format!("{at}{problem}")));
    }
    Ok(answer(&decision, version))
}

fn object<'a>(app: &App, body: &'a Json, fields: &[&str]) -> Result<&'a Map<String, Json>, Response> {
    let obj = body.as_object().ok_or_else(|| app.bad_request("expected an AuthZEN request object"))?;
    if let Some(k) = obj.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(app.bad_request(format!("{k}: not a field of this AuthZEN request ({})", fields.join(", "))));
    }
    Ok(obj)
}

const SINGLE: &[&str] = &["subject", "action", "resource", "context"];

/// `POST /access/v1/evaluation`.
pub async fn evaluation(State(app): State<Arc<App>>, req: Request) -> Response {
    let (caller, body) = match app.admit(req, Scope::Decide).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let obj = match object(&app, &body, SINGLE) {
        Ok(o) => o,
        Err(r) => return r,
    };
    single(&app, &caller, obj)
}

fn single(app: &App, caller: &Caller, obj: &Map<String, Json>) -> Response {
    let current = app.policy.read();
    match evaluate(app, caller, obj, &Map::new(), "", &current) {
        Ok(answer) => json_response(StatusCode::OK, &answer),
        Err(Failed::Bad(message)) => app.bad_request(message),
        Err(Failed::Identity(r) | Failed::Audit(r)) => r,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Semantic {
    ExecuteAll,
    DenyOnFirstDeny,
    PermitOnFirstPermit,
}

/// `POST /access/v1/evaluations`: defaults at the top, one decision per
/// item of `evaluations`, in order, under one policy version. With
/// `deny_on_first_deny` (`permit_on_first_permit`) the answer ends with the
/// first evaluation that is not (that is) allowed. Without `evaluations`
/// (or with an empty list) it answers like `/access/v1/evaluation`.
pub async fn evaluations(State(app): State<Arc<App>>, req: Request) -> Response {
    let (caller, body) = match app.admit(req, Scope::Decide).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let obj = match object(&app, &body, &["subject", "action", "resource", "context", "evaluations", "options"]) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let semantic = match obj.get("options") {
        None => Semantic::ExecuteAll,
        Some(Json::Object(options)) => {
            if let Some(k) = options.keys().find(|k| *k != "evaluations_semantic") {
                return app.bad_request(format!("options.{k}: not an option Ward knows (evaluations_semantic)"));
            }
            match options.get("evaluations_semantic") {
                None => Semantic::ExecuteAll,
                Some(v) => match v.as_str() {
                    Some("execute_all") => Semantic::ExecuteAll,
                    Some("deny_on_first_deny") => Semantic::DenyOnFirstDeny,
                    Some("permit_on_first_permit") => Semantic::PermitOnFirstPermit,
                    _ => {
                        return app.bad_request(format!(
                            "options.evaluations_semantic: {v} is not execute_all, deny_on_first_deny or \
                             permit_on_first_permit"
                        ));
                    }
                },
            }
        }
        Some(_) => return app.bad_request("options: expected an object"),
    };
    let items = match obj.get("evaluations") {
        None => &Vec::new(),
        Some(Json::Array(items)) => items,
        Some(_) => return app.bad_request("evaluations: expected a list"),
    };
    let defaults: Map<String, Json> =
        obj.iter().filter(|(k, _)| SINGLE.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    if items.is_empty() {
        return single(&app, &caller, &defaults);
    }
    if items.len() > app.max_batch {
        return app.fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::TooLarge,
            format!("{} evaluations is more than the batch limit of {}", items.len(), app.max_batch),
        );
    }
    let current = app.policy.read();
    let mut answers = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("evaluations[{i}].");
        let answer = match item.as_object() {
            None => error_answer(400, &format!("{at}: expected an object")),
            Some(o) => match o.keys().find(|k| !SINGLE.contains(&k.as_str())) {
                Some(k) => error_answer(400, &format!("{at}{k}: not a field of an evaluation ({})", SINGLE.join(", "))),
                None => match evaluate(&app, &caller, o, &defaults, &at, &current) {
                    Ok(a) => a,
                    Err(Failed::Bad(message)) => error_answer(400, &message),
                    Err(Failed::Identity(r) | Failed::Audit(r)) => return r,
                },
            },
        };
        let allowed = answer.get("decision") == Some(&Json::Bool(true));
        answers.push(answer);
        match semantic {
            Semantic::DenyOnFirstDeny if !allowed => break,
            Semantic::PermitOnFirstPermit if allowed => break,
            _ => {}
        }
    }
    json_response(StatusCode::OK, &json!({ "evaluations": answers }))
}

/// `GET /.well-known/authzen-configuration`: the PDP metadata (AuthZEN §9),
/// public. The identifier is `[authzen] policy_decision_point`, or else
/// the scheme and `Host` of the request.
pub async fn metadata(State(app): State<Arc<App>>, req: Request) -> Response {
    let base = match &app.authzen_base {
        Some(b) => b.trim_end_matches('/').to_string(),
        None => {
            let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
            let plausible = !host.is_empty()
                && host.len() <= 255
                && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
            if !plausible {
                return app
                    .bad_request("Host: missing or not a host name; or configure `[authzen] policy_decision_point`");
            }
            format!("{}://{host}", if app.tls { "https" } else { "http" })
        }
    };
    let mut r = json_response(
        StatusCode::OK,
        &json!({
            "policy_decision_point": base,
            "access_evaluation_endpoint": format!("{base}/access/v1/evaluation"),
            "access_evaluations_endpoint": format!("{base}/access/v1/evaluations"),
        }),
    );
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    r
}
