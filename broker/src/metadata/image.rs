//! The in-memory image of cluster metadata: what every handler reads.
//! Immutable once published; a change builds a new image by applying records.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use uuid::Uuid;

use super::records::{ConfigResourceKey, MetadataRecord};

/// A registered broker and its advertised Kafka endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BrokerImage {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    /// Fenced: missed its heartbeats or shut down (KIP-631).
    #[serde(default)]
    pub fenced: bool,
    /// The broker epoch: new with every registration.
    #[serde(default)]
    pub epoch: i64,
    /// The process that registered (a random id per start).
    #[serde(default)]
    pub incarnation: Option<Uuid>,
    /// Fenced by its own controlled shutdown (until it registers again).
    pub in_controlled_shutdown: bool,
}

/// A partition's placement and leadership.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionImage {
    pub partition: i32,
    pub replicas: Vec<i32>,
    /// In-sync replicas; always a subset of `replicas` containing the leader.
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    /// Bumped by every leader or ISR change.
    #[serde(default)]
    pub partition_epoch: i32,
    /// Replicas a reassignment in progress adds (a subset of `replicas`).
    #[serde(default)]
    pub adding_replicas: Vec<i32>,
    /// Replicas a reassignment in progress removes (a subset of `replicas`).
    #[serde(default)]
    pub removing_replicas: Vec<i32>,
}

impl PartitionImage {
    /// A partition with no reassignment in progress, at epoch 0.
    pub fn new(partition: i32, replicas: Vec<i32>, isr: Vec<i32>, leader: i32) -> Self {
        Self {
            partition,
            replicas,
            isr,
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }
    }

    /// The record that writes this partition of topic `topic_id` whole.
    pub fn to_record(&self, topic_id: Uuid) -> MetadataRecord {
        MetadataRecord::Partition {
            topic_id,
            partition: self.partition,
            replicas: self.replicas.clone(),
            isr: self.isr.clone(),
            leader: self.leader,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            adding_replicas: self.adding_replicas.clone(),
            removing_replicas: self.removing_replicas.clone(),
        }
    }

    /// Whether a reassignment of this partition is in progress.
    pub fn is_reassigning(&self) -> bool {
        !self.adding_replicas.is_empty() || !self.removing_replicas.is_empty()
    }
}

/// A topic: its permanent id, partitions (index = partition number) and
/// config overrides (only the keys set on the topic, as strings like Kafka).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<PartitionImage>,
    pub configs: BTreeMap<String, String>,
}

impl TopicImage {
    /// The replication factor (replicas of partition 0).
    pub fn replication_factor(&self) -> i16 {
        self.partitions
            .first()
            .map_or(0, |p| p.replicas.len() as i16)
    }
}

/// All cluster metadata at one point of the metadata log.
#[derive(Debug, Clone, Default)]
pub struct MetadataImage {
    /// Offset of the last record applied (-1 when empty).
    pub offset: i64,
    pub brokers: BTreeMap<i32, BrokerImage>,
    pub topics: BTreeMap<String, Arc<TopicImage>>,
    pub topic_names_by_id: HashMap<Uuid, String>,
    pub broker_configs: BTreeMap<i32, BTreeMap<String, String>>,
    pub next_producer_id: i64,
}

impl MetadataImage {
    /// An empty image, before any record.
    pub fn empty() -> Self {
        Self {
            offset: -1,
            ..Self::default()
        }
    }

