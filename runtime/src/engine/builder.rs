//! Requests built in Rust straight into the thread's frame: no [`Request`],
//! no JSON, nothing allocated in the steady state.
//!
//! What a [`RequestBuilder`] accepts and refuses, and the decision it
//! reaches, are those of the same request given to [`Engine::check_at`] as
//! a [`Request`]: the frame is laid out by the same code, the context's
//! fields typed by the same rules ([`FieldValue`]), and an error is the one
//! the `Request` would have met first (the action, then the principal, the
//! resource, the delegation chain, the context's fields by name, a missing
//! field), with the same path and message.

use std::sync::Arc;

use ward_ir::Program;

use super::{Checked, Engine, FRAME, Loaded};
use crate::data::{self, DataError, FieldValue};
use crate::decision::Decision;
use crate::request::{Frame, Side};
use crate::store::Store;
use crate::value::Record;
use crate::verdict::Verdict;

/// An action resolved once by name ([`Engine::action`]), to build requests
/// for it without looking its name up again. It stays valid across policy
/// swaps: against another policy set it is looked up by name again.
#[derive(Debug, Clone)]
pub struct ActionId {
    program: Arc<Program>,
    index: u32,
    name: Box<str>,
}

impl ActionId {
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What names an action for [`Engine::request`]: its name, or an [`ActionId`].
pub trait AsAction {
    /// The action's index in `store`'s program, or the error a request
    /// naming it would meet.
    #[doc(hidden)]
    fn action_index(&self, store: &Store) -> Result<u32, DataError>;
}

impl AsAction for &str {
    fn action_index(&self, store: &Store) -> Result<u32, DataError> {
        Frame::action_of(store, self)
    }
}

impl AsAction for &String {
    fn action_index(&self, store: &Store) -> Result<u32, DataError> {
        Frame::action_of(store, self)
    }
}

impl AsAction for &ActionId {
    fn action_index(&self, store: &Store) -> Result<u32, DataError> {
        if Arc::ptr_eq(&self.program, &store.program) {
            return Ok(self.index);
        }
        Frame::action_of(store, &self.name)
    }
}

impl ActionId {
    /// Resolves the context field `name` of this action once, for
    /// [`RequestBuilder::context`]; the error is the one a request setting
    /// it would meet (`context.amout: not declared in the schema (did you
    /// mean `amount`?)`).
    pub fn field(&self, name: &str) -> Result<FieldId, DataError> {
        let fields = self.program.actions.get(self.index as usize).map_or(&[][..], |a| &a.context[..]);
        let slot = data::field_slot(fields, name, &data::Path::Root("context"))?;
        Ok(FieldId { program: Arc::clone(&self.program), action: self.index, slot: slot as u32, name: name.into() })
    }
}

/// A context field of one action, resolved once by name
/// ([`ActionId::field`]). Given to a request for another action, or
/// against another policy set, it is looked up by name again, so it never
/// names the wrong slot.
#[derive(Debug, Clone)]
pub struct FieldId {
    program: Arc<Program>,
    action: u32,
    slot: u32,
    name: Box<str>,
}

impl FieldId {
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What names a context field for [`RequestBuilder::context`]: its name,
/// or a [`FieldId`].
pub trait AsField {
    #[doc(hidden)]
    fn field_name(&self) -> &str;
    /// The field's slot in `action`'s context if it is known without a
    /// lookup by name.
    #[doc(hidden)]
    fn resolved_slot(&self, _program: &Arc<Program>, _action: u32) -> Option<usize> {
        None
    }
}

impl AsField for &str {
    fn field_name(&self) -> &str {
        self
    }
}

impl AsField for &String {
    fn field_name(&self) -> &str {
        self
    }
}

impl AsField for &FieldId {
    fn field_name(&self) -> &str {
        &self.name
    }

