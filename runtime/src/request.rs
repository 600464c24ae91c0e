//! Requests and frames.
//!
//! A [`Request`] says who asks to do what to which resource, with which
//! context, on whose behalf, in which session. [`Frame::build`] checks it
//! against the schema (the action exists and accepts these principal and
//! resource types; the context has exactly the declared fields, of the
//! declared types) and lays it out for evaluation: entities as store
//! indexes, the context as a record of value words, strings interned.

use std::cell::RefCell;

use serde_json::Value as Json;
use ward_ir::Program;

use crate::data::{self, DataError, Entities};
use crate::store::{Entity, Store};
use crate::value::{Raw, Record, Tables};

/// An entity reference: `Type::"id"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct EntityUid {
    #[serde(rename = "type")]
    pub ty: String,
    pub id: String,
}

impl EntityUid {
    pub fn new(ty: impl Into<String>, id: impl Into<String>) -> EntityUid {
        EntityUid { ty: ty.into(), id: id.into() }
    }
}

impl std::fmt::Display for EntityUid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}::{:?}", self.ty, self.id)
    }
}

/// A request, as callers build it (or as parsed from Cedar's JSON shape).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub principal: EntityUid,
    pub action: String,
    pub resource: EntityUid,
    /// The context as JSON (typed against the action's context when the frame is built).
    pub context: Json,
    /// The delegation chain, origin first (empty: the principal acts for itself).
    pub on_behalf_of: Vec<EntityUid>,
    pub session: Option<String>,
}

/// The largest request body Ward reads (a context is a few fields; anything
/// larger is refused before it is parsed).
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

impl Request {
    /// A request without context or delegation.
    pub fn new(principal: EntityUid, action: impl Into<String>, resource: EntityUid) -> Request {
        Request {
            principal,
            action: action.into(),
            resource,
            context: Json::Object(Default::default()),
            on_behalf_of: Vec::new(),
            session: None,
        }
    }

    pub fn with_context(mut self, context: Json) -> Request {
        self.context = context;
        self
    }

    pub fn on_behalf_of(mut self, chain: Vec<EntityUid>) -> Request {
        self.on_behalf_of = chain;
        self
    }

    pub fn in_session(mut self, session: impl Into<String>) -> Request {
        self.session = Some(session.into());
        self
    }

