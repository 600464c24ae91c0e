//! The [`Scanner`]: every detector of a program in one multi-pattern regex,
//! run over the trigger positions (built-in detectors only) or over the
//! whole text, each candidate confirmed before it is reported.

use std::sync::{Arc, Mutex};

use regex_automata::meta::Regex;
use regex_automata::{Anchored, Input, PatternSet};
use ward_ir::{Detector, DetectorPart};

use super::builtin::{BuiltinPart, Kind, builtin_parts, kind_regex};
use super::confirm::{Marks, confirm};
use super::trigger::{Literals, Triggers, candidate_starts};
use super::user;
use super::validate::{Validator, validate};

/// How a pattern's candidates are confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    None,
    Validator(Validator),
    Kind(Kind),
}

#[derive(Debug)]
pub(super) struct PatternInfo {
    source: String,
    check: Check,
    /// The detectors (indexes into `Scanner::names`) this pattern belongs to.
    detectors: Vec<usize>,
    /// What it finds, for `[REDACTED:label]`.
    label: String,
    /// Priority: built-in kinds in `Kind` order, then the input detectors,
    /// then user patterns and keywords in declaration order.
    rank: usize,
}

/// One regex a detector part compiles to, before identical ones are merged.
pub(super) struct Spec {
    pub(super) source: String,
    pub(super) check: Check,
    pub(super) label: String,
    pub(super) rank: usize,
}

/// Rank of the input detectors (after every PII kind) and of user parts.
pub(super) const RANK_INPUT: usize = 100;
pub(super) const RANK_USER: usize = 200;

fn builtin_specs(name: &str) -> Result<Vec<Spec>, String> {
    let parts = builtin_parts(name).ok_or_else(|| format!("no built-in detector `{name}`"))?;
    Ok(parts
        .into_iter()
        .map(|p| match p {
            BuiltinPart::Kind(k) => {
                Spec { source: kind_regex(k), check: Check::Kind(k), label: name.to_string(), rank: k as usize }
            }
            BuiltinPart::Plain(r) => {
                Spec { source: r.to_string(), check: Check::None, label: name.to_string(), rank: RANK_INPUT }
            }
        })
        .collect())
}

/// A compiled set of patterns: all of a program's, or those a mask needs.
#[derive(Debug)]
pub(super) struct Compiled {
    regex: Option<Regex>,
    /// Pattern id in `regex` → index into `Scanner::patterns`.
    global: Vec<usize>,
    /// Set when every pattern is a built-in kind: then only trigger
    /// positions are tried.
    triggers: Option<Triggers>,
    literals: Option<Literals>,
}

/// The patterns a set of masks needs (see [`Scanner::select`]).
#[derive(Debug, Clone)]
pub struct Selection(Arc<Compiled>);

/// Every detector of a program, compiled into one multi-pattern regex so
/// that a string is scanned once whatever the number of detectors.
#[derive(Debug)]
pub struct Scanner {
    patterns: Vec<PatternInfo>,
    /// Detector names (qualified), by index.
    names: Vec<String>,
    all: Arc<Compiled>,
    /// Compiled subsets, by their sorted pattern indexes.
    subsets: Mutex<Vec<(Vec<usize>, Arc<Compiled>)>>,
}

/// A validated match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    /// The pattern that matched (see [`Scanner::detector_covers`]).
    pub pattern: usize,
}

/// The most compiled subsets a scanner keeps.
pub(super) const MAX_SUBSETS: usize = 64;

