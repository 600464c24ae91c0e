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

use crate::{Format, Settings, USAGE, io, load, print_diagnostics};

/// Compiles the policy files at `paths`, printing diagnostics when it fails.
pub fn compile(paths: &[PathBuf], settings: &Settings) -> Result<ward_compiler::lower::Compiled, ExitCode> {
    compile_with(paths, None, settings)
}

/// Compiles the policy files at `paths` and, if given, one more source
/// (`(name, text)`, made by a command); no paths is fine when there is one.
pub fn compile_with(
    paths: &[PathBuf],
    extra: Option<(&str, &str)>,
    settings: &Settings,
) -> Result<ward_compiler::lower::Compiled, ExitCode> {
    let mut sources = if paths.is_empty() && extra.is_some() {
        ward_compiler::SourceSet::default()
    } else {
        load(paths)
            .map_err(|message| {
                eprintln!("error: {message}");
                ExitCode::from(USAGE)
            })?
            .0
    };
    if let Some((name, text)) = extra {
        sources.add(name, text);
    }
    sources.add_stdlib();
    match ward_compiler::compile(&sources, &settings.options) {
        Ok((compiled, warnings)) => {
            let warnings: Vec<_> = warnings.into_iter().filter(|d| d.severity == Severity::Warning).collect();
            if settings.deny_warnings && !warnings.is_empty() {
                print_diagnostics(&sources, &warnings, Format::Human);
                eprintln!(
                    "error: the policy has {} warning(s), and warnings are denied (--deny warnings or ward.toml's `deny_warnings`)",
                    warnings.len()
                );
                return Err(ExitCode::FAILURE);
            }
            Ok(compiled)
        }
        Err(diags) => {
            print_diagnostics(&sources, &diags, Format::Human);
            let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
            eprintln!("error: the policy has {errors} error(s); nothing was decided");
            Err(ExitCode::FAILURE)
        }
    }
}

pub fn test(
    paths: &[PathBuf],
    backend: Backend,
    settings: &Settings,
    solver: &crate::analysis::SolverArgs,
) -> ExitCode {
    let compiled = match compile(paths, settings) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let program = Arc::new(compiled.program);
    let start = settings.test_at_ms.unwrap_or(testing::DEFAULT_START_MS);
    let (results, coverage) = testing::run_from(&program, &compiled.tests, backend, start);
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
    /// Links of the policy's templates (Cedar's template-linked JSON).
    pub links: Option<PathBuf>,
    pub backend: Backend,
    pub at: Option<String>,
    pub audit_log: Option<PathBuf>,
    pub audit_durability: ward_runtime::audit::Durability,
    /// Seal the audit log with checkpoints signed by this key (`ward keygen`'s `.key`).
    pub audit_key: Option<PathBuf>,
}

fn read(path: &Path, what: &str) -> Result<String, ExitCode> {
    std::fs::read_to_string(path).map_err(|e| {
        eprintln!("error: cannot read {what} `{}`: {}", path.display(), crate::files::describe(&e));
        ExitCode::from(USAGE)
    })
}

/// What `eval`, `explain` and `mask` decide with.
pub struct Setup {
    pub engine: Engine,
    pub policy_hash: String,
    pub audit: Option<ward_runtime::audit::AuditLog>,
}

