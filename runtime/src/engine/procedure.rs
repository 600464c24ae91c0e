//! The full decision procedure, and the reference the fast path is tested
//! against: lifecycle of every agent involved, rules once per link of the
//! delegation chain, then masks and limits (docs/language.md §12.3).

use ward_ir::{self as ir, Program, RuleKind};

use super::flows::StateFlows;
use super::lifecycle::lifecycle;
use super::loaded::RuleRef;
use super::{Backend, Engine, Loaded};
use crate::decision::{self, Decision, Effect, EvalErrorOut, Reason};
use crate::interp::{Eval, Outcome};
use crate::request::Frame;
use crate::value::Raw;

/// How one link of the delegation chain came out.
struct LinkResult {
    effect: Effect,
    reasons: Vec<Reason>,
    fired: Vec<u32>,
    errors: Vec<EvalErrorOut>,
    shadow: Vec<decision::Shadow>,
}

impl Engine {
    pub(super) fn decide_frame(&self, loaded: &Loaded, frame: &Frame) -> Decision {
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
            let result = self.link(loaded, frame, *link, &mut actor_grants);
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
            if let Some(r) = loaded.rule_ref(*index) {
                push_obligations(&r, &mut decision.obligations);
            }
        }
        if decision.effect == Effect::Deny {
            return decision;
        }
        // Masks (from every link: the union protects the most) and limits (for the caller).
        for link in &links {
            for (index, outcome) in self.evaluate(loaded, frame, *link, |k| matches!(k, RuleKind::Mask { .. })) {
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
        self.limits(loaded, frame, &mut decision);
        decision
    }

    /// Evaluates the rules of the request's bucket for `principal` that `pick` selects.
    pub(super) fn evaluate(
        &self,
        loaded: &Loaded,
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
        let rules = bucket.rules(&loaded.store, principal, frame.resource);
        let flows = StateFlows { loaded, state: self.state.as_ref() };
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
        // Templates: the links whose slots match, then the template's
        // conditions once (slots appear only in scopes, so every matching
        // link comes out alike); each matching link is a rule of its own.
        if !loaded.links.is_empty() {
            let mut matched = Vec::new();
            for index in &bucket.templates {
                let Some(rule) = program.rules.get(*index as usize) else { continue };
                if !pick(&rule.kind) {
                    continue;
                }
                matched.clear();
                loaded.links.matching(program, &loaded.store, frame, *index, principal, &mut matched);
                if matched.is_empty() {
                    continue;
                }
                let outcome = match jit {
                    Some(j) => j.rule(*index, &eval).unwrap_or_else(|| eval.rule(rule)),
                    None => eval.rule(rule),
                };
                for l in &matched {
                    out.push((loaded.linked_index(*l), outcome.clone()));
                }
            }
        }
        out
    }

    fn link(&self, loaded: &Loaded, frame: &Frame, principal: u32, actor_grants: &mut Vec<u32>) -> LinkResult {
        let is_actor = principal == frame.actor;
        let mut result = LinkResult {
            effect: Effect::Deny,
            reasons: Vec::new(),
            fired: Vec::new(),
            errors: Vec::new(),
            shadow: Vec::new(),
        };
        let mut applying = Applying::default();
        for (index, outcome) in self.evaluate(loaded, frame, principal, |k| matches!(k, RuleKind::Rule { .. })) {
            let Some(r) = loaded.rule_ref(index) else { continue };
            let rule = r.rule;
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
                    result.errors.push(EvalErrorOut { rule: Some(r.id.to_string()), message: error.to_string() });
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
            let text = linked_clause(&r, text);
            if rule.shadow {
                result.shadow.push(decision::Shadow {
                    rule: r.id.to_string(),
                    effect: if forbid { "forbid" } else { "permit" }.to_string(),
                    clause: text,
                });
                continue;
            }
            let reason = Reason { rule: Some(r.id.to_string()), clause: text, span, principal: None };
            applying.push(forbid, needs_approval(rule), index, reason);
            if !forbid && rule.actor_only && is_actor {
                actor_grants.push(index);
            }
        }
        // A permit the actor holds with `@delegation("actor")` vouches for every link.
        if !is_actor && applying.permits.is_empty() && applying.approval_permits.is_empty() {
            applying.delegated(loaded, actor_grants);
        }
        applying.settle(&mut result);
        result
    }
}

fn needs_approval(rule: &ir::Rule) -> bool {
    rule.obligations.iter().any(|o| o.name == "require_approval")
}

/// The rules that apply to one link, by kind, with their reasons.
#[derive(Default)]
struct Applying {
    hard_forbids: Vec<(u32, Reason)>,
    approval_forbids: Vec<(u32, Reason)>,
    permits: Vec<(u32, Reason)>,
    approval_permits: Vec<(u32, Reason)>,
}

impl Applying {
    fn push(&mut self, forbid: bool, needs_approval: bool, index: u32, reason: Reason) {
        match (forbid, needs_approval) {
            (true, false) => self.hard_forbids.push((index, reason)),
            (true, true) => self.approval_forbids.push((index, reason)),
            (false, false) => self.permits.push((index, reason)),
            (false, true) => self.approval_permits.push((index, reason)),
        }
    }

