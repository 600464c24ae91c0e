//! The [`Scanner`]: every detector of a program in one multi-pattern regex,
//! run over the trigger positions (built-in detectors only) or over the
//! whole text, each candidate confirmed before it is reported.

use std::sync::{Arc, Mutex};

use regex_automata::meta::Regex;
use regex_automata::{Anchored, Input, MatchKind, PatternID, PatternSet};
use ward_ir::{Detector, DetectorPart};

use super::builtin::{BuiltinPart, Kind, builtin_parts, kind_regex};
use super::confirm::{Marks, before, byte, confirm};
use super::keyed::{keyed_span, kind_of_key};
use super::number::{by_hand, match_at};
use super::prefix::{Prefixes, prefixes};
use super::trigger::{
    Literals, Triggers, candidate_starts, ipv6_may_start, is_hex_or_colon, is_local_part, is_word, start_literals,
};
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
    /// Where a match can start, for a pattern that is not a built-in kind
    /// (`None`: anywhere, so its set runs unanchored).
    prefixes: Option<Prefixes>,
    /// The pattern has a group named `value`: that group is the match.
    value_group: bool,
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
    /// The same patterns with every match reported (`MatchKind::All`): which
    /// others also match where a candidate was rejected.
    overlapping: Option<Regex>,
    /// Pattern id in `regex` → index into `Scanner::patterns`.
    global: Vec<usize>,
    /// Set when every pattern is a built-in kind: then only trigger
    /// positions are tried.
    triggers: Option<Triggers>,
    literals: Option<Literals>,
    /// The number kinds of a set scanned at trigger positions, matched by
    /// hand where nothing else can start.
    numbers: Option<Numbers>,
}

/// The number kinds of a set (card, SSN, IPv4, phone), in rank order with
/// their local pattern ids, and what the set's other patterns need to
/// start at a position.
#[derive(Debug)]
struct Numbers {
    kinds: Vec<(usize, Kind)>,
    others: Vec<Other>,
    /// By the byte at a position: the others (indexes) that can start
    /// with it, and those whose start is not at their first byte.
    by_first_byte: Vec<Vec<usize>>,
}

/// A pattern other than the number kinds, by what its matches start with.
#[derive(Debug)]
enum Other {
    /// An e-mail's local part, running up to an `@`.
    Email,
    /// A run of hex digits, colons and dots with a `::` or six colons.
    Ipv6,
    /// A word boundary, two ASCII letters and two digits.
    Iban,
    /// One of these literals, `head` bytes in (ignoring ASCII case when
    /// `folded`); `first`: their first bytes (both cases when folded).
    Literals { head: usize, literals: Vec<Vec<u8>>, folded: bool, first: Box<[bool; 256]> },
}

impl Other {
    /// Whether a match can start with byte `c` (any byte, for literals
    /// after a head).
    fn may_start_with(&self, c: u8) -> bool {
        match self {
            Other::Email => !c.is_ascii() || is_local_part(char::from(c)),
            Other::Ipv6 => is_hex_or_colon(c),
            Other::Iban => c.is_ascii_alphabetic(),
            Other::Literals { head, first, .. } => *head > 0 || first.get(usize::from(c)).is_some_and(|f| *f),
        }
    }

    fn literals(head: usize, literals: Vec<Vec<u8>>, folded: bool) -> Other {
        let mut first = Box::new([false; 256]);
        for c in literals.iter().filter_map(|l| l.first()) {
            for c in [*c, c.to_ascii_lowercase(), c.to_ascii_uppercase()].into_iter().take(if folded { 3 } else { 1 }) {
                if let Some(f) = first.get_mut(usize::from(c)) {
                    *f = true;
                }
            }
        }
        Other::Literals { head, literals, folded, first }
    }
}

impl Numbers {
    fn new(patterns: &[PatternInfo], ids: &[usize]) -> Option<Numbers> {
        let (mut kinds, mut others) = (Vec::new(), Vec::new());
        for (local, p) in ids.iter().filter_map(|i| patterns.get(*i)).enumerate() {
            let other = match (p.check, &p.prefixes) {
                (Check::Kind(k), _) if by_hand(k) => {
                    kinds.push((local, k));
                    continue;
                }
                (Check::Kind(Kind::Email), _) => Other::Email,
                (Check::Kind(Kind::Ipv6), _) => Other::Ipv6,
                (Check::Kind(Kind::Iban), _) => Other::Iban,
                (Check::Kind(k), _) => {
                    Other::literals(0, start_literals(k)?.iter().map(|l| l.to_vec()).collect(), false)
                }
                (_, Some(pre)) => Other::literals(pre.head, pre.literals.clone(), pre.folded),
                (_, None) => return None,
            };
            others.push(other);
        }
        let mut by_first_byte = vec![Vec::new(); 256];
        for (k, o) in others.iter().enumerate() {
            for (c, list) in by_first_byte.iter_mut().enumerate() {
                if u8::try_from(c).map_or(true, |c| o.may_start_with(c)) {
                    list.push(k);
                }
            }
        }
        (!kinds.is_empty()).then_some(Numbers { kinds, others, by_first_byte })
    }

