//! Agreement: the JIT and the reference interpreter (both through the
//! engine's fast path) and the full decision procedure return identical
//! decisions — effect, reasons, masks, obligations, limits, errors, shadow
//! reports — on generated, well-typed programs, entity data and request
//! sequences (see `generator/mod.rs`).
//!
//! The default run decides at least 100,000 requests on each backend:
//! `WARD_AGREEMENT_PROGRAMS` (default 300) programs of
//! `WARD_AGREEMENT_REQUESTS` (default 500) requests, from seeds starting at
//! `WARD_AGREEMENT_SEED`. A failure prints the seed; rerun just that case
//! with `WARD_AGREEMENT_SEED=<seed> WARD_AGREEMENT_PROGRAMS=1`. The fuzz
//! target `fuzz/fuzz_targets/agreement.rs` runs the same check on
//! fuzzer-chosen programs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;
mod generator;

use std::sync::Mutex;
use std::time::Instant;

use generator::{Failure, Tally};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn jit_and_interpreter_agree_on_generated_programs() {
    let programs = env_or("WARD_AGREEMENT_PROGRAMS", 300);
    let requests = env_or("WARD_AGREEMENT_REQUESTS", 500) as usize;
    let base = env_or("WARD_AGREEMENT_SEED", 0x5741_5244_0000);
    let started = Instant::now();
    let total = Mutex::new(Tally::default());
    let skipped = Mutex::new(Vec::<(u64, String)>::new());
    let failures = Mutex::new(Vec::<(u64, String)>::new());
    let next = std::sync::atomic::AtomicU64::new(0);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(4);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= programs {
                        break;
                    }
                    let seed = base + i;
                    let case = generator::generate(seed, requests);
                    match generator::check(&case) {
                        Ok(t) => total.lock().unwrap().add(&t),
                        Err(Failure::Compile(e)) | Err(Failure::Entities(e)) => {
                            skipped.lock().unwrap().push((seed, format!("{e}\n--- program ---\n{}", case.source)))
                        }
                        Err(Failure::NoJit(e)) | Err(Failure::Disagree(e)) => {
                            failures.lock().unwrap().push((seed, format!("{e}\n--- program ---\n{}", case.source)))
                        }
                    }
                }
            });
        }
    });
    let total = total.into_inner().unwrap();
    let skipped = skipped.into_inner().unwrap();
    let failures = failures.into_inner().unwrap();
    println!(
        "agreement: {programs} programs, {} request cases decided on both backends in {:.1?} \
         (allow {}, deny {}, approval_required {}, refused {}, with errors {}, with masks {}, with limits {}, with shadow {}); \
         {} programs skipped",
        total.requests,
        started.elapsed(),
        total.allow,
        total.deny,
        total.approval,
        total.refused,
        total.with_errors,
        total.with_masks,
        total.with_limits,
        total.with_shadow,
        skipped.len(),
    );
    for (seed, text) in failures.iter().chain(skipped.iter()).take(12) {
        eprintln!("seed {seed}: {}", text.lines().take(2).collect::<Vec<_>>().join(" / "));
    }
    if let Some((seed, text)) = failures.first() {
        panic!("{} of {programs} programs disagree; first, seed {seed}:\n{text}", failures.len());
    }
    // The generator writes well-typed programs: one that does not compile is a generator bug.
    if let Some((seed, text)) = skipped.first() {
        panic!("{} of {programs} generated programs were refused; first, seed {seed}:\n{text}", skipped.len());
    }
    if programs >= 200 && requests >= 500 {
        assert!(total.requests >= 100_000, "only {} cases", total.requests);
        // The generated decisions cover every effect, errors, masks and limits.
        for (what, n) in [
            ("allow", total.allow),
            ("deny", total.deny),
            ("approval_required", total.approval),
            ("errors", total.with_errors),
            ("masks", total.with_masks),
            ("limits", total.with_limits),
            ("shadow", total.with_shadow),
        ] {
            assert!(n * 200 >= total.requests, "too few decisions with {what}: {n} of {}", total.requests);
        }
    }
}

