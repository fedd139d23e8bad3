//! The scenarios (performance.md Part C) and what they share: request targets, the sequential
//! and concurrent load generators, cold-start trials, clean-up between scenarios.

mod cold;
mod deploy;
mod enqueue;
mod memory;
mod scale;
mod throughput;
mod url;
mod warm;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::api;
use crate::http::Conn;
use crate::machine;
use crate::{Ctx, Options, Result};

/// How much of everything a run does; `--quick` shrinks counts and durations (same pairing).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Params {
    pub s1_pairs: usize,
    pub s1_calls: usize,
    pub s1_warmup: usize,
    pub s2_pairs: usize,
    pub s2_secs: f64,
    pub s2_concurrency: [usize; 2],
    /// Concurrencies at which the one-environment cell is run too.
    pub s2_one_env_at: &'static [usize],
    /// How long the warming invokes sleep (they must overlap to get distinct environments).
    pub warm_sleep_ms: u64,
    /// Unrecorded closed-loop warm-up before the repetitions.
    pub s2_warmup_secs: f64,
    pub s3_trials: usize,
    pub s4_pairs: usize,
    pub s4_requests: usize,
    pub s5_pairs: usize,
    pub s5_envs: usize,
    pub s5_idle_secs: u64,
    pub s6_pairs: usize,
    /// Length of one closed-loop repetition of S6 (each side).
    pub s6_secs: f64,
    pub s6_concurrency: [usize; 2],
    pub s6_warmup_secs: f64,
    pub s7_pairs: usize,
    pub s7_megabytes: usize,
    /// Interleaved repetitions (bare HTTP, Invoke, URL) of the URL scenario, and their length.
    pub url_pairs: usize,
    pub url_secs: f64,
    pub iso_pairs: usize,
    pub iso_calls: usize,
    pub iso_trials: usize,
    /// MemorySize of every benchmark function except S5's (1769 MB = one full vCPU).
    pub memory_mb: u32,
    /// MemorySize of S5's function (Lambda's default).
    pub s5_memory_mb: u32,
}

impl Params {
    pub fn new(quick: bool) -> Params {
        if quick {
            Params {
                s1_pairs: 5,
                s1_calls: 60,
                s1_warmup: 30,
                s2_pairs: 2,
                s2_secs: 0.5,
                s2_concurrency: [16, 64],
                s2_one_env_at: &[16],
                warm_sleep_ms: 300,
                s2_warmup_secs: 0.1,
                s3_trials: 5,
                s4_pairs: 1,
                s4_requests: 50,
                s5_pairs: 1,
                s5_envs: 10,
                s5_idle_secs: 1,
                s6_pairs: 2,
                s6_secs: 0.5,
                s6_concurrency: [1, 64],
                s6_warmup_secs: 0.2,
                s7_pairs: 1,
                s7_megabytes: 10,
                url_pairs: 2,
                url_secs: 0.5,
                iso_pairs: 2,
                iso_calls: 60,
                iso_trials: 3,
                memory_mb: 1769,
                s5_memory_mb: 128,
            }
        } else {
            Params {
                s1_pairs: 5,
                s1_calls: 500,
                s1_warmup: 200,
                s2_pairs: 5,
                s2_secs: 3.0,
                s2_concurrency: [16, 64],
                s2_one_env_at: &[16, 64],
                warm_sleep_ms: 1000,
                s2_warmup_secs: 0.3,
                s3_trials: 30,
                s4_pairs: 5,
                s4_requests: 100,
                s5_pairs: 5,
                s5_envs: 50,
                s5_idle_secs: 5,
                s6_pairs: 5,
                s6_secs: 2.0,
                s6_concurrency: [1, 64],
                s6_warmup_secs: 0.5,
                s7_pairs: 5,
                s7_megabytes: 10,
                url_pairs: 5,
                url_secs: 3.0,
                iso_pairs: 5,
                iso_calls: 500,
                iso_trials: 15,
                memory_mb: 1769,
                s5_memory_mb: 128,
            }
        }
    }
}

pub fn parameters(opts: &Options) -> serde_json::Value {
    json!({
        "quick": opts.quick,
        "scenarios": opts.scenarios,
        "runtimes": opts.runtimes.iter().map(|r| r.id()).collect::<Vec<_>>(),
        "pin": opts.pin,
        "counts": Params::new(opts.quick),
    })
}

pub async fn run(id: &str, ctx: &mut Ctx) -> Result<()> {
    match id {
        "S1" => warm::s1(ctx).await,
        "ISO" => warm::isolation(ctx).await,
        "S2" => throughput::s2(ctx).await,
        "S3" => cold::s3(ctx).await,
        "S4" => scale::s4(ctx).await,
        "S5" => memory::s5(ctx).await,
        "S6" => enqueue::s6(ctx).await,
        "S7" => deploy::s7(ctx).await,
        "URL" => url::url(ctx).await,
        other => Err(format!("unknown scenario {other}").into()),
    }
}

