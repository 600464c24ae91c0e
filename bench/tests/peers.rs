//! Agreement first: on every generated request of the Cedar paper's three
//! applications, Ward's decision (interpreter, JIT on a prepared frame, from
//! a typed request and from JSON) equals cedar-policy's `is_authorized` (on
//! a prebuilt request and from the same JSON text) and regorus's `allow`;
//! the cold-cache variants decide every visit of their cold sets alike; on the generated scaling sets, Ward equals Cedar. The
//! peers' policies are read from `../shared/peer-workloads/`
//! (`$WARD_PEER_WORKLOADS`). Small N, so it runs in CI quickly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use ward_bench::cold::ColdContenders;
use ward_bench::scale::{Folders, ScaleSet};
use ward_bench::{App, CedarPeer, Contenders, GenRequest, WardSide, Workload};
use ward_runtime::Decision;
use ward_runtime::engine::Backend;

fn ward_allows(d: Option<Decision>, what: &str) -> bool {
    let d = d.unwrap_or_else(|| panic!("{what}: no decision"));
    assert!(d.errors.is_empty(), "{what}: Ward reported errors: {:?}", d.errors);
    d.is_allowed()
}

fn agree(app: App, n: usize, seed: u64, requests: usize) -> (usize, usize) {
    let w = Workload::generate(app, n, seed, requests);
    let mut c = Contenders::new(&w).unwrap_or_else(|e| panic!("{e}"));
    let mut allows = 0;
    for (i, r) in w.requests.iter().enumerate() {
        let what = format!("{} N={n} seed={seed} request {i} {r:?}", app.name());
        let cedar = c.cedar.check(i).unwrap_or_else(|e| panic!("{what}: cedar errors: {e}"));
        let rego = c.rego.check(i).unwrap_or_else(|e| panic!("{what}: regorus: {e}"));
        let interp = ward_allows(c.interp.decide_prepared(i), &what);
        let prepared = ward_allows(c.jit.decide_prepared(i), &what);
        let typed = ward_allows(c.jit.decide_typed(i), &what);
        let json = ward_allows(c.jit.decide_json(i), &what);
        // Cedar's JSON path reads the very text Ward's JSON path reads, and
        // builds the request Cedar's prebuilt one is.
        let text = c.cedar.json(i).unwrap_or_else(|| panic!("{what}: no Cedar JSON text"));
        assert_eq!(text, c.jit.json[i], "{what}: Cedar and Ward read different JSON texts");
        let from_json = c.cedar.request_from_json(text).unwrap_or_else(|e| panic!("{what}: cedar JSON: {e}"));
        assert_eq!(
            (from_json.principal(), from_json.action(), from_json.resource()),
            (Some(&principal_uid(r)), Some(&action_uid(r)), Some(&resource_uid(r))),
            "{what}: Cedar read another request from {text}"
        );
        assert_eq!(c.cedar.decide_json(i), cedar, "{what}: cedar-json");
        // The verdict entry points the benchmarks time say the same.
        assert_eq!(c.jit.allows_prepared(i), prepared, "{what}: verdict, prepared");
        assert_eq!(c.jit.allows_typed(i), typed, "{what}: verdict, typed");
        assert_eq!(c.jit.allows_json(i), json, "{what}: verdict, json");
        assert_eq!(c.interp.allows_prepared(i), interp, "{what}: verdict, interpreter");
        assert_eq!(rego, cedar, "{what}: regorus {rego}, cedar {cedar}; rego input {}", w.rego_inputs[i]);
        assert_eq!(
            (interp, prepared, typed, json),
            (cedar, cedar, cedar, cedar),
            "{what}: Ward (interp, jit prepared, typed, json) vs cedar {cedar}"
        );
        allows += usize::from(cedar);
    }
    (allows, w.requests.len())
}

fn uid(ty: &str, id: &str) -> cedar_policy::EntityUid {
    cedar_policy::EntityUid::from_json(serde_json::json!({"type": ty, "id": id})).unwrap()
}

fn principal_uid(r: &GenRequest) -> cedar_policy::EntityUid {
    uid(&r.principal.ty, &r.principal.id)
}

fn action_uid(r: &GenRequest) -> cedar_policy::EntityUid {
    uid("Action", &r.action)
}

fn resource_uid(r: &GenRequest) -> cedar_policy::EntityUid {
    uid(&r.resource.ty, &r.resource.id)
}