/// Compiles the policy (with `extra`, a source a command made), loads the
/// entities, and opens the audit log.
pub fn setup(args: &EvalArgs, settings: &Settings, extra: Option<(&str, &str)>) -> Result<Setup, ExitCode> {
    let compiled = compile_with(&args.policy, extra, settings)?;
    let program = Arc::new(compiled.program);
    let entities = match &args.entities {
        Some(path) => {
            let text = read(path, "entities")?;
            // Strictly, as requests are: duplicate keys and numbers a double would round are refused.
            ward_runtime::store::parse_entities(&text).map_err(|e| {
                eprintln!("error: entities `{}`: {e}", path.display());
                ExitCode::FAILURE
            })?
        }
        None => match &args.fixture {
            Some(name) => match compiled.fixtures.get(name) {
                Some(entities) => entities.clone(),
                None => {
                    let known: Vec<&str> = compiled.fixtures.keys().map(String::as_str).collect();
                    eprintln!("error: no fixture `{name}` (the policy declares: {})", known.join(", "));
                    return Err(ExitCode::from(USAGE));
                }
            },
            None => serde_json::Value::Array(Vec::new()),
        },
    };
    let store = Store::load(Arc::clone(&program), &entities).map_err(|e| {
        eprintln!("error: entities: {e}");
        ExitCode::FAILURE
    })?;
    let clock: Arc<dyn ward_runtime::Clock> = match &args.at {
        Some(at) => match literals::time_ms(at).or_else(|_| literals::date_days(at).map(|d| d * 86_400_000)) {
            Ok(ms) => Arc::new(FixedClock::new(ms)),
            Err(e) => {
                eprintln!("error: --at: {e}");
                return Err(ExitCode::from(USAGE));
            }
        },
        // ward.toml's `[test] at`, else the real time.
        None => match settings.test_at_ms {
            Some(ms) => Arc::new(FixedClock::new(ms)),
            None => Arc::new(SystemClock),
        },
    };
    let mut loaded = Loaded::new(Arc::clone(&program), store, args.backend == Backend::Jit);
    if let Some(path) = &args.links {
        let text = read(path, "links")?;
        let links = ward_runtime::links::Links::parse(&program, &text).map_err(|e| {
            eprintln!("error: links `{}`: {e}", path.display());
            ExitCode::FAILURE
        })?;
        loaded = loaded.with_links(Arc::new(links)).map_err(|e| {
            eprintln!("error: links `{}`: {e}", path.display());
            ExitCode::FAILURE
        })?;
    }
    if let (Backend::Jit, Some(why)) = (args.backend, &loaded.jit_error) {
        eprintln!("note: using the interpreter: {why}");
    }
    let policy_hash = loaded.program().source_hash.clone();
    let engine = Engine::new(loaded, clock, args.backend);
    let checkpoints = match &args.audit_key {
        Some(path) => match crate::bundle::read_signing_key(path) {
            Ok(key) => Some(ward_runtime::audit::Checkpoints::new(key)),
            Err(e) => {
                eprintln!("error: --audit-key: {e}");
                return Err(ExitCode::from(USAGE));
            }
        },
        None => None,
    };
    let audit = match &args.audit_log {
        Some(path) => {
            Some(ward_runtime::audit::AuditLog::open_with(path, args.audit_durability, checkpoints).map_err(|e| {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            })?)
        }
        None => None,
    };
    Ok(Setup { engine, policy_hash, audit })
}

impl Setup {
    /// Appends `decision` to the audit log, if there is one.
    pub fn audit(&self, request: &Request, decision: &Decision) -> Result<(), ExitCode> {
        let Some(log) = &self.audit else { return Ok(()) };
        let entry = ward_runtime::audit::Entry::new(request, decision, &self.policy_hash, self.engine.clock().now_ms())
            .with_severity(self.engine.loaded().program(), decision);
        log.append(entry).map(|_| ()).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        })
    }

    /// Closes the audit log (its last checkpoint, when signed).
    pub fn close(&self) -> Result<(), ExitCode> {
        let Some(log) = &self.audit else { return Ok(()) };
        log.close().map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        })
    }
}

/// The longest request line `eval` and `explain` read.
const MAX_REQUEST_LINE: usize = 16 * 1024 * 1024;

