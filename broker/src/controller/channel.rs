//! The controller channel: the one way metadata changes. Every writer
//! (admin handlers, auto-creation, the group coordinator creating
//! `__consumer_offsets`, the producer-id allocator, broker registration)
//! submits a [`Command`] and awaits its outcome. On a single node the
//! command is decided here and appended to the local metadata log. In a
//! quorum it runs on the active controller (the Raft leader): decided
//! against the image of everything committed, proposed, and answered once
//! applied; a node that is not the active controller forwards it there over
//! the controller listener, then waits until its own image has the change,
//! so a caller always sees what it just did.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::brokers::Registration;
use super::command::{Command, CommandOutcome, decide};
use super::election::{ElectionOutcome, ElectionType, TopicPartition};
use super::liveness::BrokerLiveness;
use super::partition_change::AlterPartition;
use super::reassignment::Reassignment;
use super::topics::{NewTopic, TopicError};
use super::wire::{ForwardedOutcome, ForwardedReply, RemoteError};
use crate::config::BrokerConfig;
use crate::metadata::{MetadataImage, MetadataStore, PartitionImage, TopicImage};
use crate::raft::{ForwardHandler, MetadataQuorum, QuorumError, forward};

/// How long a command may wait for an active controller (an election
/// takes 1.5-2 s; a longer wait means no quorum).
const CONTROLLER_WAIT: Duration = Duration::from_secs(15);

/// Submits metadata commands to the active controller.
#[derive(Debug, Clone)]
pub struct ControllerChannel {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    metadata: Arc<MetadataStore>,
    config: Arc<BrokerConfig>,
    quorum: Option<Arc<MetadataQuorum>>,
    /// Controller listener address of each voter, for forwarding.
    voters: HashMap<u64, String>,
    /// Presented when forwarding: controllers refuse other clusters.
    cluster_id: String,
    /// Serializes decide + propose on the active controller, so each
    /// command is decided on an image that holds every earlier one.
    deciding: tokio::sync::Mutex<()>,
    /// Broker sessions, used while this node is the active controller.
    liveness: BrokerLiveness,
}

impl ControllerChannel {
    /// A single node: commands go to the local metadata log.
    pub fn new(metadata: Arc<MetadataStore>, config: Arc<BrokerConfig>) -> Self {
        Self::build(metadata, config, None, String::new())
    }

    /// A node of a metadata quorum; it also answers commands forwarded to it
    /// while it is the active controller.
    pub fn with_quorum(
        metadata: Arc<MetadataStore>,
        config: Arc<BrokerConfig>,
        quorum: Arc<MetadataQuorum>,
        cluster_id: String,
    ) -> Self {
        let channel = Self::build(metadata, config, Some(quorum.clone()), cluster_id);
        quorum.serve_forwarded(Arc::new(channel.clone()));
        channel
    }

    fn build(
        metadata: Arc<MetadataStore>,
        config: Arc<BrokerConfig>,
        quorum: Option<Arc<MetadataQuorum>>,
        cluster_id: String,
    ) -> Self {
        let voters = config
            .controller_quorum_voters
            .iter()
            .map(|v| (v.id, v.address()))
            .collect();
        Self {
            inner: Arc::new(Inner {
                metadata,
                quorum,
                voters,
                cluster_id,
                deciding: tokio::sync::Mutex::new(()),
                liveness: BrokerLiveness::new(Duration::from_millis(
                    config.broker_session_timeout_ms,
                )),
                config,
            }),
        }
    }

    /// The active controller's node id as this node knows it (itself on a
    /// single node), or -1 during an election.
    pub fn active_controller(&self) -> i32 {
        match &self.inner.quorum {
            None => self.inner.config.node_id,
            Some(quorum) => quorum.leader_id().map_or(-1, |id| id as i32),
        }
    }

    /// Creates topics, each independently: one failing does not stop the
    /// others. With `validate_only` nothing is written. A failed write
    /// answers every topic of the request with it.
    pub async fn create_topics(
        &self,
        topics: Vec<NewTopic>,
        validate_only: bool,
    ) -> Vec<Result<Arc<TopicImage>, TopicError>> {
        let count = topics.len();
        let command = Command::CreateTopics {
            topics,
            validate_only,
        };
        match self.submit(command).await {
            Ok((_, CommandOutcome::CreatedTopics(outcomes))) => outcomes,
            Ok((_, other)) => unreachable!("CreateTopics answered with {other:?}"),
            Err(e) => {
                let message = e.to_string();
                let storage = e.code() == kafka_protocol::ResponseError::KafkaStorageError;
                (0..count)
                    .map(|_| {
                        Err(if storage {
                            TopicError::StorageFailed(message.clone())
                        } else {
                            TopicError::InvalidRequest(message.clone())
                        })
                    })
                    .collect()
            }
        }
    }

