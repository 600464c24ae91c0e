//! Entity patches: entities added, replaced or removed in a loaded store.
//!
//! A patch builds a new store from a copy of the old one ([`Store::patched`];
//! the copy shares the entities, their items and the tables' strings and
//! sets, and copies the flat tables native code reads). The items it adds
//! or replaces are checked and typed as a load checks and types them, each
//! entity at its index (a new one at the end); ancestors, literal bits and
//! literal lists are computed again for the entities whose parents changed
//! and the entities below them, and for no others. So the cost is the
//! patch's and what it moves, and the result decides as a fresh load of the
//! edited entity list: the same checks, the same ancestors (a removed
//! parent's children lose the ancestors they had through it), the same
//! refusals — named for the patch (`upsert[j]`, `remove[j]`, the entity's
//! uid). The program and its native code are not touched
//! (`Loaded::with_store`); the old store is not changed, so decisions under
//! way finish on it.
//!
//! Removing an entity removes its item, not the references to it: as in
//! Cedar, an entity that others still name as a parent or in an attribute
//! exists without attributes or parents. An entity that only a replaced or
//! removed item referred to stays in the patched store, without attributes,
//! parents or tags: where a fresh load would not have it, a request naming
//! it gets an entity with none of those, so decisions are the same.
//!
//! What a patch replaces stays in the tables (strings, sets, records of the
//! old attributes). Once patches have grown the store past twice its size
//! at its last full load, the next patch loads the edited entity list whole
//! instead (as `Store::load` would, without parsing): memory stays within a
//! constant factor of the data, and that reload's cost is spread over the
//! patches that made it necessary.

use std::sync::Arc;

use serde_json::Value as Json;

use ward_ir::Program;

use crate::data::{self, DataError, Entities};
use crate::hash::FxHashMap;
use crate::store::{self, Entity, Hierarchy, Listed, MAX_ANCESTORS, Node, Store};
use crate::value::{Raw, Record};

/// A change to an entity set: entities to add or replace (Cedar's JSON
/// entity format, one object each) and entities to remove (by uid).
#[derive(Debug, Clone, Default)]
pub struct EntityPatch {
    upsert: Vec<Arc<Json>>,
    remove: Vec<(String, String)>,
}

impl EntityPatch {
    pub fn new() -> EntityPatch {
        EntityPatch::default()
    }

    /// Adds `entity` (`{"uid": …, "attrs": …, "parents": …}`), or replaces
    /// the entity with its uid.
    pub fn upsert(mut self, entity: Json) -> EntityPatch {
        self.upsert.push(Arc::new(entity));
        self
    }

    /// Removes the entity `ty::"id"` (it must be listed).
    pub fn remove(mut self, ty: impl Into<String>, id: impl Into<String>) -> EntityPatch {
        self.remove.push((ty.into(), id.into()));
        self
    }

