//! Verdicts: a decision as indexes into the compiled program.
//!
//! The engine's fast path decides without allocating: which rules fired and
//! which masks apply are recorded as rule indexes in fixed-size arrays, and
//! the [`Decision`] a caller serialises (rule ids, clause text, spans,
//! obligations, masks) is materialised from them only when asked for, by
//! [`crate::engine::Loaded::explain`]. Whatever the fast path does not take
//! (delegation chains, evaluation errors, rate limits, approvals, shadow
//! rules, lifecycle denials) is decided by the full procedure and carried
//! whole.

use crate::decision::{Decision, Effect};

/// Up to [`Fired::CAPACITY`] rule indexes, inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fired {
    len: u8,
    items: [u32; Fired::CAPACITY],
}

impl Fired {
    pub const CAPACITY: usize = 7;

    pub const fn new() -> Fired {
        Fired { len: 0, items: [0; Fired::CAPACITY] }
    }

    /// Adds `index`; `false` when full (the caller then takes the full path).
    #[inline]
    #[must_use]
    pub fn push(&mut self, index: u32) -> bool {
        match self.items.get_mut(self.len as usize) {
            Some(slot) => {
                *slot = index;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    pub fn as_slice(&self) -> &[u32] {
        self.items.get(..self.len as usize).unwrap_or(&[])
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for Fired {
    fn default() -> Fired {
        Fired::new()
    }
}

/// What decided a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Decided by rules alone: `rules` are the forbids that applied (deny) or
    /// the permits that applied (allow); `masks` the mask rules that apply.
    Rules { effect: Effect, rules: Fired, masks: Fired },
    /// No permit applied and no forbid did.
    DefaultDeny,
    /// Decided by the full procedure.
    Full(Box<Decision>),
}

impl Verdict {
    #[inline]
    pub fn effect(&self) -> Effect {
        match self {
            Verdict::Rules { effect, .. } => *effect,
            Verdict::DefaultDeny => Effect::Deny,
            Verdict::Full(d) => d.effect,
        }
    }

    pub fn is_allow(&self) -> bool {
        self.effect() == Effect::Allow
    }

    /// Indexes (into the program's rules) of the rules that decided, when
    /// the fast path decided.
    pub fn rules(&self) -> &[u32] {
        match self {
            Verdict::Rules { rules, .. } => rules.as_slice(),
            _ => &[],
        }
    }
}
