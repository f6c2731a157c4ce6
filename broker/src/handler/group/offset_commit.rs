//! OffsetCommit: checked against the member's generation, then made durable
//! in `__consumer_offsets` before it is acknowledged.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, ResponseKind, TopicName,
};

use crate::clock::now_ms;
use crate::group::{CommittedOffset, membership};
use crate::handler::util::str_bytes;
use crate::handler::{Reply, RequestContext};

pub(crate) fn handle(ctx: &RequestContext, request: OffsetCommitRequest) -> Reply {
    let broker = ctx.broker.clone();
    let group_id = request.group_id.0.to_string();
    let image = broker.image();
    // (topic as asked, resolved name, id, partitions)
    let topics: Vec<_> = request
        .topics
        .into_iter()
        .map(|t| {
            let name = if t.name.0.is_empty() {
                image
                    .topic_by_id(&t.topic_id)
                    .map(|i| i.name.clone())
                    .unwrap_or_default()
            } else {
                t.name.0.to_string()
            };
            (t.name, name, t.topic_id, t.partitions)
        })
        .collect();
    let rejected = membership::check_commit(
        &broker.groups,
        &group_id,
        request.generation_id_or_member_epoch,
        &request.member_id,
    );
    let now = now_ms();
    Reply::Later(Box::pin(async move {
        let commits: Vec<(String, i32, CommittedOffset)> = topics
            .iter()
            .flat_map(|(_, name, _, partitions)| {
                partitions.iter().map(move |p| {
                    (
                        name.clone(),
                        p.partition_index,
                        CommittedOffset {
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata: p
                                .committed_metadata
                                .as_ref()
                                .map(|m| m.to_string())
                                .unwrap_or_default(),
                            commit_timestamp: now,
                        },
                    )
                })
            })
            .collect();
        let mut errors = match rejected {
            Some(error) => vec![Some(error); commits.len()].into_iter(),
            None => membership::commit(&broker.groups, &group_id, commits)
                .await
                .into_iter(),
        };
        let topics = topics
            .into_iter()
            .map(|(asked, _, id, partitions)| {
                let partitions = partitions
                    .iter()
                    .map(|p| {
                        let error = errors.next().flatten();
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(error.map_or(0, |e| e.code()))
                    })
                    .collect();
                OffsetCommitResponseTopic::default()
                    .with_name(if asked.0.is_empty() {
                        TopicName(str_bytes(""))
                    } else {
                        asked
                    })
                    .with_topic_id(id)
                    .with_partitions(partitions)
            })
            .collect();
        ResponseKind::OffsetCommit(OffsetCommitResponse::default().with_topics(topics))
    }))
}
