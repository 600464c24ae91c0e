//! `ward serve` against hostile HTTP clients (issue 15): slow headers, too
//! many connections, refusals that must not break keep-alive, the
//! `Authorization` header read strictly, and a large batch in bounded memory.
//! Loopback only; every wait is bounded (a hang fails, nothing is timed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "support/serve.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::*;

/// A connection from a given loopback address (127.0.0.0/8 is all local on Linux).
fn connect_from(ip: &str, to: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let from: SocketAddr = format!("{ip}:0").parse().unwrap();
    socket.bind(&from.into()).unwrap();
    socket.connect(&to.into()).unwrap();
    let s: TcpStream = socket.into();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s
}

/// Whether the connection serves a request: `true` for a 200 answer, `false`
/// when the server refused it (503, closed, reset).
fn serves(s: &mut TcpStream) -> bool {
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 512];
    match s.read(&mut buf) {
        Ok(n) if n > 0 => {
            let head = String::from_utf8_lossy(&buf[..n]);
            if head.starts_with("HTTP/1.1 200") {
                return true;
            }
            assert!(head.starts_with("HTTP/1.1 503"), "unexpected answer: {head}");
            false
        }
        _ => false,
    }
}

#[test]
fn slow_headers_are_cut_off_and_connections_are_limited_per_ip() {
    let p = Project::new("loris", false);
    let config = p.config(
        "rate_limit_per_second = 0\nheader_timeout_ms = 5000\nmax_connections_per_ip = 8\nmax_connections = 1000",
        "watch_interval_ms = 0",
        "",
    );
    let s = Server::start(&["--config", config.to_str().unwrap()]);
    // Eight slow-loris connections from 127.0.0.2: a request line, then one header byte at a time.
    let mut loris: Vec<TcpStream> = (0..8).map(|_| connect_from("127.0.0.2", s.addr)).collect();
    for c in &mut loris {
        c.write_all(b"POST /v1/decide HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
    }
    // A ninth from the same address is refused while they are open ...
    let mut ninth = connect_from("127.0.0.2", s.addr);
    assert!(!serves(&mut ninth), "a ninth connection from one address was served");
    // ... and a client at another address is served meanwhile.
    let r = s.call("POST", "/v1/decide", Some(TOKEN_ALL), Some(&request_json("u1", "read")));
    assert_eq!(r.status, 200, "{}", r.body);

    // The header deadline closes every slow connection, although each keeps sending.
    let mut open: Vec<bool> = vec![true; loris.len()];
    for _ in 0..240 {
        for (c, open) in loris.iter_mut().zip(open.iter_mut()) {
            if *open && c.write_all(b"a").is_err() {
                *open = false;
            }
            if *open {
                c.set_nonblocking(true).unwrap();
                let mut buf = [0u8; 256];
                match c.read(&mut buf) {
                    Ok(_) => *open = false, // closed, or answered: either way no longer held
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => *open = false,
                }
                c.set_nonblocking(false).unwrap();
            }
        }
        if open.iter().all(|o| !o) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(open.iter().all(|o| !o), "slow-header connections still open after 60 s: {open:?}");
    // Their slots are free again.
    let mut again = connect_from("127.0.0.2", s.addr);
    assert!(serves(&mut again), "a new connection from the same address after the slow ones closed");
}

#[test]
fn the_global_connection_limit_holds() {
    let p = Project::new("connlimit", false);
    let config = p.config(
        "rate_limit_per_second = 0\nheader_timeout_ms = 60000\nmax_connections_per_ip = 8\nmax_connections = 12",
        "watch_interval_ms = 0",
        "",
    );
    let s = Server::start(&["--config", config.to_str().unwrap()]);
    let mut conns: Vec<TcpStream> = Vec::new();
    for ip in ["127.0.0.3", "127.0.0.4"] {
        for _ in 0..8 {
            conns.push(connect_from(ip, s.addr));
        }
    }
    let served = conns.iter_mut().map(serves).filter(|s| *s).count();
    assert_eq!(served, 12, "16 connections against a limit of 12");
    drop(conns);
    // Once they are gone, the service takes connections again (bounded wait).
    let mut ok = false;
    for _ in 0..600 {
        let mut c = connect_from("127.0.0.1", s.addr);
        if serves(&mut c) {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ok, "the service did not take connections again");
}

/// One request on `conn` with the given headers and body; `None` when the
/// connection broke (no complete answer).
fn exchange(
    conn: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &str,
) -> Option<(u16, bool, String)> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: ward\r\nContent-Length: {}\r\n", body.len());
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes()).ok()?;
    conn.write_all(body.as_bytes()).ok()?;
    // Status line and headers, then the body by Content-Length.
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => raw.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&raw).to_string();
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let len: usize = header("content-length")?.parse().ok()?;
    let close = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).ok()?;
    Some((status, close, String::from_utf8_lossy(&body).into_owned()))
}

