//! Hover: the type of an expression, the declaration of a name with its doc
//! comment, a rule's id and effect.

use std::fmt::Write as _;

use ward_grammar::Span;
use ward_grammar::ast::*;

use super::{Symbol, locs_of, symbol_at, unit_at, unit_index};
use crate::diagnostic::FileId;
use crate::schema::{ActionInfo, EntityInfo, SchemaEnv, schema_env};
use crate::symbols::{DetectorKind, symbols};
use crate::types::{Field, Type};
use crate::units::{Loc, Unit, unit};
use crate::workspace::Workspace;

/// What to show: Markdown, and the span it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hover {
    pub span: Span,
    pub markdown: String,
}

/// The hover at `offset` of `file`.
pub fn hover(ws: &Workspace, id: FileId, offset: u32) -> Option<Hover> {
    let file = ws.file(id)?;
    let text = ws.text(id)?;
    let expr = expr_at(ws, id, offset);
    if let Some((symbol, span, _)) = symbol_at(ws, id, offset) {
        let mut markdown = describe(ws, &symbol);
        if let (Symbol::ContextField(_), Some((_, ty))) = (&symbol, &expr) {
            markdown = markdown.replacen("{type}", &ty.to_string(), 1);
        }
        return Some(Hover { span, markdown: markdown.replace("{type}", "…") });
    }
    let _ = file;
    if let Some(hover) = method_hover(text, offset) {
        return Some(hover);
    }
    let (span, ty) = expr?;
    let source = text.get(span.range()).unwrap_or("");
    let mut shown: String = source.split_whitespace().collect::<Vec<_>>().join(" ");
    if shown.chars().count() > 60 {
        shown = shown.chars().take(57).collect::<String>() + "…";
    }
    if matches!(shown.as_str(), "?principal" | "?resource") {
        let markdown = format!(
            "```ward\n{shown}: {ty}\n```\nA template slot: each link fills it with an entity of this type, and the linked rule is reported as `POLICY.ID[LINK]`."
        );
        return Some(Hover { span, markdown });
    }
    Some(Hover { span, markdown: format!("```ward\n{shown}: {ty}\n```") })
}

/// A method's signatures and meaning when `offset` is on the name of a
/// method call (`.email_domains(`): the word is read from the text, since
/// method names are not symbols.
fn method_hover(text: &str, offset: u32) -> Option<Hover> {
    let at = (offset as usize).min(text.len());
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let start = text.get(..at)?.rfind(|c: char| !word(c)).map_or(0, |i| i + 1);
    let end = at + text.get(at..)?.find(|c: char| !word(c)).unwrap_or(text.len() - at);
    let name = text.get(start..end)?;
    let called = text.get(end..)?.trim_start().starts_with('(');
    let member = text.get(..start)?.trim_end().ends_with('.');
    if name.is_empty() || !called || !member {
        return None;
    }
    let sigs = super::complete::method_signatures(name);
    if sigs.is_empty() {
        return None;
    }
    let markdown = sigs.iter().map(|s| format!("```ward\n.{s}\n```")).collect::<Vec<_>>().join("\n");
    Some(Hover { span: Span::new(start, end), markdown })
}

/// The innermost expression at `offset` that has a type, and its type.
pub(crate) fn expr_at(ws: &Workspace, id: FileId, offset: u32) -> Option<(Span, Type)> {
    let file = ws.file(id)?;
    let (key, spans) = unit_at(ws, file, offset)?;
    let ix = unit_index(ws.db(), ws.project(), file, key);
    let mut best: Option<(Span, &Type)> = None;
    for (ordinal, ty) in &ix.types {
        let Some(span) = spans.get(*ordinal as usize).copied() else { continue };
        if span.start <= offset && offset <= span.end && best.is_none_or(|(b, _)| span.len() < b.len()) {
            best = Some((span, ty));
        }
    }
    best.map(|(s, t)| (s, t.clone()))
}

fn code(text: &str) -> String {
    format!("```ward\n{text}\n```")
}

