//! The receiving side of Raft RPCs: an accept loop on the controller
//! listener, one task per connection, each request handed to the local Raft
//! node and its reply written back in order. A bad frame closes that
//! connection with a log line; nothing else is affected.

use std::net::SocketAddr;
use std::sync::Arc;

use openraft::Raft;
use tokio::io::BufStream;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::forward::HandlerSlot;
use super::wire::{
    Hello, HelloReply, MAX_HELLO_BYTES, RaftReply, RaftRequest, read_frame, read_frame_within,
    write_frame,
};
use crate::raft::TypeConfig;

/// At most this many peer connections are served at once; a quorum needs a
/// handful, so more means something is wrong and is refused.
const MAX_CONNECTIONS: usize = 64;

/// The running accept loop; stopping it also closes every open connection,
/// so peers see this controller go away at once.
#[derive(Debug)]
pub(crate) struct RaftServer {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RaftServer {
    /// Serves `raft` (and forwarded controller commands) to peers that
    /// introduce themselves as members of `cluster_id`.
    pub(crate) fn spawn(
        listener: TcpListener,
        raft: Raft<TypeConfig>,
        cluster_id: String,
        forwarded: HandlerSlot,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(
            listener,
            raft,
            cluster_id.into(),
            forwarded,
            stopped,
        ));
        Self { stop, task }
    }

    /// Stops accepting, closes every connection and waits for the loop to end.
    pub(crate) async fn stop(mut self) {
        let _ = self.stop.send(true);
        let _ = (&mut self.task).await;
    }
}

impl Drop for RaftServer {
    /// A quorum dropped without `shutdown` still stops serving peers (and
    /// releases its handle on the Raft node).
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    raft: Raft<TypeConfig>,
    cluster_id: Arc<str>,
    forwarded: HandlerSlot,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) if connections.len() < MAX_CONNECTIONS => {
                    connections.spawn(serve(
                        stream,
                        peer,
                        raft.clone(),
                        cluster_id.clone(),
                        forwarded.clone(),
                    ));
                }
                Ok((_, peer)) => {
                    tracing::warn!(%peer, limit = MAX_CONNECTIONS, "refusing a controller connection: too many open");
                }
                Err(e) => tracing::warn!(error = %e, "controller listener accept failed"),
            },
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    raft: Raft<TypeConfig>,
    cluster_id: Arc<str>,
    forwarded: HandlerSlot,
) {
    let _ = stream.set_nodelay(true);
    let mut conn = BufStream::new(stream);
    if !greet(&mut conn, peer, &cluster_id).await {
        return;
    }
    loop {
        let request: RaftRequest = match read_frame(&mut conn).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing a controller connection: bad frame");
                return;
            }
        };
        let reply = match request {
            RaftRequest::AppendEntries(rpc) => {
                RaftReply::AppendEntries(raft.append_entries(rpc).await)
            }
            RaftRequest::Vote(rpc) => RaftReply::Vote(raft.vote(rpc).await),
            RaftRequest::InstallSnapshot(rpc) => {
                RaftReply::InstallSnapshot(raft.install_snapshot(rpc).await)
            }
            RaftRequest::Forward(command) => match forwarded.get() {
                Some(handler) => RaftReply::Forward(Some(handler.handle(command).await)),
                None => RaftReply::Forward(None),
            },
        };
        if let Err(e) = write_frame(&mut conn, &reply).await {
            tracing::debug!(%peer, error = %e, "controller connection closed while replying");
            return;
        }
    }
}

/// Reads the caller's [`Hello`]; welcomes it if it belongs to this cluster.
async fn greet(conn: &mut BufStream<TcpStream>, peer: SocketAddr, cluster_id: &str) -> bool {
    let hello: Hello = match read_frame_within(conn, MAX_HELLO_BYTES).await {
        Ok(Some(hello)) => hello,
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "closing a controller connection: bad hello");
            return false;
        }
    };
    if hello.cluster_id == cluster_id {
        return write_frame(conn, &HelloReply::Welcome).await.is_ok();
    }
    tracing::warn!(
        %peer,
        node_id = hello.node_id,
        their_cluster = %hello.cluster_id,
        our_cluster = %cluster_id,
        "refusing a controller connection from another cluster"
    );
    let reply = HelloReply::WrongCluster {
        cluster_id: cluster_id.to_owned(),
    };
    let _ = write_frame(conn, &reply).await;
    false
}
