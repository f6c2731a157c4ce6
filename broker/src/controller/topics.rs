//! Topic creation, partition growth and deletion.

use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::placement::place_replicas;
use crate::config::topic_name;
use crate::config::{BrokerConfig, validate_topic_config};
use crate::metadata::{MetadataError, MetadataImage, MetadataRecord, PartitionImage};

/// A topic to create, as CreateTopics or auto-creation asks for it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewTopic {
    pub name: String,
    /// -1: `num.partitions`.
    pub num_partitions: i32,
    /// -1: `default.replication.factor`.
    pub replication_factor: i16,
    /// Explicit replica assignment per partition (CreateTopics `assignments`).
    pub assignments: Vec<Vec<i32>>,
    pub configs: Vec<(String, String)>,
}

/// Why a topic operation was refused; each maps to Kafka's error code.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("{0}")]
    InvalidTopic(#[from] topic_name::InvalidTopicName),
    #[error("topic '{0}' already exists")]
    AlreadyExists(String),
    #[error("topic '{0}' does not exist")]
    UnknownTopic(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("topic '{0}' is internal and cannot be changed this way")]
    Internal(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    PolicyViolation(String),
    #[error("topic deletion is disabled (delete.topic.enable=false)")]
    DeletionDisabled,
    #[error(transparent)]
    Storage(#[from] MetadataError),
    /// A storage failure shared by several results (one failed metadata
    /// write answers every topic of a request), or a partition log that
    /// could not be opened.
    #[error("{0}")]
    StorageFailed(String),
    /// The active controller, on another node, refused the command with
    /// this Kafka error code and message.
    #[error("{message}")]
    Remote { code: i16, message: String },
    /// No active controller answered in time (an election, or no quorum).
    #[error("{0}")]
    NotController(String),
    /// A heartbeat or request from a broker epoch that is not current.
    #[error("{0}")]
    StaleBrokerEpoch(String),
    /// Another live process is registered with this node id.
    #[error("{0}")]
    DuplicateBrokerRegistration(String),
    /// AlterPartition from a broker that does not lead the partition.
    #[error("{0}")]
    NotLeader(String),
    #[error("{0}")]
    FencedLeaderEpoch(String),
    /// AlterPartition from an older view of the partition.
    #[error("{0}")]
    InvalidUpdateVersion(String),
    /// A fenced or unknown broker cannot join an ISR.
    #[error("{0}")]
    IneligibleReplica(String),
    /// A partition that the topic does not have (or of no such topic).
    #[error("{0}")]
    UnknownPartition(String),
    /// A reassignment cancelled where none is in progress.
    #[error("{0}")]
    NoReassignmentInProgress(String),
    /// An election asked for a partition whose leader is already right.
    #[error("{0}")]
    ElectionNotNeeded(String),
    /// The preferred replica is not live and in sync.
    #[error("{0}")]
    PreferredLeaderNotAvailable(String),
    /// No live replica may lead the partition.
    #[error("{0}")]
    EligibleLeadersNotAvailable(String),
}

impl TopicError {
    /// The Kafka error code for this refusal.
    pub fn code(&self) -> ResponseError {
        match self {
            Self::InvalidTopic(_) | Self::Internal(_) => ResponseError::InvalidTopicException,
            Self::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
            Self::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition,
            Self::InvalidPartitions(_) => ResponseError::InvalidPartitions,
            Self::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
            Self::InvalidReplicaAssignment(_) => ResponseError::InvalidReplicaAssignment,
            Self::InvalidConfig(_) => ResponseError::InvalidConfig,
            Self::DeletionDisabled => ResponseError::TopicDeletionDisabled,
            Self::InvalidRequest(_) => ResponseError::InvalidRequest,
            Self::PolicyViolation(_) => ResponseError::PolicyViolation,
            Self::Storage(_) | Self::StorageFailed(_) => ResponseError::KafkaStorageError,
            Self::Remote { code, .. } => {
                ResponseError::try_from_code(*code).unwrap_or(ResponseError::UnknownServerError)
            }
            Self::NotController(_) => ResponseError::NotController,
            Self::StaleBrokerEpoch(_) => ResponseError::StaleBrokerEpoch,
            Self::DuplicateBrokerRegistration(_) => ResponseError::DuplicateBrokerRegistration,
            Self::NotLeader(_) => ResponseError::NotLeaderOrFollower,
            Self::FencedLeaderEpoch(_) => ResponseError::FencedLeaderEpoch,
            Self::InvalidUpdateVersion(_) => ResponseError::InvalidUpdateVersion,
            Self::IneligibleReplica(_) => ResponseError::IneligibleReplica,
            Self::UnknownPartition(_) => ResponseError::UnknownTopicOrPartition,
            Self::NoReassignmentInProgress(_) => ResponseError::NoReassignmentInProgress,
            Self::ElectionNotNeeded(_) => ResponseError::ElectionNotNeeded,
            Self::PreferredLeaderNotAvailable(_) => ResponseError::PreferredLeaderNotAvailable,
            Self::EligibleLeadersNotAvailable(_) => ResponseError::EligibleLeadersNotAvailable,
        }
    }
}

/// The most partitions one request may create for a topic; keeps a typo
/// from creating millions of directories. `max.broker.partitions` (fitted
/// to the file limit at start) is usually the tighter bound.
const MAX_PARTITIONS: i32 = 100_000;

/// Refuses new partitions (`assignments`, replicas of each) that would put
/// more than `max.broker.partitions` partition replicas on any broker: each
/// costs file descriptors, and a broker out of them stops serving.
fn check_broker_partitions(
    image: &MetadataImage,
    config: &BrokerConfig,
    assignments: &[Vec<i32>],
) -> Result<(), TopicError> {
    let mut added: std::collections::BTreeMap<i32, usize> = Default::default();
    for broker in assignments.iter().flatten() {
        *added.entry(*broker).or_default() += 1;
    }
    let limit = config.max_broker_partitions;
    for (broker, new) in added {
        let hosted = image
            .topics
            .values()
            .flat_map(|t| &t.partitions)
            .filter(|p| p.replicas.contains(&broker))
            .count();
        if hosted + new > limit {
            return Err(TopicError::PolicyViolation(format!(
                "{new} new partitions would put {} on broker {broker}, above its limit of {limit} \
                 (max.broker.partitions, lowered at start to fit the file limit)",
                hosted + new
            )));
        }
    }
    Ok(())
}

/// Records that create `topic`, or why it cannot be created.
pub fn create_topic_records(
    image: &MetadataImage,
    config: &BrokerConfig,
    topic: &NewTopic,
) -> Result<Vec<MetadataRecord>, TopicError> {
    topic_name::validate(&topic.name)?;
    if image.topic(&topic.name).is_some() {
        return Err(TopicError::AlreadyExists(topic.name.clone()));
    }
    for (key, value) in &topic.configs {
        validate_topic_config(key, value).map_err(|e| TopicError::InvalidConfig(e.to_string()))?;
    }
    let assignments = if topic.assignments.is_empty() {
        let partitions = match topic.num_partitions {
            -1 => config.num_partitions,
            n => n,
        };
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(TopicError::InvalidPartitions(format!(
                "number of partitions must be between 1 and {MAX_PARTITIONS}, got {partitions}"
            )));
        }
        let replication_factor = match topic.replication_factor {
            -1 => config.default_replication_factor,
            n => n,
        };
        place_replicas(image, 0, partitions, replication_factor)?
    } else {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(TopicError::InvalidRequest(
                "both assignments and numPartitions/replicationFactor were given".into(),
            ));
        }
        check_assignments(image, &topic.assignments)?;
        topic.assignments.clone()
    };
    check_broker_partitions(image, config, &assignments)?;
    let id = Uuid::new_v4();
    let mut records = vec![MetadataRecord::Topic {
        name: topic.name.clone(),
        id,
    }];
    records.extend(partition_records(image, id, 0, assignments));
    records.extend(
        topic
            .configs
            .iter()
            .map(|(name, value)| MetadataRecord::Config {
                resource: crate::metadata::ConfigResourceKey::Topic(topic.name.clone()),
                name: name.clone(),
                value: Some(value.clone()),
            }),
    );
    Ok(records)
}

