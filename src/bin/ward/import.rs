//! `ward import cedar`: Cedar schema and policies → Ward files, checked.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use crate::{Settings, USAGE};

/// The largest Cedar input file read (schema, policies or entities).
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

pub struct CedarArgs<'a> {
    pub schema: &'a Path,
    pub policies: &'a Path,
    pub entities: Option<&'a Path>,
    pub links: Option<&'a Path>,
    pub output: &'a Path,
    pub name: &'a str,
    pub force: bool,
}

fn read(path: &Path, what: &str) -> Result<String, ExitCode> {
    let usage = |message: String| {
        eprintln!("error: {what} `{}`: {message}", path.display());
        ExitCode::from(USAGE)
    };
    let size = std::fs::metadata(path).map_err(|e| usage(crate::files::describe(&e)))?.len();
    if size > MAX_INPUT_BYTES {
        return Err(usage(format!("{size} bytes, more than the {MAX_INPUT_BYTES} bytes read")));
    }
    let bytes = std::fs::read(path).map_err(|e| usage(crate::files::describe(&e)))?;
    String::from_utf8(bytes).map_err(|e| usage(format!("not UTF-8 (at byte {})", e.utf8_error().valid_up_to())))
}

/// The program that reads Cedar (`import/`): run, not linked, so that this
/// binary never links cedar-policy (ARCHITECTURE.md).
pub const IMPORTER: &str = "ward-import-cedar";

/// Where the importer is: `$WARD_IMPORT_CEDAR`, else beside this executable
/// (where `cargo build` and `cargo install` put it), else on `PATH`.
fn importer() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("WARD_IMPORT_CEDAR").filter(|p| !p.is_empty()) {
        return path.into();
    }
    let beside = std::env::current_exe().ok().map(|exe| exe.with_file_name(IMPORTER));
    match beside {
        Some(path) if path.is_file() => path,
        _ => IMPORTER.into(),
    }
}

/// What the importer answered.
struct Imported {
    schema: String,
    policy: String,
    /// Ward's links file, when Cedar template links were given.
    links: Option<String>,
    notes: Vec<String>,
}

fn pairs(answer: &serde_json::Value, key: &str) -> Vec<String> {
    answer
        .get(key)
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .map(|n| {
            let field = |k: &str| n.get(k).and_then(serde_json::Value::as_str).unwrap_or("").to_string();
            format!("{}: {}", field("place"), field("message"))
        })
        .collect()
}

fn run_importer(args: &CedarArgs<'_>) -> Result<Imported, ExitCode> {
    let program = importer();
    let mut command = std::process::Command::new(&program);
    command.arg("--schema").arg(args.schema).arg("--policies").arg(args.policies).arg("--name").arg(args.name);
    if let Some(links) = args.links {
        command.arg("--links").arg(links);
    }
    let output = command.stdin(std::process::Stdio::null()).output().map_err(|e| {
        eprintln!(
            "error: cannot run `{}` ({e}): it reads Cedar for `ward import cedar` and is built with the \
                 workspace (`cargo build -p ward-import`, or `cargo install --path import` beside `ward`); \
                 WARD_IMPORT_CEDAR may name it",
            program.display()
        );
        ExitCode::FAILURE
    })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(2) {
        eprint!("{stderr}");
        return Err(ExitCode::from(USAGE));
    }
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| {
        eprintln!("error: `{}` gave no answer ({e}; status {}): {stderr}", program.display(), output.status);
        ExitCode::FAILURE
    })?;
    let errors = pairs(&answer, "errors");
    if !output.status.success() || !errors.is_empty() {
        for e in &errors {
            eprintln!("error: {e}");
        }
        eprintln!("error: {} construct(s) cannot be imported; nothing was written", errors.len());
        return Err(ExitCode::FAILURE);
    }
    let text = |key: &str| answer.get(key).and_then(serde_json::Value::as_str).map(str::to_string);
    match (text("schema"), text("policy")) {
        (Some(schema), Some(policy)) => {
            Ok(Imported { schema, policy, links: text("links"), notes: pairs(&answer, "notes") })
        }
        _ => {
            eprintln!("error: `{}` answered without the files", program.display());
            Err(ExitCode::FAILURE)
        }
    }
}

