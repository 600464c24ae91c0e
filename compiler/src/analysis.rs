//! Policy analyses: rules that check fine but are probably wrong —
//! unreachable, shadowed, risky, ambiguous — reported as warnings.
//!
//! Each policy member is first summarised ([`member_summary`], one query per
//! member, position-independent), then [`analyse`] compares the summaries.
//! The comparisons are syntactic and conservative: a finding is reported
//! only when it certainly holds; a rule the analysis cannot judge is left
//! alone.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ward_grammar::ast::*;
use ward_grammar::format::expr as expr_text;

use crate::check::{Cx, MASK_METHODS, RawDiag};
use crate::db::{Project, SourceFile};
use crate::diagnostic::Severity;
use crate::literals;
use crate::schema::{SchemaEnv, schema_env};
use crate::units::{Loc, Unit, UnitKey, unit, unit_keys};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberKind {
    Permit,
    Forbid,
    Mask,
    Limit,
}

/// What the analyses need to know of one policy member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub kind: MemberKind,
    pub policy: String,
    /// `policy.id` or `policy.N`.
    pub rule_id: String,
    pub explicit_id: Option<(String, Loc)>,
    /// Where its `@shadow` annotation is, if it has one.
    pub shadow: Option<Loc>,
    /// The actions the scope matches.
    pub actions: Vec<Arc<str>>,
    /// `principal in/== …` and `resource in/== …` constraints, as text.
    pub principal_constraint: Option<String>,
    pub resource_constraint: Option<String>,
    /// The facts the conditions require, as (polarity, expression text):
    /// `when a && !b` gives `(true, a)`, `(false, b)`.
    pub conditions: Vec<(bool, String)>,
    /// The entity types `principal` and `resource` may have.
    pub principal_types: Vec<Arc<str>>,
    pub resource_types: Vec<Arc<str>>,
    pub requires_approval: bool,
    /// A rule's obligations and advice, as text (`obligation audit(…)`),
    /// for W0121.
    pub clauses: Vec<String>,
    /// Where diagnostics about the member point: a rule's `permit` or
    /// `forbid`, a mask or limit from its start.
    pub loc: Loc,
    /// When the conditions can never all hold: where, and why.
    pub unreachable: Option<(Loc, String, Option<Loc>)>,
    /// Masks: (path, method text, location of the path).
    pub masks: Vec<(String, String, Loc)>,
    /// String literals the conditions compare a path with: (path text,
    /// string, location of the literal), for W0116.
    pub strings: Vec<(String, String, Loc)>,
    /// Entity literals in the scope and the conditions: (type, id,
    /// location of the literal), for W0116.
    pub entity_ids: Vec<(String, String, Loc)>,
}

/// Summarises one policy member (`None` for other units).
#[salsa::tracked(returns(ref))]
pub fn member_summary(
    db: &dyn salsa::Database,
    project: Project,
    file: SourceFile,
    key: UnitKey,
) -> Option<Arc<Summary>> {
    let unit = unit(db, file, key)?;
    let Unit::Member { policy, position, item } = &*unit else { return None };
    let mut cx = Cx::new(db, project, file, key);
    let (kind, annotations, scope, conditions, loc_span) = match item {
        PolicyItem::Rule(r) => {
            let kind = if r.effect == Effect::Permit { MemberKind::Permit } else { MemberKind::Forbid };
            (kind, &r.annotations, r.scope.as_ref(), &r.conditions, r.effect_span)
        }
        PolicyItem::Mask(m) => (MemberKind::Mask, &m.annotations, m.scope.as_ref(), &m.conditions, m.span),
        PolicyItem::Limit(l) => (MemberKind::Limit, &l.annotations, l.scope.as_ref(), &l.conditions, l.span),
        PolicyItem::Error(_) => return None,
    };
    // The scope's matched actions; its diagnostics belong to `check_unit`.
    let env = cx.scope_env(scope, None);
    let explicit_id = annotations.iter().find(|a| a.name.name == "id").and_then(|a| match &a.arg {
        Some(AnnotationArg::Lit(lit)) => lit.string_value().map(|s| (s.to_string(), Loc::new(file, key, lit.span))),
        _ => None,
    });
    let constraint = |which: &str| {
        scope.and_then(|s| {
            s.items.iter().find_map(|item| match (item, which) {
                (ScopeItem::Principal(e), "principal") | (ScopeItem::Resource(e), "resource") => {
                    e.constraint.as_ref().map(|c| {
                        let op = if c.op == ScopeOp::In { "in" } else { "==" };
                        format!("{op} {}", expr_text(&c.target))
                    })
                }
                _ => None,
            })
        })
    };
    // Whole-value masks conflict per path; detector masks per (path, detector).
    let masks = match item {
        PolicyItem::Mask(m) => {
            // The same reading as the checker's: `with NAME` alone is a method
            // when NAME is a masking method and no detector; otherwise the
            // names are detectors, masked with `using` (default `redact`).
            let is_method = |c: &CallItem| {
                let text = c.name.text();
                MASK_METHODS.contains(&text.as_str()) && !cx.symbols.detectors.contains_key(text.as_str())
            };
            let (method, detectors): (Option<&CallItem>, &[CallItem]) = match (&m.using, m.with.as_slice()) {
                (None, [single]) if is_method(single) => (Some(single), &[]),
                (using, with) => (using.as_ref(), with),
            };
            let method_text = method.map(call_text).unwrap_or_else(|| "redact".to_string());
            let mut out = Vec::new();
            for p in &m.paths {
                let loc = Loc::new(file, key, p.span);
                if detectors.is_empty() {
                    out.push((p.text(), method_text.clone(), loc));
                }
                for d in detectors {
                    out.push((format!("{} (detector {})", p.text(), d.name.text()), method_text.clone(), loc));
                }
            }
            out
        }
        _ => Vec::new(),
    };
    let requires_approval = match item {
        PolicyItem::Rule(r) => {
            r.clauses.iter().any(|c| c.kind == ClauseKind::Obligation && c.call.name.text() == "require_approval")
        }
        _ => false,
    };
    let clauses = match item {
        PolicyItem::Rule(r) => r
            .clauses
            .iter()
            .map(|c| {
                let kind = if c.kind == ClauseKind::Obligation { "obligation" } else { "advice" };
                format!("{kind} {}", call_text(&c.call))
            })
            .collect(),
        _ => Vec::new(),
    };
    Some(Arc::new(Summary {
        kind,
        policy: policy.clone(),
        rule_id: match &explicit_id {
            Some((id, _)) => format!("{policy}.{id}"),
            None => format!("{policy}.{position}"),
        },
        explicit_id,
        shadow: annotations.iter().find(|a| a.name.name == "shadow").map(|a| Loc::new(file, key, a.span)),
        actions: env.actions,
        principal_constraint: constraint("principal"),
        resource_constraint: constraint("resource"),
        conditions: atoms(conditions).into_iter().map(|a| (a.positive, a.text)).collect(),
        principal_types: entity_names(&env.principal),
        resource_types: entity_names(&env.resource),
        requires_approval,
        clauses,
        loc: Loc::new(file, key, loc_span),
        unreachable: unreachable(conditions, file, key),
        masks,
        strings: compared_strings(conditions, file, key),
        entity_ids: entity_ids(scope, conditions, file, key),
    }))
}

