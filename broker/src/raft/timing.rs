//! Raft timings and log compaction settings, and the openraft `Config`
//! built from them.

use std::sync::Arc;
use std::time::Duration;

use openraft::{Config, SnapshotPolicy};

use super::QuorumError;

/// Snapshot chunks sent to a lagging follower stay far below the wire
/// format's frame limit, even as JSON byte arrays (up to 4 bytes per byte).
const SNAPSHOT_CHUNK_BYTES: u64 = 1024 * 1024;

/// How long a follower has to receive and store one snapshot chunk
/// (openraft's default of 200 ms is tight for a 1 MiB chunk as JSON).
const SNAPSHOT_CHUNK_TIMEOUT_MS: u64 = 2000;

/// Raft timings and log compaction.
#[derive(Debug, Clone)]
pub struct RaftTiming {
    /// The leader's heartbeat to followers.
    pub heartbeat_interval: Duration,
    /// A follower that hears no leader for a random time in this range
    /// starts an election. openraft also keeps a leader lease of the upper
    /// bound: a follower that heard the leader ignores vote requests until
    /// the lease ends and stands for election only after lease + timeout, so
    /// losing the leader costs `max + [min, max]` (1.5-2 s by default; Kafka's
    /// `controller.quorum.election.timeout.ms` is 1000).
    pub election_timeout: (Duration, Duration),
    /// A snapshot is taken after this many entries since the last one.
    pub snapshot_every_entries: u64,
    /// Entries kept behind a snapshot, so a briefly lagging follower catches
    /// up from the log instead of a snapshot.
    pub entries_kept_after_snapshot: u64,
    /// How long `propose` waits for a majority to commit. Raft itself would
    /// wait forever: a leader cut off from the other voters keeps its role
    /// until it hears a newer term.
    pub proposal_timeout: Duration,
}

impl Default for RaftTiming {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_millis(100),
            election_timeout: (Duration::from_millis(500), Duration::from_millis(1000)),
            snapshot_every_entries: 5000,
            entries_kept_after_snapshot: 1000,
            proposal_timeout: Duration::from_secs(10),
        }
    }
}

/// openraft's settings for `timing`, checked.
pub(super) fn raft_config(timing: &RaftTiming) -> Result<Arc<Config>, QuorumError> {
    let millis = |d: Duration| d.as_millis() as u64;
    let config = Config {
        cluster_name: "karst-metadata".to_owned(),
        heartbeat_interval: millis(timing.heartbeat_interval),
        election_timeout_min: millis(timing.election_timeout.0),
        election_timeout_max: millis(timing.election_timeout.1),
        snapshot_policy: SnapshotPolicy::LogsSinceLast(timing.snapshot_every_entries),
        max_in_snapshot_log_to_keep: timing.entries_kept_after_snapshot,
        snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES,
        install_snapshot_timeout: SNAPSHOT_CHUNK_TIMEOUT_MS,
        ..Config::default()
    };
    let config = config
        .validate()
        .map_err(|e| QuorumError::Config(Box::new(e)))?;
    Ok(Arc::new(config))
}