#[test]
fn refusals_before_the_body_is_read_keep_the_connection_usable() {
    let p = Project::new("keepalive", false);
    let config = p.config("rate_limit_per_second = 0", "watch_interval_ms = 0", "");
    let s = Server::start(&["--config", config.to_str().unwrap()]);
    // Bodies far larger than one read of the server's buffer, within the 1 MiB limit.
    let note = "x".repeat(300_000);
    let valid = serde_json::json!({
        "principal": {"type": "User", "id": "u1"}, "action": "read",
        "resource": {"type": "Doc", "id": "d"}, "context": {"note": note},
    })
    .to_string();
    let bearer = |t: &str| format!("Authorization: Bearer {t}");
    let cases: Vec<(&str, &str, Vec<String>, u16)> = vec![
        ("POST", "/v1/decide", vec![bearer(TOKEN_ALL)], 200),
        ("POST", "/v1/decide", vec![], 401),
        ("POST", "/v1/decide", vec![bearer("no-such-token")], 401),
        ("POST", "/v1/decide", vec![bearer(TOKEN_MASK_ONLY)], 403),
        ("POST", "/v1/reload", vec![bearer(TOKEN_ALL)], 403),
        ("POST", "/v2/nothing", vec![bearer(TOKEN_ALL)], 404),
        ("PUT", "/v1/decide", vec![bearer(TOKEN_ALL)], 405),
    ];
    let mut conn = connect_from("127.0.0.1", s.addr);
    let mut broken = Vec::new();
    for round in 0..4 {
        for (method, path, headers, expect) in &cases {
            let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
            match exchange(&mut conn, method, path, &headers, &valid) {
                Some((status, close, body)) => {
                    assert_eq!(status, *expect, "{method} {path} {headers:?}: {body}");
                    if close {
                        // Said so: a client opens a new connection, as it should.
                        conn = connect_from("127.0.0.1", s.addr);
                    }
                }
                None => {
                    broken.push(format!("round {round}: {method} {path} {headers:?}"));
                    conn = connect_from("127.0.0.1", s.addr);
                }
            }
        }
    }
    assert!(broken.is_empty(), "connections broken without `Connection: close`: {broken:#?}");
}

#[test]
fn the_authorization_header_is_read_strictly() {
    let p = Project::new("authz", false);
    let config = p.config("rate_limit_per_second = 0", "watch_interval_ms = 0", "");
    let s = Server::start(&["--config", config.to_str().unwrap()]);
    let body = request_json("u1", "read");
    let mut conn = connect_from("127.0.0.1", s.addr);
    // RFC 9110 §11.1: the scheme is case-insensitive.
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let h = format!("Authorization: {scheme} {TOKEN_ALL}");
        let (status, _, text) = exchange(&mut conn, "POST", "/v1/decide", &[&h], &body).unwrap();
        assert_eq!(status, 200, "{scheme}: {text}");
    }
    // Two Authorization headers: which one is meant? Refused, not guessed.
    for pair in [[TOKEN_ALL, TOKEN_MASK_ONLY], [TOKEN_MASK_ONLY, TOKEN_ALL], [TOKEN_ALL, TOKEN_ALL]] {
        let a = format!("Authorization: Bearer {}", pair[0]);
        let b = format!("Authorization: Bearer {}", pair[1]);
        let mut c = connect_from("127.0.0.1", s.addr);
        let (status, _, text) = exchange(&mut c, "POST", "/v1/decide", &[&a, &b], &body).unwrap();
        assert_eq!(status, 400, "{pair:?}: {text}");
        assert!(text.contains("Authorization"), "{text}");
    }
    // Another scheme, or none, is still 401.
    for h in [format!("Authorization: Basic {TOKEN_ALL}"), format!("Authorization: {TOKEN_ALL}")] {
        let mut c = connect_from("127.0.0.1", s.addr);
        let (status, _, _) = exchange(&mut c, "POST", "/v1/decide", &[&h], &body).unwrap();
        assert_eq!(status, 401, "{h}");
    }
}

