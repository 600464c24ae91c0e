//! Decision semantics (docs/language.md §12 and the sections it refers to),
//! one focused test per point, each run on both backends: default deny,
//! forbid over permit, approval, fail closed, `has`, sets, hierarchies,
//! ordered enums, time, IPs, patterns and detectors, delegation, shadow
//! rules, agent lifecycle, rate limits, flow rules and masks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use serde_json::{Value as Json, json};
use ward_compiler::ir::MaskMethod;
use ward_runtime::decision::Decision;
use ward_runtime::engine::{Backend, Engine};
use ward_runtime::{Effect, Request};

use common::NOON;

const HOUR: i64 = 3_600_000;

const SCHEMA: &str = r#"
import stdlib.pii
import stdlib.inputs

schema app {
  entity Org
  entity Team in [Team, Org] { name?: String }
  entity Role in [Role]
  entity User in [Team, Role] {
    level: Level, region: Region, tags: Set<String>, roles: Set<Role>, teams: Set<Team>,
    budget: Int, manager?: User, email?: String,
  }
  entity Agent in [Team] { owner: User, scopes: Set<String>, clearance: Level }
  entity Folder in [Folder]
  entity Doc in [Folder] {
    owner: User, tier: Tier, level: Level, size: Int, ssn: String, notes?: String, meta?: Meta, home: Folder,
  }
  type Meta = { label: String, hint?: String }
  enum Level ordered { public, internal, confidential, restricted }
  enum Region { eu, us }
  enum Tier { standard, vip }
  action docs
  action read, list in [docs] by [User, Agent] on [Doc]
  action edit in [docs] by [User, Agent] on [Doc] with { fields: Set<String> }
  action send by [User, Agent] on [Doc] with { to: String, body: String, external: Bool }
  action pay by [User, Agent] on [Doc] with { amount: Decimal, count: Int }
  action connect by [User, Agent] on [Doc] with { from: Ip }
  context { ip?: Ip, at?: Time, mfa?: Bool, approvals?: Set<User>, query?: String }
}

detector order_id = pattern "ORD-[0-9]{4}"
detector words = keywords ["wire the funds", "secret"]
detector card = pattern "[0-9]{16}" validate luhn
"#;

fn entities() -> Json {
    let u = |ty: &str, id: &str| json!({"type": ty, "id": id});
    json!([
        {"uid": u("Org", "acme")},
        {"uid": u("Team", "eng"), "parents": [u("Org", "acme")]},
        {"uid": u("Team", "platform"), "attrs": {"name": "Platform"}, "parents": [u("Team", "eng")]},
        {"uid": u("Team", "loop1"), "parents": [u("Team", "loop2")]},
        {"uid": u("Team", "loop2"), "parents": []},
        {"uid": u("Role", "admin")},
        {"uid": u("Role", "superadmin"), "parents": [u("Role", "admin")]},
        {"uid": u("User", "dana"), "parents": [u("Team", "platform"), u("Role", "superadmin")], "attrs": {
            "level": "confidential", "region": "eu", "tags": ["a", "b"], "roles": [u("Role", "admin")],
            "teams": [u("Team", "eng")], "budget": 100, "email": "dana@acme.com"}},
        {"uid": u("User", "eve"), "parents": [u("Team", "loop1")], "attrs": {
            "level": "public", "region": "us", "tags": [], "roles": [], "teams": [],
            "budget": i64::MAX, "manager": u("User", "dana")}},
        {"uid": u("Agent", "bot"), "parents": [u("Team", "platform")], "attrs": {
            "owner": u("User", "dana"), "scopes": ["docs.read"], "clearance": "internal"}},
        {"uid": u("Folder", "root")},
        {"uid": u("Folder", "hr"), "parents": [u("Folder", "root")]},
        {"uid": u("Doc", "d1"), "parents": [u("Folder", "hr")], "attrs": {
            "owner": u("User", "dana"), "tier": "vip", "level": "internal", "size": 10, "ssn": "123-45-6789",
            "notes": "please refund order ORD-1234", "meta": {"label": "x"}, "home": u("Folder", "hr")}},
        {"uid": u("Doc", "d2"), "parents": [u("Folder", "root")], "attrs": {
            "owner": u("User", "eve"), "tier": "standard", "level": "restricted", "size": 0, "ssn": "987-65-4321",
            "home": u("Folder", "root")}},
    ])
}

/// Runs `check` against a fresh engine for `policy` on each backend.
fn on_both(policy: &str, check: impl Fn(&Engine)) {
    on_both_with(policy, entities(), check);
}

fn on_both_with(policy: &str, data: Json, check: impl Fn(&Engine)) {
    let src = format!("{SCHEMA}\n{policy}");
    for backend in [Backend::Interpreter, Backend::Jit] {
        let engine = common::engine_with(&src, data.clone(), backend);
        assert_eq!(engine.backend(), backend, "the engine runs on the backend asked for");
        check(&engine);
    }
}

fn request(principal: (&str, &str), action: &str, resource: &str, context: Json) -> Json {
    common::req(principal, action, ("Doc", resource), context)
}

fn dana(action: &str, resource: &str, context: Json) -> Json {
    request(("User", "dana"), action, resource, context)
}

fn at(engine: &Engine, request: &Json, now: i64) -> Decision {
    engine.decide_at(&Request::from_json(request).expect("request parses"), now)
}

fn decide(engine: &Engine, request: &Json) -> Decision {
    at(engine, request, NOON)
}

fn rules(d: &Decision) -> Vec<&str> {
    d.reasons.iter().filter_map(|r| r.rule.as_deref()).collect()
}

fn assert_effect(d: &Decision, effect: Effect) {
    assert_eq!(d.effect, effect, "decision: {}", d.explain());
}

// ───────────────────────── §12.1, §12.2 ─────────────────────────

#[test]
fn nothing_is_allowed_unless_a_permit_applies() {
    on_both("policy p { permit action: send }", |e| {
        let d = decide(e, &dana("read", "d1", json!({})));
        assert_effect(&d, Effect::Deny);
        assert_eq!(d.reasons.len(), 1);
        assert_eq!(d.reasons[0].rule, None);
        assert!(d.reasons[0].clause.contains("default deny"), "{}", d.explain());
        assert!(d.errors.is_empty());
    });
    // A program without policies denies everything.
    on_both("", |e| assert_effect(&decide(e, &dana("read", "d1", json!({}))), Effect::Deny));
}

#[test]
fn any_applicable_forbid_beats_every_permit() {
    let policy = r#"
      policy p {
        @id("all") permit
        @id("reads") permit action in docs
        @id("no-vip") forbid action: read when resource.tier == vip
      }
    "#;
    on_both(policy, |e| {
        let d = decide(e, &dana("read", "d1", json!({})));
        assert_effect(&d, Effect::Deny);
        assert_eq!(rules(&d), ["p.no-vip"]);
        assert_eq!(d.reasons[0].clause, "when resource.tier == vip");
        let d = decide(e, &dana("read", "d2", json!({})));
        assert_effect(&d, Effect::Allow);
        assert_eq!(rules(&d), ["p.all", "p.reads"]);
    });
}

