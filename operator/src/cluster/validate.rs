//! Pure validation of a `KafkaCluster` spec into a [`ValidatedCluster`]:
//! everything the builders need, with defaults resolved, or an error naming
//! the offending field.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;

use super::{
    broker_config,
    build::labels::{MAX_STATEFUL_SET_NAME, child_names, stateful_set_name},
    quantity::is_quantity,
    quorum::{self, PodNaming, Quorum},
};
use crate::{
    context::Settings,
    crd::{
        KafkaCluster,
        kafka_cluster::{DeleteClaimPolicy, PodTemplateOverrides},
    },
};

/// The longest name Kubernetes accepts for a Service, a label value or a Pod host name.
const MAX_DNS_LABEL: usize = 63;

/// A cluster spec that passed validation, with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedCluster {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.uid`, for owner references.
    pub uid: String,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// Broker count.
    pub replicas: i32,
    /// Karst version.
    pub version: String,
    /// Broker image.
    pub image: String,
    /// Container resources.
    pub resources: Option<ResourceRequirements>,
    /// Volume size quantity.
    pub storage_size: String,
    /// StorageClass.
    pub storage_class: Option<String>,
    /// Claim fate on deletion.
    pub delete_claim: DeleteClaimPolicy,
    /// User broker properties (reserved keys excluded by validation).
    pub broker_config: BTreeMap<String, String>,
    /// Kafka port.
    pub kafka_port: i32,
    /// HTTP port.
    pub http_port: i32,
    /// Controller (metadata quorum) port.
    pub controller_port: i32,
    /// The metadata quorum; `None` for a single broker (embedded mode).
    pub quorum: Option<Quorum>,
    /// Rack topology key.
    pub rack_topology_key: Option<String>,
    /// Pod template additions.
    pub pod_template: PodTemplateOverrides,
    /// Prometheus annotations on.
    pub metrics_enabled: bool,
    /// The Kubernetes cluster's DNS domain (`cluster.local` by default).
    pub cluster_domain: String,
    /// How long a rolling restart waits for a broker (and a partition move
    /// for progress) before it stops.
    pub ready_timeout: std::time::Duration,
    /// `spec.scaling.maxConcurrentMoves`.
    pub max_concurrent_moves: usize,
    /// The operator's image (the rack-aware Pods' init container).
    pub operator_image: String,
}

/// Why a cluster spec cannot be run; each message starts with the field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The object lacks name, namespace or uid (not yet persisted).
    #[error("metadata.{0} is missing")]
    MissingMetadata(&'static str),
    /// A property the operator renders itself.
    #[error("spec.config[\"{0}\"] is set by the operator and must not be given")]
    ReservedProperty(String),
    /// A replica-count property that is not a positive integer or exceeds `spec.replicas`.
    #[error("spec.config[\"{key}\"] = {value:?}: {reason}")]
    InvalidReplicaCount {
        /// Property name.
        key: String,
        /// Value given.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// An environment variable the operator sets itself.
    #[error("spec.podTemplate.env[\"{0}\"] is set by the operator and must not be given")]
    ReservedEnv(String),
    /// A broker property the broker itself would refuse at start.
    #[error("{field}: {message}")]
    BrokerConfig {
        /// `spec.config["key"]`, or `spec.config` when the key is not the user's.
        field: String,
        /// The broker's own explanation.
        message: String,
    },
    /// Two listeners on one port: the broker could bind only one.
    #[error(
        "spec.listeners.{field}: {port} is also spec.listeners.{other}; the broker cannot listen on one port twice"
    )]
    PortConflict {
        /// The field refused.
        field: &'static str,
        /// The field it collides with.
        other: &'static str,
        /// The port.
        port: i32,
    },
    /// `spec.replicas` of a running cluster asks for a scale the brokers
    /// cannot make (`why`); nothing is applied.
    #[error(
        "spec.replicas: the cluster runs {running} brokers and {wanted} were asked for; {why} (set spec.replicas back to {running})"
    )]
    ScalingRefused {
        /// Brokers of the existing StatefulSet.
        running: i32,
        /// `spec.replicas`.
        wanted: i32,
        /// Why, in a sentence.
        why: String,
    },
    /// A child object's name would exceed what Kubernetes accepts.
    #[error(
        "metadata.name: {name:?} is {length} characters, so {object} {child:?} would exceed the {limit} characters Kubernetes allows; use a name of at most {max_name} characters"
    )]
    NameTooLong {
        /// The cluster name.
        name: String,
        /// Its length.
        length: usize,
        /// Kind of the child whose name is too long.
        object: &'static str,
        /// The child's name.
        child: String,
        /// The child's limit.
        limit: usize,
        /// The longest cluster name that fits.
        max_name: usize,
    },
    /// A quantity (storage size, CPU, memory) that is not a Kubernetes quantity.
    #[error("{field}: {value:?} is not a Kubernetes quantity such as 500m, 512Mi or 10Gi")]
    InvalidQuantity {
        /// Field path.
        field: String,
        /// Value given.
        value: String,
    },
    /// The image reference is empty or has whitespace.
    #[error("spec.image {0:?} is not an image reference")]
    InvalidImage(String),
    /// `broker.rack` given while rack awareness sets it from the Node.
    #[error(
        "{0}: broker.rack comes from the node label spec.rackAwareness.topologyKey; remove one of the two"
    )]
    RackConflict(String),
}

