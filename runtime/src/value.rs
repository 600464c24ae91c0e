//! How values are represented at run time.
//!
//! Every value is one 64-bit word whose meaning comes from its static type
//! (known from the IR): booleans are 0/1; integers, decimals (scaled), times,
//! dates and durations are `i64`; strings, IPs, CIDR ranges, sets and records
//! are handles into [`Tables`]; entities are indexes into the entity store;
//! enum values and actions are their indexes. Both backends use exactly this
//! representation, so the JIT and the interpreter differ only in how they
//! compute, never in what the data means.

use std::net::IpAddr;
use std::sync::Arc;

/// A value word.
pub type Raw = u64;

/// Handles at or above this belong to a request's own tables; below it, to
/// the entity store's. (Entity indexes use the same split.)
pub const LOCAL: u64 = 1 << 40;

/// A record: values by field slot, and which fields are present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub slots: Box<[Raw]>,
    pub present: Box<[u64]>,
}

impl Record {
    pub fn new(fields: usize) -> Record {
        Record { slots: vec![0; fields].into_boxed_slice(), present: vec![0; fields.div_ceil(64)].into_boxed_slice() }
    }

    pub fn get(&self, slot: usize) -> Option<Raw> {
        let word = self.present.get(slot / 64)?;
        if word & (1 << (slot % 64)) == 0 {
            return None;
        }
        self.slots.get(slot).copied()
    }

    pub fn set(&mut self, slot: usize, value: Raw) {
        if let (Some(s), Some(word)) = (self.slots.get_mut(slot), self.present.get_mut(slot / 64)) {
            *s = value;
            *word |= 1 << (slot % 64);
        }
    }
}

/// Strings, IPs, CIDR ranges, sets and records, addressed by handle.
///
/// Strings and sets are reference-counted so that a patched entity store
/// starts from a copy of its predecessor's tables at the cost of a pointer
/// per entry, not an allocation per entry ([`crate::Store::patched`]).
#[derive(Debug, Clone, Default)]
pub struct Tables {
    pub strings: Vec<Arc<str>>,
    /// The same strings, to their handles (each string allocated once, shared).
    pub string_ids: crate::hash::FxHashMap<Arc<str>, u64>,
    pub ips: Vec<IpAddr>,
    pub cidrs: Vec<(IpAddr, u8)>,
    /// Sets: their elements' words, sorted and without duplicates.
    pub sets: Vec<Arc<[Raw]>>,
    pub records: Vec<Record>,
    /// Records of earlier requests, cleared, for reuse.
    pub spare: Vec<Record>,
    /// The first handle of these tables (0 for the store, [`LOCAL`] for a request).
    pub base: u64,
}

impl Tables {
    pub fn local() -> Tables {
        Tables { base: LOCAL, ..Tables::default() }
    }

    fn handle(&self, index: usize) -> Raw {
        self.base + index as u64
    }

    /// The id of `s` in these tables, adding it if new.
    pub fn intern(&mut self, s: &str) -> Raw {
        if let Some(id) = self.string_ids.get(s) {
            return *id;
        }
        let id = self.handle(self.strings.len());
        let shared: Arc<str> = s.into();
        self.strings.push(Arc::clone(&shared));
        self.string_ids.insert(shared, id);
        id
    }

    pub fn add_ip(&mut self, ip: IpAddr) -> Raw {
        self.ips.push(ip);
        self.handle(self.ips.len() - 1)
    }

    pub fn add_cidr(&mut self, cidr: (IpAddr, u8)) -> Raw {
        self.cidrs.push(cidr);
        self.handle(self.cidrs.len() - 1)
    }

    pub fn add_set(&mut self, mut elements: Vec<Raw>) -> Raw {
        elements.sort_unstable();
        elements.dedup();
        self.sets.push(elements.into());
        self.handle(self.sets.len() - 1)
    }

    /// Empties the tables for the next request, keeping their memory
    /// (records are kept for [`Tables::take_record`]).
    pub fn clear(&mut self) {
        self.strings.clear();
        // A map's clear rewrites its whole control array even when empty,
        // and most requests intern no string of their own.
        if !self.string_ids.is_empty() {
            self.string_ids.clear();
        }
        self.ips.clear();
        self.cidrs.clear();
        self.sets.clear();
        self.spare.append(&mut self.records);
    }

