//! The schema environment: every entity type, enum, type alias and action of
//! the project, with types resolved, built from all `schema` blocks.
//!
//! Building the environment never reports: declarations that do not resolve
//! are kept with `Type::Error`. The diagnostics for a schema block come from
//! checking that block ([`crate::check`]), which consults this environment
//! (for instance to see that a name is declared twice).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ward_grammar::ast::{self, Path, SchemaItem, TypeExpr};

use crate::db::{Project, SourceFile};
use crate::names::{Lookup, Namespace, namespace, qualify, stdlib_modules};
use crate::types::{Field, RecordType, Type};
use crate::units::{Loc, Unit, UnitKey, file_index, unit};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityInfo {
    pub name: Arc<str>,
    /// Entity types this type's entities may be members of (declared with `in`).
    pub parents: Vec<Arc<str>>,
    pub attrs: RecordType,
    pub attr_locs: BTreeMap<Arc<str>, Loc>,
    /// `tags T`: the type of its entities' tag values (`None`: no tags).
    pub tags: Option<Type>,
    pub docs: Vec<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumInfo {
    pub name: Arc<str>,
    pub ordered: bool,
    pub variants: Vec<Arc<str>>,
    pub docs: Vec<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionInfo {
    pub name: Arc<str>,
    /// Action groups this action belongs to.
    pub parents: Vec<Arc<str>>,
    /// Principal types that may take it (`by`); `None`: any entity type.
    pub principals: Option<Vec<Arc<str>>>,
    /// Resource types it applies to (`on`); `None`: any entity type.
    pub resources: Option<Vec<Arc<str>>>,
    /// Its context: the schema's `context` fields plus its own `with` fields.
    pub context: RecordType,
    pub returns: Option<Type>,
    /// `@sensitive`: a permit without conditions on it is reported.
    pub sensitive: bool,
    /// Its annotations with their argument (a string's value, or a word),
    /// for the enforcement points (`@resource_from("ARG")`).
    pub annotations: Vec<(String, Option<String>)>,
    /// Its context fields marked `@verified` in the schema's `context` (an
    /// argument of its own with the same name is not: the caller sets it).
    pub verified: BTreeSet<Arc<str>>,
    pub docs: Vec<String>,
    pub loc: Loc,
}

/// The annotation that marks a context field as set only by the enforcement point.
pub const VERIFIED: &str = "verified";

impl ActionInfo {
    /// Whether the declaration says who takes the action, on what, or what
    /// it returns: then it can be requested even when other actions are in it.
    pub fn requestable(&self) -> bool {
        self.principals.is_some() || self.resources.is_some() || self.returns.is_some()
    }
}

/// Everything the schema declares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchemaEnv {
    pub entities: BTreeMap<Arc<str>, EntityInfo>,
    pub enums: BTreeMap<Arc<str>, EnumInfo>,
    pub aliases: BTreeMap<Arc<str>, (Type, Loc)>,
    pub actions: BTreeMap<Arc<str>, ActionInfo>,
    /// The fields every request's context may carry.
    pub context: RecordType,
    /// The `context` fields marked `@verified`: set by enforcement points
    /// from authenticated sources, never by the caller.
    pub verified: BTreeSet<Arc<str>>,
    /// Every declaration of every type or action name, in source order (a
    /// name with two entries is declared twice).
    pub declarations: BTreeMap<Arc<str>, Vec<Loc>>,
    /// For each entity type, every type its entities may (transitively) be in.
    pub ancestors: BTreeMap<Arc<str>, BTreeSet<Arc<str>>>,
    /// For each action, every group it (transitively) belongs to.
    pub action_groups: BTreeMap<Arc<str>, BTreeSet<Arc<str>>>,
    /// Actions that other actions are declared `in` and that declare no
    /// `by`, `on` or `returns` of their own: names for sets of actions,
    /// never requested themselves. A parent that declares them is both.
    pub groups: BTreeSet<Arc<str>>,
    /// Entity types of stdlib modules no file imports: declared, but not
    /// among the types an unscoped `principal` or `resource` may have.
    pub hidden: BTreeSet<Arc<str>>,
}

impl SchemaEnv {
    /// Whether an entity of type `child` may be in an entity of type
    /// `ancestor` (reflexively: a type is "in" itself).
    pub fn may_be_in(&self, child: &str, ancestor: &str) -> bool {
        child == ancestor || self.ancestors.get(child).is_some_and(|a| a.contains(ancestor))
    }

    /// Whether `action` is `group` or belongs to it.
    pub fn action_in(&self, action: &str, group: &str) -> bool {
        action == group || self.action_groups.get(action).is_some_and(|g| g.contains(group))
    }

    /// The entity types a variable may have when nothing narrows it.
    pub fn all_entity_types(&self) -> Vec<Arc<str>> {
        self.entities.keys().filter(|k| !self.hidden.contains(*k)).cloned().collect()
    }

    /// Any type name (entity, enum or alias) — for "did you mean".
    pub fn type_names(&self) -> impl Iterator<Item = &str> {
        self.entities.keys().chain(self.enums.keys()).chain(self.aliases.keys()).map(|k| &**k)
    }
}

pub const BUILTIN_TYPES: [&str; 12] =
    ["String", "Int", "Decimal", "Bool", "Time", "Date", "Duration", "Ip", "Cidr", "Pattern", "Set", "List"];

/// A resolution failure of a type expression.
pub struct TypeError {
    pub span: ward_grammar::Span,
    pub message: String,
    pub help: Option<String>,
}

/// Resolves type expressions against a (possibly still incomplete) schema.
pub struct TypeResolver<'a> {
    pub env: &'a SchemaEnv,
    pub ns: &'a Namespace,
    pub stdlib: &'a [Arc<str>],
    /// Aliases being resolved, to refuse cycles.
    pub alias_defs: &'a BTreeMap<Arc<str>, TypeExpr>,
}

