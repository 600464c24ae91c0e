//! Type checking expressions and scopes.

use std::collections::BTreeSet;
use std::sync::Arc;

use ward_grammar::Span;
use ward_grammar::ast::*;
use ward_grammar::format::expr as expr_text;

use super::Cx;
use crate::literals;
use crate::names::Lookup;
use crate::schema::{ActionInfo, SchemaEnv};
use crate::types::{Field, RecordType, Type};

/// The request an expression is checked against: what `principal`,
/// `resource`, `context` and `action` may be.
#[derive(Debug, Clone)]
pub struct Env {
    pub principal: Type,
    pub resource: Type,
    pub context: Type,
    /// The actions the scope matches.
    pub actions: Vec<Arc<str>>,
    /// Inside a flow condition: the request being decided (`current`).
    pub current: Option<Box<Env>>,
    /// What a link of the delegation chain may be: every principal type the
    /// matched actions allow (the scope's `principal:` narrows `principal`,
    /// not the other links).
    pub chain: Type,
    /// Quantifiers' variables in scope (`chain.any(l, …)` binds `l`), innermost last.
    pub locals: Vec<(Arc<str>, Type)>,
    /// Inside a result flow's `where` or `sum` value: the type of the
    /// earlier action's result (`response`).
    pub response: Option<Type>,
}

impl Env {
    /// No request at all (fixtures, agents, tests, mask arguments): every
    /// request variable is an error.
    pub fn none() -> Env {
        Env {
            principal: Type::Error,
            resource: Type::Error,
            context: Type::Error,
            actions: Vec::new(),
            current: None,
            chain: Type::Error,
            locals: Vec::new(),
            response: None,
        }
    }
}

/// Access paths known to be present (`resource.address` after
/// `resource has address`), so optional attributes may be read.
pub type Facts = BTreeSet<String>;

/// Stack left before [`Cx::expr`] moves to a new segment, and that segment's size.
const STACK_RED_ZONE: usize = 256 * 1024;
const STACK_SEGMENT: usize = 4 * 1024 * 1024;

/// The most segments a `has` path may have: data nests at most 64 levels
/// (the runtime refuses deeper values), so a longer path can never hold.
pub const MAX_HAS_PATH: usize = 64;

/// The methods of sets and lists (and `chain`).
pub const SET_METHODS: [&str; 9] =
    ["contains", "contains_all", "contains_any", "intersects", "is_subset", "any", "all", "size", "is_empty"];
const STRING_METHODS: [&str; 13] = [
    "starts_with",
    "ends_with",
    "contains",
    "lower",
    "upper",
    "trim",
    "size",
    "is_empty",
    "email_addresses",
    "email_domains",
    "url_host",
    "url_scheme",
    "normalized_path",
];

/// The methods of entities: their tags (`tags T` in the schema).
pub const ENTITY_METHODS: [&str; 2] = ["has_tag", "get_tag"];

const ORDERED_HINT: &str = "a number, a decimal, a time, a date, a duration or an ordered enum";

/// The access path of an expression (`resource.owner.region`), if it has one.
pub fn path_key(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Var(v) => Some(v.name().to_string()),
        ExprKind::Name(n) if n.name == "current" => Some("current".to_string()),
        ExprKind::Member { base, name } => path_key(base).map(|b| format!("{b}.{}", name.name)),
        ExprKind::Index { base, key } => path_key(base).map(|b| format!("{b}.{}", key.string_value().unwrap_or(""))),
        ExprKind::Paren(inner) => path_key(inner),
        _ => None,
    }
}

/// The key of an expression for `has` and `is` facts: its access path, where
/// a bare name (a quantifier's variable, `actor`) is a path too.
pub fn narrow_key(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Name(n) => Some(n.name.clone()),
        ExprKind::Member { base, name } => narrow_key(base).map(|b| format!("{b}.{}", name.name)),
        ExprKind::Index { base, key } => narrow_key(base).map(|b| format!("{b}.{}", key.string_value().unwrap_or(""))),
        ExprKind::Paren(inner) => narrow_key(inner),
        _ => path_key(e),
    }
}

/// The fact that the value at `key` is an entity of type `ty` (`x is T`).
/// The NUL separator never occurs in an access path.
fn is_fact(key: &str, ty: &str) -> String {
    format!("{key}\0is\0{ty}")
}

/// The key of a tag key expression for `has_tag` facts: a string literal's
/// value, or an access path (`context.key`, a quantifier's variable).
fn tag_key(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Lit(l) => l.string_value().map(|s| format!("\"{s}")),
        ExprKind::Paren(inner) => tag_key(inner),
        _ => narrow_key(e).map(|k| format!(".{k}")),
    }
}

/// The key of a tag read's receiver: its access path, or an entity literal
/// (`Team::"cx".has_tag("k")`, which Cedar's validator also accepts).
fn tag_receiver_key(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::EntityRef(r) => Some(format!("{}::{}", r.ty.text(), r.id.raw)),
        ExprKind::Paren(inner) => tag_receiver_key(inner),
        _ => narrow_key(e),
    }
}

/// The fact that the entity at `recv` has the tag `key` (`recv.has_tag(key)`).
/// The NUL separator never occurs in an access path.
fn tag_fact(recv: &str, key: &str) -> String {
    format!("{recv}\0tag\0{key}")
}

/// Facts that hold when `e` is true.
pub fn facts_if_true(e: &Expr, out: &mut Facts) {
    collect_facts(e, true, out);
}

/// Facts that hold when `e` is false.
pub fn facts_if_false(e: &Expr, out: &mut Facts) {
    collect_facts(e, false, out);
}

/// The `has` facts that hold when `e` has the value `value`: `a && b` true
/// means both are, `a || b` false means neither is, `!a` flips. Iterative, so
/// that a chain of a thousand `&&` does not need a thousand stack frames.
fn collect_facts(e: &Expr, value: bool, out: &mut Facts) {
    let mut work = vec![(e, value)];
    while let Some((e, value)) = work.pop() {
        match (&e.kind, value) {
            // A path too long to check (E0228) gives no facts: its prefixes would cost its length squared.
            (ExprKind::Is { base, ty, .. }, true) => {
                if let Some(key) = narrow_key(base) {
                    out.insert(is_fact(&key, &ty.text()));
                }
            }
            (ExprKind::Has { base, path }, true) if path.len() <= MAX_HAS_PATH => {
                if let Some(mut key) = narrow_key(base) {
                    for seg in path {
                        key.push('.');
                        key.push_str(&seg.name);
                        out.insert(key.clone());
                    }
                }
            }
            (ExprKind::MethodCall { receiver, method, args }, true) if method.name == "has_tag" => {
                if let (Some(recv), [arg]) = (tag_receiver_key(receiver), args.as_slice())
                    && let Some(key) = tag_key(arg)
                {
                    out.insert(tag_fact(&recv, &key));
                }
            }
            (ExprKind::Binary { op: BinaryOp::And, lhs, rhs }, true)
            | (ExprKind::Binary { op: BinaryOp::Or, lhs, rhs }, false) => {
                work.push((rhs, value));
                work.push((lhs, value));
            }
            (ExprKind::Unary { op: UnaryOp::Not, operand }, _) => work.push((operand, !value)),
            (ExprKind::Paren(inner), _) => work.push((inner, value)),
            _ => {}
        }
    }
}

fn orderable(ty: &Type, cx: &Cx<'_>) -> bool {
    match ty {
        Type::Int | Type::Decimal | Type::Time | Type::Date | Type::Duration => true,
        Type::Enum(name) => cx.env.enums.get(name).is_some_and(|e| e.ordered),
        t => t.is_error(),
    }
}

/// The type of `principal` or `resource` (whose allowed types `pick` reads
/// from an action) under a scope: the type it fixes, else every type the
/// matched actions allow (any entity type for an action that does not say).
fn variable_type(
    env: &SchemaEnv,
    actions: &[Arc<str>],
    pick: impl Fn(&ActionInfo) -> &Option<Vec<Arc<str>>>,
    fixed: Option<&Arc<str>>,
) -> Type {
    if let Some(t) = fixed {
        return Type::entity(t);
    }
    let all_entities = env.all_entity_types();
    let mut names = Vec::new();
    let requested = requestable(env, actions);
    for a in &requested {
        match env.actions.get(*a).map(&pick) {
            Some(Some(list)) => names.extend(list.iter().cloned()),
            _ => names.extend(all_entities.iter().cloned()),
        }
    }
    if requested.is_empty() {
        names.extend(all_entities.iter().cloned());
    }
    Type::entities(names)
}

/// The matched actions a request can name: a bare group (`action crm_read`)
/// is only a name for its members, so its own (empty) declaration must not
/// widen the variables' types or narrow the context of the actions in it.
fn requestable<'a>(env: &SchemaEnv, actions: &'a [Arc<str>]) -> Vec<&'a Arc<str>> {
    actions.iter().filter(|a| !env.groups.contains(*a)).collect()
}

/// The context under a scope: the fields every matched action's context has
/// with one type (optional where any has it optional); the schema's context
/// when no action matches.
fn shared_context(env: &SchemaEnv, actions: &[Arc<str>]) -> RecordType {
    let mut context: Option<RecordType> = None;
    for a in requestable(env, actions) {
        let Some(info) = env.actions.get(a) else { continue };
        context = Some(match context {
            None => info.context.clone(),
            Some(mut acc) => {
                acc.fields.retain(|k, f| info.context.fields.get(k).is_some_and(|g| g.ty == f.ty));
                for (k, f) in &mut acc.fields {
                    if info.context.fields.get(k).is_some_and(|g| g.optional) {
                        f.optional = true;
                    }
                }
                acc
            }
        });
    }
    context.unwrap_or_else(|| env.context.clone())
}

