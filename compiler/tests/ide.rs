//! The IDE layer: hover, navigation, rename, completion, outline, fixes and
//! highlighting over a small project. Completion lists and hovers are golden
//! (`tests/snapshots/ide__*.snap`; review with `cargo insta review`, or
//! `INSTA_UPDATE=always cargo test` and `git diff`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::fmt::Write as _;

use ward_compiler::ide::{self, CompletionKind, Symbol};
use ward_compiler::{FileId, Options, Origin, Workspace};
use ward_grammar::lines::line_col;

const SCHEMA: &str = r#"/// The shop's schema.
schema shop {
  /// A person on staff.
  entity User in [Team] { region: Region, roles: Set<String>, manager?: User }
  entity Team
  /// An AI agent; `owner` is the accountable human.
  entity Agent { owner: User, clearance: Level, scopes: Set<String> }
  /// One customer record.
  entity Customer {
    /// Where the customer's data must stay.
    region: Region,
    tier: Tier,
    email: String,
    /// Only for US customers.
    ssn?: String,
    joined: Date,
  }
  /// Data-residency regions.
  enum Region { eu, us }
  enum Tier { standard, vip }
  enum Level ordered { public, internal, secret }
  action read, update by [Agent] on [Customer]
  /// Sends mail to a customer.
  action send_email by [Agent] on [Customer] with { to: String, external: Bool }
  context { @verified mfa: Bool, reason?: String }
}
"#;

const POLICY: &str = r#"import stdlib.pii

/// The support bot.
agent bot: Agent {
  owner User::"dana"
  attrs { clearance: internal, scopes: ["crm"] }
}

policy support {
  /// Agents read customers of their owner's region.
  @id("read-own-region")
  @reason("Residency")
  permit principal: Agent, action: read, resource: Customer
    when resource.region == principal.owner.region && resource.tier == vip

  forbid action: send_email
    when context.external && context.to matches pii.email

  mask resource.email with pii.email using redact
}
"#;

const TESTS: &str = r#"fixture people {
  entity User::"dana" { region: eu, roles: [] }
}

test "reads" {
  using people
  request { principal: bot, action: read, resource: Customer::"c1", context: { mfa: true } }
  expect allow by "support.read-own-region"
}
"#;

struct Project {
    ws: Workspace,
    schema: FileId,
    policy: FileId,
    tests: FileId,
}

fn project() -> Project {
    let mut ws = Workspace::new(Options::default());
    ws.add_stdlib();
    let schema = ws.add_file("schema.ward", SCHEMA, Origin::User);
    let policy = ws.add_file("policy.ward", POLICY, Origin::User);
    let tests = ws.add_file("tests.ward", TESTS, Origin::User);
    Project { ws, schema, policy, tests }
}

/// The offset of `inner` within the `nth` occurrence of `context` in `text`.
fn at(text: &str, context: &str, inner: &str) -> u32 {
    let start = text.find(context).unwrap_or_else(|| panic!("no `{context}`"));
    let within = context.find(inner).unwrap_or_else(|| panic!("no `{inner}` in `{context}`"));
    (start + within) as u32
}

fn show_span(ws: &Workspace, fs: &ide::FileSpan) -> String {
    let text = ws.text(fs.file).unwrap();
    format!(
        "{} {} `{}`",
        ws.path(fs.file).unwrap(),
        line_col(text, fs.span.start),
        &text[fs.span.start as usize..fs.span.end as usize]
    )
}

#[test]
fn hovers() {
    let p = project();
    let cases: &[(FileId, &str, &str, &str)] = &[
        (p.policy, POLICY, "resource.region ==", "region"),
        (p.policy, POLICY, "resource.region ==", "resource"),
        (p.policy, POLICY, "principal.owner.region", "owner"),
        (p.policy, POLICY, "resource.tier == vip", "vip"),
        (p.policy, POLICY, "action: read,", "read"),
        (p.policy, POLICY, "resource: Customer", "Customer"),
        (p.policy, POLICY, "permit principal", "permit"),
        (p.policy, POLICY, "context.external &&", "external"),
        (p.policy, POLICY, "matches pii.email", "email"),
        (p.policy, POLICY, "mask resource.email", "email"),
        (p.policy, POLICY, "agent bot", "bot"),
        (p.policy, POLICY, "clearance: internal", "clearance"),
        (p.tests, TESTS, "principal: bot", "bot"),
        (p.tests, TESTS, "by \"support.read-own-region\"", "support.read"),
        (p.tests, TESTS, "using people", "people"),
        (p.tests, TESTS, "{ mfa: true }", "mfa"),
        (p.schema, SCHEMA, "ssn?: String", "ssn"),
        (p.schema, SCHEMA, "action send_email", "send_email"),
        (p.schema, SCHEMA, "enum Level", "Level"),
        (p.schema, SCHEMA, "clearance: Level", "Level"),
    ];
    let mut out = String::new();
    for (file, text, context, inner) in cases {
        let offset = at(text, context, inner);
        let hover = ide::hover(&p.ws, *file, offset);
        let shown = match hover {
            Some(h) => format!("{} `{}`\n{}", line_col(text, h.span.start), &text[h.span.range()], h.markdown),
            None => "(none)".to_string(),
        };
        writeln!(out, "── {inner} in `{context}`\n{shown}\n").unwrap();
    }
    insta::assert_snapshot!(out);
}

