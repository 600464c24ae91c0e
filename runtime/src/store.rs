//! The entity store: entities loaded once (Cedar's JSON entity format),
//! checked against the schema, with their ancestors and their membership in
//! the entities the policy names computed up front — so that `in` is a bit
//! test (a binary search past the bits' budget) at decision time, never a
//! walk of the graph.
//!
//! A store is never changed once built: a patch builds a new store from a
//! copy of the old one's tables ([`Store::patched`], `crate::patch`), so
//! decisions under way keep reading the old one.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value as Json;
use ward_ir::Program;

use crate::data::{self, DataError, Entities};
use crate::hash::FxHashMap;
use crate::value::{Raw, Record, Tables};

mod ancestry;

/// The byte budget of a load's ancestor bits when none is given
/// ([`Store::with_ancestor_budget`]).
pub use ancestry::DEFAULT_BUDGET as DEFAULT_ANCESTOR_BUDGET;
pub(crate) use ancestry::{Ancestry, NO_RANK};

/// How many entities one entity may be in, transitively.
pub const MAX_ANCESTORS: usize = 1024;

/// An entity's tags: `(key, value)`, keys interned strings, sorted.
pub type Tags = Box<[(Raw, Raw)]>;

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
    /// Its tags (`tags T` in the schema): `(key, value)`, the key an
    /// interned string of the store, sorted by key.
    pub tags: Tags,
}

impl Entity {
    pub fn in_literal(&self, k: u32) -> bool {
        self.literal_bits.get(k as usize / 64).is_some_and(|w| w & (1 << (k % 64)) != 0)
    }

    pub fn has_ancestor(&self, index: u32) -> bool {
        self.ancestors.binary_search(&index).is_ok()
    }

    /// The value of tag `key` (a string handle; the store interns every
    /// tag key, and requests and computed strings reuse its handles).
    pub fn tag(&self, key: Raw) -> Option<Raw> {
        self.tags.binary_search_by_key(&key, |(k, _)| *k).ok().and_then(|i| self.tags.get(i)).map(|(_, v)| *v)
    }
}

/// What a patch needs of an entity besides the entity itself.
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    /// The item that lists it, as given; `None` for an entity only
    /// referenced, or only named by the policy.
    pub(crate) item: Option<Arc<Json>>,
    /// The entities it is a direct parent of, sorted, each once: a patch
    /// that moves an entity recomputes the ancestors below it, and only
    /// there.
    pub(crate) children: Arc<[u32]>,
}

/// All entities, bound to one compiled program. The tables native code
/// reads (`entities`, `literals`, `flat`, `offsets`, `bits`, the ranks and
/// rows of `ancestry`) are private to
/// the crate and never change once the store is built: the JIT's memory
/// safety rests on their layout (`jit::JitCtx`). A patch builds a new store
/// ([`Store::patched`]) keeping that layout: an entity's attribute words
/// stay where they were (their size is its type's), new entities go at the
/// end, before the padding.
///
/// Cloning is cheap for its size (what a patch starts from): entities and
/// their items are shared, the tables' strings and sets too; the flat
/// vectors are copied.
#[derive(Debug, Clone)]
pub struct Store {
    pub program: Arc<Program>,
    pub(crate) entities: Vec<Arc<Entity>>,
    /// Per entity type: id → index (looked up by `&str`, without
    /// allocating). A map is shared with the stores patched from this one
    /// until a patch adds an entity of its type.
    pub(crate) by_uid: Vec<Arc<FxHashMap<Box<str>, u32>>>,
    /// Entity type names and action names → indexes, for reading requests.
    type_ids: Arc<FxHashMap<Box<str>, u32>>,
    action_ids: Arc<FxHashMap<Box<str>, u32>>,
    /// Whether any expression reads the delegation chain as a set (`chain`).
    pub uses_chain: bool,
    pub tables: Tables,
    /// The store index of each of the program's entity literals.
    pub(crate) literals: Vec<u32>,
    /// Handles of the program's IP and CIDR constants.
    pub constants: HashMap<ward_ir::Const, Raw>,
    /// The entities' attributes flattened for native code: per entity, its
    /// presence words then its slots, starting at `offsets[index]`; then
    /// zeros, as many as the largest type's presence words and slots.
    pub(crate) flat: Vec<u64>,
    pub(crate) offsets: Vec<u32>,
    /// Literal-membership bits, `bits_words` words per entity.
    pub(crate) bits: Vec<u64>,
    pub(crate) bits_words: usize,
    /// How many zero words end `flat`: the largest attribute region of the
    /// program's entity types (see `jit::JitCtx`, invariant 2).
    pub(crate) padding: usize,
    /// Per entity: its item and its children.
    pub(crate) nodes: Vec<Node>,
    /// Items listing actions (accepted when they say what the schema says,
    /// adding nothing), kept so that the entity list can be rebuilt.
    pub(crate) action_items: Vec<Arc<Json>>,
    /// Per entity, the literals it is or is in, for the rule index.
    pub(crate) in_literals: InLiterals,
    /// Per entity, its type: what deciding reads of an entity besides its
    /// attribute words and bits, kept here so that it reads no `Entity`.
    pub(crate) types: Vec<u32>,
    /// Per entity, its rank as an ancestor and its row of ancestor bits:
    /// `e in a` as a bit test ([`Store::entity_in`], and native code).
    pub(crate) ancestry: Ancestry,
    /// [`Store::size`] when the entities were last loaded whole: patches
    /// leave what they replace in the tables, and once that has grown past
    /// the load's own size the next patch loads the list again.
    pub(crate) loaded_size: usize,
}

/// An entity item's `parents` (absent or `null`: none); anything but an
/// array is an error naming `PATH.parents`.
pub(crate) fn parents_of<'j>(item: &'j Json, path: &str) -> Result<&'j [Json], DataError> {
    match item.get("parents") {
        None | Some(Json::Null) => Ok(&[]),
        Some(Json::Array(ps)) => Ok(ps),
        Some(other) => {
            Err(data::error(&format!("{path}.parents"), format!("expected an array, found {}", data::kind(other))))
        }
    }
}

