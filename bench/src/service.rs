//! The decision service against a peer: `ward serve` and a regorus-on-axum
//! harness (OPA's server does not install here: no Debian package, no Go
//! module fetch) answering the same requests over HTTP/1.1 keep-alive on
//! loopback, each server pinned to one core and to two (`taskset`).
//!
//! - [`rego_serve`]: the harness (`ward-bench rego-serve APP N SEED`): the
//!   application's Rego policy (the one the peers report runs) loaded into
//!   regorus, the generated entities held as the request-independent part of
//!   the input ([`RegoInputs::shared`], built once), and `POST /v1/decide`
//!   taking the same Cedar-shaped request JSON as `ward serve`: the
//!   request's own part of the input is built from it, the input set, the
//!   `allow` rule evaluated; `{"effect": "allow" | "deny"}` back.
//! - [`load`]: a client of keep-alive connections, one thread each, one
//!   request at a time on each, latency measured from the request written
//!   to the whole response read (`ward-bench load …`, run pinned by
//!   [`run`]).
//! - [`run`]: `ward-bench service [--quick]`: both servers on the same
//!   requests, 1 and 2 cores, single decisions and Ward's
//!   `/v1/decide/batch`; a markdown table on stdout.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use crate::apps::{self, App};
use crate::generate::{GenRequest, RegoInputs, Uid, Workload};

/// The application both servers decide for, its size and seed.
pub const APP: App = App::Tinytodo;
pub const N: usize = 20;
pub const SEED: u64 = 1;
/// Distinct requests the clients cycle through.
pub const REQUESTS: usize = 500;
/// Requests per `/v1/decide/batch` call.
pub const BATCH: usize = 100;
/// The bearer token the Ward configuration accepts.
pub const TOKEN: &str = "ward-bench-token";

// ---------------------------------------------------------------- harness

/// A request as both servers take it (Cedar's JSON request shape; the
/// action as `{"type": "Action", "id": …}` or as its name).
#[derive(serde::Deserialize)]
struct WireRequest {
    principal: WireUid,
    action: WireAction,
    resource: WireUid,
    #[serde(default)]
    #[allow(dead_code)]
    context: Json,
}

#[derive(serde::Deserialize)]
struct WireUid {
    #[serde(rename = "type")]
    ty: String,
    id: String,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum WireAction {
    Uid(WireUid),
    Name(String),
}

/// What every thread of the harness shares.
struct Harness {
    inputs: RegoInputs<'static>,
    shared_key: &'static str,
    shared: Json,
    policy_name: String,
    policy: String,
    rule: String,
}

thread_local! {
    /// Each worker thread's regorus engine (regorus's values are
    /// reference-counted without atomics, so an engine stays on its
    /// thread) and its copy of the input's shared part.
    static ENGINE: RefCell<Option<(regorus::Engine, regorus::Value)>> = const { RefCell::new(None) };
}

impl Harness {
    fn decide(&self, body: &[u8]) -> Result<bool, String> {
        let wire: WireRequest = serde_json::from_slice(body).map_err(|e| format!("bad request: {e}"))?;
        let action = match wire.action {
            WireAction::Uid(u) if u.ty == "Action" => u.id,
            WireAction::Uid(u) => return Err(format!("bad request: the action's type is `{}`", u.ty)),
            WireAction::Name(n) => n,
        };
        let request = GenRequest {
            principal: Uid::new(&wire.principal.ty, wire.principal.id),
            action,
            resource: Uid::new(&wire.resource.ty, wire.resource.id),
        };
        let part = self.inputs.request(&request);
        ENGINE.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                let mut engine = regorus::Engine::new();
                engine.set_rego_v0(true);
                engine.add_policy(self.policy_name.clone(), self.policy.clone()).map_err(|e| e.to_string())?;
                *slot = Some((engine, regorus::Value::from(self.shared.clone())));
            }
            let (engine, shared) = slot.as_mut().ok_or("no engine")?;
            let mut input = regorus::Value::from(Json::Object(part));
            input
                .as_object_mut()
                .map_err(|e| e.to_string())?
                .insert(regorus::Value::from(self.shared_key), shared.clone());
            engine.set_input(input);
            let v = engine.eval_rule(self.rule.clone()).map_err(|e| format!("regorus: {e}"))?;
            Ok(v == regorus::Value::Bool(true))
        })
    }
}

