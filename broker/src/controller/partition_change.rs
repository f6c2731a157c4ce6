//! Changes to a partition's leader and ISR, as KRaft's controller makes
//! them: AlterPartition from the leader (ISR shrink and expand), and the
//! leader elections that follow a broker being fenced or coming back.
//! Every change writes the whole partition again with its partition epoch
//! bumped, and the leader epoch bumped when the leader changes.

use uuid::Uuid;

use crate::metadata::{MetadataImage, MetadataRecord, PartitionImage, TopicImage};

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
/// replica as leader, or none (-1). With `unclean.leader.election.enable`
/// on the topic, a partition left with no live in-sync replica takes the
/// first live replica instead (which may have lost records).
pub(crate) fn leave_broker(image: &MetadataImage, gone: i32) -> Vec<MetadataRecord> {
    let live = |id: &i32| *id != gone && is_live(image, *id);
    let mut records = Vec::new();
    for topic in image.topics.values() {
        let unclean = unclean_election(image, topic);
        for p in &topic.partitions {
            if !p.isr.contains(&gone) && p.leader != gone {
                continue;
            }
            let remaining: Vec<i32> = p.isr.iter().copied().filter(|id| *id != gone).collect();
            let isr = if remaining.is_empty() {
                p.isr.clone()
            } else {
                remaining
            };
            if p.leader != gone && p.leader != -1 {
                records.push(record(topic.id, changed(p, p.leader, isr)));
                continue;
            }
            let clean = p
                .replicas
                .iter()
                .copied()
                .find(|id| isr.contains(id) && live(id));
            let next = match (clean, unclean) {
                (Some(leader), _) => changed(p, leader, isr),
                (None, true) => match p.replicas.iter().copied().find(live) {
                    Some(leader) => changed(p, leader, vec![leader]),
                    None => changed(p, -1, isr),
                },
                (None, false) => changed(p, -1, isr),
            };
            records.push(record(topic.id, next));
        }
    }
    records
}

/// The topic's `unclean.leader.election.enable`, else the cluster-wide
/// dynamic default (the controller decides elections for every broker).
fn unclean_election(image: &MetadataImage, topic: &TopicImage) -> bool {
    const KEY: &str = "unclean.leader.election.enable";
    topic
        .configs
        .get(KEY)
        .or_else(|| {
            image
                .broker_configs
                .get(&crate::config::CLUSTER_DEFAULT)?
                .get(KEY)
        })
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Partition changes when broker `back` is unfenced: leaderless partitions
/// it is in sync for get it as leader. With `unclean.leader.election.enable`
/// on a topic, a leaderless partition whose in-sync replicas are all gone
/// takes `back` even if it was not in sync (it may lose records).
pub(crate) fn elect_returning_broker(image: &MetadataImage, back: i32) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in image.topics.values() {
        let unclean = unclean_election(image, topic);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(unclean: bool) -> (MetadataImage, Uuid) {
        let mut image = MetadataImage::empty();
        for id in 1..=3 {
            image.apply(&MetadataRecord::test_broker(id, None, false));
        }
        let id = Uuid::new_v4();
        image.apply(&MetadataRecord::Topic {
            name: "t".into(),
            id,
        });
        image.apply(&MetadataRecord::Partition {
            topic_id: id,
            partition: 0,
            replicas: vec![1, 2, 3],
            isr: vec![1, 2],
            leader: 1,
            leader_epoch: 4,
            partition_epoch: 7,
            adding_replicas: vec![],
            removing_replicas: vec![],
        });
        if unclean {
            image.apply(&MetadataRecord::Config {
                resource: crate::metadata::ConfigResourceKey::Topic("t".into()),
                name: "unclean.leader.election.enable".into(),
                value: Some("true".into()),
            });
        }
        (image, id)
    }

    fn fence(image: &mut MetadataImage, id: i32) {
        for r in leave_broker(image, id) {
            image.apply(&r);
        }
        image.apply(&MetadataRecord::FenceBroker {
            node_id: id,
            controlled_shutdown: false,
        });
    }

    fn partition(image: &MetadataImage) -> PartitionImage {
        image.topic("t").unwrap().partitions[0].clone()
    }

    #[test]
    fn a_fenced_leader_hands_over_to_an_in_sync_replica_with_a_new_epoch() {
        let (mut image, _) = cluster(false);
        fence(&mut image, 1);
        let p = partition(&image);
        assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
        assert_eq!((p.leader_epoch, p.partition_epoch), (5, 8));
        // The last in-sync replica stays in the ISR when it goes: no leader.
        fence(&mut image, 2);
        let p = partition(&image);
        assert_eq!((p.leader, p.isr.clone()), (-1, vec![2]));
        // It comes back and leads again.
        image.apply(&MetadataRecord::UnfenceBroker { node_id: 2 });
        for r in elect_returning_broker(&image, 2) {
            image.apply(&r);
        }
        assert_eq!(partition(&image).leader, 2);
    }

    #[test]
    fn unclean_election_picks_a_live_out_of_sync_replica_only_when_enabled() {
        for unclean in [false, true] {
            let (mut image, _) = cluster(unclean);
            fence(&mut image, 1);
            fence(&mut image, 2);
            let p = partition(&image);
            if unclean {
                assert_eq!((p.leader, p.isr), (3, vec![3]));
            } else {
                assert_eq!(p.leader, -1);
            }
        }
    }

    #[test]
    fn alter_partition_refuses_stale_views_and_fenced_members() {
        let (mut image, id) = cluster(false);
        let request = AlterPartition {
            topic_id: id,
            partition: 0,
            leader: 1,
            leader_epoch: 4,
            partition_epoch: 7,
            new_isr: vec![1, 2, 3],
        };
        let next = alter_partition(&image, &request).unwrap();
        assert_eq!((next.isr.clone(), next.partition_epoch), (vec![1, 2, 3], 8));
        let stale = alter_partition(
            &image,
            &AlterPartition {
                partition_epoch: 6,
                ..request.clone()
            },
        )
        .unwrap_err();
        assert!(matches!(stale, TopicError::InvalidUpdateVersion(_)));
        let not_leader = alter_partition(
            &image,
            &AlterPartition {
                leader: 2,
                ..request.clone()
            },
        )
        .unwrap_err();
        assert!(matches!(not_leader, TopicError::NotLeader(_)));
        image.apply(&MetadataRecord::FenceBroker {
            node_id: 3,
            controlled_shutdown: false,
        });
        let fenced = alter_partition(&image, &request).unwrap_err();
        assert!(matches!(fenced, TopicError::IneligibleReplica(_)));
    }
}
