//! `ward import cedar`, driving the real binaries: the files it writes pass
//! `ward check` and `ward fmt --check`, Cedar's own entity and request files
//! are then decided unchanged, and what cannot be imported writes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/import/tests/data/clinic.cedarschema");
const POLICIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/import/tests/data/clinic.cedar");

fn ward(args: &[&str]) -> Output {
    // `ward import cedar` runs `ward-import-cedar` from beside `ward`:
    // scripts/test builds it first. Missing, it is a failure, not a skip.
    let importer = Path::new(env!("CARGO_BIN_EXE_ward")).with_file_name("ward-import-cedar");
    assert!(
        importer.is_file(),
        "`{}` is missing: build it with `cargo build -p ward-import` (scripts/test does)",
        importer.display()
    );
    Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("WARD_IMPORT_CEDAR")
        .output()
        .expect("run ward")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `ward import cedar --schema S --policies P [EXTRA…] -o OUT`.
fn import(schema: &str, policies: &str, extra: &[&str], out: &Path) -> Output {
    let mut args = vec!["import", "cedar", "--schema", schema, "--policies", policies];
    args.extend_from_slice(extra);
    args.extend(["-o", out.to_str().unwrap()]);
    ward(&args)
}

/// `ward eval` of one request (JSON text, written into `dir`) against the
/// imported folder `out` and its `entities.json`, with `extra` arguments.
fn eval(dir: &Path, out: &Path, extra: &[&str], request: &str) -> Output {
    let req = write(dir, "request.json", request);
    let entities = out.join("entities.json");
    let mut args = vec!["eval", "--policy", out.to_str().unwrap(), "--entities", entities.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend(["--request", &req]);
    ward(&args)
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

/// Cedar's entity format as Cedar's CLI takes it: string and `__entity`
/// references, `__extn` values, `Action` entities that agree with the schema.
const ENTITIES: &str = r#"[
  {"uid": {"type": "Department", "id": "cardio"}, "attrs": {}, "parents": []},
  {"uid": {"type": "Staff", "id": "ana"},
   "attrs": {"name": "Ana", "level": 3, "roles": ["clinician"], "on_call": false,
             "shift": {"__extn": {"fn": "duration", "arg": "8h"}}},
   "parents": [{"__entity": {"type": "Department", "id": "cardio"}}]},
  {"uid": {"type": "Staff", "id": "bo"},
   "attrs": {"name": "Bo", "level": 1, "roles": ["clinician"], "on_call": true},
   "parents": ["Department::\"cardio\""]},
  {"uid": {"type": "Patient", "id": "p1"},
   "attrs": {"vip": false, "ward_name": "B", "consent": ["care"], "home": {"street": "1 rue", "city": "Lyon"}},
   "parents": [{"type": "Department", "id": "cardio"}]},
  {"uid": {"type": "Action", "id": "read"}, "attrs": {}, "parents": []}
]"#;

fn request(principal: &str, action: &str) -> String {
    format!(
        r#"{{"principal": "Staff::\"{principal}\"", "action": "Action::\"{action}\"", "resource": {{"type": "Patient", "id": "p1"}},
            "context": {{"reason": "check-up", "urgent": false, "at": {{"fn": "datetime", "arg": "2025-10-15"}},
                         "fee": {{"__extn": {{"fn": "decimal", "arg": "20.00"}}}}, "ip": {{"fn": "ip", "arg": "10.1.2.3"}}}}}}"#
    )
}

