//! Replaying a counterexample through the real engine: the same request
//! and entities, decided by `ward-runtime` — with the JIT and with the
//! reference interpreter, which must agree.

use std::sync::Arc;

use ward_compiler::ir::Program;
use ward_runtime::{Backend, Decision, Engine, FixedClock, Loaded, Request, Store};

use crate::realize::World;

/// Decides side `i`'s request of `world` with a fresh engine (no history,
/// no rate-limit state) for `program`.
pub fn decide(program: &Arc<Program>, world: &World, i: usize) -> Result<Decision, String> {
    let entities = world.entities.get(i).ok_or("no entities for this program")?;
    let request = world.requests.get(i).ok_or("no request for this program")?;
    let request = Request::from_json(request).map_err(|e| format!("the counterexample's request is refused: {e}"))?;
    let mut decisions = Vec::new();
    for backend in [Backend::Jit, Backend::Interpreter] {
        let store = Store::load(Arc::clone(program), entities)
            .map_err(|e| format!("the counterexample's entities do not load: {e}"))?;
        let loaded = Loaded::new(Arc::clone(program), store, backend == Backend::Jit);
        let engine = Engine::new(loaded, Arc::new(FixedClock::new(world.now)), backend);
        decisions.push(engine.decide_at(&request, world.now));
    }
    match (decisions.pop(), decisions.pop()) {
        (Some(interp), Some(jit)) => {
            if interp.effect != jit.effect || interp.masks != jit.masks || interp.obligations != jit.obligations {
                return Err(format!(
                    "the JIT and the interpreter disagree on this request ({} vs {})",
                    jit.effect.as_str(),
                    interp.effect.as_str()
                ));
            }
            Ok(jit)
        }
        _ => Err("no decision".into()),
    }
}

/// An obligation or advice of a decision as text, like
/// [`crate::encode::obligation_sig`].
pub fn obligation_sig(o: &ward_runtime::decision::Obligation) -> String {
    if o.args.is_empty() {
        return o.name.clone();
    }
    let mut args: Vec<String> = o
        .args
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect();
    args.sort();
    format!("{}({})", o.name, args.join(", "))
}

/// The effect as the encoding numbers it: 0 deny, 1 approval_required, 2 allow.
pub fn effect_rank(d: &Decision) -> i128 {
    match d.effect {
        ward_runtime::Effect::Deny => 0,
        ward_runtime::Effect::ApprovalRequired => 1,
        ward_runtime::Effect::Allow => 2,
    }
}