impl Cx<'_> {
    // ───────────────────────── scopes ─────────────────────────

    /// The environment a scope describes, with errors for names that do not
    /// resolve and a warning when no action of the scope fits its types.
    pub fn scope_env(&mut self, scope: Option<&Scope>, current: Option<&Env>) -> Env {
        let env = Arc::clone(self.env);
        let mut principal_ty: Option<Arc<str>> = None;
        let mut resource_ty: Option<Arc<str>> = None;
        let mut actions: Option<Vec<Arc<str>>> = None;
        let mut constraints = Vec::new();
        let mut seen = BTreeSet::new();
        let items = scope.map_or(&[][..], |s| s.items.as_slice());
        for item in items {
            let (which, span) = match item {
                ScopeItem::Principal(s) => ("principal", s.span),
                ScopeItem::Resource(s) => ("resource", s.span),
                ScopeItem::Action(a) => ("action", a.span),
            };
            if !seen.insert(which) {
                self.error("E0221", span, format!("`{which}` appears twice in this scope"))
                    .label("second constraint on the same variable")
                    .help("combine them, or move one into a `when` condition");
            }
            match item {
                ScopeItem::Principal(s) | ScopeItem::Resource(s) => {
                    let ty = self.scope_entity_type(s);
                    if let Some(c) = &s.constraint {
                        constraints.push((which, ty.clone(), c));
                    }
                    if which == "principal" {
                        principal_ty = ty;
                    } else {
                        resource_ty = ty;
                    }
                }
                ScopeItem::Action(a) => actions = Some(self.scope_actions(a)),
            }
        }
        let scoped_actions = actions.is_some();
        let mut actions =
            actions.unwrap_or_else(|| env.actions.keys().filter(|k| !env.groups.contains(*k)).cloned().collect());
        // Keep the actions the scope's types allow.
        let fits = |allowed: &Option<Vec<Arc<str>>>, ty: &Option<Arc<str>>| match (allowed, ty) {
            (Some(allowed), Some(ty)) => allowed.contains(ty),
            _ => true,
        };
        let before = actions.len();
        actions.retain(|a| {
            env.actions
                .get(a)
                .is_some_and(|info| fits(&info.principals, &principal_ty) && fits(&info.resources, &resource_ty))
        });
        if before > 0
            && actions.is_empty()
            && let Some(scope) = scope
        {
            let what = match (&principal_ty, &resource_ty) {
                (Some(p), Some(r)) => format!("can be taken by a `{p}` on a `{r}`"),
                (Some(p), None) => format!("can be taken by a `{p}`"),
                (None, Some(r)) => format!("applies to a `{r}`"),
                (None, None) => "matches".to_string(),
            };
            let which = if scoped_actions { "no action in this scope" } else { "no action of the schema" };
            self.warning("W0102", scope.span, format!("this scope can never match: {which} {what}"))
                .label("matches no request")
                .help("check the action's `by` and `on` types in the schema");
        }
        let principal = variable_type(&env, &actions, |i| &i.principals, principal_ty.as_ref());
        let resource = variable_type(&env, &actions, |i| &i.resources, resource_ty.as_ref());
        let context = Type::Record(Arc::new(shared_context(&env, &actions)));
        let chain = variable_type(&env, &actions, |i| &i.principals, None);
        let out = Env {
            principal,
            resource,
            context,
            actions,
            current: current.map(|c| Box::new(c.clone())),
            chain,
            locals: Vec::new(),
            response: None,
        };
        for (which, ty, c) in constraints {
            self.scope_constraint(which, ty, c, &out);
        }
        out
    }

    /// The entity type a `principal` or `resource` scope names: its `: Type`,
    /// or the type of the entity an `== Type::"id"` constraint pins.
    fn scope_entity_type(&mut self, s: &EntityScope) -> Option<Arc<str>> {
        let env = Arc::clone(self.env);
        let mut ty = s.ty.as_ref().and_then(|p| self.entity_type(p));
        // `principal == User::"dana"` fixes the type too (silently:
        // the target is checked, and reported, with the constraint).
        if let (None, Some(ScopeConstraint { op: ScopeOp::Eq, target, .. })) = (&s.ty, &s.constraint)
            && let ExprKind::EntityRef(r) = &target.kind
            && let Lookup::Found(q) = self.ns.lookup(&r.ty, |n| env.entities.contains_key(n), self.stdlib)
        {
            ty = Some(q);
        }
        ty
    }

    /// The actions an `action` scope matches, sorted: a group's members for
    /// `in`, the named actions for `==` (a group there is an error).
    fn scope_actions(&mut self, a: &ActionScope) -> Vec<Arc<str>> {
        let env = Arc::clone(self.env);
        let mut matched = Vec::new();
        for name in &a.actions.names {
            let Some(q) = self.action(name) else { continue };
            match a.op {
                ActionOp::In => matched
                    .extend(env.actions.keys().filter(|k| !env.groups.contains(*k) && env.action_in(k, &q)).cloned()),
                ActionOp::Is | ActionOp::Eq if env.groups.contains(&q) => {
                    self.error("E0226", name.span, format!("`{q}` is a group of actions, not an action"))
                        .label("an action group")
                        .help(format!("to match every action of the group, write `action in {q}`"));
                }
                ActionOp::Is | ActionOp::Eq => matched.push(q),
            }
        }
        matched.sort();
        matched.dedup();
        matched
    }

    fn scope_constraint(&mut self, which: &str, ty: Option<Arc<str>>, c: &ScopeConstraint, env: &Env) {
        let var_ty = match &ty {
            Some(t) => Type::entity(t),
            None if which == "principal" => env.principal.clone(),
            None => env.resource.clone(),
        };
        if let ExprKind::Slot(v) = &c.target.kind
            && self.template
        {
            if v.name() != which {
                self.error("E0231", c.target.span, format!("the slot `?{}` cannot constrain `{which}`", v.name()))
                    .label(format!("a slot for `{}`", v.name()))
                    .help(format!("write `{which} {} ?{which}`", op_text(c.op)));
                return;
            }
            let slot_ty = self.slot_type(&var_ty, c.op);
            if let Some(types) = &mut self.types {
                types.insert(c.target.span.start, slot_ty);
            }
            return;
        }
        let target_ty = self.expr(&c.target, env, &Facts::new(), Some(&var_ty));
        let target_entity = match (&target_ty, c.op) {
            (Type::Entity(_), _) => target_ty.clone(),
            (Type::Set(inner), ScopeOp::In) if matches!(**inner, Type::Entity(_) | Type::Unknown) => (**inner).clone(),
            (t, _) if t.is_error() => return,
            (t, _) => {
                self.error(
                    "E0201",
                    c.target.span,
                    format!("`{which} {}` needs an entity here, found {}", op_text(c.op), t.a()),
                )
                .label("not an entity");
                return;
            }
        };
        self.membership(&var_ty, &target_entity, c.op == ScopeOp::In, which, c.target.span);
    }

    /// The type of a template's slot: the entity types a link may fill it
    /// with. `== ?x`: the variable's types; `in ?x`: those and every type
    /// their entities may be in.
    pub fn slot_type(&self, var_ty: &Type, op: ScopeOp) -> Type {
        let Type::Entity(names) = var_ty else { return var_ty.clone() };
        if op == ScopeOp::Eq {
            return var_ty.clone();
        }
        let env = Arc::clone(self.env);
        let all = env.all_entity_types();
        let within: Vec<Arc<str>> =
            all.into_iter().filter(|t| names.iter().any(|n| n == t || env.may_be_in(n, t))).collect();
        Type::entities(within)
    }

    /// Reports `lhs in rhs` (or `==`) that the schema makes impossible.
    fn membership(&mut self, lhs: &Type, rhs: &Type, hierarchy: bool, lhs_text: &str, span: Span) {
        let (Type::Entity(ls), Type::Entity(rs)) = (lhs, rhs) else { return };
        let env = Arc::clone(self.env);
        let possible = ls.iter().any(|l| rs.iter().any(|r| if hierarchy { env.may_be_in(l, r) } else { l == r }));
        if possible {
            return;
        }
        let lt = lhs.to_string();
        let rt = rhs.to_string();
        if hierarchy {
            let help = match (ls.first(), rs.first()) {
                (Some(l), Some(r)) if ls.len() == 1 && rs.len() == 1 => {
                    format!("to allow it, declare the membership: `entity {l} in [{r}]`")
                }
                _ => "the schema's `in` declarations say which entities may contain which".to_string(),
            };
            self.error("E0205", span, format!("`{lhs_text}` is `{lt}`, which can never be in `{rt}`"))
                .label(format!("no `{lt}` is ever in a `{rt}`"))
                .help(help);
        } else {
            self.error("E0202", span, format!("`{lhs_text}` is `{lt}` and can never equal `{rt}`"))
                .label(format!("a `{rt}`"));
        }
    }

    // ───────────────────────── expressions ─────────────────────────

    /// Checks a condition: a `Bool` expression.
    pub fn condition(&mut self, e: &Expr, env: &Env, facts: &Facts) {
        let ty = self.expr(e, env, facts, Some(&Type::Bool));
        if !ty.fits(&Type::Bool) {
            self.error("E0210", e.span, format!("a condition must be a `Bool`, but `{}` is {}", expr_text(e), ty.a()))
                .label(format!("{}, not a `Bool`", ty.a()));
        }
    }

    fn expect_type(&mut self, e: &Expr, env: &Env, facts: &Facts, expected: &Type, why: &str) -> Type {
        let ty = self.expr(e, env, facts, Some(expected));
        if !ty.fits(expected) {
            self.error(
                "E0201",
                e.span,
                format!("{why} must be {}, but `{}` is {}", expected.a(), expr_text(e), ty.a()),
            )
            .label(format!("expected {}", expected.a()));
            return Type::Error;
        }
        ty
    }

    /// The type of `e`. Expressions may be nested as deep as the parser
    /// allows ([`ward_grammar::MAX_NESTING`]); checking one level takes several
    /// KiB of stack in unoptimised builds, so when little stack is left the
    /// check continues on a fresh heap-allocated segment.
    /// The type of `e` (recorded when [`Cx::types`] is on).
    pub fn expr(&mut self, e: &Expr, env: &Env, facts: &Facts, expected: Option<&Type>) -> Type {
        let mut ty = self.expr_type(e, env, facts, expected);
        if let Type::Entity(names) = &ty
            && matches!(e.kind, ExprKind::Var(_) | ExprKind::Name(_) | ExprKind::Member { .. } | ExprKind::Index { .. })
            && facts.iter().any(|f| f.contains('\0'))
            && let Some(key) = narrow_key(e)
        {
            ty = narrowed(names, &key, facts);
        }
        if let Some(types) = &mut self.types {
            types.insert(e.span.start, ty.clone());
        }
        ty
    }

    fn expr_type(&mut self, e: &Expr, env: &Env, facts: &Facts, expected: Option<&Type>) -> Type {
        stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || self.expr_inner(e, env, facts, expected))
    }

    // One arm per syntax-tree expression kind (the long ones delegate), kept
    // exhaustive so a new kind fails to compile until it is typed.
    fn expr_inner(&mut self, e: &Expr, env: &Env, facts: &Facts, expected: Option<&Type>) -> Type {
        if let Some(negated) = negated_left_operand(e) {
            return self.misplaced_not(e, negated, env, facts);
        }
        match &e.kind {
            ExprKind::Lit(lit) => self.literal(lit),
            ExprKind::Var(Var::Principal) => env.principal.clone(),
            ExprKind::Var(Var::Resource) => env.resource.clone(),
            ExprKind::Var(Var::Context) => env.context.clone(),
            ExprKind::Var(Var::Action) => Type::Action,
            ExprKind::Name(name) => self.name(name, env, expected),
            ExprKind::EntityRef(r) => self.entity_type(&r.ty).map_or(Type::Error, |q| Type::entity(&q)),
            ExprKind::EnumRef { ty, variant } => match self.namespaced_action(ty, variant) {
                Some(_) => Type::Action,
                None => self.enum_ref(ty, variant),
            },
            ExprKind::Slot(v) => {
                self.error("E0231", e.span, format!("the slot `?{}` is only allowed in the scope of a `@template` rule", v.name()))
                    .label("a slot outside a template's scope")
                    .help("mark the rule `@template` and write the slot as the target of `principal ==`/`in` or `resource ==`/`in`");
                Type::Error
            }
            ExprKind::Call { func, args } => self.call(func, args, e.span),
            ExprKind::Member { base, name } => {
                let base_ty = self.expr(base, env, facts, None);
                self.trusted_claim(base, name);
                self.field_access(base, &base_ty, &name.name, name.span, env, facts)
            }
            ExprKind::Index { base, key } => {
                let base_ty = self.expr(base, env, facts, None);
                self.field_access(base, &base_ty, key.string_value().unwrap_or(""), key.span, env, facts)
            }
            ExprKind::MethodCall { receiver, method, args } => self.method(receiver, method, args, env, facts),
            ExprKind::Unary { op: UnaryOp::Not, operand } => {
                self.expect_type(operand, env, facts, &Type::Bool, "the operand of `!`");
                Type::Bool
            }
            ExprKind::Unary { op: UnaryOp::Neg, operand } => {
                let ty = self.expr(operand, env, facts, None);
                match ty {
                    Type::Int | Type::Decimal | Type::Duration => ty,
                    t if t.is_error() => t,
                    t => {
                        self.error(
                            "E0216",
                            e.span,
                            format!("`-` needs a number or a duration, but `{}` is {}", expr_text(operand), t.a()),
                        )
                        .label("cannot be negated");
                        Type::Error
                    }
                }
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, e.span, env, facts),
            ExprKind::Has { base, path } => {
                let base_ty = self.expr(base, env, facts, None);
                if path.len() > MAX_HAS_PATH {
                    self.error(
                        "E0228",
                        e.span,
                        format!("a `has` path of {} segments is longer than data can nest", path.len()),
                    )
                    .label(format!("at most {MAX_HAS_PATH} segments"))
                    .help("values nest at most 64 levels deep, so a longer path can never be present");
                    return Type::Bool;
                }
                let mut ty = base_ty;
                let mut key = narrow_key(base);
                let mut facts = facts.clone();
                for seg in path {
                    ty = self.attribute(base, &ty, &seg.name, seg.span, key.as_deref(), &facts, true);
                    if let Some(k) = &mut key {
                        k.push('.');
                        k.push_str(&seg.name);
                        facts.insert(k.clone());
                    }
                }
                Type::Bool
            }
            ExprKind::Is { base, ty, within } => self.is_test(e, base, ty, within.as_deref(), env, facts),
            ExprKind::Like { base, pattern } => {
                self.expect_type(base, env, facts, &Type::String, "the left side of `like`");
                self.address_glob(base, pattern);
                Type::Bool
            }
            ExprKind::Matches { base, target } => {
                self.expect_type(base, env, facts, &Type::String, "the left side of `matches`");
                match target {
                    MatchTarget::Regex(lit) => {
                        if let Err(message) = literals::pattern(lit.string_value().unwrap_or("")) {
                            self.error("E0208", lit.span, message).label("not a valid pattern");
                        }
                    }
                    MatchTarget::Detector(path) => {
                        self.resolve_detector(path);
                    }
                }
                Type::Bool
            }
            ExprKind::Set(items) => {
                let element_expected = expected.and_then(Type::element).cloned();
                let mut element: Option<Type> = element_expected.clone();
                for item in items {
                    let ty = self.expr(item, env, facts, element.as_ref());
                    match &element {
                        // Entities of several types: a set of their union.
                        Some(Type::Entity(a)) if matches!(&ty, Type::Entity(_)) => {
                            if let Type::Entity(b) = &ty {
                                element = Some(Type::entities(a.iter().chain(b.iter()).cloned().collect()));
                            }
                        }
                        Some(el) if !ty.comparable(el) => {
                            self.error(
                                "E0215",
                                item.span,
                                format!(
                                    "a set's elements must have one type: this is {}, the others are {}",
                                    ty.a(),
                                    el.a()
                                ),
                            )
                            .label(ty.a());
                        }
                        Some(el) if el.is_error() => element = Some(ty),
                        Some(_) => {}
                        None => element = Some(ty),
                    }
                }
                Type::Set(Box::new(element.unwrap_or(Type::Unknown)))
            }
            ExprKind::Record(entries) => {
                let mut record = RecordType::default();
                for entry in entries {
                    let ty = self.expr(&entry.value, env, facts, None);
                    record.fields.insert(Arc::from(entry.key.name()), Field { ty, optional: false });
                }
                Type::Record(Arc::new(record))
            }
            ExprKind::Paren(inner) => self.expr(inner, env, facts, expected),
            ExprKind::Flow(flow) => self.flow(flow, e.span, env),
        }
    }

    pub fn literal(&mut self, lit: &Lit) -> Type {
        let (ty, check): (Type, Result<(), String>) = match &lit.kind {
            LitKind::Str(_) => (Type::String, Ok(())),
            LitKind::Bool(_) => (Type::Bool, Ok(())),
            LitKind::Int => (Type::Int, literals::int(&lit.raw).map(drop)),
            LitKind::Decimal => (Type::Decimal, literals::decimal(&lit.raw).map(drop)),
            LitKind::Duration => (Type::Duration, literals::duration_ms(&lit.raw).map(drop)),
            LitKind::Date => (Type::Date, literals::date_days(&lit.raw).map(drop)),
            LitKind::DateTime => (Type::Time, literals::time_ms(&lit.raw).map(drop)),
        };
        if let Err(message) = check {
            self.error("E0206", lit.span, message).label("invalid literal");
            return Type::Error;
        }
        ty
    }

    fn name(&mut self, name: &Ident, env: &Env, expected: Option<&Type>) -> Type {
        let n = name.name.as_str();
        let schema = Arc::clone(self.env);
        if let Some((_, ty)) = env.locals.iter().rev().find(|(l, _)| &**l == n) {
            return ty.clone();
        }
        match n {
            "now" => return Type::Time,
            "actor" => return env.current.as_ref().map_or(&env.principal, |c| &c.principal).clone(),
            "chain" => {
                let links = env.current.as_ref().map_or(&env.chain, |c| &c.chain).clone();
                return Type::List(Box::new(links));
            }
            "response" if env.response.is_some() => return env.response.clone().unwrap_or(Type::Error),
            "current" => {
                if env.current.is_some() {
                    return Type::Request;
                }
                self.error("E0103", name.span, "`current` is only defined inside a flow condition's `where`")
                    .label("not inside `where`")
                    .help("outside a flow condition, `principal`, `resource` and `context` already name the current request");
                return Type::Error;
            }
            _ => {}
        }
        if let Some(Type::Enum(e)) = expected
            && schema.enums.get(e).is_some_and(|info| info.variants.iter().any(|v| &**v == n))
        {
            return Type::Enum(e.clone());
        }
        if matches!(expected, Some(Type::Action))
            || matches!(expected, Some(Type::Set(inner)) if **inner == Type::Action)
        {
            let path = Path { segments: vec![name.clone()], span: name.span };
            return self.action(&path).map_or(Type::Error, |_| Type::Action);
        }
        if let Some(agents) = self.symbols.agents.get(n)
            && let Some(agent) = agents.first()
        {
            let ty = agent.ty.clone();
            let path = Path { segments: vec![Ident { name: ty, span: name.span }], span: name.span };
            return match self.ns.lookup(&path, |q| schema.entities.contains_key(q), self.stdlib) {
                Lookup::Found(q) => Type::entity(&q),
                _ => Type::Error,
            };
        }
        let owners: Vec<&Arc<str>> = schema
            .enums
            .values()
            .filter(|info| info.variants.iter().any(|v| &**v == n))
            .map(|info| &info.name)
            .collect();
        match owners.as_slice() {
            [one] => return Type::Enum((*one).clone()),
            [] => {}
            many => {
                let list: Vec<String> = many.iter().map(|e| format!("`{e}`")).collect();
                let qualified: Vec<String> = many.iter().map(|e| format!("`{e}::{n}`")).collect();
                self.error(
                    "E0113",
                    name.span,
                    format!("`{n}` is a value of several enums ({}); say which", list.join(", ")),
                )
                .label("ambiguous enum value")
                .help(format!("write {}", or_list(&qualified)));
                return Type::Error;
            }
        }
        if schema.actions.contains_key(n) {
            return Type::Action;
        }
        let mut candidates: Vec<&str> = vec!["now", "actor", "chain"];
        for info in schema.enums.values() {
            candidates.extend(info.variants.iter().map(|v| &**v));
        }
        candidates.extend(self.symbols.agents.keys().map(|k| &**k));
        let help = crate::suggest::did_you_mean(n, candidates.iter().copied()).or_else(|| match expected {
            Some(Type::Enum(e)) => schema.enums.get(e).map(|info| {
                let values: Vec<&str> = info.variants.iter().map(|v| &**v).collect();
                format!("`{e}` has the values {}", values.join(", "))
            }),
            _ => None,
        });
        if n == "response" {
            self.error(
                "E0103",
                name.span,
                "`response` is only defined inside a flow condition's `where` or `sum` value",
            )
            .label("no result here")
            .help("`response` is an earlier action's result: `previously within 1h action: read_customer where response.tier == Tier::vip`");
            return Type::Error;
        }
        self.error("E0103", name.span, format!("unknown name `{n}`"))
            .label("not an enum value, agent or built-in name")
            .help_opt(help);
        Type::Error
    }

    /// `Ns::view`, parsed as an enum's value, names the action `view` of
    /// the namespace `Ns` when `Ns` is no enum and that action exists.
    pub(crate) fn namespaced_action(&self, ty: &Path, variant: &Ident) -> Option<Arc<str>> {
        let name = format!("{}::{}", ty.text(), variant.name);
        let schema = &self.env;
        let is_enum = matches!(self.ns.lookup(ty, |n| schema.enums.contains_key(n), self.stdlib), Lookup::Found(_));
        (!is_enum && schema.actions.contains_key(name.as_str())).then(|| Arc::from(name))
    }

    fn enum_ref(&mut self, ty: &Path, variant: &Ident) -> Type {
        let schema = Arc::clone(self.env);
        match self.ns.lookup(ty, |n| schema.enums.contains_key(n), self.stdlib) {
            Lookup::Found(q) => {
                let Some(info) = schema.enums.get(&q) else { return Type::Error };
                if info.variants.iter().any(|v| *v.as_ref() == variant.name) {
                    return Type::Enum(q);
                }
                let values: Vec<&str> = info.variants.iter().map(|v| &**v).collect();
                let help = crate::suggest::did_you_mean(&variant.name, values.iter().copied())
                    .unwrap_or_else(|| format!("`{q}` has the values {}", values.join(", ")));
                self.error("E0105", variant.span, format!("`{q}` has no value `{}`", variant.name))
                    .label("not a value of this enum")
                    .help(help);
                Type::Error
            }
            _ => {
                let text = ty.text();
                let help = crate::suggest::did_you_mean(&text, schema.enums.keys().map(|k| &**k));
                self.error("E0101", ty.span, format!("unknown enum `{text}`"))
                    .label("not an enum of the schema")
                    .help_opt(help);
                Type::Error
            }
        }
    }

    fn call(&mut self, func: &Ident, args: &[Expr], span: Span) -> Type {
        type Check = fn(&str) -> Result<(), String>;
        let (ty, check): (Type, Check) = match func.name.as_str() {
            "ip" => (Type::Ip, |s| literals::ip(s).map(drop)),
            "cidr" => (Type::Cidr, |s| literals::cidr(s).map(drop)),
            "decimal" => (Type::Decimal, |s| literals::decimal(s).map(drop)),
            "duration" => (Type::Duration, |s| literals::duration_ms(s).map(drop)),
            "date" => (Type::Date, |s| literals::date_days(s).map(drop)),
            "time" => (Type::Time, |s| literals::time_ms(s).map(drop)),
            other => {
                let help = crate::suggest::did_you_mean(other, ["ip", "cidr", "decimal", "duration", "date", "time"]);
                self.error("E0112", func.span, format!("unknown function `{other}`")).label("not a function").help(
                    help.unwrap_or_else(|| "the functions are ip, cidr, decimal, duration, date and time".to_string()),
                );
                return Type::Error;
            }
        };
        let [arg] = args else {
            self.error("E0209", span, format!("`{}` takes one string argument, found {}", func.name, args.len()))
                .label("wrong number of arguments");
            return Type::Error;
        };
        let ExprKind::Lit(Lit { kind: LitKind::Str(text), .. }) = &arg.kind else {
            self.error(
                "E0214",
                arg.span,
                format!("`{}` takes a string literal, checked when the policy is compiled", func.name),
            )
            .label("not a string literal");
            return Type::Error;
        };
        if let Err(message) = check(text) {
            self.error("E0207", arg.span, message).label("invalid value");
            return Type::Error;
        }
        ty
    }

    fn field_access(&mut self, base: &Expr, base_ty: &Type, name: &str, span: Span, env: &Env, facts: &Facts) -> Type {
        if *base_ty == Type::Request {
            let Some(current) = &env.current else { return Type::Error };
            return match name {
                "principal" => current.principal.clone(),
                "resource" => current.resource.clone(),
                "context" => current.context.clone(),
                "action" => Type::Action,
                other => {
                    self.error("E0104", span, format!("`current` has no field `{other}`"))
                        .label("unknown field")
                        .help("`current` has `principal`, `action`, `resource` and `context`");
                    Type::Error
                }
            };
        }
        if let Type::List(element) = base_ty {
            return self.list_end(base, element, name, span);
        }
        let key = narrow_key(base);
        self.attribute(base, base_ty, name, span, key.as_deref(), facts, false)
    }

    /// The type of attribute `name` of a value of type `ty`. Reading an
    /// optional attribute needs a `has` fact unless `testing` (inside `has`).
    #[allow(clippy::too_many_arguments)]
    fn attribute(
        &mut self,
        base: &Expr,
        ty: &Type,
        name: &str,
        span: Span,
        key: Option<&str>,
        facts: &Facts,
        testing: bool,
    ) -> Type {
        let schema = Arc::clone(self.env);
        let base_text = expr_text(base);
        let field: Option<Field> = match ty {
            t if t.is_error() => return Type::Error,
            Type::Entity(names) => {
                let mut found: Option<Field> = None;
                let mut missing = Vec::new();
                for n in names.iter() {
                    match schema.entities.get(n).and_then(|e| e.attrs.fields.get(name)) {
                        Some(f) => {
                            if found.is_none() {
                                found = Some(f.clone());
                            } else if let Some(prev) = &mut found {
                                prev.optional |= f.optional;
                            }
                        }
                        None => missing.push(n.clone()),
                    }
                }
                if !missing.is_empty() {
                    let all_missing = missing.len() == names.len();
                    if all_missing {
                        let attrs: Vec<&str> = names
                            .iter()
                            .filter_map(|n| schema.entities.get(n))
                            .flat_map(|e| e.attrs.fields.keys().map(|k| &**k))
                            .collect();
                        let help = crate::suggest::did_you_mean(name, attrs.iter().copied());
                        let loc = names.first().and_then(|n| schema.entities.get(n)).map(|e| e.loc);
                        let mut d = self
                            .error("E0104", span, format!("`{base_text}` is `{ty}`, which has no attribute `{name}`"))
                            .label("unknown attribute")
                            .help_opt(help);
                        if let (Some(loc), 1) = (loc, names.len()) {
                            d = d.secondary(loc, format!("`{ty}` is declared here"));
                        }
                        let _ = d;
                    } else {
                        let lacking = list_names(&missing);
                        let verb = if missing.len() == 1 { "has" } else { "have" };
                        self.error(
                            "E0104",
                            span,
                            format!(
                                "`{base_text}` may be {}, and {lacking} {verb} no attribute `{name}`",
                                list_names(names)
                            ),
                        )
                        .label("not an attribute of every possible type")
                        .help(match scope_var(&base_text) {
                            var @ ("principal" | "resource") => format!(
                                "narrow the scope, for example to `{var}: {}`, or test the type first: `{base_text} is {} && …`",
                                first_with(names, &missing),
                                first_with(names, &missing)
                            ),
                            _ => format!("test the type first: `{base_text} is {} && …`", first_with(names, &missing)),
                        });
                    }
                    return Type::Error;
                }
                found
            }
            Type::Record(record) => match record.fields.get(name) {
                Some(f) => Some(f.clone()),
                None => {
                    let help = crate::suggest::did_you_mean(name, record.fields.keys().map(|k| &**k));
                    let known: Vec<&str> = record.fields.keys().map(|k| &**k).collect();
                    let help = help.or_else(|| {
                        if known.is_empty() {
                            Some("this record has no fields".to_string())
                        } else {
                            Some(format!("its fields are {}", known.join(", ")))
                        }
                    });
                    self.error("E0104", span, format!("`{base_text}` has no field `{name}`"))
                        .label("unknown field")
                        .help_opt(help);
                    return Type::Error;
                }
            },
            other => {
                self.error("E0104", span, format!("`{base_text}` is {}, which has no attributes", other.a()))
                    .label("no attributes here");
                return Type::Error;
            }
        };
        let Some(field) = field else { return Type::Error };
        if field.optional && !testing {
            let full = key.map(|k| format!("{k}.{name}"));
            let guarded = full.as_ref().is_some_and(|k| facts.contains(k));
            if !guarded {
                let shown = full.unwrap_or_else(|| format!("{base_text}.{name}"));
                self.error(
                    "E0204",
                    span,
                    format!(
                        "`{shown}` is an optional `{}` and may be absent; test it with `has` before reading it",
                        field.ty
                    ),
                )
                .label("read without a `has` guard")
                .help(format!("write `{base_text} has {name} && …`"));
                return field.ty;
            }
        }
        field.ty
    }

    /// W0117: a rule reads an approval or MFA claim (`context.approved_by`,
    /// `context.mfa`) that the schema does not mark `@verified`: whoever
    /// sends the request (an agent, through its tool arguments) may set it.
    /// Reported once per field and unit.
    fn trusted_claim(&mut self, base: &Expr, name: &Ident) {
        if !matches!(base.kind, ExprKind::Var(Var::Context)) || self.env.verified.contains(name.name.as_str()) {
            return;
        }
        let field = name.name.to_lowercase();
        let claim = ["approv", "mfa", "amr", "authenticated", "step_up"].iter().any(|w| field.contains(w));
        let message = format!("`context.{}` decides approval or MFA but is not `@verified`", name.name);
        if !claim || self.diags.iter().any(|d| d.code == "W0117" && d.message == message) {
            return;
        }
        self.warning("W0117", name.span, message)
            .label("the caller may set this field, an agent included")
            .help(format!(
                "mark it `@verified {}` in the schema's `context`: `ward serve` and the MCP gateway then accept it only from an authenticated source (a verified token, the gateway's own configuration)",
                name.name
            ));
    }

    /// W0115: `to like "*@acme.example"` reads as "mail to acme only", but
    /// a glob tests how the whole text ends: the list
    /// `"x@evil.example, y@acme.example"` matches it.
    fn address_glob(&mut self, base: &Expr, pattern: &Lit) {
        let Some(glob) = pattern.string_value() else { return };
        let Some((before, domain)) = glob.rsplit_once('@') else { return };
        if !before.contains('*') || domain.contains('*') || domain.is_empty() {
            return;
        }
        let base = expr_text(base);
        self.warning(
            "W0115",
            pattern.span,
            format!("`like \"{glob}\"` tests how the text ends, not each address in it"),
        )
        .label(format!("`\"x@evil.example, y@{domain}\"` matches this"))
        .help(format!(
            "to require every recipient at `{domain}`, write `{base}.email_domains().is_subset([\"{domain}\"])`"
        ));
    }

    fn method(&mut self, receiver: &Expr, method: &Ident, args: &[Expr], env: &Env, facts: &Facts) -> Type {
        let recv = self.expr(receiver, env, facts, None);
        let m = method.name.as_str();
        let recv_text = expr_text(receiver);
        if let (Type::Set(el) | Type::List(el), "any" | "all") = (&recv, m) {
            return self.quantifier(method, el, args, env, facts);
        }
        if let (Type::Entity(names), "has_tag" | "get_tag") = (&recv, m) {
            return self.tag_method(receiver, names, method, args, env, facts);
        }
        // (parameter types, result type)
        let signature: Option<(Vec<Type>, Type)> = match (&recv, m) {
            (t, _) if t.is_error() => {
                for a in args {
                    self.expr(a, env, facts, None);
                }
                return Type::Error;
            }
            (Type::Set(el) | Type::List(el), "contains") => Some((vec![(**el).clone()], Type::Bool)),
            (Type::Set(el) | Type::List(el), "contains_all" | "contains_any" | "intersects" | "is_subset") => {
                Some((vec![Type::Set(el.clone())], Type::Bool))
            }
            (Type::Set(_) | Type::List(_) | Type::String, "size") => Some((vec![], Type::Int)),
            (Type::Set(_) | Type::List(_) | Type::String, "is_empty") => Some((vec![], Type::Bool)),
            (Type::String, "starts_with" | "ends_with" | "contains") => Some((vec![Type::String], Type::Bool)),
            (Type::String, "lower" | "upper" | "trim" | "url_host" | "url_scheme" | "normalized_path") => {
                Some((vec![], Type::String))
            }
            (Type::String, "email_addresses" | "email_domains") => Some((vec![], Type::Set(Box::new(Type::String)))),
            (Type::Time, "date") => Some((vec![], Type::Date)),
            (Type::Time, "hour" | "minute" | "weekday") => Some((vec![], Type::Int)),
            (Type::Date, "year" | "month" | "day" | "weekday") => Some((vec![], Type::Int)),
            (Type::Ip, "is_loopback" | "is_private" | "is_ipv4" | "is_ipv6") => Some((vec![], Type::Bool)),
            _ => None,
        };
        let Some((params, result)) = signature else {
            let methods: &[&str] = match recv {
                Type::Set(_) | Type::List(_) => &SET_METHODS,
                Type::String => &STRING_METHODS,
                Type::Time => &["date", "hour", "minute", "weekday"],
                Type::Date => &["year", "month", "day", "weekday"],
                Type::Ip => &["is_loopback", "is_private", "is_ipv4", "is_ipv6"],
                Type::Entity(_) => &ENTITY_METHODS,
                _ => &[],
            };
            let help = crate::suggest::did_you_mean(m, methods.iter().copied()).or_else(|| {
                if methods.is_empty() {
                    None
                } else {
                    Some(format!("{} has the methods {}", recv.a(), methods.join(", ")))
                }
            });
            self.error("E0111", method.span, format!("`{recv_text}` is {}, which has no method `{m}`", recv.a()))
                .label("unknown method")
                .help_opt(help);
            return Type::Error;
        };
        if params.len() != args.len() {
            // Point at the first argument too many, or at the method when some are missing.
            let (span, label) = match args.get(params.len()) {
                Some(extra) => (extra.span, "unexpected argument"),
                None => (method.span, "missing argument"),
            };
            let count = |n: usize| if n == 1 { "1 argument".to_string() } else { format!("{n} arguments") };
            let help = if params.is_empty() {
                format!("write `{recv_text}.{m}()`")
            } else {
                format!("`{m}` takes {}", params.iter().map(Type::a).collect::<Vec<_>>().join(" and "))
            };
            self.error(
                "E0209",
                span,
                format!("`{m}` on {} takes {}, found {}", recv.a(), count(params.len()), args.len()),
            )
            .label(label)
            .help(help);
            return result;
        }
        for (arg, param) in args.iter().zip(&params) {
            let ty = self.expr(arg, env, facts, Some(param));
            // A list where a set is expected is fine when the elements fit.
            let elements_fit = matches!(param, Type::Set(_))
                && ty.element().is_some_and(|e| param.element().is_some_and(|p| e.fits(p)));
            if !ty.fits(param) && !elements_fit {
                self.error(
                    "E0201",
                    arg.span,
                    format!("`{m}` on {} needs {}, but `{}` is {}", recv.a(), param.a(), expr_text(arg), ty.a()),
                )
                .label(format!("expected {}", param.a()));
            }
        }
        result
    }

    /// `e.has_tag(k)` and `e.get_tag(k)`: `e`'s entity types all declare
    /// tags of one type (E0237), `k` is a `String`, and `get_tag` needs the
    /// fact `e.has_tag(k)` for the same `e` and the same `k` (E0236).
    fn tag_method(
        &mut self,
        receiver: &Expr,
        names: &Arc<[Arc<str>]>,
        method: &Ident,
        args: &[Expr],
        env: &Env,
        facts: &Facts,
    ) -> Type {
        let m = method.name.as_str();
        let recv_text = expr_text(receiver);
        let schema = Arc::clone(self.env);
        let recv_ty = Type::Entity(names.clone());
        let untagged: Vec<Arc<str>> =
            names.iter().filter(|n| schema.entities.get(*n).is_none_or(|e| e.tags.is_none())).cloned().collect();
        let mut tag_types: Vec<&Type> =
            names.iter().filter_map(|n| schema.entities.get(n).and_then(|e| e.tags.as_ref())).collect();
        tag_types.dedup();
        let tag_ty = if !untagged.is_empty() {
            let (message, help) = if untagged.len() == names.len() {
                let first = names.first().map_or("T", |n| &**n);
                (
                    format!("`{recv_text}` is `{recv_ty}`, which declares no tags"),
                    format!("declare the type of its tags in the schema: `entity {first} … tags String`"),
                )
            } else {
                let lacking = list_names(&untagged);
                let verb = if untagged.len() == 1 { "declares" } else { "declare" };
                (
                    format!("`{recv_text}` may be {}, and {lacking} {verb} no tags", list_names(names)),
                    format!("test the type first: `{recv_text} is {} && …`", first_with(names, &untagged)),
                )
            };
            self.error("E0237", method.span, message).label("tags of an entity whose type declares none").help(help);
            None
        } else if let [one] = tag_types.as_slice() {
            Some((*one).clone())
        } else {
            let kinds: Vec<String> = tag_types.iter().map(|t| format!("`{t}`")).collect();
            self.error(
                "E0237",
                method.span,
                format!(
                    "`{recv_text}` may be {}, whose tags have different types ({})",
                    list_names(names),
                    kinds.join(", ")
                ),
            )
            .label("tags of more than one type")
            .help(format!("test the type first: `{recv_text} is {} && …`", names.first().map_or("T", |n| &**n)));
            None
        };
        let [arg] = args else {
            let (span, label) = match args.get(1) {
                Some(extra) => (extra.span, "unexpected argument"),
                None => (method.span, "missing argument"),
            };
            self.error("E0209", span, format!("`{m}` on an entity takes 1 argument, found {}", args.len()))
                .label(label)
                .help(format!("write `{recv_text}.{m}(\"key\")`"));
            return if m == "has_tag" { Type::Bool } else { tag_ty.unwrap_or(Type::Error) };
        };
        let key_ty = self.expr(arg, env, facts, Some(&Type::String));
        if !key_ty.fits(&Type::String) {
            self.error(
                "E0201",
                arg.span,
                format!("`{m}` on an entity needs a string, but `{}` is {}", expr_text(arg), key_ty.a()),
            )
            .label("expected a string");
        }
        if m == "has_tag" {
            return Type::Bool;
        }
        let Some(tag_ty) = tag_ty else { return Type::Error };
        let key = tag_key(arg);
        let guarded = tag_receiver_key(receiver)
            .zip(key.as_ref())
            .is_some_and(|(recv, key)| facts.contains(&tag_fact(&recv, key)));
        if !guarded {
            let arg_text = expr_text(arg);
            let mut d = self
                .error(
                    "E0236",
                    method.span,
                    format!("`{recv_text}` may have no tag `{arg_text}`; test it with `has_tag` before reading it"),
                )
                .label("read without a `has_tag` guard");
            d = if key.is_some() && tag_receiver_key(receiver).is_some() {
                d.help(format!("write `{recv_text}.has_tag({arg_text}) && {recv_text}.get_tag({arg_text}) …`"))
            } else {
                d.help(
                    "a guard is recognised for a receiver and a key that are a string literal or an attribute path; \
                     test `has_tag` on such a path and read the tag with the same path",
                )
            };
            let _ = d;
        }
        tag_ty
    }

    fn binary(&mut self, op: BinaryOp, lhs: &Expr, rhs: &Expr, span: Span, env: &Env, facts: &Facts) -> Type {
        match op {
            BinaryOp::And | BinaryOp::Or => {
                let what = if op == BinaryOp::And { "`&&`" } else { "`||`" };
                self.expect_type(lhs, env, facts, &Type::Bool, &format!("each side of {what}"));
                let mut rhs_facts = facts.clone();
                if op == BinaryOp::And {
                    facts_if_true(lhs, &mut rhs_facts);
                } else {
                    facts_if_false(lhs, &mut rhs_facts);
                }
                self.expect_type(rhs, env, &rhs_facts, &Type::Bool, &format!("each side of {what}"));
                Type::Bool
            }
            BinaryOp::Eq | BinaryOp::NotEq => {
                let (l, r) = self.operands(lhs, rhs, env, facts);
                if !l.comparable(&r) {
                    if let (Type::Entity(_), Type::Entity(_)) = (&l, &r) {
                        self.membership(&l, &r, false, &expr_text(lhs), rhs.span);
                    } else if let Some((set, element)) = set_and_element((lhs, &l), (rhs, &r)) {
                        let negated = op == BinaryOp::NotEq;
                        let suggestion = contains_call(set, &expr_text(set), &expr_text(element), negated);
                        self.error(
                            "E0202",
                            span,
                            format!(
                                "cannot compare `{}` ({}) with `{}` ({})",
                                expr_text(lhs),
                                l.a(),
                                expr_text(rhs),
                                r.a()
                            ),
                        )
                        .label("a set is never equal to one of its elements")
                        .help(format!("did you mean `{suggestion}`?"));
                    } else {
                        let rule = "both sides of `==` and `!=` must have the same type";
                        self.cannot_compare((lhs, &l), (rhs, &r), span, "these never compare equal", rule);
                    }
                }
                Type::Bool
            }
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                let (l, r) = self.operands(lhs, rhs, env, facts);
                if !l.comparable(&r) {
                    let rule = format!("both sides of `{}` must have the same type", op.symbol());
                    self.cannot_compare((lhs, &l), (rhs, &r), span, "different types", &rule);
                    return Type::Bool;
                }
                for (side, ty) in [(lhs, &l), (rhs, &r)] {
                    if !orderable(ty, self) {
                        self.not_ordered(op, side, ty);
                        return Type::Bool;
                    }
                }
                Type::Bool
            }
            BinaryOp::In => self.in_operator(lhs, rhs, span, env, facts),
            BinaryOp::Add | BinaryOp::Sub => self.arithmetic(op, lhs, rhs, span, env, facts),
        }
    }

    /// E0202: the two sides of a comparison have types that never compare.
    fn cannot_compare(&mut self, lhs: (&Expr, &Type), rhs: (&Expr, &Type), span: Span, label: &str, rule: &str) {
        let ((lhs, l), (rhs, r)) = (lhs, rhs);
        self.error(
            "E0202",
            span,
            format!("cannot compare `{}` ({}) with `{}` ({})", expr_text(lhs), l.a(), expr_text(rhs), r.a()),
        )
        .label(label)
        .help(mismatch_help(l, r, rule));
    }

    /// E0203: one side of `<`, `<=`, `>` or `>=` has a type without order.
    fn not_ordered(&mut self, op: BinaryOp, side: &Expr, ty: &Type) {
        let sym = op.symbol();
        let message = match ty {
            Type::Enum(name) => {
                format!("`{}` is `{name}`, an unordered enum; `{sym}` needs an ordered type", expr_text(side))
            }
            t => format!("`{}` is {}; `{sym}` needs {ORDERED_HINT}", expr_text(side), t.a()),
        };
        let help = match ty {
            Type::Enum(name) => {
                format!("declare `enum {name} ordered {{ … }}` if its values have an order, or compare with `==`")
            }
            _ => format!("`{sym}` compares numbers, decimals, times, dates, durations and ordered enums"),
        };
        self.error("E0203", side.span, message).label("not ordered").help(help);
    }

    /// `lhs in rhs`: entity membership (in an entity or a set of them), an IP
    /// in a range, an action in a group or set of actions.
    fn in_operator(&mut self, lhs: &Expr, rhs: &Expr, span: Span, env: &Env, facts: &Facts) -> Type {
        let l = self.expr(lhs, env, facts, None);
        let expected = match &l {
            Type::Action => Some(Type::Action),
            Type::Ip => Some(Type::Cidr),
            _ => None,
        };
        let r = self.expr(rhs, env, facts, expected.as_ref());
        match (&l, &r) {
            (a, b) if a.is_error() || b.is_error() => {}
            (Type::Entity(_), Type::Entity(_)) => self.membership(&l, &r, true, &expr_text(lhs), rhs.span),
            (Type::Entity(_), Type::Set(inner)) if matches!(**inner, Type::Entity(_)) => {
                self.membership(&l, inner, true, &expr_text(lhs), rhs.span)
            }
            (Type::Entity(_), Type::Set(inner)) if inner.is_error() => {}
            (Type::Ip, Type::Cidr) | (Type::Action, Type::Action) => {}
            (Type::Action, Type::Set(inner)) if matches!(**inner, Type::Action | Type::Unknown) => {}
            _ => {
                let help = if l.element().is_none() && r.element().is_some() {
                    format!(
                        "to test set membership, write `{}`",
                        contains_call(rhs, &expr_text(rhs), &expr_text(lhs), false)
                    )
                } else {
                    "`in` tests entity membership (`principal in Team::\"ops\"`), IP ranges (`context.ip in cidr(\"10.0.0.0/8\")`) and action groups".to_string()
                };
                self.error("E0201", span, format!("`in` cannot relate {} to {}", l.a(), r.a()))
                    .label("unsupported `in`")
                    .help(help);
            }
        }
        Type::Bool
    }

    /// `+` and `-`: numbers, decimals and durations with their own kind, a
    /// time moved by a duration, the duration between two times.
    fn arithmetic(&mut self, op: BinaryOp, lhs: &Expr, rhs: &Expr, span: Span, env: &Env, facts: &Facts) -> Type {
        let l = self.expr(lhs, env, facts, None);
        let r = self.expr(rhs, env, facts, Some(&l));
        let sym = op.symbol();
        match (&l, &r, op) {
            (a, b, _) if a.is_error() || b.is_error() => Type::Error,
            (Type::Int, Type::Int, _) => Type::Int,
            (Type::Decimal, Type::Decimal, _) => Type::Decimal,
            (Type::Duration, Type::Duration, _) => Type::Duration,
            (Type::Time, Type::Duration, _) => Type::Time,
            (Type::Time, Type::Time, BinaryOp::Sub) => Type::Duration,
            _ => {
                let help = if matches!((&l, &r), (Type::Int, Type::Decimal) | (Type::Decimal, Type::Int)) {
                    "Ward never converts between `Int` and `Decimal`; write a decimal literal such as `1.0`".to_string()
                } else {
                    "`+` and `-` work on Int, Decimal and Duration pairs, Time ± Duration, and Time - Time".to_string()
                };
                self.error("E0216", span, format!("cannot compute {} {sym} {}", l.a(), r.a()))
                    .label("unsupported arithmetic")
                    .help(help);
                Type::Error
            }
        }
    }

    /// Checks both sides of a comparison, letting each side's type guide the
    /// other (so `vip` resolves against `resource.tier`'s enum).
    fn operands(&mut self, lhs: &Expr, rhs: &Expr, env: &Env, facts: &Facts) -> (Type, Type) {
        let lhs_is_bare = matches!(lhs.kind, ExprKind::Name(_));
        if lhs_is_bare {
            let r = self.expr(rhs, env, facts, None);
            let l = self.expr(lhs, env, facts, Some(&r));
            (l, r)
        } else {
            let l = self.expr(lhs, env, facts, None);
            let r = self.expr(rhs, env, facts, Some(&l));
            (l, r)
        }
    }

    /// The type of `response` in a result flow: the `returns` type every
    /// action of its scope declares (E0234 when one declares none or two
    /// differ: the runtime types each result by it).
    fn flow_response_type(&mut self, flow: &FlowExpr, past: &Env) -> Type {
        let schema = Arc::clone(self.env);
        let mut shared: Option<(Arc<str>, Type)> = None;
        for a in &past.actions {
            match schema.actions.get(a).and_then(|i| i.returns.clone()) {
                None => {
                    self.error(
                        "E0234",
                        flow.scope.span,
                        format!(
                            "action `{a}` declares no `returns` type, so this flow condition cannot read its `response`"
                        ),
                    )
                    .label("an action without a result type")
                    .help(format!(
                        "declare `action {a} … returns {{ … }}`, or narrow the scope to actions that declare one"
                    ));
                    return Type::Error;
                }
                Some(t) => {
                    match &shared {
                        Some((first, ty)) if *ty != t => {
                            self.error(
                            "E0234",
                            flow.scope.span,
                            format!("actions `{first}` and `{a}` return different types, so `response` has no one type here"),
                        )
                        .label("results of different types")
                        .help("split the condition into one flow per result type");
                            return Type::Error;
                        }
                        Some(_) => {}
                        None => shared = Some((a.clone(), t)),
                    }
                }
            }
        }
        shared.map_or(Type::Error, |(_, t)| t)
    }

    fn flow(&mut self, flow: &FlowExpr, span: Span, env: &Env) -> Type {
        match literals::duration_ms(&flow.window.raw) {
            Err(message) => {
                self.error("E0206", flow.window.span, message).label("invalid duration");
            }
            Ok(0) => {
                self.error("E0213", flow.window.span, "a flow window must be longer than zero").label("empty window");
            }
            Ok(ms) if ms > self.options.max_window_ms => {
                let max = crate::check::items::duration_text(self.options.max_window_ms);
                self.error(
                    "E0213",
                    flow.window.span,
                    format!("flow window `{}` is longer than the limit of {max}", flow.window.raw),
                )
                .label("window too long")
                .help("flow state is kept per session for the whole window; keep windows short, or raise the limit with `--max-window`");
            }
            Ok(_) => {}
        }
        let outer = env.current.as_deref().unwrap_or(env);
        let mut past = self.scope_env(Some(&flow.scope), Some(outer));
        if is_result_flow(flow) {
            past.response = Some(self.flow_response_type(flow, &past));
        }
        if let Some(filter) = &flow.filter {
            self.condition(filter, &past, &Facts::new());
            self.flow_correlation(filter);
        }
        match &flow.kind {
            FlowKind::Previously => Type::Bool,
            FlowKind::Count => Type::Int,
            FlowKind::Sum(value) => {
                let ty = self.expr(value, &past, &Facts::new(), None);
                match ty {
                    Type::Int | Type::Decimal | Type::Duration => ty,
                    t if t.is_error() => t,
                    t => {
                        self.error(
                            "E0201",
                            value.span,
                            format!(
                                "`sum` adds numbers, decimals or durations, but `{}` is {}",
                                expr_text(value),
                                t.a()
                            ),
                        )
                        .label("cannot be summed")
                        .note_at(span, "in this flow condition");
                        Type::Error
                    }
                }
            }
        }
    }
}