impl TypeResolver<'_> {
    /// The entity types a list names (`in`, `by`, `on`), leaving out names
    /// that are no entity type; `None` without a list.
    fn entity_types(&self, list: &Option<ast::NameList>) -> Option<Vec<Arc<str>>> {
        list.as_ref().map(|l| {
            l.names
                .iter()
                .filter_map(|p| match self.ns.lookup(p, |n| self.env.entities.contains_key(n), self.stdlib) {
                    Lookup::Found(q) => Some(q),
                    _ => None,
                })
                .collect()
        })
    }

    /// The action a group list names: declared in this namespace block
    /// first, then outside it.
    fn action_name(&self, path: &Path) -> Arc<str> {
        let segments: Vec<&str> = path.segments.iter().map(|s| s.name.as_str()).collect();
        self.ns
            .candidates(&segments)
            .into_iter()
            .find(|c| self.env.declarations.contains_key(&action_key(c)))
            .map_or_else(|| qualify(self.ns, &path.text()), Arc::from)
    }

    fn exists(&self, name: &str) -> bool {
        self.env.entities.contains_key(name)
            || self.env.enums.contains_key(name)
            || self.env.aliases.contains_key(name)
            || self.alias_defs.contains_key(name)
    }

    pub fn resolve(&self, ty: &TypeExpr, errors: &mut Vec<TypeError>) -> Type {
        self.resolve_in(ty, errors, &mut Vec::new())
    }

    fn resolve_in(&self, ty: &TypeExpr, errors: &mut Vec<TypeError>, stack: &mut Vec<Arc<str>>) -> Type {
        match ty {
            TypeExpr::Record(r) => Type::Record(Arc::new(self.record(r, errors, stack))),
            TypeExpr::Union { members, .. } => {
                let mut names = Vec::new();
                for m in members {
                    match self.resolve_in(m, errors, stack) {
                        Type::Entity(types) => names.extend(types.iter().cloned()),
                        Type::Error => return Type::Error,
                        other => {
                            errors.push(TypeError {
                                span: m.span(),
                                message: format!("`|` joins entity types only, and this is {}", other.a()),
                                help: Some(
                                    "a union such as `User | Team` lists entity types; give other values an attribute of their own"
                                        .to_string(),
                                ),
                            });
                            return Type::Error;
                        }
                    }
                }
                Type::entities(names)
            }
            TypeExpr::Named { name, arg, span } => {
                let text = name.text();
                let generic = |this: &Self, errors: &mut Vec<TypeError>, stack: &mut Vec<Arc<str>>| match arg {
                    Some(arg) => Some(this.resolve_in(arg, errors, stack)),
                    None => {
                        errors.push(TypeError {
                            span: *span,
                            message: format!("`{text}` needs an element type"),
                            help: Some(format!("write `{text}<String>`, for example")),
                        });
                        None
                    }
                };
                let simple = match text.as_str() {
                    "String" | "Pattern" => Some(Type::String),
                    "Int" => Some(Type::Int),
                    "Decimal" => Some(Type::Decimal),
                    "Bool" => Some(Type::Bool),
                    "Time" => Some(Type::Time),
                    "Date" => Some(Type::Date),
                    "Duration" => Some(Type::Duration),
                    "Ip" => Some(Type::Ip),
                    "Cidr" => Some(Type::Cidr),
                    "Set" => return generic(self, errors, stack).map_or(Type::Error, |t| Type::Set(Box::new(t))),
                    "List" => return generic(self, errors, stack).map_or(Type::Error, |t| Type::List(Box::new(t))),
                    _ => None,
                };
                if let Some(simple) = simple {
                    if let Some(arg) = arg {
                        errors.push(TypeError {
                            span: arg.span(),
                            message: format!("`{text}` takes no type argument"),
                            help: None,
                        });
                    }
                    return simple;
                }
                self.named(name, errors, stack)
            }
        }
    }

    fn named(&self, name: &Path, errors: &mut Vec<TypeError>, stack: &mut Vec<Arc<str>>) -> Type {
        match self.ns.lookup(name, |n| self.exists(n), self.stdlib) {
            Lookup::Found(q) => {
                if self.env.entities.contains_key(&q) {
                    return Type::entity(&q);
                }
                if self.env.enums.contains_key(&q) {
                    return Type::Enum(q);
                }
                if let Some((ty, _)) = self.env.aliases.get(&q) {
                    return ty.clone();
                }
                if let Some(def) = self.alias_defs.get(&q) {
                    if stack.contains(&q) {
                        errors.push(TypeError {
                            span: name.span,
                            message: format!("type alias `{q}` refers to itself"),
                            help: Some("a type alias cannot be recursive".to_string()),
                        });
                        return Type::Error;
                    }
                    stack.push(q);
                    let ty = self.resolve_in(def, &mut Vec::new(), stack);
                    stack.pop();
                    return ty;
                }
                Type::Error
            }
            Lookup::NotImported { module } => {
                errors.push(TypeError {
                    span: name.span,
                    message: format!(
                        "`{}` is in the module `stdlib.{module}`, which this file does not import",
                        name.text()
                    ),
                    help: Some(format!("add `import stdlib.{module}` at the top of the file")),
                });
                Type::Error
            }
            Lookup::Missing => {
                let text = name.text();
                let candidates = self.env.type_names().chain(BUILTIN_TYPES).chain(self.alias_defs.keys().map(|k| &**k));
                let help = crate::names::in_a_namespace(&text, self.env.type_names())
                    .or_else(|| crate::suggest::did_you_mean(&text, candidates));
                errors.push(TypeError { span: name.span, message: format!("unknown type `{text}`"), help });
                Type::Error
            }
        }
    }

    pub fn record(&self, r: &ast::RecordType, errors: &mut Vec<TypeError>, stack: &mut Vec<Arc<str>>) -> RecordType {
        let mut out = RecordType::default();
        for f in &r.fields {
            let ty = self.resolve_in(&f.ty, errors, stack);
            out.fields.entry(Arc::from(f.name.name.as_str())).or_insert(Field { ty, optional: f.optional });
        }
        out
    }
}

