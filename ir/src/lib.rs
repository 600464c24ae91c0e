//! The decision IR: what a checked policy set compiles to, and what both the
//! reference interpreter and the Cranelift JIT execute.
//!
//! It is small and explicit:
//! - names are numbers: entity types, attributes, enums, actions, strings and
//!   the entity literals the policy mentions are indexes into tables here;
//! - every expression is typed ([`Ty`]) and lives in its rule's arena, children
//!   before parents, so evaluation never needs more than the node's own data;
//! - rules are indexed by action, then principal and resource type
//!   ([`Bucket`]), so a decision looks only at the rules that can apply.
//!
//! The IR is serializable (serde): a bundle carries it, and the runtime
//! JIT-compiles it when the bundle is loaded, so bundles stay portable.

use serde::{Deserialize, Serialize};

pub mod lifecycle;
pub mod literals;
pub mod suggest;
pub mod test_case;
pub mod validate;

pub use suggest::{closest, did_you_mean};
pub use validate::validate;

/// The version of this IR's shape, checked when a bundle is loaded.
pub const IR_VERSION: u32 = 5;

/// A compiled policy set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Program {
    pub version: u32,
    /// A hash of the sources the program was compiled from.
    pub source_hash: String,
    pub entity_types: Vec<EntityType>,
    pub enums: Vec<Enum>,
    pub actions: Vec<Action>,
    /// Interned strings: string literals, attribute names, ids.
    pub strings: Vec<String>,
    /// The entities the policy names (`Team::"ops"`, agents): `(type, id)`.
    /// Hierarchy tests against them read a precomputed bit per entity.
    pub entity_literals: Vec<(u32, String)>,
    pub patterns: Vec<Pattern>,
    pub detectors: Vec<Detector>,
    pub rules: Vec<Rule>,
    pub flows: Vec<Flow>,
    pub agents: Vec<Agent>,
    /// `(action, principal type, resource type)` → the rules to evaluate.
    pub buckets: Vec<Bucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityType {
    pub name: String,
    /// Attributes in slot order (sorted by name).
    pub attrs: Vec<Field>,
    /// Types whose entities this type's entities may be in.
    pub parents: Vec<u32>,
    /// `tags T`: the type of the values of its entities' tags (`None`: it
    /// declares no tags, and an entity of it that carries one is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Ty>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub ty: Ty,
    pub optional: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enum {
    pub name: String,
    pub ordered: bool,
    pub variants: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub name: String,
    /// Groups this action belongs to, transitively.
    pub groups: Vec<u32>,
    /// A group: a name for its members, never requested itself.
    pub is_group: bool,
    /// Principal and resource types it accepts (`None`: any).
    pub principals: Option<Vec<u32>>,
    pub resources: Option<Vec<u32>>,
    /// Its context's fields, sorted by name: the context frame's slots.
    pub context: Vec<Field>,
    /// Its annotations and their arguments, for enforcement points (the MCP
    /// gateway's `@resource_from("ARG")`), so they run from a bundle alone.
    pub annotations: Vec<(String, Option<String>)>,
    /// Its `@verified` context fields: set only by the enforcement point
    /// from authenticated sources, never taken from the caller's arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verified: Vec<String>,
}

impl Action {
    /// The argument of annotation `name`: `Some(None)` when it has none.
    pub fn annotation(&self, name: &str) -> Option<Option<&str>> {
        self.annotations.iter().find(|(n, _)| n == name).map(|(_, a)| a.as_deref())
    }
}

/// A value's type, as the backends need it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Ty {
    Bool,
    Int,
    /// Fixed point, 4 decimal digits.
    Decimal,
    String,
    /// Milliseconds since the epoch.
    Time,
    /// Days since the epoch.
    Date,
    /// Milliseconds.
    Duration,
    Ip,
    Cidr,
    /// One of these entity types.
    Entity(Vec<u32>),
    Enum(u32),
    Set(Box<Ty>),
    Record(Vec<Field>),
    Action,
    /// The type of `[]` (no element) — compatible with any set.
    Unknown,
}

