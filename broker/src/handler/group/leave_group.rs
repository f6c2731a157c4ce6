//! LeaveGroup: one member (v0-2) or a batch of members (v3+) leave.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use crate::group::membership;
use crate::handler::RequestContext;

pub(crate) fn handle(ctx: &RequestContext, request: LeaveGroupRequest) -> LeaveGroupResponse {
    let group = request.group_id.0.as_str();
    if ctx.version < 3 {
        let error = membership::leave(&ctx.broker.groups, group, &request.member_id, None);
        return LeaveGroupResponse::default().with_error_code(error.map_or(0, |e| e.code()));
    }
    let members = request
        .members
        .into_iter()
        .map(|m| {
            let error = membership::leave(
                &ctx.broker.groups,
                group,
                &m.member_id,
                m.group_instance_id.as_deref(),
            );
            MemberResponse::default()
                .with_member_id(m.member_id)
                .with_group_instance_id(m.group_instance_id)
                .with_error_code(error.map_or(0, |e| e.code()))
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}
