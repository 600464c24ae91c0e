//! Verdicts: a decision as indexes into the compiled program.
//!
//! The engine's fast path decides without allocating: which rules fired and
//! which masks apply are recorded as rule indexes in small inline arrays, and
//! the [`Decision`] a caller serialises (rule ids, clause text, spans,
//! obligations, masks) is materialised from them only when asked for, by
//! [`crate::engine::Loaded::explain`]. Whatever the fast path does not take
//! (delegation chains, evaluation errors, rate limits, approvals, shadow
//! rules, lifecycle denials) is decided by the full procedure and carried
//! whole.

use crate::decision::{Decision, Effect};

/// Rule indexes: up to [`Fired::CAPACITY`] inline, more on the heap (a
/// decision that many rules agree on is rare, and still decided here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fired {
    len: u8,
    items: [u32; Fired::CAPACITY],
    more: Vec<u32>,
}

impl Fired {
    pub const CAPACITY: usize = 6;
    /// What the heap list is first sized for.
    const SPILL: usize = 64;

    pub const fn new() -> Fired {
        Fired { len: 0, items: [0; Fired::CAPACITY], more: Vec::new() }
    }

    #[inline]
    pub fn push(&mut self, index: u32) {
        match self.items.get_mut(self.len as usize) {
            Some(slot) => {
                *slot = index;
                self.len += 1;
            }
            None => {
                if self.more.is_empty() {
                    // Spilled once, with room to grow: doubling from six
                    // reallocated several times per decision when a bucket's
                    // rules mostly fire.
                    self.more.reserve(Self::SPILL);
                    self.more.extend_from_slice(&self.items);
                }
                self.more.push(index);
            }
        }
    }

    /// Puts the indexes in ascending order.
    pub fn sort(&mut self) {
        if self.more.is_empty() {
            if let Some(items) = self.items.get_mut(..self.len as usize) {
                items.sort_unstable();
            }
        } else {
            self.more.sort_unstable();
        }
    }

    pub fn as_slice(&self) -> &[u32] {
        if self.more.is_empty() { self.items.get(..self.len as usize).unwrap_or(&[]) } else { &self.more }
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
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

#[cfg(test)]
mod tests {
    use super::Fired;

    /// Past the inline six and past the first heap reservation, every index
    /// is kept, in the order pushed, and sorting sorts all of them.
    #[test]
    fn fired_keeps_every_index_across_the_spill() {
        for n in [0, 1, Fired::CAPACITY, Fired::CAPACITY + 1, Fired::SPILL, Fired::SPILL + 1, 3 * Fired::SPILL] {
            let pushed: Vec<u32> = (0..n as u32).map(|i| (i * 7919) % 1009).collect();
            let mut fired = Fired::new();
            for &i in &pushed {
                fired.push(i);
            }
            assert_eq!(fired.as_slice(), &pushed[..], "{n} pushed");
            assert_eq!(fired.is_empty(), n == 0);
            fired.sort();
            let mut sorted = pushed.clone();
            sorted.sort_unstable();
            assert_eq!(fired.as_slice(), &sorted[..], "{n} pushed, sorted");
        }
    }
}
