//! The entity store: entities loaded once (Cedar's JSON entity format),
//! checked against the schema, with their ancestors and their membership in
//! the entities the policy names computed up front — so that `in` is a bit
//! test or a binary search at decision time, never a walk of the graph.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value as Json;
use ward_ir::Program;

use crate::data::{self, DataError, Entities};
use crate::hash::FxHashMap;
use crate::value::{Raw, Record, Tables};

/// One entity.
#[derive(Debug, Clone)]
pub struct Entity {
    pub ty: u32,
    pub id: Box<str>,
    pub attrs: Record,
    /// Every entity this one is (transitively) in, sorted; not itself.
    pub ancestors: Box<[u32]>,
    /// Bit `k` is set when this entity is, or is in, the policy's entity
    /// literal `k` ([`Program::entity_literals`]).
    pub literal_bits: Box<[u64]>,
    /// Direct parents, as loaded.
    pub parents: Box<[u32]>,
}

impl Entity {
    pub fn in_literal(&self, k: u32) -> bool {
        self.literal_bits.get(k as usize / 64).is_some_and(|w| w & (1 << (k % 64)) != 0)
    }

    pub fn has_ancestor(&self, index: u32) -> bool {
        self.ancestors.binary_search(&index).is_ok()
    }
}

/// All entities, bound to one compiled program.
#[derive(Debug)]
pub struct Store {
    pub program: Arc<Program>,
    pub entities: Vec<Entity>,
    /// Per entity type: id → index (looked up by `&str`, without allocating).
    by_uid: Vec<FxHashMap<Box<str>, u32>>,
    /// Entity type names and action names → indexes, for reading requests.
    type_ids: FxHashMap<Box<str>, u32>,
    action_ids: FxHashMap<Box<str>, u32>,
    /// Whether any expression reads the delegation chain as a set (`chain`).
    pub uses_chain: bool,
    pub tables: Tables,
    /// The store index of each of the program's entity literals.
    pub literals: Vec<u32>,
    /// Handles of the program's IP and CIDR constants.
    pub constants: HashMap<ward_ir::Const, Raw>,
    /// The entities' attributes flattened for native code: per entity, its
    /// presence words then its slots, starting at `offsets[index]`.
    pub flat: Vec<u64>,
    pub offsets: Vec<u32>,
    /// Literal-membership bits, `bits_words` words per entity.
    pub bits: Vec<u64>,
    pub bits_words: usize,
}

/// Cedar's entity JSON: `[{"uid": {"type", "id"}, "attrs": {…}, "parents": […]}]`.
struct Pending {
    uid: (u32, Box<str>),
    attrs: Option<(Json, String)>,
    parents: Vec<u32>,
}

struct Resolver<'a> {
    program: &'a Program,
    by_uid: &'a mut HashMap<(u32, Box<str>), u32>,
    pending: &'a mut Vec<Pending>,
}

impl Resolver<'_> {
    fn type_index(&self, ty: &str, path: &str) -> Result<u32, DataError> {
        match self.program.entity_types.iter().position(|t| t.name == ty) {
            Some(i) => Ok(i as u32),
            None => {
                let names = self.program.entity_types.iter().map(|t| t.name.as_str());
                let help = ward_ir::did_you_mean(ty, names).map(|h| format!("; {h}")).unwrap_or_default();
                Err(data::error(path, format!("unknown entity type `{ty}`{help}")))
            }
        }
    }

    /// The index of an entity, creating an empty one if it was not listed.
    fn index(&mut self, ty: u32, id: &str) -> u32 {
        let key = (ty, Box::<str>::from(id));
        if let Some(i) = self.by_uid.get(&key) {
            return *i;
        }
        let i = self.pending.len() as u32;
        self.pending.push(Pending { uid: key.clone(), attrs: None, parents: Vec::new() });
        self.by_uid.insert(key, i);
        i
    }
}