impl Scanner {
    /// Compiles the detectors of a program. Identical parts shared by several
    /// detectors (a group and its members) are compiled once.
    pub fn new(detectors: &[Detector]) -> Result<Scanner, String> {
        let mut patterns: Vec<PatternInfo> = Vec::new();
        for (d, detector) in detectors.iter().enumerate() {
            for part in &detector.parts {
                let specs = match part {
                    DetectorPart::Builtin(name) => builtin_specs(name)?,
                    DetectorPart::Pattern { regex, validate } => {
                        user::pattern(&detector.name, regex, validate.as_deref())
                    }
                    DetectorPart::Keywords(words) => user::keywords(&detector.name, words),
                };
                for Spec { source, check, label, rank } in specs {
                    match patterns.iter_mut().find(|p| p.source == source && p.check == check) {
                        Some(p) => {
                            if !p.detectors.contains(&d) {
                                p.detectors.push(d);
                            }
                        }
                        None => patterns.push(PatternInfo { source, check, detectors: vec![d], label, rank }),
                    }
                }
            }
        }
        patterns.sort_by_key(|p| p.rank);
        let ids: Vec<usize> = (0..patterns.len()).collect();
        let all = Arc::new(compile_set(&patterns, &ids)?);
        Ok(Scanner {
            patterns,
            names: detectors.iter().map(|d| d.name.clone()).collect(),
            all,
            subsets: Mutex::new(Vec::new()),
        })
    }

