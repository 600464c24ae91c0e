//! Ward's policy analyses, proved by an SMT solver.
//!
//! The decision IR of one or more programs is encoded in SMT-LIB
//! ([`encode`]), a solver process (z3 or cvc5, [`solver`]) answers
//! questions about it, and every counterexample it returns is turned into a
//! concrete request and entity store ([`realize`]) and replayed through the
//! real engine ([`replay`]) before it is reported. `ward diff` ([`diff`])
//! and `ward analyze` ([`analyze`]) are built on that.

pub mod encode;
pub mod regex;
pub mod sexp;
pub mod smt;
pub mod solver;
pub mod vocab;
pub mod realize;
pub mod replay;
