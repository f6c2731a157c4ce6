//! Follower fetching: one task per leader broker fetches every partition
//! this broker follows from it, in one Fetch request (replica id set), over
//! the project's own Kafka client, as Kafka's replica fetcher threads do.
//! Before a partition's first fetch from a new leader, it asks the leader
//! where its last leader epoch ended (OffsetForLeaderEpoch, KIP-101/279)
//! and truncates there, so a divergent tail never survives a failover.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use karst_client::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use karst_client::kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use karst_client::kafka_protocol::messages::{
    BrokerId, FetchRequest, OffsetForLeaderEpochRequest, TopicName,
};
use karst_client::kafka_protocol::protocol::StrBytes;
use karst_client::{Connection, ResponseError};
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::partition::Partition;
use super::throttle::ReplicationThrottle;
use crate::clock::now_ms;

/// How long a follower fetch waits at the leader for new records.
const FETCH_MAX_WAIT_MS: i32 = 500;
/// Bytes per partition per fetch.
const PARTITION_MAX_BYTES: i32 = 1024 * 1024;
/// Pause before reconnecting to a leader that cannot be reached.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(300);

type Key = (Arc<str>, i32);

/// A followed partition and whether it has been truncated for this leader.
#[derive(Debug, Clone)]
struct Followed {
    partition: Arc<Partition>,
    leader_epoch: i32,
    truncated: bool,
    /// After the leader refused this partition (leadership moving), it is
    /// left out of fetches until then; the others go on.
    paused_until: Option<tokio::time::Instant>,
}

#[derive(Debug)]
struct LeaderFetcher {
    address: String,
    partitions: Arc<Mutex<HashMap<Key, Followed>>>,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

/// The fetchers of this broker, by leader.
#[derive(Debug)]
pub(crate) struct ReplicaFetchers {
    node_id: i32,
    by_leader: Mutex<HashMap<i32, LeaderFetcher>>,
    throttle: Arc<ReplicationThrottle>,
}

impl ReplicaFetchers {
    /// Fetchers of broker `node_id`, reassignment-adding replicas throttled
    /// at `throttled_rate` bytes/s (`follower.replication.throttled.rate`).
    pub(crate) fn new(node_id: i32, throttled_rate: u64) -> Self {
        Self {
            node_id,
            by_leader: Mutex::new(HashMap::new()),
            throttle: Arc::new(ReplicationThrottle::new(throttled_rate)),
        }
    }

    /// Which followed partitions are throttled.
    pub(crate) fn throttle(&self) -> &ReplicationThrottle {
        &self.throttle
    }

    /// Follows `partition` from `leader` at `address` (leaving any other
    /// leader's fetcher).
    pub(crate) fn follow(&self, partition: Arc<Partition>, leader: i32, address: String) {
        let key: Key = (partition.topic.clone(), partition.index);
        self.unfollow(&key.0, key.1);
        let mut fetchers = self.by_leader.lock();
        if fetchers.get(&leader).is_some_and(|f| f.address != address)
            && let Some(old) = fetchers.remove(&leader)
        {
            old.task.abort();
        }
        let fetcher = fetchers.entry(leader).or_insert_with(|| {
            let partitions = Arc::new(Mutex::new(HashMap::new()));
            let wake = Arc::new(Notify::new());
            let task = tokio::spawn(run(
                self.node_id,
                address.clone(),
                partitions.clone(),
                wake.clone(),
                self.throttle.clone(),
            ));
            LeaderFetcher {
                address,
                partitions,
                wake,
                task,
            }
        });
        let leader_epoch = partition.leader_epoch();
        fetcher.partitions.lock().insert(
            key,
            Followed {
                partition,
                leader_epoch,
                truncated: false,
                paused_until: None,
            },
        );
        fetcher.wake.notify_one();
    }

    /// Stops following `topic`-`index` (it leads now, is offline or gone).
    pub(crate) fn unfollow(&self, topic: &str, index: i32) {
        let mut fetchers = self.by_leader.lock();
        fetchers.retain(|_, fetcher| {
            let mut partitions = fetcher.partitions.lock();
            partitions.retain(|(t, i), _| !(&**t == topic && *i == index));
            let idle = partitions.is_empty();
            if idle {
                fetcher.task.abort();
            }
            !idle
        });
    }

