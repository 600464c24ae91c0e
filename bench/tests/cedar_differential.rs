//! Differential testing against Cedar itself (`ward_bench::cedar_diff`):
//! random well-typed Cedar applications imported into Ward and decided by
//! both, which must agree but for the documented difference (an erroring
//! `forbid` applies in Ward), tagged and counted.
//!
//! `WARD_CEDAR_DIFF_APPS` sets how many applications (default 400, each
//! with 250 requests: 100,000 cases); a failure prints its seed, and
//! `WARD_CEDAR_DIFF_SEED` replays that one application.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ward_bench::cedar_diff::{REQUESTS, Tally, run_app};

#[test]
fn imported_random_cedar_applications_decide_as_cedar_does() {
    let mut tally = Tally::default();
    if let Some(seed) = std::env::var("WARD_CEDAR_DIFF_SEED").ok().and_then(|v| v.parse().ok()) {
        run_app(seed, &mut tally).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("cedar differential, seed {seed}: {tally:?}");
        return;
    }
    let apps: u64 = std::env::var("WARD_CEDAR_DIFF_APPS").ok().and_then(|v| v.parse().ok()).unwrap_or(400);
    for seed in 0..apps {
        run_app(seed, &mut tally).unwrap_or_else(|e| panic!("{e}"));
    }
    eprintln!("cedar differential: {tally:?}");
    assert!(tally.cases >= apps as usize * REQUESTS, "{tally:?}");
    // Meaningful only if both outcomes, the documented difference and most
    // generated policies occur.
    assert!(tally.allows > tally.cases / 20 && tally.allows < tally.cases * 19 / 20, "{tally:?}");
    assert!(tally.erroring_forbids > 0, "{tally:?}");
    assert!(tally.namespaced > tally.cases / 2, "namespaced applications are decided: {tally:?}");
    assert!(tally.extension_policies * 20 > tally.kept_policies, "too few policies test extension values: {tally:?}");
    assert!(tally.links > apps as usize / 2, "templates are linked and decided: {tally:?}");
    assert!(tally.tag_policies * 50 > tally.kept_policies, "too few policies read tags: {tally:?}");
    assert!(tally.kept_policies > tally.dropped_policies * 3, "{tally:?}");
}

/// The importer on mutated Cedar (characters deleted, duplicated, swapped
/// in generated policies and schemas): every input is imported or refused
/// with errors that name a place — never a panic (which the importer's
/// thread would turn into "internal error") and never an empty refusal.
#[test]
fn mutated_cedar_is_imported_or_refused_never_a_crash() {
    let mut rng = ward_testkit::SplitMix64::new(17);
    let (mut imported, mut refused) = (0, 0);
    for seed in 0..60 {
        let app = ward_bench::cedar_gen::App::generate(seed, 6, 1);
        let policies = app.policies.join("\n") + "\n" + &app.templates.join("\n");
        for _ in 0..25 {
            let (mut schema, mut text) = (app.schema.clone().into_bytes(), policies.clone().into_bytes());
            let target = if rng.percent(70) { &mut text } else { &mut schema };
            for _ in 0..1 + rng.below(3) {
                if target.is_empty() {
                    break;
                }
                let at = rng.below(target.len());
                match rng.below(3) {
                    0 => {
                        target.remove(at);
                    }
                    1 => {
                        let byte = target[at];
                        target.insert(at, byte);
                    }
                    _ => {
                        let other = rng.below(target.len());
                        target.swap(at, other);
                    }
                }
            }
            let (Ok(schema), Ok(text)) = (String::from_utf8(schema), String::from_utf8(text)) else { continue };
            match ward_import::import_cedar(&ward_import::CedarSources {
                schema: ward_import::SchemaSource::Human(&schema),
                policies: &text,
                policy_name: "mutant",
            }) {
                Ok(_) => imported += 1,
                Err(errors) => {
                    assert!(!errors.is_empty(), "an empty refusal for\n{schema}\n{text}");
                    for e in &errors {
                        assert!(
                            !e.message.contains("internal error") && !e.message.contains("please report"),
                            "{e}\n--- schema ---\n{schema}\n--- policies ---\n{text}"
                        );
                        assert!(!e.place.is_empty(), "{e}");
                    }
                    refused += 1;
                }
            }
        }
    }
    assert!(imported > 100 && refused > 100, "imported {imported}, refused {refused}");
}
