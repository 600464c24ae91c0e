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

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockWriteGuard};

use hashbrown::HashTable;

/// One limit to check for a request. Built with [`LimitCheck::new`], which
/// derives GCRA's interval and tolerance once, so that a store's check does
/// not divide for them; the numbers they come from are therefore read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitCheck {
    /// The limit's rule and key values (`outbound.send-rate/Agent::"bot"`).
    pub key: String,
    pub measure: Measure,
    count: u64,
    window_ms: i64,
    burst: u64,
    interval: i64,
    tolerance: i64,
}

/// What a limit counts, with this request's share.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Measure {
    /// One request (GCRA).
    #[default]
    Requests,
    /// This request's amount (non-negative, scaled for Decimals) against
    /// the sum consumed over the sliding window.
    Sum(i64),
    /// This request's value against the distinct values seen in the window.
    Distinct(String),
}

impl LimitCheck {
    /// `count`: requests per window; a sum's budget; the number of distinct values.
    pub fn new(key: impl Into<String>, count: u64, window_ms: i64, burst: u64, measure: Measure) -> LimitCheck {
        let interval = (window_ms / count.max(1) as i64).max(1);
        let tolerance = interval.saturating_mul(burst.max(1) as i64 - 1);
        LimitCheck { key: key.into(), measure, count, window_ms, burst, interval, tolerance }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn window_ms(&self) -> i64 {
        self.window_ms
    }

    pub fn burst(&self) -> u64 {
        self.burst
    }

    /// GCRA's emission interval `T` (at least 1 ms).
    pub fn interval(&self) -> i64 {
        self.interval
    }

    pub fn tolerance(&self) -> i64 {
        self.tolerance
    }
}

/// How one limit came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LimitResult {
    pub allowed: bool,
    /// Requests left in the burst after this one (if it passed); for a sum,
    /// the budget left (after this one if it passed); for distinct values,
    /// how many more new values fit.
    pub remaining: u64,
    /// When refused: milliseconds until a request would pass. `None` for a
    /// sum whose amount alone exceeds the budget: no wait helps.
    pub retry_after_ms: Option<i64>,
    /// Sums and distinct counts: what the window held before this request.
    pub used: u64,
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

/// What the window of a sum limit holds at `now`. Unlike [`FlowSummary::at`],
/// amounts stamped after `now` (another engine's clock running ahead)
/// count too, and a folded bucket counts whole while any of it is in the
/// window: a budget errs towards refusing early, never late.
pub fn spent(summary: &FlowSummary, window_ms: i64, now: i64) -> i64 {
    let start = now.saturating_sub(window_ms);
    let width = bucket_width(window_ms);
    let events = summary.events.iter().filter(|e| e.0 >= start).map(|e| e.1);
    let buckets = summary.buckets.iter().filter(|b| (b.0 + 1).saturating_mul(width) > start).map(|b| b.2);
    events.chain(buckets).fold(0i64, i64::saturating_add)
}

/// The sum-limit step: may `amount` be spent at `now`?
pub fn sum_step(summary: &FlowSummary, now: i64, check: &LimitCheck, amount: i64) -> LimitResult {
    let budget = i64::try_from(check.count).unwrap_or(i64::MAX);
    let used = spent(summary, check.window_ms, now);
    let after = used.saturating_add(amount);
    if amount >= 0 && after <= budget {
        return LimitResult {
            allowed: true,
            remaining: (budget - after).max(0) as u64,
            retry_after_ms: None,
            used: used.max(0) as u64,
        };
    }
    let remaining = budget.saturating_sub(used).max(0) as u64;
    let refused = LimitResult { allowed: false, remaining, retry_after_ms: None, used: used.max(0) as u64 };
    if amount < 0 || amount > budget {
        return refused;
    }
    // The first moment enough has left the window for `amount` to fit: an
    // event at `t` leaves after `t + window`, a bucket once all of it has.
    let width = bucket_width(check.window_ms);
    let mut leaving: Vec<(i64, i64)> = summary
        .events
        .iter()
        .map(|e| (e.0.saturating_add(check.window_ms).saturating_add(1), e.1))
        .chain(summary.buckets.iter().map(|b| ((b.0 + 1).saturating_mul(width).saturating_add(check.window_ms), b.2)))
        .filter(|(at, _)| *at > now)
        .collect();
    leaving.sort_unstable();
    let mut need = after - budget;
    for (at, value) in leaving {
        need = need.saturating_sub(value);
        if need <= 0 {
            return LimitResult { retry_after_ms: Some(at - now), ..refused };
        }
    }
    refused
}

/// The distinct-limit step: `seen` maps each value to when it was last
/// seen. A value seen in the window passes; a new one if fewer than
/// `count` distinct values were seen in it.
pub fn distinct_step(seen: Option<&FxMap<i64>>, now: i64, check: &LimitCheck, value: &str) -> LimitResult {
    let start = now.saturating_sub(check.window_ms);
    let Some(seen) = seen else {
        let remaining = check.count.saturating_sub(1);
        return LimitResult { allowed: check.count >= 1, remaining, retry_after_ms: None, used: 0 };
    };
    let in_window = seen.values().filter(|t| **t >= start).count() as u64;
    let known = seen.get(value).is_some_and(|t| *t >= start);
    if known || in_window < check.count {
        let after = if known { in_window } else { in_window + 1 };
        return LimitResult {
            allowed: true,
            remaining: check.count.saturating_sub(after),
            retry_after_ms: None,
            used: in_window,
        };
    }
    // Refused: a new value fits once the oldest one in the window leaves.
    let oldest = seen.values().filter(|t| **t >= start).min().copied();
    LimitResult {
        allowed: false,
        remaining: 0,
        retry_after_ms: oldest.map(|t| t.saturating_add(check.window_ms).saturating_add(1) - now),
        used: in_window,
    }
}

/// Records `value` as seen at `now`, forgetting values that left the
/// window: the map then holds at most `count` values.
pub fn distinct_commit(seen: &mut FxMap<i64>, now: i64, window_ms: i64, value: &str) {
    let start = now.saturating_sub(window_ms);
    seen.retain(|_, t| *t >= start);
    match seen.get_mut(value) {
        Some(t) => *t = (*t).max(now),
        None => {
            seen.insert(value.to_string(), now);
        }
    }
}

/// The GCRA step for one key: the result and the new TAT if it passes.
// Inlined into the compare-and-swap loop, where the result would otherwise
// go through memory on every check.
#[inline(always)]
pub fn gcra(tat: Option<i64>, now: i64, check: &LimitCheck) -> (LimitResult, i64) {
    let t = check.interval();
    let tolerance = check.tolerance();
    // A clock that went backwards sees the stored TAT as further away: it
    // can refuse, never over-admit.
    let tat = tat.unwrap_or(now).max(now);
    if tat - now > tolerance {
        let retry = tat - tolerance - now;
        return (LimitResult { allowed: false, remaining: 0, retry_after_ms: Some(retry), used: 0 }, tat);
    }
    let new_tat = tat.saturating_add(t);
    let ahead = new_tat - now;
    // A key whose budget had refilled has used this request only: no division.
    let used = if ahead == t { 1 } else { ahead.saturating_add(t - 1) / t };
    let remaining = (check.burst as i64 - used).max(0) as u64;
    (LimitResult { allowed: true, remaining, retry_after_ms: None, used: 0 }, new_tat)
}

const SHARDS: usize = 64;

pub type FxMap<V> = HashMap<String, V, crate::hash::FxBuild>;

/// In-process state: 64 shards, so that decisions on different keys rarely
/// meet.
///
/// A rate-limit check on one key — the common case — takes no lock: each
/// thread remembers the cells of the keys it checked lately (a bounded
/// table of its own, for one store at a time), and a check on such a key
/// moves the key's TAT, an atomic, by compare-and-swap, as `governor` does.
/// Other single-key checks find the cell under the shard index's read lock.
/// The index is locked for writing only to add a key, to evict, and by a
/// check of several limits, which must be atomic across its keys.
///
/// Two TAT values are no time, so that a check without the lock can tell:
/// an evicted cell reads `DEAD` (eviction swaps it in by compare-and-swap,
/// so a check either moved the TAT first and the key stays, or finds it
/// dead and goes to the index, where the key is gone), and a cell that a
/// check of several limits holds reads `HELD` until it has decided (that
/// check holds its shards' write locks, in shard order so no deadlock, and
/// a check meeting `HELD` waits on the read lock). Sums and distinct values
/// rewrite a summary per check: they stay behind a plain lock.
///
/// # Memory
///
/// Keys carry request values (principal, session, context fields), so a
/// caller can send ever-new ones. The store forgets them by itself: when a
/// shard's table (or its sums and distinct values, or its flow summaries)
/// has grown to twice what its last eviction left, with a floor of
/// [`EVICT_FLOOR`] per shard, the check (or flow record) that adds a key
/// first evicts that shard's expired entries — under the lock it takes to
/// insert anyway, so the cost is amortized over the insertions
/// (linear in them) and a check on a key already present pays nothing. An
/// entry is expired when it is [`CLOCK_SLACK_MS`] past what makes it
/// invisible (a TAT at or before `now`, a window holding nothing): a check
/// whose clock is behind the evicting one by up to that slack decides
/// exactly as if the entry were still there. What remains bounded by
/// nothing but the input is the live keys: those used within their window
/// (plus the slack), at most the distinct keys a caller can send in a
/// window — as for any rate limiter keyed on request values, and small next
/// to what admitting those requests costs. There is no hard cap: refusing a
/// new key would refuse its request (a limit that fails closed) or skip its
/// limit (one that fails open), and neither is right for a legitimate key.
/// [`MemoryStore::evict`] remains for callers who want to shrink the store
/// at once. Besides, each thread that checks rate limits keeps up to
/// [`RECENT_MAX`] cells of the last store it checked (an evicted one until
/// it meets it again or forgets them all): a bound per thread, not per key.
pub struct MemoryStore {
    shards: Vec<Shard>,
    flows: Vec<Mutex<Flows>>,
    /// Seeded per store: keys carry request values, and a caller who could
    /// choose keys that collide would make every search of a shard long.
    hasher: foldhash::fast::RandomState,
    /// Unique for the life of the process (never an address, which a later
    /// store could reuse): whose cells a thread's [`Recent`] holds.
    id: u64,
}

/// A TAT that is no time: the cell was evicted, its key is no longer in
/// the index (see [`MemoryStore`]).
const DEAD: i64 = i64::MIN;
/// A TAT that is no time: a check of several limits holds the key.
const HELD: i64 = i64::MIN + 1;
/// The earliest time a check accepts, far from `DEAD` and `HELD`: no
/// TAT moved from it can reach them.
pub const EARLIEST_MS: i64 = i64::MIN / 4;

/// The most cells a thread remembers ([`Recent`]); past it, it forgets them all.
pub const RECENT_MAX: usize = 4_096;

static STORE_IDS: AtomicU64 = AtomicU64::new(1);

/// The rate-limit cells a thread checked lately, of one store (`store`, 0
/// for none): found without the shard's lock. A cell found here may have
/// been evicted since (it reads [`DEAD`]); it is then looked up again.
struct Recent {
    store: u64,
    cells: HashTable<Arc<Tat>>,
}

thread_local! {
    static RECENT: RefCell<Recent> = const { RefCell::new(Recent { store: 0, cells: HashTable::new() }) };
}

impl Recent {
    /// Remembers `cell` (in place of a dead one of the same key), for `store`.
    fn remember(store: u64, cell: Arc<Tat>) {
        let _ = RECENT.try_with(|r| {
            let Ok(mut r) = r.try_borrow_mut() else { return };
            if r.store != store || r.cells.len() >= RECENT_MAX {
                r.cells.clear();
                r.store = store;
            }
            let hash = cell.hash;
            match r.cells.entry(hash, |t| t.is(hash, &cell.key), |t| t.hash) {
                hashbrown::hash_table::Entry::Occupied(mut e) => *e.get_mut() = cell,
                hashbrown::hash_table::Entry::Vacant(e) => {
                    e.insert(cell);
                }
            }
        });
    }
}

#[derive(Default)]
struct Shard {
    tats: RwLock<Tats>,
    other: Mutex<Other>,
}

/// A shard's table (and its sums and distinct values) evicts by itself
/// once it holds this many entries, or twice what its last eviction kept if
/// more: 4,096 entries store-wide before any live key counts.
pub const EVICT_FLOOR: usize = 64;

/// How far behind the adding check's clock an entry must have expired for
/// an automatic eviction to forget it: clocks of concurrent callers differ
/// (and may step back), and a check up to this far behind the evicting one
/// still decides as if nothing were evicted.
pub const CLOCK_SLACK_MS: i64 = 1_000;

/// A shard's rate-limit keys, with the size at which adding one first
/// evicts the expired.
#[derive(Default)]
struct Tats {
    table: HashTable<Arc<Tat>>,
    evict_at: usize,
}

impl Tats {
    /// Adds a key not in the table; first, if the table has doubled since
    /// the last eviction, forgets the keys expired at `now` less the slack.
    fn insert(&mut self, cell: Arc<Tat>, now: i64) {
        if self.table.len() >= self.evict_at.max(EVICT_FLOOR) {
            self.evict(now.saturating_sub(CLOCK_SLACK_MS));
        }
        self.table.insert_unique(cell.hash, cell, |t| t.hash);
    }

