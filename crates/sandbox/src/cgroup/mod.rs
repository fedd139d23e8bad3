//! Resource limits, freezing and OOM accounting through cgroups.
//!
//! cgroup v1 (one hierarchy per controller, as on the development VMs) and cgroup v2 (one unified
//! hierarchy) differ in file names and semantics, so the difference is confined to one trait,
//! [`Cgroup`], with an implementation per version. Everything that can be computed without
//! touching the kernel (values, file names, parsers) is a pure function with unit tests, because
//! the v2 path cannot be exercised on a v1 host.

mod v1;
mod v2;

use std::fs;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::SandboxError;
use crate::spec::SandboxSpec;

pub(crate) use v1::{CgroupV1, V1_CONTROLLERS, controller_mounts as v1_controller_mounts};
pub(crate) use v2::CgroupV2;

/// Name of the parent cgroup under which every sandbox gets `<id>`.
pub(crate) const PARENT: &str = "lambent";

/// Root of the unified hierarchy on a cgroup-v2-only host.
pub(crate) const V2_ROOT: &str = "/sys/fs/cgroup";

/// One vCPU per this many MB of configured memory, as in Lambda.
pub const MB_PER_VCPU: u64 = 1769;

/// The CFS period used for CPU quotas (the kernel default, 100 ms).
pub(crate) const CPU_PERIOD_US: u64 = 100_000;

/// How long freezing may take before it is reported as a failure. A task in uninterruptible
/// sleep (e.g. waiting on I/O) delays freezing.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long to retry `rmdir` while the last tasks of a killed sandbox leave the cgroup.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Which cgroup hierarchy layout the host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// Per-controller hierarchies (`/sys/fs/cgroup/<controller>`).
    V1,
    /// The unified hierarchy mounted at `/sys/fs/cgroup`.
    V2,
}

/// Detects the layout: a host is v2-only when `/sys/fs/cgroup` itself is the unified hierarchy.
/// Hybrid hosts (v1 controllers plus cgroup2 at `/sys/fs/cgroup/unified`) use v1.
pub fn detect_version() -> CgroupVersion {
    if Path::new(V2_ROOT).join("cgroup.controllers").exists() {
        CgroupVersion::V2
    } else {
        CgroupVersion::V1
    }
}

/// The limits of one sandbox, derived from its spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub memory_bytes: u64,
    pub pids_max: u64,
    /// CFS quota per [`CPU_PERIOD_US`]; `None` = unlimited.
    pub cpu_quota_us: Option<u64>,
}

impl Limits {
    pub(crate) fn from_spec(spec: &SandboxSpec) -> Limits {
        Limits {
            memory_bytes: spec.memory_mb.saturating_mul(1024 * 1024),
            pids_max: spec.pids_max,
            cpu_quota_us: cpu_quota_us(spec.cpu_weight_mb),
        }
    }
}

/// CPU quota proportional to memory: `cpu_weight_mb / 1769` CPUs, at least the kernel minimum of
/// 1 ms per period. 0 means no limit.
pub(crate) fn cpu_quota_us(cpu_weight_mb: u64) -> Option<u64> {
    if cpu_weight_mb == 0 {
        return None;
    }
    let quota = CPU_PERIOD_US.saturating_mul(cpu_weight_mb) / MB_PER_VCPU;
    Some(quota.max(1000))
}

/// A sandbox's cgroup(s), whichever version.
pub(crate) trait Cgroup: Send + Sync + std::fmt::Debug {
    /// A descriptor for `clone3(CLONE_INTO_CGROUP)`, if the version supports it (v2 only). When
    /// it is used, [`Cgroup::add_process`] is unnecessary.
    fn clone_into_fd(&self) -> Option<BorrowedFd<'_>>;
    /// Moves a process into the sandbox's cgroup(s).
    fn add_process(&self, pid: i32) -> Result<(), SandboxError>;
    /// Changes the memory limit (and the memory+swap limit, so swap cannot extend it) of a
    /// running sandbox.
    fn set_memory_limit(&self, bytes: u64) -> Result<(), SandboxError>;
    /// Changes the CFS quota (`None` = unlimited) of a running sandbox.
    fn set_cpu_quota(&self, quota_us: Option<u64>) -> Result<(), SandboxError>;
    /// Freezes every task and waits until the kernel reports the cgroup frozen.
    fn freeze(&self) -> Result<(), SandboxError>;
    /// Thaws every task and waits until the kernel reports it thawed.
    fn thaw(&self) -> Result<(), SandboxError>;
    /// Best-effort SIGKILL of every task in the cgroup (a second line behind killing init).
    fn kill_all(&self);
    /// The number of OOM kills in the sandbox so far.
    fn oom_kill_count(&self) -> Result<u64, SandboxError>;
    /// Peak memory usage in bytes, if the kernel exposes it.
    fn memory_peak(&self) -> Option<u64>;
    /// The directories this sandbox created (for diagnostics and tests).
    fn dirs(&self) -> Vec<PathBuf>;
    /// Removes the cgroup directories, retrying while the last tasks exit.
    fn remove(&mut self) -> Result<(), SandboxError>;
}

