//! The values behind a decision: for each deciding rule, what the attributes
//! its conditions compared actually were (`ward explain`).

use ward_ir::{Expr, ExprKind, Ty, Var};

use crate::decision::Decision;
use crate::engine::Engine;
use crate::interp::{Eval, NoHistory};
use crate::request::{Frame, Request};
use crate::value::Raw;

impl Engine {
    /// For each reason of `decision` that names a rule, the values of the
    /// attributes and variables its conditions compare, as `path = value`.
    pub fn why(&self, request: &Request, now: i64, decision: &Decision) -> Vec<(String, Vec<String>)> {
        let loaded = self.loaded();
        let Ok(frame) = Frame::build(&loaded.store, request, now) else { return Vec::new() };
        let program = loaded.program();
        let mut out = Vec::new();
        for reason in &decision.reasons {
            let Some(id) = &reason.rule else { continue };
            // A linked rule is its template's conditions.
            let template = crate::links::template_of(id);
            let Some(rule) = program.rules.iter().find(|r| r.id == template) else { continue };
            let principal = reason
                .principal
                .as_ref()
                .and_then(|uid| frame.chain.iter().copied().find(|i| frame.uid(&loaded.store, *i) == *uid))
                .unwrap_or(frame.actor);
            let mut eval = Eval::new(&loaded.prepared, &loaded.store, &frame, &NoHistory);
            eval.principal = principal;
            let mut values = Vec::new();
            for c in &rule.conditions {
                let mut operands = Vec::new();
                collect(&rule.exprs, c.expr, &mut operands);
                for id in operands {
                    let Some(text) = path_text(&rule.exprs, id, &loaded.prepared.program.strings) else { continue };
                    let Some(node) = rule.exprs.get(id as usize) else { continue };
                    let shown = match eval.expr(&rule.exprs, id) {
                        Ok(v) => render(&eval, &node.ty, v),
                        Err(e) => format!("<{e}>"),
                    };
                    let line = format!("{text} = {shown}");
                    if !values.contains(&line) {
                        values.push(line);
                    }
                }
            }
            out.push((id.clone(), values));
        }
        out
    }
}

impl Engine {
    /// For a request no permit allowed: each permit that could have applied
    /// (same action and types), the first condition that did not hold, and
    /// the values it compared.
    pub fn why_not(&self, request: &Request, now: i64) -> Vec<(String, String, Vec<String>)> {
        let loaded = self.loaded();
        let Ok(frame) = Frame::build(&loaded.store, request, now) else { return Vec::new() };
        let program = loaded.program();
        let (Some(p), Some(r)) =
            (frame.entity(&loaded.store, frame.actor), frame.entity(&loaded.store, frame.resource))
        else {
            return Vec::new();
        };
        let Some(bucket) = loaded.buckets.get(&(frame.action, p.ty, r.ty)) else { return Vec::new() };
        let mut rules = bucket.general.clone();
        rules.extend(bucket.by_principal.get(&frame.actor).into_iter().flatten());
        rules.extend(bucket.by_resource.get(&frame.resource).into_iter().flatten());
        let eval = Eval::new(&loaded.prepared, &loaded.store, &frame, &NoHistory);
        let mut out = Vec::new();
        for index in rules {
            let Some(rule) = program.rules.get(index as usize) else { continue };
            let is_permit = matches!(rule.kind, ward_ir::RuleKind::Rule { effect: ward_ir::Effect::Permit });
            if !is_permit || rule.shadow {
                continue;
            }
            let (failed, why) = match eval.rule(rule) {
                crate::interp::Outcome::NotApplicable { failed } => (failed, "did not hold".to_string()),
                crate::interp::Outcome::Error { condition, error } => {
                    (condition, format!("could not be evaluated: {error}"))
                }
                crate::interp::Outcome::Fired => continue,
            };
            let Some(c) = rule.conditions.get(failed) else { continue };
            let mut operands = Vec::new();
            collect(&rule.exprs, c.expr, &mut operands);
            let values = operands
                .into_iter()
                .filter_map(|id| {
                    let text = path_text(&rule.exprs, id, &program.strings)?;
                    let node = rule.exprs.get(id as usize)?;
                    Some(match eval.expr(&rule.exprs, id) {
                        Ok(v) => format!("{text} = {}", render(&eval, &node.ty, v)),
                        Err(e) => format!("{text}: {e}"),
                    })
                })
                .collect();
            out.push((rule.id.clone(), format!("`{}` {why}", c.text), values));
        }
        out
    }
}

