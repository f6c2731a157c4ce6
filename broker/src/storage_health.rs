//! Storage health, checked every second and reported on `/readyz`.
//!
//! Free space of the data directory: while it is below one largest batch
//! (`message.max.bytes`), every produce would fail with KAFKA_STORAGE_ERROR,
//! so `/readyz` says not ready and why, and Kubernetes stops sending traffic
//! until space is freed (DeleteTopics and DeleteRecords still work on a full
//! disk). Damaged partitions: a partition whose log cannot be read in part
//! is offline for those offsets, not the broker: `/readyz` lists it (still
//! ready) and `karst_partition_damaged` marks it.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::broker::Broker;
use crate::http::Health;

/// The key of the free-space problem in [`Health`].
const PROBLEM: &str = "disk";

/// Runs until `shutdown`, reporting every damaged hosted partition as a
/// `/readyz` detail and a metric.
pub(crate) async fn watch_partitions(
    broker: Arc<Broker>,
    health: Health,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut reported: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let mut damaged = HashSet::new();
        for partition in broker.replicas.all() {
            let Some(damage) = partition.damage() else {
                continue;
            };
            let key = format!("{}-{}", partition.topic, partition.index);
            broker
                .metrics
                .set_partition_damaged(&partition.topic, partition.index, true);
            health.set_detail(&key, Some(format!("partition {key} damaged: {damage}")));
            damaged.insert(key);
        }
        for gone in reported.difference(&damaged) {
            health.set_detail(gone, None);
        }
        reported = damaged;
    }
}

/// Runs until `shutdown`, keeping the "disk" problem of `health` current.
pub(crate) async fn watch_free_space(
    dir: PathBuf,
    min_free: u64,
    health: Health,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let problem = match rustix::fs::statvfs(&dir) {
            Ok(stats) => {
                let free = stats.f_bavail.saturating_mul(stats.f_frsize);
                (free < min_free).then(|| {
                    format!(
                        "disk full: {free} bytes free in {}, less than message.max.bytes ({min_free}); writes are refused",
                        dir.display()
                    )
                })
            }
            Err(error) => Some(format!(
                "cannot check free space of {}: {error}",
                dir.display()
            )),
        };
        let reason = problem.clone();
        if health.set_problem(PROBLEM, problem) {
            match reason {
                Some(reason) => tracing::warn!("{reason}"),
                None => tracing::info!(dir = %dir.display(), "disk space available again"),
            }
        }
    }
}
