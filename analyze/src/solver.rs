//! The solver: an external process (z3 or cvc5) spoken to over SMT-LIB text
//! on its standard input and output.
//!
//! Each query runs in a fresh process, bounded twice: the solver's own
//! per-query limit (z3 `-t:`, cvc5 `--tlimit-per`), after which it answers
//! `unknown`, and a watchdog that kills it a little later if it has not
//! answered. No query can hang the caller.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::sexp::{Sexp, parse_all};

/// Which solver a binary is: they differ in their command-line options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    Z3,
    Cvc5,
}

/// A solver binary and the time each query may take.
#[derive(Debug, Clone)]
pub struct Solver {
    pub path: PathBuf,
    pub flavor: Flavor,
    pub version: String,
    pub timeout: Duration,
}

/// A solver's answer to one query.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Satisfiable, with the values of the terms asked for, in order.
    Sat(Vec<Sexp>),
    Unsat,
    /// The solver gave up (its reason, e.g. a timeout).
    Unknown(String),
}

/// Why a query could not be run at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolverError(pub String);

impl std::fmt::Display for SolverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SolverError {}

/// The environment variable naming the solver when `--solver` is not given.
pub const SOLVER_ENV: &str = "WARD_SMT_SOLVER";

/// The default time a query may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much longer than its own limit a solver may take before it is killed.
const GRACE: Duration = Duration::from_secs(5);

impl Solver {
    /// Finds the solver: `choice` is `z3`, `cvc5` or a path; without one,
    /// `$WARD_SMT_SOLVER`, then `z3`, then `cvc5` on the `PATH`.
    pub fn locate(choice: Option<&str>, timeout: Duration) -> Result<Solver, SolverError> {
        let env = std::env::var(SOLVER_ENV).ok().filter(|s| !s.is_empty());
        let (path, origin) = match choice.or(env.as_deref()) {
            Some(name) if name == "z3" || name == "cvc5" => match find_in_path(name) {
                Some(p) => (p, name.to_string()),
                None => {
                    return Err(SolverError(format!(
                        "solver `{name}` not found on the PATH (Debian: `apt-get install {name}`; \
                         scripts/provision/smt.sh installs it)"
                    )));
                }
            },
            Some(path) => (PathBuf::from(path), path.to_string()),
            None => match find_in_path("z3").or_else(|| find_in_path("cvc5")) {
                Some(p) => (p, "the PATH".to_string()),
                None => {
                    return Err(SolverError(format!(
                        "no SMT solver found: install z3 or cvc5 (Debian: `apt-get install z3`; \
                         scripts/provision/smt.sh does it), or name one with --solver or ${SOLVER_ENV}"
                    )));
                }
            },
        };
        let output =
            Command::new(&path).arg("--version").stdin(Stdio::null()).output().map_err(|e| {
                SolverError(format!("cannot run the SMT solver `{}` (from {origin}): {e}", path.display()))
            })?;
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        let flavor = if text.contains("Z3") {
            Flavor::Z3
        } else if text.to_lowercase().contains("cvc5") {
            Flavor::Cvc5
        } else {
            return Err(SolverError(format!(
                "`{}` (from {origin}) is neither z3 nor cvc5: `--version` printed {:?}",
                path.display(),
                text.lines().next().unwrap_or("")
            )));
        };
        // cvc5 says "This is cvc5 version 1.0.3": reports read "Proved by cvc5 version 1.0.3".
        let first = text.lines().next().unwrap_or("").trim();
        let version = first.strip_prefix("This is ").unwrap_or(first).to_string();
        Ok(Solver { path, flavor, version, timeout })
    }

    fn args(&self) -> Vec<String> {
        let ms = self.timeout.as_millis().max(1);
        match self.flavor {
            Flavor::Z3 => vec!["-smt2".into(), "-in".into(), format!("-t:{ms}")],
            Flavor::Cvc5 => vec![
                "--lang".into(),
                "smt2".into(),
                "--strings-exp".into(),
                "--produce-models".into(),
                format!("--tlimit-per={ms}"),
            ],
        }
    }