    /// Stops every fetcher (shutdown).
    pub(crate) fn stop_all(&self) {
        for (_, fetcher) in self.by_leader.lock().drain() {
            fetcher.task.abort();
        }
    }
}

/// Fetches from one leader until aborted, reconnecting as needed.
async fn run(
    node_id: i32,
    address: String,
    partitions: Arc<Mutex<HashMap<Key, Followed>>>,
    wake: Arc<Notify>,
    throttle: Arc<ReplicationThrottle>,
) {
    loop {
        let client_id = format!("karst-replica-fetcher-{node_id}");
        let mut connection = match Connection::connect_with_client_id(&address, &client_id).await {
            Ok(connection) => connection,
            Err(error) => {
                tracing::debug!(%address, %error, "cannot reach the partition leader");
                tokio::time::sleep(RECONNECT_BACKOFF).await;
                continue;
            }
        };
        loop {
            let mut followed = snapshot(&partitions);
            if followed.is_empty() {
                wake.notified().await;
                continue;
            }
            if let Err(error) = truncate_new(&mut connection, &partitions, &followed).await {
                tracing::debug!(%address, %error, "OffsetForLeaderEpoch failed");
                break;
            }
            if followed.iter().any(|(_, f)| !f.truncated) {
                // Read again: the partitions truncated just now are fetched
                // in this round, not after a backoff (nothing else to fetch)
                // or the long poll of the others.
                followed = snapshot(&partitions);
            }
            let fetched = fetch_once(node_id, &mut connection, &partitions, &followed, &throttle);
            if let Err(error) = fetched.await {
                tracing::debug!(%address, %error, "follower fetch failed");
                break;
            }
        }
        tokio::time::sleep(RECONNECT_BACKOFF).await;
    }
}

/// The followed partitions as they are now.
fn snapshot(partitions: &Mutex<HashMap<Key, Followed>>) -> Vec<(Key, Followed)> {
    partitions
        .lock()
        .iter()
        .map(|(k, f)| (k.clone(), f.clone()))
        .collect()
}

/// Truncates the partitions that have not been yet for this leader: to
/// where the leader says their latest epoch ended, or to the high
/// watermark when the log has no epoch (Kafka's fallback).
async fn truncate_new(
    connection: &mut Connection,
    partitions: &Mutex<HashMap<Key, Followed>>,
    followed: &[(Key, Followed)],
) -> karst_client::Result<()> {
    let pending: Vec<&(Key, Followed)> = followed.iter().filter(|(_, f)| !f.truncated).collect();
    if pending.is_empty() {
        return Ok(());
    }
    let mut by_topic: HashMap<Arc<str>, Vec<OffsetForLeaderPartition>> = HashMap::new();
    for ((topic, index), f) in &pending {
        by_topic.entry(topic.clone()).or_default().push(
            OffsetForLeaderPartition::default()
                .with_partition(*index)
                .with_current_leader_epoch(f.leader_epoch)
                .with_leader_epoch(f.partition.latest_leader_epoch().unwrap_or(-1)),
        );
    }
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-2))
        .with_topics(
            by_topic
                .into_iter()
                .map(|(topic, ps)| {
                    OffsetForLeaderTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                        .with_partitions(ps)
                })
                .collect(),
        );
    let response = connection.send(request, None).await?;
    let mut partitions = partitions.lock();
    for topic in response.topics {
        let name: Arc<str> = Arc::from(topic.topic.0.as_str());
        for answer in topic.partitions {
            let key = (name.clone(), answer.partition);
            let Some(f) = partitions.get_mut(&key) else {
                continue;
            };
            if answer.error_code != 0 {
                continue;
            }
            let target = if answer.end_offset < 0 {
                f.partition.high_watermark()
            } else {
                answer.end_offset
            };
            match f.partition.truncate_to(target) {
                Ok(end) => {
                    if end < f.partition.log_end_offset() || target < end {
                        tracing::debug!(topic = %key.0, partition = key.1, end, "truncated");
                    }
                    f.truncated = true;
                }
                Err(error) => {
                    tracing::error!(topic = %key.0, partition = key.1, %error, "truncation failed")
                }
            }
        }
    }
    Ok(())
}

