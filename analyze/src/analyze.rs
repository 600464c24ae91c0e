//! `ward analyze PATH`: per action, whether the policy never allows, always
//! allows, or may fail to evaluate a rule (which rule, which attribute);
//! rules that can never apply, that a forbid always overrides, or that
//! another rule always covers, proved; and the `assert` statements.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use ward_compiler::ir::{Effect, Program, RuleKind};
use ward_compiler::lower::Assertion;
use ward_runtime::Decision;

use crate::encode::{Approx, Encoding, SideTerms, encode_with};
use crate::query::{Outcome, Programs, ask};
use crate::realize::{Model, World};
use crate::replay::effect_rank;
use crate::smt::{and, not, or};
use crate::solver::{Solver, SolverError};

#[derive(Debug, Clone, Serialize)]
pub struct AnalyzeReport {
    pub solver: String,
    pub actions: Vec<ActionAnalysis>,
    pub rules: Vec<RuleFinding>,
    pub asserts: Vec<AssertResult>,
    pub assumptions: Vec<String>,
    pub elapsed_ms: u128,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActionAnalysis {
    pub action: String,
    /// `never allows`, `always allows`, `allows some requests` or `unknown`.
    pub verdict: String,
    /// A request the policy allows (none: it never allows).
    pub allowed: Outcome,
    /// A well-formed request it does not allow (none: it always allows).
    pub refused: Outcome,
    /// Rules that may fail to evaluate, with the request that makes them.
    pub errors: Vec<ErrorFinding>,
    /// Why the search for errors stopped short, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors_unknown: Option<String>,
    /// Rate limits that apply to this action: "always allows" holds while their budget lasts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub limited_by: Vec<String>,
    pub approximations: Vec<Approx>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_bounded: Option<usize>,
    pub elapsed_ms: u128,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorFinding {
    pub rule: String,
    /// The engine's message (which operation failed).
    pub message: String,
    /// The condition that failed to evaluate on the example, as written
    /// (which attributes it reads), when the caller's evaluation fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// `file:line:col` of that condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub example: Outcome,
}

/// A proved property of a rule, over every action it applies to.
#[derive(Debug, Clone, Serialize)]
pub struct RuleFinding {
    pub rule: String,
    /// `never applies`, `shadowed` (a forbid without approval always
    /// applies when it does) or `redundant` (another rule of the same kind
    /// always applies when it does: removing it changes no effect).
    pub finding: String,
    pub actions: Vec<String>,
    /// The checker's syntactic warning that says the same, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syntactic: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AssertResult {
    pub name: String,
    pub location: String,
    /// The statement, in words.
    pub statement: String,
    /// `holds` (proved), `violated` (with a replayed counterexample) or `unknown`.
    pub result: String,
    /// The counterexample, or why it is unknown.
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

impl AnalyzeReport {
    /// Asserts that do not hold, or could not be proved.
    pub fn failed_asserts(&self) -> usize {
        self.asserts.iter().filter(|a| a.result != "holds").count()
    }

    pub fn bugs(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut note = |what: &str, o: &Outcome| {
            if let Outcome::Unknown { reason, bug: true } = o {
                out.push(format!("{what}: {reason}"));
            }
        };
        for a in &self.actions {
            note(&a.action, &a.allowed);
            note(&a.action, &a.refused);
            for e in &a.errors {
                note(&a.action, &e.example);
            }
        }
        for a in &self.asserts {
            note(&a.name, &a.outcome);
        }
        out
    }
}

/// What per-rule status the analysis reached for one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Status {
    Dead,
    Shadowed,
    Redundant,
    Live,
    Unknown,
}

/// Analyses `program`. `syntactic` lists the checker's W0101/W0103
/// warnings as `(code, rule id)`.
pub fn analyze(
    solver: &Solver,
    program: Arc<Program>,
    asserts: &[Assertion],
    syntactic: &[(String, String)],
) -> Result<AnalyzeReport, SolverError> {
    run(solver, program, asserts, syntactic, false)
}

/// Only the asserts (what `ward test` checks).
pub fn check_asserts(
    solver: &Solver,
    program: Arc<Program>,
    asserts: &[Assertion],
) -> Result<Vec<AssertResult>, SolverError> {
    Ok(run(solver, program, asserts, &[], true)?.asserts)
}

fn run(
    solver: &Solver,
    program: Arc<Program>,
    asserts: &[Assertion],
    syntactic: &[(String, String)],
    asserts_only: bool,
) -> Result<AnalyzeReport, SolverError> {
    let started = Instant::now();
    let arcs = vec![Arc::clone(&program)];
    let programs = Programs::new(&arcs, &["policy"]);
    let assert_refs: Vec<&Assertion> = asserts.iter().collect();
    let mut actions = Vec::new();
    let mut status: BTreeMap<u32, Vec<(String, Status)>> = BTreeMap::new();
    let mut assert_results: Vec<Option<(Outcome, String)>> = vec![None; asserts.len()];
    let mut assert_unknown: Vec<Option<(Outcome, String)>> = vec![None; asserts.len()];
    for (local, action) in program.actions.iter().enumerate().filter(|(_, a)| !a.is_group) {
        if asserts_only && !asserts.iter().any(|a| a.actions.contains(&(local as u32))) {
            continue;
        }
        let t0 = Instant::now();
        let delegators = crate::diff::delegators_for(&arcs, &action.name);
        let enc = encode_with(&programs.vocab, &programs.sides, &action.name, delegators, &assert_refs);
        let Some(side) = enc.sides.first().cloned() else { continue };
        let eff = side.effect.clone();
        for (i, a) in asserts.iter().enumerate() {
            let Some(Some(selected)) = enc.asserts.get(i) else { continue };
            let outcome = check_assert(solver, &programs, &enc, &side, a, selected, &program)?;
            match &outcome {
                Outcome::Found(_) => {
                    if let Some(slot) = assert_results.get_mut(i)
                        && slot.is_none()
                    {
                        *slot = Some((outcome, action.name.clone()));
                    }
                }
                Outcome::Unknown { .. } => {
                    if let Some(slot) = assert_unknown.get_mut(i)
                        && slot.is_none()
                    {
                        *slot = Some((outcome, action.name.clone()));
                    }
                }
                Outcome::None => {}
            }
        }
        if asserts_only {
            continue;
        }
        let allowed =
            ask(solver, &programs, &enc, &[], &format!("(= {eff} 2)"), std::slice::from_ref(&eff), |_, d| {
                effect_is(d, |e| e == 2)
            })?;
        let refused = ask(
            solver,
            &programs,
            &enc,
            &[],
            &format!("(and {} (< {eff} 2))", side.valid),
            std::slice::from_ref(&eff),
            |_, d| effect_is(d, |e| e < 2),
        )?;
        let verdict = match (&allowed, &refused) {
            (Outcome::None, _) => "never allows",
            (_, Outcome::None) => "always allows",
            (Outcome::Found(_), Outcome::Found(_)) => "allows some requests",
            _ => "unknown",
        };
        let (errors, errors_unknown) = error_search(solver, &programs, &enc, &side, &program)?;
        for (rule, st) in rule_statuses(solver, &programs, &enc, &side, &program)? {
            status.entry(rule).or_default().push((action.name.clone(), st));
        }
        let limited_by =
            side.limits.iter().filter_map(|(r, _)| program.rules.get(*r as usize)).map(|r| r.id.clone()).collect();
        actions.push(ActionAnalysis {
            action: action.name.clone(),
            verdict: verdict.to_string(),
            allowed,
            refused,
            errors,
            errors_unknown,
            limited_by,
            approximations: enc.approximations.clone(),
            chain_bounded: enc.chain_bounded,
            elapsed_ms: t0.elapsed().as_millis(),
        });
    }
    let rules = merge_findings(&program, status, syntactic);
    let asserts = asserts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let statement = statement(a, &program);
            let (result, outcome, action) =
                match (assert_results.get(i).cloned().flatten(), assert_unknown.get(i).cloned().flatten()) {
                    (Some((o, act)), _) => ("violated", o, Some(act)),
                    (None, Some((o, act))) => ("unknown", o, Some(act)),
                    (None, None) => ("holds", Outcome::None, None),
                };
            AssertResult {
                name: a.name.clone(),
                location: a.location.clone(),
                statement,
                result: result.into(),
                outcome,
                action,
            }
        })
        .collect();
    Ok(AnalyzeReport {
        solver: format!("{} ({})", solver.version, solver.path.display()),
        actions,
        rules,
        asserts,
        assumptions: crate::diff::assumptions(),
        elapsed_ms: started.elapsed().as_millis(),
    })
}