/// Cedar's entity JSON: `[{"uid": {"type", "id"}, "attrs": {…}, "parents": […]}]`.
struct Pending {
    uid: (u32, Box<str>),
    attrs: Option<(Json, String)>,
    parents: Vec<u32>,
    /// Its `tags` object, if it has tags (checked to be allowed by its type).
    tags: Option<serde_json::Map<String, Json>>,
    /// The item that lists it.
    item: Option<Arc<Json>>,
}

/// The entities being loaded: an index for every one listed or referenced.
struct Resolver<'a> {
    program: &'a Program,
    by_uid: HashMap<(u32, Box<str>), u32>,
    pending: Vec<Pending>,
    /// Items listing actions.
    actions: Vec<Arc<Json>>,
}

/// The index of entity type `ty`, or an error at `path` suggesting a name.
pub(crate) fn type_index(program: &Program, ty: &str, path: &str) -> Result<u32, DataError> {
    match program.entity_types.iter().position(|t| t.name == ty) {
        Some(i) => Ok(i as u32),
        None => {
            let names = program.entity_types.iter().map(|t| t.name.as_str());
            let help = ward_ir::did_you_mean(ty, names).map(|h| format!("; {h}")).unwrap_or_default();
            Err(data::error(path, format!("unknown entity type `{ty}`{help}")))
        }
    }
}

/// An entity item, checked on its own: an action (accepted, adding
/// nothing), or an entity of type `ty` with its attributes (still JSON) and
/// tags.
pub(crate) enum Listed {
    Action,
    Entity { ty: u32, id: Box<str>, attrs: (Json, String), tags: Option<serde_json::Map<String, Json>> },
}

/// Checks item `item` (at `path`) as pass 1 of a load does: its fields, its
/// uid, its tags allowed by its type; an action item against the schema.
pub(crate) fn listed(program: &Program, item: &Json, path: &str) -> Result<Listed, DataError> {
    // Before the attributes are copied: a value built in memory may nest deeper than any stack.
    data::check_depth(item, path)?;
    if let Json::Object(fields) = item {
        data::only_fields(fields, &["uid", "attrs", "parents", "tags"], path, "an entity")?;
    }
    let uid = item.get("uid").ok_or_else(|| data::error(path, "missing `uid`"))?;
    let (ty, id) = data::entity_ref(uid, &format!("{path}.uid"))?;
    let declares_tags = program.entity_types.iter().find(|t| t.name == *ty).and_then(|t| t.tags.as_ref());
    let tags = tags_of(item, &ty, &id, path, declares_tags.is_some())?;
    if action_entity(program, item, &ty, &id, path)? {
        return Ok(Listed::Action);
    }
    let t = type_index(program, &ty, &format!("{path}.uid.type"))?;
    let attrs = item.get("attrs").cloned().unwrap_or(Json::Object(Default::default()));
    let label = format!("{ty}::{id:?}");
    Ok(Listed::Entity { ty: t, id: id.into(), attrs: (attrs, label), tags })
}

/// The parents item `item` (of type `t`, named `ty`, at `path`) lists, of
/// types the schema allows it to be in, each resolved by `index`.
pub(crate) fn listed_parents(
    program: &Program,
    item: &Json,
    t: u32,
    ty: &str,
    path: &str,
    mut index: impl FnMut(u32, &str) -> u32,
) -> Result<Vec<u32>, DataError> {
    let parents = parents_of(item, path)?;
    let mut indexes = Vec::with_capacity(parents.len());
    for (k, p) in parents.iter().enumerate() {
        let ppath = format!("{path}.parents[{k}]");
        let (pty, pid) = data::entity_ref(p, &ppath)?;
        let pt = type_index(program, &pty, &ppath)?;
        let allowed = program.entity_types.get(t as usize).is_some_and(|e| e.parents.contains(&pt));
        if !allowed {
            return Err(data::error(&ppath, format!("the schema does not allow a `{ty}` to be in a `{pty}`")));
        }
        indexes.push(index(pt, &pid));
    }
    Ok(indexes)
}

impl Resolver<'_> {
    /// The index of an entity, creating an empty one if it was not listed.
    fn index(&mut self, ty: u32, id: &str) -> u32 {
        let key = (ty, Box::<str>::from(id));
        if let Some(i) = self.by_uid.get(&key) {
            return *i;
        }
        let i = self.pending.len() as u32;
        self.pending.push(Pending { uid: key.clone(), attrs: None, parents: Vec::new(), tags: None, item: None });
        self.by_uid.insert(key, i);
        i
    }
}

