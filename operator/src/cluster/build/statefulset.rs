//! The broker StatefulSet.
//!
//! `updateStrategy: OnDelete`: the operator, not the StatefulSet controller,
//! decides when each broker restarts (`cluster::rollout`). Each Pod
//! learns its node id from the ordinal (`apps.kubernetes.io/pod-index`) and
//! advertises its stable DNS name under the headless Service.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{
            StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
            StatefulSetUpdateStrategy,
        },
        core::v1::{
            ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
            EnvVarSource, ObjectFieldSelector, PersistentVolumeClaim, PersistentVolumeClaimSpec,
            PodSpec, PodTemplateSpec, TopologySpreadConstraint, Volume, VolumeMount,
            VolumeResourceRequirements,
        },
    },
    apimachinery::pkg::{
        api::resource::Quantity,
        apis::meta::v1::{LabelSelector, ObjectMeta},
    },
};

use super::{
    config_map::{CONFIG_DIR, DATA_DIR},
    labels::{
        config_map_name, headless_service_name, object_meta, selector_labels, service_account_name,
        stateful_set_name,
    },
    probes, rack, scheduling,
    security::{container_security_context, pod_security_context},
    service::CONTROLLER_PORT_NAME,
};
use crate::{
    cluster::{node_id::POD_INDEX_LABEL, validate::ValidatedCluster},
    crd::kafka_cluster::DeleteClaimPolicy,
};

/// Pod template annotation carrying the hash of the rendered configuration.
pub const CONFIG_HASH_ANNOTATION: &str = "kafka.karst.dev/config-hash";
/// Name of the data volume and of the claim template behind it (claims are `data-<pod>`).
pub const DATA_VOLUME: &str = "data";
/// Pod template annotation carrying the Karst version, read back from the
/// Pods for `status.version` (what runs, not what is asked for). An
/// annotation, since a version such as `1.0.0+build.5` is not a label value.
pub const VERSION_ANNOTATION: &str = "kafka.karst.dev/version";
/// Seconds a broker gets after SIGTERM: enough for a controlled shutdown
/// (leadership moves away, logs are flushed and closed cleanly).
const DEFAULT_TERMINATION_GRACE_SECONDS: i64 = 120;
/// Scratch volume mounted on `/tmp` (the root filesystem is read-only).
const TMP_VOLUME: &str = "tmp";
/// Name of the broker container.
pub const CONTAINER_NAME: &str = "karst";

/// The broker's environment: node id from the ordinal, advertised listener on the pod DNS name.
pub fn broker_env(cluster: &ValidatedCluster) -> Vec<EnvVar> {
    let field = |path: &str| {
        Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_owned(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        })
    };
    vec![
        EnvVar {
            name: "KARST_NODE_ID".to_owned(),
            value_from: field(&format!("metadata.labels['{POD_INDEX_LABEL}']")),
            ..EnvVar::default()
        },
        EnvVar {
            name: "POD_NAME".to_owned(),
            value_from: field("metadata.name"),
            ..EnvVar::default()
        },
        EnvVar {
            name: "KARST_ADVERTISED_LISTENERS".to_owned(),
            value: Some(format!(
                "PLAINTEXT://{}:{}",
                cluster.pod_naming().dns_name("$(POD_NAME)"),
                cluster.kafka_port
            )),
            ..EnvVar::default()
        },
    ]
}