/// Builds the schema environment from every `schema` block of the project.
#[salsa::tracked(returns(ref))]
pub fn schema_env(db: &dyn salsa::Database, project: Project) -> Arc<SchemaEnv> {
    let stdlib = stdlib_modules(db, project);
    let schemas = schema_units(db, project);
    let mut env = SchemaEnv::default();
    // Pass 1: names. Entities and enums first so that aliases and attributes can refer to them.
    let alias_defs = declare_names(db, &mut env, &schemas);
    // Pass 2: aliases, then attributes, parents, actions and the context.
    env.aliases = resolve_aliases(db, stdlib, &env, &schemas, &alias_defs);
    let members = resolve_members(db, stdlib, &env, &schemas);
    members.apply(&mut env);
    env.ancestors = closure(env.entities.iter().map(|(k, v)| (k.clone(), v.parents.clone())));
    env.action_groups = closure(env.actions.iter().map(|(k, v)| (k.clone(), v.parents.clone())));
    // A parent declared with `by`, `on` or `returns` is an action in its own
    // right as well as a group (`read in [triage]`, `triage in [write]`,
    // as Cedar allows); a bare `action crm_read` is only a name for a set.
    env.groups = env
        .actions
        .values()
        .flat_map(|a| a.parents.iter().cloned())
        .filter(|g| !env.actions.get(g).is_some_and(ActionInfo::requestable))
        .collect();
    // A stdlib module's types widen unscoped variables only when some file
    // imports the module.
    let imported: BTreeSet<Arc<str>> =
        project.files(db).iter().flat_map(|f| namespace(db, *f).imports.values().cloned()).collect();
    env.hidden = env
        .entities
        .keys()
        .filter(|name| name.split_once('.').is_some_and(|(module, _)| !imported.contains(module)))
        .cloned()
        .collect();
    Arc::new(env)
}

