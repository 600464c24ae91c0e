//! The proxy in front of a streamable-HTTP MCP server (spec 2025-06-18).
//!
//! Every request the client sends to the listening address goes to the
//! upstream endpoint. A `POST` carrying a `tools/call` is decided first (a
//! refusal is answered here and never sent); the answer to a `tools/call` or
//! `tools/list` — a JSON body or an SSE stream — is masked or filtered as it
//! passes. Everything else passes unchanged, except responses on `GET`
//! streams, which cannot be matched to a decision and are dropped. The
//! session is the `Mcp-Session-Id` header.
//!
//! As over stdio, nothing that could run a tool passes undecided: a
//! `tools/call` notification, a method imitating `tools/call`, an unknown
//! request method, a key given twice, a batch with anything to decide, or a
//! body on any HTTP method but `POST` is refused. Approvals cannot be asked
//! over HTTP (no elicitation here): a call that needs one is refused.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method as Method_, Request, Response, StatusCode, Uri, header};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value as Json;
use tokio::sync::mpsc;

use crate::auth::Auth;
use crate::gate::{Agent, Call, Gate, Outcome, Verdict};
use crate::rpc::{self, Kind, Method, code};
use crate::stdio::log;

/// Where to listen and what to guard.
#[derive(Debug, Clone)]
pub struct Options {
    /// The upstream endpoint, `http://host:port/path`.
    pub upstream: String,
    /// The address to listen on.
    pub listen: String,
    /// How long the server may take to answer a request.
    pub timeout: Duration,
    /// Request methods passed besides the known ones (`--allow-method`).
    pub allowed_methods: Vec<String>,
    /// `--identity`: each request's agent comes from its bearer token.
    pub auth: Option<Arc<Auth>>,
}

/// The largest request body accepted from the client.
const MAX_BODY: usize = 64 * 1024 * 1024;

struct Proxy {
    gate: Arc<Gate>,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: Uri,
    timeout: Duration,
    allowed_methods: Vec<String>,
    auth: Option<Arc<Auth>>,
}

/// What the answer to the forwarded message needs.
enum Expect {
    Nothing,
    Call(Json, Box<Call>),
    List(Json, Box<Agent>),
}

impl Expect {
    /// The id of the request whose answer is awaited.
    fn id(&self) -> Option<&Json> {
        match self {
            Expect::Call(id, _) | Expect::List(id, _) => Some(id),
            Expect::Nothing => None,
        }
    }
}