#[test]
fn approval_lifts_a_forbid_only_from_a_request_a_permit_allows() {
    let policy = r#"
      policy p {
        @id("needs-mfa")
        forbid action in docs unless context has mfa && context.mfa
          obligation require_approval(role: "lead", count: 2)
        @id("reads") permit action: read
      }
    "#;
    on_both(policy, |e| {
        // A permit applies and the forbid carries require_approval: approval_required.
        let d = decide(e, &dana("read", "d1", json!({})));
        assert_effect(&d, Effect::ApprovalRequired);
        assert!(rules(&d).contains(&"p.needs-mfa"), "{}", d.explain());
        let o = d.obligations.iter().find(|o| o.name == "require_approval").expect("approval obligation");
        assert_eq!(o.args["role"], "lead");
        assert_eq!(o.args["count"], "2");
        // With MFA the forbid does not apply.
        let d = decide(e, &dana("read", "d1", json!({"mfa": true})));
        assert_effect(&d, Effect::Allow);
        assert!(d.obligations.is_empty());
        // No permit covers `list`: the forbid's require_approval grants nothing.
        let d = decide(e, &dana("list", "d1", json!({})));
        assert_effect(&d, Effect::Deny);
        assert!(d.obligations.iter().all(|o| o.name != "require_approval"), "{}", d.explain());
    });
    // A hard forbid beats an approval forbid; permits that need approval give approval_required,
    // unless a permit without require_approval also applies.
    let policy = r#"
      policy p {
        @id("hard") forbid action: send when context.external
        @id("soft") forbid action: send obligation require_approval(role: "lead")
        @id("p-send") permit action: send
        @id("p-edit-approval") permit action: edit obligation require_approval(role: "owner")
        @id("p-read-approval") permit action: read obligation require_approval(role: "owner")
        @id("p-read") permit action: read when resource.tier == standard
      }
    "#;
    on_both(policy, |e| {
        let send = |external: bool| dana("send", "d1", json!({"to": "x", "body": "y", "external": external}));
        let d = decide(e, &send(true));
        assert_effect(&d, Effect::Deny);
        assert_eq!(rules(&d), ["p.hard"]);
        assert_effect(&decide(e, &send(false)), Effect::ApprovalRequired);
        let d = decide(e, &dana("edit", "d1", json!({"fields": []})));
        assert_effect(&d, Effect::ApprovalRequired);
        assert_eq!(rules(&d), ["p.p-edit-approval"]);
        assert_effect(&decide(e, &dana("read", "d1", json!({}))), Effect::ApprovalRequired);
        let d = decide(e, &dana("read", "d2", json!({})));
        assert_effect(&d, Effect::Allow);
        assert!(d.obligations.is_empty(), "an allow carries no approval: {}", d.explain());
    });
}

// ───────────────────────── §12.4 fail closed ─────────────────────────

#[test]
fn an_error_makes_a_forbid_apply_and_a_permit_not() {
    // `Doc::"ghost"` is not in the store: reading its attributes is an error.
    let policy = r#"
      policy p {
        @id("all") permit
        @id("no-vip") forbid action: read when resource.tier == vip
        @id("small") permit action: list when resource.size < 100
      }
    "#;
    on_both(policy, |e| {
        let d = decide(e, &dana("read", "ghost", json!({})));
        assert_effect(&d, Effect::Deny);
        assert_eq!(rules(&d), ["p.no-vip"]);
        assert!(d.reasons[0].clause.contains("could not be evaluated"), "{}", d.explain());
        assert_eq!(d.errors.len(), 1);
        assert_eq!(d.errors[0].rule.as_deref(), Some("p.no-vip"));
        assert!(
            d.errors[0].message.contains("`tier`") && d.errors[0].message.contains("Doc::\"ghost\""),
            "{:?}",
            d.errors
        );
    });
    let policy = r#"policy p { @id("small") permit action: list when resource.size < 100 }"#;
    on_both(policy, |e| {
        let d = decide(e, &dana("list", "ghost", json!({})));
        assert_effect(&d, Effect::Deny);
        assert!(d.reasons[0].clause.contains("default deny"));
        assert_eq!(d.errors.len(), 1);
        assert!(d.errors[0].message.contains("`size`"), "{:?}", d.errors);
    });
    // Integer overflow is an error too: `eve.budget` is i64::MAX.
    let policy = r#"
      policy p {
        @id("rich") permit principal: User, action: read when principal.budget + 1 > 0
        @id("broke") forbid principal: User, action: list when principal.budget + 1 < 0
        @id("lists") permit action: list
      }
    "#;
    on_both(policy, |e| {
        let eve = |a: &str| request(("User", "eve"), a, "d1", json!({}));
        let d = decide(e, &eve("read"));
        assert_effect(&d, Effect::Deny);
        assert!(d.errors[0].message.contains("overflow"), "{:?}", d.errors);
        let d = decide(e, &eve("list"));
        assert_effect(&d, Effect::Deny);
        assert_eq!(rules(&d), ["p.broke"]);
        // For dana the arithmetic is fine.
        assert_effect(&decide(e, &dana("read", "d1", json!({}))), Effect::Allow);
        assert_effect(&decide(e, &dana("list", "d1", json!({}))), Effect::Allow);
    });
}

// ───────────────────────── §6.4 `has` ─────────────────────────

#[test]
fn has_guards_optional_attributes() {
    let policy = r#"
      policy p {
        @id("notes") permit action: read when resource has notes && resource.notes like "*refund*"
        @id("label") permit action: list when resource has meta.hint || resource has meta
        @id("manager") forbid principal: User, action: list
          when principal has manager
          when principal.manager.level >= confidential
        @id("no-notes") permit action: edit unless !(resource has notes) || resource.notes.size() < 5
      }
    "#;
    on_both(policy, |e| {
        assert_effect(&decide(e, &dana("read", "d1", json!({}))), Effect::Allow);
        let d = decide(e, &dana("read", "d2", json!({})));
        assert_effect(&d, Effect::Deny);
        assert!(d.errors.is_empty(), "a guarded read is not an error: {:?}", d.errors);
        assert_effect(&decide(e, &dana("list", "d1", json!({}))), Effect::Allow);
        assert_effect(&decide(e, &dana("list", "d2", json!({}))), Effect::Deny);
        // eve's manager is dana (confidential): the forbid applies to eve, not to dana.
        let d = decide(e, &request(("User", "eve"), "list", "d1", json!({})));
        assert_effect(&d, Effect::Deny);
        assert_eq!(rules(&d), ["p.manager"]);
        assert_effect(&decide(e, &dana("edit", "d1", json!({"fields": []}))), Effect::Allow);
        assert_effect(&decide(e, &dana("edit", "d2", json!({"fields": []}))), Effect::Deny);
        // `context has`: optional context fields.
    });
    on_both(r#"policy p { permit when context has query && context.query == "x" }"#, |e| {
        assert_effect(&decide(e, &dana("read", "d1", json!({"query": "x"}))), Effect::Allow);
        assert_effect(&decide(e, &dana("read", "d1", json!({}))), Effect::Deny);
    });
}

// ───────────────────────── sets ─────────────────────────

#[test]
fn set_operations_and_set_literals() {
    let policy = r#"
      policy p {
        @id("contains") permit principal: User, action: read when principal.tags.contains("a")
        @id("all") permit principal: User, action: list
          when principal.tags.contains_all(["a", "b"]) && principal.tags.contains_any(["z", "b"])
        @id("fields") permit action: edit
          when context.fields.contains_any(["title", "body"]) && !context.fields.contains("owner")
          when context.fields.size() <= 2 && !context.fields.is_empty()
        @id("literal") permit action: send when ["x@acme.com", "y@acme.com"].contains(context.to)
        @id("roles") permit principal: User, action: pay
          when principal.roles.contains(Role::"admin") && principal.tags == ["b", "a"]
      }
    "#;
    on_both(policy, |e| {
        assert_effect(&decide(e, &dana("read", "d1", json!({}))), Effect::Allow);
        assert_effect(&decide(e, &request(("User", "eve"), "read", "d1", json!({}))), Effect::Deny);
        assert_effect(&decide(e, &dana("list", "d1", json!({}))), Effect::Allow);
        let edit = |fields: Json| dana("edit", "d1", json!({ "fields": fields }));
        assert_effect(&decide(e, &edit(json!(["title"]))), Effect::Allow);
        assert_effect(&decide(e, &edit(json!(["title", "owner"]))), Effect::Deny);
        assert_effect(&decide(e, &edit(json!(["title", "body", "x"]))), Effect::Deny);
        assert_effect(&decide(e, &edit(json!([]))), Effect::Deny);
        // Duplicates in the data make one element.
        assert_effect(&decide(e, &edit(json!(["body", "body"]))), Effect::Allow);
        let send = |to: &str| dana("send", "d1", json!({"to": to, "body": "", "external": false}));
        assert_effect(&decide(e, &send("y@acme.com")), Effect::Allow);
        assert_effect(&decide(e, &send("z@acme.com")), Effect::Deny);
        assert_effect(&decide(e, &dana("pay", "d1", json!({"amount": "1.0", "count": 1}))), Effect::Allow);
    });
}

