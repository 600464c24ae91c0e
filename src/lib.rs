//! Ward: a policy language, compiler and runtime for AI agents.
//!
//! This facade re-exports the workspace's crates so that embedders depend on
//! one crate: [`grammar`] (lexer, parser, syntax tree, formatter) and
//! [`compiler`] (diagnostics and checking).

pub use ward_compiler as compiler;
pub use ward_grammar as grammar;
pub use ward_runtime as runtime;

pub use ward_compiler::{Diagnostic, Options, Severity, SourceSet, Workspace, check};
pub use ward_grammar::format::format_source;
pub use ward_runtime::{
    ActionId, Backend, Decision, Effect, Engine, EntityUid, FieldId, FieldValue, Request, RequestBuilder, TypeId,
};