fn effect_is(d: &[Decision], want: impl Fn(i128) -> bool) -> Result<(), String> {
    match d.first() {
        Some(x) if want(effect_rank(x)) => Ok(()),
        Some(x) => Err(format!("the engine decided {}", x.effect.as_str())),
        None => Err("no decision".into()),
    }
}

/// An assert in words: `never allow delete_customer unless …`.
pub fn statement(a: &Assertion, program: &Program) -> String {
    let mut actions: Vec<&str> = a
        .actions
        .iter()
        .filter_map(|i| program.actions.get(*i as usize))
        .filter(|x| !x.is_group)
        .map(|x| x.name.as_str())
        .collect();
    actions.sort_unstable();
    actions.dedup();
    let on = match actions.len() {
        0 => "(no action)".to_string(),
        1..=4 => actions.join(", "),
        n => format!("any of {n} actions"),
    };
    let mut conds: Vec<String> = a.rule.conditions.iter().map(|c| c.text.clone()).collect();
    if conds.is_empty() {
        conds.push("for every request in its scope".into());
    }
    format!("{} {} {on} {}", if a.never { "never" } else { "always" }, a.outcome, conds.join(" "))
}

/// Finds the rules of the action that may fail to evaluate, one model at a
/// time, assuming every entity the request reaches is in the store.
fn error_search(
    solver: &Solver,
    programs: &Programs<'_>,
    enc: &Encoding,
    side: &SideTerms,
    program: &Program,
) -> Result<(Vec<ErrorFinding>, Option<String>), SolverError> {
    let mut candidates: Vec<(u32, String)> = Vec::new();
    for rt in &side.rules {
        let Some(rule) = program.rules.get(rt.rule as usize) else { continue };
        let per_link: Vec<String> = side
            .links
            .iter()
            .zip(&rt.links)
            .enumerate()
            .filter(|(i, _)| *i == 0 || matches!(rule.kind, RuleKind::Rule { .. } | RuleKind::Mask { .. }))
            .map(|(_, (l, f))| and([l.active.clone(), f.in_bucket.clone(), f.error.clone()]))
            .collect();
        let when = match rule.kind {
            RuleKind::Rule { .. } => side.evaluated.clone(),
            _ => format!("(> {} 0)", side.rules_effect),
        };
        candidates.push((rt.rule, and([when, or(per_link)])));
    }
    let mut found = Vec::new();
    let mut remaining = candidates;
    while !remaining.is_empty() {
        let question = and([enc.all_listed.clone(), or(remaining.iter().map(|(_, t)| t.clone()))]);
        let extra: Vec<String> = remaining.iter().map(|(_, t)| t.clone()).collect();
        let ids: Vec<(String, String)> = remaining
            .iter()
            .filter_map(|(r, t)| program.rules.get(*r as usize).map(|x| (x.id.clone(), t.clone())))
            .collect();
        let ids2 = ids.clone();
        let outcome = ask(solver, programs, enc, &[], &question, &extra, move |m: &Model, d| {
            let Some(dec) = d.first() else { return Err("no decision".into()) };
            let claimed: Vec<&String> =
                ids2.iter().filter(|(_, t)| m.bool(t) == Some(true)).map(|(id, _)| id).collect();
            if claimed.iter().any(|id| dec.errors.iter().any(|e| e.rule.as_deref() == Some(id.as_str()))) {
                Ok(())
            } else {
                Err(format!(
                    "the engine reported no error for {}",
                    claimed.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
                ))
            }
        })?;
        match outcome {
            Outcome::None => break,
            Outcome::Unknown { reason, .. } => return Ok((found, Some(reason))),
            Outcome::Found(example) => {
                let Some(dec) = example.decisions.first().cloned() else { break };
                let mut progressed = false;
                for e in &dec.errors {
                    let Some(id) = &e.rule else { continue };
                    let Some(pos) =
                        remaining.iter().position(|(r, _)| program.rules.get(*r as usize).is_some_and(|x| &x.id == id))
                    else {
                        continue;
                    };
                    remaining.remove(pos);
                    progressed = true;
                    let failing = program
                        .rules
                        .iter()
                        .find(|r| &r.id == id)
                        .zip(example.world.as_ref())
                        .and_then(|(rule, world)| failing_condition(&programs.arcs, rule, world));
                    let (condition, location) = failing.unzip();
                    found.push(ErrorFinding {
                        rule: id.clone(),
                        message: e.message.clone(),
                        condition,
                        location,
                        example: Outcome::Found(example.clone()),
                    });
                }
                if !progressed {
                    return Ok((found, Some("the search for evaluation errors did not progress".into())));
                }
            }
        }
    }
    Ok((found, None))
}

