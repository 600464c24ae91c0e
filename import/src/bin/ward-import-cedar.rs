//! `ward-import-cedar`: the Cedar side of `ward import cedar`.
//!
//! A program of its own so that the `ward` binary never links cedar-policy
//! (whose serde_json feature `preserve_order` would change every JSON map
//! in it; ARCHITECTURE.md). `ward import cedar` runs it, reads its answer —
//! one JSON object on stdout — and writes and checks the files itself.
//!
//! Usage: `ward-import-cedar --schema FILE --policies FILE --name NAME [--links FILE]`.
//! Answer: `{"schema", "policy", "links"?, "notes": [{"place", "message"}]}`
//! with exit status 0, or `{"errors": [{"place", "message"}]}` with 1; 2 on
//! usage errors.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;
use ward_import::{CedarSources, SchemaSource, import_cedar};

/// The largest input file read.
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

fn read(path: &Path) -> Result<String, String> {
    let size = std::fs::metadata(path).map_err(|e| format!("`{}`: {e}", path.display()))?.len();
    if size > MAX_INPUT_BYTES {
        return Err(format!("`{}`: {size} bytes, more than the {MAX_INPUT_BYTES} bytes read", path.display()));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("`{}`: {e}", path.display()))?;
    String::from_utf8(bytes)
        .map_err(|e| format!("`{}`: not UTF-8 (at byte {})", path.display(), e.utf8_error().valid_up_to()))
}

fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}\nusage: ward-import-cedar --schema FILE --policies FILE --name NAME [--links FILE]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut schema = None;
    let mut policies = None;
    let mut name = None;
    let mut links = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let slot = match flag.as_str() {
            "--schema" => &mut schema,
            "--policies" => &mut policies,
            "--name" => &mut name,
            "--links" => &mut links,
            other => return usage(&format!("unknown argument `{other}`")),
        };
        match it.next() {
            Some(value) => *slot = Some(value.clone()),
            None => return usage(&format!("`{flag}` needs a value")),
        }
    }
    let (Some(schema_path), Some(policies_path), Some(name)) = (schema, policies, name) else {
        return usage("--schema, --policies and --name are required");
    };
    let (schema_text, policies) = match (read(Path::new(&schema_path)), read(Path::new(&policies_path))) {
        (Ok(s), Ok(p)) => (s, p),
        (Err(e), _) | (_, Err(e)) => return usage(&format!("cannot read {e}")),
    };
    let schema = if schema_path.ends_with(".json") {
        SchemaSource::Json(&schema_text)
    } else {
        SchemaSource::Human(&schema_text)
    };
    let links_text = match links.as_deref().map(|p| read(Path::new(p))).transpose() {
        Ok(text) => text,
        Err(e) => return usage(&format!("cannot read {e}")),
    };
    let pair = |place: &str, message: &str| json!({ "place": place, "message": message });
    let refuse = |errors: Vec<ward_import::ImportError>| {
        let errors: Vec<_> = errors.iter().map(|e| pair(&e.place, &e.message)).collect();
        println!("{}", json!({ "errors": errors }));
        ExitCode::FAILURE
    };
    let imported = match import_cedar(&CedarSources { schema, policies: &policies, policy_name: &name }) {
        Ok(imported) => imported,
        Err(errors) => return refuse(errors),
    };
    let links = match links_text.map(|text| ward_import::cedar_links(&text, &imported.templates)).transpose() {
        Ok(links) => links,
        Err(errors) => return refuse(errors),
    };
    let notes: Vec<_> = imported.notes.iter().map(|n| pair(&n.place, &n.message)).collect();
    println!("{}", json!({ "schema": imported.schema, "policy": imported.policy, "links": links, "notes": notes }));
    ExitCode::SUCCESS
}
