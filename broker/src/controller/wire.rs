//! What crosses the controller listener when a node forwards a command to
//! the active controller: the reply (the Raft log index to wait for and the
//! outcome) and refusals as Kafka error codes with their messages.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::command::CommandOutcome;
use super::election::TopicPartition;
use super::topics::TopicError;
use crate::metadata::{PartitionImage, TopicImage};

/// The answer to a forwarded command: the Raft log index the forwarding
/// node waits for, and the outcome.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ForwardedReply {
    pub(super) result: Result<(Option<u64>, ForwardedOutcome), RemoteError>,
}

/// [`CommandOutcome`] as it crosses the wire.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum ForwardedOutcome {
    CreatedTopics(Vec<Result<TopicImage, RemoteError>>),
    DeletedTopic(uuid::Uuid),
    ProducerIdBlock { first: i64 },
    Registered { epoch: i64 },
    Heartbeat { fenced: bool },
    PartitionChanged(PartitionImage),
    Reassigned(Vec<Result<(), RemoteError>>),
    Elected(Vec<(TopicPartition, Result<(), RemoteError>)>),
    Done,
}

impl From<CommandOutcome> for ForwardedOutcome {
    fn from(outcome: CommandOutcome) -> Self {
        match outcome {
            CommandOutcome::CreatedTopics(topics) => Self::CreatedTopics(
                topics
                    .into_iter()
                    .map(|t| t.map(|t| (*t).clone()).map_err(|e| RemoteError::from(&e)))
                    .collect(),
            ),
            CommandOutcome::DeletedTopic(id) => Self::DeletedTopic(id),
            CommandOutcome::ProducerIdBlock { first } => Self::ProducerIdBlock { first },
            CommandOutcome::Registered { epoch } => Self::Registered { epoch },
            CommandOutcome::Heartbeat { fenced } => Self::Heartbeat { fenced },
            CommandOutcome::PartitionChanged(p) => Self::PartitionChanged(p),
            CommandOutcome::Reassigned(outcomes) => Self::Reassigned(
                outcomes
                    .into_iter()
                    .map(|o| o.map_err(|e| RemoteError::from(&e)))
                    .collect(),
            ),
            CommandOutcome::Elected(outcomes) => Self::Elected(
                outcomes
                    .into_iter()
                    .map(|(tp, o)| (tp, o.map_err(|e| RemoteError::from(&e))))
                    .collect(),
            ),
            CommandOutcome::Done => Self::Done,
        }
    }
}

impl From<ForwardedOutcome> for CommandOutcome {
    fn from(outcome: ForwardedOutcome) -> Self {
        match outcome {
            ForwardedOutcome::CreatedTopics(topics) => Self::CreatedTopics(
                topics
                    .into_iter()
                    .map(|t| t.map(Arc::new).map_err(RemoteError::into_topic_error))
                    .collect(),
            ),
            ForwardedOutcome::DeletedTopic(id) => Self::DeletedTopic(id),
            ForwardedOutcome::ProducerIdBlock { first } => Self::ProducerIdBlock { first },
            ForwardedOutcome::Registered { epoch } => Self::Registered { epoch },
            ForwardedOutcome::Heartbeat { fenced } => Self::Heartbeat { fenced },
            ForwardedOutcome::PartitionChanged(p) => Self::PartitionChanged(p),
            ForwardedOutcome::Reassigned(outcomes) => Self::Reassigned(
                outcomes
                    .into_iter()
                    .map(|o| o.map_err(RemoteError::into_topic_error))
                    .collect(),
            ),
            ForwardedOutcome::Elected(outcomes) => Self::Elected(
                outcomes
                    .into_iter()
                    .map(|(tp, o)| (tp, o.map_err(RemoteError::into_topic_error)))
                    .collect(),
            ),
            ForwardedOutcome::Done => Self::Done,
        }
    }
}

/// A refusal as it crosses the wire: Kafka's error code and the message.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct RemoteError {
    pub(super) code: i16,
    pub(super) message: String,
}

impl From<&TopicError> for RemoteError {
    fn from(error: &TopicError) -> Self {
        Self {
            code: error.code().code(),
            message: error.to_string(),
        }
    }
}

impl RemoteError {
    /// The refusals a caller acts on keep their variant across the wire: a
    /// broker-only node retries NOT_CONTROLLER, waits out
    /// DUPLICATE_BROKER_REGISTRATION and registers again on
    /// STALE_BROKER_EPOCH, exactly as a voter does.
    pub(super) fn into_topic_error(self) -> TopicError {
        use kafka_protocol::ResponseError as E;
        match E::try_from_code(self.code) {
            Some(E::NotController) => TopicError::NotController(self.message),
            Some(E::StaleBrokerEpoch) => TopicError::StaleBrokerEpoch(self.message),
            Some(E::DuplicateBrokerRegistration) => {
                TopicError::DuplicateBrokerRegistration(self.message)
            }
            _ => TopicError::Remote {
                code: self.code,
                message: self.message,
            },
        }
    }
}
