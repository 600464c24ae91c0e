//! Differential testing against Cedar itself: a random well-typed Cedar
//! application ([`crate::cedar_gen`]), its policies imported by
//! `ward import cedar`'s library, every request decided by cedar-policy and
//! by Ward's interpreter and JIT. They must agree, except where Ward's one
//! documented difference applies — a `forbid` whose condition fails with an
//! error applies in Ward (fail closed) and is skipped by Cedar — which is
//! tagged, counted and required to deny in Ward.
//!
//! Driven by `bench/tests/cedar_differential.rs` (CI) and by the fuzz target
//! `fuzz/fuzz_targets/cedar_differential.rs` (longer hunts).

use std::collections::BTreeSet;
use std::str::FromStr;

use serde_json::Value as Json;
use ward_runtime::engine::Backend;
use ward_runtime::{Effect, Request};

use crate::cedar_gen::App;
use crate::contenders::compile;

/// Policies per generated application.
pub const POLICIES: usize = 8;
/// Requests per generated application.
pub const REQUESTS: usize = 250;

/// What a run covered.
#[derive(Default, Debug, Clone, Copy)]
pub struct Tally {
    pub apps: usize,
    pub cases: usize,
    pub allows: usize,
    /// Requests on which a forbid failed with an error: Ward denies, Cedar may not.
    pub erroring_forbids: usize,
    /// Generated policies Cedar's strict validator refused (not tested).
    pub dropped_policies: usize,
    /// Policies and templates kept.
    pub kept_policies: usize,
    /// Template links decided through.
    pub links: usize,
    /// Kept policies that read entity tags (`getTag` under a `hasTag` guard).
    pub tag_policies: usize,
    /// Cases of applications with namespaces (all in `Gen`, or split).
    pub namespaced: usize,
    /// Kept policies that test extension values (decimal, ipaddr, datetime).
    pub extension_policies: usize,
}

/// The policies (or templates) Cedar's strict validator accepts, with
/// their indexes among those given.
fn valid_policies<'a>(schema: &cedar_policy::Schema, given: &'a [String]) -> Vec<(usize, &'a String)> {
    given
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            cedar_policy::PolicySet::from_str(p).is_ok_and(|set| {
                cedar_policy::Validator::new(schema.clone())
                    .validate(&set, cedar_policy::ValidationMode::Strict)
                    .validation_passed()
            })
        })
        .collect()
}

fn uid(value: Option<&Json>) -> Result<cedar_policy::EntityUid, String> {
    cedar_policy::EntityUid::from_json(value.cloned().unwrap_or(Json::Null)).map_err(|e| format!("cedar uid: {e}"))
}

