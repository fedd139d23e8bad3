//! Built-in metrics: cumulative per (function, executed version) for Prometheus, and per function
//! and minute in a ring buffer for the JSON API.
//!
//! Memory is bounded: at most `max_functions` functions get their own label (the first ones
//! seen); later ones are folded into the function [`OTHER`], so a server with thousands of
//! functions cannot blow up a Prometheus server or this process. Versions are labelled the same
//! way per function (`max_versions`). The per-minute history keeps `retention_minutes` minutes and
//! lives in memory only: it starts empty when the server restarts (usage, which is billed, is in
//! SQLite instead).

use crate::histogram::Histogram;
use crate::{InvocationRecord, Outcome};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;

/// A Prometheus counter family: name, help, and how to read it from the counts.
type CounterFamily = (&'static str, &'static str, fn(&Counts) -> u64);
/// A Prometheus histogram family: name, help, and which histogram of the counts.
type HistogramFamily = (&'static str, &'static str, fn(&Counts) -> &Histogram);

/// The label of everything past the cardinality caps.
pub const OTHER: &str = "other";

#[derive(Clone, Debug)]
pub struct MetricsSettings {
    /// Functions with their own label; the rest are [`OTHER`].
    pub max_functions: usize,
    /// Versions with their own label per function; the rest are [`OTHER`].
    pub max_versions: usize,
    /// Minutes of 1-minute history kept for the JSON API.
    pub retention_minutes: usize,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            max_functions: 100,
            max_versions: 10,
            retention_minutes: 24 * 60,
        }
    }
}

/// Counters shared by the cumulative series and the minutes.
#[derive(Clone, Debug, Default)]
struct Counts {
    invocations: u64,
    errors: u64,
    throttles: u64,
    cold_starts: u64,
    duration: Histogram,
    init_duration: Histogram,
}

impl Counts {
    fn apply(&mut self, record: &InvocationRecord) {
        match &record.outcome {
            Outcome::Throttled => {
                self.throttles += 1;
                return;
            }
            Outcome::InitError => {
                self.invocations += 1;
                self.errors += 1;
                self.cold_starts += 1;
                return;
            }
            Outcome::Error(_) => self.errors += 1,
            Outcome::Success => {}
        }
        self.invocations += 1;
        self.duration
            .observe(record.duration.as_secs_f64() * 1000.0);
        if let Some(init) = record.init_duration {
            self.cold_starts += 1;
            self.init_duration.observe(init.as_secs_f64() * 1000.0);
        }
    }
}

#[derive(Clone, Debug)]
struct Minute {
    /// Minutes since the Unix epoch.
    minute: i64,
    counts: Counts,
    max_concurrent: u32,
}

/// One minute of one function, as the JSON API returns it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MinutePoint {
    /// Start of the minute, ms since the Unix epoch.
    pub timestamp: i64,
    pub invocations: u64,
    pub errors: u64,
    pub throttles: u64,
    pub cold_starts: u64,
    /// The most invocations of the function running at once during the minute.
    pub concurrent_executions: u32,
    pub duration_average_ms: Option<f64>,
    pub duration_p50_ms: Option<f64>,
    pub duration_p90_ms: Option<f64>,
    pub duration_p99_ms: Option<f64>,
    pub duration_max_bucket_ms: Option<f64>,
    pub init_duration_average_ms: Option<f64>,
}

#[derive(Default)]
struct FunctionMetrics {
    versions: BTreeMap<String, Counts>,
    minutes: VecDeque<Minute>,
    running: u32,
}

pub(crate) struct Metrics {
    settings: MetricsSettings,
    functions: BTreeMap<String, FunctionMetrics>,
    /// Which label each function seen so far is kept under.
    labels: HashMap<String, String>,
}

impl Metrics {
    pub fn new(settings: MetricsSettings) -> Self {
        Self {
            settings,
            functions: BTreeMap::new(),
            labels: HashMap::new(),
        }
    }

    /// The label of `function`, assigning one on first sight.
    fn assign(&mut self, function: &str) -> String {
        if let Some(label) = self.labels.get(function) {
            return label.clone();
        }
        let own = self.labels.values().filter(|l| *l != OTHER).count();
        let label = if own < self.settings.max_functions && function != OTHER {
            function.to_owned()
        } else {
            OTHER.to_owned()
        };
        // Remembering every name is bounded by the functions that exist, not by traffic.
        self.labels.insert(function.to_owned(), label.clone());
        label
    }

    pub fn label_of<'a>(&'a self, function: &'a str) -> &'a str {
        self.labels.get(function).map_or(function, String::as_str)
    }

