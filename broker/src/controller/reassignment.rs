//! Partition reassignment as KRaft's controller runs it (KIP-455).
//!
//! A reassignment never copies data itself: it widens the replica set to
//! the target and the current replicas together, so the replicas being
//! added start following the leader like any follower. When the leader's
//! AlterPartition brings the last of them into the ISR, the same decision
//! completes the move: the replica set becomes the target, the replicas
//! being removed leave the ISR, and leadership moves if the leader was one
//! of them. Until then a reassignment can be replaced by another or
//! cancelled, which restores the replica set it started from.

use uuid::Uuid;

use super::partition_change::{changed, is_live};
use super::topics::TopicError;
use crate::metadata::{MetadataImage, MetadataRecord, PartitionImage};

/// One partition of an AlterPartitionReassignments request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reassignment {
    pub topic: String,
    pub partition: i32,
    /// The replicas the partition should end up on, the first preferred as
    /// leader; `None` cancels the reassignment in progress.
    pub target: Option<Vec<i32>>,
    /// KIP-860: when `false`, a target of another size than the replica
    /// set is refused with INVALID_REPLICATION_FACTOR.
    #[serde(default = "allowed")]
    pub allow_replication_factor_change: bool,
}

fn allowed() -> bool {
    true
}

/// Decides every partition of a request on its own: the records of those
/// accepted and, in request order, each one's outcome. Each partition is
/// decided against the image the earlier ones left.
pub(crate) fn alter_reassignments(
    image: &MetadataImage,
    reassignments: &[Reassignment],
) -> (Vec<MetadataRecord>, Vec<Result<(), TopicError>>) {
    let mut scratch = image.clone();
    let mut records = Vec::new();
    let mut outcomes = Vec::with_capacity(reassignments.len());
    for reassignment in reassignments {
        match reassign(&scratch, reassignment) {
            Ok(Some(record)) => {
                scratch.apply(&record);
                records.push(record);
                outcomes.push(Ok(()));
            }
            Ok(None) => outcomes.push(Ok(())),
            Err(e) => outcomes.push(Err(e)),
        }
    }
    (records, outcomes)
}

/// The record for one partition, or `None` when nothing changes.
fn reassign(
    image: &MetadataImage,
    reassignment: &Reassignment,
) -> Result<Option<MetadataRecord>, TopicError> {
    let Reassignment {
        topic,
        partition,
        target,
        allow_replication_factor_change,
    } = reassignment;
    let (topic_id, current) = find_partition(image, topic, *partition)?;
    let next = match target {
        None if !current.is_reassigning() => {
            return Err(TopicError::NoReassignmentInProgress(format!(
                "no reassignment of partition {topic}-{partition} is in progress"
            )));
        }
        None => revert(image, current),
        Some(target) => {
            check_target(image, target)?;
            let base = if current.is_reassigning() {
                revert(image, current)
            } else {
                current.clone()
            };
            if !allow_replication_factor_change && target.len() != base.replicas.len() {
                return Err(TopicError::InvalidReplicationFactor(format!(
                    "the target replicas {target:?} would change the replication factor {} \
                     and allow_replication_factor_change is false",
                    base.replicas.len()
                )));
            }
            if base.replicas == *target && !current.is_reassigning() {
                return Ok(None);
            }
            let started = start(&base, target, current.partition_epoch + 1);
            complete(image, &started).unwrap_or(started)
        }
    };
    Ok(Some(next.to_record(topic_id)))
}

/// The partition `topic`-`partition` and its topic's id.
pub(crate) fn find_partition<'a>(
    image: &'a MetadataImage,
    topic: &str,
    partition: i32,
) -> Result<(Uuid, &'a PartitionImage), TopicError> {
    let topic = image
        .topic(topic)
        .ok_or_else(|| TopicError::UnknownPartition(format!("topic '{topic}' does not exist")))?;
    let current = usize::try_from(partition)
        .ok()
        .and_then(|i| topic.partitions.get(i))
        .ok_or_else(|| {
            TopicError::UnknownPartition(format!(
                "topic '{}' has no partition {partition}",
                topic.name
            ))
        })?;
    Ok((topic.id, current))
}

