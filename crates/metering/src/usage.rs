//! Metering: what each function used, per minute, in `usage.sqlite3`, and the usage report with
//! cost.
//!
//! Quantities are kept as exact integers (billed ms, MB × billed ms) so that the report reconciles
//! to the millisecond with the REPORT lines; GB-seconds and cost are derived when reporting
//! (1 GB = 1024 MB, as Lambda bills).

use crate::MeteringError;
use rusqlite::{Connection, params};
use std::collections::HashMap;
use std::path::Path;

/// Lambda bills ephemeral storage only above this much.
pub const FREE_EPHEMERAL_MB: u32 = 512;

/// Prices in US dollars. The defaults are Lambda's published x86 prices (us-east-1).
#[derive(Clone, Debug, PartialEq)]
pub struct Prices {
    pub per_million_requests: f64,
    pub per_gb_second: f64,
    /// Per GB-second of ephemeral storage configured above 512 MB.
    pub ephemeral_per_gb_second: f64,
}

impl Default for Prices {
    fn default() -> Self {
        Self {
            per_million_requests: 0.20,
            per_gb_second: 0.000_016_666_7,
            ephemeral_per_gb_second: 0.000_000_030_9,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    Day,
    Month,
}

impl Granularity {
    fn format(self) -> &'static str {
        match self {
            Granularity::Day => "%Y-%m-%d",
            Granularity::Month => "%Y-%m",
        }
    }
}

/// Usage of one function in one period (UTC day `YYYY-MM-DD` or month `YYYY-MM`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRow {
    pub function: String,
    pub period: String,
    pub requests: u64,
    /// Sum of the REPORT lines' Billed Duration.
    pub billed_ms: u64,
    /// Sum of Billed Duration × Memory Size: the exact quantity behind GB-seconds.
    pub mb_ms: u64,
    /// Sum of Billed Duration × (ephemeral storage − 512 MB) over invocations configured above
    /// 512 MB.
    pub ephemeral_mb_ms: u64,
}

impl UsageRow {
    pub fn gb_seconds(&self) -> f64 {
        self.mb_ms as f64 / 1024.0 / 1000.0
    }

    pub fn ephemeral_gb_seconds(&self) -> f64 {
        self.ephemeral_mb_ms as f64 / 1024.0 / 1000.0
    }

    /// (requests, compute, ephemeral storage) in US dollars.
    pub fn cost(&self, prices: &Prices) -> (f64, f64, f64) {
        (
            self.requests as f64 / 1_000_000.0 * prices.per_million_requests,
            self.gb_seconds() * prices.per_gb_second,
            self.ephemeral_gb_seconds() * prices.ephemeral_per_gb_second,
        )
    }
}

/// Usage not yet written, keyed by (function, minute).
#[derive(Default)]
pub(crate) struct Pending {
    rows: HashMap<(String, i64), Totals>,
}

#[derive(Default, Clone, Copy)]
struct Totals {
    requests: u64,
    billed_ms: u64,
    mb_ms: u64,
    ephemeral_mb_ms: u64,
}

impl Pending {
    pub fn add(&mut self, record: &crate::InvocationRecord) {
        if !record.billed() {
            return;
        }
        let minute = record.ended_at_ms.div_euclid(60_000);
        let totals = self
            .rows
            .entry((record.function.clone(), minute))
            .or_default();
        totals.requests += 1;
        totals.billed_ms += record.billed_ms;
        totals.mb_ms += record.billed_ms * u64::from(record.memory_mb);
        totals.ephemeral_mb_ms += record.billed_ms
            * u64::from(
                record
                    .ephemeral_storage_mb
                    .saturating_sub(FREE_EPHEMERAL_MB),
            );
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

pub(crate) struct UsageDb {
    conn: Connection,
}

impl UsageDb {
    pub fn open(path: &Path) -> Result<Self, MeteringError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| MeteringError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS usage (
                function TEXT NOT NULL,
                minute INTEGER NOT NULL,
                requests INTEGER NOT NULL,
                billed_ms INTEGER NOT NULL,
                mb_ms INTEGER NOT NULL,
                ephemeral_mb_ms INTEGER NOT NULL,
                PRIMARY KEY (function, minute)
            ) WITHOUT ROWID;",
        )?;
        Ok(Self { conn })
    }