impl Resolver<'_> {
    /// Pass 1: every listed entity gets its index and its attributes (still
    /// JSON), refusing an entity listed twice.
    fn list(&mut self, list: &[Arc<Json>]) -> Result<(), DataError> {
        for (n, item) in list.iter().enumerate() {
            let path = format!("entities[{n}]");
            let Listed::Entity { ty, id, attrs, tags } = listed(self.program, item, &path)? else {
                self.actions.push(Arc::clone(item));
                continue;
            };
            let i = self.index(ty, &id) as usize;
            if let Some(p) = self.pending.get_mut(i) {
                if p.attrs.is_some() {
                    return Err(data::error(&path, format!("entity {} is listed twice", attrs.1)));
                }
                p.tags = tags;
                p.attrs = Some(attrs);
                p.item = Some(Arc::clone(item));
            }
        }
        Ok(())
    }

    /// Each listed entity's parents, of types the schema allows it to be in.
    fn parents(&mut self, list: &[Arc<Json>]) -> Result<(), DataError> {
        let program = self.program;
        for (n, item) in list.iter().enumerate() {
            let item: &Json = item;
            let path = format!("entities[{n}]");
            let Some(uid) = item.get("uid") else { continue };
            let (ty, id) = data::entity_ref(uid, &path)?;
            if is_action_type(program, &ty) {
                continue;
            }
            let t = type_index(program, &ty, &path)?;
            let i = self.index(t, &id);
            let indexes = listed_parents(program, item, t, &ty, &path, |pt, pid| self.index(pt, pid))?;
            if let Some(p) = self.pending.get_mut(i as usize) {
                p.parents = indexes;
            }
        }
        Ok(())
    }

    /// The policy's agents: declared attributes and parents, merged under the data's.
    fn agents(&mut self, literals: &[u32]) {
        for agent in &self.program.agents {
            let Some(i) = literals.get(agent.entity as usize).copied() else { continue };
            if let Some(p) = self.pending.get_mut(i as usize) {
                merge_agent(agent, literals, &mut p.attrs, &mut p.parents);
            }
        }
    }

    /// Pass 2b: every listed entity's tags, typed by its type's `tags`, keys
    /// interned; in index order (entities without tags get none).
    fn tags(&mut self, tables: &mut Tables) -> Result<Vec<Tags>, DataError> {
        let program = self.program;
        let mut out = Vec::with_capacity(self.pending.len());
        for i in 0..self.pending.len() {
            let Some(p) = self.pending.get_mut(i) else { break };
            let (ty, json) = (p.uid.0, p.tags.take());
            let id = p.uid.1.clone();
            out.push(type_tags(program, ty, &id, json, tables, self)?);
        }
        // Entities created while reading tags (references to unlisted ones).
        out.resize(self.pending.len(), Box::default());
        Ok(out)
    }

    /// Pass 2: every entity's attributes as a record, in index order
    /// (entities first referenced here get empty records).
    fn records(&mut self, tables: &mut Tables) -> Result<Vec<Record>, DataError> {
        let program = self.program;
        let mut records: Vec<Record> = Vec::with_capacity(self.pending.len());
        let count = self.pending.len();
        for i in 0..count {
            // Taken: nothing reads an entity's JSON attributes after this.
            let Some(p) = self.pending.get_mut(i) else { break };
            let (ty, attrs) = (p.uid.0, p.attrs.take());
            records.push(type_attrs(program, ty, attrs.as_ref(), tables, self)?);
        }
        // Records for entities created while reading attributes (references to unlisted ones).
        while records.len() < self.pending.len() {
            let ty = self.pending.get(records.len()).map_or(0, |p| p.uid.0);
            let fields = program.entity_types.get(ty as usize).map_or(0, |t| t.attrs.len());
            records.push(Record::new(fields));
        }
        Ok(records)
    }
}

/// Agent `agent`'s declared attributes merged under an entity's attributes
/// from the data (`attrs`, `None` when it is not listed), and its declared
/// parents added to the data's.
pub(crate) fn merge_agent(
    agent: &ward_ir::Agent,
    literals: &[u32],
    attrs: &mut Option<(Json, String)>,
    parents: &mut Vec<u32>,
) {
    let declared: Json = serde_json::from_str(&agent.attrs).unwrap_or(Json::Object(Default::default()));
    let merged = match (attrs.take(), declared) {
        (Some((Json::Object(data), label)), Json::Object(mut decl)) => {
            for (k, v) in data {
                decl.insert(k, v);
            }
            (Json::Object(decl), label)
        }
        (Some(existing), _) => existing,
        (None, decl) => (decl, format!("agent `{}`", agent.name)),
    };
    *attrs = Some(merged);
    for parent in agent.parents.iter().filter_map(|k| literals.get(*k as usize).copied()) {
        if !parents.contains(&parent) {
            parents.push(parent);
        }
    }
}

/// An entity's attributes (`attrs`: the JSON and the entity's label, `None`
/// or `null` for an entity with none) typed by its type `ty`.
pub(crate) fn type_attrs(
    program: &Program,
    ty: u32,
    attrs: Option<&(Json, String)>,
    tables: &mut Tables,
    entities: &mut dyn Entities,
) -> Result<Record, DataError> {
    let fields = program.entity_types.get(ty as usize).map_or(&[][..], |t| t.attrs.as_slice());
    match attrs {
        // Named by the policy or referenced, but not listed: no attributes.
        None | Some((Json::Null, _)) => Ok(Record::new(fields.len())),
        Some((json, label)) => data::record(json, fields, program, tables, entities, &data::Path::Root(label), 0),
    }
}

/// An entity's tags (`json`, checked by [`tags_of`]) typed by its type's
/// `tags`, keys interned, sorted.
pub(crate) fn type_tags(
    program: &Program,
    ty: u32,
    id: &str,
    json: Option<serde_json::Map<String, Json>>,
    tables: &mut Tables,
    entities: &mut dyn Entities,
) -> Result<Tags, DataError> {
    let entity_type = program.entity_types.get(ty as usize);
    let (Some(json), Some(tag_ty)) = (json, entity_type.and_then(|t| t.tags.as_ref())) else {
        return Ok(Box::default());
    };
    let label = entity_type.map_or_else(String::new, |t| format!("{}::{id:?}", t.name));
    let mut tags = Vec::with_capacity(json.len());
    for (key, value) in &json {
        let root = format!("{label}, tag `{key}`");
        let v = data::value(value, tag_ty, program, tables, entities, &data::Path::Root(&root), 0)?;
        tags.push((tables.intern(key), v));
    }
    tags.sort_unstable_by_key(|(k, _)| *k);
    Ok(tags.into_boxed_slice())
}

/// Whether `ty` names Cedar's action type (`Action`, `NS::Action`) and
/// no entity type of the schema.
pub(crate) fn is_action_type(program: &Program, ty: &str) -> bool {
    (ty == "Action" || ty.ends_with("::Action")) && !program.entity_types.iter().any(|t| t.name == ty)
}

