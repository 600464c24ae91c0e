//! Raising the exceptions of `ward.errors` (defined in Python, so that they
//! carry fields, docstrings and a readable `str`).

use pyo3::call::PyCallArgs;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyType};

static POLICY_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static ENTITIES_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static REQUEST_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static MASK_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static AUDIT_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// An exception of class `name` of `ward.errors`, built with `args` and `kwargs`.
fn raise<'py, A: PyCallArgs<'py>>(
    py: Python<'py>,
    cell: &PyOnceLock<Py<PyType>>,
    name: &str,
    args: A,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyErr {
    match cell.import(py, "ward.errors", name).and_then(|cls| cls.call(args, kwargs)) {
        Ok(value) => PyErr::from_value(value),
        Err(e) => e,
    }
}

/// `ward.PolicyError`: the policy could not be compiled or loaded.
/// `diagnostics` are dicts (file, line, column, code, severity, message, help).
pub fn policy(py: Python<'_>, message: String, diagnostics: Vec<Bound<'_, PyDict>>) -> PyErr {
    match PyList::new(py, diagnostics) {
        Ok(list) => raise(py, &POLICY_ERROR, "PolicyError", (message, list), None),
        Err(e) => e,
    }
}

/// `ward.EntitiesError`: entity data that does not fit the schema.
pub fn entities(py: Python<'_>, field: &str, message: &str) -> PyErr {
    raise(py, &ENTITIES_ERROR, "EntitiesError", (message.to_string(), field.to_string()), None)
}

/// `ward.RequestError`: a request of the wrong shape, naming the field.
pub fn request(py: Python<'_>, field: &str, message: &str) -> PyErr {
    raise(py, &REQUEST_ERROR, "RequestError", (message.to_string(), field.to_string()), None)
}

/// `ward.MaskError`: a mask could not be applied; `decision` is the deny it made.
pub fn mask(py: Python<'_>, message: String, decision: Py<PyAny>) -> PyErr {
    raise(py, &MASK_ERROR, "MaskError", (message, decision), None)
}

/// `ward.AuditError`: the audit log could not be written or does not verify.
pub fn audit(py: Python<'_>, message: String) -> PyErr {
    raise(py, &AUDIT_ERROR, "AuditError", (message,), None)
}