    /// Forgets the keys whose TAT is at or before `before` (a check at or
    /// after it sees no difference) and sizes the table for the next
    /// doubling.
    fn evict(&mut self, before: i64) {
        // A held cell is kept (its holder puts its TAT back); one a check
        // moved since it was read is kept too, the compare-and-swap says so.
        self.table.retain(|t| {
            let tat = t.tat.load(Ordering::Acquire);
            !(tat != HELD
                && tat <= before
                && t.tat.compare_exchange(tat, DEAD, Ordering::AcqRel, Ordering::Acquire).is_ok())
        });
        self.evict_at = (2 * self.table.len()).max(EVICT_FLOOR);
        if self.table.capacity() > 2 * self.evict_at {
            self.table.shrink_to(self.table.len(), |t| t.hash);
        }
    }
}

/// One rate-limit key: its hash (computed once per check, for the shard and
/// the table both), the key, its TAT.
struct Tat {
    hash: u64,
    key: Box<str>,
    tat: AtomicI64,
}

impl Tat {
    fn new(hash: u64, key: &str, tat: i64) -> Arc<Tat> {
        Arc::new(Tat { hash, key: key.into(), tat: AtomicI64::new(tat) })
    }

    /// Whether this is the cell of `key` (whose hash is `hash`).
    fn is(&self, hash: u64, key: &str) -> bool {
        self.hash == hash && *self.key == *key
    }
}

/// A summary of what was spent per sum-limit key (with its window), the
/// values seen per distinct-limit key (with its window).
#[derive(Default)]
struct Other {
    sums: FxMap<(i64, FlowSummary)>,
    seen: FxMap<(i64, FxMap<i64>)>,
    /// The size at which committing first evicts the expired.
    evict_at: usize,
}

impl Other {
    fn len(&self) -> usize {
        self.sums.len() + self.seen.len()
    }

