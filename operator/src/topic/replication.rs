//! Changing a topic's replication factor by partition reassignment
//! (KIP-455, with KIP-860's replication-factor change allowed): observe the
//! topic's replicas and its reassignments in flight, submit the next batch
//! of moves planned by [`super::replicas`] when none is in flight, and say
//! how far the change has got.
//!
//! One reconcile submits at most one batch and never waits for it: the
//! broker copies the data, the controller completes each move when the new
//! replicas are in sync, and the reconciler comes back every
//! [`POLL_INTERVAL`] to report progress and submit the next batch. A move
//! in flight (this operator's, a cluster rebalance's or an administrator's)
//! is never replaced: the topic waits for it.

use std::{collections::BTreeMap, time::Duration};

use karst_client::{AdminClient, TopicMetadata};
use kube::{ResourceExt, runtime::events::EventType};

use super::{
    error::{TopicError, admin_err},
    replicas::{Broker, PartitionTarget, plan_replicas, replica_counts},
};
use crate::{
    context::Context,
    crd::{KafkaTopic, ReplicaChangeStatus},
    events,
};

/// Partitions moved by one reassignment request: a topic of thousands of
/// partitions is moved in steps, so the copy traffic stays bounded.
pub const BATCH: usize = 50;
/// How often a change in flight is looked at again.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Where a replication-factor change stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaProgress {
    /// The replication factor asked.
    pub target: i32,
    /// Partitions of the topic.
    pub partitions: i32,
    /// Partitions with `target` replicas and no move in flight.
    pub done: i32,
    /// Partitions with a move in flight.
    pub in_flight: i32,
    /// The replication factor the topic has now: the smallest replica set
    /// of any partition, not counting the replicas a move is still adding
    /// (not in sync yet) but counting those it is removing (they still
    /// hold the data).
    pub replicas: i32,
}

impl ReplicaProgress {
    /// Every partition has the target replication factor and nothing moves.
    pub fn is_done(&self) -> bool {
        self.done == self.partitions
    }

    /// `2 of 3 partitions of topic "t" at 3 replicas (1 reassignment in flight)`.
    pub fn describe(&self, topic: &str) -> String {
        format!(
            "{} of {} partitions of topic {topic:?} at {} replicas ({} reassignment{} in flight)",
            self.done,
            self.partitions,
            self.target,
            self.in_flight,
            if self.in_flight == 1 { "" } else { "s" }
        )
    }

    /// The status field, keeping the start time of a change already shown.
    pub fn status(&self, previous: Option<&ReplicaChangeStatus>, now: &str) -> ReplicaChangeStatus {
        let since = previous
            .filter(|p| p.target_replicas == self.target)
            .map_or_else(|| now.to_owned(), |p| p.since.clone());
        ReplicaChangeStatus {
            target_replicas: self.target,
            partitions_done: self.done,
            partitions: self.partitions,
            in_flight: self.in_flight,
            since,
        }
    }
}

fn to_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A partition's move in flight: the replicas it adds and removes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Move {
    /// Replicas catching up.
    pub adding: Vec<i32>,
    /// Replicas leaving when the move completes.
    pub removing: Vec<i32>,
}

/// Progress of `topic` towards `target` replicas, given the moves in flight
/// by partition. A partition is done when the replicas it has now (not
/// counting those being added) and those it will have (not counting those
/// being removed) are both `target`: a move that keeps the size (a cluster
/// rebalance) is no replication-factor change.
pub fn progress(
    topic: &TopicMetadata,
    target: usize,
    in_flight: &BTreeMap<i32, Move>,
) -> ReplicaProgress {
    let sizes: Vec<(usize, usize)> = topic
        .partitions
        .iter()
        .map(|p| {
            let m = in_flight.get(&p.partition).cloned().unwrap_or_default();
            let count =
                |leaving: &[i32]| p.replicas.iter().filter(|r| !leaving.contains(r)).count();
            (count(&m.adding), count(&m.removing))
        })
        .collect();
    let done = sizes
        .iter()
        .filter(|(now, then)| *now == target && *then == target)
        .count();
    ReplicaProgress {
        target: to_i32(target),
        partitions: to_i32(topic.partitions.len()),
        done: to_i32(done),
        in_flight: to_i32(in_flight.len()),
        replicas: to_i32(sizes.iter().map(|(now, _)| *now).min().unwrap_or(0)),
    }
}

