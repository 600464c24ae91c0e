//! Cold caches: the same decisions as the warm variants, but over data
//! spread across more memory than the caches hold, visited in a shuffled
//! order, so that a call finds its request (and often its entities) out of
//! cache.
//!
//! A cold set holds [`COPIES`] independently built engines (for Ward: the
//! policy compiled and JIT-compiled again and the entity store loaded again
//! from the JSON; for Cedar: the policy set parsed and the `Entities` built
//! again), and for each copy many *slots*: the workload's requests made
//! again and again — a fresh `PreparedRequest`, JSON `String` or Cedar
//! `Request` per slot, each its own allocation — until the slots alone take
//! at least [`target_bytes`] (counted as a lower bound: the slot's own size,
//! not the heap it points to). One decision visits one (copy, slot) pair of
//! a shuffled list of all of them, so consecutive calls touch unrelated
//! memory and a slot is visited again only after every other one was.
//!
//! What is cold: the request (frame, JSON text or Cedar `Request`) — each
//! is read once per pass over ≥ [`target_bytes`], beyond L2 and L3; the
//! entity store and policy of the copy in use — the copies are visited at
//! random and evicted by the slots between two visits to the same lines,
//! though a copy's hottest lines can survive in L3. What is not: the code
//! of the decision path (Ward's JIT code is per copy, but the runtime's and
//! Cedar's code is shared), the list of visits (read sequentially, which
//! the prefetcher follows) and the branch predictors.

use std::rc::Rc;

use ward_runtime::engine::{Backend, PreparedRequest};
use ward_testkit::SplitMix64 as Rng;

use crate::contenders::{CedarPeer, NOW, WardSide};
use crate::generate::Workload;

/// Engine copies in a cold set.
pub const COPIES: usize = 8;

/// The least a cold set's slots take: 32 MiB, or twice the last-level
/// cache when that is larger (read from sysfs).
pub fn target_bytes() -> u64 {
    let l3 = cache_bytes(3).unwrap_or(0);
    (32u64 << 20).max(2 * l3)
}

/// The size of the level-`level` cache of CPU 0 (data or unified), from
/// `/sys/devices/system/cpu/cpu0/cache/index*/`.
pub fn cache_bytes(level: u32) -> Option<u64> {
    let dir = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
    let mut best = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let read = |f: &str| std::fs::read_to_string(entry.path().join(f)).ok().map(|s| s.trim().to_string());
        if read("level").and_then(|l| l.parse::<u32>().ok()) != Some(level)
            || read("type").as_deref() == Some("Instruction")
        {
            continue;
        }
        best = read("size").and_then(|s| parse_size(&s)).or(best);
    }
    best
}

/// `"1024K"`, `"32M"`, `"512"` → bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((k, _)) => (s.get(..k)?, s.get(k..)?.trim()),
        None => (s, ""),
    };
    let n: u64 = digits.parse().ok()?;
    let scale = match unit {
        "" => 1,
        "K" | "KB" | "KiB" => 1 << 10,
        "M" | "MB" | "MiB" => 1 << 20,
        "G" | "GB" | "GiB" => 1 << 30,
        _ => return None,
    };
    Some(n * scale)
}

/// Engine copies, each with its slots, and the shuffled order of visits.
pub struct Cold<E, X> {
    copies: Vec<(E, Vec<X>)>,
    /// (copy, slot) pairs, every one once, shuffled.
    order: Vec<(u32, u32)>,
    /// The workload's requests: slot `s` holds request `s % requests`.
    requests: usize,
    /// The slots' bytes, counted as a lower bound (`size_of` each, plus
    /// the text of a JSON slot).
    pub slot_bytes: u64,
}

