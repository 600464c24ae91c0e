//! The formatter: prints a syntax tree in Ward's one canonical layout.
//!
//! Layout rules (documented in docs/language.md, "Formatting"):
//! - 2-space indentation, one blank line between top-level items (imports
//!   stay together) and between the members of a policy; elsewhere one blank
//!   line is kept where the author left one or more.
//! - A rule's head on one line; each `when`, `unless`, `obligation`,
//!   `advice`, `on` and `fail` on its own line, indented once more. A
//!   condition wider than the line is broken before its top-level `&&`/`||`.
//! - Records, sets and enum bodies stay on one line when they fit in
//!   [`MAX_WIDTH`] columns and hold no comment; otherwise one element per
//!   line with a trailing comma.
//! - Empty blocks print as `{}`.
//! - Comments are never dropped. A comment on its own line stays on its own
//!   line before the next thing printed; a comment after code on the same
//!   line (or after an opening `{`) stays there. Comments inside an
//!   expression move to their own line before the next line (expressions are
//!   always printed on one line).
//!
//! Files with syntax errors are not formatted: [`format_source`] returns the errors.

use crate::Span;
use crate::ast::*;
use crate::parser::{SyntaxError, parse};

/// The width the formatter aims to stay within.
pub const MAX_WIDTH: usize = 100;

const INDENT: &str = "  ";

/// Printing recurses over the tree, which the parser lets nest up to
/// [`crate::MAX_NESTING`] levels: like the parser, grow the stack rather than
/// overflow it.
fn deeper<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(128 * 1024, 2 * 1024 * 1024, f)
}

/// Formats a source text, or returns its syntax errors.
pub fn format_source(source: &str) -> Result<String, Vec<SyntaxError>> {
    let parse = parse(source);
    if !parse.errors.is_empty() {
        return Err(parse.errors);
    }
    Ok(format_file(&parse.file, source))
}

