//! A fixed-bucket latency histogram: constant memory whatever the traffic, mergeable (a minute's
//! histograms add up to an hour's), and directly exportable as a Prometheus histogram.

/// Upper bounds of the buckets in milliseconds (the last bucket is unbounded). Roughly 1-2-5 per
/// decade up to Lambda's 15-minute timeout, with extra steps where warm invocations live, so
/// percentiles of fast functions are not all "5 ms".
pub const BOUNDS_MS: [f64; 26] = [
    1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 500.0,
    750.0, 1_000.0, 2_000.0, 5_000.0, 10_000.0, 30_000.0, 60_000.0, 120_000.0, 300_000.0,
    900_000.0,
];

/// Number of buckets including the unbounded one.
pub const BUCKETS: usize = BOUNDS_MS.len() + 1;

/// Counts of observations per bucket, plus their exact sum (so the average is exact).
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    counts: [u64; BUCKETS],
    sum_ms: f64,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: [0; BUCKETS],
            sum_ms: 0.0,
            total: 0,
        }
    }
}

impl Histogram {
    pub fn observe(&mut self, ms: f64) {
        let ms = if ms.is_finite() && ms > 0.0 { ms } else { 0.0 };
        let index = BOUNDS_MS.partition_point(|&bound| bound < ms);
        self.counts[index] += 1;
        self.sum_ms += ms;
        self.total += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.sum_ms += other.sum_ms;
        self.total += other.total;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn sum_ms(&self) -> f64 {
        self.sum_ms
    }

    pub fn average_ms(&self) -> Option<f64> {
        (self.total > 0).then(|| self.sum_ms / self.total as f64)
    }

    /// The `q` quantile (0..=1), interpolated linearly inside its bucket. Accurate to the bucket's
    /// width, which is the price of bounded memory; `None` without observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let q = q.clamp(0.0, 1.0);
        let rank = (q * self.total as f64).max(1.0);
        let mut seen = 0u64;
        for (index, &count) in self.counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            if (seen + count) as f64 >= rank {
                let lower = if index == 0 {
                    0.0
                } else {
                    BOUNDS_MS[index - 1]
                };
                // The unbounded bucket has no upper edge: report its lower one.
                let Some(&upper) = BOUNDS_MS.get(index) else {
                    return Some(lower);
                };
                let within = (rank - seen as f64) / count as f64;
                return Some(lower + (upper - lower) * within);
            }
            seen += count;
        }
        BOUNDS_MS.last().copied()
    }

    /// Cumulative counts per upper bound, as Prometheus' `_bucket{le=..}` series want them
    /// (the last one is `+Inf`).
    pub fn cumulative(&self) -> impl Iterator<Item = (Option<f64>, u64)> + '_ {
        let mut running = 0u64;
        self.counts.iter().enumerate().map(move |(index, &count)| {
            running += count;
            (BOUNDS_MS.get(index).copied(), running)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_bucket() {
        let mut h = Histogram::default();
        h.observe(0.4);
        h.observe(1.0);
        h.observe(1.5);
        h.observe(2_000_000.0);
        let cumulative: Vec<_> = h.cumulative().collect();
        assert_eq!(cumulative[0], (Some(1.0), 2), "0.4 and 1.0 are <= 1 ms");
        assert_eq!(cumulative[1], (Some(2.0), 3));
        assert_eq!(cumulative.last(), Some(&(None, 4)));
        assert_eq!(h.count(), 4);
    }

    #[test]
    fn quantiles_are_within_the_bucket() {
        let mut h = Histogram::default();
        for ms in 1..=100 {
            h.observe(ms as f64);
        }
        let p50 = h.quantile(0.5).expect("p50");
        assert!((30.0..=50.0).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99).expect("p99");
        assert!((75.0..=100.0).contains(&p99), "{p99}");
        assert_eq!(h.average_ms(), Some(50.5));
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn merging_adds_counts_and_sums() {
        let mut a = Histogram::default();
        a.observe(3.0);
        let mut b = Histogram::default();
        b.observe(300.0);
        b.observe(5.0);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.sum_ms(), 308.0);
        assert!(a.quantile(1.0).expect("max") > 200.0);
    }

    #[test]
    fn bad_values_count_as_zero() {
        let mut h = Histogram::default();
        h.observe(f64::NAN);
        h.observe(-5.0);
        assert_eq!(h.cumulative().next(), Some((Some(1.0), 2)));
    }
}
