//! Issue 20: `ward serve` with identity from tokens, through the real binary.
//! A test-only issuer (tests/support/tokens.rs: RSA keys generated here, a
//! JWKS file, tokens minted with jsonwebtoken) — no external IdP. Every
//! refused token is a 401 and every refused request a 403, each with an audit record, and never a
//! decision for another principal than the token's. Keys come from a file or
//! from a URL (a JWKS server in the test, plain HTTP on 127.0.0.1 or TLS with
//! its own CA). Also the AuthZEN 1.0 endpoints, with fixtures written from
//! the spec's text.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "support/serve.rs"]
mod support;
#[path = "support/tokens.rs"]
mod tokens;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value as Json, json};
use support::*;
use tokens::*;

const SCHEMA: &str = "schema s {\n  entity User\n  entity Agent\n  entity Doc\n  \
                      action read, write by [User, Agent] on [Doc] with { note: String, mfa: Bool }\n  \
                      context { @verified approved_by?: String }\n}\n";
const POLICY: &str = "policy p {\n  @id(\"users-with-mfa\")\n  permit principal: User, action: read when context.mfa\n\n  \
                      @id(\"agents\")\n  permit principal: Agent, action: read\n}\n";
const PEP_TOKEN: &str = "pep-token";
const ISSUER: &str = r#"[[issuers]]
name = "test-idp"
issuer = "https://idp.test/realms/agents"
audiences = ["ward"]
jwks = "jwks.json"
algorithms = ["RS256"]
leeway_seconds = 5
jwks_refresh_seconds = 0
max_act_depth = 3
principal = { type = "User" }
actor = { type = "Agent" }
grants = { decide = "*", impersonate = "ward:impersonate" }

[[issuers.context]]
field = "mfa"
claim = "amr"
contains = "mfa"
"#;
const ISS: &str = "https://idp.test/realms/agents";

/// Claims of a good token for `sub`; tests change what they test.
fn claims(sub: &str) -> Json {
    json!({"iss": ISS, "aud": "ward", "sub": sub, "iat": now(), "exp": now() + 600, "amr": ["pwd", "mfa"]})
}

struct Setup {
    dir: PathBuf,
    jwks: PathBuf,
    audit: PathBuf,
    server: Server,
}

fn setup(name: &str, keys: &[&Key]) -> Setup {
    setup_with(name, keys, ISSUER)
}

