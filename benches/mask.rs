//! Masking and audit: detector throughput on clean text and at 1 % PII
//! density, JSON field masking per payload (the customer-support example's
//! real masks), audit-log append cost per decision, and `ward mask` end to
//! end (the real binary, a process per run) over the labelled realistic
//! corpus of tests/support/corpus.rs.
//!
//! `cargo bench --bench mask -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use ward::compiler::{Options, SourceSet};
use ward::runtime::audit::{AuditLog, Durability, Entry};
use ward::runtime::detect::Scanner;
use ward::runtime::engine::{Backend, Engine, FixedClock, Loaded};
use ward::runtime::mask::StaticKeys;
use ward::runtime::masking::Payload;
use ward::runtime::{Request, Store};

#[path = "../tests/support/corpus.rs"]
mod corpus;

const NOW: i64 = 1_790_000_000_000;
const TEXT_BYTES: usize = 4 << 20;

/// The eleven personal-data and credential builtins of `stdlib.pii`, as a
/// policy importing it gets them.
fn pii_scanner() -> Scanner {
    let names: Vec<String> = corpus::Kind::ALL.iter().map(|k| format!("pii.{}", k.detector())).collect();
    scanner_of(&names)
}

fn scanner_of(names: &[String]) -> Scanner {
    let policy = format!(
        "import stdlib.pii\nschema s {{\n  entity User\n  entity Doc\n  action read by [User] on [Doc]\n}}\n\
         policy p {{\n  permit action: read\n  mask text with {} using redact\n}}\n",
        names.join(", ")
    );
    let mut set = SourceSet::default();
    set.add("p.ward", &policy);
    set.add_stdlib();
    let (compiled, _) = ward::compiler::compile(&set, &Options::default()).unwrap_or_else(|d| panic!("{d:#?}"));
    Scanner::new(&compiled.program.detectors).unwrap()
}

fn scan(c: &mut Criterion) {
    let scanner = pii_scanner();
    let prose = corpus::clean_prose(7, TEXT_BYTES);
    let records = corpus::clean_text(7, TEXT_BYTES);
    let (dense, planted) = corpus::text_with_density(7, TEXT_BYTES, 0.01);
    let (mixed, mixed_planted) = corpus::mixed_text(7, TEXT_BYTES);
    let digits = |t: &str| 100.0 * t.bytes().filter(u8::is_ascii_digit).count() as f64 / t.len() as f64;
    eprintln!(
        "clean prose: {} bytes, {:.1} % digits, {} found; clean records and logs: {} bytes, {:.1} % digits, {} found; \
         1 % PII: {} bytes, {planted} values planted, {} found; \
         mixed tickets and logs: {} bytes, {:.1} % digits, {mixed_planted} values planted, {} found",
        prose.len(),
        digits(&prose),
        scanner.find(&prose).len(),
        records.len(),
        digits(&records),
        scanner.find(&records).len(),
        dense.len(),
        scanner.find(&dense).len(),
        mixed.len(),
        digits(&mixed),
        scanner.find(&mixed).len(),
    );
    // `pii.all`: the builtins and the 24 credential patterns (anchored at
    // their start literals).
    let all = scanner_of(&["pii.all".to_string()]);
    let mut group = c.benchmark_group("scan");
    group.sample_size(20);
    for (name, text) in [
        ("clean_prose", &prose),
        ("clean_records_and_logs", &records),
        ("pii_1_percent", &dense),
        ("mixed_tickets_and_logs", &mixed),
    ] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(BenchmarkId::new("all_pii_detectors", name), |b| b.iter(|| scanner.find(text)));
        group.bench_function(BenchmarkId::new("regex_over_every_byte", name), |b| {
            b.iter(|| scanner.find_unfiltered(text))
        });
        group.bench_function(BenchmarkId::new("pii_all_with_secrets", name), |b| b.iter(|| all.find(text)));
    }
    group.finish();
}

/// The customer-support example, its fixture and its first request.
fn support_engine() -> (Engine, Request) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/customer-support");
    let mut set = SourceSet::default();
    for file in ["schema.ward", "policy.ward", "tests.ward"] {
        let path = format!("{root}/{file}");
        set.add(path.clone(), &std::fs::read_to_string(&path).unwrap());
    }
    set.add_stdlib();
    let (compiled, _) = ward::compiler::compile(&set, &Options::default()).unwrap_or_else(|d| panic!("{d:#?}"));
    let program = Arc::new(compiled.program);
    let store = Store::load(Arc::clone(&program), &compiled.fixtures["acme_crm"]).unwrap();
    let engine = Engine::new(Loaded::new(program, store, true), Arc::new(FixedClock::new(NOW)), Backend::Jit);
    let line = std::fs::read_to_string(format!("{root}/requests.jsonl")).unwrap();
    let request = Request::from_json_str(line.lines().next().unwrap()).unwrap();
    (engine, request)
}

