//! The accept loop: one task per connection, caps on open connections, and
//! a shutdown signal that stops accepting and lets connections finish the
//! request they are on.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::broker::Broker;
use crate::connection::{Connection, ConnectionError};
use crate::limits::ConnectionLimits;

/// Accepts connections on `listener` until `shutdown` turns true, then waits
/// for open connections to close. A connection over `max.connections` or
/// `max.connections.per.ip` is accepted and closed at once: it frees its
/// descriptor, the client sees the refusal, and the HTTP probes (on their own
/// listener) keep answering.
pub(crate) async fn serve(
    broker: Arc<Broker>,
    listener: TcpListener,
    limits: Arc<ConnectionLimits>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let (socket, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match limits.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(refused) => {
                broker.metrics.connection_refused(refused.setting());
                tracing::debug!(%peer, %refused, "connection refused");
                drop(socket);
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let broker = broker.clone();
        let shutdown = shutdown.clone();
        let limits = limits.clone();
        connections.spawn(async move {
            broker.metrics.connection_opened();
            let result = Connection::new(broker.clone(), socket, peer, limits)
                .run(shutdown)
                .await;
            broker.metrics.connection_closed();
            match result {
                Ok(()) => {}
                // Our own response could not be encoded: a broker bug.
                Err(error @ ConnectionError::Encode { .. }) => {
                    tracing::error!(%peer, %error, "connection closed")
                }
                Err(error @ ConnectionError::Idle(_)) => {
                    broker.metrics.connection_idle_closed();
                    tracing::debug!(%peer, %error, "connection closed");
                }
                Err(error) => tracing::info!(%peer, %error, "connection closed"),
            }
            drop(slot);
        });
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
}
