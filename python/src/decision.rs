//! `ward.Decision` and the values it is made of.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use ward_runtime::decision::{self as rt, Effect};
use ward_runtime::{Decision as RtDecision, Request};

use crate::convert::to_py;

/// A decision: its effect, and everything that explains and conditions it.
/// `bool(decision)` is whether the request is allowed.
#[pyclass(frozen, module = "ward._ward", name = "Decision")]
pub struct Decision {
    pub decision: RtDecision,
    pub request: Request,
    /// Decision time, milliseconds since the epoch.
    pub time: i64,
    /// The source hash of the policy set that decided (for the audit log).
    pub policy: Arc<String>,
    /// Why, in words an LLM can act on (non-allow decisions only).
    pub why: Option<String>,
    /// Added to flow history already (at decision time or by `Engine.record`).
    pub recorded: AtomicBool,
}

impl Decision {
    pub fn recorded(&self) -> bool {
        self.recorded.load(Ordering::Acquire)
    }

    /// Marks the decision recorded; false if it already was.
    pub fn mark_recorded(&self) -> bool {
        !self.recorded.swap(true, Ordering::AcqRel)
    }
}

#[pymethods]
impl Decision {
    /// `"allow"`, `"deny"` or `"approval_required"`.
    #[getter]
    fn effect(&self) -> &'static str {
        self.decision.effect.as_str()
    }

    #[getter]
    fn allowed(&self) -> bool {
        self.decision.effect == Effect::Allow
    }

    fn __bool__(&self) -> bool {
        self.allowed()
    }

    /// The rules that decided, each with the condition that held (or a reason without a rule).
    #[getter]
    fn reasons(&self) -> Vec<Reason> {
        self.decision.reasons.iter().map(Reason::from).collect()
    }

    #[getter]
    fn masks(&self) -> Vec<Mask> {
        self.decision.masks.iter().map(Mask::from).collect()
    }

    #[getter]
    fn obligations(&self) -> Vec<Obligation> {
        self.decision.obligations.iter().map(Obligation::from).collect()
    }

    #[getter]
    fn limits(&self) -> Vec<Limit> {
        self.decision.limits.iter().map(Limit::from).collect()
    }

    /// Errors met during evaluation: `{"rule": id or None, "message": text}`.
    #[getter]
    fn errors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &serde_json::to_value(&self.decision.errors).unwrap_or_default())
    }

    /// `@shadow` rules that matched (reported, never enforced).
    #[getter]
    fn shadow<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &serde_json::to_value(&self.decision.shadow).unwrap_or_default())
    }

    /// The request decided, in Cedar's JSON shape.
    #[getter]
    fn request<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.request.to_json())
    }

    /// Decision time, milliseconds since the epoch.
    #[getter]
    fn time(&self) -> i64 {
        self.time
    }

    /// The source hash of the policy set that decided.
    #[getter]
    fn policy(&self) -> &str {
        &self.policy
    }

    /// Why the request is not allowed, in words an LLM (or a person) can act
    /// on; `None` for an allow.
    #[getter]
    fn why(&self) -> Option<&str> {
        self.why.as_deref()
    }

    /// The decision as `ward eval` prints it (a dict).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.decision.to_json())
    }

    /// The decision as one line of JSON, as `ward eval` prints it.
    fn to_json(&self) -> String {
        self.decision.to_json().to_string()
    }

    /// The decision in words, as `ward explain` prints it.
    fn explain(&self) -> String {
        self.decision.explain()
    }

    fn __repr__(&self) -> String {
        let rules: Vec<&str> = self.decision.reasons.iter().filter_map(|r| r.rule.as_deref()).collect();
        format!("<Decision {} by [{}]>", self.decision.effect.as_str(), rules.join(", "))
    }
}

