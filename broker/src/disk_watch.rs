//! Free space of the data directory, checked every second: while it is
//! below one largest batch (`message.max.bytes`), every produce would fail
//! with KAFKA_STORAGE_ERROR, so `/readyz` says not ready and why, and
//! Kubernetes stops sending traffic until space is freed (DeleteTopics and
//! DeleteRecords still work on a full disk).

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

use crate::http::Health;

/// The key of this check's problem in [`Health`].
const PROBLEM: &str = "disk";

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