    /// Forgets sums and distinct values whose window, at any time from
    /// `before` on, holds nothing.
    fn evict(&mut self, before: i64) {
        self.sums.retain(|_, (window, summary)| holds_from(summary, *window, before));
        self.seen.retain(|_, (window, seen)| seen.values().any(|t| t.saturating_add(*window) >= before));
        self.evict_at = (2 * self.len()).max(EVICT_FLOOR);
        if self.sums.capacity() > 2 * self.evict_at {
            self.sums.shrink_to_fit();
        }
        if self.seen.capacity() > 2 * self.evict_at {
            self.seen.shrink_to_fit();
        }
    }

    fn check(&self, check: &LimitCheck, now: i64) -> LimitResult {
        match &check.measure {
            // Not reached: rate limits live in the TAT table.
            Measure::Requests => gcra(None, now, check).0,
            Measure::Sum(amount) => match self.sums.get(&check.key) {
                Some((_, summary)) => sum_step(summary, now, check, *amount),
                None => sum_step(&FlowSummary::default(), now, check, *amount),
            },
            Measure::Distinct(value) => distinct_step(self.seen.get(&check.key).map(|s| &s.1), now, check, value),
        }
    }

    /// Consumes what `check` asked for (it passed).
    fn commit(&mut self, check: &LimitCheck, now: i64) {
        // Committing may add a key: the amortized eviction (a comparison
        // when there is nothing to do). What it forgets is empty at `now`,
        // this key's summary included, so the check's result stands.
        if self.len() >= self.evict_at.max(EVICT_FLOOR) {
            self.evict(now.saturating_sub(CLOCK_SLACK_MS));
        }
        match &check.measure {
            Measure::Requests => {}
            Measure::Sum(amount) => {
                let entry =
                    self.sums.entry(check.key.clone()).or_insert_with(|| (check.window_ms, FlowSummary::default()));
                entry.0 = check.window_ms;
                entry.1.record(check.window_ms, now, *amount);
            }
            Measure::Distinct(value) => {
                let entry = self.seen.entry(check.key.clone()).or_insert_with(|| (check.window_ms, FxMap::default()));
                entry.0 = check.window_ms;
                distinct_commit(&mut entry.1, now, check.window_ms, value);
            }
        }
    }
}

impl Default for MemoryStore {
    fn default() -> MemoryStore {
        MemoryStore {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            flows: (0..SHARDS).map(|_| Mutex::new(Flows::default())).collect(),
            hasher: foldhash::fast::RandomState::default(),
            id: STORE_IDS.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// The shard of a key's hash: bits the table does not use (it takes the
/// low bits for the bucket and the top seven for its tags), so that shards
/// and buckets do not correlate.
fn shard_of_hash(hash: u64) -> usize {
    (hash >> 32) as usize % SHARDS
}

/// A shard of flow summaries (with their windows), and the size at which
/// recording a new key first evicts those whose window holds nothing.
#[derive(Default)]
struct Flows {
    map: FxMap<(i64, FlowSummary)>,
    evict_at: usize,
}

impl Flows {
    fn evict(&mut self, before: i64) {
        self.map.retain(|_, (window, summary)| holds_from(summary, *window, before));
        self.evict_at = (2 * self.map.len()).max(EVICT_FLOOR);
        if self.map.capacity() > 2 * self.evict_at {
            self.map.shrink_to_fit();
        }
    }
}

/// Whether a summary's window holds anything at some time from `before` on:
/// its newest time (of an event, or the end of a folded bucket) is at most
/// a window before. A summary for which this is false reads, then and
/// later, as an empty one ([`FlowSummary::at`], [`spent`]).
fn holds_from(summary: &FlowSummary, window: i64, before: i64) -> bool {
    let newest = summary.last.into_iter().chain(summary.events.iter().map(|e| e.0));
    let buckets = summary.buckets.iter().map(|b| (b.0 + 1).saturating_mul(bucket_width(window)));
    newest.chain(buckets).max().is_some_and(|t| t.saturating_add(window) >= before)
}

/// The flows' shard of a key.
fn shard_of(key: &str) -> usize {
    let mut h = crate::hash::FxHasher::default();
    key.hash(&mut h);
    shard_of_hash(h.finish())
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError("a shard lock is poisoned".into())
}

/// Moves one key's TAT by compare-and-swap: a concurrent check on the same
/// key makes this one retry on the TAT it left, so each admission consumes
/// its own interval and none is lost. `None` if the cell reads [`DEAD`] or
/// [`HELD`]: then the check goes to the shard's index.
#[inline(always)]
fn gcra_atomic(cell: &AtomicI64, now: i64, check: &LimitCheck, commit: bool) -> Option<LimitResult> {
    let mut current = cell.load(Ordering::Acquire);
    loop {
        if current <= HELD {
            return None;
        }
        let (result, new_tat) = gcra(Some(current), now, check);
        if !(commit && result.allowed) {
            return Some(result);
        }
        match cell.compare_exchange_weak(current, new_tat, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Some(result),
            Err(actual) => current = actual,
        }
    }
}

/// A cell in the index reads a time while its shard is read-locked: it is
/// held and evicted only under the write lock.
fn not_a_time() -> StoreError {
    StoreError("a rate-limit cell read no time under its shard's lock".into())
}

impl MemoryStore {
    /// Forgets, at once and in every shard, keys whose budget is full again
    /// (TAT at or before `now`) and sums and distinct values whose window
    /// holds nothing; a table shrinks to the keys it keeps. Not needed to
    /// bound memory: adding keys evicts as it goes (see [`MemoryStore`]).
    pub fn evict(&self, now: i64) {
        for shard in &self.shards {
            if let Ok(mut tats) = shard.tats.write() {
                tats.evict(now);
                tats.table.shrink_to(0, |t| t.hash);
            }
            if let Ok(mut other) = shard.other.lock() {
                other.evict(now);
            }
        }
        for flows in &self.flows {
            if let Ok(mut flows) = flows.lock() {
                flows.evict(now);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let tats = s.tats.read().map_or(0, |t| t.table.len());
                tats + s.other.lock().map_or(0, |o| o.len())
            })
            .sum::<usize>()
            + self.flows.iter().map(|f| f.lock().map_or(0, |f| f.map.len())).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The slots of every shard's table: what the rate-limit keys take.
    #[cfg(test)]
    fn slots(&self) -> usize {
        self.shards.iter().map(|s| s.tats.read().map_or(0, |t| t.table.capacity())).sum()
    }

    fn hash(&self, key: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(key.as_bytes());
        h.finish()
    }

    fn shard(&self, index: usize) -> Result<&Shard, StoreError> {
        self.shards.get(index).ok_or_else(|| StoreError("no such shard".into()))
    }

    /// One rate limit: without a lock if this thread checked the key
    /// lately, else the shard's index read-locked; the write lock only for
    /// a key seen the first time.
    fn check_rate(&self, check: &LimitCheck, now: i64, commit: bool) -> Result<LimitResult, StoreError> {
        let hash = self.hash(&check.key);
        let is_key = |t: &Arc<Tat>| t.is(hash, &check.key);
        let recent = RECENT.try_with(|r| {
            let r = r.try_borrow().ok()?;
            if r.store != self.id {
                return None;
            }
            gcra_atomic(&r.cells.find(hash, is_key)?.tat, now, check, commit)
        });
        if let Ok(Some(result)) = recent {
            return Ok(result);
        }
        let shard = self.shard(shard_of_hash(hash))?;
        let found = {
            let tats = shard.tats.read().map_err(poisoned)?;
            match tats.table.find(hash, is_key) {
                Some(t) => Some((gcra_atomic(&t.tat, now, check, commit).ok_or_else(not_a_time)?, Arc::clone(t))),
                None => None,
            }
        };
        if let Some((result, cell)) = found {
            Recent::remember(self.id, cell);
            return Ok(result);
        }
        let (result, new_tat) = gcra(None, now, check);
        if !(commit && result.allowed) {
            return Ok(result);
        }
        let mut tats = shard.tats.write().map_err(poisoned)?;
        // Another check may have added the key between the two locks.
        let (result, cell) = match tats.table.find(hash, is_key) {
            Some(t) => (gcra_atomic(&t.tat, now, check, commit).ok_or_else(not_a_time)?, Arc::clone(t)),
            None => {
                let cell = Tat::new(hash, &check.key, new_tat);
                tats.insert(Arc::clone(&cell), now);
                (result, cell)
            }
        };
        drop(tats);
        Recent::remember(self.id, cell);
        Ok(result)
    }

    /// One sum or distinct-value limit: its shard's lock.
    fn check_other(&self, check: &LimitCheck, now: i64, commit: bool) -> Result<LimitResult, StoreError> {
        let mut other = self.shard(shard_of_hash(self.hash(&check.key)))?.other.lock().map_err(poisoned)?;
        let result = other.check(check, now);
        if commit && result.allowed {
            other.commit(check, now);
        }
        Ok(result)
    }
}

/// The shards a multi-limit check holds, locked for writing.
struct Locked<'a> {
    index: usize,
    tats: RwLockWriteGuard<'a, Tats>,
    other: MutexGuard<'a, Other>,
}

/// The rate-limit cells a multi-limit check holds, each with its TAT: the
/// cell reads [`HELD`] until this is dropped, which writes the TATs back
/// (moved, if the check committed). Dropped before the shards' locks, so a
/// check that met `HELD` and waits on the read lock finds a time.
#[derive(Default)]
struct Held(Vec<(Arc<Tat>, i64)>);

impl Held {
    /// The TAT of `check`'s key (`None` for a key not in the index), held
    /// from now on.
    fn tat(&mut self, tats: &Tats, check: &LimitCheck, hash: u64) -> Result<Option<i64>, StoreError> {
        if let Some((_, tat)) = self.0.iter().find(|(c, _)| c.is(hash, &check.key)) {
            return Ok(Some(*tat));
        }
        let Some(cell) = tats.table.find(hash, |t| t.is(hash, &check.key)) else { return Ok(None) };
        // The write lock keeps other holders and eviction away: the cell
        // reads a time, which a check without the lock may move first.
        let tat = cell.tat.swap(HELD, Ordering::AcqRel);
        self.0.push((Arc::clone(cell), tat));
        if tat <= HELD {
            return Err(not_a_time());
        }
        Ok(Some(tat))
    }

    /// Consumes `check` (it passed): moves the held TAT, or adds the key.
    fn commit(&mut self, tats: &mut Tats, check: &LimitCheck, hash: u64, now: i64) -> Result<(), StoreError> {
        let tat = self.tat(tats, check, hash)?;
        let (_, new_tat) = gcra(tat, now, check);
        match self.0.iter_mut().find(|(c, _)| c.is(hash, &check.key)) {
            Some((_, held)) => *held = new_tat,
            None => {
                tats.insert(Tat::new(hash, &check.key, new_tat), now);
            }
        }
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        for (cell, tat) in &self.0 {
            if *tat > HELD {
                cell.tat.store(*tat, Ordering::Release);
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
        if now < EARLIEST_MS {
            return Err(StoreError(format!("the clock reads {now} ms, before the earliest time a limit accepts")));
        }
        if let [only] = checks {
            results.push(match only.measure {
                Measure::Requests => self.check_rate(only, now, commit)?,
                _ => self.check_other(only, now, commit)?,
            });
            return Ok(());
        }
        let hashes: Vec<u64> = checks.iter().map(|c| self.hash(&c.key)).collect();
        let mut order: Vec<usize> = hashes.iter().map(|h| shard_of_hash(*h)).collect();
        order.sort_unstable();
        order.dedup();
        let mut locked = Vec::with_capacity(order.len());
        for index in order {
            let shard = self.shard(index)?;
            let tats = shard.tats.write().map_err(poisoned)?;
            let other = shard.other.lock().map_err(poisoned)?;
            locked.push(Locked { index, tats, other });
        }
        let missing = || StoreError("shard not locked".into());
        let mut held = Held::default();
        for (check, hash) in checks.iter().zip(&hashes) {
            let shard = locked.iter().find(|l| l.index == shard_of_hash(*hash)).ok_or_else(missing)?;
            results.push(match check.measure {
                Measure::Requests => gcra(held.tat(&shard.tats, check, *hash)?, now, check).0,
                _ => shard.other.check(check, now),
            });
        }
        if commit && results.iter().all(|r| r.allowed) {
            // Two checks on one key (the same rule twice cannot happen; the
            // keys carry the rule id) are committed in order, each on the
            // state the previous one left.
            for (check, hash) in checks.iter().zip(&hashes) {
                let shard = locked.iter_mut().find(|l| l.index == shard_of_hash(*hash)).ok_or_else(missing)?;
                match check.measure {
                    Measure::Requests => held.commit(&mut shard.tats, check, *hash, now)?,
                    _ => shard.other.commit(check, now),
                }
            }
        }
        // The TATs go back before the locks are released.
        drop(held);
        drop(locked);
        Ok(())
    }

    fn flow_record(&self, key: &str, window_ms: i64, time: i64, value: i64) -> Result<(), StoreError> {
        let shard = self.flows.get(shard_of(key)).ok_or_else(|| StoreError("no such shard".into()))?;
        let mut flows = shard.lock().map_err(poisoned)?;
        // Recording may add a key: the amortized eviction, as for limits.
        if flows.map.len() >= flows.evict_at.max(EVICT_FLOOR) {
            flows.evict(time.saturating_sub(CLOCK_SLACK_MS));
        }
        let entry = flows.map.entry(key.to_string()).or_insert_with(|| (window_ms, FlowSummary::default()));
        entry.0 = window_ms;
        entry.1.record(window_ms, time, value);
        Ok(())
    }

    fn flow_read(&self, key: &str) -> Result<FlowSummary, StoreError> {
        let shard = self.flows.get(shard_of(key)).ok_or_else(|| StoreError("no such shard".into()))?;
        let flows = shard.lock().map_err(poisoned)?;
        Ok(flows.map.get(key).map(|e| e.1.clone()).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(key: &str, count: u64, window_ms: i64, burst: u64) -> LimitCheck {
        LimitCheck::new(key, count, window_ms, burst, Measure::Requests)
    }

    fn sum(key: &str, budget: u64, window_ms: i64, amount: i64) -> LimitCheck {
        LimitCheck::new(key, budget, window_ms, 1, Measure::Sum(amount))
    }

    fn distinct(key: &str, count: u64, window_ms: i64, value: &str) -> LimitCheck {
        LimitCheck::new(key, count, window_ms, 1, Measure::Distinct(value.into()))
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
    fn a_thread_checking_two_stores_keeps_their_keys_apart() {
        // One thread, one key, two stores: each store's cells are its own,
        // whichever the thread checked last (its recent cells are of one
        // store at a time), and a store made after one is dropped (which
        // may reuse its address) starts with a full budget.
        let c = [check("shared-key", 1, 60_000, 1)];
        let a = MemoryStore::default();
        // The same hash function, so that only the store's id tells the cells apart.
        let b = MemoryStore { hasher: a.hasher.clone(), ..MemoryStore::default() };
        for _ in 0..3 {
            let _ = a.checked(&c, 10, true);
        }
        assert!(!a.checked(&c, 10, true).map(|r| r[0].allowed).unwrap_or(true), "a: spent");
        assert!(b.checked(&c, 10, true).map(|r| r[0].allowed).unwrap_or(false), "b: its own budget");
        assert!(!a.checked(&c, 10, true).map(|r| r[0].allowed).unwrap_or(true), "a: still spent");
        assert!(!b.checked(&c, 10, true).map(|r| r[0].allowed).unwrap_or(true), "b: spent now");
        let hasher = a.hasher.clone();
        drop(a);
        let fresh = MemoryStore { hasher, ..MemoryStore::default() };
        assert!(fresh.checked(&c, 10, true).map(|r| r[0].allowed).unwrap_or(false), "a new store");
    }

    #[test]
    fn a_thread_checking_more_keys_than_it_remembers_decides_the_same() {
        // Past `RECENT_MAX` keys a thread forgets its recent cells and finds
        // them in the index again: every key still admits its burst once.
        let store = MemoryStore::default();
        let keys = RECENT_MAX + RECENT_MAX / 2;
        for round in 0..3 {
            for k in 0..keys {
                let allowed = store.checked(&[check(&format!("many{k}"), 2, 60_000, 2)], 5, true).map(|r| r[0].allowed);
                assert_eq!(allowed.ok(), Some(round < 2), "key {k}, round {round}");
            }
        }
        assert_eq!(store.len(), keys);
    }

    #[test]
    fn a_clock_before_the_earliest_time_is_an_error() {
        let store = MemoryStore::default();
        let c = [check("k", 1, 1000, 1)];
        assert!(store.checked(&c, EARLIEST_MS - 1, true).is_err());
        assert!(store.checked(&c, EARLIEST_MS, true).is_ok_and(|r| r[0].allowed));
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
    fn a_sum_budget_is_spent_over_a_sliding_window() {
        let store = MemoryStore::default();
        let day = 86_400_000;
        let order =
            |now: i64, amount: i64| store.checked(&[sum("b", 200_000, day, amount)], now, true).unwrap_or_default();
        let first = order(0, 99_990);
        assert!(first[0].allowed && first[0].remaining == 100_010 && first[0].used == 0);
        assert!(order(1_000, 99_990)[0].allowed);
        // The third would exceed the budget: refused, retry when the first leaves.
        let third = order(2_000, 99_990);
        assert!(!third[0].allowed);
        assert_eq!((third[0].used, third[0].remaining), (199_980, 20));
        assert_eq!(third[0].retry_after_ms, Some(day + 1 - 2_000));
        // Refused requests consumed nothing: a small one still fits.
        assert!(order(3_000, 20)[0].allowed);
        assert!(!order(4_000, 1)[0].allowed);
        // A day after the first, it has left the window.
        assert!(order(day + 1, 99_990)[0].allowed);
        // An amount larger than the budget never fits: no retry-after.
        let huge = order(day + 2, 200_001);
        assert!(!huge[0].allowed && huge[0].retry_after_ms.is_none());
    }

    #[test]
    fn a_refused_sum_consumes_nothing_from_the_other_limits() {
        let store = MemoryStore::default();
        let rate = check("rate", 100, 1000, 100);
        let both = [rate.clone(), sum("budget", 10, 1000, 8)];
        assert!(store.checked(&both, 0, true).map(|r| r.iter().all(|x| x.allowed)).unwrap_or(false));
        let second = store.checked(&both, 0, true).unwrap_or_default();
        assert!(second[0].allowed && !second[1].allowed);
        assert_eq!(store.checked(&[rate], 0, false).unwrap_or_default()[0].remaining, 98);
    }

    #[test]
    fn a_busy_sum_stays_bounded_and_errs_towards_refusing() {
        let mut f = FlowSummary::default();
        let hour = 3_600_000;
        for i in 0..10_000 {
            f.record(hour, i * 1000, 3);
        }
        assert!(f.events.len() <= FLOW_EXACT && f.buckets.len() as i64 <= FLOW_BUCKETS + 1);
        let now = 10_000 * 1000;
        // 3,601 events are in the window; folded buckets count whole while they overlap it.
        let used = spent(&f, hour, now);
        assert!((3_601 * 3..=(3_601 + 113) * 3).contains(&used), "{used}");
        // Amounts stamped ahead of `now` (a clock running ahead) count too.
        let mut g = FlowSummary::default();
        g.record(hour, 5 * hour, 7);
        assert_eq!(spent(&g, hour, hour), 7);
    }

    #[test]
    fn distinct_values_are_counted_over_a_sliding_window() {
        let store = MemoryStore::default();
        let read =
            |now: i64, value: &str| store.checked(&[distinct("d", 2, 1000, value)], now, true).unwrap_or_default();
        assert_eq!(read(0, "a")[0].remaining, 1);
        assert!(read(100, "b")[0].allowed);
        // A value already seen passes; a third new one does not.
        assert!(read(200, "a")[0].allowed);
        let c = read(300, "c");
        assert!(!c[0].allowed);
        assert_eq!((c[0].used, c[0].retry_after_ms), (2, Some(801)));
        // After `b` leaves the window (`a` was seen again at 200), `c` fits.
        assert!(!read(1_100, "c")[0].allowed);
        assert!(read(1_101, "c")[0].allowed);
        assert!(!read(1_150, "d")[0].allowed);
        store.evict(10_000);
        assert!(store.is_empty());
    }

    #[test]
    fn concurrent_requests_cannot_both_spend_the_last_budget() {
        use std::sync::Arc;
        let store = Arc::new(MemoryStore::default());
        let day = 86_400_000;
        let _ = store.checked(&[sum("race", 200_000, day, 100_000)], 0, true);
        for round in 0..50 {
            let key = format!("race{round}");
            let _ = store.checked(&[sum(&key, 200_000, day, 100_000)], 0, true);
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let store = Arc::clone(&store);
                    let key = key.clone();
                    std::thread::spawn(move || {
                        store
                            .checked(
                                &[sum(&key, 200_000, day, 99_990), check(&format!("r{key}"), 1000, 1000, 1000)],
                                1,
                                true,
                            )
                            .map(|r| r.iter().all(|x| x.allowed))
                            .unwrap_or(false)
                    })
                })
                .collect();
            let passed = threads.into_iter().map(|t| t.join().unwrap_or(false)).filter(|ok| *ok).count();
            assert_eq!(passed, 1, "round {round}");
        }
    }

    #[test]
    fn concurrent_checks_on_one_key_admit_exactly_the_burst() {
        // The lock-free path: every admission moves the TAT by exactly one
        // interval, whatever the interleaving, so threads hammering one key
        // (new at first: they also race to add it) admit the burst, no more.
        use std::sync::Arc;
        for round in 0..20 {
            let store = Arc::new(MemoryStore::default());
            let key = format!("hot{round}");
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let (store, key) = (Arc::clone(&store), key.clone());
                    std::thread::spawn(move || {
                        (0..100)
                            .filter(|_| {
                                store.checked(&[check(&key, 150, 60_000, 150)], 5, true).is_ok_and(|r| r[0].allowed)
                            })
                            .count()
                    })
                })
                .collect();
            let admitted: usize = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
            assert_eq!(admitted, 150, "round {round}");
        }
    }

    #[test]
    fn single_and_multi_limit_checks_on_a_shared_key_never_over_admit() {
        // Single-key checks (lock-free) and two-limit checks (write-locked)
        // spend one shared key: together they admit its burst exactly, and a
        // two-limit check refused by its other key consumes nothing.
        use std::sync::Arc;
        for round in 0..10 {
            let store = Arc::new(MemoryStore::default());
            let shared = format!("shared{round}");
            let threads: Vec<_> = (0..4)
                .map(|t| {
                    let (store, shared) = (Arc::clone(&store), shared.clone());
                    std::thread::spawn(move || {
                        let mut admitted = 0;
                        for i in 0..100 {
                            let checks = if t % 2 == 0 {
                                vec![check(&shared, 120, 60_000, 120)]
                            } else {
                                // The other key admits every other request at most.
                                vec![
                                    check(&shared, 120, 60_000, 120),
                                    check(&format!("side{t}-{}", i / 2), 1, 60_000, 1),
                                ]
                            };
                            if store.checked(&checks, 5, true).is_ok_and(|r| r.iter().all(|x| x.allowed)) {
                                admitted += 1;
                            }
                        }
                        admitted
                    })
                })
                .collect();
            let admitted: usize = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
            assert_eq!(admitted, 120, "round {round}");
            let last = store.checked(&[check(&shared, 120, 60_000, 120)], 5, true).unwrap_or_default();
            assert!(!last[0].allowed, "round {round}: the burst is spent");
        }
    }

    #[test]
    fn multi_limit_checks_hold_their_keys_against_checks_without_a_lock() {
        // Many admissions on one key, from single-key checks (which find
        // its cell without a lock after their first) and from two-limit
        // checks (which read and write it under the write lock): a
        // single-key check moving the TAT while a two-limit check holds it
        // would be overwritten, and the key would admit more than its burst.
        use std::sync::Arc;
        const BURST: u64 = 8_000;
        let store = Arc::new(MemoryStore::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    let mut checks = vec![check("hot", BURST, 60_000, BURST)];
                    if t % 2 == 1 {
                        checks.push(check(&format!("roomy{t}"), 1 << 40, 60_000, 1 << 40));
                    }
                    let mut results = Vec::new();
                    (0..BURST / 2 + 500)
                        .filter(|_| {
                            store.check_limits(&checks, 5, true, &mut results).is_ok()
                                && results.iter().all(|r| r.allowed)
                        })
                        .count() as u64
                })
            })
            .collect();
        let admitted: u64 = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
        assert_eq!(admitted, BURST);
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
    #[test]
    fn many_threads_adding_keys_never_lose_or_duplicate_one() {
        // Every key is new: the threads race to add them (growing the
        // shards' indexes many times over) while others find them without a
        // lock. A lost key would admit twice, a duplicated one too, and
        // either would show in the count of keys.
        use std::sync::Arc;
        const KEYS: usize = 20_000;
        let store = Arc::new(MemoryStore::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    let mut admitted = vec![0u32; KEYS];
                    for i in 0..KEYS {
                        // Each thread walks the keys in its own order.
                        let k = (i * (2 * t + 1) + t * 5_003) % KEYS;
                        if store
                            .checked(&[check(&format!("new{k}"), 1, 60_000, 1)], 5, true)
                            .is_ok_and(|r| r[0].allowed)
                        {
                            admitted[k] += 1;
                        }
                    }
                    admitted
                })
            })
            .collect();
        let mut admitted = vec![0u32; KEYS];
        for t in threads {
            for (total, a) in admitted.iter_mut().zip(t.join().unwrap_or_default()) {
                *total += a;
            }
        }
        assert!(admitted.iter().all(|a| *a == 1), "{:?}", admitted.iter().filter(|a| **a != 1).count());
        assert_eq!(store.len(), KEYS);
        for k in 0..KEYS {
            assert!(!store.checked(&[check(&format!("new{k}"), 1, 60_000, 1)], 5, true).unwrap_or_default()[0].allowed);
        }
    }

