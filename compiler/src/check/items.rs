//! Checking declarations and policy members: schemas, agents, detectors,
//! imports, policies, rules, masks and limits.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ward_grammar::Span;
use ward_grammar::ast::*;
use ward_grammar::format::expr as expr_text;

use super::Cx;
use super::expr::{Env, Facts, facts_if_false, facts_if_true, path_key};
use crate::ir::lifecycle::{DAY_MS, Deadline, Duty};
use crate::literals;
use crate::names::qualify;
use crate::schema::{TypeResolver, action_key};
use crate::symbols::{BUILTIN_DETECTORS, VALIDATORS};
use crate::types::Type;
use crate::units::Loc;

const RULE_ANNOTATIONS: [&str; 7] = ["id", "reason", "severity", "shadow", "delegation", "template", "doc"];
const SEVERITIES: [&str; 4] = ["low", "medium", "high", "critical"];
pub const MASK_METHODS: [&str; 5] = ["redact", "partial", "hash", "tokenize", "drop"];
pub const OBLIGATIONS: [&str; 3] = ["require_approval", "notify", "audit"];
const AUDIT_LEVELS: [&str; 3] = ["low", "medium", "high"];

/// Renders milliseconds as a duration literal (`1d`, `1h30m`).
pub fn duration_text(ms: i64) -> String {
    let mut rest = ms;
    let mut out = String::new();
    for (unit, size) in [("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)]
    {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    if out.is_empty() { "0s".to_string() } else { out }
}

impl Cx<'_> {
    // ───────────────────────── duplicates ─────────────────────────

    /// Reports `name` as a duplicate when its first declaration is elsewhere.
    fn duplicate(&mut self, what: &str, name: &str, span: Span, all: Option<&Vec<Loc>>) {
        let here = self.loc(span);
        if let Some(first) = all.and_then(|locs| locs.first())
            && *first != here
            && all.is_some_and(|locs| locs.contains(&here))
        {
            self.error("E0108", span, format!("{what} `{name}` is declared more than once"))
                .label("declared again here")
                .secondary(*first, "first declared here")
                .help("rename one of them, or remove the duplicate");
        }
    }

    // ───────────────────────── imports ─────────────────────────

    pub fn import(&mut self, import: &ImportDecl) {
        let segments: Vec<&str> = import.path.segments.iter().map(|s| s.name.as_str()).collect();
        let module = match segments.as_slice() {
            ["stdlib", module] => *module,
            _ => {
                self.error("E0117", import.path.span, format!("cannot import `{}`", import.path.text()))
                    .label("not a stdlib module")
                    .help("imports name standard-library modules, such as `import stdlib.pii`; the files of a project see each other without imports");
                return;
            }
        };
        if !self.stdlib.iter().any(|m| &**m == module) {
            let known: Vec<&str> = self.stdlib.iter().map(|m| &**m).collect();
            let help = match crate::suggest::closest(module, known.iter().copied()) {
                Some(close) => format!("did you mean `stdlib.{close}`?"),
                None => format!("the stdlib modules are {}", known.join(", ")),
            };
            self.error("E0117", import.path.span, format!("there is no stdlib module `{module}`"))
                .label("unknown module")
                .help(help);
        }
    }

    // ───────────────────────── schemas ─────────────────────────

    pub fn schema(&mut self, schema: &SchemaDecl) {
        if !schema.namespace {
            return self.schema_items(schema);
        }
        // Inside `namespace N { … }`, names are declared and looked up in `N`.
        let scoped = self.ns.within(schema);
        let mut inner = Cx {
            file: self.file,
            key: self.key,
            env: self.env,
            symbols: self.symbols,
            ns: &scoped,
            stdlib: self.stdlib,
            options: self.options,
            diags: std::mem::take(&mut self.diags),
            types: self.types.take(),
            template: self.template,
            test_links: Vec::new(),
        };
        if schema.name.name.split("::").any(|part| part == "Action") {
            inner.error("E0118", schema.name.span, format!("`{}` cannot name a namespace", schema.name.name))
                .label("`Action` is reserved")
                .help("Cedar's request files write an action as `NS::Action::\"name\"`, so no namespace may be called `Action`");
        }
        inner.schema_items(schema);
        self.diags = inner.diags;
        self.types = inner.types;
    }

    fn schema_items(&mut self, schema: &SchemaDecl) {
        let env = Arc::clone(self.env);
        let no_aliases = BTreeMap::new();
        let mut context_fields: BTreeMap<&str, Span> = BTreeMap::new();
        for item in &schema.items {
            let mut errors = Vec::new();
            let resolver = TypeResolver { env: &env, ns: self.ns, stdlib: self.stdlib, alias_defs: &no_aliases };
            match item {
                SchemaItem::Entity(e) => {
                    let q = qualify(self.ns, &e.name.name);
                    self.duplicate("entity type", &q, e.name.span, env.declarations.get(&q));
                    if let Some(parents) = &e.parents {
                        for p in &parents.names {
                            self.entity_type(p);
                        }
                    }
                    if let Some(attrs) = &e.attrs {
                        self.record_decl(attrs, &resolver, &mut errors);
                    }
                    if let Some(tags) = &e.tags {
                        resolver.resolve(tags, &mut errors);
                    }
                    self.schema_annotations(&e.annotations, &[]);
                }
                SchemaItem::Enum(e) => {
                    let q = qualify(self.ns, &e.name.name);
                    self.duplicate("type", &q, e.name.span, env.declarations.get(&q));
                    let mut seen = BTreeMap::new();
                    for v in &e.variants {
                        self.named_once(&mut seen, &v.name, v.span, "enum value", "listed");
                    }
                    self.schema_annotations(&e.annotations, &[]);
                }
                SchemaItem::TypeAlias(t) => self.type_alias(schema, t, &mut errors),
                SchemaItem::Action(a) => self.action_decl(a, &resolver, &mut errors),
                SchemaItem::Context(c) => {
                    // `@verified` belongs here, so the fields' annotations are not `record_decl`'s.
                    let mut fields = c.fields.clone();
                    for f in &mut fields.fields {
                        f.annotations.retain(|a| a.name.name != crate::schema::VERIFIED);
                    }
                    self.record_decl(&fields, &resolver, &mut errors);
                    for f in &c.fields.fields {
                        self.named_once(&mut context_fields, &f.name.name, f.name.span, "context field", "declared");
                    }
                }
                SchemaItem::Error(_) => {}
            }
            self.type_errors(errors);
        }
    }

    /// Reports `name` (E0108: "{what} `name` is {verb} twice") when `seen`
    /// already holds it, else remembers where it first stands.
    fn named_once<'n>(
        &mut self,
        seen: &mut BTreeMap<&'n str, Span>,
        name: &'n str,
        span: Span,
        what: &str,
        verb: &str,
    ) {
        if let Some(first) = seen.get(name) {
            self.error("E0108", span, format!("{what} `{name}` is {verb} twice"))
                .label(format!("{verb} again"))
                .note_at(*first, format!("first {verb} here"));
        } else {
            seen.insert(name, span);
        }
    }

    /// A type alias: declared once, not recursive, its type resolvable.
    fn type_alias(&mut self, schema: &SchemaDecl, t: &TypeAliasDecl, errors: &mut Vec<crate::schema::TypeError>) {
        let env = Arc::clone(self.env);
        let (ns, stdlib) = (self.ns, self.stdlib);
        let q = qualify(ns, &t.name.name);
        self.duplicate("type", &q, t.name.span, env.declarations.get(&q));
        let defs = self.alias_defs(schema);
        let cycle = self.alias_cycle(&q, &t.ty, &defs);
        if let Some((span, via)) = cycle.clone() {
            let message = match via {
                None => format!("type alias `{q}` refers to itself"),
                Some(via) => format!("type alias `{q}` refers to itself through `{via}`"),
            };
            self.error("E0225", span, message)
                .label("recursive reference")
                .help("aliases are expanded where they are used, so they cannot be recursive; link values through an entity type instead");
        }
        self.nested_duplicates(&t.ty);
        if cycle.is_none() && env.aliases.get(&q).is_some_and(|(ty, _)| *ty == Type::Error) {
            // Resolve again, with the alias definitions, to explain why.
            let resolver = TypeResolver { env: &env, ns, stdlib, alias_defs: &defs };
            resolver.resolve(&t.ty, errors);
        } else {
            let no_aliases = BTreeMap::new();
            let resolver = TypeResolver { env: &env, ns, stdlib, alias_defs: &no_aliases };
            resolver.resolve(&t.ty, errors);
        }
        self.schema_annotations(&t.annotations, &[]);
    }

    /// An `action` declaration: names declared once, groups and entity types
    /// that exist, its context (warning where it shadows the shared one) and
    /// return types resolvable.
    fn action_decl(&mut self, a: &ActionDecl, resolver: &TypeResolver<'_>, errors: &mut Vec<crate::schema::TypeError>) {
        let env = Arc::clone(self.env);
        for n in &a.names {
            let q = qualify(self.ns, &n.name);
            self.duplicate("action", &q, n.span, env.declarations.get(&action_key(&q)));
        }
        if let Some(groups) = &a.parents {
            for g in &groups.names {
                self.action(g);
            }
        }
        for list in [&a.principals, &a.resources].into_iter().flatten() {
            for p in &list.names {
                self.entity_type(p);
            }
        }
        if let Some(r) = &a.context {
            self.record_decl(r, resolver, errors);
            for f in &r.fields {
                if let Some(shared) = env.context.fields.get(f.name.name.as_str()) {
                    let here = resolver.resolve(&f.ty, &mut Vec::new());
                    let types = if here == shared.ty {
                        format!("also {}", here.a())
                    } else {
                        format!("{} there, {} here", shared.ty.a(), here.a())
                    };
                    self.warning("W0113", f.name.span, format!("`{}` is also a field of the schema's `context` ({types}); for this action, this declaration replaces it", f.name.name))
                        .label("shadows a context field")
                        .help("rename the argument, or drop it and use the context field");
                }
            }
        }
        if let Some(t) = &a.returns {
            resolver.resolve(t, errors);
        }
        self.schema_annotations(&a.annotations, &["sensitive", "resource_from"]);
    }

    /// Reports the failures of resolving a schema item's types.
    fn type_errors(&mut self, errors: Vec<crate::schema::TypeError>) {
        for e in errors {
            let code = if e.message.starts_with("unknown type") { "E0101" } else { "E0107" };
            let code = if e.message.contains("refers to itself")
                || e.message.contains("joins entity types only")
                || e.message.contains("needs an element")
                || e.message.contains("takes no type")
            {
                "E0225"
            } else {
                code
            };
            let label = match code {
                "E0101" => "not a type",
                "E0107" => "module not imported",
                _ => "malformed type",
            };
            self.error(code, e.span, e.message).label(label).help_opt(e.help);
        }
    }

    /// The first type named in `ty`, the definition of alias `q`, through
    /// which `q` refers to itself (and the alias it goes through, if not
    /// directly). Only the aliases of the same schema block are followed.
    fn alias_cycle(
        &self,
        q: &str,
        ty: &TypeExpr,
        defs: &BTreeMap<Arc<str>, TypeExpr>,
    ) -> Option<(Span, Option<Arc<str>>)> {
        fn refs<'t>(ty: &'t TypeExpr, out: &mut Vec<&'t Path>) {
            match ty {
                TypeExpr::Named { name, arg, .. } => {
                    out.push(name);
                    if let Some(arg) = arg {
                        refs(arg, out);
                    }
                }
                TypeExpr::Record(r) => {
                    for f in &r.fields {
                        refs(&f.ty, out);
                    }
                }
                TypeExpr::Union { members, .. } => {
                    for m in members {
                        refs(m, out);
                    }
                }
            }
        }
        let alias = |path: &Path| match self.ns.lookup(path, |n| defs.contains_key(n), self.stdlib) {
            crate::names::Lookup::Found(name) => Some(name),
            _ => None,
        };
        let mut top = Vec::new();
        refs(ty, &mut top);
        for path in top {
            let Some(first) = alias(path) else { continue };
            if &*first == q {
                return Some((path.span, None));
            }
            let mut seen = BTreeSet::new();
            let mut work = vec![first.clone()];
            while let Some(next) = work.pop() {
                if !seen.insert(next.clone()) {
                    continue;
                }
                let mut inner = Vec::new();
                if let Some(def) = defs.get(&next) {
                    refs(def, &mut inner);
                }
                for name in inner.into_iter().filter_map(alias) {
                    if &*name == q {
                        return Some((path.span, Some(first)));
                    }
                    work.push(name);
                }
            }
        }
        None
    }

    fn alias_defs(&self, schema: &SchemaDecl) -> BTreeMap<Arc<str>, TypeExpr> {
        schema
            .items
            .iter()
            .filter_map(|i| match i {
                SchemaItem::TypeAlias(t) => Some((qualify(self.ns, &t.name.name), t.ty.clone())),
                _ => None,
            })
            .collect()
    }

    fn record_decl(&mut self, r: &RecordType, resolver: &TypeResolver<'_>, errors: &mut Vec<crate::schema::TypeError>) {
        let mut seen = BTreeMap::new();
        for f in &r.fields {
            for a in f.annotations.iter().filter(|a| a.name.name == crate::schema::VERIFIED) {
                self.warning("W0112", a.span, "`@verified` has meaning only on a field of the schema's `context`")
                    .label("ignored")
                    .help("an attribute comes from the entity data and an action's argument from the caller; declare the field in `context { … }` to have enforcement points set it");
            }
            self.named_once(&mut seen, &f.name.name, f.name.span, "attribute", "declared");
            self.nested_duplicates(&f.ty);
            resolver.resolve(&f.ty, errors);
        }
    }

    /// Reports fields declared twice in the record types nested in `ty`.
    fn nested_duplicates(&mut self, ty: &TypeExpr) {
        match ty {
            TypeExpr::Named { arg: Some(arg), .. } => self.nested_duplicates(arg),
            TypeExpr::Named { .. } => {}
            TypeExpr::Union { members, .. } => {
                for m in members {
                    self.nested_duplicates(m);
                }
            }
            TypeExpr::Record(r) => {
                let mut seen = BTreeMap::new();
                for f in &r.fields {
                    self.named_once(&mut seen, &f.name.name, f.name.span, "field", "declared");
                    self.nested_duplicates(&f.ty);
                }
            }
        }
    }

    fn schema_annotations(&mut self, annotations: &[Annotation], allowed: &[&str]) {
        for a in annotations {
            if !allowed.contains(&a.name.name.as_str()) && a.name.name != "doc" {
                let help = crate::suggest::did_you_mean(&a.name.name, allowed.iter().copied());
                self.warning("W0112", a.span, format!("annotation `@{}` has no meaning here", a.name.name))
                    .label("ignored")
                    .help_opt(help);
            }
        }
    }

    // ───────────────────────── agents ─────────────────────────

    pub fn agent(&mut self, agent: &AgentDecl) {
        let symbols = Arc::clone(self.symbols);
        self.duplicate(
            "agent",
            &agent.name.name,
            agent.name.span,
            symbols.agents.get(agent.name.name.as_str()).map(|v| v.iter().map(|a| a.loc).collect::<Vec<_>>()).as_ref(),
        );
        let ty = self.entity_type(&agent.ty);
        let env = Arc::clone(self.env);
        let info = ty.as_ref().and_then(|t| env.entities.get(t));
        if let (Some(parents), Some(t)) = (&agent.parents, &ty) {
            for p in parents {
                if let Some(pt) = self.entity_type(&p.ty)
                    && !env.may_be_in(t, &pt)
                {
                    self.error("E0205", p.span, format!("an agent of type `{t}` can never be in a `{pt}`"))
                        .label("membership the schema does not allow")
                        .help(format!("to allow it, declare `entity {t} in [{pt}]`"));
                }
            }
        }
        let empty = Env::none();
        let mut seen: BTreeMap<&'static str, Span> = BTreeMap::new();
        let (mut created, mut expires) = (None, None);
        // Cadences without `last` count from `created`, wherever it is written.
        let created_days = agent.fields.iter().find_map(|f| match &f.kind {
            AgentFieldKind::Created(d) => literals::date_days(&d.raw).ok(),
            _ => None,
        });
        for field in &agent.fields {
            let key = match &field.kind {
                AgentFieldKind::Owner(e) => {
                    let owner_attr = info.and_then(|i| i.attrs.fields.get("owner")).map(|f| &f.ty);
                    self.agent_owner(e, owner_attr);
                    "owner"
                }
                AgentFieldKind::Created(d) => {
                    created = self.date(d).map(|v| (v, d.span));
                    "created"
                }
                AgentFieldKind::Expires(d) => {
                    expires = self.date(d).map(|v| (v, d.span));
                    "expires"
                }
                AgentFieldKind::Rotate { every, last } => {
                    self.cadence(every, last.as_ref(), "rotate credentials", agent, created_days);
                    "rotate"
                }
                AgentFieldKind::Review { every, last } => {
                    self.cadence(every, last.as_ref(), "review", agent, created_days);
                    "review"
                }
                AgentFieldKind::Attrs(entries, _) => {
                    if let (Some(t), Some(info)) = (&ty, info) {
                        self.record_against(entries, &info.attrs, &format!("`{t}`"), "attribute", None, &empty);
                    }
                    "attrs"
                }
                AgentFieldKind::Description(_) => "description",
            };
            if let Some(first) = seen.get(key) {
                self.error("E0223", field.span, format!("`{key}` is given twice for agent `{}`", agent.name.name))
                    .label("given again")
                    .note_at(*first, "first given here");
            } else {
                seen.insert(key, field.span);
            }
        }
        self.agent_dates(agent, created, expires);
    }

    /// An agent's `owner`: fits the type's `owner` attribute, or without one
    /// is a string or an entity.
    fn agent_owner(&mut self, e: &Expr, owner_attr: Option<&Type>) {
        let got = self.expr(e, &Env::none(), &Facts::new(), owner_attr);
        match owner_attr {
            Some(expected) if !got.fits(expected) => {
                self.error(
                    "E0201",
                    e.span,
                    format!("`owner` fills the attribute `owner: {expected}`, but `{}` is {}", expr_text(e), got.a()),
                )
                .label(format!("expected {}", expected.a()));
            }
            None if !matches!(got, Type::String | Type::Entity(_)) && !got.is_error() => {
                self.error(
                    "E0201",
                    e.span,
                    format!("an agent's owner is a string or an entity, but `{}` is {}", expr_text(e), got.a()),
                )
                .label("not an owner");
            }
            _ => {}
        }
    }

    /// An agent's `created` and `expires` dates (days, with their spans):
    /// expiry after creation, and not already past.
    fn agent_dates(&mut self, agent: &AgentDecl, created: Option<(i64, Span)>, expires: Option<(i64, Span)>) {
        let mut inconsistent = false;
        if let (Some((c, cspan)), Some((e, espan))) = (created, expires)
            && e <= c
        {
            inconsistent = true;
            self.error(
                "E0222",
                espan,
                format!(
                    "agent `{}` expires on {}, before it is created on {}",
                    agent.name.name,
                    date_text(e),
                    date_text(c)
                ),
            )
            .label("not after `created`")
            .note_at(cspan, "created here");
        }
        // When the dates contradict each other, that is the one problem to report.
        if let (Some((e, espan)), Some(today), false) = (expires, self.today(), inconsistent)
            && e <= today
        {
            self.warning("W0108", espan, format!("agent `{}` expired on {}", agent.name.name, date_text(e)))
                .label(format!("in the past relative to {}", date_text(today)))
                .help("requests from this agent are denied; renew it with a new `expires` date or remove it");
        }
    }

    fn date(&mut self, lit: &Lit) -> Option<i64> {
        match literals::date_days(&lit.raw) {
            Ok(d) => Some(d),
            Err(message) => {
                self.error("E0206", lit.span, message).label("invalid date");
                None
            }
        }
    }

    fn cadence(&mut self, every: &Lit, last: Option<&Lit>, what: &str, agent: &AgentDecl, created: Option<i64>) {
        let period = match literals::duration_ms(&every.raw) {
            Ok(0) => {
                self.error("E0206", every.span, format!("`{what} every` needs a period longer than zero"))
                    .label("zero period");
                return;
            }
            Ok(ms) => ms,
            Err(message) => {
                self.error("E0206", every.span, message).label("invalid duration");
                return;
            }
        };
        let since = match last {
            Some(l) => match self.date(l) {
                Some(d) => Some((d, l.span)),
                None => return,
            },
            None => created.map(|c| (c, every.span)),
        };
        if let (Some((since, span)), Some(today)) = (since, self.today()) {
            let duty = if what == "review" { Duty::Review } else { Duty::CredentialRotation };
            let deadline = Deadline::cadence(duty, since, period);
            if deadline.overdue_at(today.saturating_mul(DAY_MS)) {
                let doing = duty.name();
                let due = deadline.date;
                self.warning(
                    "W0109",
                    span,
                    format!("agent `{}`: {doing} was due on {}", agent.name.name, date_text(due)),
                )
                .label(format!("overdue relative to {}", date_text(today)))
                .help(format!(
                    "requests from this agent are denied until the {doing} is done and the date after `last` updated"
                ));
            }
        }
    }

    /// Checks record entries (fixture attrs, agent attrs, a test's context)
    /// against a record type. `noun` names the entries ("attribute",
    /// "field"); with `missing_at`, every required entry must be present and
    /// those that are not are reported there.
    pub fn record_against(
        &mut self,
        entries: &[RecordEntry],
        record: &crate::types::RecordType,
        what: &str,
        noun: &str,
        missing_at: Option<Span>,
        env: &Env,
    ) {
        let mut seen = BTreeSet::new();
        for entry in entries {
            let name = entry.key.name();
            seen.insert(name.to_string());
            let key_span = match &entry.key {
                RecordKey::Word(w) => w.span,
                RecordKey::Str(s) => s.span,
            };
            match record.fields.get(name) {
                None => {
                    let help = crate::suggest::did_you_mean(name, record.fields.keys().map(|k| &**k));
                    self.error("E0104", key_span, format!("{what} has no {noun} `{name}`"))
                        .label(format!("unknown {noun}"))
                        .help_opt(help);
                }
                Some(field) => {
                    let got = self.expr(&entry.value, env, &Facts::new(), Some(&field.ty));
                    if !got.fits(&field.ty) {
                        self.error(
                            "E0201",
                            entry.value.span,
                            format!(
                                "`{name}` is {} in the schema, but `{}` is {}",
                                field.ty.a(),
                                expr_text(&entry.value),
                                got.a()
                            ),
                        )
                        .label(format!("expected {}", field.ty.a()));
                    }
                }
            }
        }
        if let Some(span) = missing_at {
            let missing: Vec<(&str, &crate::types::Type)> = record
                .fields
                .iter()
                .filter(|(k, f)| !f.optional && !seen.contains(&***k))
                .map(|(k, f)| (&**k, &f.ty))
                .collect();
            if !missing.is_empty() {
                let list: Vec<String> = missing.iter().map(|(k, t)| format!("`{k}: {t}`")).collect();
                let names: Vec<String> = missing.iter().map(|(k, _)| format!("`{k}`")).collect();
                let nouns = if missing.len() == 1 { format!("the {noun}") } else { format!("the {noun}s") };
                self.error("E0219", span, format!("{what} needs {nouns} {}", list.join(", ")))
                    .label(format!("missing {}", names.join(", ")))
                    .help(format!("give every {noun} the schema does not mark optional with `?`"));
            }
        }
    }

    // ───────────────────────── detectors ─────────────────────────

    pub fn detector_decl(&mut self, d: &DetectorDecl) {
        let q = qualify(self.ns, &d.name.name);
        let symbols = Arc::clone(self.symbols);
        let locs: Option<Vec<Loc>> = symbols.detectors.get(&q).map(|v| v.iter().map(|s| s.loc).collect());
        self.duplicate("detector", &q, d.name.span, locs.as_ref());
        match &d.def {
            DetectorDef::Builtin(name) => {
                let n = name.string_value().unwrap_or("");
                if !BUILTIN_DETECTORS.contains(&n) {
                    let help = crate::suggest::did_you_mean(n, BUILTIN_DETECTORS)
                        .unwrap_or_else(|| format!("the built-in detectors are {}", BUILTIN_DETECTORS.join(", ")));
                    self.error("E0106", name.span, format!("there is no built-in detector `{n}`"))
                        .label("unknown built-in")
                        .help(help);
                }
            }
            DetectorDef::Pattern { regex, validate } => {
                if let Err(message) = literals::pattern(regex.string_value().unwrap_or("")) {
                    self.error("E0208", regex.span, message).label("not a valid pattern");
                } else if regex
                    .string_value()
                    .is_some_and(|r| regex_syntax::parse(r).is_ok_and(|h| h.properties().minimum_len() == Some(0)))
                {
                    self.error(
                        "E0208",
                        regex.span,
                        "this pattern matches the empty string, so it would match everywhere",
                    )
                    .label("matches empty text")
                    .help("require at least one character, e.g. `+` instead of `*`");
                }
                if let Some(v) = validate
                    && !VALIDATORS.contains(&v.name.as_str())
                {
                    let help = crate::suggest::did_you_mean(&v.name, VALIDATORS)
                        .unwrap_or_else(|| format!("the validators are {}", VALIDATORS.join(", ")));
                    self.error("E0224", v.span, format!("unknown validator `{}`", v.name))
                        .label("unknown validator")
                        .help(help);
                }
            }
            DetectorDef::Keywords(words) => {
                for w in words {
                    if w.string_value().is_some_and(|s| s.trim().is_empty()) {
                        self.error("E0224", w.span, "a keyword must not be empty").label("empty keyword");
                    }
                }
            }
            DetectorDef::Group(members) => {
                for m in members {
                    if let Some(target) = self.resolve_detector(m)
                        && target == q
                    {
                        self.error("E0224", m.span, format!("detector group `{q}` contains itself")).label("cycle");
                    }
                }
            }
        }
    }

    // ───────────────────────── policies ─────────────────────────

    pub fn policy_header(&mut self, annotations: &[Annotation], name: &Ident) {
        let symbols = Arc::clone(self.symbols);
        self.duplicate("policy", &name.name, name.span, symbols.policies.get(name.name.as_str()));
        for a in annotations {
            if !["require_ids", "doc"].contains(&a.name.name.as_str()) {
                let help = crate::suggest::did_you_mean(&a.name.name, ["require_ids"]);
                self.warning("W0112", a.span, format!("annotation `@{}` has no meaning on a policy", a.name.name))
                    .label("ignored")
                    .help_opt(help);
            }
        }
    }

    pub fn member(&mut self, _policy: &str, _position: u32, item: &PolicyItem) {
        match item {
            PolicyItem::Rule(rule) => self.rule(rule),
            PolicyItem::Mask(mask) => self.mask(mask),
            PolicyItem::Limit(limit) => self.limit(limit),
            PolicyItem::Error(_) => {}
        }
    }

    fn rule_annotations(&mut self, annotations: &[Annotation], effect: Option<Effect>) {
        for a in annotations {
            let name = a.name.name.as_str();
            let arg_text = a.arg_text();
            let is_string = matches!(&a.arg, Some(AnnotationArg::Lit(Lit { kind: LitKind::Str(_), .. })));
            match name {
                "id" => {
                    if !is_string {
                        self.error("E0220", a.span, "`@id` takes a string: `@id(\"read-own-region\")`")
                            .label("expected a string");
                    } else if let Some(id) = &arg_text
                        && (id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                    {
                        let span = match &a.arg {
                            Some(AnnotationArg::Lit(l)) => l.span,
                            _ => a.span,
                        };
                        let fixed: String =
                            id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect();
                        let help = if fixed.chars().any(|c| c != '-') {
                            format!("write `@id(\"{fixed}\")`; ids appear in decisions, tests and audit logs")
                        } else {
                            "ids appear in decisions, tests and audit logs; keep them short and stable".to_string()
                        };
                        self.error("E0220", span, format!("rule id `{id}` must be letters, digits, `-` and `_`"))
                            .label("invalid id")
                            .help(help);
                    }
                }
                "reason" if !is_string => {
                    self.error("E0220", a.span, "`@reason` takes a string").label("expected a string");
                }
                "severity" => {
                    if !arg_text.as_deref().is_some_and(|s| SEVERITIES.contains(&s)) {
                        self.error("E0220", a.span, format!("`@severity` is one of {}", SEVERITIES.join(", ")))
                            .label("unknown severity");
                    }
                }
                "shadow" if a.arg.is_some() => {
                    self.error("E0220", a.span, "`@shadow` takes no argument").label("remove the argument");
                }
                "template" if a.arg.is_some() => {
                    self.error("E0220", a.span, "`@template` takes no argument").label("remove the argument");
                }
                "template" if effect.is_none() => {
                    self.error("E0220", a.span, "`@template` applies to `permit` and `forbid` rules only")
                        .label("not a rule");
                }
                "delegation" => {
                    if arg_text.as_deref() != Some("actor") {
                        self.error("E0220", a.span, "`@delegation` takes \"actor\"").label("unknown delegation mode");
                    } else if effect != Some(Effect::Permit) {
                        self.error("E0220", a.span, "`@delegation(\"actor\")` applies to permits only")
                            .label("not a permit");
                    } else {
                        self.warning("W0110", a.span, "this permit lets the agent act beyond the rights of the people it acts for")
                            .label("delegation escape hatch")
                            .help("with `@delegation(\"actor\")` the chain's other links are not checked for this permit; make sure that is intended");
                    }
                }
                n if RULE_ANNOTATIONS.contains(&n) => {}
                n => {
                    let help = crate::suggest::did_you_mean(n, RULE_ANNOTATIONS);
                    self.warning("W0112", a.name.span, format!("unknown annotation `@{n}`"))
                        .label("not one of Ward's annotations")
                        .help(help.unwrap_or_else(|| "custom annotations are kept but have no effect".to_string()));
                }
            }
        }
    }

    /// Checks conditions in order; each `when` adds what it proves to the
    /// facts of the conditions after it (evaluation stops at the first false).
    fn conditions(&mut self, conditions: &[Condition], env: &Env) -> Facts {
        let mut facts = Facts::new();
        for c in conditions {
            self.condition(&c.expr, env, &facts);
            match c.kind {
                ConditionKind::When => facts_if_true(&c.expr, &mut facts),
                ConditionKind::Unless => facts_if_false(&c.expr, &mut facts),
            }
        }
        facts
    }

    /// An `assert`: its scope and conditions are checked as a rule's.
    pub fn assert_decl(&mut self, a: &AssertDecl) {
        let env = self.scope_env(a.scope.as_ref(), None);
        self.conditions(&a.conditions, &env);
    }

    fn rule(&mut self, rule: &Rule) {
        self.rule_annotations(&rule.annotations, Some(rule.effect));
        let template = rule.annotations.iter().find(|a| a.name.name == "template");
        if let Some(t) = template {
            self.template_header(rule, t.span);
        }
        self.template = template.is_some();
        let env = self.scope_env(rule.scope.as_ref(), None);
        self.template = false;
        let facts = self.conditions(&rule.conditions, &env);
        for clause in &rule.clauses {
            self.clause(clause, &env, &facts);
        }
        for c in &rule.conditions {
            // Whether the condition holding makes the rule more permissive:
            // a permit's `when`, a forbid's `unless`.
            let permissive = (rule.effect == Effect::Permit) == (c.kind == ConditionKind::When);
            self.chain_length_as_person(&c.expr, permissive);
        }
    }

    /// A `@template` rule names itself with `@id` (links refer to it) and
    /// has at least one slot (E0232).
    fn template_header(&mut self, rule: &Rule, span: Span) {
        if !rule.annotations.iter().any(|a| a.name.name == "id") {
            self.error("E0232", span, "a template needs an `@id`: links name the template by it")
                .label("template without an id")
                .help("add `@id(\"share\")`; a link's `template_id` is then `POLICY.share`");
        }
        let slots = rule
            .scope
            .iter()
            .flat_map(|s| &s.items)
            .filter(|item| match item {
                ScopeItem::Principal(s) | ScopeItem::Resource(s) => {
                    s.constraint.as_ref().is_some_and(|c| matches!(c.target.kind, ExprKind::Slot(_)))
                }
                ScopeItem::Action(_) => false,
            })
            .count();
        if slots == 0 {
            self.error("E0232", span, "a template has no slot: its scope never says `?principal` or `?resource`")
                .label("template without a slot")
                .help("write `principal == ?principal` or `resource in ?resource` in the scope, or remove `@template`");
        }
    }

    /// W0114: `chain.size() >= 2` (or `> 1`, `!= 1`, `== 2`, …) where it
    /// lets a request through counts links, not people: a chain of two
    /// agents passes it.
    fn chain_length_as_person(&mut self, e: &Expr, permissive: bool) {
        let mut work = vec![(e, permissive)];
        while let Some((e, positive)) = work.pop() {
            match &e.kind {
                ExprKind::Unary { op: UnaryOp::Not, operand } => work.push((operand, !positive)),
                ExprKind::Paren(inner) => work.push((inner, positive)),
                ExprKind::Binary { op: BinaryOp::And | BinaryOp::Or, lhs, rhs } => {
                    work.push((rhs, positive));
                    work.push((lhs, positive));
                }
                ExprKind::Binary { op, lhs, rhs } => {
                    let (op, n) = match (chain_size(lhs), chain_size(rhs), int_literal(lhs), int_literal(rhs)) {
                        (true, _, _, Some(n)) => (*op, n),
                        (_, true, Some(n), _) => (flip(*op), n),
                        _ => continue,
                    };
                    // Whether the comparison holds for some chain of more
                    // than one link and not for a lone principal.
                    let more_than_one = match op {
                        BinaryOp::Ge => n >= 2,
                        BinaryOp::Gt => n >= 1,
                        BinaryOp::Eq => n >= 2,
                        BinaryOp::NotEq => n == 1,
                        _ => false,
                    };
                    // `!(chain.size() < 2)` in a permit's `when` too.
                    let fewer = match op {
                        BinaryOp::Lt => n <= 2,
                        BinaryOp::Le => n <= 1,
                        BinaryOp::Eq => n == 1,
                        _ => false,
                    };
                    if (more_than_one && positive) || (fewer && !positive) {
                        self.warning(
                            "W0114",
                            e.span,
                            "`chain.size()` counts the links of the delegation chain, not the people in it",
                        )
                        .label("a chain of two agents and no person passes this")
                        .help("to require a person in the chain, write `chain.any(link, link is User)` (with your schema's type for people)");
                    }
                }
                _ => {}
            }
        }
    }

    fn clause(&mut self, clause: &Clause, env: &Env, facts: &Facts) {
        let name = clause.call.name.text();
        let args = clause.call.args.as_deref().unwrap_or(&[]);
        type Spec = &'static [(&'static str, Option<Type>, bool)];
        let spec: Option<Spec> = match (clause.kind, name.as_str()) {
            (ClauseKind::Obligation, "require_approval") => {
                const S: Spec = &[("role", Some(Type::String), true), ("count", Some(Type::Int), false)];
                Some(S)
            }
            (ClauseKind::Obligation, "notify") => {
                const S: Spec = &[
                    ("to", Some(Type::String), false),
                    ("channel", Some(Type::String), false),
                    ("message", Some(Type::String), false),
                ];
                Some(S)
            }
            (ClauseKind::Obligation, "audit") => {
                const S: Spec = &[("level", None, true)];
                Some(S)
            }
            (ClauseKind::Advice, "log") => {
                const S: Spec = &[("message", Some(Type::String), true)];
                Some(S)
            }
            _ => None,
        };
        let Some(spec) = spec else {
            let known: &[&str] = if clause.kind == ClauseKind::Obligation { &OBLIGATIONS } else { &["log"] };
            let close = crate::suggest::closest(&name, known.iter().copied());
            if let Some(close) = close {
                self.warning("W0111", clause.call.name.span, format!("unknown {} `{name}`", kind_word(clause.kind)))
                    .label("not a built-in one")
                    .help(format!(
                        "did you mean `{close}`? Unknown names are passed to the application as custom {}s",
                        kind_word(clause.kind)
                    ));
            }
            for a in args {
                self.expr(&a.value, env, facts, None);
            }
            return;
        };
        let mut unknown_args = false;
        for a in args {
            match spec.iter().find(|(k, _, _)| *k == a.name.name) {
                None => {
                    unknown_args = true;
                    let names: Vec<&str> = spec.iter().map(|(k, _, _)| *k).collect();
                    let help = crate::suggest::did_you_mean(&a.name.name, names.iter().copied())
                        .unwrap_or_else(|| format!("its arguments are {}", names.join(", ")));
                    self.error("E0209", a.name.span, format!("`{name}` has no argument `{}`", a.name.name))
                        .label("unknown argument")
                        .help(help);
                    self.expr(&a.value, env, facts, None);
                }
                Some((key, Some(ty), _)) => {
                    let got = self.expr(&a.value, env, facts, Some(ty));
                    if !got.fits(ty) {
                        self.error(
                            "E0201",
                            a.value.span,
                            format!("`{key}` must be {}, but `{}` is {}", ty.a(), expr_text(&a.value), got.a()),
                        )
                        .label(format!("expected {}", ty.a()));
                    }
                }
                Some((key, None, _)) => {
                    // `audit(level: high)`: a level word.
                    let ok = matches!(&a.value.kind, ExprKind::Name(n) if AUDIT_LEVELS.contains(&n.name.as_str()));
                    if !ok {
                        self.error("E0201", a.value.span, format!("`{key}` is one of {}", AUDIT_LEVELS.join(", ")))
                            .label("unknown level");
                    }
                }
            }
        }
        // A misspelt argument is reported once, not also as a missing one.
        for (key, _, required) in spec {
            if *required && !unknown_args && !args.iter().any(|a| a.name.name == *key) {
                self.error("E0209", clause.call.span, format!("`{name}` needs the argument `{key}`"))
                    .label(format!("missing `{key}`"))
                    .help(format!("write `{name}({key}: …)`"));
            }
        }
        let count_ok = args
            .iter()
            .find(|a| a.name.name == "count")
            .is_none_or(|a| !matches!(&a.value.kind, ExprKind::Lit(Lit { kind: LitKind::Int, raw, .. }) if raw == "0"));
        if !count_ok {
            self.error("E0201", clause.call.span, "`require_approval(count: 0)` requires no one")
                .label("count must be at least 1");
        }
        if name == "notify" && !args.iter().any(|a| a.name.name == "to" || a.name.name == "channel") {
            self.error("E0209", clause.call.span, "`notify` needs `to` or `channel`").label("no recipient");
        }
    }

    // ───────────────────────── masks ─────────────────────────

    fn mask(&mut self, mask: &MaskRule) {
        self.rule_annotations(&mask.annotations, None);
        let env = self.scope_env(mask.scope.as_ref(), None);
        let facts = self.conditions(&mask.conditions, &env);
        let _ = facts;
        let symbols = Arc::clone(self.symbols);
        // Which form: `with METHOD` or `with DETECTORS [using METHOD]`.
        let (detectors, method): (&[CallItem], Option<&CallItem>) = match &mask.using {
            Some(method) => (&mask.with, Some(method)),
            None => {
                let first_is_method = mask.with.first().is_some_and(|c| {
                    let text = c.name.text();
                    MASK_METHODS.contains(&text.as_str()) && !symbols.detectors.contains_key(text.as_str())
                });
                if first_is_method && mask.with.len() == 1 { (&[], mask.with.first()) } else { (&mask.with, None) }
            }
        };
        // `mask PATH with NAME`: NAME may be a method or a detector; when it
        // is neither, say so (rather than "unknown detector").
        if let ([single], None) = (detectors, &mask.using) {
            let missing = matches!(
                self.ns.lookup(&single.name, |n| symbols.detectors.contains_key(n), self.stdlib),
                crate::names::Lookup::Missing
            );
            if missing && !MASK_METHODS.contains(&single.name.text().as_str()) {
                let text = single.name.text();
                let candidates = MASK_METHODS.iter().copied().chain(symbols.detectors.keys().map(|k| &**k));
                let help = crate::suggest::did_you_mean(&text, candidates).unwrap_or_else(|| {
                    format!(
                        "the masking methods are {}; detectors come from `detector` declarations and stdlib modules",
                        MASK_METHODS.join(", ")
                    )
                });
                self.error("E0115", single.name.span, format!("`{text}` is neither a masking method nor a detector"))
                    .label("unknown method or detector")
                    .help(help);
                for path in &mask.paths {
                    self.mask_path(path, &env, "redact", true);
                }
                return;
            }
        }
        for d in detectors {
            if MASK_METHODS.contains(&d.name.text().as_str()) && mask.using.is_none() {
                self.error(
                    "E0115",
                    d.span,
                    format!("`{}` is a masking method; list detectors here, or only the method", d.name.text()),
                )
                .label("method among detectors")
                .help("write `mask PATH with DETECTOR, … using METHOD`");
                continue;
            }
            if d.args.is_some() {
                self.error("E0209", d.span, "detectors take no arguments").label("remove the arguments");
            }
            self.resolve_detector(&d.name);
        }
        let method_name = method.map_or_else(|| "redact".to_string(), |m| m.name.text());
        if let Some(m) = method {
            self.mask_method(m);
        }
        let whole_value = detectors.is_empty();
        for path in &mask.paths {
            self.mask_path(path, &env, &method_name, whole_value);
        }
    }

    fn mask_method(&mut self, m: &CallItem) {
        let name = m.name.text();
        let args = m.args.as_deref().unwrap_or(&[]);
        let allowed: &[(&str, Type)] = match name.as_str() {
            "redact" | "drop" => &[],
            "partial" => &[("first", Type::Int), ("last", Type::Int)],
            "hash" => &[("salt", Type::String)],
            "tokenize" => &[("key", Type::String)],
            other => {
                let help = crate::suggest::did_you_mean(other, MASK_METHODS)
                    .unwrap_or_else(|| format!("the methods are {}", MASK_METHODS.join(", ")));
                self.error("E0115", m.name.span, format!("unknown masking method `{other}`"))
                    .label("not a masking method")
                    .help(help);
                return;
            }
        };
        for a in args {
            match allowed.iter().find(|(k, _)| *k == a.name.name) {
                None => {
                    let names: Vec<&str> = allowed.iter().map(|(k, _)| *k).collect();
                    let help = if names.is_empty() {
                        format!("`{name}` takes no arguments")
                    } else {
                        format!("its arguments are {}", names.join(", "))
                    };
                    self.error("E0209", a.name.span, format!("`{name}` has no argument `{}`", a.name.name))
                        .label("unknown argument")
                        .help(help);
                }
                Some((key, ty)) => {
                    let ExprKind::Lit(lit) = &a.value.kind else {
                        self.error("E0214", a.value.span, format!("`{key}` must be a literal")).label("not a literal");
                        continue;
                    };
                    let got = self.literal(lit);
                    if !got.fits(ty) {
                        self.error("E0201", a.value.span, format!("`{key}` must be {}, found {}", ty.a(), got.a()))
                            .label(format!("expected {}", ty.a()));
                    }
                }
            }
        }
        if name == "tokenize" && !args.iter().any(|a| a.name.name == "key") {
            self.error("E0209", m.span, "`tokenize` needs a `key`: `tokenize(key: \"crm-masking\")`")
                .label("missing key")
                .help("the key names the secret the runtime tokenizes with; only holders of that key can detokenize");
        }
        if name == "partial" && !args.iter().any(|a| a.name.name == "first" || a.name.name == "last") {
            self.error("E0209", m.span, "`partial` needs `first`, `last` or both: `partial(last: 4)`")
                .label("nothing to reveal");
        }
    }

    /// A mask's path: a known root, then fields and `*`s that exist on the
    /// types they reach; what the method masks must be a string (but `drop`).
    fn mask_path(&mut self, path: &MaskPath, env: &Env, method: &str, whole_value: bool) {
        let Some(mut ty) = self.mask_root(path, env) else { return };
        let mut text = path.root.name.clone();
        for seg in &path.segments {
            match seg {
                MaskSegment::Star(span) => {
                    let Some(next) = self.mask_star(&ty, &text, *span) else { return };
                    ty = next;
                    text.push_str(".*");
                }
                MaskSegment::Field(name) => {
                    let Some(next) = self.mask_field(&ty, &text, name) else { return };
                    ty = next;
                    text.push('.');
                    text.push_str(&name.name);
                }
            }
        }
        let is_text = matches!(ty, Type::String) || ty.is_error();
        if method != "drop" && !is_text {
            let kind = if whole_value { format!("`{method}`") } else { "detectors".to_string() };
            self.error("E0211", path.span, format!("`{text}` is {}; {kind} can only mask strings", ty.a()))
                .label("not a string")
                .help(match ty.element() {
                    Some(_) => format!("to mask each element, write `{text}.*`"),
                    None => "use `drop` to remove a value of another type".to_string(),
                });
        }
    }

    /// The type of a mask path's root; `None` when there is nothing more to
    /// check (`text`, or a reported error).
    fn mask_root(&mut self, path: &MaskPath, env: &Env) -> Option<Type> {
        match path.root.name.as_str() {
            "text" => {
                if let Some(seg) = path.segments.first() {
                    let span = match seg {
                        MaskSegment::Field(f) => f.span,
                        MaskSegment::Star(s) => *s,
                    };
                    self.error("E0211", span, "`text` is every string of the payload; it has no fields")
                        .label("remove this");
                }
                None
            }
            "resource" => Some(env.resource.clone()),
            "context" => Some(env.context.clone()),
            "response" => self.response_type(path, env),
            other => {
                self.error(
                    "E0211",
                    path.root.span,
                    format!("a mask path starts with `resource`, `response`, `context` or `text`, not `{other}`"),
                )
                .label("unknown root");
                None
            }
        }
    }

    /// The type of `response`: the `returns` type the scope's actions share
    /// (an error type when they differ); `None` (reported) when one declares none.
    fn response_type(&mut self, path: &MaskPath, env: &Env) -> Option<Type> {
        let schema = Arc::clone(self.env);
        let mut returns: Option<Type> = None;
        for a in &env.actions {
            match schema.actions.get(a).and_then(|i| i.returns.clone()) {
                Some(t) => {
                    if returns.as_ref().is_some_and(|r| *r != t) {
                        returns = Some(Type::Error);
                    } else {
                        returns = Some(t);
                    }
                }
                None => {
                    self.error(
                        "E0211",
                        path.root.span,
                        format!("action `{a}` declares no `returns` type, so `response` has no fields to name"),
                    )
                    .label("unknown response shape")
                    .help(format!("declare `action {a} … returns {{ … }}`, or narrow the mask with `on action: …`"));
                    return None;
                }
            }
        }
        Some(returns.unwrap_or(Type::Error))
    }

    /// The type `*` reaches from `ty` (the path so far is `text`): a
    /// collection's elements, or a record's values when they share a type.
    fn mask_star(&mut self, ty: &Type, text: &str, span: Span) -> Option<Type> {
        match ty.element() {
            Some(el) => Some(el.clone()),
            None if matches!(ty, Type::Record(_)) => {
                // `*` over a record's values: they must share a type.
                let Type::Record(r) = ty else { return None };
                let mut types: Vec<&Type> = r.fields.values().map(|f| &f.ty).collect();
                types.dedup();
                match types.as_slice() {
                    [one] => Some((*one).clone()),
                    _ => Some(Type::Error),
                }
            }
            None if ty.is_error() => None,
            None => {
                self.error("E0211", span, format!("`{text}` is {}; `*` needs a set, list or record", ty.a()))
                    .label("nothing to expand");
                None
            }
        }
    }

    /// The type of the field `name` of `ty` (the path so far is `text`).
    fn mask_field(&mut self, ty: &Type, text: &str, name: &Ident) -> Option<Type> {
        let schema = Arc::clone(self.env);
        let next = match ty {
            Type::Entity(names) => {
                let mut found = None;
                for n in names.iter() {
                    if let Some(f) = schema.entities.get(n).and_then(|e| e.attrs.fields.get(name.name.as_str())) {
                        found = Some(f.ty.clone());
                    }
                }
                found
            }
            Type::Record(r) => r.fields.get(name.name.as_str()).map(|f| f.ty.clone()),
            t if t.is_error() => return None,
            _ => None,
        };
        if next.is_none() {
            let candidates: Vec<String> = match ty {
                Type::Entity(names) => names
                    .iter()
                    .filter_map(|n| schema.entities.get(n))
                    .flat_map(|e| e.attrs.fields.keys().map(|k| k.to_string()))
                    .collect(),
                Type::Record(r) => r.fields.keys().map(|k| k.to_string()).collect(),
                _ => Vec::new(),
            };
            let help = crate::suggest::did_you_mean(&name.name, candidates.iter().map(String::as_str));
            self.error("E0104", name.span, format!("`{text}` ({ty}) has no field `{}`", name.name))
                .label("unknown field")
                .help_opt(help);
        }
        next
    }

    // ───────────────────────── limits ─────────────────────────

    fn limit(&mut self, limit: &LimitRule) {
        self.rule_annotations(&limit.annotations, None);
        let env = self.scope_env(limit.scope.as_ref(), None);
        let facts = self.conditions(&limit.conditions, &env);
        if let Some(measure) = &limit.measure {
            self.limit_measure(limit, measure, &env, &facts);
        } else if limit.count.kind == LitKind::Decimal {
            self.error("E0235", limit.count.span, "a rate limit counts requests: its number is a whole number")
                .label("not a whole number")
                .help("a budget of an amount is a `sum` limit: `limit … sum(context.amount) to 20000.00 per 24h`");
            return;
        }
        if limit.measure.as_ref().is_some_and(|m| m.kind == MeasureKind::Sum) {
            // The budget was checked with the summed expression's type.
        } else {
            match literals::int(&limit.count.raw) {
                Ok(0) => {
                    self.error(
                        "E0217",
                        limit.count.span,
                        "a limit of 0 requests forbids the action; write a `forbid` rule instead",
                    )
                    .label("zero");
                }
                Ok(n) if limit.measure.is_some() && n as u64 > ward_ir::MAX_DISTINCT => {
                    self.error(
                        "E0217",
                        limit.count.span,
                        format!("a `distinct` limit counts at most {} values", ward_ir::MAX_DISTINCT),
                    )
                    .label("too many")
                    .help("its state per key holds every value seen in the window");
                }
                Ok(_) => {}
                Err(message) => {
                    self.error("E0206", limit.count.span, message).label("invalid number");
                }
            }
        }
        match literals::duration_ms(&limit.window.raw) {
            Ok(0) => {
                self.error("E0217", limit.window.span, "a rate-limit window must be longer than zero")
                    .label("empty window");
            }
            Ok(_) => {}
            Err(message) => {
                self.error("E0206", limit.window.span, message).label("invalid duration");
            }
        }
        if let Some(burst) = &limit.burst {
            match literals::int(&burst.raw) {
                Ok(0) => {
                    self.error("E0217", burst.span, "a burst of 0 allows nothing").label("zero burst");
                }
                Ok(_) => {}
                Err(message) => {
                    self.error("E0206", burst.span, message).label("invalid number");
                }
            }
        }
        for key in &limit.keys {
            let nameable = path_key(key).is_some() || matches!(key.kind, ExprKind::Var(Var::Action));
            if !nameable {
                self.error("E0212", key.span, format!("`{}` is not a value of the request", expr_text(key)))
                    .label("not a request value")
                    .help("rate-limit keys name what is counted: `principal`, `resource`, `principal.owner`, `context.session`");
                continue;
            }
            let ty = self.expr(key, &env, &facts, None);
            let ok = matches!(ty, Type::Entity(_) | Type::String | Type::Int | Type::Enum(_) | Type::Action | Type::Ip)
                || ty.is_error();
            if !ok {
                self.error(
                    "E0212",
                    key.span,
                    format!("`{}` is {}, which cannot key a rate limit", expr_text(key), ty.a()),
                )
                .label("unsuitable key")
                .help("keys are entities, strings, integers, enums, IP addresses or the action");
            }
        }
    }
}

