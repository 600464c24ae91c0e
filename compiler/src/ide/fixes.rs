//! Code actions: the "did you mean" fixes of diagnostics, a missing `has`
//! guard, a missing `import`, the hints for common mistakes (`=` for
//! `==`, `!x has f`, a set compared with one value, a `@shadow` only permit),
//! and a repeated rule.

use ward_grammar::Span;
use ward_grammar::ast::*;

use super::Edit;
use crate::check::{contains_call, negated_left_operand};
use crate::diagnostic::{Diagnostic, FileId};
use crate::units::parse;
use crate::workspace::Workspace;

/// A fix: a title, the edits, and the diagnostic it resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub title: String,
    pub edits: Vec<Edit>,
    pub diagnostic: Diagnostic,
    pub preferred: bool,
}

/// The fixes for the diagnostics of `file` that overlap `range`.
pub fn code_actions(ws: &Workspace, file: FileId, range: Span) -> Vec<Fix> {
    let Some(text) = ws.text(file) else { return Vec::new() };
    let mut out = Vec::new();
    for d in ws.diagnostics() {
        let span = d.primary.span;
        if d.primary.file != file || span.end < range.start || span.start > range.end {
            continue;
        }
        if let Some(fix) = did_you_mean(text, file, &d) {
            out.push(fix);
        }
        if d.code == "E0204"
            && let Some(fix) = has_guard(ws, file, &d)
        {
            out.push(fix);
        }
        if d.code == "E0107"
            && let Some(fix) = add_import(ws, file, &d)
        {
            out.push(fix);
        }
        let fix = match d.code {
            "E0001" => double_equals(text, file, &d),
            "E0201" => not_outside(ws, file, &d).or_else(|| use_contains(ws, text, file, &d)),
            "E0202" => use_contains(ws, text, file, &d),
            "W0120" => remove_shadow(text, file, &d),
            "W0121" => remove_repeat(ws, text, file, &d),
            "W0115" => address_glob(ws, text, file, &d),
            _ => None,
        };
        out.extend(fix);
    }
    out
}

/// "did you mean `x`?": replace the name with `x`.
fn did_you_mean(text: &str, file: FileId, d: &Diagnostic) -> Option<Fix> {
    let help = d.help.as_deref()?;
    let rest = help.strip_prefix("did you mean `")?;
    let suggestion = &rest[..rest.find('`')?];
    // Only names: other suggestions (an operator, an expression) have fixes of their own.
    if !suggestion.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')) {
        return None;
    }
    let old = text.get(d.primary.span.range())?;
    let new = if old.starts_with('"') {
        format!("\"{suggestion}\"")
    } else if !old.is_empty() && old.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
        suggestion.to_string()
    } else {
        return None;
    };
    Some(Fix {
        title: format!("Replace `{old}` with `{new}`"),
        edits: vec![Edit { file, span: d.primary.span, text: new }],
        diagnostic: d.clone(),
        preferred: true,
    })
}