    /// The caller's `@delegation("actor")` permits, granting this link.
    fn delegated(&mut self, loaded: &Loaded, actor_grants: &[u32]) {
        for index in actor_grants {
            if let Some(r) = loaded.rule_ref(*index) {
                let rule = r.rule;
                let reason = Reason {
                    rule: Some(r.id.to_string()),
                    clause: "the caller's delegated permit".to_string(),
                    span: Some(rule.location.clone()),
                    principal: None,
                };
                // A delegated permit that needs approval grants the link only that.
                self.push(false, needs_approval(rule), *index, reason);
            }
        }
    }

    /// The link's effect and the rules (with reasons) that decide it: a hard
    /// forbid denies; without a permit the default is deny; a forbid that
    /// needs approval, or only permits that need it, ask for approval.
    fn settle(self, result: &mut LinkResult) {
        let take = |list: Vec<(u32, Reason)>, result: &mut LinkResult| {
            for (i, r) in list {
                result.fired.push(i);
                result.reasons.push(r);
            }
        };
        if !self.hard_forbids.is_empty() {
            result.effect = Effect::Deny;
            take(self.hard_forbids, result);
        } else if self.permits.is_empty() && self.approval_permits.is_empty() {
            result.effect = Effect::Deny;
            result.reasons.push(default_deny());
        } else if !self.approval_forbids.is_empty() {
            result.effect = Effect::ApprovalRequired;
            take(self.approval_forbids, result);
            take(self.permits, result);
            take(self.approval_permits, result);
        } else if self.permits.is_empty() {
            result.effect = Effect::ApprovalRequired;
            take(self.approval_permits, result);
        } else {
            result.effect = Effect::Allow;
            take(self.permits, result);
        }
    }
}

/// An evaluator for one link of the delegation chain (`principal`).
pub(super) fn link_eval<'a>(
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

pub(super) fn default_deny() -> Reason {
    Reason { rule: None, clause: "no permit applies (default deny)".to_string(), span: None, principal: None }
}

/// Why `rule` decided: its last condition as written (or, under
/// `failed`, the condition that could not be evaluated); for a linked
/// template, followed by the link's slot values.
pub(super) fn rule_reason(r: &RuleRef<'_>, text: Option<String>) -> Reason {
    let rule = r.rule;
    let clause = text.unwrap_or_else(|| {
        rule.conditions
            .last()
            .map_or_else(|| "it applies to every request in its scope".to_string(), |c| c.text.clone())
    });
    let clause = linked_clause(r, clause);
    Reason { rule: Some(r.id.to_string()), clause, span: Some(rule.location.clone()), principal: None }
}

/// A clause of a linked template, with the link's slot values.
pub(super) fn linked_clause(r: &RuleRef<'_>, clause: String) -> String {
    match r.link {
        Some(link) => format!("{clause} (linked with {})", link.values_text),
        None => clause,
    }
}

/// The obligations, then the advice, of a rule that decided.
pub(super) fn push_obligations(r: &RuleRef<'_>, out: &mut Vec<decision::Obligation>) {
    let rule = r.rule;
    for (o, advice) in rule.obligations.iter().map(|o| (o, false)).chain(rule.advice.iter().map(|o| (o, true))) {
        let args = o.args.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        out.push(decision::Obligation { rule: r.id.to_string(), name: o.name.clone(), args, advice });
    }
}

/// The mask a mask rule applies; `with_detectors: false` when its condition
/// could not be evaluated (the paths are masked anyway: never a leak).
pub(super) fn mask_of(program: &Program, rule: &ir::Rule, with_detectors: bool) -> Option<decision::Mask> {
    let RuleKind::Mask { paths, detectors, method } = &rule.kind else { return None };
    let detectors = if with_detectors {
        detectors.iter().filter_map(|d| program.detectors.get(*d as usize)).map(|d| d.name.clone()).collect()
    } else {
        Vec::new()
    };
    Some(decision::Mask { rule: rule.id.clone(), paths: paths.clone(), method: method.clone(), detectors })
}

pub(super) fn render(eval: &Eval<'_>, ty: Option<&ir::Ty>, v: Raw) -> String {
    let mut out = String::new();
    render_into(&mut out, eval, ty, v);
    out
}

/// [`render`], appended to `out`: the common key parts (entities, strings,
/// actions, enums, numbers) without a `String` of their own.
pub(super) fn render_into(out: &mut String, eval: &Eval<'_>, ty: Option<&ir::Ty>, v: Raw) {
    use std::fmt::Write;
    match ty {
        Some(ir::Ty::Entity(_)) => eval.frame.write_uid(eval.store, v as u32, out),
        Some(ir::Ty::String) => out.push_str(&eval.view.string(v)),
        Some(ir::Ty::Action) => {
            if let Some(a) = eval.prepared.program.actions.get(v as usize) {
                out.push_str(&a.name);
            }
        }
        // Values, not their handles in the request's tables (which every request reuses).
        Some(ir::Ty::Ip) => {
            if let Some(ip) = eval.view.ip(v) {
                let _ = write!(out, "{ip}");
            }
        }
        Some(ir::Ty::Cidr) => {
            if let Some((ip, prefix)) = eval.view.cidr(v) {
                let _ = write!(out, "{ip}/{prefix}");
            }
        }
        Some(ir::Ty::Set(element)) => {
            let mut items: Vec<String> = eval.set_elements(v).iter().map(|x| render(eval, Some(element), *x)).collect();
            items.sort();
            items.dedup();
            out.push_str(&serde_json::Value::from(items).to_string());
        }
        Some(ir::Ty::Record(fields)) => {
            let map: serde_json::Map<String, serde_json::Value> = fields
                .iter()
                .enumerate()
                .filter_map(|(i, f)| {
                    let x = eval.record_get(v, i)?;
                    Some((f.name.clone(), serde_json::Value::String(render(eval, Some(&f.ty), x))))
                })
                .collect();
            out.push_str(&serde_json::Value::Object(map).to_string());
        }
        Some(ir::Ty::Enum(e)) => {
            match eval.prepared.program.enums.get(*e as usize).and_then(|en| en.variants.get(v as usize)) {
                Some(variant) => out.push_str(variant),
                None => {
                    let _ = write!(out, "{v}");
                }
            }
        }
        _ => {
            let _ = write!(out, "{}", v as i64);
        }
    }
}
