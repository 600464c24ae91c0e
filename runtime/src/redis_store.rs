//! Rate-limit state in Redis, shared by every engine that points at it.
//!
//! One Lua script checks all of a request's limits and, if all pass,
//! consumes from each — atomically on the server, so two engines never
//! double-spend a budget and limits still compose. Connections are pooled
//! and every call has a timeout; an unreachable or slow Redis is an error
//! (the engine then fails closed unless the limit says `fail open`).

use std::sync::Mutex;
use std::time::Duration;

use crate::state::{LimitCheck, LimitResult, Measure, StateStore, StoreError};

/// KEYS: one per limit. ARGV: now, commit (1/0), then four per limit:
/// kind (0 requests, 1 sum, 2 distinct) and its arguments — GCRA: interval,
/// tolerance, burst; sum: window, budget, amount; distinct: window, count,
/// value. Returns per limit: {allowed, remaining, retry_after (-1: none), used}.
///
/// A sum's key holds the same bounded summary as [`crate::state::FlowSummary`]
/// (the newest events exactly, older ones in buckets), as one MessagePack
/// array of integers `[n, t, v, …, m, i, c, s, …]` (Redis's `cmsgpack`:
/// decoded and encoded in C). Lua numbers are doubles: every amount and sum
/// stays below 2^53 (budgets are at most `ward_ir::MAX_SUM_BUDGET`, amounts
/// are capped at the budget + 1 by the engine), where `cmsgpack` writes
/// integral doubles as exact 64-bit integers.
/// A distinct limit's key is a sorted set: value → when last seen.
const SCRIPT: &str = r#"
local now = tonumber(ARGV[1])
local commit = tonumber(ARGV[2])
local function fmt(x) return string.format('%d', x) end
local function width(window)
  local w = math.floor(window / 32)
  if w < 1 then w = 1 end
  return w
end
local function decode(text)
  local ev, bk = {}, {}
  if not text then return ev, bk end
  local nums = cmsgpack.unpack(text)
  if type(nums) ~= 'table' then error('a budget summary is corrupt') end
  local n = nums[1] or 0
  local p = 2
  for j = 1, n do ev[j] = {nums[p], nums[p + 1]}; p = p + 2 end
  local m = nums[p] or 0
  p = p + 1
  for j = 1, m do bk[j] = {nums[p], nums[p + 1], nums[p + 2]}; p = p + 3 end
  return ev, bk
