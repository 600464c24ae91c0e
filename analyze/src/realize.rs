//! From a solver's model to a concrete counterexample: a request and an
//! entity store (Cedar's JSON shapes) per program, and a decision time.
//!
//! Entities the model names become entities with readable ids; attributes
//! the query never read get plain default values; sets get the members the
//! model chose plus fresh padding up to their size; hierarchy facts become
//! parent edges (through fresh intermediate entities where the schema
//! requires a path of types).

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{Map, Value as Json, json};
use ward_compiler::ir::{Field, Program, Ty};

use crate::encode::{AppValue, Encoding, Side, ip_of_code};
use crate::sexp::Sexp;
use crate::vocab::Vocab;

/// The values a solver gave to the terms asked for.
#[derive(Debug, Clone, Default)]
pub struct Model {
    values: HashMap<String, Sexp>,
}

impl Model {
    pub fn new(terms: &[String], values: Vec<Sexp>) -> Model {
        Model { values: terms.iter().cloned().zip(values).collect() }
    }

    pub fn raw(&self, term: &str) -> Option<&Sexp> {
        self.values.get(term)
    }

    /// An integer term's value (literal terms are read without asking).
    pub fn int(&self, term: &str) -> Option<i128> {
        if let Ok(v) = term.parse::<i128>() {
            return Some(v);
        }
        if let Some(rest) = term.strip_prefix("(- ").and_then(|r| r.strip_suffix(')'))
            && let Ok(v) = rest.parse::<i128>()
        {
            return Some(-v);
        }
        self.values.get(term).and_then(Sexp::int)
    }

    pub fn bool(&self, term: &str) -> Option<bool> {
        match term {
            "true" => Some(true),
            "false" => Some(false),
            _ => self.values.get(term).and_then(Sexp::boolean),
        }
    }

    pub fn string(&self, term: &str) -> Option<String> {
        self.values.get(term).and_then(Sexp::string).map(str::to_string)
    }

    /// An integer's decimal text, whatever its size (IP codes exceed i128).
    fn digits(&self, term: &str) -> Option<String> {
        match self.values.get(term)? {
            Sexp::Atom(a) if a.bytes().all(|b| b.is_ascii_digit()) => Some(a.clone()),
            _ => None,
        }
    }
}

/// Every term realization reads, plus `extra`.
pub fn wanted(enc: &Encoding, extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut add = |t: &str, out: &mut Vec<String>| {
        if t.is_empty() || t == "true" || t == "false" || t.parse::<i128>().is_ok() || t.starts_with("(- ") {
            return;
        }
        if seen.insert(t.to_string()) {
            out.push(t.to_string());
        }
    };
    add(&enc.request.principal, &mut out);
    add(&enc.request.resource, &mut out);
    add(&enc.request.now, &mut out);
    for (d, o) in &enc.request.delegators {
        add(d, &mut out);
        add(o, &mut out);
    }
    for (t, _) in &enc.entities {
        add(t, &mut out);
        add(&format!("(ety {t})"), &mut out);
        add(&format!("(listed {t})"), &mut out);
    }
    for a in &enc.attrs {
        match &a.value {
            AppValue::Scalar(v) => add(v, &mut out),
            AppValue::Cidr(x, y) => {
                add(x, &mut out);
                add(y, &mut out);
            }
            AppValue::Set(_) => {}
        }
    }
    for c in &enc.context {
        match &c.value {
            AppValue::Scalar(v) => add(v, &mut out),
            AppValue::Cidr(x, y) => {
                add(x, &mut out);
                add(y, &mut out);
            }
            AppValue::Set(_) => {}
        }
    }
    for (_, _, t) in &enc.presences {
        add(t, &mut out);
    }
    for (k, s) in enc.sets.iter().enumerate() {
        add(&s.size, &mut out);
        for x in enc.set_members.get(k).into_iter().flatten() {
            add(x, &mut out);
            let mem = match &s.owner {
                Some(o) => format!("({} {o} {x})", s.mem_fn),
                None => format!("({} {x})", s.mem_fn),
            };
            add(&mem, &mut out);
        }
    }
    for (x, y) in &enc.pairs {
        add(&format!("(anc {x} {y})"), &mut out);
    }
    for t in extra {
        add(t, &mut out);
    }
    out
}

