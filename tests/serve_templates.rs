//! `ward serve` with template links: decided through the links file, and
//! the links file reloaded on change like the entities (a bad one refused
//! while the current links keep serving).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[path = "support/serve.rs"]
mod support;

use support::*;

const POLICY: &str = r#"schema docs {
  entity User
  entity Folder
  entity Doc in [Folder]
  action view by [User] on [Doc]
}

policy sharing {
  @id("share")
  @template
  permit principal == ?principal, action: view, resource in ?resource
}
"#;

fn link(user: &str) -> String {
    format!(
        r#"[{{"template_id": "sharing.share", "new_id": "{user}-f", "values": {{"?principal": "User::\"{user}\"", "?resource": "Folder::\"f\""}}}}]"#
    )
}

fn view(user: &str) -> String {
    serde_json::json!({"principal": {"type": "User", "id": user}, "action": "view",
                       "resource": {"type": "Doc", "id": "d"}, "context": {}})
    .to_string()
}

#[test]
fn serves_and_reloads_links() {
    let dir = scratch("serve_templates");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/policy.ward"), POLICY).unwrap();
    let bundle = dir.join("p.bundle");
    let out = ward(&["build", dir.join("src").to_str().unwrap(), "-o", bundle.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(
        dir.join("entities.json"),
        r#"[{"uid": {"type": "Folder", "id": "f"}}, {"uid": {"type": "Doc", "id": "d"}, "parents": [{"type": "Folder", "id": "f"}]}]"#,
    )
    .unwrap();
    std::fs::write(dir.join("links.json"), link("alice")).unwrap();
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[policy]\nbundle = \"p.bundle\"\nentities = \"entities.json\"\n\
         links = \"links.json\"\nwatch_interval_ms = 50\n\n\
         [[tokens]]\nname = \"all\"\nsha256 = \"{}\"\nscopes = [\"decide\"]\n",
        sha256_hex(TOKEN_ALL)
    );
    std::fs::write(dir.join("ward.toml"), config).unwrap();
    let s = Server::start(&["--config", dir.join("ward.toml").to_str().unwrap()]);
    let decide = |user: &str| s.call("POST", "/v1/decide", Some(TOKEN_ALL), Some(&view(user))).json();
    let d = decide("alice");
    assert_eq!(d["effect"], "allow", "{d}");
    assert_eq!(d["reasons"][0]["rule"], "sharing.share[alice-f]", "{d}");
    assert_eq!(decide("bob")["effect"], "deny");
    // A new links file is picked up like new entities.
    std::fs::write(dir.join("links.json"), link("bob")).unwrap();
    s.wait_for("the watcher to load the new links", |v| v["version"] == 2);
    assert_eq!(decide("bob")["effect"], "allow");
    assert_eq!(decide("alice")["effect"], "deny");
    // A bad one is refused, naming the link; bob's link keeps serving.
    std::fs::write(dir.join("links.json"), r#"[{"template_id": "sharing.nope", "new_id": "x", "values": {}}]"#)
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !s.stderr().contains("refused, still serving version 2") {
        assert!(std::time::Instant::now() < deadline, "{}", s.stderr());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(s.stderr().contains("link `x`: no template `sharing.nope`"), "{}", s.stderr());
    assert_eq!(decide("bob")["effect"], "allow");
}
