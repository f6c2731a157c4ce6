//! OffsetForLeaderEpoch (KIP-101/279): where a leader epoch ends in this
//! leader's log. A follower (or a consumer checking for truncation, KIP-320)
//! asks with the last epoch it has; it truncates to the answer.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::RequestContext;

pub(crate) fn handle(
    ctx: &RequestContext,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let broker = &ctx.broker;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.topic.0.as_str();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let answer = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    let Some(partition) = broker.replicas.leader(name, p.partition) else {
                        let code = match broker.replicas.get(name, p.partition) {
                            Some(_) => ResponseError::NotLeaderOrFollower,
                            None => broker.not_hosted_error(name, p.partition),
                        };
                        return answer.with_error_code(code.code());
                    };
                    let current = partition.leader_epoch();
                    if p.current_leader_epoch >= 0 && p.current_leader_epoch != current {
                        let code = if p.current_leader_epoch < current {
                            ResponseError::FencedLeaderEpoch
                        } else {
                            ResponseError::UnknownLeaderEpoch
                        };
                        return answer.with_error_code(code.code());
                    }
                    let (epoch, end_offset) = partition.end_offset_for_epoch(p.leader_epoch);
                    answer.with_leader_epoch(epoch).with_end_offset(end_offset)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
