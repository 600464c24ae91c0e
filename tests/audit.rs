//! The audit log through the real binary: a writer killed mid-stream loses
//! at most the record in flight and the chain verifies up to it; edits,
//! dropped, swapped and cut records are found and named by line; reopening
//! a log appends to its chain.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ward")).args(args).env("NO_COLOR", "1").output().expect("run ward")
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("audit-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A policy with a few rules, entities, and `n` requests that exercise them.
fn project(dir: &Path, n: usize) -> (String, String, String) {
    let policy = "schema s {\n  entity Team\n  entity User in [Team] { level: Int }\n  entity Doc { owner: User }\n  \
                  action read, write, delete by [User] on [Doc] with { reason: String }\n}\n\n\
                  policy p {\n  @id(\"read\")\n  permit action: read when principal.level >= 1\n  \
                  @id(\"write-own\")\n  permit action: write when resource.owner == principal\n  \
                  @id(\"delete-ops\")\n  permit action: delete when principal in Team::\"ops\"\n  \
                  @id(\"no-delete-juniors\")\n  forbid action: delete when principal.level < 2\n}\n";
    let mut entities = vec![serde_json::json!({"uid": {"type": "Team", "id": "ops"}})];
    for u in 0..10 {
        entities.push(serde_json::json!({
            "uid": {"type": "User", "id": format!("u{u}")},
            "attrs": {"level": u % 4},
            "parents": if u % 2 == 0 { vec![serde_json::json!({"type": "Team", "id": "ops"})] } else { vec![] },
        }));
    }
    for d in 0..10 {
        entities.push(serde_json::json!({
            "uid": {"type": "Doc", "id": format!("d{d}")},
            "attrs": {"owner": {"type": "User", "id": format!("u{}", d % 10)}},
        }));
    }
    let mut requests = String::new();
    for i in 0..n {
        let action = ["read", "write", "delete"][i % 3];
        let r = serde_json::json!({
            "principal": {"type": "User", "id": format!("u{}", i % 10)},
            "action": action,
            "resource": {"type": "Doc", "id": format!("d{}", (i / 3) % 10)},
            "context": {"reason": format!("request {i}")},
        });
        requests.push_str(&r.to_string());
        requests.push('\n');
    }
    let write = |name: &str, body: &str| {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        path.display().to_string()
    };
    (
        write("policy.ward", policy),
        write("entities.json", &serde_json::to_string(&entities).unwrap()),
        write("requests.jsonl", &requests),
    )
}

fn eval_logged(policy: &str, entities: &str, requests: &str, log: &str) -> Output {
    ward(&[
        "eval",
        "--policy",
        policy,
        "--entities",
        entities,
        "--requests",
        requests,
        "--at",
        "2026-11-26T10:00:00Z",
        "--audit-log",
        log,
    ])
}

/// `ward audit verify`: the record count it reports, or its error.
fn verify(log: &Path) -> Result<(u64, String), String> {
    let out = ward(&["audit", "verify", &log.display().to_string()]);
    let stdout = text(&out.stdout);
    assert_ne!(out.status.code(), Some(101), "verify panicked: {}", text(&out.stderr));
    if out.status.success() {
        let n = stdout
            .split_whitespace()
            .zip(stdout.split_whitespace().skip(1))
            .find(|(_, w)| *w == "records")
            .and_then(|(n, _)| n.parse().ok())
            .unwrap_or_else(|| panic!("no record count in {stdout}"));
        Ok((n, stdout))
    } else {
        Err(stdout)
    }
}

#[test]
fn a_writer_killed_mid_stream_loses_at_most_the_record_in_flight() {
    let dir = scratch("kill");
    let (policy, entities, requests) = project(&dir, 200_000);
    let log = dir.join("audit.log");
    let printed = dir.join("decisions.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args([
            "eval",
            "--policy",
            &policy,
            "--entities",
            &entities,
            "--requests",
            &requests,
            "--at",
            "2026-11-26T10:00:00Z",
            "--audit-log",
            &log.display().to_string(),
            "--audit-sync",
            "record",
        ])
        .stdout(Stdio::from(std::fs::File::create(&printed).unwrap()))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let it write a few hundred records (fsync each), then kill it without
    // warning: SIGKILL, no destructors, no flush.
    let started = Instant::now();
    while std::fs::read(&log).map_or(0, |b| b.iter().filter(|c| **c == b'\n').count()) < 200 {
        assert!(started.elapsed() < Duration::from_secs(120), "the writer made no progress");
        assert!(child.try_wait().unwrap().is_none(), "the writer finished before it could be killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not finished");

    // Every decision the writer printed (acknowledged) is in the log; at
    // most one more (appended, not yet printed) is, and a record cut short
    // by the kill is reported, not counted.
    let printed = std::fs::read_to_string(&printed).unwrap();
    let acknowledged = printed.lines().filter(|l| l.ends_with('}')).count() as u64;
    let (records, report) = verify(&log).unwrap_or_else(|e| panic!("the log of a killed writer must verify: {e}"));
    assert!(records >= 200, "{report}");
    assert!(
        records >= acknowledged && records <= acknowledged + 1,
        "{records} records, {acknowledged} decisions printed\n{report}"
    );
    println!("killed after {records} records ({acknowledged} printed): {report}");

    // The record in flight, cut short: the chain still verifies up to it.
    let mut bytes = std::fs::read(&log).unwrap();
    let complete = bytes.iter().rposition(|c| *c == b'\n').map_or(0, |p| p + 1);
    bytes.truncate(complete);
    let last = text(&bytes).lines().last().unwrap().to_string();
    let seq: u64 = serde_json::from_str::<serde_json::Value>(&last).unwrap()["seq"].as_u64().unwrap();
    let next = last.replacen(&format!("\"seq\":{seq}"), &format!("\"seq\":{}", seq + 1), 1);
    bytes.extend_from_slice(&next.as_bytes()[..next.len() / 2]);
    std::fs::write(&log, &bytes).unwrap();
    let (after_cut, report) =
        verify(&log).unwrap_or_else(|e| panic!("a record cut short must not break the chain: {e}"));
    assert_eq!(after_cut, seq, "{report}");
    assert!(report.contains("cut short"), "{report}");

    // Reopening drops the partial record and continues the chain.
    let (_, _, few) = project(&dir, 7);
    let out = eval_logged(&policy, &entities, &few, &log.display().to_string());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (reopened, report) = verify(&log).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reopened, seq + 7, "{report}");
    assert!(!report.contains("cut short"), "{report}");
}

