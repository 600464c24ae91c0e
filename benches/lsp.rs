//! `ward lsp` end to end: the time from a one-character `didChange` in a
//! 1,000-rule project to the `publishDiagnostics` that follows, through the
//! protocol on the real binary's stdin and stdout (issue 8 target: ≤ 50 ms,
//! the 15 ms debounce included).
//!
//! Each edit toggles one character of rule 515 (`resource.size` ↔
//! `resource.sizf`), so every edit changes the file's diagnostics and is
//! published.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

#[path = "support/project.rs"]
#[allow(dead_code)] // shared with other benchmarks
mod project;

#[path = "../tests/support/lsp_client.rs"]
mod lsp_client;

const RULES: usize = 1_000;
const EDITED: usize = 515;

fn bench(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lsp_bench_project");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(dir.join("schema.ward"), project::schema()).unwrap();
    for (path, text) in project::policies(RULES) {
        std::fs::write(dir.join(path), text).unwrap();
    }
    let file = dir.join(format!("policies/p{}.ward", EDITED / 100));
    let text = std::fs::read_to_string(&file).unwrap();
    // Rule 517's `resource.size`: where the one character changes.
    let rule_at = text.find(&format!("@id(\"r{EDITED}\")")).unwrap();
    let size_at = rule_at + text[rule_at..].find("resource.size").unwrap() + "resource.siz".len();
    let before = &text[..size_at];
    let line = before.matches('\n').count();
    let character = before.len() - before.rfind('\n').map_or(0, |i| i + 1);
    let range = json!({ "start": { "line": line, "character": character }, "end": { "line": line, "character": character + 1 } });

    let mut lsp = lsp_client::Lsp::start(env!("CARGO_BIN_EXE_ward"), &[]);
    lsp.initialize(&dir, Value::Null);
    let uri = lsp_client::uri(&file);
    lsp.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "ward", "version": 1, "text": text } }),
    );
    let first = lsp.diagnostics(&uri, Duration::from_secs(120)).expect("initial diagnostics");
    assert!(first.is_empty(), "{first:?}");

    let mut version = 1;
    let mut group = c.benchmark_group("lsp_1000_rules");
    group.sample_size(50);
    group.bench_function("diagnostics_after_one_char_edit", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                version += 1;
                let broken = version % 2 == 0;
                let ch = if broken { "f" } else { "e" };
                let start = Instant::now();
                lsp.notify(
                    "textDocument/didChange",
                    json!({ "textDocument": { "uri": uri, "version": version },
                            "contentChanges": [{ "range": range, "text": ch }] }),
                );
                let diags = lsp.diagnostics(&uri, Duration::from_secs(60)).expect("diagnostics after the edit");
                total += start.elapsed();
                assert_eq!(diags.len(), usize::from(broken), "{diags:?}");
            }
            total
        })
    });
    group.finish();
    // Leave the document clean for a rerun, then stop the server.
    if version % 2 == 0 {
        version += 1;
        lsp.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "range": range, "text": "e" }] }),
        );
    }
    let _ = lsp.shutdown();
}

criterion_group!(benches, bench);
criterion_main!(benches);
