//! Pre-started runtimes: the cold start's expensive part, done before anyone asks.
//!
//! A Python or Node environment's cold start is mostly the sandbox set-up and the interpreter's
//! own start (tens of milliseconds); the function's handler import and init code are usually a
//! small part. So for each runtime that has been used, a few sandboxes are kept ready with the
//! interpreter started and the bootstrap waiting for a function (the SOCK idea of a pre-imported
//! runtime, without sharing one process between sandboxes). A cold start takes one, attaches the
//! function's code, limits and variables, and only the handler's import and init code remain.
//!
//! Each pre-started runtime is its own sandbox (namespaces, cgroup, `/tmp`) and becomes one
//! environment of one function, never returned: nothing is shared between environments, and
//! every process starts fresh (its own random seeds), unlike a fork or snapshot.
//!
//! Pre-started sandboxes are not counted in the memory budget: there are at most
//! `prestart_per_runtime` per runtime in use, at Lambda's smallest size, idle in a blocking read.

use crate::environment::{self, Prestarted};
use crate::live::LiveEnvironments;
use crate::settings::InvokerSettings;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub struct PrestartPool {
    settings: InvokerSettings,
    live: LiveEnvironments,
    /// Ready runtimes by runtime identifier.
    ready: Mutex<HashMap<String, Vec<Prestarted>>>,
    /// Runtimes with a refill task running (at most one each, so refills never pile up).
    filling: Mutex<HashSet<String>>,
    /// Set at shutdown: nothing new is started and what is ready is stopped.
    closed: AtomicBool,
}

impl PrestartPool {
    pub fn new(settings: InvokerSettings, live: LiveEnvironments) -> Arc<Self> {
        Arc::new(Self {
            settings,
            live,
            ready: Mutex::new(HashMap::new()),
            filling: Mutex::new(HashSet::new()),
            closed: AtomicBool::new(false),
        })
    }

    /// A ready runtime of `runtime_id`, if any. The caller then calls [`PrestartPool::refill`]
    /// once its start is done (whether it got one or not): the first cold start of a runtime is
    /// what makes the following ones fast.
    pub fn take(&self, runtime_id: &str) -> Option<Prestarted> {
        self.ready.lock().ok().and_then(|mut ready| {
            let list = ready.get_mut(runtime_id)?;
            // Drop runtimes that died while waiting (their sandbox is torn down on drop).
            list.retain(Prestarted::alive);
            list.pop()
        })
    }

    /// How many runtimes are ready, by runtime identifier (those with none are left out).
    pub fn ready_counts(&self) -> std::collections::BTreeMap<String, usize> {
        self.ready
            .lock()
            .map(|ready| {
                ready
                    .iter()
                    .map(|(runtime, list)| {
                        let alive = list.iter().filter(|p| p.alive()).count();
                        (runtime.clone(), alive)
                    })
                    .filter(|(_, n)| *n > 0)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many runtimes of `runtime_id` are ready.
    pub fn ready_count(&self, runtime_id: &str) -> usize {
        self.ready
            .lock()
            .map(|ready| ready.get(runtime_id).map_or(0, Vec::len))
            .unwrap_or(0)
    }

    /// Stops every ready runtime and starts no more.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let drained: Vec<Prestarted> = match self.ready.lock() {
            Ok(mut ready) => ready.drain().flat_map(|(_, list)| list).collect(),
            Err(_) => Vec::new(),
        };
        drop(drained);
    }

    /// Starts runtimes of `runtime_id` in the background until the pool has its target.
    pub fn refill(self: &Arc<Self>, runtime_id: &str) {
        if self.settings.prestart_per_runtime == 0
            || !environment::can_prestart(runtime_id, &self.settings)
        {
            return;
        }
        let Ok(mut filling) = self.filling.lock() else {
            return;
        };
        if self.closed.load(Ordering::SeqCst) || !filling.insert(runtime_id.to_owned()) {
            return;
        }
        drop(filling);
        let pool = Arc::clone(self);
        let runtime_id = runtime_id.to_owned();
        tokio::spawn(async move {
            // One at a time: a refill competes for CPU with the cold start that triggered it.
            while !pool.closed.load(Ordering::SeqCst)
                && pool.ready_count(&runtime_id) < pool.settings.prestart_per_runtime
            {
                match environment::prestart(&runtime_id, &pool.settings, pool.live.guard()).await {
                    Ok(prestarted) => {
                        if let Ok(mut ready) = pool.ready.lock()
                            && !pool.closed.load(Ordering::SeqCst)
                        {
                            ready
                                .entry(runtime_id.clone())
                                .or_default()
                                .push(prestarted);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(runtime = %runtime_id, error = %e, "cannot pre-start a runtime");
                        break;
                    }
                }
            }
            if let Ok(mut filling) = pool.filling.lock() {
                filling.remove(&runtime_id);
            }
        });
    }
}
