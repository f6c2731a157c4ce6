//! Replication health as Kafka reports it: under-replicated, under-min-ISR
//! and offline partitions, ISR shrinks and expands, follower lag. Counted
//! by the replica manager; registered in the broker's registry at start.

use std::collections::HashSet;

use parking_lot::Mutex;
use prometheus::core::Collector;
use prometheus::{IntCounter, IntGauge, IntGaugeVec, Opts};

use crate::metadata::MetadataImage;

/// Per-partition gauges of the partitions this broker leads (Kafka's
/// `kafka.cluster:type=Partition` ReplicasCount / InSyncReplicasCount, and
/// the reassignment's adding / removing replicas), labelled by topic and
/// partition; series of partitions no longer led here are removed.
#[derive(Debug, Clone)]
pub(super) struct PartitionGauges {
    replicas: IntGaugeVec,
    in_sync: IntGaugeVec,
    adding: IntGaugeVec,
    removing: IntGaugeVec,
    reassigning: IntGauge,
    /// (topic, partition) with series, to remove the ones that go.
    shown: std::sync::Arc<Mutex<HashSet<(String, String)>>>,
}

#[derive(Debug, Clone)]
pub struct ReplicationMetrics {
    pub(super) under_replicated: IntGauge,
    pub(super) under_min_isr: IntGauge,
    pub(super) offline: IntGauge,
    pub(super) isr_shrinks: IntCounter,
    pub(super) isr_expands: IntCounter,
    pub(super) max_lag_records: IntGauge,
    pub(super) max_follower_lag_ms: IntGauge,
    pub(super) leader_count: IntGauge,
    pub(super) partitions: PartitionGauges,
}

fn partition_gauge(name: &str, help: &str) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), &["topic", "partition"]).expect("valid metric")
}

impl PartitionGauges {
    fn new() -> Self {
        Self {
            replicas: partition_gauge(
                "karst_partition_replicas",
                "Replicas of a partition led here (during a reassignment: target plus leaving ones)",
            ),
            in_sync: partition_gauge(
                "karst_partition_in_sync_replicas",
                "In-sync replicas of a partition led here",
            ),
            adding: partition_gauge(
                "karst_partition_adding_replicas",
                "Replicas a reassignment is adding to a partition led here (0 when none is in progress)",
            ),
            removing: partition_gauge(
                "karst_partition_removing_replicas",
                "Replicas a reassignment will remove from a partition led here once the added ones are in sync",
            ),
            reassigning: IntGauge::new(
                "karst_reassigning_partitions",
                "Partitions led here with a reassignment in progress; the cluster sum is the count",
            )
            .expect("valid metric"),
            shown: Default::default(),
        }
    }

    /// Sets the gauges from `image` for the partitions `node_id` leads.
    pub(super) fn report(&self, image: &MetadataImage, node_id: i32) {
        let mut now_shown = HashSet::new();
        let mut reassigning = 0;
        for topic in image.topics.values() {
            for p in topic.partitions.iter().filter(|p| p.leader == node_id) {
                let labels = [topic.name.as_str(), &p.partition.to_string()];
                self.replicas
                    .with_label_values(&labels)
                    .set(p.replicas.len() as i64);
                self.in_sync
                    .with_label_values(&labels)
                    .set(p.isr.len() as i64);
                self.adding
                    .with_label_values(&labels)
                    .set(p.adding_replicas.len() as i64);
                self.removing
                    .with_label_values(&labels)
                    .set(p.removing_replicas.len() as i64);
                reassigning +=
                    i64::from(!p.adding_replicas.is_empty() || !p.removing_replicas.is_empty());
                now_shown.insert((labels[0].to_owned(), labels[1].to_owned()));
            }
        }
        self.reassigning.set(reassigning);
        let mut shown = self.shown.lock();
        for (topic, partition) in shown.difference(&now_shown) {
            for gauge in [&self.replicas, &self.in_sync, &self.adding, &self.removing] {
                let _ = gauge.remove_label_values(&[topic, partition]);
            }
        }
        *shown = now_shown;
    }

    fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.replicas.clone()),
            Box::new(self.in_sync.clone()),
            Box::new(self.adding.clone()),
            Box::new(self.removing.clone()),
            Box::new(self.reassigning.clone()),
        ]
    }
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("valid metric")
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("valid metric")
}

impl ReplicationMetrics {
    pub(crate) fn new() -> Self {
        Self {
            under_replicated: gauge(
                "karst_under_replicated_partitions",
                "Partitions led here whose ISR is smaller than their replica set",
            ),
            under_min_isr: gauge(
                "karst_under_min_isr_partitions",
                "Partitions led here whose ISR is smaller than min.insync.replicas (acks=all refused)",
            ),
            offline: gauge(
                "karst_offline_partitions",
                "Partitions without a leader; reported by the active controller only (0 elsewhere), so the cluster sum is the count",
            ),
            isr_shrinks: counter(
                "karst_isr_shrinks_total",
                "ISR shrinks this broker asked for as leader and the controller accepted",
            ),
            isr_expands: counter(
                "karst_isr_expands_total",
                "ISR expands this broker asked for as leader and the controller accepted",
            ),
            max_lag_records: gauge(
                "karst_replica_max_lag_records",
                "Largest lag in records of a partition this broker follows (leader high watermark - local log end)",
            ),
            max_follower_lag_ms: gauge(
                "karst_follower_max_lag_ms",
                "On the leader: longest time since an in-sync follower last caught up",
            ),
            leader_count: gauge("karst_leader_partitions", "Partitions this broker leads"),
            partitions: PartitionGauges::new(),
        }
    }

    /// Every collector, for the broker's registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        let mut collectors: Vec<Box<dyn Collector>> = vec![
            Box::new(self.under_replicated.clone()),
            Box::new(self.under_min_isr.clone()),
            Box::new(self.offline.clone()),
            Box::new(self.isr_shrinks.clone()),
            Box::new(self.isr_expands.clone()),
            Box::new(self.max_lag_records.clone()),
            Box::new(self.max_follower_lag_ms.clone()),
            Box::new(self.leader_count.clone()),
        ];
        collectors.extend(self.partitions.collectors());
        collectors
    }
}
