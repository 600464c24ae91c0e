//! The three applications of the Cedar paper's benchmarks and where their
//! policies live: Ward's in `benches/workloads/`, the peers' (read, never
//! copied) in the shared peer-workloads folder.

use std::path::{Path, PathBuf};

/// Overrides where the peers' policies are read from (the folder holding
/// `cedar-oopsla2024/`).
pub const PEER_WORKLOADS_ENV: &str = "WARD_PEER_WORKLOADS";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum App {
    Gdrive,
    Github,
    Tinytodo,
}

impl App {
    pub const ALL: [App; 3] = [App::Gdrive, App::Github, App::Tinytodo];

    pub fn name(self) -> &'static str {
        match self {
            App::Gdrive => "gdrive",
            App::Github => "github",
            App::Tinytodo => "tinytodo",
        }
    }

    pub fn from_name(name: &str) -> Option<App> {
        App::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The folder with this application's `schema.ward` and `policy.ward`.
    pub fn ward_dir(self) -> PathBuf {
        repo_root().join("benches").join("workloads").join(self.name())
    }

    fn peer_dir(self) -> PathBuf {
        peer_root().join("cedar-oopsla2024").join(self.name())
    }

    pub fn cedar_policies(self) -> PathBuf {
        let file = match self {
            App::Tinytodo => "tinytodo.cedar",
            App::Gdrive | App::Github => "policies.cedar",
        };
        self.peer_dir().join("cedar").join(file)
    }

    pub fn cedar_schema(self) -> PathBuf {
        self.peer_dir().join("cedar").join(format!("{}.cedarschema.json", self.name()))
    }

    /// The Rego policy the benchmark evaluates. For TinyTodo this is
    /// `tinytodo.rego` (hierarchy through `graph.reachable`), not the
    /// `_tco` variant, which reads another input shape.
    pub fn rego_policy(self) -> PathBuf {
        self.peer_dir().join("rego").join(format!("{}.rego", self.name()))
    }

    /// The rule whose value is the decision.
    pub fn rego_rule(self) -> String {
        format!("data.{}.allow", self.name())
    }
}

/// The repository root (this crate's parent).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// `$WARD_PEER_WORKLOADS`, or else the first `shared/peer-workloads` found
/// beside the repository or one of its ancestors (`<repo>/../shared/…` in
/// the usual layout), or else `<repo>/../shared/peer-workloads`.
pub fn peer_root() -> PathBuf {
    if let Some(p) = std::env::var_os(PEER_WORKLOADS_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let root = repo_root();
    root.ancestors()
        .map(|a| a.join("shared").join("peer-workloads"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| root.join("..").join("shared").join("peer-workloads"))
}

/// Whether the peers' workloads can be read (see [`peer_root`]).
pub fn peers_available() -> bool {
    peer_root().join("cedar-oopsla2024").is_dir()
}

/// Reads a file, naming it and the environment variable on failure.
pub fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read `{}`: {e} (the peers' policies are read from `{}`; set {PEER_WORKLOADS_ENV} to the folder holding cedar-oopsla2024/)",
            path.display(),
            peer_root().display()
        )
    })
}