impl Cx<'_> {
    /// A cumulative limit's measure and budget: `sum(E)` of an Int or
    /// Decimal with a budget of that type, `distinct(E)` of a value that
    /// can be told apart, with a count of at most `MAX_DISTINCT`; no burst.
    fn limit_measure(&mut self, limit: &LimitRule, measure: &LimitMeasure, env: &Env, facts: &Facts) {
        let word = measure.kind.word();
        if let Some(burst) = &limit.burst {
            self.error("E0235", burst.span, format!("a `{word}` limit has no burst"))
                .label("burst of a cumulative limit")
                .help("a burst shapes a rate of requests; a budget or a distinct count is spent over the window");
        }
        let ty = self.expr(&measure.expr, env, facts, None);
        if has_flow(&measure.expr) {
            self.error(
                "E0235",
                measure.expr.span,
                format!("a `{word}` limit's measure is computed from the request alone, not from recent history"),
            )
            .label("a flow condition")
            .help("a budget already spans its window; put a flow condition in a `when` or `unless` of the limit");
            return;
        }
        match measure.kind {
            MeasureKind::Sum => {
                let decimal = match ty {
                    Type::Int => false,
                    Type::Decimal => true,
                    _ if ty.is_error() => return,
                    _ => {
                        self.error(
                            "E0235",
                            measure.expr.span,
                            format!(
                                "`{}` is {}; a `sum` limit adds Int or Decimal amounts",
                                expr_text(&measure.expr),
                                ty.a()
                            ),
                        )
                        .label("not an amount");
                        return;
                    }
                };
                let budget = match (decimal, &limit.count.kind) {
                    (false, LitKind::Decimal) => {
                        self.error(
                            "E0235",
                            limit.count.span,
                            format!("`{}` is an Int: its budget is a whole number", expr_text(&measure.expr)),
                        )
                        .label("a decimal budget for Int amounts");
                        return;
                    }
                    (false, _) => literals::int(&limit.count.raw),
                    (true, _) => literals::decimal(&limit.count.raw),
                };
                match budget {
                    Ok(b) if b <= 0 => {
                        self.error(
                            "E0217",
                            limit.count.span,
                            "a budget of 0 allows nothing; write a `forbid` rule instead",
                        )
                        .label("zero");
                    }
                    Ok(b) if b as u64 > ward_ir::MAX_SUM_BUDGET => {
                        let max = if decimal {
                            literals::decimal_text(ward_ir::MAX_SUM_BUDGET as i64)
                        } else {
                            ward_ir::MAX_SUM_BUDGET.to_string()
                        };
                        self.error("E0217", limit.count.span, format!("a `sum` limit's budget is at most {max}"))
                            .label("too large")
                            .help(
                                "sums stay exact in every state store (Redis computes with doubles) up to this budget",
                            );
                    }
                    Ok(_) => {}
                    Err(message) => {
                        self.error("E0206", limit.count.span, message).label("invalid number");
                    }
                }
            }
            MeasureKind::Distinct => {
                let ok =
                    matches!(ty, Type::Entity(_) | Type::String | Type::Int | Type::Enum(_) | Type::Action | Type::Ip)
                        || ty.is_error();
                if !ok {
                    self.error(
                        "E0235",
                        measure.expr.span,
                        format!("`{}` is {}, which a `distinct` limit cannot count", expr_text(&measure.expr), ty.a()),
                    )
                    .label("not a countable value")
                    .help("`distinct` counts entities, strings, integers, enums, IP addresses or actions");
                }
            }
        }
    }
}