/// A constant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Const {
    Bool(bool),
    /// Int, Decimal (scaled), Time, Date and Duration values.
    Int(i64),
    /// An index into [`Program::strings`].
    Str(u32),
    /// An index into [`Program::entity_literals`].
    Entity(u32),
    /// `(enum, variant)`.
    Enum(u32, u32),
    Action(u32),
    Ip(String),
    Cidr(String),
}

pub type ExprId = u32;

/// An expression node; children are earlier nodes of the same arena.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Ty,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ExprKind {
    Const(Const),
    Var(Var),
    /// `base.name`; fails when the attribute is absent.
    Attr {
        base: ExprId,
        name: u32,
    },
    /// `base has name`.
    Has {
        base: ExprId,
        name: u32,
    },
    Not(ExprId),
    And(ExprId, ExprId),
    Or(ExprId, ExprId),
    Cmp {
        op: CmpOp,
        lhs: ExprId,
        rhs: ExprId,
    },
    /// Entity in entity (hierarchy, reflexive), entity in a set of entities,
    /// Ip in Cidr, action in group, action in a set of actions.
    In {
        lhs: ExprId,
        rhs: ExprId,
    },
    Add(ExprId, ExprId),
    Sub(ExprId, ExprId),
    Neg(ExprId),
    Method {
        method: Method,
        recv: ExprId,
        args: Vec<ExprId>,
    },
    /// `lhs like pattern` / `lhs matches pattern`: index into [`Program::patterns`].
    Matches {
        lhs: ExprId,
        pattern: u32,
    },
    Set(Vec<ExprId>),
    Record(Vec<(u32, ExprId)>),
    /// A flow aggregate: index into [`Program::flows`].
    Flow(u32),
    /// `base is T`: whether the entity `base` has the entity type `ty`
    /// (an index into [`Program::entity_types`]).
    Is {
        base: ExprId,
        ty: u32,
    },
    /// `set.any(x, body)` (`all` false) or `set.all(x, body)`: `body`
    /// evaluated with [`ExprKind::Local`]`(var)` bound to each element of
    /// `set`, in the set's order, stopping at the first element that decides.
    /// `var` is the quantifier's own number in its arena: every quantifier
    /// of an arena has a different one.
    Quantifier {
        all: bool,
        set: ExprId,
        var: u32,
        body: ExprId,
    },
    /// The element a quantifier's variable is bound to (only inside that
    /// quantifier's body; elsewhere an evaluation error).
    Local(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Var {
    Principal,
    Resource,
    Context,
    Action,
    Now,
    /// The entity that made the call.
    Actor,
    /// The delegation chain, origin first.
    Chain,
    /// The chain's first link (the origin).
    ChainFirst,
    /// The chain's last link.
    ChainLast,
    /// Inside a flow's `where`: the request being decided.
    CurrentPrincipal,
    CurrentResource,
    CurrentContext,
    CurrentAction,
    /// Inside a result flow's `where` or `sum` value: the earlier action's
    /// result, typed by [`Flow::response`] (nowhere else).
    Response,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Method {
    Contains,
    ContainsAll,
    ContainsAny,
    Size,
    IsEmpty,
    StartsWith,
    EndsWith,
    StrContains,
    Lower,
    Upper,
    TimeDate,
    Hour,
    Minute,
    Weekday,
    Year,
    Month,
    Day,
    DateWeekday,
    IsLoopback,
    IsPrivate,
    IsIpv4,
    IsIpv6,
    /// `s.intersects(t)`: the two sets share an element.
    Intersects,
    /// `s.is_subset(t)`: every element of `s` is in `t`.
    IsSubset,
    /// `s.trim()`: without leading and trailing white space.
    Trim,
    /// `s.email_addresses()`: the addresses of an address list
    /// (`"Ann <ann@a.example>, bob@b.example"`), lower-cased; an error when
    /// the list is empty or outside the strict syntax Ward accepts.
    EmailAddresses,
    /// `s.email_domains()`: the domains of an address list, as above.
    EmailDomains,
    /// `s.url_host()`: the host of an absolute URL, normalised (WHATWG URL:
    /// lower case, IDNA to ASCII, IPv4 in dotted form); an error otherwise.
    UrlHost,
    /// `s.url_scheme()`: the scheme of an absolute URL, lower case.
    UrlScheme,
    /// `s.normalized_path()`: `.` and `..` resolved, `//` collapsed; an
    /// error when `..` climbs above the start or the path holds `\\` or NUL.
    NormalizedPath,
    /// `e.has_tag(k)`: the entity `e` has the tag `k` (a `String`); `e`'s
    /// types all declare tags.
    HasTag,
    /// `e.get_tag(k)`: the value of the entity's tag `k`, of the type its
    /// entity type declares; an evaluation error when the tag is absent.
    GetTag,
}

/// A string matcher.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Pattern {
    /// `like`: `*` matches any run of characters; the whole string must match.
    Glob(String),
    /// `matches "regex"`: a linear-time regex, found anywhere in the string.
    Regex(String),
    /// `matches detector`: index into [`Program::detectors`].
    Detector(u32),
}

/// A detector, flattened: a group is the list of its members' detectors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detector {
    /// Qualified name (`pii.email`).
    pub name: String,
    pub parts: Vec<DetectorPart>,
    /// For each part, the detector it was declared in (`pii.github_token`
    /// in the group `pii.secrets`): what a match is labelled with. Empty
    /// (older programs): every part is labelled with `name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DetectorPart {
    Builtin(String),
    Pattern { regex: String, validate: Option<String> },
    Keywords(Vec<String>),
}

