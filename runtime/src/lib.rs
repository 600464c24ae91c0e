//! Ward's runtime: entity stores, request frames, the reference interpreter,
//! the Cranelift JIT and the decision engine.

pub mod audit;
#[cfg(feature = "compile")]
pub mod build;
pub mod bundle;
pub mod data;
pub mod decision;
pub mod detect;
pub mod engine;
pub mod hash;
pub mod interp;
pub mod jit;
pub mod json;
pub mod keys;
pub mod links;
pub mod mask;
pub mod masking;
pub mod patch;
#[cfg(feature = "redis")]
pub mod redis_store;
pub mod request;
pub mod state;
pub mod store;
pub mod text;
pub mod value;
pub mod verdict;

pub use data::{DataError, FieldValue};
pub use decision::{Decision, Effect};
pub use engine::{
    ActionId, ActionResult, AsAction, AsEntityType, AsField, Backend, Checked, Clock, Engine, FieldId, FixedClock,
    Loaded, RequestBuilder, ResultRecord, SystemClock, TypeId,
};
pub use patch::EntityPatch;
pub use request::{EntityUid, Request};
pub use store::Store;
pub use verdict::Verdict;
pub mod testing;
#[cfg(feature = "tokenize")]
pub mod token;
pub mod why;
