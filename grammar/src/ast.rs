//! The syntax tree. Every node carries the span of the text it came from.
//!
//! The tree is a plain owned data structure: the compiler resolves names and
//! types on top of it, the formatter prints it back. Literals keep their
//! source text (`raw`) so that printing never changes how a value is written;
//! their values are validated by the compiler.

use serde::Serialize;

use crate::Span;

/// A whole `.ward` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceFile {
    pub items: Vec<Item>,
    /// Every comment of the file in source order (docs included), for the formatter.
    #[serde(skip)]
    pub comments: Vec<Comment>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comment {
    /// The comment's text, `//` included.
    pub text: String,
    pub span: Span,
}

/// A name as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A dotted name: `stdlib.pii.email`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Path {
    pub segments: Vec<Ident>,
    pub span: Span,
}

impl Path {
    /// The path as written, segments joined by dots.
    pub fn text(&self) -> String {
        let names: Vec<&str> = self.segments.iter().map(|s| s.name.as_str()).collect();
        names.join(".")
    }
}

/// `///` documentation attached to a declaration, one entry per line.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Docs {
    pub lines: Vec<String>,
}

impl Docs {
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// `@name` or `@name(arg)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotation {
    pub name: Ident,
    pub arg: Option<AnnotationArg>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AnnotationArg {
    Lit(Lit),
    Word(Ident),
}

impl Annotation {
    /// The argument as text: a string's value, another literal as written,
    /// or a word.
    pub fn arg_text(&self) -> Option<String> {
        self.arg.as_ref().map(|arg| match arg {
            AnnotationArg::Lit(l) => l.string_value().map_or_else(|| l.raw.clone(), str::to_string),
            AnnotationArg::Word(w) => w.name.clone(),
        })
    }
}

/// A top-level item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Item {
    Import(ImportDecl),
    Schema(SchemaDecl),
    Agent(AgentDecl),
    Policy(PolicyDecl),
    Detector(DetectorDecl),
    Fixture(FixtureDecl),
    Test(TestDecl),
    Assert(AssertDecl),
    /// Text that did not parse; a diagnostic names the problem.
    Error(Span),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Import(i) => i.span,
            Item::Schema(i) => i.span,
            Item::Agent(i) => i.span,
            Item::Policy(i) => i.span,
            Item::Detector(i) => i.span,
            Item::Fixture(i) => i.span,
            Item::Test(i) => i.span,
            Item::Assert(i) => i.span,
            Item::Error(span) => *span,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportDecl {
    pub path: Path,
    pub alias: Option<Ident>,
    pub span: Span,
}

// ───────────────────────────── schemas ─────────────────────────────

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaDecl {
    pub docs: Docs,
    pub annotations: Vec<Annotation>,
    /// Written `namespace N { … }`: its declarations are named `N::…`, and
    /// names inside it are looked up in `N` first (as in Cedar). The name
    /// may itself be qualified (`Acme::Docs`).
    pub namespace: bool,
    pub name: Ident,
    pub items: Vec<SchemaItem>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SchemaItem {
    Entity(EntityDecl),
    Enum(EnumDecl),
    TypeAlias(TypeAliasDecl),
    Action(ActionDecl),
    Context(ContextDecl),
    Error(Span),
}

impl SchemaItem {
    pub fn span(&self) -> Span {
        match self {
            SchemaItem::Entity(i) => i.span,
            SchemaItem::Enum(i) => i.span,
            SchemaItem::TypeAlias(i) => i.span,
            SchemaItem::Action(i) => i.span,
            SchemaItem::Context(i) => i.span,
            SchemaItem::Error(span) => *span,
        }
    }
}

/// `entity Customer in [Account] { … }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntityDecl {
    pub docs: Docs,
    pub annotations: Vec<Annotation>,
    pub name: Ident,
    pub parents: Option<NameList>,
    pub attrs: Option<RecordType>,
    /// `tags T`: the type of the values of the entity's tags.
    pub tags: Option<TypeExpr>,
    pub span: Span,
}

/// `enum Level ordered { public, internal }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnumDecl {
    pub docs: Docs,
    pub annotations: Vec<Annotation>,
    pub name: Ident,
    pub ordered: bool,
    pub variants: Vec<Ident>,
    pub span: Span,
}