impl ValidationError {
    /// The metric label for this failure.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ValidationError::MissingMetadata(_) => "missing_metadata",
            ValidationError::ReservedProperty(_) => "reserved_property",
            ValidationError::InvalidReplicaCount { .. } => "invalid_replica_count",
            ValidationError::BrokerConfig { .. } => "invalid_broker_config",
            ValidationError::ReservedEnv(_) => "reserved_env",
            ValidationError::PortConflict { .. } => "port_conflict",
            ValidationError::ScalingRefused { .. } => "scaling_refused",
            ValidationError::NameTooLong { .. } => "name_too_long",
            ValidationError::InvalidQuantity { .. } => "invalid_quantity",
            ValidationError::InvalidImage(_) => "invalid_image",
            ValidationError::RackConflict(_) => "rack_conflict",
        }
    }
}

/// Validates `cluster` with the operator's `settings` (default version,
/// cluster DNS domain).
pub fn validate(
    cluster: &KafkaCluster,
    settings: &Settings,
) -> Result<ValidatedCluster, ValidationError> {
    let meta = &cluster.metadata;
    let name = meta
        .name
        .clone()
        .ok_or(ValidationError::MissingMetadata("name"))?;
    let namespace = meta
        .namespace
        .clone()
        .ok_or(ValidationError::MissingMetadata("namespace"))?;
    let uid = meta
        .uid
        .clone()
        .ok_or(ValidationError::MissingMetadata("uid"))?;
    let spec = &cluster.spec;

    check_name_length(&name)?;
    let listeners = &spec.listeners;
    let (kafka_port, http_port) = (listeners.kafka_port, listeners.http_port);
    let controller_port = listeners.controller_port;
    check_ports(kafka_port, http_port, controller_port)?;
    let naming = PodNaming {
        cluster: &name,
        namespace: &namespace,
        cluster_domain: &settings.cluster_domain,
    };
    let quorum = quorum::quorum(naming, &uid, spec.replicas, controller_port);
    broker_config::check(
        &spec.config,
        &spec.pod_template.env,
        spec.replicas,
        kafka_port,
        http_port,
        quorum.as_ref(),
    )?;
    if spec.rack_awareness.is_some() {
        check_rack_not_given(&spec.config, &spec.pod_template.env)?;
    }
    check_quantity("spec.storage.size", &spec.storage.size)?;
    for (section, values) in spec
        .resources
        .iter()
        .flat_map(|r| [("limits", &r.limits), ("requests", &r.requests)])
    {
        for (resource, quantity) in values.iter().flatten() {
            check_quantity(&format!("spec.resources.{section}.{resource}"), &quantity.0)?;
        }
    }
    let version = spec
        .version
        .clone()
        .unwrap_or_else(|| settings.default_version.clone());
    let image = spec
        .image
        .clone()
        .unwrap_or_else(|| format!("karst:{version}"));
    if image.is_empty() || image.chars().any(char::is_whitespace) {
        return Err(ValidationError::InvalidImage(image));
    }

    Ok(ValidatedCluster {
        name,
        namespace,
        uid,
        generation: meta.generation,
        replicas: spec.replicas,
        version,
        image,
        resources: spec.resources.clone(),
        storage_size: spec.storage.size.clone(),
        storage_class: spec.storage.storage_class.clone(),
        delete_claim: spec.storage.delete_claim,
        broker_config: super::scale::with_move_throttle(&spec.config, &spec.scaling),
        kafka_port,
        http_port,
        controller_port,
        quorum,
        rack_topology_key: spec.rack_awareness.as_ref().map(|r| r.topology_key.clone()),
        pod_template: spec.pod_template.clone(),
        metrics_enabled: spec.metrics.enabled,
        cluster_domain: settings.cluster_domain.clone(),
        ready_timeout: std::time::Duration::from_secs(
            u64::try_from(spec.rolling_update.ready_timeout_seconds).unwrap_or(1),
        ),
        max_concurrent_moves: usize::try_from(spec.scaling.max_concurrent_moves)
            .unwrap_or(1)
            .max(1),
        operator_image: settings.operator_image.clone(),
    })
}