/// The topic's metadata and its moves in flight by partition.
async fn observe(
    admin: &AdminClient,
    name: &str,
) -> Result<(TopicMetadata, BTreeMap<i32, Move>), TopicError> {
    let in_flight = admin
        .list_partition_reassignments(None)
        .await
        .map_err(admin_err("list the reassignments of", name))?
        .into_iter()
        .filter(|r| r.topic == name)
        .map(|r| {
            let m = Move {
                adding: r.adding_replicas,
                removing: r.removing_replicas,
            };
            (r.partition, m)
        })
        .collect();
    let metadata = admin
        .describe_topic(name)
        .await
        .map_err(admin_err("describe", name))?
        .ok_or_else(|| TopicError::Vanished(name.to_owned()))?;
    Ok((metadata, in_flight))
}

/// Brings `name` one step closer to `replicas` replicas per partition:
/// submits the next batch of moves when none is in flight, and returns the
/// progress observed afterwards.
pub async fn converge(
    ctx: &Context,
    kt: &KafkaTopic,
    admin: &AdminClient,
    name: &str,
    replicas: i16,
) -> Result<ReplicaProgress, TopicError> {
    let target = usize::try_from(replicas).unwrap_or(0);
    let (metadata, in_flight) = observe(admin, name).await?;
    let before = progress(&metadata, target, &in_flight);
    if before.is_done() || before.in_flight > 0 {
        return Ok(before);
    }
    let cluster = admin
        .metadata(None)
        .await
        .map_err(admin_err("describe the cluster of", name))?;
    let brokers: Vec<Broker> = cluster.brokers.iter().map(Broker::from).collect();
    let mut counts = replica_counts(&brokers, &cluster.topics);
    let topic = cluster
        .topics
        .iter()
        .find(|t| t.name == name)
        .unwrap_or(&metadata);
    let moves = plan_replicas(&topic.partitions, target, &brokers, &mut counts, BATCH)?;
    submit(admin, name, &moves).await?;
    let note = describe_moves(name, target, &moves, before.partitions - before.done);
    tracing::info!(namespace = %kt.namespace().unwrap_or_default(), resource = %kt.name_any(), "{note}");
    events::publish(
        ctx,
        kt,
        EventType::Normal,
        "ReassignmentStarted",
        "ChangeReplicas",
        note,
    )
    .await;
    let (metadata, in_flight) = observe(admin, name).await?;
    Ok(progress(&metadata, target, &in_flight))
}

/// Sends the moves; a partition the broker refuses fails the reconcile
/// with the broker's reason (the others are in flight and are waited for).
async fn submit(
    admin: &AdminClient,
    name: &str,
    moves: &[PartitionTarget],
) -> Result<(), TopicError> {
    let request: Vec<(&str, i32, Option<Vec<i32>>)> = moves
        .iter()
        .map(|m| (name, m.partition, Some(m.replicas.clone())))
        .collect();
    let outcomes = admin
        .alter_partition_reassignments(&request)
        .await
        .map_err(admin_err("reassign the partitions of", name))?;
    match outcomes.into_iter().find_map(|(_, result)| result.err()) {
        Some(refusal) => Err(admin_err("reassign the partitions of", name)(
            refusal.into(),
        )),
        None => Ok(()),
    }
}