#[test]
fn membership_in_sets_of_entities() {
    let policy = r#"
      policy p {
        @id("literal-set") permit action: read when principal in [Team::"eng", Role::"nobody"]
        @id("scope-set") permit principal in [Team::"nobody", Role::"admin"], action: list
        @id("attr-set") permit principal: User, action: edit when principal in principal.teams
        @id("computed-set") permit action: send
          when resource.owner has manager && resource.owner in [principal, resource.owner.manager]
      }
    "#;
    on_both(policy, |e| {
        // dana is in platform, in eng; and in superadmin, in admin.
        assert_effect(&decide(e, &dana("read", "d1", json!({}))), Effect::Allow);
        assert_effect(&decide(e, &request(("User", "eve"), "read", "d1", json!({}))), Effect::Deny);
        assert_effect(&decide(e, &dana("list", "d1", json!({}))), Effect::Allow);
        assert_effect(&decide(e, &request(("User", "eve"), "list", "d1", json!({}))), Effect::Deny);
        assert_effect(&decide(e, &dana("edit", "d1", json!({"fields": []}))), Effect::Allow);
        let send = json!({"to": "", "body": "", "external": false});
        // d2 is eve's and eve's manager is dana: `[dana, dana]` does not hold eve.
        assert_effect(&decide(e, &dana("send", "d2", send.clone())), Effect::Deny);
        // …but it holds eve when eve asks; d1's owner (dana) has no manager: the guard fails.
        assert_effect(&decide(e, &request(("User", "eve"), "send", "d2", send.clone())), Effect::Allow);
        assert_effect(&decide(e, &dana("send", "d1", send)), Effect::Deny);
    });
}

#[test]
fn records_compare_field_by_field() {
    let policy = r#"
      policy p {
        @id("label-only") permit action: read when resource has meta && resource.meta == { label: "x", hint: "h" }
        @id("not-x") permit action: list when resource has meta && { hint: "h", label: "x" } != resource.meta
        @id("field") permit action: edit when resource has meta && resource.meta.label == "x"
      }
    "#;
    let mut data = entities();
    data.as_array_mut().unwrap().push(json!({"uid": {"type": "Doc", "id": "d3"}, "attrs": {
        "owner": {"type": "User", "id": "dana"}, "tier": "vip", "level": "public", "size": 1, "ssn": "",
        "meta": {"label": "x", "hint": "h"}, "home": {"type": "Folder", "id": "root"}}}));
    on_both_with(policy, data, |e| {
        // d1's meta is `{ label: "x" }`, without a hint; d3's has both fields.
        let d = decide(e, &dana("read", "d1", json!({})));
        assert_effect(&d, Effect::Deny);
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        assert_effect(&decide(e, &dana("read", "d3", json!({}))), Effect::Allow);
        assert_effect(&decide(e, &dana("list", "d1", json!({}))), Effect::Allow);
        assert_effect(&decide(e, &dana("list", "d3", json!({}))), Effect::Deny);
        assert_effect(&decide(e, &dana("edit", "d1", json!({"fields": []}))), Effect::Allow);
    });
}

/// A set of records tested against a record literal (issue 17): the
/// checker accepts it, so it must evaluate, on both backends, whatever the
/// field order and whichever optional fields the literal leaves out.
#[test]
fn sets_of_records_hold_record_literals() {
    let src = r#"
      schema s {
        entity Org
        entity User { orgs: Set<{ org: Org, line: String }>, tags: Set<{ k: String, v?: Int }> }
        entity Doc
        action lit, attr, optional, any, all, nested, size by [User] on [Doc]
      }
      policy p {
        @id("lit") permit action: lit when [{a: 1}].contains({a: 1}) && !([{a: 1}].contains({a: 2}))
        @id("attr") permit action: attr when principal.orgs.contains({line: "tax", org: Org::"acme"})
        @id("optional") permit action: optional when principal.tags.contains({k: "x"}) && !principal.tags.contains({k: "y"})
        @id("any") permit action: any
          when principal.orgs.contains_any([{org: Org::"other", line: "x"}, {org: Org::"acme", line: "tax"}])
            && !principal.tags.contains_any([{k: "y", v: 1}])
        @id("all") permit action: all when [{a: 1, b: "s"}, {a: 2, b: "t"}].contains_all([{b: "t", a: 2}])
          && !([{a: 1, b: "s"}].contains_all([{a: 1, b: "s"}, {a: 3, b: "s"}]))
        @id("nested") permit action: nested when [{r: {a: 1}, s: [{b: 2}]}].contains({s: [{b: 2}], r: {a: 1}})
          && {a: [{b: 1}]} == {a: [{b: 1}]} && {a: 1} != {a: 2}
        @id("size") permit action: size when [{a: 1}, {a: 1}, {a: 2}].size() == 2
      }
    "#;
    let data = json!([
        {"uid": {"type": "Org", "id": "acme"}},
        {"uid": {"type": "User", "id": "ana"}, "attrs": {
            "orgs": [{"org": {"type": "Org", "id": "acme"}, "line": "tax"}],
            "tags": [{"k": "x"}, {"k": "y", "v": 2}]}},
        {"uid": {"type": "User", "id": "bob"}, "attrs": {
            "orgs": [{"org": {"type": "Org", "id": "acme"}, "line": "audit"}],
            "tags": [{"k": "x", "v": 1}, {"k": "y", "v": 1}]}},
        {"uid": {"type": "Doc", "id": "d"}},
    ]);
    for backend in [Backend::Interpreter, Backend::Jit] {
        let engine = common::engine_with(src, data.clone(), backend);
        let ask = |who: &str, action: &str| {
            let d = decide(&engine, &common::req(("User", who), action, ("Doc", "d"), json!({})));
            assert!(d.errors.is_empty(), "{backend:?} {who} {action}: {:?}", d.errors);
            d.effect
        };
        for action in ["lit", "attr", "optional", "any", "all", "nested", "size"] {
            assert_eq!(ask("ana", action), Effect::Allow, "{backend:?} ana {action}");
        }
        // bob's org is another line, his `x` tag has a value, and he holds `{k: "y", v: 1}`.
        for action in ["attr", "optional", "any"] {
            assert_eq!(ask("bob", action), Effect::Deny, "{backend:?} bob {action}");
        }
    }
}

// ───────────────────────── hierarchies ─────────────────────────

