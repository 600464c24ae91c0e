//! Rate-limit state in Redis, shared by every engine that points at it.
//!
//! One Lua script checks all of a request's limits and, if all pass,
//! consumes from each — atomically on the server, so two engines never
//! double-spend a budget and limits still compose. Connections are pooled
//! and every call has a timeout; an unreachable or slow Redis is an error
//! (the engine then fails closed unless the limit says `fail open`).

use std::sync::Mutex;
use std::time::Duration;

use crate::state::{LimitCheck, LimitResult, StateStore, StoreError};

/// KEYS: one per limit. ARGV: now, then per limit: interval, tolerance,
/// burst, commit (1/0). Returns per limit: {allowed, remaining, retry_after}.
const SCRIPT: &str = r#"
local now = tonumber(ARGV[1])
local commit = tonumber(ARGV[2])
local results = {}
local tats = {}
local all = true
for i, key in ipairs(KEYS) do
  local t = tonumber(ARGV[3 + (i - 1) * 3])
  local tolerance = tonumber(ARGV[4 + (i - 1) * 3])
  local burst = tonumber(ARGV[5 + (i - 1) * 3])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  if tat - now > tolerance then
    all = false
    results[i] = {0, 0, tat - tolerance - now}
  else
    local new_tat = tat + t
    local used = math.floor((new_tat - now + t - 1) / t)
    local remaining = burst - used
    if remaining < 0 then remaining = 0 end
    results[i] = {1, remaining, -1}
    tats[i] = new_tat
  end
end
if all and commit == 1 then
  for i, key in ipairs(KEYS) do
    local t = tonumber(ARGV[3 + (i - 1) * 3])
    local tolerance = tonumber(ARGV[4 + (i - 1) * 3])
    redis.call('SET', key, tats[i], 'PX', math.max(1, tats[i] - now + tolerance + t))
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
            invocation.arg(c.interval()).arg(c.tolerance()).arg(c.burst as i64);
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
                        [allowed, remaining, retry] => out.push(LimitResult {
                            allowed: *allowed == 1,
                            remaining: (*remaining).max(0) as u64,
                            retry_after_ms: if *retry >= 0 { Some(*retry) } else { None },
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
