//! Ward's syntax: the lexer (logos), the normative grammar (pest, see
//! [`reference`]), the error-recovering parser and the syntax tree, and the
//! formatter that prints a tree back in canonical layout, and the mapping
//! between byte offsets and lines and columns ([`lines`]).
//!
//! Architecture invariant: this crate knows nothing of types, salsa or the
//! LSP. [`parse`] never fails and never panics: it returns a tree plus the
//! syntax errors it met, having recovered at the next item.

pub mod ast;
pub mod format;
pub mod lexer;
pub mod lines;
mod parser;
pub mod reference;
pub mod visit;

use serde::Serialize;

pub use parser::{MAX_NESTING, Parse, SyntaxError, parse};

/// A byte range in a source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    /// Spans are `u32` to keep the tree small; inputs above 4 GiB are refused
    /// before they reach the lexer, so the conversion saturates only in theory.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start: u32::try_from(start).unwrap_or(u32::MAX), end: u32::try_from(end).unwrap_or(u32::MAX) }
    }

    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    pub fn len(self) -> u32 {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(self) -> bool {
        self.end <= self.start
    }
}

impl Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}..{}", self.start, self.end))
    }
}