/// The entity types `names` narrowed by the `is` facts about `key`: the
/// types every fact allows (a contradiction keeps the first fact's type, as
/// the checker reported the impossible test already).
fn narrowed(names: &Arc<[Arc<str>]>, key: &str, facts: &Facts) -> Type {
    let prefix = format!("{key}\0is\0");
    let mut kept: Vec<Arc<str>> = names.to_vec();
    for fact in facts.range(prefix.clone()..).take_while(|f| f.starts_with(&prefix)) {
        let ty = fact.get(prefix.len()..).unwrap_or("");
        let next: Vec<Arc<str>> = kept.iter().filter(|n| &***n == ty).cloned().collect();
        if next.is_empty() {
            break;
        }
        kept = next;
    }
    Type::entities(kept)
}

/// Whether a flow condition reads `response` (in its `where` or `sum`
/// value): then it is a **result flow**, recorded when the enforcement
/// point reports the earlier action's result.
pub fn is_result_flow(flow: &FlowExpr) -> bool {
    let value = match &flow.kind {
        FlowKind::Sum(v) => Some(v),
        FlowKind::Previously | FlowKind::Count => None,
    };
    flow.filter.iter().chain(value).any(mentions_response)
}

/// Whether `e` mentions the name `response`.
pub fn mentions_response(e: &Expr) -> bool {
    mentions_name(e, "response")
}

