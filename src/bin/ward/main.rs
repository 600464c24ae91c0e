//! The `ward` command line.

mod analysis;
mod bundle;
mod decide;
mod files;
mod import;
mod io;
mod mask;
mod render;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use ward_compiler::config::ProjectConfig;
use ward_compiler::{Diagnostic, Options, Severity, SourceSet, literals};

#[derive(Parser)]
#[command(name = "ward", version, about = "Ward: policies for AI agents — check, format, test and enforce")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check policy files (and directories, recursively) for errors.
    ///
    /// Exit status: 0 when clean (warnings allowed), 1 when any error, 2 on usage errors.
    Check {
        /// Files or directories to check.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// The date lifecycle warnings compare against (YYYY-MM-DD); default: ward.toml's
        /// `[check] at`, else today (UTC).
        #[arg(long, value_name = "DATE")]
        at: Option<String>,
        #[command(flatten)]
        project: ProjectArgs,
        #[command(flatten)]
        deny: DenyArgs,
    },
    /// Format policy files in Ward's canonical layout.
    ///
    /// Exit status: 0 when done (or, with --check, when nothing would change), 1 when a
    /// file would change or has syntax errors, 2 on usage errors.
    Fmt {
        /// Files or directories to format.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Do not write; list the files that would change and exit 1 if any.
        #[arg(long)]
        check: bool,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Run the `test` blocks of policy files, and prove their `assert` statements (with an SMT
    /// solver); ends with `N passed, N failed`.
    Test {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The evaluator.
        #[arg(long, value_enum, default_value_t = BackendArg::Jit)]
        backend: BackendArg,
        #[command(flatten)]
        solver: analysis::SolverArgs,
        #[command(flatten)]
        project: ProjectArgs,
        #[command(flatten)]
        deny: DenyArgs,
    },
    /// Analyse a policy set with an SMT solver: per action whether it never allows, always
    /// allows or may fail to evaluate a rule; rules that never apply, are shadowed or are
    /// redundant; and its `assert` statements (see docs/analysis.md).
    ///
    /// Exit status: 0 when every assert holds, 1 when one is violated or cannot be proved, 2
    /// when the policy does not compile or no solver can run.
    Analyze {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = analysis::ReportFormat::Markdown)]
        format: analysis::ReportFormat,
        #[command(flatten)]
        solver: analysis::SolverArgs,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Decide requests; prints one JSON decision per line.
    Eval(EvalCli),
    /// Compare two versions of a policy set: per action, what the new one allows that the old
    /// one denied (and the reverse), masks, obligations and limits, each difference with a
    /// counterexample replayed through the engine (see docs/analysis.md).
    ///
    /// Exit status: 0 when the comparison ran (and --fail-on is not met), 1 when --fail-on is
    /// met or a counterexample did not replay (an encoding bug), 2 when a policy does not compile
    /// or no solver can run. An undecided question counts as a change for --fail-on.
    Diff {
        /// The old policy: a file or a directory.
        old: PathBuf,
        /// The new policy: a file or a directory.
        new: PathBuf,
        /// Files or directories added to both (e.g. a shared schema).
        #[arg(long)]
        schema: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = analysis::ReportFormat::Markdown)]
        format: analysis::ReportFormat,
        /// When to exit with status 1.
        #[arg(long, value_enum, default_value_t = analysis::FailOn::Never)]
        fail_on: analysis::FailOn,
        #[command(flatten)]
        solver: analysis::SolverArgs,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Mask documents: JSON lines, whole files (JSON or text) or text, from paths or stdin.
    ///
    /// The masks are a decision's (`--policy` and `--request`: decided once, applied to every
    /// document) or your own (`--detectors stdlib.pii.all [--method redact]`, `--policy`
    /// optional for your own detectors). A `.jsonl`/`.ndjson` file, or an input whose first
    /// line is a JSON value, is JSON lines (each line a document, JSON if it parses, else
    /// text); anything else is one document. Exit status: 0 when done; 1 on a deny or a mask
    /// that cannot be applied (nothing more is released); 2 when an input could not be read
    /// (a line too long or not UTF-8 is reported and not released).
    Mask {
        /// Policy files or directories (optional with --detectors).
        #[arg(long, num_args = 1..)]
        policy: Vec<PathBuf>,
        /// The request whose decision's masks apply (JSON, Cedar's shape).
        #[arg(long)]
        request: Option<PathBuf>,
        /// Entities (JSON, Cedar's entity format).
        #[arg(long, conflicts_with = "fixture")]
        entities: Option<PathBuf>,
        /// Use the entities of a `fixture` declared in the policy files.
        #[arg(long)]
        fixture: Option<String>,
        /// The evaluator.
        #[arg(long, value_enum, default_value_t = BackendArg::Jit)]
        backend: BackendArg,
        /// Decision time (RFC 3339 time or date); default: now.
        #[arg(long)]
        at: Option<String>,
        /// Append the decision, with what was masked, to this audit log.
        #[arg(long)]
        audit_log: Option<PathBuf>,
        /// Mask with these detectors instead of a decision's masks (comma-separated or repeated:
        /// `stdlib.pii.all`, `pii.email`, your own).
        #[arg(long, value_delimiter = ',', conflicts_with = "request")]
        detectors: Vec<String>,
        /// The method for --detectors: redact, hash, hash(salt: "…"), partial(last: 4),
        /// tokenize(key: "…").
        #[arg(long, default_value = "redact", requires = "detectors")]
        method: String,
        /// A document to mask (a path, or - for stdin); repeatable.
        #[arg(long)]
        payload: Vec<PathBuf>,
        /// More documents: paths, or - for stdin (the default when none is given).
        inputs: Vec<PathBuf>,
        /// Read every input as text (never parsed as JSON).
        #[arg(long, conflicts_with = "lines")]
        text: bool,
        /// Read every input as JSON lines.
        #[arg(long)]
        lines: bool,
        /// The longest line read, in bytes.
        #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
        max_line: usize,
        /// The largest document held whole, in bytes; a larger one is masked as text, in blocks.
        #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
        max_document: usize,
        /// Tokenization keys: a JSON object of name → 32-byte key (base64 or hex), or a list
        /// of keys, the current one first; default: WARD_KEY_<NAME> environment variables.
        #[arg(long)]
        keys: Option<PathBuf>,
        /// Print, on stderr, what was masked (per detector, never the values) and the throughput.
        #[arg(long)]
        stats: bool,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// List agents whose expiry, credential rotation or review is overdue or due soon.
    ///
    /// Exit status: 1 when anything is overdue (the check CI runs), 0 otherwise.
    Lifecycle {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The date to check against (YYYY-MM-DD); default: today (UTC).
        #[arg(long)]
        at: Option<String>,
        /// Also list what falls due within this period.
        #[arg(long, default_value = "30d")]
        within: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Audit-log tools.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Replace tokens made by `tokenize(key: NAME)` with their values, line by line.
    ///
    /// Tokens of the key's current and previous values are read. Exit status: 1 when a token
    /// does not authenticate under any of them (or is of the previous scheme), naming where;
    /// 2 when there is no key of that name.
    Detokenize {
        /// The key's name.
        #[arg(long)]
        key: String,
        /// Keys file (as for `ward mask`); default: the environment.
        #[arg(long)]
        keys: Option<PathBuf>,
        /// Read the text from a file (or - for stdin); repeatable. Default: stdin.
        #[arg(long, conflicts_with = "text")]
        input: Vec<PathBuf>,
        /// The text.
        text: Option<String>,
    },
    /// Decide requests and explain each decision in words.
    Explain(EvalCli),
    /// Translate another policy language into Ward files (checked before they are written out).
    #[command(subcommand)]
    Import(ImportCommand),
    /// Run the language server (LSP over stdin/stdout) for editors.
    Lsp,
    /// Guard an MCP server: decide, mask and audit the agent's tool calls (see docs/mcp.md).
    McpProxy(Box<ward_mcp::cli::ProxyArgs>),
    /// Write a Ward schema from an MCP server's tool descriptions.
    McpSchema(ward_mcp::cli::SchemaArgs),
    /// Compile policy files into a bundle for `ward serve`, optionally signed.
    Build {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The bundle to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Sign with this private key (PREFIX.key from `ward keygen`).
        #[arg(long, value_name = "KEY")]
        sign: Option<PathBuf>,
        #[command(flatten)]
        project: ProjectArgs,
        #[command(flatten)]
        deny: DenyArgs,
    },
    /// Make an ed25519 key pair for signing bundles: PREFIX.key and PREFIX.pub.
    Keygen {
        /// Where to write: PREFIX.key and PREFIX.pub.
        #[arg(short, long, value_name = "PREFIX")]
        output: PathBuf,
        /// Overwrite existing key files.
        #[arg(long)]
        force: bool,
    },
    /// Run the decision service (HTTP/TLS); see docs/deploy.md.
    Serve(ward_service::ServeArgs),
    /// Make a client token for `ward serve`: the token on stdout, its configuration entry on stderr.
    Token {
        /// The client's name.
        #[arg(long)]
        name: String,
        /// A scope: decide, mask, metrics or admin (repeatable).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify an audit log's hash chain; prints the number of records and the head hash.
    Verify {
        /// The log file.
        file: PathBuf,
        /// A head hash anchored earlier (printed by a previous verify): the log must still hold that record.
        #[arg(long, value_name = "HASH")]
        expect_head: Option<String>,
        /// The public key (`ward keygen`) the log's checkpoints must be signed with; the log must end with a closing checkpoint.
        #[arg(long, value_name = "PUB")]
        trusted_key: Option<PathBuf>,
        /// With --trusted-key: the writer may still be running (records after the last checkpoint are accepted).
        #[arg(long, requires = "trusted_key")]
        live: bool,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Cedar schema and policies → `schema.ward` and `policy.ward` (and the entities, checked).
    ///
    /// Cedar is read by Cedar's own parser. Every rewritten construct is reported; a construct
    /// Ward cannot express is an error naming it, and then nothing is written. Exit status: 0
    /// when imported and checked, 1 when a construct cannot be imported or the result does not
    /// check, 2 on usage errors.
    Cedar {
        /// The Cedar schema: `.cedarschema` (human form) or `.json` (JSON form).
        #[arg(long)]
        schema: PathBuf,
        /// The Cedar policies (`.cedar`).
        #[arg(long)]
        policies: PathBuf,
        /// Cedar entities (JSON); loaded against the imported schema, then copied as `entities.json`.
        #[arg(long)]
        entities: Option<PathBuf>,
        /// Cedar template links (JSON: `template_id`, `new_id` or `link_id`, `values` or `args`);
        /// written as Ward's `links.json`, naming the imported templates.
        #[arg(long)]
        links: Option<PathBuf>,
        /// The folder to write into.
        #[arg(short, long)]
        output: PathBuf,
        /// The Ward policy's name (default: the policies file's name).
        #[arg(long)]
        name: Option<String>,
        /// Overwrite files that exist.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    Jit,
    Interp,
}

impl BackendArg {
    fn backend(self) -> ward_runtime::Backend {
        match self {
            BackendArg::Jit => ward_runtime::Backend::Jit,
            BackendArg::Interp => ward_runtime::Backend::Interpreter,
        }
    }
}

/// Inputs of `ward eval` and `ward explain`.
#[derive(clap::Args)]
struct EvalCli {
    /// Policy files or directories.
    #[arg(long, required = true, num_args = 1..)]
    policy: Vec<PathBuf>,
    /// One request (JSON, Cedar's shape).
    #[arg(long, conflicts_with = "requests")]
    request: Option<PathBuf>,
    /// Requests, one JSON object per line.
    #[arg(long)]
    requests: Option<PathBuf>,
    /// Entities (JSON, Cedar's entity format).
    #[arg(long, conflicts_with = "fixture")]
    entities: Option<PathBuf>,
    /// Use the entities of a `fixture` declared in the policy files.
    #[arg(long)]
    fixture: Option<String>,
    /// Links of the policy's `@template` rules (JSON, Cedar's template-linked format).
    #[arg(long)]
    links: Option<PathBuf>,
    /// The evaluator.
    #[arg(long, value_enum, default_value_t = BackendArg::Jit)]
    backend: BackendArg,
    /// Decision time (RFC 3339 time or date); default: now.
    #[arg(long)]
    at: Option<String>,
    /// Append every decision to this tamper-evident audit log.
    #[arg(long)]
    audit_log: Option<PathBuf>,
    /// When audit records reach the disk: after each record, or in batches.
    #[arg(long, value_enum, default_value_t = SyncArg::Record)]
    audit_sync: SyncArg,
    /// Seal the audit log with checkpoints signed by this key (`ward keygen`'s `.key`).
    #[arg(long, value_name = "KEY", requires = "audit_log")]
    audit_key: Option<PathBuf>,
    #[command(flatten)]
    project: ProjectArgs,
}

/// Settings of every command that compiles policies; each overrides the
/// project's `ward.toml` (found by walking up from the policy paths).
#[derive(clap::Args, Clone, Default)]
pub(crate) struct ProjectArgs {
    /// The longest window a flow condition may look back; default: ward.toml's
    /// `[check] max_window`, else 24h.
    #[arg(long, value_name = "DURATION")]
    max_window: Option<String>,
}

/// `--deny warnings`: for CI, warnings fail the command.
#[derive(clap::Args, Clone, Default)]
pub(crate) struct DenyArgs {
    /// Fail (exit 1) on warnings too; default: ward.toml's `[check] deny_warnings`.
    #[arg(long, value_enum, value_name = "LEVEL")]
    deny: Vec<Deny>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Deny {
    Warnings,
}

/// What a compiling command runs with: the checker's options and the
/// project's other settings, flags over `ward.toml`.
#[derive(Default)]
pub(crate) struct Settings {
    pub options: Options,
    pub deny_warnings: bool,
    /// `[test] at`: where test clocks start, and eval's default `--at`.
    pub test_at_ms: Option<i64>,
}

/// The settings for policies at `paths`; `base` holds the command's own defaults.
pub(crate) fn settings(
    paths: &[PathBuf],
    project: &ProjectArgs,
    deny: &DenyArgs,
    base: Options,
) -> Result<Settings, ExitCode> {
    let usage = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(USAGE)
    };
    let config = ProjectConfig::for_paths(paths).map_err(usage)?;
    let mut options = config.options(base);
    if let Some(window) = &project.max_window {
        options.max_window_ms = literals::duration_ms(window).map_err(|e| usage(format!("--max-window: {e}")))?;
    }
    let deny_warnings = config.deny_warnings || deny.deny.contains(&Deny::Warnings);
    Ok(Settings { options, deny_warnings, test_at_ms: config.test_at_ms })
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SyncArg {
    Record,
    Batch,
}

impl EvalCli {
    fn args(self) -> decide::EvalArgs {
        decide::EvalArgs {
            policy: self.policy,
            request: self.request,
            requests: self.requests,
            entities: self.entities,
            fixture: self.fixture,
            links: self.links,
            backend: self.backend.backend(),
            at: self.at,
            audit_log: self.audit_log,
            audit_durability: match self.audit_sync {
                SyncArg::Record => ward_runtime::audit::Durability::EveryRecord,
                SyncArg::Batch => ward_runtime::audit::Durability::Batched {
                    records: 256,
                    interval: std::time::Duration::from_millis(200),
                },
            },
            audit_key: self.audit_key,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Human,
    Json,
}

/// The exit status for usage errors (bad arguments, missing files).
pub(crate) const USAGE: u8 = 2;

/// Whether a panic is the standard library's on a write to a closed stdout
/// (`println!` after the reader went away).
fn closed_pipe(payload: &(dyn std::any::Any + Send)) -> bool {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    text.contains("failed printing to stdout") && text.contains("Broken pipe")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A closed stdout ends any command quietly (exit 141, as SIGPIPE would):
    // the data commands check their writes; this is the net for the others.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !closed_pipe(info.payload()) {
            default_hook(info);
        }
    }));
    // Deeply nested input recurses in the parser and formatter; a large stack
    // turns pathological files into diagnostics instead of stack overflows.
    let worker = std::thread::Builder::new().stack_size(256 * 1024 * 1024).spawn(move || run(cli));
    match worker.map(|handle| handle.join()) {
        Ok(Ok(code)) => code,
        Ok(Err(payload)) if closed_pipe(payload.as_ref()) => ExitCode::from(io::CLOSED_PIPE),
        Ok(Err(_)) => {
            eprintln!("error: ward stopped on an internal error (please report it)");
            ExitCode::from(101)
        }
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            ExitCode::from(101)
        }
    }
}

fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Check { paths, format, at, project, deny } => {
            let base = Options { today: Some(today()), ..Options::default() };
            let mut settings = match settings(&paths, &project, &deny, base) {
                Ok(s) => s,
                Err(code) => return code,
            };
            if let Some(date) = at {
                match literals::date_days(&date) {
                    Ok(days) => settings.options.today = Some(days),
                    Err(e) => {
                        eprintln!("error: --at: {e}");
                        return ExitCode::from(USAGE);
                    }
                }
            }
            check(&paths, format, &settings)
        }
        Command::Fmt { paths, check, format } => fmt(&paths, check, format),
        Command::Test { paths, backend, solver, project, deny } => {
            match settings(&paths, &project, &deny, Options::default()) {
                Ok(settings) => decide::test(&paths, backend.backend(), &settings, &solver),
                Err(code) => code,
            }
        }
        Command::Analyze { paths, format, solver, project } => {
            match settings(&paths, &project, &DenyArgs::default(), Options::default()) {
                Ok(settings) => analysis::analyze(&paths, format, &solver, &settings),
                Err(code) => code,
            }
        }
        Command::Eval(args) => eval_command(args, false, |out, _, _, d| {
            out.push_str(&d.to_json().to_string());
            out.push('\n');
        }),
        Command::Diff { old, new, schema, format, fail_on, solver, project } => {
            analysis::diff(&old, &new, &schema, format, fail_on, &solver, &project)
        }
        Command::Lifecycle { paths, at, within, format, project } => {
            match settings(&paths, &project, &DenyArgs::default(), Options::default()) {
                Ok(settings) => decide::lifecycle(&paths, at.as_deref(), &within, format == Format::Json, &settings),
                Err(code) => code,
            }
        }
        Command::Audit(AuditCommand::Verify { file, expect_head, trusted_key, live }) => {
            decide::audit_verify(&file, expect_head.as_deref(), trusted_key.as_deref(), live)
        }
        Command::Mask {
            policy,
            request,
            entities,
            fixture,
            backend,
            at,
            audit_log,
            detectors,
            method,
            payload,
            mut inputs,
            text,
            lines,
            max_line,
            max_document,
            keys,
            stats,
            project,
        } => {
            let eval = EvalCli {
                policy,
                request,
                requests: None,
                entities,
                fixture,
                links: None,
                backend,
                at,
                audit_log,
                audit_sync: SyncArg::Record,
                audit_key: None,
                project,
            };
            let eval_project = eval.project.clone();
            let mut all = payload;
            all.append(&mut inputs);
            let args = mask::MaskArgs {
                eval: eval.args(),
                detectors,
                method,
                keys,
                inputs: all,
                mode: if text {
                    mask::Mode::Text
                } else if lines {
                    mask::Mode::Lines
                } else {
                    mask::Mode::Auto
                },
                max_line,
                max_document,
                stats,
            };
            // Without --policy (own detectors only), the settings are the defaults.
            match settings(&args.eval.policy, &eval_project, &DenyArgs::default(), Options::default()) {
                Ok(settings) => mask::mask(&args, &settings),
                Err(code) => code,
            }
        }
        Command::Detokenize { key, keys, input, text } => {
            mask::detokenize(&key, keys.as_deref(), &input, text.as_deref())
        }
        Command::Explain(args) => eval_command(args, true, |out, engine, request, d| {
            use std::fmt::Write as _;
            out.push_str(&d.explain());
            let now = engine.clock().now_ms();
            for (rule, values) in engine.why(request, now, d) {
                if !values.is_empty() {
                    let _ = writeln!(out, "  values in `{rule}`: {}", values.join(", "));
                }
            }
            if d.reasons.iter().any(|r| r.rule.is_none() && r.clause.starts_with("no permit applies")) {
                for (rule, condition, values) in engine.why_not(request, now) {
                    let shown = if values.is_empty() { String::new() } else { format!(" ({})", values.join(", ")) };
                    let _ = writeln!(out, "  permit `{rule}` did not apply: {condition}{shown}");
                }
            }
            out.push('\n');
        }),
        Command::Import(ImportCommand::Cedar { schema, policies, entities, links, output, name, force }) => {
            let name = name.unwrap_or_else(|| import::default_name(&policies));
            import::cedar(&import::CedarArgs {
                schema: &schema,
                policies: &policies,
                entities: entities.as_deref(),
                links: links.as_deref(),
                output: &output,
                name: &name,
                force,
            })
        }
        Command::Lsp => ward_lsp::run_stdio(),
        Command::McpProxy(args) => ward_mcp::cli::proxy(*args),
        Command::McpSchema(args) => ward_mcp::cli::schema(args),
        Command::Build { paths, output, sign, project, deny } => {
            match settings(&paths, &project, &deny, Options::default()) {
                Ok(settings) => bundle::build(&paths, &output, sign.as_deref(), &settings),
                Err(code) => code,
            }
        }
        Command::Keygen { output, force } => bundle::keygen(&output, force),
        Command::Serve(args) => match ward_service::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Token { name, scopes } => bundle::token(&name, &scopes),
    }
}

