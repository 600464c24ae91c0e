//! The IR's invariants, checked where a program comes from outside the
//! compiler (a bundle read from disk: signed by a valid key, but possibly
//! hostile or corrupted): every index is in range, every expression arena
//! lists children before parents (so evaluation terminates) and is at most
//! [`MAX_EXPR_DEPTH`] deep, and every node has a type its kind can have.
//! The runtime's backends read the IR trusting these (the JIT's native code
//! reads tables at the indexes it finds), so a program that breaks one is
//! refused before anything evaluates it.
//!
//! The compiler's output satisfies them by construction
//! (`compiler/tests` and the agreement tests check it on generated programs).

use crate::{
    Const, Expr, ExprKind, LimitMeasure, MAX_DISTINCT, MAX_SUM_BUDGET, Method, Pattern, Program, RuleKind, Ty, Var,
};

/// The deepest expression tree a program may hold. Evaluation recurses
/// once per level, natively and in the interpreter; the parser's own limit
/// on nesting is 2,000, and a chain of `&&` lowers to one level per operand.
pub const MAX_EXPR_DEPTH: usize = 4_096;

/// How deep quantifiers may nest (`s.any(x, t.all(y, …))` is 2): the work of
/// a quantifier is its set's size times its body's, so nesting multiplies.
pub const MAX_QUANTIFIER_NESTING: usize = 3;

/// The deepest a type may nest (`Set<Set<…>>`, records in records).
pub const MAX_TYPE_DEPTH: usize = 64;

