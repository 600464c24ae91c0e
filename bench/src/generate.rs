//! The entity and request generator, after the Cedar paper's method: `n`
//! entities of every type, each possible link present independently with
//! probability [`LINK_P`], hierarchies kept acyclic (an entity is only put
//! in entities of the same type with a smaller index), and requests drawn
//! at random among the generated entities and the schema's actions — so a
//! mix of allows and denies.
//!
//! One [`Workload`] is one random hierarchy and its requests. It is emitted
//! as Cedar JSON entities (which Ward loads as they are) and, per request,
//! as the `input` document each Rego policy reads.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value as Json, json};

use crate::apps::App;
use ward_testkit::SplitMix64 as Rng;

/// Probability of each possible link (the paper's 0.05).
pub const LINK_P: f64 = 0.05;

/// The sizes the paper plots (a subset of its 5…50).
pub const SIZES: [usize; 4] = [5, 10, 20, 50];

/// An entity reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uid {
    pub ty: String,
    pub id: String,
}

impl Uid {
    pub fn new(ty: &str, id: impl Into<String>) -> Uid {
        Uid { ty: ty.to_string(), id: id.into() }
    }

    /// `{"type": …, "id": …}`.
    pub fn json(&self) -> Json {
        json!({"type": self.ty, "id": self.id})
    }

    /// An entity reference inside attributes: `{"__entity": {…}}`.
    pub fn reference(&self) -> Json {
        json!({"__entity": self.json()})
    }

    /// Cedar's display form, `Type::"id"`, which the Rego policies compare.
    pub fn rego(&self) -> String {
        format!("{}::{:?}", self.ty, self.id)
    }
}

/// An entity as Cedar's JSON format has it.
#[derive(Debug, Clone)]
pub struct Entity {
    pub uid: Uid,
    pub attrs: Map<String, Json>,
    pub parents: Vec<Uid>,
}

impl Entity {
    pub(crate) fn new(uid: Uid) -> Entity {
        Entity { uid, attrs: Map::new(), parents: Vec::new() }
    }

    pub(crate) fn attr(mut self, name: &str, value: Json) -> Entity {
        self.attrs.insert(name.to_string(), value);
        self
    }

    pub(crate) fn parents(mut self, parents: Vec<Uid>) -> Entity {
        self.parents = parents;
        self
    }

    pub fn json(&self) -> Json {
        let parents: Vec<Json> = self.parents.iter().map(Uid::json).collect();
        json!({"uid": self.uid.json(), "attrs": self.attrs, "parents": parents})
    }

    fn entity_attr(&self, name: &str) -> Option<Uid> {
        let inner = self.attrs.get(name)?.get("__entity")?;
        Some(Uid::new(inner.get("type")?.as_str()?, inner.get("id")?.as_str()?))
    }

    fn entity_set_attr(&self, name: &str) -> Vec<Uid> {
        let Some(Json::Array(items)) = self.attrs.get(name) else { return Vec::new() };
        items
            .iter()
            .filter_map(|v| {
                let inner = v.get("__entity")?;
                Some(Uid::new(inner.get("type")?.as_str()?, inner.get("id")?.as_str()?))
            })
            .collect()
    }
}

/// A request: who, which action, on what (no context: none of the three
/// applications reads one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenRequest {
    pub principal: Uid,
    pub action: String,
    pub resource: Uid,
}

impl GenRequest {
    /// Cedar's (and Ward's) JSON request shape.
    pub fn json(&self) -> Json {
        json!({
            "principal": self.principal.json(),
            "action": {"type": "Action", "id": self.action},
            "resource": self.resource.json(),
            "context": {},
        })
    }
}

/// One random hierarchy of an application and requests against it.
#[derive(Debug, Clone)]
pub struct Workload {
    pub app: App,
    pub n: usize,
    pub seed: u64,
    pub entities: Vec<Entity>,
    pub requests: Vec<GenRequest>,
    /// The Rego `input` of each request, in the shape the application's `.rego` reads.
    pub rego_inputs: Vec<Json>,
}

impl Workload {
    /// `n` entities per type, `requests` requests, all drawn from `seed`.
    pub fn generate(app: App, n: usize, seed: u64, requests: usize) -> Workload {
        // Mix the application into the seed so the three apps do not share draws.
        let mut rng = Rng::new(seed ^ (app as u64).wrapping_mul(0x2545_F491_4F6C_DD1D) ^ (n as u64) << 40);
        let entities = match app {
            App::Gdrive => gdrive_entities(n, &mut rng),
            App::Github => github_entities(n, &mut rng),
            App::Tinytodo => tinytodo_entities(n, &mut rng),
        };
        let index = Index::new(&entities);
        let reqs: Vec<GenRequest> = (0..requests).map(|_| random_request(app, &index, &mut rng)).collect();
        let (key, shared) = rego_shared(app, &index);
        let rego_inputs = reqs
            .iter()
            .map(|r| {
                let mut input = rego_request(app, r, &index);
                input.insert(key.to_string(), shared.clone());
                Json::Object(input)
            })
            .collect();
        Workload { app, n, seed, entities, requests: reqs, rego_inputs }
    }