    /// Parses Cedar's request shape: `{"principal": {"type", "id"}, "action":
    /// "read" | {"type": "Action", "id": "read"}, "resource": {…}, "context":
    /// {…}, "on_behalf_of": [{…}], "session": "…"}`.
    pub fn from_json(json: &Json) -> Result<Request, DataError> {
        let obj = json
            .as_object()
            .ok_or_else(|| data::error("request", format!("expected an object, found {}", data::kind(json))))?;
        for key in obj.keys() {
            if !["principal", "action", "resource", "context", "on_behalf_of", "session"].contains(&key.as_str()) {
                return Err(data::error(
                    key,
                    "not a request field (principal, action, resource, context, on_behalf_of, session)",
                ));
            }
        }
        let uid = |key: &str| -> Result<EntityUid, DataError> {
            let v = obj.get(key).ok_or_else(|| data::error(key, "missing"))?;
            let (t, i) = data::entity_ref(v, key)?;
            Ok(EntityUid::new(t, i))
        };
        let action = match obj.get("action") {
            // Cedar's CLI writes `"Action::\"read\""`: a Ward action name never holds `::"`.
            Some(Json::String(s)) if s.contains("::\"") => {
                let (ty, id) = data::entity_ref_text(s).map_err(|e| data::error("action", e))?;
                let Some(name) = data::action_name(ty, &id) else {
                    return Err(data::error(
                        "action",
                        format!("expected an action (`Action::\"read\"`), found an entity of type `{ty}`"),
                    ));
                };
                name.into_owned()
            }
            Some(Json::String(s)) => s.clone(),
            Some(v @ Json::Object(o)) => {
                // Cedar's `{"type": "Action", "id": "read"}`: an entity of any other type is not an action.
                let (ty, id) = data::entity_ref(v, "action")?;
                let Some(name) = data::action_name(&ty, &id) else {
                    let at = if o.contains_key("__entity") { "action.__entity.type" } else { "action.type" };
                    return Err(data::error(
                        at,
                        format!(
                            "expected \"Action\" (an action is named by a string, or by {{\"type\": \"Action\", \"id\": …}}), found \"{ty}\""
                        ),
                    ));
                };
                name.into_owned()
            }
            Some(other) => {
                return Err(data::error("action", format!("expected an action name, found {}", data::kind(other))));
            }
            None => return Err(data::error("action", "missing")),
        };
        let context = match obj.get("context") {
            None | Some(Json::Null) => Json::Object(Default::default()),
            Some(c @ Json::Object(_)) => {
                // Before the copy: a value built in memory may nest deeper than any stack.
                data::check_depth(c, "context")?;
                c.clone()
            }
            Some(other) => {
                return Err(data::error("context", format!("expected an object, found {}", data::kind(other))));
            }
        };
        let on_behalf_of = match obj.get("on_behalf_of") {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| data::entity_ref(v, &format!("on_behalf_of[{i}]")).map(|(t, id)| EntityUid::new(t, id)))
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(data::error(
                    "on_behalf_of",
                    format!("expected an array of entities, found {}", data::kind(other)),
                ));
            }
        };
        let session = match obj.get("session") {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(data::error("session", format!("expected a string, found {}", data::kind(other))));
            }
        };
        Ok(Request { principal: uid("principal")?, action, resource: uid("resource")?, context, on_behalf_of, session })
    }

    /// Parses a request from JSON text, refusing oversized input, duplicate
    /// keys and numbers that cannot be read exactly ([`crate::json`]).
    pub fn from_json_str(text: &str) -> Result<Request, DataError> {
        if text.len() > MAX_REQUEST_BYTES {
            return Err(data::error(
                "request",
                format!("{} bytes is larger than the limit of {MAX_REQUEST_BYTES}", text.len()),
            ));
        }
        // The common shape, read without the intermediate document; anything
        // else (and every error) is read the general way, which names it.
        if let Some(request) = crate::json::request_fast(text) {
            return Ok(request);
        }
        // Strictly: duplicate keys and numbers a double would round are refused (crate::json).
        let json = crate::json::parse_request(text)?;
        Request::from_json(&json)
    }

    pub fn to_json(&self) -> Json {
        let mut obj = serde_json::Map::new();
        obj.insert("principal".into(), serde_json::json!({"type": self.principal.ty, "id": self.principal.id}));
        obj.insert("action".into(), Json::String(self.action.clone()));
        obj.insert("resource".into(), serde_json::json!({"type": self.resource.ty, "id": self.resource.id}));
        obj.insert("context".into(), self.context.clone());
        if !self.on_behalf_of.is_empty() {
            let chain: Vec<Json> =
                self.on_behalf_of.iter().map(|u| serde_json::json!({"type": u.ty, "id": u.id})).collect();
            obj.insert("on_behalf_of".into(), Json::Array(chain));
        }
        if let Some(s) = &self.session {
            obj.insert("session".into(), Json::String(s.clone()));
        }
        Json::Object(obj)
    }
}

