//! The proxy over stdio: newline-delimited JSON-RPC between the client (our
//! stdin/stdout) and the server (a child process's stdin/stdout).
//!
//! One task reads the client, one reads the server, one writes each side.
//! Requests the client sends are remembered until their response comes back
//! (that is how a response is matched to the `tools/call` decision or the
//! `tools/list` it answers); a request the server does not answer within the
//! timeout, or that is pending when the server exits, gets an error response.
//! Messages the gateway does not act on are forwarded byte for byte.
//!
//! Every message that could make the server run a tool is decided, whatever
//! its framing: `tools/call` requests alone or in a batch; a `tools/call`
//! sent as a notification, or under a method that imitates it, is refused
//! (audited, never forwarded); a request whose method the gateway does not
//! know is refused; a message with a key twice is not read at all.
//!
//! Approvals: when the client declared the elicitation capability in
//! `initialize`, a call the policy holds for approval is put to the
//! client's user as an `elicitation/create` request; the call goes on (and
//! the approver is audited) only on their explicit approval.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value as Json;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::gate::{Agent, Call, Gate, Outcome, Verdict};
use crate::rpc::{self, Kind, Method, code};

/// How the proxy behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long the server may take to answer a request.
    pub timeout: Duration,
    /// The MCP session id (flow rules and limits are per session).
    pub session: String,
    /// Lines longer than this are refused (client) or dropped (server).
    pub max_line: usize,
    /// How long the client's user has to answer an approval question.
    pub approval_timeout: Duration,
    /// Request methods passed besides the known ones (`--allow-method`).
    pub allowed_methods: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            timeout: Duration::from_secs(60),
            session: "stdio".to_string(),
            max_line: 64 * 1024 * 1024,
            approval_timeout: Duration::from_secs(300),
            allowed_methods: Vec::new(),
        }
    }
}

/// A request sent to the server, waiting for its response.
enum Pending {
    Call(Box<Call>),
    List,
    Other,
}

/// A call waiting for the client's user to approve it.
struct Asking {
    /// The client's request id.
    id: Json,
    call: Box<Call>,
    /// The params to forward once approved.
    params: Json,
}

struct State {
    pending: HashMap<String, (Json, Pending)>,
    /// Why the server can no longer answer, once it cannot.
    gone: Option<String>,
    /// Approval questions put to the client, by the question's id.
    asking: HashMap<String, Asking>,
    /// The client declared the elicitation capability (form mode).
    can_elicit: bool,
    /// `clientInfo` of `initialize`: name and version.
    client: String,
    questions: u64,
}

impl State {
    /// Whether the client's request id `key` is in use (pending at the server or at the user).
    fn in_use(&self, key: &str) -> bool {
        self.pending.contains_key(key) || self.asking.values().any(|a| rpc::id_key(&a.id) == key)
    }
}

type Shared = Arc<Mutex<State>>;

/// Logs to stderr: stdout carries protocol messages only.
pub fn log(message: &str) {
    eprintln!("ward mcp-proxy: {message}");
}

enum Line {
    Text(String),
    TooLong,
    NotUtf8,
}

/// Reads one line of at most `max` bytes; `None` at the end of the input.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, max: usize) -> std::io::Result<Option<Line>> {
    let mut buf = Vec::new();
    let mut too_long = false;
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            if buf.is_empty() && !too_long {
                return Ok(None);
            }
            break;
        }
        let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            buf.extend_from_slice(chunk.get(..take).unwrap_or_default());
            if buf.len() > max {
                too_long = true;
                buf = Vec::new();
            }
        }
        reader.consume(take);
        if done {
            break;
        }
    }
    if too_long {
        return Ok(Some(Line::TooLong));
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Ok(Some(String::from_utf8(buf).map_or(Line::NotUtf8, Line::Text)))
}

async fn writer<W: AsyncWrite + Unpin>(mut out: W, mut rx: mpsc::UnboundedReceiver<String>) -> std::io::Result<()> {
    while let Some(line) = rx.recv().await {
        out.write_all(line.as_bytes()).await?;
        out.write_all(b"\n").await?;
        // Only flush when nothing else is queued: one write per burst.
        if rx.is_empty() {
            out.flush().await?;
        }
    }
    out.flush().await?;
    Ok(())
}

