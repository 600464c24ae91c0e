//! `ward.Engine`: a compiled policy set, its entities and the runtime's
//! engine, decided from Python with the GIL released.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use serde_json::Value as Json;
use ward_compiler::ir::Program;
use ward_compiler::{Options, Severity, SourceSet};
use ward_runtime::audit::{AuditLog as RtAuditLog, Durability, Entry};
use ward_runtime::bundle::Bundle;
use ward_runtime::bundle::ed25519_dalek::VerifyingKey;
use ward_runtime::decision::{Effect, Reason};
use ward_runtime::mask::{EnvKeys, Keys, StaticKeys};
use ward_runtime::masking::Payload;
use ward_runtime::state::{MemoryStore, StateStore};
use ward_runtime::{
    ActionResult, Backend, Clock, Decision as RtDecision, Engine as RtEngine, Loaded, Request, Store, SystemClock,
};

use crate::convert::{self, Invalid};
use crate::decision::Decision;
use crate::errors;

/// Where a policy set comes from, so that `reload` can read it again.
#[derive(Clone)]
enum Origin {
    Paths { paths: Vec<PathBuf>, fixture: Option<String> },
    Bundle { path: PathBuf, key: Option<VerifyingKey> },
}

/// What the engine was last loaded from.
#[derive(Clone)]
struct Source {
    origin: Origin,
    /// Entities given explicitly (`None`: the fixture's, or none).
    entities: Option<Json>,
}

/// Why a policy set could not be built (turned into an exception once the
/// GIL is held again).
enum Failure {
    Policy { message: String, diagnostics: Vec<Vec<(&'static str, Json)>> },
    Entities(ward_runtime::data::DataError),
}

impl Failure {
    fn policy(message: impl Into<String>) -> Failure {
        Failure::Policy { message: message.into(), diagnostics: Vec::new() }
    }

    fn into_py(self, py: Python<'_>) -> PyErr {
        match self {
            Failure::Policy { message, diagnostics } => {
                let dicts: PyResult<Vec<_>> =
                    diagnostics.iter().map(|d| crate::decision::diagnostic_dict(py, d)).collect();
                match dicts {
                    Ok(dicts) => errors::policy(py, message, dicts),
                    Err(e) => e,
                }
            }
            Failure::Entities(e) => errors::entities(py, &e.path, &e.to_string()),
        }
    }
}

/// `*.ward` files under `paths`, as `ward check` finds them (sorted; hidden
/// folders, `target/` and `node_modules/` skipped).
fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if entry.file_type()?.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    walk(&path, out)?;
                }
            } else if path.extension().is_some_and(|ext| ext == "ward") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).map_err(|e| Failure::policy(format!("cannot read `{}`: {e}", path.display())))?;
        if meta.is_dir() {
            walk(path, &mut out)
                .map_err(|e| Failure::policy(format!("cannot read directory `{}`: {e}", path.display())))?;
        } else {
            out.push(path.clone());
        }
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        return Err(Failure::policy("no `.ward` files found in the given paths"));
    }
    Ok(out)
}