/// Records that grow `topic` to `count` partitions.
pub fn create_partition_records(
    image: &MetadataImage,
    config: &BrokerConfig,
    topic: &str,
    count: i32,
    assignments: &[Vec<i32>],
) -> Result<Vec<MetadataRecord>, TopicError> {
    let existing = image
        .topic(topic)
        .ok_or_else(|| TopicError::UnknownTopic(topic.to_owned()))?;
    let current = existing.partitions.len() as i32;
    if count <= current {
        return Err(TopicError::InvalidPartitions(format!(
            "topic currently has {current} partitions, which is higher than or equal to the requested {count}"
        )));
    }
    if count > MAX_PARTITIONS {
        return Err(TopicError::InvalidPartitions(format!(
            "number of partitions must be at most {MAX_PARTITIONS}, got {count}"
        )));
    }
    let new = if assignments.is_empty() {
        place_replicas(
            image,
            current,
            count - current,
            existing.replication_factor(),
        )?
    } else {
        if assignments.len() as i32 != count - current {
            return Err(TopicError::InvalidReplicaAssignment(format!(
                "{} assignments given for {} new partitions",
                assignments.len(),
                count - current
            )));
        }
        check_assignments(image, assignments)?;
        assignments.to_vec()
    };
    check_broker_partitions(image, config, &new)?;
    Ok(partition_records(image, existing.id, current, new))
}

