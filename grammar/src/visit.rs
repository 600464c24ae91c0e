//! Visiting every span of a syntax tree, in a fixed pre-order.
//!
//! The compiler uses this to make items *position-independent*: it replaces
//! each span by its ordinal and keeps the real spans aside, so that an item
//! whose text moved (an edit above it, whitespace inside it) compares equal to
//! its previous version and nothing derived from it is recomputed.

use crate::Span;
use crate::ast::*;

/// Calls `f` on every span in `self`, in a deterministic pre-order that
/// depends only on the tree's shape.
pub trait VisitSpans {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span));
}

impl VisitSpans for Span {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
        f(self)
    }
}

impl<T: VisitSpans> VisitSpans for Vec<T> {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
        for item in self {
            item.visit_spans(f);
        }
    }
}

impl<T: VisitSpans> VisitSpans for Option<T> {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
        if let Some(item) = self {
            item.visit_spans(f);
        }
    }
}

impl<T: VisitSpans> VisitSpans for Box<T> {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
        (**self).visit_spans(f)
    }
}

impl<A: VisitSpans, B: VisitSpans> VisitSpans for (A, B) {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
        self.0.visit_spans(f);
        self.1.visit_spans(f);
    }
}

/// Types without spans.
macro_rules! no_spans {
    ($($t:ty),*) => {$(
        impl VisitSpans for $t {
            fn visit_spans(&mut self, _: &mut dyn FnMut(&mut Span)) {}
        }
    )*};
}
no_spans!(
    Docs,
    Effect,
    ScopeOp,
    ActionOp,
    ConditionKind,
    ClauseKind,
    FailMode,
    Var,
    UnaryOp,
    BinaryOp,
    FlowGroup,
    Outcome,
    Quantifier,
    AssertOutcome
);

/// Structs: visit the listed fields in order.
macro_rules! fields {
    ($($t:ty => [$($field:ident),*]),* $(,)?) => {$(
        impl VisitSpans for $t {
            fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
                $( self.$field.visit_spans(f); )*
            }
        }
    )*};
}

fields! {
    Ident => [span],
    Path => [segments, span],
    Annotation => [name, arg, span],
    ImportDecl => [path, alias, span],
    SchemaDecl => [annotations, name, items, span],
    EntityDecl => [annotations, name, parents, attrs, tags, span],
    EnumDecl => [annotations, name, variants, span],
    TypeAliasDecl => [annotations, name, ty, span],
    ActionDecl => [annotations, names, parents, principals, resources, context, returns, span],
    ContextDecl => [fields, span],
    NameList => [names, span],
    RecordType => [fields, span],
    FieldDecl => [annotations, name, ty, span],
    AgentDecl => [annotations, name, ty, parents, fields, span],
    AgentField => [kind, span],
    DetectorDecl => [annotations, name, def, span],
    PolicyDecl => [annotations, name, items, span],
    Rule => [annotations, effect_span, scope, conditions, clauses, span],
    Scope => [items, span],
    EntityScope => [ty, constraint, span],
    ScopeConstraint => [target],
    ActionScope => [actions, span],
    Condition => [expr, span],
    Clause => [call, span],
    CallItem => [name, args, span],
    NamedArg => [name, value, span],
    MaskRule => [annotations, paths, with, using, scope, conditions, span],
    MaskPath => [root, segments, span],
    LimitRule => [annotations, scope, measure, count, window, burst, keys, conditions, fail, span],
    LimitMeasure => [kind_span, expr, span],
    Expr => [kind, span],
    EntityRefLit => [ty, id, span],
    RecordEntry => [key, value, span],
    FlowExpr => [kind, window, group, scope, filter],
    Lit => [span],
    FixtureDecl => [name, entities, span],
    EntityLit => [uid, parents, attrs, tags, span],
    TestDecl => [name, steps, span],
    AssertDecl => [name, quantifier_span, outcome_span, scope, conditions, span],
    RequestStep => [fields, fields_span, result, expectations, span],
    Expectation => [outcome_span, by, details, span],
}

impl VisitSpans for AnnotationArg {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
        match self {
            AnnotationArg::Lit(l) => l.visit_spans(f),
            AnnotationArg::Word(w) => w.visit_spans(f),
        }
    }
}

impl VisitSpans for Item {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
        match self {
            Item::Import(i) => i.visit_spans(f),
            Item::Schema(i) => i.visit_spans(f),
            Item::Agent(i) => i.visit_spans(f),
            Item::Policy(i) => i.visit_spans(f),
            Item::Detector(i) => i.visit_spans(f),
            Item::Fixture(i) => i.visit_spans(f),
            Item::Test(i) => i.visit_spans(f),
            Item::Assert(i) => i.visit_spans(f),
            Item::Error(span) => f(span),
        }
    }
}

impl VisitSpans for SchemaItem {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
        match self {
            SchemaItem::Entity(i) => i.visit_spans(f),
            SchemaItem::Enum(i) => i.visit_spans(f),
            SchemaItem::TypeAlias(i) => i.visit_spans(f),
            SchemaItem::Action(i) => i.visit_spans(f),
            SchemaItem::Context(i) => i.visit_spans(f),
            SchemaItem::Error(span) => f(span),
        }
    }
}

impl VisitSpans for TypeExpr {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
        match self {
            TypeExpr::Named { name, arg, span } => {
                name.visit_spans(f);
                arg.visit_spans(f);
                f(span);
            }
            TypeExpr::Record(r) => r.visit_spans(f),
            TypeExpr::Union { members, span } => {
                members.visit_spans(f);
                f(span);
            }
        }
    }
}

