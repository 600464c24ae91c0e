//! Reports in Markdown (for a pull-request comment or a terminal) from the
//! diff and analysis results; JSON is their serde form.

use std::fmt::Write;

use serde_json::Value as Json;

use crate::diff::{ActionDiff, DiffReport};
use crate::query::{Example, Outcome};

fn yes_no(o: &Outcome) -> &'static str {
    match o {
        Outcome::None => "no",
        Outcome::Found(_) => "**yes**",
        Outcome::Unknown { bug: true, .. } => "**unknown (bug)**",
        Outcome::Unknown { .. } => "**unknown**",
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 { format!("{n} {one}") } else { format!("{n} {many}") }
}

/// What decided: ` by `rule`, `rule`` or ` — the reason` (default deny).
fn by(d: &Json) -> String {
    let reasons: Vec<&Json> = d.get("reasons").and_then(Json::as_array).into_iter().flatten().collect();
    let rules: Vec<String> =
        reasons.iter().filter_map(|r| r.get("rule").and_then(Json::as_str)).map(|id| format!("`{id}`")).collect();
    let others: Vec<&str> = reasons
        .iter()
        .filter(|r| r.get("rule").and_then(Json::as_str).is_none())
        .filter_map(|r| r.get("clause").and_then(Json::as_str))
        .collect();
    let mut out = String::new();
    if !rules.is_empty() {
        out.push_str(&format!(" by {}", rules.join(", ")));
    }
    if !others.is_empty() {
        out.push_str(&format!(" — {}", others.join("; ")));
    }
    out
}

fn effect(d: &Json) -> &str {
    d.get("effect").and_then(Json::as_str).unwrap_or("?")
}

fn masks(d: &Json) -> String {
    let list: Vec<String> = d
        .get("masks")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .map(|m| {
            let paths: Vec<&str> =
                m.get("paths").and_then(Json::as_array).into_iter().flatten().filter_map(Json::as_str).collect();
            let method = match m.get("method") {
                Some(Json::String(s)) => s.clone(),
                Some(Json::Object(o)) => o.keys().next().cloned().unwrap_or_default(),
                _ => String::new(),
            };
            format!("{} ({method})", paths.join(", "))
        })
        .collect();
    if list.is_empty() { "none".into() } else { list.join("; ") }
}

fn pretty(v: &Json) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// A replayed example: the request, the entities, and each program's decision.
pub fn example(out: &mut String, e: &Example, labels: &[&str]) {
    let _ = writeln!(out, "At `{}`, this request:", e.at);
    let shown = e.requests.len().saturating_sub(1);
    let differs = e.requests.windows(2).any(|w| w.first() != w.get(1));
    if let Some(req) = e.requests.get(shown) {
        let _ = writeln!(out, "\n```json\n{}\n```", pretty(req));
    }
    if differs {
        for (i, req) in e.requests.iter().enumerate().take(shown) {
            let _ = writeln!(
                out,
                "\nas the {} schema reads it:\n\n```json\n{}\n```",
                labels.get(i).unwrap_or(&"?"),
                pretty(req)
            );
        }
    }
    if let Some(ents) = e.entities.get(shown) {
        let n = ents.as_array().map_or(0, Vec::len);
        let _ = writeln!(
            out,
            "\n<details><summary>with {} (entity store)</summary>\n\n```json\n{}\n```\n\n</details>",
            plural(n, "entity", "entities"),
            pretty(ents)
        );
    }
    let _ = writeln!(out);
    for (i, d) in e.decided.iter().enumerate() {
        let label = labels.get(i).unwrap_or(&"?");
        let _ = writeln!(out, "- {label}: **{}**{}; masks: {}", effect(d), by(d), masks(d));
    }
    let _ = writeln!(out, "\n_Replayed through the engine (JIT and interpreter agree)._");
}

