//! The decision IR in SMT-LIB.
//!
//! One [`Encoding`] covers one action and one or more programs ("sides":
//! the old and new policy of a diff, or the one policy being analysed). It
//! declares a symbolic request and symbolic entity data, evaluates every
//! rule of the action's buckets on them exactly as the interpreter does
//! (`runtime/src/interp.rs`), and combines the outcomes exactly as the
//! engine does (`runtime/src/engine.rs`: per link of the delegation chain,
//! forbids before permits, approvals, lifecycle, masks, limit keys).
//!
//! The model of the world:
//! - an entity is an integer; `ety` gives its type, `listed` whether the
//!   entity store lists it (an entity that is only referenced has no
//!   attributes and no parents); entity literal `k` is the integer `-(k+1)`;
//! - attributes are uninterpreted functions of the entity, one per type,
//!   attribute path and type signature, with a presence function for
//!   optional ones; sets are a membership function and a size;
//! - the hierarchy is an uninterpreted strict-ancestor relation `anc`,
//!   constrained on the entity terms the query mentions: typed by the
//!   schemas, irreflexive, acyclic, transitive (saturated over the
//!   `in` tests that can chain), only from listed entities;
//! - strings are SMT strings, numbers, times and dates integers, IPs
//!   integers (IPv4 below 2^32, IPv6 above), enums their value's index.
//!
//! Everything real satisfies these axioms, so an `unsat` answer is a proof
//! about every request and every entity store the schemas allow. What the
//! encoding cannot express exactly (regex detectors, `lower()`, session
//! history, comparisons of two unknown sets…) becomes a fresh unconstrained
//! value — an over-approximation — and is recorded in
//! [`Encoding::approximations`]; a `sat` answer is only ever reported after
//! replaying its counterexample through the engine.

use std::collections::{BTreeSet, HashMap, HashSet};

use ward_compiler::ir::{
    self, CmpOp, Const, Effect, Expr, ExprKind, FlowKind, LimitMeasure, MaskMethod, Method, Pattern, Program, RuleKind,
    Ty, Var,
};

use crate::smt::{self, and, eq, implies, int, ite, not, or, sym};
use crate::vocab::{View, Vocab};

/// The latest time the analysis considers (9999-12-31T23:59:59.999Z): decision
/// times and dates are rendered as calendar text.
pub const MAX_TIME_MS: i128 = 253_402_300_799_999;
/// The largest set a counterexample may need.
pub const MAX_SET: i128 = 65_536;
const I64_MIN: i128 = i64::MIN as i128;
const I64_MAX: i128 = i64::MAX as i128;
const DAY_MS: i128 = 86_400_000;
/// How many hierarchy pairs saturation may create before it stops (and the
/// encoding is marked approximate: missing transitivity only relaxes it).
const MAX_PAIRS: usize = 20_000;

/// One program in a query.
#[derive(Debug, Clone)]
pub struct Side<'a> {
    pub label: String,
    pub program: &'a Program,
    pub view: View,
    /// Rules left out (to ask what a policy decides without them).
    pub without: Vec<u32>,
}

/// Why part of the encoding is not exact.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Approx {
    /// The side's label.
    pub side: String,
    /// The rule it occurs in (`None`: the encoding as a whole).
    pub rule: Option<String>,
    pub what: String,
    /// A flow aggregate (session history): exact once pinned to an empty
    /// history, which is what a fresh engine replays.
    pub flow: bool,
    /// Not a relaxation but a restriction of the domain explored (what the
    /// proofs then hold for is narrower, and the report says so).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub restricts: bool,
}

/// A value of a scalar sort, a compound value, or a set.
#[derive(Debug, Clone)]
enum V {
    S(String),
    Cidr(String, String),
    Rec(Vec<RecField>),
    Set(SetRep),
}

#[derive(Debug, Clone)]
struct RecField {
    name: String,
    present: String,
    v: V,
    ty: Ty,
}

/// What a set value is known as.
#[derive(Debug, Clone)]
enum SetRep {
    /// Elements listed, each with a guard (for the delegation chain).
    Lit(Vec<(String, String)>, #[allow(dead_code)] Class),
    /// A set of the entity data or the request: [`SetVar`] `k`.
    Var(usize),
    /// A set the encoding does not follow (elements of records, sets, ranges).
    Opaque,
}

/// The kinds of set elements whose equality is SMT equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Class {
    Entity,
    Int,
    Str,
    Bool,
    Enum(u32),
    Action,
    Ip,
    Opaque,
}

/// A set-valued attribute of one entity, or a set-valued context field.
#[derive(Debug, Clone)]
pub struct SetVar {
    class: Class,
    domain: Domain,
    pub mem_fn: String,
    pub owner: Option<String>,
    pub size: String,
    /// The element type's signature (for realization).
    pub key: String,
}

impl SetVar {
    fn mem(&self, x: &str) -> String {
        match &self.owner {
            Some(o) => format!("({} {o} {x})", self.mem_fn),
            None => format!("({} {x})", self.mem_fn),
        }
    }
}

/// The values a term may take.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Domain {
    Entity(Vec<u32>),
    Range(i128, i128),
    Values(Vec<u32>),
    Ip,
    None,
}

/// A node's value and whether evaluating it fails.
#[derive(Debug, Clone)]
struct Node {
    v: V,
    err: String,
}

/// A constraint whose expansion needs every ground term (written at the end).
#[derive(Debug, Clone)]
enum Deferred {
    /// `name = (size of set k >= / = its distinct known members)`.
    Size(usize),
    /// `name <=> entity e is in (hierarchy) some member of set k` (witness `w`).
    EntityInSet { name: String, e: String, set: usize, w: String },
    /// `name <=> sets a and b share an element` (witness `w`).
    Intersect { name: String, a: usize, b: usize, w: String },
    /// `name <=> set k is a subset of the listed elements (k has no others)`.
    SubsetOfLit { name: String, set: usize, items: Vec<(String, String)> },
    /// `name <=> set k equals the listed elements`.
    EqualsLit { name: String, set: usize, items: Vec<(String, String)> },
}

/// An attribute read on an entity term: what realization needs to know.
#[derive(Debug, Clone)]
pub struct AttrApp {
    /// Global entity type.
    pub ty: u32,
    /// Attribute path (`address`, `zip`).
    pub path: Vec<String>,
    pub sig: String,
    pub owner: String,
    pub value: AppValue,
    pub present: String,
}

#[derive(Debug, Clone)]
pub enum AppValue {
    Scalar(String),
    Cidr(String, String),
    Set(usize),
}

/// A context field (leaf or record, by path).
#[derive(Debug, Clone)]
pub struct CtxLeaf {
    pub path: Vec<String>,
    pub sig: String,
    pub value: AppValue,
    pub present: String,
}

/// How one rule came out for one link.
#[derive(Debug, Clone)]
pub struct LinkFlags {
    /// The rule is in the link's bucket (action, principal type, resource type).
    pub in_bucket: String,
    pub fired: String,
    pub error: String,
}

/// A rule of the action, with its outcome per link.
#[derive(Debug, Clone)]
pub struct RuleTerms {
    pub rule: u32,
    pub links: Vec<LinkFlags>,
}

/// A mask rule's effect on a decision.
#[derive(Debug, Clone)]
pub struct MaskTerms {
    pub rule: u32,
    /// Applied with its detectors (its conditions held for some link).
    pub fired: String,
    /// Applied to the whole paths (its condition could not be evaluated).
    pub whole: String,
}

/// What one side decides.
#[derive(Debug, Clone)]
pub struct SideTerms {
    pub label: String,
    /// The request is well-formed for this side (else it is refused: deny).
    pub valid: String,
    /// 0 deny, 1 approval_required, 2 allow.
    pub effect: String,
    /// The effect before masks and limit keys (rules and lifecycle only).
    pub rules_effect: String,
    pub rules: Vec<RuleTerms>,
    pub masks: Vec<MaskTerms>,
    /// `(obligation signature, carried on allow, carried on approval_required)`.
    pub obligations: Vec<(String, String, String)>,
    /// Per limit rule: it applies to the caller (its conditions held).
    pub limits: Vec<(u32, String)>,
    /// Per link of the chain (the caller first).
    pub links: Vec<LinkTerms>,
    /// The rules were evaluated: the request is well-formed and no agent's
    /// lifecycle denies it.
    pub evaluated: String,
}

/// One link's decision.
#[derive(Debug, Clone)]
pub struct LinkTerms {
    /// The link exists (the caller always does).
    pub active: String,
    /// A forbid without `require_approval` applies.
    pub hard_forbid: String,
    /// A permit without `require_approval` applies (or is granted by the caller).
    pub permit: String,
    /// 0 deny, 1 approval_required, 2 allow.
    pub effect: String,
}

/// The request's symbols.
#[derive(Debug, Clone)]
pub struct RequestTerms {
    pub principal: String,
    pub resource: String,
    /// `(present, entity)` per delegating principal (origin first).
    pub delegators: Vec<(String, String)>,
    pub now: String,
}

/// An encoded query context: everything but the question.
#[derive(Debug, Clone)]
pub struct Encoding {
    pub action: String,
    pub text: String,
    pub request: RequestTerms,
    pub sides: Vec<SideTerms>,
    pub approximations: Vec<Approx>,
    /// Assertions that pin session history to empty (a fresh engine).
    pub flow_pins: Vec<String>,
    /// Every entity term the query mentions, with the types it may have.
    pub entities: Vec<(String, BTreeSet<u32>)>,
    pub attrs: Vec<AttrApp>,
    pub context: Vec<CtxLeaf>,
    pub sets: Vec<SetVar>,
    /// Ground terms per set class key (for set members).
    pub set_members: Vec<Vec<String>>,
    /// Hierarchy pairs `(x, y)`: `anc x y` is read for realization.
    pub pairs: Vec<(String, String)>,
    /// Presence of optional fields: `(key, owner, term)`, keys `h:Type.path#sig`
    /// (attributes) and `cp:path#sig` (context fields).
    pub presences: Vec<(String, Option<String>, String)>,
    /// Every entity term is listed: the "complete entity data" assumption.
    pub all_listed: String,
    /// Chains are bounded to this many delegating principals, and some rule
    /// reads `chain` (so results hold for chains up to that length).
    pub chain_bounded: Option<usize>,
    /// Per assert: it selects the request (its scope matches and its
    /// conditions hold or cannot be evaluated); `None` when it is not about
    /// the action.
    pub asserts: Vec<Option<String>>,
}

struct Encoder<'a, 'b> {
    vocab: &'a Vocab,
    sides: &'b [Side<'a>],
    gaction: Option<u32>,
    out: String,
    declared: HashSet<String>,
    n: usize,
    request: RequestTerms,
    grounds: HashMap<Class, Vec<String>>,
    ground_set: HashSet<(Class, String)>,
    entity_types: HashMap<String, BTreeSet<u32>>,
    entity_order: Vec<String>,
    sets: Vec<SetVar>,
    set_index: HashMap<(String, Option<String>), usize>,
    pairs: Vec<(String, String)>,
    pair_set: HashSet<(String, String)>,
    attrs: Vec<AttrApp>,
    attr_set: HashSet<(String, String)>,
    context: Vec<CtxLeaf>,
    context_set: HashSet<String>,
    presences: Vec<(String, Option<String>, String)>,
    presence_set: HashSet<(String, Option<String>)>,
    deferred: Vec<Deferred>,
    approx: Vec<Approx>,
    pins: Vec<String>,
    domains_done: HashSet<String>,
    /// Flow aggregates by definition: the same history for every program and link.
    flows: HashMap<String, V>,
}

/// Per-rule evaluation state.
/// A quantifier node's parts.
struct QuantifierNode<'t> {
    all: bool,
    set: u32,
    var: u32,
    body: u32,
    ty: &'t Ty,
}

struct Cx<'r> {
    side: usize,
    exprs: &'r [Expr],
    principal: String,
    rule: Option<String>,
    nodes: Vec<Node>,
    /// Quantifier variables bound while a body is re-encoded for one element.
    locals: Vec<(u32, String)>,
}

