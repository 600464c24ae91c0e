//! Hierarchy tests as bit tests (issue 18, item 3): `e in a` for an `a`
//! computed at run time reads `a`'s rank and a bit of `e`'s ancestor row.
//! On generated hierarchies — chains, diamonds, several parents, then
//! patches that move entities, add new parents and remove entities — the
//! bits must say what the ancestor lists say for every pair of entities,
//! the ancestor lists what the parents say (an independent walk), and
//! both backends must decide `principal in context.g` (one ancestor) and
//! `principal in context.gs` (a set) as that walk does, for every pair.
//! Over the bits' budget (at the load, or after a patch widens the rows
//! past it) the store keeps none and the same checks hold.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Value as Json, json};
use ward_runtime::engine::{Backend, Engine, FixedClock, Loaded};
use ward_runtime::{Effect, EntityPatch, Request, Store};
use ward_testkit::SplitMix64;

use common::NOON;

const POLICY: &str = r#"
schema s {
  entity Group in [Group]
  entity User in [Group]
  entity Doc { owner: Group }
  action one by [User, Group] on [Doc] with { g: Group }
  action many by [User, Group] on [Doc] with { gs: Set<Group> }
  action owned by [User, Group] on [Doc]
}
policy p {
  @id("one") permit action == one when principal in context.g
  @id("many") permit action == many when principal in context.gs
  @id("owned") permit action == owned when principal in resource.owner
}
"#;

/// The hierarchy as the test knows it: uid → parents (each `Group::"…"` or
/// `User::"…"` by name), and which entities are listed.
#[derive(Default)]
struct Model {
    parents: BTreeMap<String, Vec<String>>,
}

fn uid(name: &str) -> Json {
    let (ty, id) = name.split_once(':').unwrap();
    json!({"type": ty, "id": id})
}

fn item(name: &str, parents: &[String]) -> Json {
    let ps: Vec<Json> = parents.iter().map(|p| uid(p)).collect();
    if name == "Doc:d" {
        return json!({"uid": uid(name), "attrs": {"owner": uid("Group:g0")}});
    }
    json!({"uid": uid(name), "parents": ps})
}

impl Model {
    fn entities(&self) -> Json {
        Json::Array(self.parents.iter().map(|(n, ps)| item(n, ps)).collect())
    }

    /// Every entity `name` is in, transitively, by walking the parents.
    fn above(&self, name: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![name.to_string()];
        while let Some(x) = stack.pop() {
            for p in self.parents.get(&x).into_iter().flatten() {
                if seen.insert(p.clone()) {
                    stack.push(p.clone());
                }
            }
        }
        seen
    }
}

fn below(rng: &mut SplitMix64, n: u64) -> u64 {
    rng.next_u64() % n.max(1)
}

/// Groups `g0…` with a chain, diamonds and random several-parent links
/// (parents always of a higher number, so acyclic), users in a few groups.
fn generate(rng: &mut SplitMix64, groups: usize, users: usize) -> Model {
    let g = |i: usize| format!("Group:g{i}");
    let mut m = Model::default();
    for i in 0..groups {
        let mut ps = Vec::new();
        match i % 4 {
            // A chain: g0 in g1 in g2 …
            0 | 1 if i + 1 < groups => ps.push(g(i + 1)),
            // A diamond: i in i+1 and i+2, both in i+3 (the chains above join them).
            2 if i + 3 < groups => ps.extend([g(i + 1), g(i + 2)]),
            _ => {
                for _ in 0..below(rng, 4) {
                    let span = (groups - i - 1) as u64;
                    if span > 0 {
                        ps.push(g(i + 1 + below(rng, span) as usize));
                    }
                }
            }
        }
        m.parents.insert(g(i), ps);
    }
    for u in 0..users {
        let ps = (0..below(rng, 4)).map(|_| g(below(rng, groups as u64) as usize)).collect();
        m.parents.insert(format!("User:u{u}"), ps);
    }
    m.parents.insert("Doc:d".into(), Vec::new());
    m
}

fn engines(program: &Arc<ward_compiler::ir::Program>, store: Store) -> [Engine; 2] {
    let jit = Loaded::new(Arc::clone(program), store.clone(), true);
    assert!(jit.jit.is_some(), "{:?}", jit.jit_error);
    let interp = Loaded::new(Arc::clone(program), store, false);
    [
        Engine::new(jit, Arc::new(FixedClock::new(NOON)), Backend::Jit),
        Engine::new(interp, Arc::new(FixedClock::new(NOON)), Backend::Interpreter),
    ]
}

