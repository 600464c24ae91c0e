//! The tamper-evident audit log: one JSON line per decision, each carrying
//! the hash of the one before (a hash chain), so that an edited, dropped,
//! inserted or reordered record breaks the chain at that record.
//!
//! A record holds what is needed to account for a decision without holding
//! the data it protected: the principal, action and resource, a SHA-256
//! digest of the whole request (context included), the effect, the deciding
//! rules, obligations and masks, the policy set's hash and the time; the
//! highest `@severity` of the deciding rules; for the MCP gateway, who
//! approved a call and what became of a forwarded call (`outcome`, pointing
//! at its decision's `decision_seq`).
//!
//! A hash chain shows edits, drops and reorderings, but not a log cut at a
//! record boundary: a shorter log is a valid chain. Two defences:
//! - the head hash (`ward audit verify` prints it), anchored elsewhere and
//!   checked with `--expect-head`: the record with that hash must be there;
//! - **signed checkpoints**: a writer given an ed25519 key (`ward keygen`,
//!   the bundle keys) appends a checkpoint record every `every` records or
//!   `interval`, and a *closing* one when it closes the log. A checkpoint
//!   signs the chain head it follows. Verified against the trusted public
//!   key, a log must end with a closing checkpoint: a log cut at any record
//!   boundary ends elsewhere (so does the log of a writer that crashed or is
//!   still running — `--live` accepts records after the last checkpoint).
//!   A log cut back to an earlier closing checkpoint (an earlier, complete
//!   state) is found only with `--expect-head`.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::decision::{Decision, Masked};
use crate::request::Request;

/// The longest line (record) the log holds: a reader stops at it with an
/// error instead of reading on, and a writer refuses to write a longer one.
pub const MAX_RECORD_BYTES: usize = 16 << 20;

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
    /// What the masks masked, and how many values (never the values):
    /// present once masks were applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<Masked>,
    /// Which step of a call the record is about when there are several:
    /// `result` for the masking of a tool's result (`ward mcp-proxy`), after
    /// the record of the decision itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The highest `@severity` of the deciding rules (`low` < `medium` < `high` < `critical`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Who lifted an `approval_required` (the MCP gateway: the client's user, by elicitation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// What became of a forwarded call: `ok`, `error` (the server or tool
    /// reported one), `timeout`, `server_gone`, `cancelled`, `withheld`
    /// (answered, but a mask could not be applied: the client got a deny).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// With `outcome`: the `seq` of the record of the decision it completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_seq: Option<u64>,
    /// With `outcome`: the result flows the call's result was recorded in
    /// (flow names, never values: `Engine::record_result_at`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facts: Vec<String>,
    /// With `outcome`: the result flows marked unknown for their window,
    /// because the result could not be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_facts: Vec<String>,
}

/// The rank of a `@severity` value (unknown values rank lowest).
fn severity_rank(s: &str) -> u8 {
    match s {
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        "critical" => 4,
        _ => 0,
    }
}

/// The highest `@severity` among the rules that decided `decision`.
pub fn severity(program: &ward_ir::Program, decision: &Decision) -> Option<String> {
    decision
        .reasons
        .iter()
        .filter_map(|r| r.rule.as_deref())
        // A linked rule has its template's severity.
        .map(crate::links::template_of)
        .filter_map(|id| program.rules.iter().find(|x| x.id == id)?.severity.as_deref())
        .max_by_key(|s| severity_rank(s))
        .map(str::to_string)
}

