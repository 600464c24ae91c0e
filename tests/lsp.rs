//! Drives the real `ward lsp` process over JSON-RPC on its stdin and stdout:
//! initialize, didOpen, didChange (full and incremental), diagnostics,
//! hover, definition, references, rename, completion, formatting, symbols,
//! semantic tokens, code actions (a "did you mean" and a hint),
//! stale-request cancellation, panic recovery and shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "support/lsp_client.rs"]
mod lsp_client;

use std::path::{Path, PathBuf};
use std::time::Duration;

use lsp_client::{Lsp, uri};
use serde_json::{Value, json};

const SCHEMA: &str = "/// The shop.
schema shop {
  entity User { region: Region }
  /// An AI agent.
  entity Agent { owner: User, scopes: Set<String> }
  /// One customer record.
  entity Customer { region: Region, tier: Tier, ssn?: String }
  enum Region { eu, us }
  enum Tier { standard, vip }
  action read, update by [Agent] on [Customer]
  context { mfa: Bool }
}
";

const POLICY: &str = "policy support {
  @id(\"read-own-region\")
  permit principal: Agent, action: read, resource: Customer
    when resource.region == principal.owner.region
}
";

const TESTS: &str = "test \"reads\" {
  request { principal: Agent::\"bot\", action: read, resource: Customer::\"c1\", context: { mfa: true } }
  expect allow by \"support.read-own-region\"
}
";

const WAIT: Duration = Duration::from_secs(30);

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn project(name: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::write(dir.join("schema.ward"), SCHEMA).unwrap();
    std::fs::write(dir.join("policy.ward"), POLICY).unwrap();
    std::fs::write(dir.join("tests.ward"), TESTS).unwrap();
    dir
}

fn start(dir: &Path) -> Lsp {
    let mut lsp = Lsp::start(env!("CARGO_BIN_EXE_ward"), &[("WARD_LSP_TEST_HOOKS", "1")]);
    let init = lsp.initialize(dir, json!({ "debounceMs": 5 }));
    let caps = &init["capabilities"];
    for cap in [
        "hoverProvider",
        "definitionProvider",
        "referencesProvider",
        "renameProvider",
        "completionProvider",
        "documentSymbolProvider",
        "workspaceSymbolProvider",
        "documentFormattingProvider",
        "codeActionProvider",
        "semanticTokensProvider",
    ] {
        assert!(!caps[cap].is_null(), "missing capability {cap}: {caps}");
    }
    assert_eq!(caps["textDocumentSync"]["change"], 2, "incremental sync");
    lsp
}

fn open(lsp: &mut Lsp, path: &Path, text: &str) -> String {
    let u = uri(path);
    lsp.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": u, "languageId": "ward", "version": 1, "text": text } }),
    );
    u
}

fn position(text: &str, needle: &str, inner: &str) -> Value {
    let offset = text.find(needle).unwrap() + needle.find(inner).unwrap();
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let character = before.len() - before.rfind('\n').map_or(0, |i| i + 1);
    json!({ "line": line, "character": character })
}

fn at(u: &str, pos: Value) -> Value {
    json!({ "textDocument": { "uri": u }, "position": pos })
}

