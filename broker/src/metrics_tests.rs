//! Tests of the broker's metrics: names, labels, the text format, and
//! docs/metrics.md kept in step with the registry.

use super::*;

/// docs/metrics.md lists every metric the broker registers; set
/// `KARST_BLESS=1` to rewrite the list.
#[test]
fn metrics_broker_list_matches_the_code() {
    let mut collectors = Metrics::new().collectors();
    collectors.extend(crate::replica::ReplicationMetrics::new().collectors());
    collectors.extend(crate::log::log_io_metrics().collectors());
    crate::doc_section::check(
        "docs/metrics.md",
        "metrics_broker",
        "broker/src/metrics.rs, broker/src/replica/metrics.rs and broker/src/log/io_metrics.rs",
        &crate::doc_section::metrics_table(&collectors),
        "cargo test -p karst-broker --lib metrics_broker",
    );
}

#[test]
fn requests_and_topics_show_in_the_text_format() {
    let m = Metrics::new();
    m.observe_request(ApiKey::Produce as i16, 0.002);
    m.topic_bytes_in("orders", 100, 2);
    m.set_log_size("orders", 0, 4096);
    let text = m.encode_text();
    assert!(text.contains("karst_requests_total{api=\"Produce\"} 1"));
    assert!(text.contains("karst_topic_bytes_in_total{topic=\"orders\"} 100"));
    assert!(text.contains("karst_log_size_bytes{partition=\"0\",topic=\"orders\"} 4096"));
    assert!(text.contains("karst_request_duration_seconds_count{api=\"Produce\"} 1"));
}

#[test]
fn cluster_gauges_show_fencing_and_drop_lag_after_losing_leadership() {
    let m = Metrics::new();
    let mut view = ClusterView {
        active_controller: true,
        registered_brokers: 3,
        fenced_brokers: 1,
        controlled_shutdown_brokers: 1,
        broker_state: Some(BrokerState::Running),
        broker_fenced: false,
        broker_epoch: 7,
        applied_index: 40,
        log_end_index: 42,
        replica_lag: vec![(1, 0), (2, 5)],
    };
    m.set_cluster(&view);
    let text = m.encode_text();
    for line in [
        "karst_fenced_brokers 1",
        "karst_brokers_in_controlled_shutdown 1",
        "karst_broker_state 3",
        "karst_broker_fenced 0",
        "karst_broker_epoch 7",
        "karst_metadata_log_end_index 42",
        "karst_metadata_replica_lag{node_id=\"2\"} 5",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    view.active_controller = false;
    view.replica_lag.clear();
    m.set_cluster(&view);
    assert!(!m.encode_text().contains("karst_metadata_replica_lag{"));

    // Once shutdown begins, its steps alone write the broker state.
    m.set_shutdown_state(BrokerState::PendingControlledShutdown);
    view.broker_state = Some(BrokerState::Recovery);
    m.set_cluster(&view);
    assert!(m.encode_text().contains("karst_broker_state 6"));
}

#[test]
fn errors_are_counted_by_api_and_kafka_error_name() {
    let m = Metrics::new();
    m.request_error(ApiKey::Produce as i16, 6);
    m.request_error(ApiKey::Produce as i16, 0);
    m.request_error(ApiKey::Metadata as i16, 3);
    m.request_error(ApiKey::Metadata as i16, 3);
    m.request_error(-7, 3);
    let text = m.encode_text();
    assert!(
        text.contains(
            "karst_request_errors_total{api=\"Produce\",error=\"NOT_LEADER_OR_FOLLOWER\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains(
        "karst_request_errors_total{api=\"Metadata\",error=\"UNKNOWN_TOPIC_OR_PARTITION\"} 2"
    ));
    assert_eq!(error_name(9999), "UNKNOWN_9999");
}

#[test]
fn removing_a_topic_keeps_other_topics_series() {
    let m = Metrics::new();
    m.set_log_size("orders", 0, 10);
    m.set_log_size("orders", 1, 20);
    m.set_log_size("payments", 0, 30);
    m.topic_bytes_out("orders", 5);
    m.remove_topic("orders");
    let text = m.encode_text();
    assert!(!text.contains("topic=\"orders\""), "{text}");
    assert!(text.contains("karst_log_size_bytes{partition=\"0\",topic=\"payments\"} 30"));
}

#[test]
fn connections_are_gauged_and_counted() {
    let m = Metrics::new();
    m.connection_opened();
    m.connection_opened();
    m.connection_closed();
    m.frame_rejected();
    let text = m.encode_text();
    assert!(text.contains("karst_connections 1"));
    assert!(text.contains("karst_connections_accepted_total 2"));
    assert!(text.contains("karst_connections_closed_total 1"));
    assert!(text.contains("karst_frames_rejected_total 1"));
}
