//! S6: asynchronous durable enqueue. `Invoke` with `X-Amz-Invocation-Type: Event` (202 once the
//! event is journaled and fsynced) in a closed loop at concurrency 1 and 64, against two floors
//! served by the floor server over the same minimal HTTP path (`durable.rs`): one SQLite insert
//! and fsync per request, one request at a time (what a durable write costs on this disk), and the
//! same inserts group-committed by one writer thread (what batching concurrent writers allows).
//!
//! Every 202 is checked: the function's OnSuccess destination is a Lambent queue, and after each
//! Lambent repetition the benchmark waits until the queue holds a record for every accepted
//! event, then reads the records and matches their `requestContext.requestId` against the 202s'
//! request ids ("zero lost" is a hard condition of the goal). The wait gives the end-to-end
//! throughput (accepted → processed), and keeps a backlog of deliveries from running into the
//! next floor repetition. SQS `SendMessage` is measured against the same floors for information,
//! and its queue's message count is checked against the acknowledged sends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Load, Target, load, load_collecting};
use crate::api::{self, Queue};
use crate::functions::Rt;
use crate::http::Conn;
use crate::machine::cpu_us;
use crate::report::{Goal, Row, RowSpec};
use crate::stats::{fmt_us, median, spread, summarize};
use crate::{Ctx, Result};

/// Size of every event and message body: the 200-byte record of performance.md B.8 and C.1.
const BODY_BYTES: usize = 200;

/// How often the destination queue's count is read while waiting for deliveries (the wait ends
/// at most this late; the end-to-end rate is measured at that resolution).
const POLL: Duration = Duration::from_millis(10);

/// A 200-byte JSON event.
fn event_body() -> Vec<u8> {
    let frame = r#"{"hello":"world","pad":""}"#.len();
    json!({ "hello": "world", "pad": "x".repeat(BODY_BYTES - frame) })
        .to_string()
        .into_bytes()
}

/// One closed-loop repetition.
struct Rep {
    rate: f64,
    p50_us: f64,
    p99_us: f64,
    completed: usize,
    errors: usize,
    /// CPU time of the serving process per request (for Lambent: per accepted event, from the
    /// start of the load until every event was delivered, so deliveries included).
    cpu_us: f64,
}

impl Rep {
    fn of(l: &Load, cpu_us: u64, per: usize) -> Rep {
        let s = summarize(&l.latencies_us);
        Rep {
            rate: l.rate(),
            p50_us: s.p50,
            p99_us: s.p99,
            completed: l.completed,
            errors: l.errors,
            cpu_us: cpu_us as f64 / per.max(1) as f64,
        }
    }
}

fn col(reps: &[Rep], f: fn(&Rep) -> f64) -> Vec<f64> {
    reps.iter().map(f).collect()
}

fn errors(reps: &[Rep]) -> usize {
    reps.iter().map(|r| r.errors).sum()
}

fn total(reps: &[Rep]) -> usize {
    reps.iter().map(|r| r.completed + r.errors).sum()
}

/// The accepted events and the destination records seen for them.
struct Deliveries {
    queue: Queue,
    /// Request ids of every 202, in order.
    accepted: Vec<String>,
    /// Destination records read, by the request id they name.
    records: HashMap<String, u32>,
    /// Records read in all (including any for ids never acknowledged).
    read: u64,
}

