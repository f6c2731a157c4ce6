//! OffsetDelete: removes committed offsets of a group with no active members.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse, ResponseKind};

use crate::group::store;
use crate::handler::{Reply, RequestContext};

pub(crate) fn handle(ctx: &RequestContext, request: OffsetDeleteRequest) -> Reply {
    let broker = ctx.broker.clone();
    let group_id = request.group_id.0.to_string();
    let group = broker
        .groups
        .check_coordinator(&group_id)
        .map(|()| broker.groups.group(&group_id));
    Reply::Later(Box::pin(async move {
        let group = match group {
            Ok(group) => group,
            Err(error) => {
                return ResponseKind::OffsetDelete(
                    OffsetDeleteResponse::default().with_error_code(error.code()),
                );
            }
        };
        let Some(group) = group else {
            return ResponseKind::OffsetDelete(
                OffsetDeleteResponse::default()
                    .with_error_code(ResponseError::GroupIdNotFound.code()),
            );
        };
        // Offsets of topics the members are subscribed to stay (Kafka's rule).
        let subscribed: std::collections::HashSet<String> = {
            let g = group.lock();
            request
                .topics
                .iter()
                .map(|t| t.name.0.to_string())
                .filter(|t| g.is_subscribed_to(t))
                .collect()
        };
        let mut tombstones = Vec::new();
        let topics: Vec<_> = request
            .topics
            .into_iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let error = if subscribed.contains(t.name.0.as_str()) {
                            ResponseError::GroupSubscribedToTopic.code()
                        } else {
                            tombstones.push((t.name.0.to_string(), p.partition_index));
                            0
                        };
                        OffsetDeleteResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(error)
                    })
                    .collect();
                OffsetDeleteResponseTopic::default()
                    .with_name(t.name)
                    .with_partitions(partitions)
            })
            .collect();
        if !tombstones.is_empty() {
            let records = tombstones
                .iter()
                .map(|(t, p)| (crate::group::records_offset_key(&group_id, t, *p), None))
                .collect();
            if let Err(error) = store::append(&broker.groups, &group_id, records).await {
                return ResponseKind::OffsetDelete(
                    OffsetDeleteResponse::default().with_error_code(error.code()),
                );
            }
            let mut g = group.lock();
            for key in tombstones {
                g.offsets.remove(&key);
            }
        }
        ResponseKind::OffsetDelete(OffsetDeleteResponse::default().with_topics(topics))
    }))
}
