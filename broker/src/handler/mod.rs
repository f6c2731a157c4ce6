//! Request handlers, one module per Kafka API. A handler takes the decoded
//! request and returns the response; it never fails as a whole: every error
//! becomes the Kafka error code a Kafka broker would send, per topic or
//! partition where the protocol allows.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};

use crate::broker::Broker;

mod alter_configs;
pub(crate) mod api_versions;
mod create_partitions;
mod create_topics;
mod delete_records;
mod delete_topics;
mod describe_cluster;
mod describe_configs;
mod describe_log_dirs;
pub(crate) mod fetch;
pub(crate) mod group;
mod init_producer_id;
mod list_offsets;
mod metadata;
mod produce;
mod util;

pub(crate) use util::now_ms;

/// What a handler needs to know about its request beyond the body.
pub(crate) struct RequestContext {
    pub(crate) broker: Arc<Broker>,
    pub(crate) header: RequestHeader,
    pub(crate) api: ApiKey,
    pub(crate) version: i16,
    pub(crate) peer: SocketAddr,
}

/// A handler's answer.
pub(crate) enum Reply {
    /// Ready to be written (boxed: responses differ a lot in size).
    Now(Box<ResponseKind>),
    /// Ready once the future resolves (e.g. after fsync); the connection
    /// reads further requests meanwhile and writes replies in order.
    Later(BoxFuture<'static, ResponseKind>),
    /// A Fetch response whose records are sent from the log files.
    Fetch(Box<fetch::FetchReply>),
    /// No response is sent (Produce with acks=0).
    None,
}

/// The APIs this broker serves; ApiVersions advertises exactly these, with
/// every version `kafka-protocol` supports.
pub(crate) fn supported_apis() -> impl Iterator<Item = ApiKey> {
    [
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::ListOffsets,
        ApiKey::Metadata,
        ApiKey::ApiVersions,
        ApiKey::CreateTopics,
        ApiKey::DeleteTopics,
        ApiKey::CreatePartitions,
        ApiKey::DescribeConfigs,
        ApiKey::AlterConfigs,
        ApiKey::IncrementalAlterConfigs,
        ApiKey::DeleteRecords,
        ApiKey::DescribeCluster,
        ApiKey::DescribeLogDirs,
        ApiKey::InitProducerId,
    ]
    .into_iter()
    .chain(group::SUPPORTED.iter().copied())
}

/// Whether this broker serves `api`.
pub(crate) fn is_supported(api: ApiKey) -> bool {
    supported_apis().any(|a| a == api)
}

/// Routes a request to its handler. Requests of APIs not in
/// [`supported_apis`] are refused by the connection before decoding.
pub(crate) async fn dispatch(ctx: RequestContext, request: RequestKind) -> Reply {
    use RequestKind as R;
    use ResponseKind as S;
    tracing::trace!(
        api = ?ctx.api,
        version = ctx.version,
        client_id = ?ctx.header.client_id,
        peer = %ctx.peer,
        "request"
    );
    let now = |r| Reply::Now(Box::new(r));
    match request {
        R::ApiVersions(req) => now(S::ApiVersions(api_versions::handle(&ctx, req))),
        R::Metadata(req) => now(S::Metadata(metadata::handle(&ctx, req).await)),
        R::Produce(req) => produce::handle(&ctx, req).await,
        R::Fetch(req) => Reply::Fetch(Box::new(fetch::handle(&ctx, req).await)),
        R::ListOffsets(req) => now(S::ListOffsets(list_offsets::handle(&ctx, req))),
        R::CreateTopics(req) => now(S::CreateTopics(create_topics::handle(&ctx, req).await)),
        R::DeleteTopics(req) => now(S::DeleteTopics(delete_topics::handle(&ctx, req).await)),
        R::CreatePartitions(req) => now(S::CreatePartitions(
            create_partitions::handle(&ctx, req).await,
        )),
        R::DescribeConfigs(req) => now(S::DescribeConfigs(describe_configs::handle(&ctx, req))),
        R::AlterConfigs(req) => now(S::AlterConfigs(
            alter_configs::handle_alter(&ctx, req).await,
        )),
        R::IncrementalAlterConfigs(req) => now(S::IncrementalAlterConfigs(
            alter_configs::handle_incremental(&ctx, req).await,
        )),
        R::DeleteRecords(req) => now(S::DeleteRecords(delete_records::handle(&ctx, req))),
        R::DescribeCluster(req) => now(S::DescribeCluster(describe_cluster::handle(&ctx, req))),
        R::DescribeLogDirs(req) => now(S::DescribeLogDirs(describe_log_dirs::handle(&ctx, req))),
        R::InitProducerId(req) => now(S::InitProducerId(init_producer_id::handle(&ctx, req).await)),
        other => group::dispatch(&ctx, other).await,
    }
}