impl<E, X> Cold<E, X> {
    /// Fills each copy with rounds of the workload's `requests` requests
    /// (`make(copy, j)` makes request `j` anew) until the slots take at least
    /// `target` bytes (by `size`), then shuffles the visits.
    pub fn build(
        copies: Vec<E>,
        requests: usize,
        target: u64,
        seed: u64,
        mut make: impl FnMut(&E, usize) -> Result<X, String>,
        size: impl Fn(&X) -> usize,
    ) -> Result<Cold<E, X>, String> {
        if copies.is_empty() || requests == 0 {
            return Err("a cold set needs an engine copy and a request".to_string());
        }
        let mut copies: Vec<(E, Vec<X>)> = copies.into_iter().map(|e| (e, Vec::new())).collect();
        let mut bytes = 0u64;
        while bytes < target {
            for (engine, slots) in &mut copies {
                for j in 0..requests {
                    let x = make(engine, j)?;
                    bytes += size(&x) as u64;
                    slots.push(x);
                }
            }
        }
        let mut order: Vec<(u32, u32)> = Vec::new();
        for (c, (_, slots)) in copies.iter().enumerate() {
            let c = u32::try_from(c).map_err(|_| "too many copies")?;
            for s in 0..slots.len() {
                order.push((c, u32::try_from(s).map_err(|_| "too many slots")?));
            }
        }
        // Fisher–Yates.
        let mut rng = Rng::new(seed);
        for k in (1..order.len()).rev() {
            order.swap(k, rng.below(k + 1));
        }
        Ok(Cold { copies, order, requests, slot_bytes: bytes })
    }

    /// Visits in a pass.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Which of the workload's requests visit `i` decides.
    pub fn request_of(&self, i: usize) -> Option<usize> {
        self.order.get(i).map(|&(_, s)| s as usize % self.requests)
    }

    /// The engine copy and slot of visit `i`.
    pub fn at(&self, i: usize) -> Option<(&E, &X)> {
        let &(c, s) = self.order.get(i)?;
        let (engine, slots) = self.copies.get(c as usize)?;
        Some((engine, slots.get(s as usize)?))
    }
}

/// The cold sets of one workload: Ward's JIT on prepared frames and from
/// JSON text (the two share their engine copies), cedar-policy on prebuilt
/// requests and from JSON text (also sharing theirs).
pub struct ColdContenders {
    pub ward_prepared: Cold<Rc<WardSide>, PreparedRequest>,
    pub ward_json: Cold<Rc<WardSide>, String>,
    pub cedar: Cold<Rc<CedarPeer>, cedar_policy::Request>,
    pub cedar_json: Cold<Rc<CedarPeer>, String>,
}

/// The cold variants, in report order: (name, what it measures).
pub const COLD_VARIANTS: [(&str, &str); 4] = [
    ("cedar-cold", "`cedar` over the cold set: a prebuilt `Request` per slot"),
    ("cedar-json-cold", "`cedar-json` over the cold set: a JSON text per slot, parsed per call"),
    ("ward-jit-prepared-cold", "`ward-jit-prepared` over the cold set: a prepared frame per slot"),
    ("ward-jit-json-cold", "`ward-jit-json` over the cold set: a JSON text per slot, parsed per call"),
];

/// A cold variant's decision function: `f(i)` is the decision of visit
/// `i`, for workload request `request_of(i)`.
pub struct ColdVariant<'a> {
    pub name: &'static str,
    pub len: usize,
    pub request_of: Box<dyn Fn(usize) -> Option<usize> + 'a>,
    pub decide: crate::contenders::Variant<'a>,
}

impl ColdContenders {
    /// [`COPIES`] engine copies per engine, slots of at least `target` bytes
    /// per variant.
    pub fn new(w: &Workload, target: u64) -> Result<ColdContenders, String> {
        let requests = w.requests.len();
        let ward: Vec<Rc<WardSide>> =
            (0..COPIES).map(|_| WardSide::for_workload(w, Backend::Jit).map(Rc::new)).collect::<Result<_, _>>()?;
        let cedar: Vec<Rc<CedarPeer>> =
            (0..COPIES).map(|_| CedarPeer::for_workload(w).map(Rc::new)).collect::<Result<_, _>>()?;
        let text = |j: usize| w.requests.get(j).map(|r| r.json().to_string()).ok_or_else(|| format!("no request {j}"));
        let seed = w.seed ^ 0xC01D;
        let ward_prepared = Cold::build(
            ward.clone(),
            requests,
            target,
            seed,
            |side, j| {
                let r = side.requests.get(j).ok_or_else(|| format!("no request {j}"))?;
                side.engine.prepare(r, NOW).map_err(|e| format!("ward prepare: {e}"))
            },
            |_| size_of::<PreparedRequest>(),
        )?;
        let ward_json = Cold::build(ward, requests, target, seed + 1, |_, j| text(j), json_size)?;
        let cedar_requests = Cold::build(
            cedar.clone(),
            requests,
            target,
            seed + 2,
            |peer, j| peer.request(w.requests.get(j).ok_or_else(|| format!("no request {j}"))?),
            |_| size_of::<cedar_policy::Request>(),
        )?;
        let cedar_json = Cold::build(cedar, requests, target, seed + 3, |_, j| text(j), json_size)?;
        Ok(ColdContenders { ward_prepared, ward_json, cedar: cedar_requests, cedar_json })
    }

