//! [`MetadataQuorum`]: what the broker sees of the Raft metadata log. Start
//! a controller, propose record batches (only the leader, i.e. the active
//! controller, accepts them), follow the applied image, stop.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    ChangeMembershipError, CheckIsLeaderError, ClientWriteError, Fatal, InitializeError, RaftError,
};
use openraft::{BasicNode, Raft, RaftMetrics};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::log_file::LogFileError;
use super::log_store::LogStore;
use super::network::{ForwardHandler, HandlerSlot, MAX_BATCH_BYTES, PeerNetwork, RaftServer};
use super::snapshot::SnapshotStore;
use super::state_machine::{MetadataUpdate, StateMachine};
use super::timing::{RaftTiming, raft_config};
use super::{MetadataBatch, NodeId, TypeConfig, Voter};
use crate::metadata::{METADATA_DIR, MetadataImage, MetadataRecord};

/// What a node is in the metadata quorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuorumRole {
    /// A controller listed in `controller.quorum.voters`: it votes, and may
    /// become the active controller.
    Voter,
    /// A broker-only node (KRaft's observer): a Raft learner that receives
    /// and applies the log but never votes. The active controller adds it
    /// with [`MetadataQuorum::add_observer`]; it stays in the membership
    /// across restarts.
    Observer,
}

/// Where a node keeps the metadata log.
#[derive(Debug, Clone)]
pub enum QuorumStorage {
    /// In `__cluster_metadata-0/` of the data directory, fsynced.
    OnDisk { data_dir: PathBuf },
    /// In memory only, lost on shutdown: for tests that need no restart.
    InMemory,
}

/// How to start one node of the quorum.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    /// This node's `node.id`; a voter's must be one of `voters`, an
    /// observer's must not.
    pub node_id: NodeId,
    pub role: QuorumRole,
    /// `cluster.id`: peers introducing themselves with another are refused.
    pub cluster_id: String,
    /// `controller.quorum.voters`, the same on every controller.
    pub voters: Vec<Voter>,
    pub storage: QuorumStorage,
    pub timing: RaftTiming,
}

