//! Checks files against the normative grammar: `cargo run -p ward-grammar --example pest_check -- FILE…`.
fn main() {
    let mut failed = false;
    for path in std::env::args().skip(1) {
        match std::fs::read_to_string(&path) {
            Ok(text) => match ward_grammar::reference::check(&text) {
                Ok(()) => println!("ok    {path}"),
                Err(e) => {
                    failed = true;
                    println!("FAIL  {path}\n{e}");
                }
            },
            Err(e) => {
                failed = true;
                println!("FAIL  {path}: {e}");
            }
        }
    }
    std::process::exit(i32::from(failed));
}
