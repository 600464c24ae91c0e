//! Ward's policy analyses, proved by an SMT solver.
//!
//! The decision IR of one or more programs is encoded in SMT-LIB
//! ([`encode`]), a solver process (z3 or cvc5, [`solver`]) answers
//! questions about it, and every counterexample it returns is turned into a
//! concrete request and entity store ([`realize`]) and replayed through the
//! real engine ([`replay`]) before it is reported. `ward diff` ([`diff`])
//! and `ward analyze` ([`analyze`]) are built on that.

pub mod diff;
pub mod encode;
pub mod query;
pub mod realize;
pub mod regex;
pub mod replay;
pub mod sexp;
pub mod smt;
pub mod solver;
pub mod vocab;

use std::sync::Arc;

/// Compiles `(path, text)` sources (with the standard library) into a
/// program and its asserts, or the error diagnostics as text.
pub fn compile_sources(files: &[(String, String)]) -> Result<ward_compiler::lower::Compiled, String> {
    let mut set = ward_compiler::SourceSet::default();
    for (path, text) in files {
        set.add(path.clone(), text);
    }
    set.add_stdlib();
    match ward_compiler::compile(&set, &ward_compiler::Options::default()) {
        Ok((compiled, _)) => Ok(compiled),
        Err(diags) => Err(diags
            .iter()
            .filter(|d| d.severity == ward_compiler::Severity::Error)
            .map(|d| {
                let path = set.get(d.primary.file).map_or("?", |s| s.path.as_str());
                format!("{path}: {}: {}", d.code, d.message)
            })
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

/// [`compile_sources`], returning the program ready to share.
pub fn compile_program(files: &[(String, String)]) -> Result<Arc<ward_compiler::ir::Program>, String> {
    compile_sources(files).map(|c| Arc::new(c.program))
}
pub mod analyze;
pub mod canon;
pub mod falsify;
pub mod mutate;
pub mod report;
