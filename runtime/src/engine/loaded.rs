//! A compiled policy set with its entities, as the engine holds it: buckets
//! indexed for lookup, rule lists split for the fast path, the JIT's code,
//! the detectors' scanner.

use std::sync::Arc;

use ward_ir::{self as ir, Program, RuleKind};

use super::procedure::{default_deny, mask_of, push_obligations, rule_reason};
use crate::data::DataError;
use crate::decision::{Decision, Effect};
use crate::hash::FxHashMap;
use crate::interp::Prepared;
use crate::jit::{Jit, check_layout};
use crate::links::{Link, LinkIndex, Links};
use crate::patch::EntityPatch;
use crate::store::Store;
use crate::verdict::Verdict;

/// A compiled policy set with its entities: what the engine swaps atomically.
pub struct Loaded {
    pub prepared: Arc<Prepared>,
    pub store: Arc<Store>,
    /// `(action, principal type, resource type)` → bucket.
    pub buckets: Arc<FxHashMap<(u32, u32, u32), Bucket>>,
    /// The links of the program's templates, indexed for this store. A
    /// linked rule's index is `program.rules.len()` plus its link's index.
    pub links: Arc<LinkIndex>,
    /// Agent lifecycle by entity index.
    pub agents: FxHashMap<u32, ir::Agent>,
    /// Per action: whether a flow condition records it (then an allow
    /// updates the session's history).
    pub(super) recorded: Vec<bool>,
    /// Per action: whether a result flow looks at it (then the enforcement
    /// point's report of its result is recorded: `Engine::record_result_at`).
    pub(super) results: Vec<bool>,
    /// Per flow condition, its name for audit records and errors: the id
    /// of the rule that reads it and its kind (`p.no-vip-mail/previously`).
    pub flow_names: Vec<String>,
    pub jit: Option<Arc<Jit>>,
    /// Why the JIT is not available, when it is not.
    pub jit_error: Option<String>,
    /// Every detector of the program, for masking text in one pass (or why
    /// they could not be compiled: then text masks fail closed).
    pub scanner: Result<Arc<crate::detect::Scanner>, String>,
    /// Per flow condition, a fingerprint of its definition: its state
    /// survives reloads that leave it unchanged.
    pub flow_fingerprints: Vec<String>,
}

impl Loaded {
    pub fn new(program: Arc<Program>, store: Store, want_jit: bool) -> Loaded {
        let prepared = Prepared::new(Arc::clone(&program));
        let (jit, jit_error) = if want_jit {
            // The code is the program's; the store is checked when paired with it.
            match Jit::compile(&prepared).and_then(|j| check_layout(&program, &store).map(|()| j)) {
                Ok(j) => (Some(Arc::new(j)), None),
                Err(e) => (None, Some(e)),
            }
        } else {
            (None, None)
        };
        // The lists carry each rule's entry of this very code's table (none
        // without native code: then the entries are never read).
        let positions: &[u32] = jit.as_ref().map_or(&[], |j| j.positions());
        let literal = |k: &u32| store.literals.get(*k as usize).copied().unwrap_or(u32::MAX);
        let buckets = program
            .buckets
            .iter()
            .map(|b| {
                let pinned = |map: &[(u32, Vec<u32>)]| -> FxHashMap<u32, Lists> {
                    map.iter().map(|(k, rules)| (literal(k), Lists::new(&program, rules, positions))).collect()
                };
                let (in_index, open) = InIndex::new(&program, b, positions);
                let bucket = Bucket {
                    general: b.rules.clone(),
                    templates: b.templates.clone(),
                    fast_templates: Lists::new(&program, &b.templates, positions),
                    by_principal: b.by_principal.iter().map(|(k, rules)| (literal(k), rules.clone())).collect(),
                    by_resource: b.by_resource.iter().map(|(k, rules)| (literal(k), rules.clone())).collect(),
                    fast: Lists::new(&program, &open.iter().map(|(_, r)| *r).collect::<Vec<u32>>(), positions),
                    open,
                    in_index,
                    fast_principal: pinned(&b.by_principal),
                    fast_resource: pinned(&b.by_resource),
                };
                ((b.action, b.principal, b.resource), bucket)
            })
            .collect();
        let mut recorded = vec![false; program.actions.len()];
        let mut results = vec![false; program.actions.len()];
        for flow in &program.flows {
            let marks = if flow.response.is_some() { &mut results } else { &mut recorded };
            for a in &flow.actions {
                if let Some(r) = marks.get_mut(*a as usize) {
                    *r = true;
                }
            }
        }
        let flow_names = flow_names(&program);
        let agents = agents(&program, &store);
        let scanner = crate::detect::Scanner::new(&program.detectors).map(Arc::new);
        let flow_fingerprints = program
            .flows
            .iter()
            .map(|f| {
                let text = serde_json::to_string(f).unwrap_or_default();
                let h = text
                    .bytes()
                    .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
                format!("{h:016x}")
            })
            .collect();
        Loaded {
            prepared: Arc::new(prepared),
            store: Arc::new(store),
            buckets: Arc::new(buckets),
            links: Arc::new(LinkIndex::default()),
            agents,
            recorded,
            results,
            flow_names,
            jit,
            jit_error,
            scanner,
            flow_fingerprints,
        }
    }

