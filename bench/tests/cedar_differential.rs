//! Differential testing against Cedar itself: random well-typed Cedar
//! applications (`ward_bench::cedar_gen`), their policies imported by
//! `ward import cedar`'s library, every request decided by cedar-policy and
//! by Ward's interpreter and JIT. They must agree, except where Ward's one
//! documented difference applies — a `forbid` whose condition fails with an
//! error applies in Ward (fail closed) and is skipped by Cedar — which is
//! tagged, counted and required to deny in Ward.
//!
//! `WARD_CEDAR_DIFF_APPS` sets how many applications (default 400, each
//! with 250 requests: 100,000 cases); the seed of a failure is printed, and
//! `WARD_CEDAR_DIFF_SEED` replays that one application.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::str::FromStr;

use ward_bench::cedar_gen::App;
use ward_bench::contenders::compile;
use ward_runtime::engine::Backend;
use ward_runtime::{Effect, Request};

const REQUESTS: usize = 250;

#[derive(Default, Debug)]
struct Tally {
    apps: usize,
    cases: usize,
    allows: usize,
    erroring_forbids: usize,
    dropped_policies: usize,
    kept_policies: usize,
    /// Kept policies that read entity tags (`getTag` under a `hasTag` guard).
    tag_policies: usize,
}

/// The policies Cedar's strict validator accepts, and how many it refused.
fn valid_policies(schema: &cedar_policy::Schema, app: &App) -> (Vec<String>, usize) {
    let mut kept = Vec::new();
    for p in &app.policies {
        let Ok(set) = cedar_policy::PolicySet::from_str(p) else { continue };
        let result = cedar_policy::Validator::new(schema.clone()).validate(&set, cedar_policy::ValidationMode::Strict);
        if result.validation_passed() {
            kept.push(p.clone());
        }
    }
    let dropped = app.policies.len() - kept.len();
    (kept, dropped)
}

fn run_app(seed: u64, tally: &mut Tally) {
    let app = App::generate(seed, 8, REQUESTS);
    let what = |extra: &str| format!("seed {seed}: {extra}\nschema:\n{}", app.schema);
    let (schema, _) =
        cedar_policy::Schema::from_cedarschema_str(&app.schema).unwrap_or_else(|e| panic!("{}", what(&e.to_string())));
    let (policies, dropped) = valid_policies(&schema, &app);
    tally.dropped_policies += dropped;
    tally.kept_policies += policies.len();
    tally.tag_policies += policies.iter().filter(|p| p.contains(".getTag(")).count();
    let policy_text = policies.join("\n");
    let cedar_set = cedar_policy::PolicySet::from_str(&policy_text).unwrap();
    let forbids: BTreeSet<String> = cedar_set
        .policies()
        .filter(|p| p.effect() == cedar_policy::Effect::Forbid)
        .map(|p| p.id().to_string())
        .collect();
    let cedar_entities = cedar_policy::Entities::from_json_value(app.entities.clone(), Some(&schema))
        .unwrap_or_else(|e| panic!("{}", what(&format!("cedar entities: {e}"))));

    let imported = ward_import::import_cedar(&ward_import::CedarSources {
        schema: ward_import::SchemaSource::Human(&app.schema),
        policies: &policy_text,
        policy_name: "generated",
    })
    .unwrap_or_else(|e| panic!("{}", what(&format!("import: {e:?}\npolicies:\n{policy_text}"))));
    let files = [("schema.ward", imported.schema.as_str()), ("policy.ward", imported.policy.as_str())];
    let jit = compile(&files, &app.entities, Backend::Jit)
        .unwrap_or_else(|e| panic!("{}", what(&format!("{e}\n{}\n{}", imported.schema, imported.policy))));
    let interp = compile(&files, &app.entities, Backend::Interpreter).unwrap();

    let authorizer = cedar_policy::Authorizer::new();
    for request in &app.requests {
        let action = cedar_policy::EntityUid::from_json(request["action"].clone()).unwrap();
        let context =
            cedar_policy::Context::from_json_value(request["context"].clone(), Some((&schema, &action))).unwrap();
        let cedar_request = cedar_policy::Request::new(
            cedar_policy::EntityUid::from_json(request["principal"].clone()).unwrap(),
            action,
            cedar_policy::EntityUid::from_json(request["resource"].clone()).unwrap(),
            context,
            Some(&schema),
        )
        .unwrap_or_else(|e| panic!("{}", what(&format!("cedar request {request}: {e}"))));
        let response = authorizer.is_authorized(&cedar_request, &cedar_set, &cedar_entities);
        let erroring_forbid = response.diagnostics().errors().any(|e| match e {
            cedar_policy::AuthorizationError::PolicyEvaluationError(e) => forbids.contains(&e.policy_id().to_string()),
        });
        let cedar_allows = response.decision() == cedar_policy::Decision::Allow;
        // The documented difference: Cedar skips an erroring forbid; Ward applies it.
        let expected = cedar_allows && !erroring_forbid;
        if erroring_forbid {
            tally.erroring_forbids += 1;
        }
        let ward_request = Request::from_json_str(&request.to_string()).unwrap();
        for (engine, backend) in [(&jit, "jit"), (&interp, "interpreter")] {
            let decision = engine.decide(&ward_request);
            assert_eq!(
                decision.effect == Effect::Allow,
                expected,
                "{}",
                what(&format!(
                    "{backend}: request {request}\ncedar: {:?} (erroring forbid: {erroring_forbid}, errors: {:?})\nward: {:?} {:?}\npolicies:\n{policy_text}\nward policy:\n{}",
                    response.decision(),
                    response.diagnostics().errors().map(ToString::to_string).collect::<Vec<_>>(),
                    decision.effect,
                    decision.errors,
                    imported.policy
                ))
            );
        }
        tally.cases += 1;
        tally.allows += usize::from(expected);
    }
    tally.apps += 1;
}

#[test]
fn imported_random_cedar_applications_decide_as_cedar_does() {
    let apps: u64 = std::env::var("WARD_CEDAR_DIFF_APPS").ok().and_then(|v| v.parse().ok()).unwrap_or(400);
    let mut tally = Tally::default();
    // `WARD_CEDAR_DIFF_SEED=N` replays one application.
    if let Some(seed) = std::env::var("WARD_CEDAR_DIFF_SEED").ok().and_then(|v| v.parse().ok()) {
        run_app(seed, &mut tally);
        eprintln!("cedar differential, seed {seed}: {tally:?}");
        return;
    }
    for seed in 0..apps {
        run_app(seed, &mut tally);
    }
    eprintln!("cedar differential: {tally:?}");
    assert!(tally.cases >= apps as usize * REQUESTS, "{tally:?}");
    // Meaningful only if both outcomes, the documented difference and
    // most generated policies occur.
    assert!(tally.allows > tally.cases / 20 && tally.allows < tally.cases * 19 / 20, "{tally:?}");
    assert!(tally.erroring_forbids > 0, "{tally:?}");
    assert!(tally.kept_policies > tally.dropped_policies * 3, "{tally:?}");
    assert!(tally.tag_policies * 50 > tally.kept_policies, "too few policies read tags: {tally:?}");
}