/// The generator writes every form of type tests, quantifiers and set
/// algebra, so the run above decides them on both backends.
#[test]
fn generated_programs_use_type_tests_quantifiers_and_set_algebra() {
    let base = env_or("WARD_AGREEMENT_SEED", 0x5741_5244_0000);
    let sources: Vec<String> = (0..300).map(|i| generator::generate(base + i, 1).source).collect();
    for form in [
        " is ",
        ".any(",
        ".all(",
        ".intersects(",
        ".is_subset(",
        "chain.first",
        "chain.last",
        "chain.any(",
        ".has_tag(",
        ".get_tag(",
        " tags ",
        // Sets of records against record literals (issue 17).
        "}].contains({",
        "}].contains_any([{",
    ] {
        let n = sources.iter().filter(|s| s.contains(form)).count();
        assert!(n >= 3, "only {n} of 300 generated programs use `{form}`");
    }
    let narrowed = sources.iter().filter(|s| s.contains("(principal is ") && s.contains(" in Team::")).count();
    assert!(narrowed >= 1, "no generated program narrows `principal` or tests `is … in`");
}

/// Hand-written cases for the chain: who is in it decides, not how long it is.
#[test]
fn chain_quantifiers_and_type_tests_agree_on_chosen_chains() {
    use serde_json::json;
    let source = r#"
schema s {
  entity Team
  entity User in [Team] { limit: Int }
  entity Agent in [Team] { limit: Int, scopes: Set<String> }
  entity Doc { tags: Set<String>, readers: Set<User> }
  action read by [User, Agent] on [Doc]
  context { wanted: Set<String> }
}
policy p {
  @id("person")
  forbid principal: Agent unless chain.any(l, l is User)
  @id("origin")
  forbid unless chain.first is User in Team::"staff"
  @id("limits")
  forbid when chain.any(l, l is User && l.limit < 10)
  @id("agents-scoped")
  forbid when chain.any(l, l is Agent && !l.scopes.contains("read"))
  @id("read")
  permit action: read when context.wanted.is_subset(resource.tags) && resource.tags.intersects(["public", "team"])
    && resource.readers.all(r, r in Team::"staff")
}
"#;
    let uid = |t: &str, id: &str| json!({"type": t, "id": id});
    let entities = json!([
        {"uid": uid("Team", "staff"), "attrs": {}, "parents": []},
        {"uid": uid("User", "dana"), "attrs": {"limit": 50}, "parents": [uid("Team", "staff")]},
        {"uid": uid("User", "omar"), "attrs": {"limit": 5}, "parents": [uid("Team", "staff")]},
        {"uid": uid("User", "eve"), "attrs": {"limit": 50}, "parents": []},
        {"uid": uid("Agent", "bot"), "attrs": {"limit": 50, "scopes": ["read"]}, "parents": []},
        {"uid": uid("Agent", "planner"), "attrs": {"limit": 50, "scopes": ["read"]}, "parents": []},
        {"uid": uid("Agent", "rogue"), "attrs": {"limit": 50, "scopes": []}, "parents": []},
        {"uid": uid("Doc", "d"), "attrs": {"tags": ["public", "x"], "readers": [uid("User", "dana")]}, "parents": []},
        {"uid": uid("Doc", "e"), "attrs": {"tags": ["x"], "readers": [uid("User", "eve")]}, "parents": []},
    ]);
    let request = |chain: &[(&str, &str)], doc: &str, wanted: &[&str]| {
        let chain: Vec<_> = chain.iter().map(|(t, id)| uid(t, id)).collect();
        json!({"principal": uid("Agent", "bot"), "action": "read", "resource": uid("Doc", doc),
               "on_behalf_of": chain, "context": {"wanted": wanted}})
    };
    // (request, allowed?)
    let cases = [
        (request(&[("User", "dana")], "d", &["public"]), true),
        // Two agents and no person: two links, no person.
        (request(&[("Agent", "planner")], "d", &["public"]), false),
        // A person, but not one of the staff, at the origin.
        (request(&[("User", "eve")], "d", &["public"]), false),
        // A person whose own limit is too low.
        (request(&[("User", "omar")], "d", &["public"]), false),
        // An unscoped agent in the middle.
        (request(&[("User", "dana"), ("Agent", "rogue")], "d", &["public"]), false),
        // Not a subset of the document's tags; no shared tag; a reader outside the staff.
        (request(&[("User", "dana")], "d", &["public", "secret"]), false),
        (request(&[("User", "dana")], "e", &[]), false),
        (request(&[], "d", &["public"]), false),
    ];
    for (i, (req, allow)) in cases.iter().enumerate() {
        let case = generator::Case {
            source: source.to_string(),
            entities: entities.clone(),
            requests: vec![(generator::NOON, req.clone())],
        };
        let tally = generator::check(&case).unwrap_or_else(|e| panic!("case {i}: {e:?}"));
        assert_eq!((tally.requests, tally.allow), (1, usize::from(*allow)), "case {i}: {req}");
    }
}

