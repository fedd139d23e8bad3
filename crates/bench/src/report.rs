//! Result rows, their verdicts against the goals, and the Markdown and JSON outputs.

use std::path::Path;

use serde::Serialize;

use crate::Result;
use crate::machine::Machine;
use crate::stats::fmt_us;

/// The goal a row is judged against.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Goal {
    /// value / floor ≤ max (latency-like).
    RatioAtMost { max: f64 },
    /// value / floor ≥ min (throughput-like).
    RatioAtLeast { min: f64 },
    /// value ≤ max, in the row's unit.
    AtMost { max: f64 },
    /// value ≤ floor + slack, in the row's unit.
    FloorPlus { slack: f64 },
    /// Reported for information; no goal set.
    None,
}

impl Goal {
    fn text(&self, unit: &str) -> String {
        match self {
            Goal::RatioAtMost { max } => format!("≤ {max}× floor"),
            Goal::RatioAtLeast { min } => format!("≥ {min}× floor"),
            Goal::AtMost { max } => format!("≤ {} {unit}", trim(*max)),
            Goal::FloorPlus { slack } => format!("≤ floor + {} {unit}", trim(*slack)),
            Goal::None => "none (info)".into(),
        }
    }

    /// measured / allowed: ≤ 1 meets the goal, 1.5 is 50 % over.
    fn gap(&self, value: f64, floor: Option<f64>) -> Option<f64> {
        let ratio = floor.map(|f| value / f);
        match self {
            Goal::RatioAtMost { max } => ratio.map(|r| r / max),
            Goal::RatioAtLeast { min } => ratio.map(|r| min / r),
            Goal::AtMost { max } => Some(value / max),
            Goal::FloorPlus { slack } => floor.map(|f| value / (f + slack)),
            Goal::None => None,
        }
    }
}

fn trim(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub id: String,
    pub scenario: String,
    pub runtime: String,
    pub metric: String,
    pub unit: String,
    pub value: Option<f64>,
    pub floor: Option<f64>,
    pub ratio: Option<f64>,
    pub goal: Goal,
    pub goal_text: String,
    /// measured / allowed (≤ 1 meets the goal).
    pub gap: Option<f64>,
    pub verdict: String,
    pub detail: String,
    /// Per-repetition values (Lambent) and floors, for the JSON.
    pub reps: Vec<f64>,
    pub floor_reps: Vec<f64>,
}

pub struct RowSpec<'a> {
    pub id: &'a str,
    pub scenario: &'a str,
    pub runtime: &'a str,
    pub metric: &'a str,
    pub unit: &'a str,
}

impl Row {
    pub fn measured(
        spec: RowSpec<'_>,
        value: f64,
        floor: Option<f64>,
        goal: Goal,
        detail: String,
    ) -> Row {
        let value_ok = value.is_finite();
        let floor = floor.filter(|f| f.is_finite() && *f > 0.0);
        let gap = if value_ok {
            goal.gap(value, floor)
        } else {
            None
        };
        let verdict = match (value_ok, gap, goal) {
            (false, _, _) => "no result".to_owned(),
            (true, _, Goal::None) => "info".to_owned(),
            (true, Some(g), _) if g <= 1.0 => "meets".to_owned(),
            (true, Some(_), _) => "misses".to_owned(),
            (true, None, _) => "no floor".to_owned(),
        };
        Row {
            id: spec.id.into(),
            scenario: spec.scenario.into(),
            runtime: spec.runtime.into(),
            metric: spec.metric.into(),
            unit: spec.unit.into(),
            value: value_ok.then_some(value),
            floor,
            ratio: floor.filter(|_| value_ok).map(|f| value / f),
            goal,
            goal_text: goal.text(spec.unit),
            gap,
            verdict,
            detail,
            reps: Vec::new(),
            floor_reps: Vec::new(),
        }
    }

    pub fn unavailable(spec: RowSpec<'_>, goal: Goal, reason: String) -> Row {
        Row {
            id: spec.id.into(),
            scenario: spec.scenario.into(),
            runtime: spec.runtime.into(),
            metric: spec.metric.into(),
            unit: spec.unit.into(),
            value: None,
            floor: None,
            ratio: None,
            goal,
            goal_text: goal.text(spec.unit),
            gap: None,
            verdict: "not available".into(),
            detail: reason,
            reps: Vec::new(),
            floor_reps: Vec::new(),
        }
    }

    pub fn with_reps(mut self, reps: Vec<f64>, floor_reps: Vec<f64>) -> Row {
        self.reps = reps;
        self.floor_reps = floor_reps;
        self
    }

    /// A hard condition of the goal (e.g. "no errors") that failed.
    pub fn fail_because(mut self, reason: &str) -> Row {
        if self.verdict == "meets" || self.verdict == "misses" {
            self.verdict = format!("misses ({reason})");
        }
        self
    }
}

pub fn fmt_value(v: Option<f64>, unit: &str) -> String {
    let Some(v) = v else {
        return "–".into();
    };
    match unit {
        "µs" => fmt_us(v),
        "ms" => {
            if v < 10.0 {
                format!("{v:.2} ms")
            } else {
                format!("{v:.1} ms")
            }
        }
        "s" => format!("{v:.2} s"),
        "req/s" => format!("{v:.0}/s"),
        "MB" => format!("{v:.2} MB"),
        other => format!("{v:.2} {other}"),
    }
}

