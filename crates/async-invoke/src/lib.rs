//! Asynchronous invocation (`InvocationType: Event`): a durable event queue, workers that run
//! events through the invoker, Lambda's retry schedule, and the dispatch of outcomes to
//! destinations and dead-letter queues.
//!
//! Delivery guarantees (see ARCHITECTURE.md): an event is journaled (committed and fsynced, with
//! group commit) before Invoke answers 202; it leaves the journal only after its final outcome
//! has been delivered to its destinations. Delivery to the function, and to destinations, is at
//! least once: a crash between running an event and journaling the result runs it again.

mod adapters;
mod engine;
mod event;
mod journal;
mod policy;
mod ports;
mod record;

pub use adapters::{InvokerRunner, ServiceFunctions};
pub use engine::{AsyncInvoke, EngineSettings, NewEvent};
pub use event::Condition;
pub use journal::{CommitStats, JournalError};
pub use policy::Schedule;
pub use ports::{
    AsyncSettings, Attempted, Delivery, Functions, MessageAttribute, QueueSender, ResolvedTarget,
    Runner,
};

/// Lambda's limit on an asynchronous invocation's payload (1 MB since late 2025).
pub const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;

#[cfg(test)]
mod tests;