/// Which rules can apply, decide, or matter at all, for one action.
fn rule_statuses(
    solver: &Solver,
    programs: &Programs<'_>,
    enc: &Encoding,
    side: &SideTerms,
    program: &Program,
) -> Result<Vec<(u32, Status)>, SolverError> {
    let mut out = Vec::new();
    // Per rule: for each link, "it applies" (fired, and for a forbid also
    // an error), counting `@delegation("actor")` permits only for the caller.
    let applies = |rule: &ward_compiler::ir::Rule, li: usize, f: &crate::encode::LinkFlags| -> String {
        if rule.actor_only && li != 0 {
            return "false".into();
        }
        match rule.kind {
            RuleKind::Rule { effect: Effect::Forbid } => {
                and([f.in_bucket.clone(), or([f.fired.clone(), f.error.clone()])])
            }
            _ => and([f.in_bucket.clone(), f.fired.clone()]),
        }
    };
    let approval = |r: &ward_compiler::ir::Rule| r.obligations.iter().any(|o| o.name == "require_approval");
    let decisive: Vec<(u32, &ward_compiler::ir::Rule, &crate::encode::RuleTerms)> = side
        .rules
        .iter()
        .filter_map(|rt| program.rules.get(rt.rule as usize).map(|r| (rt.rule, r, rt)))
        .filter(|(_, r, _)| matches!(r.kind, RuleKind::Rule { .. }))
        .collect();
    let fires = |rule: &ward_compiler::ir::Rule, rt: &crate::encode::RuleTerms| -> String {
        let per: Vec<String> = side
            .links
            .iter()
            .zip(&rt.links)
            .enumerate()
            .map(|(li, (l, f))| and([l.active.clone(), applies(rule, li, f)]))
            .collect();
        and([side.evaluated.clone(), or(per)])
    };
    // 1. Rules that can apply at all.
    let live_terms: Vec<(u32, String)> = decisive.iter().map(|(i, r, rt)| (*i, fires(r, rt))).collect();
    let (live, dead, unknown) = partition(solver, programs, enc, &live_terms)?;
    out.extend(dead.iter().map(|r| (*r, Status::Dead)));
    out.extend(unknown.iter().map(|r| (*r, Status::Unknown)));
    // 2. Live permits that can decide: some link where no forbid without approval applies.
    let mut decide_terms = Vec::new();
    for (i, r, rt) in &decisive {
        if !live.contains(i) || !matches!(r.kind, RuleKind::Rule { effect: Effect::Permit }) {
            continue;
        }
        let per: Vec<String> = side
            .links
            .iter()
            .zip(&rt.links)
            .enumerate()
            .map(|(li, (l, f))| and([l.active.clone(), applies(r, li, f), not(&l.hard_forbid)]))
            .collect();
        decide_terms.push((*i, and([side.evaluated.clone(), or(per)])));
    }
    let (deciding, shadowed, unknown) = partition(solver, programs, enc, &decide_terms)?;
    out.extend(shadowed.iter().map(|r| (*r, Status::Shadowed)));
    out.extend(unknown.iter().map(|r| (*r, Status::Unknown)));
    // 3. Rules another rule of the same kind (forbid/permit, with or without
    // approval, caller-only or not) always covers.
    let mut unique_terms = Vec::new();
    for (i, r, rt) in &decisive {
        let candidate =
            live.contains(i) && (matches!(r.kind, RuleKind::Rule { effect: Effect::Forbid }) || deciding.contains(i));
        if !candidate {
            continue;
        }
        let per: Vec<String> = side
            .links
            .iter()
            .enumerate()
            .zip(&rt.links)
            .map(|((li, l), f)| {
                let others: Vec<String> = decisive
                    .iter()
                    .filter(|(j, o, _)| {
                        j != i && o.kind == r.kind && approval(o) == approval(r) && o.actor_only == r.actor_only
                    })
                    .filter_map(|(_, o, ort)| ort.links.get(li).map(|of| applies(o, li, of)))
                    .collect();
                and([l.active.clone(), applies(r, li, f), not(&or(others))])
            })
            .collect();
        unique_terms.push((*i, and([side.evaluated.clone(), or(per)])));
    }
    let (unique, redundant, unknown) = partition(solver, programs, enc, &unique_terms)?;
    out.extend(redundant.iter().map(|r| (*r, Status::Redundant)));
    out.extend(unknown.iter().map(|r| (*r, Status::Unknown)));
    out.extend(unique.iter().map(|r| (*r, Status::Live)));
    // Live forbids that are not candidates above, live permits that are not unique: counted live.
    for (i, _, _) in &decisive {
        if !out.iter().any(|(r, _)| r == i) {
            out.push((*i, Status::Live));
        }
    }
    Ok(out)
}

