//! IDE queries: what is at an offset, where it is declared and used, what to
//! show on hover, what to complete, the outline, fixes and highlighting.
//!
//! Everything here reads the same salsa database as `ward check` (through a
//! [`Workspace`]); nothing is checked twice. Offsets and spans are byte
//! offsets into a file's current text; the LSP layer converts them to the
//! protocol's line/column positions.
//!
//! The per-unit [`index::unit_index`] query re-runs a unit's check with type
//! recording on (as lowering does) and records every name's meaning; it is
//! memoized like the check itself, so after an edit only the edited unit is
//! re-indexed. Units whose item did not parse are simply absent, so a file
//! with a syntax error still has hover, navigation and completion in its
//! intact items.

mod complete;
mod fixes;
mod hover;
pub mod index;
mod outline;

use std::panic::{AssertUnwindSafe, catch_unwind};

use ward_grammar::Span;
use ward_grammar::lexer::RESERVED_WORDS as RESERVED;

use crate::db::{Origin, SourceFile};
use crate::diagnostic::FileId;
use crate::schema::{action_key, schema_env};
use crate::symbols::symbols;
use crate::units::{Loc, UnitKey, file_index, relocated, span_of, unit_keys};
use crate::workspace::Workspace;

pub use complete::{Completion, CompletionKind, completions};
pub use fixes::{Fix, code_actions};
pub use hover::{Hover, hover};
pub use index::{Occurrence, Role, Symbol, UnitIndex, unit_index};
pub use outline::{
    OutlineItem, OutlineKind, ProjectSymbol, SemanticToken, TokenClass, document_symbols, semantic_tokens,
    workspace_symbols,
};

/// A span in a file of the workspace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileSpan {
    pub file: FileId,
    pub span: Span,
}

/// A text edit: replace `span` of `file` with `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub file: FileId,
    pub span: Span,
    pub text: String,
}

/// Why a query produced no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The database was edited while the query ran (salsa cancelled it):
    /// the answer would have been for a text that no longer exists.
    Cancelled,
    /// The query panicked (a bug); the message, for the log.
    Panic(String),
}

/// Runs `f`, turning salsa's cancellation and any panic into a [`Failure`],
/// so that a server can keep serving.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, Failure> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        if payload.is::<salsa::Cancelled>() {
            Failure::Cancelled
        } else if let Some(s) = payload.downcast_ref::<&str>() {
            Failure::Panic((*s).to_string())
        } else if let Some(s) = payload.downcast_ref::<String>() {
            Failure::Panic(s.clone())
        } else {
            Failure::Panic("a panic with no message".to_string())
        }
    })
}

/// The unit of `file` whose text contains `offset`, and its real spans
/// (indexed by ordinal).
pub(crate) fn unit_at(ws: &Workspace, file: SourceFile, offset: u32) -> Option<(UnitKey, &[Span])> {
    let db = ws.db();
    let rel = relocated(db, file);
    let mut best: Option<(UnitKey, &[Span], u32)> = None;
    for key in unit_keys(db, file) {
        let Some(spans) = rel.spans.get(key) else { continue };
        let (start, end) = extent(spans);
        if start <= offset && offset <= end {
            let len = end - start;
            // Members lie inside their policy's extent: take the smallest.
            if best.is_none_or(|(_, _, l)| len < l) {
                best = Some((*key, spans.as_slice(), len));
            }
        }
    }
    best.map(|(k, s, _)| (k, s))
}

fn extent(spans: &[Span]) -> (u32, u32) {
    let start = spans.iter().map(|s| s.start).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end).max().unwrap_or(0);
    (start, end)
}

/// The file in the canonical layout (`ward fmt`), or `None` when it has
/// syntax errors (the diagnostics show them; nothing is rewritten).
pub fn format(ws: &Workspace, file: FileId) -> Option<String> {
    ward_grammar::format::format_source(ws.text(file)?).ok()
}

/// The name at `offset` of `file`: its symbol, its span and how it is used there.
pub fn symbol_at(ws: &Workspace, id: FileId, offset: u32) -> Option<(Symbol, Span, Role)> {
    let file = ws.file(id)?;
    let (key, spans) = unit_at(ws, file, offset)?;
    let ix = unit_index(ws.db(), ws.project(), file, key);
    let mut best: Option<(Symbol, Span, Role)> = None;
    for o in &ix.occurrences {
        let Some(span) = spans.get(o.ordinal as usize).copied() else { continue };
        if span.start <= offset && offset <= span.end && best.as_ref().is_none_or(|(_, b, _)| span.len() < b.len()) {
            best = Some((o.symbol.clone(), span, o.role));
        }
    }
    best
}

fn file_span(ws: &Workspace, loc: Loc) -> Option<FileSpan> {
    Some(FileSpan { file: ws.id_of(loc.file)?, span: span_of(ws.db(), loc) })
}

