//! The shared request corpus (tests/corpus/): every request decided by the
//! `ward` binary must give the recorded decision. python/tests/test_corpus.py
//! holds the Python package to the same file, so both decide identically.
//! `UPDATE_CORPUS=1` rewrites the decisions (review the diff).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;
use std::process::Command;

use serde_json::Value as Json;

#[test]
fn the_binary_decides_the_corpus_as_recorded() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest: Vec<Json> =
        serde_json::from_str(&std::fs::read_to_string(root.join("tests/corpus/manifest.json")).unwrap()).unwrap();
    let update = std::env::var_os("UPDATE_CORPUS").is_some();
    let mut checked = 0;
    for case in &manifest {
        let field = |k: &str| case[k].as_str().unwrap().to_string();
        let out = Command::new(env!("CARGO_BIN_EXE_ward"))
            .current_dir(root)
            .args(["eval", "--policy", &field("policy"), "--fixture", &field("fixture")])
            .args(["--requests", &field("requests"), "--at", &field("at")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: {}", field("name"), String::from_utf8_lossy(&out.stderr));
        let actual: Vec<Json> =
            String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let requests = std::fs::read_to_string(root.join(field("requests"))).unwrap();
        assert_eq!(actual.len(), requests.lines().filter(|l| !l.trim().is_empty()).count(), "{}", field("name"));
        let path = root.join(field("decisions"));
        if update {
            let text: Vec<String> = actual.iter().map(|d| serde_json::to_string(d).unwrap()).collect();
            std::fs::write(&path, text.join("\n") + "\n").unwrap();
            continue;
        }
        let expected: Vec<Json> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(expected.len(), actual.len(), "{}: number of decisions", field("name"));
        for (i, (e, a)) in expected.iter().zip(&actual).enumerate() {
            assert_eq!(e, a, "{} request {} (line {})", field("name"), i, i + 1);
            checked += 1;
        }
    }
    assert!(update || checked > 50, "the corpus holds {checked} decisions");
}