    /// Adds `pending` in one transaction; on failure `pending` is kept for the next attempt.
    pub fn write(&mut self, pending: &mut Pending) -> Result<(), MeteringError> {
        if pending.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO usage (function, minute, requests, billed_ms, mb_ms, ephemeral_mb_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (function, minute) DO UPDATE SET
                   requests = requests + excluded.requests,
                   billed_ms = billed_ms + excluded.billed_ms,
                   mb_ms = mb_ms + excluded.mb_ms,
                   ephemeral_mb_ms = ephemeral_mb_ms + excluded.ephemeral_mb_ms",
            )?;
            for ((function, minute), t) in &pending.rows {
                upsert.execute(params![
                    function,
                    minute,
                    to_i64(t.requests),
                    to_i64(t.billed_ms),
                    to_i64(t.mb_ms),
                    to_i64(t.ephemeral_mb_ms)
                ])?;
            }
        }
        tx.commit()?;
        pending.rows.clear();
        Ok(())
    }

    pub fn report(&self, granularity: Granularity) -> Result<Vec<UsageRow>, MeteringError> {
        let mut query = self.conn.prepare_cached(
            "SELECT function, strftime(?1, minute * 60, 'unixepoch') AS period,
                    SUM(requests), SUM(billed_ms), SUM(mb_ms), SUM(ephemeral_mb_ms)
             FROM usage GROUP BY function, period ORDER BY period, function",
        )?;
        let rows = query.query_map([granularity.format()], |row| {
            Ok(UsageRow {
                function: row.get(0)?,
                period: row.get(1)?,
                requests: to_u64(row.get(2)?),
                billed_ms: to_u64(row.get(3)?),
                mb_ms: to_u64(row.get(4)?),
                ephemeral_mb_ms: to_u64(row.get(5)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// SQLite integers are signed; usage never comes near 2^63.
fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InvocationRecord, Outcome};
    use std::time::Duration;

    fn record(function: &str, billed_ms: u64, memory_mb: u32, at_ms: i64) -> InvocationRecord {
        InvocationRecord {
            function: function.into(),
            version: "$LATEST".into(),
            qualifier: None,
            request_id: "r".into(),
            ended_at_ms: at_ms,
            outcome: Outcome::Success,
            duration: Duration::from_millis(billed_ms),
            billed_ms,
            memory_mb,
            ephemeral_storage_mb: 1024,
            init_duration: None,
        }
    }

    #[test]
    fn usage_adds_up_per_day_and_month_across_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = UsageDb::open(&dir.path().join("usage.sqlite3")).expect("open");
        let day = 86_400_000;
        let mut pending = Pending::default();
        pending.add(&record("f", 3, 128, 0));
        pending.add(&record("f", 7, 128, 1_000));
        pending.add(&record("g", 1_000, 1024, 0));
        let mut throttled = record("f", 0, 128, 0);
        throttled.outcome = Outcome::Throttled;
        pending.add(&throttled);
        db.write(&mut pending).expect("write");
        assert!(pending.is_empty());
        pending.add(&record("f", 5, 256, day + 5));
        db.write(&mut pending).expect("write");

        let days = db.report(Granularity::Day).expect("days");
        assert_eq!(days.len(), 3);
        let f1 = &days[0];
        assert_eq!(
            (f1.function.as_str(), f1.period.as_str()),
            ("f", "1970-01-01")
        );
        assert_eq!((f1.requests, f1.billed_ms, f1.mb_ms), (2, 10, 1280));
        assert_eq!(f1.ephemeral_mb_ms, 10 * 512);

        let months = db.report(Granularity::Month).expect("months");
        let f = months.iter().find(|r| r.function == "f").expect("f");
        assert_eq!((f.requests, f.mb_ms), (3, 1280 + 5 * 256));
        let g = months.iter().find(|r| r.function == "g").expect("g");
        assert_eq!(g.gb_seconds(), 1.0);
        let (requests, compute, ephemeral) = g.cost(&Prices::default());
        assert!((requests - 0.000_000_2).abs() < 1e-15);
        assert!((compute - 0.000_016_666_7).abs() < 1e-15);
        assert!((ephemeral - 0.5 * 0.000_000_030_9).abs() < 1e-18);
    }
}
