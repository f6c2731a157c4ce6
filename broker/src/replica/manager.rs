//! The replica manager: which partitions this broker hosts, kept in step with
//! the metadata image.

use std::collections::HashMap;
use std::sync::Arc;

use std::sync::OnceLock;

use parking_lot::{Mutex, RwLock};

use super::checkpoint;
use super::fetcher::ReplicaFetchers;
use super::leader::Transition;
use super::metrics::ReplicationMetrics;
use super::partition::Partition;
use super::throttle::ReplicationThrottle;
use crate::config::{BrokerConfig, LiveBrokerConfig, effective_topic_config};
use crate::controller::{AlterPartition, ControllerChannel};
use crate::log::{LogConfig, LogError, LogManager};
use crate::metadata::{
    MetadataImage, MetadataListener, MetadataRecord, PartitionImage, TopicImage,
};

/// A partition could not be opened or removed.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error("topic {topic}: invalid config: {source}")]
    Config {
        topic: String,
        #[source]
        source: crate::log::LogConfigError,
    },
    #[error("partition {topic}-{partition}: {source}")]
    Log {
        topic: String,
        partition: i32,
        #[source]
        source: LogError,
    },
}

/// One topic's hosted partitions, by partition index.
type HostedTopic = HashMap<i32, Arc<Partition>>;

/// Partitions hosted here, keyed by topic then partition index (a node may
/// host any subset of a topic's partitions).
#[derive(Debug)]
pub struct ReplicaManager {
    node_id: i32,
    /// Static settings with the dynamic broker configs of the metadata log
    /// applied; kept current by [`ReplicaManager::sync`].
    broker_config: Arc<LiveBrokerConfig>,
    logs: Arc<LogManager>,
    partitions: RwLock<HashMap<Arc<str>, HostedTopic>>,
    /// Logs opened by [`MetadataListener::prepare`] for a change not yet
    /// persisted, deleted again if it is aborted (the metadata store's
    /// writer lock serializes changes). Held from opening them until they
    /// are hosted, so [`Self::delete_strays`] never sees a log in between.
    prepared: Mutex<Vec<(String, i32)>>,
    /// Follower fetchers, by leader.
    fetchers: ReplicaFetchers,
    /// The leader side of the replication throttle: the partitions led here
    /// that a reassignment is adding replicas to.
    leader_throttle: ReplicationThrottle,
    /// Where ISR changes go (set once the node has its controller channel).
    controller: OnceLock<ControllerChannel>,
    metrics: ReplicationMetrics,
    /// High watermarks read from the checkpoint at start, used once per
    /// partition as it opens.
    checkpointed: Mutex<HashMap<(String, i32), i64>>,
}

impl ReplicaManager {
    pub fn new(node_id: i32, broker_config: Arc<BrokerConfig>, logs: Arc<LogManager>) -> Self {
        let throttled_rate = broker_config.follower_replication_throttled_rate;
        Self {
            leader_throttle: ReplicationThrottle::new(
                broker_config.leader_replication_throttled_rate,
            ),
            node_id,
            broker_config: Arc::new(LiveBrokerConfig::new(node_id, broker_config)),
            partitions: RwLock::new(HashMap::new()),
            prepared: Mutex::new(Vec::new()),
            fetchers: ReplicaFetchers::new(node_id, throttled_rate),
            controller: OnceLock::new(),
            metrics: ReplicationMetrics::new(),
            checkpointed: Mutex::new(checkpoint::read(logs.dir())),
            logs,
        }
    }

    /// Persists every hosted partition's high watermark.
    pub fn checkpoint_high_watermarks(&self) {
        let mut entries: Vec<(String, i32, i64)> = self
            .all()
            .iter()
            .map(|p| (p.topic.to_string(), p.index, p.high_watermark()))
            .collect();
        entries.sort();
        if let Err(error) = checkpoint::write(self.logs.dir(), &entries) {
            tracing::warn!(%error, "could not checkpoint high watermarks");
        }
    }

    /// The effective broker configuration: static settings with the
    /// dynamic broker configs applied (what DescribeConfigs reports and
    /// topic defaults derive from).
    pub fn broker_config(&self) -> Arc<BrokerConfig> {
        self.broker_config.get()
    }

    /// The live configuration itself, for tasks that read it themselves.
    pub fn live_broker_config(&self) -> &Arc<LiveBrokerConfig> {
        &self.broker_config
    }