    #[test]
    fn eviction_racing_checks_never_over_admits() {
        // At each millisecond three threads check every key (one admission
        // per key per millisecond) while a fourth evicts, at that
        // millisecond, the keys not yet admitted in it: whether a check
        // moves a TAT before its cell is evicted or finds the key gone and
        // adds it again, each key admits exactly once per millisecond.
        use std::sync::atomic::{AtomicBool, AtomicI64};
        use std::sync::{Arc, Barrier};
        const KEYS: usize = 64;
        const STEPS: i64 = 20_000;
        let store = Arc::new(MemoryStore::default());
        let keys: Arc<Vec<[LimitCheck; 1]>> =
            Arc::new((0..KEYS).map(|k| [check(&format!("e{k}"), 1_000, 1_000, 1)]).collect());
        let (step, done, barrier) =
            (Arc::new(AtomicI64::new(0)), Arc::new(AtomicBool::new(false)), Arc::new(Barrier::new(3)));
        let evictor = {
            let (store, step, done) = (Arc::clone(&store), Arc::clone(&step), Arc::clone(&done));
            std::thread::spawn(move || {
                while !done.load(Ordering::Acquire) {
                    store.evict(step.load(Ordering::Acquire));
                }
            })
        };
        let threads: Vec<_> = (0..3)
            .map(|t| {
                let (store, keys, step, barrier) =
                    (Arc::clone(&store), Arc::clone(&keys), Arc::clone(&step), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    let mut admitted = vec![0i64; KEYS];
                    let mut results = Vec::new();
                    for now in 0..STEPS {
                        if barrier.wait().is_leader() {
                            step.store(now, Ordering::Release);
                        }
                        barrier.wait();
                        for i in 0..KEYS {
                            let k = (i + t * KEYS / 3) % KEYS;
                            let ok = store.check_limits(&keys[k], now, true, &mut results).is_ok();
                            if ok && results[0].allowed {
                                admitted[k] += 1;
                            }
                        }
                    }
                    admitted
                })
            })
            .collect();
        let mut admitted = vec![0i64; KEYS];
        for t in threads {
            for (total, a) in admitted.iter_mut().zip(t.join().unwrap_or_default()) {
                *total += a;
            }
        }
        done.store(true, Ordering::Release);
        let _ = evictor.join();
        assert!(
            admitted.iter().all(|a| *a == STEPS),
            "{:?}",
            admitted.iter().filter(|a| **a != STEPS).collect::<Vec<_>>()
        );
        // Their TATs are now `STEPS`: evicting before keeps them all.
        store.evict(STEPS - 1);
        assert_eq!(store.len(), KEYS);
    }