/// Whether `e` mentions `current`.
pub fn mentions_current(e: &Expr) -> bool {
    mentions_name(e, "current")
}

/// Whether `e` mentions the bare name `name` (iteratively: no stack).
fn mentions_name(e: &Expr, name: &str) -> bool {
    let mut found = false;
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match &e.kind {
            ExprKind::Name(n) if n.name == name => found = true,
            ExprKind::Member { base, .. } | ExprKind::Index { base, .. } => stack.push(base),
            ExprKind::MethodCall { receiver, args, .. } => {
                stack.push(receiver);
                stack.extend(args);
            }
            ExprKind::Call { args, .. } => stack.extend(args),
            ExprKind::Unary { operand, .. } => stack.push(operand),
            ExprKind::Binary { lhs, rhs, .. } => {
                stack.push(lhs);
                stack.push(rhs);
            }
            ExprKind::Has { base, .. } | ExprKind::Like { base, .. } | ExprKind::Matches { base, .. } => {
                stack.push(base)
            }
            ExprKind::Is { base, within, .. } => {
                stack.push(base);
                stack.extend(within.as_deref());
            }
            ExprKind::Set(items) => stack.extend(items),
            ExprKind::Record(entries) => stack.extend(entries.iter().map(|e| &e.value)),
            ExprKind::Paren(inner) => stack.push(inner),
            _ => {}
        }
    }
    found
}