fn with_docs(mut out: String, docs: &[String]) -> String {
    if !docs.is_empty() {
        out.push_str("\n\n");
        out.push_str(&docs.iter().map(|l| l.trim()).collect::<Vec<_>>().join("\n"));
    }
    out
}

fn list(names: &[std::sync::Arc<str>]) -> String {
    names.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
}

/// `name?: Type` (the `?` when optional).
fn field_sig(name: &str, f: &Field) -> String {
    format!("{name}{}: {}", if f.optional { "?" } else { "" }, f.ty)
}

/// A Markdown description of a symbol: its declaration and documentation.
/// `{type}` stands for the type at the hovered place, when there is one.
pub(crate) fn describe(ws: &Workspace, symbol: &Symbol) -> String {
    let db = ws.db();
    let env = schema_env(db, ws.project());
    let syms = symbols(db, ws.project());
    let first_docs = || locs_of(ws, symbol).first().map(|l| decl_docs(ws, *l)).unwrap_or_default();
    match symbol {
        Symbol::Entity(q) => match env.entities.get(q) {
            Some(info) => entity_hover(q, info),
            None => code(&format!("entity {q}")),
        },
        Symbol::Enum(q) => {
            let Some(info) = env.enums.get(q) else { return code(&format!("enum {q}")) };
            let ordered = if info.ordered { " ordered" } else { "" };
            with_docs(code(&format!("enum {q}{ordered} {{ {} }}", list(&info.variants))), &info.docs)
        }
        Symbol::Alias(q) => {
            let ty = env.aliases.get(q).map_or_else(|| "…".to_string(), |(t, _)| t.to_string());
            with_docs(code(&format!("type {q} = {ty}")), &first_docs())
        }
        Symbol::Attribute { owner, name } => {
            let field = env.entities.get(owner).and_then(|e| e.attrs.fields.get(name));
            let sig = match field {
                Some(f) => format!("{owner}.{}", field_sig(name, f)),
                None => format!("{owner}.{name}"),
            };
            let mut out = with_docs(code(&sig), &first_docs());
            if field.is_some_and(|f| f.optional) {
                out.push_str(&format!("\n\nOptional: test it with `has {name}` before reading it."));
            }
            out
        }
        Symbol::ContextField(name) => with_docs(context_field_hover(env, name), &first_docs()),
        Symbol::Action(q) => match env.actions.get(q) {
            Some(info) => action_hover(env, q, info),
            None => code(&format!("action {q}")),
        },
        Symbol::EnumValue { owner, name } => {
            let docs = env.enums.get(owner).map(|e| e.docs.clone()).unwrap_or_default();
            let ordered = env.enums.get(owner).is_some_and(|e| e.ordered);
            let position = env.enums.get(owner).and_then(|e| e.variants.iter().position(|v| v == name));
            let mut out = code(&format!("{owner}::{name}"));
            if let (true, Some(p)) = (ordered, position) {
                let _ = write!(out, "\n\nValue {} of the ordered enum `{owner}`.", p + 1);
            } else {
                let _ = write!(out, "\n\nA value of the enum `{owner}`.");
            }
            with_docs(out, &docs)
        }
        Symbol::Agent(n) => {
            let ty = syms.agents.get(n).and_then(|a| a.first()).map_or_else(String::new, |a| format!(": {}", a.ty));
            let (docs, description) = agent_details(ws, symbol);
            let mut out = with_docs(code(&format!("agent {n}{ty}")), &docs);
            if let Some(d) = description {
                let _ = write!(out, "\n\n{d}");
            }
            out
        }
        Symbol::Detector(q) => {
            let Some(d) = syms.detectors.get(q).and_then(|d| d.first()) else { return code(&format!("detector {q}")) };
            let def = match &d.kind {
                DetectorKind::Builtin(b) => format!("builtin \"{b}\""),
                DetectorKind::Pattern => "pattern …".to_string(),
                DetectorKind::Keywords => "keywords […]".to_string(),
                DetectorKind::Group(members) => format!("[{}]", members.join(", ")),
            };
            with_docs(code(&format!("detector {q} = {def}")), &d.docs)
        }
        Symbol::Fixture(n) => with_docs(code(&format!("fixture {n}")), &first_docs()),
        Symbol::Policy(n) => {
            let rules = syms
                .rules
                .keys()
                .filter(|k| k.split_once('.').is_some_and(|(p, rest)| p == &**n && rest.parse::<u32>().is_ok()))
                .count();
            code(&format!("policy {n}")) + &format!("\n\n{rules} member{}.", if rules == 1 { "" } else { "s" })
        }
        Symbol::Rule { policy, position } => rule_hover(ws, policy, *position),
    }
}

