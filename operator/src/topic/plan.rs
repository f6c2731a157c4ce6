//! Pure planning: what admin requests bring the broker's topic to the spec,
//! and what the spec asks that Kafka cannot do. A replication-factor change
//! is planned partition by partition in `replicas` and run by `replication`.

use karst_client::{AlterConfigOp, ConfigEntry, ConfigSource, NewTopic, TopicMetadata};

use super::validate::ValidatedTopic;

/// The broker's view of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedTopic {
    /// Metadata (partitions, replicas, id).
    pub metadata: TopicMetadata,
    /// DescribeConfigs result.
    pub configs: Vec<ConfigEntry>,
}

/// One admin request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// CreateTopics.
    Create(NewTopic),
    /// CreatePartitions up to this total.
    GrowPartitions(i32),
    /// IncrementalAlterConfigs.
    AlterConfigs(Vec<AlterConfigOp>),
}

/// Something the spec asks that Kafka cannot do; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Human-readable message, starting with the field path.
    pub message: String,
}

/// The plan for one reconciliation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Requests to send, in order.
    pub steps: Vec<Step>,
    /// What is refused.
    pub refusals: Vec<Refusal>,
}

/// Config changes that make the topic's own overrides equal the spec: SET what
/// differs, DELETE overrides the spec does not have.
pub fn config_changes(
    desired: &std::collections::BTreeMap<String, String>,
    actual: &[ConfigEntry],
) -> Vec<AlterConfigOp> {
    let mut ops = Vec::new();
    for (name, value) in desired {
        let current = actual.iter().find(|c| &c.name == name);
        // Only a topic-level override pins the value; an equal inherited value could change under us.
        let matches = current.is_some_and(|c| {
            c.source == ConfigSource::TopicConfig && c.value.as_deref() == Some(value)
        });
        if !matches {
            ops.push(AlterConfigOp::Set {
                name: name.clone(),
                value: value.clone(),
            });
        }
    }
    for entry in actual {
        if entry.source == ConfigSource::TopicConfig
            && !entry.read_only
            && !desired.contains_key(&entry.name)
        {
            ops.push(AlterConfigOp::Delete {
                name: entry.name.clone(),
            });
        }
    }
    ops
}