/// Encodes `action` for `sides`. `delegators` is how many delegating
/// principals a request may carry (0 or 1 suffice unless rules read `chain`).
pub fn encode(vocab: &Vocab, sides: &[Side<'_>], action: &str, delegators: usize) -> Encoding {
    encode_with(vocab, sides, action, delegators, &[])
}

/// [`encode`], and for each of `asserts` (of the first side's program)
/// whether it selects the request (`None` when it is not about `action`).
pub fn encode_with(
    vocab: &Vocab,
    sides: &[Side<'_>],
    action: &str,
    delegators: usize,
    asserts: &[&ward_compiler::lower::Assertion],
) -> Encoding {
    let mut e = Encoder {
        vocab,
        sides,
        gaction: vocab.action_named(action),
        out: String::new(),
        declared: HashSet::new(),
        n: 0,
        request: RequestTerms {
            principal: "p".into(),
            resource: "r".into(),
            delegators: Vec::new(),
            now: "now".into(),
        },
        grounds: HashMap::new(),
        ground_set: HashSet::new(),
        entity_types: HashMap::new(),
        entity_order: Vec::new(),
        sets: Vec::new(),
        set_index: HashMap::new(),
        pairs: Vec::new(),
        pair_set: HashSet::new(),
        attrs: Vec::new(),
        attr_set: HashSet::new(),
        context: Vec::new(),
        context_set: HashSet::new(),
        presences: Vec::new(),
        presence_set: HashSet::new(),
        deferred: Vec::new(),
        approx: Vec::new(),
        pins: Vec::new(),
        domains_done: HashSet::new(),
        flows: HashMap::new(),
    };
    e.prelude(delegators);
    let mut side_terms = Vec::new();
    for (i, _) in sides.iter().enumerate() {
        side_terms.push(e.side(i, action));
    }
    let assert_terms = asserts.iter().map(|a| e.assertion(a, action)).collect();
    e.finish();
    let chain_read = sides.iter().any(|s| reads_var(s.program, action, Var::Chain));
    let entities: Vec<(String, BTreeSet<u32>)> =
        e.entity_order.iter().map(|t| (t.clone(), e.entity_types.get(t).cloned().unwrap_or_default())).collect();
    let all_listed = and(entities.iter().map(|(t, _)| format!("(listed {t})")));
    let set_members = e.sets.iter().map(|s| e.grounds.get(&s.class).cloned().unwrap_or_default()).collect();
    // Templates apply through links, which are data loaded at run time: the
    // encoding decides as the engine does with no links, and says so.
    for side in sides {
        let Some(a) = side.program.actions.iter().position(|x| x.name == action) else { continue };
        let mut templates: Vec<u32> =
            side.program.buckets.iter().filter(|b| b.action == a as u32).flat_map(|b| b.templates.clone()).collect();
        templates.sort_unstable();
        templates.dedup();
        for t in templates {
            let Some(rule) = side.program.rules.get(t as usize) else { continue };
            let approx = Approx {
                side: side.label.clone(),
                rule: Some(rule.id.clone()),
                what: "a `@template` rule is analysed without links (links are data loaded at run time): what it grants or forbids through a link is not explored".into(),
                flow: false,
                restricts: true,
            };
            if !e.approx.contains(&approx) {
                e.approx.push(approx);
            }
        }
    }
    if vocab.hierarchy_differs {
        e.approx.push(Approx {
            side: String::new(),
            rule: None,
            what: "the programs declare different hierarchies (`in`): only parent edges both allow are explored".into(),
            flow: false,
            restricts: true,
        });
    }
    Encoding {
        action: action.to_string(),
        text: e.out,
        request: e.request,
        sides: side_terms,
        approximations: e.approx,
        flow_pins: e.pins,
        entities,
        attrs: e.attrs,
        context: e.context,
        sets: e.sets,
        set_members,
        pairs: e.pairs,
        presences: e.presences,
        all_listed,
        chain_bounded: if chain_read { Some(delegators) } else { None },
        asserts: assert_terms,
    }
}

/// Whether any rule of `action`'s buckets reads `var` (or is an
/// `@delegation("actor")` permit, when `var` is the actor).
pub fn reads_var(p: &Program, action: &str, var: Var) -> bool {
    let Some(a) = p.actions.iter().position(|x| x.name == action) else { return false };
    rules_of_action(p, a as u32).iter().filter_map(|r| p.rules.get(*r as usize)).any(|rule| {
        (var == Var::Actor && rule.actor_only)
            || rule.exprs.iter().any(|e| matches!(e.kind, ExprKind::Var(v) if v == var))
    })
}

/// Every rule in a bucket of `action`, in program order.
pub fn rules_of_action(p: &Program, action: u32) -> Vec<u32> {
    let mut set = BTreeSet::new();
    for b in p.buckets.iter().filter(|b| b.action == action) {
        set.extend(b.rules.iter().copied());
        for (_, rules) in b.by_principal.iter().chain(&b.by_resource) {
            set.extend(rules.iter().copied());
        }
    }
    set.into_iter().collect()
}

fn sort_of(ty: &Ty) -> &'static str {
    match ty {
        Ty::Bool => "Bool",
        Ty::String => "String",
        _ => "Int",
    }
}

fn class_of(view: &View, ty: &Ty) -> Class {
    match ty {
        Ty::Entity(_) => Class::Entity,
        Ty::Int | Ty::Decimal | Ty::Time | Ty::Date | Ty::Duration => Class::Int,
        Ty::String => Class::Str,
        Ty::Bool => Class::Bool,
        Ty::Enum(e) => Class::Enum(view.enums.get(*e as usize).copied().unwrap_or(u32::MAX)),
        Ty::Action => Class::Action,
        Ty::Ip => Class::Ip,
        _ => Class::Opaque,
    }
}

/// `2^128`: IPv4 addresses are encoded above every IPv6 one.
pub const V4_BASE: &str = "340282366920938463463374607431768211456";

/// The code of an IP address: an IPv6 address is its 128-bit value, an
/// IPv4 address `2^128` plus its 32-bit value.
pub fn ip_term(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(a) => format!("(+ {V4_BASE} {})", u32::from(a)),
        std::net::IpAddr::V6(a) => u128::from(a).to_string(),
    }
}

/// The IP address a code stands for (the decimal text of an integer).
pub fn ip_of_code(text: &str) -> Option<std::net::IpAddr> {
    let mut value: u128 = 0;
    let mut over = false;
    for c in text.chars() {
        let d = u128::from(c.to_digit(10)?);
        match value.checked_mul(10).and_then(|v| v.checked_add(d)) {
            Some(v) => value = v,
            None => {
                over = true;
                value = value.wrapping_mul(10).wrapping_add(d);
            }
        }
    }
    if over {
        u32::try_from(value).ok().map(|v| std::net::IpAddr::V4(v.into()))
    } else {
        Some(std::net::IpAddr::V6(value.into()))
    }
}

/// `x` is an IP code in `[lo, hi]` of one family.
fn ip_range(x: &str, v4: bool, lo: u128, hi: u128) -> String {
    if v4 {
        format!("(and (<= (+ {V4_BASE} {lo}) {x}) (<= {x} (+ {V4_BASE} {hi})))")
    } else {
        format!("(and (<= {lo} {x}) (<= {x} {hi}))")
    }
}

/// Any IP code.
fn ip_domain(x: &str) -> String {
    format!("(and (<= 0 {x}) (<= {x} (+ {V4_BASE} {})))", u32::MAX)
}

/// Days since the epoch of `YYYY-MM-DD` bounds of what the analysis renders.
fn date_bounds() -> (i128, i128) {
    let lo = ward_compiler::literals::date_days("0000-01-01").map_or(-719_528, i128::from);
    let hi = ward_compiler::literals::date_days("9999-12-31").map_or(2_932_896, i128::from);
    (lo, hi)
}

