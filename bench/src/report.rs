//! The `report` command: measures every engine on the generated workloads
//! and the scaling sets, and rewrites the peers section of
//! `docs/performance.md` (between [`BEGIN`] and [`END`]; the rest of the file
//! is written by hand and kept) and the plots in `docs/plots/`.
//!
//! The measurements are its own (see [`crate::measure`]): each decision is
//! timed alone, so medians and p99 come from per-request samples. The
//! criterion benchmarks (`cargo bench --bench peers`) time the same
//! closures over the same requests and report means per iteration.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ward_runtime::engine::Backend;

use crate::apps::{self, App};
use crate::cold::{self, COLD_VARIANTS, ColdContenders};
use crate::contenders::{self, CedarPeer, Contenders, VARIANTS, WardSide};
use crate::generate::{SIZES, Workload};
use crate::measure::{self, Stats};
use crate::plot;
use crate::scale::{Folders, RULE_COUNTS, ScaleSet};

pub const BEGIN: &str = "<!-- peers:begin -->";
pub const END: &str = "<!-- peers:end -->";

/// Hierarchies per application and size, and requests per hierarchy.
const HIERARCHIES: u64 = 3;
const REQUESTS: usize = 200;

#[derive(Debug, Clone)]
pub struct Options {
    /// Short budgets and few hierarchies: a smoke run, numbers not for publishing.
    pub quick: bool,
    /// Rewrite `docs/performance.md` and `docs/plots/` (otherwise print only).
    pub write: bool,
    /// Only the scaling sets (`ward-bench scale`): their two tables printed,
    /// nothing written.
    pub scaling_only: bool,
    /// The rule counts measured (default [`RULE_COUNTS`]).
    pub counts: Option<Vec<usize>>,
    /// How the scaling sets' folders nest.
    pub folders: Folders,
    /// Time each phase of the cold compile too (printed).
    pub phases: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { quick: false, write: true, scaling_only: false, counts: None, folders: Folders::Tree, phases: false }
    }
}

#[derive(Debug, Clone)]
pub struct PeerRow {
    pub app: App,
    pub n: usize,
    pub variant: &'static str,
    pub stats: Stats,
}

/// A cold set's size, per application and N: the fewest visits per pass
/// and the fewest slot bytes over the hierarchies and variants.
#[derive(Debug, Clone)]
pub struct ColdSize {
    pub app: App,
    pub n: usize,
    /// Visits in one pass (engine copies × slots each).
    pub visits: usize,
    /// The slots' bytes (a lower bound, see [`crate::cold`]).
    pub slot_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct ScaleRow {
    pub rules: usize,
    pub variant: &'static str,
    pub stats: Stats,
}

#[derive(Debug, Clone, Default)]
pub struct CostRow {
    pub rules: usize,
    /// Ward source → checked, lowered, JIT-compiled engine (median of runs).
    pub ward_compile_ms: f64,
    /// cedar-policy: parsing the policy set (what Cedar does before deciding).
    pub cedar_parse_ms: f64,
    pub ward_heap: Option<u64>,
    pub ward_rss: Option<u64>,
    pub cedar_heap: Option<u64>,
    pub cedar_rss: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct Results {
    pub cpu: String,
    pub cores: usize,
    pub date: String,
    pub quick: bool,
    pub hierarchies: u64,
    pub requests: usize,
    /// The warm variants ([`VARIANTS`]) and the cold ones ([`COLD_VARIANTS`]).
    pub peers: Vec<PeerRow>,
    pub cold_sizes: Vec<ColdSize>,
    /// The load average (1, 5, 15 min) when the run started and ended: a
    /// run on a shared machine says so instead of claiming a quiet one.
    pub load: (String, String),
    /// L2 and last-level cache of CPU 0, bytes.
    pub l2: Option<u64>,
    pub l3: Option<u64>,
    /// Share of allowed requests per (app, n).
    pub allows: Vec<(App, usize, f64)>,
    pub scaling: Vec<ScaleRow>,
    /// How the scaling sets' folders nest (the text says which).
    pub folders: Folders,
    pub costs: Vec<CostRow>,
    pub notes: Vec<String>,
}

impl Results {
    pub fn peer(&self, app: App, n: usize, variant: &str) -> Option<Stats> {
        self.peers.iter().find(|r| r.app == app && r.n == n && r.variant == variant).map(|r| r.stats)
    }

