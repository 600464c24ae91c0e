//! Seeded policy mutations, for the evidence that `ward diff` finds what a
//! change widens and reports nothing for what does not change a decision.
//!
//! Mutations edit the source text at the spans of the syntax tree:
//! widening ones (a forbid dropped, a permit's condition dropped, an
//! operator loosened, a mask weakened) and refactors that preserve every
//! decision (a conjunction split into two conditions, a comparison flipped,
//! `unless c` written `when !(c)`, `when true` added, two rules swapped).

use ward_grammar::Span;
use ward_grammar::ast::{BinaryOp, ConditionKind, Effect, Expr, ExprKind, Item, PolicyItem};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    DropForbid,
    DropCondition,
    LoosenOperator,
    WeakenMask,
    SplitConjunction,
    FlipComparison,
    UnlessToWhen,
    AddTrue,
    SwapRules,
}

impl Kind {
    /// Whether the mutation is meant to let more through (else: a refactor
    /// that changes no decision).
    pub fn widening(self) -> bool {
        matches!(self, Kind::DropForbid | Kind::DropCondition | Kind::LoosenOperator | Kind::WeakenMask)
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Mutant {
    pub kind: Kind,
    pub description: String,
    #[serde(skip)]
    pub text: String,
}

fn edit(text: &str, span: Span, with: &str) -> String {
    let (a, b) = (span.start as usize, span.end as usize);
    format!("{}{with}{}", text.get(..a).unwrap_or(""), text.get(b..).unwrap_or(""))
}

fn slice(text: &str, span: Span) -> &str {
    text.get(span.start as usize..span.end as usize).unwrap_or("")
}

/// Every binary operation in `e`, outermost first.
fn binaries<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match &e.kind {
        ExprKind::Binary { lhs, rhs, .. } => {
            out.push(e);
            binaries(lhs, out);
            binaries(rhs, out);
        }
        ExprKind::Unary { operand, .. } => binaries(operand, out),
        ExprKind::Paren(inner) => binaries(inner, out),
        _ => {}
    }
}

/// The loosened operator for a condition of `effect` and `kind`: permits
/// (`when`) and forbids' `unless` get easier to meet; forbids' `when` harder.
fn loosen(op: BinaryOp, easier: bool) -> Option<BinaryOp> {
    Some(match (op, easier) {
        (BinaryOp::Lt, true) => BinaryOp::Le,
        (BinaryOp::Gt, true) => BinaryOp::Ge,
        (BinaryOp::And, true) => BinaryOp::Or,
        (BinaryOp::Le, false) => BinaryOp::Lt,
        (BinaryOp::Ge, false) => BinaryOp::Gt,
        (BinaryOp::Or, false) => BinaryOp::And,
        _ => return None,
    })
}

/// Every mutation of `text` (a policy file) this module knows.
// Long: one block per mutation operator, each a few lines; the list reads
// as the catalogue docs/analysis.md describes.
pub fn mutants(text: &str) -> Vec<Mutant> {
    let parse = ward_grammar::parse(text);
    let mut out = Vec::new();
    for item in &parse.file.items {
        let Item::Policy(p) = item else { continue };
        for (i, member) in p.items.iter().enumerate() {
            let label = format!("{}.{}", p.name.name, i + 1);
            match member {
                PolicyItem::Rule(r) => {
                    if r.annotations.iter().any(|a| a.name.name == "shadow") {
                        continue;
                    }
                    if r.effect == Effect::Forbid {
                        out.push(Mutant {
                            kind: Kind::DropForbid,
                            description: format!("drop forbid {label}"),
                            text: edit(text, r.span, ""),
                        });
                    }
                    for c in &r.conditions {
                        let cond = slice(text, c.span);
                        if r.effect == Effect::Permit {
                            out.push(Mutant {
                                kind: Kind::DropCondition,
                                description: format!("drop `{cond}` of {label}"),
                                text: edit(text, c.span, ""),
                            });
                        }
                        // Meet a permit's `when` (a forbid's `unless`) more easily; a forbid's `when` less.
                        let easier = (r.effect == Effect::Permit) == (c.kind == ConditionKind::When);
                        let mut bins = Vec::new();
                        binaries(&c.expr, &mut bins);
                        for b in &bins {
                            let ExprKind::Binary { op, lhs, rhs } = &b.kind else { continue };
                            if let Some(new) = loosen(*op, easier) {
                                let between = Span { start: lhs.span.end, end: rhs.span.start };
                                let gap = slice(text, between).replacen(op.symbol(), new.symbol(), 1);
                                out.push(Mutant {
                                    kind: Kind::LoosenOperator,
                                    description: format!("`{}` → `{}` in {label}", op.symbol(), new.symbol()),
                                    text: edit(text, between, &gap),
                                });
                            }
                            if matches!(op, BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge) {
                                let flipped = match op {
                                    BinaryOp::Lt => ">",
                                    BinaryOp::Le => ">=",
                                    BinaryOp::Gt => "<",
                                    _ => "<=",
                                };
                                let swapped = format!("{} {flipped} {}", slice(text, rhs.span), slice(text, lhs.span));
                                out.push(Mutant {
                                    kind: Kind::FlipComparison,
                                    description: format!("flip `{}` in {label}", slice(text, b.span)),
                                    text: edit(text, b.span, &swapped),
                                });
                            }
                        }
                        if let ExprKind::Binary { op: BinaryOp::And, lhs, rhs } = &c.expr.kind {
                            let kw = if c.kind == ConditionKind::When { "when" } else { "unless" };
                            if kw == "when" {
                                let split =
                                    format!("when {}\n    when {}", slice(text, lhs.span), slice(text, rhs.span));
                                out.push(Mutant {
                                    kind: Kind::SplitConjunction,
                                    description: format!("split `{cond}` of {label}"),
                                    text: edit(text, c.span, &split),
                                });
                            }
                        }
                        if c.kind == ConditionKind::Unless {
                            out.push(Mutant {
                                kind: Kind::UnlessToWhen,
                                description: format!("`unless` → `when !(…)` in {label}"),
                                text: edit(text, c.span, &format!("when !({})", slice(text, c.expr.span))),
                            });
                        }
                    }
                    let end = r
                        .conditions
                        .last()
                        .map(|c| c.span.end)
                        .or(r.scope.as_ref().map(|s| s.span.end))
                        .unwrap_or(r.effect_span.end);
                    out.push(Mutant {
                        kind: Kind::AddTrue,
                        description: format!("add `when true` to {label}"),
                        text: edit(text, Span { start: end, end }, " when true"),
                    });
                }
                PolicyItem::Mask(m) => {
                    if m.using.is_none()
                        && let [call] = m.with.as_slice()
                        && matches!(call.name.text().as_str(), "redact" | "drop" | "hash")
                    {
                        out.push(Mutant {
                            kind: Kind::WeakenMask,
                            description: format!("`{}` → `partial(last: 2)` in {label}", call.name.text()),
                            text: edit(text, call.span, "partial(last: 2)"),
                        });
                    }
                }
                _ => {}
            }
        }
        // Two adjacent permits or forbids swapped (their positional ids change, no decision does).
        for pair in p.items.windows(2) {
            let [PolicyItem::Rule(a), PolicyItem::Rule(b)] = pair else { continue };
            if !a.annotations.iter().any(|x| x.name.name == "id") || !b.annotations.iter().any(|x| x.name.name == "id")
            {
                continue;
            }
            let (sa, sb) = (slice(text, a.span).to_string(), slice(text, b.span).to_string());
            let swapped = format!(
                "{}{}{}{}{}",
                text.get(..a.span.start as usize).unwrap_or(""),
                sb,
                slice(text, Span { start: a.span.end, end: b.span.start }),
                sa,
                text.get(b.span.end as usize..).unwrap_or("")
            );
            out.push(Mutant {
                kind: Kind::SwapRules,
                description: format!("swap two rules of {}", p.name.name),
                text: swapped,
            });
        }
    }
    out
}