    /// An empty record of `fields` fields, reusing a cleared one of that size.
    pub fn take_record(&mut self, fields: usize) -> Record {
        match self.spare.iter().rposition(|r| r.slots.len() == fields) {
            Some(i) => {
                let mut r = self.spare.swap_remove(i);
                r.slots.fill(0);
                r.present.fill(0);
                r
            }
            None => Record::new(fields),
        }
    }

    pub fn add_record(&mut self, record: Record) -> Raw {
        self.records.push(record);
        self.handle(self.records.len() - 1)
    }
}

/// Strings computed while evaluating (`lower()`) start at this handle.
pub const SCRATCH: u64 = 2 * LOCAL;

/// The store's tables and a request's, read together.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub store: &'a Tables,
    pub local: &'a Tables,
    /// Strings computed during this evaluation.
    pub scratch: Option<&'a std::cell::RefCell<Vec<Box<str>>>>,
}

impl<'a> View<'a> {
    fn pick(&self, handle: Raw) -> (&'a Tables, usize) {
        if handle >= LOCAL { (self.local, (handle - LOCAL) as usize) } else { (self.store, handle as usize) }
    }

    pub fn string(&self, handle: Raw) -> std::borrow::Cow<'a, str> {
        if handle >= SCRATCH {
            let s = self.scratch.and_then(|s| s.borrow().get((handle - SCRATCH) as usize).map(|s| s.to_string()));
            return std::borrow::Cow::Owned(s.unwrap_or_default());
        }
        let (t, i) = self.pick(handle);
        std::borrow::Cow::Borrowed(t.strings.get(i).map_or("", |s| &**s))
    }

    /// The handle of a computed string: an existing one if the string is
    /// already known (so that equality by handle stays exact), else a new
    /// scratch entry.
    pub fn computed_string(&self, s: &str) -> Raw {
        if let Some(h) = self.find_string(s) {
            return h;
        }
        let Some(scratch) = self.scratch else { return Raw::MAX };
        let mut list = scratch.borrow_mut();
        if let Some(i) = list.iter().position(|x| &**x == s) {
            return SCRATCH + i as u64;
        }
        list.push(s.into());
        SCRATCH + (list.len() - 1) as u64
    }

    pub fn ip(&self, handle: Raw) -> Option<IpAddr> {
        let (t, i) = self.pick(handle);
        t.ips.get(i).copied()
    }

    pub fn cidr(&self, handle: Raw) -> Option<(IpAddr, u8)> {
        let (t, i) = self.pick(handle);
        t.cidrs.get(i).copied()
    }

    pub fn set(&self, handle: Raw) -> &'a [Raw] {
        let (t, i) = self.pick(handle);
        t.sets.get(i).map_or(&[], |s| &**s)
    }

    pub fn record(&self, handle: Raw) -> Option<&'a Record> {
        let (t, i) = self.pick(handle);
        t.records.get(i)
    }

    /// The id a string has in these tables, if any (strings are compared by id).
    pub fn find_string(&self, s: &str) -> Option<Raw> {
        self.store.string_ids.get(s).or_else(|| self.local.string_ids.get(s)).copied()
    }
}

/// Whether `ip` lies in the range `(network, prefix)`.
pub fn ip_in_cidr(ip: IpAddr, (network, prefix): (IpAddr, u8)) -> bool {
    match (ip, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix.min(128))) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_track_presence() {
        let mut r = Record::new(70);
        assert_eq!(r.get(65), None);
        r.set(65, 7);
        assert_eq!(r.get(65), Some(7));
        assert_eq!(r.get(64), None);
    }

    #[test]
    fn cidr_membership() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        assert!(ip_in_cidr(ip("10.1.2.3"), (ip("10.0.0.0"), 8)));
        assert!(!ip_in_cidr(ip("11.1.2.3"), (ip("10.0.0.0"), 8)));
        assert!(ip_in_cidr(ip("2001:db8::1"), (ip("2001:db8::"), 32)));
        assert!(ip_in_cidr(ip("1.2.3.4"), (ip("0.0.0.0"), 0)));
    }

    #[test]
    fn strings_are_interned_once_across_views() {
        let mut store = Tables::default();
        let a = store.intern("a");
        let mut local = Tables::local();
        let b = local.intern("b");
        let view = View { store: &store, local: &local, scratch: None };
        assert_eq!(view.string(a), "a");
        assert_eq!(view.string(b), "b");
        assert!(b >= LOCAL);
        assert_eq!(view.find_string("a"), Some(a));
    }
}
