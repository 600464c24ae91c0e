//! Limits — rates of requests, budgets of sums, counts of distinct values:
//! every applicable limit of the caller must pass; the state changes only
//! when the decision is final, and then for all of them at once.

use ward_ir::literals::DECIMAL_SCALE;
use ward_ir::{LimitMeasure, RuleKind};

use super::procedure::{link_eval, render, render_into};
use super::{Engine, Loaded};
use crate::decision::{self, Decision, Effect, EvalErrorOut, Reason};
use crate::interp::Outcome;
use crate::request::Frame;
use crate::state::{LimitCheck, Measure};

impl Engine {
    pub(super) fn limits(&self, loaded: &Loaded, frame: &Frame, decision: &mut Decision) {
        let program = loaded.program();
        let mut pending = Vec::new();
        let eval = link_eval(loaded, frame, frame.actor, &crate::interp::NoHistory);
        for (index, outcome) in self.evaluate(loaded, frame, frame.actor, |k| matches!(k, RuleKind::Limit { .. })) {
            let Some(rule) = program.rules.get(index as usize) else { continue };
            let RuleKind::Limit { count, window_ms, burst, keys, fail_open, measure } = &rule.kind else { continue };
            if !matches!(outcome, Outcome::Fired) || rule.shadow {
                if let Outcome::Error { error, .. } = outcome {
                    decision.errors.push(EvalErrorOut { rule: Some(rule.id.clone()), message: error.to_string() });
                }
                continue;
            }
            // The key's parts joined by `/`, behind the rule's id (the
            // store's key; the decision shows the parts).
            let mut key = String::with_capacity(rule.id.len() + 32);
            key.push_str(&rule.id);
            key.push('/');
            let mut failed = None;
            for (i, k) in keys.iter().enumerate() {
                match eval.expr(&rule.exprs, *k) {
                    Ok(v) => {
                        if i > 0 {
                            key.push('/');
                        }
                        render_into(&mut key, &eval, rule.exprs.get(*k as usize).map(|e| &e.ty), v);
                    }
                    Err(e) => failed = Some(e),
                }
            }
            if let Some(e) = failed {
                decision
                    .errors
                    .push(EvalErrorOut { rule: Some(rule.id.clone()), message: format!("rate-limit key: {e}") });
                if !fail_open {
                    decision.effect = Effect::Deny;
                    // A deny carries no masks (they apply to allow and approval_required).
                    decision.masks.clear();
                    decision.reasons.push(Reason {
                        rule: Some(rule.id.clone()),
                        clause: "its rate-limit key could not be computed".into(),
                        span: Some(rule.location.clone()),
                        principal: None,
                    });
                }
                continue;
            }
            // A sum's amount or a distinct value that cannot be computed, or
            // a negative amount (which would add budget), denies whatever
            // `fail open` says: that covers only an unreachable store.
            let share = match measure {
                LimitMeasure::Requests => Ok(Measure::Requests),
                LimitMeasure::Sum { expr, decimal } => match eval.expr(&rule.exprs, *expr) {
                    Ok(v) if (v as i64) < 0 => {
                        Err(format!("its amount {} is negative", amount_text(v as i64, *decimal)))
                    }
                    Ok(v) => Ok(Measure::Sum(v as i64)),
                    Err(e) => Err(format!("its amount could not be computed: {e}")),
                },
                LimitMeasure::Distinct { expr } => match eval.expr(&rule.exprs, *expr) {
                    Ok(v) => Ok(Measure::Distinct(render(&eval, rule.exprs.get(*expr as usize).map(|e| &e.ty), v))),
                    Err(e) => Err(format!("its counted value could not be computed: {e}")),
                },
            };
            let share = match share {
                Ok(share) => share,
                Err(clause) => {
                    decision
                        .errors
                        .push(EvalErrorOut { rule: Some(rule.id.clone()), message: format!("limit: {clause}") });
                    decision.effect = Effect::Deny;
                    decision.masks.clear();
                    decision.reasons.push(Reason {
                        rule: Some(rule.id.clone()),
                        clause,
                        span: Some(rule.location.clone()),
                        principal: None,
                    });
                    continue;
                }
            };
            pending.push((rule, key, *count, *window_ms, *burst, *fail_open, share, *measure));
        }
        if pending.is_empty() {
            return;
        }
        let checks: Vec<LimitCheck> = pending
            .iter()
            .map(|(_, key, count, window_ms, burst, _, share, _)| {
                // An amount over the budget is refused whatever was spent;
                // capped, it stays exact in every store.
                let measure = match share {
                    Measure::Sum(amount) => Measure::Sum((*amount).min(count.saturating_add(1) as i64)),
                    other => other.clone(),
                };
                LimitCheck::new(key.as_str(), *count, *window_ms, *burst, measure)
            })
            .collect();
        // The state changes only when the decision is final: consume only
        // if, limits aside, the request is allowed.
        let commit = decision.effect == Effect::Allow;
        let mut results = Vec::with_capacity(checks.len());
        match self.state.check_limits(&checks, frame.now, commit, &mut results) {
            Ok(()) => {}
            Err(e) => {
                // The store cannot answer: each limit fails closed unless it says `fail open`.
                for (rule, key, count, window_ms, _, fail_open, _, measure) in &pending {
                    let key = parts(rule, key);
                    decision.errors.push(EvalErrorOut { rule: Some(rule.id.clone()), message: e.to_string() });
                    if !fail_open {
                        decision.effect = Effect::Deny;
                        decision.reasons.push(Reason {
                            rule: Some(rule.id.clone()),
                            clause: format!(
                                "the {} per {window_ms} ms for {key} could not be checked: {e}",
                                describe(*measure, *count)
                            ),
                            span: Some(rule.location.clone()),
                            principal: None,
                        });
                    }
                }
                if decision.effect == Effect::Deny {
                    decision.masks.clear();
                }
                return;
            }
        };
        let mut refused = false;
        for ((rule, key, count, window_ms, _, _, share, measure), result) in pending.iter().zip(results) {
            let key = parts(rule, key);
            let (limit, remaining, budget) = match (measure, share) {
                (LimitMeasure::Sum { decimal, .. }, Measure::Sum(amount)) => {
                    let units = |v: u64| if *decimal { v / DECIMAL_SCALE as u64 } else { v };
                    let text = |v: i64| amount_text(v, *decimal);
                    let budget = decision::Budget {
                        measure: "sum".into(),
                        total: text(*count as i64),
                        used: text(result.used as i64),
                        request: Some(text(*amount)),
                        remaining: text(result.remaining as i64),
                    };
                    (units(*count), units(result.remaining), Some(budget))
                }
                (LimitMeasure::Distinct { .. }, Measure::Distinct(value)) => {
                    let budget = decision::Budget {
                        measure: "distinct".into(),
                        total: count.to_string(),
                        used: result.used.to_string(),
                        request: Some(value.clone()),
                        remaining: result.remaining.to_string(),
                    };
                    (*count, result.remaining, Some(budget))
                }
                _ => (*count, result.remaining, None),
            };
            decision.limits.push(decision::Limit {
                rule: rule.id.clone(),
                key: key.to_string(),
                limit,
                window_ms: *window_ms,
                remaining,
                retry_after_ms: result.retry_after_ms,
                budget,
            });
            if !result.allowed {
                refused = true;
                let clause = match (measure, share) {
                    (LimitMeasure::Sum { decimal, .. }, Measure::Sum(amount)) => {
                        let text = |v: i64| amount_text(v, *decimal);
                        let alone = if *amount > *count as i64 {
                            "; the request alone exceeds the budget, so no wait helps"
                        } else {
                            ""
                        };
                        format!(
                            "budget of {} per {window_ms} ms exceeded for {key}: {} spent, this request needs {}{alone}",
                            text(*count as i64),
                            text(result.used as i64),
                            text(*amount)
                        )
                    }
                    (LimitMeasure::Distinct { .. }, _) => {
                        format!("limit of {count} distinct values per {window_ms} ms reached for {key}")
                    }
                    _ => format!("rate limit of {count} per {window_ms} ms exceeded for {key}"),
                };
                decision.reasons.push(Reason {
                    rule: Some(rule.id.clone()),
                    clause,
                    span: Some(rule.location.clone()),
                    principal: None,
                });
            }
        }
        if refused {
            decision.effect = Effect::Deny;
            decision.masks.clear();
        }
    }
}

/// An amount in its unit: an Int as is, a Decimal as a decimal.
fn amount_text(v: i64, decimal: bool) -> String {
    if decimal { ward_ir::literals::decimal_text(v) } else { v.to_string() }
}

/// A limit as the reasons name it.
fn describe(measure: LimitMeasure, count: u64) -> String {
    match measure {
        LimitMeasure::Requests => format!("limit of {count}"),
        LimitMeasure::Sum { decimal, .. } => format!("budget of {}", amount_text(count as i64, decimal)),
        LimitMeasure::Distinct { .. } => format!("limit of {count} distinct values"),
    }
}

/// The parts of a limit's store key (`rule-id/part/part`), as a decision
/// shows them.
fn parts<'k>(rule: &ward_ir::Rule, key: &'k str) -> &'k str {
    key.get(rule.id.len() + 1..).unwrap_or_default()
}