    #[test]
    fn a_table_shrinks_to_what_eviction_keeps() {
        let store = MemoryStore::default();
        for i in 0..10_000 {
            let _ = store.checked(&[check(&format!("k{i}"), 10, 1000, 10)], 0, true);
        }
        assert!(store.slots() >= 10_000, "{}", store.slots());
        store.evict(10_000);
        assert!(store.is_empty());
        assert_eq!(store.slots(), 0);
    }

    #[test]
    fn one_off_keys_are_forgotten_without_anyone_calling_evict() {
        // The defect: nothing in production called `evict`, so every new key
        // stayed for the life of the process. 200,000 one-off keys (rate,
        // sum and distinct), the clock moving past their windows, no call
        // to `evict`: the store stays within a few thousand entries.
        let store = MemoryStore::default();
        let mut most = 0;
        for i in 0..200_000i64 {
            let now = i * 10;
            let c = match i % 3 {
                0 => check(&format!("r{i}"), 10, 1000, 10),
                1 => sum(&format!("s{i}"), 10, 1000, 1),
                _ => distinct(&format!("d{i}"), 10, 1000, "v"),
            };
            assert!(store.checked(&[c], now, true).is_ok_and(|r| r[0].allowed), "{i}");
            // Some multi-limit checks too: they add keys by another path.
            if i % 7 == 0 {
                let both = [check(&format!("a{i}"), 10, 1000, 10), check(&format!("b{i}"), 10, 1000, 10)];
                assert!(store.checked(&both, now, true).is_ok_and(|r| r.iter().all(|x| x.allowed)), "{i}");
            }
            if i % 1000 == 0 {
                most = most.max(store.len());
            }
        }
        most = most.max(store.len());
        // Live: ~300 keys in a window and the slack; the rest is each
        // shard's floor, for two tables per shard: 8,192.
        assert!(most <= 2 * SHARDS * EVICT_FLOOR, "{most}");
        assert!(store.slots() <= 4 * SHARDS * EVICT_FLOOR, "{}", store.slots());
    }