impl Entities for Resolver<'_> {
    fn entity(&mut self, ty: &str, id: &str, path: &str) -> Result<(u32, Raw), DataError> {
        let t = self.type_index(ty, path)?;
        Ok((t, u64::from(self.index(t, id))))
    }
}

impl Store {
    /// An empty store (only the entities the policy itself declares).
    pub fn empty(program: Arc<Program>) -> Result<Store, DataError> {
        Store::load(program, &Json::Array(Vec::new()))
    }

    /// Loads entities from Cedar's JSON entity format.
    pub fn load(program: Arc<Program>, json: &Json) -> Result<Store, DataError> {
        let list = json.as_array().ok_or_else(|| {
            data::error("entities", format!("expected an array of entities, found {}", data::kind(json)))
        })?;
        let mut tables = Tables::default();
        for s in &program.strings {
            tables.intern(s);
        }
        let mut by_uid = HashMap::new();
        let mut pending: Vec<Pending> = Vec::new();
        let mut r = Resolver { program: &program, by_uid: &mut by_uid, pending: &mut pending };
        // The policy's own entities (agents, literals) exist even without data.
        let mut literals = Vec::with_capacity(program.entity_literals.len());
        for (ty, id) in &program.entity_literals {
            literals.push(r.index(*ty, id));
        }
        // Pass 1: every listed entity gets its index, so references resolve in any order.
        for (n, item) in list.iter().enumerate() {
            let path = format!("entities[{n}]");
            // Before the attributes are copied: a value built in memory may nest deeper than any stack.
            data::check_depth(item, &path)?;
            let uid = item.get("uid").ok_or_else(|| data::error(&path, "missing `uid`"))?;
            let (ty, id) = data::entity_ref(uid, &format!("{path}.uid"))?;
            let t = r.type_index(ty, &format!("{path}.uid.type"))?;
            let i = r.index(t, id) as usize;
            let attrs = item.get("attrs").cloned().unwrap_or(Json::Object(Default::default()));
            let label = format!("{ty}::{id:?}");
            if let Some(p) = r.pending.get_mut(i) {
                if p.attrs.is_some() {
                    return Err(data::error(&path, format!("entity {label} is listed twice")));
                }
                p.attrs = Some((attrs, label));
            }
        }
        for (n, item) in list.iter().enumerate() {
            let path = format!("entities[{n}]");
            let Some(uid) = item.get("uid") else { continue };
            let (ty, id) = data::entity_ref(uid, &path)?;
            let t = r.type_index(ty, &path)?;
            let i = r.index(t, id);
            let parents = match item.get("parents") {
                None | Some(Json::Null) => Vec::new(),
                Some(Json::Array(ps)) => ps.iter().collect(),
                Some(other) => {
                    return Err(data::error(
                        &format!("{path}.parents"),
                        format!("expected an array, found {}", data::kind(other)),
                    ));
                }
            };
            let mut indexes = Vec::new();
            for (k, p) in parents.into_iter().enumerate() {
                let ppath = format!("{path}.parents[{k}]");
                let (pty, pid) = data::entity_ref(p, &ppath)?;
                let pt = r.type_index(pty, &ppath)?;
                let allowed = program.entity_types.get(t as usize).is_some_and(|e| e.parents.contains(&pt));
                if !allowed {
                    return Err(data::error(&ppath, format!("the schema does not allow a `{ty}` to be in a `{pty}`")));
                }
                indexes.push(r.index(pt, pid));
            }
            if let Some(p) = r.pending.get_mut(i as usize) {
                p.parents = indexes;
            }
        }
        // The policy's agents: declared attributes and parents, merged under the data's.
        for agent in &program.agents {
            let Some(i) = literals.get(agent.entity as usize).copied() else { continue };
            let declared: Json = serde_json::from_str(&agent.attrs).unwrap_or(Json::Object(Default::default()));
            let parents: Vec<u32> = agent.parents.iter().filter_map(|k| literals.get(*k as usize).copied()).collect();
            if let Some(p) = r.pending.get_mut(i as usize) {
                let merged = match (&p.attrs, declared) {
                    (Some((Json::Object(data), label)), Json::Object(mut decl)) => {
                        for (k, v) in data {
                            decl.insert(k.clone(), v.clone());
                        }
                        (Json::Object(decl), label.clone())
                    }
                    (Some(existing), _) => existing.clone(),
                    (None, decl) => (decl, format!("agent `{}`", agent.name)),
                };
                p.attrs = Some(merged);
                for parent in parents {
                    if !p.parents.contains(&parent) {
                        p.parents.push(parent);
                    }
                }
            }
        }
        // Pass 2: attributes, now that every reference resolves.
        let mut attrs_out: Vec<Record> = Vec::with_capacity(pending.len());
        let count = pending.len();
        for i in 0..count {
            let (ty, json, label) = {
                let Some(p) = pending.get(i) else { break };
                let (json, label) = p.attrs.clone().unwrap_or((Json::Null, String::new()));
                (p.uid.0, json, label)
            };
            let fields = program.entity_types.get(ty as usize).map(|t| t.attrs.clone()).unwrap_or_default();
            let record = if json.is_null() {
                // Named by the policy or referenced, but not listed: no attributes.
                Record::new(fields.len())
            } else {
                let mut r = Resolver { program: &program, by_uid: &mut by_uid, pending: &mut pending };
                data::record(&json, &fields, &program, &mut tables, &mut r, &data::Path::Root(&label), 0)?
            };
            attrs_out.push(record);
        }
        // Records for entities created while reading attributes (references to unlisted ones).
        while attrs_out.len() < pending.len() {
            let ty = pending.get(attrs_out.len()).map_or(0, |p| p.uid.0);
            let fields = program.entity_types.get(ty as usize).map_or(0, |t| t.attrs.len());
            attrs_out.push(Record::new(fields));
        }
        let parents: Vec<Vec<u32>> = pending.iter().map(|p| p.parents.clone()).collect();
        let ancestors = closure(&parents);
        let mut literal_of: HashMap<u32, Vec<u32>> = HashMap::new();
        for (k, index) in literals.iter().enumerate() {
            literal_of.entry(*index).or_default().push(k as u32);
        }
        let words = program.entity_literals.len().div_ceil(64).max(1);
        let entities: Vec<Entity> = pending
            .into_iter()
            .zip(attrs_out)
            .zip(ancestors)
            .enumerate()
            .map(|(i, ((p, attrs), ancestors))| {
                let mut bits = vec![0u64; words];
                for a in ancestors.iter().copied().chain(std::iter::once(i as u32)) {
                    for k in literal_of.get(&a).into_iter().flatten() {
                        if let Some(w) = bits.get_mut(*k as usize / 64) {
                            *w |= 1 << (k % 64);
                        }
                    }
                }
                Entity {
                    ty: p.uid.0,
                    id: p.uid.1,
                    attrs,
                    ancestors: ancestors.into_boxed_slice(),
                    literal_bits: bits.into_boxed_slice(),
                    parents: p.parents.into_boxed_slice(),
                }
            })
            .collect();
        let mut constants = HashMap::new();
        let exprs = program.rules.iter().flat_map(|r| &r.exprs).chain(program.flows.iter().flat_map(|f| &f.exprs));
        for e in exprs {
            if let ward_ir::ExprKind::Const(c) = &e.kind {
                let handle = match c {
                    ward_ir::Const::Ip(s) => ward_ir::literals::ip(s).ok().map(|ip| tables.add_ip(ip)),
                    ward_ir::Const::Cidr(s) => ward_ir::literals::cidr(s).ok().map(|c| tables.add_cidr(c)),
                    _ => None,
                };
                if let Some(h) = handle {
                    constants.entry(c.clone()).or_insert(h);
                }
            }
        }
        let bits_words = words;
        let mut flat = Vec::new();
        let mut offsets = Vec::with_capacity(entities.len());
        let mut bits = Vec::with_capacity(entities.len() * bits_words);
        for e in &entities {
            offsets.push(
                u32::try_from(flat.len())
                    .map_err(|_| data::error("entities", "too many attribute values (more than 2^32)"))?,
            );
            flat.extend_from_slice(&e.attrs.present);
            flat.extend_from_slice(&e.attrs.slots);
            bits.extend_from_slice(&e.literal_bits);
        }
        let mut by_type: Vec<FxHashMap<Box<str>, u32>> = vec![FxHashMap::default(); program.entity_types.len()];
        for ((t, id), i) in by_uid {
            if let Some(map) = by_type.get_mut(t as usize) {
                map.insert(id, i);
            }
        }
        let type_ids =
            program.entity_types.iter().enumerate().map(|(i, t)| (t.name.as_str().into(), i as u32)).collect();
        let action_ids = program.actions.iter().enumerate().map(|(i, a)| (a.name.as_str().into(), i as u32)).collect();
        let is_chain = |e: &ward_ir::Expr| matches!(e.kind, ward_ir::ExprKind::Var(ward_ir::Var::Chain));
        let uses_chain = program.rules.iter().flat_map(|r| &r.exprs).any(is_chain)
            || program.flows.iter().flat_map(|f| &f.exprs).any(is_chain);
        Ok(Store {
            program,
            entities,
            by_uid: by_type,
            type_ids,
            action_ids,
            uses_chain,
            tables,
            literals,
            constants,
            flat,
            offsets,
            bits,
            bits_words,
        })
    }

