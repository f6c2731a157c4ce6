//! Where every partition's replicas should live after brokers come or go
//! (pure): the target assignment of a scale up, a drain or a rebalance.
//!
//! Each replica that moves is a copy of the partition's whole log, so the
//! planner moves as few as it can: first only the replicas on brokers that
//! must end up empty (or that no longer exist), each to the least-loaded
//! broker that fits; then, one replica at a time, from the most-loaded broker
//! to the least-loaded one until the replica counts per broker are within one
//! of each other (every count is the floor or the ceiling of the even share).
//! Preferred leaders (the first replica) are then balanced the same way by
//! reordering a partition's replicas, which moves no data. A partition's
//! replication factor never changes, and while there are at least as many
//! racks as its replication factor its replicas stay on distinct racks (a
//! move that would put two on one rack is not made).

use std::collections::{BTreeMap, BTreeSet};

/// A partition: topic and index.
pub type PartitionId = (String, i32);

/// Partition -> replicas, the preferred leader first.
pub type Assignment = BTreeMap<PartitionId, Vec<i32>>;

/// A partition whose replicas cannot be placed: fewer brokers remain than
/// its replication factor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "partition {}-{} has {replication_factor} replicas but only {brokers} brokers would remain",
    .partition.0, .partition.1
)]
pub struct Unplaceable {
    /// The partition.
    pub partition: PartitionId,
    /// Its replication factor.
    pub replication_factor: usize,
    /// Brokers that may hold replicas.
    pub brokers: usize,
}

/// The target of a plan and the partitions whose replica list changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Every partition's replicas after the plan, leader first.
    pub target: Assignment,
    /// Partitions whose replica set changes (data moves).
    pub moved: Vec<PartitionId>,
    /// Partitions whose replicas only change order (a new preferred leader).
    pub reordered: Vec<PartitionId>,
}

/// Plans the assignment of `current` over `brokers` (id -> rack, `None`
/// without one), emptying the brokers in `leaving`.
pub fn plan(
    current: &Assignment,
    brokers: &BTreeMap<i32, Option<String>>,
    leaving: &BTreeSet<i32>,
) -> Result<Plan, Unplaceable> {
    let mut state = State::new(current, brokers, leaving);
    state.evacuate()?;
    state.balance_replicas();
    state.balance_leaders();
    let target = state.assignment;
    let changed = |pred: fn(&[i32], &[i32]) -> bool| -> Vec<PartitionId> {
        target
            .iter()
            .filter(|(p, replicas)| pred(&current[*p], replicas))
            .map(|(p, _)| p.clone())
            .collect()
    };
    let moved = changed(|a, b| sorted(a) != sorted(b));
    let reordered = changed(|a, b| a != b && sorted(a) == sorted(b));
    Ok(Plan {
        target,
        moved,
        reordered,
    })
}

fn sorted(replicas: &[i32]) -> Vec<i32> {
    let mut s = replicas.to_vec();
    s.sort_unstable();
    s
}

/// The assignment being planned and the loads it implies.
struct State<'a> {
    assignment: Assignment,
    racks: &'a BTreeMap<i32, Option<String>>,
    /// Brokers that may hold replicas, ascending.
    targets: Vec<i32>,
    /// Distinct racks among `targets` (brokers without a rack count as one).
    rack_count: usize,
}

impl<'a> State<'a> {
    fn new(
        current: &Assignment,
        racks: &'a BTreeMap<i32, Option<String>>,
        leaving: &BTreeSet<i32>,
    ) -> Self {
        let targets: Vec<i32> = racks
            .keys()
            .copied()
            .filter(|b| !leaving.contains(b))
            .collect();
        let rack_count = targets
            .iter()
            .map(|b| &racks[b])
            .collect::<BTreeSet<_>>()
            .len();
        State {
            assignment: current.clone(),
            racks,
            targets,
            rack_count,
        }
    }

    /// Replicas per target broker.
    fn replica_counts(&self) -> BTreeMap<i32, usize> {
        let mut counts: BTreeMap<i32, usize> = self.targets.iter().map(|b| (*b, 0)).collect();
        for b in self.assignment.values().flatten() {
            if let Some(c) = counts.get_mut(b) {
                *c += 1;
            }
        }
        counts
    }

    /// Preferred leaderships per target broker.
    fn leader_counts(&self) -> BTreeMap<i32, usize> {
        let mut counts: BTreeMap<i32, usize> = self.targets.iter().map(|b| (*b, 0)).collect();
        for replicas in self.assignment.values() {
            if let Some(c) = replicas.first().and_then(|b| counts.get_mut(b)) {
                *c += 1;
            }
        }
        counts
    }