/// Serves until the process ends. `ready` receives the bound address.
pub async fn serve(
    gate: Arc<Gate>,
    options: Options,
    ready: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
) -> Result<(), String> {
    let upstream: Uri = options.upstream.parse().map_err(|e| format!("--upstream `{}`: {e}", options.upstream))?;
    if upstream.scheme_str() != Some("http") || upstream.host().is_none() {
        return Err(format!(
            "--upstream `{}`: give an http:// URL (the gateway does not speak TLS upstream)",
            options.upstream
        ));
    }
    let listener = tokio::net::TcpListener::bind(&options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    log(&format!("listening on http://{addr}, guarding {upstream}"));
    if let Some(ready) = ready {
        let _ = ready.send(addr);
    }
    let client = Client::builder(TokioExecutor::new()).build_http();
    let proxy = Arc::new(Proxy {
        gate,
        client,
        upstream,
        timeout: options.timeout,
        allowed_methods: options.allowed_methods,
        auth: options.auth,
    });
    let app = axum::Router::new().fallback(handle).with_state(proxy);
    axum::serve(listener, app).await.map_err(|e| format!("serving: {e}"))
}

fn json_response(status: StatusCode, message: &Json) -> Response<Body> {
    let mut response = Response::new(Body::from(rpc::line(message)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error_for(id: &Json, code: i64, message: String) -> Response<Body> {
    json_response(StatusCode::OK, &rpc::error_response(id, rpc::error_object(code, message, None)))
}

async fn handle(State(proxy): State<Arc<Proxy>>, request: Request<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    // Who the request is for, before its body is read: the fixed agent, or its token's.
    let who = match &proxy.auth {
        None => match proxy.gate.agent() {
            Some(agent) => agent.clone(),
            None => return plain(StatusCode::INTERNAL_SERVER_ERROR, "the gateway has no agent to decide for".into()),
        },
        Some(auth) => match authenticate(&proxy, auth, &parts).await {
            Ok(agent) => agent,
            Err(answer) => return *answer,
        },
    };
    let sid = parts.headers.get("mcp-session-id").and_then(|v| v.to_str().ok());
    let session = match (sid, &proxy.auth) {
        (None, _) => "http".to_string(),
        (Some(s), None) => format!("http:{s}"),
        // A session is one agent's: another token presenting its id starts
        // another session of flow history, never joins that one.
        (Some(s), Some(_)) => format!("http:{}:{s}", who.principal),
    };
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return error_for(&Json::Null, code::INVALID_REQUEST, format!("cannot read the body: {e}")),
    };
    let decided = if parts.method == Method_::POST {
        decide_post(&proxy, &who, &session, body)
    } else {
        not_post(&parts.method, &body).map(|()| (Expect::Nothing, body))
    };
    let (expect, forward) = match decided {
        Ok(decided) => decided,
        Err(refusal) => return *refusal,
    };
    let (mut head, incoming) = match send_upstream(&proxy, &parts, forward, &expect).await {
        Ok(answer) => answer.into_parts(),
        Err(refusal) => return *refusal,
    };
    strip_hop_headers(&mut head.headers);
    let body = match answer_body(&proxy, expect, &head, incoming, parts.method == Method_::GET).await {
        Ok(body) => body,
        Err(refusal) => return *refusal,
    };
    head.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(head, body)
}

/// An answer sent to the client instead of forwarding (boxed: a `Response` is large).
type Refusal = Box<Response<Body>>;

/// With `--identity`: the metadata document for a `GET` of its path, else
/// the agent of the request's bearer token, or the 401/403 to answer
/// (audited) — the request is then never forwarded.
async fn authenticate(proxy: &Proxy, auth: &Auth, parts: &axum::http::request::Parts) -> Result<Agent, Refusal> {
    let host = parts.headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    let resource = auth.resource(host, proxy.upstream.path());
    if parts.method == Method_::GET && Auth::is_metadata_path(parts.uri.path(), &resource) {
        return Err(Box::new(json_response(StatusCode::OK, &auth.metadata(&resource))));
    }
    let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
    let token = match (values.next(), values.next()) {
        (None, _) => Err(auth.missing(&proxy.gate, "no `Authorization: Bearer <token>` header")),
        // Which one is meant? Something in front may have read the other.
        (Some(_), Some(_)) => Err(auth.missing(&proxy.gate, "more than one Authorization header")),
        (Some(value), None) => value
            .to_str()
            .ok()
            .and_then(crate::auth::bearer)
            .ok_or_else(|| auth.missing(&proxy.gate, "the Authorization header is not `Bearer <token>`")),
    };
    let refused = match token {
        Ok(token) => match auth.agent(&proxy.gate, token).await {
            Ok(agent) => return Ok(agent),
            Err(refused) => refused,
        },
        Err(refused) => refused,
    };
    log(&format!("refused a request ({}): {}", refused.status, refused.message));
    let status = StatusCode::from_u16(refused.status).unwrap_or(StatusCode::UNAUTHORIZED);
    let mut response = json_response(status, &serde_json::json!({ "error": refused.message }));
    if let Ok(challenge) = HeaderValue::from_str(&auth.challenge(&resource, &refused)) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
    }
    // Nothing of a refused request is read, its body included, so the
    // server closes the connection if the body is still on its way: say so,
    // or a client keeping the connection for its next request (the SDK's
    // OAuth flow does) sees that request dropped without an answer.
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    Err(Box::new(response))
}

fn refusal(status: StatusCode, id: &Json, error: Json) -> Refusal {
    Box::new(json_response(status, &rpc::error_response(id, error)))
}

/// Only a POST carries client messages; other methods of the transport pass
/// without a body (a body elsewhere is not forwarded unread).
fn not_post(method: &Method_, body: &Bytes) -> Result<(), Refusal> {
    if !matches!(*method, Method_::GET | Method_::DELETE | Method_::HEAD | Method_::OPTIONS) {
        let why = format!("HTTP {method} is not a method of MCP's streamable HTTP transport");
        return Err(refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            &Json::Null,
            rpc::error_object(code::INVALID_REQUEST, why, None),
        ));
    }
    if !body.is_empty() {
        let why = format!("a body on HTTP {method} is not forwarded: client messages are POSTed");
        return Err(refusal(StatusCode::BAD_REQUEST, &Json::Null, rpc::error_object(code::INVALID_REQUEST, why, None)));
    }
    Ok(())
}

/// A POSTed message: what to forward and what its answer needs, or the
/// answer to send instead. Every message that could run a tool is decided:
/// batches holding one are refused, notifications and imitations of
/// `tools/call` are refused and audited, unknown methods are refused.
fn decide_post(proxy: &Proxy, who: &Agent, session: &str, body: Bytes) -> Result<(Expect, Bytes), Refusal> {
    let message: Json = match crate::json::parse_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            let (code, what) = match e.classify() {
                serde_json::error::Category::Data => (code::INVALID_REQUEST, "not a message the gateway accepts"),
                _ => (code::PARSE_ERROR, "not JSON"),
            };
            return Err(refusal(
                StatusCode::BAD_REQUEST,
                &Json::Null,
                rpc::error_object(code, format!("{what}: {e}"), None),
            ));
        }
    };
    if let Json::Array(items) = &message {
        if let Some(why) = items.iter().find_map(|m| refused_in_batch(proxy, m)) {
            // The tool calls in it are refused, and audited as such.
            for m in items {
                if let Kind::Notification { method } | Kind::Request { method, .. } = rpc::classify(m)
                    && matches!(rpc::client_method(method, false, &[]), Method::ToolsCall | Method::Imitation)
                {
                    let _ = proxy.gate.refuse_framing(who, m.get("params"), &why);
                }
            }
            return Err(refusal(
                StatusCode::BAD_REQUEST,
                &Json::Null,
                rpc::error_object(code::INVALID_REQUEST, why, None),
            ));
        }
        return Ok((Expect::Nothing, body));
    }
    match rpc::classify(&message) {
        Kind::Request { id, method } => decide_request(proxy, who, session, &message, (id, method), body),
        Kind::Notification { method } => {
            let why = match rpc::client_method(method, true, &proxy.allowed_methods) {
                Method::ToolsCall | Method::Imitation => {
                    let why = format!(
                        "a `{method}` notification (no id) was refused: a tool call must be a `tools/call` request"
                    );
                    log(&why);
                    let _ = proxy.gate.refuse_framing(who, message.get("params"), &why);
                    why
                }
                Method::Unknown => format!("notification `{method}` is not one the gateway knows"),
                _ => return Ok((Expect::Nothing, body)),
            };
            Err(refusal(StatusCode::BAD_REQUEST, &Json::Null, rpc::error_object(code::INVALID_REQUEST, why, None)))
        }
        Kind::Invalid(why) => {
            Err(refusal(StatusCode::BAD_REQUEST, &Json::Null, rpc::error_object(code::INVALID_REQUEST, why, None)))
        }
        Kind::Response { .. } => Ok((Expect::Nothing, body)),
    }
}