/// A policy member, compiled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// `policy.id` or `policy.N`.
    pub id: String,
    pub kind: RuleKind,
    /// `@shadow`: evaluated and reported, never enforced.
    pub shadow: bool,
    /// `@delegation("actor")`.
    pub actor_only: bool,
    pub exprs: Vec<Expr>,
    /// Scope checks and conditions, all of which must hold, in order.
    pub conditions: Vec<Condition>,
    pub obligations: Vec<Obligation>,
    pub advice: Vec<Obligation>,
    pub reason: Option<String>,
    pub severity: Option<String>,
    /// Where the rule is: `file:line:col`.
    pub location: String,
    /// The entity literal its scope pins `principal` to (`principal == E`).
    pub pinned_principal: Option<u32>,
    /// The entity literal its scope pins `resource` to (`resource == E`).
    pub pinned_resource: Option<u32>,
    /// A `@template` rule: its scope's slots, filled by links at run time.
    /// Its conditions hold everything but the slot tests, which the engine
    /// makes against its table of links; a template applies only through
    /// a link, never on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Template>,
}

impl Rule {
    /// The entity literals of this rule's `principal in P` and `resource
    /// in R` scope tests, when the rule cannot apply (nor fail) unless
    /// they hold: such a test must come before any condition that could
    /// fail, i.e. it is among the leading scope tests against literals
    /// (`==` or `in`, which never fail). The first of each kind counts.
    pub fn in_scope(&self) -> (Option<u32>, Option<u32>) {
        let (mut principal, mut resource) = (None, None);
        for c in &self.conditions {
            let Some((var, is_in, k)) = self.literal_scope_test(c) else { break };
            if !is_in {
                continue;
            }
            let slot = if var == Var::Principal { &mut principal } else { &mut resource };
            if slot.is_none() {
                *slot = Some(k);
            }
        }
        (principal, resource)
    }

