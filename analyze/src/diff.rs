//! `ward diff OLD NEW`: what a change to a policy set allows that was
//! denied before (and the reverse), per action, with a replayed
//! counterexample for every difference found; masks no longer applied,
//! obligations no longer carried, limits and flow conditions changed.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use ward_compiler::ir::{self, ExprKind, Program, RuleKind, Var};

use crate::encode::{Approx, Encoding, SideTerms, encode, method_strength, reads_var};
use crate::query::{Outcome, Programs, ask};
use crate::replay::{effect_rank, obligation_sig as decided_sig};
use crate::solver::{Solver, SolverError};

/// The comparison of two policy sets.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    /// `widens` (a widening found and replayed), `may widen` (one could
    /// not be ruled out: the solver did not decide, or a candidate did not
    /// replay) or `no widening` (proved).
    pub verdict: String,
    pub solver: String,
    pub actions: Vec<ActionDiff>,
    pub rules: RuleChanges,
    pub limits: Vec<LimitChange>,
    pub flows: Vec<FlowChange>,
    /// What the analysis assumes of the world (the domain it proves for).
    pub assumptions: Vec<String>,
    pub elapsed_ms: u128,
}

/// Rules by id.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RuleChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActionDiff {
    pub action: String,
    /// `both`, `added` (only the new policy has it) or `removed`.
    pub presence: String,
    /// Requests the new policy allows and the old one did not.
    pub widened: Outcome,
    /// Requests the new policy sends for approval that the old one denied.
    pub approval_widened: Outcome,
    /// Requests the old policy allowed (or sent for approval) that the new one restricts.
    pub narrowed: Outcome,
    pub masks: Vec<MaskChange>,
    pub obligations: Vec<ObligationChange>,
    pub approximations: Vec<Approx>,
    /// Results hold for delegation chains of up to this many delegating
    /// principals (a rule reads `chain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_bounded: Option<usize>,
    pub elapsed_ms: u128,
}

/// A path the old policy masked (with this method, at least) on requests
/// both policies let through.
#[derive(Debug, Clone, Serialize)]
pub struct MaskChange {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detector: Option<String>,
    pub old_method: String,
    /// A request on which the new policy masks it less (or not at all).
    pub weakened: Outcome,
}

/// An obligation or advice the old policy attached to a decision.
#[derive(Debug, Clone, Serialize)]
pub struct ObligationChange {
    pub obligation: String,
    /// On which effect: `allow` or `approval_required`.
    pub effect: String,
    /// A request both decide alike on which the new policy drops it.
    pub dropped: Outcome,
}

#[derive(Debug, Clone, Serialize)]
pub struct LimitChange {
    pub rule: String,
    pub change: String,
    /// Whether the change lets more requests through.
    pub loosened: bool,
    /// For a limit whose scope or conditions changed, per action: a request
    /// it no longer applies to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub no_longer_applies: Vec<(String, Outcome)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FlowChange {
    pub rule: String,
    pub change: String,
}

impl DiffReport {
    /// Whether anything widens (or might: unknown counts, fail closed).
    pub fn widens(&self) -> bool {
        let open = |o: &Outcome| !o.is_none();
        self.actions.iter().any(|a| {
            open(&a.widened)
                || open(&a.approval_widened)
                || a.masks.iter().any(|m| open(&m.weakened))
                || a.obligations.iter().any(|o| open(&o.dropped))
        }) || self.limits.iter().any(|l| l.loosened || l.no_longer_applies.iter().any(|(_, o)| open(o)))
    }

    /// Whether a widening was found and replayed (not only possible).
    pub fn widens_proved(&self) -> bool {
        let found = |o: &Outcome| o.found().is_some();
        self.actions.iter().any(|a| {
            found(&a.widened)
                || found(&a.approval_widened)
                || a.masks.iter().any(|m| found(&m.weakened))
                || a.obligations.iter().any(|o| found(&o.dropped))
        }) || self.limits.iter().any(|l| l.loosened || l.no_longer_applies.iter().any(|(_, o)| found(o)))
    }