fn entity_hover(q: &str, info: &EntityInfo) -> String {
    let mut sig = format!("entity {q}");
    if !info.parents.is_empty() {
        let _ = write!(sig, " in [{}]", list(&info.parents));
    }
    if !info.attrs.fields.is_empty() {
        sig.push_str(" {");
        for (name, f) in &info.attrs.fields {
            let _ = write!(sig, "\n  {},", field_sig(name, f));
        }
        sig.push_str("\n}");
    }
    if let Some(t) = &info.tags {
        let _ = write!(sig, " tags {t}");
    }
    with_docs(code(&sig), &info.docs)
}

/// A context field: its type in the schema's `context`, else the type it has
/// in the actions that declare it (and which they are).
fn context_field_hover(env: &SchemaEnv, name: &str) -> String {
    if let Some(f) = env.context.fields.get(name) {
        let mut s = code(&format!("context.{}", field_sig(name, f)));
        if env.verified.contains(name) {
            s.push_str("\n\n`@verified`: set only by the enforcement point from authenticated sources, never taken from the caller.");
        }
        return s;
    }
    let actions: Vec<String> =
        env.actions.values().filter(|a| a.context.fields.contains_key(name)).map(|a| format!("`{}`", a.name)).collect();
    let ty = env
        .actions
        .values()
        .find_map(|a| a.context.fields.get(name))
        .map_or_else(|| "{type}".to_string(), |f| f.ty.to_string());
    let mut s = code(&format!("context.{name}: {ty}"));
    if !actions.is_empty() {
        let _ = write!(s, "\n\nA field of the context of {}.", actions.join(", "));
    }
    s
}

/// An action's declaration as it could be written (its own context fields
/// only), and a group's members.
fn action_hover(env: &SchemaEnv, q: &str, info: &ActionInfo) -> String {
    let mut sig = String::new();
    if info.sensitive {
        sig.push_str("@sensitive\n");
    }
    let _ = write!(sig, "action {q}");
    if !info.parents.is_empty() {
        let _ = write!(sig, " in [{}]", list(&info.parents));
    }
    if let Some(p) = &info.principals {
        let _ = write!(sig, " by [{}]", list(p));
    }
    if let Some(r) = &info.resources {
        let _ = write!(sig, " on [{}]", list(r));
    }
    let own: Vec<String> = info
        .context
        .fields
        .iter()
        .filter(|(k, f)| env.context.fields.get(*k) != Some(*f))
        .map(|(k, f)| field_sig(k, f))
        .collect();
    if !own.is_empty() {
        let _ = write!(sig, " with {{ {} }}", own.join(", "));
    }
    if let Some(t) = &info.returns {
        let _ = write!(sig, " returns {t}");
    }
    let mut md = with_docs(code(&sig), &info.docs);
    if env.groups.contains(q) {
        let members: Vec<&str> =
            env.actions.keys().filter(|k| &***k != q && env.action_in(k, q)).map(|k| &**k).collect();
        let _ = write!(md, "\n\nA group of actions: {}.", members.join(", "));
    }
    md
}

