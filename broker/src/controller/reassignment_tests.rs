//! The rules of KIP-455 reassignment, decided on images built by hand.

use super::*;
use crate::config::BrokerConfig;
use crate::controller::command::{Command, CommandOutcome, decide};
use crate::controller::partition_change::AlterPartition;

const TOPIC: &str = "t";

/// Brokers 1-4 registered (those in `fenced` fenced) and partition 0 of
/// topic `t` on replicas 1, 2, 3, all in sync, led by 1.
fn image_with_fenced(fenced: &[i32]) -> MetadataImage {
    let mut image = MetadataImage::empty();
    for id in 1..=4 {
        image.apply(&MetadataRecord::test_broker(id, None, fenced.contains(&id)));
    }
    let id = Uuid::new_v4();
    image.apply(&MetadataRecord::Topic {
        name: TOPIC.into(),
        id,
    });
    image.apply(&PartitionImage::new(0, vec![1, 2, 3], vec![1, 2, 3], 1).to_record(id));
    image
}

fn image() -> MetadataImage {
    image_with_fenced(&[])
}

fn partition(image: &MetadataImage) -> PartitionImage {
    image.topic(TOPIC).unwrap().partitions[0].clone()
}

fn move_to(target: Option<Vec<i32>>) -> Reassignment {
    Reassignment {
        topic: TOPIC.into(),
        partition: 0,
        target,
        allow_replication_factor_change: true,
    }
}

/// Decides `reassignment` and applies its records; the outcome.
fn run(image: &mut MetadataImage, reassignment: Reassignment) -> Result<(), TopicError> {
    let (records, mut outcomes) = alter_reassignments(image, &[reassignment]);
    for record in &records {
        image.apply(record);
    }
    outcomes.remove(0)
}

/// The partition leader's AlterPartition to `isr`, decided and applied.
fn leader_sets_isr(image: &mut MetadataImage, isr: Vec<i32>) -> PartitionImage {
    let p = partition(image);
    let request = AlterPartition {
        topic_id: image.topic(TOPIC).unwrap().id,
        partition: 0,
        leader: p.leader,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: isr,
    };
    let config = BrokerConfig::default();
    let (records, outcome) = decide(image, &config, &Command::AlterPartition(request)).unwrap();
    for record in &records {
        image.apply(record);
    }
    let CommandOutcome::PartitionChanged(next) = outcome else {
        panic!("unexpected outcome {outcome:?}")
    };
    assert_eq!(next, partition(image));
    next
}

#[test]
fn a_move_widens_the_replicas_to_target_then_current() {
    let mut image = image();
    run(&mut image, move_to(Some(vec![2, 3, 4]))).unwrap();
    let p = partition(&image);
    assert_eq!(p.replicas, [2, 3, 4, 1]);
    assert_eq!(p.adding_replicas, [4]);
    assert_eq!(p.removing_replicas, [1]);
    assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (1, 0, 1));
    assert_eq!(p.isr, [1, 2, 3]);
}

#[test]
fn the_move_completes_when_the_last_adding_replica_joins_the_isr() {
    let mut image = image();
    run(&mut image, move_to(Some(vec![2, 3, 4]))).unwrap();
    let p = leader_sets_isr(&mut image, vec![1, 2, 3, 4]);
    // The removed leader hands over to the first in-sync target replica.
    assert_eq!(p.replicas, [2, 3, 4]);
    assert_eq!(p.isr, [2, 3, 4]);
    assert_eq!(p.leader, 2);
    assert_eq!(p.leader_epoch, 1);
    assert_eq!(p.partition_epoch, 2);
    assert!(!p.is_reassigning());
}

#[test]
fn the_move_waits_while_an_adding_replica_is_out_of_sync() {
    let mut image = image();
    run(&mut image, move_to(Some(vec![1, 4, 2]))).unwrap();
    let p = partition(&image);
    assert_eq!(p.adding_replicas, [4]);
    // An ISR shrink leaves the move in progress.
    let p = leader_sets_isr(&mut image, vec![1, 2]);
    assert!(p.is_reassigning());
    assert_eq!(p.replicas, [1, 4, 2, 3]);
    // A leader that stays keeps its epoch when the move completes.
    let p = leader_sets_isr(&mut image, vec![1, 2, 4]);
    assert_eq!(p.replicas, [1, 4, 2]);
    assert_eq!(p.isr, [1, 2, 4]);
    assert_eq!((p.leader, p.leader_epoch), (1, 0));
}

#[test]
fn reordering_the_replicas_completes_at_once() {
    let mut image = image();
    run(&mut image, move_to(Some(vec![3, 1, 2]))).unwrap();
    let p = partition(&image);
    assert_eq!(p.replicas, [3, 1, 2]);
    assert!(!p.is_reassigning());
    assert_eq!(p.leader, 1, "a reorder does not move leadership by itself");
}

#[test]
fn removing_the_leader_without_adding_moves_leadership_at_once() {
    let mut image = image();
    run(&mut image, move_to(Some(vec![3, 2]))).unwrap();
    let p = partition(&image);
    assert_eq!(
        (p.replicas.as_slice(), p.isr.as_slice()),
        ([3, 2].as_slice(), [2, 3].as_slice())
    );
    assert_eq!((p.leader, p.leader_epoch), (3, 1));
}