    /// Whether any decision changes at all (or might).
    pub fn changes(&self) -> bool {
        self.widens()
            || self.actions.iter().any(|a| !a.narrowed.is_none())
            || !self.limits.is_empty()
            || !self.flows.is_empty()
    }

    /// Whether a counterexample failed to replay with an exact encoding.
    pub fn bugs(&self) -> Vec<String> {
        let mut out = Vec::new();
        for a in &self.actions {
            let mut all = vec![&a.widened, &a.approval_widened, &a.narrowed];
            all.extend(a.masks.iter().map(|m| &m.weakened));
            all.extend(a.obligations.iter().map(|o| &o.dropped));
            for o in all {
                if let Outcome::Unknown { reason, bug: true } = o {
                    out.push(format!("{}: {reason}", a.action));
                }
            }
        }
        out
    }
}

/// The domain every analysis proves for.
pub fn assumptions() -> Vec<String> {
    vec![
        "decision times from 1970-01-01 to 9999-12-31".into(),
        format!("sets of at most {} elements", crate::encode::MAX_SET),
        "a fresh engine: no earlier requests in the session (flow conditions are also checked against any history, as a possibility)".into(),
        "rate limits with budget left (a first request); a limit key that cannot be computed is modelled".into(),
        format!("strings of characters up to U+{:X} (the SMT-LIB string alphabet)", crate::smt::MAX_SMT_CHAR),
    ]
}

/// The actions both policies know, then those only one does (by name).
fn action_names(programs: &[Arc<Program>]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in programs {
        for a in p.actions.iter().filter(|a| !a.is_group) {
            if !out.contains(&a.name) {
                out.push(a.name.clone());
            }
        }
    }
    out
}

/// How many delegating principals requests need to carry for `action`.
pub fn delegators_for(programs: &[Arc<Program>], action: &str) -> usize {
    let reads = programs.iter().any(|p| reads_var(p, action, Var::Actor) || reads_var(p, action, Var::Chain));
    usize::from(reads)
}

/// Compares `old` with `new`.
pub fn diff(solver: &Solver, old: Arc<Program>, new: Arc<Program>) -> Result<DiffReport, SolverError> {
    let started = Instant::now();
    let arcs = vec![old, new];
    let programs = Programs::new(&arcs, &["old", "new"]);
    let mut actions = Vec::new();
    for name in action_names(&arcs) {
        actions.push(diff_action(solver, &programs, &arcs, &name)?);
    }
    let (Some(old), Some(new)) = (arcs.first(), arcs.get(1)) else {
        return Err(SolverError("two programs are needed".into()));
    };
    let limits = limit_changes(solver, &programs, old, new)?;
    let mut report = DiffReport {
        verdict: String::new(),
        solver: format!("{} ({})", solver.version, solver.path.display()),
        actions,
        rules: rule_changes(old, new),
        limits,
        flows: flow_changes(old, new),
        assumptions: assumptions(),
        elapsed_ms: started.elapsed().as_millis(),
    };
    report.verdict = if report.widens_proved() {
        "widens"
    } else if report.widens() {
        "may widen"
    } else {
        "no widening"
    }
    .into();
    Ok(report)
}

fn presence(arcs: &[Arc<Program>], name: &str) -> String {
    let has = |p: &Program| p.actions.iter().any(|a| a.name == name && !a.is_group);
    match (arcs.first().is_some_and(|p| has(p)), arcs.get(1).is_some_and(|p| has(p))) {
        (true, true) => "both".into(),
        (false, true) => "added".into(),
        _ => "removed".into(),
    }
}

