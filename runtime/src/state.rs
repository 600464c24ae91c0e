//! State for rate limits: a trait, an in-process store and (in
//! [`crate::redis_store`]) a Redis store shared by several engines.
//!
//! Rate limits use GCRA (the generic cell rate algorithm): per key, one
//! number — the theoretical arrival time (TAT). A request at `now` passes if
//! `TAT - now <= tolerance`; passing moves `TAT` to `max(TAT, now) + T`,
//! where `T = window / count` and `tolerance = T * (burst - 1)`.
//!
//! A decision is a pure function of (request, state read, time): the store
//! checks every applicable limit and, only if all pass and the caller says
//! the decision is final, consumes one unit of each — atomically, so limits
//! compose (every one must pass) and a refused request consumes nothing.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

/// One limit to check for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitCheck {
    /// The limit's rule and key values (`outbound.send-rate/Agent::"bot"`).
    pub key: String,
    pub count: u64,
    pub window_ms: i64,
    pub burst: u64,
}

impl LimitCheck {
    /// GCRA's emission interval `T` (at least 1 ms).
    pub fn interval(&self) -> i64 {
        (self.window_ms / self.count.max(1) as i64).max(1)
    }

    pub fn tolerance(&self) -> i64 {
        self.interval().saturating_mul(self.burst.max(1) as i64 - 1)
    }
}

/// How one limit came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitResult {
    pub allowed: bool,
    /// Requests left in the burst after this one (if it passed).
    pub remaining: u64,
    /// When refused: milliseconds until a request would pass.
    pub retry_after_ms: Option<i64>,
}

/// Why the store could not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rate-limit state: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

/// Where rate-limit state lives.
pub trait StateStore: Send + Sync {
    /// Checks every limit at `now`. When all pass and `commit` is set, one
    /// unit of each is consumed, atomically with the check.
    fn check_limits(&self, checks: &[LimitCheck], now: i64, commit: bool) -> Result<Vec<LimitResult>, StoreError>;
}

/// The GCRA step for one key: the result and the new TAT if it passes.
pub fn gcra(tat: Option<i64>, now: i64, check: &LimitCheck) -> (LimitResult, i64) {
    let t = check.interval();
    let tolerance = check.tolerance();
    // A clock that went backwards sees the stored TAT as further away: it
    // can refuse, never over-admit.
    let tat = tat.unwrap_or(now).max(now);
    if tat - now > tolerance {
        let retry = tat - tolerance - now;
        return (LimitResult { allowed: false, remaining: 0, retry_after_ms: Some(retry) }, tat);
    }
    let new_tat = tat.saturating_add(t);
    let used = (new_tat - now + t - 1) / t;
    let remaining = (check.burst as i64 - used).max(0) as u64;
    (LimitResult { allowed: true, remaining, retry_after_ms: None }, new_tat)
}

const SHARDS: usize = 64;

/// In-process state: 64 shards, each a small map behind its own lock, so
/// decisions on different keys rarely contend. A request's keys are locked
/// in shard order (no deadlock), which makes a multi-limit check atomic.
pub struct MemoryStore {
    shards: Vec<Mutex<HashMap<String, i64>>>,
}

impl Default for MemoryStore {
    fn default() -> MemoryStore {
        MemoryStore { shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect() }
    }
}

fn shard_of(key: &str) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() as usize) % SHARDS
}

impl MemoryStore {
    /// Forgets keys whose budget is full again (TAT in the past), so that
    /// hostile or one-off keys cannot grow the map without bound.
    pub fn evict(&self, now: i64) {
        for shard in &self.shards {
            if let Ok(mut map) = shard.lock() {
                map.retain(|_, tat| *tat > now);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map_or(0, |m| m.len())).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl StateStore for MemoryStore {
    fn check_limits(&self, checks: &[LimitCheck], now: i64, commit: bool) -> Result<Vec<LimitResult>, StoreError> {
        let mut order: Vec<usize> = checks.iter().map(|c| shard_of(&c.key)).collect();
        order.sort_unstable();
        order.dedup();
        let mut guards = Vec::with_capacity(order.len());
        for s in &order {
            let shard = self.shards.get(*s).ok_or_else(|| StoreError("no such shard".into()))?;
            guards.push((*s, shard.lock().map_err(|_| StoreError("a shard lock is poisoned".into()))?));
        }
        let mut results = Vec::with_capacity(checks.len());
        let mut updates = Vec::with_capacity(checks.len());
        for check in checks {
            let s = shard_of(&check.key);
            let map = guards
                .iter()
                .find(|(i, _)| *i == s)
                .map(|(_, g)| g)
                .ok_or_else(|| StoreError("shard not locked".into()))?;
            let (result, tat) = gcra(map.get(&check.key).copied(), now, check);
            results.push(result);
            updates.push((s, check.key.clone(), tat));
        }
        if commit && results.iter().all(|r| r.allowed) {
            for (s, key, tat) in updates {
                if let Some((_, g)) = guards.iter_mut().find(|(i, _)| *i == s) {
                    g.insert(key, tat);
                }
            }
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(key: &str, count: u64, window_ms: i64, burst: u64) -> LimitCheck {
        LimitCheck { key: key.into(), count, window_ms, burst }
    }

    #[test]
    fn a_burst_then_one_per_interval() {
        let store = MemoryStore::default();
        let c = [check("k", 4, 4000, 2)];
        let mut allowed = Vec::new();
        for now in [0, 0, 0, 1000, 1000, 2000] {
            allowed.push(store.check_limits(&c, now, true).map(|r| r[0].allowed).unwrap_or(false));
        }
        assert_eq!(allowed, vec![true, true, false, true, false, true]);
    }

    #[test]
    fn limits_compose_and_a_refusal_consumes_nothing() {
        let store = MemoryStore::default();
        let wide = check("wide", 100, 1000, 100);
        let narrow = check("narrow", 1, 1000, 1);
        let both = [wide.clone(), narrow.clone()];
        assert!(store.check_limits(&both, 0, true).map(|r| r.iter().all(|x| x.allowed)).unwrap_or(false));
        let second = store.check_limits(&both, 0, true).unwrap_or_default();
        assert!(second[0].allowed && !second[1].allowed);
        assert_eq!(second[1].retry_after_ms, Some(1000));
        // The refused request did not consume from the wide limit.
        let wide_only = store.check_limits(&[wide], 0, false).unwrap_or_default();
        assert_eq!(wide_only[0].remaining, 98);
    }

    #[test]
    fn a_clock_going_backwards_never_over_admits() {
        let store = MemoryStore::default();
        let c = [check("k", 1, 1000, 1)];
        assert!(store.check_limits(&c, 10_000, true).map(|r| r[0].allowed).unwrap_or(false));
        assert!(!store.check_limits(&c, 5_000, true).map(|r| r[0].allowed).unwrap_or(true));
    }

    #[test]
    fn eviction_forgets_refilled_keys() {
        let store = MemoryStore::default();
        for i in 0..100 {
            let _ = store.check_limits(&[check(&format!("k{i}"), 10, 1000, 10)], 0, true);
        }
        assert_eq!(store.len(), 100);
        store.evict(10_000);
        assert!(store.is_empty());
    }
}