/// Creates the cgroup(s) for sandbox `id` with `limits` on the detected hierarchy.
pub(crate) fn create(id: &str, limits: &Limits) -> Result<Box<dyn Cgroup>, SandboxError> {
    match detect_version() {
        CgroupVersion::V1 => Ok(Box::new(CgroupV1::create(id, limits)?)),
        CgroupVersion::V2 => Ok(Box::new(CgroupV2::create(id, limits)?)),
    }
}

/// Writes a cgroup control file, mapping the error to [`SandboxError::Cgroup`].
pub(crate) fn write_file(dir: &Path, name: &str, value: &str) -> Result<(), SandboxError> {
    let path = dir.join(name);
    fs::write(&path, value)
        .map_err(|e| SandboxError::cgroup(format!("write {value:?} to"), path, e))
}

/// Reads a cgroup control file.
pub(crate) fn read_file(dir: &Path, name: &str) -> Result<String, SandboxError> {
    let path = dir.join(name);
    fs::read_to_string(&path).map_err(|e| SandboxError::cgroup("read", path, e))
}

/// Creates `dir` (and parents). A leftover directory with the same name (e.g. from a crashed
/// server) is removed first if it is empty; a busy one is an error rather than silently shared.
pub(crate) fn make_dir(dir: &Path) -> Result<(), SandboxError> {
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent).map_err(|e| SandboxError::cgroup("mkdir", parent, e))?;
    }
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_dir(dir).map_err(|e| SandboxError::cgroup("remove stale", dir, e))?;
            fs::create_dir(dir).map_err(|e| SandboxError::cgroup("mkdir", dir, e))
        }
        Err(e) => Err(SandboxError::cgroup("mkdir", dir, e)),
    }
}

/// Removes a cgroup directory, retrying on EBUSY while exiting tasks leave it. A missing
/// directory counts as removed.
pub(crate) fn remove_dir(dir: &Path) -> Result<(), SandboxError> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(200);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < REMOVE_TIMEOUT => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) => return Err(SandboxError::cgroup("rmdir", dir, e)),
        }
    }
}

/// Polls `done` until it returns true or [`FREEZE_TIMEOUT`] elapses. Freezing usually completes
/// in well under a millisecond, so the first checks spin briefly before sleeping.
pub(crate) fn wait_until(
    what: &str,
    mut done: impl FnMut() -> Result<bool, SandboxError>,
) -> Result<(), SandboxError> {
    let start = Instant::now();
    let mut tries = 0u32;
    loop {
        if done()? {
            return Ok(());
        }
        if start.elapsed() > FREEZE_TIMEOUT {
            return Err(SandboxError::Timeout(format!(
                "{what} after {FREEZE_TIMEOUT:?}"
            )));
        }
        tries += 1;
        if tries < 20 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

/// Looks up `key` in a flat-keyed cgroup file (`key value` per line), as used by
/// `memory.events`, `memory.oom_control` and `cgroup.events`.
pub(crate) fn flat_keyed(content: &str, key: &str) -> Option<u64> {
    content.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        if parts.next()? == key {
            parts.next()?.parse().ok()
        } else {
            None
        }
    })
}

/// A numeric control file kept open (e.g. the memory peak, read after every invocation): one
/// `pread` instead of open + read + close each time.
#[derive(Debug)]
pub(crate) struct OpenCounter(fs::File);

impl OpenCounter {
    /// Opens `dir/name`; `None` if the kernel does not have that file.
    pub(crate) fn open(dir: &Path, name: &str) -> Option<OpenCounter> {
        fs::File::open(dir.join(name)).ok().map(OpenCounter)
    }

    pub(crate) fn read(&self) -> Option<u64> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 32];
        let n = self.0.read_at(&mut buf, 0).ok()?;
        parse_u64(std::str::from_utf8(&buf[..n]).ok()?)
    }
}

/// Parses a numeric single-value file such as `memory.peak` or `memory.max_usage_in_bytes`.
pub(crate) fn parse_u64(content: &str) -> Option<u64> {
    content.trim().parse().ok()
}

/// Kills every pid listed in a `cgroup.procs` file with SIGKILL. Used with the cgroup frozen, so
/// that no listed process can exit and have its pid reused before the signal arrives.
pub(crate) fn kill_listed(procs: &str) {
    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        if pid > 0 {
            let _ = crate::sys::kill(pid, libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quota_is_proportional_to_memory() {
        assert_eq!(cpu_quota_us(0), None);
        assert_eq!(cpu_quota_us(1769), Some(100_000));
        assert_eq!(cpu_quota_us(3538), Some(200_000));
        assert_eq!(cpu_quota_us(128), Some(7_235));
        // Never below the kernel's 1 ms minimum.
        assert_eq!(cpu_quota_us(1), Some(1000));
    }

    #[test]
    fn flat_keyed_parses_memory_events_and_oom_control() {
        let events = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(flat_keyed(events, "oom_kill"), Some(1));
        assert_eq!(flat_keyed(events, "oom"), Some(1));
        assert_eq!(flat_keyed(events, "missing"), None);
        let oom_control = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(flat_keyed(oom_control, "oom_kill"), Some(3));
        assert_eq!(flat_keyed("populated 1\nfrozen 1\n", "frozen"), Some(1));
    }

    #[test]
    fn parse_u64_trims() {
        assert_eq!(parse_u64("67108864\n"), Some(67_108_864));
        assert_eq!(parse_u64("max\n"), None);
    }
}