    /// The same policy set and entities with `links` for its templates (in
    /// place of any it had): nothing is recompiled, the links are indexed
    /// for the store. `links` must have been checked against this program
    /// ([`Links::from_json`]); links of another program are refused.
    pub fn with_links(&self, links: Arc<Links>) -> Result<Loaded, String> {
        let program = self.program();
        for link in &links.links {
            let template = program.rules.get(link.template as usize).and_then(|r| r.template.as_ref());
            if template.is_none() {
                return Err(format!("link `{}` names no template of this policy set", link.id));
            }
        }
        let links = LinkIndex::new(links, &self.store);
        Ok(self.with_parts(Arc::clone(&self.store), self.agents.clone(), links))
    }

    /// The same policy set with another entity store of its program: the
    /// program, its native code, buckets and detectors are kept, only what
    /// depends on the entities is rebuilt (agents by entity, the links'
    /// index). Nothing is compiled. Refused: a store of another program, or
    /// one that does not fit the native code (never one [`Store::load`]
    /// built for this program).
    pub fn with_store(&self, store: Store) -> Result<Loaded, String> {
        let links = Arc::clone(&self.links.links);
        self.paired(store, |store| LinkIndex::new(links, store))
    }

    /// [`Loaded::with_store`] for a new entity list (Cedar's JSON entity
    /// format): what `Engine::set_entities` swaps in.
    pub fn with_entities(&self, entities: &serde_json::Value) -> Result<Loaded, DataError> {
        let store = Store::load(Arc::clone(&self.prepared.program), entities)?;
        self.with_store(store).map_err(|e| crate::data::error("entities", e))
    }

    /// [`Loaded::with_store`] for this store's entities changed by `patch`
    /// ([`Store::patched`]: incremental, sharing what the patch leaves
    /// unchanged with this store): what `Engine::update_entities` swaps in.
    pub fn with_patch(&self, patch: &EntityPatch) -> Result<Loaded, DataError> {
        let store = self.store.patched(patch)?;
        self.with_store(store).map_err(|e| crate::data::error("entities", e))
    }

    /// What `Loaded::new(program, store, want_jit)` gives, reusing what
    /// `previous` compiled (native code, buckets, detectors) when its
    /// program is the same and it was built for the same backend: a reload
    /// whose policy did not change costs the entities' load alone. As with
    /// `Loaded::new`, the result has no links.
    pub fn new_reusing(program: Arc<Program>, store: Store, want_jit: bool, previous: &Loaded) -> Loaded {
        let same_backend = want_jit == (previous.jit.is_some() || previous.jit_error.is_some());
        let same_program = Arc::ptr_eq(&program, &previous.prepared.program) || *program == *previous.prepared.program;
        // A store that does not fit is built into a new policy set, which says why.
        if same_backend && same_program && previous.fits(&store).is_ok() {
            return previous.paired_unchecked(store, |_| LinkIndex::default());
        }
        Loaded::new(program, store, want_jit)
    }