/// Decides each request (one file, or JSON lines read as a stream from a
/// file or stdin, `-`) and prints the decisions with `print`. A closed
/// stdout stops it quietly (exit 141). Unless `print` reads the request
/// (`reads_request`) or decisions are audited, each text is decided
/// without a `Request` (`Engine::check_json_at`: the same decisions and
/// errors, faster); `print` is then given an empty request.
pub fn eval(
    args: &EvalArgs,
    settings: &Settings,
    reads_request: bool,
    print: impl Fn(&mut String, &Engine, &Request, &Decision),
) -> ExitCode {
    let setup = match setup(args, settings, None) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let (path, single) = match (&args.request, &args.requests) {
        (Some(path), None) => (path, true),
        (None, Some(path)) => (path, false),
        _ => {
            eprintln!("error: give exactly one of --request FILE or --requests FILE.jsonl");
            return ExitCode::from(USAGE);
        }
    };
    let what = if single { "request" } else { "requests" };
    let mut input = match io::open(path) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: cannot read {what} `{}`: {e}", path.display());
            return ExitCode::from(USAGE);
        }
    };
    let mut out = io::Out::new();
    let mut text = String::new();
    // With a durable record per decision, a decision is printed as soon as
    // its record is on disk: what a killed writer printed and what its log
    // holds differ by at most the record in flight (the fsync costs far
    // more than the flush).
    let flush_each =
        args.audit_log.is_some() && matches!(args.audit_durability, ward_runtime::audit::Durability::EveryRecord);
    let mut decide_one = |line: &str, out: &mut io::Out| -> Result<(), ExitCode> {
        text.clear();
        if !reads_request && setup.audit.is_none() {
            let placeholder = Request::new(Default::default(), String::new(), Default::default());
            let decision = match setup.engine.check_json_at(line, setup.engine.clock().now_ms()) {
                Ok(checked) => checked.decision(),
                Err(e) => Decision::refused(e.to_string()),
            };
            print(&mut text, &setup.engine, &placeholder, &decision);
        } else {
            match Request::from_json_str(line) {
                Ok(r) => {
                    let decision = setup.engine.decide(&r);
                    setup.audit(&r, &decision)?;
                    print(&mut text, &setup.engine, &r, &decision);
                }
                Err(e) => {
                    let decision = Decision::refused(e.to_string());
                    let placeholder = Request::new(Default::default(), String::new(), Default::default());
                    print(&mut text, &setup.engine, &placeholder, &decision);
                }
            }
        }
        out.write(text.as_bytes()).map_err(|e| e.exit())?;
        if flush_each {
            out.flush().map_err(|e| e.exit())?;
        }
        Ok(())
    };
    let result = if single {
        let mut buf = Vec::new();
        match io::read_bounded(&mut input, &mut buf, MAX_REQUEST_LINE) {
            Ok(true) => match String::from_utf8(buf) {
                Ok(t) => decide_one(&t, &mut out),
                Err(_) => {
                    eprintln!("error: cannot read request `{}`: stream did not contain valid UTF-8", path.display());
                    Err(ExitCode::from(USAGE))
                }
            },
            Ok(false) => {
                eprintln!("error: request `{}` is larger than {MAX_REQUEST_LINE} bytes", path.display());
                Err(ExitCode::from(USAGE))
            }
            Err(e) => {
                eprintln!("error: cannot read request `{}`: {}", path.display(), crate::files::describe(&e));
                Err(ExitCode::from(USAGE))
            }
        }
    } else {
        each_request_line(&mut input, path, &mut out, &mut decide_one)
    };
    if let Err(code) = result.and_then(|()| setup.close()) {
        let _ = out.flush();
        return code;
    }
    match out.flush() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.exit(),
    }
}