#[test]
fn hierarchy_membership_is_reflexive_and_transitive() {
    let policy = r#"
      policy p {
        @id("org") permit principal in Org::"acme", action: read
        @id("self") permit action: list when principal in User::"dana"
        @id("folder") permit action: edit when resource in Folder::"root" && resource.home in Folder::"root"
        @id("dynamic") permit action: send when principal in resource.owner || resource in resource.home
        @id("loop") permit action: pay when principal in Team::"loop2"
      }
    "#;
    on_both(policy, |e| {
        // dana → platform → eng → acme.
        let d = decide(e, &dana("read", "d1", json!({})));
        assert_effect(&d, Effect::Allow);
        assert_eq!(d.reasons[0].clause, "principal in Org::\"acme\"");
        assert_effect(&decide(e, &request(("User", "eve"), "read", "d1", json!({}))), Effect::Deny);
        // The bot is in platform too.
        assert_effect(&decide(e, &request(("Agent", "bot"), "read", "d1", json!({}))), Effect::Allow);
        assert_effect(&decide(e, &dana("list", "d1", json!({}))), Effect::Allow);
        assert_effect(&decide(e, &request(("User", "eve"), "list", "d1", json!({}))), Effect::Deny);
        // d1 → hr → root; root is in itself.
        assert_effect(&decide(e, &dana("edit", "d1", json!({"fields": []}))), Effect::Allow);
        assert_effect(&decide(e, &dana("edit", "d2", json!({"fields": []}))), Effect::Allow);
        let send = json!({"to": "", "body": "", "external": false});
        assert_effect(&decide(e, &dana("send", "d1", send.clone())), Effect::Allow);
        assert_effect(&decide(e, &request(("User", "eve"), "send", "d1", send)), Effect::Allow);
        // eve → loop1 → loop2: eve is in both. (A cycle is refused when the
        // entities are loaded: tests/strict_input.rs.)
        let pay = json!({"amount": "1.0", "count": 1});
        assert_effect(&decide(e, &request(("User", "eve"), "pay", "d1", pay.clone())), Effect::Allow);
        assert_effect(&decide(e, &dana("pay", "d1", pay)), Effect::Deny);
    });
    // An entity the store does not know is in nothing but itself.
    on_both(
        r#"policy p { permit principal in Team::"eng" permit action: list when principal in User::"nobody" }"#,
        |e| {
            assert_effect(&decide(e, &request(("User", "nobody"), "read", "d1", json!({}))), Effect::Deny);
            assert_effect(&decide(e, &request(("User", "nobody"), "list", "d1", json!({}))), Effect::Allow);
        },
    );
}

// ───────────────────────── ordered enums ─────────────────────────

#[test]
fn ordered_enums_compare_in_declaration_order() {
    let policy = r#"
      policy p {
        @id("clearance") permit principal: User, action: read when principal.level >= resource.level
        @id("internal") permit principal: User, action: list
          when internal < principal.level && principal.level <= Level::confidential
        @id("eu") permit principal: User, action: edit when principal.region == eu && resource.tier != Tier::vip
      }
    "#;
    on_both(policy, |e| {
        // dana: confidential; d1: internal, d2: restricted.
        assert_effect(&decide(e, &dana("read", "d1", json!({}))), Effect::Allow);
        assert_effect(&decide(e, &dana("read", "d2", json!({}))), Effect::Deny);
        assert_effect(&decide(e, &dana("list", "d1", json!({}))), Effect::Allow);
        assert_effect(&decide(e, &request(("User", "eve"), "list", "d1", json!({}))), Effect::Deny);
        assert_effect(&decide(e, &dana("edit", "d2", json!({"fields": []}))), Effect::Allow);
        assert_effect(&decide(e, &dana("edit", "d1", json!({"fields": []}))), Effect::Deny);
    });
}

// ───────────────────────── time ─────────────────────────

#[test]
fn time_arithmetic_and_comparisons() {
    let policy = r#"
      policy p {
        @id("recent") permit action: read when context has at && context.at > now - 1h
        @id("office") permit action: list when now.hour() >= 9 && now.hour() < 17 && now.weekday() <= 5
        @id("day") permit action: edit when now.date() == 2025-11-26 && now.date().weekday() == 3
        @id("window") permit action: send when context has at && now - context.at < 30m && context.at + 1d > now
        @id("before") permit action: pay when now < 2025-11-26T12:00:00.001Z && now >= time("2025-11-26T13:00:00+01:00")
      }
    "#;
    on_both(policy, |e| {
        let read = |t: &str| dana("read", "d1", json!({ "at": t }));
        assert_effect(&decide(e, &read("2025-11-26T11:30:00Z")), Effect::Allow);
        assert_effect(&decide(e, &read("2025-11-26T10:59:59Z")), Effect::Deny);
        // Times may also be given in milliseconds.
        assert_effect(&at(e, &dana("read", "d1", json!({"at": NOON - 1000})), NOON), Effect::Allow);
        // NOON is Wednesday 2025-11-26, 12:00 UTC.
        assert_effect(&decide(e, &dana("list", "d1", json!({}))), Effect::Allow);
        assert_effect(&at(e, &dana("list", "d1", json!({})), NOON + 6 * HOUR), Effect::Deny);
        assert_effect(&at(e, &dana("list", "d1", json!({})), NOON + 3 * 24 * HOUR), Effect::Deny);
        assert_effect(&decide(e, &dana("edit", "d1", json!({"fields": []}))), Effect::Allow);
        assert_effect(&at(e, &dana("edit", "d1", json!({"fields": []})), NOON + 12 * HOUR), Effect::Deny);
        let send = |t: &str| dana("send", "d1", json!({"to": "", "body": "", "external": false, "at": t}));
        assert_effect(&decide(e, &send("2025-11-26T11:45:00Z")), Effect::Allow);
        assert_effect(&decide(e, &send("2025-11-26T11:15:00Z")), Effect::Deny);
        let pay = dana("pay", "d1", json!({"amount": "1.0", "count": 1}));
        assert_effect(&decide(e, &pay), Effect::Allow);
        assert_effect(&at(e, &pay, NOON + 1), Effect::Deny);
    });
}

// ───────────────────────── IPs ─────────────────────────

#[test]
fn ip_addresses_and_ranges() {
    let policy = r#"
      policy p {
        @id("office") permit action: read when context has ip && context.ip in cidr("10.0.0.0/8")
        @id("private") permit action: list when context has ip && context.ip.is_private() && !context.ip.is_loopback()
        @id("v6") permit action: edit when context has ip && context.ip in cidr("2001:db8::/32") && context.ip.is_ipv6()
        @id("exact") permit action: pay when context has ip && context.ip == ip("192.168.1.1")
      }
    "#;
    on_both(policy, |e| {
        let with_ip = |a: &str, ip: &str| dana(a, "d1", json!({ "ip": ip, "fields": [], "amount": "1", "count": 1 }));
        // Unknown context fields for an action are refused; build requests per action.
        let read = |ip: &str| dana("read", "d1", json!({ "ip": ip }));
        assert_effect(&decide(e, &read("10.20.30.40")), Effect::Allow);
        assert_effect(&decide(e, &read("11.0.0.1")), Effect::Deny);
        assert_effect(&decide(e, &read("::ffff:10.0.0.1")), Effect::Deny);
        let list = |ip: &str| dana("list", "d1", json!({ "ip": ip }));
        assert_effect(&decide(e, &list("192.168.0.3")), Effect::Allow);
        assert_effect(&decide(e, &list("172.16.5.4")), Effect::Allow);
        assert_effect(&decide(e, &list("8.8.8.8")), Effect::Deny);
        assert_effect(&decide(e, &list("127.0.0.1")), Effect::Deny);
        assert_effect(&decide(e, &list("fd00::1")), Effect::Allow);
        let edit = |ip: &str| dana("edit", "d1", json!({ "ip": ip, "fields": [] }));
        assert_effect(&decide(e, &edit("2001:db8::42")), Effect::Allow);
        assert_effect(&decide(e, &edit("2001:db9::42")), Effect::Deny);
        let pay = |ip: &str| dana("pay", "d1", json!({ "ip": ip, "amount": "1", "count": 1 }));
        assert_effect(&decide(e, &pay("192.168.1.1")), Effect::Allow);
        assert_effect(&decide(e, &pay("192.168.1.2")), Effect::Deny);
        let _ = with_ip;
    });
}

// ───────────────────────── patterns ─────────────────────────

