//! Issue 20: `ward mcp-proxy --identity`, the gateway as an OAuth 2.1
//! resource server, through the real binary in front of the test MCP server
//! (tests/mcp/crm_server.py), driven by the MCP Python SDK's client with a
//! bearer token. The tokens come from a test-only issuer (tests/support/
//! tokens.rs: an RSA key made here, a JWKS file); no external IdP.
//!
//! Each token is decided as its own agent; every token refused is a 401 or
//! 403 with an audit record and no decision at all; the metadata document
//! (RFC 9728) is where the challenge says. Over stdio the token comes from
//! WARD_MCP_TOKEN, checked once at start.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "support/mcp.rs"]
mod support;
#[path = "support/tokens.rs"]
mod tokens;

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value as Json, json};
use support::*;
use tokens::*;

const ISS: &str = "https://idp.test/realms/agents";

/// The `--identity` file: the example's agents are `Agent` entities, named
/// by `sub`; a token needs the scope `mcp:tools` to call tools.
const IDENTITY: &str = r#"authorization_servers = ["https://idp.test/realms/agents"]
max_token_bytes = 4096

[[issuers]]
name = "test-idp"
issuer = "https://idp.test/realms/agents"
audiences = ["ward-mcp"]
jwks = "jwks.json"
algorithms = ["RS256"]
leeway_seconds = 5
max_act_depth = 2
principal = { type = "Agent" }
actor = { type = "Agent" }
grants = { decide = "mcp:tools" }
"#;

/// Claims of a good token for agent `sub`; tests change what they test.
fn claims(sub: &str) -> Json {
    json!({"iss": ISS, "aud": "ward-mcp", "sub": sub, "iat": now(), "exp": now() + 600, "scope": "mcp:tools"})
}

/// A directory with the issuer's JWKS and the identity file.
fn identity_dir(name: &str, key: &Key) -> PathBuf {
    let dir = tempdir(name);
    write_jwks(&dir.join("jwks.json"), &[key]);
    std::fs::write(dir.join("identity.toml"), IDENTITY).unwrap();
    dir
}

struct Http {
    _server: Killed,
    _proxy: Killed,
    addr: String,
    audit: PathBuf,
}

