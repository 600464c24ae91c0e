//! Cedar's schema (its JSON format, as `cedar-policy` exports it) → a Ward
//! `schema` block for Cedar's empty namespace and a `namespace` block for
//! each other one. Every reference to an entity type or an action is written
//! qualified (`Taxpreparer::Org`), which Ward resolves from anywhere; names
//! are declared unqualified inside their block.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::Report;
use crate::text::{is_ident, is_word, string};

/// What the policies' translation needs to know about the schema.
#[derive(Debug, Default)]
pub struct Names {
    /// Every action, with the types it applies to (`None`: it applies to
    /// nothing, a group only) and the groups it is in.
    pub actions: BTreeMap<String, ActionInfo>,
    /// Every entity type's attributes.
    pub entities: BTreeMap<String, BTreeMap<String, Attr>>,
    /// Every entity type's parent types (`memberOfTypes`).
    pub parents: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct Attr {
    pub optional: bool,
    /// Its Ward type, as written in the schema.
    pub ty: String,
}

#[derive(Debug, Default, Clone)]
pub struct ActionInfo {
    pub applies: Option<(Vec<String>, Vec<String>)>,
    pub groups: Vec<String>,
}

impl Names {
    /// Whether the action is declared in the Ward schema: it applies to
    /// something, or it is a group of actions that do.
    pub fn declared(&self, action: &str) -> bool {
        self.actions.get(action).is_some_and(|a| a.applies.is_some())
            || self.actions.values().any(|a| a.groups.iter().any(|g| g == action))
    }

    /// Whether an entity of type `ty` can be `in` an entity of type
    /// `target`: the same type, or a parent type, transitively.
    pub fn can_be_in(&self, ty: &str, target: &str) -> bool {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut todo = vec![ty];
        while let Some(t) = todo.pop() {
            if t == target {
                return true;
            }
            if seen.insert(t) {
                todo.extend(self.parents.get(t).into_iter().flatten().map(String::as_str));
            }
        }
        false
    }

    /// The actions `name` stands for in `action in name`: it and its members, transitively.
    pub fn members_of(&self, name: &str) -> BTreeSet<&str> {
        let mut found: BTreeSet<&str> = BTreeSet::new();
        let mut todo = vec![name];
        while let Some(group) = todo.pop() {
            if let Some((key, _)) = self.actions.get_key_value(group)
                && found.insert(key.as_str())
            {
                todo.extend(
                    self.actions.iter().filter(|(_, a)| a.groups.iter().any(|g| g == group)).map(|(n, _)| n.as_str()),
                );
            }
        }
        found
    }
}

pub struct Translated {
    pub text: String,
    pub names: Names,
}

/// The names a Cedar type may refer to, to resolve Cedar's
/// "entity or common type" references as Cedar does: a common type first,
/// then an entity type, then a built-in type.
struct Scope<'a> {
    /// The namespace being translated (`""` for Cedar's empty one).
    ns: &'a str,
    common: BTreeMap<&'a str, &'a Value>,
    /// The entity types of this namespace, unqualified.
    entities: BTreeSet<&'a str>,
    /// Every entity type of the schema, qualified.
    all: &'a BTreeSet<String>,
}

/// `name` declared in the namespace `ns`.
fn qualified(ns: &str, name: &str) -> String {
    if ns.is_empty() { name.to_string() } else { format!("{ns}::{name}") }
}

pub fn translate(json: &Value, name: &str, report: &mut Report) -> Translated {
    let mut out = format!("schema {} {{\n", if is_ident(name) { name } else { "cedar" });
    let mut names = Names::default();
    let Some(namespaces) = json.as_object() else {
        report.error("schema", "Cedar exported a schema that is not a JSON object");
        return Translated { text: out, names };
    };
    let all: BTreeSet<String> = namespaces
        .iter()
        .flat_map(|(ns, body)| {
            let types = body.get("entityTypes").and_then(Value::as_object).into_iter().flatten();
            types.map(move |(name, _)| qualified(ns, name))
        })
        .collect();
    let mut blocks = String::new();
    for (namespace, body) in namespaces {
        let Some(body) = body.as_object() else { continue };
        if namespace.is_empty() {
            namespace_items(body, "", &all, &mut out, &mut names, report);
            continue;
        }
        if !namespace.split("::").all(is_ident) || namespace.split("::").any(|part| part == "Action") {
            report.error(
                &format!("namespace {namespace}"),
                "each part of a namespace must be a Ward identifier, and none may be `Action`",
            );
            continue;
        }
        let _ = writeln!(blocks, "\nnamespace {namespace} {{");
        namespace_items(body, namespace, &all, &mut blocks, &mut names, report);
        blocks.push_str("}\n");
    }
    out.push_str("}\n");
    out.push_str(&blocks);
    Translated { text: out, names }
}

