//! The tamper-evident audit log: one JSON line per decision, each carrying
//! the hash of the one before (a hash chain), so that an edited, dropped,
//! inserted or reordered record breaks the chain at that record.
//!
//! A record holds what is needed to account for a decision without holding
//! the data it protected: the principal, action and resource, a SHA-256
//! digest of the whole request (context included), the effect, the deciding
//! rules, obligations and masks, the policy set's hash and the time.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::decision::Decision;
use crate::request::Request;

/// The hash before the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// When appended records reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fsync` after every record: a crash loses at most the record being written.
    EveryRecord,
    /// `fsync` after this many records or this much time, whichever first.
    Batched { records: usize, interval: Duration },
}

/// What a record says (everything but its chain fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Decision time, milliseconds since the epoch.
    pub time: i64,
    /// The policy set's source hash.
    pub policy: String,
    pub principal: String,
    pub action: String,
    pub resource: String,
    /// SHA-256 of the request's canonical JSON (RFC 8785: context and
    /// delegation chain included, keys sorted), so the digest depends on
    /// the request only, never on map order or build features.
    pub request_digest: String,
    pub effect: String,
    pub rules: Vec<String>,
    pub obligations: Vec<String>,
    pub masks: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl Entry {
    pub fn new(request: &Request, decision: &Decision, policy: &str, time: i64) -> Entry {
        Entry {
            time,
            policy: policy.to_string(),
            principal: request.principal.to_string(),
            action: request.action.clone(),
            resource: request.resource.to_string(),
            request_digest: request_digest(request),
            effect: decision.effect.as_str().to_string(),
            rules: decision.reasons.iter().filter_map(|r| r.rule.clone()).collect(),
            obligations: decision.obligations.iter().map(|o| o.name.clone()).collect(),
            masks: decision.masks.iter().flat_map(|m| m.paths.iter().cloned()).collect(),
            errors: decision.errors.iter().map(|e| e.message.clone()).collect(),
        }
    }
}

/// SHA-256 (hex) of the request's JSON in the JSON Canonicalization Scheme.
pub fn request_digest(request: &Request) -> String {
    match serde_jcs::to_vec(&request.to_json()) {
        Ok(canonical) => hex(&Sha256::digest(&canonical)),
        // A `serde_json::Value` always canonicalizes; say so if it ever does not.
        Err(e) => format!("unavailable: {e}"),
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    #[serde(flatten)]
    pub entry: Entry,
    pub prev: String,
    pub hash: String,
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
    }
    out
}

/// The hash of a record: SHA-256 over the previous hash, the sequence
/// number and the entry's canonical JSON (fields in declaration order).
pub fn chain_hash(prev: &str, seq: u64, entry: &Entry) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(serde_json::to_string(entry).unwrap_or_default().as_bytes());
    hex(&h.finalize())
}

#[derive(Debug)]
pub enum AuditError {
    Io(String),
    /// The existing log does not verify: appending to it would hide that.
    Corrupt(VerifyError),
}

impl std::fmt::Display for AuditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditError::Io(e) => write!(f, "audit log: {e}"),
            AuditError::Corrupt(e) => write!(f, "audit log does not verify: {e}"),
        }
    }
}

impl std::error::Error for AuditError {}

struct Writer {
    out: BufWriter<File>,
    seq: u64,
    head: String,
    unsynced: usize,
    last_sync: Instant,
}

/// An append-only audit log.
pub struct AuditLog {
    path: PathBuf,
    durability: Durability,
    writer: Mutex<Writer>,
}