/// Prints a parsed file; `source` is the text it was parsed from (for comments
/// and blank lines).
pub fn format_file(file: &SourceFile, source: &str) -> String {
    let mut p = Printer {
        src: source,
        out: String::new(),
        indent: 0,
        comments: &file.comments,
        next_comment: 0,
        last_end: 0,
        block_start: true,
    };
    let mut prev: Option<&Item> = None;
    for item in &file.items {
        // Imports stay together, and so do detectors; other items are
        // separated by a blank line.
        let grouped = matches!(
            (prev, item),
            (None, _) | (Some(Item::Import(_)), Item::Import(_)) | (Some(Item::Detector(_)), Item::Detector(_))
        );
        p.item(item, if grouped { Blank::Keep } else { Blank::Force });
        prev = Some(item);
    }
    p.flush_comments(u32::MAX, Blank::Keep);
    let mut out = p.out;
    while out.ends_with("\n\n") {
        out.pop();
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Blank {
    /// A blank line before this line, whatever the source had.
    Force,
    /// A blank line if the source had one here.
    Keep,
}

struct Printer<'a> {
    src: &'a str,
    out: String,
    indent: usize,
    comments: &'a [Comment],
    next_comment: usize,
    /// The end (in the source) of the last thing printed.
    last_end: u32,
    /// True right after a `{`: no blank line may follow it.
    block_start: bool,
}

impl<'a> Printer<'a> {
    // ───────────────────────── lines and comments ─────────────────────────

    fn source_has_blank_line(&self, from: u32, to: u32) -> bool {
        let text = self.src.get(from as usize..to as usize).unwrap_or("");
        text.matches('\n').count() >= 2
    }

    fn push_indent(&mut self) {
        for _ in 0..self.indent {
            self.out.push_str(INDENT);
        }
    }

    fn blank_line(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    /// Prints, on their own lines, the comments that start before `pos`.
    fn flush_comments(&mut self, pos: u32, mut blank: Blank) {
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.span.start >= pos {
                break;
            }
            self.next_comment += 1;
            let keep = self.source_has_blank_line(self.last_end, c.span.start);
            if !self.block_start && (blank == Blank::Force || keep) {
                self.blank_line();
            }
            blank = Blank::Keep;
            self.push_indent();
            self.out.push_str(&c.text);
            self.out.push('\n');
            // A comment from inside a node printed earlier lies before that
            // node's end: never move `last_end` backwards.
            self.last_end = self.last_end.max(c.span.end);
            self.block_start = false;
        }
        let _ = blank;
    }

    /// Starts a line for a node that begins at `start` in the source.
    fn line(&mut self, start: u32, blank: Blank) {
        let pending = self.comments.get(self.next_comment).is_some_and(|c| c.span.start < start);
        self.flush_comments(start, blank);
        let keep = self.source_has_blank_line(self.last_end, start);
        if !self.block_start && ((blank == Blank::Force && !pending) || keep) {
            self.blank_line();
        }
        self.push_indent();
        self.block_start = false;
    }

    /// Ends a line for a node that ended at `end`, keeping a comment that
    /// followed it on the same source line.
    fn end_line(&mut self, end: u32) {
        self.last_end = self.last_end.max(end);
        if let Some(c) = self.comments.get(self.next_comment) {
            let between = self.src.get(end as usize..c.span.start as usize).unwrap_or("\n");
            // Only a separator may lie between: `a: String, // note`. A
            // comment after more code (`@id("x") policy p { // c`) belongs
            // to that code.
            let trailing = between.chars().all(|ch| matches!(ch, ' ' | '\t' | '\r' | ';' | ','));
            if c.span.start >= end && trailing {
                self.out.push(' ');
                self.out.push_str(&c.text);
                self.next_comment += 1;
                self.last_end = c.span.end;
            }
        }
        self.out.push('\n');
    }

    fn has_comment_in(&self, span: Span) -> bool {
        // Comments are in source order: stop at the first past the span.
        self.comments
            .get(self.next_comment..)
            .unwrap_or(&[])
            .iter()
            .take_while(|c| c.span.start < span.end)
            .any(|c| c.span.start >= span.start)
    }

    /// Opens a block whose first member (or, if empty, closing brace) starts
    /// at `first` in the source.
    fn open_block(&mut self, first: u32) {
        self.out.push_str(" {");
        self.comment_after_open(first);
        self.out.push('\n');
        self.indent += 1;
        self.block_start = true;
    }

    /// Right after printing an opening `{` or `[`: a comment that followed
    /// the bracket on its source line, before the group's first element at
    /// `first`, stays on the bracket's line.
    fn comment_after_open(&mut self, first: u32) {
        let Some(c) = self.comments.get(self.next_comment) else { return };
        // Doc comments go on their own line, before what they document.
        if c.span.start >= first || c.text.starts_with("///") {
            return;
        }
        let before = self.src.get(..c.span.start as usize).unwrap_or("");
        let line = before.rsplit('\n').next().unwrap_or("");
        if line.trim_end().ends_with(['{', '[']) {
            self.out.push(' ');
            self.out.push_str(&c.text);
            self.next_comment += 1;
            self.last_end = self.last_end.max(c.span.end);
        }
    }

    fn close_block(&mut self, end: u32) {
        let pending = self.comments.get(self.next_comment).is_some_and(|c| c.span.start < end);
        if self.block_start && !pending && self.out.ends_with("{\n") {
            // An empty block: `{}`.
            self.out.pop();
            self.indent = self.indent.saturating_sub(1);
            self.out.push('}');
            self.block_start = false;
            self.end_line(end);
            return;
        }
        // Comments before the closing brace belong inside the block.
        self.flush_comments(end, Blank::Keep);
        self.indent = self.indent.saturating_sub(1);
        self.push_indent();
        self.out.push('}');
        self.block_start = false;
        self.end_line(end);
    }

    fn column(&self) -> usize {
        let line_start = self.out.rfind('\n').map_or(0, |i| i + 1);
        self.out.len() - line_start
    }

    fn docs_and_annotations(&mut self, docs: &Docs, annotations: &[Annotation], start: u32, blank: Blank) {
        // Doc comments are comments: they are printed by `line` as they come.
        let _ = docs;
        let mut blank = blank;
        for a in annotations {
            self.line(a.span.start.max(start), blank);
            blank = Blank::Keep;
            self.out.push_str(&annotation(a));
            self.end_line(a.span.end);
        }
    }

    // ───────────────────────── items ─────────────────────────

    fn item(&mut self, item: &Item, blank: Blank) {
        match item {
            Item::Import(i) => {
                self.line(i.span.start, blank);
                self.out.push_str("import ");
                self.out.push_str(&i.path.text());
                if let Some(alias) = &i.alias {
                    self.out.push_str(" as ");
                    self.out.push_str(&alias.name);
                }
                self.end_line(i.span.end);
            }
            Item::Schema(s) => self.schema(s, blank),
            Item::Agent(a) => self.agent(a, blank),
            Item::Policy(p) => self.policy(p, blank),
            Item::Detector(d) => self.detector(d, blank),
            Item::Fixture(f) => {
                self.line(f.span.start, blank);
                self.out.push_str("fixture ");
                self.out.push_str(&f.name.name);
                self.entity_block(&f.entities, f.span.end);
            }
            Item::Test(t) => self.test(t, blank),
            Item::Assert(a) => self.assert_decl(a, blank),
            Item::Error(span) => {
                // Unreachable through `format_source`, which refuses files with
                // errors; print the text unchanged rather than lose it.
                self.line(span.start, blank);
                self.out.push_str(self.src.get(span.range()).unwrap_or("").trim());
                self.end_line(span.end);
            }
        }
    }

    fn schema(&mut self, s: &SchemaDecl, blank: Blank) {
        self.docs_and_annotations(&s.docs, &s.annotations, s.span.start, blank);
        let blank = if s.annotations.is_empty() { blank } else { Blank::Keep };
        self.line(s.name.span.start, blank);
        self.out.push_str(if s.namespace { "namespace " } else { "schema " });
        self.out.push_str(&s.name.name);
        self.open_block(s.items.first().map_or(s.span.end, |i| i.span().start));
        for item in &s.items {
            self.schema_item(item);
        }
        self.close_block(s.span.end);
    }

    fn schema_item(&mut self, item: &SchemaItem) {
        match item {
            SchemaItem::Entity(e) => {
                self.docs_and_annotations(&e.docs, &e.annotations, e.span.start, Blank::Keep);
                self.line(e.name.span.start, Blank::Keep);
                self.out.push_str("entity ");
                self.out.push_str(&e.name.name);
                if let Some(parents) = &e.parents {
                    self.out.push_str(" in ");
                    self.out.push_str(&name_list(parents));
                }
                if let Some(attrs) = &e.attrs {
                    self.out.push(' ');
                    self.record_type(attrs);
                }
                if let Some(t) = &e.tags {
                    self.out.push_str(" tags ");
                    self.type_expr(t);
                }
                self.end_line(e.span.end);
            }
            SchemaItem::Enum(e) => {
                self.docs_and_annotations(&e.docs, &e.annotations, e.span.start, Blank::Keep);
                self.line(e.name.span.start, Blank::Keep);
                self.out.push_str("enum ");
                self.out.push_str(&e.name.name);
                if e.ordered {
                    self.out.push_str(" ordered");
                }
                let items: Vec<(String, Span)> = e.variants.iter().map(|v| (v.name.clone(), v.span)).collect();
                self.out.push(' ');
                self.list("{", "}", &items, e.span);
                self.end_line(e.span.end);
            }
            SchemaItem::TypeAlias(t) => {
                self.docs_and_annotations(&t.docs, &t.annotations, t.span.start, Blank::Keep);
                self.line(t.name.span.start, Blank::Keep);
                self.out.push_str("type ");
                self.out.push_str(&t.name.name);
                self.out.push_str(" = ");
                self.type_expr(&t.ty);
                self.end_line(t.span.end);
            }
            SchemaItem::Action(a) => {
                self.docs_and_annotations(&a.docs, &a.annotations, a.span.start, Blank::Keep);
                self.line(a.names.first().map_or(a.span.start, |n| n.span.start), Blank::Keep);
                self.out.push_str("action ");
                let names: Vec<String> = a.names.iter().map(|n| action_name(&n.name)).collect();
                self.out.push_str(&names.join(", "));
                if let Some(l) = &a.parents {
                    self.out.push_str(" in ");
                    self.out.push_str(&name_list(l));
                }
                if let Some(l) = &a.principals {
                    self.out.push_str(" by ");
                    self.out.push_str(&name_list(l));
                }
                if let Some(l) = &a.resources {
                    self.out.push_str(" on ");
                    self.out.push_str(&name_list(l));
                }
                if let Some(r) = &a.context {
                    self.out.push_str(" with ");
                    self.record_type(r);
                }
                if let Some(t) = &a.returns {
                    self.out.push_str(" returns ");
                    self.type_expr(t);
                }
                self.end_line(a.span.end);
            }
            SchemaItem::Context(c) => {
                self.line(c.span.start, Blank::Keep);
                self.out.push_str("context ");
                self.record_type(&c.fields);
                self.end_line(c.span.end);
            }
            SchemaItem::Error(span) => {
                self.line(span.start, Blank::Keep);
                self.out.push_str(self.src.get(span.range()).unwrap_or("").trim());
                self.end_line(span.end);
            }
        }
    }

    fn type_expr(&mut self, t: &TypeExpr) {
        deeper(|| self.type_expr_inner(t));
    }

    fn type_expr_inner(&mut self, t: &TypeExpr) {
        match t {
            TypeExpr::Record(r) => self.record_type(r),
            // `List<{ … }>`: the record may need breaking (or hold comments).
            TypeExpr::Named { name, arg: Some(arg), .. } => {
                self.out.push_str(&name.text());
                self.out.push('<');
                self.type_expr(arg);
                self.out.push('>');
            }
            TypeExpr::Named { .. } => self.out.push_str(&type_flat(t)),
            TypeExpr::Union { members, .. } => {
                for (i, m) in members.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(" | ");
                    }
                    self.type_expr(m);
                }
            }
        }
    }

    fn record_type(&mut self, r: &RecordType) {
        let flat = record_type_flat(r);
        if r.fields.is_empty() || (!self.has_comment_in(r.span) && self.column() + flat.len() <= MAX_WIDTH) {
            self.out.push_str(&flat);
            return;
        }
        self.out.push('{');
        self.comment_after_open(r.fields.first().map_or(r.span.end, |f| f.span.start));
        self.out.push('\n');
        self.indent += 1;
        self.block_start = true;
        for f in &r.fields {
            let start = f.annotations.first().map_or(f.name.span.start, |a| a.span.start);
            self.line(start, Blank::Keep);
            for a in &f.annotations {
                self.out.push_str(&annotation(a));
                self.out.push(' ');
            }
            self.out.push_str(&f.name.name);
            if f.optional {
                self.out.push('?');
            }
            self.out.push_str(": ");
            self.type_expr(&f.ty);
            self.out.push(',');
            self.end_line(f.span.end);
        }
        self.close_inline(r.span.end);
    }

    /// Closes a bracketed group broken over lines; the caller continues the line.
    fn close_inline_with(&mut self, end: u32, close: &str) {
        self.flush_comments(end, Blank::Keep);
        self.indent = self.indent.saturating_sub(1);
        self.push_indent();
        self.out.push_str(close);
        self.last_end = self.last_end.max(end);
        self.block_start = false;
    }

    fn close_inline(&mut self, end: u32) {
        self.close_inline_with(end, "}");
    }

    /// A comma-separated list of pre-printed elements, flat when it fits.
    fn list(&mut self, open: &str, close: &str, items: &[(String, Span)], span: Span) {
        let inner: Vec<&str> = items.iter().map(|(s, _)| s.as_str()).collect();
        let flat = if items.is_empty() {
            format!("{open}{close}")
        } else if open == "{" {
            format!("{{ {} }}", inner.join(", "))
        } else {
            format!("{open}{}{close}", inner.join(", "))
        };
        if items.is_empty() || (!self.has_comment_in(span) && self.column() + flat.len() <= MAX_WIDTH) {
            self.out.push_str(&flat);
            return;
        }
        self.out.push_str(open);
        self.comment_after_open(items.first().map_or(span.end, |(_, s)| s.start));
        self.out.push('\n');
        self.indent += 1;
        self.block_start = true;
        for (text, item_span) in items {
            self.line(item_span.start, Blank::Keep);
            self.out.push_str(text);
            self.out.push(',');
            self.end_line(item_span.end);
        }
        self.close_inline_with(span.end, close);
    }

    // ───────────────────────── agents and detectors ─────────────────────────

    fn agent(&mut self, a: &AgentDecl, blank: Blank) {
        self.docs_and_annotations(&a.docs, &a.annotations, a.span.start, blank);
        let blank = if a.annotations.is_empty() { blank } else { Blank::Keep };
        self.line(a.name.span.start, blank);
        self.out.push_str("agent ");
        self.out.push_str(&a.name.name);
        self.out.push_str(": ");
        self.out.push_str(&a.ty.text());
        if let Some(parents) = &a.parents {
            let items: Vec<String> = parents.iter().map(entity_ref).collect();
            self.out.push_str(&format!(" in [{}]", items.join(", ")));
        }
        self.open_block(a.fields.first().map_or(a.span.end, |f| f.span.start));
        for f in &a.fields {
            self.line(f.span.start, Blank::Keep);
            match &f.kind {
                AgentFieldKind::Owner(e) => {
                    self.out.push_str("owner ");
                    self.out.push_str(&expr(e));
                }
                AgentFieldKind::Created(d) => self.out.push_str(&format!("created {}", d.raw)),
                AgentFieldKind::Expires(d) => self.out.push_str(&format!("expires {}", d.raw)),
                AgentFieldKind::Rotate { every, last } => {
                    self.out.push_str(&format!("rotate credentials every {}", every.raw));
                    if let Some(last) = last {
                        self.out.push_str(&format!(" last {}", last.raw));
                    }
                }
                AgentFieldKind::Review { every, last } => {
                    self.out.push_str(&format!("review every {}", every.raw));
                    if let Some(last) = last {
                        self.out.push_str(&format!(" last {}", last.raw));
                    }
                }
                AgentFieldKind::Attrs(entries, span) => {
                    self.out.push_str("attrs ");
                    self.record_lit(entries, *span);
                }
                AgentFieldKind::Description(s) => {
                    self.out.push_str("description ");
                    self.out.push_str(&s.raw);
                }
            }
            self.end_line(f.span.end);
        }
        self.close_block(a.span.end);
    }

    fn detector(&mut self, d: &DetectorDecl, blank: Blank) {
        self.docs_and_annotations(&d.docs, &d.annotations, d.span.start, blank);
        let blank = if d.annotations.is_empty() { blank } else { Blank::Keep };
        self.line(d.name.span.start, blank);
        self.out.push_str("detector ");
        self.out.push_str(&d.name.name);
        self.out.push_str(" = ");
        match &d.def {
            DetectorDef::Builtin(s) => self.out.push_str(&format!("builtin {}", s.raw)),
            DetectorDef::Pattern { regex, validate } => {
                self.out.push_str(&format!("pattern {}", regex.raw));
                if let Some(v) = validate {
                    self.out.push_str(&format!(" validate {}", v.name));
                }
            }
            DetectorDef::Keywords(words) => {
                self.out.push_str("keywords ");
                let items: Vec<(String, Span)> = words.iter().map(|w| (w.raw.clone(), w.span)).collect();
                self.list("[", "]", &items, d.span);
            }
            DetectorDef::Group(paths) => {
                let items: Vec<(String, Span)> = paths.iter().map(|p| (p.text(), p.span)).collect();
                self.list("[", "]", &items, d.span);
            }
        }
        self.end_line(d.span.end);
    }

    // ───────────────────────── policies ─────────────────────────

    fn policy(&mut self, p: &PolicyDecl, blank: Blank) {
        self.docs_and_annotations(&p.docs, &p.annotations, p.span.start, blank);
        let blank = if p.annotations.is_empty() { blank } else { Blank::Keep };
        self.line(p.name.span.start, blank);
        self.out.push_str("policy ");
        self.out.push_str(&p.name.name);
        self.open_block(p.items.first().map_or(p.span.end, |i| i.span().start));
        for (i, item) in p.items.iter().enumerate() {
            let blank = if i == 0 { Blank::Keep } else { Blank::Force };
            match item {
                PolicyItem::Rule(r) => self.rule(r, blank),
                PolicyItem::Mask(m) => self.mask(m, blank),
                PolicyItem::Limit(l) => self.limit(l, blank),
                PolicyItem::Error(span) => {
                    self.line(span.start, blank);
                    self.out.push_str(self.src.get(span.range()).unwrap_or("").trim());
                    self.end_line(span.end);
                }
            }
        }
        self.close_block(p.span.end);
    }

    fn rule(&mut self, r: &Rule, blank: Blank) {
        self.docs_and_annotations(&r.docs, &r.annotations, r.span.start, blank);
        let blank = if r.annotations.is_empty() { blank } else { Blank::Keep };
        self.line(r.effect_span.start, blank);
        self.out.push_str(match r.effect {
            Effect::Permit => "permit",
            Effect::Forbid => "forbid",
        });
        if let Some(scope) = &r.scope {
            self.out.push(' ');
            self.out.push_str(&scope_text(scope));
        }
        let head_end = r.scope.as_ref().map_or(r.effect_span.end, |s| s.span.end);
        self.end_line(head_end);
        self.indent += 1;
        self.conditions(&r.conditions);
        for c in &r.clauses {
            self.line(c.span.start, Blank::Keep);
            self.out.push_str(match c.kind {
                ClauseKind::Obligation => "obligation ",
                ClauseKind::Advice => "advice ",
            });
            self.out.push_str(&call_item(&c.call));
            self.end_line(c.span.end);
        }
        self.indent -= 1;
    }

    fn assert_decl(&mut self, a: &AssertDecl, blank: Blank) {
        self.line(a.span.start, blank);
        self.out.push_str("assert ");
        if let Some(name) = &a.name {
            self.out.push_str(&name.raw);
            self.out.push(' ');
        }
        self.out.push_str(match a.quantifier {
            Quantifier::Never => "never ",
            Quantifier::Always => "always ",
        });
        self.out.push_str(a.outcome.keyword());
        if let Some(scope) = &a.scope {
            self.out.push(' ');
            self.out.push_str(&scope_text(scope));
        }
        let head_end = a.scope.as_ref().map_or(a.outcome_span.end, |s| s.span.end);
        self.end_line(head_end);
        self.indent += 1;
        self.conditions(&a.conditions);
        self.indent -= 1;
    }

    fn conditions(&mut self, conditions: &[Condition]) {
        for c in conditions {
            self.line(c.span.start, Blank::Keep);
            let keyword = match c.kind {
                ConditionKind::When => "when ",
                ConditionKind::Unless => "unless ",
            };
            self.out.push_str(keyword);
            let flat = expr(&c.expr);
            if self.column() + flat.len() <= MAX_WIDTH {
                self.out.push_str(&flat);
            } else {
                self.broken_logic(&c.expr);
            }
            self.end_line(c.span.end);
        }
    }

    /// Prints a long condition with each operand of its top-level `&&`/`||`
    /// chain on its own line, the operator leading.
    fn broken_logic(&mut self, e: &Expr) {
        let op = match &e.kind {
            ExprKind::Binary { op: op @ (BinaryOp::And | BinaryOp::Or), .. } => *op,
            _ => {
                self.out.push_str(&expr(e));
                return;
            }
        };
        let mut operands = Vec::new();
        collect_chain(e, op, &mut operands);
        let mut first = true;
        self.indent += 1;
        for operand in operands {
            if !first {
                self.out.push('\n');
                self.push_indent();
                self.out.push_str(op.symbol());
                self.out.push(' ');
            }
            first = false;
            self.out.push_str(&expr(operand));
        }
        self.indent -= 1;
    }

    fn mask(&mut self, m: &MaskRule, blank: Blank) {
        self.docs_and_annotations(&m.docs, &m.annotations, m.span.start, blank);
        let blank = if m.annotations.is_empty() { blank } else { Blank::Keep };
        self.line(m.paths.first().map_or(m.span.start, |p| p.span.start), blank);
        let paths: Vec<String> = m.paths.iter().map(MaskPath::text).collect();
        let with: Vec<String> = m.with.iter().map(call_item).collect();
        self.out.push_str(&format!("mask {} with {}", paths.join(", "), with.join(", ")));
        if let Some(using) = &m.using {
            self.out.push_str(" using ");
            self.out.push_str(&call_item(using));
        }
        let head_end = m.using.as_ref().map(|u| u.span.end).or(m.with.last().map(|w| w.span.end)).unwrap_or(m.span.end);
        self.end_line(head_end);
        self.indent += 1;
        if let Some(scope) = &m.scope {
            self.line(scope.span.start, Blank::Keep);
            self.out.push_str("on ");
            self.out.push_str(&scope_text(scope));
            self.end_line(scope.span.end);
        }
        self.conditions(&m.conditions);
        self.indent -= 1;
    }

    fn limit(&mut self, l: &LimitRule, blank: Blank) {
        self.docs_and_annotations(&l.docs, &l.annotations, l.span.start, blank);
        let blank = if l.annotations.is_empty() { blank } else { Blank::Keep };
        self.line(
            l.scope
                .as_ref()
                .map(|s| s.span.start)
                .or(l.measure.as_ref().map(|m| m.span.start))
                .unwrap_or(l.count.span.start),
            blank,
        );
        self.out.push_str("limit ");
        if let Some(scope) = &l.scope {
            self.out.push_str(&scope_text(scope));
            self.out.push(' ');
        }
        if let Some(m) = &l.measure {
            self.out.push_str(&format!("{}({}) ", m.kind.word(), expr(&m.expr)));
        }
        self.out.push_str(&format!("to {} per {}", l.count.raw, l.window.raw));
        let mut head_end = l.window.span.end;
        if let Some(b) = &l.burst {
            self.out.push_str(&format!(" burst {}", b.raw));
            head_end = b.span.end;
        }
        if !l.keys.is_empty() {
            let keys: Vec<String> = l.keys.iter().map(expr).collect();
            self.out.push_str(&format!(" per {}", keys.join(", ")));
            head_end = l.keys.last().map_or(head_end, |k| k.span.end);
        }
        self.end_line(head_end);
        self.indent += 1;
        self.conditions(&l.conditions);
        if let Some((mode, span)) = &l.fail {
            self.line(span.start, Blank::Keep);
            self.out.push_str(match mode {
                FailMode::Open => "fail open",
                FailMode::Closed => "fail closed",
            });
            self.end_line(span.end);
        }
        self.indent -= 1;
    }

    // ───────────────────────── tests ─────────────────────────

    fn entity_block(&mut self, entities: &[EntityLit], end: u32) {
        self.open_block(entities.first().map_or(end, |e| e.span.start));
        for e in entities {
            self.line(e.span.start, Blank::Keep);
            self.out.push_str("entity ");
            self.out.push_str(&entity_ref(&e.uid));
            if let Some(parents) = &e.parents {
                let items: Vec<String> = parents.iter().map(entity_ref).collect();
                self.out.push_str(&format!(" in [{}]", items.join(", ")));
            }
            if let Some((entries, span)) = &e.attrs {
                self.out.push(' ');
                self.record_lit(entries, *span);
            }
            if let Some((entries, span)) = &e.tags {
                self.out.push_str(" tags ");
                self.record_lit(entries, *span);
            }
            self.end_line(e.span.end);
        }
        self.close_block(end);
    }

    fn test(&mut self, t: &TestDecl, blank: Blank) {
        self.line(t.span.start, blank);
        self.out.push_str("test ");
        self.out.push_str(&t.name.raw);
        let first = t.steps.first().map_or(t.span.end, |step| match step {
            TestStep::Using(_, span) | TestStep::Entities(_, span) => span.start,
            TestStep::At(lit) | TestStep::Advance(lit) => lit.span.start,
            TestStep::Link(l) => l.span.start,
            TestStep::Request(r) => r.span.start,
        });
        self.open_block(first);
        for step in &t.steps {
            match step {
                TestStep::Using(names, span) => {
                    self.line(span.start, Blank::Keep);
                    let names: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
                    self.out.push_str(&format!("using {}", names.join(", ")));
                    self.end_line(span.end);
                }
                TestStep::At(lit) => {
                    self.line(lit.span.start.saturating_sub(1), Blank::Keep);
                    self.out.push_str(&format!("at {}", lit.raw));
                    self.end_line(lit.span.end);
                }
                TestStep::Advance(lit) => {
                    self.line(lit.span.start.saturating_sub(1), Blank::Keep);
                    self.out.push_str(&format!("advance {}", lit.raw));
                    self.end_line(lit.span.end);
                }
                TestStep::Entities(entities, span) => {
                    self.line(span.start, Blank::Keep);
                    self.out.push_str("entities");
                    self.entity_block(entities, span.end);
                }
                TestStep::Link(l) => {
                    self.line(l.span.start, Blank::Keep);
                    self.out.push_str(&format!("link {} to {} ", l.id.raw, l.template.raw));
                    let values: Vec<(String, Span)> = l
                        .values
                        .iter()
                        .map(|(v, slot, e)| {
                            (format!("?{}: {}", v.name(), entity_ref(e)), Span { start: slot.start, end: e.span.end })
                        })
                        .collect();
                    self.list("{", "}", &values, Span { start: l.template.span.end, end: l.span.end });
                    self.end_line(l.span.end);
                }
                TestStep::Request(r) => {
                    self.line(r.span.start, Blank::Keep);
                    self.out.push_str("request ");
                    self.record_lit(&r.fields, r.fields_span);
                    self.end_line(r.fields_span.end);
                    if let Some(result) = &r.result {
                        self.line(result.span.start, Blank::Keep);
                        self.out.push_str("returns ");
                        match &result.kind {
                            ExprKind::Record(entries) => self.record_lit(entries, result.span),
                            _ => self.out.push_str(&expr(result)),
                        }
                        self.end_line(result.span.end);
                    }
                    for x in &r.expectations {
                        self.line(x.span.start, Blank::Keep);
                        self.out.push_str(&expectation(x));
                        self.end_line(x.span.end);
                    }
                }
            }
        }
        self.close_block(t.span.end);
    }

    /// A record literal: flat when it fits and holds no comment, otherwise
    /// one entry per line (nested records decide for themselves).
    fn record_lit(&mut self, entries: &[RecordEntry], span: Span) {
        deeper(|| self.record_lit_inner(entries, span));
    }

    fn record_lit_inner(&mut self, entries: &[RecordEntry], span: Span) {
        let flat = record_flat(entries);
        if entries.is_empty() || (!self.has_comment_in(span) && self.column() + flat.len() <= MAX_WIDTH) {
            self.out.push_str(&flat);
            return;
        }
        self.out.push('{');
        self.comment_after_open(entries.first().map_or(span.end, |e| e.span.start));
        self.out.push('\n');
        self.indent += 1;
        self.block_start = true;
        for entry in entries {
            self.line(entry.span.start, Blank::Keep);
            self.out.push_str(&record_key(&entry.key));
            self.out.push_str(": ");
            match &entry.value.kind {
                ExprKind::Record(inner) => self.record_lit(inner, entry.value.span),
                ExprKind::Set(items) => {
                    let items: Vec<(String, Span)> = items.iter().map(|e| (expr(e), e.span)).collect();
                    self.list("[", "]", &items, entry.value.span);
                }
                _ => self.out.push_str(&expr(&entry.value)),
            }
            self.out.push(',');
            self.end_line(entry.span.end);
        }
        self.close_inline(span.end);
    }
}

