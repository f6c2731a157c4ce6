//! This broker's side of the KRaft broker lifecycle (KIP-631): it registers
//! with the active controller (a new broker epoch per process), heartbeats
//! every `broker.heartbeat.interval.ms` (the first heartbeat after catching
//! up unfences it), registers again when the controller no longer knows its
//! epoch, and asks to be fenced when it shuts down so leadership moves away
//! before it stops. Voters also run the fencing check that the active
//! controller acts on.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::controller::{ControllerChannel, Registration, TopicError};

/// How long a shutting-down broker waits for the controller to fence it.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(crate) struct BrokerLifecycle {
    controller: ControllerChannel,
    registration: Registration,
    controller_address: Option<String>,
    heartbeat_interval: Duration,
    session_timeout: Duration,
    /// The current broker epoch (-1 before registering).
    epoch: AtomicI64,
    /// Whether the controller's last answer left this broker unfenced.
    unfenced: watch::Sender<bool>,
}

impl BrokerLifecycle {
    pub(crate) fn new(
        controller: ControllerChannel,
        registration: Registration,
        controller_address: Option<String>,
        heartbeat_interval: Duration,
        session_timeout: Duration,
    ) -> Self {
        Self {
            controller,
            registration,
            controller_address,
            heartbeat_interval,
            session_timeout,
            epoch: AtomicI64::new(-1),
            unfenced: watch::Sender::new(false),
        }
    }

    /// Follows whether the controller has this broker unfenced (caught up
    /// with the metadata log and heartbeating); a failed heartbeat changes
    /// nothing, only the controller's answer does.
    pub(crate) fn subscribe_unfenced(&self) -> watch::Receiver<bool> {
        self.unfenced.subscribe()
    }

    /// Registers, retrying while an earlier process of this node id still
    /// has a session (it ends within `broker.session.timeout.ms`).
    pub(crate) async fn register(&self) -> Result<i64, TopicError> {
        let deadline = tokio::time::Instant::now() + self.session_timeout * 2;
        loop {
            let attempt = self
                .controller
                .register(self.registration.clone(), self.controller_address.clone())
                .await;
            match attempt {
                Ok(epoch) => {
                    self.epoch.store(epoch, Ordering::Release);
                    tracing::info!(
                        node_id = self.registration.node_id,
                        broker_epoch = epoch,
                        "registered with the controller"
                    );
                    return Ok(epoch);
                }
                Err(TopicError::DuplicateBrokerRegistration(why))
                    if tokio::time::Instant::now() < deadline =>
                {
                    tracing::info!(%why, "waiting for the previous session of this node id to end");
                    tokio::time::sleep(self.heartbeat_interval).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One heartbeat; registers again if the controller says the epoch is
    /// stale. Returns whether this broker is fenced.
    pub(crate) async fn heartbeat(&self) -> Result<bool, TopicError> {
        let node_id = self.registration.node_id;
        let epoch = self.epoch.load(Ordering::Acquire);
        let fenced = match self.controller.heartbeat(node_id, epoch, false).await {
            Err(TopicError::StaleBrokerEpoch(why)) => {
                tracing::warn!(%why, "the controller lost this broker's registration; registering again");
                self.register().await?;
                let epoch = self.epoch.load(Ordering::Acquire);
                self.controller.heartbeat(node_id, epoch, false).await
            }
            other => other,
        }?;
        self.unfenced
            .send_if_modified(|unfenced| std::mem::replace(unfenced, !fenced) == fenced);
        Ok(fenced)
    }

    /// Heartbeats until shutdown: every interval, more often while fenced.
    pub(crate) async fn run_heartbeats(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut fenced = false;
        loop {
            let wait = if fenced {
                self.heartbeat_interval / 4
            } else {
                self.heartbeat_interval
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            // A heartbeat waits for a controller; shutdown does not wait for it.
            let beat = tokio::select! {
                beat = self.heartbeat() => beat,
                _ = shutdown.wait_for(|stop| *stop) => return,
            };
            match beat {
                Ok(now_fenced) => {
                    if now_fenced != fenced {
                        tracing::info!(fenced = now_fenced, "broker fencing changed");
                    }
                    fenced = now_fenced;
                }
                Err(e) => tracing::warn!(error = %e, "broker heartbeat failed"),
            }
        }
    }

    /// Asks to be fenced before stopping, so the partitions this broker
    /// leads get new leaders at once instead of after the session timeout.
    pub(crate) async fn shut_down(&self) {
        let node_id = self.registration.node_id;
        let epoch = self.epoch.load(Ordering::Acquire);
        let fenced = tokio::time::timeout(
            SHUTDOWN_WAIT,
            self.controller.heartbeat(node_id, epoch, true),
        )
        .await;
        match fenced {
            Ok(Ok(_)) => tracing::info!(node_id, "fenced for shutdown; leadership moved"),
            Ok(Err(e)) => tracing::warn!(node_id, error = %e, "could not be fenced for shutdown"),
            Err(_) => tracing::warn!(node_id, "no controller answered the shutdown heartbeat"),
        }
    }
}

/// On a voter: every heartbeat interval, the active controller fences the
/// brokers whose session ran out.
pub(crate) async fn run_fencing(
    controller: ControllerChannel,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        tokio::select! {
            _ = controller.fence_expired_brokers() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}