/// The cold-cache variants decide every visit of their cold set as
/// cedar-policy decides the request the visit's slot holds; each engine copy
/// is visited; the slots take at least the target size.
#[test]
fn cold_variants_agree_with_cedar_on_every_visit() {
    if !peers_present() {
        return;
    }
    for app in App::ALL {
        let w = Workload::generate(app, 10, 5, 40);
        let cedar = CedarPeer::for_workload(&w).unwrap_or_else(|e| panic!("{e}"));
        let expected: Vec<bool> = (0..w.requests.len()).map(|i| cedar.check(i).unwrap()).collect();
        assert!(expected.iter().any(|a| *a) && !expected.iter().all(|a| *a), "{}: a mix of decisions", app.name());
        // A small target keeps the test quick; the report uses cold::target_bytes().
        let target = 256 << 10;
        let cold = ColdContenders::new(&w, target).unwrap_or_else(|e| panic!("{e}"));
        for set_bytes in [
            cold.cedar.slot_bytes,
            cold.cedar_json.slot_bytes,
            cold.ward_prepared.slot_bytes,
            cold.ward_json.slot_bytes,
        ] {
            assert!(set_bytes >= target, "{}: {set_bytes} bytes of slots", app.name());
        }
        let variants = cold.variants();
        assert_eq!(variants.iter().map(|v| v.name).collect::<Vec<_>>(), ward_bench::cold::COLD_VARIANTS.map(|v| v.0));
        for mut v in variants {
            assert!(v.len >= ward_bench::cold::COPIES * w.requests.len(), "{}: {} visits", v.name, v.len);
            let mut visited = vec![0usize; w.requests.len()];
            for i in 0..v.len {
                let j = (v.request_of)(i).unwrap();
                visited[j] += 1;
                assert_eq!(
                    (v.decide)(i),
                    expected[j],
                    "{} {}: visit {i} (request {j} {:?})",
                    app.name(),
                    v.name,
                    w.requests[j]
                );
            }
            assert!(visited.iter().all(|&k| k >= ward_bench::cold::COPIES), "{}: {visited:?}", v.name);
        }
    }
}

/// The peers' files live outside the repository (`../shared/peer-workloads`).
/// In a checkout without them this test says so on the terminal and skips,
/// unless `WARD_REQUIRE_PEERS` is set (CI sets it): then it fails.
fn peers_present() -> bool {
    if ward_bench::apps::peers_available() {
        return true;
    }
    let root = ward_bench::apps::peer_root();
    let problem = format!("the peer workloads are not at `{}` (set WARD_PEER_WORKLOADS)", root.display());
    ward_testkit::missing_optional("peers", &problem, "WARD_REQUIRE_PEERS");
    false
}

#[test]
fn ward_cedar_and_regorus_agree_on_every_generated_request() {
    if !peers_present() {
        return;
    }
    for app in App::ALL {
        let (mut allows, mut total) = (0, 0);
        for (n, seed) in [(5, 1), (10, 2), (20, 3)] {
            let (a, t) = agree(app, n, seed, 150);
            allows += a;
            total += t;
        }
        // A mix: the comparison is only meaningful if both outcomes occur.
        assert!(allows > 0 && allows < total, "{}: {allows} allows of {total}", app.name());
    }
}

#[test]
fn ward_and_cedar_agree_on_generated_rule_sets() {
    let sizes = [10, 100, 400].map(|n| (n, Folders::Tree)).into_iter().chain([(400, Folders::Dense)]);
    for (rules, folders) in sizes {
        let set = ScaleSet::generate_with(rules, 7, 200, folders);
        let entities = set.entities_json();
        let cedar = CedarPeer::new(ScaleSet::cedar_schema().unwrap(), &set.cedar_policy, &entities, &set.requests)
            .unwrap_or_else(|e| panic!("{e}"));
        let jit = WardSide::from_sources(&set.ward_files(), &entities, Backend::Jit, &set.requests)
            .unwrap_or_else(|e| panic!("{e}"));
        let interp = WardSide::from_sources(&set.ward_files(), &entities, Backend::Interpreter, &set.requests)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut allows = 0;
        for (i, r) in set.requests.iter().enumerate() {
            let what = format!("{rules} rules ({folders:?} folders), request {i} {r:?}");
            let expected = cedar.check(i).unwrap_or_else(|e| panic!("{what}: cedar errors: {e}"));
            assert_eq!(ward_allows(jit.decide_prepared(i), &what), expected, "{what}: jit");
            assert_eq!(ward_allows(jit.decide_typed(i), &what), expected, "{what}: jit typed");
            assert_eq!(ward_allows(interp.decide_prepared(i), &what), expected, "{what}: interp");
            allows += usize::from(expected);
        }
        assert!(allows > 0 && allows < set.requests.len(), "{rules} rules: {allows} allows");
    }
}