#[test]
fn definitions_and_references() {
    let p = project();
    let ws = &p.ws;
    // An attribute: defined in the schema, used in the policy and a fixture.
    let defs = ide::goto_definition(ws, p.policy, at(POLICY, "resource.region ==", "region"));
    assert_eq!(defs.iter().map(|d| show_span(ws, d)).collect::<Vec<_>>(), ["schema.ward 11:5 `region`"]);
    let refs = ide::find_references(ws, p.schema, at(SCHEMA, "    region: Region", "region"), true);
    let shown: Vec<String> = refs.iter().map(|r| show_span(ws, r)).collect();
    assert_eq!(shown, ["schema.ward 11:5 `region`", "policy.ward 14:19 `region`"], "{shown:#?}");
    // An enum value: `vip` in the policy goes to the enum.
    let defs = ide::goto_definition(ws, p.policy, at(POLICY, "== vip", "vip"));
    assert_eq!(defs.iter().map(|d| show_span(ws, d)).collect::<Vec<_>>(), ["schema.ward 20:25 `vip`"]);
    // A value used in a fixture and an agent.
    let refs = ide::find_references(ws, p.schema, at(SCHEMA, "Region { eu", "eu"), false);
    assert_eq!(refs.iter().map(|r| show_span(ws, r)).collect::<Vec<_>>(), ["tests.ward 2:33 `eu`"]);
    // A rule: the test's `by` goes to the `@id`.
    let defs = ide::goto_definition(ws, p.tests, at(TESTS, "support.read-own-region", "read"));
    assert_eq!(defs.iter().map(|d| show_span(ws, d)).collect::<Vec<_>>(), ["policy.ward 11:7 `\"read-own-region\"`"]);
    let refs = ide::find_references(ws, p.policy, at(POLICY, "permit principal", "permit"), false);
    assert_eq!(
        refs.iter().map(|r| show_span(ws, r)).collect::<Vec<_>>(),
        ["tests.ward 8:19 `\"support.read-own-region\"`"]
    );
    // A stdlib detector: its definition is in the stdlib module.
    let defs = ide::goto_definition(ws, p.policy, at(POLICY, "matches pii.email", "email"));
    assert_eq!(defs.len(), 1);
    assert!(ws.path(defs[0].file).unwrap().starts_with("<stdlib>/pii.ward"));
    // An agent named in a test request.
    let defs = ide::goto_definition(ws, p.tests, at(TESTS, "principal: bot", "bot"));
    assert_eq!(defs.iter().map(|d| show_span(ws, d)).collect::<Vec<_>>(), ["policy.ward 4:7 `bot`"]);
    // An action from a scope and from a test.
    let refs = ide::find_references(ws, p.schema, at(SCHEMA, "action read,", "read"), true);
    let shown: Vec<String> = refs.iter().map(|r| show_span(ws, r)).collect();
    assert_eq!(shown, ["schema.ward 22:10 `read`", "policy.ward 13:36 `read`", "tests.ward 7:37 `read`"]);
    // Entity types: in the schema, scopes, agents, literals.
    let refs = ide::find_references(ws, p.schema, at(SCHEMA, "entity User", "User"), false);
    assert_eq!(refs.len(), 4, "{:#?}", refs.iter().map(|r| show_span(ws, r)).collect::<Vec<_>>());
    // Context fields, from a rule and from a test's context.
    let refs = ide::find_references(ws, p.schema, at(SCHEMA, "context { @verified mfa", "mfa"), false);
    assert_eq!(refs.iter().map(|r| show_span(ws, r)).collect::<Vec<_>>(), ["tests.ward 7:80 `mfa`"]);
}

#[test]
fn rename() {
    let p = project();
    let ws = &p.ws;
    let edits = ide::rename(ws, p.policy, at(POLICY, "resource.tier", "tier"), "level").unwrap();
    let shown: Vec<String> = edits
        .iter()
        .map(|e| format!("{} -> {}", show_span(ws, &ide::FileSpan { file: e.file, span: e.span }), e.text))
        .collect();
    assert_eq!(shown, ["schema.ward 12:5 `tier` -> level", "policy.ward 14:64 `tier` -> level"]);
    // Refused: a clash, a keyword, a rule, a stdlib name.
    assert!(ide::rename(ws, p.schema, at(SCHEMA, "enum Tier", "Tier"), "Region").is_err());
    assert!(ide::rename(ws, p.schema, at(SCHEMA, "enum Tier", "Tier"), "policy").is_err());
    assert!(ide::rename(ws, p.schema, at(SCHEMA, "enum Tier", "Tier"), "Grade").is_ok());
    assert!(ide::rename(ws, p.schema, at(SCHEMA, "Region { eu", "eu"), "vip").is_err());
    assert!(ide::prepare_rename(ws, p.policy, at(POLICY, "permit principal", "permit")).is_err());
    assert!(ide::prepare_rename(ws, p.policy, at(POLICY, "matches pii.email", "email")).is_err());
    // An agent: declared in the policy, used in a test.
    let edits = ide::rename(ws, p.tests, at(TESTS, "principal: bot", "bot"), "helper").unwrap();
    assert_eq!(edits.len(), 2);
}

