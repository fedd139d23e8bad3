//! Init side: build the sandbox's root filesystem and switch to it.
//!
//! The new root is a small tmpfs holding only what a runtime needs: the host's `/usr`
//! (read-only; on merged-/usr hosts `/bin`, `/lib`, ... are symlinks into it), a generated
//! minimal `/etc`, the function code at `/var/task`, a size-limited `/tmp`, a fresh `/proc` for
//! the new PID namespace and a `/dev` with a handful of harmless devices. Everything except
//! `/tmp` is read-only and nothing is setuid-capable (`nosuid` everywhere).

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, symlink};
use std::path::{Path, PathBuf};

use crate::init::{InitError, StepExt};
use crate::spec::InitConfig;
use crate::sys;

/// Where the new root tmpfs is assembled before `pivot_root`. The mount is only visible in the
/// sandbox's private mount namespace; bind sources are opened as `O_PATH` descriptors first, so
/// it does not matter that this mount hides the host's `/tmp` (where code dirs may live).
const STAGING: &str = "/tmp";

/// Symlinks or directories at the top of the host root that point into `/usr` on merged-/usr
/// systems and must exist for ELF interpreters (`/lib64/ld-linux-x86-64.so.2`) and shebangs.
const TOP_LEVEL_LIB_DIRS: [&str; 6] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// Host `/etc` files copied into the sandbox when present (copies, not binds: the sandbox gets a
/// snapshot and no handle on the host files).
const ETC_COPIES: [&str; 4] = ["ld.so.cache", "resolv.conf", "protocols", "services"];

/// Host `/etc` directories bind-mounted read-only when present: CA certificates for TLS and the
/// Debian alternatives symlinks (e.g. `java`).
const ETC_DIR_BINDS: [&str; 3] = ["ssl", "ca-certificates", "alternatives"];

/// Device nodes bound from the host's `/dev`.
const DEVICES: [&str; 5] = ["null", "zero", "full", "random", "urandom"];

fn c(path: impl AsRef<Path>) -> Result<CString, InitError> {
    let path = path.as_ref();
    sys::cstring(path).step(format!("path {}", path.display()))
}

fn mount_fs(
    fstype: &str,
    target: &Path,
    flags: libc::c_ulong,
    data: &str,
) -> Result<(), InitError> {
    let (src, ty, tgt, data_c) = (c(fstype)?, c(fstype)?, c(target)?, c(data)?);
    sys::mount(Some(&src), &tgt, Some(&ty), flags, Some(&data_c))
        .step(format!("mount {fstype} on {}", target.display()))
}

fn bind(src: &Path, dst: &Path, recursive: bool) -> Result<(), InitError> {
    let flags = libc::MS_BIND | if recursive { libc::MS_REC } else { 0 };
    sys::mount(Some(&c(src)?), &c(dst)?, None, flags, None).step(format!(
        "bind {} on {}",
        src.display(),
        dst.display()
    ))
}

fn remount(dst: &Path, flags: libc::c_ulong) -> Result<(), InitError> {
    sys::mount(
        None,
        &c(dst)?,
        None,
        libc::MS_REMOUNT | libc::MS_BIND | flags,
        None,
    )
    .step(format!("remount {}", dst.display()))
}

/// A read-only, nosuid, nodev recursive bind. A single `MS_BIND | MS_RDONLY` would silently stay
/// writable, and a plain remount only affects the top mount, so this uses
/// `mount_setattr(AT_RECURSIVE)` (falling back to a remount on kernels before 5.12).
fn bind_ro(src: &Path, dst: &Path) -> Result<(), InitError> {
    bind(src, dst, true)?;
    let attrs = sys::MOUNT_ATTR_RDONLY | sys::MOUNT_ATTR_NOSUID | sys::MOUNT_ATTR_NODEV;
    match sys::mount_setattr_recursive(&c(dst)?, attrs) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            remount(dst, libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV)
        }
        Err(e) => Err(InitError::new(
            format!("make {} read-only", dst.display()),
            e,
        )),
    }
}

fn mkdir(path: &Path) -> Result<(), InitError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .step(format!("mkdir {}", path.display()))
}

fn write_file(path: &Path, content: &[u8]) -> Result<(), InitError> {
    fs::write(path, content).step(format!("write {}", path.display()))
}

