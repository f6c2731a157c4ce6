//! `KafkaCluster`: a set of Karst brokers run as a StatefulSet.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, EnvVar, LocalObjectReference, ResourceRequirements, Toleration,
};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::conditions::Condition;

/// Desired state of a Karst cluster.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "kafka.karst.dev",
    version = "v1alpha1",
    kind = "KafkaCluster",
    doc = "A Karst cluster: Kafka-compatible brokers run as a StatefulSet.",
    namespaced,
    shortname = "kc",
    category = "karst",
    status = "KafkaClusterStatus",
    printcolumn = r#"{"name": "Desired", "type": "integer", "description": "brokers asked for", "jsonPath": ".spec.replicas"}"#,
    printcolumn = r#"{"name": "Ready", "type": "integer", "description": "brokers ready", "jsonPath": ".status.readyBrokers"}"#,
    printcolumn = r#"{"name": "Version", "type": "string", "description": "running version", "jsonPath": ".status.version"}"#,
    printcolumn = r#"{"name": "Status", "type": "string", "description": "Ready condition", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct KafkaClusterSpec {
    /// Number of brokers.
    #[schemars(range(min = 1))]
    pub replicas: i32,
    /// Container image; defaults to `karst:<version>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Karst version; defaults to the operator's own version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// CPU and memory for each broker container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Persistent storage of each broker.
    #[serde(default)]
    pub storage: StorageSpec,
    /// Broker configuration, by Kafka property name (`log.retention.hours`, ...).
    /// Values are strings, as in `server.properties`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Ports the brokers listen on.
    #[serde(default)]
    pub listeners: ListenersSpec,
    /// Spread brokers over failure domains, each broker's `broker.rack`
    /// being its node's value of `topologyKey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack_awareness: Option<RackAwarenessSpec>,
    /// Additions to the broker Pod template.
    #[serde(default)]
    pub pod_template: PodTemplateOverrides,
    /// Prometheus metrics.
    #[serde(default)]
    pub metrics: MetricsSpec,
    /// How brokers are restarted when their config or image changes.
    #[serde(default)]
    pub rolling_update: RollingUpdateSpec,
    /// How partitions move when brokers are added or removed.
    #[serde(default)]
    pub scaling: ScalingSpec,
}

/// Partition moves after a scale: reassignments in batches.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScalingSpec {
    /// Most partitions moving at once: each move copies a partition's log
    /// to a new broker, so a bound keeps the copies from starving clients
    /// of disk and network. A move that makes no progress within
    /// `rollingUpdate.readyTimeoutSeconds` stops the scale with
    /// `Degraded=True` naming it.
    #[serde(default = "default_max_concurrent_moves")]
    #[schemars(range(min = 1))]
    pub max_concurrent_moves: i32,
    /// Bytes per second each broker may copy for partition moves, as a
    /// leader sending and as a follower fetching (Kafka's replication
    /// throttle). Karst throttles only the replicas a reassignment is adding
    /// (a scale, a KafkaTopic `replicas` change, a rebalance), never the
    /// followers already in sync, so it stays set between moves. Rendered as
    /// the dynamic broker configs `leader.replication.throttled.rate` and
    /// `follower.replication.throttled.rate` (changing it restarts nothing);
    /// those keys in `spec.config` win.
    #[serde(default = "default_move_throttle")]
    #[schemars(range(min = 1))]
    pub throttle_bytes_per_second: i64,
}

impl Default for ScalingSpec {
    fn default() -> Self {
        Self {
            max_concurrent_moves: default_max_concurrent_moves(),
            throttle_bytes_per_second: default_move_throttle(),
        }
    }
}

/// 50 MiB/s: a move copies a 100 GB partition in about half an hour while
/// leaving most of a 10 Gb/s link and of a disk to the clients.
fn default_move_throttle() -> i64 {
    50 * 1024 * 1024
}

fn default_max_concurrent_moves() -> i32 {
    10
}

