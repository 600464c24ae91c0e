//! Counters and histograms in Prometheus' text format, without a metrics
//! library: a handful of atomics and one map of per-rule counters.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ward_runtime::{Decision, Effect};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 16] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Sum in nanoseconds.
    sum_ns: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b)
            && let Some(c) = self.counts.get(i)
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, c) in BUCKETS.iter().zip(&self.counts) {
            cumulative += c.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let labels = labels.trim_end_matches(',');
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// The endpoints whose latency is measured.
#[derive(Clone, Copy)]
pub enum Endpoint {
    Decide,
    Batch,
    Mask,
    MaskBatch,
    Results,
}

/// Why a request was answered with an error.
#[derive(Clone, Copy)]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    TooLarge,
    RateLimited,
    Timeout,
    Internal,
}

const ERROR_KINDS: [&str; 7] =
    ["bad_request", "unauthorized", "forbidden", "too_large", "rate_limited", "timeout", "internal"];

#[derive(Default)]
pub struct Metrics {
    /// allow, approval_required, deny.
    effects: [AtomicU64; 3],
    rules: RwLock<BTreeMap<String, AtomicU64>>,
    latency: [Histogram; 5],
    errors: [AtomicU64; ERROR_KINDS.len()],
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    connections_refused: AtomicU64,
    /// Connections open now (set by the listener).
    pub connections_open: std::sync::Arc<AtomicU64>,
}

impl Metrics {
    pub fn decision(&self, d: &Decision) {
        let i = match d.effect {
            Effect::Allow => 0,
            Effect::ApprovalRequired => 1,
            Effect::Deny => 2,
        };
        if let Some(c) = self.effects.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        for rule in d.reasons.iter().filter_map(|r| r.rule.as_deref()) {
            let known = {
                let rules = self.rules.read().unwrap_or_else(|e| e.into_inner());
                rules.get(rule).map(|c| c.fetch_add(1, Ordering::Relaxed)).is_some()
            };
            if !known {
                let mut rules = self.rules.write().unwrap_or_else(|e| e.into_inner());
                rules.entry(rule.to_string()).or_default().fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn latency(&self, endpoint: Endpoint, d: Duration) {
        if let Some(h) = self.latency.get(endpoint as usize) {
            h.observe(d);
        }
    }

    pub fn error(&self, kind: ErrorKind) {
        if let Some(c) = self.errors.get(kind as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A connection refused for being over a connection limit.
    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reload(&self, ok: bool) {
        if ok { &self.reloads_ok } else { &self.reloads_failed }.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition format, with the policy's hash and load time.
    pub fn render(&self, policy_hash: &str, generation: u64, loaded_at_ms: i64) -> String {
        let mut out = String::new();
        out.push_str("# HELP ward_decisions_total Decisions by effect.\n# TYPE ward_decisions_total counter\n");
        for (effect, c) in ["allow", "approval_required", "deny"].iter().zip(&self.effects) {
            let _ = writeln!(out, "ward_decisions_total{{effect=\"{effect}\"}} {}", c.load(Ordering::Relaxed));
        }
        out.push_str(
            "# HELP ward_rule_decisions_total Decisions by the rule that decided them.\n\
             # TYPE ward_rule_decisions_total counter\n",
        );
        for (rule, c) in self.rules.read().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ =
                writeln!(out, "ward_rule_decisions_total{{rule=\"{}\"}} {}", escape(rule), c.load(Ordering::Relaxed));
        }
        out.push_str(
            "# HELP ward_request_duration_seconds Time to answer decision requests.\n\
             # TYPE ward_request_duration_seconds histogram\n",
        );
        for (endpoint, h) in ["decide", "batch", "mask", "mask_batch", "results"].iter().zip(&self.latency) {
            h.render(&mut out, "ward_request_duration_seconds", &format!("endpoint=\"{endpoint}\","));
        }
        out.push_str(
            "# HELP ward_errors_total Requests answered with an error, by kind.\n# TYPE ward_errors_total counter\n",
        );
        for (kind, c) in ERROR_KINDS.iter().zip(&self.errors) {
            let _ = writeln!(out, "ward_errors_total{{kind=\"{kind}\"}} {}", c.load(Ordering::Relaxed));
        }
        out.push_str("# HELP ward_reloads_total Policy reloads by result.\n# TYPE ward_reloads_total counter\n");
        let _ = writeln!(out, "ward_reloads_total{{result=\"ok\"}} {}", self.reloads_ok.load(Ordering::Relaxed));
        let _ =
            writeln!(out, "ward_reloads_total{{result=\"failed\"}} {}", self.reloads_failed.load(Ordering::Relaxed));
        out.push_str(
            "# HELP ward_connections_refused_total Connections refused for being over a connection limit.\n\
             # TYPE ward_connections_refused_total counter\n",
        );
        let _ = writeln!(out, "ward_connections_refused_total {}", self.connections_refused.load(Ordering::Relaxed));
        out.push_str("# HELP ward_connections_open Connections open.\n# TYPE ward_connections_open gauge\n");
        let _ = writeln!(out, "ward_connections_open {}", self.connections_open.load(Ordering::Relaxed));
        out.push_str("# HELP ward_policy_info The policy being served.\n# TYPE ward_policy_info gauge\n");
        let _ = writeln!(out, "ward_policy_info{{hash=\"{}\",generation=\"{generation}\"}} 1", escape(policy_hash));
        out.push_str(
            "# HELP ward_policy_loaded_timestamp_seconds When the policy was loaded.\n\
             # TYPE ward_policy_loaded_timestamp_seconds gauge\n",
        );
        let _ = writeln!(out, "ward_policy_loaded_timestamp_seconds {}", loaded_at_ms as f64 / 1000.0);
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        let mut d = Decision::refused("x");
        d.reasons[0].rule = Some("p.\"r\"".to_string());
        m.decision(&d);
        m.decision(&d);
        m.latency(Endpoint::Decide, Duration::from_micros(30));
        m.latency(Endpoint::Decide, Duration::from_millis(3));
        m.error(ErrorKind::RateLimited);
        m.reload(false);
        let text = m.render("sha256:ab", 2, 1_000);
        assert!(text.contains("ward_decisions_total{effect=\"deny\"} 2"), "{text}");
        assert!(text.contains("ward_rule_decisions_total{rule=\"p.\\\"r\\\"\"} 2"), "{text}");
        assert!(text.contains("ward_request_duration_seconds_bucket{endpoint=\"decide\",le=\"0.00005\"} 1"), "{text}");
        assert!(text.contains("ward_request_duration_seconds_bucket{endpoint=\"decide\",le=\"+Inf\"} 2"), "{text}");
        assert!(text.contains("ward_request_duration_seconds_count{endpoint=\"decide\"} 2"), "{text}");
        assert!(text.contains("ward_errors_total{kind=\"rate_limited\"} 1"), "{text}");
        assert!(text.contains("ward_reloads_total{result=\"failed\"} 1"), "{text}");
        assert!(text.contains("ward_policy_info{hash=\"sha256:ab\",generation=\"2\"} 1"), "{text}");
    }
}