end
local function encode(ev, bk)
  local out = {#ev}
  for _, e in ipairs(ev) do out[#out + 1] = e[1]; out[#out + 1] = e[2] end
  out[#out + 1] = #bk
  for _, b in ipairs(bk) do out[#out + 1] = b[1]; out[#out + 1] = b[2]; out[#out + 1] = b[3] end
  return cmsgpack.pack(out)
end
local function spent(ev, bk, window)
  local start, w, total = now - window, width(window), 0
  for _, e in ipairs(ev) do if e[1] >= start then total = total + e[2] end end
  for _, b in ipairs(bk) do if (b[1] + 1) * w > start then total = total + b[3] end end
  return total
end
local function record(ev, bk, window, value)
  local at = #ev + 1
  for j = 1, #ev do if ev[j][1] > now then at = j; break end end
  table.insert(ev, at, {now, value})
  local newest = ev[#ev][1]
  local kept = {}
  for _, e in ipairs(ev) do if e[1] >= newest - window then kept[#kept + 1] = e end end
  local w = width(window)
  while #kept > 64 do
    local e = table.remove(kept, 1)
    local index = math.floor(e[1] / w)
    local found = false
    for _, b in ipairs(bk) do
      if b[1] == index then b[2] = b[2] + 1; b[3] = b[3] + e[2]; found = true; break end
    end
    if not found then bk[#bk + 1] = {index, 1, e[2]} end
  end
  local nb = math.floor(newest / w)
  local kb = {}
  for _, b in ipairs(bk) do if b[1] > nb - 33 then kb[#kb + 1] = b end end
  return kept, kb, newest
end
local function retry_after(ev, bk, window, need)
  local leaving, w = {}, width(window)
  for _, e in ipairs(ev) do
    local at = e[1] + window + 1
    if at > now then leaving[#leaving + 1] = {at, e[2]} end
  end
  for _, b in ipairs(bk) do
    local at = (b[1] + 1) * w + window
    if at > now then leaving[#leaving + 1] = {at, b[3]} end
  end
  table.sort(leaving, function(x, y) if x[1] ~= y[1] then return x[1] < y[1] end return x[2] < y[2] end)
  for _, l in ipairs(leaving) do
    need = need - l[2]
    if need <= 0 then return l[1] - now end
  end
  return -1
end
local results, state = {}, {}
local all = true
for i, key in ipairs(KEYS) do
  local base = 3 + (i - 1) * 4
  local kind = tonumber(ARGV[base])
  if kind == 0 then
    local t, tolerance, burst = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
    local tat = tonumber(redis.call('GET', key) or now)
    if tat < now then tat = now end
    if tat - now > tolerance then
      all = false
      results[i] = {0, 0, tat - tolerance - now, 0}
    else
      local new_tat = tat + t
      local used = math.floor((new_tat - now + t - 1) / t)
      local remaining = burst - used
      if remaining < 0 then remaining = 0 end
      results[i] = {1, remaining, -1, 0}
      state[i] = new_tat
    end
  elseif kind == 1 then
    local window, budget, amount = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
    local ev, bk = decode(redis.call('GET', key))
    local used = spent(ev, bk, window)
    local after = used + amount
    if amount >= 0 and after <= budget then
      results[i] = {1, budget - after, -1, used}
      state[i] = {ev, bk}
    else
      all = false
      local remaining = budget - used
      if remaining < 0 then remaining = 0 end
      local retry = -1
      if amount >= 0 and amount <= budget then retry = retry_after(ev, bk, window, after - budget) end
      results[i] = {0, remaining, retry, used}
    end
  else
    local window, count, value = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), ARGV[base + 3]
    local start = now - window
    local in_window = redis.call('ZCOUNT', key, start, '+inf')
    local score = redis.call('ZSCORE', key, value)
    local known = score and tonumber(score) >= start
    if known or in_window < count then
      local after = in_window
      if not known then after = after + 1 end
      results[i] = {1, count - after, -1, in_window}
    else
      all = false
      local oldest = redis.call('ZRANGEBYSCORE', key, start, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
      local retry = -1
      if oldest[2] then retry = tonumber(oldest[2]) + window + 1 - now end
      results[i] = {0, 0, retry, in_window}
    end
  end
end
if all and commit == 1 then
  for i, key in ipairs(KEYS) do
    local base = 3 + (i - 1) * 4
    local kind = tonumber(ARGV[base])
    if kind == 0 then
      local t, tolerance = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
      redis.call('SET', key, fmt(state[i]), 'PX', math.max(1, state[i] - now + tolerance + t))
    elseif kind == 1 then
      local window, amount = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 3])
      local ev, bk, newest = record(state[i][1], state[i][2], window, amount)
      -- Kept until the newest amount (and the bucket around it) leaves the window.
      redis.call('SET', key, encode(ev, bk), 'PX', math.max(1, newest - now) + window + width(window) + 1)
    else
      local window, value = tonumber(ARGV[base + 1]), ARGV[base + 3]
      redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. fmt(now - window))
      local score = tonumber(redis.call('ZSCORE', key, value) or now)
      if score < now then score = now end
      redis.call('ZADD', key, fmt(score), value)
      local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
      local last = tonumber(newest[2] or now)
      redis.call('PEXPIRE', key, math.max(1, last - now) + window + 1)
    end
  end
end
return results
"#;

/// A Redis-backed [`StateStore`].
pub struct RedisStore {
    client: redis::Client,
    pool: Mutex<Vec<redis::Connection>>,
    timeout: Duration,
    prefix: String,
    script: redis::Script,
}

impl RedisStore {
    /// Connects lazily to `url` (`redis://127.0.0.1:6379/`); calls time out
    /// after `timeout`. Keys are stored under `prefix` (e.g. `ward:`).
    pub fn new(url: &str, timeout: Duration, prefix: &str) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url).map_err(|e| StoreError(format!("bad Redis URL `{url}`: {e}")))?;
        Ok(RedisStore {
            client,
            pool: Mutex::new(Vec::new()),
            timeout,
            prefix: prefix.to_string(),
            script: redis::Script::new(SCRIPT),
        })
    }

    fn connection(&self) -> Result<redis::Connection, StoreError> {
        if let Some(c) = self.pool.lock().ok().and_then(|mut p| p.pop()) {
            return Ok(c);
        }
        let con = self
            .client
            .get_connection_with_timeout(self.timeout)
            .map_err(|e| StoreError(format!("cannot reach Redis: {e}")))?;
        con.set_read_timeout(Some(self.timeout)).map_err(|e| StoreError(e.to_string()))?;
        con.set_write_timeout(Some(self.timeout)).map_err(|e| StoreError(e.to_string()))?;
        Ok(con)
    }

    fn give_back(&self, con: redis::Connection) {
        if let Ok(mut pool) = self.pool.lock()
            && pool.len() < 16
        {
            pool.push(con);
        }
    }
}

impl StateStore for RedisStore {
    fn check_limits(
        &self,
        checks: &[LimitCheck],
        now: i64,
        commit: bool,
        out: &mut Vec<LimitResult>,
    ) -> Result<(), StoreError> {
        out.clear();
        if checks.is_empty() {
            return Ok(());
        }
        let mut con = self.connection()?;
        let mut invocation = self.script.prepare_invoke();
        for c in checks {
            // Hostile keys stay bounded: long keys are hashed.
            let key = if c.key.len() > 200 {
                format!("{}h:{:x}", self.prefix, fxhash(&c.key))
            } else {
                format!("{}{}", self.prefix, c.key)
            };
            invocation.key(key);
        }
        invocation.arg(now).arg(i64::from(commit));
        for c in checks {
            match &c.measure {
                Measure::Requests => invocation.arg(0).arg(c.interval()).arg(c.tolerance()).arg(c.burst() as i64),
                Measure::Sum(amount) => invocation.arg(1).arg(c.window_ms()).arg(c.count()).arg(*amount),
                Measure::Distinct(value) => invocation.arg(2).arg(c.window_ms()).arg(c.count()).arg(value.as_str()),
            };
        }
        let reply: Result<Vec<Vec<i64>>, redis::RedisError> = invocation.invoke(&mut con);
        match reply {
            Ok(rows) => {
                self.give_back(con);
                if rows.len() != checks.len() {
                    return Err(StoreError(format!(
                        "Redis answered {} results for {} limits",
                        rows.len(),
                        checks.len()
                    )));
                }
                for row in &rows {
                    match row.as_slice() {
                        [allowed, remaining, retry, used] => out.push(LimitResult {
                            allowed: *allowed == 1,
                            remaining: (*remaining).max(0) as u64,
                            retry_after_ms: if *retry >= 0 { Some(*retry) } else { None },
                            used: (*used).max(0) as u64,
                        }),
                        _ => return Err(StoreError("Redis returned a malformed result".into())),
                    }
                }
                Ok(())
            }
            // The connection may be broken: do not return it to the pool.
            Err(e) => Err(StoreError(format!("Redis call failed: {e}"))),
        }
    }

    fn flow_record(&self, key: &str, window_ms: i64, time: i64, value: i64) -> Result<(), StoreError> {
        // Read, update and write the summary in one optimistic transaction
        // (WATCH/MULTI/EXEC, retried on a concurrent change): two engines
        // recording for the same session never lose each other's events.
        let mut con = self.connection()?;
        let redis_key = self.key(key);
        let ttl = window_ms.saturating_mul(2).max(1);
        let result: Result<(), redis::RedisError> = redis::transaction(&mut con, &[redis_key.as_str()], |con, pipe| {
            let current: Option<String> = redis::cmd("GET").arg(&redis_key).query(con)?;
            let mut summary: crate::state::FlowSummary =
                current.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
            summary.record(window_ms, time, value);
            let text = serde_json::to_string(&summary).unwrap_or_default();
            pipe.cmd("SET").arg(&redis_key).arg(text).arg("PX").arg(ttl).ignore().query::<()>(con).map(Some)
        });
        match result {
            Ok(()) => {
                self.give_back(con);
                Ok(())
            }
            Err(e) => Err(StoreError(format!("Redis call failed: {e}"))),
        }
    }

    fn flow_read(&self, key: &str) -> Result<crate::state::FlowSummary, StoreError> {
        let mut con = self.connection()?;
        let reply: Result<Option<String>, redis::RedisError> = redis::cmd("GET").arg(self.key(key)).query(&mut con);
        match reply {
            Ok(text) => {
                self.give_back(con);
                match text {
                    None => Ok(crate::state::FlowSummary::default()),
                    // Garbage under our key is an error, not an empty history.
                    Some(t) => serde_json::from_str(&t)
                        .map_err(|e| StoreError(format!("a flow summary in Redis is corrupt: {e}"))),
                }
            }
            Err(e) => Err(StoreError(format!("Redis call failed: {e}"))),
        }
    }
}

impl RedisStore {
    /// The Redis key for a state key: prefixed, and hashed when hostile-long.
    fn key(&self, key: &str) -> String {
        if key.len() > 200 { format!("{}h:{:x}", self.prefix, fxhash(key)) } else { format!("{}{}", self.prefix, key) }
    }
}

/// A small stable hash for over-long keys.
fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