/// Line and column (1-based, column in characters) of a byte offset.
fn line_col(text: &str, offset: u32) -> (usize, usize) {
    let offset = (offset as usize).min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// Compiles the policy files at `paths`: the program and the fixtures' entities.
fn compile(paths: &[PathBuf]) -> Result<ward_compiler::lower::Compiled, Failure> {
    let mut sources = SourceSet::default();
    for file in collect(paths)? {
        let bytes =
            std::fs::read(&file).map_err(|e| Failure::policy(format!("cannot read `{}`: {e}", file.display())))?;
        sources.add_bytes(file.display().to_string(), &bytes);
    }
    sources.add_stdlib();
    match ward_compiler::compile(&sources, &Options::default()) {
        Ok((compiled, _warnings)) => Ok(compiled),
        Err(diags) => {
            let errors: Vec<_> = diags.iter().filter(|d| d.severity == Severity::Error).collect();
            let mut lines = Vec::new();
            let mut dicts = Vec::new();
            for d in &errors {
                let source = sources.get(d.primary.file);
                let file = source.map_or("?", |s| s.path.as_str());
                let (line, column) = line_col(source.map_or("", |s| s.text.as_str()), d.primary.span.start);
                lines.push(format!("{file}:{line}:{column}: {} {}", d.code, d.message));
                dicts.push(vec![
                    ("file", Json::from(file)),
                    ("line", Json::from(line)),
                    ("column", Json::from(column)),
                    ("code", Json::from(d.code)),
                    ("severity", Json::from(d.severity.as_str())),
                    ("message", Json::from(d.message.as_str())),
                    ("help", d.help.as_deref().map_or(Json::Null, Json::from)),
                ]);
            }
            let message = format!("the policy has {} error(s):\n{}", errors.len(), lines.join("\n"));
            Err(Failure::Policy { message, diagnostics: dicts })
        }
    }
}

/// The program and the entities a source stands for.
fn program_of(source: &Source) -> Result<(Arc<Program>, Json), Failure> {
    match &source.origin {
        Origin::Paths { paths, fixture } => {
            let compiled = compile(paths)?;
            let entities = match (&source.entities, fixture) {
                (Some(e), _) => e.clone(),
                (None, Some(name)) => compiled.fixtures.get(name).cloned().ok_or_else(|| {
                    let known: Vec<&str> = compiled.fixtures.keys().map(String::as_str).collect();
                    Failure::policy(format!("no fixture `{name}` (the policy declares: {})", known.join(", ")))
                })?,
                (None, None) => Json::Array(Vec::new()),
            };
            Ok((Arc::new(compiled.program), entities))
        }
        Origin::Bundle { path, key } => {
            let bundle = Bundle::read_file(path, key.as_ref())
                .map_err(|e| Failure::policy(format!("bundle `{}`: {e}", path.display())))?;
            Ok((bundle.program, source.entities.clone().unwrap_or(Json::Array(Vec::new()))))
        }
    }
}

/// The policy set `source` stands for; `previous`, on a swap or reload,
/// lends its compiled parts when the program did not change (new entities
/// cost no native compile).
fn load(source: &Source, backend: Backend, previous: Option<&Loaded>) -> Result<Loaded, Failure> {
    let (program, entities) = program_of(source)?;
    let store = Store::load(Arc::clone(&program), &entities).map_err(Failure::Entities)?;
    Ok(match previous {
        Some(previous) => Loaded::new_reusing(program, store, backend == Backend::Jit, previous),
        None => Loaded::new(program, store, backend == Backend::Jit),
    })
}

/// An audit log: JSON lines with a hash chain (`ward audit verify`).
#[pyclass(frozen, module = "ward._ward", name = "AuditLog")]
pub struct AuditLog {
    log: Arc<RtAuditLog>,
}

#[pymethods]
impl AuditLog {
    /// Opens (or creates) the log at `path`, verifying what is already there.
    /// `sync="record"` syncs every record to disk; `"batch"` every 256
    /// records or 200 ms, whichever comes first.
    #[new]
    #[pyo3(signature = (path, *, sync = "record"))]
    fn new(py: Python<'_>, path: PathBuf, sync: &str) -> PyResult<AuditLog> {
        let durability = match sync {
            "record" => Durability::EveryRecord,
            "batch" => Durability::Batched { records: 256, interval: Duration::from_millis(200) },
            other => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "sync must be \"record\" or \"batch\", not {other:?}"
                )));
            }
        };
        let log = py.detach(|| RtAuditLog::open(&path, durability)).map_err(|e| errors::audit(py, e.to_string()))?;
        Ok(AuditLog { log: Arc::new(log) })
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.log.path().to_path_buf()
    }

    /// Appends a record of `decision`; returns its hash (the new head).
    fn append(&self, py: Python<'_>, decision: &Decision) -> PyResult<String> {
        append(py, &self.log, decision)
    }

    /// Writes and syncs everything appended so far.
    fn sync(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.log.sync()).map_err(|e| errors::audit(py, e.to_string()))
    }

    fn __repr__(&self) -> String {
        format!("<AuditLog {}>", self.log.path().display())
    }
}

fn append(py: Python<'_>, log: &RtAuditLog, decision: &Decision) -> PyResult<String> {
    let entry = Entry::new(&decision.request, &decision.decision, &decision.policy, decision.time);
    py.detach(|| log.append(entry)).map_err(|e| errors::audit(py, format!("the audit log could not be written: {e}")))
}

/// Verifies the hash chain of the audit log at `path`; returns
/// `{"records": n, "head": hash, "truncated_tail": bool}` or raises
/// `AuditError` naming the first line that does not verify.
#[pyfunction]
pub fn verify_audit_log<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let report = py.detach(|| ward_runtime::audit::verify(&path)).map_err(|e| errors::audit(py, e.to_string()))?;
    let dict = PyDict::new(py);
    dict.set_item("records", report.records)?;
    dict.set_item("head", report.head)?;
    dict.set_item("truncated_tail", report.truncated_tail)?;
    Ok(dict)
}

