//! `import_cedar` on Cedar input: what it writes (golden files), what it
//! reports, and what it refuses, naming the construct and the place.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use ward_import::{CedarSources, ImportError, SchemaSource, import_cedar};

const SCHEMA: &str = include_str!("data/clinic.cedarschema");
const POLICIES: &str = include_str!("data/clinic.cedar");

fn import(schema: &str, policies: &str) -> Result<ward_import::Imported, Vec<ImportError>> {
    import_cedar(&CedarSources { schema: SchemaSource::Human(schema), policies, policy_name: "clinic" })
}

fn errors(schema: &str, policies: &str) -> Vec<String> {
    match import(schema, policies) {
        Ok(imported) => panic!("imported, but should not be:\n{}", imported.policy),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn the_clinic_imports_construct_by_construct() {
    let imported = import(SCHEMA, POLICIES).unwrap_or_else(|e| panic!("{e:?}"));
    insta::assert_snapshot!("clinic_schema", imported.schema);
    insta::assert_snapshot!("clinic_policy", imported.policy);
    let notes: Vec<String> = imported.notes.iter().map(ToString::to_string).collect();
    insta::assert_snapshot!("clinic_notes", notes.join("\n"));
}

#[test]
fn the_json_schema_form_gives_the_same_schema() {
    let (fragment, _) = cedar_policy::SchemaFragment::from_cedarschema_str(SCHEMA).unwrap();
    let json = fragment.to_json_string().unwrap();
    let from_json =
        import_cedar(&CedarSources { schema: SchemaSource::Json(&json), policies: POLICIES, policy_name: "clinic" })
            .unwrap();
    let from_human = import(SCHEMA, POLICIES).unwrap();
    assert_eq!(from_json.schema, from_human.schema);
    assert_eq!(from_json.policy, from_human.policy);
}

#[test]
fn output_is_formatted_as_ward_fmt_would() {
    let imported = import(SCHEMA, POLICIES).unwrap();
    for text in [&imported.schema, &imported.policy] {
        assert_eq!(&ward_grammar::format::format_source(text).unwrap(), text);
    }
}

const SMALL: &str = "entity User; entity Doc = { owner: User, tags_list: Set<String> };\n\
                     action view appliesTo { principal: User, resource: Doc };";

#[test]
fn what_ward_cannot_say_is_refused_by_name() {
    let cases: &[(&str, &str, &str)] = &[
        (SMALL, "permit(principal, action, resource) when { 2 * 3 == 6 };", "multiplication"),
        (SMALL, r#"permit(principal, action, resource) when { "a*b" like "a\*b" };"#, "cannot match a literal `*`"),
        (SMALL, "permit(principal, action, resource) when { (if true then 1 else 2) == 1 };", "outside a condition"),
        (SMALL, r#"permit(principal, action, resource) when { ip("10.0.0.1").isMulticast() };"#, "`isMulticast`"),
        (
            SMALL,
            r#"permit(principal, action, resource) when { duration("-5h") == duration("1h") };"#,
            "non-negative duration",
        ),
        (
            "entity User = { \"first name\": String };",
            "permit(principal, action, resource);",
            "attribute \"first name\" is not a Ward word",
        ),
        (SMALL, "permit(principal, action, resource) when { context has \"a b\" };", "Ward's `has` names words only"),
        (SMALL, "permit(principal, action, resource) when {", "Cedar refuses the policies"),
        (
            "entity User = { x: Undeclared };",
            "permit(principal, action, resource);",
            "Cedar refuses the schema: failed to resolve type: Undeclared",
        ),
        ("entity User in [Nope];", "permit(principal, action, resource);", "Cedar refuses the schema"),
    ];
    for (schema, policies, expected) in cases {
        let errors = errors(schema, policies);
        assert!(errors.iter().any(|e| e.contains(expected)), "{policies}: expected `{expected}` among {errors:#?}");
    }
}

/// Cedar's namespaces become `namespace` blocks; every reference is written
/// in full, from the policies and from other namespaces alike.
#[test]
fn namespaces_are_imported_as_namespace_blocks() {
    let imported = import(
        "entity User;\n\
         namespace Tax {\n\
           entity Org;\n\
           entity Professional in [Org] { location: String };\n\
           entity Document { owner: Professional, viewers: Set<User> };\n\
           action read;\n\
           action viewDocument in [read] appliesTo { principal: [Professional, User], resource: Document };\n\
         }\n\
         namespace Acme::Docs { entity Folder; entity File in [Folder] { org: Tax::Org }; }",
        "permit(principal is Tax::Professional in Tax::Org::\"firm\", action in [Tax::Action::\"read\"], resource)\n\
           when { resource.owner == principal };\n\
         permit(principal, action == Tax::Action::\"viewDocument\", resource is Tax::Document)\n\
           when { resource.viewers.contains(principal) };",
    )
    .unwrap_or_else(|e| panic!("{e:#?}"));
    let schema = &imported.schema;
    for part in [
        "namespace Tax {",
        "entity Professional in [Tax::Org] { location: String }",
        "entity Document { owner: Tax::Professional, viewers: Set<User> }",
        "action viewDocument in [Tax::read] by [Tax::Professional, User] on [Tax::Document]",
        "namespace Acme::Docs {",
        "entity File in [Acme::Docs::Folder] { org: Tax::Org }",
    ] {
        assert!(schema.contains(part), "`{part}` in\n{schema}");
    }
    let policy = &imported.policy;
    for part in [
        "principal: Tax::Professional in Tax::Org::\"firm\"",
        "action in Tax::read",
        "action == Tax::viewDocument",
        "resource: Tax::Document",
    ] {
        assert!(policy.contains(part), "`{part}` in\n{policy}");
    }
}

/// Cedar's entity tags: `tags T` in the schema and `hasTag`/`getTag` in
/// policies become Ward's `tags T` and `has_tag`/`get_tag`.
#[test]
fn entity_tags_are_imported() {
    let imported = import(
        "entity User tags Set<String>; entity Doc = { owner: User } tags { level: Long };\n\
         action view appliesTo { principal: User, resource: Doc };",
        "permit(principal, action == Action::\"view\", resource) when {\n\
           resource.hasTag(\"team\") && principal.hasTag(\"teams\") &&\n\
           principal.getTag(\"teams\").contains(\"cx\") && resource.getTag(\"team\").level > 2\n\
         };",
    )
    .unwrap();
    assert!(imported.schema.contains("entity User tags Set<String>"), "{}", imported.schema);
    assert!(imported.schema.contains("} tags { level: Int }"), "{}", imported.schema);
    for part in [
        "resource.has_tag(\"team\")",
        "principal.has_tag(\"teams\")",
        "principal.get_tag(\"teams\").contains(\"cx\")",
        "resource.get_tag(\"team\").level > 2",
    ] {
        assert!(imported.policy.contains(part), "`{part}` in {}", imported.policy);
    }
    assert!(!imported.notes.iter().any(|n| n.message.contains("refuses")), "{:#?}", imported.notes);
}

#[test]
fn templates_and_their_links_are_imported() {
    let imported = import(
        SMALL,
        "@id(\"share\")\npermit(principal == ?principal, action == Action::\"view\", resource in ?resource);\n\
         permit(principal is User in ?principal, action, resource) when { resource.owner == principal };",
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let policy = &imported.policy;
    assert!(
        policy.contains(
            "@id(\"share\")\n  @template\n  permit principal == ?principal, action == view, resource in ?resource"
        ),
        "{policy}"
    );
    assert!(policy.contains("@template\n  permit principal: User in ?principal"), "{policy}");
    // By Cedar's id and by the `@id` Cedar's CLI uses.
    assert_eq!(imported.templates.get("policy0").map(String::as_str), Some("clinic.share"));
    assert_eq!(imported.templates.get("share").map(String::as_str), Some("clinic.share"));
    assert_eq!(imported.templates.get("policy1").map(String::as_str), Some("clinic.policy1"));

    let links = ward_import::cedar_links(
        r#"[{"template_id": "share", "link_id": "l1", "args": {"?principal": "User::\"a\"", "?resource": {"type": "Doc", "id": "d"}}},
            {"template_id": "policy1", "new_id": "l2", "values": {"?principal": {"__entity": {"type": "User", "id": "b"}}}}]"#,
        &imported.templates,
    )
    .unwrap();
    let links: serde_json::Value = serde_json::from_str(&links).unwrap();
    assert_eq!(links[0]["template_id"], "clinic.share");
    assert_eq!(links[0]["new_id"], "l1");
    assert_eq!(links[0]["values"]["?principal"], "User::\"a\"");
    assert_eq!(links[1]["template_id"], "clinic.policy1");

    let refused = ward_import::cedar_links(
        r#"[{"template_id": "nope", "new_id": "x", "values": {}}, {"template_id": "share"}]"#,
        &imported.templates,
    )
    .unwrap_err();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        refused[0].to_string().starts_with("links[0]: `template_id` \"nope\" names no imported template"),
        "{refused:?}"
    );
    assert!(refused[1].to_string().starts_with("links[1]: a link has"), "{refused:?}");
}

#[test]
fn actions_that_are_not_identifiers_are_named_by_strings() {
    let imported = import(
        "entity User; entity Doc;\naction \"view all\";\naction \"view doc\" in [\"view all\"] appliesTo { principal: User, resource: Doc };",
        "permit(principal, action == Action::\"view doc\", resource);\nforbid(principal, action in [Action::\"view all\"], resource) when { principal == resource };",
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(imported.schema.contains(r#"action "view doc" in ["view all"] by [User] on [Doc]"#), "{}", imported.schema);
    assert!(imported.policy.contains(r#"permit action == "view doc""#), "{}", imported.policy);
    assert!(imported.policy.contains(r#"forbid action in "view all""#), "{}", imported.policy);
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let errors = errors(
        SMALL,
        "permit(principal, action, resource) when { 2 * 3 == 6 };\n\
         permit(principal, action, resource) when { 4 * 5 == 20 };",
    );
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].starts_with("policy0:") && errors[1].starts_with("policy1:"), "{errors:#?}");
}

#[test]
fn cedar_syntax_errors_say_where() {
    let errors = errors(SMALL, "permit(principal, action, resource)\n  when { principal == };");
    assert!(
        errors[0].contains("Cedar refuses the policies") && errors[0].contains("(at line 2, column 23"),
        "{errors:?}"
    );
    let errors = errors_of(import("entity User = { a: String };\nentity X\n", "permit(principal, action, resource);"));
    assert!(errors[0].contains("Cedar refuses the schema") && errors[0].contains("(at line 2"), "{errors:?}");
}

fn errors_of(result: Result<ward_import::Imported, Vec<ImportError>>) -> Vec<String> {
    result.err().unwrap_or_default().iter().map(ToString::to_string).collect()
}

#[test]
fn cedar_validation_errors_are_reported_with_the_policy() {
    let imported = import(SMALL, "permit(principal, action, resource) when { resource.nope == 1 };").unwrap();
    assert!(
        imported.notes.iter().any(|n| n.place == "policy0" && n.message.contains("Cedar's validator refuses")),
        "{:#?}",
        imported.notes
    );
}

#[test]
fn strings_and_ids_survive_escaping() {
    let imported = import(
        SMALL,
        r#"permit(principal == User::"a\"b\\c", action, resource) when { resource.owner == User::"tab\there" && "x\ny" != "" };"#,
    )
    .unwrap();
    assert!(imported.policy.contains(r#"principal == User::"a\"b\\c""#), "{}", imported.policy);
    assert!(
        imported.policy.contains(r#"User::"tab\there""#) && imported.policy.contains(r#""x\ny""#),
        "{}",
        imported.policy
    );
}

#[test]
fn deep_expressions_are_bounded() {
    let mut condition = String::from("true");
    for _ in 0..600 {
        condition = format!("!({condition})");
    }
    let policy = format!("permit(principal, action, resource) when {{ {condition} }};");
    let refused = errors(SMALL, &policy);
    assert!(refused[0].contains("more than the 256"), "{refused:?}");
    // A long flat chain has no brackets to count: it is read, not a crash.
    let chain = vec!["principal == resource.owner"; 1_500].join(" || ");
    let imported = import(SMALL, &format!("permit(principal, action, resource) when {{ {chain} }};")).unwrap();
    assert!(imported.policy.matches("||").count() == 1_499);
    // Longer than Ward's parser nests: a clear error, not a crash.
    let chain = vec!["principal == resource.owner"; 5_000].join(" || ");
    let errors = errors(SMALL, &format!("permit(principal, action, resource) when {{ {chain} }};"));
    assert!(errors[0].contains("deeper than Ward reads"), "{errors:?}");
}
