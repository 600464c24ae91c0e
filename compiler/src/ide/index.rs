//! The symbol index: for every unit, which names in it declare or refer to
//! which schema items, agents, detectors, fixtures, policies and rules, and
//! the type of every expression.
//!
//! [`unit_index`] is a salsa query over the relocated unit, so it is as
//! incremental as checking: positions are ordinals, and an edit re-indexes
//! only the units it changed (and those whose names changed meaning).

use std::collections::HashMap;
use std::sync::Arc;

use ward_grammar::Span;
use ward_grammar::ast::*;

use crate::check::{Cx, Env, path_key};
use crate::db::{Project, SourceFile};
use crate::names::{Lookup, Namespace, qualify};
use crate::schema::SchemaEnv;
use crate::symbols::Symbols;
use crate::types::Type;
use crate::units::{Unit, UnitKey, unit};

/// Something a name can denote. Schema items are named by their qualified
/// names (`Customer`, `roles.User`, `pii.email`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Symbol {
    Entity(Arc<str>),
    Enum(Arc<str>),
    Alias(Arc<str>),
    /// An attribute of an entity type.
    Attribute {
        owner: Arc<str>,
        name: Arc<str>,
    },
    /// A context field: of the schema's `context` or of an action's `with`.
    ContextField(Arc<str>),
    Action(Arc<str>),
    EnumValue {
        owner: Arc<str>,
        name: Arc<str>,
    },
    Agent(Arc<str>),
    Detector(Arc<str>),
    Fixture(Arc<str>),
    Policy(Arc<str>),
    /// A policy member, by its 1-based position in the policy.
    Rule {
        policy: Arc<str>,
        position: u32,
    },
}

/// How a name relates to its symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// It declares the symbol.
    Def,
    /// It refers to the symbol.
    Ref,
    /// It stands for the symbol (a rule's `permit`), without being a reference.
    Anchor,
}

/// A name of a unit, at an ordinal of the relocated unit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Occurrence {
    pub ordinal: u32,
    pub symbol: Symbol,
    pub role: Role,
}

/// What the IDE knows about one unit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnitIndex {
    pub occurrences: Vec<Occurrence>,
    /// The type of each expression, by the ordinal of its span.
    pub types: Vec<(u32, Type)>,
}

/// Indexes one unit: re-runs its check with type recording on and walks it.
#[salsa::tracked(returns(ref))]
pub fn unit_index(db: &dyn salsa::Database, project: Project, file: SourceFile, key: UnitKey) -> UnitIndex {
    let Some(unit) = unit(db, file, key) else { return UnitIndex::default() };
    let mut cx = Cx::new(db, project, file, key).recording_types();
    cx.unit(&unit);
    // The scope environment of a member (mask paths are typed against it).
    let member_env = match &*unit {
        Unit::Member { item: PolicyItem::Mask(m), .. } => Some(cx.scope_env(m.scope.as_ref(), None)),
        _ => None,
    };
    let types = cx.types.take().unwrap_or_default();
    let mut ix = Indexer {
        env: cx.env,
        symbols: cx.symbols,
        ns: cx.ns.clone(),
        stdlib: cx.stdlib,
        types: &types,
        out: Vec::new(),
    };
    match &*unit {
        Unit::Import(_) | Unit::Error => {}
        Unit::Schema(s) => ix.schema(s),
        Unit::Agent(a) => ix.agent(a),
        Unit::Detector(d) => ix.detector(d),
        Unit::Fixture(f) => ix.entity_lits(&f.entities),
        Unit::Test(t) => ix.test(t),
        Unit::Assert(a) => {
            ix.scope(a.scope.as_ref());
            for c in &a.conditions {
                ix.expr(&c.expr);
            }
        }
        Unit::Policy { name, .. } => ix.push(name.span, Symbol::Policy(Arc::from(name.name.as_str())), Role::Def),
        Unit::Member { policy, position, item } => ix.member(policy, *position, item, member_env.as_ref()),
    }
    if let Unit::Fixture(f) = &*unit {
        ix.push(f.name.span, Symbol::Fixture(Arc::from(f.name.name.as_str())), Role::Def);
    }
    let mut occurrences = ix.out;
    let mut types: Vec<(u32, Type)> = types.into_iter().collect();
    types.sort_by_key(|(ordinal, _)| *ordinal);
    occurrences.sort_by_key(|o| o.ordinal);
    UnitIndex { occurrences, types }
}

struct Indexer<'a> {
    env: &'a SchemaEnv,
    symbols: &'a Symbols,
    /// The file's namespace; inside a `namespace` block, scoped to it.
    ns: Namespace,
    stdlib: &'a [Arc<str>],
    types: &'a HashMap<u32, Type>,
    out: Vec<Occurrence>,
}