/// An `Action` entity, as Cedar's entity files may list: accepted when
/// it says what the schema says (the action exists, has no attributes,
/// and is in no group the schema does not put it in), and then adds
/// nothing (actions and their groups come from the schema). `false`
/// when `ty` is not the action type.
fn action_entity(program: &Program, item: &Json, ty: &str, id: &str, path: &str) -> Result<bool, DataError> {
    if !is_action_type(program, ty) {
        return Ok(false);
    }
    let label = format!("{ty}::{id:?}");
    let actions = &program.actions;
    let name = data::action_name(ty, id).unwrap_or(std::borrow::Cow::Borrowed(id));
    let Some(index) = actions.iter().position(|a| a.name == *name) else {
        let names = actions.iter().map(|a| a.name.as_str());
        let help = ward_ir::did_you_mean(id, names).map(|h| format!("; {h}")).unwrap_or_default();
        return Err(data::error(&format!("{path}.uid.id"), format!("{label}: no such action in the schema{help}")));
    };
    match item.get("attrs") {
        None | Some(Json::Null) => {}
        Some(Json::Object(a)) if a.is_empty() => {}
        Some(_) => {
            return Err(data::error(
                &format!("{path}.attrs"),
                format!("{label}: an action has no attributes in Ward; refused rather than ignored"),
            ));
        }
    }
    let groups = actions.get(index).map(|a| a.groups.clone()).unwrap_or_default();
    let parents = parents_of(item, path)?;
    for (k, p) in parents.iter().enumerate() {
        let ppath = format!("{path}.parents[{k}]");
        let (pty, pid) = data::entity_ref(p, &ppath)?;
        // A parent is any action the schema puts this one in (a pure
        // group, or an action that is also a group).
        let group = data::action_name(&pty, &pid).and_then(|g| actions.iter().position(|a| a.name == *g));
        let declared = is_action_type(program, &pty) && group.is_some_and(|g| groups.contains(&(g as u32)));
        if !declared {
            return Err(data::error(
                &ppath,
                format!(
                    "{label} is in {pty}::{pid:?} here, but the schema does not put action `{id}` in a group `{pid}`; \
                     actions and their groups come from the schema"
                ),
            ));
        }
    }
    Ok(true)
}

/// An entity's `"tags"` (Cedar's entity tags): an object, kept when its
/// type declares tags (`tags T`), to be typed with the attributes. On a type
/// that declares none, a tag is refused naming the entity and the tag (never
/// dropped); an empty `tags` object says nothing and is accepted.
fn tags_of(
    item: &Json,
    ty: &str,
    id: &str,
    path: &str,
    declared: bool,
) -> Result<Option<serde_json::Map<String, Json>>, DataError> {
    match item.get("tags") {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Object(tags)) if declared => Ok(Some(tags.clone())),
        Some(Json::Object(tags)) => match tags.keys().next() {
            None => Ok(None),
            Some(tag) => Err(data::error(
                &format!("{path}.tags.{tag}"),
                format!(
                    "entity {ty}::{id:?} has tag `{tag}`, but the schema declares no tags for `{ty}` \
                     (declare them with `entity {ty} … tags TYPE`); refused rather than dropped"
                ),
            )),
        },
        Some(other) => {
            Err(data::error(&format!("{path}.tags"), format!("expected an object, found {}", data::kind(other))))
        }
    }
}

/// The refusal of a hierarchy, entities named by `label`.
pub(crate) fn hierarchy_error(why: Hierarchy, label: impl Fn(u32) -> String) -> DataError {
    match why {
        Hierarchy::Cycle(cycle) => {
            let names: Vec<String> = cycle.iter().map(|i| label(*i)).collect();
            data::error(
                "entities",
                format!("the entity hierarchy has a cycle: {} (entity data must be acyclic)", names.join(" in ")),
            )
        }
        Hierarchy::TooMany(i) => data::error(
            "entities",
            format!(
                "{} is in more than {MAX_ANCESTORS} entities (directly or through its parents); Ward \
                 precomputes every entity's ancestors and refuses a hierarchy with more, so that \
                 loading stays linear in the data",
                label(i)
            ),
        ),
    }
}

/// Store index of an entity literal → the literals `k` it is.
pub(crate) fn literal_of(literals: &[u32]) -> FxHashMap<u32, Vec<u32>> {
    let mut out: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    for (k, index) in literals.iter().enumerate() {
        out.entry(*index).or_default().push(k as u32);
    }
    out
}

/// The literals entity `i` with `ancestors` is or is in, sorted.
pub(crate) fn in_literals_of(i: u32, ancestors: &[u32], literal_of: &FxHashMap<u32, Vec<u32>>) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for a in ancestors.iter().copied().chain(std::iter::once(i)) {
        out.extend(literal_of.get(&a).into_iter().flatten());
    }
    out.sort_unstable();
    out
}

/// The literal bits (`words` words) of an entity in the literals `ks`.
pub(crate) fn bits_of(ks: &[u32], words: usize) -> Box<[u64]> {
    let mut bits = vec![0u64; words];
    for k in ks {
        if let Some(w) = bits.get_mut(*k as usize / 64) {
            *w |= 1 << (k % 64);
        }
    }
    bits.into_boxed_slice()
}

/// The entities of a load, their nodes and their literal lists.
type Loaded = (Vec<Arc<Entity>>, Vec<Node>, InLiterals);