/// Whether `e` holds a flow condition.
fn has_flow(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Flow(_)) || e.children().into_iter().any(has_flow)
}

fn kind_word(kind: ClauseKind) -> &'static str {
    match kind {
        ClauseKind::Obligation => "obligation",
        ClauseKind::Advice => "advice",
    }
}

pub use crate::literals::date_text;

/// Whether `e` is `chain.size()`.
fn chain_size(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::MethodCall { receiver, method, args } => {
            method.name == "size" && args.is_empty() && matches!(&receiver.kind, ExprKind::Name(n) if n.name == "chain")
        }
        ExprKind::Paren(inner) => chain_size(inner),
        _ => false,
    }
}

/// The value of an integer literal.
fn int_literal(e: &Expr) -> Option<i64> {
    match &e.kind {
        ExprKind::Lit(lit) if lit.kind == LitKind::Int => crate::literals::int(&lit.raw).ok(),
        ExprKind::Paren(inner) => int_literal(inner),
        _ => None,
    }
}

/// The comparison with its sides swapped (`a < b` is `b > a`).
fn flip(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::Le => BinaryOp::Ge,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::Ge => BinaryOp::Le,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        for days in [-1000, 0, 19_782, 20_000, 60_000] {
            let text = date_text(days);
            assert_eq!(literals::date_days(&text), Ok(days), "{text}");
        }
        assert_eq!(duration_text(90_000_000), "1d1h");
    }
}
