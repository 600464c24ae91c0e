//! Completion: keywords that fit the place, attributes after `.` from the
//! receiver's type, actions, entity types, enum values, detectors.
//!
//! The place is read from the tokens before the cursor (the logos lexer),
//! so completion works in text that does not parse yet. The receiver of a
//! `.` is typed against the scope of the rule being written: the text is
//! re-parsed with a placeholder name at the cursor, which usually makes the
//! unfinished rule whole again.

use std::sync::Arc;

use ward_grammar::Span;
use ward_grammar::ast::*;
use ward_grammar::lexer::{Token, TokenKind, lex};

use super::hover::decl_docs;
use crate::check::{Cx, Env, MASK_METHODS};
use crate::diagnostic::FileId;
use crate::names::{Lookup, namespace, stdlib_modules};
use crate::schema::{BUILTIN_TYPES, schema_env};
use crate::symbols::symbols;
use crate::types::Type;
use crate::units::UnitKey;
use crate::workspace::Workspace;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CompletionKind {
    Keyword,
    Attribute,
    Field,
    Method,
    Action,
    EntityType,
    Enum,
    EnumValue,
    TypeAlias,
    BuiltinType,
    Agent,
    Detector,
    MaskMethod,
    Module,
    Variable,
    Function,
    Annotation,
    Fixture,
}

/// One completion item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    pub detail: Option<String>,
    pub documentation: Option<String>,
    /// Other edits to make when the item is chosen (an `import`), in bytes
    /// of the file's text.
    pub additional_edits: Vec<(Span, String)>,
}

impl Completion {
    fn new(label: impl Into<String>, kind: CompletionKind) -> Completion {
        Completion { label: label.into(), kind, detail: None, documentation: None, additional_edits: Vec::new() }
    }

    fn detail(mut self, detail: impl Into<String>) -> Completion {
        self.detail = Some(detail.into());
        self
    }

    fn docs(mut self, docs: &[String]) -> Completion {
        if !docs.is_empty() {
            self.documentation = Some(docs.iter().map(|l| l.trim()).collect::<Vec<_>>().join("\n"));
        }
        self
    }
}

const PLACEHOLDER: &str = "__ward_completion__";

const TOP: [&str; 7] = ["schema", "policy", "agent", "import", "detector", "fixture", "test"];
const SCHEMA: [&str; 5] = ["entity", "enum", "type", "action", "context"];
const ACTION_CLAUSES: [&str; 5] = ["in", "by", "on", "with", "returns"];
const MEMBERS: [&str; 4] = ["permit", "forbid", "mask", "limit"];
const CLAUSES: [&str; 4] = ["when", "unless", "obligation", "advice"];
const AGENT: [&str; 7] =
    ["owner", "created", "expires", "rotate credentials every", "review every", "attrs", "description"];
const TEST: [&str; 7] = ["using", "at", "advance", "entities", "link", "request", "expect"];
const OUTCOMES: [&str; 4] = ["allow", "deny", "approval_required", "error"];
const EXPR_KEYWORDS: [&str; 13] =
    ["has", "is", "like", "matches", "in", "previously", "count", "sum", "within", "where", "true", "false", "current"];
const FUNCTIONS: [&str; 6] = ["ip", "cidr", "decimal", "duration", "date", "time"];
const RULE_ANNOTATIONS: [&str; 7] = ["id", "reason", "severity", "shadow", "delegation", "template", "doc"];
const OBLIGATIONS: [&str; 3] = ["require_approval", "notify", "audit"];

/// Which top-level item the cursor is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Top,
    Schema,
    Policy,
    Agent,
    Test,
    Fixture,
    Other,
}

/// The completions at `offset` of `file`.
pub fn completions(ws: &Workspace, id: FileId, offset: u32) -> Vec<Completion> {
    let Some(text) = ws.text(id) else { return Vec::new() };
    let mut offset = (offset as usize).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let Some(before) = text.get(..offset) else { return Vec::new() };
    let word_start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_')
        .last()
        .map_or(offset, |(i, _)| i);
    // Nothing inside comments and strings.
    let all = lex(before);
    if let Some(last) = all.last()
        && last.span.end as usize == offset
        && matches!(
            last.kind,
            TokenKind::Comment | TokenKind::DocComment | TokenKind::String | TokenKind::UnterminatedString
        )
    {
        return Vec::new();
    }
    let tokens: Vec<Token> =
        all.into_iter().filter(|t| !t.kind.is_trivia() && (t.span.end as usize) <= word_start).collect();
    let mut c = Completer { ws, id, text, word_start, offset, tokens: &tokens, out: Vec::new() };
    c.run();
    let mut out = c.out;
    let mut seen = std::collections::HashSet::new();
    out.retain(|item| seen.insert((item.label.clone(), item.kind)));
    out
}