struct Inner {
    engine: RtEngine,
    /// The source hash of the policy set in force.
    policy: ArcSwap<String>,
    clock: Arc<dyn Clock>,
    state: Arc<dyn StateStore>,
    backend: Backend,
    keys: Box<dyn Keys>,
    audit: Option<Arc<RtAuditLog>>,
    /// What the policy set in force was loaded from; held while a new one is
    /// built, so that swaps do not interleave.
    source: Mutex<Source>,
}

/// A compiled policy set with its entities. Thread-safe: decisions release
/// the GIL and read one consistent policy set even while another is swapped in.
#[pyclass(frozen, module = "ward._ward", name = "Engine")]
pub struct Engine {
    inner: Arc<Inner>,
}

fn value_error(message: impl Into<String>) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(message.into())
}

/// `str`, a path-like, or a list of them.
fn paths_of(obj: &Bound<'_, PyAny>) -> PyResult<Vec<PathBuf>> {
    if let Ok(p) = obj.extract::<PathBuf>() {
        return Ok(vec![p]);
    }
    obj.extract::<Vec<PathBuf>>().map_err(|_| value_error("paths must be a path or a list of paths"))
}

fn entities_of(py: Python<'_>, obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Json>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => convert::to_json(o, "entities", 0)
            .map(Some)
            .map_err(|e| errors::entities(py, &e.field, &format!("{}: {}", e.field, e.message))),
    }
}

fn backend_of(name: &str) -> PyResult<Backend> {
    match name {
        "jit" => Ok(Backend::Jit),
        "interpreter" | "interp" => Ok(Backend::Interpreter),
        other => Err(value_error(format!("backend must be \"jit\" or \"interpreter\", not {other:?}"))),
    }
}

fn state_of(spec: Option<&str>) -> PyResult<Arc<dyn StateStore>> {
    match spec {
        None | Some("memory") => Ok(Arc::new(MemoryStore::default())),
        Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
            let store = ward_runtime::redis_store::RedisStore::new(url, Duration::from_secs(1), "ward:")
                .map_err(|e| value_error(e.0))?;
            Ok(Arc::new(store))
        }
        Some(other) => Err(value_error(format!("state must be \"memory\" or a redis:// URL, not {other:?}"))),
    }
}

fn keys_of(py: Python<'_>, obj: Option<&Bound<'_, PyAny>>) -> PyResult<Box<dyn Keys>> {
    match obj {
        None => Ok(Box::new(EnvKeys)),
        Some(o) if o.is_none() => Ok(Box::new(EnvKeys)),
        Some(o) => {
            let json =
                convert::to_json(o, "keys", 0).map_err(|e| value_error(format!("{}: {}", e.field, e.message)))?;
            let _ = py;
            let keys = StaticKeys::from_json(&json).map_err(|e| value_error(format!("keys: {e}")))?;
            Ok(Box::new(keys))
        }
    }
}

fn audit_of(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Arc<RtAuditLog>>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else { return Ok(None) };
    if let Ok(log) = obj.cast::<AuditLog>() {
        return Ok(Some(Arc::clone(&log.get().log)));
    }
    let path: PathBuf = obj.extract().map_err(|_| value_error("audit_log must be an AuditLog or a path"))?;
    let log = AuditLog::new(obj.py(), path, "record")?;
    Ok(Some(log.log))
}

/// Why a decision that is not an allow was reached, in words an LLM can act
/// on: each rule with its `@reason` and the condition that held, limits
/// reached, obligations to meet.
fn why(program: &Program, decision: &RtDecision) -> String {
    let mut why = Vec::new();
    for r in &decision.reasons {
        match &r.rule {
            Some(rule) => {
                let note = program
                    .rules
                    .iter()
                    .find(|x| &x.id == rule)
                    .and_then(|x| x.reason.as_ref())
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default();
                why.push(format!("rule `{rule}`{note}: {}", r.clause));
            }
            None => why.push(r.clause.clone()),
        }
    }
    for l in &decision.limits {
        if let Some(ms) = l.retry_after_ms {
            why.push(format!("limit `{}` reached; retry after {ms} ms", l.rule));
        }
    }
    for o in decision.obligations.iter().filter(|o| !o.advice) {
        let args: Vec<String> = o.args.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        why.push(format!("obligation {}({})", o.name, args.join(", ")));
    }
    why.join("; ")
}