/// Where a declaration is, given where its table entry points.
fn locs_of(ws: &Workspace, symbol: &Symbol) -> Vec<Loc> {
    let db = ws.db();
    let env = schema_env(db, ws.project());
    let syms = symbols(db, ws.project());
    match symbol {
        Symbol::Entity(q) | Symbol::Enum(q) | Symbol::Alias(q) => env.declarations.get(q).cloned().unwrap_or_default(),
        Symbol::Action(q) => env.declarations.get(&action_key(q)).cloned().unwrap_or_default(),
        Symbol::Attribute { owner, name } => {
            env.entities.get(owner).and_then(|e| e.attr_locs.get(name)).copied().into_iter().collect()
        }
        Symbol::EnumValue { owner, .. } => {
            let Some(info) = env.enums.get(owner) else { return Vec::new() };
            defs_in_unit(ws, info.loc.file, info.loc.unit, symbol)
        }
        Symbol::ContextField(_) => {
            let mut out = Vec::new();
            for (_, file) in ws.files() {
                for key in &file_index(db, file).schemas {
                    out.extend(defs_in_unit(ws, file, *key, symbol));
                }
            }
            out
        }
        Symbol::Agent(n) => syms.agents.get(n).map(|v| v.iter().map(|a| a.loc).collect()).unwrap_or_default(),
        Symbol::Detector(q) => syms.detectors.get(q).map(|v| v.iter().map(|d| d.loc).collect()).unwrap_or_default(),
        Symbol::Fixture(n) => syms.fixtures.get(n).cloned().unwrap_or_default(),
        Symbol::Policy(n) => syms.policies.get(n).cloned().unwrap_or_default(),
        Symbol::Rule { policy, position } => {
            let Some(loc) = syms.rules.get(&format!("{policy}.{position}")).and_then(|l| l.first()) else {
                return Vec::new();
            };
            let defs = defs_in_unit(ws, loc.file, loc.unit, symbol);
            if defs.is_empty() { vec![*loc] } else { defs }
        }
    }
}

fn defs_in_unit(ws: &Workspace, file: SourceFile, key: UnitKey, symbol: &Symbol) -> Vec<Loc> {
    unit_index(ws.db(), ws.project(), file, key)
        .occurrences
        .iter()
        .filter(|o| o.role == Role::Def && o.symbol == *symbol)
        .map(|o| Loc { file, unit: key, ordinal: o.ordinal })
        .collect()
}

/// Where `symbol` is declared (more than one place when declared twice).
pub fn definitions(ws: &Workspace, symbol: &Symbol) -> Vec<FileSpan> {
    locs_of(ws, symbol).into_iter().filter_map(|loc| file_span(ws, loc)).collect()
}

/// Go-to-definition: the declarations of the name at `offset`.
pub fn goto_definition(ws: &Workspace, file: FileId, offset: u32) -> Vec<FileSpan> {
    match symbol_at(ws, file, offset) {
        Some((symbol, _, _)) => definitions(ws, &symbol),
        None => Vec::new(),
    }
}

/// A word the symbol's references must contain, to skip units quickly.
fn needle(symbol: &Symbol) -> Option<String> {
    let last = |q: &str| q.rsplit('.').next().unwrap_or(q).to_string();
    match symbol {
        Symbol::Entity(q)
        | Symbol::Enum(q)
        | Symbol::Alias(q)
        | Symbol::Action(q)
        | Symbol::Detector(q)
        | Symbol::Agent(q)
        | Symbol::Fixture(q)
        | Symbol::Policy(q)
        | Symbol::ContextField(q) => Some(last(q)),
        Symbol::Attribute { name, .. } | Symbol::EnumValue { name, .. } => Some(name.to_string()),
        Symbol::Rule { policy, .. } => Some(policy.to_string()),
    }
}