/// Every schema unit of the project, in file order.
type SchemaUnits = Vec<(SourceFile, UnitKey, Arc<Unit>)>;

fn schema_units(db: &dyn salsa::Database, project: Project) -> SchemaUnits {
    let mut schemas = Vec::new();
    for file in project.files(db) {
        for key in &file_index(db, *file).schemas {
            if let Some(unit) = unit(db, *file, *key) {
                schemas.push((*file, *key, unit));
            }
        }
    }
    schemas
}

/// Pass 1: every entity, enum, alias and action name is declared (the first
/// declaration of a name wins; every one is recorded). Returns the aliases'
/// definitions, resolved in pass 2.
fn declare_names(db: &dyn salsa::Database, env: &mut SchemaEnv, schemas: &SchemaUnits) -> BTreeMap<Arc<str>, TypeExpr> {
    let mut alias_defs: BTreeMap<Arc<str>, TypeExpr> = BTreeMap::new();
    for (file, key, unit) in schemas {
        let Unit::Schema(schema) = &**unit else { continue };
        let ns = &namespace(db, *file).within(schema);
        for item in &schema.items {
            let loc = |span| Loc::new(*file, *key, span);
            match item {
                SchemaItem::Entity(e) => {
                    let name = qualify(ns, &e.name.name);
                    env.declarations.entry(name.clone()).or_default().push(loc(e.name.span));
                    env.entities.entry(name.clone()).or_insert(EntityInfo {
                        name,
                        parents: Vec::new(),
                        attrs: RecordType::default(),
                        attr_locs: BTreeMap::new(),
                        tags: None,
                        docs: e.docs.lines.clone(),
                        loc: loc(e.name.span),
                    });
                }
                SchemaItem::Enum(e) => {
                    let name = qualify(ns, &e.name.name);
                    env.declarations.entry(name.clone()).or_default().push(loc(e.name.span));
                    env.enums.entry(name.clone()).or_insert(EnumInfo {
                        name,
                        ordered: e.ordered,
                        variants: e.variants.iter().map(|v| Arc::from(v.name.as_str())).collect(),
                        docs: e.docs.lines.clone(),
                        loc: loc(e.name.span),
                    });
                }
                SchemaItem::TypeAlias(t) => {
                    let name = qualify(ns, &t.name.name);
                    env.declarations.entry(name.clone()).or_default().push(loc(t.name.span));
                    alias_defs.entry(name).or_insert_with(|| t.ty.clone());
                }
                SchemaItem::Action(a) => {
                    for n in &a.names {
                        let name = action_key(&qualify(ns, &n.name));
                        env.declarations.entry(name).or_default().push(loc(n.span));
                    }
                }
                SchemaItem::Context(_) | SchemaItem::Error(_) => {}
            }
        }
    }
    alias_defs
}

