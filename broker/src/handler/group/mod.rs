//! Group coordination and the consumer-group APIs (classic protocol),
//! one module per API. JoinGroup and SyncGroup answer later (when the
//! rebalance completes) without holding up the connection.

use kafka_protocol::messages::{RequestKind, ResponseKind};

use super::{Reply, RequestContext};

mod describe_groups;
mod find_coordinator;
mod heartbeat;
mod join_group;
mod leave_group;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod sync_group;

/// Handles the group APIs of the API table.
pub(crate) async fn dispatch(ctx: &RequestContext, request: RequestKind) -> Reply {
    use RequestKind as R;
    use ResponseKind as S;
    let now = |r| Reply::Now(Box::new(r));
    match request {
        R::FindCoordinator(req) => {
            now(S::FindCoordinator(find_coordinator::handle(ctx, req).await))
        }
        R::JoinGroup(req) => join_group::handle(ctx, req).await,
        R::SyncGroup(req) => sync_group::handle(ctx, req),
        R::Heartbeat(req) => now(S::Heartbeat(heartbeat::handle(ctx, req))),
        R::LeaveGroup(req) => now(S::LeaveGroup(leave_group::handle(ctx, req))),
        R::OffsetCommit(req) => offset_commit::handle(ctx, req),
        R::OffsetFetch(req) => now(S::OffsetFetch(offset_fetch::handle(ctx, req))),
        R::OffsetDelete(req) => offset_delete::handle(ctx, req),
        R::DescribeGroups(req) => now(S::DescribeGroups(describe_groups::describe(ctx, req))),
        R::ListGroups(req) => now(S::ListGroups(describe_groups::list(ctx, req))),
        R::DeleteGroups(req) => describe_groups::delete(ctx, req),
        _ => {
            // The connection refuses unsupported APIs before decoding.
            tracing::error!(api = ?ctx.api, "API listed as supported but not routed");
            Reply::None
        }
    }
}
