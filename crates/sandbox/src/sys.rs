//! Thin, safe wrappers around the raw Linux system calls the sandbox needs.
//!
//! Keeping every `unsafe` libc call in one place (apart from the post-`clone3` child in
//! `spawn.rs`, which must not allocate) makes the privileged surface easy to audit: each wrapper
//! validates its inputs through Rust types (`&CStr`, `BorrowedFd`, ...) so the unsafe call only
//! ever sees valid pointers and descriptors.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

/// Converts a `-1 = error` libc return value into an `io::Result`.
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Same as [`cvt`] for the `long` returned by `syscall(2)`.
fn cvt_long(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Builds a C string, rejecting interior NUL bytes with `EINVAL` instead of panicking.
pub(crate) fn cstring(s: impl AsRef<OsStr>) -> io::Result<CString> {
    CString::new(s.as_ref().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// `mount(2)`.
pub(crate) fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let ptr = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is either NULL (allowed by mount(2) for source, fstype and data) or
    // points to a NUL-terminated string that outlives the call.
    let ret = unsafe {
        libc::mount(
            ptr(source),
            target.as_ptr(),
            ptr(fstype),
            flags,
            ptr(data).cast(),
        )
    };
    cvt(ret).map(drop)
}

/// `umount2(2)`.
pub(crate) fn umount2(target: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: `target` is a valid NUL-terminated string.
    cvt(unsafe { libc::umount2(target.as_ptr(), flags) }).map(drop)
}

/// `pivot_root(2)` (no glibc wrapper).
pub(crate) fn pivot_root(new_root: &CStr, put_old: &CStr) -> io::Result<()> {
    // SAFETY: both arguments are valid NUL-terminated strings.
    let ret = unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) };
    cvt_long(ret).map(drop)
}

/// `struct mount_attr` from <linux/mount.h>, defined here so we do not depend on libc exposing it.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

pub(crate) const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub(crate) const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub(crate) const MOUNT_ATTR_NODEV: u64 = 0x4;

/// `mount_setattr(path, AT_RECURSIVE)`: applies mount flags to a whole mount subtree in one call
/// (a plain `MS_REMOUNT` only touches the top mount and would leave submounts writable).
pub(crate) fn mount_setattr_recursive(path: &CStr, set: u64) -> io::Result<()> {
    mount_setattr(
        libc::AT_FDCWD,
        path,
        libc::AT_RECURSIVE as libc::c_uint,
        set,
    )
}

/// `mount_setattr(2)` setting `set` on the mount tree at `dirfd`/`path`.
fn mount_setattr(dirfd: RawFd, path: &CStr, flags: libc::c_uint, set: u64) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `path` is a valid C string and `dirfd` a descriptor (or AT_FDCWD) for the duration
    // of the call; `attr` is a correctly laid out `struct mount_attr` that lives for the call,
    // and its size is passed alongside.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    cvt_long(ret).map(drop)
}

/// `sethostname(2)` for the UTS namespace.
pub(crate) fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer/length pair describes the bytes of `name`, which outlive the call.
    cvt(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// `setgroups(0, NULL)`: drops every supplementary group.
pub(crate) fn clear_groups() -> io::Result<()> {
    // SAFETY: a zero-length list with a NULL pointer is the documented way to clear the list.
    cvt(unsafe { libc::setgroups(0, std::ptr::null()) }).map(drop)
}

/// `setresgid(2)` with the same id for real, effective and saved.
pub(crate) fn setresgid(gid: u32) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::setresgid(gid, gid, gid) }).map(drop)
}

/// `setresuid(2)` with the same id for real, effective and saved. Leaving uid 0 this way clears
/// the permitted, effective and ambient capability sets.
pub(crate) fn setresuid(uid: u32) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::setresuid(uid, uid, uid) }).map(drop)
}

/// `prctl(2)` with integer arguments only.
fn prctl(option: libc::c_int, arg2: libc::c_ulong) -> io::Result<libc::c_int> {
    // SAFETY: the options used in this crate take only integer arguments; unused ones are 0.
    cvt(unsafe {
        libc::prctl(
            option,
            arg2,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    })
}

/// Removes one capability from the bounding set (`PR_CAPBSET_DROP`).
pub(crate) fn capbset_drop(cap: u32) -> io::Result<()> {
    prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap)).map(drop)
}

/// Clears the ambient capability set.
pub(crate) fn clear_ambient_caps() -> io::Result<()> {
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes only integer arguments.
    let ret = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    cvt(ret).map(drop)
}

/// `PR_SET_NO_NEW_PRIVS`: execve can never grant privileges again (setuid bits, file caps).
pub(crate) fn set_no_new_privs() -> io::Result<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1).map(drop)
}

