//! The sandbox init: PID 1 of the new PID namespace.
//!
//! The host clones a child into fresh namespaces, and that child immediately re-executes the
//! server binary with [`INIT_MARKER`] in argv[1]. The result is a new, single-threaded process,
//! where mounts, `pivot_root` and the privilege drop are safe to do (they are not in the
//! multi-threaded host after `clone3`). Init then:
//!
//! 1. reads its [`InitConfig`] from fd 3 and waits for the host's "go" on fd 4;
//! 2. builds the root filesystem ([`crate::mounts`]), sets the hostname, brings `lo` up;
//! 3. forks the runtime, which drops privileges ([`crate::privs`]), installs seccomp
//!    ([`crate::seccomp`]) and execs with exactly the configured environment;
//! 4. confines itself the same way, reports `ok` (or the failing step) on fd 5, and stays as a
//!    reaper until the runtime exits, exiting with its status (128 + signal if it was killed).
//!    When init exits, the kernel kills everything left in the PID namespace.
//!
//! A deferred sandbox (`deferred_code`) starts its runtime with an empty `/var/task` and `/opt`:
//! init stays privileged (as root in the sandbox's namespaces, with only our code running beside
//! the runtime's own bootstrap) until the host's attach request arrives on the lifeline, mounts
//! the code trees it carries, resizes `/tmp`, confines itself and answers. The host releases
//! the runtime to load function code only after that answer, so function code never runs next
//! to a privileged init.

use std::ffi::{CString, OsStr};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use seccompiler::BpfProgram;

use crate::protocol::{
    CONFIG_FD, GO_FD, INIT_MARKER, MAX_ATTACH_REQUEST, STATUS_FD, STATUS_OK, error_message,
};
use crate::spec::{AttachRequest, InitConfig};
use crate::sys::{self, Forked, Reaped};
use crate::{mounts, netns, privs, seccomp};

/// A failed setup step inside init, reported to the host as `error: <step>: <reason>`.
#[derive(Debug)]
pub(crate) struct InitError {
    step: String,
    source: io::Error,
}

impl InitError {
    pub(crate) fn new(step: impl Into<String>, source: io::Error) -> Self {
        InitError {
            step: step.into(),
            source,
        }
    }
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step, self.source)
    }
}

/// Attaches the name of the failing step to an `io::Result`.
pub(crate) trait StepExt<T> {
    fn step(self, step: impl Into<String>) -> Result<T, InitError>;
}

impl<T> StepExt<T> for io::Result<T> {
    fn step(self, step: impl Into<String>) -> Result<T, InitError> {
        self.map_err(|e| InitError::new(step, e))
    }
}

/// Must be called first thing in `main` of the binary used as `SandboxSpec::init_exe`, before
/// any thread is started. If `argv[1]` is the init marker, this process is a sandbox init: it runs
/// the sandbox and exits with the runtime's status, never returning. Otherwise it returns
/// immediately and does nothing.
pub fn run_init_if_requested() {
    if std::env::args_os().nth(1).as_deref() != Some(OsStr::new(INIT_MARKER)) {
        return;
    }
    let code = init_main();
    std::process::exit(code);
}

fn init_main() -> i32 {
    // Init only makes sense as PID 1 of a namespace created by the host; refuse anything else
    // (e.g. someone running the server binary with the marker by hand).
    if sys::getpid() != 1 {
        eprintln!("lambent-sandbox-init: not PID 1 of a sandbox PID namespace; refusing to run");
        return 2;
    }
    if ![CONFIG_FD, GO_FD, STATUS_FD].into_iter().all(fd_is_open) {
        eprintln!("lambent-sandbox-init: protocol descriptors missing; refusing to run");
        return 2;
    }
    // SAFETY: fds 3-5 were verified open above and were placed by the host's clone child
    // exclusively for init; no other object in this fresh process owns them.
    let (config, go, status) = unsafe {
        (
            sys::owned_from_raw(CONFIG_FD),
            sys::owned_from_raw(GO_FD),
            sys::owned_from_raw(STATUS_FD),
        )
    };
    // Anything else inherited from the host is a leak: close it before doing anything.
    let _ = sys::close_fds_from(STATUS_FD as u32 + 1);
    run(config, go, status)
}

fn fd_is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only queries descriptor flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Sends the final status message to the host and closes the pipe.
fn report(status: OwnedFd, message: &str) {
    let _ = sys::write_all(status.as_fd(), message.as_bytes());
}