/// A request laid out for evaluation.
#[derive(Debug)]
pub struct Frame {
    pub action: u32,
    pub principal: u32,
    pub resource: u32,
    /// The caller (the principal as sent); `principal` may be re-bound to
    /// each link of the delegation chain.
    pub actor: u32,
    /// The chain's entities, origin first, the actor last.
    pub chain: Vec<u32>,
    /// A set handle of the chain.
    pub chain_set: Raw,
    /// The context record's handle.
    pub context: Raw,
    /// The action's result, when a result flow is being recorded
    /// ([`Frame::set_response`]); `Raw::MAX` otherwise.
    pub response: Raw,
    /// Decision time, milliseconds since the epoch.
    pub now: i64,
    /// The request's own strings, sets and records (handles ≥ [`LOCAL`]).
    pub tables: Tables,
    /// Entities the request names that the store does not have (indexes ≥ [`LOCAL`]).
    pub temp: Vec<Entity>,
    /// Strings computed during evaluation (`lower()`): kept apart so that
    /// evaluation reads the frame immutably.
    pub scratch: RefCell<Vec<Box<str>>>,
    /// Sets built during evaluation (set literals with variable elements).
    pub scratch_sets: RefCell<Vec<Box<[Raw]>>>,
    /// Records built during evaluation (record literals).
    pub scratch_records: RefCell<Vec<crate::value::Record>>,
    /// The request's session ([`Frame::session`]), its memory reused.
    session: String,
    has_session: bool,
}

/// Which side of a request an entity is on: the types an action accepts differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Principal,
    Resource,
}

struct FrameEntities<'a> {
    store: &'a Store,
    temp: &'a mut Vec<Entity>,
}

impl FrameEntities<'_> {
    fn index(&mut self, ty: &str, id: &str, path: &str) -> Result<(u32, u32), DataError> {
        let t = Frame::type_of(self.store, ty, path)?;
        Ok((t, self.index_of_type(t, id)))
    }

    /// The index of entity `id` of type `t`: the store's, or one of the
    /// frame's own (no attributes, no parents) if the store does not have it.
    #[inline]
    fn index_of_type(&mut self, t: u32, id: &str) -> u32 {
        if let Some(i) = self.store.find(t, id) {
            return i;
        }
        if let Some(pos) = self.temp.iter().position(|e| e.ty == t && &*e.id == id) {
            return LOCAL_ENTITY + pos as u32;
        }
        let program = &self.store.program;
        let fields = program.entity_types.get(t as usize).map_or(0, |e| e.attrs.len());
        let words = program.entity_literals.len().div_ceil(64).max(1);
        self.temp.push(Entity {
            ty: t,
            id: id.into(),
            attrs: Record::new(fields),
            ancestors: Box::new([]),
            literal_bits: vec![0; words].into_boxed_slice(),
            parents: Box::new([]),
            tags: Box::new([]),
        });
        LOCAL_ENTITY + self.temp.len() as u32 - 1
    }
}

impl Entities for FrameEntities<'_> {
    fn entity(&mut self, ty: &str, id: &str, path: &str) -> Result<(u32, Raw), DataError> {
        self.index(ty, id, path).map(|(t, i)| (t, u64::from(i)))
    }

    fn string(&mut self, s: &str, tables: &mut Tables) -> Raw {
        match self.store.tables.string_ids.get(s) {
            Some(id) => *id,
            None => tables.intern(s),
        }
    }
}

/// Entity indexes of entities the store does not have start here.
pub const LOCAL_ENTITY: u32 = 1 << 31;

impl Frame {
    /// Checks `request` against the schema and lays it out.
    pub fn build(store: &Store, request: &Request, now: i64) -> Result<Frame, DataError> {
        let mut frame = Frame::empty();
        frame.rebuild(store, request, now)?;
        Ok(frame)
    }

    /// A frame for no request yet, to [`Frame::rebuild`].
    pub fn empty() -> Frame {
        Frame {
            action: 0,
            principal: 0,
            resource: 0,
            actor: 0,
            chain: Vec::new(),
            chain_set: Raw::MAX,
            context: Raw::MAX,
            response: Raw::MAX,
            now: 0,
            tables: Tables::local(),
            temp: Vec::new(),
            scratch: RefCell::new(Vec::new()),
            scratch_sets: RefCell::new(Vec::new()),
            scratch_records: RefCell::new(Vec::new()),
            session: String::new(),
            has_session: false,
        }
    }

