//! Config changes (AlterConfigs, IncrementalAlterConfigs) as metadata records:
//! topic overrides, and dynamic broker configs (per node id, or the
//! cluster-wide default under `config::CLUSTER_DEFAULT`).

use std::collections::BTreeMap;

use super::TopicError;
use crate::config::{DynamicConfigError, validate_dynamic_broker_configs, validate_topic_config};
use crate::metadata::{ConfigResourceKey, MetadataImage, MetadataRecord};

/// One operation of IncrementalAlterConfigs (AlterConfigs is all `Set`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ConfigOp {
    Set(String),
    Delete,
    /// Adds an element to a list-valued config (e.g. cleanup.policy).
    Append(String),
    /// Removes an element from a list-valued config.
    Subtract(String),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigChange {
    pub name: String,
    pub op: ConfigOp,
}

/// Records that apply `changes` to a topic's overrides or a broker
/// resource's dynamic configs (only keys in `DYNAMIC_BROKER_KEYS`: any other
/// is INVALID_REQUEST, as Kafka answers). With `replace_all`
/// (legacy AlterConfigs) overrides not named are removed, as Kafka does.
pub fn alter_config_records(
    image: &MetadataImage,
    resource: &ConfigResourceKey,
    changes: &[ConfigChange],
    replace_all: bool,
) -> Result<Vec<MetadataRecord>, TopicError> {
    let empty = BTreeMap::new();
    let current = match resource {
        ConfigResourceKey::Topic(topic) => {
            &image
                .topic(topic)
                .ok_or_else(|| TopicError::UnknownTopic(topic.clone()))?
                .configs
        }
        ConfigResourceKey::Broker(id) => image.broker_configs.get(id).unwrap_or(&empty),
    };
    let mut next: BTreeMap<String, String> = if replace_all {
        BTreeMap::new()
    } else {
        current.clone()
    };
    for change in changes {
        let value = match &change.op {
            ConfigOp::Set(v) => Some(v.clone()),
            ConfigOp::Delete => None,
            ConfigOp::Append(v) => Some(list_edit(current.get(&change.name), v, true)),
            ConfigOp::Subtract(v) => Some(list_edit(current.get(&change.name), v, false)),
        };
        match value {
            Some(v) => {
                if matches!(resource, ConfigResourceKey::Topic(_)) {
                    validate_topic_config(&change.name, &v)
                        .map_err(|e| TopicError::InvalidConfig(e.to_string()))?;
                }
                next.insert(change.name.clone(), v);
            }
            None => {
                next.remove(&change.name);
            }
        }
    }
    if matches!(resource, ConfigResourceKey::Broker(_)) {
        validate_dynamic_broker_configs(&next).map_err(|e| match e {
            DynamicConfigError::NotDynamic(_) => TopicError::InvalidRequest(e.to_string()),
            DynamicConfigError::Invalid(_) => TopicError::InvalidConfig(e.to_string()),
        })?;
    }
    let mut records = Vec::new();
    for (name, value) in &next {
        if current.get(name) != Some(value) {
            records.push(MetadataRecord::Config {
                resource: resource.clone(),
                name: name.clone(),
                value: Some(value.clone()),
            });
        }
    }
    for name in current.keys().filter(|k| !next.contains_key(*k)) {
        records.push(MetadataRecord::Config {
            resource: resource.clone(),
            name: name.clone(),
            value: None,
        });
    }
    Ok(records)
}

