//! Host checks ([`probe_host`]) and optional host-wide tuning ([`host_setup`]).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::cgroup::{self, CgroupVersion, PARENT, V2_ROOT};
use crate::error::SandboxError;
use crate::sys;

/// What [`probe_host`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCapabilities {
    /// The cgroup layout sandboxes will use.
    pub cgroup_version: CgroupVersion,
    /// Swap can be limited (`memory.memsw.*` on v1, `memory.swap.max` on v2).
    pub memory_swap_limit: bool,
    /// Some cgroup hierarchy is mounted with `favordynmods`, so joining cgroups is cheap.
    pub favordynmods: bool,
    /// `uname -r`.
    pub kernel_release: String,
}

const CAP_SYS_ADMIN: u32 = 21;

/// Checks whether this host can build sandboxes: root or CAP_SYS_ADMIN, the namespaces we use,
/// seccomp, and writable cgroups with the memory, cpu, pids (and on v1 freezer) controllers.
/// Returns a human-readable reason if not.
pub fn probe_host() -> Result<HostCapabilities, String> {
    let status = fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    if sys::geteuid() != 0 && cap_eff & (1 << CAP_SYS_ADMIN) == 0 {
        return Err(
            "sandboxes need root (or CAP_SYS_ADMIN); the server is running unprivileged".into(),
        );
    }
    if cap_eff & (1 << CAP_SYS_ADMIN) == 0 {
        return Err("CAP_SYS_ADMIN is missing from the effective capability set".into());
    }
    for ns in ["mnt", "pid", "net", "ipc", "uts"] {
        if !Path::new("/proc/self/ns").join(ns).exists() {
            return Err(format!(
                "the kernel lacks {ns} namespaces (/proc/self/ns/{ns} missing)"
            ));
        }
    }
    sys::seccomp_mode().map_err(|e| format!("seccomp is not available: {e}"))?;
    if !Path::new("/usr/bin").is_dir() {
        return Err("/usr/bin is missing; the sandbox root is built from the host's /usr".into());
    }

    let version = cgroup::detect_version();
    let memory_swap_limit = match version {
        CgroupVersion::V1 => probe_v1()?,
        CgroupVersion::V2 => probe_v2()?,
    };
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    Ok(HostCapabilities {
        cgroup_version: version,
        memory_swap_limit,
        favordynmods: favordynmods_mounted(&mountinfo),
        kernel_release: fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    })
}

/// Checks that each v1 controller is mounted and that we can create a cgroup under it.
fn probe_v1() -> Result<bool, String> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read mountinfo: {e}"))?;
    let mounts = cgroup::v1_controller_mounts(&mountinfo);
    let mut memsw = false;
    for ctrl in cgroup::V1_CONTROLLERS {
        let Some((_, mount)) = mounts.iter().find(|(c, _)| c == ctrl) else {
            return Err(format!("cgroup v1 controller '{ctrl}' is not mounted"));
        };
        let parent = mount.join(PARENT);
        probe_mkdir(&parent)?;
        if ctrl == "memory" {
            memsw = mount.join("memory.memsw.limit_in_bytes").exists();
        }
    }
    Ok(memsw)
}

/// Checks the unified hierarchy offers our controllers and is writable.
fn probe_v2() -> Result<bool, String> {
    let root = Path::new(V2_ROOT);
    let available = fs::read_to_string(root.join("cgroup.controllers"))
        .map_err(|e| format!("cannot read cgroup.controllers: {e}"))?;
    for ctrl in ["memory", "pids", "cpu"] {
        if !available.split_whitespace().any(|c| c == ctrl) {
            return Err(format!("cgroup v2 controller '{ctrl}' is not available"));
        }
    }
    probe_mkdir(&root.join(PARENT))?;
    Ok(root.join(PARENT).join("memory.swap.max").exists())
}

/// Creates `parent` if needed and a throwaway child cgroup in it, proving write access.
fn probe_mkdir(parent: &Path) -> Result<(), String> {
    fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create cgroup {}: {e}", parent.display()))?;
    let probe = parent.join(format!(".probe-{}", std::process::id()));
    fs::create_dir(&probe).map_err(|e| format!("cannot create cgroup {}: {e}", probe.display()))?;
    fs::remove_dir(&probe).map_err(|e| format!("cannot remove cgroup {}: {e}", probe.display()))
}