/// Result flows (flow conditions reading `response`): their facts and
/// unknown marks are read by rules on both backends and both paths, which
/// must decide alike at every step of a session.
#[test]
fn result_flows_agree_on_both_backends_and_paths() {
    use serde_json::json;
    use ward_runtime::engine::Backend;
    use ward_runtime::{ActionResult, Request};
    let source = r#"
schema s {
  entity Agent
  entity Customer
  entity Mailbox
  enum Tier { standard, vip }
  action read by [Agent] on [Customer] returns { tier: Tier, spend: Decimal, tags?: Set<String> }
  action send by [Agent] on [Mailbox] with { external: Bool, amount: Decimal }
}
policy p {
  @id("all") permit
  @id("vip") forbid action: send
    when context.external && previously within 1h action: read where response.tier == Tier::vip
  @id("tagged") permit action: send
    unless previously within 1h action: read where (response has tags && response.tags.contains("legal"))
  @id("spend") forbid action: send
    when sum(response.spend, within 1h action: read) + context.amount > 100.00
  @id("reads") forbid action: send when count(within 1h action: read where response.tier == Tier::standard) > 2
}
"#;
    let engines = [
        common::engine_with(source, json!([]), Backend::Interpreter),
        common::engine_with(source, json!([]), Backend::Jit),
        common::engine_with(source, json!([]), Backend::Jit).without_fast_path(),
    ];
    let req = |action: &str, resource: (&str, &str), context: serde_json::Value, session: &str| {
        let mut r = Request::from_json(&common::req(("Agent", "bot"), action, resource, context)).unwrap();
        r.session = Some(session.to_string());
        r
    };
    let results = [
        json!({"tier": "standard", "spend": "10.00"}),
        json!({"tier": "vip", "spend": 20}),
        json!({"tier": "standard", "spend": "30.00", "tags": ["legal"], "extra": null}),
        json!({"tier": "gold", "spend": "1.00"}),
        json!({"tier": "standard"}),
        json!({"tier": "standard", "spend": "9223372036854775807"}),
        json!([1, 2]),
    ];
    let mut t = common::NOON;
    let (mut effects, mut facts, mut unknown) = (std::collections::BTreeSet::new(), 0, 0);
    for (i, result) in results.iter().enumerate() {
        // Each result in its own session, and all of them in one.
        for session in [format!("s{i}"), "all".to_string()] {
            for (external, amount) in [(false, "1.00"), (true, "1.00"), (false, "95.00")] {
                t += 1;
                let send = req("send", ("Mailbox", "m"), json!({"external": external, "amount": amount}), &session);
                let decisions: Vec<String> =
                    engines.iter().map(|e| e.decide_at(&send, t).to_json().to_string()).collect();
                assert!(
                    decisions.iter().all(|d| *d == decisions[0]),
                    "step {i} ({session}, {external}, {amount}): {decisions:#?}"
                );
                let d: serde_json::Value = serde_json::from_str(&decisions[0]).unwrap();
                for r in d["reasons"].as_array().unwrap() {
                    effects.insert(format!("{} {}", d["effect"], r["rule"]));
                }
            }
            t += 1;
            let read = req("read", ("Customer", "c"), json!({}), &session);
            let records: Vec<_> =
                engines.iter().map(|e| e.record_result_at(&read, ActionResult::Json(result), t)).collect();
            assert!(records.iter().all(|r| *r == records[0]), "result {i}: {records:#?}");
            facts += records[0].facts.len();
            unknown += records[0].unreadable.len();
        }
    }
    // The sequence reaches each rule, facts and unknown marks alike.
    for expected in ["\"allow\" \"p.all\"", "\"deny\" \"p.vip\"", "\"deny\" \"p.spend\"", "\"deny\" \"p.reads\""] {
        assert!(effects.iter().any(|e| e.contains(expected)), "{expected} never decided: {effects:?}");
    }
    assert!(facts > 0 && unknown > 0, "facts {facts}, unknown {unknown}");
}

