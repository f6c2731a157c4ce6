//! The next step of a scale (pure): from the brokers' assignment and the
//! moves in progress, which batch of reassignments to submit, or what the
//! scale waits for, or that it is done.
//!
//! The operator keeps no plan between reconciles: each step plans afresh
//! from what the brokers report, so a restarted operator, a partition
//! created meanwhile or a move a user made is simply part of the next plan.
//! Only progress (how many partitions moved of how many) is carried in
//! `status.operation`, for the user.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use k8s_openapi::jiff::Timestamp;

use super::plan::{self, Assignment, PartitionId};
use crate::crd::kafka_cluster::Operation;

/// `status.operation.name` while brokers were added and partitions move onto them.
pub const SCALE_UP: &str = "ScaleUp";
/// `status.operation.name` while the leaving brokers are drained.
pub const SCALE_DOWN: &str = "ScaleDown";

/// What the brokers report.
#[derive(Debug, Clone, Default)]
pub struct ScaleFacts {
    /// Registered, unfenced brokers -> rack.
    pub brokers: BTreeMap<i32, Option<String>>,
    /// Every partition's replicas (the target of a move in progress), leader first.
    pub assignment: Assignment,
    /// Partitions whose leader is not their first replica.
    pub unpreferred_leaders: Vec<PartitionId>,
    /// Partitions with a reassignment in progress.
    pub ongoing: Vec<PartitionId>,
}

/// Everything the decision depends on.
#[derive(Debug, Clone)]
pub struct ScaleInput<'a> {
    /// [`SCALE_UP`] or [`SCALE_DOWN`].
    pub name: &'static str,
    /// Brokers `0..replicas` must be registered first (while draining, the
    /// leaving ones too).
    pub replicas: i32,
    /// Brokers that must end up holding no replica.
    pub leaving: &'a BTreeSet<i32>,
    /// `status.operation` as last written.
    pub previous: Option<&'a Operation>,
    /// Now.
    pub now: Timestamp,
    /// Bound of a batch of moves.
    pub timeout: Duration,
    /// Most partitions moving at once.
    pub max_moves: usize,
}

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScaleStep {
    /// Nothing to move.
    Idle,
    /// Submit these reassignments (target replicas, leader first).
    Submit(Vec<(PartitionId, Vec<i32>)>, Operation),
    /// Elect the preferred leaders of these partitions: the moves are done.
    ElectLeaders(Vec<PartitionId>, Operation),
    /// Moves in progress, within the bound, or new brokers not registered yet.
    Wait(Operation),
    /// A batch made no progress within the bound: stopped, never forced.
    Stuck(Operation),
    /// The plan cannot be made (a partition wider than the brokers).
    Refused(Operation),
}

impl ScaleStep {
    /// The operation to show in the status, if any.
    pub fn operation(&self) -> Option<&Operation> {
        match self {
            ScaleStep::Idle => None,
            ScaleStep::Submit(_, op)
            | ScaleStep::ElectLeaders(_, op)
            | ScaleStep::Wait(op)
            | ScaleStep::Stuck(op)
            | ScaleStep::Refused(op) => Some(op),
        }
    }
}

/// Whether a scale up is under way: the StatefulSet is growing now
/// (`running` is its replica count before this reconcile), the last status
/// says one runs, or a registered broker holds no replica while others do
/// (a broker added whose scale was not recorded, e.g. the status write
/// failed or the operator restarted: the level, not only the edge, starts it).
pub fn active(
    running: Option<i32>,
    replicas: i32,
    previous: Option<&Operation>,
    facts: &ScaleFacts,
) -> bool {
    let held: BTreeSet<i32> = facts.assignment.values().flatten().copied().collect();
    let empty_broker = !held.is_empty() && facts.brokers.keys().any(|b| !held.contains(b));
    running.is_some_and(|r| r < replicas)
        || previous.is_some_and(|op| op.name == SCALE_UP)
        || empty_broker
}