/// The SDK's test server over streamable HTTP, and `ward mcp-proxy
/// --identity` in front of it.
fn http_setup(py: &Path, dir: &Path) -> Http {
    let port = free_port();
    let server = Killed(
        Command::new(py)
            .arg(server_script())
            .args(["--http", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    eventually("the MCP server", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let audit = dir.join("audit.jsonl");
    let mut proxy = Killed(
        Command::new(ward())
            .args(["mcp-proxy", "--policy", &example_policy(), "--listen", "127.0.0.1:0"])
            .arg("--identity")
            .arg(dir.join("identity.toml"))
            .arg("--audit-log")
            .arg(&audit)
            .args(["--upstream", &format!("http://127.0.0.1:{port}/mcp")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let addr = proxy.listening_address();
    Http { _server: server, _proxy: proxy, addr, audit }
}

struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One raw HTTP/1.1 exchange (what the SDK's client would not send).
fn http(addr: &str, method: &str, path: &str, token: Option<&str>, body: &str) -> Answer {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nAccept: application/json, \
         text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer { status, headers, body: body.to_string() }
}

/// Reads one HTTP/1.1 answer (head and a `Content-Length` body) from a
/// connection that stays open; `None` if the server closed it first.
fn read_answer(reader: &mut std::io::BufReader<std::net::TcpStream>) -> Option<(u16, HashMap<String, String>)> {
    let mut status = 0;
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        match line.split_once(':') {
            Some((k, v)) if status != 0 => {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
            _ => status = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0),
        }
    }
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((status, headers))
}

fn call_body(tool: &str, arguments: Json) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})
        .to_string()
}

/// The SDK's client over streamable HTTP with `token` as its bearer token.
fn sdk_http(py: &Path, url: &str, token: &str, steps: Json) -> Vec<Json> {
    let out = Command::new(py)
        .arg(repo().join("tests/mcp/client.py"))
        .args(["legacy", &steps.to_string(), "--bearer", token, "--url", url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn tools(answer: &Json) -> Vec<&str> {
    answer["tools"].as_array().unwrap_or_else(|| panic!("{answer}")).iter().filter_map(Json::as_str).collect()
}

fn text(answer: &Json) -> String {
    answer["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{answer}")).to_string()
}

/// A client that keeps its connection (the SDK's pooled HTTP client) and
/// sends a request's body a moment after its head, as clients may: the
/// refusal must either keep the connection usable or say it is closing.
/// Otherwise the client's next request on it (the OAuth flow's metadata
/// request, or the retry with a token) sees it drop without an answer.
#[test]
fn a_refused_request_with_a_late_body_leaves_a_usable_or_announced_closed_connection() {
    let Some(py) = python() else { return };
    let key = rsa_key("k1");
    let dir = identity_dir("identity-late-body", &key);
    let s = http_setup(py, &dir);
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}).to_string();
    for round in 0..5 {
        let mut stream = std::net::TcpStream::connect(&s.addr).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
        let head = format!(
            "POST /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json, \
             text/event-stream\r\nContent-Length: {}\r\n\r\n",
            s.addr,
            init.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        // The server may already have answered and closed: a failed write is that case.
        let _ = stream.write_all(init.as_bytes());
        let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
        let (status, headers) = read_answer(&mut reader).expect("an answer to the refused request");
        assert_eq!(status, 401, "round {round}");
        if headers.get("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
            continue;
        }
        let get = format!("GET /.well-known/oauth-protected-resource/mcp HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr);
        let _ = stream.write_all(get.as_bytes());
        let next = read_answer(&mut reader);
        assert_eq!(
            next.map(|(status, _)| status),
            Some(200),
            "round {round}: the connection was kept open (no `Connection: close`), but the next request on it got no answer"
        );
    }
}

#[test]
fn each_token_is_decided_as_its_own_agent_and_bad_tokens_are_refused_and_audited() {
    let Some(py) = python() else { return };
    let key = rsa_key("k1");
    let dir = identity_dir("identity-http", &key);
    let s = http_setup(py, &dir);
    let resource = format!("http://{}/mcp", s.addr);

    // No token: 401, and the challenge says where the metadata is (RFC 9728 §5.1).
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}).to_string();
    let r = http(&s.addr, "POST", "/mcp", None, &init);
    assert_eq!(r.status, 401, "{}", r.body);
    let challenge = &r.headers["www-authenticate"];
    let metadata_url = format!("http://{}/.well-known/oauth-protected-resource/mcp", s.addr);
    assert_eq!(challenge, &format!("Bearer resource_metadata=\"{metadata_url}\""));
    // The document, at the path-suffixed URL of the challenge and at the bare one.
    for path in ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"] {
        let r = http(&s.addr, "GET", path, None, "");
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(
            r.json(),
            json!({
                "resource": resource,
                "authorization_servers": [ISS],
                "bearer_methods_supported": ["header"],
                "scopes_supported": ["mcp:tools"],
                "resource_name": "Ward MCP gateway",
            }),
            "{path}"
        );
    }

    // Two tokens on one proxy, two agents: the same tool allowed for one, denied for the other.
    let support = mint(&key, &claims("support_bot"));
    let records = mint(&key, &claims("records_bot"));
    let restricted = json!(["call", "read_restricted_record", {"record_id": "r-9"}]);
    let a = sdk_http(
        py,
        &resource,
        &support,
        json!([["list"], ["call", "lookup_customer", {"customer_id": "c-17"}], restricted]),
    );
    assert_eq!(tools(&a[0]), ["lookup_customer", "send_email"]);
    let lookup = text(&a[1]);
    assert!(lookup.contains("[REDACTED]") && !lookup.contains("123-45-6789"), "{lookup}");
    assert!(error_message(&a[2]).contains("records-team-reads-restricted"), "{}", a[2]);
    let b = sdk_http(py, &resource, &records, json!([["list"], restricted]));
    assert_eq!(tools(&b[0]), ["lookup_customer", "read_restricted_record", "send_email"]);
    assert!(text(&b[1]).contains("fraud investigation"), "{}", b[1]);
    let decided: Vec<(String, String)> = audit_records(&s.audit)
        .iter()
        .filter(|r| r["action"] == "read_restricted_record" && r.get("outcome").is_none())
        .map(|r| (r["principal"].as_str().unwrap().to_string(), r["effect"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        decided,
        [
            ("Agent::\"support_bot\"".to_string(), "deny".to_string()),
            ("Agent::\"records_bot\"".to_string(), "allow".to_string())
        ]
    );

    // The negative cases: (what, token, status, RFC 6750 error, what the refusal names).
    let with = |change: &dyn Fn(&mut Json)| {
        let mut c = claims("support_bot");
        change(&mut c);
        mint(&key, &c)
    };
    let mut evil = claims("support_bot");
    evil["sub"] = json!("records_bot");
    let cases: Vec<(&str, String, u16, &str, &str)> = vec![
        ("expired", with(&|c| c["exp"] = json!(now() - 3600)), 401, "invalid_token", "expired"),
        ("not yet valid", with(&|c| c["nbf"] = json!(now() + 3600)), 401, "invalid_token", "not yet valid"),
        ("wrong audience", with(&|c| c["aud"] = json!("ward")), 401, "invalid_token", "audience"),
        ("wrong issuer", with(&|c| c["iss"] = json!("https://evil.test")), 401, "invalid_token", "not configured"),
        ("unknown kid", mint_with_kid(&key, "k-unknown", &claims("support_bot")), 401, "invalid_token", "unknown kid"),
        ("alg none", unsigned(&claims("support_bot")), 401, "invalid_token", "header"),
        (
            "HS256 with the RSA public key",
            mint_hs256_with_public_key(&key, &claims("support_bot")),
            401,
            "invalid_token",
            "HS256",
        ),
        ("tampered payload", tampered(&support, &evil), 401, "invalid_token", "signature"),
        ("oversized", with(&|c| c["pad"] = json!("x".repeat(5000))), 401, "invalid_token", "over the limit"),
        (
            "act nested too deep",
            with(&|c| {
                c["act"] = json!({"sub": "records_bot", "act": {"sub": "records_bot", "act": {"sub": "records_bot"}}})
            }),
            401,
            "invalid_token",
            "deeper",
        ),
        ("no scope", with(&|c| c["scope"] = json!("openid")), 403, "insufficient_scope", "not granted `decide`"),
        ("unknown principal", with(&|c| c["sub"] = json!("mallory")), 403, "", "not an agent the policy declares"),
    ];
    let before = audit_records(&s.audit).len();
    let mut refused = 0;
    for (what, token, status, error, names) in &cases {
        let r =
            http(&s.addr, "POST", "/mcp", Some(token), &call_body("lookup_customer", json!({"customer_id": "c-17"})));
        assert_eq!(r.status, *status, "{what}: {}", r.body);
        refused += 1;
        let message = r.json()["error"].as_str().unwrap().to_string();
        assert!(message.contains(names), "{what}: the refusal should name `{names}`: {message}");
        let challenge = &r.headers["www-authenticate"];
        assert!(challenge.starts_with(&format!("Bearer resource_metadata=\"{metadata_url}\"")), "{what}: {challenge}");
        if !error.is_empty() {
            assert!(challenge.contains(&format!("error=\"{error}\"")), "{what}: {challenge}");
        }
        if *error == "insufficient_scope" {
            assert!(challenge.contains("scope=\"mcp:tools\""), "{what}: the scope needed: {challenge}");
        }
        assert!(!challenge.contains(token.as_str()), "{what}: the challenge echoes the token");
    }
    // One audit record per refusal, saying why, naming no token; no decision for any of them.
    let records_after = audit_records(&s.audit);
    let new = &records_after[before..];
    let refusals: Vec<&Json> = new.iter().filter(|r| r.get("stage").is_some_and(|s| s != "arguments")).collect();
    assert_eq!(refusals.len(), refused, "{new:#?}");
    assert_eq!(refusals.len(), new.len(), "no decision for a refused token: {new:#?}");
    for ((what, token, status, _, names), record) in cases.iter().zip(&refusals) {
        assert_eq!(record["effect"], "deny", "{what}");
        assert_eq!(record["stage"], if *status == 401 { "authentication" } else { "identity" }, "{what}: {record}");
        assert!(record["errors"][0].as_str().unwrap().contains(names), "{what}: {record}");
        assert!(!record.to_string().contains(token.as_str()), "{what}: the record holds the token");
    }

    // A token from token exchange (RFC 8693): records_bot acting for
    // support_bot is decided as records_bot with support_bot in its chain,
    // so only what both may do is allowed.
    let delegated = with(&|c| c["act"] = json!({"sub": "records_bot"}));
    let before = audit_records(&s.audit).len();
    let d = sdk_http(py, &resource, &delegated, json!([["call", "lookup_customer", {"customer_id": "c-17"}]]));
    assert!(text(&d[0]).contains("[REDACTED]"), "{}", d[0]);
    let record = &audit_records(&s.audit)[before];
    assert_eq!(record["principal"], "Agent::\"records_bot\"", "{record}");
    drop(s);
    audit_verifies(&dir.join("audit.jsonl"));
}

/// `ward mcp-proxy --identity … -- python crm_server.py` over stdio, with
/// `token` (if any) in WARD_MCP_TOKEN.
fn stdio_proxy(py: &Path, dir: &Path, token: Option<&str>) -> Command {
    let mut command = Command::new(ward());
    command
        .args(["mcp-proxy", "--policy", &example_policy(), "--identity"])
        .arg(dir.join("identity.toml"))
        .arg("--audit-log")
        .arg(dir.join("audit.jsonl"))
        .arg("--")
        .arg(py)
        .arg(server_script())
        .env_remove("WARD_MCP_TOKEN")
        .stdin(Stdio::null());
    if let Some(token) = token {
        command.env("WARD_MCP_TOKEN", token);
    }
    command
}

#[test]
fn over_stdio_the_agent_is_the_token_in_ward_mcp_token() {
    let Some(py) = python() else { return };
    let key = rsa_key("k1");
    let dir = identity_dir("identity-stdio", &key);
    // A valid token: the run's agent is records_bot.
    let token = mint(&key, &claims("records_bot"));
    let steps = json!([["list"], ["call", "read_restricted_record", {"record_id": "r-9"}]]);
    let out = Command::new(py)
        .arg(repo().join("tests/mcp/client.py"))
        .args(["legacy", &steps.to_string(), "--", ward(), "mcp-proxy", "--policy", &example_policy()])
        .arg("--identity")
        .arg(dir.join("identity.toml"))
        .args(["--", &py.display().to_string(), &server_script()])
        .env("WARD_MCP_TOKEN", &token)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let answers: Vec<Json> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(tools(&answers[0]), ["lookup_customer", "read_restricted_record", "send_email"]);
    assert!(text(&answers[1]).contains("fraud investigation"), "{}", answers[1]);

    // Missing, expired, or for an agent Ward does not know: no start, a clear error, an audit record.
    let mut expired = claims("records_bot");
    expired["exp"] = json!(now() - 3600);
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "WARD_MCP_TOKEN is not set"),
        ("expired", Some(mint(&key, &expired)), "expired"),
        ("garbage", Some("not-a-token".to_string()), "WARD_MCP_TOKEN"),
        ("unknown agent", Some(mint(&key, &claims("mallory"))), "not an agent the policy declares"),
    ];
    for (what, token, names) in &cases {
        let out = stdio_proxy(py, &dir, token.as_deref()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: started: {stderr}");
        assert!(stderr.contains(names), "{what}: should name `{names}`: {stderr}");
    }
    let records = audit_records(&dir.join("audit.jsonl"));
    assert_eq!(records.len(), cases.len(), "{records:#?}");
    assert!(records.iter().all(|r| r["effect"] == "deny" && r["stage"].is_string()), "{records:#?}");
    audit_verifies(&dir.join("audit.jsonl"));

    // --agent and --identity exclude each other.
    let out = Command::new(ward())
        .args(["mcp-proxy", "--policy", &example_policy(), "--agent", "support_bot", "--identity"])
        .arg(dir.join("identity.toml"))
        .args(["--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--identity"));
}

/// A test authorization server on the loopback: its RFC 8414 metadata at
/// every `/.well-known/` path, and a token endpoint granting client
/// credentials (the client id is the agent; the secret is `secret`) with
/// tokens signed by `key`. Returns its issuer URL.
fn authorization_server(key: Key) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://{}/realms/agents", listener.local_addr().unwrap());
    let iss = issuer.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (status, body) = authorization_answer(&mut stream, &key, &iss);
            let body = body.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            // Close gracefully: closing a socket with unread input resets
            // the connection, and a reset can discard the answer before the
            // client has read it (the SDK then reports "Server disconnected
            // without sending a response", now and then, under load).
            let _ = stream.shutdown(std::net::Shutdown::Write);
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let _ = std::io::copy(&mut stream, &mut std::io::sink());
        }
    });
    issuer
}

