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
//!
//! # Wiring it into the server
//!
//! ```no_run
//! // First thing in `main`, before tokio or any other thread starts: in a sandbox init this
//! // runs the sandbox and exits; in the normal server it returns immediately.
//! lambent_sandbox::run_init_if_requested();
//! // ... then probe_host(), host_setup(), start tokio, serve ...
//! ```
//!
//! ```no_run
//! # async fn demo() -> Result<(), lambent_sandbox::SandboxError> {
//! use lambent_sandbox::{PreparedSandbox, SandboxSpec};
//!
//! let spec = SandboxSpec {
//!     id: "fn-1-abc".into(),
//!     init_exe: "/proc/self/exe".into(),
//!     code_dir: "/var/lib/lambent/code/fn-1".into(),
//!     argv: vec!["/usr/bin/python3".into(), "/var/runtime/bootstrap.py".into()],
//!     env: vec![("AWS_LAMBDA_RUNTIME_API".into(), "127.0.0.1:9001".into())],
//!     cwd: "/var/task".into(),
//!     memory_mb: 128,
//!     tmp_mb: 512,
//!     pids_max: 1024,
//!     cpu_weight_mb: 128,
//!     uid: 993,
//!     gid: 993,
//!     ..Default::default()
//! };
//! let prepared = PreparedSandbox::create(&spec)?;
//! let api = prepared.bind_tcp("127.0.0.1:9001".parse().expect("address"))?;
//! api.set_nonblocking(true).expect("non-blocking");
//! let api = tokio::net::TcpListener::from_std(api).expect("tokio listener"); // serve with hyper/axum
//! let mut sandbox = prepared.start()?;
//! let exit = sandbox.wait().await?;
//! let oom = sandbox.oom_killed();
//! # let _ = (api, exit, oom);
//! # Ok(())
//! # }
//! ```
//!
//! The host process must not reap children it did not create (no `waitpid(-1)` reapers): each
//! sandbox's init is reaped through its pidfd, and an unreaped init is what keeps its pid from
//! being reused while the host still refers to it.

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
pub use spec::{CodeAttachment, Command, SANDBOX_HOSTNAME, SandboxSpec};
