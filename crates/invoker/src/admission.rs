//! Admission: Lambda's concurrency limits. A function with reserved concurrency may run that many
//! invocations at once; all other functions share the account's unreserved pool. Beyond either,
//! the call is throttled (429 with Lambda's `Reason`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Lambda's `Reason` values for TooManyRequestsException.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThrottleReason {
    /// The account's (unreserved) concurrency is exhausted, or the host's memory budget.
    ConcurrentInvocationLimitExceeded,
    /// The function's reserved concurrency is exhausted (or is 0).
    ReservedFunctionConcurrentInvocationLimitExceeded,
}

impl ThrottleReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ThrottleReason::ConcurrentInvocationLimitExceeded => {
                "ConcurrentInvocationLimitExceeded"
            }
            ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded => {
                "ReservedFunctionConcurrentInvocationLimitExceeded"
            }
        }
    }
}

#[derive(Default)]
pub struct Admission {
    counts: Arc<Mutex<Counts>>,
}

#[derive(Default)]
struct Counts {
    /// In-flight invocations of functions without a reservation.
    unreserved: u64,
    /// In-flight invocations per function.
    per_function: HashMap<String, u32>,
}

/// One admitted invocation; dropping it frees its slot.
pub struct Ticket {
    counts: Arc<Mutex<Counts>>,
    function: String,
    unreserved: bool,
}

impl Admission {
    /// Admits one invocation of `function`, or says why it is throttled.
    pub fn admit(
        &self,
        function: &str,
        reserved: Option<u32>,
        unreserved_capacity: u64,
    ) -> Result<Ticket, ThrottleReason> {
        let mut counts = self
            .counts
            .lock()
            .map_err(|_| ThrottleReason::ConcurrentInvocationLimitExceeded)?;
        let running = counts.per_function.get(function).copied().unwrap_or(0);
        match reserved {
            Some(limit) if running >= limit => {
                return Err(ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded);
            }
            Some(_) => {}
            None if counts.unreserved >= unreserved_capacity => {
                return Err(ThrottleReason::ConcurrentInvocationLimitExceeded);
            }
            None => counts.unreserved += 1,
        }
        *counts.per_function.entry(function.to_owned()).or_default() += 1;
        Ok(Ticket {
            counts: Arc::clone(&self.counts),
            function: function.to_owned(),
            unreserved: reserved.is_none(),
        })
    }
}

impl Admission {
    /// In-flight invocations per function.
    pub fn in_flight(&self) -> HashMap<String, u32> {
        self.counts
            .lock()
            .map(|c| c.per_function.clone())
            .unwrap_or_default()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.counts.lock() {
            if self.unreserved {
                counts.unreserved = counts.unreserved.saturating_sub(1);
            }
            if let Some(running) = counts.per_function.get_mut(&self.function) {
                *running = running.saturating_sub(1);
                if *running == 0 {
                    counts.per_function.remove(&self.function);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_unreserved_limits() {
        let admission = Admission::default();
        assert_eq!(
            admission.admit("off", Some(0), 10).err(),
            Some(ThrottleReason::ReservedFunctionConcurrentInvocationLimitExceeded)
        );
        let first = admission.admit("r", Some(1), 10).expect("first");
        assert!(admission.admit("r", Some(1), 10).is_err());
        drop(first);
        assert!(admission.admit("r", Some(1), 10).is_ok());

        let a = admission.admit("a", None, 2).expect("a");
        let _b = admission.admit("b", None, 2).expect("b");
        assert_eq!(
            admission.admit("c", None, 2).err(),
            Some(ThrottleReason::ConcurrentInvocationLimitExceeded)
        );
        // A reserved function does not draw from the unreserved pool.
        assert!(admission.admit("r", Some(5), 2).is_ok());
        drop(a);
        let c = admission.admit("c", None, 2).expect("c");
        drop(c);
        let counts = admission.counts.lock().expect("lock");
        assert_eq!(
            counts.per_function.get("c"),
            None,
            "finished invocations free their slot"
        );
    }
}
