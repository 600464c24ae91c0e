//! Ward measured against cedar-policy and regorus on the workloads of the
//! Cedar paper (OOPSLA 2024): gdrive, github and tinytodo.
//!
//! - [`generate`]: the seeded entity and request generator (the paper's method),
//!   emitting Cedar JSON entities and the Rego inputs;
//! - [`contenders`]: each engine set up once, deciding request `i` of a list;
//! - [`cold`]: the cold-cache variants (requests and engine copies spread
//!   over more memory than the caches hold, visited in a shuffled order);
//! - [`scale`]: equivalent Ward and Cedar policy sets of 10 to 10,000 rules;
//! - [`service`]: `ward serve` against a regorus-on-axum harness over HTTP;
//! - [`measure`]: per-request latency samples (median, p99);
//! - [`report`]: the `report` command, which measures and rewrites the peers
//!   section of `docs/performance.md` and the plots in `docs/plots/`.

pub mod apps;
pub mod cedar_diff;
pub mod cedar_gen;
pub mod cold;
pub mod contenders;
pub mod generate;
pub mod measure;
pub mod plot;
pub mod report;
pub mod scale;
pub mod service;

pub use apps::App;
pub use contenders::{CedarPeer, Contenders, RegoPeer, WardSide};
pub use generate::{GenRequest, RegoInputs, Workload};