    #[inline]
    fn resolved_slot(&self, program: &Arc<Program>, action: u32) -> Option<usize> {
        (self.action == action && Arc::ptr_eq(&self.program, program)).then_some(self.slot as usize)
    }
}

/// An entity type resolved once by name ([`Engine::entity_type`]), for the
/// principal and resource of [`RequestBuilder`]s; against another policy
/// set it is looked up by name again.
#[derive(Debug, Clone)]
pub struct TypeId {
    program: Arc<Program>,
    index: u32,
    name: Box<str>,
}

impl TypeId {
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// What names an entity type for [`RequestBuilder::principal`] and
/// [`RequestBuilder::resource`]: its name, or a [`TypeId`].
pub trait AsEntityType {
    #[doc(hidden)]
    fn type_name(&self) -> &str;
    /// The type's index in `program` if it is known without a lookup by name.
    #[doc(hidden)]
    fn resolved_type(&self, _program: &Arc<Program>) -> Option<u32> {
        None
    }
}

impl AsEntityType for &str {
    fn type_name(&self) -> &str {
        self
    }
}

impl AsEntityType for &String {
    fn type_name(&self) -> &str {
        self
    }
}

impl AsEntityType for &TypeId {
    fn type_name(&self) -> &str {
        &self.name
    }

    #[inline]
    fn resolved_type(&self, program: &Arc<Program>) -> Option<u32> {
        Arc::ptr_eq(&self.program, program).then_some(self.index)
    }
}

/// Where an error sits in the order a [`Request`]'s are met: the first one
/// by this order is reported, whatever order the builder was called in.
type Rank<'k> = (u8, usize, &'k str);
const PRINCIPAL: u8 = 1;
const RESOURCE: u8 = 2;
const CHAIN: u8 = 3;
const CONTEXT: u8 = 4;
const MISSING: u8 = 5;

/// An error kept by a builder: its rank's stage, index and key, and the error.
type Kept = (u8, usize, Box<str>, DataError);

/// The thread's frame, while a builder holds it; given back when dropped.
struct Slot(Option<Box<Frame>>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(frame) = self.0.take() {
            FRAME.with(|cell| cell.set(Some(frame)));
        }
    }
}

/// A request being laid out ([`Engine::request`]): the principal, the
/// resource, the context's fields by name (typed against the action's
/// context as they are given), then [`RequestBuilder::check_at`].
///
/// Entities the store does not have are numbered in the order they are
/// named; errors are kept, not raised, and the decision is then the
/// refusal a [`Request`] with the same content would get.
///
/// [`Request`]: crate::Request
#[must_use = "a request is decided by `check`, `check_at` or `decide_at`"]
pub struct RequestBuilder<'e> {
    engine: &'e Engine,
    loaded: arc_swap::Guard<Arc<Loaded>>,
    slot: Slot,
    action: u32,
    principal: Option<u32>,
    resource: Option<u32>,
    chain: usize,
    context: Record,
    /// The first error by [`Rank`], boxed: the builder is moved on every call.
    error: Option<Box<Kept>>,
}

impl Engine {
    /// Resolves the action `name` once, for [`Engine::request`]; the error
    /// is the one a request naming it would meet (`action: unknown action …`).
    pub fn action(&self, name: &str) -> Result<ActionId, DataError> {
        let loaded = self.loaded.load();
        let index = Frame::action_of(&loaded.store, name)?;
        Ok(ActionId { program: Arc::clone(&loaded.store.program), index, name: name.into() })
    }

    /// Resolves the entity type `name` once, for [`RequestBuilder::principal`]
    /// and [`RequestBuilder::resource`]; the error is the one a request
    /// naming it would meet (`principal: unknown entity type …`).
    pub fn entity_type(&self, name: &str) -> Result<TypeId, DataError> {
        let loaded = self.loaded.load();
        let index = Frame::type_of(&loaded.store, name, "principal")?;
        Ok(TypeId { program: Arc::clone(&loaded.store.program), index, name: name.into() })
    }