    /// Whether a pattern other than the number kinds may match at `s`:
    /// a necessary condition of each, read off its regex.
    fn others_may_start(&self, b: &[u8], s: usize, local: &mut LocalRun) -> bool {
        let Some(list) = self.by_first_byte.get(usize::from(byte(b, s))) else { return true };
        list.iter().filter_map(|k| self.others.get(*k)).any(|o| match o {
            Other::Email => local.reaches_at(b, s),
            Other::Ipv6 => ipv6_may_start(b, s),
            Other::Iban => {
                !is_word(before(b, s, 1))
                    && byte(b, s).is_ascii_alphabetic()
                    && byte(b, s + 1).is_ascii_alphabetic()
                    && byte(b, s + 2).is_ascii_digit()
                    && byte(b, s + 3).is_ascii_digit()
            }
            Other::Literals { head, literals, folded, first } => {
                first.get(usize::from(byte(b, s + head))).is_some_and(|f| *f)
                    && b.get(s + head..).is_some_and(|rest| {
                        literals.iter().any(|l| {
                            rest.get(..l.len())
                                .is_some_and(|r| if *folded { r.eq_ignore_ascii_case(l) } else { r == l.as_slice() })
                        })
                    })
            }
        })
    }
}

/// The run of bytes an e-mail's local part may hold, from a start on:
/// whether it runs up to an `@`. Any non-ASCII byte counts (the local part
/// takes letters and digits of every script), so this is necessary for a
/// match, not sufficient. Starts come in increasing order, and every start
/// inside a run shares its end, so each run is read once.
#[derive(Default)]
struct LocalRun {
    from: usize,
    end: usize,
}

