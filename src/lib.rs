pub use ward_compiler;