    /// How many entities it adds, replaces or removes.
    pub fn len(&self) -> usize {
        self.upsert.len() + self.remove.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `{"upsert": [ENTITY, …], "remove": [UID, …]}`, both optional; a uid
    /// is `{"type", "id"}` (or `__entity`, or `T::"id"` text).
    pub fn from_json(json: &Json) -> Result<EntityPatch, DataError> {
        let Json::Object(fields) = json else {
            return Err(data::error("patch", format!("expected an object, found {}", data::kind(json))));
        };
        data::only_fields(fields, &["upsert", "remove"], "patch", "an entity patch")?;
        let list = |name: &str| -> Result<&[Json], DataError> {
            match fields.get(name) {
                None | Some(Json::Null) => Ok(&[]),
                Some(Json::Array(items)) => Ok(items),
                Some(other) => Err(data::error(name, format!("expected an array, found {}", data::kind(other)))),
            }
        };
        let mut patch = EntityPatch::new();
        let upsert = list("upsert")?;
        // Before anything is copied: cloning a value nested deeper than the
        // limit (built in memory) would recurse past the stack.
        for (j, item) in upsert.iter().enumerate() {
            data::check_depth(item, &format!("upsert[{j}]"))?;
        }
        patch.upsert = upsert.iter().map(|e| Arc::new(e.clone())).collect();
        for (j, uid) in list("remove")?.iter().enumerate() {
            let (ty, id) = data::entity_ref(uid, &format!("remove[{j}]"))?;
            patch.remove.push((ty.into_owned(), id.into_owned()));
        }
        Ok(patch)
    }
}

/// Type name → id → a position.
type Uids<'a> = FxHashMap<&'a str, FxHashMap<&'a str, usize>>;

fn find(uids: &Uids<'_>, ty: &str, id: &str) -> Option<usize> {
    uids.get(ty).and_then(|ids| ids.get(id)).copied()
}

/// Growth (in [`Store::size`] entries) a store may always take from
/// patches before one of them reloads the list, however small the store.
const RELOAD_SLACK: usize = 4096;

/// The patch's upserted uids, refusing an entity upserted twice, upserted
/// and removed, or removed twice.
fn checked_uids(patch: &EntityPatch) -> Result<Vec<(String, String)>, DataError> {
    let mut upserts: Vec<(String, String)> = Vec::with_capacity(patch.upsert.len());
    for (j, item) in patch.upsert.iter().enumerate() {
        let path = format!("upsert[{j}]");
        let uid = item.get("uid").ok_or_else(|| data::error(&path, "missing `uid`"))?;
        let (ty, id) = data::entity_ref(uid, &format!("{path}.uid"))?;
        upserts.push((ty.into_owned(), id.into_owned()));
    }
    let mut by_uid: Uids<'_> = FxHashMap::default();
    for (j, (ty, id)) in upserts.iter().enumerate() {
        if let Some(first) = by_uid.entry(ty.as_str()).or_default().insert(id.as_str(), j) {
            return Err(data::error(
                &format!("upsert[{j}]"),
                format!("entity {ty}::{id:?} is already upserted by upsert[{first}] of this patch"),
            ));
        }
    }
    let mut removals: Uids<'_> = FxHashMap::default();
    for (j, (ty, id)) in patch.remove.iter().enumerate() {
        let path = format!("remove[{j}]");
        if let Some(u) = find(&by_uid, ty, id) {
            return Err(data::error(&path, format!("entity {ty}::{id:?} is both upserted (upsert[{u}]) and removed")));
        }
        if let Some(first) = removals.entry(ty.as_str()).or_default().insert(id.as_str(), j) {
            return Err(data::error(&path, format!("entity {ty}::{id:?} is already removed by remove[{first}]")));
        }
    }
    Ok(upserts)
}

fn not_listed(j: usize, ty: &str, id: &str) -> DataError {
    data::error(&format!("remove[{j}]"), format!("no entity {ty}::{id:?} to remove: the entity set does not list it"))
}

/// An error about the patch's `upsert[j]`, its message led by the entity's uid.
fn with_uid(e: DataError, uid: Option<&(String, String)>) -> DataError {
    match uid {
        Some((ty, id)) => DataError { path: e.path, message: format!("{ty}::{id:?}: {}", e.message) },
        None => e,
    }
}

/// Whether entity item `item` is the entity `ty::"id"`.
fn names(item: &Json, ty: &str, id: &str) -> bool {
    item.get("uid").and_then(|u| data::entity_ref(u, "uid").ok()).is_some_and(|(t, i)| t == ty && i == id)
}

impl Store {
    /// This store's entities changed by `patch` (see the module's
    /// documentation): decisions on the result are those on a fresh load
    /// of the edited entity list. Errors name the entity: `upsert[j]` /
    /// `remove[j]` for the patch's own items, an entity listed twice in the
    /// patch, or removed without being listed; this store is unchanged.
    pub fn patched(&self, patch: &EntityPatch) -> Result<Store, DataError> {
        let upserts = checked_uids(patch)?;
        if self.size() > self.loaded_size.saturating_mul(2).saturating_add(RELOAD_SLACK) {
            return self.reloaded(patch, &upserts);
        }
        self.updated(patch, &upserts)
    }