/// Refuses a target Kafka would refuse: empty, with a broker twice, or
/// with a broker that is not registered.
fn check_target(image: &MetadataImage, target: &[i32]) -> Result<(), TopicError> {
    if target.is_empty() {
        return Err(TopicError::InvalidReplicaAssignment(
            "the target replica list of a reassignment is empty".into(),
        ));
    }
    if let Some((i, id)) = target
        .iter()
        .enumerate()
        .find(|(i, id)| target[..*i].contains(id))
    {
        return Err(TopicError::InvalidReplicaAssignment(format!(
            "the target replicas {target:?} name broker {id} twice (position {i})"
        )));
    }
    if let Some(id) = target.iter().find(|id| !image.brokers.contains_key(id)) {
        return Err(TopicError::InvalidReplicaAssignment(format!(
            "the target replicas {target:?} include broker {id}, which is not registered"
        )));
    }
    Ok(())
}

/// `base` (no reassignment in progress) moving to `target`: replicas are
/// the target then the current ones it drops; the leader stays.
fn start(base: &PartitionImage, target: &[i32], partition_epoch: i32) -> PartitionImage {
    let removing: Vec<i32> = without(&base.replicas, target);
    let mut replicas = target.to_vec();
    replicas.extend(&removing);
    PartitionImage {
        adding_replicas: without(target, &base.replicas),
        removing_replicas: removing,
        replicas,
        partition_epoch,
        ..base.clone()
    }
}

/// `current` with its reassignment undone: the replicas it was adding
/// leave the replica set and the ISR; if one of them led, the first live
/// in-sync original replica leads (or none, -1, until one comes back). The
/// original replicas keep the order of the move (target first), as KRaft's
/// revert does: the set is restored, the preferred leader may differ.
fn revert(image: &MetadataImage, current: &PartitionImage) -> PartitionImage {
    let adding = &current.adding_replicas;
    let isr = without(&current.isr, adding);
    let leader = if adding.contains(&current.leader) {
        first_eligible(image, &current.replicas, &isr).unwrap_or(-1)
    } else {
        current.leader
    };
    let mut next = changed(current, leader, isr);
    next.replicas = without(&current.replicas, adding);
    next.adding_replicas.clear();
    next.removing_replicas.clear();
    next
}

/// The move of `p` completed, if every replica it adds is in sync and a
/// live in-sync target replica can lead: replicas become the target, the
/// removed ones leave the ISR, and a removed leader hands over to the first
/// live in-sync target replica (leader epoch bumped). The partition epoch
/// is `p`'s: the caller's change already bumped it.
pub(crate) fn complete(image: &MetadataImage, p: &PartitionImage) -> Option<PartitionImage> {
    if !p.is_reassigning() || p.adding_replicas.iter().any(|id| !p.isr.contains(id)) {
        return None;
    }
    let target = without(&p.replicas, &p.removing_replicas);
    let isr = without(&p.isr, &p.removing_replicas);
    let leader = if target.contains(&p.leader) {
        p.leader
    } else {
        first_eligible(image, &target, &isr)?
    };
    Some(PartitionImage {
        leader_epoch: p.leader_epoch + i32::from(leader != p.leader),
        leader,
        replicas: target,
        isr,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
        ..p.clone()
    })
}

/// The first of `replicas` that is in `isr` and live.
fn first_eligible(image: &MetadataImage, replicas: &[i32], isr: &[i32]) -> Option<i32> {
    replicas
        .iter()
        .copied()
        .find(|id| isr.contains(id) && is_live(image, *id))
}

/// `ids` without those in `drop`, order kept.
fn without(ids: &[i32], drop: &[i32]) -> Vec<i32> {
    ids.iter()
        .copied()
        .filter(|id| !drop.contains(id))
        .collect()
}

#[cfg(test)]
#[path = "reassignment_tests.rs"]
mod tests;
