//! `ward-bench-mem ward|cedar RULES`: the memory a compiled policy set of
//! RULES generated rules holds, measured in a fresh process (the `report`
//! command runs one per engine and size) and printed as one JSON object.
//!
//! Two measures: the heap bytes still allocated once the engine is built and
//! the compiler's transients are freed (a counting global allocator, which
//! is why this is a binary of its own: the latency measurements run without
//! it), and the growth of the resident set, which also holds the JIT's
//! code pages (mapped outside the heap) and heap the allocator kept.

use std::alloc::System;
use std::hint::black_box;
use std::process::ExitCode;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use ward_bench::contenders;
use ward_bench::scale::ScaleSet;
use ward_runtime::engine::Backend;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(engine), Some(Ok(rules))) = (args.first(), args.get(1).map(|r| r.parse::<usize>())) else {
        eprintln!("usage: ward-bench-mem ward|cedar RULES");
        return ExitCode::FAILURE;
    };
    let set = ScaleSet::generate(rules, 1, 0);
    // The policy set alone: no entities.
    let empty = serde_json::json!([]);
    let rss_before = rss_bytes();
    let region = Region::new(GLOBAL);
    let held: Result<Box<dyn std::any::Any>, String> = match engine.as_str() {
        "ward" => contenders::compile(&set.ward_files(), &empty, Backend::Jit).map(|e| Box::new(e) as Box<_>),
        "cedar" => set
            .cedar_policy
            .parse::<cedar_policy::PolicySet>()
            .map(|p| Box::new(p) as Box<_>)
            .map_err(|e| e.to_string()),
        other => Err(format!("unknown engine `{other}`")),
    };
    let stats = region.change();
    let rss_after = rss_bytes();
    let held = match held {
        Ok(h) => h,
        Err(e) => {
            eprintln!("ward-bench-mem: {e}");
            return ExitCode::FAILURE;
        }
    };
    black_box(&held);
    let heap = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64;
    println!(
        "{}",
        serde_json::json!({
            "engine": engine,
            "rules": rules,
            "heap_bytes": heap.max(0),
            "rss_bytes": rss_after.saturating_sub(rss_before),
        })
    );
    ExitCode::SUCCESS
}
