//! A random falsifier, independent of the encoding: requests and entity
//! stores drawn at random from a schema (with the constants the policies
//! mention, so conditions are often met), decided by the engine under two
//! programs. The mutation corpus uses it to check the solver's proofs:
//! wherever random testing finds a widening, `ward diff` must not have
//! proved there is none.

use std::sync::Arc;

use serde_json::{Value as Json, json};
use ward_compiler::ir::{Const, ExprKind, Field, Program, Ty};
use ward_runtime::{Backend, Engine, FixedClock, Loaded, Request, Store};

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }
}

/// Constants of the programs, by kind: what random values are drawn from.
#[derive(Default)]
struct Pools {
    ints: Vec<i64>,
    strings: Vec<String>,
    ips: Vec<String>,
}

fn pools(programs: &[&Program]) -> Pools {
    let mut p = Pools { ints: vec![0, 1, -1, 2, 5, 100, 250_0000], ..Pools::default() };
    p.strings = vec![String::new(), "x".into(), "a@b.example".into()];
    p.ips = vec!["10.1.2.3".into(), "127.0.0.1".into(), "8.8.8.8".into(), "192.168.1.1".into(), "::1".into()];
    for program in programs {
        for e in program.rules.iter().flat_map(|r| &r.exprs) {
            match &e.kind {
                ExprKind::Const(Const::Int(i)) => {
                    for d in [-1, 0, 1] {
                        if let Some(v) = i.checked_add(d) {
                            p.ints.push(v);
                        }
                    }
                }
                ExprKind::Const(Const::Str(s)) => {
                    if let Some(text) = program.strings.get(*s as usize) {
                        p.strings.push(text.clone());
                        p.strings.push(format!("{text}x"));
                    }
                }
                ExprKind::Const(Const::Cidr(c)) => {
                    if let Some(base) = c.split('/').next() {
                        p.ips.push(base.to_string());
                    }
                }
                _ => {}
            }
        }
        for pat in &program.patterns {
            if let ward_compiler::ir::Pattern::Glob(g) = pat {
                p.strings.push(g.replace('*', "q"));
            }
        }
    }
    p.ints.sort_unstable();
    p.ints.dedup();
    p.strings.sort();
    p.strings.dedup();
    p
}

/// One random scenario.
pub struct Sample {
    pub request: Json,
    pub entities: Json,
    pub now: i64,
}

struct Gen<'a> {
    program: &'a Program,
    rng: Rng,
    pools: Pools,
    /// Per type: the entity ids in the pool.
    ids: Vec<Vec<String>>,
}

impl Gen<'_> {
    fn entity(&mut self, types: &[u32]) -> Json {
        let t = self.rng.pick(types).copied().unwrap_or(0);
        let id = self.ids.get(t as usize).and_then(|ids| self.rng.pick(ids)).cloned().unwrap_or_else(|| "e0".into());
        let name = self.program.entity_types.get(t as usize).map_or("?", |x| x.name.as_str());
        json!({"type": name, "id": id})
    }

    fn value(&mut self, ty: &Ty, depth: usize) -> Json {
        match ty {
            Ty::Bool => json!(self.rng.chance(50)),
            Ty::Int => json!(*self.rng.pick(&self.pools.ints).unwrap_or(&0)),
            Ty::Decimal => {
                let v = *self.rng.pick(&self.pools.ints).unwrap_or(&0);
                json!(crate::realize::decimal_text(v))
            }
            Ty::Duration | Ty::Time => json!(*self.rng.pick(&self.pools.ints).unwrap_or(&0)),
            Ty::Date => json!(crate::realize::date_text(20_000 + self.rng.below(1000) as i64)),
            Ty::String => json!(self.rng.pick(&self.pools.strings).cloned().unwrap_or_default()),
            Ty::Ip => json!(self.rng.pick(&self.pools.ips).cloned().unwrap_or_default()),
            Ty::Cidr => json!("10.0.0.0/8"),
            Ty::Entity(types) => self.entity(types),
            Ty::Enum(e) => {
                let variants = self.program.enums.get(*e as usize).map(|x| x.variants.clone()).unwrap_or_default();
                json!(self.rng.pick(&variants).cloned().unwrap_or_default())
            }
            Ty::Action => {
                let names: Vec<String> = self.program.actions.iter().map(|a| a.name.clone()).collect();
                json!(self.rng.pick(&names).cloned().unwrap_or_default())
            }
            Ty::Set(elem) if depth < 3 => {
                let n = self.rng.below(4);
                let mut items: Vec<Json> = Vec::new();
                for _ in 0..n {
                    let v = self.value(elem, depth + 1);
                    if !items.contains(&v) {
                        items.push(v);
                    }
                }
                Json::Array(items)
            }
            Ty::Record(fields) if depth < 3 => self.record(fields, depth + 1),
            _ => json!([]),
        }
    }

    fn record(&mut self, fields: &[Field], depth: usize) -> Json {
        let mut out = serde_json::Map::new();
        for f in fields {
            if f.optional && self.rng.chance(40) {
                continue;
            }
            let v = self.value(&f.ty, depth);
            out.insert(f.name.clone(), v);
        }
        Json::Object(out)
    }
}