async fn harness_decide(
    axum::extract::State(h): axum::extract::State<Arc<Harness>>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let (status, v) = match h.decide(&body) {
        Ok(allow) => (axum::http::StatusCode::OK, json!({"effect": if allow { "allow" } else { "deny" }})),
        Err(e) => (axum::http::StatusCode::BAD_REQUEST, json!({"error": e})),
    };
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

/// Runs the regorus harness for application `app` over the entities of
/// `Workload::generate(app, n, seed, …)` until killed; prints
/// `listening on http://ADDR` first (as `ward serve` does). Tokio's worker
/// threads are as many as the cores the process may run on.
pub fn rego_serve(app: App, n: usize, seed: u64, listen: SocketAddr) -> Result<(), String> {
    let path = app.rego_policy();
    let policy = apps::read(&path)?;
    // The harness runs until killed: its entities live as long.
    let workload: &'static Workload = Box::leak(Box::new(Workload::generate(app, n, seed, 0)));
    let inputs = RegoInputs::new(app, &workload.entities);
    let (shared_key, shared) = inputs.shared();
    let harness = Arc::new(Harness {
        inputs,
        shared_key,
        shared,
        policy_name: path.display().to_string(),
        policy,
        rule: app.rego_rule(),
    });
    // Fail now, not on the first request, if the policy does not load.
    harness.decide(br#"{"principal": {"type": "User", "id": "nobody"}, "action": "none", "resource": {"type": "User", "id": "nobody"}}"#)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        println!("listening on http://{addr}");
        std::io::stdout().flush().map_err(|e| e.to_string())?;
        let router = axum::Router::new().route("/v1/decide", axum::routing::post(harness_decide)).with_state(harness);
        axum::serve(listener, router).await.map_err(|e| e.to_string())
    })
}

// ---------------------------------------------------------------- client

/// A keep-alive HTTP/1.1 connection.
pub struct Conn {
    reader: BufReader<TcpStream>,
    head: String,
    buf: Vec<u8>,
}

/// A response: status and body.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Result<Json, String> {
        serde_json::from_slice(&self.body)
            .map_err(|e| format!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Result<Conn, String> {
        let s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        Ok(Conn { reader: BufReader::new(s), head: format!("Host: {addr}\r\n"), buf: Vec::with_capacity(1024) })
    }

    /// `POST path` with a JSON body (and a bearer token), the response read whole.
    pub fn post(&mut self, path: &str, token: Option<&str>, body: &str) -> Result<Response, String> {
        self.buf.clear();
        let _ = write!(self.buf, "POST {path} HTTP/1.1\r\n{}", self.head);
        if let Some(t) = token {
            let _ = write!(self.buf, "Authorization: Bearer {t}\r\n");
        }
        let _ = write!(self.buf, "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
        self.buf.extend_from_slice(body.as_bytes());
        let s = self.reader.get_mut();
        s.write_all(&self.buf).map_err(|e| format!("send: {e}"))?;
        self.read_response().map_err(|e| format!("receive: {e}"))
    }

    fn read_response(&mut self) -> std::io::Result<Response> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line: {line:?}")))?;
        let mut len = None;
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let h = line.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse::<usize>().ok();
            }
        }
        let len = len.ok_or_else(|| std::io::Error::other("no content-length (chunked replies are not read)"))?;
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body)?;
        Ok(Response { status, body })
    }
}

/// What a load run measured.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadStats {
    pub requests: usize,
    pub seconds: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