/// The decision with only the masks for arguments (`context.…` paths) or
/// only those for results (every other path), as the MCP gateway splits them.
fn split_masks(decision: &RtDecision, arguments: bool) -> RtDecision {
    let mut d = decision.clone();
    d.masks = std::mem::take(&mut d.masks)
        .into_iter()
        .filter_map(|mut m| {
            m.paths.retain(|p| p.starts_with("context.") == arguments);
            (!m.paths.is_empty()).then_some(m)
        })
        .collect();
    d
}

impl Engine {
    fn build(py: Python<'_>, source: Source, options: &Bound<'_, PyDict>) -> PyResult<Engine> {
        let get = |k: &str| options.get_item(k).ok().flatten();
        let backend = match get("backend") {
            Some(b) if !b.is_none() => backend_of(&b.extract::<String>()?)?,
            _ => Backend::Jit,
        };
        let state_spec: Option<String> = match get("state") {
            Some(s) if !s.is_none() => Some(s.extract()?),
            _ => None,
        };
        let state = state_of(state_spec.as_deref())?;
        let keys = keys_of(py, get("keys").as_ref())?;
        let audit = audit_of(get("audit_log").as_ref())?;
        let loaded = py.detach(|| load(&source, backend, None)).map_err(|f| f.into_py(py))?;
        let policy = ArcSwap::from_pointee(loaded.program().source_hash.clone());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let engine = RtEngine::new(loaded, Arc::clone(&clock), backend).with_state(Arc::clone(&state));
        Ok(Engine {
            inner: Arc::new(Inner { engine, policy, clock, state, backend, keys, audit, source: Mutex::new(source) }),
        })
    }

    /// Builds the request from Python arguments.
    #[allow(clippy::too_many_arguments)]
    fn request(
        principal: &Bound<'_, PyAny>,
        action: &Bound<'_, PyAny>,
        resource: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        on_behalf_of: Option<&Bound<'_, PyAny>>,
        session: Option<&Bound<'_, PyAny>>,
    ) -> Result<Request, Invalid> {
        let principal = convert::entity(principal, "principal")?;
        let action = match action.cast::<PyString>() {
            Ok(s) => s.to_cow().map_err(|e| Invalid::new("action", e.to_string()))?.into_owned(),
            Err(_) => return Err(Invalid::new("action", "expected the action's name (a string)")),
        };
        let resource = convert::entity(resource, "resource")?;
        let mut request = Request::new(principal, action, resource);
        if let Some(c) = context.filter(|c| !c.is_none()) {
            let json = convert::to_json(c, "context", 0)?;
            if !json.is_object() {
                return Err(Invalid::new("context", "expected a dict of context fields"));
            }
            request.context = json;
        }
        if let Some(chain) = on_behalf_of.filter(|c| !c.is_none()) {
            let iter = chain.try_iter().map_err(|_| Invalid::new("on_behalf_of", "expected a list of entities"))?;
            for (i, item) in iter.enumerate() {
                let item = item.map_err(|e| Invalid::new("on_behalf_of", e.to_string()))?;
                request.on_behalf_of.push(convert::entity(&item, &format!("on_behalf_of[{i}]"))?);
            }
        }
        if let Some(s) = session.filter(|s| !s.is_none()) {
            let s: String = s.extract().map_err(|_| Invalid::new("session", "expected a string"))?;
            request.session = Some(s);
        }
        Ok(request)
    }

