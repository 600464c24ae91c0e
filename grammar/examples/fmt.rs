//! Formats a file to stdout: `cargo run -p ward-grammar --example fmt -- FILE`.
fn main() {
    for arg in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&arg).unwrap_or_default();
        match ward_grammar::format::format_source(&text) {
            Ok(out) => print!("{out}"),
            Err(errors) => eprintln!("{arg}: {} syntax errors", errors.len()),
        }
    }
}