/// `type Email = String`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeAliasDecl {
    pub docs: Docs,
    pub annotations: Vec<Annotation>,
    pub name: Ident,
    pub ty: TypeExpr,
    pub span: Span,
}

/// `action read, update in [crm] by [Agent] on [Customer] with { … } returns T`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionDecl {
    pub docs: Docs,
    pub annotations: Vec<Annotation>,
    pub names: Vec<Ident>,
    pub parents: Option<NameList>,
    pub principals: Option<NameList>,
    pub resources: Option<NameList>,
    pub context: Option<RecordType>,
    pub returns: Option<TypeExpr>,
    pub span: Span,
}

/// `context { mfa: Bool }`: attributes every request's context may carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContextDecl {
    pub docs: Docs,
    pub fields: RecordType,
    pub span: Span,
}

/// `Name` or `[A, B]`. `bracketed` remembers how it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameList {
    pub names: Vec<Path>,
    pub bracketed: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TypeExpr {
    /// `String`, `Set<Role>`, `crm.Customer`.
    Named {
        name: Path,
        arg: Option<Box<TypeExpr>>,
        span: Span,
    },
    Record(RecordType),
    /// `User | Team`: one of several entity types (two or more members).
    Union {
        members: Vec<TypeExpr>,
        span: Span,
    },
}

