//! The encoding, construct by construct: each probe asks whether a
//! condition can hold (a permit guarded by it, and `assert never permit`).
//! "Yes" comes with a counterexample replayed through the engine (else the
//! assert would be unknown or an encoding bug); "no" is a proof. Each probe
//! is chosen so that the answer is known.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use ward_analyze::solver::Solver;

const SCHEMA: &str = r#"
schema t {
  entity Team in [Team]
  entity Role
  entity User in [Team, Role] {
    level: Int, tags: Set<String>, roles: Set<Role>, nick?: String, boss?: User,
    region: Region, grade: Grade, home: { city: String, zip?: String },
  }
  entity Agent in [Team] { owner: User, scopes: Set<String> }
  entity Doc in [Team] { owner: User, readers: Set<User>, secret: String, born: Date, price: Decimal }
  enum Region { eu, us }
  enum Grade ordered { low, mid, high }
  action read, write by [User, Agent] on [Doc]
  context { ip: Ip, mfa: Bool, s: String, d: Date, n: Int, amount: Decimal, approver?: User, t: Time, tags: Set<String> }
}
"#;

/// Whether some request makes `cond` hold for a `User` reading a `Doc`.
fn sat(solver: &Solver, cond: &str) -> bool {
    let policy = format!(
        "policy p {{\n  permit principal: User, action: read, resource: Doc when {cond}\n}}\nassert \"probe\" never permit action: read\n"
    );
    let c = common::compiled(SCHEMA, &policy);
    let results = ward_analyze::analyze::check_asserts(solver, Arc::new(c.program), &c.asserts).unwrap();
    let r = results.first().unwrap();
    match r.result.as_str() {
        "violated" => true,
        "holds" => false,
        other => panic!("`{cond}`: {other}: {:?}", r.outcome),
    }
}

fn check(solver: &Solver, cases: &[(&str, bool)]) {
    for (cond, want) in cases {
        assert_eq!(sat(solver, cond), *want, "`{cond}`");
    }
}

#[test]
fn numbers_decimals_and_enums() {
    let Some(s) = common::solver() else { return };
    check(
        &s,
        &[
            ("principal.level > 3 && principal.level < 5", true),
            ("principal.level > 3 && principal.level < 4", false),
            ("context.amount > 10.50 && context.amount < 10.5001", false),
            ("context.amount > 10.50 && context.amount < 10.5002", true),
            ("principal.grade > mid && principal.grade != high", false),
            ("principal.grade >= mid && principal.region == eu", true),
            ("context.n + 1 < context.n", false),
            ("-context.n == context.n && context.n != 0", false),
        ],
    );
}

#[test]
fn strings_and_globs() {
    let Some(s) = common::solver() else { return };
    check(
        &s,
        &[
            ("context.s like \"ab*cd\" && context.s.size() < 4", false),
            ("context.s like \"ab*cd\" && context.s.size() == 5", true),
            ("context.s.starts_with(\"x\") && context.s.ends_with(\"y\") && context.s.contains(\"\\u{e9}\")", true),
            ("context.s == \"a\" && context.s.is_empty()", false),
            ("context.s matches \"^[0-9]{3}$\" && context.s.size() == 3", true),
            ("context.s matches \"^[0-9]{3}$\" && context.s.size() == 4", false),
            ("context.s matches \"(?i)^ab+c\" && context.s.starts_with(\"A\")", true),
        ],
    );
}

#[test]
fn sets_sizes_and_membership() {
    let Some(s) = common::solver() else { return };
    check(
        &s,
        &[
            ("principal.tags.contains(\"x\") && principal.tags.contains(\"y\") && principal.tags.size() < 2", false),
            ("principal.tags.contains(\"x\") && principal.tags.size() >= 3", true),
            ("principal.tags.contains_all([\"x\", \"y\"]) && !principal.tags.contains(\"y\")", false),
            ("principal.tags.contains_any([\"x\", \"y\"]) && principal.tags.is_empty()", false),
            ("principal.tags.contains_any(context.tags) && !context.tags.is_empty()", true),
            ("principal.tags.contains_any(context.tags) && context.tags.is_empty()", false),
            ("[\"a\", \"b\"].contains_all(context.tags) && context.tags.size() == 3", false),
            ("context.tags == [\"a\", \"b\"] && context.tags.contains(\"c\")", false),
            ("context.tags == [\"a\", \"b\"]", true),
            // Users are in teams and roles, never in users: `in` a set of users is membership.
            ("principal in resource.readers && !resource.readers.contains(principal)", false),
        ],
    );
}