/// Resident and peak resident memory of a process, in kB.
fn memory_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[test]
fn a_large_batch_is_decided_in_bounded_memory() {
    const N: usize = 100_000;
    let p = Project::new("batch-memory", false);
    let config = p.config(
        "rate_limit_per_second = 0\nmax_body_bytes = 67108864\nmax_batch = 100000\nrequest_timeout_ms = 600000",
        "watch_interval_ms = 0",
        "",
    );
    let s = Server::start(&["--config", config.to_str().unwrap()]);
    let items: Vec<String> = (0..N).map(|i| request_json(if i % 2 == 0 { "u1" } else { "u0" }, "read")).collect();
    let body = format!("{{\"requests\": [{}]}}", items.join(","));
    // Warm up (allocator arenas, the JIT, the first connection), then measure.
    let warm = format!("{{\"requests\": [{}]}}", items[..100].join(","));
    assert_eq!(s.call("POST", "/v1/decide/batch", Some(TOKEN_ALL), Some(&warm)).status, 200);
    let (rss_before, _) = memory_kb(s.pid());
    let r = s.call("POST", "/v1/decide/batch", Some(TOKEN_ALL), Some(&body));
    assert_eq!(r.status, 200, "{}", &r.body[..r.body.len().min(500)]);
    let (rss_after, peak) = memory_kb(s.pid());
    let answer = r.json();
    let decisions = answer["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), N);
    for (i, d) in decisions.iter().enumerate() {
        assert_eq!(d["effect"], if i % 2 == 0 { "allow" } else { "deny" }, "decision {i}");
    }
    println!(
        "batch of {N} ({} bytes): RSS {rss_before} kB before, {rss_after} kB after, peak {peak} kB (+{} kB)",
        body.len(),
        peak.saturating_sub(rss_before)
    );
    // The body and the answer are linear in N (about 12 and 9 MB here);
    // per item nothing else may stay. Before streaming: about +700 MB.
    assert!(peak.saturating_sub(rss_before) < 120_000, "the batch cost {} kB", peak - rss_before);
}

#[test]
fn the_service_seals_its_audit_log_with_signed_checkpoints() {
    let p = Project::new("audit-sealed", false);
    let out = ward(&["keygen", "-o", p.dir.join("audit").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = p.dir.join("audit.jsonl");
    let config = p.config(
        "rate_limit_per_second = 0",
        "watch_interval_ms = 0",
        &format!(
            "[audit]\nlog = {:?}\nsync = \"record\"\nsigning_key = \"audit.key\"\ncheckpoint_every = 3",
            log.to_str().unwrap()
        ),
    );
    let mut s = Server::start(&["--config", config.to_str().unwrap()]);
    for i in 0..7 {
        let r = s.call("POST", "/v1/decide", Some(TOKEN_ALL), Some(&request_json(&format!("u{}", i % 3), "read")));
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let public = p.dir.join("audit.pub");
    let verify = |live: bool| {
        let mut args = vec!["audit", "verify", log.to_str().unwrap(), "--trusted-key", public.to_str().unwrap()];
        if live {
            args.push("--live");
        }
        ward(&args)
    };
    // While it runs: periodic checkpoints, and records after the last one.
    let out = verify(true);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(!verify(false).status.success(), "a running writer's log is not closed");
    // A clean stop seals it.
    s.signal("-TERM");
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status}");
    let out = verify(false);
    assert!(out.status.success(), "{}", text(&out.stdout));
    let said = text(&out.stdout);
    assert!(said.contains("closes the log"), "{said}");
}