/// A client request (`id`, `method`): a `tools/call` decided (forwarded
/// with the decided parameters, or refused), a `tools/list` noted so its
/// answer is filtered, the protocol's other methods passed, the rest refused.
fn decide_request(
    proxy: &Proxy,
    who: &Agent,
    session: &str,
    message: &Json,
    (id, method): (&Json, &str),
    body: Bytes,
) -> Result<(Expect, Bytes), Refusal> {
    let answer = |error: Json| Err(refusal(StatusCode::OK, id, error));
    match rpc::client_method(method, false, &proxy.allowed_methods) {
        Method::ToolsCall => match proxy.gate.decide_call(who, session, message.get("params"), false) {
            Verdict::Refuse(error) => {
                log(&format!("refused tools/call {id}: {}", error.get("message").and_then(Json::as_str).unwrap_or("")));
                answer(error)
            }
            Verdict::Forward { params, call } => {
                let decided = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params});
                Ok((Expect::Call(id.clone(), call), Bytes::from(rpc::line(&decided))))
            }
            // Not asked for (no elicitation over HTTP).
            Verdict::Ask { .. } => {
                answer(rpc::error_object(code::APPROVAL_REQUIRED, "approval cannot be asked over HTTP", None))
            }
        },
        Method::ToolsList => Ok((Expect::List(id.clone(), Box::new(who.clone())), body)),
        Method::Initialize | Method::Passed => Ok((Expect::Nothing, body)),
        Method::Imitation => {
            let why = format!("`{method}` is not `tools/call`: the gateway decides tool calls only as `tools/call`");
            let _ = proxy.gate.refuse_framing(who, message.get("params"), &why);
            answer(rpc::error_object(code::METHOD_NOT_FOUND, why, None))
        }
        Method::Unknown => {
            let why = format!(
                "method `{method}` is not one the gateway knows, so it cannot tell whether it runs a tool; it is \
                 refused (an operator can pass it with --allow-method {method})"
            );
            answer(rpc::error_object(code::METHOD_NOT_FOUND, why, None))
        }
    }
}