#[test]
fn imported_files_check_format_and_decide_cedar_requests_unchanged() {
    let dir = scratch("import_clinic");
    let entities = write(&dir, "cedar-entities.json", ENTITIES);
    let out_dir = dir.join("ward");
    let out = import(SCHEMA, POLICIES, &["--entities", &entities], &out_dir);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    // The report names each rewrite and the one difference in meaning.
    for expected in [
        "policy4: `if … then … else` rewritten",
        "policy2: ip(\"10.0.0.0/8\") is a range: written cidr(…)",
        "policy6: `resource has author` written `resource is Note`",
        "policy2: annotation @advice has no meaning in Ward",
        "a `forbid` whose condition fails with an error applies in Ward",
    ] {
        assert!(stdout.contains(expected), "`{expected}` missing from:\n{stdout}");
    }
    for file in ["schema.ward", "policy.ward", "entities.json"] {
        assert!(out_dir.join(file).is_file(), "{file} not written");
    }
    let dir_arg = out_dir.to_str().unwrap();
    let check = ward(&["check", dir_arg]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
    let fmt = ward(&["fmt", "--check", dir_arg]);
    assert_eq!(fmt.status.code(), Some(0), "{}{}", text(&fmt.stdout), text(&fmt.stderr));

    // Cedar's request forms, decided by the imported policy.
    let decide = |principal: &str, action: &str| -> String {
        let out = eval(&dir, &out_dir, &[], &request(principal, action));
        let stdout = text(&out.stdout);
        assert!(out.status.success() || out.status.code() == Some(1), "{stdout}{}", text(&out.stderr));
        stdout
    };
    // staff-read: level 3, a clinician, the patient in cardio.
    let ana = decide("ana", "read");
    assert!(ana.contains("\"effect\":\"allow\"") && ana.contains("clinic.staff-read"), "{ana}");
    // Level 1: no permit applies.
    let bo = decide("bo", "read");
    assert!(bo.contains("\"effect\":\"deny\""), "{bo}");
}

/// Cedar's entity tags, from schema to decision: `tags T`, `hasTag` and
/// `getTag` imported, the entity file's tags loaded and decided on.
#[test]
fn entity_tags_are_imported_and_decided() {
    let dir = scratch("import_tags_decided");
    let schema = write(
        &dir,
        "s.cedarschema",
        "entity User tags Set<String>; entity Doc = { owner: User } tags String;\n\
         action view appliesTo { principal: User, resource: Doc };",
    );
    let policies = write(
        &dir,
        "p.cedar",
        "permit (principal, action == Action::\"view\", resource)\n\
         when { resource.hasTag(\"team\") && principal.hasTag(\"teams\") &&\n\
                principal.getTag(\"teams\").contains(resource.getTag(\"team\")) };",
    );
    let entities = write(
        &dir,
        "e.json",
        r#"[{"uid": "User::\"ana\"", "attrs": {}, "parents": [], "tags": {"teams": ["cx"]}},
            {"uid": "User::\"bo\"", "attrs": {}, "parents": []},
            {"uid": "Doc::\"d\"", "attrs": {"owner": "User::\"ana\""}, "parents": [], "tags": {"team": "cx"}}]"#,
    );
    let out_dir = dir.join("ward");
    let out = import(&schema, &policies, &["--entities", &entities], &out_dir);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let written = std::fs::read_to_string(out_dir.join("policy.ward")).unwrap();
    assert!(written.contains("principal.get_tag(\"teams\").contains(resource.get_tag(\"team\"))"), "{written}");
    let decide = |principal: &str| -> String {
        let request = format!(
            r#"{{"principal": "User::\"{principal}\"", "action": "Action::\"view\"", "resource": "Doc::\"d\"", "context": {{}}}}"#
        );
        text(&eval(&dir, &out_dir, &[], &request).stdout)
    };
    assert!(decide("ana").contains("\"effect\":\"allow\""), "{}", decide("ana"));
    assert!(decide("bo").contains("\"effect\":\"deny\""), "{}", decide("bo"));
}