/// True if any cgroup (v1 or v2) mount has the `favordynmods` option.
pub(crate) fn favordynmods_mounted(mountinfo: &str) -> bool {
    mountinfo.lines().any(|line| {
        line.split_once(" - ").is_some_and(|(_, right)| {
            let mut f = right.split_whitespace();
            let fstype = f.next().unwrap_or("");
            let super_opts = f.nth(1).unwrap_or("");
            (fstype == "cgroup" || fstype == "cgroup2")
                && super_opts.split(',').any(|o| o == "favordynmods")
        })
    })
}

/// Host-wide tuning held for the server's lifetime; undone on drop (or [`host_teardown`]).
///
/// On cgroup v1 the first `cgroup.procs` write after an idle period waits for an RCU grace
/// period (2-21 ms). Mounting any hierarchy with `favordynmods` switches the global lock to a
/// mode without that wait, so `host_setup` mounts an empty named hierarchy with that option. On
/// v2 nothing is needed: init is cloned straight into its cgroup (`CLONE_INTO_CGROUP`).
#[derive(Debug)]
pub struct HostSetup {
    mount_point: Option<PathBuf>,
}

/// Where the favordynmods hierarchy is mounted (per server process).
const FAVORDYNMODS_DIR: &str = "/run/lambent";

impl HostSetup {
    /// The mount point of the favordynmods hierarchy, if `host_setup` mounted one.
    pub fn favordynmods_mount(&self) -> Option<&Path> {
        self.mount_point.as_deref()
    }
}

/// Applies host-wide tuning (see [`HostSetup`]). A no-op if another hierarchy already has
/// `favordynmods`, on v2, or on kernels without the option (< 6.0).
pub fn host_setup() -> Result<HostSetup, SandboxError> {
    let none = HostSetup { mount_point: None };
    if cgroup::detect_version() == CgroupVersion::V2 {
        return Ok(none);
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| SandboxError::os("read mountinfo", e))?;
    if favordynmods_mounted(&mountinfo) {
        return Ok(none);
    }
    let dir =
        PathBuf::from(FAVORDYNMODS_DIR).join(format!("cgroup-favordynmods-{}", std::process::id()));
    fs::create_dir_all(&dir).map_err(|e| SandboxError::os("create favordynmods mount point", e))?;
    let c = |s: &str| sys::cstring(s).map_err(|e| SandboxError::os("favordynmods mount", e));
    let target = sys::cstring(&dir).map_err(|e| SandboxError::os("favordynmods mount", e))?;
    let res = sys::mount(
        Some(&c("cgroup")?),
        &target,
        Some(&c("cgroup")?),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        Some(&c("none,name=lambent,favordynmods")?),
    );
    match res {
        Ok(()) => Ok(HostSetup {
            mount_point: Some(dir),
        }),
        Err(e) => {
            let _ = fs::remove_dir(&dir);
            if e.raw_os_error() == Some(libc::EINVAL) {
                tracing::info!("kernel does not support favordynmods; cgroup joins may be slow");
                Ok(none)
            } else {
                Err(SandboxError::os("mount favordynmods cgroup hierarchy", e))
            }
        }
    }
}

/// Undoes [`host_setup`] (same as dropping the guard).
pub fn host_teardown(setup: HostSetup) {
    drop(setup);
}

impl Drop for HostSetup {
    fn drop(&mut self) {
        let Some(dir) = self.mount_point.take() else {
            return;
        };
        let result = sys::cstring(&dir).and_then(|c| {
            sys::umount2(&c, 0).or_else(|e| {
                if e.raw_os_error() == Some(libc::EBUSY) {
                    sys::umount2(&c, libc::MNT_DETACH)
                } else {
                    Err(e)
                }
            })
        });
        if let Err(e) = result.and_then(|()| fs::remove_dir(&dir)).or_else(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(e)
            }
        }) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove favordynmods mount");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_favordynmods() {
        let with = "40 25 0:50 / /run/lambent/x rw,relatime - cgroup cgroup rw,name=lambent,favordynmods\n";
        let without = "26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n";
        assert!(favordynmods_mounted(with));
        assert!(!favordynmods_mounted(without));
        assert!(favordynmods_mounted(
            "31 25 0:28 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate,favordynmods\n"
        ));
    }
}
