//! What the caller asks for ([`SandboxSpec`]) and what the host hands to init ([`InitConfig`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::SandboxError;

/// The hostname every sandbox sees (UTS namespace).
pub const SANDBOX_HOSTNAME: &str = "sandbox";

/// Everything needed to build one sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxSpec {
    /// Unique id, `[a-z0-9-]`, at most 64 characters; names the cgroups (`lambent/<id>`).
    pub id: String,
    /// Binary re-executed as the sandbox init; the server passes `/proc/self/exe`. It must call
    /// [`crate::run_init_if_requested`] first thing in `main`.
    pub init_exe: PathBuf,
    /// Host directory bind-mounted read-only at `/var/task`. Ignored when `deferred_code`.
    pub code_dir: PathBuf,
    /// Build the sandbox before the code is known: `/var/task` and `/opt` stay empty and init
    /// keeps the privilege to mount them until [`crate::Sandbox::attach_code`], then drops it.
    /// With an `argv`, the runtime starts at once (a pre-started interpreter, specialised later);
    /// with an empty `argv`, nothing runs until the attachment names the runtime to start.
    pub deferred_code: bool,
    /// Host directory bind-mounted read-only at `/var/runtime` (an empty directory if `None`).
    pub runtime_dir: Option<PathBuf>,
    /// Host directory bind-mounted read-only at `/opt` (an empty directory if `None`).
    pub opt_dir: Option<PathBuf>,
    /// The runtime command; `argv[0]` is an absolute path inside the sandbox.
    pub argv: Vec<String>,
    /// The complete environment of the runtime process (nothing is inherited).
    pub env: Vec<(String, String)>,
    /// Working directory of the runtime (absolute, usually `/var/task`).
    pub cwd: String,
    /// Hard memory limit of the whole sandbox in MiB (including its `/tmp` pages).
    pub memory_mb: u64,
    /// Size of the `/tmp` tmpfs in MiB.
    pub tmp_mb: u64,
    /// Maximum number of processes and threads.
    pub pids_max: u64,
    /// CPU share expressed as Lambda memory: 1769 MB = one vCPU. 0 = no CPU limit.
    pub cpu_weight_mb: u64,
    /// Unprivileged uid the runtime runs as (not 0).
    pub uid: u32,
    /// Unprivileged gid the runtime runs as (not 0).
    pub gid: u32,
}

/// The part of the spec that init needs, serialized to JSON and passed through an inherited
/// memfd (never through argv, which is world-readable in /proc).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct InitConfig {
    pub code_dir: PathBuf,
    pub deferred_code: bool,
    pub runtime_dir: Option<PathBuf>,
    pub opt_dir: Option<PathBuf>,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: String,
    pub tmp_mb: u64,
    pub uid: u32,
    pub gid: u32,
    pub hostname: String,
}

impl SandboxSpec {
    /// Checks everything that can be checked on the host before any privileged work starts, so
    /// that mistakes surface as [`SandboxError::InvalidSpec`] rather than as an init failure.
    pub fn validate(&self) -> Result<(), SandboxError> {
        let bad = |msg: String| Err(SandboxError::InvalidSpec(msg));
        if self.id.is_empty()
            || self.id.len() > 64
            || self.id.starts_with('-')
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return bad(format!(
                "id {:?} must be 1-64 chars of [a-z0-9-] not starting with '-'",
                self.id
            ));
        }
        if !self.init_exe.is_absolute() {
            return bad(format!(
                "init_exe {} must be absolute",
                self.init_exe.display()
            ));
        }
        if self.deferred_code {
            if self.opt_dir.is_some() {
                return bad("opt_dir is attached later when deferred_code is set".into());
            }
        } else {
            check_dir("code_dir", &self.code_dir)?;
        }
        if let Some(d) = &self.runtime_dir {
            check_dir("runtime_dir", d)?;
        }
        if let Some(d) = &self.opt_dir {
            check_dir("opt_dir", d)?;
        }
        if !(self.deferred_code && self.argv.is_empty()) {
            validate_command(&self.argv, &self.env)?;
        }
        if !self.cwd.starts_with('/') || self.cwd.contains('\0') {
            return bad(format!("cwd {:?} must be an absolute path", self.cwd));
        }
        if self.memory_mb < 8 {
            return bad(format!(
                "memory_mb {} is below the 8 MiB minimum",
                self.memory_mb
            ));
        }
        if self.tmp_mb == 0 {
            return bad("tmp_mb must be at least 1".into());
        }
        if self.pids_max == 0 {
            return bad("pids_max must be at least 1".into());
        }
        if self.uid == 0 || self.gid == 0 {
            return bad("uid and gid must not be 0".into());
        }
        Ok(())
    }

    pub(crate) fn init_config(&self) -> InitConfig {
        InitConfig {
            code_dir: self.code_dir.clone(),
            deferred_code: self.deferred_code,
            runtime_dir: self.runtime_dir.clone(),
            opt_dir: self.opt_dir.clone(),
            argv: self.argv.clone(),
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            tmp_mb: self.tmp_mb,
            uid: self.uid,
            gid: self.gid,
            hostname: SANDBOX_HOSTNAME.to_string(),
        }
    }
}

