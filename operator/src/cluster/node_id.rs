//! The broker's node id is the Pod's ordinal, read through the downward
//! API from the `apps.kubernetes.io/pod-index` label. The StatefulSet
//! controller sets that label from Kubernetes 1.28 on; on older clusters the
//! operator sets it itself from the ordinal in the Pod name, so the node id
//! never depends on the label alone. (A container started before the label
//! exists exits with an empty node id and, restarted by the kubelet, reads
//! the label then.)

use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde_json::json;

use super::{dereference::ObservedPod, reconcile::ApplyError};

/// The label the broker's `KARST_NODE_ID` comes from.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// The ordinal of `pod` in StatefulSet `stateful_set` (`demo-broker-2` → 2).
pub fn ordinal(pod: &str, stateful_set: &str) -> Option<u32> {
    let digits = pod.strip_prefix(stateful_set)?.strip_prefix('-')?;
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    digits.parse().ok()
}

/// Pods without the pod-index label, with the ordinal it should carry.
pub fn missing_labels<'a>(pods: &'a [ObservedPod], stateful_set: &str) -> Vec<(&'a str, u32)> {
    pods.iter()
        .filter(|p| p.pod_index.is_none())
        .filter_map(|p| Some((p.name.as_str(), ordinal(&p.name, stateful_set)?)))
        .collect()
}

/// Labels each Pod that lacks the pod-index label with its ordinal.
pub async fn label_pods(
    client: &Client,
    namespace: &str,
    pods: &[ObservedPod],
    stateful_set: &str,
) -> Result<(), ApplyError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    for (pod, ordinal) in missing_labels(pods, stateful_set) {
        let patch = json!({ "metadata": { "labels": { POD_INDEX_LABEL: ordinal.to_string() } } });
        api.patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| ApplyError::Apply {
                kind: "Pod".to_owned(),
                name: pod.to_owned(),
                source,
            })?;
        tracing::info!(%namespace, %pod, ordinal, "labelled a broker Pod with its ordinal (no pod-index label: Kubernetes before 1.28)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ordinal_is_the_number_after_the_statefulset_name() {
        assert_eq!(ordinal("demo-broker-0", "demo-broker"), Some(0));
        assert_eq!(ordinal("demo-broker-12", "demo-broker"), Some(12));
        assert_eq!(ordinal("demo-broker-x", "demo-broker"), None);
        assert_eq!(ordinal("demo-broker-01", "demo-broker"), None);
        assert_eq!(ordinal("other-broker-1", "demo-broker"), None);
        assert_eq!(ordinal("demo-broker", "demo-broker"), None);
    }

    #[test]
    fn only_pods_without_the_label_are_labelled() {
        let pod = |name: &str, index: Option<&str>| ObservedPod {
            name: name.into(),
            ready: false,
            ip: None,
            config_hash: None,
            version: None,
            pod_index: index.map(Into::into),
            image: None,
            manual_restart: false,
            container_problem: None,
        };
        let pods = [pod("demo-broker-0", Some("0")), pod("demo-broker-1", None)];
        assert_eq!(missing_labels(&pods, "demo-broker"), [("demo-broker-1", 1)]);
    }
}
