//! DeleteTopics, by name or (v6+) by topic id.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use uuid::Uuid;

use super::RequestContext;
use super::util::str_bytes;
use crate::config::topic_name;
use crate::controller::TopicError;

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
    let mut responses = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let response = 'topic: {
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
                break 'topic result.with_error_code(ResponseError::UnknownTopicId.code());
            };
            if topic_name::is_internal(&topic) {
                break 'topic refused(result, &TopicError::Internal(topic));
            }
            match broker.controller.delete_topic(topic.clone()).await {
                Ok(id) => {
                    broker.metrics.remove_topic(&topic);
                    result.with_topic_id(id)
                }
                Err(e) => refused(result, &e),
            }
        };
        responses.push(response);
    }
    DeleteTopicsResponse::default().with_responses(responses)
}

fn refused(result: DeletableTopicResult, error: &TopicError) -> DeletableTopicResult {
    result
        .with_error_code(error.code().code())
        .with_error_message(Some(str_bytes(error.to_string())))
}
