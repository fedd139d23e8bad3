//! Init side: drop from root to the unprivileged sandbox user for good.
//!
//! Order matters: the bounding set can only be changed while we still hold CAP_SETPCAP, and the
//! ids are changed last so that every earlier step still has the privilege it needs.

use std::fs;

use crate::init::{InitError, StepExt};
use crate::sys;

/// Open-file limit of the runtime (Lambda: 1024).
pub(crate) const NOFILE_LIMIT: u64 = 1024;

/// Highest capability number the kernel knows (falls back to 63, the bounding-set width).
fn last_cap() -> u32 {
    fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(63)
}

/// Drops every privilege: bounding set, ambient set, supplementary groups, gid, uid (which clears
/// the permitted and effective sets), inheritable set, then `no_new_privs` so nothing exec'd later
/// can regain any, and non-dumpable so processes of the same uid cannot ptrace or read init.
pub(crate) fn drop_privileges(uid: u32, gid: u32) -> Result<(), InitError> {
    sys::set_nofile_limit(NOFILE_LIMIT).step("setrlimit(RLIMIT_NOFILE)")?;
    for cap in 0..=last_cap() {
        match sys::capbset_drop(cap) {
            Ok(()) => {}
            // Capabilities beyond what the kernel supports.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            Err(e) => {
                return Err(InitError::new(
                    format!("drop capability {cap} from bounding set"),
                    e,
                ));
            }
        }
    }
    sys::clear_ambient_caps().step("clear ambient capabilities")?;
    sys::clear_groups().step("setgroups(0)")?;
    sys::setresgid(gid).step(format!("setresgid({gid})"))?;
    sys::setresuid(uid).step(format!("setresuid({uid})"))?;
    sys::clear_capabilities().step("capset(0)")?;
    sys::set_no_new_privs().step("PR_SET_NO_NEW_PRIVS")?;
    sys::set_dumpable(false).step("PR_SET_DUMPABLE")?;

    // Belt and braces: verify that the drop really happened before running untrusted code.
    let (uids, gids) = sys::current_ids();
    if uids != [uid; 3] || gids != [gid; 3] {
        return Err(InitError::new(
            "verify ids",
            std::io::Error::other(format!("ids are {uids:?}/{gids:?} after drop")),
        ));
    }
    if sys::setresuid(0).is_ok() {
        return Err(InitError::new(
            "verify ids",
            std::io::Error::other("could regain uid 0"),
        ));
    }
    Ok(())
}