    /// Lays out `request` in this frame, reusing its memory: the engine
    /// keeps one frame per thread, so that deciding allocates nothing in
    /// the steady state. On an error the frame holds no request.
    pub fn rebuild(&mut self, store: &Store, request: &Request, now: i64) -> Result<(), DataError> {
        self.reset(now);
        let program: &Program = &store.program;
        let action = Frame::action_of(store, &request.action)?;
        let info = program.actions.get(action as usize).ok_or_else(|| data::error("action", "unknown action"))?;
        let principal = self.checked_entity(
            store,
            info,
            Side::Principal,
            &request.principal.ty,
            &request.principal.id,
            "principal",
        )?;
        let resource =
            self.checked_entity(store, info, Side::Resource, &request.resource.ty, &request.resource.id, "resource")?;
        for (i, uid) in request.on_behalf_of.iter().enumerate() {
            let index =
                self.checked_entity(store, info, Side::Principal, &uid.ty, &uid.id, &format!("on_behalf_of[{i}]"))?;
            if !self.chain.contains(&index) {
                self.chain.push(index);
            }
        }
        let mut ents = FrameEntities { store, temp: &mut self.temp };
        let context = data::record(
            &request.context,
            &info.context,
            program,
            &mut self.tables,
            &mut ents,
            &data::Path::Root("context"),
            0,
        )?;
        self.set_session(request.session.as_deref());
        self.finish(store, action, principal, resource, context);
        Ok(())
    }

    /// Empties the frame for a new request decided at `now`, keeping its memory.
    #[inline]
    pub(crate) fn reset(&mut self, now: i64) {
        self.tables.clear();
        self.temp.clear();
        self.chain.clear();
        self.scratch.get_mut().clear();
        self.scratch_sets.get_mut().clear();
        self.scratch_records.get_mut().clear();
        self.chain_set = Raw::MAX;
        self.context = Raw::MAX;
        self.response = Raw::MAX;
        self.session.clear();
        self.has_session = false;
        self.now = now;
    }

    /// The index of the action `name`, which must be requestable (not a
    /// group); the error names it, with a suggestion.
    #[inline]
    pub(crate) fn action_of(store: &Store, name: &str) -> Result<u32, DataError> {
        match store.action_index(name) {
            Some(action) if store.program.actions.get(action as usize).is_some_and(|a| !a.is_group) => Ok(action),
            found => Err(Frame::action_error(store, name, found)),
        }
    }

    /// Why `name` cannot be requested: unknown (with a suggestion), or a group.
    #[cold]
    #[inline(never)]
    fn action_error(store: &Store, name: &str, found: Option<u32>) -> DataError {
        let program: &Program = &store.program;
        match found.and_then(|a| program.actions.get(a as usize)) {
            Some(info) => {
                data::error("action", format!("`{}` is a group of actions and cannot be requested", info.name))
            }
            None if found.is_some() => data::error("action", "unknown action"),
            None => {
                let names = program.actions.iter().filter(|a| !a.is_group).map(|a| a.name.as_str());
                let help = ward_ir::did_you_mean(name, names).map(|h| format!("; {h}")).unwrap_or_default();
                data::error("action", format!("unknown action `{name}`{help}"))
            }
        }
    }

    /// The index of the entity type `name`; the error (at `path`) names
    /// it, with a suggestion.
    #[inline]
    pub(crate) fn type_of(store: &Store, name: &str, path: &str) -> Result<u32, DataError> {
        match store.type_index(name) {
            Some(t) => Ok(t),
            None => Err(Frame::type_error(store, name, path)),
        }
    }

    #[cold]
    #[inline(never)]
    fn type_error(store: &Store, name: &str, path: &str) -> DataError {
        let types = store.program.entity_types.iter().map(|e| e.name.as_str());
        let help = ward_ir::did_you_mean(name, types).map(|h| format!("; {h}")).unwrap_or_default();
        data::error(path, format!("unknown entity type `{name}`{help}"))
    }

