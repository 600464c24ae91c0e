//! The policy side of the gateway: how a tool call becomes a Ward request,
//! which tools `tools/list` shows, masking of arguments and results, audit.
//!
//! The mapping (docs/mcp.md says the same for policy authors):
//! - **principal**: the agent given with `--agent` (`Agent::"support_bot"`,
//!   or a bare id, which means type `Agent`), or the one a verified token
//!   names (`--identity`, [`Agent`]), with its delegation chain;
//! - **action**: the tool's name ([`action_name`]: characters that cannot
//!   be in a Ward name become `_`);
//! - **resource**: for an action annotated `@resource_from("ARG")`, the
//!   entity of the action's `on` type whose id is the value of argument
//!   `ARG`; otherwise the server's resource (`--resource`, default
//!   `McpServer::"default"`);
//! - **context**: the call's arguments (one field each, `null` meaning
//!   absent), plus the fields of `--context FILE` and `mcp_session` where
//!   the action's context declares them;
//! - **session**: the MCP session (so flow rules `by session` and limits
//!   keyed by `context.mcp_session` are per session).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value as Json, json};
use ward_ir::{self as ir, Const, ExprKind, Program, RuleKind, Var};
use ward_runtime::audit::{AuditLog, Checkpoints, Durability, Entry};
use ward_runtime::decision::Decision;
use ward_runtime::mask::{EnvKeys, Keys, StaticKeys};
use ward_runtime::masking::Payload;
use ward_runtime::{ActionResult, Effect, Engine, EntityUid, Loaded, Request, ResultRecord};
use ward_service::reload::{Reload, Watch};

use crate::rpc::{self, code};

/// The context field the gateway fills with the MCP session id, where declared.
pub const SESSION_FIELD: &str = "mcp_session";

/// The annotation on an action naming the argument that identifies its resource.
pub const RESOURCE_FROM: &str = "resource_from";

/// What the gateway needs to decide calls.
#[derive(Debug, Clone, Default)]
pub struct GateConfig {
    /// Policy files or directories, compiled at start-up.
    pub policy: Vec<PathBuf>,
    /// Or a bundle (`ward build`), when `policy` is empty.
    pub bundle: Option<PathBuf>,
    /// The public key (`ward keygen`) the bundle must be signed with.
    pub trusted_key: Option<PathBuf>,
    /// Entities (Cedar's JSON entity format).
    pub entities: Option<PathBuf>,
    /// Links of the policy's `@template` rules (Cedar's template-linked JSON).
    pub links: Option<PathBuf>,
    /// The agent: `Type::"id"` or a bare id (type `Agent`); empty when it
    /// comes from a token (`from_tokens`).
    pub agent: String,
    /// No `--agent`: each request's agent comes from its token (HTTP with
    /// `--identity`), or the run's from the token verified at start
    /// ([`Gate::fix_agent`], stdio).
    pub from_tokens: bool,
    /// The resource of calls whose action has no `@resource_from`: `Type::"id"`.
    pub resource: Option<String>,
    /// A JSON object of context fields added to every call (where declared).
    pub context: Option<PathBuf>,
    /// Append every decision to this audit log.
    pub audit_log: Option<PathBuf>,
    /// Tokenization keys (JSON object name → key); default: `WARD_KEY_*` variables.
    pub keys: Option<PathBuf>,
    /// Seal the audit log with checkpoints signed by this key (`ward keygen`'s `.key`).
    pub audit_key: Option<PathBuf>,
    /// Where rate-limit and flow state lives: `redis://…` (shared by every
    /// gateway that points at it, and kept across restarts); default: in
    /// this process.
    pub state: Option<String>,
    /// The prefix of the gateway's keys in Redis.
    pub state_prefix: String,
    /// The longest flow window (milliseconds), over the project's `ward.toml`.
    pub max_window_ms: Option<i64>,
}

/// Why the gateway could not start.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Who calls are decided for: the agent, whom it acts for, and what its
/// token vouches for. Fixed for the run (`--agent`, or stdio's token), or
/// per request (HTTP with `--identity`): every decision takes one, so a call
/// is never decided for another agent than its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub principal: EntityUid,
    /// The delegation chain, origin first (RFC 8693 `act`; docs/identity.md).
    pub chain: Vec<EntityUid>,
    /// Context fields from the token's claims (where the action declares them).
    pub context: Vec<(String, Json)>,
}

impl Agent {
    pub fn named(principal: EntityUid) -> Agent {
        Agent { principal, chain: Vec::new(), context: Vec::new() }
    }

    /// The agent of a verified token.
    pub fn from_identity(id: &ward_service::identity::Identity) -> Agent {
        Agent { principal: id.principal.clone(), chain: id.chain.clone(), context: id.context.clone() }
    }
}

/// The gateway's policy state, shared by every session.
pub struct Gate {
    engine: Engine,
    /// The fixed agent; `None` when each request's comes from its token.
    agent: Option<Agent>,
    resource: EntityUid,
    static_context: Map<String, Json>,
    audit: Option<AuditLog>,
    keys: Box<dyn Keys>,
    /// Where the policy comes from, for reloads.
    config: GateConfig,
    watch: Watch,
    /// Counts successful loads (1: the one at start).
    generation: std::sync::atomic::AtomicU64,
}

/// A call the policy allowed (or that waits for approval), then waiting for the server's answer.
#[derive(Debug, Clone)]
pub struct Call {
    pub tool: String,
    pub request: Request,
    pub decision: Decision,
    /// The audit record of the decision (its `seq`), when there is a log.
    pub seq: Option<u64>,
}

/// What became of a forwarded call (the audit record's `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered with a result.
    Ok,
    /// The server answered with an error, or a result marked `isError`.
    Error,
    /// The server did not answer within the timeout.
    Timeout,
    /// The server ended, or could not be reached, before answering.
    ServerGone,
    /// The client cancelled the call, or went away, before the answer.
    Cancelled,
    /// The server answered, but a mask could not be applied: the client got a deny.
    Withheld,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::ServerGone => "server_gone",
            Outcome::Cancelled => "cancelled",
            Outcome::Withheld => "withheld",
        }
    }
}

/// What to do with a `tools/call` request.
#[derive(Debug)]
pub enum Verdict {
    /// Forward the call with these params (the arguments masked where the policy says so).
    Forward { params: Json, call: Box<Call> },
    /// Ask the client's user (MCP elicitation) with these `elicitation/create`
    /// params; on approval, forward `params`.
    Ask { params: Json, call: Box<Call>, question: Json },
    /// Answer the client with this error object; the server never sees the call.
    Refuse(Json),
}

/// The name of the boolean field of the approval form.
pub const APPROVE_FIELD: &str = "approve";
/// The name of the approver's name field of the approval form.
pub const APPROVER_FIELD: &str = "approver";

/// Parses `Type::"id"`, `Type::id`, or a bare id (of type `default_type`);
/// the type may be namespaced (`Tax::User::"ann"`).
pub fn parse_uid(text: &str, default_type: &str) -> Result<EntityUid, String> {
    let text = text.trim();
    let split = text.find("::\"").or_else(|| text.rfind("::"));
    match split.and_then(|at| Some((text.get(..at)?, text.get(at + 2..)?))) {
        Some((ty, id)) => {
            let id = id.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(id);
            if ty.is_empty() || id.is_empty() {
                return Err(format!("`{text}` is not an entity (write Type::\"id\")"));
            }
            Ok(EntityUid::new(ty, id))
        }
        None if text.is_empty() => Err("an empty entity id".to_string()),
        None => Ok(EntityUid::new(default_type, text)),
    }
}