    /// Decides `request` at `now`; with `entities`, against those entities
    /// instead of the engine's (by the interpreter: nothing is compiled).
    fn decide_request(
        &self,
        py: Python<'_>,
        request: Request,
        now: i64,
        entities: Option<Json>,
        record: bool,
    ) -> PyResult<Decision> {
        let inner = &self.inner;
        // `Err((true, e))`: the entities given were refused; `Err((false, e))`: the request.
        let decided = py.detach(|| -> Result<(RtDecision, Option<String>), (bool, ward_runtime::data::DataError)> {
            let once;
            let engine = match entities {
                None => &inner.engine,
                Some(json) => {
                    let program = Arc::clone(&inner.engine.loaded().prepared.program);
                    let store = Store::load(Arc::clone(&program), &json).map_err(|e| (true, e))?;
                    once = RtEngine::new(
                        Loaded::new(program, store, false),
                        Arc::clone(&inner.clock),
                        Backend::Interpreter,
                    )
                    .with_state(Arc::clone(&inner.state));
                    &once
                }
            };
            let checked =
                if record { engine.check_at(&request, now) } else { engine.check_unrecorded_at(&request, now) };
            let decision = checked.decision();
            let why =
                if decision.effect == Effect::Allow { None } else { Some(why(engine.loaded().program(), &decision)) };
            // A refused request: say which field, rather than deny in silence.
            let refused = decision.effect == Effect::Deny
                && !decision.errors.is_empty()
                && decision.reasons.iter().all(|r| r.rule.is_none());
            if refused && let Err(e) = engine.prepare(&request, now) {
                return Err((false, e));
            }
            Ok((decision, why))
        });
        let policy = inner.policy.load_full();
        match decided {
            Ok((decision, why)) => {
                let d = Decision { decision, request, time: now, policy, why, recorded: AtomicBool::new(record) };
                if let Some(log) = &inner.audit {
                    append(py, log, &d)?;
                }
                Ok(d)
            }
            Err((true, e)) => Err(errors::entities(py, &e.path, &e.to_string())),
            Err((false, e)) => {
                if let Some(log) = &inner.audit {
                    let d = Decision {
                        decision: RtDecision::refused(e.to_string()),
                        request,
                        time: now,
                        policy,
                        why: None,
                        recorded: AtomicBool::new(true),
                    };
                    append(py, log, &d)?;
                }
                Err(errors::request(py, &e.path, &e.to_string()))
            }
        }
    }

    fn now(&self, at: Option<&Bound<'_, PyAny>>, py: Python<'_>) -> PyResult<i64> {
        match at.filter(|a| !a.is_none()) {
            None => Ok(self.inner.clock.now_ms()),
            Some(a) => convert::time_ms(a).map_err(|e| e.into_request_error(py)),
        }
    }

    /// Replaces the policy set with what `update` makes of the current source.
    fn replace(&self, py: Python<'_>, update: impl FnOnce(&mut Source) -> PyResult<()>) -> PyResult<()> {
        let inner = &self.inner;
        let mut guard = inner.source.lock().map_err(|_| value_error("a previous reload panicked"))?;
        let mut next = guard.clone();
        update(&mut next)?;
        let loaded =
            py.detach(|| load(&next, inner.backend, Some(&inner.engine.loaded()))).map_err(|f| f.into_py(py))?;
        inner.policy.store(Arc::new(loaded.program().source_hash.clone()));
        inner.engine.swap(loaded);
        *guard = next;
        Ok(())
    }
}

