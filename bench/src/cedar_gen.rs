//! Random well-typed Cedar applications for differential testing: a schema,
//! a policy set, an entity store and requests, all from one seed (the
//! anchor is Cedar's own differential random testing). The test in
//! `bench/tests/cedar_differential.rs` imports each policy set into Ward and
//! requires Ward (interpreter and JIT) to decide every request as
//! cedar-policy does, except where Ward's documented difference applies.
//!
//! Generation is type-directed: an attribute is read only where the
//! variable's type is known to have it (the policy's scope fixes the
//! principal and resource types), an optional attribute only behind `has`,
//! so that the policies pass Cedar's strict validator; policies it refuses
//! anyway are dropped and counted, not tested.

// Indexes come from `rng.below(len)` over vectors that are never empty.
#![allow(clippy::indexing_slicing)]

use std::fmt::Write as _;

use serde_json::{Value as Json, json};
use ward_testkit::SplitMix64 as Rng;

/// One entity type's shape: which of the attribute palette it has.
#[derive(Debug, Clone)]
pub struct TypeShape {
    pub name: String,
    /// `n: Long`, `s: String`, `b: Bool`, `tags: Set<String>`, `opt?: Long`,
    /// `rec: {x: Long, y: String}`, `owner: <type>` (an entity reference).
    pub n: bool,
    pub s: bool,
    pub b: bool,
    pub tags: bool,
    pub opt: bool,
    pub rec: bool,
    pub owner: Option<usize>,
    /// `ext: { d: decimal, addr: ipaddr, at: datetime }`: extension values in a record.
    pub ext: bool,
    /// Cedar entity tags (`tags Long` / `tags String`): `Some(true)` for `Long`.
    pub entity_tags: Option<bool>,
    /// The types this type's entities may be in (only later types: the data stays acyclic).
    pub parents: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct ActionShape {
    pub name: String,
    pub principal: usize,
    pub resource: usize,
    pub in_group: bool,
}

/// Where an application's declarations live: Cedar's empty namespace,
/// all of them in `namespace Gen`, or the entity types split between the two
/// (odd ones in `Gen`, the actions outside). Chosen by `seed % 3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespaces {
    None,
    All,
    Split,
}

/// The namespace of the generated declarations that have one.
pub const NAMESPACE: &str = "Gen";

/// A generated application.
#[derive(Debug, Clone)]
pub struct App {
    pub namespaces: Namespaces,
    pub types: Vec<TypeShape>,
    pub actions: Vec<ActionShape>,
    pub schema: String,
    pub policies: Vec<String>,
    /// Templates (policies with `?principal`/`?resource` slots), and their
    /// links: (template index, link id, slot values as entity JSON).
    pub templates: Vec<String>,
    pub links: Vec<Link>,
    pub entities: Json,
    pub requests: Vec<Json>,
}

/// A link of a generated template.
#[derive(Debug, Clone)]
pub struct Link {
    pub template: usize,
    pub id: String,
    pub principal: Option<Json>,
    pub resource: Option<Json>,
}

const STRINGS: [&str; 4] = ["a", "b", "ab", "xyz"];
const PATTERNS: [&str; 5] = ["a*", "*b", "*", "x*z", "ab"];
const PER_TYPE: usize = 4;
const DECIMALS: [&str; 4] = ["0.25", "1.5", "-2.0", "0.5"];
const ADDRESSES: [&str; 4] = ["10.1.2.3", "127.0.0.1", "192.168.1.1", "::1"];
/// Cedar's datetime forms: a date alone, UTC, an offset, milliseconds.
const DATETIMES: [&str; 4] =
    ["2024-10-15", "2024-10-15T11:35:00Z", "2024-10-15T11:35:00-0500", "2024-10-16T00:00:00.250Z"];
/// The type of the `ext` attribute and of the context's `cx` record.
const EXT_RECORD: &str = "{ d: decimal, addr: ipaddr, at: datetime }";

/// An extension value in one of the JSON forms Cedar reads (`__extn`, or
/// the bare `{"fn", "arg"}`).
fn extn(rng: &mut Rng, function: &str, arg: &str) -> Json {
    if rng.percent(50) {
        json!({ "__extn": { "fn": function, "arg": arg } })
    } else {
        json!({ "fn": function, "arg": arg })
    }
}

