//! Lowering: a checked project becomes a decision [`Program`] (and its test
//! blocks become [`TestCase`]s).
//!
//! Lowering runs only on a project without errors. It re-runs each policy
//! member's check with type recording on, so every expression is lowered
//! with the type the checker gave it: names become numbers, enum values and
//! entity literals become constants, attribute reads know what they read.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use ward_grammar::ast::{self, ExprKind as A, PolicyItem};

use crate::check::{Cx, Env};
use crate::db::{Origin, Project, SourceFile};
use crate::diagnostic::{Diagnostic, Severity};
pub use crate::ir::test_case::{Expectation, TestCase, TestStep};
use crate::ir::{self, Const, ExprId, ExprKind, Ty, Var};
use crate::literals;
use crate::names::{namespace, stdlib_modules};
use crate::schema::{SchemaEnv, schema_env};
use crate::symbols::{DetectorKind, symbols};
use crate::types::Type;
use crate::units::{Loc, Unit, UnitKey, span_of, unit, unit_keys};
use crate::workspace::Workspace;

/// An `assert` statement: a property of every decision that `ward analyze`
/// and `ward test` prove (or refute with a counterexample).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assertion {
    /// The name written after `assert`, or `assert at FILE:LINE:COL`.
    pub name: String,
    /// `file:line:col`.
    pub location: String,
    /// `never` (no selected request gets the outcome) or `always` (every one does).
    pub never: bool,
    /// `allow`, `deny` or `approval_required` (`permit` is `allow`).
    pub outcome: String,
    /// The requests it is about: its scope checks and conditions, lowered
    /// like a rule's (in the program's tables).
    pub rule: ir::Rule,
    /// The actions, principal types and resource types its scope matches.
    pub actions: Vec<u32>,
    pub principals: Vec<u32>,
    pub resources: Vec<u32>,
}

/// The result of compiling a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compiled {
    pub program: ir::Program,
    pub tests: Vec<TestCase>,
    /// Each fixture's entities, in Cedar's JSON entity format.
    pub fixtures: BTreeMap<String, Json>,
    /// The `assert` statements, for the analyses.
    #[serde(default)]
    pub asserts: Vec<Assertion>,
}

/// Compiles a workspace that checks without errors; otherwise returns the
/// diagnostics (errors and warnings).
pub fn compile(ws: &Workspace) -> Result<Compiled, Vec<Diagnostic>> {
    let diags = ws.diagnostics();
    if diags.iter().any(|d| d.severity == Severity::Error) {
        return Err(diags);
    }
    Ok(Lowerer::new(ws).run())
}

struct Lowerer<'a> {
    db: &'a dyn salsa::Database,
    project: Project,
    env: Arc<SchemaEnv>,
    program: ir::Program,
    types: HashMap<Arc<str>, u32>,
    enums: HashMap<Arc<str>, u32>,
    actions: HashMap<Arc<str>, u32>,
    strings: HashMap<String, u32>,
    literals: HashMap<(u32, String), u32>,
    patterns: HashMap<ir::Pattern, u32>,
    detectors: HashMap<Arc<str>, u32>,
    /// Per rule: (actions, principal types, resource types) it applies to.
    applies: Vec<(Vec<u32>, Vec<u32>, Vec<u32>)>,
    /// Per file, the byte offset where each line starts (for locations).
    line_starts: HashMap<SourceFile, Vec<usize>>,
}

