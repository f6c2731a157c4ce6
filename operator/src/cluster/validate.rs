//! Pure validation of a `KafkaCluster` spec into a [`ValidatedCluster`]:
//! everything the builders need, with defaults resolved, or an error naming
//! the offending field.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;

use crate::crd::{
    KafkaCluster,
    kafka_cluster::{DeleteClaimPolicy, PodTemplateOverrides},
};

/// Properties the operator renders itself; users must not set them in `spec.config`.
pub const RESERVED_BROKER_PROPERTIES: &[&str] = &[
    "node.id",
    "broker.id",
    "listeners",
    "advertised.listeners",
    "log.dirs",
    "log.dir",
    "karst.http.listener",
];

/// Broker properties that name a replica count and so cannot exceed `spec.replicas`.
const REPLICA_COUNT_PROPERTIES: &[&str] = &[
    "default.replication.factor",
    "min.insync.replicas",
    "offsets.topic.replication.factor",
];

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
    /// Rack topology key.
    pub rack_topology_key: Option<String>,
    /// Pod template additions.
    pub pod_template: PodTemplateOverrides,
    /// Prometheus annotations on.
    pub metrics_enabled: bool,
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
    /// The volume size is not a Kubernetes quantity.
    #[error("spec.storage.size {0:?} is not a Kubernetes quantity such as 10Gi")]
    InvalidStorageSize(String),
    /// The image reference is empty or has whitespace.
    #[error("spec.image {0:?} is not an image reference")]
    InvalidImage(String),
}

impl ValidationError {
    /// The metric label for this failure.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ValidationError::MissingMetadata(_) => "missing_metadata",
            ValidationError::ReservedProperty(_) => "reserved_property",
            ValidationError::InvalidReplicaCount { .. } => "invalid_replica_count",
            ValidationError::InvalidStorageSize(_) => "invalid_storage_size",
            ValidationError::InvalidImage(_) => "invalid_image",
        }
    }
}

/// Validates `cluster`; `default_version` is the operator's own version.
pub fn validate(
    cluster: &KafkaCluster,
    default_version: &str,
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

    if let Some(key) = spec
        .config
        .keys()
        .find(|k| RESERVED_BROKER_PROPERTIES.contains(&k.as_str()))
    {
        return Err(ValidationError::ReservedProperty(key.clone()));
    }
    for key in REPLICA_COUNT_PROPERTIES {
        if let Some(value) = spec.config.get(*key) {
            let invalid = |reason: String| ValidationError::InvalidReplicaCount {
                key: (*key).to_owned(),
                value: value.clone(),
                reason,
            };
            let n: i64 = value
                .trim()
                .parse()
                .map_err(|_| invalid("not an integer".to_owned()))?;
            if n < 1 {
                return Err(invalid("must be at least 1".to_owned()));
            }
            if n > i64::from(spec.replicas) {
                return Err(invalid(format!(
                    "exceeds spec.replicas ({})",
                    spec.replicas
                )));
            }
        }
    }
    if !is_quantity(&spec.storage.size) {
        return Err(ValidationError::InvalidStorageSize(
            spec.storage.size.clone(),
        ));
    }
    let version = spec
        .version
        .clone()
        .unwrap_or_else(|| default_version.to_owned());
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
        broker_config: spec.config.clone(),
        kafka_port: spec.listeners.kafka_port,
        http_port: spec.listeners.http_port,
        rack_topology_key: spec.rack_awareness.as_ref().map(|r| r.topology_key.clone()),
        pod_template: spec.pod_template.clone(),
        metrics_enabled: spec.metrics.enabled,
    })
}

/// A Kubernetes quantity: digits with an optional fraction and a binary or decimal suffix.
fn is_quantity(s: &str) -> bool {
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits_end);
    !number.is_empty()
        && number.parse::<f64>().is_ok()
        && [
            "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E",
        ]
        .contains(&suffix)
}

#[cfg(test)]
pub(crate) mod tests {
    use kube::api::ObjectMeta;

    use super::*;
    use crate::crd::KafkaClusterSpec;

    /// Builder-style fixture for cluster specs.
    pub(crate) struct ClusterFixture(pub(crate) KafkaCluster);

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
            validate(&self.0, "0.1.0").expect("valid fixture")
        }
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
            "0.1.0",
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
            "0.1.0",
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
                "0.1.0"
            )
            .is_err()
        );
        assert!(
            validate(
                &ClusterFixture::new("demo", 3)
                    .config("min.insync.replicas", "2")
                    .0,
                "0.1.0"
            )
            .is_ok()
        );
    }

    #[test]
    fn storage_size_must_be_a_quantity() {
        for good in ["10Gi", "500M", "1.5Ti", "1024"] {
            assert!(
                validate(&ClusterFixture::new("d", 1).storage_size(good).0, "v").is_ok(),
                "{good}"
            );
        }
        for bad in ["", "ten", "10GB", "Gi"] {
            let err = validate(&ClusterFixture::new("d", 1).storage_size(bad).0, "v").unwrap_err();
            assert!(
                err.to_string().starts_with("spec.storage.size"),
                "{bad}: {err}"
            );
        }
    }
}