impl<'a> Encoder<'a, '_> {
    fn line(&mut self, text: &str) {
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.n += 1;
        sym(&format!("{prefix}{}", self.n))
    }

    /// Declares a constant (once).
    fn declare_const(&mut self, name: &str, sort: &str) {
        if self.declared.insert(name.to_string()) {
            self.line(&format!("(declare-const {name} {sort})"));
        }
    }

    fn declare_fun(&mut self, name: &str, args: &str, sort: &str) {
        if self.declared.insert(name.to_string()) {
            self.line(&format!("(declare-fun {name} ({args}) {sort})"));
        }
    }

    /// Names `term` with a definition unless it is already atomic.
    fn def(&mut self, sort: &str, term: String) -> String {
        if !term.contains(' ') {
            return term;
        }
        let name = self.fresh("t");
        self.line(&format!("(define-fun {name} () {sort} {term})"));
        name
    }

    fn assert(&mut self, term: &str) {
        if term != "true" {
            self.line(&format!("(assert {term})"));
        }
    }

    fn approx(&mut self, side: usize, rule: &Option<String>, what: impl Into<String>) {
        let a = Approx {
            side: self.sides.get(side).map_or(String::new(), |s| s.label.clone()),
            rule: rule.clone(),
            what: what.into(),
            flow: false,
            restricts: false,
        };
        if !self.approx.contains(&a) {
            self.approx.push(a);
        }
    }

    /// A fresh value that stands for something the encoding does not follow.
    fn opaque(&mut self, cx_side: usize, rule: &Option<String>, ty: &Ty, what: &str) -> V {
        self.approx(cx_side, rule, what);
        self.fresh_value(ty)
    }

    fn fresh_value(&mut self, ty: &Ty) -> V {
        match ty {
            Ty::Set(_) | Ty::Record(_) | Ty::Unknown => V::Set(SetRep::Opaque),
            Ty::Cidr => {
                let (a, b) = (self.fresh("x"), self.fresh("x"));
                self.declare_const(&a, "Int");
                self.declare_const(&b, "Int");
                V::Cidr(a, b)
            }
            _ => {
                let name = self.fresh("x");
                self.declare_const(&name, sort_of(ty));
                V::S(name)
            }
        }
    }

    fn register(&mut self, class: Class, term: &str) {
        if class == Class::Opaque {
            return;
        }
        if self.ground_set.insert((class, term.to_string())) {
            self.grounds.entry(class).or_default().push(term.to_string());
        }
    }

    fn register_entity(&mut self, term: &str, types: impl IntoIterator<Item = u32>) {
        self.register(Class::Entity, term);
        if !self.entity_types.contains_key(term) {
            self.entity_order.push(term.to_string());
        }
        self.entity_types.entry(term.to_string()).or_default().extend(types);
    }

    fn pair(&mut self, x: &str, y: &str) {
        if self.pair_set.insert((x.to_string(), y.to_string())) {
            self.pairs.push((x.to_string(), y.to_string()));
        }
    }

    /// `x in y`: equal, or `y` an ancestor of `x`.
    fn in_entity(&mut self, x: &str, y: &str) -> String {
        self.pair(x, y);
        format!("(or (= {x} {y}) (anc {x} {y}))")
    }

    fn domain_term(&self, d: &Domain, x: &str) -> String {
        match d {
            Domain::Entity(types) => smt::one_of(&format!("(ety {x})"), types.iter().map(|t| int(i128::from(*t)))),
            Domain::Range(lo, hi) => smt::between(x, *lo, *hi),
            Domain::Values(vs) => smt::one_of(x, vs.iter().map(|v| int(i128::from(*v)))),
            Domain::Ip => ip_domain(x),
            Domain::None => "true".into(),
        }
    }

    /// The values a value of `ty` may take in the entity data, given every
    /// side that declares it (enum values all of them accept).
    fn domain(&self, side: usize, ty: &Ty) -> Domain {
        self.domain_of(side, ty, true)
    }

    /// As [`Encoder::domain`]; for request values (`data: false`) an enum
    /// may hold any program's value: a program that lacks it refuses the
    /// request instead.
    fn domain_of(&self, side: usize, ty: &Ty, data: bool) -> Domain {
        let Some(s) = self.sides.get(side) else { return Domain::None };
        match ty {
            Ty::Entity(ts) => {
                Domain::Entity(ts.iter().filter_map(|t| s.view.types.get(*t as usize).copied()).collect())
            }
            Ty::Int | Ty::Duration | Ty::Time => Domain::Range(I64_MIN, I64_MAX),
            // What `literals::decimal` reads: the negation of the most negative word overflows.
            Ty::Decimal => Domain::Range(-I64_MAX, I64_MAX),
            Ty::Date => {
                let (lo, hi) = date_bounds();
                Domain::Range(lo, hi)
            }
            Ty::Ip => Domain::Ip,
            Ty::Action => Domain::Range(0, self.vocab.actions.len() as i128 - 1),
            Ty::Enum(e) => {
                let Some(g) = s.view.enums.get(*e as usize).copied() else { return Domain::None };
                let name = self.vocab.enums.get(g as usize).map_or("", |(n, _)| n.as_str());
                if !data {
                    let n = self.vocab.enums.get(g as usize).map_or(0, |(_, v)| v.len());
                    return Domain::Values((0..n as u32).collect());
                }
                let mut allowed: Option<BTreeSet<u32>> = None;
                for other in self.sides {
                    if let Some(local) = other.program.enums.iter().position(|x| x.name == name) {
                        let vals: BTreeSet<u32> =
                            other.view.enum_values.get(local).map(|v| v.iter().copied().collect()).unwrap_or_default();
                        allowed = Some(match allowed {
                            Some(a) => a.intersection(&vals).copied().collect(),
                            None => vals,
                        });
                    }
                }
                Domain::Values(allowed.unwrap_or_default().into_iter().collect())
            }
            _ => Domain::None,
        }
    }

    // ───────────────────────── the request ─────────────────────────

    fn prelude(&mut self, delegators: usize) {
        self.line("(declare-fun ety (Int) Int)");
        self.line("(declare-fun listed (Int) Bool)");
        self.line("(declare-fun anc (Int Int) Bool)");
        self.declared.extend(["ety".to_string(), "listed".to_string(), "anc".to_string()]);
        let ntypes = self.vocab.types.len() as i128;
        // Which (child type, ancestor type) pairs the hierarchy allows.
        let mut allowed = Vec::new();
        for (c, ancestors) in self.vocab.ancestors.iter().enumerate() {
            for a in ancestors {
                allowed.push(format!("(and (= c {c}) (= a {a}))"));
            }
        }
        self.line(&format!("(define-fun ancok ((c Int) (a Int)) Bool {})", or(allowed)));
        // Literals: fixed values, their types; agents are always listed.
        for (k, (t, _)) in self.vocab.literals.iter().enumerate() {
            let v = int(Vocab::literal_value(k as u32));
            self.out.push_str(&format!("(assert (= (ety {v}) {t}))\n"));
        }
        for s in self.sides {
            for agent in &s.program.agents {
                if let Some(g) = s.view.literals.get(agent.entity as usize) {
                    let v = int(Vocab::literal_value(*g));
                    self.out.push_str(&format!("(assert (listed {v}))\n"));
                }
            }
        }
        self.declare_const("p", "Int");
        self.declare_const("r", "Int");
        self.declare_const("now", "Int");
        self.assert(&smt::between("now", 0, MAX_TIME_MS));
        let all_types: Vec<u32> = (0..ntypes as u32).collect();
        self.register_entity("p", all_types.clone());
        self.register_entity("r", all_types.clone());
        for i in 0..delegators {
            let (d, o) = (format!("d{i}"), format!("o{i}"));
            self.declare_const(&d, "Bool");
            self.declare_const(&o, "Int");
            self.register_entity(&o, all_types.clone());
            self.request.delegators.push((d, o));
        }
        for t in ["p", "r"] {
            self.assert(&format!("(and (<= 0 (ety {t})) (< (ety {t}) {ntypes}))"));
        }
        for (_, o) in self.request.delegators.clone() {
            self.assert(&format!("(and (<= 0 (ety {o})) (< (ety {o}) {ntypes}))"));
        }
        // Agents' declared parents: every program that declares the agent adds them.
        for s in self.sides {
            for agent in &s.program.agents {
                let Some(a) = s.view.literals.get(agent.entity as usize).copied() else { continue };
                for parent in &agent.parents {
                    let Some(q) = s.view.literals.get(*parent as usize).copied() else { continue };
                    let (ta, tq) = (
                        self.vocab.literals.get(a as usize).map(|l| l.0),
                        self.vocab.literals.get(q as usize).map(|l| l.0),
                    );
                    let ok = matches!((ta, tq), (Some(x), Some(y)) if self.vocab.ancestors.get(x as usize).is_some_and(|s| s.contains(&y)));
                    let (va, vq) = (int(Vocab::literal_value(a)), int(Vocab::literal_value(q)));
                    if ok {
                        self.out.push_str(&format!("(assert (anc {va} {vq}))\n"));
                        self.register_entity(&va, ta);
                        self.register_entity(&vq, tq);
                        self.pair(&va, &vq);
                    }
                }
            }
        }
    }

    /// The context record of `side`'s action, with every field declared.
    fn context_value(&mut self, side: usize) -> V {
        let Some(s) = self.sides.get(side) else { return V::Rec(Vec::new()) };
        let Some(action) = s.program.actions.iter().find(|a| Some(a.name.as_str()) == self.action_name()) else {
            return V::Rec(Vec::new());
        };
        let fields = action.context.clone();
        self.context_fields(side, &[], &fields, "true")
    }

    fn action_name(&self) -> Option<&str> {
        self.gaction.and_then(|g| self.vocab.actions.get(g as usize)).map(String::as_str)
    }

    fn context_fields(&mut self, side: usize, prefix: &[String], fields: &[ir::Field], parent: &str) -> V {
        let mut out = Vec::new();
        for f in fields {
            let mut path = prefix.to_vec();
            path.push(f.name.clone());
            let program = self.sides.get(side).map(|s| s.program);
            let sig = program.map_or(String::new(), |p| self.vocab.sig(p, &f.ty));
            let key = format!("{}#{sig}", path.join("."));
            let present_sym = sym(&format!("cp:{key}"));
            self.declare_const(&present_sym, "Bool");
            if self.presence_set.insert((format!("cp:{key}"), None)) {
                self.presences.push((format!("cp:{key}"), None, present_sym.clone()));
            }
            let present = and([parent.to_string(), present_sym.clone()]);
            let v = match &f.ty {
                Ty::Record(sub) => self.context_fields(side, &path, sub, &present),
                ty => {
                    let value = self.leaf(side, ty, &format!("c:{key}"), None, &present);
                    if self.context_set.insert(key.clone()) {
                        let app = match &value {
                            V::S(t) => AppValue::Scalar(t.clone()),
                            V::Cidr(a, b) => AppValue::Cidr(a.clone(), b.clone()),
                            V::Set(SetRep::Var(k)) => AppValue::Set(*k),
                            _ => AppValue::Scalar(String::new()),
                        };
                        self.context.push(CtxLeaf {
                            path: path.clone(),
                            sig: sig.clone(),
                            value: app,
                            present: present_sym.clone(),
                        });
                    }
                    value
                }
            };
            out.push(RecField { name: f.name.clone(), present, v, ty: f.ty.clone() });
        }
        V::Rec(out)
    }

    /// A leaf value named `name` (a constant, or a function of `owner`),
    /// with its domain asserted where it is present.
    fn leaf(&mut self, side: usize, ty: &Ty, name: &str, owner: Option<&str>, present: &str) -> V {
        // Attributes of entities are data; constants are the request's.
        let data = owner.is_some();
        let apply = |f: &str| match owner {
            Some(o) => format!("({f} {o})"),
            None => f.to_string(),
        };
        match ty {
            Ty::Set(elem) => {
                let view = self.sides.get(side).map(|s| s.view.clone());
                let class = view.as_ref().map_or(Class::Opaque, |v| class_of(v, elem));
                if class == Class::Opaque {
                    return V::Set(SetRep::Opaque);
                }
                let mem_fn = sym(&format!("m:{name}"));
                let size_fn = sym(&format!("n:{name}"));
                let elem_sort = sort_of(elem);
                match owner {
                    Some(_) => {
                        self.declare_fun(&mem_fn, &format!("Int {elem_sort}"), "Bool");
                        self.declare_fun(&size_fn, "Int", "Int");
                    }
                    None => {
                        self.declare_fun(&mem_fn, elem_sort, "Bool");
                        self.declare_const(&size_fn, "Int");
                    }
                }
                let key = (mem_fn.clone(), owner.map(str::to_string));
                if let Some(k) = self.set_index.get(&key) {
                    return V::Set(SetRep::Var(*k));
                }
                let domain = self.domain_of(side, elem, data);
                let k = self.sets.len();
                let program = self.sides.get(side).map(|s| s.program);
                let sig = program.map_or(String::new(), |p| self.vocab.sig(p, elem));
                self.sets.push(SetVar {
                    class,
                    domain,
                    mem_fn,
                    owner: owner.map(str::to_string),
                    size: apply(&size_fn),
                    key: sig,
                });
                self.set_index.insert(key, k);
                if matches!(class, Class::Enum(_) | Class::Bool | Class::Action) {
                    self.register_finite(class);
                }
                self.deferred.push(Deferred::Size(k));
                V::Set(SetRep::Var(k))
            }
            Ty::Cidr => {
                let (a, b) = (sym(&format!("a:{name}.ip")), sym(&format!("a:{name}.len")));
                for f in [&a, &b] {
                    match owner {
                        Some(_) => self.declare_fun(f, "Int", "Int"),
                        None => self.declare_const(f, "Int"),
                    }
                }
                let (ta, tb) = (apply(&a), apply(&b));
                let dom = format!("(and {} (<= 0 {tb}) (<= {tb} (ite (>= {ta} {V4_BASE}) 32 128)))", ip_domain(&ta));
                if self.domains_done.insert(ta.clone()) {
                    self.assert(&implies(present, &dom));
                }
                V::Cidr(ta, tb)
            }
            Ty::Record(_) | Ty::Unknown => V::Set(SetRep::Opaque),
            _ => {
                let f = sym(&format!("a:{name}"));
                match owner {
                    Some(_) => self.declare_fun(&f, "Int", sort_of(ty)),
                    None => self.declare_const(&f, sort_of(ty)),
                }
                let term = apply(&f);
                let view = self.sides.get(side).map(|s| s.view.clone());
                let class = view.as_ref().map_or(Class::Opaque, |v| class_of(v, ty));
                match class {
                    Class::Entity => {
                        let types = match self.domain(side, ty) {
                            Domain::Entity(t) => t,
                            _ => Vec::new(),
                        };
                        self.register_entity(&term, types);
                    }
                    c => self.register(c, &term),
                }
                let d = self.domain_of(side, ty, data);
                if self.domains_done.insert(term.clone()) {
                    let dom = self.domain_term(&d, &term);
                    self.assert(&implies(present, &dom));
                }
                V::S(term)
            }
        }
    }

    /// Adds every value of a finite class to the ground terms (so that sizes are exact).
    fn register_finite(&mut self, class: Class) {
        let values: Vec<String> = match class {
            Class::Bool => vec!["true".into(), "false".into()],
            Class::Enum(g) => {
                let n = self.vocab.enums.get(g as usize).map_or(0, |(_, v)| v.len());
                (0..n).map(|i| int(i as i128)).collect()
            }
            Class::Action => (0..self.vocab.actions.len()).map(|i| int(i as i128)).collect(),
            _ => Vec::new(),
        };
        for v in values {
            self.register(class, &v);
        }
    }

    /// The value of attribute path `path` (of type `ty`) of entity `owner`,
    /// whose type is `gty`, present under `present`.
    fn entity_field(&mut self, side: usize, gty: u32, path: &[String], ty: &Ty, owner: &str, present: &str) -> V {
        let program = self.sides.get(side).map(|s| s.program);
        let sig = program.map_or(String::new(), |p| self.vocab.sig(p, ty));
        let tname = self.vocab.type_name(gty).to_string();
        let key = format!("{tname}.{}#{sig}", path.join("."));
        let v = match ty {
            Ty::Record(fields) => {
                let mut out = Vec::new();
                for f in fields {
                    let mut sub = path.to_vec();
                    sub.push(f.name.clone());
                    let p = self.field_presence(side, gty, &sub, &f.ty, f.optional, owner, present);
                    let v = self.entity_field(side, gty, &sub, &f.ty, owner, &p);
                    out.push(RecField { name: f.name.clone(), present: p, v, ty: f.ty.clone() });
                }
                return V::Rec(out);
            }
            _ => {
                self.leaf(side, ty, &key, Some(owner), &and([present.to_string(), format!("(= (ety {owner}) {gty})")]))
            }
        };
        if self.attr_set.insert((key.clone(), owner.to_string())) {
            let value = match &v {
                V::S(t) => AppValue::Scalar(t.clone()),
                V::Cidr(a, b) => AppValue::Cidr(a.clone(), b.clone()),
                V::Set(SetRep::Var(k)) => AppValue::Set(*k),
                _ => AppValue::Scalar(String::new()),
            };
            self.attrs.push(AttrApp {
                ty: gty,
                path: path.to_vec(),
                sig,
                owner: owner.to_string(),
                value,
                present: present.to_string(),
            });
        }
        v
    }

    /// Whether attribute path `path` of `owner` is present: required fields
    /// (in any program) are present on every listed entity.
    #[allow(clippy::too_many_arguments)]
    fn field_presence(
        &mut self,
        side: usize,
        gty: u32,
        path: &[String],
        ty: &Ty,
        optional: bool,
        owner: &str,
        parent: &str,
    ) -> String {
        let program = self.sides.get(side).map(|s| s.program);
        let sig = program.map_or(String::new(), |p| self.vocab.sig(p, ty));
        let tname = self.vocab.type_name(gty).to_string();
        let required_somewhere = !optional || required_anywhere(self.vocab, self.sides, &tname, path, &sig);
        if required_somewhere {
            return parent.to_string();
        }
        let key = format!("h:{tname}.{}#{sig}", path.join("."));
        let h = sym(&key);
        self.declare_fun(&h, "Int", "Bool");
        if self.presence_set.insert((key.clone(), Some(owner.to_string()))) {
            self.presences.push((key, Some(owner.to_string()), format!("({h} {owner})")));
        }
        and([parent.to_string(), format!("({h} {owner})")])
    }

    // ───────────────────────── one side ─────────────────────────

    // Long on purpose: it follows the runtime's decision procedure stage by
    // stage (validity, links, per-link effects, lifecycle, limit keys, masks,
    // obligations) so the two read side by side, and each stage names the
    // SMT terms of the ones before it.
    fn side(&mut self, i: usize, action: &str) -> SideTerms {
        let Some(side) = self.sides.get(i) else {
            return SideTerms {
                label: String::new(),
                valid: "false".into(),
                effect: "0".into(),
                rules_effect: "0".into(),
                rules: Vec::new(),
                masks: Vec::new(),
                obligations: Vec::new(),
                limits: Vec::new(),
                links: Vec::new(),
                evaluated: "false".into(),
            };
        };
        let program = side.program;
        let label = side.label.clone();
        let view = side.view.clone();
        let without = side.without.clone();
        let local_action = program.actions.iter().position(|a| a.name == action && !a.is_group);
        let Some(la) = local_action else {
            let name = self.fresh("valid");
            self.line(&format!("(define-fun {name} () Bool false)"));
            return SideTerms {
                label,
                valid: name,
                effect: "0".into(),
                rules_effect: "0".into(),
                rules: Vec::new(),
                masks: Vec::new(),
                obligations: Vec::new(),
                limits: Vec::new(),
                links: Vec::new(),
                evaluated: "false".into(),
            };
        };
        let la = la as u32;
        let info = program.actions.get(la as usize).cloned();
        let context = self.context_value(i);
        // Validity: types the action accepts, required context, enum values.
        let types_ok = |list: &Option<Vec<u32>>, t: &str| -> String {
            match list {
                Some(l) => smt::one_of(
                    &format!("(ety {t})"),
                    l.iter().filter_map(|x| view.types.get(*x as usize)).map(|g| int(i128::from(*g))),
                ),
                None => smt::one_of(&format!("(ety {t})"), view.types.iter().map(|g| int(i128::from(*g)))),
            }
        };
        let mut valid = Vec::new();
        if let Some(info) = &info {
            valid.push(types_ok(&info.principals, "p"));
            valid.push(types_ok(&info.resources, "r"));
            for (d, o) in self.request.delegators.clone() {
                valid.push(implies(&d, &types_ok(&info.principals, &o)));
            }
            let fields = info.context.clone();
            valid.push(self.context_valid(i, &context, &fields));
        }
        let valid_name = self.fresh("valid");
        let valid_term = and(valid);
        self.line(&format!("(define-fun {valid_name} () Bool {valid_term})"));

        // Links: the caller, then each delegating principal distinct from it and earlier ones.
        let mut links: Vec<(String, String)> = vec![("true".into(), "p".into())];
        for (k, (d, o)) in self.request.delegators.clone().iter().enumerate() {
            let mut distinct = vec![d.clone(), format!("(not (= {o} p))")];
            for (dd, oo) in self.request.delegators.iter().take(k) {
                distinct.push(format!("(not (and {dd} (= {o} {oo})))"));
            }
            let active = self.def("Bool", and(distinct));
            links.push((active, o.clone()));
        }
        let rules = rules_of_action(program, la);
        let mut rule_terms = Vec::new();
        for r in &rules {
            if without.contains(r) {
                continue;
            }
            let Some(rule) = program.rules.get(*r as usize) else { continue };
            // A shadow rule never changes an effect, an obligation or a limit
            // (shadow masks do apply).
            if rule.shadow && !matches!(rule.kind, RuleKind::Mask { .. }) {
                continue;
            }
            let mut per_link = Vec::new();
            for (_, link) in &links {
                let in_bucket = self.in_bucket(i, la, *r, link);
                let (fired, error) = self.rule_outcome(i, rule, link, &context);
                per_link.push(LinkFlags { in_bucket, fired, error });
            }
            rule_terms.push(RuleTerms { rule: *r, links: per_link });
        }
        // Per-link effects.
        let rule_of = |r: u32| program.rules.get(r as usize);
        let approval = |rule: &ir::Rule| rule.obligations.iter().any(|o| o.name == "require_approval");
        let mut link_effects = Vec::new();
        let mut link_terms = Vec::new();
        let mut link_lists: Vec<LinkLists> = Vec::new();
        for (li, (active, _)) in links.iter().enumerate() {
            let is_actor = li == 0;
            let (mut hf, mut af, mut pm, mut apm) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut own_permits = Vec::new();
            for rt in &rule_terms {
                let Some(rule) = rule_of(rt.rule) else { continue };
                let RuleKind::Rule { effect } = &rule.kind else { continue };
                if rule.shadow {
                    continue;
                }
                let Some(f) = rt.links.get(li) else { continue };
                match effect {
                    Effect::Forbid => {
                        let applies = and([f.in_bucket.clone(), or([f.fired.clone(), f.error.clone()])]);
                        if approval(rule) { af.push(applies) } else { hf.push(applies) }
                    }
                    Effect::Permit => {
                        if rule.actor_only && !is_actor {
                            continue;
                        }
                        let applies = and([f.in_bucket.clone(), f.fired.clone()]);
                        own_permits.push(applies.clone());
                        if approval(rule) { apm.push(applies) } else { pm.push(applies) }
                    }
                }
            }
            // `@delegation("actor")` permits the caller holds vouch for a link without permits of its own.
            let mut grants_hard = Vec::new();
            let mut grants_appr = Vec::new();
            if !is_actor {
                for rt in &rule_terms {
                    let Some(rule) = rule_of(rt.rule) else { continue };
                    if !matches!(rule.kind, RuleKind::Rule { effect: Effect::Permit })
                        || !rule.actor_only
                        || rule.shadow
                    {
                        continue;
                    }
                    let Some(f) = rt.links.first() else { continue };
                    let applies = and([f.in_bucket.clone(), f.fired.clone()]);
                    if approval(rule) { grants_appr.push(applies) } else { grants_hard.push(applies) }
                }
            }
            let own = self.def("Bool", or(own_permits.clone()));
            let pm_t = self
                .def("Bool", or(pm.clone().into_iter().chain(grants_hard.iter().map(|g| and([not(&own), g.clone()])))));
            let apm_t = self.def(
                "Bool",
                or(apm.clone().into_iter().chain(grants_appr.iter().map(|g| and([not(&own), g.clone()])))),
            );
            let hf_t = self.def("Bool", or(hf));
            let af_t = self.def("Bool", or(af));
            let eff = format!(
                "(ite {hf_t} 0 (ite (and (not {pm_t}) (not {apm_t})) 0 (ite {af_t} 1 (ite (not {pm_t}) 1 2))))"
            );
            let eff = self.def("Int", eff);
            link_effects.push((active.clone(), eff.clone()));
            link_terms.push(LinkTerms {
                active: active.clone(),
                hard_forbid: hf_t.clone(),
                permit: pm_t.clone(),
                effect: eff.clone(),
            });
            link_lists.push(LinkLists { eff, af: af_t, own });
        }
        // Lifecycle of declared agents in the chain.
        let mut lifecycle_fail = Vec::new();
        for agent in &program.agents {
            let Some(g) = view.literals.get(agent.entity as usize) else { continue };
            let v = int(Vocab::literal_value(*g));
            let mut bad = Vec::new();
            if let Some(exp) = agent.expires {
                bad.push(format!("(>= now {})", int(i128::from(exp) * DAY_MS)));
            }
            for (period, last) in [agent.rotation, agent.review].into_iter().flatten() {
                if let Some(since) = last.or(agent.created) {
                    let due = i128::from(since) * DAY_MS + i128::from(period);
                    bad.push(format!("(> now {})", int(due)));
                }
            }
            if bad.is_empty() {
                continue;
            }
            let in_chain = or(links.iter().map(|(active, l)| and([active.clone(), format!("(= {l} {v})")])));
            lifecycle_fail.push(and([in_chain, or(bad)]));
        }
        let lifecycle = self.def("Bool", or(lifecycle_fail));
        let evaluated = self.def("Bool", and([valid_name.clone(), not(&lifecycle)]));
        let min = link_effects
            .iter()
            .fold(String::from("2"), |acc, (active, e)| format!("(ite (and {active} (< {e} {acc})) {e} {acc})"));
        let rules_effect = self.def("Int", format!("(ite (not {valid_name}) 0 (ite {lifecycle} 0 {min}))"));
        // Limit keys that cannot be computed deny (unless `fail open`).
        let mut limit_terms = Vec::new();
        let mut key_denials = Vec::new();
        for rt in &rule_terms {
            let Some(rule) = rule_of(rt.rule) else { continue };
            let RuleKind::Limit { keys, fail_open, measure, count, .. } = &rule.kind else { continue };
            let Some(f) = rt.links.first() else { continue };
            let applies = and([f.in_bucket.clone(), f.fired.clone()]);
            if rule.shadow {
                continue;
            }
            limit_terms.push((rt.rule, self.def("Bool", applies.clone())));
            // A sum's amount or a distinct value that cannot be computed, or
            // a negative amount, denies whatever `fail open` says; so does an
            // amount above the whole budget, even on a first request. (What
            // the limit's state refuses is not modelled, as for rate limits:
            // a first request finds the budget whole.)
            let measured = match measure {
                LimitMeasure::Requests => None,
                LimitMeasure::Sum { expr, .. } | LimitMeasure::Distinct { expr } => Some(*expr),
            };
            if let Some(expr) = measured {
                let nodes = self.eval_arena(i, &rule.exprs, "p", Some(rule.id.clone()), &context);
                if let Some(n) = nodes.get(expr as usize) {
                    let mut bad = vec![n.err.clone()];
                    if let (LimitMeasure::Sum { .. }, V::S(v)) = (measure, &n.v) {
                        bad.push(format!("(or (< {v} 0) (> {v} {count}))"));
                    }
                    let bad = self.def("Bool", or(bad));
                    key_denials.push(and([applies.clone(), bad]));
                }
            }
            if *fail_open {
                continue;
            }
            let key_err = self.keys_error(i, rule, keys, &context);
            if key_err != "false" {
                key_denials.push(and([applies, key_err]));
            }
        }
        let key_deny = self.def("Bool", or(key_denials));
        let effect = self.def("Int", format!("(ite (and (> {rules_effect} 0) {key_deny}) 0 {rules_effect})"));
        // Masks (from every link) on an allow or approval_required.
        let mut masks = Vec::new();
        for rt in &rule_terms {
            let Some(rule) = rule_of(rt.rule) else { continue };
            if !matches!(rule.kind, RuleKind::Mask { .. }) {
                continue;
            }
            let fired = or(links
                .iter()
                .zip(&rt.links)
                .map(|((active, _), f)| and([active.clone(), f.in_bucket.clone(), f.fired.clone()])));
            let whole = or(links
                .iter()
                .zip(&rt.links)
                .map(|((active, _), f)| and([active.clone(), f.in_bucket.clone(), f.error.clone()])));
            let fired = self.def("Bool", and([format!("(> {effect} 0)"), fired]));
            let whole = self.def("Bool", and([format!("(> {effect} 0)"), whole]));
            masks.push(MaskTerms { rule: rt.rule, fired, whole });
        }
        // Obligations of the rules that decided, on allow and on approval_required.
        let mut sigs: Vec<String> = Vec::new();
        for rt in &rule_terms {
            if let Some(rule) = rule_of(rt.rule)
                && matches!(rule.kind, RuleKind::Rule { .. })
                && !rule.shadow
            {
                for o in rule.obligations.iter().chain(&rule.advice) {
                    let s = obligation_sig(o);
                    if !sigs.contains(&s) {
                        sigs.push(s);
                    }
                }
            }
        }
        let mut obligations = Vec::new();
        for s in sigs {
            let (mut on_allow, mut on_approval) = (Vec::new(), Vec::new());
            for rt in &rule_terms {
                let Some(rule) = rule_of(rt.rule) else { continue };
                let RuleKind::Rule { effect: e } = &rule.kind else { continue };
                if rule.shadow || !rule.obligations.iter().chain(&rule.advice).any(|o| obligation_sig(o) == s) {
                    continue;
                }
                let needs = approval(rule);
                for (li, ((active, _), f)) in links.iter().zip(&rt.links).enumerate() {
                    let Some(ll) = link_lists.get(li) else { continue };
                    let is_actor = li == 0;
                    match e {
                        Effect::Permit => {
                            let own_fires = if rule.actor_only && !is_actor {
                                "false".to_string()
                            } else {
                                and([f.in_bucket.clone(), f.fired.clone()])
                            };
                            // Granted by the caller's delegated permit.
                            let granted = if rule.actor_only && !is_actor {
                                match rt.links.first() {
                                    Some(a) => and([not(&ll.own), a.in_bucket.clone(), a.fired.clone()]),
                                    None => "false".into(),
                                }
                            } else {
                                "false".into()
                            };
                            let in_list = or([own_fires, granted]);
                            if !needs {
                                on_allow.push(and([active.clone(), in_list.clone()]));
                                on_approval.push(and([
                                    active.clone(),
                                    format!("(= {} 1)", ll.eff),
                                    ll.af.clone(),
                                    in_list,
                                ]));
                            } else {
                                on_approval.push(and([active.clone(), format!("(= {} 1)", ll.eff), in_list]));
                            }
                        }
                        Effect::Forbid if needs => {
                            let applies = and([f.in_bucket.clone(), or([f.fired.clone(), f.error.clone()])]);
                            on_approval.push(and([active.clone(), format!("(= {} 1)", ll.eff), applies]));
                        }
                        Effect::Forbid => {}
                    }
                }
            }
            let allow = self.def("Bool", and([format!("(= {effect} 2)"), or(on_allow)]));
            let appr = self.def("Bool", and([format!("(= {effect} 1)"), or(on_approval)]));
            obligations.push((s, allow, appr));
        }
        SideTerms {
            label,
            valid: valid_name,
            effect,
            rules_effect,
            rules: rule_terms,
            masks,
            obligations,
            limits: limit_terms,
            links: link_terms,
            evaluated,
        }
    }

    /// Whether assert `a` (of side 0) selects the request.
    fn assertion(&mut self, a: &ward_compiler::lower::Assertion, action: &str) -> Option<String> {
        let side = self.sides.first()?;
        let view = side.view.clone();
        let local = side.program.actions.iter().position(|x| x.name == action)? as u32;
        if !a.actions.contains(&local) {
            return None;
        }
        let types = |list: &[u32], t: &str| {
            smt::one_of(
                &format!("(ety {t})"),
                list.iter().filter_map(|x| view.types.get(*x as usize)).map(|g| int(i128::from(*g))),
            )
        };
        let scope = and([types(&a.principals, "p"), types(&a.resources, "r")]);
        let context = self.context_value(0);
        let (fired, error) = self.rule_outcome(0, &a.rule, "p", &context);
        Some(self.def("Bool", and([scope, or([fired, error])])))
    }

    /// Required context fields are present and enum values are this side's.
    fn context_valid(&mut self, side: usize, value: &V, fields: &[ir::Field]) -> String {
        let V::Rec(present) = value else { return "true".into() };
        let view = self.sides.get(side).map(|s| s.view.clone());
        let mut parts = Vec::new();
        for (f, rf) in fields.iter().zip(present) {
            if !f.optional {
                parts.push(rf.present.clone());
            }
            match (&f.ty, &rf.v) {
                (Ty::Record(sub), v) => {
                    let inner = self.context_valid(side, v, sub);
                    parts.push(implies(&rf.present, &inner));
                }
                (Ty::Enum(e), V::S(t)) => {
                    let allowed: Vec<String> = view
                        .as_ref()
                        .and_then(|v| v.enum_values.get(*e as usize))
                        .map(|vals| vals.iter().map(|x| int(i128::from(*x))).collect())
                        .unwrap_or_default();
                    parts.push(implies(&rf.present, &smt::one_of(t, allowed)));
                }
                _ => {}
            }
        }
        and(parts)
    }

    /// `rule` is in the bucket of (action, link type, resource type).
    fn in_bucket(&mut self, side: usize, action: u32, rule: u32, link: &str) -> String {
        let Some(s) = self.sides.get(side) else { return "false".into() };
        let mut cases = Vec::new();
        for b in s.program.buckets.iter().filter(|b| b.action == action) {
            let listed = b.rules.contains(&rule)
                || b.by_principal.iter().chain(&b.by_resource).any(|(_, rs)| rs.contains(&rule));
            if listed
                && let (Some(pt), Some(rt)) =
                    (s.view.types.get(b.principal as usize), s.view.types.get(b.resource as usize))
            {
                cases.push(format!("(and (= (ety {link}) {pt}) (= (ety r) {rt}))"));
            }
        }
        let t = or(cases);
        self.def("Bool", t)
    }

    /// `(fired, error)` of `rule` for `link`: all conditions hold; or one
    /// could not be evaluated after the earlier ones held.
    fn rule_outcome(&mut self, side: usize, rule: &ir::Rule, link: &str, context: &V) -> (String, String) {
        let nodes = self.eval_arena(side, &rule.exprs, link, Some(rule.id.clone()), context);
        let mut pre = "true".to_string();
        let mut errors = Vec::new();
        for c in &rule.conditions {
            let Some(n) = nodes.get(c.expr as usize) else { continue };
            let (v, e) = (scalar(&n.v), n.err.clone());
            errors.push(and([pre.clone(), e.clone()]));
            let holds = and([not(&e), if c.when { v } else { not(&v) }]);
            pre = self.def("Bool", and([pre, holds]));
        }
        let error = self.def("Bool", or(errors));
        (pre, error)
    }

    /// Whether some key of a limit cannot be computed (for the caller).
    fn keys_error(&mut self, side: usize, rule: &ir::Rule, keys: &[u32], context: &V) -> String {
        let nodes = self.eval_arena(side, &rule.exprs, "p", Some(rule.id.clone()), context);
        let errs: Vec<String> = keys.iter().filter_map(|k| nodes.get(*k as usize)).map(|n| n.err.clone()).collect();
        self.def("Bool", or(errs))
    }

    // ───────────────────────── expressions ─────────────────────────

    fn eval_arena(
        &mut self,
        side: usize,
        exprs: &[Expr],
        principal: &str,
        rule: Option<String>,
        context: &V,
    ) -> Vec<Node> {
        let mut cx = Cx {
            side,
            exprs,
            principal: principal.to_string(),
            rule,
            nodes: Vec::with_capacity(exprs.len()),
            locals: Vec::new(),
        };
        for (i, e) in exprs.iter().enumerate() {
            let node = self.eval(&mut cx, i as u32, e, context);
            cx.nodes.push(node);
        }
        cx.nodes
    }

    /// `set.any(x, body)` / `set.all(x, body)` over a set whose elements
    /// are listed (the delegation chain, a set literal): the body is
    /// re-encoded for each element, in order, as the interpreter runs it:
    /// the first element that decides ends it, and an error before that is
    /// the quantifier's error. Other sets are not followed (approximated).
    fn quantifier(&mut self, cx: &mut Cx<'_>, q: QuantifierNode<'_>, context: &V) -> Node {
        let set = Self::child(cx, q.set);
        let V::Set(SetRep::Lit(items, _)) = &set.v else {
            return Node {
                v: self.opaque(cx.side, &cx.rule.clone(), q.ty, "a quantifier over a set of the data"),
                err: set.err,
            };
        };
        let exprs = cx.exprs;
        let mut subtree = vec![q.body];
        let mut i = 0;
        while let Some(&id) = subtree.get(i) {
            if let Some(e) = exprs.get(id as usize) {
                subtree.extend(ward_compiler::ir::validate::children(&e.kind));
            }
            i += 1;
        }
        subtree.sort_unstable();
        subtree.dedup();
        let saved: Vec<(u32, Node)> =
            subtree.iter().filter_map(|id| Some((*id, Self::node(cx, *id)?.clone()))).collect();
        let mut pre = "true".to_string();
        let (mut decided, mut errors) = (Vec::new(), vec![set.err.clone()]);
        for (guard, term) in items.clone() {
            cx.locals.push((q.var, term));
            for id in &subtree {
                if let Some(e) = exprs.get(*id as usize) {
                    let n = self.eval(cx, *id, e, context);
                    if let Some(slot) = cx.nodes.get_mut(*id as usize) {
                        *slot = n;
                    }
                }
            }
            cx.locals.pop();
            let body = Self::child(cx, q.body);
            let (v, err) = (scalar(&body.v), body.err);
            let here = and([pre.clone(), guard.clone()]);
            errors.push(and([here.clone(), err.clone()]));
            let decides = if q.all { not(&v) } else { v };
            decided.push(and([here, not(&err), decides.clone()]));
            pre = self.def("Bool", and([pre, or([not(&guard), and([not(&err), not(&decides)])])]));
        }
        for (id, n) in saved {
            if let Some(slot) = cx.nodes.get_mut(id as usize) {
                *slot = n;
            }
        }
        let some = or(decided);
        let v = if q.all { not(&some) } else { some };
        Node { v: V::S(self.def("Bool", v)), err: self.def("Bool", or(errors)) }
    }

    fn node<'c>(cx: &'c Cx<'_>, id: u32) -> Option<&'c Node> {
        cx.nodes.get(id as usize)
    }

    fn ty_of<'c>(cx: &'c Cx<'_>, id: u32) -> &'c Ty {
        static UNKNOWN: Ty = Ty::Unknown;
        cx.exprs.get(id as usize).map_or(&UNKNOWN, |e| &e.ty)
    }

    fn kind_of<'c>(cx: &'c Cx<'_>, id: u32) -> Option<&'c ExprKind> {
        cx.exprs.get(id as usize).map(|e| &e.kind)
    }

    fn child(cx: &Cx<'_>, id: u32) -> Node {
        Self::node(cx, id).cloned().unwrap_or(Node { v: V::S("false".into()), err: "true".into() })
    }

    // One arm per IR expression kind, as the interpreter's `expr`: kept in one
    // match so a kind added to the IR fails to compile here until encoded.
    fn eval(&mut self, cx: &mut Cx<'_>, _id: u32, e: &Expr, context: &V) -> Node {
        let side = cx.side;
        let view = self.sides.get(side).map(|s| s.view.clone());
        let Some(view) = view else { return Node { v: V::S("false".into()), err: "true".into() } };
        let ok = |v: V| Node { v, err: "false".into() };
        match &e.kind {
            ExprKind::Const(c) => ok(self.constant(cx, c, &view)),
            ExprKind::Var(var) => match var {
                Var::Principal => ok(V::S(cx.principal.clone())),
                Var::Resource => ok(V::S("r".into())),
                Var::Context => ok(context.clone()),
                Var::Action => ok(V::S(int(i128::from(self.gaction.unwrap_or(0))))),
                Var::Now => ok(V::S("now".into())),
                Var::Actor => ok(V::S("p".into())),
                Var::Chain => {
                    let mut items: Vec<(String, String)> =
                        self.request.delegators.iter().map(|(d, o)| (d.clone(), o.clone())).collect();
                    items.push(("true".into(), "p".into()));
                    ok(V::Set(SetRep::Lit(items, Class::Entity)))
                }
                // Only inside flow conditions, which are not encoded.
                _ => {
                    Node { v: self.opaque(side, &cx.rule, &e.ty, "a flow condition's `current`"), err: "false".into() }
                }
            },
            ExprKind::Is { base, ty } => {
                let b = Self::child(cx, *base);
                match (&b.v, view.types.get(*ty as usize)) {
                    (V::S(t), Some(g)) => Node { v: V::S(format!("(= (ety {t}) {g})")), err: b.err },
                    _ => Node { v: self.opaque(side, &cx.rule, &e.ty, "a type test"), err: b.err },
                }
            }
            ExprKind::Local(var) => match cx.locals.iter().rev().find(|(v, _)| v == var) {
                Some((_, t)) => ok(V::S(t.clone())),
                // The arena's first pass, outside any binding: the
                // quantifier re-encodes its body for each element.
                None => ok(self.fresh_value(&e.ty)),
            },
            ExprKind::Quantifier { all, set, var, body } => {
                self.quantifier(cx, QuantifierNode { all: *all, set: *set, var: *var, body: *body, ty: &e.ty }, context)
            }
            ExprKind::Attr { base, name } => {
                let b = Self::child(cx, *base);
                let name = self.string(side, *name);
                let bty = Self::ty_of(cx, *base).clone();
                let (present, v) = self.member(cx, &b.v, &bty, &name);
                let err = self.def("Bool", or([b.err.clone(), and([not(&b.err), not(&present)])]));
                Node { v, err }
            }
            ExprKind::Has { base, name } => {
                let b = Self::child(cx, *base);
                let name = self.string(side, *name);
                let bty = Self::ty_of(cx, *base).clone();
                let (present, _) = self.member(cx, &b.v, &bty, &name);
                let present = self.def("Bool", present);
                Node { v: V::S(present), err: b.err }
            }
            ExprKind::Not(x) => {
                let n = Self::child(cx, *x);
                Node { v: V::S(not(&scalar(&n.v))), err: n.err }
            }
            ExprKind::And(a, b) => {
                let (x, y) = (Self::child(cx, *a), Self::child(cx, *b));
                let (vx, vy) = (scalar(&x.v), scalar(&y.v));
                let err = self.def("Bool", or([x.err.clone(), and([not(&x.err), vx.clone(), y.err.clone()])]));
                let v = self.def("Bool", and([vx, vy]));
                Node { v: V::S(v), err }
            }
            ExprKind::Or(a, b) => {
                let (x, y) = (Self::child(cx, *a), Self::child(cx, *b));
                let (vx, vy) = (scalar(&x.v), scalar(&y.v));
                let err = self.def("Bool", or([x.err.clone(), and([not(&x.err), not(&vx), y.err.clone()])]));
                let v = self.def("Bool", or([vx, vy]));
                Node { v: V::S(v), err }
            }
            ExprKind::Cmp { op, lhs, rhs } => {
                let (x, y) = (Self::child(cx, *lhs), Self::child(cx, *rhs));
                let err = self.def("Bool", or([x.err.clone(), y.err.clone()]));
                let lit = |id: u32| matches!(Self::kind_of(cx, id), Some(ExprKind::Record(_)));
                let (lx, ly) = (lit(*lhs), lit(*rhs));
                let ty = Self::ty_of(cx, *lhs).clone();
                let v = match op {
                    CmpOp::Eq | CmpOp::Ne => {
                        let same = if lx || ly {
                            self.record_literal_equal(cx, &x.v, &y.v)
                        } else {
                            self.equal(cx, &ty, &x.v, &y.v)
                        };
                        if *op == CmpOp::Eq { same } else { not(&same) }
                    }
                    _ => {
                        let (mut a, mut b) = (scalar(&x.v), scalar(&y.v));
                        if let Ty::Enum(en) = &ty {
                            a = self.ordinal(side, *en, &a);
                            b = self.ordinal(side, *en, &b);
                        }
                        let o = match op {
                            CmpOp::Lt => "<",
                            CmpOp::Le => "<=",
                            CmpOp::Gt => ">",
                            _ => ">=",
                        };
                        format!("({o} {a} {b})")
                    }
                };
                let v = self.def("Bool", v);
                Node { v: V::S(v), err }
            }
            ExprKind::In { lhs, rhs } => {
                let (x, y) = (Self::child(cx, *lhs), Self::child(cx, *rhs));
                let err = self.def("Bool", or([x.err.clone(), y.err.clone()]));
                let (lt, rt) = (Self::ty_of(cx, *lhs).clone(), Self::ty_of(cx, *rhs).clone());
                let v = match (&lt, &rt) {
                    (Ty::Entity(_), Ty::Entity(_)) => {
                        let (a, b) = (scalar(&x.v), scalar(&y.v));
                        self.in_entity(&a, &b)
                    }
                    (Ty::Entity(_), Ty::Set(_)) => {
                        let a = scalar(&x.v);
                        self.entity_in_set(cx, &a, &y.v, &rt)
                    }
                    (Ty::Ip, Ty::Cidr) => {
                        let a = scalar(&x.v);
                        match (&y.v, Self::kind_of(cx, *rhs)) {
                            (_, Some(ExprKind::Const(Const::Cidr(c)))) => ip_in_cidr_const(&a, c),
                            _ => scalar(&self.opaque(
                                side,
                                &cx.rule.clone(),
                                &Ty::Bool,
                                "`ip in` a CIDR range that is not a literal",
                            )),
                        }
                    }
                    (Ty::Action, Ty::Action) => {
                        let (a, g) = (scalar(&x.v), scalar(&y.v));
                        self.action_in(side, &a, &g)
                    }
                    (Ty::Action, Ty::Set(_)) => {
                        let a = scalar(&x.v);
                        match &y.v {
                            V::Set(SetRep::Lit(items, _)) => {
                                let items = items.clone();
                                or(items.iter().map(|(g, t)| and([g.clone(), self.action_in(side, &a, t)])))
                            }
                            _ => scalar(&self.opaque(
                                side,
                                &cx.rule.clone(),
                                &Ty::Bool,
                                "`action in` a set that is not a literal",
                            )),
                        }
                    }
                    _ => "false".into(),
                };
                let v = self.def("Bool", v);
                Node { v: V::S(v), err }
            }
            ExprKind::Add(a, b) | ExprKind::Sub(a, b) => {
                let (x, y) = (Self::child(cx, *a), Self::child(cx, *b));
                let o = if matches!(e.kind, ExprKind::Add(..)) { "+" } else { "-" };
                let v = self.def("Int", format!("({o} {} {})", scalar(&x.v), scalar(&y.v)));
                let overflow = format!("(not {})", smt::between(&v, I64_MIN, I64_MAX));
                let err = self.def("Bool", or([x.err.clone(), y.err.clone(), overflow]));
                Node { v: V::S(v), err }
            }
            ExprKind::Neg(a) => {
                let x = Self::child(cx, *a);
                let v = self.def("Int", format!("(- {})", scalar(&x.v)));
                let overflow = format!("(not {})", smt::between(&v, I64_MIN, I64_MAX));
                let err = self.def("Bool", or([x.err.clone(), overflow]));
                Node { v: V::S(v), err }
            }
            ExprKind::Method { method, recv, args } => self.method(cx, *method, *recv, args, &e.ty),
            ExprKind::Matches { lhs, pattern } => {
                let x = Self::child(cx, *lhs);
                let s = scalar(&x.v);
                let pat = self.sides.get(side).and_then(|sd| sd.program.patterns.get(*pattern as usize)).cloned();
                let v = match pat {
                    Some(Pattern::Glob(g)) => match glob_regex(&g) {
                        Some(re) => format!("(str.in_re {s} {re})"),
                        None => scalar(&self.opaque(
                            side,
                            &cx.rule.clone(),
                            &Ty::Bool,
                            format!("`like \"{g}\"` (characters beyond SMT strings)").as_str(),
                        )),
                    },
                    Some(Pattern::Regex(r)) => match crate::regex::translate(&r) {
                        Ok(re) => format!("(str.in_re {s} {re})"),
                        Err(why) => scalar(&self.opaque(
                            side,
                            &cx.rule.clone(),
                            &Ty::Bool,
                            format!("`matches \"{r}\"` ({why})").as_str(),
                        )),
                    },
                    Some(Pattern::Detector(d)) => {
                        let name = self
                            .sides
                            .get(side)
                            .and_then(|sd| sd.program.detectors.get(d as usize))
                            .map_or("?".to_string(), |x| x.name.clone());
                        scalar(&self.opaque(
                            side,
                            &cx.rule.clone(),
                            &Ty::Bool,
                            format!("`matches {name}` (a detector)").as_str(),
                        ))
                    }
                    None => "false".into(),
                };
                let v = self.def("Bool", v);
                Node { v: V::S(v), err: x.err }
            }
            ExprKind::Set(items) => {
                let mut errs = Vec::new();
                let mut out = Vec::new();
                let elem_ty = match &e.ty {
                    Ty::Set(t) => (**t).clone(),
                    _ => Ty::Unknown,
                };
                let class = class_of(&view, &elem_ty);
                for i in items {
                    let n = Self::child(cx, *i);
                    errs.push(n.err.clone());
                    match n.v {
                        V::S(t) => {
                            if class == Class::Entity {
                                let types = match self.domain(side, Self::ty_of(cx, *i)) {
                                    Domain::Entity(t) => t,
                                    _ => Vec::new(),
                                };
                                self.register_entity(&t, types);
                            } else {
                                self.register(class, &t);
                            }
                            out.push(("true".to_string(), t));
                        }
                        _ => {
                            let err = self.def("Bool", or(errs));
                            return Node {
                                v: self.opaque(side, &cx.rule.clone(), &e.ty, "a set of compound values"),
                                err,
                            };
                        }
                    }
                }
                let err = self.def("Bool", or(errs));
                Node { v: V::Set(SetRep::Lit(out, class)), err }
            }
            ExprKind::Record(entries) => {
                let mut errs = Vec::new();
                let mut out = Vec::new();
                for (name, id) in entries {
                    let n = Self::child(cx, *id);
                    errs.push(n.err.clone());
                    out.push(RecField {
                        name: self.string(side, *name),
                        present: "true".into(),
                        v: n.v,
                        ty: Self::ty_of(cx, *id).clone(),
                    });
                }
                let err = self.def("Bool", or(errs));
                Node { v: V::Rec(out), err }
            }
            ExprKind::Flow(k) => {
                let flow = self.sides.get(side).and_then(|s| s.program.flows.get(*k as usize).map(|f| (s.program, f)));
                let kind = flow.map(|(_, f)| f.kind);
                let from_results = flow.is_some_and(|(_, f)| f.response.is_some());
                let key = flow.map_or(format!("flow#{side}#{k}"), |(p, f)| crate::canon::flow(p, f));
                let what = match (kind, from_results) {
                    (Some(FlowKind::Previously), false) => "`previously` (session history)",
                    (Some(FlowKind::Count), false) => "`count(…)` (session history)",
                    (_, false) => "`sum(…)` (session history)",
                    (Some(FlowKind::Previously), true) => "`previously` (session history, from results)",
                    (Some(FlowKind::Count), true) => "`count(…)` (session history, from results)",
                    (_, true) => "`sum(…)` (session history, from results)",
                };
                // A result flow is an evaluation error while an unreadable
                // result marks it unknown: never with an empty history (pinned),
                // possibly with any.
                let err = if from_results {
                    let err_key = format!("{key}#unknown");
                    match self.flows.get(&err_key) {
                        Some(v) => scalar(v),
                        None => {
                            let v = self.fresh_value(&Ty::Bool);
                            let term = scalar(&v);
                            self.pins.push(format!("(not {term})"));
                            self.flows.insert(err_key, v);
                            term
                        }
                    }
                } else {
                    "false".to_string()
                };
                let v = match self.flows.get(&key) {
                    Some(v) => v.clone(),
                    None => {
                        let v = self.fresh_value(&e.ty);
                        let term = scalar(&v);
                        let pin = match kind {
                            Some(FlowKind::Previously) => format!("(not {term})"),
                            _ => format!("(= {term} 0)"),
                        };
                        if matches!(e.ty, Ty::Int | Ty::Decimal | Ty::Duration) {
                            self.assert(&smt::between(&term, I64_MIN, I64_MAX));
                        }
                        if matches!(kind, Some(FlowKind::Count)) {
                            self.assert(&format!("(>= {term} 0)"));
                        }
                        self.pins.push(pin);
                        self.flows.insert(key, v.clone());
                        v
                    }
                };
                let a = Approx {
                    side: self.sides.get(side).map_or(String::new(), |s| s.label.clone()),
                    rule: cx.rule.clone(),
                    what: what.to_string(),
                    flow: true,
                    restricts: false,
                };
                if !self.approx.contains(&a) {
                    self.approx.push(a);
                }
                Node { v, err }
            }
        }
    }

    fn string(&self, side: usize, id: u32) -> String {
        self.sides.get(side).and_then(|s| s.program.strings.get(id as usize)).cloned().unwrap_or_default()
    }

    fn constant(&mut self, cx: &Cx<'_>, c: &Const, view: &View) -> V {
        match c {
            Const::Bool(b) => V::S(smt::bool_lit(*b)),
            Const::Int(i) => V::S(int(i128::from(*i))),
            Const::Str(s) => {
                let text = self.string(cx.side, *s);
                match smt::string_lit(&text) {
                    Some(t) => V::S(t),
                    None => self.opaque(
                        cx.side,
                        &cx.rule,
                        &Ty::String,
                        "a string literal with characters beyond SMT strings",
                    ),
                }
            }
            Const::Entity(k) => {
                let g = view.literals.get(*k as usize).copied().unwrap_or(u32::MAX);
                let t = int(Vocab::literal_value(g));
                let ty = self.vocab.literals.get(g as usize).map(|l| l.0);
                self.register_entity(&t, ty);
                V::S(t)
            }
            Const::Enum(e, v) => {
                let g = view.enum_values.get(*e as usize).and_then(|vals| vals.get(*v as usize)).copied().unwrap_or(0);
                V::S(int(i128::from(g)))
            }
            Const::Action(a) => V::S(int(i128::from(view.actions.get(*a as usize).copied().unwrap_or(u32::MAX)))),
            Const::Ip(s) => match ward_compiler::literals::ip(s) {
                Ok(ip) => V::S(ip_term(ip)),
                Err(_) => self.opaque(cx.side, &cx.rule, &Ty::Ip, "an invalid IP literal"),
            },
            Const::Cidr(s) => match ward_compiler::literals::cidr(s) {
                Ok((ip, len)) => V::Cidr(ip_term(ip), int(i128::from(len))),
                Err(_) => self.opaque(cx.side, &cx.rule, &Ty::Cidr, "an invalid CIDR literal"),
            },
        }
    }

    /// `base.name`: `(present, value)`.
    fn member(&mut self, cx: &Cx<'_>, base: &V, base_ty: &Ty, name: &str) -> (String, V) {
        match (base, base_ty) {
            (V::Set(SetRep::Opaque), _) => {
                let field_ty = match base_ty {
                    Ty::Record(fields) => {
                        fields.iter().find(|f| f.name == name).map(|f| f.ty.clone()).unwrap_or(Ty::Unknown)
                    }
                    _ => Ty::Unknown,
                };
                let present = self.fresh("x");
                self.declare_const(&present, "Bool");
                let v = self.opaque(cx.side, &cx.rule, &field_ty, "a field of a value the encoding does not follow");
                (present, v)
            }
            (V::Rec(fields), _) => match fields.iter().find(|f| f.name == name) {
                Some(f) => (f.present.clone(), f.v.clone()),
                None => ("false".into(), V::S("false".into())),
            },
            (V::S(owner), Ty::Entity(types)) => {
                let side = cx.side;
                let Some(s) = self.sides.get(side) else { return ("false".into(), V::S("false".into())) };
                let program = s.program;
                let view = s.view.clone();
                let mut cases: Vec<(u32, String, V)> = Vec::new();
                for t in types {
                    let Some(et) = program.entity_types.get(*t as usize) else { continue };
                    let Some(f) = et.attrs.iter().find(|f| f.name == name).cloned() else { continue };
                    let Some(g) = view.types.get(*t as usize).copied() else { continue };
                    let path = vec![name.to_string()];
                    let present =
                        self.field_presence(side, g, &path, &f.ty, f.optional, owner, &format!("(listed {owner})"));
                    let v = self.entity_field(side, g, &path, &f.ty, owner, &present);
                    cases.push((g, present, v));
                }
                match cases.len() {
                    0 => ("false".into(), V::S("false".into())),
                    1 => {
                        let (g, present, v) = cases.remove(0);
                        (and([format!("(= (ety {owner}) {g})"), present]), v)
                    }
                    _ => {
                        let present =
                            or(cases.iter().map(|(g, p, _)| and([format!("(= (ety {owner}) {g})"), p.clone()])));
                        let mut iter = cases.into_iter().rev();
                        let Some((_, _, last)) = iter.next() else { return ("false".into(), V::S("false".into())) };
                        let mut v = last;
                        for (g, _, case) in iter {
                            v = match self.merge(&format!("(= (ety {owner}) {g})"), &case, &v) {
                                Some(m) => m,
                                None => {
                                    return (
                                        present,
                                        self.opaque(
                                            side,
                                            &cx.rule,
                                            &Ty::Unknown,
                                            "an attribute of different shapes across entity types",
                                        ),
                                    );
                                }
                            };
                        }
                        (present, v)
                    }
                }
            }
            _ => ("false".into(), V::S("false".into())),
        }
    }

    /// `if c then a else b` for values of the same shape.
    fn merge(&mut self, c: &str, a: &V, b: &V) -> Option<V> {
        Some(match (a, b) {
            (V::S(x), V::S(y)) => V::S(ite(c, x, y)),
            (V::Cidr(x1, x2), V::Cidr(y1, y2)) => V::Cidr(ite(c, x1, y1), ite(c, x2, y2)),
            (V::Rec(xs), V::Rec(ys)) if xs.len() == ys.len() => {
                let mut out = Vec::new();
                for (x, y) in xs.iter().zip(ys) {
                    if x.name != y.name {
                        return None;
                    }
                    out.push(RecField {
                        name: x.name.clone(),
                        present: ite(c, &x.present, &y.present),
                        v: self.merge(c, &x.v, &y.v)?,
                        ty: x.ty.clone(),
                    });
                }
                V::Rec(out)
            }
            _ => return None,
        })
    }

    /// An ordered enum value's position in `side`'s declaration.
    fn ordinal(&mut self, side: usize, local_enum: u32, x: &str) -> String {
        let Some(s) = self.sides.get(side) else { return x.to_string() };
        let Some(vals) = s.view.enum_values.get(local_enum as usize) else { return x.to_string() };
        let mut t = int(vals.len() as i128);
        for (pos, g) in vals.iter().enumerate().rev() {
            t = ite(&format!("(= {x} {g})"), &int(pos as i128), &t);
        }
        t
    }

    fn action_in(&self, side: usize, a: &str, g: &str) -> String {
        let Some(s) = self.sides.get(side) else { return "false".into() };
        let mut cases = vec![eq(a, g)];
        for (i, action) in s.program.actions.iter().enumerate() {
            let Some(ga) = s.view.actions.get(i) else { continue };
            for group in &action.groups {
                if let Some(gg) = s.view.actions.get(*group as usize) {
                    cases.push(format!("(and (= {a} {ga}) (= {g} {gg}))"));
                }
            }
        }
        // Constants fold.
        if let (Ok(x), Ok(y)) = (a.parse::<i64>(), g.parse::<i64>()) {
            let holds = x == y
                || s.view.actions.iter().position(|v| i64::from(*v) == x).is_some_and(|i| {
                    s.program.actions.get(i).is_some_and(|act| {
                        act.groups
                            .iter()
                            .any(|grp| s.view.actions.get(*grp as usize).is_some_and(|v| i64::from(*v) == y))
                    })
                });
            return smt::bool_lit(holds);
        }
        or(cases)
    }

    /// Equality of two values of type `ty`.
    fn equal(&mut self, cx: &Cx<'_>, ty: &Ty, a: &V, b: &V) -> String {
        match (a, b) {
            (V::S(x), V::S(y)) => eq(x, y),
            (V::Cidr(x1, x2), V::Cidr(y1, y2)) => and([eq(x1, y1), eq(x2, y2)]),
            (V::Rec(xs), V::Rec(ys)) => {
                let Ty::Record(fields) = ty else { return "false".into() };
                let mut parts = Vec::new();
                for f in fields {
                    let (x, y) = (xs.iter().find(|r| r.name == f.name), ys.iter().find(|r| r.name == f.name));
                    match (x, y) {
                        (Some(x), Some(y)) => {
                            let same = self.equal(cx, &f.ty, &x.v, &y.v);
                            parts.push(and([eq(&x.present, &y.present), implies(&x.present, &same)]));
                        }
                        _ => return "false".into(),
                    }
                }
                and(parts)
            }
            (V::Set(x), V::Set(y)) => self.set_equal(cx, x, y),
            _ => scalar(&self.opaque(
                cx.side,
                &cx.rule,
                &Ty::Bool,
                "a comparison of values the encoding does not follow",
            )),
        }
    }

    /// `==` with a record literal on either side: fields compared by name
    /// (a literal has only its entries, a record all its declared fields).
    fn record_literal_equal(&mut self, cx: &Cx<'_>, a: &V, b: &V) -> String {
        let (V::Rec(xs), V::Rec(ys)) = (a, b) else { return "false".into() };
        if xs.len() != ys.len() {
            return "false".into();
        }
        let mut parts = Vec::new();
        for x in xs {
            let Some(y) = ys.iter().find(|y| y.name == x.name) else { return "false".into() };
            let ty = if matches!(x.ty, Ty::Unknown) { y.ty.clone() } else { x.ty.clone() };
            let same = self.equal(cx, &ty, &x.v, &y.v);
            parts.push(and([eq(&x.present, &y.present), implies(&x.present, &same)]));
        }
        and(parts)
    }

    fn set_equal(&mut self, cx: &Cx<'_>, a: &SetRep, b: &SetRep) -> String {
        match (a, b) {
            (SetRep::Lit(xs, _), SetRep::Lit(ys, _)) => {
                let sub = |p: &[(String, String)], q: &[(String, String)]| {
                    and(p.iter().map(|(g, x)| implies(g, &or(q.iter().map(|(h, y)| and([h.clone(), eq(x, y)]))))))
                };
                and([sub(xs, ys), sub(ys, xs)])
            }
            (SetRep::Var(k), SetRep::Lit(items, _)) | (SetRep::Lit(items, _), SetRep::Var(k)) => {
                let name = self.fresh("seteq");
                self.declare_const(&name, "Bool");
                let class = self.sets.get(*k).map(|s| s.class);
                for (_, t) in items {
                    if let Some(c) = class {
                        self.register(c, t);
                    }
                }
                self.deferred.push(Deferred::EqualsLit { name: name.clone(), set: *k, items: items.clone() });
                name
            }
            _ => scalar(&self.opaque(cx.side, &cx.rule, &Ty::Bool, "an equality of two sets from the data")),
        }
    }

    /// `e in S`: `e` is in (the hierarchy of) some element of `S`.
    fn entity_in_set(&mut self, cx: &Cx<'_>, e: &str, s: &V, set_ty: &Ty) -> String {
        match s {
            V::Set(SetRep::Lit(items, _)) => {
                let items = items.clone();
                or(items.iter().map(|(g, t)| {
                    let inn = self.in_entity(e, t);
                    and([g.clone(), inn])
                }))
            }
            V::Set(SetRep::Var(k)) => {
                let name = self.fresh("inset");
                let w = self.fresh("w");
                self.declare_const(&name, "Bool");
                self.declare_const(&w, "Int");
                let types = match set_ty {
                    Ty::Set(elem) => match self.domain(cx.side, elem) {
                        Domain::Entity(t) => t,
                        _ => Vec::new(),
                    },
                    _ => Vec::new(),
                };
                self.register_entity(&w, types);
                self.deferred.push(Deferred::EntityInSet { name: name.clone(), e: e.to_string(), set: *k, w });
                name
            }
            _ => scalar(&self.opaque(cx.side, &cx.rule, &Ty::Bool, "`in` a set the encoding does not follow")),
        }
    }

    /// Element `x` is in set `s` (by equality).
    fn contains(&mut self, cx: &Cx<'_>, s: &V, x: &str) -> String {
        match s {
            V::Set(SetRep::Lit(items, _)) => or(items.iter().map(|(g, t)| and([g.clone(), eq(t, x)]))),
            V::Set(SetRep::Var(k)) => {
                let Some(set) = self.sets.get(*k).cloned() else { return "false".into() };
                if set.class == Class::Entity {
                    self.register_entity(x, std::iter::empty());
                } else {
                    self.register(set.class, x);
                }
                set.mem(x)
            }
            _ => scalar(&self.opaque(cx.side, &cx.rule, &Ty::Bool, "membership in a set the encoding does not follow")),
        }
    }

    // One arm per IR method, as the interpreter's `method` (same reason as `eval`).
    fn method(&mut self, cx: &mut Cx<'_>, method: Method, recv: u32, args: &[u32], ty: &Ty) -> Node {
        let side = cx.side;
        let r = Self::child(cx, recv);
        let argn: Vec<Node> = args.iter().map(|a| Self::child(cx, *a)).collect();
        let err = self.def("Bool", or(std::iter::once(r.err.clone()).chain(argn.iter().map(|a| a.err.clone()))));
        let recv_ty = Self::ty_of(cx, recv).clone();
        let arg = |i: usize| argn.get(i).map(|n| n.v.clone()).unwrap_or(V::S("false".into()));
        let rule = cx.rule.clone();
        let v: String = match method {
            Method::Contains => match arg(0) {
                V::S(x) => self.contains(cx, &r.v, &x),
                _ => scalar(&self.opaque(side, &rule, &Ty::Bool, "`contains` of a compound value")),
            },
            Method::IsSubset => scalar(&self.opaque(side, &rule, &Ty::Bool, "`is_subset`")),
            Method::ContainsAll | Method::ContainsAny | Method::Intersects => {
                let other = arg(0);
                let all = method == Method::ContainsAll;
                match (&r.v, &other) {
                    (_, V::Set(SetRep::Lit(items, _))) => {
                        let items = items.clone();
                        let parts: Vec<String> = items
                            .iter()
                            .map(|(g, t)| {
                                let c = self.contains(cx, &r.v, t);
                                if all { implies(g, &c) } else { and([g.clone(), c]) }
                            })
                            .collect();
                        if all { and(parts) } else { or(parts) }
                    }
                    (V::Set(SetRep::Lit(items, _)), V::Set(SetRep::Var(k))) => {
                        let items = items.clone();
                        if all {
                            let name = self.fresh("subset");
                            self.declare_const(&name, "Bool");
                            let class = self.sets.get(*k).map(|s| s.class);
                            for (_, t) in &items {
                                if let Some(c) = class {
                                    self.register(c, t);
                                }
                            }
                            self.deferred.push(Deferred::SubsetOfLit { name: name.clone(), set: *k, items });
                            name
                        } else {
                            or(items.iter().map(|(g, t)| {
                                let c = self.contains(cx, &other, t);
                                and([g.clone(), c])
                            }))
                        }
                    }
                    (V::Set(SetRep::Var(a)), V::Set(SetRep::Var(b))) if !all => {
                        let name = self.fresh("meet");
                        let w = self.fresh("w");
                        let class = self.sets.get(*a).map_or(Class::Opaque, |s| s.class);
                        let sort = match class {
                            Class::Str => "String",
                            Class::Bool => "Bool",
                            _ => "Int",
                        };
                        self.declare_const(&name, "Bool");
                        self.declare_const(&w, sort);
                        if class == Class::Entity {
                            self.register_entity(&w, std::iter::empty());
                        } else {
                            self.register(class, &w);
                        }
                        self.deferred.push(Deferred::Intersect { name: name.clone(), a: *a, b: *b, w });
                        name
                    }
                    _ => scalar(&self.opaque(side, &rule, &Ty::Bool, "`contains_all` of two sets from the data")),
                }
            }
            Method::Size | Method::IsEmpty => {
                let size = match (&recv_ty, &r.v) {
                    (Ty::String, V::S(s)) => format!("(str.len {s})"),
                    (_, V::Set(SetRep::Lit(items, _))) => distinct_count(items),
                    (_, V::Set(SetRep::Var(k))) => self.sets.get(*k).map_or("0".into(), |s| s.size.clone()),
                    _ => scalar(&self.opaque(side, &rule, &Ty::Int, "the size of a set the encoding does not follow")),
                };
                if method == Method::Size { size } else { format!("(= {size} 0)") }
            }
            Method::StartsWith | Method::EndsWith | Method::StrContains => {
                let (s, t) = (scalar(&r.v), scalar(&arg(0)));
                match method {
                    Method::StartsWith => format!("(str.prefixof {t} {s})"),
                    Method::EndsWith => format!("(str.suffixof {t} {s})"),
                    _ => format!("(str.contains {s} {t})"),
                }
            }
            Method::Lower | Method::Upper | Method::Trim => {
                let what = match method {
                    Method::Lower => "`lower()`",
                    Method::Upper => "`upper()`",
                    _ => "`trim()`",
                };
                scalar(&self.opaque(side, &rule, &Ty::String, what))
            }
            Method::UrlHost
            | Method::UrlScheme
            | Method::NormalizedPath
            | Method::EmailAddresses
            | Method::EmailDomains => return self.parsed(side, &rule, method, ty, err),
            // Entity tags are not in the symbolic store: `has_tag` is a
            // fresh Bool and `get_tag` a fresh value that may fail, each an
            // approximation (a question that meets one is undecided, never
            // answered wrongly).
            Method::HasTag => scalar(&self.opaque(side, &rule, &Ty::Bool, "`has_tag()`: entity tags")),
            Method::GetTag => return self.parsed(side, &rule, method, ty, err),
            Method::TimeDate => format!("(div {} {DAY_MS})", scalar(&r.v)),
            Method::Hour => format!("(div (mod {} {DAY_MS}) 3600000)", scalar(&r.v)),
            Method::Minute => format!("(div (mod {} 3600000) 60000)", scalar(&r.v)),
            Method::Weekday => format!("(+ (mod (+ (div {} {DAY_MS}) 3) 7) 1)", scalar(&r.v)),
            Method::DateWeekday => format!("(+ (mod (+ {} 3) 7) 1)", scalar(&r.v)),
            Method::Year | Method::Month | Method::Day => {
                let d = scalar(&r.v);
                let (y, m, dd) = self.civil(&d);
                match method {
                    Method::Year => y,
                    Method::Month => m,
                    _ => dd,
                }
            }
            Method::IsLoopback => {
                let x = scalar(&r.v);
                or([ip_range(&x, true, 0x7F00_0000, 0x7FFF_FFFF), eq(&x, "1")])
            }
            Method::IsPrivate => {
                let x = scalar(&r.v);
                let v6 = |lo: u128, hi: u128| ip_range(&x, false, lo << 112, ((hi + 1) << 112) - 1);
                or([
                    ip_range(&x, true, 0x0A00_0000, 0x0AFF_FFFF),
                    ip_range(&x, true, 0xAC10_0000, 0xAC1F_FFFF),
                    ip_range(&x, true, 0xC0A8_0000, 0xC0A8_FFFF),
                    ip_range(&x, true, 0xA9FE_0000, 0xA9FE_FFFF),
                    v6(0xfc00, 0xfdff),
                    v6(0xfe80, 0xfebf),
                ])
            }
            Method::IsIpv4 => format!("(>= {} {V4_BASE})", scalar(&r.v)),
            Method::IsIpv6 => format!("(< {} {V4_BASE})", scalar(&r.v)),
        };
        let v = self.def(sort_of(ty), v);
        Node { v: V::S(v), err }
    }

    /// A structured-string method: a parser the encoding does not follow.
    /// Its value is opaque and it may fail on any input, so its error is
    /// free as well (an analysis never assumes the parse succeeds).
    fn parsed(&mut self, side: usize, rule: &Option<String>, method: Method, ty: &Ty, err: String) -> Node {
        let v = self.opaque(side, rule, ty, &format!("`{}()`", crate::canon::method_name(method)));
        let may_fail = scalar(&self.fresh_value(&Ty::Bool));
        let err = self.def("Bool", or([err, may_fail]));
        Node { v, err }
    }

    /// `(year, month, day)` of a day number (the interpreter's `civil`).
    fn civil(&mut self, d: &str) -> (String, String, String) {
        let z = self.def("Int", format!("(+ {d} 719468)"));
        let era = self.def("Int", format!("(div {z} 146097)"));
        let doe = self.def("Int", format!("(- {z} (* {era} 146097))"));
        let yoe = self
            .def("Int", format!("(div (+ (- {doe} (div {doe} 1460)) (div {doe} 36524) (- (div {doe} 146096))) 365)"));
        let doy = self.def("Int", format!("(- {doe} (+ (* 365 {yoe}) (div {yoe} 4) (- (div {yoe} 100))))"));
        let mp = self.def("Int", format!("(div (+ (* 5 {doy}) 2) 153)"));
        let day = self.def("Int", format!("(+ (- {doy} (div (+ (* 153 {mp}) 2) 5)) 1)"));
        let month = self.def("Int", format!("(ite (< {mp} 10) (+ {mp} 3) (- {mp} 9))"));
        let year = self.def("Int", format!("(+ {yoe} (* {era} 400) (ite (<= {month} 2) 1 0))"));
        (year, month, day)
    }

    // ───────────────────────── the end: axioms over ground terms ─────────────────────────

    fn finish(&mut self) {
        // Typed entity terms.
        for t in self.entity_order.clone() {
            let types = self.entity_types.get(&t).cloned().unwrap_or_default();
            if !types.is_empty() && types.len() < self.vocab.types.len() {
                let d = self.domain_term(&Domain::Entity(types.into_iter().collect()), &t);
                self.assert(&d);
            }
        }
        // Deferred set constraints, now that every ground term is known.
        for d in std::mem::take(&mut self.deferred) {
            self.expand(d);
        }
        // Set members: typed; finite and bounded sizes.
        for k in 0..self.sets.len() {
            let Some(s) = self.sets.get(k).cloned() else { continue };
            let grounds = self.grounds.get(&s.class).cloned().unwrap_or_default();
            for x in &grounds {
                let d = self.domain_term(&s.domain, x);
                if d != "true" {
                    self.assert(&implies(&s.mem(x), &d));
                }
            }
        }
        // The hierarchy: pairs typed and from listed entities; transitive and
        // acyclic. Every combination of two pairs is considered once, when
        // the later of the two is reached (pairs it creates come after it).
        let mut q = 0;
        let mut truncated = false;
        while q < self.pairs.len() && !truncated {
            let Some((x, y)) = self.pairs.get(q).cloned() else { break };
            self.assert(&format!(
                "(=> (anc {x} {y}) (and (listed {x}) (not (= {x} {y})) (ancok (ety {x}) (ety {y}))))"
            ));
            for other in 0..=q {
                let Some(o) = self.pairs.get(other).cloned() else { break };
                let orders = if other == q {
                    vec![((x.clone(), y.clone()), o.clone())]
                } else {
                    vec![((x.clone(), y.clone()), o.clone()), (o.clone(), (x.clone(), y.clone()))]
                };
                for ((a, b), (b2, c)) in orders {
                    if !self.may_equal(&b, &b2) {
                        continue;
                    }
                    if self.pairs.len() >= MAX_PAIRS {
                        truncated = true;
                        break;
                    }
                    let link = eq(&b, &b2);
                    self.pair(&a, &c);
                    self.assert(&format!(
                        "(=> (and {link} (or (= {a} {b}) (anc {a} {b})) (or (= {b2} {c}) (anc {b2} {c}))) (or (= {a} {c}) (anc {a} {c})))"
                    ));
                    if self.may_equal(&c, &a) {
                        self.assert(&format!("(not (and {link} (anc {a} {b}) (anc {b2} {c}) {}))", eq(&c, &a)));
                    }
                }
                if truncated {
                    break;
                }
            }
            q += 1;
        }
        if truncated {
            self.approx.push(Approx {
                side: String::new(),
                rule: None,
                what: format!("hierarchy transitivity over more than {MAX_PAIRS} pairs of entities (not all chains are constrained)"),
                flow: false,
                restricts: false,
            });
        }
    }

    /// Whether two entity terms may stand for the same entity (their types overlap).
    fn may_equal(&self, a: &str, b: &str) -> bool {
        if a == b {
            return true;
        }
        match (self.entity_types.get(a), self.entity_types.get(b)) {
            (Some(x), Some(y)) => x.is_empty() || y.is_empty() || x.intersection(y).next().is_some(),
            _ => true,
        }
    }

    fn expand(&mut self, d: Deferred) {
        match d {
            Deferred::Size(k) => {
                let Some(s) = self.sets.get(k).cloned() else { return };
                let grounds = self.grounds.get(&s.class).cloned().unwrap_or_default();
                let count = distinct_members(&s, &grounds);
                let finite = matches!(s.class, Class::Bool | Class::Enum(_) | Class::Action);
                let rel = if finite { "=" } else { ">=" };
                self.assert(&format!("({rel} {} {count})", s.size));
                self.assert(&format!("(<= {} {MAX_SET})", s.size));
            }
            Deferred::EntityInSet { name, e, set, w } => {
                let Some(s) = self.sets.get(set).cloned() else { return };
                let mut grounds = self.grounds.get(&Class::Entity).cloned().unwrap_or_default();
                if !grounds.contains(&w) {
                    grounds.push(w);
                }
                let elem_types: BTreeSet<u32> = match &s.domain {
                    Domain::Entity(t) => t.iter().copied().collect(),
                    _ => BTreeSet::new(),
                };
                let mut cases = Vec::new();
                for x in grounds {
                    let compatible = self
                        .entity_types
                        .get(&x)
                        .is_none_or(|t| t.is_empty() || t.intersection(&elem_types).next().is_some());
                    if !compatible {
                        continue;
                    }
                    let inn = self.in_entity(&e, &x);
                    cases.push(and([s.mem(&x), inn]));
                }
                self.assert(&format!("(= {name} {})", or(cases)));
            }
            Deferred::Intersect { name, a, b, w } => {
                let (Some(sa), Some(sb)) = (self.sets.get(a).cloned(), self.sets.get(b).cloned()) else { return };
                let mut grounds = self.grounds.get(&sa.class).cloned().unwrap_or_default();
                if !grounds.contains(&w) {
                    grounds.push(w);
                }
                let cases: Vec<String> = grounds.iter().map(|x| and([sa.mem(x), sb.mem(x)])).collect();
                self.assert(&format!("(= {name} {})", or(cases)));
            }
            Deferred::SubsetOfLit { name, set, items } => {
                let Some(s) = self.sets.get(set).cloned() else { return };
                let grounds = self.grounds.get(&s.class).cloned().unwrap_or_default();
                let inside: Vec<String> = grounds
                    .iter()
                    .map(|x| implies(&s.mem(x), &or(items.iter().map(|(g, t)| and([g.clone(), eq(t, x)])))))
                    .collect();
                let count = distinct_members(&s, &grounds);
                self.assert(&format!("(= {name} (and {} (= {} {count})))", and(inside), s.size));
            }
            Deferred::EqualsLit { name, set, items } => {
                let Some(s) = self.sets.get(set).cloned() else { return };
                let grounds = self.grounds.get(&s.class).cloned().unwrap_or_default();
                let same: Vec<String> = grounds
                    .iter()
                    .map(|x| eq(&s.mem(x), &or(items.iter().map(|(g, t)| and([g.clone(), eq(t, x)])))))
                    .collect();
                self.assert(&format!("(= {name} (and {} (= {} {})))", and(same), s.size, distinct_count(&items)));
            }
        }
    }
}