#[test]
fn globs_regexes_and_detectors() {
    let policy = r#"
      policy p {
        @id("glob") permit action: send when context.to like "*@acme.com" && !(context.to like "*.evil*")
        @id("regex") permit action: list when context has query && context.query matches "^[a-z]+-[0-9]{2}$"
        @id("email") forbid action: send when context.body matches pii.email
        @id("sql") forbid action: list when context has query && context.query matches inputs.sql_injection
        @id("order") permit action: read when resource has notes && resource.notes matches order_id
        @id("words") forbid action: send when context.body matches words
        @id("card") forbid action: send when context.body matches card
        @id("lower") permit principal: User, action: edit when principal has email when principal.email.lower() == "dana@acme.com"
      }
    "#;
    on_both(policy, |e| {
        let send = |to: &str, body: &str| dana("send", "d1", json!({"to": to, "body": body, "external": true}));
        assert_effect(&decide(e, &send("x@acme.com", "hello")), Effect::Allow);
        assert_effect(&decide(e, &send("x@acme.com.evil.org", "hello")), Effect::Deny);
        assert_effect(&decide(e, &send("x@other.com", "hello")), Effect::Deny);
        let d = decide(e, &send("x@acme.com", "write to bob@example.org"));
        assert_effect(&d, Effect::Deny);
        assert_eq!(rules(&d), ["p.email"]);
        assert_eq!(rules(&decide(e, &send("x@acme.com", "please WIRE THE FUNDS"))), ["p.words"]);
        // A card number must pass the Luhn check to count.
        assert_eq!(rules(&decide(e, &send("x@acme.com", "card 4111111111111111"))), ["p.card"]);
        assert_effect(&decide(e, &send("x@acme.com", "card 4111111111111112")), Effect::Allow);
        let list = |q: &str| dana("list", "d1", json!({ "query": q }));
        assert_effect(&decide(e, &list("abc-12")), Effect::Allow);
        assert_effect(&decide(e, &list("abc-123")), Effect::Deny);
        assert_effect(&decide(e, &list("abc' OR 1=1 --")), Effect::Deny);
        assert_effect(&decide(e, &dana("read", "d1", json!({}))), Effect::Allow);
        assert_effect(&decide(e, &dana("edit", "d1", json!({"fields": []}))), Effect::Allow);
    });
}

// ───────────────────────── §11 delegation ─────────────────────────

#[test]
fn delegation_allows_only_what_every_link_may_do() {
    let policy = r#"
      policy p {
        @id("agents-read") permit principal: Agent, action in docs when principal.scopes.contains("docs.read")
        @id("eu-users") permit principal: User, action: read when principal.region == eu
        @id("short-chains") forbid when chain.size() > 2
        @id("actor-team") forbid action: list unless actor in Team::"platform"
      }
    "#;
    on_both(policy, |e| {
        let bot = |action: &str, chain: Json| {
            let mut r = request(("Agent", "bot"), action, "d1", json!({}));
            r["on_behalf_of"] = chain;
            r
        };
        // For dana (eu) the bot may read.
        let d = decide(e, &bot("read", json!([{"type": "User", "id": "dana"}])));
        assert_effect(&d, Effect::Allow);
        // For eve (us) it may not; the reason names the link.
        let d = decide(e, &bot("read", json!([{"type": "User", "id": "eve"}])));
        assert_effect(&d, Effect::Deny);
        assert!(d.reasons.iter().all(|r| r.principal.as_deref() == Some("User::\"eve\"")), "{}", d.explain());
        assert!(d.reasons[0].clause.contains("default deny"));
        // Three links are too many.
        let chain = json!([{"type": "User", "id": "dana"}, {"type": "Agent", "id": "helper"}]);
        let d = decide(e, &bot("read", chain));
        assert_effect(&d, Effect::Deny);
        assert!(rules(&d).contains(&"p.short-chains"));
        // `actor` is the caller, whatever the link: the bot is in platform.
        let d = decide(e, &bot("list", json!([{"type": "User", "id": "dana"}])));
        assert_effect(&d, Effect::Deny);
        assert!(d.reasons.iter().any(|r| r.principal.as_deref() == Some("User::\"dana\"")), "{}", d.explain());
        assert!(!rules(&d).contains(&"p.actor-team"));
    });
}

#[test]
fn delegation_actor_permits_vouch_for_every_link() {
    let policy = r#"
      policy p {
        @id("bot-reads")
        @delegation("actor")
        permit principal == Agent::"bot", action: read
        @id("bot-lists")
        @delegation("actor")
        permit principal == Agent::"bot", action: list
          obligation require_approval(role: "owner")
        @id("no-restricted") forbid action in docs when resource.level == restricted && principal: User
      }
    "#;
    // (`principal: User` is not an expression; keep the forbid on the link.)
    let policy = policy.replace(" && principal: User", " && principal in User::\"eve\"");
    on_both(&policy, |e| {
        let bot = |action: &str, doc: &str, user: &str| {
            let mut r = request(("Agent", "bot"), action, doc, json!({}));
            r["on_behalf_of"] = json!([{"type": "User", "id": user}]);
            r
        };
        let d = decide(e, &bot("read", "d1", "eve"));
        assert_effect(&d, Effect::Allow);
        assert!(d.reasons.iter().any(|r| r.clause == "the caller's delegated permit"), "{}", d.explain());
        // Forbids are still evaluated per link.
        let d = decide(e, &bot("read", "d2", "eve"));
        assert_effect(&d, Effect::Deny);
        assert_eq!(rules(&d), ["p.no-restricted"]);
        assert_eq!(d.reasons[0].principal.as_deref(), Some("User::\"eve\""));
        // A delegated permit that needs approval gives the other links approval, not an allow.
        let d = decide(e, &bot("list", "d1", "eve"));
        assert_effect(&d, Effect::ApprovalRequired);
        assert!(d.obligations.iter().any(|o| o.name == "require_approval"));
        // Without a chain, the bot's own permit.
        assert_effect(&decide(e, &request(("Agent", "bot"), "read", "d1", json!({}))), Effect::Allow);
    });
}

// ───────────────────────── §5.5 shadow ─────────────────────────

#[test]
fn shadow_rules_are_reported_not_enforced() {
    let policy = r#"
      policy p {
        @id("all") permit
        @id("new-forbid") @shadow forbid action: read when resource.tier == vip
        @id("new-permit") @shadow permit action: pay
        @id("ghost") @shadow forbid action: list when resource.size > 0
      }
    "#;
    let policy = policy.replace("@id(\"all\") permit", "@id(\"all\") permit action in docs");
    on_both(&policy, |e| {
        let d = decide(e, &dana("read", "d1", json!({})));
        assert_effect(&d, Effect::Allow);
        assert_eq!(d.shadow.len(), 1);
        assert_eq!(d.shadow[0].rule, "p.new-forbid");
        assert_eq!(d.shadow[0].effect, "forbid");
        assert!(rules(&d) == ["p.all"]);
        let d = decide(e, &dana("pay", "d1", json!({"amount": "1", "count": 1})));
        assert_effect(&d, Effect::Deny);
        assert_eq!(d.shadow[0].rule, "p.new-permit");
        // A shadow forbid that errors is reported; the effect does not change.
        let d = decide(e, &dana("list", "ghost", json!({})));
        assert_effect(&d, Effect::Allow);
        assert_eq!(d.shadow[0].rule, "p.ghost");
        assert!(d.shadow[0].clause.contains("could not be evaluated"));
    });
}

// ───────────────────────── §4 lifecycle ─────────────────────────