// ───────────────────────── flat printing ─────────────────────────

fn annotation(a: &Annotation) -> String {
    match &a.arg {
        None => format!("@{}", a.name.name),
        Some(AnnotationArg::Lit(l)) => format!("@{}({})", a.name.name, l.raw),
        Some(AnnotationArg::Word(w)) => format!("@{}({})", a.name.name, w.name),
    }
}

fn name_list(l: &NameList) -> String {
    let names: Vec<String> = l
        .names
        .iter()
        .map(|p| match p.segments.as_slice() {
            [one] => action_ref(&one.name),
            _ => p.text(),
        })
        .collect();
    if l.bracketed { format!("[{}]", names.join(", ")) } else { names.join(", ") }
}

/// An action named where it is referred to: a namespaced name
/// (`Taxpreparer::view`) is written as it is, each part an identifier.
fn action_ref(name: &str) -> String {
    let qualified = name.contains("::") && name.split("::").all(|part| action_name(part) == part);
    if qualified { name.to_string() } else { action_name(name) }
}

/// A name as written: itself when it is an identifier, else (an action
/// named by a string, `"view document"`) a string literal.
fn action_name(name: &str) -> String {
    let tokens = crate::lexer::lex(name);
    if let [t] = tokens.as_slice()
        && t.kind == crate::lexer::TokenKind::Ident
        && t.span.end as usize == name.len()
    {
        return name.to_string();
    }
    let mut out = String::from("\"");
    for c in name.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn type_flat(t: &TypeExpr) -> String {
    deeper(|| type_flat_inner(t))
}

fn type_flat_inner(t: &TypeExpr) -> String {
    match t {
        TypeExpr::Named { name, arg: Some(arg), .. } => format!("{}<{}>", name.text(), type_flat(arg)),
        TypeExpr::Named { name, arg: None, .. } => name.text(),
        TypeExpr::Record(r) => record_type_flat(r),
        TypeExpr::Union { members, .. } => members.iter().map(type_flat).collect::<Vec<_>>().join(" | "),
    }
}

fn record_type_flat(r: &RecordType) -> String {
    if r.fields.is_empty() {
        return "{}".to_string();
    }
    let fields: Vec<String> = r
        .fields
        .iter()
        .map(|f| {
            let mut s = String::new();
            for a in &f.annotations {
                s.push_str(&annotation(a));
                s.push(' ');
            }
            s.push_str(&f.name.name);
            if f.optional {
                s.push('?');
            }
            s.push_str(": ");
            s.push_str(&type_flat(&f.ty));
            s
        })
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

fn entity_ref(e: &EntityRefLit) -> String {
    format!("{}::{}", e.ty.text(), e.id.raw)
}

fn scope_text(scope: &Scope) -> String {
    let items: Vec<String> = scope
        .items
        .iter()
        .map(|item| match item {
            ScopeItem::Principal(s) => entity_scope("principal", s),
            ScopeItem::Resource(s) => entity_scope("resource", s),
            ScopeItem::Action(a) => {
                let op = match a.op {
                    ActionOp::Is => ":",
                    ActionOp::In => " in",
                    ActionOp::Eq => " ==",
                };
                format!("action{op} {}", name_list(&a.actions))
            }
        })
        .collect();
    items.join(", ")
}

fn entity_scope(var: &str, s: &EntityScope) -> String {
    let mut out = var.to_string();
    if let Some(ty) = &s.ty {
        out.push_str(": ");
        out.push_str(&ty.text());
    }
    if let Some(c) = &s.constraint {
        out.push_str(match c.op {
            ScopeOp::In => " in ",
            ScopeOp::Eq => " == ",
        });
        out.push_str(&expr(&c.target));
    }
    out
}

fn call_item(c: &CallItem) -> String {
    match &c.args {
        None => c.name.text(),
        Some(args) => {
            let args: Vec<String> = args.iter().map(|a| format!("{}: {}", a.name.name, expr(&a.value))).collect();
            format!("{}({})", c.name.text(), args.join(", "))
        }
    }
}

fn record_key(key: &RecordKey) -> String {
    match key {
        RecordKey::Word(w) => w.name.clone(),
        RecordKey::Str(s) => s.raw.clone(),
    }
}

fn record_flat(entries: &[RecordEntry]) -> String {
    let mut out = String::new();
    write_record(entries, &mut out);
    out
}

fn write_record(entries: &[RecordEntry], out: &mut String) {
    if entries.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{ ");
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match &entry.key {
            RecordKey::Word(w) => out.push_str(&w.name),
            RecordKey::Str(s) => out.push_str(&s.raw),
        }
        out.push_str(": ");
        write_expr(&entry.value, out);
    }
    out.push_str(" }");
}

fn collect_chain<'e>(e: &'e Expr, op: BinaryOp, out: &mut Vec<&'e Expr>) {
    match &e.kind {
        ExprKind::Binary { op: o, lhs, rhs } if *o == op => {
            collect_chain(lhs, op, out);
            out.push(rhs);
        }
        _ => out.push(e),
    }
}

/// Prints an expression on one line. Parentheses are the author's (kept in
/// the tree), so printing never changes how an expression groups.
pub fn expr(e: &Expr) -> String {
    let mut out = String::new();
    write_expr(e, &mut out);
    out
}

fn write_list(items: &[Expr], out: &mut String) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_expr(item, out);
    }
}

