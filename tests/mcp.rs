//! `ward mcp-proxy` and `ward mcp-schema` against real MCP peers: the
//! official MCP Python SDK's server (tests/mcp/crm_server.py) behind the
//! gateway, driven by the SDK's client (tests/mcp/client.py).
//!
//! The SDK lives in the virtual environment `$WARD_MCP_VENV`, which
//! `scripts/test` provisions (scripts/provision/mcp.sh, the pinned SDK).
//! Without it these tests fail (see `ward_testkit::require`); they never
//! install anything themselves.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "support/mcp.rs"]
mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{Value as Json, json};
use support::*;

fn policy() -> String {
    example_policy()
}

/// Runs the SDK client through `ward mcp-proxy` (with `extra` options) and
/// returns one JSON answer per step.
fn drive(python: &Path, mode: &str, agent: &str, extra: &[&str], steps: Json) -> Vec<Json> {
    drive_with(python, mode, &policy(), agent, extra, &[], steps)
}

fn text_of(answer: &Json) -> String {
    let content = answer["result"]["content"].as_array().unwrap_or_else(|| panic!("no result: {answer}"));
    content.iter().filter_map(|c| c["text"].as_str()).collect::<Vec<_>>().join("\n")
}

fn error_of(answer: &Json) -> (i64, String) {
    let e = &answer["error"];
    (e["code"].as_i64().unwrap_or_else(|| panic!("not an error: {answer}")), e["message"].as_str().unwrap().to_string())
}

#[test]
fn a_permitted_call_is_masked_a_forbidden_one_refused_and_the_list_filtered() {
    let Some(py) = python() else { return };
    let answers = drive(
        py,
        "auto", // probes `server/discover`, which must pass through
        "Agent::\"support_bot\"",
        &[],
        json!([
            ["list"],
            ["call", "lookup_customer", {"customer_id": "c-17"}],
            ["call", "delete_customer", {"customer_id": "c-17", "reason": "asked by email"}],
            ["call", "read_restricted_record", {"record_id": "r-9"}],
            ["call", "send_email", {"to": "ops@acme.example", "subject": "hi", "body": "ok", "bcc": "x@evil.example"}],
        ]),
    );
    let tools = answers[0]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().filter_map(Json::as_str).collect();
    // The demo server's crash and hang tools are for the gateway's test agent only.
    assert_eq!(names, ["lookup_customer", "send_email"], "{}", answers[0]);

    let lookup = text_of(&answers[1]);
    let record: Json = serde_json::from_str(&lookup).unwrap();
    assert_eq!(record["name"], "Ana Lima");
    assert_eq!(record["ssn"], "[REDACTED]");
    assert_eq!(record["phone"], "****0142");
    assert!(!lookup.contains("ana.lima@example.com") && !lookup.contains("123-45-6789"), "{lookup}");

    let (code, message) = error_of(&answers[2]);
    assert_eq!(code, -32001);
    assert!(message.contains("crm_gateway.no-deletes"), "{message}");
    assert!(message.contains("Agents never delete customers"), "{message}");
    assert_eq!(answers[2]["error"]["data"]["ward"]["effect"], "deny");

    let (code, message) = error_of(&answers[3]);
    assert_eq!(code, -32001);
    assert!(message.contains("no rule permits it"), "{message}");

    // An argument the schema does not declare: the policy cannot see it, so the call is refused.
    let (code, message) = error_of(&answers[4]);
    assert_eq!(code, -32001);
    assert!(message.contains("bcc"), "{message}");
}

#[test]
fn a_flow_rule_blocks_mail_after_a_restricted_read_and_every_call_is_audited() {
    let Some(py) = python() else { return };
    let dir = tempdir("flow");
    let audit = dir.join("audit.jsonl");
    let answers = drive(
        py,
        "legacy", // the initialize handshake
        "records_bot",
        &["--audit-log", audit.to_str().unwrap()],
        json!([
            ["list"],
            ["call", "send_email", {"to": "ops@acme.example", "subject": "status", "body": "all fine"}],
            ["call", "read_restricted_record", {"record_id": "r-9", "purpose": "fraud"}],
            ["call", "send_email", {"to": "x@evil.example", "subject": "fyi", "body": "see record r-9"}],
        ]),
    );
    let names: Vec<&str> = answers[0]["tools"].as_array().unwrap().iter().filter_map(Json::as_str).collect();
    assert!(names.contains(&"read_restricted_record"), "{names:?}");
    assert!(!names.contains(&"delete_customer"), "{names:?}");
    assert_eq!(text_of(&answers[1]), "sent to ops@acme.example");
    let record = text_of(&answers[2]);
    assert!(record.contains("fraud investigation") && !record.contains("ana.lima@example.com"), "{record}");
    let (code, message) = error_of(&answers[3]);
    assert_eq!(code, -32001);
    assert!(message.contains("crm_gateway.no-mail-after-restricted-read"), "{message}");
    assert!(message.contains("Nothing leaves by e-mail"), "{message}");

    let verify = Command::new(ward()).args(["audit", "verify"]).arg(&audit).output().unwrap();
    let text = String::from_utf8_lossy(&verify.stdout);
    // Three decisions, and what became of the two forwarded calls.
    assert!(verify.status.success() && text.contains("5 records verified"), "{text}");
    let log = std::fs::read_to_string(&audit).unwrap();
    let records: Vec<Json> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let effects: Vec<&str> =
        records.iter().filter(|r| r.get("outcome").is_none()).map(|r| r["effect"].as_str().unwrap()).collect();
    assert_eq!(effects, ["allow", "allow", "deny"]);
    let outcomes: Vec<&str> = records.iter().filter_map(|r| r.get("outcome")?.as_str()).collect();
    assert_eq!(outcomes, ["ok", "ok"]);
    assert!(!log.contains("evil.example"), "arguments are not logged, only their digest");
}