/// One Fetch of every followed (and truncated) partition; appends what came.
async fn fetch_once(
    node_id: i32,
    connection: &mut Connection,
    partitions: &Mutex<HashMap<Key, Followed>>,
    followed: &[(Key, Followed)],
    throttle: &ReplicationThrottle,
) -> karst_client::Result<()> {
    let mut by_topic: HashMap<Arc<str>, Vec<FetchPartition>> = HashMap::new();
    let now = tokio::time::Instant::now();
    let ready = |f: &Followed| f.truncated && f.paused_until.is_none_or(|at| at <= now);
    for ((topic, index), f) in followed.iter().filter(|(_, f)| ready(f)) {
        let max_bytes = if throttle.is_throttled(topic, *index) {
            match throttle.allowance(PARTITION_MAX_BYTES) {
                Some(allowed) => allowed,
                None => continue,
            }
        } else {
            PARTITION_MAX_BYTES
        };
        by_topic.entry(topic.clone()).or_default().push(
            FetchPartition::default()
                .with_partition(*index)
                .with_current_leader_epoch(f.leader_epoch)
                .with_fetch_offset(f.partition.log_end_offset())
                .with_log_start_offset(f.partition.log_start_offset())
                .with_partition_max_bytes(max_bytes),
        );
    }
    if by_topic.is_empty() {
        tokio::time::sleep(RECONNECT_BACKOFF).await;
        return Ok(());
    }
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(node_id))
        .with_max_wait_ms(FETCH_MAX_WAIT_MS)
        .with_min_bytes(1)
        .with_max_bytes(i32::MAX)
        .with_session_epoch(-1)
        .with_topics(
            by_topic
                .into_iter()
                .map(|(topic, ps)| {
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                        .with_partitions(ps)
                })
                .collect(),
        );
    // v12: topics by name and the replica id in the request body.
    let version = connection.negotiated_version::<FetchRequest>()?.min(12);
    let response = connection.send(request, Some(version)).await?;
    for topic in response.responses {
        let name: Arc<str> = Arc::from(topic.topic.0.as_str());
        for data in topic.partitions {
            let key = (name.clone(), data.partition_index);
            let Some(f) = followed.iter().find(|(k, _)| *k == key).map(|(_, f)| f) else {
                continue;
            };
            let partition = &f.partition;
            match ResponseError::try_from_code(data.error_code) {
                None => {
                    if let Some(records) = &data.records
                        && throttle.is_throttled(&key.0, key.1)
                    {
                        throttle.spend(records.len());
                    }
                    if let Some(records) = data.records.filter(|r| !r.is_empty())
                        && let Err(error) = partition
                            .submit_append_as_follower(records, now_ms())
                            .await
                            .unwrap_or_else(|lane| Err(lane.into()))
                    {
                        tracing::warn!(topic = %key.0, partition = key.1, %error, "follower append failed; truncating again");
                        if let Some(f) = partitions.lock().get_mut(&key) {
                            f.truncated = false;
                        }
                        continue;
                    }
                    partition.follow_leader_offsets(data.high_watermark, data.log_start_offset);
                }
                Some(ResponseError::OffsetOutOfRange)
                    if data.log_start_offset > partition.log_end_offset() =>
                {
                    // What this replica lacks is gone from the leader too
                    // (retention, DeleteRecords): start over at its start.
                    let (from, to) = (partition.log_end_offset(), data.log_start_offset);
                    match partition.truncate_fully_and_start_at(to, now_ms()) {
                        Ok(()) => {
                            tracing::info!(topic = %key.0, partition = key.1, from, to, "log end below the leader's log start: log restarted at the leader's start")
                        }
                        Err(error) => {
                            tracing::warn!(topic = %key.0, partition = key.1, %error, "could not restart the log at the leader's start")
                        }
                    }
                }
                Some(ResponseError::OffsetOutOfRange) => {
                    if let Some(f) = partitions.lock().get_mut(&key) {
                        f.truncated = false;
                    }
                }
                Some(error) => {
                    // Leadership is moving: the next metadata change
                    // re-points this partition; until then it waits.
                    tracing::debug!(topic = %key.0, partition = key.1, ?error, "follower fetch refused");
                    if let Some(f) = partitions.lock().get_mut(&key) {
                        f.paused_until = Some(tokio::time::Instant::now() + RECONNECT_BACKOFF);
                    }
                }
            }
        }
    }
    Ok(())
}