/// The Ward action name of an MCP tool: every character other than an ASCII
/// letter, digit or `_` becomes `_`; a leading digit gets a `_` before it,
/// and a reserved word of Ward (`test`, `policy`, …) a `_` after it.
pub fn action_name(tool: &str) -> String {
    let mut name: String = tool.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    if is_reserved(&name) {
        name.push('_');
    }
    name
}

/// True for Ward's reserved keywords.
pub fn is_reserved(word: &str) -> bool {
    let tokens = ward_grammar::lexer::lex(word);
    matches!(tokens.as_slice(), [t] if t.kind.is_reserved())
}

/// A field name Ward can declare: a word (reserved words are allowed as field names).
pub fn is_word(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn read_json(path: &Path, what: &str) -> Result<Json, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read {what} `{}`: {e}", path.display())))?;
    // Strictly, as requests are: duplicate keys and numbers a double would round are refused.
    ward_runtime::json::parse(&text, what, &ward_runtime::data::Path::Root(what))
        .map_err(|e| ConfigError(format!("{what} `{}`: {e}", path.display())))
}

/// The policy set, from the policy's sources or from a bundle, with the
/// templates' links.
/// The policy set `config` names; `previous`, on a reload, lends its
/// compiled parts when the policy itself did not change.
fn load(config: &GateConfig, previous: Option<&Loaded>) -> Result<Loaded, ConfigError> {
    let loaded = load_policy(config, previous)?;
    let Some(path) = &config.links else { return Ok(loaded) };
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read links `{}`: {e}", path.display())))?;
    let links = ward_runtime::links::Links::parse(loaded.program(), &text)
        .map_err(|e| ConfigError(format!("links `{}`: {e}", path.display())))?;
    loaded.with_links(std::sync::Arc::new(links)).map_err(|e| ConfigError(format!("links `{}`: {e}", path.display())))
}

fn load_policy(config: &GateConfig, previous: Option<&Loaded>) -> Result<Loaded, ConfigError> {
    let entities = match &config.entities {
        Some(p) => read_json(p, "entities")?,
        None => Json::Array(Vec::new()),
    };
    match (&config.bundle, config.policy.is_empty()) {
        (Some(path), true) => {
            let trusted = match &config.trusted_key {
                Some(k) => {
                    let text = std::fs::read_to_string(k)
                        .map_err(|e| ConfigError(format!("cannot read `{}`: {e}", k.display())))?;
                    Some(
                        ward_runtime::bundle::parse_verifying_key(&text)
                            .map_err(|e| ConfigError(format!("`{}`: {e}", k.display())))?,
                    )
                }
                None => None,
            };
            let bundle = ward_runtime::bundle::Bundle::read_file(path, trusted.as_ref())
                .map_err(|e| ConfigError(format!("bundle `{}`: {e}", path.display())))?;
            match previous {
                Some(previous) => bundle.reloaded(&entities, true, previous),
                None => bundle.loaded(&entities, true),
            }
            .map_err(|e| ConfigError(format!("bundle `{}`: {e}", path.display())))
        }
        (None, false) => match previous {
            Some(previous) => ward_runtime::build::reloaded_from_paths(
                &config.policy,
                &entities,
                ward_runtime::Backend::Jit,
                config.max_window_ms,
                previous,
            ),
            None => ward_runtime::build::loaded_from_paths_with(
                &config.policy,
                &entities,
                ward_runtime::Backend::Jit,
                config.max_window_ms,
            ),
        }
        .map_err(|e| ConfigError(e.to_string())),
        _ => Err(ConfigError("give the policy as --policy PATH… or as --bundle FILE (one of them)".into())),
    }
}

/// The files a reload looks at: the policy (or bundle), the entities and the links.
fn watched(config: &GateConfig) -> Vec<PathBuf> {
    config
        .policy
        .iter()
        .cloned()
        .chain(config.bundle.clone())
        .chain(config.entities.clone())
        .chain(config.links.clone())
        .collect()
}

/// The agent must be known: an agent the policy declares (so its lifecycle
/// is enforced) or an entity of `--entities`. An unknown one would be
/// decided as a stranger with no attributes, and no lifecycle at all.
fn check_agent(loaded: &Loaded, principal: &EntityUid) -> Result<(), ConfigError> {
    if is_known(loaded, principal) {
        return Ok(());
    }
    let program = loaded.program();
    let agents: Vec<String> = program.agents.iter().map(|a| format!("`{}`", a.name)).collect();
    let names: Vec<&str> = program.agents.iter().map(|a| a.name.as_str()).collect();
    let hint = ward_ir::suggest::closest(&principal.id, names.iter().copied())
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default();
    Err(ConfigError(format!(
        "--agent {principal}: no agent of that name is declared in the policy{hint}, and --entities has no such \
         entity; declared agents: {}",
        if agents.is_empty() { "none".to_string() } else { agents.join(", ") }
    )))
}

fn unknown_link(link: &EntityUid) -> String {
    format!(
        "the token's delegation chain names {link}, which is not an agent the policy declares nor an entity of \
         --entities: no decision is made for an identity Ward does not know"
    )
}

/// An agent the policy declares, or an entity of `--entities`.
fn is_known(loaded: &Loaded, uid: &EntityUid) -> bool {
    let program = loaded.program();
    let declared = program.agents.iter().any(|a| {
        program.entity_literals.get(a.entity as usize).is_some_and(|(t, id)| {
            program.entity_types.get(*t as usize).is_some_and(|ty| ty.name == uid.ty) && *id == uid.id
        })
    });
    let ty = program.entity_types.iter().position(|t| t.name == uid.ty);
    declared || ty.is_some_and(|t| loaded.store.find(t as u32, &uid.id).is_some())
}

/// The `@resource_from("ARG")` annotations of the program's actions: action
/// → (resource type, argument), read from the compiled program so that a
/// bundle carries them.
fn resource_annotations(program: &Program) -> Result<HashMap<String, (String, String)>, ConfigError> {
    let mut out = HashMap::new();
    for action in &program.actions {
        let Some(arg) = action.annotation(RESOURCE_FROM) else { continue };
        let name = &action.name;
        let Some(arg) = arg else {
            return Err(ConfigError(format!(
                "action `{name}`: `@{RESOURCE_FROM}` needs the argument's name: @{RESOURCE_FROM}(\"customer_id\")"
            )));
        };
        let ty = match action.resources.as_deref() {
            Some([t]) => program.entity_types.get(*t as usize).map(|e| e.name.clone()),
            _ => None,
        };
        let Some(ty) = ty else {
            return Err(ConfigError(format!(
                "action `{name}`: `@{RESOURCE_FROM}(\"{arg}\")` needs exactly one resource type (`on T`)"
            )));
        };
        if !action.context.iter().any(|f| f.name == arg) {
            return Err(ConfigError(format!(
                "action `{name}`: `@{RESOURCE_FROM}(\"{arg}\")` names an argument the action does not declare in `with {{ … }}`"
            )));
        }
        out.insert(name.clone(), (ty, arg.to_string()));
    }
    Ok(out)
}