/// `resource.x` read without `resource has x`: add the guard in front of
/// the comparison that reads it.
fn has_guard(ws: &Workspace, file: FileId, d: &Diagnostic) -> Option<Fix> {
    let tree = &parse(ws.db(), ws.file(file)?).file;
    let at = d.primary.span;
    let root = conditions(tree).into_iter().find(|e| e.span.start <= at.start && at.end <= e.span.end)?;
    // Walk down to the read, remembering the outermost operand of a logical
    // operator on the way (that is where the guard goes).
    let mut target: Option<(&Expr, bool)> = None; // (operand, needs parentheses)
    let mut node = root;
    let mut parent_logical: Option<bool> = Some(false); // Some(needs parens) while above is logical or the root
    let (base, name) = loop {
        let inside = |e: &Expr| e.span.start <= at.start && at.end <= e.span.end;
        match &node.kind {
            ExprKind::Binary { op: op @ (BinaryOp::And | BinaryOp::Or), lhs, rhs } => {
                parent_logical = Some(*op == BinaryOp::Or);
                node = if inside(lhs) { lhs } else { rhs };
                continue;
            }
            ExprKind::Unary { op: UnaryOp::Not, operand } => {
                parent_logical = Some(true);
                node = operand;
                continue;
            }
            ExprKind::Paren(inner) if parent_logical.is_some() => {
                parent_logical = Some(false);
                node = inner;
                continue;
            }
            _ => {}
        }
        if let Some(parens) = parent_logical.take() {
            target = Some((node, parens));
        }
        match &node.kind {
            ExprKind::Member { base, name } if name.span == at => break (base, name.name.clone()),
            ExprKind::Index { base, key } if key.span == at => break (base, key.string_value()?.to_string()),
            _ => {}
        }
        node = node.children().into_iter().find(|c| inside(c))?;
    };
    let (operand, parens) = target?;
    let guard = format!("{} has {name} && ", ward_grammar::format::expr(base));
    let start = Span { start: operand.span.start, end: operand.span.start };
    let mut edits = Vec::new();
    if parens {
        edits.push(Edit { file, span: start, text: format!("({guard}") });
        edits.push(Edit { file, span: Span { start: operand.span.end, end: operand.span.end }, text: ")".to_string() });
    } else {
        edits.push(Edit { file, span: start, text: guard.clone() });
    }
    Some(Fix {
        title: format!("Add the guard `{}`", guard.trim_end_matches(" && ")),
        edits,
        diagnostic: d.clone(),
        preferred: true,
    })
}

/// The conditions of every policy member of a file.
fn conditions(tree: &SourceFile) -> Vec<&Expr> {
    let mut out = Vec::new();
    for item in &tree.items {
        let Item::Policy(p) = item else { continue };
        for m in &p.items {
            let cs = match m {
                PolicyItem::Rule(r) => &r.conditions,
                PolicyItem::Mask(x) => &x.conditions,
                PolicyItem::Limit(x) => &x.conditions,
                PolicyItem::Error(_) => continue,
            };
            out.extend(cs.iter().map(|c| &c.expr));
        }
    }
    out
}

/// The expression of a condition whose span is exactly `span`.
fn expr_at(tree: &SourceFile, span: Span) -> Option<&Expr> {
    let inside = |e: &Expr| e.span.start <= span.start && span.end <= e.span.end;
    let mut node = conditions(tree).into_iter().find(|e| inside(e))?;
    while node.span != span {
        node = node.children().into_iter().find(|c| inside(c))?;
    }
    Some(node)
}

/// "`=` is not a comparison": replace it with `==`.
fn double_equals(text: &str, file: FileId, d: &Diagnostic) -> Option<Fix> {
    if text.get(d.primary.span.range())? != "=" || !d.help.as_deref()?.starts_with("did you mean `==`") {
        return None;
    }
    Some(Fix {
        title: "Replace `=` with `==`".to_string(),
        edits: vec![Edit { file, span: d.primary.span, text: "==".to_string() }],
        diagnostic: d.clone(),
        preferred: true,
    })
}

/// `!x has f`: parenthesise the test, so the `!` negates all of it.
fn not_outside(ws: &Workspace, file: FileId, d: &Diagnostic) -> Option<Fix> {
    let tree = &parse(ws.db(), ws.file(file)?).file;
    let e = expr_at(tree, d.primary.span)?;
    let (_, operand) = negated_left_operand(e)?;
    let at = |offset: u32| Span { start: offset, end: offset };
    Some(Fix {
        title: "Negate the whole test".to_string(),
        edits: vec![
            Edit { file, span: at(operand.span.start), text: "(".to_string() },
            Edit { file, span: at(e.span.end), text: ")".to_string() },
        ],
        diagnostic: d.clone(),
        preferred: true,
    })
}

