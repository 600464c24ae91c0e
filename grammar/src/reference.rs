//! The normative grammar, `ward.pest`, compiled by pest.
//!
//! Ward parses with a hand-written parser (spans, recovery, messages); this
//! module exists so that tests can check the two agree, and so that tools can
//! ask "is this text a Ward program according to the specification?".

use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "ward.pest"]
struct WardGrammar;

/// Checks `source` against the normative grammar.
///
/// Returns the first error pest reports, rendered as text, when the grammar
/// rejects the input.
pub fn check(source: &str) -> Result<(), String> {
    // pest recurses once per nesting level; bound it so deep input cannot
    // overflow the stack. The hand-written parser has its own depth limit.
    pest::set_call_limit(std::num::NonZeroUsize::new(5_000_000));
    WardGrammar::parse(Rule::file, source).map(|_| ()).map_err(|e| e.to_string())
}
