//! Reads what a cluster's status depends on: its broker Pods.

use k8s_openapi::api::{
    apps::v1::StatefulSet,
    core::v1::{ConfigMap, PersistentVolumeClaim, Pod},
};
use kube::{Api, Client, api::ListParams};

use crate::events::api_error_message;

use super::build::{
    config_map::SERVER_PROPERTIES,
    labels::{config_map_name, selector_string, stateful_set_name},
    statefulset::{CONFIG_HASH_ANNOTATION, CONTAINER_NAME, DATA_VOLUME, VERSION_ANNOTATION},
};
use crate::crd::MANUAL_ROLLING_UPDATE_ANNOTATION;

/// One broker Pod as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedPod {
    /// Pod name.
    pub name: String,
    /// The Ready condition is True.
    pub ready: bool,
    /// `status.podIP`.
    pub ip: Option<String>,
    /// Config hash the Pod was created with.
    pub config_hash: Option<String>,
    /// Karst version the Pod runs (from its template).
    pub version: Option<String>,
    /// The `apps.kubernetes.io/pod-index` label (absent before Kubernetes 1.28).
    pub pod_index: Option<String>,
    /// Image of the broker container.
    pub image: Option<String>,
    /// Carries the manual rolling-update annotation: restart it.
    pub manual_restart: bool,
    /// Why the broker container does not run, as the kubelet reports it
    /// (e.g. `ErrImagePull: ...`), for the messages of a stuck roll.
    pub container_problem: Option<String>,
}

/// What the brokers themselves report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerView {
    /// No broker is ready, so none was asked.
    NotAsked,
    /// DescribeCluster answered, from each ready broker that answered.
    Described(Vec<Described>),
    /// No ready broker answered; the error of the last one tried.
    Unreachable(String),
}

/// One broker's DescribeCluster answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// The Pod asked.
    pub pod: String,
    /// The cluster id it reports.
    pub cluster_id: String,
    /// Node ids of the brokers it reports live (registered, unfenced), sorted.
    pub brokers: Vec<i32>,
    /// Node ids of the registered brokers it reports fenced, sorted.
    pub fenced: Vec<i32>,
}

/// The brokers' volumes as they exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedStorage {
    /// Size in the existing StatefulSet's claim template: immutable once the
    /// StatefulSet exists, so it is kept while the claims themselves grow.
    pub claim_template_size: Option<String>,
    /// The brokers' PersistentVolumeClaims: name and requested size.
    pub claims: Vec<(String, String)>,
}

/// What the API server and the brokers say about a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedCluster {
    /// Broker Pods, sorted by name.
    pub pods: Vec<ObservedPod>,
    /// The brokers' own view (filled by [`observe_brokers`]).
    pub brokers: BrokerView,
    /// Volumes.
    pub storage: ObservedStorage,
    /// `spec.replicas` of the existing StatefulSet.
    pub running_replicas: Option<i32>,
    /// How many voters the existing ConfigMap's `controller.quorum.voters`
    /// lists: the voter set the brokers run with, which never changes.
    pub rendered_voters: Option<i32>,
}

impl Default for ObservedCluster {
    fn default() -> Self {
        Self {
            pods: Vec::new(),
            brokers: BrokerView::NotAsked,
            storage: ObservedStorage::default(),
            running_replicas: None,
            rendered_voters: None,
        }
    }
}

impl ObservedCluster {
    /// Number of ready brokers.
    pub fn ready_brokers(&self) -> i32 {
        i32::try_from(self.pods.iter().filter(|p| p.ready).count()).unwrap_or(i32::MAX)
    }

    /// The versions the ready brokers run, sorted and comma-separated (more
    /// than one while an upgrade rolls); `None` when no ready Pod says.
    pub fn running_version(&self) -> Option<String> {
        let versions: std::collections::BTreeSet<&str> = self
            .pods
            .iter()
            .filter(|p| p.ready)
            .filter_map(|p| p.version.as_deref())
            .collect();
        (!versions.is_empty()).then(|| versions.into_iter().collect::<Vec<_>>().join(", "))
    }

    /// `ip:port` of every ready broker: how the operator itself reaches the cluster.
    pub fn ready_addresses(&self, kafka_port: i32) -> Vec<String> {
        self.ready_pod_addresses(kafka_port)
            .into_iter()
            .map(|(_, addr)| addr)
            .collect()
    }