    /// The index of entity `ty::id` (one of the frame's own if the store
    /// does not have it), refused if `action` does not accept its type on
    /// `side`.
    #[inline]
    pub(crate) fn checked_entity(
        &mut self,
        store: &Store,
        action: &ward_ir::Action,
        side: Side,
        ty: &str,
        id: &str,
        path: &str,
    ) -> Result<u32, DataError> {
        let t = Frame::type_of(store, ty, path)?;
        self.checked_entity_of_type(store, action, side, (t, ty), id, path)
    }

    /// [`Frame::checked_entity`] for a type already looked up: `ty` is its
    /// index and its name (for the error).
    #[inline]
    pub(crate) fn checked_entity_of_type(
        &mut self,
        store: &Store,
        action: &ward_ir::Action,
        side: Side,
        (t, ty): (u32, &str),
        id: &str,
        path: &str,
    ) -> Result<u32, DataError> {
        let allowed = match side {
            Side::Principal => &action.principals,
            Side::Resource => &action.resources,
        };
        if let Some(allowed) = allowed
            && !allowed.contains(&t)
        {
            return Err(Frame::side_error(store, action, allowed, ty, path));
        }
        Ok(FrameEntities { store, temp: &mut self.temp }.index_of_type(t, id))
    }

    #[cold]
    #[inline(never)]
    fn side_error(store: &Store, action: &ward_ir::Action, allowed: &[u32], ty: &str, path: &str) -> DataError {
        let type_name = |t: u32| store.program.entity_types.get(t as usize).map_or("?", |e| e.name.as_str());
        let names: Vec<&str> = allowed.iter().map(|a| type_name(*a)).collect();
        data::error(path, format!("`{}` does not accept a `{ty}` here (it accepts {})", action.name, names.join(", ")))
    }

    /// Types `value` as the context field `field` of `action` into
    /// `context` (the record being filled), as [`data::record`] types a
    /// field of a JSON context: same checks, same errors.
    pub(crate) fn context_field(
        &mut self,
        store: &Store,
        action: &ward_ir::Action,
        context: &mut Record,
        field: &str,
        value: &data::FieldValue<'_>,
    ) -> Result<(), DataError> {
        let slot = data::field_slot(&action.context, field, &data::Path::Root("context"))?;
        self.context_slot(store, action, context, (slot, field), value)
    }

    /// [`Frame::context_field`] for a field already looked up: `field` is
    /// its slot in the action's context and its name (for errors).
    #[inline]
    pub(crate) fn context_slot(
        &mut self,
        store: &Store,
        action: &ward_ir::Action,
        context: &mut Record,
        (slot, field): (usize, &str),
        value: &data::FieldValue<'_>,
    ) -> Result<(), DataError> {
        let root = data::Path::Root("context");
        let path = data::Path::Key(&root, field);
        if context.get(slot).is_some() {
            return Err(data::error_at(&path, format!("the field `{field}` is set twice")));
        }
        let Some(declared) = action.context.get(slot) else { return Ok(()) };
        // The scalars a typed caller sets most, written as `field_value`
        // writes them (its tests hold both to `data::value`), without its
        // general dispatch.
        let scalar = match (&declared.ty, value) {
            (ward_ir::Ty::Bool, data::FieldValue::Bool(b)) => Some(u64::from(*b)),
            (ward_ir::Ty::Int, data::FieldValue::Int(i)) => Some(*i as u64),
            (ward_ir::Ty::Ip, data::FieldValue::Ip(ip)) => Some(self.tables.add_ip(*ip)),
            _ => None,
        };
        if let Some(raw) = scalar {
            context.set(slot, raw);
            return Ok(());
        }
        let mut ents = FrameEntities { store, temp: &mut self.temp };
        let raw = data::field_value(value, &declared.ty, &store.program, &mut self.tables, &mut ents, &path)?;
        context.set(slot, raw);
        Ok(())
    }

    /// The session flow conditions group by (`None`: by principal).
    pub fn session(&self) -> Option<&str> {
        if self.has_session { Some(&self.session) } else { None }
    }

    #[inline]
    pub(crate) fn set_session(&mut self, session: Option<&str>) {
        self.session.clear();
        self.has_session = session.is_some();
        if let Some(s) = session {
            self.session.push_str(s);
        }
    }