fn completion_list(text_with_cursor: &str, file_name: &str) -> String {
    let offset = text_with_cursor.find("$0").expect("a $0 cursor");
    let text = text_with_cursor.replace("$0", "");
    let mut ws = Workspace::new(Options::default());
    ws.add_stdlib();
    ws.add_file("schema.ward", SCHEMA, Origin::User);
    let id = ws.add_file(file_name, &text, Origin::User);
    let items = ide::completions(&ws, id, offset as u32);
    let mut out = String::new();
    for c in items {
        let detail = c.detail.map(|d| format!(" — {d}")).unwrap_or_default();
        let docs = if c.documentation.is_some() { " (docs)" } else { "" };
        writeln!(out, "{:?} {}{detail}{docs}", c.kind, c.label).unwrap();
    }
    out
}

#[test]
fn completions() {
    let cases = [
        ("top level", "$0"),
        ("policy member start", "policy p {\n  $0\n}\n"),
        (
            "attribute after dot",
            "policy p {\n  permit principal: Agent, action: read, resource: Customer\n    when resource.$0\n}\n",
        ),
        (
            "attribute of an attribute",
            "policy p {\n  permit principal: Agent, action: read\n    when principal.owner.re$0 == eu\n}\n",
        ),
        ("context fields", "policy p {\n  forbid action: send_email\n    when context.$0\n}\n"),
        ("set methods", "policy p {\n  permit principal: Agent, action: read\n    when principal.scopes.$0\n}\n"),
        ("actions in a scope", "policy p {\n  permit principal: Agent, action: $0\n}\n"),
        ("actions in a list", "policy p {\n  permit action: [read, $0]\n}\n"),
        ("entity types in a scope", "policy p {\n  permit principal: $0\n}\n"),
        ("enum values after ::", "policy p {\n  permit when resource.tier == Tier::$0\n}\n"),
        (
            "detectors after matches",
            "import stdlib.pii\npolicy p {\n  forbid action: send_email when context.to matches $0\n}\n",
        ),
        ("stdlib module members", "import stdlib.pii\npolicy p {\n  mask text with pii.$0\n}\n"),
        ("mask methods after using", "import stdlib.pii\npolicy p {\n  mask text with pii.email using $0\n}\n"),
        ("schema members", "schema t {\n  $0\n}\n"),
        ("types in a schema", "schema t {\n  entity Shop { owner: $0 }\n}\n"),
        ("annotations", "policy p {\n  @$0\n  permit action: read\n}\n"),
        ("imports", "import $0"),
    ];
    let mut out = String::new();
    for (name, text) in cases {
        writeln!(out, "── {name}\n{}", completion_list(text, "main.ward")).unwrap();
    }
    insta::assert_snapshot!(out);
}

#[test]
fn completion_and_hover_survive_syntax_errors() {
    // The rule being typed does not parse; the file's other items do.
    let text = "policy p {\n  permit principal: Agent, action: read, resource: Customer\n    when resource.region == \n\n  forbid action: update when resource.tier == vip\n}\n";
    let mut ws = Workspace::new(Options::default());
    ws.add_file("schema.ward", SCHEMA, Origin::User);
    let id = ws.add_file("main.ward", text, Origin::User);
    assert!(ws.diagnostics().iter().any(|d| d.code.starts_with("E00")), "expected a syntax error");
    let hover = ide::hover(&ws, id, at(text, "resource.tier == vip", "tier")).expect("hover in the intact rule");
    assert!(hover.markdown.contains("Customer.tier: Tier"), "{}", hover.markdown);
    let broken = "policy p {\n  permit principal: Agent, action: read, resource: Customer\n    when resource.\n\n  forbid action: update when resource.tier == vip\n}\n";
    ws.set_text(id, broken);
    let offset = at(broken, "when resource.\n", "\n");
    let labels: Vec<String> = ide::completions(&ws, id, offset).into_iter().map(|c| c.label).collect();
    assert!(labels.contains(&"region".to_string()) && labels.contains(&"ssn".to_string()), "{labels:?}");
}

#[test]
fn flow_conditions_complete_against_their_own_scope() {
    let text =
        "policy p {\n  forbid action: send_email\n    when previously within 1h action: read where resource.$0\n}\n";
    let list = completion_list(text, "main.ward");
    assert!(list.contains("Attribute tier"), "{list}");
}

#[test]
fn a_result_flow_completes_the_fields_of_its_actions_result() {
    let text = "schema results {\n  action lookup by [Agent] on [Customer] returns { tier: Tier, score: Int }\n}\n\
                policy p {\n  forbid action: send_email\n    \
                when previously within 1h action: lookup where response.$0\n}\n";
    let list = completion_list(text, "main.ward");
    assert!(list.contains("tier") && list.contains("score"), "{list}");
    // `response` itself is offered inside the flow's `where`, not outside it.
    let text = "schema results {\n  action lookup by [Agent] on [Customer] returns { tier: Tier, score: Int }\n}\n\
                policy p {\n  forbid action: send_email\n    \
                when previously within 1h action: lookup where res$0\n}\n";
    let list = completion_list(text, "main.ward");
    assert!(list.contains("Variable response — the earlier action's result: { score: Int, tier: Tier }"), "{list}");
    let list = completion_list("policy p {\n  forbid action: send_email when res$0\n}\n", "main.ward");
    assert!(!list.contains("response"), "{list}");
}

