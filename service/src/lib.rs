//! `ward serve`: Ward's decision service.
//!
//! Decides requests over HTTP (TLS when a certificate is given) for clients
//! that authenticate with bearer tokens, with a body-size limit, a per-client
//! rate limit and request deadlines; reloads its policy bundle on SIGHUP,
//! on `POST /v1/reload` and when the files change, keeping the old policy
//! when the new one is refused. Connections are limited per client address
//! and in all, and request headers have a deadline. See docs/deploy.md.

pub mod authzen;
pub mod config;
pub mod http;
pub mod identity;
pub mod jwks;
pub mod listen;
pub mod metrics;
pub mod policy;
pub mod reload;
pub mod tls;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use config::Config;
use ward_runtime::Backend;

/// `ward serve`'s command line; flags win over the configuration file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// The configuration file (TOML); see docs/deploy.md.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The policy bundle (made by `ward build`).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Entities (Cedar's JSON entity format).
    #[arg(long)]
    pub entities: Option<PathBuf>,
    /// Links of the policy's `@template` rules (Cedar's template-linked JSON); reloaded like entities.
    #[arg(long)]
    pub links: Option<PathBuf>,
    /// Only accept bundles signed with this public key (a file written by `ward keygen`).
    #[arg(long)]
    pub trusted_key: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8180; port 0 picks one).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// PEM certificate chain for TLS.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address.
    #[arg(long)]
    pub insecure: bool,
    /// Append every decision to this audit log.
    #[arg(long)]
    pub audit_log: Option<PathBuf>,
}

impl ServeArgs {
    /// The configuration: the file's (or the defaults), overridden by flags.
    pub fn config(&self) -> Result<Config, String> {
        let mut c = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        let set = |slot: &mut Option<PathBuf>, v: &Option<PathBuf>| {
            if v.is_some() {
                slot.clone_from(v);
            }
        };
        set(&mut c.policy.bundle, &self.bundle);
        set(&mut c.policy.entities, &self.entities);
        set(&mut c.policy.links, &self.links);
        set(&mut c.policy.trusted_key, &self.trusted_key);
        set(&mut c.server.tls_cert, &self.tls_cert);
        set(&mut c.server.tls_key, &self.tls_key);
        set(&mut c.audit.log, &self.audit_log);
        if let Some(l) = self.listen {
            c.server.listen = l;
        }
        c.server.insecure |= self.insecure;
        c.check()?;
        Ok(c)
    }
}

/// Runs the service until SIGINT or SIGTERM.
pub fn run(args: &ServeArgs) -> Result<(), String> {
    let config = args.config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(serve(config))
}

fn read_key(path: &std::path::Path) -> Result<ward_runtime::bundle::ed25519_dalek::VerifyingKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    ward_runtime::bundle::parse_verifying_key(&text).map_err(|e| format!("`{}`: {e}", path.display()))
}