/// Sends the (decided) message upstream with the client's end-to-end
/// headers. `Err` is the answer to the client when the server cannot be
/// reached in time (a decided call's outcome is recorded): a JSON-RPC error
/// for a request whose answer is awaited, else a plain HTTP error.
async fn send_upstream(
    proxy: &Proxy,
    parts: &axum::http::request::Parts,
    forward: Bytes,
    expect: &Expect,
) -> Result<Response<hyper::body::Incoming>, Refusal> {
    let request_id = expect.id();
    let mut upstream = Request::builder().method(parts.method.clone()).uri(proxy.upstream.clone());
    for (name, value) in &parts.headers {
        // With `--identity` the token was for the gateway (its audience):
        // passing it on would let the server act with it (MCP forbids
        // token passthrough).
        let token = name == header::AUTHORIZATION && proxy.auth.is_some();
        if !token
            && !matches!(
                name.as_str(),
                "host" | "content-length" | "connection" | "transfer-encoding" | "keep-alive" | "upgrade"
            )
        {
            upstream = upstream.header(name, value);
        }
    }
    let Ok(upstream) = upstream.body(Full::new(forward)) else {
        let id = request_id.unwrap_or(&Json::Null);
        return Err(Box::new(error_for(id, code::GATEWAY, "cannot build the upstream request".into())));
    };
    let (outcome, why, rpc_code, status) =
        match tokio::time::timeout(proxy.timeout, proxy.client.request(upstream)).await {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(e)) => (
                Outcome::ServerGone,
                format!("the MCP server cannot be reached: {e}"),
                code::SERVER_GONE,
                StatusCode::BAD_GATEWAY,
            ),
            Err(_) => (
                Outcome::Timeout,
                format!("the MCP server did not answer within {} ms", proxy.timeout.as_millis()),
                code::TIMEOUT,
                StatusCode::GATEWAY_TIMEOUT,
            ),
        };
    if let Expect::Call(_, call) = expect {
        proxy.gate.outcome(call, outcome);
    }
    log(&why);
    Err(Box::new(match request_id {
        Some(id) => error_for(id, rpc_code, why),
        None => plain(status, why),
    }))
}

