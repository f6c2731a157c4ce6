//! The controller wire format: a frame is `length: u32 | JSON`. A
//! connection opens with [`Hello`] / [`HelloReply`], then carries one
//! request and then one reply at a time. Lengths are checked before
//! anything is allocated; a bad frame ends that connection only.

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::raft::{NodeId, TypeConfig};

/// The largest record batch (as JSON) a proposal may carry. openraft
/// gives an append one heartbeat interval to complete, so one entry must
/// be quick to send, decode and fsync; metadata batches are far smaller.
pub(in crate::raft) const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// An append of several entries larger than this is refused before it is
/// sent and openraft retries it with fewer entries, so a follower that is
/// far behind catches up in appends that each finish within a heartbeat.
pub(in crate::raft) const MAX_APPEND_BYTES: usize = 2 * 1024 * 1024;

/// The largest [`Hello`] accepted: until a caller has introduced itself,
/// it gets no large buffer.
pub(in crate::raft) const MAX_HELLO_BYTES: usize = 1024;

/// The largest frame either side sends or accepts. Snapshot chunks are
/// capped well below it (see `quorum::SNAPSHOT_CHUNK_BYTES`).
pub(in crate::raft) const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// The first frame on every connection: who is calling, from which
/// cluster. Controllers of another cluster (a mistyped voter address, a
/// reused host) are refused before any Raft message is exchanged.
#[derive(Debug, Serialize, Deserialize)]
pub(in crate::raft) struct Hello {
    pub(in crate::raft) cluster_id: String,
    pub(in crate::raft) node_id: NodeId,
}

/// The answer to [`Hello`].
#[derive(Debug, Serialize, Deserialize)]
pub(in crate::raft) enum HelloReply {
    Welcome,
    /// The callee belongs to `cluster_id`; it closes the connection.
    WrongCluster {
        cluster_id: String,
    },
}

/// A Raft RPC from a leader or candidate.
#[derive(Debug, Serialize, Deserialize)]
pub(in crate::raft) enum RaftRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A controller command forwarded by another node (see `forward`).
    Forward(serde_json::Value),
}

/// The answer to a [`RaftRequest`] of the same variant.
#[derive(Debug, Serialize, Deserialize)]
pub(in crate::raft) enum RaftReply {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// The answer to a forwarded command; `None` while this node has no
    /// handler yet (still starting).
    Forward(Option<serde_json::Value>),
}

/// A frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub(in crate::raft) enum FrameError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {len} bytes exceeds the limit")]
    TooLarge { len: usize },
    #[error("frame does not decode: {0}")]
    Decode(#[source] serde_json::Error),
    #[error("message does not encode: {0}")]
    Encode(#[source] serde_json::Error),
}

/// Writes `message` as one frame, unless it is larger than `limit` bytes
/// (at most [`MAX_FRAME_BYTES`]).
pub(in crate::raft) async fn write_frame_within<W, T>(
    w: &mut W,
    message: &T,
    limit: usize,
) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let payload = serde_json::to_vec(message).map_err(FrameError::Encode)?;
    if payload.len() > limit.min(MAX_FRAME_BYTES) {
        return Err(FrameError::TooLarge { len: payload.len() });
    }
    let mut buf = Vec::with_capacity(4 + payload.len());
    buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    buf.extend_from_slice(&payload);
    w.write_all(&buf).await?;
    w.flush().await?;
    Ok(())
}

/// Writes `message` as one frame of at most [`MAX_FRAME_BYTES`].
pub(in crate::raft) async fn write_frame<W, T>(w: &mut W, message: &T) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    write_frame_within(w, message, MAX_FRAME_BYTES).await
}

/// Reads one frame; `Ok(None)` on a clean end of stream between frames.
pub(in crate::raft) async fn read_frame<R, T>(r: &mut R) -> Result<Option<T>, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    read_frame_within(r, MAX_FRAME_BYTES).await
}

/// Reads one frame of at most `limit` bytes; `Ok(None)` on a clean end of
/// stream between frames.
pub(in crate::raft) async fn read_frame_within<R, T>(
    r: &mut R,
    limit: usize,
) -> Result<Option<T>, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut header = [0u8; 4];
    match r.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > limit.min(MAX_FRAME_BYTES) {
        return Err(FrameError::TooLarge { len });
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    serde_json::from_slice(&payload)
        .map(Some)
        .map_err(FrameError::Decode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn oversized_and_garbled_frames_are_refused_before_decoding() {
        let huge = ((MAX_FRAME_BYTES + 1) as u32).to_be_bytes();
        let err = read_frame::<_, RaftRequest>(&mut &huge[..])
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { .. }), "{err}");

        let mut garbled = 5u32.to_be_bytes().to_vec();
        garbled.extend_from_slice(b"hello");
        let err = read_frame::<_, RaftRequest>(&mut &garbled[..])
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::Decode(_)), "{err}");

        let none = read_frame::<_, RaftRequest>(&mut &[][..]).await.unwrap();
        assert!(none.is_none());
    }
}