/// What turns a deferred sandbox into a function's environment ([`crate::Sandbox::attach_code`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeAttachment {
    /// Host directory mounted read-only at `/var/task`.
    pub code_dir: PathBuf,
    /// Host directory mounted read-only at `/opt`, if any.
    pub opt_dir: Option<PathBuf>,
    /// Size of `/tmp` in MiB.
    pub tmp_mb: u64,
    /// Hard memory limit of the sandbox in MiB.
    pub memory_mb: u64,
    /// The runtime to start now, for a sandbox created without one (empty `argv`).
    pub exec: Option<Command>,
}

/// A program and its complete environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// `argv[0]` is an absolute path inside the sandbox.
    pub argv: Vec<String>,
    /// The complete environment (nothing is inherited).
    pub env: Vec<(String, String)>,
}

/// The host's attach request on the lifeline; the code trees travel as descriptors beside it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct AttachRequest {
    pub tmp_mb: u64,
    /// Whether a second descriptor (the `/opt` tree) follows the `/var/task` one.
    pub opt: bool,
    pub exec: Option<Command>,
}

impl CodeAttachment {
    /// Checks the attachment on the host, before anything is sent to init.
    pub fn validate(&self) -> Result<(), SandboxError> {
        check_dir("code_dir", &self.code_dir)?;
        if let Some(d) = &self.opt_dir {
            check_dir("opt_dir", d)?;
        }
        if self.tmp_mb == 0 || self.memory_mb < 8 {
            return Err(SandboxError::InvalidSpec(format!(
                "tmp_mb {} must be at least 1 and memory_mb {} at least 8",
                self.tmp_mb, self.memory_mb
            )));
        }
        if let Some(exec) = &self.exec {
            validate_command(&exec.argv, &exec.env)?;
        }
        Ok(())
    }
}

/// `argv[0]` absolute, no NUL anywhere, environment names without `=`.
fn validate_command(argv: &[String], env: &[(String, String)]) -> Result<(), SandboxError> {
    let bad = |msg: String| Err(SandboxError::InvalidSpec(msg));
    match argv.first() {
        None => return bad("argv is empty".into()),
        Some(a0) if !a0.starts_with('/') => {
            return bad(format!("argv[0] {a0:?} must be an absolute path"));
        }
        Some(_) => {}
    }
    if let Some(a) = argv.iter().find(|a| a.contains('\0')) {
        return bad(format!("argv element {a:?} contains NUL"));
    }
    for (k, v) in env {
        if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
            return bad(format!("invalid environment variable {k:?}"));
        }
    }
    Ok(())
}

/// The path must be an absolute, UTF-8 (it travels as JSON) existing directory.
fn check_dir(what: &str, path: &Path) -> Result<(), SandboxError> {
    if !path.is_absolute() || path.to_str().is_none() {
        return Err(SandboxError::InvalidSpec(format!(
            "{what} {} must be an absolute UTF-8 path",
            path.display()
        )));
    }
    if !path.is_dir() {
        return Err(SandboxError::InvalidSpec(format!(
            "{what} {} is not a directory",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SandboxSpec {
        SandboxSpec {
            id: "fn-1".into(),
            init_exe: "/proc/self/exe".into(),
            code_dir: "/".into(),
            argv: vec!["/usr/bin/python3".into()],
            env: vec![("A".into(), "b".into())],
            cwd: "/var/task".into(),
            memory_mb: 128,
            tmp_mb: 16,
            pids_max: 64,
            cpu_weight_mb: 1769,
            uid: 993,
            gid: 993,
            ..Default::default()
        }
    }

    #[test]
    fn valid_spec_passes() {
        spec().validate().expect("valid");
    }

    #[test]
    fn rejects_bad_fields() {
        let cases: Vec<fn(&mut SandboxSpec)> = vec![
            |s| s.id = "Bad_Id".into(),
            |s| s.id = "../x".into(),
            |s| s.id = String::new(),
            |s| s.argv = vec!["python3".into()],
            |s| s.argv.clear(),
            |s| s.env.push(("A=B".into(), "x".into())),
            |s| s.env.push(("A".into(), "x\0y".into())),
            |s| s.cwd = "var/task".into(),
            |s| s.uid = 0,
            |s| s.code_dir = "/definitely/not/here".into(),
            |s| s.init_exe = "relative".into(),
            |s| s.tmp_mb = 0,
        ];
        for (i, f) in cases.iter().enumerate() {
            let mut s = spec();
            f(&mut s);
            assert!(
                matches!(s.validate(), Err(SandboxError::InvalidSpec(_))),
                "case {i}"
            );
        }
    }

    #[test]
    fn init_config_round_trips_through_json() {
        let cfg = spec().init_config();
        let bytes = serde_json::to_vec(&cfg).expect("serialize");
        let back: InitConfig = serde_json::from_slice(&bytes).expect("deserialize");
        assert_eq!(cfg, back);
    }
}