    /// This policy set's compiled parts with `store`, the links indexed by `links`.
    fn paired(&self, store: Store, links: impl FnOnce(&Store) -> LinkIndex) -> Result<Loaded, String> {
        self.fits(&store)?;
        Ok(self.paired_unchecked(store, links))
    }

    /// Whether `store` can be paired with this policy set's compiled parts.
    fn fits(&self, store: &Store) -> Result<(), String> {
        let program = self.program();
        if !Arc::ptr_eq(&store.program, &self.prepared.program) && *store.program != *program {
            return Err("the entity store was loaded for another policy set".to_string());
        }
        // The buckets map the policy's own entities (its literals) to store
        // indexes. `Store::load` numbers them first, in the program's order,
        // so every store of a program numbers them alike and the buckets
        // carry over; a store numbered otherwise is refused, not mis-paired.
        if store.literals != self.store.literals {
            return Err("the entity store numbers the policy's entities differently".to_string());
        }
        if self.jit.is_some() {
            check_layout(program, store)?;
        }
        Ok(())
    }

    fn paired_unchecked(&self, store: Store, links: impl FnOnce(&Store) -> LinkIndex) -> Loaded {
        let (agents, links) = (agents(self.program(), &store), links(&store));
        self.with_parts(Arc::new(store), agents, links)
    }

    /// This policy set's program and compiled parts with the given
    /// entity-dependent parts.
    fn with_parts(&self, store: Arc<Store>, agents: FxHashMap<u32, ir::Agent>, links: LinkIndex) -> Loaded {
        Loaded {
            prepared: Arc::clone(&self.prepared),
            agents,
            links: Arc::new(links),
            store,
            buckets: Arc::clone(&self.buckets),
            recorded: self.recorded.clone(),
            results: self.results.clone(),
            flow_names: self.flow_names.clone(),
            jit: self.jit.clone(),
            jit_error: self.jit_error.clone(),
            scanner: self.scanner.clone(),
            flow_fingerprints: self.flow_fingerprints.clone(),
        }
    }

    /// Rule `index`: a rule of the program, or (from `program.rules.len()`
    /// on) a template linked by a link, with the id it is reported under.
    pub fn rule_ref(&self, index: u32) -> Option<RuleRef<'_>> {
        let program = self.program();
        if let Some(rule) = program.rules.get(index as usize) {
            return Some(RuleRef { rule, id: &rule.id, link: None });
        }
        let link = self.links.link(index.checked_sub(program.rules.len() as u32)?)?;
        let rule = program.rules.get(link.template as usize)?;
        Some(RuleRef { rule, id: &link.rule_id, link: Some(link) })
    }

    /// The index a linked rule is decided under (see [`Loaded::rule_ref`]).
    pub fn linked_index(&self, link: u32) -> u32 {
        (self.program().rules.len() as u32).saturating_add(link)
    }

    pub fn program(&self) -> &Program {
        &self.prepared.program
    }

    /// The decision a verdict stands for.
    pub fn explain(&self, verdict: &Verdict) -> Decision {
        let program = self.program();
        let (effect, rules, masks) = match verdict {
            Verdict::Full(decision) => return (**decision).clone(),
            Verdict::DefaultDeny => {
                let mut decision = Decision::empty(Effect::Deny);
                decision.reasons.push(default_deny());
                return decision;
            }
            Verdict::Rules { effect, rules, masks } => (*effect, rules, masks),
        };
        let mut decision = Decision::empty(effect);
        let mut seen: Vec<u32> = Vec::with_capacity(rules.as_slice().len());
        for index in rules.as_slice() {
            if seen.contains(index) {
                continue;
            }
            seen.push(*index);
            let Some(r) = self.rule_ref(*index) else { continue };
            decision.reasons.push(rule_reason(&r, None));
            push_obligations(&r, &mut decision.obligations);
        }
        for index in masks.as_slice() {
            if let Some(mask) = program.rules.get(*index as usize).and_then(|r| mask_of(program, r, true))
                && !decision.masks.contains(&mask)
            {
                decision.masks.push(mask);
            }
        }
        decision
    }

    /// The state key of flow `index`'s summary for a group and correlation value.
    pub fn flow_key(&self, index: u32, group: &str, correlation: &str) -> String {
        let fingerprint = self.flow_fingerprints.get(index as usize).map_or("", String::as_str);
        format!("flow/{fingerprint}/{group}/{correlation}")
    }

    /// The state key marking that a result flow met a result it could not
    /// read, for a group (whatever the correlation): while the mark is in
    /// the window, reading the flow is an evaluation error.
    pub fn unreadable_key(&self, index: u32, group: &str) -> String {
        let fingerprint = self.flow_fingerprints.get(index as usize).map_or("", String::as_str);
        format!("flow-unreadable/{fingerprint}/{group}")
    }

    /// Whether a result flow looks at `action`: then its result is worth
    /// reporting (`Engine::record_result_at`).
    pub fn records_results(&self, action: &str) -> bool {
        self.store.action_index(action).and_then(|a| self.results.get(a as usize).copied()).unwrap_or(false)
    }
}

