//! Drives the real `ward` binary: exit codes, diagnostics, formatting.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ward")).args(args).env("NO_COLOR", "1").output().expect("run ward")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh directory under the target dir, removed and recreated per test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const GOOD: &str = "schema s {\n  entity User\n  entity Doc\n  action read by [User] on [Doc]\n}\n\npolicy p {\n  permit action: read\n}\n";

#[test]
fn check_clean_file_exits_0() {
    let dir = scratch("check_clean");
    let file = write(&dir, "ok.ward", GOOD);
    let out = ward(&["check", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stderr(&out).contains("checked 1 file: 0 errors"));
}

#[test]
fn check_reports_error_with_location_and_exits_1() {
    let dir = scratch("check_error");
    let file = write(&dir, "bad.ward", "policy p {\n  permit when a < b < c\n}\n");
    let out = ward(&["check", &file]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("[E0007]"), "{text}");
    assert!(text.contains("bad.ward:2:21"), "{text}");
}

#[test]
fn check_json_is_one_object_per_line() {
    let dir = scratch("check_json");
    let file = write(&dir, "bad.ward", "policy p { permit when }\nschema s { entity }\n");
    let out = ward(&["check", "--format", "json", &file]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> =
        stdout(&out).lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(lines.len(), 2, "both broken items are reported");
    assert_eq!(lines[0]["code"], "E0001");
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(lines[1]["line"], 2);
    assert_eq!(lines[1]["severity"], "error");
}

#[test]
fn check_walks_directories() {
    let dir = scratch("check_dir");
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    write(&dir, "a.ward", GOOD);
    write(&dir.join("nested"), "b.ward", "policy q {\n  forbid action: read\n}\n");
    write(&dir, "notes.txt", "not ward");
    let out = ward(&["check", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("checked 2 files"));
}

#[test]
fn missing_file_is_a_usage_error_not_a_backtrace() {
    let out = ward(&["check", "/definitely/not/here.ward"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("cannot read `/definitely/not/here.ward`: no such file or directory"), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn no_arguments_is_a_usage_error() {
    assert_eq!(ward(&["check"]).status.code(), Some(2));
    assert_eq!(ward(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn binary_and_invalid_utf8_get_diagnostics() {
    let dir = scratch("binary");
    let bytes: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let bin = write(&dir, "bin.ward", &bytes);
    let out = ward(&["check", &bin]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("E0011"), "not UTF-8 is reported: {}", stdout(&out));
    let junk = write(&dir, "junk.ward", "\u{1}\u{2} ~~~ policy p { permit } ^^^ \"");
    let out = ward(&["check", &junk]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).contains("panicked"));
}

#[test]
fn deep_nesting_and_large_files_do_not_crash() {
    let dir = scratch("deep");
    let deep = format!("policy p {{ permit when {}a{} }}\n", "(".repeat(100_000), ")".repeat(100_000));
    let file = write(&dir, "deep.ward", deep);
    let out = ward(&["check", &file]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("E0006"), "{}", stdout(&out));

    let rule = "  permit principal: Agent, action: read when resource.owner == principal && context.mfa\n";
    let schema = "schema s {\n  entity Agent\n  entity Doc { owner: Agent }\n  action read by [Agent] on [Doc]\n  context { mfa: Bool }\n}\n";
    // 10 MB: a policy of 2,000 rules, then commentary (the checker's cost per
    // rule is measured by the benchmarks; this is about input size).
    let policy = format!("{schema}policy p {{\n{}}}\n", rule.repeat(2_000));
    let padding = "// an annotated policy file carries a lot of commentary\n";
    let big = format!("{policy}{}", padding.repeat((10 * 1024 * 1024 - policy.len()) / padding.len() + 1));
    assert!(big.len() >= 10 * 1024 * 1024);
    let file = write(&dir, "big.ward", big);
    let out = ward(&["check", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn fmt_rewrites_and_check_mode_reports() {
    let dir = scratch("fmt");
    let messy = "policy   p{permit   action:read when a&&b}";
    let file = write(&dir, "messy.ward", messy);
    let out = ward(&["fmt", "--check", &file]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("would reformat"), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), messy, "--check never writes");

    let out = ward(&["fmt", &file]);
    assert_eq!(out.status.code(), Some(0));
    let formatted = std::fs::read_to_string(&file).unwrap();
    assert_eq!(formatted, "policy p {\n  permit action: read\n    when a && b\n}\n");
    assert_eq!(ward(&["fmt", "--check", &file]).status.code(), Some(0), "formatting is idempotent");
}

#[test]
fn fmt_refuses_files_with_syntax_errors() {
    let dir = scratch("fmt_err");
    let text = "policy p { permit when }\n";
    let file = write(&dir, "bad.ward", text);
    let out = ward(&["fmt", &file]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("E0001"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text, "a broken file is left alone");
}

#[test]
fn bundled_examples_and_stdlib_are_clean_and_formatted() {
    let root = env!("CARGO_MANIFEST_DIR");
    let examples = format!("{root}/examples");
    let stdlib = format!("{root}/stdlib");
    // Each example is its own program: they declare the same entity names.
    for entry in std::fs::read_dir(&examples).unwrap() {
        let dir = entry.unwrap().path();
        if dir.is_dir() {
            let out = ward(&["check", dir.to_str().unwrap()]);
            assert_eq!(out.status.code(), Some(0), "{}: {}", dir.display(), stdout(&out));
        }
    }
    let out = ward(&["check", &stdlib]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = ward(&["fmt", "--check", &examples, &stdlib]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

// ───────────────────────── strict input (issue 15) ─────────────────────────

const PAY: &str = "schema s {\n  entity User\n  entity Doc\n  action read_customer, delete_customer by [User] on [Doc] with { amount?: Decimal }\n}\n\npolicy p {\n  permit action: read_customer\n  forbid action: read_customer when context has amount && context.amount > 100000000000000.0\n}\n";

#[test]
fn eval_and_explain_refuse_duplicate_keys_and_round_no_decimal() {
    let dir = scratch("strict-eval");
    let policy = write(&dir, "p.ward", PAY);
    let requests = write(
        &dir,
        "r.jsonl",
        concat!(
            r#"{"principal": {"type": "User", "id": "u"}, "action": "delete_customer", "action": "read_customer", "resource": {"type": "Doc", "id": "d"}}"#,
            "\n",
            r#"{"principal": {"type": "User", "id": "u"}, "action": "read_customer", "resource": {"type": "Doc", "id": "d"}, "context": {"amount": 100000000000000.0001}}"#,
            "\n",
            r#"{"principal": {"type": "User", "id": "u"}, "action": "read_customer", "resource": {"type": "Doc", "id": "d"}, "context": {"amount": 100000000000000.0}}"#,
            "\n",
        ),
    );
    let out = ward(&["eval", "--policy", &policy, "--requests", &requests]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["effect"], "deny", "{}", lines[0]);
    assert!(lines[0].to_string().contains("`action` appears twice"), "{}", lines[0]);
    assert_eq!(lines[1]["effect"], "deny", "{}", lines[1]);
    assert_eq!(lines[2]["effect"], "allow", "{}", lines[2]);
    let out = ward(&["explain", "--policy", &policy, "--requests", &requests]);
    assert!(stdout(&out).contains("`action` appears twice"), "{}", stdout(&out));
    // Entity files: a duplicate key is refused with its path, exit 1.
    let entities = write(&dir, "e.json", r#"[{"uid": {"type": "User", "id": "u", "id": "v"}}]"#);
    let out = ward(&["eval", "--policy", &policy, "--requests", &requests, "--entities", &entities]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("entities[0].uid.id"), "{}", stderr(&out));
}

/// Cedar's request and entity files as they are (issue 17; docs/cedar.md's
/// worked migration): TinyTodo's Ward translation decides them unchanged,
/// and an entity with tags is refused naming it, exit 1.
#[test]
fn eval_reads_cedar_requests_and_entities_unchanged() {
    let dir = scratch("cedar-json");
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/workloads/tinytodo");
    let entities = write(
        &dir,
        "entities.json",
        r#"[
          {"uid": "User::\"alice\"", "parents": ["Application::\"TinyTodo\""]},
          {"uid": "User::\"bob\"", "parents": [{"__entity": {"type": "Team", "id": "readers"}}]},
          {"uid": {"type": "Team", "id": "readers"}},
          {"uid": {"type": "Team", "id": "editors"}},
          {"uid": {"type": "List", "id": "groceries"}, "attrs": {
            "owner": "User::\"alice\"", "name": "groceries", "readers": "Team::\"readers\"",
            "editors": {"__entity": {"type": "Team", "id": "editors"}}, "tasks": []}},
          {"uid": {"type": "Action", "id": "GetList"}, "attrs": {}, "parents": []}
        ]"#,
    );
    let requests = write(
        &dir,
        "r.jsonl",
        concat!(
            r#"{"principal": "User::\"bob\"", "action": "Action::\"GetList\"", "resource": "List::\"groceries\"", "context": {}}"#,
            "\n",
            r#"{"principal": "User::\"bob\"", "action": {"type": "Action", "id": "UpdateList"}, "resource": "List::\"groceries\"", "context": {}}"#,
            "\n",
            r#"{"principal": "User::\"alice\"", "action": "Action::\"DeleteList\"", "resource": "List::\"groceries\"", "context": {}}"#,
            "\n",
        ),
    );
    let out = ward(&["eval", "--policy", policy, "--requests", &requests, "--entities", &entities]);
    assert!(out.status.success(), "{}", stderr(&out));
    let effects: Vec<String> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["effect"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(effects, ["allow", "deny", "allow"], "{}", stdout(&out));
    let out = ward(&["explain", "--policy", policy, "--requests", &requests, "--entities", &entities]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Tags on a type that declares none are refused, never dropped.
    let tagged =
        write(&dir, "tagged.json", r#"[{"uid": "User::\"alice\"", "tags": {"clearance": "high"}, "parents": []}]"#);
    let out = ward(&["eval", "--policy", policy, "--requests", &requests, "--entities", &tagged]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("entities[0].tags.clearance"), "{}", stderr(&out));
    assert!(stderr(&out).contains("User::\"alice\""), "{}", stderr(&out));
}

/// The README's tour of the language checks without a warning and its test passes.
#[test]
fn the_readme_tour_checks_and_its_test_passes() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("## A tour of the language").expect("the tour");
    let end = readme[start..].find("\n## ").map_or(readme.len(), |i| start + 1 + i);
    let dir = scratch("readme-tour");
    let mut blocks = 0;
    for (i, block) in readme[start..end].split("```ward\n").skip(1).enumerate() {
        let code = block.split("```").next().unwrap();
        write(&dir, &format!("block{i}.ward"), code);
        blocks += 1;
    }
    assert!(blocks >= 4, "only {blocks} ward blocks in the tour");
    let dir = dir.to_str().unwrap();
    let out = ward(&["check", "--deny", "warnings", dir]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = ward(&["test", dir]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("1 passed, 0 failed"), "{}", stdout(&out));
}

const BUDGET: &str = r#"schema s {
  entity Agent
  entity Supplier
  action order by [Agent] on [Supplier] with { amount: Decimal }
}

policy p {
  permit principal: Agent, action: order

  @id("spend")
  limit action: order sum(context.amount) to 10000.00 per 24h per principal
}
"#;

/// A budget through the binary: spent across the requests of one run, shown
/// in the JSON decision and the explanation; a negative amount is denied.
#[test]
fn eval_and_explain_spend_a_budget_and_refuse_negative_amounts() {
    let dir = scratch("budget-eval");
    let policy = write(&dir, "p.ward", BUDGET);
    let order = |amount: &str| {
        format!(
            r#"{{"principal": {{"type": "Agent", "id": "bot"}}, "action": "order", "resource": {{"type": "Supplier", "id": "s"}}, "context": {{"amount": {amount}}}}}"#
        )
    };
    let requests =
        write(&dir, "r.jsonl", [order("4000.00"), order("4000.00"), order("4000.00"), order("-5.00")].join("\n"));
    let out = ward(&["eval", "--policy", &policy, "--requests", &requests]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let effects: Vec<&str> = lines.iter().map(|l| l["effect"].as_str().unwrap()).collect();
    assert_eq!(effects, ["allow", "allow", "deny", "deny"]);
    let budget = &lines[1]["limits"][0]["budget"];
    assert_eq!(budget["used"], "4000.0", "{}", lines[1]);
    assert_eq!(budget["remaining"], "2000.0", "{}", lines[1]);
    assert_eq!(lines[1]["limits"][0]["remaining"], 2000);
    assert!(lines[2]["limits"][0]["retry_after_ms"].as_i64().is_some_and(|ms| ms > 0), "{}", lines[2]);
    assert!(lines[3].to_string().contains("is negative"), "{}", lines[3]);
    let out = ward(&["explain", "--policy", &policy, "--requests", &requests]);
    let text = stdout(&out);
    assert!(text.contains("sum limit `p.spend`"), "{text}");
    assert!(text.contains("budget of 10000.0 per 86400000 ms exceeded"), "{text}");
    // A sum of a string is refused by the checker.
    let bad = write(&dir, "bad.ward", BUDGET.replace("sum(context.amount)", "sum(principal)"));
    let out = ward(&["check", &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("E0235") || stderr(&out).contains("E0235"), "{}{}", stdout(&out), stderr(&out));
}

/// Entity tags end to end: fixtures give them, `ward test` decides on them,
/// `ward eval` reads them from Cedar's entity JSON, and a tag of the wrong
/// type is refused naming the entity and the tag.
#[test]
fn entity_tags_are_tested_and_evaluated() {
    let dir = scratch("entity-tags");
    let policy = write(
        &dir,
        "docs.ward",
        r#"schema docs {
  entity User tags Set<String>
  entity Doc { owner: User } tags String
  action read by [User] on [Doc]
}

policy docs {
  @id("same-team")
  permit action: read
    when resource.has_tag("team") && principal.has_tag("teams")
      && principal.get_tag("teams").contains(resource.get_tag("team"))
}

fixture docs {
  entity User::"ana" tags { teams: ["cx", "ops"] }
  entity User::"bo"
  entity Doc::"d1" { owner: User::"ana" } tags { team: "cx" }
  entity Doc::"d2" { owner: User::"ana" }
}

test "a team member reads the team's documents, nobody reads untagged ones" {
  using docs
  request { principal: User::"ana", action: read, resource: Doc::"d1" }
  expect allow by "docs.same-team"
  request { principal: User::"bo", action: read, resource: Doc::"d1" }
  expect deny
  request { principal: User::"ana", action: read, resource: Doc::"d2" }
  expect deny
}
"#,
    );
    let out = ward(&["check", "--deny", "warnings", &policy]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = ward(&["test", &policy]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("1 passed, 0 failed"), "{}", stdout(&out));
    let entities = write(
        &dir,
        "entities.json",
        r#"[{"uid": "User::\"cy\"", "tags": {"teams": ["legal"]}},
            {"uid": "Doc::\"d9\"", "attrs": {"owner": "User::\"cy\""}, "tags": {"team": "legal"}}]"#,
    );
    let requests = write(
        &dir,
        "r.jsonl",
        "{\"principal\": \"User::\\\"cy\\\"\", \"action\": \"read\", \"resource\": \"Doc::\\\"d9\\\"\", \"context\": {}}\n",
    );
    let out = ward(&["eval", "--policy", &policy, "--requests", &requests, "--entities", &entities]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("\"allow\""), "{}", stdout(&out));
    let wrong = write(
        &dir,
        "wrong.json",
        r#"[{"uid": "Doc::\"d9\"", "attrs": {"owner": "User::\"cy\""}, "tags": {"team": 7}}]"#,
    );
    let out = ward(&["eval", "--policy", &policy, "--requests", &requests, "--entities", &wrong]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("Doc::\"d9\", tag `team`") && stderr(&out).contains("expected a string"),
        "{}",
        stderr(&out)
    );
}
