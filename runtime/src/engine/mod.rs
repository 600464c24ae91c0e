//! The engine: a compiled policy set and its entities behind an atomic swap,
//! and the decision procedure.
//!
//! Order of a decision (docs/language.md §12.3): shape (the frame is built
//! from the request or the request is refused), lifecycle of the agents
//! involved, rules per link of the delegation chain, limits, masks,
//! obligations. Every failure is a deny that says why.

mod builder;
mod clock;
mod fast;
mod flows;
mod lifecycle;
mod limits;
mod loaded;
mod procedure;

use std::sync::Arc;

use arc_swap::ArcSwap;

pub use builder::{ActionId, AsAction, AsEntityType, AsField, FieldId, RequestBuilder, TypeId};
pub use clock::{Clock, FixedClock, SystemClock};
pub use flows::{ActionResult, ResultRecord};
pub use loaded::{Bucket, Loaded, RuleRef};

use crate::decision::{Decision, Effect};
use crate::request::{Frame, Request};
use crate::state::{MemoryStore, StateStore};
use crate::verdict::Verdict;

/// Which evaluator decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Native code compiled by Cranelift (the default).
    Jit,
    /// The reference interpreter.
    Interpreter,
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

/// The engine: `Send + Sync`; decisions read one consistent policy set even
/// while another is being swapped in.
pub struct Engine {
    loaded: ArcSwap<Loaded>,
    clock: Arc<dyn Clock>,
    backend: Backend,
    state: Arc<dyn StateStore>,
    /// Off only in tests that compare the fast path with the full procedure.
    fast_path: bool,
    /// Held by changes derived from the current policy set (entities,
    /// links), so that two of them do not race to build from the same one.
    writers: std::sync::Mutex<()>,
}

impl Engine {
    pub fn new(loaded: Loaded, clock: Arc<dyn Clock>, backend: Backend) -> Engine {
        Engine {
            loaded: ArcSwap::from_pointee(loaded),
            clock,
            backend,
            state: Arc::new(MemoryStore::default()),
            fast_path: true,
            writers: std::sync::Mutex::new(()),
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

    /// Replaces the links of the policy set's templates: the program and its
    /// native code are kept, only the links' index is rebuilt. Decisions
    /// under way finish with the old links.
    pub fn set_links(&self, links: Arc<crate::links::Links>) -> Result<(), String> {
        self.derive(|current| current.with_links(Arc::clone(&links)))
    }

    /// Replaces the entities (Cedar's JSON entity format), keeping the
    /// policy set, its native code and its links: no compile, the cost of
    /// loading the entities. Decisions under way finish on the old ones; on
    /// an error nothing changes.
    pub fn set_entities(&self, entities: &serde_json::Value) -> Result<(), crate::data::DataError> {
        self.derive(|current| current.with_entities(entities))
    }

    /// Adds, replaces and removes entities ([`crate::EntityPatch`]), keeping
    /// the policy set, its native code and its links; decisions afterwards
    /// are those of an engine freshly loaded with the patched entity list.
    /// The cost is the patch's (its entities typed, the ancestors of the
    /// entities below those whose parents it changes computed again) plus
    /// a copy of the store's flat tables, not a load ([`Store::patched`]).
    /// On an error (naming the entity) nothing changes.
    ///
    /// [`Store::patched`]: crate::Store::patched
    pub fn update_entities(&self, patch: &crate::EntityPatch) -> Result<(), crate::data::DataError> {
        self.derive(|current| current.with_patch(patch))
    }

    /// Swaps in what `next` builds from the current policy set. A swap that
    /// lands while it builds is not undone: `next` is applied again to
    /// what that swap brought.
    fn derive<E>(&self, next: impl Fn(&Loaded) -> Result<Loaded, E>) -> Result<(), E> {
        let _writer = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let current = self.loaded.load_full();
            let built = Arc::new(next(&current)?);
            let previous = self.loaded.compare_and_swap(&current, built);
            if Arc::ptr_eq(&*previous, &current) {
                return Ok(());
            }
        }
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

    /// Decides the request in `text` (Cedar's JSON request shape, as
    /// [`Request::from_json_str`] reads it) as of `now`. The common shape is
    /// read straight into the thread's frame, without a [`Request`] or a
    /// JSON document; every other text, and every text with an error, is
    /// read the general way, so that what is accepted, how it is decided
    /// and each error (path and message) are those of
    /// `check_at(&Request::from_json_str(text)?, now)`. `Err`: the text is
    /// not a request; a request the schema refuses is a refused decision.
    pub fn check_json_at(&self, text: &str, now: i64) -> Result<Checked, crate::data::DataError> {
        if let Some(checked) = crate::json::check_direct(self, text, now) {
            return Ok(checked);
        }
        let request = Request::from_json_str(text)?;
        Ok(self.check_at(&request, now))
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
            let mut decision = Decision::empty(crate::decision::Effect::Allow);
            self.record_flows(&loaded, frame, &mut decision);
            decision.errors.into_iter().map(|e| e.message).collect()
        })
    }

    fn check(&self, request: &Request, now: i64, record: bool) -> Checked {
        let loaded = self.loaded.load();
        let verdict = with_frame(|frame| match frame.rebuild(&loaded.store, request, now) {
            Ok(()) => self.check_frame(&loaded, frame, record),
            Err(e) => Verdict::Full(Box::new(Decision::refused(e.to_string()))),
        });
        Checked { verdict, loaded }
    }

    /// Decides the request laid out in `frame`; an allow is recorded in the
    /// history of the flow conditions that look at its action if `record`.
    fn check_frame(&self, loaded: &Loaded, frame: &Frame, record: bool) -> Verdict {
        let verdict = self.verdict_frame(loaded, frame);
        let records = loaded.recorded.get(frame.action as usize).copied().unwrap_or(false);
        if record && verdict.is_allow() && records {
            let mut decision = match verdict {
                Verdict::Full(d) => *d,
                v => loaded.explain(&v),
            };
            self.record_flows(loaded, frame, &mut decision);
            return Verdict::Full(Box::new(decision));
        }
        verdict
    }

    /// Records `request` in the flow history as an allowed action: for a
    /// request whose `approval_required` a person lifted (the MCP gateway's
    /// approvals), so that later flow conditions see it as they see every
    /// allowed request. A failure to record is added to `decision.errors`.
    pub fn record_approved(&self, request: &Request, decision: &mut Decision) {
        let loaded = self.loaded.load();
        let now = self.clock.now_ms();
        with_frame(|frame| {
            if frame.rebuild(&loaded.store, request, now).is_ok()
                && loaded.recorded.get(frame.action as usize).copied().unwrap_or(false)
            {
                self.record_flows(&loaded, frame, decision);
            }
        });
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
        self.verdict_frame(&prepared.loaded, &prepared.frame)
    }

    fn verdict_frame(&self, loaded: &Loaded, frame: &Frame) -> Verdict {
        let fast = if self.fast_path { self.fast(loaded, frame) } else { None };
        match fast {
            Some(verdict) => verdict,
            None => Verdict::Full(Box::new(self.decide_frame(loaded, frame))),
        }
    }
}