    pub fn metrics(&self) -> &ReplicationMetrics {
        &self.metrics
    }

    /// Updates the replication gauges from every hosted partition; the
    /// offline count from `image` when this node is the active controller.
    pub fn report_metrics(&self, image: &MetadataImage, active_controller: bool) {
        let now = crate::clock::now_ms();
        let (mut leaders, mut under, mut under_min, mut lag, mut follower_lag) = (0, 0, 0, 0, 0);
        for partition in self.all() {
            let status = partition.replication_status(now);
            leaders += i64::from(status.leader);
            under += i64::from(status.under_replicated);
            under_min += i64::from(status.under_min_isr);
            lag = lag.max(status.lag_records);
            follower_lag = follower_lag.max(status.follower_lag_ms);
        }
        let m = &self.metrics;
        m.leader_count.set(leaders);
        m.under_replicated.set(under);
        m.under_min_isr.set(under_min);
        m.max_lag_records.set(lag);
        m.max_follower_lag_ms.set(follower_lag);
        let offline = match active_controller {
            true => image
                .topics
                .values()
                .flat_map(|t| &t.partitions)
                .filter(|p| p.leader == -1)
                .count() as i64,
            false => 0,
        };
        m.offline.set(offline);
        m.partitions.report(image, self.node_id);
    }

    /// Gives the replica manager the controller channel its partition
    /// leaders send ISR changes (AlterPartition) through.
    pub fn set_controller(&self, controller: ControllerChannel) {
        let _ = self.controller.set(controller);
    }

    /// Sends an ISR change to the controller in the background; on refusal
    /// the partition may propose again (the next image tells it the truth).
    pub fn propose_isr_change(&self, partition: &Arc<Partition>, change: AlterPartition) {
        let Some(controller) = self.controller.get().cloned() else {
            partition.isr_change_failed();
            return;
        };
        let partition = partition.clone();
        let growing = change.new_isr.len() > partition.leadership().isr.len();
        let counter = match growing {
            true => self.metrics.isr_expands.clone(),
            false => self.metrics.isr_shrinks.clone(),
        };
        tokio::spawn(async move {
            tracing::info!(topic = %partition.topic, partition = partition.index, isr = ?change.new_isr, "asking the controller to change the ISR");
            match controller.alter_partition(change).await {
                Ok(_) => counter.inc(),
                Err(error) => {
                    tracing::warn!(topic = %partition.topic, partition = partition.index, %error, "ISR change refused");
                    partition.isr_change_failed();
                }
            }
        });
    }

    /// At shutdown: every partition led here resigns (see
    /// [`Partition::resign`]) and follower fetching stops.
    pub fn resign_all(&self) {
        self.fetchers.stop_all();
        for partition in self.all() {
            partition.resign();
        }
    }

    /// The replica manager's timers until shutdown: every
    /// `replica.lag.time.max.ms / 2`, partitions led here drop ISR members
    /// that have not caught up for `replica.lag.time.max.ms`; every
    /// `replica.high.watermark.checkpoint.interval.ms` (and at shutdown) the
    /// high watermarks are checkpointed. Shutdown stops the fetchers.
    pub async fn run_background(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let config = self.broker_config.get();
        let lag_max_ms = config.replica_lag_time_max_ms;
        let period = std::time::Duration::from_millis((lag_max_ms / 2).max(100) as u64);
        let mut checkpoint = tokio::time::interval(std::time::Duration::from_millis(
            config.replica_high_watermark_checkpoint_interval_ms,
        ));
        let mut expiry = tokio::time::interval(period);
        loop {
            tokio::select! {
                _ = expiry.tick() => {}
                _ = checkpoint.tick() => {
                    self.checkpoint_high_watermarks();
                    continue;
                }
                _ = shutdown.wait_for(|stop| *stop) => {
                    self.fetchers.stop_all();
                    self.checkpoint_high_watermarks();
                    return;
                }
            }
            let now = crate::clock::now_ms();
            for partition in self.all() {
                if let Some(change) = partition.isr_shrink(now, lag_max_ms) {
                    self.propose_isr_change(&partition, change);
                }
            }
        }
    }

    /// Starts or stops following `partition` after a leadership change.
    fn follow(&self, image: &MetadataImage, partition: &Arc<Partition>, transition: Transition) {
        match transition {
            Transition::Unchanged => {}
            Transition::BecameLeader | Transition::Offline => {
                self.fetchers.unfollow(&partition.topic, partition.index);
            }
            Transition::BecameFollower { leader } => match image.brokers.get(&leader) {
                Some(broker) => self.fetchers.follow(
                    partition.clone(),
                    leader,
                    format!("{}:{}", broker.host, broker.port),
                ),
                None => self.fetchers.unfollow(&partition.topic, partition.index),
            },
        }
    }

