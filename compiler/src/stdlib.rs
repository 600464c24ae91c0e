//! The standard library's `.ward` modules, embedded in the compiler so that
//! `import stdlib.pii` works wherever Ward runs.

/// `(module name, source)` for every stdlib module.
pub const MODULES: [(&str, &str); 3] = [
    ("pii", include_str!("../../stdlib/pii.ward")),
    ("inputs", include_str!("../../stdlib/inputs.ward")),
    ("roles", include_str!("../../stdlib/roles.ward")),
];
