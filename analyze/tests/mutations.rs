//! Evidence (issue 21, item 5): seeded mutations of the examples and of the
//! peer workloads (the Cedar paper's applications, in Ward). For each:
//! - `ward diff` runs without an encoding bug (every counterexample it
//!   reports replayed through the engine);
//! - wherever a random falsifier (requests and entity stores drawn from
//!   the schema, decided by the engine) finds a widening, `ward diff` did
//!   not prove there was none;
//! - a refactor that changes no decision yields no difference, and the
//!   falsifier agrees.
//!
//! The CI-sized test takes a few mutants per base (seeded); the whole
//! corpus runs with `cargo test -p ward-analyze --release --test mutations -- --ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::path::Path;
use std::sync::Arc;

use ward_analyze::falsify;
use ward_analyze::mutate::{Kind, Mutant, mutants};
use ward_analyze::query::Outcome;
use ward_analyze::solver::Solver;

struct Base {
    name: String,
    files: Vec<(String, String)>,
    policy: String,
}

fn base(dir: &Path) -> Base {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        // Not the example's tests: they name its rules, so a mutant that
        // drops a rule would not compile with them; the policy is compared.
        if path.extension().is_some_and(|e| e == "ward") && path.file_name().is_some_and(|n| n != "tests.ward") {
            files.push((
                path.file_name().unwrap().to_string_lossy().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
    files.sort();
    Base { name: dir.display().to_string(), files, policy: "policy.ward".into() }
}

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn with(base: &Base, text: &str) -> Vec<(String, String)> {
    base.files.iter().map(|(n, t)| (n.clone(), if *n == base.policy { text.to_string() } else { t.clone() })).collect()
}

#[derive(Default, Debug)]
struct Tally {
    widening: usize,
    found: usize,
    unknown: usize,
    proved_none: usize,
    refactors: usize,
    skipped: usize,
}

/// Diffs one mutant against its base and checks it against the falsifier.
fn run(
    solver: &Solver,
    base: &Base,
    m: &Mutant,
    samples: usize,
    budget: std::time::Duration,
    seed: u64,
    tally: &mut Tally,
) {
    let Ok(old) = ward_analyze::compile_program(&base.files) else { panic!("{} does not compile", base.name) };
    let Ok(new) = ward_analyze::compile_program(&with(base, &m.text)) else {
        tally.skipped += 1; // e.g. a dropped `has` guard: the checker refuses it
        return;
    };
    let what = format!("{}: {:?} {}", base.name, m.kind, m.description);
    let t0 = std::time::Instant::now();
    let report = ward_analyze::diff::diff(solver, Arc::clone(&old), Arc::clone(&new)).unwrap();
    let t_diff = t0.elapsed();
    assert!(report.bugs().is_empty(), "{what}: {:?}", report.bugs());
    for a in &report.actions {
        let programs = [&*old, &*new];
        let mut widened = false;
        let mut approval = false;
        let mut changed = false;
        // Bounded in time as well as in count: a program with many detectors
        // costs far more to load (once per sample, for a fresh engine).
        let started = std::time::Instant::now();
        for (k, s) in falsify::samples(&programs, &a.action, seed, samples).iter().enumerate() {
            if k >= 10 && started.elapsed() > budget {
                break;
            }
            let (Some(o), Some(n)) = (falsify::decide(&old, s), falsify::decide(&new, s)) else { continue };
            widened |= n == 2 && o < 2;
            approval |= n == 1 && o == 0;
            changed |= n != o;
        }
        if widened {
            assert!(
                !a.widened.is_none(),
                "{what}: random testing finds a widening of `{}` that diff proved absent",
                a.action
            );
        }
        if approval {
            assert!(
                !a.approval_widened.is_none(),
                "{what}: random testing finds an approval widening of `{}`",
                a.action
            );
        }
        if !m.kind.widening() {
            assert!(!changed, "{what}: the refactor changes a decision of `{}` (random testing)", a.action);
            for o in [&a.widened, &a.approval_widened, &a.narrowed] {
                assert!(o.found().is_none(), "{what}: diff finds a difference for a refactor: {o:?}");
            }
        }
    }
    eprintln!("{what}: diff {} ms, falsifier {} ms", t_diff.as_millis(), (t0.elapsed() - t_diff).as_millis());
    if m.kind.widening() {
        tally.widening += 1;
        let outcomes: Vec<&Outcome> = report
            .actions
            .iter()
            .flat_map(|a| {
                let mut v = vec![&a.widened, &a.approval_widened];
                v.extend(a.masks.iter().map(|x| &x.weakened));
                v
            })
            .collect();
        if outcomes.iter().any(|o| o.found().is_some()) {
            tally.found += 1;
        } else if outcomes.iter().any(|o| !o.is_none()) {
            tally.unknown += 1;
        } else {
            tally.proved_none += 1;
            eprintln!("no widening (proved): {what}");
        }
    } else {
        tally.refactors += 1;
        assert!(!report.widens() || report.actions.iter().all(|a| a.widened.found().is_none()), "{what}");
    }
}

/// A deterministic pick of `count` mutants of `kinds`.
fn pick(all: Vec<Mutant>, widening: bool, count: usize, seed: u64) -> Vec<Mutant> {
    let mut chosen: Vec<Mutant> = all.into_iter().filter(|m| m.kind.widening() == widening).collect();
    let mut x = seed | 1;
    let mut out = Vec::new();
    while !chosen.is_empty() && out.len() < count {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(chosen.remove((x % chosen.len() as u64) as usize));
    }
    out
}

fn corpus(dirs: &[&str], per_base: usize, samples: usize, budget: std::time::Duration) -> Tally {
    let Some(solver) = common::solver() else { return Tally::default() };
    let mut tally = Tally::default();
    for (i, d) in dirs.iter().enumerate() {
        let b = base(&root().join(d));
        let text = b.files.iter().find(|(n, _)| *n == b.policy).map(|(_, t)| t.clone()).unwrap();
        let seed = 0x5eed + i as u64;
        for widening in [true, false] {
            for m in pick(mutants(&text), widening, per_base, seed) {
                run(&solver, &b, &m, samples, budget, seed, &mut tally);
            }
        }
    }
    eprintln!("{tally:?}");
    tally
}

const EXAMPLES: [&str; 5] = [
    "examples/customer-support",
    "examples/healthcare",
    "examples/payments",
    "examples/procurement",
    "examples/mcp-gateway",
];
const WORKLOADS: [&str; 3] = ["benches/workloads/gdrive", "benches/workloads/github", "benches/workloads/tinytodo"];

#[test]
fn mutations_of_the_examples() {
    let t = corpus(&EXAMPLES, 1, 120, std::time::Duration::from_millis(600));
    if common::solver().is_some() {
        assert!(t.widening + t.refactors >= 8, "{t:?}");
        assert!(t.found >= 3, "widenings found: {t:?}");
    }
}

#[test]
fn mutations_of_the_peer_workloads() {
    let t = corpus(&WORKLOADS, 1, 120, std::time::Duration::from_millis(600));
    if common::solver().is_some() {
        assert!(t.found >= 2, "widenings found: {t:?}");
    }
}

#[test]
fn mutants_are_what_they_say() {
    let text = "policy p {\n  @id(\"a\") permit action: read when context.n < 3 && context.ok\n  @id(\"b\") forbid action: read unless context.mfa\n  mask resource.x with redact\n}\n";
    let all = mutants(text);
    let find = |k: Kind| all.iter().filter(|m| m.kind == k).map(|m| m.text.clone()).collect::<Vec<_>>();
    assert!(find(Kind::DropForbid).iter().all(|t| !t.contains("forbid")));
    assert!(find(Kind::LoosenOperator).iter().any(|t| t.contains("context.n <= 3")));
    assert!(find(Kind::LoosenOperator).iter().any(|t| t.contains("context.n < 3 || context.ok")));
    assert!(find(Kind::SplitConjunction).iter().any(|t| t.contains("when context.n < 3\n    when context.ok")));
    assert!(find(Kind::UnlessToWhen).iter().any(|t| t.contains("when !(context.mfa)")));
    assert!(find(Kind::FlipComparison).iter().any(|t| t.contains("3 > context.n")));
    assert!(find(Kind::WeakenMask).iter().any(|t| t.contains("with partial(last: 2)")));
    assert!(find(Kind::SwapRules).iter().any(|t| t.find("@id(\"b\")") < t.find("@id(\"a\")")));
}

/// The whole corpus: every mutant of every base, more samples.
#[test]
#[ignore = "minutes: run with --release --ignored"]
fn the_whole_corpus() {
    let mut all = EXAMPLES.to_vec();
    all.extend(WORKLOADS);
    let t = corpus(&all, usize::MAX, 400, std::time::Duration::from_secs(30));
    assert!(t.found > 0, "{t:?}");
}