/// The policy's agents by store entity.
fn agents(program: &Program, store: &Store) -> FxHashMap<u32, ir::Agent> {
    program.agents.iter().filter_map(|a| store.literals.get(a.entity as usize).map(|i| (*i, a.clone()))).collect()
}

/// Each flow's name: the id of the first rule whose conditions read it,
/// and its kind.
fn flow_names(program: &Program) -> Vec<String> {
    let mut names: Vec<Option<String>> = vec![None; program.flows.len()];
    for rule in &program.rules {
        for e in &rule.exprs {
            if let ir::ExprKind::Flow(k) = e.kind
                && let Some(slot) = names.get_mut(k as usize)
                && slot.is_none()
            {
                *slot = Some(rule.id.clone());
            }
        }
    }
    program
        .flows
        .iter()
        .zip(names)
        .enumerate()
        .map(|(k, (f, rule))| {
            let kind = match f.kind {
                ir::FlowKind::Previously => "previously",
                ir::FlowKind::Count => "count",
                ir::FlowKind::Sum => "sum",
            };
            format!("{}/{kind}", rule.unwrap_or_else(|| format!("flow{k}")))
        })
        .collect()
}

/// A rule as decided: a rule of the program, or a template through a link.
#[derive(Clone, Copy)]
pub struct RuleRef<'a> {
    pub rule: &'a ir::Rule,
    /// `policy.id`, or for a link `policy.id[link]`.
    pub id: &'a str,
    pub link: Option<&'a Link>,
}

/// A bucket's rules, with the pinned ones indexed by store entity.
pub struct Bucket {
    /// Every rule that is neither pinned nor a template, in evaluation
    /// order (the `in`-scoped ones included).
    pub general: Vec<u32>,
    /// Those of `general` not indexed by `in`: `(position in general, rule)`.
    pub(super) open: Vec<(u32, u32)>,
    /// The rest of `general`, by the literals their scopes require.
    pub(super) in_index: InIndex,
    /// The bucket's `@template` rules: they apply through matching links only.
    pub templates: Vec<u32>,
    pub(super) fast_templates: Lists,
    pub by_principal: FxHashMap<u32, Vec<u32>>,
    pub by_resource: FxHashMap<u32, Vec<u32>>,
    /// The open rules, split for the fast path.
    pub(super) fast: Lists,
    pub(super) fast_principal: FxHashMap<u32, Lists>,
    pub(super) fast_resource: FxHashMap<u32, Lists>,
}

/// Rules split by what the fast path does with them.
pub(super) struct Lists {
    /// Permits and forbids, in evaluation order.
    pub(super) decide: Vec<Decide>,
    pub(super) masks: Vec<u32>,
    /// Whether any rule needs the full procedure: a shadow rule, an
    /// approval, or a rule that only the caller may use.
    pub(super) special: bool,
    /// Whether any rule is a limit: an allow then checks the limits (with
    /// the state store) and explains itself in full.
    pub(super) limits: bool,
    /// Whether any entry of `decide` repeats the one before it.
    pub(super) repeats: bool,
}