    /// The variants of [`COLD_VARIANTS`], in order.
    pub fn variants(&self) -> Vec<ColdVariant<'_>> {
        let ColdContenders { ward_prepared, ward_json, cedar, cedar_json } = self;
        vec![
            ColdVariant {
                name: "cedar-cold",
                len: cedar.len(),
                request_of: Box::new(|i| cedar.request_of(i)),
                decide: Box::new(|i| cedar.at(i).is_some_and(|(peer, r)| peer.allows(r))),
            },
            ColdVariant {
                name: "cedar-json-cold",
                len: cedar_json.len(),
                request_of: Box::new(|i| cedar_json.request_of(i)),
                decide: Box::new(|i| cedar_json.at(i).is_some_and(|(peer, t)| peer.allows_json_text(t))),
            },
            ColdVariant {
                name: "ward-jit-prepared-cold",
                len: ward_prepared.len(),
                request_of: Box::new(|i| ward_prepared.request_of(i)),
                decide: Box::new(|i| {
                    ward_prepared.at(i).is_some_and(|(side, p)| side.engine.verdict_prepared(p).is_allow())
                }),
            },
            ColdVariant {
                name: "ward-jit-json-cold",
                len: ward_json.len(),
                request_of: Box::new(|i| ward_json.request_of(i)),
                decide: Box::new(|i| ward_json.at(i).is_some_and(|(side, t)| side.allows_json_text(t))),
            },
        ]
    }
}

/// A JSON slot's bytes: the `String` and its text.
#[allow(clippy::ptr_arg)] // the slot is a `String`: its own size counts
fn json_size(s: &String) -> usize {
    size_of::<String>() + s.capacity()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1024K"), Some(1 << 20));
        assert_eq!(parse_size("32M"), Some(32 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("x"), None);
        assert!(target_bytes() >= 32 << 20);
    }

    #[test]
    fn every_slot_is_visited_once_per_pass_in_a_shuffled_order() {
        let cold = Cold::build(vec!['a', 'b', 'c'], 5, 200, 7, |e, j| Ok((*e, j)), |_| 4).unwrap();
        // 3 copies × 5 requests × 4 bytes = 60 bytes a round: 4 rounds reach 200.
        assert_eq!(cold.slot_bytes, 240);
        assert_eq!(cold.len(), 60);
        let mut seen: Vec<(char, usize)> = (0..cold.len()).map(|i| *cold.at(i).unwrap().1).collect();
        // Each visit decides the request its slot holds.
        for i in 0..cold.len() {
            assert_eq!(cold.request_of(i), Some(cold.at(i).unwrap().1.1));
        }
        let in_order = seen.clone();
        seen.sort_unstable();
        // Each (copy, request) pair is in 4 slots, each slot visited once.
        for chunk in seen.chunks(4) {
            assert!(chunk.iter().all(|p| *p == chunk[0]), "{chunk:?}");
        }
        seen.dedup();
        assert_eq!(seen.len(), 15);
        let mut sorted = in_order.clone();
        sorted.sort_unstable();
        assert_ne!(in_order, sorted, "the visits are shuffled");
        assert!(cold.at(60).is_none());
        assert!(Cold::build(Vec::<char>::new(), 5, 1, 1, |e, _| Ok(*e), |_| 1).is_err());
    }
}