    /// The entities in Cedar's JSON entity format.
    pub fn entities_json(&self) -> Json {
        Json::Array(self.entities.iter().map(Entity::json).collect())
    }
}

/// The schema's actions of an application, with the resource type each applies to.
pub fn actions(app: App) -> &'static [(&'static str, &'static str)] {
    match app {
        App::Gdrive => &[
            ("createDocument", "Folder"),
            ("changeOwner", "Document"),
            ("share", "Document"),
            ("write", "Document"),
            ("read", "Document"),
        ],
        App::Github => &[
            ("read", "Repository"),
            ("triage", "Repository"),
            ("write", "Repository"),
            ("maintain", "Repository"),
            ("admin", "Repository"),
        ],
        App::Tinytodo => &[
            ("CreateList", "Application"),
            ("GetLists", "Application"),
            ("GetList", "List"),
            ("UpdateList", "List"),
            ("DeleteList", "List"),
            ("CreateTask", "List"),
            ("UpdateTask", "List"),
            ("DeleteTask", "List"),
            ("EditShares", "List"),
        ],
    }
}

fn uids(ty: &str, prefix: &str, n: usize) -> Vec<Uid> {
    (0..n).map(|i| Uid::new(ty, format!("{prefix}_{i}"))).collect()
}

/// Each of `candidates` with probability [`LINK_P`].
fn links(rng: &mut Rng, candidates: &[Uid]) -> Vec<Uid> {
    candidates.iter().filter(|_| rng.chance(LINK_P)).cloned().collect()
}

fn refs(items: &[Uid]) -> Json {
    Json::Array(items.iter().map(Uid::reference).collect())
}

fn gdrive_entities(n: usize, rng: &mut Rng) -> Vec<Entity> {
    let users = uids("User", "user", n);
    let groups = uids("Group", "group", n);
    let docs = uids("Document", "doc", n);
    let folders = uids("Folder", "folder", n);
    let user_view = |i: usize| Uid::new("View", format!("User user_{i}"));
    let group_view = |i: usize| Uid::new("View", format!("Group group_{i}"));
    let user_views: Vec<Uid> = (0..n).map(user_view).collect();
    let group_views: Vec<Uid> = (0..n).map(group_view).collect();

    let mut out = Vec::new();
    let mut members: Vec<Vec<Uid>> = vec![Vec::new(); n];
    for (i, user) in users.iter().enumerate() {
        let mut in_groups = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            if rng.chance(LINK_P) {
                in_groups.push(group.clone());
                if let Some(m) = members.get_mut(g) {
                    m.push(user_view(i));
                }
            }
        }
        let owned_docs = links(rng, &docs);
        let owned_folders = links(rng, &folders);
        out.push(
            Entity::new(user.clone())
                .attr("documentsAndFoldersWithViewAccess", user_view(i).reference())
                .attr("ownedDocuments", refs(&owned_docs))
                .attr("ownedFolders", refs(&owned_folders))
                .parents(in_groups),
        );
        out.push(Entity::new(user_view(i)));
    }
    for (g, group) in groups.iter().enumerate() {
        out.push(Entity::new(group.clone()));
        // A group's view is in the views of its members: what is shared with
        // the group is in each member's view set.
        out.push(Entity::new(group_view(g)).parents(members.get(g).cloned().unwrap_or_default()));
    }
    for doc in &docs {
        let mut parents = links(rng, &folders);
        parents.extend(links(rng, &user_views));
        parents.extend(links(rng, &group_views));
        out.push(Entity::new(doc.clone()).attr("isPublic", Json::Bool(rng.chance(0.5))).parents(parents));
    }
    for (i, folder) in folders.iter().enumerate() {
        let mut parents = links(rng, folders.get(..i).unwrap_or_default());
        parents.extend(links(rng, &user_views));
        parents.extend(links(rng, &group_views));
        out.push(Entity::new(folder.clone()).parents(parents));
    }
    out
}

const REPO_ROLES: [&str; 5] = ["readers", "triagers", "writers", "maintainers", "admins"];
const ORG_ROLES: [&str; 3] = ["readers", "writers", "admins"];