    /// This broker's replica of `partition` was reassigned away (`image` no
    /// longer lists it): producers waiting here for acks=all learn the new
    /// leader at once instead of timing out, fetching stops, and the log is
    /// deleted, as Kafka's StopReplica with deletion does.
    fn remove_replica(&self, partition: &Arc<Partition>, image: &PartitionImage) {
        partition.apply_leadership(image);
        self.fetchers.unfollow(&partition.topic, partition.index);
        self.fetchers
            .throttle()
            .set(&partition.topic, partition.index, false);
        if let Err(error) = self
            .logs
            .delete_partition(&partition.topic, partition.index)
        {
            tracing::error!(topic = %partition.topic, partition = partition.index, %error, "could not delete the log of a removed replica");
        }
    }

    /// The most bytes this leader may send `replica` of `partition` in one
    /// fetch under `leader.replication.throttled.rate`: everything for an
    /// in-sync follower or a partition not being reassigned, else what the
    /// shared budget allows (0 while it is spent: the fetch gets no data and
    /// the follower asks again). Spend what was sent with
    /// [`Self::spend_leader_throttle`].
    pub fn leader_throttle_allowance(
        &self,
        partition: &Partition,
        replica: i32,
        max_bytes: usize,
    ) -> (usize, bool) {
        // In-sync followers (the common case) never take the throttle's lock.
        let throttled = !partition.has_in_sync_replica(replica)
            && self
                .leader_throttle
                .is_throttled(&partition.topic, partition.index);
        if !throttled {
            return (max_bytes, false);
        }
        let max = i32::try_from(max_bytes).unwrap_or(i32::MAX);
        let allowed = self.leader_throttle.allowance(max).unwrap_or(0);
        (allowed.max(0) as usize, true)
    }

    /// Counts bytes sent to a throttled replica.
    pub fn spend_leader_throttle(&self, bytes: usize) {
        self.leader_throttle.spend(bytes);
    }

    pub fn logs(&self) -> &Arc<LogManager> {
        &self.logs
    }