#[test]
fn agents_past_their_lifecycle_are_denied() {
    let policy = r#"
      agent helper: Agent in [Team::"platform"] {
        owner User::"dana"
        created 2025-01-01
        expires 2025-12-31
        rotate credentials every 90d last 2025-10-01
        review every 365d
        attrs { scopes: ["docs.read"], clearance: internal }
      }
      policy p { permit principal in Team::"platform", action: read }
    "#;
    on_both(policy, |e| {
        let r = request(("Agent", "helper"), "read", "d1", json!({}));
        assert_effect(&decide(e, &r), Effect::Allow);
        // Rotation was due at 2025-12-30T00:00:00Z (2025-10-01 + 90d): overdue right after.
        assert_effect(&at(e, &r, 1_767_052_800_000), Effect::Allow);
        let d = at(e, &r, 1_767_052_800_001);
        assert_effect(&d, Effect::Deny);
        assert!(d.reasons[0].clause.contains("credential rotation"), "{}", d.explain());
        assert_eq!(d.reasons[0].principal.as_deref(), Some("Agent::\"helper\""));
        // Expired on 2026-01-01… here 2025-12-31 itself is the end.
        let d = at(e, &r, 1_767_139_200_000); // 2025-12-31T00:00:00Z
        assert_effect(&d, Effect::Deny);
        assert!(d.reasons[0].clause.contains("expired on 2025-12-31"), "{}", d.explain());
        // A link of a delegation chain is checked too.
        let mut r = request(("Agent", "bot"), "read", "d1", json!({}));
        r["on_behalf_of"] = json!([{"type": "Agent", "id": "helper"}]);
        assert_effect(&decide(e, &r), Effect::Allow);
        assert_effect(&at(e, &r, 1_767_139_200_000), Effect::Deny);
    });
}

// ───────────────────────── §9 rate limits ─────────────────────────

#[test]
fn rate_limits_count_allowed_requests_only() {
    let policy = r#"
      policy p {
        @id("all") permit action in docs
        @id("no-d2") forbid action: read when resource.tier == standard
        @id("reads") limit action: read to 2 per 1h per principal, resource
        @id("lists") limit action: list to 1 per 10m burst 1
      }
    "#;
    on_both(policy, |e| {
        let read = |doc: &str| dana("read", doc, json!({}));
        let d = decide(e, &read("d1"));
        assert_effect(&d, Effect::Allow);
        assert_eq!(d.limits.len(), 1);
        assert_eq!(d.limits[0].rule, "p.reads");
        assert_eq!(d.limits[0].key, "User::\"dana\"/Doc::\"d1\"");
        assert_eq!(d.limits[0].remaining, 1);
        // Denied by a forbid: the limit is not even consulted, nothing is consumed.
        for _ in 0..5 {
            let d = decide(e, &read("d2"));
            assert_effect(&d, Effect::Deny);
            assert!(d.limits.is_empty());
        }
        let d = decide(e, &read("d1"));
        assert_effect(&d, Effect::Allow);
        assert_eq!(d.limits[0].remaining, 0);
        let d = decide(e, &read("d1"));
        assert_effect(&d, Effect::Deny);
        assert_eq!(rules(&d), ["p.all", "p.reads"]);
        let retry = d.limits[0].retry_after_ms.expect("retry-after");
        assert!(retry > 0 && retry <= HOUR, "{retry}");
        // Refused requests do not use the budget: after the retry-after, one more is allowed.
        assert_effect(&at(e, &read("d1"), NOON + retry - 1), Effect::Deny);
        assert_effect(&at(e, &read("d1"), NOON + retry), Effect::Allow);
        // Other keys have their own budget.
        assert_effect(&decide(e, &request(("User", "eve"), "read", "d1", json!({}))), Effect::Allow);
        let list = dana("list", "d1", json!({}));
        assert_effect(&decide(e, &list), Effect::Allow);
        let d = decide(e, &list);
        assert_effect(&d, Effect::Deny);
        assert_eq!(d.limits[0].retry_after_ms, Some(10 * 60_000));
    });
}

#[test]
fn a_rate_limit_whose_key_cannot_be_computed_fails_closed_unless_open() {
    let policy = r#"
      policy p {
        @id("all") permit action in docs
        @id("ssn") mask resource.ssn with redact
        @id("by-region") limit principal: User, action: read to 5 per 1h per principal.region
        @id("by-level") limit principal: User, action: list to 5 per 1h per principal.level fail open
      }
    "#;
    on_both(policy, |e| {
        // `User::"ghost"` is not in the store: it has no region.
        let d = decide(e, &request(("User", "ghost"), "read", "d1", json!({})));
        assert_effect(&d, Effect::Deny);
        assert_eq!(rules(&d), ["p.all", "p.by-region"]);
        assert!(d.errors.iter().any(|x| x.message.contains("rate-limit key") && x.message.contains("`region`")));
        assert!(d.masks.is_empty(), "a deny carries no masks: {}", d.explain());
        let d = decide(e, &request(("User", "ghost"), "list", "d1", json!({})));
        assert_effect(&d, Effect::Allow);
        assert_eq!(d.masks.len(), 1);
        assert!(d.errors.iter().any(|x| x.rule.as_deref() == Some("p.by-level")));
        let d = decide(e, &dana("read", "d1", json!({})));
        assert_effect(&d, Effect::Allow);
        assert_eq!(d.limits[0].key, "eu");
    });
}

#[test]
fn rate_limits_keyed_by_ip_count_each_address_apart() {
    let policy = r#"
      policy p {
        @id("all") permit action in docs
        @id("per-ip") limit action: read to 1 per 1h per context.ip when context has ip
      }
    "#;
    on_both(policy, |e| {
        let from = |ip: &str| dana("read", "d1", json!({ "ip": ip }));
        let d = decide(e, &from("10.0.0.1"));
        assert_effect(&d, Effect::Allow);
        assert_eq!(d.limits[0].key, "10.0.0.1");
        assert_effect(&decide(e, &from("10.0.0.2")), Effect::Allow);
        assert_effect(&decide(e, &from("10.0.0.1")), Effect::Deny);
        assert_effect(&decide(e, &from("10.0.0.2")), Effect::Deny);
        assert_effect(&decide(e, &from("::1")), Effect::Allow);
    });
}

// ───────────────────────── §10 flow rules ─────────────────────────

#[test]
fn flow_rules_look_at_allowed_history_within_the_window() {
    let policy = r#"
      policy p {
        @id("all") permit action in [docs, send]
        @id("no-vip-mail")
        forbid action: send
          when context.external && previously within 1h action: read where resource.tier == vip
        @id("bulk")
        forbid action: list when count(within 10m by principal action in docs) >= 3
        @id("blocked") forbid action: read when resource.size == 0
      }
    "#;
    on_both(policy, |e| {
        let send = |external: bool| dana("send", "d2", json!({"to": "x", "body": "y", "external": external}));
        let read = |doc: &str| dana("read", doc, json!({}));
        assert_effect(&at(e, &send(true), NOON), Effect::Allow);
        // A denied read of a VIP record would not count; d2 is not VIP and its read is denied anyway.
        assert_effect(&at(e, &read("d2"), NOON + 1000), Effect::Deny);
        assert_effect(&at(e, &send(true), NOON + 2000), Effect::Allow);
        assert_effect(&at(e, &read("d1"), NOON + 3000), Effect::Allow);
        let d = at(e, &send(true), NOON + 4000);
        assert_effect(&d, Effect::Deny);
        assert_eq!(rules(&d), ["p.no-vip-mail"]);
        assert_effect(&at(e, &send(false), NOON + 5000), Effect::Allow);
        // After the window, the VIP read no longer counts.
        assert_effect(&at(e, &send(true), NOON + 3000 + HOUR + 1), Effect::Allow);
        // Counting: one read so far by dana in docs (t = 3000) … add two lists.
        let list = dana("list", "d1", json!({}));
        let base = NOON + 2 * HOUR;
        assert_effect(&at(e, &read("d1"), base), Effect::Allow);
        assert_effect(&at(e, &list, base + 1), Effect::Allow);
        assert_effect(&at(e, &list, base + 2), Effect::Allow);
        assert_effect(&at(e, &list, base + 3), Effect::Deny);
        assert_effect(&at(e, &list, base + 10 * 60_000 + 3), Effect::Allow);
    });
}

