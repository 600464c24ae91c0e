//! Checking: name resolution and type checking, one unit at a time.
//!
//! [`check_unit`] is the salsa query; it reads the unit, the schema
//! environment and the symbol tables, and returns the unit's diagnostics with
//! positions as [`Loc`]s (ordinals in the relocated unit). Because its inputs
//! are position-independent, editing one rule re-runs this query for that
//! rule only, and moving text around re-runs it for nothing.

mod expr;
mod items;
mod tests_blocks;

use std::sync::Arc;

use ward_grammar::Span;

use crate::db::{Options, Project, SourceFile};
use crate::diagnostic::Severity;
use crate::names::{Namespace, namespace, stdlib_modules};
use crate::schema::{SchemaEnv, schema_env};
use crate::symbols::{Symbols, symbols};
use crate::units::{Loc, Unit, UnitKey, unit};

pub use expr::{Env, Facts, MAX_HAS_PATH, conjuncts, is_result_flow, mentions_current, path_key};
pub(crate) use expr::{contains_call, negated_left_operand};
pub use items::MASK_METHODS;

/// A diagnostic whose positions are still locations in relocated units.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawDiag {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub primary: Loc,
    pub label: String,
    pub secondary: Vec<(Loc, String)>,
    pub help: Option<String>,
}

impl RawDiag {
    pub fn label(mut self, label: impl Into<String>) -> RawDiag {
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> RawDiag {
        self.help = Some(help.into());
        self
    }

    pub fn help_opt(mut self, help: Option<String>) -> RawDiag {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    pub fn secondary(mut self, loc: Loc, label: impl Into<String>) -> RawDiag {
        self.secondary.push((loc, label.into()));
        self
    }
}

/// Checks one unit.
#[salsa::tracked(returns(ref))]
pub fn check_unit(db: &dyn salsa::Database, project: Project, file: SourceFile, key: UnitKey) -> Vec<RawDiag> {
    let Some(unit) = unit(db, file, key) else { return Vec::new() };
    let mut cx = Cx::new(db, project, file, key);
    cx.unit(&unit);
    cx.diags
}

/// What checking one unit needs: where it is and the project's tables.
pub(crate) struct Cx<'a> {
    pub file: SourceFile,
    pub key: UnitKey,
    pub env: &'a Arc<SchemaEnv>,
    pub symbols: &'a Arc<Symbols>,
    pub ns: &'a Namespace,
    pub stdlib: &'a [Arc<str>],
    pub options: &'a Options,
    pub diags: Vec<RawDiag>,
    /// When set, the type of every expression checked, by the ordinal of its
    /// span (the lowering reads it).
    pub types: Option<std::collections::HashMap<u32, crate::types::Type>>,
    /// Checking the scope of a `@template` rule: slots (`?principal`) are allowed.
    pub template: bool,
    /// In a test block: the ids of the links it declared so far, as linked
    /// rule ids (`sharing.share[alice-f1]`), which expectations may name.
    pub test_links: Vec<String>,
}

impl<'a> Cx<'a> {
    /// A checker for one unit, reading the project's tables through `db`.
    pub fn new(db: &'a dyn salsa::Database, project: Project, file: SourceFile, key: UnitKey) -> Cx<'a> {
        Cx {
            file,
            key,
            env: schema_env(db, project),
            symbols: symbols(db, project),
            ns: namespace(db, file),
            stdlib: stdlib_modules(db, project),
            options: project.options(db),
            diags: Vec::new(),
            types: None,
            template: false,
            test_links: Vec::new(),
        }
    }

    /// The same checker, recording every expression's type.
    pub fn recording_types(mut self) -> Cx<'a> {
        self.types = Some(std::collections::HashMap::new());
        self
    }
}

impl Cx<'_> {
    /// Checks one unit (the query [`check_unit`], and the IDE's index, which
    /// checks again recording types).
    pub fn unit(&mut self, unit: &Unit) {
        match unit {
            Unit::Import(import) => self.import(import),
            Unit::Schema(schema) => self.schema(schema),
            Unit::Agent(agent) => self.agent(agent),
            Unit::Detector(detector) => self.detector_decl(detector),
            Unit::Fixture(fixture) => self.fixture(fixture),
            Unit::Test(test) => self.test(test),
            Unit::Assert(a) => self.assert_decl(a),
            Unit::Policy { annotations, name, .. } => self.policy_header(annotations, name),
            Unit::Member { policy, position, item } => self.member(policy, *position, item),
            Unit::Error => {}
        }
    }

    pub fn loc(&self, span: Span) -> Loc {
        Loc::new(self.file, self.key, span)
    }

