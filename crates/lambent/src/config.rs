//! Server settings from flags, `LAMBENT_*` environment variables and an optional `lambent.toml`;
//! flags win over the environment, which wins over the file.

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LAMBENT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Where functions, code and logs are kept [default: ~/.local/share/lambent].
    #[arg(long, env = "LAMBENT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Region used in ARNs and the Runtime environment.
    #[arg(long, env = "LAMBENT_REGION")]
    pub region: Option<String>,
    /// 12-digit account id used in ARNs.
    #[arg(long, env = "LAMBENT_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// A file of `ACCESS_KEY_ID SECRET_ACCESS_KEY` lines (or an AWS credentials INI file):
    /// requests must then be signed with one of these keys.
    #[arg(long, env = "LAMBENT_CREDENTIALS")]
    pub credentials: Option<PathBuf>,
    /// How functions are isolated: `sandbox` (namespaces, cgroups, seccomp; needs root) or
    /// `none` (plain processes, for development only: functions are NOT isolated).
    #[arg(long, env = "LAMBENT_ISOLATION", value_enum)]
    pub isolation: Option<IsolationArg>,
    /// How long an idle execution environment is kept warm, e.g. `300s` or `5m`.
    #[arg(long, env = "LAMBENT_KEEP_ALIVE", value_parser = humantime::parse_duration)]
    pub keep_alive: Option<std::time::Duration>,
    /// The account's concurrency limit: invocations running at once over all functions.
    #[arg(long, env = "LAMBENT_MAX_CONCURRENCY")]
    pub max_concurrency: Option<u64>,
    /// MB of MemorySize all live environments may add up to [default: 80% of host memory].
    #[arg(long, env = "LAMBENT_MEMORY_BUDGET")]
    pub memory_budget: Option<u32>,
    /// Runtimes kept started ahead of demand for each Python and Node runtime in use, so that a
    /// cold start only loads the function (0 turns this off) [default: 2].
    #[arg(long, env = "LAMBENT_PRESTART")]
    pub prestart: Option<usize>,
    /// Multiplies every delay of asynchronous invocation (retries, backoff, maximum event age):
    /// 1 is Lambda's schedule, 0.01 runs it a hundred times faster (for tests).
    #[arg(long, env = "LAMBENT_ASYNC_TIME_SCALE")]
    pub async_time_scale: Option<f64>,
    /// Asynchronous events of one function that run at once (never more than its reserved
    /// concurrency).
    #[arg(long, env = "LAMBENT_ASYNC_WORKERS")]
    pub async_workers: Option<usize>,
    /// Minutes of 1-minute metrics history kept in memory for `/_lambent/metrics` [default: 1440].
    #[arg(long, env = "LAMBENT_METRICS_RETENTION_MINUTES")]
    pub metrics_retention_minutes: Option<usize>,
    /// Functions labelled by name in metrics; the rest are labelled `other` [default: 100].
    #[arg(long, env = "LAMBENT_METRICS_MAX_FUNCTIONS")]
    pub metrics_max_functions: Option<usize>,
    /// Usage report price per million requests, USD [default: 0.20, Lambda x86].
    #[arg(long, env = "LAMBENT_PRICE_PER_MILLION_REQUESTS")]
    pub price_per_million_requests: Option<f64>,
    /// Usage report price per GB-second, USD [default: 0.0000166667, Lambda x86].
    #[arg(long, env = "LAMBENT_PRICE_PER_GB_SECOND")]
    pub price_per_gb_second: Option<f64>,
    /// Usage report price per GB-second of ephemeral storage above 512 MB, USD
    /// [default: 0.0000000309].
    #[arg(long, env = "LAMBENT_PRICE_EPHEMERAL_PER_GB_SECOND")]
    pub price_ephemeral_per_gb_second: Option<f64>,
    /// Configuration file [default: ./lambent.toml if it exists].
    #[arg(long, env = "LAMBENT_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IsolationArg {
    Sandbox,
    None,
}