/// The loaded entities, with their ancestors and their bits for the
/// policy's entity literals (`words` words each); a cyclic hierarchy, or
/// one giving an entity more than [`MAX_ANCESTORS`] ancestors, is refused.
fn entities(
    program: &Program,
    pending: Vec<Pending>,
    records: Vec<Record>,
    tags: Vec<Tags>,
    literals: &[u32],
    words: usize,
) -> Result<Loaded, DataError> {
    let parents: Vec<Vec<u32>> = pending.iter().map(|p| p.parents.clone()).collect();
    let label = |i: u32| {
        pending.get(i as usize).map_or_else(String::new, |p| {
            let ty = program.entity_types.get(p.uid.0 as usize).map_or("?", |t| t.name.as_str());
            format!("{ty}::{:?}", &*p.uid.1)
        })
    };
    let ancestors = closure(&parents, MAX_ANCESTORS).map_err(|why| hierarchy_error(why, label))?.0;
    let mut children: Vec<Vec<u32>> = vec![Vec::new(); pending.len()];
    for (i, ps) in parents.iter().enumerate() {
        for p in ps {
            if let Some(list) = children.get_mut(*p as usize) {
                list.push(i as u32);
            }
        }
    }
    let literal_of = literal_of(literals);
    let mut in_literals = InLiterals::default();
    let mut nodes = Vec::with_capacity(pending.len());
    let mut out = Vec::with_capacity(pending.len());
    for (i, ((((p, attrs), tags), ancestors), mut children)) in
        pending.into_iter().zip(records).zip(tags).zip(ancestors).zip(children).enumerate()
    {
        let ks = in_literals_of(i as u32, &ancestors, &literal_of);
        let literal_bits = bits_of(&ks, words);
        in_literals.push(&ks);
        // Built in index order, but an entity listing a parent twice is its child once.
        children.dedup();
        nodes.push(Node { item: p.item, children: children.into() });
        out.push(Arc::new(Entity {
            ty: p.uid.0,
            id: p.uid.1,
            attrs,
            ancestors: ancestors.into_boxed_slice(),
            literal_bits,
            parents: p.parents.into_boxed_slice(),
            tags,
        }));
    }
    Ok((out, nodes, in_literals))
}

/// Handles for the program's IP and CIDR constants.
fn constants(program: &Program, tables: &mut Tables) -> HashMap<ward_ir::Const, Raw> {
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
    constants
}

/// The entities' attributes and literal bits laid out for native code.
struct Flat {
    /// Per entity, its presence words then its slots; then `padding` zeros.
    flat: Vec<u64>,
    padding: usize,
    /// Where each entity starts in `flat`.
    offsets: Vec<u32>,
    /// Every entity's literal bits, one row each.
    bits: Vec<u64>,
}

/// The offset the next entity's words start at in `flat` (of `len` words).
pub(crate) fn offset(len: usize) -> Result<u32, DataError> {
    u32::try_from(len).map_err(|_| data::error("entities", "too many attribute values (more than 2^32)"))
}

fn flatten(program: &Program, entities: &[Arc<Entity>], bits_words: usize) -> Result<Flat, DataError> {
    let mut flat = Vec::new();
    let mut offsets = Vec::with_capacity(entities.len());
    let mut bits = Vec::with_capacity(entities.len() * bits_words);
    for e in entities {
        offsets.push(offset(flat.len())?);
        flat.extend_from_slice(&e.attrs.present);
        flat.extend_from_slice(&e.attrs.slots);
        bits.extend_from_slice(&e.literal_bits);
    }
    // Padding, so that native code reading any type's attribute words at
    // any entity's offset stays inside `flat` (see `jit::JitCtx`).
    let region = crate::jit::attribute_region(program);
    flat.resize(flat.len() + region, 0);
    Ok(Flat { flat, offsets, bits, padding: region })
}

impl Entities for Resolver<'_> {
    fn entity(&mut self, ty: &str, id: &str, path: &str) -> Result<(u32, Raw), DataError> {
        let t = type_index(self.program, ty, path)?;
        Ok((t, u64::from(self.index(t, id))))
    }
}

impl Store {
    /// An empty store (only the entities the policy itself declares).
    pub fn empty(program: Arc<Program>) -> Result<Store, DataError> {
        Store::load(program, &Json::Array(Vec::new()))
    }

    /// Loads entities from the text of Cedar's JSON entity format, read
    /// strictly ([`crate::json`]: no duplicate keys, numbers exact).
    pub fn load_str(program: Arc<Program>, text: &str) -> Result<Store, DataError> {
        Store::load(program, &parse_entities(text)?)
    }

    /// Loads entities from Cedar's JSON entity format.
    pub fn load(program: Arc<Program>, json: &Json) -> Result<Store, DataError> {
        let list = json.as_array().ok_or_else(|| {
            data::error("entities", format!("expected an array of entities, found {}", data::kind(json)))
        })?;
        // The list is copied (a patch edits the copy later): a value built in
        // memory may nest deeper than any stack, and cloning or dropping it
        // recurses, so the depth is checked before anything is copied.
        for (n, item) in list.iter().enumerate() {
            data::check_depth(item, &format!("entities[{n}]"))?;
        }
        let items: Vec<Arc<Json>> = list.iter().map(|item| Arc::new(item.clone())).collect();
        Store::from_items(program, &items, DEFAULT_ANCESTOR_BUDGET)
    }