    fn push(&mut self, severity: Severity, code: &'static str, span: Span, message: String) -> Pending<'_> {
        let primary = self.loc(span);
        self.diags.push(RawDiag {
            code,
            severity,
            message,
            primary,
            label: String::new(),
            secondary: Vec::new(),
            help: None,
        });
        Pending { diags: &mut self.diags, file: self.file, key: self.key }
    }

    /// Records an error; the returned handle adds a label, help or secondary labels.
    pub fn error(&mut self, code: &'static str, span: Span, message: impl Into<String>) -> Pending<'_> {
        self.push(Severity::Error, code, span, message.into())
    }

    pub fn warning(&mut self, code: &'static str, span: Span, message: impl Into<String>) -> Pending<'_> {
        self.push(Severity::Warning, code, span, message.into())
    }

    /// The qualified name `path` resolves to among the names `exists`
    /// accepts. A name in a module the file does not import is reported
    /// here; a missing one by `missing`, given the path's text.
    fn resolve(
        &mut self,
        path: &ward_grammar::ast::Path,
        exists: impl Fn(&str) -> bool,
        missing: impl FnOnce(&mut Self, String),
    ) -> Option<Arc<str>> {
        use crate::names::Lookup;
        match self.ns.lookup(path, exists, self.stdlib) {
            Lookup::Found(q) => Some(q),
            Lookup::NotImported { module } => {
                self.not_imported(path, &module);
                None
            }
            Lookup::Missing => {
                missing(self, path.text());
                None
            }
        }
    }

    /// The entity type named by `path`, or an error and `None`.
    pub fn entity_type(&mut self, path: &ward_grammar::ast::Path) -> Option<Arc<str>> {
        let env = Arc::clone(self.env);
        self.resolve(
            path,
            |n| env.entities.contains_key(n),
            |cx, text| {
                let is_other_type = env.enums.contains_key(text.as_str()) || env.aliases.contains_key(text.as_str());
                let help = if is_other_type {
                    Some(format!("`{text}` is declared, but it is not an entity type"))
                } else {
                    crate::names::in_a_namespace(&text, env.entities.keys().map(|k| &**k))
                        .or_else(|| crate::suggest::did_you_mean(&text, env.entities.keys().map(|k| &**k)))
                };
                cx.error("E0101", path.span, format!("unknown entity type `{text}`"))
                    .label("not an entity type of the schema")
                    .help_opt(help);
            },
        )
    }

    /// Reports a name that lives in a stdlib module the file does not import.
    fn not_imported(&mut self, path: &ward_grammar::ast::Path, module: &str) {
        let text = path.text();
        self.error(
            "E0107",
            path.span,
            format!("`{text}` is in the module `stdlib.{module}`, which this file does not import"),
        )
        .label("module not imported")
        .help(format!("add `import stdlib.{module}` at the top of the file"));
    }

    /// The action named by `path`, or an error and `None`.
    pub fn action(&mut self, path: &ward_grammar::ast::Path) -> Option<Arc<str>> {
        let env = Arc::clone(self.env);
        self.resolve(
            path,
            |n| env.actions.contains_key(n),
            |cx, text| {
                let help = crate::names::in_a_namespace(&text, env.actions.keys().map(|k| &**k))
                    .or_else(|| crate::suggest::did_you_mean(&text, env.actions.keys().map(|k| &**k)));
                cx.error("E0102", path.span, format!("unknown action `{text}`"))
                    .label("not an action of the schema")
                    .help_opt(help);
            },
        )
    }

    /// The qualified name of the detector `path`, or an error and `None`.
    pub fn resolve_detector(&mut self, path: &ward_grammar::ast::Path) -> Option<Arc<str>> {
        let symbols = Arc::clone(self.symbols);
        self.resolve(
            path,
            |n| symbols.detectors.contains_key(n),
            |cx, text| {
                let help = crate::suggest::did_you_mean(&text, symbols.detectors.keys().map(|k| &**k));
                let help = help.unwrap_or_else(|| {
                    "detectors come from `detector` declarations or stdlib modules such as `import stdlib.pii`"
                        .to_string()
                });
                cx.error("E0106", path.span, format!("unknown detector `{text}`"))
                    .label("no detector of this name")
                    .help(help);
            },
        )
    }

    pub fn today(&self) -> Option<i64> {
        self.options.today
    }
}

/// The diagnostic just recorded, to add to.
pub(crate) struct Pending<'c> {
    diags: &'c mut Vec<RawDiag>,
    file: SourceFile,
    key: UnitKey,
}

impl Pending<'_> {
    pub fn label(self, label: impl Into<String>) -> Self {
        if let Some(d) = self.diags.last_mut() {
            d.label = label.into();
        }
        self
    }

    pub fn help(self, help: impl Into<String>) -> Self {
        if let Some(d) = self.diags.last_mut() {
            d.help = Some(help.into());
        }
        self
    }

    pub fn help_opt(self, help: Option<String>) -> Self {
        match help {
            Some(help) => self.help(help),
            None => self,
        }
    }

    /// A secondary label in the same unit.
    pub fn note_at(self, span: Span, label: impl Into<String>) -> Self {
        let loc = Loc::new(self.file, self.key, span);
        self.secondary(loc, label)
    }

    /// A secondary label anywhere.
    pub fn secondary(self, loc: Loc, label: impl Into<String>) -> Self {
        if let Some(d) = self.diags.last_mut() {
            d.secondary.push((loc, label.into()));
        }
        self
    }
}