/// Runs the proxy until the client closes its input (and the server has
/// answered or the grace period ended) or the client's output closes.
///
/// `server_exit` resolves with a description of how the server ended; it is
/// awaited once the server's output closes.
// Long: it wires the four tasks (client reader, server reader, two
// writers) and their shutdown order in one place, where the order can be read.
pub async fn run<CR, CW, SR, SW, X>(
    gate: Arc<Gate>,
    options: Options,
    mut client_in: CR,
    client_out: CW,
    mut server_out: SR,
    server_in: SW,
    server_exit: X,
) -> std::io::Result<()>
where
    CR: AsyncBufRead + Unpin,
    CW: AsyncWrite + Unpin + Send + 'static,
    SR: AsyncBufRead + Unpin + Send + 'static,
    SW: AsyncWrite + Unpin + Send + 'static,
    X: std::future::Future<Output = String> + Send + 'static,
{
    if gate.agent().is_none() {
        // Over stdio the agent is the run's: `--agent`, or the token verified at start.
        return Err(std::io::Error::other("no agent: give --agent NAME, or --identity FILE with WARD_MCP_TOKEN"));
    }
    let state: Shared = Arc::new(Mutex::new(State {
        pending: HashMap::new(),
        gone: None,
        asking: HashMap::new(),
        can_elicit: false,
        client: "(unnamed)".to_string(),
        questions: 0,
    }));
    let (to_client, client_rx) = mpsc::unbounded_channel::<String>();
    let (to_server, server_rx) = mpsc::unbounded_channel::<String>();
    let client_writer = tokio::spawn(writer(client_out, client_rx));
    let server_writer = {
        let gate_w = Arc::clone(&gate);
        let state = Arc::clone(&state);
        let to_client = to_client.clone();
        tokio::spawn(async move {
            if let Err(e) = writer(server_in, server_rx).await {
                fail_all(
                    &gate_w,
                    &state,
                    &to_client,
                    &format!("cannot write to the MCP server: {e}"),
                    Outcome::ServerGone,
                );
            }
        })
    };
    let server_reader = {
        let state = Arc::clone(&state);
        let to_client = to_client.clone();
        let gate = Arc::clone(&gate);
        let max = options.max_line;
        tokio::spawn(async move {
            loop {
                match read_line(&mut server_out, max).await {
                    Ok(Some(Line::Text(text))) => from_server(&gate, &state, &to_client, &text),
                    Ok(Some(Line::TooLong)) => {
                        log(&format!("dropped a message from the server longer than {max} bytes"))
                    }
                    Ok(Some(Line::NotUtf8)) => log("dropped a message from the server that is not UTF-8"),
                    Ok(None) => break,
                    Err(e) => {
                        log(&format!("cannot read the MCP server: {e}"));
                        break;
                    }
                }
            }
            let how = server_exit.await;
            log(&format!("the MCP server ended ({how})"));
            fail_all(&gate, &state, &to_client, &format!("the MCP server ended ({how})"), Outcome::ServerGone);
        })
    };
    let gate_in = Arc::clone(&gate);
    loop {
        match read_line(&mut client_in, options.max_line).await? {
            Some(Line::Text(text)) => {
                from_client(&gate_in, &options, &state, &to_client, &to_server, &text);
            }
            Some(Line::TooLong) => {
                let error = rpc::error_object(
                    code::INVALID_REQUEST,
                    format!("message longer than {} bytes", options.max_line),
                    None,
                );
                let _ = to_client.send(rpc::line(&rpc::error_response(&Json::Null, error)));
            }
            Some(Line::NotUtf8) => {
                let error = rpc::error_object(code::PARSE_ERROR, "the message is not UTF-8", None);
                let _ = to_client.send(rpc::line(&rpc::error_response(&Json::Null, error)));
            }
            None => break,
        }
        if to_client.is_closed() {
            break;
        }
    }
    // The client is done: close the server's input (the MCP way of asking a
    // stdio server to exit), give pending requests a last chance, then stop.
    drop(to_server);
    let grace = options.timeout.min(Duration::from_secs(5));
    let waited = tokio::time::timeout(grace, async {
        loop {
            let idle = state.lock().map(|s| s.pending.is_empty() || s.gone.is_some()).unwrap_or(true);
            if idle {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    if waited.is_err() {
        fail_all(
            &gate,
            &state,
            &to_client,
            "the client closed its input before the server answered",
            Outcome::Cancelled,
        );
    }
    server_writer.abort();
    server_reader.abort();
    drop(to_client);
    let _ = client_writer.await;
    Ok(())
}

/// Answers every pending request with an error and refuses what follows;
/// pending calls are audited with `outcome`.
fn fail_all(gate: &Gate, state: &Shared, to_client: &mpsc::UnboundedSender<String>, why: &str, outcome: Outcome) {
    let mut pending: Vec<(Json, Pending)> = {
        let Ok(mut s) = state.lock() else { return };
        if s.gone.is_none() {
            s.gone = Some(why.to_string());
        }
        s.pending.drain().map(|(_, v)| v).collect()
    };
    pending.sort_by_key(|(id, _)| id.to_string());
    for (id, p) in pending {
        if let Pending::Call(call) = &p {
            gate.outcome(call, outcome);
        }
        let error = rpc::error_object(code::SERVER_GONE, why.to_string(), None);
        let _ = to_client.send(rpc::line(&rpc::error_response(&id, error)));
    }
}

fn from_client(
    gate: &Arc<Gate>,
    options: &Options,
    state: &Shared,
    to_client: &mpsc::UnboundedSender<String>,
    to_server: &mpsc::UnboundedSender<String>,
    text: &str,
) {
    if text.trim().is_empty() {
        return;
    }
    let message: Json = match crate::json::parse(text) {
        Ok(m) => m,
        Err(e) => {
            // Never forwarded: what the gateway cannot read, it cannot decide;
            // and a key given twice may be read differently by the server.
            let (code, what) = match e.classify() {
                serde_json::error::Category::Data => (code::INVALID_REQUEST, "not a message the gateway accepts"),
                _ => (code::PARSE_ERROR, "not JSON"),
            };
            let error = rpc::error_object(code, format!("{what}: {e}"), None);
            let _ = to_client.send(rpc::line(&rpc::error_response(&Json::Null, error)));
            return;
        }
    };
    if let Json::Array(items) = &message {
        // A batch (MCP before 2025-06-18): passed whole only when the gateway
        // has nothing to decide, filter or refuse in it; otherwise each
        // message is handled on its own.
        if items.iter().all(|m| passes_as_is(options, m)) {
            for item in items {
                track(options, state, to_client, item);
            }
            let _ = to_server.send(text.to_string());
        } else {
            for item in items {
                from_client_message(gate, options, state, to_client, to_server, item, None);
            }
        }
        return;
    }
    from_client_message(gate, options, state, to_client, to_server, &message, Some(text));
}

/// Whether a message passes unchanged: a response, or a request or
/// notification whose method the gateway passes without acting on it.
fn passes_as_is(options: &Options, message: &Json) -> bool {
    match rpc::classify(message) {
        Kind::Response { .. } => true,
        Kind::Request { method, .. } => rpc::client_method(method, false, &options.allowed_methods) == Method::Passed,
        Kind::Notification { method } => {
            method != "notifications/cancelled"
                && rpc::client_method(method, true, &options.allowed_methods) == Method::Passed
        }
        Kind::Invalid(_) => false,
    }
}

/// Remembers a request that passes through, so that its answer (or its
/// absence) is accounted for.
fn track(options: &Options, state: &Shared, to_client: &mpsc::UnboundedSender<String>, message: &Json) {
    if let Kind::Request { id, .. } = rpc::classify(message) {
        let _ = remember(options, state, to_client, id, Pending::Other, None);
    }
}

/// Registers a pending request; `false` (after answering the client) when it
/// cannot be sent. `gate` records the outcome of a call that times out.
fn remember(
    options: &Options,
    state: &Shared,
    to_client: &mpsc::UnboundedSender<String>,
    id: &Json,
    pending: Pending,
    gate: Option<&Arc<Gate>>,
) -> bool {
    let key = rpc::id_key(id);
    {
        let Ok(mut s) = state.lock() else { return false };
        if let Some(why) = &s.gone {
            if let (Pending::Call(call), Some(gate)) = (&pending, gate) {
                gate.outcome(call, Outcome::ServerGone);
            }
            let error = rpc::error_object(code::SERVER_GONE, why.clone(), None);
            let _ = to_client.send(rpc::line(&rpc::error_response(id, error)));
            return false;
        }
        if s.in_use(&key) {
            // Reusing the id of a pending request would let its answer be
            // taken for this one's (an unmasked result for a masked call).
            let error = rpc::error_object(code::INVALID_REQUEST, format!("request id {id} is already in use"), None);
            let _ = to_client.send(rpc::line(&rpc::error_response(id, error)));
            return false;
        }
        s.pending.insert(key.clone(), (id.clone(), pending));
    }
    let state = Arc::clone(state);
    // Weak: a timer must not keep the client's writer open after the proxy ends.
    let to_client = to_client.downgrade();
    let timeout = options.timeout;
    let id = id.clone();
    let gate = gate.cloned();
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        let expired = state.lock().ok().and_then(|mut s| s.pending.remove(&key));
        if let Some((_, Pending::Call(call))) = &expired
            && let Some(gate) = &gate
        {
            gate.outcome(call, Outcome::Timeout);
        }
        if let (Some(_), Some(to_client)) = (expired, to_client.upgrade()) {
            let why = format!("the MCP server did not answer within {} ms", timeout.as_millis());
            log(&format!("request {id}: {why}"));
            let error = rpc::error_object(code::TIMEOUT, why, None);
            let _ = to_client.send(rpc::line(&rpc::error_response(&id, error)));
        }
    });
    true
}

/// Sends an allowed call to the server: exactly the message that was decided.
#[allow(clippy::too_many_arguments)]
fn forward_call(
    gate: &Arc<Gate>,
    options: &Options,
    state: &Shared,
    to_client: &mpsc::UnboundedSender<String>,
    to_server: &mpsc::UnboundedSender<String>,
    id: &Json,
    params: Json,
    call: Box<Call>,
) {
    if remember(options, state, to_client, id, Pending::Call(call), Some(gate)) {
        let decided = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params});
        let _ = to_server.send(rpc::line(&decided));
        spawn_cancel_on_timeout(options, state, to_server, id);
    }
}

