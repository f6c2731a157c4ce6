//! `KafkaTopic`: one Kafka topic on a `KafkaCluster` of the same namespace.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::conditions::Condition;

/// Annotation that keeps the Kafka topic when the resource is deleted.
pub const RETAIN_ANNOTATION: &str = "kafka.karst.dev/retain-topic";

/// Desired state of a topic.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "kafka.karst.dev",
    version = "v1alpha1",
    kind = "KafkaTopic",
    doc = "A Kafka topic on a KafkaCluster of the same namespace, managed through the Kafka admin API.",
    namespaced,
    shortname = "kt",
    category = "karst",
    status = "KafkaTopicStatus",
    printcolumn = r#"{"name": "Cluster", "type": "string", "description": "KafkaCluster", "jsonPath": ".spec.clusterRef.name"}"#,
    printcolumn = r#"{"name": "Partitions", "type": "integer", "description": "partitions on the broker", "jsonPath": ".status.partitions"}"#,
    printcolumn = r#"{"name": "Replicas", "type": "integer", "description": "replication factor on the broker", "jsonPath": ".status.replicas"}"#,
    printcolumn = r#"{"name": "Ready", "type": "string", "description": "Ready condition", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct KafkaTopicSpec {
    /// The cluster (same namespace) that holds the topic. Cannot be changed:
    /// the topic would be created on the other cluster and orphaned on this one.
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self == oldSelf",
        "message": "spec.clusterRef cannot be changed: the topic would be orphaned on its cluster; create a new KafkaTopic instead",
    }]))]
    pub cluster_ref: ClusterRef,
    /// Topic name on the broker; defaults to `metadata.name`. Cannot be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 249), regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self == oldSelf",
        "message": "spec.topicName cannot be changed: Kafka cannot rename a topic",
    }]))]
    pub topic_name: Option<String>,
    /// Number of partitions; can grow, never shrink. The broker's
    /// `num.partitions` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub partitions: Option<i32>,
    /// Replication factor. The broker's `default.replication.factor` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // An int32 schema with Kafka's int16 bound: `format: int16` is not one the
    // API server knows, and it warns on every apply.
    #[schemars(with = "Option<i32>", range(min = 1, max = 32767))]
    pub replicas: Option<i16>,
    /// Topic configuration by Kafka property name (`retention.ms`, ...); values are strings.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// Reference to a `KafkaCluster` in the topic's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct ClusterRef {
    /// Name of the KafkaCluster.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// Observed state of a topic.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaTopicStatus {
    /// Ready, Progressing and Degraded.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The topic this resource manages (fixed once created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_name: Option<String>,
    /// Kafka topic id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
    /// Partitions on the broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,
    /// Replication factor on the broker. With `spec.replicas` set, the
    /// smallest replica set of any partition, not counting the replicas a
    /// reassignment is still adding (so a change shows here once done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// The change of `spec.replicas` in progress, by partition
    /// reassignment; absent when every partition has `spec.replicas`.
    // Serialized as `null` when the change ends, so the merge patch of the
    // status removes it.
    #[serde(default)]
    pub replica_change: Option<ReplicaChangeStatus>,
}

/// A replication-factor change in progress (`status.replicaChange`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaChangeStatus {
    /// The replication factor being reached (`spec.replicas`).
    pub target_replicas: i32,
    /// Partitions that have it, with no reassignment in flight.
    pub partitions_done: i32,
    /// Partitions of the topic.
    pub partitions: i32,
    /// Partitions whose reassignment is in flight now.
    pub in_flight: i32,
    /// When the change to `targetReplicas` started (RFC 3339).
    pub since: String,
}

impl KafkaTopic {
    /// The topic name on the broker: `spec.topicName` or `metadata.name`.
    pub fn kafka_topic_name(&self) -> String {
        self.spec
            .topic_name
            .clone()
            .unwrap_or_else(|| self.metadata.name.clone().unwrap_or_default())
    }

    /// Whether the retain annotation asks to keep the topic on deletion.
    pub fn retains_topic(&self) -> bool {
        self.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(RETAIN_ANNOTATION))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}
