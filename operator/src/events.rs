//! Kubernetes Events and user-facing error text, shared by both controllers.
//!
//! Notes are sentences a user can act on: an API server refusal is reduced
//! to the message the API server wrote (which names the field), never the
//! Rust debug form of the error.

use kube::{
    Resource,
    runtime::events::{Event, EventType, Recorder},
};

use crate::context::Context;

/// Publishes an Event about `object`; a failure to publish is logged, not fatal.
pub async fn publish<K>(
    ctx: &Context,
    object: &K,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) where
    K: Resource<DynamicType = ()>,
{
    let recorder = Recorder::new(ctx.client.clone(), ctx.reporter.clone());
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(sentence(note)),
        action: action.to_owned(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, &object.object_ref(&())).await {
        tracing::warn!(error = %api_error_message(&e), "publishing event failed");
    }
}

/// `text` as a sentence: capitalised first letter kept as written, and a final full stop.
fn sentence(text: String) -> String {
    if text.ends_with(['.', '!', '?']) {
        text
    } else {
        format!("{text}.")
    }
}

/// The human part of a kube error: the API server's own message for a
/// refusal (`StatefulSet.apps "demo" is invalid: spec...: Invalid value`),
/// the error's display text otherwise.
pub fn api_error_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_end_as_sentences() {
        assert_eq!(
            sentence("created topic \"a\"".into()),
            "created topic \"a\"."
        );
        assert_eq!(sentence("done.".into()), "done.");
    }

    #[test]
    fn api_refusals_keep_only_the_api_server_message() {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "reason": "Invalid", "code": 422,
            "message": "StatefulSet.apps \"demo\" is invalid: spec.replicas: Invalid value: -1",
        }))
        .unwrap();
        let text = api_error_message(&kube::Error::Api(Box::new(status)));
        assert_eq!(
            text,
            "StatefulSet.apps \"demo\" is invalid: spec.replicas: Invalid value: -1"
        );
    }
}