/// Kafka and HTTP; the controller port too when the brokers form a quorum.
fn container_ports(cluster: &ValidatedCluster) -> Vec<ContainerPort> {
    let port = |name: &str, container_port| ContainerPort {
        name: Some(name.to_owned()),
        container_port,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    };
    [
        Some(port("kafka", cluster.kafka_port)),
        Some(port("http", cluster.http_port)),
        cluster
            .quorum
            .as_ref()
            .map(|q| port(CONTROLLER_PORT_NAME, q.controller_port)),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn container(cluster: &ValidatedCluster) -> Container {
    Container {
        name: CONTAINER_NAME.to_owned(),
        image: Some(cluster.image.clone()),
        command: Some(vec![
            "karst".to_owned(),
            "--config".to_owned(),
            rack::broker_config_path(cluster),
        ]),
        env: Some(
            broker_env(cluster)
                .into_iter()
                .chain(cluster.pod_template.env.iter().cloned())
                .collect(),
        ),
        ports: Some(container_ports(cluster)),
        readiness_probe: Some(probes::readiness(cluster.pod_template.readiness_probe)),
        liveness_probe: Some(probes::liveness(cluster.pod_template.liveness_probe)),
        startup_probe: Some(probes::startup(cluster.pod_template.startup_probe)),
        resources: cluster.resources.clone(),
        security_context: Some(container_security_context()),
        volume_mounts: Some(
            vec![
                VolumeMount {
                    name: DATA_VOLUME.to_owned(),
                    mount_path: DATA_DIR.to_owned(),
                    ..VolumeMount::default()
                },
                VolumeMount {
                    name: "config".to_owned(),
                    mount_path: CONFIG_DIR.to_owned(),
                    read_only: Some(true),
                    ..VolumeMount::default()
                },
                // The root filesystem is read-only: scratch space for anything
                // (a panic dump, a library's temp file) that writes to /tmp.
                VolumeMount {
                    name: TMP_VOLUME.to_owned(),
                    mount_path: "/tmp".to_owned(),
                    ..VolumeMount::default()
                },
            ]
            .into_iter()
            .chain(rack::broker_mounts(cluster))
            .collect(),
        ),
        ..Container::default()
    }
}

fn non_empty<T: Clone>(items: &[T]) -> Option<Vec<T>> {
    (!items.is_empty()).then(|| items.to_vec())
}

fn pod_template(cluster: &ValidatedCluster, config_hash: &str) -> PodTemplateSpec {
    let mut labels = cluster.pod_template.labels.clone();
    labels.extend(selector_labels(&cluster.name));
    let mut annotations = cluster.pod_template.annotations.clone();
    annotations.insert(CONFIG_HASH_ANNOTATION.to_owned(), config_hash.to_owned());
    annotations.insert(VERSION_ANNOTATION.to_owned(), cluster.version.clone());
    if cluster.metrics_enabled {
        annotations.insert("prometheus.io/scrape".to_owned(), "true".to_owned());
        annotations.insert(
            "prometheus.io/port".to_owned(),
            cluster.http_port.to_string(),
        );
        annotations.insert("prometheus.io/path".to_owned(), "/metrics".to_owned());
    }
    let topology_spread_constraints = cluster.rack_topology_key.as_ref().map(|key| {
        vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: key.clone(),
            when_unsatisfiable: "ScheduleAnyway".to_owned(),
            label_selector: Some(LabelSelector {
                match_labels: Some(selector_labels(&cluster.name)),
                ..LabelSelector::default()
            }),
            ..TopologySpreadConstraint::default()
        }]
    });
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            service_account_name: Some(service_account_name(&cluster.name)),
            // Service links inject `<SERVICE>_*` variables; a Service named
            // `karst...` would otherwise hand the broker unknown `KARST_*` settings.
            enable_service_links: Some(false),
            init_containers: rack::init_container(cluster).map(|c| vec![c]),
            containers: vec![container(cluster)],
            affinity: Some(scheduling::affinity(cluster)),
            tolerations: non_empty(&cluster.pod_template.tolerations),
            node_selector: (!cluster.pod_template.node_selector.is_empty())
                .then(|| cluster.pod_template.node_selector.clone()),
            image_pull_secrets: non_empty(&cluster.pod_template.image_pull_secrets),
            priority_class_name: cluster.pod_template.priority_class_name.clone(),
            topology_spread_constraints,
            termination_grace_period_seconds: Some(
                cluster
                    .pod_template
                    .termination_grace_period_seconds
                    .unwrap_or(DEFAULT_TERMINATION_GRACE_SECONDS),
            ),
            security_context: Some(pod_security_context()),
            volumes: Some(
                vec![
                    Volume {
                        name: "config".to_owned(),
                        config_map: Some(ConfigMapVolumeSource {
                            name: config_map_name(&cluster.name),
                            ..ConfigMapVolumeSource::default()
                        }),
                        ..Volume::default()
                    },
                    Volume {
                        name: TMP_VOLUME.to_owned(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Volume::default()
                    },
                ]
                .into_iter()
                .chain(rack::volumes(cluster))
                .collect(),
            ),
            ..PodSpec::default()
        }),
    }
}

fn volume_claim(cluster: &ValidatedCluster, size: &str) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(DATA_VOLUME.to_owned()),
            labels: Some(selector_labels(&cluster.name)),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            storage_class_name: cluster.storage_class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(size.to_owned()),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