#[test]
fn code_actions() {
    let text = "policy p {\n  permit principal: Agent, action: read, resource: Customer\n    when resource.regoin == eu\n  permit principal: Agent, action: read, resource: Customer\n    when resource.tier == vip || resource.ssn like \"9*\"\n}\n";
    let mut ws = Workspace::new(Options::default());
    ws.add_file("schema.ward", SCHEMA, Origin::User);
    let id = ws.add_file("main.ward", text, Origin::User);
    let whole = ward_grammar::Span { start: 0, end: text.len() as u32 };
    let fixes = ide::code_actions(&ws, id, whole);
    let mut fixed = text.to_string();
    let mut edits: Vec<ide::Edit> = fixes.iter().flat_map(|f| f.edits.clone()).collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.span.start));
    for e in edits {
        fixed.replace_range(e.span.range(), &e.text);
    }
    let titles: Vec<&str> = fixes.iter().map(|f| f.title.as_str()).collect();
    assert_eq!(titles, ["Replace `regoin` with `region`", "Add the guard `resource has ssn`"]);
    assert!(fixed.contains("when resource.region == eu"), "{fixed}");
    assert!(fixed.contains("when resource.tier == vip || (resource has ssn && resource.ssn like \"9*\")"), "{fixed}");
    ws.set_text(id, &fixed);
    assert!(ws.diagnostics().is_empty(), "{:#?}", ws.diagnostics());
}

/// Issue 16: a near-miss string (W0116) is fixed by the string it misses.
#[test]
fn near_miss_string_fix() {
    let text = "policy p {\n  permit action: read when context.reason == \"refund\"\n  permit action: update when context.reason == \"refnud\"\n}\n";
    let mut ws = Workspace::new(Options::default());
    ws.add_file("schema.ward", SCHEMA, Origin::User);
    let id = ws.add_file("main.ward", text, Origin::User);
    let codes: Vec<&str> = ws.diagnostics().iter().map(|d| d.code).collect();
    assert!(codes.contains(&"W0116"), "{:#?}", ws.diagnostics());
    let fixes = ide::code_actions(&ws, id, ward_grammar::Span { start: 0, end: text.len() as u32 });
    let fix = fixes.iter().find(|f| f.diagnostic.code == "W0116").expect("a W0116 fix");
    assert_eq!(fix.title, "Replace `\"refnud\"` with `\"refund\"`");
    let fixed = apply(text, &fix.edits, id);
    ws.set_text(id, &fixed);
    assert!(ws.diagnostics().iter().all(|d| d.code != "W0116"), "{fixed}");
}

/// Issue 16: the hints for common mistakes come with fixes, and the fixed
/// text checks cleanly.
#[test]
fn hint_fixes_give_text_that_checks() {
    let rule = |head: &str, condition: &str| format!("policy p {{\n  {head}\n    when {condition}\n}}\n");
    let agent_reads = "permit principal: Agent, action: read, resource: Customer";
    let cases: &[(String, &[&str], String)] = &[
        (
            rule(agent_reads, "resource.tier = vip"),
            &["Replace `=` with `==`"],
            rule(agent_reads, "resource.tier == vip"),
        ),
        (
            "policy p {\n  permit action = read\n}\n".to_string(),
            &["Replace `=` with `==`"],
            "policy p {\n  permit action == read\n}\n".to_string(),
        ),
        (rule(agent_reads, "!resource has ssn"), &["Negate the whole test"], rule(agent_reads, "!(resource has ssn)")),
        (
            rule("forbid action: send_email", "context.external && !!context.to like \"draft-*\""),
            &["Negate the whole test"],
            rule("forbid action: send_email", "context.external && !!(context.to like \"draft-*\")"),
        ),
        (
            rule(agent_reads, "principal.scopes == \"crm\""),
            &["Replace with `principal.scopes.contains(\"crm\")`"],
            rule(agent_reads, "principal.scopes.contains(\"crm\")"),
        ),
        (
            rule(agent_reads, "\"crm\" != principal.scopes"),
            &["Replace with `!principal.scopes.contains(\"crm\")`"],
            rule(agent_reads, "!principal.scopes.contains(\"crm\")"),
        ),
        (
            rule(agent_reads, "\"crm\" in principal.scopes"),
            &["Replace with `principal.scopes.contains(\"crm\")`"],
            rule(agent_reads, "principal.scopes.contains(\"crm\")"),
        ),
        (
            rule("@shadow\n  permit principal: Agent, action: update, resource: Customer", "context.mfa"),
            &["Remove `@shadow`"],
            rule("permit principal: Agent, action: update, resource: Customer", "context.mfa"),
        ),
        (
            rule("forbid action: send_email", "!(context.to like \"*@acme.com\")"),
            &["Require every address at `acme.com`"],
            rule("forbid action: send_email", "!(context.to.email_domains().is_subset([\"acme.com\"]))"),
        ),
    ];
    for (text, titles, expected) in cases {
        let mut ws = Workspace::new(Options::default());
        ws.add_file("schema.ward", SCHEMA, Origin::User);
        let id = ws.add_file("main.ward", text, Origin::User);
        assert_eq!(ws.diagnostics().len(), 1, "{text}: {:#?}", ws.diagnostics());
        let fixes = ide::code_actions(&ws, id, ward_grammar::Span { start: 0, end: text.len() as u32 });
        let shown: Vec<&str> = fixes.iter().map(|f| f.title.as_str()).collect();
        assert_eq!(&shown, titles, "{text}");
        let fixed = apply(text, &fixes[0].edits, id);
        assert_eq!(&fixed, expected);
        ws.set_text(id, &fixed);
        assert!(ws.diagnostics().is_empty(), "{fixed}: {:#?}", ws.diagnostics());
    }
}

