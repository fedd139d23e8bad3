//! S4: scale-out. 100 concurrent invokes of a function with no warm environment, each handler
//! sleeping 1 s and returning its environment id, against 100 bare runtime processes started at
//! once until each polls `/next`.

use std::time::Duration;

use super::{Target, burst, distinct_envs, sleep_payload, status_summary};
use crate::functions::Rt;
use crate::http::Conn;
use crate::machine::mono_ns;
use crate::procs::spawn_runtime;
use crate::report::{Goal, Row, RowSpec};
use crate::stats::{median, spread};
use crate::{Ctx, Result, api};

const SLEEP_MS: u64 = 1000;

/// Seconds until the last of `n` runtimes, started at once outside any sandbox, polled `/next`.
async fn floor_rep(ctx: &Ctx, rt: Rt, n: usize) -> Result<(f64, f64)> {
    ctx.floor.reset().await?;
    let t0 = mono_ns();
    let mut runtimes = Vec::with_capacity(n);
    for i in 0..n {
        runtimes.push(spawn_runtime(
            &ctx.packages,
            rt,
            ctx.floor.addr,
            None,
            &format!("floor-s4-{i}"),
        )?);
    }
    let mut nexts = ctx.floor.wait_nexts(n, Duration::from_secs(120)).await?;
    nexts.truncate(n);
    nexts.sort_unstable();
    let last = (nexts[n - 1].saturating_sub(t0)) as f64 / 1e9;
    let p50 = (nexts[n / 2].saturating_sub(t0)) as f64 / 1e9;
    drop(runtimes);
    Ok((last, p50))
}

struct LambentRep {
    /// Last successful response minus the handler's 1 s.
    seconds: f64,
    distinct: usize,
    ok: usize,
    statuses: String,
}

async fn lambent_rep(ctx: &mut Ctx, rt: Rt, rep: usize, n: usize) -> Result<LambentRep> {
    let p = ctx.params();
    let name = format!("bench-s4-{}-{rep}", rt.label());
    ctx.create(&name, rt, p.memory_mb).await?;
    let target = Target::lambent(ctx.lambent.addr, &name, &sleep_payload(SLEEP_MS));
    let responses = burst(&target, n).await?;
    let ok: Vec<f64> = responses
        .iter()
        .filter(|(_, s, _)| (200..300).contains(s))
        .map(|(t, _, _)| *t)
        .collect();
    let last = ok.iter().copied().fold(f64::NAN, f64::max);
    let result = LambentRep {
        seconds: last - SLEEP_MS as f64 / 1000.0,
        distinct: distinct_envs(&responses),
        ok: ok.len(),
        statuses: status_summary(&responses),
    };
    let mut conn = Conn::new(ctx.lambent.addr);
    api::delete(&mut conn, &name).await?;
    ctx.created.retain(|x| x != &name);
    super::wait_no_environments(ctx.lambent.pid(), Duration::from_secs(60)).await;
    Ok(result)
}

pub async fn s4(ctx: &mut Ctx) -> Result<()> {
    let p = ctx.params();
    let n = p.s4_requests;
    for rt in ctx.opts.runtimes.clone() {
        ctx.log(&format!("S4 {}", rt.label()));
        let (mut floors, mut floor_p50s, mut reps) = (Vec::new(), Vec::new(), Vec::new());
        for rep in 0..p.s4_pairs {
            let (last, p50) = floor_rep(ctx, rt, n).await?;
            floors.push(last);
            floor_p50s.push(p50);
            reps.push(lambent_rep(ctx, rt, rep, n).await?);
        }
        let values: Vec<f64> = reps.iter().map(|r| r.seconds).collect();
        let failed: usize = reps.iter().map(|r| n - r.ok).sum();
        let detail = format!(
            "{pairs} repetition(s), interleaved. Per repetition: successful responses {ok:?} of \
             {n}, distinct environments {distinct:?}, non-2xx {statuses}. The server ran with its \
             default account concurrency (1000) and --memory-budget {budget} MB (the default, 80 % \
             of RAM, admits only ten 1769 MB environments here); a request it cannot admit is \
             answered 429 at once. The value is the last *successful* response minus the \
             handler's 1 s. Floor: {n} runtime \
             processes spawned at once outside any sandbox until each polled /next (median \
             of the 50th ready {:.2} s); spread Lambent {}, floor {}",
            median(&floor_p50s),
            spread(&values, |v| format!("{v:.2} s")),
            spread(&floors, |v| format!("{v:.2} s")),
            pairs = p.s4_pairs,
            budget = crate::procs::MEMORY_BUDGET_MB,
            ok = reps.iter().map(|r| r.ok).collect::<Vec<_>>(),
            distinct = reps.iter().map(|r| r.distinct).collect::<Vec<_>>(),
            statuses = reps
                .iter()
                .map(|r| format!("[{}]", r.statuses))
                .collect::<Vec<_>>()
                .join(" "),
        );
        let mut row = Row::measured(
            RowSpec {
                id: "S4",
                scenario: "scale-out, 100 concurrent cold invokes",
                runtime: rt.label(),
                metric: "last response − 1 s",
                unit: "s",
            },
            median(&values),
            Some(median(&floors)),
            Goal::AtMost { max: 1.0 },
            detail,
        )
        .with_reps(values, floors);
        if failed > 0 {
            row = row.fail_because(&format!("{failed} of {} requests failed", n * p.s4_pairs));
        }
        ctx.push(row);
    }
    Ok(())
}