#[test]
fn hierarchy_is_transitive_typed_and_acyclic() {
    let Some(s) = common::solver() else { return };
    check(
        &s,
        &[
            ("principal in Team::\"a\" && Team::\"a\" in Team::\"b\" && !(principal in Team::\"b\")", false),
            ("principal in Team::\"a\" && !(principal in Team::\"b\")", true),
            ("principal in Team::\"a\" && Team::\"a\" in Team::\"b\" && Team::\"b\" in Team::\"a\"", false),
            ("principal in Role::\"admin\" && resource in Team::\"a\"", true),
            ("resource.owner in Team::\"a\" && resource.owner == principal && !(principal in Team::\"a\")", false),
            ("principal in resource.owner.roles", true),
        ],
    );
}

#[test]
fn optional_attributes_and_records() {
    let Some(s) = common::solver() else { return };
    check(
        &s,
        &[
            ("principal has nick && principal.nick == \"z\"", true),
            ("principal has boss && principal.boss == principal && principal.boss.level > 2", true),
            ("principal.home.city == \"Oslo\" && principal.home has zip", true),
            ("principal.home.city == \"a\" && principal.home.city != \"a\"", false),
            ("context has approver && context.approver in Role::\"sup\"", true),
        ],
    );
}

#[test]
fn ips_times_and_dates() {
    let Some(s) = common::solver() else { return };
    check(
        &s,
        &[
            ("context.ip in cidr(\"10.0.0.0/8\") && context.ip.is_loopback()", false),
            ("context.ip.is_private() && !(context.ip in cidr(\"10.0.0.0/8\")) && context.ip.is_ipv4()", true),
            ("context.ip.is_ipv6() && context.ip in cidr(\"2001:db8::/32\")", true),
            ("context.ip == ip(\"::1\") && context.ip.is_loopback()", true),
            ("context.d.month() == 2 && context.d.day() == 29 && context.d.year() == 2031", false),
            ("context.d.month() == 2 && context.d.day() == 29 && context.d.year() == 2032", true),
            ("context.t.hour() == 13 && context.t.weekday() == 3 && context.t.minute() == 59", true),
            ("context.t.hour() > 23", false),
            ("context.t.date() == context.d && context.d.weekday() == 7", true),
            ("now < 2026-01-01T00:00:00Z && now > 2025-12-31T23:59:59Z", true),
        ],
    );
}

#[test]
fn errors_are_found_with_the_rule_and_the_attribute() {
    let Some(s) = common::solver() else { return };
    let r = common::analyze(
        &s,
        SCHEMA,
        "policy p {\n  @id(\"sum\") permit principal: User, action: read, resource: Doc when context.amount + resource.price > 1.0\n  @id(\"safe\") permit principal: User, action: write, resource: Doc when principal has nick && principal.nick == \"a\"\n}\n",
    );
    let read = r.actions.iter().find(|a| a.action == "read").unwrap();
    assert_eq!(read.errors.len(), 1, "{:?}", read.errors);
    assert_eq!(read.errors[0].rule, "p.sum");
    assert!(read.errors[0].message.contains("overflow"), "{}", read.errors[0].message);
    // Which condition (and so which attributes) failed, and where it is written.
    let condition = read.errors[0].condition.as_deref().unwrap_or_default();
    assert!(condition.contains("context.amount + resource.price > 1.0"), "{:?}", read.errors[0]);
    assert!(
        read.errors[0].location.as_deref().is_some_and(|l| l.starts_with("policy.ward:2:")),
        "{:?}",
        read.errors[0]
    );
    let write = r.actions.iter().find(|a| a.action == "write").unwrap();
    assert!(write.errors.is_empty() && write.errors_unknown.is_none(), "{:?}", write.errors);
}