/// A set compared with one value, or `value in set`: `set.contains(value)`,
/// keeping the operands' own text. The help names the set (the checker knew
/// the types).
fn use_contains(ws: &Workspace, text: &str, file: FileId, d: &Diagnostic) -> Option<Fix> {
    let tree = &parse(ws.db(), ws.file(file)?).file;
    let e = expr_at(tree, d.primary.span)?;
    let ExprKind::Binary { op, lhs, rhs } = &e.kind else { return None };
    let candidates = match op {
        BinaryOp::Eq | BinaryOp::NotEq => [Some((lhs, rhs)), Some((rhs, lhs))],
        BinaryOp::In => [Some((rhs, lhs)), None],
        _ => return None,
    };
    let negated = *op == BinaryOp::NotEq;
    let help = d.help.as_deref()?;
    let expr_text = ward_grammar::format::expr;
    for (set, element) in candidates.into_iter().flatten() {
        let suggested = contains_call(set, &expr_text(set), &expr_text(element), negated);
        if help.contains(&format!("`{suggested}`")) {
            let new = contains_call(set, text.get(set.span.range())?, text.get(element.span.range())?, negated);
            return Some(Fix {
                title: format!("Replace with `{suggested}`"),
                edits: vec![Edit { file, span: e.span, text: new }],
                diagnostic: d.clone(),
                preferred: true,
            });
        }
    }
    None
}