    /// The patched store, by a load of the edited entity list: a replaced
    /// entity keeps its place, a new one goes at the end.
    pub(crate) fn reloaded(&self, patch: &EntityPatch, upserts: &[(String, String)]) -> Result<Store, DataError> {
        let mut by_uid: Uids<'_> = FxHashMap::default();
        for (j, (ty, id)) in upserts.iter().enumerate() {
            by_uid.entry(ty.as_str()).or_default().insert(id.as_str(), j);
        }
        let mut removals: Uids<'_> = FxHashMap::default();
        for (j, (ty, id)) in patch.remove.iter().enumerate() {
            removals.entry(ty.as_str()).or_default().insert(id.as_str(), j);
        }
        // The list edited in place: `from_patch[i] = Some(j)` when item `i`
        // is the patch's `upsert[j]`, for naming errors.
        let current = self.items();
        let mut items: Vec<Arc<Json>> = Vec::with_capacity(current.len() + patch.upsert.len());
        let mut from_patch: Vec<Option<usize>> = Vec::new();
        let mut placed = vec![false; patch.upsert.len()];
        let mut removed = vec![false; patch.remove.len()];
        for item in current {
            // Items without a readable uid were refused when the store was
            // loaded; none is here, but such an item would be kept as it is.
            let uid = item.get("uid").and_then(|u| data::entity_ref(u, "uid").ok());
            if let Some((ty, id)) = &uid {
                if let Some(j) = find(&removals, ty, id) {
                    if let Some(r) = removed.get_mut(j) {
                        *r = true;
                    }
                    continue;
                }
                if let Some(j) = find(&by_uid, ty, id)
                    && let Some(new) = patch.upsert.get(j)
                {
                    if let Some(p) = placed.get_mut(j) {
                        *p = true;
                    }
                    from_patch.resize(items.len(), None);
                    from_patch.push(Some(j));
                    items.push(Arc::clone(new));
                    continue;
                }
            }
            items.push(item);
        }
        if let Some(j) = removed.iter().position(|r| !r)
            && let Some((ty, id)) = patch.remove.get(j)
        {
            return Err(not_listed(j, ty, id));
        }
        for (j, new) in patch.upsert.iter().enumerate() {
            if !placed.get(j).copied().unwrap_or(true) {
                from_patch.resize(items.len(), None);
                from_patch.push(Some(j));
                items.push(Arc::clone(new));
            }
        }
        Store::from_items(Arc::clone(&self.program), &items, self.ancestry.budget)
            .map_err(|e| in_patch_terms(e, &from_patch, upserts))
    }

