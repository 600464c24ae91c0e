//! The index of `in`-scoped rules (`principal in Team::"eng"`, `resource in
//! Folder::"shared"`): a request evaluates only the rules whose literals its
//! principal and resource are in, and decides exactly as if every rule were
//! evaluated — same effect, same deciding rules in the same order, same
//! masks — on both backends, through the fast path and the full procedure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::{Value as Json, json};
use ward_runtime::decision::Decision;
use ward_runtime::engine::{Backend, Engine, FixedClock, Loaded};
use ward_runtime::{Effect, Request, Store};

use common::{NOON, req};

const SCHEMA: &str = r#"
schema s {
  entity Team in [Team]
  entity User in [Team] { level: Int }
  entity Folder in [Folder]
  entity Doc in [Folder] { owner: User, secret: String }
  action read, write by [User] on [Doc]
}
"#;

const POLICY: &str = r#"
policy p {
  @id("team-read") permit principal in Team::"eng", action == read
  @id("folder-read") permit action == read, resource in Folder::"shared"
  @id("ban") forbid principal in Team::"contractors", action == write, resource in Folder::"secret"
  @id("write-own") permit action == write when resource.owner == principal
  @id("either") permit principal in [Team::"ops", Team::"eng"], action == write when principal.level > 5
  @id("hide") mask resource.secret with redact on principal in Team::"contractors"
}
"#;

fn entities() -> Json {
    let u = |ty: &str, id: &str| json!({"type": ty, "id": id});
    json!([
        {"uid": u("Team", "eng")},
        {"uid": u("Team", "platform"), "parents": [u("Team", "eng")]},
        {"uid": u("Team", "contractors")},
        {"uid": u("Team", "ops")},
        {"uid": u("User", "ada"), "attrs": {"level": 3}, "parents": [u("Team", "eng")]},
        {"uid": u("User", "bo"), "attrs": {"level": 3}, "parents": [u("Team", "platform")]},
        {"uid": u("User", "cy"), "attrs": {"level": 3}, "parents": [u("Team", "contractors")]},
        {"uid": u("User", "di"), "attrs": {"level": 9}, "parents": [u("Team", "ops")]},
        {"uid": u("User", "ed"), "attrs": {"level": 3}},
        {"uid": u("Folder", "shared")},
        {"uid": u("Folder", "team-shared"), "parents": [u("Folder", "shared")]},
        {"uid": u("Folder", "secret")},
        {"uid": u("Folder", "deep"), "parents": [u("Folder", "secret")]},
        {"uid": u("Folder", "other")},
        {"uid": u("Doc", "in-shared"), "attrs": {"owner": u("User", "ed"), "secret": "s"}, "parents": [u("Folder", "shared")]},
        {"uid": u("Doc", "in-sub"), "attrs": {"owner": u("User", "ed"), "secret": "s"}, "parents": [u("Folder", "team-shared")]},
        {"uid": u("Doc", "in-secret"), "attrs": {"owner": u("User", "cy"), "secret": "s"}, "parents": [u("Folder", "deep")]},
        {"uid": u("Doc", "elsewhere"), "attrs": {"owner": u("User", "cy"), "secret": "s"}, "parents": [u("Folder", "other")]},
    ])
}

fn source() -> String {
    format!("{SCHEMA}\n{POLICY}")
}

/// Every way of deciding: both backends, fast path and full procedure.
fn engines(src: &str, entities: &Json) -> Vec<(&'static str, Engine)> {
    vec![
        ("jit", common::engine_with(src, entities.clone(), Backend::Jit)),
        ("interpreter", common::engine_with(src, entities.clone(), Backend::Interpreter)),
        ("jit, full procedure", common::engine_with(src, entities.clone(), Backend::Jit).without_fast_path()),
        (
            "interpreter, full procedure",
            common::engine_with(src, entities.clone(), Backend::Interpreter).without_fast_path(),
        ),
    ]
}

/// The same program with its `in` index removed: every general rule
/// evaluated for every request (the reference the index must agree with).
fn unindexed(src: &str, entities: &Json, backend: Backend) -> Engine {
    let mut program = (*common::program(src)).clone();
    for b in &mut program.buckets {
        b.in_scoped.clear();
    }
    let program = Arc::new(program);
    let store = Store::load(Arc::clone(&program), entities).expect("entities load");
    Engine::new(Loaded::new(program, store, backend == Backend::Jit), Arc::new(FixedClock::new(NOON)), backend)
}

fn decide(engine: &Engine, principal: &str, action: &str, doc: &str) -> Decision {
    let request = Request::from_json(&req(("User", principal), action, ("Doc", doc), json!({}))).unwrap();
    engine.decide_at(&request, NOON)
}