/// A customer record as the CRM returns it: the fields the policy masks,
/// free text with personal data in it, and a few orders.
fn crm_record() -> serde_json::Value {
    json!({
        "id": "c-1001",
        "name": "Maria Anders",
        "email": "maria.anders@northwind.example",
        "phone": "+1 415 555 0142",
        "card_number": "4111 1111 1111 1111",
        "ssn": "536-22-8145",
        "region": "na",
        "tier": "standard",
        "notes": "Paid invoice 2211 with card 5500 0000 0000 0004. Backup contact: ops@northwind.example. \
                  Called on 2026-03-12 about order 4716 0312 9983 1457 (not a card), asked to be reached at \
                  +1 (415) 555-0199 instead. Prefers email.",
        "orders": (0..5).map(|i| json!({
            "id": format!("ORD-2026-00{i}41"),
            "placed": format!("2026-0{}-1{i}T10:22:33Z", i + 1),
            "total": format!("{}.99", 40 + i * 13),
            "comment": "Left at the front door; customer confirmed by phone.",
        })).collect::<Vec<_>>(),
        "tickets": [
            {"subject": "Refund", "body": "Please refund to my other card, 3782 822463 10005, thanks! — Maria"},
            {"subject": "Address", "body": "New address is on file. SSN for the invoice is 536-22-8145."}
        ]
    })
}

fn mask_json(c: &mut Criterion) {
    let (engine, request) = support_engine();
    let decision = engine.decide(&request);
    assert!(!decision.masks.is_empty(), "{}", decision.to_json());
    let keys = StaticKeys::new([("cx-email".to_string(), [7u8; 32])].into_iter().collect());
    let record = Payload::Json(crm_record());
    let bytes = record.render().len();
    let mut group = c.benchmark_group("mask_json");
    group.throughput(Throughput::Elements(1));
    group.bench_function(
        BenchmarkId::new("crm_record", format!("{bytes}_bytes_{}_masks", decision.masks.len())),
        |b| {
            b.iter_batched(
                || (decision.clone(), record.clone()),
                |(mut d, mut p)| {
                    engine.mask(&mut d, &mut p, &keys).unwrap();
                    p
                },
                BatchSize::SmallInput,
            )
        },
    );
    group.finish();
}

fn audit(c: &mut Criterion) {
    let (engine, request) = support_engine();
    let decision = engine.decide(&request);
    let policy = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let dir = std::env::temp_dir().join(format!("ward-bench-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut group = c.benchmark_group("audit_append");
    group.throughput(Throughput::Elements(1));
    for (name, durability) in [
        ("batched_256_or_200ms", Durability::Batched { records: 256, interval: Duration::from_millis(200) }),
        ("fsync_every_record", Durability::EveryRecord),
    ] {
        let path = dir.join(format!("{name}.log"));
        let _ = std::fs::remove_file(&path);
        let log = AuditLog::open(&path, durability).unwrap();
        group.bench_function(BenchmarkId::new("per_decision", name), |b| {
            b.iter(|| log.append(Entry::new(&request, &decision, policy, NOW)).unwrap())
        });
        drop(log);
        assert!(ward::runtime::audit::verify(&path).is_ok());
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ward mask --detectors stdlib.pii.all` as a user runs it: process start,
/// compiling the detectors, reading, masking and writing, over the realistic
/// corpus (support chats, CRM exports, clinical notes, logs, e-mails and
/// invoices in six locales with planted PII), as text and as JSON lines.
fn ward_mask_end_to_end(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("ward-bench-mask-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let docs = corpus::corpus(0x5eed_0005, if cfg!(debug_assertions) { 200 } else { 8_000 });
    let text: String = docs.iter().map(|d| format!("{}\n", d.text)).collect();
    let lines: String =
        docs.iter().map(|d| format!("{}\n", serde_json::json!({ "genre": d.genre, "body": d.text }))).collect();
    let mut group = c.benchmark_group("ward_mask_end_to_end");
    group.sample_size(10);
    for (name, file, body) in [("corpus_text", "corpus.txt", &text), ("corpus_jsonl", "corpus.jsonl", &lines)] {
        let path = dir.join(file);
        std::fs::write(&path, body).unwrap();
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(BenchmarkId::new(name, format!("{}_docs_{}_bytes", docs.len(), body.len())), |b| {
            b.iter(|| {
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_ward"))
                    .args(["mask", "--detectors", "stdlib.pii.all"])
                    .arg(&path)
                    .stdout(std::process::Stdio::null())
                    .status()
                    .unwrap();
                assert!(out.success(), "ward mask failed: {out}");
            })
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, scan, mask_json, audit, ward_mask_end_to_end);
criterion_main!(benches);
