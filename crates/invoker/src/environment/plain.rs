//! `--isolation none`: the runtime runs as a plain child of the server, in its own process group.
//! No namespaces, no cgroups, no privilege drop: for development on hosts that cannot sandbox.

use super::process::ExitInfo;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use tokio::sync::watch;

pub struct PlainProcess {
    pid: i32,
    exited: watch::Receiver<Option<ExitInfo>>,
}

pub struct Spawned {
    pub process: PlainProcess,
    pub stdout: std::os::fd::OwnedFd,
    pub stderr: std::os::fd::OwnedFd,
}

pub fn spawn(argv: &[String], env: &[(String, String)], cwd: &Path) -> std::io::Result<Spawned> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command line"))?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn()?;
    let pid = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .ok_or_else(|| std::io::Error::other("child has no pid"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout pipe"))?
        .into_owned_fd()?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| std::io::Error::other("no stderr pipe"))?
        .into_owned_fd()?;
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let info = match child.wait().await {
            Ok(status) => match (status.code(), status.signal()) {
                (Some(code), _) => ExitInfo::Code(code),
                (None, Some(signal)) => ExitInfo::Signal(signal),
                (None, None) => ExitInfo::Code(-1),
            },
            Err(_) => ExitInfo::Code(-1),
        };
        let _ = tx.send(Some(info));
    });
    Ok(Spawned {
        process: PlainProcess { pid, exited: rx },
        stdout,
        stderr,
    })
}

impl PlainProcess {
    fn signal_group(&self, signal: i32) {
        // SAFETY: kill(2) with a negative pid signals the process group we created for this
        // child (process_group(0) made its pid the group id); it touches no memory of ours.
        unsafe {
            libc::kill(-self.pid, signal);
        }
    }
}

impl PlainProcess {
    pub fn freeze(&self) {
        self.signal_group(libc::SIGSTOP);
    }

    pub fn thaw(&self) {
        self.signal_group(libc::SIGCONT);
    }

    pub fn kill(&self) {
        self.signal_group(libc::SIGKILL);
    }

    pub fn max_memory_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    pub fn exited(&self) -> watch::Receiver<Option<ExitInfo>> {
        self.exited.clone()
    }
}

impl Drop for PlainProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