fn object<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    body.get(key).and_then(Value::as_object)
}

fn namespace_items(
    body: &Map<String, Value>,
    ns: &str,
    all: &BTreeSet<String>,
    out: &mut String,
    names: &mut Names,
    report: &mut Report,
) {
    let empty = Map::new();
    let common = object(body, "commonTypes").unwrap_or(&empty);
    let entities = object(body, "entityTypes").unwrap_or(&empty);
    let actions = object(body, "actions").unwrap_or(&empty);
    let scope = Scope {
        ns,
        common: common.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        entities: entities.keys().map(String::as_str).collect(),
        all,
    };

    for (name, ty) in common {
        let place = format!("common type {name}");
        if !is_ident(name) {
            report.error(&place, "the name is not a Ward identifier (letters, digits and `_`, not a keyword)");
            continue;
        }
        doc_comment(ty, out, &place, report);
        let ty = type_text(ty, &scope, &place, report);
        let _ = writeln!(out, "  type {name} = {ty}");
    }

    for (name, def) in entities {
        let place = format!("entity {name}");
        if !is_ident(name) {
            report.error(&place, "the name is not a Ward identifier (letters, digits and `_`, not a keyword)");
            continue;
        }
        let attributes = entity(name, def, &scope, out, &place, report);
        names.entities.insert(qualified(ns, name), attributes);
        let parents =
            def.get("memberOfTypes").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
        names.parents.insert(qualified(ns, name), parents.filter_map(|p| entity_name(p, &scope)).collect());
    }

    for (name, def) in actions {
        let place = format!("action {name}");
        if name.is_empty() {
            report.error(&place, "an action with an empty name");
            continue;
        }
        let mut text = String::new();
        let info = action(name, def, &scope, &mut text, &place, report);
        let is_group = actions.values().any(|a| member_of(a, ns).any(|g| g == qualified(ns, name)));
        if info.applies.is_none() && !is_group {
            // Cedar: no request can name it. Ward would read a bare
            // `action NAME` without members as an action of any principal
            // and resource (with no arguments), so it is not declared.
            report.note(&place, "applies to nothing and has no members: not declared (no request can name it)");
        } else {
            out.push_str(&text);
        }
        names.actions.insert(qualified(ns, name), info);
    }
}

/// The groups a Cedar action of the namespace `ns` is in, qualified: a
/// group without a type, or of type `Action`, is an action of `ns`.
fn member_of<'a>(def: &'a Value, ns: &'a str) -> impl Iterator<Item = String> + 'a {
    def.get("memberOf").and_then(Value::as_array).into_iter().flatten().filter_map(move |g| {
        let id = g.get("id")?.as_str()?;
        match g.get("type").and_then(Value::as_str) {
            None | Some("Action") => Some(qualified(ns, id)),
            Some(ty) => Some(qualified(ty.strip_suffix("::Action")?, id)),
        }
    })
}

fn entity(
    name: &str,
    def: &Value,
    scope: &Scope<'_>,
    out: &mut String,
    place: &str,
    report: &mut Report,
) -> BTreeMap<String, Attr> {
    doc_comment(def, out, place, report);
    if let Some(ids) = def.get("enum").and_then(Value::as_array) {
        let ids: Vec<String> = ids.iter().filter_map(Value::as_str).map(string).collect();
        report.note(
            place,
            format!(
                "an enumerated entity type: Ward declares it as an entity type and does not restrict its ids to {}",
                ids.join(", ")
            ),
        );
    }
    let _ = write!(out, "  entity {name}");
    let parents: Vec<&str> =
        def.get("memberOfTypes").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    if !parents.is_empty() {
        let mut listed = Vec::new();
        for parent in parents {
            match entity_name(parent, scope) {
                Some(p) => listed.push(p),
                None => report.error(place, format!("parent type `{parent}` is not an entity type of the schema")),
            }
        }
        let _ = write!(out, " in [{}]", listed.join(", "));
    }
    let mut attributes = BTreeMap::new();
    if let Some(shape) = def.get("shape") {
        match record_attributes(shape, scope, place, report) {
            Some(fields) if !fields.is_empty() => {
                for field in &fields {
                    if let Some((name, ty)) = field.split_once(": ") {
                        let optional = name.ends_with('?');
                        let attr = Attr { optional, ty: ty.to_string() };
                        attributes.insert(name.trim_end_matches('?').to_string(), attr);
                    }
                }
                let _ = write!(out, " {{\n{}  }}", fields.iter().map(|f| format!("    {f},\n")).collect::<String>());
            }
            Some(_) => {}
            None => report.error(place, "the entity's shape is not a record"),
        }
    }
    // Cedar's `tags T`: the type of every tag's value, Ward's `tags T`.
    if let Some(tags) = def.get("tags").filter(|t| !t.is_null()) {
        let ty = type_text(tags, scope, &format!("{place}, tags"), report);
        let _ = write!(out, " tags {ty}");
    }
    out.push('\n');
    attributes
}