/// Opens a bind source as an `O_PATH` descriptor.
fn open_source(path: &Path) -> Result<OwnedFd, InitError> {
    sys::open_path(&c(path)?).step(format!("open {}", path.display()))
}

/// The magic-link path under which a descriptor can be used as a mount source.
fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// `/etc/passwd`: root plus Lambda's `sbx_user1051` for the runtime uid. Generated rather than
/// copied so no host account names leak into the sandbox.
pub(crate) fn passwd_content(uid: u32, gid: u32) -> String {
    format!(
        "root:x:0:0:root:/root:/usr/sbin/nologin\nsbx_user1051:x:{uid}:{gid}::/tmp:/usr/sbin/nologin\n"
    )
}

pub(crate) fn group_content(gid: u32) -> String {
    format!("root:x:0:\nsbx_user1051:x:{gid}:\n")
}

pub(crate) fn hosts_content(hostname: &str) -> String {
    format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
    )
}

pub(crate) const NSSWITCH: &str = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n\
networks: files\nprotocols: files\nservices: files\nethers: files\nrpc: files\n";

/// Builds the new root and pivots into it. On return the process's root is the sandbox root,
/// mounted read-only, and the host's tree is unreachable.
pub(crate) fn build_root(cfg: &InitConfig) -> Result<(), InitError> {
    // Nothing we mount may propagate back to the host.
    sys::mount(None, &c("/")?, None, libc::MS_REC | libc::MS_PRIVATE, None)
        .step("make / private")?;

    let code = (!cfg.deferred_code)
        .then(|| open_source(&cfg.code_dir))
        .transpose()?;
    let runtime = cfg.runtime_dir.as_deref().map(open_source).transpose()?;
    let opt = cfg.opt_dir.as_deref().map(open_source).transpose()?;

    let root = PathBuf::from(STAGING);
    mount_fs(
        "tmpfs",
        &root,
        libc::MS_NOSUID | libc::MS_NODEV,
        "mode=0755,size=8m",
    )?;
    for d in [
        "usr",
        "etc",
        "var/task",
        "var/runtime",
        "opt",
        "tmp",
        "proc",
        "dev",
    ] {
        mkdir(&root.join(d))?;
    }

    bind_ro(Path::new("/usr"), &root.join("usr"))?;
    top_level_lib_dirs(&root)?;
    populate_etc(&root.join("etc"), cfg)?;

    if let Some(fd) = &code {
        bind_ro(&fd_path(fd), &root.join("var/task"))?;
    }
    if let Some(fd) = &runtime {
        bind_ro(&fd_path(fd), &root.join("var/runtime"))?;
    }
    if let Some(fd) = &opt {
        bind_ro(&fd_path(fd), &root.join("opt"))?;
    }
    drop((code, runtime, opt));

    mount_fs(
        "tmpfs",
        &root.join("tmp"),
        libc::MS_NOSUID | libc::MS_NODEV,
        &format!("mode=1777,size={}m", cfg.tmp_mb),
    )?;
    // A fresh procfs for the new PID namespace: only the sandbox's own processes are visible.
    mount_fs(
        "proc",
        &root.join("proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        "",
    )?;
    populate_dev(&root.join("dev"))?;

    pivot(&root)?;
    remount(
        Path::new("/"),
        libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
    )?;
    Ok(())
}

/// Recreates `/bin`, `/lib`, ... as on the host: symlinks are copied (they point into `/usr`),
/// real directories (non-merged-/usr hosts) are bound read-only.
fn top_level_lib_dirs(root: &Path) -> Result<(), InitError> {
    for name in TOP_LEVEL_LIB_DIRS {
        let host = Path::new("/").join(name);
        let Ok(meta) = fs::symlink_metadata(&host) else {
            continue;
        };
        let dst = root.join(name);
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&host).step(format!("readlink {}", host.display()))?;
            symlink(&target, &dst).step(format!("symlink {}", dst.display()))?;
        } else if meta.is_dir() {
            mkdir(&dst)?;
            bind_ro(&host, &dst)?;
        }
    }
    Ok(())
}

