//! The group coordinator follows leadership of `__consumer_offsets` (as
//! Kafka's `onElection` / `onResignation`): when this node becomes leader of
//! an offsets partition it loads that partition's groups and committed
//! offsets, and when it stops leading one it drops them, so the groups'
//! members are sent to the new coordinator with NOT_COORDINATOR.

use std::collections::HashMap;

use kafka_protocol::ResponseError;

use super::GroupCoordinator;
use super::store::{self, OFFSETS_TOPIC};
use crate::metadata::{MetadataImage, MetadataListener, MetadataRecord};

impl GroupCoordinator {
    /// The offsets partitions `image` has this node lead, with their leader
    /// epochs.
    fn led_offsets_partitions(&self, image: &MetadataImage) -> HashMap<i32, i32> {
        let Some(topic) = image.topic(OFFSETS_TOPIC) else {
            return HashMap::new();
        };
        topic
            .partitions
            .iter()
            .filter(|p| p.leader == self.config.node_id)
            .map(|p| (p.partition, p.leader_epoch))
            .collect()
    }

    /// Stops coordinating the groups of `partition`: they leave memory, and
    /// members waiting on a rebalance are told NOT_COORDINATOR.
    fn resign(&self, partition: i32) {
        self.coordinated.write().remove(&partition);
        let dropped = self.take_groups_of(partition);
        for group in &dropped {
            group.lock().fail_waiters(ResponseError::NotCoordinator);
        }
        if !dropped.is_empty() {
            tracing::info!(
                partition,
                groups = dropped.len(),
                "no longer leading this {OFFSETS_TOPIC} partition; its groups were unloaded"
            );
        }
    }

    /// Loads the groups of `partition` from its log, then coordinates them.
    /// Nothing is answered for them until the load is complete.
    fn elect(&self, partition: i32, leader_epoch: i32) {
        // Groups left over from an earlier term (or created by a request
        // racing the last resignation) are replaced by what the log says.
        self.take_groups_of(partition);
        store::load_partition(self, partition);
        self.coordinated.write().insert(partition, leader_epoch);
    }
}

/// Called in metadata log order: every change of leader (or leader epoch)
/// of an offsets partition resigns the old term and, if this node leads
/// the new one, loads it.
impl MetadataListener for GroupCoordinator {
    fn publish(&self, image: &MetadataImage, _delta: &[MetadataRecord]) {
        let led = self.led_offsets_partitions(image);
        let coordinated = self.coordinated.read().clone();
        for (partition, epoch) in &coordinated {
            if led.get(partition) != Some(epoch) {
                self.resign(*partition);
            }
        }
        for (partition, epoch) in led {
            if coordinated.get(&partition) != Some(&epoch) {
                self.elect(partition, epoch);
            }
        }
    }
}

#[cfg(test)]
#[path = "leadership_tests.rs"]
mod tests;