fn ext_record(rng: &mut Rng) -> Json {
    let d = DECIMALS[rng.below(DECIMALS.len())];
    let addr = ADDRESSES[rng.below(ADDRESSES.len())];
    let at = DATETIMES[rng.below(DATETIMES.len())];
    json!({ "d": extn(rng, "decimal", d), "addr": extn(rng, "ip", addr), "at": extn(rng, "datetime", at) })
}

fn id(ty: usize, i: usize) -> String {
    format!("e{ty}_{i}")
}

fn pick_str(rng: &mut Rng) -> &'static str {
    STRINGS[rng.below(STRINGS.len())]
}

impl App {
    pub fn generate(seed: u64, policies: usize, requests: usize) -> App {
        let mut rng = Rng::new(seed);
        let type_count = 2 + rng.below(3);
        let mut types = Vec::new();
        for t in 0..type_count {
            let later: Vec<usize> = (t + 1..type_count).collect();
            let parents = later.into_iter().filter(|_| rng.percent(50)).collect();
            types.push(TypeShape {
                name: format!("T{t}"),
                n: rng.percent(70),
                s: rng.percent(50),
                b: rng.percent(50),
                tags: rng.percent(50),
                opt: rng.percent(50),
                rec: rng.percent(30),
                owner: rng.percent(40).then(|| rng.below(type_count)),
                ext: rng.percent(40),
                entity_tags: rng.percent(60).then(|| rng.percent(50)),
                parents,
            });
        }
        let action_count = 2 + rng.below(3);
        let actions: Vec<ActionShape> = (0..action_count)
            .map(|a| ActionShape {
                // Every other action has a name that is not an identifier
                // (Ward names it by a string).
                name: if a % 2 == 1 { format!("act {a}") } else { format!("act{a}") },
                principal: rng.below(type_count),
                resource: rng.below(type_count),
                in_group: rng.percent(50),
            })
            .collect();
        let namespaces = match seed % 3 {
            0 => Namespaces::None,
            1 => Namespaces::All,
            _ => Namespaces::Split,
        };
        let mut app = App {
            namespaces,
            types,
            actions,
            schema: String::new(),
            policies: Vec::new(),
            templates: Vec::new(),
            links: Vec::new(),
            entities: Json::Null,
            requests: Vec::new(),
        };
        app.schema = app.schema_text();
        app.policies = (0..policies).map(|_| app.policy(&mut rng)).collect();
        for t in 0..rng.below(3) {
            let (text, slots) = app.template(&mut rng);
            app.templates.push(text);
            for l in 0..rng.below(4) {
                let principal = slots.0.as_ref().map(|types| app.slot_value(&mut rng, types));
                let resource = slots.1.as_ref().map(|types| app.slot_value(&mut rng, types));
                app.links.push(Link { template: t, id: format!("link{t}_{l}"), principal, resource });
            }
        }
        app.entities = app.entities(&mut rng);
        app.requests = (0..requests).map(|_| app.request(&mut rng)).collect();
        app
    }

    /// Whether entity type `t` is declared in `Gen`.
    fn in_namespace(&self, t: usize) -> bool {
        match self.namespaces {
            Namespaces::None => false,
            Namespaces::All => true,
            Namespaces::Split => t % 2 == 1,
        }
    }

    /// Entity type `t`'s full name (`T0`, `Gen::T1`).
    pub fn ty(&self, t: usize) -> String {
        if self.in_namespace(t) { format!("{NAMESPACE}::T{t}") } else { format!("T{t}") }
    }

    /// Cedar's action entity type: `Action`, or `Gen::Action`.
    pub fn action_type(&self) -> String {
        if self.namespaces == Namespaces::All { format!("{NAMESPACE}::Action") } else { "Action".to_string() }
    }

    /// An action as Cedar's policies write it: `Action::"a"`, `Gen::Action::"a"`.
    fn act(&self, name: &str) -> String {
        format!("{}::\"{name}\"", self.action_type())
    }

