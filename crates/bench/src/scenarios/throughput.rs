//! S2: warm throughput at concurrency 16 and 64, with as many warm environments as connections,
//! against the minimal Runtime API server driving the same number of runtime processes.

use std::time::Duration;

use super::{
    ECHO_PAYLOAD, Load, Target, burst, distinct_envs, load, sleep_payload, status_summary,
};
use crate::functions::Rt;
use crate::http::Conn;
use crate::machine::cpu_us;
use crate::procs::spawn_runtime;
use crate::report::{Goal, Row, RowSpec};
use crate::stats::{fmt_us, median, spread, summarize};
use crate::{Ctx, Result, api};

struct Rep {
    rate: f64,
    p99_us: f64,
    cpu_per_invoke_us: f64,
    errors: usize,
    completed: usize,
}

async fn measured_load(target: &Target, c: usize, secs: f64, server_pid: u32) -> Result<Rep> {
    let before = cpu_us(server_pid);
    let l: Load = load(target, c, Duration::from_secs_f64(secs)).await?;
    let cpu = cpu_us(server_pid).saturating_sub(before) as f64;
    let total = (l.completed + l.errors).max(1);
    Ok(Rep {
        rate: l.rate(),
        p99_us: summarize(&l.latencies_us).p99,
        cpu_per_invoke_us: cpu / total as f64,
        errors: l.errors,
        completed: l.completed,
    })
}

/// Whether a function's environments can be limited to one (PutFunctionConcurrency).
async fn concurrency_limit_available(ctx: &mut Ctx) -> std::result::Result<(), String> {
    let name = "bench-s2-probe";
    ctx.create(name, Rt::Python, 128)
        .await
        .map_err(|e| e.to_string())?;
    let mut conn = Conn::new(ctx.lambent.addr);
    let result = api::put_concurrency(&mut conn, name, 1)
        .await
        .map_err(|e| e.to_string());
    let _ = api::delete(&mut conn, name).await;
    ctx.created.retain(|n| n != name);
    result
}

pub async fn s2(ctx: &mut Ctx) -> Result<()> {
    let p = ctx.params();
    let limit = concurrency_limit_available(ctx).await;
    for rt in ctx.opts.runtimes.clone() {
        for c in p.s2_concurrency {
            cell(ctx, rt, c, c).await?;
            if limit.is_ok() && p.s2_one_env_at.contains(&c) {
                cell(ctx, rt, c, 1).await?;
            }
        }
    }
    if let Err(reason) = limit {
        for c in p.s2_concurrency {
            let metric = format!("c={c}, 1 env");
            ctx.push(Row::unavailable(
                RowSpec {
                    id: "S2",
                    scenario: "warm throughput",
                    runtime: "all",
                    metric: &metric,
                    unit: "req/s",
                },
                Goal::RatioAtLeast { min: 0.8 },
                format!(
                    "not available: a function's environments cannot be limited to one yet \
                     ({reason}); Lambent starts one environment per concurrent request, up to \
                     its global cap of 64."
                ),
            ));
        }
    }
    Ok(())
}

