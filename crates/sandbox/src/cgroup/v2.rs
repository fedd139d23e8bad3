//! cgroup v2: one directory in the unified hierarchy (`/sys/fs/cgroup/lambent/<id>`).
//!
//! This path cannot run on the v1 development hosts; the values and parsers it relies on are
//! pure functions covered by unit tests.

use std::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::{
    CPU_PERIOD_US, Cgroup, Limits, OpenCounter, PARENT, V2_ROOT, flat_keyed, kill_listed, make_dir,
    read_file, remove_dir, wait_until, write_file,
};
use crate::error::SandboxError;
use crate::sys;

/// Controllers enabled for the children of the root and of `lambent/`.
pub(crate) const V2_CONTROLLERS: [&str; 3] = ["memory", "pids", "cpu"];

/// The control files to write for `limits`: (file, value, optional). `memory.swap.max` is absent
/// when swap accounting is off. `memory.oom.group = 1` makes an OOM kill take the whole sandbox
/// down together instead of leaving a half-dead runtime.
pub(crate) fn v2_settings(limits: &Limits) -> Vec<(&'static str, String, bool)> {
    vec![
        ("memory.max", limits.memory_bytes.to_string(), false),
        ("memory.swap.max", "0".to_string(), true),
        ("memory.oom.group", "1".to_string(), false),
        ("pids.max", limits.pids_max.to_string(), false),
        ("cpu.max", cpu_max_value(limits.cpu_quota_us), false),
    ]
}

/// `cpu.max` is "`<quota> <period>`", with `max` for no limit.
pub(crate) fn cpu_max_value(quota_us: Option<u64>) -> String {
    match quota_us {
        Some(q) => format!("{q} {CPU_PERIOD_US}"),
        None => format!("max {CPU_PERIOD_US}"),
    }
}

/// The lines written to a `cgroup.subtree_control` to delegate our controllers.
pub(crate) fn subtree_control_writes() -> Vec<String> {
    V2_CONTROLLERS.iter().map(|c| format!("+{c}")).collect()
}

/// A sandbox's cgroup on a v2 host.
#[derive(Debug)]
pub(crate) struct CgroupV2 {
    dir: PathBuf,
    /// Open directory, for `clone3(CLONE_INTO_CGROUP)`: the child starts inside the cgroup, so
    /// there is no migration (and no migration cost) at all.
    dir_fd: Option<OwnedFd>,
    /// `memory.peak` (kernel 5.19+), read after every invocation for REPORT.
    peak: Option<OpenCounter>,
    removed: bool,
}

impl CgroupV2 {
    pub(crate) fn create(id: &str, limits: &Limits) -> Result<CgroupV2, SandboxError> {
        let root = Path::new(V2_ROOT);
        let parent = root.join(PARENT);
        enable_controllers(root)?;
        fs::create_dir_all(&parent).map_err(|e| SandboxError::cgroup("mkdir", &parent, e))?;
        enable_controllers(&parent)?;
        let dir = parent.join(id);
        make_dir(&dir)?;
        let mut cg = CgroupV2 {
            dir,
            dir_fd: None,
            peak: None,
            removed: false,
        };
        for (file, value, optional) in v2_settings(limits) {
            if optional && !cg.dir.join(file).exists() {
                continue;
            }
            write_file(&cg.dir, file, &value)?;
        }
        let c_dir = sys::cstring(&cg.dir).map_err(|e| SandboxError::cgroup("open", &cg.dir, e))?;
        cg.dir_fd =
            Some(sys::open_dir(&c_dir).map_err(|e| SandboxError::cgroup("open", &cg.dir, e))?);
        cg.peak = OpenCounter::open(&cg.dir, "memory.peak");
        Ok(cg)
    }

    fn frozen_is(&self, want: u64) -> Result<bool, SandboxError> {
        Ok(flat_keyed(&read_file(&self.dir, "cgroup.events")?, "frozen") == Some(want))
    }
}

