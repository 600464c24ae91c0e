//! `ward test`, `ward eval` and `ward explain`: compile, then decide.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use ward_compiler::ir::lifecycle::DAY_MS;
use ward_compiler::literals::date_text;
use ward_compiler::{Options, Severity, literals};
use ward_runtime::engine::{Backend, Engine, FixedClock, Loaded, SystemClock};
use ward_runtime::{Decision, Request, Store, testing};

use crate::{Format, USAGE, load, print_diagnostics};

/// Compiles the policy files at `paths`, printing diagnostics when it fails.
pub fn compile(paths: &[PathBuf], options: &Options) -> Result<ward_compiler::lower::Compiled, ExitCode> {
    let (mut sources, _) = load(paths).map_err(|message| {
        eprintln!("error: {message}");
        ExitCode::from(USAGE)
    })?;
    sources.add_stdlib();
    match ward_compiler::compile(&sources, options) {
        Ok((compiled, _warnings)) => Ok(compiled),
        Err(diags) => {
            print_diagnostics(&sources, &diags, Format::Human);
            let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
            eprintln!("error: the policy has {errors} error(s); nothing was decided");
            Err(ExitCode::FAILURE)
        }
    }
}

pub fn test(paths: &[PathBuf], backend: Backend, options: &Options, solver: &crate::analysis::SolverArgs) -> ExitCode {
    let compiled = match compile(paths, options) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let program = Arc::new(compiled.program);
    let (results, coverage) = testing::run(&program, &compiled.tests, backend);
    let mut out = std::io::stdout().lock();
    let (mut passed, mut failed) = (0, 0);
    for r in &results {
        if r.passed() {
            passed += 1;
            let _ = writeln!(out, "ok      {}", r.name);
        } else {
            failed += 1;
            let _ = writeln!(out, "FAILED  {}  ({})", r.name, r.location);
            for f in &r.failures {
                let _ = writeln!(out, "  {}: {}", f.location, f.message);
                if !f.expected.is_empty() || !f.actual.is_empty() {
                    let _ = writeln!(out, "{}", diff(&f.expected, &f.actual));
                }
            }
        }
    }
    let (asserts_passed, asserts_failed) = crate::analysis::test_asserts(&mut out, &program, &compiled.asserts, solver);
    passed += asserts_passed;
    failed += asserts_failed;
    let never = coverage.never_exercised();
    let _ = writeln!(out, "coverage: {} of {} rules exercised", coverage.all.len() - never.len(), coverage.all.len());
    if !never.is_empty() {
        let _ = writeln!(out, "never exercised: {}", never.join(", "));
    }
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// A line diff of expected vs actual decisions: `-` expected only, `+` actual only.
fn diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let mut out = String::from("    --- expected\n    +++ actual\n");
    for line in &e {
        if !a.contains(line) {
            out.push_str(&format!("    - {line}\n"));
        }
    }
    for line in &a {
        if e.contains(line) {
            out.push_str(&format!("      {line}\n"));
        } else {
            out.push_str(&format!("    + {line}\n"));
        }
    }
    out.trim_end().to_string()
}

/// Inputs shared by `eval` and `explain`.
pub struct EvalArgs {
    pub policy: Vec<PathBuf>,
    pub request: Option<PathBuf>,
    pub requests: Option<PathBuf>,
    pub entities: Option<PathBuf>,
    pub fixture: Option<String>,
    pub backend: Backend,
    pub at: Option<String>,
    pub audit_log: Option<PathBuf>,
    pub audit_durability: ward_runtime::audit::Durability,
}

fn read(path: &Path, what: &str) -> Result<String, ExitCode> {
    std::fs::read_to_string(path).map_err(|e| {
        eprintln!("error: cannot read {what} `{}`: {}", path.display(), crate::files::describe(&e));
        ExitCode::from(USAGE)
    })
}

