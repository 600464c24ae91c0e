//! The engine: a compiled policy set and its entities behind an atomic swap,
//! and the decision procedure.
//!
//! Order of a decision (docs/language.md §12.3): shape (the frame is built
//! from the request or the request is refused), lifecycle of the agents
//! involved, rules per link of the delegation chain, limits, masks,
//! obligations. Every failure is a deny that says why.

use std::sync::Arc;

use arc_swap::ArcSwap;
use ward_compiler::ir::{self, Program, RuleKind};

use crate::decision::{self, Decision, Effect, EvalErrorOut, Reason};
use crate::hash::FxHashMap;
use crate::interp::{Eval, EvalError, Flows, Outcome, Prepared};
use crate::jit::{Code, Jit};
use crate::request::{Frame, Request};
use crate::state::{LimitCheck, MemoryStore, StateStore};
use crate::store::Store;
use crate::value::Raw;
use crate::verdict::{Fired, Verdict};

/// Where decision time comes from. Fixed in tests and replays.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
    }
}

/// A clock that says what it is told.
#[derive(Default)]
pub struct FixedClock(std::sync::atomic::AtomicI64);

impl FixedClock {
    pub fn new(ms: i64) -> FixedClock {
        FixedClock(std::sync::atomic::AtomicI64::new(ms))
    }