fn diff_action(
    solver: &Solver,
    programs: &Programs<'_>,
    arcs: &[Arc<Program>],
    action: &str,
) -> Result<ActionDiff, SolverError> {
    let started = Instant::now();
    let enc = encode(&programs.vocab, &programs.sides, action, delegators_for(arcs, action));
    let (Some(o), Some(n)) = (enc.sides.first().cloned(), enc.sides.get(1).cloned()) else {
        return Err(SolverError("two programs are needed".into()));
    };
    let (eo, en) = (o.effect.clone(), n.effect.clone());
    let extra = [eo.clone(), en.clone()];
    let effects = |want_old: &'static dyn Fn(i128) -> bool, want_new: &'static dyn Fn(i128) -> bool| {
        move |_: &crate::realize::Model, d: &[ward_runtime::Decision]| -> Result<(), String> {
            let (Some(a), Some(b)) = (d.first(), d.get(1)) else { return Err("missing decisions".into()) };
            if want_old(effect_rank(a)) && want_new(effect_rank(b)) {
                Ok(())
            } else {
                Err(format!("the engine decided {} (old) and {} (new)", a.effect.as_str(), b.effect.as_str()))
            }
        }
    };
    let widened = ask(
        solver,
        programs,
        &enc,
        &[],
        &format!("(and (= {en} 2) (< {eo} 2))"),
        &extra,
        effects(&|o| o < 2, &|n| n == 2),
    )?;
    let approval_widened = ask(
        solver,
        programs,
        &enc,
        &[],
        &format!("(and (= {en} 1) (= {eo} 0))"),
        &extra,
        effects(&|o| o == 0, &|n| n == 1),
    )?;
    let narrowed = ask(solver, programs, &enc, &[], &format!("(< {en} {eo})"), &extra, |_, d| {
        let (Some(a), Some(b)) = (d.first(), d.get(1)) else { return Err("missing decisions".into()) };
        if effect_rank(b) < effect_rank(a) {
            Ok(())
        } else {
            Err(format!("the engine decided {} (old) and {} (new)", a.effect.as_str(), b.effect.as_str()))
        }
    })?;
    let masks = mask_changes(solver, programs, &enc, &o, &n)?;
    let obligations = obligation_changes(solver, programs, &enc, &o, &n)?;
    Ok(ActionDiff {
        action: action.to_string(),
        presence: presence(arcs, action),
        widened,
        approval_widened,
        narrowed,
        masks,
        obligations,
        approximations: enc.approximations.clone(),
        chain_bounded: enc.chain_bounded,
        elapsed_ms: started.elapsed().as_millis(),
    })
}

/// `(path, detector)` keys the old policy's masks cover, with the method.
fn mask_keys(program: &Program, side: &SideTerms) -> Vec<(String, Option<String>, ir::MaskMethod)> {
    let mut out: Vec<(String, Option<String>, ir::MaskMethod)> = Vec::new();
    for m in &side.masks {
        let Some(rule) = program.rules.get(m.rule as usize) else { continue };
        let RuleKind::Mask { paths, detectors, method } = &rule.kind else { continue };
        for p in paths {
            let dets: Vec<Option<String>> = if detectors.is_empty() {
                vec![None]
            } else {
                detectors
                    .iter()
                    .filter_map(|d| program.detectors.get(*d as usize))
                    .map(|d| Some(d.name.clone()))
                    .collect()
            };
            for d in dets {
                match out.iter_mut().find(|(q, e, _)| q == p && *e == d) {
                    Some(entry) if method_strength(method) > method_strength(&entry.2) => entry.2 = method.clone(),
                    Some(_) => {}
                    None => out.push((p.clone(), d, method.clone())),
                }
            }
        }
    }
    out
}

