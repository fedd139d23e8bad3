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
    /// At most this many environments exist at once, over all functions.
    pub max_environments: usize,
    /// Region, for `AWS_REGION` and ARNs.
    pub region: String,
    /// Processes and threads allowed per environment (Lambda: 1,024).
    pub pids_max: u64,
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
            max_environments: 64,
            region,
            pids_max: 1024,
            sandbox_uid: 993,
            sandbox_gid: 993,
        }
    }
}
