//! The controller channel: the one way metadata changes. Every writer
//! (admin handlers, auto-creation, the group coordinator creating
//! `__consumer_offsets`, the producer-id allocator, broker registration)
//! submits a [`Command`]; the channel runs it on the active controller —
//! today always this node, deciding with the pure functions beside it and
//! appending to the local metadata log — and, once brokers form a quorum,
//! forwards it to the active controller when that is another node. Callers
//! already await the answer, so that change does not reach them.

use std::sync::Arc;

use super::command::{Command, CommandOutcome, decide};
use super::topics::TopicError;
use crate::config::BrokerConfig;
use crate::metadata::{MetadataImage, MetadataStore};

/// Submits metadata commands to the active controller.
#[derive(Debug, Clone)]
pub struct ControllerChannel {
    metadata: Arc<MetadataStore>,
    config: Arc<BrokerConfig>,
}

impl ControllerChannel {
    pub fn new(metadata: Arc<MetadataStore>, config: Arc<BrokerConfig>) -> Self {
        Self { metadata, config }
    }

    /// Runs `command` on the active controller and resolves once its records
    /// are durable in the metadata log and published to this node's
    /// listeners (so a topic just created is hosted before the answer).
    pub async fn submit(
        &self,
        command: Command,
    ) -> Result<(Arc<MetadataImage>, CommandOutcome), TopicError> {
        self.metadata
            .update(|image| decide(image, &self.config, &command))
    }
}