/// Checks `program`; the error names the place (`rules[3] (`p.read`):
/// exprs[7]`) and the problem.
pub fn validate(p: &Program) -> Result<(), String> {
    let v = Validator { p };
    v.schema()?;
    for (i, r) in p.rules.iter().enumerate() {
        let at = format!("rules[{i}] (`{}`)", r.id);
        v.arena(&r.exprs, &at, None)?;
        for (c, cond) in r.conditions.iter().enumerate() {
            match r.exprs.get(cond.expr as usize) {
                Some(e) if e.ty == Ty::Bool => {}
                Some(_) => return Err(format!("{at}: condition {c} is not a Bool")),
                None => return Err(format!("{at}: condition {c} names expression {} of {}", cond.expr, r.exprs.len())),
            }
        }
        match &r.kind {
            RuleKind::Rule { .. } => {}
            RuleKind::Mask { detectors, .. } => {
                for d in detectors {
                    v.index(*d, p.detectors.len(), &at, "detector")?;
                }
            }
            RuleKind::Limit { keys, measure, count, .. } => {
                for k in keys {
                    v.index(*k, r.exprs.len(), &at, "limit key expression")?;
                }
                match measure {
                    LimitMeasure::Requests => {}
                    LimitMeasure::Sum { expr, decimal } => {
                        v.index(*expr, r.exprs.len(), &at, "limit sum expression")?;
                        let want = if *decimal { Ty::Decimal } else { Ty::Int };
                        if r.exprs.get(*expr as usize).map(|e| &e.ty) != Some(&want) {
                            return Err(format!("{at}: a sum limit's expression is not {want:?}"));
                        }
                        if *count == 0 || *count > MAX_SUM_BUDGET {
                            return Err(format!(
                                "{at}: a sum limit's budget {count} is not within 1..={MAX_SUM_BUDGET}"
                            ));
                        }
                    }
                    LimitMeasure::Distinct { expr } => {
                        v.index(*expr, r.exprs.len(), &at, "limit distinct expression")?;
                        if *count == 0 || *count > MAX_DISTINCT {
                            return Err(format!(
                                "{at}: a distinct limit's count {count} is not within 1..={MAX_DISTINCT}"
                            ));
                        }
                    }
                }
            }
        }
        for pin in [r.pinned_principal, r.pinned_resource].into_iter().flatten() {
            v.index(pin, p.entity_literals.len(), &at, "pinned entity literal")?;
        }
        if let Some(t) = &r.template {
            if !matches!(r.kind, RuleKind::Rule { .. }) {
                return Err(format!("{at}: a template must be a permit or a forbid"));
            }
            if t.slots.is_empty() || t.slots.len() > 2 {
                return Err(format!("{at}: a template has one or two slots, not {}", t.slots.len()));
            }
            if t.slots.len() == 2 && t.slots.first().map(|s| s.var) == t.slots.get(1).map(|s| s.var) {
                return Err(format!("{at}: two slots for one variable"));
            }
            for slot in &t.slots {
                for ty in &slot.types {
                    v.index(*ty, p.entity_types.len(), &at, "slot type")?;
                }
            }
            if r.pinned_principal.is_some() || r.pinned_resource.is_some() {
                return Err(format!("{at}: a template is indexed by its links, not pinned"));
            }
        }
    }
    for (i, f) in p.flows.iter().enumerate() {
        let at = format!("flows[{i}]");
        if let Some(ty) = &f.response {
            v.ty(ty, &at, 0)?;
        }
        v.arena(&f.exprs, &at, f.response.as_ref())?;
        for a in &f.actions {
            v.index(*a, p.actions.len(), &at, "action")?;
        }
        let roots = [f.filter, f.value].into_iter().flatten();
        let correlation = f.correlation.into_iter().flat_map(|(a, b)| [a, b]);
        for e in roots.chain(correlation) {
            v.index(e, f.exprs.len(), &at, "expression")?;
        }
    }
    for (i, a) in p.agents.iter().enumerate() {
        let at = format!("agents[{i}] (`{}`)", a.name);
        v.index(a.entity, p.entity_literals.len(), &at, "entity literal")?;
        for parent in &a.parents {
            v.index(*parent, p.entity_literals.len(), &at, "parent entity literal")?;
        }
    }
    for (i, b) in p.buckets.iter().enumerate() {
        let at = format!("buckets[{i}]");
        v.index(b.action, p.actions.len(), &at, "action")?;
        v.index(b.principal, p.entity_types.len(), &at, "principal type")?;
        v.index(b.resource, p.entity_types.len(), &at, "resource type")?;
        // A pinned rule runs only for requests naming its key: filed under
        // a literal its scope does not pin, it (a forbid, say) would be
        // skipped where it applies.
        type PinOf = fn(&crate::Rule) -> Option<u32>;
        let pinned: [(_, _, PinOf); 2] = [
            (&b.by_principal, "principal", |x| x.pinned_principal),
            (&b.by_resource, "resource", |x| x.pinned_resource),
        ];
        for (map, side, pin_of) in pinned {
            for (k, rules) in map {
                v.index(*k, p.entity_literals.len(), &at, "entity literal")?;
                for r in rules {
                    v.index(*r, p.rules.len(), &at, "rule")?;
                    if p.rules.get(*r as usize).and_then(pin_of) != Some(*k) {
                        return Err(format!("{at}: rule {r} is indexed by a {side} literal its scope does not pin"));
                    }
                }
            }
        }
        for r in &b.rules {
            v.index(*r, p.rules.len(), &at, "rule")?;
            if p.rules.get(*r as usize).is_some_and(|x| x.template.is_some()) {
                return Err(format!("{at}: template rule {r} listed among the general rules"));
            }
        }
        for r in &b.templates {
            v.index(*r, p.rules.len(), &at, "rule")?;
            if p.rules.get(*r as usize).is_some_and(|x| x.template.is_none()) {
                return Err(format!("{at}: rule {r} listed among the templates is no template"));
            }
        }
        v.in_scoped(b, &at)?;
    }
    Ok(())
}

struct Validator<'p> {
    p: &'p Program,
}