fn github_entities(n: usize, rng: &mut Rng) -> Vec<Entity> {
    let orgs = uids("Organization", "org", n);
    let repos = uids("Repository", "repo", n);
    let teams = uids("Team", "team", n);
    let users = uids("User", "user", n);
    let org_perm = |org: &Uid, role: &str| Uid::new("OrgPermission", format!("{}_{role}", org.id));
    let repo_perm = |repo: &Uid, role: &str| Uid::new("RepoPermission", format!("{}_{role}", repo.id));
    let random_org_perm = |rng: &mut Rng, org: &Uid| org_perm(org, ORG_ROLES.get(rng.below(3)).unwrap_or(&"readers"));
    let random_repo_perm =
        |rng: &mut Rng, repo: &Uid| repo_perm(repo, REPO_ROLES.get(rng.below(5)).unwrap_or(&"readers"));

    let mut out = Vec::new();
    for org in &orgs {
        // An organization may hold a permission of any organization (its own
        // included): permissions have no parents, so this cannot cycle.
        let mut parents = Vec::new();
        for o in &orgs {
            if rng.chance(LINK_P) {
                parents.push(random_org_perm(rng, o));
            }
        }
        let mut e = Entity::new(org.clone()).parents(parents);
        for role in ORG_ROLES {
            e = e.attr(role, org_perm(org, role).reference());
            out.push(Entity::new(org_perm(org, role)));
        }
        out.push(e);
    }
    for repo in &repos {
        let owner = orgs.get(rng.below(n)).cloned().unwrap_or_else(|| Uid::new("Organization", "org_0"));
        let mut e = Entity::new(repo.clone()).attr("owner", owner.reference());
        for role in REPO_ROLES {
            e = e.attr(role, repo_perm(repo, role).reference());
            out.push(Entity::new(repo_perm(repo, role)));
        }
        out.push(e);
    }
    for (i, team) in teams.iter().enumerate() {
        let mut parents = links(rng, teams.get(..i).unwrap_or_default());
        for repo in &repos {
            if rng.chance(LINK_P) {
                parents.push(random_repo_perm(rng, repo));
            }
        }
        out.push(Entity::new(team.clone()).parents(parents));
    }
    for user in &users {
        let mut parents = Vec::new();
        for repo in &repos {
            if rng.chance(LINK_P) {
                parents.push(random_repo_perm(rng, repo));
            }
        }
        parents.extend(links(rng, &teams));
        for org in &orgs {
            if rng.chance(LINK_P) {
                parents.push(org.clone());
            }
            if rng.chance(LINK_P) {
                parents.push(random_org_perm(rng, org));
            }
        }
        dedup(&mut parents);
        out.push(Entity::new(user.clone()).parents(parents));
    }
    out
}

fn tinytodo_entities(n: usize, rng: &mut Rng) -> Vec<Entity> {
    let app = Uid::new("Application", "TinyTodo");
    let users = uids("User", "user", n);
    let teams = uids("Team", "team", n);
    let lists = uids("List", "list", n);
    let mut out = vec![Entity::new(app.clone())];
    for user in &users {
        let mut parents = links(rng, &teams);
        parents.push(app.clone());
        out.push(Entity::new(user.clone()).parents(parents));
    }
    for (i, team) in teams.iter().enumerate() {
        let mut parents = links(rng, teams.get(..i).unwrap_or_default());
        parents.push(app.clone());
        out.push(Entity::new(team.clone()).parents(parents));
    }
    for list in &lists {
        let pick = |rng: &mut Rng, of: &[Uid]| of.get(rng.below(of.len())).map_or(Json::Null, Uid::reference);
        let owner = pick(rng, &users);
        let readers = pick(rng, &teams);
        let editors = pick(rng, &teams);
        let tasks: Vec<Json> = (0..rng.below(51))
            .map(|_| {
                let state = if rng.chance(0.5) { "Checked" } else { "Unchecked" };
                json!({"name": format!("task_{}", 1 + rng.below(1_000_000)), "id": 1 + rng.below(1_000_000), "state": state})
            })
            .collect();
        out.push(
            Entity::new(list.clone())
                .attr("name", Json::String(list.id.clone()))
                .attr("owner", owner)
                .attr("readers", readers)
                .attr("editors", editors)
                .attr("tasks", Json::Array(tasks))
                .parents(vec![app.clone()]),
        );
    }
    out
}

fn dedup(items: &mut Vec<Uid>) {
    let mut seen = BTreeSet::new();
    items.retain(|u| seen.insert(u.clone()));
}