    fn schema_text(&self) -> String {
        let mut global = String::new();
        let mut inner = String::new();
        for (i, t) in self.types.iter().enumerate() {
            let out = if self.in_namespace(i) { &mut inner } else { &mut global };
            let mut attrs = Vec::new();
            if t.n {
                attrs.push("n: Long".to_string());
            }
            if t.s {
                attrs.push("s: String".into());
            }
            if t.b {
                attrs.push("b: Bool".into());
            }
            if t.tags {
                attrs.push("tags: Set<String>".into());
            }
            if t.opt {
                attrs.push("opt?: Long".into());
            }
            if t.rec {
                attrs.push("rec: { x: Long, y: String }".into());
            }
            if t.ext {
                attrs.push(format!("ext: {EXT_RECORD}"));
            }
            if let Some(o) = t.owner {
                attrs.push(format!("owner: {}", self.ty(o)));
            }
            let parents: Vec<String> = t.parents.iter().map(|p| self.ty(*p)).collect();
            let _ = write!(out, "entity {}", t.name);
            if !parents.is_empty() {
                let _ = write!(out, " in [{}]", parents.join(", "));
            }
            let _ = write!(out, " = {{ {} }}", attrs.join(", "));
            match t.entity_tags {
                Some(true) => out.push_str(" tags Long"),
                Some(false) => out.push_str(" tags String"),
                None => {}
            }
            out.push_str(";\n");
        }
        let out = if self.namespaces == Namespaces::All { &mut inner } else { &mut global };
        out.push_str("action grp;\n");
        for a in &self.actions {
            let group = if a.in_group { " in [grp]" } else { "" };
            let _ = writeln!(
                out,
                "action \"{}\"{group} appliesTo {{ principal: [{}], resource: [{}], context: {{ cn: Long, cb: Bool, cs: String, cx: {EXT_RECORD} }} }};",
                a.name,
                self.ty(a.principal),
                self.ty(a.resource)
            );
        }
        if self.namespaces != Namespaces::None {
            let _ = write!(global, "namespace {NAMESPACE} {{\n{inner}}}\n");
        }
        global
    }

    fn entity_ref(&self, rng: &mut Rng, ty: usize) -> String {
        format!("{}::\"{}\"", self.ty(ty), id(ty, rng.below(PER_TYPE + 1)))
    }

    /// A policy: its scope fixes the variables' types where it can.
    fn policy(&self, rng: &mut Rng) -> String {
        let effect = if rng.percent(65) { "permit" } else { "forbid" };
        // The action constraint, and the types it leaves the variables.
        let (action, mut p_ty, mut r_ty) = match rng.below(4) {
            0 => ("action".to_string(), None, None),
            1 => {
                let a = &self.actions[rng.below(self.actions.len())];
                (format!("action == {}", self.act(&a.name)), Some(a.principal), Some(a.resource))
            }
            2 => {
                let a = &self.actions[rng.below(self.actions.len())];
                let b = &self.actions[rng.below(self.actions.len())];
                let same = |x: usize, y: usize| (x == y).then_some(x);
                (
                    format!("action in [{}, {}]", self.act(&a.name), self.act(&b.name)),
                    same(a.principal, b.principal),
                    same(a.resource, b.resource),
                )
            }
            _ => (format!("action in {}", self.act("grp")), None, None),
        };
        let principal = self.var_scope(rng, "principal", &mut p_ty);
        let resource = self.var_scope(rng, "resource", &mut r_ty);
        let mut text = format!("{effect} ({principal}, {action}, {resource})");
        for _ in 0..rng.below(3) {
            let kind = if rng.percent(75) { "when" } else { "unless" };
            let body = self.boolean(rng, 3, p_ty, r_ty);
            let _ = write!(text, " {kind} {{ {body} }}");
        }
        text.push(';');
        text
    }

    /// A template: a policy whose principal and/or resource constraint is a
    /// slot, with the entity types each slot may be linked to (what a
    /// request's variable may be, for `==`; and what those may be in, for `in`).
    #[allow(clippy::type_complexity)]
    fn template(&self, rng: &mut Rng) -> (String, (Option<Vec<usize>>, Option<Vec<usize>>)) {
        let effect = if rng.percent(70) { "permit" } else { "forbid" };
        let a = &self.actions[rng.below(self.actions.len())];
        let action = format!("action == {}", self.act(&a.name));
        let which = rng.below(3);
        let mut slot = |var: &str, ty: usize, wanted: bool| -> (String, Option<Vec<usize>>) {
            if !wanted {
                return (var.to_string(), None);
            }
            if rng.percent(50) {
                (format!("{var} == ?{var}"), Some(vec![ty]))
            } else {
                let types = (0..self.types.len()).filter(|t| self.can_be_in(ty, *t)).collect();
                (format!("{var} in ?{var}"), Some(types))
            }
        };
        let (principal, p_slot) = slot("principal", a.principal, which != 1);
        let (resource, r_slot) = slot("resource", a.resource, which != 0);
        let mut text = format!("{effect} ({principal}, {action}, {resource})");
        if rng.percent(60) {
            let body = self.boolean(rng, 2, Some(a.principal), Some(a.resource));
            let _ = write!(text, " when {{ {body} }}");
        }
        text.push(';');
        (text, (p_slot, r_slot))
    }

