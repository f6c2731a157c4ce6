//! Why a topic reconciliation failed, and how each failure shows in the
//! status: the condition reason, whether it degrades the topic, and whether
//! only a change of the spec can cure it.

use karst_client::ResponseError;

use super::{
    dereference::TopicDereferenceError, replicas::ReplicaPlanError, validate::TopicValidationError,
};
use crate::events::api_error_message;

/// Why a topic reconciliation failed.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// Reading from the API server failed.
    #[error(transparent)]
    Dereference(#[from] TopicDereferenceError),
    /// `spec.clusterRef` names no KafkaCluster.
    #[error("spec.clusterRef.name: KafkaCluster {cluster:?} not found in namespace {namespace}")]
    ClusterNotFound {
        /// Cluster name.
        cluster: String,
        /// Namespace searched.
        namespace: String,
    },
    /// The spec cannot be applied; nothing was sent to the broker.
    #[error(transparent)]
    Invalid(#[from] TopicValidationError),
    /// No broker of the cluster answered.
    #[error("KafkaCluster {cluster:?} is unreachable (brokers {}): {source}", addresses.join(", "))]
    Unreachable {
        /// Cluster name.
        cluster: String,
        /// Addresses tried.
        addresses: Vec<String>,
        /// Last error.
        source: karst_client::Error,
    },
    /// The cluster has no ready broker.
    #[error("KafkaCluster {0:?} has no ready broker yet")]
    NoReadyBroker(String),
    /// An admin request failed: refused by the broker, or lost on the way.
    #[error("{}", describe_admin_failure(action, topic, source))]
    Admin {
        /// What was attempted (`create`, `alter configs of`, ...).
        action: &'static str,
        /// Topic.
        topic: String,
        /// Client error (carries the Kafka error code).
        source: karst_client::Error,
    },
    /// No broker has a plan for the replicas asked: too few are live.
    #[error(transparent)]
    Replicas(#[from] ReplicaPlanError),
    /// The topic went from the broker while the operator was changing it
    /// (deleted behind its back); the next reconcile creates it again.
    #[error("topic {0:?} disappeared from the cluster while its replicas were being changed")]
    Vanished(String),
    /// Writing the status failed.
    #[error("patching status of KafkaTopic {name}: {}", api_error_message(.source))]
    Status {
        /// Resource name.
        name: String,
        /// API error.
        source: kube::Error,
    },
    /// Adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<TopicError>>),
    /// The object has no namespace.
    #[error("KafkaTopic {0} has no namespace")]
    NoNamespace(String),
}

/// How a failure shows in the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureCondition {
    /// Condition reason.
    pub reason: &'static str,
    /// Degraded=True (the spec cannot be served) rather than Progressing (waiting).
    pub degraded: bool,
}

impl TopicError {
    /// Metric label.
    pub fn metric_label(&self) -> &'static str {
        match self {
            TopicError::Dereference(e) => e.metric_label(),
            TopicError::ClusterNotFound { .. } => "cluster_not_found",
            TopicError::Invalid(e) => e.metric_label(),
            TopicError::Unreachable { .. } => "cluster_unreachable",
            TopicError::NoReadyBroker(_) => "no_ready_broker",
            TopicError::Replicas(_) => "not_enough_live_brokers",
            TopicError::Vanished(_) => "topic_vanished",
            TopicError::Admin { source, .. } if source.kafka_kind().is_some() => "broker_refused",
            TopicError::Admin { .. } => "admin",
            TopicError::Status { .. } => "status",
            TopicError::Finalizer(e) => match &**e {
                kube::runtime::finalizer::Error::ApplyFailed(inner)
                | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner.metric_label(),
                _ => "finalizer",
            },
            TopicError::NoNamespace(_) => "no_namespace",
        }
    }

    /// The condition this failure writes; `None` when the status cannot be
    /// written (writing it is what failed).
    pub fn condition(&self) -> Option<FailureCondition> {
        let (reason, degraded) = match self {
            TopicError::Dereference(_) => ("ObservationFailed", false),
            TopicError::ClusterNotFound { .. } => ("ClusterNotFound", true),
            TopicError::Invalid(e) => (e.reason(), true),
            TopicError::Unreachable { .. } => ("ClusterUnreachable", false),
            TopicError::NoReadyBroker(_) => ("ClusterNotReady", false),
            TopicError::Replicas(_) => ("WaitingForBrokers", false),
            TopicError::Vanished(_) => ("ObservationFailed", false),
            TopicError::Admin { source, .. } if source.kafka_kind().is_some() => {
                ("BrokerRefused", true)
            }
            TopicError::Admin { .. } => ("ClusterUnreachable", false),
            TopicError::Status { .. } | TopicError::Finalizer(_) | TopicError::NoNamespace(_) => {
                return None;
            }
        };
        Some(FailureCondition { reason, degraded })
    }

    /// Only a change of the spec (or of the cluster it names) can cure the
    /// failure: it is re-checked at the resync interval, not with backoff.
    pub fn needs_spec_change(&self) -> bool {
        self.condition().is_some_and(|c| c.degraded)
    }
}

