//! Host side API: [`PreparedSandbox`] (phase 1) and [`Sandbox`] (running).

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::cgroup::{self, Cgroup, Limits};
use crate::error::SandboxError;
use crate::netns;
use crate::protocol::MAX_ATTACH_REQUEST;
use crate::protocol::{HIGH_FD_MIN, Status, parse_status};
use crate::spawn::{ChildFds, spawn_init};
use crate::spec::{AttachRequest, CodeAttachment, SandboxSpec};
use crate::sys::{self, Reaped};

/// How long `start` waits for init to report (mounts, privilege drop, exec of the runtime).
/// Normally a few milliseconds; generous because CI machines can be very busy.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long `attach_code` waits for init (two mounts and a privilege drop: microseconds).
const ATTACH_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `Drop` waits for init to die after SIGKILL before giving up on reaping it.
const REAP_TIMEOUT: Duration = Duration::from_secs(10);

/// How the sandbox's init ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxExit {
    /// Init exited with this code: the runtime's exit code, or 128 + signal if the runtime was
    /// killed by a signal (e.g. 137 after an OOM kill).
    Exited(i32),
    /// Init itself was killed by this signal (e.g. [`Sandbox::kill`]).
    Signaled(i32),
}

impl SandboxExit {
    /// The exit code, if init exited normally.
    pub fn code(&self) -> Option<i32> {
        match *self {
            SandboxExit::Exited(c) => Some(c),
            SandboxExit::Signaled(_) => None,
        }
    }

    /// The signal that killed the runtime, decoded from init's 128 + n convention, or the signal
    /// that killed init itself.
    pub fn signal(&self) -> Option<i32> {
        match *self {
            SandboxExit::Exited(c) if c > 128 && c < 128 + 65 => Some(c - 128),
            SandboxExit::Exited(_) => None,
            SandboxExit::Signaled(s) => Some(s),
        }
    }

    /// True for exit code 0.
    pub fn success(&self) -> bool {
        *self == SandboxExit::Exited(0)
    }
}

impl From<Reaped> for SandboxExit {
    fn from(r: Reaped) -> Self {
        match r {
            Reaped::Exited(c) => SandboxExit::Exited(c),
            Reaped::Signaled(s) => SandboxExit::Signaled(s),
        }
    }
}

/// Init's process and cgroups. Dropping it kills, reaps and removes everything; both
/// [`PreparedSandbox`] and [`Sandbox`] own one, so both clean up on drop.
#[derive(Debug)]
struct Core {
    id: String,
    pid: i32,
    pidfd: OwnedFd,
    cgroup: Box<dyn Cgroup>,
    exit: Option<SandboxExit>,
}

impl Core {
    fn kill(&self) {
        if self.exit.is_some() {
            // Reaped: the pid may belong to someone else now, and the namespace is gone.
            self.cgroup.kill_all();
            return;
        }
        // Freezes, kills every listed task, thaws (so a frozen sandbox dies too).
        self.cgroup.kill_all();
        // Killing PID 1 makes the kernel kill every process in its PID namespace.
        if let Err(e) = sys::pidfd_send_signal(self.pidfd.as_fd(), libc::SIGKILL)
            && e.raw_os_error() != Some(libc::ESRCH)
        {
            tracing::warn!(id = %self.id, error = %e, "pidfd_send_signal failed");
        }
    }

    /// Non-blocking reap; records the exit.
    fn try_reap(&mut self) -> Result<Option<SandboxExit>, SandboxError> {
        if let Some(e) = self.exit {
            return Ok(Some(e));
        }
        let r = sys::waitid_pidfd(self.pidfd.as_fd(), true)
            .map_err(|e| SandboxError::os("waitid", e))?;
        self.exit = r.map(SandboxExit::from);
        Ok(self.exit)
    }