/// Templates decided through links: `==` and `in` slots on both variables,
/// a forbid template, a template whose condition fails on some entities
/// (fail closed), a delegation chain, entities the store does not have —
/// the interpreter, the JIT and the full procedure agree, and the linked
/// rules are the ones expected.
#[test]
fn templates_with_links_agree_and_decide_by_their_links() {
    use serde_json::json;
    let source = r#"
schema s {
  entity Team in [Team]
  entity User in [Team] { level: Int }
  entity Folder in [Folder]
  entity Doc in [Folder] { owner: User, secret: Bool }
  action view by [User] on [Doc, Folder]
  action edit by [User] on [Doc]
}
policy sharing {
  @id("share")
  @template
  permit principal == ?principal, action: view, resource in ?resource

  @id("team-edit")
  @template
  permit principal in ?principal, action: edit, resource: Doc
    when principal.level >= 2

  @id("block")
  @template
  forbid principal == ?principal, resource: Doc == ?resource
    when resource.secret || resource.owner.level > 4

  @id("owner")
  permit principal: User, action in [view, edit], resource: Doc when resource.owner == principal

  @id("watch")
  @template
  @shadow
  forbid principal in ?principal, action: edit

  @id("approved-edit")
  @template
  permit principal == ?principal, action: edit, resource in ?resource
    obligation require_approval(role: "owner")
}
"#;
    let uid = |t: &str, id: &str| json!({"type": t, "id": id});
    let entities = json!([
        {"uid": uid("Team", "org"), "attrs": {}, "parents": []},
        {"uid": uid("Team", "ops"), "attrs": {}, "parents": [uid("Team", "org")]},
        {"uid": uid("User", "alice"), "attrs": {"level": 3}, "parents": [uid("Team", "ops")]},
        {"uid": uid("User", "bob"), "attrs": {"level": 1}, "parents": [uid("Team", "ops")]},
        {"uid": uid("User", "carol"), "attrs": {"level": 5}, "parents": []},
        {"uid": uid("Folder", "root"), "attrs": {}, "parents": []},
        {"uid": uid("Folder", "f1"), "attrs": {}, "parents": [uid("Folder", "root")]},
        {"uid": uid("Doc", "d1"), "attrs": {"owner": uid("User", "zed"), "secret": false}, "parents": [uid("Folder", "f1")]},
        {"uid": uid("Doc", "d2"), "attrs": {"owner": uid("User", "carol"), "secret": true}, "parents": [uid("Folder", "f1")]},
        {"uid": uid("Doc", "d3"), "attrs": {"owner": uid("User", "alice"), "secret": false}, "parents": []},
    ]);
    let links = json!([
        {"template_id": "sharing.share", "new_id": "alice-root",
         "values": {"?principal": uid("User", "alice"), "?resource": "Folder::\"root\""}},
        {"template_id": "sharing.share", "new_id": "alice-f1",
         "values": {"?principal": {"__entity": uid("User", "alice")}, "?resource": uid("Folder", "f1")}},
        {"template_id": "sharing.share", "new_id": "carol-root",
         "values": {"?principal": uid("User", "carol"), "?resource": uid("Folder", "root")}},
        {"template_id": "sharing.share", "new_id": "ghost-d3",
         "values": {"?principal": uid("User", "ghost"), "?resource": uid("Doc", "d3")}},
        {"template_id": "sharing.team-edit", "new_id": "org-edit", "values": {"?principal": uid("Team", "org")}},
        {"template_id": "sharing.block", "new_id": "alice-d2",
         "values": {"?principal": uid("User", "alice"), "?resource": uid("Doc", "d2")}},
        {"template_id": "sharing.watch", "new_id": "watch-ops", "values": {"?principal": uid("Team", "ops")}},
        {"template_id": "sharing.approved-edit", "new_id": "carol-f1",
         "values": {"?principal": uid("User", "carol"), "?resource": uid("Folder", "f1")}},
        {"template_id": "sharing.block", "new_id": "bob-d1",
         "values": {"?principal": uid("User", "bob"), "?resource": uid("Doc", "d1")}},
    ]);
    let request = |p: &str, action: &str, doc: (&str, &str), chain: &[&str]| {
        let chain: Vec<_> = chain.iter().map(|u| uid("User", u)).collect();
        json!({"principal": uid("User", p), "action": action, "resource": uid(doc.0, doc.1),
               "on_behalf_of": chain, "context": {}})
    };
    let program = generator::compile(source).unwrap();
    let checked = std::sync::Arc::new(ward_runtime::links::Links::from_json(&program, &links).unwrap());
    let engine = ward_runtime::Engine::new(
        ward_runtime::Loaded::new(
            std::sync::Arc::clone(&program),
            ward_runtime::Store::load(std::sync::Arc::clone(&program), &entities).unwrap(),
            true,
        )
        .with_links(checked)
        .unwrap(),
        std::sync::Arc::new(ward_runtime::FixedClock::new(generator::NOON)),
        ward_runtime::Backend::Jit,
    );
    // (request, expected effect, the rules that decide it)
    let cases = [
        // Two links of one template match (the folder and its parent).
        (
            request("alice", "view", ("Doc", "d1"), &[]),
            "allow",
            vec!["sharing.share[alice-f1]", "sharing.share[alice-root]"],
        ),
        (request("alice", "view", ("Folder", "root"), &[]), "allow", vec!["sharing.share[alice-root]"]),
        (request("bob", "view", ("Doc", "d1"), &[]), "deny", vec![]),
        // A link to a principal the store does not have.
        (request("ghost", "view", ("Doc", "d3"), &[]), "allow", vec!["sharing.share[ghost-d3]"]),
        (request("ghost", "view", ("Doc", "d1"), &[]), "deny", vec![]),
        // `in ?principal`: alice is in ops, in org; bob too, but his level is too low.
        (request("alice", "edit", ("Doc", "d1"), &[]), "allow", vec!["sharing.team-edit[org-edit]"]),
        (request("bob", "edit", ("Doc", "d1"), &[]), "deny", vec!["sharing.block[bob-d1]"]),
        (request("carol", "edit", ("Doc", "d3"), &[]), "deny", vec![]),
        // A template that needs an approval, through its link.
        (request("carol", "edit", ("Doc", "d1"), &[]), "approval_required", vec!["sharing.approved-edit[carol-f1]"]),
        (request("carol", "view", ("Doc", "d3"), &[]), "deny", vec![]),
        // The forbid template: applies on `secret`, and fails closed where
        // its condition cannot be evaluated (d1's owner is not in the store).
        (request("alice", "view", ("Doc", "d2"), &[]), "deny", vec!["sharing.block[alice-d2]"]),
        (request("carol", "view", ("Doc", "d2"), &[]), "allow", vec!["sharing.owner", "sharing.share[carol-root]"]),
        // Under delegation every link of the chain needs a permit.
        (request("alice", "view", ("Doc", "d1"), &["carol"]), "allow", vec![]),
        (request("alice", "view", ("Doc", "d1"), &["bob"]), "deny", vec![]),
    ];
    for (i, (req, effect, rules)) in cases.iter().enumerate() {
        let case = generator::Case {
            source: source.to_string(),
            entities: entities.clone(),
            requests: vec![(generator::NOON, req.clone())],
        };
        let tally = generator::check_linked(&case, &links).unwrap_or_else(|e| panic!("case {i}: {e:?}"));
        assert_eq!(tally.requests, 1, "case {i}");
        let decision = engine.decide_at(&ward_runtime::Request::from_json(req).unwrap(), generator::NOON);
        assert_eq!(decision.effect.as_str(), *effect, "case {i}: {req}\n{}", decision.to_json());
        if !rules.is_empty() {
            let mut fired: Vec<&str> = decision.reasons.iter().filter_map(|r| r.rule.as_deref()).collect();
            fired.sort_unstable();
            assert_eq!(&fired, rules, "case {i}: {req}\n{}", decision.to_json());
        }
    }
    // A shadow template reports its link and changes nothing.
    let d = engine.decide_at(&ward_runtime::Request::from_json(&cases[5].0).unwrap(), generator::NOON);
    assert_eq!(d.effect.as_str(), "allow");
    assert!(d.shadow.iter().any(|s| s.rule == "sharing.watch[watch-ops]"), "{}", d.to_json());
    // Links are replaced without recompiling: with none, alice's share is gone.
    engine.set_links(std::sync::Arc::new(ward_runtime::links::Links::default())).unwrap();
    let decision = engine.decide_at(&ward_runtime::Request::from_json(&cases[0].0).unwrap(), generator::NOON);
    assert_eq!(decision.effect.as_str(), "deny");
    assert!(engine.backend() == ward_runtime::Backend::Jit);
}

