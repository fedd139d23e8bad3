//! Adaptive keep-alive, after the hybrid-histogram policy of "Serverless in the Wild" (ATC 2020):
//! each function's idle times (from the end of one invocation to the start of the next) go into a
//! histogram of one-minute bins, and its idle environments are kept for the 99th percentile of
//! those times, bounded by the configured keep-alive. Until a function has enough samples the
//! configured keep-alive applies. A function called every few seconds thus keeps its environments
//! only a little longer than its gaps; one called every 20 minutes keeps them 20-odd minutes
//! (bounded by the configuration) instead of paying a cold start each time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BIN: Duration = Duration::from_secs(60);
/// Bins cover idle times up to 4 hours; longer ones count in the last bin.
const BINS: usize = 240;
/// Below this many samples the histogram says too little: use the configured keep-alive.
const MIN_SAMPLES: u32 = 10;
/// Never keep an environment for less than this after its last use.
const FLOOR: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct KeepAlive {
    functions: Mutex<HashMap<String, Pattern>>,
}

struct Pattern {
    last_finished: Option<Instant>,
    bins: Vec<u32>,
    samples: u32,
}

impl Default for Pattern {
    fn default() -> Self {
        Self {
            last_finished: None,
            bins: vec![0; BINS],
            samples: 0,
        }
    }
}

impl KeepAlive {
    /// An invocation of `function` arrives: the time since its previous one finished is a sample.
    pub fn arrived(&self, function: &str, now: Instant) {
        if let Ok(mut functions) = self.functions.lock() {
            let pattern = functions.entry(function.to_owned()).or_default();
            if let Some(finished) = pattern.last_finished {
                let idle = now.saturating_duration_since(finished);
                let bin = ((idle.as_secs() / BIN.as_secs()) as usize).min(BINS - 1);
                pattern.bins[bin] = pattern.bins[bin].saturating_add(1);
                pattern.samples = pattern.samples.saturating_add(1);
            }
        }
    }

    /// An invocation of `function` finished.
    pub fn finished(&self, function: &str, now: Instant) {
        if let Ok(mut functions) = self.functions.lock() {
            functions
                .entry(function.to_owned())
                .or_default()
                .last_finished = Some(now);
        }
    }

    /// How long an idle environment of `function` is kept, at most `configured`.
    pub fn keep_alive(&self, function: &str, configured: Duration) -> Duration {
        let Ok(functions) = self.functions.lock() else {
            return configured;
        };
        let Some(pattern) = functions.get(function) else {
            return configured;
        };
        if pattern.samples < MIN_SAMPLES {
            return configured;
        }
        let wanted = pattern.samples.saturating_mul(99).div_ceil(100);
        let mut seen = 0u32;
        for (bin, count) in pattern.bins.iter().enumerate() {
            seen = seen.saturating_add(*count);
            if seen >= wanted {
                // The upper edge of the bin, so a gap that falls in it is covered.
                let upper = BIN * (bin as u32 + 1);
                return upper.max(FLOOR).min(configured);
            }
        }
        configured
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequent_functions_keep_environments_briefly_and_rare_ones_longer() {
        let policy = KeepAlive::default();
        let configured = Duration::from_secs(3600);
        let start = Instant::now();
        let mut now = start;
        assert_eq!(
            policy.keep_alive("f", configured),
            configured,
            "no samples yet"
        );
        for _ in 0..20 {
            policy.arrived("f", now);
            policy.finished("f", now);
            now += Duration::from_secs(5);
        }
        assert_eq!(policy.keep_alive("f", configured), FLOOR);

        let mut now = start;
        for _ in 0..20 {
            policy.arrived("g", now);
            policy.finished("g", now);
            now += Duration::from_secs(20 * 60);
        }
        assert_eq!(
            policy.keep_alive("g", configured),
            Duration::from_secs(21 * 60)
        );
        assert_eq!(
            policy.keep_alive("g", Duration::from_secs(300)),
            Duration::from_secs(300),
            "never beyond the configured keep-alive"
        );
    }
}
