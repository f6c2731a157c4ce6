//! Heartbeat: keeps a member's session alive and tells it about rebalances.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::group::membership;
use crate::handler::RequestContext;

pub(crate) fn handle(ctx: &RequestContext, request: HeartbeatRequest) -> HeartbeatResponse {
    let error = membership::heartbeat(
        &ctx.broker.groups,
        &request.group_id.0,
        request.generation_id,
        &request.member_id,
    );
    HeartbeatResponse::default().with_error_code(error.map_or(0, |e| e.code()))
}
