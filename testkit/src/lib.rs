//! What Ward's tests, benchmarks and generators share, written once:
//!
//! - [`rng::SplitMix64`]: a small seeded generator, the same stream on every
//!   platform;
//! - [`redis::RedisServer`]: a throwaway `redis-server` on a free port;
//! - [`require`]: the rule that a test whose real dependency is missing
//!   **fails**, unless `WARD_ALLOW_SKIP` names that dependency.
//!
//! Dependencies are provisioned by `scripts/test` (the README's test
//! command), which exports where they are: `WARD_REDIS_SERVER`,
//! `WARD_MCP_VENV`, `WARD_PEER_WORKLOADS` and the like.

pub mod redis;
pub mod require;
pub mod rng;

pub use require::{missing, missing_optional};
pub use rng::SplitMix64;
