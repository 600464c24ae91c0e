//! Asking one question of an encoding, and never reporting an answer the
//! engine does not confirm.
//!
//! A question is a condition on the symbolic request ("the new policy
//! allows and the old one does not"). `unsat` proves that no request and
//! no entity store satisfies it. `sat` yields a model, which is realized
//! into a concrete request and store and replayed through the engine for
//! every program; the caller's check must hold on the real decisions.
//! When it does not, the answer is *unconfirmed* if the encoding
//! approximated something, and an encoding *bug* otherwise — in neither
//! case is it reported as fact.
//!
//! Session history is handled in two steps: first with every flow
//! aggregate pinned to an empty history (exactly what a fresh engine
//! replays), then, if that is `unsat`, with history left free (an
//! over-approximation: a `sat` there is only a possibility).

use std::sync::Arc;

use serde::Serialize;
use ward_compiler::ir::Program;
use ward_runtime::Decision;

use crate::encode::{Approx, Encoding, Side};
use crate::realize::{Model, World, realize, time_text, wanted};
use crate::solver::{Answer, Solver, SolverError};
use crate::vocab::Vocab;

/// The programs of a query, compiled and ready to replay.
pub struct Programs<'a> {
    pub vocab: Vocab,
    pub sides: Vec<Side<'a>>,
    pub arcs: Vec<Arc<Program>>,
}

impl<'a> Programs<'a> {
    /// `labels[i]` names `programs[i]` in reports.
    pub fn new(programs: &'a [Arc<Program>], labels: &[&str]) -> Programs<'a> {
        let refs: Vec<&Program> = programs.iter().map(|p| &**p).collect();
        let vocab = Vocab::new(&refs);
        let sides = programs
            .iter()
            .zip(labels)
            .map(|(p, l)| Side { label: (*l).to_string(), program: p, view: vocab.view(p), without: Vec::new() })
            .collect();
        Programs { vocab, sides, arcs: programs.to_vec() }
    }
}

/// What a question came to.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// No request satisfies it: proved.
    None,
    /// A request that satisfies it, replayed through the engine.
    Found(Box<Example>),
    /// Undecided: the solver gave up, or its candidate did not replay
    /// (the encoding approximates something here), or an encoding bug.
    Unknown { reason: String, bug: bool },
}

impl Outcome {
    pub fn is_none(&self) -> bool {
        matches!(self, Outcome::None)
    }

    pub fn found(&self) -> Option<&Example> {
        match self {
            Outcome::Found(e) => Some(e),
            _ => None,
        }
    }
}

/// A concrete request and entity store, with what each program decided.
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    /// The decision time (RFC 3339).
    pub at: String,
    /// Per program (in the order of the query's programs).
    pub requests: Vec<serde_json::Value>,
    pub entities: Vec<serde_json::Value>,
    #[serde(skip)]
    pub decisions: Vec<Decision>,
    /// Per program: the decision as JSON.
    pub decided: Vec<serde_json::Value>,
    /// Found with session history pinned empty (always, for a reported example).
    #[serde(skip)]
    pub world: Option<World>,
}

/// Asks `question` (a Bool term over the encoding). `check` receives the
/// model and the replayed decisions, and says why they do not bear the
/// claim out (`Err`), if they do not.
pub fn ask<F>(
    solver: &Solver,
    programs: &Programs<'_>,
    enc: &Encoding,
    assumptions: &[String],
    question: &str,
    extra: &[String],
    check: F,
) -> Result<Outcome, SolverError>
where
    F: Fn(&Model, &[Decision]) -> Result<(), String>,
{
    let terms = wanted(enc, extra);
    let exact = enc.approximations.iter().all(|a| a.flow);
    let mut script = String::with_capacity(enc.text.len() + 256);
    script.push_str(&enc.text);
    for a in assumptions {
        script.push_str(&format!("(assert {a})\n"));
    }
    script.push_str(&format!("(assert {question})\n"));
    let has_flows = !enc.flow_pins.is_empty();
    // Step 1: session history empty (exact for flows).
    let mut pinned = script.clone();
    for p in &enc.flow_pins {
        pinned.push_str(&format!("(assert {p})\n"));
    }
    match solver.check(&pinned, &terms)? {
        Answer::Sat(values) => {
            let model = smaller(solver, enc, &pinned, &terms, Model::new(&terms, values))?;
            return Ok(confirm(programs, enc, &model, exact, &check));
        }
        Answer::Unknown(reason) => return Ok(Outcome::Unknown { reason, bug: false }),
        Answer::Unsat if !has_flows => return Ok(Outcome::None),
        Answer::Unsat => {}
    }
    // Step 2: any session history.
    match solver.check(&script, &terms)? {
        Answer::Unsat => Ok(Outcome::None),
        Answer::Unknown(reason) => Ok(Outcome::Unknown { reason, bug: false }),
        Answer::Sat(_) => {
            let flows: Vec<&Approx> = enc.approximations.iter().filter(|a| a.flow).collect();
            let mut rules: Vec<String> = flows.iter().filter_map(|a| a.rule.clone()).collect();
            rules.sort();
            rules.dedup();
            Ok(Outcome::Unknown {
                reason: format!(
                    "possible only after earlier actions in the session (flow conditions in {}): not replayable from an empty history",
                    if rules.is_empty() { "the policy".to_string() } else { rules.join(", ") }
                ),
                bug: false,
            })
        }
    }
}

