//! `ward test`, `ward eval` and `ward explain`: compile, then decide.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

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

pub fn test(paths: &[PathBuf], backend: Backend, options: &Options) -> ExitCode {
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
    let engine = Engine::new(loaded, clock, args.backend);
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