impl ValidatedCluster {
    /// How this cluster's Pods are named in DNS.
    pub fn pod_naming(&self) -> PodNaming<'_> {
        PodNaming {
            cluster: &self.name,
            namespace: &self.namespace,
            cluster_domain: &self.cluster_domain,
        }
    }
}

fn check_ports(kafka: i32, http: i32, controller: i32) -> Result<(), ValidationError> {
    let conflict = |field, other, port| Err(ValidationError::PortConflict { field, other, port });
    if http == kafka {
        return conflict("httpPort", "kafkaPort", http);
    }
    if controller == kafka {
        return conflict("controllerPort", "kafkaPort", controller);
    }
    if controller == http {
        return conflict("controllerPort", "httpPort", controller);
    }
    Ok(())
}

/// With rack awareness the rack comes from the Node: a `broker.rack` in
/// `spec.config` (or `KARST_BROKER_RACK`, which would override the file)
/// would contradict it.
fn check_rack_not_given(
    config: &BTreeMap<String, String>,
    env: &[k8s_openapi::api::core::v1::EnvVar],
) -> Result<(), ValidationError> {
    if config.contains_key("broker.rack") {
        return Err(ValidationError::RackConflict(
            "spec.config[\"broker.rack\"]".to_owned(),
        ));
    }
    if env.iter().any(|e| e.name == "KARST_BROKER_RACK") {
        return Err(ValidationError::RackConflict(
            "spec.podTemplate.env[\"KARST_BROKER_RACK\"]".to_owned(),
        ));
    }
    Ok(())
}

fn check_quantity(field: &str, value: &str) -> Result<(), ValidationError> {
    if is_quantity(value) {
        Ok(())
    } else {
        Err(ValidationError::InvalidQuantity {
            field: field.to_owned(),
            value: value.to_owned(),
        })
    }
}

