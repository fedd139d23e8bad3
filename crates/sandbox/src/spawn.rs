//! Host side of process creation: `clone3` into new namespaces, then re-exec of the init binary.
//!
//! The host is multi-threaded (tokio), so between `clone3` and `execve` the child may only make
//! async-signal-safe calls: it must not allocate, take locks or touch Rust runtime state. All
//! strings and pointer arrays are therefore built before the clone, and the child only calls
//! `dup2`, `execve`, `write` and `_exit`. Everything else (mounts, privilege drop, seccomp) is
//! done by init, a fresh single-threaded process.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use crate::error::SandboxError;
use crate::protocol::{CONFIG_FD, GO_FD, HIGH_FD_MIN, INIT_ARGV0, INIT_MARKER, STATUS_FD};
use crate::sys;

/// The namespaces every sandbox gets. No user namespace: init runs as real root until it drops
/// to the unprivileged uid (see THREAT_MODEL.md).
pub(crate) const NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWNET) as u64;

/// `CLONE_INTO_CGROUP` (Linux 5.7); libc's constant is an overflowing `c_int`.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` (CLONE_ARGS_SIZE_VER2, with the `cgroup` field), defined here because not
/// every libc target exposes it.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// The descriptors init inherits. Each must be `>= HIGH_FD_MIN` and close-on-exec, so that the
/// `dup2` onto 0-5 cannot clobber a source and no other copy leaks into init.
pub(crate) struct ChildFds<'a> {
    pub stdin: BorrowedFd<'a>,
    pub stdout: BorrowedFd<'a>,
    pub stderr: BorrowedFd<'a>,
    pub config: BorrowedFd<'a>,
    pub go: BorrowedFd<'a>,
    pub status: BorrowedFd<'a>,
}

/// A freshly cloned init.
pub(crate) struct Spawned {
    /// Host pid of init.
    pub pid: i32,
    /// pidfd of init: race-free signalling and waiting.
    pub pidfd: OwnedFd,
    /// True if `CLONE_INTO_CGROUP` already placed init in its cgroup.
    pub in_cgroup: bool,
}

/// Everything the child needs, prepared before the clone (no allocation afterwards).
struct ExecPlan {
    exe: CString,
    _argv_storage: [CString; 2],
    argv: [*const libc::c_char; 3],
    envp: [*const libc::c_char; 1],
    dups: [(RawFd, RawFd); 6],
    status_src: RawFd,
}

/// Clones init into new namespaces and execs `init_exe` in init mode.
pub(crate) fn spawn_init(
    init_exe: &Path,
    fds: &ChildFds<'_>,
    cgroup_fd: Option<BorrowedFd<'_>>,
) -> Result<Spawned, SandboxError> {
    let plan = plan(init_exe, fds)?;
    // With every signal blocked, no host signal handler (tokio's, for instance) can run in the
    // child between clone3 and execve. Init starts with this mask and resets it.
    let old_mask = sys::block_all_signals().map_err(|e| SandboxError::os("block signals", e))?;
    let result = spawn_with_fallback(&plan, cgroup_fd);
    sys::restore_signal_mask(&old_mask);
    result
}

fn spawn_with_fallback(
    plan: &ExecPlan,
    cgroup_fd: Option<BorrowedFd<'_>>,
) -> Result<Spawned, SandboxError> {
    if let Some(cg) = cgroup_fd {
        match clone3(plan, Some(cg)) {
            Ok((pid, pidfd)) => {
                return Ok(Spawned {
                    pid,
                    pidfd,
                    in_cgroup: true,
                });
            }
            // Kernels or setups that refuse CLONE_INTO_CGROUP: fall back to migrating later.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINVAL | libc::E2BIG | libc::EOPNOTSUPP)
                ) =>
            {
                tracing::debug!(error = %e, "CLONE_INTO_CGROUP refused; migrating instead");
            }
            Err(e) => return Err(SandboxError::os("clone3", e)),
        }
    }
    let (pid, pidfd) = clone3(plan, None).map_err(|e| SandboxError::os("clone3", e))?;
    Ok(Spawned {
        pid,
        pidfd,
        in_cgroup: false,
    })
}