    /// The patched store, built from a copy of this one: only the patch's
    /// entities are typed, only the ancestors it can change are computed.
    pub(crate) fn updated(&self, patch: &EntityPatch, upserts: &[(String, String)]) -> Result<Store, DataError> {
        let program = Arc::clone(&self.program);
        let mut s = self.clone();
        let base = u32::try_from(s.entities.len()).unwrap_or(u32::MAX);
        let named = |j: usize| move |e: DataError| with_uid(e, upserts.get(j));
        let mut edits: Vec<Edit> = Vec::with_capacity(patch.len());
        for (j, (ty, id)) in patch.remove.iter().enumerate() {
            if store::is_action_type(&program, ty) {
                let before = s.action_items.len();
                s.action_items.retain(|item| !names(item, ty, id));
                if s.action_items.len() == before {
                    return Err(not_listed(j, ty, id));
                }
                continue;
            }
            let i = s.type_index(ty).and_then(|t| s.find(t, id)).filter(|i| s.is_listed(*i));
            let e = i.and_then(|i| s.get(i).map(|e| (i, e.ty))).ok_or_else(|| not_listed(j, ty, id))?;
            edits.push(Edit { index: e.0, ty: e.1, item: None, attrs: None, tags: None, parents: Vec::new() });
        }
        let mut refs = Refs { program: &program, by_uid: &mut s.by_uid, next: base, created: Vec::new() };
        for (j, item) in patch.upsert.iter().enumerate() {
            let path = format!("upsert[{j}]");
            let (ty, id, attrs, tags) = match store::listed(&program, item, &path).map_err(named(j))? {
                Listed::Action => {
                    let Some((ty, id)) = upserts.get(j) else { continue };
                    let mut replaced = false;
                    for listed in s.action_items.iter_mut().filter(|a| names(a, ty, id)) {
                        *listed = Arc::clone(item);
                        replaced = true;
                    }
                    if !replaced {
                        s.action_items.push(Arc::clone(item));
                    }
                    continue;
                }
                Listed::Entity { ty, id, attrs, tags } => (ty, id, attrs, tags),
            };
            let index = refs.index(ty, &id);
            let name = upserts.get(j).map_or("", |(t, _)| t.as_str());
            let parents = store::listed_parents(&program, item, ty, name, &path, |pt, pid| refs.index(pt, pid))
                .map_err(named(j))?;
            edits.push(Edit { index, ty, item: Some(Arc::clone(item)), attrs: Some(attrs), tags, parents });
        }
        // Attributes and tags, now that every entity the patch lists has its index.
        let mut typed: Vec<(Record, store::Tags)> = Vec::with_capacity(edits.len());
        for edit in &mut edits {
            let index = edit.index;
            for agent in program.agents.iter().filter(|a| s.literals.get(a.entity as usize) == Some(&index)) {
                store::merge_agent(agent, &s.literals, &mut edit.attrs, &mut edit.parents);
            }
            let record = store::type_attrs(&program, edit.ty, edit.attrs.as_ref(), &mut s.tables, &mut refs)?;
            let id = match s.entities.get(edit.index as usize) {
                Some(e) => e.id.clone(),
                None => refs.id(edit.index).into(),
            };
            let tags = store::type_tags(&program, edit.ty, &id, edit.tags.take(), &mut s.tables, &mut refs)?;
            typed.push((record, tags));
        }
        let created = std::mem::take(&mut refs.created);
        s.add_blank(created)?;
        // Each edited entity in place; its ancestors, for now, are its old ones.
        let mut changed: Vec<u32> = Vec::new();
        let mut edges: FxHashMap<u32, (Vec<u32>, Vec<u32>)> = FxHashMap::default();
        for (edit, (attrs, tags)) in edits.into_iter().zip(typed) {
            let i = edit.index;
            let Some(old) = s.entities.get(i as usize).cloned() else { continue };
            let (before, after) = (distinct(&old.parents), distinct(&edit.parents));
            if before != after {
                changed.push(i);
                for p in before.iter().filter(|p| after.binary_search(p).is_err()) {
                    edges.entry(*p).or_default().0.push(i);
                }
                for p in after.iter().filter(|p| before.binary_search(p).is_err()) {
                    edges.entry(*p).or_default().1.push(i);
                }
            }
            let words = s
                .offsets
                .get(i as usize)
                .map(|at| *at as usize)
                .and_then(|at| s.flat.get_mut(at..at.saturating_add(attrs.present.len() + attrs.slots.len())));
            // An entity's words are its type's: the new record fills exactly the old one's place.
            let Some(words) = words else { return Err(data::error("entities", "the attribute table is inconsistent")) };
            for (w, v) in words.iter_mut().zip(attrs.present.iter().chain(attrs.slots.iter())) {
                *w = *v;
            }
            let entity = Entity {
                ty: old.ty,
                id: old.id.clone(),
                attrs,
                ancestors: old.ancestors.clone(),
                literal_bits: old.literal_bits.clone(),
                parents: edit.parents.into_boxed_slice(),
                tags,
            };
            if let (Some(slot), Some(node)) = (s.entities.get_mut(i as usize), s.nodes.get_mut(i as usize)) {
                *slot = Arc::new(entity);
                node.item = edit.item;
            }
        }
        for (p, (mut gone, new)) in edges {
            let Some(node) = s.nodes.get_mut(p as usize) else { continue };
            gone.sort_unstable();
            let mut list: Vec<u32> =
                node.children.iter().copied().filter(|c| gone.binary_search(c).is_err()).chain(new).collect();
            list.sort_unstable();
            list.dedup();
            node.children = list.into();
        }
        s.rehang(&changed)?;
        Ok(s)
    }