#[test]
fn verdicts_and_rule_findings() {
    let Some(s) = common::solver() else { return };
    let r = common::analyze(
        &s,
        SCHEMA,
        r#"policy p {
  @id("any-read") permit principal: User, action: read, resource: Doc
  @id("agents-read") permit principal: Agent, action: read, resource: Doc
  @id("dead") permit principal: User, action: write, resource: Doc when principal.level > 3 && principal.level < 2
  @id("covered") permit principal: User, action: write, resource: Doc when principal.level > 10
  @id("wide") permit principal: User, action: write, resource: Doc when principal.level > 5
  @id("shadowed") permit principal: User, action: write, resource: Doc when principal in Team::"x"
  @id("ban") forbid action: write when principal in Team::"x" || principal in Team::"y"
}
"#,
    );
    let verdict = |a: &str| r.actions.iter().find(|x| x.action == a).unwrap().verdict.clone();
    assert_eq!(verdict("read"), "always allows");
    assert_eq!(verdict("write"), "allows some requests");
    let finding = |id: &str| r.rules.iter().find(|f| f.rule == id).map(|f| f.finding.clone());
    assert_eq!(finding("p.dead").as_deref(), Some("never applies"));
    assert_eq!(finding("p.shadowed").as_deref(), Some("shadowed"));
    assert_eq!(finding("p.covered").as_deref(), Some("redundant"));
    assert_eq!(finding("p.wide"), None);
    assert_eq!(finding("p.ban"), None);
}