#[pymethods]
impl Engine {
    /// Compiles the `.ward` files at `paths` (files or directories) and
    /// loads `entities` (Cedar's JSON entity format) or the policy's
    /// `fixture`. Raises `PolicyError` with the diagnostics.
    #[staticmethod]
    #[pyo3(signature = (paths, *, entities = None, fixture = None, backend = "jit", state = None, keys = None, audit_log = None))]
    #[allow(clippy::too_many_arguments)]
    fn from_paths(
        py: Python<'_>,
        paths: &Bound<'_, PyAny>,
        entities: Option<&Bound<'_, PyAny>>,
        fixture: Option<String>,
        backend: &str,
        state: Option<String>,
        keys: Option<&Bound<'_, PyAny>>,
        audit_log: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Engine> {
        let source =
            Source { origin: Origin::Paths { paths: paths_of(paths)?, fixture }, entities: entities_of(py, entities)? };
        let options = PyDict::new(py);
        options.set_item("backend", backend)?;
        options.set_item("state", state)?;
        options.set_item("keys", keys)?;
        options.set_item("audit_log", audit_log)?;
        Engine::build(py, source, &options)
    }

    /// Loads a bundle built by `ward build`. With `public_key` (the text of
    /// `ward keygen`'s `.pub` file) only a bundle signed by that key is
    /// accepted; `public_key=None` must be said explicitly to accept an
    /// unsigned one (a signed one is still verified).
    #[staticmethod]
    #[pyo3(signature = (path, *, public_key, entities = None, backend = "jit", state = None, keys = None, audit_log = None))]
    #[allow(clippy::too_many_arguments)]
    fn from_bundle(
        py: Python<'_>,
        path: PathBuf,
        public_key: Option<&str>,
        entities: Option<&Bound<'_, PyAny>>,
        backend: &str,
        state: Option<String>,
        keys: Option<&Bound<'_, PyAny>>,
        audit_log: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Engine> {
        let key = match public_key {
            None => None,
            Some(text) => Some(
                ward_runtime::bundle::parse_verifying_key(text.trim())
                    .map_err(|e| value_error(format!("public_key: {e}")))?,
            ),
        };
        let source = Source { origin: Origin::Bundle { path, key }, entities: entities_of(py, entities)? };
        let options = PyDict::new(py);
        options.set_item("backend", backend)?;
        options.set_item("state", state)?;
        options.set_item("keys", keys)?;
        options.set_item("audit_log", audit_log)?;
        Engine::build(py, source, &options)
    }

    /// Decides a request. `principal` and `resource` are entities — a
    /// `(type, id)` tuple, `{"type": …, "id": …}` or `Type::"id"`; `context`
    /// a dict; `entities` (optional) replaces the engine's entities for this
    /// decision only (slower: see docs/python.md). `at` fixes the decision
    /// time (milliseconds, an aware datetime or RFC 3339) for replays. With
    /// `record=False` an allow enters flow history only through
    /// `Engine.record` (once the action succeeded). Raises `RequestError`
    /// naming the field when the request does not fit the schema.
    #[pyo3(signature = (principal, action, resource, context = None, *, entities = None, on_behalf_of = None, session = None, at = None, record = true))]
    #[allow(clippy::too_many_arguments)]
    fn decide(
        &self,
        py: Python<'_>,
        principal: &Bound<'_, PyAny>,
        action: &Bound<'_, PyAny>,
        resource: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        entities: Option<&Bound<'_, PyAny>>,
        on_behalf_of: Option<&Bound<'_, PyAny>>,
        session: Option<&Bound<'_, PyAny>>,
        at: Option<&Bound<'_, PyAny>>,
        record: bool,
    ) -> PyResult<Decision> {
        let request = Engine::request(principal, action, resource, context, on_behalf_of, session)
            .map_err(|e| e.into_request_error(py))?;
        let now = self.now(at, py)?;
        let entities = entities_of(py, entities)?;
        self.decide_request(py, request, now, entities, record)
    }

    /// Decides a request given in Cedar's JSON shape (a dict or JSON text).
    #[pyo3(signature = (request, *, entities = None, at = None, record = true))]
    fn decide_json(
        &self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        entities: Option<&Bound<'_, PyAny>>,
        at: Option<&Bound<'_, PyAny>>,
        record: bool,
    ) -> PyResult<Decision> {
        let parsed = match request.cast::<PyString>() {
            Ok(text) => Request::from_json_str(&text.to_cow()?),
            Err(_) => {
                let json = convert::to_json(request, "request", 0).map_err(|e| e.into_request_error(py))?;
                Request::from_json(&json)
            }
        };
        let request = parsed.map_err(|e| errors::request(py, &e.path, &e.to_string()))?;
        let now = self.now(at, py)?;
        let entities = entities_of(py, entities)?;
        self.decide_request(py, request, now, entities, record)
    }

    /// The decision in words (as `ward explain` prints it); same arguments as `decide`.
    #[pyo3(signature = (principal, action, resource, context = None, *, entities = None, on_behalf_of = None, session = None, at = None))]
    #[allow(clippy::too_many_arguments)]
    fn explain(
        &self,
        py: Python<'_>,
        principal: &Bound<'_, PyAny>,
        action: &Bound<'_, PyAny>,
        resource: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        entities: Option<&Bound<'_, PyAny>>,
        on_behalf_of: Option<&Bound<'_, PyAny>>,
        session: Option<&Bound<'_, PyAny>>,
        at: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let d = self.decide(py, principal, action, resource, context, entities, on_behalf_of, session, at, false)?;
        Ok(d.decision.explain())
    }

    /// Adds the request of `decision` (an allow decided with `record=False`)
    /// to flow history, once the action it allowed has been carried out.
    /// Returns the errors met (none when recorded); recording twice is a no-op.
    fn record(&self, py: Python<'_>, decision: &Decision) -> PyResult<Vec<String>> {
        if decision.decision.effect != Effect::Allow {
            return Err(value_error("only an allowed decision can be recorded"));
        }
        if !decision.mark_recorded() {
            return Ok(Vec::new());
        }
        let inner = &self.inner;
        Ok(py.detach(|| inner.engine.record_at(&decision.request, decision.time)))
    }

    /// Reports what the action allowed by `decision` returned, to the
    /// result flows that look at its action (flow conditions reading
    /// `response`; docs/language.md §10.1). `result` is a dict, list or
    /// other JSON-able value, or text (read as JSON). A result that cannot
    /// be read is reported as unreadable, which makes those flows unknown
    /// for their window (a forbid on them applies). Returns
    /// `{"facts": [flow names], "unknown": [(flow name, why)], "errors": [...]}`.
    fn record_result<'py>(
        &self,
        py: Python<'py>,
        decision: &Decision,
        result: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        if decision.decision.effect != Effect::Allow {
            return Err(value_error("only the result of an allowed decision can be recorded"));
        }
        let out = PyDict::new(py);
        if !self.inner.engine.loaded().records_results(&decision.request.action) {
            // No result flow looks at the action: nothing to convert.
            out.set_item("facts", Vec::<String>::new())?;
            out.set_item("unknown", Vec::<(String, String)>::new())?;
            out.set_item("errors", Vec::<String>::new())?;
            return Ok(out);
        }
        let text = result.cast::<PyString>().ok().map(|s| s.to_cow().map(|c| c.into_owned())).transpose()?;
        let json = match &text {
            Some(t) => ward_runtime::json::parse(t, "result", &ward_runtime::data::Path::Root("response"))
                .map_err(|e| format!("the result's text is not JSON: {e}")),
            None => convert::to_json(result, "result", 0).map_err(|e| format!("{}: {}", e.field, e.message)),
        };
        let inner = &self.inner;
        let record = py.detach(|| match &json {
            Ok(j) => inner.engine.record_result_at(&decision.request, ActionResult::Json(j), decision.time),
            Err(why) => inner.engine.record_result_at(&decision.request, ActionResult::Unreadable(why), decision.time),
        });
        out.set_item("facts", record.facts)?;
        out.set_item("unknown", record.unreadable)?;
        out.set_item("errors", record.errors)?;
        Ok(out)
    }

    /// `payload` with the masks of `decision` applied: a dict or list (a new
    /// one is returned), or text (JSON text is masked as JSON and returned as
    /// text). `part="result"` applies the masks for what a tool returns,
    /// `"arguments"` those on `context.…` (the arguments a tool receives),
    /// `"all"` every mask. Raises `MaskError` (carrying the deny it made)
    /// when a mask cannot be applied; the payload must not be used then.
    #[pyo3(signature = (decision, payload, *, part = "result"))]
    fn mask<'py>(
        &self,
        py: Python<'py>,
        decision: &Bound<'py, Decision>,
        payload: &Bound<'py, PyAny>,
        part: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let d = decision.get();
        let mut masks = match part {
            "result" => split_masks(&d.decision, false),
            "arguments" => split_masks(&d.decision, true),
            "all" => d.decision.clone(),
            other => {
                return Err(value_error(format!("part must be \"result\", \"arguments\" or \"all\", not {other:?}")));
            }
        };
        if masks.effect == Effect::Allow && masks.masks.is_empty() {
            return Ok(payload.clone());
        }
        let text = payload.cast::<PyString>().ok().map(|s| s.to_cow().map(|c| c.into_owned())).transpose()?;
        let mut input = match &text {
            Some(t) => Payload::parse(t),
            None => match convert::to_json(payload, "payload", 0) {
                Ok(json) => Payload::Json(json),
                Err(e) => {
                    let message = format!("the payload cannot be masked: {}: {}", e.field, e.message);
                    return Err(self.mask_failed(py, d, masks, &message));
                }
            },
        };
        let inner = &self.inner;
        let outcome = py.detach(|| inner.engine.mask(&mut masks, &mut input, inner.keys.as_ref()));
        if let Err(e) = outcome {
            return Err(self.mask_failed(py, d, masks, &e.to_string()));
        }
        match (input, text) {
            (Payload::Text(t), _) => Ok(PyString::new(py, &t).into_any()),
            (Payload::Json(j), Some(original)) => {
                let rendered =
                    if original.contains('\n') { serde_json::to_string_pretty(&j) } else { serde_json::to_string(&j) };
                Ok(PyString::new(py, &rendered.map_err(|e| value_error(e.to_string()))?).into_any())
            }
            (Payload::Json(j), None) => convert::to_py(py, &j),
        }
    }