#[test]
fn an_unrecorded_allow_enters_flow_history_only_when_recorded() {
    let policy = r#"
      policy p {
        @id("all") permit action in [docs, send]
        @id("no-vip-mail")
        forbid action: send
          when context.external && previously within 1h action: read where resource.tier == vip
      }
    "#;
    on_both(policy, |e| {
        let send = Request::from_json(&dana("send", "d2", json!({"to": "x", "body": "y", "external": true}))).unwrap();
        let read = Request::from_json(&dana("read", "d1", json!({}))).unwrap();
        // Decided, not carried out (the tool failed): no history.
        assert_effect(&e.check_unrecorded_at(&read, NOON).decision(), Effect::Allow);
        assert_effect(&e.decide_at(&send, NOON + 1000), Effect::Allow);
        // Carried out, then recorded: the VIP read now counts.
        assert_effect(&e.check_unrecorded_at(&read, NOON + 2000).decision(), Effect::Allow);
        assert!(e.record_at(&read, NOON + 2000).is_empty());
        let d = e.decide_at(&send, NOON + 3000);
        assert_effect(&d, Effect::Deny);
        assert_eq!(rules(&d), ["p.no-vip-mail"]);
        // A request that does not fit the schema is not recorded, and says why.
        let bad = Request::from_json(&dana("nope", "d1", json!({}))).unwrap();
        assert_eq!(e.record_at(&bad, NOON).len(), 1);
    });
}

#[test]
fn flow_rules_correlate_by_value_not_by_handle() {
    let policy = r#"
      policy p {
        @id("all") permit action in docs
        @id("same-edit") forbid action: edit
          when previously within 1h action: edit where context.fields == current.context.fields
        @id("all-connect") permit action: connect
        @id("same-ip") forbid action: connect
          when previously within 1h action: connect where context.from == current.context.from
      }
    "#;
    on_both(policy, |e| {
        let edit = |fields: Json| dana("edit", "d1", json!({ "fields": fields }));
        assert_effect(&at(e, &edit(json!(["title"])), NOON), Effect::Allow);
        // Another set: not the same edit.
        assert_effect(&at(e, &edit(json!(["body"])), NOON + 1), Effect::Allow);
        assert_effect(&at(e, &edit(json!(["body", "title"])), NOON + 2), Effect::Allow);
        // The same set, in any order.
        assert_effect(&at(e, &edit(json!(["title", "body"])), NOON + 3), Effect::Deny);
        assert_effect(&at(e, &edit(json!(["title"])), NOON + 4), Effect::Deny);
        let connect = |ip: &str| dana("connect", "d1", json!({ "from": ip }));
        assert_effect(&at(e, &connect("10.0.0.1"), NOON), Effect::Allow);
        assert_effect(&at(e, &connect("10.0.0.2"), NOON + 1), Effect::Allow);
        assert_effect(&at(e, &connect("10.0.0.1"), NOON + 2), Effect::Deny);
    });
}

// ───────────────────────── §8 masks ─────────────────────────

#[test]
fn masks_are_reported_on_allow_and_approval_only() {
    let policy = r#"
      policy p {
        @id("all") permit action in docs
        @id("approval") forbid action: list obligation require_approval(role: "owner")
        @id("no-d2") forbid action: edit when resource.tier == standard
        @id("ssn") mask resource.ssn with partial(last: 4)
        @id("notes") mask resource.notes, text with pii.email, order_id using tokenize(key: "k") on action in docs
        @id("vip") mask resource.ssn with redact on resource: Doc when resource.tier == vip
        @id("broken") mask resource.meta.label with drop when resource.size > 5
      }
    "#;
    on_both(policy, |e| {
        let d = decide(e, &dana("read", "d1", json!({})));
        assert_effect(&d, Effect::Allow);
        let masks: Vec<&str> = d.masks.iter().map(|m| m.rule.as_str()).collect();
        assert_eq!(masks, ["p.ssn", "p.notes", "p.vip", "p.broken"]);
        assert_eq!(d.masks[0].method, MaskMethod::Partial { first: 0, last: 4 });
        assert_eq!(d.masks[1].detectors, ["pii.email", "order_id"]);
        assert_eq!(d.masks[1].method, MaskMethod::Tokenize { key: "k".into() });
        assert_eq!(d.masks[1].paths, ["resource.notes", "text"]);
        let d = decide(e, &dana("read", "d2", json!({})));
        assert_eq!(d.masks.iter().map(|m| m.rule.as_str()).collect::<Vec<_>>(), ["p.ssn", "p.notes"]);
        // approval_required carries masks; deny does not.
        let d = decide(e, &dana("list", "d1", json!({})));
        assert_effect(&d, Effect::ApprovalRequired);
        assert_eq!(d.masks.len(), 4);
        let d = decide(e, &dana("edit", "d2", json!({"fields": []})));
        assert_effect(&d, Effect::Deny);
        assert!(d.masks.is_empty());
        // A mask whose condition cannot be evaluated is applied, and the error reported.
        let d = decide(e, &dana("read", "ghost", json!({})));
        assert_effect(&d, Effect::Allow);
        assert!(d.masks.iter().any(|m| m.rule == "p.broken"), "{}", d.explain());
        assert!(d.masks.iter().any(|m| m.rule == "p.vip"), "{}", d.explain());
        assert!(d.errors.iter().any(|x| x.rule.as_deref() == Some("p.broken")), "{:?}", d.errors);
    });
}

// ───────────────────────── actions that are groups ─────────────────────────

/// An action declared with `by`/`on` may also be a group (`read in [triage]`,
/// `triage in [write]`, as Cedar allows): `action: triage` is that action
/// only, `action in triage` it and every action in it; a bare group
/// (`action support`) stays a name for a set and cannot be requested.
#[test]
fn an_action_can_also_be_a_group() {
    let src = r#"
schema tickets {
  entity Agent
  entity Ticket
  action write by [Agent] on [Ticket]
  action triage in [write] by [Agent] on [Ticket]
  action read in [triage] by [Agent] on [Ticket]
  action support
  action comment in [support] by [Agent] on [Ticket]
}

policy desk {
  @id("triagers")
  permit action in triage
  @id("exactly-write")
  permit action: write
  @id("no-writes")
  forbid action: write
}
"#;
    let data = json!([
        {"uid": {"type": "Agent", "id": "a"}},
        {"uid": {"type": "Ticket", "id": "t"}},
        // Cedar's action entities: a parent may be an action that is also a group.
        {"uid": {"type": "Action", "id": "read"}, "parents": [{"type": "Action", "id": "triage"}]},
        {"uid": {"type": "Action", "id": "triage"}, "parents": [{"type": "Action", "id": "write"}]},
    ]);
    for backend in [Backend::Interpreter, Backend::Jit] {
        let engine = common::engine_with(src, data.clone(), backend);
        let ask = |action: &str| common::req(("Agent", "a"), action, ("Ticket", "t"), json!({}));
        for action in ["read", "triage"] {
            let d = common::decide(&engine, ask(action));
            assert_effect(&d, Effect::Allow);
            assert_eq!(rules(&d), ["desk.triagers"], "{action}: {}", d.explain());
        }
        let d = common::decide(&engine, ask("write"));
        assert_effect(&d, Effect::Deny);
        assert_eq!(rules(&d), ["desk.no-writes"], "{}", d.explain());
        assert_effect(&common::decide(&engine, ask("comment")), Effect::Deny);
        let refused = Request::from_json(&ask("support")).ok().map(|r| engine.decide(&r));
        let d = refused.expect("the request parses; the engine refuses the group");
        assert_effect(&d, Effect::Deny);
        assert!(d.explain().contains("is a group of actions"), "{}", d.explain());
    }
}