/// Builds the error for a failed admin `action` on `topic`.
pub fn admin_err(
    action: &'static str,
    topic: &str,
) -> impl FnOnce(karst_client::Error) -> TopicError + use<> {
    let topic = topic.to_owned();
    move |source| TopicError::Admin {
        action,
        topic,
        source,
    }
}

/// A broker refusal names the spec field it is about (`spec.partitions: the
/// broker refused to create topic "t": ...`); a transport failure says so.
fn describe_admin_failure(action: &str, topic: &str, error: &karst_client::Error) -> String {
    match error {
        karst_client::Error::Kafka(refusal) => {
            let field = match refusal.kind {
                ResponseError::InvalidPartitions => "spec.partitions",
                ResponseError::InvalidReplicationFactor
                | ResponseError::InvalidReplicaAssignment => "spec.replicas",
                ResponseError::InvalidConfig => "spec.config",
                _ => "spec",
            };
            let detail = refusal
                .message
                .as_deref()
                .filter(|m| !m.is_empty())
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            format!(
                "{field}: the broker refused to {action} topic {topic:?} with {} (error code {}){detail}",
                refusal.kind, refusal.code
            )
        }
        other => format!("could not {action} topic {topic:?}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::ApiKey;
    use karst_client::KafkaError;

    use super::*;

    #[test]
    fn broker_refusals_name_the_field_and_degrade_the_topic() {
        let refusal = KafkaError::from_code(
            ApiKey::CreateTopics,
            Some("big".into()),
            37,
            Some("number of partitions must be between 1 and 100000, got 1000000".into()),
        )
        .unwrap();
        let error = admin_err("create", "big")(refusal.into());
        let text = error.to_string();
        assert!(
            text.starts_with("spec.partitions: the broker refused to create topic \"big\""),
            "{text}"
        );
        assert!(text.contains("got 1000000"), "{text}");
        assert!(!text.contains("Some("), "no debug text: {text}");
        assert_eq!(
            error.condition(),
            Some(FailureCondition {
                reason: "BrokerRefused",
                degraded: true
            })
        );
        assert!(error.needs_spec_change());
    }

    #[test]
    fn too_few_live_brokers_for_a_factor_is_waited_for_not_degraded() {
        let error = TopicError::from(ReplicaPlanError::NotEnoughBrokers {
            replicas: 3,
            live: vec![0, 2],
        });
        assert_eq!(
            error.condition(),
            Some(FailureCondition {
                reason: "WaitingForBrokers",
                degraded: false
            })
        );
        assert!(
            error
                .to_string()
                .starts_with("spec.replicas: 3 replicas need 3 live brokers")
        );
    }

    #[test]
    fn a_lost_connection_is_retried_not_degraded() {
        let error = admin_err("create", "t")(karst_client::Error::Closed);
        assert_eq!(error.condition().map(|c| c.degraded), Some(false));
        assert!(!error.needs_spec_change());
    }
}