    /// Pod name and `ip:port` of every ready broker.
    pub fn ready_pod_addresses(&self, kafka_port: i32) -> Vec<(String, String)> {
        self.pods
            .iter()
            .filter(|p| p.ready)
            .filter_map(|p| Some((p.name.clone(), format!("{}:{kafka_port}", p.ip.as_ref()?))))
            .collect()
    }
}

/// Reading failed.
#[derive(Debug, thiserror::Error)]
pub enum DereferenceError {
    /// Listing the broker Pods failed.
    #[error("listing broker pods of {namespace}/{cluster}: {}", api_error_message(.source))]
    ListPods {
        /// Namespace.
        namespace: String,
        /// Cluster.
        cluster: String,
        /// API error.
        source: kube::Error,
    },
    /// Reading the StatefulSet or listing the volume claims failed.
    #[error("reading the volumes of {namespace}/{cluster}: {}", api_error_message(.source))]
    Storage {
        /// Namespace.
        namespace: String,
        /// Cluster.
        cluster: String,
        /// API error.
        source: kube::Error,
    },
    /// Reading the rendered ConfigMap failed.
    #[error("reading the ConfigMap of {namespace}/{cluster}: {}", api_error_message(.source))]
    Config {
        /// Namespace.
        namespace: String,
        /// Cluster.
        cluster: String,
        /// API error.
        source: kube::Error,
    },
}

impl DereferenceError {
    /// Metric label.
    pub fn metric_label(&self) -> &'static str {
        match self {
            DereferenceError::ListPods { .. } => "list_pods",
            DereferenceError::Storage { .. } => "read_storage",
            DereferenceError::Config { .. } => "read_config",
        }
    }
}

/// Reads the broker Pods of `cluster` in `namespace` (the brokers are asked separately).
pub async fn observe(
    client: &Client,
    namespace: &str,
    cluster: &str,
) -> Result<ObservedCluster, DereferenceError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let list = pods
        .list(&ListParams::default().labels(&selector_string(cluster)))
        .await
        .map_err(|source| DereferenceError::ListPods {
            namespace: namespace.to_owned(),
            cluster: cluster.to_owned(),
            source,
        })?;
    let mut observed = observed_from_pods(list.items);
    let storage_error = |source| DereferenceError::Storage {
        namespace: namespace.to_owned(),
        cluster: cluster.to_owned(),
        source,
    };
    let sts = Api::<StatefulSet>::namespaced(client.clone(), namespace)
        .get_opt(&stateful_set_name(cluster))
        .await
        .map_err(storage_error)?;
    observed.running_replicas = sts
        .as_ref()
        .and_then(|s| s.spec.as_ref())
        .and_then(|s| s.replicas);
    observed.storage = observe_storage(client, namespace, cluster, sts)
        .await
        .map_err(storage_error)?;
    let config_map = Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .get_opt(&config_map_name(cluster))
        .await
        .map_err(|source| DereferenceError::Config {
            namespace: namespace.to_owned(),
            cluster: cluster.to_owned(),
            source,
        })?;
    observed.rendered_voters = config_map
        .and_then(|cm| cm.data?.remove(SERVER_PROPERTIES))
        .and_then(|props| super::quorum::rendered_voter_count(&props));
    Ok(observed)
}

async fn observe_storage(
    client: &Client,
    namespace: &str,
    cluster: &str,
    sts: Option<StatefulSet>,
) -> Result<ObservedStorage, kube::Error> {
    let claim_template_size = sts
        .and_then(|s| s.spec)
        .and_then(|s| s.volume_claim_templates)
        .into_iter()
        .flatten()
        .find(|t| t.metadata.name.as_deref() == Some(DATA_VOLUME))
        .and_then(requested_storage);
    let claims = Api::<PersistentVolumeClaim>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&selector_string(cluster)))
        .await?
        .items
        .into_iter()
        .filter_map(|c| Some((c.metadata.name.clone()?, requested_storage(c)?)))
        .collect();
    Ok(ObservedStorage {
        claim_template_size,
        claims,
    })
}

