//! Request handlers, one module per Kafka API. A handler takes the decoded
//! request and returns the response; it never fails as a whole: every error
//! becomes the Kafka error code a Kafka broker would send, per topic or
//! partition where the protocol allows.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};

use crate::broker::Broker;

mod acls;
mod alter_configs;
mod alter_replica_log_dirs;
pub(crate) mod api_table;
pub(crate) mod api_versions;
mod authorized_operations;
mod conventions;
#[cfg(test)]
mod conventions_tests;
mod create_partitions;
mod create_topics;
mod delete_records;
mod delete_topics;
mod describe_cluster;
mod describe_configs;
mod describe_log_dirs;
mod describe_producers;
mod describe_quorum;
mod describe_topic_partitions;
mod elect_leaders;
pub(crate) mod fetch;
pub(crate) mod group;
mod init_producer_id;
mod leader_hints;
mod list_config_resources;
mod list_offsets;
mod metadata;
mod offset_for_leader_epoch;
mod produce;
mod reassignments;
mod transactions;
mod util;

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

/// Whether this broker serves `api` (see [`api_table`]).
pub(crate) fn is_supported(api: ApiKey) -> bool {
    api_table::row(api).is_some_and(api_table::ApiRow::is_served)
}

/// Routes a request to its handler and applies Kafka's null conventions
/// ([`conventions`]) to the response. Requests of APIs the table does not
/// serve are refused by the connection before decoding.
pub(crate) async fn dispatch(ctx: RequestContext, request: RequestKind) -> Reply {
    let version = ctx.version;
    match route(ctx, request).await {
        Reply::Now(mut response) => {
            conventions::apply(&mut response, version);
            Reply::Now(response)
        }
        Reply::Later(future) => Reply::Later(Box::pin(async move {
            let mut response = future.await;
            conventions::apply(&mut response, version);
            response
        })),
        other => other,
    }
}

/// Routes a request to its handler.
async fn route(ctx: RequestContext, request: RequestKind) -> Reply {
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
        R::Fetch(req) => {
            let isolation_level = req.isolation_level;
            let mut reply = fetch::handle(&ctx, req).await;
            conventions::apply_fetch(&mut reply.response, isolation_level);
            Reply::Fetch(Box::new(reply))
        }
        R::ListOffsets(req) => now(S::ListOffsets(list_offsets::handle(&ctx, req))),
        R::OffsetForLeaderEpoch(req) => now(S::OffsetForLeaderEpoch(
            offset_for_leader_epoch::handle(&ctx, req),
        )),
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
        R::CreateAcls(req) => now(S::CreateAcls(acls::create(&ctx, req))),
        R::DescribeAcls(req) => now(S::DescribeAcls(acls::describe(&ctx, req))),
        R::DeleteAcls(req) => now(S::DeleteAcls(acls::delete(&ctx, req))),
        R::ElectLeaders(req) => now(S::ElectLeaders(elect_leaders::handle(&ctx, req).await)),
        R::AlterPartitionReassignments(req) => now(S::AlterPartitionReassignments(
            reassignments::alter(&ctx, req).await,
        )),
        R::ListPartitionReassignments(req) => now(S::ListPartitionReassignments(
            reassignments::list(&ctx, req),
        )),
        R::DescribeTopicPartitions(req) => now(S::DescribeTopicPartitions(
            describe_topic_partitions::handle(&ctx, req),
        )),
        R::DescribeQuorum(req) => now(S::DescribeQuorum(describe_quorum::handle(&ctx, req))),
        R::DescribeProducers(req) => {
            now(S::DescribeProducers(describe_producers::handle(&ctx, req)))
        }
        R::ListTransactions(req) => now(S::ListTransactions(transactions::list(&ctx, req))),
        R::DescribeTransactions(req) => {
            now(S::DescribeTransactions(transactions::describe(&ctx, req)))
        }
        R::AlterReplicaLogDirs(req) => now(S::AlterReplicaLogDirs(alter_replica_log_dirs::handle(
            &ctx, req,
        ))),
        R::ListConfigResources(req) => now(S::ListConfigResources(list_config_resources::handle(
            &ctx, req,
        ))),
        other => group::dispatch(&ctx, other).await,
    }
}