    /// `(variable, is `in`, literal)` when `c` is a scope test of the
    /// principal or the resource against an entity literal.
    fn literal_scope_test(&self, c: &Condition) -> Option<(Var, bool, u32)> {
        if !c.when {
            return None;
        }
        let node = |id: ExprId| self.exprs.get(id as usize);
        let e = node(c.expr)?;
        let (lhs, rhs, is_in) = match e.kind {
            ExprKind::In { lhs, rhs } => (lhs, rhs, true),
            ExprKind::Cmp { op: CmpOp::Eq, lhs, rhs } => (lhs, rhs, false),
            _ => return None,
        };
        let (l, r) = (node(lhs)?, node(rhs)?);
        let var = match l.kind {
            ExprKind::Var(v @ (Var::Principal | Var::Resource)) => v,
            _ => return None,
        };
        match (&l.ty, &r.kind, &r.ty) {
            (Ty::Entity(_), ExprKind::Const(Const::Entity(k)), Ty::Entity(_)) => Some((var, is_in, *k)),
            _ => None,
        }
    }
}

/// A template's slots (`principal == ?principal`, `resource in ?resource`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    /// At most one per variable, principal first.
    pub slots: Vec<Slot>,
}

/// One slot: which variable it constrains, how, and the entity types a
/// link may fill it with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub var: SlotVar,
    /// `in ?x`: the variable is the link's entity or a descendant of it;
    /// otherwise (`== ?x`) the variable is the link's entity.
    pub hierarchy: bool,
    /// Indexes into [`Program::entity_types`].
    pub types: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SlotVar {
    Principal,
    Resource,
}

impl SlotVar {
    /// `?principal` or `?resource`, as links name the slot.
    pub fn name(self) -> &'static str {
        match self {
            SlotVar::Principal => "?principal",
            SlotVar::Resource => "?resource",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    Permit,
    Forbid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RuleKind {
    Rule {
        effect: Effect,
    },
    Mask {
        paths: Vec<String>,
        detectors: Vec<u32>,
        method: MaskMethod,
    },
    /// A limit per key over a sliding window: `count` requests (GCRA, with
    /// `burst`), or with a [`LimitMeasure`] a budget of a sum or a number
    /// of distinct values (`count`; a Decimal budget is scaled).
    Limit {
        count: u64,
        window_ms: i64,
        burst: u64,
        keys: Vec<ExprId>,
        fail_open: bool,
        #[serde(default)]
        measure: LimitMeasure,
    },
}

/// What a limit counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitMeasure {
    /// Requests: a rate limit.
    #[default]
    Requests,
    /// `sum(expr)`: the amounts (Int, or Decimal when `decimal`, scaled by
    /// `literals::DECIMAL_SCALE`) consumed in the window, against `count`.
    Sum { expr: ExprId, decimal: bool },
    /// `distinct(expr)`: the distinct values seen in the window, at most `count`.
    Distinct { expr: ExprId },
}

/// The largest budget of a `sum` limit (in its scaled unit): with amounts
/// no larger than the budget, every sum a store computes stays below 2^53,
/// exact in a double (Redis's Lua numbers).
pub const MAX_SUM_BUDGET: u64 = 1 << 50;

/// The largest number of distinct values a `distinct` limit may allow: its
/// state per key holds up to that many values.
pub const MAX_DISTINCT: u64 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskMethod {
    Redact,
    Partial { first: u32, last: u32 },
    Hash { salt: Option<String> },
    Tokenize { key: String },
    Drop,
}

/// One condition: the expression, whether it must be true (`when`) or false
/// (`unless`), and the source text shown in explanations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub expr: ExprId,
    pub when: bool,
    pub text: String,
    /// `file:line:col` of the condition.
    pub location: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Obligation {
    pub name: String,
    /// Arguments rendered as JSON-ready strings.
    pub args: Vec<(String, String)>,
}

/// A flow aggregate over recent actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    pub kind: FlowKind,
    pub window_ms: i64,
    /// Grouped by the principal (`by principal`) instead of the session.
    pub by_principal: bool,
    /// The earlier actions that count.
    pub actions: Vec<u32>,
    /// Evaluated on each earlier action (vars name it; `Current*` name the
    /// request being decided): its arena and root, if there is a filter.
    pub exprs: Vec<Expr>,
    pub filter: Option<ExprId>,
    /// For `sum`: the value added up, in the same arena.
    pub value: Option<ExprId>,
    /// `x == current.y` in the filter: `(x, current.y)`. Earlier actions are
    /// summarised under the value of `x`; a decision reads the summary
    /// under the value of `current.y`.
    pub correlation: Option<(ExprId, ExprId)>,
    /// A **result flow** (its expressions read `response`): the type of the
    /// earlier action's result. Such a flow is recorded when the enforcement
    /// point reports the result (`Engine::record_result_at`), never at
    /// decision time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Ty>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FlowKind {
    Previously,
    Count,
    Sum,
}