/// Entities by uid and by type, and the hierarchy's transitive closure.
struct Index<'a> {
    by_uid: BTreeMap<&'a Uid, &'a Entity>,
    by_type: BTreeMap<&'a str, Vec<&'a Uid>>,
}

impl<'a> Index<'a> {
    fn new(entities: &'a [Entity]) -> Index<'a> {
        let mut by_uid = BTreeMap::new();
        let mut by_type: BTreeMap<&str, Vec<&Uid>> = BTreeMap::new();
        for e in entities {
            by_uid.insert(&e.uid, e);
            by_type.entry(e.uid.ty.as_str()).or_default().push(&e.uid);
        }
        Index { by_uid, by_type }
    }

    /// Every strict ancestor of `uid`.
    fn ancestors(&self, uid: &Uid) -> BTreeSet<Uid> {
        let mut out = BTreeSet::new();
        let mut stack: Vec<&Uid> = self.by_uid.get(uid).map(|e| e.parents.iter().collect()).unwrap_or_default();
        while let Some(p) = stack.pop() {
            if out.insert(p.clone())
                && let Some(e) = self.by_uid.get(p)
            {
                stack.extend(e.parents.iter());
            }
        }
        out
    }
}

fn random_request(app: App, index: &Index, rng: &mut Rng) -> GenRequest {
    let table = actions(app);
    let (action, resource_ty) = table.get(rng.below(table.len())).copied().unwrap_or(("read", "Document"));
    let pick = |rng: &mut Rng, ty: &str| -> Uid {
        index.by_type.get(ty).and_then(|v| rng.pick(v)).map_or_else(|| Uid::new(ty, "none"), |u| (*u).clone())
    };
    let principal = pick(rng, "User");
    let resource = pick(rng, resource_ty);
    GenRequest { principal, action: action.to_string(), resource }
}

fn rego_strings<'u>(items: impl IntoIterator<Item = &'u Uid>) -> Json {
    Json::Array(items.into_iter().map(|u| Json::String(u.rego())).collect())
}

/// The part of every Rego input that does not depend on the request, and
/// its key: gdrive's `files` (every document and folder with the folders it
/// is in: `graph.reachable` follows them upwards, as Cedar's `in` does),
/// github's `orgs` (every entity with its parents: `graph.reachable` closes
/// them), tinytodo's `Data.Groups` (every user and team with its parents).
fn rego_shared(app: App, index: &Index) -> (&'static str, Json) {
    let graph = |types: &[&str], parent_types: Option<&str>| -> Json {
        let mut out = Map::new();
        for e in index.by_uid.values() {
            if types.is_empty() || types.contains(&e.uid.ty.as_str()) {
                let parents = e.parents.iter().filter(|p| parent_types.is_none_or(|t| p.ty == t));
                out.insert(e.uid.rego(), rego_strings(parents));
            }
        }
        Json::Object(out)
    };
    match app {
        App::Gdrive => ("files", graph(&["Document", "Folder"], Some("Folder"))),
        App::Github => ("orgs", graph(&[], None)),
        App::Tinytodo => ("Data", json!({"Groups": graph(&["User", "Team"], None)})),
    }
}