fn populate_etc(etc: &Path, cfg: &InitConfig) -> Result<(), InitError> {
    write_file(
        &etc.join("passwd"),
        passwd_content(cfg.uid, cfg.gid).as_bytes(),
    )?;
    write_file(&etc.join("group"), group_content(cfg.gid).as_bytes())?;
    write_file(&etc.join("hosts"), hosts_content(&cfg.hostname).as_bytes())?;
    write_file(
        &etc.join("hostname"),
        format!("{}\n", cfg.hostname).as_bytes(),
    )?;
    write_file(&etc.join("nsswitch.conf"), NSSWITCH.as_bytes())?;
    for name in ETC_COPIES {
        if let Ok(bytes) = fs::read(Path::new("/etc").join(name)) {
            write_file(&etc.join(name), &bytes)?;
        }
    }
    let localtime = Path::new("/etc/localtime");
    if let Ok(meta) = fs::symlink_metadata(localtime) {
        if meta.file_type().is_symlink() {
            // Debian: a link into /usr/share/zoneinfo, which the sandbox sees through /usr.
            let target = fs::read_link(localtime).step("readlink /etc/localtime")?;
            symlink(&target, etc.join("localtime")).step("symlink /etc/localtime")?;
        } else if let Ok(bytes) = fs::read(localtime) {
            write_file(&etc.join("localtime"), &bytes)?;
        }
    }
    for name in ETC_DIR_BINDS {
        let host = Path::new("/etc").join(name);
        if host.is_dir() {
            let dst = etc.join(name);
            mkdir(&dst)?;
            bind_ro(&host, &dst)?;
        }
    }
    Ok(())
}

/// A minimal `/dev`: a read-only tmpfs with binds of a few host character devices and the usual
/// `/proc/self/fd` symlinks. No block devices, no ptys, no `/dev/shm` (as in Lambda).
fn populate_dev(dev: &Path) -> Result<(), InitError> {
    mount_fs(
        "tmpfs",
        dev,
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        "mode=0755,size=64k",
    )?;
    for name in DEVICES {
        let dst = dev.join(name);
        fs::File::create(&dst).step(format!("create {}", dst.display()))?;
        bind(&Path::new("/dev").join(name), &dst, false)?;
        // The bind keeps device access (no nodev) but may not carry setuid or exec semantics.
        remount(&dst, libc::MS_NOSUID | libc::MS_NOEXEC)?;
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(target, dev.join(name)).step(format!("symlink /dev/{name}"))?;
    }
    remount(
        dev,
        libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
    )
}

/// `pivot_root(".", ".")` then detach the old root stacked on top: no `put_old` directory needs to
/// exist, and afterwards no path leads back to the host's filesystem.
fn pivot(root: &Path) -> Result<(), InitError> {
    std::env::set_current_dir(root).step("chdir new root")?;
    let dot = c(".")?;
    sys::pivot_root(&dot, &dot).step("pivot_root")?;
    sys::umount2(&dot, libc::MNT_DETACH).step("detach old root")?;
    std::env::set_current_dir("/").step("chdir /")?;
    Ok(())
}

/// Mounts a deferred sandbox's code (detached read-only trees made by the host) at `/var/task`
/// and `/opt`, and resizes `/tmp` to the function's ephemeral storage.
pub(crate) fn attach_code(
    task: &OwnedFd,
    opt: Option<&OwnedFd>,
    tmp_mb: u64,
) -> Result<(), InitError> {
    sys::move_mount_fd(task.as_fd(), &c("/var/task")?).step("attach /var/task")?;
    if let Some(opt) = opt {
        sys::move_mount_fd(opt.as_fd(), &c("/opt")?).step("attach /opt")?;
    }
    sys::mount(
        None,
        &c("/tmp")?,
        None,
        libc::MS_REMOUNT | libc::MS_NOSUID | libc::MS_NODEV,
        Some(&c(format!("mode=1777,size={tmp_mb}m"))?),
    )
    .step("resize /tmp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_etc_files() {
        let p = passwd_content(993, 990);
        assert!(p.contains("sbx_user1051:x:993:990::/tmp:"));
        assert_eq!(p.lines().count(), 2);
        assert_eq!(group_content(990), "root:x:0:\nsbx_user1051:x:990:\n");
        assert!(hosts_content("sandbox").contains("127.0.1.1\tsandbox"));
        assert!(NSSWITCH.contains("hosts: files dns"));
    }
}
