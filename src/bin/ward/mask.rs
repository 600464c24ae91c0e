//! `ward mask` and `ward detokenize`: masking as a stream.
//!
//! `ward mask` decides once — the request of `--request` under the policy,
//! or, with `--detectors`, a mask of those detectors on every string — and
//! applies the decision's masks to every document it reads, in one
//! process: JSON lines (each line a document, JSON or text), whole files
//! (JSON or text) or text (`--text`), from paths or stdin (`-`). Nothing is
//! held whole but a document: lines are bounded (`--max-line`), whole
//! documents too (`--max-document`, beyond which they are masked as text),
//! and text is masked in blocks cut at line ends (never inside a private
//! key). A deny, or a mask that cannot be applied, releases nothing more
//! and exits 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use ward_runtime::Request;
use ward_runtime::decision::{Decision, Masked};
use ward_runtime::mask::{Keys, MaskError};
use ward_runtime::masking::{MaskSession, Payload, deny_for, merge_masked};

use crate::decide::{EvalArgs, Setup, keys, setup};
use crate::{Settings, USAGE, io};

/// How documents are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `.jsonl`/`.ndjson` files and inputs whose first line is a JSON value
    /// are JSON lines; anything else one document (JSON if it parses).
    Auto,
    /// Each line a document.
    Lines,
    /// Text, never parsed as JSON.
    Text,
}

pub struct MaskArgs {
    pub eval: EvalArgs,
    /// Detectors to mask with when there is no request (`stdlib.pii.all`).
    pub detectors: Vec<String>,
    /// Their method (`redact`, `hash(salt: "…")`, `tokenize(key: "…")`, …).
    pub method: String,
    pub keys: Option<PathBuf>,
    /// Paths; none (or `-`) is stdin.
    pub inputs: Vec<PathBuf>,
    pub mode: Mode,
    pub max_line: usize,
    pub max_document: usize,
    /// Print what was masked and the throughput on stderr.
    pub stats: bool,
}

/// Text is masked in blocks of at least this many bytes (cut at a line end).
const BLOCK: usize = 1024 * 1024;
/// How far a private-key block may run: as far as the detector looks.
const KEY_WINDOW: usize = 64 * 1024;

/// Why the stream stopped early.
enum Stop {
    /// A mask could not be applied: the decision is now a deny.
    Refused(MaskError),
    /// Stdout closed or failed.
    Out(io::OutError),
    /// The input could not be read.
    Input(String),
}

/// The policy a `--detectors` run compiles: one mask of those detectors.
fn detectors_policy(detectors: &[String], method: &str) -> Result<String, String> {
    let name_ok = |d: &str| {
        !d.is_empty()
            && d.split('.').all(|p| {
                p.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
    };
    if let Some(bad) = detectors.iter().find(|d| !name_ok(d)) {
        return Err(format!("--detectors: `{bad}` is not a detector name (such as `stdlib.pii.all` or `pii.email`)"));
    }
    if method.contains(['\n', '\r', '{', '}', ';', '/']) || method.trim().is_empty() {
        return Err(format!("--method: `{method}` is not a masking method (such as `redact` or `hash(salt: \"s\")`)"));
    }
    Ok(format!(
        "import stdlib.pii\nimport stdlib.inputs\n\nschema ward_mask_cli {{\n  entity WardMaskCaller\n  entity WardMaskPayload\n  \
         action ward_mask_payload by [WardMaskCaller] on [WardMaskPayload]\n}}\n\npolicy ward_mask_cli {{\n  \
         permit action: ward_mask_payload\n\n  @id(\"detectors\")\n  mask text with {} using {method}\n}}\n",
        detectors.join(", ")
    ))
}

/// The decision whose masks apply, and the request it was made for.
fn decide(args: &MaskArgs, settings: &Settings) -> Result<(Setup, Request, Decision), ExitCode> {
    let generated = match (&args.eval.request, args.detectors.is_empty()) {
        (Some(_), true) => None,
        (None, false) => Some(detectors_policy(&args.detectors, &args.method).map_err(|e| {
            eprintln!("error: {e}");
            ExitCode::from(USAGE)
        })?),
        (Some(_), false) => {
            eprintln!("error: give either --request (the policy's masks) or --detectors (masks of your own), not both");
            return Err(ExitCode::from(USAGE));
        }
        (None, true) => {
            eprintln!("error: give --policy and --request, or --detectors (e.g. --detectors stdlib.pii.all)");
            return Err(ExitCode::from(USAGE));
        }
    };
    let setup = setup(&args.eval, settings, generated.as_deref().map(|g| ("<--detectors>", g)))?;
    let request = match &args.eval.request {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                eprintln!("error: cannot read request `{}`: {}", path.display(), crate::files::describe(&e));
                ExitCode::from(USAGE)
            })?;
            Request::from_json_str(&text).map_err(|e| {
                eprintln!("error: request `{}`: {e}", path.display());
                ExitCode::FAILURE
            })?
        }
        None => Request::new(
            ward_runtime::EntityUid::new("WardMaskCaller", "cli"),
            "ward_mask_payload",
            ward_runtime::EntityUid::new("WardMaskPayload", "input"),
        ),
    };
    let decision = setup.engine.decide(&request);
    Ok((setup, request, decision))
}