fn authorization_answer(stream: &mut std::net::TcpStream, key: &Key, issuer: &str) -> (&'static str, Json) {
    use base64::Engine as _;
    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        head.push(line.trim_end().to_string());
    }
    let header = |name: &str| {
        head.iter().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
    };
    let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let first: Vec<&str> = head.first().map(|l| l.split(' ').collect()).unwrap_or_default();
    match first.as_slice() {
        ["GET", path, ..] if path.starts_with("/.well-known/") => (
            "200 OK",
            json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/authorize"),
                "token_endpoint": format!("{issuer}/token"),
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "response_types_supported": ["code"],
            }),
        ),
        ["POST", path, ..] if *path == "/realms/agents/token" => {
            let client = header("authorization")
                .and_then(|v| v.strip_prefix("Basic "))
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .and_then(|b| String::from_utf8(b).ok());
            match client.as_deref().and_then(|c| c.split_once(':')) {
                Some((agent, "secret")) => {
                    let mut c = claims(agent);
                    c["iss"] = json!(issuer);
                    let token = mint(key, &c);
                    (
                        "200 OK",
                        json!({"access_token": token, "token_type": "Bearer", "expires_in": 600, "scope": "mcp:tools"}),
                    )
                }
                _ => ("401 Unauthorized", json!({"error": "invalid_client"})),
            }
        }
        _ => ("404 Not Found", json!({"error": "not_found"})),
    }
}