/// Tags on an entity type that declares none are refused, naming the
/// entity and the tag, never dropped.
#[test]
fn entity_tags_in_the_data_are_refused_naming_the_entity() {
    let dir = scratch("import_tags");
    let entities = write(
        &dir,
        "e.json",
        r#"[{"uid": {"type": "Department", "id": "cardio"}, "attrs": {}, "parents": [], "tags": {"cost_centre": "x"}}]"#,
    );
    let out_dir = dir.join("ward");
    let out = import(SCHEMA, POLICIES, &["--entities", &entities], &out_dir);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Department::\"cardio\"") && stderr.contains("cost_centre"), "{stderr}");
    assert!(!out_dir.join("entities.json").exists());
}

#[test]
fn what_cannot_be_imported_writes_nothing() {
    let dir = scratch("import_refused");
    let schema = write(
        &dir,
        "s.cedarschema",
        "entity Doc; entity User; action view appliesTo { principal: User, resource: Doc };",
    );
    let policies = write(
        &dir,
        "p.cedar",
        "permit(principal, action, resource) when { 2 * 3 == 6 };\n\
         permit(principal, action, resource) when { ip(\"10.0.0.1\").isMulticast() };",
    );
    let out_dir = dir.join("ward");
    let out = import(&schema, &policies, &[], &out_dir);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("isMulticast") && stderr.contains("multiplication"), "{stderr}");
    assert!(stderr.contains("2 construct(s) cannot be imported; nothing was written"), "{stderr}");
    assert!(!out_dir.exists());
}

#[test]
fn existing_files_are_kept_unless_forced() {
    let dir = scratch("import_force");
    let out_dir = dir.join("ward");
    std::fs::create_dir_all(&out_dir).unwrap();
    write(&out_dir, "policy.ward", "// mine\n");
    let args = ["import", "cedar", "--schema", SCHEMA, "--policies", POLICIES, "-o", out_dir.to_str().unwrap()];
    let out = ward(&args);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("exists (pass --force to overwrite)"));
    assert_eq!(std::fs::read_to_string(out_dir.join("policy.ward")).unwrap(), "// mine\n");
    let mut forced = args.to_vec();
    forced.push("--force");
    let out = ward(&forced);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(std::fs::read_to_string(out_dir.join("policy.ward")).unwrap().contains("policy clinic"));
}

#[test]
fn a_missing_importer_is_a_clear_error() {
    let dir = scratch("import_missing");
    let out = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args(["import", "cedar", "--schema", SCHEMA, "--policies", POLICIES, "-o", dir.join("w").to_str().unwrap()])
        .env("WARD_IMPORT_CEDAR", dir.join("no-such-program"))
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot run") && stderr.contains("cargo build -p ward-import"), "{stderr}");
}

#[test]
fn templates_and_cedar_links_are_imported_and_decide() {
    let dir = scratch("import_templates");
    let schema = write(
        &dir,
        "s.cedarschema",
        "entity User; entity Folder in [Folder]; entity Doc in [Folder];\n\
         action view appliesTo { principal: User, resource: [Doc, Folder] };",
    );
    let policies = write(
        &dir,
        "p.cedar",
        "@id(\"share\")\npermit(principal == ?principal, action == Action::\"view\", resource in ?resource);",
    );
    // Cedar CLI's field names, the template named by its @id.
    let links = write(
        &dir,
        "links.json",
        r#"[{"template_id": "share", "link_id": "alice-f1", "args": {"?principal": "User::\"alice\"", "?resource": "Folder::\"f1\""}}]"#,
    );
    let entities = write(
        &dir,
        "entities.json",
        r#"[{"uid": {"type": "User", "id": "alice"}, "attrs": {}, "parents": []},
            {"uid": {"type": "User", "id": "bob"}, "attrs": {}, "parents": []},
            {"uid": {"type": "Folder", "id": "f1"}, "attrs": {}, "parents": []},
            {"uid": {"type": "Doc", "id": "d1"}, "attrs": {}, "parents": [{"type": "Folder", "id": "f1"}]}]"#,
    );
    let out_dir = dir.join("ward");
    let out = import(&schema, &policies, &["--entities", &entities, "--links", &links], &out_dir);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let policy = std::fs::read_to_string(out_dir.join("policy.ward")).unwrap();
    assert!(policy.contains("@template") && policy.contains("resource in ?resource"), "{policy}");
    let ward_links = out_dir.join("links.json");
    let decide = |principal: &str| {
        let request = format!(
            r#"{{"principal": "User::\"{principal}\"", "action": "Action::\"view\"", "resource": "Doc::\"d1\"", "context": {{}}}}"#
        );
        text(&eval(&dir, &out_dir, &["--links", ward_links.to_str().unwrap()], &request).stdout)
    };
    let alice = decide("alice");
    assert!(alice.contains("\"effect\":\"allow\"") && alice.contains("p.share[alice-f1]"), "{alice}");
    assert!(decide("bob").contains("\"effect\":\"deny\""));

    // A link naming no template: nothing written, the link named.
    let bad = write(&dir, "bad.json", r#"[{"template_id": "nope", "new_id": "x", "values": {}}]"#);
    let out = import(&schema, &policies, &["--links", &bad], &dir.join("w2"));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("links[0]") && stderr.contains("nope"), "{stderr}");
    assert!(!dir.join("w2").exists());
}

