//! A generated Ward project of any size, for benchmarks: a schema of entity
//! types, enums and actions, and `rules` rules spread over policy files of
//! 100 rules each. Deterministic (no randomness), so runs compare.

/// The schema file's text.
pub fn schema() -> String {
    let mut s = String::from("schema generated {\n");
    s.push_str("  entity Team\n  entity Role\n");
    s.push_str("  entity User in [Team, Role] { level: Int, region: Region, clearance: Level, teams: Set<String>, manager?: User }\n");
    s.push_str("  entity Agent in [Team] { owner: User, clearance: Level, scopes: Set<String> }\n");
    for r in 0..10 {
        s.push_str(&format!(
            "  entity Resource{r} in [Team] {{ owner: User, region: Region, tier: Tier, level: Level, size: Int, name: String, tags: Set<String> }}\n"
        ));
    }
    s.push_str("  enum Region { eu, us, apac }\n  enum Tier { free, pro, enterprise }\n");
    s.push_str("  enum Level ordered { public, internal, confidential, restricted }\n");
    for a in 0..50 {
        s.push_str(&format!("  action act{a} by [User, Agent] on [Resource{}]\n", a % 10));
    }
    s.push_str("  context { @verified mfa: Bool, amount: Int, ip: Ip, reason?: String }\n}\n");
    s
}

/// Rule `i`, with its condition varied by `variant` (so an edit can change one rule).
pub fn rule(i: usize, variant: usize) -> String {
    let action = i % 50;
    let resource = action % 10;
    let principal = if i.is_multiple_of(3) { "Agent" } else { "User" };
    let effect = if i.is_multiple_of(7) { "forbid" } else { "permit" };
    let threshold = 100 + i + variant;
    let condition = if effect == "forbid" {
        format!("context.amount > {threshold} && !context.mfa")
    } else {
        match i % 5 {
            0 => format!("principal.clearance >= internal && resource.size < {threshold}"),
            1 => format!("resource.region == eu && context.amount < {threshold}"),
            2 if principal == "User" => format!("resource.owner == principal || context.amount <= {threshold}"),
            2 => format!("resource.owner == principal.owner || context.amount <= {threshold}"),
            3 => format!(
                "resource.tags.contains(\"public\") && principal in Team::\"ops\" && resource.size != {threshold}"
            ),
            _ => format!("context has reason && context.reason like \"ticket-*\" && resource.size > {threshold}"),
        }
    };
    format!(
        "  @id(\"r{i}\")\n  {effect} principal: {principal}, action: act{action}, resource: Resource{resource}\n    when {condition}\n\n"
    )
}

/// The policy files of a project of `rules` rules: (path, text).
pub fn policies(rules: usize) -> Vec<(String, String)> {
    (0..rules.div_ceil(100))
        .map(|f| {
            let mut text = format!("policy p{f} {{\n");
            for i in f * 100..((f + 1) * 100).min(rules) {
                text.push_str(&rule(i, 0));
            }
            text.push_str("}\n");
            (format!("policies/p{f}.ward"), text)
        })
        .collect()
}

/// The text of policy file `f` with rule `edited` in variant `variant`.
pub fn policy_with_edit(rules: usize, f: usize, edited: usize, variant: usize) -> String {
    let mut text = format!("policy p{f} {{\n");
    for i in f * 100..((f + 1) * 100).min(rules) {
        text.push_str(&rule(i, if i == edited { variant } else { 0 }));
    }
    text.push_str("}\n");
    text
}

/// Policy files for decision benchmarks: the first 100 rules are general
/// (two per action), the rest pin their resource to one document each —
/// the shape of real large policy sets (per-document sharing, per-user
/// grants), where each request can match only a handful of rules.
pub fn decision_policies(rules: usize) -> Vec<(String, String)> {
    (0..rules.div_ceil(100))
        .map(|f| {
            let mut text = format!("policy d{f} {{\n");
            for i in f * 100..((f + 1) * 100).min(rules) {
                if i < 100 {
                    text.push_str(&rule(i, 0));
                } else {
                    let action = i % 50;
                    let resource = action % 10;
                    text.push_str(&format!(
                        "  @id(\"shared{i}\")\n  permit principal: User, action: act{action}, resource == Resource{resource}::\"doc{i}\"\n    when principal.level >= {}\n\n",
                        i % 10
                    ));
                }
            }
            text.push_str("}\n");
            (format!("policies/d{f}.ward"), text)
        })
        .collect()
}