    /// Starts a request for `action` (a name, or an [`ActionId`]), laid
    /// out in this thread's frame as it is built:
    ///
    /// ```ignore
    /// let checked = engine.request(&read).principal("User", "alice").resource("Doc", "d1")
    ///     .context("mfa", true).check_at(now);
    /// ```
    pub fn request(&self, action: impl AsAction) -> RequestBuilder<'_> {
        let loaded = self.loaded.load();
        let mut frame = FRAME.with(std::cell::Cell::take).unwrap_or_else(|| Box::new(Frame::empty()));
        frame.reset(0);
        let mut builder = RequestBuilder {
            engine: self,
            loaded,
            slot: Slot(None),
            action: 0,
            principal: None,
            resource: None,
            chain: 0,
            context: Record::default(),
            error: None,
        };
        match action.action_index(&builder.loaded.store) {
            Ok(index) => {
                builder.action = index;
                let fields = builder.loaded.program().actions.get(index as usize).map_or(0, |a| a.context.len());
                builder.context = frame.tables.take_record(fields);
            }
            Err(e) => builder.error = Some(Box::new((0, 0, "".into(), e))),
        }
        builder.slot.0 = Some(frame);
        builder
    }
}

impl RequestBuilder<'_> {
    /// Whether an error already kept comes before one at `rank`.
    #[inline]
    fn settled(&self, rank: Rank<'_>) -> bool {
        self.error.as_ref().is_some_and(|e| (e.0, e.1, &*e.2) <= rank)
    }

    #[cold]
    fn keep(&mut self, rank: Rank<'_>, error: DataError) {
        if !self.settled(rank) {
            self.error = Some(Box::new((rank.0, rank.1, rank.2.into(), error)));
        }
    }

    /// The entity on `side`, resolved and checked against the action.
    #[inline]
    fn entity(&mut self, rank: Rank<'_>, side: Side, ty: impl AsEntityType, id: &str, path: &str) -> Option<u32> {
        if self.settled(rank) {
            return None;
        }
        let store = &self.loaded.store;
        let (Some(action), Some(frame)) = (store.program.actions.get(self.action as usize), self.slot.0.as_deref_mut())
        else {
            return None;
        };
        let name = ty.type_name();
        let found = match ty.resolved_type(&store.program) {
            Some(t) => frame.checked_entity_of_type(store, action, side, (t, name), id, path),
            None => frame.checked_entity(store, action, side, name, id, path),
        };
        match found {
            Ok(index) => Some(index),
            Err(e) => {
                self.keep(rank, e);
                None
            }
        }
    }

    /// The principal: `ty::"id"`, the type by name or as a [`TypeId`] (an
    /// entity the store does not have is one without attributes or
    /// parents, as in a [`crate::Request`]).
    #[inline]
    pub fn principal(mut self, ty: impl AsEntityType, id: &str) -> Self {
        if self.principal.is_some() {
            self.keep((PRINCIPAL, 0, ""), data::error("principal", "given twice"));
        }
        self.principal = self.entity((PRINCIPAL, 0, ""), Side::Principal, ty, id, "principal");
        self
    }

    #[inline]
    pub fn resource(mut self, ty: impl AsEntityType, id: &str) -> Self {
        if self.resource.is_some() {
            self.keep((RESOURCE, 0, ""), data::error("resource", "given twice"));
        }
        self.resource = self.entity((RESOURCE, 0, ""), Side::Resource, ty, id, "resource");
        self
    }

    /// The next link of the delegation chain, origin first (as
    /// [`crate::Request::on_behalf_of`]).
    pub fn on_behalf_of(mut self, ty: &str, id: &str) -> Self {
        let i = self.chain;
        self.chain += 1;
        let rank = (CHAIN, i, "");
        if self.settled(rank) {
            return self;
        }
        let path = format!("on_behalf_of[{i}]");
        if let Some(index) = self.entity(rank, Side::Principal, ty, id, &path)
            && let Some(frame) = self.slot.0.as_deref_mut()
            && !frame.chain.contains(&index)
        {
            frame.chain.push(index);
        }
        self
    }

    /// The session flow conditions group by.
    #[inline]
    pub fn session(mut self, session: &str) -> Self {
        if let Some(frame) = self.slot.0.as_deref_mut() {
            frame.set_session(Some(session));
        }
        self
    }

    /// The context field `name` (by name, or as a [`FieldId`]), typed
    /// against the action's context as its JSON counterpart would be
    /// ([`FieldValue`]): a field the action does not declare, a value of
    /// another type, or a field given twice is refused, naming it
    /// (`context.amount: expected an integer, found a string`).
    #[inline]
    pub fn context<'v>(mut self, name: impl AsField, value: impl Into<FieldValue<'v>>) -> Self {
        let key = name.field_name();
        let rank = (CONTEXT, 0, key);
        if self.settled(rank) {
            return self;
        }
        let store = &self.loaded.store;
        let (Some(action), Some(frame)) = (store.program.actions.get(self.action as usize), self.slot.0.as_deref_mut())
        else {
            return self;
        };
        let set = match name.resolved_slot(&store.program, self.action) {
            Some(slot) => frame.context_slot(store, action, &mut self.context, (slot, key), &value.into()),
            None => frame.context_field(store, action, &mut self.context, key, &value.into()),
        };
        if let Err(e) = set {
            self.keep(rank, e);
        }
        self
    }

    /// Completes the frame, or gives the first error met.
    fn complete(&mut self, now: i64) -> Result<(), DataError> {
        if self.principal.is_none() {
            self.keep((PRINCIPAL, 0, ""), data::error("principal", "missing"));
        }
        if self.resource.is_none() {
            self.keep((RESOURCE, 0, ""), data::error("resource", "missing"));
        }
        if let Some(action) = self.loaded.program().actions.get(self.action as usize)
            && let Err(e) = data::missing_fields(&self.context, &action.context, &data::Path::Root("context"))
        {
            self.keep((MISSING, 0, ""), e);
        }
        if let Some(e) = self.error.take() {
            return Err(e.3);
        }
        let (Some(principal), Some(resource), Some(frame)) =
            (self.principal, self.resource, self.slot.0.as_deref_mut())
        else {
            return Err(data::error("request", "incomplete"));
        };
        frame.now = now;
        frame.finish(&self.loaded.store, self.action, principal, resource, std::mem::take(&mut self.context));
        Ok(())
    }

    fn run(mut self, now: i64, record: bool) -> Checked {
        let verdict = match self.complete(now) {
            Err(e) => Verdict::Full(Box::new(Decision::refused(e.to_string()))),
            Ok(()) => match self.slot.0.as_deref() {
                Some(frame) => self.engine.check_frame(&self.loaded, frame, record),
                None => Verdict::Full(Box::new(Decision::refused("request: incomplete".to_string()))),
            },
        };
        Checked { verdict, loaded: self.loaded }
    }

    /// Decides the request as of `now` (milliseconds since the epoch), as
    /// [`Engine::check_at`] decides the same [`crate::Request`].
    #[inline]
    pub fn check_at(self, now: i64) -> Checked {
        self.run(now, true)
    }

    /// Decides the request at the engine's clock's current time.
    #[inline]
    pub fn check(self) -> Checked {
        let now = self.engine.clock.now_ms();
        self.run(now, true)
    }

    /// As [`Engine::check_unrecorded_at`]: an allow is not yet added to
    /// the history of flow conditions.
    pub fn check_unrecorded_at(self, now: i64) -> Checked {
        self.run(now, false)
    }

    /// The full decision as of `now`, as [`Engine::decide_at`].
    pub fn decide_at(self, now: i64) -> Decision {
        let checked = self.check_at(now);
        match checked.verdict {
            Verdict::Full(decision) => *decision,
            verdict => checked.loaded.explain(&verdict),
        }
    }

    /// The full decision at the engine's clock's current time, as [`Engine::decide`].
    pub fn decide(self) -> Decision {
        let now = self.engine.clock.now_ms();
        self.decide_at(now)
    }

    /// Decided only if it was built without an error (the JSON reader,
    /// which leaves every error to the general path, so that it is named
    /// as that path names it).
    pub(crate) fn check_if_valid(mut self, now: i64) -> Option<Checked> {
        self.complete(now).ok()?;
        let frame = self.slot.0.as_deref()?;
        let verdict = self.engine.check_frame(&self.loaded, frame, true);
        Some(Checked { verdict, loaded: self.loaded })
    }
}
