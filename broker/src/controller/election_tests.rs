//! Preferred and unclean elections and the imbalance rule, on images
//! built by hand.

use uuid::Uuid;

use super::*;

/// Brokers 1-3 (those in `fenced` fenced) and topic `t` with `partitions`
/// given as (replicas, isr, leader).
fn image(fenced: &[i32], partitions: &[(&[i32], &[i32], i32)]) -> MetadataImage {
    let mut image = MetadataImage::empty();
    for id in 1..=3 {
        image.apply(&MetadataRecord::test_broker(id, None, fenced.contains(&id)));
    }
    let id = Uuid::new_v4();
    image.apply(&MetadataRecord::Topic {
        name: "t".into(),
        id,
    });
    for (i, (replicas, isr, leader)) in partitions.iter().enumerate() {
        let p = PartitionImage::new(i as i32, replicas.to_vec(), isr.to_vec(), *leader);
        image.apply(&p.to_record(id));
    }
    image
}

fn tp(partition: i32) -> TopicPartition {
    ("t".into(), partition)
}

fn leader_after(image: &MetadataImage, records: &[MetadataRecord], partition: i32) -> i32 {
    let mut image = image.clone();
    for record in records {
        image.apply(record);
    }
    image.topic("t").unwrap().partitions[partition as usize].leader
}

#[test]
fn a_preferred_election_moves_leadership_to_the_first_replica() {
    let image = image(&[], &[(&[1, 2, 3], &[1, 2, 3], 2)]);
    let (records, outcomes) = elect_leaders(&image, ElectionType::Preferred, Some(&[tp(0)]));
    assert!(outcomes[0].1.is_ok());
    assert_eq!(leader_after(&image, &records, 0), 1);
    let MetadataRecord::Partition { leader_epoch, .. } = &records[0] else {
        panic!("{records:?}")
    };
    assert_eq!(*leader_epoch, 1);
}

#[test]
fn a_preferred_election_answers_why_it_did_nothing() {
    let image = image(
        &[3],
        &[
            (&[1, 2], &[1, 2], 1),
            (&[2, 1], &[1], 1),
            (&[3, 1], &[3, 1], 1),
        ],
    );
    let wanted = [tp(0), tp(1), tp(2), tp(9), ("nope".into(), 0)];
    let (records, outcomes) = elect_leaders(&image, ElectionType::Preferred, Some(&wanted));
    assert!(records.is_empty());
    let errors: Vec<_> = outcomes
        .iter()
        .map(|(_, o)| o.as_ref().unwrap_err())
        .collect();
    assert!(matches!(errors[0], TopicError::ElectionNotNeeded(_)));
    // Not in sync, then fenced.
    assert!(matches!(
        errors[1],
        TopicError::PreferredLeaderNotAvailable(_)
    ));
    assert!(matches!(
        errors[2],
        TopicError::PreferredLeaderNotAvailable(_)
    ));
    assert!(matches!(errors[3], TopicError::UnknownPartition(_)));
    assert!(matches!(errors[4], TopicError::UnknownPartition(_)));
}

#[test]
fn electing_all_partitions_leaves_out_those_needing_none() {
    let image = image(&[], &[(&[1, 2], &[1, 2], 1), (&[2, 1], &[1, 2], 1)]);
    let (records, outcomes) = elect_leaders(&image, ElectionType::Preferred, None);
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].0, tp(1));
    assert_eq!(leader_after(&image, &records, 1), 2);
}

#[test]
fn an_unclean_election_takes_a_live_replica_when_no_in_sync_one_is() {
    let image = image(&[1], &[(&[1, 2], &[1], -1)]);
    let (records, outcomes) = elect_leaders(&image, ElectionType::Unclean, Some(&[tp(0)]));
    assert!(outcomes[0].1.is_ok());
    let MetadataRecord::Partition { leader, isr, .. } = &records[0] else {
        panic!("{records:?}")
    };
    assert_eq!((*leader, isr.as_slice()), (2, [2].as_slice()));
}

#[test]
fn an_unclean_election_prefers_an_in_sync_replica() {
    let image = image(&[1], &[(&[1, 2, 3], &[1, 3], -1)]);
    let (records, _) = elect_leaders(&image, ElectionType::Unclean, Some(&[tp(0)]));
    let MetadataRecord::Partition { leader, isr, .. } = &records[0] else {
        panic!("{records:?}")
    };
    assert_eq!((*leader, isr.as_slice()), (3, [1, 3].as_slice()));
}

#[test]
fn an_unclean_election_refuses_without_live_replicas_or_with_a_leader() {
    let image = image(&[1, 2], &[(&[1, 2], &[1], -1), (&[3], &[3], 3)]);
    let (records, outcomes) = elect_leaders(&image, ElectionType::Unclean, Some(&[tp(0), tp(1)]));
    assert!(records.is_empty());
    assert!(matches!(
        outcomes[0].1,
        Err(TopicError::EligibleLeadersNotAvailable(_))
    ));
    assert!(matches!(
        outcomes[1].1,
        Err(TopicError::ElectionNotNeeded(_))
    ));
}

#[test]
fn imbalance_over_the_threshold_lists_the_movable_partitions() {
    // Broker 1 prefers 4 partitions and leads 2 of them: 50% imbalance.
    // Partition 3's preferred replica is out of sync: not movable.
    let partitions: &[(&[i32], &[i32], i32)] = &[
        (&[1, 2], &[1, 2], 1),
        (&[1, 2], &[1, 2], 1),
        (&[1, 2], &[1, 2], 2),
        (&[1, 2], &[2], 2),
        (&[2, 1], &[1, 2], 2),
    ];
    let image = image(&[], partitions);
    assert_eq!(imbalanced_partitions(&image, 10), [tp(2)]);
    assert_eq!(imbalanced_partitions(&image, 49), [tp(2)]);
    assert!(imbalanced_partitions(&image, 50).is_empty());
}

#[test]
fn a_balanced_cluster_lists_nothing() {
    let image = image(&[], &[(&[1, 2], &[1, 2], 1), (&[2, 1], &[1, 2], 2)]);
    assert!(imbalanced_partitions(&image, 0).is_empty());
}
