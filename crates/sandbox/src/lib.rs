//! `lambent-sandbox`: the only privileged part of Lambent.
//!
//! Runs one Lambda runtime process in a sandbox built from Linux primitives:
//!
//! * new mount, PID, IPC, UTS and network namespaces (`clone3`);
//! * a read-only root on a tmpfs with the host's `/usr`, a generated minimal `/etc`, the code at
//!   `/var/task`, a size-limited `/tmp`, a fresh `/proc` and a minimal `/dev` (`pivot_root`);
//! * an unprivileged uid/gid with no capabilities, `no_new_privs` and a seccomp filter;
//! * cgroup limits for memory, CPU and processes, freezing and OOM accounting (v1 or v2);
//! * no network except listeners the host binds inside the sandbox's namespace
//!   ([`PreparedSandbox::bind_tcp`]).
//!
//! Life cycle: [`PreparedSandbox::create`] → [`PreparedSandbox::bind_tcp`] →
//! [`PreparedSandbox::start`] → [`Sandbox`] (`wait`, `freeze`, `thaw`, `kill`). Dropping either
//! stage kills everything and removes the cgroups. The binary named in
//! [`SandboxSpec::init_exe`] must call [`run_init_if_requested`] first thing in `main`.
//!
//! See `THREAT_MODEL.md` for what each layer defends against.

mod cgroup;
mod error;
mod host;
mod init;
mod mounts;
mod netns;
mod privs;
mod protocol;
mod sandbox;
mod seccomp;
mod spawn;
mod spec;
mod sys;

pub use cgroup::{CgroupVersion, MB_PER_VCPU, detect_version};
pub use error::SandboxError;
pub use host::{HostCapabilities, HostSetup, host_setup, host_teardown, probe_host};
pub use init::run_init_if_requested;
pub use protocol::INIT_MARKER;
pub use sandbox::{PreparedSandbox, Sandbox, SandboxExit};
pub use spec::{SANDBOX_HOSTNAME, SandboxSpec};