/// The conjuncts of `e` (`a && (b && c)` → a, b, c).
pub fn conjuncts(e: &Expr) -> Vec<&Expr> {
    let mut out = Vec::new();
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match &e.kind {
            ExprKind::Binary { op: BinaryOp::And, lhs, rhs } => {
                stack.push(rhs);
                stack.push(lhs);
            }
            ExprKind::Paren(inner) => stack.push(inner),
            _ => out.push(e),
        }
    }
    out
}

impl Cx<'_> {
    /// A flow condition is kept as bounded state per session: the earlier
    /// actions are summarised when they happen, so `current` may appear in
    /// only one place — an equality `x == current.y` that keys the summary.
    fn flow_correlation(&mut self, filter: &Expr) {
        let mut keyed = 0;
        for c in conjuncts(filter) {
            if !mentions_current(c) {
                continue;
            }
            let is_key = matches!(&c.kind, ExprKind::Binary { op: BinaryOp::Eq, lhs, rhs } if mentions_current(lhs) != mentions_current(rhs));
            keyed += 1;
            if !is_key || keyed > 1 {
                let message = if is_key {
                    "a flow condition can compare `current` once"
                } else {
                    "a flow condition can use `current` only in an equality such as `resource == current.resource`"
                };
                self.error("E0227", c.span, message)
                    .label("not kept in bounded session state")
                    .help("earlier actions are summarised when they happen (constant state per rule and session), so the condition may only key that summary by one value of the current request");
                return;
            }
        }
    }
}