/// Every child name must be a DNS label (63 characters); the StatefulSet's
/// must leave room for the revision hash Kubernetes appends in a Pod label.
fn check_name_length(name: &str) -> Result<(), ValidationError> {
    let sts = stateful_set_name(name);
    let too_long = |object: &'static str, child: String, limit: usize| {
        let max_name = limit - (child.len() - name.len());
        ValidationError::NameTooLong {
            name: name.to_owned(),
            length: name.len(),
            object,
            child,
            limit,
            max_name,
        }
    };
    if sts.len() > MAX_STATEFUL_SET_NAME {
        return Err(too_long("StatefulSet", sts, MAX_STATEFUL_SET_NAME));
    }
    match child_names(name)
        .into_iter()
        .find(|(_, child)| child.len() > MAX_DNS_LABEL)
    {
        Some((object, child)) => Err(too_long(object, child, MAX_DNS_LABEL)),
        None => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use kube::api::ObjectMeta;

    use super::*;
    use crate::crd::KafkaClusterSpec;

    /// Builder-style fixture for cluster specs.
    pub(crate) struct ClusterFixture(pub(crate) KafkaCluster);

    /// Operator settings with a fixed version, as the fixtures expect.
    pub(crate) fn settings() -> Settings {
        Settings {
            default_version: "0.1.0".to_owned(),
            ..Settings::default()
        }
    }

    impl ClusterFixture {
        pub(crate) fn new(name: &str, replicas: i32) -> Self {
            let spec: KafkaClusterSpec =
                serde_json::from_value(serde_json::json!({ "replicas": replicas }))
                    .expect("minimal spec");
            let mut kc = KafkaCluster::new(name, spec);
            kc.metadata = ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some("ns1".to_owned()),
                uid: Some("uid-1".to_owned()),
                generation: Some(3),
                ..ObjectMeta::default()
            };
            Self(kc)
        }
        pub(crate) fn config(mut self, key: &str, value: &str) -> Self {
            self.0.spec.config.insert(key.to_owned(), value.to_owned());
            self
        }
        pub(crate) fn storage_size(mut self, size: &str) -> Self {
            self.0.spec.storage.size = size.to_owned();
            self
        }
        pub(crate) fn rack(mut self, key: &str) -> Self {
            self.0.spec.rack_awareness = Some(crate::crd::kafka_cluster::RackAwarenessSpec {
                topology_key: key.into(),
            });
            self
        }
        pub(crate) fn validated(&self) -> ValidatedCluster {
            validate(&self.0, &settings()).expect("valid fixture")
        }
    }

    #[test]
    fn a_rack_given_beside_rack_awareness_is_refused() {
        let f = ClusterFixture::new("demo", 3)
            .rack("zone")
            .config("broker.rack", "a");
        let err = validate(&f.0, &settings()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("spec.config[\"broker.rack\"]: broker.rack comes from"),
            "{err}"
        );
        let plain = ClusterFixture::new("demo", 3).config("broker.rack", "a");
        assert!(
            validate(&plain.0, &settings()).is_ok(),
            "without rack awareness it is the user's"
        );
    }

    #[test]
    fn defaults_are_filled_in() {
        let v = ClusterFixture::new("demo", 3).validated();
        assert_eq!(v.image, "karst:0.1.0");
        assert_eq!((v.kafka_port, v.http_port), (9092, 9644));
        assert_eq!(v.storage_size, "10Gi");
        assert!(v.metrics_enabled);
        assert_eq!(v.delete_claim, DeleteClaimPolicy::Retain);
    }

    #[test]
    fn reserved_properties_are_refused_naming_the_field() {
        let err = validate(
            &ClusterFixture::new("demo", 1).config("listeners", "x").0,
            &settings(),
        )
        .unwrap_err();
        assert_eq!(err, ValidationError::ReservedProperty("listeners".into()));
        assert!(
            err.to_string().starts_with("spec.config[\"listeners\"]"),
            "{err}"
        );
    }

    #[test]
    fn replication_factor_above_replicas_is_refused() {
        let err = validate(
            &ClusterFixture::new("demo", 1)
                .config("default.replication.factor", "3")
                .0,
            &settings(),
        )
        .unwrap_err();
        assert_eq!(err.metric_label(), "invalid_replica_count");
        assert!(
            err.to_string()
                .contains("spec.config[\"default.replication.factor\"]"),
            "{err}"
        );
        assert!(
            validate(
                &ClusterFixture::new("demo", 3)
                    .config("min.insync.replicas", "two")
                    .0,
                &settings()
            )
            .is_err()
        );
        assert!(
            validate(
                &ClusterFixture::new("demo", 3)
                    .config("min.insync.replicas", "2")
                    .0,
                &settings()
            )
            .is_ok()
        );
    }

    #[test]
    fn storage_size_must_be_a_quantity() {
        for good in ["10Gi", "500M", "1.5Ti", "1024"] {
            assert!(
                validate(
                    &ClusterFixture::new("d", 1).storage_size(good).0,
                    &settings()
                )
                .is_ok(),
                "{good}"
            );
        }
        for bad in ["", "ten", "10GB", "Gi"] {
            let err = validate(
                &ClusterFixture::new("d", 1).storage_size(bad).0,
                &settings(),
            )
            .unwrap_err();
            assert!(
                err.to_string().starts_with("spec.storage.size"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn kafka_and_http_on_one_port_are_refused() {
        let mut f = ClusterFixture::new("demo", 1);
        f.0.spec.listeners.http_port = 9092;
        let err = validate(&f.0, &settings()).unwrap_err();
        assert_eq!(
            err,
            ValidationError::PortConflict {
                field: "httpPort",
                other: "kafkaPort",
                port: 9092
            }
        );
        assert!(
            err.to_string().starts_with("spec.listeners.httpPort: 9092"),
            "{err}"
        );
        let mut f = ClusterFixture::new("demo", 3);
        f.0.spec.listeners.controller_port = 9644;
        let err = validate(&f.0, &settings()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("spec.listeners.controllerPort: 9644 is also spec.listeners.httpPort"),
            "{err}"
        );
    }

    #[test]
    fn names_too_long_for_the_statefulset_are_refused_with_the_limit() {
        let name = "x".repeat(75);
        let err = validate(&ClusterFixture::new(&name, 1).0, &settings()).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("metadata.name: "), "{text}");
        assert!(text.contains("is 75 characters"), "{text}");
        assert!(text.contains("at most 45 characters"), "{text}");
        assert!(validate(&ClusterFixture::new(&"x".repeat(45), 1).0, &settings()).is_ok());
    }

    #[test]
    fn resource_quantities_are_checked_naming_the_field() {
        let mut f = ClusterFixture::new("demo", 1);
        f.0.spec.resources = Some(
            serde_json::from_value(serde_json::json!({
                "requests": { "cpu": "500m" }, "limits": { "memory": "lots" }
            }))
            .unwrap(),
        );
        let err = validate(&f.0, &settings()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("spec.resources.limits.memory: \"lots\" is not a Kubernetes quantity"),
            "{err}"
        );
    }
}
