//! Pure validation of a `KafkaTopic` against its cluster and its siblings.

use std::collections::BTreeMap;

use kube::ResourceExt;

use crate::crd::KafkaTopic;

/// A topic spec that can be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedTopic {
    /// Topic name on the broker.
    pub name: String,
    /// Desired partitions; the broker's `num.partitions` when `None`.
    pub partitions: Option<i32>,
    /// Desired replication factor; the broker's `default.replication.factor` when `None`.
    pub replicas: Option<i16>,
    /// Desired topic-level configs.
    pub config: BTreeMap<String, String>,
}

/// Why a topic spec cannot be applied. Messages start with the field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicValidationError {
    /// `spec.topicName` changed after the topic was created.
    #[error(
        "spec.topicName: the topic is {current:?}; renaming it to {requested:?} is not supported by Kafka"
    )]
    Rename {
        /// Name the resource manages.
        current: String,
        /// Name the spec asks for now.
        requested: String,
    },
    /// An older KafkaTopic already manages the same topic.
    #[error(
        "spec.topicName: KafkaTopic {other:?} already manages topic {topic:?} on cluster {cluster:?}"
    )]
    Conflict {
        /// The older resource.
        other: String,
        /// Topic name.
        topic: String,
        /// Cluster.
        cluster: String,
    },
    /// More replicas than brokers.
    #[error(
        "spec.replicas: {replicas} exceeds the {brokers} broker(s) of KafkaCluster {cluster:?}"
    )]
    TooManyReplicas {
        /// Asked replicas.
        replicas: i16,
        /// Brokers in the cluster spec.
        brokers: i32,
        /// Cluster.
        cluster: String,
    },
    /// No replica at all (the CRD schema refuses it too; this covers a
    /// resource stored before that rule).
    #[error("spec.replicas: must be at least 1, got {0}")]
    NoReplicas(i16),
    /// A name Kafka rejects.
    #[error(
        "spec.topicName: {0:?} is not a legal Kafka topic name (1-249 of [a-zA-Z0-9._-], not \".\" or \"..\")"
    )]
    IllegalName(String),
    /// An empty config key.
    #[error("spec.config: empty property name")]
    EmptyConfigKey,
    /// A topic property the broker would refuse (checked with the broker's own rules).
    #[error("spec.config[\"{key}\"]: {message}")]
    InvalidConfig {
        /// Property name.
        key: String,
        /// The broker's explanation.
        message: String,
    },
}

impl TopicValidationError {
    /// Condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            TopicValidationError::Rename { .. } => "NotSupported",
            TopicValidationError::Conflict { .. } => "ResourceConflict",
            TopicValidationError::TooManyReplicas { .. }
            | TopicValidationError::NoReplicas(_)
            | TopicValidationError::IllegalName(_)
            | TopicValidationError::EmptyConfigKey
            | TopicValidationError::InvalidConfig { .. } => "InvalidSpec",
        }
    }

    /// Metric label.
    pub fn metric_label(&self) -> &'static str {
        match self {
            TopicValidationError::Rename { .. } => "rename",
            TopicValidationError::Conflict { .. } => "resource_conflict",
            TopicValidationError::TooManyReplicas { .. } => "too_many_replicas",
            TopicValidationError::NoReplicas(_) => "no_replicas",
            TopicValidationError::IllegalName(_) => "illegal_name",
            TopicValidationError::EmptyConfigKey => "empty_config_key",
            TopicValidationError::InvalidConfig { .. } => "invalid_topic_config",
        }
    }
}

/// Whether `name` is a legal Kafka topic name.
pub fn is_legal_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The KafkaTopic among `siblings` that owns `topic`'s Kafka topic: the oldest
/// (creation time, then name) naming the same cluster and topic.
fn owner<'a>(topic: &'a KafkaTopic, siblings: &'a [KafkaTopic]) -> &'a KafkaTopic {
    let key = |t: &KafkaTopic| {
        (
            t.metadata.creation_timestamp.as_ref().map(|c| c.0),
            t.name_any(),
        )
    };
    siblings
        .iter()
        .filter(|s| {
            s.spec.cluster_ref.name == topic.spec.cluster_ref.name
                && s.kafka_topic_name() == topic.kafka_topic_name()
                && s.metadata.deletion_timestamp.is_none()
        })
        .chain(std::iter::once(topic))
        .min_by(|a, b| key(a).cmp(&key(b)))
        .unwrap_or(topic)
}

