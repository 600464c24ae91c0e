//! The engines measured side by side, each set up once ("as a real service
//! would"): policies parsed and entities loaded before any request, requests
//! prepared in the form each engine takes. Every engine answers `decide(i)`
//! for the `i`-th request of the same list.

use std::str::FromStr;
use std::sync::Arc;

use serde_json::Value as Json;
use ward_runtime::engine::{Backend, Engine, FixedClock, Loaded, PreparedRequest};
use ward_runtime::{Decision, EntityUid, Request, Store};

use crate::apps;
use crate::generate::{GenRequest, Workload};

/// The decision time Ward is given (none of the workloads reads the time).
pub const NOW: i64 = 1_764_158_400_000;

/// cedar-policy's `Authorizer::is_authorized` with the policy set and the
/// entities built once. Each request is held twice: as a `Request` built
/// beforehand, and as its JSON text (the same text Ward's JSON variant
/// reads), which [`CedarPeer::allows_json`] parses on every call.
pub struct CedarPeer {
    authorizer: cedar_policy::Authorizer,
    schema: cedar_policy::Schema,
    policies: cedar_policy::PolicySet,
    entities: cedar_policy::Entities,
    requests: Vec<cedar_policy::Request>,
    json: Vec<String>,
}

/// A request as Cedar's own JSON interface reads it: the fields of
/// `cedar_policy::ffi::AuthorizationCall` that describe the request (the
/// policies and entities are held by the peer). The uids and the context are
/// Cedar's FFI types, so the text is read by Cedar's code: `__entity`
/// escapes or `{"type", "id"}` objects, duplicate keys refused.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CedarJsonRequest {
    principal: cedar_policy::ffi::EntityUid,
    action: cedar_policy::ffi::EntityUid,
    resource: cedar_policy::ffi::EntityUid,
    context: cedar_policy::ffi::Context,
}

impl CedarPeer {
    /// The application's Cedar policies and schema, read from the peer workloads.
    pub fn for_workload(w: &Workload) -> Result<CedarPeer, String> {
        let schema_text = apps::read(&w.app.cedar_schema())?;
        let schema = cedar_policy::Schema::from_json_str(&schema_text)
            .map_err(|e| format!("{}: {e}", w.app.cedar_schema().display()))?;
        let policies = apps::read(&w.app.cedar_policies())?;
        CedarPeer::new(schema, &policies, &w.entities_json(), &w.requests)
    }

    pub fn new(
        schema: cedar_policy::Schema,
        policies: &str,
        entities: &Json,
        requests: &[GenRequest],
    ) -> Result<CedarPeer, String> {
        let policies = cedar_policy::PolicySet::from_str(policies).map_err(|e| format!("cedar policies: {e}"))?;
        let entities = cedar_entities(entities, &schema)?;
        let json = requests.iter().map(|r| r.json().to_string()).collect();
        let mut peer = CedarPeer {
            authorizer: cedar_policy::Authorizer::new(),
            schema,
            policies,
            entities,
            requests: Vec::new(),
            json,
        };
        peer.requests = requests.iter().map(|r| peer.request(r)).collect::<Result<_, _>>()?;
        Ok(peer)
    }

    /// The `Request` for `r`, built from its parts (validated against the schema).
    pub fn request(&self, r: &GenRequest) -> Result<cedar_policy::Request, String> {
        let uid = |j: Json| cedar_policy::EntityUid::from_json(j).map_err(|e| format!("cedar uid: {e}"));
        cedar_policy::Request::new(
            uid(r.principal.json())?,
            uid(serde_json::json!({"type": "Action", "id": r.action}))?,
            uid(r.resource.json())?,
            cedar_policy::Context::empty(),
            Some(&self.schema),
        )
        .map_err(|e| format!("cedar request {r:?}: {e}"))
    }

