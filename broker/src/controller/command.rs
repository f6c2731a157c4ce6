//! Metadata writes as commands: what an admin request, auto-creation, the
//! producer-id allocator or a starting broker asks of the active controller,
//! and the pure decision that turns one into metadata records.

use std::sync::Arc;

use super::brokers::{self, Registration};
use super::configs::{ConfigChange, alter_config_records};
use super::election::{ElectionOutcome, ElectionType, TopicPartition, elect_leaders};
use super::partition_change::{AlterPartition, alter_partition};
use super::reassignment::{Reassignment, alter_reassignments, complete};
use super::topics::{
    NewTopic, TopicError, create_partition_records, create_topic_records, delete_topic_records,
};
use crate::config::BrokerConfig;
use crate::metadata::{
    ConfigResourceKey, MetadataImage, MetadataRecord, PartitionImage, TopicImage,
};

/// One metadata write. A command is decided against the image as a whole:
/// its records are applied together or not at all. Serializable: a node
/// that is not the active controller forwards it there.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Command {
    /// CreateTopics (and auto-creation): each topic succeeds or fails on its
    /// own; with `validate_only` nothing is written.
    CreateTopics {
        topics: Vec<NewTopic>,
        validate_only: bool,
    },
    /// CreatePartitions for one topic: grow to `count` partitions.
    CreatePartitions {
        topic: String,
        count: i32,
        assignments: Vec<Vec<i32>>,
        validate_only: bool,
    },
    /// DeleteTopics for one topic.
    DeleteTopic { name: String },
    /// (Incremental)AlterConfigs for one resource.
    AlterConfigs {
        resource: ConfigResourceKey,
        changes: Vec<ConfigChange>,
        replace_all: bool,
        validate_only: bool,
    },
    /// Reserves a block of `size` producer ids for InitProducerId.
    AllocateProducerIds { size: i64 },
    /// A broker announces (or changes) its advertised endpoint. In a
    /// quorum, a node that is not a voter also gives the address of its
    /// controller listener, where the metadata log is replicated to it.
    RegisterBroker {
        node_id: i32,
        host: String,
        port: i32,
        rack: Option<String>,
        #[serde(default)]
        controller_address: Option<String>,
        /// The registering process; see [`Registration::incarnation`].
        #[serde(default)]
        incarnation: Option<uuid::Uuid>,
    },
    /// A registered broker is alive; it has applied the metadata log up to
    /// `metadata_offset`. With `want_shutdown` it asks to be fenced before
    /// it stops (leadership moves away first).
    BrokerHeartbeat {
        node_id: i32,
        epoch: i64,
        metadata_offset: i64,
        #[serde(default)]
        want_shutdown: bool,
    },
    /// The active controller fences a broker whose session ran out.
    FenceBroker { node_id: i32 },
    /// A partition leader changes the partition's ISR (completing a
    /// reassignment whose adding replicas are all in sync now).
    AlterPartition(AlterPartition),
    /// AlterPartitionReassignments: each partition starts, replaces or
    /// cancels its reassignment on its own.
    AlterPartitionReassignments { reassignments: Vec<Reassignment> },
    /// ElectLeaders, and the automatic preferred-leader balancing; every
    /// partition when `partitions` is `None`.
    ElectLeaders {
        election: ElectionType,
        partitions: Option<Vec<TopicPartition>>,
    },
}

/// What a command produced, besides its records.
#[derive(Debug)]
pub enum CommandOutcome {
    /// Per topic of a CreateTopics, in request order.
    CreatedTopics(Vec<Result<Arc<TopicImage>, TopicError>>),
    /// The id of the deleted topic.
    DeletedTopic(uuid::Uuid),
    /// The first id of a reserved producer-id block.
    ProducerIdBlock { first: i64 },
    /// A broker's epoch after registering.
    Registered { epoch: i64 },
    /// Whether a heartbeating broker is fenced.
    Heartbeat { fenced: bool },
    /// The partition after an AlterPartition.
    PartitionChanged(PartitionImage),
    /// Per partition of an AlterPartitionReassignments, in request order.
    Reassigned(Vec<Result<(), TopicError>>),
    /// Per partition of an ElectLeaders.
    Elected(Vec<ElectionOutcome>),
    /// Nothing to report beyond success.
    Done,
}

