//! Per-function scaling state for operators and the metrics work: environments by state, cold
//! starts and throttles since the server started.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// A snapshot of one function's scaling.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FunctionScaling {
    pub function: String,
    /// Environments running an invocation.
    pub busy: u64,
    /// Warm environments waiting for an invocation (provisioned ones included).
    pub idle: u64,
    /// Environments being started (Init).
    pub initializing: u64,
    /// Environments started for an invocation (not provisioned ones).
    pub cold_starts: u64,
    /// Invocations refused with TooManyRequestsException.
    pub throttles: u64,
    /// Ids of the live environments (each names its cgroup, `lambent/<id>`, and ends its log
    /// stream names), so an operator can find an environment's processes on the host.
    pub environment_ids: Vec<String>,
}

#[derive(Default)]
pub struct ScalingCounters {
    by_function: Mutex<HashMap<String, Counters>>,
}

#[derive(Default)]
struct Counters {
    initializing: u64,
    cold_starts: u64,
    throttles: u64,
    environments: BTreeSet<String>,
}

/// Lists a live environment under its function until dropped (with the environment).
pub struct EnvironmentTicket {
    counters: Arc<ScalingCounters>,
    function: String,
    id: String,
}

impl Drop for EnvironmentTicket {
    fn drop(&mut self) {
        self.counters
            .with(&self.function, |c| c.environments.remove(&self.id));
    }
}

/// Marks an environment start in progress; dropping it ends the "initializing" state.
pub struct Initializing<'a> {
    counters: &'a ScalingCounters,
    function: String,
}

impl ScalingCounters {
    fn with<T>(&self, function: &str, change: impl FnOnce(&mut Counters) -> T) -> Option<T> {
        let mut map = self.by_function.lock().ok()?;
        Some(change(map.entry(function.to_owned()).or_default()))
    }

    pub fn throttled(&self, function: &str) {
        self.with(function, |c| c.throttles += 1);
    }

    /// An environment start begins; `cold` when it serves an invocation (a cold start).
    pub fn initializing(&self, function: &str, cold: bool) -> Initializing<'_> {
        self.with(function, |c| {
            c.initializing += 1;
            if cold {
                c.cold_starts += 1;
            }
        });
        Initializing {
            counters: self,
            function: function.to_owned(),
        }
    }

    /// Lists environment `id` under `function` for as long as the ticket lives.
    pub fn register(self: &Arc<Self>, function: &str, id: &str) -> EnvironmentTicket {
        self.with(function, |c| c.environments.insert(id.to_owned()));
        EnvironmentTicket {
            counters: Arc::clone(self),
            function: function.to_owned(),
            id: id.to_owned(),
        }
    }

    /// Combines the counters with the current busy and idle counts.
    pub fn snapshot(
        &self,
        busy: &HashMap<String, u32>,
        idle: &HashMap<String, usize>,
    ) -> Vec<FunctionScaling> {
        let Ok(map) = self.by_function.lock() else {
            return Vec::new();
        };
        let mut names: Vec<&String> = map.keys().chain(busy.keys()).chain(idle.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|name| {
                let counters = map.get(name);
                FunctionScaling {
                    function: name.clone(),
                    busy: busy.get(name).copied().map_or(0, u64::from),
                    idle: idle.get(name).map_or(0, |n| *n as u64),
                    initializing: counters.map_or(0, |c| c.initializing),
                    cold_starts: counters.map_or(0, |c| c.cold_starts),
                    throttles: counters.map_or(0, |c| c.throttles),
                    environment_ids: counters
                        .map(|c| c.environments.iter().cloned().collect())
                        .unwrap_or_default(),
                }
            })
            .collect()
    }
}

impl Drop for Initializing<'_> {
    fn drop(&mut self) {
        self.counters.with(&self.function, |c| {
            c.initializing = c.initializing.saturating_sub(1)
        });
    }
}