/// Every entity literal of the scope's targets and the conditions.
fn entity_ids(
    scope: Option<&Scope>,
    conditions: &[Condition],
    file: SourceFile,
    key: UnitKey,
) -> Vec<(String, String, Loc)> {
    let mut work: Vec<&Expr> = conditions.iter().rev().map(|c| &c.expr).collect();
    for item in scope.map_or(&[][..], |s| s.items.as_slice()) {
        if let ScopeItem::Principal(s) | ScopeItem::Resource(s) = item
            && let Some(c) = &s.constraint
        {
            work.push(&c.target);
        }
    }
    let mut out = Vec::new();
    // Iterative: deep expressions need no deep stack.
    while let Some(e) = work.pop() {
        match &e.kind {
            ExprKind::EntityRef(r) => {
                if let Some(id) = r.id.string_value() {
                    out.push((r.ty.text(), id.to_string(), Loc::new(file, key, r.id.span)));
                }
            }
            ExprKind::Call { args, .. } | ExprKind::Set(args) => work.extend(args.iter()),
            ExprKind::MethodCall { receiver, args, .. } => {
                work.push(receiver);
                work.extend(args.iter());
            }
            ExprKind::Member { base, .. }
            | ExprKind::Index { base, .. }
            | ExprKind::Has { base, .. }
            | ExprKind::Like { base, .. }
            | ExprKind::Matches { base, .. }
            | ExprKind::Paren(base)
            | ExprKind::Unary { operand: base, .. } => work.push(base),
            ExprKind::Is { base, within, .. } => {
                work.push(base);
                work.extend(within.as_deref());
            }
            ExprKind::Binary { lhs, rhs, .. } => work.extend([&**lhs, &**rhs]),
            ExprKind::Record(entries) => work.extend(entries.iter().map(|e| &e.value)),
            _ => {}
        }
    }
    out
}

