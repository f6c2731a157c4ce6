//! Group coordination and producer-id APIs (consumer groups, committed
//! offsets, idempotent producers).

use kafka_protocol::messages::{ApiKey, RequestKind};

use super::{Reply, RequestContext};

/// Group APIs served by [`dispatch`].
pub(crate) const SUPPORTED: &[ApiKey] = &[];

/// Handles the group and producer-id APIs listed in [`SUPPORTED`].
pub(crate) async fn dispatch(ctx: &RequestContext, _request: RequestKind) -> Reply {
    // The connection refuses unsupported APIs before decoding.
    tracing::error!(api = ?ctx.api, "API listed as supported but not routed");
    Reply::None
}