/// The request's own part of its Rego input: everything but [`rego_shared`].
fn rego_request(app: App, r: &GenRequest, index: &Index) -> Map<String, Json> {
    let action = format!("Action::{:?}", r.action);
    let entity = |u: &Uid| index.by_uid.get(u).copied();
    let input = match app {
        App::Gdrive => {
            // `documentsAndFoldersWithViewAccess`: the documents and folders in
            // the principal's view set, transitively, computed here as the
            // paper's harness did (the Rego policy cannot walk from a view
            // down to the files in it: `files` points upwards).
            let user = entity(&r.principal);
            let view = user.and_then(|u| u.entity_attr("documentsAndFoldersWithViewAccess"));
            let viewable: Vec<&Uid> = index
                .by_uid
                .keys()
                .copied()
                .filter(|u| u.ty == "Document" || u.ty == "Folder")
                .filter(|u| view.as_ref().is_some_and(|v| index.ancestors(u).contains(v)))
                .collect();
            let resource = entity(&r.resource);
            let is_public = resource.and_then(|e| e.attrs.get("isPublic")).and_then(Json::as_bool).unwrap_or(false);
            json!({
                "principal": {
                    "uid": r.principal.rego(),
                    "documentsAndFoldersWithViewAccess": rego_strings(viewable),
                    "ownedDocuments": rego_strings(&user.map(|u| u.entity_set_attr("ownedDocuments")).unwrap_or_default()),
                    "ownedFolders": rego_strings(&user.map(|u| u.entity_set_attr("ownedFolders")).unwrap_or_default()),
                },
                "action": action,
                "resource": {"uid": r.resource.rego(), "isPublic": is_public},
            })
        }
        App::Github => {
            let perm = |e: Option<&Entity>, attr: &str| -> Json {
                e.and_then(|e| e.entity_attr(attr)).map_or(Json::Null, |u| Json::String(u.rego()))
            };
            let repo = entity(&r.resource);
            let owner = repo.and_then(|e| e.entity_attr("owner")).and_then(|o| entity(&o));
            let key = |a: &str| format!("Action::{a:?}");
            let mut resource = Map::new();
            for (a, attr) in [("read", "readers"), ("triage", "triagers"), ("write", "writers")]
                .into_iter()
                .chain([("maintain", "maintainers"), ("admin", "admins")])
            {
                resource.insert(key(a), perm(repo, attr));
            }
            let mut owner_perms = Map::new();
            for (a, attr) in [("read", "readers"), ("write", "writers"), ("admin", "admins")] {
                owner_perms.insert(key(a), perm(owner, attr));
            }
            resource.insert("owner".into(), Json::Object(owner_perms));
            json!({"principal": r.principal.rego(), "action": action, "resource": resource})
        }
        App::Tinytodo => {
            let resource = match entity(&r.resource) {
                Some(list) if list.uid.ty == "List" => {
                    let one =
                        |attr: &str| -> Json { list.entity_attr(attr).map_or(Json::Null, |u| Json::String(u.rego())) };
                    json!({"Owner": one("owner"), "Readers": [one("readers")], "Writers": [one("editors")]})
                }
                // The application itself: it owns itself, no readers or writers.
                _ => json!({"Owner": r.resource.rego(), "Readers": [], "Writers": []}),
            };
            json!({"Request": {"Principal": r.principal.rego(), "Action": action, "Resource": resource}})
        }
    };
    match input {
        Json::Object(m) => m,
        _ => Map::new(),
    }
}

/// The Rego inputs over one set of entities, split as a service holds
/// them: the request-independent part ([`RegoInputs::shared`]: gdrive's
/// `files`, github's `orgs`, tinytodo's `Data`) built once, and each
/// request's own part ([`RegoInputs::request`]) built per request. The two
/// together are the input [`Workload::rego_inputs`] holds.
pub struct RegoInputs<'a> {
    app: App,
    index: Index<'a>,
}

impl<'a> RegoInputs<'a> {
    pub fn new(app: App, entities: &'a [Entity]) -> RegoInputs<'a> {
        RegoInputs { app, index: Index::new(entities) }
    }

    /// The request-independent part of every input, and its key.
    pub fn shared(&self) -> (&'static str, Json) {
        rego_shared(self.app, &self.index)
    }

    /// The request's own part: the input's other keys.
    pub fn request(&self, r: &GenRequest) -> Map<String, Json> {
        rego_request(self.app, r, &self.index)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn generation_is_deterministic() {
        for app in App::ALL {
            let a = Workload::generate(app, 10, 42, 50);
            let b = Workload::generate(app, 10, 42, 50);
            assert_eq!(a.entities_json(), b.entities_json());
            assert_eq!(a.requests, b.requests);
            assert_eq!(a.rego_inputs, b.rego_inputs);
            let c = Workload::generate(app, 10, 43, 50);
            assert_ne!(a.requests, c.requests);
        }
    }

    #[test]
    fn n_entities_per_generated_type() {
        let w = Workload::generate(App::Gdrive, 20, 1, 10);
        for ty in ["User", "Group", "Document", "Folder"] {
            assert_eq!(w.entities.iter().filter(|e| e.uid.ty == ty).count(), 20, "{ty}");
        }
        let w = Workload::generate(App::Github, 5, 1, 10);
        assert_eq!(w.entities.iter().filter(|e| e.uid.ty == "RepoPermission").count(), 25);
    }

    #[test]
    fn hierarchies_are_acyclic() {
        for app in App::ALL {
            for n in SIZES {
                let w = Workload::generate(app, n, 9, 1);
                let index = Index::new(&w.entities);
                for e in &w.entities {
                    assert!(!index.ancestors(&e.uid).contains(&e.uid), "{app:?} {n}: {:?} is its own ancestor", e.uid);
                }
            }
        }
    }

    #[test]
    fn requests_respect_the_schema() {
        for app in App::ALL {
            let w = Workload::generate(app, 10, 5, 200);
            for r in &w.requests {
                assert_eq!(r.principal.ty, "User");
                let (_, ty) = actions(app).iter().find(|(a, _)| *a == r.action).unwrap();
                assert_eq!(&r.resource.ty, ty);
            }
        }
    }
}