/// Whether some program declares attribute `path` of type `tname` (with
/// signature `sig`) required: then every listed entity of the type has it.
pub fn required_anywhere(vocab: &Vocab, sides: &[Side<'_>], tname: &str, path: &[String], sig: &str) -> bool {
    sides.iter().any(|s| {
        let Some(t) = s.program.entity_types.iter().find(|t| t.name == tname) else { return false };
        let mut fields = &t.attrs;
        let mut found = None;
        for (i, seg) in path.iter().enumerate() {
            let Some(f) = fields.iter().find(|f| &f.name == seg) else { return false };
            if i + 1 == path.len() {
                found = Some(f);
            } else if let Ty::Record(sub) = &f.ty {
                fields = sub;
            } else {
                return false;
            }
        }
        found.is_some_and(|f| !f.optional && vocab.sig(s.program, &f.ty) == sig)
    })
}

/// The pieces of a link's decision that obligations need.
struct LinkLists {
    eff: String,
    af: String,
    own: String,
}

fn scalar(v: &V) -> String {
    match v {
        V::S(t) => t.clone(),
        _ => "false".into(),
    }
}

/// How many distinct elements the guarded `items` have.
fn distinct_count(items: &[(String, String)]) -> String {
    if items.is_empty() {
        return "0".into();
    }
    let terms: Vec<String> = items
        .iter()
        .enumerate()
        .map(|(i, (g, x))| {
            let earlier: Vec<String> = items.iter().take(i).map(|(h, y)| format!("(and {h} (= {y} {x}))")).collect();
            format!("(ite {} 1 0)", and([g.clone(), not(&or(earlier))]))
        })
        .collect();
    if terms.len() == 1 { terms.into_iter().next().unwrap_or_default() } else { format!("(+ {})", terms.join(" ")) }
}

/// How many distinct ground terms are members of `s`.
fn distinct_members(s: &SetVar, grounds: &[String]) -> String {
    let items: Vec<(String, String)> = grounds.iter().map(|x| (s.mem(x), x.clone())).collect();
    distinct_count(&items)
}

/// `s like "a*b"` as an SMT regular expression (`None` when a piece holds
/// characters SMT strings cannot).
fn glob_regex(glob: &str) -> Option<String> {
    let pieces: Vec<&str> = glob.split('*').collect();
    let mut parts = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            parts.push("re.all".to_string());
        }
        if !piece.is_empty() {
            parts.push(format!("(str.to_re {})", smt::string_lit(piece)?));
        }
    }
    Some(match parts.len() {
        0 => "(str.to_re \"\")".into(),
        1 => parts.pop().unwrap_or_default(),
        _ => format!("(re.++ {})", parts.join(" ")),
    })
}