/// A concrete scenario: the decision time, and per program the request
/// and the entity store as that program's schema sees them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct World {
    pub now: i64,
    pub requests: Vec<Json>,
    pub entities: Vec<Json>,
}

struct Ent {
    ty: u32,
    id: String,
    listed: bool,
    parents: Vec<usize>,
}

struct Builder<'a> {
    vocab: &'a Vocab,
    sides: &'a [Side<'a>],
    enc: &'a Encoding,
    model: &'a Model,
    ents: Vec<Ent>,
    by_value: HashMap<i128, usize>,
    used_ids: HashMap<u32, Vec<String>>,
    counter: usize,
    /// `(attribute key, owner value)` → the read.
    attrs: HashMap<(String, i128), usize>,
    presence: HashMap<(String, Option<i128>), bool>,
    sets: HashMap<(String, Option<i128>), usize>,
    context: HashMap<String, usize>,
    /// One unlisted entity per type stands for every attribute nothing reads.
    defaults: HashMap<u32, usize>,
}

/// Builds the scenario the model describes.
pub fn realize(vocab: &Vocab, sides: &[Side<'_>], enc: &Encoding, model: &Model) -> Result<World, String> {
    let mut b = Builder {
        vocab,
        sides,
        enc,
        model,
        ents: Vec::new(),
        by_value: HashMap::new(),
        used_ids: HashMap::new(),
        counter: 0,
        attrs: HashMap::new(),
        presence: HashMap::new(),
        sets: HashMap::new(),
        context: HashMap::new(),
        defaults: HashMap::new(),
    };
    for (k, (t, id)) in vocab.literals.iter().enumerate() {
        let _ = k;
        b.used_ids.entry(*t).or_default().push(id.clone());
    }
    // Entities.
    for (t, _) in &enc.entities {
        let Some(v) = model.int(t) else { continue };
        if b.by_value.contains_key(&v) {
            continue;
        }
        let ty = match vocab.literal_of(v) {
            Some((lt, _)) => *lt,
            None => model
                .int(&format!("(ety {t})"))
                .and_then(|x| u32::try_from(x).ok())
                .ok_or_else(|| format!("the model gives no type for entity {t}"))?,
        };
        let listed = model.bool(&format!("(listed {t})")).unwrap_or(false);
        let id = match vocab.literal_of(v) {
            Some((_, id)) => id.clone(),
            None => b.fresh_id(ty),
        };
        b.by_value.insert(v, b.ents.len());
        b.ents.push(Ent { ty, id, listed, parents: Vec::new() });
    }
    for (i, a) in enc.attrs.iter().enumerate() {
        let Some(owner) = model.int(&a.owner) else { continue };
        let key = format!("{}.{}#{}", vocab.type_name(a.ty), a.path.join("."), a.sig);
        b.attrs.insert((key, owner), i);
    }
    for (key, owner, term) in &enc.presences {
        let owner_value = match owner {
            Some(o) => match model.int(o) {
                Some(v) => Some(v),
                None => continue,
            },
            None => None,
        };
        if let Some(v) = model.bool(term) {
            b.presence.insert((key.clone(), owner_value), v);
        }
    }
    for (k, s) in enc.sets.iter().enumerate() {
        let owner = match &s.owner {
            Some(o) => match model.int(o) {
                Some(v) => Some(v),
                None => continue,
            },
            None => None,
        };
        b.sets.insert((s.mem_fn.clone(), owner), k);
    }
    for (i, c) in enc.context.iter().enumerate() {
        b.context.insert(format!("{}#{}", c.path.join("."), c.sig), i);
    }
    // Hierarchy edges.
    for (x, y) in &enc.pairs {
        if model.bool(&format!("(anc {x} {y})")) != Some(true) {
            continue;
        }
        let (Some(vx), Some(vy)) = (model.int(x), model.int(y)) else { continue };
        if vx == vy {
            continue;
        }
        let (Some(ix), Some(iy)) = (b.by_value.get(&vx).copied(), b.by_value.get(&vy).copied()) else { continue };
        b.edge(ix, iy)?;
    }
    let now = model.int(&enc.request.now).ok_or("the model gives no decision time")?;
    let now = i64::try_from(now).map_err(|_| format!("decision time {now} is out of range"))?;
    let mut requests = Vec::new();
    let mut entities = Vec::new();
    for side in sides {
        requests.push(b.request(side)?);
        entities.push(Json::Null);
    }
    // Entities last: rendering requests may have created entities (defaults).
    for (i, side) in sides.iter().enumerate() {
        let all = b.entities(side)?;
        let kept = reachable(all, requests.get(i).unwrap_or(&Json::Null), &b.observed());
        if let Some(slot) = entities.get_mut(i) {
            *slot = kept;
        }
    }
    Ok(World { now, requests, entities })
}

impl Builder<'_> {
    /// Entities whose attributes (or their presence) the query read.
    fn observed(&self) -> std::collections::HashSet<(String, String)> {
        let owners = self.attrs.keys().map(|(_, o)| *o).chain(self.presence.keys().filter_map(|(_, o)| *o));
        owners
            .filter_map(|v| self.by_value.get(&v))
            .filter_map(|i| self.ents.get(*i))
            .map(|e| (self.vocab.type_name(e.ty).to_string(), e.id.clone()))
            .collect()
    }

    fn fresh_id(&mut self, ty: u32) -> String {
        let base = self.vocab.type_name(ty).to_lowercase();
        loop {
            self.counter += 1;
            let id = format!("{base}-{}", self.counter);
            let used = self.used_ids.entry(ty).or_default();
            if !used.contains(&id) {
                used.push(id.clone());
                return id;
            }
        }
    }

    fn fresh_entity(&mut self, ty: u32, listed: bool) -> usize {
        let id = self.fresh_id(ty);
        self.ents.push(Ent { ty, id, listed, parents: Vec::new() });
        self.ents.len() - 1
    }

    /// `x` is in `y`: a parent edge, or a path of fresh entities where the
    /// schema only allows `y`'s type further up.
    fn edge(&mut self, x: usize, y: usize) -> Result<(), String> {
        let (Some(tx), Some(ty)) = (self.ents.get(x).map(|e| e.ty), self.ents.get(y).map(|e| e.ty)) else {
            return Ok(());
        };
        let path = self.type_path(tx, ty).ok_or_else(|| {
            format!(
                "no chain of parent types leads from `{}` to `{}`",
                self.vocab.type_name(tx),
                self.vocab.type_name(ty)
            )
        })?;
        let mut current = x;
        for t in path.iter().skip(1).take(path.len().saturating_sub(2)) {
            let fresh = self.fresh_entity(*t, true);
            if let Some(e) = self.ents.get_mut(current) {
                e.parents.push(fresh);
            }
            current = fresh;
        }
        if let Some(e) = self.ents.get_mut(current)
            && !e.parents.contains(&y)
        {
            e.parents.push(y);
        }
        Ok(())
    }

    /// The shortest chain of types from `from` up to `to` (both included).
    fn type_path(&self, from: u32, to: u32) -> Option<Vec<u32>> {
        let mut prev: BTreeMap<u32, u32> = BTreeMap::new();
        let mut queue = VecDeque::from([from]);
        while let Some(t) = queue.pop_front() {
            for p in self.vocab.parents.get(t as usize).into_iter().flatten() {
                if *p == to {
                    let mut path = vec![to, t];
                    let mut cur = t;
                    while let Some(q) = prev.get(&cur) {
                        path.push(*q);
                        cur = *q;
                    }
                    path.reverse();
                    return Some(path);
                }
                if *p != from && !prev.contains_key(p) {
                    prev.insert(*p, t);
                    queue.push_back(*p);
                }
            }
        }
        None
    }

    fn entity_ref(&self, i: usize) -> Json {
        match self.ents.get(i) {
            Some(e) => json!({"type": self.vocab.type_name(e.ty), "id": e.id}),
            None => Json::Null,
        }
    }

    /// The entity an entity value stands for (created, unlisted, if the
    /// model never named it).
    fn entity_for(&mut self, value: i128, types: &[u32]) -> usize {
        if let Some(i) = self.by_value.get(&value) {
            return *i;
        }
        let ty = types.first().copied().unwrap_or(0);
        let i = self.fresh_entity(ty, false);
        self.by_value.insert(value, i);
        i
    }

    fn request(&mut self, side: &Side<'_>) -> Result<Json, String> {
        let enc = self.enc;
        let p = self.model.int(&enc.request.principal).ok_or("the model gives no principal")?;
        let r = self.model.int(&enc.request.resource).ok_or("the model gives no resource")?;
        let (ip, ir) = (self.entity_for(p, &[]), self.entity_for(r, &[]));
        let mut obj = Map::new();
        obj.insert("principal".into(), self.entity_ref(ip));
        obj.insert("action".into(), Json::String(enc.action.clone()));
        obj.insert("resource".into(), self.entity_ref(ir));
        let fields: Vec<Field> =
            side.program.actions.iter().find(|a| a.name == enc.action).map(|a| a.context.clone()).unwrap_or_default();
        let context = self.context_record(side.program, &[], &fields)?;
        obj.insert("context".into(), Json::Object(context));
        let mut chain = Vec::new();
        for (d, o) in &enc.request.delegators {
            if self.model.bool(d) == Some(true)
                && let Some(v) = self.model.int(o)
            {
                let i = self.entity_for(v, &[]);
                chain.push(self.entity_ref(i));
            }
        }
        if !chain.is_empty() {
            obj.insert("on_behalf_of".into(), Json::Array(chain));
        }
        Ok(Json::Object(obj))
    }

    fn context_record(
        &mut self,
        program: &Program,
        prefix: &[String],
        fields: &[Field],
    ) -> Result<Map<String, Json>, String> {
        let mut out = Map::new();
        for f in fields {
            let mut path = prefix.to_vec();
            path.push(f.name.clone());
            let sig = self.vocab.sig(program, &f.ty);
            let key = format!("{}#{sig}", path.join("."));
            if self.presence.get(&(format!("cp:{key}"), None)) != Some(&true) {
                continue;
            }
            let v = match &f.ty {
                Ty::Record(sub) => Json::Object(self.context_record(program, &path, sub)?),
                ty => match self.context.get(&key).and_then(|i| self.enc.context.get(*i)).map(|c| c.value.clone()) {
                    Some(app) => self.render(program, ty, &app)?,
                    None => self.default(program, ty),
                },
            };
            out.insert(f.name.clone(), v);
        }
        Ok(out)
    }

    fn entities(&mut self, side: &Side<'_>) -> Result<Json, String> {
        let program = side.program;
        let mut out = Vec::new();
        let mut i = 0;
        // Rendering attributes may create entities (defaults): a growing list.
        while i < self.ents.len() {
            let Some(e) = self.ents.get(i) else { break };
            let (ty, listed, id) = (e.ty, e.listed, e.id.clone());
            let parents = e.parents.clone();
            i += 1;
            if !listed {
                continue;
            }
            let tname = self.vocab.type_name(ty).to_string();
            let Some(et) = program.entity_types.iter().find(|t| t.name == tname) else { continue };
            let Some(value) = self.by_value.iter().find(|(_, ix)| **ix == i - 1).map(|(v, _)| *v) else {
                // A fresh entity (intermediate or default): default attributes.
                let attrs = self.default_record(program, &et.attrs.clone());
                out.push(json!({"uid": {"type": tname, "id": id}, "attrs": attrs, "parents": self.parent_refs(program, &parents)}));
                continue;
            };
            let attrs = self.attr_record(side, &tname, &[], &et.attrs.clone(), value)?;
            out.push(json!({"uid": {"type": tname, "id": id}, "attrs": attrs, "parents": self.parent_refs(program, &parents)}));
        }
        Ok(Json::Array(out))
    }

    fn parent_refs(&self, program: &Program, parents: &[usize]) -> Json {
        Json::Array(
            parents
                .iter()
                .filter(|p| {
                    self.ents
                        .get(**p)
                        .is_some_and(|e| program.entity_types.iter().any(|t| t.name == self.vocab.type_name(e.ty)))
                })
                .map(|p| self.entity_ref(*p))
                .collect(),
        )
    }

    fn attr_record(
        &mut self,
        side: &Side<'_>,
        tname: &str,
        prefix: &[String],
        fields: &[Field],
        owner: i128,
    ) -> Result<Json, String> {
        let program = side.program;
        let mut out = Map::new();
        for f in fields {
            let mut path = prefix.to_vec();
            path.push(f.name.clone());
            let sig = self.vocab.sig(program, &f.ty);
            let key = format!("{tname}.{}#{sig}", path.join("."));
            let required = !f.optional || crate::encode::required_anywhere(self.vocab, self.sides, tname, &path, &sig);
            if !required && self.presence.get(&(format!("h:{key}"), Some(owner))) != Some(&true) {
                continue;
            }
            let v = match &f.ty {
                Ty::Record(sub) => self.attr_record(side, tname, &path, sub, owner)?,
                ty => match self.attrs.get(&(key, owner)).and_then(|i| self.enc.attrs.get(*i)).map(|a| a.value.clone())
                {
                    Some(app) => self.render(program, ty, &app)?,
                    None => self.default(program, ty),
                },
            };
            out.insert(f.name.clone(), v);
        }
        Ok(Json::Object(out))
    }

    fn default_record(&mut self, program: &Program, fields: &[Field]) -> Json {
        let mut out = Map::new();
        for f in fields.iter().filter(|f| !f.optional) {
            let v = self.default(program, &f.ty);
            out.insert(f.name.clone(), v);
        }
        Json::Object(out)
    }

    /// A value of `ty` that nothing observes.
    fn default(&mut self, program: &Program, ty: &Ty) -> Json {
        match ty {
            Ty::Bool => Json::Bool(false),
            Ty::Int | Ty::Time | Ty::Duration => json!(0),
            Ty::Decimal => json!("0.0"),
            Ty::Date => json!("1970-01-01"),
            Ty::String => json!(""),
            Ty::Ip => json!("0.0.0.0"),
            Ty::Cidr => json!("0.0.0.0/0"),
            Ty::Entity(types) => {
                let g = types
                    .first()
                    .and_then(|t| program.entity_types.get(*t as usize))
                    .and_then(|t| self.vocab.type_named(&t.name))
                    .unwrap_or(0);
                let i = match self.defaults.get(&g) {
                    Some(i) => *i,
                    None => {
                        let i = self.fresh_entity(g, false);
                        self.defaults.insert(g, i);
                        i
                    }
                };
                self.entity_ref(i)
            }
            Ty::Enum(e) => {
                program.enums.get(*e as usize).and_then(|x| x.variants.first()).map_or(Json::Null, |v| json!(v))
            }
            Ty::Action => program.actions.iter().find(|a| !a.is_group).map_or(Json::Null, |a| json!(a.name)),
            Ty::Set(_) => json!([]),
            Ty::Record(fields) => self.default_record(program, fields),
            Ty::Unknown => Json::Null,
        }
    }

    fn render(&mut self, program: &Program, ty: &Ty, app: &AppValue) -> Result<Json, String> {
        match (ty, app) {
            (Ty::Set(elem), AppValue::Set(k)) => self.render_set(program, elem, *k),
            (Ty::Cidr, AppValue::Cidr(a, len)) => {
                let ip = self.model.digits(a).and_then(|d| ip_of_code(&d)).ok_or("a CIDR range without an address")?;
                let len = self.model.int(len).ok_or("a CIDR range without a length")?;
                Ok(json!(format!("{ip}/{len}")))
            }
            (ty, AppValue::Scalar(t)) => self.scalar(program, ty, t),
            _ => Ok(self.default(program, ty)),
        }
    }

    fn scalar(&mut self, program: &Program, ty: &Ty, t: &str) -> Result<Json, String> {
        let m = self.model;
        let int = || m.int(t).ok_or_else(|| format!("the model gives no value for {t}"));
        let i64_of = |v: i128| i64::try_from(v).map_err(|_| format!("{v} does not fit in 64 bits"));
        Ok(match ty {
            Ty::Bool => Json::Bool(m.bool(t).ok_or_else(|| format!("the model gives no value for {t}"))?),
            Ty::Int | Ty::Time | Ty::Duration => json!(i64_of(int()?)?),
            Ty::Decimal => json!(decimal_text(i64_of(int()?)?)),
            Ty::Date => json!(date_text(i64_of(int()?)?)),
            Ty::String => json!(m.string(t).ok_or_else(|| format!("the model gives no string for {t}"))?),
            Ty::Ip => {
                let ip = m.digits(t).and_then(|d| ip_of_code(&d)).ok_or_else(|| format!("{t} is not an IP address"))?;
                json!(ip.to_string())
            }
            Ty::Entity(types) => {
                let globals: Vec<u32> = types
                    .iter()
                    .filter_map(|x| program.entity_types.get(*x as usize))
                    .filter_map(|x| self.vocab.type_named(&x.name))
                    .collect();
                let i = self.entity_for(int()?, &globals);
                self.entity_ref(i)
            }
            Ty::Enum(e) => {
                let name = program.enums.get(*e as usize).map(|x| x.name.clone()).unwrap_or_default();
                let g = self.vocab.enum_named(&name);
                let v = int()?;
                let text = g
                    .and_then(|g| self.vocab.enums.get(g as usize))
                    .and_then(|(_, vals)| vals.get(usize::try_from(v).ok()?))
                    .ok_or_else(|| format!("{v} is not a value of `{name}`"))?;
                json!(text)
            }
            Ty::Action => {
                let v = int()?;
                json!(
                    self.vocab
                        .actions
                        .get(usize::try_from(v).unwrap_or(usize::MAX))
                        .ok_or_else(|| format!("{v} is not an action"))?
                )
            }
            _ => self.default(program, ty),
        })
    }

    fn render_set(&mut self, program: &Program, elem: &Ty, k: usize) -> Result<Json, String> {
        let enc = self.enc;
        let Some(s) = enc.sets.get(k) else { return Ok(json!([])) };
        let size = self.model.int(&s.size).unwrap_or(0).clamp(0, crate::encode::MAX_SET);
        let mut members: Vec<String> = Vec::new();
        let mut seen_values: Vec<Json> = Vec::new();
        let mut out = Vec::new();
        for x in enc.set_members.get(k).into_iter().flatten() {
            let mem = match &s.owner {
                Some(o) => format!("({} {o} {x})", s.mem_fn),
                None => format!("({} {x})", s.mem_fn),
            };
            if self.model.bool(&mem) != Some(true) {
                continue;
            }
            let v = self.scalar(program, elem, x)?;
            if !seen_values.contains(&v) {
                seen_values.push(v.clone());
                out.push(v);
                members.push(x.clone());
            }
        }
        // Padding: fresh elements no query term equals.
        let mut n = 0usize;
        while (out.len() as i128) < size {
            n += 1;
            let v = match elem {
                Ty::String => json!(format!("pad-{n}")),
                Ty::Int | Ty::Time | Ty::Duration => json!(1_000_000_007_i64 + n as i64),
                Ty::Decimal => json!(decimal_text(1_000_000_007 + n as i64)),
                Ty::Date => json!(date_text(40_000 + n as i64)),
                Ty::Ip => json!(format!("fd00::{:x}", n)),
                Ty::Entity(types) => {
                    let g = types
                        .first()
                        .and_then(|t| program.entity_types.get(*t as usize))
                        .and_then(|t| self.vocab.type_named(&t.name))
                        .unwrap_or(0);
                    let i = self.fresh_entity(g, false);
                    self.entity_ref(i)
                }
                _ => break,
            };
            if !seen_values.contains(&v) {
                seen_values.push(v.clone());
                out.push(v);
            }
            if n > crate::encode::MAX_SET as usize * 2 {
                break;
            }
        }
        Ok(Json::Array(out))
    }
}