    /// Blocking reap with a timeout (used by Drop, after SIGKILL, so normally immediate).
    fn reap_blocking(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            match self.try_reap() {
                Ok(Some(_)) => return,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(id = %self.id, error = %e, "cannot reap sandbox init");
                    return;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::error!(id = %self.id, pid = self.pid, "sandbox init did not die after SIGKILL");
                return;
            }
            let ms = left.as_millis().min(100) as i32;
            let _ = sys::poll(&[self.pidfd.as_fd()], libc::POLLIN, ms.max(1));
        }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        if self.exit.is_none() {
            // Kills through the cgroup and through init's pidfd.
            self.kill();
            self.reap_blocking(REAP_TIMEOUT);
        } else {
            // Init is reaped, so its namespace is gone; this only catches anything that left the
            // PID namespace but not the cgroup (which seccomp should make impossible).
            self.cgroup.kill_all();
        }
        if let Err(e) = self.cgroup.remove() {
            tracing::warn!(id = %self.id, error = %e, "cannot remove sandbox cgroup");
        }
    }
}

/// Phase 1: cgroups created, init cloned into new mount/pid/ipc/uts/net namespaces and placed in
/// the cgroups, waiting for "go". Nothing untrusted runs yet. Dropping it kills init and removes
/// the cgroups.
#[derive(Debug)]
pub struct PreparedSandbox {
    core: Core,
    /// Host end of the go/lifeline socket.
    go: OwnedFd,
    /// Read end of the status pipe.
    status: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

impl PreparedSandbox {
    /// Creates the cgroups and clones init. Returns quickly (no waiting for init to start).
    pub fn create(spec: &SandboxSpec) -> Result<PreparedSandbox, SandboxError> {
        spec.validate()?;
        let limits = Limits::from_spec(spec);
        let cgroup = cgroup::create(&spec.id, &limits)?;

        let config = serde_json::to_vec(&spec.init_config())
            .map_err(|e| SandboxError::os("serialize init config", io::Error::other(e)))?;
        let memfd =
            sys::memfd(c"lambent-init-config").map_err(|e| SandboxError::os("memfd_create", e))?;
        let mut file = std::fs::File::from(memfd);
        file.write_all(&config)
            .map_err(|e| SandboxError::os("write init config", e))?;
        let memfd = OwnedFd::from(file);
        sys::seal_memfd(memfd.as_fd()).map_err(|e| SandboxError::os("seal init config", e))?;

        let os = |step| move |e| SandboxError::os(step, e);
        let (go_r, go_w) = sys::seqpacket_pair().map_err(os("socketpair"))?;
        let (status_r, status_w) = sys::pipe().map_err(os("pipe"))?;
        let (stdout_r, stdout_w) = sys::pipe().map_err(os("pipe"))?;
        let (stderr_r, stderr_w) = sys::pipe().map_err(os("pipe"))?;
        let devnull = std::fs::File::open("/dev/null").map_err(os("open /dev/null"))?;
        // Child-side descriptors are moved to >= 10 so the child's dup2 onto 0-5 is collision-free.
        let high =
            |fd: &dyn AsFd| sys::dup_at_least(fd.as_fd(), HIGH_FD_MIN).map_err(os("dup child fd"));
        let c_stdin = high(&devnull)?;
        let c_stdout = high(&stdout_w)?;
        let c_stderr = high(&stderr_w)?;
        let c_config = high(&memfd)?;
        let c_go = high(&go_r)?;
        let c_status = high(&status_w)?;
        drop((devnull, stdout_w, stderr_w, memfd, go_r, status_w));

        let child_fds = ChildFds {
            stdin: c_stdin.as_fd(),
            stdout: c_stdout.as_fd(),
            stderr: c_stderr.as_fd(),
            config: c_config.as_fd(),
            go: c_go.as_fd(),
            status: c_status.as_fd(),
        };
        let spawned = spawn_init(&spec.init_exe, &child_fds, cgroup.clone_into_fd())?;
        // Our copies of the child's ends must go, or EOF would never be seen on the pipes.
        drop((c_stdin, c_stdout, c_stderr, c_config, c_go, c_status));

        let core = Core {
            id: spec.id.clone(),
            pid: spawned.pid,
            pidfd: spawned.pidfd,
            cgroup,
            exit: None,
        };
        if !spawned.in_cgroup {
            // On failure `core` is dropped: init is killed and the cgroups removed.
            core.cgroup.add_process(core.pid)?;
        }
        Ok(PreparedSandbox {
            core,
            go: go_w,
            status: status_r,
            stdout: stdout_r,
            stderr: stderr_r,
        })
    }

