//! Hierarchy tests as bit tests: `e in a` for an `a` computed at run time
//! (`principal in resource.readers`) is `e == a`, or bit `rank(a)` of `e`'s
//! row. Every entity that is some entity's ancestor in the data gets a rank;
//! every entity a row of bits over those ranks. A test is then two loads
//! (the rank, the word) where it was a binary search of the entity's
//! ancestor list, and native code makes it without a helper call.
//!
//! The rows cost `entities × ranks / 8` bytes: past a byte budget the store
//! keeps no rows ([`Ancestry::words`] is 0) and every test takes the exact
//! path, the ancestor list, so a decision never depends on the budget. The
//! ranks themselves are kept either way (one word per entity).
//!
//! A patch ([`Store::patched`](super::Store::patched)) keeps them right: an
//! entity that becomes an ancestor gets the next rank (the rows widen,
//! doubling, while they fit the budget; past it they are dropped), and the
//! rows of the entities whose ancestors it recomputes are rewritten. Ranks
//! of entities that are no longer anyone's ancestor stay given (their bit
//! is clear in every row) until the next full load.

/// The rank of an entity that is no entity's ancestor.
pub(crate) const NO_RANK: u32 = u32::MAX;

/// The byte budget for the rows when none is given: a load beyond it (e.g.
/// 100,000 entities under 1,300 distinct ancestors) keeps no rows. A patch
/// copies the rows, so the budget also bounds that copy.
pub const DEFAULT_BUDGET: usize = 16 << 20;

/// Every entity's rank and, within the budget, its row of ancestor bits.
#[derive(Debug, Clone)]
pub(crate) struct Ancestry {
    /// Entity index → its rank, or [`NO_RANK`]. Ranks are distinct and
    /// below `ranked`; every ancestor of an entity has one.
    pub(crate) rank: Vec<u32>,
    /// How many ranks are given.
    pub(crate) ranked: u32,
    /// Words per row; 0 when there are no rows (over the budget, or no
    /// ranks). `ranked <= words * 64` whenever it is not 0.
    pub(crate) words: usize,
    /// Entity `i`'s row is `rows[i * words..(i + 1) * words]`: bit `r` set
    /// when the entity of rank `r` is one of its ancestors.
    pub(crate) rows: Vec<u64>,
    /// The most bytes `rows` may take.
    pub(crate) budget: usize,
    /// Whether the rows were dropped for the budget: then a patch does not
    /// bring them back (the next full load may).
    pub(crate) dropped: bool,
}

