//! Generated policy sets of any size, written twice — in Ward and in Cedar —
//! with the same meaning, for the scaling curves (latency, cold compile
//! time and memory against the number of rules).
//!
//! Rule `k` has one of four shapes, in turn: a per-document grant to one
//! user; a team's read/write grant on one document, conditioned on levels; a
//! team's share grant on a folder (hierarchy), conditioned on ownership; a
//! team's write ban on one document. A quarter of the rules name a folder,
//! not a document, so no index answers every request alone.
//!
//! Folders form a tree (each folder's parent drawn among the earlier ones),
//! one in twenty with a second parent: a document is in a handful of
//! folders, as many as the tree is deep (logarithmic in the folders).
//! [`Folders::Dense`] is the earlier hierarchy, where every earlier folder
//! is a parent with probability 0.05: a folder's ancestors then grow with
//! the number of folders (about 100 on average at 10,000 rules, past
//! Ward's limit of 1,024 per entity at 100,000), so the grants that apply
//! to one request grow with the policy set itself.

use std::fmt::Write as _;

use serde_json::{Value as Json, json};

use crate::generate::{Entity, GenRequest, Uid};
use ward_testkit::SplitMix64 as Rng;

/// The rule counts of the scaling curves.
pub const RULE_COUNTS: [usize; 5] = [10, 100, 1_000, 10_000, 100_000];

/// How the generated folders nest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Folders {
    /// A tree, with an occasional second parent.
    #[default]
    Tree,
    /// Every earlier folder a parent with probability 0.05.
    Dense,
}

const USERS: usize = 100;
const TEAMS: usize = 20;
/// Rules per Ward policy block.
const PER_POLICY: usize = 500;

pub const WARD_SCHEMA: &str = r#"schema scale {
  entity Team
  entity User in [Team] { level: Int }
  entity Folder in [Folder]
  entity Document in [Folder] { owner: User, level: Int }
  action read, write, share by User on Document
}
"#;

pub const CEDAR_SCHEMA: &str = r#"entity Team;
entity User in [Team] { level: Long };
entity Folder in [Folder];
entity Document in [Folder] { owner: User, level: Long };
action read, write, share appliesTo { principal: [User], resource: [Document] };
"#;

/// A generated policy set in both languages, its entities and requests.
#[derive(Debug, Clone)]
pub struct ScaleSet {
    pub rules: usize,
    pub ward_policy: String,
    pub cedar_policy: String,
    pub entities: Vec<Entity>,
    pub requests: Vec<GenRequest>,
}

impl ScaleSet {
    pub fn generate(rules: usize, seed: u64, requests: usize) -> ScaleSet {
        ScaleSet::generate_with(rules, seed, requests, Folders::Tree)
    }