/// `[term for strength ≥ t, t = 1..=5]`: the key is masked at least that strongly.
fn mask_levels(program: &Program, side: &SideTerms, path: &str, det: &Option<String>) -> Vec<String> {
    let mut levels = vec![Vec::new(); 5];
    for m in &side.masks {
        let Some(rule) = program.rules.get(m.rule as usize) else { continue };
        let RuleKind::Mask { paths, detectors, method } = &rule.kind else { continue };
        if !paths.iter().any(|p| p == path) {
            continue;
        }
        let names: Vec<&str> =
            detectors.iter().filter_map(|d| program.detectors.get(*d as usize)).map(|d| d.name.as_str()).collect();
        let by_fired = detectors.is_empty() || det.as_deref().is_some_and(|d| names.contains(&d));
        let strength = method_strength(method) as usize;
        for (t, level) in levels.iter_mut().enumerate() {
            if strength > t {
                level.push(m.whole.clone());
                if by_fired {
                    level.push(m.fired.clone());
                }
            }
        }
    }
    levels.into_iter().map(crate::smt::or).collect()
}

/// How strongly a decision masks `(path, detector)` (0: not at all).
fn decided_strength(d: &ward_runtime::Decision, path: &str, det: &Option<String>) -> u8 {
    d.masks
        .iter()
        .filter(|m| m.paths.iter().any(|p| p == path))
        .filter(|m| m.detectors.is_empty() || det.as_ref().is_some_and(|x| m.detectors.contains(x)))
        .map(|m| method_strength(&m.method))
        .max()
        .unwrap_or(0)
}

fn mask_changes(
    solver: &Solver,
    programs: &Programs<'_>,
    enc: &Encoding,
    o: &SideTerms,
    n: &SideTerms,
) -> Result<Vec<MaskChange>, SolverError> {
    let (Some(old), Some(new)) = (programs.sides.first(), programs.sides.get(1)) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for (path, det, method) in mask_keys(old.program, o) {
        let lo = mask_levels(old.program, o, &path, &det);
        let ln = mask_levels(new.program, n, &path, &det);
        let weaker: Vec<String> = lo.iter().zip(&ln).map(|(a, b)| format!("(and {a} (not {b}))")).collect();
        let q = format!("(and (> {} 0) (> {} 0) {})", o.effect, n.effect, crate::smt::or(weaker));
        let (p2, d2) = (path.clone(), det.clone());
        let weakened = ask(solver, programs, enc, &[], &q, &[o.effect.clone(), n.effect.clone()], move |_, d| {
            let (Some(a), Some(b)) = (d.first(), d.get(1)) else { return Err("missing decisions".into()) };
            let (sa, sb) = (decided_strength(a, &p2, &d2), decided_strength(b, &p2, &d2));
            if effect_rank(a) > 0 && effect_rank(b) > 0 && sa > sb {
                Ok(())
            } else {
                Err(format!("the engine masks it with strength {sa} (old) and {sb} (new)"))
            }
        })?;
        out.push(MaskChange { path, detector: det, old_method: method_name(&method), weakened });
    }
    Ok(out)
}

pub fn method_name(m: &ir::MaskMethod) -> String {
    match m {
        ir::MaskMethod::Redact => "redact".into(),
        ir::MaskMethod::Drop => "drop".into(),
        ir::MaskMethod::Hash { .. } => "hash".into(),
        ir::MaskMethod::Tokenize { key } => format!("tokenize(key: \"{key}\")"),
        ir::MaskMethod::Partial { first, last } => format!("partial(first: {first}, last: {last})"),
    }
}

