//! Leader elections an operator asks for (ElectLeaders, KIP-460) and the
//! automatic preferred-leader balancing of `auto.leader.rebalance.enable`.
//!
//! The preferred leader of a partition is its first replica: placement
//! spreads first replicas over the brokers, so when each partition is led
//! by its preferred replica, leadership (and the client load that follows
//! it) is spread too. Failovers move leaders away; a preferred election
//! moves them back once the preferred replica is in sync again.

use std::collections::BTreeMap;

use super::partition_change::{changed, is_live};
use super::reassignment::find_partition;
use super::topics::TopicError;
use crate::metadata::{MetadataImage, MetadataRecord, PartitionImage};

/// Kafka's ElectionType: 0 preferred, 1 unclean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ElectionType {
    /// The first replica leads, if it is live and in sync.
    Preferred,
    /// A leaderless partition whose in-sync replicas are all gone takes any
    /// live replica as leader (records it lacks are lost).
    Unclean,
}

/// A partition named by topic and index.
pub type TopicPartition = (String, i32);

/// The outcome of one partition's election.
pub type ElectionOutcome = (TopicPartition, Result<(), TopicError>);

/// Decides the elections of `partitions` (every partition when `None`; then,
/// as Kafka does, those needing none are left out of the outcomes).
pub(crate) fn elect_leaders(
    image: &MetadataImage,
    election: ElectionType,
    partitions: Option<&[TopicPartition]>,
) -> (Vec<MetadataRecord>, Vec<ElectionOutcome>) {
    let all: Vec<TopicPartition>;
    let wanted = match partitions {
        Some(wanted) => wanted,
        None => {
            all = image
                .topics
                .values()
                .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.partition)))
                .collect();
            &all
        }
    };
    let mut records = Vec::new();
    let mut outcomes = Vec::new();
    for (topic, index) in wanted {
        let decided = find_partition(image, topic, *index)
            .and_then(|(id, p)| elect(image, election, p).map(|next| next.to_record(id)));
        match decided {
            Ok(record) => {
                records.push(record);
                outcomes.push(((topic.clone(), *index), Ok(())));
            }
            Err(TopicError::ElectionNotNeeded(_)) if partitions.is_none() => {}
            Err(e) => outcomes.push(((topic.clone(), *index), Err(e))),
        }
    }
    (records, outcomes)
}

/// One partition's election: the partition with its new leader.
fn elect(
    image: &MetadataImage,
    election: ElectionType,
    p: &PartitionImage,
) -> Result<PartitionImage, TopicError> {
    let live = |id: &i32| is_live(image, *id);
    match election {
        ElectionType::Preferred => {
            let preferred = p.replicas.first().copied().unwrap_or(-1);
            if p.leader == preferred {
                Err(TopicError::ElectionNotNeeded(format!(
                    "broker {preferred} is the preferred leader and already leads"
                )))
            } else if p.isr.contains(&preferred) && live(&preferred) {
                Ok(changed(p, preferred, p.isr.clone()))
            } else {
                Err(TopicError::PreferredLeaderNotAvailable(format!(
                    "the preferred leader {preferred} is not live and in sync (ISR {:?})",
                    p.isr
                )))
            }
        }
        ElectionType::Unclean => {
            if p.leader != -1 && live(&p.leader) {
                return Err(TopicError::ElectionNotNeeded(format!(
                    "broker {} leads the partition",
                    p.leader
                )));
            }
            if let Some(clean) = p.replicas.iter().find(|id| p.isr.contains(id) && live(id)) {
                return Ok(changed(p, *clean, p.isr.clone()));
            }
            match p.replicas.iter().copied().find(live) {
                Some(unclean) => Ok(changed(p, unclean, vec![unclean])),
                None => Err(TopicError::EligibleLeadersNotAvailable(format!(
                    "none of the replicas {:?} is live",
                    p.replicas
                ))),
            }
        }
    }
}

/// The partitions a preferred election would move back, for each broker
/// whose share of preferred partitions it does not lead exceeds
/// `imbalance_percentage` (Kafka's `leader.imbalance.per.broker.percentage`).
/// Only those whose preferred replica is live and in sync are listed, and
/// none under reassignment.
pub(crate) fn imbalanced_partitions(
    image: &MetadataImage,
    imbalance_percentage: u32,
) -> Vec<TopicPartition> {
    // Per preferred broker: its partitions, those it does not lead, and
    // those of them a preferred election can move back now.
    let mut by_preferred: BTreeMap<i32, (usize, usize, Vec<TopicPartition>)> = BTreeMap::new();
    for topic in image.topics.values() {
        for p in &topic.partitions {
            let Some(&preferred) = p.replicas.first() else {
                continue;
            };
            let (total, not_led, movable) = by_preferred.entry(preferred).or_default();
            *total += 1;
            if p.leader == preferred {
                continue;
            }
            *not_led += 1;
            if !p.is_reassigning() && p.isr.contains(&preferred) && is_live(image, preferred) {
                movable.push((topic.name.clone(), p.partition));
            }
        }
    }
    by_preferred
        .into_values()
        .filter(|(total, not_led, _)| not_led * 100 > total * imbalance_percentage as usize)
        .flat_map(|(_, _, movable)| movable)
        .collect()
}

#[cfg(test)]
#[path = "election_tests.rs"]
mod tests;