pub struct RunInfo<'a> {
    pub machine: &'a Machine,
    pub mode: &'a str,
    pub command: &'a str,
    pub duration_s: f64,
    pub pinning: &'a str,
    pub notes: &'a [String],
    pub rows: &'a [Row],
}

/// The results as Markdown: the machine, the table, the details, the notes.
pub fn markdown(info: &RunInfo<'_>) -> String {
    let m = info.machine;
    let mut out = String::new();
    out.push_str(&format!(
        "Run of {date} ({mode} mode, {dur:.0} s), commit `{commit}`: `{cmd}`\n\n",
        date = m.date,
        mode = info.mode,
        dur = info.duration_s,
        commit = m.git_commit,
        cmd = info.command,
    ));
    out.push_str(&format!(
        "Machine: {cores} × {cpu}, {mem} GiB RAM, kernel {kernel} ({virt}); {py}, node {node}; \
         load average before {lb}, after {la}; CPU pressure (some avg10) before {pb}, after {pa}. \
         Pinning: {pin}.\n\n",
        cores = m.cores,
        cpu = m.cpu_model,
        mem = m.memory_gib,
        kernel = m.kernel,
        virt = m.virtualization,
        py = m.python,
        node = m.node,
        lb = m.load_before,
        la = m.load_after,
        pb = m.cpu_pressure_before,
        pa = m.cpu_pressure_after,
        pin = info.pinning,
    ));
    out.push_str(
        "| ID | Scenario | Runtime | Metric | Lambent | Floor | Ratio | Goal | Gap to goal | Verdict |\n\
         |---|---|---|---|---:|---:|---:|---|---:|---|\n",
    );
    for r in info.rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.id,
            r.scenario,
            r.runtime,
            r.metric,
            fmt_value(r.value, &r.unit),
            fmt_value(r.floor, &r.unit),
            r.ratio.map_or("–".into(), |x| format!("{x:.2}×")),
            r.goal_text,
            r.gap.map_or("–".into(), |g| format!("{g:.2}")),
            r.verdict,
        ));
    }
    out.push_str(
        "\nGap to goal = measured ÷ allowed (≤ 1.00 meets the goal; 2.00 = twice what the goal \
         allows; for throughput, floor-based minimum ÷ measured).\n\nDetails:\n\n",
    );
    for r in info.rows {
        if !r.detail.is_empty() {
            out.push_str(&format!(
                "- **{} {} {}**: {}\n",
                r.id, r.runtime, r.metric, r.detail
            ));
        }
    }
    if !info.notes.is_empty() {
        out.push_str("\nNotes from this run:\n\n");
        for n in info.notes {
            out.push_str(&format!("- {n}\n"));
        }
    }
    out
}

pub fn json(info: &RunInfo<'_>, parameters: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "machine": info.machine,
        "mode": info.mode,
        "command": info.command,
        "duration_s": info.duration_s,
        "pinning": info.pinning,
        "parameters": parameters,
        "rows": info.rows,
        "notes": info.notes,
    })
}

pub const BEGIN: &str = "<!-- BEGIN lambent-bench results (written by the full run) -->";
pub const END: &str = "<!-- END lambent-bench results -->";

/// Replaces the results section of BENCHMARKS.md (between [`BEGIN`] and [`END`]).
pub fn update_benchmarks_md(path: &Path, results: &str) -> Result<()> {
    let text = std::fs::read_to_string(path)?;
    let (Some(a), Some(b)) = (text.find(BEGIN), text.find(END)) else {
        return Err(format!("{} has no results markers", path.display()).into());
    };
    if b < a {
        return Err("results markers out of order".into());
    }
    let updated = format!("{}{BEGIN}\n{results}\n{}", &text[..a], &text[b..]);
    std::fs::write(path, updated)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RowSpec<'static> {
        RowSpec {
            id: "S1",
            scenario: "x",
            runtime: "python",
            metric: "p50",
            unit: "µs",
        }
    }

    #[test]
    fn verdicts_follow_goals() {
        let r = Row::measured(
            spec(),
            130.0,
            Some(100.0),
            Goal::RatioAtMost { max: 1.3 },
            String::new(),
        );
        assert_eq!(r.verdict, "meets");
        let r = Row::measured(
            spec(),
            200.0,
            Some(100.0),
            Goal::RatioAtMost { max: 1.3 },
            String::new(),
        );
        assert_eq!(r.verdict, "misses");
        assert!((r.gap.unwrap() - 2.0 / 1.3).abs() < 1e-9);
        let r = Row::measured(
            spec(),
            70.0,
            Some(100.0),
            Goal::RatioAtLeast { min: 0.8 },
            String::new(),
        );
        assert_eq!(r.verdict, "misses");
        let r = Row::measured(
            spec(),
            8.0,
            Some(7.5),
            Goal::FloorPlus { slack: 1.0 },
            String::new(),
        );
        assert_eq!(r.verdict, "meets");
        let r = Row::measured(spec(), 0.5, None, Goal::AtMost { max: 1.0 }, String::new())
            .fail_because("errors");
        assert_eq!(r.verdict, "misses (errors)");
    }
}