impl VisitSpans for AgentFieldKind {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
        match self {
            AgentFieldKind::Owner(e) => e.visit_spans(f),
            AgentFieldKind::Created(l) | AgentFieldKind::Expires(l) | AgentFieldKind::Description(l) => {
                l.visit_spans(f)
            }
            AgentFieldKind::Rotate { every, last } | AgentFieldKind::Review { every, last } => {
                every.visit_spans(f);
                last.visit_spans(f);
            }
            AgentFieldKind::Attrs(entries, span) => {
                entries.visit_spans(f);
                f(span);
            }
        }
    }
}

impl VisitSpans for DetectorDef {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
        match self {
            DetectorDef::Builtin(l) => l.visit_spans(f),
            DetectorDef::Pattern { regex, validate } => {
                regex.visit_spans(f);
                validate.visit_spans(f);
            }
            DetectorDef::Keywords(words) => words.visit_spans(f),
            DetectorDef::Group(paths) => paths.visit_spans(f),
        }
    }
}

impl VisitSpans for PolicyItem {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
        match self {
            PolicyItem::Rule(r) => r.visit_spans(f),
            PolicyItem::Mask(m) => m.visit_spans(f),
            PolicyItem::Limit(l) => l.visit_spans(f),
            PolicyItem::Error(span) => f(span),
        }
    }
}

impl VisitSpans for ScopeItem {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
        match self {
            ScopeItem::Principal(s) | ScopeItem::Resource(s) => s.visit_spans(f),
            ScopeItem::Action(a) => a.visit_spans(f),
        }
    }
}

impl VisitSpans for MaskSegment {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
        match self {
            MaskSegment::Field(i) => i.visit_spans(f),
            MaskSegment::Star(span) => f(span),
        }
    }
}

impl VisitSpans for ExprKind {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
        match self {
            ExprKind::Lit(l) => l.visit_spans(f),
            ExprKind::Var(_) | ExprKind::Slot(_) => {}
            ExprKind::Name(n) => n.visit_spans(f),
            ExprKind::EntityRef(r) => r.visit_spans(f),
            ExprKind::EnumRef { ty, variant } => {
                ty.visit_spans(f);
                variant.visit_spans(f);
            }
            ExprKind::Call { func, args } => {
                func.visit_spans(f);
                args.visit_spans(f);
            }
            ExprKind::Member { base, name } => {
                base.visit_spans(f);
                name.visit_spans(f);
            }
            ExprKind::MethodCall { receiver, method, args } => {
                receiver.visit_spans(f);
                method.visit_spans(f);
                args.visit_spans(f);
            }
            ExprKind::Index { base, key } => {
                base.visit_spans(f);
                key.visit_spans(f);
            }
            ExprKind::Unary { operand, .. } => operand.visit_spans(f),
            ExprKind::Binary { lhs, rhs, .. } => {
                lhs.visit_spans(f);
                rhs.visit_spans(f);
            }
            ExprKind::Has { base, path } => {
                base.visit_spans(f);
                path.visit_spans(f);
            }
            ExprKind::Is { base, ty, within } => {
                base.visit_spans(f);
                ty.visit_spans(f);
                if let Some(within) = within {
                    within.visit_spans(f);
                }
            }
            ExprKind::Like { base, pattern } => {
                base.visit_spans(f);
                pattern.visit_spans(f);
            }
            ExprKind::Matches { base, target } => {
                base.visit_spans(f);
                match target {
                    MatchTarget::Regex(l) => l.visit_spans(f),
                    MatchTarget::Detector(p) => p.visit_spans(f),
                }
            }
            ExprKind::Set(items) => items.visit_spans(f),
            ExprKind::Record(entries) => entries.visit_spans(f),
            ExprKind::Paren(inner) => inner.visit_spans(f),
            ExprKind::Flow(flow) => flow.visit_spans(f),
        }
    }
}

impl VisitSpans for RecordKey {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
        match self {
            RecordKey::Word(w) => w.visit_spans(f),
            RecordKey::Str(l) => l.visit_spans(f),
        }
    }
}

impl VisitSpans for FlowKind {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
        if let FlowKind::Sum(value) = self {
            value.visit_spans(f);
        }
    }
}

impl VisitSpans for TestStep {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
        match self {
            TestStep::Using(names, span) => {
                names.visit_spans(f);
                f(span);
            }
            TestStep::At(l) | TestStep::Advance(l) => l.visit_spans(f),
            TestStep::Entities(entities, span) => {
                entities.visit_spans(f);
                f(span);
            }
            TestStep::Link(l) => {
                l.id.visit_spans(f);
                l.template.visit_spans(f);
                for (_, span, e) in &mut l.values {
                    f(span);
                    e.visit_spans(f);
                }
                f(&mut l.span);
            }
            TestStep::Request(r) => r.visit_spans(f),
        }
    }
}

impl VisitSpans for ExpectDetail {
    fn visit_spans(&mut self, f: &mut dyn FnMut(&mut Span)) {
        match self {
            ExpectDetail::Obligation(p) => p.visit_spans(f),
            ExpectDetail::Mask(m) => m.visit_spans(f),
            ExpectDetail::Error(l) | ExpectDetail::Remaining(l) => l.visit_spans(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relocated(src: &str) -> Vec<Item> {
        let mut items = crate::parse(src).file.items;
        let mut n = 0;
        items.visit_spans(&mut |s| {
            *s = Span { start: n, end: n };
            n += 1;
        });
        items
    }

    #[test]
    fn relocation_ignores_layout_but_not_structure() {
        let a = relocated("policy p { permit when a && b.c }");
        let b = relocated("\n\n// moved\npolicy   p {\n  permit\n    when a  &&  b.c\n}\n");
        assert_eq!(a, b);
        let c = relocated("policy p { permit when a && b.d }");
        assert_ne!(a, c);
    }
}
