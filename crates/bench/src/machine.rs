//! The machine and `/proc`: what the results were measured on, CPU time and memory of processes,
//! CPU pinning, and the environments' cgroups.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

/// CLOCK_MONOTONIC in nanoseconds (comparable across processes, unlike `Instant`).
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; CLOCK_MONOTONIC always exists.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
    pub virtualization: String,
    pub load_before: String,
    pub load_after: String,
    pub cpu_pressure_before: String,
    pub cpu_pressure_after: String,
    pub date: String,
    pub git_commit: String,
    pub rustc: String,
    pub python: String,
    pub node: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn command_line(program: &str, args: &[&str], dir: Option<&Path>) -> String {
    let mut c = Command::new(program);
    c.args(args);
    if let Some(d) = dir {
        c.current_dir(d);
    }
    c.output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            if s.is_empty() {
                s = String::from_utf8_lossy(&o.stderr).trim().to_owned();
            }
            s
        })
        .unwrap_or_else(|| "unknown".into())
}

pub fn loadavg() -> String {
    read("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `/proc/pressure/cpu` "some avg10", as a percentage string.
pub fn cpu_pressure() -> String {
    read("/proc/pressure/cpu")
        .lines()
        .find(|l| l.starts_with("some"))
        .and_then(|l| l.split_whitespace().find(|w| w.starts_with("avg10=")))
        .map(|w| format!("{}%", &w[6..]))
        .unwrap_or_else(|| "n/a".into())
}

impl Machine {
    pub fn probe(workspace: &Path) -> Machine {
        let cpuinfo = read("/proc/cpuinfo");
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let mem_kb: f64 = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let hypervisor = cpuinfo
            .lines()
            .find(|l| l.starts_with("flags"))
            .is_some_and(|l| l.split_whitespace().any(|f| f == "hypervisor"));
        let mut commit = command_line("git", &["rev-parse", "--short=12", "HEAD"], Some(workspace));
        let dirty = Command::new("git")
            .args(["status", "--porcelain", "--untracked-files=no"])
            .current_dir(workspace)
            .output()
            .map(|o| !o.stdout.is_empty())
            .unwrap_or(false);
        if dirty {
            commit.push_str(" (with uncommitted changes)");
        }
        Machine {
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            cpu_model,
            memory_gib: (mem_kb / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            virtualization: if hypervisor {
                "guest (hypervisor flag set)".into()
            } else {
                "bare metal or unknown".into()
            },
            load_before: loadavg(),
            load_after: String::new(),
            cpu_pressure_before: cpu_pressure(),
            cpu_pressure_after: String::new(),
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            git_commit: commit,
            rustc: command_line("rustc", &["--version"], None),
            python: command_line("/usr/bin/python3", &["--version"], None),
            node: command_line("/usr/bin/node", &["--version"], None),
        }
    }

    pub fn finish(&mut self) {
        self.load_after = loadavg();
        self.cpu_pressure_after = cpu_pressure();
    }
}

/// User + system CPU time of a process (all its threads, live and exited) in microseconds.
pub fn cpu_us(pid: u32) -> u64 {
    let stat = read(&format!("/proc/{pid}/stat"));
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, i.e. 11 and 12 after ')'.
    let ticks: u64 = fields
        .get(11)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * 1_000_000 / hz
}

/// Proportional set size of a process in KiB (`/proc/<pid>/smaps_rollup`); 0 if it is gone.
pub fn pss_kib(pid: u32) -> u64 {
    read(&format!("/proc/{pid}/smaps_rollup"))
        .lines()
        .find(|l| l.starts_with("Pss:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The process and all its descendants (via `/proc/<pid>/task/*/children`).
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() && out.len() < 10_000 {
        let p = out[i];
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) {
            for t in tasks.flatten() {
                let children =
                    std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
                out.extend(
                    children
                        .split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok()),
                );
            }
        }
        i += 1;
    }
    out
}

/// Where Lambent's sandboxes put their memory cgroups (`lambent/<id>`), v1 or v2.
pub fn lambent_cgroup_root() -> Option<PathBuf> {
    [
        "/sys/fs/cgroup/memory/lambent",
        "/sys/fs/cgroup/lambent",
        "/sys/fs/cgroup/unified/lambent",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_dir())
}

/// The environments' cgroup directories that exist now.
pub fn lambent_cgroups() -> Vec<PathBuf> {
    let Some(root) = lambent_cgroup_root() else {
        return Vec::new();
    };
    std::fs::read_dir(root)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// The environment cgroups of one server: those holding a process of the server's tree (other
/// programs on the machine, such as test suites, may have sandboxes of their own).
pub fn server_cgroups(server_pid: u32) -> Vec<PathBuf> {
    let tree: std::collections::HashSet<u32> = process_tree(server_pid).into_iter().collect();
    lambent_cgroups()
        .into_iter()
        .filter(|dir| cgroup_pids(dir).iter().any(|p| tree.contains(p)))
        .collect()
}

/// The pids in a cgroup directory.
pub fn cgroup_pids(dir: &Path) -> Vec<u32> {
    read(&dir.join("cgroup.procs").to_string_lossy())
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Pins one thread (`tid`, 0 = the calling thread) to the given CPUs; errors are ignored.
pub fn pin_thread(tid: i32, cpus: &[usize]) {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET write within it; sched_setaffinity only
    // reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Pins every thread of a process.
pub fn pin_process(pid: u32, cpus: &[usize]) {
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) {
                pin_thread(tid, cpus);
            }
        }
    }
}

pub fn all_cpus() -> Vec<usize> {
    let n = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    (0..n).collect()
}
