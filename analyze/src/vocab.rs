//! The vocabulary shared by the programs one query compares: entity types,
//! enum values, actions and entity literals are matched **by name**, so
//! that an old and a new version of a policy set (compiled separately, with
//! their own numbering) speak about the same requests and entities.

use std::collections::{BTreeSet, HashMap};

use ward_compiler::ir::{Program, Ty};

/// Names across programs, each with a global index.
#[derive(Debug, Clone, Default)]
pub struct Vocab {
    pub types: Vec<String>,
    type_index: HashMap<String, u32>,
    /// Each enum's values: the first program's in order, then values only
    /// later programs declare.
    pub enums: Vec<(String, Vec<String>)>,
    enum_index: HashMap<String, u32>,
    pub actions: Vec<String>,
    action_index: HashMap<String, u32>,
    /// Entity literals: `(global type, id)`; literal `k` is the entity value `-(k+1)`.
    pub literals: Vec<(u32, String)>,
    literal_index: HashMap<(u32, String), u32>,
    /// Parent edges (child type → parent types) that every program allows;
    /// entity data in a counterexample only uses these.
    pub parents: Vec<Vec<u32>>,
    /// The transitive closure of [`Vocab::parents`].
    pub ancestors: Vec<BTreeSet<u32>>,
    /// Whether the programs declare different hierarchies (then edges only
    /// some allow are not explored).
    pub hierarchy_differs: bool,
}

/// One program's view of the vocabulary: its indexes → global ones.
#[derive(Debug, Clone)]
pub struct View {
    pub types: Vec<u32>,
    pub enums: Vec<u32>,
    /// Per local enum, per local value: the global value index.
    pub enum_values: Vec<Vec<u32>>,
    pub actions: Vec<u32>,
    pub literals: Vec<u32>,
}

impl Vocab {
    pub fn new(programs: &[&Program]) -> Vocab {
        let mut v = Vocab::default();
        for p in programs {
            for t in &p.entity_types {
                v.type_id(&t.name);
            }
            for e in &p.enums {
                let id = match v.enum_index.get(&e.name) {
                    Some(i) => *i,
                    None => {
                        let i = v.enums.len() as u32;
                        v.enums.push((e.name.clone(), Vec::new()));
                        v.enum_index.insert(e.name.clone(), i);
                        i
                    }
                };
                if let Some((_, values)) = v.enums.get_mut(id as usize) {
                    for val in &e.variants {
                        if !values.contains(val) {
                            values.push(val.clone());
                        }
                    }
                }
            }
            for a in &p.actions {
                if !v.action_index.contains_key(&a.name) {
                    v.action_index.insert(a.name.clone(), v.actions.len() as u32);
                    v.actions.push(a.name.clone());
                }
            }
        }
        for p in programs {
            for (t, id) in &p.entity_literals {
                let Some(name) = p.entity_types.get(*t as usize).map(|x| x.name.clone()) else { continue };
                let g = v.type_id(&name);
                v.literal(g, id);
            }
        }
        // Parent edges every program that knows both types allows.
        let n = v.types.len();
        let mut parents = vec![Vec::new(); n];
        let mut differs = false;
        for (child, child_name) in v.types.iter().enumerate() {
            for (parent, parent_name) in v.types.iter().enumerate() {
                let mut allowed_by_all = true;
                let mut allowed_by_some = false;
                for p in programs {
                    let c = p.entity_types.iter().position(|t| &t.name == child_name);
                    let q = p.entity_types.iter().position(|t| &t.name == parent_name);
                    match (c, q) {
                        (Some(c), Some(q)) => {
                            let ok = p.entity_types.get(c).is_some_and(|t| t.parents.contains(&(q as u32)));
                            allowed_by_all &= ok;
                            allowed_by_some |= ok;
                        }
                        _ => allowed_by_all = false,
                    }
                }
                if allowed_by_all {
                    if let Some(list) = parents.get_mut(child) {
                        list.push(parent as u32);
                    }
                } else if allowed_by_some {
                    differs = true;
                }
            }
        }
        let mut ancestors = vec![BTreeSet::new(); n];
        for (start, set) in ancestors.iter_mut().enumerate() {
            let mut stack: Vec<u32> = parents.get(start).cloned().unwrap_or_default();
            while let Some(t) = stack.pop() {
                if set.insert(t) {
                    stack.extend(parents.get(t as usize).into_iter().flatten().copied());
                }
            }
        }
        v.parents = parents;
        v.ancestors = ancestors;
        v.hierarchy_differs = differs;
        v
    }