fn run(config: OwnedFd, go: OwnedFd, status: OwnedFd) -> i32 {
    sys::set_umask(0o022);
    // Start from a clean signal state whatever the host had: the host blocks every signal
    // around clone3, and ignored dispositions survive exec (an ignored SIGCHLD would break
    // reaping). SIGPIPE stays ignored so a vanished host cannot kill init mid-report.
    sys::reset_signal_dispositions();
    // SAFETY: setting SIGPIPE to SIG_IGN is always sound.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let _ = sys::set_signal_mask(&[]);
    for fd in [&config, &go, &status] {
        // None of these may reach the runtime.
        let _ = sys::set_cloexec(fd.as_fd(), true);
    }
    let cfg = match read_config(config) {
        Ok(cfg) => cfg,
        Err(e) => {
            report(status, &error_message(&e.step, &e.source.to_string()));
            return 1;
        }
    };

    // Wait for "go": the host has put us in the cgroups and bound its listeners. EOF means the
    // host gave up on this sandbox.
    let mut byte = [0u8; 1];
    match sys::read(go.as_fd(), &mut byte) {
        Ok(1) => {}
        _ => return 1,
    }

    let (runtime_pid, filters) = match setup_and_spawn(&cfg) {
        Ok(spawned) => spawned,
        Err((e, code)) => {
            report(status, &error_message(&e.step, &e.source.to_string()));
            return code;
        }
    };
    report(status, STATUS_OK);
    let pending = cfg.deferred_code.then_some(PendingAttach {
        cfg: &cfg,
        filters: &filters,
    });
    supervise(runtime_pid, go.as_fd(), pending)
}

fn read_config(config: OwnedFd) -> Result<InitConfig, InitError> {
    let mut file = File::from(config);
    // The host wrote the memfd through a shared file offset; read from the start.
    file.seek(SeekFrom::Start(0)).step("seek config")?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).step("read config")?;
    serde_json::from_slice(&bytes).map_err(|e| InitError::new("parse config", io::Error::other(e)))
}

/// Everything between "go" and the runtime's exec. Returns the runtime's pid (none yet for a
/// deferred sandbox without `argv`) and the seccomp filters (a deferred init installs them on
/// itself later), or the failed step with init's exit code.
fn setup_and_spawn(
    cfg: &InitConfig,
) -> Result<(Option<libc::pid_t>, Vec<BpfProgram>), (InitError, i32)> {
    let setup = |cfg: &InitConfig| -> Result<Vec<BpfProgram>, InitError> {
        mounts::build_root(cfg)?;
        sys::sethostname(&cfg.hostname).step("sethostname")?;
        netns::loopback_up().step("bring lo up")?;
        seccomp::build_filters()
            .map_err(|e| InitError::new("build seccomp filters", io::Error::other(e)))
    };
    let filters = setup(cfg).map_err(|e| (e, 1))?;
    let pid = if cfg.argv.is_empty() {
        None
    } else {
        Some(spawn_runtime(cfg, &filters).map_err(|e| (e, 127))?)
    };
    if !cfg.deferred_code {
        // Nothing left for init to do as root: from here on it is as unprivileged as the runtime.
        confine(cfg, &filters).map_err(|e| (e, 1))?;
    }
    Ok((pid, filters))
}

/// Drops every privilege and installs seccomp: done by the runtime before its exec, and by init
/// itself once it has no privileged work left.
fn confine(cfg: &InitConfig, filters: &[BpfProgram]) -> Result<(), InitError> {
    privs::drop_privileges(cfg.uid, cfg.gid)?;
    seccomp::install(filters).map_err(|e| InitError::new("install seccomp", io::Error::other(e)))
}

/// Forks the runtime, which confines itself and execs. Returns once the exec has succeeded (a
/// close-on-exec pipe carries the failed step otherwise).
fn spawn_runtime(cfg: &InitConfig, filters: &[BpfProgram]) -> Result<libc::pid_t, InitError> {
    let argv: Vec<CString> = cfg
        .argv
        .iter()
        .map(sys::cstring)
        .collect::<io::Result<_>>()
        .step("argv")?;
    let envp: Vec<CString> = cfg
        .env
        .iter()
        .map(|(k, v)| sys::cstring(format!("{k}={v}")))
        .collect::<io::Result<_>>()
        .step("env")?;
    let Some(program) = argv.first() else {
        return Err(InitError::new(
            "argv",
            io::Error::from_raw_os_error(libc::EINVAL),
        ));
    };
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());

    // SIGCHLD is consumed through a signalfd; block it before the fork so no exit is missed.
    sys::set_signal_mask(&[libc::SIGCHLD]).step("block SIGCHLD")?;
    let (err_r, err_w) = sys::pipe().step("exec status pipe")?;
    match sys::fork().step("fork runtime")? {
        Forked::Child => {
            drop(err_r);
            sys::reset_signal_dispositions();
            let _ = sys::set_signal_mask(&[]);
            // Init is single-threaded, so the child may allocate and run ordinary code.
            let failure = match confine(cfg, filters).and_then(|()| {
                // After the drop, so that an unreadable code directory is reported clearly.
                std::env::set_current_dir(&cfg.cwd).step(format!("chdir {}", cfg.cwd))
            }) {
                Ok(()) => {
                    let err = sys::execve(program, &argv_ptrs, &envp_ptrs);
                    InitError::new(format!("exec {}", cfg.argv[0]), err)
                }
                Err(e) => e,
            };
            let _ = sys::write_all(err_w.as_fd(), failure.to_string().as_bytes());
            sys::exit_now(127);
        }
        Forked::Parent(pid) => {
            drop(err_w);
            let mut message = Vec::new();
            let mut buf = [0u8; 512];
            while let Ok(n @ 1..) = sys::read(err_r.as_fd(), &mut buf) {
                message.extend_from_slice(&buf[..n]);
            }
            if message.is_empty() {
                return Ok(pid);
            }
            let _ = sys::reap_any();
            let text = String::from_utf8_lossy(&message);
            let (step, reason) = text.split_once(": ").unwrap_or((&text, "failed"));
            Err(InitError::new(step, io::Error::other(reason.to_string())))
        }
    }
}