    /// The partition, if this broker hosts it.
    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.partitions.read().get(topic)?.get(&partition).cloned()
    }

    /// The partition, if this broker hosts it and leads it: the only replica
    /// clients read, list offsets of or delete records from.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.get(topic, partition).filter(|p| p.is_leader())
    }

    /// Every hosted partition.
    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .values()
            .flat_map(|hosted| hosted.values().cloned())
            .collect()
    }

    /// The log config of a topic: broker defaults overridden by the topic's configs.
    pub fn log_config(&self, topic: &TopicImage) -> Result<LogConfig, ReplicaError> {
        let effective = effective_topic_config(&topic.configs, &self.broker_config.get());
        LogConfig::from_topic_configs(&effective).map_err(|source| ReplicaError::Config {
            topic: topic.name.clone(),
            source,
        })
    }

    /// `min.insync.replicas` of a topic (its override or the broker's).
    fn min_insync_replicas(&self, topic: &TopicImage) -> i32 {
        topic
            .configs
            .get("min.insync.replicas")
            .and_then(|v| v.parse().ok())
            .unwrap_or(self.broker_config.get().min_insync_replicas)
    }

    /// Deletes the logs on disk that `image` does not place on this broker:
    /// replicas reassigned away and topics deleted while this broker was
    /// down (Kafka's stray replicas). Called once the broker has caught up
    /// with the metadata log (its first unfencing), never before: an image
    /// behind the log would make live replicas look stray. Returns what it
    /// deleted.
    pub fn delete_strays(&self, image: &MetadataImage) -> Vec<(String, i32)> {
        let prepared = self.prepared.lock();
        let strays: Vec<(String, i32)> = self
            .logs
            .partitions()
            .into_iter()
            .filter(|(topic, partition)| {
                self.get(topic, *partition).is_none()
                    && !prepared.contains(&(topic.clone(), *partition))
                    && image.topic(topic).is_none_or(|t| {
                        !t.partitions.iter().any(|p| {
                            p.partition == *partition && p.replicas.contains(&self.node_id)
                        })
                    })
            })
            .collect();
        for (topic, partition) in &strays {
            match self.logs.delete_partition(topic, *partition) {
                Ok(()) => {
                    tracing::info!(%topic, partition, "deleted a stray replica: the metadata no longer places it on this broker")
                }
                Err(error) => {
                    tracing::error!(%topic, partition, %error, "could not delete a stray replica")
                }
            }
        }
        strays
    }

    /// Partitions that `next` places on this broker and `current` does not
    /// have, with their log configs.
    fn new_hosted_partitions(
        &self,
        current: &MetadataImage,
        next: &MetadataImage,
    ) -> Result<Vec<(String, i32, LogConfig)>, ReplicaError> {
        let mut wanted = Vec::new();
        for topic in next.topics.values() {
            let existing = current.topic(&topic.name).filter(|t| t.id == topic.id);
            let mut new = topic
                .partitions
                .iter()
                .filter(|p| p.replicas.contains(&self.node_id))
                .filter(|p| {
                    existing.is_none_or(|t| {
                        !t.partitions.iter().any(|q| {
                            q.partition == p.partition && q.replicas.contains(&self.node_id)
                        })
                    })
                })
                .peekable();
            if new.peek().is_none() {
                continue;
            }
            let config = self.log_config(topic)?;
            wanted.extend(new.map(|p| (topic.name.clone(), p.partition, config.clone())));
        }
        Ok(wanted)
    }

    /// Brings hosted partitions in line with `image`: opens logs of new
    /// partitions led by or replicated to this node, applies config changes,
    /// and deletes the logs of topics that no longer exist.
    pub fn sync(&self, image: &MetadataImage) -> Result<(), ReplicaError> {
        if self.broker_config.update(&image.broker_configs) {
            let config = self.broker_config.get();
            self.fetchers
                .throttle()
                .set_rate(config.follower_replication_throttled_rate);
            self.leader_throttle
                .set_rate(config.leader_replication_throttled_rate);
        }
        let mut partitions = self.partitions.write();
        partitions.retain(|name, hosted| {
            let keep = image
                .topic(name)
                .is_some_and(|t| hosted.values().next().is_none_or(|p| p.topic_id == t.id));
            if !keep {
                for index in hosted.keys() {
                    self.fetchers.unfollow(name, *index);
                }
                if let Err(error) = self.logs.delete_topic(name) {
                    tracing::error!(topic = %name, %error, "could not delete the logs of a deleted topic");
                }
            }
            keep
        });
        for topic in image.topics.values() {
            let config = self.log_config(topic)?;
            let min_insync = self.min_insync_replicas(topic);
            let name: Arc<str> = Arc::from(topic.name.as_str());
            let hosted = partitions.entry(name.clone()).or_default();
            for p in &topic.partitions {
                if !p.replicas.contains(&self.node_id) {
                    if let Some(removed) = hosted.remove(&p.partition) {
                        self.remove_replica(&removed, p);
                    }
                    continue;
                }
                let adding = p.adding_replicas.contains(&self.node_id);
                self.fetchers.throttle().set(&name, p.partition, adding);
                let leads_a_move = p.leader == self.node_id && !p.adding_replicas.is_empty();
                self.leader_throttle.set(&name, p.partition, leads_a_move);
                if let Some(partition) = hosted.get(&p.partition) {
                    partition.update_config(config.clone(), min_insync);
                    let transition = partition.apply_leadership(p);
                    self.follow(image, partition, transition);
                    continue;
                }
                let log = self
                    .logs
                    .get_or_create(&topic.name, p.partition, config.clone())
                    .map_err(|source| ReplicaError::Log {
                        topic: topic.name.clone(),
                        partition: p.partition,
                        source,
                    })?;
                let partition = Arc::new(Partition::new(
                    name.clone(),
                    topic.id,
                    p.partition,
                    log,
                    self.node_id,
                    min_insync,
                    self.checkpointed
                        .lock()
                        .remove(&(topic.name.clone(), p.partition)),
                ));
                let transition = partition.apply_leadership(p);
                self.follow(image, &partition, transition);
                hosted.insert(p.partition, partition);
            }
        }
        Ok(())
    }
}

