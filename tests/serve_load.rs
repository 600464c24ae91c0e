//! Load and fault test of `ward serve` (loopback only, bounded): concurrent
//! keep-alive clients send a fixed number of requests while the bundle is
//! swapped between two policy versions that decide the same requests
//! differently. No request may fail, and every decision must be exactly the
//! decision of the version the response names (never a mix of the two).
//!
//! `measure` (ignored) prints throughput and latency percentiles for
//! docs/performance.md:
//! `cargo test --release -p ward --test serve_load -- --ignored --nocapture measure`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "support/serve.rs"]
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::*;

/// The requests the clients cycle through: decided differently by A and B.
fn requests() -> Vec<String> {
    let mut out = Vec::new();
    for u in 0..4 {
        out.push(request_json(&format!("u{u}"), "read"));
        out.push(request_json(&format!("u{u}"), "write"));
    }
    out
}

/// What `ward eval` says each version decides for each request.
fn expected(p: &Project, version: &str) -> Vec<serde_json::Value> {
    let reqs = p.dir.join("requests.jsonl");
    std::fs::write(&reqs, requests().join("\n")).unwrap();
    let out = ward(&[
        "eval",
        "--policy",
        p.dir.join(version).to_str().unwrap(),
        "--requests",
        reqs.to_str().unwrap(),
        "--entities",
        p.dir.join("entities.json").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn no_failed_or_mixed_decision_while_bundles_swap() {
    const CLIENTS: usize = 6;
    const PER_CLIENT: usize = 500;
    let p = Project::new("load", true);
    let config = p.config(
        "rate_limit_per_second = 0",
        // The watcher reloads too, racing the explicit reloads.
        &format!("watch_interval_ms = 20\ntrusted_key = {:?}", p.dir.join("signer.pub").to_str().unwrap()),
        "",
    );
    let s = Server::start(&["--config", config.to_str().unwrap()]);
    let hash_a = s.call("GET", "/v1/policy", Some(TOKEN_ALL), None).json()["hash"].as_str().unwrap().to_string();
    let (exp_a, exp_b) = (expected(&p, "a"), expected(&p, "b"));
    let reqs = requests();
    // The two versions must disagree somewhere, or the test proves nothing.
    assert!(exp_a.iter().zip(&exp_b).any(|(a, b)| a["effect"] != b["effect"]));

    let done = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicUsize::new(0));
    let swapper = {
        let (done, swaps) = (Arc::clone(&done), Arc::clone(&swaps));
        let (a, b, dir, served) = (p.bundle_a.clone(), p.bundle_b.clone(), p.dir.clone(), p.served.clone());
        let addr = s.addr;
        let pid = s.pid();
        std::thread::spawn(move || {
            let mut admin = Conn::plain(addr);
            let mut n = 0usize;
            // A bad bundle now and then: it must be refused without a failed request.
            while !done.load(Ordering::SeqCst) && n < 400 {
                let tmp = dir.join("swap.tmp");
                if n % 7 == 6 {
                    std::fs::write(&tmp, b"WARDBNDL not really").unwrap();
                } else {
                    std::fs::copy(if n.is_multiple_of(2) { &b } else { &a }, &tmp).unwrap();
                }
                std::fs::rename(&tmp, &served).unwrap();
                if n.is_multiple_of(3) {
                    let st = std::process::Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap();
                    assert!(st.success());
                } else {
                    let r = admin.request("POST", "/v1/reload", Some(TOKEN_ADMIN), None).unwrap();
                    assert!(r.status == 200 || r.status == 409, "{}", r.body);
                }
                n += 1;
                swaps.store(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let reqs = reqs.clone();
            let addr = s.addr;
            std::thread::spawn(move || {
                let mut conn = Conn::plain(addr);
                let mut seen = Vec::with_capacity(PER_CLIENT);
                for i in 0..PER_CLIENT {
                    let k = (c + i) % reqs.len();
                    let body = if i % 10 == 9 {
                        // Some batches: one version for all their decisions.
                        format!(r#"{{"requests": [{}, {}]}}"#, reqs[k], reqs[(k + 1) % reqs.len()])
                    } else {
                        reqs[k].clone()
                    };
                    let path = if i % 10 == 9 { "/v1/decide/batch" } else { "/v1/decide" };
                    let r = conn.request("POST", path, Some(TOKEN_ALL), Some(&body)).unwrap();
                    assert_eq!(r.status, 200, "request {i} of client {c}: {}", r.body);
                    seen.push((k, i % 10 == 9, r.json()));
                }
                seen
            })
        })
        .collect();
    let results: Vec<_> = clients.into_iter().flat_map(|h| h.join().unwrap()).collect();
    done.store(true, Ordering::SeqCst);
    swapper.join().unwrap();

    let mut by_version: HashMap<String, usize> = HashMap::new();
    for (k, batch, r) in &results {
        let hash = r["policy"]["hash"].as_str().unwrap();
        let exp = if hash == hash_a { &exp_a } else { &exp_b };
        let got: Vec<serde_json::Value> =
            if *batch { r["decisions"].as_array().unwrap().clone() } else { vec![strip_policy(r.clone())] };
        for (j, d) in got.iter().enumerate() {
            let want = &exp[(k + j) % reqs.len()];
            assert_eq!(d, want, "request {} under {hash}: {d} is not that version's decision {want}", (k + j) % 8);
        }
        *by_version.entry(hash.to_string()).or_default() += 1;
    }
    assert_eq!(results.len(), CLIENTS * PER_CLIENT);
    assert_eq!(by_version.len(), 2, "both versions should have served: {by_version:?}");
    let metrics = s.call("GET", "/metrics", Some(TOKEN_ALL), None).body;
    assert!(metrics.contains("ward_reloads_total{result=\"failed\"}"), "{metrics}");
    assert!(!metrics.contains("ward_reloads_total{result=\"ok\"} 0"), "{metrics}");
    assert!(metrics.contains("ward_errors_total{kind=\"internal\"} 0"), "{metrics}");
    eprintln!("{} requests, {} swaps, by version: {by_version:?}", results.len(), swaps.load(Ordering::SeqCst));
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// Throughput and latency percentiles of `/v1/decide` (no swaps).
#[test]
#[ignore = "a measurement; run by hand (see the module docs)"]
fn measure() {
    let clients: usize = std::env::var("CLIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(4);
    let per_client: usize = std::env::var("REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(25_000);
    let p = Project::new("measure", false);
    let config = p.config("rate_limit_per_second = 0", "watch_interval_ms = 0", "");
    let s = Server::start(&["--config", config.to_str().unwrap()]);
    let reqs = requests();
    // Warm up.
    let mut conn = s.connect();
    for r in &reqs {
        assert_eq!(conn.request("POST", "/v1/decide", Some(TOKEN_ALL), Some(r)).unwrap().status, 200);
    }
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let reqs = reqs.clone();
            let addr = s.addr;
            std::thread::spawn(move || {
                let mut conn = Conn::plain(addr);
                let mut lat = Vec::with_capacity(per_client);
                for i in 0..per_client {
                    let body = &reqs[(c + i) % reqs.len()];
                    let t = Instant::now();
                    let r = conn.request("POST", "/v1/decide", Some(TOKEN_ALL), Some(body)).unwrap();
                    lat.push(t.elapsed());
                    assert_eq!(r.status, 200);
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<Duration> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    let elapsed = start.elapsed();
    lat.sort();
    println!(
        "{} requests, {clients} clients, {:.2} s: {:.0} requests/s; latency p50 {:?}, p90 {:?}, p99 {:?}, p99.9 {:?}, max {:?}",
        lat.len(),
        elapsed.as_secs_f64(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.90),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999),
        lat.last().unwrap(),
    );
}
