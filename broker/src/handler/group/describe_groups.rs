//! DescribeGroups, ListGroups and DeleteGroups.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    GroupId, ListGroupsRequest, ListGroupsResponse, ResponseKind,
};

use crate::group::{GroupState, store};
use crate::handler::util::str_bytes;
use crate::handler::{Reply, RequestContext};

pub(crate) fn describe(
    ctx: &RequestContext,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let groups = request
        .groups
        .into_iter()
        .map(|id| {
            if let Err(error) = ctx.broker.groups.check_coordinator(&id.0) {
                return DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(error.code());
            }
            let Some(group) = ctx.broker.groups.group(&id.0) else {
                // Kafka describes an unknown group as Dead, without an error.
                return DescribedGroup::default()
                    .with_group_id(id)
                    .with_group_state(str_bytes("Dead"));
            };
            let g = group.lock();
            let protocol = g.protocol_name.clone().unwrap_or_default();
            let stable = g.state == GroupState::Stable;
            let members = g
                .members
                .values()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(str_bytes(m.id.clone()))
                        .with_group_instance_id(m.instance_id.clone().map(str_bytes))
                        .with_client_id(str_bytes(m.client_id.clone()))
                        .with_client_host(str_bytes(m.client_host.clone()))
                        .with_member_metadata(if stable {
                            m.metadata_for(&protocol)
                        } else {
                            Default::default()
                        })
                        .with_member_assignment(if stable {
                            m.assignment.clone()
                        } else {
                            Default::default()
                        })
                })
                .collect();
            DescribedGroup::default()
                .with_group_id(id)
                .with_group_state(str_bytes(g.state.name()))
                .with_protocol_type(str_bytes(g.protocol_type.clone().unwrap_or_default()))
                .with_protocol_data(str_bytes(protocol))
                .with_members(members)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

pub(crate) fn list(ctx: &RequestContext, request: ListGroupsRequest) -> ListGroupsResponse {
    let states: Vec<String> = request
        .states_filter
        .iter()
        .map(|s| s.to_lowercase())
        .collect();
    let groups = ctx
        .broker
        .groups
        .all()
        .into_iter()
        .filter_map(|group| {
            let g = group.lock();
            let state = g.state.name();
            if !states.is_empty() && !states.contains(&state.to_lowercase()) {
                return None;
            }
            Some(
                ListedGroup::default()
                    .with_group_id(GroupId(str_bytes(g.id.clone())))
                    .with_protocol_type(str_bytes(g.protocol_type.clone().unwrap_or_default()))
                    .with_group_state(str_bytes(state))
                    .with_group_type(str_bytes("classic")),
            )
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

pub(crate) fn delete(ctx: &RequestContext, request: DeleteGroupsRequest) -> Reply {
    let broker = ctx.broker.clone();
    Reply::Later(Box::pin(async move {
        let mut results = Vec::new();
        for id in request.groups_names {
            let owned = broker.groups.check_coordinator(&id.0);
            let code = match owned.map(|()| broker.groups.group(&id.0)) {
                Err(error) => error.code(),
                Ok(None) => ResponseError::GroupIdNotFound.code(),
                Ok(Some(group)) => {
                    let tombstones = {
                        let g = group.lock();
                        if !g.members.is_empty() {
                            None
                        } else {
                            let mut records: Vec<_> = g
                                .offsets
                                .keys()
                                .map(|(t, p)| {
                                    (crate::group::records_offset_key(&g.id, t, *p), None)
                                })
                                .collect();
                            records.push((crate::group::records_group_key(&g.id), None));
                            Some(records)
                        }
                    };
                    match tombstones {
                        None => ResponseError::NonEmptyGroup.code(),
                        Some(records) => {
                            match store::append(&broker.groups, &id.0, records).await {
                                Ok(()) => {
                                    broker.groups.remove(&id.0);
                                    0
                                }
                                Err(e) => e.code(),
                            }
                        }
                    }
                }
            };
            results.push(
                DeletableGroupResult::default()
                    .with_group_id(id)
                    .with_error_code(code),
            );
        }
        ResponseKind::DeleteGroups(DeleteGroupsResponse::default().with_results(results))
    }))
}