    /// Asserts `script` (declarations and assertions, no `check-sat`),
    /// checks it, and on `sat` asks for the values of `terms`.
    pub fn check(&self, script: &str, terms: &[String]) -> Result<Answer, SolverError> {
        let mut child = Command::new(&self.path)
            .args(self.args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| SolverError(format!("cannot start the SMT solver `{}`: {e}", self.path.display())))?;
        let (Some(mut stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            return Err(SolverError("the SMT solver's pipes could not be opened".into()));
        };
        let child = Arc::new(Mutex::new(child));
        // The watchdog: kills the solver if it has not finished in time.
        let (done, finished) = mpsc::channel::<()>();
        let deadline = self.timeout + GRACE;
        let watched = Arc::clone(&child);
        let started = Instant::now();
        let watchdog = std::thread::spawn(move || {
            if finished.recv_timeout(deadline) == Err(mpsc::RecvTimeoutError::Timeout)
                && let Ok(mut c) = watched.lock()
            {
                let _ = c.kill();
                return true;
            }
            false
        });
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let outcome = (|| -> Result<Answer, SolverError> {
            let mut header = String::from("(set-option :produce-models true)\n(set-logic ALL)\n");
            header.push_str(script);
            header.push_str("\n(check-sat)\n");
            stdin.write_all(header.as_bytes()).map_err(|e| SolverError(format!("writing to the SMT solver: {e}")))?;
            stdin.flush().map_err(|e| SolverError(format!("writing to the SMT solver: {e}")))?;
            let mut reader = BufReader::new(stdout);
            let first = read_answer(&mut reader)?;
            let answer = match first.as_str() {
                "sat" => {
                    if terms.is_empty() {
                        Answer::Sat(Vec::new())
                    } else {
                        let ask = format!("(get-value ({}))\n", terms.join(" "));
                        stdin
                            .write_all(ask.as_bytes())
                            .and_then(|()| stdin.flush())
                            .map_err(|e| SolverError(format!("writing to the SMT solver: {e}")))?;
                        let values = read_sexp(&mut reader)?;
                        let pairs = values.list().ok_or_else(|| {
                            SolverError(format!("the SMT solver answered get-value with {}", values.text()))
                        })?;
                        if pairs.len() != terms.len() {
                            return Err(SolverError(format!(
                                "the SMT solver returned {} values for {} terms",
                                pairs.len(),
                                terms.len()
                            )));
                        }
                        let mut out = Vec::with_capacity(pairs.len());
                        for p in pairs {
                            match p.list() {
                                Some([_, v]) => out.push(v.clone()),
                                _ => return Err(SolverError(format!("unexpected get-value entry {}", p.text()))),
                            }
                        }
                        Answer::Sat(out)
                    }
                }
                "unsat" => Answer::Unsat,
                "unknown" => Answer::Unknown(if started.elapsed() >= self.timeout {
                    format!("the solver's time limit ({} ms) was reached", self.timeout.as_millis())
                } else {
                    "the solver gave up (incomplete theory combination)".to_string()
                }),
                other => return Err(SolverError(format!("unexpected answer from the SMT solver: {other}"))),
            };
            let _ = stdin.write_all(b"(exit)\n");
            Ok(answer)
        })();
        let _ = done.send(());
        let killed = watchdog.join().unwrap_or(false);
        if let Ok(mut c) = child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let stderr_text = errors.join().unwrap_or_default();
        if killed {
            return Ok(Answer::Unknown(format!(
                "the solver did not answer within {} ms and was stopped",
                deadline.as_millis()
            )));
        }
        outcome.map_err(|e| {
            let detail = stderr_text.trim();
            if detail.is_empty() { e } else { SolverError(format!("{e} ({detail})")) }
        })
    }
}

/// The first line that answers `check-sat`; an `(error …)` before it is an
/// encoding bug, reported with the solver's message.
fn read_answer(reader: &mut impl BufRead) -> Result<String, SolverError> {
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(|e| SolverError(format!("reading from the SMT solver: {e}")))?;
        if n == 0 {
            return Err(SolverError("the SMT solver stopped without answering".into()));
        }
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        if text.starts_with("(error") {
            return Err(SolverError(format!("the SMT solver refused the query: {text}")));
        }
        return Ok(text.to_string());
    }
}

/// Reads one complete S-expression, however many lines it spans.
fn read_sexp(reader: &mut impl BufRead) -> Result<Sexp, SolverError> {
    let mut text = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(|e| SolverError(format!("reading from the SMT solver: {e}")))?;
        if n == 0 {
            return Err(SolverError(format!("the SMT solver stopped in the middle of an answer: {text}")));
        }
        text.push_str(&line);
        if let Ok(mut items) = parse_all(&text)
            && !items.is_empty()
        {
            let first = items.remove(0);
            if let Sexp::List(l) = &first
                && let Some(Sexp::Atom(a)) = l.first()
                && a == "error"
            {
                return Err(SolverError(format!("the SMT solver refused get-value: {}", first.text())));
            }
            return Ok(first);
        }
    }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    p.is_file()
}