#[allow(clippy::too_many_lines)]
fn from_client_message(
    gate: &Arc<Gate>,
    options: &Options,
    state: &Shared,
    to_client: &mpsc::UnboundedSender<String>,
    to_server: &mpsc::UnboundedSender<String>,
    message: &Json,
    raw: Option<&str>,
) {
    let forward = |m: &Json| {
        let line = match raw {
            Some(r) => r.to_string(),
            None => rpc::line(m),
        };
        let _ = to_server.send(line);
    };
    let answer = |id: &Json, error: Json| {
        let _ = to_client.send(rpc::line(&rpc::error_response(id, error)));
    };
    match rpc::classify(message) {
        Kind::Request { id, method } => match rpc::client_method(method, false, &options.allowed_methods) {
            Method::ToolsCall => {
                let params = message.get("params");
                let can_elicit = state.lock().map(|s| s.can_elicit).unwrap_or(false);
                let Some(who) = gate.agent() else {
                    answer(id, rpc::error_object(code::GATEWAY, "the gateway has no agent to decide for", None));
                    return;
                };
                match gate.decide_call(who, &options.session, params, can_elicit) {
                    Verdict::Refuse(error) => {
                        log(&format!(
                            "refused tools/call {id}: {}",
                            error.get("message").and_then(Json::as_str).unwrap_or("")
                        ));
                        answer(id, error);
                    }
                    Verdict::Forward { params, call } => {
                        forward_call(gate, options, state, to_client, to_server, id, params, call);
                    }
                    Verdict::Ask { params, call, question } => {
                        ask(gate, options, state, to_client, id, params, call, question);
                    }
                }
            }
            Method::Imitation => {
                let why = format!(
                    "`{method}` is not `tools/call`: the gateway decides tool calls only as `tools/call`, and does \
                     not pass what a server could take for one"
                );
                log(&format!("refused {id}: {why}"));
                if let Some(who) = gate.agent() {
                    let _ = gate.refuse_framing(who, message.get("params"), &why);
                }
                answer(id, rpc::error_object(code::METHOD_NOT_FOUND, why, None));
            }
            Method::Unknown => {
                let why = format!(
                    "method `{method}` is not one the gateway knows, so it cannot tell whether it runs a tool; it is \
                     refused (an operator can pass it with --allow-method {method})"
                );
                log(&format!("refused {id}: {why}"));
                answer(id, rpc::error_object(code::METHOD_NOT_FOUND, why, None));
            }
            Method::ToolsList | Method::Initialize | Method::Passed => {
                let kind = rpc::client_method(method, false, &options.allowed_methods);
                if kind == Method::Initialize {
                    note_client(state, message.get("params"));
                }
                let pending = if kind == Method::ToolsList { Pending::List } else { Pending::Other };
                if remember(options, state, to_client, id, pending, None) {
                    forward(message);
                    spawn_cancel_on_timeout(options, state, to_server, id);
                }
            }
        },
        Kind::Notification { method } => match rpc::client_method(method, true, &options.allowed_methods) {
            Method::ToolsCall | Method::Imitation => {
                // It would run a tool without an answer anyone could see.
                let why = format!(
                    "a `{method}` notification (no id) was refused: a tool call must be a `tools/call` request, so \
                     that it can be decided and answered"
                );
                log(&why);
                if let Some(who) = gate.agent() {
                    let _ = gate.refuse_framing(who, message.get("params"), &why);
                }
            }
            Method::Unknown => log(&format!("dropped a notification `{method}`, which the gateway does not know")),
            _ => {
                if method == "notifications/cancelled"
                    && let Some(id) = message.get("params").and_then(|p| p.get("requestId"))
                {
                    cancel(gate, state, id);
                }
                forward(message);
            }
        },
        Kind::Response { id } => {
            let asked = state.lock().ok().and_then(|mut s| s.asking.remove(&rpc::id_key(id)));
            match asked {
                Some(asking) => approved_or_not(gate, options, state, to_client, to_server, asking, message),
                None => forward(message),
            }
        }
        Kind::Invalid(why) => {
            let id = message.get("id").cloned().unwrap_or(Json::Null);
            answer(&id, rpc::error_object(code::INVALID_REQUEST, why, None));
        }
    }
}