/// The store's view of every pair against the model: ancestor lists, the
/// bits alone, and `Store::entity_in`.
fn check_store(store: &Store, m: &Model) {
    store.check_derived().unwrap();
    let index = |name: &str| {
        let (ty, id) = name.split_once(':').unwrap();
        store.find(store.type_index(ty).unwrap(), id)
    };
    for (name, _) in m.parents.iter().filter(|(n, _)| n.starts_with("Group") || n.starts_with("User")) {
        let e = index(name).unwrap();
        let above = m.above(name);
        let listed: BTreeSet<String> = store.get(e).unwrap().ancestors.iter().map(|a| store.uid(*a)).collect();
        let want: BTreeSet<String> = above.iter().map(|a| store.uid(index(a).unwrap())).collect();
        assert_eq!(listed, want, "{name}'s ancestor list");
        for a in 0..store.len() as u32 {
            let has = store.get(e).unwrap().has_ancestor(a);
            if store.has_ancestor_bits() {
                assert_eq!(store.ancestor_bit(e, a), Some(has), "{name} below {}: the bit", store.uid(a));
            } else {
                assert_eq!(store.ancestor_bit(e, a), None);
            }
            assert_eq!(store.entity_in(e, a), Some(e == a || has), "{name} in {}", store.uid(a));
        }
    }
}

fn request(principal: &str, action: &str, context: Json) -> Request {
    let (ty, id) = principal.split_once(':').unwrap();
    Request::from_json(&json!({
        "principal": {"type": ty, "id": id},
        "action": action,
        "resource": {"type": "Doc", "id": "d"},
        "context": context,
    }))
    .unwrap()
}

/// Both backends decide every pair (and sets of groups) as the model's walk.
fn check_decisions(engines: &[Engine; 2], m: &Model, rng: &mut SplitMix64) {
    // Every group the model names, listed or only someone's parent (removed).
    let named: BTreeSet<&String> = m.parents.keys().chain(m.parents.values().flatten()).collect();
    let groups: Vec<&String> = named.into_iter().filter(|n| n.starts_with("Group")).collect();
    // A group and a user the store does not have, as either side.
    let ghost = "Group:ghost".to_string();
    let stranger = "User:stranger".to_string();
    let mut candidates = groups.clone();
    candidates.push(&ghost);
    let mut principals: Vec<&String> = m.parents.keys().filter(|n| !n.starts_with("Doc")).collect();
    principals.push(&ghost);
    principals.push(&stranger);
    for p in &principals {
        let above = m.above(p);
        let is_in = |g: &str| *p == g || above.contains(g);
        for g in &candidates {
            let r = request(p, "one", json!({"g": uid(g)}));
            let want = if is_in(g) { Effect::Allow } else { Effect::Deny };
            for e in engines {
                assert_eq!(e.check_at(&r, NOON).effect(), want, "{p} in {g} ({:?})", e.backend());
            }
        }
        for _ in 0..4 {
            let set: Vec<&String> =
                (0..below(rng, 4)).map(|_| candidates[below(rng, candidates.len() as u64) as usize]).collect();
            let json_set: Vec<Json> = set.iter().map(|g| uid(g)).collect();
            let r = request(p, "many", json!({"gs": json_set}));
            let want = if set.iter().any(|g| is_in(g)) { Effect::Allow } else { Effect::Deny };
            for e in engines {
                assert_eq!(e.check_at(&r, NOON).effect(), want, "{p} in {set:?} ({:?})", e.backend());
            }
        }
    }
}