    /// Registered brokers that are not fenced: those that may lead, be
    /// placed on and be listed in Metadata.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerImage> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    pub fn topic(&self, name: &str) -> Option<&Arc<TopicImage>> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&Arc<TopicImage>> {
        self.topic_names_by_id
            .get(id)
            .and_then(|name| self.topics.get(name))
    }

    /// The records that rebuild this image when applied to an empty one, in
    /// a fixed order (brokers, producer ids, broker configs, then topics by
    /// name with their partitions and configs). A snapshot of the metadata
    /// log is these records; the replayed image gets its `offset` back from
    /// the snapshot, since the record count differs from the log's.
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        for broker in self.brokers.values() {
            records.push(MetadataRecord::RegisterBroker {
                node_id: broker.node_id,
                host: broker.host.clone(),
                port: broker.port,
                rack: broker.rack.clone(),
                fenced: broker.fenced,
                epoch: broker.epoch,
                incarnation: broker.incarnation,
            });
        }
        if self.next_producer_id != 0 {
            records.push(MetadataRecord::ProducerIds {
                next_producer_id: self.next_producer_id,
            });
        }
        for (id, configs) in &self.broker_configs {
            push_configs(&mut records, &ConfigResourceKey::Broker(*id), configs);
        }
        for topic in self.topics.values() {
            records.push(MetadataRecord::Topic {
                name: topic.name.clone(),
                id: topic.id,
            });
            for p in &topic.partitions {
                records.push(p.to_record(topic.id));
            }
            push_configs(
                &mut records,
                &ConfigResourceKey::Topic(topic.name.clone()),
                &topic.configs,
            );
        }
        records
    }

    /// Applies one record. Records that refer to something unknown (a
    /// partition of a removed topic) are ignored, as a replayed log may hold them.
    pub fn apply(&mut self, record: &MetadataRecord) {
        self.offset += 1;
        match record {
            MetadataRecord::RegisterBroker {
                node_id,
                host,
                port,
                rack,
                fenced,
                epoch,
                incarnation,
            } => {
                self.brokers.insert(
                    *node_id,
                    BrokerImage {
                        node_id: *node_id,
                        host: host.clone(),
                        port: *port,
                        rack: rack.clone(),
                        fenced: *fenced,
                        epoch: *epoch,
                        incarnation: *incarnation,
                        in_controlled_shutdown: false,
                    },
                );
            }
            MetadataRecord::FenceBroker {
                node_id,
                controlled_shutdown,
            } => {
                if let Some(broker) = self.brokers.get_mut(node_id) {
                    broker.fenced = true;
                    broker.in_controlled_shutdown = *controlled_shutdown;
                }
            }
            MetadataRecord::UnfenceBroker { node_id } => {
                if let Some(broker) = self.brokers.get_mut(node_id) {
                    broker.fenced = false;
                    broker.in_controlled_shutdown = false;
                }
            }
            MetadataRecord::Topic { name, id } => {
                self.topic_names_by_id.insert(*id, name.clone());
                self.topics.insert(
                    name.clone(),
                    Arc::new(TopicImage {
                        name: name.clone(),
                        id: *id,
                        partitions: Vec::new(),
                        configs: BTreeMap::new(),
                    }),
                );
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
                adding_replicas,
                removing_replicas,
            } => {
                let Some(name) = self.topic_names_by_id.get(topic_id) else {
                    return;
                };
                let Some(topic) = self.topics.get_mut(name) else {
                    return;
                };
                let topic = Arc::make_mut(topic);
                let image = PartitionImage {
                    partition: *partition,
                    replicas: replicas.clone(),
                    isr: isr.clone(),
                    leader: *leader,
                    leader_epoch: *leader_epoch,
                    partition_epoch: *partition_epoch,
                    adding_replicas: adding_replicas.clone(),
                    removing_replicas: removing_replicas.clone(),
                };
                let index = *partition as usize;
                if index < topic.partitions.len() {
                    topic.partitions[index] = image;
                } else if index == topic.partitions.len() {
                    topic.partitions.push(image);
                }
            }
            MetadataRecord::Config {
                resource,
                name,
                value,
            } => {
                let configs = match resource {
                    ConfigResourceKey::Topic(topic) => match self.topics.get_mut(topic) {
                        Some(t) => &mut Arc::make_mut(t).configs,
                        None => return,
                    },
                    ConfigResourceKey::Broker(id) => self.broker_configs.entry(*id).or_default(),
                };
                match value {
                    Some(v) => configs.insert(name.clone(), v.clone()),
                    None => configs.remove(name),
                };
            }
            MetadataRecord::RemoveTopic { id } => {
                if let Some(name) = self.topic_names_by_id.remove(id) {
                    self.topics.remove(&name);
                }
            }
            MetadataRecord::ProducerIds { next_producer_id } => {
                self.next_producer_id = self.next_producer_id.max(*next_producer_id);
            }
        }
    }
}

