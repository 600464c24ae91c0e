//! The stdio proxy against a scripted fake server (in-process pipes): what
//! passes through unchanged, what is decided, filtered and masked, and what
//! a dying or hanging server turns into.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value as Json, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines, ReadHalf, WriteHalf};
use ward_mcp::gate::{Gate, GateConfig};
use ward_mcp::stdio::{Options, run};

/// One side of a pipe, as the test drives it.
struct Peer {
    lines: Lines<BufReader<ReadHalf<DuplexStream>>>,
    out: WriteHalf<DuplexStream>,
}

impl Peer {
    async fn send(&mut self, line: &str) {
        self.out.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        self.out.flush().await.unwrap();
    }

    /// The next line; a generous safety net so a bug fails instead of hanging.
    async fn recv(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(20), self.lines.next_line())
            .await
            .expect("no message within 20 s")
            .unwrap()
            .expect("the pipe closed")
    }

    async fn recv_json(&mut self) -> Json {
        serde_json::from_str(&self.recv().await).unwrap()
    }
}

struct Harness {
    client: Peer,
    server: Peer,
    exit: Option<tokio::sync::oneshot::Sender<String>>,
    proxy: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn gate(agent: &str) -> Arc<Gate> {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/mcp-gateway");
    let config = GateConfig { policy: vec![examples], agent: agent.to_string(), ..GateConfig::default() };
    Arc::new(Gate::new(&config).unwrap())
}

fn start(agent: &str, timeout: Duration) -> Harness {
    start_with(gate(agent), timeout)
}

fn start_with(gate: Arc<Gate>, timeout: Duration) -> Harness {
    let (client_proxy, client_test) = tokio::io::duplex(1 << 16);
    let (server_proxy, server_test) = tokio::io::duplex(1 << 16);
    let (cr, cw) = tokio::io::split(client_proxy);
    let (sr, sw) = tokio::io::split(server_proxy);
    let (exit_tx, exit_rx) = tokio::sync::oneshot::channel::<String>();
    let options = Options { timeout, session: "test-session".into(), ..Options::default() };
    let exit = async move { exit_rx.await.unwrap_or_else(|_| "dropped".into()) };
    let proxy = tokio::spawn(run(gate, options, BufReader::new(cr), cw, BufReader::new(sr), sw, exit));
    let (ctr, ctw) = tokio::io::split(client_test);
    let (str_, stw) = tokio::io::split(server_test);
    Harness {
        client: Peer { lines: BufReader::new(ctr).lines(), out: ctw },
        server: Peer { lines: BufReader::new(str_).lines(), out: stw },
        exit: Some(exit_tx),
        proxy,
    }
}

#[tokio::test]
async fn what_the_gateway_does_not_act_on_passes_byte_for_byte() {
    let mut h = start("support_bot", Duration::from_secs(30));
    // A newer method, odd spacing and key order included.
    let discover = r#"{"method": "server/discover", "jsonrpc":"2.0",  "id": 1, "params": {"_meta": {"x": [1, 2.50]}}}"#;
    h.client.send(discover).await;
    assert_eq!(h.server.recv().await, discover);
    let not_found = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found","data":{"method":"server/discover"}}}"#;
    h.server.send(not_found).await;
    assert_eq!(h.client.recv().await, not_found);

    let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    h.client.send(note).await;
    assert_eq!(h.server.recv().await, note);

    // A server-initiated request (sampling) and the client's answer.
    let sampling =
        r#"{"jsonrpc":"2.0","id":"s-1","method":"sampling/createMessage","params":{"messages":[],"maxTokens":5}}"#;
    h.server.send(sampling).await;
    assert_eq!(h.client.recv().await, sampling);
    let answer = r#"{"jsonrpc":"2.0","id":"s-1","result":{"role":"assistant","content":{"type":"text","text":"hi"},"model":"m"}}"#;
    h.client.send(answer).await;
    assert_eq!(h.server.recv().await, answer);
    let refusal = r#"{"jsonrpc":"2.0","id":"s-2","error":{"code":-1,"message":"user declined"}}"#;
    h.client.send(refusal).await;
    assert_eq!(h.server.recv().await, refusal);

    let progress = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":7,"progress":0.5}}"#;
    h.server.send(progress).await;
    assert_eq!(h.client.recv().await, progress);

    // Ids 1 and "1" are different requests.
    h.client.send(r#"{"jsonrpc":"2.0","id":"1","method":"ping"}"#).await;
    h.server.recv().await;
    h.server.send(r#"{"jsonrpc":"2.0","id":"1","result":{}}"#).await;
    assert_eq!(h.client.recv().await, r#"{"jsonrpc":"2.0","id":"1","result":{}}"#);
}

#[tokio::test]
async fn a_denied_call_never_reaches_the_server_and_an_allowed_one_is_masked() {
    let mut h = start("support_bot", Duration::from_secs(30));
    h.client
        .send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete_customer","arguments":{"customer_id":"c-17","reason":"x"}}}"#)
        .await;
    let denied = h.client.recv_json().await;
    assert_eq!(denied["id"], 2);
    assert_eq!(denied["error"]["code"], -32001);
    assert!(denied["error"]["message"].as_str().unwrap().contains("crm_gateway.no-deletes"));

    h.client
        .send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"lookup_customer","arguments":{"customer_id":"c-17"},"_meta":{"progressToken":1}}}"#)
        .await;
    // The first thing the server sees is the allowed call: the denied one never came.
    let forwarded = h.server.recv_json().await;
    assert_eq!(forwarded["id"], 3);
    assert_eq!(forwarded["params"]["arguments"]["customer_id"], "c-17");
    assert_eq!(forwarded["params"]["_meta"]["progressToken"], 1);
    let record = json!({"id": "c-17", "ssn": "123-45-6789", "email": "ana@example.com", "phone": "+1 415 555 0142"});
    let reply = json!({"jsonrpc": "2.0", "id": 3, "result": {
        "content": [{"type": "text", "text": record.to_string()}, {"type": "resource_link", "uri": "crm://c-17", "name": "ana@example.com"}],
        "structuredContent": record,
        "isError": false
    }});
    h.server.send(&reply.to_string()).await;
    let masked = h.client.recv().await;
    assert!(!masked.contains("123-45-6789") && !masked.contains("ana@example.com"), "{masked}");
    let masked: Json = serde_json::from_str(&masked).unwrap();
    assert_eq!(masked["result"]["structuredContent"]["ssn"], "[REDACTED]");
    assert_eq!(masked["result"]["structuredContent"]["phone"], "****0142");
    let text: Json = serde_json::from_str(masked["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text["ssn"], "[REDACTED]");

    // An image cannot be inspected: under masks, the result is withheld.
    h.client
        .send(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"lookup_customer","arguments":{"customer_id":"c-18"}}}"#)
        .await;
    h.server.recv().await;
    h.server
        .send(
            r#"{"jsonrpc":"2.0","id":4,"result":{"content":[{"type":"image","data":"AAAA","mimeType":"image/png"}]}}"#,
        )
        .await;
    let withheld = h.client.recv_json().await;
    assert_eq!(withheld["id"], 4);
    assert_eq!(withheld["error"]["code"], -32001);
    assert!(withheld["error"]["message"].as_str().unwrap().contains("image content cannot be masked"), "{withheld}");
}

#[tokio::test]
async fn tools_list_shows_only_what_the_agent_may_call() {
    let mut h = start("support_bot", Duration::from_secs(30));
    h.client.send(r#"{"jsonrpc":"2.0","id":"l","method":"tools/list","params":{}}"#).await;
    h.server.recv().await;
    let tools: Vec<Json> =
        ["lookup_customer", "read_restricted_record", "send_email", "delete_customer", "unknown_tool"]
            .iter()
            .map(|n| json!({"name": n, "inputSchema": {"type": "object"}}))
            .collect();
    h.server
        .send(&json!({"jsonrpc": "2.0", "id": "l", "result": {"tools": tools, "nextCursor": "p2"}}).to_string())
        .await;
    let listed = h.client.recv_json().await;
    let names: Vec<&str> =
        listed["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["lookup_customer", "send_email"]);
    assert_eq!(listed["result"]["nextCursor"], "p2");
}

#[tokio::test]
async fn bad_input_from_the_client_is_answered_and_never_forwarded() {
    let mut h = start("support_bot", Duration::from_secs(30));
    h.client.send("{not json").await;
    assert_eq!(h.client.recv_json().await["error"]["code"], -32700);
    h.client.send(r#"{"jsonrpc":"2.0","id":null,"method":"tools/call"}"#).await;
    assert_eq!(h.client.recv_json().await["error"]["code"], -32600);
    h.client.send(r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"arguments":{}}}"#).await;
    assert_eq!(h.client.recv_json().await["error"]["code"], -32602);
    // A pending id cannot be reused for another request.
    h.client.send(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"lookup_customer","arguments":{"customer_id":"c-17"}}}"#).await;
    let first = h.server.recv_json().await;
    assert_eq!(first["id"], 5);
    h.client.send(r#"{"jsonrpc":"2.0","id":5,"method":"ping"}"#).await;
    let reused = h.client.recv_json().await;
    assert_eq!(reused["error"]["code"], -32600);
    // Only the tools/call reached the server.
    h.client.send(r#"{"jsonrpc":"2.0","method":"notifications/x"}"#).await;
    assert_eq!(h.server.recv().await, r#"{"jsonrpc":"2.0","method":"notifications/x"}"#);
}

#[tokio::test]
async fn a_dying_server_answers_pending_and_later_requests_with_errors() {
    let mut h = start("support_bot", Duration::from_secs(30));
    h.client.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).await;
    h.client.send(r#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"x"}}"#).await;
    h.server.recv().await;
    h.server.recv().await;
    // The server exits: its output closes and its status is known.
    let Harness { mut client, server, exit, proxy } = h;
    drop(server);
    exit.unwrap().send("exit status 3".into()).unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let e = client.recv_json().await;
        assert_eq!(e["error"]["code"], -32004);
        assert!(e["error"]["message"].as_str().unwrap().contains("exit status 3"), "{e}");
        ids.push(e["id"].clone());
    }
    ids.sort_by_key(|i| i.to_string());
    assert_eq!(ids, [json!(1), json!(2)]);
    client.send(r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#).await;
    let later = client.recv_json().await;
    assert_eq!((later["id"].clone(), later["error"]["code"].clone()), (json!(3), json!(-32004)));
    // The client closes: the proxy ends.
    client.out.shutdown().await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), proxy).await.unwrap().unwrap().unwrap();
}

#[tokio::test]
async fn a_hanging_server_times_out_and_is_told_to_cancel() {
    let mut h = start("gateway_probe", Duration::from_millis(200));
    h.client.send(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"hang","arguments":{}}}"#).await;
    assert_eq!(h.server.recv_json().await["id"], 7);
    let timed_out = h.client.recv_json().await;
    assert_eq!(timed_out["id"], 7);
    assert_eq!(timed_out["error"]["code"], -32003);
    let cancel = h.server.recv_json().await;
    assert_eq!(cancel["method"], "notifications/cancelled");
    assert_eq!(cancel["params"]["requestId"], 7);
    // A late answer is dropped; the next request works.
    h.server.send(r#"{"jsonrpc":"2.0","id":7,"result":{"content":[]}}"#).await;
    h.client.send(r#"{"jsonrpc":"2.0","id":8,"method":"ping"}"#).await;
    assert_eq!(h.server.recv_json().await["id"], 8);
    h.server.send(r#"{"jsonrpc":"2.0","id":8,"result":{}}"#).await;
    assert_eq!(h.client.recv_json().await["id"], 8);
}

/// Issue 14: an SSN and a card separated by a space reached the agent in a
/// tool result, and the audit log said the mask was applied. Now both are
/// masked, and the audit log's record of the result says what was masked
/// and how many values (never the values).
#[tokio::test]
async fn numbers_side_by_side_in_a_result_are_masked_and_the_audit_counts_them() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gate-side-by-side");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let extra = dir.join("numbers.ward");
    std::fs::write(
        &extra,
        "import stdlib.pii\n\npolicy numbers {\n  mask text with pii.ssn, pii.credit_card using redact\n    on action: lookup_customer\n}\n",
    )
    .unwrap();
    let log = dir.join("audit.log");
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/mcp-gateway");
    let config = GateConfig {
        policy: vec![examples, extra],
        agent: "support_bot".to_string(),
        audit_log: Some(log.clone()),
        ..GateConfig::default()
    };
    let mut h = start_with(Arc::new(Gate::new(&config).unwrap()), Duration::from_secs(30));
    h.client
        .send(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"lookup_customer","arguments":{"customer_id":"c-17"}}}"#)
        .await;
    h.server.recv().await;
    let reply = json!({"jsonrpc": "2.0", "id": 7, "result": {
        // JSON text, as the CRM answers: the example's own field mask
        // (`response.ssn`) needs JSON, and a text result under it is withheld.
        "content": [{"type": "text", "text": json!({
            "notes": "On file: 123-45-6789 4111111111111111 and SSNs: 123-45-6789 234-56-7890"
        }).to_string()}]
    }});
    h.server.send(&reply.to_string()).await;
    let masked = h.client.recv().await;
    for leak in ["123-45-6789", "4111111111111111", "234-56-7890"] {
        assert!(!masked.contains(leak), "{leak} reached the agent: {masked}");
    }
    let records: Vec<Json> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let result = records
        .iter()
        .find(|r| r["stage"] == "result")
        .unwrap_or_else(|| panic!("a record of the result's masking: {records:#?}"));
    let counts: Vec<(String, u64)> = result["masked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["by"].as_str().unwrap().to_string(), m["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(counts, [("credit_card".to_string(), 1), ("ssn".to_string(), 3)], "{result}");
    assert!(!result.to_string().contains("123-45-6789"));
}

/// Issue 15: a message with a duplicate key is refused, never decided on
/// its last value (a server that keeps the first would run another tool).
#[tokio::test]
async fn a_message_with_a_duplicate_key_is_refused_and_never_forwarded() {
    let mut h = start("support_bot", Duration::from_secs(30));
    h.client
        .send(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"delete_customer","name":"lookup_customer","arguments":{"customer_id":"c-17"}}}"#)
        .await;
    let refused = h.client.recv_json().await;
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("`name`"), "{refused}");
    h.client.send(r#"{"jsonrpc":"2.0","method":"notifications/x"}"#).await;
    assert_eq!(h.server.recv().await, r#"{"jsonrpc":"2.0","method":"notifications/x"}"#);
}