/// `PR_SET_DUMPABLE`: a non-dumpable process cannot be ptraced or have its /proc files read by
/// same-uid processes.
pub(crate) fn set_dumpable(on: bool) -> io::Result<()> {
    prctl(libc::PR_SET_DUMPABLE, libc::c_ulong::from(on)).map(drop)
}

/// `PR_GET_SECCOMP`: 0 = no filter, 2 = filter mode.
pub(crate) fn seccomp_mode() -> io::Result<i32> {
    prctl(libc::PR_GET_SECCOMP, 0)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Sets the effective, permitted and inheritable capability sets to empty (`capset(2)`).
pub(crate) fn clear_capabilities() -> io::Result<()> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: version 3 expects a header and an array of two data structs, which is exactly what
    // we pass; both live for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    cvt_long(ret).map(drop)
}

/// Lowers `RLIMIT_NOFILE` (soft and hard).
pub(crate) fn set_nofile_limit(limit: u64) -> io::Result<()> {
    let rl = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: `rl` is a valid rlimit struct that outlives the call.
    cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) }).map(drop)
}

/// Closes every descriptor from `first` upwards (`close_range(2)`).
pub(crate) fn close_fds_from(first: u32) -> io::Result<()> {
    // SAFETY: closing descriptors is memory-safe; the caller owns no Rust objects for them
    // (called at the very start of init, before any are created).
    cvt(unsafe { libc::close_range(first, u32::MAX, 0) }).map(drop)
}

/// Sets or clears `FD_CLOEXEC`.
pub(crate) fn set_cloexec(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let flag = if on { libc::FD_CLOEXEC } else { 0 };
    // SAFETY: `fd` is a valid open descriptor for the duration of the borrow.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flag) }).map(drop)
}

/// Duplicates `fd` to the lowest free descriptor `>= min`, with `FD_CLOEXEC`.
pub(crate) fn dup_at_least(fd: BorrowedFd<'_>, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a valid descriptor returns a new descriptor that we own.
    let new = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) })?;
    // SAFETY: `new` was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// `pipe2(O_CLOEXEC)`: returns (read end, write end).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both descriptors were just created and are exclusively ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `memfd_create(MFD_CLOEXEC | MFD_ALLOW_SEALING)`.
pub(crate) fn memfd(name: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: `name` is a valid C string.
    let fd = cvt(unsafe {
        libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
    })?;
    // SAFETY: freshly created descriptor owned by us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Seals a memfd against any further modification.
pub(crate) fn seal_memfd(fd: BorrowedFd<'_>) -> io::Result<()> {
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: F_ADD_SEALS on a valid memfd with an integer argument.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) }).map(drop)
}

/// Opens a path with `O_PATH | O_CLOEXEC` (a handle usable as a bind-mount source).
pub(crate) fn open_path(path: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: `path` is a valid C string; O_PATH does not need a mode argument.
    let fd = cvt(unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) })?;
    // SAFETY: freshly opened descriptor owned by us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens a directory read-only (`O_DIRECTORY | O_CLOEXEC`).
