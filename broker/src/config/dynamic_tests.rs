use std::collections::BTreeMap;

use super::*;

fn image_configs(entries: &[(i32, &str, &str)]) -> BTreeMap<i32, BTreeMap<String, String>> {
    let mut configs: BTreeMap<i32, BTreeMap<String, String>> = BTreeMap::new();
    for (id, name, value) in entries {
        configs
            .entry(*id)
            .or_default()
            .insert((*name).to_owned(), (*value).to_owned());
    }
    configs
}

fn static_config(pairs: &[(&str, &str)]) -> BrokerConfig {
    let overrides: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    BrokerConfig::load(None, Vec::new(), &overrides).unwrap()
}

#[test]
fn per_broker_beats_cluster_default_beats_static_beats_built_in() {
    let base = static_config(&[("message.max.bytes", "2000000")]);
    assert_eq!(base.message_max_bytes, 2_000_000);
    let cluster = base
        .with_dynamic(DynamicLayers::new(&[("message.max.bytes", "3000000")], &[]))
        .unwrap();
    assert_eq!(cluster.message_max_bytes, 3_000_000);
    assert_eq!(
        cluster.source_of("message.max.bytes"),
        ConfigSource::DynamicDefaultBrokerConfig
    );
    let node = base
        .with_dynamic(DynamicLayers::new(
            &[("message.max.bytes", "3000000")],
            &[("message.max.bytes", "4000000")],
        ))
        .unwrap();
    assert_eq!(node.message_max_bytes, 4_000_000);
    assert_eq!(
        node.source_of("message.max.bytes"),
        ConfigSource::DynamicBrokerConfig
    );
    let built_in = BrokerConfig::default();
    assert_eq!(
        built_in.source_of("message.max.bytes"),
        ConfigSource::DefaultConfig
    );
}

#[test]
fn synonyms_list_every_source_most_specific_first() {
    let config = static_config(&[("log.retention.hours", "24")])
        .with_dynamic(DynamicLayers::new(
            &[("log.retention.ms", "1000")],
            &[("log.retention.hours", "2")],
        ))
        .unwrap();
    // The most specific name wins across layers, as Kafka merges dynamic
    // over static before resolving ms > minutes > hours.
    assert_eq!(config.log_retention_ms, 1000);
    let synonyms: Vec<(String, ConfigSource)> = config
        .synonyms(
            &[
                "log.retention.ms",
                "log.retention.minutes",
                "log.retention.hours",
            ],
            "log.retention.hours",
        )
        .into_iter()
        .map(|s| (s.name, s.source))
        .collect();
    assert_eq!(
        synonyms,
        vec![
            (
                "log.retention.hours".to_owned(),
                ConfigSource::DynamicBrokerConfig
            ),
            (
                "log.retention.ms".to_owned(),
                ConfigSource::DynamicDefaultBrokerConfig
            ),
            (
                "log.retention.hours".to_owned(),
                ConfigSource::StaticBrokerConfig
            ),
            (
                "log.retention.hours".to_owned(),
                ConfigSource::DefaultConfig
            ),
        ]
    );
}

#[test]
fn describe_marks_dynamic_keys_writable() {
    let entries = BrokerConfig::default().describe();
    let read_only = |name: &str| entries.iter().find(|e| e.name == name).unwrap().read_only;
    assert!(!read_only("message.max.bytes"));
    assert!(!read_only("follower.replication.throttled.rate"));
    assert!(read_only("log.dirs"));
}

#[test]
fn static_keys_and_bad_values_are_refused() {
    let next = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert_eq!(
        validate_dynamic_broker_configs(&next(&[("log.dirs", "/x"), ("num.partitions", "3")]))
            .unwrap_err()
            .to_string(),
        "Cannot update these configs dynamically: Set(log.dirs, num.partitions)"
    );
    let bad = validate_dynamic_broker_configs(&next(&[("message.max.bytes", "big")]));
    assert!(
        matches!(bad, Err(DynamicConfigError::Invalid(e)) if e.key() == Some("message.max.bytes"))
    );
    assert!(validate_dynamic_broker_configs(&next(&[("log.retention.ms", "1000")])).is_ok());
}

#[test]
fn live_config_follows_the_image_and_ignores_other_brokers() {
    let live = LiveBrokerConfig::new(2, Arc::new(BrokerConfig::default()));
    let default_max = live.get().message_max_bytes;
    assert!(!live.update(&image_configs(&[(3, "message.max.bytes", "5")])));
    assert_eq!(live.get().message_max_bytes, default_max);
    assert!(live.update(&image_configs(&[
        (CLUSTER_DEFAULT, "message.max.bytes", "5000"),
        (3, "message.max.bytes", "6000"),
    ])));
    assert_eq!(live.get().message_max_bytes, 5000);
    let defaults: Vec<(String, Option<String>)> = live
        .get()
        .describe_cluster_default()
        .into_iter()
        .map(|e| (e.name, e.value))
        .collect();
    assert_eq!(
        defaults,
        vec![("message.max.bytes".to_owned(), Some("5000".to_owned()))]
    );
    assert!(live.update(&image_configs(&[])));
    assert_eq!(live.get().message_max_bytes, default_max);
}