// ───────────────────────── §10.1 result flows ─────────────────────────

const RESULT_SCHEMA: &str = r#"
schema crm {
  entity Agent
  entity Customer
  entity Mailbox
  entity Account
  enum Tier { standard, vip }
  action read_customer by [Agent] on [Customer] returns { tier: Tier, name: String, tags?: Set<String> }
  action fetch_invoice by [Agent] on [Customer] returns { account: Account, amount: Decimal }
  action pay by [Agent] on [Account] with { amount: Decimal }
  action send_email by [Agent] on [Mailbox] with { external: Bool }
}
"#;

fn result_engines(policy: &str, check: impl Fn(&Engine)) {
    let src = format!("{RESULT_SCHEMA}\n{policy}");
    for backend in [Backend::Interpreter, Backend::Jit] {
        check(&common::engine_with(&src, json!([]), backend));
    }
}

fn crm(action: &str, resource: (&str, &str), context: Json) -> Request {
    let mut r = Request::from_json(&common::req(("Agent", "bot"), action, resource, context)).unwrap();
    r.session = Some("s1".into());
    r
}

const VIP_POLICY: &str = r#"
  policy p {
    @id("all") permit
    @id("no-vip-mail")
    forbid action: send_email
      when context.external && previously within 1h action: read_customer where response.tier == Tier::vip
  }
"#;

#[test]
fn a_result_flow_records_what_the_result_says_not_the_decision() {
    use ward_runtime::ActionResult;
    result_engines(VIP_POLICY, |e| {
        let read = crm("read_customer", ("Customer", "c-17"), json!({}));
        let send = crm("send_email", ("Mailbox", "out"), json!({"external": true}));
        // The decision alone records nothing: the fact is in the result.
        assert_effect(&e.decide_at(&read, NOON), Effect::Allow);
        assert_effect(&e.decide_at(&send, NOON + 1), Effect::Allow);
        // A standard customer: no fact (fields the type does not declare are ignored).
        let standard = json!({"tier": "standard", "name": "Bob", "phone": "555"});
        let r = e.record_result_at(&read, ActionResult::Json(&standard), NOON + 2);
        assert!(r.facts.is_empty() && r.unreadable.is_empty() && r.errors.is_empty(), "{r:?}");
        assert_effect(&e.decide_at(&send, NOON + 3), Effect::Allow);
        // A VIP: the fact is recorded by name, and the external mail is denied.
        let vip = json!({"tier": "vip", "name": "Ann", "tags": ["gold"]});
        let r = e.record_result_at(&read, ActionResult::Json(&vip), NOON + 4);
        assert_eq!(r.facts, ["p.no-vip-mail/previously"]);
        let d = e.decide_at(&send, NOON + 5);
        assert_effect(&d, Effect::Deny);
        assert_eq!(rules(&d), ["p.no-vip-mail"]);
        // Another session never saw it; after the window, neither does this one.
        let mut other = send.clone();
        other.session = Some("s2".into());
        assert_effect(&e.decide_at(&other, NOON + 6), Effect::Allow);
        assert_effect(&e.decide_at(&send, NOON + 4 + HOUR + 1), Effect::Allow);
        // Only the result flows of the request's action: a send's result records nothing.
        let r = e.record_result_at(&send, ActionResult::Json(&json!({})), NOON);
        assert_eq!(r, ward_runtime::ResultRecord::default());
    });
}

#[test]
fn a_result_that_cannot_be_read_makes_the_flow_unknown_for_its_window() {
    use ward_runtime::ActionResult;
    let policy = r#"
      policy p {
        @id("all") permit action in [read_customer, fetch_invoice, pay]
        @id("no-vip-mail")
        forbid action: send_email
          when context.external && previously within 1h action: read_customer where response.tier == Tier::vip
        @id("mail-unless-vip")
        permit action: send_email
          unless previously within 1h action: read_customer where response.tier == Tier::vip
      }
    "#;
    result_engines(policy, |e| {
        let read = crm("read_customer", ("Customer", "c-17"), json!({}));
        let external = crm("send_email", ("Mailbox", "out"), json!({"external": true}));
        let internal = crm("send_email", ("Mailbox", "out"), json!({"external": false}));
        assert_effect(&e.decide_at(&internal, NOON), Effect::Allow);
        for (i, bad) in [
            json!({"tier": "platinum", "name": "Ann"}),
            json!({"name": "Ann"}),
            json!({"tier": 3, "name": "Ann"}),
            json!("vip"),
        ]
        .iter()
        .enumerate()
        {
            let t = NOON + (i as i64) * 2 * HOUR;
            let r = e.record_result_at(&read, ActionResult::Json(bad), t);
            assert!(r.facts.is_empty(), "{r:?}");
            assert_eq!(r.unreadable.len(), 2, "both flows are marked: {r:?}");
            assert!(r.unreadable[0].1.starts_with("response"), "the error names the place: {r:?}");
            // The forbid applies (an error), the permit does not: denied either way.
            let d = e.decide_at(&external, t + 1);
            assert_effect(&d, Effect::Deny);
            assert!(d.errors.iter().any(|x| x.message.contains("could not be read")), "{}", d.explain());
            assert_effect(&e.decide_at(&internal, t + 1), Effect::Deny);
            // The mark lasts the flow's window, like a fact.
            assert_effect(&e.decide_at(&internal, t + HOUR + 1), Effect::Allow);
        }
        // A result that is no JSON at all, as the enforcement point reports it.
        let r = e.record_result_at(&read, ActionResult::Unreadable("the tool returned an image"), NOON + 20 * HOUR);
        assert_eq!(r.unreadable[0].1, "the tool returned an image");
        assert_effect(&e.decide_at(&internal, NOON + 20 * HOUR + 1), Effect::Deny);
        // A request that does not fit the policy set records nothing and says why.
        let bad = crm("nope", ("Customer", "c-17"), json!({}));
        assert_eq!(e.record_result_at(&bad, ActionResult::Json(&json!({})), NOON).errors.len(), 1);
    });
}

#[test]
fn sum_reads_results_and_correlates_by_their_values() {
    use ward_runtime::ActionResult;
    let policy = r#"
      policy p {
        @id("all") permit
        @id("cap")
        forbid action: pay
          when sum(response.amount, within 24h by principal action: fetch_invoice where response.account == current.resource)
               + context.amount > 100.00
      }
    "#;
    result_engines(policy, |e| {
        let fetch = crm("fetch_invoice", ("Customer", "c-1"), json!({}));
        let invoice = |account: &str, amount: &str| json!({"account": {"type": "Account", "id": account}, "amount": amount, "memo": "ignored"});
        for (account, amount) in [("a1", "60.00"), ("a2", "90.00"), ("a1", "30.00")] {
            let r = e.record_result_at(&fetch, ActionResult::Json(&invoice(account, amount)), NOON);
            assert_eq!(r.facts, ["p.cap/sum"], "{r:?}");
        }
        let pay = |account: &str, amount: &str| crm("pay", ("Account", account), json!({ "amount": amount }));
        // a1: 60 + 30 already fetched.
        assert_effect(&e.decide_at(&pay("a1", "10.00"), NOON + 1), Effect::Allow);
        assert_effect(&e.decide_at(&pay("a1", "10.01"), NOON + 1), Effect::Deny);
        // a2: 90.
        assert_effect(&e.decide_at(&pay("a2", "10.01"), NOON + 1), Effect::Deny);
        assert_effect(&e.decide_at(&pay("a3", "100.00"), NOON + 1), Effect::Allow);
    });
}