    /// Cedar's JSON → `Request` path: the request's JSON text read with
    /// cedar-policy's own JSON types (`ffi::EntityUid`, `ffi::Context`, as
    /// its `is_authorized_json` reads a call), the context parsed against the
    /// action's context type in the schema, and the request validated
    /// against the schema (as for the prebuilt requests).
    pub fn request_from_json(&self, text: &str) -> Result<cedar_policy::Request, String> {
        let r: CedarJsonRequest = serde_json::from_str(text).map_err(|e| format!("cedar request JSON: {e}"))?;
        let principal = r.principal.parse(Some("principal")).map_err(|e| e.to_string())?;
        let action = r.action.parse(Some("action")).map_err(|e| e.to_string())?;
        let resource = r.resource.parse(Some("resource")).map_err(|e| e.to_string())?;
        let context = r.context.parse(Some(&self.schema), Some(&action)).map_err(|e| e.to_string())?;
        cedar_policy::Request::new(principal, action, resource, context, Some(&self.schema)).map_err(|e| e.to_string())
    }

    /// Decides a request already built.
    pub fn allows(&self, r: &cedar_policy::Request) -> bool {
        self.authorizer.is_authorized(r, &self.policies, &self.entities).decision() == cedar_policy::Decision::Allow
    }

    /// Parses a request's JSON text and decides it (deny when it does not parse).
    pub fn allows_json_text(&self, text: &str) -> bool {
        self.request_from_json(text).is_ok_and(|r| self.allows(&r))
    }

    /// The JSON text of request `i`, the same text Ward's JSON variant reads.
    pub fn json(&self, i: usize) -> Option<&str> {
        self.json.get(i).map(String::as_str)
    }
}

/// Cedar's `Entities` from the JSON entities: with the schema, Cedar checks
/// them and adds the action entities (and their groups) itself.
fn cedar_entities(entities: &Json, schema: &cedar_policy::Schema) -> Result<cedar_policy::Entities, String> {
    cedar_policy::Entities::from_json_value(entities.clone(), Some(schema)).map_err(|e| format!("cedar entities: {e}"))
}

impl CedarPeer {
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// The decision on request `i` (deny when there is no such request).
    pub fn decide(&self, i: usize) -> bool {
        self.requests.get(i).is_some_and(|r| self.allows(r))
    }

    /// The decision on request `i` from its JSON text, parsed on this call
    /// ([`CedarPeer::request_from_json`]).
    pub fn decide_json(&self, i: usize) -> bool {
        self.json.get(i).is_some_and(|t| self.allows_json_text(t))
    }

    /// The decision, or the evaluation errors Cedar reported (which Cedar
    /// skips over: a policy that errs does not apply).
    pub fn check(&self, i: usize) -> Result<bool, String> {
        let r = self.requests.get(i).ok_or_else(|| format!("no request {i}"))?;
        let response = self.authorizer.is_authorized(r, &self.policies, &self.entities);
        let errors: Vec<String> = response.diagnostics().errors().map(|e| e.to_string()).collect();
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        Ok(response.decision() == cedar_policy::Decision::Allow)
    }
}

/// regorus with the policy loaded once; each request sets its input (a
/// prebuilt value: cloning it is a reference-count increment) and evaluates
/// the `allow` rule.
pub struct RegoPeer {
    engine: regorus::Engine,
    rule: String,
    inputs: Vec<regorus::Value>,
}

