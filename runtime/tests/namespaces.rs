//! Namespaces and entity-type unions (issue 17): a Cedar application's
//! namespaced schema written as `namespace Taxpreparer { … }`, decided from
//! Cedar's own request and entity JSON (`Taxpreparer::Document::"d"`,
//! `Taxpreparer::Action::"viewDocument"`) on both backends; an action is
//! only the one its namespace names; a union-typed attribute takes each of
//! its types and refuses any other, naming the entity and the attribute.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use serde_json::{Value as Json, json};
use ward_runtime::engine::{Backend, Engine};
use ward_runtime::{Effect, Request, Store};

const SRC: &str = r#"
namespace Taxpreparer {
  entity Org
  entity Professional in [Org] { location: String }
  entity Client
  // Who may own a document: a client, or a firm holding it for one.
  entity Document { owner: Client | Org, reviewers: Set<Professional | Org> }
  action viewDocument by Professional on Document
  action editDocument by Professional on Document
}

// The same action name outside the namespace is another action.
schema other {
  entity User
  action viewDocument by User on Taxpreparer::Document
}

policy tax {
  @id("view")
  permit principal: Taxpreparer::Professional, action == Taxpreparer::viewDocument, resource: Taxpreparer::Document
    when resource.reviewers.contains(principal)
      || (resource.owner is Taxpreparer::Org && principal in resource.owner)
  @id("edit")
  permit action in [Taxpreparer::editDocument], principal in Taxpreparer::Org::"firm"
    when resource.owner == Taxpreparer::Client::"c1"
  @id("user-view")
  permit action == viewDocument
}
"#;

fn entities() -> Json {
    json!([
        {"uid": {"type": "Taxpreparer::Org", "id": "firm"}},
        {"uid": "Taxpreparer::Professional::\"ann\"", "attrs": {"location": "NYC"},
         "parents": ["Taxpreparer::Org::\"firm\""]},
        {"uid": "Taxpreparer::Professional::\"bob\"", "attrs": {"location": "SF"}},
        {"uid": {"__entity": {"type": "Taxpreparer::Client", "id": "c1"}}},
        {"uid": "Taxpreparer::Document::\"d1\"",
         "attrs": {"owner": "Taxpreparer::Client::\"c1\"", "reviewers": ["Taxpreparer::Professional::\"bob\""]}},
        {"uid": "Taxpreparer::Document::\"d2\"",
         "attrs": {"owner": {"type": "Taxpreparer::Org", "id": "firm"}, "reviewers": []}},
        {"uid": {"type": "Taxpreparer::Action", "id": "viewDocument"}},
        {"uid": {"type": "User", "id": "u"}},
    ])
}

fn engines() -> Vec<Engine> {
    [Backend::Interpreter, Backend::Jit].into_iter().map(|b| common::engine_with(SRC, entities(), b)).collect()
}

fn request(principal: &str, action: Json, resource: &str) -> Request {
    Request::from_json(&json!({"principal": principal, "action": action, "resource": resource, "context": {}}))
        .expect("Cedar's forms are read")
}

#[test]
fn a_namespaced_application_decides_from_cedars_json() {
    for engine in engines() {
        let view = json!("Taxpreparer::Action::\"viewDocument\"");
        let edit = json!({"type": "Taxpreparer::Action", "id": "editDocument"});
        let cases = [
            // bob reviews d1.
            ("Taxpreparer::Professional::\"bob\"", view.clone(), "Taxpreparer::Document::\"d1\"", Effect::Allow),
            // ann is in the firm that owns d2; bob is not.
            ("Taxpreparer::Professional::\"ann\"", view.clone(), "Taxpreparer::Document::\"d2\"", Effect::Allow),
            ("Taxpreparer::Professional::\"bob\"", view.clone(), "Taxpreparer::Document::\"d2\"", Effect::Deny),
            // ann neither reviews d1 nor belongs to its owner (a client).
            ("Taxpreparer::Professional::\"ann\"", view, "Taxpreparer::Document::\"d1\"", Effect::Deny),
            // The firm edits documents of client c1.
            ("Taxpreparer::Professional::\"ann\"", edit.clone(), "Taxpreparer::Document::\"d1\"", Effect::Allow),
            ("Taxpreparer::Professional::\"bob\"", edit, "Taxpreparer::Document::\"d1\"", Effect::Deny),
            // The unnamespaced `viewDocument` is another action, with its own rule.
            ("User::\"u\"", json!("Action::\"viewDocument\""), "Taxpreparer::Document::\"d1\"", Effect::Allow),
            ("User::\"u\"", json!("viewDocument"), "Taxpreparer::Document::\"d2\"", Effect::Allow),
        ];
        for (principal, action, resource, want) in cases {
            let d = engine.decide(&request(principal, action.clone(), resource));
            assert_eq!(d.effect, want, "{principal} {action} {resource}: {}", d.explain());
        }
        // A Ward name for the namespaced action is its qualified name.
        let d = engine.decide(&request(
            "Taxpreparer::Professional::\"bob\"",
            json!("Taxpreparer::viewDocument"),
            "Taxpreparer::Document::\"d1\"",
        ));
        assert_eq!(d.effect, Effect::Allow, "{}", d.explain());
    }
}

#[test]
fn an_action_is_only_the_one_its_namespace_names() {
    for engine in engines() {
        // `Other::Action::"viewDocument"` names no action: denied (fail closed), never the namespaced one.
        for action in [json!("Other::Action::\"viewDocument\""), json!({"type": "Other::Action", "id": "viewDocument"})]
        {
            let d = engine.decide(&request(
                "Taxpreparer::Professional::\"bob\"",
                action.clone(),
                "Taxpreparer::Document::\"d1\"",
            ));
            assert_eq!(d.effect, Effect::Deny, "{action}: {}", d.explain());
            assert!(
                d.errors.iter().any(|e| e.message.contains("unknown action")),
                "{action}: an unknown action is an error, not a plain deny: {}",
                d.explain()
            );
        }
        // The plain `Action::"editDocument"` is not the namespace's `editDocument`.
        let d = engine.decide(&request(
            "Taxpreparer::Professional::\"ann\"",
            json!("Action::\"editDocument\""),
            "Taxpreparer::Document::\"d1\"",
        ));
        assert_eq!(d.effect, Effect::Deny, "{}", d.explain());
    }
}

#[test]
fn action_entities_of_a_namespace_are_checked_against_it() {
    let program = common::program(SRC);
    let wrong = json!([{"uid": {"type": "Taxpreparer::Action", "id": "shareDocument"}}]);
    let err = Store::load(program.clone(), &wrong).expect_err("no such action in the namespace");
    assert!(err.to_string().contains("no such action"), "{err}");
    let other_ns = json!([{"uid": {"type": "Acme::Action", "id": "viewDocument"}}]);
    assert!(Store::load(program, &other_ns).is_err(), "`Acme::viewDocument` is not declared");
}

#[test]
fn a_union_attribute_takes_its_types_and_refuses_others() {
    let program = common::program(SRC);
    let bad = json!([
        {"uid": "Taxpreparer::Professional::\"bob\"", "attrs": {"location": "SF"}},
        {"uid": "Taxpreparer::Document::\"d9\"",
         "attrs": {"owner": "Taxpreparer::Professional::\"bob\"", "reviewers": []}},
    ]);
    let err = Store::load(program, &bad).expect_err("a professional cannot own a document").to_string();
    assert!(err.contains("owner"), "the error names the attribute: {err}");
    assert!(err.contains("Professional"), "the error names the type found: {err}");
}
