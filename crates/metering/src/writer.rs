//! The one writer thread: applies records to the metrics and batches usage into SQLite.

use crate::Message;
use crate::metrics::Metrics;
use crate::usage::{Pending, UsageDb};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long usage may sit in memory before it is written (a crash can lose at most this much;
/// a clean shutdown flushes, losing nothing).
const WRITE_PERIOD: Duration = Duration::from_secs(2);

pub(crate) fn spawn(
    rx: Receiver<Message>,
    db: UsageDb,
    metrics: Arc<Mutex<Metrics>>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("lambent-metering".into())
        .spawn(move || run(rx, db, metrics))
        .map(|_| ())
}

fn run(rx: Receiver<Message>, mut db: UsageDb, metrics: Arc<Mutex<Metrics>>) {
    let mut pending = Pending::default();
    let mut last_write = Instant::now();
    loop {
        let message = match rx.recv_timeout(WRITE_PERIOD) {
            Ok(message) => Some(message),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                write(&mut db, &mut pending);
                return;
            }
        };
        match message {
            Some(Message::Record(record)) => {
                if let Ok(mut m) = metrics.lock() {
                    m.apply(&record);
                }
                pending.add(&record);
            }
            Some(Message::Begin(function, at_ms)) => {
                if let Ok(mut m) = metrics.lock() {
                    m.begin(&function, at_ms);
                }
            }
            Some(Message::End(function)) => {
                if let Ok(mut m) = metrics.lock() {
                    m.end(&function);
                }
            }
            Some(Message::Flush(done)) => {
                write(&mut db, &mut pending);
                last_write = Instant::now();
                let _ = done.send(());
            }
            Some(Message::Usage(granularity, done)) => {
                write(&mut db, &mut pending);
                last_write = Instant::now();
                let _ = done.send(db.report(granularity));
            }
            None => {}
        }
        if !pending.is_empty() && last_write.elapsed() >= WRITE_PERIOD {
            write(&mut db, &mut pending);
            last_write = Instant::now();
        }
    }
}

fn write(db: &mut UsageDb, pending: &mut Pending) {
    if let Err(e) = db.write(pending) {
        // Kept in `pending`: retried on the next write.
        tracing::error!(error = %e, "writing usage failed");
    }
}