    /// Host pid of init.
    pub fn pid(&self) -> i32 {
        self.core.pid
    }

    /// Binds a TCP listener inside the sandbox's network namespace (bringing `lo` up), e.g. at
    /// `127.0.0.1:9001` for the Runtime API. The host accepts on it from any thread; inside the
    /// sandbox it is reachable at `addr`, and it is the sandbox's only way out. For tokio, set it
    /// non-blocking and use `tokio::net::TcpListener::from_std`.
    pub fn bind_tcp(&self, addr: SocketAddr) -> Result<TcpListener, SandboxError> {
        netns::bind_tcp_in(self.core.pid, addr)
    }

    /// The cgroup directories of this sandbox (diagnostics and tests).
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        self.core.cgroup.dirs()
    }

    /// Sends "go" and waits until init reports that the runtime has been exec'd, or why not.
    pub fn start(mut self) -> Result<Sandbox, SandboxError> {
        // EPIPE here means init already died; its status (below) says why.
        let _ = sys::write_all(self.go.as_fd(), b"g");
        let message = self.read_status()?;
        match parse_status(&message) {
            Status::Ok => Ok(Sandbox {
                core: self.core,
                lifeline: self.go,
                stdout: Some(self.stdout),
                stderr: Some(self.stderr),
            }),
            Status::Failed(msg) => Err(SandboxError::Init(msg)),
            Status::Garbled(text) => Err(SandboxError::InitDied(format!(
                "unexpected status message (is init_exe calling run_init_if_requested?): {text}"
            ))),
            Status::Silent => {
                // Give the kernel a moment to finish the exit, then say how it ended.
                self.core.reap_blocking(Duration::from_millis(200));
                Err(SandboxError::InitDied(match self.core.exit {
                    Some(exit) => format!("{exit:?} before reporting status"),
                    None => "closed its status pipe without reporting".to_string(),
                }))
            }
        }
    }

    /// Reads the status pipe to EOF, with [`START_TIMEOUT`].
    fn read_status(&mut self) -> Result<Vec<u8>, SandboxError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(SandboxError::Timeout(format!(
                    "sandbox init did not report within {START_TIMEOUT:?}"
                )));
            }
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            let revents = sys::poll(&[self.status.as_fd()], libc::POLLIN, ms)
                .map_err(|e| SandboxError::os("poll", e))?;
            if revents[0] == 0 {
                continue;
            }
            match sys::read(self.status.as_fd(), &mut buf)
                .map_err(|e| SandboxError::os("read status", e))?
            {
                0 => return Ok(out),
                n if out.len() < 64 * 1024 => out.extend_from_slice(&buf[..n]),
                _ => {}
            }
        }
    }
}

/// A running sandbox. Dropping it SIGKILLs every process in it, reaps init and removes its
/// cgroups; the namespaces and mounts disappear with the last process.
#[derive(Debug)]
pub struct Sandbox {
    core: Core,
    /// Host end of the lifeline socket. Init exits (killing the sandbox) when it is closed, so
    /// even a crashed host does not leave sandboxes behind. A deferred sandbox's attach request
    /// travels on it too.
    lifeline: OwnedFd,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
}

impl Sandbox {
    /// Host pid of init.
    pub fn pid(&self) -> i32 {
        self.core.pid
    }

    /// Like [`PreparedSandbox::bind_tcp`], for a running sandbox (e.g. a listener added later).
    /// Fails once init has been reaped.
    pub fn bind_tcp(&self, addr: SocketAddr) -> Result<TcpListener, SandboxError> {
        if self.core.exit.is_some() {
            return Err(SandboxError::os(
                "bind_tcp",
                io::Error::from_raw_os_error(libc::ESRCH),
            ));
        }
        netns::bind_tcp_in(self.core.pid, addr)
    }