#[test]
fn a_move_to_the_current_replicas_writes_nothing() {
    let image = image();
    let (records, outcomes) = alter_reassignments(&image, &[move_to(Some(vec![1, 2, 3]))]);
    assert!(records.is_empty());
    assert!(outcomes[0].is_ok());
}

#[test]
fn cancelling_restores_the_original_replicas() {
    let mut image = image();
    run(&mut image, move_to(Some(vec![2, 3, 4]))).unwrap();
    run(&mut image, move_to(None)).unwrap();
    let p = partition(&image);
    // The original set, in the order of the move, as KRaft reverts it.
    assert_eq!(p.replicas, [2, 3, 1]);
    assert_eq!(p.isr, [1, 2, 3]);
    assert_eq!(p.leader, 1);
    assert!(!p.is_reassigning());
    assert_eq!(p.partition_epoch, 2);
}

#[test]
fn cancelling_drops_an_adding_replica_from_the_isr_and_from_leadership() {
    let mut image = image();
    run(&mut image, move_to(Some(vec![4, 1, 2, 3]))).unwrap();
    let p = leader_sets_isr(&mut image, vec![1, 2, 3]);
    assert_eq!(p.adding_replicas, [4]);
    // Say broker 4 came to lead (a preferred election during the move).
    let id = image.topic(TOPIC).unwrap().id;
    let led_by_4 = PartitionImage {
        isr: vec![1, 2, 3, 4],
        leader: 4,
        leader_epoch: 1,
        ..p
    };
    image.apply(&led_by_4.to_record(id));
    run(&mut image, move_to(None)).unwrap();
    let p = partition(&image);
    assert_eq!(p.replicas, [1, 2, 3]);
    assert_eq!(p.isr, [1, 2, 3]);
    assert_eq!((p.leader, p.leader_epoch), (1, 2));
}

#[test]
fn cancelling_nothing_is_no_reassignment_in_progress() {
    let mut image = image();
    let error = run(&mut image, move_to(None)).unwrap_err();
    assert!(
        matches!(error, TopicError::NoReassignmentInProgress(_)),
        "{error:?}"
    );
}

#[test]
fn a_new_target_replaces_the_move_in_progress() {
    let mut image = image();
    run(&mut image, move_to(Some(vec![2, 3, 4]))).unwrap();
    run(&mut image, move_to(Some(vec![1, 2, 4]))).unwrap();
    let p = partition(&image);
    assert_eq!(p.replicas, [1, 2, 4, 3]);
    assert_eq!(p.adding_replicas, [4]);
    assert_eq!(p.removing_replicas, [3]);
}

#[test]
fn a_fenced_target_replica_is_passed_over_for_leadership() {
    let mut image = image();
    run(&mut image, move_to(Some(vec![2, 4]))).unwrap();
    image.apply(&MetadataRecord::FenceBroker {
        node_id: 2,
        controlled_shutdown: false,
    });
    let p = leader_sets_isr(&mut image, vec![1, 2, 3, 4]);
    assert_eq!((p.replicas.as_slice(), p.leader), ([2, 4].as_slice(), 4));
}

#[test]
fn a_move_with_no_live_in_sync_target_leader_waits() {
    let mut image = image_with_fenced(&[2]);
    run(&mut image, move_to(Some(vec![2]))).unwrap();
    let p = partition(&image);
    assert_eq!((p.replicas.as_slice(), p.leader), ([2, 1, 3].as_slice(), 1));
    assert_eq!(p.removing_replicas, [1, 3]);
}

#[test]
fn bad_targets_are_invalid_replica_assignments() {
    let image = image();
    for target in [vec![], vec![2, 2, 3], vec![1, 2, 9]] {
        let (records, outcomes) = alter_reassignments(&image, &[move_to(Some(target.clone()))]);
        assert!(records.is_empty());
        let error = outcomes[0].as_ref().unwrap_err();
        assert!(
            matches!(error, TopicError::InvalidReplicaAssignment(_)),
            "{target:?}: {error:?}"
        );
    }
}

#[test]
fn unknown_partitions_are_unknown_and_leave_the_others_alone() {
    let image = image();
    let unknown_topic = Reassignment {
        topic: "nope".into(),
        ..move_to(Some(vec![1]))
    };
    let unknown_partition = Reassignment {
        partition: 5,
        ..move_to(Some(vec![1]))
    };
    let (records, outcomes) = alter_reassignments(
        &image,
        &[
            unknown_topic,
            move_to(Some(vec![2, 3, 4])),
            unknown_partition,
        ],
    );
    assert_eq!(records.len(), 1);
    assert!(matches!(outcomes[0], Err(TopicError::UnknownPartition(_))));
    assert!(outcomes[1].is_ok());
    assert!(matches!(outcomes[2], Err(TopicError::UnknownPartition(_))));
}

#[test]
fn a_replication_factor_change_can_be_refused() {
    let image = image();
    let strict = |target: Vec<i32>| Reassignment {
        allow_replication_factor_change: false,
        ..move_to(Some(target))
    };
    let (_, outcomes) = alter_reassignments(&image, &[strict(vec![2, 3]), strict(vec![2, 3, 4])]);
    assert!(matches!(
        outcomes[0],
        Err(TopicError::InvalidReplicationFactor(_))
    ));
    assert!(outcomes[1].is_ok());
}