impl AuditLog {
    /// Opens (or creates) the log at `path`, verifying what is there so the
    /// chain continues from its head. A record cut short by a crash is
    /// removed (it was never complete, so never acknowledged).
    pub fn open(path: &Path, durability: Durability) -> Result<AuditLog, AuditError> {
        let io = |e: std::io::Error| AuditError::Io(format!("{}: {e}", path.display()));
        let (seq, head, valid_len) = if path.exists() {
            let report = verify(path).map_err(AuditError::Corrupt)?;
            (report.records, report.head, report.valid_bytes)
        } else {
            (0, GENESIS.to_string(), 0)
        };
        let file = OpenOptions::new().create(true).append(true).read(true).open(path).map_err(io)?;
        if file.metadata().map_err(io)?.len() > valid_len {
            file.set_len(valid_len).map_err(io)?;
        }
        Ok(AuditLog {
            path: path.to_path_buf(),
            durability,
            writer: Mutex::new(Writer { out: BufWriter::new(file), seq, head, unsynced: 0, last_sync: Instant::now() }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a record; returns its hash (the new head).
    pub fn append(&self, entry: Entry) -> Result<String, AuditError> {
        let mut w = self.writer.lock().map_err(|_| AuditError::Io("the audit writer is poisoned".into()))?;
        let seq = w.seq + 1;
        let hash = chain_hash(&w.head, seq, &entry);
        let record = Record { seq, entry, prev: w.head.clone(), hash: hash.clone() };
        let line = serde_json::to_string(&record).map_err(|e| AuditError::Io(e.to_string()))?;
        let io = |e: std::io::Error| AuditError::Io(e.to_string());
        w.out.write_all(line.as_bytes()).map_err(io)?;
        w.out.write_all(b"\n").map_err(io)?;
        w.seq = seq;
        w.head = hash.clone();
        w.unsynced += 1;
        let due = match self.durability {
            Durability::EveryRecord => true,
            Durability::Batched { records, interval } => w.unsynced >= records || w.last_sync.elapsed() >= interval,
        };
        if due {
            w.out.flush().map_err(io)?;
            w.out.get_ref().sync_data().map_err(io)?;
            w.unsynced = 0;
            w.last_sync = Instant::now();
        }
        Ok(hash)
    }

    /// Writes and syncs everything appended so far.
    pub fn sync(&self) -> Result<(), AuditError> {
        let mut w = self.writer.lock().map_err(|_| AuditError::Io("the audit writer is poisoned".into()))?;
        let io = |e: std::io::Error| AuditError::Io(e.to_string());
        w.out.flush().map_err(io)?;
        w.out.get_ref().sync_data().map_err(io)?;
        w.unsynced = 0;
        Ok(())
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        let _ = self.sync();
    }
}

/// The outcome of verifying a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub records: u64,
    /// The last record's hash: anchor it elsewhere to detect truncation.
    pub head: String,
    /// The final line was cut short (a writer stopped mid-record); it is
    /// not counted.
    pub truncated_tail: bool,
    /// Bytes of complete, verified records.
    pub valid_bytes: u64,
}

/// Where and why a log fails to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    /// 1-based line number.
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Verifies the chain of the log at `path`.
pub fn verify(path: &Path) -> Result<Report, VerifyError> {
    let file = File::open(path)
        .map_err(|e| VerifyError { line: 0, message: format!("cannot read {}: {e}", path.display()) })?;
    let mut reader = BufReader::new(file);
    let mut head = GENESIS.to_string();
    let mut expected_seq = 1u64;
    let mut valid_bytes = 0u64;
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| VerifyError { line: line_no + 1, message: e.to_string() })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let complete = buf.ends_with(b"\n");
        let line = std::str::from_utf8(&buf).ok().map(|t| t.strip_suffix('\n').unwrap_or(t));
        let parsed = line.and_then(|t| serde_json::from_str::<Record>(t).ok().map(|r| (r, t)));
        let (record, text) = match (parsed, complete) {
            (Some(r), _) => r,
            (None, false) => {
                // The writer stopped mid-record: everything before it stands.
                return Ok(Report { records: expected_seq - 1, head, truncated_tail: true, valid_bytes });
            }
            (None, true) => return Err(VerifyError { line: line_no, message: "not a valid audit record".to_string() }),
        };
        if record.seq != expected_seq {
            let what = if record.seq > expected_seq {
                "a record is missing before it"
            } else {
                "records are out of order or duplicated"
            };
            return Err(VerifyError {
                line: line_no,
                message: format!("sequence {} where {expected_seq} was expected: {what}", record.seq),
            });
        }
        if record.prev != head {
            return Err(VerifyError {
                line: line_no,
                message:
                    "its `prev` does not match the previous record's hash: a record was removed, inserted or reordered"
                        .to_string(),
            });
        }
        let hash = chain_hash(&record.prev, record.seq, &record.entry);
        if hash != record.hash {
            return Err(VerifyError {
                line: line_no,
                message: "its contents do not match its hash: the record was edited".to_string(),
            });
        }
        // The hash covers what the record says; the line must also be
        // exactly what the writer wrote (no field added, nothing reformatted).
        if serde_json::to_string(&record).ok().as_deref() != Some(text) {
            return Err(VerifyError {
                line: line_no,
                message: "it is not byte for byte the record the writer wrote: the record was edited".to_string(),
            });
        }
        if !complete {
            return Ok(Report { records: expected_seq - 1, head, truncated_tail: true, valid_bytes });
        }
        head = hash;
        expected_seq += 1;
        valid_bytes += n as u64;
    }
    Ok(Report { records: expected_seq - 1, head, truncated_tail: false, valid_bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_digest_is_over_canonical_json_whatever_the_key_order() {
        let a = Request::from_json_str(
            r#"{"principal": {"type": "Agent", "id": "bot"}, "action": "read",
            "resource": {"type": "Doc", "id": "d"}, "context": {"b": 1, "a": {"y": true, "x": 2.5}}}"#,
        );
        let b = Request::from_json_str(
            r#"{"context": {"a": {"x": 2.5, "y": true}, "b": 1}, "resource": {"id": "d",
            "type": "Doc"}, "action": "read", "principal": {"id": "bot", "type": "Agent"}}"#,
        );
        let (a, b) = (a.unwrap_or_else(|e| unreachable!("{e}")), b.unwrap_or_else(|e| unreachable!("{e}")));
        assert_eq!(request_digest(&a), request_digest(&b));
        // RFC 8785: keys sorted, no whitespace — whatever serde_json's map
        // order is in this build (`preserve_order` or not).
        let canonical = r#"{"action":"read","context":{"a":{"x":2.5,"y":true},"b":1},"principal":{"id":"bot","type":"Agent"},"resource":{"id":"d","type":"Doc"}}"#;
        assert_eq!(request_digest(&a), hex(&Sha256::digest(canonical.as_bytes())));
    }