impl RegoPeer {
    pub fn for_workload(w: &Workload) -> Result<RegoPeer, String> {
        let path = w.app.rego_policy();
        let policy = apps::read(&path)?;
        let mut engine = regorus::Engine::new();
        // The paper's policies are Rego v0 (`allow { … }` without `if`).
        engine.set_rego_v0(true);
        engine.add_policy(path.display().to_string(), policy).map_err(|e| format!("{}: {e}", path.display()))?;
        let inputs = w
            .rego_inputs
            .iter()
            .map(|j| regorus::Value::from_json_str(&j.to_string()).map_err(|e| format!("rego input: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(RegoPeer { engine, rule: w.app.rego_rule(), inputs })
    }

    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// The decision on request `i`: `allow` is `true` (undefined is a deny).
    pub fn check(&mut self, i: usize) -> Result<bool, String> {
        let input = self.inputs.get(i).ok_or_else(|| format!("no request {i}"))?;
        self.engine.set_input(input.clone());
        let v = self.engine.eval_rule(self.rule.clone()).map_err(|e| format!("regorus: {e}"))?;
        Ok(v == regorus::Value::Bool(true))
    }

    pub fn decide(&mut self, i: usize) -> bool {
        self.check(i).unwrap_or(false)
    }
}

/// A Ward engine and the same requests in each form Ward takes them: prepared
/// frames, typed requests and JSON text.
pub struct WardSide {
    pub engine: Engine,
    pub requests: Vec<Request>,
    pub prepared: Vec<PreparedRequest>,
    pub json: Vec<String>,
    /// Each request's action, resolved once (`Engine::action`), for the builder.
    pub actions: Vec<ward_runtime::ActionId>,
}

impl WardSide {
    /// The application's Ward policy from `benches/workloads/<app>/`.
    pub fn for_workload(w: &Workload, backend: Backend) -> Result<WardSide, String> {
        let engine =
            Engine::from_paths_with(&[w.app.ward_dir()], &w.entities_json(), backend, Arc::new(FixedClock::new(NOW)))
                .map_err(|e| format!("ward {}: {e}", w.app.name()))?;
        WardSide::new(engine, &w.requests)
    }

    pub fn new(engine: Engine, requests: &[GenRequest]) -> Result<WardSide, String> {
        let typed: Vec<Request> = requests
            .iter()
            .map(|r| {
                Request::new(
                    EntityUid::new(&r.principal.ty, &r.principal.id),
                    r.action.clone(),
                    EntityUid::new(&r.resource.ty, &r.resource.id),
                )
            })
            .collect();
        let prepared = typed
            .iter()
            .map(|r| engine.prepare(r, NOW).map_err(|e| format!("ward prepare {r:?}: {e}")))
            .collect::<Result<_, _>>()?;
        let json = requests.iter().map(|r| r.json().to_string()).collect();
        let actions = typed
            .iter()
            .map(|r| engine.action(&r.action).map_err(|e| format!("ward action {}: {e}", r.action)))
            .collect::<Result<_, _>>()?;
        Ok(WardSide { engine, requests: typed, prepared, json, actions })
    }

    /// An engine over policy text held in memory (the scaling sets).
    pub fn from_sources(
        files: &[(&str, &str)],
        entities: &Json,
        backend: Backend,
        requests: &[GenRequest],
    ) -> Result<WardSide, String> {
        WardSide::new(compile(files, entities, backend)?, requests)
    }

    pub fn len(&self) -> usize {
        self.requests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Whether request `i` is allowed, on its prepared frame: the verdict
    /// (effect and deciding rules as indexes), as a caller on the hot path
    /// asks for it. [`WardSide::decide_prepared`] also materialises the
    /// explanation.
    pub fn allows_prepared(&self, i: usize) -> bool {
        self.prepared.get(i).is_some_and(|p| self.engine.verdict_prepared(p).is_allow())
    }

    /// Whether request `i` is allowed, from the typed request (frame built per call).
    pub fn allows_typed(&self, i: usize) -> bool {
        self.requests.get(i).is_some_and(|r| self.engine.check_at(r, NOW).effect() == ward_runtime::Effect::Allow)
    }

    /// Whether request `i` is allowed, laid out by the typed builder
    /// (`Engine::request`, its action resolved beforehand; frame written per call).
    pub fn allows_builder(&self, i: usize) -> bool {
        let (Some(r), Some(action)) = (self.requests.get(i), self.actions.get(i)) else { return false };
        let checked = self
            .engine
            .request(action)
            .principal(&r.principal.ty, &r.principal.id)
            .resource(&r.resource.ty, &r.resource.id)
            .check_at(NOW);
        checked.effect() == ward_runtime::Effect::Allow
    }

    /// Whether request `i` is allowed, from its JSON text (parsed per call).
    pub fn allows_json(&self, i: usize) -> bool {
        self.json.get(i).is_some_and(|t| self.allows_json_text(t))
    }

    /// Whether the request in JSON text `text` is allowed (parsed on this call).
    /// Read straight into the frame (`Engine::check_json_at`; the general
    /// reading for any other shape).
    pub fn allows_json_text(&self, text: &str) -> bool {
        match self.engine.check_json_at(text, NOW) {
            Ok(checked) => checked.effect() == ward_runtime::Effect::Allow,
            Err(_) => false,
        }
    }

    pub fn decide_prepared(&self, i: usize) -> Option<Decision> {
        self.prepared.get(i).map(|p| self.engine.decide_prepared(p))
    }

    pub fn decide_typed(&self, i: usize) -> Option<Decision> {
        self.requests.get(i).map(|r| self.engine.decide(r))
    }

    /// Parses the request's JSON text and decides it.
    pub fn decide_json(&self, i: usize) -> Option<Decision> {
        let text = self.json.get(i)?;
        Some(match Request::from_json_str(text) {
            Ok(r) => self.engine.decide(&r),
            Err(e) => Decision::refused(e.to_string()),
        })
    }
}

/// Compiles Ward sources held in memory to an engine with entities loaded:
/// what the scaling measurements time as "cold compile" (source to native).
pub fn compile(files: &[(&str, &str)], entities: &Json, backend: Backend) -> Result<Engine, String> {
    let mut set = ward_compiler::SourceSet::default();
    for (path, text) in files {
        set.add(*path, text);
    }
    set.add_stdlib();
    let (compiled, _) = ward_compiler::compile(&set, &ward_compiler::Options::default()).map_err(|diags| {
        let errors: Vec<String> = diags
            .iter()
            .filter(|d| d.severity == ward_compiler::Severity::Error)
            .take(5)
            .map(|d| format!("{} {}", d.code, d.message))
            .collect();
        format!("ward compile: {}", errors.join("; "))
    })?;
    let program = Arc::new(compiled.program);
    let store = Store::load(Arc::clone(&program), entities).map_err(|e| format!("ward entities: {e}"))?;
    let loaded = Loaded::new(program, store, backend == Backend::Jit);
    Ok(Engine::new(loaded, Arc::new(FixedClock::new(NOW)), backend))
}

/// The phases of [`compile`] (no entities), each timed: `(phase, ms)`.
/// Each phase's queries run in it (salsa computes on demand): the
/// project-wide analyses first, which parse and summarise every rule; then
/// the diagnostics, which type-check every unit; lowering to the IR;
/// loading the (empty) entity store; the runtime's indexes; the JIT.
pub fn compile_phases(files: &[(&str, &str)]) -> Result<Vec<(&'static str, f64)>, String> {
    let ms = |t: std::time::Instant| t.elapsed().as_secs_f64() * 1e3;
    let mut phases = Vec::new();
    let t = std::time::Instant::now();
    let mut ws = ward_compiler::Workspace::new(ward_compiler::Options::default());
    for (path, text) in files {
        ws.add_file(path, text, ward_compiler::Origin::User);
    }
    ws.add_stdlib();
    phases.push(("add files", ms(t)));
    let t = std::time::Instant::now();
    let analysed = ward_compiler::analysis::analyse(ws.db(), ws.project()).len();
    phases.push(("parse + analyses", ms(t)));
    let t = std::time::Instant::now();
    let diagnostics = ws.diagnostics();
    phases.push(("type-check (diagnostics)", ms(t)));
    if diagnostics.iter().any(|d| d.severity == ward_compiler::Severity::Error) {
        return Err(format!("ward compile: errors ({analysed} analyses' findings)"));
    }
    let t = std::time::Instant::now();
    let compiled = ward_compiler::lower::compile(&ws).map_err(|_| "ward compile: lowering refused".to_string())?;
    phases.push(("lower", ms(t)));
    let program = Arc::new(compiled.program);
    let t = std::time::Instant::now();
    let store =
        Store::load(Arc::clone(&program), &Json::Array(Vec::new())).map_err(|e| format!("ward entities: {e}"))?;
    phases.push(("store (no entities)", ms(t)));
    let t = std::time::Instant::now();
    let store_again = Store::load(Arc::clone(&program), &Json::Array(Vec::new())).map_err(|e| e.to_string())?;
    let interp = Loaded::new(Arc::clone(&program), store_again, false);
    phases.push(("load: indexes, no JIT (store again)", ms(t)));
    drop(interp);
    let t = std::time::Instant::now();
    let loaded = Loaded::new(program, store, true);
    phases.push(("load with JIT", ms(t)));
    if let Some(e) = &loaded.jit_error {
        return Err(format!("ward JIT: {e}"));
    }
    Ok(phases)
}

/// Everything measured on one workload.
pub struct Contenders {
    pub cedar: CedarPeer,
    pub rego: RegoPeer,
    pub interp: WardSide,
    pub jit: WardSide,
}

/// The measured variants, in report order: (name, what it measures).
pub const VARIANTS: [(&str, &str); 8] = [
    ("cedar", "cedar-policy 4 `is_authorized`, entities and requests built once"),
    (
        "cedar-json",
        "cedar-policy 4 from the request's JSON text: read with Cedar's own JSON request types (`ffi::EntityUid`, `ffi::Context`, as its `is_authorized_json` does), `Request::new` validated against the schema, then `is_authorized`; entities built once",
    ),
    ("regorus", "regorus 0.14: set the prebuilt input, evaluate `allow`"),
    ("ward-interp", "Ward interpreter on a prepared frame"),
    ("ward-jit-prepared", "Ward JIT on a prepared frame (`verdict_prepared`: effect and deciding rules as indexes)"),
    ("ward-jit-typed", "Ward JIT from a typed `Request` (`Engine::check_at`, frame built per call)"),
    (
        "ward-jit-json",
        "Ward JIT from the request's JSON text (`Engine::check_json_at`: read straight into the frame), the same text `cedar-json` reads; entities loaded once",
    ),
    (
        "ward-jit-builder",
        "Ward JIT from the typed builder (`Engine::request(&action).principal(…).resource(…)`, the action resolved once; frame written per call)",
    ),
];

/// One decision function per variant: `f(i)` decides request `i`.
pub type Variant<'a> = Box<dyn FnMut(usize) -> bool + 'a>;

impl Contenders {
    pub fn new(w: &Workload) -> Result<Contenders, String> {
        Ok(Contenders {
            cedar: CedarPeer::for_workload(w)?,
            rego: RegoPeer::for_workload(w)?,
            interp: WardSide::for_workload(w, Backend::Interpreter)?,
            jit: WardSide::for_workload(w, Backend::Jit)?,
        })
    }

    /// The variants of [`VARIANTS`], in order. Each is one small closure, so
    /// a faster Ward entry point is a one-line change here.
    pub fn variants(&mut self) -> Vec<(&'static str, Variant<'_>)> {
        let Contenders { cedar, rego, interp, jit } = self;
        let (cedar, interp, jit) = (&*cedar, &*interp, &*jit);
        vec![
            ("cedar", Box::new(move |i| cedar.decide(i)) as Variant<'_>),
            ("cedar-json", Box::new(move |i| cedar.decide_json(i))),
            ("regorus", Box::new(move |i| rego.decide(i))),
            ("ward-interp", Box::new(move |i| interp.allows_prepared(i))),
            ("ward-jit-prepared", Box::new(move |i| jit.allows_prepared(i))),
            ("ward-jit-typed", Box::new(move |i| jit.allows_typed(i))),
            ("ward-jit-json", Box::new(move |i| jit.allows_json(i))),
            ("ward-jit-builder", Box::new(move |i| jit.allows_builder(i))),
        ]
    }
}
