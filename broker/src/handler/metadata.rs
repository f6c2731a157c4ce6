//! Metadata: brokers, topics, partitions and their leaders. Unknown topics
//! are auto-created when the client allows it and `auto.create.topics.enable`.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};

use super::RequestContext;
use super::authorized_operations;
use super::util::str_bytes;
use crate::config::topic_name;
use crate::metadata::{MetadataImage, TopicImage};

pub(crate) async fn handle(ctx: &RequestContext, request: MetadataRequest) -> MetadataResponse {
    let broker = &ctx.broker;
    let mut image = broker.image();
    let topics = match request.topics {
        // v0 asks for all topics with an empty list; later versions with null.
        None => image.topics.values().map(|t| describe(t)).collect(),
        Some(list) if list.is_empty() && ctx.version == 0 => {
            image.topics.values().map(|t| describe(t)).collect()
        }
        Some(list) => {
            let mut out = Vec::with_capacity(list.len());
            for wanted in list {
                let entry = match wanted.name {
                    Some(name) => {
                        let name = name.0.as_str();
                        match image.topic(name) {
                            Some(t) => describe(t),
                            None if topic_name::validate(name).is_err() => {
                                error_topic(Some(name), ResponseError::InvalidTopicException)
                            }
                            None if request.allow_auto_topic_creation => {
                                match broker.auto_create_topic(name).await {
                                    Some(Ok(t)) => {
                                        image = broker.image();
                                        describe(&t)
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
                        Some(t) => describe(t),
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
        // As KRaft brokers do (KIP-590), the "controller" told to clients is
        // a live broker, this one: it forwards admin writes to the active
        // controller. Naming the real controller left librdkafka's admin
        // client waiting minutes on a dead one after a controller failover.
        .with_controller_id(BrokerId(broker.node_id))
        .with_topics(topics)
        .with_cluster_authorized_operations(authorized_operations::cluster(
            ctx.version <= 10 && request.include_cluster_authorized_operations,
        ))
}

pub(crate) fn brokers(image: &MetadataImage) -> Vec<MetadataResponseBroker> {
    image
        .brokers
        .values()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.node_id))
                .with_host(str_bytes(b.host.clone()))
                .with_port(b.port)
                .with_rack(b.rack.clone().map(str_bytes))
        })
        .collect()
}

fn describe(topic: &TopicImage) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p.partition)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().copied().map(BrokerId).collect())
                .with_isr_nodes(p.isr.iter().copied().map(BrokerId).collect())
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