/// A log of 12 records and its lines.
fn small_log(dir: &Path) -> (PathBuf, Vec<String>) {
    let (policy, entities, requests) = project(dir, 12);
    let log = dir.join("audit.log");
    let out = eval_logged(&policy, &entities, &requests, &log.display().to_string());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 12);
    assert_eq!(verify(&log).map(|(n, _)| n), Ok(12));
    (log, lines)
}

fn expect_broken_at(log: &Path, content: &[u8], line: usize, what: &str) {
    std::fs::write(log, content).unwrap();
    let err = verify(log).err().unwrap_or_else(|| panic!("{what}: the log still verifies"));
    assert!(err.contains(&format!("line {line}:")), "{what}: {err}");
}

fn joined(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn tampering_is_found_and_named_by_line() {
    let dir = scratch("tamper");
    let (log, lines) = small_log(&dir);
    let original = joined(&lines);

    // Edit one byte, anywhere in a record but its final newline: every
    // position of line 5, each byte replaced by another printable one.
    let offset: usize = lines[..4].iter().map(|l| l.len() + 1).sum();
    for i in 0..lines[4].len() {
        let mut bytes = original.clone().into_bytes();
        let at = offset + i;
        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        expect_broken_at(&log, &bytes, 5, &format!("byte {i} of line 5 edited"));
    }

    // Drop a line.
    let mut dropped = lines.clone();
    dropped.remove(3);
    expect_broken_at(&log, joined(&dropped).as_bytes(), 4, "line 4 dropped");

    // Swap two lines.
    let mut swapped = lines.clone();
    swapped.swap(6, 7);
    expect_broken_at(&log, joined(&swapped).as_bytes(), 7, "lines 7 and 8 swapped");

    // Insert a copy of a line.
    let mut duplicated = lines.clone();
    duplicated.insert(2, lines[1].clone());
    expect_broken_at(&log, joined(&duplicated).as_bytes(), 3, "line 2 duplicated");

    // Truncate in the middle: cut from the middle of line 6 to the middle of line 9.
    let start: usize = lines[..5].iter().map(|l| l.len() + 1).sum::<usize>() + lines[5].len() / 2;
    let end: usize = lines[..8].iter().map(|l| l.len() + 1).sum::<usize>() + lines[8].len() / 2;
    let mut cut = original.clone().into_bytes();
    cut.drain(start..end);
    expect_broken_at(&log, &cut, 6, "lines 6 to 9 cut");

    // A field added, or a record re-serialised with spaces: the hash alone
    // would not see it, the writer's exact bytes do.
    let mut added = lines.clone();
    added[9] = added[9].replacen('{', "{\"approved\":true,", 1);
    expect_broken_at(&log, joined(&added).as_bytes(), 10, "field added to line 10");
    let mut spaced = lines.clone();
    spaced[10] = spaced[10].replace("\":", "\": ");
    expect_broken_at(&log, joined(&spaced).as_bytes(), 11, "line 11 reformatted");

    // Garbage: clear errors, no panic.
    expect_broken_at(&log, b"\xff\xfe not a log\n", 1, "binary garbage");
    expect_broken_at(&log, b"\n", 1, "an empty line");

    // The end of a log cut at a line boundary cannot be told from a shorter
    // log without an anchor: verify reports the head hash for that.
    std::fs::write(&log, joined(&lines[..9])).unwrap();
    let (n, report) = verify(&log).unwrap();
    assert_eq!(n, 9);
    assert!(report.contains("head "), "{report}");
}

#[test]
fn reopening_appends_to_the_chain() {
    let dir = scratch("reopen");
    let (policy, entities, requests) = project(&dir, 25);
    let log = dir.join("audit.log").display().to_string();
    for round in 1..=3 {
        let out = eval_logged(&policy, &entities, &requests, &log);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(verify(Path::new(&log)).map(|(n, _)| n), Ok(25 * round));
    }
    let seqs: Vec<u64> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=75).collect::<Vec<_>>());
}

