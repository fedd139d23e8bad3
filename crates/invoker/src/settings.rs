use crate::environment::Isolation;
use lambent_runtimes::RuntimeTable;
use std::path::PathBuf;
use std::time::Duration;

/// How the invoker runs environments.
#[derive(Clone, Debug)]
pub struct InvokerSettings {
    pub isolation: Isolation,
    /// Host directory with Lambent's bootstraps, mounted read-only at `/var/runtime`.
    pub runtime_dir: PathBuf,
    pub runtimes: RuntimeTable,
    /// Idle environments are reaped after this long.
    pub keep_alive: Duration,
    /// Lambda's Init phase limit.
    pub init_timeout: Duration,
    /// The sum of MemorySize over all live environments (busy or idle) stays within this many MB;
    /// idle environments are reclaimed (least recently used first) before anything is throttled.
    pub memory_budget_mb: u32,
    /// Region, for `AWS_REGION` and ARNs.
    pub region: String,
    /// Processes and threads allowed per environment (Lambda: 1,024).
    pub pids_max: u64,
    /// Environment starts (Init) running at once; more wait their turn.
    pub concurrent_starts: usize,
    /// Runtimes kept started ahead of demand, per runtime identifier in use (0 = off); see
    /// `prestart.rs`.
    pub prestart_per_runtime: usize,
    /// Unprivileged uid/gid the runtime runs as.
    pub sandbox_uid: u32,
    pub sandbox_gid: u32,
}

impl InvokerSettings {
    pub fn new(isolation: Isolation, runtime_dir: PathBuf, region: String) -> Self {
        Self {
            isolation,
            runtime_dir,
            runtimes: RuntimeTable::default(),
            keep_alive: Duration::from_secs(300),
            init_timeout: Duration::from_secs(10),
            memory_budget_mb: default_memory_budget_mb(),
            region,
            pids_max: 1024,
            prestart_per_runtime: 2,
            concurrent_starts: default_concurrent_starts(),
            sandbox_uid: 993,
            sandbox_gid: 993,
        }
    }
}

/// Four starts per CPU: enough to overlap one start's waits (exec, page faults, the Runtime API)
/// with another's work, few enough that each gets a fair share of the CPU.
pub fn default_concurrent_starts() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get() * 4)
}

/// 80% of the host's memory, from `/proc/meminfo` (4 GiB if it cannot be read).
pub fn default_memory_budget_mb() -> u32 {
    let total_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .unwrap_or(4 * 1024 * 1024 * 5 / 4);
    u32::try_from(total_kb / 1024 * 8 / 10).unwrap_or(u32::MAX)
}