/// `ward import cedar` on the peers' own Cedar files: the imported policy
/// decides every generated request as cedar-policy does and as the hand
/// translation in `benches/workloads/` does (interpreter and JIT).
#[test]
fn imported_cedar_applications_agree_with_cedar_and_the_hand_translations() {
    if !peers_present() {
        return;
    }
    for app in App::ALL {
        let schema = ward_bench::apps::read(&app.cedar_schema()).unwrap();
        let policies = ward_bench::apps::read(&app.cedar_policies()).unwrap();
        let imported = ward_import::import_cedar(&ward_import::CedarSources {
            schema: ward_import::SchemaSource::Json(&schema),
            policies: &policies,
            policy_name: app.name(),
        })
        .unwrap_or_else(|e| panic!("{}: {e:?}", app.name()));
        let files = [("schema.ward", imported.schema.as_str()), ("policy.ward", imported.policy.as_str())];
        let mut allows = 0;
        let mut total = 0;
        for (n, seed) in [(5, 11), (20, 12)] {
            let w = Workload::generate(app, n, seed, 200);
            let entities = w.entities_json();
            let cedar = CedarPeer::for_workload(&w).unwrap_or_else(|e| panic!("{e}"));
            let hand = WardSide::for_workload(&w, Backend::Interpreter).unwrap_or_else(|e| panic!("{e}"));
            let jit = WardSide::from_sources(&files, &entities, Backend::Jit, &w.requests)
                .unwrap_or_else(|e| panic!("{}: {e}\n{}", app.name(), imported.policy));
            let interp = WardSide::from_sources(&files, &entities, Backend::Interpreter, &w.requests)
                .unwrap_or_else(|e| panic!("{e}"));
            for (i, r) in w.requests.iter().enumerate() {
                let what = format!("{} N={n} request {i} {r:?}", app.name());
                let expected = cedar.check(i).unwrap_or_else(|e| panic!("{what}: cedar errors: {e}"));
                assert_eq!(ward_allows(jit.decide_prepared(i), &what), expected, "{what}: imported, jit");
                assert_eq!(ward_allows(interp.decide_prepared(i), &what), expected, "{what}: imported, interpreter");
                assert_eq!(ward_allows(hand.decide_prepared(i), &what), expected, "{what}: hand translation");
                allows += usize::from(expected);
                total += 1;
            }
        }
        assert!(allows > 0 && allows < total, "{}: {allows} allows of {total}", app.name());
    }
}

/// The generated rule sets (scopes with `==`, `in` and `is`, conditions over
/// attributes and hierarchies), imported from their Cedar text, decide as Cedar does.
#[test]
fn imported_generated_rule_sets_agree_with_cedar() {
    for rules in [10, 100, 400] {
        let set = ScaleSet::generate(rules, 9, 200);
        let imported = ward_import::import_cedar(&ward_import::CedarSources {
            schema: ward_import::SchemaSource::Human(ward_bench::scale::CEDAR_SCHEMA),
            policies: &set.cedar_policy,
            policy_name: "scale",
        })
        .unwrap_or_else(|e| panic!("{rules} rules: {e:?}"));
        let files = [("schema.ward", imported.schema.as_str()), ("policy.ward", imported.policy.as_str())];
        let entities = set.entities_json();
        let cedar = CedarPeer::new(ScaleSet::cedar_schema().unwrap(), &set.cedar_policy, &entities, &set.requests)
            .unwrap_or_else(|e| panic!("{e}"));
        let jit = WardSide::from_sources(&files, &entities, Backend::Jit, &set.requests)
            .unwrap_or_else(|e| panic!("{rules} rules: {e}\n{}", imported.schema));
        let mut allows = 0;
        for (i, r) in set.requests.iter().enumerate() {
            let what = format!("{rules} rules, request {i} {r:?}");
            let expected = cedar.check(i).unwrap_or_else(|e| panic!("{what}: cedar errors: {e}"));
            assert_eq!(ward_allows(jit.decide_prepared(i), &what), expected, "{what}: imported, jit");
            allows += usize::from(expected);
        }
        assert!(allows > 0 && allows < set.requests.len(), "{rules} rules: {allows} allows");
    }
}

#[test]
fn ward_workloads_check_clean() {
    for app in App::ALL {
        let dir = app.ward_dir();
        let mut sources = ward_compiler::SourceSet::default();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "ward"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no .ward files in {}", dir.display());
        for f in &files {
            sources.add(f.display().to_string(), &std::fs::read_to_string(f).unwrap());
        }
        sources.add_stdlib();
        let diagnostics = ward_compiler::check(&sources, &ward_compiler::Options::default());
        assert!(diagnostics.is_empty(), "{}: {diagnostics:#?}", dir.display());
    }
}
