//! The accept loop: one task per connection, a cap on open connections, and
//! a shutdown signal that stops accepting and lets connections finish the
//! request they are on.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::broker::Broker;
use crate::connection::{Connection, ConnectionError};

/// Accepts connections on `listener` until `shutdown` turns true, then waits
/// for open connections to close.
pub(crate) async fn serve(
    broker: Arc<Broker>,
    listener: TcpListener,
    max_connections: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let limit = Arc::new(Semaphore::new(max_connections));
    let mut connections = JoinSet::new();
    loop {
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => permit.expect("semaphore never closed"),
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
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
        let _ = socket.set_nodelay(true);
        let broker = broker.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            broker.metrics.connection_opened();
            let result = Connection::new(broker.clone(), socket, peer)
                .run(shutdown)
                .await;
            broker.metrics.connection_closed();
            match result {
                Ok(()) => {}
                // Our own response could not be encoded: a broker bug.
                Err(error @ ConnectionError::Encode { .. }) => {
                    tracing::error!(%peer, %error, "connection closed")
                }
                Err(error) => tracing::info!(%peer, %error, "connection closed"),
            }
            drop(permit);
        });
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
}
