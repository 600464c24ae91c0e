//! The proxy over stdio: newline-delimited JSON-RPC between the client (our
//! stdin/stdout) and the server (a child process's stdin/stdout).
//!
//! One task reads the client, one reads the server, one writes each side.
//! Requests the client sends are remembered until their response comes back
//! (that is how a response is matched to the `tools/call` decision or the
//! `tools/list` it answers); a request the server does not answer within the
//! timeout, or that is pending when the server exits, gets an error response.
//! Messages the gateway does not act on are forwarded byte for byte.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value as Json;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::gate::{Call, Gate, Verdict};
use crate::rpc::{self, Kind, code};

/// How the proxy behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long the server may take to answer a request.
    pub timeout: Duration,
    /// The MCP session id (flow rules and limits are per session).
    pub session: String,
    /// Lines longer than this are refused (client) or dropped (server).
    pub max_line: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options { timeout: Duration::from_secs(60), session: "stdio".to_string(), max_line: 64 * 1024 * 1024 }
    }
}

/// A request sent to the server, waiting for its response.
enum Pending {
    Call(Box<Call>),
    List,
    Other,
}

struct State {
    pending: HashMap<String, (Json, Pending)>,
    /// Why the server can no longer answer, once it cannot.
    gone: Option<String>,
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
    let state: Shared = Arc::new(Mutex::new(State { pending: HashMap::new(), gone: None }));
    let (to_client, client_rx) = mpsc::unbounded_channel::<String>();
    let (to_server, server_rx) = mpsc::unbounded_channel::<String>();
    let client_writer = tokio::spawn(writer(client_out, client_rx));
    let server_writer = {
        let state = Arc::clone(&state);
        let to_client = to_client.clone();
        tokio::spawn(async move {
            if let Err(e) = writer(server_in, server_rx).await {
                fail_all(&state, &to_client, &format!("cannot write to the MCP server: {e}"));
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
            fail_all(&state, &to_client, &format!("the MCP server ended ({how})"));
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
        fail_all(&state, &to_client, "the client closed its input before the server answered");
    }
    server_writer.abort();
    server_reader.abort();
    drop(to_client);
    let _ = client_writer.await;
    Ok(())
}

/// Answers every pending request with an error and refuses what follows.
fn fail_all(state: &Shared, to_client: &mpsc::UnboundedSender<String>, why: &str) {
    let Ok(mut s) = state.lock() else { return };
    if s.gone.is_none() {
        s.gone = Some(why.to_string());
    }
    let mut pending: Vec<(Json, Pending)> = s.pending.drain().map(|(_, v)| v).collect();
    pending.sort_by_key(|(id, _)| id.to_string());
    for (id, _) in pending {
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
    // Strictly: a duplicate key (which the server might read otherwise) is refused like bad JSON.
    let message: Json = match ward_runtime::json::parse(text, "message", &ward_runtime::data::Path::Root("")) {
        Ok(m) => m,
        Err(e) => {
            // Never forwarded: what the gateway cannot read, it cannot decide.
            let error = rpc::error_object(code::PARSE_ERROR, format!("refused: {e}"), None);
            let _ = to_client.send(rpc::line(&rpc::error_response(&Json::Null, error)));
            return;
        }
    };
    if let Json::Array(items) = &message {
        // A batch (MCP before 2025-06-18): each message is handled on its own.
        if items.iter().any(|m| matches!(classify_method(m), Some("tools/call" | "tools/list"))) {
            for item in items {
                from_client_message(gate, options, state, to_client, to_server, item, None);
            }
        } else {
            // Nothing to act on: the batch goes as it came, its requests still tracked.
            for item in items {
                track(options, state, to_client, item);
            }
            let _ = to_server.send(text.to_string());
        }
        return;
    }
    from_client_message(gate, options, state, to_client, to_server, &message, Some(text));
}

fn classify_method(message: &Json) -> Option<&str> {
    match rpc::classify(message) {
        Kind::Request { method, .. } => Some(method),
        _ => None,
    }
}

/// Remembers a request that passes through, so that its answer (or its
/// absence) is accounted for.
fn track(options: &Options, state: &Shared, to_client: &mpsc::UnboundedSender<String>, message: &Json) {
    if let Kind::Request { id, .. } = rpc::classify(message) {
        let _ = remember(options, state, to_client, id, Pending::Other);
    }
}

/// Registers a pending request; `false` (after answering the client) when it cannot be sent.
fn remember(
    options: &Options,
    state: &Shared,
    to_client: &mpsc::UnboundedSender<String>,
    id: &Json,
    pending: Pending,
) -> bool {
    let key = rpc::id_key(id);
    {
        let Ok(mut s) = state.lock() else { return false };
        if let Some(why) = &s.gone {
            let error = rpc::error_object(code::SERVER_GONE, why.clone(), None);
            let _ = to_client.send(rpc::line(&rpc::error_response(id, error)));
            return false;
        }
        if s.pending.contains_key(&key) {
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
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        let expired = state.lock().ok().and_then(|mut s| s.pending.remove(&key));
        if let (Some(_), Some(to_client)) = (expired, to_client.upgrade()) {
            let why = format!("the MCP server did not answer within {} ms", timeout.as_millis());
            log(&format!("request {id}: {why}"));
            let error = rpc::error_object(code::TIMEOUT, why, None);
            let _ = to_client.send(rpc::line(&rpc::error_response(&id, error)));
        }
    });
    true
}

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
    match rpc::classify(message) {
        Kind::Request { id, method: "tools/call" } => {
            let params = message.get("params");
            match gate.decide_call(&options.session, params) {
                Verdict::Refuse(error) => {
                    log(&format!(
                        "refused tools/call {id}: {}",
                        error.get("message").and_then(Json::as_str).unwrap_or("")
                    ));
                    let _ = to_client.send(rpc::line(&rpc::error_response(id, error)));
                }
                Verdict::Forward { params, call } => {
                    if remember(options, state, to_client, id, Pending::Call(call)) {
                        // The server gets exactly the message that was decided.
                        let mut decided = message.clone();
                        if let Some(obj) = decided.as_object_mut() {
                            obj.insert("params".into(), params);
                        }
                        let _ = to_server.send(rpc::line(&decided));
                        spawn_cancel_on_timeout(options, state, to_server, id);
                    }
                }
            }
        }
        Kind::Request { id, method } => {
            let pending = if method == "tools/list" { Pending::List } else { Pending::Other };
            if remember(options, state, to_client, id, pending) {
                forward(message);
                spawn_cancel_on_timeout(options, state, to_server, id);
            }
        }
        Kind::Notification { method } => {
            if method == "notifications/cancelled"
                && let Some(id) = message.get("params").and_then(|p| p.get("requestId"))
                && let Ok(mut s) = state.lock()
            {
                // The client no longer waits for it; the server may not answer.
                s.pending.remove(&rpc::id_key(id));
            }
            forward(message);
        }
        Kind::Response { .. } => forward(message),
        Kind::Invalid(why) => {
            let id = message.get("id").cloned().unwrap_or(Json::Null);
            let error = rpc::error_object(code::INVALID_REQUEST, why, None);
            let _ = to_client.send(rpc::line(&rpc::error_response(&id, error)));
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
                    let _ = to_client.send(rpc::line(&filter_list(gate, id, message)));
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

/// The `tools/list` response with only the tools the agent may call.
pub fn filter_list(gate: &Gate, id: &Json, message: &Json) -> Json {
    let mut out = message.clone();
    if let Some(result) = out.get_mut("result")
        && let Err(why) = gate.filter_tools(result)
    {
        return rpc::error_response(id, rpc::error_object(code::GATEWAY, why, None));
    }
    out
}

/// Spawns the server command and runs the proxy over this process's stdin and stdout.
pub async fn run_command(gate: Arc<Gate>, options: Options, command: &[String]) -> Result<i32, String> {
    let (program, args) = command.split_first().ok_or("no server command given (after `--`)")?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start `{program}`: {e}"))?;
    let server_in = child.stdin.take().ok_or("the server's stdin is not available")?;
    let server_out = child.stdout.take().ok_or("the server's stdout is not available")?;
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
