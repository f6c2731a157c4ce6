//! Pure builders: a [`ValidatedCluster`] in, the desired Kubernetes objects out.
//! Nothing here reads the API server.

pub mod config_map;
pub mod labels;
pub mod pdb;
pub mod probes;
pub mod rack;
pub mod scheduling;
pub mod security;
pub mod service;
pub mod service_account;
pub mod statefulset;

use k8s_openapi::api::{
    apps::v1::StatefulSet,
    core::v1::{ConfigMap, Service, ServiceAccount},
    policy::v1::PodDisruptionBudget,
};

use super::{dynamic_config, validate::ValidatedCluster};

/// Every object a cluster consists of, in the order they are applied.
#[derive(Debug, Clone)]
pub struct DesiredCluster {
    /// Identity of the broker Pods.
    pub service_account: ServiceAccount,
    /// `server.properties`.
    pub config_map: ConfigMap,
    /// Per-pod DNS names.
    pub headless_service: Service,
    /// What clients bootstrap from.
    pub bootstrap_service: Service,
    /// The brokers (applied after the ConfigMap they mount).
    pub stateful_set: StatefulSet,
    /// At most one broker down for voluntary disruptions.
    pub pod_disruption_budget: PodDisruptionBudget,
}

/// Builds all objects of `cluster`; `claim_template_size` is the size in
/// the existing StatefulSet's claim template, if there is one.
pub fn desired(cluster: &ValidatedCluster, claim_template_size: Option<&str>) -> DesiredCluster {
    let config_map = config_map::build(cluster);
    // The hash covers only what needs a restart: dynamic broker settings
    // are applied live (`cluster::dynamic_config`) and roll no Pod.
    let restart_relevant = ValidatedCluster {
        broker_config: dynamic_config::restart_only(&cluster.broker_config),
        ..cluster.clone()
    };
    let config_hash = config_map::config_hash(&config_map::build(&restart_relevant));
    DesiredCluster {
        service_account: service_account::build(cluster),
        headless_service: service::headless(cluster),
        bootstrap_service: service::bootstrap(cluster),
        stateful_set: statefulset::build(
            cluster,
            &config_hash,
            claim_template_size.unwrap_or(&cluster.storage_size),
        ),
        pod_disruption_budget: pdb::build(cluster),
        config_map,
    }
}
