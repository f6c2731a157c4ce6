//! JoinGroup: the answer comes when the rebalance completes.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse, ResponseKind};

use crate::group::JoinOutcome;
use crate::group::membership::{self, JoinParams};
use crate::handler::util::str_bytes;
use crate::handler::{Reply, RequestContext};

pub(crate) async fn handle(ctx: &RequestContext, request: JoinGroupRequest) -> Reply {
    let member_id = request.member_id.to_string();
    let params = JoinParams {
        group_id: request.group_id.0.to_string(),
        member_id: member_id.clone(),
        instance_id: request
            .group_instance_id
            .map(|i| i.to_string())
            .filter(|i| !i.is_empty()),
        client_id: ctx
            .header
            .client_id
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        client_host: format!("/{}", ctx.peer.ip()),
        session_timeout_ms: request.session_timeout_ms,
        // v0 has no rebalance timeout: it is the session timeout.
        rebalance_timeout_ms: if ctx.version == 0 {
            request.session_timeout_ms
        } else {
            request.rebalance_timeout_ms
        },
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        require_known_member_id: ctx.version >= 4,
    };
    let version = ctx.version;
    // Errors surface below as COORDINATOR_NOT_AVAILABLE (the topic is missing).
    let _ = crate::group::store::ensure_offsets_topic(&ctx.broker.groups).await;
    match membership::join(&ctx.broker.groups, params) {
        Err((error, member_id)) => Reply::Now(Box::new(ResponseKind::JoinGroup(response(
            JoinOutcome::error(error, &member_id),
            version,
        )))),
        Ok(waiter) => Reply::Later(Box::pin(async move {
            let outcome = waiter
                .await
                .unwrap_or_else(|_| JoinOutcome::error(ResponseError::UnknownMemberId, &member_id));
            ResponseKind::JoinGroup(response(outcome, version))
        })),
    }
}

fn response(outcome: JoinOutcome, version: i16) -> JoinGroupResponse {
    let members = outcome
        .members
        .into_iter()
        .map(|(id, instance, metadata)| {
            JoinGroupResponseMember::default()
                .with_member_id(str_bytes(id))
                .with_group_instance_id(instance.map(str_bytes))
                .with_metadata(metadata)
        })
        .collect();
    let response = JoinGroupResponse::default()
        .with_error_code(outcome.error.map_or(0, |e| e.code()))
        .with_generation_id(outcome.generation)
        .with_protocol_name(Some(str_bytes(outcome.protocol_name.unwrap_or_default())))
        .with_leader(str_bytes(outcome.leader))
        .with_member_id(str_bytes(outcome.member_id))
        .with_members(members);
    if version >= 7 {
        response.with_protocol_type(outcome.protocol_type.map(str_bytes))
    } else {
        response
    }
}
