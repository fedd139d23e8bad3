//! `lambent-bench`: Lambent's benchmark suite (see BENCHMARKS.md and
//! `/work/shared/reference/performance.md`, Part C, for the protocol).
//!
//! ```sh
//! cargo run --release -p lambent-bench -- [--quick] [--scenario S1,S3] [--runtime python,rust]
//! ```
//!
//! It builds and starts its own `lambent serve` (sandboxed, and with `--isolation none` for the
//! isolation row), builds the Rust benchmark function, and for every scenario runs the floor and
//! Lambent interleaved in the same run. It writes `target/lambent-bench/results.{md,json}` and,
//! after a full run of every scenario, the results section of BENCHMARKS.md.

mod api;
mod durable;
mod floor;
mod functions;
mod http;
mod machine;
mod procs;
mod report;
mod scenarios;
mod stats;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use functions::{Packages, Rt};
use machine::Machine;
use procs::{FloorServer, Lambent};
use report::Row;

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Every scenario id, in run order.
pub const SCENARIOS: [&str; 9] = ["S1", "ISO", "S2", "S3", "S4", "S5", "S6", "S7", "URL"];

#[derive(Debug, Clone)]
pub struct Options {
    pub quick: bool,
    pub scenarios: BTreeSet<String>,
    pub runtimes: Vec<Rt>,
    pub out_dir: PathBuf,
    pub pin: bool,
    pub write_md: bool,
    pub lambent_bin: Option<PathBuf>,
}

const USAGE: &str = "usage: lambent-bench [--quick] [--scenario S1,ISO,S2,S3,S4,S5,S6,S7,URL] \
[--runtime python,node,rust] [--out DIR] [--no-pin] [--no-write-md] [--lambent-bin PATH]";

fn parse_args(workspace: &Path) -> Result<Options> {
    let mut o = Options {
        quick: false,
        scenarios: SCENARIOS.iter().map(|s| s.to_string()).collect(),
        runtimes: Rt::ALL.to_vec(),
        out_dir: workspace.join("target/lambent-bench"),
        pin: true,
        write_md: true,
        lambent_bin: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--quick" => o.quick = true,
            "--scenario" | "--scenarios" => {
                let v = value(&a)?;
                o.scenarios = v
                    .split(',')
                    .map(|s| s.trim().to_ascii_uppercase())
                    .filter(|s| !s.is_empty())
                    .collect();
                if let Some(bad) = o
                    .scenarios
                    .iter()
                    .find(|s| !SCENARIOS.contains(&s.as_str()))
                {
                    return Err(format!("unknown scenario {bad}; {USAGE}").into());
                }
            }
            "--runtime" | "--runtimes" => {
                let v = value(&a)?;
                o.runtimes = v
                    .split(',')
                    .map(|s| Rt::parse(s.trim()).ok_or(format!("unknown runtime {s}")))
                    .collect::<std::result::Result<_, _>>()?;
                o.runtimes.sort();
                o.runtimes.dedup();
            }
            "--out" => o.out_dir = PathBuf::from(value(&a)?),
            "--no-pin" => o.pin = false,
            "--no-write-md" => o.write_md = false,
            "--lambent-bin" => o.lambent_bin = Some(PathBuf::from(value(&a)?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}; {USAGE}").into()),
        }
    }
    Ok(o)
}

/// What every scenario works with.
pub struct Ctx {
    pub opts: Options,
    pub lambent: Lambent,
    pub lambent_bin: PathBuf,
    pub floor: FloorServer,
    pub packages: Packages,
    pub scratch: PathBuf,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    pub started: Instant,
    /// Functions created by the current scenario (deleted by `scenarios::cleanup`).
    pub created: Vec<String>,
}

impl Ctx {
    pub fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        eprintln!("note: {text}");
        self.notes.push(text);
    }

    pub fn push(&mut self, row: Row) {
        eprintln!(
            "  {} {} {}: {} (floor {}) {}",
            row.id,
            row.runtime,
            row.metric,
            report::fmt_value(row.value, &row.unit),
            report::fmt_value(row.floor, &row.unit),
            row.verdict
        );
        self.rows.push(row);
    }

    pub fn log(&self, text: &str) {
        eprintln!("[{:6.1}s] {text}", self.started.elapsed().as_secs_f64());
    }
}

