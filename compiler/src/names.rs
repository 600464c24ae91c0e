//! Namespaces: which module a file belongs to, what it imports, and how a
//! written path (`Customer`, `pii.email`, `stdlib.pii.email`) becomes a
//! qualified name (`Customer`, `pii.email`).

use std::collections::BTreeMap;
use std::sync::Arc;

use ward_grammar::ast::Path;

use crate::db::{Origin, Project, SourceFile};
use crate::units::{Loc, Unit, UnitKey, file_index, unit, unit_keys};

/// What names a file can see besides the project's root namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Namespace {
    /// The stdlib module the file itself is (`Some("pii")` for stdlib/pii.ward).
    pub module: Option<Arc<str>>,
    /// Local name → stdlib module: `import stdlib.pii` gives `pii → pii`,
    /// `import stdlib.pii as p` gives `p → pii`.
    pub imports: BTreeMap<Arc<str>, Arc<str>>,
    /// Inside `namespace N { … }`: `N`. Declarations there are named `N::…`,
    /// and an unqualified name is looked up in `N` first (as in Cedar).
    pub scope: Option<Arc<str>>,
}

/// How a path failed to resolve to a qualified name.
pub enum Lookup {
    Found(Arc<str>),
    /// `stdlib.x.y` or `x.y` where `x` is a stdlib module the file does not import.
    NotImported {
        module: Arc<str>,
    },
    Missing,
}

impl Namespace {
    /// This namespace inside the schema block `schema`: scoped to it when it
    /// is a `namespace` block.
    pub fn within(&self, schema: &ward_grammar::ast::SchemaDecl) -> Namespace {
        let mut scoped = self.clone();
        if schema.namespace {
            scoped.scope = Some(Arc::from(schema.name.name.as_str()));
        }
        scoped
    }

    /// Candidate qualified names for `path`, most specific first.
    pub fn candidates(&self, segments: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        match segments {
            [] => {}
            [single] => {
                if let Some(scope) = &self.scope
                    && !single.contains("::")
                {
                    out.push(format!("{scope}::{single}"));
                }
                if let Some(module) = &self.module {
                    out.push(format!("{module}.{single}"));
                }
                out.push((*single).to_string());
            }
            [first, rest @ ..] => {
                let rest = rest.join(".");
                if *first == "stdlib" {
                    if let Some((module, tail)) = rest.split_once('.')
                        && (self.imports.values().any(|m| &**m == module) || self.module.as_deref() == Some(module))
                    {
                        out.push(format!("{module}.{tail}"));
                    }
                } else if let Some(module) = self.imports.get(*first) {
                    out.push(format!("{module}.{rest}"));
                } else if self.module.as_deref() == Some(*first) {
                    out.push(format!("{first}.{rest}"));
                }
                out.push(segments.join("."));
            }
        }
        out
    }

    /// Whether the qualified name `q` may be named from this file: names of a
    /// stdlib module only when the file imports that module (or is it).
    fn visible(&self, q: &str, stdlib_modules: &[Arc<str>]) -> bool {
        match q.split_once('.') {
            Some((module, _)) if stdlib_modules.iter().any(|m| &**m == module) => {
                self.module.as_deref() == Some(module) || self.imports.values().any(|m| &**m == module)
            }
            _ => true,
        }
    }

    /// Resolves `path` against a set of qualified names.
    pub fn lookup(&self, path: &Path, exists: impl Fn(&str) -> bool, stdlib_modules: &[Arc<str>]) -> Lookup {
        let segments: Vec<&str> = path.segments.iter().map(|s| s.name.as_str()).collect();
        for candidate in self.candidates(&segments) {
            if exists(&candidate) && self.visible(&candidate, stdlib_modules) {
                return Lookup::Found(Arc::from(candidate));
            }
        }
        let module = match segments.as_slice() {
            ["stdlib", module, _, ..] => Some(*module),
            [module, _, ..] => Some(*module),
            _ => None,
        };
        match module {
            Some(m) if stdlib_modules.iter().any(|s| &**s == m) && !self.imports.values().any(|i| &**i == m) => {
                Lookup::NotImported { module: Arc::from(m) }
            }
            _ => Lookup::Missing,
        }
    }
}

/// The namespace of `file`: its module and its imports.
#[salsa::tracked(returns(ref))]
pub fn namespace(db: &dyn salsa::Database, file: SourceFile) -> Namespace {
    let module = match file.origin(db) {
        Origin::Stdlib(m) => Some(Arc::from(m.as_str())),
        Origin::User => None,
    };
    let mut imports = BTreeMap::new();
    for key in &file_index(db, file).imports {
        if let Some(unit) = unit(db, file, *key)
            && let Unit::Import(import) = &*unit
            && let [first, module, ..] = import.path.segments.as_slice()
            && first.name == "stdlib"
        {
            let local = import.alias.as_ref().map_or(module.name.as_str(), |a| a.name.as_str());
            imports.insert(Arc::from(local), Arc::from(module.name.as_str()));
        }
    }
    Namespace { module, imports, scope: None }
}

/// The stdlib modules present in the project (`pii`, `inputs`, `roles`).
#[salsa::tracked(returns(ref))]
pub fn stdlib_modules(db: &dyn salsa::Database, project: Project) -> Vec<Arc<str>> {
    project
        .files(db)
        .iter()
        .filter_map(|f| match f.origin(db) {
            Origin::Stdlib(m) => Some(Arc::from(m.as_str())),
            Origin::User => None,
        })
        .collect()
}

/// Qualifies a declared name with its namespace block, or its file's module.
pub fn qualify(ns: &Namespace, name: &str) -> Arc<str> {
    match (&ns.scope, &ns.module) {
        (Some(scope), _) => Arc::from(format!("{scope}::{name}")),
        (None, Some(module)) => Arc::from(format!("{module}.{name}")),
        (None, None) => Arc::from(name),
    }
}

/// Help for a name not found that a namespace declares (`Document` for
/// `Tax::Document`): outside its namespace a name is written in full.
pub fn in_a_namespace<'n>(text: &str, names: impl Iterator<Item = &'n str>) -> Option<String> {
    let suffix = format!("::{text}");
    let found: Vec<&str> = names.filter(|n| n.ends_with(&suffix)).collect();
    let (first, rest) = found.split_first()?;
    let also = if rest.is_empty() { String::new() } else { format!(" (or {})", rest.join(", ")) };
    Some(format!("did you mean `{first}`{also}? Outside its namespace, a name is written in full"))
}

/// Every unit of every file of the project, in order.
pub fn all_units(db: &dyn salsa::Database, project: Project) -> Vec<(SourceFile, UnitKey, Arc<Unit>)> {
    let mut out = Vec::new();
    for file in project.files(db) {
        for key in unit_keys(db, *file) {
            if let Some(unit) = unit(db, *file, *key) {
                out.push((*file, *key, unit));
            }
        }
    }
    out
}

/// A declaration: where it is, for "defined here" labels and go-to-definition.
pub type DeclLoc = Loc;
