//! The reference interpreter: evaluates the decision IR directly, one
//! expression node at a time. It is written to be obviously correct rather
//! than fast; the JIT must agree with it on every decision.

use crate::hash::FxHashMap as HashMap;
use std::sync::Arc;

use ward_ir::{CmpOp, Const, Expr, ExprKind, Method, Program, Rule, Ty, Var};

use crate::detect::{Matcher, compile};
use crate::request::Frame;
use crate::store::Store;
use crate::value::{Raw, View, ip_in_cidr};

/// Why an expression could not be evaluated. A permit that meets one does
/// not apply; a forbid that meets one applies (fail closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalError {
    /// An attribute read that is absent (`resource.address` on an entity without one).
    Missing {
        attribute: String,
        on: String,
    },
    Overflow(&'static str),
    /// A pattern that could not run.
    Pattern(String),
    /// History was needed but is not available.
    Flow(String),
    /// A value the evaluation cannot interpret: an entity the store and the
    /// request do not know, a quantifier's variable outside its quantifier.
    Unknown(String),
    /// A structured string (address list, URL, path) outside its syntax:
    /// the method and why.
    Syntax {
        method: &'static str,
        why: String,
    },
    /// `e.get_tag(k)` where the entity has no tag `k`.
    MissingTag {
        tag: String,
        on: String,
    },
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalError::Missing { attribute, on } => write!(f, "attribute `{attribute}` is absent on {on}"),
            EvalError::Overflow(what) => write!(f, "{what} overflowed"),
            EvalError::Pattern(e) => write!(f, "{e}"),
            EvalError::Flow(e) => write!(f, "{e}"),
            EvalError::Unknown(e) => write!(f, "{e}"),
            EvalError::Syntax { method, why } => write!(f, "`{method}()`: {why}"),
            EvalError::MissingTag { tag, on } => write!(f, "tag `{tag}` is absent on {on}"),
        }
    }
}

/// A program prepared for evaluation: attribute slots by name, compiled patterns.
#[derive(Debug)]
pub struct Prepared {
    pub program: Arc<Program>,
    /// `(entity type, attribute name)` → slot.
    pub attr_slots: HashMap<(u32, u32), u32>,
    /// `(action, context field name)` → slot of the action's context.
    pub context_slots: HashMap<(u32, u32), u32>,
    pub matchers: Vec<Matcher>,
    /// Attribute names as string ids.
    pub name_ids: HashMap<String, u32>,
}

impl Prepared {
    pub fn new(program: Arc<Program>) -> Prepared {
        let name_ids: HashMap<String, u32> =
            program.strings.iter().enumerate().map(|(i, s)| (s.clone(), i as u32)).collect();
        let mut attr_slots = HashMap::default();
        for (t, ty) in program.entity_types.iter().enumerate() {
            for (slot, f) in ty.attrs.iter().enumerate() {
                if let Some(id) = name_ids.get(&f.name) {
                    attr_slots.insert((t as u32, *id), slot as u32);
                }
            }
        }
        let mut context_slots = HashMap::default();
        for (a, action) in program.actions.iter().enumerate() {
            for (slot, f) in action.context.iter().enumerate() {
                if let Some(id) = name_ids.get(&f.name) {
                    context_slots.insert((a as u32, *id), slot as u32);
                }
            }
        }
        let matchers = program.patterns.iter().map(|p| compile(p, &program.detectors)).collect();
        Prepared { program, attr_slots, context_slots, matchers, name_ids }
    }

    pub fn string(&self, id: u32) -> &str {
        self.program.strings.get(id as usize).map_or("", String::as_str)
    }
}

/// Values of flow aggregates (`previously`, `count`, `sum`) for a request.
pub trait Flows {
    /// The value of flow `index` for the request in `frame`.
    fn flow(&self, index: u32, frame: &Frame) -> Result<Raw, EvalError>;
}

/// No history: every flow aggregate is an error (so a forbid on it applies).
pub struct NoHistory;

