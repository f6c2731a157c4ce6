//! The sending side of Raft RPCs. openraft asks [`PeerNetwork`] for a
//! client per peer; each [`PeerClient`] keeps one TCP connection and drops
//! it on any error or timeout, so the next RPC resolves the peer's address
//! again and reconnects (a restarted container has a new IP).

use std::sync::Arc;
use std::time::Duration;

use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use tokio::io::BufStream;
use tokio::net::TcpStream;

use super::wire::{
    FrameError, Hello, HelloReply, MAX_APPEND_BYTES, MAX_FRAME_BYTES, RaftReply, RaftRequest,
    read_frame, write_frame, write_frame_within,
};
use crate::raft::{NodeId, TypeConfig};

/// Why one RPC attempt failed (the connection is dropped in every case).
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("cannot connect to controller {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("controller {addr}: {source}")]
    Frame {
        addr: String,
        #[source]
        source: FrameError,
    },
    #[error("controller {addr} closed the connection before replying")]
    Closed { addr: String },
    #[error("controller {addr} did not reply within {after:?}")]
    TimedOut { addr: String, after: Duration },
    #[error("controller {addr} replied to a different request")]
    Mismatched { addr: String },
    #[error("request of {len} bytes to controller {addr} exceeds the frame limit")]
    RequestTooLarge { addr: String, len: usize },
    #[error("controller {addr} belongs to cluster {theirs:?}, not this one")]
    WrongCluster { addr: String, theirs: String },
}

/// Hands openraft one [`PeerClient`] per peer.
#[derive(Debug, Clone)]
pub(crate) struct PeerNetwork {
    /// How this node introduces itself on every new connection.
    hello: Arc<Hello>,
}

impl PeerNetwork {
    pub(crate) fn new(cluster_id: String, node_id: NodeId) -> Self {
        Self {
            hello: Arc::new(Hello {
                cluster_id,
                node_id,
            }),
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            addr: node.addr.clone(),
            hello: self.hello.clone(),
            conn: None,
        }
    }
}

