//! Flow conditions (`previously within 1h …`): reading the bounded
//! per-session summaries, and recording an allowed request into them.

use ward_ir as ir;

use super::procedure::{link_eval, render};
use super::{Engine, Loaded, with_frame};
use crate::decision::{Decision, EvalErrorOut};
use crate::interp::{Eval, EvalError, Flows};
use crate::request::{Frame, Request};
use crate::state::StateStore;
use crate::store::Store;
use crate::value::Raw;

/// Which earlier actions a flow condition looks at: the session's, or the
/// principal's (with `by principal`, or when the request names no session).
/// Read from the frame (its session, its actor as sent), so that a request
/// laid out without a [`Request`] groups as the same request would.
pub(super) fn group_key(store: &Store, frame: &Frame, by_principal: bool) -> String {
    match (frame.session(), by_principal) {
        (Some(s), false) => format!("session:{s}"),
        _ => format!("principal:{}", frame.uid(store, frame.actor)),
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
        let group = group_key(&self.loaded.store, current, flow.by_principal);
        if flow.response.is_some() {
            // A result this flow could not read makes the flow unknown for its window.
            let mark = self.loaded.unreadable_key(index, &group);
            let marked = self.state.flow_read(&mark).map_err(|e| EvalError::Flow(e.to_string()))?;
            if marked.at(flow.window_ms, current.now).0 {
                let name = self.loaded.flow_names.get(index as usize).map_or("?", String::as_str);
                return Err(EvalError::Flow(format!(
                    "flow condition `{name}`: an earlier action's result could not be read, so what it held is unknown"
                )));
            }
        }
        let key = self.loaded.flow_key(index, &group, &correlation);
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
    pub(super) fn record_flows(&self, loaded: &Loaded, frame: &Frame, decision: &mut Decision) {
        let eval = link_eval(loaded, frame, frame.actor, &crate::interp::NoHistory);
        for (k, flow) in loaded.program().flows.iter().enumerate() {
            // Result flows are recorded from the action's result, not here.
            if flow.response.is_some() || !flow.actions.contains(&frame.action) {
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
                let key = loaded.flow_key(k as u32, &group_key(&loaded.store, frame, flow.by_principal), &correlation);
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

/// An action's result as the enforcement point reports it.
#[derive(Debug, Clone, Copy)]
pub enum ActionResult<'a> {
    /// The result as JSON (an MCP tool's `structuredContent`, or its one
    /// text item parsed as JSON; a service's response body).
    Json(&'a serde_json::Value),
    /// The action ran but its result cannot be read as JSON: why.
    Unreadable(&'a str),
}

/// What reporting a result recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultRecord {
    /// The result flows whose history now holds the action (by name:
    /// `Loaded::flow_names`), values never.
    pub facts: Vec<String>,
    /// The result flows marked as unknown for their window, because the
    /// result could not be read: `(flow name, why)`.
    pub unreadable: Vec<(String, String)>,
    /// Errors that recorded nothing: a request that does not fit the
    /// current policy set, a state store that failed.
    pub errors: Vec<String>,
}

impl Engine {
    /// Records the result of `request` — allowed and since carried out by
    /// the caller — in the history of the **result flows** that look at its
    /// action (flow conditions whose `where` or `sum` value read
    /// `response`), at `now`.
    ///
    /// The result is typed by the action's `returns` type (fields the type
    /// does not declare are ignored). A result that cannot be read or
    /// typed, or on which a flow's expressions fail, is never dropped:
    /// the flow is marked unknown for its window in the group (session or
    /// principal), and reading it is an evaluation error — a forbid on it
    /// applies, a permit on it does not (fail closed: whoever shapes a
    /// result cannot make a fact disappear by malforming it).
    pub fn record_result_at(&self, request: &Request, result: ActionResult<'_>, now: i64) -> ResultRecord {
        let loaded = self.loaded.load();
        let mut out = ResultRecord::default();
        with_frame(|frame| {
            if let Err(e) = frame.rebuild(&loaded.store, request, now) {
                out.errors.push(format!("recording a result: {e}"));
                return;
            }
            if !loaded.results.get(frame.action as usize).copied().unwrap_or(false) {
                return;
            }
            let typed: Result<(), String> = match result {
                ActionResult::Unreadable(why) => Err(why.to_string()),
                ActionResult::Json(json) => {
                    match loaded
                        .program()
                        .flows
                        .iter()
                        .find_map(|f| f.response.as_ref().filter(|_| f.actions.contains(&frame.action)))
                    {
                        Some(ty) => frame.set_response(&loaded.store, json, ty).map_err(|e| e.to_string()),
                        None => Ok(()),
                    }
                }
            };
            let eval = link_eval(&loaded, frame, frame.actor, &crate::interp::NoHistory);
            for (k, flow) in loaded.program().flows.iter().enumerate() {
                if flow.response.is_none() || !flow.actions.contains(&frame.action) {
                    continue;
                }
                let name = loaded.flow_names.get(k).cloned().unwrap_or_default();
                let group = group_key(&loaded.store, frame, flow.by_principal);
                let outcome = typed.clone().and_then(|()| {
                    let e = |e: EvalError| e.to_string();
                    if let Some(f) = flow.filter
                        && eval.expr(&flow.exprs, f).map_err(e)? == 0
                    {
                        return Ok(None);
                    }
                    let correlation = match flow.correlation {
                        Some((past, _)) => key_text(&eval, &flow.exprs, past).map_err(e)?,
                        None => String::new(),
                    };
                    let value = match flow.value {
                        Some(v) => eval.expr(&flow.exprs, v).map_err(e)? as i64,
                        None => 0,
                    };
                    Ok(Some((correlation, value)))
                });
                let written = match outcome {
                    Ok(None) => Ok(()),
                    Ok(Some((correlation, value))) => {
                        let key = loaded.flow_key(k as u32, &group, &correlation);
                        let r = self.state.flow_record(&key, flow.window_ms, frame.now, value);
                        if r.is_ok() {
                            out.facts.push(name.clone());
                        }
                        r
                    }
                    Err(why) => {
                        let key = loaded.unreadable_key(k as u32, &group);
                        let r = self.state.flow_record(&key, flow.window_ms, frame.now, 0);
                        if r.is_ok() {
                            out.unreadable.push((name.clone(), why));
                        }
                        r
                    }
                };
                if let Err(e) = written {
                    out.errors.push(format!("recording a result for flow condition `{name}`: {e}"));
                }
            }
        });
        out
    }
}