    fn minute_of<'a>(
        settings: &MetricsSettings,
        entry: &'a mut FunctionMetrics,
        minute: i64,
    ) -> &'a mut Minute {
        let keep = i64::try_from(settings.retention_minutes.max(1)).unwrap_or(i64::MAX);
        while entry
            .minutes
            .front()
            .is_some_and(|m| m.minute <= minute.saturating_sub(keep))
        {
            entry.minutes.pop_front();
        }
        // Records arrive nearly in order; a late one goes to its own minute wherever it is.
        let position = entry.minutes.iter().rposition(|m| m.minute <= minute);
        match position {
            Some(i) if entry.minutes[i].minute == minute => &mut entry.minutes[i],
            _ => {
                let at = position.map_or(0, |i| i + 1);
                entry.minutes.insert(
                    at,
                    Minute {
                        minute,
                        counts: Counts::default(),
                        max_concurrent: 0,
                    },
                );
                &mut entry.minutes[at]
            }
        }
    }

    pub fn apply(&mut self, record: &InvocationRecord) {
        let label = self.assign(&record.function);
        let max_versions = self.settings.max_versions;
        let entry = self.functions.entry(label).or_default();
        let version = if entry.versions.contains_key(&record.version)
            || entry.versions.len() < max_versions
        {
            record.version.clone()
        } else {
            OTHER.to_owned()
        };
        entry.versions.entry(version).or_default().apply(record);
        let minute = record.ended_at_ms.div_euclid(60_000);
        Self::minute_of(&self.settings, entry, minute)
            .counts
            .apply(record);
    }

    pub fn begin(&mut self, function: &str, at_ms: i64) {
        let label = self.assign(function);
        let entry = self.functions.entry(label).or_default();
        entry.running += 1;
        let running = entry.running;
        let minute = Self::minute_of(&self.settings, entry, at_ms.div_euclid(60_000));
        minute.max_concurrent = minute.max_concurrent.max(running);
    }

    pub fn end(&mut self, function: &str) {
        let label = self.label_of(function).to_owned();
        if let Some(entry) = self.functions.get_mut(&label) {
            entry.running = entry.running.saturating_sub(1);
        }
    }

    pub fn query(&self, function: &str, start_ms: i64, end_ms: i64) -> Vec<MinutePoint> {
        let Some(entry) = self.functions.get(self.label_of(function)) else {
            return Vec::new();
        };
        entry
            .minutes
            .iter()
            .filter(|m| {
                let at = m.minute.saturating_mul(60_000);
                at >= start_ms.div_euclid(60_000) * 60_000 && at < end_ms
            })
            .map(|m| {
                let d = &m.counts.duration;
                MinutePoint {
                    timestamp: m.minute * 60_000,
                    invocations: m.counts.invocations,
                    errors: m.counts.errors,
                    throttles: m.counts.throttles,
                    cold_starts: m.counts.cold_starts,
                    concurrent_executions: m.max_concurrent,
                    duration_average_ms: d.average_ms(),
                    duration_p50_ms: d.quantile(0.5),
                    duration_p90_ms: d.quantile(0.9),
                    duration_p99_ms: d.quantile(0.99),
                    duration_max_bucket_ms: d.quantile(1.0),
                    init_duration_average_ms: m.counts.init_duration.average_ms(),
                }
            })
            .collect()
    }

    /// Prometheus text format 0.0.4.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let counters: [CounterFamily; 4] = [
            (
                "lambent_invocations_total",
                "Invocations that ran or failed to initialise (throttles excluded).",
                |c| c.invocations,
            ),
            (
                "lambent_errors_total",
                "Invocations that ended in a function error (including timeouts, crashes and failed Init).",
                |c| c.errors,
            ),
            (
                "lambent_throttles_total",
                "Invocations refused by concurrency or memory limits.",
                |c| c.throttles,
            ),
            (
                "lambent_cold_starts_total",
                "Invocations that started a new execution environment.",
                |c| c.cold_starts,
            ),
        ];
        for (name, help, get) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (function, version, counts) in self.series() {
                let _ = writeln!(
                    out,
                    "{name}{{function=\"{}\",version=\"{}\"}} {}",
                    escape(function),
                    escape(version),
                    get(counts)
                );
            }
        }
        let histograms: [HistogramFamily; 2] = [
            (
                "lambent_duration_milliseconds",
                "Invocation duration as in the REPORT line.",
                |c| &c.duration,
            ),
            (
                "lambent_init_duration_milliseconds",
                "Init duration of cold starts as in the REPORT line.",
                |c| &c.init_duration,
            ),
        ];
        for (name, help, get) in histograms {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            for (function, version, counts) in self.series() {
                let h = get(counts);
                let labels = format!(
                    "function=\"{}\",version=\"{}\"",
                    escape(function),
                    escape(version)
                );
                for (bound, count) in h.cumulative() {
                    let le = bound.map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
                    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {count}");
                }
                let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum_ms());
                let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count());
            }
        }
        let name = "lambent_duration_quantile_milliseconds";
        let _ = writeln!(
            out,
            "# HELP {name} Duration percentiles since start, estimated from the histogram buckets.\n# TYPE {name} gauge"
        );
        for (function, version, counts) in self.series() {
            for q in ["0.5", "0.9", "0.99"] {
                let value = q
                    .parse::<f64>()
                    .ok()
                    .and_then(|q| counts.duration.quantile(q));
                if let Some(value) = value {
                    let _ = writeln!(
                        out,
                        "{name}{{function=\"{}\",version=\"{}\",quantile=\"{q}\"}} {value}",
                        escape(function),
                        escape(version)
                    );
                }
            }
        }
        let name = "lambent_concurrent_executions";
        let _ = writeln!(
            out,
            "# HELP {name} Invocations of the function running now.\n# TYPE {name} gauge"
        );
        for (function, entry) in &self.functions {
            let _ = writeln!(
                out,
                "{name}{{function=\"{}\"}} {}",
                escape(function),
                entry.running
            );
        }
        out
    }

    fn series(&self) -> impl Iterator<Item = (&str, &str, &Counts)> {
        self.functions.iter().flat_map(|(function, entry)| {
            entry
                .versions
                .iter()
                .map(move |(version, counts)| (function.as_str(), version.as_str(), counts))
        })
    }
}