    fn can_be_in(&self, ty: usize, target: usize) -> bool {
        ty == target || self.types[ty].parents.iter().any(|p| self.can_be_in(*p, target))
    }

    fn slot_value(&self, rng: &mut Rng, types: &[usize]) -> Json {
        let t = types[rng.below(types.len())];
        json!({ "type": self.ty(t), "id": id(t, rng.below(PER_TYPE)) })
    }

    fn var_scope(&self, rng: &mut Rng, var: &str, ty: &mut Option<usize>) -> String {
        let count = self.types.len();
        match rng.below(5) {
            0 => {
                let t = ty.unwrap_or_else(|| rng.below(count));
                *ty = Some(t);
                format!("{var} == {}", self.entity_ref(rng, t))
            }
            1 => {
                let t = rng.below(count);
                format!("{var} in {}", self.entity_ref(rng, t))
            }
            2 => {
                let t = ty.unwrap_or_else(|| rng.below(count));
                *ty = Some(t);
                format!("{var} is {}", self.ty(t))
            }
            _ => var.to_string(),
        }
    }

    /// A boolean expression over variables of known types (`None`: any type).
    fn boolean(&self, rng: &mut Rng, depth: usize, p: Option<usize>, r: Option<usize>) -> String {
        let leaf = depth == 0;
        let choice = if leaf { 6 + rng.below(11) } else { rng.below(17) };
        match choice {
            0 => format!("!({})", self.boolean(rng, depth - 1, p, r)),
            1 => format!("({} && {})", self.boolean(rng, depth - 1, p, r), self.boolean(rng, depth - 1, p, r)),
            2 => format!("({} || {})", self.boolean(rng, depth - 1, p, r), self.boolean(rng, depth - 1, p, r)),
            3 => format!(
                "(if {} then {} else {})",
                self.boolean(rng, depth - 1, p, r),
                self.boolean(rng, depth - 1, p, r),
                self.boolean(rng, depth - 1, p, r)
            ),
            4 | 5 => {
                let op = ["<", "<=", "==", "!=", ">", ">="][rng.below(6)];
                format!(
                    "{} {op} {}",
                    self.long(rng, depth.saturating_sub(1), p, r),
                    self.long(rng, depth.saturating_sub(1), p, r)
                )
            }
            6 => ["true", "false"][rng.below(2)].to_string(),
            7 => "context.cb".to_string(),
            8 => format!("{} like \"{}\"", self.string(rng, p, r), PATTERNS[rng.below(PATTERNS.len())]),
            9 => format!("{} == \"{}\"", self.string(rng, p, r), pick_str(rng)),
            10 => {
                let t = rng.below(self.types.len());
                let var = if rng.percent(50) { "principal" } else { "resource" };
                format!("{var} in {}", self.entity_ref(rng, t))
            }
            11 => "principal in resource".to_string(),
            12 => {
                let var = if rng.percent(50) { "principal" } else { "resource" };
                format!("{var} is {}", self.ty(rng.below(self.types.len())))
            }
            13 if rng.percent(40) => self.tag_test(rng, p, r).unwrap_or_else(|| "context.cb".into()),
            13 => self.attr_bool(rng, p, r).unwrap_or_else(|| "context.cb".into()),
            14 if rng.percent(75) => self.tag_test(rng, p, r).unwrap_or_else(|| "true".into()),
            14 => self.opt_guarded(rng, p, r).unwrap_or_else(|| "true".into()),
            16 => self.extension_test(rng, p, r),
            _ => self.set_test(rng, p, r).unwrap_or_else(|| "false".into()),
        }
    }

