//! Loading, precedence, validation and description of broker settings.

use super::*;
use crate::config::ConfigSource;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn defaults_run_one_node_on_localhost_9092_with_data_in_dot_data() {
    let c = BrokerConfig::default();
    assert_eq!(c.node_id, 1);
    assert_eq!(
        c.listeners,
        vec![Listener {
            name: "PLAINTEXT".into(),
            host: "localhost".into(),
            port: 9092
        }]
    );
    assert_eq!(c.log_dirs, vec![PathBuf::from("./data")]);
    assert!(c.auto_create_topics_enable);
    assert_eq!(c.log_retention_ms, 168 * 3_600_000);
}

#[test]
fn file_then_env_then_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.properties");
    std::fs::write(&file, "node.id=2\nnum.partitions=3\nlog.dirs=/a\n").unwrap();
    let c = BrokerConfig::load(
        Some(&file),
        env(&[
            ("KARST_NUM_PARTITIONS", "4"),
            ("KARST_LOG_DIRS", "/b"),
            ("PATH", "/bin"),
        ]),
        &[("log.dirs".into(), "/c".into())],
    )
    .unwrap();
    assert_eq!(c.node_id, 2);
    assert_eq!(c.num_partitions, 4);
    assert_eq!(c.log_dirs, vec![PathBuf::from("/c")]);
}

#[test]
fn unknown_and_invalid_settings_are_named() {
    let err =
        BrokerConfig::load(None, env(&[]), &[("num.partitons".into(), "3".into())]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown configuration 'num.partitons' (value \"3\"); did you mean num.partitions?"
    );
    let err = BrokerConfig::load(None, env(&[("KARST_NO_SUCH", "1")]), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable KARST_NO_SUCH does not name a configuration"
    );
    let err = BrokerConfig::load(None, env(&[("KARST_NODE_ID", "x")]), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value \"x\" for node.id: expected an integer >= 0"
    );
    let err =
        BrokerConfig::load(None, env(&[]), &[("num.partitions".into(), "0".into())]).unwrap_err();
    assert!(err.to_string().contains("num.partitions"));
    let err = BrokerConfig::load(
        None,
        env(&[]),
        &[("listeners".into(), "SSL://:9093".into())],
    )
    .unwrap_err();
    assert!(err.to_string().contains("listeners"));
    assert!(err.to_string().contains("only PLAINTEXT"));
}

#[test]
fn binary_variables_and_other_programs_variables_are_not_settings() {
    let c = BrokerConfig::load(
        None,
        env(&[
            ("KARST_LOG", "debug"),
            ("KARST_LOG_FORMAT", "json"),
            ("HOME", "/root"),
            (
                "KARST_ADVERTISED_LISTENERS",
                "PLAINTEXT://kafka-0.kafka:9092",
            ),
        ]),
        &[],
    )
    .unwrap();
    assert_eq!(c.advertised_listeners[0].host, "kafka-0.kafka");
    assert_eq!(
        c.origin("advertised.listeners"),
        Some(ValueOrigin::Environment)
    );
    assert_eq!(c.origin("node.id"), None);
}

#[test]
fn a_failed_set_leaves_the_configuration_unchanged() {
    let mut c = BrokerConfig::default();
    c.set("group.max.session.timeout.ms", "10000").unwrap();
    let err = c.set("group.min.session.timeout.ms", "20000").unwrap_err();
    assert!(err.to_string().contains("group.max.session.timeout.ms"));
    assert_eq!(c.group_min_session_timeout_ms, 6000);
    assert!(!c.is_set("group.min.session.timeout.ms"));
}

#[test]
fn log_dirs_wins_over_log_dir_and_the_first_dir_is_first() {
    let mut c = BrokerConfig::default();
    c.set("log.dir", "/one").unwrap();
    assert_eq!(c.log_dirs, vec![PathBuf::from("/one")]);
    c.set("log.dirs", "/two, /three").unwrap();
    assert_eq!(
        c.log_dirs,
        vec![PathBuf::from("/two"), PathBuf::from("/three")]
    );
}

#[test]
fn kafkas_own_kraft_server_properties_loads() {
    let text = "process.roles=broker,controller\nnode.id=1\n\
        controller.quorum.bootstrap.servers=localhost:9093\n\
        listeners=PLAINTEXT://:9092,CONTROLLER://:9093\n\
        inter.broker.listener.name=PLAINTEXT\n\
        advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093\n\
        controller.listener.names=CONTROLLER\n\
        listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL\n\
        num.network.threads=3\nnum.io.threads=8\n\
        socket.send.buffer.bytes=102400\nsocket.receive.buffer.bytes=102400\n\
        socket.request.max.bytes=104857600\nlog.dirs=/tmp/kraft-combined-logs\n\
        num.partitions=1\nnum.recovery.threads.per.data.dir=1\n\
        offsets.topic.replication.factor=1\n\
        share.coordinator.state.topic.replication.factor=1\n\
        share.coordinator.state.topic.min.isr=1\n\
        transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\n\
        log.retention.hours=168\nlog.segment.bytes=1073741824\n\
        log.retention.check.interval.ms=300000\n";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.properties");
    std::fs::write(&file, text).unwrap();
    let c = BrokerConfig::load(Some(&file), env(&[]), &[]).unwrap();
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(c.listeners[0].name, "PLAINTEXT");
    assert_eq!(c.listeners[0].host, "");
    assert_eq!(c.controller_listeners[0].port, 9093);
    assert_eq!(c.advertised_listeners.len(), 1);
    assert_eq!(c.log_dirs, vec![PathBuf::from("/tmp/kraft-combined-logs")]);
    assert_eq!(c.origin("log.dirs"), Some(ValueOrigin::File));
}

#[test]
fn advertised_listeners_must_name_a_reachable_host_of_a_listener() {
    let mut c = BrokerConfig::default();
    let err = c
        .set("advertised.listeners", "PLAINTEXT://0.0.0.0:9092")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("not an address clients can connect to")
    );
    c.set("advertised.listeners", "PLAINTEXT://broker.example:19092")
        .unwrap();
    assert_eq!(c.advertised_listeners[0].port, 19092);
}