#[test]
fn a_session_from_open_to_shutdown() {
    let dir = project("lsp_session");
    let mut lsp = start(&dir);
    let policy = open(&mut lsp, &dir.join("policy.ward"), POLICY);
    assert_eq!(lsp.diagnostics(&policy, WAIT).unwrap(), Vec::<Value>::new(), "a clean file");

    // Hover: an attribute, with its type.
    let hover = lsp.request("textDocument/hover", at(&policy, position(POLICY, "resource.region", "region")));
    let text = hover["contents"]["value"].as_str().unwrap();
    assert!(text.contains("Customer.region: Region"), "{hover}");
    assert_eq!(hover["range"]["start"], json!({ "line": 3, "character": 18 }));
    // Hover on a rule: its id and effect.
    let hover = lsp.request("textDocument/hover", at(&policy, position(POLICY, "permit", "permit")));
    assert!(hover["contents"]["value"].as_str().unwrap().contains("permit support.read-own-region"), "{hover}");

    // Definition: into another file of the workspace (loaded from disk).
    let defs = lsp.request("textDocument/definition", at(&policy, position(POLICY, "resource: Customer", "Customer")));
    assert_eq!(defs[0]["uri"], uri(&dir.join("schema.ward")));
    assert_eq!(defs[0]["range"]["start"], json!({ "line": 6, "character": 9 }));

    // References of the rule: its id in the test file.
    let refs = lsp.request(
        "textDocument/references",
        json!({ "textDocument": { "uri": policy }, "position": position(POLICY, "permit", "permit"),
                "context": { "includeDeclaration": false } }),
    );
    assert_eq!(refs.as_array().unwrap().len(), 1, "{refs}");
    assert_eq!(refs[0]["uri"], uri(&dir.join("tests.ward")));

    // Completion after `.`, on text that does not parse yet (incremental edit).
    let end_of_when = position(POLICY, "principal.owner.region\n", "\n");
    lsp.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": policy, "version": 2 },
                "contentChanges": [{ "range": { "start": end_of_when, "end": end_of_when }, "text": " && resource." }] }),
    );
    let mut after_dot = end_of_when.clone();
    after_dot["character"] = json!(end_of_when["character"].as_u64().unwrap() + " && resource.".len() as u64);
    let items = lsp.request("textDocument/completion", at(&policy, after_dot));
    let labels: Vec<&str> = items.as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["region", "ssn", "tier"], "{items}");
    let diags = lsp.diagnostics(&policy, WAIT).unwrap();
    assert!(diags.iter().any(|d| d["code"] == "E0001" || d["code"].as_str().unwrap().starts_with("E00")), "{diags:?}");

    // A typo (full-text sync): diagnostics with a related location, and a fix.
    let typo = POLICY.replace("resource.region", "resource.regoin");
    lsp.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": policy, "version": 3 }, "contentChanges": [{ "text": typo }] }),
    );
    let diags = lsp.diagnostics(&policy, WAIT).unwrap();
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["code"], "E0104");
    assert!(diags[0]["message"].as_str().unwrap().contains("did you mean `region`?"));
    let related = &diags[0]["relatedInformation"][0];
    assert_eq!(related["location"]["uri"], uri(&dir.join("schema.ward")), "{diags:?}");
    let actions = lsp.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": policy }, "range": diags[0]["range"], "context": { "diagnostics": diags } }),
    );
    assert_eq!(actions[0]["title"], "Replace `regoin` with `region`", "{actions}");
    assert_eq!(actions[0]["edit"]["changes"][&policy][0]["newText"], "region");

    // A hint for a common mistake, `=` for `==`, and its fix.
    let assignment = POLICY.replace("resource.region ==", "resource.region =");
    lsp.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": policy, "version": 4 }, "contentChanges": [{ "text": assignment }] }),
    );
    let diags = lsp.diagnostics(&policy, WAIT).unwrap();
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["code"], "E0001");
    let actions = lsp.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": policy }, "range": diags[0]["range"], "context": { "diagnostics": diags } }),
    );
    assert_eq!(actions[0]["title"], "Replace `=` with `==`", "{actions}");
    assert_eq!(actions[0]["edit"]["changes"][&policy][0]["newText"], "==");

    // Back to clean: only the changed file is published, empty.
    lsp.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": policy, "version": 5 }, "contentChanges": [{ "text": POLICY }] }),
    );
    assert_eq!(lsp.diagnostics(&policy, WAIT).unwrap(), Vec::<Value>::new());

    // Rename an attribute across files.
    let edit = lsp.request(
        "textDocument/rename",
        json!({ "textDocument": { "uri": policy }, "position": position(POLICY, "resource.region", "region"), "newName": "area" }),
    );
    let changes = edit["changes"].as_object().unwrap();
    assert_eq!(changes.len(), 2, "{edit}");
    assert_eq!(changes[&policy].as_array().unwrap().len(), 1);

    // Outline, workspace symbols, semantic tokens.
    let outline = lsp.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": policy } }));
    assert_eq!(outline[0]["name"], "support");
    assert_eq!(outline[0]["children"][0]["name"], "read-own-region");
    let found = lsp.request("workspace/symbol", json!({ "query": "Custom" }));
    assert_eq!(found[0]["name"], "Customer", "{found}");
    let tokens = lsp.request("textDocument/semanticTokens/full", json!({ "textDocument": { "uri": policy } }));
    assert!(tokens["data"].as_array().unwrap().len() > 20);

    // Formatting: the `ward fmt` layout.
    let messy = "policy   support {\n@id(\"read-own-region\") permit principal: Agent, action: read, resource: Customer when resource.region == principal.owner.region\n}\n";
    lsp.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": policy, "version": 6 }, "contentChanges": [{ "text": messy }] }),
    );
    let edits = lsp.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": policy }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    assert_eq!(edits[0]["newText"], POLICY, "{edits}");

    let status = lsp.shutdown();
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_stale_request_is_cancelled_and_a_panic_is_survived() {
    let dir = project("lsp_robust");
    let mut lsp = start(&dir);
    let policy = open(&mut lsp, &dir.join("policy.ward"), POLICY);
    lsp.diagnostics(&policy, WAIT).unwrap();

    // A query that is still running when the document changes is answered
    // with ContentModified, not with an answer for the old text.
    lsp.request("ward/debugSetDelay", json!({ "ms": 300 }));
    let id = lsp.send_request("textDocument/hover", at(&policy, position(POLICY, "resource.region", "region")));
    lsp.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": policy, "version": 2 }, "contentChanges": [{ "text": format!("\n{POLICY}") }] }),
    );
    let response = lsp.response(id);
    assert_eq!(response["error"]["code"], -32801, "{response}");
    lsp.request("ward/debugSetDelay", json!({ "ms": 0 }));

    // A panic inside a handler is caught: an error answer, and the server keeps serving.
    let id = lsp.send_request("ward/debugPanic", json!({ "uri": policy }));
    let response = lsp.response(id);
    assert_eq!(response["error"]["code"], -32603, "{response}");
    let moved = format!("\n{POLICY}");
    let hover = lsp.request("textDocument/hover", at(&policy, position(&moved, "resource.region", "region")));
    assert!(hover["contents"]["value"].as_str().unwrap().contains("Customer.region"), "{hover}");

    // A file with a syntax error still gets hover in its intact items.
    let broken = format!("{POLICY}\npolicy broken {{\n  permit when resource.\n}}\n");
    lsp.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": policy, "version": 3 }, "contentChanges": [{ "text": broken }] }),
    );
    let hover = lsp.request("textDocument/hover", at(&policy, position(&broken, "principal.owner", "owner")));
    assert!(hover["contents"]["value"].as_str().unwrap().contains("Agent.owner: User"), "{hover}");
    assert!(lsp.shutdown().success());
}

