//! Flow conditions (`previously within 1h …`): reading the bounded
//! per-session summaries, and recording an allowed request into them.

use ward_ir as ir;

use super::procedure::{link_eval, render};
use super::{Engine, Loaded};
use crate::decision::{Decision, EvalErrorOut};
use crate::interp::{Eval, EvalError, Flows};
use crate::request::{Frame, Request};
use crate::state::StateStore;
use crate::value::Raw;

/// Which earlier actions a flow condition looks at: the session's, or the
/// principal's (with `by principal`, or when the request names no session).
pub(super) fn group_key(request: &Request, by_principal: bool) -> String {
    match (&request.session, by_principal) {
        (Some(s), false) => format!("session:{s}"),
        _ => format!("principal:{}", request.principal),
    }
}

/// A value as text, for state keys.
pub(super) fn key_text(eval: &Eval<'_>, exprs: &[ir::Expr], id: u32) -> Result<String, EvalError> {
    let v = eval.expr(exprs, id)?;
    Ok(render(eval, exprs.get(id as usize).map(|e| &e.ty), v))
}

/// Flow aggregates read from the bounded per-session summaries in the state store.
pub(super) struct StateFlows<'a> {
    pub(super) loaded: &'a Loaded,
    pub(super) state: &'a dyn StateStore,
    pub(super) request: &'a Request,
}

impl Flows for StateFlows<'_> {
    fn flow(&self, index: u32, current: &Frame) -> Result<Raw, EvalError> {
        let flow =
            self.loaded.program().flows.get(index as usize).ok_or_else(|| EvalError::Flow("unknown flow".into()))?;
        let correlation = match flow.correlation {
            Some((_, current_side)) => {
                let eval = Eval {
                    prepared: &self.loaded.prepared,
                    store: &self.loaded.store,
                    frame: current,
                    principal: current.actor,
                    current: Some(current),
                    current_principal: current.actor,
                    flows: &crate::interp::NoHistory,
                    view: current.view(&self.loaded.store),
                    locals: std::cell::RefCell::new(Vec::new()),
                };
                key_text(&eval, &flow.exprs, current_side)?
            }
            None => String::new(),
        };
        let key = self.loaded.flow_key(index, &group_key(self.request, flow.by_principal), &correlation);
        let summary = self.state.flow_read(&key).map_err(|e| EvalError::Flow(e.to_string()))?;
        let (previously, count, sum) = summary.at(flow.window_ms, current.now);
        Ok(match flow.kind {
            ir::FlowKind::Previously => u64::from(previously),
            ir::FlowKind::Count => count as u64,
            ir::FlowKind::Sum => sum as u64,
        })
    }
}

impl Engine {
    /// Adds an allowed request to the summaries of the flow conditions that
    /// look at its action. Each summary holds what the condition needs —
    /// evaluated now, on the request as it is — not the request itself.
    pub(super) fn record_flows(&self, loaded: &Loaded, request: &Request, frame: &Frame, decision: &mut Decision) {
        let eval = link_eval(loaded, frame, frame.actor, &crate::interp::NoHistory);
        for (k, flow) in loaded.program().flows.iter().enumerate() {
            if !flow.actions.contains(&frame.action) {
                continue;
            }
            let outcome = (|| -> Result<(), String> {
                if let Some(f) = flow.filter
                    && eval.expr(&flow.exprs, f).map_err(|e| e.to_string())? == 0
                {
                    return Ok(());
                }
                let correlation = match flow.correlation {
                    Some((past, _)) => key_text(&eval, &flow.exprs, past).map_err(|e| e.to_string())?,
                    None => String::new(),
                };
                let value = match flow.value {
                    Some(v) => eval.expr(&flow.exprs, v).map_err(|e| e.to_string())? as i64,
                    None => 0,
                };
                let key = loaded.flow_key(k as u32, &group_key(request, flow.by_principal), &correlation);
                self.state.flow_record(&key, flow.window_ms, frame.now, value).map_err(|e| e.to_string())
            })();
            if let Err(message) = outcome {
                decision
                    .errors
                    .push(EvalErrorOut { rule: None, message: format!("recording for a flow condition: {message}") });
            }
        }
    }
}