    #[test]
    fn one_off_flow_keys_are_forgotten_and_live_ones_read_the_same() {
        // Flow keys carry request values too. 200,000 one-off keys recorded
        // as the clock moves past their window, and every 100th key read
        // back against a plain map of summaries that never forgets.
        let store = MemoryStore::default();
        let mut model: HashMap<String, FlowSummary> = HashMap::new();
        let mut most = 0;
        for i in 0..200_000i64 {
            let now = i * 10;
            let key = format!("f{}", i - i % 3);
            assert!(store.flow_record(&key, 1000, now, i).is_ok());
            model.entry(key).or_default().record(1000, now, i);
            if i % 100 == 0 {
                for back in [0, 50, 110] {
                    let old = format!("f{}", (i - back).max(0) - (i - back).max(0) % 3);
                    let read = store.flow_read(&old).unwrap_or_default();
                    let expected = model.get(&old).cloned().unwrap_or_default();
                    assert_eq!(read.at(1000, now), expected.at(1000, now), "{i}: {old}");
                }
                most = most.max(store.len());
            }
        }
        assert!(most <= SHARDS * EVICT_FLOOR, "{most}");
    }

    #[test]
    fn automatic_eviction_changes_no_decision() {
        // Many keys (so that shards pass the floor and evict many times),
        // reused at random, with the clock going back up to the slack at
        // times, against the same steps over plain maps that never forget:
        // TATs for rate limits, summaries for sums.
        let store = MemoryStore::default();
        let mut model: HashMap<String, i64> = HashMap::new();
        let mut sums: HashMap<String, FlowSummary> = HashMap::new();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut now = 1_000i64;
        let mut latest = now;
        let mut results = Vec::new();
        for step in 0..400_000 {
            now += next(5) as i64;
            latest = latest.max(now);
            // Up to the slack behind the latest clock any check has used.
            let at = if next(10) == 0 { latest - next(CLOCK_SLACK_MS as u64 + 1) as i64 } else { now };
            let k = next(1_000_000);
            if k % 5 == 0 {
                // A sum: 3 units per 200 ms, each check spending 1.
                let key = format!("s{k}");
                let c = sum(&key, 3, 200, 1);
                assert!(store.check_limits(std::slice::from_ref(&c), at, true, &mut results).is_ok());
                let expected = sum_step(sums.get(&key).unwrap_or(&FlowSummary::default()), at, &c, 1);
                assert_eq!(results[0], expected, "step {step} at {at}: {key}");
                if expected.allowed {
                    sums.entry(key).or_default().record(200, at, 1);
                }
                continue;
            }
            let c = check(&format!("m{k}"), 1 + k % 4, 100 + 50 * (k as i64 % 3), 1 + k % 3);
            assert!(store.check_limits(std::slice::from_ref(&c), at, true, &mut results).is_ok());
            let (expected, tat) = gcra(model.get(&c.key).copied(), at, &c);
            assert_eq!(results[0], expected, "step {step} at {at}: {c:?}");
            if expected.allowed {
                model.insert(c.key.clone(), tat);
            }
        }
        // It did evict: the floor and doubling per shard, of far more keys.
        let used = model.len() + sums.len();
        assert!(used > 300_000 && store.len() <= 2 * 2 * SHARDS * EVICT_FLOOR, "{} of {used}", store.len());
    }