fn unknown(out: &mut String, o: &Outcome) {
    if let Outcome::Unknown { reason, bug } = o {
        let what = if *bug { "Encoding bug" } else { "Undecided" };
        let _ = writeln!(out, "{what}: {reason}\n");
    }
}

fn section(out: &mut String, title: &str, o: &Outcome) {
    if o.is_none() {
        return;
    }
    let _ = writeln!(out, "### {title}\n");
    match o {
        Outcome::Found(e) => example(out, e, &["old", "new"]),
        other => unknown(out, other),
    }
    let _ = writeln!(out);
}

fn action_sections(out: &mut String, a: &ActionDiff) {
    let name = &a.action;
    section(out, &format!("`{name}`: the new policy allows requests the old one did not"), &a.widened);
    section(out, &format!("`{name}`: the new policy asks for approval where the old one denied"), &a.approval_widened);
    for m in &a.masks {
        let what = match &m.detector {
            Some(d) => format!("`{}` ({d})", m.path),
            None => format!("`{}`", m.path),
        };
        section(out, &format!("`{name}`: {what} is masked less than by `{}`", m.old_method), &m.weakened);
    }
    for o in &a.obligations {
        section(out, &format!("`{name}`: `{}` is no longer attached to `{}`", o.obligation, o.effect), &o.dropped);
    }
    section(out, &format!("`{name}`: the new policy restricts requests the old one let through"), &a.narrowed);
}