/// The optional `lambent.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub region: Option<String>,
    pub account_id: Option<String>,
    pub credentials: Option<PathBuf>,
    pub isolation: Option<IsolationArg>,
    /// e.g. "5m"
    pub keep_alive: Option<String>,
    pub max_concurrency: Option<u64>,
    /// MB
    pub memory_budget: Option<u32>,
    pub prestart: Option<usize>,
    /// Which host interpreter serves each runtime identifier.
    pub runtimes: Option<lambent_runtimes::RuntimesConfig>,
    pub async_time_scale: Option<f64>,
    pub async_workers: Option<usize>,
    pub metrics_retention_minutes: Option<usize>,
    pub metrics_max_functions: Option<usize>,
    pub price_per_million_requests: Option<f64>,
    pub price_per_gb_second: Option<f64>,
    pub price_ephemeral_per_gb_second: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub region: String,
    pub account_id: String,
    /// (access key id, secret) pairs; empty means signatures are not checked.
    pub credentials: Vec<(String, String)>,
    pub isolation: IsolationArg,
    pub keep_alive: std::time::Duration,
    pub runtimes: lambent_runtimes::RuntimeTable,
    pub max_concurrency: u64,
    pub memory_budget_mb: Option<u32>,
    /// Pre-started runtimes per Python and Node runtime in use.
    pub prestart: usize,
    /// Multiplier of the asynchronous retry schedule (1.0 = Lambda's).
    pub async_time_scale: f64,
    pub async_workers: usize,
    /// Metrics history and label cap, and usage prices.
    pub metering: lambent_metering::MeteringSettings,
}

