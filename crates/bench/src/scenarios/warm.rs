//! S1 (warm synchronous invoke latency at concurrency 1) and the isolation row (the sandboxed
//! server against `--isolation none`, for S1 and S3 with Python).

use std::time::Duration;

use super::{ECHO_PAYLOAD, Target, sequential};
use crate::functions::Rt;
use crate::http::Conn;
use crate::machine;
use crate::procs::{Lambent, spawn_runtime};
use crate::report::{Goal, Row, RowSpec};
use crate::stats::{fmt_us, median, spread, summarize};
use crate::{Ctx, Result, api};

/// Pins a server (and so the environments it starts from now on) to CPU0 and this thread (the
/// load generator) to CPU1.
fn pin_layout(ctx: &Ctx, servers: &[u32]) {
    if !ctx.opts.pin || machine::all_cpus().len() < 2 {
        return;
    }
    for &pid in servers {
        machine::pin_process(pid, &[0]);
    }
    machine::pin_thread(0, &[1]);
}

/// Pins every process of every environment that exists now to CPU0.
fn pin_environments(ctx: &Ctx) {
    if !ctx.opts.pin || machine::all_cpus().len() < 2 {
        return;
    }
    for dir in machine::server_cgroups(ctx.lambent.pid()) {
        for pid in machine::cgroup_pids(&dir) {
            machine::pin_process(pid, &[0]);
        }
    }
}

pub async fn s1(ctx: &mut Ctx) -> Result<()> {
    let p = ctx.params();
    for rt in ctx.opts.runtimes.clone() {
        ctx.log(&format!("S1 {}", rt.label()));
        pin_layout(ctx, &[ctx.lambent.pid(), ctx.floor.pid()]);
        // The floor: the same runtime process, outside any sandbox, on the minimal Runtime API.
        ctx.floor.reset().await?;
        let runtime = spawn_runtime(&ctx.packages, rt, ctx.floor.addr, None, "floor-s1")?;
        ctx.floor.wait_nexts(1, Duration::from_secs(30)).await?;
        if ctx.opts.pin && machine::all_cpus().len() >= 2 {
            machine::pin_process(runtime.pid(), &[0]);
        }
        let name = format!("bench-s1-{}", rt.label());
        ctx.create(&name, rt, p.memory_mb).await?;
        let floor_target = Target::floor(ctx.floor.addr, ECHO_PAYLOAD);
        let hello_target = Target::hello(ctx.floor.addr);
        let lambent_target = Target::lambent(ctx.lambent.addr, &name, ECHO_PAYLOAD);
        let mut fc = Conn::new(ctx.floor.addr);
        let mut hc = Conn::new(ctx.floor.addr);
        let mut lc = Conn::new(ctx.lambent.addr);
        // Sanity: both echo the payload.
        let r = lambent_target.send(&mut lc).await?;
        if !super::is_echo(&r.body) {
            return Err(
                format!("Lambent {} answered {} {}", rt.label(), r.status, r.text()).into(),
            );
        }
        let r = floor_target.send(&mut fc).await?;
        if !super::is_echo(&r.body) {
            return Err(format!("floor {} answered {} {}", rt.label(), r.status, r.text()).into());
        }
        pin_environments(ctx);
        sequential(&mut fc, &floor_target, p.s1_warmup).await?;
        sequential(&mut hc, &hello_target, p.s1_warmup).await?;
        sequential(&mut lc, &lambent_target, p.s1_warmup).await?;

        let (mut floor_reps, mut hello_reps, mut lambent_reps) =
            (Vec::new(), Vec::new(), Vec::new());
        let mut lambent_errors = 0;
        for _ in 0..p.s1_pairs {
            let (f, _) = sequential(&mut fc, &floor_target, p.s1_calls).await?;
            floor_reps.push(summarize(&f));
            let (h, _) = sequential(&mut hc, &hello_target, p.s1_calls).await?;
            hello_reps.push(summarize(&h));
            let (l, e) = sequential(&mut lc, &lambent_target, p.s1_calls).await?;
            lambent_errors += e;
            lambent_reps.push(summarize(&l));
        }
        drop(runtime);
        let pick = |reps: &[crate::stats::Summary], f: fn(&crate::stats::Summary) -> f64| {
            reps.iter().map(f).collect::<Vec<f64>>()
        };
        let (l50, l90, l99) = (
            pick(&lambent_reps, |s| s.p50),
            pick(&lambent_reps, |s| s.p90),
            pick(&lambent_reps, |s| s.p99),
        );
        let (f50, f90, f99) = (
            pick(&floor_reps, |s| s.p50),
            pick(&floor_reps, |s| s.p90),
            pick(&floor_reps, |s| s.p99),
        );
        let (h50, h99) = (pick(&hello_reps, |s| s.p50), pick(&hello_reps, |s| s.p99));
        let n: usize = lambent_reps.iter().map(|s| s.n).sum();
        let detail = format!(
            "Lambent p50 {} / p90 {} / p99 {} (medians of {} repetitions, {n} calls after {} warm-up; \
             p50 spread {}, p99 spread {}); Runtime-API floor p50 {} / p90 {} / p99 {}; bare HTTP \
             hello floor p50 {} / p99 {} (Lambent p50 = {:.1}× hello); non-2xx: {lambent_errors}",
            fmt_us(median(&l50)),
            fmt_us(median(&l90)),
            fmt_us(median(&l99)),
            p.s1_pairs,
            p.s1_warmup,
            spread(&l50, fmt_us),
            spread(&l99, fmt_us),
            fmt_us(median(&f50)),
            fmt_us(median(&f90)),
            fmt_us(median(&f99)),
            fmt_us(median(&h50)),
            fmt_us(median(&h99)),
            median(&l50) / median(&h50),
        );
        let spec = |metric| RowSpec {
            id: "S1",
            scenario: "warm invoke latency, c=1",
            runtime: rt.label(),
            metric,
            unit: "µs",
        };
        let mut row = Row::measured(
            spec("p50"),
            median(&l50),
            Some(median(&f50)),
            Goal::RatioAtMost { max: 1.3 },
            detail,
        )
        .with_reps(l50.clone(), f50.clone());
        if lambent_errors > 0 {
            row = row.fail_because("errors");
        }
        ctx.push(row);
        ctx.push(
            Row::measured(
                spec("p99"),
                median(&l99),
                Some(median(&f99)),
                Goal::RatioAtMost { max: 2.0 },
                String::new(),
            )
            .with_reps(l99, f99),
        );
        let mut conn = Conn::new(ctx.lambent.addr);
        api::delete(&mut conn, &name).await?;
        ctx.created.retain(|n| n != &name);
    }
    Ok(())
}

