//! DeleteTopics, by name or (v6+) by topic id.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use uuid::Uuid;

use super::RequestContext;
use super::util::str_bytes;
use crate::controller::{TopicError, delete_topic_records};
use crate::metadata::topic_name;

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let broker = &ctx.broker;
    // v0-5 name topics in `topic_names`, v6+ in `topics` (name or id).
    let wanted: Vec<(Option<String>, Uuid)> = if request.topics.is_empty() {
        request
            .topic_names
            .iter()
            .map(|n| (Some(n.0.to_string()), Uuid::nil()))
            .collect()
    } else {
        request
            .topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id))
            .collect()
    };
    let responses = wanted
        .into_iter()
        .map(|(name, id)| {
            let image = broker.image();
            let resolved = match &name {
                Some(name) => Some(name.clone()),
                None => image.topic_by_id(&id).map(|t| t.name.clone()),
            };
            let result = DeletableTopicResult::default()
                .with_name(
                    resolved
                        .clone()
                        .or(name.clone())
                        .map(|n| TopicName(str_bytes(n))),
                )
                .with_topic_id(id);
            let Some(topic) = resolved else {
                return result.with_error_code(ResponseError::UnknownTopicId.code());
            };
            if topic_name::is_internal(&topic) {
                return refused(result, &TopicError::Internal(topic));
            }
            let outcome = broker.commit(|image| {
                let id = image.topic(&topic).map(|t| t.id);
                Ok((delete_topic_records(image, &broker.config, &topic)?, id))
            });
            match outcome {
                Ok((_, id)) => {
                    broker.metrics.remove_topic(&topic);
                    result.with_topic_id(id.unwrap_or_default())
                }
                Err(e) => refused(result, &e),
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

fn refused(result: DeletableTopicResult, error: &TopicError) -> DeletableTopicResult {
    result
        .with_error_code(error.code().code())
        .with_error_message(Some(str_bytes(error.to_string())))
}