    #[test]
    fn threads_evicting_at_once_never_over_admit() {
        // Four threads add one-off keys (each insertion may evict its
        // shard) while checking a few shared hot keys, their clocks a few
        // milliseconds apart: every hot key admits exactly its burst plus
        // one per interval, whoever evicts.
        use std::sync::Arc;
        use std::sync::atomic::AtomicU64;
        const HOT: usize = 8;
        const STEPS: i64 = 40_000;
        let store = Arc::new(MemoryStore::default());
        let admitted: Arc<Vec<AtomicU64>> = Arc::new((0..HOT).map(|_| AtomicU64::new(0)).collect());
        let threads: Vec<_> = (0..4i64)
            .map(|t| {
                let (store, admitted) = (Arc::clone(&store), Arc::clone(&admitted));
                std::thread::spawn(move || {
                    for i in 0..STEPS {
                        let now = i + t;
                        let _ = store.checked(&[check(&format!("one{t}/{i}"), 1, 10, 1)], now, true);
                        let h = (i as usize + t as usize) % HOT;
                        // 1 per 100 ms, burst 5, over (at most) STEPS + 3 ms.
                        if store.checked(&[check(&format!("hot{h}"), 1, 100, 5)], now, true).is_ok_and(|r| r[0].allowed)
                        {
                            admitted[h].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().is_ok());
        }
        for a in admitted.iter() {
            let a = a.load(Ordering::Relaxed);
            assert!(a <= 5 + (STEPS as u64 + 3) / 100 + 1, "{a}");
        }
        assert!(store.len() < 4 * 2 * SHARDS * EVICT_FLOOR, "{}", store.len());
    }

    #[test]
    fn the_store_agrees_with_a_plain_map_of_tats() {
        // Single and multi-limit checks (some naming a key twice, some
        // refused by one limit), committed or not, with the clock going
        // back at times and evictions in between, against GCRA over a
        // `HashMap` of TATs.
        let store = MemoryStore::default();
        let mut model: HashMap<String, i64> = HashMap::new();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut now = 1_000i64;
        let mut results = Vec::new();
        for step in 0..20_000 {
            now += next(40) as i64 - 8;
            if next(50) == 0 {
                let at = now - next(200) as i64;
                store.evict(at);
                model.retain(|_, tat| *tat > at);
                continue;
            }
            let limits = 1 + next(3) as usize;
            let checks: Vec<LimitCheck> = (0..limits)
                .map(|_| {
                    let k = next(12);
                    // Per key, one limit: the key names it, as a rule id does.
                    check(&format!("m{k}"), 1 + k % 4, 100 + 50 * (k as i64 % 3), 1 + k % 3)
                })
                .collect();
            let commit = next(4) != 0;
            assert!(store.check_limits(&checks, now, commit, &mut results).is_ok());
            let expected: Vec<LimitResult> =
                checks.iter().map(|c| gcra(model.get(&c.key).copied(), now, c).0).collect();
            assert_eq!(results, expected, "step {step} at {now}: {checks:?}");
            if commit && expected.iter().all(|r| r.allowed) {
                for c in &checks {
                    let tat = gcra(model.get(&c.key).copied(), now, c).1;
                    model.insert(c.key.clone(), tat);
                }
            }
        }
        assert_eq!(store.len(), model.len());
    }
}