fn rules_of(d: &Decision) -> Vec<String> {
    d.reasons.iter().filter_map(|r| r.rule.clone()).collect()
}

/// `(principal, action, doc)` → (effect, deciding rules), the same on every engine.
fn expect(principal: &str, action: &str, doc: &str, effect: Effect, rules: &[&str]) {
    let src = source();
    for (name, engine) in engines(&src, &entities()) {
        let d = decide(&engine, principal, action, doc);
        assert_eq!(d.effect, effect, "{name}: {principal} {action} {doc}: {d:?}");
        assert_eq!(rules_of(&d), rules, "{name}: {principal} {action} {doc}");
    }
}

#[test]
fn a_principal_in_rule_applies_to_members_and_members_of_subteams_only() {
    // ada is in eng; bo in platform, which is in eng; ed in no team.
    expect("ada", "read", "elsewhere", Effect::Allow, &["p.team-read"]);
    expect("bo", "read", "elsewhere", Effect::Allow, &["p.team-read"]);
    expect("ed", "read", "elsewhere", Effect::Deny, &[]);
    // A principal the store does not have is in no team.
    expect("nobody", "read", "elsewhere", Effect::Deny, &[]);
}

#[test]
fn a_resource_in_rule_applies_inside_the_folder_and_its_subfolders_only() {
    expect("ed", "read", "in-shared", Effect::Allow, &["p.folder-read"]);
    expect("ed", "read", "in-sub", Effect::Allow, &["p.folder-read"]);
    expect("ed", "read", "elsewhere", Effect::Deny, &[]);
    // Both an `in` grant of the principal and one of the resource: reported in rule order.
    expect("bo", "read", "in-sub", Effect::Allow, &["p.team-read", "p.folder-read"]);
}

#[test]
fn a_rule_scoped_on_both_needs_both() {
    // cy, a contractor, owns both documents: the ban applies only inside the secret folder.
    expect("cy", "write", "in-secret", Effect::Deny, &["p.ban"]);
    expect("cy", "write", "elsewhere", Effect::Allow, &["p.write-own"]);
    // Not a contractor: the ban does not apply, and nothing permits.
    expect("ed", "write", "in-secret", Effect::Deny, &[]);
    // A set of literals is not indexed: evaluated for everyone, as before.
    expect("di", "write", "in-secret", Effect::Allow, &["p.either"]);
}

#[test]
fn an_in_scoped_mask_applies_to_members_only() {
    let src = source();
    for (name, engine) in engines(&src, &entities()) {
        let masked = decide(&engine, "cy", "read", "in-shared");
        assert_eq!(masked.effect, Effect::Allow, "{name}");
        assert_eq!(masked.masks.iter().map(|m| m.rule.as_str()).collect::<Vec<_>>(), ["p.hide"], "{name}");
        let clear = decide(&engine, "ed", "read", "in-shared");
        assert!(clear.masks.is_empty(), "{name}: {clear:?}");
    }
}

#[test]
fn the_compiler_indexes_rules_by_the_literals_their_scopes_require() {
    let program = common::program(&source());
    let id = |r: u32| program.rules[r as usize].id.clone();
    let literal = |k: Option<u32>| k.map(|k| program.entity_literals[k as usize].1.clone());
    let mut groups: Vec<(Option<String>, Option<String>, Vec<String>)> = program
        .buckets
        .iter()
        .flat_map(|b| &b.in_scoped)
        .map(|g| (literal(g.principal), literal(g.resource), g.rules.iter().map(|r| id(*r)).collect()))
        .collect();
    groups.sort();
    groups.dedup();
    let s = |x: &str| Some(x.to_string());
    assert_eq!(
        groups,
        vec![
            (None, s("shared"), vec!["p.folder-read".to_string()]),
            (s("contractors"), None, vec!["p.hide".to_string()]),
            (s("contractors"), s("secret"), vec!["p.ban".to_string()]),
            (s("eng"), None, vec!["p.team-read".to_string()]),
        ]
    );
    // Indexed rules stay general rules: a reader ignoring the index decides the same.
    for b in &program.buckets {
        for g in &b.in_scoped {
            assert!(g.rules.iter().all(|r| b.rules.contains(r)));
        }
    }
    ward_compiler::ir::validate(&program).unwrap();
}