/// Rolling restarts: one broker at a time, the active controller last.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdateSpec {
    /// Seconds a restarted broker gets to come back (Pod Ready, registered
    /// with the cluster, back in the ISR of its partitions) before the roll
    /// stops with `Degraded=True` naming it; also the bound of any other wait
    /// of the roll. Fixing the cause (e.g. the image) lets the roll finish.
    #[serde(default = "default_ready_timeout_seconds")]
    #[schemars(range(min = 1))]
    pub ready_timeout_seconds: i64,
}

impl Default for RollingUpdateSpec {
    fn default() -> Self {
        Self {
            ready_timeout_seconds: default_ready_timeout_seconds(),
        }
    }
}

fn default_ready_timeout_seconds() -> i64 {
    300
}

/// Broker storage. The class cannot change and the size can only grow:
/// a StatefulSet's claim templates are immutable, so a growing size is
/// applied by expanding the existing PersistentVolumeClaims.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.storageClass) == has(oldSelf.storageClass) && (!has(self.storageClass) || self.storageClass == oldSelf.storageClass)",
        "message": "spec.storage.storageClass cannot be changed: existing volumes keep their class",
        "fieldPath": ".storageClass",
    },
    {
        "rule": "!isQuantity(self.size) || !isQuantity(oldSelf.size) || quantity(self.size).compareTo(quantity(oldSelf.size)) >= 0",
        "message": "spec.storage.size can only grow: volumes cannot shrink",
        "fieldPath": ".size",
    },
]))]
pub struct StorageSpec {
    /// Volume size of each broker (a Kubernetes quantity such as `10Gi`).
    /// Can grow (the volumes are expanded where the StorageClass allows it),
    /// never shrink.
    #[serde(default = "default_storage_size")]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "isQuantity(self)",
        "message": "spec.storage.size must be a Kubernetes quantity such as 10Gi",
    }]))]
    pub size: String,
    /// StorageClass of the volumes; the cluster default when unset. Cannot be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// What happens to the volumes when the cluster is deleted.
    #[serde(default)]
    pub delete_claim: DeleteClaimPolicy,
}

impl Default for StorageSpec {
    fn default() -> Self {
        Self {
            size: default_storage_size(),
            storage_class: None,
            delete_claim: DeleteClaimPolicy::default(),
        }
    }
}

fn default_storage_size() -> String {
    "10Gi".to_owned()
}

/// Fate of broker volumes when the cluster is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeleteClaimPolicy {
    /// Keep the PersistentVolumeClaims (data survives the cluster).
    #[default]
    Retain,
    /// Delete the claims with the cluster.
    Delete,
}

/// Ports of the broker.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenersSpec {
    /// Kafka (PLAINTEXT) port.
    #[serde(default = "default_kafka_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub kafka_port: i32,
    /// HTTP port for /metrics, /healthz and /readyz.
    #[serde(default = "default_http_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub http_port: i32,
    /// Port of the controller listener, where the brokers' metadata quorum
    /// (Raft) talks; only Pods of the cluster connect to it.
    #[serde(default = "default_controller_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub controller_port: i32,
}

impl Default for ListenersSpec {
    fn default() -> Self {
        Self {
            kafka_port: default_kafka_port(),
            http_port: default_http_port(),
            controller_port: default_controller_port(),
        }
    }
}

fn default_controller_port() -> i32 {
    9093
}

fn default_kafka_port() -> i32 {
    9092
}

fn default_http_port() -> i32 {
    9644
}

/// Rack awareness: brokers are spread over the values of a node label, and
/// each broker's `broker.rack` is its node's value of that label (read at
/// start by the Pod's init container, `karst-operator rack`; the broker
/// ServiceAccount `<name>-broker` needs `get nodes`). `broker.rack` must not
/// be given in `spec.config` then.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RackAwarenessSpec {
    /// Node label whose value is the rack, e.g. `topology.kubernetes.io/zone`.
    #[schemars(length(min = 1))]
    pub topology_key: String,
}

