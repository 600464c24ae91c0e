//! Template links: the data that turns a `@template` rule into rules.
//!
//! A template (`@template permit principal == ?principal, resource in
//! ?resource …`) is compiled once, like any rule, without its slot tests.
//! Its links are data — Cedar's template-linked policy format:
//!
//! ```json
//! [{"template_id": "sharing.share", "new_id": "alice-folder1",
//!   "values": {"?principal": {"type": "User", "id": "alice"},
//!              "?resource": "Folder::\"f1\""}}]
//! ```
//!
//! [`Links`] checks them against the program (the template exists, every
//! slot is filled and no other, each value's type fits its slot, ids are
//! unique and no rule's). [`LinkIndex`] resolves them against one entity
//! store: a hash map from each slot value to the links holding it, so that
//! a request looks up only its own principal and resource (and, for `in`
//! slots, their ancestors) — links that do not match it cost nothing.
//! Linked rules are reported as `TEMPLATE_ID[LINK_ID]`.

use std::sync::Arc;

use serde_json::Value as Json;
use ward_ir::{Program, SlotVar};

use crate::data::{self, DataError, Path};
use crate::hash::FxHashMap;
use crate::request::{Frame, LOCAL_ENTITY};
use crate::store::Store;

/// The most links a program may be given (docs/language.md §5.6): enough
/// for a link per user and shared object in a large deployment, and a
/// bound on the memory and load time a links file can drive.
pub const MAX_LINKS: usize = 1_000_000;

/// The template of a linked rule id (`sharing.share` of `sharing.share[alice-f1]`),
/// or the id itself: rule ids never hold `[`.
pub fn template_of(rule_id: &str) -> &str {
    rule_id.strip_suffix(']').and_then(|x| x.split_once('[')).map_or(rule_id, |(template, _)| template)
}

/// One link: a template and the entities its slots are filled with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The link's own id (`new_id`).
    pub id: String,
    /// The template: an index into [`Program::rules`].
    pub template: u32,
    /// `(entity type, id)` of `?principal`, when the template has it.
    pub principal: Option<(u32, Box<str>)>,
    /// `(entity type, id)` of `?resource`, when the template has it.
    pub resource: Option<(u32, Box<str>)>,
    /// `TEMPLATE_ID[LINK_ID]`: the id the linked rule is reported under.
    pub rule_id: String,
    /// The slot values as explanations show them:
    /// `?principal = User::"alice", ?resource = Folder::"f1"`.
    pub values_text: String,
}

impl Link {
    /// The slot values, as shown in explanations: `?principal = User::"alice"`.
    pub fn describe(&self, program: &Program) -> String {
        let uid = |(t, id): &(u32, Box<str>)| {
            let ty = program.entity_types.get(*t as usize).map_or("?", |e| e.name.as_str());
            format!("{ty}::{id:?}")
        };
        let mut parts = Vec::new();
        if let Some(p) = &self.principal {
            parts.push(format!("?principal = {}", uid(p)));
        }
        if let Some(r) = &self.resource {
            parts.push(format!("?resource = {}", uid(r)));
        }
        parts.join(", ")
    }
}

/// Links checked against a program (but not yet against entities).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    pub links: Vec<Link>,
}

impl Links {
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Reads a links file's text strictly ([`crate::json`]: no key twice).
    pub fn parse(program: &Program, text: &str) -> Result<Links, DataError> {
        let json = crate::json::parse(text, "links", &Path::Root("links"))?;
        Links::from_json(program, &json)
    }