/// Every place `symbol` is named, declarations included when `with_decls`.
pub fn references(ws: &Workspace, symbol: &Symbol, with_decls: bool) -> Vec<FileSpan> {
    let db = ws.db();
    let needle = needle(symbol);
    let mut out = Vec::new();
    for (id, file) in ws.files() {
        let text = file.text(db);
        if needle.as_deref().is_some_and(|n| !text.contains(n)) {
            continue;
        }
        let rel = relocated(db, file);
        for key in unit_keys(db, file) {
            let Some(spans) = rel.spans.get(key) else { continue };
            if let Some(n) = &needle {
                let (start, end) = extent(spans);
                if !text.get(start as usize..end as usize).is_some_and(|t| t.contains(n.as_str())) {
                    continue;
                }
            }
            for o in &unit_index(db, ws.project(), file, *key).occurrences {
                let wanted = match o.role {
                    Role::Def => with_decls,
                    Role::Ref => true,
                    Role::Anchor => false,
                };
                if wanted
                    && o.symbol == *symbol
                    && let Some(span) = spans.get(o.ordinal as usize)
                {
                    out.push(FileSpan { file: id, span: *span });
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Find-references from a position.
pub fn find_references(ws: &Workspace, file: FileId, offset: u32, with_decls: bool) -> Vec<FileSpan> {
    match symbol_at(ws, file, offset) {
        Some((symbol, _, _)) => references(ws, &symbol, with_decls),
        None => Vec::new(),
    }
}

/// Whether `symbol` may be renamed, and the span of its name at `offset`.
/// Refused: rules (their ids are kept in decisions and audit logs), names
/// declared in the standard library, and names with no declaration.
pub fn prepare_rename(ws: &Workspace, file: FileId, offset: u32) -> Result<(Span, Symbol), String> {
    let Some((symbol, span, _)) = symbol_at(ws, file, offset) else {
        return Err("no renameable name here".to_string());
    };
    if let Symbol::Rule { .. } = symbol {
        return Err("rule ids are kept in decisions, tests and audit logs; change `@id` by hand".to_string());
    }
    let defs = locs_of(ws, &symbol);
    if defs.is_empty() {
        return Err("this name has no declaration to rename".to_string());
    }
    if defs.iter().any(|l| matches!(l.file.origin(ws.db()), Origin::Stdlib(_))) {
        return Err("this name is declared in the standard library".to_string());
    }
    // Qualified paths (`roles.User`) cannot be renamed as one word.
    let text = ws.text(file).and_then(|t| t.get(span.range())).unwrap_or("");
    let word_ok = text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !word_ok && !matches!(symbol, Symbol::Rule { .. }) {
        return Err("only a plain name can be renamed here".to_string());
    }
    Ok((span, symbol))
}

/// The edits that rename the name at `offset` to `new_name` everywhere.
pub fn rename(ws: &Workspace, file: FileId, offset: u32, new_name: &str) -> Result<Vec<Edit>, String> {
    let (_, symbol) = prepare_rename(ws, file, offset)?;
    let valid = new_name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && new_name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!("`{new_name}` is not a name: use letters, digits and `_`"));
    }
    if RESERVED.contains(&new_name) {
        return Err(format!("`{new_name}` is a reserved word"));
    }
    if clashes(ws, &symbol, new_name) {
        return Err(format!("`{new_name}` is already declared; renaming would change what names mean"));
    }
    let db = ws.db();
    let mut edits = Vec::new();
    for fs in references(ws, &symbol, true) {
        let Some(text) = ws.text(fs.file) else { continue };
        let Some(old) = text.get(fs.span.range()) else { continue };
        // Replace the last segment of a path (`stdlib.x.Name` keeps its prefix).
        let start = old.rfind('.').map_or(fs.span.start, |i| fs.span.start + u32::try_from(i + 1).unwrap_or(0));
        edits.push(Edit { file: fs.file, span: Span { start, end: fs.span.end }, text: new_name.to_string() });
    }
    let _ = db;
    Ok(edits)
}

/// Whether `new_name` would collide with a declaration that the renamed
/// names could then resolve to (or be confused with).
fn clashes(ws: &Workspace, symbol: &Symbol, new_name: &str) -> bool {
    let db = ws.db();
    let env = schema_env(db, ws.project());
    let syms = symbols(db, ws.project());
    let type_like = env.declarations.contains_key(new_name);
    match symbol {
        Symbol::Entity(_) | Symbol::Enum(_) | Symbol::Alias(_) => {
            type_like || crate::schema::BUILTIN_TYPES.contains(&new_name)
        }
        Symbol::Action(_) => env.actions.contains_key(new_name),
        Symbol::Attribute { owner, .. } => {
            env.entities.get(owner).is_some_and(|e| e.attrs.fields.contains_key(new_name)) || new_name == "owner"
        }
        Symbol::ContextField(_) => {
            env.context.fields.contains_key(new_name)
                || env.actions.values().any(|a| a.context.fields.contains_key(new_name))
        }
        // Bare enum values resolve by name: the new one must be unused.
        Symbol::EnumValue { .. } | Symbol::Agent(_) => {
            env.enums.values().any(|e| e.variants.iter().any(|v| &**v == new_name))
                || syms.agents.contains_key(new_name)
                || env.actions.contains_key(new_name)
                || ["now", "actor", "chain", "current"].contains(&new_name)
        }
        Symbol::Detector(_) => syms.detectors.contains_key(new_name) || crate::check::MASK_METHODS.contains(&new_name),
        Symbol::Fixture(_) => syms.fixtures.contains_key(new_name),
        Symbol::Policy(_) => syms.policies.contains_key(new_name),
        Symbol::Rule { .. } => true,
    }
}
