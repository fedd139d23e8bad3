//! cgroup v1: one directory per controller (`/sys/fs/cgroup/<controller>/lambent/<id>`).

use std::fs;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use super::{
    CPU_PERIOD_US, Cgroup, Limits, OpenCounter, PARENT, flat_keyed, kill_listed, make_dir,
    parse_u64, read_file, remove_dir, wait_until, write_file,
};
use crate::error::SandboxError;

/// The v1 controllers a sandbox needs.
pub(crate) const V1_CONTROLLERS: [&str; 4] = ["memory", "cpu", "pids", "freezer"];

/// One control-file write: (controller, file, value, optional). Optional files are skipped when
/// absent (e.g. `memory.memsw.*` without swap accounting).
pub(crate) type V1Setting = (&'static str, &'static str, String, bool);

/// The control files to write for `limits`, in order (the memory limit must precede memsw,
/// which may never be below it).
pub(crate) fn v1_settings(limits: &Limits) -> Vec<V1Setting> {
    let quota = cfs_quota_value(limits.cpu_quota_us);
    vec![
        (
            "memory",
            "memory.limit_in_bytes",
            limits.memory_bytes.to_string(),
            false,
        ),
        (
            "memory",
            "memory.memsw.limit_in_bytes",
            limits.memory_bytes.to_string(),
            true,
        ),
        ("cpu", "cpu.cfs_period_us", CPU_PERIOD_US.to_string(), false),
        ("cpu", "cpu.cfs_quota_us", quota, false),
        ("pids", "pids.max", limits.pids_max.to_string(), false),
    ]
}

/// `cpu.cfs_quota_us` takes microseconds per period, or -1 for no limit.
pub(crate) fn cfs_quota_value(quota_us: Option<u64>) -> String {
    quota_us.map_or_else(|| "-1".to_string(), |q| q.to_string())
}