/// `clients` connections to `addr`, each posting `bodies` in turn (each
/// client starting elsewhere in the list) for `warm_up` untimed, then for
/// `duration`; every response must be a 200.
pub fn load(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    bodies: &[String],
    clients: usize,
    warm_up: Duration,
    duration: Duration,
) -> Result<LoadStats, String> {
    if bodies.is_empty() || clients == 0 {
        return Err("nothing to send".to_string());
    }
    let bodies = Arc::new(bodies.to_vec());
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (bodies, path, token) = (Arc::clone(&bodies), path.to_string(), token.map(str::to_string));
            std::thread::spawn(move || -> Result<(Vec<f64>, Duration), String> {
                let mut conn = Conn::open(addr)?;
                let mut k = c * bodies.len() / clients;
                let mut next = || {
                    k = (k + 1) % bodies.len();
                    bodies.get(k).map_or("", String::as_str)
                };
                let start = Instant::now();
                while start.elapsed() < warm_up {
                    let r = conn.post(&path, token.as_deref(), next())?;
                    if r.status != 200 {
                        return Err(format!("{path}: status {}: {}", r.status, String::from_utf8_lossy(&r.body)));
                    }
                }
                let mut lat = Vec::new();
                let start = Instant::now();
                while start.elapsed() < duration {
                    let body = next();
                    let t = Instant::now();
                    let r = conn.post(&path, token.as_deref(), body)?;
                    lat.push(t.elapsed().as_nanos() as f64 / 1e3);
                    if r.status != 200 {
                        return Err(format!("{path}: status {}: {}", r.status, String::from_utf8_lossy(&r.body)));
                    }
                }
                Ok((lat, start.elapsed()))
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut seconds = 0.0f64;
    for t in threads {
        let (lat, took) = t.join().map_err(|_| "a client thread panicked".to_string())??;
        all.extend(lat);
        seconds = seconds.max(took.as_secs_f64());
    }
    let stats = crate::measure::Stats::of(all);
    Ok(LoadStats { requests: stats.samples, seconds, p50_us: stats.median_ns, p99_us: stats.p99_ns })
}

// ---------------------------------------------------------------- servers

/// A server child process; killed on drop.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `cmd` and waits for its `listening on http://ADDR` line.
    pub fn start(mut cmd: Command) -> Result<Server, String> {
        let what = format!("{cmd:?}");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        let mut line = String::new();
        let read = child.stdout.take().map(|out| {
            let mut out = BufReader::new(out);
            let read = out.read_line(&mut line);
            // Whatever the server prints later is read and dropped: a closed
            // pipe must not fail its writes.
            std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
            read
        });
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|a| a.parse().ok())
            .filter(|_| matches!(read, Some(Ok(_))));
        match addr {
            Some(addr) => Ok(Server { child, addr }),
            None => {
                let _ = child.kill();
                let status = child.wait().map_err(|e| e.to_string())?;
                Err(format!("{what} did not start ({status}); it printed {line:?}"))
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cmd` under `taskset -c cpus`, or as it is.
fn pinned(program: &Path, cpus: Option<&str>) -> Command {
    match cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpus).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// The files both servers are started with, in `dir`: the workload's
/// entities, Ward's bundle of `benches/workloads/APP` and its
/// configuration (loopback, plain HTTP, one token, the rate limit, the
/// audit log and file watching off), and the request bodies.
pub struct Setup {
    pub ward: PathBuf,
    pub config: PathBuf,
    pub workload: Workload,
    /// One request JSON text per generated request (what both servers get).
    pub bodies: Vec<String>,
}

impl Setup {
    pub fn new(dir: &Path, ward: &Path, requests: usize) -> Result<Setup, String> {
        if !ward.is_file() {
            return Err(format!(
                "`{}` is missing: build it first (`cargo build --release -p ward`, or without --release for tests)",
                ward.display()
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let workload = Workload::generate(APP, N, SEED, requests);
        let entities = dir.join("entities.json");
        write(&entities, &workload.entities_json().to_string())?;
        let bundle = dir.join(format!("{}.bundle", APP.name()));
        let out = Command::new(ward)
            .arg("build")
            .arg(APP.ward_dir())
            .arg("-o")
            .arg(&bundle)
            .output()
            .map_err(|e| format!("{}: {e}", ward.display()))?;
        if !out.status.success() {
            return Err(format!(
                "ward build: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let config = dir.join("ward.toml");
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nrate_limit_per_second = 0\n\n\
             [policy]\nbundle = {:?}\nentities = {:?}\nwatch_interval_ms = 0\n\n\
             [[tokens]]\nname = \"bench\"\nsha256 = \"{}\"\nscopes = [\"decide\"]\n",
            path_str(&bundle)?,
            path_str(&entities)?,
            sha256_hex(TOKEN),
        );
        write(&config, &text)?;
        let bodies = workload.requests.iter().map(|r| r.json().to_string()).collect();
        Ok(Setup { ward: ward.to_path_buf(), config, workload, bodies })
    }

    /// `ward serve` with this setup, on `cpus` (all when `None`).
    pub fn start_ward(&self, cpus: Option<&str>) -> Result<Server, String> {
        let mut cmd = pinned(&self.ward, cpus);
        cmd.arg("serve").arg("--config").arg(&self.config);
        Server::start(cmd)
    }

    /// The regorus harness (`bench` is the `ward-bench` executable), on `cpus`.
    pub fn start_rego(bench: &Path, cpus: Option<&str>) -> Result<Server, String> {
        let mut cmd = pinned(bench, cpus);
        cmd.args(["rego-serve", APP.name(), &N.to_string(), &SEED.to_string()]);
        Server::start(cmd)
    }

    /// Batch bodies of [`BATCH`] requests each, covering every request.
    pub fn batches(&self) -> Vec<String> {
        (0..self.bodies.len())
            .step_by(BATCH)
            .map(|start| {
                let items: Vec<&str> = (0..BATCH)
                    .filter_map(|k| self.bodies.get((start + k) % self.bodies.len()))
                    .map(String::as_str)
                    .collect();
                format!("{{\"requests\": [{}]}}", items.join(", "))
            })
            .collect()
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn path_str(p: &Path) -> Result<&str, String> {
    p.to_str().ok_or_else(|| format!("{} is not UTF-8", p.display()))
}

pub fn sha256_hex(s: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(s.as_bytes()).iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// The `ward` executable beside this one (`target/<profile>/ward`).
pub fn ward_exe() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe.parent().ok_or("no directory")?;
    // Test executables live one level down, in `deps/`.
    let dir = if dir.ends_with("deps") { dir.parent().ok_or("no directory")? } else { dir };
    Ok(dir.join(format!("ward{}", std::env::consts::EXE_SUFFIX)))
}

// ---------------------------------------------------------------- the run

/// One measured row.
struct Row {
    server: &'static str,
    cores: &'static str,
    client: &'static str,
    endpoint: &'static str,
    clients: usize,
    per_request: usize,
    stats: LoadStats,
}

/// Runs the client as `ward-bench load …` under `taskset -c cpus` (so the
/// client stays off the server's core when there is one to spare).
fn pinned_load(
    bodies_file: &Path,
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    clients: usize,
    cpus: &str,
    (warm_up, duration): (Duration, Duration),
) -> Result<LoadStats, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = pinned(&exe, Some(cpus))
        .args(["load", &addr.to_string(), path, token.unwrap_or("-"), path_str(bodies_file)?])
        .args([clients.to_string(), warm_up.as_millis().to_string(), duration.as_millis().to_string()])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run the client: {e}"))?;
    if !out.status.success() {
        return Err(format!("the client failed on {path}: {}", String::from_utf8_lossy(&out.stdout)));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("client output: {e}"))
}

/// `ward-bench load ADDR PATH TOKEN|- BODIES CLIENTS WARM_MS RUN_MS`: prints
/// the [`LoadStats`] as JSON.
pub fn load_command(args: &[String]) -> Result<(), String> {
    let arg = |k: usize| {
        args.get(k).map(String::as_str).ok_or("usage: ward-bench load ADDR PATH TOKEN|- BODIES CLIENTS WARM_MS RUN_MS")
    };
    let addr: SocketAddr = arg(0)?.parse().map_err(|e| format!("address: {e}"))?;
    let token = Some(arg(2)?).filter(|t| *t != "-");
    let text = std::fs::read_to_string(arg(3)?).map_err(|e| format!("{}: {e}", arg(3).unwrap_or_default()))?;
    let bodies: Vec<String> = text.lines().map(str::to_string).collect();
    let number = |k: usize| -> Result<u64, String> { arg(k)?.parse().map_err(|e| format!("argument {k}: {e}")) };
    let stats = load(
        addr,
        arg(1)?,
        token,
        &bodies,
        number(4)? as usize,
        Duration::from_millis(number(5)?),
        Duration::from_millis(number(6)?),
    )?;
    println!("{}", serde_json::to_string(&stats).map_err(|e| e.to_string())?);
    Ok(())
}

/// `ward-bench service [--quick]`.
pub fn run(quick: bool) -> Result<(), String> {
    let ward = ward_exe()?;
    let bench = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("ward-bench-service-{}", std::process::id()));
    let setup = Setup::new(&dir, &ward, REQUESTS)?;
    // Both servers must decide alike before they are timed.
    check_agreement(&setup, &bench, 50)?;
    let times = if quick {
        (Duration::from_millis(200), Duration::from_secs(1))
    } else {
        (Duration::from_secs(1), Duration::from_secs(8))
    };
    let singles = dir.join("requests.jsonl");
    write(&singles, &setup.bodies.join("\n"))?;
    let batches = dir.join("batches.jsonl");
    write(&batches, &setup.batches().join("\n"))?;
    let load_before = load_average();
    let mut rows = Vec::new();
    for (cores, server_cpus, client_cpus, client) in
        [("1", "0", "1", "other core"), ("2", "0,1", "0,1", "same 2 cores")]
    {
        for server in ["ward serve", "regorus + axum"] {
            let s = if server == "ward serve" {
                setup.start_ward(Some(server_cpus))?
            } else {
                Setup::start_rego(&bench, Some(server_cpus))?
            };
            let token = (server == "ward serve").then_some(TOKEN);
            for clients in [1, 4] {
                let stats = pinned_load(&singles, s.addr, "/v1/decide", token, clients, client_cpus, times)?;
                eprintln!("{server} {cores} core(s), {clients} client(s), /v1/decide: {stats:?}");
                rows.push(Row { server, cores, client, endpoint: "/v1/decide", clients, per_request: 1, stats });
            }
            if server == "ward serve" {
                for clients in [1, 4] {
                    let stats = pinned_load(&batches, s.addr, "/v1/decide/batch", token, clients, client_cpus, times)?;
                    eprintln!("{server} {cores} core(s), {clients} client(s), batch: {stats:?}");
                    rows.push(Row {
                        server,
                        cores,
                        client,
                        endpoint: "/v1/decide/batch",
                        clients,
                        per_request: BATCH,
                        stats,
                    });
                }
            }
        }
    }
    let load_after = load_average();
    let _ = std::fs::remove_dir_all(&dir);
    println!("{}", render(&rows, quick, &load_before, &load_after, times.1));
    Ok(())
}

/// The first `count` requests, sent to both servers (and, as a batch, to
/// Ward's batch endpoint): the same effect from each, and Cedar's.
pub fn check_agreement(setup: &Setup, bench: &Path, count: usize) -> Result<usize, String> {
    let ward = setup.start_ward(None)?;
    let rego = Setup::start_rego(bench, None)?;
    let cedar = crate::CedarPeer::for_workload(&setup.workload)?;
    let (mut w, mut r) = (Conn::open(ward.addr)?, Conn::open(rego.addr)?);
    let mut allows = 0;
    let count = count.min(setup.bodies.len());
    let mut effects = Vec::new();
    for (i, body) in setup.bodies.iter().take(count).enumerate() {
        let effect = |resp: Response, who: &str| -> Result<String, String> {
            let v = resp.json()?;
            if resp.status != 200 {
                return Err(format!("{who}, request {i} {body}: status {}: {v}", resp.status));
            }
            v.get("effect").and_then(Json::as_str).map(str::to_string).ok_or_else(|| format!("{who}: no effect in {v}"))
        };
        let ward_effect = effect(w.post("/v1/decide", Some(TOKEN), body)?, "ward serve")?;
        let rego_effect = effect(r.post("/v1/decide", None, body)?, "regorus harness")?;
        let cedar_effect = if cedar.decide(i) { "allow" } else { "deny" };
        if ward_effect != rego_effect || ward_effect != cedar_effect {
            return Err(format!(
                "request {i} {body}: ward serve says {ward_effect}, the regorus harness {rego_effect}, cedar-policy {cedar_effect}"
            ));
        }
        allows += usize::from(ward_effect == "allow");
        effects.push(ward_effect);
    }
    let batch =
        format!("{{\"requests\": [{}]}}", setup.bodies.iter().take(count).cloned().collect::<Vec<_>>().join(", "));
    let resp = w.post("/v1/decide/batch", Some(TOKEN), &batch)?;
    let v = resp.json()?;
    let decisions = v.get("decisions").and_then(Json::as_array).ok_or_else(|| format!("batch: {} {v}", resp.status))?;
    let batch_effects: Vec<&str> =
        decisions.iter().map(|d| d.get("effect").and_then(Json::as_str).unwrap_or("?")).collect();
    if batch_effects != effects {
        return Err(format!("/v1/decide/batch decided {batch_effects:?}, /v1/decide {effects:?}"));
    }
    Ok(allows)
}

/// The load average over 1, 5 and 15 minutes, as `/proc/loadavg` gives it.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_string())
}

fn render(rows: &[Row], quick: bool, load_before: &str, load_after: &str, duration: Duration) -> String {
    let mut s = String::new();
    let today = crate::report::civil_date(
        (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) / 86_400) as i64,
    );
    if quick {
        let _ = writeln!(s, "**Quick run (`--quick`): 1 s per row, not for comparison.**\n");
    }
    let _ = writeln!(
        s,
        "Measured {today} on {} ({} cores), {} s per row after a warm-up; load average (1, 5, 15 min) {load_before} before, {load_after} after. Application {}, {N} entities per type (seed {SEED}), {REQUESTS} distinct requests cycled; batches of {BATCH}.\n",
        crate::report::cpu_model(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        duration.as_secs(),
        APP.name(),
    );
    let _ = writeln!(
        s,
        "| server | server cores | client on | endpoint | connections | decisions/s | requests/s | p50 | p99 |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let rps = r.stats.requests as f64 / r.stats.seconds.max(1e-9);
        let _ = writeln!(
            s,
            "| {} | {} | {} | `{}` | {} | {} | {} | {} | {} |",
            r.server,
            r.cores,
            r.client,
            r.endpoint,
            r.clients,
            thousands(rps * r.per_request as f64),
            thousands(rps),
            crate::report::human_ns(r.stats.p50_us * 1e3),
            crate::report::human_ns(r.stats.p99_us * 1e3),
        );
    }
    s
}

/// `12345.6` → `12,346`.
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn numbers_and_digests() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn the_harness_builds_the_input_the_report_evaluates() {
        // The harness's input (shared part + request part) is the one the
        // peers report gives regorus for the same request.
        let w = Workload::generate(APP, 10, 3, 30);
        let inputs = RegoInputs::new(APP, &w.entities);
        let (key, shared) = inputs.shared();
        for (r, want) in w.requests.iter().zip(&w.rego_inputs) {
            let mut got = inputs.request(r);
            got.insert(key.to_string(), shared.clone());
            assert_eq!(&Json::Object(got), want, "{r:?}");
        }
    }
}