    fn type_id(&mut self, name: &str) -> u32 {
        if let Some(i) = self.type_index.get(name) {
            return *i;
        }
        let i = self.types.len() as u32;
        self.types.push(name.to_string());
        self.type_index.insert(name.to_string(), i);
        i
    }

    fn literal(&mut self, ty: u32, id: &str) -> u32 {
        let key = (ty, id.to_string());
        if let Some(i) = self.literal_index.get(&key) {
            return *i;
        }
        let i = self.literals.len() as u32;
        self.literals.push(key.clone());
        self.literal_index.insert(key, i);
        i
    }

    pub fn type_named(&self, name: &str) -> Option<u32> {
        self.type_index.get(name).copied()
    }

    pub fn action_named(&self, name: &str) -> Option<u32> {
        self.action_index.get(name).copied()
    }

    pub fn enum_named(&self, name: &str) -> Option<u32> {
        self.enum_index.get(name).copied()
    }

    pub fn type_name(&self, t: u32) -> &str {
        self.types.get(t as usize).map_or("?", String::as_str)
    }

    /// The entity value of literal `k`.
    pub fn literal_value(k: u32) -> i128 {
        -(i128::from(k) + 1)
    }

    /// The literal an entity value stands for, if it is one.
    pub fn literal_of(&self, value: i128) -> Option<&(u32, String)> {
        if value >= 0 {
            return None;
        }
        let k = usize::try_from(-value - 1).ok()?;
        self.literals.get(k)
    }

    /// One program's indexes mapped to the global ones.
    pub fn view(&self, p: &Program) -> View {
        let types = p.entity_types.iter().map(|t| self.type_named(&t.name).unwrap_or(u32::MAX)).collect();
        let enums: Vec<u32> = p.enums.iter().map(|e| self.enum_named(&e.name).unwrap_or(u32::MAX)).collect();
        let enum_values = p
            .enums
            .iter()
            .zip(&enums)
            .map(|(e, g)| {
                let global = self.enums.get(*g as usize).map(|(_, v)| v.as_slice()).unwrap_or(&[]);
                e.variants.iter().map(|v| global.iter().position(|x| x == v).unwrap_or(0) as u32).collect()
            })
            .collect();
        let actions = p.actions.iter().map(|a| self.action_named(&a.name).unwrap_or(u32::MAX)).collect();
        let literals = p
            .entity_literals
            .iter()
            .map(|(t, id)| {
                let g = p.entity_types.get(*t as usize).and_then(|x| self.type_named(&x.name)).unwrap_or(u32::MAX);
                self.literal_index.get(&(g, id.clone())).copied().unwrap_or(u32::MAX)
            })
            .collect();
        View { types, enums, enum_values, actions, literals }
    }

    /// A type's signature in global names: the key under which programs
    /// share an attribute or a context field (same name, same signature).
    pub fn sig(&self, p: &Program, ty: &Ty) -> String {
        match ty {
            Ty::Bool => "B".into(),
            Ty::Int => "I".into(),
            Ty::Decimal => "Dec".into(),
            Ty::String => "S".into(),
            Ty::Time => "T".into(),
            Ty::Date => "Date".into(),
            Ty::Duration => "Dur".into(),
            Ty::Ip => "Ip".into(),
            Ty::Cidr => "Cidr".into(),
            Ty::Action => "Act".into(),
            Ty::Unknown => "U".into(),
            Ty::Entity(ts) => {
                let mut names: Vec<&str> =
                    ts.iter().filter_map(|t| p.entity_types.get(*t as usize)).map(|t| t.name.as_str()).collect();
                names.sort_unstable();
                format!("E({})", names.join("|"))
            }
            Ty::Enum(e) => format!("N({})", p.enums.get(*e as usize).map_or("?", |x| x.name.as_str())),
            Ty::Set(t) => format!("Set({})", self.sig(p, t)),
            Ty::Record(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|f| format!("{}{}:{}", f.name, if f.optional { "?" } else { "" }, self.sig(p, &f.ty)))
                    .collect();
                format!("R{{{}}}", parts.join(","))
            }
        }
    }
}