/// The body of the answer to the client: a decided call's result masked
/// (JSON or SSE), a `tools/list` filtered, anything else streamed through.
async fn answer_body(
    proxy: &Proxy,
    expect: Expect,
    head: &axum::http::response::Parts,
    incoming: hyper::body::Incoming,
    get: bool,
) -> Result<Body, Refusal> {
    let content_type = head.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let is_sse = content_type.starts_with("text/event-stream");
    let is_json = content_type.starts_with("application/json");
    let gate = Arc::clone(&proxy.gate);
    let timeout = proxy.timeout;
    Ok(match (expect, is_sse, is_json, get) {
        (Expect::Nothing, true, _, true) => sse(incoming, None, drop_responses, || {}),
        (Expect::Nothing, ..) => Body::new(incoming),
        (expect, false, true, _) => {
            let bytes = match tokio::time::timeout(timeout, incoming.collect()).await {
                Ok(Ok(b)) => b.to_bytes(),
                _ => Bytes::new(),
            };
            let out = match serde_json::from_slice::<Json>(&bytes) {
                Ok(message) => answer_for(&gate, &expect, &message).unwrap_or(message),
                Err(_) => {
                    if let Expect::Call(_, call) = &expect {
                        gate.outcome(call, Outcome::Error);
                    }
                    let why = "the MCP server's answer is not JSON (or did not arrive in time)";
                    rpc::error_response(expect.id().unwrap_or(&Json::Null), rpc::error_object(code::GATEWAY, why, None))
                }
            };
            Body::from(rpc::line(&out))
        }
        (expect, true, _, _) => {
            let deadline = expect.id().map(|id| (id.clone(), timeout));
            let expect = Arc::new(expect);
            let unanswered = {
                let (gate, expect) = (Arc::clone(&gate), Arc::clone(&expect));
                move || {
                    if let Expect::Call(_, call) = expect.as_ref() {
                        gate.outcome(call, Outcome::Timeout);
                    }
                }
            };
            sse(incoming, deadline, move |m| Some(answer_for(&gate, &expect, &m).unwrap_or(m)), unanswered)
        }
        // An answer that is neither JSON nor SSE to a decided call: nothing to mask it in.
        (expect, false, false, _) => {
            if let Expect::Call(id, call) = &expect
                && head.status.is_success()
            {
                proxy.gate.outcome(call, Outcome::Error);
                return Err(Box::new(error_for(
                    id,
                    code::GATEWAY,
                    "the MCP server's answer has no JSON or SSE body".into(),
                )));
            }
            Body::new(incoming)
        }
    })
}

fn plain(status: StatusCode, text: String) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response
}

fn strip_hop_headers(headers: &mut HeaderMap) {
    for name in ["connection", "transfer-encoding", "keep-alive", "upgrade"] {
        headers.remove(name);
    }
}

/// Why a batch cannot pass, if it cannot: it holds something the gateway
/// must decide, filter or refuse (batches are passed whole or not at all).
fn refused_in_batch(proxy: &Proxy, message: &Json) -> Option<String> {
    let (method, notification) = match rpc::classify(message) {
        Kind::Request { method, .. } => (method, false),
        Kind::Notification { method } => (method, true),
        Kind::Response { .. } => return None,
        Kind::Invalid(why) => return Some(format!("a batch with a message that is {why}")),
    };
    match rpc::client_method(method, notification, &proxy.allowed_methods) {
        Method::Passed | Method::Initialize => None,
        Method::ToolsCall | Method::ToolsList => Some(
            "batches with tools/call or tools/list are not accepted through the gateway; send them one by one".into(),
        ),
        Method::Imitation => Some(format!("a batch with `{method}`, which imitates tools/call")),
        Method::Unknown => Some(format!("a batch with `{method}`, a method the gateway does not know")),
    }
}

/// The transformed message when it answers the expected request.
fn answer_for(gate: &Gate, expect: &Expect, message: &Json) -> Option<Json> {
    let Kind::Response { id } = rpc::classify(message) else { return None };
    match expect {
        Expect::Call(want, call) if id == want => Some(gate.finish_call(call, message.clone())),
        Expect::List(want, who) if id == want => Some(crate::stdio::filter_list(gate, who, id, message, false)),
        _ => None,
    }
}

fn drop_responses(message: Json) -> Option<Json> {
    match rpc::classify(&message) {
        Kind::Response { id } => {
            log(&format!("dropped a response to {id} on a GET stream (it cannot be matched to a decision)"));
            None
        }
        _ => Some(message),
    }
}

/// A body fed from a channel.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(|b| Ok(http_body::Frame::data(b))))
    }
}