fn obligation_changes(
    solver: &Solver,
    programs: &Programs<'_>,
    enc: &Encoding,
    o: &SideTerms,
    n: &SideTerms,
) -> Result<Vec<ObligationChange>, SolverError> {
    let mut out = Vec::new();
    for (sig, allow, appr) in &o.obligations {
        let (nallow, nappr) = n
            .obligations
            .iter()
            .find(|(s, _, _)| s == sig)
            .map_or(("false".to_string(), "false".to_string()), |(_, a, b)| (a.clone(), b.clone()));
        for (effect, rank, ot, nt) in [("allow", 2, allow, nallow), ("approval_required", 1, appr, nappr)] {
            if ot == "false" {
                continue;
            }
            let q = format!("(and (= {} {rank}) (= {} {rank}) {ot} (not {nt}))", o.effect, n.effect);
            let s2 = sig.clone();
            let dropped = ask(solver, programs, enc, &[], &q, &[o.effect.clone(), n.effect.clone()], move |_, d| {
                let (Some(a), Some(b)) = (d.first(), d.get(1)) else { return Err("missing decisions".into()) };
                let has = |x: &ward_runtime::Decision| x.obligations.iter().any(|ob| decided_sig(ob) == s2);
                if effect_rank(a) == rank && effect_rank(b) == rank && has(a) && !has(b) {
                    Ok(())
                } else {
                    Err(format!(
                        "the engine decided {} (old) and {} (new), obligation carried: {} / {}",
                        a.effect.as_str(),
                        b.effect.as_str(),
                        has(a),
                        has(b)
                    ))
                }
            })?;
            out.push(ObligationChange { obligation: sig.clone(), effect: effect.to_string(), dropped });
        }
    }
    Ok(out)
}

/// A rule's key expression as text (`principal.owner`).
fn key_text(rule: &ir::Rule, id: u32) -> String {
    match rule.exprs.get(id as usize).map(|e| &e.kind) {
        Some(ExprKind::Var(v)) => match v {
            Var::Principal => "principal".into(),
            Var::Resource => "resource".into(),
            Var::Context => "context".into(),
            Var::Action => "action".into(),
            Var::Actor => "actor".into(),
            _ => "…".into(),
        },
        Some(ExprKind::Attr { base, name }) => {
            let n = rule.exprs.get(*base as usize).map(|_| ()).map_or(String::new(), |()| key_text(rule, *base));
            let _ = name;
            format!("{n}.…")
        }
        _ => "…".into(),
    }
}