/// The quorum could not start, or refused or lost a proposal.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error("node.id {node_id} is not among the controller.quorum.voters ({voters})")]
    NotAVoter { node_id: NodeId, voters: String },
    #[error(
        "node.id {node_id} is in controller.quorum.voters ({voters}); a broker-only node must not be"
    )]
    ObserverIsVoter { node_id: NodeId, voters: String },
    /// openraft refused a membership change (another one is in progress).
    #[error("membership change refused: {0}")]
    MembershipChange(#[source] Box<ChangeMembershipError<NodeId>>),
    #[error(transparent)]
    Log(#[from] LogFileError),
    #[error("metadata snapshot {location}: {source}")]
    Snapshot {
        location: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Raft settings rejected: {0}")]
    Config(#[source] Box<openraft::ConfigError>),
    /// Only the leader (the active controller) takes proposals; `leader` is
    /// the one this node knows of. If this node was leader when the batch
    /// was appended and lost leadership before it committed, the batch may
    /// still commit: callers re-read the image before retrying.
    #[error("this controller is not the active controller (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    /// The batch is too large to be one log entry.
    #[error("a metadata record batch of {bytes} bytes exceeds the limit of {max}")]
    BatchTooLarge { bytes: usize, max: usize },
    /// No majority of voters answered in time. For a proposal the outcome
    /// is unknown: it may still commit, so callers re-read the image before
    /// retrying.
    #[error("no majority of the controller quorum answered within {after:?}")]
    NoQuorum { after: Duration },
    /// The Raft node stopped (shut down, or a storage failure).
    #[error("the metadata quorum stopped: {0}")]
    Stopped(#[source] Box<Fatal<NodeId>>),
}

impl From<Fatal<NodeId>> for QuorumError {
    fn from(fatal: Fatal<NodeId>) -> Self {
        Self::Stopped(Box::new(fatal))
    }
}

/// A committed and applied proposal.
#[derive(Debug, Clone)]
pub struct Proposed {
    /// Its index in the Raft log.
    pub log_index: u64,
    /// The image right after it was applied.
    pub image: Arc<MetadataImage>,
}

/// One node of the metadata quorum, a voter or an observer.
///
/// How the broker uses it: start it with the controller listener; on the
/// active controller (`is_leader`), run a command's pure decision on the
/// current image and `propose` its records (on `NotLeader`, forward the
/// command to `leader`); everywhere, follow `subscribe()` to apply each new
/// image. When a broker-only node registers, the active controller calls
/// `add_observer` so the log is replicated to it.
pub struct MetadataQuorum {
    node_id: NodeId,
    proposal_timeout: Duration,
    heartbeat_interval: Duration,
    leader_lease: Duration,
    /// Serializes [`Self::update`]: decide, propose, apply, then the next.
    writer: tokio::sync::Mutex<()>,
    raft: Raft<TypeConfig>,
    updates: watch::Receiver<MetadataUpdate>,
    /// Taken at shutdown.
    server: parking_lot::Mutex<Option<RaftServer>>,
    forwarded: HandlerSlot,
    /// Set by [`Self::resign`]: this node takes no more commands as leader.
    resigning: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for MetadataQuorum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataQuorum")
            .field("node_id", &self.node_id)
            .field("leader", &self.leader_id())
            .finish_non_exhaustive()
    }
}

impl MetadataQuorum {
    /// Opens the log and snapshot (`config.storage`), serves Raft RPCs on
    /// `listener` and joins the quorum. On first start every voter
    /// initializes the same membership (all of `voters`), which openraft
    /// allows, so the cluster forms as soon as a majority is up, whichever
    /// starts first; on a restart the membership on disk is used.
    pub async fn start(config: QuorumConfig, listener: TcpListener) -> Result<Self, QuorumError> {
        let listed = config.voters.iter().any(|v| v.id == config.node_id);
        let voters = || {
            let voters: Vec<_> = config.voters.iter().map(Voter::to_string).collect();
            voters.join(",")
        };
        match (config.role, listed) {
            (QuorumRole::Voter, false) => {
                return Err(QuorumError::NotAVoter {
                    node_id: config.node_id,
                    voters: voters(),
                });
            }
            (QuorumRole::Observer, true) => {
                return Err(QuorumError::ObserverIsVoter {
                    node_id: config.node_id,
                    voters: voters(),
                });
            }
            _ => {}
        }
        let (log_store, snapshots) = match &config.storage {
            QuorumStorage::OnDisk { data_dir } => {
                let dir = data_dir.join(METADATA_DIR);
                (LogStore::open(&dir)?, SnapshotStore::on_disk(&dir))
            }
            QuorumStorage::InMemory => (LogStore::in_memory(), SnapshotStore::in_memory()),
        };
        let (state_machine, updates) =
            StateMachine::open(snapshots.clone()).map_err(|source| QuorumError::Snapshot {
                location: snapshots.location(),
                source,
            })?;
        let raft_config = raft_config(&config.timing)?;
        let raft = Raft::new(
            config.node_id,
            raft_config,
            PeerNetwork::new(config.cluster_id.clone(), config.node_id),
            log_store,
            state_machine,
        )
        .await?;
        let forwarded = HandlerSlot::default();
        let server = RaftServer::spawn(
            listener,
            raft.clone(),
            config.cluster_id.clone(),
            forwarded.clone(),
        );
        let quorum = Self {
            node_id: config.node_id,
            proposal_timeout: config.timing.proposal_timeout,
            heartbeat_interval: config.timing.heartbeat_interval,
            leader_lease: config.timing.election_timeout.1,
            writer: tokio::sync::Mutex::new(()),
            raft,
            updates,
            server: parking_lot::Mutex::new(Some(server)),
            forwarded,
            resigning: std::sync::atomic::AtomicBool::new(false),
        };
        if config.role == QuorumRole::Voter {
            quorum.initialize(&config.voters).await?;
        }
        Ok(quorum)
    }

    async fn initialize(&self, voters: &[Voter]) -> Result<(), QuorumError> {
        if self.raft.is_initialized().await? {
            return Ok(());
        }
        let members: BTreeMap<NodeId, BasicNode> = voters
            .iter()
            .map(|v| (v.id, BasicNode::new(v.address())))
            .collect();
        match self.raft.initialize(members).await {
            Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(RaftError::APIError(InitializeError::NotInMembers(_))) => {
                unreachable!("checked above: this node is a voter")
            }
            Err(RaftError::Fatal(fatal)) => Err(fatal.into()),
        }
    }

    /// Sets what runs commands forwarded to this node by others (once; the
    /// controller channel, built after the quorum).
    pub fn serve_forwarded(&self, handler: Arc<dyn ForwardHandler>) {
        if self.forwarded.set(handler).is_err() {
            tracing::warn!("a forward handler was already set; keeping the first");
        }
    }

    /// This controller's `node.id`.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// Runs a controller command on the active controller: `decide` sees
    /// the image with everything committed so far (leadership is confirmed
    /// with a majority first, which also waits for entries of earlier terms
    /// to be applied), and its records are proposed before the next command
    /// may decide, so two commands never decide on the same image (two
    /// CreateTopics of one name create it once). The same contract as
    /// [`MetadataStore::update`](crate::metadata::MetadataStore::update).
    pub async fn update<T, E>(
        &self,
        decide: impl FnOnce(&MetadataImage) -> Result<(Vec<MetadataRecord>, T), E>,
    ) -> Result<(Arc<MetadataImage>, T), E>
    where
        E: From<QuorumError>,
    {
        let _writer = self.writer.lock().await;
        self.confirm_leadership(self.proposal_timeout).await?;
        let current = self.updates.borrow().image.clone();
        let (records, out) = decide(&current)?;
        if records.is_empty() {
            return Ok((current, out));
        }
        let proposed = self.propose(records).await?;
        Ok((proposed.image, out))
    }

    /// Appends one controller command's records as one log entry and waits
    /// (up to `RaftTiming::proposal_timeout`) until it is committed and
    /// applied here.
    pub async fn propose(&self, records: Vec<MetadataRecord>) -> Result<Proposed, QuorumError> {
        if self.is_resigning() {
            return Err(QuorumError::NotLeader { leader: None });
        }
        let bytes = serde_json::to_vec(&records).map_or(usize::MAX, |b| b.len());
        if bytes > MAX_BATCH_BYTES {
            return Err(QuorumError::BatchTooLarge {
                bytes,
                max: MAX_BATCH_BYTES,
            });
        }
        let after = self.proposal_timeout;
        let written = tokio::time::timeout(after, self.raft.client_write(MetadataBatch(records)))
            .await
            .map_err(|_| QuorumError::NoQuorum { after })?;
        match written {
            Ok(response) => Ok(Proposed {
                log_index: response.data.log_index,
                image: response
                    .data
                    .image
                    .expect("a locally applied entry carries its image"),
            }),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                Err(QuorumError::NotLeader {
                    leader: forward.leader_id,
                })
            }
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                unreachable!("a record batch is not a membership change: {e}")
            }
            Err(RaftError::Fatal(fatal)) => Err(fatal.into()),
        }
    }

    /// Adds a broker-only node as an observer (a Raft learner) at
    /// `address` (`host:port` of its listener), so the log is replicated to
    /// it. Only the active controller can; adding it again updates its
    /// address. Returns once the change is committed, not once the observer
    /// has caught up.
    pub async fn add_observer(&self, node_id: NodeId, address: String) -> Result<(), QuorumError> {
        let voters: Vec<NodeId> = {
            let metrics = self.raft.metrics();
            let metrics = metrics.borrow();
            metrics.membership_config.membership().voter_ids().collect()
        };
        if voters.contains(&node_id) {
            let voters: Vec<_> = voters.iter().map(ToString::to_string).collect();
            return Err(QuorumError::ObserverIsVoter {
                node_id,
                voters: voters.join(","),
            });
        }
        let after = self.proposal_timeout;
        let added = self
            .raft
            .add_learner(node_id, BasicNode::new(address), false);
        match tokio::time::timeout(after, added)
            .await
            .map_err(|_| QuorumError::NoQuorum { after })?
        {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                Err(QuorumError::NotLeader {
                    leader: forward.leader_id,
                })
            }
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                Err(QuorumError::MembershipChange(Box::new(e)))
            }
            Err(RaftError::Fatal(fatal)) => Err(fatal.into()),
        }
    }

    /// The active controller as this node knows it. This node counts as
    /// the leader only while a majority acknowledged it within the leader
    /// lease (the upper election timeout): openraft keeps a leader in its
    /// role when it is cut off from the others, and restores that role on a
    /// restart, but after the lease the others may elect a new one. So at
    /// most one node claims to be active (briefly none, during failover).
    pub fn leader_id(&self) -> Option<NodeId> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        let lease = self.leader_lease.as_millis() as u64;
        match metrics.current_leader {
            Some(id)
                if id == self.node_id
                    && (self.is_resigning()
                        || metrics.millis_since_quorum_ack.is_none_or(|ms| ms > lease)) =>
            {
                None
            }
            leader => leader,
        }
    }

    fn is_resigning(&self) -> bool {
        self.resigning.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Hands the active controller's role to another voter before this
    /// node stops, so metadata changes wait one election while this node
    /// still answers "not the controller" rather than on a silent peer.
    /// openraft 0.9 has no leadership transfer (Raft's TimeoutNow), and its
    /// followers refuse votes while they hear a leader (the leader lease),
    /// so the leader steps back instead: it takes no more commands, stops
    /// its heartbeats and its own elections, and waits (up to `within`)
    /// until the others elect a leader and that leader's first append
    /// reaches it, at most three leader leases (an election takes one
    /// timeout, a split vote another). Returns the new leader, or `None`
    /// when this node was not the leader or no other was elected in time
    /// (the voters left are too few, as when a whole cluster stops at once).
    pub async fn resign(&self) -> Option<NodeId> {
        let within = self.leader_lease * 3;
        if self.raft.metrics().borrow().current_leader != Some(self.node_id) {
            return None;
        }
        self.resigning
            .store(true, std::sync::atomic::Ordering::Release);
        let runtime = self.raft.runtime_config();
        runtime.elect(false);
        runtime.heartbeat(false);
        let mut metrics = self.raft.metrics();
        let elected = metrics.wait_for(|m| m.current_leader.is_some_and(|id| id != self.node_id));
        match tokio::time::timeout(within, elected).await {
            Ok(Ok(m)) => m.current_leader,
            _ => None,
        }
    }

    /// Whether this node believes it is the active controller: cheap, and
    /// possibly stale (a leader cut off from the others learns it was
    /// deposed only when it hears a newer term). [`Self::confirm_leadership`]
    /// and `propose` are the authoritative checks.
    pub fn is_leader(&self) -> bool {
        self.leader_id() == Some(self.node_id)
    }

    /// Confirms with a majority, now, that this node is the active
    /// controller and its image is up to date with everything committed.
    /// A round that misses a majority (a peer reconnecting, say) is retried
    /// after a heartbeat interval until `within` has passed.
    pub async fn confirm_leadership(&self, within: Duration) -> Result<(), QuorumError> {
        let rounds = async {
            loop {
                match self.raft.ensure_linearizable().await {
                    Ok(_) => return Ok(()),
                    Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(forward))) => {
                        return Err(QuorumError::NotLeader {
                            leader: forward.leader_id,
                        });
                    }
                    Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(_))) => {
                        tokio::time::sleep(self.heartbeat_interval).await;
                    }
                    Err(RaftError::Fatal(fatal)) => return Err(fatal.into()),
                }
            }
        };
        tokio::time::timeout(within, rounds)
            .await
            .map_err(|_| QuorumError::NoQuorum { after: within })?
    }

    /// Waits until this node, as leader, has applied every entry of its log
    /// (a new leader's log holds everything committed, and its first entry
    /// of the term commits the rest), so a decision taken on the applied
    /// image sees every earlier command. Unlike [`Self::confirm_leadership`]
    /// this costs no round trip and does not wait on unreachable voters.
    pub async fn catch_up_as_leader(&self, within: Duration) -> Result<(), QuorumError> {
        let mut metrics = self.raft.metrics();
        let caught_up = metrics.wait_for(|m| {
            m.current_leader != Some(self.node_id)
                || m.last_applied.map(|id| id.index) >= m.last_log_index
        });
        match tokio::time::timeout(within, caught_up).await {
            Err(_) => Err(QuorumError::NoQuorum { after: within }),
            Ok(Err(_)) => Err(QuorumError::NotLeader { leader: None }),
            Ok(Ok(m)) if m.current_leader != Some(self.node_id) => Err(QuorumError::NotLeader {
                leader: m.current_leader,
            }),
            Ok(Ok(_)) => Ok(()),
        }
    }

    /// Every applied image, starting with the current one.
    pub fn subscribe(&self) -> watch::Receiver<MetadataUpdate> {
        self.updates.clone()
    }

    /// Raft's own view of this node (term, leader, log and snapshot
    /// positions), for metrics and tests.
    pub fn raft_metrics(&self) -> watch::Receiver<RaftMetrics<NodeId, BasicNode>> {
        self.raft.metrics()
    }

    /// Stops serving peers and stops the Raft node. Everything acknowledged
    /// is on disk already, so this is also what a crash leaves behind.
    pub async fn shutdown(&self) {
        let server = self.server.lock().take();
        if let Some(server) = server {
            server.stop().await;
        }
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "the Raft task ended abnormally");
        }
    }
}
