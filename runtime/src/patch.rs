//! Entity patches: entities added, replaced or removed in a loaded store.
//!
//! A store keeps the entity list it was loaded from (each item shared, not
//! copied); a patch edits that list — a replaced entity keeps its place, a
//! new one goes at the end, a removed one is left out — and the result is
//! loaded like any list ([`Store::patched`]). So a patched store is, by
//! construction, the store a fresh load of the edited list gives: the same
//! checks, the same ancestors (a removed parent's children lose the
//! ancestors they had through it), the same errors. The program and its
//! native code are not touched (`Loaded::with_store`).
//!
//! Removing an entity removes its item, not the references to it: as in
//! Cedar, an entity that others still name as a parent or in an attribute
//! exists without attributes or parents.

use std::sync::Arc;

use serde_json::Value as Json;

use crate::data::{self, DataError};
use crate::hash::FxHashMap;
use crate::store::Store;

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

impl Store {
    /// The store a fresh load gives for this store's entity list edited by
    /// `patch` (see the module's documentation). Errors name the entity:
    /// `upsert[j]` / `remove[j]` for the patch's own items, an entity
    /// listed twice in the patch, or removed without being listed.
    pub fn patched(&self, patch: &EntityPatch) -> Result<Store, DataError> {
        // The patch's uids, each at most once.
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
                return Err(data::error(
                    &path,
                    format!("entity {ty}::{id:?} is both upserted (upsert[{u}]) and removed"),
                ));
            }
            if let Some(first) = removals.entry(ty.as_str()).or_default().insert(id.as_str(), j) {
                return Err(data::error(&path, format!("entity {ty}::{id:?} is already removed by remove[{first}]")));
            }
        }
        // The list edited in place: `from_patch[i] = Some(j)` when item `i`
        // is the patch's `upsert[j]`, for naming errors.
        let mut items: Vec<Arc<Json>> = Vec::with_capacity(self.items.len() + patch.upsert.len());
        let mut from_patch: Vec<Option<usize>> = Vec::new();
        let mut placed = vec![false; patch.upsert.len()];
        let mut removed = vec![false; patch.remove.len()];
        for item in self.items.iter() {
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
            items.push(Arc::clone(item));
        }
        if let Some(j) = removed.iter().position(|r| !r)
            && let Some((ty, id)) = patch.remove.get(j)
        {
            return Err(data::error(
                &format!("remove[{j}]"),
                format!("no entity {ty}::{id:?} to remove: the entity set does not list it"),
            ));
        }
        for (j, new) in patch.upsert.iter().enumerate() {
            if !placed.get(j).copied().unwrap_or(true) {
                from_patch.resize(items.len(), None);
                from_patch.push(Some(j));
                items.push(Arc::clone(new));
            }
        }
        Store::from_items(Arc::clone(&self.program), items.into()).map_err(|e| in_patch_terms(e, &from_patch, &upserts))
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
