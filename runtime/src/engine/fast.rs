//! The fast path: the common case decided without allocating, and handed
//! to the full procedure ([`super::procedure`]) whenever it is not common.

use super::flows::StateFlows;
use super::lifecycle::lifecycle;
use super::loaded::{Decide, Lists};
use super::procedure::link_eval;
use super::{Backend, Engine, Loaded};
use crate::decision::Effect;
use crate::interp::Outcome;
use crate::jit::Code;
use crate::request::Frame;
use crate::verdict::{Fired, Verdict};

/// The type of a frame's entity: the store's flat table for its own
/// entities (no `Entity` read), the frame's entity for the request's.
#[inline]
fn entity_type(loaded: &Loaded, frame: &Frame, index: u32) -> Option<u32> {
    if index < crate::request::LOCAL_ENTITY {
        loaded.store.entity_type(index)
    } else {
        frame.entity(&loaded.store, index).map(|e| e.ty)
    }
}

impl Engine {
    /// The common case, decided without allocating: no delegation chain, no
    /// lifecycle denial, only permits, forbids, masks and limits in the
    /// bucket, no evaluation error. An allow under limits checks them and
    /// is explained in full, as the full procedure would (limits are its
    /// last step). `None` hands the request to the full procedure, which
    /// decides it from scratch (same answer, with everything explained).
    pub(super) fn fast(&self, loaded: &Loaded, frame: &Frame) -> Option<Verdict> {
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
        let ptype = entity_type(loaded, frame, actor)?;
        let rtype = entity_type(loaded, frame, frame.resource)?;
        let Some(bucket) = loaded.buckets.get(&(frame.action, ptype, rtype)) else {
            return Some(Verdict::DefaultDeny);
        };
        let pinned_p = if bucket.fast_principal.is_empty() { None } else { bucket.fast_principal.get(&actor) };
        let pinned_r = if bucket.fast_resource.is_empty() { None } else { bucket.fast_resource.get(&frame.resource) };
        let pinned = [pinned_p, pinned_r];
        if bucket.fast.special || pinned.iter().flatten().any(|l| l.special) {
            return None;
        }
        let mut limits = bucket.fast.limits || pinned.iter().flatten().any(|l| l.limits);
        let store = &loaded.store;
        let in_index = &bucket.in_index;
        let links = !loaded.links.is_empty() && !bucket.templates.is_empty();
        if links && (bucket.fast_templates.special || bucket.fast_templates.limits) {
            return None;
        }
        let program = loaded.program();
        let flows = StateFlows { loaded, state: self.state.as_ref() };
        let eval = link_eval(loaded, frame, actor, &flows);
        let jit = if self.backend == Backend::Jit { loaded.jit.as_ref() } else { None };
        let mut calls = jit.map(|j| j.calls(&eval));
        // `Some(fired)`, or `None` on an error (the full procedure reports it).
        // `at`: the rule's entry of the native code's table, when a list
        // carries it (permits and forbids).
        let mut run = |index: u32, at: Option<u32>| -> Option<bool> {
            let native = calls.as_mut().and_then(|c| match at {
                Some(at) => c.code_at(at, index),
                None => c.code(index),
            });
            let code = match native {
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
        // Runs a list's permits and forbids; an entry that repeats the one
        // before it takes its outcome.
        let mut run_list = |list: &Lists, forbids: &mut Fired, permits: &mut Fired| -> Option<bool> {
            let mut any = false;
            if !list.repeats {
                for d in &list.decide {
                    if run(d.index, Some(d.at))? {
                        any = true;
                        if d.forbid { forbids.push(d.index) } else { permits.push(d.index) }
                    }
                }
                return Some(any);
            }
            let mut last = false;
            for d in &list.decide {
                if !d.repeats {
                    last = run(d.index, Some(d.at))?;
                }
                if last {
                    any = true;
                    if d.forbid { forbids.push(d.index) } else { permits.push(d.index) }
                }
            }
            Some(any)
        };
        let (mut forbids, mut permits) = (Fired::new(), Fired::new());
        run_list(&bucket.fast, &mut forbids, &mut permits)?;
        // The `in`-scoped rules that can apply, group by group. A group of
        // the index is visited in no particular order, so what fired is put
        // back in rule order: the general rules' order (forbids, permits,
        // masks, each by rule index), as the full procedure reports them.
        let mut in_fired = false;
        in_index.visit(store, actor, frame.resource, |group| {
            if group.fast.special {
                return None;
            }
            limits |= group.fast.limits;
            in_fired |= run_list(&group.fast, &mut forbids, &mut permits)?;
            Some(())
        })?;
        if in_fired {
            forbids.sort();
            permits.sort();
        }
        for list in pinned.iter().flatten() {
            run_list(list, &mut forbids, &mut permits)?;
        }
        if links {
            // Templates: the links whose slots match, then the template once.
            let mut matched = Vec::new();
            for &Decide { index, at, forbid, .. } in &bucket.fast_templates.decide {
                matched.clear();
                loaded.links.matching(program, &loaded.store, frame, index, actor, &mut matched);
                if matched.is_empty() || !run(index, Some(at))? {
                    continue;
                }
                for l in &matched {
                    let linked = loaded.linked_index(*l);
                    if forbid { forbids.push(linked) } else { permits.push(linked) }
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
        for &index in &bucket.fast.masks {
            if run(index, None)? {
                masks.push(index);
            }
        }
        let mut in_masked = false;
        in_index.visit(store, actor, frame.resource, |group| {
            for &index in &group.fast.masks {
                if run(index, None)? {
                    in_masked = true;
                    masks.push(index);
                }
            }
            Some(())
        })?;
        if in_masked {
            masks.sort();
        }
        for list in pinned.iter().flatten() {
            for &index in &list.masks {
                if run(index, None)? {
                    masks.push(index);
                }
            }
        }
        let verdict = Verdict::Rules { effect: Effect::Allow, rules: permits, masks };
        if limits {
            let mut decision = loaded.explain(&verdict);
            self.limits(loaded, frame, &mut decision);
            return Some(Verdict::Full(Box::new(decision)));
        }
        Some(verdict)
    }
}
