//! ListTransactions and DescribeTransactions. Karst has no transaction
//! coordinator yet (InitProducerId refuses a transactional id), so there are
//! no transactions to list and every transactional id is unknown, which is
//! what a Kafka coordinator answers for ids it has never seen.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_transactions_response::TransactionState;
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ListTransactionsRequest,
    ListTransactionsResponse,
};

use super::RequestContext;

/// Kafka's transaction states (`TransactionState.name()`); a filter naming
/// anything else is returned in `unknown_state_filters`.
const KNOWN_STATES: &[&str] = &[
    "Empty",
    "Ongoing",
    "PrepareCommit",
    "PrepareAbort",
    "CompleteCommit",
    "CompleteAbort",
    "Dead",
    "PrepareEpochFence",
];

pub(crate) fn list(
    _ctx: &RequestContext,
    request: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let unknown = request
        .state_filters
        .into_iter()
        .filter(|s| !KNOWN_STATES.contains(&s.as_str()))
        .collect();
    ListTransactionsResponse::default().with_unknown_state_filters(unknown)
}

pub(crate) fn describe(
    _ctx: &RequestContext,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let states = request
        .transactional_ids
        .into_iter()
        .map(|id| {
            TransactionState::default()
                .with_error_code(ResponseError::TransactionalIdNotFound.code())
                .with_transactional_id(id)
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
