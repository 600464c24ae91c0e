//! Project-wide symbol tables other than the schema: agents, detectors,
//! fixtures, policies and rule ids. Every declaration is recorded (a name
//! with two entries is declared twice); checks report duplicates.

use std::collections::BTreeMap;
use std::sync::Arc;

use ward_grammar::ast::{AnnotationArg, DetectorDef, PolicyItem};

use crate::db::Project;
use crate::names::{all_units, namespace, qualify};
use crate::units::{Loc, Unit};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSymbol {
    /// The agent's entity type as written (resolved by the checker).
    pub ty: String,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectorKind {
    /// Implemented by the runtime; the string names the implementation.
    Builtin(String),
    Pattern,
    Keywords,
    /// Qualified names of the members (unresolved members are dropped).
    Group(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectorSymbol {
    pub kind: DetectorKind,
    pub docs: Vec<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Symbols {
    pub agents: BTreeMap<Arc<str>, Vec<AgentSymbol>>,
    /// Keyed by qualified name (`pii.email`).
    pub detectors: BTreeMap<Arc<str>, Vec<DetectorSymbol>>,
    pub fixtures: BTreeMap<Arc<str>, Vec<Loc>>,
    pub policies: BTreeMap<Arc<str>, Vec<Loc>>,
    /// Rule ids (`policy.id` from `@id`, and `policy.N` by position) → where.
    pub rules: BTreeMap<String, Vec<Loc>>,
    /// `@template` rules with an `@id`: their id → their slots
    /// (`"?principal"`, `"?resource"`), in scope order.
    pub templates: BTreeMap<String, Vec<&'static str>>,
}

pub use crate::ir::{BUILTIN_DETECTORS, VALIDATORS};

#[salsa::tracked(returns(ref))]
pub fn symbols(db: &dyn salsa::Database, project: Project) -> Arc<Symbols> {
    let mut out = Symbols::default();
    for (file, key, unit) in all_units(db, project) {
        let ns = namespace(db, file);
        match &*unit {
            Unit::Agent(a) => {
                out.agents
                    .entry(Arc::from(a.name.name.as_str()))
                    .or_default()
                    .push(AgentSymbol { ty: a.ty.text(), loc: Loc::new(file, key, a.name.span) });
            }
            Unit::Detector(d) => {
                let kind = match &d.def {
                    DetectorDef::Builtin(name) => DetectorKind::Builtin(name.string_value().unwrap_or("").to_string()),
                    DetectorDef::Pattern { .. } => DetectorKind::Pattern,
                    DetectorDef::Keywords(_) => DetectorKind::Keywords,
                    DetectorDef::Group(members) => DetectorKind::Group(members.iter().map(|p| p.text()).collect()),
                };
                out.detectors.entry(qualify(ns, &d.name.name)).or_default().push(DetectorSymbol {
                    kind,
                    docs: d.docs.lines.clone(),
                    loc: Loc::new(file, key, d.name.span),
                });
            }
            Unit::Fixture(f) => {
                out.fixtures.entry(Arc::from(f.name.name.as_str())).or_default().push(Loc::new(file, key, f.name.span));
            }
            Unit::Policy { name, .. } => {
                out.policies.entry(Arc::from(name.name.as_str())).or_default().push(Loc::new(file, key, name.span));
            }
            Unit::Member { policy, position, item } => {
                let (annotations, span) = match item {
                    PolicyItem::Rule(r) => (&r.annotations, r.effect_span),
                    PolicyItem::Mask(m) => (&m.annotations, m.span),
                    PolicyItem::Limit(l) => (&l.annotations, l.span),
                    PolicyItem::Error(_) => continue,
                };
                out.rules.entry(format!("{policy}.{position}")).or_default().push(Loc::new(file, key, span));
                for a in annotations.iter().filter(|a| a.name.name == "id") {
                    if let Some(AnnotationArg::Lit(lit)) = &a.arg
                        && let Some(id) = lit.string_value()
                    {
                        out.rules.entry(format!("{policy}.{id}")).or_default().push(Loc::new(file, key, lit.span));
                        if let PolicyItem::Rule(r) = item
                            && annotations.iter().any(|a| a.name.name == "template")
                        {
                            out.templates.insert(format!("{policy}.{id}"), slots(r));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Arc::new(out)
}

/// The slots of a template's scope, in order.
fn slots(rule: &ward_grammar::ast::Rule) -> Vec<&'static str> {
    use ward_grammar::ast::{ExprKind, ScopeItem, Var};
    let mut out = Vec::new();
    for item in rule.scope.iter().flat_map(|s| &s.items) {
        if let ScopeItem::Principal(s) | ScopeItem::Resource(s) = item
            && let Some(c) = &s.constraint
            && let ExprKind::Slot(v) = &c.target.kind
        {
            out.push(if *v == Var::Principal { "?principal" } else { "?resource" });
        }
    }
    out
}