impl Deliveries {
    /// Waits (at most `limit`) until the destination queue holds a record for every accepted
    /// event; returns when the last one arrived, or `None` if the limit passed first.
    async fn wait(&self, conn: &mut Conn, limit: Duration) -> Result<Option<Instant>> {
        let expected = self.accepted.len() as u64;
        let deadline = Instant::now() + limit;
        loop {
            // Nothing deletes records (read ones are only hidden), so the count is cumulative.
            if self.queue.stored(conn).await? >= expected {
                return Ok(Some(Instant::now()));
            }
            if Instant::now() > deadline {
                return Ok(None);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Reads every visible record (each is hidden for 12 hours once read, so it is read once).
    async fn collect(&mut self, conn: &mut Conn) -> Result<()> {
        loop {
            let bodies = self.queue.receive(conn).await?;
            if bodies.is_empty() {
                return Ok(());
            }
            for body in bodies {
                self.read += 1;
                let record: Value = serde_json::from_str(&body)?;
                if let Some(id) = record["requestContext"]["requestId"].as_str() {
                    *self.records.entry(id.to_owned()).or_default() += 1;
                }
            }
        }
    }

    /// (lost, duplicated) among the accepted events from index `from` on.
    fn check(&self, from: usize) -> (usize, usize) {
        let mut lost = 0;
        let mut duplicated = 0;
        for id in &self.accepted[from..] {
            match self.records.get(id) {
                None => lost += 1,
                Some(&n) if n > 1 => duplicated += 1,
                Some(_) => {}
            }
        }
        (lost, duplicated)
    }

    /// The wait limit for `pending` undelivered events: generous (a slow delivery is reported
    /// by the end-to-end row; only a missing one is a failure).
    fn limit(pending: usize) -> Duration {
        Duration::from_secs(60) + Duration::from_millis(pending as u64 * 20)
    }
}

pub async fn s6(ctx: &mut Ctx) -> Result<()> {
    let p = ctx.params();
    // The function only runs the deliveries; the cheapest runtime disturbs the enqueue least.
    let rt = if ctx.opts.runtimes.contains(&Rt::Rust) {
        Rt::Rust
    } else {
        ctx.opts.runtimes.first().copied().unwrap_or(Rt::Python)
    };
    // The floors' databases live in the scratch directory, on the same file system as the
    // server's data directory (a different disk would make the comparison meaningless).
    let floor_dir = ctx.scratch.join("s6-floor");
    std::fs::create_dir_all(&floor_dir)?;
    let mut floor_conn = Conn::new(ctx.floor.addr);
    let r = floor_conn
        .request(
            "POST",
            "/__durable",
            &[],
            floor_dir.to_string_lossy().as_bytes(),
        )
        .await?;
    if !r.ok() {
        return Err(format!(
            "floor server: /__durable answered {} {}",
            r.status,
            r.text()
        )
        .into());
    }
    let name = format!("bench-s6-{}", rt.label());
    ctx.create(&name, rt, p.memory_mb).await?;
    let mut control = Conn::new(ctx.lambent.addr);
    let destination = Queue::create(&mut control, "bench-s6-destination").await?;
    api::put_event_invoke_config(
        &mut control,
        &name,
        &json!({
            "MaximumRetryAttempts": 0,
            "DestinationConfig": { "OnSuccess": { "Destination": destination.arn } },
        }),
    )
    .await?;
    let sends = Queue::create(&mut control, "bench-s6-sends").await?;
    let mut deliveries = Deliveries {
        queue: destination,
        accepted: Vec::new(),
        records: HashMap::new(),
        read: 0,
    };
    let mut sends_acked = 0usize;
    for c in p.s6_concurrency {
        cell(ctx, rt, &name, c, &sends, &mut deliveries, &mut sends_acked).await?;
    }
    // Every acknowledged SendMessage must be in the queue (nothing receives from it).
    let stored = sends.stored(&mut control).await? as usize;
    let note = if stored == sends_acked {
        format!(
            "S6 SendMessage: all {sends_acked} acknowledged messages are in the queue afterwards"
        )
    } else {
        format!(
            "S6 SendMessage: {sends_acked} messages acknowledged but the queue holds {stored} \
             afterwards"
        )
    };
    if stored < sends_acked {
        for row in ctx.rows.iter_mut().filter(|r| r.id == "S6") {
            if row.scenario.starts_with("SQS") {
                row.verdict = format!("misses ({} lost)", sends_acked - stored);
            }
        }
    }
    ctx.note(note);
    Ok(())
}

/// Closed loop of `c` connections on `target` for the repetition length.
async fn measure(target: &Target, c: usize, secs: f64, server_pid: u32) -> Result<Rep> {
    let before = cpu_us(server_pid);
    let l = load(target, c, Duration::from_secs_f64(secs)).await?;
    let cpu = cpu_us(server_pid).saturating_sub(before);
    Ok(Rep::of(&l, cpu, l.completed + l.errors))
}

/// End-to-end numbers of one Lambent repetition.
struct EndToEnd {
    /// Accepted events ÷ (load start → last destination record stored).
    rate: f64,
    /// Time from the end of the load until the last record was stored.
    drain_s: f64,
}

/// One Lambent repetition: the load (every 202's request id kept), then the wait until each
/// accepted event was delivered, then the records read.
async fn lambent_rep(
    target: &Target,
    c: usize,
    secs: f64,
    control: &mut Conn,
    deliveries: &mut Deliveries,
    server_pid: u32,
) -> Result<(Rep, Option<EndToEnd>)> {
    let before = cpu_us(server_pid);
    let start = Instant::now();
    let (l, ids) = load_collecting(
        target,
        c,
        Duration::from_secs_f64(secs),
        Some("x-amzn-requestid"),
    )
    .await?;
    let load_end = start + Duration::from_secs_f64(l.seconds);
    let accepted = ids.len();
    deliveries.accepted.extend(ids);
    let done = deliveries
        .wait(control, Deliveries::limit(accepted))
        .await?;
    let cpu = cpu_us(server_pid).saturating_sub(before);
    deliveries.collect(control).await?;
    let e2e = done.map(|t| EndToEnd {
        rate: accepted as f64 / t.duration_since(start).as_secs_f64(),
        drain_s: t.saturating_duration_since(load_end).as_secs_f64(),
    });
    Ok((Rep::of(&l, cpu, accepted), e2e))
}

async fn cell(
    ctx: &mut Ctx,
    rt: Rt,
    name: &str,
    c: usize,
    sends: &Queue,
    deliveries: &mut Deliveries,
    sends_acked: &mut usize,
) -> Result<()> {
    let p = ctx.params();
    ctx.log(&format!("S6 c={c}"));
    let body = event_body();
    let floor_target = |path: &str| Target {
        addr: ctx.floor.addr,
        method: "POST",
        path: path.into(),
        headers: api::INVOKE_HEADERS,
        body: body.clone(),
    };
    let fsync = floor_target("/enqueue/fsync");
    let group = floor_target("/enqueue/group");
    let event = Target {
        addr: ctx.lambent.addr,
        method: "POST",
        path: api::invoke_path(name),
        headers: api::EVENT_HEADERS,
        body: body.clone(),
    };
    let message = json!({
        "QueueUrl": sends.url,
        "MessageBody": "m".repeat(BODY_BYTES),
    });
    let send = Target {
        addr: ctx.lambent.addr,
        method: "POST",
        path: "/".into(),
        headers: api::SEND_MESSAGE_HEADERS,
        body: message.to_string().into_bytes(),
    };
    let mut control = Conn::new(ctx.lambent.addr);
    let first = deliveries.accepted.len();

    // Warm-up, not recorded: connections, caches, the function's environments (up to the
    // engine's workers per function), and the databases' first pages.
    let warmup = p.s6_warmup_secs;
    let (floor_pid, server_pid) = (ctx.floor.pid(), ctx.lambent.pid());
    measure(&fsync, c, warmup, floor_pid).await?;
    measure(&group, c, warmup, floor_pid).await?;
    lambent_rep(&event, c, warmup, &mut control, deliveries, server_pid).await?;
    *sends_acked += measure(&send, c, warmup, server_pid).await?.completed;

    let (mut f_reps, mut g_reps, mut l_reps, mut s_reps) = (vec![], vec![], vec![], vec![]);
    let mut e2e = Vec::new();
    let mut undelivered_reps = 0;
    for _ in 0..p.s6_pairs {
        f_reps.push(measure(&fsync, c, p.s6_secs, floor_pid).await?);
        g_reps.push(measure(&group, c, p.s6_secs, floor_pid).await?);
        let (rep, end_to_end) =
            lambent_rep(&event, c, p.s6_secs, &mut control, deliveries, server_pid).await?;
        l_reps.push(rep);
        match end_to_end {
            Some(x) => e2e.push(x),
            None => undelivered_reps += 1,
        }
        let s = measure(&send, c, p.s6_secs, server_pid).await?;
        *sends_acked += s.completed;
        s_reps.push(s);
    }
    // A straggler of a repetition whose wait timed out may have arrived since.
    if undelivered_reps > 0 {
        let pending = deliveries.accepted.len() - first;
        deliveries
            .wait(&mut control, Deliveries::limit(pending))
            .await?;
        deliveries.collect(&mut control).await?;
    }
    let (lost, duplicated) = deliveries.check(first);
    let accepted = deliveries.accepted.len() - first;

    let pairs = p.s6_pairs;
    let secs = p.s6_secs;
    let (l_rate, g_rate, f_rate, s_rate) = (
        col(&l_reps, |r| r.rate),
        col(&g_reps, |r| r.rate),
        col(&f_reps, |r| r.rate),
        col(&s_reps, |r| r.rate),
    );
    let med = |reps: &[Rep], f: fn(&Rep) -> f64| median(&col(reps, f));
    let latencies = |reps: &[Rep]| {
        format!(
            "p50 {} / p99 {}",
            fmt_us(med(reps, |r| r.p50_us)),
            fmt_us(med(reps, |r| r.p99_us))
        )
    };
    let metric = format!("c={c}");
    let detail = format!(
        "{pairs} × {secs} s per side, interleaved (fsync floor, group-commit floor, Lambent, \
         SendMessage), 200-byte events; Lambent {l_lat}, throughput spread {l_spread}; \
         group-commit floor {g:.0}/s, {g_lat}; fsync floor {f:.0}/s, {f_lat} (Lambent = \
         {vs_f:.2}× the fsync floor); non-202: {l_err} of {l_total} (floors: {g_err}, {f_err}). \
         Events accepted in this cell (with warm-up): {accepted}; each 202's request id found in \
         a record of the OnSuccess destination queue, except {lost} (lost), {duplicated} \
         delivered more than once. The function ({rt}, echo) runs the deliveries on the same 2 \
         cores while events arrive: Lambent's rate includes that work, the floors do none. \
         Server CPU per event, enqueue and delivery (its runtime's own CPU not included): \
         {l_cpu}; group-commit floor per request: {g_cpu}",
        l_cpu = fmt_us(med(&l_reps, |r| r.cpu_us)),
        g_cpu = fmt_us(med(&g_reps, |r| r.cpu_us)),
        l_lat = latencies(&l_reps),
        l_spread = spread(&l_rate, |v| format!("{v:.0}/s")),
        g = median(&g_rate),
        g_lat = latencies(&g_reps),
        f = median(&f_rate),
        f_lat = latencies(&f_reps),
        vs_f = median(&l_rate) / median(&f_rate),
        l_err = errors(&l_reps),
        l_total = total(&l_reps),
        g_err = errors(&g_reps),
        f_err = errors(&f_reps),
        rt = rt.label(),
    );
    let mut row = Row::measured(
        RowSpec {
            id: "S6",
            scenario: "async durable enqueue (Invoke Event → 202)",
            runtime: rt.label(),
            metric: &metric,
            unit: "req/s",
        },
        median(&l_rate),
        Some(median(&g_rate)),
        Goal::RatioAtLeast { min: 0.8 },
        detail,
    )
    .with_reps(l_rate.clone(), g_rate.clone());
    if errors(&l_reps) > 0 {
        row = row.fail_because("errors");
    }
    if lost > 0 {
        row.verdict = format!("misses ({lost} lost)");
    }
    ctx.push(row);

    let p99_metric = format!("c={c} p99");
    ctx.push(
        Row::measured(
            RowSpec {
                id: "S6",
                scenario: "async durable enqueue (Invoke Event → 202)",
                runtime: rt.label(),
                metric: &p99_metric,
                unit: "µs",
            },
            med(&l_reps, |r| r.p99_us),
            Some(med(&g_reps, |r| r.p99_us)),
            Goal::None,
            format!(
                "floor: the group-commit floor's p99; fsync floor p99 {}",
                fmt_us(med(&f_reps, |r| r.p99_us))
            ),
        )
        .with_reps(col(&l_reps, |r| r.p99_us), col(&g_reps, |r| r.p99_us)),
    );

    let e2e_rate: Vec<f64> = e2e.iter().map(|x| x.rate).collect();
    let e2e_drain: Vec<f64> = e2e.iter().map(|x| x.drain_s).collect();
    let e2e_metric = format!("c={c} end-to-end");
    let mut row = Row::measured(
        RowSpec {
            id: "S6",
            scenario: "async end-to-end (accepted → processed)",
            runtime: rt.label(),
            metric: &e2e_metric,
            unit: "req/s",
        },
        median(&e2e_rate),
        None,
        Goal::None,
        format!(
            "events accepted in a {secs} s closed loop ÷ time from its start until the \
             destination queue held a record for each (OnSuccess, so every event also costs a \
             SendMessage); after the load ended the backlog took {drain} more (median, spread \
             {drain_spread}); {undelivered_reps} of {pairs} repetitions not fully delivered \
             within the wait",
            drain = fmt_us(median(&e2e_drain) * 1e6),
            drain_spread = spread(&e2e_drain, |v| fmt_us(v * 1e6)),
        ),
    )
    .with_reps(e2e_rate, Vec::new());
    if lost > 0 {
        row.verdict = format!("info ({lost} lost)");
    }
    ctx.push(row);

    let send_metric = format!("c={c} SendMessage");
    let mut row = Row::measured(
        RowSpec {
            id: "S6",
            scenario: "SQS SendMessage (durable, 200 bytes)",
            runtime: "–",
            metric: &send_metric,
            unit: "req/s",
        },
        median(&s_rate),
        Some(median(&g_rate)),
        Goal::None,
        format!(
            "same floors, same repetitions; SendMessage {}, spread {}; errors {} of {}; server \
             CPU per message {} (group-commit floor {})",
            latencies(&s_reps),
            spread(&s_rate, |v| format!("{v:.0}/s")),
            errors(&s_reps),
            total(&s_reps),
            fmt_us(med(&s_reps, |r| r.cpu_us)),
            fmt_us(med(&g_reps, |r| r.cpu_us)),
        ),
    )
    .with_reps(s_rate, g_rate);
    if errors(&s_reps) > 0 {
        row.verdict = "info (errors)".into();
    }
    ctx.push(row);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_200_bytes_of_json() {
        let body = event_body();
        assert_eq!(body.len(), BODY_BYTES);
        let v: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(v["hello"], "world");
    }
}