/// The operand of the `!` that starts the left side of `has`, `in`,
/// `like`, `matches` or `is`: `!x has f` reads `(!x) has f`, which is never
/// well typed (a `Bool` has no attributes, no members and no text), so the
/// `!` was meant for the whole test. Several `!` are peeled together.
pub(crate) fn negated_left_operand(e: &Expr) -> Option<(usize, &Expr)> {
    let left = match &e.kind {
        ExprKind::Has { base, .. }
        | ExprKind::Like { base, .. }
        | ExprKind::Matches { base, .. }
        | ExprKind::Is { base, .. }
        | ExprKind::Binary { op: BinaryOp::In, lhs: base, .. } => base,
        _ => return None,
    };
    let (mut nots, mut operand) = (0, &**left);
    while let ExprKind::Unary { op: UnaryOp::Not, operand: inner } = &operand.kind {
        nots += 1;
        operand = inner;
    }
    (nots > 0).then_some((nots, operand))
}

/// `e` with the `!`s of its left side moved outside: `!x has f` → `!(x has f)`.
fn with_not_outside(e: &Expr, operand: &Expr) -> Expr {
    let mut inner = e.clone();
    match &mut inner.kind {
        ExprKind::Has { base, .. }
        | ExprKind::Like { base, .. }
        | ExprKind::Matches { base, .. }
        | ExprKind::Is { base, .. }
        | ExprKind::Binary { op: BinaryOp::In, lhs: base, .. } => **base = operand.clone(),
        _ => {}
    }
    inner
}