/// One reason of a decision.
#[pyclass(frozen, get_all, module = "ward._ward", name = "Reason")]
pub struct Reason {
    /// `policy.id`, or `None` for a reason that is not a rule (default deny, lifecycle, …).
    rule: Option<String>,
    /// The condition that held, as written (or the reason in words).
    clause: String,
    /// `file:line:col` of the rule.
    span: Option<String>,
    /// Under delegation: the link of the chain this reason is about.
    principal: Option<String>,
}

impl From<&rt::Reason> for Reason {
    fn from(r: &rt::Reason) -> Reason {
        Reason { rule: r.rule.clone(), clause: r.clause.clone(), span: r.span.clone(), principal: r.principal.clone() }
    }
}

#[pymethods]
impl Reason {
    fn __repr__(&self) -> String {
        format!("<Reason {}: {}>", self.rule.as_deref().unwrap_or("-"), self.clause)
    }
}

/// A mask the decision requires on what the agent receives.
#[pyclass(frozen, get_all, module = "ward._ward", name = "Mask")]
pub struct Mask {
    rule: String,
    paths: Vec<String>,
    /// The method as written: `redact`, `partial(last: 4)`, `tokenize(key: "crm")`, …
    method: String,
    /// Detectors (qualified names) when the mask applies to matches in text.
    detectors: Vec<String>,
}

impl From<&rt::Mask> for Mask {
    fn from(m: &rt::Mask) -> Mask {
        Mask {
            rule: m.rule.clone(),
            paths: m.paths.clone(),
            method: rt::method_text(&m.method),
            detectors: m.detectors.clone(),
        }
    }
}

#[pymethods]
impl Mask {
    fn __repr__(&self) -> String {
        format!("<Mask {} with {} ({})>", self.paths.join(", "), self.method, self.rule)
    }
}

/// An obligation (must be honoured) or advice (informs) of a deciding rule.
#[pyclass(frozen, module = "ward._ward", name = "Obligation")]
pub struct Obligation {
    #[pyo3(get)]
    rule: String,
    #[pyo3(get)]
    name: String,
    args: serde_json::Map<String, serde_json::Value>,
    #[pyo3(get)]
    advice: bool,
}

impl From<&rt::Obligation> for Obligation {
    fn from(o: &rt::Obligation) -> Obligation {
        Obligation { rule: o.rule.clone(), name: o.name.clone(), args: o.args.clone(), advice: o.advice }
    }
}

#[pymethods]
impl Obligation {
    #[getter]
    fn args<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &serde_json::Value::Object(self.args.clone()))
    }

    fn __repr__(&self) -> String {
        let args: Vec<String> = self.args.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        format!("<Obligation {}({}) from {}>", self.name, args.join(", "), self.rule)
    }
}

/// A rate limit that applied, with what is left of it.
#[pyclass(frozen, get_all, module = "ward._ward", name = "Limit")]
pub struct Limit {
    rule: String,
    /// The key the budget is counted under (`Agent::"bot"`).
    key: String,
    limit: u64,
    window_ms: i64,
    remaining: u64,
    /// When this limit refused the request: milliseconds until one is allowed.
    retry_after_ms: Option<i64>,
}

impl From<&rt::Limit> for Limit {
    fn from(l: &rt::Limit) -> Limit {
        Limit {
            rule: l.rule.clone(),
            key: l.key.clone(),
            limit: l.limit,
            window_ms: l.window_ms,
            remaining: l.remaining,
            retry_after_ms: l.retry_after_ms,
        }
    }
}

#[pymethods]
impl Limit {
    fn __repr__(&self) -> String {
        format!("<Limit {} for {}: {} of {} left>", self.rule, self.key, self.remaining, self.limit)
    }
}

/// A dict for a diagnostic, for `PolicyError.diagnostics`.
pub fn diagnostic_dict<'py>(py: Python<'py>, fields: &[(&str, serde_json::Value)]) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in fields {
        dict.set_item(*k, to_py(py, v)?)?;
    }
    Ok(dict)
}