/// One `Config` record per key of `configs`.
fn push_configs(
    records: &mut Vec<MetadataRecord>,
    resource: &ConfigResourceKey,
    configs: &BTreeMap<String, String>,
) {
    for (name, value) in configs {
        records.push(MetadataRecord::Config {
            resource: resource.clone(),
            name: name.clone(),
            value: Some(value.clone()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_partitions_and_configs_follow_records() {
        let id = Uuid::new_v4();
        let mut image = MetadataImage::empty();
        image.apply(&MetadataRecord::Topic {
            name: "t".into(),
            id,
        });
        for p in 0..2 {
            image.apply(&MetadataRecord::Partition {
                topic_id: id,
                partition: p,
                replicas: vec![1],
                isr: vec![1],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
                adding_replicas: vec![],
                removing_replicas: vec![],
            });
        }
        image.apply(&MetadataRecord::Config {
            resource: ConfigResourceKey::Topic("t".into()),
            name: "retention.ms".into(),
            value: Some("1000".into()),
        });
        let topic = image.topic("t").unwrap();
        assert_eq!(topic.partitions.len(), 2);
        assert_eq!(topic.configs["retention.ms"], "1000");
        assert_eq!(image.topic_by_id(&id).unwrap().name, "t");
        assert_eq!(image.offset, 3);

        image.apply(&MetadataRecord::RemoveTopic { id });
        assert!(image.topic("t").is_none());
        assert!(image.topic_by_id(&id).is_none());
    }

    #[test]
    fn to_records_rebuild_the_same_image() {
        let id = Uuid::new_v4();
        let mut image = MetadataImage::empty();
        let history = [
            MetadataRecord::RegisterBroker {
                node_id: 1,
                host: "a".into(),
                port: 9092,
                rack: Some("r1".into()),
                fenced: true,
                epoch: 4,
                incarnation: Some(Uuid::new_v4()),
            },
            MetadataRecord::Topic {
                name: "t".into(),
                id,
            },
            MetadataRecord::Partition {
                topic_id: id,
                partition: 0,
                replicas: vec![1, 2],
                isr: vec![1],
                leader: 1,
                leader_epoch: 3,
                partition_epoch: 2,
                adding_replicas: vec![2],
                removing_replicas: vec![],
            },
            MetadataRecord::Config {
                resource: ConfigResourceKey::Topic("t".into()),
                name: "retention.ms".into(),
                value: Some("5".into()),
            },
            MetadataRecord::Config {
                resource: ConfigResourceKey::Broker(1),
                name: "log.retention.ms".into(),
                value: Some("7".into()),
            },
            MetadataRecord::ProducerIds {
                next_producer_id: 1000,
            },
        ];
        for record in &history {
            image.apply(record);
        }
        let mut rebuilt = MetadataImage::empty();
        for record in image.to_records() {
            rebuilt.apply(&record);
        }
        assert_eq!(rebuilt.to_records(), image.to_records());
        assert_eq!(rebuilt.brokers, image.brokers);
        assert_eq!(rebuilt.topics, image.topics);
        assert_eq!(rebuilt.topic_names_by_id, image.topic_names_by_id);
        assert_eq!(rebuilt.broker_configs, image.broker_configs);
        assert_eq!(rebuilt.next_producer_id, image.next_producer_id);
    }
}
