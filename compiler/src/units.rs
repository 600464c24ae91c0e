//! Units: the pieces of a file that are checked independently — each
//! top-level item, and each member (rule, mask, limit) of a policy.
//!
//! Each unit is stored *relocated*: every span in it is replaced by its
//! ordinal (`start == end == n`, in the fixed pre-order of
//! [`ward_grammar::visit`]) and the real spans are kept in a side table. A
//! unit whose text merely moved, or whose whitespace changed, is therefore
//! equal to its previous version, salsa backdates it, and nothing derived
//! from it is recomputed. Diagnostics point at ordinals; [`span_of`] turns
//! them back into real spans at the very end.

use std::collections::HashMap;
use std::sync::Arc;

use ward_grammar::ast::*;
use ward_grammar::visit::VisitSpans;
use ward_grammar::{Parse, Span};

use crate::db::SourceFile;

/// Which unit of a file: a top-level item, or a member of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitKey {
    pub item: u32,
    /// [`UnitKey::WHOLE`] for the item itself; otherwise the member's index.
    pub member: u32,
}

impl UnitKey {
    pub const WHOLE: u32 = u32::MAX;

    pub fn item(item: u32) -> UnitKey {
        UnitKey { item, member: UnitKey::WHOLE }
    }
}

/// A relocated unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unit {
    Import(ImportDecl),
    Schema(SchemaDecl),
    Agent(AgentDecl),
    Detector(DetectorDecl),
    Fixture(FixtureDecl),
    Test(TestDecl),
    Assert(AssertDecl),
    /// A policy's header; its members are units of their own.
    Policy {
        annotations: Vec<Annotation>,
        name: Ident,
        members: u32,
    },
    /// A rule, mask or limit of the policy `policy`, at 1-based `position`.
    Member {
        policy: String,
        position: u32,
        item: PolicyItem,
    },
    /// An item that did not parse (its syntax error is reported from the parse).
    Error,
}

/// A file split into relocated units, with each unit's real spans.
#[derive(Debug, Default)]
pub struct RelocatedFile {
    /// In file order (see [`file_order`]).
    pub units: Vec<(UnitKey, Arc<Unit>)>,
    pub spans: HashMap<UnitKey, Vec<Span>>,
}

#[salsa::tracked(returns(ref), no_eq)]
pub fn parse(db: &dyn salsa::Database, file: SourceFile) -> Parse {
    ward_grammar::parse(file.text(db))
}

/// Replaces every span of `node` by its ordinal; returns the real spans.
fn relocate<T: VisitSpans>(node: &mut T) -> Vec<Span> {
    let mut spans = Vec::new();
    node.visit_spans(&mut |span| {
        let n = u32::try_from(spans.len()).unwrap_or(u32::MAX);
        spans.push(*span);
        *span = Span { start: n, end: n };
    });
    spans
}

#[salsa::tracked(returns(ref), no_eq)]
pub fn relocated(db: &dyn salsa::Database, file: SourceFile) -> RelocatedFile {
    let mut out = RelocatedFile::default();
    for (i, item) in parse(db, file).file.items.iter().enumerate() {
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        let mut push = |key: UnitKey, unit: Unit, spans: Vec<Span>| {
            out.units.push((key, Arc::new(unit)));
            out.spans.insert(key, spans);
        };
        match item.clone() {
            Item::Policy(policy) => {
                let PolicyDecl { annotations, name, items, .. } = policy;
                let mut header = (annotations, name);
                let spans = relocate(&mut header);
                let (annotations, name) = header;
                let members = u32::try_from(items.len()).unwrap_or(u32::MAX);
                push(UnitKey::item(i), Unit::Policy { annotations, name: name.clone(), members }, spans);
                for (j, mut member) in items.into_iter().enumerate() {
                    let j = u32::try_from(j).unwrap_or(u32::MAX);
                    let spans = relocate(&mut member);
                    let unit = Unit::Member { policy: name.name.clone(), position: j + 1, item: member };
                    push(UnitKey { item: i, member: j }, unit, spans);
                }
            }
            mut other => {
                let spans = relocate(&mut other);
                let unit = match other {
                    Item::Import(x) => Unit::Import(x),
                    Item::Schema(x) => Unit::Schema(x),
                    Item::Agent(x) => Unit::Agent(x),
                    Item::Detector(x) => Unit::Detector(x),
                    Item::Fixture(x) => Unit::Fixture(x),
                    Item::Test(x) => Unit::Test(x),
                    Item::Assert(x) => Unit::Assert(x),
                    Item::Policy(_) | Item::Error(_) => Unit::Error,
                };
                push(UnitKey::item(i), unit, spans);
            }
        }
    }
    out
}

