//! Replication health as Kafka reports it: under-replicated, under-min-ISR
//! and offline partitions, ISR shrinks and expands, follower lag. Counted
//! by the replica manager; registered in the broker's registry at start.

use prometheus::core::Collector;
use prometheus::{IntCounter, IntGauge};

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
        }
    }

    /// Every collector, for the broker's registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.under_replicated.clone()),
            Box::new(self.under_min_isr.clone()),
            Box::new(self.offline.clone()),
            Box::new(self.isr_shrinks.clone()),
            Box::new(self.isr_expands.clone()),
            Box::new(self.max_lag_records.clone()),
            Box::new(self.max_follower_lag_ms.clone()),
            Box::new(self.leader_count.clone()),
        ]
    }
}
