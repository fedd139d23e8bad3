use super::*;
use crate::LayerStore;
use crate::records::{FunctionConfig, LoggingSettings, StateInfo};
use std::collections::BTreeMap;

fn record(name: &str, revision: &str) -> FunctionRecord {
    FunctionRecord {
        name: name.into(),
        config: FunctionConfig {
            runtime: "python3.12".into(),
            handler: "app.handler".into(),
            role: "arn:aws:iam::000000000000:role/r".into(),
            description: String::new(),
            timeout_seconds: 3,
            memory_mb: 128,
            ephemeral_storage_mb: 512,
            environment: BTreeMap::new(),
            environment_set: false,
            architectures: vec!["x86_64".into()],
            package_type: "Zip".into(),
            tracing_mode: "PassThrough".into(),
            logging: LoggingSettings {
                log_format: "Text".into(),
                application_log_level: None,
                system_log_level: None,
                log_group: format!("/aws/lambda/{name}"),
            },
            layers: vec![],
            dead_letter_target_arn: None,
            kms_key_arn: None,
        },
        code_sha256_hex: "ab".repeat(32),
        code_size: 10,
        revision_id: revision.into(),
        last_modified: chrono::Utc::now(),
        state: StateInfo {
            state: "Active".into(),
            state_reason: None,
            state_reason_code: None,
            last_update_status: "Successful".into(),
            last_update_status_reason: None,
            last_update_status_reason_code: None,
        },
        tags: BTreeMap::new(),
        policy: vec![],
        code_unzipped_size: 0,
        versions: BTreeMap::new(),
        last_version: 0,
        aliases: BTreeMap::new(),
        qualified_policies: BTreeMap::new(),
        event_invoke_configs: BTreeMap::new(),
        function_urls: BTreeMap::new(),
        reserved_concurrency: None,
        provisioned: BTreeMap::new(),
        generation: 0,
    }
}

fn open() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("db.sqlite")).expect("open");
    (dir, store)
}