/// Rewrites an SSE stream event by event: `transform` gets each event's JSON
/// data and returns what to send (`None`: drop the event). With a deadline
/// `(id, timeout)`, the stream ends with an error event for `id` when its
/// response has not passed within the timeout.
fn sse<F, U>(
    mut incoming: hyper::body::Incoming,
    deadline: Option<(Json, Duration)>,
    transform: F,
    unanswered: U,
) -> Body
where
    F: Fn(Json) -> Option<Json> + Send + 'static,
    U: FnOnce() + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let mut buffer: Vec<u8> = Vec::new();
        let until = deadline.as_ref().map(|(_, t)| tokio::time::Instant::now() + *t);
        let mut answered = deadline.is_none();
        loop {
            let frame = match until {
                Some(until) if !answered => match tokio::time::timeout_at(until, incoming.frame()).await {
                    Ok(f) => f,
                    Err(_) => break,
                },
                _ => incoming.frame().await,
            };
            let Some(Ok(frame)) = frame else { break };
            let Ok(data) = frame.into_data() else { continue };
            buffer.extend_from_slice(&data);
            while let Some((end, sep)) = event_end(&buffer) {
                let event: Vec<u8> = buffer.drain(..end + sep).collect();
                let text = String::from_utf8_lossy(event.get(..end).unwrap_or_default()).into_owned();
                let (out, was_answer) = rewrite_event(&text, &transform, deadline.as_ref().map(|(id, _)| id));
                answered |= was_answer;
                if let Some(out) = out
                    && tx.send(Bytes::from(out)).await.is_err()
                {
                    return;
                }
            }
        }
        if let (false, Some((id, timeout))) = (answered, &deadline) {
            unanswered();
            let why = format!("the MCP server did not answer within {} ms", timeout.as_millis());
            log(&why);
            let error = rpc::error_response(id, rpc::error_object(code::TIMEOUT, why, None));
            let _ = tx.send(Bytes::from(format!("event: message\ndata: {}\n\n", rpc::line(&error)))).await;
        }
    });
    Body::new(ChannelBody(rx))
}

/// Where the first complete event ends: `(index of the blank line, its length)`.
fn event_end(buffer: &[u8]) -> Option<(usize, usize)> {
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buffer.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// One event rewritten; the flag says whether it answered `answer_id`.
fn rewrite_event<F>(event: &str, transform: &F, answer_id: Option<&Json>) -> (Option<String>, bool)
where
    F: Fn(Json) -> Option<Json>,
{
    let mut other = Vec::new();
    let mut data = Vec::new();
    for line in event.lines() {
        match line.strip_prefix("data:") {
            Some(d) => data.push(d.strip_prefix(' ').unwrap_or(d)),
            None => other.push(line),
        }
    }
    if data.is_empty() {
        return (Some(format!("{event}\n\n")), false);
    }
    let Ok(message) = serde_json::from_str::<Json>(&data.join("\n")) else {
        return (Some(format!("{event}\n\n")), false);
    };
    let was_answer =
        answer_id.is_some_and(|id| matches!(rpc::classify(&message), Kind::Response { id: got } if got == id));
    match transform(message) {
        Some(out) => {
            let mut text = String::new();
            for line in other {
                text.push_str(line);
                text.push('\n');
            }
            text.push_str(&format!("data: {}\n\n", rpc::line(&out)));
            (Some(text), was_answer)
        }
        None => (None, was_answer),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn events_are_split_and_rewritten() {
        assert_eq!(event_end(b"data: x\n\ndata: y"), Some((7, 2)));
        assert_eq!(event_end(b"data: x\r\n\r\n"), Some((7, 4)));
        assert_eq!(event_end(b"data: x\n"), None);
        let id = serde_json::json!(3);
        let (out, answered) = rewrite_event(
            "event: message\nid: e1\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}",
            &|m: Json| Some(m),
            Some(&id),
        );
        assert!(answered);
        // Key order depends on serde_json's `preserve_order` feature: compare values.
        let out = out.unwrap();
        let data = out.strip_prefix("event: message\nid: e1\ndata: ").unwrap();
        let data = data.strip_suffix("\n\n").unwrap();
        let value: Json = serde_json::from_str(data).unwrap();
        assert_eq!(value, serde_json::json!({"jsonrpc": "2.0", "id": 3, "result": {}}));
        let (out, answered) = rewrite_event(": keep-alive", &|_| None, Some(&id));
        assert_eq!((out.unwrap(), answered), (": keep-alive\n\n".to_string(), false));
        let (out, _) = rewrite_event("data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", &drop_responses, None);
        assert!(out.is_none());
    }
}
