//! Provisioned concurrency: a reconciler keeps the requested number of initialised environments
//! per configuration, re-creating any that die. They are pinned: never reaped for idleness nor
//! reclaimed for memory, and invocations take them before other warm environments.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// (function, qualifier) of a provisioned-concurrency configuration.
pub type ProvisionedKey = (String, String);

/// Marks an environment as one of a configuration's provisioned environments for as long as it
/// lives: the configuration's allocation counts it.
pub struct PinnedSlot {
    pub key: ProvisionedKey,
    allocated: Arc<AtomicUsize>,
}

impl Drop for PinnedSlot {
    fn drop(&mut self) {
        self.allocated.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Allocation counters per configuration.
#[derive(Default)]
pub struct Allocations {
    counters: Mutex<HashMap<ProvisionedKey, Arc<AtomicUsize>>>,
}

impl Allocations {
    /// A new pinned slot for `key` (counted from now on).
    pub fn pin(&self, key: &ProvisionedKey) -> PinnedSlot {
        let allocated = self.counter(key);
        allocated.fetch_add(1, Ordering::SeqCst);
        PinnedSlot {
            key: key.clone(),
            allocated,
        }
    }

    /// Initialised environments of a configuration (busy or idle).
    pub fn allocated(&self, key: &ProvisionedKey) -> usize {
        self.counter(key).load(Ordering::SeqCst)
    }

    fn counter(&self, key: &ProvisionedKey) -> Arc<AtomicUsize> {
        match self.counters.lock() {
            Ok(mut counters) => Arc::clone(counters.entry(key.clone()).or_default()),
            Err(_) => Arc::new(AtomicUsize::new(0)),
        }
    }
}