    pub fn set(&self, ms: i64) {
        self.0.store(ms, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Which evaluator decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Native code compiled by Cranelift (the default).
    Jit,
    /// The reference interpreter.
    Interpreter,
}

/// A compiled policy set with its entities: what the engine swaps atomically.
pub struct Loaded {
    pub prepared: Prepared,
    pub store: Store,
    /// `(action, principal type, resource type)` → bucket.
    pub buckets: FxHashMap<(u32, u32, u32), Bucket>,
    /// Agent lifecycle by entity index.
    pub agents: FxHashMap<u32, ir::Agent>,
    /// Per action: whether a flow condition records it (then an allow
    /// updates the session's history).
    recorded: Vec<bool>,
    pub jit: Option<Jit>,
    /// Why the JIT is not available, when it is not.
    pub jit_error: Option<String>,
    /// Every detector of the program, for masking text in one pass (or why
    /// they could not be compiled: then text masks fail closed).
    pub scanner: Result<Arc<crate::detect::Scanner>, String>,
    /// Per flow condition, a fingerprint of its definition: its state
    /// survives reloads that leave it unchanged.
    pub flow_fingerprints: Vec<String>,
}

impl Loaded {
    pub fn new(program: Arc<Program>, store: Store, want_jit: bool) -> Loaded {
        let prepared = Prepared::new(Arc::clone(&program));
        let literal = |k: &u32| store.literals.get(*k as usize).copied().unwrap_or(u32::MAX);
        let buckets = program
            .buckets
            .iter()
            .map(|b| {
                let pinned = |map: &[(u32, Vec<u32>)]| -> FxHashMap<u32, Lists> {
                    map.iter().map(|(k, rules)| (literal(k), Lists::new(&program, rules))).collect()
                };
                let bucket = Bucket {
                    general: b.rules.clone(),
                    by_principal: b.by_principal.iter().map(|(k, rules)| (literal(k), rules.clone())).collect(),
                    by_resource: b.by_resource.iter().map(|(k, rules)| (literal(k), rules.clone())).collect(),
                    fast: Lists::new(&program, &b.rules),
                    fast_principal: pinned(&b.by_principal),
                    fast_resource: pinned(&b.by_resource),
                };
                ((b.action, b.principal, b.resource), bucket)
            })
            .collect();
        let mut recorded = vec![false; program.actions.len()];
        for flow in &program.flows {
            for a in &flow.actions {
                if let Some(r) = recorded.get_mut(*a as usize) {
                    *r = true;
                }
            }
        }
        let agents = program
            .agents
            .iter()
            .filter_map(|a| store.literals.get(a.entity as usize).map(|i| (*i, a.clone())))
            .collect();
        let (jit, jit_error) = if want_jit {
            match Jit::compile(&prepared, &store) {
                Ok(j) => (Some(j), None),
                Err(e) => (None, Some(e)),
            }
        } else {
            (None, None)
        };
        let scanner = crate::detect::Scanner::new(&program.detectors).map(Arc::new);
        let flow_fingerprints = program
            .flows
            .iter()
            .map(|f| {
                let text = serde_json::to_string(f).unwrap_or_default();
                let h = text
                    .bytes()
                    .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
                format!("{h:016x}")
            })
            .collect();
        Loaded { prepared, store, buckets, agents, recorded, jit, jit_error, scanner, flow_fingerprints }
    }

    pub fn program(&self) -> &Program {
        &self.prepared.program
    }

    /// The decision a verdict stands for.
    pub fn explain(&self, verdict: &Verdict) -> Decision {
        let program = self.program();
        let (effect, rules, masks) = match verdict {
            Verdict::Full(decision) => return (**decision).clone(),
            Verdict::DefaultDeny => {
                let mut decision = Decision::empty(Effect::Deny);
                decision.reasons.push(default_deny());
                return decision;
            }
            Verdict::Rules { effect, rules, masks } => (*effect, rules, masks),
        };
        let mut decision = Decision::empty(effect);
        let mut seen: Vec<u32> = Vec::with_capacity(rules.as_slice().len());
        for index in rules.as_slice() {
            if seen.contains(index) {
                continue;
            }
            seen.push(*index);
            let Some(rule) = program.rules.get(*index as usize) else { continue };
            decision.reasons.push(rule_reason(rule, None));
            push_obligations(rule, &mut decision.obligations);
        }
        for index in masks.as_slice() {
            if let Some(mask) = program.rules.get(*index as usize).and_then(|r| mask_of(program, r, true))
                && !decision.masks.contains(&mask)
            {
                decision.masks.push(mask);
            }
        }
        decision
    }

    /// The state key of flow `index`'s summary for a group and correlation value.
    pub fn flow_key(&self, index: u32, group: &str, correlation: &str) -> String {
        let fingerprint = self.flow_fingerprints.get(index as usize).map_or("", String::as_str);
        format!("flow/{fingerprint}/{group}/{correlation}")
    }
}

/// A bucket's rules, with the pinned ones indexed by store entity.
pub struct Bucket {
    pub general: Vec<u32>,
    pub by_principal: FxHashMap<u32, Vec<u32>>,
    pub by_resource: FxHashMap<u32, Vec<u32>>,
    /// The same rules, split for the fast path.
    fast: Lists,
    fast_principal: FxHashMap<u32, Lists>,
    fast_resource: FxHashMap<u32, Lists>,
}

/// Rules split by what the fast path does with them.
struct Lists {
    /// Permits and forbids, in evaluation order, with `true` for a forbid.
    decide: Vec<(u32, bool)>,
    masks: Vec<u32>,
    /// Whether any rule needs the full procedure: a rate limit (state), a
    /// shadow rule, an approval, or a rule that only the caller may use.
    special: bool,
}

impl Lists {
    fn new(program: &Program, rules: &[u32]) -> Lists {
        let mut lists = Lists { decide: Vec::new(), masks: Vec::new(), special: false };
        for index in rules {
            let Some(rule) = program.rules.get(*index as usize) else {
                lists.special = true;
                continue;
            };
            match &rule.kind {
                RuleKind::Rule { effect } => {
                    let approval = rule.obligations.iter().any(|o| o.name == "require_approval");
                    if rule.shadow || rule.actor_only || approval {
                        lists.special = true;
                    } else {
                        lists.decide.push((*index, *effect == ir::Effect::Forbid));
                    }
                }
                RuleKind::Mask { .. } => lists.masks.push(*index),
                RuleKind::Limit { .. } => lists.special = true,
            }
        }
        lists
    }
}

impl Bucket {
    /// The rules to evaluate for `principal` on `resource`, in evaluation order.
    fn rules(&self, principal: u32, resource: u32) -> std::borrow::Cow<'_, [u32]> {
        let pinned_p = self.by_principal.get(&principal);
        let pinned_r = self.by_resource.get(&resource);
        if pinned_p.is_none() && pinned_r.is_none() {
            return std::borrow::Cow::Borrowed(&self.general);
        }
        let mut all = self.general.clone();
        all.extend(pinned_p.into_iter().flatten());
        all.extend(pinned_r.into_iter().flatten());
        std::borrow::Cow::Owned(all)
    }
}

thread_local! {
    /// One frame per thread, rebuilt for each request ([`Frame::rebuild`]):
    /// deciding from a request allocates nothing once the frame has grown
    /// to the requests' size.
    static FRAME: std::cell::Cell<Option<Box<Frame>>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` on this thread's frame (a fresh one if it is in use).
fn with_frame<R>(f: impl FnOnce(&mut Frame) -> R) -> R {
    let mut frame = FRAME.with(std::cell::Cell::take).unwrap_or_else(|| Box::new(Frame::empty()));
    let out = f(&mut frame);
    FRAME.with(|cell| cell.set(Some(frame)));
    out
}

/// Which earlier actions a flow condition looks at: the session's, or the
/// principal's (with `by principal`, or when the request names no session).
fn group_key(request: &Request, by_principal: bool) -> String {
    match (&request.session, by_principal) {
        (Some(s), false) => format!("session:{s}"),
        _ => format!("principal:{}", request.principal),
    }
}

/// A value as text, for state keys.
fn key_text(eval: &Eval<'_>, exprs: &[ir::Expr], id: u32) -> Result<String, EvalError> {
    let v = eval.expr(exprs, id)?;
    Ok(render(eval, exprs.get(id as usize).map(|e| &e.ty), v))
}

/// Flow aggregates read from the bounded per-session summaries in the state store.
struct StateFlows<'a> {
    loaded: &'a Loaded,
    state: &'a dyn StateStore,
    request: &'a Request,
}

impl Flows for StateFlows<'_> {
    fn flow(&self, index: u32, current: &Frame) -> Result<Raw, EvalError> {
        let flow =
            self.loaded.program().flows.get(index as usize).ok_or_else(|| EvalError::Flow("unknown flow".into()))?;
        let correlation = match flow.correlation {
            Some((_, current_side)) => {
                let eval = Eval {
                    prepared: &self.loaded.prepared,
                    store: &self.loaded.store,
                    frame: current,
                    principal: current.actor,
                    current: Some(current),
                    current_principal: current.actor,
                    flows: &crate::interp::NoHistory,
                    view: current.view(&self.loaded.store),
                };
                key_text(&eval, &flow.exprs, current_side)?
            }
            None => String::new(),
        };
        let key = self.loaded.flow_key(index, &group_key(self.request, flow.by_principal), &correlation);
        let summary = self.state.flow_read(&key).map_err(|e| EvalError::Flow(e.to_string()))?;
        let (previously, count, sum) = summary.at(flow.window_ms, current.now);
        Ok(match flow.kind {
            ir::FlowKind::Previously => u64::from(previously),
            ir::FlowKind::Count => count as u64,
            ir::FlowKind::Sum => sum as u64,
        })
    }
}

/// A request already checked and laid out, with the policy set it belongs to.
pub struct PreparedRequest {
    loaded: Arc<Loaded>,
    pub frame: Frame,
    pub request: Request,
}

impl PreparedRequest {
    /// The decision a verdict on this request stands for.
    pub fn explain(&self, verdict: &Verdict) -> Decision {
        self.loaded.explain(verdict)
    }
}

/// A verdict with the policy set that reached it (kept alive, so that the
/// rule indexes in the verdict stay meaningful across a reload).
pub struct Checked {
    loaded: arc_swap::Guard<Arc<Loaded>>,
    pub verdict: Verdict,
}

impl Checked {
    pub fn effect(&self) -> Effect {
        self.verdict.effect()
    }

    /// The full decision: rule ids, clauses, masks, obligations.
    pub fn decision(&self) -> Decision {
        self.loaded.explain(&self.verdict)
    }
}

/// How one link of the delegation chain came out.
struct LinkResult {
    effect: Effect,
    reasons: Vec<Reason>,
    fired: Vec<u32>,
    errors: Vec<EvalErrorOut>,
    shadow: Vec<decision::Shadow>,
}

/// The engine: `Send + Sync`; decisions read one consistent policy set even
/// while another is being swapped in.
pub struct Engine {
    loaded: ArcSwap<Loaded>,
    clock: Arc<dyn Clock>,
    backend: Backend,
    state: Arc<dyn StateStore>,
    /// Off only in tests that compare the fast path with the full procedure.
    fast_path: bool,
}

impl Engine {
    pub fn new(loaded: Loaded, clock: Arc<dyn Clock>, backend: Backend) -> Engine {
        Engine {
            loaded: ArcSwap::from_pointee(loaded),
            clock,
            backend,
            state: Arc::new(MemoryStore::default()),
            fast_path: true,
        }
    }

    /// Decides every request by the full procedure: the reference that the
    /// fast path is tested against.
    #[doc(hidden)]
    pub fn without_fast_path(mut self) -> Engine {
        self.fast_path = false;
        self
    }

    /// Keeps rate-limit state in `state` (for instance a [`crate::redis_store::RedisStore`]
    /// shared by several engines) instead of in process.
    pub fn with_state(mut self, state: Arc<dyn StateStore>) -> Engine {
        self.state = state;
        self
    }

    /// Replaces the policy set and entities; decisions under way finish on the old one.
    pub fn swap(&self, loaded: Loaded) {
        self.loaded.store(Arc::new(loaded));
    }

    pub fn loaded(&self) -> Arc<Loaded> {
        self.loaded.load_full()
    }

    pub fn backend(&self) -> Backend {
        if self.backend == Backend::Jit && self.loaded.load().jit.is_none() {
            Backend::Interpreter
        } else {
            self.backend
        }
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Decides `request` at the clock's current time.
    pub fn decide(&self, request: &Request) -> Decision {
        let now = self.clock.now_ms();
        self.decide_at(request, now)
    }

    /// Decides `request` as of `now` (milliseconds since the epoch).
    pub fn decide_at(&self, request: &Request, now: i64) -> Decision {
        let checked = self.check_at(request, now);
        match checked.verdict {
            Verdict::Full(decision) => *decision,
            verdict => checked.loaded.explain(&verdict),
        }
    }

    /// Decides `request` as of `now` without materialising the explanation:
    /// the verdict names the deciding rules by index, and
    /// [`Checked::decision`] turns it into a [`Decision`] when needed.
    pub fn check_at(&self, request: &Request, now: i64) -> Checked {
        self.check(request, now, true)
    }

    /// Like [`Engine::check_at`], but an allow is not yet added to the
    /// history of flow conditions: for callers that carry the action out
    /// themselves and record it with [`Engine::record_at`] only once it
    /// succeeded (a tool call that failed did not happen).
    pub fn check_unrecorded_at(&self, request: &Request, now: i64) -> Checked {
        self.check(request, now, false)
    }

    /// Adds `request`, allowed at `now` and since carried out, to the history
    /// of the flow conditions that look at its action. Returns the errors met
    /// (a request that does not fit the current policy set, a state store
    /// that failed); an empty list when it was recorded or nothing looks at
    /// its action.
    pub fn record_at(&self, request: &Request, now: i64) -> Vec<String> {
        let loaded = self.loaded.load();
        with_frame(|frame| {
            if let Err(e) = frame.rebuild(&loaded.store, request, now) {
                return vec![format!("recording for a flow condition: {e}")];
            }
            if !loaded.recorded.get(frame.action as usize).copied().unwrap_or(false) {
                return Vec::new();
            }
            let mut decision = Decision::empty(Effect::Allow);
            self.record_flows(&loaded, request, frame, &mut decision);
            decision.errors.into_iter().map(|e| e.message).collect()
        })
    }

    fn check(&self, request: &Request, now: i64, record: bool) -> Checked {
        let loaded = self.loaded.load();
        let verdict = with_frame(|frame| {
            if let Err(e) = frame.rebuild(&loaded.store, request, now) {
                return Verdict::Full(Box::new(Decision::refused(e.to_string())));
            }
            let verdict = self.verdict_frame(&loaded, request, frame);
            let records = loaded.recorded.get(frame.action as usize).copied().unwrap_or(false);
            if record && verdict.is_allow() && records {
                let mut decision = match verdict {
                    Verdict::Full(d) => *d,
                    v => loaded.explain(&v),
                };
                self.record_flows(&loaded, request, frame, &mut decision);
                return Verdict::Full(Box::new(decision));
            }
            verdict
        });
        Checked { verdict, loaded }
    }

    /// Adds an allowed request to the summaries of the flow conditions that
    /// look at its action. Each summary holds what the condition needs —
    /// evaluated now, on the request as it is — not the request itself.
    fn record_flows(&self, loaded: &Loaded, request: &Request, frame: &Frame, decision: &mut Decision) {
        let eval = link_eval(loaded, frame, frame.actor, &crate::interp::NoHistory);
        for (k, flow) in loaded.program().flows.iter().enumerate() {
            if !flow.actions.contains(&frame.action) {
                continue;
            }
            let outcome = (|| -> Result<(), String> {
                if let Some(f) = flow.filter
                    && eval.expr(&flow.exprs, f).map_err(|e| e.to_string())? == 0
                {
                    return Ok(());
                }
                let correlation = match flow.correlation {
                    Some((past, _)) => key_text(&eval, &flow.exprs, past).map_err(|e| e.to_string())?,
                    None => String::new(),
                };
                let value = match flow.value {
                    Some(v) => eval.expr(&flow.exprs, v).map_err(|e| e.to_string())? as i64,
                    None => 0,
                };
                let key = loaded.flow_key(k as u32, &group_key(request, flow.by_principal), &correlation);
                self.state.flow_record(&key, flow.window_ms, frame.now, value).map_err(|e| e.to_string())
            })();
            if let Err(message) = outcome {
                decision
                    .errors
                    .push(EvalErrorOut { rule: None, message: format!("recording for a flow condition: {message}") });
            }
        }
    }

    /// Checks and lays out `request` once, for deciding it repeatedly (the
    /// benchmarks' "prepared frame"; also useful for replays).
    pub fn prepare(&self, request: &Request, now: i64) -> Result<PreparedRequest, crate::data::DataError> {
        let loaded = self.loaded.load_full();
        let frame = Frame::build(&loaded.store, request, now)?;
        Ok(PreparedRequest { loaded, frame, request: request.clone() })
    }

    /// Decides a prepared request, against the policy set it was prepared
    /// with. Nothing is recorded (no history, no rate-limit consumption
    /// beyond the decision's own check).
    pub fn decide_prepared(&self, prepared: &PreparedRequest) -> Decision {
        match self.verdict_prepared(prepared) {
            Verdict::Full(decision) => *decision,
            verdict => prepared.loaded.explain(&verdict),
        }
    }

    /// Like [`Engine::decide_prepared`], without materialising the
    /// explanation ([`PreparedRequest::explain`] does that).
    pub fn verdict_prepared(&self, prepared: &PreparedRequest) -> Verdict {
        self.verdict_frame(&prepared.loaded, &prepared.request, &prepared.frame)
    }

    fn verdict_frame(&self, loaded: &Loaded, request: &Request, frame: &Frame) -> Verdict {
        let fast = if self.fast_path { self.fast(loaded, request, frame) } else { None };
        match fast {
            Some(verdict) => verdict,
            None => Verdict::Full(Box::new(self.decide_frame(loaded, request, frame))),
        }
    }

    /// The common case, decided without allocating: no delegation chain, no
    /// lifecycle denial, only permits, forbids and masks in the bucket, no
    /// evaluation error. `None` hands the request to the full procedure,
    /// which decides it from scratch (same answer, with everything explained).
    fn fast(&self, loaded: &Loaded, request: &Request, frame: &Frame) -> Option<Verdict> {
        let actor = frame.actor;
        if frame.chain.len() > 1 {
            return None;
        }
        if !loaded.agents.is_empty()
            && let Some(agent) = loaded.agents.get(&actor)
            && lifecycle(agent, frame.now).is_some()
        {
            return None;
        }
        let ptype = frame.entity(&loaded.store, actor)?.ty;
        let rtype = frame.entity(&loaded.store, frame.resource)?.ty;
        let Some(bucket) = loaded.buckets.get(&(frame.action, ptype, rtype)) else {
            return Some(Verdict::DefaultDeny);
        };
        let pinned_p = if bucket.fast_principal.is_empty() { None } else { bucket.fast_principal.get(&actor) };
        let pinned_r = if bucket.fast_resource.is_empty() { None } else { bucket.fast_resource.get(&frame.resource) };
        let lists = [Some(&bucket.fast), pinned_p, pinned_r];
        if lists.iter().flatten().any(|l| l.special) {
            return None;
        }
        let program = loaded.program();
        let flows = StateFlows { loaded, state: self.state.as_ref(), request };
        let eval = link_eval(loaded, frame, actor, &flows);
        let jit = if self.backend == Backend::Jit { loaded.jit.as_ref() } else { None };
        let mut calls = jit.map(|j| j.calls(&eval));
        // `Some(fired)`, or `None` on an error (the full procedure reports it).
        let mut run = |index: u32| -> Option<bool> {
            let code = match calls.as_mut().and_then(|c| c.code(index)) {
                Some(code) => code,
                None => match eval.rule(program.rules.get(index as usize)?) {
                    Outcome::Fired => Code::Fired,
                    Outcome::NotApplicable { .. } => Code::NotApplicable,
                    Outcome::Error { .. } => Code::Error,
                },
            };
            match code {
                Code::Fired => Some(true),
                Code::NotApplicable => Some(false),
                Code::Error => None,
            }
        };
        let (mut forbids, mut permits) = (Fired::new(), Fired::new());
        for list in lists.iter().flatten() {
            for &(index, forbid) in &list.decide {
                if run(index)? {
                    if forbid { forbids.push(index) } else { permits.push(index) }
                }
            }
        }
        if !forbids.is_empty() {
            return Some(Verdict::Rules { effect: Effect::Deny, rules: forbids, masks: Fired::new() });
        }
        if permits.is_empty() {
            return Some(Verdict::DefaultDeny);
        }
        let mut masks = Fired::new();
        for list in lists.iter().flatten() {
            for &index in &list.masks {
                if run(index)? {
                    masks.push(index);
                }
            }
        }
        Some(Verdict::Rules { effect: Effect::Allow, rules: permits, masks })
    }

    fn decide_frame(&self, loaded: &Loaded, request: &Request, frame: &Frame) -> Decision {
        let program = loaded.program();
        let mut decision = Decision::empty(Effect::Allow);
        // Lifecycle of every agent involved.
        for link in &frame.chain {
            if let Some(agent) = loaded.agents.get(link)
                && let Some(reason) = lifecycle(agent, frame.now)
            {
                decision.effect = Effect::Deny;
                decision.reasons.push(Reason {
                    rule: None,
                    clause: reason,
                    span: None,
                    principal: Some(frame.uid(&loaded.store, *link)),
                });
            }
        }
        if decision.effect == Effect::Deny {
            return decision;
        }
        // Rules, once per link of the chain; the caller first, so that its
        // `@delegation("actor")` permits can vouch for the other links.
        let mut links: Vec<u32> = vec![frame.actor];
        links.extend(frame.chain.iter().copied().filter(|l| *l != frame.actor));
        let mut actor_grants: Vec<u32> = Vec::new();
        let mut results = Vec::new();
        for link in &links {
            let result = self.link(loaded, request, frame, *link, &mut actor_grants);
            results.push((*link, result));
        }
        let worst = results.iter().map(|(_, r)| r.effect).max().unwrap_or(Effect::Deny);
        decision.effect = worst;
        let mut fired_rules: Vec<u32> = Vec::new();
        let delegated = links.len() > 1;
        for (link, r) in results {
            decision.errors.extend(r.errors);
            for s in r.shadow {
                if !decision.shadow.contains(&s) {
                    decision.shadow.push(s);
                }
            }
            if r.effect == worst {
                for mut reason in r.reasons {
                    if delegated {
                        reason.principal = Some(frame.uid(&loaded.store, link));
                    }
                    if !decision.reasons.contains(&reason) {
                        decision.reasons.push(reason);
                    }
                }
                for f in &r.fired {
                    if !fired_rules.contains(f) {
                        fired_rules.push(*f);
                    }
                }
            }
        }
        // Obligations and advice of the rules that decided.
        for index in &fired_rules {
            if let Some(rule) = program.rules.get(*index as usize) {
                push_obligations(rule, &mut decision.obligations);
            }
        }
        if decision.effect == Effect::Deny {
            return decision;
        }
        // Masks (from every link: the union protects the most) and limits (for the caller).
        for link in &links {
            for (index, outcome) in self.evaluate(loaded, request, frame, *link, |k| matches!(k, RuleKind::Mask { .. }))
            {
                let Some(rule) = program.rules.get(index as usize) else { continue };
                let mask = match outcome {
                    Outcome::Fired => mask_of(program, rule, true),
                    // A mask whose condition cannot be evaluated is applied: never a leak.
                    Outcome::Error { error, .. } => {
                        decision.errors.push(EvalErrorOut { rule: Some(rule.id.clone()), message: error.to_string() });
                        mask_of(program, rule, false)
                    }
                    Outcome::NotApplicable { .. } => None,
                };
                if let Some(mask) = mask
                    && !decision.masks.contains(&mask)
                {
                    decision.masks.push(mask);
                }
            }
        }
        self.limits(loaded, request, frame, &mut decision);
        decision
    }

    /// Evaluates the rules of the request's bucket for `principal` that `pick` selects.
    fn evaluate(
        &self,
        loaded: &Loaded,
        request: &Request,
        frame: &Frame,
        principal: u32,
        pick: impl Fn(&RuleKind) -> bool,
    ) -> Vec<(u32, Outcome)> {
        let program = loaded.program();
        let Some(ptype) = frame.entity(&loaded.store, principal).map(|e| e.ty) else { return Vec::new() };
        let Some(rtype) = frame.entity(&loaded.store, frame.resource).map(|e| e.ty) else { return Vec::new() };
        let Some(bucket) = loaded.buckets.get(&(frame.action, ptype, rtype)) else {
            return Vec::new();
        };
        let rules = bucket.rules(principal, frame.resource);
        let flows = StateFlows { loaded, state: self.state.as_ref(), request };
        let eval = link_eval(loaded, frame, principal, &flows);
        let jit = if self.backend == Backend::Jit { loaded.jit.as_ref() } else { None };
        let mut out = Vec::new();
        for index in rules.iter() {
            let Some(rule) = program.rules.get(*index as usize) else { continue };
            if !pick(&rule.kind) {
                continue;
            }
            let outcome = match jit {
                Some(j) => j.rule(*index, &eval).unwrap_or_else(|| eval.rule(rule)),
                None => eval.rule(rule),
            };
            out.push((*index, outcome));
        }
        out
    }

    fn link(
        &self,
        loaded: &Loaded,
        request: &Request,
        frame: &Frame,
        principal: u32,
        actor_grants: &mut Vec<u32>,
    ) -> LinkResult {
        let program = loaded.program();
        let is_actor = principal == frame.actor;
        let mut result = LinkResult {
            effect: Effect::Deny,
            reasons: Vec::new(),
            fired: Vec::new(),
            errors: Vec::new(),
            shadow: Vec::new(),
        };
        let (mut hard_forbids, mut approval_forbids, mut permits, mut approval_permits) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (index, outcome) in self.evaluate(loaded, request, frame, principal, |k| matches!(k, RuleKind::Rule { .. }))
        {
            let Some(rule) = program.rules.get(index as usize) else { continue };
            let RuleKind::Rule { effect } = &rule.kind else { continue };
            let forbid = *effect == ir::Effect::Forbid;
            let clause = |failed: Option<usize>| -> (String, Option<String>) {
                let c = match failed {
                    Some(i) => rule.conditions.get(i),
                    None => rule.conditions.last(),
                };
                (
                    c.map_or_else(|| "it applies to every request in its scope".to_string(), |c| c.text.clone()),
                    Some(rule.location.clone()),
                )
            };
            let applies = match &outcome {
                Outcome::Fired => true,
                // Fail closed: an error makes a forbid apply and a permit not.
                Outcome::Error { error, condition } => {
                    result.errors.push(EvalErrorOut { rule: Some(rule.id.clone()), message: error.to_string() });
                    let _ = condition;
                    forbid
                }
                Outcome::NotApplicable { .. } => false,
            };
            if !applies {
                continue;
            }
            if rule.actor_only && !is_actor {
                continue;
            }
            let (text, span) = match &outcome {
                Outcome::Error { condition, error } => {
                    (format!("{} (could not be evaluated: {error})", clause(Some(*condition)).0), clause(None).1)
                }
                _ => clause(None),
            };
            if rule.shadow {
                result.shadow.push(decision::Shadow {
                    rule: rule.id.clone(),
                    effect: if forbid { "forbid" } else { "permit" }.to_string(),
                    clause: text,
                });
                continue;
            }
            let needs_approval = rule.obligations.iter().any(|o| o.name == "require_approval");
            let reason = Reason { rule: Some(rule.id.clone()), clause: text, span, principal: None };
            match (forbid, needs_approval) {
                (true, false) => hard_forbids.push((index, reason)),
                (true, true) => approval_forbids.push((index, reason)),
                (false, false) => permits.push((index, reason)),
                (false, true) => approval_permits.push((index, reason)),
            }
            if !forbid && rule.actor_only && is_actor {
                actor_grants.push(index);
            }
        }
        // A permit the actor holds with `@delegation("actor")` vouches for every link.
        if !is_actor && permits.is_empty() && approval_permits.is_empty() {
            for index in actor_grants.iter() {
                if let Some(rule) = program.rules.get(*index as usize) {
                    let reason = Reason {
                        rule: Some(rule.id.clone()),
                        clause: "the caller's delegated permit".to_string(),
                        span: Some(rule.location.clone()),
                        principal: None,
                    };
                    // A delegated permit that needs approval grants the link only that.
                    if rule.obligations.iter().any(|o| o.name == "require_approval") {
                        approval_permits.push((*index, reason));
                    } else {
                        permits.push((*index, reason));
                    }
                }
            }
        }
        let take = |list: Vec<(u32, Reason)>, result: &mut LinkResult| {
            for (i, r) in list {
                result.fired.push(i);
                result.reasons.push(r);
            }
        };
        if !hard_forbids.is_empty() {
            result.effect = Effect::Deny;
            take(hard_forbids, &mut result);
        } else if permits.is_empty() && approval_permits.is_empty() {
            result.effect = Effect::Deny;
            result.reasons.push(default_deny());
        } else if !approval_forbids.is_empty() {
            result.effect = Effect::ApprovalRequired;
            take(approval_forbids, &mut result);
            take(permits, &mut result);
            take(approval_permits, &mut result);
        } else if permits.is_empty() {
            result.effect = Effect::ApprovalRequired;
            take(approval_permits, &mut result);
        } else {
            result.effect = Effect::Allow;
            take(permits, &mut result);
        }
        result
    }

    fn limits(&self, loaded: &Loaded, request: &Request, frame: &Frame, decision: &mut Decision) {
        let program = loaded.program();
        let mut pending = Vec::new();
        let eval = link_eval(loaded, frame, frame.actor, &crate::interp::NoHistory);
        for (index, outcome) in
            self.evaluate(loaded, request, frame, frame.actor, |k| matches!(k, RuleKind::Limit { .. }))
        {
            let Some(rule) = program.rules.get(index as usize) else { continue };
            let RuleKind::Limit { count, window_ms, burst, keys, fail_open } = &rule.kind else { continue };
            if !matches!(outcome, Outcome::Fired) || rule.shadow {
                if let Outcome::Error { error, .. } = outcome {
                    decision.errors.push(EvalErrorOut { rule: Some(rule.id.clone()), message: error.to_string() });
                }
                continue;
            }
            let mut key_parts = Vec::new();
            let mut failed = None;
            for k in keys {
                match eval.expr(&rule.exprs, *k) {
                    Ok(v) => key_parts.push(render(&eval, rule.exprs.get(*k as usize).map(|e| &e.ty), v)),
                    Err(e) => failed = Some(e),
                }
            }
            if let Some(e) = failed {
                decision
                    .errors
                    .push(EvalErrorOut { rule: Some(rule.id.clone()), message: format!("rate-limit key: {e}") });
                if !fail_open {
                    decision.effect = Effect::Deny;
                    // A deny carries no masks (they apply to allow and approval_required).
                    decision.masks.clear();
                    decision.reasons.push(Reason {
                        rule: Some(rule.id.clone()),
                        clause: "its rate-limit key could not be computed".into(),
                        span: Some(rule.location.clone()),
                        principal: None,
                    });
                }
                continue;
            }
            pending.push((rule, key_parts.join("/"), *count, *window_ms, *burst, *fail_open));
        }
        if pending.is_empty() {
            return;
        }
        let checks: Vec<LimitCheck> = pending
            .iter()
            .map(|(rule, key, count, window_ms, burst, _)| LimitCheck {
                key: format!("{}/{key}", rule.id),
                count: *count,
                window_ms: *window_ms,
                burst: *burst,
            })
            .collect();
        // The state changes only when the decision is final: consume only
        // if, limits aside, the request is allowed.
        let commit = decision.effect == Effect::Allow;
        let mut results = Vec::with_capacity(checks.len());
        match self.state.check_limits(&checks, frame.now, commit, &mut results) {
            Ok(()) => {}
            Err(e) => {
                // The store cannot answer: each limit fails closed unless it says `fail open`.
                for (rule, key, count, window_ms, _, fail_open) in &pending {
                    decision.errors.push(EvalErrorOut { rule: Some(rule.id.clone()), message: e.to_string() });
                    if !fail_open {
                        decision.effect = Effect::Deny;
                        decision.reasons.push(Reason {
                            rule: Some(rule.id.clone()),
                            clause: format!(
                                "the limit of {count} per {window_ms} ms for {key} could not be checked: {e}"
                            ),
                            span: Some(rule.location.clone()),
                            principal: None,
                        });
                    }
                }
                if decision.effect == Effect::Deny {
                    decision.masks.clear();
                }
                return;
            }
        };
        let mut refused = false;
        for ((rule, key, count, window_ms, _, _), result) in pending.iter().zip(results) {
            decision.limits.push(decision::Limit {
                rule: rule.id.clone(),
                key: key.clone(),
                limit: *count,
                window_ms: *window_ms,
                remaining: result.remaining,
                retry_after_ms: result.retry_after_ms,
            });
            if !result.allowed {
                refused = true;
                decision.reasons.push(Reason {
                    rule: Some(rule.id.clone()),
                    clause: format!("rate limit of {count} per {window_ms} ms exceeded for {key}"),
                    span: Some(rule.location.clone()),
                    principal: None,
                });
            }
        }
        if refused {
            decision.effect = Effect::Deny;
            decision.masks.clear();
        }
    }
}

/// An evaluator for one link of the delegation chain (`principal`).
fn link_eval<'a>(
    loaded: &'a Loaded,
    frame: &'a Frame,
    principal: u32,
    flows: &'a dyn crate::interp::Flows,
) -> Eval<'a> {
    let mut eval = Eval::new(&loaded.prepared, &loaded.store, frame, flows);
    eval.principal = principal;
    eval.current_principal = principal;
    eval
}

fn default_deny() -> Reason {
    Reason { rule: None, clause: "no permit applies (default deny)".to_string(), span: None, principal: None }
}

/// Why `rule` decided: its last condition as written (or, under
/// `failed`, the condition that could not be evaluated).
fn rule_reason(rule: &ir::Rule, text: Option<String>) -> Reason {
    let clause = text.unwrap_or_else(|| {
        rule.conditions
            .last()
            .map_or_else(|| "it applies to every request in its scope".to_string(), |c| c.text.clone())
    });
    Reason { rule: Some(rule.id.clone()), clause, span: Some(rule.location.clone()), principal: None }
}

/// The obligations, then the advice, of a rule that decided.
fn push_obligations(rule: &ir::Rule, out: &mut Vec<decision::Obligation>) {
    for (o, advice) in rule.obligations.iter().map(|o| (o, false)).chain(rule.advice.iter().map(|o| (o, true))) {
        let args = o.args.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        out.push(decision::Obligation { rule: rule.id.clone(), name: o.name.clone(), args, advice });
    }
}

/// The mask a mask rule applies; `with_detectors: false` when its condition
/// could not be evaluated (the paths are masked anyway: never a leak).
fn mask_of(program: &Program, rule: &ir::Rule, with_detectors: bool) -> Option<decision::Mask> {
    let RuleKind::Mask { paths, detectors, method } = &rule.kind else { return None };
    let detectors = if with_detectors {
        detectors.iter().filter_map(|d| program.detectors.get(*d as usize)).map(|d| d.name.clone()).collect()
    } else {
        Vec::new()
    };
    Some(decision::Mask { rule: rule.id.clone(), paths: paths.clone(), method: method.clone(), detectors })
}

fn render(eval: &Eval<'_>, ty: Option<&ir::Ty>, v: Raw) -> String {
    match ty {
        Some(ir::Ty::Entity(_)) => eval.frame.uid(eval.store, v as u32),
        Some(ir::Ty::String) => eval.view.string(v).into_owned(),
        Some(ir::Ty::Action) => {
            eval.prepared.program.actions.get(v as usize).map_or_else(String::new, |a| a.name.clone())
        }
        // Values, not their handles in the request's tables (which every request reuses).
        Some(ir::Ty::Ip) => eval.view.ip(v).map_or_else(String::new, |ip| ip.to_string()),
        Some(ir::Ty::Cidr) => eval.view.cidr(v).map_or_else(String::new, |(ip, prefix)| format!("{ip}/{prefix}")),
        Some(ir::Ty::Set(element)) => {
            let mut items: Vec<String> = eval.set_elements(v).iter().map(|x| render(eval, Some(element), *x)).collect();
            items.sort();
            items.dedup();
            serde_json::Value::from(items).to_string()
        }
        Some(ir::Ty::Record(fields)) => {
            let record = eval.view.record(v);
            let map: serde_json::Map<String, serde_json::Value> = fields
                .iter()
                .enumerate()
                .filter_map(|(i, f)| {
                    let x = record.and_then(|r| r.get(i))?;
                    Some((f.name.clone(), serde_json::Value::String(render(eval, Some(&f.ty), x))))
                })
                .collect();
            serde_json::Value::Object(map).to_string()
        }
        Some(ir::Ty::Enum(e)) => eval
            .prepared
            .program
            .enums
            .get(*e as usize)
            .and_then(|en| en.variants.get(v as usize))
            .map_or_else(|| v.to_string(), Clone::clone),
        _ => (v as i64).to_string(),
    }
}

/// Why an agent may not act at `now` (ms since the epoch), if it may not
/// (docs/language.md §4): `now ≥ expires`, or `last + every < now`.
fn lifecycle(agent: &ir::Agent, now: i64) -> Option<String> {
    const DAY: i64 = 86_400_000;
    let today = now.div_euclid(DAY);
    let date = |d: i64| {
        let (y, m, dd) = crate::interp::civil(d);
        format!("{y:04}-{m:02}-{dd:02}")
    };
    if let Some(expires) = agent.expires
        && today >= expires
    {
        return Some(format!("agent `{}` expired on {}", agent.name, date(expires)));
    }
    for (what, cadence) in [("credential rotation", agent.rotation), ("review", agent.review)] {
        if let Some((period, last)) = cadence
            && let Some(since) = last.or(agent.created)
        {
            // Overdue from the instant `last + every` has passed, not from the next day.
            let due = since.saturating_mul(DAY).saturating_add(period);
            if now > due {
                let day = due.div_euclid(DAY);
                return Some(format!("agent `{}`: {what} was due on {} and is overdue", agent.name, date(day)));
            }
        }
    }
    None
}
