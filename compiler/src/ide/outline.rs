//! The outline of a file (document symbols), the project's symbols for
//! workspace search, and semantic highlighting from the lexer's tokens.

use std::collections::HashMap;

use ward_grammar::Span;
use ward_grammar::ast::*;
use ward_grammar::lexer::{TokenKind, lex};

use super::{Symbol, unit_index};
use crate::diagnostic::FileId;
use crate::units::{parse, relocated, unit_keys};
use crate::workspace::Workspace;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutlineKind {
    Import,
    Schema,
    Entity,
    Attribute,
    Enum,
    EnumValue,
    TypeAlias,
    Action,
    Context,
    ContextField,
    Agent,
    Detector,
    Policy,
    Rule,
    Mask,
    Limit,
    Fixture,
    Test,
}

/// An entry of the outline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlineItem {
    pub name: String,
    pub detail: Option<String>,
    pub kind: OutlineKind,
    /// The whole declaration.
    pub span: Span,
    /// Its name.
    pub selection: Span,
    pub children: Vec<OutlineItem>,
}

fn item(name: impl Into<String>, kind: OutlineKind, span: Span, selection: Span) -> OutlineItem {
    OutlineItem { name: name.into(), detail: None, kind, span, selection, children: Vec::new() }
}

fn fields(r: &RecordType, kind: OutlineKind) -> Vec<OutlineItem> {
    r.fields
        .iter()
        .map(|f| {
            let mut i = item(&f.name.name, kind, f.span, f.name.span);
            i.detail = Some(format!("{}{}", if f.optional { "?" } else { "" }, type_text(&f.ty)));
            i
        })
        .collect()
}

fn type_text(t: &TypeExpr) -> String {
    match t {
        TypeExpr::Named { name, arg: Some(arg), .. } => format!("{}<{}>", name.text(), type_text(arg)),
        TypeExpr::Named { name, .. } => name.text(),
        TypeExpr::Record(_) => "{ … }".to_string(),
        TypeExpr::Union { members, .. } => members.iter().map(type_text).collect::<Vec<_>>().join(" | "),
    }
}

/// The outline of `file`: its items and their members. Items that did not
/// parse are left out; the others are all there.
pub fn document_symbols(ws: &Workspace, file: FileId) -> Vec<OutlineItem> {
    let Some(f) = ws.file(file) else { return Vec::new() };
    let tree = &parse(ws.db(), f).file;
    let mut out = Vec::new();
    for it in &tree.items {
        match it {
            Item::Import(i) => out.push(item(i.path.text(), OutlineKind::Import, i.span, i.path.span)),
            Item::Schema(s) => {
                let mut schema = item(&s.name.name, OutlineKind::Schema, s.span, s.name.span);
                for m in &s.items {
                    match m {
                        SchemaItem::Entity(e) => {
                            let mut x = item(&e.name.name, OutlineKind::Entity, e.span, e.name.span);
                            if let Some(attrs) = &e.attrs {
                                x.children = fields(attrs, OutlineKind::Attribute);
                            }
                            schema.children.push(x);
                        }
                        SchemaItem::Enum(e) => {
                            let mut x = item(&e.name.name, OutlineKind::Enum, e.span, e.name.span);
                            x.children = e
                                .variants
                                .iter()
                                .map(|v| item(&v.name, OutlineKind::EnumValue, v.span, v.span))
                                .collect();
                            schema.children.push(x);
                        }
                        SchemaItem::TypeAlias(t) => {
                            let mut x = item(&t.name.name, OutlineKind::TypeAlias, t.span, t.name.span);
                            x.detail = Some(type_text(&t.ty));
                            schema.children.push(x);
                        }
                        SchemaItem::Action(a) => {
                            for n in &a.names {
                                let mut x = item(&n.name, OutlineKind::Action, a.span, n.span);
                                if let Some(c) = &a.context {
                                    x.children = fields(c, OutlineKind::ContextField);
                                }
                                schema.children.push(x);
                            }
                        }
                        SchemaItem::Context(c) => {
                            let mut x = item("context", OutlineKind::Context, c.span, c.span);
                            x.children = fields(&c.fields, OutlineKind::ContextField);
                            schema.children.push(x);
                        }
                        SchemaItem::Error(_) => {}
                    }
                }
                out.push(schema);
            }
            Item::Agent(a) => {
                let mut x = item(&a.name.name, OutlineKind::Agent, a.span, a.name.span);
                x.detail = Some(a.ty.text());
                out.push(x);
            }
            Item::Detector(d) => out.push(item(&d.name.name, OutlineKind::Detector, d.span, d.name.span)),
            Item::Fixture(f) => out.push(item(&f.name.name, OutlineKind::Fixture, f.span, f.name.span)),
            Item::Test(t) => {
                let name = t.name.string_value().unwrap_or(&t.name.raw).to_string();
                out.push(item(name, OutlineKind::Test, t.span, t.name.span));
            }
            Item::Assert(a) => {
                let name = a
                    .name
                    .as_ref()
                    .map_or_else(|| "assert".to_string(), |n| n.string_value().unwrap_or(&n.raw).to_string());
                let anchor = a.name.as_ref().map_or(a.quantifier_span, |n| n.span);
                out.push(item(name, OutlineKind::Test, a.span, anchor));
            }
            Item::Policy(p) => {
                let mut policy = item(&p.name.name, OutlineKind::Policy, p.span, p.name.span);
                for (i, m) in p.items.iter().enumerate() {
                    let (what, kind, annotations, span, selection) = match m {
                        PolicyItem::Rule(r) => {
                            let effect = if r.effect == Effect::Permit { "permit" } else { "forbid" };
                            (effect, OutlineKind::Rule, &r.annotations, r.span, r.effect_span)
                        }
                        PolicyItem::Mask(x) => ("mask", OutlineKind::Mask, &x.annotations, x.span, x.span),
                        PolicyItem::Limit(x) => ("limit", OutlineKind::Limit, &x.annotations, x.span, x.span),
                        PolicyItem::Error(_) => continue,
                    };
                    let id = annotations.iter().find(|a| a.name.name == "id").and_then(|a| match &a.arg {
                        Some(AnnotationArg::Lit(l)) => l.string_value().map(str::to_string),
                        _ => None,
                    });
                    let name = id.unwrap_or_else(|| format!("{what} #{}", i + 1));
                    // The selection must lie inside the range.
                    let selection = if selection.start >= span.start && selection.end <= span.end {
                        Span { start: selection.start, end: selection.end.min(selection.start + what.len() as u32) }
                    } else {
                        span
                    };
                    let mut x = item(name, kind, span, selection);
                    x.detail = Some(what.to_string());
                    policy.children.push(x);
                }
                out.push(policy);
            }
            Item::Error(_) => {}
        }
    }
    out
}