/// A deferred sandbox waiting for its code: what init needs to attach it and then confine
/// itself.
struct PendingAttach<'a> {
    cfg: &'a InitConfig,
    filters: &'a [BpfProgram],
}

/// Serves the one attach request of a deferred sandbox: mounts the code, starts the runtime if
/// the request names one (returning its pid), and confines init. Errors are the message for
/// the host.
fn attach(
    pending: &PendingAttach<'_>,
    request: &[u8],
    fds: Vec<OwnedFd>,
) -> Result<Option<libc::pid_t>, InitError> {
    let request: AttachRequest = serde_json::from_slice(request)
        .map_err(|e| InitError::new("parse attach request", io::Error::other(e)))?;
    let expected = 1 + usize::from(request.opt);
    if fds.len() != expected || request.tmp_mb == 0 {
        return Err(InitError::new(
            "attach request",
            io::Error::from_raw_os_error(libc::EINVAL),
        ));
    }
    mounts::attach_code(&fds[0], fds.get(1), request.tmp_mb)?;
    drop(fds);
    let runtime = match request.exec {
        Some(exec) => {
            let cfg = InitConfig {
                argv: exec.argv,
                env: exec.env,
                ..pending.cfg.clone()
            };
            Some(spawn_runtime(&cfg, pending.filters)?)
        }
        None => None,
    };
    confine(pending.cfg, pending.filters)?;
    Ok(runtime)
}

/// Reaps every process until the runtime exits, then exits with its status. Also exits (and so
/// kills the sandbox) when the host closes the lifeline socket. A deferred init also serves the
/// attach request that arrives on the lifeline.
fn supervise(
    mut runtime_pid: Option<libc::pid_t>,
    lifeline: BorrowedFd<'_>,
    mut pending: Option<PendingAttach<'_>>,
) -> i32 {
    let sigfd = match sys::sigchld_fd() {
        Ok(fd) => fd,
        Err(_) => {
            // Without a signalfd, fall back to a blocking wait for the runtime only.
            return runtime_pid.map_or(1, wait_blocking);
        }
    };
    loop {
        // The runtime may already have exited before the signalfd existed: check first.
        while let Some((pid, how)) = sys::reap_any() {
            if Some(pid) == runtime_pid {
                // Take every remaining process in the namespace down with the runtime.
                let _ = sys::kill(-1, libc::SIGKILL);
                return exit_code(how);
            }
        }
        let revents = match sys::poll(&[sigfd.as_fd(), lifeline], libc::POLLIN, -1) {
            Ok(r) => r,
            Err(_) => return runtime_pid.map_or(1, wait_blocking),
        };
        if revents[0] != 0 {
            sys::drain(sigfd.as_fd());
        }
        if revents[1] != 0 {
            let mut buf = vec![0u8; MAX_ATTACH_REQUEST];
            let received = sys::recv_with_fds(lifeline, &mut buf);
            let (n, fds) = match received {
                Ok((n @ 1.., fds)) => (n, fds),
                Ok((0, _)) | Err(_) => {
                    let _ = sys::kill(-1, libc::SIGKILL);
                    return 128 + libc::SIGKILL;
                }
            };
            let Some(waiting) = pending.take() else {
                // Only a deferred sandbox takes a request, and only one.
                let refusal = error_message("attach", "the code is already in place");
                let _ = sys::send_with_fds(lifeline, refusal.as_bytes(), &[]);
                continue;
            };
            let outcome = attach(&waiting, &buf[..n], fds);
            let reply = match &outcome {
                Ok(_) => STATUS_OK.to_string(),
                Err(e) => error_message(&e.step, &e.source.to_string()),
            };
            let _ = sys::send_with_fds(lifeline, reply.as_bytes(), &[]);
            match outcome {
                Ok(Some(pid)) => runtime_pid = Some(pid),
                Ok(None) => {}
                Err(_) => {
                    let _ = sys::kill(-1, libc::SIGKILL);
                    return 1;
                }
            }
        }
    }
}

fn wait_blocking(runtime_pid: libc::pid_t) -> i32 {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid == -1 {
            return 1;
        }
        if pid == runtime_pid {
            let _ = sys::kill(-1, libc::SIGKILL);
            return if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
        }
    }
}

fn exit_code(how: Reaped) -> i32 {
    match how {
        Reaped::Exited(code) => code,
        Reaped::Signaled(sig) => 128 + sig,
    }
}
