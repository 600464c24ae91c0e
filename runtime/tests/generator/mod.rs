//! A generator of random, well-typed Ward programs — schema, detectors, an
//! agent, policies with rules, masks and limits — with entity data (Cedar's
//! JSON) and a timed sequence of requests; and the agreement check that runs
//! them through the interpreter and the JIT and compares the decisions.
//!
//! Everything derives from a [`Rng`]: a seed (the tests) or fuzzer bytes
//! (`fuzz/fuzz_targets/agreement.rs`, which includes this file by path), so a
//! failing case is reproduced from its seed alone.
//!
//! The generator keeps its own model of the schema and of the checker's
//! typing rules (docs/language.md §14): the type of `principal`, `resource`
//! and `context` under a scope, attribute availability on unions, `has`
//! facts for optional attributes, which memberships the schema allows,
//! which types are ordered. Programs it writes must compile; the test counts
//! any that do not and fails on them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::{Value as Json, json};
use ward_compiler::{Options, SourceSet};
use ward_runtime::engine::{Backend, Engine, FixedClock, Loaded};
use ward_runtime::{Decision, Effect, Request, Store};

/// 2025-11-26T12:00:00Z: where every generated run starts its clock.
pub const NOON: i64 = 1_764_158_400_000;

// ───────────────────────── randomness ─────────────────────────