/// The cost of isolation: the same Python function on the sandboxed server and on a server
/// started with `--isolation none`, warm (S1) and cold (S3), interleaved.
pub async fn isolation(ctx: &mut Ctx) -> Result<()> {
    let p = ctx.params();
    let rt = Rt::Python;
    let plain = Lambent::start(&ctx.lambent_bin, "none", 0, &ctx.scratch).await?;
    let result = isolation_with(ctx, &plain, rt, p).await;
    plain.stop().await;
    result
}

async fn isolation_with(ctx: &mut Ctx, plain: &Lambent, rt: Rt, p: super::Params) -> Result<()> {
    let name = "bench-iso-python";
    ctx.create(name, rt, p.memory_mb).await?;
    let mut pc = Conn::new(plain.addr);
    api::create(&mut pc, name, rt, &ctx.packages.zip(rt)?, p.memory_mb).await?;

    // Warm.
    pin_layout(ctx, &[ctx.lambent.pid(), plain.pid()]);
    let sandboxed = Target::lambent(ctx.lambent.addr, name, ECHO_PAYLOAD);
    let unsandboxed = Target::lambent(plain.addr, name, ECHO_PAYLOAD);
    let mut sc = Conn::new(ctx.lambent.addr);
    sequential(&mut sc, &sandboxed, p.s1_warmup).await?;
    sequential(&mut pc, &unsandboxed, p.s1_warmup).await?;
    pin_environments(ctx);
    if ctx.opts.pin && machine::all_cpus().len() >= 2 {
        for pid in machine::process_tree(plain.pid()) {
            machine::pin_process(pid, &[0]);
        }
    }
    let (mut s50, mut n50) = (Vec::new(), Vec::new());
    for _ in 0..p.iso_pairs {
        let (n, _) = sequential(&mut pc, &unsandboxed, p.iso_calls).await?;
        n50.push(summarize(&n).p50);
        let (s, _) = sequential(&mut sc, &sandboxed, p.iso_calls).await?;
        s50.push(summarize(&s).p50);
    }
    ctx.push(
        Row::measured(
            RowSpec {
                id: "ISO",
                scenario: "S1 warm p50: sandbox vs --isolation none (floor column)",
                runtime: rt.label(),
                metric: "p50",
                unit: "µs",
            },
            median(&s50),
            Some(median(&n50)),
            Goal::None,
            format!(
                "{} repetitions of {} calls each, interleaved; sandboxed p50 spread {}, \
                 unsandboxed {}",
                p.iso_pairs,
                p.iso_calls,
                spread(&s50, fmt_us),
                spread(&n50, fmt_us)
            ),
        )
        .with_reps(s50, n50),
    );
    super::unpin(ctx);

    // Cold.
    let (mut s_cold, mut n_cold) = (Vec::new(), Vec::new());
    for trial in 0..p.iso_trials {
        let n = super::cold::lambent_cold(plain, &mut pc, name, trial).await?;
        n_cold.push(n.total_ms);
        let s = super::cold::lambent_cold(&ctx.lambent, &mut sc, name, trial).await?;
        s_cold.push(s.total_ms);
    }
    ctx.push(
        Row::measured(
            RowSpec {
                id: "ISO",
                scenario: "S3 cold start p50: sandbox vs --isolation none (floor column)",
                runtime: rt.label(),
                metric: "p50",
                unit: "ms",
            },
            median(&s_cold),
            Some(median(&n_cold)),
            Goal::None,
            format!(
                "{} cold starts each, interleaved; p90 sandboxed {:.1} ms, unsandboxed {:.1} ms",
                p.iso_trials,
                summarize(&s_cold).p90,
                summarize(&n_cold).p90
            ),
        )
        .with_reps(s_cold, n_cold),
    );
    Ok(())
}