/// A project served with `issuer` as the `[[issuers]]` table (`keys` in `jwks.json`).
fn setup_with(name: &str, keys: &[&Key], issuer: &str) -> Setup {
    let dir = scratch(&format!("identity-{name}"));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/schema.ward"), SCHEMA).unwrap();
    std::fs::write(dir.join("src/policy.ward"), POLICY).unwrap();
    let out = ward(&["build", dir.join("src").to_str().unwrap(), "-o", dir.join("p.bundle").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let entities = json!([
        {"uid": {"type": "User", "id": "alice"}},
        {"uid": {"type": "Agent", "id": "bot"}},
        {"uid": {"type": "Agent", "id": "planner"}},
        {"uid": {"type": "Doc", "id": "d"}},
    ]);
    std::fs::write(dir.join("entities.json"), entities.to_string()).unwrap();
    let jwks = dir.join("jwks.json");
    write_jwks(&jwks, keys);
    std::fs::write(dir.join("ward.toml"), config_text(issuer)).unwrap();
    let server = Server::start(&["--config", dir.join("ward.toml").to_str().unwrap()]);
    Setup { audit: dir.join("audit.jsonl"), dir, jwks, server }
}

fn config_text(issuer: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
rate_limit_per_second = 0
max_token_bytes = 4096

[policy]
bundle = "p.bundle"
entities = "entities.json"
watch_interval_ms = 0

[audit]
log = "audit.jsonl"
sync = "record"

[authzen]
policy_decision_point = "https://ward.test"

[[tokens]]
name = "pep"
sha256 = "{}"
scopes = ["decide"]

{issuer}"#,
        sha256_hex(PEP_TOKEN)
    )
}

fn read_doc() -> String {
    json!({"action": "read", "resource": {"type": "Doc", "id": "d"}, "context": {"note": "n"}}).to_string()
}

fn audit_lines(path: &Path) -> Vec<Json> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn tokens_decide_for_their_principal_and_chain_and_every_bad_token_is_refused_and_audited() {
    let key = rsa_key("k1");
    let s = setup("main", &[&key]);
    let srv = &s.server;

    // A user token: the principal is the token's subject, mfa comes from `amr`.
    let r = srv.call("POST", "/v1/decide", Some(&mint(&key, &claims("alice"))), Some(&read_doc()));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["effect"], "allow", "{}", r.body);
    assert_eq!(r.json()["reasons"][0]["rule"], "p.users-with-mfa");
    let mut no_mfa = claims("alice");
    no_mfa["amr"] = json!(["pwd"]);
    let r = srv.call("POST", "/v1/decide", Some(&mint(&key, &no_mfa)), Some(&read_doc()));
    assert_eq!((r.status, r.json()["effect"].as_str()), (200, Some("deny")), "{}", r.body);

    // RFC 8693: bot acting for alice (act), then bot acting for planner acting for alice (nested act).
    let mut delegated = claims("alice");
    delegated["act"] = json!({"sub": "bot"});
    delegated["amr"] = json!(["pwd"]);
    let r = srv.call("POST", "/v1/decide", Some(&mint(&key, &delegated)), Some(&read_doc()));
    let d = r.json();
    assert_eq!(d["effect"], "deny", "alice without mfa denies the chain: {d}");
    assert!(d.to_string().contains("alice"), "the denying link is named: {d}");
    delegated["amr"] = json!(["mfa"]);
    delegated["act"] = json!({"sub": "bot", "act": {"sub": "planner"}});
    let r = srv.call("POST", "/v1/decide", Some(&mint(&key, &delegated)), Some(&read_doc()));
    assert_eq!(r.json()["effect"], "allow", "{}", r.body);
    let log = std::fs::read_to_string(&s.audit).unwrap();
    assert!(log.contains(r#""principal":"Agent::\"bot\"""#), "the current actor is the principal: {log}");

    // The request may not name another principal, chain, or a context field the token fills.
    let as_bot = json!({"principal": {"type": "Agent", "id": "bot"}, "action": "read", "resource": {"type": "Doc", "id": "d"}, "context": {"note": "n", "mfa": false}});
    let alice = mint(&key, &claims("alice"));
    let r = srv.call("POST", "/v1/decide", Some(&alice), Some(&as_bot.to_string()));
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("impersonate"), "{}", r.body);
    let chain = json!({"action": "read", "resource": {"type": "Doc", "id": "d"}, "context": {"note": "n"}, "on_behalf_of": [{"type": "User", "id": "alice"}]});
    assert_eq!(srv.call("POST", "/v1/decide", Some(&alice), Some(&chain.to_string())).status, 403);
    let forged =
        json!({"action": "read", "resource": {"type": "Doc", "id": "d"}, "context": {"note": "n", "mfa": true}});
    let r = srv.call("POST", "/v1/decide", Some(&mint(&key, &no_mfa)), Some(&forged.to_string()));
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("context.mfa"), "{}", r.body);
    // … unless the token grants impersonation: then the request is decided as sent.
    let mut pep = claims("alice");
    pep["scope"] = json!("openid ward:impersonate");
    let r = srv.call("POST", "/v1/decide", Some(&mint(&key, &pep)), Some(&as_bot.to_string()));
    assert_eq!((r.status, r.json()["effect"].as_str()), (200, Some("allow")), "{}", r.body);
    // A `@verified` field that no claim fills cannot come from the token's
    // holder (an agent could approve itself); a trusted enforcement point
    // (the `impersonate` grant) may set it.
    let approved = json!({"action": "read", "resource": {"type": "Doc", "id": "d"}, "context": {"note": "n", "approved_by": "cfo"}});
    let r = srv.call("POST", "/v1/decide", Some(&alice), Some(&approved.to_string()));
    assert_eq!(r.status, 403, "{}", r.body);
    let error = r.json()["error"].as_str().unwrap().to_string();
    assert!(error.contains("context.approved_by") && error.contains("@verified"), "{error}");
    let r = srv.call("POST", "/v1/decide", Some(&mint(&key, &pep)), Some(&approved.to_string()));
    assert_eq!(r.status, 200, "{}", r.body);
    // API tokens work as before.
    let r = srv.call("POST", "/v1/decide", Some(PEP_TOKEN), Some(&as_bot.to_string()));
    assert_eq!((r.status, r.json()["effect"].as_str()), (200, Some("allow")), "{}", r.body);
    // A token is granted only the scopes of its issuer's `grants`: the refusal is audited.
    let before = audit_lines(&s.audit).len();
    let r = srv.call("POST", "/v1/reload", Some(&alice), None);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("`admin` scope"), "{}", r.body);
    let records = audit_lines(&s.audit);
    assert_eq!(records.len(), before + 1);
    assert_eq!(
        (records[before]["stage"].as_str(), records[before]["principal"].as_str()),
        (Some("identity"), Some("User::\"alice\""))
    );
    let records_before = audit_lines(&s.audit).len();

    // The negative cases: (token, status, what the error names).
    let mut cases: Vec<(&str, String, u16, &str)> = Vec::new();
    let with = |change: &dyn Fn(&mut Json)| {
        let mut c = claims("alice");
        change(&mut c);
        mint(&key, &c)
    };
    cases.push(("expired", with(&|c| c["exp"] = json!(now() - 3600)), 401, "expired"));
    cases.push(("not yet valid", with(&|c| c["nbf"] = json!(now() + 3600)), 401, "not yet valid"));
    cases.push(("issued in the future", with(&|c| c["iat"] = json!(now() + 3600)), 401, "iat"));
    cases.push(("wrong audience", with(&|c| c["aud"] = json!("another-service")), 401, "audience"));
    cases.push(("wrong issuer", with(&|c| c["iss"] = json!("https://evil.test")), 401, "not configured"));
    cases.push(("exp not a number", with(&|c| c["exp"] = json!("9999999999")), 401, "exp"));
    let mut unknown = Header::new(Algorithm::RS256);
    unknown.kid = Some("k-unknown".to_string());
    cases.push(("unknown kid", encode(&unknown, &claims("alice"), &key.encoding).unwrap(), 401, "unknown kid"));
    let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(claims("alice").to_string().as_bytes()));
    cases.push(("alg none", none, 401, "header"));
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("k1".to_string());
    let confused = encode(&hs, &claims("alice"), &EncodingKey::from_secret(&key.public_der).unwrap()).unwrap();
    cases.push(("HS256 with the RSA public key", confused, 401, "HS256"));
    let good = mint(&key, &claims("alice"));
    let parts: Vec<&str> = good.split('.').collect();
    let mut evil = claims("alice");
    evil["sub"] = json!("bob");
    let tampered = format!("{}.{}.{}", parts[0], b64(evil.to_string().as_bytes()), parts[2]);
    cases.push(("tampered payload", tampered, 401, "signature"));
    cases.push(("oversized", with(&|c| c["pad"] = json!("x".repeat(5000))), 401, "over the limit"));
    let deep = with(&|c| {
        c["act"] = json!({"sub": "bot", "act": {"sub": "bot", "act": {"sub": "bot", "act": {"sub": "bot"}}}})
    });
    cases.push(("act nested too deep", deep, 401, "deeper"));
    cases.push(("unknown principal", with(&|c| c["sub"] = json!("mallory")), 403, "not among the service's entities"));
    cases.push((
        "unknown actor",
        with(&|c| c["act"] = json!({"sub": "ghost"})),
        403,
        "not among the service's entities",
    ));
    for (what, token, status, names) in &cases {
        let r = srv.call("POST", "/v1/decide", Some(token), Some(&read_doc()));
        assert_eq!(r.status, *status, "{what}: {}", r.body);
        let message = r.json()["error"].as_str().unwrap().to_string();
        assert!(message.contains(names), "{what}: the error should name `{names}`: {message}");
        assert!(r.json().get("effect").is_none(), "{what}: no decision: {}", r.body);
        if *status == 401 {
            let challenge = r.header("www-authenticate").unwrap();
            assert!(challenge.starts_with("Bearer error=\"invalid_token\""), "{what}: {challenge}");
        }
    }
    // One audit record per refusal, saying why, and the chain verifies.
    let records = audit_lines(&s.audit);
    let refusals = &records[records_before..];
    assert_eq!(refusals.len(), cases.len(), "{refusals:#?}");
    for ((what, _, status, names), record) in cases.iter().zip(refusals) {
        assert_eq!(record["effect"], "deny", "{what}");
        assert_eq!(record["stage"], if *status == 401 { "authentication" } else { "identity" }, "{what}: {record}");
        assert!(record["errors"][0].as_str().unwrap().contains(names), "{what}: {record}");
    }
    drop(s.server);
    let out = ward(&["audit", "verify", s.audit.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let _ = s.dir;
}

#[test]
fn a_rotated_key_is_picked_up_from_the_jwks_file_on_an_unknown_kid() {
    let old = rsa_key("old");
    let s = setup("rotation", &[&old]);
    let new = rsa_key("new");
    let token = mint(&new, &claims("alice"));
    assert_eq!(s.server.call("POST", "/v1/decide", Some(&token), Some(&read_doc())).status, 401);
    write_jwks(&s.jwks, &[&old, &new]);
    let r = s.server.call("POST", "/v1/decide", Some(&token), Some(&read_doc()));
    assert_eq!((r.status, r.json()["effect"].as_str()), (200, Some("allow")), "{}", r.body);
}

/// AuthZEN Authorization API 1.0, with requests shaped as the spec's examples.
#[test]
fn authzen_evaluation_evaluations_and_metadata() {
    let key = rsa_key("k1");
    let s = setup("authzen", &[&key]);
    let srv = &s.server;

    // Metadata (§9), public.
    let r = srv.call("GET", "/.well-known/authzen-configuration", None, None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({
            "policy_decision_point": "https://ward.test",
            "access_evaluation_endpoint": "https://ward.test/access/v1/evaluation",
            "access_evaluations_endpoint": "https://ward.test/access/v1/evaluations",
        })
    );

    // Access Evaluation (§6), by a PEP with an API token naming the subject.
    let single = json!({
        "subject": {"type": "Agent", "id": "bot"},
        "resource": {"type": "Doc", "id": "d"},
        "action": {"name": "read"},
        "context": {"note": "n", "mfa": false},
    });
    let r = srv.call("POST", "/access/v1/evaluation", Some(PEP_TOKEN), Some(&single.to_string()));
    assert_eq!(r.status, 200, "{}", r.body);
    let a = r.json();
    assert_eq!(a["decision"], true);
    assert_eq!(a["context"]["reasons"][0]["rule"], "p.agents");
    let mut write = single.clone();
    write["action"] = json!({"name": "write"});
    let r = srv.call("POST", "/access/v1/evaluation", Some(PEP_TOKEN), Some(&write.to_string()));
    assert_eq!((r.status, r.json()["decision"].as_bool()), (200, Some(false)), "{}", r.body);
    // Properties are the service's to know, never the caller's.
    let mut props = single.clone();
    props["subject"]["properties"] = json!({"role": "admin"});
    let r = srv.call("POST", "/access/v1/evaluation", Some(PEP_TOKEN), Some(&props.to_string()));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("subject.properties"), "{}", r.body);
    assert_eq!(srv.call("POST", "/access/v1/evaluation", None, Some(&single.to_string())).status, 401);

    // With a user's token the subject is the token's; naming another is refused.
    let alice = mint(&key, &claims("alice"));
    let mine = json!({"resource": {"type": "Doc", "id": "d"}, "action": {"name": "read"}, "context": {"note": "n"}});
    let r = srv.call("POST", "/access/v1/evaluation", Some(&alice), Some(&mine.to_string()));
    assert_eq!((r.status, r.json()["decision"].as_bool()), (200, Some(true)), "{}", r.body);
    let r = srv.call("POST", "/access/v1/evaluation", Some(&alice), Some(&single.to_string()));
    assert_eq!(r.status, 403, "{}", r.body);

    // Access Evaluations (§7): defaults at the top, overridden per evaluation; one answer each, in order.
    let batch = json!({
        "subject": {"type": "Agent", "id": "bot"},
        "context": {"note": "n", "mfa": false},
        "evaluations": [
            {"action": {"name": "read"}, "resource": {"type": "Doc", "id": "d"}},
            {"action": {"name": "write"}, "resource": {"type": "Doc", "id": "d"}},
            {"action": {"name": "read"}, "resource": {"type": "Doc", "id": "d"}, "subject": {"type": "User", "id": "alice"}},
            {"action": {"name": "read"}},
        ],
    });
    let r = srv.call("POST", "/access/v1/evaluations", Some(PEP_TOKEN), Some(&batch.to_string()));
    assert_eq!(r.status, 200, "{}", r.body);
    let e = r.json()["evaluations"].as_array().unwrap().clone();
    let decisions: Vec<bool> = e.iter().map(|x| x["decision"].as_bool().unwrap()).collect();
    assert_eq!(decisions, [true, false, false, false]);
    assert_eq!(e[3]["context"]["error"]["status"], 400);
    assert!(e[3]["context"]["error"]["message"].as_str().unwrap().contains("evaluations[3].resource"), "{e:?}");

    // evaluations_semantic: the answer stops at the first deny (permit).
    let mut first_deny = batch.clone();
    first_deny["options"] = json!({"evaluations_semantic": "deny_on_first_deny"});
    let r = srv.call("POST", "/access/v1/evaluations", Some(PEP_TOKEN), Some(&first_deny.to_string()));
    let e = r.json()["evaluations"].as_array().unwrap().clone();
    assert_eq!(e.iter().map(|x| x["decision"].as_bool().unwrap()).collect::<Vec<_>>(), [true, false]);
    let mut first_permit = batch.clone();
    first_permit["options"] = json!({"evaluations_semantic": "permit_on_first_permit"});
    let r = srv.call("POST", "/access/v1/evaluations", Some(PEP_TOKEN), Some(&first_permit.to_string()));
    assert_eq!(r.json()["evaluations"].as_array().unwrap().len(), 1, "{}", r.body);
    let mut bad = batch.clone();
    bad["options"] = json!({"evaluations_semantic": "sometimes"});
    assert_eq!(srv.call("POST", "/access/v1/evaluations", Some(PEP_TOKEN), Some(&bad.to_string())).status, 400);
    // Without `evaluations`, it answers like the single evaluation.
    let r = srv.call("POST", "/access/v1/evaluations", Some(PEP_TOKEN), Some(&single.to_string()));
    assert_eq!(r.json()["decision"], true, "{}", r.body);
}