/// `ward eval` and `ward explain`, with the project's settings
/// (`reads_request`: whether `print` reads the request).
fn eval_command(
    args: EvalCli,
    reads_request: bool,
    print: impl Fn(&mut String, &ward_runtime::Engine, &ward_runtime::Request, &ward_runtime::Decision),
) -> ExitCode {
    let settings = match settings(&args.policy, &args.project, &DenyArgs::default(), Options::default()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    decide::eval(&args.args(), &settings, reads_request, print)
}

/// Reads the files named by `paths` into a source set, or explains why not.
pub(crate) fn load(paths: &[PathBuf]) -> Result<(SourceSet, Vec<PathBuf>), String> {
    let files = files::collect(paths)?;
    if files.is_empty() {
        return Err("no `.ward` files found in the given paths".to_string());
    }
    let mut set = SourceSet::default();
    for file in &files {
        let bytes =
            std::fs::read(file).map_err(|e| format!("cannot read `{}`: {}", file.display(), files::describe(&e)))?;
        set.add_bytes(file.display().to_string(), &bytes);
    }
    Ok((set, files))
}

/// At most this many diagnostics are shown per file in human output; a binary
/// file would otherwise print thousands.
const MAX_SHOWN_PER_FILE: usize = 50;

pub(crate) fn print_diagnostics(sources: &SourceSet, diags: &[Diagnostic], format: Format) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let color = out.is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut shown_in_file = 0;
    let mut hidden_in_file = 0;
    let mut current = None;
    for diag in diags {
        if current != Some(diag.primary.file) {
            note_hidden(&mut out, sources, current, hidden_in_file);
            current = Some(diag.primary.file);
            shown_in_file = 0;
            hidden_in_file = 0;
        }
        let result = match format {
            Format::Json => render::json(&mut out, sources, diag),
            Format::Human if shown_in_file < MAX_SHOWN_PER_FILE => {
                shown_in_file += 1;
                render::human(&mut out, sources, diag, color)
            }
            Format::Human => {
                hidden_in_file += 1;
                Ok(())
            }
        };
        if result.is_err() {
            return; // stdout closed (e.g. piped into `head`): nothing left to do
        }
    }
    note_hidden(&mut out, sources, current, hidden_in_file);
}

