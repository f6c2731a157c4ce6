//! Leader election with a coordination.k8s.io Lease, so that several
//! operator replicas can run and only the Lease holder reconciles.

use std::future::Future;

use kube::Client;
use kube_lease_manager::{DurationSeconds, LeaseManagerBuilder};
use tokio::sync::watch;

use crate::metrics::Metrics;

/// Lease settings.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// Name of the Lease object.
    pub name: String,
    /// Namespace of the Lease object.
    pub namespace: String,
    /// This process's identity (the Pod name in a cluster).
    pub identity: String,
    /// Seconds a lock stays valid without renewal.
    pub duration: DurationSeconds,
    /// Seconds before expiry at which the holder renews.
    pub grace: DurationSeconds,
}

/// Leader election failed to start.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// Creating or reading the Lease failed.
    #[error("lease {name}: {source}")]
    Lease {
        /// Lease name.
        name: String,
        /// Underlying error.
        source: kube_lease_manager::LeaseManagerError,
    },
    /// The task renewing the Lease stopped (e.g. the API server is gone).
    #[error("lease {0}: the renewal task stopped")]
    Stopped(String),
}

/// Runs `work` whenever this process holds the Lease; `work` receives a future
/// that resolves when leadership is lost or `shutdown` fires, and must stop then.
/// Returns after `shutdown` fires, releasing the Lease.
pub async fn run_as_leader<W, Fut>(
    client: Client,
    settings: LeaseSettings,
    metrics: Metrics,
    mut shutdown: watch::Receiver<bool>,
    mut work: W,
) -> Result<(), LeaderError>
where
    W: FnMut(std::pin::Pin<Box<dyn Future<Output = ()> + Send + Sync>>) -> Fut,
    Fut: Future<Output = ()>,
{
    let manager = LeaseManagerBuilder::new(client, settings.name.clone())
        .with_namespace(settings.namespace.clone())
        .with_identity(settings.identity.clone())
        .with_duration(settings.duration)
        .with_grace(settings.grace)
        .build()
        .await
        .map_err(|source| LeaderError::Lease {
            name: settings.name.clone(),
            source,
        })?;
    let (mut leader, lease_task) = manager.watch().await;
    let mut lease_lost = false;
    loop {
        // Wait for leadership or shutdown.
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|stop| *stop) => break,
            changed = leader.wait_for(|is_leader| *is_leader) => if changed.is_err() { lease_lost = true; break },
        }
        tracing::info!(identity = %settings.identity, "acquired leader lease; starting controllers");
        metrics.set_leader(true);
        let mut lost = leader.clone();
        let mut stop = shutdown.clone();
        let stop_signal: std::pin::Pin<Box<dyn Future<Output = ()> + Send + Sync>> =
            Box::pin(async move {
                tokio::select! {
                    _ = lost.wait_for(|is_leader| !*is_leader) => {},
                    _ = stop.wait_for(|stop| *stop) => {},
                }
            });
        work(stop_signal).await;
        metrics.set_leader(false);
        if *shutdown.borrow() {
            break;
        }
        tracing::warn!(identity = %settings.identity, "lost leader lease; controllers stopped");
    }
    // Closing the channel makes the manager release the Lease.
    drop(leader);
    match lease_task.await {
        Ok(Ok(_)) => tracing::info!("leader lease released"),
        Ok(Err(e)) => tracing::warn!(error = %e, "releasing leader lease failed"),
        Err(e) => tracing::warn!(error = %e, "lease task failed"),
    }
    if lease_lost {
        return Err(LeaderError::Stopped(settings.name));
    }
    Ok(())
}