/// Draws `count` scenarios for requests of `action` under `program`'s schema.
pub fn samples(programs: &[&Program], action: &str, seed: u64, count: usize) -> Vec<Sample> {
    let Some(program) = programs.first() else { return Vec::new() };
    let Some(info) = program.actions.iter().find(|a| a.name == action && !a.is_group) else { return Vec::new() };
    let mut g = Gen { program, rng: Rng(seed | 1), pools: pools(programs), ids: Vec::new() };
    // Three entities per type, and the literals the policies name.
    g.ids = program
        .entity_types
        .iter()
        .map(|t| (0..3).map(|i| format!("{}-{i}", t.name.to_lowercase())).collect())
        .collect();
    for (t, id) in &program.entity_literals {
        if let Some(list) = g.ids.get_mut(*t as usize)
            && !list.contains(id)
        {
            list.push(id.clone());
        }
    }
    let all_types: Vec<u32> = (0..program.entity_types.len() as u32).collect();
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        // Entities: each listed with most attributes, parents only "upwards"
        // in a fixed order (acyclic), of types the schema allows.
        let mut order: Vec<(u32, String)> = Vec::new();
        for (t, ids) in g.ids.iter().enumerate() {
            for id in ids {
                order.push((t as u32, id.clone()));
            }
        }
        let mut entities = Vec::new();
        for (i, (t, id)) in order.iter().enumerate() {
            if !g.rng.chance(90) {
                continue;
            }
            let Some(et) = program.entity_types.get(*t as usize) else { continue };
            let attrs = g.record(&et.attrs.clone(), 0);
            let mut parents = Vec::new();
            for (pt, pid) in order.iter().skip(i + 1) {
                if et.parents.contains(pt) && g.rng.chance(35) {
                    let name = program.entity_types.get(*pt as usize).map_or("?", |x| x.name.as_str());
                    parents.push(json!({"type": name, "id": pid}));
                }
            }
            entities.push(json!({"uid": {"type": et.name, "id": id}, "attrs": attrs, "parents": parents}));
        }
        let principals = info.principals.clone().unwrap_or_else(|| all_types.clone());
        let resources = info.resources.clone().unwrap_or_else(|| all_types.clone());
        let mut request = serde_json::Map::new();
        request.insert("principal".into(), g.entity(&principals));
        request.insert("action".into(), json!(action));
        request.insert("resource".into(), g.entity(&resources));
        request.insert("context".into(), g.record(&info.context.clone(), 0));
        if g.rng.chance(20) {
            let d = g.entity(&principals);
            request.insert("on_behalf_of".into(), json!([d]));
        }
        // Times around the policies' dates, and now.
        let now = 1_767_225_600_000 + (g.rng.below(3 * 365) as i64 - 365) * 86_400_000 + g.rng.below(86_400_000) as i64;
        out.push(Sample { request: Json::Object(request), entities: Json::Array(entities), now });
    }
    out
}

/// The effect rank (0 deny, 1 approval, 2 allow) of `sample` under
/// `program`, with a fresh engine (interpreter), or `None` if the sample
/// does not load.
pub fn decide(program: &Arc<Program>, sample: &Sample) -> Option<i128> {
    let store = Store::load(Arc::clone(program), &sample.entities).ok()?;
    let request = Request::from_json(&sample.request).ok()?;
    let engine = Engine::new(
        Loaded::new(Arc::clone(program), store, false),
        Arc::new(FixedClock::new(sample.now)),
        Backend::Interpreter,
    );
    Some(crate::replay::effect_rank(&engine.decide_at(&request, sample.now)))
}
