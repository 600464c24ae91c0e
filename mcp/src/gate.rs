//! The policy side of the gateway: how a tool call becomes a Ward request,
//! which tools `tools/list` shows, masking of arguments and results, audit.
//!
//! The mapping (docs/mcp.md says the same for policy authors):
//! - **principal**: the agent given with `--agent` (`Agent::"support_bot"`,
//!   or a bare id, which means type `Agent`);
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

use serde_json::{Map, Value as Json, json};
use ward_ir::{self as ir, Const, ExprKind, Program, RuleKind, Var};
use ward_runtime::audit::{AuditLog, Durability, Entry};
use ward_runtime::decision::Decision;
use ward_runtime::mask::{EnvKeys, Keys, StaticKeys};
use ward_runtime::masking::Payload;
use ward_runtime::{Effect, Engine, EntityUid, Request};

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
    /// The agent: `Type::"id"` or a bare id (type `Agent`).
    pub agent: String,
    /// The resource of calls whose action has no `@resource_from`: `Type::"id"`.
    pub resource: Option<String>,
    /// A JSON object of context fields added to every call (where declared).
    pub context: Option<PathBuf>,
    /// Append every decision to this audit log.
    pub audit_log: Option<PathBuf>,
    /// Tokenization keys (JSON object name → key); default: `WARD_KEY_*` variables.
    pub keys: Option<PathBuf>,
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

/// The gateway's policy state, shared by every session.
pub struct Gate {
    engine: Engine,
    principal: EntityUid,
    resource: EntityUid,
    /// Action → (resource type, argument).
    resource_from: HashMap<String, (String, String)>,
    static_context: Map<String, Json>,
    audit: Option<AuditLog>,
    keys: Box<dyn Keys>,
}

/// A call the policy allowed, waiting for the server's answer.
#[derive(Debug, Clone)]
pub struct Call {
    pub tool: String,
    pub request: Request,
    pub decision: Decision,
}

/// What to do with a `tools/call` request.
#[derive(Debug)]
pub enum Verdict {
    /// Forward the call with these params (the arguments masked where the policy says so).
    Forward { params: Json, call: Box<Call> },
    /// Answer the client with this error object; the server never sees the call.
    Refuse(Json),
}

