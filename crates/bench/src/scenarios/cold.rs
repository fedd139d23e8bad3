//! S3: cold start, the first invoke on a fresh environment, against the sum of its parts
//! measured in the same run (sandbox set-up alone + the same runtime started outside the
//! sandbox until its first `/next` + the first invoke through the minimal Runtime API).

use std::time::{Duration, Instant};

use lambent_sandbox::{PreparedSandbox, SandboxSpec};

use super::{ECHO_PAYLOAD, Target};
use crate::functions::Rt;
use crate::http::Conn;
use crate::machine::mono_ns;
use crate::procs::{Lambent, spawn_runtime};
use crate::report::{Goal, Row, RowSpec};
use crate::stats::{median, summarize};
use crate::{Ctx, Result, api};

/// One cold invoke on Lambent and what the server says about its phases.
pub struct Cold {
    /// Client-observed latency of the invoke.
    pub total_ms: f64,
    /// `environment spawned elapsed_ms` (sandbox creation until the runtime was exec'd).
    pub spawned_ms: Option<f64>,
    /// `environment initialised elapsed_ms` (until the runtime's first `/next`).
    pub initialised_ms: Option<f64>,
    /// The REPORT line's Init Duration.
    pub init_duration_ms: Option<f64>,
    /// The REPORT line's Duration (the handler, dispatch to response).
    pub duration_ms: Option<f64>,
}