struct Completer<'a> {
    ws: &'a Workspace,
    id: FileId,
    text: &'a str,
    word_start: usize,
    offset: usize,
    tokens: &'a [Token],
    out: Vec<Completion>,
}

impl Completer<'_> {
    fn tok(&self, back: usize) -> Option<Token> {
        self.tokens.len().checked_sub(back + 1).and_then(|i| self.tokens.get(i)).copied()
    }

    fn kind(&self, back: usize) -> Option<TokenKind> {
        self.tok(back).map(|t| t.kind)
    }

    fn word(&self, t: Token) -> &str {
        self.text.get(t.span.range()).unwrap_or("")
    }

    fn keywords(&mut self, words: &[&str]) {
        for w in words {
            self.out.push(Completion::new(*w, CompletionKind::Keyword));
        }
    }

    /// The block the cursor is in and its brace depth.
    fn block(&self) -> (Block, usize) {
        let mut depth = 0usize;
        let mut item = Block::Top;
        for t in self.tokens {
            match t.kind {
                TokenKind::LBrace => depth += 1,
                TokenKind::RBrace => depth = depth.saturating_sub(1),
                k if depth == 0 => {
                    item = match k {
                        TokenKind::Schema => Block::Schema,
                        TokenKind::Policy => Block::Policy,
                        TokenKind::Agent => Block::Agent,
                        TokenKind::Test => Block::Test,
                        TokenKind::Fixture => Block::Fixture,
                        TokenKind::Import | TokenKind::Detector => Block::Other,
                        _ => item,
                    }
                }
                _ => {}
            }
        }
        (if depth == 0 { Block::Top } else { item }, depth)
    }

    /// Whether only spaces precede the word on its line.
    fn at_line_start(&self) -> bool {
        let line_start = self.text.get(..self.word_start).and_then(|t| t.rfind('\n')).map_or(0, |i| i + 1);
        self.text.get(line_start..self.word_start).is_some_and(|t| t.trim().is_empty())
    }

    /// The words of the dotted path that ends `back` tokens from the end
    /// (`resource.owner` before `.`), first word first.
    fn path_before(&self, mut back: usize) -> Vec<String> {
        let mut words = Vec::new();
        loop {
            match self.tok(back) {
                Some(t) if t.kind.is_word() => words.push(self.word(t).to_string()),
                _ => break,
            }
            if self.kind(back + 1) != Some(TokenKind::Dot) {
                break;
            }
            back += 2;
        }
        words.reverse();
        words
    }

    /// The token that introduces the list the cursor is in: skips `a, b.c,`
    /// and an opening `[`. Returns how far back it is.
    fn intro(&self) -> usize {
        let mut back = 0;
        while self.kind(back) == Some(TokenKind::Comma) {
            back += 1;
            while let Some(k) = self.kind(back) {
                if k.is_word() || k == TokenKind::Dot {
                    back += 1;
                } else {
                    break;
                }
            }
        }
        if self.kind(back) == Some(TokenKind::LBracket) {
            back += 1;
        }
        back
    }

    /// Skips a list of words and commas backwards (`a, b` in `action a, b in`).
    fn skip_names(&self, mut back: usize) -> usize {
        while let Some(k) = self.kind(back) {
            if k == TokenKind::Ident || k == TokenKind::Comma {
                back += 1;
            } else {
                break;
            }
        }
        back
    }

    fn run(&mut self) {
        let (block, depth) = self.block();
        if self.after_token(block) {
            return;
        }
        let back = self.intro();
        let intro = self.tok(back);
        let intro_kind = intro.map(|t| t.kind);
        let intro_word = intro.map(|t| self.word(t).to_string()).unwrap_or_default();
        if self.type_position(block, depth, back, intro_kind) {
            return;
        }
        if block == Block::Schema {
            return self.in_schema(depth, intro_kind, &intro_word);
        }
        if block == Block::Policy && intro_kind == Some(TokenKind::Ident) && intro_word == "with" {
            self.mask_methods();
            return self.detectors();
        }
        if intro_kind == Some(TokenKind::Ident) && intro_word == "using" {
            if block == Block::Test {
                return self.fixtures();
            }
            return self.mask_methods();
        }
        self.in_block(block, depth, &intro_word);
    }

    /// Completions fixed by the token just before the cursor (`.`, `::`,
    /// `@`, `import`, `obligation`, `advice`, `matches`); whether there was one.
    fn after_token(&mut self, block: Block) -> bool {
        match self.kind(0) {
            Some(TokenKind::Dot) => self.after_dot(),
            Some(TokenKind::ColonColon) => self.after_colons(),
            Some(TokenKind::At) => {
                let words: &[&str] = match block {
                    Block::Schema => &["sensitive", "doc"],
                    Block::Top => &["require_ids", "doc"],
                    _ => &RULE_ANNOTATIONS,
                };
                for w in words {
                    self.out.push(Completion::new(*w, CompletionKind::Annotation));
                }
            }
            Some(TokenKind::Import) => self.modules(true),
            Some(TokenKind::Obligation) => {
                for o in OBLIGATIONS {
                    self.out.push(Completion::new(o, CompletionKind::Function).detail("obligation"));
                }
            }
            Some(TokenKind::Advice) => {
                self.out.push(Completion::new("log", CompletionKind::Function).detail("advice"));
            }
            Some(TokenKind::Matches) => self.detectors(),
            _ => return false,
        }
        true
    }

    /// Where an action or an entity type is expected: after `action ==`,
    /// `principal:`, an agent's `: Type`, a schema's `in`. Whether it was one.
    fn type_position(&mut self, block: Block, depth: usize, back: usize, intro_kind: Option<TokenKind>) -> bool {
        let before = self.kind(back + 1);
        // `principal == ?` in a template's scope: the slot's name.
        if intro_kind == Some(TokenKind::Question)
            && matches!(self.kind(back + 1), Some(TokenKind::EqEq | TokenKind::In))
            && let Some(var) = self.scope_variable(back + 2)
        {
            self.out.push(Completion::new(var, CompletionKind::Variable).detail("template slot"));
            return true;
        }
        if matches!(intro_kind, Some(TokenKind::EqEq | TokenKind::In))
            && let Some(var) = self.scope_variable(back + 1)
            && block == Block::Policy
            && self.in_template()
        {
            self.out.push(Completion::new(format!("?{var}"), CompletionKind::Variable).detail("template slot"));
        }
        match (intro_kind, before) {
            (Some(TokenKind::Colon | TokenKind::EqEq | TokenKind::In), Some(TokenKind::Action)) => self.actions(),
            (
                Some(TokenKind::Colon | TokenKind::EqEq | TokenKind::In),
                Some(TokenKind::Principal | TokenKind::Resource),
            ) => self.entity_types(),
            (Some(TokenKind::Colon), Some(TokenKind::Ident)) if self.kind(back + 2) == Some(TokenKind::Agent) => {
                self.entity_types()
            }
            (Some(TokenKind::In), _) if block == Block::Schema && depth == 1 => {
                let start = self.skip_names(back + 1);
                match self.kind(start) {
                    Some(TokenKind::Action) => self.actions(),
                    Some(TokenKind::Entity) => self.entity_types(),
                    _ => return false,
                }
            }
            _ => return false,
        }
        true
    }

    /// `principal` or `resource` when the scope item `back` tokens from the
    /// end constrains it (`principal`, or `principal: Type`).
    fn scope_variable(&self, back: usize) -> Option<&'static str> {
        let var = |k: Option<TokenKind>| match k {
            Some(TokenKind::Principal) => Some("principal"),
            Some(TokenKind::Resource) => Some("resource"),
            _ => None,
        };
        var(self.kind(back)).or_else(|| {
            // `principal: Type ==`, `principal: ns.Type in`
            let mut b = back;
            while matches!(self.kind(b), Some(TokenKind::Ident | TokenKind::Dot)) {
                b += 1;
            }
            if b > back && self.kind(b) == Some(TokenKind::Colon) { var(self.kind(b + 1)) } else { None }
        })
    }

    /// Whether the rule being written is annotated `@template`: its
    /// annotations are the tokens just before its `permit` or `forbid`.
    fn in_template(&self) -> bool {
        let Some(effect) = self.tokens.iter().rposition(|t| matches!(t.kind, TokenKind::Permit | TokenKind::Forbid))
        else {
            return false;
        };
        let mut i = effect;
        while let Some(prev) = i.checked_sub(1).and_then(|j| self.tokens.get(j)) {
            if !matches!(
                prev.kind,
                TokenKind::At | TokenKind::Ident | TokenKind::LParen | TokenKind::RParen | TokenKind::String
            ) {
                break;
            }
            if prev.kind == TokenKind::At
                && self.tokens.get(i).is_some_and(|t| t.kind == TokenKind::Ident && self.word(*t) == "template")
            {
                return true;
            }
            i -= 1;
        }
        false
    }

    /// Inside a `schema` block: types after `by`, `on`, `:`, `=`, `<`,
    /// `returns`; declaration keywords at a line start.
    fn in_schema(&mut self, depth: usize, intro_kind: Option<TokenKind>, intro_word: &str) {
        if matches!(intro_word, "by" | "on") && intro_kind == Some(TokenKind::Ident) {
            return self.entity_types();
        }
        if matches!(intro_kind, Some(TokenKind::Colon | TokenKind::Eq | TokenKind::Lt)) || intro_word == "returns" {
            return self.all_types();
        }
        if depth == 1 {
            if self.at_line_start() {
                self.keywords(&SCHEMA);
            }
            if self.statement_starts_with(TokenKind::Action) {
                self.keywords(&ACTION_CLAUSES);
            }
        }
    }

    /// Everywhere else: the keywords that may start a line of the block, or
    /// the names an expression may use.
    fn in_block(&mut self, block: Block, depth: usize, intro_word: &str) {
        match block {
            Block::Top => self.keywords(&TOP),
            Block::Schema | Block::Other => {}
            Block::Agent => {
                if depth == 1 && self.at_line_start() {
                    self.keywords(&AGENT);
                } else {
                    self.names();
                }
            }
            Block::Fixture => {
                if self.at_line_start() && depth == 1 {
                    self.keywords(&["entity"]);
                } else {
                    self.entity_types();
                }
            }
            Block::Test => {
                if intro_word == "expect" {
                    return self.keywords(&OUTCOMES);
                }
                if self.at_line_start() && depth == 1 {
                    self.keywords(&TEST);
                } else if depth >= 2 && self.at_line_start() {
                    self.keywords(&["principal", "action", "resource", "context", "on_behalf_of", "session"]);
                } else {
                    self.names();
                }
            }
            Block::Policy => {
                if depth == 1 && self.at_line_start() {
                    self.keywords(&MEMBERS);
                    self.keywords(&CLAUSES);
                } else if depth == 1 && matches!(self.kind(0), Some(TokenKind::Permit | TokenKind::Forbid) | None) {
                    self.keywords(&["principal", "action", "resource", "when", "unless"]);
                } else {
                    self.keywords(&["when", "unless"]);
                    self.names();
                }
            }
        }
    }

    /// Whether the statement the cursor is in (since the last `}` or line
    /// start keyword) began with `kind`.
    fn statement_starts_with(&self, kind: TokenKind) -> bool {
        for t in self.tokens.iter().rev() {
            if t.kind == kind {
                return true;
            }
            if matches!(
                t.kind,
                TokenKind::LBrace
                    | TokenKind::RBrace
                    | TokenKind::Entity
                    | TokenKind::Enum
                    | TokenKind::Type
                    | TokenKind::Context
            ) {
                return false;
            }
        }
        false
    }

    // ───────────────────────── sources of names ─────────────────────────

    fn env(&self) -> (Arc<crate::schema::SchemaEnv>, Arc<crate::symbols::Symbols>) {
        let db = self.ws.db();
        (Arc::clone(schema_env(db, self.ws.project())), Arc::clone(symbols(db, self.ws.project())))
    }

    /// How a qualified name is written in this file (`pii.email` stays;
    /// an aliased module uses its alias), and whether it needs an import.
    fn written(&self, q: &str) -> (String, Option<String>) {
        let Some(file) = self.ws.file(self.id) else { return (q.to_string(), None) };
        let ns = namespace(self.ws.db(), file);
        let stdlib = stdlib_modules(self.ws.db(), self.ws.project());
        match q.split_once('.') {
            Some((module, rest)) if stdlib.iter().any(|m| &**m == module) => {
                if ns.module.as_deref() == Some(module) {
                    return (rest.to_string(), None);
                }
                match ns.imports.iter().find(|(_, m)| &***m == module) {
                    Some((local, _)) => (format!("{local}.{rest}"), None),
                    None => (q.to_string(), Some(module.to_string())),
                }
            }
            _ => (q.to_string(), None),
        }
    }

    fn import_edit(&self, module: &str) -> (Span, String) {
        // After the last import, or at the top.
        let at = self.ws.file(self.id).map(|f| crate::units::parse(self.ws.db(), f)).and_then(|p| {
            p.file.items.iter().filter_map(|i| if let Item::Import(x) = i { Some(x.span.end) } else { None }).max()
        });
        match at {
            Some(end) => (Span { start: end, end }, format!("\nimport stdlib.{module}")),
            None => (Span { start: 0, end: 0 }, format!("import stdlib.{module}\n")),
        }
    }

    fn push_qualified(&mut self, q: &str, kind: CompletionKind, detail: String, docs: &[String]) {
        let (label, import) = self.written(q);
        let mut item = Completion::new(label, kind).detail(detail).docs(docs);
        if let Some(module) = import {
            item.detail = item.detail.map(|d| format!("{d} (adds `import stdlib.{module}`)"));
            item.additional_edits.push(self.import_edit(&module));
        }
        self.out.push(item);
    }

    fn entity_types(&mut self) {
        let (env, _) = self.env();
        for (q, info) in &env.entities {
            self.push_qualified(q, CompletionKind::EntityType, "entity type".to_string(), &info.docs);
        }
    }

    fn all_types(&mut self) {
        let (env, _) = self.env();
        for (q, info) in &env.entities {
            self.push_qualified(q, CompletionKind::EntityType, "entity type".to_string(), &info.docs);
        }
        for (q, info) in &env.enums {
            self.push_qualified(q, CompletionKind::Enum, "enum".to_string(), &info.docs);
        }
        for (q, (ty, _)) in &env.aliases {
            self.push_qualified(q, CompletionKind::TypeAlias, format!("type = {ty}"), &[]);
        }
        for t in BUILTIN_TYPES {
            self.out.push(Completion::new(t, CompletionKind::BuiltinType).detail("built-in type"));
        }
    }

    fn actions(&mut self) {
        let (env, _) = self.env();
        for (q, info) in &env.actions {
            let detail = if env.groups.contains(q) { "action group" } else { "action" };
            self.push_qualified(q, CompletionKind::Action, detail.to_string(), &info.docs);
        }
    }

    fn detectors(&mut self) {
        let (_, syms) = self.env();
        for (q, d) in &syms.detectors {
            let detail = match &d.first().map(|d| &d.kind) {
                Some(crate::symbols::DetectorKind::Builtin(b)) => format!("detector (builtin \"{b}\")"),
                Some(crate::symbols::DetectorKind::Pattern) => "detector (pattern)".to_string(),
                Some(crate::symbols::DetectorKind::Keywords) => "detector (keywords)".to_string(),
                Some(crate::symbols::DetectorKind::Group(m)) => format!("detector (group of {})", m.len()),
                None => "detector".to_string(),
            };
            let docs = d.first().map(|d| d.docs.clone()).unwrap_or_default();
            self.push_qualified(q, CompletionKind::Detector, detail, &docs);
        }
    }

    fn mask_methods(&mut self) {
        for m in MASK_METHODS {
            self.out.push(Completion::new(m, CompletionKind::MaskMethod).detail("masking method"));
        }
    }

    fn fixtures(&mut self) {
        let (_, syms) = self.env();
        for name in syms.fixtures.keys() {
            self.out.push(Completion::new(&**name, CompletionKind::Fixture).detail("fixture"));
        }
    }

    fn modules(&mut self, with_prefix: bool) {
        for m in stdlib_modules(self.ws.db(), self.ws.project()) {
            let label = if with_prefix { format!("stdlib.{m}") } else { m.to_string() };
            self.out.push(Completion::new(label, CompletionKind::Module).detail("standard-library module"));
        }
    }

    /// Names usable in an expression.
    fn names(&mut self) {
        let (env, syms) = self.env();
        for v in ["principal", "resource", "context", "action"] {
            self.out.push(Completion::new(v, CompletionKind::Variable).detail("request variable"));
        }
        for v in ["now", "actor", "chain"] {
            self.out.push(Completion::new(v, CompletionKind::Variable).detail("built-in"));
        }
        // Inside a flow's `where`: the earlier action's result, when its actions declare one.
        let scope = self.scope_env();
        if scope.current.is_some() {
            let returns: Vec<Type> = scope.actions.iter().filter_map(|a| env.actions.get(a)?.returns.clone()).collect();
            if let Some(t) = returns.first()
                && returns.len() == scope.actions.len()
            {
                let detail = format!("the earlier action's result: {t} (a result flow)");
                self.out.push(Completion::new("response", CompletionKind::Variable).detail(detail));
            }
        }
        for (q, info) in &env.enums {
            for v in &info.variants {
                self.out.push(Completion::new(&**v, CompletionKind::EnumValue).detail(format!("{q}::{v}")));
            }
        }
        for (name, a) in &syms.agents {
            let ty = a.first().map(|a| a.ty.clone()).unwrap_or_default();
            self.out.push(Completion::new(&**name, CompletionKind::Agent).detail(format!("agent: {ty}")));
        }
        for f in FUNCTIONS {
            self.out.push(Completion::new(f, CompletionKind::Function).detail(format!("{f}(\"…\")")));
        }
        self.keywords(&EXPR_KEYWORDS);
        for (q, info) in &env.entities {
            self.push_qualified(q, CompletionKind::EntityType, "entity type".to_string(), &info.docs);
        }
    }

    // ───────────────────────── after `.` and `::` ─────────────────────────

    fn after_colons(&mut self) {
        let words = self.path_before(1);
        let (env, _) = self.env();
        let Some(file) = self.ws.file(self.id) else { return };
        let ns = namespace(self.ws.db(), file);
        let stdlib = stdlib_modules(self.ws.db(), self.ws.project());
        let refs: Vec<&str> = words.iter().map(String::as_str).collect();
        for candidate in ns.candidates(&refs) {
            if let Some(info) = env.enums.get(candidate.as_str()) {
                let visible =
                    matches!(ns.lookup(&path_of(&words), |n| env.enums.contains_key(n), stdlib), Lookup::Found(_));
                if visible {
                    for v in &info.variants {
                        self.out.push(
                            Completion::new(&**v, CompletionKind::EnumValue).detail(format!("{}::{v}", info.name)),
                        );
                    }
                }
                return;
            }
        }
    }

    fn after_dot(&mut self) {
        let words = self.path_before(1);
        let Some(first) = words.first().cloned() else { return };
        let (env, syms) = self.env();
        let Some(file) = self.ws.file(self.id) else { return };
        let ns = namespace(self.ws.db(), file);
        let stdlib = stdlib_modules(self.ws.db(), self.ws.project()).to_vec();
        // `import stdlib.` and `stdlib.`
        if self.kind(words.len() * 2) == Some(TokenKind::Import) || (first == "stdlib" && words.len() == 1) {
            return self.modules(false);
        }
        // `pii.`, `stdlib.pii.`: the module's detectors and types.
        let module = match words.as_slice() {
            [m] => ns.imports.get(m.as_str()).cloned(),
            [s, m] if s == "stdlib" && stdlib.iter().any(|x| **x == **m) => Some(Arc::from(m.as_str())),
            _ => None,
        };
        if let Some(module) = module {
            let prefix = format!("{module}.");
            for (q, d) in &syms.detectors {
                if let Some(rest) = q.strip_prefix(&prefix) {
                    let docs = d.first().map(|d| d.docs.clone()).unwrap_or_default();
                    self.out.push(
                        Completion::new(rest, CompletionKind::Detector).detail(format!("detector {q}")).docs(&docs),
                    );
                }
            }
            for (q, info) in &env.entities {
                if let Some(rest) = q.strip_prefix(&prefix) {
                    self.out.push(
                        Completion::new(rest, CompletionKind::EntityType)
                            .detail(format!("entity {q}"))
                            .docs(&info.docs),
                    );
                }
            }
            for (q, info) in &env.enums {
                if let Some(rest) = q.strip_prefix(&prefix) {
                    self.out
                        .push(Completion::new(rest, CompletionKind::Enum).detail(format!("enum {q}")).docs(&info.docs));
                }
            }
            return;
        }
        let Some(ty) = self.receiver_type(&words) else { return };
        let chain = matches!(words.as_slice(), [only] if only == "chain");
        self.members_of(&ty, chain);
    }

    /// The attributes, fields or methods of a value of type `ty`.
    fn members_of(&mut self, ty: &Type, chain: bool) {
        let (env, _) = self.env();
        match ty {
            Type::Entity(names) => {
                for n in names.iter() {
                    let Some(info) = env.entities.get(n) else { continue };
                    for (name, f) in &info.attrs.fields {
                        let docs = info.attr_locs.get(name).map(|l| decl_docs(self.ws, *l)).unwrap_or_default();
                        let opt = if f.optional { "?" } else { "" };
                        let item = Completion::new(&**name, CompletionKind::Attribute)
                            .detail(format!("{n}.{name}{opt}: {}", f.ty))
                            .docs(&docs);
                        self.out.push(item);
                    }
                }
                // Tags, when every possible type declares them, of one type.
                let tags: Vec<Option<&Type>> =
                    names.iter().map(|n| env.entities.get(n).and_then(|e| e.tags.as_ref())).collect();
                if let Some(Some(first)) = tags.first()
                    && tags.iter().all(|t| *t == Some(*first))
                {
                    for (m, sig) in TAG_METHODS {
                        self.out.push(
                            Completion::new(m, CompletionKind::Method).detail(sig.replace('T', &first.to_string())),
                        );
                    }
                }
            }
            Type::Record(r) => {
                for (name, f) in &r.fields {
                    let opt = if f.optional { "?" } else { "" };
                    self.out
                        .push(Completion::new(&**name, CompletionKind::Field).detail(format!("{name}{opt}: {}", f.ty)));
                }
            }
            Type::Request => {
                for f in ["principal", "action", "resource", "context"] {
                    self.out.push(Completion::new(f, CompletionKind::Field).detail("the request being decided"));
                }
            }
            Type::List(link) if chain => {
                self.out.push(
                    Completion::new("first", CompletionKind::Field).detail(format!("chain.first: {link} (the origin)")),
                );
                self.out.push(Completion::new("last", CompletionKind::Field).detail(format!("chain.last: {link}")));
            }
            _ => {}
        }
        let methods = methods_of(ty);
        for (m, sig) in methods {
            self.out.push(Completion::new(*m, CompletionKind::Method).detail(*sig));
        }
    }

    /// The type of the dotted path `words` at the cursor.
    fn receiver_type(&self, words: &[String]) -> Option<Type> {
        let (first, rest) = words.split_first()?;
        let (env, syms) = self.env();
        let ws = self.ws;
        let db = ws.db();
        let file = ws.file(self.id)?;
        let ns = namespace(db, file);
        let stdlib = stdlib_modules(db, ws.project());
        let scope = self.scope_env();
        let mut ty = match first.as_str() {
            "principal" | "actor" => scope.principal.clone(),
            "resource" => scope.resource.clone(),
            "context" => scope.context.clone(),
            "chain" => Type::List(Box::new(scope.chain.clone())),
            "current" if scope.current.is_some() => Type::Request,
            "response" => {
                let returns: Vec<Type> =
                    scope.actions.iter().filter_map(|a| env.actions.get(a)?.returns.clone()).collect();
                returns.first().cloned()?
            }
            name => {
                let agent = syms.agents.get(name)?.first()?;
                let path = Path {
                    segments: vec![Ident { name: agent.ty.clone(), span: Span::default() }],
                    span: Span::default(),
                };
                match ns.lookup(&path, |q| env.entities.contains_key(q), stdlib) {
                    Lookup::Found(q) => Type::entity(&q),
                    _ => return None,
                }
            }
        };
        let mut current = scope.current.as_deref().cloned();
        for w in rest {
            ty = match &ty {
                Type::Request => {
                    let c = current.take()?;
                    match w.as_str() {
                        "principal" => c.principal,
                        "resource" => c.resource,
                        "context" => c.context,
                        _ => return None,
                    }
                }
                Type::Entity(names) => names.iter().find_map(|n| {
                    env.entities.get(n).and_then(|e| e.attrs.fields.get(w.as_str())).map(|f| f.ty.clone())
                })?,
                Type::Record(r) => r.fields.get(w.as_str()).map(|f| f.ty.clone())?,
                Type::Set(el) | Type::List(el) if w == "*" => (**el).clone(),
                Type::List(el) if first == "chain" && (w == "first" || w == "last") => (**el).clone(),
                _ => return None,
            };
        }
        Some(ty)
    }

    /// The request environment at the cursor: the scope of the rule being
    /// written (or of the flow condition whose `where` the cursor is in).
    fn scope_env(&self) -> Env {
        let ws = self.ws;
        let db = ws.db();
        let project = ws.project();
        let Some(file) = ws.file(self.id) else { return Env::none() };
        let mut cx = Cx::new(db, project, file, UnitKey::item(0));
        let (Some(head), Some(tail)) = (self.text.get(..self.word_start), self.text.get(self.offset..)) else {
            return cx.scope_env(None, None);
        };
        let patched = format!("{head}{PLACEHOLDER}{tail}");
        let at = u32::try_from(self.word_start).unwrap_or(u32::MAX);
        let mut member = find_member(&ward_grammar::parse(&patched).file, at);
        if let Some(Err(error_end)) = member {
            // The member still does not parse: cut it at the cursor.
            let cut = self.word_start + PLACEHOLDER.len();
            if let (Some(a), Some(b)) = (patched.get(..cut), patched.get(error_end as usize..)) {
                let again = format!("{a}\n{b}");
                member = find_member(&ward_grammar::parse(&again).file, at);
            }
        }
        let Some(Ok(item)) = member else { return cx.scope_env(None, None) };
        let (scope, conditions) = match &item {
            PolicyItem::Rule(r) => (r.scope.as_ref(), r.conditions.as_slice()),
            PolicyItem::Mask(m) => (m.scope.as_ref(), m.conditions.as_slice()),
            PolicyItem::Limit(l) => (l.scope.as_ref(), l.conditions.as_slice()),
            PolicyItem::Error(_) => return cx.scope_env(None, None),
        };
        let outer = cx.scope_env(scope, None);
        for c in conditions {
            if let Some(flow) = flow_at(&c.expr, at) {
                return cx.scope_env(Some(&flow.scope), Some(&outer));
            }
        }
        outer
    }
}