impl Entry {
    /// With the highest `@severity` of the deciding rules of `program`.
    pub fn with_severity(mut self, program: &ward_ir::Program, decision: &Decision) -> Entry {
        self.severity = severity(program, decision);
        self
    }

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
            masked: decision.masked.clone(),
            stage: None,
            severity: None,
            approved_by: None,
            outcome: None,
            decision_seq: None,
            facts: Vec::new(),
            unknown_facts: Vec::new(),
        }
    }

    /// A request refused before any decision because of its credentials
    /// (`stage` `authentication` or `identity`): effect `deny`, the reason
    /// in `errors`, and as `request_digest` the SHA-256 of what was
    /// presented (a token, or the request as sent), never the thing itself.
    pub fn refusal(time: i64, policy: &str, principal: &str, presented: &[u8], stage: &str, why: &str) -> Entry {
        Entry {
            time,
            policy: policy.to_string(),
            principal: principal.to_string(),
            action: String::new(),
            resource: String::new(),
            request_digest: hex(&Sha256::digest(presented)),
            effect: "deny".to_string(),
            rules: Vec::new(),
            obligations: Vec::new(),
            masks: Vec::new(),
            errors: vec![why.to_string()],
            masked: Vec::new(),
            stage: Some(stage.to_string()),
            severity: None,
            approved_by: None,
            outcome: None,
            decision_seq: None,
            facts: Vec::new(),
            unknown_facts: Vec::new(),
        }
    }

    /// The same entry, about one step of a call (`result`).
    pub fn at_stage(mut self, stage: &str) -> Entry {
        self.stage = Some(stage.to_string());
        self
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

/// A signed checkpoint: the writer's key seals the chain up to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// When it was written, milliseconds since the epoch.
    pub time: i64,
    /// `true` for the checkpoint a writer appends when it closes the log.
    pub closing: bool,
    /// The signer's public key (base64), as `ward keygen` writes it.
    pub key: String,
    /// ed25519 signature (base64) over [`checkpoint_message`].
    pub signature: String,
}

/// What a record says: a decision (or an outcome), or a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Body {
    Checkpoint { checkpoint: Checkpoint },
    Entry(Box<Entry>),
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    #[serde(flatten)]
    pub body: Body,
    pub prev: String,
    pub hash: String,
}

/// The bytes a checkpoint signs: its place in the chain (`seq`, and `prev`,
/// the hash of everything before it), its time and whether it closes the log.
pub fn checkpoint_message(seq: u64, prev: &str, time: i64, closing: bool) -> Vec<u8> {
    format!("ward-audit-checkpoint-v1\n{seq}\n{prev}\n{time}\n{closing}").into_bytes()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

impl Checkpoint {
    fn sign(key: &SigningKey, seq: u64, prev: &str, time: i64, closing: bool) -> Checkpoint {
        let signature = key.sign(&checkpoint_message(seq, prev, time, closing));
        Checkpoint { time, closing, key: b64(key.verifying_key().as_bytes()), signature: b64(&signature.to_bytes()) }
    }

    /// The key that signed it, if the signature over (`seq`, `prev`) verifies.
    fn verify(&self, seq: u64, prev: &str) -> Result<VerifyingKey, String> {
        let key = unb64(&self.key)
            .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            .and_then(|b| VerifyingKey::from_bytes(&b).ok())
            .ok_or("a checkpoint whose key is not an ed25519 public key")?;
        let signature = unb64(&self.signature)
            .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
            .map(|b| Signature::from_bytes(&b))
            .ok_or("a checkpoint whose signature is malformed")?;
        key.verify(&checkpoint_message(seq, prev, self.time, self.closing), &signature)
            .map_err(|_| "a checkpoint whose signature does not verify: it was forged or edited".to_string())?;
        Ok(key)
    }
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
/// number and the body's canonical JSON (fields in declaration order).
pub fn chain_hash(prev: &str, seq: u64, body: &Body) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(serde_json::to_string(body).unwrap_or_default().as_bytes());
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
    /// Records since the last checkpoint, and when it was written.
    since_checkpoint: u64,
    last_checkpoint: Instant,
    /// The last record is a closing checkpoint.
    closed: bool,
}

/// Signed checkpoints: the key (`ward keygen`'s `.key`) and how often.
pub struct Checkpoints {
    pub key: SigningKey,
    /// A checkpoint after this many records …
    pub every: u64,
    /// … or when a record is appended this long after the last checkpoint.
    pub interval: Duration,
}

impl Checkpoints {
    /// Every 1,000 records or a minute, and when the log is closed.
    pub fn new(key: SigningKey) -> Checkpoints {
        Checkpoints { key, every: 1000, interval: Duration::from_secs(60) }
    }
}

/// Where a record went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    /// Its hash: the new head.
    pub hash: String,
}