fn plan(init_exe: &Path, fds: &ChildFds<'_>) -> Result<ExecPlan, SandboxError> {
    let invalid = |e| SandboxError::os("init_exe path", e);
    let exe = sys::cstring(init_exe).map_err(invalid)?;
    let argv_storage = [
        sys::cstring(INIT_ARGV0).map_err(invalid)?,
        sys::cstring(INIT_MARKER).map_err(invalid)?,
    ];
    let argv = [
        argv_storage[0].as_ptr(),
        argv_storage[1].as_ptr(),
        std::ptr::null(),
    ];
    let dups = [
        (fds.stdin.as_raw_fd(), 0),
        (fds.stdout.as_raw_fd(), 1),
        (fds.stderr.as_raw_fd(), 2),
        (fds.config.as_raw_fd(), CONFIG_FD),
        (fds.go.as_raw_fd(), GO_FD),
        (fds.status.as_raw_fd(), STATUS_FD),
    ];
    if dups.iter().any(|(src, _)| *src < HIGH_FD_MIN) {
        return Err(SandboxError::os(
            "spawn",
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "child descriptors must be >= 10",
            ),
        ));
    }
    Ok(ExecPlan {
        exe,
        _argv_storage: argv_storage,
        argv,
        // init starts with an empty environment: nothing of the host's leaks into the sandbox.
        envp: [std::ptr::null()],
        dups,
        status_src: fds.status.as_raw_fd(),
    })
}

/// Runs `clone3`; in the child, never returns.
fn clone3(plan: &ExecPlan, cgroup_fd: Option<BorrowedFd<'_>>) -> io::Result<(i32, OwnedFd)> {
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: NAMESPACE_FLAGS | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(cg) = cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = cg.as_raw_fd() as u64;
    }
    // SAFETY: `args` is a valid clone_args of the size we pass. With no stack given, clone3 has
    // fork semantics: the child runs on a copy of our stack and address space. The child then
    // only executes `exec_child`, which makes async-signal-safe system calls on data prepared
    // before the clone and never returns into Rust code of the parent.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => exec_child(plan),
        pid => {
            // SAFETY: with CLONE_PIDFD the kernel stored a new, owned pidfd in `pidfd`.
            let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
            Ok((pid as i32, pidfd))
        }
    }
}

/// The clone child: move the descriptors into place and exec init. Async-signal-safe only.
fn exec_child(plan: &ExecPlan) -> ! {
    for &(src, dst) in &plan.dups {
        // SAFETY: dup2 on descriptors inherited from the parent; async-signal-safe. Sources are
        // >= 10 and targets 0-5, so no source is overwritten before it is used.
        if unsafe { libc::dup2(src, dst) } < 0 {
            child_fail(plan, b"dup2");
        }
    }
    // SAFETY: exe, argv and envp point to C strings and NULL-terminated arrays built before the
    // clone and still alive in this copy of the address space.
    unsafe { libc::execve(plan.exe.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr()) };
    child_fail(plan, b"execve init_exe");
}

/// Reports `what` and errno on the status pipe without allocating, then exits.
fn child_fail(plan: &ExecPlan, what: &[u8]) -> ! {
    let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let mut buf = [0u8; 96];
    let mut len = 0;
    for part in [
        b"error: spawn: ".as_slice(),
        what,
        b" failed: errno ".as_slice(),
    ] {
        for &b in part {
            if len < buf.len() {
                buf[len] = b;
                len += 1;
            }
        }
    }
    let mut digits = [0u8; 12];
    let mut n = errno.unsigned_abs();
    let mut d = digits.len();
    loop {
        d -= 1;
        digits[d] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || d == 0 {
            break;
        }
    }
    for &b in &digits[d..] {
        if len < buf.len() {
            buf[len] = b;
            len += 1;
        }
    }
    // SAFETY: write and _exit are async-signal-safe; `buf[..len]` is initialised.
    unsafe {
        libc::write(plan.status_src, buf.as_ptr().cast(), len);
        libc::_exit(127)
    }
}