    /// Adds entities with no attributes, parents or tags (references the
    /// store did not have), at the end of every table.
    fn add_blank(&mut self, created: Vec<(u32, Box<str>)>) -> Result<(), DataError> {
        if created.is_empty() {
            return Ok(());
        }
        // The padding is zeros: it goes, the new words come, it comes back.
        self.flat.truncate(self.flat.len().saturating_sub(self.padding));
        for (ty, id) in created {
            let fields = self.program.entity_types.get(ty as usize).map_or(0, |t| t.attrs.len());
            let attrs = Record::new(fields);
            self.offsets.push(store::offset(self.flat.len())?);
            self.flat.extend_from_slice(&attrs.present);
            self.flat.extend_from_slice(&attrs.slots);
            self.bits.extend(std::iter::repeat_n(0, self.bits_words));
            self.in_literals.push(&[]);
            self.nodes.push(Node::default());
            self.types.push(ty);
            self.ancestry.push_blank();
            self.entities.push(Arc::new(Entity {
                ty,
                id,
                attrs,
                ancestors: Box::default(),
                literal_bits: vec![0; self.bits_words].into_boxed_slice(),
                parents: Box::default(),
                tags: Box::default(),
            }));
        }
        self.flat.resize(self.flat.len() + self.padding, 0);
        Ok(())
    }

    /// Ancestors, literal bits and literal lists computed again for the
    /// entities whose parents changed (`changed`) and every entity below
    /// them — the only ones whose ancestors can differ — parents before
    /// children, as a load does, with the same limit. A cycle the patch
    /// made goes through a changed entity, so it is among them, and named.
    fn rehang(&mut self, changed: &[u32]) -> Result<(), DataError> {
        if changed.is_empty() {
            return Ok(());
        }
        let mut at: FxHashMap<u32, usize> = FxHashMap::default();
        let mut below: Vec<u32> = Vec::new();
        for c in changed {
            if !at.contains_key(c) {
                at.insert(*c, below.len());
                below.push(*c);
            }
        }
        let mut next = 0;
        while let Some(x) = below.get(next).copied() {
            next += 1;
            for c in self.nodes.get(x as usize).map_or(&[][..], |n| &n.children[..]) {
                if !at.contains_key(c) {
                    at.insert(*c, below.len());
                    below.push(*c);
                }
            }
        }
        // Kahn's order among them: an entity waits for its distinct parents among them.
        let parents_of = |x: u32| self.entities.get(x as usize).map_or(&[][..], |e| &e.parents[..]);
        let mut waiting: Vec<usize> =
            below.iter().map(|x| distinct(parents_of(*x)).iter().filter(|p| at.contains_key(p)).count()).collect();
        let mut ready: Vec<usize> = (0..below.len()).filter(|k| waiting.get(*k) == Some(&0)).collect();
        let mut out: Vec<Option<Vec<u32>>> = vec![None; below.len()];
        let mut seen: FxHashMap<u32, ()> = FxHashMap::default();
        while let Some(k) = ready.pop() {
            let Some(x) = below.get(k).copied() else { continue };
            let mut list = Vec::new();
            seen.clear();
            for p in parents_of(x) {
                let inherited = match at.get(p) {
                    Some(q) => out.get(*q).and_then(Option::as_deref).unwrap_or(&[]),
                    None => self.entities.get(*p as usize).map_or(&[][..], |e| &e.ancestors[..]),
                };
                for a in std::iter::once(p).chain(inherited) {
                    if seen.insert(*a, ()).is_none() {
                        list.push(*a);
                    }
                }
                if list.len() > MAX_ANCESTORS {
                    return Err(store::hierarchy_error(Hierarchy::TooMany(x), |i| self.uid(i)));
                }
            }
            list.sort_unstable();
            if let Some(slot) = out.get_mut(k) {
                *slot = Some(list);
            }
            for c in self.nodes.get(x as usize).map_or(&[][..], |n| &n.children[..]) {
                if let Some(q) = at.get(c)
                    && let Some(w) = waiting.get_mut(*q)
                {
                    *w = w.saturating_sub(1);
                    if *w == 0 {
                        ready.push(*q);
                    }
                }
            }
        }
        if let Some(start) = out.iter().position(Option::is_none) {
            let unreached = |p: &u32| at.get(p).is_some_and(|q| out.get(*q).is_some_and(Option::is_none));
            let cycle = store::cycle_from(below.get(start).copied().unwrap_or(0), |x| {
                parents_of(x).iter().copied().find(|p| unreached(p))
            });
            return Err(store::hierarchy_error(Hierarchy::Cycle(cycle), |i| self.uid(i)));
        }
        let literal_of = store::literal_of(&self.literals);
        let words = self.bits_words;
        for (x, list) in below.into_iter().zip(out) {
            let list = list.unwrap_or_default();
            if self.entities.get(x as usize).is_some_and(|e| *e.ancestors == *list) {
                continue;
            }
            let ks = store::in_literals_of(x, &list, &literal_of);
            let bits = store::bits_of(&ks, words);
            let row = (x as usize).saturating_mul(words);
            for (w, b) in self.bits.get_mut(row..row.saturating_add(words)).into_iter().flatten().zip(bits.iter()) {
                *w = *b;
            }
            self.in_literals.set(x, &ks);
            self.ancestry.set(x, &list);
            if let Some(e) = self.entities.get_mut(x as usize) {
                let e = Arc::make_mut(e);
                e.ancestors = list.into_boxed_slice();
                e.literal_bits = bits;
            }
        }
        Ok(())
    }
}

/// A parent list sorted, each parent once.
fn distinct(parents: &[u32]) -> Vec<u32> {
    let mut out = parents.to_vec();
    out.sort_unstable();
    out.dedup();
    out
}

/// An entity the patch lists (or removes): its new item, attributes (JSON,
/// with its label), tags (JSON) and parents.
struct Edit {
    index: u32,
    ty: u32,
    item: Option<Arc<Json>>,
    attrs: Option<(Json, String)>,
    tags: Option<serde_json::Map<String, Json>>,
    parents: Vec<u32>,
}

/// The entity references of a patch's items: an entity the store has, or a
/// new one (no attributes, parents or tags) numbered after the store's.
struct Refs<'a> {
    program: &'a Program,
    by_uid: &'a mut Vec<Arc<FxHashMap<Box<str>, u32>>>,
    next: u32,
    created: Vec<(u32, Box<str>)>,
}

