//! The invoker without a sandbox (`Isolation::None`) over a real store, code store and log
//! store in a temporary directory, shared by the integration tests.

#![allow(dead_code)]

use lambent_control::code::{CodeLimits, CodeStore};
use lambent_control::input::CreateFunctionInput;
use lambent_control::{Account, FunctionService};
use lambent_invoker::{Invoker, InvokerSettings, Isolation};
use lambent_store::SqliteStore;
use lambent_telemetry::LogStore;
use std::io::Write;
use std::sync::Arc;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub service: Arc<FunctionService>,
    pub invoker: Arc<Invoker>,
    pub logs: LogStore,
}

pub fn zip_base64(files: &[(&str, &str)]) -> String {
    use base64::Engine;
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut buffer);
        for (name, body) in files {
            writer
                .start_file(*name, zip::write::SimpleFileOptions::default())
                .expect("entry");
            writer.write_all(body.as_bytes()).expect("write");
        }
        writer.finish().expect("finish");
    }
    base64::engine::general_purpose::STANDARD.encode(buffer.into_inner())
}

pub async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = Arc::new(FunctionService::new(
        Arc::new(SqliteStore::open(&dir.path().join("db")).expect("store")),
        Arc::new(CodeStore::open(dir.path().join("code")).expect("code")),
        CodeLimits::default(),
        Account {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
        },
    ));
    let runtime_dir = dir.path().join("runtime");
    lambent_runtimes::install(&runtime_dir).expect("install runtimes");
    let logs = LogStore::open(&dir.path().join("logs"), 1 << 24).expect("logs");
    let (sink, _writer) = lambent_telemetry::spawn_writer(logs.clone());
    let settings = InvokerSettings::new(Isolation::None, runtime_dir, "us-east-1".into());
    let invoker = Invoker::new(Arc::clone(&service), settings, sink);
    Fixture {
        dir,
        service,
        invoker,
        logs,
    }
}

/// CreateFunction with `files` as its zip.
pub async fn create(
    f: &Fixture,
    name: &str,
    runtime: &str,
    handler: &str,
    files: &[(&str, &str)],
    timeout: i64,
) {
    let input: CreateFunctionInput = serde_json::from_value(serde_json::json!({
        "FunctionName": name,
        "Runtime": runtime,
        "Role": "arn:aws:iam::000000000000:role/r",
        "Handler": handler,
        "Timeout": timeout,
        "Code": { "ZipFile": zip_base64(files) },
    }))
    .expect("input");
    f.service.create_function(input).await.expect("create");
}
