//! Cedar policies (their EST, as `cedar-policy` exports it) → a Ward
//! `policy` block: one rule per Cedar policy, in source order, each with the
//! Cedar policy's id (or its `@id` annotation) as the rule's `@id`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::schema::Names;
use crate::text::{cedar_datetime, cedar_duration, is_ident, is_word, string};
use crate::{Report, comments};

/// Binding strength of Ward's operators (docs/language.md §6.1): a printed
/// expression is parenthesised where its context binds tighter.
const OR: u8 = 1;
const AND: u8 = 2;
const CMP: u8 = 3;
const ADD: u8 = 4;
const UNARY: u8 = 5;
const POSTFIX: u8 = 6;
const ATOM: u8 = 7;

/// How deep a Cedar expression may nest. Cedar's own parser bounds it too;
/// the importer must not depend on that to stay total.
const MAX_DEPTH: usize = 20_000;

/// The policy block, and for each Cedar template its Ward id (`POLICY.ID`),
/// which links name.
pub fn translate(
    source: &str,
    policy_name: &str,
    names: &Names,
    report: &mut Report,
    templates: &mut std::collections::BTreeMap<String, String>,
) -> String {
    let mut out = String::new();
    let set = match cedar_policy::PolicySet::from_str(source) {
        Ok(set) => set,
        Err(e) => {
            report.error("policies", format!("Cedar refuses the policies: {}", crate::cedar_error(source, &e)));
            return out;
        }
    };
    let (comments, trailing) = comments::by_policy(source);
    // Static policies and templates, in source order: Cedar names a file's
    // policies `policy0`, `policy1`, … in order, templates included.
    let mut items: Vec<(String, Result<Value, String>, bool)> = set
        .policies()
        .map(|p| (p.id().to_string(), p.to_json().map_err(|e| e.to_string()), false))
        .chain(set.templates().map(|t| (t.id().to_string(), t.to_json().map_err(|e| e.to_string()), true)))
        .collect();
    items.sort_by_key(|(id, _, _)| position(id));

    let name = if is_ident(policy_name) { policy_name } else { "cedar" };
    let _ = writeln!(out, "policy {name} {{");
    let mut ids = BTreeSet::new();
    for (index, (cedar_id, json, template)) in items.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        for line in position(cedar_id).and_then(|i| comments.get(i)).into_iter().flatten() {
            let _ = writeln!(out, "  // {line}");
        }
        let json = match json {
            Ok(json) => json,
            Err(e) => {
                report.error(cedar_id, format!("Cedar could not export the policy: {e}"));
                continue;
            }
        };
        let mut rule = Rule { place: cedar_id.clone(), names, report, principals: None, resources: None };
        let (text, ward_id) = rule.policy(json, cedar_id, &mut ids, *template);
        if *template {
            // Links name a template by Cedar's id (`policy0`), or, as
            // Cedar's CLI does, by its `@id` annotation: both are known.
            templates.insert(cedar_id.clone(), format!("{name}.{ward_id}"));
            templates.insert(ward_id.clone(), format!("{name}.{ward_id}"));
        }
        out.push_str(&text);
    }
    for line in &trailing {
        let _ = writeln!(out, "  // {line}");
    }
    out.push_str("}\n");
    out
}

fn position(id: &str) -> Option<usize> {
    id.strip_prefix("policy").and_then(|n| n.parse().ok())
}

/// A printed expression and how tightly it binds.
struct Printed {
    text: String,
    prec: u8,
}

impl Printed {
    fn new(text: String, prec: u8) -> Printed {
        Printed { text, prec }
    }

    /// The text, parenthesised unless it binds at least as tightly as `min`.
    fn at(&self, min: u8) -> String {
        if self.prec >= min { self.text.clone() } else { format!("({})", self.text) }
    }
}

struct Rule<'a> {
    place: String,
    names: &'a Names,
    report: &'a mut Report,
    /// The entity types `principal` and `resource` may have in this rule,
    /// from its scope and the actions it matches (`None`: not known).
    principals: Option<BTreeSet<String>>,
    resources: Option<BTreeSet<String>>,
}

