//! Where brokers run: preferably each on its own node, and with rack
//! awareness in its own rack, so one failure takes few replicas. A user's
//! affinity is merged with these preferences, never silently replaced.

use k8s_openapi::{
    api::core::v1::{Affinity, PodAffinityTerm, WeightedPodAffinityTerm},
    apimachinery::pkg::apis::meta::v1::LabelSelector,
};

use super::labels::selector_labels;
use crate::cluster::validate::ValidatedCluster;

/// Node label that names the node itself.
pub const HOSTNAME_KEY: &str = "kubernetes.io/hostname";

/// The user's affinity plus the operator's preferred anti-affinity terms
/// (one per topology key the user's own preferred terms do not cover).
pub fn affinity(cluster: &ValidatedCluster) -> Affinity {
    let mut affinity = cluster.pod_template.affinity.clone().unwrap_or_default();
    let preferred = affinity
        .pod_anti_affinity
        .get_or_insert_with(Default::default)
        .preferred_during_scheduling_ignored_during_execution
        .get_or_insert_with(Vec::new);
    let keys = std::iter::once(HOSTNAME_KEY.to_owned()).chain(cluster.rack_topology_key.clone());
    for topology_key in keys {
        if preferred
            .iter()
            .any(|t| t.pod_affinity_term.topology_key == topology_key)
        {
            continue;
        }
        preferred.push(WeightedPodAffinityTerm {
            weight: 100,
            pod_affinity_term: PodAffinityTerm {
                topology_key,
                label_selector: Some(LabelSelector {
                    match_labels: Some(selector_labels(&cluster.name)),
                    ..LabelSelector::default()
                }),
                ..PodAffinityTerm::default()
            },
        });
    }
    affinity
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{NodeAffinity, NodeSelector, NodeSelectorTerm};

    use super::*;
    use crate::cluster::validate::tests::ClusterFixture;

    fn preferred_keys(a: &Affinity) -> Vec<String> {
        a.pod_anti_affinity
            .as_ref()
            .unwrap()
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .map(|t| t.pod_affinity_term.topology_key.clone())
            .collect()
    }

    #[test]
    fn brokers_prefer_separate_nodes_and_racks() {
        let v = ClusterFixture::new("demo", 3).validated();
        assert_eq!(preferred_keys(&affinity(&v)), [HOSTNAME_KEY]);
        let v = ClusterFixture::new("demo", 3)
            .rack("topology.kubernetes.io/zone")
            .validated();
        assert_eq!(
            preferred_keys(&affinity(&v)),
            [HOSTNAME_KEY, "topology.kubernetes.io/zone"]
        );
    }

    #[test]
    fn the_users_affinity_is_kept_and_completed() {
        let mut f = ClusterFixture::new("demo", 3);
        f.0.spec.pod_template.affinity = Some(Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm::default()],
                }),
                ..NodeAffinity::default()
            }),
            ..Affinity::default()
        });
        let a = affinity(&f.validated());
        assert!(a.node_affinity.is_some(), "the user's node affinity stays");
        assert_eq!(preferred_keys(&a), [HOSTNAME_KEY]);
    }
}
