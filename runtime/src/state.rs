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

/// Where rate-limit and flow state lives.
pub trait StateStore: Send + Sync {
    /// Checks every limit at `now`. When all pass and `commit` is set, one
    /// unit of each is consumed, atomically with the check.
    /// The results are written to `results` (cleared first), one per check,
    /// so that the hot path allocates nothing.
    fn check_limits(
        &self,
        checks: &[LimitCheck],
        now: i64,
        commit: bool,
        results: &mut Vec<LimitResult>,
    ) -> Result<(), StoreError>;

    /// Adds an event at `time` (with `value`, for sums) to the flow summary under `key`.
    fn flow_record(&self, key: &str, window_ms: i64, time: i64, value: i64) -> Result<(), StoreError>;

    /// The flow summary under `key` (empty if there is none).
    fn flow_read(&self, key: &str) -> Result<FlowSummary, StoreError>;
}

/// How many of the most recent matching actions a flow summary keeps
/// exactly; older ones (in a busy session) are folded into buckets.
pub const FLOW_EXACT: usize = 64;

/// How many buckets a flow window is split into for the folded actions. A
/// summary therefore holds at most `FLOW_EXACT + FLOW_BUCKETS + 1` entries,
/// whatever the number of events: constant state per rule and session.
/// Answers are exact while a session has at most `FLOW_EXACT` matching
/// actions in the window; beyond that, counts and sums over the folded part
/// are exact to one bucket (1/32 of the window) at the window's far edge,
/// erring towards counting more (a cap then refuses early, never late).
pub const FLOW_BUCKETS: i64 = 32;

/// A bounded summary of the earlier actions that matched a flow condition.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FlowSummary {
    /// The time of the last matching action.
    pub last: Option<i64>,
    /// The most recent matching actions: `(time, value)`, oldest first.
    pub events: Vec<(i64, i64)>,
    /// Older ones: `(bucket index, count, sum)`, a bucket being `window / FLOW_BUCKETS` long.
    pub buckets: Vec<(i64, i64, i64)>,
}

pub fn bucket_width(window_ms: i64) -> i64 {
    (window_ms / FLOW_BUCKETS).max(1)
}

impl FlowSummary {
    /// Adds an event, forgetting what has left the window.
    pub fn record(&mut self, window_ms: i64, time: i64, value: i64) {
        let at = self.events.partition_point(|e| e.0 <= time);
        self.events.insert(at, (time, value));
        let newest = self.events.last().map_or(time, |e| e.0);
        self.events.retain(|e| e.0 >= newest - window_ms);
        let width = bucket_width(window_ms);
        while self.events.len() > FLOW_EXACT {
            let (t, v) = self.events.remove(0);
            let index = t.div_euclid(width);
            match self.buckets.iter_mut().find(|b| b.0 == index) {
                Some(b) => {
                    b.1 = b.1.saturating_add(1);
                    b.2 = b.2.saturating_add(v);
                }
                None => self.buckets.push((index, 1, v)),
            }
        }
        let newest_bucket = newest.div_euclid(width);
        self.buckets.retain(|b| b.0 > newest_bucket - FLOW_BUCKETS - 1);
        self.last = Some(self.last.map_or(time, |l| l.max(time)));
    }