impl Rule<'_> {
    fn error(&mut self, message: impl Into<String>) -> Printed {
        let place = self.place.clone();
        self.report.error(&place, message);
        Printed::new("false".into(), ATOM)
    }

    fn note(&mut self, message: impl Into<String>) {
        let place = self.place.clone();
        self.report.note(&place, message);
    }

    /// The rule's text and its Ward id.
    fn policy(&mut self, json: &Value, cedar_id: &str, ids: &mut BTreeSet<String>, template: bool) -> (String, String) {
        let mut out = String::new();
        let annotations = json.get("annotations").and_then(Value::as_object);
        let id = match annotations.and_then(|a| a.get("id")).and_then(Value::as_str) {
            Some(id) if valid_id(id) && !ids.contains(id) => id.to_string(),
            Some(id) => {
                self.note(format!(
                    "@id({}) is not a valid or unique Ward rule id (letters, digits, `-`, `_`): the rule is `{cedar_id}`",
                    string(id)
                ));
                cedar_id.to_string()
            }
            None => cedar_id.to_string(),
        };
        ids.insert(id.clone());
        for (key, value) in annotations.into_iter().flatten() {
            let value = value.as_str().unwrap_or("");
            match key.as_str() {
                "id" => {}
                "reason" => {
                    let _ = writeln!(out, "  @reason({})", string(value));
                }
                _ => {
                    let _ = writeln!(out, "  // Cedar annotation @{key}({})", string(value));
                    self.note(format!("annotation @{key} has no meaning in Ward: kept as a comment"));
                }
            }
        }
        let _ = writeln!(out, "  @id({})", string(&id));
        if template {
            out.push_str("  @template\n");
        }
        let effect = match json.get("effect").and_then(Value::as_str) {
            Some("permit") => "permit",
            Some("forbid") => "forbid",
            other => {
                self.error(format!("unknown effect {other:?}"));
                "forbid"
            }
        };
        if !self.scope_types(json) {
            self.note("no action of the scope takes its principal and resource types: the policy never applies (in Cedar either); kept as a comment");
            let mut rule = std::mem::take(&mut out);
            self.rule_text(json, effect, &mut rule);
            for line in rule.lines() {
                let _ = writeln!(out, "  // {}", line.trim_start());
            }
            return (out, id);
        }
        out.push_str("  ");
        self.rule_text(json, effect, &mut out);
        (out, id)
    }

    /// The rule after its annotations: effect, scope and conditions.
    fn rule_text(&mut self, json: &Value, effect: &str, out: &mut String) {
        out.push_str(effect);
        let mut scope = Vec::new();
        if let Some(p) = self.entity_scope("principal", json.get("principal")) {
            scope.push(p);
        }
        if let Some(a) = self.action_scope(json.get("action")) {
            scope.push(a);
        }
        if let Some(r) = self.entity_scope("resource", json.get("resource")) {
            scope.push(r);
        }
        if !scope.is_empty() {
            out.push(' ');
            out.push_str(&scope.join(", "));
        }
        for condition in json.get("conditions").and_then(Value::as_array).into_iter().flatten() {
            let kind = match condition.get("kind").and_then(Value::as_str) {
                Some("when") => "when",
                Some("unless") => "unless",
                other => {
                    self.error(format!("unknown condition kind {other:?}"));
                    continue;
                }
            };
            let body = match condition.get("body") {
                Some(b) => self.expr(b, true, 0),
                None => self.error("a condition without a body"),
            };
            let _ = write!(out, "\n    {kind} {}", body.text);
        }
        out.push('\n');
    }

    /// The types the rule's `principal` and `resource` may have: Cedar types
    /// each request against its action's `appliesTo`, so a rule's variables
    /// range over the types of the actions its scope matches.
    ///
    /// Returns `false` when no action of the scope takes the scope's
    /// principal and resource: Cedar then has no request the policy could
    /// apply to (its validator calls it impossible), and Ward, which types
    /// the conditions against the actions the scope fits, would refuse them.
    fn scope_types(&mut self, json: &Value) -> bool {
        let names = self.names;
        let action = json.get("action");
        let op = action.and_then(|a| a.get("op")).and_then(Value::as_str);
        let listed: Option<Vec<String>> = match op {
            Some("==") => action.and_then(|a| a.get("entity")).and_then(action_id).map(|id| vec![id]),
            Some("in") => match action.and_then(|a| a.get("entities")).and_then(Value::as_array) {
                Some(list) => Some(list.iter().filter_map(action_id).collect()),
                None => action.and_then(|a| a.get("entity")).and_then(action_id).map(|id| vec![id]),
            },
            _ => None,
        };
        let matched: BTreeSet<&str> = match (&listed, op) {
            (Some(ids), Some("in")) => ids.iter().flat_map(|id| names.members_of(id)).collect(),
            (Some(ids), _) => ids.iter().map(String::as_str).collect(),
            (None, _) => names.actions.keys().map(String::as_str).collect(),
        };
        // The types a scope constraint lets through, of those an action allows.
        let fits = |var: &str, types: &[String]| -> BTreeSet<String> {
            let constraint = json.get(var);
            let c_op = constraint.and_then(|c| c.get("op")).and_then(Value::as_str);
            fn entity_type(c: Option<&Value>) -> Option<&str> {
                c.and_then(|c| c.get("entity"))
                    .map(|e| e.get("__entity").unwrap_or(e))
                    .and_then(|e| e.get("type"))
                    .and_then(Value::as_str)
            }
            types
                .iter()
                .filter(|t| match c_op {
                    Some("==") => entity_type(constraint).is_none_or(|e| e == t.as_str()),
                    Some("in") => entity_type(constraint).is_none_or(|e| names.can_be_in(t, e)),
                    Some("is") => {
                        let is = constraint.and_then(|c| c.get("entity_type")).and_then(Value::as_str);
                        let inner = constraint.and_then(|c| c.get("in"));
                        is.is_none_or(|is| is == t.as_str()) && entity_type(inner).is_none_or(|e| names.can_be_in(t, e))
                    }
                    _ => true,
                })
                .cloned()
                .collect()
        };
        let mut principals = BTreeSet::new();
        let mut resources = BTreeSet::new();
        for a in &matched {
            if let Some((p, r)) = names.actions.get(*a).and_then(|a| a.applies.as_ref()) {
                let (p, r) = (fits("principal", p), fits("resource", r));
                if !p.is_empty() && !r.is_empty() {
                    principals.extend(p);
                    resources.extend(r);
                }
            }
        }
        let possible = !principals.is_empty();
        self.principals = Some(principals);
        self.resources = Some(resources);
        possible
    }

    /// The types `var` may have in this rule, if it is `principal` or `resource`.
    fn var_types(&self, e: &Value) -> Option<(&'static str, &BTreeSet<String>)> {
        match e.get("Var").and_then(Value::as_str)? {
            "principal" => Some(("principal", self.principals.as_ref()?)),
            "resource" => Some(("resource", self.resources.as_ref()?)),
            _ => None,
        }
    }

    /// The entity types an expression may have, with how to show it: an
    /// entity literal, `principal` or `resource`, or an entity-typed
    /// attribute of one of them (`principal.owner`); `None` when not known.
    fn entity_types(&self, e: &Value) -> Option<(String, BTreeSet<String>)> {
        if let Some(t) =
            e.get("Value").and_then(|v| v.get("__entity")).and_then(|e| e.get("type")).and_then(Value::as_str)
        {
            return Some((format!("{t}::…"), BTreeSet::from([t.to_string()])));
        }
        if let Some((var, types)) = self.var_types(e) {
            return Some((var.to_string(), types.clone()));
        }
        let access = e.get(".")?;
        let attr = access.get("attr")?.as_str()?;
        let (var, types) = self.var_types(access.get("left")?)?;
        let mut found = BTreeSet::new();
        for t in types {
            let ty = &self.names.entities.get(t)?.get(attr)?.ty;
            if !self.names.entities.contains_key(ty) {
                return None;
            }
            found.insert(ty.clone());
        }
        Some((format!("{var}.{attr}"), found))
    }

    /// `var is T` or `var in T::"…"` that no type `var` may have satisfies:
    /// `false` in Cedar, and an error in Ward's checker (a test that is
    /// always false is usually a mistake), so it is written `false`.
    fn impossible(&mut self, left: &Value, test: &str, holds: impl Fn(&Names, &str) -> bool) -> Option<Printed> {
        let (var, types) = self.entity_types(left)?;
        if types.iter().any(|t| holds(self.names, t)) {
            return None;
        }
        let listed: Vec<&str> = types.iter().map(String::as_str).collect();
        let message = format!(
            "`{var} {test}` is always false (`{var}` is {} here): written `false`",
            if listed.is_empty() { "of no type".to_string() } else { listed.join(" or ") }
        );
        self.note(message);
        Some(Printed::new("false".into(), ATOM))
    }

    /// `var has attr` where `var` may be of several types and only one has
    /// the attribute: Ward's checker refuses reading an attribute some of the
    /// possible types lack, so the type test is hoisted (`var is T && …`),
    /// which narrows `var` for what follows, as Cedar's validator does.
    fn hoisted_has(&mut self, left: &Value, attr: &str) -> Option<Printed> {
        let var = left.get("Var").and_then(Value::as_str)?;
        let types = match var {
            "principal" => self.principals.as_ref()?,
            "resource" => self.resources.as_ref()?,
            _ => return None,
        };
        let having: Vec<(&String, bool)> = types
            .iter()
            .filter_map(|t| self.names.entities.get(t).and_then(|attrs| attrs.get(attr)).map(|a| (t, a.optional)))
            .collect();
        if having.len() == types.len() || having.is_empty() {
            return None;
        }
        let [(ty, optional)] = having.as_slice() else {
            let var = var.to_string();
            let message = format!(
                "`{var} has {attr}`: {var} may be of several types and more than one has `{attr}`; \
                 Ward needs the type tested first (`{var} is T && …`), to be written by hand"
            );
            self.note(message);
            return None;
        };
        let (ty, optional) = ((*ty).clone(), *optional);
        let written = if optional { format!("{var} is {ty} && {var} has {attr}") } else { format!("{var} is {ty}") };
        self.note(format!(
            "`{var} has {attr}` written `{written}`: of the types `{var}` may have, only `{ty}` has `{attr}`"
        ));
        Some(if optional {
            Printed::new(format!("{var} is {ty} && {var} has {attr}"), AND)
        } else {
            Printed::new(format!("{var} is {ty}"), CMP)
        })
    }

    /// `principal …` / `resource …` scope constraints.
    fn entity_scope(&mut self, var: &str, constraint: Option<&Value>) -> Option<String> {
        let constraint = constraint?;
        let op = constraint.get("op").and_then(Value::as_str)?;
        let target = |rule: &mut Self, c: &Value| -> String {
            if let Some(slot) = c.get("slot").and_then(Value::as_str) {
                return match slot {
                    "?principal" | "?resource" => slot.to_string(),
                    other => rule.error(format!("slot `{other}` has no Ward equivalent")).text,
                };
            }
            match c.get("entity") {
                Some(e) => rule.entity(e).text,
                None => rule.error(format!("the {var} constraint names no entity")).text,
            }
        };
        match op {
            "All" => None,
            "==" => Some(format!("{var} == {}", target(self, constraint))),
            "in" => Some(format!("{var} in {}", target(self, constraint))),
            "is" => {
                let ty = constraint.get("entity_type").and_then(Value::as_str).unwrap_or("");
                let ty = self.entity_type(ty);
                match constraint.get("in") {
                    Some(inner) => Some(format!("{var}: {ty} in {}", target(self, inner))),
                    None => Some(format!("{var}: {ty}")),
                }
            }
            other => Some(self.error(format!("unknown {var} constraint `{other}`")).text),
        }
    }

    fn action_scope(&mut self, constraint: Option<&Value>) -> Option<String> {
        let constraint = constraint?;
        match constraint.get("op").and_then(Value::as_str)? {
            "All" => None,
            "==" => {
                let name = self.action_name(constraint.get("entity"));
                Some(format!("action == {name}"))
            }
            "in" => {
                if let Some(list) = constraint.get("entities").and_then(Value::as_array) {
                    // An action that applies to nothing is not declared (and
                    // matches no request): it is left out of the list.
                    let declared: Vec<&Value> =
                        list.iter().filter(|e| action_id(e).is_none_or(|id| self.names.declared(&id))).collect();
                    if declared.len() < list.len() {
                        self.note("actions that apply to nothing are left out of the scope's list");
                    }
                    let names: Vec<String> = declared.iter().map(|e| self.action_name(Some(e))).collect();
                    Some(format!("action in [{}]", names.join(", ")))
                } else {
                    let name = self.action_name(constraint.get("entity"));
                    Some(format!("action in {name}"))
                }
            }
            other => Some(self.error(format!("unknown action constraint `{other}`")).text),
        }
    }

    fn action_name(&mut self, entity: Option<&Value>) -> String {
        let entity = entity.map(|e| e.get("__entity").unwrap_or(e));
        let ty = entity.and_then(|e| e.get("type")).and_then(Value::as_str).unwrap_or("");
        let id = entity.and_then(|e| e.get("id")).and_then(Value::as_str).unwrap_or("");
        let name = match ty.strip_suffix("::Action") {
            _ if ty == "Action" => id.to_string(),
            Some(ns) => format!("{ns}::{id}"),
            None => return self.error(format!("`{ty}::{}` is not an action", string(id))).text,
        };
        if !self.names.actions.contains_key(&name) {
            self.note(format!("action `{name}` is not declared in the schema"));
        }
        crate::text::action_ref(&name)
    }

    fn entity_type(&mut self, ty: &str) -> String {
        if !ty.split("::").all(is_ident) {
            return self.error(format!("entity type `{ty}` is not a Ward identifier")).text;
        }
        ty.to_string()
    }

    /// An entity reference (`{"type", "id"}` or `{"__entity": …}`).
    fn entity(&mut self, e: &Value) -> Printed {
        let e = e.get("__entity").unwrap_or(e);
        let (Some(ty), Some(id)) = (e.get("type").and_then(Value::as_str), e.get("id").and_then(Value::as_str)) else {
            return self.error("an entity reference without `type` and `id`");
        };
        if ty == "Action" {
            return Printed::new(self.action_name(Some(e)), ATOM);
        }
        let ty = self.entity_type(ty);
        Printed::new(format!("{ty}::{}", string(id)), ATOM)
    }

    fn expr(&mut self, e: &Value, boolean: bool, depth: usize) -> Printed {
        if depth > MAX_DEPTH {
            return self.error(format!("the expression nests deeper than {MAX_DEPTH}"));
        }
        let depth = depth + 1;
        let Some((op, arg)) = e.as_object().and_then(|o| o.iter().next()) else {
            return self.error("an expression that is not a one-key JSON object");
        };
        match op.as_str() {
            "Value" => self.value(arg, depth),
            "Var" => match arg.as_str() {
                Some(v @ ("principal" | "action" | "resource" | "context")) => Printed::new(v.to_string(), ATOM),
                other => self.error(format!("unknown variable {other:?}")),
            },
            "Slot" => self.error(format!("slot {arg} in a condition: Ward's slots are in scopes only (as Cedar's)")),
            "Unknown" => self.error("a partial-evaluation unknown cannot be imported"),
            "!" => {
                let inner = self.operand(arg, "arg", true, depth);
                Printed::new(format!("!{}", inner.at(UNARY)), UNARY)
            }
            "neg" => {
                let inner = self.operand(arg, "arg", false, depth);
                Printed::new(format!("-{}", inner.at(UNARY)), UNARY)
            }
            "&&" | "||" => {
                let prec = if op == "&&" { AND } else { OR };
                let (l, r) = self.binary(arg, true, depth);
                Printed::new(format!("{} {op} {}", l.at(prec), r.at(prec + 1)), prec)
            }
            "in" if arg.get("left").is_some() => {
                let targets = arg.get("right").and_then(|r| self.entity_types(r));
                if let (Some(left), Some((shown, targets))) = (arg.get("left"), targets)
                    && let Some(f) = self.impossible(left, &format!("in {shown}"), |n, t| {
                        targets.iter().any(|target| n.can_be_in(t, target))
                    })
                {
                    return f;
                }
                let (l, r) = self.binary(arg, false, depth);
                Printed::new(format!("{} in {}", l.at(ADD), r.at(ADD)), CMP)
            }
            "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" => {
                let (l, r) = self.binary(arg, false, depth);
                Printed::new(format!("{} {op} {}", l.at(ADD), r.at(ADD)), CMP)
            }
            "+" | "-" => {
                let (l, r) = self.binary(arg, false, depth);
                Printed::new(format!("{} {op} {}", l.at(ADD), r.at(UNARY)), ADD)
            }
            "*" => self.error("multiplication (`*`) has no Ward equivalent"),
            "contains" | "containsAll" | "containsAny" => {
                let method = match op.as_str() {
                    "contains" => "contains",
                    "containsAll" => "contains_all",
                    _ => "contains_any",
                };
                let (l, r) = self.binary(arg, false, depth);
                Printed::new(format!("{}.{method}({})", l.at(POSTFIX), r.text), POSTFIX)
            }
            "isEmpty" => {
                let inner = self.operand(arg, "arg", false, depth);
                Printed::new(format!("{}.is_empty()", inner.at(POSTFIX)), POSTFIX)
            }
            "getTag" | "hasTag" => {
                // `e.hasTag(k)` / `e.getTag(k)`: Ward's `has_tag` / `get_tag`
                // (Cedar's validator requires the same `hasTag` guard that
                // Ward's checker does before `get_tag`).
                let method = if op == "hasTag" { "has_tag" } else { "get_tag" };
                let (l, r) = self.binary(arg, false, depth);
                Printed::new(format!("{}.{method}({})", l.at(POSTFIX), r.text), POSTFIX)
            }
            "." => {
                let left = self.operand(arg, "left", false, depth);
                let attr = arg.get("attr").and_then(Value::as_str).unwrap_or("");
                if is_word(attr) {
                    Printed::new(format!("{}.{attr}", left.at(POSTFIX)), POSTFIX)
                } else {
                    Printed::new(format!("{}[{}]", left.at(POSTFIX), string(attr)), POSTFIX)
                }
            }
            "has" => {
                let left = self.operand(arg, "left", false, depth);
                let attr = arg.get("attr").and_then(Value::as_str).unwrap_or("");
                if !is_word(attr) {
                    return self.error(format!("`has {}`: Ward's `has` names words only", string(attr)));
                }
                if let Some(hoisted) = arg.get("left").and_then(|l| self.hoisted_has(l, attr)) {
                    return hoisted;
                }
                Printed::new(format!("{} has {attr}", left.at(ADD)), CMP)
            }
            "like" => {
                let left = self.operand(arg, "left", false, depth);
                let Some(pattern) = self.glob(arg.get("pattern")) else {
                    return Printed::new("false".into(), ATOM);
                };
                Printed::new(format!("{} like {}", left.at(ADD), string(&pattern)), CMP)
            }
            "is" => {
                let ty = arg.get("entity_type").and_then(Value::as_str).unwrap_or("");
                if arg.get("in").is_none()
                    && let Some(left) = arg.get("left")
                    && let Some(f) = self.impossible(left, &format!("is {ty}"), |_, t| t == ty)
                {
                    return f;
                }
                let left = self.operand(arg, "left", false, depth);
                let ty = self.entity_type(ty);
                match arg.get("in") {
                    Some(inner) => {
                        let inner = self.expr(inner, false, depth);
                        Printed::new(format!("{} is {ty} in {}", left.at(ADD), inner.at(ADD)), CMP)
                    }
                    None => Printed::new(format!("{} is {ty}", left.at(ADD)), CMP),
                }
            }
            "if-then-else" => self.conditional(arg, boolean, depth),
            "Set" => {
                let items: Vec<String> =
                    arg.as_array().into_iter().flatten().map(|x| self.expr(x, false, depth).text).collect();
                Printed::new(format!("[{}]", items.join(", ")), ATOM)
            }
            "Record" => {
                let mut fields = Vec::new();
                for (k, v) in arg.as_object().into_iter().flatten() {
                    let v = self.expr(v, false, depth).text;
                    fields.push(format!("{}: {v}", if is_word(k) { k.clone() } else { string(k) }));
                }
                Printed::new(format!("{{ {} }}", fields.join(", ")), ATOM)
            }
            name => self.call(name, arg, depth),
        }
    }

    fn operand(&mut self, arg: &Value, key: &str, boolean: bool, depth: usize) -> Printed {
        match arg.get(key) {
            Some(e) => self.expr(e, boolean, depth),
            None => self.error(format!("an operator without `{key}`")),
        }
    }

    fn binary(&mut self, arg: &Value, boolean: bool, depth: usize) -> (Printed, Printed) {
        (self.operand(arg, "left", boolean, depth), self.operand(arg, "right", boolean, depth))
    }

    /// `if c then a else b`. Ward has no conditional expression; over
    /// booleans it is `(c && a) || (!c && b)` (the same value, and an error
    /// in `c` is an error either way), written shorter where `a` or `b` is
    /// a constant.
    fn conditional(&mut self, arg: &Value, boolean: bool, depth: usize) -> Printed {
        if !boolean {
            return self.error(
                "`if … then … else` outside a condition (its value is not a boolean): Ward has no conditional expression",
            );
        }
        let c = self.operand(arg, "if", true, depth);
        let then = arg.get("then").and_then(|t| t.get("Value")).and_then(Value::as_bool);
        let otherwise = arg.get("else").and_then(|t| t.get("Value")).and_then(Value::as_bool);
        let a = self.operand(arg, "then", true, depth);
        let b = self.operand(arg, "else", true, depth);
        self.note("`if … then … else` rewritten with `&&` and `||`");
        match (then, otherwise) {
            (_, Some(false)) => Printed::new(format!("{} && {}", c.at(AND), a.at(CMP)), AND),
            (Some(true), _) => Printed::new(format!("{} || {}", c.at(OR), b.at(AND)), OR),
            (Some(false), _) => Printed::new(format!("!{} && {}", c.at(UNARY), b.at(CMP)), AND),
            (_, Some(true)) => Printed::new(format!("!{} || {}", c.at(UNARY), a.at(AND)), OR),
            _ => Printed::new(format!("({} && {}) || (!{} && {})", c.at(AND), a.at(CMP), c.at(UNARY), b.at(CMP)), OR),
        }
    }

    /// A `like` pattern as a Ward glob. A literal `*` cannot be written in a
    /// Ward glob, so a pattern with one is refused.
    fn glob(&mut self, pattern: Option<&Value>) -> Option<String> {
        let mut glob = String::new();
        for element in pattern.and_then(Value::as_array).into_iter().flatten() {
            if element.as_str() == Some("Wildcard") || element.get("Wildcard").is_some() {
                glob.push('*');
            } else if let Some(text) = element.get("Literal").and_then(Value::as_str) {
                if text.contains('*') {
                    self.error("`like` with an escaped `\\*`: a Ward glob cannot match a literal `*`");
                    return None;
                }
                glob.push_str(text);
            } else {
                self.error("a `like` pattern element Ward does not know");
                return None;
            }
        }
        Some(glob)
    }

    /// An extension function or method call (`{"ip": [arg]}`, `{"isInRange": [a, b]}`).
    fn call(&mut self, name: &str, arg: &Value, depth: usize) -> Printed {
        let args: Vec<&Value> = arg.as_array().into_iter().flatten().collect();
        let literal = |i: usize| args.get(i).and_then(|a| a.get("Value")).and_then(Value::as_str);
        let printed = |rule: &mut Self, i: usize| match args.get(i) {
            Some(a) => rule.expr(a, false, depth),
            None => rule.error(format!("`{name}` without its argument")),
        };
        match (name, args.len()) {
            ("ip", 1) => match literal(0) {
                Some(s) if s.contains('/') => {
                    self.note(format!("ip({}) is a range: written cidr(…)", string(s)));
                    Printed::new(format!("cidr({})", string(s)), ATOM)
                }
                Some(s) => Printed::new(format!("ip({})", string(s)), ATOM),
                None => self.error("ip(…) of a value that is not a string literal: Ward builds IPs from literals"),
            },
            ("decimal", 1) => match literal(0) {
                Some(s) => Printed::new(format!("decimal({})", string(s)), ATOM),
                None => self.error("decimal(…) of a value that is not a string literal"),
            },
            ("datetime", 1) => match literal(0).and_then(cedar_datetime) {
                Some(s) => Printed::new(format!("time({})", string(&s)), ATOM),
                None => self.error("datetime(…) of a value that is not a datetime literal"),
            },
            ("duration", 1) => match literal(0).and_then(cedar_duration) {
                Some(s) => Printed::new(format!("duration({})", string(&s)), ATOM),
                None => self.error("duration(…) of a value that is not a non-negative duration literal"),
            },
            ("lessThan" | "lessThanOrEqual" | "greaterThan" | "greaterThanOrEqual", 2) => {
                let op = match name {
                    "lessThan" => "<",
                    "lessThanOrEqual" => "<=",
                    "greaterThan" => ">",
                    _ => ">=",
                };
                let (l, r) = (printed(self, 0), printed(self, 1));
                Printed::new(format!("{} {op} {}", l.at(ADD), r.at(ADD)), CMP)
            }
            ("isInRange", 2) => {
                let (l, r) = (printed(self, 0), printed(self, 1));
                Printed::new(format!("{} in {}", l.at(ADD), r.at(ADD)), CMP)
            }
            ("isLoopback" | "isIpv4" | "isIpv6", 1) => {
                let method = match name {
                    "isLoopback" => "is_loopback",
                    "isIpv4" => "is_ipv4",
                    _ => "is_ipv6",
                };
                let l = printed(self, 0);
                Printed::new(format!("{}.{method}()", l.at(POSTFIX)), POSTFIX)
            }
            ("offset", 2) => {
                let (l, r) = (printed(self, 0), printed(self, 1));
                Printed::new(format!("{} + {}", l.at(ADD), r.at(UNARY)), ADD)
            }
            ("durationSince", 2) => {
                let (l, r) = (printed(self, 0), printed(self, 1));
                Printed::new(format!("{} - {}", l.at(ADD), r.at(UNARY)), ADD)
            }
            _ => self.error(format!("`{name}` ({} argument(s)) has no Ward equivalent", args.len())),
        }
    }

    /// A literal value in Cedar's JSON value form.
    fn value(&mut self, v: &Value, depth: usize) -> Printed {
        if depth > MAX_DEPTH {
            return self.error(format!("the value nests deeper than {MAX_DEPTH}"));
        }
        match v {
            Value::Bool(b) => Printed::new(b.to_string(), ATOM),
            Value::Number(n) => match n.as_i64() {
                Some(i) if i < 0 => match i.checked_neg() {
                    Some(pos) => Printed::new(format!("-{pos}"), UNARY),
                    None => self.error(
                        "the integer -9223372036854775808 cannot be written in Ward (write it as an expression)",
                    ),
                },
                Some(i) => Printed::new(i.to_string(), ATOM),
                None => self.error(format!("the number {n} is not a 64-bit integer")),
            },
            Value::String(s) => Printed::new(string(s), ATOM),
            Value::Array(items) => {
                let items: Vec<String> = items.iter().map(|x| self.value(x, depth + 1).text).collect();
                Printed::new(format!("[{}]", items.join(", ")), ATOM)
            }
            Value::Object(o) => self.object_value(o, depth),
            Value::Null => self.error("null is not a Cedar value"),
        }
    }

    fn object_value(&mut self, o: &Map<String, Value>, depth: usize) -> Printed {
        if let Some(e) = o.get("__entity") {
            return self.entity(e);
        }
        if let Some(x) = o.get("__extn") {
            let name = x.get("fn").and_then(Value::as_str).unwrap_or("");
            let arg = x.get("arg").cloned().unwrap_or(Value::Null);
            return self.call(name, &Value::Array(vec![serde_json::json!({ "Value": arg })]), depth);
        }
        let mut fields = Vec::new();
        for (k, v) in o {
            let v = self.value(v, depth + 1).text;
            fields.push(format!("{}: {v}", if is_word(k) { k.clone() } else { string(k) }));
        }
        Printed::new(format!("{{ {} }}", fields.join(", ")), ATOM)
    }
}

/// The full name of the action an entity reference names: `Action::"a"`
/// is `a`, `Ns::Action::"a"` is `Ns::a`.
fn action_id(entity: &Value) -> Option<String> {
    let entity = entity.get("__entity").unwrap_or(entity);
    let id = entity.get("id").and_then(Value::as_str)?;
    match entity.get("type").and_then(Value::as_str) {
        Some("Action") | None => Some(id.to_string()),
        Some(ty) => Some(format!("{}::{id}", ty.strip_suffix("::Action")?)),
    }
}

/// A Ward rule id: letters, digits, `-` and `_`.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