/// The string literals `conditions` compare a path with: `path == "s"`,
/// `path != "s"`, `path.contains("s")`, `["s", …].contains(path)`.
fn compared_strings(conditions: &[Condition], file: SourceFile, key: UnitKey) -> Vec<(String, String, Loc)> {
    let is_path = |e: &Expr| crate::check::path_key(e).is_some();
    let string = |e: &Expr| match &e.kind {
        ExprKind::Lit(l) => l.string_value().map(|s| (s.to_string(), Loc::new(file, key, l.span))),
        _ => None,
    };
    let mut out = Vec::new();
    let mut found = |path: &Expr, lit: &Expr| {
        if is_path(path)
            && let Some((value, loc)) = string(lit)
        {
            out.push((expr_text(path), value, loc));
        }
    };
    // Iterative, like `atoms` (deep expressions need no deep stack), and in
    // source order: children pushed last first.
    let mut work: Vec<&Expr> = conditions.iter().rev().map(|c| &c.expr).collect();
    while let Some(e) = work.pop() {
        match &e.kind {
            ExprKind::Binary { op, lhs, rhs } => {
                if matches!(op, BinaryOp::Eq | BinaryOp::NotEq) {
                    found(lhs, rhs);
                    found(rhs, lhs);
                }
                work.extend([&**rhs, &**lhs]);
            }
            ExprKind::MethodCall { receiver, method, args } => {
                if let ("contains", [arg]) = (method.name.as_str(), args.as_slice()) {
                    match &receiver.kind {
                        ExprKind::Set(items) => items.iter().for_each(|item| found(arg, item)),
                        _ => found(receiver, arg),
                    }
                }
                work.extend(args.iter().rev());
                work.push(receiver);
            }
            ExprKind::Paren(inner) | ExprKind::Unary { operand: inner, .. } => work.push(inner),
            ExprKind::Call { args, .. } | ExprKind::Set(args) => work.extend(args.iter().rev()),
            ExprKind::Record(entries) => work.extend(entries.iter().rev().map(|e| &e.value)),
            _ => {}
        }
    }
    out
}

fn entity_names(ty: &crate::types::Type) -> Vec<Arc<str>> {
    match ty {
        crate::types::Type::Entity(names) => names.to_vec(),
        _ => Vec::new(),
    }
}

fn call_text(c: &CallItem) -> String {
    match &c.args {
        None => c.name.text(),
        Some(args) => {
            let args: Vec<String> = args.iter().map(|a| format!("{}: {}", a.name.name, expr_text(&a.value))).collect();
            format!("{}({})", c.name.text(), args.join(", "))
        }
    }
}

// ───────────────────────── unreachable conditions ─────────────────────────

/// One fact a rule's conditions require, with where it came from.
struct Atom<'e> {
    expr: &'e Expr,
    positive: bool,
    /// The expression as text, and as `path OP constant` when it has that
    /// shape: computed once, since every pair of atoms is compared.
    text: String,
    comparison: Option<(String, BinaryOp, Const)>,
}

/// Splits the conditions into the facts that must all hold.
fn atoms(conditions: &[Condition]) -> Vec<Atom<'_>> {
    // Iterative (a work stack, left operands first), so that a long `&&`
    // chain does not need one stack frame per operator.
    let mut out = Vec::new();
    for c in conditions {
        let mut work = vec![(&c.expr, c.kind == ConditionKind::When)];
        while let Some((e, positive)) = work.pop() {
            match (&e.kind, positive) {
                (ExprKind::Paren(inner), _) => work.push((inner, positive)),
                (ExprKind::Binary { op: BinaryOp::And, lhs, rhs }, true)
                | (ExprKind::Binary { op: BinaryOp::Or, lhs, rhs }, false) => {
                    work.push((rhs, positive));
                    work.push((lhs, positive));
                }
                (ExprKind::Unary { op: UnaryOp::Not, operand }, _) => work.push((operand, !positive)),
                _ => out.push(Atom { expr: e, positive, text: expr_text(e), comparison: comparison(e) }),
            }
        }
    }
    out
}

/// A constant a path is compared with.
#[derive(PartialEq)]
enum Const {
    /// Compared by text: strings, booleans, enum values, entities.
    Exact(String),
    /// Numbers, decimals (scaled), durations, dates and times, comparable.
    Ordered(i128),
}

fn constant(e: &Expr) -> Option<Const> {
    match &e.kind {
        ExprKind::Paren(inner) => constant(inner),
        ExprKind::Lit(l) => Some(match &l.kind {
            LitKind::Int => {
                Const::Ordered(i128::from(literals::int(&l.raw).ok()?) * i128::from(literals::DECIMAL_SCALE))
            }
            LitKind::Decimal => Const::Ordered(i128::from(literals::decimal(&l.raw).ok()?)),
            LitKind::Duration => Const::Ordered(i128::from(literals::duration_ms(&l.raw).ok()?)),
            LitKind::Date => Const::Ordered(i128::from(literals::date_days(&l.raw).ok()?)),
            LitKind::DateTime => Const::Ordered(i128::from(literals::time_ms(&l.raw).ok()?)),
            LitKind::Str(_) | LitKind::Bool(_) => Const::Exact(l.raw.clone()),
        }),
        ExprKind::Name(n) => Some(Const::Exact(n.name.clone())),
        ExprKind::EnumRef { variant, .. } => Some(Const::Exact(variant.name.clone())),
        ExprKind::EntityRef(r) => Some(Const::Exact(format!("{}::{}", r.ty.text(), r.id.raw))),
        _ => None,
    }
}