    /// Loads the entity list `items` (the items of Cedar's JSON entity format).
    pub(crate) fn from_items(program: Arc<Program>, list: &[Arc<Json>], budget: usize) -> Result<Store, DataError> {
        let mut tables = Tables::default();
        for s in &program.strings {
            tables.intern(s);
        }
        let mut r = Resolver { program: &program, by_uid: HashMap::new(), pending: Vec::new(), actions: Vec::new() };
        // The policy's own entities (agents, literals) exist even without data.
        let mut literals = Vec::with_capacity(program.entity_literals.len());
        for (ty, id) in &program.entity_literals {
            literals.push(r.index(*ty, id));
        }
        // Pass 1: every listed entity gets its index, so references resolve in any order.
        r.list(list)?;
        r.parents(list)?;
        r.agents(&literals);
        // Pass 2: attributes, now that every reference resolves.
        let records = r.records(&mut tables)?;
        let mut tags = r.tags(&mut tables)?;
        let Resolver { by_uid, pending, actions, .. } = r;
        // Tags may name entities no attribute did: they have no attributes, and no tags.
        tags.resize(pending.len(), Box::default());
        let mut records = records;
        while records.len() < pending.len() {
            let ty = pending.get(records.len()).map_or(0, |p| p.uid.0);
            records.push(Record::new(program.entity_types.get(ty as usize).map_or(0, |t| t.attrs.len())));
        }
        let bits_words = program.entity_literals.len().div_ceil(64).max(1);
        let (entities, nodes, in_literals) = entities(&program, pending, records, tags, &literals, bits_words)?;
        let constants = constants(&program, &mut tables);
        let types = entities.iter().map(|e| e.ty).collect();
        let ancestry = Ancestry::new(entities.len(), entities.iter().map(|e| &e.ancestors[..]), budget);
        let Flat { flat, offsets, bits, padding } = flatten(&program, &entities, bits_words)?;
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
        let mut store = Store {
            program,
            entities,
            by_uid: by_type.into_iter().map(Arc::new).collect(),
            type_ids: Arc::new(type_ids),
            action_ids: Arc::new(action_ids),
            uses_chain,
            tables,
            literals,
            constants,
            flat,
            offsets,
            bits,
            bits_words,
            padding,
            nodes,
            action_items: actions,
            in_literals,
            types,
            ancestry,
            loaded_size: 0,
        };
        store.loaded_size = store.size();
        Ok(store)
    }

    /// How much the store holds, in entries (entities, table entries,
    /// attribute words, literal memberships): what a patch's garbage is
    /// measured against.
    pub(crate) fn size(&self) -> usize {
        let t = &self.tables;
        self.entities.len()
            + t.strings.len()
            + t.sets.len()
            + t.records.len()
            + t.ips.len()
            + t.cidrs.len()
            + self.flat.len()
            + self.in_literals.ids.len()
    }

    /// The entity list the store was loaded from, as patched: every listed
    /// entity's item, in index order, then the items listing actions.
    pub(crate) fn items(&self) -> Vec<Arc<Json>> {
        self.nodes.iter().filter_map(|n| n.item.clone()).chain(self.action_items.iter().cloned()).collect()
    }

    /// The policy's entity literals (`k` of [`Program::entity_literals`])
    /// that entity `index` is, or is in, sorted: a request visits the rules
    /// indexed under these (`principal in Team::"ops"`) and no others. An
    /// entity the store does not have (a request's own) is in none.
    pub fn in_literals(&self, index: u32) -> &[u32] {
        self.in_literals.of(index)
    }

    /// How many entities the store has.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// The store index of the program's entity literal `k`.
    pub fn literal(&self, k: u32) -> Option<u32> {
        self.literals.get(k as usize).copied()
    }

    pub fn get(&self, index: u32) -> Option<&Entity> {
        self.entities.get(index as usize).map(|e| &**e)
    }

    /// The type of entity `index`, from a flat table (no `Entity` read).
    #[inline]
    pub fn entity_type(&self, index: u32) -> Option<u32> {
        self.types.get(index as usize).copied()
    }

    /// Whether entity `entity` is `ancestor` or (transitively) in it: a bit
    /// test when the store keeps ancestor bits, else a search of its
    /// ancestor list. `None` for an entity the store does not have.
    #[inline]
    pub fn entity_in(&self, entity: u32, ancestor: u32) -> Option<bool> {
        if entity == ancestor {
            return Some(true);
        }
        if let Some(below) = self.ancestry.below(entity, ancestor) {
            return Some(below);
        }
        self.get(entity).map(|e| e.has_ancestor(ancestor))
    }

    /// What the ancestor bits alone say of `entity in ancestor` (strictly
    /// below): `None` without bits, or for an entity the store does not
    /// have. For tests, against [`Entity::has_ancestor`].
    #[doc(hidden)]
    pub fn ancestor_bit(&self, entity: u32, ancestor: u32) -> Option<bool> {
        self.ancestry.below(entity, ancestor)
    }

    /// Whether the store keeps ancestor bits (within its budget).
    pub fn has_ancestor_bits(&self) -> bool {
        self.ancestry.has_rows()
    }

    /// The same store with its ancestor bits computed again under a budget
    /// of `bytes` (entities × ranks / 8): past it, `in` tests take the
    /// ancestor lists, with the same results. Patches of the result keep
    /// the budget.
    pub fn with_ancestor_budget(mut self, bytes: usize) -> Store {
        self.ancestry = Ancestry::new(self.entities.len(), self.entities.iter().map(|e| &e.ancestors[..]), bytes);
        self
    }

    pub fn find(&self, ty: u32, id: &str) -> Option<u32> {
        self.by_uid.get(ty as usize)?.get(id).copied()
    }

    /// Whether entity `index` is listed by an item of the data (not only
    /// referenced, or named by the policy).
    pub fn is_listed(&self, index: u32) -> bool {
        self.nodes.get(index as usize).is_some_and(|n| n.item.is_some())
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
                let mut out = String::with_capacity(ty.len() + e.id.len() + 4);
                write_uid(&mut out, ty, &e.id);
                out
            }
            None => format!("#{index}"),
        }
    }
}