impl Gate {
    /// Compiles the policy (or reads the bundle) and loads entities, keys and the audit log.
    pub fn new(config: &GateConfig) -> Result<Gate, ConfigError> {
        let watch = Watch::new(watched(config));
        let loaded = load(config, None)?;
        let agent = match (config.from_tokens, config.agent.is_empty()) {
            (false, false) => {
                let agent = parse_uid(&config.agent, "Agent").map_err(|e| ConfigError(format!("--agent: {e}")))?;
                check_agent(&loaded, &agent)?;
                Some(Agent::named(agent))
            }
            (true, true) => None,
            // Fail closed: never a gate without one clear source of its agent.
            _ => {
                return Err(ConfigError(
                    "give the agent with --agent NAME, or take it from tokens with --identity FILE (one of them)"
                        .into(),
                ));
            }
        };
        resource_annotations(loaded.program())?;
        let mut engine = Engine::new(loaded, Arc::new(ward_runtime::SystemClock), ward_runtime::Backend::Jit);
        if let Some(url) = &config.state {
            engine = engine.with_state(state_store(url, &config.state_prefix)?);
        }
        let static_context = match &config.context {
            Some(p) => match read_json(p, "context")? {
                Json::Object(map) => map,
                _ => return Err(ConfigError(format!("context `{}` must be a JSON object", p.display()))),
            },
            None => Map::new(),
        };
        let keys: Box<dyn Keys> = match &config.keys {
            Some(p) => Box::new(
                StaticKeys::from_json(&read_json(p, "keys")?)
                    .map_err(|e| ConfigError(format!("keys `{}`: {e}", p.display())))?,
            ),
            None => Box::new(EnvKeys),
        };
        let checkpoints = match &config.audit_key {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError(format!("--audit-key: cannot read `{}`: {e}", p.display())))?;
                let key = ward_runtime::bundle::parse_signing_key(&text)
                    .map_err(|e| ConfigError(format!("--audit-key `{}`: {e}", p.display())))?;
                Some(Checkpoints::new(key))
            }
            None => None,
        };
        let audit = match &config.audit_log {
            Some(p) => Some(
                AuditLog::open_with(p, Durability::EveryRecord, checkpoints).map_err(|e| ConfigError(e.to_string()))?,
            ),
            None if checkpoints.is_some() => return Err(ConfigError("--audit-key needs --audit-log".into())),
            None => None,
        };
        let resource = parse_uid(config.resource.as_deref().unwrap_or("McpServer::\"default\""), "McpServer")
            .map_err(|e| ConfigError(format!("--resource: {e}")))?;
        Ok(Gate {
            engine,
            agent,
            resource,
            static_context,
            audit,
            keys,
            config: config.clone(),
            watch,
            generation: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// Seals (closing checkpoint) and syncs the audit log; at exit.
    pub fn close_audit(&self) {
        if let Some(log) = &self.audit
            && let Err(e) = log.close()
        {
            crate::stdio::log(&e.to_string());
        }
    }

    /// The engine, for embedders and tests.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The fixed agent, when there is one (`--agent`, or stdio's token).
    pub fn agent(&self) -> Option<&Agent> {
        self.agent.as_ref()
    }

    /// Fixes the run's agent to a verified token's (stdio with
    /// `--identity`), if Ward knows it ([`Gate::unknown`]).
    pub fn fix_agent(mut self, agent: Agent) -> Result<Gate, ConfigError> {
        if let Some(why) = self.unknown(&agent) {
            return Err(ConfigError(why));
        }
        self.agent = Some(agent);
        Ok(self)
    }

    /// Why calls of a token's agent cannot be decided, if they cannot: its
    /// principal, or a link of its delegation chain, is not known (an agent
    /// the policy declares or an entity of `--entities`). An unknown agent
    /// would be decided as a stranger; it gets no decision at all.
    pub fn unknown(&self, who: &Agent) -> Option<String> {
        let loaded = self.engine.loaded();
        if !is_known(&loaded, &who.principal) {
            return Some(format!(
                "the token's principal {} is not an agent the policy declares nor an entity of --entities: no \
                 decision is made for an identity Ward does not know",
                who.principal
            ));
        }
        who.chain.iter().find(|link| !is_known(&loaded, link)).map(unknown_link)
    }

    /// Whether `tools/list` shows the tool: some call of it could be allowed.
    ///
    /// Exactly: the tool's action exists and accepts the agent's type, and for
    /// some resource type the action accepts, (a) no forbid is certain to
    /// apply — a non-shadow forbid without `require_approval`, not pinned to a
    /// resource, all of whose conditions are scope tests on the principal
    /// that hold for this agent — and (b) some permit may apply — a
    /// non-shadow permit without `require_approval` none of whose principal
    /// scope tests fails for this agent. Everything else a rule looks at
    /// (resource, context, time, history, limits) is assumed possible, so a
    /// tool is hidden only when no call of it could be forwarded; a listed
    /// tool's calls are still decided one by one.
    ///
    /// `can_approve` says whether the client can ask its user to approve
    /// (MCP elicitation): if it can, rules that need an approval count as
    /// rules that may let a call through; if it cannot, a forbid that needs
    /// an approval is as final as any other, and a permit that needs one
    /// never lets a call through, so a tool whose every call would need an
    /// approval is hidden.
    pub fn may_call(&self, who: &Agent, tool: &str, can_approve: bool) -> bool {
        let me = &who.principal;
        let loaded = self.engine.loaded();
        let program = loaded.program();
        let action = action_name(tool);
        let Some(a) = program.actions.iter().position(|x| x.name == action && !x.is_group) else { return false };
        let Some(info) = program.actions.get(a) else { return false };
        let Some(pt) = program.entity_types.iter().position(|t| t.name == me.ty) else { return false };
        if info.principals.as_ref().is_some_and(|ps| !ps.contains(&(pt as u32))) {
            return false;
        }
        let principal = Principal { uid: me, index: loaded.store.find(pt as u32, &me.id) };
        let resource_types: Vec<u32> =
            info.resources.clone().unwrap_or_else(|| (0..program.entity_types.len() as u32).collect());
        for rt in resource_types {
            let Some(bucket) = loaded.buckets.get(&(a as u32, pt as u32, rt)) else { continue };
            let mine = principal.index.and_then(|p| bucket.by_principal.get(&p)).into_iter().flatten();
            let general: Vec<u32> = bucket.general.iter().copied().chain(mine.copied()).collect();
            let rule = |r: &u32| program.rules.get(*r as usize);
            if general
                .iter()
                .filter_map(rule)
                .any(|r| certain_forbid(program, &loaded.store, &principal, r, can_approve))
            {
                continue;
            }
            // A template's permit may apply through a link that names the agent.
            let linked = bucket.templates.iter().filter(|t| {
                loaded.links.may_match_principal(program, &loaded.store, **t, principal.index, pt as u32, &me.id)
            });
            let pinned = bucket.by_resource.values().flatten().chain(linked);
            if general
                .iter()
                .chain(pinned)
                .filter_map(rule)
                .any(|r| possible_permit(program, &loaded.store, &principal, r, can_approve))
            {
                return true;
            }
        }
        false
    }

    /// Filters a `tools/list` result in place: only the tools [`Gate::may_call`] allows.
    pub fn filter_tools(&self, who: &Agent, result: &mut Json, can_approve: bool) -> Result<(), String> {
        let Some(Json::Array(tools)) = result.get_mut("tools") else {
            return Err("the server's tools/list result has no `tools` list".to_string());
        };
        tools
            .retain(|t| t.get("name").and_then(Json::as_str).is_some_and(|name| self.may_call(who, name, can_approve)));
        Ok(())
    }

    /// Decides a `tools/call` request of session `session`. `can_approve`:
    /// the client can ask its user (elicitation), so an `approval_required`
    /// becomes a question instead of a refusal.
    pub fn decide_call(&self, who: &Agent, session: &str, params: Option<&Json>, can_approve: bool) -> Verdict {
        let invalid = |m: String| Verdict::Refuse(rpc::error_object(code::INVALID_PARAMS, m, None));
        let Some(params) = params.and_then(Json::as_object) else {
            return invalid("tools/call needs params with the tool's `name`".to_string());
        };
        let Some(tool) = params.get("name").and_then(Json::as_str) else {
            return invalid("tools/call needs the tool's `name` (a string)".to_string());
        };
        if params.get("task").is_some_and(|t| !t.is_null()) {
            // Its result would come back in `tasks/result`, past the masks.
            let why = format!(
                "`{tool}` was called as a task; task-augmented tool calls are not accepted through the gateway \
                 (their results could not be masked): call it without `task`"
            );
            return self.refuse(who, tool, None, Decision::refused(why));
        }
        let arguments = match params.get("arguments") {
            None | Some(Json::Null) => Map::new(),
            Some(Json::Object(m)) => m.clone(),
            Some(_) => return invalid(format!("the arguments of `{tool}` must be an object")),
        };
        let request = match self.request(who, tool, &arguments, session) {
            Ok(r) => r,
            Err(message) => {
                let decision = Decision::refused(message);
                return self.refuse(who, tool, None, decision);
            }
        };
        let decision = self.engine.decide(&request);
        let seq = match self.audit(&request, &decision, |e| e) {
            Ok(seq) => seq,
            Err(e) => return Verdict::Refuse(rpc::error_object(code::GATEWAY, e, None)),
        };
        match decision.effect {
            Effect::Allow => {}
            Effect::ApprovalRequired if can_approve => {
                if let Some(why) = unobtainable(&decision) {
                    return Verdict::Refuse(self.denial(tool, &request, &decision, Some(&why)));
                }
                let question = self.question(tool, &request, &decision);
                return match self.masked_params(tool, params, arguments, &request, &decision) {
                    Ok(params) => {
                        let call = Box::new(Call { tool: tool.to_string(), request, decision, seq });
                        Verdict::Ask { params, call, question }
                    }
                    Err(refusal) => Verdict::Refuse(refusal),
                };
            }
            Effect::ApprovalRequired => {
                let why = "the client cannot ask its user (it did not declare the MCP elicitation capability)";
                return Verdict::Refuse(self.denial(tool, &request, &decision, Some(why)));
            }
            Effect::Deny => return Verdict::Refuse(self.denial(tool, &request, &decision, None)),
        }
        match self.masked_params(tool, params, arguments, &request, &decision) {
            Ok(params) => {
                Verdict::Forward { params, call: Box::new(Call { tool: tool.to_string(), request, decision, seq }) }
            }
            Err(refusal) => Verdict::Refuse(refusal),
        }
    }

    /// The call's params with masks on `context.…` applied to the arguments
    /// the server receives, or the error to answer when one cannot be applied.
    fn masked_params(
        &self,
        tool: &str,
        params: &Map<String, Json>,
        arguments: Map<String, Json>,
        request: &Request,
        decision: &Decision,
    ) -> Result<Json, Json> {
        let mut params = Json::Object(params.clone());
        let arg_masks = split_masks(decision, true);
        if !arg_masks.masks.is_empty() {
            let mut payload = Payload::Json(Json::Object(arguments));
            let mut d = arg_masks;
            if let Err(e) = self.engine.mask(&mut d, &mut payload, self.keys.as_ref()) {
                let denied = with_message(d, &e.to_string());
                let _ = self.audit(request, &denied, |e| e);
                return Err(self.denial(tool, request, &denied, None));
            }
            // What masking the arguments masked is audited (counts, never values).
            if let Err(e) = self.audit(request, &d, |e| e.at_stage("arguments")) {
                return Err(rpc::error_object(code::GATEWAY, e, None));
            }
            if let (Payload::Json(args), Some(obj)) = (payload, params.as_object_mut()) {
                obj.insert("arguments".into(), args);
            }
        }
        Ok(params)
    }

    /// Refuses a tool call that came in a form the gateway does not accept
    /// (a notification, a method that imitates `tools/call`): audited as a
    /// deny of the tool it names, never forwarded.
    pub fn refuse_framing(&self, who: &Agent, params: Option<&Json>, why: &str) -> Json {
        let tool = params.and_then(|p| p.get("name")).and_then(Json::as_str).unwrap_or("");
        match self.refuse(who, tool, None, Decision::refused(why.to_string())) {
            Verdict::Refuse(error) => error,
            _ => rpc::error_object(code::DENIED, why.to_string(), None),
        }
    }

    /// The `elicitation/create` params asking the client's user to approve the call.
    fn question(&self, tool: &str, request: &Request, decision: &Decision) -> Json {
        let program = self.engine.loaded();
        let program = program.program();
        let mut why = Vec::new();
        let mut roles = Vec::new();
        for o in decision.obligations.iter().filter(|o| o.name == "require_approval") {
            if let Some(role) = o.args.get("role").and_then(Json::as_str) {
                roles.push(role.to_string());
            }
            let template = ward_runtime::links::template_of(&o.rule);
            let rule = program.rules.iter().find(|r| r.id == template);
            let reason = rule.and_then(|r| r.reason.clone()).unwrap_or_else(|| format!("rule `{}`", o.rule));
            why.push(reason);
        }
        let who = if roles.is_empty() { "a person".to_string() } else { format!("a {}", roles.join(" or a ")) };
        let arguments = request.context.as_object().map(|c| {
            c.iter()
                .filter(|(k, _)| k.as_str() != SESSION_FIELD && !self.static_context.contains_key(*k))
                .map(|(k, v)| format!("{k}: {}", short(&v.to_string(), 80)))
                .collect::<Vec<_>>()
                .join(", ")
        });
        let message = format!(
            "The agent {} wants to call `{tool}` ({}). Ward's policy needs the approval of {who}: {}. \
             Approve this call?",
            request.principal,
            arguments.unwrap_or_default(),
            why.join("; ")
        );
        json!({
            "mode": "form",
            "message": message,
            "requestedSchema": {
                "type": "object",
                "properties": {
                    APPROVE_FIELD: {"type": "boolean", "title": "Approve this call", "description": format!("Approve the agent's call of `{tool}`")},
                    APPROVER_FIELD: {"type": "string", "title": "Your name", "description": format!("Recorded in the audit log as the approver ({who})"), "minLength": 1},
                },
                "required": [APPROVE_FIELD, APPROVER_FIELD],
            }
        })
    }

    /// The user's answer to the approval question: `Ok((approver, seq))` to
    /// go ahead (the approval is audited; `seq` is its record, the decision
    /// the call's outcome completes), or the error to answer the call with.
    pub fn answer_approval(&self, call: &Call, answer: &Json, client: &str) -> Result<(String, Option<u64>), Json> {
        let result = answer.get("result");
        let action = result.and_then(|r| r.get("action")).and_then(Json::as_str);
        let content = result.and_then(|r| r.get("content"));
        let approve = content.and_then(|c| c.get(APPROVE_FIELD)).and_then(Json::as_bool) == Some(true);
        let approver = content.and_then(|c| c.get(APPROVER_FIELD)).and_then(Json::as_str).map(str::trim).unwrap_or("");
        let refusal = match (action, approve, approver.is_empty()) {
            (Some("accept"), true, false) => None,
            (Some("accept"), true, true) => Some("the approval gave no approver's name".to_string()),
            (Some("accept"), false, _) => Some("the user did not approve it".to_string()),
            (Some("decline"), ..) => Some("the user declined it".to_string()),
            (Some("cancel"), ..) => Some("the user dismissed the question (cancelled)".to_string()),
            _ => match answer.get("error") {
                Some(e) => Some(format!(
                    "the client could not ask its user: {}",
                    e.get("message").and_then(Json::as_str).unwrap_or("an error")
                )),
                None => Some("the client's answer to the approval question is malformed".to_string()),
            },
        };
        if let Some(why) = refusal {
            let mut denied = call.decision.clone();
            denied.effect = Effect::Deny;
            denied.masks.clear();
            denied
                .errors
                .push(ward_runtime::decision::EvalErrorOut { rule: None, message: format!("not approved: {why}") });
            let _ = self.audit(&call.request, &denied, |e| e);
            return Err(self.denial(&call.tool, &call.request, &call.decision, Some(&why)));
        }
        let by = format!("{approver} (asked through the MCP client {client}; the role is not verified)");
        let mut approved = call.decision.clone();
        approved.effect = Effect::Allow;
        // The approved call is history for flow conditions, like any allowed call.
        self.engine.record_approved(&call.request, &mut approved);
        let by_for_audit = by.clone();
        match self.audit(&call.request, &approved, move |mut e| {
            e.approved_by = Some(by_for_audit);
            e
        }) {
            Ok(seq) => Ok((by, seq)),
            Err(e) => Err(rpc::error_object(code::GATEWAY, e, None)),
        }
    }

    /// The Ward request for a call of `tool` with `arguments`.
    pub fn request(
        &self,
        who: &Agent,
        tool: &str,
        arguments: &Map<String, Json>,
        session: &str,
    ) -> Result<Request, String> {
        let action = action_name(tool);
        let loaded = self.engine.loaded();
        let info = loaded.program().actions.iter().find(|a| a.name == action);
        let declared: Vec<String> =
            info.map(|a| a.context.iter().map(|f| f.name.clone()).collect()).unwrap_or_default();
        // A `@verified` field (an approval, MFA) comes from the gateway's own
        // configuration or the caller's verified token, never from what the
        // agent passes: a prompt-injected argument must not approve itself.
        if let Some(field) = info.and_then(|a| a.verified.iter().find(|f| arguments.contains_key(*f))) {
            return Err(format!(
                "argument `{field}` of `{tool}` names a `@verified` context field; it is set by the enforcement point, \
                 not accepted from the agent"
            ));
        }
        let mut context: Map<String, Json> =
            arguments.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut facts = self.static_context.clone();
        facts.insert(SESSION_FIELD.to_string(), Json::String(session.to_string()));
        // What the token vouches for wins over `--context`, as over the arguments.
        facts.extend(who.context.iter().cloned());
        for (name, value) in facts {
            if !declared.contains(&name) {
                continue;
            }
            if arguments.contains_key(&name) {
                return Err(format!(
                    "argument `{name}` of `{tool}` has the name of a field the gateway supplies; it is not accepted from the agent"
                ));
            }
            context.insert(name, value);
        }
        let resource_from = loaded.program().actions.iter().find(|a| a.name == action).and_then(|a| {
            let arg = a.annotation(RESOURCE_FROM)??;
            let ty = match a.resources.as_deref() {
                Some([t]) => loaded.program().entity_types.get(*t as usize)?.name.clone(),
                _ => return None,
            };
            Some((ty, arg.to_string()))
        });
        let resource = match &resource_from {
            Some((ty, arg)) => match arguments.get(arg) {
                Some(Json::String(id)) => EntityUid::new(ty.clone(), id.clone()),
                Some(Json::Number(n)) => EntityUid::new(ty.clone(), n.to_string()),
                Some(_) => return Err(format!("argument `{arg}` of `{tool}` names the resource and must be a string")),
                None => return Err(format!("argument `{arg}` of `{tool}` names the resource and is missing")),
            },
            None => self.resource.clone(),
        };
        Ok(Request::new(who.principal.clone(), action, resource)
            .on_behalf_of(who.chain.clone())
            .with_context(Json::Object(context))
            .in_session(session.to_string()))
    }

    /// Appends the decision to the audit log (`edit` adds to the entry);
    /// `Ok(Some(seq))` of the record, `Ok(None)` without a log.
    fn audit(
        &self,
        request: &Request,
        decision: &Decision,
        edit: impl FnOnce(Entry) -> Entry,
    ) -> Result<Option<u64>, String> {
        let Some(log) = &self.audit else { return Ok(None) };
        let loaded = self.engine.loaded();
        let entry = Entry::new(request, decision, &loaded.program().source_hash, self.engine.clock().now_ms())
            .with_severity(loaded.program(), decision);
        log.append_entry(edit(entry))
            .map(|a| Some(a.seq))
            .map_err(|e| format!("ward could not write its audit log, so nothing is forwarded: {e}"))
    }

    /// Audits a request refused before any decision because of its token
    /// (`stage` `authentication`: the token is not accepted; `identity`: it
    /// is, but its agent cannot be decided for): effect `deny`, the reason
    /// in `errors`, and as `request_digest` the SHA-256 of the token
    /// presented, never the token. As `ward serve` does (docs/identity.md).
    pub fn audit_refusal(&self, principal: &str, token: &[u8], stage: &str, why: &str) -> Result<(), String> {
        let Some(log) = &self.audit else { return Ok(()) };
        let loaded = self.engine.loaded();
        let now = self.engine.clock().now_ms();
        let entry = Entry::refusal(now, &loaded.program().source_hash, principal, token, stage, why);
        log.append_entry(entry).map(|_| ()).map_err(|e| format!("the refusal could not be audited: {e}"))
    }

    /// Records what became of a forwarded call.
    pub fn outcome(&self, call: &Call, outcome: Outcome) {
        self.outcome_of(call, outcome, &call.decision);
    }

    fn outcome_of(&self, call: &Call, outcome: Outcome, decision: &Decision) {
        self.outcome_with(call, outcome, decision, None);
    }

    /// The outcome record, with the facts the result recorded, if any.
    fn outcome_with(&self, call: &Call, outcome: Outcome, decision: &Decision, facts: Option<&ResultRecord>) {
        let seq = call.seq;
        let result = self.audit(&call.request, decision, |mut e| {
            e.outcome = Some(outcome.as_str().to_string());
            e.decision_seq = seq;
            with_facts(e, facts)
        });
        if let Err(e) = result {
            crate::stdio::log(&format!(
                "the outcome of `{}` ({}) could not be audited: {e}",
                call.tool,
                outcome.as_str()
            ));
        }
    }

    /// The error for a refused call; a malformed request is audited too.
    fn refuse(&self, who: &Agent, tool: &str, request: Option<&Request>, decision: Decision) -> Verdict {
        let placeholder;
        let request = match request {
            Some(r) => r,
            None => {
                placeholder = Request::new(who.principal.clone(), action_name(tool), self.resource.clone())
                    .on_behalf_of(who.chain.clone());
                if let Err(e) = self.audit(&placeholder, &decision, |e| e) {
                    return Verdict::Refuse(rpc::error_object(code::GATEWAY, e, None));
                }
                &placeholder
            }
        };
        Verdict::Refuse(self.denial(tool, request, &decision, None))
    }

    /// A JSON-RPC error object for a decision that is not an allow, written
    /// for the agent (often an LLM) to act on: short, and causal — the
    /// forbid that decided (its `@reason` and the conditions that made it
    /// apply), or that no permit applied and which permit would, and on
    /// what condition; a limit with when to retry. `data.ward` carries the
    /// decision and the highest `@severity` of the deciding rules.
    /// `unapproved` says why an approval could not be had.
    pub fn denial(&self, tool: &str, request: &Request, decision: &Decision, unapproved: Option<&str>) -> Json {
        let loaded = self.engine.loaded();
        let program = loaded.program();
        // A linked rule (`POLICY.ID[LINK]`) is its template's.
        let rule_of = |id: &str| program.rules.iter().find(|r| r.id == ward_runtime::links::template_of(id));
        let is_forbid =
            |id: &str| matches!(rule_of(id).map(|r| &r.kind), Some(RuleKind::Rule { effect: ir::Effect::Forbid }));
        let mut why = Vec::new();
        let limited: Vec<&ward_runtime::decision::Limit> =
            decision.limits.iter().filter(|l| l.retry_after_ms.is_some()).collect();
        for l in &limited {
            let retry = l.retry_after_ms.unwrap_or(0);
            why.push(format!(
                "the limit `{}` ({} per {}) is used up for {}; retry in {}",
                l.rule,
                l.limit,
                human_duration(l.window_ms),
                l.key,
                human_duration(retry.max(1))
            ));
        }
        let forbids: Vec<&ward_runtime::decision::Reason> =
            decision.reasons.iter().filter(|r| r.rule.as_deref().is_some_and(is_forbid)).collect();
        for r in &forbids {
            let Some(rule) = r.rule.as_deref().and_then(rule_of) else { continue };
            let reason = rule.reason.as_deref().map(|t| format!(": {t}")).unwrap_or_default();
            // Every `when` and `unless` of the rule held: all of them are why
            // (the flow condition of a flow rule among them, wherever it is).
            let conditions: Vec<String> = rule
                .conditions
                .iter()
                .filter_map(|c| match c.text.split_once(' ') {
                    Some(("when", t)) => Some(t.to_string()),
                    Some(("unless", t)) => Some(format!("not ({t})")),
                    _ => None,
                })
                .collect();
            let applies = if conditions.is_empty() {
                "it applies to every call of this tool".to_string()
            } else {
                format!("it applies because {}", conditions.join(" and "))
            };
            let errors: Vec<&str> = decision
                .errors
                .iter()
                .filter(|e| e.rule.as_deref() == Some(rule.id.as_str()))
                .map(|e| e.message.as_str())
                .collect();
            let errors = if errors.is_empty() {
                String::new()
            } else {
                format!(" (it could not be evaluated: {})", errors.join("; "))
            };
            why.push(format!("forbidden by `{}`{reason} — {applies}{errors}", rule.id));
        }
        // Reasons without a rule: no permit, an expired agent, a malformed request, a mask.
        for r in decision.reasons.iter().filter(|r| r.rule.is_none()) {
            if r.clause.starts_with("no permit applies") {
                let now = self.engine.clock().now_ms();
                let could: Vec<String> = self
                    .engine
                    .why_not(request, now)
                    .into_iter()
                    .take(2)
                    .map(|(rule, condition, _)| {
                        let reason = rule_of(&rule)
                            .and_then(|r| r.reason.as_deref())
                            .map(|t| format!(" ({t})"))
                            .unwrap_or_default();
                        format!("`{rule}`{reason} would allow it, but {condition}")
                    })
                    .collect();
                let subject = format!("{}", request.principal);
                why.push(if could.is_empty() {
                    format!("no rule permits it for {subject}")
                } else {
                    format!("no rule permits it for {subject}: {}", could.join("; "))
                });
            } else if limited.is_empty() || !r.clause.contains("limit") {
                why.push(r.clause.clone());
            }
        }
        let (code, verb) = match decision.effect {
            Effect::ApprovalRequired => (code::APPROVAL_REQUIRED, "needs a person's approval"),
            _ => (code::DENIED, "denied"),
        };
        if decision.effect == Effect::ApprovalRequired {
            why.clear();
            for o in decision.obligations.iter().filter(|o| o.name == "require_approval") {
                let reason =
                    rule_of(&o.rule).and_then(|r| r.reason.as_deref()).map(|t| format!(": {t}")).unwrap_or_default();
                let role =
                    o.args.get("role").and_then(Json::as_str).map(|r| format!(" (by a {r})")).unwrap_or_default();
                why.push(format!("`{}`{reason}{role}", o.rule));
            }
        }
        if why.is_empty() {
            why.push(decision.reasons.first().map_or_else(|| "no reason given".to_string(), |r| r.clause.clone()));
        }
        let mut message = format!("ward: `{tool}` {verb}: {}", why.join("; "));
        if let Some(u) = unapproved {
            message.push_str(&format!(". Not approved: {u}"));
        }
        let severity = ward_runtime::audit::severity(program, decision);
        let data = json!({"ward": {
            "tool": tool,
            "action": action_name(tool),
            "effect": decision.effect.as_str(),
            "severity": severity,
            "reasons": decision.reasons,
            "obligations": decision.obligations,
            "limits": decision.limits,
            "errors": decision.errors,
        }});
        rpc::error_object(code, message, Some(data))
    }

    /// The message to send the client for the server's response to an
    /// allowed call: the result masked, or, when a mask cannot be applied,
    /// an error in its place (the decision becomes a deny and is audited).
    /// Records the call's outcome.
    pub fn finish_call(&self, call: &Call, mut response: Json) -> Json {
        let failed = response.get("error").is_some()
            || response.get("result").and_then(|r| r.get("isError")).and_then(Json::as_bool) == Some(true);
        let outcome = if failed { Outcome::Error } else { Outcome::Ok };
        // Before masking: the result flows read what the tool returned.
        let facts = if failed { None } else { self.record_result(call, response.get("result")) };
        let masks = split_masks(&call.decision, false);
        if masks.masks.is_empty() {
            self.outcome_with(call, outcome, &call.decision, facts.as_ref());
            return response;
        }
        let mut decision = masks;
        let masked = if let Some(result) = response.get_mut("result") {
            self.mask_result(&mut decision, result)
        } else if let Some(error) = response.get_mut("error") {
            // An error can echo data: detectors still apply to its strings.
            self.mask_json(&mut decision, error)
        } else {
            Ok(())
        };
        // The call's outcome record also says what masking the result
        // masked (stage `result`; counts, never values): one record per
        // forwarded call. A result whose masking cannot be audited is withheld.
        let masked = masked.and_then(|()| {
            self.audit(&call.request, &decision, |mut e| {
                e.outcome = Some(outcome.as_str().to_string());
                e.decision_seq = call.seq;
                with_facts(e.at_stage("result"), facts.as_ref())
            })
            .map(|_| ())
        });
        match masked {
            Ok(()) => response,
            Err(message) => {
                let denied = with_message(decision, &message);
                self.outcome_with(call, Outcome::Withheld, &denied, facts.as_ref());
                let id = response.get("id").cloned().unwrap_or(Json::Null);
                rpc::error_response(&id, self.denial(&call.tool, &call.request, &denied, None))
            }
        }
    }

    /// Reports an allowed call's successful result to the result flows
    /// that look at its action (docs/mcp.md, "Facts from results"): the
    /// result's `structuredContent`, else its one text content parsed as
    /// JSON; anything else is reported as unreadable, which makes those
    /// flows unknown for their window (fail closed). `None` when no result
    /// flow looks at the action.
    fn record_result(&self, call: &Call, result: Option<&Json>) -> Option<ResultRecord> {
        if !self.engine.loaded().records_results(&call.request.action) {
            return None;
        }
        let now = self.engine.clock().now_ms();
        let record = match tool_result_json(result) {
            Ok(json) => self.engine.record_result_at(&call.request, ActionResult::Json(&json), now),
            Err(why) => self.engine.record_result_at(&call.request, ActionResult::Unreadable(&why), now),
        };
        for e in &record.errors {
            crate::stdio::log(&format!("the result of `{}` could not be recorded: {e}", call.tool));
        }
        Some(record)
    }

    fn mask_json(&self, decision: &mut Decision, value: &mut Json) -> Result<(), String> {
        let mut payload = Payload::Json(value.take());
        let outcome = self.engine.mask(decision, &mut payload, self.keys.as_ref()).map_err(|e| e.to_string());
        if let Payload::Json(v) = payload {
            *value = v;
        }
        outcome
    }

    fn mask_text(&self, decision: &mut Decision, text: &mut String) -> Result<(), String> {
        let pretty = text.contains('\n');
        let mut payload = Payload::parse(text);
        self.engine.mask(decision, &mut payload, self.keys.as_ref()).map_err(|e| e.to_string())?;
        *text = match payload {
            Payload::Json(j) if pretty => serde_json::to_string_pretty(&j).unwrap_or_default(),
            Payload::Json(j) => serde_json::to_string(&j).unwrap_or_default(),
            Payload::Text(t) => t,
        };
        Ok(())
    }

    /// Masks a `CallToolResult`: `structuredContent` as JSON, each text
    /// content (JSON when it parses as JSON) and embedded text resources;
    /// binary content cannot be inspected, so masks make it an error.
    fn mask_result(&self, decision: &mut Decision, result: &mut Json) -> Result<(), String> {
        let Some(obj) = result.as_object_mut() else { return Err("the result is not an object".to_string()) };
        if let Some(structured) = obj.get_mut("structuredContent")
            && !structured.is_null()
        {
            self.mask_json(decision, structured)?;
        }
        match obj.get_mut("content") {
            None | Some(Json::Null) => {}
            Some(Json::Array(items)) => {
                for item in items {
                    let kind = item.get("type").and_then(Json::as_str).unwrap_or("").to_string();
                    match kind.as_str() {
                        "text" => match item.get_mut("text") {
                            Some(Json::String(text)) => self.mask_text(decision, text)?,
                            _ => return Err("a text content has no text".to_string()),
                        },
                        "resource" => match item.get_mut("resource").and_then(|r| r.get_mut("text")) {
                            Some(Json::String(text)) => self.mask_text(decision, text)?,
                            _ => return Err("an embedded resource without text cannot be masked".to_string()),
                        },
                        "image" | "audio" => return Err(format!("{kind} content cannot be masked")),
                        _ => self.mask_json(decision, item)?,
                    }
                }
            }
            Some(_) => return Err("the result's `content` is not a list".to_string()),
        }
        Ok(())
    }
}

/// An outcome record with the names of the facts a result recorded (and
/// of the flows it made unknown, and why recording failed), never values.
fn with_facts(mut e: Entry, facts: Option<&ResultRecord>) -> Entry {
    if let Some(r) = facts {
        e.facts = r.facts.clone();
        e.unknown_facts = r.unreadable.iter().map(|(name, why)| format!("{name}: {why}")).collect();
        e.errors.extend(r.errors.iter().cloned());
    }
    e
}

/// A tool's result as JSON for the result flows: its `structuredContent`
/// when present, else its one text content parsed (strictly) as JSON;
/// otherwise why it cannot be read.
fn tool_result_json(result: Option<&Json>) -> Result<Json, String> {
    let Some(obj) = result.and_then(Json::as_object) else { return Err("the result is not an object".to_string()) };
    if let Some(structured) = obj.get("structuredContent").filter(|s| !s.is_null()) {
        return Ok(structured.clone());
    }
    match obj.get("content").and_then(Json::as_array).map(Vec::as_slice) {
        Some([item]) if item.get("type").and_then(Json::as_str) == Some("text") => {
            let text = item.get("text").and_then(Json::as_str).ok_or("a text content has no text")?;
            ward_runtime::json::parse(text, "result", &ward_runtime::data::Path::Root("response"))
                .map_err(|e| format!("the result's text is not JSON: {e}"))
        }
        Some(items) => Err(format!(
            "the result has no `structuredContent` and {} content items (one text item holding JSON is read)",
            items.len()
        )),
        None => Err("the result has no `structuredContent` and no `content` list".to_string()),
    }
}

/// The decision with only the masks for arguments (`context.…` paths) or
/// only the masks for results (every other path).
fn split_masks(decision: &Decision, arguments: bool) -> Decision {
    let mut d = decision.clone();
    d.masks = std::mem::take(&mut d.masks)
        .into_iter()
        .filter_map(|mut m| {
            m.paths.retain(|p| p.starts_with("context.") == arguments);
            (!m.paths.is_empty()).then_some(m)
        })
        .collect();
    d
}

/// The deny a masking failure makes of an allow. `Engine::mask` has already
/// made it one, naming the mask, when the failure was its own; otherwise
/// `message` becomes the reason.
fn with_message(mut decision: Decision, message: &str) -> Decision {
    if decision.effect != Effect::Deny {
        decision.effect = Effect::Deny;
        decision.masks.clear();
        decision.obligations.clear();
        decision.reasons = vec![ward_runtime::decision::Reason {
            rule: None,
            clause: format!("the result was withheld: {message}"),
            span: None,
            principal: None,
        }];
        decision.errors.push(ward_runtime::decision::EvalErrorOut { rule: None, message: message.to_string() });
    }
    decision
}

/// Why an approval the decision asks for cannot be had from one client's
/// user, if it cannot: more approvers than one person.
fn unobtainable(decision: &Decision) -> Option<String> {
    decision.obligations.iter().filter(|o| o.name == "require_approval").find_map(|o| {
        let count = o.args.get("count").and_then(Json::as_u64).unwrap_or(1);
        (count > 1).then(|| format!("`{}` needs {count} approvers, and the client's user is one person", o.rule))
    })
}

/// `text` cut to `max` characters.
fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}