#[test]
fn a_less_specific_synonym_set_later_is_reported_as_shadowed() {
    let c = BrokerConfig::load(
        None,
        env(&[("KARST_LOG_RETENTION_MS", "1000")]),
        &[("log.retention.hours".into(), "1".into())],
    )
    .unwrap();
    assert_eq!(c.log_retention_ms, 1000);
    assert_eq!(
        c.shadowed(),
        vec![("log.retention.hours", "log.retention.ms")]
    );
    assert!(BrokerConfig::default().shadowed().is_empty());
}

#[test]
fn retention_ms_wins_over_minutes_over_hours() {
    let mut c = BrokerConfig::default();
    c.set("log.retention.hours", "1").unwrap();
    assert_eq!(c.log_retention_ms, 3_600_000);
    c.set("log.retention.minutes", "2").unwrap();
    assert_eq!(c.log_retention_ms, 120_000);
    c.set("log.retention.ms", "5").unwrap();
    assert_eq!(c.log_retention_ms, 5);
}

#[test]
fn describe_reports_sources() {
    let mut c = BrokerConfig::default();
    c.set("num.partitions", "3").unwrap();
    let entries = c.describe();
    let np = entries.iter().find(|e| e.name == "num.partitions").unwrap();
    assert_eq!(np.source, ConfigSource::StaticBrokerConfig);
    assert_eq!(np.value.as_deref(), Some("3"));
    let mb = entries
        .iter()
        .find(|e| e.name == "message.max.bytes")
        .unwrap();
    assert_eq!(mb.source, ConfigSource::DefaultConfig);
    assert!(mb.is_default);
    assert!(!np.is_default);
}