#[test]
fn validation_refuses_an_index_that_would_skip_a_rule() {
    let program = common::program(&source());
    let (b, g) = program
        .buckets
        .iter()
        .enumerate()
        .find_map(|(i, b)| b.in_scoped.iter().position(|g| g.principal.is_some()).map(|g| (i, g)))
        .unwrap();
    // Under another literal: the rule would be skipped for its own members.
    let mut wrong = (*program).clone();
    let group = &mut wrong.buckets[b].in_scoped[g];
    let other = (0..wrong.entity_literals.len() as u32).find(|k| Some(*k) != group.principal).unwrap();
    group.principal = Some(other);
    let e = ward_compiler::ir::validate(&wrong).unwrap_err();
    assert!(e.contains("does not require"), "{e}");
    // A rule the bucket does not list among its general rules.
    let mut wrong = (*program).clone();
    let outside = (0..wrong.rules.len() as u32).find(|r| !wrong.buckets[b].rules.contains(r)).unwrap();
    wrong.buckets[b].in_scoped[g].rules.push(outside);
    let e = ward_compiler::ir::validate(&wrong).unwrap_err();
    assert!(e.contains("not a general rule"), "{e}");
    // The same rule twice.
    let mut wrong = (*program).clone();
    let first = wrong.buckets[b].in_scoped[g].rules[0];
    wrong.buckets[b].in_scoped[g].rules.push(first);
    assert!(ward_compiler::ir::validate(&wrong).unwrap_err().contains("twice"));
}

/// Many grants, bans and masks over a team and folder hierarchy; every
/// request decided by every engine equals the decision of the same program
/// without its index (reasons, their order, masks, obligations).
#[test]
fn the_index_changes_no_decision() {
    let teams = 8;
    let folders = 12;
    let users = 16;
    let docs = 24;
    let mut policy = String::from("policy g {\n");
    for k in 0..60 {
        let (t, f) = (k % teams, (k * 7) % folders);
        let line = match k % 6 {
            0 => format!("permit principal in Team::\"t{t}\", action == read"),
            1 => {
                format!("permit action in [read, write], resource in Folder::\"f{f}\" when principal.level > {}", k % 5)
            }
            2 => format!("forbid principal in Team::\"t{t}\", action == write, resource in Folder::\"f{f}\""),
            3 => format!(
                "permit principal in Team::\"t{t}\", resource in Folder::\"f{f}\" when resource.owner == principal"
            ),
            4 => {
                format!("mask resource.secret with redact on principal in Team::\"t{t}\", resource in Folder::\"f{f}\"")
            }
            _ => format!("forbid principal in Team::\"t{t}\", action == read when principal.level == {}", k % 10),
        };
        let _ = writeln!(policy, "  {line}");
    }
    policy.push_str("  permit action == read when principal.level > 7\n}\n");
    let src = format!("{SCHEMA}\n{policy}");
    let u = |ty: &str, id: String| json!({"type": ty, "id": id});
    let mut data = Vec::new();
    for t in 0..teams {
        // Teams nest: t3 in t1, t5 in t2 …
        let parents: Vec<Json> = if t >= 2 { vec![u("Team", format!("t{}", t / 2))] } else { vec![] };
        data.push(json!({"uid": u("Team", format!("t{t}")), "parents": parents}));
    }
    for f in 0..folders {
        let parents: Vec<Json> = if f >= 1 { vec![u("Folder", format!("f{}", (f - 1) / 2))] } else { vec![] };
        data.push(json!({"uid": u("Folder", format!("f{f}")), "parents": parents}));
    }
    for i in 0..users {
        let parents: Vec<Json> =
            (0..teams).filter(|t| (i * 5 + t * 3) % 7 < 2).map(|t| u("Team", format!("t{t}"))).collect();
        data.push(json!({"uid": u("User", format!("u{i}")), "attrs": {"level": i % 10}, "parents": parents}));
    }
    for d in 0..docs {
        data.push(json!({
            "uid": u("Doc", format!("d{d}")),
            "attrs": {"owner": u("User", format!("u{}", d % users)), "secret": "s"},
            "parents": [u("Folder", format!("f{}", d % folders))],
        }));
    }
    let data = Json::Array(data);
    let references = [
        ("interpreter", unindexed(&src, &data, Backend::Interpreter).without_fast_path()),
        ("jit", unindexed(&src, &data, Backend::Jit)),
    ];
    let indexed = engines(&src, &data);
    let (mut allows, mut denies, mut masked) = (0, 0, 0);
    for i in 0..users {
        for d in 0..docs {
            for action in ["read", "write"] {
                let (p, r) = (format!("u{i}"), format!("d{d}"));
                let expected = decide(&references[0].1, &p, action, &r);
                assert_eq!(decide(&references[1].1, &p, action, &r), expected, "unindexed jit: {p} {action} {r}");
                for (name, engine) in &indexed {
                    assert_eq!(decide(engine, &p, action, &r), expected, "{name}: {p} {action} {r}");
                }
                match expected.effect {
                    Effect::Allow => allows += 1,
                    _ => denies += 1,
                }
                masked += usize::from(!expected.masks.is_empty());
            }
        }
    }
    // Every kind of outcome occurs: the comparison means something.
    assert!(allows > 20 && denies > 20 && masked > 5, "allows {allows}, denies {denies}, masked {masked}");
}