/// Decides `command` against `image`: the records to append and the outcome.
/// Pure: the same image and command always give the same answer, so the
/// active controller of a quorum can run it unchanged.
pub fn decide(
    image: &MetadataImage,
    config: &BrokerConfig,
    command: &Command,
) -> Result<(Vec<MetadataRecord>, CommandOutcome), TopicError> {
    match command {
        Command::CreateTopics {
            topics,
            validate_only,
        } => Ok(create_topics(image, config, topics, *validate_only)),
        Command::CreatePartitions {
            topic,
            count,
            assignments,
            validate_only,
        } => {
            let records = create_partition_records(image, config, topic, *count, assignments)?;
            Ok((unless(*validate_only, records), CommandOutcome::Done))
        }
        Command::DeleteTopic { name } => {
            let id = image.topic(name).map(|t| t.id).unwrap_or_default();
            let records = delete_topic_records(image, config, name)?;
            Ok((records, CommandOutcome::DeletedTopic(id)))
        }
        Command::AlterConfigs {
            resource,
            changes,
            replace_all,
            validate_only,
        } => {
            let records = alter_config_records(image, resource, changes, *replace_all)?;
            Ok((unless(*validate_only, records), CommandOutcome::Done))
        }
        Command::AllocateProducerIds { size } => {
            let first = image.next_producer_id;
            let record = MetadataRecord::ProducerIds {
                next_producer_id: first + size,
            };
            Ok((vec![record], CommandOutcome::ProducerIdBlock { first }))
        }
        Command::RegisterBroker {
            node_id,
            host,
            port,
            rack,
            controller_address: _,
            incarnation,
        } => {
            let registration = Registration {
                node_id: *node_id,
                host: host.clone(),
                port: *port,
                rack: rack.clone(),
                incarnation: *incarnation,
            };
            let (records, epoch) = brokers::register(image, config, &registration);
            Ok((records, CommandOutcome::Registered { epoch }))
        }
        Command::BrokerHeartbeat {
            node_id,
            epoch,
            metadata_offset,
            want_shutdown,
        } => {
            let (records, fenced) =
                brokers::heartbeat(image, *node_id, *epoch, *metadata_offset, *want_shutdown)?;
            Ok((records, CommandOutcome::Heartbeat { fenced }))
        }
        Command::FenceBroker { node_id } => Ok((
            brokers::fence(image, *node_id, false),
            CommandOutcome::Heartbeat { fenced: true },
        )),
        Command::AlterPartition(request) => {
            let next = alter_partition(image, request)?;
            let next = complete(image, &next).unwrap_or(next);
            let records = vec![next.to_record(request.topic_id)];
            Ok((records, CommandOutcome::PartitionChanged(next)))
        }
        Command::AlterPartitionReassignments { reassignments } => {
            let (records, outcomes) = alter_reassignments(image, reassignments);
            Ok((records, CommandOutcome::Reassigned(outcomes)))
        }
        Command::ElectLeaders {
            election,
            partitions,
        } => {
            let (records, outcomes) = elect_leaders(image, *election, partitions.as_deref());
            Ok((records, CommandOutcome::Elected(outcomes)))
        }
    }
}

fn unless(validate_only: bool, records: Vec<MetadataRecord>) -> Vec<MetadataRecord> {
    if validate_only { vec![] } else { records }
}

/// Each topic is decided against the image as the earlier topics of the
/// same request left it, so two new topics of one request see each other.
fn create_topics(
    image: &MetadataImage,
    config: &BrokerConfig,
    topics: &[NewTopic],
    validate_only: bool,
) -> (Vec<MetadataRecord>, CommandOutcome) {
    let mut scratch = image.clone();
    let mut records = Vec::new();
    let mut outcomes = Vec::with_capacity(topics.len());
    for topic in topics {
        match create_topic_records(&scratch, config, topic) {
            Ok(new) => {
                for record in &new {
                    scratch.apply(record);
                }
                let created = scratch.topic(&topic.name).expect("just created").clone();
                outcomes.push(Ok(created));
                if !validate_only {
                    records.extend(new);
                }
            }
            Err(e) => outcomes.push(Err(e)),
        }
    }
    (records, CommandOutcome::CreatedTopics(outcomes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_topic(name: &str) -> NewTopic {
        NewTopic {
            name: name.into(),
            num_partitions: 2,
            replication_factor: -1,
            assignments: vec![],
            configs: vec![],
        }
    }

    #[test]
    fn create_topics_decides_each_topic_on_its_own() {
        let config = BrokerConfig::default();
        let mut image = MetadataImage::empty();
        let register = Command::RegisterBroker {
            node_id: config.node_id,
            host: "localhost".into(),
            port: 9092,
            rack: None,
            controller_address: None,
            incarnation: None,
        };
        for record in decide(&image, &config, &register).unwrap().0 {
            image.apply(&record);
        }
        let command = Command::CreateTopics {
            topics: vec![
                new_topic("a"),
                new_topic("a"),
                new_topic("no spaces allowed"),
            ],
            validate_only: false,
        };
        let (records, outcome) = decide(&image, &config, &command).unwrap();
        let CommandOutcome::CreatedTopics(outcomes) = outcome else {
            panic!("unexpected outcome {outcome:?}")
        };
        assert!(outcomes[0].is_ok());
        assert!(matches!(outcomes[1], Err(TopicError::AlreadyExists(_))));
        assert!(matches!(outcomes[2], Err(TopicError::InvalidTopic(_))));
        // One topic record and two partition records: only topic "a".
        assert_eq!(records.len(), 3, "{records:?}");
    }

    #[test]
    fn registering_an_unchanged_broker_writes_nothing() {
        let config = BrokerConfig::default();
        let mut image = MetadataImage::empty();
        let register = Command::RegisterBroker {
            node_id: 1,
            host: "h".into(),
            port: 1,
            rack: None,
            controller_address: None,
            incarnation: None,
        };
        let (records, _) = decide(&image, &config, &register).unwrap();
        assert_eq!(records.len(), 1);
        image.apply(&records[0]);
        assert!(decide(&image, &config, &register).unwrap().0.is_empty());
    }

    #[test]
    fn producer_id_blocks_never_overlap() {
        let config = BrokerConfig::default();
        let mut image = MetadataImage::empty();
        let mut firsts = Vec::new();
        for _ in 0..3 {
            let command = Command::AllocateProducerIds { size: 1000 };
            let (records, outcome) = decide(&image, &config, &command).unwrap();
            let CommandOutcome::ProducerIdBlock { first } = outcome else {
                panic!("unexpected outcome {outcome:?}")
            };
            firsts.push(first);
            image.apply(&records[0]);
        }
        assert_eq!(firsts, [firsts[0], firsts[0] + 1000, firsts[0] + 2000]);
    }
}