fn action(
    name: &str,
    def: &Value,
    scope: &Scope<'_>,
    out: &mut String,
    place: &str,
    report: &mut Report,
) -> ActionInfo {
    doc_comment(def, out, place, report);
    if def.get("attributes").is_some_and(|a| a.as_object().is_some_and(|o| !o.is_empty())) {
        report.error(place, "action attributes have no Ward equivalent");
    }
    let _ = write!(out, "  action {}", crate::text::action(name));
    for g in def.get("memberOf").and_then(Value::as_array).into_iter().flatten() {
        let ty = g.get("type").and_then(Value::as_str).unwrap_or("Action");
        if ty != "Action" && !ty.ends_with("::Action") {
            report.error(place, format!("group of type `{ty}`: an action's groups are actions"));
        }
    }
    let groups: Vec<String> = member_of(def, scope.ns).collect();
    if !groups.is_empty() {
        let written: Vec<String> = groups.iter().map(|g| crate::text::action_ref(g)).collect();
        let _ = write!(out, " in [{}]", written.join(", "));
    }
    let mut info = ActionInfo { applies: None, groups };
    if let Some(applies) = def.get("appliesTo").filter(|a| !a.is_null()) {
        let types = |key: &str, report: &mut Report| -> Option<Vec<String>> {
            let list = applies.get(key)?.as_array()?;
            let mut names = Vec::new();
            for t in list.iter().filter_map(Value::as_str) {
                match entity_name(t, scope) {
                    Some(n) => names.push(n),
                    None => report.error(place, format!("`{t}` in {key} is not an entity type of the schema")),
                }
            }
            Some(names)
        };
        let principals = types("principalTypes", report);
        let resources = types("resourceTypes", report);
        if principals.as_ref().is_some_and(Vec::is_empty) || resources.as_ref().is_some_and(Vec::is_empty) {
            // Cedar: applies to no principal (or resource), so it can never be
            // requested; Ward's group without clauses means the same.
            out.push('\n');
            return info;
        }
        let every = || scope.all.iter().cloned().collect::<Vec<_>>();
        info.applies = Some((principals.clone().unwrap_or_else(every), resources.clone().unwrap_or_else(every)));
        if let Some(p) = principals {
            let _ = write!(out, " by [{}]", p.join(", "));
        }
        if let Some(r) = resources {
            let _ = write!(out, " on [{}]", r.join(", "));
        }
        if let Some(context) = applies.get("context").filter(|c| !c.is_null()) {
            match record_attributes(context, scope, place, report) {
                Some(fields) if !fields.is_empty() => {
                    let _ = write!(out, " with {{ {} }}", fields.join(", "));
                }
                Some(_) => {}
                None => report.error(place, "the action's context is not a record"),
            }
        }
    }
    out.push('\n');
    info
}

/// The fields of a record type (following common type names), written
/// `name: T` / `name?: T`; `None` when the type is not a record.
fn record_attributes(ty: &Value, scope: &Scope<'_>, place: &str, report: &mut Report) -> Option<Vec<String>> {
    record_fields(ty, scope, place, report, 0)
}

/// How many common types may name one another in a chain (Cedar refuses
/// cycles; the bound keeps the importer total whatever it is given).
const MAX_ALIAS_DEPTH: usize = 64;

fn record_fields(ty: &Value, scope: &Scope<'_>, place: &str, report: &mut Report, depth: usize) -> Option<Vec<String>> {
    let obj = ty.as_object()?;
    let kind = obj.get("type").and_then(Value::as_str)?;
    if kind != "Record" {
        // A record named through a common type: Ward entity shapes and action
        // arguments list their fields, so the alias is spelled out.
        let name = obj.get("name").and_then(Value::as_str).unwrap_or(kind);
        let definition = scope.common.get(name)?;
        if depth > MAX_ALIAS_DEPTH {
            report.error(place, format!("common type `{name}` refers to itself"));
            return None;
        }
        report.note(place, format!("common type `{name}` is spelled out where it is a shape or a context"));
        return record_fields(definition, scope, place, report, depth + 1);
    }
    if obj.get("additionalAttributes").and_then(Value::as_bool) == Some(true) {
        report.error(place, "a record with `additionalAttributes` (open records) has no Ward equivalent");
    }
    let mut fields = Vec::new();
    for (name, attr) in obj.get("attributes").and_then(Value::as_object).into_iter().flatten() {
        if !is_word(name) {
            report.error(place, format!("attribute {} is not a Ward word (letters, digits and `_`)", string(name)));
            continue;
        }
        let optional = attr.get("required").and_then(Value::as_bool) == Some(false);
        let field_place = format!("{place}, attribute {name}");
        let ty = type_text(attr, scope, &field_place, report);
        fields.push(format!("{name}{}: {ty}", if optional { "?" } else { "" }));
    }
    Some(fields)
}

