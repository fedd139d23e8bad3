//! The process tree behind an environment: a sandbox, or (with `--isolation none`) a plain child
//! process. The rest of the invoker sees only [`Process`].

use super::plain::PlainProcess;
use super::sandboxed::SandboxedProcess;
use tokio::sync::watch;

/// How the runtime process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitInfo {
    Code(i32),
    Signal(i32),
}

impl ExitInfo {
    /// Lambda's wording: `exit status 1`, `signal: killed`.
    pub fn describe(self) -> String {
        match self {
            ExitInfo::Code(code) => format!("exit status {code}"),
            ExitInfo::Signal(libc::SIGKILL) => "signal: killed".into(),
            ExitInfo::Signal(libc::SIGSEGV) => "signal: segmentation fault".into(),
            ExitInfo::Signal(libc::SIGABRT) => "signal: aborted".into(),
            ExitInfo::Signal(signal) => format!("signal: {signal}"),
        }
    }
}

pub enum Process {
    Plain(PlainProcess),
    Sandboxed(SandboxedProcess),
}

impl Process {
    /// Applies the CPU share of `memory_mb` (1769 MB = one vCPU); Init runs without it.
    pub async fn restrict_cpu(&self, memory_mb: u32) {
        if let Process::Sandboxed(s) = self {
            s.restrict_cpu(u64::from(memory_mb)).await;
        }
    }

    /// Stops every process of the environment (no CPU) until [`Process::thaw`]. Off the
    /// critical path: the freeze is queued, not awaited, so the response is not delayed by it.
    pub fn freeze_soon(&self) {
        match self {
            Process::Plain(p) => p.freeze(),
            Process::Sandboxed(s) => s.freeze_soon(),
        }
    }

    pub async fn thaw(&self) {
        match self {
            Process::Plain(p) => p.thaw(),
            Process::Sandboxed(s) => s.thaw().await,
        }
    }

    /// Kills every process of the environment; does not wait.
    pub fn kill(&self) {
        match self {
            Process::Plain(p) => p.kill(),
            Process::Sandboxed(s) => s.kill(),
        }
    }

    /// Whether the kernel killed the environment for exceeding its memory limit.
    pub async fn oom_killed(&self) -> bool {
        match self {
            Process::Plain(_) => false,
            Process::Sandboxed(s) => s.stats().await.oom_killed,
        }
    }

    /// Peak memory use of the environment.
    pub async fn max_memory_bytes(&self) -> Option<u64> {
        match self {
            Process::Plain(p) => p.max_memory_bytes(),
            Process::Sandboxed(s) => s.stats().await.max_memory_bytes,
        }
    }

    /// Resolves when the environment's main process has exited.
    pub fn exited(&self) -> watch::Receiver<Option<ExitInfo>> {
        match self {
            Process::Plain(p) => p.exited(),
            Process::Sandboxed(s) => s.exited(),
        }
    }
}

/// Waits until the process has exited, or forever.
pub async fn wait_exit(mut exited: watch::Receiver<Option<ExitInfo>>) -> ExitInfo {
    loop {
        if let Some(info) = *exited.borrow_and_update() {
            return info;
        }
        if exited.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}