/// `(true for some request, proved false for all, undecided)`.
type Partition = (Vec<u32>, Vec<u32>, Vec<u32>);

/// Splits `terms` into those some well-formed request makes true, those none
/// does (proved), and those undecided: one model at a time, each model
/// clearing every term it makes true.
fn partition(
    solver: &Solver,
    programs: &Programs<'_>,
    enc: &Encoding,
    terms: &[(u32, String)],
) -> Result<Partition, SolverError> {
    let mut sat = Vec::new();
    let mut remaining: Vec<(u32, String)> = terms.to_vec();
    while !remaining.is_empty() {
        let question = or(remaining.iter().map(|(_, t)| t.clone()));
        let extra: Vec<String> = remaining.iter().map(|(_, t)| t.clone()).collect();
        let script_terms = extra.clone();
        let answer = crate::query::satisfiable(solver, enc, &question, &script_terms)?;
        match answer {
            crate::query::Sat::No => {
                let proved = remaining.iter().map(|(r, _)| *r).collect();
                return Ok((sat, proved, Vec::new()));
            }
            crate::query::Sat::Unknown => {
                let left = remaining.iter().map(|(r, _)| *r).collect();
                return Ok((sat, Vec::new(), left));
            }
            crate::query::Sat::Yes(model) => {
                let before = remaining.len();
                remaining.retain(|(r, t)| {
                    if model.bool(t) == Some(true) {
                        sat.push(*r);
                        false
                    } else {
                        true
                    }
                });
                if remaining.len() == before {
                    let left = remaining.iter().map(|(r, _)| *r).collect();
                    return Ok((sat, Vec::new(), left));
                }
            }
        }
    }
    let _ = programs;
    Ok((sat, Vec::new(), Vec::new()))
}