impl Indexer<'_> {
    fn push(&mut self, span: Span, symbol: Symbol, role: Role) {
        self.out.push(Occurrence { ordinal: span.start, symbol, role });
    }

    fn lookup(&self, path: &Path, exists: impl Fn(&str) -> bool) -> Option<Arc<str>> {
        match self.ns.lookup(path, exists, self.stdlib) {
            Lookup::Found(q) => Some(q),
            _ => None,
        }
    }

    fn entity_ref(&mut self, path: &Path) {
        if let Some(q) = self.lookup(path, |n| self.env.entities.contains_key(n)) {
            self.push(path.span, Symbol::Entity(q), Role::Ref);
        }
    }

    /// `Type::"id"`: the type, and the agent it names when `id` is a
    /// declared agent of that type (so that renaming the agent renames it).
    fn entity_lit(&mut self, r: &EntityRefLit) {
        self.entity_ref(&r.ty);
        let Some(id) = r.id.string_value() else { return };
        let Some(agents) = self.symbols.agents.get(id) else { return };
        let Some(q) = self.lookup(&r.ty, |n| self.env.entities.contains_key(n)) else { return };
        let last = |t: &str| t.rsplit('.').next().unwrap_or(t).to_string();
        if agents.iter().any(|a| *a.ty == *q || last(&a.ty) == last(&q)) {
            self.push(r.id.span, Symbol::Agent(Arc::from(id)), Role::Ref);
        }
    }

    fn action_ref(&mut self, path: &Path) {
        if let Some(q) = self.lookup(path, |n| self.env.actions.contains_key(n)) {
            self.push(path.span, Symbol::Action(q), Role::Ref);
        }
    }

    fn detector_ref(&mut self, path: &Path) {
        if let Some(q) = self.lookup(path, |n| self.symbols.detectors.contains_key(n)) {
            self.push(path.span, Symbol::Detector(q), Role::Ref);
        }
    }

    fn type_ref(&mut self, ty: &TypeExpr) {
        match ty {
            TypeExpr::Named { name, arg, .. } => {
                let env = self.env;
                if let Some(q) = self.lookup(name, |n| env.entities.contains_key(n)) {
                    self.push(name.span, Symbol::Entity(q), Role::Ref);
                } else if let Some(q) = self.lookup(name, |n| env.enums.contains_key(n)) {
                    self.push(name.span, Symbol::Enum(q), Role::Ref);
                } else if let Some(q) = self.lookup(name, |n| env.aliases.contains_key(n)) {
                    self.push(name.span, Symbol::Alias(q), Role::Ref);
                }
                if let Some(arg) = arg {
                    self.type_ref(arg);
                }
            }
            TypeExpr::Record(r) => {
                for f in &r.fields {
                    self.type_ref(&f.ty);
                }
            }
            TypeExpr::Union { members, .. } => {
                for m in members {
                    self.type_ref(m);
                }
            }
        }
    }

    // ───────────────────────── declarations ─────────────────────────

    fn schema(&mut self, schema: &SchemaDecl) {
        let scoped = self.ns.within(schema);
        let file_ns = std::mem::replace(&mut self.ns, scoped.clone());
        self.schema_items(schema, &scoped);
        self.ns = file_ns;
    }

    fn schema_items(&mut self, schema: &SchemaDecl, ns: &Namespace) {
        for item in &schema.items {
            match item {
                SchemaItem::Entity(e) => {
                    let q = qualify(ns, &e.name.name);
                    self.push(e.name.span, Symbol::Entity(q.clone()), Role::Def);
                    for p in e.parents.iter().flat_map(|l| &l.names) {
                        self.entity_ref(p);
                    }
                    for f in e.attrs.iter().flat_map(|r| &r.fields) {
                        let name = Arc::from(f.name.name.as_str());
                        self.push(f.name.span, Symbol::Attribute { owner: q.clone(), name }, Role::Def);
                        self.type_ref(&f.ty);
                    }
                }
                SchemaItem::Enum(e) => {
                    let q = qualify(ns, &e.name.name);
                    self.push(e.name.span, Symbol::Enum(q.clone()), Role::Def);
                    for v in &e.variants {
                        let name = Arc::from(v.name.as_str());
                        self.push(v.span, Symbol::EnumValue { owner: q.clone(), name }, Role::Def);
                    }
                }
                SchemaItem::TypeAlias(t) => {
                    self.push(t.name.span, Symbol::Alias(qualify(ns, &t.name.name)), Role::Def);
                    self.type_ref(&t.ty);
                }
                SchemaItem::Action(a) => {
                    for n in &a.names {
                        self.push(n.span, Symbol::Action(qualify(ns, &n.name)), Role::Def);
                    }
                    for g in a.parents.iter().flat_map(|l| &l.names) {
                        self.action_ref(g);
                    }
                    for list in [&a.principals, &a.resources].into_iter().flatten() {
                        for p in &list.names {
                            self.entity_ref(p);
                        }
                    }
                    for f in a.context.iter().flat_map(|r| &r.fields) {
                        self.push(f.name.span, Symbol::ContextField(Arc::from(f.name.name.as_str())), Role::Def);
                        self.type_ref(&f.ty);
                    }
                    if let Some(t) = &a.returns {
                        self.type_ref(t);
                    }
                }
                SchemaItem::Context(c) => {
                    for f in &c.fields.fields {
                        self.push(f.name.span, Symbol::ContextField(Arc::from(f.name.name.as_str())), Role::Def);
                        self.type_ref(&f.ty);
                    }
                }
                SchemaItem::Error(_) => {}
            }
        }
    }

    fn agent(&mut self, agent: &AgentDecl) {
        self.push(agent.name.span, Symbol::Agent(Arc::from(agent.name.name.as_str())), Role::Def);
        let env = self.env;
        let ty = self.lookup(&agent.ty, |n| env.entities.contains_key(n));
        self.entity_ref(&agent.ty);
        for p in agent.parents.iter().flatten() {
            self.entity_lit(p);
        }
        for field in &agent.fields {
            match &field.kind {
                AgentFieldKind::Owner(e) => self.expr(e),
                AgentFieldKind::Attrs(entries, _) => self.attr_entries(ty.as_ref(), entries),
                _ => {}
            }
        }
    }

    fn attr_entries(&mut self, owner: Option<&Arc<str>>, entries: &[RecordEntry]) {
        for entry in entries {
            if let (Some(owner), RecordKey::Word(w)) = (owner, &entry.key)
                && self.env.entities.get(owner).is_some_and(|e| e.attrs.fields.contains_key(w.name.as_str()))
            {
                let name = Arc::from(w.name.as_str());
                self.push(w.span, Symbol::Attribute { owner: owner.clone(), name }, Role::Ref);
            }
            self.expr(&entry.value);
        }
    }

    fn detector(&mut self, d: &DetectorDecl) {
        self.push(d.name.span, Symbol::Detector(qualify(&self.ns, &d.name.name)), Role::Def);
        if let DetectorDef::Group(members) = &d.def {
            for m in members {
                self.detector_ref(m);
            }
        }
    }

    fn entity_lits(&mut self, entities: &[EntityLit]) {
        for e in entities {
            let env = self.env;
            let ty = self.lookup(&e.uid.ty, |n| env.entities.contains_key(n));
            self.entity_lit(&e.uid);
            for p in e.parents.iter().flatten() {
                self.entity_lit(p);
            }
            if let Some((entries, _)) = &e.attrs {
                self.attr_entries(ty.as_ref(), entries);
            }
        }
    }

    fn test(&mut self, test: &TestDecl) {
        for step in &test.steps {
            match step {
                TestStep::Using(names, _) => {
                    for n in names {
                        if self.symbols.fixtures.contains_key(n.name.as_str()) {
                            self.push(n.span, Symbol::Fixture(Arc::from(n.name.as_str())), Role::Ref);
                        }
                    }
                }
                TestStep::Entities(entities, _) => self.entity_lits(entities),
                TestStep::Request(r) => {
                    for f in &r.fields {
                        match (f.key.name(), &f.value.kind) {
                            ("action", ExprKind::Name(n)) => {
                                self.action_ref(&Path { segments: vec![n.clone()], span: n.span });
                            }
                            ("context", ExprKind::Record(entries)) => {
                                for entry in entries {
                                    if let RecordKey::Word(w) = &entry.key {
                                        let symbol = Symbol::ContextField(Arc::from(w.name.as_str()));
                                        self.push(w.span, symbol, Role::Ref);
                                    }
                                    self.expr(&entry.value);
                                }
                            }
                            _ => self.expr(&f.value),
                        }
                    }
                    for x in &r.expectations {
                        for id in &x.by {
                            if let Some(symbol) = id.string_value().and_then(|s| rule_symbol(self.symbols, s)) {
                                self.push(id.span, symbol, Role::Ref);
                            }
                        }
                    }
                }
                TestStep::Link(l) => {
                    for (_, _, e) in &l.values {
                        self.entity_ref(&e.ty);
                    }
                }
                TestStep::At(_) | TestStep::Advance(_) => {}
            }
        }
    }

    // ───────────────────────── policy members ─────────────────────────

    fn member(&mut self, policy: &str, position: u32, item: &PolicyItem, env: Option<&Env>) {
        let symbol = Symbol::Rule { policy: Arc::from(policy), position };
        let (annotations, anchor) = match item {
            PolicyItem::Rule(r) => (&r.annotations, r.effect_span),
            PolicyItem::Mask(m) => (&m.annotations, m.span),
            PolicyItem::Limit(l) => (&l.annotations, l.span),
            PolicyItem::Error(_) => return,
        };
        let id = annotations.iter().find(|a| a.name.name == "id").and_then(|a| match &a.arg {
            Some(AnnotationArg::Lit(l)) if l.string_value().is_some() => Some(l.span),
            _ => None,
        });
        match id {
            Some(span) => {
                self.push(span, symbol.clone(), Role::Def);
                if matches!(item, PolicyItem::Rule(_)) {
                    self.push(anchor, symbol, Role::Anchor);
                }
            }
            None if matches!(item, PolicyItem::Rule(_)) => self.push(anchor, symbol, Role::Def),
            None => {}
        }
        match item {
            PolicyItem::Rule(r) => {
                self.scope(r.scope.as_ref());
                for c in &r.conditions {
                    self.expr(&c.expr);
                }
                for clause in &r.clauses {
                    for a in clause.call.args.iter().flatten() {
                        self.expr(&a.value);
                    }
                }
            }
            PolicyItem::Mask(m) => {
                self.scope(m.scope.as_ref());
                for c in &m.conditions {
                    self.expr(&c.expr);
                }
                for call in m.with.iter().chain(&m.using) {
                    self.detector_ref(&call.name);
                }
                if let Some(env) = env {
                    for p in &m.paths {
                        self.mask_path(p, env);
                    }
                }
            }
            PolicyItem::Limit(l) => {
                self.scope(l.scope.as_ref());
                if let Some(m) = &l.measure {
                    self.expr(&m.expr);
                }
                for k in &l.keys {
                    self.expr(k);
                }
                for c in &l.conditions {
                    self.expr(&c.expr);
                }
            }
            PolicyItem::Error(_) => {}
        }
    }

    fn scope(&mut self, scope: Option<&Scope>) {
        for item in scope.iter().flat_map(|s| &s.items) {
            match item {
                ScopeItem::Principal(s) | ScopeItem::Resource(s) => {
                    if let Some(ty) = &s.ty {
                        self.entity_ref(ty);
                    }
                    if let Some(c) = &s.constraint {
                        self.expr(&c.target);
                    }
                }
                ScopeItem::Action(a) => {
                    for n in &a.actions.names {
                        self.action_ref(n);
                    }
                }
            }
        }
    }

    fn mask_path(&mut self, path: &MaskPath, env: &Env) {
        let mut ty = match path.root.name.as_str() {
            "resource" => env.resource.clone(),
            "context" => env.context.clone(),
            _ => return,
        };
        let mut in_context = path.root.name == "context";
        for seg in &path.segments {
            match seg {
                MaskSegment::Field(name) => {
                    let (symbol, next) = self.attribute(&ty, &name.name, in_context);
                    if let Some(symbol) = symbol {
                        self.push(name.span, symbol, Role::Ref);
                    }
                    ty = next;
                }
                MaskSegment::Star(_) => ty = ty.element().cloned().unwrap_or(Type::Error),
            }
            in_context = false;
        }
    }

    /// What attribute `name` of a value of type `ty` is, and its type.
    fn attribute(&self, ty: &Type, name: &str, in_context: bool) -> (Option<Symbol>, Type) {
        match ty {
            Type::Entity(names) => {
                for n in names.iter() {
                    if let Some(f) = self.env.entities.get(n).and_then(|e| e.attrs.fields.get(name)) {
                        let symbol = Symbol::Attribute { owner: n.clone(), name: Arc::from(name) };
                        return (Some(symbol), f.ty.clone());
                    }
                }
                (None, Type::Error)
            }
            Type::Record(r) => {
                let next = r.fields.get(name).map_or(Type::Error, |f| f.ty.clone());
                let symbol = (in_context && r.fields.contains_key(name)).then(|| Symbol::ContextField(Arc::from(name)));
                (symbol, next)
            }
            _ => (None, Type::Error),
        }
    }

    fn type_of(&self, e: &Expr) -> Type {
        self.types.get(&e.span.start).cloned().unwrap_or(Type::Error)
    }

    // ───────────────────────── expressions ─────────────────────────

    fn expr(&mut self, e: &Expr) {
        // Iterative over the spine of binary operators, so that long chains
        // of `&&` do not recurse deeply.
        let mut work = vec![e];
        while let Some(e) = work.pop() {
            match &e.kind {
                ExprKind::Lit(_) | ExprKind::Var(_) | ExprKind::Slot(_) => {}
                ExprKind::Name(n) => self.name(e, n),
                ExprKind::EntityRef(r) => self.entity_lit(r),
                ExprKind::EnumRef { ty, variant } => {
                    let env = self.env;
                    if let Some(q) = self.lookup(ty, |n| env.enums.contains_key(n)) {
                        self.push(ty.span, Symbol::Enum(q.clone()), Role::Ref);
                        if env.enums.get(&q).is_some_and(|i| i.variants.iter().any(|v| **v == *variant.name)) {
                            let name = Arc::from(variant.name.as_str());
                            self.push(variant.span, Symbol::EnumValue { owner: q, name }, Role::Ref);
                        }
                    }
                }
                ExprKind::Call { args, .. } => work.extend(args.iter().rev()),
                ExprKind::Member { base, name } => {
                    self.member_name(base, &name.name, name.span);
                    work.push(base);
                }
                ExprKind::Index { base, key } => {
                    if let Some(k) = key.string_value() {
                        self.member_name(base, k, key.span);
                    }
                    work.push(base);
                }
                ExprKind::MethodCall { receiver, args, .. } => {
                    work.extend(args.iter().rev());
                    work.push(receiver);
                }
                ExprKind::Unary { operand, .. } => work.push(operand),
                ExprKind::Binary { lhs, rhs, .. } => {
                    work.push(rhs);
                    work.push(lhs);
                }
                ExprKind::Has { base, path } => {
                    let mut ty = self.type_of(base);
                    let mut in_context = is_context(base);
                    for seg in path {
                        let (symbol, next) = self.attribute(&ty, &seg.name, in_context);
                        if let Some(symbol) = symbol {
                            self.push(seg.span, symbol, Role::Ref);
                        }
                        ty = next;
                        in_context = false;
                    }
                    work.push(base);
                }
                ExprKind::Is { base, ty, within } => {
                    self.entity_ref(ty);
                    if let Some(within) = within {
                        work.push(within);
                    }
                    work.push(base);
                }
                ExprKind::Like { base, .. } => work.push(base),
                ExprKind::Matches { base, target } => {
                    if let MatchTarget::Detector(p) = target {
                        self.detector_ref(p);
                    }
                    work.push(base);
                }
                ExprKind::Set(items) => work.extend(items.iter().rev()),
                ExprKind::Record(entries) => work.extend(entries.iter().rev().map(|en| &en.value)),
                ExprKind::Paren(inner) => work.push(inner),
                ExprKind::Flow(flow) => {
                    self.scope(Some(&flow.scope));
                    if let Some(filter) = &flow.filter {
                        work.push(filter);
                    }
                    if let FlowKind::Sum(value) = &flow.kind {
                        work.push(value);
                    }
                }
            }
        }
    }

    fn member_name(&mut self, base: &Expr, name: &str, span: Span) {
        let ty = self.type_of(base);
        if let (Some(symbol), _) = self.attribute(&ty, name, is_context(base)) {
            self.push(span, symbol, Role::Ref);
        }
    }

    fn name(&mut self, e: &Expr, n: &Ident) {
        let name: Arc<str> = Arc::from(n.name.as_str());
        match self.type_of(e) {
            Type::Enum(owner) => self.push(n.span, Symbol::EnumValue { owner, name }, Role::Ref),
            Type::Action => self.action_ref(&Path { segments: vec![n.clone()], span: n.span }),
            Type::Entity(_) if self.symbols.agents.contains_key(&name) => {
                self.push(n.span, Symbol::Agent(name), Role::Ref);
            }
            _ => {}
        }
    }
}

/// Whether `e` is the request's context (`context`, `current.context`).
fn is_context(e: &Expr) -> bool {
    matches!(path_key(e).as_deref(), Some("context" | "current.context"))
}

/// The rule a rule id (`policy.id` or `policy.N`) names.
pub fn rule_symbol(symbols: &Symbols, id: &str) -> Option<Symbol> {
    let loc = symbols.rules.get(id)?.first()?;
    let (policy, _) = id.split_once('.')?;
    Some(Symbol::Rule { policy: Arc::from(policy), position: loc.unit.member.checked_add(1)? })
}