pub(crate) fn open_dir(path: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: `path` is a valid C string.
    let fd = cvt(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: freshly opened descriptor owned by us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setns(2)`.
pub(crate) fn setns(fd: BorrowedFd<'_>, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: `fd` is a valid namespace descriptor for the duration of the call.
    cvt(unsafe { libc::setns(fd.as_raw_fd(), nstype) }).map(drop)
}

/// `pidfd_send_signal(2)`: signals exactly the process the pidfd refers to (no pid-reuse race).
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: valid pidfd; a NULL siginfo is allowed; flags must be 0.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0 as libc::c_uint,
        )
    };
    cvt_long(ret).map(drop)
}

/// `kill(2)`.
pub(crate) fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// How a reaped process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reaped {
    Exited(i32),
    Signaled(i32),
}

/// `waitid(P_PIDFD, WEXITED)`: reaps the process behind `pidfd`. With `nohang`, returns `None`
/// while it is still running.
pub(crate) fn waitid_pidfd(pidfd: BorrowedFd<'_>, nohang: bool) -> io::Result<Option<Reaped>> {
    let flags = libc::WEXITED | if nohang { libc::WNOHANG } else { 0 };
    loop {
        // SAFETY: siginfo_t is plain old data; all-zero is a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, writable siginfo_t; the id is a valid pidfd.
        let ret = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                flags,
            )
        };
        if ret == -1 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        // SAFETY: after a successful waitid the kernel filled `info` for a SIGCHLD-type event
        // (or left it zeroed under WNOHANG when nothing changed), so these union reads are valid.
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        if pid == 0 {
            return Ok(None);
        }
        return Ok(Some(match info.si_code {
            libc::CLD_EXITED => Reaped::Exited(status),
            _ => Reaped::Signaled(status),
        }));
    }
}

/// `waitpid(-1, WNOHANG)`: reaps any one child. Returns `(pid, status)` or `None` if no child has
/// changed state (or there are no children).
pub(crate) fn reap_any() -> Option<(libc::pid_t, Reaped)> {
    let mut status: libc::c_int = 0;
    // SAFETY: `status` is a valid out-pointer.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    if pid <= 0 {
        return None;
    }
    let reaped = if libc::WIFEXITED(status) {
        Reaped::Exited(libc::WEXITSTATUS(status))
    } else {
        Reaped::Signaled(libc::WTERMSIG(status))
    };
    Some((pid, reaped))
}

/// A signal set containing exactly `signals`.
fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain old data; sigemptyset initialises it before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; the signal numbers are valid constants.
    unsafe {
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
    }
    set
}

/// Blocks every signal in the calling thread and returns the previous mask. Used around
/// `clone3` so that no host signal handler can run in the child before it execs.
pub(crate) fn block_all_signals() -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain old data; sigfillset initialises it.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `all` is a valid sigset_t.
    unsafe { libc::sigfillset(&mut all) };
    // SAFETY: as above; `old` receives the previous mask.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid sigset_t structs.
    let ret = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    Ok(old)
}

/// Restores a mask returned by [`block_all_signals`].
pub(crate) fn restore_signal_mask(old: &libc::sigset_t) {
    // SAFETY: `old` is a valid sigset_t obtained from pthread_sigmask.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) };
}

/// Replaces the calling thread's signal mask.
pub(crate) fn set_signal_mask(blocked: &[libc::c_int]) -> io::Result<()> {
    let set = sigset(blocked);
    // SAFETY: `set` is an initialised sigset_t; the old mask is not requested.
    let ret = unsafe { libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) };
    cvt(ret).map(drop)
}

/// Resets every catchable signal to its default disposition (an exec keeps SIG_IGN, and the Rust
/// runtime ignores SIGPIPE, which the runtime process must not inherit).
pub(crate) fn reset_signal_dispositions() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL is always sound; failures (invalid/reserved signal numbers)
        // are harmless and ignored.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
}

/// A non-blocking signalfd for SIGCHLD (the caller blocks SIGCHLD first).
pub(crate) fn sigchld_fd() -> io::Result<OwnedFd> {
    let set = sigset(&[libc::SIGCHLD]);
    // SAFETY: -1 asks for a new signalfd; `set` is initialised.
    let fd = cvt(unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
    // SAFETY: freshly created descriptor owned by us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Drains a non-blocking descriptor (used for the signalfd).
pub(crate) fn drain(fd: BorrowedFd<'_>) {
    let mut buf = [0u8; 512];
    loop {
        // SAFETY: `buf` is writable for its full length.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
    }
}

/// `poll(2)` on a few descriptors; returns the revents per descriptor. EINTR is reported as "no
/// events" so callers simply loop.
pub(crate) fn poll(
    fds: &[BorrowedFd<'_>],
    events: libc::c_short,
    timeout_ms: i32,
) -> io::Result<Vec<libc::c_short>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events,
            revents: 0,
        })
        .collect();
    // SAFETY: `pfds` is a valid array of `pfds.len()` pollfd structs.
    let ret = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if ret == -1 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![0; pfds.len()]);
        }
        return Err(err);
    }
    Ok(pfds.iter().map(|p| p.revents).collect())
}

/// Outcome of [`fork`].
pub(crate) enum Forked {
    Parent(libc::pid_t),
    Child,
}

/// `fork(2)`. Only called from the single-threaded init, where fork is unrestricted.
pub(crate) fn fork() -> io::Result<Forked> {
    // SAFETY: init is single-threaded, so the child gets a consistent copy of the whole process.
    let pid = cvt(unsafe { libc::fork() })?;
    Ok(if pid == 0 {
        Forked::Child
    } else {
        Forked::Parent(pid)
    })
}

/// `execve(2)`; only returns on failure.
pub(crate) fn execve(
    path: &CStr,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) -> io::Error {
    debug_assert!(argv.last().is_some_and(|p| p.is_null()));
    debug_assert!(envp.last().is_some_and(|p| p.is_null()));
    // SAFETY: `path` is a valid C string; argv/envp are NULL-terminated arrays of pointers to C
    // strings owned by the caller, alive for the duration of the call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// `_exit(2)`: leaves immediately without running atexit handlers or destructors (used in a
/// forked child, where the parent's buffered state must not be flushed twice).
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is always safe to call and never returns.
    unsafe { libc::_exit(code) }
}

/// `umask(2)`.
pub(crate) fn set_umask(mask: libc::mode_t) {
    // SAFETY: umask cannot fail.
    unsafe {
        libc::umask(mask);
    }
}

/// `getpid(2)`.
pub(crate) fn getpid() -> libc::pid_t {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

/// `geteuid(2)`.
pub(crate) fn geteuid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// `getresuid(2)`/`getresgid(2)` as one tuple, used to verify the privilege drop.
pub(crate) fn current_ids() -> ([u32; 3], [u32; 3]) {
    let (mut ru, mut eu, mut su) = (0, 0, 0);
    let (mut rg, mut eg, mut sg) = (0, 0, 0);
    // SAFETY: all six are valid out-pointers; the calls cannot fail with valid pointers.
    unsafe {
        libc::getresuid(&mut ru, &mut eu, &mut su);
        libc::getresgid(&mut rg, &mut eg, &mut sg);
    }
    ([ru, eu, su], [rg, eg, sg])
}

/// Writes all of `buf` to a raw descriptor (retrying on EINTR / short writes).
pub(crate) fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is readable for its full length; `fd` is valid for the borrow.
        let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// Reads from a raw descriptor into `buf` (retrying on EINTR); `Ok(0)` is end of file.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is writable for its full length; `fd` is valid for the borrow.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        return Ok(n as usize);
    }
}

/// Takes ownership of a descriptor number inherited across exec (init's fixed fds 3-5).
///
/// # Safety
/// The caller must guarantee that `fd` is open and not owned by any other object.
pub(crate) unsafe fn owned_from_raw(fd: RawFd) -> OwnedFd {
    // SAFETY: forwarded to the caller's contract.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC)`: a message-preserving channel that can
/// carry descriptors, and whose `read` returns 0 once the other end is closed (a lifeline).
pub(crate) fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: both descriptors were just created and are exclusively ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Most descriptors one control message carries.
pub(crate) const MAX_PASSED_FDS: usize = 4;

/// Sends one message with up to [`MAX_PASSED_FDS`] descriptors (`SCM_RIGHTS`).
pub(crate) fn send_with_fds(
    socket: BorrowedFd<'_>,
    data: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    if fds.len() > MAX_PASSED_FDS {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let raw: Vec<RawFd> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
    let fd_bytes = std::mem::size_of_val(raw.as_slice()) as u32;
    // u64 elements keep the control buffer aligned for `cmsghdr`.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: an all-zero msghdr is a valid empty header; every pointer set below outlives the
    // sendmsg call, and CMSG_SPACE(fd_bytes) fits in `control` (64 bytes ≥ 16 + 4 × 4).
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !raw.is_empty() {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(fd_bytes) as usize;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes) as usize;
            std::ptr::copy_nonoverlapping(
                raw.as_ptr(),
                libc::CMSG_DATA(cmsg).cast::<RawFd>(),
                raw.len(),
            );
        }
        let sent = libc::sendmsg(socket.as_raw_fd(), &msg, libc::MSG_NOSIGNAL);
        if sent == -1 {
            return Err(io::Error::last_os_error());
        }
        if sent as usize != data.len() {
            return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
        }
    }
    Ok(())
}

/// Receives one message into `buf` with the descriptors it carried (close-on-exec). Returns
/// `(0, [])` once the peer has closed its end.
pub(crate) fn recv_with_fds(
    socket: BorrowedFd<'_>,
    buf: &mut [u8],
) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut fds = Vec::new();
    // SAFETY: the msghdr points at `iov` and `control`, both live and writable for the call;
    // the kernel fills at most `msg_controllen` bytes; CMSG_* walk only within that buffer, and
    // each received descriptor is new and owned by this process (MSG_CMSG_CLOEXEC).
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        let n = libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n == -1 {
            return Err(io::Error::last_os_error());
        }
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let payload = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let count = payload / std::mem::size_of::<RawFd>();
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        if msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 {
            return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
        }
        Ok((n as usize, fds))
    }
}

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// `open_tree(OPEN_TREE_CLONE | AT_RECURSIVE)` then `mount_setattr` on the result: a detached,
/// recursive copy of the mount tree at `path` with `set` applied (e.g. read-only), which can be
/// handed to another mount namespace and attached there with [`move_mount_fd`].
pub(crate) fn detached_tree(path: &CStr, set: u64) -> io::Result<OwnedFd> {
    let flags =
        OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | libc::AT_RECURSIVE as libc::c_uint;
    // SAFETY: `path` is a valid C string for the duration of the call.
    let fd = cvt_long(unsafe {
        libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags)
    })?;
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let flags = (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint;
    // The empty path with AT_EMPTY_PATH names `tree` itself.
    mount_setattr(tree.as_raw_fd(), c"", flags, set)?;
    Ok(tree)
}

/// `move_mount(tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH)`: attaches a detached mount
/// tree (from [`detached_tree`], possibly made in another mount namespace) at `target`.
pub(crate) fn move_mount_fd(tree: BorrowedFd<'_>, target: &CStr) -> io::Result<()> {
    // SAFETY: `tree` is a valid descriptor and both strings are valid for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    cvt_long(ret).map(drop)
}
