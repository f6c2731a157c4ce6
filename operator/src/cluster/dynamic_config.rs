//! Broker settings of `spec.config` that the brokers apply without a
//! restart (Kafka's dynamic broker configs; the key list is the broker's
//! own, `karst_broker::config::DYNAMIC_BROKER_KEYS`). They are left out of
//! the config hash, so changing one rolls no Pod; once the brokers answer,
//! the operator sets them as the cluster-wide default with
//! IncrementalAlterConfigs (resource BROKER ""), SET for the changed ones
//! and DELETE for those no longer in `spec.config`. The operator owns that
//! default: one set by hand with `kafka-configs.sh --entity-default` is
//! reverted like any other drift. They stay in `server.properties` as well,
//! so a broker starting before the change is applied has them too.

use std::collections::BTreeMap;

use karst_broker::config::is_dynamic;
use karst_client::{AdminClient, AlterConfigOp, ConfigSource};

/// The resource name of the cluster-wide default broker configs.
const CLUSTER_DEFAULT: &str = "";

/// The settings of `config` that need a restart: what the config hash covers.
pub fn restart_only(config: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    config
        .iter()
        .filter(|(k, _)| !is_dynamic(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The settings of `config` applied live: what `status.dynamicConfig` shows.
pub fn dynamic_only(config: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    config
        .iter()
        .filter(|(k, _)| is_dynamic(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The operations that turn the cluster-wide defaults `current` into the
/// dynamic settings of `config`: SET what differs, DELETE what `config` no
/// longer has.
pub fn plan(
    config: &BTreeMap<String, String>,
    current: &BTreeMap<String, String>,
) -> Vec<AlterConfigOp> {
    let wanted = config.iter().filter(|(k, _)| is_dynamic(k));
    let set = wanted
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(name, value)| AlterConfigOp::Set {
            name: name.clone(),
            value: value.clone(),
        });
    let delete = current
        .keys()
        .filter(|k| !config.contains_key(*k) || !is_dynamic(k))
        .map(|name| AlterConfigOp::Delete { name: name.clone() });
    set.chain(delete).collect()
}

/// Words for an event: `set a=1, b=2; deleted c`.
pub fn describe(ops: &[AlterConfigOp]) -> String {
    let set: Vec<String> = ops
        .iter()
        .filter_map(|op| match op {
            AlterConfigOp::Set { name, value } => Some(format!("{name}={value}")),
            AlterConfigOp::Delete { .. } => None,
        })
        .collect();
    let deleted: Vec<&str> = ops
        .iter()
        .filter_map(|op| match op {
            AlterConfigOp::Delete { name } => Some(name.as_str()),
            AlterConfigOp::Set { .. } => None,
        })
        .collect();
    let mut parts = Vec::new();
    if !set.is_empty() {
        parts.push(format!("set {}", set.join(", ")));
    }
    if !deleted.is_empty() {
        parts.push(format!("deleted {}", deleted.join(", ")));
    }
    parts.join("; ")
}

/// Brings the cluster-wide dynamic defaults in line with `config` through
/// the broker at `address`; the operations it sent (empty: nothing to do).
pub async fn apply(
    address: &str,
    config: &BTreeMap<String, String>,
) -> Result<Vec<AlterConfigOp>, karst_client::Error> {
    let admin = AdminClient::lazy(address.to_owned());
    let current: BTreeMap<String, String> = admin
        .describe_broker_configs(CLUSTER_DEFAULT)
        .await?
        .into_iter()
        .filter(|e| e.source == ConfigSource::DynamicDefaultBrokerConfig)
        .filter_map(|e| Some((e.name, e.value?)))
        .collect();
    let ops = plan(config, &current);
    if !ops.is_empty() {
        admin
            .incremental_alter_broker_configs(CLUSTER_DEFAULT, &ops, false)
            .await?;
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_hash_covers_only_settings_that_need_a_restart() {
        let config = map(&[("message.max.bytes", "2000000"), ("num.partitions", "3")]);
        assert_eq!(restart_only(&config), map(&[("num.partitions", "3")]));
    }

    #[test]
    fn changed_dynamic_settings_are_set_and_removed_ones_deleted() {
        let config = map(&[
            ("message.max.bytes", "2000000"),
            ("log.retention.ms", "1000"),
            ("num.partitions", "3"),
        ]);
        let current = map(&[
            ("log.retention.ms", "1000"),
            ("log.segment.bytes", "1048576"),
        ]);
        let ops = plan(&config, &current);
        assert_eq!(
            ops,
            vec![
                AlterConfigOp::Set {
                    name: "message.max.bytes".into(),
                    value: "2000000".into()
                },
                AlterConfigOp::Delete {
                    name: "log.segment.bytes".into()
                },
            ]
        );
        assert_eq!(
            describe(&ops),
            "set message.max.bytes=2000000; deleted log.segment.bytes"
        );
        assert!(
            plan(
                &config,
                &map(&[
                    ("log.retention.ms", "1000"),
                    ("message.max.bytes", "2000000")
                ])
            )
            .is_empty()
        );
    }
}