/// The next step of a scale up.
pub fn next_step(input: &ScaleInput<'_>, facts: &ScaleFacts) -> ScaleStep {
    let (done, total, moving) = progress(input.previous, input.name);
    let op = |message: String, since: Option<String>, done: usize, total: usize| Operation {
        name: input.name.to_owned(),
        broker: None,
        since,
        message: Some(message),
        partitions_moved: Some(count(done)),
        partitions_to_move: Some(count(total)),
        partitions_moving: None,
    };
    let missing: Vec<i32> = (0..input.replicas)
        .filter(|b| !facts.brokers.contains_key(b))
        .collect();
    if !missing.is_empty() {
        return ScaleStep::Wait(op(
            format!("waiting for brokers {missing:?} to register before moving partitions"),
            None,
            done,
            total,
        ));
    }
    let previous_since = input.previous.and_then(|p| p.since.clone());
    if !facts.ongoing.is_empty() {
        // Progress shown within the batch; the batch's base stays recorded.
        let shown = done + moving.saturating_sub(facts.ongoing.len());
        let message = format!(
            "moved {shown}/{total} partitions; waiting for {} moves ({})",
            facts.ongoing.len(),
            names(&facts.ongoing)
        );
        let keep = |mut op: Operation| {
            op.partitions_moving = Some(count(moving));
            op
        };
        let started = previous_since
            .as_deref()
            .and_then(|s| s.parse::<Timestamp>().ok());
        let overdue =
            started.is_some_and(|s| input.now.duration_since(s).unsigned_abs() > input.timeout);
        return if overdue {
            ScaleStep::Stuck(keep(op(
                format!(
                    "moved {shown}/{total} partitions; the moves of {} did not finish within {}s (rollingUpdate.readyTimeoutSeconds); they are not forced",
                    names(&facts.ongoing),
                    input.timeout.as_secs()
                ),
                previous_since,
                done,
                total,
            )))
        } else {
            ScaleStep::Wait(keep(op(message, previous_since, done, total)))
        };
    }
    // No move in progress: the batch in flight finished.
    let done = done + moving;
    let total = total.max(done);
    let plan = match plan::plan(&facts.assignment, &facts.brokers, input.leaving) {
        Ok(plan) => plan,
        Err(e) => return ScaleStep::Refused(op(e.to_string(), None, done, total)),
    };
    let pending: Vec<PartitionId> = plan.moved.iter().chain(&plan.reordered).cloned().collect();
    if pending.is_empty() {
        return if facts.unpreferred_leaders.is_empty() {
            ScaleStep::Idle
        } else {
            ScaleStep::ElectLeaders(
                facts.unpreferred_leaders.clone(),
                op(
                    format!("moved {total}/{total} partitions; electing preferred leaders"),
                    None,
                    total,
                    total,
                ),
            )
        };
    }
    // A new scale counts from here; a running one adds what appeared since.
    let total = (done + pending.len()).max(total);
    let batch: Vec<(PartitionId, Vec<i32>)> = pending
        .into_iter()
        .take(input.max_moves)
        .map(|p| {
            let target = plan.target[&p].clone();
            (p, target)
        })
        .collect();
    let message = format!(
        "moved {done}/{total} partitions; moving {}",
        names(&batch.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>())
    );
    // `since` is when the batch was submitted: the bound of its moves.
    let mut submitted = op(message, Some(input.now.to_string()), done, total);
    submitted.partitions_moving = Some(count(batch.len()));
    ScaleStep::Submit(batch, submitted)
}

/// Partitions moved before the batch in flight, to move, and in the batch
/// in flight, as the last status recorded them; once no move is in
/// progress the batch counts as moved.
fn progress(previous: Option<&Operation>, name: &str) -> (usize, usize, usize) {
    let Some(op) = previous.filter(|op| op.name == name) else {
        return (0, 0, 0);
    };
    let field = |n: Option<i32>| usize::try_from(n.unwrap_or(0)).unwrap_or(0);
    let moved = field(op.partitions_moved);
    let moving = field(op.partitions_moving);
    (moved, field(op.partitions_to_move).max(moved), moving)
}

/// A partition count as the status shows it (Kubernetes' int32).
fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// `topic-partition, ...`, at most five, for messages.
fn names(partitions: &[PartitionId]) -> String {
    let mut out: Vec<String> = partitions
        .iter()
        .take(5)
        .map(|(t, p)| format!("{t}-{p}"))
        .collect();
    if partitions.len() > 5 {
        out.push(format!("and {} more", partitions.len() - 5));
    }
    out.join(", ")
}

#[cfg(test)]
#[path = "step_tests.rs"]
mod tests;