impl LocalRun {
    fn reaches_at(&mut self, b: &[u8], s: usize) -> bool {
        if !(self.from..self.end).contains(&s) {
            let run = b
                .get(s..)
                .map_or(0, |r| r.iter().take_while(|c| !c.is_ascii() || is_local_part(char::from(**c))).count());
            (self.from, self.end) = (s, s + run);
        }
        self.end > s && byte(b, self.end) == b'@'
    }
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
            for (k, part) in detector.parts.iter().enumerate() {
                let label = detector.labels.get(k).unwrap_or(&detector.name);
                let specs = match part {
                    DetectorPart::Builtin(name) => builtin_specs(name)?,
                    DetectorPart::Pattern { regex, validate } => user::pattern(label, regex, validate.as_deref()),
                    DetectorPart::Keywords(words) => user::keywords(label, words),
                };
                for Spec { source, check, label, rank } in specs {
                    match patterns.iter_mut().find(|p| p.source == source && p.check == check) {
                        Some(p) => {
                            if !p.detectors.contains(&d) {
                                p.detectors.push(d);
                            }
                        }
                        None => {
                            let prefixes = if matches!(check, Check::Kind(_)) { None } else { prefixes(&source) };
                            let value_group = has_value_group(&source);
                            patterns.push(PatternInfo {
                                source,
                                check,
                                detectors: vec![d],
                                label,
                                rank,
                                prefixes,
                                value_group,
                            });
                        }
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

    /// A value under a JSON key named like a kind (`"ssn": "536228145"`,
    /// `"mobile": "07700900123"`), found whole by the selected built-in
    /// detector of that kind, though it would not be found in free text.
    pub fn find_keyed(&self, selection: &Selection, key: &str, value: &str) -> Option<Found> {
        let kind = kind_of_key(key)?;
        let pattern = selection
            .0
            .global
            .iter()
            .copied()
            .find(|g| self.patterns.get(*g).is_some_and(|p| p.check == Check::Kind(kind)))?;
        let (start, end) = keyed_span(kind, value)?;
        Some(Found { start, end, pattern })
    }

    /// Whether a selection is scanned at trigger positions only (every
    /// pattern in it is a built-in kind or has start literals). For tests.
    #[doc(hidden)]
    pub fn anchored(&self, selection: &Selection) -> bool {
        selection.0.triggers.is_some()
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

    /// The same matches as [`Scanner::find_selected`], found without the
    /// trigger pass. For tests and benchmarks.
    #[doc(hidden)]
    pub fn find_unfiltered_selected(&self, selection: &Selection, text: &str) -> Vec<Found> {
        let mut out = Vec::new();
        self.run(&selection.0, text, true, |f| {
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
                let mut local = LocalRun::default();
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
                        let found = match &c.numbers {
                            Some(n) if !n.others_may_start(text.as_bytes(), at, &mut local) => {
                                self.number_at(c, n, text, at, &mut marks)
                            }
                            _ => {
                                let input = Input::new(text).range(at..).anchored(Anchored::Yes);
                                let Some(m) = regex.search(&input) else { break };
                                self.confirm_at(c, regex, text, m, &mut marks)
                            }
                        };
                        let Some(f) = found else { break };
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

    /// Where only number kinds can start: the first of them, in rank order,
    /// whose regex matches at `s` and whose match confirms — what the
    /// multi-pattern regex and [`Scanner::confirm_at`] give there.
    fn number_at(&self, c: &Compiled, n: &Numbers, text: &str, s: usize, marks: &mut Marks) -> Option<Found> {
        let b = text.as_bytes();
        n.kinds.iter().find_map(|&(local, kind)| {
            let end = match_at(kind, b, s)?;
            self.check(c, text, local, s, end, marks)
        })
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
        // Leftmost-first search stops at the first pattern that matches; a
        // set built to report every match says which others match here.
        let Some(all) = &c.overlapping else { return None };
        let at = Input::new(text).range(m.start()..).anchored(Anchored::Yes);
        let mut set = PatternSet::new(all.pattern_len());
        all.which_overlapping_matches(&at, &mut set);
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
        let (start, end) = if info.value_group { value_span(c, text, local, start)? } else { (start, end) };
        let (start, end) = match info.check {
            Check::None => (start, end),
            Check::Validator(v) => validate(v, text.get(start..end)?).then_some((start, end))?,
            Check::Kind(k) => confirm(k, text, start, end, marks)?,
        };
        if start >= end {
            return None;
        }
        // `API_KEY=sk_live_…`: the assignment found it, but the value is a
        // credential a detector of its own names; say which.
        let pattern =
            if info.value_group { self.named_value(c, text, start, end, marks).unwrap_or(global) } else { global };
        Some(Found { start, end, pattern })
    }

    /// The pattern without a `value` group that matches exactly `start..end`
    /// and confirms there, if any: the name of an assignment's value.
    fn named_value(&self, c: &Compiled, text: &str, start: usize, end: usize, marks: &mut Marks) -> Option<usize> {
        let regex = c.regex.as_ref()?;
        let m = regex.search(&Input::new(text).range(start..).anchored(Anchored::Yes))?;
        let local = m.pattern().as_usize();
        let info = self.patterns.get(*c.global.get(local)?)?;
        if info.value_group {
            return None;
        }
        let f = self.check(c, text, local, m.start(), m.end(), marks)?;
        (f.start == start && f.end == end).then_some(f.pattern)
    }
}

pub(super) fn next_boundary(text: &str, at: usize) -> usize {
    let mut i = at + 1;
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Whether a pattern names a group `value` (`(?P<value>…)`): then only
/// that group is the match, and is what its validator checks.
fn has_value_group(source: &str) -> bool {
    regex_syntax::parse(source).is_ok_and(|hir| {
        let mut stack = vec![hir];
        while let Some(h) = stack.pop() {
            match h.into_kind() {
                regex_syntax::hir::HirKind::Capture(c) if c.name.as_deref() == Some("value") => return true,
                regex_syntax::hir::HirKind::Capture(c) => stack.push(*c.sub),
                regex_syntax::hir::HirKind::Concat(subs) | regex_syntax::hir::HirKind::Alternation(subs) => {
                    stack.extend(subs)
                }
                regex_syntax::hir::HirKind::Repetition(r) => stack.push(*r.sub),
                _ => {}
            }
        }
        false
    })
}

/// The span of the `value` group of pattern `local`'s match at `start`.
fn value_span(c: &Compiled, text: &str, local: usize, start: usize) -> Option<(usize, usize)> {
    let regex = c.regex.as_ref()?;
    let pid = PatternID::new(local).ok()?;
    let mut caps = regex.create_captures();
    regex.search_captures(&Input::new(text).range(start..).anchored(Anchored::Pattern(pid)), &mut caps);
    let span = caps.get_group_by_name("value")?;
    Some((span.start, span.end))
}

pub(super) fn compile_set(patterns: &[PatternInfo], ids: &[usize]) -> Result<Compiled, String> {
    let sources: Vec<&str> = ids.iter().filter_map(|i| patterns.get(*i)).map(|p| p.source.as_str()).collect();
    let (regex, overlapping) = if sources.is_empty() {
        (None, None)
    } else {
        let regex = Regex::new_many(&sources).map_err(|e| format!("detectors do not compile: {e}"))?;
        let overlapping = if sources.len() > 1 {
            let all = Regex::builder()
                .configure(Regex::config().match_kind(MatchKind::All))
                .build_many(&sources)
                .map_err(|e| format!("detectors do not compile: {e}"))?;
            Some(all)
        } else {
            None
        };
        (Some(regex), overlapping)
    };
    // Anchored at trigger positions when every pattern is a built-in kind
    // or has start literals.
    let mut triggers = Some(Triggers::default());
    let mut user = Vec::new();
    for p in ids.iter().filter_map(|i| patterns.get(*i)) {
        match (p.check, &p.prefixes) {
            (Check::Kind(k), _) => triggers = triggers.map(|t| t.with(k)),
            (_, Some(pre)) => user.push((pre.literals.clone(), pre.folded, pre.head)),
            (_, None) => triggers = None,
        }
    }
    let literals = match &triggers {
        Some(t) => Literals::new(t, &user)?,
        None => None,
    };
    let numbers = triggers.and_then(|_| Numbers::new(patterns, ids));
    Ok(Compiled { regex, overlapping, global: ids.to_vec(), triggers, literals, numbers })
}