/// Plans the requests for `desired` given what the broker has.
pub fn plan(desired: &ValidatedTopic, observed: Option<&ObservedTopic>) -> Plan {
    let Some(observed) = observed else {
        return Plan {
            steps: vec![Step::Create(NewTopic {
                name: desired.name.clone(),
                // -1: the broker's num.partitions / default.replication.factor.
                partitions: desired.partitions.unwrap_or(-1),
                replication_factor: desired.replicas.unwrap_or(-1),
                configs: desired
                    .config
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            })],
            refusals: Vec::new(),
        };
    };
    let mut plan = Plan::default();
    let actual_partitions = i32::try_from(observed.metadata.partitions.len()).unwrap_or(i32::MAX);
    // An unset count keeps whatever the broker chose.
    let wanted_partitions = desired.partitions.unwrap_or(actual_partitions);
    if wanted_partitions > actual_partitions {
        plan.steps.push(Step::GrowPartitions(wanted_partitions));
    } else if wanted_partitions < actual_partitions {
        plan.refusals.push(Refusal {
            message: format!(
                "spec.partitions: topic {:?} has {actual_partitions} partitions; decreasing to {wanted_partitions} is not supported by Kafka",
                desired.name
            ),
        });
    }
    // A replication-factor change is not an admin request of its own but a
    // reassignment of each partition: `replication` runs it.
    let ops = config_changes(&desired.config, &observed.configs);
    if !ops.is_empty() {
        plan.steps.push(Step::AlterConfigs(ops));
    }
    plan
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use karst_client::PartitionMetadata;

    use super::*;

    fn desired(partitions: i32, config: &[(&str, &str)]) -> ValidatedTopic {
        ValidatedTopic {
            name: "orders".into(),
            partitions: Some(partitions),
            replicas: Some(1),
            config: config
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        }
    }

    fn entry(name: &str, value: &str, source: ConfigSource) -> ConfigEntry {
        ConfigEntry {
            name: name.into(),
            value: Some(value.into()),
            read_only: false,
            source,
            is_sensitive: false,
        }
    }

    fn observed(partitions: i32, configs: Vec<ConfigEntry>) -> ObservedTopic {
        ObservedTopic {
            metadata: TopicMetadata {
                name: "orders".into(),
                topic_id: Default::default(),
                is_internal: false,
                partitions: (0..partitions)
                    .map(|p| PartitionMetadata {
                        partition: p,
                        leader: 0,
                        leader_epoch: 0,
                        replicas: vec![0],
                        isr: vec![0],
                        error_code: 0,
                    })
                    .collect(),
            },
            configs,
        }
    }

    #[test]
    fn a_missing_topic_is_created_with_its_configs() {
        let p = plan(&desired(3, &[("retention.ms", "1000")]), None);
        assert_eq!(
            p.steps,
            [Step::Create(NewTopic {
                name: "orders".into(),
                partitions: 3,
                replication_factor: 1,
                configs: vec![("retention.ms".into(), "1000".into())],
            })]
        );
    }

    #[test]
    fn unset_counts_are_left_to_the_broker() {
        let mut d = desired(3, &[]);
        (d.partitions, d.replicas) = (None, None);
        let Step::Create(new_topic) = &plan(&d, None).steps[0] else {
            panic!("a missing topic is created");
        };
        assert_eq!(
            (new_topic.partitions, new_topic.replication_factor),
            (-1, -1)
        );
        let p = plan(&d, Some(&observed(4, vec![])));
        assert!(p.steps.is_empty() && p.refusals.is_empty(), "{p:?}");
    }

    #[test]
    fn partitions_grow_but_never_shrink() {
        assert_eq!(
            plan(&desired(5, &[]), Some(&observed(3, vec![]))).steps,
            [Step::GrowPartitions(5)]
        );
        let p = plan(&desired(2, &[]), Some(&observed(3, vec![])));
        assert!(p.steps.is_empty());
        assert!(
            p.refusals[0]
                .message
                .starts_with("spec.partitions: topic \"orders\" has 3 partitions"),
            "{:?}",
            p.refusals
        );
    }

    #[test]
    fn drift_is_reverted_and_stray_overrides_removed() {
        let actual = vec![
            entry("retention.ms", "5", ConfigSource::TopicConfig),
            entry("cleanup.policy", "compact", ConfigSource::TopicConfig),
            entry("segment.bytes", "1073741824", ConfigSource::DefaultConfig),
        ];
        let p = plan(
            &desired(3, &[("retention.ms", "1000")]),
            Some(&observed(3, actual)),
        );
        assert_eq!(
            p.steps,
            [Step::AlterConfigs(vec![
                AlterConfigOp::Set {
                    name: "retention.ms".into(),
                    value: "1000".into()
                },
                AlterConfigOp::Delete {
                    name: "cleanup.policy".into()
                },
            ])]
        );
    }

    #[test]
    fn an_in_sync_topic_needs_nothing() {
        let actual = vec![entry("retention.ms", "1000", ConfigSource::TopicConfig)];
        assert_eq!(
            plan(
                &desired(3, &[("retention.ms", "1000")]),
                Some(&observed(3, actual))
            ),
            Plan::default()
        );
        let empty: BTreeMap<String, String> = BTreeMap::new();
        assert!(
            config_changes(&empty, &[entry("x", "1", ConfigSource::StaticBrokerConfig)]).is_empty()
        );
    }

    #[test]
    fn a_replication_factor_change_is_left_to_reassignment() {
        let mut d = desired(3, &[]);
        d.replicas = Some(3);
        assert_eq!(plan(&d, Some(&observed(3, vec![]))), Plan::default());
    }
}