impl Validator<'_> {
    /// A bucket's `in_scoped` groups: the runtime evaluates their rules only
    /// for requests inside the group's literals, so each rule must be one of
    /// the bucket's general rules, listed once, under exactly the literals
    /// its own leading scope tests require (else a forbid could be skipped).
    fn in_scoped(&self, b: &crate::Bucket, at: &str) -> Result<(), String> {
        if b.in_scoped.is_empty() {
            return Ok(());
        }
        let p = self.p;
        let general: std::collections::HashSet<u32> = b.rules.iter().copied().collect();
        let mut seen = std::collections::HashSet::new();
        for group in &b.in_scoped {
            if group.principal.is_none() && group.resource.is_none() {
                return Err(format!("{at}: an `in` group names no literal"));
            }
            for k in group.principal.iter().chain(&group.resource) {
                self.index(*k, p.entity_literals.len(), at, "entity literal")?;
            }
            for r in &group.rules {
                let rule = p.rules.get(*r as usize);
                if !general.contains(r) || rule.is_none() {
                    return Err(format!("{at}: rule {r} indexed by `in` is not a general rule of the bucket"));
                }
                if !seen.insert(*r) {
                    return Err(format!("{at}: rule {r} indexed by `in` twice"));
                }
                if rule.map(crate::Rule::in_scope) != Some((group.principal, group.resource)) {
                    return Err(format!("{at}: rule {r} is indexed under literals its scope does not require"));
                }
            }
        }
        Ok(())
    }

    fn index(&self, i: u32, len: usize, at: &str, what: &str) -> Result<(), String> {
        if (i as usize) < len { Ok(()) } else { Err(format!("{at}: {what} {i} is out of range (there are {len})")) }
    }

    fn schema(&self) -> Result<(), String> {
        let p = self.p;
        for (i, t) in p.entity_types.iter().enumerate() {
            let at = format!("entity_types[{i}] (`{}`)", t.name);
            for parent in &t.parents {
                self.index(*parent, p.entity_types.len(), &at, "parent type")?;
            }
            sorted(&t.attrs, &format!("{at}: attributes"))?;
            for f in &t.attrs {
                self.ty(&f.ty, &format!("{at}.{}", f.name), 0)?;
            }
            if let Some(tags) = &t.tags {
                self.ty(tags, &format!("{at}: tags"), 0)?;
            }
        }
        for (i, a) in p.actions.iter().enumerate() {
            let at = format!("actions[{i}] (`{}`)", a.name);
            for g in &a.groups {
                self.index(*g, p.actions.len(), &at, "group")?;
            }
            for t in a.principals.iter().chain(&a.resources).flatten() {
                self.index(*t, p.entity_types.len(), &at, "entity type")?;
            }
            sorted(&a.context, &format!("{at}: context fields"))?;
            for f in &a.context {
                self.ty(&f.ty, &format!("{at}.context.{}", f.name), 0)?;
            }
        }
        for (i, (t, _)) in p.entity_literals.iter().enumerate() {
            self.index(*t, p.entity_types.len(), &format!("entity_literals[{i}]"), "entity type")?;
        }
        for (i, pattern) in p.patterns.iter().enumerate() {
            if let Pattern::Detector(d) = pattern {
                self.index(*d, p.detectors.len(), &format!("patterns[{i}]"), "detector")?;
            }
        }
        Ok(())
    }

    /// A type whose indexes are in range and whose nesting is bounded.
    fn ty(&self, ty: &Ty, at: &str, depth: usize) -> Result<(), String> {
        if depth > MAX_TYPE_DEPTH {
            return Err(format!("{at}: a type nested more than {MAX_TYPE_DEPTH} levels deep"));
        }
        match ty {
            Ty::Entity(types) => {
                if types.is_empty() {
                    return Err(format!("{at}: an entity type of no type"));
                }
                for t in types {
                    self.index(*t, self.p.entity_types.len(), at, "entity type")?;
                }
            }
            Ty::Enum(e) => self.index(*e, self.p.enums.len(), at, "enum")?,
            Ty::Set(inner) => self.ty(inner, at, depth + 1)?,
            Ty::Record(fields) => {
                sorted(fields, &format!("{at}: record fields"))?;
                for f in fields {
                    self.ty(&f.ty, at, depth + 1)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// One rule's (or flow's) expressions: children before parents, depth
    /// bounded, indexes in range, types possible for the node's kind.
    // Long: one exhaustive match over the expression kinds, so a kind added
    // to the IR fails to compile here until its bundle form is validated.
    /// `response` is the type `Var::Response` has in this arena (a result
    /// flow's), `None` where it may not appear.
    fn arena(&self, exprs: &[Expr], at: &str, response: Option<&Ty>) -> Result<(), String> {
        let p = self.p;
        let mut depth: Vec<usize> = Vec::with_capacity(exprs.len());
        let mut nesting: Vec<usize> = Vec::with_capacity(exprs.len());
        // Each quantifier's variable → the first quantifier binding it, and its set.
        let mut binders: std::collections::HashMap<u32, (usize, u32)> = std::collections::HashMap::new();
        for (i, e) in exprs.iter().enumerate() {
            if let ExprKind::Quantifier { set, var, .. } = e.kind {
                binders.entry(var).or_insert((i, set));
            }
        }
        for (i, e) in exprs.iter().enumerate() {
            let at = format!("{at}: exprs[{i}]");
            self.ty(&e.ty, &at, 0)?;
            let mut d = 0;
            let mut q = 0;
            for c in children(&e.kind) {
                match depth.get(c as usize) {
                    Some(cd) => d = d.max(*cd),
                    None => return Err(format!("{at}: child {c} is not an earlier expression")),
                }
                q = q.max(nesting.get(c as usize).copied().unwrap_or(0));
            }
            if matches!(e.kind, ExprKind::Quantifier { .. }) {
                q += 1;
                if q > MAX_QUANTIFIER_NESTING {
                    return Err(format!("{at}: quantifiers nested more than {MAX_QUANTIFIER_NESTING} deep"));
                }
            }
            nesting.push(q);
            if d + 1 > MAX_EXPR_DEPTH {
                return Err(format!("{at}: nested more than {MAX_EXPR_DEPTH} levels deep"));
            }
            depth.push(d + 1);
            let child_ty = |c: u32| exprs.get(c as usize).map(|x| &x.ty);
            let bad = |what: &str| Err(format!("{at}: {what} (its type is {:?})", e.ty));
            let is_bool = e.ty == Ty::Bool;
            match &e.kind {
                ExprKind::Const(c) => match c {
                    Const::Bool(_) if is_bool => {}
                    Const::Int(_) if matches!(e.ty, Ty::Int | Ty::Decimal | Ty::Time | Ty::Date | Ty::Duration) => {}
                    Const::Str(s) if e.ty == Ty::String => self.index(*s, p.strings.len(), &at, "string")?,
                    Const::Entity(k) => {
                        self.index(*k, p.entity_literals.len(), &at, "entity literal")?;
                        let t = p.entity_literals.get(*k as usize).map(|(t, _)| *t);
                        if !matches!(&e.ty, Ty::Entity(ts) if t.is_some_and(|t| ts.contains(&t))) {
                            return bad("an entity literal of another type");
                        }
                    }
                    Const::Enum(en, variant) => {
                        self.index(*en, p.enums.len(), &at, "enum")?;
                        let len = p.enums.get(*en as usize).map_or(0, |x| x.variants.len());
                        self.index(*variant, len, &at, "enum value")?;
                        if e.ty != Ty::Enum(*en) {
                            return bad("a value of another enum");
                        }
                    }
                    Const::Action(a) if e.ty == Ty::Action => self.index(*a, p.actions.len(), &at, "action")?,
                    Const::Ip(s) if e.ty == Ty::Ip => {
                        crate::literals::ip(s).map_err(|m| format!("{at}: {m}"))?;
                    }
                    Const::Cidr(s) if e.ty == Ty::Cidr => {
                        crate::literals::cidr(s).map_err(|m| format!("{at}: {m}"))?;
                    }
                    _ => return bad("a constant of another type"),
                },
                ExprKind::Var(var) => {
                    let ok = match var {
                        Var::Principal | Var::Resource | Var::Actor | Var::CurrentPrincipal | Var::CurrentResource => {
                            matches!(e.ty, Ty::Entity(_))
                        }
                        Var::Context | Var::CurrentContext => matches!(e.ty, Ty::Record(_)),
                        Var::Action | Var::CurrentAction => e.ty == Ty::Action,
                        Var::Now => e.ty == Ty::Time,
                        Var::Chain => matches!(&e.ty, Ty::Set(inner) if matches!(**inner, Ty::Entity(_))),
                        Var::ChainFirst | Var::ChainLast => matches!(e.ty, Ty::Entity(_)),
                        Var::Response => match response {
                            Some(t) => *t == e.ty,
                            None => return Err(format!("{at}: `response` outside a result flow")),
                        },
                    };
                    if !ok {
                        return bad(&format!("`{var:?}` of another type"));
                    }
                }
                ExprKind::Attr { base, name } | ExprKind::Has { base, name } => {
                    self.index(*name, p.strings.len(), &at, "attribute name")?;
                    let attr = p.strings.get(*name as usize).map_or("", String::as_str);
                    let declared: Vec<&Ty> = match child_ty(*base) {
                        Some(Ty::Entity(types)) => types
                            .iter()
                            .filter_map(|t| p.entity_types.get(*t as usize))
                            .filter_map(|t| t.attrs.iter().find(|f| f.name == attr))
                            .map(|f| &f.ty)
                            .collect(),
                        Some(Ty::Record(fields)) => fields.iter().filter(|f| f.name == attr).map(|f| &f.ty).collect(),
                        _ => return bad("an attribute of a value that has none"),
                    };
                    if declared.is_empty() {
                        return bad(&format!("attribute `{attr}`, which its base's type does not declare"));
                    }
                    let ok = match &e.kind {
                        ExprKind::Has { .. } => is_bool,
                        _ => declared.iter().all(|t| **t == e.ty),
                    };
                    if !ok {
                        return bad(&format!("attribute `{attr}` read as another type than declared"));
                    }
                }
                ExprKind::Not(x) => {
                    if !is_bool || child_ty(*x) != Some(&Ty::Bool) {
                        return bad("`!` of a non-Bool");
                    }
                }
                ExprKind::And(a, b) | ExprKind::Or(a, b) => {
                    if !is_bool || child_ty(*a) != Some(&Ty::Bool) || child_ty(*b) != Some(&Ty::Bool) {
                        return bad("`&&`/`||` of a non-Bool");
                    }
                }
                ExprKind::Cmp { .. } | ExprKind::In { .. } => {
                    if !is_bool {
                        return bad("a comparison that is not a Bool");
                    }
                }
                ExprKind::Add(..) | ExprKind::Sub(..) | ExprKind::Neg(_) => {
                    if !matches!(e.ty, Ty::Int | Ty::Decimal | Ty::Duration | Ty::Time) {
                        return bad("arithmetic on a non-number");
                    }
                }
                ExprKind::Matches { pattern, .. } => {
                    self.index(*pattern, p.patterns.len(), &at, "pattern")?;
                    if !is_bool {
                        return bad("a match that is not a Bool");
                    }
                }
                ExprKind::Set(_) => {
                    if !matches!(e.ty, Ty::Set(_)) {
                        return bad("a set literal of another type");
                    }
                }
                ExprKind::Record(fields) => {
                    for (k, _) in fields {
                        self.index(*k, p.strings.len(), &at, "field name")?;
                    }
                    if !matches!(e.ty, Ty::Record(_)) {
                        return bad("a record literal of another type");
                    }
                }
                ExprKind::Flow(f) => self.index(*f, p.flows.len(), &at, "flow")?,
                ExprKind::Method { method: method @ (Method::HasTag | Method::GetTag), recv, args } => {
                    // Some of the receiver's types declare tags (as for
                    // attributes, a value of another type, such as a widened
                    // `actor`, has none: reading it fails at run time).
                    let tag_types: Vec<&Ty> = match child_ty(*recv) {
                        Some(Ty::Entity(types)) => types
                            .iter()
                            .filter_map(|t| p.entity_types.get(*t as usize).and_then(|t| t.tags.as_ref()))
                            .collect(),
                        _ => Vec::new(),
                    };
                    if tag_types.is_empty() {
                        return bad("a tag read of a value that is not an entity whose types declare tags");
                    }
                    if !matches!(args.as_slice(), [k] if child_ty(*k) == Some(&Ty::String)) {
                        return bad("a tag read whose key is not one String");
                    }
                    // A read has the tag type of one of them (at run time, an
                    // entity whose tags have another type is an error).
                    let ok = match method {
                        Method::HasTag => is_bool,
                        _ => tag_types.iter().any(|t| **t == e.ty),
                    };
                    if !ok {
                        return bad("a tag read of another type than declared");
                    }
                }
                ExprKind::Method { .. } => {}
                ExprKind::Is { base, ty } => {
                    self.index(*ty, p.entity_types.len(), &at, "entity type")?;
                    if !is_bool || !matches!(child_ty(*base), Some(Ty::Entity(_))) {
                        return bad("a type test that is not a Bool, or of a value that is not an entity");
                    }
                }
                ExprKind::Quantifier { set, var, body, .. } => {
                    if !is_bool || child_ty(*body) != Some(&Ty::Bool) || !matches!(child_ty(*set), Some(Ty::Set(_))) {
                        return bad("a quantifier that is not a Bool, over a non-set, or with a non-Bool body");
                    }
                    if binders.get(var).map(|(at, _)| *at) != Some(i) {
                        return bad(&format!("a second quantifier binding variable {var}"));
                    }
                }
                ExprKind::Local(var) => {
                    // Bound by a later quantifier (its parent, or an ancestor),
                    // whose set's elements have the local's type.
                    let element =
                        binders.get(var).filter(|(at, _)| *at > i).and_then(|(_, set)| match child_ty(*set) {
                            Some(Ty::Set(inner)) => Some(&**inner),
                            _ => None,
                        });
                    if element != Some(&e.ty) {
                        return bad(&format!("variable {var}, bound by no quantifier over elements of its type"));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Fields are slots in name order: each name once, sorted (a name twice
/// would give a field two slots, and readers of data and of the slot table
/// would disagree on which).
fn sorted(fields: &[crate::Field], at: &str) -> Result<(), String> {
    match fields.windows(2).find(|w| matches!(w, [a, b] if a.name >= b.name)) {
        Some([_, b]) => Err(format!("{at}: not sorted by name, or a name twice (`{}`)", b.name)),
        _ => Ok(()),
    }
}

/// The children of a node.
pub fn children(kind: &ExprKind) -> Vec<u32> {
    match kind {
        ExprKind::Const(_) | ExprKind::Var(_) | ExprKind::Flow(_) | ExprKind::Local(_) => Vec::new(),
        ExprKind::Attr { base, .. } | ExprKind::Has { base, .. } | ExprKind::Is { base, .. } => vec![*base],
        ExprKind::Quantifier { set, body, .. } => vec![*set, *body],
        ExprKind::Not(x) | ExprKind::Neg(x) => vec![*x],
        ExprKind::And(a, b) | ExprKind::Or(a, b) | ExprKind::Add(a, b) | ExprKind::Sub(a, b) => vec![*a, *b],
        ExprKind::Cmp { lhs, rhs, .. } | ExprKind::In { lhs, rhs } => vec![*lhs, *rhs],
        ExprKind::Method { recv, args, .. } => std::iter::once(*recv).chain(args.iter().copied()).collect(),
        ExprKind::Matches { lhs, .. } => vec![*lhs],
        ExprKind::Set(items) => items.clone(),
        ExprKind::Record(fields) => fields.iter().map(|(_, e)| *e).collect(),
    }
}