/// `90000` → `1 min 30 s`; `3600000` → `1 h`.
fn human_duration(ms: i64) -> String {
    let s = (ms + 999) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 if s % 60 == 0 => format!("{} min", s / 60),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ if s % 3600 == 0 => format!("{} h", s / 3600),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// The state store behind `--state URL`.
fn state_store(url: &str, prefix: &str) -> Result<Arc<dyn ward_runtime::state::StateStore>, ConfigError> {
    if !url.starts_with("redis://") && !url.starts_with("rediss://") && !url.starts_with("redis+unix://") {
        return Err(ConfigError(format!(
            "--state `{url}`: give a redis:// URL (or no --state: state in this process)"
        )));
    }
    let store = ward_runtime::redis_store::RedisStore::new(url, Duration::from_secs(2), prefix)
        .map_err(|e| ConfigError(format!("--state: {e}")))?;
    Ok(Arc::new(store))
}

impl Reload for Gate {
    fn changed(&self) -> bool {
        self.watch.changed()
    }

    fn reload(&self) -> Result<String, String> {
        self.watch.reload(|| {
            let loaded = load(&self.config, Some(&self.engine.loaded())).map_err(|e| e.0)?;
            if let Some(agent) = &self.agent {
                check_agent(&loaded, &agent.principal).map_err(|e| e.0)?;
                if let Some(link) = agent.chain.iter().find(|l| !is_known(&loaded, l)) {
                    return Err(unknown_link(link));
                }
            }
            resource_annotations(loaded.program()).map_err(|e| e.0)?;
            let hash = loaded.program().source_hash.clone();
            self.engine.swap(loaded);
            let generation = self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1;
            Ok(format!("version {generation} ({hash})"))
        })
    }

    fn reloaded(&self, why: &str, result: &Result<String, String>) {
        match result {
            Ok(v) => crate::stdio::log(&format!("reloaded the policy on {why}: {v}")),
            Err(e) => crate::stdio::log(&format!("reload on {why} refused, the previous policy stays: {e}")),
        }
    }
}

/// The agent as the listing sees it.
struct Principal<'a> {
    uid: &'a EntityUid,
    /// Its store index, when the store has it.
    index: Option<u32>,
}