    /// Replaces the policy set atomically: new `paths` or a new `bundle`
    /// (with `public_key`, required with a bundle), and/or new `entities`;
    /// what is not given stays as it was (`reload()` re-reads everything).
    /// Decisions under way finish on the old set; on any error nothing changes.
    #[pyo3(signature = (*, paths = None, bundle = None, public_key = None, entities = None, fixture = None))]
    fn swap(
        &self,
        py: Python<'_>,
        paths: Option<&Bound<'_, PyAny>>,
        bundle: Option<PathBuf>,
        public_key: Option<&str>,
        entities: Option<&Bound<'_, PyAny>>,
        fixture: Option<String>,
    ) -> PyResult<()> {
        let paths = paths.filter(|p| !p.is_none()).map(paths_of).transpose()?;
        let entities = entities_of(py, entities)?;
        let key = public_key
            .map(|t| {
                ward_runtime::bundle::parse_verifying_key(t.trim()).map_err(|e| value_error(format!("public_key: {e}")))
            })
            .transpose()?;
        self.replace(py, |source| {
            match (paths, bundle) {
                (Some(_), Some(_)) => return Err(value_error("give paths or a bundle, not both")),
                (Some(paths), None) => {
                    let fixture = match (&fixture, &source.origin) {
                        (Some(f), _) => Some(f.clone()),
                        (None, Origin::Paths { fixture, .. }) => fixture.clone(),
                        (None, Origin::Bundle { .. }) => None,
                    };
                    source.origin = Origin::Paths { paths, fixture };
                }
                (None, Some(path)) => source.origin = Origin::Bundle { path, key },
                (None, None) => {
                    if let (Some(f), Origin::Paths { fixture, .. }) = (&fixture, &mut source.origin) {
                        *fixture = Some(f.clone());
                    }
                }
            }
            if entities.is_some() {
                source.entities = entities;
            }
            Ok(())
        })
    }

