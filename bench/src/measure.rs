//! Per-request latency samples, for medians and tails.
//!
//! criterion reports the mean time of an iteration; a p99 needs the time of
//! each request. Each decision is timed on its own with [`Instant`], the
//! requests cycled in their fixed order, and the timer's own cost (the
//! median of timing nothing) subtracted.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Latency statistics over per-request samples, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub median_ns: f64,
    pub p99_ns: f64,
    pub mean_ns: f64,
    pub samples: usize,
}

impl Stats {
    /// Statistics of `samples` (nanoseconds; sorted here).
    pub fn of(mut samples: Vec<f64>) -> Stats {
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        let at = |q: f64| -> f64 {
            if n == 0 {
                return f64::NAN;
            }
            let k = ((n as f64 - 1.0) * q).round() as usize;
            samples.get(k.min(n - 1)).copied().unwrap_or(f64::NAN)
        };
        let mean = if n == 0 { f64::NAN } else { samples.iter().sum::<f64>() / n as f64 };
        Stats { median_ns: at(0.5), p99_ns: at(0.99), mean_ns: mean, samples: n }
    }
}

/// The median cost of `Instant::now()` + `elapsed()` around nothing.
pub fn timer_overhead_ns() -> f64 {
    let samples: Vec<f64> = (0..20_000)
        .map(|_| {
            let t = Instant::now();
            black_box(());
            t.elapsed().as_nanos() as f64
        })
        .collect();
    Stats::of(samples).median_ns
}

/// Times `decide(i)` for the requests `0..count`, cycled, for about `budget`
/// (at least `min_rounds` passes over all requests) after one warm-up pass.
/// Returns one sample per decision, the timer's overhead subtracted.
pub fn per_request(
    mut decide: impl FnMut(usize) -> bool,
    count: usize,
    budget: Duration,
    min_rounds: usize,
    overhead_ns: f64,
) -> Vec<f64> {
    if count == 0 {
        return Vec::new();
    }
    for i in 0..count {
        black_box(decide(black_box(i)));
    }
    let mut samples = Vec::new();
    let start = Instant::now();
    let mut rounds = 0;
    while rounds < min_rounds || start.elapsed() < budget {
        for i in 0..count {
            let t = Instant::now();
            black_box(decide(black_box(i)));
            let ns = t.elapsed().as_nanos() as f64;
            samples.push((ns - overhead_ns).max(0.0));
        }
        rounds += 1;
    }
    samples
}

/// Times `decide(i)` for the visits `0..count` of a cold set (see
/// [`crate::cold`]), in order, for about `budget` (at least one pass). No
/// warm-up pass: a pass over a cold set leaves nothing warm for the next.
/// Returns one sample per decision, the timer's overhead subtracted.
pub fn per_visit(mut decide: impl FnMut(usize) -> bool, count: usize, budget: Duration, overhead_ns: f64) -> Vec<f64> {
    let mut samples = Vec::with_capacity(count);
    if count == 0 {
        return samples;
    }
    let start = Instant::now();
    loop {
        for i in 0..count {
            let t = Instant::now();
            black_box(decide(black_box(i)));
            let ns = t.elapsed().as_nanos() as f64;
            samples.push((ns - overhead_ns).max(0.0));
        }
        if start.elapsed() >= budget {
            return samples;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_known_sample() {
        let s = Stats::of((1..=100).rev().map(f64::from).collect());
        assert_eq!(s.samples, 100);
        assert_eq!(s.median_ns, 51.0);
        assert_eq!(s.p99_ns, 99.0);
        assert!((s.mean_ns - 50.5).abs() < 1e-9);
        assert!(Stats::of(Vec::new()).median_ns.is_nan());
    }

    #[test]
    fn every_request_is_sampled_each_round() {
        let mut seen = vec![0usize; 7];
        let samples = per_request(
            |i| {
                if let Some(s) = seen.get_mut(i) {
                    *s += 1;
                }
                true
            },
            7,
            Duration::ZERO,
            3,
            0.0,
        );
        assert_eq!(samples.len(), 21);
        assert!(seen.iter().all(|&n| n == 4), "{seen:?}"); // warm-up + 3 rounds
    }

    #[test]
    fn a_cold_pass_visits_each_slot_once_without_warm_up() {
        let mut seen = vec![0usize; 9];
        let samples = per_visit(
            |i| {
                if let Some(s) = seen.get_mut(i) {
                    *s += 1;
                }
                true
            },
            9,
            Duration::ZERO,
            0.0,
        );
        assert_eq!(samples.len(), 9);
        assert!(seen.iter().all(|&n| n == 1), "{seen:?}");
    }
}
