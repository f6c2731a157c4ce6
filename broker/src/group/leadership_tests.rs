//! The coordinator follows leadership of `__consumer_offsets` in one
//! process: a metadata store in memory, a real replica manager on disk.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::super::membership::{self, JoinParams};
use super::super::store::{OFFSETS_TOPIC, partition_for};
use super::super::{CommittedOffset, GroupCoordinator};
use crate::config::BrokerConfig;
use crate::controller::ControllerChannel;
use crate::log::{LogConfig, LogManager};
use crate::metadata::{MetadataError, MetadataRecord, MetadataStore};
use crate::replica::ReplicaManager;

const OFFSETS_TOPIC_ID: Uuid = Uuid::from_u128(0x0ff5e7);

/// Node 1's coordinator over a two-partition `__consumer_offsets` whose
/// partitions are replicated on brokers 1 and 2 and led by node 1.
struct Cluster {
    _dir: tempfile::TempDir,
    metadata: Arc<MetadataStore>,
    groups: Arc<GroupCoordinator>,
}

impl Cluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = BrokerConfig::default();
        config.set("node.id", "1").unwrap();
        config.set("offsets.topic.num.partitions", "2").unwrap();
        let config = Arc::new(config);
        let metadata = Arc::new(MetadataStore::in_memory());
        let logs = Arc::new(LogManager::open(dir.path(), LogConfig::default()).unwrap());
        let replicas = Arc::new(ReplicaManager::new(1, config.clone(), logs));
        metadata.subscribe(replicas.clone());
        let controller = ControllerChannel::new(metadata.clone(), config.clone());
        let groups = Arc::new(GroupCoordinator::new(
            config,
            metadata.clone(),
            replicas,
            controller,
        ));
        metadata.subscribe(groups.clone());
        let cluster = Self {
            _dir: dir,
            metadata,
            groups,
        };
        let mut records: Vec<MetadataRecord> = [1, 2]
            .into_iter()
            .map(|node_id| MetadataRecord::RegisterBroker {
                node_id,
                host: "localhost".into(),
                port: 9092,
                rack: None,
                fenced: false,
                epoch: 1,
                incarnation: None,
            })
            .collect();
        records.push(MetadataRecord::Topic {
            name: OFFSETS_TOPIC.into(),
            id: OFFSETS_TOPIC_ID,
        });
        cluster.apply(records);
        for partition in 0..2 {
            cluster.set_leader(partition, 1, 0);
        }
        cluster
    }

    fn apply(&self, records: Vec<MetadataRecord>) {
        self.metadata
            .update(|_| Ok::<_, MetadataError>((records, ())))
            .unwrap();
    }

    /// Leadership of an offsets partition moves (what the controller
    /// writes when a broker is fenced or comes back).
    fn set_leader(&self, partition: i32, leader: i32, leader_epoch: i32) {
        self.apply(vec![MetadataRecord::Partition {
            topic_id: OFFSETS_TOPIC_ID,
            partition,
            replicas: vec![1, 2],
            isr: vec![leader],
            leader,
            leader_epoch,
            partition_epoch: leader_epoch,
            adding_replicas: vec![],
            removing_replicas: vec![],
        }]);
    }
}

/// A group id that lives in offsets partition `partition` (of two).
fn group_in(partition: i32) -> String {
    (0..)
        .map(|i| format!("group-{i}"))
        .find(|id| partition_for(id, 2) == partition)
        .unwrap()
}

async fn commit(groups: &Arc<GroupCoordinator>, group: &str, offset: i64) -> Option<ResponseError> {
    if let Some(error) = membership::check_commit(groups, group, -1, "") {
        return Some(error);
    }
    let committed = CommittedOffset {
        offset,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp: 0,
    };
    membership::commit(groups, group, vec![("orders".into(), 0, committed)])
        .await
        .pop()
        .unwrap()
}

fn committed(groups: &GroupCoordinator, group: &str) -> Option<i64> {
    let group = groups.group(group)?;
    let g = group.lock();
    g.offsets.get(&("orders".to_owned(), 0)).map(|c| c.offset)
}

fn join_params(group: &str) -> JoinParams {
    JoinParams {
        group_id: group.to_owned(),
        member_id: String::new(),
        instance_id: None,
        client_id: "test".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 60_000,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::new())],
        require_known_member_id: false,
    }
}

#[tokio::test]
async fn groups_are_dropped_when_leadership_moves_away_and_reloaded_when_it_returns() {
    let cluster = Cluster::start();
    let groups = &cluster.groups;
    let moving = group_in(0);
    let staying = group_in(1);
    assert_eq!(commit(groups, &moving, 42).await, None);
    assert_eq!(commit(groups, &staying, 7).await, None);
    // A member waits in JoinGroup for the initial rebalance delay.
    let waiting = membership::join(groups, join_params(&moving)).ok().unwrap();

    cluster.set_leader(0, 2, 1);
    assert_eq!(
        groups.check_coordinator(&moving),
        Err(ResponseError::NotCoordinator)
    );
    assert!(groups.group(&moving).is_none(), "its groups left memory");
    assert_eq!(
        waiting.await.unwrap().error,
        Some(ResponseError::NotCoordinator)
    );
    assert_eq!(
        commit(groups, &moving, 43).await,
        Some(ResponseError::NotCoordinator)
    );
    assert!(membership::join(groups, join_params(&moving)).is_err());
    // The partition still led here is untouched.
    assert_eq!(groups.check_coordinator(&staying), Ok(()));
    assert_eq!(committed(groups, &staying), Some(7));

    cluster.set_leader(0, 1, 2);
    assert_eq!(groups.check_coordinator(&moving), Ok(()));
    assert_eq!(
        committed(groups, &moving),
        Some(42),
        "reloaded from its log"
    );
}

#[tokio::test]
async fn a_follower_of_an_offsets_partition_does_not_coordinate_its_groups() {
    let cluster = Cluster::start();
    let group = group_in(1);
    cluster.set_leader(1, 2, 1);
    // Node 1 still hosts the partition as a follower.
    assert!(cluster.groups.replicas.get(OFFSETS_TOPIC, 1).is_some());
    assert_eq!(
        cluster.groups.check_coordinator(&group),
        Err(ResponseError::NotCoordinator)
    );
    assert_eq!(
        commit(&cluster.groups, &group, 1).await,
        Some(ResponseError::NotCoordinator)
    );
}