    /// Re-reads the policy files (or bundle) and entities the engine was
    /// loaded from, and swaps them in atomically.
    fn reload(&self, py: Python<'_>) -> PyResult<()> {
        self.replace(py, |_| Ok(()))
    }

    /// `"jit"`, or `"interpreter"` (asked for, or because the JIT is not available here).
    #[getter]
    fn backend(&self) -> &'static str {
        match self.inner.engine.backend() {
            Backend::Jit => "jit",
            Backend::Interpreter => "interpreter",
        }
    }

    /// The source hash of the policy set in force.
    #[getter]
    fn policy(&self) -> String {
        self.inner.policy.load().as_ref().clone()
    }

    /// The names of the arguments (context fields) a request for `action`
    /// may carry: the schema's `context` fields and the action's `with`.
    fn context_fields(&self, action: &str) -> PyResult<Vec<String>> {
        let loaded = self.inner.engine.loaded();
        let found = loaded.program().actions.iter().find(|a| a.name == action);
        match found {
            Some(a) => Ok(a.context.iter().map(|f| f.name.clone()).collect()),
            None => Err(value_error(format!("no action `{action}` in the policy"))),
        }
    }

    /// Every action the policy declares.
    fn actions(&self) -> Vec<String> {
        self.inner.engine.loaded().program().actions.iter().map(|a| a.name.clone()).collect()
    }

    /// The audit log decisions are written to, if any.
    #[getter]
    fn audit_log(&self) -> Option<AuditLog> {
        self.inner.audit.as_ref().map(|log| AuditLog { log: Arc::clone(log) })
    }

    fn __repr__(&self) -> String {
        format!("<Engine {} policy {}>", self.backend(), self.policy())
    }
}

impl Engine {
    /// The deny a masking failure makes: audited, carried by `MaskError`.
    fn mask_failed(&self, py: Python<'_>, d: &Decision, mut masked: RtDecision, message: &str) -> PyErr {
        if masked.effect != Effect::Deny {
            masked.effect = Effect::Deny;
            masked.masks.clear();
            masked.obligations.clear();
            masked.reasons = vec![Reason {
                rule: None,
                clause: format!("the payload was withheld: {message}"),
                span: None,
                principal: None,
            }];
            masked.errors.push(ward_runtime::decision::EvalErrorOut { rule: None, message: message.to_string() });
        }
        let why = masked.reasons.iter().map(|r| r.clause.clone()).collect::<Vec<_>>().join("; ");
        let denied = Decision {
            decision: masked,
            request: d.request.clone(),
            time: d.time,
            policy: Arc::clone(&d.policy),
            why: Some(why),
            recorded: AtomicBool::new(true),
        };
        if let Some(log) = &self.inner.audit
            && let Err(e) = append(py, log, &denied)
        {
            return e;
        }
        match Py::new(py, denied) {
            Ok(obj) => errors::mask(py, message.to_string(), obj.into_any()),
            Err(e) => e,
        }
    }
}