/// A random patch of the model: parents moved (to higher groups, so no
/// cycle), new groups as parents, entities removed and re-added.
fn random_patch(rng: &mut SplitMix64, m: &mut Model, fresh: &mut usize) -> EntityPatch {
    let mut patch = EntityPatch::new();
    // Users and the generated groups: a new group (`n…`) is never moved, so
    // that parents of a higher number keep the hierarchy acyclic.
    let names: Vec<String> =
        m.parents.keys().filter(|n| n.starts_with("User") || n.starts_with("Group:g")).cloned().collect();
    let number = |n: &str| n.strip_prefix("Group:g").and_then(|k| k.parse::<usize>().ok());
    let mut touched = BTreeSet::new();
    for _ in 0..1 + below(rng, 6) {
        let name = names[below(rng, names.len() as u64) as usize].clone();
        if !touched.insert(name.clone()) {
            continue;
        }
        // A user may be in any group; group g_k only in groups above k.
        let floor = number(&name).map_or(0, |k| k + 1);
        let higher: Vec<String> = m.parents.keys().filter(|g| number(g).is_some_and(|k| k >= floor)).cloned().collect();
        match below(rng, 5) {
            0 => {
                // Removed: it keeps existing (others may name it) with no parents.
                patch = patch.remove(name.split_once(':').unwrap().0, name.split_once(':').unwrap().1);
                m.parents.remove(&name);
            }
            1 => {
                // Under new groups (new entities, new ranks), themselves under old ones.
                let mut ps = Vec::new();
                for _ in 0..1 + below(rng, 3) {
                    let g = format!("Group:n{fresh}");
                    *fresh += 1;
                    let up: Vec<String> = higher.iter().take(1).cloned().collect();
                    patch = patch.upsert(item(&g, &up));
                    m.parents.insert(g.clone(), up);
                    ps.push(g);
                }
                patch = patch.upsert(item(&name, &ps));
                m.parents.insert(name, ps);
            }
            _ => {
                let ps: Vec<String> = (0..below(rng, 4))
                    .filter(|_| !higher.is_empty())
                    .map(|_| higher[below(rng, higher.len() as u64) as usize].clone())
                    .collect();
                patch = patch.upsert(item(&name, &ps));
                m.parents.insert(name, ps);
            }
        }
    }
    patch
}

/// One run: a generated hierarchy under budget `budget` (`None`: the
/// default), checked, then patched `steps` times, checked after each.
/// Returns whether the store had bits at the start and at the end.
fn run(seed: u64, groups: usize, users: usize, budget: Option<usize>, steps: usize) -> (bool, bool) {
    let mut rng = SplitMix64::new(seed);
    let program = common::program(POLICY);
    let mut m = generate(&mut rng, groups, users);
    let mut store = Store::load(Arc::clone(&program), &m.entities()).unwrap();
    if let Some(b) = budget {
        store = store.with_ancestor_budget(b);
    }
    let at_start = store.has_ancestor_bits();
    check_store(&store, &m);
    let engines = engines(&program, store);
    check_decisions(&engines, &m, &mut rng);
    let mut fresh = 0;
    for step in 0..steps {
        let patch = random_patch(&mut rng, &mut m, &mut fresh);
        for e in &engines {
            e.update_entities(&patch).unwrap_or_else(|err| panic!("step {step}: {err:?}"));
        }
        let store = Arc::clone(&engines[0].loaded().store);
        check_store(&store, &m);
        check_store(&engines[1].loaded().store, &m);
        check_decisions(&engines, &m, &mut rng);
    }
    (at_start, engines[0].loaded().store.has_ancestor_bits())
}

#[test]
fn bits_agree_with_ancestor_lists_on_generated_hierarchies() {
    for seed in 0..3 {
        // 90 groups: two words per row; a patch's new groups widen them.
        let (start, _) = run(seed, 90, 20, None, 5);
        assert!(start, "seed {seed}: the default budget holds these rows");
    }
}

#[test]
fn without_bits_the_lists_decide_alike() {
    let (start, end) = run(7, 90, 20, Some(0), 4);
    assert!(!start && !end);
}

#[test]
fn a_patch_past_the_budget_drops_the_bits_and_decides_alike() {
    // Exactly the load's rows: 90 groups are at most 89 ranks, two words,
    // for 90 + 20 + 1 entities. New parents add entities and ranks: past it.
    let rows = (90 + 20 + 1) * 2 * 8;
    let (start, end) = run(11, 90, 20, Some(rows), 12);
    assert!(start, "the load fits");
    assert!(!end, "patches growing the rows past the budget dropped them");
}

/// `principal in resource.owner`: the ancestor an attribute of the store,
/// for a store entity and for one the request brings.
#[test]
fn an_attribute_ancestor_is_tested_natively_and_exactly() {
    let program = common::program(POLICY);
    let mut m = generate(&mut SplitMix64::new(3), 70, 10);
    m.parents.remove("Doc:d");
    let mut list = m.entities().as_array().unwrap().clone();
    list.push(json!({"uid": uid("Doc:d"), "attrs": {"owner": uid("Group:g40")}}));
    let store = Store::load(Arc::clone(&program), &Json::Array(list)).unwrap();
    let engines = engines(&program, store);
    let mut principals: Vec<String> = m.parents.keys().cloned().collect();
    principals.push("User:stranger".into());
    for p in &principals {
        let want = if p == "Group:g40" || m.above(p).contains("Group:g40") { Effect::Allow } else { Effect::Deny };
        for e in &engines {
            assert_eq!(e.check_at(&request(p, "owned", json!({})), NOON).effect(), want, "{p} ({:?})", e.backend());
        }
    }
}
