//! ARCHITECTURE.md's rules, enforced (in the spirit of rust-analyzer's tidy
//! tests): each crate's **Dependencies** line names the workspace crates it
//! may depend on and the crates it must never link; the runtime's **Lean
//! build** line what its build without default features must not link.
//! The facts come from `cargo metadata` and `cargo tree` over Cargo.lock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cargo(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out =
        Command::new(cargo).args(args).args(["--locked", "--offline"]).current_dir(repo()).output().expect("run cargo");
    assert!(out.status.success(), "cargo {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// One crate's rules, as ARCHITECTURE.md states them.
#[derive(Debug, Default)]
struct Rule {
    allowed: BTreeSet<String>,
    never: BTreeSet<String>,
    lean_never: BTreeSet<String>,
}

fn backticked(text: &str) -> BTreeSet<String> {
    text.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// Section heading "### `dir/` (crate `name`)" → its rules.
fn rules() -> BTreeMap<String, Rule> {
    let text = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap();
    let mut out: BTreeMap<String, Rule> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("### ") {
            current = line.split("(crate `").nth(1).and_then(|r| r.split('`').next()).map(str::to_string);
            continue;
        }
        let Some(krate) = &current else { continue };
        if let Some(rest) = line.strip_prefix("**Dependencies**: workspace crates:") {
            let (allowed, never) = rest.split_once("; never:").unwrap_or((rest, ""));
            let rule = out.entry(krate.clone()).or_default();
            rule.allowed = backticked(allowed);
            rule.never = backticked(never);
        } else if let Some(rest) = line.strip_prefix("**Lean build** (`--no-default-features`) never:") {
            out.entry(krate.clone()).or_default().lean_never = backticked(rest);
        }
    }
    out
}

/// Crate names in `cargo tree … --prefix none` output.
fn tree(args: &[&str]) -> BTreeSet<String> {
    let mut all = vec!["tree", "-e", "normal", "--prefix", "none"];
    all.extend_from_slice(args);
    cargo(&all).lines().filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect()
}

#[test]
fn every_crate_keeps_the_dependency_rules_of_architecture_md() {
    let rules = rules();
    let metadata: Value = serde_json::from_str(&cargo(&["metadata", "--format-version", "1", "--no-deps"])).unwrap();
    let members: Vec<&Value> = metadata["packages"].as_array().unwrap().iter().collect();
    let names: BTreeSet<String> = members.iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
    let mut problems = Vec::new();
    for package in &members {
        let name = package["name"].as_str().unwrap();
        let Some(rule) = rules.get(name) else {
            problems.push(format!("{name}: ARCHITECTURE.md has no section with a **Dependencies** line for it"));
            continue;
        };
        for dep in package["dependencies"].as_array().unwrap() {
            let dep_name = dep["name"].as_str().unwrap();
            let kind = dep["kind"].as_str().unwrap_or("normal");
            // Workspace crates a crate may build on (tests may use the testkit).
            if kind == "normal" && names.contains(dep_name) && !rule.allowed.contains(dep_name) {
                problems.push(format!("{name} depends on {dep_name}, which its **Dependencies** line does not allow"));
            }
            // "never" holds for every kind of direct dependency…
            if rule.never.contains(dep_name) {
                problems.push(format!("{name} has a {kind} dependency on {dep_name}, which it must never link"));
            }
        }
        // …and for everything its default build links.
        for linked in tree(&["-p", name]).intersection(&rule.never) {
            problems.push(format!("{name} links {linked} (through a dependency), which it must never link"));
        }
        if !rule.lean_never.is_empty() {
            for linked in tree(&["-p", name, "--no-default-features"]).intersection(&rule.lean_never) {
                problems.push(format!("{name} --no-default-features links {linked}"));
            }
        }
    }
    for krate in rules.keys() {
        if !names.contains(krate) {
            problems.push(format!("ARCHITECTURE.md states rules for `{krate}`, which is not a workspace crate"));
        }
    }
    assert!(problems.is_empty(), "ARCHITECTURE.md's rules are broken:\n{}", problems.join("\n"));
}

#[test]
fn the_rules_are_read_as_written() {
    let rules = rules();
    // A reader that finds nothing would pass everything: check it found the rules.
    let runtime = &rules["ward-runtime"];
    assert!(runtime.lean_never.contains("ward-compiler") && runtime.lean_never.contains("redis"), "{runtime:?}");
    assert!(rules["ward"].never.contains("ward-bench"));
    assert!(!rules["ward-lsp"].allowed.contains("ward-grammar") && rules["ward-lsp"].allowed.contains("ward-compiler"));
    assert!(rules.len() >= 9, "{:?}", rules.keys());
}

#[test]
fn the_shipped_binary_has_no_preserve_order() {
    // What `cargo build -p ward` links: serde_json without `preserve_order`
    // (cedar-policy, a dependency of the benchmark crate only, turns it on).
    let features = cargo(&["tree", "-p", "ward", "-e", "features", "-i", "serde_json"]);
    assert!(!features.contains("preserve_order"), "{features}");
}