/// Runs `decide` for each request and prints the decisions with `print`.
pub fn eval(
    args: &EvalArgs,
    options: &Options,
    print: impl Fn(&mut dyn Write, &Engine, &Request, &Decision),
) -> ExitCode {
    let compiled = match compile(&args.policy, options) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let program = Arc::new(compiled.program);
    let entities = match &args.entities {
        Some(path) => {
            let text = match read(path, "entities") {
                Ok(t) => t,
                Err(code) => return code,
            };
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("error: entities `{}` are not valid JSON: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
        }
        None => match &args.fixture {
            Some(name) => match compiled.fixtures.get(name) {
                Some(entities) => entities.clone(),
                None => {
                    let known: Vec<&str> = compiled.fixtures.keys().map(String::as_str).collect();
                    eprintln!("error: no fixture `{name}` (the policy declares: {})", known.join(", "));
                    return ExitCode::from(USAGE);
                }
            },
            None => serde_json::Value::Array(Vec::new()),
        },
    };
    let store = match Store::load(Arc::clone(&program), &entities) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: entities: {e}");
            return ExitCode::FAILURE;
        }
    };
    let clock: Arc<dyn ward_runtime::Clock> = match &args.at {
        Some(at) => match literals::time_ms(at).or_else(|_| literals::date_days(at).map(|d| d * 86_400_000)) {
            Ok(ms) => Arc::new(FixedClock::new(ms)),
            Err(e) => {
                eprintln!("error: --at: {e}");
                return ExitCode::from(USAGE);
            }
        },
        None => Arc::new(SystemClock),
    };
    let loaded = Loaded::new(program, store, args.backend == Backend::Jit);
    if let (Backend::Jit, Some(why)) = (args.backend, &loaded.jit_error) {
        eprintln!("note: using the interpreter: {why}");
    }
    let policy_hash = loaded.program().source_hash.clone();
    let engine = Engine::new(loaded, clock, args.backend);
    let audit = match &args.audit_log {
        Some(path) => match ward_runtime::audit::AuditLog::open(path, args.audit_durability) {
            Ok(log) => Some(log),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let lines: Vec<String> = match (&args.request, &args.requests) {
        (Some(path), None) => match read(path, "request") {
            Ok(t) => vec![t],
            Err(code) => return code,
        },
        (None, Some(path)) => match read(path, "requests") {
            Ok(t) => t.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect(),
            Err(code) => return code,
        },
        _ => {
            eprintln!("error: give exactly one of --request FILE or --requests FILE.jsonl");
            return ExitCode::from(USAGE);
        }
    };
    let mut out = std::io::stdout().lock();
    for line in lines {
        match Request::from_json_str(&line) {
            Ok(r) => {
                let decision = engine.decide(&r);
                if let Some(log) = &audit {
                    let entry = ward_runtime::audit::Entry::new(&r, &decision, &policy_hash, engine.clock().now_ms());
                    if let Err(e) = log.append(entry) {
                        eprintln!("error: {e}");
                        return ExitCode::FAILURE;
                    }
                }
                print(&mut out, &engine, &r, &decision);
            }
            Err(e) => {
                let decision = Decision::refused(e.to_string());
                let placeholder = Request::new(Default::default(), String::new(), Default::default());
                print(&mut out, &engine, &placeholder, &decision);
            }
        }
    }
    ExitCode::SUCCESS
}

/// The key source: a keys file if given, else the environment.
pub fn keys(path: Option<&Path>) -> Result<Box<dyn ward_runtime::mask::Keys>, ExitCode> {
    match path {
        None => Ok(Box::new(ward_runtime::mask::EnvKeys)),
        Some(p) => {
            let text = read(p, "keys")?;
            let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                eprintln!("error: keys `{}` are not valid JSON: {e}", p.display());
                ExitCode::from(USAGE)
            })?;
            ward_runtime::mask::StaticKeys::from_json(&json)
                .map(|k| Box::new(k) as Box<dyn ward_runtime::mask::Keys>)
                .map_err(|e| {
                    eprintln!("error: keys `{}`: {e}", p.display());
                    ExitCode::from(USAGE)
                })
        }
    }
}