/// Rules that differ only in their ids (a grant repeated, as policy sets
/// generated from templates do) are run once per list on the fast path and
/// fire together; rules that differ in anything that decides — a constant,
/// `when` against `unless`, the effect — are each run. Every decision
/// equals the full procedure's over every rule, including requests on
/// which the repeated rule fails to evaluate (an overflow).
#[test]
fn repeated_rules_decide_as_if_each_ran() {
    let mut policy = String::from("policy g {\n");
    for k in 0..24 {
        let (t, f) = (k % 4, k % 6);
        let lines = [
            format!(
                "permit principal in Team::\"t{t}\", action == read, resource in Folder::\"f{f}\" when resource.owner == principal"
            ),
            format!(
                "permit principal in Team::\"t{t}\", action == read, resource in Folder::\"f{f}\" when principal.level > {}",
                k % 3
            ),
            format!(
                "permit principal in Team::\"t{t}\", action == read, resource in Folder::\"f{f}\" unless principal.level > {}",
                k % 3
            ),
            format!(
                "forbid principal in Team::\"t{t}\", action == read, resource in Folder::\"f{f}\" when principal.level > {}",
                k % 3
            ),
            format!(
                "permit principal in Team::\"t{t}\", action == write when principal.level + 9223372036854775800 > {}",
                k % 2
            ),
            format!("permit action == write, resource in Folder::\"f{f}\" when principal.level == {}", k % 10),
        ];
        // Each line once, twice or three times in a row; the next line of
        // the same group differs in one constant or in `when`/`unless`.
        let line = &lines[k % lines.len()];
        for _ in 0..=(k % 3) {
            let _ = writeln!(policy, "  {line}");
        }
        let _ = writeln!(policy, "  {}", lines[(k + 1) % lines.len()]);
    }
    policy.push_str("}\n");
    let src = format!("{SCHEMA}\n{policy}");
    let u = |ty: &str, id: String| json!({"type": ty, "id": id});
    let mut data = Vec::new();
    for t in 0..4 {
        let parents: Vec<Json> = if t >= 2 { vec![u("Team", format!("t{}", t / 2))] } else { vec![] };
        data.push(json!({"uid": u("Team", format!("t{t}")), "parents": parents}));
    }
    for f in 0..6 {
        let parents: Vec<Json> = if f >= 1 { vec![u("Folder", format!("f{}", (f - 1) / 2))] } else { vec![] };
        data.push(json!({"uid": u("Folder", format!("f{f}")), "parents": parents}));
    }
    for i in 0..10 {
        let parents: Vec<Json> = (0..4).filter(|t| (i + t) % 3 == 0).map(|t| u("Team", format!("t{t}"))).collect();
        // Levels 8 and 9 overflow the sum above: those rules fail for them.
        data.push(json!({"uid": u("User", format!("u{i}")), "attrs": {"level": i}, "parents": parents}));
    }
    for d in 0..12 {
        data.push(json!({
            "uid": u("Doc", format!("d{d}")),
            "attrs": {"owner": u("User", format!("u{}", d % 10)), "secret": "s"},
            "parents": [u("Folder", format!("f{}", d % 6))],
        }));
    }
    let data = Json::Array(data);
    let reference = unindexed(&src, &data, Backend::Interpreter).without_fast_path();
    let indexed = engines(&src, &data);
    let (mut allows, mut denies, mut several) = (0, 0, 0);
    for i in 0..10 {
        for d in 0..12 {
            for action in ["read", "write"] {
                let (p, r) = (format!("u{i}"), format!("d{d}"));
                let expected = decide(&reference, &p, action, &r);
                for (name, engine) in &indexed {
                    assert_eq!(decide(engine, &p, action, &r), expected, "{name}: {p} {action} {r}");
                }
                match expected.effect {
                    Effect::Allow => allows += 1,
                    _ => denies += 1,
                }
                several += usize::from(expected.reasons.len() > 1);
            }
        }
    }
    assert!(allows > 10 && denies > 10 && several > 10, "allows {allows}, denies {denies}, several {several}");
}