/// Records that delete `topic`.
pub fn delete_topic_records(
    image: &MetadataImage,
    config: &BrokerConfig,
    topic: &str,
) -> Result<Vec<MetadataRecord>, TopicError> {
    if !config.delete_topic_enable {
        return Err(TopicError::DeletionDisabled);
    }
    let existing = image
        .topic(topic)
        .ok_or_else(|| TopicError::UnknownTopic(topic.to_owned()))?;
    Ok(vec![MetadataRecord::RemoveTopic { id: existing.id }])
}

/// New partitions: in sync are the live replicas (all of them, unless an
/// explicit assignment names a fenced broker), the first of them leads.
fn partition_records(
    image: &MetadataImage,
    topic_id: Uuid,
    first: i32,
    assignments: Vec<Vec<i32>>,
) -> Vec<MetadataRecord> {
    let live = |id: &i32| image.brokers.get(id).is_some_and(|b| !b.fenced);
    assignments
        .into_iter()
        .enumerate()
        .map(|(i, replicas)| {
            let isr: Vec<i32> = replicas.iter().copied().filter(live).collect();
            PartitionImage::new(first + i as i32, replicas, isr.clone(), isr[0]).to_record(topic_id)
        })
        .collect()
}

fn check_assignments(image: &MetadataImage, assignments: &[Vec<i32>]) -> Result<(), TopicError> {
    let rf = assignments.first().map_or(0, Vec::len);
    for replicas in assignments {
        if replicas.is_empty() || replicas.len() != rf {
            return Err(TopicError::InvalidReplicaAssignment(
                "every partition needs the same, non-zero number of replicas".into(),
            ));
        }
        let mut seen = replicas.clone();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != replicas.len() {
            return Err(TopicError::InvalidReplicaAssignment(format!(
                "duplicate broker in replica assignment {replicas:?}"
            )));
        }
        if let Some(unknown) = replicas.iter().find(|b| !image.brokers.contains_key(b)) {
            return Err(TopicError::InvalidReplicaAssignment(format!(
                "broker {unknown} in the replica assignment is not registered"
            )));
        }
        if replicas.iter().all(|b| image.brokers[b].fenced) {
            return Err(TopicError::InvalidReplicaAssignment(format!(
                "every broker of replica assignment {replicas:?} is fenced: none could lead"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_with_brokers(ids: &[i32]) -> MetadataImage {
        let mut image = MetadataImage::empty();
        for id in ids {
            image.apply(&MetadataRecord::test_broker(*id, None, false));
        }
        image
    }

    fn new_topic(name: &str, partitions: i32, rf: i16) -> NewTopic {
        NewTopic {
            name: name.into(),
            num_partitions: partitions,
            replication_factor: rf,
            assignments: vec![],
            configs: vec![],
        }
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            image.apply(r);
        }
    }

    #[test]
    fn created_topic_spreads_leaders_over_brokers() {
        let mut image = image_with_brokers(&[1, 2, 3]);
        let records =
            create_topic_records(&image, &BrokerConfig::default(), &new_topic("t", 6, 1)).unwrap();
        apply(&mut image, &records);
        let topic = image.topic("t").unwrap();
        assert_eq!(topic.partitions.len(), 6);
        let leaders: Vec<i32> = topic.partitions.iter().map(|p| p.leader).collect();
        assert_eq!(leaders, vec![1, 2, 3, 1, 2, 3]);
        assert!(
            topic
                .partitions
                .iter()
                .all(|p| p.replicas.len() == 1 && p.isr == p.replicas)
        );
    }

    #[test]
    fn replicated_partitions_start_with_every_replica_in_sync() {
        let mut image = image_with_brokers(&[1, 2, 3]);
        let records =
            create_topic_records(&image, &BrokerConfig::default(), &new_topic("t", 6, 3)).unwrap();
        apply(&mut image, &records);
        for p in &image.topic("t").unwrap().partitions {
            assert_eq!(p.replicas.len(), 3);
            assert_eq!(p.isr, p.replicas);
            assert_eq!(p.leader, p.replicas[0]);
        }
        let refused = create_topic_records(&image, &BrokerConfig::default(), &new_topic("u", 1, 4))
            .unwrap_err();
        assert_eq!(refused.code(), ResponseError::InvalidReplicationFactor);
    }

    #[test]
    fn defaults_come_from_broker_config() {
        let image = image_with_brokers(&[1]);
        let mut config = BrokerConfig::default();
        config.set("num.partitions", "3").unwrap();
        let records = create_topic_records(&image, &config, &new_topic("t", -1, -1)).unwrap();
        let partitions = records
            .iter()
            .filter(|r| matches!(r, MetadataRecord::Partition { .. }))
            .count();
        assert_eq!(partitions, 3);
    }

    #[test]
    fn refusals_carry_kafka_error_codes() {
        let mut image = image_with_brokers(&[1]);
        let config = BrokerConfig::default();
        let code = |r: Result<Vec<MetadataRecord>, TopicError>| r.unwrap_err().code();
        assert_eq!(
            code(create_topic_records(
                &image,
                &config,
                &new_topic("bad name", 1, 1)
            )),
            ResponseError::InvalidTopicException
        );
        assert_eq!(
            code(create_topic_records(&image, &config, &new_topic("t", 0, 1))),
            ResponseError::InvalidPartitions
        );
        assert_eq!(
            code(create_topic_records(&image, &config, &new_topic("t", 1, 3))),
            ResponseError::InvalidReplicationFactor
        );
        let mut with_config = new_topic("t", 1, 1);
        with_config
            .configs
            .push(("no.such.config".into(), "1".into()));
        assert_eq!(
            code(create_topic_records(&image, &config, &with_config)),
            ResponseError::InvalidConfig
        );
        let records = create_topic_records(&image, &config, &new_topic("t", 1, 1)).unwrap();
        apply(&mut image, &records);
        assert_eq!(
            code(create_topic_records(&image, &config, &new_topic("t", 1, 1))),
            ResponseError::TopicAlreadyExists
        );
        assert_eq!(
            code(create_partition_records(&image, &config, "t", 1, &[])),
            ResponseError::InvalidPartitions
        );
        assert_eq!(
            code(create_partition_records(&image, &config, "nope", 2, &[])),
            ResponseError::UnknownTopicOrPartition
        );
    }

    #[test]
    fn partitions_grow_and_topics_delete() {
        let mut image = image_with_brokers(&[1]);
        let config = BrokerConfig::default();
        let records = create_topic_records(&image, &config, &new_topic("t", 1, 1)).unwrap();
        apply(&mut image, &records);
        let records = create_partition_records(&image, &config, "t", 4, &[]).unwrap();
        apply(&mut image, &records);
        assert_eq!(image.topic("t").unwrap().partitions.len(), 4);
        let records = delete_topic_records(&image, &config, "t").unwrap();
        apply(&mut image, &records);
        assert!(image.topic("t").is_none());
    }

    #[test]
    fn a_broker_takes_no_more_partitions_than_its_limit() {
        let mut image = image_with_brokers(&[1]);
        let mut config = BrokerConfig::default();
        config.set("max.broker.partitions", "10").unwrap();
        let records = create_topic_records(&image, &config, &new_topic("a", 6, 1)).unwrap();
        apply(&mut image, &records);
        let refused = create_topic_records(&image, &config, &new_topic("b", 5, 1)).unwrap_err();
        assert_eq!(refused.code(), ResponseError::PolicyViolation);
        assert!(refused.to_string().contains("11"), "{refused}");
        create_topic_records(&image, &config, &new_topic("b", 4, 1)).unwrap();
        assert_eq!(
            create_partition_records(&image, &config, "a", 11, &[])
                .unwrap_err()
                .code(),
            ResponseError::PolicyViolation
        );
        create_partition_records(&image, &config, "a", 10, &[]).unwrap();
    }
}