    /// Checks links in Cedar's template-linked format: an array of
    /// `{"template_id", "new_id", "values": {"?principal": E, "?resource": E}}`,
    /// each `E` an entity reference in any form Cedar accepts.
    pub fn from_json(program: &Program, json: &Json) -> Result<Links, DataError> {
        let list = json
            .as_array()
            .ok_or_else(|| data::error("links", format!("expected an array of links, found {}", data::kind(json))))?;
        if list.len() > MAX_LINKS {
            return Err(data::error(
                "links",
                format!("{} links, more than the limit of {MAX_LINKS}; split the policy set", list.len()),
            ));
        }
        let mut templates: FxHashMap<&str, u32> = FxHashMap::default();
        for (i, rule) in program.rules.iter().enumerate() {
            if rule.template.is_some() {
                templates.insert(rule.id.as_str(), i as u32);
            }
        }
        let rule_ids: std::collections::HashSet<&str> = program.rules.iter().map(|r| r.id.as_str()).collect();
        let mut seen: FxHashMap<String, usize> = FxHashMap::default();
        let mut links = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let path = format!("links[{i}]");
            let link = link(program, &templates, item, &path)?;
            let named = |m: &str| data::error(&format!("{path}.new_id"), format!("link `{}`: {m}", link.id));
            if let Some(first) = seen.insert(link.id.clone(), i) {
                return Err(named(&format!("the id is used twice (first by links[{first}])")));
            }
            if rule_ids.contains(link.id.as_str()) || rule_ids.contains(link.rule_id.as_str()) {
                return Err(named("the id is the id of a rule of the policy"));
            }
            links.push(link);
        }
        Ok(Links { links })
    }
}

fn link(program: &Program, templates: &FxHashMap<&str, u32>, item: &Json, path: &str) -> Result<Link, DataError> {
    let obj = item
        .as_object()
        .ok_or_else(|| data::error(path, format!("expected a link object, found {}", data::kind(item))))?;
    data::only_fields(obj, &["template_id", "new_id", "values"], path, "a link")?;
    let text = |key: &str| match obj.get(key) {
        Some(Json::String(s)) if !s.is_empty() => Ok(s.as_str()),
        Some(Json::String(_)) => Err(data::error(&format!("{path}.{key}"), "must not be empty")),
        Some(other) => {
            Err(data::error(&format!("{path}.{key}"), format!("expected a string, found {}", data::kind(other))))
        }
        None => Err(data::error(path, format!("a link needs `{key}`"))),
    };
    let id = text("new_id")?;
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' || c == ':') {
        return Err(data::error(
            &format!("{path}.new_id"),
            format!("link id `{id}` must be letters, digits, `-`, `_`, `.` and `:`"),
        ));
    }
    let template_id = text("template_id")?;
    let in_link = |m: String| format!("link `{id}`: {m}");
    let Some(&template) = templates.get(template_id) else {
        let help =
            ward_ir::did_you_mean(template_id, templates.keys().copied()).map(|h| format!("; {h}")).unwrap_or_default();
        let known = if templates.is_empty() { " (the policy has no `@template` rule)" } else { "" };
        return Err(data::error(
            &format!("{path}.template_id"),
            in_link(format!("no template `{template_id}`{known}{help}")),
        ));
    };
    let Some(slots) = program.rules.get(template as usize).and_then(|r| r.template.as_ref()) else {
        return Err(data::error(path, in_link(format!("`{template_id}` is not a template"))));
    };
    let values_path = format!("{path}.values");
    let values = match obj.get("values") {
        Some(Json::Object(v)) => v,
        Some(other) => {
            return Err(data::error(&values_path, in_link(format!("expected an object, found {}", data::kind(other)))));
        }
        None => return Err(data::error(path, in_link("a link needs `values`".to_string()))),
    };
    let wanted: Vec<&str> = slots.slots.iter().map(|s| s.var.name()).collect();
    if let Some(extra) = values.keys().find(|k| !wanted.contains(&k.as_str())) {
        return Err(data::error(
            &format!("{values_path}.{extra}"),
            in_link(format!("`{template_id}` has no slot `{extra}` (its slots: {})", wanted.join(", "))),
        ));
    }
    let mut out = Link {
        id: id.to_string(),
        template,
        principal: None,
        resource: None,
        rule_id: format!("{template_id}[{id}]"),
        values_text: String::new(),
    };
    for slot in &slots.slots {
        let name = slot.var.name();
        let at = format!("{values_path}.{name}");
        let Some(value) = values.get(name) else {
            return Err(data::error(
                &values_path,
                in_link(format!("the slot `{name}` of `{template_id}` is not filled")),
            ));
        };
        let (ty, eid) =
            data::entity_ref(value, &at).map_err(|e| DataError { path: e.path, message: in_link(e.message) })?;
        let t = program.entity_types.iter().position(|e| e.name == ty).map(|t| t as u32);
        let Some(t) = t.filter(|t| slot.types.contains(t)) else {
            let allowed: Vec<&str> = slot
                .types
                .iter()
                .filter_map(|t| program.entity_types.get(*t as usize))
                .map(|e| e.name.as_str())
                .collect();
            let what = if t.is_none() { "an unknown entity type" } else { "a type the slot does not take" };
            return Err(data::error(
                &at,
                in_link(format!("`{ty}` is {what}: `{name}` of `{template_id}` takes {}", or_list(&allowed))),
            ));
        };
        let value = Some((t, eid.as_ref().into()));
        match slot.var {
            SlotVar::Principal => out.principal = value,
            SlotVar::Resource => out.resource = value,
        }
    }
    out.values_text = out.describe(program);
    Ok(out)
}