fn check_assert(
    solver: &Solver,
    programs: &Programs<'_>,
    enc: &Encoding,
    side: &SideTerms,
    a: &Assertion,
    selected: &str,
    program: &Program,
) -> Result<Outcome, SolverError> {
    let want = match a.outcome.as_str() {
        "allow" => 2,
        "approval_required" => 1,
        _ => 0,
    };
    let eff = &side.effect;
    let violation = if a.never { format!("(= {eff} {want})") } else { format!("(not (= {eff} {want}))") };
    let question = and([side.valid.clone(), selected.to_string(), violation]);
    let never = a.never;
    let rule = a.rule.clone();
    let scope = (a.principals.clone(), a.resources.clone());
    let arc = programs.arcs.first().cloned();
    let exact = enc.approximations.iter().all(|x| x.flow);
    let _ = program;
    ask(solver, programs, enc, &[], &question, &[eff.clone(), selected.to_string()], move |_, d| {
        let Some(dec) = d.first() else { return Err("no decision".into()) };
        let got = effect_rank(dec);
        let violates = if never { got == want } else { got != want };
        if !violates {
            return Err(format!("the engine decided {}", dec.effect.as_str()));
        }
        Ok(())
    })
    .map(|o| match (o, arc) {
        (Outcome::Found(e), Some(p)) => match e.world.as_ref().map(|w| selects(&p, &rule, &scope, w)) {
            Some(Ok(true)) | None => Outcome::Found(e),
            Some(Ok(false)) => Outcome::Unknown {
                reason: "the assert does not select the counterexample's request when the engine evaluates it".into(),
                bug: exact,
            },
            Some(Err(why)) => {
                Outcome::Unknown { reason: format!("the assert's conditions could not be replayed: {why}"), bug: exact }
            }
        },
        (o, _) => o,
    })
}