/// Additions to the broker Pod template.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateOverrides {
    /// Affinity rules, merged with the operator's (brokers preferably on
    /// different nodes, and in different racks with rack awareness).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Node labels the brokers must run on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Extra environment of the broker container. `KARST_*` variables are
    /// broker settings and are checked like `spec.config`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Secrets to pull the image with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// PriorityClass of the broker Pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Seconds a broker gets to stop after SIGTERM (a controlled shutdown
    /// moves leadership away first); 120 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub termination_grace_period_seconds: Option<i64>,
    /// Timings of the readiness probe (`/readyz`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<ProbeTimings>,
    /// Timings of the liveness probe (`/healthz`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<ProbeTimings>,
    /// Timings of the startup probe (`/healthz`; holds the liveness probe
    /// back while a broker recovers its logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<ProbeTimings>,
    /// Tolerations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Extra Pod annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Extra Pod labels (the operator's own labels win).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Probe timings; unset fields keep the operator's defaults.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeTimings {
    /// Seconds before the first probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub initial_delay_seconds: Option<i32>,
    /// Seconds between probes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub period_seconds: Option<i32>,
    /// Seconds after which a probe times out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub timeout_seconds: Option<i32>,
    /// Consecutive failures that count as failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub failure_threshold: Option<i32>,
}

/// Prometheus metrics of the brokers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSpec {
    /// Annotate Pods for Prometheus scraping.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

impl Default for MetricsSpec {
    fn default() -> Self {
        Self { enabled: true }
    }
}

fn default_true() -> bool {
    true
}

/// Observed state of a Karst cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KafkaClusterStatus {
    /// Ready, Progressing and Degraded.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Brokers whose Pod is Ready.
    #[serde(default)]
    pub ready_brokers: i32,
    /// `host:port` clients bootstrap from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_servers: Option<String>,
    /// Version the brokers run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What the operator is doing now, on which broker, since when and why
    /// it waits.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "operation_or_name"
    )]
    pub operation: Option<Operation>,
    /// Cluster id reported by the brokers (DescribeCluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Node ids of the brokers the cluster reports (DescribeCluster).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub brokers: Vec<i32>,
    /// The dynamic broker settings of `spec.config` last applied to the
    /// running brokers as cluster-wide defaults, without a restart.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dynamic_config: BTreeMap<String, String>,
}

/// The operation in progress (`status.operation`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// `Creating`, `WaitingForBrokers`, `RollingUpdate`, `Idle`, `Blocked`
    /// or `Paused`.
    pub name: String,
    /// Node id of the broker the operation acts on or waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker: Option<i32>,
    /// When this step started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// What the step does, or why it waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A scale: partitions whose moves finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions_moved: Option<i32>,
    /// A scale: partitions it moves in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions_to_move: Option<i32>,
    /// A scale: partitions of the batch submitted last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions_moving: Option<i32>,
}

impl Operation {
    /// An operation with only a name.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }
}

/// Reads `status.operation` as written by this operator (an object) or by
/// an earlier one (its name as a plain string), so that an operator upgrade
/// does not make existing clusters unreadable.
fn operation_or_name<'de, D>(deserializer: D) -> Result<Option<Operation>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Name(String),
        Full(Operation),
    }
    Ok(
        Option::<Stored>::deserialize(deserializer)?.map(|stored| match stored {
            Stored::Name(name) => Operation::named(&name),
            Stored::Full(op) => op,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_stored_by_an_earlier_operator_is_read_by_name() {
        let old: KafkaClusterStatus =
            serde_json::from_value(serde_json::json!({ "operation": "Idle" })).unwrap();
        assert_eq!(old.operation, Some(Operation::named("Idle")));
        let new: KafkaClusterStatus = serde_json::from_value(serde_json::json!({
            "operation": { "name": "RollingUpdate", "broker": 2, "since": "t", "message": "m" }
        }))
        .unwrap();
        assert_eq!(new.operation.unwrap().broker, Some(2));
        let none: KafkaClusterStatus = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(none.operation, None);
    }
}