    /// A test of extension values (decimal, ipaddr, datetime), from the
    /// context's `cx` record or an entity's `ext` attribute.
    fn extension_test(&self, rng: &mut Rng, p: Option<usize>, r: Option<usize>) -> String {
        let record = match self.var_with(rng, p, r, |t| t.ext) {
            Some((v, _)) if rng.percent(50) => format!("{v}.ext"),
            _ => "context.cx".to_string(),
        };
        let decimal = DECIMALS[rng.below(DECIMALS.len())];
        let at = DATETIMES[rng.below(DATETIMES.len())];
        match rng.below(7) {
            0 => format!("{record}.d.lessThan(decimal(\"{decimal}\"))"),
            1 => format!("{record}.d.greaterThanOrEqual(context.cx.d)"),
            2 => format!("{record}.addr.isInRange(ip(\"10.0.0.0/8\"))"),
            3 => format!("{record}.addr.isLoopback()"),
            4 => format!("{record}.addr == ip(\"{}\")", ADDRESSES[rng.below(ADDRESSES.len())]),
            5 => format!("{record}.at < datetime(\"{at}\")"),
            _ => format!("{record}.at.offset(duration(\"1h\")) >= datetime(\"{at}\")"),
        }
    }

    /// A variable of known type with the attribute `pred` selects.
    fn var_with(
        &self,
        rng: &mut Rng,
        p: Option<usize>,
        r: Option<usize>,
        pred: impl Fn(&TypeShape) -> bool,
    ) -> Option<(&'static str, usize)> {
        let mut options = Vec::new();
        if let Some(t) = p.filter(|t| pred(&self.types[*t])) {
            options.push(("principal", t));
        }
        if let Some(t) = r.filter(|t| pred(&self.types[*t])) {
            options.push(("resource", t));
        }
        rng.pick(&options).copied()
    }

    fn long(&self, rng: &mut Rng, depth: usize, p: Option<usize>, r: Option<usize>) -> String {
        match rng.below(if depth == 0 { 4 } else { 6 }) {
            0 => format!("{}", rng.below(7) as i64 - 3),
            1 => "context.cn".into(),
            2 => match self.var_with(rng, p, r, |t| t.n) {
                Some((v, _)) => format!("{v}.n"),
                None => "1".into(),
            },
            3 => match self.var_with(rng, p, r, |t| t.rec) {
                Some((v, _)) => format!("{v}.rec.x"),
                None => "context.cn".into(),
            },
            // Now and then an operand that overflows: an evaluation error,
            // where Ward's fail-closed forbid differs from Cedar.
            4 if rng.percent(10) => format!("({} + 9223372036854775807)", self.long(rng, depth - 1, p, r)),
            4 => format!("({} + {})", self.long(rng, depth - 1, p, r), self.long(rng, depth - 1, p, r)),
            _ => format!("({} - {})", self.long(rng, depth - 1, p, r), self.long(rng, depth - 1, p, r)),
        }
    }

    fn string(&self, rng: &mut Rng, p: Option<usize>, r: Option<usize>) -> String {
        match rng.below(3) {
            0 => "context.cs".into(),
            1 => match self.var_with(rng, p, r, |t| t.s) {
                Some((v, _)) => format!("{v}.s"),
                None => format!("\"{}\"", pick_str(rng)),
            },
            _ => match self.var_with(rng, p, r, |t| t.rec) {
                Some((v, _)) => format!("{v}.rec.y"),
                None => "context.cs".into(),
            },
        }
    }

    fn attr_bool(&self, rng: &mut Rng, p: Option<usize>, r: Option<usize>) -> Option<String> {
        if rng.percent(50) {
            let (v, _) = self.var_with(rng, p, r, |t| t.b)?;
            return Some(format!("{v}.b"));
        }
        let (v, t) = self.var_with(rng, p, r, |t| t.owner.is_some())?;
        let owner = self.types[t].owner?;
        Some(match rng.below(3) {
            0 => format!("{v}.owner == {}", self.entity_ref(rng, owner)),
            1 => {
                let t = rng.below(self.types.len());
                format!("{v}.owner in {}", self.entity_ref(rng, t))
            }
            _ => format!("principal in {v}.owner"),
        })
    }

    fn opt_guarded(&self, rng: &mut Rng, p: Option<usize>, r: Option<usize>) -> Option<String> {
        let (v, _) = self.var_with(rng, p, r, |t| t.opt)?;
        Some(match rng.below(2) {
            0 => format!("{v} has opt"),
            _ => format!("({v} has opt && {v}.opt > {})", rng.below(5) as i64 - 2),
        })
    }