/// `(path text, operator, constant)` for `path OP constant` (either order).
fn comparison(e: &Expr) -> Option<(String, BinaryOp, Const)> {
    let ExprKind::Binary { op, lhs, rhs } = &e.kind else { return None };
    let flip = |op: BinaryOp| match op {
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::Le => BinaryOp::Ge,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::Ge => BinaryOp::Le,
        other => other,
    };
    let is_path = |e: &Expr| crate::check::path_key(e).is_some();
    if is_path(lhs)
        && let Some(c) = constant(rhs)
    {
        return Some((expr_text(lhs), *op, c));
    }
    if is_path(rhs)
        && let Some(c) = constant(lhs)
    {
        return Some((expr_text(rhs), flip(*op), c));
    }
    None
}

/// Finds two facts of a rule that cannot hold together, or one that never holds.
fn unreachable(conditions: &[Condition], file: SourceFile, key: UnitKey) -> Option<(Loc, String, Option<Loc>)> {
    let atoms = atoms(conditions);
    let loc = |e: &Expr| Loc::new(file, key, e.span);
    for a in &atoms {
        if let ExprKind::Lit(Lit { kind: LitKind::Bool(b), .. }) = &a.expr.kind
            && *b != a.positive
        {
            return Some((loc(a.expr), format!("`{}` is always {b}", expr_text(a.expr)), None));
        }
    }
    for (i, a) in atoms.iter().enumerate() {
        for b in atoms.iter().skip(i + 1) {
            if let Some(reason) = contradiction(a, b) {
                return Some((loc(b.expr), reason, Some(loc(a.expr))));
            }
        }
    }
    None
}

/// One end of a range: the value and whether it is included; `None`: unbounded.
type Bound = Option<(i128, bool)>;

fn contradiction(a: &Atom<'_>, b: &Atom<'_>) -> Option<String> {
    if a.text == b.text && a.positive != b.positive {
        return Some(format!("`{}` must be both true and false", a.text));
    }
    let (Some((pa, oa, ca)), Some((pb, ob, cb))) = (&a.comparison, &b.comparison) else { return None };
    let (oa, ob) = (*oa, *ob);
    if pa != pb {
        return None;
    }
    let eq = |op: BinaryOp, positive: bool| (op == BinaryOp::Eq && positive) || (op == BinaryOp::NotEq && !positive);
    let ne = |op: BinaryOp, positive: bool| (op == BinaryOp::NotEq && positive) || (op == BinaryOp::Eq && !positive);
    // Equal to two different constants, or equal and unequal to the same one.
    if eq(oa, a.positive) && eq(ob, b.positive) && ca != cb {
        return Some(format!("`{pa}` cannot equal two different values"));
    }
    if (eq(oa, a.positive) && ne(ob, b.positive) || ne(oa, a.positive) && eq(ob, b.positive)) && ca == cb {
        return Some(format!("`{pa}` cannot both equal and differ from the same value"));
    }
    // Numeric ranges with nothing between them.
    let bound = |op: BinaryOp, positive: bool, c: &Const| -> Option<(Bound, Bound)> {
        let Const::Ordered(v) = c else { return None };
        let op = if positive {
            op
        } else {
            match op {
                BinaryOp::Lt => BinaryOp::Ge,
                BinaryOp::Le => BinaryOp::Gt,
                BinaryOp::Gt => BinaryOp::Le,
                BinaryOp::Ge => BinaryOp::Lt,
                _ => return None,
            }
        };
        // (lower, inclusive), (upper, inclusive)
        match op {
            BinaryOp::Gt => Some((Some((*v, false)), None)),
            BinaryOp::Ge => Some((Some((*v, true)), None)),
            BinaryOp::Lt => Some((None, Some((*v, false)))),
            BinaryOp::Le => Some((None, Some((*v, true)))),
            BinaryOp::Eq if positive => Some((Some((*v, true)), Some((*v, true)))),
            _ => None,
        }
    };
    let (Some((la, ua)), Some((lb, ub))) = (bound(oa, a.positive, ca), bound(ob, b.positive, cb)) else { return None };
    let lower = [la, lb].into_iter().flatten().max_by(|x, y| x.0.cmp(&y.0).then(y.1.cmp(&x.1)));
    let upper = [ua, ub].into_iter().flatten().min_by(|x, y| x.0.cmp(&y.0).then(x.1.cmp(&y.1)));
    if let (Some((lo, lo_inc)), Some((hi, hi_inc))) = (lower, upper)
        && (lo > hi || (lo == hi && !(lo_inc && hi_inc)))
    {
        return Some(format!("no value of `{pa}` satisfies both comparisons"));
    }
    None
}

// ───────────────────────── project-wide analyses ─────────────────────────

fn warning(code: &'static str, loc: Loc, message: String, label: &str) -> RawDiag {
    RawDiag {
        code,
        severity: Severity::Warning,
        message,
        primary: loc,
        label: label.to_string(),
        secondary: Vec::new(),
        help: None,
    }
}