    /// The sandbox id.
    pub fn id(&self) -> &str {
        &self.core.id
    }

    /// Read end of the runtime's stdout pipe (blocking; at EOF once every process in the
    /// sandbox has exited). Returns `None` after the first call.
    pub fn take_stdout(&mut self) -> Option<OwnedFd> {
        self.stdout.take()
    }

    /// Read end of the runtime's stderr pipe. Returns `None` after the first call.
    pub fn take_stderr(&mut self) -> Option<OwnedFd> {
        self.stderr.take()
    }

    /// Specialises a sandbox created with `deferred_code`: mounts the code read-only at
    /// `/var/task` (and the layers at `/opt`), resizes `/tmp`, sets the memory limit, starts the
    /// runtime if the attachment names one, and waits until init has done so and given up its
    /// privileges. The trees are cloned here, in the host's mount namespace, and passed to init
    /// as descriptors: init never sees a host path. Fails, changing nothing, on a sandbox that
    /// was not deferred or is already attached.
    pub fn attach_code(&self, attachment: &CodeAttachment) -> Result<(), SandboxError> {
        attachment.validate()?;
        let os = |step| move |e| SandboxError::os(step, e);
        self.core
            .cgroup
            .set_memory_limit(attachment.memory_mb.saturating_mul(1024 * 1024))?;
        let attrs = sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV;
        let tree = |dir: &Path| {
            sys::cstring(dir)
                .and_then(|path| sys::detached_tree(&path, attrs))
                .map_err(|e| SandboxError::os("clone code tree", e))
        };
        let task = tree(&attachment.code_dir)?;
        let opt = attachment.opt_dir.as_deref().map(tree).transpose()?;
        let request = serde_json::to_vec(&AttachRequest {
            tmp_mb: attachment.tmp_mb,
            opt: opt.is_some(),
            exec: attachment.exec.clone(),
        })
        .map_err(|e| SandboxError::os("serialize attach request", io::Error::other(e)))?;
        if request.len() > MAX_ATTACH_REQUEST {
            return Err(SandboxError::InvalidSpec(format!(
                "the attach request is {} bytes, more than {MAX_ATTACH_REQUEST}",
                request.len()
            )));
        }
        let fds: Vec<_> = std::iter::once(task.as_fd())
            .chain(opt.as_ref().map(|fd| fd.as_fd()))
            .collect();
        sys::send_with_fds(self.lifeline.as_fd(), &request, &fds)
            .map_err(os("send attach request"))?;
        let revents = sys::poll(
            &[self.lifeline.as_fd()],
            libc::POLLIN,
            ATTACH_TIMEOUT.as_millis() as i32,
        )
        .map_err(os("poll"))?;
        if revents[0] == 0 {
            return Err(SandboxError::Timeout(format!(
                "sandbox init did not attach the code within {ATTACH_TIMEOUT:?}"
            )));
        }
        let mut buf = [0u8; 1024];
        let (n, _) =
            sys::recv_with_fds(self.lifeline.as_fd(), &mut buf).map_err(os("read attach reply"))?;
        match parse_status(&buf[..n]) {
            Status::Ok => Ok(()),
            Status::Failed(msg) => Err(SandboxError::Init(msg)),
            Status::Garbled(text) => Err(SandboxError::InitDied(format!(
                "unexpected attach reply: {text}"
            ))),
            Status::Silent => Err(SandboxError::InitDied(
                "exited instead of attaching the code".into(),
            )),
        }
    }

    /// Freezes every process (v1 freezer / v2 `cgroup.freeze`) and waits until the kernel
    /// reports the cgroup frozen. A frozen sandbox keeps its memory but uses no CPU.
    pub fn freeze(&self) -> Result<(), SandboxError> {
        self.core.cgroup.freeze()
    }

    /// Changes the CPU share of a running sandbox, as Lambda memory (1769 MB = one vCPU; 0 = no
    /// limit). The invoker lets Init run unthrottled and applies the function's share afterwards.
    pub fn set_cpu_weight_mb(&self, cpu_weight_mb: u64) -> Result<(), SandboxError> {
        self.core
            .cgroup
            .set_cpu_quota(cgroup::cpu_quota_us(cpu_weight_mb))
    }

