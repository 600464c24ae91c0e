//! Project settings: `--max-window` on every compiling command, `ward.toml`
//! and `--deny warnings`, through the real `ward` binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ward")).args(args).env("NO_COLOR", "1").output().expect("run ward")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("project").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// A policy whose flow window (48h) is over the default limit (24h), with a
/// test that passes once it compiles.
const LONG_WINDOW: &str = r#"schema s {
  entity User
  entity Doc
  action read by [User] on [Doc]
  action share by [User] on [Doc]
}

policy p {
  permit action: read
  permit action: share
  forbid action: share when previously within 48h action: read
}

fixture f {
  entity User::"u"
  entity Doc::"d"
}

test "a read blocks sharing for two days" {
  using f
  request { principal: User::"u", action: read, resource: Doc::"d" }
  expect allow
  advance 30h
  request { principal: User::"u", action: share, resource: Doc::"d" }
  expect deny
}
"#;

const REQUEST: &str =
    r#"{"principal": {"type": "User", "id": "u"}, "action": "share", "resource": {"type": "Doc", "id": "d"}}"#;

#[test]
fn max_window_is_accepted_by_test_and_explain() {
    let dir = scratch("max_window");
    let policy = write(&dir, "p.ward", LONG_WINDOW);
    let request = write(&dir, "r.json", REQUEST);
    let explain = |extra: &[&str]| {
        let mut args = vec!["explain", "--policy", &policy, "--request", &request, "--fixture", "f"];
        args.extend_from_slice(extra);
        ward(&args)
    };

    // Without the flag: a clear error naming the limit and the flag.
    for out in [ward(&["test", &policy]), explain(&[])] {
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains("--max-window"), "{}", text(&out));
    }

    let out = ward(&["test", "--max-window", "48h", &policy]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("1 passed, 0 failed"), "{}", text(&out));
    let out = explain(&["--max-window", "48h"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("ALLOW"), "{}", text(&out));
    for command in ["check", "build", "lifecycle"] {
        let mut args = vec![command, "--max-window", "48h", &policy];
        let bundle = dir.join("b.bundle").display().to_string();
        if command == "build" {
            args.extend(["-o", &bundle]);
        }
        let out = ward(&args);
        assert_eq!(out.status.code(), Some(0), "{command}: {}", text(&out));
    }
    let out = ward(&["test", "--max-window", "two days", &policy]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--max-window"), "{}", text(&out));
}

#[test]
fn ward_toml_sets_the_window_and_flags_override_it() {
    let dir = scratch("toml_window");
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    let policy = write(&dir.join("policies"), "p.ward", LONG_WINDOW);
    write(&dir, "ward.toml", "[check]\nmax_window = \"48h\"\n");
    let out = ward(&["test", &policy]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = ward(&["check", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The flag wins over the file.
    let out = ward(&["check", "--max-window", "1h", &policy]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn ward_toml_test_at_starts_test_clocks() {
    let dir = scratch("toml_at");
    // A test without `at` starts at `[test] at` (by default 2026-01-01).
    let policy = r#"schema s {
  entity User
  entity Doc
  action read by [User] on [Doc]
}
policy p {
  permit action: read when now >= 2030-01-01T00:00:00Z
}
test "t" {
  request { principal: User::"u", action: read, resource: Doc::"d" }
  expect allow
}
"#;
    let file = write(&dir, "p.ward", policy);
    let out = ward(&["test", &file]);
    assert_eq!(out.status.code(), Some(1), "the default start is 2026: {}", text(&out));
    write(&dir, "ward.toml", "[test]\nat = \"2030-06-01T00:00:00Z\"\n");
    let out = ward(&["test", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn ward_toml_errors_name_the_file_line_and_key() {
    let dir = scratch("toml_bad");
    let policy = write(&dir, "p.ward", LONG_WINDOW);
    write(&dir, "ward.toml", "[check]\nmax_windw = \"48h\"\n");
    let out = ward(&["check", &policy]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("ward.toml") && shown.contains("line 2") && shown.contains("max_windw"), "{shown}");
    write(&dir, "ward.toml", "[check]\nmax_window = \"soon\"\n");
    let out = ward(&["test", &policy]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("line 2: `check.max_window`"), "{}", text(&out));
}

/// A policy that compiles, with a warning (a permit that can never apply).
const WARNS: &str = r#"schema s {
  entity User
  entity Doc
  action read by [User] on [Doc]
}
policy p {
  permit action: read when false
}
"#;

#[test]
fn deny_warnings_fails_check_test_and_build() {
    let dir = scratch("deny");
    let policy = write(&dir, "p.ward", WARNS);
    let bundle = dir.join("b.bundle").display().to_string();
    let out = ward(&["check", &policy]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("1 warning"), "the fixture must warn: {}", text(&out));
    for args in [
        vec!["check", "--deny", "warnings", &policy],
        vec!["test", "--deny", "warnings", &policy],
        vec!["build", "--deny", "warnings", &policy, "-o", &bundle],
    ] {
        let out = ward(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("warnings are denied"), "{args:?}: {}", text(&out));
    }
    assert!(ward(&["build", &policy, "-o", &bundle]).status.success());
    // The same from ward.toml.
    write(&dir, "ward.toml", "[check]\ndeny_warnings = true\n");
    let out = ward(&["check", &policy]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn paths_in_two_projects_are_refused() {
    let dir = scratch("two");
    for name in ["a", "b"] {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        write(&dir.join(name), "ward.toml", "");
        write(&dir.join(name), "p.ward", WARNS);
    }
    let out = ward(&["check", dir.join("a").to_str().unwrap(), dir.join("b").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("different projects"), "{}", text(&out));
}

#[test]
fn mcp_proxy_accepts_max_window() {
    let dir = scratch("mcp_window");
    let policy = write(&dir, "p.ward", LONG_WINDOW);
    // No agent of that name: the gateway stops after compiling, which is all this tests.
    let proxy = |extra: &[&str]| {
        let mut args = vec!["mcp-proxy", "--policy", &policy, "--agent", "nobody"];
        args.extend_from_slice(extra);
        args.extend(["--", "true"]);
        text(&ward(&args))
    };
    let without = proxy(&[]);
    assert!(without.contains("E0213") && without.contains("--max-window"), "{without}");
    let with = proxy(&["--max-window", "48h"]);
    assert!(!with.contains("E0213") && with.contains("no agent"), "{with}");
}
