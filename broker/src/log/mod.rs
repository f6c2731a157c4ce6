//! The durable log of each partition, in Kafka's on-disk layout.
//!
//! A partition is a directory `<topic>-<partition>` of segments named by
//! their 20-digit base offset: `.log` holds RecordBatch v2 bytes exactly as
//! produced (only the base offset, and timestamps under LogAppendTime, are
//! patched), `.index` maps offsets to file positions, `.timeindex` maps
//! timestamps to offsets. Batches are validated (magic, lengths, CRC32C)
//! before they are appended; fetches return file slices of raw batches
//! (sent with `sendfile`) without decoding records. After a crash, the tail
//! of each log is verified and a torn write cut off; a clean-shutdown marker
//! skips that scan. Every start checks the index files against the log and
//! rebuilds those that do not fit (an index never makes a start cut records),
//! and checks the last batch of each closed segment: a damaged closed
//! segment is kept as it is and takes its partition offline for the offsets
//! it cannot serve, never the broker.

mod batch;
mod checkpoint;
mod cleaner;
mod config;
mod error;
mod flusher;
mod index;
mod io_lanes;
mod io_metrics;
mod leader_epoch;
mod manager;
mod partition;
mod producer_snapshot;
mod segment;
mod slice;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;

use std::sync::Arc;
use std::time::Duration;

/// A RecordBatch v2 of `n` records, for tests of the layers above the log.
#[cfg(test)]
pub(crate) use batch::tests::batch as test_batch;
pub use batch::{BatchHeader, HEADER_SIZE};
pub use cleaner::CompactionOutcome;
pub use config::{LogConfig, LogConfigError, TimestampType};
pub use error::LogError;
pub use io_lanes::{Completion, IoLane, LaneError, set_io_threads};
pub use io_metrics::{LogIoMetrics, log_io_metrics};
pub use manager::LogManager;
pub use partition::{AppendInfo, PartitionLog};
pub use slice::FileSlice;

/// Applies retention every `interval` (`log.retention.check.interval.ms`),
/// and periodic flushes and compaction every second, until `shutdown`.
pub async fn run_retention(
    logs: Arc<LogManager>,
    interval: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(
        interval
            .min(Duration::from_secs(1))
            .max(Duration::from_millis(10)),
    );
    let mut last_retention = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let logs = logs.clone();
        let due = last_retention.elapsed() >= interval;
        if due {
            last_retention = tokio::time::Instant::now();
        }
        let _ = tokio::task::spawn_blocking(move || {
            if due {
                logs.run_retention(now);
            } else {
                for log in logs.all() {
                    if let Err(error) = log.flush_if_due(now) {
                        tracing::error!(%error, "periodic flush failed");
                    }
                }
            }
            // Cheap when no segment was closed since the last pass.
            for log in logs.all() {
                if let Err(error) = log.compact(now) {
                    tracing::error!(%error, "compaction failed");
                }
            }
        })
        .await;
    }
}