impl Store {
    /// Checks what the store derives from its entities against the entities
    /// (their attribute words and literal bits for native code, literal
    /// lists, ancestors recomputed from the parents, children, the uid
    /// index): a patched store must hold exactly what a load would derive.
    /// For tests; linear in the store (ancestors: in their total).
    #[doc(hidden)]
    pub fn check_derived(&self) -> Result<(), String> {
        let n = self.entities.len();
        let words = self.bits_words;
        if self.offsets.len() != n || self.nodes.len() != n || self.in_literals.spans.len() != n {
            return Err("a table does not have one row per entity".into());
        }
        if self.bits.len() != n * words {
            return Err("literal bits: not one row per entity".into());
        }
        if self.types.len() != n || self.types.iter().zip(&self.entities).any(|(t, e)| *t != e.ty) {
            return Err("the type table is not the entities' types".into());
        }
        let parents: Vec<Vec<u32>> = self.entities.iter().map(|e| e.parents.to_vec()).collect();
        let (ancestors, _) = closure(&parents, MAX_ANCESTORS).map_err(|e| format!("the hierarchy: {e:?}"))?;
        self.ancestry.check(&ancestors)?;
        let mut children: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (i, ps) in parents.iter().enumerate() {
            for p in ps {
                if let Some(list) = children.get_mut(*p as usize) {
                    list.push(i as u32);
                }
            }
        }
        let literal_of = literal_of(&self.literals);
        let mut end = 0;
        for (i, e) in self.entities.iter().enumerate() {
            let uid = self.uid(i as u32);
            let at = self.offsets.get(i).map_or(0, |o| *o as usize);
            let want: Vec<u64> = e.attrs.present.iter().chain(e.attrs.slots.iter()).copied().collect();
            end = end.max(at + want.len());
            if self.flat.get(at..at + want.len()) != Some(&want[..]) {
                return Err(format!("{uid}: its attribute words differ from its attributes"));
            }
            if ancestors.get(i).map(Vec::as_slice) != Some(&e.ancestors[..]) {
                return Err(format!("{uid}: its ancestors are not its parents' closure"));
            }
            let ks = in_literals_of(i as u32, &e.ancestors, &literal_of);
            if self.in_literals.of(i as u32) != &ks[..] {
                return Err(format!("{uid}: its literal list is not its ancestors'"));
            }
            if *bits_of(&ks, words) != *e.literal_bits
                || self.bits.get(i * words..(i + 1) * words) != Some(&e.literal_bits[..])
            {
                return Err(format!("{uid}: its literal bits are not its ancestors'"));
            }
            let mut kids = children.get(i).cloned().unwrap_or_default();
            kids.dedup();
            if self.nodes.get(i).map(|n| &n.children[..]) != Some(&kids[..]) {
                return Err(format!("{uid}: its children are not the entities naming it a parent"));
            }
            if self.find(e.ty, &e.id) != Some(i as u32) {
                return Err(format!("{uid}: not found by its uid"));
            }
        }
        if self.by_uid.iter().map(|m| m.len()).sum::<usize>() != n {
            return Err("the uid index has entities the store does not".into());
        }
        if self.flat.len() < end + self.padding || self.flat.iter().skip(end).any(|w| *w != 0) {
            return Err("the attribute words are not followed by the padding".into());
        }
        for (k, (ty, id)) in self.program.entity_literals.iter().enumerate() {
            if self.literals.get(k).and_then(|i| self.get(*i)).is_none_or(|e| e.ty != *ty || *e.id != **id) {
                return Err(format!("entity literal {k} is not its entity"));
            }
        }
        Ok(())
    }
}

/// Every entity's literal memberships as sorted lists: the same facts as
/// the entities' literal bits, but a visit costs the entity's own
/// memberships rather than a scan of one bit per literal. A patch appends
/// the lists it changes and points the entity at them.
#[derive(Debug, Default, Clone)]
pub(crate) struct InLiterals {
    /// Entity `i`'s literals are `ids[spans[i].0..spans[i].1]`.
    spans: Vec<(usize, usize)>,
    ids: Vec<u32>,
}

impl InLiterals {
    /// Appends the next entity's literals.
    pub(crate) fn push(&mut self, ks: &[u32]) {
        let start = self.ids.len();
        self.ids.extend_from_slice(ks);
        self.spans.push((start, self.ids.len()));
    }

    /// Entity `i`'s literals become `ks` (appended; the old list is left).
    pub(crate) fn set(&mut self, i: u32, ks: &[u32]) {
        let start = self.ids.len();
        self.ids.extend_from_slice(ks);
        let end = self.ids.len();
        if let Some(span) = self.spans.get_mut(i as usize) {
            *span = (start, end);
        }
    }

    fn of(&self, index: u32) -> &[u32] {
        match self.spans.get(index as usize) {
            Some((a, b)) => self.ids.get(*a..*b).unwrap_or(&[]),
            None => &[],
        }
    }
}

/// Why a hierarchy was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Hierarchy {
    /// A cycle, as the entities along it, the first repeated at the end.
    Cycle(Vec<u32>),
    /// This entity would have more than the limit of ancestors.
    TooMany(u32),
}

/// The sorted transitive ancestors of every node, and the work it took
/// (parent lists read, for the tests). Parents are computed before their
/// children (Kahn's order), each node's set merged from its parents' sets:
/// the work is at most `(limit + 1)` per parent edge, so loading is linear
/// in the data however deep or wide the hierarchy; a node that would have
/// more than `limit` ancestors is refused, as is a cycle (named).
pub(crate) fn closure(parents: &[Vec<u32>], limit: usize) -> Result<(Vec<Vec<u32>>, usize), Hierarchy> {
    let n = parents.len();
    let mut children: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut waiting: Vec<usize> = vec![0; n];
    for (child, ps) in parents.iter().enumerate() {
        for p in ps {
            if let (Some(list), Some(w)) = (children.get_mut(*p as usize), waiting.get_mut(child)) {
                list.push(child as u32);
                *w += 1;
            }
        }
    }
    let mut ready: Vec<u32> = (0..n as u32).filter(|i| waiting.get(*i as usize) == Some(&0)).collect();
    let mut out: Vec<Option<Vec<u32>>> = vec![None; n];
    // `mark[a] == node + 1` when `a` is already in `node`'s list.
    let mut mark: Vec<u32> = vec![0; n];
    let mut work = 0usize;
    while let Some(node) = ready.pop() {
        let stamp = node + 1;
        let mut list = Vec::new();
        for p in parents.get(node as usize).into_iter().flatten() {
            let inherited = out.get(*p as usize).and_then(Option::as_ref).map_or(&[][..], Vec::as_slice);
            work += 1 + inherited.len();
            for a in std::iter::once(p).chain(inherited) {
                if let Some(m) = mark.get_mut(*a as usize)
                    && *m != stamp
                {
                    *m = stamp;
                    list.push(*a);
                }
            }
            if list.len() > limit {
                return Err(Hierarchy::TooMany(node));
            }
        }
        list.sort_unstable();
        if let Some(slot) = out.get_mut(node as usize) {
            *slot = Some(list);
        }
        for c in children.get(node as usize).into_iter().flatten() {
            if let Some(w) = waiting.get_mut(*c as usize) {
                *w -= 1;
                if *w == 0 {
                    ready.push(*c);
                }
            }
        }
    }
    if let Some(start) = out.iter().position(Option::is_none) {
        return Err(Hierarchy::Cycle(find_cycle(parents, &out, start as u32)));
    }
    Ok((out.into_iter().map(Option::unwrap_or_default).collect(), work))
}

