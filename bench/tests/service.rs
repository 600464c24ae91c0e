//! `ward serve` and the regorus-on-axum harness that `ward-bench service`
//! measures it against decide the generated requests alike (and as
//! cedar-policy does), over HTTP, single and batched. Agreement, not timing.
//!
//! Needs the `ward` executable built in the same target directory
//! (`cargo build -p ward`): the test fails, naming it, when it is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;

use ward_bench::service::{self, Setup};

#[test]
fn ward_serve_and_the_regorus_harness_decide_alike() {
    assert!(
        ward_bench::apps::peers_available(),
        "the peer workloads are not at `{}` (set WARD_PEER_WORKLOADS)",
        ward_bench::apps::peer_root().display()
    );
    let ward = service::ward_exe().unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-service");
    let _ = std::fs::remove_dir_all(&dir);
    let setup = Setup::new(&dir, &ward, 200).unwrap_or_else(|e| panic!("{e}"));
    let bench = Path::new(env!("CARGO_BIN_EXE_ward-bench"));
    let allows = service::check_agreement(&setup, bench, 200).unwrap_or_else(|e| panic!("{e}"));
    // A mix, or the agreement proves little.
    assert!(allows > 0 && allows < 200, "{allows} allows of 200");

    // The batches the measurement sends cover every request, and each is a
    // full batch that Ward accepts.
    let batches = setup.batches();
    assert_eq!(batches.len(), 2);
    let server = setup.start_ward(None).unwrap();
    let mut conn = service::Conn::open(server.addr).unwrap();
    for b in &batches {
        let r = conn.post("/v1/decide/batch", Some(service::TOKEN), b).unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json().unwrap()["decisions"].as_array().unwrap().len(), service::BATCH);
    }
    // A request without the token is refused: the measurement is authenticated.
    let r = conn.post("/v1/decide", None, &setup.bodies[0]).unwrap();
    assert_eq!(r.status, 401);
}

/// The load client counts every request and reports percentiles in order.
#[test]
fn the_load_client_measures_a_running_server() {
    let bench = Path::new(env!("CARGO_BIN_EXE_ward-bench"));
    let rego = Setup::start_rego(bench, None).unwrap_or_else(|e| panic!("{e}"));
    let w = ward_bench::Workload::generate(service::APP, service::N, service::SEED, 20);
    let bodies: Vec<String> = w.requests.iter().map(|r| r.json().to_string()).collect();
    let d = std::time::Duration::from_millis(300);
    let stats = service::load(rego.addr, "/v1/decide", None, &bodies, 2, d / 3, d).unwrap();
    assert!(stats.requests > 0 && stats.seconds >= 0.3, "{stats:?}");
    assert!(stats.p50_us > 0.0 && stats.p50_us <= stats.p99_us, "{stats:?}");
    // A path the harness does not serve is an error, not a silent measurement.
    assert!(service::load(rego.addr, "/v1/nothing", None, &bodies, 1, d / 3, d).is_err());
}
