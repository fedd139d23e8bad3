//! Counting environments whose processes may still exist, so that shutdown can wait until every
//! sandbox has been torn down (no process, cgroup or mount left behind).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct LiveEnvironments {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    count: AtomicUsize,
    changed: Notify,
}

/// Held while an environment's processes may exist; dropping it marks the teardown done.
pub struct LiveGuard {
    inner: Arc<Inner>,
}

impl LiveEnvironments {
    pub fn guard(&self) -> LiveGuard {
        self.inner.count.fetch_add(1, Ordering::SeqCst);
        LiveGuard {
            inner: Arc::clone(&self.inner),
        }
    }

    /// Waits until no environment is alive, or `limit` passed; returns how many remain.
    pub async fn wait_until_none(&self, limit: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.inner.changed.notified();
            let remaining = self.inner.count.load(Ordering::SeqCst);
            if remaining == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.inner.count.load(Ordering::SeqCst);
            }
        }
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.inner.count.fetch_sub(1, Ordering::SeqCst);
        self.inner.changed.notify_waiters();
    }
}