#[test]
fn describe_lists_retention_settings_as_synonyms_as_kafka_does() {
    let mut c = BrokerConfig::default();
    c.set("log.retention.minutes", "30").unwrap();
    let entries = c.describe();
    let synonyms = |name: &str| -> Vec<(String, ConfigSource)> {
        let entry = entries.iter().find(|e| e.name == name).unwrap();
        entry
            .synonyms
            .iter()
            .map(|s| (s.name.clone(), s.source))
            .collect()
    };
    // Kafka drops the synonyms listed before the described name itself:
    // unset `log.retention.ms` has none, `.minutes` has itself and `.hours`.
    let ms = entries
        .iter()
        .find(|e| e.name == "log.retention.ms")
        .unwrap();
    assert_eq!(ms.value, None);
    assert_eq!(synonyms("log.retention.ms"), vec![]);
    assert_eq!(
        synonyms("log.retention.minutes"),
        vec![
            (
                "log.retention.minutes".to_owned(),
                ConfigSource::StaticBrokerConfig
            ),
            (
                "log.retention.hours".to_owned(),
                ConfigSource::DefaultConfig
            ),
        ]
    );
    assert_eq!(c.log_retention_ms, 30 * 60_000);
}

#[test]
fn kubernetes_service_link_variables_are_not_settings() {
    let c = BrokerConfig::load(
        None,
        env(&[
            ("KARST_PORT", "tcp://10.0.0.7:9092"),
            ("KARST_SERVICE_HOST", "10.0.0.7"),
            ("KARST_SERVICE_PORT_KAFKA", "9092"),
            ("KARST_BOOTSTRAP_PORT_9092_TCP_ADDR", "10.0.0.8"),
            ("KARST_BOOTSTRAP_PORT_9092_TCP", "tcp://10.0.0.8:9092"),
            ("KARST_NUM_PARTITIONS", "2"),
        ]),
        &[],
    )
    .unwrap();
    assert_eq!(c.num_partitions, 2);
    assert!(BrokerConfig::load(None, env(&[("KARST_PORTS", "1")]), &[]).is_err());
}

#[test]
fn broker_id_is_an_older_name_for_node_id() {
    let mut c = BrokerConfig::default();
    c.set("broker.id", "4").unwrap();
    assert_eq!(c.node_id, 4);
    c.set("node.id", "4").unwrap();
    let err = c.set("node.id", "5").unwrap_err();
    assert!(err.to_string().contains("must equal node.id (5)"), "{err}");
    assert_eq!(c.node_id, 4);
    let mut c = BrokerConfig::default();
    c.set("broker.id", "-1").unwrap();
    assert_eq!(c.node_id, 1);
}

/// Kafka 4.x with no settings: every broker setting lists itself as its
/// DEFAULT_CONFIG synonym when it has a default, and nothing when it has
/// none (the more general synonyms before it are dropped, as Kafka does).
#[test]
fn every_broker_setting_lists_kafkas_default_synonyms() {
    let c = BrokerConfig::default();
    for entry in c.describe() {
        let listed: Vec<_> = entry
            .synonyms
            .iter()
            .map(|s| (s.name.as_str(), s.source))
            .collect();
        let expected: Vec<_> = broker_keys::find(&entry.name)
            .and_then(|k| k.default)
            .map(|_| (entry.name.as_str(), ConfigSource::DefaultConfig))
            .into_iter()
            .collect();
        assert_eq!(listed, expected, "{}", entry.name);
    }
}

#[test]
fn network_threads_follow_the_setting_else_leave_a_core_to_the_io_threads() {
    let set = |value: &str| {
        BrokerConfig::load(
            None,
            env(&[]),
            &[("num.network.threads".into(), value.into())],
        )
        .unwrap()
    };
    assert_eq!(set("3").network_threads(), 3);
    assert_eq!(set("1").network_threads(), 1);
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(
        BrokerConfig::default().network_threads(),
        cores.saturating_sub(1).max(1)
    );
    assert!(
        BrokerConfig::load(
            None,
            env(&[]),
            &[("num.network.threads".into(), "0".into())]
        )
        .is_err()
    );
}