/// A cycle among the nodes Kahn's order never reached: each of them has a
/// parent that was not reached either, so following such parents from
/// `start` must come back to a node already seen.
fn find_cycle(parents: &[Vec<u32>], done: &[Option<Vec<u32>>], start: u32) -> Vec<u32> {
    cycle_from(start, |node| {
        parents
            .get(node as usize)
            .into_iter()
            .flatten()
            .copied()
            .find(|p| done.get(*p as usize).is_some_and(Option::is_none))
    })
}

/// A cycle through `start`, whose every node has a next one (`next`) in
/// the cycle's component: following them must come back to a node seen.
pub(crate) fn cycle_from(start: u32, next: impl Fn(u32) -> Option<u32>) -> Vec<u32> {
    let mut seen_at: FxHashMap<u32, usize> = FxHashMap::default();
    let mut path = Vec::new();
    let mut node = start;
    loop {
        if let Some(&i) = seen_at.get(&node) {
            let mut cycle = path.split_off(i);
            cycle.push(node);
            return cycle;
        }
        seen_at.insert(node, path.len());
        path.push(node);
        match next(node) {
            Some(p) => node = p,
            None => return path,
        }
    }
}

/// Cedar's entity JSON text, read strictly ([`crate::json`]): errors are
/// named from `entities` (`entities[3].attrs.limit`).
pub fn parse_entities(text: &str) -> Result<Json, DataError> {
    crate::json::parse(text, "entities", &data::Path::Root("entities"))
}

/// Appends `ty::"id"` to `out`, the id quoted and escaped as Rust's `{:?}`
/// does (the form decisions and messages show); an id of printable ASCII
/// without `"` or `\` — nearly every id — is copied as it is, without
/// the formatting machinery (rate-limit keys are built per decision).
pub fn write_uid(out: &mut String, ty: &str, id: &str) {
    out.push_str(ty);
    out.push_str("::");
    if id.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(id);
        out.push('"');
    } else {
        use std::fmt::Write;
        let _ = write!(out, "{id:?}");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::{Hierarchy, closure};

    #[test]
    fn uids_are_written_as_debug_formatting_writes_them() {
        let ids = [
            "",
            "bot",
            "a b",
            "quote\"d",
            "back\\slash",
            "tab\t",
            "new\nline",
            "é",
            "日本",
            "\u{7f}",
            "\u{200b}",
            "'single'",
            "~!@#$%^&*()",
        ];
        for id in ids {
            let mut out = String::new();
            super::write_uid(&mut out, "Agent", id);
            assert_eq!(out, format!("Agent::{id:?}"), "{id:?}");
        }
    }

    #[test]
    fn ancestors_are_transitive_and_cycles_are_named() {
        let parents = vec![vec![1], vec![2], vec![], vec![0, 2]];
        let (a, _) = closure(&parents, 10).unwrap();
        assert_eq!(a[0], vec![1, 2]);
        assert_eq!(a[2], Vec::<u32>::new());
        assert_eq!(a[3], vec![0, 1, 2]);
        let cyclic = vec![vec![1], vec![2], vec![0], vec![0]];
        assert_eq!(closure(&cyclic, 10), Err(Hierarchy::Cycle(vec![0, 1, 2, 0])));
        assert_eq!(closure(&[vec![0]], 10), Err(Hierarchy::Cycle(vec![0, 0])));
    }

    /// The work is linear: at most `limit + 1` per parent edge, however the
    /// hierarchy is shaped (a chain used to cost the square of its depth).
    #[test]
    fn the_work_is_bounded_by_the_limit_per_edge() {
        let limit = 64;
        // A chain within the limit: the output itself is quadratic, and so is the work, but bounded.
        let chain = |n: usize| (0..n).map(|i| if i + 1 < n { vec![i as u32 + 1] } else { vec![] }).collect::<Vec<_>>();
        let (_, work) = closure(&chain(limit + 1), limit).unwrap();
        assert!(work <= (limit + 1) * (limit + 1), "{work}");
        // A chain far beyond it: refused after at most `limit + 1` units per edge read.
        let long = chain(1_000_000);
        assert!(matches!(closure(&long, limit), Err(Hierarchy::TooMany(_))));
        // Wide: 1,000 leaves under one node that is in 60 groups: 61 per leaf.
        let mut wide: Vec<Vec<u32>> = (0..60).map(|_| vec![]).collect();
        wide.push((0..60).collect());
        wide.extend((0..1000).map(|_| vec![60]));
        let (a, work) = closure(&wide, limit).unwrap();
        assert_eq!(a[100].len(), 61);
        assert!(work <= 1000 * 62 + 60, "{work}");
    }
}
