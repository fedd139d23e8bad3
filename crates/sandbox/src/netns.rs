//! Network namespace helpers: bringing `lo` up and the listener-in-netns technique.
//!
//! A sandbox has its own network namespace containing only `lo`, so it can reach nothing on the
//! host. To serve it the Runtime API, the host creates the listening socket *inside* that
//! namespace: a short-lived thread `setns`es into it, binds, and hands the socket back. A socket
//! keeps the namespace it was created in, so the host can accept on it from any thread, while the
//! sandbox still has no route to anything else.

use std::fs::File;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use crate::error::SandboxError;
use crate::sys;

/// `struct ifreq` restricted to the name and the flags member of its union; padded to the
/// kernel's 40 bytes.
#[repr(C)]
struct IfreqFlags {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Sets `IFF_UP` on `lo` in the calling thread's network namespace (idempotent).
pub(crate) fn loopback_up() -> io::Result<()> {
    // SAFETY: creating a socket has no memory-safety preconditions.
    let raw =
        sys::cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `raw` is a freshly created descriptor that we own.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut req = IfreqFlags {
        name: [0; libc::IFNAMSIZ],
        flags: 0,
        _pad: [0; 22],
    };
    for (dst, src) in req.name.iter_mut().zip(b"lo") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name and writes the flags of a correctly sized ifreq.
    sys::cvt(unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCGIFFLAGS,
            &mut req as *mut IfreqFlags,
        )
    })?;
    if req.flags & libc::IFF_UP as libc::c_short != 0 {
        return Ok(());
    }
    req.flags |= libc::IFF_UP as libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads a correctly sized ifreq with the name and new flags.
    sys::cvt(unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCSIFFLAGS,
            &req as *const IfreqFlags,
        )
    })?;
    Ok(())
}

/// Binds a TCP listener at `addr` inside the network namespace of `pid`.
///
/// `pid` must be an unreaped child of ours (held by its pidfd), so the number cannot have been
/// reused by another process.
pub(crate) fn bind_tcp_in(pid: i32, addr: SocketAddr) -> Result<TcpListener, SandboxError> {
    let ns = File::open(format!("/proc/{pid}/ns/net"))
        .map_err(|e| SandboxError::os("open sandbox netns", e))?;
    // setns affects only the calling thread, so a throwaway thread does the work and the
    // caller's (possibly tokio worker) thread never changes namespace.
    let handle = std::thread::Builder::new()
        .name("lambent-netns".into())
        .spawn(move || -> Result<TcpListener, SandboxError> {
            sys::setns(ns.as_fd(), libc::CLONE_NEWNET)
                .map_err(|e| SandboxError::os("setns(net)", e))?;
            loopback_up().map_err(|e| SandboxError::os("bring lo up", e))?;
            TcpListener::bind(addr).map_err(|e| SandboxError::os("bind in sandbox netns", e))
        })
        .map_err(|e| SandboxError::os("spawn netns thread", e))?;
    handle
        .join()
        .map_err(|_| SandboxError::os("netns thread", io::Error::other("thread panicked")))?
}