fn path_of(words: &[String]) -> Path {
    let segments = words.iter().map(|w| Ident { name: w.clone(), span: Span::default() }).collect();
    Path { segments, span: Span::default() }
}

/// The policy member containing `at`: `Ok` when it parsed, `Err(end)` with
/// the end of the text skipped when it did not.
fn find_member(file: &SourceFile, at: u32) -> Option<Result<PolicyItem, u32>> {
    for item in &file.items {
        let Item::Policy(p) = item else { continue };
        if !(p.span.start <= at && at <= p.span.end) {
            continue;
        }
        for m in &p.items {
            let span = m.span();
            if span.start <= at && at <= span.end {
                return Some(match m {
                    PolicyItem::Error(s) => Err(s.end),
                    other => Ok(other.clone()),
                });
            }
        }
    }
    None
}

/// The innermost flow condition whose `where` contains `at`.
fn flow_at(e: &Expr, at: u32) -> Option<&FlowExpr> {
    let mut work = vec![e];
    let mut found = None;
    while let Some(e) = work.pop() {
        if !(e.span.start <= at && at <= e.span.end) {
            continue;
        }
        match &e.kind {
            ExprKind::Flow(flow) => {
                if let Some(filter) = &flow.filter
                    && filter.span.start <= at
                {
                    found = Some(&**flow);
                    work.push(filter);
                }
            }
            ExprKind::Binary { lhs, rhs, .. } => {
                work.push(lhs);
                work.push(rhs);
            }
            ExprKind::Unary { operand, .. } => work.push(operand),
            ExprKind::Paren(inner) => work.push(inner),
            _ => {}
        }
    }
    found
}