fn write_expr(e: &Expr, out: &mut String) {
    deeper(|| write_expr_inner(e, out));
}

fn write_expr_inner(e: &Expr, out: &mut String) {
    match &e.kind {
        ExprKind::Lit(l) => out.push_str(&l.raw),
        ExprKind::Var(v) => out.push_str(v.name()),
        ExprKind::Slot(v) => {
            out.push('?');
            out.push_str(v.name());
        }
        ExprKind::Name(n) => out.push_str(&n.name),
        ExprKind::EntityRef(r) => out.push_str(&entity_ref(r)),
        ExprKind::EnumRef { ty, variant } => {
            out.push_str(&ty.text());
            out.push_str("::");
            out.push_str(&variant.name);
        }
        ExprKind::Call { func, args } => {
            out.push_str(&func.name);
            out.push('(');
            write_list(args, out);
            out.push(')');
        }
        ExprKind::Member { base, name } => {
            write_expr(base, out);
            dot_after(base, out);
            out.push_str(&name.name);
        }
        ExprKind::MethodCall { receiver, method, args } => {
            write_expr(receiver, out);
            dot_after(receiver, out);
            out.push_str(&method.name);
            out.push('(');
            write_list(args, out);
            out.push(')');
        }
        ExprKind::Index { base, key } => {
            write_expr(base, out);
            out.push('[');
            out.push_str(&key.raw);
            out.push(']');
        }
        ExprKind::Unary { op, operand } => {
            out.push(match op {
                UnaryOp::Not => '!',
                UnaryOp::Neg => '-',
            });
            write_expr(operand, out);
        }
        ExprKind::Binary { op, lhs, rhs } => {
            write_expr(lhs, out);
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            write_expr(rhs, out);
        }
        ExprKind::Has { base, path } => {
            write_expr(base, out);
            out.push_str(" has ");
            let names: Vec<&str> = path.iter().map(|p| p.name.as_str()).collect();
            out.push_str(&names.join("."));
        }
        ExprKind::Is { base, ty, within } => {
            write_expr(base, out);
            out.push_str(" is ");
            out.push_str(&ty.text());
            if let Some(within) = within {
                out.push_str(" in ");
                write_expr(within, out);
            }
        }
        ExprKind::Like { base, pattern } => {
            write_expr(base, out);
            out.push_str(" like ");
            out.push_str(&pattern.raw);
        }
        ExprKind::Matches { base, target } => {
            write_expr(base, out);
            out.push_str(" matches ");
            match target {
                MatchTarget::Regex(l) => out.push_str(&l.raw),
                MatchTarget::Detector(p) => out.push_str(&p.text()),
            }
        }
        ExprKind::Set(items) => {
            out.push('[');
            write_list(items, out);
            out.push(']');
        }
        ExprKind::Record(entries) => write_record(entries, out),
        ExprKind::Paren(inner) => {
            out.push('(');
            write_expr(inner, out);
            out.push(')');
        }
        ExprKind::Flow(flow) => write_flow(flow, out),
    }
}