fn requested_storage(claim: PersistentVolumeClaim) -> Option<String> {
    Some(claim.spec?.resources?.requests?.remove("storage")?.0)
}

/// Pure part of [`observe`].
pub fn observed_from_pods(pods: Vec<Pod>) -> ObservedCluster {
    let mut pods: Vec<ObservedPod> = pods
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            let status = p.status.unwrap_or_default();
            let ready = status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            let mut annotations = p.metadata.annotations.unwrap_or_default();
            let image = p.spec.as_ref().and_then(|s| {
                s.containers
                    .iter()
                    .find(|c| c.name == CONTAINER_NAME)
                    .and_then(|c| c.image.clone())
            });
            let container_problem = init_problem(&status)
                .or_else(|| {
                    status
                        .container_statuses
                        .iter()
                        .flatten()
                        .filter(|c| c.name == CONTAINER_NAME)
                        .find_map(|c| state_problem(c.state.as_ref()?))
                })
                .or_else(|| unscheduled(&status));
            let pod_index = p
                .metadata
                .labels
                .and_then(|mut l| l.remove(super::node_id::POD_INDEX_LABEL));
            ObservedPod {
                name: p.metadata.name.unwrap_or_default(),
                ready,
                ip: status.pod_ip,
                config_hash: annotations.remove(CONFIG_HASH_ANNOTATION),
                version: annotations.remove(VERSION_ANNOTATION),
                pod_index,
                image,
                manual_restart: annotations
                    .get(MANUAL_ROLLING_UPDATE_ANNOTATION)
                    .is_some_and(|v| v.eq_ignore_ascii_case("true")),
                container_problem,
            }
        })
        .collect();
    pods.sort_by(|a, b| a.name.cmp(&b.name));
    ObservedCluster {
        pods,
        ..ObservedCluster::default()
    }
}

/// `reason: message` of a container that waits or has terminated.
fn state_problem(state: &k8s_openapi::api::core::v1::ContainerState) -> Option<String> {
    let (reason, message) = match (&state.waiting, &state.terminated) {
        (Some(w), _) => (w.reason.clone()?, w.message.clone()),
        (None, Some(t)) => (t.reason.clone()?, t.message.clone()),
        _ => return None,
    };
    Some(match message {
        Some(m) => format!("{reason}: {m}"),
        None => reason,
    })
}

/// An init container (the rack step) that failed or waits after a failure:
/// the broker cannot start until it succeeds.
fn init_problem(status: &k8s_openapi::api::core::v1::PodStatus) -> Option<String> {
    status
        .init_container_statuses
        .iter()
        .flatten()
        .find_map(|c| {
            let state = c.state.as_ref()?;
            let failed = state.terminated.as_ref().is_some_and(|t| t.exit_code != 0)
                || state
                    .waiting
                    .as_ref()
                    .is_some_and(|w| w.reason.as_deref() != Some("PodInitializing"));
            if !failed {
                return None;
            }
            Some(format!(
                "init container {}: {}",
                c.name,
                state_problem(state)?
            ))
        })
}

/// Why a Pod that has no container state yet is not running: the
/// scheduler's `PodScheduled=False` reason and message (`Unschedulable: 0/3
/// nodes are available: ...`).
fn unscheduled(status: &k8s_openapi::api::core::v1::PodStatus) -> Option<String> {
    let c = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
    let reason = c
        .reason
        .clone()
        .unwrap_or_else(|| "NotScheduled".to_owned());
    Some(match &c.message {
        Some(m) => format!("{reason}: {m}"),
        None => reason,
    })
}