/// Issuer configurations that cannot be safe or do not fit the schema stop
/// `ward serve` at start, naming the issuer and the field.
#[test]
fn unsafe_or_mistyped_issuers_are_refused_at_start() {
    let key = rsa_key("k1");
    let s = setup("start", &[&key]);
    let dir = s.dir.clone();
    drop(s.server);
    let cases = [
        (ISSUER.replace(r#"algorithms = ["RS256"]"#, r#"algorithms = ["HS256"]"#), "`HS256` is not allowed"),
        (ISSUER.replace(r#"algorithms = ["RS256"]"#, r#"algorithms = ["none"]"#), "`none` is not allowed"),
        (ISSUER.replace(r#"impersonate = "ward:impersonate""#, r#"impersonate = "*""#), "grants.impersonate"),
        (ISSUER.replace(r#"principal = { type = "User" }"#, r#"principal = { type = "Usr" }"#), "principal.type"),
        (ISSUER.replace(r#"field = "mfa""#, r#"field = "note""#), "`contains` gives a Bool, but the field is String"),
        (ISSUER.replace(r#"field = "mfa""#, r#"field = "ip""#), "no action of the policy has a context field `ip`"),
        (ISSUER.replace(r#"audiences = ["ward"]"#, "audiences = []"), "audiences"),
        (ISSUER.replace("jwks = ", "jwks_url = \"https://idp.test/certs\"\njwks = "), "not both"),
        (ISSUER.replace(r#"jwks = "jwks.json""#, ""), "give `jwks` (a file) or `jwks_url`"),
        (
            ISSUER.replace(r#"jwks = "jwks.json""#, r#"jwks_url = "http://idp.test/certs""#),
            "jwks_url: `http://idp.test/certs`: plain `http://` is allowed only to a loopback host",
        ),
    ];
    for (issuer, names) in cases {
        std::fs::write(dir.join("bad.toml"), config_text(&issuer)).unwrap();
        let out = ward(&["serve", "--config", dir.join("bad.toml").to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{names}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(err.contains(names) && err.contains("test-idp"), "should name `{names}` and the issuer: {err}");
    }
    // A JWKS with a symmetric key is refused too.
    std::fs::write(dir.join("jwks.json"), r#"{"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]}"#).unwrap();
    std::fs::write(dir.join("bad.toml"), config_text(ISSUER)).unwrap();
    let out = ward(&["serve", "--config", dir.join("bad.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("symmetric"), "{}", text(&out.stderr));
}

/// AuthZEN §12: the PEP's `X-Request-ID` comes back in the response.
#[test]
fn authzen_returns_the_request_id() {
    use std::io::{Read as _, Write as _};
    let key = rsa_key("k1");
    let s = setup("request-id", &[&key]);
    let body = r#"{"subject": {"type": "Agent", "id": "bot"}, "action": {"name": "read"}, "resource": {"type": "Doc", "id": "d"}, "context": {"note": "n", "mfa": false}}"#;
    let mut tcp = std::net::TcpStream::connect(s.server.addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
    let head = format!(
        "POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {PEP_TOKEN}\r\nX-Request-ID: bfe9eb29-ab87-4ca3-be83-a1d5d8305716\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(head.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("x-request-id: bfe9eb29-ab87-4ca3-be83-a1d5d8305716"), "{answer}");
}

/// What the test's JWKS server answers.
#[derive(Clone)]
enum Answer {
    /// 200 with this body.
    Keys(String),
    /// 200 with this body and no `Content-Length` (the body ends when the connection closes).
    Unsized(String),
    /// This status, with a small body.
    Status(u16),
    /// The body, after a pause.
    Slow(Duration, String),
    /// Nothing: the connection stays open, silent.
    Hang,
}

/// A JWKS server on 127.0.0.1 (plain HTTP, or TLS with `tls`), one thread
/// per connection, counting the requests it reads.
struct JwksServer {
    addr: SocketAddr,
    answer: Arc<Mutex<Answer>>,
    requests: Arc<AtomicUsize>,
}

impl JwksServer {
    fn start(answer: Answer, tls: Option<Arc<rustls::ServerConfig>>) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let answer = Arc::new(Mutex::new(answer));
        let requests = Arc::new(AtomicUsize::new(0));
        let (shared, count) = (Arc::clone(&answer), Arc::clone(&requests));
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let (answer, count, tls) = (Arc::clone(&shared), Arc::clone(&count), tls.clone());
                std::thread::spawn(move || {
                    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                    match tls {
                        None => answer_one(tcp, &answer, &count),
                        Some(config) => {
                            let conn = rustls::ServerConnection::new(config).unwrap();
                            answer_one(rustls::StreamOwned::new(conn, tcp), &answer, &count);
                        }
                    }
                });
            }
        });
        JwksServer { addr, answer, requests }
    }

    fn url(&self) -> String {
        format!("http://{}/realms/agents/certs", self.addr)
    }

    fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn answer_one(mut s: impl Read + Write, answer: &Mutex<Answer>, count: &AtomicUsize) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    assert!(head.starts_with(b"GET /realms/agents/certs HTTP/1.1\r\n"), "{}", String::from_utf8_lossy(&head));
    count.fetch_add(1, Ordering::SeqCst);
    let answer = answer.lock().unwrap().clone();
    let (status, body, sized) = match answer {
        Answer::Keys(body) => (200, body, true),
        Answer::Unsized(body) => (200, body, false),
        Answer::Status(status) => (status, r#"{"error": "no"}"#.to_string(), true),
        Answer::Slow(pause, body) => {
            std::thread::sleep(pause);
            (200, body, true)
        }
        Answer::Hang => {
            std::thread::sleep(Duration::from_secs(120));
            return;
        }
    };
    let length = if sized { format!("Content-Length: {}\r\n", body.len()) } else { String::new() };
    let head = format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{length}Connection: close\r\n\r\n");
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body.as_bytes());
    let _ = s.flush();
}

/// The test issuer with its keys at `url` instead of the file.
fn url_issuer(url: &str, refresh_seconds: u64, more: &str) -> String {
    ISSUER
        .replace(r#"jwks = "jwks.json""#, &format!("jwks_url = \"{url}\"\njwks_timeout_seconds = 1\n{more}"))
        .replace("jwks_refresh_seconds = 0", &format!("jwks_refresh_seconds = {refresh_seconds}"))
}

fn decide(s: &Setup, token: &str) -> Response {
    s.server.call("POST", "/v1/decide", Some(token), Some(&read_doc()))
}

/// The server's stderr once it says `what` (it is read by another thread).
fn logged(s: &Setup, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = s.server.stderr();
        if log.contains(what) {
            return log;
        }
        assert!(Instant::now() < deadline, "the log should say `{what}`: {log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn token_with_kid(key: &Key, kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    encode(&header, &claims("alice"), &key.encoding).unwrap()
}

#[test]
fn keys_from_a_url_are_fetched_at_start_and_again_on_an_unknown_kid() {
    let (k1, k2) = (rsa_key("k1"), rsa_key("k2"));
    let jwks = JwksServer::start(Answer::Keys(jwks_text(&[&k1])), None);
    let s = setup_with("url", &[], &url_issuer(&jwks.url(), 0, ""));
    assert_eq!(jwks.requests(), 1, "fetched once, at start");

    let r = decide(&s, &mint(&k1, &claims("alice")));
    assert_eq!((r.status, r.json()["effect"].as_str()), (200, Some("allow")), "{}", r.body);
    assert_eq!(jwks.requests(), 1, "a known kid fetches nothing");

    // Rotation: the issuer publishes k2; a token naming it fetches the keys again.
    jwks.set(Answer::Keys(jwks_text(&[&k1, &k2])));
    let r = decide(&s, &mint(&k2, &claims("alice")));
    assert_eq!((r.status, r.json()["effect"].as_str()), (200, Some("allow")), "{}", r.body);
    assert_eq!(jwks.requests(), 2);

    // A failed fetch keeps the keys had before, and says why in the log.
    jwks.set(Answer::Status(500));
    let r = decide(&s, &token_with_kid(&k2, "k3"));
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("unknown kid `k3`"), "{}", r.body);
    assert_eq!(jwks.requests(), 3);
    let log = logged(&s, "keeping the keys had before");
    assert!(log.contains(&jwks.url()) && log.contains("answered 500"), "{log}");
    for key in [&k1, &k2] {
        let r = decide(&s, &mint(key, &claims("alice")));
        assert_eq!((r.status, r.json()["effect"].as_str()), (200, Some("allow")), "{}", r.body);
    }
    // A JWKS the strict parser refuses (a symmetric key) is kept out the same way.
    jwks.set(Answer::Keys(r#"{"keys": [{"kty": "oct", "kid": "k3", "k": "c2VjcmV0"}]}"#.to_string()));
    assert_eq!(decide(&s, &token_with_kid(&k2, "k3")).status, 401);
    logged(&s, "symmetric");
    assert_eq!(decide(&s, &mint(&k1, &claims("alice"))).status, 200);
}

#[test]
fn unknown_kids_fetch_at_most_once_per_refresh_interval() {
    let k1 = rsa_key("k1");
    let jwks = JwksServer::start(Answer::Keys(jwks_text(&[&k1])), None);
    let s = setup_with("url-bounded", &[], &url_issuer(&jwks.url(), 3600, ""));
    for kid in ["a", "b", "c", "d"] {
        let r = decide(&s, &token_with_kid(&k1, kid));
        assert_eq!(r.status, 401, "{}", r.body);
        assert!(r.json()["error"].as_str().unwrap().contains(&format!("unknown kid `{kid}`")), "{}", r.body);
    }
    assert_eq!(jwks.requests(), 1, "only the fetch at start: the next may come an hour later");
}

/// A slow issuer holds up only the tokens that wait for its keys, and a
/// burst of them costs one fetch (plus one for those that came after it began).
#[test]
fn a_slow_fetch_blocks_no_other_request_and_is_shared_by_a_burst() {
    let k1 = rsa_key("k1");
    let jwks = JwksServer::start(Answer::Keys(jwks_text(&[&k1])), None);
    let s = setup_with("url-slow", &[], &url_issuer(&jwks.url(), 0, ""));
    jwks.set(Answer::Slow(Duration::from_millis(1500), jwks_text(&[&k1])));
    let addr = s.server.addr;
    let burst: Vec<_> = (0..6)
        .map(|i| {
            let token = token_with_kid(&k1, &format!("new-{i}"));
            std::thread::spawn(move || {
                support::Conn::plain(addr).request("POST", "/v1/decide", Some(&token), Some(&read_doc())).unwrap()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Meanwhile the service answers everything else at once (with 2 runtime
    // workers on a 2-core machine, blocked workers would hold these up).
    let started = Instant::now();
    assert_eq!(s.server.call("GET", "/healthz", None, None).status, 200);
    let r = decide(&s, &mint(&k1, &claims("alice")));
    assert_eq!((r.status, r.json()["effect"].as_str()), (200, Some("allow")), "{}", r.body);
    assert!(started.elapsed() < Duration::from_millis(1000), "took {:?}", started.elapsed());
    for t in burst {
        let r = t.join().unwrap();
        assert_eq!(r.status, 401, "{}", r.body);
        assert!(r.json()["error"].as_str().unwrap().contains("unknown kid"), "{}", r.body);
    }
    let fetches = jwks.requests() - 1;
    assert!((1..=2).contains(&fetches), "6 unknown kids at once: {fetches} fetches");
}

/// Keys that cannot be had at start stop the start, naming the issuer, the
/// URL and what went wrong.
#[test]
fn a_jwks_url_that_fails_at_start_stops_the_start() {
    let key = rsa_key("k1");
    let s = setup("url-start", &[&key]);
    let project = s.dir.clone();
    drop(s.server);
    let big = format!(r#"{{"keys": [], "pad": "{}"}}"#, "x".repeat(1 << 20));
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let cases: Vec<(Option<Answer>, &str)> = vec![
        (Some(Answer::Status(404)), "answered 404"),
        (Some(Answer::Keys(big.clone())), "larger than the limit of 1048576 bytes"),
        (Some(Answer::Unsized(big)), "larger than the limit of 1048576 bytes"),
        (Some(Answer::Hang), "no complete answer within 1 s (`jwks_timeout_seconds`)"),
        (Some(Answer::Keys("{\"keys\": [], \"keys\": []}".to_string())), "the key `keys` appears twice"),
        (Some(Answer::Keys(r#"{"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]}"#.to_string())), "symmetric"),
        (None, "cannot connect"),
    ];
    for (answer, says) in cases {
        let url = match answer {
            Some(answer) => JwksServer::start(answer, None).url(),
            None => format!("http://{closed}/realms/agents/certs"),
        };
        std::fs::write(project.join("bad.toml"), config_text(&url_issuer(&url, 10, ""))).unwrap();
        let started = Instant::now();
        let out = ward(&["serve", "--config", project.join("bad.toml").to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{says}: {err}");
        assert!(err.contains("test-idp") && err.contains(&url) && err.contains(says), "should name `{says}`: {err}");
        assert!(started.elapsed() < Duration::from_secs(30), "{says}: took {:?}", started.elapsed());
    }
}

/// `https://` with the issuer's own CA (`ca_file`); the system's roots do
/// not know a self-signed certificate, so without it the start fails.
#[test]
fn keys_from_an_https_url_are_checked_against_the_trusted_certificates() {
    use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.cert.der().to_vec())],
            PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()).into(),
        )
        .unwrap();
    let key = rsa_key("k1");
    let jwks = JwksServer::start(Answer::Keys(jwks_text(&[&key])), Some(Arc::new(tls)));
    let url = format!("https://localhost:{}/realms/agents/certs", jwks.addr.port());

    let mut s = setup("https", &[]);
    std::fs::write(s.dir.join("ca.pem"), cert.cert.pem()).unwrap();
    std::fs::write(s.dir.join("url.toml"), config_text(&url_issuer(&url, 10, r#"ca_file = "ca.pem""#))).unwrap();
    s.server = Server::start(&["--config", s.dir.join("url.toml").to_str().unwrap()]);
    let r = decide(&s, &mint(&key, &claims("alice")));
    assert_eq!((r.status, r.json()["effect"].as_str()), (200, Some("allow")), "{}", r.body);
    assert_eq!(jwks.requests(), 1);

    std::fs::write(s.dir.join("bad.toml"), config_text(&url_issuer(&url, 10, ""))).unwrap();
    let out = ward(&["serve", "--config", s.dir.join("bad.toml").to_str().unwrap()]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&url) && err.contains("TLS") && err.contains("certificate"), "{err}");
}