/// A set (or list) and a value that fits its element type, in either
/// order: the pairs for which `set.contains(value)` checks.
fn set_and_element<'e>(lhs: (&'e Expr, &Type), rhs: (&'e Expr, &Type)) -> Option<(&'e Expr, &'e Expr)> {
    let is_element =
        |set: &Type, value: &Type| value.element().is_none() && set.element().is_some_and(|el| value.fits(el));
    if is_element(lhs.1, rhs.1) {
        Some((lhs.0, rhs.0))
    } else if is_element(rhs.1, lhs.1) {
        Some((rhs.0, lhs.0))
    } else {
        None
    }
}

/// `set.contains(element)` (`!set.contains(element)` when `negated`), from
/// the texts of the two operands; the set is parenthesised unless it binds
/// at least as tightly as a method call.
pub(crate) fn contains_call(set: &Expr, set_text: &str, element_text: &str, negated: bool) -> String {
    let tight = !matches!(
        set.kind,
        ExprKind::Unary { .. }
            | ExprKind::Binary { .. }
            | ExprKind::Has { .. }
            | ExprKind::Like { .. }
            | ExprKind::Matches { .. }
            | ExprKind::Is { .. }
            | ExprKind::Flow(_)
    );
    let not = if negated { "!" } else { "" };
    if tight {
        format!("{not}{set_text}.contains({element_text})")
    } else {
        format!("{not}({set_text}).contains({element_text})")
    }
}