    /// Deletes topic `name`; returns its id.
    pub async fn delete_topic(&self, name: String) -> Result<uuid::Uuid, TopicError> {
        match self.submit(Command::DeleteTopic { name }).await? {
            (_, CommandOutcome::DeletedTopic(id)) => Ok(id),
            (_, other) => unreachable!("DeleteTopic answered with {other:?}"),
        }
    }

    /// Reserves `size` producer ids; returns the first.
    pub async fn allocate_producer_ids(&self, size: i64) -> Result<i64, TopicError> {
        match self.submit(Command::AllocateProducerIds { size }).await? {
            (_, CommandOutcome::ProducerIdBlock { first }) => Ok(first),
            (_, other) => unreachable!("AllocateProducerIds answered with {other:?}"),
        }
    }

    /// Registers this broker (see [`Registration`]); returns its broker epoch.
    pub async fn register(
        &self,
        registration: Registration,
        controller_address: Option<String>,
    ) -> Result<i64, TopicError> {
        let command = Command::RegisterBroker {
            node_id: registration.node_id,
            host: registration.host,
            port: registration.port,
            rack: registration.rack,
            controller_address,
            incarnation: registration.incarnation,
        };
        match self.submit(command).await? {
            (_, CommandOutcome::Registered { epoch }) => Ok(epoch),
            (_, other) => unreachable!("RegisterBroker answered with {other:?}"),
        }
    }

    /// Heartbeats broker `node_id` of `epoch`; returns whether it is fenced.
    pub async fn heartbeat(
        &self,
        node_id: i32,
        epoch: i64,
        want_shutdown: bool,
    ) -> Result<bool, TopicError> {
        let command = Command::BrokerHeartbeat {
            node_id,
            epoch,
            metadata_offset: self.inner.metadata.image().offset,
            want_shutdown,
        };
        match self.submit(command).await? {
            (_, CommandOutcome::Heartbeat { fenced }) => Ok(fenced),
            (_, other) => unreachable!("BrokerHeartbeat answered with {other:?}"),
        }
    }

    /// Asks the controller to change a partition's ISR (the leader's
    /// AlterPartition); returns the partition as it now is.
    pub async fn alter_partition(
        &self,
        request: AlterPartition,
    ) -> Result<PartitionImage, TopicError> {
        match self.submit(Command::AlterPartition(request)).await? {
            (_, CommandOutcome::PartitionChanged(partition)) => Ok(partition),
            (_, other) => unreachable!("AlterPartition answered with {other:?}"),
        }
    }

    /// Starts, replaces or cancels reassignments; one outcome per entry.
    pub async fn alter_reassignments(
        &self,
        reassignments: Vec<Reassignment>,
    ) -> Result<Vec<Result<(), TopicError>>, TopicError> {
        let command = Command::AlterPartitionReassignments { reassignments };
        match self.submit(command).await? {
            (_, CommandOutcome::Reassigned(outcomes)) => Ok(outcomes),
            (_, other) => unreachable!("AlterPartitionReassignments answered with {other:?}"),
        }
    }

    /// Elects leaders of `partitions` (all when `None`).
    pub async fn elect_leaders(
        &self,
        election: ElectionType,
        partitions: Option<Vec<TopicPartition>>,
    ) -> Result<Vec<ElectionOutcome>, TopicError> {
        let command = Command::ElectLeaders {
            election,
            partitions,
        };
        match self.submit(command).await? {
            (_, CommandOutcome::Elected(outcomes)) => Ok(outcomes),
            (_, other) => unreachable!("ElectLeaders answered with {other:?}"),
        }
    }