/// Feeds each non-blank line of a JSON-lines input to `each`, flushing the
/// output whenever the input has nothing more buffered.
fn each_request_line(
    input: &mut io::Input,
    path: &Path,
    out: &mut io::Out,
    each: &mut dyn FnMut(&str, &mut io::Out) -> Result<(), ExitCode>,
) -> Result<(), ExitCode> {
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        n += 1;
        let line = io::read_line(input, &mut buf, MAX_REQUEST_LINE).map_err(|e| {
            eprintln!("error: cannot read requests `{}`: {}", path.display(), crate::files::describe(&e));
            ExitCode::from(USAGE)
        })?;
        match line {
            io::Line::Eof => return Ok(()),
            io::Line::Text(t) if t.trim().is_empty() => {}
            io::Line::Text(t) => each(&t, out)?,
            io::Line::TooLong(len) => {
                eprintln!("error: {}:{n}: a line of {len} bytes is longer than {MAX_REQUEST_LINE}", path.display());
                return Err(ExitCode::from(USAGE));
            }
            io::Line::NotUtf8 => {
                eprintln!("error: {}:{n}: the line is not valid UTF-8", path.display());
                return Err(ExitCode::from(USAGE));
            }
        }
        if io::drained(input) {
            out.flush().map_err(|e| e.exit())?;
        }
    }
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

/// `ward audit verify FILE [--expect-head HASH] [--trusted-key PUB] [--live]`.
pub fn audit_verify(path: &Path, expect_head: Option<&str>, trusted_key: Option<&Path>, live: bool) -> ExitCode {
    let mut options = ward_runtime::audit::VerifyOptions { live, ..Default::default() };
    if let Some(head) = expect_head {
        let head = head.trim().to_ascii_lowercase();
        if head.len() != 64 || !head.bytes().all(|b| b.is_ascii_hexdigit()) {
            eprintln!(
                "error: --expect-head: `{head}` is not a SHA-256 hash (64 hex digits, as `ward audit verify` prints)"
            );
            return ExitCode::from(USAGE);
        }
        options.expect_head = Some(head);
    }
    if let Some(key) = trusted_key {
        match std::fs::read_to_string(key)
            .map_err(|e| e.to_string())
            .and_then(|t| ward_runtime::bundle::parse_verifying_key(&t).map_err(|e| e.to_string()))
        {
            Ok(k) => options.trusted_key = Some(k),
            Err(e) => {
                eprintln!("error: --trusted-key `{}`: {e}", key.display());
                return ExitCode::from(USAGE);
            }
        }
    }
    match ward_runtime::audit::verify_with(path, &options) {
        Ok(report) => {
            println!("{}: {} records verified", path.display(), report.records);
            if report.truncated_tail {
                println!("note: the last line was cut short (a writer stopped mid-record) and is not counted");
            }
            match &report.last_checkpoint {
                Some(c) => println!(
                    "{} checkpoint(s); the last (line {}, {}) {}; signed by key {}{}",
                    report.checkpoints,
                    c.line,
                    ward_runtime::bundle::rfc3339(c.time),
                    if c.closing { "closes the log" } else { "is periodic" },
                    c.key_id,
                    if options.trusted_key.is_some() { " (trusted)" } else { " (not checked against a trusted key)" },
                ),
                None => {
                    println!("no checkpoint (unsigned log): a cut at a record boundary shows only with --expect-head")
                }
            }
            if let (Some(head), Some(seq)) = (&options.expect_head, report.expected_head_at) {
                println!("expected head {head} is record {seq}");
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
pub fn lifecycle(paths: &[PathBuf], at: Option<&str>, within: &str, json: bool, settings: &Settings) -> ExitCode {
    let today = match at {
        Some(d) => match literals::date_days(d) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: --at: {e}");
                return ExitCode::from(USAGE);
            }
        },
        None => match settings.options.today {
            Some(days) => days,
            None => {
                let secs =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                (secs / 86_400) as i64
            }
        },
    };
    let horizon = match literals::duration_ms(within) {
        Ok(ms) => ms / 86_400_000,
        Err(e) => {
            eprintln!("error: --within: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let options = Options { today: Some(today), ..settings.options.clone() };
    let compiled = match compile(paths, &Settings { options, deny_warnings: false, test_at_ms: None }) {
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