/// A symbol of the project, for workspace symbol search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectSymbol {
    pub name: String,
    pub kind: OutlineKind,
    pub container: Option<String>,
    pub file: FileId,
    pub span: Span,
}

/// The declarations of every file whose name matches `query` (a
/// case-insensitive subsequence; an empty query matches everything), best
/// matches first, at most `limit`.
pub fn workspace_symbols(ws: &Workspace, query: &str, limit: usize) -> Vec<ProjectSymbol> {
    let query = query.to_lowercase();
    let mut out: Vec<(u8, ProjectSymbol)> = Vec::new();
    fn walk(
        items: &[OutlineItem],
        container: Option<&str>,
        file: FileId,
        query: &str,
        out: &mut Vec<(u8, ProjectSymbol)>,
    ) {
        for i in items {
            if let Some(rank) = matches(&i.name, query) {
                let symbol = ProjectSymbol {
                    name: i.name.clone(),
                    kind: i.kind,
                    container: container.map(str::to_string),
                    file,
                    span: i.selection,
                };
                out.push((rank, symbol));
            }
            walk(&i.children, Some(&i.name), file, query, out);
        }
    }
    for (id, _) in ws.files() {
        walk(&document_symbols(ws, id), None, id, &query, &mut out);
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
    out.into_iter().take(limit).map(|(_, s)| s).collect()
}

/// 0: exact, 1: prefix, 2: substring, 3: subsequence.
fn matches(name: &str, query: &str) -> Option<u8> {
    let lower = name.to_lowercase();
    if query.is_empty() || lower == query {
        return Some(0);
    }
    if lower.starts_with(query) {
        return Some(1);
    }
    if lower.contains(query) {
        return Some(2);
    }
    let mut chars = lower.chars();
    query.chars().all(|q| chars.any(|c| c == q)).then_some(3)
}

/// What a token is, for highlighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenClass {
    Keyword,
    Type,
    Enum,
    EnumMember,
    Property,
    Function,
    Variable,
    Namespace,
    String,
    Number,
    Comment,
    DocComment,
    Operator,
    Decorator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemanticToken {
    pub span: Span,
    pub class: TokenClass,
    /// Declared here (rather than used).
    pub declaration: bool,
}

/// Words that are keywords only where they introduce a clause.
const CONTEXTUAL: [&str; 34] = [
    "namespace",
    "assert",
    "on",
    "with",
    "using",
    "per",
    "within",
    "where",
    "by",
    "ordered",
    "returns",
    "tags",
    "every",
    "last",
    "burst",
    "fail",
    "open",
    "closed",
    "rotate",
    "credentials",
    "review",
    "created",
    "expires",
    "attrs",
    "description",
    "expect",
    "request",
    "entities",
    "at",
    "advance",
    "as",
    "count",
    "sum",
    "distinct",
];

/// Highlighting for `file`: every token the lexer finds, classified by
/// kind, and names by what they denote where the file is understood.
pub fn semantic_tokens(ws: &Workspace, file: FileId) -> Vec<SemanticToken> {
    let Some(f) = ws.file(file) else { return Vec::new() };
    let db = ws.db();
    let text = f.text(db);
    // What each name denotes, by the start and end of its span.
    let mut names: HashMap<u32, (u32, Symbol, bool)> = HashMap::new();
    let rel = relocated(db, f);
    for key in unit_keys(db, f) {
        let Some(spans) = rel.spans.get(key) else { continue };
        for o in &unit_index(db, ws.project(), f, *key).occurrences {
            if let Some(span) = spans.get(o.ordinal as usize) {
                names.insert(span.start, (span.end, o.symbol.clone(), o.role == super::Role::Def));
            }
        }
    }
    let mut out = Vec::new();
    let tokens = lex(text);
    let mut path_end: Option<(u32, TokenClass, bool)> = None;
    let mut after_at = false;
    for t in &tokens {
        let word = text.get(t.span.range()).unwrap_or("");
        let class = match t.kind {
            TokenKind::Comment => Some(TokenClass::Comment),
            TokenKind::DocComment => Some(TokenClass::DocComment),
            TokenKind::String | TokenKind::UnterminatedString => {
                // A rule id names the rule; highlight it as a string all the same.
                Some(TokenClass::String)
            }
            TokenKind::Integer | TokenKind::Decimal | TokenKind::Duration | TokenKind::Date | TokenKind::DateTime => {
                Some(TokenClass::Number)
            }
            TokenKind::At => Some(TokenClass::Decorator),
            k if k.is_reserved() => Some(TokenClass::Keyword),
            TokenKind::Ident => {
                if after_at {
                    Some(TokenClass::Decorator)
                } else if let Some((end, symbol, decl)) = names.get(&t.span.start) {
                    let class = symbol_class(symbol);
                    if *end > t.span.end {
                        // A path (`pii.email`): its module, then the name at its end.
                        path_end = Some((*end, class, *decl));
                        Some(TokenClass::Namespace)
                    } else {
                        out.push(SemanticToken { span: t.span, class, declaration: *decl });
                        None
                    }
                } else if let Some((end, class, decl)) = path_end.filter(|(end, _, _)| t.span.end <= *end) {
                    if t.span.end == end {
                        out.push(SemanticToken { span: t.span, class, declaration: decl });
                        None
                    } else {
                        Some(TokenClass::Namespace)
                    }
                } else if CONTEXTUAL.contains(&word) {
                    Some(TokenClass::Keyword)
                } else {
                    None
                }
            }
            TokenKind::Dot | TokenKind::Comma | TokenKind::Colon | TokenKind::Semi => None,
            TokenKind::LBrace
            | TokenKind::RBrace
            | TokenKind::LParen
            | TokenKind::RParen
            | TokenKind::LBracket
            | TokenKind::RBracket
            | TokenKind::Error
            | TokenKind::Eof => None,
            _ => Some(TokenClass::Operator),
        };
        after_at = t.kind == TokenKind::At;
        if let Some(class) = class {
            out.push(SemanticToken { span: t.span, class, declaration: false });
        }
    }
    out
}

fn symbol_class(symbol: &Symbol) -> TokenClass {
    match symbol {
        Symbol::Entity(_) | Symbol::Alias(_) => TokenClass::Type,
        Symbol::Enum(_) => TokenClass::Enum,
        Symbol::EnumValue { .. } => TokenClass::EnumMember,
        Symbol::Attribute { .. } | Symbol::ContextField(_) => TokenClass::Property,
        Symbol::Action(_) | Symbol::Detector(_) => TokenClass::Function,
        Symbol::Agent(_) | Symbol::Fixture(_) => TokenClass::Variable,
        Symbol::Policy(_) => TokenClass::Namespace,
        Symbol::Rule { .. } => TokenClass::String,
    }
}
