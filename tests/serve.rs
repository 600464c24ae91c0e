//! `ward serve` through the real binary on 127.0.0.1: status codes, TLS,
//! reload by SIGHUP and by file change, bad bundles refused while the old
//! policy keeps serving, metrics, audit; and `ward build` refusing to serve
//! tampered or wrongly signed bundles.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "support/serve.rs"]
mod support;

use std::sync::Arc;

use support::*;

#[test]
fn decides_and_answers_each_status() {
    let p = Project::new("statuses", false);
    let audit = p.dir.join("audit.jsonl");
    let config = p.config(
        "max_body_bytes = 4096\nrate_limit_per_second = 0",
        "watch_interval_ms = 0",
        &format!("[audit]\nlog = {:?}\nsync = \"record\"", audit.to_str().unwrap()),
    );
    let s = Server::start(&["--config", config.to_str().unwrap()]);

    // One server throughout: the metrics and the audit log count every call before them.
    answers_200(&s);
    answers_400(&s);
    answers_401_and_403(&s);
    answers_413_404_and_405(&s);
    decides_batches(&s);
    masks(&s);
    serves_policy_health_and_metrics(&s);

    // Every decision (including refusals) is in the audit log, and the chain verifies.
    drop(s);
    let out = ward(&["audit", "verify", audit.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains(": 11 records verified"), "{}", text(&out.stdout));
    // The mask batch's record says what was masked, never the values.
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(log.contains(r#""masked":[{"rule":"p.emails","by":"email","method":"redact","count":3}]"#), "{log}");
    assert!(!log.contains("@example.com"), "{log}");
}

/// 200: allow and deny, with the policy that decided.
fn answers_200(s: &Server) {
    let r = s.call("POST", "/v1/decide", Some(TOKEN_ALL), Some(&request_json("u1", "read")));
    assert_eq!(r.status, 200, "{}", r.body);
    let d = r.json();
    assert_eq!(d["effect"], "allow");
    assert_eq!(d["reasons"][0]["rule"], "p.read");
    assert!(d["policy"]["hash"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(d["policy"]["version"], 1);
    let r = s.call("POST", "/v1/decide", Some(TOKEN_ALL), Some(&request_json("u0", "read")));
    assert_eq!((r.status, r.json()["effect"].as_str()), (200, Some("deny")));
}

/// 400: not JSON, missing field, entities in the request, unknown action, wrong context type.
fn answers_400(s: &Server) {
    let bad = [
        ("{not json", "not valid JSON"),
        (r#"{"action": "read", "resource": {"type": "Doc", "id": "d"}}"#, "principal"),
        (
            r#"{"principal": {"type": "User", "id": "u1"}, "action": "read", "resource": {"type": "Doc", "id": "d"}, "context": {"note": "n"}, "entities": []}"#,
            "entities",
        ),
        (&request_json("u1", "delete"), "delete"),
        (
            r#"{"principal": {"type": "User", "id": "u1"}, "action": "read", "resource": {"type": "Doc", "id": "d"}, "context": {"note": 7}}"#,
            "note",
        ),
        ("[]", "object"),
    ];
    for (body, names) in bad {
        let r = s.call("POST", "/v1/decide", Some(TOKEN_ALL), Some(body));
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        let e = r.json();
        let message = e["error"].as_str().unwrap();
        assert!(message.contains(names), "{body}: the error should name `{names}`: {message}");
        assert_ne!(e["decision"]["effect"], "allow");
    }
}

/// 401 without a token or with an unknown one; 403 without the scope.
fn answers_401_and_403(s: &Server) {
    let r = s.call("POST", "/v1/decide", None, Some(&request_json("u1", "read")));
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = s.call("POST", "/v1/decide", Some("no-such-token"), Some(&request_json("u1", "read")));
    assert_eq!(r.status, 401);
    let r = s.call("POST", "/v1/decide", Some(TOKEN_MASK_ONLY), Some(&request_json("u1", "read")));
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("decide"));
    let r = s.call("GET", "/metrics", Some(TOKEN_MASK_ONLY), None);
    assert_eq!(r.status, 403);
    let r = s.call("POST", "/v1/reload", Some(TOKEN_ALL), None);
    assert_eq!(r.status, 403);
}

/// 413: over the body limit (declared, and in a batch over the count limit is also 413).
fn answers_413_404_and_405(s: &Server) {
    let big = format!(r#"{{"pad": "{}"}}"#, "x".repeat(5000));
    let r = s.call("POST", "/v1/decide", Some(TOKEN_ALL), Some(&big));
    assert_eq!(r.status, 413, "{}", r.body);

    // 404 names the path.
    let r = s.call("GET", "/v2/nothing", Some(TOKEN_ALL), None);
    assert_eq!(r.status, 404);
    let r = s.call("GET", "/v1/decide", Some(TOKEN_ALL), None);
    assert_eq!(r.status, 405);
    assert!(r.json()["error"].as_str().unwrap().contains("GET"));
}

/// Batch: one policy version for all, per-request decisions in order.
fn decides_batches(s: &Server) {
    let batch = format!(
        r#"{{"requests": [{}, {}, {}]}}"#,
        request_json("u1", "read"),
        request_json("u0", "read"),
        request_json("u1", "write")
    );
    let r = s.call("POST", "/v1/decide/batch", Some(TOKEN_ALL), Some(&batch));
    assert_eq!(r.status, 200, "{}", r.body);
    let b = r.json();
    let effects: Vec<&str> = b["decisions"].as_array().unwrap().iter().map(|d| d["effect"].as_str().unwrap()).collect();
    assert_eq!(effects, ["allow", "deny", "deny"]);
    assert_eq!(b["policy"]["version"], 1);
    let r = s.call("POST", "/v1/decide/batch", Some(TOKEN_ALL), Some(r#"{"requests": [{"action": 1}]}"#));
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().starts_with("requests[0]."), "{}", r.body);
}

/// Mask: text masked for an allow, nothing released for a deny.
fn masks(s: &Server) {
    let body = format!(r#"{{"request": {}, "text": "write to ana@example.com please"}}"#, request_json("u1", "read"));
    let r = s.call("POST", "/v1/mask", Some(TOKEN_MASK_ONLY), Some(&body));
    assert_eq!(r.status, 200, "{}", r.body);
    let m = r.json();
    assert_eq!(m["decision"]["effect"], "allow");
    let masked = m["text"].as_str().unwrap();
    assert!(!masked.contains("ana@example.com"), "{masked}");
    let body = format!(r#"{{"request": {}, "text": "ana@example.com"}}"#, request_json("u0", "read"));
    let m = s.call("POST", "/v1/mask", Some(TOKEN_MASK_ONLY), Some(&body)).json();
    assert_eq!(m["decision"]["effect"], "deny");
    assert!(m.get("text").is_none() && m.get("payload").is_none(), "{m}");
    let r = s.call("POST", "/v1/mask", Some(TOKEN_MASK_ONLY), Some(r#"{"request": {}, "text": "x", "payload": 1}"#));
    assert_eq!(r.status, 400);

    // Mask batch (issue 14): one request, many documents, one decision;
    // the decision says what was masked and how many values.
    let body = format!(
        r#"{{"request": {}, "items": [{{"text": "write to ana@example.com"}}, {{"payload": {{"to": ["bo@example.com", "cy@example.com"], "n": 3}}}}, {{"text": "nothing here"}}]}}"#,
        request_json("u1", "read")
    );
    let r = s.call("POST", "/v1/mask/batch", Some(TOKEN_MASK_ONLY), Some(&body));
    assert_eq!(r.status, 200, "{}", r.body);
    let m = r.json();
    assert!(!r.body.contains("@example.com"), "{}", r.body);
    assert_eq!(m["items"][0]["text"], "write to [REDACTED:email]");
    assert_eq!(m["items"][1]["payload"], serde_json::json!({"to": ["[REDACTED:email]", "[REDACTED:email]"], "n": 3}));
    assert_eq!(m["items"][2]["text"], "nothing here");
    assert_eq!(
        m["decision"]["masked"],
        serde_json::json!([{"rule": "p.emails", "by": "email", "method": "redact", "count": 3}])
    );
    // A deny releases no item; a malformed item is a 400 naming it; the batch limit holds.
    let body = format!(r#"{{"request": {}, "items": [{{"text": "ana@example.com"}}]}}"#, request_json("u0", "read"));
    let m = s.call("POST", "/v1/mask/batch", Some(TOKEN_MASK_ONLY), Some(&body)).json();
    assert_eq!(m["decision"]["effect"], "deny");
    assert!(m.get("items").is_none(), "{m}");
    let body = format!(r#"{{"request": {}, "items": [{{"text": 1}}]}}"#, request_json("u1", "read"));
    let r = s.call("POST", "/v1/mask/batch", Some(TOKEN_MASK_ONLY), Some(&body));
    assert_eq!((r.status, r.json()["error"].as_str()), (400, Some("items[0].text: expected a string")));
    assert_eq!(s.call("POST", "/v1/mask/batch", None, Some(&body)).status, 401);
}

/// Policy, health, metrics.
fn serves_policy_health_and_metrics(s: &Server) {
    let v = s.call("GET", "/v1/policy", Some(TOKEN_MASK_ONLY), None).json();
    assert_eq!(v["version"], 1);
    assert!(v["files"].as_array().unwrap().len() == 2, "{v}");
    assert!(v["loaded_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(s.call("GET", "/v1/policy", None, None).status, 401);
    let h = s.call("GET", "/healthz", None, None);
    assert_eq!((h.status, h.json()["status"].as_str()), (200, Some("ok")));
    let r = s.call("GET", "/metrics", Some(TOKEN_ALL), None);
    assert_eq!(r.status, 200);
    let m = r.body;
    assert!(m.contains("ward_decisions_total{effect=\"allow\"} 4"), "{m}");
    assert!(m.contains("ward_rule_decisions_total{rule=\"p.read\"} 4"), "{m}");
    assert!(m.contains("ward_request_duration_seconds_bucket{endpoint=\"decide\",le=\"+Inf\"}"), "{m}");
    assert!(m.contains("ward_errors_total{kind=\"unauthorized\"} 4"), "{m}");
    assert!(m.contains("ward_errors_total{kind=\"forbidden\"} 3"), "{m}");
    assert!(m.contains("ward_errors_total{kind=\"too_large\"} 1"), "{m}");
    assert!(m.contains("ward_reloads_total{result=\"ok\"} 0"), "{m}");
}

#[test]
fn rate_limit_answers_429_with_retry_after() {
    let p = Project::new("ratelimit", false);
    let config = p.config("rate_limit_per_second = 1\nrate_limit_burst = 3", "watch_interval_ms = 0", "");
    let s = Server::start(&["--config", config.to_str().unwrap()]);
    // A connection per request: a 429 is sent without reading the body, after
    // which the server may close the connection (the limit is per token, not
    // per connection).
    let statuses: Vec<u16> = (0..6)
        .map(|_| s.connect().request("POST", "/v1/decide", Some(TOKEN_ALL), Some(&request_json("u1", "read"))).unwrap())
        .map(|r| {
            if r.status == 429 {
                let secs: u64 = r.header("retry-after").unwrap().parse().unwrap();
                assert!(secs >= 1);
                assert!(r.json()["error"].as_str().unwrap().contains("rate limit"));
            }
            r.status
        })
        .collect();
    assert_eq!(&statuses[..3], [200, 200, 200], "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    // The limit is per client: another token is not affected.
    let r = s.call(
        "POST",
        "/v1/mask",
        Some(TOKEN_MASK_ONLY),
        Some(&format!(r#"{{"request": {}, "text": "hi"}}"#, request_json("u1", "read"))),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn reloads_on_sighup_and_keeps_serving_when_the_new_bundle_is_bad() {
    let p = Project::new("sighup", true);
    let config = p.config(
        "rate_limit_per_second = 0",
        &format!("watch_interval_ms = 0\ntrusted_key = {:?}", p.dir.join("signer.pub").to_str().unwrap()),
        "",
    );
    let s = Server::start(&["--config", config.to_str().unwrap()]);
    let v1 = s.call("GET", "/v1/policy", Some(TOKEN_ALL), None).json();
    assert_eq!(v1["version"], 1);
    assert!(v1["signed_by"].is_string());
    let allowed = |s: &Server| s.call("POST", "/v1/decide", Some(TOKEN_ALL), Some(&request_json("u1", "read"))).json();
    assert_eq!(allowed(&s)["effect"], "allow");

    p.serve_bundle(&p.bundle_b);
    s.signal("-HUP");
    let v2 = s.wait_for("version 2", |v| v["version"] == 2);
    assert_ne!(v2["hash"], v1["hash"]);
    let d = allowed(&s);
    assert_eq!(d["effect"], "deny", "u1 may not read under B: {d}");
    assert_eq!(d["policy"]["version"], 2);

    // Bad bundles: garbage, a tampered one, one signed by another key, an unsigned one.
    let good = std::fs::read(&p.bundle_a).unwrap();
    let mut tampered = good.clone();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 1;
    let other_dir = p.dir.join("a");
    let other = p.dir.join("other-signed.bundle");
    let out = ward(&[
        "build",
        other_dir.to_str().unwrap(),
        "-o",
        other.to_str().unwrap(),
        "--sign",
        p.dir.join("other.key").to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let unsigned = p.dir.join("unsigned.bundle");
    assert!(ward(&["build", other_dir.to_str().unwrap(), "-o", unsigned.to_str().unwrap()]).status.success());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not a Ward bundle", b"garbage".to_vec()),
        ("altered", tampered),
        ("not by the trusted key", std::fs::read(&other).unwrap()),
        ("not signed", std::fs::read(&unsigned).unwrap()),
        ("truncated", good[..good.len() - 10].to_vec()),
    ];
    for (i, (why, bytes)) in cases.iter().enumerate() {
        let tmp = p.dir.join("bad.tmp");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, &p.served).unwrap();
        s.signal("-HUP");
        let want = format!("ward_reloads_total{{result=\"failed\"}} {}", i + 1);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        // Counted in the metrics and said in the log (which the reader thread may see later).
        while !s.call("GET", "/metrics", Some(TOKEN_ALL), None).body.contains(&want) || !s.stderr().contains(why) {
            assert!(std::time::Instant::now() < deadline, "no refusal counted and logged for `{why}`: {}", s.stderr());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        // Still version 2, still deciding.
        assert_eq!(s.call("GET", "/v1/policy", Some(TOKEN_ALL), None).json()["version"], 2);
        let d = allowed(&s);
        assert_eq!((d["effect"].as_str(), d["policy"]["version"].as_u64()), (Some("deny"), Some(2)));
    }
    // The admin endpoint reports a refusal with 409 and what is still served.
    let r = s.call("POST", "/v1/reload", Some(TOKEN_ADMIN), None);
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["serving"]["version"], 2);
    // A good bundle again.
    p.serve_bundle(&p.bundle_a);
    let r = s.call("POST", "/v1/reload", Some(TOKEN_ADMIN), None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["version"], 3);
    assert_eq!(allowed(&s)["effect"], "allow");
}

#[test]
fn reloads_when_the_bundle_file_changes() {
    let p = Project::new("watch", false);
    let config = p.config("", "watch_interval_ms = 50", "");
    let s = Server::start(&["--config", config.to_str().unwrap()]);
    let v1 = s.call("GET", "/v1/policy", Some(TOKEN_ALL), None).json();
    p.serve_bundle(&p.bundle_b);
    let v2 = s.wait_for("the watcher to load B", |v| v["hash"] != v1["hash"]);
    assert_eq!(v2["version"], 2);
    // The log line may still be in flight when the new version is served.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !s.stderr().contains("reloaded on a file change") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(s.stderr().contains("reloaded on a file change"), "{}", s.stderr());
    // Entities count as the policy too.
    std::fs::write(p.dir.join("entities.json"), r#"[{"uid": {"type": "User", "id": "u1"}, "attrs": {"level": 5}}]"#)
        .unwrap();
    s.wait_for("the watcher to load new entities", |v| v["version"] == 3);
    let d = s.call("POST", "/v1/decide", Some(TOKEN_ALL), Some(&request_json("u1", "read"))).json();
    assert_eq!(d["effect"], "allow", "u1 is level 5 now: {d}");
    // Bad entities are refused like a bad bundle.
    std::fs::write(p.dir.join("entities.json"), "[{").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !s.stderr().contains("refused, still serving version 3") {
        assert!(std::time::Instant::now() < deadline, "{}", s.stderr());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        s.call("POST", "/v1/decide", Some(TOKEN_ALL), Some(&request_json("u1", "read"))).json()["effect"],
        "allow"
    );
}

#[test]
fn refuses_bad_bundles_and_unsafe_listeners_at_start() {
    let p = Project::new("start", true);
    let bundle = p.served.to_str().unwrap();
    // Plain HTTP off loopback needs --insecure (checked before anything is bound).
    let out = ward(&["serve", "--bundle", bundle, "--listen", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("without TLS"), "{}", text(&out.stderr));
    // A bundle signed by another key than the trusted one.
    let other = p.dir.join("other.pub");
    let out = ward(&["serve", "--bundle", bundle, "--listen", "127.0.0.1:0", "--trusted-key", other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not by the trusted key"), "{}", text(&out.stderr));
    // A tampered bundle.
    let mut bytes = std::fs::read(&p.served).unwrap();
    let n = bytes.len() - 40;
    bytes[n] ^= 0xff;
    let bad = p.dir.join("bad.bundle");
    std::fs::write(&bad, bytes).unwrap();
    let out = ward(&["serve", "--bundle", bad.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("signature does not verify"), "{}", text(&out.stderr));
    // `ward build` refuses a policy with errors and writes nothing.
    std::fs::write(p.dir.join("broken.ward"), "policy {").unwrap();
    let out =
        ward(&["build", p.dir.join("broken.ward").to_str().unwrap(), "-o", p.dir.join("x.bundle").to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    assert!(!p.dir.join("x.bundle").exists());
}

#[test]
fn serves_tls_with_a_self_signed_certificate() {
    let p = Project::new("tls", false);
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    std::fs::write(p.dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(p.dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let config = p.config("tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"", "watch_interval_ms = 0", "");
    let s = Server::start(&["--config", config.to_str().unwrap()]);
    assert!(s.tls);

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(client), name).unwrap();
    let tcp = std::net::TcpStream::connect(s.addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
    let mut c = Conn::over(Box::new(rustls::StreamOwned::new(conn, tcp)), "localhost");
    let r = c.request("POST", "/v1/decide", Some(TOKEN_ALL), Some(&request_json("u1", "read"))).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["effect"], "allow");
    // Keep-alive over TLS.
    let r = c.request("GET", "/healthz", None, None).unwrap();
    assert_eq!(r.status, 200);

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = Conn::plain(s.addr).request("GET", "/healthz", None, None);
    assert!(plain.is_err() || plain.unwrap().status != 200);
    // The server is still fine after that.
    let r = c.request("GET", "/healthz", None, None).unwrap();
    assert_eq!(r.status, 200);
}

#[test]
fn a_body_that_never_arrives_times_out_with_408() {
    let p = Project::new("timeout", false);
    let config = p.config("request_timeout_ms = 300", "watch_interval_ms = 0", "");
    let s = Server::start(&["--config", config.to_str().unwrap()]);
    let mut tcp = std::net::TcpStream::connect(s.addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
    use std::io::{Read, Write};
    let head = format!(
        "POST /v1/decide HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN_ALL}\r\nContent-Length: 100\r\n\r\n{{\"princ"
    );
    tcp.write_all(head.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("longer than 300 ms"), "{answer}");
}

#[test]
fn token_and_keygen_commands() {
    let out = ward(&["token", "--name", "bot", "--scope", "decide", "--scope", "mask"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_string();
    assert!(token.starts_with("ward_") && token.len() > 40, "{token}");
    let entry = text(&out.stderr);
    assert!(entry.contains(&format!("sha256 = \"{}\"", sha256_hex(&token))), "{entry}");
    assert!(entry.contains("scopes = [\"decide\", \"mask\"]"), "{entry}");
    assert!(!entry.contains(&token), "the configuration entry must not hold the token");
    let out = ward(&["token", "--name", "bot", "--scope", "root"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown scope `root`"));

    let dir = scratch("keygen");
    let prefix = dir.join("k");
    assert!(ward(&["keygen", "-o", prefix.to_str().unwrap()]).status.success());
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(dir.join("k.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the private key must not be readable by others: {mode:o}");
    let first = std::fs::read(dir.join("k.key")).unwrap();
    let out = ward(&["keygen", "-o", prefix.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(dir.join("k.key")).unwrap(), first);
}

/// Issue 15: a body with a duplicate key is refused with 400 naming it,
/// never decided as its last value (a proxy in front that keeps the first
/// would act on another request than the one Ward decided).
#[test]
fn duplicate_keys_in_bodies_are_refused_with_400_naming_the_key() {
    let p = Project::new("duplicate-keys", false);
    let config = p.config("rate_limit_per_second = 0", "watch_interval_ms = 0", "");
    let s = Server::start(&["--config", config.to_str().unwrap()]);
    let twice = r#"{"principal": {"type": "User", "id": "u1"}, "action": "delete", "action": "read", "resource": {"type": "Doc", "id": "d"}, "context": {"note": "n"}}"#;
    let r = s.call("POST", "/v1/decide", Some(TOKEN_ALL), Some(twice));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("`action` appears twice"), "{}", r.body);
    let batch = format!(r#"{{"requests": [{}, {twice}]}}"#, request_json("u1", "read"));
    let r = s.call("POST", "/v1/decide/batch", Some(TOKEN_ALL), Some(&batch));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("requests[1].action"), "{}", r.body);
}

#[test]
fn results_reported_to_v1_results_record_the_facts_of_result_flows() {
    let p = Project::new("results", false);
    // A policy whose flow reads the earlier read's result (docs/language.md §10.1).
    let src = p.dir.join("c");
    std::fs::create_dir_all(&src).unwrap();
    let schema = "schema s {\n  entity User { level: Int }\n  entity Doc\n  enum Tier { standard, vip }\n  \
                  action read by [User] on [Doc] with { note: String } returns { tier: Tier }\n  \
                  action write by [User] on [Doc] with { note: String }\n}\n";
    let policy = "policy p {\n  @id(\"all\")\n  permit\n\n  @id(\"no-write-after-vip\")\n  forbid action: write\n    \
                  when previously within 1h action: read where response.tier == Tier::vip\n}\n";
    std::fs::write(src.join("schema.ward"), schema).unwrap();
    std::fs::write(src.join("policy.ward"), policy).unwrap();
    let bundle = p.dir.join("c.bundle");
    let out = ward(&["build", src.to_str().unwrap(), "-o", bundle.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    p.serve_bundle(&bundle);
    let audit = p.dir.join("audit.jsonl");
    let config = p.config(
        "rate_limit_per_second = 0",
        "watch_interval_ms = 0",
        &format!("[audit]\nlog = {:?}\nsync = \"record\"", audit.to_str().unwrap()),
    );
    let s = Server::start(&["--config", config.to_str().unwrap()]);
    let read = |user: &str| serde_json::from_str::<serde_json::Value>(&request_json(user, "read")).unwrap();
    let report =
        |body: serde_json::Value, token: Option<&str>| s.call("POST", "/v1/results", token, Some(&body.to_string()));
    let write_effect = |user: &str| {
        let r = s.call("POST", "/v1/decide", Some(TOKEN_ALL), Some(&request_json(user, "write")));
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["effect"].as_str().unwrap().to_string()
    };

    assert_eq!(write_effect("u1"), "allow");
    // A standard document: no fact (fields the `returns` type does not declare are ignored).
    let r =
        report(serde_json::json!({"request": read("u1"), "result": {"tier": "standard", "pages": 3}}), Some(TOKEN_ALL));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["facts"], serde_json::json!([]));
    assert_eq!(write_effect("u1"), "allow");
    // A VIP one: the fact is named, and the write is denied.
    let r = report(serde_json::json!({"request": read("u1"), "result": {"tier": "vip"}}), Some(TOKEN_ALL));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["facts"], serde_json::json!(["p.no-write-after-vip/previously"]));
    assert!(r.json()["policy"]["hash"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(write_effect("u1"), "deny");
    // A result that cannot be read makes the flow unknown: the forbid applies.
    assert_eq!(write_effect("u2"), "allow");
    let r = report(serde_json::json!({"request": read("u2"), "unreadable": "the body was HTML"}), Some(TOKEN_ALL));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["unknown"][0]["why"], "the body was HTML");
    assert_eq!(write_effect("u2"), "deny");
    let r = report(serde_json::json!({"request": read("u3"), "result": {"tier": "gold"}}), Some(TOKEN_ALL));
    assert!(r.json()["unknown"][0]["why"].as_str().unwrap().starts_with("response.tier"), "{}", r.body);
    assert_eq!(write_effect("u3"), "deny");

    // Malformed reports are 400s naming the problem; the scope is `decide`.
    for (body, says) in [
        (serde_json::json!({"request": read("u0")}), "result: missing"),
        (serde_json::json!({"request": read("u0"), "result": {}, "unreadable": "x"}), "give one of them"),
        (serde_json::json!({"request": read("u0"), "result": {}, "seen": true}), "seen: not a field"),
        (serde_json::json!({"result": {}}), "request: missing"),
        (serde_json::json!({"request": request_json("u0", "nope"), "result": {}}), "request."),
        (
            serde_json::json!({"request": serde_json::from_str::<serde_json::Value>(&request_json("u0", "nope")).unwrap(), "result": {}}),
            "unknown action",
        ),
    ] {
        let r = report(body, Some(TOKEN_ALL));
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains(says), "{says}: {}", r.body);
    }
    assert_eq!(report(serde_json::json!({"request": read("u0"), "result": {}}), None).status, 401);
    assert_eq!(report(serde_json::json!({"request": read("u0"), "result": {}}), Some(TOKEN_MASK_ONLY)).status, 403);

    // The audit records of results name the facts, never the values.
    drop(s);
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(log.contains(r#""facts":["p.no-write-after-vip/previously"]"#), "{log}");
    assert!(log.contains(r#""stage":"result""#), "{log}");
    assert!(!log.contains("\"vip\""), "{log}");
    let out = ward(&["audit", "verify", audit.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stdout));
}