fn keys(config: &Config) -> Result<Box<dyn ward_runtime::mask::Keys>, String> {
    match &config.mask.keys {
        None => Ok(Box::new(ward_runtime::mask::EnvKeys)),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            let json: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("keys `{}`: not valid JSON: {e}", path.display()))?;
            let keys = ward_runtime::mask::StaticKeys::from_json(&json)
                .map_err(|e| format!("keys `{}`: {e}", path.display()))?;
            Ok(Box::new(keys))
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let source = policy::Source {
        bundle: config.policy.bundle.clone().ok_or("no bundle")?,
        entities: config.policy.entities.clone(),
        links: config.policy.links.clone(),
        trusted_key: config.policy.trusted_key.as_deref().map(read_key).transpose()?,
        backend: if config.policy.backend == "interp" { Backend::Interpreter } else { Backend::Jit },
    };
    let policy =
        tokio::task::spawn_blocking(move || policy::Policy::open(source)).await.map_err(|e| e.to_string())??;
    let policy = Arc::new(policy);
    let audit = match &config.audit.log {
        None if config.audit.signing_key.is_some() => {
            return Err("[audit] signing_key needs [audit] log".to_string());
        }
        None => None,
        Some(path) => {
            let durability = if config.audit.sync == "record" {
                ward_runtime::audit::Durability::EveryRecord
            } else {
                ward_runtime::audit::Durability::Batched { records: 256, interval: Duration::from_millis(200) }
            };
            let checkpoints = match &config.audit.signing_key {
                None => None,
                Some(key) => {
                    let text =
                        std::fs::read_to_string(key).map_err(|e| format!("cannot read `{}`: {e}", key.display()))?;
                    let key = ward_runtime::bundle::parse_signing_key(&text)
                        .map_err(|e| format!("[audit] signing_key `{}`: {e}", key.display()))?;
                    Some(ward_runtime::audit::Checkpoints {
                        key,
                        every: config.audit.checkpoint_every.max(1),
                        interval: Duration::from_millis(config.audit.checkpoint_interval_ms.max(1)),
                    })
                }
            };
            Some(ward_runtime::audit::AuditLog::open_with(path, durability, checkpoints).map_err(|e| e.to_string())?)
        }
    };
    // Token mappings are checked against the schema of the policy served at start.
    let issuers = {
        let loaded = policy.engine.loaded();
        identity::Issuers::new(&config.issuers, config.server.max_token_bytes, loaded.program()).await?
    };
    let app = Arc::new(http::App::new(&config, Arc::clone(&policy), audit, keys(&config)?, issuers));
    let watch = Some(Duration::from_millis(config.policy.watch_interval_ms)).filter(|d| !d.is_zero());
    reload::spawn(Arc::clone(&app) as Arc<dyn reload::Reload>, watch)?;

    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.server.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let router = http::router(Arc::clone(&app));
    let current = policy.current();
    let tls = match (&config.server.tls_cert, &config.server.tls_key) {
        (Some(cert), Some(key)) => Some(tls::config(cert, key)?),
        _ => None,
    };
    // The address goes to stdout (a test or supervisor reads it); everything else to stderr.
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {}", listen::url(local, tls.is_some()));
        let _ = out.flush();
    }
    eprintln!("ward serve: serving policy {} (version {}) on {local}", current.hash, current.generation);
    let options = listen::Options {
        tls: tls.map(|t| (t, Duration::from_millis(config.server.tls_handshake_timeout_ms))),
        header_timeout: Duration::from_millis(config.server.header_timeout_ms),
        limits: listen::Limits::new(
            config.server.max_connections_per_ip,
            config.server.max_connections,
            Arc::clone(&app.metrics.connections_open),
        ),
        drain: Duration::from_millis(config.server.request_timeout_ms).saturating_add(Duration::from_secs(1)),
    };
    let counter = Arc::clone(&app);
    listen::serve(listener, router, options, Arc::new(move || counter.metrics.connection_refused()), shutdown()).await;
    app.close_audit();
    Ok(())
}

impl reload::Reload for http::App {
    fn changed(&self) -> bool {
        self.policy.changed()
    }

    fn reload(&self) -> Result<String, String> {
        self.policy.reload().map(|v| format!("version {} ({})", v.generation, v.hash))
    }

    fn reloaded(&self, why: &str, result: &Result<String, String>) {
        self.metrics.reload(result.is_ok());
        match result {
            Ok(v) => eprintln!("ward serve: reloaded on {why}: {v}"),
            Err(e) => {
                let v = self.policy.current();
                eprintln!("ward serve: reload on {why} refused, still serving version {}: {e}", v.generation);
            }
        }
    }
}

async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    eprintln!("ward serve: shutting down");
}

/// A new random bearer token and the `[[tokens]]` entry that admits it
/// (holding only its SHA-256).
pub fn new_token(name: &str, scopes: &[String]) -> Result<(String, String), String> {
    use sha2::Digest as _;
    for s in scopes {
        if !config::SCOPES.contains(&s.as_str()) {
            return Err(format!("unknown scope `{s}` (known: {})", config::SCOPES.join(", ")));
        }
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let token = format!("ward_{}", hex(&bytes));
    let digest = sha2::Sha256::digest(token.as_bytes());
    let scopes: Vec<String> = scopes.iter().map(|s| format!("{s:?}")).collect();
    let entry =
        format!("[[tokens]]\nname = {name:?}\nsha256 = \"{}\"\nscopes = [{}]\n", hex(&digest), scopes.join(", "));
    Ok((token, entry))
}