    fn entry(i: i64) -> Entry {
        Entry {
            time: i,
            policy: "p".into(),
            principal: "User::\"a\"".into(),
            action: "read".into(),
            resource: "Doc::\"d\"".into(),
            request_digest: "00".into(),
            effect: "allow".into(),
            rules: vec!["p.1".into()],
            obligations: vec![],
            masks: vec![],
            errors: vec![],
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ward-audit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        dir
    }

    fn write_log(path: &Path, n: i64) {
        let log = AuditLog::open(path, Durability::EveryRecord).unwrap_or_else(|e| unreachable!("{e}"));
        for i in 0..n {
            let _ = log.append(entry(i));
        }
    }

    #[test]
    fn a_clean_log_verifies_and_reopening_continues_the_chain() {
        let path = temp("clean");
        write_log(&path, 3);
        write_log(&path, 2);
        let report = verify(&path).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(report.records, 5);
        assert!(!report.truncated_tail);
    }

    #[test]
    fn edits_drops_and_reorders_are_detected() {
        let path = temp("tamper");
        write_log(&path, 4);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let check = |content: String, expect: &str| {
            std::fs::write(&path, content).unwrap_or(());
            let err = verify(&path).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(expect), "{err}");
        };
        check(text.replace("\"allow\"", "\"deny\""), "edited");
        check(format!("{}\n{}\n{}\n", lines[0], lines[2], lines[3]), "missing");
        check(format!("{}\n{}\n{}\n{}\n", lines[0], lines[2], lines[1], lines[3]), "sequence");
        check(format!("{}\n{}\n{}\n{}\n{}\n", lines[0], lines[1], lines[1], lines[2], lines[3]), "sequence");
        let added = lines[1].replacen('{', "{\"note\":\"fine\",", 1);
        check(format!("{}\n{added}\n{}\n{}\n", lines[0], lines[2], lines[3]), "line 2: it is not byte for byte");
        let spaced = lines[2].replacen(',', ", ", 1);
        check(format!("{}\n{}\n{spaced}\n{}\n", lines[0], lines[1], lines[3]), "line 3: it is not byte for byte");
    }

    #[test]
    fn a_record_cut_short_is_ignored_and_then_removed() {
        let path = temp("cut");
        write_log(&path, 3);
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str("{\"seq\":4,\"time\":");
        std::fs::write(&path, &text).unwrap_or(());
        let report = verify(&path).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((report.records, report.truncated_tail), (3, true));
        write_log(&path, 1);
        let report = verify(&path).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((report.records, report.truncated_tail), (4, false));
    }
}
