//! The `ward mcp-proxy` and `ward mcp-schema` subcommands.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::{Auth, TOKEN_VAR};
use crate::gate::{Gate, GateConfig};

/// `ward mcp-proxy`: the gateway between an MCP client and an MCP server.
#[derive(clap::Args, Debug)]
pub struct ProxyArgs {
    /// Policy files or directories (compiled at start-up).
    #[arg(long, num_args = 1.., required_unless_present = "bundle", conflicts_with = "bundle")]
    pub policy: Vec<PathBuf>,
    /// A policy bundle (`ward build`) instead of sources.
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// The public key (`ward keygen`) the bundle must be signed with.
    #[arg(long, requires = "bundle")]
    pub trusted_key: Option<PathBuf>,
    /// The agent behind the client: `Type::"id"`, or an id of type `Agent`.
    #[arg(long, required_unless_present = "identity", conflicts_with = "identity")]
    pub agent: Option<String>,
    /// Take the agent from bearer tokens verified against these issuers (a
    /// TOML file of `[[issuers]]`, docs/mcp.md): per request over HTTP, from
    /// WARD_MCP_TOKEN once at start over stdio.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Entities (JSON, Cedar's entity format).
    #[arg(long)]
    pub entities: Option<PathBuf>,
    /// Links of the policy's `@template` rules (JSON, Cedar's template-linked format); reloaded like entities.
    #[arg(long)]
    pub links: Option<PathBuf>,
    /// The resource of calls whose action has no `@resource_from` (default `McpServer::"default"`).
    #[arg(long)]
    pub resource: Option<String>,
    /// A JSON object of context fields added to every call where the action declares them.
    #[arg(long)]
    pub context: Option<PathBuf>,
    /// Append every decision to this tamper-evident audit log.
    #[arg(long)]
    pub audit_log: Option<PathBuf>,
    /// Tokenization keys: a JSON object of name → 32-byte key; default: WARD_KEY_<NAME> variables.
    #[arg(long)]
    pub keys: Option<PathBuf>,
    /// How long the server may take to answer a request before the client gets an error.
    #[arg(long, default_value = "60s")]
    pub timeout: String,
    /// The session id for flow rules and limits (stdio; default: one per run).
    #[arg(long)]
    pub session: Option<String>,
    /// Where rate-limit and flow state lives: a `redis://` URL, shared by every gateway using it and kept across restarts (default: in this process).
    #[arg(long, value_name = "URL")]
    pub state: Option<String>,
    /// The prefix of the gateway's keys in Redis.
    #[arg(long, default_value = "ward:mcp:", requires = "state")]
    pub state_prefix: String,
    /// How often to look for changed policy, bundle or entities files (`0`: only on SIGHUP).
    #[arg(long, default_value = "2s", value_name = "DURATION")]
    pub watch_interval: String,
    /// Seal the audit log with checkpoints signed by this key (`ward keygen`'s `.key`).
    #[arg(long, value_name = "KEY", requires = "audit_log")]
    pub audit_key: Option<PathBuf>,
    /// How long the client's user has to answer an approval question (elicitation).
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub approval_timeout: String,
    /// A request method to pass besides the MCP methods the gateway knows (repeatable); it must not run tools.
    #[arg(long = "allow-method", value_name = "METHOD")]
    pub allow_methods: Vec<String>,
    /// HTTP mode: the streamable-HTTP MCP endpoint to guard (`http://127.0.0.1:8000/mcp`).
    #[arg(long, conflicts_with = "command")]
    pub upstream: Option<String>,
    /// HTTP mode: where to listen (loopback unless you put TLS in front).
    #[arg(long, default_value = "127.0.0.1:8808", requires = "upstream")]
    pub listen: String,
    /// The longest window a flow condition may look back; default: ward.toml's
    /// `[check] max_window`, else 24h.
    #[arg(long, value_name = "DURATION", conflicts_with = "bundle")]
    pub max_window: Option<String>,
    /// Stdio mode: the server command and its arguments, after `--`.
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// `ward mcp-schema`: a Ward schema from a server's tools.
#[derive(clap::Args, Debug)]
pub struct SchemaArgs {
    /// Write the schema here instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// How long the server may take to start and answer.
    #[arg(long, default_value = "30s")]
    pub timeout: String,
    /// The server command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

const USAGE: u8 = 2;

fn duration(text: &str, flag: &str) -> Result<Duration, String> {
    let ms = ward_ir::literals::duration_ms(text).map_err(|e| format!("{flag}: {e}"))?;
    u64::try_from(ms).ok().filter(|ms| *ms > 0).map(Duration::from_millis).ok_or(format!("{flag}: must be positive"))
}

/// A duration where `0` means "off".
fn duration_or_off(text: &str, flag: &str) -> Result<Option<Duration>, String> {
    if text.trim() == "0" {
        return Ok(None);
    }
    duration(text, flag).map(Some)
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| format!("cannot start: {e}"))
}

/// Runs `ward mcp-proxy`.
pub fn proxy(args: ProxyArgs) -> ExitCode {
    let durations = (|| {
        Ok::<_, String>((
            duration(&args.timeout, "--timeout")?,
            duration_or_off(&args.watch_interval, "--watch-interval")?,
            duration(&args.approval_timeout, "--approval-timeout")?,
        ))
    })();
    let (timeout, watch_interval, approval_timeout) = match durations {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let max_window_ms = match args.max_window.as_deref().map(ward_ir::literals::duration_ms).transpose() {
        Ok(ms) => ms,
        Err(e) => {
            eprintln!("error: --max-window: {e}");
            return ExitCode::from(USAGE);
        }
    };
    if args.upstream.is_none() && args.command.is_empty() {
        eprintln!("error: give the server command after `--` (stdio), or --upstream URL (HTTP)");
        return ExitCode::from(USAGE);
    }
    let config = GateConfig {
        policy: args.policy,
        bundle: args.bundle,
        trusted_key: args.trusted_key,
        entities: args.entities,
        links: args.links,
        agent: args.agent.unwrap_or_default(),
        from_tokens: args.identity.is_some(),
        resource: args.resource,
        context: args.context,
        audit_log: args.audit_log,
        keys: args.keys,
        audit_key: args.audit_key,
        state: args.state,
        state_prefix: args.state_prefix,
        max_window_ms,
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdio = args.upstream.is_none();
    let (gate, auth) = match rt.block_on(gate_and_auth(&config, args.identity.as_deref(), stdio)) {
        Ok((gate, auth)) => (Arc::new(gate), auth),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let allowed_methods = args.allow_methods;
    let reloader: Arc<dyn ward_service::reload::Reload> = gate.clone();
    let outcome = rt.block_on(async {
        // SIGHUP reloads (it no longer ends the gateway), and so do changed files.
        ward_service::reload::spawn(reloader, watch_interval)?;
        match args.upstream {
            Some(upstream) => {
                let options = crate::http::Options { upstream, listen: args.listen, timeout, allowed_methods, auth };
                crate::http::serve(Arc::clone(&gate), options, None).await
            }
            None => {
                let session = args.session.unwrap_or_else(|| {
                    let ms =
                        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
                    format!("stdio-{}-{ms}", std::process::id())
                });
                let options = crate::stdio::Options {
                    timeout,
                    session,
                    approval_timeout,
                    allowed_methods,
                    ..crate::stdio::Options::default()
                };
                crate::stdio::run_command(Arc::clone(&gate), options, &args.command).await.map(|_| ())
            }
        }
    });
    // The stdin reader may still be blocked in a read: do not wait for it.
    rt.shutdown_background();
    gate.close_audit();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The gate and, with `--identity`, the token verifier. Over stdio the
/// run's agent is the token's in WARD_MCP_TOKEN, verified here once: a
/// missing, invalid or expired token, or an agent Ward does not know, stops
/// the start (audited like a refused request).
async fn gate_and_auth(
    config: &GateConfig,
    identity: Option<&std::path::Path>,
    stdio: bool,
) -> Result<(Gate, Option<Arc<Auth>>), String> {
    let gate = Gate::new(config).map_err(|e| e.to_string())?;
    let Some(path) = identity else { return Ok((gate, None)) };
    let auth = Auth::load(path, &gate).await?;
    if !stdio {
        return Ok((gate, Some(Arc::new(auth))));
    }
    let token = match std::env::var(TOKEN_VAR) {
        Ok(t) if !t.trim().is_empty() => t,
        _ => {
            let refused = auth.missing(&gate, &format!("{TOKEN_VAR} is not set: no token to take the agent from"));
            gate.close_audit();
            return Err(format!("--identity over stdio: {}", refused.message));
        }
    };
    match auth.agent(&gate, token.trim()).await {
        Ok(agent) => {
            crate::stdio::log(&format!("the agent is {} (from {TOKEN_VAR})", agent.principal));
            Ok((gate.fix_agent(agent).map_err(|e| e.to_string())?, None))
        }
        Err(refused) => {
            gate.close_audit();
            Err(format!("{TOKEN_VAR}: {}", refused.message))
        }
    }
}

/// Runs `ward mcp-schema`.
pub fn schema(args: SchemaArgs) -> ExitCode {
    let timeout = match duration(&args.timeout, "--timeout") {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let fetched = rt.block_on(crate::schema::fetch_tools(&args.command, timeout));
    rt.shutdown_background();
    let (server, tools) = match fetched {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let generated = crate::schema::generate(&server, &tools);
    for line in &generated.unmapped {
        eprintln!("not mapped: {line}");
    }
    match &args.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &generated.text) {
                eprintln!("error: cannot write `{}`: {e}", path.display());
                return ExitCode::FAILURE;
            }
            eprintln!("wrote {} ({} tools) to {}", server, tools.len(), path.display());
        }
        None => print!("{}", generated.text),
    }
    ExitCode::SUCCESS
}
