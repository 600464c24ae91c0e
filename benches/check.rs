//! `ward check` on a generated 1,000-rule project: a cold check, and the
//! incremental re-check after editing one rule (DESIGN.md target ≤ 10 ms).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ward::compiler::{FileId, Options, Origin, Workspace};

#[allow(dead_code)]
#[path = "support/project.rs"]
mod project;

const RULES: usize = 1_000;

fn load() -> (Workspace, Vec<FileId>) {
    let mut ws = Workspace::new(Options::default());
    ws.add_stdlib();
    ws.add_file("schema.ward", &project::schema(), Origin::User);
    let ids = project::policies(RULES).iter().map(|(path, text)| ws.add_file(path, text, Origin::User)).collect();
    (ws, ids)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("check_1000_rules");
    group.sample_size(20);
    group.bench_function("cold", |b| {
        b.iter_batched(
            load,
            |(ws, _)| {
                let diags = ws.diagnostics();
                assert!(diags.is_empty(), "{diags:?}");
            },
            BatchSize::LargeInput,
        )
    });

    let (mut ws, ids) = load();
    assert!(ws.diagnostics().is_empty());
    let edited = 517;
    let file = ids[edited / 100];
    let mut variant = 0;
    group.sample_size(100);
    group.bench_function("recheck_after_one_rule_edit", |b| {
        b.iter(|| {
            variant += 1;
            ws.set_text(file, &project::policy_with_edit(RULES, edited / 100, edited, variant));
            let diags = ws.diagnostics();
            assert!(diags.is_empty());
        })
    });
    let mut spaces = 0;
    group.bench_function("recheck_after_whitespace_edit", |b| {
        b.iter(|| {
            spaces += 1;
            let text = format!(
                "{}{}",
                " ".repeat(spaces % 7),
                project::policy_with_edit(RULES, edited / 100, edited, variant)
            );
            ws.set_text(file, &text);
            ws.diagnostics()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
