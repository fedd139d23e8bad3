//! The REST surface in-process: status codes, error shapes and headers as Lambda sends them.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use http_body_util::BodyExt;
use lambent_api::{AppState, CodeUrls, CredentialSet, router};
use lambent_control::code::{CodeLimits, CodeStore};
use lambent_control::{Account, FunctionService};
use lambent_invoker::{Invoker, InvokerSettings, Isolation};
use lambent_store::SqliteStore;
use serde_json::{Value, json};
use std::io::Write;
use std::sync::Arc;
use tower::ServiceExt;

struct Server {
    _dir: tempfile::TempDir,
    app: Router,
}

fn server(credentials: Option<CredentialSet>) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("db")).expect("store");
    let code = CodeStore::open(dir.path().join("code")).expect("code store");
    let service = Arc::new(FunctionService::new(
        Arc::new(store),
        Arc::new(code),
        CodeLimits::default(),
        Account {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
        },
    ));
    let logs = lambent_telemetry::LogStore::open(&dir.path().join("logs"), 1 << 20).expect("logs");
    let (sink, _writer) = lambent_telemetry::spawn_writer(logs);
    let settings = InvokerSettings::new(
        Isolation::None,
        dir.path().join("runtime"),
        "us-east-1".into(),
    );
    let invoker = Invoker::new(Arc::clone(&service), settings, sink);
    let app = router(AppState {
        metering: None,
        service,
        credentials: credentials.map(Arc::new),
        code_urls: Arc::new(CodeUrls::new()),
        invoker,
        async_invoke: None,
        queues: None,
        event_sources: None,
        front_doors: lambent_api::FrontDoors::default(),
        logs: None,
    });
    Server { _dir: dir, app }
}

fn zip_of(name: &str, body: &str) -> String {
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut buffer);
        writer
            .start_file(name, zip::write::SimpleFileOptions::default())
            .expect("zip entry");
        writer.write_all(body.as_bytes()).expect("zip write");
        writer.finish().expect("zip finish");
    }
    base64::engine::general_purpose::STANDARD.encode(buffer.into_inner())
}

fn create_body(name: &str) -> Value {
    json!({
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": "arn:aws:iam::000000000000:role/r",
        "Handler": "app.handler",
        "Code": { "ZipFile": zip_of("app.py", "def handler(e, c):\n    return e\n") },
    })
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

async fn call(app: &Router, method: &str, uri: &str, body: Option<&[u8]>) -> Reply {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_vec())))
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Reply {
        status,
        headers,
        body,
    }
}

async fn create(app: &Router, name: &str) -> Reply {
    let body = create_body(name).to_string();
    call(app, "POST", "/2015-03-31/functions", Some(body.as_bytes())).await
}