/// `Moving 3 of 3 partitions of topic "t" to 3 replicas: 0 -> [0, 1, 2], ...`.
fn describe_moves(name: &str, target: usize, moves: &[PartitionTarget], remaining: i32) -> String {
    const SHOWN: usize = 10;
    let mut listed: Vec<String> = moves
        .iter()
        .take(SHOWN)
        .map(|m| format!("{} -> {:?}", m.partition, m.replicas))
        .collect();
    if moves.len() > SHOWN {
        listed.push(format!("and {} more", moves.len() - SHOWN));
    }
    format!(
        "Reassigning {} of the {remaining} partition(s) of topic {name:?} not yet at {target} replicas: {}.",
        moves.len(),
        listed.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use karst_client::PartitionMetadata;

    use super::*;

    fn topic(replicas: &[&[i32]]) -> TopicMetadata {
        TopicMetadata {
            name: "t".into(),
            topic_id: Default::default(),
            is_internal: false,
            partitions: replicas
                .iter()
                .enumerate()
                .map(|(i, r)| PartitionMetadata {
                    partition: to_i32(i),
                    leader: r[0],
                    leader_epoch: 0,
                    replicas: r.to_vec(),
                    isr: r.to_vec(),
                    error_code: 0,
                })
                .collect(),
        }
    }

    fn moving(adding: &[i32], removing: &[i32]) -> Move {
        Move {
            adding: adding.to_vec(),
            removing: removing.to_vec(),
        }
    }

    #[test]
    fn progress_counts_partitions_at_the_factor_once_their_move_completes() {
        // Partition 1 is growing 1 -> 3 (adding 2 and 0), partition 2 has not started.
        let t = topic(&[&[0, 1, 2], &[1, 2, 0], &[2]]);
        let in_flight = BTreeMap::from([(1, moving(&[2, 0], &[]))]);
        let p = progress(&t, 3, &in_flight);
        assert_eq!((p.done, p.partitions, p.in_flight), (1, 3, 1));
        assert_eq!(p.replicas, 1, "the replicas being added do not count yet");
        assert!(!p.is_done());
        assert_eq!(
            p.describe("t"),
            "1 of 3 partitions of topic \"t\" at 3 replicas (1 reassignment in flight)"
        );
        let p = progress(&topic(&[&[0, 1, 2], &[1, 2, 0]]), 3, &BTreeMap::new());
        assert!(p.is_done());
        assert_eq!(p.replicas, 3);
    }

    #[test]
    fn shrinking_counts_the_replicas_still_held_until_the_move_completes() {
        // 3 -> 2 in flight: the replicas are the target then the one leaving.
        let t = topic(&[&[0, 1, 2]]);
        let p = progress(&t, 2, &BTreeMap::from([(0, moving(&[], &[2]))]));
        assert_eq!((p.done, p.replicas), (0, 3));
    }

    #[test]
    fn a_move_that_keeps_the_factor_is_no_change_to_wait_for() {
        // A rebalance moving partition 0 from [0, 1] to [2, 1].
        let t = topic(&[&[2, 1, 0], &[1, 2]]);
        let p = progress(&t, 2, &BTreeMap::from([(0, moving(&[2], &[0]))]));
        assert!(p.is_done(), "{p:?}");
        assert_eq!((p.replicas, p.in_flight), (2, 1));
    }

    #[test]
    fn the_status_keeps_when_the_change_started() {
        let p = progress(&topic(&[&[0]]), 3, &BTreeMap::new());
        let first = p.status(None, "t1");
        assert_eq!(first.since, "t1");
        assert_eq!(p.status(Some(&first), "t2").since, "t1");
        let other = ReplicaChangeStatus {
            target_replicas: 2,
            ..first
        };
        assert_eq!(
            p.status(Some(&other), "t3").since,
            "t3",
            "a new target restarts it"
        );
    }

    #[test]
    fn the_event_lists_the_moves_as_a_sentence() {
        let moves: Vec<PartitionTarget> = (0..12)
            .map(|p| PartitionTarget {
                partition: p,
                replicas: vec![p % 3, (p + 1) % 3],
            })
            .collect();
        let note = describe_moves("t", 2, &moves, 40);
        assert!(
            note.starts_with(
                "Reassigning 12 of the 40 partition(s) of topic \"t\" not yet at 2 replicas: 0 -> [0, 1], 1 -> [1, 2]"
            ),
            "{note}"
        );
        assert!(note.ends_with("and 2 more."), "{note}");
    }
}
