//! Where a user pattern's matches can start: the literal prefixes every
//! match begins with (regex-syntax's literal extractor), possibly after a
//! head of fixed width (`[A-Za-z0-9_~.]{3}[0-9]Q~…` starts four bytes
//! before each `Q~`). A pattern with such prefixes joins the trigger pass
//! (its prefixes go into the Aho-Corasick search), so a set of detectors
//! made of built-in kinds and anchorable patterns is never scanned byte by
//! byte. A pattern without them (`[0-9]{9}`) makes its set run unanchored.

use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Hir, HirKind};

/// The most literals a pattern may contribute (after case folding).
const MAX_LITERALS: usize = 64;
/// The widest fixed-width head looked through.
const MAX_HEAD: usize = 16;

/// A pattern's start literals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Prefixes {
    pub(super) literals: Vec<Vec<u8>>,
    /// The literals are lowercased: match them ignoring ASCII case.
    pub(super) folded: bool,
    /// How many bytes before a literal the match starts.
    pub(super) head: usize,
}

/// The start literals of `source`, if every match of it begins with one.
pub(super) fn prefixes(source: &str) -> Option<Prefixes> {
    let hir = regex_syntax::parse(source).ok()?;
    if let Some(p) = literals_of(&hir, 0) {
        return Some(p);
    }
    let HirKind::Concat(subs) = hir.kind() else { return None };
    let mut head = 0;
    for (k, sub) in subs.iter().enumerate().take(subs.len().saturating_sub(1)) {
        let props = sub.properties();
        match (props.minimum_len(), props.maximum_len()) {
            (Some(min), Some(max)) if min == max && head + min <= MAX_HEAD => head += min,
            _ => return None,
        }
        let rest = Hir::concat(subs.get(k + 1..)?.to_vec());
        if let Some(p) = literals_of(&rest, head) {
            return Some(p);
        }
    }
    None
}

fn literals_of(hir: &Hir, head: usize) -> Option<Prefixes> {
    let mut extractor = Extractor::new();
    extractor.kind(ExtractKind::Prefix);
    let seq = extractor.extract(hir);
    let literals: Vec<Vec<u8>> = seq.literals()?.iter().map(|l| l.as_bytes().to_vec()).collect();
    if literals.is_empty() || literals.iter().any(Vec::is_empty) {
        return None;
    }
    let mut lower: Vec<Vec<u8>> = literals.iter().map(|l| l.to_ascii_lowercase()).collect();
    lower.sort_unstable();
    lower.dedup();
    let folded = lower.len() < literals.len();
    let literals = if folded { lower } else { literals };
    (literals.len() <= MAX_LITERALS).then_some(Prefixes { literals, folded, head })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lits(p: &Prefixes) -> Vec<String> {
        p.literals.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect()
    }

    #[test]
    fn literal_prefixes_of_patterns() {
        let p = prefixes(r"\bgh[pousr]_[0-9A-Za-z]{36}").unwrap_or_else(|| unreachable!());
        assert_eq!((lits(&p).len(), p.folded, p.head), (5, false, 0));
        let p = prefixes(r"(?i)(?:password|secret)\s*=").unwrap_or_else(|| unreachable!());
        assert!(p.folded && lits(&p).iter().all(|l| l.starts_with("pa") || l.ends_with("ecret")), "{p:?}");
        let p = prefixes(r"[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}").unwrap_or_else(|| unreachable!());
        assert_eq!((lits(&p).len(), p.head), (10, 3), "{p:?}"); // `0Q~` … `9Q~`, three bytes in
        assert_eq!(prefixes(r"[0-9]{9}"), None);
        assert_eq!(prefixes(r"^\s*/etc"), None);
        assert_eq!(prefixes(r"\w+@x"), None);
    }
}
