//! Prints a file's syntax errors (and with `--tree`, its syntax tree):
//! `cargo run -p ward-grammar --example parse_dump -- [--tree] FILE…`.
fn main() {
    let mut tree = false;
    for arg in std::env::args().skip(1) {
        if arg == "--tree" {
            tree = true;
            continue;
        }
        let text = std::fs::read_to_string(&arg).unwrap_or_default();
        let parse = ward_grammar::parse(&text);
        if tree {
            println!("{:#?}", parse.file.items);
        }
        for e in &parse.errors {
            let line = text.get(..e.span.start as usize).map_or(0, |s| s.lines().count());
            println!("{arg}:{line}: {} {} [{}..{}]", e.code, e.message, e.span.start, e.span.end);
        }
        println!("{arg}: {} items, {} errors", parse.file.items.len(), parse.errors.len());
    }
}
