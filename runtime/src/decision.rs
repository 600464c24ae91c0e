//! Decisions: what the engine answers, and how it explains itself.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Allow,
    ApprovalRequired,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::ApprovalRequired => "approval_required",
            Effect::Deny => "deny",
        }
    }
}

/// Why: a rule that decided (with the condition that held), or a reason
/// without a rule (default deny, lifecycle, a malformed request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// `policy.id`, or `None` for reasons that are not a rule.
    pub rule: Option<String>,
    /// The condition that held, as written (or the reason in words).
    pub clause: String,
    /// `file:line:col` of the rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<String>,
    /// Under delegation: the link of the chain this reason is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mask {
    pub rule: String,
    pub paths: Vec<String>,
    /// `"redact"`, `{"partial": {"first": 0, "last": 4}}`, `{"tokenize": {"key": "crm"}}`, …
    pub method: ward_ir::MaskMethod,
    /// Detectors (qualified names) when the mask applies to matches in text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub detectors: Vec<String>,
}

/// What masking did, for an auditor: how many values one mask replaced,
/// by what found them — a detector (`email`) or a field path
/// (`resource.ssn`). Never the values.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Masked {
    pub rule: String,
    /// The detector that found the values, or the field path masked.
    pub by: String,
    /// `redact`, `tokenize(key: "crm")`, … as written in the policy.
    pub method: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Obligation {
    pub rule: String,
    pub name: String,
    pub args: serde_json::Map<String, serde_json::Value>,
    /// Advice informs; obligations must be honoured.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub advice: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub rule: String,
    /// The key the budget is counted under (`Agent::"bot"`).
    pub key: String,
    pub limit: u64,
    pub window_ms: i64,
    pub remaining: u64,
    /// When the request was refused by this limit: milliseconds until one is allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<i64>,
    /// A `sum` or `distinct` limit: the budget in its own unit (`limit` and
    /// `remaining` above are then whole units of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
}

/// A cumulative limit's budget, in the unit of what it counts: a Decimal
/// sum as decimals (`"20000.0"`), an Int sum or distinct count as integers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// `sum` or `distinct`.
    pub measure: String,
    /// The budget per window.
    pub total: String,
    /// What the window held before this request.
    pub used: String,
    /// This request's amount, or the value it counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// What is left: after this request if it passed, else before it.
    pub remaining: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalErrorOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub message: String,
}

/// A `@shadow` rule that matched: reported, never enforced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shadow {
    pub rule: String,
    /// What the rule would have done: `permit` or `forbid`.
    pub effect: String,
    pub clause: String,
}

/// A decision: the effect and everything that explains and conditions it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub effect: Effect,
    pub reasons: Vec<Reason>,
    pub masks: Vec<Mask>,
    pub obligations: Vec<Obligation>,
    pub limits: Vec<Limit>,
    pub errors: Vec<EvalErrorOut>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub shadow: Vec<Shadow>,
    /// Filled in when the masks are applied (`Engine::mask`): what was
    /// masked, and how many values.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub masked: Vec<Masked>,
}

impl Decision {
    /// A decision with `effect` and nothing else yet.
    pub fn empty(effect: Effect) -> Decision {
        Decision {
            effect,
            reasons: Vec::new(),
            masks: Vec::new(),
            obligations: Vec::new(),
            limits: Vec::new(),
            errors: Vec::new(),
            shadow: Vec::new(),
            masked: Vec::new(),
        }
    }

    /// A deny for a request that could not be decided at all.
    pub fn refused(message: impl Into<String>) -> Decision {
        let message = message.into();
        Decision {
            effect: Effect::Deny,
            reasons: vec![Reason {
                rule: None,
                clause: format!("the request was refused: {message}"),
                span: None,
                principal: None,
            }],
            masks: Vec::new(),
            obligations: Vec::new(),
            limits: Vec::new(),
            errors: vec![EvalErrorOut { rule: None, message }],
            shadow: Vec::new(),
            masked: Vec::new(),
        }
    }

    pub fn is_allowed(&self) -> bool {
        self.effect == Effect::Allow
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The decision in words, for `ward explain`.
    pub fn explain(&self) -> String {
        let mut out = String::new();
        let headline = match self.effect {
            Effect::Allow => "ALLOW",
            Effect::Deny => "DENY",
            Effect::ApprovalRequired => "APPROVAL REQUIRED",
        };
        out.push_str(headline);
        out.push('\n');
        for r in &self.reasons {
            let who = r.principal.as_ref().map(|p| format!(" (for {p})")).unwrap_or_default();
            match &r.rule {
                Some(rule) => {
                    let at = r.span.as_ref().map(|s| format!(" at {s}")).unwrap_or_default();
                    out.push_str(&format!("  because rule `{rule}`{at}{who} applied: {}\n", r.clause));
                }
                None => out.push_str(&format!("  because {}{who}\n", r.clause)),
            }
        }
        for o in &self.obligations {
            let kind = if o.advice { "advice" } else { "obligation" };
            let args: Vec<String> = o.args.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            out.push_str(&format!("  {kind} {}({}) from `{}`\n", o.name, args.join(", "), o.rule));
        }
        for m in &self.masks {
            let detectors =
                if m.detectors.is_empty() { String::new() } else { format!(" in {}", m.detectors.join(", ")) };
            out.push_str(&format!(
                "  mask {}{detectors} with {} (rule `{}`)\n",
                m.paths.join(", "),
                method_text(&m.method),
                m.rule
            ));
        }
        for m in &self.masked {
            let values = if m.count == 1 { "value" } else { "values" };
            out.push_str(&format!(
                "  masked {} {values} found by {} with {} (rule `{}`)\n",
                m.count, m.by, m.method, m.rule
            ));
        }
        for l in &self.limits {
            let retry = l.retry_after_ms.map(|ms| format!("; retry after {} ms", ms)).unwrap_or_default();
            match &l.budget {
                Some(b) => out.push_str(&format!(
                    "  {} limit `{}` for {}: {} of {} left{retry}\n",
                    b.measure, l.rule, l.key, b.remaining, b.total
                )),
                None => out.push_str(&format!(
                    "  limit `{}` for {}: {} of {} left{retry}\n",
                    l.rule, l.key, l.remaining, l.limit
                )),
            }
        }
        for s in &self.shadow {
            out.push_str(&format!("  shadow rule `{}` would {}: {}\n", s.rule, s.effect, s.clause));
        }
        for e in &self.errors {
            let rule = e.rule.as_ref().map(|r| format!(" in `{r}`")).unwrap_or_default();
            out.push_str(&format!("  error{rule}: {}\n", e.message));
        }
        out
    }
}

/// A masking method as written in a policy: `partial(last: 4)`.
pub fn method_text(m: &ward_ir::MaskMethod) -> String {
    use ward_ir::MaskMethod;
    match m {
        MaskMethod::Redact => "redact".into(),
        MaskMethod::Drop => "drop".into(),
        MaskMethod::Partial { first, last } => match (first, last) {
            (0, l) => format!("partial(last: {l})"),
            (f, 0) => format!("partial(first: {f})"),
            (f, l) => format!("partial(first: {f}, last: {l})"),
        },
        MaskMethod::Hash { salt: Some(s) } => format!("hash(salt: {s:?})"),
        MaskMethod::Hash { salt: None } => "hash".into(),
        MaskMethod::Tokenize { key } => format!("tokenize(key: {key:?})"),
    }
}
