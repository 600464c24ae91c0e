//! Templates and their links, through the real `ward` binary: `eval` and
//! `explain` with `--links`, links refused with the link named, and
//! `analyze` saying that templates are analysed without links.
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

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const POLICY: &str = r#"schema docs {
  entity Team in [Team]
  entity User in [Team]
  entity Folder in [Folder]
  entity Doc in [Folder] { owner: User }
  action view by [User] on [Doc, Folder]
  action edit by [User] on [Doc]
}

policy sharing {
  @id("share")
  @template
  permit principal == ?principal, action: view, resource in ?resource

  @id("team-edit")
  @template
  permit principal in ?principal, action: edit, resource: Doc
    when resource.owner != principal
}
"#;

const ENTITIES: &str = r#"[
  {"uid": {"type": "Team", "id": "ops"}, "attrs": {}, "parents": []},
  {"uid": {"type": "User", "id": "alice"}, "attrs": {}, "parents": [{"type": "Team", "id": "ops"}]},
  {"uid": {"type": "User", "id": "bob"}, "attrs": {}, "parents": []},
  {"uid": {"type": "Folder", "id": "f1"}, "attrs": {}, "parents": []},
  {"uid": {"type": "Doc", "id": "d1"}, "attrs": {"owner": {"type": "User", "id": "bob"}},
   "parents": [{"type": "Folder", "id": "f1"}]}
]"#;

const LINKS: &str = r#"[
  {"template_id": "sharing.share", "new_id": "alice-f1",
   "values": {"?principal": {"type": "User", "id": "alice"}, "?resource": "Folder::\"f1\""}},
  {"template_id": "sharing.team-edit", "new_id": "ops-edit",
   "values": {"?principal": {"__entity": {"type": "Team", "id": "ops"}}}}
]"#;

fn request(dir: &Path, name: &str, who: &str, action: &str) -> String {
    write(
        dir,
        name,
        &format!(
            r#"{{"principal": {{"type": "User", "id": "{who}"}}, "action": "{action}", "resource": {{"type": "Doc", "id": "d1"}}, "context": {{}}}}"#
        ),
    )
}