#[test]
fn a_corrupt_or_missing_log_is_a_clear_error() {
    let dir = scratch("corrupt");
    let (log, lines) = small_log(&dir);
    let (policy, entities, requests) = project(&dir, 3);
    let mut swapped = lines.clone();
    swapped.swap(1, 2);
    std::fs::write(&log, joined(&swapped)).unwrap();
    // Appending to a log that does not verify would hide the tampering.
    let out = eval_logged(&policy, &entities, &requests, &log.display().to_string());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("does not verify: line 2"), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "nothing may be decided unaudited: {}", text(&out.stdout));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), joined(&swapped), "the log was modified");

    let missing = ward(&["audit", "verify", &dir.join("nope.log").display().to_string()]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stdout).contains("cannot read"), "{}", text(&missing.stdout));
}

#[test]
fn a_line_without_end_is_a_clear_error_not_an_unbounded_read() {
    // /dev/zero: an endless "line". Under a 2 GB address-space limit, an
    // unbounded read aborts on allocation failure; a bounded one names the problem.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v 2000000; exec {} audit verify /dev/zero", env!("CARGO_BIN_EXE_ward")))
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("line 1:") && stdout.contains("longer than"), "{stdout}");
}

#[test]
fn expect_head_finds_a_log_cut_at_a_record_boundary() {
    let dir = scratch("expect-head");
    let (log, lines) = small_log(&dir);
    let (_, report) = verify(&log).unwrap();
    let head = report.lines().find_map(|l| l.strip_prefix("head ")).unwrap().trim().to_string();
    let path = log.display().to_string();
    let out = ward(&["audit", "verify", &path, "--expect-head", &head]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));

    std::fs::write(&log, joined(&lines[..9])).unwrap();
    let out = ward(&["audit", "verify", &path, "--expect-head", &head]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let said = text(&out.stdout);
    assert!(said.contains("truncated") && said.contains(&head), "{said}");

    // A head that is not in the log at all: edited, or another log.
    let out = ward(&["audit", "verify", &path, "--expect-head", &"ab".repeat(32)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let out = ward(&["audit", "verify", &path, "--expect-head", "nothex"]);
    assert_eq!(out.status.code(), Some(2), "a malformed hash is a usage error: {}", text(&out.stderr));
}

fn keygen(dir: &Path, name: &str) -> (String, String) {
    let prefix = dir.join(name);
    let out = ward(&["keygen", "-o", &prefix.display().to_string()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    (format!("{}.key", prefix.display()), format!("{}.pub", prefix.display()))
}

fn eval_signed(dir: &Path, n: usize, log: &Path, key: &str) {
    let (policy, entities, requests) = project(dir, n);
    let out = ward(&[
        "eval",
        "--policy",
        &policy,
        "--entities",
        &entities,
        "--requests",
        &requests,
        "--at",
        "2026-11-26T10:00:00Z",
        "--audit-log",
        &log.display().to_string(),
        "--audit-key",
        key,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

fn verify_signed(log: &Path, public: &str) -> Output {
    ward(&["audit", "verify", &log.display().to_string(), "--trusted-key", public])
}

#[test]
fn signed_checkpoints_find_a_log_cut_at_a_record_boundary() {
    let dir = scratch("checkpoints");
    let (key, public) = keygen(&dir, "audit");
    let (_, other) = keygen(&dir, "other");
    let log = dir.join("audit.log");
    eval_signed(&dir, 12, &log, &key);
    let out = verify_signed(&log, &public);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("checkpoint"), "{}", text(&out.stdout));
    // The log says who sealed it; another key is not trusted.
    let out = verify_signed(&log, &other);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));

    // Cut at every record boundary: each shorter log is found out.
    let lines: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(str::to_string).collect();
    for keep in 0..lines.len() {
        std::fs::write(&log, joined(&lines[..keep])).unwrap();
        let out = verify_signed(&log, &public);
        assert_eq!(out.status.code(), Some(1), "cut to {keep} lines: {}", text(&out.stdout));
        assert!(text(&out.stdout).contains("checkpoint"), "{}", text(&out.stdout));
    }
    // Without a trusted key the chain alone still verifies (what a cut log looks like otherwise).
    std::fs::write(&log, joined(&lines[..6])).unwrap();
    assert!(verify(&log).is_ok());

    // A signature that does not verify is found even without --trusted-key.
    std::fs::write(&log, joined(&lines)).unwrap();
    let last = lines.last().unwrap();
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    let sig = v["checkpoint"]["signature"].as_str().unwrap().to_string();
    let flipped = format!("{}{}", if sig.starts_with('A') { "B" } else { "A" }, &sig[1..]);
    let mut forged = lines.clone();
    *forged.last_mut().unwrap() = last.replace(&sig, &flipped);
    std::fs::write(&log, joined(&forged)).unwrap();
    assert!(verify(&log).is_err(), "a bad checkpoint signature");

    // Reopened and appended to: sealed again at the end.
    std::fs::write(&log, joined(&lines)).unwrap();
    eval_signed(&dir, 5, &log, &key);
    let out = verify_signed(&log, &public);
    assert!(out.status.success(), "{}", text(&out.stdout));
}