/// Parses `Type::"id"`, `Type::id`, or a bare id (of type `default_type`).
pub fn parse_uid(text: &str, default_type: &str) -> Result<EntityUid, String> {
    let text = text.trim();
    match text.split_once("::") {
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
    serde_json::from_str(&text).map_err(|e| ConfigError(format!("{what} `{}` is not valid JSON: {e}", path.display())))
}

/// The engine, from the policy's sources or from a bundle.
fn engine(config: &GateConfig, entities: &Json) -> Result<Engine, ConfigError> {
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
            let loaded =
                bundle.loaded(entities, true).map_err(|e| ConfigError(format!("bundle `{}`: {e}", path.display())))?;
            Ok(Engine::new(loaded, Arc::new(ward_runtime::SystemClock), ward_runtime::Backend::Jit))
        }
        (None, false) => Engine::from_paths(&config.policy, entities).map_err(|e| ConfigError(e.to_string())),
        _ => Err(ConfigError("give the policy as --policy PATH… or as --bundle FILE (one of them)".into())),
    }
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
        let entities = match &config.entities {
            Some(p) => read_json(p, "entities")?,
            None => Json::Array(Vec::new()),
        };
        let engine = engine(config, &entities)?;
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
        let audit = match &config.audit_log {
            Some(p) => Some(AuditLog::open(p, Durability::EveryRecord).map_err(|e| ConfigError(e.to_string()))?),
            None => None,
        };
        let principal = parse_uid(&config.agent, "Agent").map_err(|e| ConfigError(format!("--agent: {e}")))?;
        let resource = parse_uid(config.resource.as_deref().unwrap_or("McpServer::\"default\""), "McpServer")
            .map_err(|e| ConfigError(format!("--resource: {e}")))?;
        let resource_from = resource_annotations(engine.loaded().program())?;
        Ok(Gate { engine, principal, resource, resource_from, static_context, audit, keys })
    }

    /// The engine, for embedders and tests.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn principal(&self) -> &EntityUid {
        &self.principal
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
    pub fn may_call(&self, tool: &str) -> bool {
        let loaded = self.engine.loaded();
        let program = loaded.program();
        let action = action_name(tool);
        let Some(a) = program.actions.iter().position(|x| x.name == action && !x.is_group) else { return false };
        let Some(info) = program.actions.get(a) else { return false };
        let Some(pt) = program.entity_types.iter().position(|t| t.name == self.principal.ty) else { return false };
        if info.principals.as_ref().is_some_and(|ps| !ps.contains(&(pt as u32))) {
            return false;
        }
        let principal = Principal { uid: &self.principal, index: loaded.store.find(pt as u32, &self.principal.id) };
        let resource_types: Vec<u32> =
            info.resources.clone().unwrap_or_else(|| (0..program.entity_types.len() as u32).collect());
        for rt in resource_types {
            let Some(bucket) = loaded.buckets.get(&(a as u32, pt as u32, rt)) else { continue };
            let mine = principal.index.and_then(|p| bucket.by_principal.get(&p)).into_iter().flatten();
            let general: Vec<u32> = bucket.general.iter().copied().chain(mine.copied()).collect();
            let rule = |r: &u32| program.rules.get(*r as usize);
            if general.iter().filter_map(rule).any(|r| certain_forbid(program, &loaded.store, &principal, r)) {
                continue;
            }
            let pinned = bucket.by_resource.values().flatten();
            if general
                .iter()
                .chain(pinned)
                .filter_map(rule)
                .any(|r| possible_permit(program, &loaded.store, &principal, r))
            {
                return true;
            }
        }
        false
    }

    /// Filters a `tools/list` result in place: only the tools [`Gate::may_call`] allows.
    pub fn filter_tools(&self, result: &mut Json) -> Result<(), String> {
        let Some(Json::Array(tools)) = result.get_mut("tools") else {
            return Err("the server's tools/list result has no `tools` list".to_string());
        };
        tools.retain(|t| t.get("name").and_then(Json::as_str).is_some_and(|name| self.may_call(name)));
        Ok(())
    }

    /// Decides a `tools/call` request of session `session`.
    pub fn decide_call(&self, session: &str, params: Option<&Json>) -> Verdict {
        let invalid = |m: String| Verdict::Refuse(rpc::error_object(code::INVALID_PARAMS, m, None));
        let Some(params) = params.and_then(Json::as_object) else {
            return invalid("tools/call needs params with the tool's `name`".to_string());
        };
        let Some(tool) = params.get("name").and_then(Json::as_str) else {
            return invalid("tools/call needs the tool's `name` (a string)".to_string());
        };
        let arguments = match params.get("arguments") {
            None | Some(Json::Null) => Map::new(),
            Some(Json::Object(m)) => m.clone(),
            Some(_) => return invalid(format!("the arguments of `{tool}` must be an object")),
        };
        let request = match self.request(tool, &arguments, session) {
            Ok(r) => r,
            Err(message) => {
                let decision = Decision::refused(message);
                return self.refuse(tool, None, decision);
            }
        };
        let decision = self.engine.decide(&request);
        if let Err(e) = self.audit(&request, &decision) {
            return Verdict::Refuse(rpc::error_object(code::GATEWAY, e, None));
        }
        if decision.effect != Effect::Allow {
            return self.refuse(tool, Some(&request), decision);
        }
        // Masks on `context.…` rewrite the arguments the server receives.
        let mut params = Json::Object(params.clone());
        let arg_masks = split_masks(&decision, true);
        if !arg_masks.masks.is_empty() {
            let mut payload = Payload::Json(Json::Object(arguments));
            let mut d = arg_masks;
            if let Err(e) = self.engine.mask(&mut d, &mut payload, self.keys.as_ref()) {
                let denied = with_message(d, &e.to_string());
                let _ = self.audit(&request, &denied);
                return self.refuse(tool, Some(&request), denied);
            }
            if let (Payload::Json(args), Some(obj)) = (payload, params.as_object_mut()) {
                obj.insert("arguments".into(), args);
            }
        }
        Verdict::Forward { params, call: Box::new(Call { tool: tool.to_string(), request, decision }) }
    }

    /// The Ward request for a call of `tool` with `arguments`.
    pub fn request(&self, tool: &str, arguments: &Map<String, Json>, session: &str) -> Result<Request, String> {
        let action = action_name(tool);
        let loaded = self.engine.loaded();
        let declared: Vec<String> = loaded
            .program()
            .actions
            .iter()
            .find(|a| a.name == action)
            .map(|a| a.context.iter().map(|f| f.name.clone()).collect())
            .unwrap_or_default();
        let mut context: Map<String, Json> =
            arguments.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut facts = self.static_context.clone();
        facts.insert(SESSION_FIELD.to_string(), Json::String(session.to_string()));
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
        let resource = match self.resource_from.get(&action) {
            Some((ty, arg)) => match arguments.get(arg) {
                Some(Json::String(id)) => EntityUid::new(ty.clone(), id.clone()),
                Some(Json::Number(n)) => EntityUid::new(ty.clone(), n.to_string()),
                Some(_) => return Err(format!("argument `{arg}` of `{tool}` names the resource and must be a string")),
                None => return Err(format!("argument `{arg}` of `{tool}` names the resource and is missing")),
            },
            None => self.resource.clone(),
        };
        Ok(Request::new(self.principal.clone(), action, resource)
            .with_context(Json::Object(context))
            .in_session(session.to_string()))
    }

    fn audit(&self, request: &Request, decision: &Decision) -> Result<(), String> {
        let Some(log) = &self.audit else { return Ok(()) };
        let loaded = self.engine.loaded();
        let entry = Entry::new(request, decision, &loaded.program().source_hash, self.engine.clock().now_ms());
        log.append(entry)
            .map(|_| ())
            .map_err(|e| format!("ward could not write its audit log, so nothing is forwarded: {e}"))
    }

    /// The error for a refused call; a malformed request is audited too.
    fn refuse(&self, tool: &str, request: Option<&Request>, decision: Decision) -> Verdict {
        if request.is_none() {
            let placeholder = Request::new(self.principal.clone(), action_name(tool), self.resource.clone());
            if let Err(e) = self.audit(&placeholder, &decision) {
                return Verdict::Refuse(rpc::error_object(code::GATEWAY, e, None));
            }
        }
        Verdict::Refuse(self.denial(tool, &decision))
    }

    /// A JSON-RPC error object for a decision that is not an allow: the
    /// message names the deciding rule, its `@reason` and the condition that
    /// held; `data.ward` carries the decision.
    pub fn denial(&self, tool: &str, decision: &Decision) -> Json {
        let loaded = self.engine.loaded();
        let program = loaded.program();
        let mut why = Vec::new();
        for r in &decision.reasons {
            match &r.rule {
                Some(rule) => {
                    let reason = program
                        .rules
                        .iter()
                        .find(|x| &x.id == rule)
                        .and_then(|x| x.reason.as_ref())
                        .map(|t| format!(" ({t})"))
                        .unwrap_or_default();
                    why.push(format!("rule `{rule}`{reason}: {}", r.clause));
                }
                None => why.push(r.clause.clone()),
            }
        }
        let limited: Vec<String> = decision
            .limits
            .iter()
            .filter_map(|l| l.retry_after_ms.map(|ms| format!("limit `{}` reached; retry after {ms} ms", l.rule)))
            .collect();
        why.extend(limited);
        let (code, verb) = match decision.effect {
            Effect::ApprovalRequired => (code::APPROVAL_REQUIRED, "needs a human approval"),
            _ => (code::DENIED, "denied"),
        };
        let message = format!("ward: `{tool}` {verb}: {}", why.join("; "));
        let data = json!({"ward": {
            "tool": tool,
            "action": action_name(tool),
            "effect": decision.effect.as_str(),
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
    pub fn finish_call(&self, call: &Call, mut response: Json) -> Json {
        let masks = split_masks(&call.decision, false);
        if masks.masks.is_empty() {
            return response;
        }
        let mut decision = masks;
        let outcome = if let Some(result) = response.get_mut("result") {
            self.mask_result(&mut decision, result)
        } else if let Some(error) = response.get_mut("error") {
            // An error can echo data: detectors still apply to its strings.
            self.mask_json(&mut decision, error)
        } else {
            Ok(())
        };
        match outcome {
            Ok(()) => response,
            Err(message) => {
                let denied = with_message(decision, &message);
                let _ = self.audit(&call.request, &denied);
                let id = response.get("id").cloned().unwrap_or(Json::Null);
                rpc::error_response(&id, self.denial(&call.tool, &denied))
            }
        }
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

fn certain_forbid(program: &Program, store: &ward_runtime::Store, principal: &Principal<'_>, rule: &ir::Rule) -> bool {
    matches!(rule.kind, RuleKind::Rule { effect: ir::Effect::Forbid })
        && !rule.shadow
        && !needs_approval(rule)
        && rule.pinned_resource.is_none()
        && rule.conditions.iter().all(|c| principal_test(program, store, principal, rule, c) == Some(true))
}

fn possible_permit(program: &Program, store: &ward_runtime::Store, principal: &Principal<'_>, rule: &ir::Rule) -> bool {
    matches!(rule.kind, RuleKind::Rule { effect: ir::Effect::Permit })
        && !rule.shadow
        && !needs_approval(rule)
        && rule.conditions.iter().all(|c| principal_test(program, store, principal, rule, c) != Some(false))
}

/// Shared ownership for the transports.
pub type SharedGate = Arc<Gate>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

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
    }
}