/// Builds the StatefulSet; `config_hash` goes on the Pod template;
/// `claim_size` is the size in the claim template (which Kubernetes never
/// lets change: a grown size is applied to the claims themselves).
pub fn build(cluster: &ValidatedCluster, config_hash: &str, claim_size: &str) -> StatefulSet {
    let when_deleted = match cluster.delete_claim {
        DeleteClaimPolicy::Retain => "Retain",
        DeleteClaimPolicy::Delete => "Delete",
    };
    StatefulSet {
        metadata: object_meta(cluster, stateful_set_name(&cluster.name)),
        spec: Some(StatefulSetSpec {
            replicas: Some(cluster.replicas),
            service_name: Some(headless_service_name(&cluster.name)),
            selector: LabelSelector {
                match_labels: Some(selector_labels(&cluster.name)),
                ..LabelSelector::default()
            },
            pod_management_policy: Some("Parallel".to_owned()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("OnDelete".to_owned()),
                ..StatefulSetUpdateStrategy::default()
            }),
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: Some(when_deleted.to_owned()),
                    when_scaled: Some("Retain".to_owned()),
                },
            ),
            template: pod_template(cluster, config_hash),
            volume_claim_templates: Some(vec![volume_claim(cluster, claim_size)]),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    use super::*;
    use crate::cluster::validate::tests::ClusterFixture;

    fn spec(sts: &StatefulSet) -> &StatefulSetSpec {
        sts.spec.as_ref().unwrap()
    }

    #[test]
    fn brokers_restart_only_when_the_operator_deletes_them() {
        let sts = build(&ClusterFixture::new("demo", 3).validated(), "h", "10Gi");
        assert_eq!(
            spec(&sts)
                .update_strategy
                .as_ref()
                .unwrap()
                .type_
                .as_deref(),
            Some("OnDelete")
        );
        assert_eq!(spec(&sts).replicas, Some(3));
        assert_eq!(spec(&sts).service_name.as_deref(), Some("demo-brokers"));
    }

    #[test]
    fn node_id_and_advertised_listener_come_from_the_pod() {
        let env = broker_env(&ClusterFixture::new("demo", 3).validated());
        let node_id = env.iter().find(|e| e.name == "KARST_NODE_ID").unwrap();
        assert_eq!(
            node_id
                .value_from
                .as_ref()
                .unwrap()
                .field_ref
                .as_ref()
                .unwrap()
                .field_path,
            "metadata.labels['apps.kubernetes.io/pod-index']"
        );
        let adv = env
            .iter()
            .find(|e| e.name == "KARST_ADVERTISED_LISTENERS")
            .unwrap();
        assert_eq!(
            adv.value.as_deref(),
            Some("PLAINTEXT://$(POD_NAME).demo-brokers.ns1.svc.cluster.local:9092")
        );
        // POD_NAME must be declared before the variable that expands it.
        let pos = |n: &str| env.iter().position(|e| e.name == n).unwrap();
        assert!(pos("POD_NAME") < pos("KARST_ADVERTISED_LISTENERS"));
    }

    #[test]
    fn advertised_names_use_the_configured_cluster_domain() {
        let mut v = ClusterFixture::new("demo", 1).validated();
        v.cluster_domain = "corp.example".into();
        let env = broker_env(&v);
        let adv = env
            .iter()
            .find(|e| e.name == "KARST_ADVERTISED_LISTENERS")
            .unwrap();
        assert_eq!(
            adv.value.as_deref(),
            Some("PLAINTEXT://$(POD_NAME).demo-brokers.ns1.svc.corp.example:9092")
        );
    }

    #[test]
    fn container_runs_karst_with_the_config_and_probes_readyz() {
        let sts = build(&ClusterFixture::new("demo", 1).validated(), "h", "10Gi");
        let pod = spec(&sts).template.spec.as_ref().unwrap();
        let c = &pod.containers[0];
        assert_eq!(
            c.command.as_deref().unwrap(),
            ["karst", "--config", "/etc/karst/$(POD_NAME).properties"]
        );
        assert_eq!(c.image.as_deref(), Some("karst:0.1.0"));
        let ready = c
            .readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap();
        assert_eq!(ready.path.as_deref(), Some("/readyz"));
        assert_eq!(ready.port, IntOrString::String("http".into()));
        assert_eq!(
            c.liveness_probe
                .as_ref()
                .unwrap()
                .http_get
                .as_ref()
                .unwrap()
                .path
                .as_deref(),
            Some("/healthz")
        );
        let http = c
            .ports
            .as_ref()
            .unwrap()
            .iter()
            .find(|p| p.name.as_deref() == Some("http"))
            .unwrap();
        assert_eq!(http.container_port, 9644);
    }

    #[test]
    fn storage_becomes_a_volume_claim_template() {
        let mut f = ClusterFixture::new("demo", 1).storage_size("50Gi");
        f.0.spec.storage.storage_class = Some("fast".into());
        f.0.spec.storage.delete_claim = DeleteClaimPolicy::Delete;
        let v = f.validated();
        let sts = build(&v, "h", &v.storage_size);
        let claim = &spec(&sts).volume_claim_templates.as_ref().unwrap()[0];
        let claim_spec = claim.spec.as_ref().unwrap();
        assert_eq!(claim_spec.storage_class_name.as_deref(), Some("fast"));
        assert_eq!(
            claim_spec
                .resources
                .as_ref()
                .unwrap()
                .requests
                .as_ref()
                .unwrap()["storage"]
                .0,
            "50Gi"
        );
        let policy = spec(&sts)
            .persistent_volume_claim_retention_policy
            .as_ref()
            .unwrap();
        assert_eq!(policy.when_deleted.as_deref(), Some("Delete"));
    }

    #[test]
    fn rack_awareness_spreads_brokers_over_the_topology_key() {
        let sts = build(
            &ClusterFixture::new("demo", 3)
                .rack("topology.kubernetes.io/zone")
                .validated(),
            "h",
            "10Gi",
        );
        let pod = spec(&sts).template.spec.as_ref().unwrap();
        assert_eq!(
            pod.topology_spread_constraints.as_ref().unwrap()[0].topology_key,
            "topology.kubernetes.io/zone"
        );
        let anti = pod
            .affinity
            .as_ref()
            .unwrap()
            .pod_anti_affinity
            .as_ref()
            .unwrap();
        assert!(
            anti.preferred_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
                .any(|t| t.pod_affinity_term.topology_key == "topology.kubernetes.io/zone")
        );
    }

    #[test]
    fn config_hash_and_user_overrides_land_on_the_pod_template() {
        let mut f = ClusterFixture::new("demo", 1);
        f.0.spec
            .pod_template
            .labels
            .insert("team".into(), "data".into());
        f.0.spec
            .pod_template
            .labels
            .insert("app.kubernetes.io/instance".into(), "spoofed".into());
        f.0.spec
            .pod_template
            .annotations
            .insert("note".into(), "x".into());
        let sts = build(&f.validated(), "abc", "10Gi");
        let meta = spec(&sts).template.metadata.as_ref().unwrap();
        let labels = meta.labels.as_ref().unwrap();
        assert_eq!(labels["team"], "data");
        assert_eq!(
            labels["app.kubernetes.io/instance"], "demo",
            "operator labels win"
        );
        let annotations = meta.annotations.as_ref().unwrap();
        assert_eq!(annotations[CONFIG_HASH_ANNOTATION], "abc");
        assert_eq!(annotations["note"], "x");
        assert_eq!(annotations["prometheus.io/port"], "9644");
    }

    #[test]
    fn pod_template_overrides_land_on_the_pod() {
        let mut f = ClusterFixture::new("demo", 1);
        f.0.spec.pod_template = serde_json::from_value(serde_json::json!({
            "nodeSelector": { "disk": "ssd" },
            "env": [{ "name": "TZ", "value": "UTC" }],
            "imagePullSecrets": [{ "name": "registry" }],
            "priorityClassName": "kafka",
            "terminationGracePeriodSeconds": 300,
            "startupProbe": { "failureThreshold": 120 },
        }))
        .unwrap();
        let sts = build(&f.validated(), "h", "10Gi");
        let pod = spec(&sts).template.spec.clone().unwrap();
        assert_eq!(pod.node_selector.unwrap()["disk"], "ssd");
        assert_eq!(pod.image_pull_secrets.unwrap()[0].name, "registry");
        assert_eq!(pod.priority_class_name.as_deref(), Some("kafka"));
        assert_eq!(pod.termination_grace_period_seconds, Some(300));
        let c = &pod.containers[0];
        let env = c.env.as_ref().unwrap();
        assert!(env.iter().any(|e| e.name == "TZ"));
        assert!(env.iter().any(|e| e.name == "KARST_NODE_ID"), "ours stay");
        assert_eq!(
            c.startup_probe.as_ref().unwrap().failure_threshold,
            Some(120)
        );
        let defaults = build(&ClusterFixture::new("demo", 1).validated(), "h", "10Gi");
        assert_eq!(
            spec(&defaults)
                .template
                .spec
                .as_ref()
                .unwrap()
                .termination_grace_period_seconds,
            Some(DEFAULT_TERMINATION_GRACE_SECONDS)
        );
    }
}