fn rule_hover(ws: &Workspace, policy: &str, position: u32) -> String {
    let db = ws.db();
    let syms = symbols(db, ws.project());
    let Some(loc) = syms.rules.get(&format!("{policy}.{position}")).and_then(|l| l.first()) else {
        return code(&format!("{policy}.{position}"));
    };
    let Some(u) = unit(db, loc.file, loc.unit) else { return String::new() };
    let Unit::Member { item, .. } = &*u else { return String::new() };
    let (what, annotations, docs) = match item {
        PolicyItem::Rule(r) => {
            let effect = match r.effect {
                Effect::Permit => "permit",
                Effect::Forbid => "forbid",
            };
            (effect, &r.annotations, &r.docs)
        }
        PolicyItem::Mask(m) => ("mask", &m.annotations, &m.docs),
        PolicyItem::Limit(l) => ("limit", &l.annotations, &l.docs),
        PolicyItem::Error(_) => return String::new(),
    };
    let arg = |name: &str| annotations.iter().find(|a| a.name.name == name).and_then(Annotation::arg_text);
    let id = match arg("id") {
        Some(id) => format!("{policy}.{id}"),
        None => format!("{policy}.{position}"),
    };
    let mut out = code(&format!("{what} {id}"));
    let effect_text = match what {
        "permit" => "allows the requests it matches, unless a `forbid` applies",
        "forbid" => "denies the requests it matches, whatever any `permit` says",
        "mask" => "masks values in what the agent sees",
        _ => match item {
            PolicyItem::Limit(l) => match l.measure.as_ref().map(|m| m.kind) {
                Some(MeasureKind::Sum) => "limits the sum of an amount over the requests it matches (a budget)",
                Some(MeasureKind::Distinct) => "limits how many distinct values the requests it matches may reach",
                None => "limits how often the requests it matches may happen",
            },
            _ => "limits how often the requests it matches may happen",
        },
    };
    let _ = write!(out, "\n\nRule `{id}` (member {position} of `{policy}`): {effect_text}.");
    if annotations.iter().any(|a| a.name.name == "shadow") {
        out.push_str(" Shadow: evaluated and logged, never enforced.");
    }
    if let Some(severity) = arg("severity") {
        let _ = write!(out, "\n\nSeverity: {severity}.");
    }
    if let Some(reason) = arg("reason") {
        let _ = write!(out, "\n\nReason: {reason}");
    }
    with_docs(out, &docs.lines)
}

fn agent_details(ws: &Workspace, symbol: &Symbol) -> (Vec<String>, Option<String>) {
    let Some(loc) = locs_of(ws, symbol).first().copied() else { return (Vec::new(), None) };
    let Some(u) = unit(ws.db(), loc.file, loc.unit) else { return (Vec::new(), None) };
    let Unit::Agent(a) = &*u else { return (Vec::new(), None) };
    let description = a.fields.iter().find_map(|f| match &f.kind {
        AgentFieldKind::Description(l) => l.string_value().map(str::to_string),
        _ => None,
    });
    (a.docs.lines.clone(), description)
}

/// The doc comment of the declaration at `loc`.
pub(crate) fn decl_docs(ws: &Workspace, loc: Loc) -> Vec<String> {
    let Some(u) = unit(ws.db(), loc.file, loc.unit) else { return Vec::new() };
    let at = |span: Span| span.start == loc.ordinal;
    let fields = |r: &RecordType| r.fields.iter().find(|f| at(f.name.span)).map(|f| f.docs.lines.clone());
    match &*u {
        Unit::Schema(s) => {
            for item in &s.items {
                let found = match item {
                    SchemaItem::Entity(e) if at(e.name.span) => Some(e.docs.lines.clone()),
                    SchemaItem::Entity(e) => e.attrs.as_ref().and_then(fields),
                    SchemaItem::Enum(e) if at(e.name.span) => Some(e.docs.lines.clone()),
                    SchemaItem::TypeAlias(t) if at(t.name.span) => Some(t.docs.lines.clone()),
                    SchemaItem::Action(a) if a.names.iter().any(|n| at(n.span)) => Some(a.docs.lines.clone()),
                    SchemaItem::Action(a) => a.context.as_ref().and_then(fields),
                    SchemaItem::Context(c) => {
                        fields(&c.fields).or_else(|| Some(c.docs.lines.clone()).filter(|_| false))
                    }
                    _ => None,
                };
                if let Some(docs) = found {
                    return docs;
                }
            }
            Vec::new()
        }
        Unit::Agent(a) => a.docs.lines.clone(),
        Unit::Detector(d) => d.docs.lines.clone(),
        Unit::Fixture(f) => f.docs.lines.clone(),
        _ => Vec::new(),
    }
}
