//! The seccomp filters installed in init (and inherited by the runtime).
//!
//! Default-allow with a deny list: a Lambda function may run arbitrary native code, so an allow
//! list would break real workloads, while the dangerous kernel interfaces are a short list. The
//! deny list blocks (with EPERM) what could escape or widen the sandbox even for an unprivileged
//! process: mount/namespace manipulation, ptrace and cross-process memory access, kernel keyring,
//! BPF, perf, userfaultfd, io_uring (a large, frequently exploited surface), module loading, etc.
//!
//! Three stacked filters are used because seccompiler supports one match action per filter:
//! 1. EPERM for the deny list, and for `clone` with any `CLONE_NEW*` flag;
//! 2. ENOSYS for `clone3`, whose flags live in memory that seccomp cannot inspect; glibc then
//!    falls back to `clone`, which filter 1 can check;
//! 3. (x86_64) ENOSYS for the x32 ABI (syscall numbers with bit 30 set), which would otherwise
//!    reach the same kernel entry points under numbers the deny list does not mention.
//!
//! Calls from other architectures (e.g. `int 0x80` i386 calls) fail the architecture check that
//! seccompiler puts at the head of every filter and kill the process.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// System calls that always fail with EPERM inside the sandbox. Calls that are harmless
/// without capabilities and used read-only by ordinary programs (`adjtimex` with no modes,
/// `name_to_handle_at`) stay allowed.
pub(crate) fn denied_syscalls() -> Vec<i64> {
    let mut v = vec![
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        libc::SYS_mount_setattr,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_userfaultfd,
        libc::SYS_open_by_handle_at,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_syslog,
        libc::SYS_acct,
        libc::SYS_quotactl,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_vhangup,
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([
        libc::SYS_iopl,
        libc::SYS_ioperm,
        libc::SYS_modify_ldt,
        libc::SYS_uselib,
    ]);
    v
}

/// Namespace-creating clone flags (CLONE_NEWTIME is omitted: in `clone`, bit 0x80 belongs to
/// the exit-signal byte, and new time namespaces can only be made with unshare/clone3 anyway).
pub(crate) const CLONE_NEW_FLAGS: [libc::c_int; 7] = [
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWCGROUP,
];

fn target_arch() -> Result<TargetArch, seccompiler::BackendError> {
    std::env::consts::ARCH.try_into()
}

/// Filter 1: EPERM for the deny list and for namespace-creating `clone` calls.
fn deny_filter() -> Result<BpfProgram, seccompiler::Error> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = denied_syscalls()
        .into_iter()
        .map(|nr| (nr, Vec::new()))
        .collect();
    let mut clone_rules = Vec::new();
    for flag in CLONE_NEW_FLAGS {
        let flag = flag as u64;
        let cond = SeccompCondition::new(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::MaskedEq(flag),
            flag,
        )?;
        clone_rules.push(SeccompRule::new(vec![cond])?);
    }
    rules.insert(libc::SYS_clone, clone_rules);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        target_arch()?,
    )?;
    Ok(filter.try_into()?)
}

/// Filter 2: ENOSYS for `clone3`.
fn clone3_filter() -> Result<BpfProgram, seccompiler::Error> {
    let rules = BTreeMap::from([(libc::SYS_clone3, Vec::new())]);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        target_arch()?,
    )?;
    Ok(filter.try_into()?)
}

/// Filter 3 (x86_64): ENOSYS for every x32 system call. Hand-written because seccompiler only
/// matches exact syscall numbers. The architecture is already checked by filters 1 and 2.
#[cfg(target_arch = "x86_64")]
fn x32_filter() -> BpfProgram {
    use seccompiler::sock_filter;
    // BPF_LD | BPF_W | BPF_ABS = 0x00 | 0x00 | 0x20.
    const BPF_LD_W_ABS: u16 = 0x20;
    const BPF_JMP_JGE_K: u16 = 0x05 | 0x30;
    const BPF_RET_K: u16 = 0x06;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    const SECCOMP_DATA_NR_OFFSET: u32 = 0;
    vec![
        sock_filter {
            code: BPF_LD_W_ABS,
            jt: 0,
            jf: 0,
            k: SECCOMP_DATA_NR_OFFSET,
        },
        sock_filter {
            code: BPF_JMP_JGE_K,
            jt: 0,
            jf: 1,
            k: X32_SYSCALL_BIT,
        },
        sock_filter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        },
        sock_filter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        },
    ]
}

/// All filters, in installation order.
pub(crate) fn build_filters() -> Result<Vec<BpfProgram>, seccompiler::Error> {
    #[allow(unused_mut)]
    let mut filters = vec![deny_filter()?, clone3_filter()?];
    #[cfg(target_arch = "x86_64")]
    filters.push(x32_filter());
    Ok(filters)
}

/// Installs the filters on the calling (single) thread; they are inherited by every child and
/// survive execve. Requires `no_new_privs` (set by the privilege drop; seccompiler sets it too).
pub(crate) fn install(filters: &[BpfProgram]) -> Result<(), seccompiler::Error> {
    for f in filters {
        seccompiler::apply_filter(f)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compile() {
        let filters = build_filters().expect("filters compile");
        assert_eq!(
            filters.len(),
            if cfg!(target_arch = "x86_64") { 3 } else { 2 }
        );
        for f in &filters {
            assert!(!f.is_empty());
            // A classic BPF program may hold at most 4096 instructions.
            assert!(f.len() < 4096, "filter too long: {}", f.len());
        }
        // Every denied syscall and each CLONE_NEW* flag appears in filter 1.
        let deny = &filters[0];
        for nr in denied_syscalls() {
            assert!(
                deny.iter().any(|i| i.k == nr as u32),
                "syscall {nr} missing"
            );
        }
        for flag in CLONE_NEW_FLAGS {
            assert!(
                deny.iter().any(|i| i.k == flag as u32),
                "clone flag {flag:#x} missing"
            );
        }
    }

    #[test]
    fn deny_list_has_no_duplicates_and_no_essentials() {
        let list = denied_syscalls();
        let mut sorted = list.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), list.len());
        for essential in [
            libc::SYS_clone,
            libc::SYS_execve,
            libc::SYS_read,
            libc::SYS_mmap,
            libc::SYS_wait4,
        ] {
            assert!(!list.contains(&essential));
        }
    }
}
