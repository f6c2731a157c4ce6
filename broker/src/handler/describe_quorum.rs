//! DescribeQuorum: the KRaft metadata quorum (`__cluster_metadata-0`).
//!
//! A single node is the quorum's only voter and its leader; the metadata
//! log's end is the high watermark. With the Raft quorum (the cluster
//! issues) the voters, observers and their lags come from Raft. As in Kafka,
//! asking for any other topic or partition gets UNKNOWN_TOPIC_OR_PARTITION
//! at the top level.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};

use super::RequestContext;
use super::util::str_bytes;
use crate::clock::now_ms;

/// The metadata log's topic, as KRaft names it.
const METADATA_TOPIC: &str = "__cluster_metadata";

/// The leader epoch a single voter reports: it won the first election.
const SINGLE_VOTER_EPOCH: i32 = 1;

pub(crate) fn handle(
    ctx: &RequestContext,
    request: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    let valid = matches!(request.topics.as_slice(), [t]
        if t.topic_name.0.as_str() == METADATA_TOPIC
            && matches!(t.partitions.as_slice(), [p] if p.partition_index == 0));
    if !valid {
        return DescribeQuorumResponse::default()
            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
            .with_error_message(Some(str_bytes(format!(
                "the metadata quorum is {METADATA_TOPIC}-0"
            ))));
    }
    let broker = &ctx.broker;
    let image = broker.image();
    let node = broker.node_id;
    // The next offset to be written, as Kafka reports the high watermark.
    let end_offset = image.offset + 1;
    let now = now_ms();
    let voter = ReplicaState::default()
        .with_replica_id(BrokerId(node))
        .with_log_end_offset(end_offset)
        .with_last_fetch_timestamp(now)
        .with_last_caught_up_timestamp(now);
    let partition = PartitionData::default()
        .with_leader_id(BrokerId(broker.controller.active_controller()))
        .with_leader_epoch(SINGLE_VOTER_EPOCH)
        .with_high_watermark(end_offset)
        .with_current_voters(vec![voter]);
    let listeners = if broker.config.controller_listeners.is_empty() {
        // Combined mode without a controller listener: the voter is reached
        // where clients reach the broker.
        image
            .brokers
            .get(&node)
            .map(|b| {
                let name = broker
                    .config
                    .listeners
                    .first()
                    .map_or_else(|| "PLAINTEXT".to_owned(), |l| l.name.clone());
                vec![listener(&name, &b.host, b.port as u16)]
            })
            .unwrap_or_default()
    } else {
        broker
            .config
            .controller_listeners
            .iter()
            .map(|l| listener(&l.name, &l.host, l.port))
            .collect()
    };
    let mut response = DescribeQuorumResponse::default().with_topics(vec![
        TopicData::default()
            .with_topic_name(TopicName(str_bytes(METADATA_TOPIC)))
            .with_partitions(vec![partition]),
    ]);
    if ctx.version >= 2 {
        response = response.with_nodes(vec![
            Node::default()
                .with_node_id(BrokerId(node))
                .with_listeners(listeners),
        ]);
    }
    response
}

fn listener(name: &str, host: &str, port: u16) -> Listener {
    Listener::default()
        .with_name(str_bytes(name))
        .with_host(str_bytes(host))
        .with_port(port)
}