impl Settings {
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Settings> {
        let file = load_file(args.config.as_deref())?;
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9000)));
        let data_dir = match args.data_dir.or(file.data_dir) {
            Some(dir) => dir,
            None => default_data_dir()?,
        };
        let region = args
            .region
            .or(file.region)
            .unwrap_or_else(|| "us-east-1".into());
        let account_id = args
            .account_id
            .or(file.account_id)
            .unwrap_or_else(|| "000000000000".into());
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            bail!("the account id must be 12 digits, got {account_id:?}");
        }
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            bail!("the region must look like us-east-1, got {region:?}");
        }
        let mut credentials = Vec::new();
        if let Some(path) = args.credentials.or(file.credentials) {
            credentials = read_credentials(&path)?;
        }
        if let (Ok(id), Ok(secret)) = (
            std::env::var("LAMBENT_ACCESS_KEY_ID"),
            std::env::var("LAMBENT_SECRET_ACCESS_KEY"),
        ) {
            credentials.push((id, secret));
        }
        if credentials.is_empty() && !listen.ip().is_loopback() {
            bail!(
                "refusing to listen on {listen} without credentials: anyone who can reach it could \
                 run code. Set LAMBENT_ACCESS_KEY_ID and LAMBENT_SECRET_ACCESS_KEY (or pass \
                 --credentials FILE), or listen on 127.0.0.1"
            );
        }
        let isolation = args
            .isolation
            .or(file.isolation)
            .unwrap_or(IsolationArg::Sandbox);
        let keep_alive = match (args.keep_alive, file.keep_alive.as_deref()) {
            (Some(d), _) => d,
            (None, Some(text)) => humantime::parse_duration(text)
                .with_context(|| format!("keep_alive {text:?} in the configuration file"))?,
            (None, None) => std::time::Duration::from_secs(300),
        };
        let runtimes = match &file.runtimes {
            Some(config) => lambent_runtimes::RuntimeTable::from_config(config)
                .context("[runtimes] in the configuration file")?,
            None => lambent_runtimes::RuntimeTable::default(),
        };
        let max_concurrency = args
            .max_concurrency
            .or(file.max_concurrency)
            .unwrap_or(1000);
        if max_concurrency < lambent_control::MIN_UNRESERVED_CONCURRENCY {
            bail!(
                "--max-concurrency must be at least {} (Lambda keeps that much unreserved)",
                lambent_control::MIN_UNRESERVED_CONCURRENCY
            );
        }
        let memory_budget_mb = args.memory_budget.or(file.memory_budget);
        let prestart = args.prestart.or(file.prestart).unwrap_or(2);
        let async_time_scale = args
            .async_time_scale
            .or(file.async_time_scale)
            .unwrap_or(1.0);
        if !(async_time_scale.is_finite() && async_time_scale > 0.0) {
            bail!("--async-time-scale must be a positive number, got {async_time_scale}");
        }
        let async_workers = args.async_workers.or(file.async_workers).unwrap_or(16);
        if async_workers == 0 {
            bail!("--async-workers must be at least 1");
        }
        let mut metering = lambent_metering::MeteringSettings::default();
        if let Some(minutes) = args
            .metrics_retention_minutes
            .or(file.metrics_retention_minutes)
        {
            metering.metrics.retention_minutes = minutes.max(1);
        }
        if let Some(max) = args.metrics_max_functions.or(file.metrics_max_functions) {
            metering.metrics.max_functions = max;
        }
        let prices = &mut metering.prices;
        for (value, price) in [
            (
                args.price_per_million_requests
                    .or(file.price_per_million_requests),
                &mut prices.per_million_requests,
            ),
            (
                args.price_per_gb_second.or(file.price_per_gb_second),
                &mut prices.per_gb_second,
            ),
            (
                args.price_ephemeral_per_gb_second
                    .or(file.price_ephemeral_per_gb_second),
                &mut prices.ephemeral_per_gb_second,
            ),
        ] {
            if let Some(value) = value {
                if !(value.is_finite() && value >= 0.0) {
                    bail!("prices must be non-negative numbers, got {value}");
                }
                *price = value;
            }
        }
        Ok(Settings {
            metering,
            async_time_scale,
            async_workers,
            max_concurrency,
            memory_budget_mb,
            prestart,
            listen,
            data_dir,
            region,
            account_id,
            credentials,
            isolation,
            keep_alive,
            runtimes,
        })
    }
}

fn load_file(explicit: Option<&Path>) -> anyhow::Result<FileConfig> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let default = PathBuf::from("lambent.toml");
            if !default.exists() {
                return Ok(FileConfig::default());
            }
            default
        }
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("reading configuration file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing configuration file {}", path.display()))
}

fn default_data_dir() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .context("HOME is not set; pass --data-dir or set LAMBENT_DATA_DIR")?;
    Ok(PathBuf::from(home).join(".local/share/lambent"))
}

/// Reads `KEY SECRET` lines, or the `aws_access_key_id` / `aws_secret_access_key` pairs of an AWS
/// credentials file.
fn read_credentials(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading credentials file {}", path.display()))?;
    let mut pairs = Vec::new();
    let mut pending_id: Option<String> = None;
    let mut pending_secret: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            match key.trim() {
                "aws_access_key_id" => pending_id = Some(value.trim().to_owned()),
                "aws_secret_access_key" => pending_secret = Some(value.trim().to_owned()),
                _ => {}
            }
            if let (Some(_), Some(_)) = (&pending_id, &pending_secret)
                && let (Some(id), Some(secret)) = (pending_id.take(), pending_secret.take())
            {
                pairs.push((id, secret));
            }
            continue;
        }
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(id), Some(secret), None) => pairs.push((id.to_owned(), secret.to_owned())),
            _ => bail!(
                "{}: expected `ACCESS_KEY_ID SECRET_ACCESS_KEY` per line, got {line:?}",
                path.display()
            ),
        }
    }
    if pairs.is_empty() {
        bail!("{} holds no credentials", path.display());
    }
    Ok(pairs)
}
