//! Config changes (AlterConfigs, IncrementalAlterConfigs) as metadata records.

use std::collections::BTreeMap;

use super::TopicError;
use crate::config::validate_topic_config;
use crate::metadata::{ConfigResourceKey, MetadataImage, MetadataRecord};

/// One operation of IncrementalAlterConfigs (AlterConfigs is all `Set`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOp {
    Set(String),
    Delete,
    /// Adds an element to a list-valued config (e.g. cleanup.policy).
    Append(String),
    /// Removes an element from a list-valued config.
    Subtract(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    pub name: String,
    pub op: ConfigOp,
}

/// Records that apply `changes` to a topic's overrides. With `replace_all`
/// (legacy AlterConfigs) overrides not named are removed, as Kafka does.
pub fn alter_config_records(
    image: &MetadataImage,
    resource: &ConfigResourceKey,
    changes: &[ConfigChange],
    replace_all: bool,
) -> Result<Vec<MetadataRecord>, TopicError> {
    let topic = match resource {
        ConfigResourceKey::Topic(topic) => topic,
        ConfigResourceKey::Broker(_) => {
            return Err(TopicError::InvalidConfig(
                "broker configs cannot be changed dynamically yet; set them in server.properties".into(),
            ));
        }
    };
    let current = &image
        .topic(topic)
        .ok_or_else(|| TopicError::UnknownTopic(topic.clone()))?
        .configs;
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
                validate_topic_config(&change.name, &v)
                    .map_err(|e| TopicError::InvalidConfig(e.to_string()))?;
                next.insert(change.name.clone(), v);
            }
            None => {
                next.remove(&change.name);
            }
        }
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
        .map(|c| c.split(',').map(str::trim).filter(|s| !s.is_empty()).collect())
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
