//! Proof of incrementality: salsa's execution log shows what an edit recomputes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ward_compiler::db::Database;
use ward_compiler::{Options, Origin, Workspace};

const SCHEMA: &str = "schema s {\n  entity User { level: Int, team: String }\n  entity Doc { owner: User }\n  action read, write by [User] on [Doc]\n}\n";

fn policy(second_condition: &str) -> String {
    format!(
        "policy p {{\n  permit principal: User, action: read, resource: Doc\n    when principal.level > 1\n\n  permit principal: User, action: write, resource: Doc\n    when {second_condition}\n\n  forbid action: write\n    when principal.team == \"contractors\"\n}}\n"
    )
}

fn workspace() -> (Workspace, ward_compiler::FileId) {
    let mut ws = Workspace::with_database(Database::with_execution_log(), Options::default());
    ws.add_file("schema.ward", SCHEMA, Origin::User);
    let id = ws.add_file("policy.ward", &policy("resource.owner == principal"), Origin::User);
    assert!(ws.diagnostics().is_empty(), "{:?}", ws.diagnostics());
    ws.db().take_log();
    (ws, id)
}

fn executed(ws: &Workspace, query: &str) -> Vec<String> {
    ws.db().take_log().into_iter().filter(|line| line.starts_with(&format!("{query}("))).collect()
}

#[test]
fn editing_one_rule_rechecks_that_rule_only() {
    let (mut ws, id) = workspace();
    ws.set_text(id, &policy("resource.owner == principal && principal.level > 2"));
    let diags = ws.diagnostics();
    assert!(diags.is_empty(), "{diags:?}");
    let log = ws.db().take_log();
    let checks: Vec<&String> = log.iter().filter(|l| l.starts_with("check_unit(")).collect();
    assert_eq!(checks.len(), 1, "only the edited rule is type-checked again: {log:#?}");
    // The schema and symbol tables were not rebuilt.
    assert!(!log.iter().any(|l| l.starts_with("schema_env(")), "{log:#?}");
}

#[test]
fn whitespace_and_comments_recheck_nothing() {
    let (mut ws, id) = workspace();
    let moved = format!(
        "// a comment that moves everything down\n\n{}",
        policy("resource.owner  ==  principal").replace("  permit", "    permit")
    );
    ws.set_text(id, &moved);
    assert!(ws.diagnostics().is_empty());
    assert_eq!(executed(&ws, "check_unit"), Vec::<String>::new());
}

#[test]
fn diagnostics_follow_moved_text() {
    let (mut ws, id) = workspace();
    ws.set_text(id, &policy("resource.owner == principal && principal.levl > 2"));
    let before = ws.diagnostics();
    assert_eq!(before.len(), 1, "{before:?}");
    let text = format!("\n\n\n{}", policy("resource.owner == principal && principal.levl > 2"));
    ws.set_text(id, &text);
    let after = ws.diagnostics();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].primary.span.start, before[0].primary.span.start + 3, "the span moved with the text");
    assert_eq!(&text[after[0].primary.span.range()], "levl");
}
