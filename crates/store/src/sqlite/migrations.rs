//! Versioned schema migrations, tracked in SQLite's `user_version`.
//!
//! Migrations are append-only: a released step is never edited, a change is a new step. Each step
//! runs in its own transaction together with the version bump, so a crash mid-migration leaves the
//! previous version intact.

use crate::StoreError;
use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: functions with their $LATEST configuration as a JSON body; the columns outside the body
    // are the ones queried or compared.
    "CREATE TABLE functions (
        name         TEXT PRIMARY KEY NOT NULL,
        revision_id  TEXT NOT NULL,
        code_sha256  TEXT NOT NULL,
        code_size    INTEGER NOT NULL,
        body         TEXT NOT NULL
    ) STRICT;
    CREATE INDEX functions_code ON functions (code_sha256);",
    // 2: versions and aliases live in the function's body; compare-and-swap moves to a write
    // counter (aliases have their own RevisionIds); every code package a function references is
    // listed in code_refs; layers get their own tables.
    "ALTER TABLE functions ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE code_refs (
        function_name TEXT NOT NULL,
        code_sha256   TEXT NOT NULL,
        PRIMARY KEY (function_name, code_sha256)
    ) STRICT;
    INSERT INTO code_refs (function_name, code_sha256) SELECT name, code_sha256 FROM functions;
    CREATE TABLE layer_names (
        name         TEXT PRIMARY KEY NOT NULL,
        last_version INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE layer_versions (
        name        TEXT NOT NULL,
        version     INTEGER NOT NULL,
        deleted     INTEGER NOT NULL DEFAULT 0,
        code_sha256 TEXT NOT NULL,
        body        TEXT NOT NULL,
        PRIMARY KEY (name, version)
    ) STRICT;",
];

pub(super) fn apply(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(StoreError::Migration(format!(
            "the database has schema version {current}, newer than this build knows ({known}); \
             upgrade Lambent or use another data directory"
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Migration(format!("step {version}: {e}")))?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}
