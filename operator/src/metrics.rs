//! Prometheus metrics of the operator: reconciliations, failures by reason,
//! durations, and per-cluster readiness. Served on `/metrics`.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Label value of the KafkaCluster controller.
pub const CLUSTER_CONTROLLER: &str = "kafkacluster";
/// Label value of the KafkaTopic controller.
pub const TOPIC_CONTROLLER: &str = "kafkatopic";

/// Which clusters have per-cluster series.
#[derive(Debug, Default)]
struct ClusterSeries {
    /// `(namespace, cluster)` of every cluster with series, so that those of
    /// clusters gone while the operator was not watching can be found.
    known: BTreeSet<(String, String)>,
    /// Clusters seen deleted: a reconcile that was already running when the
    /// deletion came must not bring their series back.
    deleted: BTreeSet<(String, String)>,
}

/// All operator metrics, registered in one registry.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    reconciliations: IntCounterVec,
    failures: IntCounterVec,
    duration: HistogramVec,
    cluster_ready: IntGaugeVec,
    ready_brokers: IntGaugeVec,
    broker_restarts: IntCounterVec,
    rolling_update: IntGaugeVec,
    rolls_finished: IntCounterVec,
    partition_moves: IntCounterVec,
    leader: IntGauge,
    clusters: Arc<Mutex<ClusterSeries>>,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let reconciliations = IntCounterVec::new(
            Opts::new(
                "karst_operator_reconciliations_total",
                "Reconciliations started",
            ),
            &["controller"],
        )
        .expect("valid metric");
        let failures = IntCounterVec::new(
            Opts::new(
                "karst_operator_reconcile_failures_total",
                "Reconciliations that failed, by reason",
            ),
            &["controller", "reason"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "karst_operator_reconcile_duration_seconds",
                "Reconciliation duration",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["controller"],
        )
        .expect("valid metric");
        let cluster_ready = IntGaugeVec::new(
            Opts::new(
                "karst_operator_cluster_ready",
                "1 when the KafkaCluster's Ready condition is True",
            ),
            &["namespace", "cluster"],
        )
        .expect("valid metric");
        let ready_brokers = IntGaugeVec::new(
            Opts::new(
                "karst_operator_cluster_ready_brokers",
                "Ready brokers per KafkaCluster",
            ),
            &["namespace", "cluster"],
        )
        .expect("valid metric");
        let broker_restarts = IntCounterVec::new(
            Opts::new(
                "karst_operator_broker_restarts_total",
                "Broker Pods restarted by rolling updates, by reason (config_changed, image_changed, manual)",
            ),
            &["namespace", "cluster", "reason"],
        )
        .expect("valid metric");
        let rolling_update = IntGaugeVec::new(
            Opts::new(
                "karst_operator_cluster_rolling_update",
                "1 while a rolling update of the KafkaCluster runs (or is stopped on a broker)",
            ),
            &["namespace", "cluster"],
        )
        .expect("valid metric");
        let rolls_finished = IntCounterVec::new(
            Opts::new(
                "karst_operator_rolling_updates_finished_total",
                "Rolling updates of the KafkaCluster that finished (every broker back on the current template)",
            ),
            &["namespace", "cluster"],
        )
        .expect("valid metric");
        let partition_moves = IntCounterVec::new(
            Opts::new(
                "karst_operator_partition_moves_total",
                "Partition reassignments the operator submitted to scale the KafkaCluster",
            ),
            &["namespace", "cluster"],
        )
        .expect("valid metric");
        let leader = IntGauge::new(
            "karst_operator_leader",
            "1 while this process holds the leader Lease",
        )
        .expect("valid metric");
        let metrics = Self {
            registry,
            reconciliations,
            failures,
            duration,
            cluster_ready,
            ready_brokers,
            broker_restarts,
            rolling_update,
            rolls_finished,
            partition_moves,
            leader,
            clusters: Arc::default(),
        };
        for c in metrics.collectors() {
            metrics
                .registry
                .register(c)
                .expect("metric registered once");
        }
        metrics
    }

    /// Every collector; docs/metrics.md lists them.
    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.reconciliations.clone()),
            Box::new(self.failures.clone()),
            Box::new(self.duration.clone()),
            Box::new(self.cluster_ready.clone()),
            Box::new(self.ready_brokers.clone()),
            Box::new(self.broker_restarts.clone()),
            Box::new(self.rolling_update.clone()),
            Box::new(self.rolls_finished.clone()),
            Box::new(self.partition_moves.clone()),
            Box::new(self.leader.clone()),
        ]
    }

    /// Counts a reconciliation and returns a timer that records its duration when dropped.
    pub fn reconcile_started(&self, controller: &str) -> prometheus::HistogramTimer {
        self.reconciliations.with_label_values(&[controller]).inc();
        self.duration.with_label_values(&[controller]).start_timer()
    }

    /// Counts a failure with its reason label.
    pub fn reconcile_failed(&self, controller: &str, reason: &str) {
        self.failures.with_label_values(&[controller, reason]).inc();
    }

    /// Records a cluster's readiness (ignored once the cluster is seen deleted).
    pub fn set_cluster_state(
        &self,
        namespace: &str,
        cluster: &str,
        ready: bool,
        ready_brokers: i32,
    ) {
        let key = (namespace.to_owned(), cluster.to_owned());
        let mut series = self.cluster_series();
        if series.deleted.contains(&key) {
            return;
        }
        self.cluster_ready
            .with_label_values(&[namespace, cluster])
            .set(i64::from(ready));
        self.ready_brokers
            .with_label_values(&[namespace, cluster])
            .set(i64::from(ready_brokers));
        series.known.insert(key);
    }

    /// Counts a broker restarted by a rolling update (ignored once the cluster is seen deleted).
    pub fn broker_restarted(&self, namespace: &str, cluster: &str, reason: &str) {
        let key = (namespace.to_owned(), cluster.to_owned());
        let mut series = self.cluster_series();
        if series.deleted.contains(&key) {
            return;
        }
        self.broker_restarts
            .with_label_values(&[namespace, cluster, reason])
            .inc();
        series.known.insert(key);
    }

    /// Counts a finished rolling update.
    pub fn roll_finished(&self, namespace: &str, cluster: &str) {
        let key = (namespace.to_owned(), cluster.to_owned());
        let mut series = self.cluster_series();
        if series.deleted.contains(&key) {
            return;
        }
        self.rolls_finished
            .with_label_values(&[namespace, cluster])
            .inc();
        series.known.insert(key);
    }

    /// Counts partition reassignments submitted by a scale.
    pub fn partitions_moved(&self, namespace: &str, cluster: &str, count: usize) {
        let key = (namespace.to_owned(), cluster.to_owned());
        let mut series = self.cluster_series();
        if series.deleted.contains(&key) {
            return;
        }
        self.partition_moves
            .with_label_values(&[namespace, cluster])
            .inc_by(u64::try_from(count).unwrap_or(u64::MAX));
        series.known.insert(key);
    }

    /// Records whether a rolling update of the cluster runs.
    pub fn set_rolling_update(&self, namespace: &str, cluster: &str, rolling: bool) {
        let key = (namespace.to_owned(), cluster.to_owned());
        let mut series = self.cluster_series();
        if series.deleted.contains(&key) {
            return;
        }
        self.rolling_update
            .with_label_values(&[namespace, cluster])
            .set(i64::from(rolling));
        series.known.insert(key);
    }

    fn cluster_series(&self) -> std::sync::MutexGuard<'_, ClusterSeries> {
        self.clusters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A cluster exists (again): its series may be recorded.
    pub fn cluster_exists(&self, namespace: &str, cluster: &str) {
        self.cluster_series()
            .deleted
            .remove(&(namespace.to_owned(), cluster.to_owned()));
    }

    /// Forgets every cluster not in `existing` (after a re-list of the clusters).
    pub fn retain_clusters(&self, existing: &BTreeSet<(String, String)>) {
        let gone: Vec<(String, String)> = self
            .cluster_series()
            .known
            .iter()
            .filter(|c| !existing.contains(*c))
            .cloned()
            .collect();
        for (namespace, cluster) in gone {
            if self.remove_cluster(&namespace, &cluster) {
                tracing::info!(%namespace, %cluster, "KafkaCluster deleted; its metrics are removed");
            }
        }
    }

    /// Forgets a deleted cluster; returns whether it had series.
    pub fn remove_cluster(&self, namespace: &str, cluster: &str) -> bool {
        let key = (namespace.to_owned(), cluster.to_owned());
        let mut series = self.cluster_series();
        let _ = self
            .cluster_ready
            .remove_label_values(&[namespace, cluster]);
        let _ = self
            .ready_brokers
            .remove_label_values(&[namespace, cluster]);
        let _ = self
            .rolling_update
            .remove_label_values(&[namespace, cluster]);
        let _ = self
            .rolls_finished
            .remove_label_values(&[namespace, cluster]);
        let _ = self
            .partition_moves
            .remove_label_values(&[namespace, cluster]);
        for reason in crate::cluster::rollout::plan::RestartReason::ALL {
            let _ = self
                .broker_restarts
                .remove_label_values(&[namespace, cluster, reason.label()]);
        }
        series.deleted.insert(key.clone());
        series.known.remove(&key)
    }

    /// Records whether this process leads.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Total reconciliations of `controller` so far.
    pub fn reconciliations(&self, controller: &str) -> u64 {
        self.reconciliations.with_label_values(&[controller]).get()
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/metrics.md lists every metric the operator registers; set
    /// `KARST_BLESS=1` to rewrite the list.
    #[test]
    fn metrics_operator_list_matches_the_code() {
        karst_broker::doc_section::check(
            "docs/metrics.md",
            "metrics_operator",
            "operator/src/metrics.rs",
            &karst_broker::doc_section::metrics_table(&Metrics::new().collectors()),
            "cargo test -p karst-operator --lib metrics_operator",
        );
    }

    #[test]
    fn counts_and_renders() {
        let m = Metrics::new();
        drop(m.reconcile_started(CLUSTER_CONTROLLER));
        m.reconcile_failed(CLUSTER_CONTROLLER, "apply");
        m.set_cluster_state("ns", "demo", true, 3);
        let text = m.render();
        assert!(
            text.contains("karst_operator_reconciliations_total{controller=\"kafkacluster\"} 1"),
            "{text}"
        );
        assert!(text.contains("karst_operator_reconcile_failures_total{controller=\"kafkacluster\",reason=\"apply\"} 1"));
        assert!(
            text.contains(
                "karst_operator_cluster_ready_brokers{cluster=\"demo\",namespace=\"ns\"} 3"
            )
        );
        assert_eq!(m.reconciliations(CLUSTER_CONTROLLER), 1);
    }

    #[test]
    fn clusters_gone_are_forgotten() {
        let m = Metrics::new();
        m.set_cluster_state("ns", "kept", true, 1);
        m.set_cluster_state("ns", "gone", false, 0);
        m.broker_restarted("ns", "gone", "config_changed");
        m.set_rolling_update("ns", "gone", true);
        m.roll_finished("ns", "gone");
        assert!(m.remove_cluster("ns", "kept"));
        assert!(!m.remove_cluster("ns", "kept"), "already gone");
        m.set_cluster_state("ns", "kept", true, 1);
        assert!(
            !m.render().contains("cluster=\"kept\""),
            "a late reconcile of a deleted cluster records nothing"
        );
        m.cluster_exists("ns", "kept");
        m.set_cluster_state("ns", "kept", true, 1);
        m.retain_clusters(&BTreeSet::from([("ns".to_owned(), "kept".to_owned())]));
        let text = m.render();
        assert!(text.contains("cluster=\"kept\""), "{text}");
        assert!(
            !text.contains("karst_operator_broker_restarts_total{"),
            "{text}"
        );
        assert!(!text.contains("cluster=\"gone\""), "{text}");
    }
}
