//! Environments in a `lambent-sandbox` sandbox. The sandbox is owned by one task (it needs
//! `&mut` to wait for exit); the environment talks to it through commands.

use super::process::{ExitInfo, Process};
use super::{Spawned, StartError};
use crate::live::LiveGuard;
use crate::settings::InvokerSettings;
use lambent_control::ResolvedFunction;
use lambent_runtime_api::RuntimeApi;
use lambent_sandbox::{CodeAttachment, PreparedSandbox, Sandbox, SandboxSpec};
use std::os::fd::OwnedFd;
use tokio::sync::{mpsc, oneshot, watch};

/// How long an environment stays idle before it is frozen.
pub const FREEZE_DELAY: std::time::Duration = std::time::Duration::from_millis(10);

pub struct Stats {
    pub oom_killed: bool,
    pub max_memory_bytes: Option<u64>,
}

enum Command {
    Attach(Box<CodeAttachment>, oneshot::Sender<Result<(), String>>),
    RestrictCpu(u64, oneshot::Sender<()>),
    /// Freeze, unless the environment has been used again since use number `.0`.
    Freeze(u64),
    Thaw(oneshot::Sender<()>),
    Kill,
    Stats(oneshot::Sender<Stats>),
}

pub struct SandboxedProcess {
    commands: mpsc::UnboundedSender<Command>,
    /// Counts thaws (uses); a delayed freeze applies only if no use came after it was scheduled.
    uses: std::sync::Arc<std::sync::atomic::AtomicU64>,
    exited: watch::Receiver<Option<ExitInfo>>,
}

