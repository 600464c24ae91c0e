//! The README's embedding example, kept compiling and true.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ward::{Engine, EntityUid, Request};

#[test]
fn readme_embedding_example_decides() {
    let root = env!("CARGO_MANIFEST_DIR");
    let entities = serde_json::json!([
        {"uid": {"type": "User", "id": "dana"}, "attrs": {"level": 3}, "parents": []},
        {"uid": {"type": "Doc", "id": "d1"}, "attrs": {"owner": {"__entity": {"type": "User", "id": "dana"}}}, "parents": []}
    ]);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("embedding");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("policy.ward"),
        "schema s {\n  entity User { level: Int }\n  entity Doc { owner: User }\n  action read by [User] on [Doc] with { mfa: Bool }\n}\n\npolicy docs {\n  @id(\"owners-read\")\n  permit principal: User, action: read, resource: Doc\n    when resource.owner == principal && context.mfa\n}\n",
    )
    .unwrap();
    let _ = root;
    let engine = Engine::from_paths(&[&dir], &entities).unwrap();
    let request = Request::new(EntityUid::new("User", "dana"), "read", EntityUid::new("Doc", "d1"))
        .with_context(serde_json::json!({ "mfa": true }));
    let decision = engine.decide(&request);
    assert!(decision.is_allowed(), "{}", decision.explain());
    assert_eq!(decision.reasons[0].rule.as_deref(), Some("docs.owners-read"));
    let denied = engine.decide(&request.clone().with_context(serde_json::json!({ "mfa": false })));
    assert!(!denied.is_allowed());
    assert!(denied.explain().contains("no permit applies"));

    // The README's builder example: the same decisions, with no `Request`.
    let read = engine.action("read").unwrap(); // once per process
    let checked = engine.request(&read).principal("User", "dana").resource("Doc", "d1").context("mfa", true).check();
    assert_eq!(checked.effect(), ward::Effect::Allow, "{}", checked.decision().explain());
    assert_eq!(checked.decision(), decision);
    let (user, doc, mfa) =
        (engine.entity_type("User").unwrap(), engine.entity_type("Doc").unwrap(), read.field("mfa").unwrap());
    let resolved = engine.request(&read).principal(&user, "dana").resource(&doc, "d1").context(&mfa, true).check();
    assert_eq!(resolved.decision(), decision);
    let denied = engine.request(&read).principal(&user, "dana").resource(&doc, "d1").context(&mfa, false).decide();
    assert!(!denied.is_allowed());
    let denied = engine.request(&read).principal("User", "dana").resource("Doc", "d1").context("mfa", false).decide();
    assert!(!denied.is_allowed());
    let wrong = engine.request("read").principal("User", "dana").resource("Doc", "d1").context("mfa", "yes").decide();
    assert!(wrong.explain().contains("context.mfa: expected a boolean, found a string"), "{}", wrong.explain());
    let json_text = r#"{"principal": {"type": "User", "id": "dana"}, "action": "read", "resource": {"type": "Doc", "id": "d1"}, "context": {"mfa": true}}"#;
    let from_text = engine.check_json_at(json_text, engine.clock().now_ms()).unwrap();
    assert_eq!(from_text.decision(), decision);
}
