use std::time::Duration;
use ward_analyze::{compile_program, diff, solver::Solver};

const SCHEMA: &str = r#"
schema s {
  entity Team in [Team]
  entity User in [Team] { level: Int, region: Region, email: String, tags: Set<String>, manager?: User }
  entity Doc in [Team] { owner: User, region: Region, secret: String }
  enum Region { eu, us }
  action read, delete by [User] on [Doc]
  context { mfa: Bool, amount: Decimal, approved_by?: User }
}
"#;

fn prog(policy: &str) -> std::sync::Arc<ward_compiler::ir::Program> {
    compile_program(&[("schema.ward".into(), SCHEMA.into()), ("policy.ward".into(), policy.into())]).unwrap()
}

#[test]
fn finds_a_widening() {
    let solver = Solver::locate(None, Duration::from_secs(10)).unwrap();
    let old = prog(
        r#"policy p {
  @id("read") permit principal: User, action: read, resource: Doc when principal.level >= 3 && resource.region == principal.region
  @id("no-mfa") forbid action: delete unless context.mfa
  mask resource.secret with redact on action: read
}"#,
    );
    let new = prog(
        r#"policy p {
  @id("read") permit principal: User, action: read, resource: Doc when principal.level >= 2 && resource.region == principal.region
  @id("no-mfa") forbid action: delete unless context.mfa
  mask resource.secret with redact on action: read when principal.level < 5
}"#,
    );
    let report = diff::diff(&solver, old, new).unwrap();
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    let read = report.actions.iter().find(|a| a.action == "read").unwrap();
    assert!(read.widened.found().is_some(), "{:?}", read.widened);
}