    pub fn get(&self, index: u32) -> Option<&Entity> {
        self.entities.get(index as usize)
    }

    pub fn find(&self, ty: u32, id: &str) -> Option<u32> {
        self.by_uid.get(ty as usize)?.get(id).copied()
    }

    /// The index of the entity type named `name`.
    pub fn type_index(&self, name: &str) -> Option<u32> {
        self.type_ids.get(name).copied()
    }

    /// The index of the action named `name`.
    pub fn action_index(&self, name: &str) -> Option<u32> {
        self.action_ids.get(name).copied()
    }

    /// `Type::"id"` of an entity, for messages and decisions.
    pub fn uid(&self, index: u32) -> String {
        match self.get(index) {
            Some(e) => {
                let ty = self.program.entity_types.get(e.ty as usize).map_or("?", |t| t.name.as_str());
                format!("{ty}::{:?}", &*e.id)
            }
            None => format!("#{index}"),
        }
    }
}

/// Sorted transitive ancestors of every node (cycles are tolerated).
fn closure(parents: &[Vec<u32>]) -> Vec<Vec<u32>> {
    let mut out = Vec::with_capacity(parents.len());
    let mut seen = vec![false; parents.len()];
    for (start, direct) in parents.iter().enumerate() {
        let mut list = Vec::new();
        let mut stack: Vec<u32> = direct.clone();
        while let Some(n) = stack.pop() {
            let Some(flag) = seen.get_mut(n as usize) else { continue };
            if *flag || n as usize == start {
                continue;
            }
            *flag = true;
            list.push(n);
            if let Some(next) = parents.get(n as usize) {
                stack.extend(next.iter().copied());
            }
        }
        for n in &list {
            if let Some(flag) = seen.get_mut(*n as usize) {
                *flag = false;
            }
        }
        list.sort_unstable();
        out.push(list);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::closure;

    #[test]
    fn ancestors_are_transitive_and_survive_cycles() {
        let parents = vec![vec![1], vec![2], vec![0], vec![]];
        let a = closure(&parents);
        assert_eq!(a[0], vec![1, 2]);
        assert_eq!(a[3], Vec::<u32>::new());
    }
}