    /// The patterns of the detectors named (qualified names), compiled
    /// together. An unknown name is an error: a mask must not silently
    /// match nothing.
    pub fn select(&self, detectors: &[&str]) -> Result<Selection, String> {
        let mut wanted = Vec::new();
        for name in detectors {
            let d = self
                .names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| format!("no detector `{name}` in the program"))?;
            wanted.extend(self.patterns.iter().enumerate().filter(|(_, p)| p.detectors.contains(&d)).map(|(i, _)| i));
        }
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.len() == self.patterns.len() {
            return Ok(Selection(Arc::clone(&self.all)));
        }
        if let Ok(subsets) = self.subsets.lock()
            && let Some((_, c)) = subsets.iter().find(|(k, _)| *k == wanted)
        {
            return Ok(Selection(Arc::clone(c)));
        }
        let compiled = Arc::new(compile_set(&self.patterns, &wanted)?);
        if let Ok(mut subsets) = self.subsets.lock()
            && subsets.len() < MAX_SUBSETS
        {
            subsets.push((wanted, Arc::clone(&compiled)));
        }
        Ok(Selection(compiled))
    }

    /// Validated, non-overlapping matches of every detector, left to right.
    pub fn find(&self, text: &str) -> Vec<Found> {
        let mut out = Vec::new();
        self.run(&self.all, text, false, |f| {
            out.push(f);
            true
        });
        out
    }

    /// Validated, non-overlapping matches of the selected detectors.
    pub fn find_selected(&self, selection: &Selection, text: &str) -> Vec<Found> {
        let mut out = Vec::new();
        self.run(&selection.0, text, false, |f| {
            out.push(f);
            true
        });
        out
    }

    /// The same matches as [`Scanner::find`], found without the trigger
    /// pass (the regex runs over every byte). For tests and benchmarks.
    #[doc(hidden)]
    pub fn find_unfiltered(&self, text: &str) -> Vec<Found> {
        let mut out = Vec::new();
        self.run(&self.all, text, true, |f| {
            out.push(f);
            true
        });
        out
    }

    /// Whether any detector finds a validated match in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        let mut found = false;
        self.run(&self.all, text, false, |_| {
            found = true;
            false
        });
        found
    }

    /// Whether the detector named `name` includes the pattern that found a match.
    pub fn detector_covers(&self, name: &str, pattern: usize) -> bool {
        self.patterns
            .get(pattern)
            .is_some_and(|p| p.detectors.iter().any(|d| self.names.get(*d).is_some_and(|n| n == name)))
    }

    /// A short label for what a pattern finds (`email`), for `[REDACTED:email]`.
    pub fn name(&self, pattern: usize) -> &str {
        self.patterns.get(pattern).map_or("pii", |p| p.label.as_str())
    }

    /// Reports matches to `emit` until it returns false.
    fn run(&self, c: &Compiled, text: &str, unfiltered: bool, mut emit: impl FnMut(Found) -> bool) {
        let Some(regex) = &c.regex else { return };
        let mut marks = Marks::default();
        match c.triggers {
            Some(t) if !unfiltered => {
                let mut pem_ends = Vec::new();
                let starts = candidate_starts(&t, c.literals.as_ref(), text, &mut pem_ends);
                if t.pem {
                    marks.pem_ends = Some(pem_ends);
                }
                let (mut done, mut tried) = (0, None);
                for s in starts {
                    if s < done || tried == Some(s) {
                        continue;
                    }
                    let mut at = s;
                    // After a match, try where it ended too: a match may start
                    // there whose trigger lay inside the one before (an e-mail
                    // whose local part runs back into it).
                    loop {
                        tried = Some(at);
                        let input = Input::new(text).range(at..).anchored(Anchored::Yes);
                        let Some(m) = regex.search(&input) else { break };
                        let Some(f) = self.confirm_at(c, regex, text, m, &mut marks) else { break };
                        done = f.end.max(at + 1);
                        if !emit(f) {
                            return;
                        }
                        if done >= text.len() || !text.is_char_boundary(done) {
                            break;
                        }
                        at = done;
                    }
                }
            }
            _ => {
                let mut pos = 0;
                while pos <= text.len() {
                    let Some(m) = regex.search(&Input::new(text).range(pos..)) else { return };
                    match self.confirm_at(c, regex, text, m, &mut marks) {
                        Some(f) => {
                            if !emit(f) {
                                return;
                            }
                            pos = f.end.max(next_boundary(text, m.start()));
                        }
                        // A long candidate is skipped whole, so that the scan stays linear.
                        None if m.len() > 256 => pos = m.end(),
                        None => pos = next_boundary(text, m.start()),
                    }
                }
            }
        }
    }

    /// The validated match at `m`'s start: `m` itself, or else the first
    /// lower-priority pattern that also matches there and validates.
    fn confirm_at(
        &self,
        c: &Compiled,
        regex: &Regex,
        text: &str,
        m: regex_automata::Match,
        marks: &mut Marks,
    ) -> Option<Found> {
        let first = m.pattern().as_usize();
        if let Some(f) = self.check(c, text, first, m.start(), m.end(), marks) {
            return Some(f);
        }
        if first + 1 >= c.global.len() {
            return None;
        }
        let at = Input::new(text).range(m.start()..).anchored(Anchored::Yes);
        let mut set = PatternSet::new(regex.pattern_len());
        regex.which_overlapping_matches(&at, &mut set);
        for pid in set.iter().filter(|p| p.as_usize() > first) {
            let input = Input::new(text).range(m.start()..).anchored(Anchored::Pattern(pid));
            if let Some(mq) = regex.search(&input)
                && let Some(f) = self.check(c, text, pid.as_usize(), mq.start(), mq.end(), marks)
            {
                return Some(f);
            }
        }
        None
    }

    fn check(
        &self,
        c: &Compiled,
        text: &str,
        local: usize,
        start: usize,
        end: usize,
        marks: &mut Marks,
    ) -> Option<Found> {
        if start >= end {
            return None;
        }
        let global = *c.global.get(local)?;
        let info = self.patterns.get(global)?;
        let (start, end) = match info.check {
            Check::None => (start, end),
            Check::Validator(v) => validate(v, text.get(start..end)?).then_some((start, end))?,
            Check::Kind(k) => confirm(k, text, start, end, marks)?,
        };
        (start < end).then_some(Found { start, end, pattern: global })
    }
}

pub(super) fn next_boundary(text: &str, at: usize) -> usize {
    let mut i = at + 1;
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

pub(super) fn compile_set(patterns: &[PatternInfo], ids: &[usize]) -> Result<Compiled, String> {
    let sources: Vec<&str> = ids.iter().filter_map(|i| patterns.get(*i)).map(|p| p.source.as_str()).collect();
    let regex = if sources.is_empty() {
        None
    } else {
        Some(Regex::new_many(&sources).map_err(|e| format!("detectors do not compile: {e}"))?)
    };
    let triggers = ids.iter().try_fold(Triggers::default(), |t, i| match patterns.get(*i).map(|p| p.check) {
        Some(Check::Kind(k)) => Some(t.with(k)),
        _ => None,
    });
    let literals = match &triggers {
        Some(t) => Literals::new(t)?,
        None => None,
    };
    Ok(Compiled { regex, global: ids.to_vec(), triggers, literals })
}
