//! Ward's runtime: entity stores, request frames, the reference interpreter,
//! the Cranelift JIT and the decision engine.

pub mod audit;
pub mod build;
pub mod bundle;
pub mod data;
pub mod decision;
pub mod detect;
pub mod engine;
pub mod hash;
pub mod interp;
pub mod jit;
pub mod mask;
pub mod masking;
pub mod redis_store;
pub mod request;
pub mod state;
pub mod store;
pub mod value;
pub mod verdict;

pub use decision::{Decision, Effect};
pub use engine::{Backend, Checked, Clock, Engine, FixedClock, Loaded, SystemClock};
pub use request::{EntityUid, Request};
pub use store::Store;
pub use verdict::Verdict;
pub mod testing;
pub mod why;