/// Compares the members' summaries.
#[salsa::tracked(returns(ref))]
pub fn analyse(db: &dyn salsa::Database, project: Project) -> Vec<RawDiag> {
    let env = schema_env(db, project);
    let mut members: Vec<Arc<Summary>> = Vec::new();
    let mut require_ids: BTreeMap<String, bool> = BTreeMap::new();
    for file in project.files(db) {
        for key in unit_keys(db, *file) {
            if let Some(summary) = member_summary(db, project, *file, *key) {
                members.push(Arc::clone(summary));
            } else if let Some(unit) = unit(db, *file, *key)
                && let Unit::Policy { annotations, name, .. } = &*unit
            {
                require_ids.insert(name.name.clone(), annotations.iter().any(|a| a.name.name == "require_ids"));
            }
        }
    }
    let mut out = Vec::new();
    unreachable_rules(&members, &mut out);
    rule_ids(&members, &require_ids, &mut out);
    shadowed_permits(&members, &mut out);
    shadow_only_permits(&members, &mut out);
    repeated_rules(&members, &mut out);
    sensitive_permits(env, &members, &mut out);
    conflicting_masks(&members, &mut out);
    near_miss_strings(env, &members, &mut out);
    near_miss_entity_ids(&members, &mut out);
    out
}

/// Every place each value is used, in project order: group (a compared
/// path, an entity type) → value → (rank, location) of each use.
type Uses = Vec<(usize, Loc)>;

fn grouped<'a>(items: impl Iterator<Item = &'a (String, String, Loc)>) -> BTreeMap<&'a str, BTreeMap<&'a str, Uses>> {
    let mut groups: BTreeMap<&str, BTreeMap<&str, Uses>> = BTreeMap::new();
    for (order, (group, value, loc)) in items.enumerate() {
        groups.entry(group).or_default().entry(value).or_default().push((order, *loc));
    }
    groups
}

/// The value of the group that `value` is most likely a typo of: one typo
/// away (`near_miss`), not differing in digits only, and used more often —
/// or as often but earlier (of two near-misses, the rarer, later one is
/// taken for the typo). The closest wins, then the first in order.
///
/// Values alike but for digits and separators are never near-misses of
/// each other, so only other skeletons' values are compared ([`Skeletons`]):
/// a thousand numbered ids (`d1` … `d1000`) cost a thousand lookups, not a
/// million comparisons.
fn intended_of<'a>(
    values: &BTreeMap<&'a str, Uses>,
    skeletons: &Skeletons<'a>,
    value: &str,
    uses: &Uses,
) -> Option<&'a str> {
    let preferred = |a: &Uses, b: &Uses| {
        a.len() > b.len() || (a.len() == b.len() && a.first().map(|x| x.0) < b.first().map(|x| x.0))
    };
    let own = skeletons.of.get(value).copied();
    let own_len = own.and_then(|i| skeletons.groups.get(i)).map_or(0, |g| g.0);
    skeletons
        .groups
        .iter()
        .enumerate()
        // One edit changes a skeleton's length by at most one, and near-misses are at most two edits apart.
        .filter(|(i, (len, _))| Some(*i) != own && len.abs_diff(own_len) <= 2)
        .flat_map(|(_, (_, members))| members.iter().copied())
        .filter(|other| {
            values.get(other).is_some_and(|other_uses| preferred(other_uses, uses)) && near_miss(value, other)
        })
        .min_by_key(|other| (edits(value, other), *other))
}

/// A group's values by skeleton (the value without digits and separators,
/// [`differ_in_digits_only`]): `(skeleton length in chars, values)`, and
/// each value's group.
struct Skeletons<'a> {
    groups: Vec<(usize, Vec<&'a str>)>,
    of: HashMap<&'a str, usize>,
}