/// W0121's fix deletes the copy (its doc comment and annotations too) and
/// the blank lines around it, wherever it stands in its policy; the text
/// then checks cleanly.
#[test]
fn a_repeated_rule_is_deleted_by_its_fix() {
    let rule = |id: &str, level: &str| {
        format!(
            "  /// Reads by agents.\n  @id(\"{id}\")\n  permit principal: Agent, action: read, resource: Customer\n    when principal.clearance >= {level}\n"
        )
    };
    let policy = |rules: &[String]| format!("policy p {{\n{}}}\n", rules.join("\n"));
    let (a, copy, b) = (rule("a", "internal"), rule("a-copy", "internal"), rule("b", "secret"));
    let cases = [
        // Between two rules: the blank line after it goes with it.
        (policy(&[a.clone(), copy.clone(), b.clone()]), policy(&[a.clone(), b.clone()])),
        // Last in its policy: the blank line before it goes.
        (policy(&[a.clone(), b.clone(), copy.clone()]), policy(&[a.clone(), b.clone()])),
        (policy(&[a.clone(), copy.clone()]), policy(std::slice::from_ref(&a))),
    ];
    for (text, expected) in cases {
        let mut ws = Workspace::new(Options::default());
        ws.add_file("schema.ward", SCHEMA, Origin::User);
        let id = ws.add_file("main.ward", &text, Origin::User);
        let codes: Vec<&str> = ws.diagnostics().iter().map(|d| d.code).collect();
        assert_eq!(codes, ["W0121"], "{text}");
        let fixes = ide::code_actions(&ws, id, ward_grammar::Span { start: 0, end: text.len() as u32 });
        let shown: Vec<&str> = fixes.iter().map(|f| f.title.as_str()).collect();
        assert_eq!(shown, ["Delete the repeated rule `p.a-copy`"], "{text}");
        let fixed = apply(&text, &fixes[0].edits, id);
        assert_eq!(fixed, expected, "{text}");
        ws.set_text(id, &fixed);
        assert!(ws.diagnostics().is_empty(), "{fixed}: {:#?}", ws.diagnostics());
    }
}

#[test]
fn outline_symbols_and_tokens() {
    let p = project();
    let outline = ide::document_symbols(&p.ws, p.policy);
    let names: Vec<String> = outline
        .iter()
        .map(|i| {
            let children: Vec<&str> = i.children.iter().map(|c| c.name.as_str()).collect();
            format!("{:?} {} [{}]", i.kind, i.name, children.join(", "))
        })
        .collect();
    assert_eq!(names, ["Import stdlib.pii []", "Agent bot []", "Policy support [read-own-region, forbid #2, mask #3]"]);
    let found = ide::workspace_symbols(&p.ws, "cust", 10);
    assert_eq!(found.first().map(|s| s.name.as_str()), Some("Customer"));
    let tokens = ide::semantic_tokens(&p.ws, p.policy);
    let class_of = |word: &str, context: &str| {
        let offset = at(POLICY, context, word);
        tokens.iter().find(|t| t.span.start == offset).map(|t| t.class)
    };
    assert_eq!(class_of("region", "resource.region =="), Some(ide::TokenClass::Property));
    assert_eq!(class_of("vip", "== vip"), Some(ide::TokenClass::EnumMember));
    assert_eq!(class_of("permit", "permit principal"), Some(ide::TokenClass::Keyword));
    assert_eq!(class_of("Customer", "resource: Customer"), Some(ide::TokenClass::Type));
    assert_eq!(class_of("email", "matches pii.email"), Some(ide::TokenClass::Function));
    assert_eq!(class_of("pii", "matches pii.email"), Some(ide::TokenClass::Namespace));
}

#[test]
fn contextual_keywords_are_highlighted_where_they_start_an_item() {
    let text = "namespace Tax {\n  entity Doc { namespace: String }\n}\n";
    let mut ws = Workspace::new(Options::default());
    let id = ws.add_file("schema.ward", text, Origin::User);
    assert!(ws.diagnostics().is_empty(), "{:#?}", ws.diagnostics());
    let tokens = ide::semantic_tokens(&ws, id);
    let class_at = |offset: u32| tokens.iter().find(|t| t.span.start == offset).map(|t| t.class);
    assert_eq!(class_at(0), Some(ide::TokenClass::Keyword));
    // The same word as an attribute's name is not a keyword.
    let attr = at(text, "{ namespace:", "namespace");
    assert_ne!(class_at(attr), Some(ide::TokenClass::Keyword));
}