/// Deletes every function a scenario created and waits (at most 60 s) until the server tore
/// their environments down, so that the next scenario starts from an empty machine.
pub async fn cleanup(ctx: &mut Ctx) {
    let mut conn = Conn::new(ctx.lambent.addr);
    for name in std::mem::take(&mut ctx.created) {
        let _ = api::delete(&mut conn, &name).await;
    }
    if !wait_no_environments(ctx.lambent.pid(), Duration::from_secs(60)).await {
        ctx.note(format!(
            "environments still running 60 s after clean-up: {} processes",
            machine::process_tree(ctx.lambent.pid()).len() - 1
        ));
    }
    if ctx.opts.pin {
        unpin(ctx);
    }
}

/// Waits until the server has no child process left (its environments are torn down: each
/// sandbox's init, or each plain runtime, is a child of the server).
pub async fn wait_no_environments(server_pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if machine::process_tree(server_pid).len() <= 1 {
            // The cgroups are removed right after the reap; let that finish.
            tokio::time::sleep(Duration::from_millis(20)).await;
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn unpin(ctx: &Ctx) {
    let all = machine::all_cpus();
    machine::pin_thread(0, &all);
    machine::pin_process(ctx.lambent.pid(), &all);
    machine::pin_process(ctx.floor.pid(), &all);
}

impl Ctx {
    /// CreateFunction, remembered for [`cleanup`].
    pub async fn create(
        &mut self,
        name: &str,
        rt: crate::functions::Rt,
        memory_mb: u32,
    ) -> Result<()> {
        let zip = self.packages.zip(rt)?;
        let mut conn = Conn::new(self.lambent.addr);
        api::create(&mut conn, name, rt, &zip, memory_mb).await?;
        self.created.push(name.to_owned());
        Ok(())
    }

    pub fn params(&self) -> Params {
        Params::new(self.opts.quick)
    }
}

/// One kind of request, sent again and again.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub method: &'static str,
    pub path: String,
    pub headers: &'static [(&'static str, &'static str)],
    pub body: Vec<u8>,
}

pub const ECHO_PAYLOAD: &[u8] = br#"{"hello":"world"}"#;

impl Target {
    /// The floor's synchronous invoke.
    pub fn floor(addr: SocketAddr, body: &[u8]) -> Target {
        Target {
            addr,
            method: "POST",
            path: "/invoke".into(),
            headers: api::INVOKE_HEADERS,
            body: body.to_vec(),
        }
    }

    /// The bare HTTP round trip.
    pub fn hello(addr: SocketAddr) -> Target {
        Target {
            addr,
            method: "GET",
            path: "/hello".into(),
            headers: &[],
            body: Vec::new(),
        }
    }

    /// Lambent's Invoke.
    pub fn lambent(addr: SocketAddr, name: &str, body: &[u8]) -> Target {
        Target {
            addr,
            method: "POST",
            path: api::invoke_path(name),
            headers: api::INVOKE_HEADERS,
            body: body.to_vec(),
        }
    }

    pub async fn send(&self, conn: &mut Conn) -> Result<crate::http::Response> {
        Ok(conn
            .request(self.method, &self.path, self.headers, &self.body)
            .await?)
    }
}

/// `n` requests one after the other on one connection: latencies in µs and the non-2xx count.
pub async fn sequential(conn: &mut Conn, target: &Target, n: usize) -> Result<(Vec<f64>, usize)> {
    conn.connect().await?;
    let mut out = Vec::with_capacity(n);
    let mut errors = 0;
    for _ in 0..n {
        let t = Instant::now();
        let r = target.send(conn).await?;
        out.push(t.elapsed().as_secs_f64() * 1e6);
        if !r.ok() || r.header("x-amz-function-error").is_some() {
            errors += 1;
        }
    }
    Ok((out, errors))
}

/// What a closed-loop load of `c` connections produced.
pub struct Load {
    pub completed: usize,
    pub errors: usize,
    pub latencies_us: Vec<f64>,
    pub seconds: f64,
}

impl Load {
    pub fn rate(&self) -> f64 {
        self.completed as f64 / self.seconds
    }
}

/// `c` connections, each sending its next request as soon as the previous one is answered, for
/// `duration` (requests in flight at the end are completed and counted).
pub async fn load(target: &Target, c: usize, duration: Duration) -> Result<Load> {
    Ok(load_collecting(target, c, duration, None).await?.0)
}

/// [`load`], also returning the value of response header `collect` of every successful response
/// (S6 keeps the request id of every 202 to check later that each event was delivered).
pub async fn load_collecting(
    target: &Target,
    c: usize,
    duration: Duration,
    collect: Option<&'static str>,
) -> Result<(Load, Vec<String>)> {
    let mut conns = Vec::with_capacity(c);
    for _ in 0..c {
        let mut conn = Conn::new(target.addr);
        conn.connect().await?;
        conns.push(conn);
    }
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for mut conn in conns {
        let target = target.clone();
        tasks.spawn(async move {
            let mut lat = Vec::with_capacity(4096);
            let mut ok = 0usize;
            let mut errors = 0usize;
            let mut collected = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                match target.send(&mut conn).await {
                    Ok(r) if r.ok() && r.header("x-amz-function-error").is_none() => {
                        ok += 1;
                        lat.push(t.elapsed().as_secs_f64() * 1e6);
                        if let Some(value) = collect.and_then(|h| r.header(h)) {
                            collected.push(value.to_owned());
                        }
                    }
                    Ok(_) => {
                        errors += 1;
                        lat.push(t.elapsed().as_secs_f64() * 1e6);
                    }
                    Err(_) => {
                        errors += 1;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
            (lat, ok, errors, collected)
        });
    }
    let mut result = Load {
        completed: 0,
        errors: 0,
        latencies_us: Vec::new(),
        seconds: 0.0,
    };
    let mut all_collected = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (lat, ok, errors, collected) = joined?;
        result.completed += ok;
        result.errors += errors;
        result.latencies_us.extend(lat);
        all_collected.extend(collected);
    }
    result.seconds = start.elapsed().as_secs_f64();
    Ok((result, all_collected))
}

/// Sends `n` invokes at once, each on its own (pre-opened) connection; returns for each the
/// time to its response (s, from the moment all were released), its status and its body.
pub async fn burst(target: &Target, n: usize) -> Result<Vec<(f64, u16, Vec<u8>)>> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut conn = Conn::new(target.addr);
        conn.connect().await?;
        conns.push(conn);
    }
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut conn in conns {
        let target = target.clone();
        tasks.spawn(async move {
            let r = target.send(&mut conn).await;
            let t = start.elapsed().as_secs_f64();
            match r {
                Ok(r) => {
                    let status = if r.header("x-amz-function-error").is_some() {
                        599
                    } else {
                        r.status
                    };
                    (t, status, r.body)
                }
                Err(e) => (t, 0, e.to_string().into_bytes()),
            }
        });
    }
    let mut out = Vec::with_capacity(n);
    while let Some(joined) = tasks.join_next().await {
        out.push(joined?);
    }
    Ok(out)
}