fn list_edit(current: Option<&String>, value: &str, append: bool) -> String {
    let mut items: Vec<&str> = current
        .map(|c| {
            c.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    for v in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if append {
            if !items.contains(&v) {
                items.push(v);
            }
        } else {
            items.retain(|i| *i != v);
        }
    }
    items.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn image_with_topic(configs: &[(&str, &str)]) -> MetadataImage {
        let mut image = MetadataImage::empty();
        image.apply(&MetadataRecord::Topic {
            name: "t".into(),
            id: Uuid::new_v4(),
        });
        for (k, v) in configs {
            image.apply(&MetadataRecord::Config {
                resource: ConfigResourceKey::Topic("t".into()),
                name: (*k).into(),
                value: Some((*v).into()),
            });
        }
        image
    }

    fn change(name: &str, op: ConfigOp) -> ConfigChange {
        ConfigChange {
            name: name.into(),
            op,
        }
    }

    fn applied(image: &MetadataImage, records: &[MetadataRecord]) -> BTreeMap<String, String> {
        let mut image = image.clone();
        for r in records {
            image.apply(r);
        }
        image.topic("t").unwrap().configs.clone()
    }

    #[test]
    fn incremental_changes_touch_only_named_keys() {
        let image = image_with_topic(&[("retention.ms", "1000"), ("cleanup.policy", "delete")]);
        let resource = ConfigResourceKey::Topic("t".into());
        let records = alter_config_records(
            &image,
            &resource,
            &[
                change("segment.bytes", ConfigOp::Set("1048576".into())),
                change("retention.ms", ConfigOp::Delete),
                change("cleanup.policy", ConfigOp::Append("compact".into())),
            ],
            false,
        )
        .unwrap();
        let configs = applied(&image, &records);
        assert_eq!(
            configs.get("segment.bytes").map(String::as_str),
            Some("1048576")
        );
        assert_eq!(
            configs.get("cleanup.policy").map(String::as_str),
            Some("delete,compact")
        );
        assert!(!configs.contains_key("retention.ms"));
    }

    #[test]
    fn legacy_alter_replaces_all_overrides() {
        let image = image_with_topic(&[("retention.ms", "1000")]);
        let resource = ConfigResourceKey::Topic("t".into());
        let records = alter_config_records(
            &image,
            &resource,
            &[change("segment.bytes", ConfigOp::Set("1048576".into()))],
            true,
        )
        .unwrap();
        let configs = applied(&image, &records);
        assert_eq!(configs.len(), 1);
        assert!(configs.contains_key("segment.bytes"));
    }

    #[test]
    fn invalid_values_and_unknown_topics_are_refused() {
        let image = image_with_topic(&[]);
        let bad = alter_config_records(
            &image,
            &ConfigResourceKey::Topic("t".into()),
            &[change("retention.ms", ConfigOp::Set("soon".into()))],
            false,
        );
        assert!(matches!(bad, Err(TopicError::InvalidConfig(_))));
        let unknown =
            alter_config_records(&image, &ConfigResourceKey::Topic("x".into()), &[], false);
        assert!(matches!(unknown, Err(TopicError::UnknownTopic(_))));
    }

    #[test]
    fn broker_configs_accept_dynamic_keys_only() {
        let image = MetadataImage::empty();
        let resource = ConfigResourceKey::Broker(crate::config::CLUSTER_DEFAULT);
        let records = alter_config_records(
            &image,
            &resource,
            &[change("message.max.bytes", ConfigOp::Set("2000000".into()))],
            false,
        )
        .unwrap();
        let mut next = image.clone();
        for r in &records {
            next.apply(r);
        }
        assert_eq!(
            next.broker_configs[&crate::config::CLUSTER_DEFAULT]["message.max.bytes"],
            "2000000"
        );
        let refused = alter_config_records(
            &image,
            &ConfigResourceKey::Broker(1),
            &[change("log.dirs", ConfigOp::Set("/tmp/x".into()))],
            false,
        );
        assert!(matches!(refused, Err(TopicError::InvalidRequest(m))
            if m == "Cannot update these configs dynamically: Set(log.dirs)"));
        let bad = alter_config_records(
            &next,
            &resource,
            &[change("message.max.bytes", ConfigOp::Set("huge".into()))],
            false,
        );
        assert!(
            matches!(bad, Err(TopicError::InvalidConfig(m)) if m.contains("message.max.bytes"))
        );
    }
}
