//! URL: requests through a function URL (issue 8) at concurrency 16, against direct Invoke of
//! the same function on the same warm environments and against the bare HTTP round trip of the
//! floor server, interleaved in the same run.
//!
//! The URL is `AuthType: NONE` and reached through its path form (`/_lambent/url/<id>/`), so the
//! raw client needs no `Host` games; the host form is the same code after the lookup. The echo
//! function returns the payload 2.0 event it receives (about 1 KB), which Lambda's rules turn
//! into a 200 `application/json` body: the URL side does the event construction, the response
//! mapping and the larger body that a real URL request costs, and nothing else extra.

use std::time::Duration;

use super::{
    ECHO_PAYLOAD, Load, Target, burst, distinct_envs, load, sleep_payload, status_summary,
};
use crate::functions::Rt;
use crate::http::Conn;
use crate::report::{Goal, Row, RowSpec};
use crate::stats::{fmt_us, median, spread, summarize};
use crate::{Ctx, Result, api};

/// Connections (and warm environments) of the URL scenario, as the issue asks.
const CONCURRENCY: usize = 16;

struct Rep {
    rate: f64,
    p99_us: f64,
    errors: usize,
    total: usize,
}

impl From<Load> for Rep {
    fn from(l: Load) -> Rep {
        Rep {
            rate: l.rate(),
            p99_us: summarize(&l.latencies_us).p99,
            errors: l.errors,
            total: l.completed + l.errors,
        }
    }
}

pub async fn url(ctx: &mut Ctx) -> Result<()> {
    for rt in ctx.opts.runtimes.clone() {
        cell(ctx, rt).await?;
    }
    Ok(())
}

async fn cell(ctx: &mut Ctx, rt: Rt) -> Result<()> {
    let p = ctx.params();
    let c = CONCURRENCY;
    ctx.log(&format!("URL {} c={c}", rt.label()));
    ctx.floor.reset().await?;
    let name = format!("bench-url-{}", rt.label());
    ctx.create(&name, rt, p.memory_mb).await?;
    let mut control = Conn::new(ctx.lambent.addr);
    let url_id = api::create_public_url(&mut control, &name).await?;
    let warm = burst(
        &Target::lambent(ctx.lambent.addr, &name, &sleep_payload(p.warm_sleep_ms)),
        c,
    )
    .await?;
    let distinct = distinct_envs(&warm);
    if distinct != c {
        ctx.note(format!(
            "URL {}: warming gave {distinct} environments instead of {c} (non-2xx: {})",
            rt.label(),
            status_summary(&warm)
        ));
    }
    let hello = Target::hello(ctx.floor.addr);
    let invoke = Target::lambent(ctx.lambent.addr, &name, ECHO_PAYLOAD);
    let url = Target {
        addr: ctx.lambent.addr,
        method: "POST",
        path: format!("/_lambent/url/{url_id}/bench?x=1"),
        headers: api::INVOKE_HEADERS,
        body: ECHO_PAYLOAD.to_vec(),
    };
    // Sanity: the URL answers 200 with the event the function received.
    let r = url.send(&mut Conn::new(ctx.lambent.addr)).await?;
    let event: Option<serde_json::Value> = serde_json::from_slice(&r.body).ok();
    let raw_path = event.as_ref().and_then(|e| e.get("rawPath")?.as_str());
    if r.status != 200 || raw_path != Some("/bench") {
        return Err(format!("function URL answered {} {}", r.status, r.text()).into());
    }
    let warmup = Duration::from_secs_f64(p.s2_warmup_secs);
    load(&hello, c, warmup).await?;
    load(&invoke, c, warmup).await?;
    load(&url, c, warmup).await?;
    let secs = Duration::from_secs_f64(p.url_secs);
    let (mut h_reps, mut i_reps, mut u_reps) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..p.url_pairs {
        h_reps.push(Rep::from(load(&hello, c, secs).await?));
        i_reps.push(Rep::from(load(&invoke, c, secs).await?));
        u_reps.push(Rep::from(load(&url, c, secs).await?));
    }
    let col = |reps: &[Rep], f: fn(&Rep) -> f64| reps.iter().map(f).collect::<Vec<f64>>();
    let (u_rate, i_rate, h_rate) = (
        col(&u_reps, |r| r.rate),
        col(&i_reps, |r| r.rate),
        col(&h_reps, |r| r.rate),
    );
    let (u_p99, i_p99, h_p99) = (
        col(&u_reps, |r| r.p99_us),
        col(&i_reps, |r| r.p99_us),
        col(&h_reps, |r| r.p99_us),
    );
    let errors = |reps: &[Rep]| -> (usize, usize) {
        (
            reps.iter().map(|r| r.errors).sum(),
            reps.iter().map(|r| r.total).sum(),
        )
    };
    let ((u_err, u_total), (i_err, i_total)) = (errors(&u_reps), errors(&i_reps));
    let common = format!(
        "{pairs} × {secs} s per side, interleaved (bare HTTP, Invoke, URL); {distinct} warm \
         environments; non-2xx or failed: URL {u_err} of {u_total}, Invoke {i_err} of {i_total}",
        pairs = p.url_pairs,
        secs = p.url_secs,
    );
    let spec = |metric: &'static str, unit: &'static str| RowSpec {
        id: "URL",
        scenario: "function URL, c=16",
        runtime: rt.label(),
        metric,
        unit,
    };
    let mut rate_row = Row::measured(
        spec("req/s vs Invoke", "req/s"),
        median(&u_rate),
        Some(median(&i_rate)),
        Goal::RatioAtLeast { min: 0.8 },
        format!(
            "floor = direct Invoke of the same function; URL throughput spread {}; {common}",
            spread(&u_rate, |v| format!("{v:.0}/s")),
        ),
    )
    .with_reps(u_rate.clone(), i_rate);
    if u_err > 0 {
        rate_row = rate_row.fail_because("errors");
    }
    ctx.push(rate_row);
    ctx.push(
        Row::measured(
            spec("p99 vs Invoke", "µs"),
            median(&u_p99),
            Some(median(&i_p99)),
            Goal::None,
            format!(
                "URL p99 {} against Invoke p99 {}; {common}",
                fmt_us(median(&u_p99)),
                fmt_us(median(&i_p99)),
            ),
        )
        .with_reps(u_p99, i_p99),
    );
    ctx.push(
        Row::measured(
            spec("req/s vs bare HTTP", "req/s"),
            median(&u_rate),
            Some(median(&h_rate)),
            Goal::None,
            format!(
                "floor = GET /hello on the floor server (no function at all), p99 {}; {common}",
                fmt_us(median(&h_p99)),
            ),
        )
        .with_reps(u_rate, h_rate),
    );
    api::delete(&mut control, &name).await?;
    ctx.created.retain(|n| n != &name);
    super::wait_no_environments(ctx.lambent.pid(), Duration::from_secs(60)).await;
    Ok(())
}
