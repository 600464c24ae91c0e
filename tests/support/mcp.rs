//! Driving `ward mcp-proxy` from tests: the MCP Python SDK's virtual
//! environment, and a raw JSON-RPC client over the proxy's stdio (for what
//! the SDK's client would never send: notifications that call tools,
//! batches, aliases, duplicate keys, signals to the proxy).
//!
//! Shared by `tests/mcp.rs` and `tests/mcp_gateway.rs` through `#[path]`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value as Json;

pub fn ward() -> &'static str {
    env!("CARGO_BIN_EXE_ward")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn has_sdk(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "from mcp import Client; from mcp.server.mcpserver import MCPServer"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The venv's python, if the SDK is there (otherwise the test fails, or
/// returns when `WARD_ALLOW_SKIP` names `mcp`).
pub fn python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let provision = "scripts/test provisions it (scripts/provision/mcp.sh) and exports WARD_MCP_VENV";
            let Some(venv) = std::env::var_os("WARD_MCP_VENV") else {
                ward_testkit::missing("mcp", "WARD_MCP_VENV is not set: no MCP Python SDK", provision);
                return None;
            };
            let python = PathBuf::from(venv).join("bin").join("python");
            if !has_sdk(&python) {
                let problem = format!("the MCP Python SDK does not import with {}", python.display());
                ward_testkit::missing("mcp", &problem, provision);
                return None;
            }
            Some(python)
        })
        .as_deref()
}

pub fn server_script() -> String {
    repo().join("tests/mcp/crm_server.py").display().to_string()
}

pub fn lenient_script() -> String {
    repo().join("tests/mcp/lenient_server.py").display().to_string()
}

pub fn example_policy() -> String {
    repo().join("examples/mcp-gateway").display().to_string()
}

pub fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ward-mcp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A free port on the loopback (another process may take it first; rare).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Kills the child when the test ends, however it ends.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Killed {
    /// The address an HTTP `ward mcp-proxy` (started with its stderr piped)
    /// says it listens on; the rest of its stderr is drained, so it never
    /// blocks writing.
    pub fn listening_address(&mut self) -> String {
        let mut stderr = std::io::BufReader::new(self.0.stderr.take().expect("stderr piped"));
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        let addr = line
            .split("listening on http://")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .unwrap_or_else(|| panic!("{line}"))
            .to_string();
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        addr
    }
}

/// Bounded wait for a condition (never a timing assertion: the bound only
/// turns a hang into a failure).
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..600 {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("gave up waiting for {what}");
}

/// `ward mcp-proxy` as a child, spoken to in raw JSON-RPC lines.
pub struct Proxy {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Proxy {
    /// Starts `ward mcp-proxy ARGS -- SERVER…` with `env` added.
    pub fn start(args: &[String], server: &[String], env: &[(&str, &str)]) -> Proxy {
        let mut child = Command::new(ward())
            .arg("mcp-proxy")
            .args(args)
            .arg("--")
            .args(server)
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Proxy { child, stdin, lines, stderr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn send_raw(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    pub fn send(&mut self, message: &Json) {
        self.send_raw(&message.to_string());
    }

    /// The next line the proxy writes (bounded: a hang fails the test).
    pub fn recv(&self) -> Json {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("no message from the proxy ({e}); stderr:\n{}", self.stderr()));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Reads until the response to `id` (other messages are returned too, in order).
    pub fn until(&self, id: &Json) -> (Json, Vec<Json>) {
        let mut others = Vec::new();
        loop {
            let m = self.recv();
            if m.get("id") == Some(id) && m.get("method").is_none() {
                return (m, others);
            }
            others.push(m);
        }
    }

    /// Sends a request and waits for its response.
    pub fn request(&mut self, id: i64, method: &str, params: Json) -> Json {
        self.send(&serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.until(&Json::from(id)).0
    }

    /// The MCP handshake (`initialize`, then `notifications/initialized`), with `capabilities`.
    pub fn initialize(&mut self, capabilities: Json) -> Json {
        let params = serde_json::json!({
            "protocolVersion": "2025-06-18",
            "capabilities": capabilities,
            "clientInfo": {"name": "ward-test", "version": "1"},
        });
        let answer = self.request(0, "initialize", params);
        self.send(&serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        answer
    }

    /// Closes the proxy's stdin and waits for it to exit (bounded).
    pub fn finish(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the proxy did not exit after its input closed; stderr:\n{}", self.stderr());
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the lenient server logged: messages it received and tools it ran.
pub fn lenient_log(path: &Path) -> (Vec<Json>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut received = Vec::new();
    let mut ran = Vec::new();
    for line in text.lines() {
        let v: Json = serde_json::from_str(line).unwrap();
        if let Some(m) = v.get("received") {
            received.push(m.clone());
        }
        if let Some(t) = v.get("ran") {
            ran.push(t.as_str().unwrap_or("?").to_string());
        }
    }
    (received, ran)
}

pub fn error_code(answer: &Json) -> i64 {
    answer["error"]["code"].as_i64().unwrap_or_else(|| panic!("not an error: {answer}"))
}

pub fn error_message(answer: &Json) -> String {
    answer["error"]["message"].as_str().unwrap_or_else(|| panic!("not an error: {answer}")).to_string()
}

/// The records of an audit log, as JSON.
pub fn audit_records(path: &Path) -> Vec<Json> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// `ward audit verify FILE` succeeds.
pub fn audit_verifies(path: &Path) -> String {
    let out = Command::new(ward()).args(["audit", "verify"]).arg(path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

/// Runs the SDK client (tests/mcp/client.py) through `ward mcp-proxy
/// --policy POLICY --agent AGENT PROXY_EXTRA -- python crm_server.py`, with
/// `client_extra` options for the client (`--approve NAME`, `--decline`);
/// returns one JSON answer per step.
pub fn drive_with(
    python: &Path,
    mode: &str,
    policy: &str,
    agent: &str,
    proxy_extra: &[&str],
    client_extra: &[&str],
    steps: Json,
) -> Vec<Json> {
    let mut proxy: Vec<String> =
        vec![ward().into(), "mcp-proxy".into(), "--policy".into(), policy.into(), "--agent".into(), agent.into()];
    proxy.extend(proxy_extra.iter().map(|s| s.to_string()));
    proxy.extend(["--".into(), python.display().to_string(), server_script()]);
    let out = Command::new(python)
        .arg(repo().join("tests/mcp/client.py"))
        .arg(mode)
        .arg(steps.to_string())
        .args(client_extra)
        .arg("--")
        .args(&proxy)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "client failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let answers: Vec<Json> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(answers.len(), steps.as_array().unwrap().len(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    answers
}