fn or_list(names: &[&str]) -> String {
    match names {
        [] => "no entity type".to_string(),
        [one] => format!("a `{one}`"),
        _ => format!("one of {}", names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")),
    }
}

/// Links resolved against one store, indexed by slot value.
#[derive(Debug, Default)]
pub struct LinkIndex {
    pub links: Arc<Links>,
    /// Per link, the store index of its `?principal` and `?resource` value
    /// (`None`: no such slot, or an entity the store does not have).
    resolved: Vec<(Option<u32>, Option<u32>)>,
    /// `(template, store entity)` → links whose slot holds the entity.
    by_principal: FxHashMap<(u32, u32), Vec<u32>>,
    by_resource: FxHashMap<(u32, u32), Vec<u32>>,
    /// `(template, type, id)` → links whose slot holds an entity the store
    /// does not have (a request may still name it).
    absent_principal: FxHashMap<(u32, u32, Box<str>), Vec<u32>>,
    absent_resource: FxHashMap<(u32, u32, Box<str>), Vec<u32>>,
}

impl LinkIndex {
    /// Indexes `links` for `store` (linear in the number of links).
    pub fn new(links: Arc<Links>, store: &Store) -> LinkIndex {
        let mut index = LinkIndex { links: Arc::clone(&links), ..LinkIndex::default() };
        for (i, link) in links.links.iter().enumerate() {
            let i = i as u32;
            let resolve = |value: &Option<(u32, Box<str>)>,
                           by: &mut FxHashMap<(u32, u32), Vec<u32>>,
                           absent: &mut FxHashMap<(u32, u32, Box<str>), Vec<u32>>| {
                let (t, id) = value.as_ref()?;
                match store.find(*t, id) {
                    Some(e) => {
                        by.entry((link.template, e)).or_default().push(i);
                        Some(e)
                    }
                    None => {
                        absent.entry((link.template, *t, id.clone())).or_default().push(i);
                        None
                    }
                }
            };
            let p = resolve(&link.principal, &mut index.by_principal, &mut index.absent_principal);
            let r = resolve(&link.resource, &mut index.by_resource, &mut index.absent_resource);
            index.resolved.push((p, r));
        }
        index
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// Whether some link of `template` may match the principal `(ty, id)`
    /// (store index `index`, when the store has it): its `?principal` holds
    /// it (or, for `in`, one of its ancestors), or the template has no
    /// principal slot and some link. For listings that must not hide what
    /// a link grants (the MCP gateway's `tools/list`).
    pub fn may_match_principal(
        &self,
        program: &Program,
        store: &Store,
        template: u32,
        index: Option<u32>,
        ty: u32,
        id: &str,
    ) -> bool {
        let Some(slots) = program.rules.get(template as usize).and_then(|r| r.template.as_ref()) else { return false };
        let Some(slot) = slots.slots.iter().find(|s| s.var == SlotVar::Principal) else {
            return self.links.links.iter().any(|l| l.template == template);
        };
        match index {
            Some(p) => {
                self.by_principal.contains_key(&(template, p))
                    || (slot.hierarchy
                        && store.get(p).is_some_and(|e| {
                            e.ancestors.iter().any(|a| self.by_principal.contains_key(&(template, *a)))
                        }))
            }
            None => self.absent_principal.contains_key(&(template, ty, id.into())),
        }
    }

    pub fn link(&self, i: u32) -> Option<&Link> {
        self.links.links.get(i as usize)
    }

    /// The links of template `template` whose slots match `principal` and
    /// the frame's resource, in link order, appended to `out`. The cost is
    /// a lookup per entity the request's principal and resource are (or,
    /// for `in` slots, are in), plus the links found under the slot with
    /// fewer of them: links holding other entities are never visited.
    pub fn matching(
        &self,
        program: &Program,
        store: &Store,
        frame: &Frame,
        template: u32,
        principal: u32,
        out: &mut Vec<u32>,
    ) {
        let Some(slots) = program.rules.get(template as usize).and_then(|r| r.template.as_ref()) else { return };
        let start = out.len();
        let slot = |var: SlotVar| slots.slots.iter().find(|s| s.var == var).map(|s| s.hierarchy);
        let sides = [
            slot(SlotVar::Principal).map(|h| (SlotVar::Principal, principal, h)),
            slot(SlotVar::Resource).map(|h| (SlotVar::Resource, frame.resource, h)),
        ];
        let mut sides: Vec<(SlotVar, u32, bool)> = sides.into_iter().flatten().collect();
        // Walk the side with fewer candidate links; test the other per link.
        if sides.len() == 2 {
            let count = |s: Option<&(SlotVar, u32, bool)>| {
                let mut n = 0usize;
                if let Some(&(var, entity, hierarchy)) = s {
                    self.candidates(store, frame, template, var, entity, hierarchy, |list| n += list.len());
                }
                n
            };
            if count(sides.get(1)) < count(sides.first()) {
                sides.swap(0, 1);
            }
        }
        let Some(&(var, entity, hierarchy)) = sides.first() else { return };
        let other = sides.get(1).copied();
        self.candidates(store, frame, template, var, entity, hierarchy, |list| {
            for &l in list {
                if other.is_none_or(|(v, e, h)| self.holds(store, frame, l, v, e, h)) {
                    out.push(l);
                }
            }
        });
        if let Some(found) = out.get_mut(start..) {
            found.sort_unstable();
        }
    }

    /// Calls `f` with each list of links of `template` whose `var` slot
    /// holds `entity` (or, with `hierarchy`, one of its ancestors).
    #[allow(clippy::too_many_arguments)]
    fn candidates(
        &self,
        store: &Store,
        frame: &Frame,
        template: u32,
        var: SlotVar,
        entity: u32,
        hierarchy: bool,
        mut f: impl FnMut(&[u32]),
    ) {
        let (by, absent) = match var {
            SlotVar::Principal => (&self.by_principal, &self.absent_principal),
            SlotVar::Resource => (&self.by_resource, &self.absent_resource),
        };
        if entity >= LOCAL_ENTITY {
            // Not in the store: only a link naming exactly it matches (it has no ancestors).
            if !absent.is_empty()
                && let Some(e) = frame.entity(store, entity)
                && let Some(list) = absent.get(&(template, e.ty, e.id.clone()))
            {
                f(list);
            }
            return;
        }
        if let Some(list) = by.get(&(template, entity)) {
            f(list);
        }
        if hierarchy && let Some(e) = store.get(entity) {
            for a in e.ancestors.iter() {
                if let Some(list) = by.get(&(template, *a)) {
                    f(list);
                }
            }
        }
    }

    /// Whether link `l`'s `var` slot matches `entity`.
    fn holds(&self, store: &Store, frame: &Frame, l: u32, var: SlotVar, entity: u32, hierarchy: bool) -> bool {
        let Some((p, r)) = self.resolved.get(l as usize) else { return false };
        let (resolved, value) = match var {
            SlotVar::Principal => (*p, self.link(l).and_then(|x| x.principal.as_ref())),
            SlotVar::Resource => (*r, self.link(l).and_then(|x| x.resource.as_ref())),
        };
        match resolved {
            Some(v) => v == entity || (hierarchy && store.entity_in(entity, v) == Some(true)),
            None => {
                entity >= LOCAL_ENTITY
                    && value
                        .is_some_and(|(t, id)| frame.entity(store, entity).is_some_and(|e| e.ty == *t && e.id == *id))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;
    use serde_json::json;

    const SOURCE: &str = r#"
schema s {
  entity Team in [Team]
  entity User in [Team]
  entity Folder in [Folder]
  entity Doc in [Folder]
  action view by [User] on [Doc, Folder]
}
policy sharing {
  @id("share")
  @template
  permit principal == ?principal, action: view, resource in ?resource

  @id("team")
  @template
  permit principal in ?principal, action: view, resource: Doc

  @id("plain")
  permit principal == User::"root", action: view
}
"#;

    fn program() -> Arc<Program> {
        let mut set = ward_compiler::SourceSet::default();
        set.add("t.ward", SOURCE);
        let (compiled, _) = ward_compiler::compile(&set, &ward_compiler::Options::default()).expect("compiles");
        Arc::new(compiled.program)
    }

    fn share(id: &str, user: &str, folder: &str) -> Json {
        json!({"template_id": "sharing.share", "new_id": id,
               "values": {"?principal": {"type": "User", "id": user}, "?resource": {"type": "Folder", "id": folder}}})
    }

    fn refused(links: Json) -> String {
        Links::from_json(&program(), &links).expect_err("refused").to_string()
    }

    #[test]
    fn the_template_has_slot_types_from_its_scope() {
        let p = program();
        let team = p.rules.iter().find(|r| r.id == "sharing.team").unwrap();
        let slot = &team.template.as_ref().unwrap().slots[0];
        assert!(slot.hierarchy);
        let names: Vec<&str> = slot.types.iter().map(|t| p.entity_types[*t as usize].name.as_str()).collect();
        assert_eq!(names, ["Team", "User"]);
        assert!(
            p.buckets
                .iter()
                .all(|b| !b.rules.contains(&(p.rules.iter().position(|r| r.id == "sharing.team").unwrap() as u32)))
        );
    }

    #[test]
    fn links_are_read_in_every_entity_form_cedar_accepts() {
        let links = json!([
            share("a", "alice", "f1"),
            {"template_id": "sharing.share", "new_id": "b",
             "values": {"?principal": {"__entity": {"type": "User", "id": "bob"}}, "?resource": "Folder::\"f\\\"2\""}},
            {"template_id": "sharing.team", "new_id": "c", "values": {"?principal": "Team::\"ops\""}},
        ]);
        let links = Links::from_json(&program(), &links).unwrap();
        assert_eq!(links.len(), 3);
        assert_eq!(links.links[1].rule_id, "sharing.share[b]");
        assert_eq!(links.links[1].values_text, r#"?principal = User::"bob", ?resource = Folder::"f\"2""#);
        assert_eq!(links.links[2].principal.as_ref().map(|(_, id)| &**id), Some("ops"));
    }

    #[test]
    fn bad_links_are_refused_naming_the_link_and_the_problem() {
        let e = refused(json!([{"template_id": "sharing.shar", "new_id": "x", "values": {}}]));
        assert!(e.contains("links[0].template_id") && e.contains("link `x`") && e.contains("sharing.share"), "{e}");
        let e = refused(json!([{"template_id": "sharing.plain", "new_id": "x", "values": {}}]));
        assert!(e.contains("no template `sharing.plain`"), "{e}");
        let e =
            refused(json!([{"template_id": "sharing.share", "new_id": "x", "values": {"?principal": "User::\"a\""}}]));
        assert!(e.contains("the slot `?resource` of `sharing.share` is not filled"), "{e}");
        let e = refused(json!([{"template_id": "sharing.team", "new_id": "x",
            "values": {"?principal": "User::\"a\"", "?resource": "Doc::\"d\""}}]));
        assert!(e.contains("links[0].values.?resource") && e.contains("has no slot `?resource`"), "{e}");
        let e = refused(json!([{"template_id": "sharing.share", "new_id": "x",
            "values": {"?principal": "Team::\"ops\"", "?resource": "Folder::\"f\""}}]));
        assert!(e.contains("`Team` is a type the slot does not take") && e.contains("a `User`"), "{e}");
        let e = refused(json!([{"template_id": "sharing.share", "new_id": "x",
            "values": {"?principal": "Usr::\"a\"", "?resource": "Folder::\"f\""}}]));
        assert!(e.contains("`Usr` is an unknown entity type"), "{e}");
        let e = refused(json!([share("x", "a", "f"), share("x", "b", "g")]));
        assert!(e.contains("links[1].new_id") && e.contains("used twice (first by links[0])"), "{e}");
        let e = refused(json!([share("sharing.plain", "a", "f")]));
        assert!(e.contains("the id of a rule"), "{e}");
        let e = refused(json!([{"template_id": "sharing.share", "new_id": "x", "values": {}, "extra": 1}]));
        assert!(e.contains("links[0].extra"), "{e}");
        let e = refused(json!([{"template_id": "sharing.share", "new_id": "a b", "values": {}}]));
        assert!(e.contains("must be letters"), "{e}");
        let e = refused(json!({"links": []}));
        assert!(e.contains("expected an array of links"), "{e}");
        let e = refused(json!([{"template_id": "sharing.share", "new_id": "x",
            "values": {"?principal": {"type": "User", "id": "a", "x": 1}, "?resource": "Folder::\"f\""}}]));
        assert!(e.contains("links[0].values.?principal.x"), "{e}");
    }

    #[test]
    fn a_linked_rule_id_names_its_template() {
        assert_eq!(template_of("sharing.share[alice-f1]"), "sharing.share");
        assert_eq!(template_of("sharing.share"), "sharing.share");
        assert_eq!(template_of("p.3"), "p.3");
    }

    #[test]
    fn the_number_of_links_is_bounded() {
        let e = refused(Json::Array(vec![Json::Null; MAX_LINKS + 1]));
        assert!(e.contains("more than the limit of 1000000"), "{e}");
    }

    #[test]
    fn duplicate_keys_in_a_links_file_are_refused() {
        let text = r#"[{"template_id": "sharing.share", "template_id": "sharing.team", "new_id": "x", "values": {}}]"#;
        let e = Links::parse(&program(), text).expect_err("refused").to_string();
        assert!(e.contains("template_id"), "{e}");
    }

    /// A request looks up its own principal and resource: with many links,
    /// only the matching ones are visited, and `in` slots follow ancestors.
    #[test]
    fn matching_visits_only_the_links_of_the_request() {
        let p = program();
        let mut entities = vec![
            json!({"uid": {"type": "Team", "id": "ops"}, "attrs": {}, "parents": []}),
            json!({"uid": {"type": "User", "id": "alice"}, "attrs": {}, "parents": [{"type": "Team", "id": "ops"}]}),
            json!({"uid": {"type": "Folder", "id": "f0"}, "attrs": {}, "parents": []}),
            json!({"uid": {"type": "Doc", "id": "d"}, "attrs": {}, "parents": [{"type": "Folder", "id": "f0"}]}),
        ];
        let mut links =
            vec![json!({"template_id": "sharing.team", "new_id": "ops", "values": {"?principal": "Team::\"ops\""}})];
        for i in 0..2000 {
            links.push(share(&format!("s{i}"), &format!("u{i}"), &format!("f{}", i % 7)));
            entities.push(json!({"uid": {"type": "User", "id": format!("u{i}")}, "attrs": {}, "parents": []}));
        }
        links.push(share("alice-f0", "alice", "f0"));
        let store = Store::load(Arc::clone(&p), &Json::Array(entities)).unwrap();
        let index = LinkIndex::new(Arc::new(Links::from_json(&p, &Json::Array(links)).unwrap()), &store);
        let request = crate::Request::from_json(&json!({
            "principal": {"type": "User", "id": "alice"}, "action": "view",
            "resource": {"type": "Doc", "id": "d"}, "context": {}}))
        .unwrap();
        let frame = Frame::build(&store, &request, 0).unwrap();
        let template = |id: &str| p.rules.iter().position(|r| r.id == id).unwrap() as u32;
        let mut out = Vec::new();
        index.matching(&p, &store, &frame, template("sharing.share"), frame.principal, &mut out);
        assert_eq!(out.iter().map(|l| index.link(*l).unwrap().id.as_str()).collect::<Vec<_>>(), ["alice-f0"]);
        out.clear();
        index.matching(&p, &store, &frame, template("sharing.team"), frame.principal, &mut out);
        assert_eq!(out.iter().map(|l| index.link(*l).unwrap().id.as_str()).collect::<Vec<_>>(), ["ops"]);
        // A principal the store does not have matches only a link naming it.
        let stranger = crate::Request::from_json(&json!({
            "principal": {"type": "User", "id": "nobody"}, "action": "view",
            "resource": {"type": "Doc", "id": "d"}, "context": {}}))
        .unwrap();
        let frame = Frame::build(&store, &stranger, 0).unwrap();
        out.clear();
        index.matching(&p, &store, &frame, template("sharing.share"), frame.principal, &mut out);
        assert!(out.is_empty());
    }
}