/// Generates the application of `seed` and compares every request.
/// `Err` describes the first disagreement (or a failure to import or
/// compile what Cedar accepts), with what reproduces it.
pub fn run_app(seed: u64, tally: &mut Tally) -> Result<(), String> {
    let app = App::generate(seed, POLICIES, REQUESTS);
    let what = |extra: &str| format!("seed {seed}: {extra}\nschema:\n{}", app.schema);
    let (schema, _) = cedar_policy::Schema::from_cedarschema_str(&app.schema).map_err(|e| what(&e.to_string()))?;
    let policies = valid_policies(&schema, &app.policies);
    let templates = valid_policies(&schema, &app.templates);
    tally.dropped_policies += app.policies.len() + app.templates.len() - policies.len() - templates.len();
    tally.kept_policies += policies.len() + templates.len();
    tally.tag_policies += policies.iter().chain(templates.iter()).filter(|(_, p)| p.contains(".getTag(")).count();
    tally.extension_policies += policies
        .iter()
        .chain(templates.iter())
        .filter(|(_, p)| p.contains(".d.") || p.contains(".addr") || p.contains(".at"))
        .count();
    // Cedar names them `policy0`, `policy1`, … in this order: policies, then templates.
    let policy_text: String =
        policies.iter().chain(templates.iter()).map(|(_, p)| p.as_str()).collect::<Vec<_>>().join("\n");
    let template_id = |generated: usize| {
        templates.iter().position(|(i, _)| *i == generated).map(|k| format!("policy{}", policies.len() + k))
    };
    let mut cedar_set = cedar_policy::PolicySet::from_str(&policy_text).map_err(|e| what(&e.to_string()))?;
    // The links of the templates Cedar kept, in Cedar's API and as Cedar's JSON.
    let mut links_json = Vec::new();
    for link in &app.links {
        let Some(template) = template_id(link.template) else { continue };
        let mut values = std::collections::HashMap::new();
        let mut json_values = serde_json::Map::new();
        for (slot, value) in [("?principal", &link.principal), ("?resource", &link.resource)] {
            if let Some(value) = value {
                let slot_id = if slot == "?principal" {
                    cedar_policy::SlotId::principal()
                } else {
                    cedar_policy::SlotId::resource()
                };
                values.insert(slot_id, uid(Some(value))?);
                json_values.insert(slot.to_string(), value.clone());
            }
        }
        cedar_set
            .link(cedar_policy::PolicyId::new(&template), cedar_policy::PolicyId::new(&link.id), values)
            .map_err(|e| what(&format!("cedar link {}: {e}", link.id)))?;
        links_json.push(serde_json::json!({ "template_id": template, "new_id": link.id, "values": json_values }));
        tally.links += 1;
    }
    // Linked forbids too: a link of a forbid template is a forbid.
    let forbids: BTreeSet<String> = cedar_set
        .policies()
        .filter(|p| p.effect() == cedar_policy::Effect::Forbid)
        .map(|p| p.id().to_string())
        .collect();
    let cedar_entities = cedar_policy::Entities::from_json_value(app.entities.clone(), Some(&schema))
        .map_err(|e| what(&format!("cedar entities: {e}")))?;

    let imported = ward_import::import_cedar(&ward_import::CedarSources {
        schema: ward_import::SchemaSource::Human(&app.schema),
        policies: &policy_text,
        policy_name: "generated",
    })
    .map_err(|e| what(&format!("import: {e:?}\npolicies:\n{policy_text}")))?;
    let files = [("schema.ward", imported.schema.as_str()), ("policy.ward", imported.policy.as_str())];
    let ward_text = || format!("{}\n{}", imported.schema, imported.policy);
    let jit = compile(&files, &app.entities, Backend::Jit).map_err(|e| what(&format!("{e}\n{}", ward_text())))?;
    let interp =
        compile(&files, &app.entities, Backend::Interpreter).map_err(|e| what(&format!("{e}\n{}", ward_text())))?;
    if !links_json.is_empty() {
        let links = ward_import::cedar_links(&Json::Array(links_json).to_string(), &imported.templates)
            .map_err(|e| what(&format!("links: {e:?}")))?;
        for engine in [&jit, &interp] {
            let parsed = ward_runtime::links::Links::parse(&engine.loaded().prepared.program, &links)
                .map_err(|e| what(&format!("ward refuses links Cedar accepts: {e}\n{links}\n{}", ward_text())))?;
            engine.set_links(std::sync::Arc::new(parsed)).map_err(|e| what(&e))?;
        }
    }

    let authorizer = cedar_policy::Authorizer::new();
    for request in &app.requests {
        let action = uid(request.get("action"))?;
        let context = cedar_policy::Context::from_json_value(
            request.get("context").cloned().unwrap_or(Json::Null),
            Some((&schema, &action)),
        )
        .map_err(|e| what(&format!("cedar context {request}: {e}")))?;
        let cedar_request = cedar_policy::Request::new(
            uid(request.get("principal"))?,
            action,
            uid(request.get("resource"))?,
            context,
            Some(&schema),
        )
        .map_err(|e| what(&format!("cedar request {request}: {e}")))?;
        let response = authorizer.is_authorized(&cedar_request, &cedar_set, &cedar_entities);
        let erroring_forbid = response.diagnostics().errors().any(|e| match e {
            cedar_policy::AuthorizationError::PolicyEvaluationError(e) => forbids.contains(&e.policy_id().to_string()),
        });
        // The documented difference: Cedar skips an erroring forbid; Ward applies it.
        let expected = response.decision() == cedar_policy::Decision::Allow && !erroring_forbid;
        tally.erroring_forbids += usize::from(erroring_forbid);
        let ward_request =
            Request::from_json_str(&request.to_string()).map_err(|e| what(&format!("ward request: {e}")))?;
        for (engine, backend) in [(&jit, "jit"), (&interp, "interpreter")] {
            let decision = engine.decide(&ward_request);
            if (decision.effect == Effect::Allow) != expected {
                return Err(what(&format!(
                    "{backend}: request {request}\ncedar: {:?} (erroring forbid: {erroring_forbid}, errors: {:?})\n\
                     ward: {:?} {:?}\npolicies:\n{policy_text}\nward:\n{}",
                    response.decision(),
                    response.diagnostics().errors().map(ToString::to_string).collect::<Vec<_>>(),
                    decision.effect,
                    decision.errors,
                    ward_text()
                )));
            }
        }
        tally.cases += 1;
        tally.allows += usize::from(expected);
        tally.namespaced += usize::from(app.namespaces != crate::cedar_gen::Namespaces::None);
    }
    tally.apps += 1;
    Ok(())
}
