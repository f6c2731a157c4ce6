//! Pure planning of a replication-factor change: the target replica list of
//! each partition, submitted as a partition reassignment (KIP-455).
//!
//! Growing keeps the current replicas in their order (the preferred leader
//! stays first) and adds, one at a time, the broker on a rack the partition
//! does not use yet with the fewest replicas cluster-wide. Shrinking keeps
//! the leader and the preferred leader and drops the replicas that matter
//! least: out of sync first, then on a rack the partition uses twice, then
//! on the most-loaded broker. Counts are updated as each choice is made, so
//! the partitions of one change spread over the brokers instead of piling
//! onto the one that was emptiest at the start. Ties go round the ring of
//! broker ids from the partition's preferred leader (so equal partitions on
//! different leaders pick different brokers, as Kafka's placement shifts
//! them), then by id when shrinking: the same inputs always give the same
//! plan.

use std::collections::BTreeMap;

use karst_client::{BrokerMetadata, PartitionMetadata, TopicMetadata};

/// A live broker as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    /// Node id.
    pub id: i32,
    /// `broker.rack`, if set.
    pub rack: Option<String>,
}

impl From<&BrokerMetadata> for Broker {
    fn from(b: &BrokerMetadata) -> Self {
        Self {
            id: b.node_id,
            rack: b.rack.clone(),
        }
    }
}

/// Replicas held by each broker, over every topic of the cluster.
pub type ReplicaCounts = BTreeMap<i32, usize>;

/// Counts the replicas of `topics` per broker; every broker of `brokers`
/// appears, with 0 when it holds nothing.
pub fn replica_counts(brokers: &[Broker], topics: &[TopicMetadata]) -> ReplicaCounts {
    let mut counts: ReplicaCounts = brokers.iter().map(|b| (b.id, 0)).collect();
    for replica in topics
        .iter()
        .flat_map(|t| &t.partitions)
        .flat_map(|p| &p.replicas)
    {
        *counts.entry(*replica).or_default() += 1;
    }
    counts
}

/// One partition's move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionTarget {
    /// Partition index.
    pub partition: i32,
    /// Its replicas after the move, the preferred leader first.
    pub replicas: Vec<i32>,
}

/// Why no plan can be made now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicaPlanError {
    /// Fewer live brokers than the replication factor asked.
    #[error(
        "spec.replicas: {replicas} replicas need {replicas} live brokers; {} {} live ({})",
        live.len(),
        if live.len() == 1 { "is" } else { "are" },
        live.iter().map(i32::to_string).collect::<Vec<_>>().join(", ")
    )]
    NotEnoughBrokers {
        /// Replication factor asked.
        replicas: usize,
        /// Live broker ids.
        live: Vec<i32>,
    },
}

/// The moves that give each of `partitions` (at most `limit` of those whose
/// replica count differs) `replicas` replicas, on `brokers`, given the
/// cluster-wide `counts` (updated as the moves are chosen).
pub fn plan_replicas(
    partitions: &[PartitionMetadata],
    replicas: usize,
    brokers: &[Broker],
    counts: &mut ReplicaCounts,
    limit: usize,
) -> Result<Vec<PartitionTarget>, ReplicaPlanError> {
    if brokers.len() < replicas {
        let mut live: Vec<i32> = brokers.iter().map(|b| b.id).collect();
        live.sort_unstable();
        return Err(ReplicaPlanError::NotEnoughBrokers { replicas, live });
    }
    let mut sorted: Vec<&PartitionMetadata> = partitions
        .iter()
        .filter(|p| p.replicas.len() != replicas)
        .collect();
    sorted.sort_by_key(|p| p.partition);
    Ok(sorted
        .into_iter()
        .take(limit)
        .map(|p| {
            let target = if p.replicas.len() < replicas {
                grow(&p.replicas, replicas, brokers, counts)
            } else {
                shrink(p, replicas, brokers, counts)
            };
            PartitionTarget {
                partition: p.partition,
                replicas: target,
            }
        })
        .collect())
}

fn rack_of(brokers: &[Broker], id: i32) -> Option<&str> {
    brokers
        .iter()
        .find(|b| b.id == id)
        .and_then(|b| b.rack.as_deref())
}

/// How many of `replicas` share `id`'s rack (0 for a broker with no rack:
/// without racks there is nothing to spread over).
fn rack_sharing(brokers: &[Broker], replicas: &[i32], id: i32) -> usize {
    let Some(rack) = rack_of(brokers, id) else {
        return 0;
    };
    replicas
        .iter()
        .filter(|r| **r != id && rack_of(brokers, **r) == Some(rack))
        .count()
}

/// How far `to` follows `from` going up the broker ids and wrapping round.
fn ring_distance(from: i32, to: i32) -> i64 {
    (i64::from(to) - i64::from(from)).rem_euclid(1 << 32)
}