fn op_text(op: ScopeOp) -> &'static str {
    match op {
        ScopeOp::In => "in",
        ScopeOp::Eq => "==",
    }
}

/// "`A`", "`A` or `B`", "`A`, `B` or 2 other types".
fn list_names(names: &[Arc<str>]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] if quoted.len() <= 3 => format!("{} or {last}", init.join(", ")),
        [a, b, rest @ ..] => format!("{a}, {b} or {} other types", rest.len()),
    }
}

/// The help for two operands of different types.
fn mismatch_help(l: &Type, r: &Type, general: &str) -> String {
    match (l, r) {
        (Type::Int, Type::Decimal) | (Type::Decimal, Type::Int) => {
            "Ward never converts between `Int` and `Decimal`; write a decimal literal such as `10.0`".to_string()
        }
        _ => general.to_string(),
    }
}

/// "`a`", "`a` or `b`", "`a`, `b` or `c`".
fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// `principal` or `resource` for a message about `principal.x`.
fn scope_var(base_text: &str) -> &str {
    base_text.split('.').next().unwrap_or(base_text)
}

/// The first type of `names` that is not in `missing`.
fn first_with(names: &[Arc<str>], missing: &[Arc<str>]) -> String {
    names.iter().find(|n| !missing.contains(n)).map_or_else(String::new, |n| n.to_string())
}

/// Names a quantifier's variable may not take: the predefined names, which
/// it would hide.
const PREDEFINED: [&str; 5] = ["now", "actor", "chain", "current", "text"];

impl Cx<'_> {
    /// `base is T` and `base is T in E`: `base` an entity that may be a `T`,
    /// `E` an entity (or set of them) a `T` may be in.
    fn is_test(&mut self, e: &Expr, base: &Expr, ty: &Path, within: Option<&Expr>, env: &Env, facts: &Facts) -> Type {
        let base_ty = self.expr(base, env, facts, None);
        let target = self.entity_type(ty);
        let base_text = expr_text(base);
        match (&base_ty, &target) {
            (t, _) if t.is_error() => {}
            (Type::Entity(names), Some(t)) => {
                if !names.contains(t) {
                    self.error(
                        "E0229",
                        e.span,
                        format!("`{base_text}` is `{base_ty}`, which is never a `{t}`: this test is always false"),
                    )
                    .label(format!("never a `{t}`"))
                    .help(format!("`{base_text}` may be {}", list_names(names)));
                }
            }
            (Type::Entity(_), None) => {}
            (other, _) => {
                self.error(
                    "E0201",
                    base.span,
                    format!("`is` tests the type of an entity, but `{base_text}` is {}", other.a()),
                )
                .label("not an entity");
            }
        }
        if let Some(within) = within {
            let narrowed_ty = target.as_ref().map_or(Type::Error, |t| Type::entity(t));
            let r = self.expr(within, env, facts, None);
            match &r {
                t if t.is_error() => {}
                Type::Entity(_) => self.membership(&narrowed_ty, &r, true, &base_text, within.span),
                Type::Set(inner) if matches!(**inner, Type::Entity(_)) => {
                    self.membership(&narrowed_ty, inner, true, &base_text, within.span)
                }
                Type::Set(inner) if inner.is_error() => {}
                other => {
                    self.error(
                        "E0201",
                        within.span,
                        format!(
                            "`is … in` needs an entity or a set of entities, but `{}` is {}",
                            expr_text(within),
                            other.a()
                        ),
                    )
                    .label("not an entity");
                }
            }
        }
        Type::Bool
    }

    /// `!x has f` and its kin (see [`negated_left_operand`]): one error
    /// saying where the `!` belongs, then the test checked as meant.
    fn misplaced_not(&mut self, e: &Expr, (nots, operand): (usize, &Expr), env: &Env, facts: &Facts) -> Type {
        let meant = with_not_outside(e, operand);
        let test = match &e.kind {
            ExprKind::Has { .. } => "has",
            ExprKind::Like { .. } => "like",
            ExprKind::Matches { .. } => "matches",
            ExprKind::Is { .. } => "is",
            _ => "in",
        };
        let operand_text = expr_text(operand);
        self.error("E0201", e.span, format!("`!` here negates `{operand_text}`, not the `{test}` test"))
            .label(format!("`!` binds tighter than `{test}`"))
            .help(format!("write `{}({})`", "!".repeat(nots), expr_text(&meant)));
        self.expr(&meant, env, facts, None);
        Type::Bool
    }

    /// `s.any(x, body)` and `s.all(x, body)`: `x` a fresh name bound to each
    /// element of `s` (of type `element`) in `body`, a `Bool`.
    fn quantifier(&mut self, method: &Ident, element: &Type, args: &[Expr], env: &Env, facts: &Facts) -> Type {
        let m = method.name.as_str();
        let [var, body] = args else {
            let span = args.get(2).map_or(method.span, |a| a.span);
            self.error(
                "E0209",
                span,
                format!("`{m}` takes a variable and a condition, found {} arguments", args.len()),
            )
            .label("wrong number of arguments")
            .help(format!("write `.{m}(x, x is User)`: `x` names each element in the condition"));
            for a in args {
                self.expr(a, env, facts, None);
            }
            return Type::Bool;
        };
        let ExprKind::Name(name) = &var.kind else {
            self.error("E0230", var.span, format!("the first argument of `{m}` must be a new name for each element"))
                .label("not a name")
                .help(format!("write `.{m}(x, …)` and use `x` in the condition"));
            self.expr(body, env, facts, None);
            return Type::Bool;
        };
        let n = name.name.as_str();
        let schema = Arc::clone(self.env);
        let taken = if env.locals.iter().any(|(l, _)| &**l == n) {
            Some("the variable of an enclosing quantifier")
        } else if PREDEFINED.contains(&n) {
            Some("a predefined name")
        } else if schema.enums.values().any(|info| info.variants.iter().any(|v| &**v == n)) {
            Some("an enum value")
        } else if self.symbols.agents.contains_key(n) {
            Some("a declared agent")
        } else if schema.actions.contains_key(n) {
            Some("an action")
        } else {
            None
        };
        if env.locals.len() >= ward_ir::validate::MAX_QUANTIFIER_NESTING {
            self.error(
                "E0230",
                method.span,
                format!("quantifiers nest at most {} deep", ward_ir::validate::MAX_QUANTIFIER_NESTING),
            )
            .label("one quantifier too many")
            .help("each level multiplies the work by a set's size; split the condition, or test membership with `in`, `contains` or `intersects`");
            return Type::Bool;
        }
        if let Some(what) = taken {
            self.error("E0230", var.span, format!("`{n}` is already {what}; a quantifier needs a new name"))
                .label("name already in use")
                .help(format!("pick another name, for example `.{m}(link, …)`"));
            return Type::Bool;
        }
        if let Some(types) = &mut self.types {
            types.insert(var.span.start, element.clone());
        }
        let mut inner = env.clone();
        inner.locals.push((Arc::from(n), element.clone()));
        self.expect_type(body, &inner, facts, &Type::Bool, &format!("the condition of `{m}`"));
        Type::Bool
    }

    /// `chain.first` and `chain.last`, the only members of a list.
    fn list_end(&mut self, base: &Expr, element: &Type, name: &str, span: Span) -> Type {
        let is_chain = matches!(&base.kind, ExprKind::Name(n) if n.name == "chain");
        if is_chain && matches!(name, "first" | "last") {
            return element.clone();
        }
        let help = if is_chain {
            "`chain` has `first` and `last`, and the methods of sets (`chain.any(l, l is User)`)".to_string()
        } else {
            "only `chain` has `first` and `last`".to_string()
        };
        self.error(
            "E0104",
            span,
            format!(
                "`{}` is {}, which has no field `{name}`",
                expr_text(base),
                Type::List(Box::new(element.clone())).a()
            ),
        )
        .label("unknown field")
        .help(help);
        Type::Error
    }
}