    /// `(previously, count, sum)` at `now` over the last `window_ms`.
    pub fn at(&self, window_ms: i64, now: i64) -> (bool, i64, i64) {
        let start = now - window_ms;
        let (mut count, mut sum) = (0i64, 0i64);
        for (t, v) in &self.events {
            if *t >= start && *t <= now {
                count += 1;
                sum = sum.saturating_add(*v);
            }
        }
        let exact = count;
        let width = bucket_width(window_ms);
        for (index, c, s) in &self.buckets {
            let (lo, hi) = (index * width, index * width + width);
            // Folded buckets that reach into the window and are not in the future.
            if hi > start && lo <= now {
                count = count.saturating_add(*c);
                sum = sum.saturating_add(*s);
            }
        }
        let previously = exact > 0 || self.last.is_some_and(|l| l >= start && l <= now);
        (previously, count, sum)
    }
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

type FxMap<V> = HashMap<String, V, crate::hash::FxBuild>;

/// In-process state: 64 shards, each a small map behind its own lock, so
/// decisions on different keys rarely contend. A request's keys are locked
/// in shard order (no deadlock), which makes a multi-limit check atomic.
pub struct MemoryStore {
    shards: Vec<Mutex<FxMap<i64>>>,
    flows: Vec<Mutex<FxMap<FlowSummary>>>,
}

impl Default for MemoryStore {
    fn default() -> MemoryStore {
        MemoryStore {
            shards: (0..SHARDS).map(|_| Mutex::new(FxMap::default())).collect(),
            flows: (0..SHARDS).map(|_| Mutex::new(FxMap::default())).collect(),
        }
    }
}

fn shard_of(key: &str) -> usize {
    let mut h = crate::hash::FxHasher::default();
    key.hash(&mut h);
    // The map re-hashes with the same function; take the high bits here so
    // that shards and buckets do not correlate.
    (h.finish() >> 58) as usize % SHARDS
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

impl MemoryStore {
    /// One limit: one shard lock, no allocation unless the key is new.
    fn check_one(&self, check: &LimitCheck, now: i64, commit: bool) -> Result<LimitResult, StoreError> {
        let shard = self.shards.get(shard_of(&check.key)).ok_or_else(|| StoreError("no such shard".into()))?;
        let mut map = shard.lock().map_err(|_| StoreError("a shard lock is poisoned".into()))?;
        match map.get_mut(check.key.as_str()) {
            Some(tat) => {
                let (result, new_tat) = gcra(Some(*tat), now, check);
                if commit && result.allowed {
                    *tat = new_tat;
                }
                Ok(result)
            }
            None => {
                let (result, new_tat) = gcra(None, now, check);
                if commit && result.allowed {
                    map.insert(check.key.clone(), new_tat);
                }
                Ok(result)
            }
        }
    }
}

impl StateStore for MemoryStore {
    fn check_limits(
        &self,
        checks: &[LimitCheck],
        now: i64,
        commit: bool,
        results: &mut Vec<LimitResult>,
    ) -> Result<(), StoreError> {
        results.clear();
        if let [only] = checks {
            results.push(self.check_one(only, now, commit)?);
            return Ok(());
        }
        let mut order: Vec<usize> = checks.iter().map(|c| shard_of(&c.key)).collect();
        order.sort_unstable();
        order.dedup();
        let mut guards = Vec::with_capacity(order.len());
        for s in &order {
            let shard = self.shards.get(*s).ok_or_else(|| StoreError("no such shard".into()))?;
            guards.push((*s, shard.lock().map_err(|_| StoreError("a shard lock is poisoned".into()))?));
        }
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
        Ok(())
    }

    fn flow_record(&self, key: &str, window_ms: i64, time: i64, value: i64) -> Result<(), StoreError> {
        let shard = self.flows.get(shard_of(key)).ok_or_else(|| StoreError("no such shard".into()))?;
        let mut map = shard.lock().map_err(|_| StoreError("a shard lock is poisoned".into()))?;
        map.entry(key.to_string()).or_default().record(window_ms, time, value);
        Ok(())
    }

    fn flow_read(&self, key: &str) -> Result<FlowSummary, StoreError> {
        let shard = self.flows.get(shard_of(key)).ok_or_else(|| StoreError("no such shard".into()))?;
        let map = shard.lock().map_err(|_| StoreError("a shard lock is poisoned".into()))?;
        Ok(map.get(key).cloned().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(key: &str, count: u64, window_ms: i64, burst: u64) -> LimitCheck {
        LimitCheck { key: key.into(), count, window_ms, burst }
    }

    trait Checks {
        fn checked(&self, checks: &[LimitCheck], now: i64, commit: bool) -> Result<Vec<LimitResult>, StoreError>;
    }

    impl<S: StateStore> Checks for S {
        fn checked(&self, checks: &[LimitCheck], now: i64, commit: bool) -> Result<Vec<LimitResult>, StoreError> {
            let mut out = Vec::new();
            self.check_limits(checks, now, commit, &mut out).map(|()| out)
        }
    }

    #[test]
    fn a_burst_then_one_per_interval() {
        let store = MemoryStore::default();
        let c = [check("k", 4, 4000, 2)];
        let mut allowed = Vec::new();
        for now in [0, 0, 0, 1000, 1000, 2000] {
            allowed.push(store.checked(&c, now, true).map(|r| r[0].allowed).unwrap_or(false));
        }
        assert_eq!(allowed, vec![true, true, false, true, false, true]);
    }

    #[test]
    fn limits_compose_and_a_refusal_consumes_nothing() {
        let store = MemoryStore::default();
        let wide = check("wide", 100, 1000, 100);
        let narrow = check("narrow", 1, 1000, 1);
        let both = [wide.clone(), narrow.clone()];
        assert!(store.checked(&both, 0, true).map(|r| r.iter().all(|x| x.allowed)).unwrap_or(false));
        let second = store.checked(&both, 0, true).unwrap_or_default();
        assert!(second[0].allowed && !second[1].allowed);
        assert_eq!(second[1].retry_after_ms, Some(1000));
        // The refused request did not consume from the wide limit.
        let wide_only = store.checked(&[wide], 0, false).unwrap_or_default();
        assert_eq!(wide_only[0].remaining, 98);
    }

    #[test]
    fn a_clock_going_backwards_never_over_admits() {
        let store = MemoryStore::default();
        let c = [check("k", 1, 1000, 1)];
        assert!(store.checked(&c, 10_000, true).map(|r| r[0].allowed).unwrap_or(false));
        assert!(!store.checked(&c, 5_000, true).map(|r| r[0].allowed).unwrap_or(true));
    }

    #[test]
    fn flow_summaries_are_bounded_and_windowed() {
        let mut f = FlowSummary::default();
        let hour = 3_600_000;
        for i in 0..10_000 {
            f.record(hour, i * 1000, 2);
        }
        assert!(f.buckets.len() as i64 <= FLOW_BUCKETS + 1, "{} buckets", f.buckets.len());
        assert!(f.events.len() <= FLOW_EXACT);
        let now = 10_000 * 1000;
        let (previously, count, sum) = f.at(hour, now);
        assert!(previously);
        // 3,600 events in the last hour, exact to one bucket (1/32 of the window).
        assert!((3_600..=3_600 + 113).contains(&count), "{count}");
        assert_eq!(sum, count * 2);
        let (later, c, _) = f.at(hour, now + 2 * hour);
        assert!(!later && c == 0);
        // An event in the future (clock skew) does not count yet.
        let mut g = FlowSummary::default();
        g.record(hour, 5 * hour, 1);
        assert!(!g.at(hour, hour).0);
    }

    #[test]
    fn few_events_are_counted_exactly_at_the_window_edge() {
        let day = 86_400_000;
        let mut f = FlowSummary::default();
        f.record(day, 0, 14_000);
        f.record(day, 300_000, 14_000);
        assert_eq!(f.at(day, 600_000), (true, 2, 28_000));
        // Just over a day after both: nothing is left in the window.
        assert_eq!(f.at(day, day + 600_000), (false, 0, 0));
        assert_eq!(f.at(day, day + 100_000), (true, 1, 14_000));
    }

    #[test]
    fn eviction_forgets_refilled_keys() {
        let store = MemoryStore::default();
        for i in 0..100 {
            let _ = store.checked(&[check(&format!("k{i}"), 10, 1000, 10)], 0, true);
        }
        assert_eq!(store.len(), 100);
        store.evict(10_000);
        assert!(store.is_empty());
    }
}