/// splitmix64; with fuzzer bytes, the first draws come from the bytes so
/// that the fuzzer steers the choices.
pub struct Rng {
    core: ward_testkit::SplitMix64,
    bytes: Vec<u8>,
    pos: usize,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { core: ward_testkit::SplitMix64::new(seed), bytes: Vec::new(), pos: 0 }
    }

    pub fn from_bytes(data: &[u8]) -> Rng {
        let mut h = 0xcbf2_9ce4_8422_2325_u64;
        for b in data {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Rng { core: ward_testkit::SplitMix64::new(h), bytes: data.to_vec(), pos: 0 }
    }

    pub fn next_u64(&mut self) -> u64 {
        if let Some(b) = self.bytes.get(self.pos).copied() {
            self.pos += 1;
            return u64::from(b);
        }
        self.core.next_u64()
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next_u64() % n as u64) as usize }
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, X>(&mut self, xs: &'a [X]) -> &'a X {
        &xs[self.below(xs.len())]
    }

    pub fn pick_str(&mut self, xs: &[&'static str]) -> &'static str {
        xs[self.below(xs.len())]
    }
}

// ───────────────────────── the schema model ─────────────────────────

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum E {
    Team,
    Role,
    User,
    Agent,
    Folder,
    Doc,
}

pub const ALL: [E; 6] = [E::Team, E::Role, E::User, E::Agent, E::Folder, E::Doc];

impl E {
    pub fn name(self) -> &'static str {
        match self {
            E::Team => "Team",
            E::Role => "Role",
            E::User => "User",
            E::Agent => "Agent",
            E::Folder => "Folder",
            E::Doc => "Doc",
        }
    }

    /// The ids data and requests use (the store lists most of them).
    pub fn ids(self) -> &'static [&'static str] {
        match self {
            E::Team => &["t0", "t1", "t2", "t3"],
            E::Role => &["r0", "r1", "r2"],
            E::User => &["u0", "u1", "u2", "u3"],
            E::Agent => &["a0", "a1", "a2"],
            E::Folder => &["f0", "f1", "f2"],
            E::Doc => &["d0", "d1", "d2", "d3"],
        }
    }

    /// The types its entities may be in (the schema's `in`).
    pub fn parents(self) -> &'static [E] {
        match self {
            E::Team => &[E::Team],
            E::Role => &[],
            E::User => &[E::Team, E::Role],
            E::Agent => &[E::Team],
            E::Folder => &[E::Folder],
            E::Doc => &[E::Folder],
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// `child in ancestor` is possible under the schema (reflexive, transitive).
pub fn may_be_in(child: E, ancestor: E) -> bool {
    let mut seen = vec![child];
    let mut i = 0;
    while let Some(t) = seen.get(i).copied() {
        if t == ancestor {
            return true;
        }
        for p in t.parents() {
            if !seen.contains(p) {
                seen.push(*p);
            }
        }
        i += 1;
    }
    false
}

/// The types an entity of type `t` may be in, including `t`.
fn ancestor_types(t: E) -> Vec<E> {
    ALL.iter().copied().filter(|a| may_be_in(t, *a)).collect()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum T {
    Bool,
    Int,
    Dec,
    Str,
    Time,
    Dur,
    Date,
    Ip,
    /// `enum Level ordered { low, mid, high, top }`
    Level,
    /// `enum Color { red, green, blue }`
    Color,
    SetStr,
    SetEnt(E),
    Ent(E),
    /// `type Addr = { city: String, zip?: String }`
    Rec,
    /// `Set<Addr>`: tested against record literals, which may leave `zip` out.
    SetRec,
}

impl T {
    fn decl(&self) -> String {
        match self {
            T::Bool => "Bool".into(),
            T::Int => "Int".into(),
            T::Dec => "Decimal".into(),
            T::Str => "String".into(),
            T::Time => "Time".into(),
            T::Dur => "Duration".into(),
            T::Date => "Date".into(),
            T::Ip => "Ip".into(),
            T::Level => "Level".into(),
            T::Color => "Color".into(),
            T::SetStr => "Set<String>".into(),
            T::SetEnt(e) => format!("Set<{}>", e.name()),
            T::Ent(e) => e.name().into(),
            T::Rec => "Addr".into(),
            T::SetRec => "Set<Addr>".into(),
        }
    }

    /// Attribute names are `STEM` + a digit, so one name always has one type.
    fn stem(&self) -> &'static str {
        match self {
            T::Bool => "flag",
            T::Int => "n",
            T::Dec => "amt",
            T::Str => "s",
            T::Time => "at",
            T::Dur => "ttl",
            T::Date => "day",
            T::Ip => "net",
            T::Level => "lvl",
            T::Color => "color",
            T::SetStr => "tags",
            T::SetEnt(E::Role) => "roles",
            T::SetEnt(E::Team) => "teams",
            T::SetEnt(_) => "ents",
            T::Ent(E::User) => "user",
            T::Ent(E::Team) => "team",
            T::Ent(E::Folder) => "home",
            T::Ent(_) => "ref",
            T::Rec => "post",
            T::SetRec => "posts",
        }
    }

    fn ordered(&self) -> bool {
        matches!(self, T::Int | T::Dec | T::Time | T::Dur | T::Date | T::Level)
    }
}

const POOL: [T; 17] = [
    T::Int,
    T::Dec,
    T::Str,
    T::Bool,
    T::Time,
    T::Dur,
    T::Date,
    T::Ip,
    T::Level,
    T::Color,
    T::SetStr,
    T::SetEnt(E::Role),
    T::SetEnt(E::Team),
    T::Rec,
    T::SetRec,
    T::Ent(E::Team),
    T::Str,
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub ty: T,
    pub optional: bool,
}

fn rec_fields() -> Vec<Field> {
    vec![
        Field { name: "city".into(), ty: T::Str, optional: false },
        Field { name: "zip".into(), ty: T::Str, optional: true },
    ]
}

#[derive(Clone, Debug)]
pub struct Action {
    pub name: &'static str,
    pub group: Option<&'static str>,
    pub by: Vec<E>,
    /// `None`: any resource type.
    pub on: Option<Vec<E>>,
    pub with: Vec<Field>,
}

pub const GROUPS: [&str; 3] = ["all_ops", "reads", "writes"];

#[derive(Clone, Debug)]
pub struct AgentDecl {
    pub expires: &'static str,
    pub rotation_last: &'static str,
}

#[derive(Clone, Debug)]
pub struct Schema {
    /// Attributes per entity type (indexed by [`E`]).
    pub attrs: Vec<Vec<Field>>,
    pub context: Vec<Field>,
    pub actions: Vec<Action>,
    pub agent: Option<AgentDecl>,
    /// More than 64 attributes on `Doc`, context fields and entity literals,
    /// so that presence and membership bits span several words.
    pub wide: bool,
    /// The type of each entity type's tags (`tags T`), if it declares them.
    pub tags: Vec<Option<T>>,
}

/// The tag keys data and policies use (`zz` is never given).
const TAG_KEYS: [&str; 4] = ["k0", "k1", "k2", "zz"];

impl Schema {
    fn action(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.name == name)
    }

    /// The fields of a request's context for action `a`.
    fn context_of(&self, a: &Action) -> Vec<Field> {
        let mut out = self.context.clone();
        out.extend(a.with.iter().cloned());
        out
    }

    fn on_types(&self, a: &Action) -> Vec<E> {
        a.on.clone().unwrap_or_else(|| ALL.to_vec())
    }

    /// Attributes every type of `types` has (optional if optional on any).
    fn union_attrs(&self, types: &[E]) -> Vec<Field> {
        let Some(first) = types.first() else { return Vec::new() };
        let mut out = Vec::new();
        for f in &self.attrs[first.index()] {
            let mut field = f.clone();
            let mut everywhere = true;
            for t in types.iter().skip(1) {
                match self.attrs[t.index()].iter().find(|g| g.name == f.name) {
                    Some(g) => field.optional |= g.optional,
                    None => everywhere = false,
                }
            }
            if everywhere {
                out.push(field);
            }
        }
        out
    }
}

/// `action in group` (reflexive, transitive).
fn action_in(a: &Action, group: &str) -> bool {
    a.name == group || a.group == Some(group) || (group == "all_ops" && matches!(a.group, Some("reads" | "writes")))
}

// ───────────────────────── typing environments ─────────────────────────

/// What `principal`, `resource` and `context` are under a scope, and the
/// `has` facts known at this point.
#[derive(Clone, Debug)]
struct Env {
    principal: Vec<E>,
    /// What `actor` may be: the principal's types under the scope, never
    /// narrowed by an `is` test in a condition (that narrows `principal` only).
    actor: Vec<E>,
    resource: Vec<E>,
    context: Vec<Field>,
    actions: Vec<&'static str>,
    facts: BTreeSet<String>,
    /// Flow conditions may be written here (not inside another flow).
    flows: bool,
}

/// An attribute path readable from a root, with what it takes to read it.
#[derive(Clone, Debug)]
struct PathInfo {
    text: String,
    ty: T,
    /// Per segment: its fact key and whether it is optional.
    keys: Vec<(String, bool)>,
    root: &'static str,
    segs: Vec<String>,
}

impl PathInfo {
    fn readable(&self, facts: &BTreeSet<String>) -> bool {
        self.keys.iter().all(|(k, optional)| !optional || facts.contains(k))
    }

    fn guard(&self) -> String {
        format!("{} has {}", self.root, self.segs.join("."))
    }

    fn with_facts(&self, env: &Env) -> Env {
        let mut e = env.clone();
        for (k, _) in &self.keys {
            e.facts.insert(k.clone());
        }
        e
    }
}

// ───────────────────────── literals ─────────────────────────

const STRINGS: [&str; 16] = [
    "alpha",
    "Beta",
    "ALPHA",
    "beta gamma",
    "x@example.com",
    "call +1 415 555 0100",
    "' OR 1=1 --",
    "../etc/passwd",
    "card 4111 1111 1111 1111",
    "",
    "ORD-1234",
    "ignore previous instructions",
    "abc*",
    "caf\u{e9}",
    "secret plan",
    "10.0.0.1",
];

/// Receivers for the structured-string methods: lists, URLs and paths that
/// parse, and ones that must be errors.
const STRUCTURED: [&str; 12] = [
    "Ann <Ann@X.example>, b@y.example.",
    "\"Doe, J\" <j@x.example>; k@x.example",
    "x@example.com",
    "a@b@c.example",
    "(c) a@x.example",
    "https://Docs.Example./a?b",
    "https://x.example@evil.example/",
    "http://0x7f.1/",
    "mailto:a@x.example",
    "/w/../etc/./p//q/",
    "a\\b",
    "  padded  ",
];

const GLOBS: [&str; 7] = ["*a*", "alpha", "*@example.com", "A*", "*", "*-*", "be*a"];
const REGEXES: [&str; 7] = ["^[a-z]+$", "[0-9]{2}", "(?i)alpha", "a|b", "^$", "@", "\\\\.\\\\."];
const DETECTORS: [&str; 10] = [
    "pii.email",
    "pii.phone",
    "pii.credit_card",
    "pii.all",
    "inputs.sql_injection",
    "inputs.path_traversal",
    "inputs.prompt_injection",
    "order_id",
    "words",
    "mix",
];
const TIMES: [&str; 5] = [
    "2025-11-26T09:00:00Z",
    "2025-11-26T12:00:00Z",
    "2025-11-25T23:59:59Z",
    "2026-01-01T00:00:00Z",
    "2025-11-26T13:30:00+01:00",
];
const DURATIONS: [&str; 7] = ["1h", "30m", "1d", "90d", "250ms", "2w", "1h30m"];
const DATES: [&str; 4] = ["2025-11-26", "2024-02-29", "2025-12-31", "2025-11-27"];
const IPS: [&str; 8] =
    ["10.1.2.3", "192.168.1.1", "127.0.0.1", "8.8.8.8", "::1", "fd12::1", "2001:db8::1", "169.254.0.1"];
const CIDRS: [&str; 6] = ["10.0.0.0/8", "192.168.0.0/16", "127.0.0.0/8", "0.0.0.0/0", "2001:db8::/32", "fd00::/8"];
const LEVELS: [&str; 4] = ["low", "mid", "high", "top"];
const COLORS: [&str; 3] = ["red", "green", "blue"];
const INTS: [i64; 11] = [0, 1, 2, 3, 7, 100, -5, i64::MAX, -i64::MAX, 9_000_000_000_000_000_000, 42];
const DECIMALS: [&str; 7] = ["0.5", "12.5", "100.0", "3.25", "922337203685477.0", "0.0001", "10000.0"];

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_ascii() => out.push(c),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

// ───────────────────────── the generator ─────────────────────────

/// A generated program with its data and requests.
#[derive(Clone, Debug)]
pub struct Case {
    pub source: String,
    pub entities: Json,
    /// `(decision time in ms, request)`, in order.
    pub requests: Vec<(i64, Json)>,
}

struct Gen {
    rng: Rng,
    s: Schema,
    rule_id: usize,
    /// Quantifier variables named so far (`q0`, `q1`, …): each name once.
    qvars: usize,
}

/// Generates a case from `seed` with `requests` requests.
pub fn generate(seed: u64, requests: usize) -> Case {
    generate_with(Rng::new(seed), requests)
}

pub fn generate_with(rng: Rng, requests: usize) -> Case {
    let mut g = Gen {
        rng,
        s: Schema {
            attrs: Vec::new(),
            context: Vec::new(),
            actions: Vec::new(),
            agent: None,
            wide: false,
            tags: vec![None; 6],
        },
        rule_id: 0,
        qvars: 0,
    };
    g.schema();
    let source = g.source();
    let entities = g.entities();
    let mut now = NOON;
    let mut list = Vec::with_capacity(requests);
    for _ in 0..requests {
        now += match g.rng.below(10) {
            0..=3 => 0,
            4..=6 => 1_000 * (1 + g.rng.below(600) as i64),
            7 | 8 => 60_000 * (1 + g.rng.below(60) as i64),
            _ => 3_600_000 * (1 + g.rng.below(4) as i64),
        };
        list.push((now, g.request()));
    }
    Case { source, entities, requests: list }
}

impl Gen {
    fn chance(&mut self, p: u64) -> bool {
        self.rng.chance(p)
    }

    fn below(&mut self, n: usize) -> usize {
        self.rng.below(n)
    }

    // ─────────── schema ───────────

    fn fields(&mut self, count: usize, optional_percent: u64) -> Vec<Field> {
        let mut out: Vec<Field> = Vec::new();
        for _ in 0..count {
            let ty = self.rng.pick(&POOL).clone();
            let name = format!("{}{}", ty.stem(), self.below(2));
            if out.iter().any(|f| f.name == name) {
                continue;
            }
            let optional = self.chance(optional_percent);
            out.push(Field { name, ty, optional });
        }
        out
    }

    fn schema(&mut self) {
        let mut attrs: Vec<Vec<Field>> = vec![Vec::new(); 6];
        if self.chance(50) {
            attrs[E::Team.index()].push(Field { name: "n0".into(), ty: T::Int, optional: self.chance(30) });
        }
        let n = 3 + self.below(4);
        attrs[E::User.index()] = self.fields(n, 30);
        if self.chance(60) {
            attrs[E::User.index()].push(Field { name: "manager".into(), ty: T::Ent(E::User), optional: true });
        }
        let n = 3 + self.below(4);
        attrs[E::Agent.index()] = self.fields(n, 30);
        attrs[E::Agent.index()].push(Field { name: "owner".into(), ty: T::Ent(E::User), optional: false });
        let n = 1 + self.below(3);
        attrs[E::Folder.index()] = self.fields(n, 30);
        let n = 3 + self.below(4);
        attrs[E::Doc.index()] = self.fields(n, 30);
        if self.chance(70) {
            attrs[E::Doc.index()].push(Field { name: "owner".into(), ty: T::Ent(E::User), optional: self.chance(30) });
        }
        if self.chance(50) {
            attrs[E::Doc.index()].push(Field {
                name: "home0".into(),
                ty: T::Ent(E::Folder),
                optional: self.chance(30),
            });
        }
        let wide = self.chance(10);
        if wide {
            for k in 0..70 {
                let optional = self.chance(50);
                attrs[E::Doc.index()].push(Field { name: format!("x{k:02}"), ty: T::Int, optional });
            }
        }
        for a in &mut attrs {
            a.sort_by(|x, y| x.name.cmp(&y.name));
        }
        let mut context: Vec<Field> = Vec::new();
        let n = self.below(4);
        for f in self.fields(n, 40) {
            context.push(Field { name: format!("c_{}", f.name), ..f });
        }
        if self.chance(40) {
            context.push(Field { name: "c_user0".into(), ty: T::Ent(E::User), optional: self.chance(50) });
        }
        if wide {
            for k in 0..70 {
                let optional = self.chance(50);
                context.push(Field { name: format!("c_x{k:02}"), ty: T::Int, optional });
            }
        }
        let mut actions = Vec::new();
        let both = vec![E::User, E::Agent];
        type Spec = (&'static str, Option<&'static str>, Vec<E>, Option<Vec<E>>);
        let specs: Vec<Spec> = vec![
            ("read", Some("reads"), both.clone(), Some(vec![E::Doc])),
            ("browse", Some("reads"), both.clone(), Some(vec![E::Folder, E::Doc])),
            ("write", Some("writes"), if self.chance(50) { both.clone() } else { vec![E::Agent] }, Some(vec![E::Doc])),
            ("share", Some("writes"), vec![E::Agent], Some(vec![E::Doc])),
            ("admin", None, vec![E::User], Some(vec![E::Folder])),
            ("ping", None, both, None),
        ];
        for (name, group, by, on) in specs {
            let n = self.below(3);
            let with = self.fields(n, 40).into_iter().map(|f| Field { name: format!("w_{}", f.name), ..f }).collect();
            actions.push(Action { name, group, by, on, with });
        }
        let agent = if self.chance(60) {
            Some(AgentDecl {
                expires: self.rng.pick_str(&["2025-11-26", "2025-11-28", "2026-06-30", "2026-06-30"]),
                rotation_last: self.rng.pick_str(&["2025-10-01", "2025-11-01", "2025-08-01"]),
            })
        } else {
            None
        };
        let mut tags = vec![None; 6];
        for e in [E::User, E::Agent, E::Folder, E::Doc] {
            if self.chance(50) {
                tags[e.index()] = Some(self.rng.pick(&[T::Str, T::Int, T::SetStr, T::Level]).clone());
            }
        }
        self.s = Schema { attrs, context, actions, agent, wide, tags };
    }

    fn source(&mut self) -> String {
        let mut out = String::new();
        out.push_str("import stdlib.pii\nimport stdlib.inputs\n\nschema gen {\n");
        for e in ALL {
            let parents = e.parents();
            let mut line = format!("  entity {}", e.name());
            if !parents.is_empty() {
                let names: Vec<&str> = parents.iter().map(|p| p.name()).collect();
                let _ = write!(line, " in [{}]", names.join(", "));
            }
            let fields = &self.s.attrs[e.index()];
            if !fields.is_empty() {
                let fs: Vec<String> = fields
                    .iter()
                    .map(|f| format!("{}{}: {}", f.name, if f.optional { "?" } else { "" }, f.ty.decl()))
                    .collect();
                let _ = write!(line, " {{ {} }}", fs.join(", "));
            }
            if let Some(t) = &self.s.tags[e.index()] {
                let _ = write!(line, " tags {}", t.decl());
            }
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str("  enum Level ordered { low, mid, high, top }\n  enum Color { red, green, blue }\n");
        out.push_str("  type Addr = { city: String, zip?: String }\n");
        out.push_str("  action all_ops\n  action reads in [all_ops]\n  action writes in [all_ops]\n");
        for a in &self.s.actions {
            let mut line = format!("  action {}", a.name);
            if let Some(g) = a.group {
                let _ = write!(line, " in [{g}]");
            }
            let by: Vec<&str> = a.by.iter().map(|e| e.name()).collect();
            let _ = write!(line, " by [{}]", by.join(", "));
            if let Some(on) = &a.on {
                let on: Vec<&str> = on.iter().map(|e| e.name()).collect();
                let _ = write!(line, " on [{}]", on.join(", "));
            }
            if !a.with.is_empty() {
                let fs: Vec<String> = a
                    .with
                    .iter()
                    .map(|f| format!("{}{}: {}", f.name, if f.optional { "?" } else { "" }, f.ty.decl()))
                    .collect();
                let _ = write!(line, " with {{ {} }}", fs.join(", "));
            }
            out.push_str(&line);
            out.push('\n');
        }
        if !self.s.context.is_empty() {
            let fs: Vec<String> = self
                .s
                .context
                .iter()
                .map(|f| format!("{}{}: {}", f.name, if f.optional { "?" } else { "" }, f.ty.decl()))
                .collect();
            let _ = writeln!(out, "  context {{ {} }}", fs.join(", "));
        }
        out.push_str("}\n\n");
        out.push_str("detector order_id = pattern \"ORD-[0-9]{4}\"\n");
        out.push_str("detector words = keywords [\"secret\", \"drop table\"]\n");
        out.push_str("detector cards = pattern \"[0-9]{13,19}\" validate luhn\n");
        out.push_str("detector mix = [pii.email, order_id, cards]\n\n");
        if let Some(agent) = self.s.agent.clone() {
            out.push_str(&self.agent_source(&agent));
        }
        if self.s.wide {
            // Entity literals past the first word of membership bits.
            let all: Vec<String> = (0..70).map(|k| format!("principal in Team::\"q{k}\"")).collect();
            let _ = writeln!(out, "policy wide {{\n  @shadow\n  forbid\n    when {}", all.join(" || "));
            let (a, b) = (64 + self.below(6), 60 + self.below(10));
            let _ = writeln!(out, "  permit action in reads when principal in Team::\"q{a}\"");
            let _ = writeln!(out, "  forbid when actor in Team::\"q{b}\" && resource in Folder::\"f1\"");
            // Attributes and context fields past slot 63: presence bits in a second word.
            for _ in 0..3 {
                let k = 64 + self.below(6);
                let doc = self.s.attrs[E::Doc.index()].iter().find(|f| f.name == format!("x{k:02}")).cloned();
                if let Some(f) = doc {
                    if f.optional {
                        let _ =
                            writeln!(out, "  forbid resource: Doc when resource has x{k:02} && resource.x{k:02} > 5");
                    } else {
                        let _ = writeln!(out, "  permit resource: Doc when resource.x{k:02} > 1");
                    }
                }
                let field = self.s.context.iter().find(|f| f.name == format!("c_x{k:02}")).cloned();
                if let Some(f) = field {
                    if f.optional {
                        let _ = writeln!(out, "  forbid when context has c_x{k:02} && context.c_x{k:02} < 3");
                    } else {
                        let _ = writeln!(out, "  permit when context.c_x{k:02} > 5");
                    }
                }
            }
            out.push_str("}\n\n");
        }
        let policies = 1 + self.below(3);
        for p in 0..policies {
            let _ = writeln!(out, "policy p{p} {{");
            let items = 2 + self.below(6);
            for _ in 0..items {
                let item = match self.below(20) {
                    0..=8 => self.rule(true),
                    9..=15 => self.rule(false),
                    16 | 17 => self.mask(),
                    _ => self.limit(),
                };
                out.push_str(&item);
            }
            out.push_str("}\n\n");
        }
        out
    }

    fn agent_source(&mut self, agent: &AgentDecl) -> String {
        let mut attrs = Vec::new();
        for f in self.s.attrs[E::Agent.index()].clone() {
            if f.name == "owner" || (f.optional && self.chance(50)) {
                continue;
            }
            let v = self.literal_expr(&f.ty);
            attrs.push(format!("{}: {v}", f.name));
        }
        format!(
            "agent bot0: Agent in [Team::\"t0\"] {{\n  owner User::\"u0\"\n  created 2025-01-01\n  expires {}\n  \
             rotate credentials every 90d last {}\n  review every 180d last 2025-09-01\n  attrs {{ {} }}\n}}\n\n",
            agent.expires,
            agent.rotation_last,
            attrs.join(", ")
        )
    }

    /// A literal of type `t`, as an expression (agent attributes).
    fn literal_expr(&mut self, t: &T) -> String {
        match t {
            T::Bool => if self.chance(50) { "true" } else { "false" }.into(),
            T::Int => {
                let v = *self.rng.pick(&INTS);
                if v < 0 { format!("-{}", v.unsigned_abs()) } else { v.to_string() }
            }
            T::Dec => (*self.rng.pick(&DECIMALS)).into(),
            T::Str => quote(self.rng.pick_str(&STRINGS)),
            T::Time => (*self.rng.pick(&TIMES)).into(),
            T::Dur => (*self.rng.pick(&DURATIONS)).into(),
            T::Date => (*self.rng.pick(&DATES)).into(),
            T::Ip => format!("ip({})", quote(self.rng.pick_str(&IPS))),
            T::Level => (*self.rng.pick(&LEVELS)).into(),
            T::Color => (*self.rng.pick(&COLORS)).into(),
            T::SetStr => format!("[{}]", quote(self.rng.pick_str(&STRINGS))),
            T::SetEnt(e) => format!("[{}]", self.entity_lit(*e)),
            T::Ent(e) => self.entity_lit(*e),
            T::Rec => format!("{{ city: {} }}", quote(self.rng.pick_str(&STRINGS))),
            // Inside a set the element must match `Addr`'s fields exactly.
            T::SetRec => format!(
                "[{{ city: {}, zip: {} }}]",
                quote(self.rng.pick_str(&STRINGS)),
                quote(self.rng.pick_str(&STRINGS))
            ),
        }
    }

    fn entity_lit(&mut self, e: E) -> String {
        let id = if e == E::Agent && self.s.agent.is_some() && self.chance(25) {
            "bot0"
        } else if self.chance(5) {
            "ghost"
        } else {
            *self.rng.pick(e.ids())
        };
        format!("{}::{}", e.name(), quote(id))
    }

    // ─────────── scopes ───────────

    fn env_for(&self, actions: &[&'static str], pfixed: Option<E>, rfixed: Option<E>) -> Env {
        let mut principal = Vec::new();
        let mut resource = Vec::new();
        let mut context: Option<Vec<Field>> = None;
        for name in actions {
            let Some(a) = self.s.action(name) else { continue };
            principal.extend(a.by.iter().copied());
            resource.extend(self.s.on_types(a));
            let fields = self.s.context_of(a);
            context = Some(match context {
                None => fields,
                Some(acc) => acc
                    .into_iter()
                    .filter_map(|mut f| {
                        let g = fields.iter().find(|g| g.name == f.name)?;
                        f.optional |= g.optional;
                        Some(f)
                    })
                    .collect(),
            });
        }
        principal.sort();
        principal.dedup();
        resource.sort();
        resource.dedup();
        let principal = pfixed.map_or(principal, |t| vec![t]);
        Env {
            actor: principal.clone(),
            principal,
            resource: rfixed.map_or(resource, |t| vec![t]),
            context: context.unwrap_or_default(),
            actions: actions.to_vec(),
            facts: BTreeSet::new(),
            flows: true,
        }
    }

    /// An action constraint: its text and the actions it matches.
    fn action_constraint(&mut self) -> (Option<String>, Vec<&'static str>) {
        let all: Vec<&'static str> = self.s.actions.iter().map(|a| a.name).collect();
        let members = |g: &str, s: &Schema| -> Vec<&'static str> {
            s.actions.iter().filter(|a| action_in(a, g)).map(|a| a.name).collect()
        };
        match self.below(9) {
            0 | 1 => (None, all),
            2 | 3 => {
                let a = *self.rng.pick(&all);
                (Some(format!("action: {a}")), vec![a])
            }
            4 => {
                let a = *self.rng.pick(&all);
                (Some(format!("action == {a}")), vec![a])
            }
            5 => {
                let a = *self.rng.pick(&all);
                let mut b = *self.rng.pick(&all);
                if b == a {
                    b = all[(all.iter().position(|x| *x == a).unwrap_or(0) + 1) % all.len()];
                }
                (Some(format!("action: [{a}, {b}]")), vec![a, b])
            }
            6 | 7 => {
                let g = *self.rng.pick(&GROUPS);
                (Some(format!("action in {g}")), members(g, &self.s))
            }
            _ => {
                if self.chance(50) {
                    (Some("action in [reads, writes]".into()), {
                        let mut m = members("reads", &self.s);
                        m.extend(members("writes", &self.s));
                        m
                    })
                } else {
                    // `action in a` for an action that is not a group matches `a`.
                    let a = *self.rng.pick(&all);
                    (Some(format!("action in {a}")), vec![a])
                }
            }
        }
    }

    /// A principal or resource constraint over `candidates` (the types the
    /// matched actions allow): its text and the type it fixes, if any.
    fn var_constraint(&mut self, var: &str, candidates: &[E]) -> (Option<String>, Option<E>, Vec<E>) {
        let t = *self.rng.pick(candidates);
        let ancestors: Vec<E> = {
            let mut v: Vec<E> = candidates.iter().flat_map(|c| ancestor_types(*c)).collect();
            v.sort();
            v.dedup();
            v
        };
        match self.below(10) {
            0..=4 => (None, None, Vec::new()),
            5 => (Some(format!("{var}: {}", t.name())), Some(t), Vec::new()),
            6 => {
                let lit = self.entity_lit(t);
                (Some(format!("{var} == {lit}")), Some(t), Vec::new())
            }
            7 => {
                let anc = *self.rng.pick(&ancestors);
                let lit = self.entity_lit(anc);
                (Some(format!("{var} in {lit}")), None, vec![anc])
            }
            8 => {
                let own = ancestor_types(t);
                let anc = *self.rng.pick(&own);
                let lit = self.entity_lit(anc);
                (Some(format!("{var}: {} in {lit}", t.name())), Some(t), Vec::new())
            }
            _ => {
                let a = *self.rng.pick(&ancestors);
                let b = *self.rng.pick(&ancestors);
                let (x, y) = (self.entity_lit(a), self.entity_lit(b));
                (Some(format!("{var} in [{x}, {y}]")), None, vec![a, b])
            }
        }
    }

    fn scope(&mut self) -> (String, Env) {
        loop {
            let (action_text, actions) = self.action_constraint();
            let env = self.env_for(&actions, None, None);
            let (ptext, pfixed, ptargets) = self.var_constraint("principal", &env.principal.clone());
            let (rtext, rfixed, rtargets) = self.var_constraint("resource", &env.resource.clone());
            let kept: Vec<&'static str> = actions
                .iter()
                .copied()
                .filter(|name| {
                    self.s.action(name).is_some_and(|a| {
                        pfixed.is_none_or(|p| a.by.contains(&p))
                            && rfixed.is_none_or(|r| self.s.on_types(a).contains(&r))
                    })
                })
                .collect();
            if kept.is_empty() {
                continue;
            }
            let env = self.env_for(&kept, pfixed, rfixed);
            // The schema must allow the variable, as the kept actions type it, to be in a target.
            let possible = |types: &[E], targets: &[E]| {
                targets.is_empty() || targets.iter().any(|t| types.iter().any(|v| may_be_in(*v, *t)))
            };
            if !possible(&env.principal, &ptargets) || !possible(&env.resource, &rtargets) {
                continue;
            }
            let mut items: Vec<String> = [ptext, action_text, rtext].into_iter().flatten().collect();
            // Scope items come in any order.
            if items.len() > 1 && self.chance(30) {
                items.rotate_left(1);
            }
            return (items.join(", "), env);
        }
    }

    // ─────────── paths ───────────

    fn paths(&self, env: &Env) -> Vec<PathInfo> {
        let mut out = Vec::new();
        let roots: [(&'static str, Vec<Field>, bool); 4] = [
            ("principal", self.s.union_attrs(&env.principal), true),
            ("resource", self.s.union_attrs(&env.resource), true),
            ("context", env.context.clone(), true),
            // `actor.x` has no access path (`actor` is a name), so only required attributes.
            ("actor", self.s.union_attrs(&env.actor), false),
        ];
        for (root, fields, guardable) in roots {
            for f in fields {
                if (!guardable && f.optional) || (root == "actor" && !env.flows) {
                    continue;
                }
                let key1 = format!("{root}.{}", f.name);
                let p1 = PathInfo {
                    text: key1.clone(),
                    ty: f.ty.clone(),
                    keys: vec![(key1.clone(), f.optional)],
                    root,
                    segs: vec![f.name.clone()],
                };
                let sub = match &f.ty {
                    T::Ent(x) => self.s.attrs[x.index()].clone(),
                    T::Rec => rec_fields(),
                    _ => Vec::new(),
                };
                for g in sub {
                    if !guardable && g.optional {
                        continue;
                    }
                    let key2 = format!("{key1}.{}", g.name);
                    let mut keys = p1.keys.clone();
                    keys.push((key2.clone(), g.optional));
                    out.push(PathInfo {
                        text: key2,
                        ty: g.ty.clone(),
                        keys,
                        root,
                        segs: vec![f.name.clone(), g.name.clone()],
                    });
                }
                out.push(p1);
            }
        }
        out
    }

    fn readable(&self, env: &Env, t: Option<&T>) -> Vec<PathInfo> {
        self.paths(env).into_iter().filter(|p| p.readable(&env.facts) && t.is_none_or(|t| &p.ty == t)).collect()
    }

    // ─────────── values ───────────

    /// An expression of type `t`.
    fn value(&mut self, t: &T, env: &Env, depth: u32) -> String {
        if self.chance(55) {
            let ps = self.readable(env, Some(t));
            if !ps.is_empty() {
                return self.rng.pick(&ps).text.clone();
            }
        }
        let deep = depth > 0 && self.chance(35);
        let d = depth.saturating_sub(1);
        match t {
            T::Bool => format!("({})", self.cond(env, d)),
            T::Int => {
                if !deep {
                    return self.int_lit();
                }
                match self.below(9) {
                    0 => format!("({} + {})", self.value(&T::Int, env, d), self.value(&T::Int, env, d)),
                    1 => format!("({} - {})", self.value(&T::Int, env, d), self.value(&T::Int, env, d)),
                    2 => format!("(-({}))", self.value(&T::Int, env, d)),
                    3 => format!("{}.size()", self.receiver(&T::SetStr, env, d)),
                    4 => format!("{}.size()", self.receiver(&T::Str, env, d)),
                    5 => format!("now.{}()", self.rng.pick(&["hour", "minute", "weekday"])),
                    6 => format!(
                        "{}.{}()",
                        self.receiver(&T::Date, env, d),
                        self.rng.pick(&["year", "month", "day", "weekday"])
                    ),
                    7 if env.flows => self.flow_count(env),
                    _ => format!(
                        "{}.{}()",
                        self.receiver(&T::Time, env, d),
                        self.rng.pick(&["hour", "minute", "weekday"])
                    ),
                }
            }
            T::Dec => {
                if !deep {
                    return self.dec_lit();
                }
                match self.below(5) {
                    0 => format!("({} + {})", self.value(&T::Dec, env, d), self.value(&T::Dec, env, d)),
                    1 => format!("({} - {})", self.value(&T::Dec, env, d), self.value(&T::Dec, env, d)),
                    2 => format!("(-({}))", self.value(&T::Dec, env, d)),
                    3 if env.flows => self.flow_sum(env, &T::Dec).unwrap_or_else(|| self.dec_lit()),
                    _ => format!("decimal({})", quote(self.rng.pick_str(&DECIMALS))),
                }
            }
            T::Str => {
                if deep {
                    let m = *self.rng.pick(&["lower", "upper", "trim", "url_host", "url_scheme", "normalized_path"]);
                    let r = if m.len() > 5 && self.chance(50) {
                        quote(self.rng.pick_str(&STRUCTURED))
                    } else {
                        self.receiver(&T::Str, env, d)
                    };
                    format!("{r}.{m}()")
                } else {
                    quote(self.rng.pick_str(&STRINGS))
                }
            }
            T::Time => {
                if !deep {
                    return match self.below(3) {
                        0 => "now".into(),
                        1 => (*self.rng.pick(&TIMES)).into(),
                        _ => format!("time({})", quote(self.rng.pick_str(&TIMES))),
                    };
                }
                let op = if self.chance(50) { "+" } else { "-" };
                format!("({} {op} {})", self.value(&T::Time, env, d), self.value(&T::Dur, env, d))
            }
            T::Dur => {
                if !deep {
                    return if self.chance(80) {
                        (*self.rng.pick(&DURATIONS)).into()
                    } else {
                        format!("duration({})", quote(self.rng.pick_str(&DURATIONS)))
                    };
                }
                match self.below(4) {
                    0 => format!("({} - {})", self.value(&T::Time, env, d), self.value(&T::Time, env, d)),
                    1 => format!("({} + {})", self.value(&T::Dur, env, d), self.value(&T::Dur, env, d)),
                    2 => format!("(-({}))", self.value(&T::Dur, env, d)),
                    _ => self.flow_sum(env, &T::Dur).unwrap_or_else(|| "1h".into()),
                }
            }
            T::Date => {
                if deep {
                    format!("{}.date()", self.receiver(&T::Time, env, d))
                } else if self.chance(70) {
                    (*self.rng.pick(&DATES)).into()
                } else {
                    format!("date({})", quote(self.rng.pick_str(&DATES)))
                }
            }
            T::Ip => format!("ip({})", quote(self.rng.pick_str(&IPS))),
            T::Level => format!("Level::{}", self.rng.pick(&LEVELS)),
            T::Color => format!("Color::{}", self.rng.pick(&COLORS)),
            T::SetStr => {
                let n = self.below(4);
                if n == 0 && self.chance(50) {
                    return "[]".into();
                }
                let items: Vec<String> = (0..n.max(1))
                    .map(|_| if deep { self.value(&T::Str, env, d) } else { quote(self.rng.pick_str(&STRINGS)) })
                    .collect();
                format!("[{}]", items.join(", "))
            }
            T::SetEnt(e) => {
                let n = 1 + self.below(3);
                let items: Vec<String> = (0..n).map(|_| self.entity_value(*e, env, d)).collect();
                format!("[{}]", items.join(", "))
            }
            T::Ent(e) => self.entity_value(*e, env, d),
            // Records are only read through paths.
            T::Rec => "resource".into(),
            T::SetRec => {
                let n = self.below(3);
                if n == 0 && self.chance(50) {
                    return "[]".into();
                }
                // Where a `Set<Addr>` is expected, a set literal's elements
                // must have `Addr`'s fields exactly.
                let items: Vec<String> = (0..n.max(1)).map(|_| self.rec_lit(env, d, deep, true)).collect();
                format!("[{}]", items.join(", "))
            }
        }
    }

    /// A record literal that fits `Addr`: with a `zip` when `full`, else
    /// without one; fields in either order, values literal or computed.
    fn rec_lit(&mut self, env: &Env, depth: u32, deep: bool, full: bool) -> String {
        let text = |g: &mut Gen| if deep { g.value(&T::Str, env, depth) } else { quote(g.rng.pick_str(&STRINGS)) };
        let city = text(self);
        if !full {
            return format!("{{ city: {city} }}");
        }
        let zip = text(self);
        if self.chance(50) {
            format!("{{ city: {city}, zip: {zip} }}")
        } else {
            format!("{{ zip: {zip}, city: {city} }}")
        }
    }

    /// An expression whose type is exactly the entity type `e`.
    fn entity_value(&mut self, e: E, env: &Env, depth: u32) -> String {
        if self.chance(40) {
            let ps = self.readable(env, Some(&T::Ent(e)));
            if !ps.is_empty() {
                return self.rng.pick(&ps).text.clone();
            }
        }
        if depth > 0 && self.chance(20) {
            if env.principal == [e] {
                return "principal".into();
            }
            if env.resource == [e] {
                return "resource".into();
            }
            if e == E::Agent && self.s.agent.is_some() {
                return "bot0".into();
            }
        }
        self.entity_lit(e)
    }

    /// A receiver for a method: a path, or a parenthesized value.
    fn receiver(&mut self, t: &T, env: &Env, depth: u32) -> String {
        let v = self.value(t, env, depth);
        if v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') { v } else { format!("({v})") }
    }

    fn int_lit(&mut self) -> String {
        let v = *self.rng.pick(&INTS);
        if v < 0 { format!("(-{})", v.unsigned_abs()) } else { v.to_string() }
    }

    fn dec_lit(&mut self) -> String {
        let v = *self.rng.pick(&DECIMALS);
        if self.chance(20) { format!("(-{v})") } else { v.to_string() }
    }

    // ─────────── conditions ───────────

    /// A `Bool` expression.
    fn cond(&mut self, env: &Env, depth: u32) -> String {
        let n = if depth == 0 { 11 } else { 15 };
        match self.below(n) {
            0..=2 => {
                let ps = self.readable(env, None);
                if ps.is_empty() {
                    return self.membership(env);
                }
                let p = self.rng.pick(&ps).clone();
                self.atom_on(&p.text, &p.ty, env, depth)
            }
            3 | 4 => self.guarded(env, depth),
            5 => self.membership(env),
            6 => self.action_test(),
            7 => self.time_or_chain(env, depth),
            8 if env.flows => self.flow_bool(env),
            8 | 9 => {
                let t = self.rng.pick(&[T::Int, T::Dec, T::Time, T::Dur, T::Date, T::Level, T::Str]).clone();
                let a = self.value(&t, env, depth);
                self.atom_on(&a, &t, env, depth)
            }
            10 => {
                // A set literal whose elements are computed.
                if self.chance(40) {
                    let a = self.value(&T::Str, env, depth);
                    let b = self.value(&T::Str, env, depth);
                    let c = self.value(&T::Str, env, depth);
                    format!("[{a}, {b}].contains({c})")
                } else if self.chance(35) {
                    // Sets of records against record literals (issue 17: this
                    // passed the checker and failed at every evaluation).
                    let record = |this: &mut Self| {
                        let n = this.value(&T::Int, env, depth);
                        let s = this.value(&T::Str, env, depth);
                        format!("{{n: {n}, s: {s}}}")
                    };
                    let (a, b, c, d) = (record(self), record(self), record(self), record(self));
                    match self.rng.below(3) {
                        0 => format!("[{a}, {b}].contains({c})"),
                        1 => format!("[{a}, {b}].contains_any([{c}, {d}])"),
                        _ => format!("[{a}, {b}, {c}].contains_all([{d}])"),
                    }
                } else {
                    let e = *self.rng.pick(&[E::User, E::Team, E::Doc]);
                    let a = self.entity_value(e, env, 1);
                    let b = self.entity_value(e, env, 1);
                    let c = self.entity_lit(e);
                    format!("[{a}, {b}].contains({c})")
                }
            }
            11 => format!("({} && {})", self.cond(env, depth - 1), self.cond(env, depth - 1)),
            12 => format!("({} || {})", self.cond(env, depth - 1), self.cond(env, depth - 1)),
            13 => format!("!({})", self.cond(env, depth - 1)),
            _ => {
                // Facts flow through `&&`: the right side may read what the left side tested.
                let ps: Vec<PathInfo> =
                    self.paths(env).into_iter().filter(|p| !p.readable(&env.facts) && p.root != "actor").collect();
                if ps.is_empty() {
                    return if self.chance(50) { "true".into() } else { "false".into() };
                }
                let p = self.rng.pick(&ps).clone();
                let inner = p.with_facts(env);
                format!(
                    "({} && ({} || {}))",
                    p.guard(),
                    self.atom_on(&p.text, &p.ty, &inner, 0),
                    self.cond(&inner, depth - 1)
                )
            }
        }
    }

    /// A test that reads an optional path under a `has` guard.
    fn guarded(&mut self, env: &Env, depth: u32) -> String {
        if self.chance(30) {
            let (x, types) =
                if self.chance(50) { ("principal", env.principal.clone()) } else { ("resource", env.resource.clone()) };
            if let Some(t) = self.tag_type(&types) {
                return self.tag_test(x, &t, env, depth);
            }
        }
        let ps: Vec<PathInfo> =
            self.paths(env).into_iter().filter(|p| !p.readable(&env.facts) && p.root != "actor").collect();
        if ps.is_empty() {
            let ps = self.readable(env, None);
            if ps.is_empty() {
                return "true".into();
            }
            let p = self.rng.pick(&ps).clone();
            return self.atom_on(&p.text, &p.ty, env, depth);
        }
        let p = self.rng.pick(&ps).clone();
        let inner = p.with_facts(env);
        let atom = self.atom_on(&p.text, &p.ty, &inner, depth.saturating_sub(1));
        match self.below(4) {
            0 | 1 => format!("({} && {atom})", p.guard()),
            2 => format!("(!({}) || {atom})", p.guard()),
            _ => format!("({})", p.guard()),
        }
    }

    /// A `Bool` test of the value `x` of type `t`.
    fn atom_on(&mut self, x: &str, t: &T, env: &Env, depth: u32) -> String {
        let cmp = |g: &mut Gen| *g.rng.pick(&["==", "!=", "<", "<=", ">", ">="]);
        let eq = |g: &mut Gen| *g.rng.pick(&["==", "!="]);
        match t {
            T::Bool => match self.below(3) {
                0 => x.to_string(),
                1 => format!("!({x})"),
                _ => format!("{x} == {}", self.value(&T::Bool, env, 0)),
            },
            T::Int | T::Dec | T::Dur | T::Date | T::Time => {
                let op = cmp(self);
                let y = self.value(t, env, depth);
                let extra = match t {
                    T::Time if self.chance(25) => return format!("(now - {x}) {op} {}", self.value(&T::Dur, env, 0)),
                    T::Int if self.chance(15) => return format!("({x} + {}) {op} 0", self.int_lit()),
                    _ => String::new(),
                };
                let _ = extra;
                if self.chance(50) { format!("{x} {op} {y}") } else { format!("{y} {op} {x}") }
            }
            T::Level => {
                let op = cmp(self);
                let v = *self.rng.pick(&LEVELS);
                match self.below(3) {
                    0 => format!("{x} {op} {v}"),
                    1 => format!("{v} {op} {x}"),
                    _ => format!("{x} {op} {}", self.value(&T::Level, env, depth)),
                }
            }
            T::Color => {
                let op = eq(self);
                let v = *self.rng.pick(&COLORS);
                if self.chance(50) { format!("{x} {op} {v}") } else { format!("{x} {op} Color::{v}") }
            }
            T::Str => match self.below(12) {
                // Address lists: data strings rarely parse (an error), literals often do.
                10 | 11 => {
                    let r = if self.chance(40) { quote(self.rng.pick_str(&STRUCTURED)) } else { x.to_string() };
                    let m = *self.rng.pick(&["email_addresses", "email_domains"]);
                    match self.below(3) {
                        0 => format!("{r}.{m}().contains({})", self.value(&T::Str, env, depth)),
                        1 => format!("{r}.{m}().is_subset([\"x.example\", \"y.example\", \"example.com\"])"),
                        _ => format!("{r}.{m}().any(addr, addr.ends_with({}))", quote(self.rng.pick_str(&STRINGS))),
                    }
                }
                0 => format!("{x} {} {}", eq(self), self.value(&T::Str, env, depth)),
                1 => format!("{x} like {}", quote(self.rng.pick_str(&GLOBS))),
                2 => format!("{x} matches {}", quote(self.rng.pick_str(&REGEXES))),
                3 | 4 => format!("{x} matches {}", self.rng.pick(&DETECTORS)),
                5 => {
                    let m = *self.rng.pick(&["starts_with", "ends_with", "contains"]);
                    format!("{x}.{m}({})", self.value(&T::Str, env, depth))
                }
                6 => format!("{x}.lower() == {}", quote(self.rng.pick_str(&STRINGS))),
                7 => format!("{x}.size() {} {}", cmp(self), self.below(12)),
                8 => format!("{x}.is_empty()"),
                _ => format!("{x}.upper() {} {}", eq(self), self.value(&T::Str, env, depth)),
            },
            T::Ip => match self.below(4) {
                0 => format!("{x} in cidr({})", quote(self.rng.pick_str(&CIDRS))),
                1 => format!("{x}.{}()", self.rng.pick(&["is_private", "is_loopback", "is_ipv4", "is_ipv6"])),
                2 => format!("{x} {} ip({})", eq(self), quote(self.rng.pick_str(&IPS))),
                _ => format!("!({x} in cidr({}))", quote(self.rng.pick_str(&CIDRS))),
            },
            T::SetStr if self.chance(35) => match self.below(4) {
                0 => format!("{x}.intersects({})", self.value(&T::SetStr, env, depth)),
                1 => format!("{x}.is_subset({})", self.value(&T::SetStr, env, depth)),
                _ => {
                    let v = self.qvar();
                    let q = *self.rng.pick(&["any", "all"]);
                    let body = self.atom_on(&v, &T::Str, env, depth.saturating_sub(1));
                    format!("{x}.{q}({v}, {body})")
                }
            },
            T::SetStr => match self.below(7) {
                0 | 1 => format!("{x}.contains({})", self.value(&T::Str, env, depth)),
                2 => format!("{x}.contains_all({})", self.value(&T::SetStr, env, depth)),
                3 => format!("{x}.contains_any({})", self.value(&T::SetStr, env, depth)),
                4 => format!("{x}.is_empty()"),
                5 => format!("{x}.size() {} {}", cmp(self), self.below(4)),
                _ => format!("{x} {} {}", eq(self), self.value(&T::SetStr, env, depth)),
            },
            T::SetEnt(e) if self.chance(35) => {
                let e = *e;
                match self.below(4) {
                    0 => format!("{x}.intersects({})", self.value(&T::SetEnt(e), env, depth)),
                    1 => format!("{x}.is_subset({})", self.value(&T::SetEnt(e), env, depth)),
                    _ => {
                        let v = self.qvar();
                        let q = *self.rng.pick(&["any", "all"]);
                        let body = self.entity_test(&v, &[e], env, depth.saturating_sub(1));
                        format!("{x}.{q}({v}, {body})")
                    }
                }
            }
            T::SetEnt(e) => {
                let e = *e;
                match self.below(6) {
                    0 | 1 => format!("{x}.contains({})", self.entity_value(e, env, depth)),
                    2 => format!("{x}.contains_any({})", self.value(&T::SetEnt(e), env, depth)),
                    3 => format!("{x}.contains_all({})", self.value(&T::SetEnt(e), env, depth)),
                    4 => format!("{x}.is_empty()"),
                    _ => {
                        // Something that may be in an `e`.
                        let members: Vec<E> = ALL.iter().copied().filter(|c| may_be_in(*c, e)).collect();
                        let c = *self.rng.pick(&members);
                        let v = self.entity_value(c, env, depth);
                        format!("{v} in {x}")
                    }
                }
            }
            T::Ent(e) => self.entity_test(x, &[*e], env, depth),
            // `actor.x` has no access path, so a `has` on it proves nothing.
            T::Rec if x.starts_with("actor") => format!("{x}.city {} {}", eq(self), quote(self.rng.pick_str(&STRINGS))),
            T::Rec if self.chance(30) => {
                let (c, z) = (quote(self.rng.pick_str(&STRINGS)), quote(self.rng.pick_str(&STRINGS)));
                if self.chance(50) {
                    format!("{x} {} {{ city: {c}, zip: {z} }}", eq(self))
                } else {
                    format!("{{ zip: {z}, city: {c} }} {} {x}", eq(self))
                }
            }
            T::Rec => match self.below(4) {
                0 => format!("{x}.city {} {}", eq(self), quote(self.rng.pick_str(&STRINGS))),
                1 => format!("{x} has zip"),
                // A record in a set of record literals (issue 17).
                2 => format!(
                    "[{}, {}].contains({x})",
                    self.rec_lit(env, depth, false, true),
                    self.rec_lit(env, depth, true, true)
                ),
                _ => format!("({x} has zip && {x}.zip like {})", quote(self.rng.pick_str(&GLOBS))),
            },
            // A set of records tested against record literals (issue 17).
            T::SetRec => match self.below(7) {
                0 | 1 => {
                    let full = self.chance(60);
                    format!("{x}.contains({})", self.rec_lit(env, depth, depth > 0, full))
                }
                2 => format!("{x}.contains_all({})", self.value(&T::SetRec, env, depth)),
                3 => format!("{x}.contains_any({})", self.value(&T::SetRec, env, depth)),
                4 => format!("{x}.is_empty()"),
                5 => format!("{x}.size() {} {}", cmp(self), self.below(3)),
                _ => {
                    let n = self.below(3);
                    let items: Vec<String> = (0..n).map(|_| self.rec_lit(env, depth, false, true)).collect();
                    format!("{x} {} [{}]", eq(self), items.join(", "))
                }
            },
        }
    }

    /// A test of an entity-valued expression `x` whose type is one of `types`.
    fn entity_test(&mut self, x: &str, types: &[E], env: &Env, depth: u32) -> String {
        let ancestors: Vec<E> = {
            let mut v: Vec<E> = types.iter().flat_map(|c| ancestor_types(*c)).collect();
            v.sort();
            v.dedup();
            v
        };
        match self.below(7) {
            0 => {
                let t = *self.rng.pick(types);
                format!("{x} {} {}", self.rng.pick(&["==", "!="]), self.entity_value(t, env, depth))
            }
            1 | 2 => {
                let a = *self.rng.pick(&ancestors);
                format!("{x} in {}", self.entity_lit(a))
            }
            3 => {
                let a = *self.rng.pick(&ancestors);
                let b = *self.rng.pick(&ancestors);
                format!("{x} in [{}, {}]", self.entity_lit(a), self.entity_lit(b))
            }
            4 => {
                // In an entity-valued or set-valued attribute.
                let candidates: Vec<PathInfo> = self
                    .readable(env, None)
                    .into_iter()
                    .filter(|p| match &p.ty {
                        T::Ent(y) | T::SetEnt(y) => types.iter().any(|t| may_be_in(*t, *y)),
                        _ => false,
                    })
                    .collect();
                if candidates.is_empty() {
                    let a = *self.rng.pick(&ancestors);
                    return format!("{x} in {}", self.entity_lit(a));
                }
                format!("{x} in {}", self.rng.pick(&candidates).text)
            }
            5 if self.tag_type(types).is_some() && self.chance(50) => {
                let t = self.tag_type(types).unwrap_or(T::Str);
                self.tag_test(x, &t, env, depth)
            }
            5 => {
                // `x has a` for an attribute of every type of `x`.
                let attrs = self.s.union_attrs(types);
                if attrs.is_empty() {
                    return format!("{x} == {x}");
                }
                format!("{x} has {}", self.rng.pick(&attrs).name)
            }
            _ => {
                let others = [("principal", env.principal.clone()), ("resource", env.resource.clone())];
                let (name, t) = self.rng.pick(&others).clone();
                if t.iter().any(|o| types.contains(o)) {
                    format!("{x} {} {name}", self.rng.pick(&["==", "!="]))
                } else {
                    let a = *self.rng.pick(&ancestors);
                    format!("{x} in {}", self.entity_lit(a))
                }
            }
        }
    }

    /// The type of the tags of every one of `types`, when they all declare
    /// the same.
    fn tag_type(&self, types: &[E]) -> Option<T> {
        let first = self.s.tags.get(types.first()?.index())?.clone()?;
        types.iter().all(|e| self.s.tags.get(e.index()) == Some(&Some(first.clone()))).then_some(first)
    }

    /// A test of the tags of `x` (entities whose types declare tags of type
    /// `t`): `has_tag` alone, or `get_tag` under a `has_tag` guard on the same
    /// key (only where `x` is a path: a guard is a fact about a path).
    fn tag_test(&mut self, x: &str, t: &T, env: &Env, depth: u32) -> String {
        let key = format!("\"{}\"", self.rng.pick_str(&TAG_KEYS));
        let path = x.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
        match self.below(if path { 5 } else { 2 }) {
            0 => format!("{x}.has_tag({key})"),
            1 => {
                let k = self.value(&T::Str, env, depth.saturating_sub(1));
                format!("{x}.has_tag({k})")
            }
            2 | 3 => {
                let atom = self.atom_on(&format!("{x}.get_tag({key})"), t, env, depth.saturating_sub(1));
                format!("({x}.has_tag({key}) && {atom})")
            }
            _ => {
                let atom = self.atom_on(&format!("{x}.get_tag({key})"), t, env, depth.saturating_sub(1));
                format!("(!{x}.has_tag({key}) || {atom})")
            }
        }
    }

    fn membership(&mut self, env: &Env) -> String {
        match self.below(3) {
            0 => {
                let p = env.principal.clone();
                self.entity_test("principal", &p, env, 1)
            }
            1 => {
                let r = env.resource.clone();
                self.entity_test("resource", &r, env, 1)
            }
            _ => {
                let a = env.actor.clone();
                self.entity_test("actor", &a, env, 1)
            }
        }
    }

    fn action_test(&mut self) -> String {
        let all: Vec<&'static str> = self.s.actions.iter().map(|a| a.name).collect();
        match self.below(4) {
            0 => format!("action == {}", self.rng.pick(&all)),
            1 => format!("action in {}", self.rng.pick(&GROUPS)),
            2 => format!("action in [{}, {}]", self.rng.pick(&GROUPS), self.rng.pick(&all)),
            _ => format!("action != {}", self.rng.pick(&all)),
        }
    }

    /// A fresh quantifier variable.
    fn qvar(&mut self) -> String {
        self.qvars += 1;
        format!("q{}", self.qvars)
    }

    /// `x is T` or `x is T in E`, `T` one of `types`.
    fn is_test(&mut self, x: &str, types: &[E]) -> String {
        let t = *self.rng.pick(types);
        if self.chance(50) {
            return format!("{x} is {}", t.name());
        }
        let a = *self.rng.pick(&ancestor_types(t));
        format!("{x} is {} in {}", t.name(), self.entity_lit(a))
    }

    /// Type tests, quantifiers over the chain, and narrowing by `is`.
    fn chain_quantifier(&mut self, env: &Env, depth: u32) -> String {
        let types = env.principal.clone();
        match self.below(6) {
            0 | 1 => {
                let v = self.qvar();
                let q = *self.rng.pick(&["any", "all"]);
                let test = match self.below(3) {
                    0 => self.is_test(&v, &types),
                    1 => format!("({} && {v} != actor)", self.is_test(&v, &types)),
                    _ => {
                        let t = *self.rng.pick(&types);
                        let a = *self.rng.pick(&ancestor_types(t));
                        format!("{v} in {}", self.entity_lit(a))
                    }
                };
                format!("chain.{q}({v}, {test})")
            }
            2 => {
                let end = *self.rng.pick(&["first", "last"]);
                let x = format!("chain.{end}");
                if self.chance(50) {
                    self.is_test(&x, &types)
                } else {
                    format!("{x} {} actor", self.rng.pick(&["==", "!="]))
                }
            }
            // A test on `principal` narrows it for the rest of an enclosing
            // `&&` too, where atoms written for the wider type would then be
            // ill-typed (`principal in Agent::"a"` after `principal is User`):
            // `== true` keeps the narrowing inside.
            3 => format!("(({}) == true)", self.is_test("principal", &types)),
            4 => {
                // Narrowing: after `principal is T`, the attributes of a `T`.
                let t = *self.rng.pick(&types);
                let mut narrow = env.clone();
                narrow.principal = vec![t];
                let ps: Vec<PathInfo> =
                    self.readable(&narrow, None).into_iter().filter(|p| p.root == "principal").collect();
                if ps.is_empty() {
                    return format!("((principal is {}) == true)", t.name());
                }
                let p = self.rng.pick(&ps).clone();
                let atom = self.atom_on(&p.text, &p.ty, &narrow, depth.saturating_sub(1));
                format!("((principal is {} && {atom}) == true)", t.name())
            }
            _ => {
                let v = self.qvar();
                let w = self.qvar();
                format!("chain.any({v}, chain.all({w}, {w} == {v} || !({w} is {})))", self.rng.pick(&types).name())
            }
        }
    }

    fn time_or_chain(&mut self, env: &Env, depth: u32) -> String {
        if self.chance(40) {
            return self.chain_quantifier(env, depth);
        }
        match self.below(8) {
            0 => format!("now.hour() {} {}", self.rng.pick(&[">=", "<"]), self.below(24)),
            1 => format!("now.weekday() <= {}", 1 + self.below(7)),
            2 => format!("now {} {}", self.rng.pick(&["<", ">="]), self.value(&T::Time, env, depth)),
            3 => format!("now.date() == {}", self.rng.pick(&DATES)),
            4 => format!("chain.size() {} {}", self.rng.pick(&["==", ">", "<="]), 1 + self.below(3)),
            5 => {
                let t = *self.rng.pick(&env.principal);
                format!("chain.contains({})", self.entity_lit(t))
            }
            6 => format!("actor {} principal", self.rng.pick(&["==", "!="])),
            _ => format!("(now - {}) < {}", self.value(&T::Time, env, 0), self.rng.pick(&DURATIONS)),
        }
    }

    // ─────────── flows ───────────

    /// An action scope for a flow: its text and the earlier actions' environment.
    fn flow_scope(&mut self) -> (String, Env) {
        let (text, actions) = loop {
            let (text, actions) = self.action_constraint();
            if let Some(text) = text {
                break (text, actions);
            }
        };
        let mut env = self.env_for(&actions, None, None);
        env.flows = false;
        (text, env)
    }

    fn flow_body(&mut self, current: &Env) -> String {
        let window = *self.rng.pick(&["30m", "1h", "2h", "24h"]);
        let by = *self.rng.pick(&["", "", " by session", " by principal"]);
        let (scope, past) = self.flow_scope();
        let mut out = format!("within {window}{by} {scope}");
        match self.below(6) {
            0 if past.resource.iter().any(|r| current.resource.contains(r)) => {
                out.push_str(" where resource == current.resource")
            }
            // `current` keys the summary: it appears once, in an equality (E0227).
            4 => out.push_str(if self.chance(50) {
                " where action == current.action"
            } else {
                " where current.action == action"
            }),
            1 if past.principal.iter().any(|p| current.principal.contains(p)) => {
                out.push_str(" where principal == current.principal")
            }
            2 => {
                // Correlated by a context field of any type the two requests share.
                let shared: Vec<Field> = past
                    .context
                    .iter()
                    .filter(|f| !f.optional && current.context.iter().any(|g| g.name == f.name && !g.optional))
                    .cloned()
                    .collect();
                let fields: Vec<Field> = past
                    .context
                    .iter()
                    .filter(|f| !f.optional && matches!(f.ty, T::Int | T::Dec | T::Str | T::Level | T::Bool))
                    .cloned()
                    .collect();
                if !shared.is_empty() && self.chance(60) {
                    let f = self.rng.pick(&shared).clone();
                    let _ = write!(out, " where context.{} == current.context.{}", f.name, f.name);
                } else if let Some(f) = fields.first().cloned() {
                    let v = self.literal_expr(&f.ty);
                    let _ = write!(out, " where context.{} == {v}", f.name);
                }
            }
            3 => {
                let ps: Vec<PathInfo> = self
                    .readable(&past, None)
                    .into_iter()
                    .filter(|p| p.root != "actor" && matches!(p.ty, T::Int | T::Str | T::Level | T::Color))
                    .collect();
                if !ps.is_empty() {
                    let p = self.rng.pick(&ps).clone();
                    let v = self.value(&p.ty, &past, 0);
                    let _ = write!(out, " where {} == {v}", p.text);
                }
            }
            _ => {}
        }
        out
    }

    fn flow_bool(&mut self, env: &Env) -> String {
        if self.chance(50) {
            format!("(previously {})", self.flow_body(env))
        } else {
            format!("{} {} {}", self.flow_count(env), self.rng.pick(&[">", ">=", "<"]), self.below(4))
        }
    }

    fn flow_count(&mut self, env: &Env) -> String {
        format!("count({})", self.flow_body(env))
    }

    /// `sum(context.F, …)` over an action with a required field of type `t`.
    fn flow_sum(&mut self, env: &Env, t: &T) -> Option<String> {
        if !env.flows {
            return None;
        }
        let candidates: Vec<(&'static str, String)> = self
            .s
            .actions
            .iter()
            .flat_map(|a| {
                self.s.context_of(a).into_iter().filter(|f| &f.ty == t && !f.optional).map(move |f| (a.name, f.name))
            })
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let (action, field) = self.rng.pick(&candidates).clone();
        let window = *self.rng.pick(&["1h", "24h"]);
        Some(format!("sum(context.{field}, within {window} action: {action})"))
    }

    // ─────────── rules, masks, limits ───────────

    /// The conditions of a rule, with facts flowing from one to the next.
    fn conditions(&mut self, env: &mut Env) -> String {
        let mut out = String::new();
        let n = self.below(4);
        for _ in 0..n {
            if self.chance(20) {
                // `when x has f` then a later condition reads `x.f`.
                let ps: Vec<PathInfo> =
                    self.paths(env).into_iter().filter(|p| !p.readable(&env.facts) && p.root != "actor").collect();
                if !ps.is_empty() {
                    let p = self.rng.pick(&ps).clone();
                    if self.chance(50) {
                        let _ = write!(out, "\n    when {}", p.guard());
                    } else {
                        let _ = write!(out, "\n    unless !({})", p.guard());
                    }
                    *env = p.with_facts(env);
                    continue;
                }
            }
            let kw = if self.chance(70) { "when" } else { "unless" };
            let depth = self.below(4) as u32;
            let c = self.cond(env, depth);
            let _ = write!(out, "\n    {kw} {c}");
        }
        out
    }

    fn annotations(&mut self, permit: bool) -> String {
        let mut out = String::new();
        if self.chance(70) {
            self.rule_id += 1;
            let _ = writeln!(out, "  @id(\"r{}\")", self.rule_id);
        }
        if self.chance(10) {
            out.push_str("  @shadow\n");
        }
        if self.chance(10) {
            out.push_str("  @reason(\"generated\")\n");
        }
        if self.chance(10) {
            let _ = writeln!(out, "  @severity({})", self.rng.pick(&["low", "medium", "high", "critical"]));
        }
        if permit && self.chance(8) {
            out.push_str("  @delegation(\"actor\")\n");
        }
        out
    }

    fn rule(&mut self, permit: bool) -> String {
        let mut out = self.annotations(permit);
        let effect = if permit { "permit" } else { "forbid" };
        let (scope, mut env) =
            if self.chance(85) { self.scope() } else { (String::new(), self.env_for(&self.all_actions(), None, None)) };
        let _ = write!(out, "  {effect}");
        if !scope.is_empty() {
            let _ = write!(out, " {scope}");
        }
        out.push_str(&self.conditions(&mut env));
        let approval = if permit { 12 } else { 35 };
        if self.chance(approval) {
            if self.chance(50) {
                out.push_str("\n    obligation require_approval(role: \"boss\")");
            } else {
                out.push_str("\n    obligation require_approval(role: \"lead\", count: 2)");
            }
        }
        if self.chance(15) {
            out.push_str(self.rng.pick_str(&[
                "\n    obligation notify(to: \"sec@example.com\")",
                "\n    obligation audit(level: high)",
                "\n    advice log(message: \"seen\")",
                "\n    obligation ticket(queue: \"ops\")",
            ]));
        }
        out.push('\n');
        out
    }

    fn all_actions(&self) -> Vec<&'static str> {
        self.s.actions.iter().map(|a| a.name).collect()
    }

    fn mask(&mut self) -> String {
        let mut out = self.annotations(false);
        let (scope, mut env) = self.scope();
        let method = self
            .rng
            .pick(&[
                "redact",
                "drop",
                "partial(last: 4)",
                "partial(first: 2, last: 2)",
                "hash(salt: \"s\")",
                "tokenize(key: \"k\")",
            ])
            .to_string();
        // String paths of the resource and the context.
        let mut paths: Vec<String> = Vec::new();
        for f in self.s.union_attrs(&env.resource) {
            match f.ty {
                T::Str => paths.push(format!("resource.{}", f.name)),
                T::Rec => paths.push(format!("resource.{}.city", f.name)),
                _ if method == "drop" => paths.push(format!("resource.{}", f.name)),
                _ => {}
            }
        }
        for f in &env.context {
            if f.ty == T::Str {
                paths.push(format!("context.{}", f.name));
            }
        }
        let detectors = self.chance(30) || paths.is_empty();
        let with = if detectors {
            // Detectors mask text: only string paths.
            if method == "drop" {
                paths.retain(|p| {
                    p.starts_with("context.") || p.ends_with(".city") || {
                        let name = p.trim_start_matches("resource.");
                        self.s.union_attrs(&env.resource).iter().any(|f| f.name == name && f.ty == T::Str)
                    }
                });
            }
            paths.push("text".into());
            let d1 = *self.rng.pick(&DETECTORS);
            let d2 = *self.rng.pick(&DETECTORS);
            let using = self.rng.pick(&["redact", "tokenize(key: \"k\")", "hash", "partial(last: 2)"]).to_string();
            format!("{d1}, {d2} using {using}")
        } else {
            method
        };
        let p = self.rng.pick(&paths).clone();
        let _ = write!(out, "  mask {p} with {with}");
        if !scope.is_empty() {
            let _ = write!(out, " on {scope}");
        }
        out.push_str(&self.conditions(&mut env));
        out.push('\n');
        out
    }

    fn limit(&mut self) -> String {
        let mut out = self.annotations(false);
        let (scope, mut env) = self.scope();
        let count = 1 + self.below(5);
        let window = *self.rng.pick(&["1m", "10m", "1h"]);
        // A quarter are budgets: a sum of an Int or Decimal expression
        // (possibly negative at run time: an error that denies), or a
        // count of distinct values.
        // A measure reads the request alone: no flow condition in it.
        let request_only = Env { flows: false, ..env.clone() };
        let measure = if self.chance(25) {
            match self.below(3) {
                0 => Some((
                    format!("sum({})", self.value(&T::Int, &request_only, 1)),
                    format!("{}", 1 + self.below(200)),
                )),
                1 => {
                    Some((format!("sum({})", self.value(&T::Dec, &request_only, 1)), format!("{}.50", self.below(300))))
                }
                _ => {
                    let what = *self.rng.pick(&["resource", "principal", "action"]);
                    Some((format!("distinct({what})"), count.to_string()))
                }
            }
        } else {
            None
        };
        match &measure {
            Some((m, budget)) => {
                let _ = write!(out, "  limit {scope} {m} to {budget} per {window}");
            }
            None => {
                let _ = write!(out, "  limit {scope} to {count} per {window}");
                if self.chance(40) {
                    let _ = write!(out, " burst {}", 1 + self.below(3));
                }
            }
        }
        if self.chance(60) {
            let mut keys = vec!["principal".to_string(), "resource".to_string(), "action".to_string()];
            for f in &env.context {
                if !f.optional && matches!(f.ty, T::Str | T::Int | T::Level | T::Ip | T::Ent(_)) {
                    keys.push(format!("context.{}", f.name));
                }
            }
            for f in self.s.union_attrs(&env.principal) {
                if !f.optional && matches!(f.ty, T::Ent(_) | T::Str) {
                    keys.push(format!("principal.{}", f.name));
                }
            }
            let a = self.rng.pick(&keys).clone();
            let b = self.rng.pick(&keys).clone();
            if a == b || self.chance(50) {
                let _ = write!(out, " per {a}");
            } else {
                let _ = write!(out, " per {a}, {b}");
            }
        }
        out.push_str(&self.conditions(&mut env));
        if self.chance(30) {
            let _ = write!(out, " fail {}", self.rng.pick(&["open", "closed"]));
        }
        out.push('\n');
        out
    }

    // ─────────── data ───────────

    fn json_value(&mut self, t: &T) -> Json {
        match t {
            T::Bool => Json::Bool(self.chance(50)),
            T::Int => json!(*self.rng.pick(&[0i64, 1, 2, 5, 7, 42, 100, -1, i64::MAX, i64::MIN, i64::MAX - 1, 3])),
            T::Dec => {
                if self.chance(20) {
                    json!(1.5)
                } else {
                    Json::String(
                        (*self.rng.pick(&["0.5", "12.5", "100.0", "-3.25", "922337203685477.5807", "10000.0001", "7"]))
                            .into(),
                    )
                }
            }
            T::Str => Json::String((*self.rng.pick(&STRINGS)).into()),
            T::Time => {
                if self.chance(20) {
                    json!(NOON - 3_600_000)
                } else {
                    Json::String((*self.rng.pick(&TIMES)).into())
                }
            }
            T::Dur => match self.below(5) {
                0 => json!(60_000),
                1 => json!(i64::MAX),
                _ => Json::String((*self.rng.pick(&DURATIONS)).into()),
            },
            T::Date => Json::String((*self.rng.pick(&DATES)).into()),
            T::Ip => Json::String((*self.rng.pick(&IPS)).into()),
            T::Level => Json::String((*self.rng.pick(&LEVELS)).into()),
            T::Color => Json::String((*self.rng.pick(&COLORS)).into()),
            T::SetStr => {
                let n = self.below(4);
                Json::Array((0..n).map(|_| Json::String((*self.rng.pick(&STRINGS)).into())).collect())
            }
            T::SetEnt(e) => {
                let n = self.below(3);
                Json::Array((0..n).map(|_| self.entity_json(*e)).collect())
            }
            T::Ent(e) => self.entity_json(*e),
            T::Rec => {
                let mut m = serde_json::Map::new();
                m.insert("city".into(), Json::String((*self.rng.pick(&STRINGS)).into()));
                if self.chance(50) {
                    m.insert("zip".into(), Json::String((*self.rng.pick(&STRINGS)).into()));
                }
                Json::Object(m)
            }
            T::SetRec => {
                let n = self.below(3);
                Json::Array((0..n).map(|_| self.json_value(&T::Rec)).collect())
            }
        }
    }

    fn entity_json(&mut self, e: E) -> Json {
        let id = if e == E::Agent && self.s.agent.is_some() && self.chance(20) {
            "bot0"
        } else if self.chance(4) {
            "ghost"
        } else {
            *self.rng.pick(e.ids())
        };
        if self.chance(15) {
            json!({"__entity": {"type": e.name(), "id": id}})
        } else {
            json!({"type": e.name(), "id": id})
        }
    }

    fn record_json(&mut self, fields: &[Field], optional_percent: u64) -> Json {
        let mut m = serde_json::Map::new();
        for f in fields {
            if f.optional && !self.chance(optional_percent) {
                continue;
            }
            let v = self.json_value(&f.ty);
            m.insert(f.name.clone(), v);
        }
        Json::Object(m)
    }

    fn entities(&mut self) -> Json {
        let mut out = Vec::new();
        for e in ALL {
            for id in e.ids() {
                if !self.chance(85) {
                    continue;
                }
                let fields = self.s.attrs[e.index()].clone();
                let attrs = self.record_json(&fields, 65);
                let mut parents = Vec::new();
                for p in e.parents() {
                    for _ in 0..self.below(3) {
                        let pid = *self.rng.pick(p.ids());
                        // Entity data is acyclic (the store refuses a cycle):
                        // within a type, only an entity listed later is a parent.
                        let position = |x: &str| p.ids().iter().position(|i| *i == x);
                        if *p == e && position(pid) <= position(id) {
                            continue;
                        }
                        parents.push(json!({"type": p.name(), "id": pid}));
                    }
                }
                if self.s.wide && e == E::Team && self.chance(60) {
                    parents.push(json!({"type": "Team", "id": format!("q{}", 60 + self.below(10))}));
                }
                let mut entity = json!({"uid": {"type": e.name(), "id": id}, "attrs": attrs, "parents": parents});
                if let Some(t) = self.s.tags[e.index()].clone()
                    && self.chance(75)
                {
                    let mut tags = serde_json::Map::new();
                    for k in &TAG_KEYS[..3] {
                        if self.chance(50) {
                            tags.insert((*k).to_string(), self.json_value(&t));
                        }
                    }
                    entity["tags"] = Json::Object(tags);
                }
                out.push(entity);
            }
        }
        if self.s.agent.is_some() && self.chance(40) {
            // Data about the declared agent, merged over its declaration.
            let fields: Vec<Field> =
                self.s.attrs[E::Agent.index()].iter().filter(|f| f.name != "owner").take(2).cloned().collect();
            let mut attrs = serde_json::Map::new();
            for f in fields {
                let v = self.json_value(&f.ty);
                attrs.insert(f.name, v);
            }
            out.push(json!({"uid": {"type": "Agent", "id": "bot0"}, "attrs": attrs, "parents": [{"type": "Team", "id": "t1"}]}));
        }
        Json::Array(out)
    }

    fn request(&mut self) -> Json {
        let actions = self.s.actions.clone();
        let a = self.rng.pick(&actions).clone();
        let pt = *self.rng.pick(&a.by);
        let on = self.s.on_types(&a);
        let rt = *self.rng.pick(&on);
        let fields = self.s.context_of(&a);
        let mut context = self.record_json(&fields, 60);
        // Now and then a malformed request: every one must be refused identically.
        let action = match self.below(200) {
            0 => "reads".to_string(),
            1 => "raed".to_string(),
            _ => a.name.to_string(),
        };
        if self.chance(1)
            && let Json::Object(m) = &mut context
        {
            m.insert("c_unknown".into(), json!(1));
        }
        let mut req = json!({
            "principal": self.entity_json(pt),
            "action": action,
            "resource": self.entity_json(rt),
            "context": context,
        });
        if self.chance(15) {
            let n = 1 + self.below(2);
            let chain: Vec<Json> = (0..n)
                .map(|_| {
                    let t = *self.rng.pick(&a.by);
                    self.entity_json(t)
                })
                .collect();
            req["on_behalf_of"] = Json::Array(chain);
        }
        match self.below(3) {
            0 => req["session"] = json!("s1"),
            1 => req["session"] = json!("s2"),
            _ => {}
        }
        req
    }
}

// ───────────────────────── the agreement check ─────────────────────────

/// What a case produced.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub requests: usize,
    pub allow: usize,
    pub deny: usize,
    pub approval: usize,
    /// Requests refused before evaluation (malformed).
    pub refused: usize,
    /// Decisions that carried evaluation errors.
    pub with_errors: usize,
    pub with_masks: usize,
    pub with_limits: usize,
    pub with_shadow: usize,
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        self.requests += o.requests;
        self.allow += o.allow;
        self.deny += o.deny;
        self.approval += o.approval;
        self.refused += o.refused;
        self.with_errors += o.with_errors;
        self.with_masks += o.with_masks;
        self.with_limits += o.with_limits;
        self.with_shadow += o.with_shadow;
    }
}

/// Why a case did not pass.
#[derive(Debug)]
pub enum Failure {
    /// The generator wrote a program that does not compile (a generator bug).
    Compile(String),
    /// The generator wrote entity data the store refuses (a generator bug).
    Entities(String),
    /// The JIT could not compile the program.
    NoJit(String),
    /// The backends disagree, or a decision breaks an invariant.
    Disagree(String),
}

pub fn compile(source: &str) -> Result<Arc<ward_compiler::ir::Program>, String> {
    let mut set = SourceSet::default();
    set.add("gen.ward", source);
    set.add_stdlib();
    match ward_compiler::compile(&set, &Options::default()) {
        Ok((c, _)) => Ok(Arc::new(c.program)),
        Err(diags) => Err(diags
            .iter()
            .filter(|d| d.severity == ward_compiler::Severity::Error)
            .map(|d| format!("{} {}: {}", d.code, d.message, span_text(source, d)))
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

fn span_text(source: &str, d: &ward_compiler::Diagnostic) -> String {
    let s = d.primary.span;
    source.get(s.start as usize..s.end as usize).unwrap_or("").to_string()
}

/// Runs every request of `case` through an interpreter engine and a JIT
/// engine over the same program and entities, and compares the decisions.
pub fn check(case: &Case) -> Result<Tally, Failure> {
    check_linked(case, &serde_json::Value::Array(Vec::new()))
}

/// [`check`], with `links` (Cedar's template-linked JSON) for the program's templates.
pub fn check_linked(case: &Case, links: &serde_json::Value) -> Result<Tally, Failure> {
    let program = compile(&case.source).map_err(Failure::Compile)?;
    let links =
        Arc::new(ward_runtime::links::Links::from_json(&program, links).map_err(|e| Failure::Entities(e.to_string()))?);
    let load = |jit: bool| -> Result<Loaded, Failure> {
        let store = Store::load(Arc::clone(&program), &case.entities).map_err(|e| Failure::Entities(e.to_string()))?;
        let loaded = Loaded::new(Arc::clone(&program), store, jit);
        if links.is_empty() {
            return Ok(loaded);
        }
        loaded.with_links(Arc::clone(&links)).map_err(Failure::Entities)
    };
    let jit_loaded = load(true)?;
    if let Some(e) = &jit_loaded.jit_error {
        return Err(Failure::NoJit(e.clone()));
    }
    let interp = Engine::new(load(false)?, Arc::new(FixedClock::new(NOON)), Backend::Interpreter);
    let jit = Engine::new(jit_loaded, Arc::new(FixedClock::new(NOON)), Backend::Jit);
    // The full decision procedure, without the engine's allocation-free fast path.
    let reference = Engine::new(load(true)?, Arc::new(FixedClock::new(NOON)), Backend::Jit).without_fast_path();
    if jit.backend() != Backend::Jit {
        return Err(Failure::NoJit("the engine fell back to the interpreter".into()));
    }
    let mut tally = Tally::default();
    for (i, (now, json)) in case.requests.iter().enumerate() {
        tally.requests += 1;
        let request = match Request::from_json(json) {
            Ok(r) => r,
            Err(_) => {
                tally.refused += 1;
                continue;
            }
        };
        let a = interp.decide_at(&request, *now);
        let b = jit.decide_at(&request, *now);
        let c = reference.decide_at(&request, *now);
        if a != b || b != c {
            return Err(Failure::Disagree(format!(
                "request #{i} at {now}: {}\ninterpreter: {}\njit:         {}\nreference:   {}",
                json,
                a.to_json(),
                b.to_json(),
                c.to_json()
            )));
        }
        invariants(&a)
            .map_err(|e| Failure::Disagree(format!("request #{i}: {json}\n{e}\ndecision: {}", a.to_json())))?;
        match a.effect {
            Effect::Allow => tally.allow += 1,
            Effect::Deny => tally.deny += 1,
            Effect::ApprovalRequired => tally.approval += 1,
        }
        if a.reasons.iter().any(|r| r.clause.starts_with("the request was refused")) {
            tally.refused += 1;
        }
        tally.with_errors += usize::from(!a.errors.is_empty());
        tally.with_masks += usize::from(!a.masks.is_empty());
        tally.with_limits += usize::from(!a.limits.is_empty());
        tally.with_shadow += usize::from(!a.shadow.is_empty());
    }
    Ok(tally)
}

/// Entity updates without recompiling: engines built on other entities
/// (a third of the case's entities missing, another third with their
/// parents cut, so literals, ancestors and attributes all differ), then
/// brought to the case's entities by `Engine::update_entities` (JIT) and by
/// `Engine::set_entities` (interpreter and JIT), decide every request as
/// engines freshly built on the resulting entity list. Returns how many
/// requests were compared.
pub fn check_entity_updates(case: &Case) -> Result<usize, Failure> {
    let program = compile(&case.source).map_err(Failure::Compile)?;
    let items = case.entities.as_array().cloned().unwrap_or_default();
    let mut before = Vec::new();
    let mut patch = ward_runtime::EntityPatch::new();
    let mut readded = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match i % 3 {
            0 => {
                patch = patch.upsert(item.clone());
                readded.push(item.clone());
            }
            1 => {
                let mut cut = item.clone();
                cut["parents"] = json!([]);
                before.push(cut);
                patch = patch.upsert(item.clone());
            }
            _ => before.push(item.clone()),
        }
    }
    // A patch keeps an updated entity in its place and appends new ones.
    let after: Vec<Json> =
        items.iter().enumerate().filter(|(i, _)| i % 3 != 0).map(|(_, e)| e.clone()).chain(readded).collect();
    let engine = |entities: &[Json], backend: Backend| -> Result<Engine, Failure> {
        let store = Store::load(Arc::clone(&program), &Json::Array(entities.to_vec()))
            .map_err(|e| Failure::Entities(e.to_string()))?;
        let loaded = Loaded::new(Arc::clone(&program), store, backend == Backend::Jit);
        if backend == Backend::Jit && loaded.jit.is_none() {
            return Err(Failure::NoJit(loaded.jit_error.clone().unwrap_or_default()));
        }
        Ok(Engine::new(loaded, Arc::new(FixedClock::new(NOON)), backend))
    };
    let fresh_jit = engine(&after, Backend::Jit)?;
    let fresh_interp = engine(&after, Backend::Interpreter)?;
    let patched = engine(&before, Backend::Jit)?;
    let code = Arc::as_ptr(patched.loaded().jit.as_ref().ok_or_else(|| Failure::NoJit("no JIT".into()))?);
    patched.update_entities(&patch).map_err(|e| Failure::Disagree(format!("the patch was refused: {e}")))?;
    let swapped_interp = engine(&before, Backend::Interpreter)?;
    swapped_interp.set_entities(&Json::Array(after.clone())).map_err(|e| Failure::Disagree(format!("refused: {e}")))?;
    let swapped_jit = engine(&[], Backend::Jit)?;
    swapped_jit.set_entities(&Json::Array(after.clone())).map_err(|e| Failure::Disagree(format!("refused: {e}")))?;
    let same_code = patched.loaded().jit.as_ref().is_some_and(|j| Arc::as_ptr(j) == code);
    if !same_code || patched.backend() != Backend::Jit || swapped_jit.backend() != Backend::Jit {
        return Err(Failure::Disagree("the update did not keep the native code".into()));
    }
    let mut compared = 0;
    for (i, (now, json)) in case.requests.iter().enumerate() {
        let Ok(request) = Request::from_json(json) else { continue };
        compared += 1;
        let expected = fresh_jit.decide_at(&request, *now);
        let reference = fresh_interp.decide_at(&request, *now);
        let got = [
            ("patched (jit)", patched.decide_at(&request, *now)),
            ("swapped (interpreter)", swapped_interp.decide_at(&request, *now)),
            ("swapped (jit)", swapped_jit.decide_at(&request, *now)),
        ];
        if expected != reference {
            return Err(Failure::Disagree(format!(
                "request #{i}: {json}\nfresh jit: {}\nfresh interpreter: {}",
                expected.to_json(),
                reference.to_json()
            )));
        }
        if let Some((what, d)) = got.iter().find(|(_, d)| *d != expected) {
            return Err(Failure::Disagree(format!(
                "request #{i} at {now}: {json}\nfresh:   {}\n{what}: {}",
                expected.to_json(),
                d.to_json()
            )));
        }
    }
    Ok(compared)
}

/// Properties every decision has, whatever the policy (docs/language.md §12).
fn invariants(d: &Decision) -> Result<(), String> {
    let refused = d.reasons.iter().any(|r| r.clause.starts_with("the request was refused"));
    let approval = d.obligations.iter().any(|o| o.name == "require_approval" && !o.advice);
    if refused && d.effect != Effect::Deny {
        return Err("a refused request was not denied".into());
    }
    if d.effect == Effect::Allow && d.reasons.iter().any(|r| r.rule.is_none()) {
        return Err("an allow carries a reason that is not a rule (default deny, lifecycle, refusal)".into());
    }
    if d.effect == Effect::Allow && approval {
        return Err("an allow carries a require_approval obligation".into());
    }
    if d.effect == Effect::ApprovalRequired && !approval {
        return Err("approval_required without a require_approval obligation saying who".into());
    }
    if d.effect != Effect::Deny && d.limits.iter().any(|l| l.retry_after_ms.is_some()) {
        return Err("a refused rate limit did not deny".into());
    }
    if d.effect == Effect::Deny && !d.masks.is_empty() {
        return Err("a deny carries masks".into());
    }
    // A well-typed program meets only the errors its data can cause: an
    // absent attribute (an entity the store lacks), an overflow, a
    // structured string outside its syntax (`email_domains()` of "alpha"),
    // or a budget's negative amount.
    // Anything else means the checker accepted what the runtime cannot
    // evaluate (issue 17: a record literal in a set), on both backends alike.
    const PARSERS: [&str; 5] =
        ["`email_addresses()`: ", "`email_domains()`: ", "`url_host()`: ", "`url_scheme()`: ", "`normalized_path()`: "];
    // A budget's amount that is negative at run time (data, not types).
    let negative_amount = |m: &str| m.starts_with("limit: its amount ") && m.ends_with(" is negative");
    let unexpected = |e: &&ward_runtime::decision::EvalErrorOut| {
        e.rule.is_some()
            && !e.message.contains(" is absent on ")
            && !e.message.ends_with("overflowed")
            && !PARSERS.iter().any(|p| e.message.starts_with(p))
            && !negative_amount(&e.message)
    };
    if d.effect != Effect::Deny && d.errors.iter().any(|e| e.message.starts_with("limit: ")) {
        return Err("a budget whose amount or value could not be used did not deny".into());
    }
    if let Some(e) = d.errors.iter().find(unexpected) {
        return Err(format!("an evaluation error a well-typed program must not meet: {}", e.message));
    }
    Ok(())
}
