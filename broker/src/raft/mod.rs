//! The metadata quorum: Karst's metadata log replicated with Raft
//! (`openraft`), KRaft's role. The quorum leader is the active controller;
//! every node applies the same committed record batches, in the same order,
//! to its [`MetadataImage`]. Voters are the
//! controllers of `controller.quorum.voters`; broker-only nodes follow the
//! log as observers (Raft learners).
//!
//! The split is the one every openraft user keeps:
//! - the type config (this file): one log entry carries one controller
//!   command's output, a [`MetadataBatch`], applied atomically;
//! - `log_store` (+ `log_file`): the Raft log and vote in
//!   `__cluster_metadata-0/`, fsynced before anything is acknowledged, or
//!   in memory for tests;
//! - `state_machine`: applies batches to the image, publishes each image
//!   with its delta ([`MetadataUpdate`]), and builds / installs snapshots
//!   (`snapshot`), so a restart is snapshot + log tail;
//! - `network`: Raft RPCs over TCP, length-prefixed JSON frames, with a
//!   `cluster.id` handshake;
//! - `quorum`: the facade the broker uses ([`MetadataQuorum`]), and
//!   `voters`: parsing `controller.quorum.voters`.

mod durable;
mod log_file;
mod log_store;
mod network;
mod quorum;
mod snapshot;
mod state_machine;
mod timing;
mod voters;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::metadata::{MetadataImage, MetadataRecord};

pub use network::{ForwardError, ForwardHandler, forward};
pub use quorum::{MetadataQuorum, Proposed, QuorumConfig, QuorumError, QuorumRole, QuorumStorage};
pub use state_machine::{MetadataDelta, MetadataUpdate};
pub use timing::RaftTiming;
pub use voters::{Voter, VotersError, parse_voters};

/// Kafka's `node.id` of a controller, as Raft's node id.
pub type NodeId = u64;

/// The records of one controller command: committed and applied as one
/// unit, so a reader never sees half a topic creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataBatch(pub Vec<MetadataRecord>);

/// What applying one log entry produced: its index and the image right after
/// it (the image is local only; it never crosses the network).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppliedEntry {
    pub log_index: u64,
    #[serde(skip)]
    pub image: Option<Arc<MetadataImage>>,
}

openraft::declare_raft_types!(
    /// Karst's Raft types: node ids are `node.id`s, a node is a controller
    /// endpoint (`host:port`, resolved again on every reconnect).
    pub TypeConfig:
        D = MetadataBatch,
        R = AppliedEntry,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        SnapshotData = std::io::Cursor<Vec<u8>>,
);

/// A log entry of the metadata log.
type Entry = openraft::Entry<TypeConfig>;
/// A Raft log position (leader term + index).
type LogId = openraft::LogId<NodeId>;
/// A storage failure reported to openraft.
type StorageError = openraft::StorageError<NodeId>;