/// Label values escape backslash, quote and newline (Prometheus text format).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(
        function: &str,
        outcome: Outcome,
        ms: u64,
        cold: bool,
        at_ms: i64,
    ) -> InvocationRecord {
        InvocationRecord {
            function: function.into(),
            version: "$LATEST".into(),
            qualifier: None,
            request_id: "r".into(),
            ended_at_ms: at_ms,
            outcome,
            duration: Duration::from_millis(ms),
            billed_ms: ms,
            memory_mb: 128,
            ephemeral_storage_mb: 512,
            init_duration: cold.then(|| Duration::from_millis(100)),
        }
    }

    #[test]
    fn counts_per_outcome_and_minute() {
        let mut m = Metrics::new(MetricsSettings::default());
        m.apply(&record("f", Outcome::Success, 10, true, 60_000));
        m.apply(&record(
            "f",
            Outcome::Error("Unhandled".into()),
            20,
            false,
            61_000,
        ));
        m.apply(&record("f", Outcome::Throttled, 0, false, 62_000));
        m.apply(&record("f", Outcome::Success, 30, false, 125_000));
        m.begin("f", 126_000);
        m.begin("f", 126_500);
        m.end("f");
        let points = m.query("f", 0, 200_000);
        assert_eq!(points.len(), 2);
        assert_eq!(
            (
                points[0].invocations,
                points[0].errors,
                points[0].throttles,
                points[0].cold_starts
            ),
            (2, 1, 1, 1)
        );
        assert_eq!(points[0].duration_average_ms, Some(15.0));
        assert_eq!(points[1].timestamp, 120_000);
        assert_eq!(points[1].concurrent_executions, 2);
        assert!(m.query("f", 120_000, 200_000).len() == 1);
        let text = m.prometheus();
        assert!(
            text.contains("lambent_invocations_total{function=\"f\",version=\"$LATEST\"} 3"),
            "{text}"
        );
        assert!(text.contains("lambent_throttles_total{function=\"f\",version=\"$LATEST\"} 1"));
        assert!(text.contains("lambent_concurrent_executions{function=\"f\"} 1"));
        assert!(text.contains(
            "lambent_init_duration_milliseconds_count{function=\"f\",version=\"$LATEST\"} 1"
        ));
    }

    #[test]
    fn functions_past_the_cap_are_folded_into_other() {
        let mut m = Metrics::new(MetricsSettings {
            max_functions: 2,
            ..MetricsSettings::default()
        });
        for f in ["a", "b", "c", "d"] {
            m.apply(&record(f, Outcome::Success, 1, false, 0));
        }
        assert_eq!(m.label_of("c"), OTHER);
        assert_eq!(m.query("d", 0, 60_000)[0].invocations, 2);
        let text = m.prometheus();
        assert!(text.contains("function=\"other\""));
        assert!(!text.contains("function=\"c\""));
    }

    #[test]
    fn history_is_bounded_by_retention() {
        let mut m = Metrics::new(MetricsSettings {
            retention_minutes: 3,
            ..MetricsSettings::default()
        });
        for minute in 0..10 {
            m.apply(&record("f", Outcome::Success, 1, false, minute * 60_000));
        }
        let points = m.query("f", 0, i64::MAX);
        assert_eq!(points.len(), 3);
        assert_eq!(points[0].timestamp, 7 * 60_000);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }
}
