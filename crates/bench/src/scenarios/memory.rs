//! S5: idle memory per warm environment. N environments, one invoke each, then idle; the PSS of
//! every process in each environment's cgroup plus the server's own growth, per environment,
//! against the same runtime idle outside the sandbox.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use super::{Target, burst, distinct_envs, sleep_payload, status_summary};
use crate::functions::Rt;
use crate::http::Conn;
use crate::machine::{cgroup_pids, process_tree, pss_kib, server_cgroups};
use crate::procs::spawn_runtime;
use crate::report::{Goal, Row, RowSpec};
use crate::stats::{median, spread};
use crate::{Ctx, Result, api};

const MIB: f64 = 1024.0;

/// PSS per idle runtime outside the sandbox (MiB), after one invoke each.
async fn floor_rep(ctx: &Ctx, rt: Rt, n: usize, idle: Duration) -> Result<f64> {
    ctx.floor.reset().await?;
    let mut runtimes = Vec::with_capacity(n);
    for i in 0..n {
        runtimes.push(spawn_runtime(
            &ctx.packages,
            rt,
            ctx.floor.addr,
            None,
            &format!("floor-s5-{i}"),
        )?);
    }
    ctx.floor.wait_nexts(n, Duration::from_secs(120)).await?;
    // One invoke each: every runtime holds its event for 1 s, so the n events reach n runtimes.
    let sleep = sleep_payload(ctx.params().warm_sleep_ms);
    let responses = burst(&Target::floor(ctx.floor.addr, &sleep), n).await?;
    if distinct_envs(&responses) != n {
        return Err(format!(
            "floor: {} of {n} runtimes invoked ({})",
            distinct_envs(&responses),
            status_summary(&responses)
        )
        .into());
    }
    tokio::time::sleep(idle).await;
    let total: u64 = runtimes
        .iter()
        .flat_map(|r| process_tree(r.pid()))
        .map(pss_kib)
        .sum();
    drop(runtimes);
    Ok(total as f64 / MIB / n as f64)
}

struct LambentRep {
    per_env: f64,
    env_only: f64,
    server_growth: f64,
    processes: usize,
}

async fn lambent_rep(
    ctx: &mut Ctx,
    rt: Rt,
    rep: usize,
    n: usize,
    idle: Duration,
) -> Result<LambentRep> {
    let p = ctx.params();
    let before: HashSet<PathBuf> = server_cgroups(ctx.lambent.pid()).into_iter().collect();
    let server_before = pss_kib(ctx.lambent.pid());
    let name = format!("bench-s5-{}-{rep}", rt.label());
    ctx.create(&name, rt, p.s5_memory_mb).await?;
    let responses = burst(
        &Target::lambent(ctx.lambent.addr, &name, &sleep_payload(p.warm_sleep_ms)),
        n,
    )
    .await?;
    let distinct = distinct_envs(&responses);
    if distinct != n {
        return Err(format!(
            "Lambent: {distinct} of {n} environments warmed ({})",
            status_summary(&responses)
        )
        .into());
    }
    tokio::time::sleep(idle).await;
    let new: Vec<PathBuf> = server_cgroups(ctx.lambent.pid())
        .into_iter()
        .filter(|d| !before.contains(d))
        .collect();
    let mut total = 0u64;
    let mut processes = 0usize;
    for dir in &new {
        for pid in cgroup_pids(dir) {
            processes += 1;
            total += pss_kib(pid);
        }
    }
    let server_after = pss_kib(ctx.lambent.pid());
    let envs = new.len().max(1);
    let env_only = total as f64 / MIB / envs as f64;
    let server_growth = (server_after as f64 - server_before as f64) / MIB / envs as f64;
    let mut conn = Conn::new(ctx.lambent.addr);
    api::delete(&mut conn, &name).await?;
    ctx.created.retain(|x| x != &name);
    super::wait_no_environments(ctx.lambent.pid(), Duration::from_secs(60)).await;
    if new.len() != n {
        return Err(format!("found {} environment cgroups, expected {n}", new.len()).into());
    }
    Ok(LambentRep {
        per_env: env_only + server_growth,
        env_only,
        server_growth,
        processes: processes / envs,
    })
}

pub async fn s5(ctx: &mut Ctx) -> Result<()> {
    let p = ctx.params();
    let n = p.s5_envs;
    let idle = Duration::from_secs(p.s5_idle_secs);
    for rt in ctx.opts.runtimes.clone() {
        ctx.log(&format!("S5 {}", rt.label()));
        let (mut floors, mut reps) = (Vec::new(), Vec::new());
        for rep in 0..p.s5_pairs {
            floors.push(floor_rep(ctx, rt, n, idle).await?);
            reps.push(lambent_rep(ctx, rt, rep, n, idle).await?);
        }
        let values: Vec<f64> = reps.iter().map(|r| r.per_env).collect();
        let detail = format!(
            "{n} environments, MemorySize {mem} MB, idle {idle} s after one invoke each, \
             {pairs} repetition(s) interleaved. Per environment (medians): PSS of its cgroup's \
             processes {env:.2} MiB ({procs} process(es)), server growth {growth:.0} KiB (goal \
             ≤ 100 KiB); floor: PSS of the same runtime idle outside the sandbox, {n} at once. \
             Spread Lambent {}, floor {}",
            spread(&values, |v| format!("{v:.2}")),
            spread(&floors, |v| format!("{v:.2}")),
            mem = p.s5_memory_mb,
            idle = p.s5_idle_secs,
            pairs = p.s5_pairs,
            env = median(&reps.iter().map(|r| r.env_only).collect::<Vec<_>>()),
            procs = reps.first().map_or(0, |r| r.processes),
            growth = median(&reps.iter().map(|r| r.server_growth).collect::<Vec<_>>()) * MIB,
        );
        ctx.push(
            Row::measured(
                RowSpec {
                    id: "S5",
                    scenario: "idle memory per warm environment (PSS)",
                    runtime: rt.label(),
                    metric: "PSS per env",
                    unit: "MB",
                },
                median(&values),
                Some(median(&floors)),
                Goal::FloorPlus { slack: 1.0 },
                detail,
            )
            .with_reps(values, floors),
        );
    }
    Ok(())
}