/// `ward mask`: decide the request, then print the payload with the
/// decision's masks applied. A deny (or a mask that cannot be applied)
/// prints the decision to stderr and exits 1: nothing is released.
pub fn mask(args: &EvalArgs, payload: &Path, keys_file: Option<&Path>, options: &Options) -> ExitCode {
    let keys = match keys(keys_file) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let text = match read(payload, "payload") {
        Ok(t) => t,
        Err(code) => return code,
    };
    let outcome = std::cell::Cell::new(ExitCode::SUCCESS);
    let code = eval(args, options, |out, engine, _request, decision| {
        let mut decision = decision.clone();
        let mut payload = ward_runtime::masking::Payload::parse(&text);
        match engine.mask(&mut decision, &mut payload, keys.as_ref()) {
            Ok(()) => {
                let _ = writeln!(out, "{}", payload.render());
            }
            Err(e) => {
                eprintln!("refused: {e}");
                eprint!("{}", decision.explain());
                outcome.set(ExitCode::FAILURE);
            }
        }
    });
    if code != ExitCode::SUCCESS { code } else { outcome.get() }
}

/// `ward detokenize`: reverses tokens made with the named key.
pub fn detokenize(key_name: &str, keys_file: Option<&Path>, input: Option<&Path>, text: Option<&str>) -> ExitCode {
    let keys = match keys(keys_file) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let Some(key) = keys.key(key_name) else {
        eprintln!("error: no key `{key_name}`; detokenizing needs the key the tokens were made with");
        return ExitCode::from(USAGE);
    };
    let text = match (input, text) {
        (Some(p), None) => match read(p, "input") {
            Ok(t) => t,
            Err(code) => return code,
        },
        (None, Some(t)) => t.to_string(),
        _ => {
            eprintln!("error: give the text to detokenize, or --input FILE");
            return ExitCode::from(USAGE);
        }
    };
    println!("{}", ward_runtime::token::detokenize_text(&key, &text));
    ExitCode::SUCCESS
}

/// `ward audit verify FILE`.
pub fn audit_verify(path: &Path) -> ExitCode {
    match ward_runtime::audit::verify(path) {
        Ok(report) => {
            println!("{}: {} records verified", path.display(), report.records);
            if report.truncated_tail {
                println!("note: the last line was cut short (a writer stopped mid-record) and is not counted");
            }
            println!("head {}", report.head);
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{}: does not verify: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// One lifecycle finding.
struct Due {
    agent: String,
    what: &'static str,
    date: i64,
    overdue: bool,
}

/// `ward lifecycle`: what is overdue or due soon; exit 1 when anything is overdue.
pub fn lifecycle(paths: &[PathBuf], at: Option<&str>, within: &str, json: bool) -> ExitCode {
    let today = match at {
        Some(d) => match literals::date_days(d) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: --at: {e}");
                return ExitCode::from(USAGE);
            }
        },
        None => {
            let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            (secs / 86_400) as i64
        }
    };
    let horizon = match literals::duration_ms(within) {
        Ok(ms) => ms / 86_400_000,
        Err(e) => {
            eprintln!("error: --within: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let compiled = match compile(paths, &Options { today: Some(today), ..Options::default() }) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // The engine's deadlines (ward_ir::lifecycle): what it would deny at the start of `today`.
    let now = today.saturating_mul(DAY_MS);
    let mut findings = Vec::new();
    for agent in &compiled.program.agents {
        for d in agent.deadlines() {
            if d.date <= today.saturating_add(horizon) {
                findings.push(Due {
                    agent: agent.name.clone(),
                    what: d.duty.name(),
                    date: d.date,
                    overdue: d.overdue_at(now),
                });
            }
        }
    }
    findings.sort_by_key(|f| (f.date, f.agent.clone()));
    let overdue = findings.iter().filter(|f| f.overdue).count();
    if json {
        let items: Vec<serde_json::Value> = findings
            .iter()
            .map(|f| serde_json::json!({"agent": f.agent, "what": f.what, "date": date_text(f.date), "overdue": f.overdue}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"at": date_text(today), "within_days": horizon, "items": items, "overdue": overdue})
        );
    } else {
        println!("lifecycle at {} (due within {} days)", date_text(today), horizon);
        if findings.is_empty() {
            println!("nothing overdue or due soon");
        } else {
            println!("{:<28} {:<20} {:<12} status", "agent", "what", "date");
            for f in &findings {
                let status = if f.overdue { "OVERDUE" } else { "due soon" };
                println!("{:<28} {:<20} {:<12} {status}", f.agent, f.what, date_text(f.date));
            }
        }
        println!("{} overdue, {} due soon", overdue, findings.len() - overdue);
    }
    if overdue > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
