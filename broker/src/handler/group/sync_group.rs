//! SyncGroup: the leader hands out assignments; followers wait for them.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ResponseKind, SyncGroupRequest, SyncGroupResponse};

use crate::group::membership::{self, SyncParams};
use crate::handler::{Reply, RequestContext};

pub(crate) fn handle(ctx: &RequestContext, request: SyncGroupRequest) -> Reply {
    let params = SyncParams {
        group_id: request.group_id.0.to_string(),
        generation: request.generation_id,
        member_id: request.member_id.to_string(),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    // v5+ echoes the group's protocol type and name.
    let (protocol_type, protocol_name) = if ctx.version >= 5 {
        (request.protocol_type, request.protocol_name)
    } else {
        (None, None)
    };
    let base = SyncGroupResponse::default()
        .with_protocol_type(protocol_type)
        .with_protocol_name(protocol_name);
    match membership::sync(&ctx.broker.groups, params) {
        Err(error) => Reply::Now(Box::new(ResponseKind::SyncGroup(
            base.with_error_code(error.code()),
        ))),
        Ok(waiter) => Reply::Later(Box::pin(async move {
            let response = match waiter.await {
                Ok(Ok(assignment)) => base.with_assignment(assignment),
                Ok(Err(error)) => base.with_error_code(error.code()),
                Err(_) => base.with_error_code(ResponseError::RebalanceInProgress.code()),
            };
            ResponseKind::SyncGroup(response)
        })),
    }
}