    /// On the active controller, fences every broker whose session ran
    /// out; elsewhere does nothing. Called every heartbeat interval.
    pub async fn fence_expired_brokers(&self) {
        let Some(quorum) = &self.inner.quorum else {
            return;
        };
        let active = quorum.leader_id() == Some(quorum.node_id());
        self.inner.liveness.set_active(active);
        if !active {
            return;
        }
        let expired = self.inner.liveness.expired(&self.inner.metadata.image());
        for node_id in expired {
            tracing::warn!(
                node_id,
                timeout_ms = self.inner.config.broker_session_timeout_ms,
                "fencing a broker that missed its heartbeats (broker.session.timeout.ms)"
            );
            if let Err(e) = self.submit(Command::FenceBroker { node_id }).await {
                tracing::warn!(node_id, error = %e, "could not fence a broker");
            }
        }
    }

    /// Runs `command` on the active controller and resolves once its records
    /// are durable in the metadata log and published to this node's
    /// listeners (so a topic just created is hosted before the answer).
    pub async fn submit(
        &self,
        command: Command,
    ) -> Result<(Arc<MetadataImage>, CommandOutcome), TopicError> {
        let inner = &self.inner;
        let Some(quorum) = &inner.quorum else {
            return inner
                .metadata
                .update(|image| decide(image, &inner.config, &command));
        };
        let deadline = tokio::time::Instant::now() + CONTROLLER_WAIT;
        loop {
            let attempt = match quorum.leader_id() {
                Some(id) if id == quorum.node_id() => self.run_here(quorum, &command).await,
                Some(id) => self.forward_to(id, &command).await,
                // An observer learns the leader only once the leader adds it;
                // until then (and during elections) every voter is asked.
                None => self.forward_to_any_voter(&command).await,
            };
            match attempt {
                Err(TopicError::NotController(reason)) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(TopicError::NotController(format!(
                            "no active controller took the command within {CONTROLLER_WAIT:?}: {reason}"
                        )));
                    }
                    tracing::debug!(%reason, "retrying a controller command");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    /// Decides and proposes on this node, the active controller.
    async fn run_here(
        &self,
        quorum: &MetadataQuorum,
        command: &Command,
    ) -> Result<(Arc<MetadataImage>, CommandOutcome), TopicError> {
        let inner = &self.inner;
        let _turn = inner.deciding.lock().await;
        // Waits until everything committed is applied here, so the
        // decision sees every earlier command.
        quorum
            .catch_up_as_leader(Duration::from_secs(5))
            .await
            .map_err(not_controller)?;
        let image = quorum.subscribe().borrow().image.clone();
        self.track_liveness(&image, command)?;
        let (records, outcome) = decide(&image, &inner.config, command)?;
        let image = if records.is_empty() {
            image
        } else {
            let proposed = quorum.propose(records).await.map_err(not_controller)?;
            inner
                .metadata
                .wait_applied(proposed.log_index, CONTROLLER_WAIT)
                .await;
            proposed.image
        };
        if let Command::RegisterBroker {
            node_id,
            controller_address: Some(address),
            ..
        } = command
            && !inner.voters.contains_key(&(*node_id as u64))
        {
            // A broker-only node follows the metadata log as a Raft learner.
            quorum
                .add_observer(*node_id as u64, address.clone())
                .await
                .map_err(not_controller)?;
        }
        Ok((image, outcome))
    }

    /// The active controller's side of broker sessions: a heartbeat renews
    /// one; a new process may not register a node id whose session is still
    /// alive (KIP-631: DUPLICATE_BROKER_REGISTRATION; it retries until the
    /// old session ends); fencing or a shutdown ends one.
    fn track_liveness(&self, image: &MetadataImage, command: &Command) -> Result<(), TopicError> {
        let liveness = &self.inner.liveness;
        liveness.set_active(true);
        match command {
            Command::BrokerHeartbeat {
                node_id,
                want_shutdown,
                ..
            } => {
                if *want_shutdown {
                    liveness.end_session(*node_id);
                } else {
                    liveness.heartbeat(*node_id);
                }
            }
            Command::RegisterBroker {
                node_id,
                incarnation,
                ..
            } => {
                let other_process = image
                    .brokers
                    .get(node_id)
                    .is_some_and(|b| b.incarnation != *incarnation);
                if other_process && liveness.has_session(image, *node_id) {
                    return Err(TopicError::DuplicateBrokerRegistration(format!(
                        "node id {node_id} is registered by another live process; \
                         two brokers have the same node.id, or this one restarted less than \
                         broker.session.timeout.ms ago"
                    )));
                }
                liveness.heartbeat(*node_id);
            }
            Command::FenceBroker { node_id } => liveness.end_session(*node_id),
            _ => {}
        }
        Ok(())
    }

    /// Tries each voter in turn; the active controller answers, the others
    /// say they are not it.
    async fn forward_to_any_voter(
        &self,
        command: &Command,
    ) -> Result<(Arc<MetadataImage>, CommandOutcome), TopicError> {
        let mut voters: Vec<u64> = self.inner.voters.keys().copied().collect();
        voters.sort_unstable();
        let mut last = TopicError::NotController("no controller.quorum.voters".into());
        for voter in voters {
            if Some(voter) == self.inner.quorum.as_ref().map(|q| q.node_id()) {
                continue;
            }
            match self.forward_to(voter, command).await {
                Err(e @ TopicError::NotController(_)) => last = e,
                other => return other,
            }
        }
        Err(last)
    }

    /// Sends `command` to the active controller `leader` and waits until
    /// this node has applied the change.
    async fn forward_to(
        &self,
        leader: u64,
        command: &Command,
    ) -> Result<(Arc<MetadataImage>, CommandOutcome), TopicError> {
        let Some(address) = self.inner.voters.get(&leader) else {
            return Err(TopicError::NotController(format!(
                "controller {leader} is not in controller.quorum.voters"
            )));
        };
        let request = serde_json::to_value(command).expect("commands always serialize");
        let me = (
            self.inner.cluster_id.as_str(),
            self.inner.config.node_id as u64,
        );
        let answer = forward(address, me, request, CONTROLLER_WAIT)
            .await
            .map_err(|e| TopicError::NotController(e.to_string()))?;
        let reply: ForwardedReply = serde_json::from_value(answer).map_err(|e| {
            TopicError::NotController(format!("controller {leader} answered garbage: {e}"))
        })?;
        let (log_index, outcome) = reply.result.map_err(RemoteError::into_topic_error)?;
        if let Some(index) = log_index {
            self.inner
                .metadata
                .wait_applied(index, CONTROLLER_WAIT)
                .await;
        }
        Ok((self.inner.metadata.image(), outcome.into()))
    }
}

fn not_controller(error: QuorumError) -> TopicError {
    TopicError::NotController(error.to_string())
}

/// The active controller answers commands forwarded by other nodes.
impl ForwardHandler for ControllerChannel {
    fn handle(&self, request: serde_json::Value) -> BoxFuture<'static, serde_json::Value> {
        let channel = self.clone();
        Box::pin(async move {
            let reply = match serde_json::from_value::<Command>(request) {
                Err(e) => ForwardedReply {
                    result: Err(RemoteError {
                        code: kafka_protocol::ResponseError::InvalidRequest.code(),
                        message: format!("forwarded command does not decode: {e}"),
                    }),
                },
                Ok(command) => channel.answer_forwarded(command).await,
            };
            serde_json::to_value(reply).expect("replies always serialize")
        })
    }
}

impl ControllerChannel {
    async fn answer_forwarded(&self, command: Command) -> ForwardedReply {
        let Some(quorum) = &self.inner.quorum else {
            return ForwardedReply {
                result: Err(RemoteError::from(&TopicError::NotController(
                    "not part of a quorum".into(),
                ))),
            };
        };
        if !quorum.is_leader() {
            return ForwardedReply {
                result: Err(RemoteError::from(&TopicError::NotController(
                    "no longer the active controller".into(),
                ))),
            };
        }
        let result = match self.run_here(quorum, &command).await {
            // Everything applied here so far, the command included.
            Ok((_, outcome)) => Ok((
                quorum.subscribe().borrow().applied.map(|id| id.index),
                ForwardedOutcome::from(outcome),
            )),
            Err(e) => Err(RemoteError::from(&e)),
        };
        ForwardedReply { result }
    }
}

#[cfg(test)]
mod remote_error_tests {
    use super::*;

    #[test]
    fn lifecycle_refusals_keep_their_variant_when_forwarded() {
        let across = |e: TopicError| RemoteError::from(&e).into_topic_error();
        assert!(matches!(
            across(TopicError::DuplicateBrokerRegistration("d".into())),
            TopicError::DuplicateBrokerRegistration(m) if m == "d"
        ));
        assert!(matches!(
            across(TopicError::StaleBrokerEpoch("s".into())),
            TopicError::StaleBrokerEpoch(_)
        ));
        assert!(matches!(
            across(TopicError::NotController("n".into())),
            TopicError::NotController(_)
        ));
        assert!(matches!(
            across(TopicError::InvalidPartitions("p".into())),
            TopicError::Remote { .. }
        ));
    }
}