/// Entities swapped or patched into an engine (no native recompile) decide
/// as an engine freshly built on the same entities, JIT and interpreter, on
/// generated programs (`generator::check_entity_updates`).
#[test]
fn entity_updates_decide_as_fresh_engines_on_generated_programs() {
    let programs = env_or("WARD_UPDATE_PROGRAMS", 60);
    let requests = env_or("WARD_UPDATE_REQUESTS", 150) as usize;
    let base = env_or("WARD_UPDATE_SEED", 0x5741_5244_1800);
    let mut compared = 0;
    let mut skipped = 0;
    let mut failures = Vec::new();
    for i in 0..programs {
        let seed = base + i;
        let case = generator::generate(seed, requests);
        match generator::check_entity_updates(&case) {
            Ok(n) => compared += n,
            Err(Failure::Compile(_)) | Err(Failure::Entities(_)) => skipped += 1,
            Err(Failure::NoJit(e)) | Err(Failure::Disagree(e)) => {
                failures.push(format!("seed {seed}: {e}\n--- program ---\n{}", case.source))
            }
        }
    }
    println!("entity updates: {programs} programs, {compared} requests compared, {skipped} skipped");
    assert!(failures.is_empty(), "{} of {programs} programs disagree:\n{}", failures.len(), failures.join("\n\n"));
    assert!(compared >= programs as usize * requests / 2, "too few requests compared: {compared}");
    assert!(skipped * 10 <= programs as usize, "too many programs skipped: {skipped}");
}