pub fn cedar(args: &CedarArgs<'_>) -> ExitCode {
    for (path, what) in [(Some(args.schema), "schema"), (Some(args.policies), "policies"), (args.links, "links")] {
        let Some(path) = path else { continue };
        if !path.is_file() {
            eprintln!("error: {what} `{}`: not a readable file", path.display());
            return ExitCode::from(USAGE);
        }
    }
    let imported = match run_importer(args) {
        Ok(imported) => imported,
        Err(code) => return code,
    };

    let schema_file = args.output.join("schema.ward");
    let policy_file = args.output.join("policy.ward");
    let entities_file = args.output.join("entities.json");
    let links_file = args.output.join("links.json");
    let mut outputs = vec![schema_file.clone(), policy_file.clone()];
    if args.entities.is_some() {
        outputs.push(entities_file.clone());
    }
    if imported.links.is_some() {
        outputs.push(links_file.clone());
    }
    if !args.force
        && let Some(existing) = outputs.iter().find(|p| p.exists())
    {
        eprintln!("error: `{}` exists (pass --force to overwrite)", existing.display());
        return ExitCode::from(USAGE);
    }
    if let Err(e) = std::fs::create_dir_all(args.output) {
        eprintln!("error: cannot create `{}`: {}", args.output.display(), crate::files::describe(&e));
        return ExitCode::FAILURE;
    }
    let mut files = vec![(&schema_file, &imported.schema), (&policy_file, &imported.policy)];
    if let Some(links) = &imported.links {
        files.push((&links_file, links));
    }
    for (path, text) in files {
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("error: cannot write `{}`: {}", path.display(), crate::files::describe(&e));
            return ExitCode::FAILURE;
        }
    }

    // The result must be a Ward program: checked here, not left to the user.
    let compiled = match crate::decide::compile(&[schema_file.clone(), policy_file.clone()], &Settings::default()) {
        Ok(compiled) => compiled,
        Err(code) => {
            eprintln!(
                "error: the imported files do not pass `ward check` (above); they are in `{}` to fix by hand",
                args.output.display()
            );
            return code;
        }
    };
    if let Some(links) = &imported.links {
        // Checked against the imported policy as `ward eval --links` would.
        if let Err(e) = ward_runtime::links::Links::parse(&compiled.program, links) {
            eprintln!("error: links (from `{}`): {e}", args.links.map_or(String::new(), |p| p.display().to_string()));
            return ExitCode::FAILURE;
        }
    }
    if let Some(path) = args.entities {
        let text = match read(path, "entities") {
            Ok(t) => t,
            Err(code) => return code,
        };
        // Ward reads Cedar's entity JSON as it is; loading it against the
        // imported schema proves it, naming any entity Ward cannot represent.
        let loaded = ward_runtime::store::parse_entities(&text)
            .map_err(|e| e.to_string())
            .and_then(|json| ward_runtime::Store::load(Arc::new(compiled.program), &json).map_err(|e| e.to_string()));
        if let Err(e) = loaded {
            eprintln!("error: entities `{}`: {e}", path.display());
            return ExitCode::FAILURE;
        }
        if let Err(e) = std::fs::write(&entities_file, &text) {
            eprintln!("error: cannot write `{}`: {}", entities_file.display(), crate::files::describe(&e));
            return ExitCode::FAILURE;
        }
    }

    println!("imported into {}:", args.output.display());
    for path in &outputs {
        println!("  {}", path.display());
    }
    if imported.notes.is_empty() {
        println!("nothing was rewritten");
    } else {
        println!("rewritten or to review ({}):", imported.notes.len());
        for note in &imported.notes {
            println!("  {note}");
        }
    }
    println!(
        "note: one difference in meaning remains (docs/cedar.md): a `forbid` whose condition fails with an \
         error applies in Ward (fail closed); Cedar skips it"
    );
    ExitCode::SUCCESS
}

/// The default policy name: the policies file's stem, when it is an identifier.
pub fn default_name(policies: &Path) -> String {
    let stem = policies.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let mut name: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) || name == "policies" {
        name = "cedar".to_string();
    }
    if ward_grammar::lexer::RESERVED_WORDS.contains(&name.as_str()) {
        name.push('_');
    }
    name
}