fn elapsed_ms(log: &str, message: &str) -> Option<f64> {
    let line = log.lines().rev().find(|l| l.contains(message))?;
    let rest = line.split("elapsed_ms=").nth(1)?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// Changes the function's configuration (so no warm environment matches), lets the retired
/// environment go, then times one invoke.
pub async fn lambent_cold(
    server: &Lambent,
    conn: &mut Conn,
    name: &str,
    trial: usize,
) -> Result<Cold> {
    let mut control = Conn::new(server.addr);
    api::set_env(&mut control, name, "BENCH_TRIAL", &trial.to_string()).await?;
    // The old environment is torn down asynchronously; keep that off the measurement.
    tokio::time::sleep(Duration::from_millis(150)).await;
    conn.connect().await?;
    let offset = server.log_len();
    let t = Instant::now();
    let r = api::invoke(conn, name, ECHO_PAYLOAD, true).await?;
    let total_ms = t.elapsed().as_secs_f64() * 1e3;
    if !r.ok() || !super::is_echo(&r.body) {
        return Err(format!("cold invoke of {name}: {} {}", r.status, r.text()).into());
    }
    // The debug lines are written before the response; give the writer a moment anyway.
    let mut log = server.log_since(offset);
    for _ in 0..20 {
        if log.contains("environment initialised") || server.isolation == "none" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        log = server.log_since(offset);
    }
    let tail = api::log_tail(&r);
    Ok(Cold {
        total_ms,
        spawned_ms: elapsed_ms(&log, "environment spawned"),
        initialised_ms: elapsed_ms(&log, "environment initialised"),
        init_duration_ms: api::report_field(&tail, "Init Duration"),
        duration_ms: api::report_field(&tail, "Duration"),
    })
}

/// One floor trial: its three parts in ms.
pub struct FloorCold {
    pub sandbox_ms: f64,
    pub start_ms: f64,
    pub invoke_ms: f64,
}

impl FloorCold {
    pub fn total(&self) -> f64 {
        self.sandbox_ms + self.start_ms + self.invoke_ms
    }
}

/// Namespaces, mounts, cgroups and init of one sandbox whose runtime is `/usr/bin/true`:
/// create, bind the Runtime API port and start (until the runtime is exec'd), as the invoker
/// does. The teardown afterwards is not timed (Lambent does it off the invoke path too).
pub async fn sandbox_alone(ctx: &Ctx, rt: Rt, trial: usize) -> Result<f64> {
    let spec = SandboxSpec {
        id: format!("bench-floor-{}-{trial}", std::process::id()),
        init_exe: "/proc/self/exe".into(),
        code_dir: ctx.packages.code_dir(rt).to_path_buf(),
        deferred_code: false,
        runtime_dir: Some(ctx.lambent.runtime_dir()),
        opt_dir: None,
        argv: vec!["/usr/bin/true".into()],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        cwd: "/var/task".into(),
        memory_mb: 1769,
        tmp_mb: 512,
        pids_max: 1024,
        cpu_weight_mb: 0,
        uid: 993,
        gid: 993,
    };
    let t = Instant::now();
    let prepared = PreparedSandbox::create(&spec)?;
    let listener = prepared.bind_tcp("127.0.0.1:9001".parse()?)?;
    let mut sandbox = prepared.start()?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let _ = tokio::time::timeout(Duration::from_secs(10), sandbox.wait()).await;
    drop(listener);
    drop(sandbox);
    Ok(ms)
}

/// The runtime started outside any sandbox until its first `/next`, then its first invoke.
pub async fn runtime_alone(
    ctx: &Ctx,
    rt: Rt,
    code_dir: Option<&std::path::Path>,
    stream: &str,
) -> Result<(f64, f64)> {
    ctx.floor.reset().await?;
    let mut conn = Conn::new(ctx.floor.addr);
    conn.connect().await?;
    let t0 = mono_ns();
    let runtime = spawn_runtime(&ctx.packages, rt, ctx.floor.addr, code_dir, stream)?;
    let nexts = ctx.floor.wait_nexts(1, Duration::from_secs(30)).await?;
    let start_ms = (nexts[0].saturating_sub(t0)) as f64 / 1e6;
    let t = Instant::now();
    let r = Target::floor(ctx.floor.addr, ECHO_PAYLOAD)
        .send(&mut conn)
        .await?;
    let invoke_ms = t.elapsed().as_secs_f64() * 1e3;
    if !super::is_echo(&r.body) {
        return Err(format!("floor {} answered {} {}", rt.label(), r.status, r.text()).into());
    }
    drop(runtime);
    Ok((start_ms, invoke_ms))
}

pub async fn floor_cold(ctx: &Ctx, rt: Rt, trial: usize) -> Result<FloorCold> {
    let sandbox_ms = sandbox_alone(ctx, rt, trial).await?;
    let (start_ms, invoke_ms) =
        runtime_alone(ctx, rt, None, &format!("floor-cold-{trial}")).await?;
    Ok(FloorCold {
        sandbox_ms,
        start_ms,
        invoke_ms,
    })
}

pub async fn s3(ctx: &mut Ctx) -> Result<()> {
    let p = ctx.params();
    for rt in ctx.opts.runtimes.clone() {
        ctx.log(&format!("S3 {}", rt.label()));
        let name = format!("bench-s3-{}", rt.label());
        ctx.create(&name, rt, p.memory_mb).await?;
        let mut conn = Conn::new(ctx.lambent.addr);
        let mut floors = Vec::new();
        let mut colds = Vec::new();
        for trial in 0..p.s3_trials {
            floors.push(floor_cold(ctx, rt, trial).await?);
            colds.push(lambent_cold(&ctx.lambent, &mut conn, &name, trial).await?);
        }
        push_rows(
            ctx,
            rt,
            "cold start (first invoke, new environment)",
            &colds,
            &floors,
        );
        if rt == Rt::Python {
            let prestarted = prestarted_colds(ctx, rt, &name, &mut floors).await?;
            push_prestarted_rows(ctx, rt, &prestarted, &floors);
        }
        let mut control = Conn::new(ctx.lambent.addr);
        api::delete(&mut control, &name).await?;
        ctx.created.retain(|n| n != &name);
    }
    Ok(())
}

/// Cold starts on a second server with pre-started runtimes (`--prestart 2`, the default), each
/// trial waiting until a pre-started runtime is ready so that every trial measures one; more
/// floor trials are interleaved and added to `floors`.
async fn prestarted_colds(
    ctx: &mut Ctx,
    rt: Rt,
    name: &str,
    floors: &mut Vec<FloorCold>,
) -> Result<Vec<Cold>> {
    let p = ctx.params();
    let server = Lambent::start(&ctx.lambent_bin, "sandbox", 2, &ctx.scratch).await?;
    let mut control = Conn::new(server.addr);
    api::create(&mut control, name, rt, &ctx.packages.zip(rt)?, p.memory_mb).await?;
    let mut conn = Conn::new(server.addr);
    // The runtime's first use starts its pool.
    lambent_cold(&server, &mut conn, name, 0).await?;
    let mut colds = Vec::new();
    for trial in 1..=p.s3_trials {
        floors.push(floor_cold(ctx, rt, trial).await?);
        let deadline = Instant::now() + Duration::from_secs(30);
        while api::prestarted(&mut control, "python3.12").await? == 0 {
            if Instant::now() > deadline {
                return Err("no pre-started runtime became ready within 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        colds.push(lambent_cold(&server, &mut conn, name, trial).await?);
    }
    Ok(colds)
}

fn push_rows(ctx: &mut Ctx, rt: Rt, scenario: &'static str, colds: &[Cold], floors: &[FloorCold]) {
    let p = ctx.params();
    let totals: Vec<f64> = colds.iter().map(|c| c.total_ms).collect();
    let floor_totals: Vec<f64> = floors.iter().map(FloorCold::total).collect();
    let ls = summarize(&totals);
    let fs = summarize(&floor_totals);
    let detail = format!(
        "{n} cold starts, interleaved with {n} floor trials. {phases} p90: Lambent {:.1} ms, floor \
         {:.1} ms",
        ls.p90,
        fs.p90,
        n = p.s3_trials,
        phases = phases(colds, floors),
    );
    let spec = |metric| RowSpec {
        id: "S3",
        scenario,
        runtime: rt.label(),
        metric,
        unit: "ms",
    };
    ctx.push(
        Row::measured(
            spec("p50"),
            ls.p50,
            Some(fs.p50),
            Goal::RatioAtMost { max: 1.2 },
            detail,
        )
        .with_reps(totals, floor_totals),
    );
    ctx.push(Row::measured(
        spec("p90"),
        ls.p90,
        Some(fs.p90),
        Goal::None,
        String::new(),
    ));
}

fn push_prestarted_rows(ctx: &mut Ctx, rt: Rt, colds: &[Cold], floors: &[FloorCold]) {
    let totals: Vec<f64> = colds.iter().map(|c| c.total_ms).collect();
    let floor_totals: Vec<f64> = floors.iter().map(FloorCold::total).collect();
    let ls = summarize(&totals);
    let fs = summarize(&floor_totals);
    let med = |v: Vec<Option<f64>>| median(&v.into_iter().flatten().collect::<Vec<_>>());
    let init_duration = med(colds.iter().map(|c| c.init_duration_ms).collect());
    let initialised = med(colds.iter().map(|c| c.initialised_ms).collect());
    let detail = format!(
        "{n} cold starts on a server with pre-started runtimes (--prestart 2), each after a \
         pre-started runtime was ready; the floor column is the same sum of parts as the row \
         above. Lambent phases (medians): attach code + limits + variables until the runtime's \
         first /next {initialised:.0} ms (server log, whole ms), REPORT Init Duration \
         {init_duration:.1} ms. p90: Lambent {:.1} ms",
        ls.p90,
        n = colds.len(),
    );
    ctx.push(
        Row::measured(
            RowSpec {
                id: "S3",
                scenario: "cold start from a pre-started runtime",
                runtime: rt.label(),
                metric: "p50",
                unit: "ms",
            },
            ls.p50,
            Some(fs.p50),
            Goal::AtMost { max: 5.0 },
            detail,
        )
        .with_reps(totals, floor_totals),
    );
}

/// The phases of Lambent's cold starts and of the floor, as medians.
fn phases(colds: &[Cold], floors: &[FloorCold]) -> String {
    let med = |v: Vec<Option<f64>>| median(&v.into_iter().flatten().collect::<Vec<_>>());
    let spawned = med(colds.iter().map(|c| c.spawned_ms).collect());
    let to_next = med(colds
        .iter()
        .map(|c| Some(c.initialised_ms? - c.spawned_ms?))
        .collect());
    let handler = med(colds.iter().map(|c| c.duration_ms).collect());
    let rest = med(colds
        .iter()
        .map(|c| Some(c.total_ms - c.initialised_ms? - c.duration_ms?))
        .collect());
    let init_duration = med(colds.iter().map(|c| c.init_duration_ms).collect());
    let f_sandbox = median(&floors.iter().map(|f| f.sandbox_ms).collect::<Vec<_>>());
    let f_start = median(&floors.iter().map(|f| f.start_ms).collect::<Vec<_>>());
    let f_invoke = median(&floors.iter().map(|f| f.invoke_ms).collect::<Vec<_>>());
    format!(
        "Lambent phases (medians): sandbox set-up until the runtime is exec'd {spawned:.0} ms \
         (server log, whole ms), runtime start until its first /next {to_next:.0} ms, handler \
         (REPORT Duration) {handler:.2} ms, the rest (routing, configuration check, response, \
         logs) {rest:.1} ms; REPORT Init Duration {init_duration:.1} ms. Floor parts (medians): \
         sandbox set-up alone (PreparedSandbox create + bind + start of /usr/bin/true) \
         {f_sandbox:.1} ms, the same runtime outside the sandbox until its first /next \
         {f_start:.1} ms, first invoke through the minimal Runtime API {f_invoke:.2} ms."
    )
}