#[test]
fn files_opened_outside_the_workspace_are_checked() {
    let dir = project("lsp_outside");
    let other = scratch("lsp_outside_other");
    let mut lsp = start(&dir);
    let path = other.join("extra.ward");
    let u = open(&mut lsp, &path, "policy extra {\n  permit action: raed\n}\n");
    let diags = lsp.diagnostics(&u, WAIT).unwrap();
    assert_eq!(diags[0]["code"], "E0102", "{diags:?}");
    // Closing a file that is not on disk drops it and clears its diagnostics.
    lsp.notify("textDocument/didClose", json!({ "textDocument": { "uri": u } }));
    assert_eq!(lsp.diagnostics(&u, WAIT).unwrap(), Vec::<Value>::new());
    assert!(lsp.shutdown().success());
}

/// Issue 15: random bytes and JSON that is not JSON-RPC used to end the
/// session (exit 0, nothing said). Each is answered per JSON-RPC (-32700
/// parse error, -32600 invalid request, id null), logged to the client,
/// and the server keeps serving.
#[test]
fn garbage_on_stdin_is_answered_and_the_server_keeps_serving() {
    let dir = project("lsp-garbage");
    let mut lsp = start(&dir);
    lsp.drain();
    let mut errors = Vec::new();
    let mut logs = Vec::new();
    let collect = |lsp: &mut lsp_client::Lsp, errors: &mut Vec<Value>, logs: &mut Vec<Value>, want: usize| {
        while errors.len() < want {
            let m = lsp.next(WAIT).expect("an answer to the bad input");
            if m.get("error").is_some() {
                errors.push(m);
            } else if m["method"] == "window/logMessage" {
                logs.push(m);
            }
        }
    };
    // Random bytes, no header at all.
    lsp.send_raw(b"\x00\xffgarbage\r\n\r\n{]]\x7f");
    collect(&mut lsp, &mut errors, &mut logs, 1);
    // A well-framed body that is not JSON.
    lsp.send_raw(b"Content-Length: 9\r\n\r\nnot json!");
    collect(&mut lsp, &mut errors, &mut logs, 2);
    // Well-framed JSON that is not a JSON-RPC message.
    let body = r#"{"hello": "world"}"#;
    lsp.send_raw(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    collect(&mut lsp, &mut errors, &mut logs, 3);
    assert_eq!(errors[0]["error"]["code"], -32700, "{errors:?}");
    assert_eq!(errors[1]["error"]["code"], -32700, "{errors:?}");
    assert_eq!(errors[2]["error"]["code"], -32600, "{errors:?}");
    assert!(errors.iter().all(|e| e["id"].is_null()), "{errors:?}");
    // Still serving: a request is answered.
    let u = open(&mut lsp, &dir.join("policy.ward"), POLICY);
    let hover = lsp.request("textDocument/hover", at(&u, position(POLICY, "resource: Customer", "Customer")));
    assert!(hover.to_string().contains("customer record"), "{hover}");
    // Logged to the client (the log messages may come after the errors).
    while logs.len() < 3 {
        match lsp.next(Duration::from_secs(5)) {
            Some(m) if m["method"] == "window/logMessage" => logs.push(m),
            Some(_) => {}
            None => break,
        }
    }
    assert!(logs.len() >= 3, "{logs:?}");
    assert!(lsp.running());
    assert!(lsp.shutdown().success());
}

/// Issue 16: a folder holding several projects (each with its `ward.toml`)
/// is several programs: two projects declaring the same schema draw no
/// duplicate-declaration errors, and each project's settings apply to it
/// alone (here `[check] max_window`).
#[test]
fn each_ward_toml_marks_a_separate_program() {
    let root = scratch("lsp_projects");
    let window = "policy flows {\n  forbid action: update when previously within 48h action: read\n}\n";
    for (name, toml) in [("a", ""), ("b", "[check]\nmax_window = \"48h\"\n")] {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ward.toml"), toml).unwrap();
        std::fs::write(dir.join("schema.ward"), SCHEMA).unwrap();
        std::fs::write(dir.join("policy.ward"), POLICY).unwrap();
        std::fs::write(dir.join("flows.ward"), window).unwrap();
    }
    let mut lsp = start(&root);
    for name in ["a", "b"] {
        let u = open(&mut lsp, &root.join(name).join("schema.ward"), SCHEMA);
        assert_eq!(lsp.diagnostics(&u, WAIT).unwrap(), Vec::<Value>::new(), "{name}/schema.ward");
        let u = open(&mut lsp, &root.join(name).join("policy.ward"), POLICY);
        assert_eq!(lsp.diagnostics(&u, WAIT).unwrap(), Vec::<Value>::new(), "{name}/policy.ward");
    }
    let u = open(&mut lsp, &root.join("a/flows.ward"), window);
    let diags = lsp.diagnostics(&u, WAIT).unwrap();
    assert!(diags.iter().any(|d| d["message"].as_str().unwrap_or("").contains("window")), "a: {diags:?}");
    let u = open(&mut lsp, &root.join("b/flows.ward"), window);
    assert_eq!(lsp.diagnostics(&u, WAIT).unwrap(), Vec::<Value>::new(), "b allows 48h");
    assert!(lsp.shutdown().success());
}
