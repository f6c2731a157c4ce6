//! Whether restarting a broker keeps every partition writable: a partition
//! whose in-sync replicas would drop below `min.insync.replicas` blocks the
//! restart. A partition whose replication factor is at most
//! `min.insync.replicas` never blocks (as Strimzi learned: it cannot take
//! acks=all writes during any single-broker restart anyway, so waiting for it
//! would stop every roll for good); RF=1 topics are such partitions.

/// One partition's replicas as the brokers report them (Metadata), with its
/// topic's `min.insync.replicas` (DescribeConfigs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReplicas {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Assigned replicas (node ids).
    pub replicas: Vec<i32>,
    /// In-sync replicas (node ids).
    pub isr: Vec<i32>,
    /// The topic's `min.insync.replicas` (at least 1).
    pub min_isr: i32,
}

impl PartitionReplicas {
    fn rf(&self) -> i32 {
        i32::try_from(self.replicas.len()).unwrap_or(i32::MAX)
    }

    fn isr_len(&self) -> i32 {
        i32::try_from(self.isr.len()).unwrap_or(i32::MAX)
    }

    /// `topic-partition (ISR [..], min.insync.replicas=N)`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{}-{} (ISR {:?}, min.insync.replicas={})",
            self.topic, self.partition, self.isr, self.min_isr
        )
    }
}

/// The partitions hosted on `broker` whose ISR would drop below
/// `min.insync.replicas` if it went down now.
pub fn blocking(broker: i32, partitions: &[PartitionReplicas]) -> Vec<&PartitionReplicas> {
    partitions
        .iter()
        .filter(|p| p.replicas.contains(&broker))
        .filter(|p| p.rf() > p.min_isr.max(1))
        .filter(|p| p.isr.contains(&broker) && p.isr_len() <= p.min_isr.max(1))
        .collect()
}

/// The partitions `broker` hosts but is not in sync for: a restarted broker
/// is back only once it caught up on all of them.
pub fn out_of_sync(broker: i32, partitions: &[PartitionReplicas]) -> Vec<&PartitionReplicas> {
    partitions
        .iter()
        .filter(|p| p.replicas.contains(&broker) && !p.isr.contains(&broker))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(replicas: &[i32], isr: &[i32], min_isr: i32) -> PartitionReplicas {
        PartitionReplicas {
            topic: "t".into(),
            partition: 0,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            min_isr,
        }
    }

    #[test]
    fn a_full_isr_above_min_isr_lets_any_replica_restart() {
        let p = [partition(&[0, 1, 2], &[0, 1, 2], 2)];
        for broker in 0..3 {
            assert!(blocking(broker, &p).is_empty(), "broker {broker}");
        }
    }

    #[test]
    fn an_isr_at_min_isr_blocks_its_members_only() {
        let p = [partition(&[0, 1, 2], &[0, 1], 2)];
        assert_eq!(blocking(0, &p).len(), 1);
        assert_eq!(blocking(1, &p).len(), 1);
        assert!(
            blocking(2, &p).is_empty(),
            "broker 2 is out of the ISR: its restart changes nothing"
        );
        assert!(blocking(3, &p).is_empty(), "broker 3 hosts no replica");
        assert_eq!(p[0].describe(), "t-0 (ISR [0, 1], min.insync.replicas=2)");
    }

    #[test]
    fn partitions_with_rf_at_most_min_isr_never_block() {
        let rf1 = [partition(&[0], &[0], 1)];
        assert!(blocking(0, &rf1).is_empty(), "RF=1 (every topic today)");
        let rf2_min2 = [partition(&[0, 1], &[0, 1], 2)];
        assert!(blocking(0, &rf2_min2).is_empty());
        let rf3_min3 = [partition(&[0, 1, 2], &[0, 1, 2], 3)];
        assert!(blocking(2, &rf3_min3).is_empty());
    }

    #[test]
    fn an_under_replicated_partition_blocks_its_last_in_sync_members() {
        let p = [partition(&[0, 1, 2], &[1], 2)];
        assert_eq!(blocking(1, &p).len(), 1, "would leave no replica in sync");
        assert!(blocking(0, &p).is_empty());
        let zero_min = [partition(&[0, 1], &[0], 0)];
        assert_eq!(
            blocking(0, &zero_min).len(),
            1,
            "min.insync.replicas < 1 counts as 1"
        );
    }

    #[test]
    fn a_broker_is_back_when_it_is_in_every_isr_it_belongs_to() {
        let p = [
            partition(&[0, 1, 2], &[0, 1], 2),
            partition(&[1, 2], &[1, 2], 1),
        ];
        assert_eq!(out_of_sync(2, &p).len(), 1);
        assert!(out_of_sync(1, &p).is_empty());
    }
}