/// Pass 2a: each alias's type (refusing cycles through `alias_defs`).
fn resolve_aliases(
    db: &dyn salsa::Database,
    stdlib: &[Arc<str>],
    env: &SchemaEnv,
    schemas: &SchemaUnits,
    alias_defs: &BTreeMap<Arc<str>, TypeExpr>,
) -> BTreeMap<Arc<str>, (Type, Loc)> {
    let mut alias_types = BTreeMap::new();
    for (file, key, unit) in schemas {
        let Unit::Schema(schema) = &**unit else { continue };
        let ns = &namespace(db, *file).within(schema);
        let resolver = TypeResolver { env, ns, stdlib, alias_defs };
        for item in &schema.items {
            if let SchemaItem::TypeAlias(t) = item {
                let name = qualify(ns, &t.name.name);
                let ty = resolver.resolve(&t.ty, &mut Vec::new());
                alias_types.entry(name).or_insert((ty, Loc::new(*file, *key, t.name.span)));
            }
        }
    }
    alias_types
}

/// What pass 2b resolves, applied to the environment once every schema has
/// been read (the resolver borrows the environment meanwhile).
#[derive(Default)]
struct Members {
    context: RecordType,
    /// The schema's `context` fields marked `@verified`.
    verified: BTreeSet<Arc<str>>,
    actions: BTreeMap<Arc<str>, ActionInfo>,
    entities: Vec<EntityMembers>,
}

/// One entity declaration's parents and attributes.
struct EntityMembers {
    name: Arc<str>,
    /// The declaration they belong to: only the first declaration's are kept.
    loc: Loc,
    parents: Vec<Arc<str>>,
    attrs: RecordType,
    attr_locs: BTreeMap<Arc<str>, Loc>,
    tags: Option<Type>,
}

/// Pass 2b: entities' parents and attributes, actions, the shared context.
fn resolve_members(db: &dyn salsa::Database, stdlib: &[Arc<str>], env: &SchemaEnv, schemas: &SchemaUnits) -> Members {
    let no_aliases = BTreeMap::new();
    let mut members = Members::default();
    for (file, key, unit) in schemas {
        let Unit::Schema(schema) = &**unit else { continue };
        let ns = &namespace(db, *file).within(schema);
        let resolver = TypeResolver { env, ns, stdlib, alias_defs: &no_aliases };
        for item in &schema.items {
            match item {
                SchemaItem::Entity(e) => {
                    let mut attrs = RecordType::default();
                    let mut attr_locs = BTreeMap::new();
                    if let Some(r) = &e.attrs {
                        attrs = resolver.record(r, &mut Vec::new(), &mut Vec::new());
                        for f in &r.fields {
                            attr_locs.entry(Arc::from(f.name.name.as_str())).or_insert(Loc::new(
                                *file,
                                *key,
                                f.name.span,
                            ));
                        }
                    }
                    members.entities.push(EntityMembers {
                        name: qualify(ns, &e.name.name),
                        loc: Loc::new(*file, *key, e.name.span),
                        parents: resolver.entity_types(&e.parents).unwrap_or_default(),
                        attrs,
                        attr_locs,
                        tags: e.tags.as_ref().map(|t| resolver.resolve(t, &mut Vec::new())),
                    });
                }
                SchemaItem::Context(c) => {
                    for (k, v) in resolver.record(&c.fields, &mut Vec::new(), &mut Vec::new()).fields {
                        members.context.fields.entry(k).or_insert(v);
                    }
                    for f in c.fields.fields.iter().filter(|f| f.annotations.iter().any(|a| a.name.name == VERIFIED)) {
                        members.verified.insert(Arc::from(f.name.name.as_str()));
                    }
                }
                SchemaItem::Action(a) => {
                    for info in action_infos(&resolver, *file, *key, a) {
                        members.actions.entry(info.name.clone()).or_insert(info);
                    }
                }
                _ => {}
            }
        }
    }
    members
}