/// The client no longer waits for request `id`.
fn cancel(gate: &Gate, state: &Shared, id: &Json) {
    let key = rpc::id_key(id);
    let Ok(mut s) = state.lock() else { return };
    // The server may not answer it now.
    if let Some((_, Pending::Call(call))) = s.pending.remove(&key) {
        gate.outcome(&call, Outcome::Cancelled);
    }
    s.asking.retain(|_, a| rpc::id_key(&a.id) != key);
}

/// Notes what `initialize` says about the client: its name, and whether it
/// can put a form to its user (elicitation).
fn note_client(state: &Shared, params: Option<&Json>) {
    let Ok(mut s) = state.lock() else { return };
    let elicitation = params.and_then(|p| p.get("capabilities")).and_then(|c| c.get("elicitation"));
    // `{}` (2025-06-18: forms) or `{"form": {…}, …}` (2025-11-25).
    s.can_elicit = match elicitation.and_then(Json::as_object) {
        Some(e) => e.is_empty() || e.contains_key("form"),
        None => false,
    };
    if let Some(info) = params.and_then(|p| p.get("clientInfo")) {
        let name = info.get("name").and_then(Json::as_str).unwrap_or("(unnamed)");
        let version = info.get("version").and_then(Json::as_str).unwrap_or("");
        s.client = format!("`{name}` {version}").trim().to_string();
    }
}