/// Finds the mount point of each v1 controller in `/proc/self/mountinfo` content. Only cgroup
/// (v1) mounts count; the controllers are listed in the super options (`rw,cpu,cpuacct`).
pub(crate) fn controller_mounts(mountinfo: &str) -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut right = right.split_whitespace();
        if right.next() != Some("cgroup") {
            continue;
        }
        let super_opts = right.nth(1).unwrap_or("");
        let Some(mount_point) = left.split_whitespace().nth(4) else {
            continue;
        };
        for opt in super_opts.split(',') {
            if V1_CONTROLLERS.contains(&opt) && !found.iter().any(|(c, _)| c == opt) {
                found.push((
                    opt.to_string(),
                    PathBuf::from(unescape_mountinfo(mount_point)),
                ));
            }
        }
    }
    found
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
pub(crate) fn unescape_mountinfo(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            out.push(v as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A sandbox's cgroups on a v1 host.
#[derive(Debug)]
pub(crate) struct CgroupV1 {
    /// (controller, directory); controllers co-mounted in one hierarchy share a directory.
    dirs: Vec<(&'static str, PathBuf)>,
    /// `memory.max_usage_in_bytes`, read after every invocation for REPORT.
    peak: Option<OpenCounter>,
}

impl CgroupV1 {
    pub(crate) fn create(id: &str, limits: &Limits) -> Result<CgroupV1, SandboxError> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| SandboxError::os("read /proc/self/mountinfo", e))?;
        let mounts = controller_mounts(&mountinfo);
        let mut dirs = Vec::new();
        for ctrl in V1_CONTROLLERS {
            let Some((_, mount)) = mounts.iter().find(|(c, _)| c == ctrl) else {
                return Err(SandboxError::Unsupported(format!(
                    "cgroup v1 controller {ctrl} is not mounted"
                )));
            };
            dirs.push((ctrl, mount.join(PARENT).join(id)));
        }
        let mut cg = CgroupV1 {
            dirs: Vec::new(),
            peak: None,
        };
        // Create each distinct directory once; on failure `cg` removes what exists so far.
        for (ctrl, dir) in dirs {
            if !cg.dirs.iter().any(|(_, d)| *d == dir) {
                make_dir(&dir)?;
            }
            cg.dirs.push((ctrl, dir));
        }
        for (ctrl, file, value, optional) in v1_settings(limits) {
            let dir = cg.dir(ctrl)?;
            if optional && !dir.join(file).exists() {
                continue;
            }
            write_file(dir, file, &value)?;
        }
        cg.peak = OpenCounter::open(cg.dir("memory")?, "memory.max_usage_in_bytes");
        Ok(cg)
    }

    fn dir(&self, ctrl: &str) -> Result<&Path, SandboxError> {
        self.dirs
            .iter()
            .find(|(c, _)| *c == ctrl)
            .map(|(_, d)| d.as_path())
            .ok_or_else(|| {
                SandboxError::Unsupported(format!("cgroup v1 controller {ctrl} missing"))
            })
    }

    fn unique_dirs(&self) -> Vec<&Path> {
        let mut out: Vec<&Path> = Vec::new();
        for (_, d) in &self.dirs {
            if !out.contains(&d.as_path()) {
                out.push(d);
            }
        }
        out
    }

    fn freezer_state_is(&self, want: &str) -> Result<bool, SandboxError> {
        Ok(read_file(self.dir("freezer")?, "freezer.state")?.trim() == want)
    }
}

impl Cgroup for CgroupV1 {
    fn clone_into_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    fn add_process(&self, pid: i32) -> Result<(), SandboxError> {
        for dir in self.unique_dirs() {
            write_file(dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    fn set_memory_limit(&self, bytes: u64) -> Result<(), SandboxError> {
        let dir = self.dir("memory")?;
        let value = bytes.to_string();
        let has_memsw = dir.join("memory.memsw.limit_in_bytes").exists();
        // v1 requires memory ≤ memory+swap at every step: raise memsw first, lower it last.
        let current = parse_u64(&read_file(dir, "memory.limit_in_bytes")?).unwrap_or(0);
        let order: &[&str] = if bytes >= current {
            &["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
        } else {
            &["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
        };
        for file in order {
            if *file == "memory.memsw.limit_in_bytes" && !has_memsw {
                continue;
            }
            write_file(dir, file, &value)?;
        }
        Ok(())
    }

    fn set_cpu_quota(&self, quota_us: Option<u64>) -> Result<(), SandboxError> {
        write_file(
            self.dir("cpu")?,
            "cpu.cfs_quota_us",
            &cfs_quota_value(quota_us),
        )
    }

    fn freeze(&self) -> Result<(), SandboxError> {
        write_file(self.dir("freezer")?, "freezer.state", "FROZEN")?;
        let res = wait_until("freezing", || self.freezer_state_is("FROZEN"));
        if res.is_err() {
            // Do not leave the sandbox half-frozen (FREEZING) behind an error.
            let _ = self.thaw();
        }
        res
    }

    fn thaw(&self) -> Result<(), SandboxError> {
        write_file(self.dir("freezer")?, "freezer.state", "THAWED")?;
        wait_until("thawing", || self.freezer_state_is("THAWED"))
    }

    fn kill_all(&self) {
        let Ok(freezer) = self.dir("freezer") else {
            return;
        };
        // Frozen tasks cannot exit, so their pids cannot be reused between reading the list and
        // signalling; killed tasks die as soon as they are thawed.
        let _ = self.freeze();
        if let Ok(procs) = read_file(freezer, "cgroup.procs") {
            kill_listed(&procs);
        }
        let _ = write_file(freezer, "freezer.state", "THAWED");
    }

    fn oom_kill_count(&self) -> Result<u64, SandboxError> {
        let dir = self.dir("memory")?;
        let content = read_file(dir, "memory.oom_control")?;
        flat_keyed(&content, "oom_kill").ok_or_else(|| {
            SandboxError::Unsupported("memory.oom_control has no oom_kill counter".into())
        })
    }

    fn memory_peak(&self) -> Option<u64> {
        self.peak.as_ref()?.read()
    }

    fn dirs(&self) -> Vec<PathBuf> {
        self.unique_dirs()
            .into_iter()
            .map(Path::to_path_buf)
            .collect()
    }

    fn remove(&mut self) -> Result<(), SandboxError> {
        self.peak = None;
        let mut first_err = None;
        for dir in self.unique_dirs() {
            if let Err(e) = remove_dir(dir) {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            None => {
                self.dirs.clear();
                Ok(())
            }
            Some(e) => Err(e),
        }
    }
}

impl Drop for CgroupV1 {
    /// Removes whatever is left (covers a `create` that failed half-way).
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            tracing::warn!(error = %e, "leaving cgroup v1 directory behind");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
25 30 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
27 25 0:24 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
28 25 0:25 / /sys/fs/cgroup/memory rw,relatime shared:5 - cgroup cgroup rw,memory
29 25 0:26 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
30 25 0:27 / /sys/fs/cgroup/my\\040freezer rw,relatime - cgroup cgroup rw,freezer
31 25 0:28 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
32 25 0:29 / /run/x rw,relatime - cgroup cgroup rw,name=lambent,favordynmods
";

    #[test]
    fn finds_controller_mounts() {
        let m = controller_mounts(MOUNTINFO);
        let get = |c: &str| m.iter().find(|(n, _)| n == c).map(|(_, p)| p.clone());
        assert_eq!(get("cpu"), Some(PathBuf::from("/sys/fs/cgroup/cpu")));
        assert_eq!(get("memory"), Some(PathBuf::from("/sys/fs/cgroup/memory")));
        assert_eq!(get("pids"), Some(PathBuf::from("/sys/fs/cgroup/pids")));
        assert_eq!(
            get("freezer"),
            Some(PathBuf::from("/sys/fs/cgroup/my freezer"))
        );
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn comounted_cpu_cpuacct() {
        let m = controller_mounts(
            "26 25 0:23 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
        );
        assert_eq!(
            m,
            vec![(
                "cpu".to_string(),
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
            )]
        );
    }

    #[test]
    fn settings_values() {
        let s = v1_settings(&Limits {
            memory_bytes: 128 << 20,
            pids_max: 1024,
            cpu_quota_us: Some(7235),
        });
        let get = |f: &str| s.iter().find(|x| x.1 == f).map(|x| x.2.clone());
        assert_eq!(get("memory.limit_in_bytes").as_deref(), Some("134217728"));
        assert_eq!(
            get("memory.memsw.limit_in_bytes").as_deref(),
            Some("134217728")
        );
        assert_eq!(get("cpu.cfs_quota_us").as_deref(), Some("7235"));
        assert_eq!(get("cpu.cfs_period_us").as_deref(), Some("100000"));
        assert_eq!(get("pids.max").as_deref(), Some("1024"));
        let pos = |f: &str| s.iter().position(|x| x.1 == f);
        assert!(pos("memory.limit_in_bytes") < pos("memory.memsw.limit_in_bytes"));
        let unlimited = v1_settings(&Limits {
            memory_bytes: 1,
            pids_max: 1,
            cpu_quota_us: None,
        });
        assert!(
            unlimited
                .iter()
                .any(|x| x.1 == "cpu.cfs_quota_us" && x.2 == "-1")
        );
    }
}