/// The replica manager follows the metadata log: new partitions hosted here
/// are opened, changed configs applied, deleted topics' logs removed.
impl MetadataListener for ReplicaManager {
    /// Opens the logs of partitions that `next` places here before the
    /// change is written: a partition that cannot be opened (no file
    /// descriptors, a full disk) refuses the change instead of leaving a
    /// topic that exists but cannot be used.
    fn prepare(&self, current: &MetadataImage, next: &MetadataImage) -> Result<(), String> {
        let wanted = self
            .new_hosted_partitions(current, next)
            .map_err(|e| e.to_string())?;
        let mut prepared = self.prepared.lock();
        *prepared = self
            .logs
            .open_new(wanted)
            .map_err(|e| format!("cannot open a partition log: {e}"))?;
        Ok(())
    }

    fn abort(&self, _current: &MetadataImage, _next: &MetadataImage) {
        let created = std::mem::take(&mut *self.prepared.lock());
        self.logs.discard(&created);
    }

    fn publish(&self, image: &MetadataImage, _delta: &[MetadataRecord]) {
        let mut prepared = self.prepared.lock();
        if let Err(error) = self.sync(image) {
            tracing::error!(%error, "metadata committed but a partition could not be opened");
        }
        prepared.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::MetadataRecord;
    use uuid::Uuid;

    /// An image with one topic of three partitions, of which node 1 hosts
    /// partitions 1 and 2 only.
    fn image_with_partial_assignment() -> MetadataImage {
        let mut image = MetadataImage::empty();
        let id = Uuid::new_v4();
        image.apply(&MetadataRecord::Topic {
            name: "t".into(),
            id,
        });
        for (partition, replicas) in [(0, vec![2]), (1, vec![1]), (2, vec![1])] {
            image.apply(&MetadataRecord::Partition {
                topic_id: id,
                partition,
                isr: replicas.clone(),
                leader: replicas[0],
                replicas,
                leader_epoch: 0,
                partition_epoch: 0,
                adding_replicas: vec![],
                removing_replicas: vec![],
            });
        }
        image
    }

    #[test]
    fn a_partition_is_found_by_its_index_not_its_position() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Arc::new(LogManager::open(dir.path(), LogConfig::default()).unwrap());
        let manager = ReplicaManager::new(1, Arc::new(BrokerConfig::default()), logs);
        manager.sync(&image_with_partial_assignment()).unwrap();
        assert!(manager.get("t", 0).is_none(), "partition 0 lives on node 2");
        assert_eq!(manager.get("t", 1).unwrap().index, 1);
        assert_eq!(manager.get("t", 2).unwrap().index, 2);
        assert_eq!(manager.all().len(), 2);
    }

    #[tokio::test]
    async fn an_append_wakes_only_waiters_on_its_own_partition() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Arc::new(LogManager::open(dir.path(), LogConfig::default()).unwrap());
        let manager = ReplicaManager::new(1, Arc::new(BrokerConfig::default()), logs);
        manager.sync(&image_with_partial_assignment()).unwrap();
        let (one, two) = (manager.get("t", 1).unwrap(), manager.get("t", 2).unwrap());
        let mut on_one = Box::pin(one.high_watermark_moved());
        let mut on_two = Box::pin(two.high_watermark_moved());
        on_one.as_mut().enable();
        on_two.as_mut().enable();
        let batch = crate::log::test_batch(3, 0, kafka_protocol::records::Compression::None);
        let info = two.append_as_leader(batch, 0, 1).unwrap();
        assert_eq!(two.high_watermark(), info.last_offset + 1);
        tokio::time::timeout(std::time::Duration::from_secs(5), on_two)
            .await
            .expect("the appended partition's waiters are woken");
        assert!(
            futures::poll!(on_one).is_pending(),
            "another partition's waiter stays asleep"
        );
    }

    #[test]
    fn a_dynamic_broker_default_reaches_topics_without_an_override() {
        let dir = tempfile::tempdir().unwrap();
        let logs = Arc::new(LogManager::open(dir.path(), LogConfig::default()).unwrap());
        let manager = ReplicaManager::new(1, Arc::new(BrokerConfig::default()), logs);
        let mut image = image_with_partial_assignment();
        manager.sync(&image).unwrap();
        image.apply(&MetadataRecord::Config {
            resource: crate::metadata::ConfigResourceKey::Broker(crate::config::CLUSTER_DEFAULT),
            name: "message.max.bytes".into(),
            value: Some("4096".into()),
        });
        manager.sync(&image).unwrap();
        assert_eq!(manager.broker_config().message_max_bytes, 4096);
        let partition = manager.get("t", 1).unwrap();
        assert_eq!(partition.log.config().max_message_bytes, 4096);
    }
}
