//! Capture of one environment's stdout and stderr as log events.
//!
//! A collector task reads both pipes, splits lines, stores them through the [`LogSink`] and keeps
//! the lines since the last [`LogCapture::drain`]. Draining is how the invoker attributes output
//! to an invocation without sleeping: the runtime writes its output before it posts the result, so
//! once the result has arrived, everything the invocation printed is already in the pipes and a
//! non-blocking read to `WouldBlock` collects all of it.

use lambent_telemetry::{LogBatch, LogEvent, LogSink};
use std::os::fd::OwnedFd;
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};

/// CloudWatch's largest event; longer lines are split.
const MAX_EVENT_BYTES: usize = 256 * 1024;

pub struct LogCapture {
    drain: mpsc::Sender<oneshot::Sender<Vec<String>>>,
    sink: LogSink,
    group: String,
    stream: String,
}

impl LogCapture {
    pub fn start(
        outputs: Vec<OwnedFd>,
        sink: LogSink,
        group: String,
        stream: String,
    ) -> std::io::Result<Self> {
        let mut readers = Vec::new();
        for fd in outputs {
            readers.push(pipe::Receiver::from_owned_fd(fd)?);
        }
        let (drain_tx, drain_rx) = mpsc::channel(1);
        let collector = Collector {
            sink: sink.clone(),
            group: group.clone(),
            stream: stream.clone(),
            pending: Vec::new(),
            partial: vec![Vec::new(); readers.len()],
        };
        tokio::spawn(collector.run(readers, drain_rx));
        Ok(Self {
            drain: drain_tx,
            sink,
            group,
            stream,
        })
    }

    /// Everything the environment wrote since the previous drain, as lines.
    pub async fn drain(&self) -> Vec<String> {
        let (tx, rx) = oneshot::channel();
        if self.drain.send(tx).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Stores lines produced by the platform itself (START, END, REPORT, ...).
    pub async fn platform(&self, lines: &[String]) {
        self.sink
            .append(batch_now(&self.group, &self.stream, lines))
            .await;
    }
}

struct Collector {
    sink: LogSink,
    group: String,
    stream: String,
    /// Lines since the last drain.
    pending: Vec<String>,
    /// Unterminated line per pipe.
    partial: Vec<Vec<u8>>,
}

impl Collector {
    async fn run(
        mut self,
        mut readers: Vec<pipe::Receiver>,
        mut drain: mpsc::Receiver<oneshot::Sender<Vec<String>>>,
    ) {
        let mut open: Vec<bool> = vec![true; readers.len()];
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if !open.iter().any(|o| *o) {
                // Both pipes closed: still answer drains until the capture is dropped.
                match drain.recv().await {
                    Some(reply) => {
                        self.flush_partials().await;
                        let _ = reply.send(std::mem::take(&mut self.pending));
                        continue;
                    }
                    None => return,
                }
            }
            tokio::select! {
                request = drain.recv() => {
                    let Some(reply) = request else { return };
                    for (index, reader) in readers.iter_mut().enumerate() {
                        while open[index] {
                            match reader.try_read(&mut buf) {
                                Ok(0) => open[index] = false,
                                Ok(n) => self.ingest(index, &buf[..n]).await,
                                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                                Err(_) => open[index] = false,
                            }
                        }
                    }
                    self.flush_partials().await;
                    let _ = reply.send(std::mem::take(&mut self.pending));
                }
                (index, result) = read_any(&readers, &open, &mut buf) => {
                    match result {
                        Ok(0) | Err(_) => open[index] = false,
                        Ok(n) => {
                            let chunk = buf[..n].to_vec();
                            self.ingest(index, &chunk).await;
                        }
                    }
                }
            }
        }
    }

    async fn ingest(&mut self, index: usize, bytes: &[u8]) {
        let mut lines = Vec::new();
        let partial = &mut self.partial[index];
        for &byte in bytes {
            partial.push(byte);
            if byte == b'\n' || partial.len() >= MAX_EVENT_BYTES {
                lines.push(String::from_utf8_lossy(partial).into_owned());
                partial.clear();
            }
        }
        self.emit(lines).await;
    }

    async fn flush_partials(&mut self) {
        let mut lines = Vec::new();
        for partial in &mut self.partial {
            if !partial.is_empty() {
                let mut line = String::from_utf8_lossy(partial).into_owned();
                line.push('\n');
                lines.push(line);
                partial.clear();
            }
        }
        self.emit(lines).await;
    }

    async fn emit(&mut self, lines: Vec<String>) {
        if lines.is_empty() {
            return;
        }
        self.sink
            .append(batch_now(&self.group, &self.stream, &lines))
            .await;
        self.pending.extend(lines);
    }
}

/// Reads from whichever open pipe has data first.
async fn read_any(
    readers: &[pipe::Receiver],
    open: &[bool],
    buf: &mut [u8],
) -> (usize, std::io::Result<usize>) {
    loop {
        let ready = std::future::poll_fn(|cx| {
            for (index, reader) in readers.iter().enumerate() {
                if open[index] && reader.poll_read_ready(cx).is_ready() {
                    return std::task::Poll::Ready(index);
                }
            }
            std::task::Poll::Pending
        })
        .await;
        match readers[ready].try_read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            other => return (ready, other),
        }
    }
}

/// Log events for `lines`, stamped now.
fn batch_now(group: &str, stream: &str, lines: &[String]) -> LogBatch {
    let now = now_ms();
    LogBatch {
        group: group.to_owned(),
        stream: stream.to_owned(),
        events: lines
            .iter()
            .map(|message| LogEvent {
                timestamp_ms: now,
                message: message.clone(),
            })
            .collect(),
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