/// `x in cidr("…")` for a literal range.
fn ip_in_cidr_const(x: &str, cidr: &str) -> String {
    let Ok((net, len)) = ward_compiler::literals::cidr(cidr) else { return "false".into() };
    let (v4, bits, addr): (bool, u32, u128) = match net {
        std::net::IpAddr::V4(a) => (true, 32, u128::from(u32::from(a))),
        std::net::IpAddr::V6(a) => (false, 128, u128::from(a)),
    };
    let host_bits = bits - u32::from(len).min(bits);
    let mask: u128 = if host_bits >= 128 { u128::MAX } else { (1u128 << host_bits) - 1 };
    let lo = addr & !mask;
    ip_range(x, v4, lo, lo | mask)
}

/// An obligation as text: `name(arg: value, …)`.
pub fn obligation_sig(o: &ir::Obligation) -> String {
    if o.args.is_empty() {
        return o.name.clone();
    }
    let mut args: Vec<String> = o.args.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    args.sort();
    format!("{}({})", o.name, args.join(", "))
}

/// How strong a masking method is (when two masks hit a value, the stronger wins).
pub fn method_strength(m: &MaskMethod) -> u8 {
    match m {
        MaskMethod::Drop => 5,
        MaskMethod::Redact => 4,
        MaskMethod::Hash { .. } => 3,
        MaskMethod::Tokenize { .. } => 2,
        MaskMethod::Partial { .. } => 1,
    }
}