/// A namespaced Cedar application, from import to decisions on Cedar's own
/// request and entity files (`Tax::Action::"viewDocument"`,
/// `Tax::Document::"d1"`): the imported files check and format, and decide.
#[test]
fn a_namespaced_application_imports_and_decides_cedar_requests() {
    let dir = scratch("import_namespaces");
    let schema = write(
        &dir,
        "tax.cedarschema",
        "namespace Tax {\n\
           entity Org;\n\
           entity Professional in [Org];\n\
           entity Document { owner: Org };\n\
           action viewDocument appliesTo { principal: Professional, resource: Document };\n\
         }",
    );
    let policies = write(
        &dir,
        "tax.cedar",
        "permit(principal, action == Tax::Action::\"viewDocument\", resource is Tax::Document)\n\
           when { principal in resource.owner };",
    );
    let entities = write(
        &dir,
        "entities.json",
        r#"[{"uid": {"type": "Tax::Org", "id": "firm"}, "attrs": {}, "parents": []},
            {"uid": {"type": "Tax::Professional", "id": "ann"}, "attrs": {}, "parents": [{"type": "Tax::Org", "id": "firm"}]},
            {"uid": {"type": "Tax::Professional", "id": "bob"}, "attrs": {}, "parents": []},
            {"uid": {"type": "Tax::Document", "id": "d1"}, "attrs": {"owner": {"__entity": {"type": "Tax::Org", "id": "firm"}}}, "parents": []},
            {"uid": {"type": "Tax::Action", "id": "viewDocument"}, "attrs": {}, "parents": []}]"#,
    );
    let out_dir = dir.join("ward");
    let out = import(&schema, &policies, &["--entities", &entities], &out_dir);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let written = std::fs::read_to_string(out_dir.join("schema.ward")).unwrap();
    assert!(written.contains("namespace Tax {"), "{written}");
    let dir_arg = out_dir.to_str().unwrap();
    let check = ward(&["check", dir_arg]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
    let fmt = ward(&["fmt", "--check", dir_arg]);
    assert_eq!(fmt.status.code(), Some(0), "{}{}", text(&fmt.stdout), text(&fmt.stderr));
    for (principal, effect) in [("ann", "allow"), ("bob", "deny")] {
        let request = format!(
            r#"{{"principal": "Tax::Professional::\"{principal}\"", "action": "Tax::Action::\"viewDocument\"",
                "resource": {{"type": "Tax::Document", "id": "d1"}}, "context": {{}}}}"#
        );
        let out = eval(&dir, &out_dir, &[], &request);
        let stdout = text(&out.stdout);
        assert!(stdout.contains(&format!("\"effect\":\"{effect}\"")), "{principal}: {stdout}{}", text(&out.stderr));
    }
}