/// The units of a file. Changes only when items are added or removed.
#[salsa::tracked(returns(ref))]
pub fn unit_keys(db: &dyn salsa::Database, file: SourceFile) -> Vec<UnitKey> {
    relocated(db, file).units.iter().map(|(key, _)| *key).collect()
}

/// The units of a file by kind, so that a query about the schema (or the
/// imports) depends on those units only, not on every rule of the file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileIndex {
    pub imports: Vec<UnitKey>,
    pub schemas: Vec<UnitKey>,
}

#[salsa::tracked(returns(ref))]
pub fn file_index(db: &dyn salsa::Database, file: SourceFile) -> FileIndex {
    let mut index = FileIndex::default();
    for (key, unit) in &relocated(db, file).units {
        match **unit {
            Unit::Import(_) => index.imports.push(*key),
            Unit::Schema(_) => index.schemas.push(*key),
            _ => {}
        }
    }
    index
}

/// One unit. Equal across edits that do not change it, so queries that read
/// only this unit are not re-run when the rest of the file changes.
#[salsa::tracked(returns(clone))]
pub fn unit(db: &dyn salsa::Database, file: SourceFile, key: UnitKey) -> Option<Arc<Unit>> {
    // A binary search: every unit of a file is looked up once, so a linear
    // search here made checking a file quadratic in its rules.
    let units = &relocated(db, file).units;
    let found = units.binary_search_by_key(&file_order(key), |(k, _)| file_order(*k)).ok()?;
    units.get(found).map(|(_, unit)| Arc::clone(unit))
}

/// The order [`relocated`] lists units in: by item, a policy's header
/// ([`UnitKey::WHOLE`]) before its members.
fn file_order(key: UnitKey) -> (u32, u32) {
    (key.item, key.member.wrapping_add(1))
}

/// A position in a unit: what diagnostics computed from units point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Loc {
    pub file: SourceFile,
    pub unit: UnitKey,
    /// The ordinal of a span of the relocated unit.
    pub ordinal: u32,
}

impl Loc {
    /// The location of `span`, a span taken from the relocated unit `unit`.
    pub fn new(file: SourceFile, unit: UnitKey, span: Span) -> Loc {
        Loc { file, unit, ordinal: span.start }
    }
}

/// The real span of a location, in the current text of its file.
pub fn span_of(db: &dyn salsa::Database, loc: Loc) -> Span {
    relocated(db, loc.file)
        .spans
        .get(&loc.unit)
        .and_then(|spans| spans.get(loc.ordinal as usize))
        .copied()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Database, Origin};

    #[test]
    fn every_unit_is_found_by_its_key() {
        let text = "schema { entity User }\n\
                    policy a { permit principal: User; forbid principal: User; }\n\
                    policy b { permit principal: User; }\n\
                    policy c { }\n\
                    agent bot { owner: \"x\" }\n";
        let db = Database::default();
        let file = SourceFile::new(&db, "a.ward".to_string(), text.to_string(), Origin::User);
        let keys = unit_keys(&db, file);
        assert_eq!(keys.len(), 8, "{keys:?}");
        // The order the binary search relies on.
        assert!(keys.windows(2).all(|w| file_order(w[0]) < file_order(w[1])), "{keys:?}");
        for (key, expected) in &relocated(&db, file).units {
            let found = unit(&db, file, *key).expect("every listed unit is found");
            assert!(Arc::ptr_eq(&found, expected), "{key:?}");
        }
        assert!(unit(&db, file, UnitKey { item: 1, member: 2 }).is_none());
        assert!(unit(&db, file, UnitKey::item(9)).is_none());
    }
}
