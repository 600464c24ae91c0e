//! `ward._ward`: Ward's runtime as a CPython extension module (PyO3, abi3).
//! The Pythonic surface — exceptions, guards, framework integrations — is
//! the `ward` package around it (python/ward/).
//!
//! Boundary: this crate converts between Python values and the runtime's
//! types and releases the GIL around every decision, compile, mask and
//! audit write; it decides nothing itself.

mod convert;
mod decision;
mod engine;
mod errors;

use pyo3::prelude::*;

#[pymodule]
fn _ward(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<engine::Engine>()?;
    m.add_class::<engine::AuditLog>()?;
    m.add_class::<decision::Decision>()?;
    m.add_class::<decision::Reason>()?;
    m.add_class::<decision::Mask>()?;
    m.add_class::<decision::Obligation>()?;
    m.add_class::<decision::Limit>()?;
    m.add_function(wrap_pyfunction!(engine::verify_audit_log, m)?)?;
    m.add_function(wrap_pyfunction!(action_name, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// The action a tool named `tool` maps to, as the MCP gateway maps it:
/// characters a Ward name cannot hold become `_`, a leading digit gets a
/// `_` before it, and a reserved word one after it.
#[pyfunction]
fn action_name(tool: &str) -> String {
    let mut name: String = tool.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    let tokens = ward_grammar::lexer::lex(&name);
    if matches!(tokens.as_slice(), [t] if t.kind.is_reserved()) {
        name.push('_');
    }
    name
}