fn key_list(program: &Program, rule: &ir::Rule, keys: &[u32]) -> String {
    keys.iter()
        .map(|k| match rule.exprs.get(*k as usize).map(|e| &e.kind) {
            Some(ExprKind::Attr { base, name }) => {
                format!(
                    "{}.{}",
                    key_text(rule, *base).trim_end_matches(".…"),
                    program.strings.get(*name as usize).map_or("?", String::as_str)
                )
            }
            _ => key_text(rule, *k),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

// Long: old rules then new rules, each compared field by field (rate,
// window, key, scope); splitting would pass the solver context around for
// no clarity.
fn limit_changes(
    solver: &Solver,
    programs: &Programs<'_>,
    old: &Program,
    new: &Program,
) -> Result<Vec<LimitChange>, SolverError> {
    let mut out = Vec::new();
    let arcs = &programs.arcs;
    for rule in &old.rules {
        let RuleKind::Limit { count, window_ms, burst, keys, fail_open, measure } = &rule.kind else { continue };
        let Some(nrule) = new.rules.iter().find(|r| r.id == rule.id) else {
            out.push(LimitChange {
                rule: rule.id.clone(),
                change: "removed".into(),
                loosened: true,
                no_longer_applies: Vec::new(),
            });
            continue;
        };
        let RuleKind::Limit { count: nc, window_ms: nw, burst: nb, keys: nk, fail_open: nf, measure: nm } = &nrule.kind
        else {
            out.push(LimitChange {
                rule: rule.id.clone(),
                change: "is no longer a limit".into(),
                loosened: true,
                no_longer_applies: Vec::new(),
            });
            continue;
        };
        let mut changes = Vec::new();
        let mut loosened = false;
        // What is counted: a different measure (or summed expression) is a
        // different limit, which may let more through.
        let measure_text = |p: &Program, r: &ir::Rule, m: &ir::LimitMeasure| match m {
            ir::LimitMeasure::Requests => "requests".to_string(),
            ir::LimitMeasure::Sum { expr, .. } => format!("sum({})", key_list(p, r, &[*expr])),
            ir::LimitMeasure::Distinct { expr } => format!("distinct({})", key_list(p, r, &[*expr])),
        };
        let (om, nmt) = (measure_text(old, rule, measure), measure_text(new, nrule, nm));
        if om != nmt {
            changes.push(format!("counts {om} → {nmt}"));
            loosened = true;
        }
        // Rates compared as count per window (cross-multiplied, no rounding).
        let (old_rate, new_rate) =
            (u128::from(*count) * (*nw).max(1) as u128, u128::from(*nc) * (*window_ms).max(1) as u128);
        if count != nc || window_ms != nw {
            changes.push(format!("{count} per {} ms → {nc} per {nw} ms", window_ms));
            loosened |= new_rate > old_rate;
        }
        if burst != nb {
            changes.push(format!("burst {burst} → {nb}"));
            loosened |= nb > burst;
        }
        let (ok, nkt) = (key_list(old, rule, keys), key_list(new, nrule, nk));
        if ok != nkt {
            changes.push(format!("per {ok} → per {nkt}"));
            loosened = true;
        }
        if fail_open != nf {
            changes.push(format!(
                "fail {} → fail {}",
                if *fail_open { "open" } else { "closed" },
                if *nf { "open" } else { "closed" }
            ));
            loosened |= *nf;
        }
        if rule.shadow != nrule.shadow {
            changes.push(if nrule.shadow { "now @shadow (not enforced)".into() } else { "no longer @shadow".into() });
            loosened |= nrule.shadow;
        }
        // Where it applies: per action of the old program's buckets, asked of
        // the solver whatever the text says (a scope can move to another
        // principal or resource type with the conditions unchanged).
        let mut no_longer = Vec::new();
        let same_conditions = rule.conditions.iter().map(|c| &c.text).eq(nrule.conditions.iter().map(|c| &c.text));
        if !same_conditions {
            changes.push("conditions changed".into());
        }
        let old_idx = old.rules.iter().position(|r| r.id == rule.id).map(|i| i as u32);
        let new_idx = new.rules.iter().position(|r| r.id == rule.id).map(|i| i as u32);
        for name in action_names(arcs) {
            let in_old_buckets =
                old.actions.iter().position(|a| a.name == name && !a.is_group).is_some_and(|a| {
                    old_idx.is_some_and(|r| crate::encode::rules_of_action(old, a as u32).contains(&r))
                });
            if !in_old_buckets {
                continue;
            }
            let enc = encode(&programs.vocab, &programs.sides, &name, delegators_for(arcs, &name));
            let (Some(o), Some(n)) = (enc.sides.first(), enc.sides.get(1)) else { continue };
            let Some(ol) = o.limits.iter().find(|(r, _)| Some(*r) == old_idx).map(|(_, t)| t.clone()) else {
                continue;
            };
            let nl = n.limits.iter().find(|(r, _)| Some(*r) == new_idx).map_or("false".to_string(), |(_, t)| t.clone());
            let q = format!("(and (> {} 0) (> {} 0) {ol} (not {nl}))", o.effect, n.effect);
            let id = rule.id.clone();
            let outcome = ask(solver, programs, &enc, &[], &q, &[], move |_, d| {
                let (Some(a), Some(b)) = (d.first(), d.get(1)) else { return Err("missing decisions".into()) };
                let has = |x: &ward_runtime::Decision| x.limits.iter().any(|l| l.rule == id);
                if has(a) && !has(b) { Ok(()) } else { Err("the engine applied the limit in both or neither".into()) }
            })?;
            if outcome.is_none() {
                continue;
            }
            loosened = true;
            changes.push(match &outcome {
                Outcome::Found(_) => format!("no longer applies to some requests of `{name}`"),
                _ => format!("may no longer apply to some requests of `{name}` (undecided)"),
            });
            no_longer.push((name, outcome));
        }
        if !changes.is_empty() {
            out.push(LimitChange {
                rule: rule.id.clone(),
                change: changes.join("; "),
                loosened,
                no_longer_applies: no_longer,
            });
        }
    }
    for rule in &new.rules {
        if matches!(rule.kind, RuleKind::Limit { .. }) && !old.rules.iter().any(|r| r.id == rule.id) {
            out.push(LimitChange {
                rule: rule.id.clone(),
                change: "added".into(),
                loosened: false,
                no_longer_applies: Vec::new(),
            });
        }
    }
    Ok(out)
}

/// A rule's flow conditions as text.
fn flows_of(p: &Program, rule: &ir::Rule) -> Vec<String> {
    rule.exprs
        .iter()
        .filter_map(|e| match e.kind {
            ExprKind::Flow(k) => p.flows.get(k as usize),
            _ => None,
        })
        .map(|f| {
            let kind = match f.kind {
                ir::FlowKind::Previously => "previously",
                ir::FlowKind::Count => "count",
                ir::FlowKind::Sum => "sum",
            };
            let actions: Vec<&str> =
                f.actions.iter().filter_map(|a| p.actions.get(*a as usize)).map(|a| a.name.as_str()).collect();
            format!(
                "{kind} within {} ms by {} of [{}]{}",
                f.window_ms,
                if f.by_principal { "principal" } else { "session" },
                actions.join(", "),
                if f.filter.is_some() { " where …" } else { "" }
            )
        })
        .collect()
}

fn flow_changes(old: &Program, new: &Program) -> Vec<FlowChange> {
    let mut out = Vec::new();
    for rule in &old.rules {
        let of = flows_of(old, rule);
        let nf = new.rules.iter().find(|r| r.id == rule.id).map(|r| flows_of(new, r)).unwrap_or_default();
        if of != nf {
            out.push(FlowChange {
                rule: rule.id.clone(),
                change: format!("[{}] → [{}]", of.join("; "), nf.join("; ")),
            });
        }
    }
    for rule in &new.rules {
        if !old.rules.iter().any(|r| r.id == rule.id) {
            let nf = flows_of(new, rule);
            if !nf.is_empty() {
                out.push(FlowChange { rule: rule.id.clone(), change: format!("added: {}", nf.join("; ")) });
            }
        }
    }
    out
}

/// A rule without where it is written (to compare versions).
fn shape(rule: &ir::Rule) -> String {
    let mut r = rule.clone();
    r.location = String::new();
    for c in &mut r.conditions {
        c.location = String::new();
    }
    serde_json::to_string(&r).unwrap_or_default()
}

fn rule_changes(old: &Program, new: &Program) -> RuleChanges {
    let mut c = RuleChanges::default();
    for r in &old.rules {
        match new.rules.iter().find(|n| n.id == r.id) {
            None => c.removed.push(r.id.clone()),
            Some(n) => {
                // Indexes of strings and literals differ between programs: compare the conditions' text too.
                let texts = |x: &ir::Rule| x.conditions.iter().map(|c| c.text.clone()).collect::<Vec<_>>();
                if texts(r) != texts(n)
                    || (shape(r) != shape(n) && old.strings == new.strings)
                    || kind_text(r) != kind_text(n)
                {
                    c.changed.push(r.id.clone());
                }
            }
        }
    }
    for n in &new.rules {
        if !old.rules.iter().any(|r| r.id == n.id) {
            c.added.push(n.id.clone());
        }
    }
    c
}

fn kind_text(r: &ir::Rule) -> String {
    let mut r = r.clone();
    r.exprs.clear();
    r.conditions.clear();
    r.location = String::new();
    if let RuleKind::Limit { keys, .. } = &mut r.kind {
        keys.clear();
    }
    serde_json::to_string(&(&r.kind, &r.obligations, &r.advice, r.shadow, r.actor_only)).unwrap_or_default()
}
