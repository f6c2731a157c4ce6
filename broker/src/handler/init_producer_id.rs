//! InitProducerId: a producer id and epoch for an idempotent producer.
//!
//! Transactions are not served yet, so a transactional id is refused with
//! UNSUPPORTED_VERSION: the error a Kafka broker gives for a feature it has
//! but does not have enabled (the KIP-848 consumer protocol or share groups
//! when they are off), which clients report as "not supported" rather than
//! as a malformed request (INVALID_REQUEST) or a permission problem
//! (TRANSACTIONAL_ID_AUTHORIZATION_FAILED). InitProducerId has no error
//! message field, so the reason goes to the broker's log.

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
        tracing::warn!(
            transactional_id = %id.0,
            client_id = ?ctx.header.client_id,
            "InitProducerId refused: transactions are not supported yet (UNSUPPORTED_VERSION)"
        );
        return response.with_error_code(ResponseError::UnsupportedVersion.code());
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