impl Refs<'_> {
    fn index(&mut self, ty: u32, id: &str) -> u32 {
        if let Some(i) = self.by_uid.get(ty as usize).and_then(|m| m.get(id)) {
            return *i;
        }
        let i = self.next;
        self.next = self.next.saturating_add(1);
        if let Some(map) = self.by_uid.get_mut(ty as usize) {
            Arc::make_mut(map).insert(id.into(), i);
        }
        self.created.push((ty, id.into()));
        i
    }

    /// The id of entity `index`, created by this patch.
    fn id(&self, index: u32) -> &str {
        let first = self.next.saturating_sub(self.created.len() as u32);
        index.checked_sub(first).and_then(|k| self.created.get(k as usize)).map_or("", |(_, id)| id)
    }
}

impl Entities for Refs<'_> {
    fn entity(&mut self, ty: &str, id: &str, path: &str) -> Result<(u32, Raw), DataError> {
        let t = store::type_index(self.program, ty, path)?;
        Ok((t, u64::from(self.index(t, id))))
    }
}

/// An error of the edited list named for the patch: `entities[i]…` of an
/// item the patch brought becomes `upsert[j]…`, with the entity's uid.
fn in_patch_terms(e: DataError, from_patch: &[Option<usize>], upserts: &[(String, String)]) -> DataError {
    let Some(rest) = e.path.strip_prefix("entities[") else { return e };
    let Some(close) = rest.find(']') else { return e };
    let (digits, tail) = rest.split_at(close);
    let Some(j) = digits.parse::<usize>().ok().and_then(|i| from_patch.get(i).copied().flatten()) else { return e };
    let uid = upserts.get(j).map(|(ty, id)| format!("{ty}::{id:?}: ")).unwrap_or_default();
    let tail = tail.strip_prefix(']').unwrap_or(tail);
    DataError { path: format!("upsert[{j}]{tail}"), message: format!("{uid}{}", e.message) }
}
