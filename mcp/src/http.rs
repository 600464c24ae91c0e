//! The proxy in front of a streamable-HTTP MCP server (spec 2025-06-18).
//!
//! Every request the client sends to the listening address goes to the
//! upstream endpoint. A `POST` carrying a `tools/call` is decided first (a
//! refusal is answered here and never sent); the answer to a `tools/call` or
//! `tools/list` — a JSON body or an SSE stream — is masked or filtered as it
//! passes. Everything else passes unchanged, except responses on `GET`
//! streams, which cannot be matched to a decision and are dropped. The
//! session is the `Mcp-Session-Id` header.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value as Json;
use tokio::sync::mpsc;

use crate::gate::{Call, Gate, Verdict};
use crate::rpc::{self, Kind, code};
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
}

/// The largest request body accepted from the client.
const MAX_BODY: usize = 64 * 1024 * 1024;

struct Proxy {
    gate: Arc<Gate>,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: Uri,
    timeout: Duration,
}

/// What the answer to the forwarded message needs.
enum Expect {
    Nothing,
    Call(Json, Box<Call>),
    List(Json),
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
    let proxy = Arc::new(Proxy { gate, client, upstream, timeout: options.timeout });
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
    let session = parts
        .headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| "http".to_string(), |s| format!("http:{s}"));
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return error_for(&Json::Null, code::INVALID_REQUEST, format!("cannot read the body: {e}")),
    };
    let mut expect = Expect::Nothing;
    let mut forward = body.clone();
    if parts.method == Method::POST {
        // Strictly: a duplicate key (which the server might read otherwise) is refused like bad JSON.
        let parsed =
            std::str::from_utf8(&body).map_err(|e| format!("message: not valid JSON: not UTF-8: {e}")).and_then(|t| {
                ward_runtime::json::parse(t, "message", &ward_runtime::data::Path::Root("")).map_err(|e| e.to_string())
            });
        let message: Json = match parsed {
            Ok(m) => m,
            Err(e) => {
                let error = rpc::error_response(
                    &Json::Null,
                    rpc::error_object(code::PARSE_ERROR, format!("refused: {e}"), None),
                );
                return json_response(StatusCode::BAD_REQUEST, &error);
            }
        };
        if let Json::Array(items) = &message {
            if items
                .iter()
                .any(|m| matches!(rpc::classify(m), Kind::Request { method: "tools/call" | "tools/list", .. }))
            {
                let error = rpc::error_object(
                    code::INVALID_REQUEST,
                    "batches with tools/call or tools/list are not accepted through the gateway; send them one by one",
                    None,
                );
                return json_response(StatusCode::BAD_REQUEST, &rpc::error_response(&Json::Null, error));
            }
        } else {
            match rpc::classify(&message) {
                Kind::Request { id, method: "tools/call" } => {
                    match proxy.gate.decide_call(&session, message.get("params")) {
                        Verdict::Refuse(error) => {
                            log(&format!(
                                "refused tools/call {id}: {}",
                                error.get("message").and_then(Json::as_str).unwrap_or("")
                            ));
                            return json_response(StatusCode::OK, &rpc::error_response(id, error));
                        }
                        Verdict::Forward { params, call } => {
                            let mut decided = message.clone();
                            if let Some(obj) = decided.as_object_mut() {
                                obj.insert("params".into(), params);
                            }
                            forward = Bytes::from(rpc::line(&decided));
                            expect = Expect::Call(id.clone(), call);
                        }
                    }
                }
                Kind::Request { id, method: "tools/list" } => expect = Expect::List(id.clone()),
                Kind::Invalid(why) => {
                    let error = rpc::error_response(&Json::Null, rpc::error_object(code::INVALID_REQUEST, why, None));
                    return json_response(StatusCode::BAD_REQUEST, &error);
                }
                _ => {}
            }
        }
    }
    let request_id = match &expect {
        Expect::Call(id, _) | Expect::List(id) => Some(id.clone()),
        Expect::Nothing => None,
    };
    let mut upstream = Request::builder().method(parts.method.clone()).uri(proxy.upstream.clone());
    for (name, value) in &parts.headers {
        if !matches!(
            name.as_str(),
            "host" | "content-length" | "connection" | "transfer-encoding" | "keep-alive" | "upgrade"
        ) {
            upstream = upstream.header(name, value);
        }
    }
    let Ok(upstream) = upstream.body(Full::new(forward)) else {
        return error_for(&request_id.unwrap_or(Json::Null), code::GATEWAY, "cannot build the upstream request".into());
    };
    let answer = match tokio::time::timeout(proxy.timeout, proxy.client.request(upstream)).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            let why = format!("the MCP server cannot be reached: {e}");
            log(&why);
            return match request_id {
                Some(id) => error_for(&id, code::SERVER_GONE, why),
                None => plain(StatusCode::BAD_GATEWAY, why),
            };
        }
        Err(_) => {
            let why = format!("the MCP server did not answer within {} ms", proxy.timeout.as_millis());
            log(&why);
            return match request_id {
                Some(id) => error_for(&id, code::TIMEOUT, why),
                None => plain(StatusCode::GATEWAY_TIMEOUT, why),
            };
        }
    };
    let (mut head, incoming) = answer.into_parts();
    strip_hop_headers(&mut head.headers);
    let is_sse = head
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let is_json = head
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let gate = Arc::clone(&proxy.gate);
    let timeout = proxy.timeout;
    let body = match (expect, is_sse, is_json, parts.method == Method::GET) {
        (Expect::Nothing, true, _, true) => sse(incoming, None, drop_responses),
        (Expect::Nothing, ..) => Body::new(incoming),
        (expect, false, true, _) => {
            let bytes = match tokio::time::timeout(timeout, incoming.collect()).await {
                Ok(Ok(b)) => b.to_bytes(),
                _ => Bytes::new(),
            };
            let id = match &expect {
                Expect::Call(id, _) | Expect::List(id) => id.clone(),
                Expect::Nothing => Json::Null,
            };
            let out = match serde_json::from_slice::<Json>(&bytes) {
                Ok(message) => answer_for(&gate, &expect, &message).unwrap_or(message),
                Err(_) => rpc::error_response(
                    &id,
                    rpc::error_object(
                        code::GATEWAY,
                        "the MCP server's answer is not JSON (or did not arrive in time)",
                        None,
                    ),
                ),
            };
            Body::from(rpc::line(&out))
        }
        (expect, true, _, _) => {
            let deadline = match &expect {
                Expect::Call(id, _) | Expect::List(id) => Some((id.clone(), timeout)),
                Expect::Nothing => None,
            };
            let expect = Arc::new(expect);
            sse(incoming, deadline, move |m| Some(answer_for(&gate, &expect, &m).unwrap_or(m)))
        }
        // An answer that is neither JSON nor SSE to a decided call: nothing to mask it in.
        (expect, false, false, _) => {
            if matches!(expect, Expect::Call(..)) && head.status.is_success() {
                let id = request_id.unwrap_or(Json::Null);
                return error_for(&id, code::GATEWAY, "the MCP server's answer has no JSON or SSE body".into());
            }
            Body::new(incoming)
        }
    };
    head.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(head, body)
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

/// The transformed message when it answers the expected request.
fn answer_for(gate: &Gate, expect: &Expect, message: &Json) -> Option<Json> {
    let Kind::Response { id } = rpc::classify(message) else { return None };
    match expect {
        Expect::Call(want, call) if id == want => Some(gate.finish_call(call, message.clone())),
        Expect::List(want) if id == want => Some(crate::stdio::filter_list(gate, id, message)),
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
fn sse<F>(mut incoming: hyper::body::Incoming, deadline: Option<(Json, Duration)>, transform: F) -> Body
where
    F: Fn(Json) -> Option<Json> + Send + 'static,
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