/// A declared agent's lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub name: String,
    /// Index into [`Program::entity_literals`] of the agent's entity.
    pub entity: u32,
    pub owner: Option<String>,
    /// Days since the epoch.
    pub created: Option<i64>,
    pub expires: Option<i64>,
    /// `(period in ms, last done in days)`.
    pub rotation: Option<(i64, Option<i64>)>,
    pub review: Option<(i64, Option<i64>)>,
    /// Attributes declared with `attrs { … }`, as JSON.
    pub attrs: String,
    pub parents: Vec<u32>,
}

/// The rules that can apply to requests of one action with one principal
/// type and one resource type, in evaluation order: forbids, permits,
/// masks, limits.
///
/// Rules whose scope pins the principal or the resource to one entity
/// (`principal == User::"dana"`) are indexed by that entity: a decision
/// evaluates the bucket's general rules plus those indexed under its own
/// principal and resource, so thousands of per-entity rules cost nothing to
/// the requests they cannot match. Rules scoped by hierarchy (`principal in
/// Team::"ops"`) stay general rules, and are also indexed by their
/// literals ([`Bucket::in_scoped`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    pub action: u32,
    pub principal: u32,
    pub resource: u32,
    pub rules: Vec<u32>,
    /// Those of `rules` whose scope says `principal in P` and/or `resource
    /// in R` (P, R entity literals; [`Rule::in_scope`]), grouped by
    /// `(P, R)`, each group in the order of `rules`. A rule listed here
    /// cannot apply — nor fail — unless the request's principal is in P
    /// and its resource in R, so the runtime evaluates it only then; a
    /// reader that ignores this list still decides the same by evaluating
    /// every rule of `rules`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_scoped: Vec<InScoped>,
    /// Entity literal → rules whose scope says `principal == it`.
    pub by_principal: Vec<(u32, Vec<u32>)>,
    /// Entity literal → rules whose scope says `resource == it` (and no
    /// principal pin, or one shared by more of the bucket's rules than
    /// this resource pin: a rule pinned on both is filed under one).
    pub by_resource: Vec<(u32, Vec<u32>)>,
    /// The `@template` rules of the bucket (forbids first): they apply only
    /// through the links whose slot values match the request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<u32>,
}

/// A group of a bucket's rules scoped `principal in P` and/or `resource in
/// R` by entity literals (at least one of the two).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InScoped {
    pub principal: Option<u32>,
    pub resource: Option<u32>,
    pub rules: Vec<u32>,
}

/// The runtime's built-in detector implementations.
pub const BUILTIN_DETECTORS: [&str; 15] = [
    "email",
    "phone",
    "credit_card",
    "ssn",
    "iban",
    "ipv4",
    "ipv6",
    "aws_access_key",
    "bearer_token",
    "jwt",
    "private_key",
    "sql_injection",
    "shell_metachar",
    "path_traversal",
    "prompt_injection",
];

/// Candidate validators for `pattern "…" validate NAME`.
pub const VALIDATORS: [&str; 5] = ["luhn", "mod97", "ssn", "iban", "secret"];
