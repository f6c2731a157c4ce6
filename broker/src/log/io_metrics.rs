//! How long the log's blocking I/O takes: fsyncs by cause, appends (the
//! write an append does on the thread that runs it) and how long acks=all
//! waits for durability. Issue 17's tails are explained by these three
//! (which one grows when a connection stalls), so they are always on.
//!
//! Process-wide, as the fsync threads are: a log has no handle on the
//! broker's registry, and every broker in one process shares the disk.

use std::sync::LazyLock;
use std::time::Instant;

use prometheus::core::Collector;
use prometheus::{Histogram, HistogramOpts, HistogramVec};

/// Seconds, from 50 µs (a page-cache write) to 5 s (a stalled disk).
const BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    5.0,
];

/// Why an fsync ran.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FsyncCause {
    /// acks=all on a single replica: the group commit.
    GroupCommit,
    /// The old segment at a roll.
    Roll,
    /// `flush.messages` / `flush.ms`, or shutdown.
    Periodic,
}

impl FsyncCause {
    fn label(self) -> &'static str {
        match self {
            Self::GroupCommit => "group_commit",
            Self::Roll => "roll",
            Self::Periodic => "periodic",
        }
    }
}

/// The log's I/O timings; see the module doc.
#[derive(Debug)]
pub struct LogIoMetrics {
    fsync: HistogramVec,
    append: Histogram,
    durable_wait: Histogram,
}

static METRICS: LazyLock<LogIoMetrics> = LazyLock::new(|| {
    LogIoMetrics {
    fsync: HistogramVec::new(
        HistogramOpts::new(
            "karst_log_fsync_seconds",
            "Duration of each log fsync, by cause (group_commit, roll, periodic)",
        )
        .buckets(BUCKETS.to_vec()),
        &["cause"],
    )
    .expect("valid metric"),
    append: Histogram::with_opts(
        HistogramOpts::new(
            "karst_log_append_seconds",
            "Duration of each append to a partition log (validate, write, roll), on the thread that runs it",
        )
        .buckets(BUCKETS.to_vec()),
    )
    .expect("valid metric"),
    durable_wait: Histogram::with_opts(
        HistogramOpts::new(
            "karst_log_durable_wait_seconds",
            "Time an acks=all produce on a single replica waits for the group commit's fsync",
        )
        .buckets(BUCKETS.to_vec()),
    )
    .expect("valid metric"),
}
});

/// The process' log I/O timings.
pub fn log_io_metrics() -> &'static LogIoMetrics {
    &METRICS
}

impl LogIoMetrics {
    pub(crate) fn fsync_done(&self, cause: FsyncCause, started: Instant) {
        self.fsync
            .with_label_values(&[cause.label()])
            .observe(started.elapsed().as_secs_f64());
    }

    pub(crate) fn append_done(&self, started: Instant) {
        self.append.observe(started.elapsed().as_secs_f64());
    }

    pub(crate) fn durable_wait_done(&self, started: Instant) {
        self.durable_wait.observe(started.elapsed().as_secs_f64());
    }

    /// Every collector, for the broker's registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.fsync.clone()),
            Box::new(self.append.clone()),
            Box::new(self.durable_wait.clone()),
        ]
    }
}