impl Ancestry {
    /// The ranks and rows of entities with the sorted ancestor lists
    /// `ancestors`, ranks given in index order; no rows when they would
    /// take more than `budget` bytes. Linear in the entities and their
    /// ancestors, plus the rows (bounded by the budget).
    pub(crate) fn new<'a>(n: usize, ancestors: impl Iterator<Item = &'a [u32]> + Clone, budget: usize) -> Ancestry {
        let mut rank = vec![NO_RANK; n];
        for list in ancestors.clone() {
            for a in list {
                if let Some(r) = rank.get_mut(*a as usize) {
                    // Marked for now; numbered below, in index order.
                    *r = 0;
                }
            }
        }
        let mut ranked = 0u32;
        for r in rank.iter_mut().filter(|r| **r != NO_RANK) {
            *r = ranked;
            ranked += 1;
        }
        let mut out = Ancestry { rank, ranked, words: 0, rows: Vec::new(), budget, dropped: false };
        let words = (ranked as usize).div_ceil(64);
        if !out.fits(n, words) {
            out.dropped = true;
        } else if words > 0 {
            out.words = words;
            out.rows = vec![0; n * words];
            for (i, list) in ancestors.enumerate() {
                out.set_row(i as u32, list);
            }
        }
        out
    }

    /// Whether `n` rows of `words` words fit the budget.
    fn fits(&self, n: usize, words: usize) -> bool {
        n.checked_mul(words).and_then(|w| w.checked_mul(8)).is_some_and(|bytes| bytes <= self.budget)
    }

    /// Entity `entity`'s row, when there are rows and it is a store entity.
    fn row(&self, entity: u32) -> Option<&[u64]> {
        if self.words == 0 {
            return None;
        }
        let at = (entity as usize).checked_mul(self.words)?;
        self.rows.get(at..at.checked_add(self.words)?)
    }

    /// Whether `entity` is strictly below `ancestor`, when the bits say:
    /// `None` without rows, or for an entity the store does not have (the
    /// caller asks its ancestor list).
    #[inline]
    pub(crate) fn below(&self, entity: u32, ancestor: u32) -> Option<bool> {
        let row = self.row(entity)?;
        // An entity the store does not have is no store entity's ancestor.
        let r = match self.rank.get(ancestor as usize) {
            None | Some(&NO_RANK) => return Some(false),
            Some(r) => *r,
        };
        row.get(r as usize / 64).map(|w| w & (1 << (r % 64)) != 0)
    }

    /// Writes entity `i`'s row from its ancestor list (every ancestor ranked).
    fn set_row(&mut self, i: u32, ancestors: &[u32]) {
        let words = self.words;
        let Some(at) = (i as usize).checked_mul(words) else { return };
        let Some(row) = self.rows.get_mut(at..at.saturating_add(words)) else { return };
        row.fill(0);
        for a in ancestors {
            if let Some(r) = self.rank.get(*a as usize).copied().filter(|r| *r != NO_RANK)
                && let Some(w) = row.get_mut(r as usize / 64)
            {
                *w |= 1 << (r % 64);
            }
        }
    }

    /// A new entity, at the end: no rank, an empty row (no rows at all
    /// once they would pass the budget).
    pub(crate) fn push_blank(&mut self) {
        self.rank.push(NO_RANK);
        if self.words > 0 && !self.fits(self.rank.len(), self.words) {
            self.drop_rows();
        }
        self.rows.extend(std::iter::repeat_n(0, self.words));
    }

    fn drop_rows(&mut self) {
        self.words = 0;
        self.rows = Vec::new();
        self.dropped = true;
    }

    /// Entity `i`'s ancestors became `ancestors` (a patch): those without a
    /// rank get one, the rows widen (or go, past the budget), its row is
    /// written.
    pub(crate) fn set(&mut self, i: u32, ancestors: &[u32]) {
        for a in ancestors {
            if let Some(r) = self.rank.get_mut(*a as usize)
                && *r == NO_RANK
            {
                *r = self.ranked;
                self.ranked = self.ranked.saturating_add(1);
            }
        }
        let need = (self.ranked as usize).div_ceil(64);
        if need > self.words && !self.dropped {
            self.widen(need);
        }
        if self.words > 0 {
            self.set_row(i, ancestors);
        }
    }

    /// Rows of at least `need` words (doubling, so that ranks given one by
    /// one cost amortized linear copies), each row's bits kept; none if
    /// that exceeds the budget.
    fn widen(&mut self, need: usize) {
        let n = self.rank.len();
        let words = need.max(self.words.saturating_mul(2));
        if !self.fits(n, words) {
            self.drop_rows();
            return;
        }
        let mut rows = vec![0u64; n * words];
        if self.words > 0 {
            for (new, old) in rows.chunks_exact_mut(words).zip(self.rows.chunks_exact(self.words)) {
                for (w, v) in new.iter_mut().zip(old) {
                    *w = *v;
                }
            }
        }
        self.rows = rows;
        self.words = words;
    }

    /// Whether there are rows (else every test takes the ancestor list).
    pub(crate) fn has_rows(&self) -> bool {
        self.words > 0
    }

    /// Checks the ranks and rows against the entities' ancestor lists
    /// (`ancestors`, as a load computes them): every ancestor ranked, ranks
    /// distinct, every row exactly its entity's ancestors' bits.
    pub(crate) fn check(&self, ancestors: &[Vec<u32>]) -> Result<(), String> {
        let n = ancestors.len();
        if self.rank.len() != n {
            return Err("ancestor ranks: not one per entity".into());
        }
        if self.rows.len() != n.saturating_mul(self.words) {
            return Err("ancestor bits: not one row per entity".into());
        }
        if self.words > 0 && self.ranked as usize > self.words * 64 {
            return Err("ancestor bits: rows narrower than the ranks".into());
        }
        if self.words > 0 && !self.fits(n, self.words) {
            return Err("ancestor bits: over the budget".into());
        }
        let mut seen = vec![false; self.ranked as usize];
        for r in self.rank.iter().filter(|r| **r != NO_RANK) {
            match seen.get_mut(*r as usize) {
                Some(s) if !*s => *s = true,
                _ => return Err(format!("ancestor rank {r} given twice, or out of range")),
            }
        }
        let mut want = vec![0u64; self.words];
        for (i, list) in ancestors.iter().enumerate() {
            want.fill(0);
            for a in list {
                let r = self.rank.get(*a as usize).copied().unwrap_or(NO_RANK);
                if r == NO_RANK {
                    return Err(format!("entity #{i}'s ancestor #{a} has no rank"));
                }
                if let Some(w) = want.get_mut(r as usize / 64) {
                    *w |= 1 << (r % 64);
                }
            }
            if self.words > 0 && self.row(i as u32) != Some(&want[..]) {
                return Err(format!("entity #{i}'s ancestor bits are not its ancestors'"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::{Ancestry, NO_RANK};

    fn lists(a: &[Vec<u32>]) -> impl Iterator<Item = &[u32]> + Clone {
        a.iter().map(Vec::as_slice)
    }

    /// Ranks go to ancestors only, in index order; the bits are the lists.
    #[test]
    fn ranks_and_rows_are_the_ancestor_lists() {
        let ancestors = vec![vec![1, 2], vec![2], vec![], vec![0, 1, 2]];
        let a = Ancestry::new(4, lists(&ancestors), 1 << 20);
        assert_eq!(a.rank, vec![0, 1, 2, NO_RANK]);
        assert_eq!(a.words, 1);
        a.check(&ancestors).unwrap();
        for (e, list) in ancestors.iter().enumerate() {
            for x in 0..4u32 {
                assert_eq!(a.below(e as u32, x), Some(list.contains(&x)), "{e} in {x}");
            }
        }
        // Not a store entity: the caller's to answer; not a store ancestor: no.
        assert_eq!(a.below(9, 0), None);
        assert_eq!(a.below(0, 9), Some(false));
    }

    /// A patch ranking new ancestors widens the rows, keeping every row,
    /// and drops them (for good) once they would pass the budget.
    #[test]
    fn patches_widen_the_rows_then_drop_them_past_the_budget() {
        let n = 200;
        let mut ancestors: Vec<Vec<u32>> = vec![Vec::new(); n];
        ancestors[0] = vec![1];
        let mut a = Ancestry::new(n, lists(&ancestors), n * 8 * 2);
        assert_eq!(a.words, 1);
        // Entity 199 comes under 100 others, one at a time: two words.
        for k in 0..100u32 {
            ancestors[199] = (100..100 + k).collect();
            a.set(199, &ancestors[199]);
            a.check(&ancestors).unwrap();
        }
        assert_eq!(a.words, 2, "widened once, rows kept");
        // Then under 130, 98 of them new: four words, past the two the budget allows.
        ancestors[199] = (2..132).collect();
        a.set(199, &ancestors[199]);
        a.check(&ancestors).unwrap();
        assert!(!a.has_rows() && a.dropped);
        assert_eq!(a.below(0, 1), None);
        // Ranks are still given: "no rank" stays an exact answer.
        ancestors[5] = vec![150];
        a.set(5, &ancestors[5]);
        a.check(&ancestors).unwrap();
        assert!(!a.has_rows());
    }

    /// No ranks at the load: the first patch that makes an ancestor brings rows.
    #[test]
    fn a_store_without_ancestors_gets_rows_when_one_comes() {
        let mut ancestors: Vec<Vec<u32>> = vec![Vec::new(); 3];
        let mut a = Ancestry::new(3, lists(&ancestors), 1 << 20);
        assert!(!a.has_rows() && !a.dropped);
        ancestors[2] = vec![0];
        a.set(2, &ancestors[2]);
        a.check(&ancestors).unwrap();
        assert!(a.has_rows());
        assert_eq!(a.below(2, 0), Some(true));
        a.push_blank();
        ancestors.push(Vec::new());
        a.check(&ancestors).unwrap();
    }
}