/// An `action` declaration's actions (one per name), their context their
/// own fields only.
fn action_infos(resolver: &TypeResolver, file: SourceFile, key: UnitKey, a: &ast::ActionDecl) -> Vec<ActionInfo> {
    let ns = resolver.ns;
    let own = a.context.as_ref().map(|r| resolver.record(r, &mut Vec::new(), &mut Vec::new()));
    let returns = a.returns.as_ref().map(|t| resolver.resolve(t, &mut Vec::new()));
    let groups: Vec<Arc<str>> =
        a.parents.as_ref().map(|l| l.names.iter().map(|p| resolver.action_name(p)).collect()).unwrap_or_default();
    let annotations: Vec<(String, Option<String>)> = a
        .annotations
        .iter()
        .map(|x| {
            let arg = match &x.arg {
                Some(ast::AnnotationArg::Lit(l)) => l.string_value().map(str::to_string),
                Some(ast::AnnotationArg::Word(w)) => Some(w.name.clone()),
                None => None,
            };
            (x.name.name.clone(), arg)
        })
        .collect();
    a.names
        .iter()
        .map(|n| ActionInfo {
            name: qualify(ns, &n.name),
            parents: groups.clone(),
            principals: resolver.entity_types(&a.principals),
            resources: resolver.entity_types(&a.resources),
            context: own.clone().unwrap_or_default(),
            returns: returns.clone(),
            sensitive: a.annotations.iter().any(|x| x.name.name == "sensitive"),
            annotations: annotations.clone(),
            verified: BTreeSet::new(),
            docs: a.docs.lines.clone(),
            loc: Loc::new(file, key, n.span),
        })
        .collect()
}

impl Members {
    fn apply(self, env: &mut SchemaEnv) {
        for update in self.entities {
            if let Some(info) = env.entities.get_mut(&update.name)
                && info.loc == update.loc
            {
                info.parents = update.parents;
                info.attrs = update.attrs;
                info.attr_locs = update.attr_locs;
                info.tags = update.tags;
            }
        }
        let mut actions = self.actions;
        // Each action's context is the schema's context plus its own fields.
        for action in actions.values_mut() {
            action.verified =
                self.verified.iter().filter(|f| !action.context.fields.contains_key(*f)).cloned().collect();
            let mut merged = self.context.clone();
            for (k, v) in std::mem::take(&mut action.context.fields) {
                merged.fields.insert(k, v);
            }
            action.context = merged;
        }
        env.context = self.context;
        env.verified = self.verified;
        env.actions = actions;
    }
}

/// Actions live in their own namespace: their key in [`SchemaEnv::declarations`].
pub fn action_key(name: &str) -> Arc<str> {
    Arc::from(format!("action {name}"))
}

/// The transitive closure of a parent relation (cycles are tolerated).
fn closure(edges: impl Iterator<Item = (Arc<str>, Vec<Arc<str>>)>) -> BTreeMap<Arc<str>, BTreeSet<Arc<str>>> {
    let direct: BTreeMap<Arc<str>, Vec<Arc<str>>> = edges.collect();
    let mut out = BTreeMap::new();
    for start in direct.keys() {
        let mut seen: BTreeSet<Arc<str>> = BTreeSet::new();
        let mut stack: Vec<Arc<str>> = direct.get(start).cloned().unwrap_or_default();
        while let Some(next) = stack.pop() {
            if seen.insert(next.clone())
                && let Some(parents) = direct.get(&next)
            {
                stack.extend(parents.iter().cloned());
            }
        }
        out.insert(start.clone(), seen);
    }
    out
}