#[tokio::test]
async fn insert_get_and_duplicate() {
    let (_dir, store) = open();
    let r = record("f", "r1");
    store.insert_function(&r).await.expect("insert");
    let stored = store
        .get_function("f")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(stored.generation, 1);
    assert_eq!(
        stored,
        FunctionRecord {
            generation: 1,
            ..r.clone()
        }
    );
    assert!(matches!(
        store.insert_function(&r).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(store.get_function("g").await.expect("get"), None);
}

#[tokio::test]
async fn list_pages_in_name_order() {
    let (_dir, store) = open();
    for name in ["c", "a", "b", "d"] {
        store
            .insert_function(&record(name, "r"))
            .await
            .expect("insert");
    }
    let first: Vec<_> = store
        .list_functions(None, 3)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(first, ["a", "b", "c"]);
    let rest: Vec<_> = store
        .list_functions(Some("c"), 3)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(rest, ["d"]);
}

#[tokio::test]
async fn concurrent_updates_from_one_revision_exactly_one_wins() {
    let (_dir, store) = open();
    store
        .insert_function(&record("f", "r0"))
        .await
        .expect("insert");
    let read = store
        .get_function("f")
        .await
        .expect("get")
        .expect("present");
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            let mut r = read.clone();
            tokio::spawn(async move {
                r.revision_id = format!("r{}", i + 1);
                r.config.description = format!("writer {i}");
                store.replace_function(&r).await
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        match t.await.expect("join") {
            Ok(()) => wins += 1,
            Err(StoreError::RevisionMismatch) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn replace_and_delete_missing() {
    let (_dir, store) = open();
    assert!(matches!(
        store.replace_function(&record("f", "r1")).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.delete_function("f").await.expect("delete"), None);
}

#[tokio::test]
async fn reopening_keeps_data_and_schema_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    {
        let store = SqliteStore::open(&path).expect("open");
        store
            .insert_function(&record("f", "r"))
            .await
            .expect("insert");
    }
    let store = SqliteStore::open(&path).expect("reopen");
    assert!(store.get_function("f").await.expect("get").is_some());
    assert_eq!(store.usage().await.expect("usage"), (1, 10));
    assert_eq!(
        store.referenced_code().await.expect("refs"),
        HashSet::from(["ab".repeat(32)])
    );
}

#[test]
fn refuses_a_newer_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.sqlite");
    {
        let conn = Connection::open(&path).expect("open");
        conn.pragma_update(None, "user_version", 999)
            .expect("pragma");
    }
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::Migration(_))
    ));
}

#[tokio::test]
async fn versions_keep_their_code_referenced() {
    let (_dir, store) = open();
    store
        .insert_function(&record("f", "r"))
        .await
        .expect("insert");
    let mut r = store
        .get_function("f")
        .await
        .expect("get")
        .expect("present");
    let old = r.code_sha256_hex.clone();
    r.versions.insert(
        1,
        crate::VersionRecord {
            config: r.config.clone(),
            published_at_revision: None,
            code_sha256_hex: old.clone(),
            code_size: 10,
            code_unzipped_size: 10,
            revision_id: "v1".into(),
            last_modified: chrono::Utc::now(),
        },
    );
    r.code_sha256_hex = "cd".repeat(32);
    store.replace_function(&r).await.expect("replace");
    let refs = store.referenced_code().await.expect("refs");
    assert!(refs.contains(&old) && refs.contains(&"cd".repeat(32)));
    store.delete_function("f").await.expect("delete");
    assert!(store.referenced_code().await.expect("refs").is_empty());
}

#[tokio::test]
async fn layer_versions_are_numbered_and_never_reused() {
    let (_dir, store) = open();
    let layer = |name: &str| crate::LayerVersionRecord {
        name: name.into(),
        version: 0,
        description: String::new(),
        created: chrono::Utc::now(),
        compatible_runtimes: vec![],
        compatible_architectures: vec![],
        license_info: None,
        code_sha256_hex: "ef".repeat(32),
        code_size: 1,
        code_unzipped_size: 1,
    };
    assert_eq!(
        store
            .publish_layer_version(&layer("l"))
            .await
            .expect("publish"),
        1
    );
    assert_eq!(
        store
            .publish_layer_version(&layer("l"))
            .await
            .expect("publish"),
        2
    );
    store.delete_layer_version("l", 2).await.expect("delete");
    assert_eq!(
        store
            .publish_layer_version(&layer("l"))
            .await
            .expect("publish"),
        3
    );
    let live: Vec<u32> = store
        .list_layer_versions("l")
        .await
        .expect("list")
        .iter()
        .map(|l| l.version)
        .collect();
    assert_eq!(live, [3, 1]);
    assert!(
        store
            .get_layer_version("l", 2, false)
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        store
            .get_layer_version("l", 2, true)
            .await
            .expect("get")
            .is_some()
    );
    assert_eq!(store.list_layer_names().await.expect("names"), ["l"]);
    assert!(
        store
            .referenced_code()
            .await
            .expect("refs")
            .contains(&"ef".repeat(32))
    );
}

#[tokio::test]
async fn reserved_concurrency_sums_other_functions() {
    let (_dir, store) = open();
    for (name, reserved) in [("a", Some(10)), ("b", Some(5)), ("c", None)] {
        let mut r = record(name, "r");
        r.reserved_concurrency = reserved;
        store.insert_function(&r).await.expect("insert");
    }
    assert_eq!(
        store.reserved_concurrency_total(None).await.expect("sum"),
        15
    );
    assert_eq!(
        store
            .reserved_concurrency_total(Some("a"))
            .await
            .expect("sum"),
        5
    );
}

#[tokio::test]
async fn finds_only_functions_with_provisioning() {
    let (_dir, store) = open();
    store
        .insert_function(&record("plain", "r"))
        .await
        .expect("insert");
    let mut provisioned = record("warm", "r");
    provisioned.provisioned.insert(
        "1".into(),
        crate::ProvisionedRecord {
            requested: 2,
            last_modified: chrono::Utc::now(),
        },
    );
    store.insert_function(&provisioned).await.expect("insert");
    let names: Vec<String> = store
        .functions_with_provisioning()
        .await
        .expect("query")
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["warm"]);
}