/// Enables our controllers for the children of `dir`, skipping those already enabled.
fn enable_controllers(dir: &Path) -> Result<(), SandboxError> {
    let current = read_file(dir, "cgroup.subtree_control")?;
    for (ctrl, line) in V2_CONTROLLERS.iter().zip(subtree_control_writes()) {
        if !current.split_whitespace().any(|c| c == *ctrl) {
            write_file(dir, "cgroup.subtree_control", &line)?;
        }
    }
    Ok(())
}

impl Cgroup for CgroupV2 {
    fn clone_into_fd(&self) -> Option<BorrowedFd<'_>> {
        self.dir_fd.as_ref().map(|fd| fd.as_fd())
    }

    fn add_process(&self, pid: i32) -> Result<(), SandboxError> {
        write_file(&self.dir, "cgroup.procs", &pid.to_string())
    }

    fn set_memory_limit(&self, bytes: u64) -> Result<(), SandboxError> {
        // Swap is already off (`memory.swap.max` = 0): only the memory limit changes.
        write_file(&self.dir, "memory.max", &bytes.to_string())
    }

    fn set_cpu_quota(&self, quota_us: Option<u64>) -> Result<(), SandboxError> {
        write_file(&self.dir, "cpu.max", &cpu_max_value(quota_us))
    }

    fn freeze(&self) -> Result<(), SandboxError> {
        write_file(&self.dir, "cgroup.freeze", "1")?;
        let res = wait_until("freezing", || self.frozen_is(1));
        if res.is_err() {
            let _ = self.thaw();
        }
        res
    }

    fn thaw(&self) -> Result<(), SandboxError> {
        write_file(&self.dir, "cgroup.freeze", "0")?;
        wait_until("thawing", || self.frozen_is(0))
    }

    fn kill_all(&self) {
        // cgroup.kill (Linux 5.14+) kills every task atomically, frozen or not.
        if write_file(&self.dir, "cgroup.kill", "1").is_ok() {
            return;
        }
        let _ = self.freeze();
        if let Ok(procs) = read_file(&self.dir, "cgroup.procs") {
            kill_listed(&procs);
        }
        let _ = write_file(&self.dir, "cgroup.freeze", "0");
    }

    fn oom_kill_count(&self) -> Result<u64, SandboxError> {
        let content = read_file(&self.dir, "memory.events")?;
        flat_keyed(&content, "oom_kill").ok_or_else(|| {
            SandboxError::Unsupported("memory.events has no oom_kill counter".into())
        })
    }

    fn memory_peak(&self) -> Option<u64> {
        self.peak.as_ref()?.read()
    }

    fn dirs(&self) -> Vec<PathBuf> {
        if self.removed {
            Vec::new()
        } else {
            vec![self.dir.clone()]
        }
    }

    fn remove(&mut self) -> Result<(), SandboxError> {
        if self.removed {
            return Ok(());
        }
        self.dir_fd = None;
        self.peak = None;
        remove_dir(&self.dir)?;
        self.removed = true;
        Ok(())
    }
}

impl Drop for CgroupV2 {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            tracing::warn!(error = %e, "leaving cgroup v2 directory behind");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_values() {
        let s = v2_settings(&Limits {
            memory_bytes: 256 << 20,
            pids_max: 1024,
            cpu_quota_us: Some(14_471),
        });
        let get = |f: &str| s.iter().find(|x| x.0 == f).map(|x| x.1.clone());
        assert_eq!(get("memory.max").as_deref(), Some("268435456"));
        assert_eq!(get("memory.swap.max").as_deref(), Some("0"));
        assert_eq!(get("memory.oom.group").as_deref(), Some("1"));
        assert_eq!(get("pids.max").as_deref(), Some("1024"));
        assert_eq!(get("cpu.max").as_deref(), Some("14471 100000"));
        assert_eq!(cpu_max_value(None), "max 100000");
        assert_eq!(subtree_control_writes(), vec!["+memory", "+pids", "+cpu"]);
    }

    #[test]
    fn v2_memory_events_oom() {
        let events = "low 0\nhigh 0\nmax 31\noom 2\noom_kill 2\noom_group_kill 1\n";
        assert_eq!(flat_keyed(events, "oom_kill"), Some(2));
        assert_eq!(flat_keyed("populated 0\nfrozen 1\n", "frozen"), Some(1));
    }
}