/// A principal scope test of a rule, for this principal: `Some(holds)` for
/// `principal == E`, `principal in E` and `principal in [E, …]`; `None` for
/// anything else (it depends on what is only known at call time).
fn principal_test(
    program: &Program,
    store: &ward_runtime::Store,
    principal: &Principal<'_>,
    rule: &ir::Rule,
    condition: &ir::Condition,
) -> Option<bool> {
    let expr = |id: u32| rule.exprs.get(id as usize).map(|e| &e.kind);
    let is_principal = |id: u32| matches!(expr(id), Some(ExprKind::Var(Var::Principal)));
    let is_literal = |k: u32| -> bool {
        let Some((t, id)) = program.entity_literals.get(k as usize) else { return false };
        program.entity_types.get(*t as usize).is_some_and(|ty| ty.name == principal.uid.ty) && *id == principal.uid.id
    };
    let within = |k: u32| -> bool {
        is_literal(k) || principal.index.and_then(|p| store.get(p)).is_some_and(|e| e.in_literal(k))
    };
    let held = match expr(condition.expr)? {
        ExprKind::Cmp { op: ir::CmpOp::Eq, lhs, rhs } if is_principal(*lhs) => match expr(*rhs)? {
            ExprKind::Const(Const::Entity(k)) => is_literal(*k),
            _ => return None,
        },
        ExprKind::In { lhs, rhs } if is_principal(*lhs) => match expr(*rhs)? {
            ExprKind::Const(Const::Entity(k)) => within(*k),
            ExprKind::Set(items) => {
                let mut any = false;
                for item in items {
                    match expr(*item)? {
                        ExprKind::Const(Const::Entity(k)) => any |= within(*k),
                        _ => return None,
                    }
                }
                any
            }
            _ => return None,
        },
        _ => return None,
    };
    Some(held == condition.when)
}

