//! Controller commands forwarded to the active controller, on the same
//! controller listener as Raft's RPCs (KRaft forwards admin writes from
//! brokers to the active controller likewise). The payload is opaque JSON
//! here: the controller channel decides what a command and its answer are,
//! so the Raft layer knows nothing of topics or configs.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::BufStream;
use tokio::net::TcpStream;

use super::wire::{FrameError, Hello, HelloReply, RaftReply, RaftRequest, read_frame, write_frame};

/// Runs forwarded commands on the active controller.
pub trait ForwardHandler: Send + Sync {
    /// Answers one forwarded command (both sides are the channel's JSON).
    fn handle(&self, command: serde_json::Value) -> BoxFuture<'static, serde_json::Value>;
}

/// Where the controller listener finds its handler once the node has
/// wired one (the channel is built after the quorum starts).
pub(crate) type HandlerSlot = Arc<OnceLock<Arc<dyn ForwardHandler>>>;

/// A forwarded command did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("cannot reach controller {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("controller {addr}: {reason}")]
    Frame { addr: String, reason: String },
    #[error("controller {addr} closed the connection before answering")]
    Closed { addr: String },
    #[error("controller {addr} did not answer within {after:?}")]
    TimedOut { addr: String, after: Duration },
    #[error("controller {addr} answered with something else than a forwarded command's reply")]
    Mismatched { addr: String },
    #[error("controller {addr} is not ready to take forwarded commands")]
    NotReady { addr: String },
    #[error("controller {addr} belongs to cluster {cluster_id}")]
    WrongCluster { addr: String, cluster_id: String },
}

/// Sends `command` to the controller listener at `addr` and waits (up to
/// `timeout`) for its answer; the connection introduces this node as
/// `node_id` of `cluster_id`, as every controller connection does. One
/// connection per command: admin writes are rare, and a fresh connection
/// resolves a moved controller's name again.
pub async fn forward(
    addr: &str,
    (cluster_id, node_id): (&str, u64),
    command: serde_json::Value,
    timeout: Duration,
) -> Result<serde_json::Value, ForwardError> {
    let exchange = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| ForwardError::Connect {
                addr: addr.to_owned(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        let mut conn = BufStream::new(stream);
        let frame = |e: FrameError| ForwardError::Frame {
            addr: addr.to_owned(),
            reason: e.to_string(),
        };
        let hello = Hello {
            cluster_id: cluster_id.to_owned(),
            node_id,
        };
        write_frame(&mut conn, &hello).await.map_err(frame)?;
        match read_frame(&mut conn).await.map_err(frame)? {
            Some(HelloReply::Welcome) => {}
            Some(HelloReply::WrongCluster { cluster_id }) => {
                return Err(ForwardError::WrongCluster {
                    addr: addr.to_owned(),
                    cluster_id,
                });
            }
            None => {
                return Err(ForwardError::Closed {
                    addr: addr.to_owned(),
                });
            }
        }
        write_frame(&mut conn, &RaftRequest::Forward(command))
            .await
            .map_err(frame)?;
        match read_frame(&mut conn).await.map_err(frame)? {
            Some(RaftReply::Forward(Some(answer))) => Ok(answer),
            Some(RaftReply::Forward(None)) => Err(ForwardError::NotReady {
                addr: addr.to_owned(),
            }),
            Some(_) => Err(ForwardError::Mismatched {
                addr: addr.to_owned(),
            }),
            None => Err(ForwardError::Closed {
                addr: addr.to_owned(),
            }),
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ForwardError::TimedOut {
            addr: addr.to_owned(),
            after: timeout,
        })?
}
