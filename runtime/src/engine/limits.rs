//! Rate limits: every applicable limit of the caller must pass; the state
//! changes only when the decision is final.

use ward_ir::RuleKind;

use super::procedure::{link_eval, render};
use super::{Engine, Loaded};
use crate::decision::{self, Decision, Effect, EvalErrorOut, Reason};
use crate::interp::Outcome;
use crate::request::{Frame, Request};
use crate::state::LimitCheck;

impl Engine {
    pub(super) fn limits(&self, loaded: &Loaded, request: &Request, frame: &Frame, decision: &mut Decision) {
        let program = loaded.program();
        let mut pending = Vec::new();
        let eval = link_eval(loaded, frame, frame.actor, &crate::interp::NoHistory);
        for (index, outcome) in
            self.evaluate(loaded, request, frame, frame.actor, |k| matches!(k, RuleKind::Limit { .. }))
        {
            let Some(rule) = program.rules.get(index as usize) else { continue };
            let RuleKind::Limit { count, window_ms, burst, keys, fail_open } = &rule.kind else { continue };
            if !matches!(outcome, Outcome::Fired) || rule.shadow {
                if let Outcome::Error { error, .. } = outcome {
                    decision.errors.push(EvalErrorOut { rule: Some(rule.id.clone()), message: error.to_string() });
                }
                continue;
            }
            let mut key_parts = Vec::new();
            let mut failed = None;
            for k in keys {
                match eval.expr(&rule.exprs, *k) {
                    Ok(v) => key_parts.push(render(&eval, rule.exprs.get(*k as usize).map(|e| &e.ty), v)),
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
            pending.push((rule, key_parts.join("/"), *count, *window_ms, *burst, *fail_open));
        }
        if pending.is_empty() {
            return;
        }
        let checks: Vec<LimitCheck> = pending
            .iter()
            .map(|(rule, key, count, window_ms, burst, _)| LimitCheck {
                key: format!("{}/{key}", rule.id),
                count: *count,
                window_ms: *window_ms,
                burst: *burst,
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
                for (rule, key, count, window_ms, _, fail_open) in &pending {
                    decision.errors.push(EvalErrorOut { rule: Some(rule.id.clone()), message: e.to_string() });
                    if !fail_open {
                        decision.effect = Effect::Deny;
                        decision.reasons.push(Reason {
                            rule: Some(rule.id.clone()),
                            clause: format!(
                                "the limit of {count} per {window_ms} ms for {key} could not be checked: {e}"
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
        for ((rule, key, count, window_ms, _, _), result) in pending.iter().zip(results) {
            decision.limits.push(decision::Limit {
                rule: rule.id.clone(),
                key: key.clone(),
                limit: *count,
                window_ms: *window_ms,
                remaining: result.remaining,
                retry_after_ms: result.retry_after_ms,
            });
            if !result.allowed {
                refused = true;
                decision.reasons.push(Reason {
                    rule: Some(rule.id.clone()),
                    clause: format!("rate limit of {count} per {window_ms} ms exceeded for {key}"),
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