fn main() {
    // The sandbox floor (S3) re-executes this binary as a sandbox init: that must come first.
    lambent_sandbox::run_init_if_requested();
    if std::env::args().nth(1).as_deref() == Some("__floor-server") {
        floor::serve_main();
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace directory");
    let opts = match parse_args(&workspace) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("lambent-bench: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(run(opts, workspace)) {
        eprintln!("lambent-bench: {e}");
        std::process::exit(1);
    }
}

fn build_lambent(workspace: &Path) -> Result<PathBuf> {
    eprintln!("building lambent (cargo build --release -p lambent) ...");
    let status =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--quiet", "-p", "lambent"])
            .current_dir(workspace)
            .status()?;
    if !status.success() {
        return Err("building lambent failed".into());
    }
    Ok(workspace.join("target/release/lambent"))
}

async fn run(opts: Options, workspace: PathBuf) -> Result<()> {
    let started = Instant::now();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("run as root: lambent serve builds sandboxes (namespaces, cgroups)".into());
    }
    let mut machine = Machine::probe(&workspace);
    eprintln!(
        "machine: {} × {}, kernel {}, load {}",
        machine.cores, machine.cpu_model, machine.kernel, machine.load_before
    );
    let lambent_bin = match &opts.lambent_bin {
        Some(p) => p
            .canonicalize()
            .map_err(|e| format!("{}: {e}", p.display()))?,
        None => build_lambent(&workspace)?,
    };
    let scratch_dir = tempfile::Builder::new()
        .prefix("lambent-bench-")
        .tempdir()?;
    let scratch = scratch_dir.path().to_path_buf();
    std::fs::set_permissions(
        &scratch,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    // No pre-started runtimes on the main server: every scenario measures what a function's
    // first environment costs; S3 starts a second server to measure pre-started cold starts.
    let lambent = Lambent::start(&lambent_bin, "sandbox", 0, &scratch).await?;
    let packages = Packages::prepare(&workspace, &scratch, &lambent.runtime_dir())?;
    let floor = FloorServer::start()?;
    let mut ctx = Ctx {
        opts: opts.clone(),
        lambent,
        lambent_bin,
        floor,
        packages,
        scratch: scratch.clone(),
        rows: Vec::new(),
        notes: Vec::new(),
        started,
        created: Vec::new(),
    };
    ctx.log(&format!(
        "lambent (sandbox) at {} (pid {}), floor server at {} (pid {}), bench pid {}",
        ctx.lambent.addr,
        ctx.lambent.pid(),
        ctx.floor.addr,
        ctx.floor.pid(),
        std::process::id()
    ));
    let bench_started = Instant::now();
    let mut failed = Vec::new();
    for id in SCENARIOS {
        if !opts.scenarios.contains(id) {
            continue;
        }
        ctx.log(&format!("== {id}"));
        let t = Instant::now();
        if let Err(e) = scenarios::run(id, &mut ctx).await {
            ctx.note(format!("{id} failed: {e}"));
            failed.push(id);
        }
        scenarios::cleanup(&mut ctx).await;
        ctx.log(&format!("== {id} took {:.1} s", t.elapsed().as_secs_f64()));
    }
    let duration_s = started.elapsed().as_secs_f64();
    machine.finish();
    let Ctx {
        lambent,
        rows,
        notes,
        ..
    } = ctx;
    lambent.stop().await;

    let mode = if opts.quick { "quick" } else { "full" };
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let command = command
        .rsplit_once("lambent-bench")
        .map(|(_, args)| format!("cargo run --release -p lambent-bench --{args}"))
        .unwrap_or(command);
    let pinning = if opts.pin {
        "S1 and the isolation row: servers (and so their runtimes) on CPU0, load generator on CPU1; \
         every other scenario unpinned"
    } else {
        "none"
    };
    let info = report::RunInfo {
        machine: &machine,
        mode,
        command: &command,
        duration_s,
        pinning,
        notes: &notes,
        rows: &rows,
    };
    let md = report::markdown(&info);
    let json = report::json(&info, scenarios::parameters(&opts));
    std::fs::create_dir_all(&opts.out_dir)?;
    std::fs::write(opts.out_dir.join("results.md"), &md)?;
    std::fs::write(
        opts.out_dir.join("results.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    println!("{md}");
    eprintln!(
        "wrote {} and results.json ({:.0} s in total, {:.0} s of scenarios)",
        opts.out_dir.join("results.md").display(),
        duration_s,
        bench_started.elapsed().as_secs_f64()
    );
    let everything = SCENARIOS.iter().all(|s| opts.scenarios.contains(*s))
        && opts.runtimes.len() == Rt::ALL.len();
    if !opts.quick && everything && opts.write_md && failed.is_empty() {
        report::update_benchmarks_md(&workspace.join("BENCHMARKS.md"), &md)?;
        eprintln!("updated the results section of BENCHMARKS.md");
    }
    drop(scratch_dir);
    if !failed.is_empty() {
        return Err(format!("scenario(s) {} failed (see the notes)", failed.join(", ")).into());
    }
    Ok(())
}