/// A permit or forbid of a [`Lists`].
#[derive(Clone, Copy)]
pub(super) struct Decide {
    pub(super) index: u32,
    /// Its entry of the native code's table (`crate::jit::Calls::code_at`).
    pub(super) at: u32,
    pub(super) forbid: bool,
    /// The previous entry of the list is the same rule but for its id and
    /// location, so it has the same outcome and is not run again: policy
    /// sets generated from a template repeat a grant (the scaling set files
    /// eight copies of each team's folder grant under one group).
    pub(super) repeats: bool,
}

/// Whether `a` and `b` decide alike on every request: same effect, same
/// expressions, same conditions in the same order. What differs may only be
/// what a decision reports (id, location, reason, obligations…), which the
/// fast path reads per fired rule anyway.
fn same_outcome(a: &ir::Rule, b: &ir::Rule) -> bool {
    a.kind == b.kind
        && a.template.is_none()
        && b.template.is_none()
        && a.exprs == b.exprs
        && a.conditions.len() == b.conditions.len()
        && a.conditions.iter().zip(&b.conditions).all(|(x, y)| x.expr == y.expr && x.when == y.when)
}

impl Lists {
    /// `positions`: rule index → entry of the native code's table (empty
    /// without native code).
    fn new(program: &Program, rules: &[u32], positions: &[u32]) -> Lists {
        let mut lists = Lists { decide: Vec::new(), masks: Vec::new(), special: false, limits: false, repeats: false };
        for index in rules {
            let Some(rule) = program.rules.get(*index as usize) else {
                lists.special = true;
                continue;
            };
            match &rule.kind {
                RuleKind::Rule { effect } => {
                    let approval = rule.obligations.iter().any(|o| o.name == "require_approval");
                    if rule.shadow || rule.actor_only || approval {
                        lists.special = true;
                    } else {
                        let at = positions.get(*index as usize).copied().unwrap_or(u32::MAX);
                        let repeats = lists
                            .decide
                            .last()
                            .and_then(|d| program.rules.get(d.index as usize))
                            .is_some_and(|previous| same_outcome(previous, rule));
                        let forbid = *effect == ir::Effect::Forbid;
                        lists.repeats |= repeats;
                        lists.decide.push(Decide { index: *index, at, forbid, repeats });
                    }
                }
                RuleKind::Mask { .. } => lists.masks.push(*index),
                RuleKind::Limit { .. } => lists.limits = true,
            }
        }
        lists
    }
}

impl Bucket {
    /// The rules to evaluate for `principal` on `resource`, in evaluation
    /// order: the general rules that can apply (the open ones, and the
    /// `in`-scoped ones whose literals the two are in), then the pinned ones.
    pub(super) fn rules(&self, store: &Store, principal: u32, resource: u32) -> Vec<u32> {
        let mut at: Vec<u32> = Vec::new();
        let _ = self.in_index.visit(store, principal, resource, |group| {
            at.extend(&group.at);
            Some(())
        });
        let mut all: Vec<u32> = if at.is_empty() {
            self.open.iter().map(|(_, r)| *r).collect()
        } else {
            at.extend(self.open.iter().map(|(p, _)| *p));
            at.sort_unstable();
            at.iter().filter_map(|p| self.general.get(*p as usize)).copied().collect()
        };
        all.extend(self.by_principal.get(&principal).into_iter().flatten());
        all.extend(self.by_resource.get(&resource).into_iter().flatten());
        all
    }
}

/// A bucket's `in`-scoped rules ([`ir::Bucket::in_scoped`]) by the entity
/// literals their scopes require: a request visits only the groups of the
/// literals its principal and resource are in
/// ([`Store::in_literals`]), so thousands of rules scoped to other teams
/// or folders cost it nothing.
#[derive(Default)]
pub(super) struct InIndex {
    /// `principal in P` (resource unconstrained): P → group.
    principal: FxHashMap<u32, InGroup>,
    /// `resource in R` (principal unconstrained): R → group.
    resource: FxHashMap<u32, InGroup>,
    /// Both: P → R → group.
    both: FxHashMap<u32, FxHashMap<u32, InGroup>>,
}