/// The listed entities a request can reach (through attributes, set
/// members and parents), and those whose attributes the query read or that
/// have parents: the others cannot matter to the decision.
fn reachable(all: Json, request: &Json, observed: &std::collections::HashSet<(String, String)>) -> Json {
    let Json::Array(list) = all else { return all };
    let key = |v: &Json| -> Option<(String, String)> {
        Some((v.get("type")?.as_str()?.to_string(), v.get("id")?.as_str()?.to_string()))
    };
    let mut stack = vec![request.clone()];
    let by_uid: HashMap<(String, String), usize> =
        list.iter().enumerate().filter_map(|(i, e)| Some((key(e.get("uid")?)?, i))).collect();
    let mut keep = vec![false; list.len()];
    for (k, i) in &by_uid {
        let has_parents =
            list.get(*i).and_then(|e| e.get("parents")).and_then(Json::as_array).is_some_and(|p| !p.is_empty());
        if (observed.contains(k) || has_parents)
            && let Some(slot) = keep.get_mut(*i)
        {
            *slot = true;
            if let Some(e) = list.get(*i) {
                stack.push(e.clone());
            }
        }
    }
    while let Some(v) = stack.pop() {
        match &v {
            Json::Object(map) => {
                if let Some(k) = key(&v)
                    && let Some(i) = by_uid.get(&k)
                    && keep.get(*i) == Some(&false)
                {
                    if let Some(slot) = keep.get_mut(*i) {
                        *slot = true;
                    }
                    if let Some(e) = list.get(*i) {
                        stack.push(e.get("attrs").cloned().unwrap_or(Json::Null));
                        stack.push(e.get("parents").cloned().unwrap_or(Json::Null));
                    }
                }
                for (k, x) in map {
                    if k != "uid" {
                        stack.push(x.clone());
                    }
                }
            }
            Json::Array(items) => stack.extend(items.iter().cloned()),
            _ => {}
        }
    }
    Json::Array(list.into_iter().zip(keep).filter(|(_, k)| *k).map(|(e, _)| e).collect())
}

/// A scaled decimal (4 digits) as text.
pub fn decimal_text(v: i64) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    format!("{sign}{}.{:04}", a / 10_000, a % 10_000)
}

/// A day number as `YYYY-MM-DD`.
pub fn date_text(days: i64) -> String {
    let (y, m, d) = ward_runtime::interp::civil(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A time (ms since the epoch) as RFC 3339.
pub fn time_text(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (h, mi, s, milli) = (rest / 3_600_000, rest / 60_000 % 60, rest / 1000 % 60, rest % 1000);
    if milli == 0 {
        format!("{}T{h:02}:{mi:02}:{s:02}Z", date_text(days))
    } else {
        format!("{}T{h:02}:{mi:02}:{s:02}.{milli:03}Z", date_text(days))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(decimal_text(-12_345), "-1.2345");
        assert_eq!(decimal_text(2_500_000), "250.0000");
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(time_text(86_400_000 + 3_723_004), "1970-01-02T01:02:03.004Z");
    }
}