fn note_hidden(out: &mut dyn Write, sources: &SourceSet, file: Option<ward_compiler::FileId>, hidden: usize) {
    if let (Some(file), true) = (file, hidden > 0) {
        let path = sources.get(file).map_or("", |s| s.path.as_str());
        let _ = writeln!(out, "… and {hidden} more diagnostics in {path}");
    }
}

fn count(diags: &[Diagnostic], severity: Severity) -> usize {
    diags.iter().filter(|d| d.severity == severity).count()
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") }
}

/// Today's date (UTC) as days since 1970-01-01: the default for `--at`.
fn today() -> i64 {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    i64::try_from(secs / 86_400).unwrap_or(0)
}

fn check(paths: &[PathBuf], format: Format, settings: &Settings) -> ExitCode {
    let (mut sources, files) = match load(paths) {
        Ok(loaded) => loaded,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(USAGE);
        }
    };
    sources.add_stdlib();
    let diags = ward_compiler::check(&sources, &settings.options);
    print_diagnostics(&sources, &diags, format);
    let errors = count(&diags, Severity::Error);
    let warnings = count(&diags, Severity::Warning);
    if format == Format::Human {
        eprintln!(
            "checked {}: {}, {}",
            plural(files.len(), "file"),
            plural(errors, "error"),
            plural(warnings, "warning")
        );
    }
    if errors > 0 || (settings.deny_warnings && warnings > 0) {
        if errors == 0 {
            eprintln!("error: warnings are denied (--deny warnings or ward.toml's `deny_warnings`)");
        }
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn fmt(paths: &[PathBuf], check_only: bool, format: Format) -> ExitCode {
    let (sources, files) = match load(paths) {
        Ok(loaded) => loaded,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(USAGE);
        }
    };
    let mut failed = false;
    let mut changed = Vec::new();
    let mut diags = Vec::new();
    for ((id, source), path) in sources.iter().zip(&files) {
        if let Some(diag) = &source.load_error {
            diags.push(diag.clone());
            continue;
        }
        match ward_grammar::format::format_source(&source.text) {
            Ok(formatted) if formatted == source.text => {}
            Ok(formatted) => {
                if !check_only && let Err(e) = std::fs::write(path, formatted) {
                    eprintln!("error: cannot write `{}`: {}", path.display(), files::describe(&e));
                    failed = true;
                    continue;
                }
                changed.push(path);
            }
            Err(errors) => diags.extend(errors.iter().map(|e| Diagnostic::from_syntax(id, e))),
        }
    }
    print_diagnostics(&sources, &diags, format);
    for path in &changed {
        if check_only {
            println!("would reformat: {}", path.display());
        } else if format == Format::Human {
            eprintln!("formatted {}", path.display());
        }
    }
    if format == Format::Human {
        let verb = if check_only { "would reformat" } else { "reformatted" };
        let skipped = if diags.is_empty() {
            String::new()
        } else {
            format!(", {} not formatted (errors)", plural(count_files(&diags), "file"))
        };
        eprintln!("{}: {verb} {}{skipped}", plural(files.len(), "file"), changed.len());
    }
    if failed || !diags.is_empty() || (check_only && !changed.is_empty()) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn count_files(diags: &[Diagnostic]) -> usize {
    let mut files: Vec<_> = diags.iter().map(|d| d.primary.file).collect();
    files.dedup();
    files.len()
}