impl Flows for NoHistory {
    fn flow(&self, _: u32, _: &Frame) -> Result<Raw, EvalError> {
        Err(EvalError::Flow("no session history is available".to_string()))
    }
}

/// How a rule came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every condition held.
    Fired,
    /// Condition `failed` (index) did not hold.
    NotApplicable { failed: usize },
    /// Condition `condition` could not be evaluated.
    Error { condition: usize, error: EvalError },
}

/// Evaluation of one rule's expressions against one frame.
pub struct Eval<'a> {
    pub prepared: &'a Prepared,
    pub store: &'a Store,
    pub frame: &'a Frame,
    /// Who `principal` is: the link of the delegation chain being evaluated.
    pub principal: u32,
    /// Inside a flow's `where`: who `current.principal` is.
    pub current_principal: u32,
    /// Inside a flow's `where`: the request being decided.
    pub current: Option<&'a Frame>,
    pub flows: &'a dyn Flows,
    pub view: View<'a>,
    /// The elements quantifiers' variables are bound to, by variable
    /// number (`None`: not inside that quantifier).
    pub locals: std::cell::RefCell<Vec<Option<Raw>>>,
}

type R = Result<Raw, EvalError>;

impl<'a> Eval<'a> {
    pub fn new(prepared: &'a Prepared, store: &'a Store, frame: &'a Frame, flows: &'a dyn Flows) -> Eval<'a> {
        Eval {
            prepared,
            store,
            frame,
            principal: frame.principal,
            current_principal: frame.principal,
            current: None,
            flows,
            view: frame.view(store),
            locals: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// Evaluates a rule's conditions in order, stopping at the first that
    /// does not hold.
    pub fn rule(&self, rule: &Rule) -> Outcome {
        for (i, c) in rule.conditions.iter().enumerate() {
            match self.expr(&rule.exprs, c.expr) {
                Ok(v) if (v != 0) == c.when => {}
                Ok(_) => return Outcome::NotApplicable { failed: i },
                Err(error) => return Outcome::Error { condition: i, error },
            }
        }
        Outcome::Fired
    }

    fn node(exprs: &[Expr], id: u32) -> &Expr {
        // The lowering builds every arena with children before parents; an
        // out-of-range id cannot occur in a verified program.
        static EMPTY: Expr = Expr { kind: ExprKind::Const(Const::Bool(false)), ty: Ty::Bool };
        exprs.get(id as usize).unwrap_or(&EMPTY)
    }

    fn entity_name(&self, frame: &Frame, index: u32) -> String {
        frame.uid(self.store, index)
    }

    pub fn expr(&self, exprs: &[Expr], id: u32) -> R {
        let e = Self::node(exprs, id);
        let frame = self.frame;
        match &e.kind {
            ExprKind::Const(c) => self.constant(c),
            ExprKind::Var(v) => Ok(self.variable(*v)),
            ExprKind::Attr { base, name } => {
                let b = self.expr(exprs, *base)?;
                self.attribute(exprs, *base, b, *name)?.ok_or_else(|| EvalError::Missing {
                    attribute: self.prepared.string(*name).to_string(),
                    on: self.describe(exprs, *base, b),
                })
            }
            ExprKind::Has { base, name } => {
                let b = self.expr(exprs, *base)?;
                Ok(u64::from(self.attribute(exprs, *base, b, *name)?.is_some()))
            }
            ExprKind::Not(x) => Ok(u64::from(self.expr(exprs, *x)? == 0)),
            ExprKind::And(a, b) => {
                if self.expr(exprs, *a)? == 0 {
                    return Ok(0);
                }
                self.expr(exprs, *b).map(|v| u64::from(v != 0))
            }
            ExprKind::Or(a, b) => {
                if self.expr(exprs, *a)? != 0 {
                    return Ok(1);
                }
                self.expr(exprs, *b).map(|v| u64::from(v != 0))
            }
            ExprKind::Cmp { op, lhs, rhs } => {
                let (lt, rt) = (&Self::node(exprs, *lhs).ty, &Self::node(exprs, *rhs).ty);
                let (a, b) = (self.expr(exprs, *lhs)?, self.expr(exprs, *rhs)?);
                Ok(u64::from(match op {
                    CmpOp::Eq => self.equal_as(lt, a, rt, b),
                    CmpOp::Ne => !self.equal_as(lt, a, rt, b),
                    CmpOp::Lt => (a as i64) < (b as i64),
                    CmpOp::Le => (a as i64) <= (b as i64),
                    CmpOp::Gt => (a as i64) > (b as i64),
                    CmpOp::Ge => (a as i64) >= (b as i64),
                }))
            }
            ExprKind::In { lhs, rhs } => self.in_test(exprs, *lhs, *rhs).map(u64::from),
            ExprKind::Add(a, b) => {
                let (x, y) = (self.expr(exprs, *a)? as i64, self.expr(exprs, *b)? as i64);
                x.checked_add(y).map(|v| v as u64).ok_or(EvalError::Overflow("addition"))
            }
            ExprKind::Sub(a, b) => {
                let (x, y) = (self.expr(exprs, *a)? as i64, self.expr(exprs, *b)? as i64);
                x.checked_sub(y).map(|v| v as u64).ok_or(EvalError::Overflow("subtraction"))
            }
            ExprKind::Neg(a) => {
                let x = self.expr(exprs, *a)? as i64;
                x.checked_neg().map(|v| v as u64).ok_or(EvalError::Overflow("negation"))
            }
            ExprKind::Method { method, recv, args } => self.method(exprs, *method, *recv, args, &e.ty),
            ExprKind::Matches { lhs, pattern } => {
                let s = self.expr(exprs, *lhs)?;
                let text = self.view.string(s);
                let matcher = self
                    .prepared
                    .matchers
                    .get(*pattern as usize)
                    .ok_or(EvalError::Pattern("unknown pattern".into()))?;
                matcher.is_match(&text).map(u64::from).map_err(EvalError::Pattern)
            }
            ExprKind::Set(items) => {
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    values.push(self.expr(exprs, *item)?);
                }
                Ok(self.temporary_set(values))
            }
            // A record literal becomes a record of this evaluation, laid out
            // by its own type (fields in name order); records are compared by
            // field name (`equal_as`), so it meets records of any layout.
            ExprKind::Record(entries) => {
                let Ty::Record(fields) = &e.ty else {
                    return Err(EvalError::Pattern("a record literal whose type is not a record".into()));
                };
                let mut record = crate::value::Record::new(fields.len());
                for (name, value) in entries {
                    let v = self.expr(exprs, *value)?;
                    let field = self.prepared.string(*name);
                    if let Some(slot) = fields.iter().position(|f| f.name == field) {
                        record.set(slot, v);
                    }
                }
                Ok(self.temporary_record(record))
            }
            ExprKind::Flow(k) => self.flows.flow(*k, self.current.unwrap_or(frame)),
            ExprKind::Is { base, ty } => {
                let b = self.expr(exprs, *base)?;
                match self.lookup_entity(frame, b as u32) {
                    Some(entity) => Ok(u64::from(entity.ty == *ty)),
                    None => Err(EvalError::Unknown(format!("the type of entity #{b} is unknown"))),
                }
            }
            ExprKind::Quantifier { all, set, var, body } => self.quantifier(exprs, *all, *set, *var, *body),
            ExprKind::Local(var) => self
                .locals
                .borrow()
                .get(*var as usize)
                .copied()
                .flatten()
                .ok_or_else(|| EvalError::Unknown(format!("quantifier variable {var} read outside its quantifier"))),
        }
    }

