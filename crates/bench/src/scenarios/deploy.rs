//! S7: deploy. CreateFunction with a 10 MB zip until the first invoke returns, against the sum
//! of its parts done without Lambent: the same upload over loopback, base64 decoding, SHA-256,
//! unzipping to disk, and the runtime's cold start + first invoke outside the sandbox.

use std::io::Cursor;
use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

use base64::Engine;
use sha2::Digest;

use super::ECHO_PAYLOAD;
use crate::functions::{Rt, noise, zip_dir};
use crate::http::Conn;
use crate::report::{Goal, Row, RowSpec};
use crate::stats::{median, spread};
use crate::{Ctx, Result, api};

struct Package {
    zip: Vec<u8>,
    body: Vec<u8>,
}

/// A unique package per trial (the code store is content-addressed: a repeated package would
/// not be stored or unpacked again).
fn package(ctx: &Ctx, name: &str, seed: u64) -> Result<Package> {
    let p = ctx.params();
    let blob = noise(p.s7_megabytes * 1024 * 1024, seed);
    let zip = zip_dir(ctx.packages.code_dir(Rt::Python), &[("blob.bin", &blob)])?;
    let body = api::create_body(name, Rt::Python, &zip, p.memory_mb);
    Ok(Package { zip, body })
}

struct FloorParts {
    upload_ms: f64,
    unpack_ms: f64,
    start_ms: f64,
    invoke_ms: f64,
}

async fn floor_trial(ctx: &Ctx, trial: usize, pkg: &Package) -> Result<FloorParts> {
    let mut conn = Conn::new(ctx.floor.addr);
    conn.connect().await?;
    let t = Instant::now();
    let r = conn
        .request("POST", "/__sink", api::INVOKE_HEADERS, &pkg.body)
        .await?;
    let upload_ms = t.elapsed().as_secs_f64() * 1e3;
    if !r.ok() {
        return Err(format!("floor upload: {}", r.status).into());
    }
    let t = Instant::now();
    let value: serde_json::Value = serde_json::from_slice(&pkg.body)?;
    let encoded = value["Code"]["ZipFile"].as_str().ok_or("no ZipFile")?;
    let zip = base64::engine::general_purpose::STANDARD.decode(encoded)?;
    let _digest = sha2::Sha256::digest(&zip);
    let dir = ctx.scratch.join(format!("s7-floor-{trial}"));
    zip::ZipArchive::new(Cursor::new(&zip))?.extract(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
    let unpack_ms = t.elapsed().as_secs_f64() * 1e3;
    debug_assert_eq!(zip.len(), pkg.zip.len());
    let (start_ms, invoke_ms) =
        super::cold::runtime_alone(ctx, Rt::Python, Some(&dir), &format!("floor-s7-{trial}"))
            .await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(FloorParts {
        upload_ms,
        unpack_ms,
        start_ms,
        invoke_ms,
    })
}

pub async fn s7(ctx: &mut Ctx) -> Result<()> {
    let p = ctx.params();
    ctx.log("S7 python");
    let (mut totals, mut floors) = (Vec::new(), Vec::new());
    let (mut creates, mut invokes) = (Vec::new(), Vec::new());
    let mut parts = Vec::new();
    for trial in 0..p.s7_pairs {
        let pkg = package(ctx, "bench-s7-floor", 2 * trial as u64 + 1)?;
        let f = floor_trial(ctx, trial, &pkg).await?;
        floors.push(f.upload_ms + f.unpack_ms + f.start_ms + f.invoke_ms);
        parts.push(f);

        let name = format!("bench-s7-{trial}");
        let pkg = package(ctx, &name, 2 * trial as u64 + 2)?;
        let mut conn = Conn::new(ctx.lambent.addr);
        let _ = api::delete(&mut conn, &name).await;
        conn.connect().await?;
        let t = Instant::now();
        api::create_with_body(&mut conn, &pkg.body).await?;
        ctx.created.push(name.clone());
        let created = t.elapsed().as_secs_f64() * 1e3;
        let r = api::invoke(&mut conn, &name, ECHO_PAYLOAD, false).await?;
        let total = t.elapsed().as_secs_f64() * 1e3;
        if !r.ok() || !super::is_echo(&r.body) {
            return Err(format!("S7 invoke: {} {}", r.status, r.text()).into());
        }
        totals.push(total);
        creates.push(created);
        invokes.push(total - created);
        api::delete(&mut conn, &name).await?;
        ctx.created.retain(|x| x != &name);
    }
    let med = |f: fn(&FloorParts) -> f64| median(&parts.iter().map(f).collect::<Vec<_>>());
    let detail = format!(
        "{pairs} deploy(s) of a unique {mb} MiB package (python3.12, incompressible data stored), \
         interleaved with floor trials. Lambent (medians): CreateFunction {create:.0} ms, first \
         invoke {invoke:.0} ms. Floor parts (medians): upload of the same request body to the \
         minimal server {up:.0} ms, base64 decode + SHA-256 + unzip to disk {unpack:.0} ms, runtime \
         start outside the sandbox until /next {start:.0} ms, first invoke {inv:.1} ms. Spread \
         Lambent {}, floor {}. No goal is set for S7.",
        spread(&totals, |v| format!("{v:.0} ms")),
        spread(&floors, |v| format!("{v:.0} ms")),
        pairs = p.s7_pairs,
        mb = p.s7_megabytes,
        create = median(&creates),
        invoke = median(&invokes),
        up = med(|f| f.upload_ms),
        unpack = med(|f| f.unpack_ms),
        start = med(|f| f.start_ms),
        inv = med(|f| f.invoke_ms),
    );
    ctx.push(
        Row::measured(
            RowSpec {
                id: "S7",
                scenario: "deploy: CreateFunction (10 MB zip) until the first invoke returns",
                runtime: "python",
                metric: "p50",
                unit: "ms",
            },
            median(&totals),
            Some(median(&floors)),
            Goal::None,
            detail,
        )
        .with_reps(totals, floors),
    );
    Ok(())
}