    /// Entity tags: `hasTag`, and `getTag` under a `hasTag` guard on the
    /// same key (a literal or `context.cs`), as Cedar's validator requires.
    fn tag_test(&self, rng: &mut Rng, p: Option<usize>, r: Option<usize>) -> Option<String> {
        let (v, t) = self.var_with(rng, p, r, |t| t.entity_tags.is_some())?;
        let long = self.types[t].entity_tags == Some(true);
        let key = if rng.percent(25) { "context.cs".to_string() } else { format!("\"{}\"", pick_str(rng)) };
        let read = format!("{v}.getTag({key})");
        let test = if long {
            let op = ["<", "<=", "==", "!=", ">", ">="][rng.below(6)];
            format!("{read} {op} {}", rng.below(5) as i64 - 2)
        } else if rng.percent(50) {
            format!("{read} == \"{}\"", pick_str(rng))
        } else {
            format!("{read} like \"{}\"", PATTERNS[rng.below(PATTERNS.len())])
        };
        Some(match rng.below(3) {
            0 => format!("{v}.hasTag({key})"),
            1 => format!("({v}.hasTag({key}) && {test})"),
            _ => format!("(!{v}.hasTag({key}) || {test})"),
        })
    }

    fn set_test(&self, rng: &mut Rng, p: Option<usize>, r: Option<usize>) -> Option<String> {
        let (v, _) = self.var_with(rng, p, r, |t| t.tags)?;
        let (a, b) = (pick_str(rng), pick_str(rng));
        Some(match rng.below(4) {
            0 => format!("{v}.tags.contains(\"{a}\")"),
            1 => format!("{v}.tags.containsAny([\"{a}\", \"{b}\"])"),
            2 => format!("{v}.tags.containsAll([\"{a}\"])"),
            _ => format!("{v}.tags.isEmpty()"),
        })
    }

    fn entities(&self, rng: &mut Rng) -> Json {
        let mut out = Vec::new();
        for (t, shape) in self.types.iter().enumerate() {
            for i in 0..PER_TYPE {
                let mut attrs = serde_json::Map::new();
                if shape.n {
                    attrs.insert("n".into(), json!(rng.below(7) as i64 - 3));
                }
                if shape.s {
                    attrs.insert("s".into(), json!(pick_str(rng)));
                }
                if shape.b {
                    attrs.insert("b".into(), json!(rng.percent(50)));
                }
                if shape.tags {
                    let tags: Vec<&str> = STRINGS.iter().copied().filter(|_| rng.percent(40)).collect();
                    attrs.insert("tags".into(), json!(tags));
                }
                if shape.opt && rng.percent(50) {
                    attrs.insert("opt".into(), json!(rng.below(5) as i64 - 2));
                }
                if shape.rec {
                    attrs.insert("rec".into(), json!({ "x": rng.below(5) as i64 - 2, "y": pick_str(rng) }));
                }
                if shape.ext {
                    attrs.insert("ext".into(), ext_record(rng));
                }
                if let Some(o) = shape.owner {
                    attrs.insert("owner".into(), json!({ "type": self.ty(o), "id": id(o, rng.below(PER_TYPE)) }));
                }
                let mut parents: Vec<Json> = Vec::new();
                for p in &shape.parents {
                    if rng.percent(60) {
                        parents.push(json!({ "type": self.ty(*p), "id": id(*p, rng.below(PER_TYPE)) }));
                    }
                }
                let mut entity =
                    json!({ "uid": { "type": self.ty(t), "id": id(t, i) }, "attrs": attrs, "parents": parents });
                if let Some(long) = shape.entity_tags {
                    let mut tags = serde_json::Map::new();
                    for k in STRINGS {
                        if rng.percent(40) {
                            let v = if long { json!(rng.below(5) as i64 - 2) } else { json!(pick_str(rng)) };
                            tags.insert(k.to_string(), v);
                        }
                    }
                    entity["tags"] = Json::Object(tags);
                }
                out.push(entity);
            }
        }
        Json::Array(out)
    }

    fn request(&self, rng: &mut Rng) -> Json {
        let a = &self.actions[rng.below(self.actions.len())];
        json!({
            "principal": { "type": self.ty(a.principal), "id": id(a.principal, rng.below(PER_TYPE)) },
            "action": { "type": self.action_type(), "id": a.name },
            "resource": { "type": self.ty(a.resource), "id": id(a.resource, rng.below(PER_TYPE)) },
            "context": {
                "cn": rng.below(7) as i64 - 3, "cb": rng.percent(50), "cs": pick_str(rng), "cx": ext_record(rng),
            },
        })
    }
}