    /// Completes the frame: the principal ends the chain, the context
    /// record is laid out.
    #[inline]
    pub(crate) fn finish(&mut self, store: &Store, action: u32, principal: u32, resource: u32, context: Record) {
        if !self.chain.contains(&principal) {
            self.chain.push(principal);
        }
        self.context = self.tables.add_record(context);
        // Only policies that read the chain as a set pay for building it.
        if store.uses_chain {
            self.chain_set = self.tables.add_set(self.chain.iter().map(|c| u64::from(*c)).collect());
        }
        self.action = action;
        self.principal = principal;
        self.resource = resource;
        self.actor = principal;
    }

    /// Types the action's result `json` by `ty` (its `returns` type) and
    /// lays it out as `response`. Fields the type does not declare are
    /// ignored (a tool's result may say more than the policy reads); a
    /// declared field of another type, a missing required one, or nesting
    /// deeper than [`data::MAX_DEPTH`] is an error naming the path
    /// (`response.tier`).
    pub fn set_response(&mut self, store: &Store, json: &Json, ty: &ward_ir::Ty) -> Result<(), DataError> {
        data::check_depth(json, "response")?;
        let declared = declared_part(json, ty, 0)
            .ok_or_else(|| data::error("response", format!("nested more than {} levels deep", data::MAX_DEPTH)))?;
        let mut ents = FrameEntities { store, temp: &mut self.temp };
        let program: &Program = &store.program;
        let raw = data::value(&declared, ty, program, &mut self.tables, &mut ents, &data::Path::Root("response"), 0)?;
        self.response = raw;
        Ok(())
    }

    /// The store's tables and this frame's, read together.
    pub fn view<'a>(&'a self, store: &'a Store) -> crate::value::View<'a> {
        crate::value::View { store: &store.tables, local: &self.tables, scratch: Some(&self.scratch) }
    }

    /// The entity at `index`, from the store or the request.
    pub fn entity<'a>(&'a self, store: &'a Store, index: u32) -> Option<&'a Entity> {
        if index >= LOCAL_ENTITY { self.temp.get((index - LOCAL_ENTITY) as usize) } else { store.get(index) }
    }

    /// `Type::"id"` of an entity of this frame.
    pub fn uid(&self, store: &Store, index: u32) -> String {
        let mut out = String::new();
        self.write_uid(store, index, &mut out);
        out
    }

    /// [`Frame::uid`], appended to `out`.
    pub fn write_uid(&self, store: &Store, index: u32, out: &mut String) {
        match self.entity(store, index) {
            Some(e) => {
                let ty = store.program.entity_types.get(e.ty as usize).map_or("?", |t| t.name.as_str());
                crate::store::write_uid(out, ty, &e.id);
            }
            None => {
                use std::fmt::Write;
                let _ = write!(out, "#{index}");
            }
        }
    }
}

/// The part of `json` that `ty` declares: record fields the type does not
/// name are left out, recursively (sets' elements, records' fields); other
/// values are kept as they are, for [`data::value`] to check. `None` when
/// the value nests deeper than [`data::MAX_DEPTH`]. Linear in the size of
/// the declared part.
fn declared_part(json: &Json, ty: &ward_ir::Ty, depth: usize) -> Option<Json> {
    if depth > data::MAX_DEPTH {
        return None;
    }
    Some(match (json, ty) {
        (Json::Object(obj), ward_ir::Ty::Record(fields)) => {
            let mut out = serde_json::Map::new();
            for f in fields {
                if let Some(v) = obj.get(&f.name) {
                    out.insert(f.name.clone(), declared_part(v, &f.ty, depth + 1)?);
                }
            }
            Json::Object(out)
        }
        (Json::Array(items), ward_ir::Ty::Set(element)) => {
            Json::Array(items.iter().map(|i| declared_part(i, element, depth + 1)).collect::<Option<_>>()?)
        }
        (other, _) => other.clone(),
    })
}