fn fnv(text: &str, mut h: u64) -> u64 {
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl<'a> Lowerer<'a> {
    fn new(ws: &'a Workspace) -> Lowerer<'a> {
        let db: &dyn salsa::Database = ws.db();
        let project = ws.project();
        let env = Arc::clone(schema_env(db, project));
        let mut hash = 0xcbf2_9ce4_8422_2325_u64;
        for f in project.files(db) {
            hash = fnv(f.path(db), hash);
            hash = fnv(f.text(db), hash);
        }
        let program = ir::Program {
            version: ir::IR_VERSION,
            source_hash: format!("{hash:016x}"),
            entity_types: Vec::new(),
            enums: Vec::new(),
            actions: Vec::new(),
            strings: Vec::new(),
            entity_literals: Vec::new(),
            patterns: Vec::new(),
            detectors: Vec::new(),
            rules: Vec::new(),
            flows: Vec::new(),
            agents: Vec::new(),
            buckets: Vec::new(),
        };
        Lowerer {
            db,
            project,
            env,
            program,
            types: HashMap::new(),
            enums: HashMap::new(),
            actions: HashMap::new(),
            strings: HashMap::new(),
            literals: HashMap::new(),
            patterns: HashMap::new(),
            detectors: HashMap::new(),
            applies: Vec::new(),
            line_starts: project
                .files(db)
                .iter()
                .map(|f| {
                    let starts = std::iter::once(0).chain(f.text(db).match_indices('\n').map(|(i, _)| i + 1));
                    (*f, starts.collect())
                })
                .collect(),
        }
    }

    fn string(&mut self, s: &str) -> u32 {
        if let Some(i) = self.strings.get(s) {
            return *i;
        }
        let i = self.program.strings.len() as u32;
        self.program.strings.push(s.to_string());
        self.strings.insert(s.to_string(), i);
        i
    }

    fn literal(&mut self, ty: u32, id: &str) -> u32 {
        let key = (ty, id.to_string());
        if let Some(i) = self.literals.get(&key) {
            return *i;
        }
        let i = self.program.entity_literals.len() as u32;
        self.program.entity_literals.push(key.clone());
        self.literals.insert(key, i);
        i
    }

    fn pattern(&mut self, p: ir::Pattern) -> u32 {
        if let Some(i) = self.patterns.get(&p) {
            return *i;
        }
        let i = self.program.patterns.len() as u32;
        self.program.patterns.push(p.clone());
        self.patterns.insert(p, i);
        i
    }

    fn ty(&self, t: &Type) -> Ty {
        match t {
            Type::String => Ty::String,
            Type::Int => Ty::Int,
            Type::Decimal => Ty::Decimal,
            Type::Bool => Ty::Bool,
            Type::Time => Ty::Time,
            Type::Date => Ty::Date,
            Type::Duration => Ty::Duration,
            Type::Ip => Ty::Ip,
            Type::Cidr => Ty::Cidr,
            Type::Entity(names) => Ty::Entity(names.iter().filter_map(|n| self.types.get(n).copied()).collect()),
            Type::Enum(e) => self.enums.get(e).map_or(Ty::Unknown, |i| Ty::Enum(*i)),
            Type::Set(e) | Type::List(e) => Ty::Set(Box::new(self.ty(e))),
            Type::Record(r) => Ty::Record(
                r.fields
                    .iter()
                    .map(|(k, f)| ir::Field { name: k.to_string(), ty: self.ty(&f.ty), optional: f.optional })
                    .collect(),
            ),
            Type::Action => Ty::Action,
            Type::Request | Type::Unknown | Type::Error => Ty::Unknown,
        }
    }

    fn location(&self, file: SourceFile, key: UnitKey, span: ward_grammar::Span) -> String {
        let real = span_of(self.db, Loc::new(file, key, span));
        let text = file.text(self.db);
        let start = real.start as usize;
        // Counting the newlines before every rule would make lowering
        // quadratic in the size of a file: each file's line starts are
        // found once, and a location is a binary search.
        let (line, col) = match (text.get(..start), self.line_starts.get(&file)) {
            (Some(before), Some(starts)) => {
                let line = starts.partition_point(|s| *s <= start).max(1);
                let line_start = starts.get(line - 1).copied().unwrap_or(0);
                (line, before.get(line_start..).map_or(0, |l| l.chars().count()) + 1)
            }
            (Some(before), None) => {
                (before.matches('\n').count() + 1, before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1)
            }
            (None, _) => (1, 1),
        };
        format!("{}:{line}:{col}", file.path(self.db))
    }

    fn run(mut self) -> Compiled {
        self.schema();
        let units: Vec<(SourceFile, UnitKey, Arc<Unit>)> = self
            .project
            .files(self.db)
            .iter()
            .flat_map(|f| unit_keys(self.db, *f).iter().filter_map(|k| unit(self.db, *f, *k).map(|u| (*f, *k, u))))
            .collect();
        for (file, key, u) in &units {
            if let Unit::Agent(a) = &**u {
                self.agent(*file, *key, a);
            }
        }
        for (file, key, u) in &units {
            if let Unit::Member { policy, position, item } = &**u
                && *file.origin(self.db) == Origin::User
            {
                self.member(*file, *key, policy, *position, item);
            }
        }
        self.buckets();
        let mut asserts = Vec::new();
        for (file, key, u) in &units {
            if let Unit::Assert(a) = &**u
                && *file.origin(self.db) == Origin::User
                && let Some(lowered) = self.assertion(*file, *key, a)
            {
                asserts.push(lowered);
            }
        }
        let mut tests = Vec::new();
        let fixtures: HashMap<String, Json> = units
            .iter()
            .filter_map(|(_, _, u)| match &**u {
                Unit::Fixture(f) => Some((f.name.name.clone(), entities_json(&f.entities))),
                _ => None,
            })
            .collect();
        for (file, key, u) in &units {
            if let Unit::Test(t) = &**u {
                tests.push(self.test(*file, *key, t, &fixtures));
            }
        }
        Compiled { program: self.program, tests, fixtures: fixtures.into_iter().collect(), asserts }
    }

    // ───────────────────────── schema ─────────────────────────

    fn schema(&mut self) {
        let env = Arc::clone(&self.env);
        for (i, name) in env.entities.keys().enumerate() {
            self.types.insert(name.clone(), i as u32);
        }
        for (i, name) in env.enums.keys().enumerate() {
            self.enums.insert(name.clone(), i as u32);
        }
        for (i, name) in env.actions.keys().enumerate() {
            self.actions.insert(name.clone(), i as u32);
        }
        for info in env.entities.values() {
            let attrs = info
                .attrs
                .fields
                .iter()
                .map(|(k, f)| ir::Field { name: k.to_string(), ty: self.ty(&f.ty), optional: f.optional })
                .collect::<Vec<_>>();
            for a in &attrs {
                self.string(&a.name);
            }
            let parents = info.parents.iter().filter_map(|p| self.types.get(p).copied()).collect();
            let tags = info.tags.as_ref().map(|t| self.ty(t));
            self.program.entity_types.push(ir::EntityType { name: info.name.to_string(), attrs, parents, tags });
        }
        for info in env.enums.values() {
            self.program.enums.push(ir::Enum {
                name: info.name.to_string(),
                ordered: info.ordered,
                variants: info.variants.iter().map(|v| v.to_string()).collect(),
            });
        }
        for info in env.actions.values() {
            let groups = env
                .action_groups
                .get(&info.name)
                .map(|g| g.iter().filter_map(|n| self.actions.get(n).copied()).collect())
                .unwrap_or_default();
            let ids = |list: &Option<Vec<Arc<str>>>| {
                list.as_ref().map(|l| l.iter().filter_map(|n| self.types.get(n).copied()).collect())
            };
            let context: Vec<ir::Field> = info
                .context
                .fields
                .iter()
                .map(|(k, f)| ir::Field { name: k.to_string(), ty: self.ty(&f.ty), optional: f.optional })
                .collect();
            let (principals, resources) = (ids(&info.principals), ids(&info.resources));
            for f in &context {
                self.string(&f.name);
            }
            self.program.actions.push(ir::Action {
                name: info.name.to_string(),
                groups,
                is_group: env.groups.contains(&info.name),
                principals,
                resources,
                context,
                annotations: info.annotations.clone(),
                verified: info.verified.iter().map(|f| f.to_string()).collect(),
            });
        }
    }

    fn agent(&mut self, file: SourceFile, key: UnitKey, a: &ast::AgentDecl) {
        let ns = namespace(self.db, file);
        let stdlib = stdlib_modules(self.db, self.project);
        let ty = match ns.lookup(&a.ty, |n| self.env.entities.contains_key(n), stdlib) {
            crate::names::Lookup::Found(q) => q,
            _ => return,
        };
        let Some(t) = self.types.get(&ty).copied() else { return };
        let entity = self.literal(t, &a.name.name);
        let mut agent = ir::Agent {
            name: a.name.name.clone(),
            entity,
            owner: None,
            created: None,
            expires: None,
            rotation: None,
            review: None,
            attrs: "{}".to_string(),
            parents: Vec::new(),
        };
        let mut attrs = serde_json::Map::new();
        for f in &a.fields {
            match &f.kind {
                ast::AgentFieldKind::Owner(e) => {
                    agent.owner = Some(ward_grammar::format::expr(e));
                    let owner_is_attr =
                        self.env.entities.get(&ty).is_some_and(|i| i.attrs.fields.contains_key("owner"));
                    if owner_is_attr {
                        attrs.insert("owner".into(), expr_json(e));
                    }
                }
                ast::AgentFieldKind::Created(d) => agent.created = literals::date_days(&d.raw).ok(),
                ast::AgentFieldKind::Expires(d) => agent.expires = literals::date_days(&d.raw).ok(),
                ast::AgentFieldKind::Rotate { every, last } => {
                    agent.rotation = literals::duration_ms(&every.raw)
                        .ok()
                        .map(|p| (p, last.as_ref().and_then(|l| literals::date_days(&l.raw).ok())));
                }
                ast::AgentFieldKind::Review { every, last } => {
                    agent.review = literals::duration_ms(&every.raw)
                        .ok()
                        .map(|p| (p, last.as_ref().and_then(|l| literals::date_days(&l.raw).ok())));
                }
                ast::AgentFieldKind::Attrs(entries, _) => {
                    for e in entries {
                        attrs.insert(e.key.name().to_string(), expr_json(&e.value));
                    }
                }
                ast::AgentFieldKind::Description(_) => {}
            }
        }
        agent.attrs = Json::Object(attrs).to_string();
        for p in a.parents.iter().flatten() {
            if let Some(pt) = self.types.get(p.ty.text().as_str()).copied() {
                let k = self.literal(pt, p.id.string_value().unwrap_or(""));
                agent.parents.push(k);
            }
        }
        let _ = (file, key);
        self.program.agents.push(agent);
    }

    // ───────────────────────── rules ─────────────────────────

    fn cx(&self, file: SourceFile, key: UnitKey) -> Cx<'a> {
        Cx::new(self.db, self.project, file, key).recording_types()
    }

    fn member(&mut self, file: SourceFile, key: UnitKey, policy: &str, position: u32, item: &PolicyItem) {
        if let Some((rule, applies)) = self.lower_member(file, key, policy, position, item) {
            self.applies.push(applies);
            self.program.rules.push(rule);
        }
    }

    /// An `assert`: its scope and conditions lowered as a rule's.
    fn assertion(&mut self, file: SourceFile, key: UnitKey, a: &ast::AssertDecl) -> Option<Assertion> {
        let rule = ast::Rule {
            docs: a.docs.clone(),
            annotations: Vec::new(),
            effect: ast::Effect::Permit,
            effect_span: a.quantifier_span,
            scope: a.scope.clone(),
            conditions: a.conditions.clone(),
            clauses: Vec::new(),
            span: a.span,
        };
        let location = self.location(file, key, a.span);
        let name = a.name.as_ref().map_or_else(
            || format!("assert at {location}"),
            |n| n.string_value().map_or_else(|| n.raw.clone(), str::to_string),
        );
        let (mut lowered, (actions, principals, resources)) =
            self.lower_member(file, key, "assert", 0, &PolicyItem::Rule(rule))?;
        lowered.id = name.clone();
        lowered.location = location.clone();
        Some(Assertion {
            name,
            location,
            never: a.quantifier == ast::Quantifier::Never,
            outcome: match a.outcome {
                ast::AssertOutcome::Permit | ast::AssertOutcome::Allow => "allow",
                ast::AssertOutcome::Deny => "deny",
                ast::AssertOutcome::ApprovalRequired => "approval_required",
            }
            .to_string(),
            rule: lowered,
            actions,
            principals,
            resources,
        })
    }

    #[allow(clippy::type_complexity)]
    fn lower_member(
        &mut self,
        file: SourceFile,
        key: UnitKey,
        policy: &str,
        position: u32,
        item: &PolicyItem,
    ) -> Option<(ir::Rule, (Vec<u32>, Vec<u32>, Vec<u32>))> {
        let mut cx = self.cx(file, key);
        cx.member(policy, position, item);
        let (annotations, scope, conditions) = match item {
            PolicyItem::Rule(r) => (&r.annotations, r.scope.as_ref(), &r.conditions),
            PolicyItem::Mask(m) => (&m.annotations, m.scope.as_ref(), &m.conditions),
            PolicyItem::Limit(l) => (&l.annotations, l.scope.as_ref(), &l.conditions),
            PolicyItem::Error(_) => return None,
        };
        let is_template = matches!(item, PolicyItem::Rule(_)) && annotations.iter().any(|a| a.name.name == "template");
        cx.template = is_template;
        let env = cx.scope_env(scope, None);
        cx.template = false;
        let ann = |name: &str| annotations.iter().find(|a| a.name.name == name);
        let ann_text = |name: &str| ann(name).and_then(ast::Annotation::arg_text);
        let id = match ann_text("id") {
            Some(id) => format!("{policy}.{id}"),
            None => format!("{policy}.{position}"),
        };
        let actor = self.actor_type(&env.actions);
        let mut rl = RuleLowering {
            l: self,
            cx,
            file,
            key,
            exprs: Vec::new(),
            in_flow: false,
            actor,
            locals: Vec::new(),
            next_var: 0,
        };
        // Scope constraints are the first conditions.
        let (mut conds, pinned_principal, pinned_resource, slots) = rl.scope_conditions(scope, &env);
        let template = (is_template && !slots.is_empty()).then_some(ir::Template { slots });
        conds.extend(conditions.iter().map(|c| rl.condition(c)));
        let (mut obligations, mut advice) = (Vec::new(), Vec::new());
        let kind = match item {
            PolicyItem::Rule(r) => {
                (obligations, advice) = clauses(r);
                ir::RuleKind::Rule {
                    effect: if r.effect == ast::Effect::Permit { ir::Effect::Permit } else { ir::Effect::Forbid },
                }
            }
            PolicyItem::Mask(m) => rl.mask(m),
            PolicyItem::Limit(l) => rl.limit(l, &env),
            PolicyItem::Error(_) => return None,
        };
        let exprs = std::mem::take(&mut rl.exprs);
        let loc_span = match item {
            PolicyItem::Rule(r) => r.effect_span,
            PolicyItem::Mask(m) => m.span,
            PolicyItem::Limit(l) => l.span,
            PolicyItem::Error(s) => *s,
        };
        let location = self.location(file, key, loc_span);
        let rule = ir::Rule {
            id,
            kind,
            shadow: ann("shadow").is_some(),
            actor_only: ann_text("delegation").as_deref() == Some("actor"),
            exprs,
            conditions: conds,
            obligations,
            advice,
            reason: ann_text("reason"),
            severity: ann_text("severity"),
            location,
            pinned_principal,
            pinned_resource,
            template,
        };
        let actions = env.actions.iter().filter_map(|a| self.actions.get(a).copied()).collect();
        let ids = |t: &Type| match t {
            Type::Entity(names) => names.iter().filter_map(|n| self.types.get(n).copied()).collect(),
            _ => Vec::new(),
        };
        Some((rule, (actions, ids(&env.principal), ids(&env.resource))))
    }

    /// The types `actor` may have when a rule matching `actions` runs: any
    /// principal type of those actions. The checker types `actor` like
    /// `principal`, narrowed by the scope, but under delegation the rule runs
    /// for each link while `actor` stays the caller, whose type the scope
    /// does not narrow; the backends must not read its attributes by the
    /// narrowed type's layout.
    fn actor_type(&self, actions: &[Arc<str>]) -> Ty {
        let mut names: Vec<Arc<str>> = Vec::new();
        for a in actions {
            match self.env.actions.get(a).map(|info| &info.principals) {
                Some(Some(list)) => names.extend(list.iter().cloned()),
                _ => names.extend(self.env.all_entity_types()),
            }
        }
        if actions.is_empty() {
            names.extend(self.env.all_entity_types());
        }
        self.ty(&Type::entities(names))
    }

    fn buckets(&mut self) {
        let mut map: BTreeMap<(u32, u32, u32), Vec<u32>> = BTreeMap::new();
        for (r, (actions, principals, resources)) in self.applies.iter().enumerate() {
            for a in actions {
                for p in principals {
                    for res in resources {
                        map.entry((*a, *p, *res)).or_default().push(r as u32);
                    }
                }
            }
        }
        let rank = |rule: &ir::Rule| match &rule.kind {
            ir::RuleKind::Rule { effect: ir::Effect::Forbid } => 0,
            ir::RuleKind::Rule { effect: ir::Effect::Permit } => 1,
            ir::RuleKind::Mask { .. } => 2,
            ir::RuleKind::Limit { .. } => 3,
        };
        for ((action, principal, resource), mut rules) in map {
            rules.sort_by_key(|r| (self.program.rules.get(*r as usize).map_or(9, rank), *r));
            let mut general = Vec::new();
            let mut templates = Vec::new();
            let mut by_principal: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
            let mut by_resource: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
            let mut in_scoped: BTreeMap<(Option<u32>, Option<u32>), Vec<u32>> = BTreeMap::new();
            let pins = |r: &u32| {
                self.program
                    .rules
                    .get(*r as usize)
                    .filter(|x| x.template.is_none())
                    .map(|x| (x.pinned_principal, x.pinned_resource))
            };
            // A rule pinned on both sides (`principal == User::"u", resource
            // == Doc::"d"`) is filed under whichever of its two literals has
            // fewer rules: a user with a grant on each of thousands of
            // documents must not make every request of that user visit them all.
            let (mut per_principal, mut per_resource) = (HashMap::new(), HashMap::new());
            for (p, res) in rules.iter().filter_map(pins) {
                if let Some(p) = p {
                    *per_principal.entry(p).or_insert(0usize) += 1;
                }
                if let Some(res) = res {
                    *per_resource.entry(res).or_insert(0usize) += 1;
                }
            }
            for r in rules {
                let Some(rule) = self.program.rules.get(r as usize) else { continue };
                if rule.template.is_some() {
                    templates.push(r);
                    continue;
                }
                match (rule.pinned_principal, rule.pinned_resource) {
                    (Some(p), Some(res)) if per_resource.get(&res) < per_principal.get(&p) => {
                        by_resource.entry(res).or_default().push(r)
                    }
                    (Some(p), _) => by_principal.entry(p).or_default().push(r),
                    (None, Some(res)) => by_resource.entry(res).or_default().push(r),
                    _ => {
                        general.push(r);
                        let scope = rule.in_scope();
                        if scope != (None, None) {
                            in_scoped.entry(scope).or_default().push(r);
                        }
                    }
                }
            }
            self.program.buckets.push(ir::Bucket {
                action,
                principal,
                resource,
                rules: general,
                by_principal: by_principal.into_iter().collect(),
                by_resource: by_resource.into_iter().collect(),
                in_scoped: in_scoped
                    .into_iter()
                    .map(|((principal, resource), rules)| ir::InScoped { principal, resource, rules })
                    .collect(),
                templates,
            });
        }
    }

    fn detector(&mut self, qualified: &str) -> Option<u32> {
        if let Some(i) = self.detectors.get(qualified) {
            return Some(*i);
        }
        let mut labelled = Vec::new();
        let mut seen = Vec::new();
        self.flatten(qualified, &mut labelled, &mut seen);
        let (parts, labels): (Vec<ir::DetectorPart>, Vec<String>) = labelled.into_iter().unzip();
        let i = self.program.detectors.len() as u32;
        self.program.detectors.push(ir::Detector { name: qualified.to_string(), parts, labels });
        self.detectors.insert(Arc::from(qualified), i);
        Some(i)
    }

    /// The parts of a detector, each with the detector it was declared in.
    fn flatten(&mut self, qualified: &str, parts: &mut Vec<(ir::DetectorPart, String)>, seen: &mut Vec<String>) {
        if seen.iter().any(|s| s == qualified) {
            return;
        }
        seen.push(qualified.to_string());
        let symbols = symbols(self.db, self.project);
        let Some(sym) = symbols.detectors.get(qualified).and_then(|v| v.first()) else { return };
        match &sym.kind {
            DetectorKind::Builtin(name) => parts.push((ir::DetectorPart::Builtin(name.clone()), qualified.to_string())),
            DetectorKind::Group(members) => {
                let module = qualified.rsplit_once('.').map(|(m, _)| m.to_string());
                for m in members {
                    let candidates = [
                        module.as_ref().map(|md| format!("{md}.{m}")),
                        Some(m.clone()),
                        m.strip_prefix("stdlib.").map(str::to_string),
                    ];
                    if let Some(q) =
                        candidates.into_iter().flatten().find(|c| symbols.detectors.contains_key(c.as_str()))
                    {
                        self.flatten(&q, parts, seen);
                    }
                }
            }
            DetectorKind::Pattern | DetectorKind::Keywords => {
                let Some(u) = unit(self.db, sym.loc.file, sym.loc.unit) else { return };
                if let Unit::Detector(d) = &*u {
                    match &d.def {
                        ast::DetectorDef::Pattern { regex, validate } => parts.push((
                            ir::DetectorPart::Pattern {
                                regex: regex.string_value().unwrap_or("").to_string(),
                                validate: validate.as_ref().map(|v| v.name.clone()),
                            },
                            qualified.to_string(),
                        )),
                        ast::DetectorDef::Keywords(words) => parts.push((
                            ir::DetectorPart::Keywords(
                                words.iter().filter_map(|w| w.string_value().map(str::to_string)).collect(),
                            ),
                            qualified.to_string(),
                        )),
                        _ => {}
                    }
                }
            }
        }
    }

    // ───────────────────────── tests ─────────────────────────

    fn test(
        &mut self,
        file: SourceFile,
        key: UnitKey,
        t: &ast::TestDecl,
        fixtures: &HashMap<String, Json>,
    ) -> TestCase {
        let mut steps = Vec::new();
        for step in &t.steps {
            steps.push(match step {
                ast::TestStep::Using(names, _) => {
                    let mut all = Vec::new();
                    for n in names {
                        if let Some(Json::Array(items)) = fixtures.get(&n.name) {
                            all.extend(items.iter().cloned());
                        }
                    }
                    TestStep::Entities(Json::Array(all))
                }
                ast::TestStep::At(l) => TestStep::At(literals::time_ms(&l.raw).unwrap_or(0)),
                ast::TestStep::Advance(l) => TestStep::Advance(literals::duration_ms(&l.raw).unwrap_or(0)),
                ast::TestStep::Entities(entities, _) => TestStep::Entities(entities_json(entities)),
                ast::TestStep::Link(l) => {
                    // Cedar's template-linked shape, checked against the program when the test runs.
                    let values: serde_json::Map<String, Json> = l
                        .values
                        .iter()
                        .map(|(v, _, e)| {
                            let uid = serde_json::json!({"type": e.ty.text(), "id": e.id.string_value().unwrap_or("")});
                            (format!("?{}", v.name()), uid)
                        })
                        .collect();
                    TestStep::Link {
                        link: serde_json::json!({
                            "template_id": l.template.string_value().unwrap_or(""),
                            "new_id": l.id.string_value().unwrap_or(""),
                            "values": values,
                        }),
                        location: self.location(file, key, l.span),
                    }
                }
                ast::TestStep::Request(r) => {
                    let mut obj = serde_json::Map::new();
                    for f in &r.fields {
                        obj.insert(f.key.name().to_string(), request_field_json(f.key.name(), &f.value));
                    }
                    let expectations = r
                        .expectations
                        .iter()
                        .map(|x| {
                            let mut e = Expectation {
                                outcome: x.outcome.keyword().to_string(),
                                by: x.by.iter().filter_map(|b| b.string_value().map(str::to_string)).collect(),
                                obligations: Vec::new(),
                                masks: Vec::new(),
                                errors: Vec::new(),
                                remaining: None,
                                location: self.location(file, key, x.span),
                            };
                            for d in &x.details {
                                match d {
                                    ast::ExpectDetail::Obligation(p) => e.obligations.push(p.text()),
                                    ast::ExpectDetail::Mask(m) => e.masks.push(m.text()),
                                    ast::ExpectDetail::Error(s) => {
                                        e.errors.push(s.string_value().unwrap_or("").to_string())
                                    }
                                    ast::ExpectDetail::Remaining(n) => {
                                        e.remaining = literals::int(&n.raw).ok().map(|v| v.max(0) as u64)
                                    }
                                }
                            }
                            e
                        })
                        .collect();
                    TestStep::Request {
                        request: Json::Object(obj),
                        result: r.result.as_ref().map(expr_json),
                        expectations,
                        location: self.location(file, key, r.span),
                    }
                }
            });
        }
        TestCase {
            name: t.name.string_value().unwrap_or("").to_string(),
            location: self.location(file, key, t.span),
            steps,
        }
    }
}

/// Lowering of one rule's expressions into its arena.
struct RuleLowering<'l, 'a> {
    l: &'l mut Lowerer<'a>,
    cx: Cx<'a>,
    file: SourceFile,
    key: UnitKey,
    exprs: Vec<ir::Expr>,
    /// Inside a flow's `where`/`sum`: `current.x` names the request being decided.
    in_flow: bool,
    /// The type of `actor` at run time (see [`Lowerer::actor_type`]).
    actor: Ty,
    /// Quantifiers' variables in scope, innermost last: name, IR variable
    /// number, element type.
    locals: Vec<(String, u32, Ty)>,
    /// The next quantifier's variable number.
    next_var: u32,
}

impl RuleLowering<'_, '_> {
    fn push(&mut self, kind: ExprKind, ty: Ty) -> ExprId {
        self.exprs.push(ir::Expr { kind, ty });
        (self.exprs.len() - 1) as ExprId
    }

    fn type_of(&self, e: &ast::Expr) -> Type {
        self.cx.types.as_ref().and_then(|t| t.get(&e.span.start)).cloned().unwrap_or(Type::Error)
    }

    // One arm per syntax-tree expression kind, exhaustive for the same
    // reason as the checker's `expr_inner`.
    fn expr(&mut self, e: &ast::Expr) -> ExprId {
        let t = self.type_of(e);
        let ty = self.l.ty(&t);
        match &e.kind {
            A::Paren(inner) => self.expr(inner),
            A::Lit(lit) => {
                let c = self.lit_const(lit);
                self.push(ExprKind::Const(c), ty)
            }
            A::Var(v) => {
                let var = match v {
                    ast::Var::Principal => Var::Principal,
                    ast::Var::Resource => Var::Resource,
                    ast::Var::Context => Var::Context,
                    ast::Var::Action => Var::Action,
                };
                self.push(ExprKind::Var(var), ty)
            }
            A::Name(n) => self.name(&n.name, &t, ty),
            // Slots are never lowered as expressions: `scope_conditions`
            // makes them the template's slots, and the checker refuses them
            // anywhere else (E0231). Should one reach here, it is false.
            A::Slot(_) => self.push(ExprKind::Const(Const::Bool(false)), Ty::Bool),
            A::EntityRef(r) => {
                let t_idx = match &t {
                    Type::Entity(types) => types.first().and_then(|q| self.l.types.get(q).copied()).unwrap_or(0),
                    _ => 0,
                };
                let k = self.l.literal(t_idx, r.id.string_value().unwrap_or(""));
                self.push(ExprKind::Const(Const::Entity(k)), ty)
            }
            A::EnumRef { ty: ns, variant } if t == Type::Action => {
                let name = format!("{}::{}", ns.text(), variant.name);
                self.push(ExprKind::Const(Const::Action(self.l.actions.get(name.as_str()).copied().unwrap_or(0))), ty)
            }
            A::EnumRef { variant, .. } => {
                let Type::Enum(en) = &t else { return self.push(ExprKind::Const(Const::Bool(false)), ty) };
                let c = self.enum_variant(en, &variant.name);
                self.push(ExprKind::Const(c), ty)
            }
            A::Call { func, args } => self.push(ExprKind::Const(constructor(&func.name, args)), ty),
            A::Member { base, name } => self.member(base, &name.name, ty),
            A::Index { base, key } => self.member(base, key.string_value().unwrap_or(""), ty),
            A::MethodCall { receiver, method, args }
                if matches!(method.name.as_str(), "any" | "all")
                    && matches!(self.type_of(receiver), Type::Set(_) | Type::List(_)) =>
            {
                self.quantifier(method.name == "all", receiver, args)
            }
            A::MethodCall { receiver, method, args } => {
                let m = method_of(&method.name, &self.type_of(receiver));
                let recv = self.expr(receiver);
                let args = args.iter().map(|a| self.expr(a)).collect();
                self.push(ExprKind::Method { method: m, recv, args }, ty)
            }
            A::Unary { op, operand } => {
                let x = self.expr(operand);
                let kind = match op {
                    ast::UnaryOp::Not => ExprKind::Not(x),
                    ast::UnaryOp::Neg => ExprKind::Neg(x),
                };
                self.push(kind, ty)
            }
            A::Binary { op, lhs, rhs } => {
                let (a, b) = (self.expr(lhs), self.expr(rhs));
                let cmp = |op| ExprKind::Cmp { op, lhs: a, rhs: b };
                let kind = match op {
                    ast::BinaryOp::Or => ExprKind::Or(a, b),
                    ast::BinaryOp::And => ExprKind::And(a, b),
                    ast::BinaryOp::Eq => cmp(ir::CmpOp::Eq),
                    ast::BinaryOp::NotEq => cmp(ir::CmpOp::Ne),
                    ast::BinaryOp::Lt => cmp(ir::CmpOp::Lt),
                    ast::BinaryOp::Le => cmp(ir::CmpOp::Le),
                    ast::BinaryOp::Gt => cmp(ir::CmpOp::Gt),
                    ast::BinaryOp::Ge => cmp(ir::CmpOp::Ge),
                    ast::BinaryOp::In => ExprKind::In { lhs: a, rhs: b },
                    ast::BinaryOp::Add => ExprKind::Add(a, b),
                    ast::BinaryOp::Sub => ExprKind::Sub(a, b),
                };
                self.push(kind, ty)
            }
            A::Has { base, path } => self.has(base, path),
            A::Is { base, ty: path, within } => {
                let b = self.expr(base);
                let name = self.cx.entity_type(path);
                let Some(t) = name.as_ref().and_then(|n| self.l.types.get(n).copied()) else {
                    return self.push(ExprKind::Const(Const::Bool(false)), Ty::Bool);
                };
                let is = self.push(ExprKind::Is { base: b, ty: t }, Ty::Bool);
                let Some(within) = within else { return is };
                // `x is T in E` is `x is T && x in E`.
                let again = self.expr(base);
                let target = self.expr(within);
                let member = self.push(ExprKind::In { lhs: again, rhs: target }, Ty::Bool);
                self.push(ExprKind::And(is, member), Ty::Bool)
            }
            A::Like { base, pattern } => {
                let lhs = self.expr(base);
                let p = self.l.pattern(ir::Pattern::Glob(pattern.string_value().unwrap_or("").to_string()));
                self.push(ExprKind::Matches { lhs, pattern: p }, Ty::Bool)
            }
            A::Matches { base, target } => {
                let lhs = self.expr(base);
                let p = match target {
                    ast::MatchTarget::Regex(r) => ir::Pattern::Regex(r.string_value().unwrap_or("").to_string()),
                    ast::MatchTarget::Detector(path) => {
                        let q = self.cx.resolve_detector(path).map(|q| q.to_string()).unwrap_or_default();
                        ir::Pattern::Detector(self.l.detector(&q).unwrap_or(0))
                    }
                };
                let p = self.l.pattern(p);
                self.push(ExprKind::Matches { lhs, pattern: p }, Ty::Bool)
            }
            A::Set(items) => {
                let items = items.iter().map(|i| self.expr(i)).collect();
                self.push(ExprKind::Set(items), ty)
            }
            A::Record(entries) => {
                let fields = entries
                    .iter()
                    .map(|en| {
                        let k = self.l.string(en.key.name());
                        (k, self.expr(&en.value))
                    })
                    .collect();
                self.push(ExprKind::Record(fields), ty)
            }
            A::Flow(flow) => self.flow(flow, ty),
        }
    }

    fn lit_const(&mut self, lit: &ast::Lit) -> Const {
        match &lit.kind {
            ast::LitKind::Str(s) => Const::Str(self.l.string(s)),
            ast::LitKind::Bool(b) => Const::Bool(*b),
            ast::LitKind::Int => Const::Int(literals::int(&lit.raw).unwrap_or(0)),
            ast::LitKind::Decimal => Const::Int(literals::decimal(&lit.raw).unwrap_or(0)),
            ast::LitKind::Duration => Const::Int(literals::duration_ms(&lit.raw).unwrap_or(0)),
            ast::LitKind::Date => Const::Int(literals::date_days(&lit.raw).unwrap_or(0)),
            ast::LitKind::DateTime => Const::Int(literals::time_ms(&lit.raw).unwrap_or(0)),
        }
    }

    /// A bare name, of type `t`: `now`, `actor`, `chain`, or a constant the
    /// checker resolved (an enum variant, an action, an entity).
    fn name(&mut self, name: &str, t: &Type, ty: Ty) -> ExprId {
        // A quantifier's variable, typed as its set's elements (the checker
        // may have narrowed it; what it reads then goes by the entity's type).
        if let Some((_, var, element)) = self.locals.iter().rev().find(|(l, _, _)| l == name) {
            let (var, element) = (*var, element.clone());
            return self.push(ExprKind::Local(var), element);
        }
        let kind = match (name, t) {
            ("now", Type::Time) => ExprKind::Var(Var::Now),
            ("response", _) if self.in_flow => ExprKind::Var(Var::Response),
            ("actor", _) => return self.push(ExprKind::Var(Var::Actor), self.actor.clone()),
            ("chain", _) => ExprKind::Var(Var::Chain),
            (name, Type::Enum(en)) => ExprKind::Const(self.enum_variant(en, name)),
            (name, Type::Action) => ExprKind::Const(Const::Action(self.l.actions.get(name).copied().unwrap_or(0))),
            (name, Type::Entity(types)) => {
                let t_idx = types.first().and_then(|q| self.l.types.get(q).copied()).unwrap_or(0);
                ExprKind::Const(Const::Entity(self.l.literal(t_idx, name)))
            }
            _ => ExprKind::Const(Const::Bool(false)),
        };
        self.push(kind, ty)
    }

    /// The variant `name` of the enum `en`.
    fn enum_variant(&self, en: &str, name: &str) -> Const {
        let e_idx = self.l.enums.get(en).copied().unwrap_or(0);
        let v = self.l.env.enums.get(en).and_then(|i| i.variants.iter().position(|v| &**v == name)).unwrap_or(0);
        Const::Enum(e_idx, v as u32)
    }

    /// `x has a.b` is `x has a && x.a has b`.
    fn has(&mut self, base: &ast::Expr, path: &[ast::Ident]) -> ExprId {
        let mut current = self.expr(base);
        let mut current_ty = self.type_of(base);
        let mut result: Option<ExprId> = None;
        for (i, seg) in path.iter().enumerate() {
            let name = self.l.string(&seg.name);
            let has = self.push(ExprKind::Has { base: current, name }, Ty::Bool);
            result = Some(match result {
                None => has,
                Some(prev) => self.push(ExprKind::And(prev, has), Ty::Bool),
            });
            if i + 1 < path.len() {
                let next_ty = field_type(&self.l.env, &current_ty, &seg.name);
                current = self.push(ExprKind::Attr { base: current, name }, self.l.ty(&next_ty));
                current_ty = next_ty;
            }
        }
        result.unwrap_or_else(|| self.push(ExprKind::Const(Const::Bool(true)), Ty::Bool))
    }

    /// `s.any(x, body)` / `s.all(x, body)`: `x` gets the next variable
    /// number, bound while its body is lowered.
    fn quantifier(&mut self, all: bool, receiver: &ast::Expr, args: &[ast::Expr]) -> ExprId {
        let set = self.expr(receiver);
        let element = match self.exprs.get(set as usize).map(|e| &e.ty) {
            Some(Ty::Set(inner)) => (**inner).clone(),
            _ => Ty::Unknown,
        };
        let (Some(A::Name(name)), Some(body)) = (args.first().map(|a| &a.kind), args.get(1)) else {
            return self.push(ExprKind::Const(Const::Bool(false)), Ty::Bool);
        };
        let var = self.next_var;
        self.next_var += 1;
        self.locals.push((name.name.clone(), var, element));
        let body = self.expr(body);
        self.locals.pop();
        self.push(ExprKind::Quantifier { all, set, var, body }, Ty::Bool)
    }

    fn member(&mut self, base: &ast::Expr, name: &str, ty: Ty) -> ExprId {
        if let A::Name(n) = &base.kind
            && n.name == "chain"
            && !self.locals.iter().any(|(l, _, _)| *l == n.name)
        {
            match name {
                "first" => return self.push(ExprKind::Var(Var::ChainFirst), ty),
                "last" => return self.push(ExprKind::Var(Var::ChainLast), ty),
                _ => {}
            }
        }
        if let A::Name(n) = &base.kind
            && n.name == "current"
        {
            let var = match name {
                "principal" => Var::CurrentPrincipal,
                "resource" => Var::CurrentResource,
                "context" => Var::CurrentContext,
                _ => Var::CurrentAction,
            };
            return self.push(ExprKind::Var(var), ty);
        }
        let b = self.expr(base);
        let name = self.l.string(name);
        self.push(ExprKind::Attr { base: b, name }, ty)
    }

    /// `principal in X` or `resource == Y`: the test of one scope constraint,
    /// and its target.
    fn scope_constraint(&mut self, var: Var, var_ty: &Type, c: &ast::ScopeConstraint) -> (ExprId, ExprId) {
        let lhs = self.push(ExprKind::Var(var), self.l.ty(var_ty));
        let rhs = self.expr(&c.target);
        let kind = match c.op {
            ast::ScopeOp::In => ExprKind::In { lhs, rhs },
            ast::ScopeOp::Eq => ExprKind::Cmp { op: ir::CmpOp::Eq, lhs, rhs },
        };
        (self.push(kind, Ty::Bool), rhs)
    }

    /// A rule's scope constraints as its first conditions, with the entity a
    /// `principal == E` or `resource == E` pins (for the rule index).
    ///
    /// A template's slots (`principal == ?principal`) are no conditions:
    /// they are returned as the template's slots, tested against its links.
    #[allow(clippy::type_complexity)]
    fn scope_conditions(
        &mut self,
        scope: Option<&ast::Scope>,
        env: &Env,
    ) -> (Vec<ir::Condition>, Option<u32>, Option<u32>, Vec<ir::Slot>) {
        let mut conds = Vec::new();
        let mut slots = Vec::new();
        let (mut pinned_principal, mut pinned_resource) = (None, None);
        for (var, s, c) in entity_constraints(scope.map(|s| s.items.as_slice()).unwrap_or(&[])) {
            let var_ty = if var == Var::Principal { &env.principal } else { &env.resource };
            if let A::Slot(_) = &c.target.kind {
                // The checker typed the slot: the entity types a link may fill it with.
                let ty = self.cx.types.as_ref().and_then(|t| t.get(&c.target.span.start)).cloned();
                let ty = ty.unwrap_or_else(|| self.cx.slot_type(var_ty, c.op));
                let types = match &ty {
                    Type::Entity(names) => names.iter().filter_map(|n| self.l.types.get(n).copied()).collect(),
                    _ => Vec::new(),
                };
                let var = if var == Var::Principal { ir::SlotVar::Principal } else { ir::SlotVar::Resource };
                slots.push(ir::Slot { var, hierarchy: c.op == ast::ScopeOp::In, types });
                continue;
            }
            let (e, rhs) = self.scope_constraint(var, var_ty, c);
            if let (ast::ScopeOp::Eq, Some(ExprKind::Const(Const::Entity(k)))) =
                (c.op, self.exprs.get(rhs as usize).map(|e| &e.kind))
            {
                if var == Var::Principal {
                    pinned_principal = Some(*k);
                } else {
                    pinned_resource = Some(*k);
                }
            }
            let op = if c.op == ast::ScopeOp::In { "in" } else { "==" };
            let name = if var == Var::Principal { "principal" } else { "resource" };
            let text = format!("{name} {op} {}", ward_grammar::format::expr(&c.target));
            let location = self.l.location(self.file, self.key, s.span);
            conds.push(ir::Condition { expr: e, when: true, text, location });
        }
        slots.sort_by_key(|s| s.var != ir::SlotVar::Principal);
        (conds, pinned_principal, pinned_resource, slots)
    }

    /// A `when` or `unless` condition.
    fn condition(&mut self, c: &ast::Condition) -> ir::Condition {
        let e = self.expr(&c.expr);
        let kw = if c.kind == ast::ConditionKind::When { "when" } else { "unless" };
        ir::Condition {
            expr: e,
            when: c.kind == ast::ConditionKind::When,
            text: format!("{kw} {}", ward_grammar::format::expr(&c.expr)),
            location: self.l.location(self.file, self.key, c.span),
        }
    }

    /// A `limit`: its counting keys (the principal by default) and rates.
    fn limit(&mut self, l: &ast::LimitRule, env: &Env) -> ir::RuleKind {
        let keys: Vec<ExprId> = if l.keys.is_empty() {
            vec![self.push(ExprKind::Var(Var::Principal), self.l.ty(&env.principal))]
        } else {
            l.keys.iter().map(|k| self.expr(k)).collect()
        };
        let measure = match &l.measure {
            None => ir::LimitMeasure::Requests,
            Some(m) => {
                let expr = self.expr(&m.expr);
                match m.kind {
                    ast::MeasureKind::Distinct => ir::LimitMeasure::Distinct { expr },
                    ast::MeasureKind::Sum => {
                        let decimal = self.exprs.get(expr as usize).is_some_and(|e| e.ty == ir::Ty::Decimal);
                        ir::LimitMeasure::Sum { expr, decimal }
                    }
                }
            }
        };
        let count = match measure {
            ir::LimitMeasure::Sum { decimal: true, .. } => literals::decimal(&l.count.raw),
            _ => literals::int(&l.count.raw),
        };
        let count = count.unwrap_or(1).max(1) as u64;
        ir::RuleKind::Limit {
            measure,
            count,
            window_ms: literals::duration_ms(&l.window.raw).unwrap_or(1).max(1),
            burst: l.burst.as_ref().and_then(|b| literals::int(&b.raw).ok()).map_or(count, |b| b.max(1) as u64),
            keys,
            fail_open: matches!(l.fail, Some((ast::FailMode::Open, _))),
        }
    }

    fn mask(&mut self, m: &ast::MaskRule) -> ir::RuleKind {
        let symbols = symbols(self.l.db, self.l.project);
        let (detector_items, method): (Vec<&ast::CallItem>, Option<&ast::CallItem>) = match &m.using {
            Some(u) => (m.with.iter().collect(), Some(u)),
            None => {
                let first_is_method = m.with.first().is_some_and(|c| {
                    let t = c.name.text();
                    crate::check::MASK_METHODS.contains(&t.as_str()) && !symbols.detectors.contains_key(t.as_str())
                });
                if first_is_method && m.with.len() == 1 {
                    (Vec::new(), m.with.first())
                } else {
                    (m.with.iter().collect(), None)
                }
            }
        };
        let mut detectors = Vec::new();
        for d in detector_items {
            if let Some(q) = self.cx.resolve_detector(&d.name)
                && let Some(i) = self.l.detector(&q)
            {
                detectors.push(i);
            }
        }
        let arg = |c: &ast::CallItem, key: &str| -> Option<String> {
            c.args.as_ref()?.iter().find(|a| a.name.name == key).map(|a| match &a.value.kind {
                A::Lit(l) => l.string_value().map_or_else(|| l.raw.clone(), str::to_string),
                _ => ward_grammar::format::expr(&a.value),
            })
        };
        let method = match method {
            None => ir::MaskMethod::Redact,
            Some(c) => match c.name.text().as_str() {
                "partial" => ir::MaskMethod::Partial {
                    first: arg(c, "first").and_then(|v| v.parse().ok()).unwrap_or(0),
                    last: arg(c, "last").and_then(|v| v.parse().ok()).unwrap_or(0),
                },
                "hash" => ir::MaskMethod::Hash { salt: arg(c, "salt") },
                "tokenize" => ir::MaskMethod::Tokenize { key: arg(c, "key").unwrap_or_default() },
                "drop" => ir::MaskMethod::Drop,
                _ => ir::MaskMethod::Redact,
            },
        };
        ir::RuleKind::Mask { paths: m.paths.iter().map(ast::MaskPath::text).collect(), detectors, method }
    }

    fn flow(&mut self, flow: &ast::FlowExpr, ty: Ty) -> ExprId {
        let outer = self.cx.scope_env(None, None);
        let past: Env = self.cx.scope_env(Some(&flow.scope), Some(&outer));
        let actions = past.actions.iter().filter_map(|a| self.l.actions.get(a).copied()).collect();
        // A result flow: the checker made every action of the scope return one type.
        let response = crate::check::is_result_flow(flow)
            .then(|| past.actions.iter().find_map(|a| self.l.env.actions.get(a).and_then(|i| i.returns.clone())))
            .flatten()
            .map(|t| self.l.ty(&t));
        let saved = std::mem::take(&mut self.exprs);
        let was = std::mem::replace(&mut self.in_flow, true);
        // Scope constraints of the earlier action become part of its filter.
        let mut filter: Option<ExprId> = None;
        for (var, _, c) in entity_constraints(&flow.scope.items) {
            let var_ty = if var == Var::Principal { &past.principal } else { &past.resource };
            let (e, _) = self.scope_constraint(var, var_ty, c);
            filter = Some(match filter {
                None => e,
                Some(prev) => self.push(ExprKind::And(prev, e), Ty::Bool),
            });
        }
        let mut correlation = None;
        if let Some(f) = &flow.filter {
            for c in crate::check::conjuncts(f) {
                if crate::check::mentions_current(c) {
                    // The checker allows exactly one such conjunct: `x == current.y`.
                    if let A::Binary { op: ast::BinaryOp::Eq, lhs, rhs } = &c.kind {
                        let (past, current) = if crate::check::mentions_current(lhs) { (rhs, lhs) } else { (lhs, rhs) };
                        correlation = Some((self.expr(past), self.expr(current)));
                    }
                    continue;
                }
                let e = self.expr(c);
                filter = Some(match filter {
                    None => e,
                    Some(prev) => self.push(ExprKind::And(prev, e), Ty::Bool),
                });
            }
        }
        let (kind, value) = match &flow.kind {
            ast::FlowKind::Previously => (ir::FlowKind::Previously, None),
            ast::FlowKind::Count => (ir::FlowKind::Count, None),
            ast::FlowKind::Sum(v) => (ir::FlowKind::Sum, Some(self.expr(v))),
        };
        let exprs = std::mem::replace(&mut self.exprs, saved);
        self.in_flow = was;
        let index = self.l.program.flows.len() as u32;
        self.l.program.flows.push(ir::Flow {
            kind,
            window_ms: literals::duration_ms(&flow.window.raw).unwrap_or(0),
            by_principal: matches!(flow.group, Some((ast::FlowGroup::Principal, _))),
            actions,
            exprs,
            filter,
            value,
            correlation,
            response,
        });
        let _ = (self.file, self.key);
        self.push(ExprKind::Flow(index), ty)
    }
}

fn field_type(env: &SchemaEnv, ty: &Type, name: &str) -> Type {
    match ty {
        Type::Entity(names) => names
            .iter()
            .find_map(|n| env.entities.get(n).and_then(|e| e.attrs.fields.get(name)).map(|f| f.ty.clone()))
            .unwrap_or(Type::Error),
        Type::Record(r) => r.fields.get(name).map_or(Type::Error, |f| f.ty.clone()),
        _ => Type::Error,
    }
}

/// The value of a constructor call: `ip("…")`, `cidr`, `decimal`,
/// `duration`, `date`, `datetime` (the checker has vetted the name and its
/// one string argument).
fn constructor(func: &str, args: &[ast::Expr]) -> Const {
    let arg = args.first().and_then(|a| match &a.kind {
        A::Lit(ast::Lit { kind: ast::LitKind::Str(s), .. }) => Some(s.clone()),
        _ => None,
    });
    let s = arg.unwrap_or_default();
    match func {
        "ip" => Const::Ip(s),
        "cidr" => Const::Cidr(s),
        "decimal" => Const::Int(literals::decimal(&s).unwrap_or(0)),
        "duration" => Const::Int(literals::duration_ms(&s).unwrap_or(0)),
        "date" => Const::Int(literals::date_days(&s).unwrap_or(0)),
        _ => Const::Int(literals::time_ms(&s).unwrap_or(0)),
    }
}

/// The IR method a (checked) method call names, given its receiver's type.
fn method_of(name: &str, receiver: &Type) -> ir::Method {
    match (name, receiver) {
        ("contains", Type::String) => ir::Method::StrContains,
        ("contains", _) => ir::Method::Contains,
        ("contains_all", _) => ir::Method::ContainsAll,
        ("contains_any", _) => ir::Method::ContainsAny,
        ("intersects", _) => ir::Method::Intersects,
        ("is_subset", _) => ir::Method::IsSubset,
        ("size", _) => ir::Method::Size,
        ("is_empty", _) => ir::Method::IsEmpty,
        ("starts_with", _) => ir::Method::StartsWith,
        ("ends_with", _) => ir::Method::EndsWith,
        ("lower", _) => ir::Method::Lower,
        ("upper", _) => ir::Method::Upper,
        ("trim", _) => ir::Method::Trim,
        ("email_addresses", _) => ir::Method::EmailAddresses,
        ("email_domains", _) => ir::Method::EmailDomains,
        ("url_host", _) => ir::Method::UrlHost,
        ("url_scheme", _) => ir::Method::UrlScheme,
        ("normalized_path", _) => ir::Method::NormalizedPath,
        ("date", _) => ir::Method::TimeDate,
        ("hour", _) => ir::Method::Hour,
        ("minute", _) => ir::Method::Minute,
        ("weekday", Type::Date) => ir::Method::DateWeekday,
        ("weekday", _) => ir::Method::Weekday,
        ("year", _) => ir::Method::Year,
        ("month", _) => ir::Method::Month,
        ("day", _) => ir::Method::Day,
        ("is_loopback", _) => ir::Method::IsLoopback,
        ("is_private", _) => ir::Method::IsPrivate,
        ("is_ipv4", _) => ir::Method::IsIpv4,
        ("has_tag", _) => ir::Method::HasTag,
        ("get_tag", _) => ir::Method::GetTag,
        _ => ir::Method::IsIpv6,
    }
}

/// The `principal` and `resource` items of a scope that constrain their
/// variable (`in X`, `== Y`), in order.
fn entity_constraints(
    items: &[ast::ScopeItem],
) -> impl Iterator<Item = (Var, &ast::EntityScope, &ast::ScopeConstraint)> {
    items.iter().filter_map(|item| {
        let (var, s) = match item {
            ast::ScopeItem::Principal(s) => (Var::Principal, s),
            ast::ScopeItem::Resource(s) => (Var::Resource, s),
            ast::ScopeItem::Action(_) => return None,
        };
        s.constraint.as_ref().map(|c| (var, s, c))
    })
}

/// A rule's obligations and advice, in order.
fn clauses(r: &ast::Rule) -> (Vec<ir::Obligation>, Vec<ir::Obligation>) {
    let (mut obligations, mut advice) = (Vec::new(), Vec::new());
    for clause in &r.clauses {
        let o = ir::Obligation { name: clause.call.name.text(), args: call_args(&clause.call) };
        if clause.kind == ast::ClauseKind::Obligation { obligations.push(o) } else { advice.push(o) }
    }
    (obligations, advice)
}

fn call_args(call: &ast::CallItem) -> Vec<(String, String)> {
    call.args
        .iter()
        .flatten()
        .map(|a| {
            let v = match &a.value.kind {
                A::Lit(l) => l.string_value().map_or_else(|| l.raw.clone(), str::to_string),
                _ => ward_grammar::format::expr(&a.value),
            };
            (a.name.name.clone(), v)
        })
        .collect()
}

/// Test data as JSON: literals, entity references, sets and records.
pub fn expr_json(e: &ast::Expr) -> Json {
    match &e.kind {
        A::Paren(inner) => expr_json(inner),
        A::Lit(l) => match &l.kind {
            ast::LitKind::Str(s) => Json::String(s.clone()),
            ast::LitKind::Bool(b) => Json::Bool(*b),
            ast::LitKind::Int => literals::int(&l.raw).map_or(Json::Null, |v| Json::Number(v.into())),
            _ => Json::String(l.raw.clone()),
        },
        A::Name(n) => Json::String(n.name.clone()),
        A::EnumRef { variant, .. } => Json::String(variant.name.clone()),
        A::EntityRef(r) => {
            serde_json::json!({"__entity": {"type": r.ty.text(), "id": r.id.string_value().unwrap_or("")}})
        }
        A::Call { args, .. } => args.first().map_or(Json::Null, expr_json),
        A::Unary { op: ast::UnaryOp::Neg, operand } => match expr_json(operand) {
            Json::Number(n) => n.as_i64().map_or(Json::Null, |v| Json::Number((-v).into())),
            Json::String(s) => Json::String(format!("-{s}")),
            _ => Json::Null,
        },
        A::Set(items) => Json::Array(items.iter().map(expr_json).collect()),
        A::Record(entries) => {
            Json::Object(entries.iter().map(|en| (en.key.name().to_string(), expr_json(&en.value))).collect())
        }
        _ => Json::Null,
    }
}

fn request_field_json(key: &str, value: &ast::Expr) -> Json {
    match (key, &value.kind) {
        ("principal" | "resource", A::EntityRef(r)) => {
            serde_json::json!({"type": r.ty.text(), "id": r.id.string_value().unwrap_or("")})
        }
        // A namespaced action: `action: Taxpreparer::view`.
        ("action", A::EnumRef { ty, variant }) => Json::String(format!("{}::{}", ty.text(), variant.name)),
        ("on_behalf_of", A::Set(items)) => Json::Array(
            items
                .iter()
                .filter_map(|i| match &i.kind {
                    A::EntityRef(r) => {
                        Some(serde_json::json!({"type": r.ty.text(), "id": r.id.string_value().unwrap_or("")}))
                    }
                    _ => None,
                })
                .collect(),
        ),
        _ => expr_json(value),
    }
}

fn entities_json(entities: &[ast::EntityLit]) -> Json {
    Json::Array(
        entities
            .iter()
            .map(|e| {
                let attrs: serde_json::Map<String, Json> = e
                    .attrs
                    .as_ref()
                    .map(|(entries, _)| {
                        entries.iter().map(|en| (en.key.name().to_string(), expr_json(&en.value))).collect()
                    })
                    .unwrap_or_default();
                let parents: Vec<Json> = e
                    .parents
                    .iter()
                    .flatten()
                    .map(|p| serde_json::json!({"type": p.ty.text(), "id": p.id.string_value().unwrap_or("")}))
                    .collect();
                let tags: serde_json::Map<String, Json> = e
                    .tags
                    .as_ref()
                    .map(|(entries, _)| {
                        entries.iter().map(|en| (en.key.name().to_string(), expr_json(&en.value))).collect()
                    })
                    .unwrap_or_default();
                serde_json::json!({
                    "uid": {"type": e.uid.ty.text(), "id": e.uid.id.string_value().unwrap_or("")},
                    "attrs": attrs,
                    "parents": parents,
                    "tags": tags,
                })
            })
            .collect(),
    )
}