    /// `set.any(x, body)` / `set.all(x, body)`: the elements in the set's
    /// order; the first that decides (true for `any`, false for `all`)
    /// stops the evaluation, and an error on an element before it is the
    /// result.
    fn quantifier(&self, exprs: &[Expr], all: bool, set: u32, var: u32, body: u32) -> R {
        let handle = self.expr(exprs, set)?;
        let elements = self.set_elements(handle);
        let slot = var as usize;
        let saved = {
            let mut locals = self.locals.borrow_mut();
            if locals.len() <= slot {
                locals.resize(slot + 1, None);
            }
            locals.get(slot).copied().flatten()
        };
        let mut result = Ok(u64::from(all));
        for element in elements {
            if let Some(l) = self.locals.borrow_mut().get_mut(slot) {
                *l = Some(element);
            }
            match self.expr(exprs, body) {
                Ok(v) if (v != 0) != all => {
                    result = Ok(u64::from(!all));
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if let Some(l) = self.locals.borrow_mut().get_mut(slot) {
            *l = saved;
        }
        result
    }

    /// The value of a request variable (in a flow, `current.x` is the
    /// request being decided and the plain variables the earlier one).
    fn variable(&self, v: Var) -> u64 {
        let frame = self.frame;
        match v {
            Var::Principal => u64::from(self.principal),
            Var::Resource => u64::from(frame.resource),
            Var::Context => frame.context,
            Var::Action => u64::from(frame.action),
            Var::Now => frame.now as u64,
            Var::Actor => u64::from(self.current.unwrap_or(frame).actor),
            Var::Chain => self.current.unwrap_or(frame).chain_set,
            Var::ChainFirst => u64::from(self.current.unwrap_or(frame).chain.first().copied().unwrap_or(frame.actor)),
            Var::ChainLast => u64::from(self.current.unwrap_or(frame).chain.last().copied().unwrap_or(frame.actor)),
            Var::CurrentPrincipal => {
                u64::from(if self.current.is_some() { self.current_principal } else { self.principal })
            }
            Var::CurrentResource => u64::from(self.current.unwrap_or(frame).resource),
            Var::CurrentContext => self.current.unwrap_or(frame).context,
            Var::CurrentAction => u64::from(self.current.unwrap_or(frame).action),
            // Set only while a result flow is recorded (`Engine::record_result_at`).
            Var::Response => frame.response,
        }
    }

    /// `lhs in rhs`: entity membership (in an entity, a literal, a set of
    /// entities), an IP in a range, an action in a group or set of them.
    fn in_test(&self, exprs: &[Expr], lhs: u32, rhs: u32) -> Result<bool, EvalError> {
        let (lt, rt) = (&Self::node(exprs, lhs).ty, &Self::node(exprs, rhs).ty);
        let a = self.expr(exprs, lhs)?;
        let rhs_node = Self::node(exprs, rhs);
        Ok(match (lt, rt) {
            (Ty::Entity(_), Ty::Entity(_)) => match &rhs_node.kind {
                ExprKind::Const(Const::Entity(k)) => self.in_literal(a as u32, *k),
                _ => self.entity_in(a as u32, self.expr(exprs, rhs)? as u32),
            },
            (Ty::Entity(_), Ty::Set(_)) => {
                // A set literal lives in the frame's scratch sets, not in its tables.
                let set = self.expr(exprs, rhs)?;
                self.entity_in_set(a as u32, set)
            }
            (Ty::Ip, Ty::Cidr) => {
                let b = self.expr(exprs, rhs)?;
                matches!((self.view.ip(a), self.view.cidr(b)), (Some(ip), Some(c)) if ip_in_cidr(ip, c))
            }
            (Ty::Action, Ty::Action) => self.action_in(a as u32, self.expr(exprs, rhs)? as u32),
            (Ty::Action, Ty::Set(_)) => {
                let set = self.expr(exprs, rhs)?;
                self.set_elements(set).iter().any(|g| self.action_in(a as u32, *g as u32))
            }
            _ => false,
        })
    }

    fn constant(&self, c: &Const) -> R {
        Ok(match c {
            Const::Bool(b) => u64::from(*b),
            Const::Int(i) => *i as u64,
            Const::Str(s) => u64::from(*s),
            Const::Entity(k) => u64::from(self.store.literals.get(*k as usize).copied().unwrap_or(u32::MAX)),
            Const::Enum(_, v) => u64::from(*v),
            Const::Action(a) => u64::from(*a),
            Const::Ip(_) | Const::Cidr(_) => {
                return self.store.constants.get(c).copied().ok_or(EvalError::Pattern("unknown IP constant".into()));
            }
        })
    }

    /// Reads attribute `name` of the value `base` (an entity or a record).
    fn attribute(&self, exprs: &[Expr], base_id: u32, base: Raw, name: u32) -> Result<Option<Raw>, EvalError> {
        let node = Self::node(exprs, base_id);
        match (&node.kind, &node.ty) {
            (ExprKind::Var(Var::Context), _) | (ExprKind::Var(Var::CurrentContext), _) => {
                let frame = if matches!(node.kind, ExprKind::Var(Var::CurrentContext)) {
                    self.current.unwrap_or(self.frame)
                } else {
                    self.frame
                };
                let Some(slot) = self.prepared.context_slots.get(&(frame.action, name)) else { return Ok(None) };
                Ok(frame.view(self.store).record(frame.context).and_then(|r| r.get(*slot as usize)))
            }
            (_, Ty::Entity(_)) => {
                let entity = self.lookup_entity(self.frame, base as u32);
                let Some(entity) = entity else { return Ok(None) };
                let Some(slot) = self.prepared.attr_slots.get(&(entity.ty, name)) else { return Ok(None) };
                Ok(entity.attrs.get(*slot as usize))
            }
            (_, Ty::Record(fields)) => {
                let field = self.prepared.string(name);
                let Some(slot) = fields.iter().position(|f| f.name == field) else { return Ok(None) };
                Ok(self.record_get(base, slot))
            }
            _ => Ok(None),
        }
    }

    fn lookup_entity(&self, frame: &'a Frame, index: u32) -> Option<&'a crate::store::Entity> {
        frame.entity(self.store, index).or_else(|| self.current.and_then(|c| c.entity(self.store, index)))
    }

    fn describe(&self, exprs: &[Expr], base_id: u32, base: Raw) -> String {
        match &Self::node(exprs, base_id).ty {
            Ty::Entity(_) => self.entity_name(self.frame, base as u32),
            _ => "the context".to_string(),
        }
    }

    fn in_literal(&self, entity: u32, k: u32) -> bool {
        self.lookup_entity(self.frame, entity).is_some_and(|e| e.in_literal(k))
    }

    /// `entity in ancestor`: the store's bit test for its own entities
    /// ([`Store::entity_in`]), the ancestor list of a request's own.
    pub(crate) fn entity_in(&self, entity: u32, ancestor: u32) -> bool {
        match self.store.entity_in(entity, ancestor) {
            Some(is_in) => is_in,
            None => {
                entity == ancestor || self.lookup_entity(self.frame, entity).is_some_and(|e| e.has_ancestor(ancestor))
            }
        }
    }

    /// `entity in set`: in (or below) one of the set's entities.
    pub(crate) fn entity_in_set(&self, entity: u32, set: Raw) -> bool {
        self.with_set(set, |s| s.iter().any(|a| self.entity_in(entity, *a as u32)))
    }

    fn action_in(&self, action: u32, group: u32) -> bool {
        action == group || self.prepared.program.actions.get(action as usize).is_some_and(|a| a.groups.contains(&group))
    }

    /// A set built during evaluation (a set literal with variable elements).
    /// Two equal sets built in one evaluation share a handle, so that a set
    /// of them (`[[1], [1]]`) holds one.
    fn temporary_set(&self, values: Vec<Raw>) -> Raw {
        let mut values = values;
        values.sort_unstable();
        values.dedup();
        let mut sets = self.frame.scratch_sets.borrow_mut();
        if let Some(i) = sets.iter().position(|s| **s == *values) {
            return crate::value::SCRATCH + i as u64;
        }
        sets.push(values.into_boxed_slice());
        crate::value::SCRATCH + (sets.len() - 1) as u64
    }

    /// A record built during evaluation (a record literal); equal records
    /// share a handle, as sets do.
    fn temporary_record(&self, record: crate::value::Record) -> Raw {
        let mut records = self.frame.scratch_records.borrow_mut();
        if let Some(i) = records.iter().position(|r| *r == record) {
            return crate::value::SCRATCH + i as u64;
        }
        records.push(record);
        crate::value::SCRATCH + (records.len() - 1) as u64
    }

    /// Field `slot` of a record: one of the tables' or one built during
    /// evaluation. `None` when the field is absent.
    pub(crate) fn record_get(&self, handle: Raw, slot: usize) -> Option<Raw> {
        if handle >= crate::value::SCRATCH {
            let records = self.frame.scratch_records.borrow();
            return records.get((handle - crate::value::SCRATCH) as usize).and_then(|r| r.get(slot));
        }
        self.view.record(handle).and_then(|r| r.get(slot))
    }

    /// The elements of a set: one of the tables' or one built during evaluation.
    pub(crate) fn set_elements(&self, handle: Raw) -> Vec<Raw> {
        if handle >= crate::value::SCRATCH {
            return self
                .frame
                .scratch_sets
                .borrow()
                .get((handle - crate::value::SCRATCH) as usize)
                .map(|s| s.to_vec())
                .unwrap_or_default();
        }
        self.view.set(handle).to_vec()
    }

    /// Runs `f` on a set's elements without copying them.
    pub(crate) fn with_set<T>(&self, handle: Raw, f: impl FnOnce(&[Raw]) -> T) -> T {
        if handle >= crate::value::SCRATCH {
            let sets = self.frame.scratch_sets.borrow();
            return f(sets.get((handle - crate::value::SCRATCH) as usize).map_or(&[], |s| s));
        }
        f(self.view.set(handle))
    }

    /// Equality of two values of type `ty`.
    pub fn equal(&self, ty: &Ty, a: Raw, b: Raw) -> bool {
        self.equal_as(ty, a, ty, b)
    }

    /// Equality of `a` (of type `ta`) and `b` (of type `tb`): the checker
    /// lets a record literal meet a record type with optional fields, so
    /// the two layouts may differ; records are compared by field name, and
    /// a field absent on one side must be absent on the other.
    pub fn equal_as(&self, ta: &Ty, a: Raw, tb: &Ty, b: Raw) -> bool {
        // `[]`'s element type says nothing: take the other side's.
        let (ta, tb) = match (ta, tb) {
            (Ty::Unknown, t) | (t, Ty::Unknown) => (t, t),
            _ => (ta, tb),
        };
        match (ta, tb) {
            (Ty::Ip, _) => self.view.ip(a) == self.view.ip(b),
            (Ty::Cidr, _) => self.view.cidr(a) == self.view.cidr(b),
            (Ty::Set(ea), Ty::Set(eb)) => {
                let (x, y) = (self.set_elements(a), self.set_elements(b));
                if deep(ea) || deep(eb) {
                    x.iter().all(|v| y.iter().any(|w| self.equal_as(ea, *v, eb, *w)))
                        && y.iter().all(|w| x.iter().any(|v| self.equal_as(ea, *v, eb, *w)))
                } else {
                    x == y
                }
            }
            (Ty::Record(fa), Ty::Record(fb)) => {
                let slot_of = |fields: &[ward_ir::Field], name: &str| fields.iter().position(|f| f.name == name);
                fa.iter().enumerate().all(|(i, f)| {
                    let other = slot_of(fb, &f.name);
                    let (x, y) = (self.record_get(a, i), other.and_then(|j| self.record_get(b, j)));
                    match (x, y, other.and_then(|j| fb.get(j))) {
                        (None, None, _) => true,
                        (Some(p), Some(q), Some(g)) => self.equal_as(&f.ty, p, &g.ty, q),
                        _ => false,
                    }
                }) && fb
                    .iter()
                    .enumerate()
                    .all(|(j, g)| slot_of(fa, &g.name).is_some() || self.record_get(b, j).is_none())
            }
            _ => a == b,
        }
    }

    /// Whether `set` (of elements of type `element_ty`) holds `v` (of type `v_ty`).
    fn contains(&self, element_ty: &Ty, set: &[Raw], v_ty: &Ty, v: Raw) -> bool {
        if deep(element_ty) || deep(v_ty) {
            set.iter().any(|x| self.equal_as(element_ty, *x, v_ty, v))
        } else {
            set.binary_search(&v).is_ok()
        }
    }

    fn method(&self, exprs: &[Expr], method: Method, recv: u32, args: &[u32], ty: &Ty) -> R {
        let r = self.expr(exprs, recv)?;
        let recv_ty = &Self::node(exprs, recv).ty;
        let arg = |i: usize| -> R { self.expr(exprs, args.get(i).copied().unwrap_or(u32::MAX)) };
        static UNKNOWN: Ty = Ty::Unknown;
        let element: &Ty = match recv_ty {
            Ty::Set(e) => e,
            _ => &UNKNOWN,
        };
        let string = |h: Raw| self.view.string(h);
        Ok(match method {
            Method::Contains => {
                let v = arg(0)?;
                let v_ty = args.first().map_or(&UNKNOWN, |a| &Self::node(exprs, *a).ty);
                u64::from(self.with_set(r, |set| self.contains(element, set, v_ty, v)))
            }
            Method::ContainsAll | Method::ContainsAny | Method::Intersects => {
                let other = self.set_elements(arg(0)?);
                let other_ty = match args.first().map(|a| &Self::node(exprs, *a).ty) {
                    Some(Ty::Set(e)) => &**e,
                    _ => &UNKNOWN,
                };
                let holds = |v: &Raw| self.with_set(r, |set| self.contains(element, set, other_ty, *v));
                u64::from(if method == Method::ContainsAll { other.iter().all(holds) } else { other.iter().any(holds) })
            }
            Method::IsSubset => {
                let other = arg(0)?;
                let other_ty = match args.first().map(|a| &Self::node(exprs, *a).ty) {
                    Some(Ty::Set(e)) => &**e,
                    _ => &UNKNOWN,
                };
                let mine = self.set_elements(r);
                u64::from(self.with_set(other, |set| mine.iter().all(|v| self.contains(other_ty, set, element, *v))))
            }
            Method::Size => match recv_ty {
                Ty::String => string(r).chars().count() as u64,
                _ => self.set_elements(r).len() as u64,
            },
            Method::IsEmpty => match recv_ty {
                Ty::String => u64::from(string(r).is_empty()),
                _ => u64::from(self.set_elements(r).is_empty()),
            },
            Method::StartsWith => u64::from(string(r).starts_with(&*string(arg(0)?))),
            Method::EndsWith => u64::from(string(r).ends_with(&*string(arg(0)?))),
            Method::StrContains => u64::from(string(r).contains(&*string(arg(0)?))),
            Method::Lower => self.view.computed_string(&string(r).to_lowercase()),
            Method::Trim => self.view.computed_string(string(r).trim()),
            Method::EmailAddresses | Method::EmailDomains => {
                let text = string(r);
                let domains = method == Method::EmailDomains;
                // Lower-cased into one buffer, and interned: a domain the
                // policy names is found among its strings, not allocated.
                let mut buf = String::new();
                let mut handles = Vec::new();
                let parsed = crate::text::for_each_address(&text, |local, domain| {
                    buf.clear();
                    if !domains {
                        buf.push_str(local);
                        buf.push('@');
                    }
                    buf.push_str(domain);
                    if buf.chars().any(char::is_uppercase) {
                        buf = buf.to_lowercase();
                    }
                    handles.push(self.view.computed_string(&buf));
                });
                if let Err(why) = parsed {
                    let method = if domains { "email_domains" } else { "email_addresses" };
                    return Err(EvalError::Syntax { method, why });
                }
                self.temporary_set(handles)
            }
            Method::UrlHost | Method::UrlScheme => {
                let name = if method == Method::UrlHost { "url_host" } else { "url_scheme" };
                let (scheme, host) =
                    crate::text::url_parts(&string(r)).map_err(|why| EvalError::Syntax { method: name, why })?;
                self.view.computed_string(if method == Method::UrlHost { &host } else { &scheme })
            }
            Method::NormalizedPath => {
                let path = crate::text::normalized_path(&string(r))
                    .map_err(|why| EvalError::Syntax { method: "normalized_path", why })?;
                self.view.computed_string(&path)
            }
            Method::Upper => self.view.computed_string(&string(r).to_uppercase()),
            Method::TimeDate => (r as i64).div_euclid(86_400_000) as u64,
            Method::Hour => (r as i64).rem_euclid(86_400_000) as u64 / 3_600_000,
            Method::Minute => (r as i64).rem_euclid(3_600_000) as u64 / 60_000,
            Method::Weekday => weekday((r as i64).div_euclid(86_400_000)),
            Method::DateWeekday => weekday(r as i64),
            Method::Year | Method::Month | Method::Day => {
                let (y, m, d) = civil(r as i64);
                match method {
                    Method::Year => y as u64,
                    Method::Month => u64::from(m),
                    _ => u64::from(d),
                }
            }
            Method::IsLoopback => u64::from(self.view.ip(r).is_some_and(|ip| ip.is_loopback())),
            Method::IsPrivate => u64::from(self.view.ip(r).is_some_and(is_private)),
            Method::IsIpv4 => u64::from(self.view.ip(r).is_some_and(|ip| ip.is_ipv4())),
            Method::IsIpv6 => u64::from(self.view.ip(r).is_some_and(|ip| ip.is_ipv6())),
            Method::HasTag => {
                let key = arg(0)?;
                u64::from(self.lookup_entity(self.frame, r as u32).and_then(|e| e.tag(key)).is_some())
            }
            Method::GetTag => {
                let key = arg(0)?;
                let entity = self.lookup_entity(self.frame, r as u32);
                // A receiver typed more widely than the checker saw (`actor`
                // may be any principal type of the action) may be of a type
                // whose tags have another type than this read: refused, never
                // read as the wrong type.
                let tag_ty = entity.and_then(|e| self.store.program.entity_types.get(e.ty as usize)?.tags.as_ref());
                match entity.and_then(|e| e.tag(key)) {
                    Some(v) if tag_ty == Some(ty) => v,
                    Some(_) => {
                        return Err(EvalError::Unknown(format!(
                            "the tags of {} are not of the type this rule reads",
                            self.entity_name(self.frame, r as u32)
                        )));
                    }
                    None => {
                        return Err(EvalError::MissingTag {
                            tag: string(key).into_owned(),
                            on: self.entity_name(self.frame, r as u32),
                        });
                    }
                }
            }
        })
    }
}

/// Whether values of type `ty` are compared by more than their word (an
/// IP or range by address, a set or record by content).
fn deep(ty: &Ty) -> bool {
    matches!(ty, Ty::Ip | Ty::Cidr | Ty::Set(_) | Ty::Record(_))
}

/// ISO weekday of a day number: 1 (Monday) to 7 (Sunday). 1970-01-01 was a Thursday.
pub fn weekday(days: i64) -> u64 {
    (days + 3).rem_euclid(7) as u64 + 1
}

pub use ward_ir::literals::civil_from_days as civil;

pub fn is_private(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_private() || v4.is_link_local(),
        std::net::IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar() {
        assert_eq!(weekday(0), 4);
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(19_782), (2024, 2, 29));
    }
}