    /// Whether `to` may take the replica of `partition` that `from` holds:
    /// not already a replica, and on a rack the other replicas do not use
    /// while the racks suffice for the replication factor.
    fn fits(&self, partition: &[i32], from: i32, to: i32) -> bool {
        if partition.contains(&to) {
            return false;
        }
        if self.rack_count < partition.len() {
            return true;
        }
        let rack = &self.racks[&to];
        partition
            .iter()
            .filter(|b| **b != from)
            .all(|b| self.racks.get(b) != Some(rack))
    }

    /// Moves every replica off brokers that are leaving or gone.
    fn evacuate(&mut self) -> Result<(), Unplaceable> {
        let partitions: Vec<PartitionId> = self.assignment.keys().cloned().collect();
        for p in partitions {
            let replicas = self.assignment[&p].clone();
            if replicas.len() > self.targets.len() {
                return Err(Unplaceable {
                    partition: p,
                    replication_factor: replicas.len(),
                    brokers: self.targets.len(),
                });
            }
            for from in replicas {
                if self.targets.contains(&from) {
                    continue;
                }
                let counts = self.replica_counts();
                let current = &self.assignment[&p];
                // Least loaded first; a rack-fitting broker before any other.
                let to = self
                    .targets
                    .iter()
                    .copied()
                    .filter(|b| !current.contains(b))
                    .min_by_key(|b| (!self.fits(current, from, *b), counts[b], *b))
                    .expect("more targets than replicas");
                self.replace(&p, from, to);
            }
        }
        Ok(())
    }

    fn replace(&mut self, partition: &PartitionId, from: i32, to: i32) {
        if let Some(r) = self
            .assignment
            .get_mut(partition)
            .and_then(|rs| rs.iter_mut().find(|r| **r == from))
        {
            *r = to;
        }
    }

    /// Moves one replica at a time from the most- to the least-loaded
    /// broker while they differ by more than one. Each move lowers the sum
    /// of squared loads, so this ends; it also ends when no partition of an
    /// overloaded broker fits an underloaded one (racks).
    fn balance_replicas(&mut self) {
        loop {
            let counts = self.replica_counts();
            let Some(step) = self.best_move(&counts) else {
                return;
            };
            self.replace(&step.0, step.1, step.2);
        }
    }

    /// The move from the most loaded broker that can give one to the least
    /// loaded one that can take it, preferring to move a non-leader replica
    /// (leadership stays put) and then the lowest partition.
    fn best_move(&self, counts: &BTreeMap<i32, usize>) -> Option<(PartitionId, i32, i32)> {
        uneven_pairs(counts, |from, to| {
            self.assignment
                .iter()
                .filter(|(_, rs)| rs.contains(&from) && self.fits(rs, from, to))
                .min_by_key(|(_, rs)| rs.first() == Some(&from))
                .map(|(p, _)| (p.clone(), from, to))
        })
    }

    /// Balances preferred leaders by moving, within one partition, a
    /// replica of a less-led broker to the front.
    fn balance_leaders(&mut self) {
        loop {
            let counts = self.leader_counts();
            let Some((partition, to)) = self.best_leader_change(&counts) else {
                return;
            };
            let replicas = self.assignment.get_mut(&partition).expect("planned");
            let pos = replicas.iter().position(|r| *r == to).expect("a replica");
            let new_leader = replicas.remove(pos);
            replicas.insert(0, new_leader);
        }
    }

    fn best_leader_change(&self, counts: &BTreeMap<i32, usize>) -> Option<(PartitionId, i32)> {
        uneven_pairs(counts, |from, to| {
            self.assignment
                .iter()
                .find(|(_, rs)| rs.first() == Some(&from) && rs.contains(&to))
                .map(|(p, _)| (p.clone(), to))
        })
    }
}

/// Tries `pick(from, to)` for broker pairs whose counts differ by more than
/// one, the most loaded `from` first and, for each, the least loaded `to`
/// first; the first answer wins.
fn uneven_pairs<T>(
    counts: &BTreeMap<i32, usize>,
    mut pick: impl FnMut(i32, i32) -> Option<T>,
) -> Option<T> {
    let mut by_load: Vec<(usize, i32)> = counts.iter().map(|(b, c)| (*c, *b)).collect();
    by_load.sort_unstable();
    for &(high, from) in by_load.iter().rev() {
        for &(low, to) in &by_load {
            if high <= low + 1 {
                break;
            }
            if let Some(found) = pick(from, to) {
                return Some(found);
            }
        }
    }
    None
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