/// `to like "*@acme.example"`: test the domain of every address instead,
/// `to.email_domains().is_subset(["acme.example"])`. Not preferred: a glob
/// with more before the `@` (`"*.team@…"`) also constrained the local part.
fn address_glob(ws: &Workspace, text: &str, file: FileId, d: &Diagnostic) -> Option<Fix> {
    let tree = &parse(ws.db(), ws.file(file)?).file;
    let span = d.primary.span;
    let inside = |e: &Expr| e.span.start <= span.start && span.end <= e.span.end;
    let mut node = conditions(tree).into_iter().find(|e| inside(e))?;
    loop {
        if let ExprKind::Like { base, pattern } = &node.kind
            && pattern.span == span
        {
            let (_, domain) = pattern.string_value()?.rsplit_once('@')?;
            let base_text = text.get(base.span.range())?;
            let simple = matches!(base.kind, ExprKind::Var(_) | ExprKind::Name(_) | ExprKind::Member { .. });
            let receiver = if simple { base_text.to_string() } else { format!("({base_text})") };
            return Some(Fix {
                title: format!("Require every address at `{domain}`"),
                edits: vec![Edit {
                    file,
                    span: node.span,
                    text: format!("{receiver}.email_domains().is_subset([{}])", quoted(domain)),
                }],
                diagnostic: d.clone(),
                preferred: false,
            });
        }
        node = node.children().into_iter().find(|c| inside(c))?;
    }
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The only permit of an action is `@shadow`: remove the annotation (with
/// what separates it from the next token). Not preferred: adding an
/// enforced permit may be what was meant.
fn remove_shadow(text: &str, file: FileId, d: &Diagnostic) -> Option<Fix> {
    let span = d.primary.span;
    if text.get(span.range())? != "@shadow" {
        return None;
    }
    let rest = text.get(span.end as usize..)?;
    let gap = rest.len() - rest.trim_start().len();
    let end = span.end + u32::try_from(gap).ok()?;
    Some(Fix {
        title: "Remove `@shadow`".to_string(),
        edits: vec![Edit { file, span: Span { start: span.start, end }, text: String::new() }],
        diagnostic: d.clone(),
        preferred: false,
    })
}

/// W0121: delete the repeated rule, with its doc comment and annotations,
/// and the blank lines that set it apart (those before it when it is the
/// last of its policy), so the policy reads as if it had never been there.
fn remove_repeat(ws: &Workspace, text: &str, file: FileId, d: &Diagnostic) -> Option<Fix> {
    let tree = &parse(ws.db(), ws.file(file)?).file;
    let at = d.primary.span;
    let rule = tree
        .items
        .iter()
        .filter_map(|i| if let Item::Policy(p) = i { Some(p) } else { None })
        .flat_map(|p| &p.items)
        .find_map(|m| match m {
            PolicyItem::Rule(r) if r.span.start <= at.start && at.end <= r.span.end => Some(r),
            _ => None,
        })?;
    let (first, last) = (rule.span.start as usize, rule.span.end as usize);
    let line_start = |i: usize| text.get(..i).and_then(|t| t.rfind('\n')).map_or(0, |n| n + 1);
    let line_end = |i: usize| text.get(i..).and_then(|t| t.find('\n')).map_or(text.len(), |n| i + n + 1);
    let blank = |from: usize, to: usize| text.get(from..to).is_some_and(|t| t.trim().is_empty());
    let (mut start, mut end) = (line_start(first), line_end(last));
    // A rule sharing a line with something else: only the rule goes.
    if !blank(start, first) || !blank(last, end) {
        (start, end) = (first, last);
    } else {
        while start > 0 && text.get(line_start(start - 1)..start).is_some_and(|l| l.trim_start().starts_with("///")) {
            start = line_start(start - 1);
        }
        let after = end;
        while end < text.len()
            && blank(end, line_end(end))
            && text.get(end..line_end(end)).is_some_and(|l| l.ends_with('\n'))
        {
            end = line_end(end);
        }
        if text.get(end..).is_some_and(|t| t.trim_start().starts_with('}')) {
            end = after;
            while start > 0 && blank(line_start(start - 1), start) {
                start = line_start(start - 1);
            }
        }
    }
    let id = d.message.strip_prefix('`').and_then(|m| m.split('`').next()).unwrap_or("the copy");
    Some(Fix {
        title: format!("Delete the repeated rule `{id}`"),
        edits: vec![Edit {
            file,
            span: Span { start: u32::try_from(start).ok()?, end: u32::try_from(end).ok()? },
            text: String::new(),
        }],
        diagnostic: d.clone(),
        preferred: true,
    })
}

/// "add `import stdlib.x` at the top of the file".
fn add_import(ws: &Workspace, file: FileId, d: &Diagnostic) -> Option<Fix> {
    let help = d.help.as_deref()?;
    let rest = help.strip_prefix("add `import stdlib.")?;
    let module = &rest[..rest.find('`')?];
    let tree = &parse(ws.db(), ws.file(file)?).file;
    let last_import =
        tree.items.iter().filter_map(|i| if let Item::Import(x) = i { Some(x.span.end) } else { None }).max();
    let (span, text) = match last_import {
        Some(end) => (Span { start: end, end }, format!("\nimport stdlib.{module}")),
        None => match header_end(ws.text(file)?) {
            // Below the header comment, which stays the first thing in the file.
            Some((at, blank_follows)) => {
                let after = if blank_follows { "\n" } else { "\n\n" };
                (Span { start: at, end: at }, format!("\nimport stdlib.{module}{after}"))
            }
            None => (Span { start: 0, end: 0 }, format!("import stdlib.{module}\n\n")),
        },
    };
    Some(Fix {
        title: format!("Add `import stdlib.{module}`"),
        edits: vec![Edit { file, span, text }],
        diagnostic: d.clone(),
        preferred: true,
    })
}

/// The end (after its newline) of the file's header comment — the `//`
/// lines it starts with — and whether a blank line follows it. Doc
/// comments (`///`) belong to the item below them and are not a header.
fn header_end(text: &str) -> Option<(u32, bool)> {
    let mut end = 0usize;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with("//") && !t.starts_with("///") {
            end += line.len();
        } else {
            break;
        }
    }
    if end == 0 {
        return None;
    }
    let rest = text.get(end..).unwrap_or("");
    let blank_follows = rest.split_inclusive('\n').next().is_some_and(|l| l.trim().is_empty());
    // A header without a final newline: the import goes after a new one.
    Some((u32::try_from(end).ok()?, blank_follows))
}