/// Rules of one `(P, R)`.
pub(super) struct InGroup {
    /// Their positions in the bucket's `general` list, ascending.
    pub(super) at: Vec<u32>,
    /// The same rules, split for the fast path.
    pub(super) fast: Lists,
}

impl InIndex {
    /// The index of `b`'s `in_scoped` groups, and the rest of its general
    /// rules as `(position, rule)`. A group the IR lists with a rule
    /// outside `b.rules` is dropped whole (validation refuses such a
    /// program): the rules of `b.rules` are then all open, evaluated for
    /// every request, which is slower but decides the same.
    fn new(program: &Program, b: &ir::Bucket, positions: &[u32]) -> (InIndex, Vec<(u32, u32)>) {
        let mut index = InIndex::default();
        let position: FxHashMap<u32, u32> = b.rules.iter().enumerate().map(|(i, r)| (*r, i as u32)).collect();
        let mut indexed = vec![false; b.rules.len()];
        for g in &b.in_scoped {
            let Some(mut at) = g.rules.iter().map(|r| position.get(r).copied()).collect::<Option<Vec<u32>>>() else {
                continue;
            };
            at.sort_unstable();
            at.dedup();
            let rules: Vec<u32> = at.iter().filter_map(|p| b.rules.get(*p as usize)).copied().collect();
            let group = InGroup { fast: Lists::new(program, &rules, positions), at };
            let added = match (g.principal, g.resource) {
                (Some(p), Some(r)) => index.both.entry(p).or_default().insert(r, group).is_none(),
                (Some(p), None) => index.principal.insert(p, group).is_none(),
                (None, Some(r)) => index.resource.insert(r, group).is_none(),
                (None, None) => false,
            };
            if !added {
                // Two groups under one key (or none): keep every rule open rather than guess.
                return (InIndex::default(), b.rules.iter().enumerate().map(|(i, r)| (i as u32, *r)).collect());
            }
            for p in rules.iter().filter_map(|r| position.get(r)) {
                if let Some(slot) = indexed.get_mut(*p as usize) {
                    *slot = true;
                }
            }
        }
        let open = b
            .rules
            .iter()
            .enumerate()
            .filter(|(i, _)| !indexed.get(*i).copied().unwrap_or(false))
            .map(|(i, r)| (i as u32, *r))
            .collect();
        (index, open)
    }

    fn is_empty(&self) -> bool {
        self.principal.is_empty() && self.resource.is_empty() && self.both.is_empty()
    }

    /// Calls `f` with every group whose literals `principal` and `resource`
    /// are in (in no particular order); stops at `f`'s first `None`, and
    /// returns it.
    pub(super) fn visit<'a>(
        &'a self,
        store: &Store,
        principal: u32,
        resource: u32,
        mut f: impl FnMut(&'a InGroup) -> Option<()>,
    ) -> Option<()> {
        if self.is_empty() {
            return Some(());
        }
        let ps = store.in_literals(principal);
        let rs = store.in_literals(resource);
        if !self.principal.is_empty() {
            for k in ps {
                if let Some(g) = self.principal.get(k) {
                    f(g)?;
                }
            }
        }
        if !self.resource.is_empty() {
            for k in rs {
                if let Some(g) = self.resource.get(k) {
                    f(g)?;
                }
            }
        }
        if !self.both.is_empty() {
            for k in ps {
                let Some(by_resource) = self.both.get(k) else { continue };
                // Whichever side is shorter: the resource's literals, or the
                // resource literals this principal literal has rules for.
                if by_resource.len() <= rs.len() {
                    for (r, g) in by_resource {
                        if rs.binary_search(r).is_ok() {
                            f(g)?;
                        }
                    }
                } else {
                    for r in rs {
                        if let Some(g) = by_resource.get(r) {
                            f(g)?;
                        }
                    }
                }
            }
        }
        Some(())
    }
}
