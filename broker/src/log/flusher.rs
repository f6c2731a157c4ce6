//! The log flusher: a few threads of their own that run the fsyncs acks=all
//! waits for (the group commit) and publish each log's flushed offset, as
//! Kafka keeps its log flusher apart from its network threads. An fsync
//! here never occupies an async worker or a slot of the blocking pool, and
//! the produce requests waiting for it only await a wake-up.
//!
//! A log is queued at most once at a time; the fsync it gets covers every
//! append made before the fsync started, so concurrent waiters share it
//! (group commit). Several threads let fsyncs of different partitions
//! overlap: the file system commits concurrent fsyncs in one journal
//! transaction, so they cost little more than one.
//!
//! Process-wide, like the blocking pool: every broker in one process (tests
//! run several) shares the disk and these threads.

use std::collections::VecDeque;
use std::sync::{Arc, LazyLock};

use parking_lot::{Condvar, Mutex};

use super::PartitionLog;

/// Flusher threads. Small: each mostly waits on the disk, and more
/// overlapping fsyncs than partitions being produced to gain nothing.
const FLUSH_THREADS: usize = 4;

/// Logs waiting for an fsync, served in order.
#[derive(Default)]
struct Queue {
    logs: Mutex<VecDeque<Arc<PartitionLog>>>,
    ready: Condvar,
}

static QUEUE: LazyLock<Arc<Queue>> = LazyLock::new(|| {
    let queue = Arc::new(Queue::default());
    for i in 0..FLUSH_THREADS {
        let queue = queue.clone();
        std::thread::Builder::new()
            .name(format!("karst-log-flusher-{i}"))
            .spawn(move || queue.serve())
            .expect("start a log flusher thread");
    }
    queue
});

impl Queue {
    fn serve(&self) {
        loop {
            let log = {
                let mut logs = self.logs.lock();
                loop {
                    match logs.pop_front() {
                        Some(log) => break log,
                        None => self.ready.wait(&mut logs),
                    }
                }
            };
            if log.group_commit_fsync() {
                self.push(log);
            }
        }
    }

    fn push(&self, log: Arc<PartitionLog>) {
        self.logs.lock().push_back(log);
        self.ready.notify_one();
    }
}

/// Queues `log` for an fsync by the flusher threads (the caller checked it
/// is not queued already).
pub(super) fn enqueue(log: Arc<PartitionLog>) {
    QUEUE.push(log);
}