/// `ward diff` as Markdown.
pub fn diff_markdown(r: &DiffReport) -> String {
    let mut out = String::new();
    let count = |f: &dyn Fn(&ActionDiff) -> bool| r.actions.iter().filter(|a| f(a)).count();
    let widened = count(&|a| !a.widened.is_none());
    let approvals = count(&|a| !a.approval_widened.is_none());
    let narrowed = count(&|a| !a.narrowed.is_none());
    let masks: usize = r.actions.iter().map(|a| a.masks.iter().filter(|m| !m.weakened.is_none()).count()).sum();
    let obligations: usize =
        r.actions.iter().map(|a| a.obligations.iter().filter(|o| !o.dropped.is_none()).count()).sum();
    let _ = writeln!(out, "## Ward policy diff\n");
    let verdict = if r.widens_proved() {
        "**This change widens access.**"
    } else if r.widens() {
        "**Whether this change widens access could not be decided** (see below); \
         `--fail-on widen` counts it as a widening."
    } else {
        "No widening: every request the new policy lets through, the old one did too."
    };
    let _ = writeln!(out, "{verdict}\n");
    let _ = writeln!(
        out,
        "{} widened · {} newly sent for approval · {} narrowed · {} masked less · {} dropped · {} · {}\n",
        plural(widened, "action", "actions"),
        plural(approvals, "action", "actions"),
        plural(narrowed, "action", "actions"),
        plural(masks, "path", "paths"),
        plural(obligations, "obligation", "obligations"),
        plural(r.limits.len(), "limit changed", "limits changed"),
        plural(r.flows.len(), "flow condition changed", "flow conditions changed"),
    );
    let _ = writeln!(out, "| action | widened | approval widened | narrowed | masks weakened | obligations dropped |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for a in &r.actions {
        let name = match a.presence.as_str() {
            "added" => format!("`{}` (new)", a.action),
            "removed" => format!("`{}` (removed)", a.action),
            _ => format!("`{}`", a.action),
        };
        let worst = |items: Vec<&Outcome>| -> &'static str {
            if items.iter().any(|o| o.found().is_some()) {
                "**yes**"
            } else if items.iter().any(|o| !o.is_none()) {
                "**unknown**"
            } else {
                "no"
            }
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} |",
            yes_no(&a.widened),
            yes_no(&a.approval_widened),
            yes_no(&a.narrowed),
            worst(a.masks.iter().map(|m| &m.weakened).collect()),
            worst(a.obligations.iter().map(|o| &o.dropped).collect()),
        );
    }
    let _ = writeln!(out);
    for a in &r.actions {
        action_sections(&mut out, a);
    }
    if !r.limits.is_empty() {
        let _ = writeln!(out, "### Rate limits\n");
        for l in &r.limits {
            let tag = if l.loosened { " — **loosened**" } else { "" };
            let _ = writeln!(out, "- `{}`: {}{tag}", l.rule, l.change);
            for (action, o) in &l.no_longer_applies {
                match o {
                    Outcome::None => {}
                    Outcome::Found(e) => {
                        let _ = writeln!(out, "\n  On `{action}` it no longer applies to:\n");
                        let mut inner = String::new();
                        example(&mut inner, e, &["old", "new"]);
                        for line in inner.lines() {
                            let _ = writeln!(out, "  {line}");
                        }
                    }
                    Outcome::Unknown { reason, .. } => {
                        let _ = writeln!(out, "  On `{action}`: undecided ({reason})");
                    }
                }
            }
        }
        let _ = writeln!(out);
    }
    if !r.flows.is_empty() {
        let _ = writeln!(out, "### Flow conditions\n");
        for f in &r.flows {
            let _ = writeln!(out, "- `{}`: {}", f.rule, f.change);
        }
        let _ = writeln!(out);
    }
    let rc = &r.rules;
    if !rc.added.is_empty() || !rc.removed.is_empty() || !rc.changed.is_empty() {
        let ids = |v: &[String]| v.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ");
        let _ = writeln!(out, "### Rules\n");
        if !rc.added.is_empty() {
            let _ = writeln!(out, "- added: {}", ids(&rc.added));
        }
        if !rc.removed.is_empty() {
            let _ = writeln!(out, "- removed: {}", ids(&rc.removed));
        }
        if !rc.changed.is_empty() {
            let _ = writeln!(out, "- changed: {}", ids(&rc.changed));
        }
        let _ = writeln!(out);
    }
    approximations(
        &mut out,
        r.actions.iter().flat_map(|a| a.approximations.iter().map(move |x| (a.action.as_str(), x))),
    );
    let bounded: Vec<String> =
        r.actions.iter().filter_map(|a| a.chain_bounded.map(|n| format!("`{}` ({n})", a.action))).collect();
    if !bounded.is_empty() {
        let _ = writeln!(
            out,
            "Delegation chains were explored up to this many delegating principals: {}.\n",
            bounded.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "<sub>Proved by {} in {} ms, assuming {}. Every example above was replayed through the engine.</sub>",
        r.solver,
        r.elapsed_ms,
        r.assumptions.join("; ")
    );
    out
}

/// The list of approximations, once each.
pub fn approximations<'a>(out: &mut String, items: impl Iterator<Item = (&'a str, &'a crate::encode::Approx)>) {
    let mut lines: Vec<String> = Vec::new();
    for (action, a) in items {
        let whose = match (&a.rule, a.side.as_str()) {
            (Some(r), "") => format!("`{r}`"),
            (Some(r), side) => format!("`{r}` ({side})"),
            (None, _) => "the encoding".to_string(),
        };
        let handling = if a.flow {
            "checked against an empty and against any history"
        } else if a.restricts && a.what.contains("`@template`") {
            "the proofs hold for the policy with no links"
        } else if a.restricts {
            "the proofs hold for entity stores within this restriction"
        } else {
            "over-approximated"
        };
        let line = format!("- {whose}: {} — {handling} (action `{action}`)", a.what);
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    if !lines.is_empty() {
        let _ = writeln!(out, "### Where the encoding approximates\n");
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
        let _ = writeln!(out);
    }
}