/// The operands worth showing: the sides of comparisons, memberships,
/// pattern matches and method calls, when they are attribute paths.
fn collect(exprs: &[Expr], id: u32, out: &mut Vec<u32>) {
    let Some(e) = exprs.get(id as usize) else { return };
    match &e.kind {
        ExprKind::Not(x) => collect(exprs, *x, out),
        ExprKind::And(a, b) | ExprKind::Or(a, b) => {
            collect(exprs, *a, out);
            collect(exprs, *b, out);
        }
        ExprKind::Cmp { lhs, rhs, .. } | ExprKind::In { lhs, rhs } => {
            out.push(*lhs);
            out.push(*rhs);
        }
        ExprKind::Matches { lhs, .. } => out.push(*lhs),
        ExprKind::Method { recv, args, .. } => {
            out.push(*recv);
            out.extend(args.iter().copied());
        }
        ExprKind::Has { base, .. } | ExprKind::Is { base, .. } => out.push(*base),
        _ => {}
    }
}

/// `principal.owner.region` for an attribute path; `None` for anything else.
fn path_text(exprs: &[Expr], id: u32, strings: &[String]) -> Option<String> {
    match &exprs.get(id as usize)?.kind {
        ExprKind::Var(v) => Some(
            match v {
                Var::Principal => "principal",
                Var::Resource => "resource",
                Var::Context => "context",
                Var::Action => "action",
                Var::Now => "now",
                Var::Actor => "actor",
                Var::Chain => "chain",
                Var::ChainFirst => "chain.first",
                Var::ChainLast => "chain.last",
                Var::CurrentPrincipal => "current.principal",
                Var::CurrentResource => "current.resource",
                Var::CurrentContext => "current.context",
                Var::CurrentAction => "current.action",
                Var::Response => "response",
            }
            .to_string(),
        ),
        ExprKind::Attr { base, name } => {
            Some(format!("{}.{}", path_text(exprs, *base, strings)?, strings.get(*name as usize)?))
        }
        _ => None,
    }
}

/// A value in words.
pub fn render(eval: &Eval<'_>, ty: &Ty, v: Raw) -> String {
    let program = &eval.prepared.program;
    match ty {
        Ty::Bool => (v != 0).to_string(),
        Ty::Int => (v as i64).to_string(),
        Ty::Decimal => {
            let n = v as i64;
            let sign = if n < 0 { "-" } else { "" };
            format!("{sign}{}.{:04}", (n / 10_000).abs(), (n % 10_000).abs())
        }
        Ty::String => format!("{:?}", eval.view.string(v)),
        Ty::Time => format!("{} ms since 1970", v as i64),
        Ty::Date => {
            let (y, m, d) = crate::interp::civil(v as i64);
            format!("{y:04}-{m:02}-{d:02}")
        }
        Ty::Duration => format!("{} ms", v as i64),
        Ty::Ip => eval.view.ip(v).map_or_else(|| "?".to_string(), |ip| ip.to_string()),
        Ty::Cidr => eval.view.cidr(v).map_or_else(|| "?".to_string(), |(ip, p)| format!("{ip}/{p}")),
        Ty::Entity(_) => eval.frame.uid(eval.store, v as u32),
        Ty::Enum(e) => {
            program.enums.get(*e as usize).and_then(|en| en.variants.get(v as usize)).cloned().unwrap_or_default()
        }
        Ty::Action => program.actions.get(v as usize).map_or_else(String::new, |a| a.name.clone()),
        Ty::Set(el) => {
            let items: Vec<String> = eval.view.set(v).iter().map(|x| render(eval, el, *x)).collect();
            format!("[{}]", items.join(", "))
        }
        Ty::Record(_) | Ty::Unknown => "{…}".to_string(),
    }
}