/// `ward mask`.
pub fn mask(args: &MaskArgs, settings: &Settings) -> ExitCode {
    let keys = match keys(args.keys.as_deref()) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let (setup, request, mut decision) = match decide(args, settings) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let session = match setup.engine.mask_session(&decision, keys.as_ref()) {
        Ok(s) => s,
        Err(e) => return refuse(&setup, &request, &mut decision, &e),
    };
    let inputs = if args.inputs.is_empty() { vec![PathBuf::from("-")] } else { args.inputs.clone() };
    let mut run = Run { args, session: &session, out: io::Out::new(), bytes: 0, documents: 0, bad_input: false };
    let started = Instant::now();
    let mut stopped = None;
    for path in &inputs {
        if let Err(stop) = run.input(path) {
            stopped = Some(stop);
            break;
        }
    }
    let flushed = run.out.flush();
    merge_masked(&mut decision.masked, session.take_masked());
    if args.stats {
        stats(&decision.masked, run.documents, run.bytes, started);
    }
    match stopped {
        Some(Stop::Refused(e)) => refuse(&setup, &request, &mut decision, &e),
        Some(Stop::Out(e)) => e.exit(),
        Some(Stop::Input(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(USAGE)
        }
        None => {
            if let Err(code) = setup.audit(&request, &decision) {
                return code;
            }
            match flushed {
                Err(e) => e.exit(),
                Ok(()) if run.bad_input => ExitCode::from(USAGE),
                Ok(()) => ExitCode::SUCCESS,
            }
        }
    }
}

/// The deny a refused mask makes: audited, explained on stderr, exit 1.
fn refuse(setup: &Setup, request: &Request, decision: &mut Decision, e: &MaskError) -> ExitCode {
    if decision.effect != ward_runtime::Effect::Deny {
        deny_for(decision, e);
    }
    let _ = setup.audit(request, decision);
    eprintln!("refused: {e}");
    eprint!("{}", decision.explain());
    ExitCode::FAILURE
}

fn stats(masked: &[Masked], documents: usize, bytes: usize, started: Instant) {
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    eprintln!("masked {documents} document(s), {bytes} bytes in {secs:.3} s ({:.1} MB/s)", bytes as f64 / 1e6 / secs);
    for m in masked {
        eprintln!("  {} value(s) found by {} masked with {} (rule `{}`)", m.count, m.by, m.method, m.rule);
    }
}

/// One run over the inputs.
struct Run<'a, 'k> {
    args: &'a MaskArgs,
    session: &'a MaskSession<'k>,
    out: io::Out,
    bytes: usize,
    documents: usize,
    /// A line or document could not be read (too long, not UTF-8): it was
    /// reported and not released; the exit status says so.
    bad_input: bool,
}

impl Run<'_, '_> {
    fn input(&mut self, path: &Path) -> Result<(), Stop> {
        let name = if path.as_os_str() == "-" { "stdin".to_string() } else { path.display().to_string() };
        let mut input = io::open(path).map_err(|e| Stop::Input(format!("cannot read payload `{name}`: {e}")))?;
        let lines_by_name = path.extension().is_some_and(|e| e == "jsonl" || e == "ndjson");
        match self.args.mode {
            Mode::Text => self.text(&mut input, &name, String::new()),
            Mode::Lines => self.lines(&mut input, &name, None),
            Mode::Auto if lines_by_name => self.lines(&mut input, &name, None),
            Mode::Auto => self.auto(&mut input, &name),
        }
    }

    fn read_error(name: &str, e: &std::io::Error) -> Stop {
        Stop::Input(format!("cannot read payload `{name}`: {}", crate::files::describe(e)))
    }

    /// Masks one document and writes it; `line`: one line of JSON lines.
    fn document(&mut self, text: &str, line: bool, parse: bool) -> Result<(), Stop> {
        self.bytes += text.len();
        self.documents += 1;
        let mut payload = if parse { Payload::parse(text) } else { Payload::Text(text.to_string()) };
        self.session.mask(&mut payload).map_err(Stop::Refused)?;
        let rendered = match (&payload, line) {
            (Payload::Json(j), true) => serde_json::to_string(j).unwrap_or_default(),
            (Payload::Json(_), false) => payload.render() + "\n",
            (Payload::Text(t), true) => t.clone(),
            (Payload::Text(t), false) => t.clone(),
        };
        if line { self.out.line(&rendered) } else { self.out.write(rendered.as_bytes()) }.map_err(Stop::Out)
    }

    /// The first line decides: a JSON value on a line of its own makes the
    /// input JSON lines; otherwise it is one document (JSON if it parses,
    /// else text), masked as text in blocks if larger than `--max-document`.
    fn auto(&mut self, input: &mut io::Input, name: &str) -> Result<(), Stop> {
        let mut first = Vec::new();
        let complete =
            io::read_bounded_line(input, &mut first, self.args.max_line).map_err(|e| Self::read_error(name, &e))?;
        let one_line = std::str::from_utf8(&first).ok().map(|t| t.trim_end_matches(['\n', '\r']));
        if complete
            && let Some(t) = one_line
            && first.ends_with(b"\n")
            && t.trim_start().starts_with(['{', '['])
            && serde_json::from_str::<serde_json::Value>(t).is_ok()
        {
            return self.lines(input, name, Some(t.to_string()));
        }
        let mut doc = first;
        let room = self.args.max_document.saturating_sub(doc.len());
        let whole = io::read_bounded(input, &mut doc, room).map_err(|e| Self::read_error(name, &e))?;
        if !whole {
            // Too large to hold: text, in blocks, the first one ending where
            // the line the bytes read end in ends.
            let mut rest = Vec::new();
            if !io::read_bounded_line(input, &mut rest, self.args.max_line).map_err(|e| Self::read_error(name, &e))? {
                eprintln!(
                    "error: {name}: a line longer than --max-line {}; not masked, not written",
                    self.args.max_line
                );
                self.bad_input = true;
                return Ok(());
            }
            doc.extend_from_slice(&rest);
            let head = String::from_utf8(doc).map_err(|_| not_utf8(name))?;
            return self.text(input, name, head);
        }
        let text = String::from_utf8(doc).map_err(|_| not_utf8(name))?;
        self.document(&text, false, true)
    }

    /// JSON lines: each line a document, JSON if it parses, else text.
    fn lines(&mut self, input: &mut io::Input, name: &str, first: Option<String>) -> Result<(), Stop> {
        let mut n = 0;
        if let Some(line) = first {
            n += 1;
            self.document(&line, true, true)?;
        }
        let mut buf = Vec::new();
        loop {
            n += 1;
            match io::read_line(input, &mut buf, self.args.max_line).map_err(|e| Self::read_error(name, &e))? {
                io::Line::Eof => return Ok(()),
                io::Line::Text(t) if t.trim().is_empty() => self.out.line(&t).map_err(Stop::Out)?,
                io::Line::Text(t) => self.document(&t, true, true)?,
                io::Line::TooLong(len) => {
                    eprintln!(
                        "error: {name}:{n}: a line of {len} bytes is longer than --max-line {}; not masked, not written",
                        self.args.max_line
                    );
                    self.bad_input = true;
                }
                io::Line::NotUtf8 => {
                    eprintln!("error: {name}:{n}: the line is not valid UTF-8; not masked, not written");
                    self.bad_input = true;
                }
            }
            if io::drained(input) {
                self.out.flush().map_err(Stop::Out)?;
            }
        }
    }

    /// Text in blocks: lines are gathered until a block holds at least
    /// [`BLOCK`] bytes, or the input has nothing more buffered (a live
    /// stream), and cut at a line end that is not inside a private key.
    fn text(&mut self, input: &mut io::Input, name: &str, head: String) -> Result<(), Stop> {
        let mut block = String::new();
        let mut key_open: Option<usize> = None;
        let mut line = Vec::new();
        let mut pending = (!head.is_empty()).then_some(head);
        loop {
            let text = match pending.take() {
                Some(head) => head,
                None => {
                    let complete = io::read_bounded_line(input, &mut line, self.args.max_line)
                        .map_err(|e| Self::read_error(name, &e))?;
                    if !complete {
                        eprintln!(
                            "error: {name}: a line longer than --max-line {}; it and the rest are not masked, not written",
                            self.args.max_line
                        );
                        self.bad_input = true;
                        return Ok(());
                    }
                    String::from_utf8(std::mem::take(&mut line)).map_err(|_| not_utf8(name))?
                }
            };
            let eof = text.is_empty();
            let at = block.len();
            for l in text.split_inclusive('\n') {
                match key_line(l) {
                    (_, true) => key_open = None,
                    (true, false) => key_open = key_open.or(Some(at)),
                    _ => {}
                }
            }
            block.push_str(&text);
            let key_pending = !eof && key_open.is_some_and(|k| block.len() - k < KEY_WINDOW);
            let line_end = eof || block.ends_with('\n');
            if !block.is_empty() && line_end && !key_pending && (eof || block.len() >= BLOCK || io::drained(input)) {
                let done = std::mem::take(&mut block);
                key_open = None;
                self.document(&done, false, false)?;
                self.out.flush().map_err(Stop::Out)?;
            }
            if eof {
                return Ok(());
            }
        }
    }
}

/// Whether a line begins a private key (PEM, SSH2, PuTTY), and whether it
/// ends one: a block of text is never cut between the two.
fn key_line(l: &str) -> (bool, bool) {
    let begins = (l.contains("-----BEGIN ") || l.contains("---- BEGIN SSH2")) && l.contains("PRIVATE KEY")
        || l.starts_with("PuTTY-User-Key-File-");
    let ends = l.contains("-----END ") || l.contains("---- END SSH2") || l.starts_with("Private-MAC:");
    // A line that both begins and ends one ends it only when END follows BEGIN.
    let ends_here = ends && (!begins || l.rfind("END").zip(l.find("BEGIN")).is_some_and(|(e, b)| e > b));
    (begins, ends_here)
}

fn not_utf8(name: &str) -> Stop {
    Stop::Input(format!("cannot read payload `{name}`: stream did not contain valid UTF-8"))
}

/// `ward detokenize`: the text (an argument, files, or stdin) with every
/// token of the named key (current or previous) replaced by its value, line
/// by line. A token that does not authenticate under any of them — or of
/// the previous scheme — stops it with exit 1, naming where.
pub fn detokenize(key_name: &str, keys_file: Option<&Path>, inputs: &[PathBuf], text: Option<&str>) -> ExitCode {
    let keys: Box<dyn Keys> = match keys(keys_file) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let Some(current) = keys.key(key_name) else {
        eprintln!("error: no key `{key_name}`; detokenizing needs the key the tokens were made with");
        return ExitCode::from(USAGE);
    };
    let mut all = vec![current];
    all.extend(keys.previous(key_name));
    let mut detokenizer = match ward_runtime::token::Detokenizer::new(&all) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: key `{key_name}`: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = io::Out::new();
    let mut each = |line: &str, at: &str, out: &mut io::Out| -> Result<(), ExitCode> {
        match detokenizer.detokenize_text(line) {
            Ok(t) => out.line(&t).map_err(|e| e.exit()),
            Err((col, e)) => {
                eprintln!("error: {at}, byte {}: token of key `{key_name}`: {e}", col + 1);
                Err(ExitCode::FAILURE)
            }
        }
    };
    let result = match (text, inputs) {
        (Some(t), []) => t.split('\n').enumerate().try_for_each(|(i, l)| each(l, &format!("line {}", i + 1), &mut out)),
        (None, _) => {
            let inputs = if inputs.is_empty() { vec![PathBuf::from("-")] } else { inputs.to_vec() };
            inputs.iter().try_for_each(|p| detokenize_input(p, &mut out, &mut each))
        }
        (Some(_), _) => {
            eprintln!("error: give the text to detokenize, or --input FILE, not both");
            Err(ExitCode::from(USAGE))
        }
    };
    let flushed = out.flush();
    match (result, flushed) {
        (Err(code), _) => code,
        (Ok(()), Err(e)) => e.exit(),
        (Ok(()), Ok(())) => ExitCode::SUCCESS,
    }
}

/// The longest line `ward detokenize` reads.
const MAX_DETOKENIZE_LINE: usize = 16 * 1024 * 1024;

fn detokenize_input(
    path: &Path,
    out: &mut io::Out,
    each: &mut dyn FnMut(&str, &str, &mut io::Out) -> Result<(), ExitCode>,
) -> Result<(), ExitCode> {
    let name = if path.as_os_str() == "-" { "stdin".to_string() } else { path.display().to_string() };
    let mut input = io::open(path).map_err(|e| {
        eprintln!("error: cannot read input `{name}`: {e}");
        ExitCode::from(USAGE)
    })?;
    let mut buf = Vec::new();
    for n in 1.. {
        let line = io::read_line(&mut input, &mut buf, MAX_DETOKENIZE_LINE).map_err(|e| {
            eprintln!("error: cannot read input `{name}`: {}", crate::files::describe(&e));
            ExitCode::from(USAGE)
        })?;
        match line {
            io::Line::Eof => break,
            io::Line::Text(t) => each(&t, &format!("{name}:{n}"), out)?,
            io::Line::TooLong(len) => {
                eprintln!("error: {name}:{n}: a line of {len} bytes is longer than {MAX_DETOKENIZE_LINE}");
                return Err(ExitCode::from(USAGE));
            }
            io::Line::NotUtf8 => {
                eprintln!("error: {name}:{n}: the line is not valid UTF-8");
                return Err(ExitCode::from(USAGE));
            }
        }
        if io::drained(&input) {
            out.flush().map_err(|e| e.exit())?;
        }
    }
    Ok(())
}