/// Validates `topic`; `cluster_brokers` is the cluster's `spec.replicas`;
/// `siblings` are the other KafkaTopics of the namespace.
pub fn validate(
    topic: &KafkaTopic,
    cluster_brokers: i32,
    siblings: &[KafkaTopic],
) -> Result<ValidatedTopic, TopicValidationError> {
    let name = topic.kafka_topic_name();
    if let Some(current) = topic.status.as_ref().and_then(|s| s.topic_name.as_ref())
        && *current != name
    {
        return Err(TopicValidationError::Rename {
            current: current.clone(),
            requested: name,
        });
    }
    if !is_legal_topic_name(&name) {
        return Err(TopicValidationError::IllegalName(name));
    }
    let owner = owner(topic, siblings);
    if owner.name_any() != topic.name_any() {
        return Err(TopicValidationError::Conflict {
            other: owner.name_any(),
            topic: name,
            cluster: topic.spec.cluster_ref.name.clone(),
        });
    }
    if let Some(replicas) = topic.spec.replicas
        && replicas < 1
    {
        return Err(TopicValidationError::NoReplicas(replicas));
    }
    if let Some(replicas) = topic.spec.replicas
        && i32::from(replicas) > cluster_brokers
    {
        return Err(TopicValidationError::TooManyReplicas {
            replicas,
            brokers: cluster_brokers,
            cluster: topic.spec.cluster_ref.name.clone(),
        });
    }
    if topic.spec.config.keys().any(|k| k.trim().is_empty()) {
        return Err(TopicValidationError::EmptyConfigKey);
    }
    for (key, value) in &topic.spec.config {
        karst_broker::config::validate_topic_config(key, value).map_err(|e| {
            TopicValidationError::InvalidConfig {
                key: key.clone(),
                message: e.to_string(),
            }
        })?;
    }
    Ok(ValidatedTopic {
        name,
        partitions: topic.spec.partitions,
        replicas: topic.spec.replicas,
        config: topic.spec.config.clone(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
    use kube::api::ObjectMeta;

    use super::*;
    use crate::crd::{KafkaTopicSpec, KafkaTopicStatus, kafka_topic::ClusterRef};

    /// Builder-style fixture for topics.
    pub(crate) struct TopicFixture(pub(crate) KafkaTopic);

    impl TopicFixture {
        pub(crate) fn new(name: &str) -> Self {
            let spec = KafkaTopicSpec {
                cluster_ref: ClusterRef {
                    name: "demo".into(),
                },
                topic_name: None,
                partitions: Some(3),
                replicas: Some(1),
                config: BTreeMap::new(),
            };
            let mut t = KafkaTopic::new(name, spec);
            t.metadata = ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns1".into()),
                generation: Some(1),
                creation_timestamp: Some(Time(Timestamp::from_second(1_000).unwrap())),
                ..ObjectMeta::default()
            };
            Self(t)
        }
        pub(crate) fn topic_name(mut self, n: &str) -> Self {
            self.0.spec.topic_name = Some(n.into());
            self
        }
        pub(crate) fn created_at(mut self, second: i64) -> Self {
            self.0.metadata.creation_timestamp =
                Some(Time(Timestamp::from_second(second).unwrap()));
            self
        }
        pub(crate) fn partitions(mut self, n: i32) -> Self {
            self.0.spec.partitions = Some(n);
            self
        }
        pub(crate) fn replicas(mut self, n: i16) -> Self {
            self.0.spec.replicas = Some(n);
            self
        }
        pub(crate) fn config(mut self, k: &str, v: &str) -> Self {
            self.0.spec.config.insert(k.into(), v.into());
            self
        }
        pub(crate) fn managing(mut self, topic: &str) -> Self {
            self.0.status = Some(KafkaTopicStatus {
                topic_name: Some(topic.into()),
                ..KafkaTopicStatus::default()
            });
            self
        }
    }

    #[test]
    fn topic_name_defaults_to_the_resource_name() {
        let v = validate(
            &TopicFixture::new("orders").config("retention.ms", "1000").0,
            1,
            &[],
        )
        .unwrap();
        assert_eq!(v.name, "orders");
        assert_eq!((v.partitions, v.replicas), (Some(3), Some(1)));
        assert_eq!(v.config["retention.ms"], "1000");
    }

    #[test]
    fn rename_is_not_supported() {
        let t = TopicFixture::new("orders")
            .topic_name("orders-v2")
            .managing("orders")
            .0;
        let err = validate(&t, 1, &[]).unwrap_err();
        assert_eq!(err.reason(), "NotSupported");
        assert!(err.to_string().starts_with("spec.topicName"), "{err}");
    }

    #[test]
    fn the_newer_of_two_resources_naming_one_topic_conflicts() {
        let older = TopicFixture::new("a").topic_name("shared").created_at(10).0;
        let newer = TopicFixture::new("b").topic_name("shared").created_at(20).0;
        let siblings = vec![older.clone(), newer.clone()];
        assert!(validate(&older, 1, &siblings).is_ok());
        let err = validate(&newer, 1, &siblings).unwrap_err();
        assert_eq!(err.reason(), "ResourceConflict");
        assert!(err.to_string().contains("\"a\""), "{err}");
        // Same topic name on another cluster is no conflict.
        let mut other_cluster = newer.clone();
        other_cluster.spec.cluster_ref.name = "other".into();
        assert!(validate(&other_cluster, 1, &siblings).is_ok());
    }

    #[test]
    fn replicas_cannot_exceed_brokers_and_names_must_be_legal() {
        let err = validate(&TopicFixture::new("t").replicas(3).0, 1, &[]).unwrap_err();
        assert!(
            err.to_string().starts_with("spec.replicas: 3 exceeds"),
            "{err}"
        );
        let err = validate(&TopicFixture::new("t").replicas(0).0, 1, &[]).unwrap_err();
        assert_eq!(err.to_string(), "spec.replicas: must be at least 1, got 0");
        assert_eq!(err.reason(), "InvalidSpec");
        assert!(validate(&TopicFixture::new("t").topic_name("bad name").0, 1, &[]).is_err());
        assert!(validate(&TopicFixture::new("t").topic_name("..").0, 1, &[]).is_err());
        assert!(validate(&TopicFixture::new("t").partitions(12).0, 1, &[]).is_ok());
    }

    #[test]
    fn config_values_are_checked_with_the_broker_rules() {
        let err = validate(
            &TopicFixture::new("t").config("retention.ms", "banana").0,
            1,
            &[],
        )
        .unwrap_err();
        assert_eq!(err.reason(), "InvalidSpec");
        assert!(
            err.to_string()
                .starts_with("spec.config[\"retention.ms\"]: invalid value \"banana\""),
            "{err}"
        );
        let err = validate(
            &TopicFixture::new("t").config("retention.msx", "1").0,
            1,
            &[],
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("did you mean retention.ms?"),
            "{err}"
        );
    }
}