fn error_type(reply: &Reply) -> &str {
    reply
        .headers
        .get("x-amzn-ErrorType")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn create_returns_lambdas_configuration_shape() {
    let s = server(None);
    let reply = create(&s.app, "f").await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let c = &reply.body;
    assert_eq!(
        c["FunctionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:f"
    );
    assert_eq!(c["Version"], "$LATEST");
    assert_eq!(c["State"], "Active");
    assert_eq!(c["LastUpdateStatus"], "Successful");
    assert_eq!(c["Timeout"], 3);
    assert_eq!(c["MemorySize"], 128);
    assert_eq!(c["EphemeralStorage"]["Size"], 512);
    assert_eq!(c["LoggingConfig"]["LogGroup"], "/aws/lambda/f");
    assert_eq!(c["CodeSha256"].as_str().map(str::len), Some(44));
    let modified = c["LastModified"].as_str().expect("LastModified");
    assert!(
        modified.ends_with("+0000") && modified.len() == 28,
        "{modified}"
    );
    assert!(reply.headers.contains_key("x-amzn-RequestId"));
}

#[tokio::test]
async fn duplicate_missing_and_malformed_have_lambdas_errors() {
    let s = server(None);
    create(&s.app, "f").await;
    let duplicate = create(&s.app, "f").await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert_eq!(error_type(&duplicate), "ResourceConflictException");
    assert_eq!(duplicate.body["Type"], "User");
    assert_eq!(duplicate.body["message"], "Function already exist: f");

    let missing = call(&s.app, "GET", "/2015-03-31/functions/nope", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(error_type(&missing), "ResourceNotFoundException");
    assert_eq!(
        missing.body["Message"],
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"
    );
    assert!(missing.headers.contains_key("x-amzn-RequestId"));

    let malformed = call(&s.app, "POST", "/2015-03-31/functions", Some(b"{not json")).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_type(&malformed), "InvalidRequestContentException");
}

#[tokio::test]
async fn rejected_create_changes_nothing() {
    let s = server(None);
    let mut body = create_body("bad");
    body["Code"]["ZipFile"] = json!(base64::engine::general_purpose::STANDARD.encode(b"not a zip"));
    let reply = call(
        &s.app,
        "POST",
        "/2015-03-31/functions",
        Some(body.to_string().as_bytes()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_type(&reply), "InvalidParameterValueException");
    let list = call(&s.app, "GET", "/2015-03-31/functions", None).await;
    assert_eq!(list.body["Functions"], json!([]));
}

#[tokio::test]
async fn list_paginates_with_markers() {
    let s = server(None);
    for name in ["a", "b", "c", "d", "e"] {
        create(&s.app, name).await;
    }
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let uri = match &marker {
            Some(m) => format!("/2015-03-31/functions?MaxItems=2&Marker={m}"),
            None => "/2015-03-31/functions?MaxItems=2".into(),
        };
        let page = call(&s.app, "GET", &uri, None).await;
        for f in page.body["Functions"].as_array().expect("functions") {
            seen.push(f["FunctionName"].as_str().expect("name").to_owned());
        }
        match page.body.get("NextMarker").and_then(Value::as_str) {
            Some(m) => marker = Some(m.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
}

#[tokio::test]
async fn unimplemented_operations_are_named_and_unknown_paths_are_lambda_shaped() {
    let s = server(None);
    let url = call(&s.app, "GET", "/2020-04-22/code-signing-configs/", None).await;
    assert_eq!(url.status, StatusCode::NOT_IMPLEMENTED);
    assert!(
        url.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("ListCodeSigningConfigs"))
    );
    let unknown = call(&s.app, "GET", "/nothing/here", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(error_type(&unknown), "UnknownOperationException");
}

#[tokio::test]
async fn signatures_are_required_when_credentials_are_configured() {
    let s = server(Some(CredentialSet::new([(
        "AKID".to_owned(),
        "secret".to_owned(),
    )])));
    let unsigned = call(&s.app, "GET", "/2015-03-31/functions", None).await;
    assert_eq!(unsigned.status, StatusCode::FORBIDDEN);
    assert_eq!(error_type(&unsigned), "MissingAuthenticationTokenException");
    let health = call(&s.app, "GET", "/healthz", None).await;
    assert_eq!(health.status, StatusCode::OK);
}

#[tokio::test]
async fn code_location_downloads_the_zip_and_rejects_tampering() {
    let s = server(None);
    let created = create(&s.app, "f").await;
    let got = call(&s.app, "GET", "/2015-03-31/functions/f", None).await;
    let location = got.body["Code"]["Location"].as_str().expect("location");
    let path = location
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, p)| format!("/{p}"))
        .expect("path");
    let request = Request::builder()
        .uri(&path)
        .body(Body::empty())
        .expect("request");
    let response = s.app.clone().oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let zip = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    use sha2::Digest;
    let digest = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&zip));
    assert_eq!(json!(digest), created.body["CodeSha256"]);
    let tampered = path.replace("Signature=", "Signature=00");
    let denied = call(&s.app, "GET", &tampered, None).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
}