#[test]
fn delegation_approval_lifecycle_masks_obligations_limits() {
    let Some(s) = common::solver() else { return };
    let base = r#"
agent bot: Agent { owner User::"dana"; expires 2027-06-30 attrs { scopes: [] } }
policy p {
  @id("users") permit principal: User, action: read, resource: Doc when principal.level > 1
  @id("agents") permit principal: Agent, action: read, resource: Doc
  @id("approve") forbid action: write unless context.mfa obligation require_approval(role: "sup")
  @id("writes") permit principal: User, action: write, resource: Doc obligation notify(to: "sec")
  @id("secret") mask resource.secret with redact on action: read
  @id("rate") limit principal: Agent, action: read to 5 per 1h per principal.owner
}
"#;
    // An agent acting for a user: the user's level still counts.
    let r = common::diff(&s, SCHEMA, base, &base.replace("when principal.level > 1", "when principal.level > 0"));
    let read = common::action(&r, "read");
    common::found(&read.widened);
    common::none(&read.narrowed);
    // A caller-only permit: a delegated chain gets what the caller may do.
    let actor = base.replace(r#"@id("agents") permit"#, r#"@id("agents") @delegation("actor") permit"#);
    let r = common::diff(&s, SCHEMA, base, &actor);
    let e = common::found(&common::action(&r, "read").widened);
    assert!(e.requests[1].get("on_behalf_of").is_some(), "{}", e.requests[1]);
    // The approval step dropped: what needed a supervisor is allowed.
    let r = common::diff(
        &s,
        SCHEMA,
        base,
        &base.replace(
            "@id(\"approve\") forbid action: write unless context.mfa obligation require_approval(role: \"sup\")",
            "",
        ),
    );
    let write = common::action(&r, "write");
    let e = common::found(&write.widened);
    assert_eq!(e.decided[0]["effect"], "approval_required");
    common::none(&write.approval_widened);
    common::none(&write.narrowed);
    // Its obligation dropped instead: the forbid now denies outright (narrower).
    let r = common::diff(&s, SCHEMA, base, &base.replace("obligation require_approval(role: \"sup\")", ""));
    let write = common::action(&r, "write");
    common::none(&write.widened);
    common::found(&write.narrowed);
    // The agent's life extended.
    let r = common::diff(&s, SCHEMA, base, &base.replace("expires 2027-06-30", "expires 2028-06-30"));
    let e = common::found(&common::action(&r, "read").widened);
    assert!(e.at.starts_with("2027") || e.at.starts_with("2028"), "{}", e.at);
    // A mask weakened, an obligation dropped.
    let r = common::diff(
        &s,
        SCHEMA,
        base,
        &base.replace("with redact", "with partial(last: 2)").replace("obligation notify(to: \"sec\")", ""),
    );
    common::found(&common::action(&r, "read").masks[0].weakened);
    let dropped = common::action(&r, "write").obligations.iter().find(|o| o.obligation.starts_with("notify")).unwrap();
    common::found(&dropped.dropped);
    // A limit whose key cannot be computed denies; without the limit, it is allowed.
    let r = common::diff(&s, SCHEMA, base, &base.replace("per principal.owner", "per principal"));
    let e = common::found(&common::action(&r, "read").widened);
    assert_eq!(e.decided[0]["effect"], "deny");
    assert!(r.limits.iter().any(|l| l.rule == "p.rate" && l.loosened));
}

#[test]
fn a_limit_moved_to_another_principal_type_is_a_loosened_limit() {
    let Some(s) = common::solver() else { return };
    // The conditions' text is unchanged: only the scope moves off the agents.
    let old = "policy p {\n  permit action: read\n  @id(\"rate\") limit principal: Agent, action: read to 5 per 1h per principal\n}\n";
    let new = old.replace("limit principal: Agent", "limit principal: User");
    let r = common::diff(&s, SCHEMA, old, &new);
    let limit = r.limits.iter().find(|l| l.rule == "p.rate").expect("the limit's change is reported");
    assert!(limit.loosened, "{limit:?}");
    let (action, outcome) = limit.no_longer_applies.first().expect("a request it no longer applies to");
    assert_eq!(action, "read");
    let e = common::found(outcome);
    assert_eq!(e.requests[0]["principal"]["type"], "Agent", "{}", e.requests[0]);
    assert!(r.widens(), "--fail-on widen must fail");
    // An unchanged limit is not reported.
    let r = common::diff(&s, SCHEMA, old, old);
    assert!(r.limits.is_empty(), "{:?}", r.limits);
}

#[test]
fn the_same_policy_has_no_difference() {
    let Some(s) = common::solver() else { return };
    let policy = "policy p {\n  permit principal: User, action: read, resource: Doc when principal in resource.readers\n  forbid action: write unless context.mfa\n  permit principal: User, action: write, resource: Doc\n}\n";
    let r = common::diff(&s, SCHEMA, policy, policy);
    assert!(!r.widens() && !r.changes(), "{}", serde_json::to_string_pretty(&r).unwrap());
}

#[test]
fn cvc5_answers_too() {
    let Some(s) = common::solver_named(Some("cvc5")) else { return };
    check(
        &s,
        &[
            ("principal.level > 3 && principal.level < 4", false),
            ("principal in Team::\"a\" && Team::\"a\" in Team::\"b\" && !(principal in Team::\"b\")", false),
            ("principal.tags.contains(\"x\") && principal.tags.size() >= 3 && context.s like \"a*\"", true),
        ],
    );
}

/// Entity tags are not in the symbolic store: a rule that reads them is an
/// approximation, so a question about it is undecided ("unknown", naming
/// it), never a proof that the permit cannot apply.
#[test]
fn entity_tags_are_approximated_never_proved() {
    let Some(s) = common::solver() else { return };
    let schema = "schema t {\n  entity User tags Int\n  entity Doc tags String\n  action read by [User] on [Doc]\n}\n";
    for cond in [
        "resource.has_tag(\"k\")",
        "resource.has_tag(\"k\") && resource.get_tag(\"k\") == \"x\"",
        "principal.has_tag(\"n\") && principal.get_tag(\"n\") > 3 && !resource.has_tag(\"n\")",
    ] {
        let policy =
            format!("policy p {{\n  permit action: read when {cond}\n}}\nassert \"probe\" never permit action: read\n");
        let c = common::compiled(schema, &policy);
        let results = ward_analyze::analyze::check_asserts(&s, Arc::new(c.program), &c.asserts).unwrap();
        let r = results.first().unwrap();
        assert_eq!(r.result, "unknown", "`{cond}`: {:?}", r.outcome);
    }
}