/// Whether an assert selects the world's request, evaluated by the
/// runtime's interpreter: its scope's types match, and its conditions hold
/// or cannot be evaluated.
fn selects(
    program: &Arc<Program>,
    rule: &ward_compiler::ir::Rule,
    scope: &(Vec<u32>, Vec<u32>),
    world: &World,
) -> Result<bool, String> {
    use ward_runtime::interp::{Eval, NoHistory, Outcome as O, Prepared};
    let entities = world.entities.first().ok_or("no entities")?;
    let request = world.requests.first().ok_or("no request")?;
    let request = ward_runtime::Request::from_json(request).map_err(|e| e.to_string())?;
    let store = ward_runtime::Store::load(Arc::clone(program), entities).map_err(|e| e.to_string())?;
    let frame = ward_runtime::request::Frame::build(&store, &request, world.now).map_err(|e| e.to_string())?;
    let (Some(p), Some(r)) = (frame.entity(&store, frame.principal), frame.entity(&store, frame.resource)) else {
        return Ok(false);
    };
    if !scope.0.contains(&p.ty) || !scope.1.contains(&r.ty) {
        return Ok(false);
    }
    let prepared = Prepared::new(Arc::clone(program));
    let eval = Eval::new(&prepared, &store, &frame, &NoHistory);
    Ok(!matches!(eval.rule(rule), O::NotApplicable { .. }))
}

/// The condition of `rule` that fails to evaluate for the caller of the
/// world's request, by the runtime's interpreter: `(text, location)`.
fn failing_condition(arcs: &[Arc<Program>], rule: &ward_compiler::ir::Rule, world: &World) -> Option<(String, String)> {
    use ward_runtime::interp::{Eval, NoHistory, Outcome as O, Prepared};
    let program = arcs.first()?;
    let request = ward_runtime::Request::from_json(world.requests.first()?).ok()?;
    let store = ward_runtime::Store::load(Arc::clone(program), world.entities.first()?).ok()?;
    let frame = ward_runtime::request::Frame::build(&store, &request, world.now).ok()?;
    let prepared = Prepared::new(Arc::clone(program));
    let eval = Eval::new(&prepared, &store, &frame, &NoHistory);
    match eval.rule(rule) {
        O::Error { condition, .. } => rule.conditions.get(condition).map(|c| (c.text.clone(), c.location.clone())),
        _ => None,
    }
}

fn merge_findings(
    program: &Program,
    status: BTreeMap<u32, Vec<(String, Status)>>,
    syntactic: &[(String, String)],
) -> Vec<RuleFinding> {
    let mut out = Vec::new();
    for (r, list) in status {
        let Some(rule) = program.rules.get(r as usize) else { continue };
        let worst = list.iter().map(|(_, s)| *s).max().unwrap_or(Status::Live);
        let finding = match worst {
            Status::Dead => "never applies",
            Status::Shadowed => "shadowed",
            Status::Redundant => "redundant",
            _ => continue,
        };
        let code = match worst {
            Status::Dead => "W0101",
            Status::Shadowed => "W0103",
            _ => "",
        };
        let syntactic = syntactic.iter().find(|(c, id)| c == code && *id == rule.id).map(|(c, _)| c.clone());
        out.push(RuleFinding {
            rule: rule.id.clone(),
            finding: finding.into(),
            actions: list.iter().map(|(a, _)| a.clone()).collect(),
            syntactic,
        });
    }
    out
}