    /// Thaws a frozen sandbox and waits until it runs again.
    pub fn thaw(&self) -> Result<(), SandboxError> {
        self.core.cgroup.thaw()
    }

    /// SIGKILLs every process in the sandbox (also when frozen). Use [`Sandbox::wait`] or drop
    /// the sandbox afterwards to reap it.
    pub fn kill(&self) {
        self.core.kill();
    }

    /// Waits asynchronously (tokio) for init to exit, without blocking a runtime thread: the
    /// pidfd is registered with the reactor and becomes readable when init exits. Can be called
    /// again after completion and returns the same status.
    pub async fn wait(&mut self) -> Result<SandboxExit, SandboxError> {
        if let Some(exit) = self.core.exit {
            return Ok(exit);
        }
        let exit = {
            if tokio::runtime::Handle::try_current().is_err() {
                return Err(SandboxError::os(
                    "wait",
                    io::Error::other("Sandbox::wait must run inside a tokio runtime"),
                ));
            }
            // SAFETY: the borrowed pidfd stays open and unchanged for the AsyncFd's whole life:
            // the AsyncFd is dropped at the end of this block, while `self` (and so the OwnedFd)
            // is borrowed.
            let afd = unsafe {
                AsyncFd::register_with_interest(self.core.pidfd.as_fd(), Interest::READABLE)
            }
            .map_err(|e| SandboxError::os("register pidfd", e.into()))?;
            loop {
                let mut guard = afd
                    .readable()
                    .await
                    .map_err(|e| SandboxError::os("await pidfd", e))?;
                match sys::waitid_pidfd(self.core.pidfd.as_fd(), true)
                    .map_err(|e| SandboxError::os("waitid", e))?
                {
                    Some(r) => break SandboxExit::from(r),
                    None => guard.clear_ready(),
                }
            }
        };
        self.core.exit = Some(exit);
        Ok(exit)
    }

    /// Non-blocking check whether init has exited.
    pub fn try_wait(&mut self) -> Result<Option<SandboxExit>, SandboxError> {
        self.core.try_reap()
    }

    /// True if the kernel OOM-killed any process of this sandbox (the `oom_kill` counter of
    /// `memory.oom_control` on v1, `memory.events` on v2). Distinguishes an OOM from a timeout
    /// kill, which both end in SIGKILL.
    pub fn oom_killed(&self) -> bool {
        match self.core.cgroup.oom_kill_count() {
            Ok(n) => n > 0,
            Err(e) => {
                tracing::warn!(id = %self.core.id, error = %e, "cannot read OOM counter");
                false
            }
        }
    }

    /// Peak memory usage of the sandbox in bytes (`memory.max_usage_in_bytes` / `memory.peak`),
    /// for Lambda's "Max Memory Used".
    pub fn max_memory_bytes(&self) -> Option<u64> {
        self.core.cgroup.memory_peak()
    }

    /// The cgroup directories of this sandbox (diagnostics and tests).
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        self.core.cgroup.dirs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_send_sync<T: Send + Sync>() {}
    fn is_send<T: Send>(_: &T) {}

    /// The server moves sandboxes between tasks and awaits `wait` in spawned tasks.
    #[test]
    fn handles_and_wait_future_are_send() {
        is_send_sync::<PreparedSandbox>();
        is_send_sync::<Sandbox>();
        #[allow(dead_code)]
        fn wait_future_is_send(s: &mut Sandbox) {
            is_send(&s.wait());
        }
    }

    #[test]
    fn exit_decoding() {
        assert_eq!(SandboxExit::Exited(137).signal(), Some(9));
        assert_eq!(SandboxExit::Exited(137).code(), Some(137));
        assert_eq!(SandboxExit::Exited(1).signal(), None);
        assert_eq!(SandboxExit::Signaled(9).signal(), Some(9));
        assert_eq!(SandboxExit::Signaled(9).code(), None);
        assert!(SandboxExit::Exited(0).success());
    }
}