/// A Cedar type as Ward type text.
fn type_text(ty: &Value, scope: &Scope<'_>, place: &str, report: &mut Report) -> String {
    let Some(obj) = ty.as_object() else {
        report.error(place, "a type that is not a JSON object");
        return "String".into();
    };
    let kind = obj.get("type").and_then(Value::as_str).unwrap_or("");
    let name = obj.get("name").and_then(Value::as_str);
    match kind {
        "String" => "String".into(),
        "Long" => "Int".into(),
        "Boolean" | "Bool" => "Bool".into(),
        "Set" => match obj.get("element") {
            Some(element) => format!("Set<{}>", type_text(element, scope, place, report)),
            None => {
                report.error(place, "a set type without `element`");
                "Set<String>".into()
            }
        },
        "Record" => match record_attributes(ty, scope, place, report) {
            Some(fields) => format!("{{ {} }}", fields.join(", ")),
            None => "{}".into(),
        },
        "Entity" => named(name.unwrap_or(""), scope, true, place, report),
        "Extension" => extension(name.unwrap_or(""), place, report),
        "EntityOrCommon" => named(name.unwrap_or(""), scope, false, place, report),
        other => named(other, scope, false, place, report),
    }
}

fn named(name: &str, scope: &Scope<'_>, entity_only: bool, place: &str, report: &mut Report) -> String {
    if !entity_only && scope.common.contains_key(name) {
        return name.to_string();
    }
    if let Some(entity) = entity_name(name, scope) {
        return entity;
    }
    let builtin = name.strip_prefix("__cedar::").unwrap_or(name);
    match builtin {
        "String" => "String".into(),
        "Long" => "Int".into(),
        "Bool" | "Boolean" => "Bool".into(),
        "ipaddr" | "decimal" | "datetime" | "duration" => extension(builtin, place, report),
        _ => {
            report.error(place, format!("type `{name}` is not declared in the schema"));
            "String".into()
        }
    }
}

/// An entity type named in the namespace being translated, qualified: its
/// own types first, then Cedar's empty namespace and qualified names.
fn entity_name(name: &str, scope: &Scope<'_>) -> Option<String> {
    if scope.entities.contains(name) {
        return Some(qualified(scope.ns, name));
    }
    scope.all.contains(name).then(|| name.to_string())
}

fn extension(name: &str, place: &str, report: &mut Report) -> String {
    match name {
        "ipaddr" => {
            if report.notes.iter().any(|n| n.message.starts_with("`ipaddr` is `Ip`")) {
                return "Ip".into();
            }
            report.note(
                place,
                "`ipaddr` is `Ip`: Ward separates addresses (`Ip`) from ranges (`Cidr`); \
                 an attribute holding ranges must be declared `Cidr` by hand",
            );
            "Ip".into()
        }
        "decimal" => "Decimal".into(),
        "datetime" => "Time".into(),
        "duration" => "Duration".into(),
        other => {
            report.error(place, format!("extension type `{other}` has no Ward equivalent"));
            "String".into()
        }
    }
}

/// Cedar's `@doc("…")` annotation becomes a `///` comment; any other
/// annotation on a declaration is reported (Ward has no place for it).
fn doc_comment(def: &Value, out: &mut String, place: &str, report: &mut Report) {
    let Some(annotations) = def.get("annotations").and_then(Value::as_object) else { return };
    let mut others = BTreeMap::new();
    for (key, value) in annotations {
        let value = value.as_str().unwrap_or("");
        if key == "doc" {
            for line in value.lines() {
                let _ = writeln!(out, "  /// {line}");
            }
        } else {
            others.insert(key.clone(), value.to_string());
        }
    }
    for (key, value) in others {
        let _ = writeln!(out, "  // Cedar annotation @{key}({})", string(&value));
        report.note(place, format!("annotation @{key} has no meaning in a Ward schema: kept as a comment"));
    }
}
