//! Wiring: open the stores, build the services, serve until SIGINT/SIGTERM.

use crate::config::{IsolationArg, Settings};
use anyhow::{Context, bail};
use lambent_api::{AppState, CodeUrls, CredentialSet, FrontDoors};
use lambent_async_invoke::{
    AsyncInvoke, EngineSettings, InvokerRunner, MessageAttribute, QueueSender, ServiceFunctions,
};
use lambent_control::code::{CodeLimits, CodeStore};
use lambent_control::{Account, FunctionService};
use lambent_event_sources::{EventSourceMappings, LambentInvoker, SqsSourceFactory};
use lambent_invoker::{Invoker, InvokerSettings, Isolation};
use lambent_queues::{MessageAttributeValue, QueueService};
use lambent_store::SqliteStore;
use lambent_telemetry::LogStore;
use std::sync::Arc;
use tokio::signal::unix::{SignalKind, signal};

/// How long running invocations may go on after SIGTERM/SIGINT before they are stopped.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Function logs kept on disk before the oldest are dropped.
const LOG_STORE_BYTES: u64 = 512 * 1024 * 1024;

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let isolation = match settings.isolation {
        IsolationArg::Sandbox => {
            if let Err(reason) = lambent_sandbox::probe_host() {
                bail!(
                    "cannot build execution sandboxes on this host: {reason}\n\
                     Run lambent as root on Linux with namespaces and cgroups, or start it with \
                     `--isolation none` to run functions WITHOUT isolation (development only)."
                );
            }
            Isolation::Sandbox
        }
        IsolationArg::None => {
            tracing::warn!(
                "ISOLATION IS OFF (--isolation none): functions run as plain processes with this \
                 server's privileges and can read each other's code, data and secrets. Never use \
                 this with code you do not trust."
            );
            Isolation::None
        }
    };
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    restrict_permissions(&settings.data_dir)?;
    let store = SqliteStore::open(&settings.data_dir.join("lambent.sqlite3"))
        .context("opening the embedded store")?;
    let code = CodeStore::open(settings.data_dir.join("code")).context("opening the code store")?;
    let runtime_dir = settings.data_dir.join("runtime");
    lambent_runtimes::install(&runtime_dir)
        .with_context(|| format!("installing the runtimes into {}", runtime_dir.display()))?;
    let logs = LogStore::open(&settings.data_dir.join("logs.sqlite3"), LOG_STORE_BYTES)
        .context("opening the log store")?;
    let account = Account {
        region: settings.region.clone(),
        account_id: settings.account_id.clone(),
    };
    let service = Arc::new(
        FunctionService::new(
            Arc::new(store),
            Arc::new(code),
            CodeLimits::default(),
            account,
        )
        .with_concurrency_limit(settings.max_concurrency),
    );
    service
        .load_reservations()
        .await
        .context("reading reserved concurrency")?;
    let collected = service
        .collect_garbage()
        .await
        .context("collecting unreferenced code packages")?;
    if collected > 0 {
        tracing::info!(collected, "removed code packages no function references");
    }
    let (sink, log_writer) = lambent_telemetry::spawn_writer(logs.clone());
    let mut invoker_settings =
        InvokerSettings::new(isolation, runtime_dir, settings.region.clone());
    invoker_settings.keep_alive = settings.keep_alive;
    invoker_settings.prestart_per_runtime = settings.prestart;
    invoker_settings.runtimes = settings.runtimes.clone();
    if let Some(budget) = settings.memory_budget_mb {
        invoker_settings.memory_budget_mb = budget;
    }
    let invoker = Invoker::new(Arc::clone(&service), invoker_settings, sink);
    let metering = lambent_metering::Metering::open(
        &settings.data_dir.join("usage.sqlite3"),
        settings.metering.clone(),
    )
    .context("opening the usage store")?;
    invoker.set_observer(metering.observer());
    let queues = Arc::new(
        QueueService::open(
            &settings.data_dir.join("queues.sqlite3"),
            &settings.region,
            &settings.account_id,
        )
        .context("opening the queue store")?,
    );
    let event_sources = Arc::new(
        EventSourceMappings::open(
            &settings.data_dir.join("event-sources.sqlite3"),
            Arc::clone(&service),
            Arc::new(LambentInvoker {
                invoker: Arc::clone(&invoker),
                functions: Arc::clone(&service),
            }),
            vec![Arc::new(SqsSourceFactory {
                queues: Arc::clone(&queues),
            })],
        )
        .context("opening the event source mappings")?,
    );
    let async_invoke = AsyncInvoke::start(
        &settings.data_dir.join("async-events.sqlite3"),
        Arc::new(InvokerRunner(Arc::clone(&invoker))),
        Arc::new(ServiceFunctions(Arc::clone(&service))),
        EngineSettings {
            time_scale: settings.async_time_scale,
            workers_per_function: settings.async_workers,
            queues: Some(Arc::new(QueueDestinations(Arc::clone(&queues)))),
        },
    )
    .context("opening the asynchronous event journal")?;
    let credentials = (!settings.credentials.is_empty())
        .then(|| Arc::new(CredentialSet::new(settings.credentials.clone())));
    let state = AppState {
        service,
        credentials,
        code_urls: Arc::new(CodeUrls::new()),
        invoker: Arc::clone(&invoker),
        async_invoke: Some(async_invoke.clone()),
        queues: Some(Arc::clone(&queues)),
        event_sources: Some(event_sources),
        front_doors: FrontDoors::default(),
        logs: Some(logs),
        metering: Some(Arc::clone(&metering)),
    };
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let local = listener.local_addr()?;
    // Function URLs name the port actually bound (`--listen 127.0.0.1:0` picks one).
    let state = AppState {
        front_doors: FrontDoors::open(&settings.data_dir.join("routes.sqlite3"), local.port())
            .context("opening the route table")?,
        ..state
    };
    tracing::info!(
        "lambent listening on http://{local} with data in {}",
        settings.data_dir.display()
    );
    let running = Arc::clone(&invoker);
    let async_on_signal = async_invoke.clone();
    let signalled = async move {
        shutdown_signal().await;
        // No new asynchronous attempt starts; queued events stay journaled for the next start.
        async_on_signal.shutdown();
        // Running invocations get a short grace period, then their environments are killed so
        // that shutdown never waits for a function's full timeout.
        tokio::spawn(async move {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
            tracing::info!("stopping invocations still running");
            running.stop_running_invocations();
        });
    };
    axum::serve(
        listener,
        lambent_api::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(signalled)
    .await
    .context("serving")?;
    // Attempts already running end (or are stopped after the grace period) before the invoker
    // empties its pools, so that none hands an environment back to a pool being emptied.
    async_invoke.shutdown();
    async_invoke.drained().await;
    invoker.shutdown().await;
    drop(invoker);
    // Every invocation has ended: what they used is on disk once this returns.
    if let Err(e) = metering.flush().await {
        tracing::error!(error = %e, "writing the last usage records failed");
    }
    // Every sink is gone once the invoker is: the writer flushes what is queued and ends.
    let _ = log_writer.await;
    tracing::info!("lambent stopped");
    Ok(())
}

/// Lets asynchronous invocation send destination records and dead letters to Lambent's queues.
struct QueueDestinations(Arc<QueueService>);

#[async_trait::async_trait]
impl QueueSender for QueueDestinations {
    async fn send_message(
        &self,
        queue_arn: &str,
        body: String,
        attributes: Vec<MessageAttribute>,
    ) -> Result<(), String> {
        let attributes = attributes
            .into_iter()
            .map(|a| {
                let value = match a.data_type.as_str() {
                    "Number" => MessageAttributeValue::number(a.value),
                    _ => MessageAttributeValue::string(a.value),
                };
                (a.name, value)
            })
            .collect();
        self.0
            .send_message(queue_arn, body, attributes)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The data directory holds every function's code and configuration: only its owner may read it.
fn restrict_permissions(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting permissions of {}", dir.display()))
}

async fn shutdown_signal() {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the server with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = int.recv() => tracing::info!("SIGINT received, shutting down"),
    }
}
