//! Changes to a partition's leader and ISR, as KRaft's controller makes
//! them: AlterPartition from the leader (ISR shrink and expand), and the
//! leader elections that follow a broker being fenced or coming back.
//! Every change writes the whole partition again with its partition epoch
//! bumped, and the leader epoch bumped when the leader changes.

use uuid::Uuid;

use crate::metadata::{MetadataImage, MetadataRecord, PartitionImage};

use super::topics::TopicError;

/// An ISR change asked for by a partition leader (Kafka's AlterPartition).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlterPartition {
    pub topic_id: Uuid,
    pub partition: i32,
    /// The broker asking: must be the partition's leader.
    pub leader: i32,
    /// The leader epoch and partition epoch of the leader's view; a request
    /// from an older view is refused so it cannot undo a newer change.
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
}

/// The record that writes `partition` of topic `topic_id` as `next`.
fn record(topic_id: Uuid, next: PartitionImage) -> MetadataRecord {
    next.to_record(topic_id)
}

/// `current` with a new leader and ISR: epochs bumped as Kafka does.
pub(crate) fn changed(current: &PartitionImage, leader: i32, isr: Vec<i32>) -> PartitionImage {
    PartitionImage {
        leader_epoch: current.leader_epoch + i32::from(leader != current.leader),
        partition_epoch: current.partition_epoch + 1,
        leader,
        isr,
        ..current.clone()
    }
}

/// Decides an AlterPartition: the partition as it will be.
pub(crate) fn alter_partition(
    image: &MetadataImage,
    request: &AlterPartition,
) -> Result<PartitionImage, TopicError> {
    let current = image
        .topic_by_id(&request.topic_id)
        .and_then(|t| t.partitions.get(request.partition as usize))
        .ok_or_else(|| {
            TopicError::UnknownTopic(format!("{}-{}", request.topic_id, request.partition))
        })?;
    if current.leader != request.leader {
        return Err(TopicError::NotLeader(format!(
            "broker {} asked to change the ISR of partition {} but broker {} leads it",
            request.leader, request.partition, current.leader
        )));
    }
    if request.leader_epoch != current.leader_epoch {
        return Err(TopicError::FencedLeaderEpoch(format!(
            "leader epoch {} is not the current {}",
            request.leader_epoch, current.leader_epoch
        )));
    }
    if request.partition_epoch != current.partition_epoch {
        return Err(TopicError::InvalidUpdateVersion(format!(
            "partition epoch {} is not the current {}",
            request.partition_epoch, current.partition_epoch
        )));
    }
    let mut isr = request.new_isr.clone();
    isr.sort_unstable();
    isr.dedup();
    if isr.len() != request.new_isr.len()
        || !isr.contains(&request.leader)
        || isr.iter().any(|id| !current.replicas.contains(id))
    {
        return Err(TopicError::InvalidRequest(format!(
            "ISR {:?} must be distinct replicas of {:?} including the leader {}",
            request.new_isr, current.replicas, request.leader
        )));
    }
    let ineligible = request
        .new_isr
        .iter()
        .find(|id| !current.isr.contains(id) && !is_live(image, **id));
    if let Some(id) = ineligible {
        return Err(TopicError::IneligibleReplica(format!(
            "broker {id} is fenced or not registered and cannot join the ISR"
        )));
    }
    Ok(changed(current, current.leader, request.new_isr.clone()))
}

pub(crate) fn is_live(image: &MetadataImage, id: i32) -> bool {
    image.brokers.get(&id).is_some_and(|b| !b.fenced)
}

/// Partition changes when broker `gone` is fenced: it leaves every ISR
/// (unless it is the last member, which stays so the partition can come
/// back with it), and the partitions it led get the first live in-sync
/// replica as leader, or none (-1).
pub(crate) fn leave_broker(image: &MetadataImage, gone: i32) -> Vec<MetadataRecord> {
    let live = |id: &i32| *id != gone && is_live(image, *id);
    each_partition(image, |p| {
        if !p.isr.contains(&gone) && p.leader != gone {
            return None;
        }
        let remaining: Vec<i32> = p.isr.iter().copied().filter(|id| *id != gone).collect();
        let isr = if remaining.is_empty() {
            p.isr.clone()
        } else {
            remaining
        };
        let leader = if p.leader == gone || p.leader == -1 {
            p.replicas
                .iter()
                .copied()
                .find(|id| isr.contains(id) && live(id))
                .unwrap_or(-1)
        } else {
            p.leader
        };
        Some(changed(p, leader, isr))
    })
}

/// Partition changes when broker `back` is unfenced: leaderless partitions
/// it is in sync for get it as leader. With `unclean.leader.election.enable`
/// on a topic, a leaderless partition whose in-sync replicas are all gone
/// takes `back` even if it was not in sync (it may lose records).
pub(crate) fn elect_returning_broker(image: &MetadataImage, back: i32) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in image.topics.values() {
        let unclean = topic
            .configs
            .get("unclean.leader.election.enable")
            .is_some_and(|v| v == "true");
        for p in &topic.partitions {
            if p.leader != -1 || !p.replicas.contains(&back) {
                continue;
            }
            if p.isr.contains(&back) {
                records.push(record(topic.id, changed(p, back, p.isr.clone())));
            } else if unclean && !p.isr.iter().any(|id| is_live(image, *id)) {
                records.push(record(topic.id, changed(p, back, vec![back])));
            }
        }
    }
    records
}

/// Records for every partition that `change` changes.
fn each_partition(
    image: &MetadataImage,
    mut change: impl FnMut(&PartitionImage) -> Option<PartitionImage>,
) -> Vec<MetadataRecord> {
    image
        .topics
        .values()
        .flat_map(|topic| topic.partitions.iter().map(move |p| (topic.id, p)))
        .filter_map(|(topic_id, p)| change(p).map(|next| record(topic_id, next)))
        .collect()
}