    pub fn scale(&self, rules: usize, variant: &str) -> Option<Stats> {
        self.scaling.iter().find(|r| r.rules == rules && r.variant == variant).map(|r| r.stats)
    }
}

pub fn run(options: &Options) -> Result<(), String> {
    let results = measure_all(options)?;
    if options.scaling_only {
        let mut s = String::new();
        let _ = writeln!(s, "Measured {} on {} ({} cores available).\n", results.date, results.cpu, results.cores);
        render_scaling(&mut s, &results);
        render_costs(&mut s, &results);
        for n in &results.notes {
            let _ = writeln!(s, "- {n}");
        }
        println!("{s}");
        return Ok(());
    }
    let section = render(&results);
    if options.write {
        let doc_path = apps::repo_root().join("docs").join("performance.md");
        let doc = std::fs::read_to_string(&doc_path).unwrap_or_else(|_| "# Performance\n".to_string());
        let doc = replace_section(&doc, &section)?;
        std::fs::write(&doc_path, doc).map_err(|e| format!("cannot write {}: {e}", doc_path.display()))?;
        let plots = apps::repo_root().join("docs").join("plots");
        std::fs::create_dir_all(&plots).map_err(|e| format!("cannot create {}: {e}", plots.display()))?;
        plot::all(&results, &plots)?;
        eprintln!("wrote {} and {}/", doc_path.display(), plots.display());
    } else {
        println!("{section}");
    }
    Ok(())
}

/// How long and on how much each measurement runs.
struct Plan {
    quick: bool,
    /// Time spent per engine and workload.
    budget: Duration,
    hierarchies: u64,
    requests: usize,
    /// The timer's own cost, subtracted from every sample.
    overhead: f64,
}

fn measure_all(options: &Options) -> Result<Results, String> {
    let (budget, hierarchies, requests) = if options.quick {
        (Duration::from_millis(20), 1, 50)
    } else {
        (Duration::from_millis(400), HIERARCHIES, REQUESTS)
    };
    let overhead = measure::timer_overhead_ns();
    let m = Plan { quick: options.quick, budget, hierarchies, requests, overhead };
    let mut results = Results {
        cpu: cpu_model(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        date: today(),
        quick: options.quick,
        hierarchies,
        requests,
        l2: cold::cache_bytes(2),
        l3: cold::cache_bytes(3),
        folders: options.folders,
        load: (crate::service::load_average(), String::new()),
        ..Results::default()
    };
    results.notes.push(format!("timer overhead subtracted: {overhead:.0} ns per sample"));
    if !options.scaling_only {
        for app in App::ALL {
            for n in SIZES {
                measure_peers(&m, app, n, &mut results)?;
            }
        }
    }
    let counts: &[usize] = match &options.counts {
        Some(counts) => counts,
        None if options.quick => &RULE_COUNTS[..2],
        None => &RULE_COUNTS,
    };
    for &rules in counts {
        measure_scale(&m, rules, options, &mut results)?;
    }
    results.load.1 = crate::service::load_average();
    Ok(results)
}

/// Every engine on application `app` at size `n`, over the plan's seeded
/// hierarchies: decisions checked against cedar-policy's, then timed.
fn measure_peers(m: &Plan, app: App, n: usize, results: &mut Results) -> Result<(), String> {
    let mut pooled: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    let (mut allowed, mut total) = (0usize, 0usize);
    for h in 0..m.hierarchies {
        let w = Workload::generate(app, n, 1 + h, m.requests);
        let mut c = Contenders::new(&w)?;
        let count = w.requests.len();
        // Agreement first: the timing means nothing otherwise.
        let expected: Vec<bool> = (0..count).map(|i| c.cedar.decide(i)).collect();
        allowed += expected.iter().filter(|a| **a).count();
        total += count;
        for (k, (name, mut decide)) in c.variants().into_iter().enumerate() {
            let wrong = (0..count).filter(|&i| decide(i) != expected.get(i).copied().unwrap_or(false)).count();
            if wrong > 0 {
                return Err(format!(
                    "{} N={n} hierarchy {h}: {name} disagrees with cedar on {wrong} of {count} requests (run the peers test)",
                    app.name()
                ));
            }
            let samples = measure::per_request(&mut decide, count, m.budget, 1, m.overhead);
            if let Some(p) = pooled.get_mut(k) {
                p.extend(samples);
            }
        }
    }
    measure_cold(m, app, n, results)?;
    for ((name, _), samples) in VARIANTS.iter().zip(pooled) {
        let stats = Stats::of(samples);
        eprintln!(
            "{:>8} N={n:<3} {name:<18} median {:>10.0} ns  p99 {:>10.0} ns",
            app.name(),
            stats.median_ns,
            stats.p99_ns
        );
        results.peers.push(PeerRow { app, n, variant: name, stats });
    }
    results.allows.push((app, n, allowed as f64 / total.max(1) as f64));
    Ok(())
}

/// The cold variants on application `app` at size `n`: per hierarchy, a
/// cold set built ([`ColdContenders`]), its decisions checked against
/// cedar-policy's on the first visits, then every visit timed.
fn measure_cold(m: &Plan, app: App, n: usize, results: &mut Results) -> Result<(), String> {
    let mut pooled: Vec<Vec<f64>> = vec![Vec::new(); COLD_VARIANTS.len()];
    let target = cold::target_bytes();
    let mut size: Option<ColdSize> = None;
    for h in 0..m.hierarchies {
        let w = Workload::generate(app, n, 1 + h, m.requests);
        let expected: Vec<bool> = {
            let cedar = CedarPeer::for_workload(&w)?;
            (0..w.requests.len()).map(|i| cedar.decide(i)).collect()
        };
        let c = ColdContenders::new(&w, target)?;
        let bytes = [c.cedar.slot_bytes, c.cedar_json.slot_bytes, c.ward_prepared.slot_bytes, c.ward_json.slot_bytes];
        for (k, mut v) in c.variants().into_iter().enumerate() {
            let wrong = (0..v.len.min(5_000))
                .filter(|&i| {
                    let want = (v.request_of)(i).and_then(|j| expected.get(j).copied());
                    want != Some((v.decide)(i))
                })
                .count();
            if wrong > 0 {
                return Err(format!(
                    "{} N={n} hierarchy {h}: {} disagrees with cedar on {wrong} visits (run the peers test)",
                    app.name(),
                    v.name
                ));
            }
            let slot_bytes = bytes.get(k).copied().unwrap_or(0);
            size = Some(match size {
                Some(s) => ColdSize { visits: s.visits.min(v.len), slot_bytes: s.slot_bytes.min(slot_bytes), ..s },
                None => ColdSize { app, n, visits: v.len, slot_bytes },
            });
            let samples = measure::per_visit(&mut v.decide, v.len, m.budget, m.overhead);
            if let Some(p) = pooled.get_mut(k) {
                p.extend(samples);
            }
        }
    }
    for ((name, _), samples) in COLD_VARIANTS.iter().zip(pooled) {
        let stats = Stats::of(samples);
        eprintln!(
            "{:>8} N={n:<3} {name:<22} median {:>10.0} ns  p99 {:>10.0} ns",
            app.name(),
            stats.median_ns,
            stats.p99_ns
        );
        results.peers.push(PeerRow { app, n, variant: name, stats });
    }
    results.cold_sizes.extend(size);
    Ok(())
}

/// The generated set of `rules` rules: latency of cedar-policy and Ward
/// (decisions checked equal first), compile or parse time, memory.
fn measure_scale(m: &Plan, rules: usize, options: &Options, results: &mut Results) -> Result<(), String> {
    let set = ScaleSet::generate_with(rules, 1, if m.quick { 32 } else { 256 }, options.folders);
    let entities = set.entities_json();
    let cedar = CedarPeer::new(ScaleSet::cedar_schema()?, &set.cedar_policy, &entities, &set.requests)?;
    let jit = WardSide::from_sources(&set.ward_files(), &entities, Backend::Jit, &set.requests)?;
    let interp = WardSide::from_sources(&set.ward_files(), &entities, Backend::Interpreter, &set.requests)?;
    let count = set.requests.len();
    let expected: Vec<bool> = (0..count).map(|i| cedar.decide(i)).collect();
    let mut variants: Vec<(&'static str, contenders::Variant<'_>)> = vec![
        ("cedar", Box::new(|i| cedar.decide(i)) as contenders::Variant<'_>),
        ("ward-interp", Box::new(|i| interp.allows_prepared(i))),
        ("ward-jit-prepared", Box::new(|i| jit.allows_prepared(i))),
        ("ward-jit-typed", Box::new(|i| jit.allows_typed(i))),
    ];
    for (name, decide) in &mut variants {
        let wrong = (0..count).filter(|&i| decide(i) != expected.get(i).copied().unwrap_or(false)).count();
        if wrong > 0 {
            return Err(format!("{rules} rules: {name} disagrees with cedar on {wrong} of {count} requests"));
        }
        let stats = Stats::of(measure::per_request(decide, count, m.budget, 1, m.overhead));
        eprintln!("{rules:>6} rules {name:<18} median {:>10.0} ns  p99 {:>10.0} ns", stats.median_ns, stats.p99_ns);
        results.scaling.push(ScaleRow { rules, variant: name, stats });
    }
    drop(variants);

    let runs = if m.quick { 1 } else { 3 };
    let time_ms = |f: &mut dyn FnMut() -> Result<(), String>| -> Result<f64, String> {
        let mut times = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            f()?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        Ok(Stats::of(times).median_ns)
    };
    let empty = serde_json::json!([]);
    if options.phases {
        let phases = contenders::compile_phases(&set.ward_files())?;
        let text: Vec<String> = phases.iter().map(|(p, ms)| format!("{p} {ms:.1} ms")).collect();
        eprintln!("{rules:>6} rules compile phases: {}", text.join(", "));
    }
    let mut cost = CostRow {
        rules,
        ward_compile_ms: time_ms(&mut || contenders::compile(&set.ward_files(), &empty, Backend::Jit).map(drop))?,
        cedar_parse_ms: time_ms(&mut || {
            set.cedar_policy.parse::<cedar_policy::PolicySet>().map(drop).map_err(|e| e.to_string())
        })?,
        ..CostRow::default()
    };
    match (memory("ward", rules), memory("cedar", rules)) {
        (Ok((wh, wr)), Ok((ch, cr))) => {
            (cost.ward_heap, cost.ward_rss, cost.cedar_heap, cost.cedar_rss) = (Some(wh), Some(wr), Some(ch), Some(cr));
        }
        (Err(e), _) | (_, Err(e)) => {
            if !results.notes.iter().any(|n| n.starts_with("memory")) {
                results.notes.push(format!("memory not measured: {e}"));
            }
        }
    }
    eprintln!(
        "{rules:>6} rules compile: ward {:.1} ms, cedar parse {:.1} ms",
        cost.ward_compile_ms, cost.cedar_parse_ms
    );
    results.costs.push(cost);
    Ok(())
}

/// Runs `ward-bench-mem ENGINE RULES` (built beside this binary) and reads
/// its heap and resident-set growth.
fn memory(engine: &str, rules: usize) -> Result<(u64, u64), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mem = exe.with_file_name(format!("ward-bench-mem{}", std::env::consts::EXE_SUFFIX));
    if !mem.exists() {
        return Err(format!(
            "{} is missing (build it: cargo build -p ward-bench --release --bins)",
            file_name(&mem).display()
        ));
    }
    let out = std::process::Command::new(&mem)
        .args([engine, &rules.to_string()])
        .output()
        .map_err(|e| format!("{}: {e}", mem.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed: {}", mem.display(), String::from_utf8_lossy(&out.stderr)));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("{}: bad output: {e}", mem.display()))?;
    let field = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).ok_or_else(|| format!("no `{k}` in {v}"));
    Ok((field("heap_bytes")?, field("rss_bytes")?))
}

fn file_name(p: &Path) -> PathBuf {
    p.file_name().map_or_else(|| p.to_path_buf(), PathBuf::from)
}

/// Replaces the text between the markers, or appends the section with its
/// markers when the document has none.
pub fn replace_section(doc: &str, section: &str) -> Result<String, String> {
    match (doc.find(BEGIN), doc.find(END)) {
        (Some(b), Some(e)) if b < e => {
            let head = doc.get(..b + BEGIN.len()).unwrap_or_default();
            let tail = doc.get(e..).unwrap_or_default();
            Ok(format!("{head}\n{}\n{tail}", section.trim_end()))
        }
        (None, None) => Ok(format!("{}\n\n{BEGIN}\n{}\n{END}\n", doc.trim_end(), section.trim_end())),
        _ => Err(format!("docs/performance.md: the markers `{BEGIN}` and `{END}` are out of order or one is missing")),
    }
}

/// A duration in nanoseconds, readably.
pub fn human_ns(ns: f64) -> String {
    if ns.is_nan() {
        "—".to_string()
    } else if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

fn human_bytes(b: Option<u64>) -> String {
    match b {
        None => "—".to_string(),
        Some(b) if b < 10 * 1024 => format!("{b} B"),
        Some(b) if b < 10 * 1024 * 1024 => format!("{:.0} KiB", b as f64 / 1024.0),
        Some(b) => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    }
}

fn ratio(a: Option<Stats>, b: Option<Stats>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b.median_ns > 0.0 => format!("{:.1}×", a.median_ns / b.median_ns),
        _ => "—".to_string(),
    }
}

/// The peers section of `docs/performance.md`.
pub fn render(r: &Results) -> String {
    let mut s = String::new();
    render_method(&mut s, r);
    render_peers(&mut s, r);
    render_ratios(&mut s, r);
    render_cold(&mut s, r);
    render_scaling(&mut s, r);
    render_costs(&mut s, r);
    for n in &r.notes {
        let _ = writeln!(s, "- {n}");
    }
    s
}

/// A table cell: ` median / p99 |`, or ` — |` when not measured.
fn cell(stats: Option<Stats>) -> String {
    match stats {
        Some(st) => format!(" {} / {} |", human_ns(st.median_ns), human_ns(st.p99_ns)),
        None => " — |".to_string(),
    }
}

/// How the numbers were obtained: machine, workloads, timing, engines.
fn render_method(s: &mut String, r: &Results) {
    let _ = writeln!(s, "## Against Cedar and Rego on the Cedar paper's workloads\n");
    let _ = writeln!(
        s,
        "*This section is written by `cargo run -p ward-bench --release -- report` (first `cargo build -p ward-bench --release --bins` for the memory column); edit `bench/src/report.rs`, not the text.*\n"
    );
    if r.quick {
        let _ = writeln!(s, "**Quick run (`--quick`): short budgets, not for comparison.**\n");
    }
    let _ = writeln!(
        s,
        "Measured {} on {} ({} cores available), release profile; load average (1, 5, 15 min) {} when the run started, {} when it ended (the run itself is about 1): compare rows of one run, not runs of different days.\n",
        r.date, r.cpu, r.cores, r.load.0, r.load.1
    );
    let _ = writeln!(
        s,
        "Workloads: the gdrive, github and tinytodo applications of the Cedar paper (OOPSLA 2024). cedar-policy and regorus run the paper's own Cedar and Rego files, read unchanged from `../shared/peer-workloads/` (`$WARD_PEER_WORKLOADS`); Ward runs our translation in `benches/workloads/`. Entities follow the paper's method (`bench/src/generate.rs`): N entities of each type, each possible link with probability 0.05, acyclic hierarchies; {} seeded hierarchies per application and N, {} random requests each (principal, action and resource drawn among the generated entities and the schema's actions). Before timing, every engine's decision on every request is checked against cedar-policy's (all agree; `tests/peers.rs` asserts it in CI).\n",
        r.hierarchies, r.requests
    );
    let _ = writeln!(
        s,
        "Each decision is timed alone (`Instant`, the timer's own cost subtracted), the requests cycled in a fixed order; median and p99 are over all those samples. Engines are set up once, as a service would: cedar-policy with its `Entities` and `Request`s built beforehand (and, for `cedar-json`, each request's JSON text — byte for byte the text `ward-jit-json` reads, `{{\"principal\": {{\"type\", \"id\"}}, \"action\": {{\"type\": \"Action\", \"id\"}}, \"resource\": …, \"context\": {{}}}}` — parsed on every call); regorus with the policy loaded and each request's input prebuilt (setting it is a reference-count increment) before `eval_rule(\"data.APP.allow\")`; Ward with the policy compiled and entities loaded.\n"
    );
    for (name, what) in VARIANTS {
        let _ = writeln!(s, "- `{name}`: {what}");
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "How the inputs differ between engines (the decisions do not): Cedar and Ward read the same Cedar JSON entities; the Rego policies read one `input` document per request, in the shape the paper's harness built (`bench/src/generate.rs`, `rego_shared` and `rego_request`): gdrive's `files` graph (each document and folder with its folders) and the principal's `documentsAndFoldersWithViewAccess` — the files in the user's view set, transitively, computed by the generator because the policy's `graph.reachable` can only walk upwards; github's `orgs` graph (every entity with its parents) and the repository's permissions keyed by action; tinytodo's `Data.Groups` (users and teams with their parents). Building those inputs is not timed. Translations: github's action chain (`read` in `triage` in … `admin`, every level also requested) uses one Ward group per level (`upto_triage` …), since a Ward action group is never itself requested; tinytodo's `resource has owner && resource.owner == principal` is `resource: List when resource.owner == principal` (only lists have an owner).\n"
    );
}

/// Per application: latency of every engine at every size.
fn render_peers(s: &mut String, r: &Results) {
    for app in App::ALL {
        let _ = writeln!(s, "### {}\n", app.name());
        let _ = write!(s, "| N | allowed |");
        for (name, _) in VARIANTS {
            let _ = write!(s, " {name} median / p99 |");
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "|---|---|{}", "---|".repeat(VARIANTS.len()));
        for n in SIZES {
            let allowed = r.allows.iter().find(|(a, k, _)| *a == app && *k == n).map_or(0.0, |x| x.2);
            let _ = write!(s, "| {n} | {:.0} % |", allowed * 100.0);
            for (name, _) in VARIANTS {
                s.push_str(&cell(r.peer(app, n, name)));
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s, "\n![latency vs N, {0}](plots/peers-{0}.svg)\n", app.name());
    }
}

/// How many times faster Ward is, at the median.
fn render_ratios(s: &mut String, r: &Results) {
    let _ = writeln!(s, "### Ratios at the median (how many times faster Ward is)\n");
    let _ = writeln!(
        s,
        "Targets (DESIGN.md): ≥ 40× cedar-policy and ≥ 100× regorus at the median; p50 ≤ 50 ns on a prepared frame; from JSON text, p50 ≤ 400 ns and ≥ 10× Cedar's JSON → `Request` → `is_authorized` (`cedar-json / jit-json`).\n"
    );
    let _ = writeln!(
        s,
        "| app | N | cedar / jit-prepared | cedar / jit-typed | cedar / jit-json | cedar-json / jit-json | regorus / jit-prepared | regorus / jit-typed | cedar / interp |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
    for app in App::ALL {
        for n in SIZES {
            let g = |v: &str| r.peer(app, n, v);
            let _ = writeln!(
                s,
                "| {} | {n} | {} | {} | {} | {} | {} | {} | {} |",
                app.name(),
                ratio(g("cedar"), g("ward-jit-prepared")),
                ratio(g("cedar"), g("ward-jit-typed")),
                ratio(g("cedar"), g("ward-jit-json")),
                ratio(g("cedar-json"), g("ward-jit-json")),
                ratio(g("regorus"), g("ward-jit-prepared")),
                ratio(g("regorus"), g("ward-jit-typed")),
                ratio(g("cedar"), g("ward-interp")),
            );
        }
    }
    let _ = writeln!(s);
}

/// The cold variants beside their warm counterparts.
fn render_cold(s: &mut String, r: &Results) {
    let _ = writeln!(s, "### Cold caches\n");
    let mib = |b: u64| b as f64 / f64::from(1u32 << 20);
    // Caches under a mebibyte (512 KiB L2s) printed as "0 MiB" before.
    let size = |b: u64| {
        if b >= 1 << 20 { format!("{:.0} MiB", b as f64 / f64::from(1u32 << 20)) } else { format!("{} KiB", b >> 10) }
    };
    let caches = match (r.l2, r.l3) {
        (Some(l2), Some(l3)) => format!("(this machine: L2 {} per core, L3 {})", size(l2), size(l3)),
        _ => "(cache sizes not readable from sysfs)".to_string(),
    };
    let _ = writeln!(
        s,
        "The same decisions, each made once per pass over a *cold set* (`bench/src/cold.rs`): {} independently built engines per engine kind (Ward: the policy compiled and JIT-compiled again and the entity store loaded again; Cedar: the policy set parsed and `Entities` built again) and, per engine copy, the workload's requests made again and again — one allocation each: a prepared frame, a JSON `String` or a Cedar `Request` — until the slots alone take at least {:.0} MiB, max(32 MiB, 2 × L3) {caches}. Each call visits the next (copy, slot) pair of a shuffled list of all of them; a pass times every visit once (no warm-up pass). Decisions on the first 5,000 visits are checked against cedar-policy's before timing.\n",
        cold::COPIES,
        mib(cold::target_bytes()),
    );
    let _ = writeln!(
        s,
        "What is cold: the request (frame, JSON text or Cedar `Request`), read once per pass over more memory than L2 and L3 hold; the engine copy's entities and policy data, evicted between visits by the slots in between (a copy's hottest lines may stay in L3: {} copies of a small store are well under it). What is not: the code of the decision path (each Ward copy has its own JIT code, but the runtime's, serde's and Cedar's code is shared and stays in the instruction caches), the list of visits (read in order) and the branch predictors.\n",
        cold::COPIES
    );
    for (name, what) in COLD_VARIANTS {
        let _ = writeln!(s, "- `{name}`: {what}");
    }
    let _ = writeln!(s);
    let _ = write!(s, "| app | N | visits per pass, at least | slot MiB, at least |");
    for (name, _) in COLD_VARIANTS {
        let _ = write!(s, " {name} median / p99 |");
    }
    let _ = writeln!(s, " cedar / jit-prepared, cold (warm) | cedar-json / jit-json, cold (warm) |");
    let _ = writeln!(s, "|---|---|---|---|{}---|---|", "---|".repeat(COLD_VARIANTS.len()));
    for app in App::ALL {
        for n in SIZES {
            let Some(size) = r.cold_sizes.iter().find(|c| c.app == app && c.n == n) else { continue };
            let _ = write!(s, "| {} | {n} | {} | {:.0} |", app.name(), size.visits, mib(size.slot_bytes));
            for (name, _) in COLD_VARIANTS {
                s.push_str(&cell(r.peer(app, n, name)));
            }
            let g = |v: &str| r.peer(app, n, v);
            let _ = writeln!(
                s,
                " {} ({}) | {} ({}) |",
                ratio(g("cedar-cold"), g("ward-jit-prepared-cold")),
                ratio(g("cedar"), g("ward-jit-prepared")),
                ratio(g("cedar-json-cold"), g("ward-jit-json-cold")),
                ratio(g("cedar-json"), g("ward-jit-json")),
            );
        }
    }
    let _ = writeln!(s);
}

/// Latency against the number of rules.
fn render_scaling(s: &mut String, r: &Results) {
    let _ = writeln!(s, "### Scaling with the number of rules\n");
    let _ = writeln!(
        s,
        "Generated policy sets (`bench/src/scale.rs`), the same rules in Ward and in Cedar: per-document user grants, team grants on a document with a level condition, team share grants on a folder (through the folder hierarchy) with an ownership condition, and team write bans; 100 users in 20 teams, one document per 4 rules, one folder per 8 documents, {}. 256 random requests; decisions checked equal to cedar-policy's before timing. Only these tables: `cargo run -p ward-bench --release -- scale`.\n",
        match r.folders {
            Folders::Tree => "folders in a tree (a few with a second parent)",
            Folders::Dense => {
                "folders nested densely (`--dense-folders`: every earlier folder a parent with probability 0.05)"
            }
        }
    );
    let scale_variants = ["cedar", "ward-interp", "ward-jit-prepared", "ward-jit-typed"];
    let _ = write!(s, "| rules |");
    for v in scale_variants {
        let _ = write!(s, " {v} median / p99 |");
    }
    let _ = writeln!(s, " cedar / jit-prepared |");
    let _ = writeln!(s, "|---|{}---|", "---|".repeat(scale_variants.len()));
    let mut counts: Vec<usize> = r.scaling.iter().map(|x| x.rules).collect();
    counts.dedup();
    for rules in &counts {
        let _ = write!(s, "| {rules} |");
        for v in scale_variants {
            s.push_str(&cell(r.scale(*rules, v)));
        }
        let _ = writeln!(s, " {} |", ratio(r.scale(*rules, "cedar"), r.scale(*rules, "ward-jit-prepared")));
    }
    let _ = writeln!(s, "\n![latency vs rules](plots/scaling.svg)\n");
}

/// Compile time and memory against the number of rules.
fn render_costs(s: &mut String, r: &Results) {
    let _ = writeln!(s, "### Cold compile time and memory of a compiled set\n");
    let _ = writeln!(
        s,
        "Compile: Ward source to a JIT-compiled engine (parse, check, lower, Cranelift), no entities; Cedar: parsing the policy set (Cedar has no compile step). Memory, measured in a fresh process per engine and size (`ward-bench-mem`): heap bytes held by the built policy set once the compiler's transients are freed, and the resident-set growth, which adds the JIT's code pages (mapped outside the heap) and heap the allocator kept.\n"
    );
    let _ = writeln!(
        s,
        "| rules | Ward compile | × previous row | Cedar parse | Ward heap | Ward heap per rule | Ward RSS growth | Cedar heap | Cedar RSS growth |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
    let mut previous: Option<f64> = None;
    for c in &r.costs {
        let growth =
            previous.filter(|p| *p > 0.0).map_or_else(|| "—".to_string(), |p| format!("{:.1}×", c.ward_compile_ms / p));
        previous = Some(c.ward_compile_ms);
        let per_rule = c.ward_heap.map(|h| h / c.rules.max(1) as u64);
        let _ = writeln!(
            s,
            "| {} | {:.1} ms | {growth} | {:.1} ms | {} | {} | {} | {} | {} |",
            c.rules,
            c.ward_compile_ms,
            c.cedar_parse_ms,
            human_bytes(c.ward_heap),
            human_bytes(per_rule),
            human_bytes(c.ward_rss),
            human_bytes(c.cedar_heap),
            human_bytes(c.cedar_rss),
        );
    }
    let _ = writeln!(s, "\n![compile time vs rules](plots/compile.svg)\n");
}

/// The CPU model from `/proc/cpuinfo`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| format!("an unknown {} CPU", std::env::consts::ARCH))
}

/// Today's date (UTC), `YYYY-MM-DD`.
fn today() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    civil_date((secs / 86_400) as i64)
}

/// Days since 1970-01-01 to a calendar date (Hinnant's algorithm).
pub fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn section_replaced_between_markers_and_the_rest_kept() {
        let doc = format!("# P\n\nhand\n\n{BEGIN}\nold\n{END}\n\n## After\nkept\n");
        let out = replace_section(&doc, "new\n").unwrap();
        assert_eq!(out, format!("# P\n\nhand\n\n{BEGIN}\nnew\n{END}\n\n## After\nkept\n"));
        assert_eq!(replace_section(&out, "new\n").unwrap(), out);
    }

    #[test]
    fn section_appended_when_no_markers() {
        let out = replace_section("# P\n\ntext\n", "x").unwrap();
        assert_eq!(out, format!("# P\n\ntext\n\n{BEGIN}\nx\n{END}\n"));
        assert!(replace_section(&format!("{END}{BEGIN}"), "x").is_err());
        assert!(replace_section(BEGIN, "x").is_err());
    }

    #[test]
    fn dates_and_units() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(20_418), "2025-11-26");
        assert_eq!(human_ns(42.4), "42 ns");
        assert_eq!(human_ns(4_200.0), "4.20 µs");
        assert_eq!(human_ns(f64::NAN), "—");
    }

    #[test]
    fn render_names_every_app_and_variant() {
        let stats = Stats { median_ns: 100.0, p99_ns: 200.0, mean_ns: 110.0, samples: 10 };
        let mut r = Results { cpu: "cpu".into(), cores: 2, date: "2026-11-26".into(), ..Results::default() };
        for app in App::ALL {
            for (v, _) in VARIANTS {
                r.peers.push(PeerRow { app, n: 5, variant: v, stats });
            }
        }
        for (v, _) in COLD_VARIANTS {
            r.peers.push(PeerRow { app: App::Github, n: 10, variant: v, stats });
        }
        r.cold_sizes.push(ColdSize { app: App::Github, n: 10, visits: 1234, slot_bytes: 64 << 20 });
        r.scaling.push(ScaleRow { rules: 10, variant: "cedar", stats });
        r.costs.push(CostRow { rules: 10, ward_heap: Some(2048), ..CostRow::default() });
        let s = render(&r);
        for app in App::ALL {
            assert!(s.contains(&format!("### {}", app.name())));
        }
        assert!(s.contains("| 5 | 0 % | 100 ns / 200 ns |"));
        assert!(s.contains("2048 B"));
        assert!(s.contains(" cedar-json median / p99 |"), "the cedar-json column");
        // The cold table: one row, for the one (app, N) measured cold.
        assert!(
            s.contains("| github | 10 | 1234 | 64 | 100 ns / 200 ns | 100 ns / 200 ns | 100 ns / 200 ns | 100 ns / 200 ns | 1.0× (—) | 1.0× (—) |"),
            "{s}"
        );
        assert!(!s.contains("| gdrive | 10 | 1234"));
        assert!(!s.contains(BEGIN));
    }
}
