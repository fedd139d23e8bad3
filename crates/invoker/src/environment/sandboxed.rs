//! Environments in a `lambent-sandbox` sandbox. The sandbox is owned by one task (it needs
//! `&mut` to wait for exit); the environment talks to it through commands.

use super::process::{ExitInfo, Process};
use super::{Spawned, StartError};
use crate::live::LiveGuard;
use crate::settings::InvokerSettings;
use lambent_control::ResolvedFunction;
use lambent_sandbox::{PreparedSandbox, Sandbox, SandboxSpec};
use tokio::sync::{mpsc, oneshot, watch};

pub struct Stats {
    pub oom_killed: bool,
    pub max_memory_bytes: Option<u64>,
}

enum Command {
    RestrictCpu(u64, oneshot::Sender<()>),
    Freeze(oneshot::Sender<()>),
    Thaw(oneshot::Sender<()>),
    Kill,
    Stats(oneshot::Sender<Stats>),
}

pub struct SandboxedProcess {
    commands: mpsc::UnboundedSender<Command>,
    exited: watch::Receiver<Option<ExitInfo>>,
}

impl SandboxedProcess {
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

    /// Queues a freeze without waiting for it: commands run in order, so a later thaw still
    /// finds the sandbox frozen first.
    pub fn freeze_soon(&self) {
        let (tx, _) = oneshot::channel();
        let _ = self.commands.send(Command::Freeze(tx));
    }

    pub async fn thaw(&self) {
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
    tokio::spawn(supervise(sandbox, receiver, exit_tx, live));
    Ok(Spawned {
        process: Process::Sandboxed(SandboxedProcess { commands, exited }),
        api,
        outputs,
    })
}

/// Owns the sandbox: applies commands and publishes its exit. When every handle is gone the
/// sandbox is dropped, which kills and removes everything it made.
async fn supervise(
    mut sandbox: Sandbox,
    mut commands: mpsc::UnboundedReceiver<Command>,
    exit_tx: watch::Sender<Option<ExitInfo>>,
    live: LiveGuard,
) {
    let mut running = true;
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
            Command::RestrictCpu(memory_mb, done) => {
                if let Err(e) = sandbox.set_cpu_weight_mb(memory_mb) {
                    tracing::warn!(error = %e, "limiting an environment's CPU failed");
                }
                let _ = done.send(());
            }
            Command::Freeze(done) => {
                if let Err(e) = sandbox.freeze() {
                    tracing::warn!(error = %e, "freezing an environment failed");
                }
                let _ = done.send(());
            }
            Command::Thaw(done) => {
                if let Err(e) = sandbox.thaw() {
                    tracing::warn!(error = %e, "thawing an environment failed");
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
