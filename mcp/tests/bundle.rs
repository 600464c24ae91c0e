//! `ward mcp-proxy --bundle`: the gateway runs from a signed bundle alone,
//! reading `@resource_from` from the compiled program (no sources needed).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;

use serde_json::{Map, json};
use ward_mcp::gate::{Gate, GateConfig};
use ward_runtime::EntityUid;
use ward_runtime::bundle::ed25519_dalek::SigningKey;
use ward_runtime::bundle::{Bundle, verifying_key_text};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/mcp-gateway")
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ward-mcp-bundle-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The example policy compiled, written as a bundle signed by `signer`.
fn write_bundle(dir: &std::path::Path, signer: &SigningKey) -> PathBuf {
    let from_sources =
        Gate::new(&GateConfig { policy: vec![examples()], agent: "support_bot".into(), ..GateConfig::default() })
            .unwrap();
    let program = from_sources.engine().loaded().program().clone();
    let path = dir.join("gateway.bundle");
    std::fs::write(&path, Bundle::new(program, &[], 0).to_bytes(Some(signer)).unwrap()).unwrap();
    path
}

#[test]
fn a_signed_bundle_carries_resource_from_and_a_foreign_key_is_refused() {
    let dir = temp("signed");
    let signer = SigningKey::from_bytes(&[7; 32]);
    let bundle = write_bundle(&dir, &signer);
    let public = dir.join("signer.pub");
    std::fs::write(&public, verifying_key_text(&signer.verifying_key())).unwrap();

    let gate = Gate::new(&GateConfig {
        bundle: Some(bundle.clone()),
        trusted_key: Some(public),
        agent: "support_bot".into(),
        ..GateConfig::default()
    })
    .unwrap();
    let arguments: Map<String, serde_json::Value> =
        json!({"customer_id": "c-17"}).as_object().cloned().unwrap_or_default();
    let request = gate.request(gate.agent().unwrap(), "lookup_customer", &arguments, "s1").unwrap();
    assert_eq!(request.resource, EntityUid::new("Customer", "c-17"), "@resource_from read from the bundle");

    let other = SigningKey::from_bytes(&[8; 32]);
    let foreign = dir.join("other.pub");
    std::fs::write(&foreign, verifying_key_text(&other.verifying_key())).unwrap();
    let refused = Gate::new(&GateConfig {
        bundle: Some(bundle),
        trusted_key: Some(foreign),
        agent: "support_bot".into(),
        ..GateConfig::default()
    });
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("bundle") && message.to_lowercase().contains("sign"), "{message}");
}

#[test]
fn policy_and_bundle_together_or_neither_are_refused() {
    let neither = Gate::new(&GateConfig { agent: "support_bot".into(), ..GateConfig::default() });
    assert!(neither.err().is_some_and(|e| e.to_string().contains("--bundle")));
    let dir = temp("both");
    let bundle = write_bundle(&dir, &SigningKey::from_bytes(&[9; 32]));
    let both = Gate::new(&GateConfig {
        policy: vec![examples()],
        bundle: Some(bundle),
        agent: "support_bot".into(),
        ..GateConfig::default()
    });
    assert!(both.err().is_some_and(|e| e.to_string().contains("one of them")));
}

/// A `@verified` context field (an approval) is never taken from the agent's
/// arguments, which a prompt injection controls; the gateway's own
/// configuration (`--context`) may set it.
#[test]
fn an_argument_naming_a_verified_field_is_refused() {
    let dir = temp("verified");
    std::fs::write(
        dir.join("policy.ward"),
        r#"schema pay {
  entity Agent
  entity Invoice
  entity User
  action pay by [Agent] on [Invoice] with { amount: Int }
  context { @verified approved_by?: String }
}

agent bot: Agent {
  owner "finance"
  created 2026-01-01
  expires 2030-01-01
}

policy payouts {
  @id("approved-payments")
  permit principal: Agent, action: pay
    when context has approved_by && context.approved_by == "cfo"
}
"#,
    )
    .unwrap();
    let config = GateConfig { policy: vec![dir.clone()], agent: "bot".into(), ..GateConfig::default() };
    let gate = Gate::new(&config).unwrap();
    let args = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
    let refused = gate.request(gate.agent().unwrap(), "pay", &args(json!({"amount": 5, "approved_by": "cfo"})), "s1");
    let message = refused.unwrap_err();
    assert!(message.contains("`approved_by`") && message.contains("@verified"), "{message}");
    // Without it the call is decided (and, without an approval, denied).
    let request = gate.request(gate.agent().unwrap(), "pay", &args(json!({"amount": 5})), "s1").unwrap();
    assert_eq!(gate.engine().decide(&request).effect, ward_runtime::Effect::Deny);
}

/// `--links`: a tool granted only through a template's link is listed and
/// allowed for the linked agent, and refused for another; a bad links file
/// stops the gateway, naming the link.
#[test]
fn template_links_grant_tools_to_the_linked_agent() {
    let dir = temp("links");
    std::fs::write(
        dir.join("policy.ward"),
        r#"schema tools {
  entity Agent
  entity McpServer
  action search by [Agent] on [McpServer]
}

agent bot: Agent {
  owner "search"
  created 2026-01-01
  expires 2030-01-01
}

agent other: Agent {
  owner "search"
  created 2026-01-01
  expires 2030-01-01
}

policy grants {
  @id("tool")
  @template
  permit principal == ?principal, action: search
}
"#,
    )
    .unwrap();
    let links = dir.join("links.json");
    std::fs::write(
        &links,
        r#"[{"template_id": "grants.tool", "new_id": "bot-search", "values": {"?principal": "Agent::\"bot\""}}]"#,
    )
    .unwrap();
    let args = Map::new();
    for (agent, allowed) in [("bot", true), ("other", false)] {
        let config = GateConfig {
            policy: vec![dir.clone()],
            links: Some(links.clone()),
            agent: agent.into(),
            ..GateConfig::default()
        };
        let gate = Gate::new(&config).unwrap();
        let who = gate.agent().unwrap();
        assert_eq!(gate.may_call(who, "search", false), allowed, "{agent}");
        let request = gate.request(who, "search", &args, "s1").unwrap();
        let decision = gate.engine().decide(&request);
        assert_eq!(decision.effect == ward_runtime::Effect::Allow, allowed, "{agent}: {}", decision.to_json());
    }
    std::fs::write(&links, r#"[{"template_id": "grants.tol", "new_id": "x", "values": {}}]"#).unwrap();
    let config =
        GateConfig { policy: vec![dir.clone()], links: Some(links), agent: "bot".into(), ..GateConfig::default() };
    let refused = Gate::new(&config).err().expect("a bad links file is refused").to_string();
    assert!(refused.contains("link `x`") && refused.contains("grants.tool"), "{refused}");
}