/// `current` (never empty: a partition has a replica) grown to `replicas`.
fn grow(
    current: &[i32],
    replicas: usize,
    brokers: &[Broker],
    counts: &mut ReplicaCounts,
) -> Vec<i32> {
    let mut target = current.to_vec();
    while target.len() < replicas {
        let Some(chosen) = brokers
            .iter()
            .filter(|b| !target.contains(&b.id))
            .min_by_key(|b| {
                (
                    rack_sharing(brokers, &target, b.id),
                    counts.get(&b.id).copied().unwrap_or(0),
                    ring_distance(target[0], b.id),
                )
            })
            .map(|b| b.id)
        else {
            break; // unreachable: there are at least `replicas` brokers
        };
        *counts.entry(chosen).or_default() += 1;
        target.push(chosen);
    }
    target
}

fn shrink(
    partition: &PartitionMetadata,
    replicas: usize,
    brokers: &[Broker],
    counts: &mut ReplicaCounts,
) -> Vec<i32> {
    let mut target = partition.replicas.clone();
    // The current leader serves the clients now; the preferred one is where
    // leadership returns. Both stay (only the leader when one must go).
    let leader = partition.leader;
    let preferred = target.first().copied();
    while target.len() > replicas {
        let protected = |id: i32| id == leader || (Some(id) == preferred && target.len() > 2);
        let Some(dropped) = target
            .iter()
            .copied()
            .filter(|id| !protected(*id))
            .max_by_key(|id| {
                (
                    !partition.isr.contains(id),
                    rack_sharing(brokers, &target, *id),
                    counts.get(id).copied().unwrap_or(0),
                    *id,
                )
            })
        else {
            break; // unreachable: at most two are protected and `replicas` >= 1
        };
        if let Some(count) = counts.get_mut(&dropped) {
            *count = count.saturating_sub(1);
        }
        target.retain(|id| *id != dropped);
    }
    target
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brokers(racks: &[Option<&str>]) -> Vec<Broker> {
        racks
            .iter()
            .enumerate()
            .map(|(i, r)| Broker {
                id: i32::try_from(i).unwrap(),
                rack: r.map(str::to_owned),
            })
            .collect()
    }

    fn partition(index: i32, replicas: &[i32]) -> PartitionMetadata {
        PartitionMetadata {
            partition: index,
            leader: replicas[0],
            leader_epoch: 0,
            replicas: replicas.to_vec(),
            isr: replicas.to_vec(),
            error_code: 0,
        }
    }

    fn counts(pairs: &[(i32, usize)]) -> ReplicaCounts {
        pairs.iter().copied().collect()
    }

    fn targets(plan: &[PartitionTarget]) -> Vec<Vec<i32>> {
        plan.iter().map(|t| t.replicas.clone()).collect()
    }

    #[test]
    fn growing_keeps_the_current_replicas_first_and_adds_the_least_loaded() {
        let b = brokers(&[None, None, None]);
        let parts = [partition(0, &[0]), partition(1, &[1]), partition(2, &[2])];
        let mut c = counts(&[(0, 1), (1, 1), (2, 1)]);
        let plan = plan_replicas(&parts, 2, &b, &mut c, usize::MAX).unwrap();
        // Equal loads: each partition takes the broker after its leader.
        assert_eq!(targets(&plan), [vec![0, 1], vec![1, 2], vec![2, 0]]);
        assert_eq!(c, counts(&[(0, 2), (1, 2), (2, 2)]));
        // Unequal loads: the least loaded, whatever the ring says.
        let mut c = counts(&[(0, 1), (1, 5), (2, 1)]);
        let plan = plan_replicas(&parts[..1], 2, &b, &mut c, usize::MAX).unwrap();
        assert_eq!(targets(&plan), [vec![0, 2]]);
    }

    #[test]
    fn growing_to_every_broker_gives_each_partition_all_of_them() {
        let b = brokers(&[None, None, None]);
        let parts = [partition(0, &[2]), partition(1, &[0]), partition(2, &[1])];
        let mut c = replica_counts(&b, &[]);
        let plan = plan_replicas(&parts, 3, &b, &mut c, usize::MAX).unwrap();
        for (t, p) in plan.iter().zip(&parts) {
            assert_eq!(
                t.replicas[0], p.replicas[0],
                "the preferred leader stays first"
            );
            let mut sorted = t.replicas.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2]);
        }
    }

    #[test]
    fn growing_spreads_load_across_partitions() {
        let b = brokers(&[None, None, None, None]);
        let parts: Vec<_> = (0..8).map(|i| partition(i, &[i % 4])).collect();
        let mut c = counts(&[(0, 2), (1, 2), (2, 2), (3, 2)]);
        plan_replicas(&parts, 3, &b, &mut c, usize::MAX).unwrap();
        assert!(c.values().all(|n| *n == 6), "{c:?}");
    }

    #[test]
    fn growing_is_rack_aware_before_load_aware() {
        // Brokers 0,1 in rack a (empty), 2 in rack b (busy), 3 in rack c (busier).
        let b = brokers(&[Some("a"), Some("a"), Some("b"), Some("c")]);
        let parts = [partition(0, &[0])];
        let mut c = counts(&[(0, 0), (1, 0), (2, 10), (3, 20)]);
        let plan = plan_replicas(&parts, 3, &b, &mut c, usize::MAX).unwrap();
        assert_eq!(targets(&plan), [vec![0, 2, 3]], "three distinct racks");
        // Fewer racks than replicas: racks once each, then the least loaded.
        let plan = plan_replicas(&parts, 4, &b, &mut c, usize::MAX).unwrap();
        assert_eq!(targets(&plan), [vec![0, 2, 3, 1]]);
    }

    #[test]
    fn shrinking_keeps_the_leader_and_drops_the_most_loaded() {
        let b = brokers(&[None, None, None]);
        let parts = [partition(0, &[0, 1, 2]), partition(1, &[1, 2, 0])];
        let mut c = counts(&[(0, 5), (1, 9), (2, 7)]);
        let plan = plan_replicas(&parts, 2, &b, &mut c, usize::MAX).unwrap();
        // Partition 0 drops 1 (9); partition 1 keeps leader 1 and drops 2
        // (7 > 5).
        assert_eq!(targets(&plan), [vec![0, 2], vec![1, 0]]);
        assert_eq!(c, counts(&[(0, 5), (1, 8), (2, 6)]));
        // Down to one: only the leader is left.
        let plan = plan_replicas(&parts, 1, &b, &mut c, usize::MAX).unwrap();
        assert_eq!(targets(&plan), [vec![0], vec![1]]);
    }

    #[test]
    fn shrinking_keeps_a_leader_that_is_not_the_preferred_one() {
        let b = brokers(&[None, None, None]);
        let mut p = partition(0, &[0, 1, 2]);
        p.leader = 2;
        let mut c = counts(&[(0, 1), (1, 1), (2, 50)]);
        let plan = plan_replicas(&[p.clone()], 2, &b, &mut c, usize::MAX).unwrap();
        assert_eq!(
            targets(&plan),
            [vec![0, 2]],
            "leader 2 and preferred 0 stay"
        );
        let plan = plan_replicas(&[p], 1, &b, &mut c, usize::MAX).unwrap();
        assert_eq!(targets(&plan), [vec![2]], "one left: the serving leader");
    }

    #[test]
    fn shrinking_drops_out_of_sync_replicas_then_doubled_racks_first() {
        let b = brokers(&[Some("a"), Some("a"), Some("b"), Some("c")]);
        let mut p = partition(0, &[0, 1, 2, 3]);
        let mut c = counts(&[(0, 0), (1, 0), (2, 0), (3, 9)]);
        let plan = plan_replicas(&[p.clone()], 3, &b, &mut c.clone(), usize::MAX).unwrap();
        assert_eq!(targets(&plan), [vec![0, 2, 3]], "rack a was used twice");
        p.isr = vec![0, 1, 3];
        let plan = plan_replicas(&[p], 3, &b, &mut c, usize::MAX).unwrap();
        assert_eq!(targets(&plan), [vec![0, 1, 3]], "2 is out of sync");
    }

    #[test]
    fn partitions_already_at_the_factor_are_left_alone_and_batches_are_bounded() {
        let b = brokers(&[None, None, None]);
        let parts = [
            partition(2, &[2]),
            partition(0, &[0, 1]),
            partition(1, &[1]),
            partition(3, &[0]),
        ];
        let mut c = counts(&[(0, 2), (1, 2), (2, 1)]);
        let plan = plan_replicas(&parts, 2, &b, &mut c, 2).unwrap();
        let moved: Vec<i32> = plan.iter().map(|t| t.partition).collect();
        assert_eq!(moved, [1, 2], "by index, at most the limit");
    }

    #[test]
    fn a_factor_above_the_live_brokers_plans_nothing() {
        let b = brokers(&[None, None]);
        let err = plan_replicas(&[partition(0, &[0])], 3, &b, &mut counts(&[]), 10).unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.replicas: 3 replicas need 3 live brokers; 2 are live (0, 1)"
        );
    }

    #[test]
    fn the_same_inputs_give_the_same_plan() {
        let b = brokers(&[Some("x"), Some("y"), Some("x"), Some("y"), None]);
        let parts: Vec<_> = (0..6).map(|i| partition(i, &[i % 5])).collect();
        let c = counts(&[(0, 3), (1, 1), (2, 4), (3, 1), (4, 2)]);
        let first = plan_replicas(&parts, 3, &b, &mut c.clone(), 100).unwrap();
        let second = plan_replicas(&parts, 3, &b, &mut c.clone(), 100).unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn counts_cover_every_broker_and_every_topic() {
        let b = brokers(&[None, None, None]);
        let topic = |parts: Vec<PartitionMetadata>| TopicMetadata {
            name: "t".into(),
            topic_id: Default::default(),
            is_internal: false,
            partitions: parts,
        };
        let c = replica_counts(
            &b,
            &[
                topic(vec![partition(0, &[0, 1])]),
                topic(vec![partition(0, &[1]), partition(1, &[1, 0])]),
            ],
        );
        assert_eq!(c, counts(&[(0, 2), (1, 3), (2, 0)]));
    }
}
