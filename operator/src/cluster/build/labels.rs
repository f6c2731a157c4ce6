//! Names, labels and owner references shared by every built object.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::cluster::validate::ValidatedCluster;

/// Label key for the cluster name (the StatefulSet selector uses it).
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// Label key/value marking Karst objects.
pub const NAME_LABEL: (&str, &str) = ("app.kubernetes.io/name", "karst");
/// Label key/value of broker Pods.
pub const COMPONENT_LABEL: (&str, &str) = ("app.kubernetes.io/component", "broker");
/// Field manager of every server-side apply by the operator.
pub const FIELD_MANAGER: &str = "karst-operator";

/// The longest StatefulSet name: its Pods carry a `controller-revision-hash`
/// label of `<name>-<10-character hash>`, and a label value holds 63.
pub const MAX_STATEFUL_SET_NAME: usize = 52;

// Every child is `<cluster>-<role>`: an object a user already has under the
// cluster's own name (a Service `demo`, say) is never in the way.

/// Name of the broker StatefulSet (its Pods are `<cluster>-broker-<ordinal>`).
pub fn stateful_set_name(cluster: &str) -> String {
    format!("{cluster}-broker")
}

/// Name of the bootstrap Service clients connect to first.
pub fn bootstrap_service_name(cluster: &str) -> String {
    format!("{cluster}-bootstrap")
}

/// Name of the ServiceAccount the brokers run as.
pub fn service_account_name(cluster: &str) -> String {
    format!("{cluster}-broker")
}

/// Name of the PodDisruptionBudget.
pub fn pod_disruption_budget_name(cluster: &str) -> String {
    format!("{cluster}-broker")
}

/// Every child object's kind and name, for checks that span them all.
pub fn child_names(cluster: &str) -> Vec<(&'static str, String)> {
    vec![
        ("StatefulSet", stateful_set_name(cluster)),
        ("Service", bootstrap_service_name(cluster)),
        ("Service", headless_service_name(cluster)),
        ("ConfigMap", config_map_name(cluster)),
        ("ServiceAccount", service_account_name(cluster)),
        ("PodDisruptionBudget", pod_disruption_budget_name(cluster)),
    ]
}

/// Name of the headless Service giving each broker a DNS name.
pub fn headless_service_name(cluster: &str) -> String {
    format!("{cluster}-brokers")
}

/// Name of the ConfigMap holding `server.properties`.
pub fn config_map_name(cluster: &str) -> String {
    format!("{cluster}-config")
}

/// Labels that select the broker Pods of `cluster`.
pub fn selector_labels(cluster: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME_LABEL.0.to_owned(), NAME_LABEL.1.to_owned()),
        (INSTANCE_LABEL.to_owned(), cluster.to_owned()),
        (COMPONENT_LABEL.0.to_owned(), COMPONENT_LABEL.1.to_owned()),
    ])
}

/// Label selector string for list calls.
pub fn selector_string(cluster: &str) -> String {
    selector_labels(cluster)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Labels of every object of the cluster.
pub fn labels(cluster: &ValidatedCluster) -> BTreeMap<String, String> {
    let mut labels = selector_labels(&cluster.name);
    labels.insert(
        "app.kubernetes.io/managed-by".to_owned(),
        FIELD_MANAGER.to_owned(),
    );
    labels.insert(
        "app.kubernetes.io/version".to_owned(),
        cluster.version.clone(),
    );
    labels
}

/// The owner reference that makes the KafkaCluster garbage-collect `obj`.
pub fn owner_reference(cluster: &ValidatedCluster) -> OwnerReference {
    OwnerReference {
        api_version: "kafka.karst.dev/v1alpha1".to_owned(),
        kind: "KafkaCluster".to_owned(),
        name: cluster.name.clone(),
        uid: cluster.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Metadata of a child object called `name`.
pub fn object_meta(cluster: &ValidatedCluster, name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(cluster.namespace.clone()),
        labels: Some(labels(cluster)),
        owner_references: Some(vec![owner_reference(cluster)]),
        ..ObjectMeta::default()
    }
}
