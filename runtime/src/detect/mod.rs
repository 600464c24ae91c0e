//! String matchers: `like` globs, `matches` regexes and detectors.
//!
//! Detectors find sensitive or hostile content in text: for masking
//! ([`Scanner::find_selected`]) and for conditions such as
//! `context.query matches inputs.sql_injection` ([`Matcher`]).
//!
//! # One pass
//!
//! All detectors of a program are compiled into one multi-pattern regex,
//! ordered by priority (specific credentials first, phone numbers last). A
//! [`Scanner`] never runs one regex per detector:
//!
//! - When every detector is a built-in one (`stdlib.pii`), a single pass over
//!   the bytes looks for **triggers** — digits, `@`, `:`, and the first bytes
//!   of the literal prefixes (`eyJ`, `AKIA`, `Bearer`, `-----BEGIN`, …) — and
//!   derives the positions where a match can start. The multi-pattern regex
//!   then runs *anchored* at those positions only. Text without triggers is
//!   skipped eight bytes at a time (`swar`).
//! - Otherwise (user `pattern` and `keywords` detectors, whose prefixes are
//!   unknown) the same regex runs unanchored over the text.
//!
//! Either way a candidate is **confirmed** before it is reported: checksums
//! (Luhn, mod-97), structural rules (SSN areas, issuer prefixes and lengths,
//! IPv6 parsing, a JWT header that decodes to JSON with `alg`) and context
//! (a card number that is the middle of a longer digit sequence, a phone
//! number that is really a date or an amount). A rejected candidate gives way
//! to the next pattern that matches at the same position. Matches never
//! overlap and come left to right. Everything is linear in the text.

mod builtin;
mod confirm;
mod keyed;
mod number;
mod pattern;
mod prefix;
mod scanner;
mod swar;
mod trigger;
mod user;
mod validate;

pub use builtin::builtin_regexes;
pub use pattern::{Matcher, compile};
pub use scanner::{Found, Scanner, Selection};
pub use validate::{Validator, iban, luhn, secret, ssn, validate};

#[cfg(test)]
mod tests;