impl TypeExpr {
    pub fn span(&self) -> Span {
        match self {
            TypeExpr::Named { span, .. } | TypeExpr::Union { span, .. } => *span,
            TypeExpr::Record(r) => r.span,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordType {
    pub fields: Vec<FieldDecl>,
    pub span: Span,
}

/// `name?: Type` inside a record type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldDecl {
    pub docs: Docs,
    pub annotations: Vec<Annotation>,
    pub name: Ident,
    pub optional: bool,
    pub ty: TypeExpr,
    pub span: Span,
}

// ───────────────────────────── agents ─────────────────────────────

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentDecl {
    pub docs: Docs,
    pub annotations: Vec<Annotation>,
    pub name: Ident,
    pub ty: Path,
    pub parents: Option<Vec<EntityRefLit>>,
    pub fields: Vec<AgentField>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentField {
    pub kind: AgentFieldKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AgentFieldKind {
    Owner(Expr),
    Created(Lit),
    Expires(Lit),
    /// `rotate credentials every 90d [last DATE]`
    Rotate {
        every: Lit,
        last: Option<Lit>,
    },
    /// `review every 180d [last DATE]`
    Review {
        every: Lit,
        last: Option<Lit>,
    },
    Attrs(Vec<RecordEntry>, Span),
    Description(Lit),
}

// ───────────────────────────── detectors ─────────────────────────────

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetectorDecl {
    pub docs: Docs,
    pub annotations: Vec<Annotation>,
    pub name: Ident,
    pub def: DetectorDef,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DetectorDef {
    /// `builtin "email"`: implemented by the runtime.
    Builtin(Lit),
    /// `pattern "regex" [validate luhn]`
    Pattern { regex: Lit, validate: Option<Ident> },
    /// `keywords ["a", "b"]`: case-insensitive phrases.
    Keywords(Vec<Lit>),
    /// `[a, b]`: the union of other detectors.
    Group(Vec<Path>),
}

// ───────────────────────────── policies ─────────────────────────────

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyDecl {
    pub docs: Docs,
    pub annotations: Vec<Annotation>,
    pub name: Ident,
    pub items: Vec<PolicyItem>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum PolicyItem {
    Rule(Rule),
    Mask(MaskRule),
    Limit(LimitRule),
    Error(Span),
}

impl PolicyItem {
    pub fn span(&self) -> Span {
        match self {
            PolicyItem::Rule(r) => r.span,
            PolicyItem::Mask(r) => r.span,
            PolicyItem::Limit(r) => r.span,
            PolicyItem::Error(span) => *span,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    Permit,
    Forbid,
}

/// `permit|forbid SCOPE (when|unless EXPR)* (obligation|advice CALL)*`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub docs: Docs,
    pub annotations: Vec<Annotation>,
    pub effect: Effect,
    pub effect_span: Span,
    pub scope: Option<Scope>,
    pub conditions: Vec<Condition>,
    pub clauses: Vec<Clause>,
    pub span: Span,
}

/// `principal: Agent, action: read, resource in Folder::"x"`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scope {
    pub items: Vec<ScopeItem>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ScopeItem {
    Principal(EntityScope),
    Resource(EntityScope),
    Action(ActionScope),
}

/// `principal [: Type] [in|== target]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntityScope {
    pub ty: Option<Path>,
    pub constraint: Option<ScopeConstraint>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeConstraint {
    pub op: ScopeOp,
    pub target: Expr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ScopeOp {
    In,
    Eq,
}

/// `action: read`, `action: [a, b]`, `action in group`, `action == read`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionScope {
    pub op: ActionOp,
    pub actions: NameList,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ActionOp {
    /// `action: …` — the action is one of the names.
    Is,
    /// `action in …` — the action is one of the names or belongs to one of them.
    In,
    /// `action == name`
    Eq,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    pub kind: ConditionKind,
    pub expr: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ConditionKind {
    When,
    Unless,
}

/// `obligation require_approval(role: "x")` or `advice log(message: "…")`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Clause {
    pub kind: ClauseKind,
    pub call: CallItem,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ClauseKind {
    Obligation,
    Advice,
}

/// `name` or `name(key: value, …)`, as used by obligations and mask methods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallItem {
    pub name: Path,
    /// `None` when written without parentheses.
    pub args: Option<Vec<NamedArg>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedArg {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `mask PATHS with METHOD` or `mask PATHS with DETECTORS using METHOD`,
/// then optionally `on SCOPE` and conditions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaskRule {
    pub docs: Docs,
    pub annotations: Vec<Annotation>,
    pub paths: Vec<MaskPath>,
    /// The method (without `using`) or the detectors (with `using`).
    pub with: Vec<CallItem>,
    pub using: Option<CallItem>,
    pub scope: Option<Scope>,
    pub conditions: Vec<Condition>,
    pub span: Span,
}

/// `resource.ssn`, `response.items.*.email`, `text`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaskPath {
    pub root: Ident,
    pub segments: Vec<MaskSegment>,
    pub span: Span,
}

impl MaskPath {
    /// The path as written: `response.*.email`.
    pub fn text(&self) -> String {
        let mut out = self.root.name.clone();
        for seg in &self.segments {
            out.push('.');
            match seg {
                MaskSegment::Field(name) => out.push_str(&name.name),
                MaskSegment::Star(_) => out.push('*'),
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum MaskSegment {
    Field(Ident),
    Star(Span),
}

/// `limit SCOPE [sum(E)|distinct(E)] to N per WINDOW [burst B] [per KEY, …] (when|unless …)* [fail open|closed]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitRule {
    pub docs: Docs,
    pub annotations: Vec<Annotation>,
    pub scope: Option<Scope>,
    /// `sum(EXPR)` or `distinct(EXPR)`; none for a rate limit (requests).
    pub measure: Option<Box<LimitMeasure>>,
    /// The number of requests, the budget of a sum or the number of distinct values.
    pub count: Lit,
    pub window: Lit,
    pub burst: Option<Lit>,
    pub keys: Vec<Expr>,
    pub conditions: Vec<Condition>,
    pub fail: Option<(FailMode, Span)>,
    pub span: Span,
}

/// A cumulative limit's measure: `sum(context.amount)`, `distinct(resource)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitMeasure {
    pub kind: MeasureKind,
    /// The `sum` or `distinct` word.
    pub kind_span: Span,
    pub expr: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MeasureKind {
    Sum,
    Distinct,
}

impl MeasureKind {
    pub fn word(self) -> &'static str {
        match self {
            MeasureKind::Sum => "sum",
            MeasureKind::Distinct => "distinct",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FailMode {
    Open,
    Closed,
}

// ───────────────────────────── expressions ─────────────────────────────

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

impl Expr {
    /// The expressions directly inside this one (a flow's filter and summed value included).
    pub fn children(&self) -> Vec<&Expr> {
        match &self.kind {
            ExprKind::Member { base, .. } | ExprKind::Index { base, .. } => vec![base],
            ExprKind::MethodCall { receiver, args, .. } => std::iter::once(&**receiver).chain(args).collect(),
            ExprKind::Call { args, .. } | ExprKind::Set(args) => args.iter().collect(),
            ExprKind::Unary { operand, .. } => vec![operand],
            ExprKind::Binary { lhs, rhs, .. } => vec![lhs, rhs],
            ExprKind::Has { base, .. } | ExprKind::Like { base, .. } | ExprKind::Matches { base, .. } => vec![base],
            ExprKind::Is { base, within, .. } => std::iter::once(&**base).chain(within.as_deref()).collect(),
            ExprKind::Record(entries) => entries.iter().map(|e| &e.value).collect(),
            ExprKind::Paren(inner) => vec![inner],
            ExprKind::Flow(f) => {
                let mut v: Vec<&Expr> = f.filter.iter().collect();
                if let FlowKind::Sum(value) = &f.kind {
                    v.push(value);
                }
                v
            }
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ExprKind {
    Lit(Lit),
    /// `principal`, `action`, `resource`, `context`.
    Var(Var),
    /// Any other name: an enum value, a detector, `now`, `actor`, `chain`, `current`, …
    Name(Ident),
    /// `Customer::"c-17"`
    EntityRef(EntityRefLit),
    /// `?principal` or `?resource`: a slot of a template's scope, filled by
    /// each link (only in the scope of a `@template` rule).
    Slot(Var),
    /// `Level::internal`
    EnumRef {
        ty: Path,
        variant: Ident,
    },
    /// `ip("10.0.0.1")`
    Call {
        func: Ident,
        args: Vec<Expr>,
    },
    /// `base.name`
    Member {
        base: Box<Expr>,
        name: Ident,
    },
    /// `receiver.method(args)`
    MethodCall {
        receiver: Box<Expr>,
        method: Ident,
        args: Vec<Expr>,
    },
    /// `base["key"]`
    Index {
        base: Box<Expr>,
        key: Lit,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `base has a.b`
    Has {
        base: Box<Expr>,
        path: Vec<Ident>,
    },
    /// `base is User` or `base is User in Team::"ops"`: an entity type test.
    Is {
        base: Box<Expr>,
        ty: Path,
        within: Option<Box<Expr>>,
    },
    /// `base like "*@acme.com"`
    Like {
        base: Box<Expr>,
        pattern: Lit,
    },
    /// `base matches "regex"` or `base matches detector.path`
    Matches {
        base: Box<Expr>,
        target: MatchTarget,
    },
    /// `[a, b]`
    Set(Vec<Expr>),
    /// `{ key: value }`
    Record(Vec<RecordEntry>),
    /// `(expr)`: kept so that printing preserves the author's grouping.
    Paren(Box<Expr>),
    /// `previously …`, `count(…)`, `sum(…, …)`.
    Flow(Box<FlowExpr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Var {
    Principal,
    Action,
    Resource,
    Context,
}

impl Var {
    pub fn name(self) -> &'static str {
        match self {
            Var::Principal => "principal",
            Var::Action => "action",
            Var::Resource => "resource",
            Var::Context => "context",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntityRefLit {
    pub ty: Path,
    pub id: Lit,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum MatchTarget {
    Regex(Lit),
    Detector(Path),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordEntry {
    pub key: RecordKey,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RecordKey {
    Word(Ident),
    Str(Lit),
}

impl RecordKey {
    pub fn name(&self) -> &str {
        match self {
            RecordKey::Word(id) => &id.name,
            RecordKey::Str(lit) => lit.string_value().unwrap_or(""),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Add,
    Sub,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Eq => "==",
            BinaryOp::NotEq => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
        }
    }
}

/// A condition over the recent actions of a session or principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowExpr {
    pub kind: FlowKind,
    pub window: Lit,
    pub group: Option<(FlowGroup, Span)>,
    pub scope: Scope,
    pub filter: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum FlowKind {
    Previously,
    Count,
    /// `sum(value, within …)`
    Sum(Expr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FlowGroup {
    Session,
    Principal,
}

/// A literal, with its source text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lit {
    pub kind: LitKind,
    /// The literal exactly as written (quotes included for strings).
    pub raw: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum LitKind {
    /// A string, with its escapes decoded.
    Str(String),
    Int,
    Decimal,
    Duration,
    Date,
    DateTime,
    Bool(bool),
}

impl Lit {
    pub fn string_value(&self) -> Option<&str> {
        match &self.kind {
            LitKind::Str(s) => Some(s),
            _ => None,
        }
    }
}

// ───────────────────────────── tests ─────────────────────────────

/// `fixture NAME { entity … }`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixtureDecl {
    pub docs: Docs,
    pub name: Ident,
    pub entities: Vec<EntityLit>,
    pub span: Span,
}

/// `entity Type::"id" [in [parents]] [{ attrs }] [tags { "key": value, … }]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntityLit {
    pub uid: EntityRefLit,
    pub parents: Option<Vec<EntityRefLit>>,
    pub attrs: Option<(Vec<RecordEntry>, Span)>,
    /// The entity's tags: keys and values.
    pub tags: Option<(Vec<RecordEntry>, Span)>,
    pub span: Span,
}

/// `assert "name" never permit action: delete_customer unless …`: a
/// property of every decision, proved by `ward analyze` and `ward test`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssertDecl {
    pub docs: Docs,
    pub name: Option<Lit>,
    pub quantifier: Quantifier,
    pub quantifier_span: Span,
    pub outcome: AssertOutcome,
    pub outcome_span: Span,
    pub scope: Option<Scope>,
    pub conditions: Vec<Condition>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Quantifier {
    Never,
    Always,
}

/// The decision an assert is about; `permit` and `allow` are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AssertOutcome {
    Permit,
    Allow,
    Deny,
    ApprovalRequired,
}

impl AssertOutcome {
    pub fn keyword(self) -> &'static str {
        match self {
            AssertOutcome::Permit => "permit",
            AssertOutcome::Allow => "allow",
            AssertOutcome::Deny => "deny",
            AssertOutcome::ApprovalRequired => "approval_required",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestDecl {
    pub docs: Docs,
    pub name: Lit,
    pub steps: Vec<TestStep>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TestStep {
    Using(Vec<Ident>, Span),
    At(Lit),
    Advance(Lit),
    Entities(Vec<EntityLit>, Span),
    /// `link "ID" to "TEMPLATE" { ?principal: E, ?resource: E }`
    Link(LinkStep),
    Request(RequestStep),
}

/// A link of a template for the rest of a test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkStep {
    pub id: Lit,
    pub template: Lit,
    /// `(slot, entity)`, in order.
    pub values: Vec<(Var, Span, EntityRefLit)>,
    pub span: Span,
}

/// `request { … } [returns VALUE] expect …`
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestStep {
    pub fields: Vec<RecordEntry>,
    pub fields_span: Span,
    /// `returns VALUE`: the action's result, reported after an allow (for
    /// result flows).
    pub result: Option<Expr>,
    pub expectations: Vec<Expectation>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expectation {
    pub outcome: Outcome,
    pub outcome_span: Span,
    pub by: Vec<Lit>,
    pub details: Vec<ExpectDetail>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Outcome {
    Allow,
    Deny,
    ApprovalRequired,
    Error,
}

impl Outcome {
    pub fn keyword(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::ApprovalRequired => "approval_required",
            Outcome::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ExpectDetail {
    Obligation(Path),
    Mask(MaskPath),
    Error(Lit),
    Remaining(Lit),
}