/// Puts the approval question to the client's user.
#[allow(clippy::too_many_arguments)]
fn ask(
    gate: &Arc<Gate>,
    options: &Options,
    state: &Shared,
    to_client: &mpsc::UnboundedSender<String>,
    id: &Json,
    params: Json,
    call: Box<Call>,
    question: Json,
) {
    let key = rpc::id_key(id);
    let qid = {
        let Ok(mut s) = state.lock() else { return };
        if s.in_use(&key) {
            let error = rpc::error_object(code::INVALID_REQUEST, format!("request id {id} is already in use"), None);
            let _ = to_client.send(rpc::line(&rpc::error_response(id, error)));
            return;
        }
        s.questions += 1;
        // Not an id the server could have used for its own requests to the client.
        let qid = Json::String(format!("ward-approval-{}-{}", std::process::id(), s.questions));
        s.asking.insert(rpc::id_key(&qid), Asking { id: id.clone(), call, params });
        qid
    };
    log(&format!("asking the client's user to approve tools/call {id}"));
    let request = serde_json::json!({"jsonrpc": "2.0", "id": qid, "method": "elicitation/create", "params": question});
    let _ = to_client.send(rpc::line(&request));
    let state = Arc::clone(state);
    let to_client = to_client.downgrade();
    let timeout = options.approval_timeout;
    let gate = Arc::clone(gate);
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        let expired = state.lock().ok().and_then(|mut s| s.asking.remove(&rpc::id_key(&qid)));
        if let (Some(asking), Some(to_client)) = (expired, to_client.upgrade()) {
            let why = format!("no answer to the approval question within {} s", timeout.as_secs());
            let answer = serde_json::json!({"error": {"code": code::TIMEOUT, "message": why}});
            let error = gate.answer_approval(&asking.call, &answer, "").err().unwrap_or(Json::Null);
            let _ = to_client.send(rpc::line(&rpc::cancelled(&qid, "the approval question timed out")));
            let _ = to_client.send(rpc::line(&rpc::error_response(&asking.id, error)));
        }
    });
}

