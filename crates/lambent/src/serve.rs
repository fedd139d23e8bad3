//! Wiring: open the stores, build the services, serve until SIGINT/SIGTERM.

use crate::config::Settings;
use anyhow::Context;
use lambent_api::{AppState, CodeUrls, CredentialSet};
use lambent_control::code::{CodeLimits, CodeStore};
use lambent_control::{Account, FunctionService};
use lambent_store::SqliteStore;
use std::sync::Arc;
use tokio::signal::unix::{SignalKind, signal};

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    restrict_permissions(&settings.data_dir)?;
    let store = SqliteStore::open(&settings.data_dir.join("lambent.sqlite3"))
        .context("opening the embedded store")?;
    let code = CodeStore::open(settings.data_dir.join("code")).context("opening the code store")?;
    let service = Arc::new(FunctionService::new(
        Arc::new(store),
        Arc::new(code),
        CodeLimits::default(),
        Account {
            region: settings.region.clone(),
            account_id: settings.account_id.clone(),
        },
    ));
    let collected = service
        .collect_garbage()
        .await
        .context("collecting unreferenced code packages")?;
    if collected > 0 {
        tracing::info!(collected, "removed code packages no function references");
    }
    let credentials = (!settings.credentials.is_empty())
        .then(|| Arc::new(CredentialSet::new(settings.credentials.clone())));
    let state = AppState {
        service,
        credentials,
        code_urls: Arc::new(CodeUrls::new()),
    };
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let local = listener.local_addr()?;
    tracing::info!(
        "lambent listening on http://{local} with data in {}",
        settings.data_dir.display()
    );
    axum::serve(listener, lambent_api::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving")?;
    tracing::info!("lambent stopped");
    Ok(())
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