/// An append-only audit log.
pub struct AuditLog {
    path: PathBuf,
    durability: Durability,
    checkpoints: Option<Checkpoints>,
    writer: Mutex<Writer>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl AuditLog {
    /// Opens (or creates) the log at `path`, verifying what is there so the
    /// chain continues from its head. A record cut short by a crash is
    /// removed (it was never complete, so never acknowledged).
    pub fn open(path: &Path, durability: Durability) -> Result<AuditLog, AuditError> {
        AuditLog::open_with(path, durability, None)
    }

    /// [`AuditLog::open`], sealing the log with signed checkpoints.
    pub fn open_with(
        path: &Path,
        durability: Durability,
        checkpoints: Option<Checkpoints>,
    ) -> Result<AuditLog, AuditError> {
        let io = |e: std::io::Error| AuditError::Io(format!("{}: {e}", path.display()));
        let (seq, head, valid_len, closed) = if path.exists() {
            let report = verify(path).map_err(AuditError::Corrupt)?;
            let closed = report.last_checkpoint.as_ref().is_some_and(|c| c.closing && c.seq == report.records);
            (report.records, report.head, report.valid_bytes, closed)
        } else {
            (0, GENESIS.to_string(), 0, false)
        };
        let file = OpenOptions::new().create(true).append(true).read(true).open(path).map_err(io)?;
        if file.metadata().map_err(io)?.len() > valid_len {
            file.set_len(valid_len).map_err(io)?;
        }
        let now = Instant::now();
        Ok(AuditLog {
            path: path.to_path_buf(),
            durability,
            checkpoints,
            writer: Mutex::new(Writer {
                out: BufWriter::new(file),
                seq,
                head,
                unsynced: 0,
                last_sync: now,
                since_checkpoint: 0,
                last_checkpoint: now,
                closed,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Writer>, AuditError> {
        self.writer.lock().map_err(|_| AuditError::Io("the audit writer is poisoned".into()))
    }

    /// Appends a record; returns its hash (the new head).
    pub fn append(&self, entry: Entry) -> Result<String, AuditError> {
        self.append_entry(entry).map(|a| a.hash)
    }

    /// Appends a record; returns its sequence number and hash.
    pub fn append_entry(&self, entry: Entry) -> Result<Appended, AuditError> {
        let mut w = self.lock()?;
        let appended = write_body(&mut w, Body::Entry(Box::new(entry)))?;
        w.closed = false;
        w.since_checkpoint += 1;
        if let Some(c) = &self.checkpoints
            && (w.since_checkpoint >= c.every || w.last_checkpoint.elapsed() >= c.interval)
        {
            checkpoint(&mut w, &c.key, false)?;
        }
        let io = |e: std::io::Error| AuditError::Io(e.to_string());
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
        Ok(appended)
    }

    /// Writes and syncs everything appended so far.
    pub fn sync(&self) -> Result<(), AuditError> {
        let mut w = self.lock()?;
        sync(&mut w)
    }

    /// Seals the log with a closing checkpoint (when it has a key and the
    /// last record is not one already) and syncs it. Appending after this
    /// is allowed: the next close seals again.
    pub fn close(&self) -> Result<(), AuditError> {
        let mut w = self.lock()?;
        if let Some(c) = &self.checkpoints
            && !w.closed
        {
            checkpoint(&mut w, &c.key, true)?;
            w.closed = true;
        }
        sync(&mut w)
    }
}

fn sync(w: &mut Writer) -> Result<(), AuditError> {
    let io = |e: std::io::Error| AuditError::Io(e.to_string());
    w.out.flush().map_err(io)?;
    w.out.get_ref().sync_data().map_err(io)?;
    w.unsynced = 0;
    w.last_sync = Instant::now();
    Ok(())
}

fn write_body(w: &mut Writer, body: Body) -> Result<Appended, AuditError> {
    let seq = w.seq + 1;
    let hash = chain_hash(&w.head, seq, &body);
    let record = Record { seq, body, prev: w.head.clone(), hash: hash.clone() };
    let line = serde_json::to_string(&record).map_err(|e| AuditError::Io(e.to_string()))?;
    if line.len() >= MAX_RECORD_BYTES {
        return Err(AuditError::Io(format!(
            "a record of {} bytes is over the limit of {MAX_RECORD_BYTES} bytes (a reader could not verify it)",
            line.len()
        )));
    }
    let io = |e: std::io::Error| AuditError::Io(e.to_string());
    w.out.write_all(line.as_bytes()).map_err(io)?;
    w.out.write_all(b"\n").map_err(io)?;
    w.seq = seq;
    w.head = hash.clone();
    Ok(Appended { seq, hash })
}

fn checkpoint(w: &mut Writer, key: &SigningKey, closing: bool) -> Result<(), AuditError> {
    let seq = w.seq + 1;
    let c = Checkpoint::sign(key, seq, &w.head, now_ms(), closing);
    write_body(w, Body::Checkpoint { checkpoint: c })?;
    w.since_checkpoint = 0;
    w.last_checkpoint = Instant::now();
    Ok(())
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// A checkpoint found while verifying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    pub seq: u64,
    pub line: u64,
    pub time: i64,
    pub closing: bool,
    /// The signer's key id ([`crate::bundle::key_id`]).
    pub key_id: String,
}

/// The outcome of verifying a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Records (decisions, outcomes and checkpoints).
    pub records: u64,
    /// The last record's hash: anchor it elsewhere to detect truncation.
    pub head: String,
    /// The final line was cut short (a writer stopped mid-record); it is
    /// not counted.
    pub truncated_tail: bool,
    /// Bytes of complete, verified records.
    pub valid_bytes: u64,
    /// Checkpoints in the log, and the last one.
    pub checkpoints: u64,
    pub last_checkpoint: Option<Seal>,
    /// With an expected head: the sequence number of the record that has it.
    pub expected_head_at: Option<u64>,
}

/// What else a verification checks.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Checkpoints must be signed with this key, and the log must end with a
    /// closing one (unless `live`).
    pub trusted_key: Option<VerifyingKey>,
    /// A head hash anchored earlier: the record with this hash must be in the log.
    pub expect_head: Option<String>,
    /// The log's writer may still be running: records after the last
    /// checkpoint are accepted (a cut after a checkpoint then goes unseen).
    pub live: bool,
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

/// One line of at most [`MAX_RECORD_BYTES`]: `Ok(None)` at the end, `Err` for a longer one.
fn read_line<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>) -> Result<Option<usize>, String> {
    buf.clear();
    let n = reader.by_ref().take(MAX_RECORD_BYTES as u64 + 1).read_until(b'\n', buf).map_err(|e| e.to_string())?;
    if n == 0 {
        return Ok(None);
    }
    if buf.len() > MAX_RECORD_BYTES && !buf.ends_with(b"\n") {
        return Err(format!("longer than {MAX_RECORD_BYTES} bytes without an end of line: not an audit record"));
    }
    Ok(Some(n))
}

/// Verifies the chain of the log at `path` (and each checkpoint's signature).
pub fn verify(path: &Path) -> Result<Report, VerifyError> {
    verify_with(path, &VerifyOptions::default())
}

/// Verifies the chain of the log at `path`, with `options`.
pub fn verify_with(path: &Path, options: &VerifyOptions) -> Result<Report, VerifyError> {
    let file = File::open(path)
        .map_err(|e| VerifyError { line: 0, message: format!("cannot read {}: {e}", path.display()) })?;
    let mut reader = BufReader::new(file);
    let mut report = Report {
        records: 0,
        head: GENESIS.to_string(),
        truncated_tail: false,
        valid_bytes: 0,
        checkpoints: 0,
        last_checkpoint: None,
        expected_head_at: None,
    };
    if options.expect_head.as_deref() == Some(GENESIS) {
        report.expected_head_at = Some(0);
    }
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    loop {
        let n = match read_line(&mut reader, &mut buf) {
            Ok(Some(n)) => n,
            Ok(None) => break,
            Err(message) => return Err(VerifyError { line: line_no + 1, message }),
        };
        line_no += 1;
        let complete = buf.ends_with(b"\n");
        let line = std::str::from_utf8(&buf).ok().map(|t| t.strip_suffix('\n').unwrap_or(t));
        let parsed = line.and_then(|t| serde_json::from_str::<Record>(t).ok().map(|r| (r, t)));
        let (record, text) = match (parsed, complete) {
            (Some(r), _) => r,
            (None, false) => {
                // The writer stopped mid-record: everything before it stands.
                report.truncated_tail = true;
                break;
            }
            (None, true) => return Err(VerifyError { line: line_no, message: "not a valid audit record".to_string() }),
        };
        let hash = check_record(&report, &record, text).map_err(|message| VerifyError { line: line_no, message })?;
        if !complete {
            report.truncated_tail = true;
            break;
        }
        if let Body::Checkpoint { checkpoint } = &record.body {
            let seal = check_checkpoint(checkpoint, &record, line_no, options)
                .map_err(|message| VerifyError { line: line_no, message })?;
            report.checkpoints += 1;
            report.last_checkpoint = Some(seal);
        }
        if options.expect_head.as_deref() == Some(hash.as_str()) {
            report.expected_head_at = Some(record.seq);
        }
        report.head = hash;
        report.records = record.seq;
        report.valid_bytes += n as u64;
    }
    check_end(&report, options).map_err(|message| VerifyError { line: line_no + 1, message })?;
    Ok(report)
}

/// One record's place in the chain: its sequence number, its link to the
/// previous record, its hash, and its text exactly as the writer wrote it.
/// Returns its hash.
fn check_record(report: &Report, record: &Record, text: &str) -> Result<String, String> {
    let expected_seq = report.records + 1;
    if record.seq != expected_seq {
        let what = if record.seq > expected_seq {
            "a record is missing before it"
        } else {
            "records are out of order or duplicated"
        };
        return Err(format!("sequence {} where {expected_seq} was expected: {what}", record.seq));
    }
    if record.prev != report.head {
        return Err(
            "its `prev` does not match the previous record's hash: a record was removed, inserted or reordered"
                .to_string(),
        );
    }
    let hash = chain_hash(&record.prev, record.seq, &record.body);
    if hash != record.hash {
        return Err("its contents do not match its hash: the record was edited".to_string());
    }
    // The hash covers what the record says; the line must also be
    // exactly what the writer wrote (no field added, nothing reformatted).
    if serde_json::to_string(record).ok().as_deref() != Some(text) {
        return Err("it is not byte for byte the record the writer wrote: the record was edited".to_string());
    }
    Ok(hash)
}

/// A checkpoint's signature, by the trusted key when one is given.
fn check_checkpoint(
    checkpoint: &Checkpoint,
    record: &Record,
    line: u64,
    options: &VerifyOptions,
) -> Result<Seal, String> {
    let key = checkpoint.verify(record.seq, &record.prev)?;
    let key_id = crate::bundle::key_id(&key);
    if let Some(trusted) = &options.trusted_key
        && trusted != &key
    {
        return Err(format!(
            "a checkpoint signed by key {key_id}, not by the trusted key {}",
            crate::bundle::key_id(trusted)
        ));
    }
    Ok(Seal { seq: record.seq, line, time: checkpoint.time, closing: checkpoint.closing, key_id })
}

/// What must hold of the whole log: the expected head seen, and with a
/// trusted key, a closing checkpoint at the end (unless `live`).
fn check_end(report: &Report, options: &VerifyOptions) -> Result<(), String> {
    if let Some(expected) = &options.expect_head
        && report.expected_head_at.is_none()
    {
        return Err(format!(
            "no record has the expected head {expected}: the log was truncated before it, or is not the log it was \
             taken from (its head is {})",
            report.head
        ));
    }
    if options.trusted_key.is_some() {
        let after = |c: &Seal| report.records - c.seq;
        let problem = match &report.last_checkpoint {
            None => Some(
                "the log has no checkpoint: it was not written with a signing key, or it was cut before its first \
                 checkpoint"
                    .to_string(),
            ),
            Some(_) if options.live => None,
            Some(c) if after(c) > 0 => Some(format!(
                "the log does not end with a closing checkpoint: the last checkpoint (line {}) is followed by {} \
                 record(s) — the log was cut, or its writer crashed or is still running (--live accepts that)",
                c.line,
                after(c)
            )),
            Some(c) if !c.closing => Some(format!(
                "the log ends with a periodic checkpoint (line {}), not a closing one — it was cut there, or its \
                 writer crashed or is still running (--live accepts that)",
                c.line
            )),
            Some(_) => None,
        };
        if let Some(message) = problem {
            return Err(message);
        }
    }
    Ok(())
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
            masked: vec![],
            stage: None,
            severity: None,
            approved_by: None,
            outcome: None,
            decision_seq: None,
            facts: Vec::new(),
            unknown_facts: Vec::new(),
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