/// The `.` of a member access or method call. After an integer it needs a
/// space: `10.abs()` would read as a malformed decimal.
fn dot_after(base: &Expr, out: &mut String) {
    if matches!(&base.kind, ExprKind::Lit(Lit { kind: LitKind::Int, .. })) {
        out.push(' ');
    }
    out.push('.');
}

fn write_flow(flow: &FlowExpr, out: &mut String) {
    let body = |out: &mut String| {
        out.push_str("within ");
        out.push_str(&flow.window.raw);
        if let Some((group, _)) = &flow.group {
            out.push_str(match group {
                FlowGroup::Session => " by session",
                FlowGroup::Principal => " by principal",
            });
        }
        out.push(' ');
        out.push_str(&scope_text(&flow.scope));
        if let Some(filter) = &flow.filter {
            out.push_str(" where ");
            write_expr(filter, out);
        }
    };
    match &flow.kind {
        FlowKind::Previously => {
            out.push_str("previously ");
            body(out);
        }
        FlowKind::Count => {
            out.push_str("count(");
            body(out);
            out.push(')');
        }
        FlowKind::Sum(value) => {
            out.push_str("sum(");
            write_expr(value, out);
            out.push_str(", ");
            body(out);
            out.push(')');
        }
    }
}

fn expectation(x: &Expectation) -> String {
    let mut out = format!("expect {}", x.outcome.keyword());
    if !x.by.is_empty() {
        let ids: Vec<&str> = x.by.iter().map(|l| l.raw.as_str()).collect();
        out.push_str(" by ");
        out.push_str(&ids.join(", "));
    }
    if !x.details.is_empty() {
        let details: Vec<String> = x
            .details
            .iter()
            .map(|d| match d {
                ExpectDetail::Obligation(p) => format!("obligation {}", p.text()),
                ExpectDetail::Mask(m) => format!("mask {}", m.text()),
                ExpectDetail::Error(s) => format!("error {}", s.raw),
                ExpectDetail::Remaining(n) => format!("remaining {}", n.raw),
            })
            .collect();
        out.push_str(" with ");
        out.push_str(&details.join(", "));
    }
    out
}