/// The client's user answered an approval question.
fn approved_or_not(
    gate: &Arc<Gate>,
    options: &Options,
    state: &Shared,
    to_client: &mpsc::UnboundedSender<String>,
    to_server: &mpsc::UnboundedSender<String>,
    asking: Asking,
    answer: &Json,
) {
    let client = state.lock().map(|s| s.client.clone()).unwrap_or_default();
    match gate.answer_approval(&asking.call, answer, &client) {
        Ok((by, seq)) => {
            log(&format!("tools/call {} approved by {by}", asking.id));
            let mut call = asking.call;
            call.decision.effect = ward_runtime::Effect::Allow;
            call.seq = seq;
            forward_call(gate, options, state, to_client, to_server, &asking.id, asking.params, call);
        }
        Err(error) => {
            log(&format!(
                "tools/call {} not approved: {}",
                asking.id,
                error.get("message").and_then(Json::as_str).unwrap_or("")
            ));
            let _ = to_client.send(rpc::line(&rpc::error_response(&asking.id, error)));
        }
    }
}

/// After the timeout, a request still pending is cancelled at the server too.
fn spawn_cancel_on_timeout(options: &Options, state: &Shared, to_server: &mpsc::UnboundedSender<String>, id: &Json) {
    let key = rpc::id_key(id);
    let state = Arc::clone(state);
    let to_server = to_server.downgrade();
    let id = id.clone();
    let timeout = options.timeout;
    tokio::spawn(async move {
        // Just after the timeout task has answered the client.
        tokio::time::sleep(timeout + Duration::from_millis(1)).await;
        let Some(to_server) = to_server.upgrade() else { return };
        let still = state.lock().map(|s| s.pending.contains_key(&key)).unwrap_or(false);
        if !still {
            let timed_out = state.lock().map(|s| s.gone.is_none()).unwrap_or(false);
            if timed_out {
                let _ = to_server.send(rpc::line(&rpc::cancelled(&id, "timed out at the gateway")));
            }
        }
    });
}

fn from_server(gate: &Arc<Gate>, state: &Shared, to_client: &mpsc::UnboundedSender<String>, text: &str) {
    if text.trim().is_empty() {
        return;
    }
    let message: Json = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => {
            log(&format!("dropped a line from the server that is not JSON ({e})"));
            return;
        }
    };
    if let Json::Array(items) = &message {
        let acts = items.iter().any(|m| matches!(rpc::classify(m), Kind::Response { .. }));
        if acts {
            for item in items {
                from_server_message(gate, state, to_client, item, None);
            }
        } else {
            let _ = to_client.send(text.to_string());
        }
        return;
    }
    from_server_message(gate, state, to_client, &message, Some(text));
}