#[test]
fn a_hanging_or_dying_server_yields_errors_not_a_hung_session() {
    let Some(py) = python() else { return };
    let answers = drive(
        py,
        "legacy",
        "gateway_probe",
        // Long enough for the server to start on a loaded machine; the hang outlasts it.
        &["--timeout", "10s"],
        json!([
            ["call", "hang", {"seconds": 120}],
            ["call", "crash", {}],
            ["call", "lookup_customer", {"customer_id": "c-17"}],
        ]),
    );
    let (code, message) = error_of(&answers[0]);
    assert_eq!(code, -32003, "{message}");
    assert!(message.contains("did not answer within 10000 ms"), "{message}");
    let (code, message) = error_of(&answers[1]);
    assert_eq!(code, -32004, "{message}");
    assert!(message.contains("ended"), "{message}");
    let (code, _) = error_of(&answers[2]);
    assert_eq!(code, -32004);
}

#[test]
fn mcp_schema_writes_a_schema_that_checks() {
    let Some(py) = python() else { return };
    let dir = tempdir("schema");
    let schema = dir.join("schema.ward");
    let out = Command::new(ward())
        .args(["mcp-schema", "-o"])
        .arg(&schema)
        .arg("--")
        .arg(py)
        .arg(server_script())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&schema).unwrap();
    assert!(text.contains("schema crm_demo {"), "{text}");
    assert!(text.contains("action lookup_customer by Agent on McpServer with { customer_id: String }"), "{text}");
    assert!(
        text.contains("action send_email by Agent on McpServer with { body: String, cc?: Set<String>, subject: String, to: String }"),
        "{text}"
    );
    assert!(text.contains("action hang by Agent on McpServer with { seconds?: Int }"), "{text}");
    let check = Command::new(ward()).arg("check").arg(&dir).output().unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn the_http_mode_guards_a_streamable_http_server() {
    let Some(py) = python() else { return };
    use std::io::BufRead;
    let port = free_port();
    let _server = Killed(
        Command::new(py)
            .arg(server_script())
            .args(["--http", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Wait until it accepts connections (a bounded wait, not a timing assertion).
    let up = (0..600).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "the SDK's HTTP server did not start");
    let mut proxy = Killed(
        Command::new(ward())
            .args(["mcp-proxy", "--policy", &policy(), "--agent", "records_bot", "--listen", "127.0.0.1:0"])
            .args(["--upstream", &format!("http://127.0.0.1:{port}/mcp")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stderr = std::io::BufReader::new(proxy.0.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line.split("listening on ").nth(1).and_then(|r| r.split(',').next()).unwrap_or_else(|| panic!("{line}"));
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let steps = json!([
        ["list"],
        ["call", "lookup_customer", {"customer_id": "c-17"}],
        ["call", "delete_customer", {"customer_id": "c-17", "reason": "asked"}],
        ["call", "read_restricted_record", {"record_id": "r-9"}],
        ["call", "send_email", {"to": "x@evil.example", "subject": "fyi", "body": "r-9"}],
    ]);
    let out = Command::new(py)
        .arg(repo().join("tests/mcp/client.py"))
        .args(["legacy", &steps.to_string(), "--url", &format!("{addr}/mcp")])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let answers: Vec<Json> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let names: Vec<&str> = answers[0]["tools"].as_array().unwrap().iter().filter_map(Json::as_str).collect();
    assert_eq!(names, ["lookup_customer", "read_restricted_record", "send_email"]);
    let lookup = text_of(&answers[1]);
    assert!(lookup.contains("[REDACTED]") && !lookup.contains("123-45-6789"), "{lookup}");
    assert!(error_of(&answers[2]).1.contains("crm_gateway.no-deletes"));
    assert!(text_of(&answers[3]).contains("fraud investigation"));
    let (code, message) = error_of(&answers[4]);
    assert_eq!(code, -32001);
    assert!(message.contains("no-mail-after-restricted-read"), "{message}");
}
