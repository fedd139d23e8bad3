//! The route table's own SQLite file (`routes.sqlite3`): one row per route, the table kept in
//! memory for matching. A change is in memory only after it committed, so what is served is
//! always what survives a restart. Writes are rare (deployments); callers run them off the async
//! threads.

use super::{Route, RouteError, validate};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error(transparent)]
    Invalid(#[from] RouteError),
    #[error("a route with key {0} exists already")]
    Conflict(String),
    #[error("route {0} not found")]
    NotFound(String),
    #[error("route storage failed: {0}")]
    Storage(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Storage(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Storage(e.to_string())
    }
}

pub struct RouteStore {
    db: Mutex<Connection>,
    routes: RwLock<Arc<Vec<Route>>>,
}

impl RouteStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Connection::open(path)?;
        db.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS routes (
                 route_id TEXT PRIMARY KEY,
                 route_key TEXT NOT NULL UNIQUE,
                 body TEXT NOT NULL
             );",
        )?;
        let routes = {
            let mut statement = db.prepare("SELECT body FROM routes ORDER BY route_key")?;
            let bodies = statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            bodies
                .iter()
                .map(|b| serde_json::from_str::<Route>(b))
                .collect::<Result<Vec<_>, _>>()?
        };
        Ok(Self {
            db: Mutex::new(db),
            routes: RwLock::new(Arc::new(routes)),
        })
    }

    /// The current table (a snapshot: later changes do not alter it).
    pub fn routes(&self) -> Arc<Vec<Route>> {
        self.routes
            .read()
            .map(|r| Arc::clone(&r))
            .unwrap_or_default()
    }

    pub fn get(&self, route_id: &str) -> Option<Route> {
        self.routes()
            .iter()
            .find(|r| r.route_id == route_id)
            .cloned()
    }

    pub fn create(&self, route: Route) -> Result<Route, StoreError> {
        validate(&route)?;
        let db = self.lock()?;
        let exists: Option<String> = db
            .query_row(
                "SELECT route_id FROM routes WHERE route_key = ?1",
                params![route.route_key],
                |row| row.get(0),
            )
            .optional()?;
        if exists.is_some() {
            return Err(StoreError::Conflict(route.route_key));
        }
        db.execute(
            "INSERT INTO routes (route_id, route_key, body) VALUES (?1, ?2, ?3)",
            params![
                route.route_id,
                route.route_key,
                serde_json::to_string(&route)?
            ],
        )?;
        self.reload(&db)?;
        Ok(route)
    }

    /// Replaces a route's settings (its id and creation time stay).
    pub fn update(&self, route: Route) -> Result<Route, StoreError> {
        validate(&route)?;
        let db = self.lock()?;
        let clash: Option<String> = db
            .query_row(
                "SELECT route_id FROM routes WHERE route_key = ?1 AND route_id <> ?2",
                params![route.route_key, route.route_id],
                |row| row.get(0),
            )
            .optional()?;
        if clash.is_some() {
            return Err(StoreError::Conflict(route.route_key));
        }
        let changed = db.execute(
            "UPDATE routes SET route_key = ?2, body = ?3 WHERE route_id = ?1",
            params![
                route.route_id,
                route.route_key,
                serde_json::to_string(&route)?
            ],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(route.route_id));
        }
        self.reload(&db)?;
        Ok(route)
    }

    pub fn delete(&self, route_id: &str) -> Result<(), StoreError> {
        let db = self.lock()?;
        let changed = db.execute("DELETE FROM routes WHERE route_id = ?1", params![route_id])?;
        if changed == 0 {
            return Err(StoreError::NotFound(route_id.to_owned()));
        }
        self.reload(&db)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.db
            .lock()
            .map_err(|_| StoreError::Storage("route store lock poisoned".into()))
    }

    /// Re-reads the table after a commit, under the connection lock so that snapshots are
    /// published in commit order.
    fn reload(&self, db: &Connection) -> Result<(), StoreError> {
        let mut statement = db.prepare("SELECT body FROM routes ORDER BY route_key")?;
        let bodies = statement
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        let routes = bodies
            .iter()
            .map(|b| serde_json::from_str::<Route>(b))
            .collect::<Result<Vec<_>, _>>()?;
        if let Ok(mut current) = self.routes.write() {
            *current = Arc::new(routes);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(id: &str, key: &str) -> Route {
        Route {
            route_id: id.into(),
            route_key: key.into(),
            function: "f".into(),
            qualifier: None,
            payload_format_version: "2.0".into(),
            timeout_ms: 1000,
            created: chrono::Utc::now(),
        }
    }

    #[test]
    fn routes_survive_reopening_and_keys_are_unique() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("routes.sqlite3");
        {
            let store = RouteStore::open(&path).expect("open");
            store.create(route("a", "GET /x")).expect("create");
            assert!(matches!(
                store.create(route("b", "GET /x")),
                Err(StoreError::Conflict(_))
            ));
            assert!(matches!(
                store.create(route("c", "GET x")),
                Err(StoreError::Invalid(_))
            ));
            store.create(route("d", "$default")).expect("create");
            let mut changed = route("d", "ANY /{proxy+}");
            changed.payload_format_version = "1.0".into();
            store.update(changed).expect("update");
            assert!(matches!(store.delete("zz"), Err(StoreError::NotFound(_))));
        }
        let store = RouteStore::open(&path).expect("reopen");
        let keys: Vec<String> = store.routes().iter().map(|r| r.route_key.clone()).collect();
        assert_eq!(keys, vec!["ANY /{proxy+}", "GET /x"]);
        assert_eq!(
            store.get("d").map(|r| r.payload_format_version),
            Some("1.0".to_owned())
        );
        store.delete("a").expect("delete");
        assert_eq!(store.routes().len(), 1);
    }
}
