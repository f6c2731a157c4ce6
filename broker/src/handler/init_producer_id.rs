//! InitProducerId: a producer id and epoch for an idempotent producer.
//! Transactions are not served yet, so a transactional id is refused.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::RequestContext;

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if let Some(id) = request
        .transactional_id
        .as_ref()
        .filter(|id| !id.0.is_empty())
    {
        // No transaction coordinator yet: a clear, fatal error for the client
        // rather than a retriable one it would wait on forever.
        tracing::warn!(transactional_id = %id.0, "transactions are not supported yet");
        return response.with_error_code(ResponseError::InvalidRequest.code());
    }
    match ctx.broker.producer_ids.next(&ctx.broker.controller).await {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(error) => {
            tracing::error!(%error, "could not allocate a producer id");
            response.with_error_code(ResponseError::KafkaStorageError.code())
        }
    }
}