impl<'a> Skeletons<'a> {
    fn new(values: &BTreeMap<&'a str, Uses>) -> Skeletons<'a> {
        let mut by_skeleton: HashMap<String, usize> = HashMap::new();
        let mut out = Skeletons { groups: Vec::new(), of: HashMap::new() };
        for value in values.keys() {
            let skeleton = letters(value);
            let next = out.groups.len();
            let i = *by_skeleton.entry(skeleton.clone()).or_insert(next);
            if i == next {
                out.groups.push((skeleton.chars().count(), Vec::new()));
            }
            if let Some(g) = out.groups.get_mut(i) {
                g.1.push(*value);
            }
            out.of.insert(*value, i);
        }
        out
    }
}

/// W0116 for entity ids: `Role::"procurment-manager"` in one rule and
/// `Role::"procurement-manager"` in others. An entity the data does not
/// have is not an error (the data is loaded later, and may lack it), so a
/// misspelt id type-checks and the rule silently never matches — a forbid
/// that guards approvals stops applying. Of two near-miss ids of one type,
/// the one used less often (or, as often, met later) is taken for the typo.
fn near_miss_entity_ids(members: &[Arc<Summary>], out: &mut Vec<RawDiag>) {
    let by_type = grouped(members.iter().flat_map(|m| m.entity_ids.iter()));
    for (ty, ids) in &by_type {
        let skeletons = Skeletons::new(ids);
        for (id, uses) in ids {
            if id.chars().count() < 4 {
                continue;
            }
            let Some(intended) = intended_of(ids, &skeletons, id, uses) else { continue };
            let first_intended = ids.get(intended).and_then(|u| u.first()).map(|u| u.1);
            for (_, loc) in uses {
                let mut d = warning(
                    "W0116",
                    *loc,
                    format!("`{ty}::\"{id}\"` here and `{ty}::\"{intended}\"` elsewhere: a typo?"),
                    &format!("near-miss of \"{intended}\""),
                )
                .help(format!("did you mean `{intended}`? An entity id the data does not have never matches"));
                if let Some(at) = first_intended {
                    d = d.secondary(at, format!("`{ty}::\"{intended}\"` here"));
                }
                out.push(d);
            }
        }
    }
}

/// W0116: a string literal one typo away from another literal the same path
/// is compared with (`context.branch == "main"` in one rule, `== "mian"` in
/// another). A misspelt literal type-checks and silently never matches: a
/// two-approval rule for `main` stops applying. Of two near-misses, the one
/// used less often (or, as often, met later) is taken for the typo.
fn near_miss_strings(env: &SchemaEnv, members: &[Arc<Summary>], out: &mut Vec<RawDiag>) {
    // Declared names a string may stand for (`context.tool == "delete_customer"`).
    let mut declared: Vec<(&str, &str, Loc)> = env.actions.values().map(|a| (&*a.name, "action", a.loc)).collect();
    for e in env.enums.values() {
        declared.extend(e.variants.iter().map(|v| (&**v, "enum value", e.loc)));
    }
    // path → string → every place it is compared.
    let by_path = grouped(members.iter().flat_map(|m| m.strings.iter()));
    for (path, values) in &by_path {
        let skeletons = Skeletons::new(values);
        for (value, uses) in values {
            // Short codes (`"eu"`, `"uk"`) and numbered names (`"tier1"`) differ by one letter on purpose.
            if value.chars().count() < 4 {
                continue;
            }
            let Some(intended) = intended_of(values, &skeletons, value, uses) else {
                near_miss_declared(&declared, path, value, uses, out);
                continue;
            };
            let first_intended = values.get(intended).and_then(|u| u.first()).map(|u| u.1);
            for (_, loc) in uses {
                let mut d = warning(
                    "W0116",
                    *loc,
                    format!("`{path}` is compared with \"{value}\" here and with \"{intended}\" elsewhere: a typo?"),
                    &format!("near-miss of \"{intended}\""),
                )
                // "did you mean `…`?" is the form the editor's quick fix applies.
                .help(format!("did you mean `{intended}`? A misspelt string never matches"));
                if let Some(at) = first_intended {
                    d = d.secondary(at, format!("`{path}` compared with \"{intended}\" here"));
                }
                out.push(d);
            }
        }
    }
}

/// W0116 for a string one typo away from a declared action or enum value
/// (and from no other string the path is compared with).
fn near_miss_declared(
    declared: &[(&str, &str, Loc)],
    path: &str,
    value: &str,
    uses: &[(usize, Loc)],
    out: &mut Vec<RawDiag>,
) {
    if value.chars().count() < 4 || declared.iter().any(|(name, _, _)| *name == value) {
        return;
    }
    let Some(&(name, kind, at)) = declared
        .iter()
        .filter(|(name, _, _)| near_miss(value, name) && !differ_in_digits_only(value, name))
        .min_by_key(|(name, _, _)| (edits(value, name), *name))
    else {
        return;
    };
    for (_, loc) in uses {
        out.push(
            warning(
                "W0116",
                *loc,
                format!("`{path}` is compared with \"{value}\", one typo away from the {kind} `{name}`: a typo?"),
                &format!("near-miss of `{name}`"),
            )
            .help(format!("did you mean `{name}`? A misspelt string never matches"))
            .secondary(at, format!("`{name}` is declared here")),
        );
    }
}

/// Whether `b` is one typo away from `a`: one edit (a transposition
/// counts as one, so does a change of case anywhere), two in long strings.
/// Stricter than `closest`'s third of the length: `"payees.read"` and
/// `"payees.write"` are different scopes, not a typo.
fn near_miss(a: &str, b: &str) -> bool {
    let len = a.chars().count().min(b.chars().count());
    let limit = if len >= 12 { 2 } else { 1 };
    len >= 4
        && a.len() <= crate::suggest::MAX_SUGGEST_LEN
        && b.len() <= crate::suggest::MAX_SUGGEST_LEN
        && edits(a, b) <= limit
}

fn edits(a: &str, b: &str) -> usize {
    if a.eq_ignore_ascii_case(b) { 1 } else { strsim::damerau_levenshtein(a, b) }
}

/// Whether `a` and `b` are the same once digits and separators are removed:
/// numbered names (`"tier1"`, `"tier2"`) and a scope named after an action
/// (`"crm.read"`, `crm_read`) differ on purpose.
fn differ_in_digits_only(a: &str, b: &str) -> bool {
    letters(a) == letters(b)
}

/// `s` without digits and separators.
fn letters(s: &str) -> String {
    s.chars().filter(|c| !c.is_ascii_digit() && !matches!(c, '.' | '_' | '-' | ':' | '/' | ' ')).collect()
}

/// W0101: conditions that can never all hold.
fn unreachable_rules(members: &[Arc<Summary>], out: &mut Vec<RawDiag>) {
    for m in members {
        if let Some((loc, reason, other)) = &m.unreachable {
            let mut d = warning(
                "W0101",
                *loc,
                format!("`{}` can never apply: {reason}", m.rule_id),
                "never true together with the rest",
            );
            if let Some(other) = other {
                d = d.secondary(*other, "conflicts with this");
            }
            out.push(d.help("remove the contradiction, or delete the rule"));
        }
    }
}

/// W0106 / W0105: rule ids.
fn rule_ids(members: &[Arc<Summary>], require_ids: &BTreeMap<String, bool>, out: &mut Vec<RawDiag>) {
    let mut ids: BTreeMap<(String, String), Loc> = BTreeMap::new();
    for m in members {
        match &m.explicit_id {
            Some((id, loc)) => match ids.get(&(m.policy.clone(), id.clone())) {
                Some(first) => out.push(
                    warning("W0106", *loc, format!("rule id `{}.{id}` is used twice", m.policy), "used again")
                        .secondary(*first, "first used here")
                        .help("decisions, tests and audit records name rules by id; make each unique"),
                ),
                None => {
                    ids.insert((m.policy.clone(), id.clone()), *loc);
                }
            },
            None if require_ids.get(&m.policy).copied().unwrap_or(false) => out.push(
                warning(
                    "W0105",
                    m.loc,
                    format!("`{}` has no `@id`, and policy `{}` requires ids", m.rule_id, m.policy),
                    "no `@id`",
                )
                .help("add `@id(\"…\")`: a position-based id changes whenever rules are reordered"),
            ),
            None => {}
        }
    }
}

/// W0103: a permit that a forbid always overrides. A forbid covers a
/// permit only if its scope constraints are absent or the permit's own, so
/// forbids are indexed by (action, principal constraint, resource
/// constraint) and a permit looks at the four keys it can match: the
/// comparison stays proportional to the forbids that could cover it, not
/// to every forbid of its action (thousands of per-document bans on one
/// action made this quadratic).
fn shadowed_permits(members: &[Arc<Summary>], out: &mut Vec<RawDiag>) {
    type Key<'a> = (&'a str, Option<&'a str>, Option<&'a str>);
    // Each list in member order, with the forbid's position in it.
    let mut forbids: HashMap<Key<'_>, Vec<(usize, &Summary)>> = HashMap::new();
    let enforced =
        members.iter().filter(|m| m.kind == MemberKind::Forbid && m.shadow.is_none() && !m.requires_approval);
    for (position, f) in enforced.enumerate() {
        for a in &f.actions {
            let key = (&**a, f.principal_constraint.as_deref(), f.resource_constraint.as_deref());
            forbids.entry(key).or_default().push((position, f));
        }
    }
    for p in members.iter().filter(|m| m.kind == MemberKind::Permit && m.shadow.is_none() && m.unreachable.is_none()) {
        let Some(first) = p.actions.first() else { continue };
        let (pc, rc) = (p.principal_constraint.as_deref(), p.resource_constraint.as_deref());
        let mut keys: Vec<Key<'_>> = Vec::with_capacity(4);
        for principal in [None, pc] {
            for resource in [None, rc] {
                let key = (&**first, principal, resource);
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        // The first covering forbid in project order, as a scan of every forbid would find.
        let covering = keys
            .iter()
            .filter_map(|key| {
                forbids.get(key)?.iter().find(|(_, f)| {
                    p.actions.iter().all(|a| f.actions.contains(a))
                        && p.principal_types.iter().all(|t| f.principal_types.contains(t))
                        && p.resource_types.iter().all(|t| f.resource_types.contains(t))
                        && f.conditions.iter().all(|c| p.conditions.contains(c))
                })
            })
            .min_by_key(|(position, _)| *position)
            .map(|(_, f)| *f);
        if let Some(f) = covering {
            out.push(
                warning(
                    "W0103",
                    p.loc,
                    format!(
                        "`{}` never allows anything: `{}` forbids every request it would permit",
                        p.rule_id, f.rule_id
                    ),
                    "shadowed permit",
                )
                .secondary(f.loc, "this forbid always applies when the permit does")
                .help("narrow the forbid, or remove the permit"),
            );
        }
    }
}

/// W0121: a permit or forbid that repeats an earlier one: same effect,
/// actions, scope, conditions (the same facts in the same order),
/// obligations and advice, and both `@shadow` or neither. Both fire on the
/// same requests, so the copy changes no decision; it only adds a reason
/// (and, at scale, work). One pass with a map keyed by what decides.
fn repeated_rules(members: &[Arc<Summary>], out: &mut Vec<RawDiag>) {
    type Key<'a> = (
        MemberKind,
        &'a [Arc<str>],
        Option<&'a str>,
        Option<&'a str>,
        &'a [Arc<str>],
        &'a [Arc<str>],
        &'a [(bool, String)],
        &'a [String],
        bool,
    );
    let mut first: HashMap<Key<'_>, &Summary> = HashMap::new();
    for m in members.iter().filter(|m| matches!(m.kind, MemberKind::Permit | MemberKind::Forbid)) {
        let key = (
            m.kind,
            &m.actions[..],
            m.principal_constraint.as_deref(),
            m.resource_constraint.as_deref(),
            &m.principal_types[..],
            &m.resource_types[..],
            &m.conditions[..],
            &m.clauses[..],
            m.shadow.is_some(),
        );
        match first.get(&key) {
            Some(earlier) => out.push(
                warning(
                    "W0121",
                    m.loc,
                    format!(
                        "`{}` repeats `{}`: the same scope, conditions and obligations",
                        m.rule_id, earlier.rule_id
                    ),
                    "the same rule again",
                )
                .secondary(earlier.loc, "first here")
                .help("delete one: both apply to the same requests, so the copy changes no decision"),
            ),
            None => {
                first.insert(key, m);
            }
        }
    }
}

/// W0120: actions whose every permit is `@shadow`. A shadow rule never
/// decides, so such an action is denied to everyone: almost always a rollout
/// annotation left on the one rule that was meant to allow it.
fn shadow_only_permits(members: &[Arc<Summary>], out: &mut Vec<RawDiag>) {
    let mut permits: BTreeMap<&str, (usize, bool)> = BTreeMap::new(); // action → (permits, any enforced)
    for p in members.iter().filter(|m| m.kind == MemberKind::Permit) {
        for a in &p.actions {
            let entry = permits.entry(&**a).or_default();
            entry.0 += 1;
            entry.1 |= p.shadow.is_none();
        }
    }
    for p in members.iter().filter(|m| m.kind == MemberKind::Permit) {
        let Some(at) = p.shadow else { continue };
        let denied: Vec<(&str, usize)> = p
            .actions
            .iter()
            .filter_map(|a| permits.get(&**a).filter(|(_, enforced)| !enforced).map(|(n, _)| (&**a, *n)))
            .collect();
        let Some(&(first, count)) = denied.first() else { continue };
        let names: Vec<String> = denied.iter().map(|(a, _)| format!("`{a}`")).collect();
        let names = match names.split_last() {
            Some((last, init)) if !init.is_empty() => format!("{} or {last}", init.join(", ")),
            _ => names.concat(),
        };
        let message = match (denied.len(), count) {
            (1, 1) => format!(
                "`{}`, the only permit of `{first}`, is `@shadow`: no `{first}` request is ever allowed",
                p.rule_id
            ),
            (1, _) => format!("every permit of `{first}` is `@shadow`: no `{first}` request is ever allowed"),
            _ => format!(
                "`{}` is `@shadow`, and no other permit allows {}: these actions are never allowed",
                p.rule_id, names
            ),
        };
        out.push(
            warning("W0120", at, message, "evaluated, never decides")
                .secondary(p.loc, "this permit never allows anything")
                .help("a `@shadow` rule is evaluated and reported but never decides; remove `@shadow` to enforce it, or add an enforced permit"),
        );
    }
}

/// W0104: unconditional permits on sensitive actions.
fn sensitive_permits(env: &SchemaEnv, members: &[Arc<Summary>], out: &mut Vec<RawDiag>) {
    for p in members.iter().filter(|m| m.kind == MemberKind::Permit) {
        let unconstrained =
            p.conditions.is_empty() && p.principal_constraint.is_none() && p.resource_constraint.is_none();
        if let (true, Some(action)) =
            (unconstrained, p.actions.iter().find(|a| env.actions.get(*a).is_some_and(|i| i.sensitive)))
        {
            let mut d = warning(
                "W0104",
                p.loc,
                format!("`{}` permits the sensitive action `{action}` with no condition", p.rule_id),
                "unconditional permit",
            )
            .help("add a condition (MFA, an approval, an owner check), or narrow the scope with `principal in …`");
            if let Some(info) = env.actions.get(action) {
                d = d.secondary(info.loc, "marked `@sensitive` here");
            }
            out.push(d);
        }
    }
}

/// W0107: two masks on the same path with different methods.
fn conflicting_masks(members: &[Arc<Summary>], out: &mut Vec<RawDiag>) {
    let mut seen: BTreeMap<String, (String, Loc, &Summary)> = BTreeMap::new();
    for m in members.iter().filter(|m| m.kind == MemberKind::Mask) {
        for (path, method, loc) in &m.masks {
            match seen.get(path) {
                Some((other_method, other_loc, other))
                    if other_method != method && m.actions.iter().any(|a| other.actions.contains(a)) =>
                {
                    out.push(
                        warning(
                            "W0107",
                            *loc,
                            format!("`{path}` is masked twice, with `{method}` and with `{other_method}`"),
                            "second mask on this path",
                        )
                        .secondary(*other_loc, "first masked here")
                        .help("when both apply, the stronger method wins (drop > redact > hash > tokenize > partial); keep one mask per path"),
                    );
                }
                Some(_) => {}
                None => {
                    seen.insert(path.clone(), (method.clone(), *loc, &**m));
                }
            }
        }
    }
}
