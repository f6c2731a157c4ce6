//! Metadata: brokers, topics, partitions and their leaders. Unknown topics
//! are auto-created when the client allows it and `auto.create.topics.enable`.
//!
//! Only live (registered, unfenced) brokers are listed, as a KRaft broker
//! does: a client must never be sent to a broker that missed its heartbeats.
//! A partition without a live leader answers LEADER_NOT_AVAILABLE with
//! leader -1 (clients refresh metadata and retry), and its fenced replicas
//! are reported as offline.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};

use super::RequestContext;
use super::authorized_operations;
use super::util::str_bytes;
use crate::config::topic_name;
use crate::metadata::{MetadataImage, PartitionImage, TopicImage};

pub(crate) async fn handle(ctx: &RequestContext, request: MetadataRequest) -> MetadataResponse {
    let broker = &ctx.broker;
    let mut image = broker.image();
    let topics = match request.topics {
        // v0 asks for all topics with an empty list; later versions with null.
        None => image.topics.values().map(|t| describe(&image, t)).collect(),
        Some(list) if list.is_empty() && ctx.version == 0 => {
            image.topics.values().map(|t| describe(&image, t)).collect()
        }
        Some(list) => {
            let mut out = Vec::with_capacity(list.len());
            for wanted in list {
                let entry = match wanted.name {
                    Some(name) => {
                        let name = name.0.as_str();
                        match image.topic(name) {
                            Some(t) => describe(&image, t),
                            None if topic_name::validate(name).is_err() => {
                                error_topic(Some(name), ResponseError::InvalidTopicException)
                            }
                            None if request.allow_auto_topic_creation => {
                                match broker.auto_create_topic(name).await {
                                    Some(Ok(t)) => {
                                        image = broker.image();
                                        describe(&image, &t)
                                    }
                                    Some(Err(e)) => error_topic(Some(name), e.code()),
                                    None => error_topic(
                                        Some(name),
                                        ResponseError::UnknownTopicOrPartition,
                                    ),
                                }
                            }
                            None => error_topic(Some(name), ResponseError::UnknownTopicOrPartition),
                        }
                    }
                    None => match image.topic_by_id(&wanted.topic_id) {
                        Some(t) => describe(&image, t),
                        None => error_topic(None, ResponseError::UnknownTopicId)
                            .with_topic_id(wanted.topic_id),
                    },
                };
                out.push(entry);
            }
            out
        }
    };
    // Authorized operations (v8+) only where asked, as Kafka fills them.
    let topic_operations =
        authorized_operations::topic(request.include_topic_authorized_operations);
    let topics = topics
        .into_iter()
        .map(|t| {
            if t.error_code == 0 {
                t.with_topic_authorized_operations(topic_operations)
            } else {
                t
            }
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers(&image))
        .with_cluster_id(Some(str_bytes(broker.cluster_id.clone())))
        .with_controller_id(BrokerId(controller_for_clients(&image, broker.node_id)))
        .with_topics(topics)
        .with_cluster_authorized_operations(authorized_operations::cluster(
            ctx.version <= 10 && request.include_cluster_authorized_operations,
        ))
}

/// The "controller" told to clients. As KRaft brokers do (KIP-590), a live
/// broker: this one while it is live (it forwards admin writes to the
/// active controller), else another live broker, else none (-1). Naming the
/// real controller left librdkafka's admin client waiting minutes on a dead
/// one after a controller failover; naming a fenced broker would name one
/// that the broker list leaves out.
pub(crate) fn controller_for_clients(image: &MetadataImage, node_id: i32) -> i32 {
    match image.brokers.get(&node_id) {
        Some(b) if !b.fenced => node_id,
        _ => image.live_brokers().next().map_or(-1, |b| b.node_id),
    }
}

/// The live brokers: fenced ones are left out until they return.
fn brokers(image: &MetadataImage) -> Vec<MetadataResponseBroker> {
    image
        .live_brokers()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.node_id))
                .with_host(str_bytes(b.host.clone()))
                .with_port(b.port)
                .with_rack(b.rack.clone().map(str_bytes))
        })
        .collect()
}

/// A partition's leader as clients may use it: `Err(LEADER_NOT_AVAILABLE)`
/// when it has none (-1) or its leader is fenced or unregistered (Kafka
/// reports leader -1 then, so that no client sends to a dead broker).
pub(crate) fn live_leader(image: &MetadataImage, p: &PartitionImage) -> Result<i32, ResponseError> {
    match image.brokers.get(&p.leader) {
        Some(b) if !b.fenced => Ok(p.leader),
        _ => Err(ResponseError::LeaderNotAvailable),
    }
}

/// Replicas on brokers that are fenced or no longer registered.
pub(crate) fn offline_replicas(image: &MetadataImage, p: &PartitionImage) -> Vec<BrokerId> {
    p.replicas
        .iter()
        .filter(|id| image.brokers.get(id).is_none_or(|b| b.fenced))
        .copied()
        .map(BrokerId)
        .collect()
}

fn describe(image: &MetadataImage, topic: &TopicImage) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .map(|p| {
            let (leader, error) = match live_leader(image, p) {
                Ok(leader) => (leader, 0),
                Err(e) => (-1, e.code()),
            };
            MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(p.partition)
                .with_leader_id(BrokerId(leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().copied().map(BrokerId).collect())
                .with_isr_nodes(p.isr.iter().copied().map(BrokerId).collect())
                .with_offline_replicas(offline_replicas(image, p))
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_is_internal(topic_name::is_internal(&topic.name))
        .with_partitions(partitions)
}

fn error_topic(name: Option<&str>, code: ResponseError) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(name.map(|n| TopicName(str_bytes(n))))
        .with_error_code(code.code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::MetadataRecord;

    /// Brokers 1-3 registered, broker 2 fenced.
    fn image() -> MetadataImage {
        let mut image = MetadataImage::empty();
        for id in 1..=3 {
            image.apply(&MetadataRecord::test_broker(id, None, id == 2));
        }
        image
    }

    fn partition(leader: i32, replicas: Vec<i32>) -> PartitionImage {
        PartitionImage {
            partition: 0,
            isr: vec![leader],
            replicas,
            leader,
            leader_epoch: 3,
            partition_epoch: 3,
            adding_replicas: vec![],
            removing_replicas: vec![],
        }
    }

    #[test]
    fn fenced_brokers_are_not_listed() {
        let listed: Vec<i32> = brokers(&image()).iter().map(|b| b.node_id.0).collect();
        assert_eq!(listed, vec![1, 3]);
    }

    #[test]
    fn a_partition_without_a_live_leader_is_not_available() {
        let image = image();
        assert_eq!(live_leader(&image, &partition(1, vec![1])), Ok(1));
        for leader in [-1, 2, 7] {
            assert_eq!(
                live_leader(&image, &partition(leader, vec![1])),
                Err(ResponseError::LeaderNotAvailable),
                "leader {leader}"
            );
        }
    }

    #[test]
    fn clients_are_told_a_live_controller() {
        let image = image();
        assert_eq!(controller_for_clients(&image, 3), 3);
        assert_eq!(
            controller_for_clients(&image, 2),
            1,
            "this broker is fenced"
        );
        assert_eq!(
            controller_for_clients(&image, 9),
            1,
            "a controller-only node"
        );
        assert_eq!(controller_for_clients(&MetadataImage::empty(), 1), -1);
    }

    #[test]
    fn fenced_and_unregistered_replicas_are_offline() {
        let offline = offline_replicas(&image(), &partition(1, vec![1, 2, 3, 7]));
        assert_eq!(offline, vec![BrokerId(2), BrokerId(7)]);
    }
}