#[test]
fn the_sdks_own_oauth_support_finds_the_issuer_through_the_metadata() {
    let Some(py) = python() else { return };
    let key = rsa_key("k1");
    let dir = tempdir("identity-oauth");
    write_jwks(&dir.join("jwks.json"), &[&key]);
    let issuer = authorization_server(key);
    std::fs::write(dir.join("identity.toml"), IDENTITY.replace(ISS, &issuer)).unwrap();
    let s = http_setup(py, &dir);
    let resource = format!("http://{}/mcp", s.addr);
    // The client starts with no token: the gateway's 401 sends it to the
    // metadata, the metadata to the issuer, the issuer's token endpoint
    // gives it a token for its client id, and the call is retried with it.
    for (agent, restricted) in [("support_bot", false), ("records_bot", true)] {
        let steps = json!([["list"], ["call", "read_restricted_record", {"record_id": "r-9"}]]);
        let out = Command::new(py)
            .arg(repo().join("tests/mcp/client.py"))
            .args(["legacy", &steps.to_string(), "--oauth", agent, &issuer, "--url", &resource])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{agent}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let answers: Vec<Json> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(tools(&answers[0]).contains(&"read_restricted_record"), restricted, "{agent}: {}", answers[0]);
        assert_eq!(answers[1].get("result").is_some(), restricted, "{agent}: {}", answers[1]);
    }
    // The first request of each client had no token: refused and audited.
    let records = audit_records(&s.audit);
    assert!(records.iter().any(|r| r["stage"] == "authentication"), "{records:#?}");
    let decided: Vec<&str> = records
        .iter()
        .filter(|r| r["action"] == "read_restricted_record" && r.get("outcome").is_none())
        .filter_map(|r| r["principal"].as_str())
        .collect();
    assert_eq!(decided, ["Agent::\"support_bot\"", "Agent::\"records_bot\""]);
}