#[test]
fn symbols_at_positions() {
    let p = project();
    let (symbol, _, _) = ide::symbol_at(&p.ws, p.policy, at(POLICY, "principal.owner", "owner")).unwrap();
    assert_eq!(symbol, Symbol::Attribute { owner: "Agent".into(), name: "owner".into() });
    let _ = CompletionKind::Keyword;
}

#[test]
fn queries_on_a_snapshot_are_cancelled_by_an_edit() {
    let p = project();
    let mut ws = p.ws;
    let snapshot = ws.snapshot();
    let worker = std::thread::spawn(move || {
        // Keep asking until the edit cancels us.
        let mut answers = 0;
        loop {
            match ide::catch(|| ide::references(&snapshot, &Symbol::Entity("User".into()), true)) {
                Ok(_) => answers += 1,
                Err(ide::Failure::Cancelled) => return answers,
                Err(ide::Failure::Panic(m)) => panic!("{m}"),
            }
            if answers > 1_000_000 {
                return answers;
            }
            std::thread::yield_now();
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(20));
    // Blocks until the snapshot's query unwinds and the snapshot is dropped.
    ws.set_text(p.policy, &POLICY.replace("vip", "standard"));
    let answers = worker.join().unwrap();
    assert!(answers < 1_000_000);
    assert!(ws.diagnostics().is_empty());
}

// ───────────────────────── issue 15 ─────────────────────────

/// Applies edits (any order) to `text`.
fn apply(text: &str, edits: &[ide::Edit], file: FileId) -> String {
    let mut out = text.to_string();
    let mut mine: Vec<&ide::Edit> = edits.iter().filter(|e| e.file == file).collect();
    mine.sort_by_key(|e| std::cmp::Reverse(e.span.start));
    for e in mine {
        out.replace_range(e.span.range(), &e.text);
    }
    out
}

/// Renaming an agent renames its entity literals (`Agent::"bot"`) in
/// policies, fixtures and tests, so `ward test` keeps passing; literals of
/// another type with the same id are left alone.
#[test]
fn renaming_an_agent_renames_its_entity_literals() {
    let schema = "schema s {\n  entity User\n  entity Agent\n  action read by [Agent, User] on [User]\n}\n";
    let policy = "agent bot: Agent {\n  owner User::\"dana\"\n}\n\npolicy p {\n  permit principal == Agent::\"bot\", action: read\n}\n";
    let tests = "fixture f {\n  entity Agent::\"bot\"\n  entity User::\"bot\"\n}\n\ntest \"t\" {\n  using f\n  request { principal: Agent::\"bot\", action: read, resource: User::\"bot\" }\n  expect allow\n}\n";
    let mut ws = Workspace::new(Options::default());
    let s = ws.add_file("schema.ward", schema, Origin::User);
    let p = ws.add_file("policy.ward", policy, Origin::User);
    let t = ws.add_file("tests.ward", tests, Origin::User);
    assert!(ws.diagnostics().is_empty(), "{:#?}", ws.diagnostics());
    let edits = ide::rename(&ws, p, at(policy, "agent bot", "bot"), "helper").unwrap();
    let (policy2, tests2) = (apply(policy, &edits, p), apply(tests, &edits, t));
    assert!(policy2.contains("agent helper: Agent") && policy2.contains("principal == Agent::\"helper\""), "{policy2}");
    assert_eq!(tests2.matches("Agent::\"helper\"").count(), 2, "{tests2}");
    assert_eq!(tests2.matches("User::\"bot\"").count(), 2, "{tests2}");
    // From a literal, too.
    let from_literal = ide::rename(&ws, t, at(tests, "principal: Agent::\"bot\"", "bot"), "helper").unwrap();
    assert_eq!(from_literal.len(), edits.len());
    ws.set_text(p, &policy2);
    ws.set_text(t, &tests2);
    assert!(ws.diagnostics().is_empty(), "{:#?}", ws.diagnostics());
    let _ = s;
}

/// The references of a rule include its own `@id` (a member's text does
/// not contain its policy's name, which the quick filter looked for).
#[test]
fn references_of_a_rule_include_its_own_id() {
    let p = project();
    let ws = &p.ws;
    for (file, text, context, inner) in [
        (p.policy, POLICY, "@id(\"read-own-region\")", "read-own"),
        (p.policy, POLICY, "permit principal", "permit"),
        (p.tests, TESTS, "support.read-own-region", "read"),
    ] {
        let refs = ide::find_references(ws, file, at(text, context, inner), true);
        let shown: Vec<String> = refs.iter().map(|r| show_span(ws, r)).collect();
        assert_eq!(
            shown,
            ["policy.ward 11:7 `\"read-own-region\"`", "tests.ward 8:19 `\"support.read-own-region\"`"],
            "from {context}"
        );
    }
}

/// The missing-import fix goes below the file's header comment, not above it.
#[test]
fn the_import_fix_goes_after_the_header_comment() {
    let text = "// Support policies.\n// Owned by the CX platform team.\n\n/// Mail rules.\npolicy p {\n  forbid action: send_email when context.to matches pii.email\n}\n";
    let mut ws = Workspace::new(Options::default());
    ws.add_stdlib();
    ws.add_file("schema.ward", SCHEMA, Origin::User);
    let id = ws.add_file("main.ward", text, Origin::User);
    let fixes = ide::code_actions(&ws, id, ward_grammar::Span { start: 0, end: text.len() as u32 });
    let fix = fixes.iter().find(|f| f.title.contains("import")).expect("an import fix");
    let fixed = apply(text, &fix.edits, id);
    assert_eq!(
        fixed,
        "// Support policies.\n// Owned by the CX platform team.\n\nimport stdlib.pii\n\n/// Mail rules.\npolicy p {\n  forbid action: send_email when context.to matches pii.email\n}\n"
    );
    ws.set_text(id, &fixed);
    assert!(ws.diagnostics().is_empty(), "{:#?}", ws.diagnostics());
    // Without a header, at the top; a doc comment stays with its item.
    let bare = "/// Mail rules.\npolicy p {\n  forbid action: send_email when context.to matches pii.email\n}\n";
    ws.set_text(id, bare);
    let fixes = ide::code_actions(&ws, id, ward_grammar::Span { start: 0, end: bare.len() as u32 });
    let fix = fixes.iter().find(|f| f.title.contains("import")).expect("an import fix");
    assert!(apply(bare, &fix.edits, id).starts_with("import stdlib.pii\n\n/// Mail rules.\npolicy p"));
}

#[test]
fn type_tests_chain_and_quantifiers_complete_and_hover() {
    let schema = "schema pay {\n  entity User { limit: Decimal }\n  entity Agent { scopes: Set<String> }\n  entity Payee { tags: Set<String> }\n  action pay by [Agent, User] on [Payee]\n}\n";
    let policy = "policy p {\n  forbid principal: Agent\n    unless chain.any(link, link is User && link.limit > 0.00)\n  forbid when chain.first is Agent\n  permit action: pay when resource.tags.is_subset([\"a\"])\n}\n";
    let mut ws = Workspace::new(Options::default());
    let _ = ws.add_file("schema.ward", schema, Origin::User);
    let id = ws.add_file("policy.ward", policy, Origin::User);
    assert!(ws.diagnostics().is_empty(), "{:?}", ws.diagnostics());
    let hover = |context: &str, inner: &str| {
        ide::hover(&ws, id, at(policy, context, inner)).map(|h| h.markdown).unwrap_or_default()
    };
    // `chain` may hold any principal type of `pay`, whatever the scope says of `principal`.
    assert!(hover("chain.any(", "chain").contains("chain: List<Agent | User>"), "{}", hover("chain.any(", "chain"));
    // The quantifier's variable is a link; after `link is User`, a `User`.
    assert!(hover("any(link,", "link").contains(": Agent | User"), "{}", hover("any(link,", "link"));
    assert!(hover("&& link.limit", "link").contains("link: User"), "{}", hover("&& link.limit", "link"));
    assert!(
        hover("chain.first is", "first").contains("chain.first: Agent | User"),
        "{}",
        hover("chain.first is", "first")
    );

    let text = |body: &str| format!("policy p {{\n  forbid action: pay when {body}\n}}\n");
    let list = |body: &str| {
        let t = text(body);
        let offset = t.find("$0").unwrap();
        let t = t.replace("$0", "");
        let mut ws = Workspace::new(Options::default());
        ws.add_file("schema.ward", schema, Origin::User);
        let id = ws.add_file("main.ward", &t, Origin::User);
        ide::completions(&ws, id, offset as u32).into_iter().map(|c| c.label).collect::<Vec<_>>()
    };
    let after_chain = list("chain.$0");
    for m in ["any", "all", "first", "last", "size", "intersects", "is_subset"] {
        assert!(after_chain.iter().any(|l| l == m), "`{m}` missing after `chain.`: {after_chain:?}");
    }
    let after_set = list("resource.tags.$0");
    assert!(after_set.iter().any(|l| l == "intersects") && !after_set.iter().any(|l| l == "first"), "{after_set:?}");
    let keywords = list("principal $0");
    assert!(keywords.iter().any(|l| l == "is"), "{keywords:?}");
}

/// A method call's name shows its signatures and meaning; a `@verified`
/// context field says where it comes from.
#[test]
fn hovers_on_methods_and_verified_fields() {
    let p = project();
    let mut ws = p.ws;
    let text = "policy mail {\n  forbid action: send_email\n    unless context.to.email_domains().is_subset([\"acme.example\"]) && context.mfa\n}\n";
    let file = ws.add_file("mail.ward", text, Origin::User);
    let hover = |offset: u32| ide::hover(&ws, file, offset).map(|h| (text[h.span.range()].to_string(), h.markdown));
    let (word, md) = hover(at(text, "email_domains()", "domains")).unwrap();
    assert_eq!(word, "email_domains");
    assert!(md.contains("email_domains() -> Set<String>") && md.contains("address list"), "{md}");
    let (word, md) = hover(at(text, ".is_subset(", "subset")).unwrap();
    assert_eq!(word, "is_subset");
    assert!(md.contains("is_subset(set) -> Bool"), "{md}");
    let (_, md) = hover(at(text, "&& context.mfa", "mfa")).unwrap();
    assert!(md.contains("context.mfa: Bool") && md.contains("`@verified`"), "{md}");
}

#[test]
fn template_slots_hover_with_their_type_and_complete_in_template_scopes() {
    let text = "policy p {\n  @id(\"share\")\n  @template\n  permit principal: Agent == ?principal, action: read, resource in ?resource\n}\n";
    let mut ws = Workspace::new(Options::default());
    ws.add_file("schema.ward", SCHEMA, Origin::User);
    let id = ws.add_file("main.ward", text, Origin::User);
    assert!(ws.diagnostics().is_empty(), "{:?}", ws.diagnostics());
    let hover = ide::hover(&ws, id, at(text, "== ?principal", "principal")).expect("a hover on the slot");
    assert!(
        hover.markdown.contains("?principal: Agent") && hover.markdown.contains("template slot"),
        "{}",
        hover.markdown
    );
    let hover = ide::hover(&ws, id, at(text, "in ?resource", "resource")).expect("a hover on the slot");
    assert!(hover.markdown.contains("?resource: Customer"), "{}", hover.markdown);
    // Completion offers the slot in a template's scope, and only there.
    let list = completion_list("policy p {\n  @id(\"t\")\n  @template\n  permit principal == $0\n}\n", "main.ward");
    assert!(list.contains("Variable ?principal — template slot"), "{list}");
    let list = completion_list("policy p {\n  @template\n  permit action: read, resource in ?$0\n}\n", "main.ward");
    assert!(list.contains("Variable resource — template slot") && !list.contains("principal"), "{list}");
    let list = completion_list("policy p {\n  permit principal == $0\n}\n", "main.ward");
    assert!(!list.contains("?principal"), "{list}");
    let list = completion_list("policy p {\n  @$0\n  permit action: read\n}\n", "main.ward");
    assert!(list.contains("Annotation template"), "{list}");
    // Diagnostics reach the editor.
    ws.set_text(id, "policy p {\n  permit principal == ?principal, action: read\n}\n");
    assert!(ws.diagnostics().iter().any(|d| d.code == "E0231"), "{:?}", ws.diagnostics());
}

/// A budget is hovered as one, and its summed expression is understood
/// (hover on a field inside `sum(…)`).
#[test]
fn budgets_hover() {
    let schema = "schema buy {\n  entity Agent\n  entity Supplier\n  action order by [Agent] on [Supplier] with { amount: Decimal }\n}\n";
    let policy = "policy p {\n  @id(\"spend\")\n  limit action: order sum(context.amount) to 100.00 per 1h\n}\n";
    let mut ws = Workspace::new(Options::default());
    let _ = ws.add_file("schema.ward", schema, Origin::User);
    let id = ws.add_file("policy.ward", policy, Origin::User);
    assert!(ws.diagnostics().is_empty(), "{:?}", ws.diagnostics());
    let hover = |context: &str, inner: &str| {
        ide::hover(&ws, id, at(policy, context, inner)).map(|h| h.markdown).unwrap_or_default()
    };
    let rule = hover("@id(\"spend\")", "spend");
    assert!(rule.contains("limits the sum of an amount"), "{rule}");
    let field = hover("context.amount)", "amount");
    assert!(field.contains("Decimal"), "{field}");
}

/// Entity tags: `has_tag` and `get_tag` are offered on an entity whose
/// types declare tags (with the tag type), not on others; hovers show them.
#[test]
fn entity_tags_complete_and_hover() {
    let schema = "schema docs {\n  entity User\n  entity Doc { owner: User } tags Set<String>\n  action read by [User] on [Doc]\n}\n";
    let list = |body: &str| {
        let t = format!("policy p {{\n  permit action: read when {body}\n}}\n");
        let offset = t.find("$0").unwrap();
        let t = t.replace("$0", "");
        let mut ws = Workspace::new(Options::default());
        ws.add_file("schema.ward", schema, Origin::User);
        let id = ws.add_file("main.ward", &t, Origin::User);
        ide::completions(&ws, id, offset as u32)
            .into_iter()
            .map(|c| format!("{} — {}", c.label, c.detail.unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    let on_doc = list("resource.$0");
    assert!(on_doc.iter().any(|l| l.starts_with("get_tag — get_tag(String) -> Set<String>")), "{on_doc:?}");
    assert!(on_doc.iter().any(|l| l.starts_with("has_tag —")) && on_doc.iter().any(|l| l.starts_with("owner")));
    let on_user = list("principal.$0");
    assert!(!on_user.iter().any(|l| l.contains("_tag")), "{on_user:?}");

    let policy = "policy p {\n  permit action: read when resource.has_tag(\"k\") && resource.get_tag(\"k\").contains(\"x\")\n}\n";
    let mut ws = Workspace::new(Options::default());
    let _ = ws.add_file("schema.ward", schema, Origin::User);
    let id = ws.add_file("policy.ward", policy, Origin::User);
    assert!(ws.diagnostics().is_empty(), "{:?}", ws.diagnostics());
    let hover = ide::hover(&ws, id, at(policy, "resource.get_tag", "get_tag")).map(|h| h.markdown).unwrap_or_default();
    assert!(hover.contains("get_tag(String)"), "{hover}");
    // Just after the call: the innermost expression there is the call.
    let hover =
        ide::hover(&ws, id, at(policy, "(\"k\").contains", ".contains")).map(|h| h.markdown).unwrap_or_default();
    assert!(hover.contains("Set<String>"), "{hover}");
}