/// The distinct environment ids (`{"env": ...}`) in successful responses.
pub fn distinct_envs(responses: &[(f64, u16, Vec<u8>)]) -> usize {
    responses
        .iter()
        .filter(|(_, s, _)| (200..300).contains(s))
        .filter_map(|(_, _, b)| {
            serde_json::from_slice::<serde_json::Value>(b)
                .ok()?
                .get("env")?
                .as_str()
                .map(str::to_owned)
        })
        .collect::<HashSet<_>>()
        .len()
}

/// "N× 429, M× 0 (transport)" style summary of non-2xx statuses.
pub fn status_summary(responses: &[(f64, u16, Vec<u8>)]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for (_, s, _) in responses {
        if !(200..300).contains(s) {
            *counts.entry(*s).or_insert(0usize) += 1;
        }
    }
    if counts.is_empty() {
        return "none".into();
    }
    let summary = counts
        .iter()
        .map(|(s, n)| match s {
            0 => format!("{n}× transport error"),
            599 => format!("{n}× function error"),
            s => format!("{n}× HTTP {s}"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let first = responses
        .iter()
        .find(|(_, s, _)| !(200..300).contains(s))
        .map(|(_, _, body)| {
            String::from_utf8_lossy(body)
                .chars()
                .take(160)
                .collect::<String>()
                .replace('|', "/")
        })
        .unwrap_or_default();
    format!("{summary}; first: {first}")
}

/// Whether a response body is the echo of [`ECHO_PAYLOAD`] (as JSON: runtimes format it their way).
pub fn is_echo(body: &[u8]) -> bool {
    let expected: serde_json::Value =
        serde_json::from_slice(ECHO_PAYLOAD).expect("the payload is JSON");
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v == expected)
}

pub fn sleep_payload(ms: u64) -> Vec<u8> {
    format!(r#"{{"sleep_ms":{ms}}}"#).into_bytes()
}