/// Asks every ready broker (`(pod, address)`) for DescribeCluster: each
/// must report the same cluster, so one answer is not enough.
pub async fn observe_brokers(
    addresses: &[(String, String)],
    timeout: std::time::Duration,
) -> BrokerView {
    if addresses.is_empty() {
        return BrokerView::NotAsked;
    }
    let mut answers = Vec::new();
    let mut last = String::new();
    for (pod, addr) in addresses {
        let described = tokio::time::timeout(timeout, async {
            karst_client::AdminClient::connect(addr.clone())
                .await?
                .describe_cluster()
                .await
        })
        .await;
        match described {
            Ok(Ok(d)) => {
                let mut brokers: Vec<i32> = d.brokers.iter().map(|b| b.node_id).collect();
                brokers.sort_unstable();
                let mut fenced = d.fenced_brokers;
                fenced.sort_unstable();
                answers.push(Described {
                    pod: pod.clone(),
                    cluster_id: d.cluster_id,
                    brokers,
                    fenced,
                });
            }
            Ok(Err(e)) => last = format!("{pod} ({addr}): {e}"),
            Err(_) => last = format!("{pod} ({addr}): no answer within {timeout:?}"),
        }
    }
    if answers.is_empty() {
        BrokerView::Unreachable(last)
    } else {
        BrokerView::Described(answers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ready: &str, ip: Option<&str>, deleting: bool) -> Pod {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name, "annotations": { CONFIG_HASH_ANNOTATION: "h1" } },
            "status": { "podIP": ip, "conditions": [{ "type": "Ready", "status": ready }] },
        }))
        .unwrap();
        if deleting {
            pod.metadata.deletion_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
                ));
        }
        pod
    }

    #[test]
    fn only_ready_pods_with_an_ip_are_broker_addresses() {
        let observed = observed_from_pods(vec![
            pod("demo-1", "False", Some("10.0.0.2"), false),
            pod("demo-0", "True", Some("10.0.0.1"), false),
            pod("demo-2", "True", None, false),
            pod("demo-3", "True", Some("10.0.0.4"), true),
        ]);
        assert_eq!(
            observed
                .pods
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            ["demo-0", "demo-1", "demo-2"]
        );
        assert_eq!(observed.ready_brokers(), 2);
        assert_eq!(observed.ready_addresses(9092), ["10.0.0.1:9092"]);
        assert_eq!(observed.pods[0].config_hash.as_deref(), Some("h1"));
    }

    #[test]
    fn why_a_broker_container_does_not_run_is_kept() {
        let mut waiting = pod("demo-0", "False", None, false);
        waiting.spec = serde_json::from_value(serde_json::json!({
            "containers": [{ "name": CONTAINER_NAME, "image": "karst:2" }]
        }))
        .unwrap();
        waiting.status.as_mut().unwrap().container_statuses =
            serde_json::from_value(serde_json::json!([{
                "name": CONTAINER_NAME, "ready": false, "restartCount": 0, "image": "", "imageID": "",
                "state": { "waiting": { "reason": "ErrImagePull", "message": "not found" } },
            }]))
            .unwrap();
        let mut pending = pod("demo-1", "False", None, false);
        pending.status.as_mut().unwrap().conditions = serde_json::from_value(serde_json::json!([{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available",
        }]))
        .unwrap();
        let mut init_failed = pod("demo-2", "False", None, false);
        init_failed.status.as_mut().unwrap().init_container_statuses =
            serde_json::from_value(serde_json::json!([{
                "name": "rack", "ready": false, "restartCount": 3, "image": "", "imageID": "",
                "state": { "waiting": { "reason": "CrashLoopBackOff", "message": "back-off 40s" } },
            }]))
            .unwrap();
        let observed = observed_from_pods(vec![waiting, pending, init_failed]);
        assert_eq!(
            observed.pods[2].container_problem.as_deref(),
            Some("init container rack: CrashLoopBackOff: back-off 40s")
        );
        assert_eq!(observed.pods[0].image.as_deref(), Some("karst:2"));
        assert_eq!(
            observed.pods[0].container_problem.as_deref(),
            Some("ErrImagePull: not found")
        );
        assert_eq!(
            observed.pods[1].container_problem.as_deref(),
            Some("Unschedulable: 0/3 nodes are available")
        );
    }

    #[test]
    fn the_running_version_comes_from_the_ready_pods() {
        let mut observed = observed_from_pods(vec![
            pod("demo-0", "True", Some("10.0.0.1"), false),
            pod("demo-1", "True", Some("10.0.0.2"), false),
            pod("demo-2", "False", Some("10.0.0.3"), false),
        ]);
        assert_eq!(observed.running_version(), None, "no Pod says");
        for (p, v) in observed.pods.iter_mut().zip(["0.1.0", "0.2.0", "0.3.0"]) {
            p.version = Some(v.into());
        }
        assert_eq!(observed.running_version().as_deref(), Some("0.1.0, 0.2.0"));
    }
}