/// Sets larger than this in a model are shrunk if they can be: a
/// counterexample should be readable (and cheap to replay).
const SMALL_SET: i128 = 16;

/// The same question with every set at most [`SMALL_SET`] elements, when the
/// model has a larger one and a smaller model exists.
fn smaller(
    solver: &Solver,
    enc: &Encoding,
    script: &str,
    terms: &[String],
    model: Model,
) -> Result<Model, SolverError> {
    let large = enc.sets.iter().any(|s| model.int(&s.size).is_some_and(|n| n > SMALL_SET));
    if !large {
        return Ok(model);
    }
    let mut bounded = script.to_string();
    for s in &enc.sets {
        bounded.push_str(&format!("(assert (<= {} {SMALL_SET}))\n", s.size));
    }
    Ok(match solver.check(&bounded, terms)? {
        Answer::Sat(values) => Model::new(terms, values),
        _ => model,
    })
}

fn confirm<F>(programs: &Programs<'_>, enc: &Encoding, model: &Model, exact: bool, check: &F) -> Outcome
where
    F: Fn(&Model, &[Decision]) -> Result<(), String>,
{
    let unconfirmed = |why: String| {
        if exact {
            Outcome::Unknown {
                reason: format!("encoding bug (please report): the solver's counterexample did not replay: {why}"),
                bug: true,
            }
        } else {
            let what: Vec<String> = enc
                .approximations
                .iter()
                .filter(|a| !a.flow)
                .map(|a| match &a.rule {
                    Some(r) => format!("{} in `{r}`", a.what),
                    None => a.what.clone(),
                })
                .collect();
            Outcome::Unknown {
                reason: format!(
                    "the solver's candidate did not replay ({why}); the encoding approximates {}",
                    what.join("; ")
                ),
                bug: false,
            }
        }
    };
    let world = match realize(&programs.vocab, &programs.sides, enc, model) {
        Ok(w) => w,
        Err(e) => return unconfirmed(format!("it could not be made concrete: {e}")),
    };
    let mut decisions = Vec::new();
    for (i, p) in programs.arcs.iter().enumerate() {
        match crate::replay::decide(p, &world, i) {
            Ok(d) => decisions.push(d),
            Err(e) => return unconfirmed(e),
        }
    }
    if let Err(why) = check(model, &decisions) {
        let detail = if exact {
            format!(
                "{why}; request {}, entities {}, at {}",
                serde_json::Value::Array(world.requests.clone()),
                serde_json::Value::Array(world.entities.clone()),
                time_text(world.now)
            )
        } else {
            why
        };
        return unconfirmed(detail);
    }
    let decided = decisions.iter().map(Decision::to_json).collect();
    Outcome::Found(Box::new(Example {
        at: time_text(world.now),
        requests: world.requests.clone(),
        entities: world.entities.clone(),
        decisions,
        decided,
        world: Some(world),
    }))
}

/// A bare satisfiability check (no replay): for proofs, whose `sat` side
/// is never reported as fact. Session history is left free (an
/// over-approximation), so `No` holds for every history.
pub enum Sat {
    Yes(Model),
    No,
    Unknown,
}

pub fn satisfiable(solver: &Solver, enc: &Encoding, question: &str, terms: &[String]) -> Result<Sat, SolverError> {
    let mut script = String::with_capacity(enc.text.len() + question.len() + 16);
    script.push_str(&enc.text);
    script.push_str(&format!("(assert {question})\n"));
    Ok(match solver.check(&script, terms)? {
        Answer::Sat(values) => Sat::Yes(Model::new(terms, values)),
        Answer::Unsat => Sat::No,
        Answer::Unknown(_) => Sat::Unknown,
    })
}