#[test]
fn eval_and_explain_decide_through_links() {
    let dir = scratch("templates_eval");
    let policy = write(&dir, "p.ward", POLICY);
    let entities = write(&dir, "entities.json", ENTITIES);
    let links = write(&dir, "links.json", LINKS);
    let alice = request(&dir, "alice.json", "alice", "view");
    let bob = request(&dir, "bob.json", "bob", "view");
    let edit = request(&dir, "edit.json", "alice", "edit");
    for backend in ["jit", "interp"] {
        let base = [
            "--policy",
            &policy,
            "--entities",
            &entities,
            "--links",
            &links,
            "--at",
            "2026-01-01",
            "--backend",
            backend,
        ];
        let out = ward(&[&["eval", "--request", &alice][..], &base[..]].concat());
        assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
        let text = stdout(&out);
        assert!(text.contains(r#""effect":"allow""#) && text.contains(r#""rule":"sharing.share[alice-f1]""#), "{text}");
        let out = ward(&[&["eval", "--request", &bob][..], &base[..]].concat());
        assert!(stdout(&out).contains(r#""effect":"deny""#), "{}", stdout(&out));
        let out = ward(&[&["explain", "--request", &edit][..], &base[..]].concat());
        let text = stdout(&out);
        assert!(text.starts_with("ALLOW"), "{text}");
        assert!(
            text.contains("sharing.team-edit[ops-edit]") && text.contains(r#"linked with ?principal = Team::"ops""#),
            "{text}"
        );
    }
    // Without links, a template grants nothing.
    let out = ward(&["eval", "--request", &alice, "--policy", &policy, "--entities", &entities, "--at", "2026-01-01"]);
    assert!(stdout(&out).contains(r#""effect":"deny""#), "{}", stdout(&out));
}

#[test]
fn bad_links_are_refused_naming_the_link() {
    let dir = scratch("templates_bad_links");
    let policy = write(&dir, "p.ward", POLICY);
    let alice = request(&dir, "alice.json", "alice", "view");
    let cases = [
        (r#"[{"template_id": "sharing.shar", "new_id": "x", "values": {}}]"#, "did you mean `sharing.share`"),
        (
            r#"[{"template_id": "sharing.share", "new_id": "x", "values": {"?principal": "User::\"a\""}}]"#,
            "the slot `?resource` of `sharing.share` is not filled",
        ),
        (
            r#"[{"template_id": "sharing.share", "new_id": "x", "values": {"?principal": "Team::\"ops\"", "?resource": "Folder::\"f\""}}]"#,
            "`Team` is a type the slot does not take",
        ),
        (r#"[{"template_id": "sharing.share", "template_id": "sharing.share"}]"#, "template_id"),
    ];
    for (i, (text, wanted)) in cases.iter().enumerate() {
        let links = write(&dir, &format!("links{i}.json"), text);
        let out = ward(&["eval", "--request", &alice, "--policy", &policy, "--links", &links, "--at", "2026-01-01"]);
        assert_eq!(out.status.code(), Some(1), "case {i}: {}", stdout(&out));
        assert!(stdout(&out).is_empty(), "case {i}: nothing is decided: {}", stdout(&out));
        let err = stderr(&out);
        assert!(err.contains("error: links") && err.contains(wanted), "case {i}: {err}");
        if i < 3 {
            assert!(err.contains("link `x`"), "case {i}: {err}");
        }
    }
}

#[test]
fn check_reports_slots_outside_templates() {
    let dir = scratch("templates_check");
    let bad = POLICY.replace("  @id(\"share\")\n  @template\n", "  @id(\"share\")\n");
    let file = write(&dir, "bad.ward", &bad);
    let out = ward(&["check", &file]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("[E0231]") && text.contains("bad.ward:12:23"), "{text}");
    let good = write(&dir, "good.ward", POLICY);
    let out = ward(&["check", &good]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = ward(&["fmt", "--check", &good]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn analyze_says_templates_are_analysed_without_links() {
    if ward_analyze::solver::Solver::locate(Some("z3"), std::time::Duration::from_secs(10)).is_err() {
        ward_testkit::missing("smt", "z3 not found", "scripts/test provisions z3 (scripts/provision/smt.sh)");
        return;
    }
    let dir = scratch("templates_analyze");
    let policy = write(&dir, "p.ward", POLICY);
    let out = ward(&["analyze", &policy, "--solver", "z3"]);
    let text = stdout(&out);
    assert!(
        text.contains("`sharing.share`")
            && text.contains("a `@template` rule is analysed without links")
            && text.contains("the proofs hold for the policy with no links"),
        "{text}{}",
        stderr(&out)
    );
}

#[test]
fn ward_test_runs_links_declared_in_test_blocks() {
    let dir = scratch("templates_ward_test");
    let tests = r#"
fixture org {
  entity Team::"ops"
  entity User::"alice" in [Team::"ops"]
  entity User::"bob"
  entity Folder::"f1"
  entity Doc::"d1" in [Folder::"f1"] { owner: User::"bob" }
}

test "a share lets alice view the folder's documents" {
  using org
  request { principal: User::"alice", action: view, resource: Doc::"d1", context: {} }
  expect deny
  link "alice-f1" to "sharing.share" { ?principal: User::"alice", ?resource: Folder::"f1" }
  request { principal: User::"alice", action: view, resource: Doc::"d1", context: {} }
  expect allow by "sharing.share[alice-f1]"
  request { principal: User::"bob", action: view, resource: Doc::"d1", context: {} }
  expect deny
}
"#;
    let file = write(&dir, "p.ward", &format!("{POLICY}{tests}"));
    let out = ward(&["test", &file]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("1 passed, 0 failed") && text.contains("coverage: 1 of 2 rules exercised"), "{text}");
    // A link whose value the slot does not take fails the test, naming the link.
    let bad = tests.replace(r#"?resource: Folder::"f1" }"#, r#"?resource: Team::"ops" }"#);
    let file = write(&dir, "bad.ward", &format!("{POLICY}{bad}"));
    let out = ward(&["test", &file]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("link `alice-f1`") && text.contains("`Team` is a type the slot does not take"), "{text}");
}

/// The customer-support example's escalation links, as its README runs them.
#[test]
fn the_example_escalation_link_allows_one_cross_region_account() {
    let root = env!("CARGO_MANIFEST_DIR");
    let example = format!("{root}/examples/customer-support");
    let links = format!("{example}/links.json");
    let dir = scratch("templates_example");
    let read = |customer: &str| {
        format!(
            r#"{{"principal": "Agent::\"support_bot\"", "action": "read_customer", "resource": "Customer::\"{customer}\"", "context": {{}}}}"#
        )
    };
    let eu = write(&dir, "eu.json", &read("c-2001"));
    let base = ["--policy", &example, "--fixture", "acme_crm", "--at", "2026-11-26"];
    let out = ward(&[&["explain", "--request", &eu, "--links", &links][..], &base[..]].concat());
    let text = stdout(&out);
    assert!(text.starts_with("ALLOW") && text.contains("escalations.read-escalated-account[ticket-4711]"), "{text}");
    assert!(text.contains("mask resource.email"), "{text}");
    let out = ward(&[&["explain", "--request", &eu][..], &base[..]].concat());
    assert!(stdout(&out).starts_with("DENY"), "{}", stdout(&out));
    let out = ward(&["test", &example]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
}

/// A linked rule is its template's: `explain` shows the values its
/// conditions read, and the audit log its `@severity`.
#[test]
fn linked_rules_carry_their_templates_values_and_severity() {
    let dir = scratch("templates_severity");
    let policy = write(
        &dir,
        "p.ward",
        "schema docs {\n  entity User\n  entity Doc { level: Int }\n  action view by User on Doc\n}\n\npolicy p {\n  @id(\"share\")\n  @template\n  @severity(high)\n  permit principal == ?principal, action: view, resource == ?resource when resource.level > 2\n}\n",
    );
    let links = write(
        &dir,
        "links.json",
        r#"[{"template_id": "p.share", "new_id": "x", "values": {"?principal": "User::\"a\"", "?resource": "Doc::\"d\""}}]"#,
    );
    let entities = write(&dir, "entities.json", r#"[{"uid": {"type": "Doc", "id": "d"}, "attrs": {"level": 5}}]"#);
    let request = write(
        &dir,
        "r.json",
        r#"{"principal": "User::\"a\"", "action": "view", "resource": "Doc::\"d\"", "context": {}}"#,
    );
    let log = dir.join("audit.jsonl").display().to_string();
    let out = ward(&[
        "explain",
        "--policy",
        &policy,
        "--links",
        &links,
        "--entities",
        &entities,
        "--request",
        &request,
        "--at",
        "2026-01-01",
        "--audit-log",
        &log,
    ]);
    let text = stdout(&out);
    assert!(text.contains("values in `p.share[x]`: resource.level = 5"), "{text}{}", stderr(&out));
    let audit = std::fs::read_to_string(&log).unwrap();
    assert!(audit.contains(r#""rules":["p.share[x]"]"#) && audit.contains(r#""severity":"high""#), "{audit}");
}
