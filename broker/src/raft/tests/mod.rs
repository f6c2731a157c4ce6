//! In-process quorum tests: every controller runs in this process with its
//! own data directory and a real TCP listener on 127.0.0.1, and is stopped
//! and restarted the way a process would be. Waits are on conditions (Raft
//! metrics, the published image) with a deadline, never on bare sleeps.

mod cluster;
mod election_time;
mod network;
mod recovery;
mod storage_suite;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::select_all;
use tempfile::TempDir;
use tokio::net::TcpListener;
use uuid::Uuid;

use super::{
    MetadataQuorum, NodeId, Proposed, QuorumConfig, QuorumError, QuorumRole, QuorumStorage,
    RaftTiming, Voter,
};
use crate::metadata::{ConfigResourceKey, METADATA_DIR, MetadataImage, MetadataRecord};

/// The `cluster.id` of every test quorum.
const CLUSTER_ID: &str = "test-cluster";

/// How long any single condition may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// Tight timings so elections happen within a few hundred milliseconds.
fn test_timing() -> RaftTiming {
    RaftTiming {
        heartbeat_interval: Duration::from_millis(50),
        election_timeout: (Duration::from_millis(150), Duration::from_millis(300)),
        snapshot_every_entries: 1000,
        entries_kept_after_snapshot: 100,
        proposal_timeout: Duration::from_secs(10),
    }
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {DEADLINE:?} waiting for {what}"),
    }
}

/// A quorum of controllers in this process.
struct Cluster {
    _root: TempDir,
    root: PathBuf,
    voters: Vec<Voter>,
    timing: RaftTiming,
    observers: BTreeMap<NodeId, SocketAddr>,
    running: BTreeMap<NodeId, MetadataQuorum>,
    /// Nodes keep their log in memory (nothing survives a restart).
    in_memory: bool,
}

impl Cluster {
    /// Starts voters 1..=n, keeping their logs on disk.
    async fn start(n: u64, timing: RaftTiming) -> Self {
        Self::start_with(n, timing, false).await
    }

    /// Starts voters 1..=n, keeping their logs in memory.
    async fn start_in_memory(n: u64, timing: RaftTiming) -> Self {
        Self::start_with(n, timing, true).await
    }

    async fn start_with(n: u64, timing: RaftTiming, in_memory: bool) -> Self {
        let root_dir = tempfile::tempdir().unwrap();
        let mut listeners = Vec::new();
        let mut voters = Vec::new();
        for id in 1..=n {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            voters.push(Voter {
                id,
                host: "127.0.0.1".into(),
                port,
            });
            listeners.push((id, listener));
        }
        let mut cluster = Self {
            root: root_dir.path().to_owned(),
            _root: root_dir,
            voters,
            timing,
            observers: BTreeMap::new(),
            running: BTreeMap::new(),
            in_memory,
        };
        for (id, listener) in listeners {
            cluster.launch(id, listener).await;
        }
        cluster
    }

    fn data_dir(&self, id: NodeId) -> PathBuf {
        self.root.join(format!("node-{id}"))
    }

    fn metadata_dir(&self, id: NodeId) -> PathBuf {
        self.data_dir(id).join(METADATA_DIR)
    }

    async fn launch(&mut self, id: NodeId, listener: TcpListener) {
        let role = if self.voters.iter().any(|v| v.id == id) {
            QuorumRole::Voter
        } else {
            QuorumRole::Observer
        };
        let config = QuorumConfig {
            node_id: id,
            role,
            cluster_id: CLUSTER_ID.to_owned(),
            voters: self.voters.clone(),
            storage: if self.in_memory {
                QuorumStorage::InMemory
            } else {
                QuorumStorage::OnDisk {
                    data_dir: self.data_dir(id),
                }
            },
            timing: self.timing.clone(),
        };
        let quorum = MetadataQuorum::start(config, listener).await.unwrap();
        self.running.insert(id, quorum);
    }

    fn node(&self, id: NodeId) -> &MetadataQuorum {
        &self.running[&id]
    }