/// RPCs to one peer over one (re)connecting TCP connection.
#[derive(Debug)]
pub(crate) struct PeerClient {
    target: NodeId,
    addr: String,
    hello: Arc<Hello>,
    conn: Option<BufStream<TcpStream>>,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl PeerClient {
    /// One request and its reply. The connection is taken out of `self`
    /// for the exchange and put back only after a complete reply: if the
    /// caller drops this future (openraft times RPCs out itself), the
    /// connection goes with it, so a late reply can never be read as the
    /// answer to a later request.
    async fn exchange(&mut self, request: &RaftRequest) -> Result<RaftReply, CallError> {
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        let frame_error = |source| CallError::Frame {
            addr: self.addr.clone(),
            source,
        };
        let limit = match request {
            RaftRequest::AppendEntries(rpc) if rpc.entries.len() > 1 => MAX_APPEND_BYTES,
            _ => MAX_FRAME_BYTES,
        };
        write_frame_within(&mut conn, request, limit)
            .await
            .map_err(|source| match source {
                FrameError::TooLarge { len } => CallError::RequestTooLarge {
                    addr: self.addr.clone(),
                    len,
                },
                source => frame_error(source),
            })?;
        let reply = read_frame(&mut conn)
            .await
            .map_err(frame_error)?
            .ok_or_else(|| CallError::Closed {
                addr: self.addr.clone(),
            })?;
        self.conn = Some(conn);
        Ok(reply)
    }

    /// Connects (resolving the name anew) and introduces this node.
    async fn connect(&self) -> Result<BufStream<TcpStream>, CallError> {
        let stream = TcpStream::connect(&self.addr)
            .await
            .map_err(|source| CallError::Connect {
                addr: self.addr.clone(),
                source,
            })?;
        // Raft RPCs are small and latency-bound.
        let _ = stream.set_nodelay(true);
        let mut conn = BufStream::new(stream);
        let frame_error = |source| CallError::Frame {
            addr: self.addr.clone(),
            source,
        };
        write_frame(&mut conn, &*self.hello)
            .await
            .map_err(frame_error)?;
        match read_frame(&mut conn).await.map_err(frame_error)? {
            Some(HelloReply::Welcome) => Ok(conn),
            Some(HelloReply::WrongCluster { cluster_id }) => {
                let e = CallError::WrongCluster {
                    addr: self.addr.clone(),
                    theirs: cluster_id,
                };
                tracing::error!(target_node = self.target, error = %e, "controller.quorum.voters names a node of another cluster");
                Err(e)
            }
            None => Err(CallError::Closed {
                addr: self.addr.clone(),
            }),
        }
    }

    /// Sends `request` and waits for its reply within the RPC's hard TTL.
    async fn call<E: std::error::Error>(
        &mut self,
        request: RaftRequest,
        option: &RPCOption,
    ) -> RpcResult<RaftReply, E> {
        let after = option.hard_ttl();
        let result = match tokio::time::timeout(after, self.exchange(&request)).await {
            Ok(result) => result,
            Err(_) => Err(CallError::TimedOut {
                addr: self.addr.clone(),
                after,
            }),
        };
        result.map_err(|e| {
            tracing::debug!(target_node = self.target, error = %e, "controller RPC failed");
            match e {
                CallError::Connect { .. } | CallError::WrongCluster { .. } => {
                    RPCError::Unreachable(Unreachable::new(&e))
                }
                // Only an append of several entries can be split; openraft
                // retries with fewer (one entry always fits: `MAX_BATCH_BYTES`).
                CallError::RequestTooLarge { .. }
                    if let RaftRequest::AppendEntries(rpc) = &request =>
                {
                    let fewer = (rpc.entries.len() as u64 / 2).max(1);
                    RPCError::PayloadTooLarge(PayloadTooLarge::new_entries_hint(fewer))
                }
                _ => RPCError::Network(NetworkError::new(&e)),
            }
        })
    }

    fn mismatched<E: std::error::Error>(&mut self) -> RPCError<NodeId, BasicNode, E> {
        self.conn = None;
        RPCError::Network(NetworkError::new(&CallError::Mismatched {
            addr: self.addr.clone(),
        }))
    }

    // The error type is openraft's, fixed by the `RaftNetwork` trait.
    #[allow(clippy::result_large_err)]
    fn remote<T, E: std::error::Error>(
        &self,
        reply: Result<T, RaftError<NodeId, E>>,
    ) -> RpcResult<T, E> {
        reply.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        match self.call(RaftRequest::AppendEntries(rpc), &option).await? {
            RaftReply::AppendEntries(reply) => self.remote(reply),
            _ => Err(self.mismatched()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        match self
            .call(RaftRequest::InstallSnapshot(rpc), &option)
            .await?
        {
            RaftReply::InstallSnapshot(reply) => self.remote(reply),
            _ => Err(self.mismatched()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        match self.call(RaftRequest::Vote(rpc), &option).await? {
            RaftReply::Vote(reply) => self.remote(reply),
            _ => Err(self.mismatched()),
        }
    }
}

#[cfg(test)]
mod tests {
    use openraft::Vote;
    use tokio::net::TcpListener;
    use tokio::sync::oneshot;

    use super::*;

    fn vote_reply(term: u64) -> RaftReply {
        RaftReply::Vote(Ok(VoteResponse::new(Vote::new(term, 9), None, false)))
    }

    fn vote_request() -> VoteRequest<NodeId> {
        VoteRequest::new(Vote::new(1, 1), None)
    }

    async fn welcome(conn: &mut TcpStream) {
        let _: Hello = read_frame(conn).await.unwrap().unwrap();
        write_frame(conn, &HelloReply::Welcome).await.unwrap();
    }

    #[tokio::test]
    async fn a_reply_arriving_after_its_rpc_was_abandoned_is_never_taken_for_the_next_one() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (got_first, first_arrived) = oneshot::channel::<()>();
        let (release, released) = oneshot::channel::<()>();
        tokio::spawn(async move {
            // The first request is answered (term 1) only after its caller gave up.
            let (mut first, _) = listener.accept().await.unwrap();
            welcome(&mut first).await;
            let _: RaftRequest = read_frame(&mut first).await.unwrap().unwrap();
            got_first.send(()).unwrap();
            released.await.unwrap();
            let _ = write_frame(&mut first, &vote_reply(1)).await;
            // Everything after that is answered at once with term 2.
            loop {
                let (mut conn, _) = listener.accept().await.unwrap();
                welcome(&mut conn).await;
                while let Ok(Some(_)) = read_frame::<_, RaftRequest>(&mut conn).await {
                    write_frame(&mut conn, &vote_reply(2)).await.unwrap();
                }
            }
        });

        let mut client = PeerNetwork::new("c".into(), 2)
            .new_client(1, &BasicNode::new(addr))
            .await;
        let ttl = Duration::from_secs(30);
        // openraft abandons an RPC by dropping its future, as here.
        tokio::select! {
            _ = client.vote(vote_request(), RPCOption::new(ttl)) => panic!("answered early"),
            _ = first_arrived => {}
        }
        release.send(()).unwrap();

        let reply = client
            .vote(vote_request(), RPCOption::new(ttl))
            .await
            .unwrap();
        assert_eq!(
            reply.vote.leader_id().term,
            2,
            "the late reply to the abandoned RPC was not used"
        );
    }
}