impl SandboxedProcess {
    /// Mounts a pre-started sandbox's code and applies the function's limits (see
    /// `lambent_sandbox::Sandbox::attach_code`).
    pub async fn attach(&self, attachment: CodeAttachment) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Attach(Box::new(attachment), tx))
            .map_err(|_| "the environment is gone".to_string())?;
        rx.await
            .unwrap_or_else(|_| Err("the environment is gone".to_string()))
    }

    /// False once the sandbox has exited.
    pub fn alive(&self) -> bool {
        self.exited.borrow().is_none()
    }

    pub async fn restrict_cpu(&self, memory_mb: u64) {
        let (tx, rx) = oneshot::channel();
        if self
            .commands
            .send(Command::RestrictCpu(memory_mb, tx))
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    /// Freezes the sandbox once it has been idle for [`FREEZE_DELAY`]: an environment called
    /// again at once (steady traffic) skips the freeze and the thaw, which cost more than the
    /// invocation itself; one that stays idle stops using CPU as on Lambda.
    pub fn freeze_soon(&self) {
        let scheduled_at = self.uses.load(std::sync::atomic::Ordering::SeqCst);
        let commands = self.commands.clone();
        tokio::spawn(async move {
            tokio::time::sleep(FREEZE_DELAY).await;
            let _ = commands.send(Command::Freeze(scheduled_at));
        });
    }

    pub async fn thaw(&self) {
        self.uses.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Thaw(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    pub fn kill(&self) {
        let _ = self.commands.send(Command::Kill);
    }

    pub async fn stats(&self) -> Stats {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Stats(tx)).is_ok()
            && let Ok(stats) = rx.await
        {
            return stats;
        }
        Stats {
            oom_killed: false,
            max_memory_bytes: None,
        }
    }

    pub fn exited(&self) -> watch::Receiver<Option<ExitInfo>> {
        self.exited.clone()
    }
}

/// Creates the sandbox, binds its Runtime API inside its network namespace and starts the runtime.
pub(super) async fn spawn(
    id: &str,
    function: &ResolvedFunction,
    settings: &InvokerSettings,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    live: LiveGuard,
) -> Result<Spawned, StartError> {
    let config = &function.config;
    let spec = SandboxSpec {
        id: id.to_owned(),
        init_exe: "/proc/self/exe".into(),
        code_dir: function.code_dir.clone(),
        deferred_code: false,
        runtime_dir: Some(settings.runtime_dir.clone()),
        opt_dir: function.opt_dir.clone(),
        argv,
        env,
        cwd: "/var/task".into(),
        memory_mb: u64::from(config.memory_mb),
        tmp_mb: u64::from(config.ephemeral_storage_mb),
        pids_max: settings.pids_max,
        // Init runs unthrottled to keep cold starts short; `restrict_cpu` applies the function's
        // share (proportional to memory, as Lambda) before the first invocation.
        cpu_weight_mb: 0,
        uid: settings.sandbox_uid,
        gid: settings.sandbox_gid,
    };
    let (process, api, outputs) = launch(spec, live).await?;
    Ok(Spawned {
        process: Process::Sandboxed(process),
        api,
        outputs,
    })
}

/// Builds a deferred sandbox before any function is known: empty `/var/task` and `/opt`,
/// Lambda's smallest memory size, the default `/tmp` (all changed by `attach`). With an `argv`
/// the runtime starts now; without, `attach` names it.
pub(super) async fn prestart(
    id: &str,
    settings: &InvokerSettings,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    live: LiveGuard,
) -> Result<(SandboxedProcess, RuntimeApi, Vec<OwnedFd>), StartError> {
    let spec = SandboxSpec {
        id: id.to_owned(),
        init_exe: "/proc/self/exe".into(),
        code_dir: std::path::PathBuf::new(),
        deferred_code: true,
        runtime_dir: Some(settings.runtime_dir.clone()),
        opt_dir: None,
        argv,
        env,
        cwd: "/var/task".into(),
        memory_mb: PRESTART_MEMORY_MB,
        tmp_mb: PRESTART_TMP_MB,
        pids_max: settings.pids_max,
        cpu_weight_mb: 0,
        uid: settings.sandbox_uid,
        gid: settings.sandbox_gid,
    };
    launch(spec, live).await
}

/// Memory limit of a pre-started runtime until it is attached (Lambda's minimum MemorySize).
const PRESTART_MEMORY_MB: u64 = 128;
/// `/tmp` size of a pre-started runtime until it is attached (Lambda's default).
const PRESTART_TMP_MB: u64 = 512;

async fn launch(
    spec: SandboxSpec,
    live: LiveGuard,
) -> Result<(SandboxedProcess, RuntimeApi, Vec<OwnedFd>), StartError> {
    let address = super::SANDBOX_RUNTIME_API
        .parse()
        .map_err(|e| StartError::Spawn(format!("runtime API address: {e}")))?;
    // Namespace, mount and cgroup set-up are blocking system calls: keep them off the reactor.
    let (mut sandbox, listener) = tokio::task::spawn_blocking(move || {
        let prepared = PreparedSandbox::create(&spec)?;
        let listener = prepared.bind_tcp(address)?;
        let sandbox = prepared.start()?;
        Ok::<_, lambent_sandbox::SandboxError>((sandbox, listener))
    })
    .await
    .map_err(|e| StartError::Spawn(e.to_string()))?
    .map_err(|e| StartError::Spawn(e.to_string()))?;
    let api = lambent_runtime_api::serve(listener).map_err(|e| StartError::Spawn(e.to_string()))?;
    let outputs: Vec<_> = [sandbox.take_stdout(), sandbox.take_stderr()]
        .into_iter()
        .flatten()
        .collect();
    let (commands, receiver) = mpsc::unbounded_channel();
    let (exit_tx, exited) = watch::channel(None);
    let uses = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    tokio::spawn(supervise(
        sandbox,
        receiver,
        exit_tx,
        live,
        std::sync::Arc::clone(&uses),
    ));
    Ok((
        SandboxedProcess {
            commands,
            uses,
            exited,
        },
        api,
        outputs,
    ))
}

/// Owns the sandbox: applies commands and publishes its exit. When every handle is gone the
/// sandbox is dropped, which kills and removes everything it made.
async fn supervise(
    mut sandbox: Sandbox,
    mut commands: mpsc::UnboundedReceiver<Command>,
    exit_tx: watch::Sender<Option<ExitInfo>>,
    live: LiveGuard,
    uses: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    let mut running = true;
    let mut frozen = false;
    loop {
        let command = if running {
            tokio::select! {
                exit = sandbox.wait() => {
                    running = false;
                    let info = match exit {
                        Ok(exit) => match exit.signal() {
                            Some(signal) => ExitInfo::Signal(signal),
                            None => ExitInfo::Code(exit.code().unwrap_or(-1)),
                        },
                        Err(_) => ExitInfo::Code(-1),
                    };
                    let _ = exit_tx.send(Some(info));
                    continue;
                }
                command = commands.recv() => command,
            }
        } else {
            commands.recv().await
        };
        let Some(command) = command else {
            break;
        };
        match command {
            Command::Attach(attachment, done) => {
                // Two mounts, perhaps an exec, a privilege drop: well under a millisecond.
                let result = sandbox.attach_code(&attachment).map_err(|e| e.to_string());
                let _ = done.send(result);
            }
            Command::RestrictCpu(memory_mb, done) => {
                if let Err(e) = sandbox.set_cpu_weight_mb(memory_mb) {
                    tracing::warn!(error = %e, "limiting an environment's CPU failed");
                }
                let _ = done.send(());
            }
            Command::Freeze(scheduled_at) => {
                let used_since = uses.load(std::sync::atomic::Ordering::SeqCst) != scheduled_at;
                if !frozen && !used_since {
                    match sandbox.freeze() {
                        Ok(()) => frozen = true,
                        Err(e) => tracing::warn!(error = %e, "freezing an environment failed"),
                    }
                }
            }
            Command::Thaw(done) => {
                if frozen {
                    match sandbox.thaw() {
                        Ok(()) => frozen = false,
                        Err(e) => tracing::warn!(error = %e, "thawing an environment failed"),
                    }
                }
                let _ = done.send(());
            }
            Command::Kill => sandbox.kill(),
            Command::Stats(reply) => {
                let _ = reply.send(Stats {
                    oom_killed: sandbox.oom_killed(),
                    max_memory_bytes: sandbox.max_memory_bytes(),
                });
            }
        }
    }
    // Teardown (kill, reap, remove cgroups) takes a few milliseconds of blocking system calls.
    tokio::task::spawn_blocking(move || {
        drop(sandbox);
        drop(live);
    });
}