/// The methods a receiver of type `ty` has: (name, signature and meaning).
pub(crate) fn methods_of(ty: &Type) -> &'static [(&'static str, &'static str)] {
    match ty {
        Type::Set(_) | Type::List(_) => &[
            ("contains", "contains(element) -> Bool"),
            ("contains_all", "contains_all(set) -> Bool"),
            ("contains_any", "contains_any(set) -> Bool"),
            ("intersects", "intersects(set) -> Bool: the two share an element"),
            ("is_subset", "is_subset(set) -> Bool: every element is in the other set"),
            ("any", "any(x, condition) -> Bool: the condition holds for some element x"),
            ("all", "all(x, condition) -> Bool: the condition holds for every element x"),
            ("size", "size() -> Int"),
            ("is_empty", "is_empty() -> Bool"),
        ],
        Type::String => &[
            ("starts_with", "starts_with(String) -> Bool"),
            ("ends_with", "ends_with(String) -> Bool"),
            ("contains", "contains(String) -> Bool"),
            ("lower", "lower() -> String"),
            ("upper", "upper() -> String"),
            ("trim", "trim() -> String: without leading and trailing white space"),
            (
                "email_addresses",
                "email_addresses() -> Set<String>: the addresses of an address list (error if malformed)",
            ),
            ("email_domains", "email_domains() -> Set<String>: the domains of an address list (error if malformed)"),
            ("url_host", "url_host() -> String: the normalised host of an absolute URL"),
            ("url_scheme", "url_scheme() -> String: the scheme of an absolute URL"),
            (
                "normalized_path",
                "normalized_path() -> String: `.` and `..` resolved (error if it climbs above the start)",
            ),
            ("size", "size() -> Int"),
            ("is_empty", "is_empty() -> Bool"),
        ],
        Type::Time => &[
            ("date", "date() -> Date"),
            ("hour", "hour() -> Int"),
            ("minute", "minute() -> Int"),
            ("weekday", "weekday() -> Int"),
        ],
        Type::Date => &[
            ("year", "year() -> Int"),
            ("month", "month() -> Int"),
            ("day", "day() -> Int"),
            ("weekday", "weekday() -> Int"),
        ],
        Type::Ip => &[
            ("is_loopback", "is_loopback() -> Bool"),
            ("is_private", "is_private() -> Bool"),
            ("is_ipv4", "is_ipv4() -> Bool"),
            ("is_ipv6", "is_ipv6() -> Bool"),
        ],
        _ => &[],
    }
}

/// The methods of an entity whose types declare `tags T` (`T` stands for
/// the tag type in the signature).
pub(crate) const TAG_METHODS: [(&str, &str); 2] = [
    ("has_tag", "has_tag(String) -> Bool: the entity has this tag"),
    ("get_tag", "get_tag(String) -> T: the tag's value, after has_tag on the same key"),
];

/// Every method called `name`, on whatever receiver: its signatures.
pub(crate) fn method_signatures(name: &str) -> Vec<&'static str> {
    let receivers = [Type::Set(Box::new(Type::String)), Type::String, Type::Time, Type::Date, Type::Ip];
    receivers
        .iter()
        .flat_map(|t| methods_of(t).iter())
        .chain(TAG_METHODS.iter())
        .filter(|(m, _)| *m == name)
        .map(|(_, sig)| *sig)
        .collect()
}