fn from_server_message(
    gate: &Arc<Gate>,
    state: &Shared,
    to_client: &mpsc::UnboundedSender<String>,
    message: &Json,
    raw: Option<&str>,
) {
    let send_raw = |m: &Json| {
        let _ = to_client.send(raw.map_or_else(|| rpc::line(m), str::to_string));
    };
    match rpc::classify(message) {
        Kind::Response { id } => {
            let pending = state.lock().ok().and_then(|mut s| s.pending.remove(&rpc::id_key(id)));
            match pending {
                Some((_, Pending::Other)) => send_raw(message),
                Some((_, Pending::Call(call))) => {
                    let out = gate.finish_call(&call, message.clone());
                    let _ = to_client.send(rpc::line(&out));
                }
                Some((_, Pending::List)) => {
                    let can_elicit = state.lock().map(|s| s.can_elicit).unwrap_or(false);
                    let out = match gate.agent() {
                        Some(who) => filter_list(gate, who, id, message, can_elicit),
                        None => rpc::error_response(id, rpc::error_object(code::GATEWAY, "no agent", None)),
                    };
                    let _ = to_client.send(rpc::line(&out));
                }
                None => {
                    log(&format!("dropped a response to {id}, which is not pending (answered, timed out or cancelled)"))
                }
            }
        }
        Kind::Invalid(why) => log(&format!("dropped a message from the server: {why}")),
        // Server requests (sampling, elicitation, roots) and notifications.
        Kind::Request { .. } | Kind::Notification { .. } => send_raw(message),
    }
}

/// The `tools/list` response with only the tools the agent may call
/// (`can_approve`: the client can ask its user to approve).
pub fn filter_list(gate: &Gate, who: &Agent, id: &Json, message: &Json, can_approve: bool) -> Json {
    let mut out = message.clone();
    if let Some(result) = out.get_mut("result")
        && let Err(why) = gate.filter_tools(who, result, can_approve)
    {
        return rpc::error_response(id, rpc::error_object(code::GATEWAY, why, None));
    }
    out
}

/// Starts an MCP server command (`program args…`) with its stdin and stdout
/// piped to us, its stderr passed through, and killed when the handle drops.
pub(crate) fn spawn_server(
    command: &[String],
) -> Result<(tokio::process::Child, tokio::process::ChildStdin, tokio::process::ChildStdout), String> {
    let (program, args) = command.split_first().ok_or("no server command given (after `--`)")?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start `{program}`: {e}"))?;
    let input = child.stdin.take().ok_or("the server's stdin is not available")?;
    let output = child.stdout.take().ok_or("the server's stdout is not available")?;
    Ok((child, input, output))
}

/// Spawns the server command and runs the proxy over this process's stdin and stdout.
pub async fn run_command(gate: Arc<Gate>, options: Options, command: &[String]) -> Result<i32, String> {
    let (mut child, server_in, server_out) = spawn_server(command)?;
    let (exit_tx, exit_rx) = tokio::sync::oneshot::channel::<String>();
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<()>();
    let waiter = tokio::spawn(async move {
        let status = tokio::select! {
            status = child.wait() => status,
            _ = &mut done_rx => {
                // The client has gone: give the server a moment, then stop it.
                match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
                    Ok(status) => status,
                    Err(_) => {
                        let _ = child.start_kill();
                        child.wait().await
                    }
                }
            }
        };
        let how = match &status {
            Ok(s) => s.code().map_or_else(|| format!("{s}"), |c| format!("exit status {c}")),
            Err(e) => format!("cannot wait for it: {e}"),
        };
        let _ = exit_tx.send(how);
        status.ok().and_then(|s| s.code()).unwrap_or(1)
    });
    let exit = async move { exit_rx.await.unwrap_or_else(|_| "stopped".to_string()) };
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let result =
        run(gate, options, stdin, tokio::io::stdout(), tokio::io::BufReader::new(server_out), server_in, exit).await;
    let _ = done_tx.send(());
    let code = waiter.await.unwrap_or(1);
    result.map_err(|e| format!("stdio: {e}"))?;
    Ok(code)
}
