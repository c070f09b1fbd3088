//! A fixed-bucket histogram that many threads record into without a lock, for
//! the host's `/metrics` (the Prometheus histogram type).

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts observations into buckets with fixed upper bounds, plus their sum.
/// Recording is a few relaxed atomic additions, cheap enough for every batch or
/// request.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One counter per bound, then one for everything above the last bound.
    buckets: Vec<AtomicU64>,
    /// The sum of every observation, in millionths of the unit.
    sum_micros: AtomicU64,
}

/// What a [`Histogram`] holds at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Each bucket's upper bound with the number of observations at or below it
    /// (cumulative, as Prometheus wants it).
    pub cumulative: Vec<(f64, u64)>,
    /// Every observation, including those above the last bound.
    pub count: u64,
    /// The sum of every observation.
    pub sum: f64,
}

impl Histogram {
    /// A histogram with these upper bounds, which must be increasing.
    pub fn new(bounds: &'static [f64]) -> Histogram {
        debug_assert!(
            bounds.windows(2).all(|w| w[0] < w[1]),
            "bounds must increase"
        );
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one observation (negative values count as zero).
    pub fn observe(&self, value: f64) {
        let value = value.max(0.0);
        let bucket = self
            .bounds
            .iter()
            .position(|&bound| value <= bound)
            .unwrap_or(self.bounds.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((value * 1e6).round() as u64, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0;
        let cumulative = self
            .bounds
            .iter()
            .zip(&self.buckets)
            .map(|(&bound, bucket)| {
                running += bucket.load(Ordering::Relaxed);
                (bound, running)
            })
            .collect();
        let count = running + self.buckets[self.bounds.len()].load(Ordering::Relaxed);
        HistogramSnapshot {
            cumulative,
            count,
            sum: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets_with_their_sum() {
        let histogram = Histogram::new(&[1.0, 10.0]);
        for value in [0.5, 1.0, 3.0, 10.0, 11.0, -2.0] {
            histogram.observe(value);
        }
        assert_eq!(
            histogram.snapshot(),
            HistogramSnapshot {
                cumulative: vec![(1.0, 3), (10.0, 5)],
                count: 6,
                sum: 25.5,
            }
        );
    }
}