/// One cell: `c` connections against `envs` warm environments (and `envs` floor runtimes).
async fn cell(ctx: &mut Ctx, rt: Rt, c: usize, envs: usize) -> Result<()> {
    let p = ctx.params();
    ctx.log(&format!("S2 {} c={c} envs={envs}", rt.label()));
    // Floor: `envs` runtime processes polling the minimal Runtime API.
    ctx.floor.reset().await?;
    let mut runtimes = Vec::with_capacity(envs);
    for i in 0..envs {
        runtimes.push(spawn_runtime(
            &ctx.packages,
            rt,
            ctx.floor.addr,
            None,
            &format!("floor-s2-{i}"),
        )?);
    }
    ctx.floor.wait_nexts(envs, Duration::from_secs(120)).await?;
    // Lambent: a function with `envs` warm environments.
    let name = format!("bench-s2-{}-{c}-{envs}", rt.label());
    ctx.create(&name, rt, p.memory_mb).await?;
    let mut control = Conn::new(ctx.lambent.addr);
    if envs == 1 {
        api::put_concurrency(&mut control, &name, 1).await?;
    }
    let warm = burst(
        &Target::lambent(ctx.lambent.addr, &name, &sleep_payload(p.warm_sleep_ms)),
        envs,
    )
    .await?;
    let distinct = distinct_envs(&warm);
    if distinct != envs {
        ctx.note(format!(
            "S2 {} c={c}: warming gave {distinct} environments instead of {envs} (non-2xx: {})",
            rt.label(),
            status_summary(&warm)
        ));
    }
    let floor_target = Target::floor(ctx.floor.addr, ECHO_PAYLOAD);
    let lambent_target = Target::lambent(ctx.lambent.addr, &name, ECHO_PAYLOAD);
    // Warm-up of connections, caches and the allocator; not recorded.
    let warmup = Duration::from_secs_f64(p.s2_warmup_secs);
    load(&floor_target, c, warmup).await?;
    load(&lambent_target, c, warmup).await?;
    let (mut floor_reps, mut lambent_reps) = (Vec::new(), Vec::new());
    for _ in 0..p.s2_pairs {
        floor_reps.push(measured_load(&floor_target, c, p.s2_secs, ctx.floor.pid()).await?);
        lambent_reps.push(measured_load(&lambent_target, c, p.s2_secs, ctx.lambent.pid()).await?);
    }
    drop(runtimes);
    let col = |reps: &[Rep], f: fn(&Rep) -> f64| reps.iter().map(f).collect::<Vec<f64>>();
    let (l_rate, f_rate) = (col(&lambent_reps, |r| r.rate), col(&floor_reps, |r| r.rate));
    let (l_p99, f_p99) = (
        col(&lambent_reps, |r| r.p99_us),
        col(&floor_reps, |r| r.p99_us),
    );
    let (l_cpu, f_cpu) = (
        col(&lambent_reps, |r| r.cpu_per_invoke_us),
        col(&floor_reps, |r| r.cpu_per_invoke_us),
    );
    let l_errors: usize = lambent_reps.iter().map(|r| r.errors).sum();
    let f_errors: usize = floor_reps.iter().map(|r| r.errors).sum();
    let l_total: usize = lambent_reps.iter().map(|r| r.completed + r.errors).sum();
    let detail = format!(
        "{pairs} × {secs} s per side, interleaved; throughput spread {}; p99 {} (floor {}, {:.2}×); \
         server CPU per invoke {} (floor {}, {:.2}×; the server process only, not the runtimes); \
         non-2xx or failed: {l_errors} of {l_total} (floor: {f_errors}); warm environments: \
         {distinct}",
        spread(&l_rate, |v| format!("{v:.0}/s")),
        fmt_us(median(&l_p99)),
        fmt_us(median(&f_p99)),
        median(&l_p99) / median(&f_p99),
        fmt_us(median(&l_cpu)),
        fmt_us(median(&f_cpu)),
        median(&l_cpu) / median(&f_cpu),
        pairs = p.s2_pairs,
        secs = p.s2_secs,
    );
    let metric = format!("c={c}, {envs} env{}", if envs == 1 { "" } else { "s" });
    let detail = if envs == 1 {
        format!(
            "{detail}. One environment = ReservedConcurrentExecutions 1 (PutFunctionConcurrency): \
             as on Lambda, requests beyond it are throttled with 429 at once, not queued, and \
             the closed-loop client sends its next request right away; invokes/s counts \
             successful invokes only. The floor queues all {c} connections on its one runtime"
        )
    } else {
        detail
    };
    let mut row = Row::measured(
        RowSpec {
            id: "S2",
            scenario: "warm throughput",
            runtime: rt.label(),
            metric: &metric,
            unit: "req/s",
        },
        median(&l_rate),
        Some(median(&f_rate)),
        Goal::RatioAtLeast { min: 0.8 },
        detail,
    )
    .with_reps(l_rate, f_rate);
    if l_errors > 0 {
        row = row.fail_because(if envs == 1 { "throttled" } else { "errors" });
    }
    ctx.push(row);
    api::delete(&mut control, &name).await?;
    ctx.created.retain(|n| n != &name);
    super::wait_no_environments(ctx.lambent.pid(), Duration::from_secs(60)).await;
    Ok(())
}