    async fn stop(&mut self, id: NodeId) {
        let quorum = self.running.remove(&id).expect("running");
        quorum.shutdown().await;
    }

    /// Starts a broker-only node `id` (not a voter) and returns its address;
    /// the active controller has yet to add it.
    async fn start_observer(&mut self, id: NodeId) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        self.observers.insert(id, addr);
        self.launch(id, listener).await;
        addr
    }

    /// Starts a stopped node again from its data directory, on its port.
    async fn restart(&mut self, id: NodeId) {
        let addr: SocketAddr = match self.voters.iter().find(|v| v.id == id) {
            Some(voter) => voter.address().parse().unwrap(),
            None => self.observers[&id],
        };
        let listener = TcpListener::bind(addr).await.unwrap();
        self.launch(id, listener).await;
    }

    /// Waits until every running node names the same leader, that leader is
    /// running, acts as leader, and is not `not`.
    async fn leader(&self, not: Option<NodeId>) -> NodeId {
        within("an agreed leader", async {
            let mut metrics: Vec<_> = self.running.values().map(|q| q.raft_metrics()).collect();
            loop {
                let leaders: Vec<_> = metrics.iter().map(|m| m.borrow().current_leader).collect();
                if let Some(Some(leader)) = leaders.first().copied()
                    && leaders.iter().all(|l| *l == Some(leader))
                    && Some(leader) != not
                    && self.running.get(&leader).is_some_and(|q| q.is_leader())
                {
                    return leader;
                }
                let changes = metrics.iter_mut().map(|m| Box::pin(m.changed()));
                let _ = select_all(changes).await;
            }
        })
        .await
    }

    /// Proposes through the leader, retrying when leadership moved between
    /// finding the leader and proposing (as the broker's controller channel
    /// will; each test batch is harmless to apply twice).
    async fn propose(&self, records: Vec<MetadataRecord>) -> Proposed {
        within("a proposal to commit", async {
            loop {
                let leader = self.leader(None).await;
                match self.node(leader).propose(records.clone()).await {
                    Ok(proposed) => return proposed,
                    Err(QuorumError::NotLeader { .. }) => continue,
                    Err(e) => panic!("proposal failed: {e}"),
                }
            }
        })
        .await
    }

    /// Waits until node `id` has applied log entry `index`; returns its image.
    async fn applied(&self, id: NodeId, index: u64) -> Arc<MetadataImage> {
        let mut updates = self.node(id).subscribe();
        within("a node to apply the entry", async {
            let update = updates
                .wait_for(|u| u.applied.is_some_and(|l| l.index >= index))
                .await
                .expect("quorum running");
            update.image.clone()
        })
        .await
    }
}

/// What two images must share to be "the same metadata".
fn fingerprint(image: &MetadataImage) -> (i64, Vec<MetadataRecord>) {
    (image.offset, image.to_records())
}

/// A topic creation, as the controller would write it.
fn create_topic(name: &str) -> Vec<MetadataRecord> {
    let id = Uuid::new_v4();
    vec![
        MetadataRecord::Topic {
            name: name.into(),
            id,
        },
        MetadataRecord::Partition {
            topic_id: id,
            partition: 0,
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: vec![],
            removing_replicas: vec![],
        },
    ]
}

/// A config change whose final value depends on the order of application.
fn set_config(value: u64) -> Vec<MetadataRecord> {
    vec![MetadataRecord::Config {
        resource: ConfigResourceKey::Broker(0),
        name: "order.probe".into(),
        value: Some(value.to_string()),
    }]
}

fn probe(image: &MetadataImage) -> Option<&str> {
    image
        .broker_configs
        .get(&0)
        .and_then(|c| c.get("order.probe"))
        .map(String::as_str)
}

fn not_leader(result: Result<Proposed, QuorumError>) -> Option<NodeId> {
    match result {
        Err(QuorumError::NotLeader { leader }) => leader,
        other => panic!("expected NotLeader, got {other:?}"),
    }
}

fn file_exists(dir: &Path, name: &str) -> bool {
    dir.join(name).is_file()
}
