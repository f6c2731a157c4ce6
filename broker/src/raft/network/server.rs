//! The receiving side of Raft RPCs: an accept loop on the controller
//! listener, one task per connection, each request handed to the local Raft
//! node and its reply written back in order. A bad frame closes that
//! connection with a log line; nothing else is affected.

use std::net::SocketAddr;

use openraft::Raft;
use tokio::io::BufStream;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::forward::HandlerSlot;
use super::wire::{RaftReply, RaftRequest, read_frame, write_frame};
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
    pub(crate) fn spawn(
        listener: TcpListener,
        raft: Raft<TypeConfig>,
        forwarded: HandlerSlot,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, raft, forwarded, stopped));
        Self { stop, task }
    }

    /// Stops accepting, closes every connection and waits for the loop to end.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    raft: Raft<TypeConfig>,
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
                    connections.spawn(serve(stream, peer, raft.clone(), forwarded.clone()));
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
    forwarded: HandlerSlot,
) {
    let _ = stream.set_nodelay(true);
    let mut conn = BufStream::new(stream);
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