    pub fn generate_with(rules: usize, seed: u64, requests: usize, nesting: Folders) -> ScaleSet {
        let mut rng = Rng::new(seed ^ (rules as u64).rotate_left(17));
        let docs = rules.div_ceil(4).max(4);
        let folders = (docs / 8).max(1);
        let mut ward = String::new();
        let mut cedar = String::new();
        for k in 0..rules {
            if k % PER_POLICY == 0 {
                if k > 0 {
                    ward.push_str("}\n");
                }
                let _ = writeln!(ward, "policy rules_{} {{", k / PER_POLICY);
            }
            let j = k / 4;
            let (u, t, f) = (k % USERS, k % TEAMS, j % folders);
            let (w, c) = match k % 4 {
                0 => (
                    format!(r#"permit principal == User::"u{u}", action == read, resource == Document::"d{j}""#),
                    format!(
                        r#"permit (principal == User::"u{u}", action == Action::"read", resource == Document::"d{j}");"#
                    ),
                ),
                1 => (
                    format!(
                        r#"permit principal in Team::"t{t}", action in [read, write], resource == Document::"d{j}" when resource.level <= principal.level"#
                    ),
                    format!(
                        r#"permit (principal in Team::"t{t}", action in [Action::"read", Action::"write"], resource == Document::"d{j}") when {{ resource.level <= principal.level }};"#
                    ),
                ),
                2 => (
                    format!(
                        r#"permit principal in Team::"t{t}", action == share, resource in Folder::"f{f}" when resource.owner == principal"#
                    ),
                    format!(
                        r#"permit (principal in Team::"t{t}", action == Action::"share", resource in Folder::"f{f}") when {{ resource.owner == principal }};"#
                    ),
                ),
                _ => (
                    format!(
                        r#"forbid principal in Team::"t{t}", action == write, resource == Document::"d{j}" when principal.level < 2"#
                    ),
                    format!(
                        r#"forbid (principal in Team::"t{t}", action == Action::"write", resource == Document::"d{j}") when {{ principal.level < 2 }};"#
                    ),
                ),
            };
            let _ = writeln!(ward, "  {w}");
            let _ = writeln!(cedar, "{c}");
        }
        if rules > 0 {
            ward.push_str("}\n");
        }

        let mut entities = Vec::new();
        let teams: Vec<Uid> = (0..TEAMS).map(|t| Uid::new("Team", format!("t{t}"))).collect();
        for t in &teams {
            entities.push(Entity::new(t.clone()));
        }
        for u in 0..USERS {
            let parents: Vec<Uid> = teams.iter().filter(|_| rng.chance(0.1)).cloned().collect();
            entities.push(
                Entity::new(Uid::new("User", format!("u{u}"))).attr("level", json!(rng.below(10))).parents(parents),
            );
        }
        for f in 0..folders {
            let parents: Vec<usize> = match nesting {
                Folders::Dense => (0..f).filter(|_| rng.chance(0.05)).collect(),
                Folders::Tree if f == 0 => Vec::new(),
                Folders::Tree => {
                    let mut ps = vec![rng.below(f)];
                    if rng.chance(0.05) {
                        let second = rng.below(f);
                        if !ps.contains(&second) {
                            ps.push(second);
                        }
                    }
                    ps
                }
            };
            let parents = parents.into_iter().map(|p| Uid::new("Folder", format!("f{p}"))).collect();
            entities.push(Entity::new(Uid::new("Folder", format!("f{f}"))).parents(parents));
        }
        for d in 0..docs {
            let owner = Uid::new("User", format!("u{}", rng.below(USERS)));
            entities.push(
                Entity::new(Uid::new("Document", format!("d{d}")))
                    .attr("owner", owner.reference())
                    .attr("level", json!(rng.below(10)))
                    .parents(vec![Uid::new("Folder", format!("f{}", rng.below(folders)))]),
            );
        }
        let actions = ["read", "write", "share"];
        let requests = (0..requests)
            .map(|_| GenRequest {
                principal: Uid::new("User", format!("u{}", rng.below(USERS))),
                action: actions.get(rng.below(3)).copied().unwrap_or("read").to_string(),
                resource: Uid::new("Document", format!("d{}", rng.below(docs))),
            })
            .collect();
        ScaleSet { rules, ward_policy: ward, cedar_policy: cedar, entities, requests }
    }

    pub fn entities_json(&self) -> Json {
        Json::Array(self.entities.iter().map(Entity::json).collect())
    }

    /// The Ward sources, as `(path, text)`.
    pub fn ward_files(&self) -> [(&str, &str); 2] {
        [("schema.ward", WARD_SCHEMA), ("policy.ward", self.ward_policy.as_str())]
    }

    pub fn cedar_schema() -> Result<cedar_policy::Schema, String> {
        cedar_policy::Schema::from_cedarschema_str(CEDAR_SCHEMA)
            .map(|(s, _)| s)
            .map_err(|e| format!("cedar schema: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_get_every_rule() {
        let s = ScaleSet::generate(100, 1, 10);
        assert_eq!(s.cedar_policy.lines().count(), 100);
        assert_eq!(s.ward_policy.lines().filter(|l| l.starts_with("  ")).count(), 100);
        assert_eq!(s.requests.len(), 10);
    }
}