/// `ward analyze` as Markdown.
pub fn analyze_markdown(r: &crate::analyze::AnalyzeReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Ward policy analysis\n");
    let _ = writeln!(out, "| action | verdict | may fail to evaluate |");
    let _ = writeln!(out, "|---|---|---|");
    for a in &r.actions {
        let errs: Vec<String> = a.errors.iter().map(|e| format!("`{}`", e.rule)).collect();
        let errs = match (&a.errors_unknown, errs.is_empty()) {
            (Some(_), true) => "**unknown**".to_string(),
            (Some(_), false) => format!("{} (search incomplete)", errs.join(", ")),
            (None, true) => "no".to_string(),
            (None, false) => errs.join(", "),
        };
        let limited = if a.limited_by.is_empty() || a.verdict != "always allows" {
            String::new()
        } else {
            format!(
                " (while the budget of {} lasts)",
                a.limited_by.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", ")
            )
        };
        let _ = writeln!(out, "| `{}` | {}{limited} | {errs} |", a.action, a.verdict);
    }
    let _ = writeln!(out);
    if !r.rules.is_empty() {
        let _ = writeln!(out, "### Rules\n");
        for f in &r.rules {
            let what = match f.finding.as_str() {
                "never applies" => "never applies: no request satisfies its scope and conditions",
                "shadowed" => "is shadowed: a forbid without approval applies whenever it does",
                _ => "is redundant: another rule of the same kind applies whenever it does",
            };
            let agrees = match &f.syntactic {
                Some(code) => format!(" (`ward check` warns {code} too)"),
                None if f.finding != "redundant" => " (beyond what `ward check` finds)".to_string(),
                None => String::new(),
            };
            let actions = f.actions.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ");
            let _ = writeln!(out, "- `{}` {what} — proved, on {actions}{agrees}", f.rule);
        }
        let _ = writeln!(out);
    }
    if !r.asserts.is_empty() {
        let _ = writeln!(out, "### Asserts\n");
        for a in &r.asserts {
            let _ = writeln!(out, "- **{}**: \"{}\" ({}) — {}", a.result, a.name, a.location, a.statement);
        }
        let _ = writeln!(out);
        for a in r.asserts.iter().filter(|a| a.result != "holds") {
            let on = a.action.as_deref().map(|x| format!(" on `{x}`")).unwrap_or_default();
            let _ = writeln!(out, "### Assert \"{}\" {}{on}\n", a.name, a.result);
            match &a.outcome {
                Outcome::Found(e) => example(&mut out, e, &["policy"]),
                other => unknown(&mut out, other),
            }
            let _ = writeln!(out);
        }
    }
    for a in &r.actions {
        for e in &a.errors {
            let at = match (&e.condition, &e.location) {
                (Some(c), Some(l)) => format!(", in `{c}` ({l})"),
                (Some(c), None) => format!(", in `{c}`"),
                _ => String::new(),
            };
            let _ = writeln!(out, "### `{}`: `{}` may fail to evaluate\n\n{}{at}\n", a.action, e.rule, e.message);
            if let Outcome::Found(x) = &e.example {
                example(&mut out, x, &["policy"]);
            }
            let _ = writeln!(out);
        }
        if let Some(why) = &a.errors_unknown {
            let _ = writeln!(out, "### `{}`: the search for evaluation errors is incomplete\n\n{why}\n", a.action);
        }
        for (label, o) in [("allows", &a.allowed), ("refuses", &a.refused)] {
            if let Outcome::Unknown { reason, .. } = o {
                let _ = writeln!(out, "### `{}`: whether it {label} some request is undecided\n\n{reason}\n", a.action);
            }
        }
    }
    approximations(
        &mut out,
        r.actions.iter().flat_map(|a| a.approximations.iter().map(move |x| (a.action.as_str(), x))),
    );
    let _ = writeln!(
        out,
        "<sub>Proved by {} in {} ms, assuming {}; evaluation errors assume every entity a request reaches is in the store. Every example above was replayed through the engine.</sub>",
        r.solver,
        r.elapsed_ms,
        r.assumptions.join("; ")
    );
    out
}