fn needs_approval(rule: &ir::Rule) -> bool {
    rule.obligations.iter().any(|o| o.name == "require_approval")
}

fn certain_forbid(
    program: &Program,
    store: &ward_runtime::Store,
    principal: &Principal<'_>,
    rule: &ir::Rule,
    can_approve: bool,
) -> bool {
    matches!(rule.kind, RuleKind::Rule { effect: ir::Effect::Forbid })
        && !rule.shadow
        && !(can_approve && needs_approval(rule))
        && rule.pinned_resource.is_none()
        && rule.conditions.iter().all(|c| principal_test(program, store, principal, rule, c) == Some(true))
}

fn possible_permit(
    program: &Program,
    store: &ward_runtime::Store,
    principal: &Principal<'_>,
    rule: &ir::Rule,
    can_approve: bool,
) -> bool {
    matches!(rule.kind, RuleKind::Rule { effect: ir::Effect::Permit })
        && !rule.shadow
        && (can_approve || !needs_approval(rule))
        && rule.conditions.iter().all(|c| principal_test(program, store, principal, rule, c) != Some(false))
}

/// Shared ownership for the transports.
pub type SharedGate = Arc<Gate>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn a_tool_result_is_read_from_structured_content_or_its_one_json_text() {
        let structured = json!({"structuredContent": {"tier": "vip"}, "content": [{"type": "text", "text": "Ann"}]});
        assert_eq!(tool_result_json(Some(&structured)), Ok(json!({"tier": "vip"})));
        let text = json!({"content": [{"type": "text", "text": "{\"tier\": \"vip\"}"}]});
        assert_eq!(tool_result_json(Some(&text)), Ok(json!({"tier": "vip"})));
        // Anything else is unreadable, and says why.
        let unreadable = |result: Json| tool_result_json(Some(&result)).unwrap_err();
        assert!(unreadable(json!({"content": [{"type": "text", "text": "tier: vip"}]})).contains("not JSON"));
        // Strictly: a duplicate key is not read as one of its values.
        let twice = json!({"content": [{"type": "text", "text": "{\"tier\": \"vip\", \"tier\": \"standard\"}"}]});
        assert!(unreadable(twice).contains("not JSON"));
        let two = json!({"content": [{"type": "text", "text": "{}"}, {"type": "text", "text": "{}"}]});
        assert!(unreadable(two).contains("2 content items"));
        assert!(unreadable(json!({"content": [{"type": "image", "data": "…"}]})).contains("1 content items"));
        assert!(unreadable(json!({})).contains("no `content`"));
        assert!(unreadable(json!("text")).contains("not an object"));
        assert!(tool_result_json(None).is_err());
    }

    #[test]
    fn tool_names_become_action_names() {
        assert_eq!(action_name("lookup_customer"), "lookup_customer");
        assert_eq!(action_name("github.create-issue"), "github_create_issue");
        assert_eq!(action_name("3d_render"), "_3d_render");
        assert_eq!(action_name("test"), "test_");
        assert_eq!(action_name(""), "_");
        assert!(is_word("customer_id") && !is_word("user-id") && !is_word("1x"));
    }

    #[test]
    fn entities_parse() {
        assert_eq!(parse_uid("Agent::\"bot\"", "Agent").unwrap(), EntityUid::new("Agent", "bot"));
        assert_eq!(parse_uid("bot", "Agent").unwrap(), EntityUid::new("Agent", "bot"));
        assert_eq!(parse_uid("McpServer::crm", "X").unwrap(), EntityUid::new("McpServer", "crm"));
        assert!(parse_uid("::x", "Agent").is_err());
        // A namespaced type: the id is what follows the last `::` (or the quoted one).
        assert_eq!(parse_uid("Tax::Agent::\"bot\"", "Agent").unwrap(), EntityUid::new("Tax::Agent", "bot"));
        assert_eq!(parse_uid("Tax::Agent::bot", "Agent").unwrap(), EntityUid::new("Tax::Agent", "bot"));
        assert_eq!(parse_uid("Agent::\"a::b\"", "Agent").unwrap(), EntityUid::new("Agent", "a::b"));
    }
}
