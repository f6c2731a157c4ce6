//! A partition's replication state, on both sides. As leader: which replicas
//! are in sync (the ISR, from the metadata image), how far each follower has
//! fetched, the high watermark (what every ISR member has), and the ISR
//! changes to ask the controller for (AlterPartition: a follower that caught
//! up joins, one that lagged `replica.lag.time.max.ms` leaves). As follower:
//! the leader's high watermark and log start offset, applied locally.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use kafka_protocol::ResponseError;

use super::partition::{FetchRead, Partition};
use crate::controller::AlterPartition;
use crate::log::LogError;
use crate::metadata::PartitionImage;

/// Leadership and ISR as the metadata image last said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leadership {
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

impl From<&PartitionImage> for Leadership {
    fn from(p: &PartitionImage) -> Self {
        Self {
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            replicas: p.replicas.clone(),
            isr: p.isr.clone(),
        }
    }
}

/// What changed for this broker when a new leadership was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    BecameLeader,
    /// Follow `leader` (a new leader or a new epoch of the same one).
    BecameFollower {
        leader: i32,
    },
    /// No leader at all (every in-sync replica is fenced).
    Offline,
    Unchanged,
}

/// How far a follower has fetched, as its leader tracks it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct FollowerProgress {
    log_end_offset: i64,
    /// When the follower last had everything the leader had (Kafka's
    /// lastCaughtUpTimeMs); an ISR member behind for longer than
    /// `replica.lag.time.max.ms` leaves the ISR.
    last_caught_up_ms: i64,
    /// The leader's log end offset and the time of the previous fetch: a
    /// fetch that reaches it shows the follower was caught up back then.
    previous_fetch_leader_end: i64,
    previous_fetch_ms: i64,
}

/// Why a produce or a wait for acks=all failed; each maps to Kafka's code.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("this broker does not lead the partition")]
    NotLeader,
    #[error("{isr} in-sync replicas, fewer than min.insync.replicas={min}")]
    NotEnoughReplicas { isr: usize, min: i32 },
    #[error("appended, but the ISR shrank to {isr}, fewer than min.insync.replicas={min}")]
    NotEnoughReplicasAfterAppend { isr: usize, min: i32 },
    #[error("followers did not replicate within the request timeout")]
    TimedOut,
    #[error(transparent)]
    Log(#[from] LogError),
}

impl ProduceError {
    pub fn error_code(&self) -> ResponseError {
        match self {
            Self::NotLeader => ResponseError::NotLeaderOrFollower,
            Self::NotEnoughReplicas { .. } => ResponseError::NotEnoughReplicas,
            Self::NotEnoughReplicasAfterAppend { .. } => {
                ResponseError::NotEnoughReplicasAfterAppend
            }
            Self::TimedOut => ResponseError::RequestTimedOut,
            Self::Log(e) => e.error_code(),
        }
    }
}

impl Partition {
    /// Applies the partition's leadership from a new metadata image. A
    /// stale image (older leader epoch) changes nothing.
    pub fn apply_leadership(&self, image: &PartitionImage) -> Transition {
        let next = Leadership::from(image);
        let mut current = self.leadership.write();
        if next == *current {
            return Transition::Unchanged;
        }
        if next.leader_epoch < current.leader_epoch {
            return Transition::Unchanged;
        }
        let new_term = next.leader_epoch != current.leader_epoch || next.leader != current.leader;
        *current = next;
        let leadership = current.clone();
        drop(current);
        self.isr_change_in_flight.store(false, Ordering::Release);
        self.leader_epoch
            .store(leadership.leader_epoch, Ordering::Release);
        // Producers waiting for acks=all re-check who leads.
        self.high_watermark_moved.notify_waiters();
        if leadership.leader == self.node_id {
            if new_term {
                self.followers.lock().clear();
                self.led_since_ms
                    .store(crate::clock::now_ms(), Ordering::Release);
                if let Err(error) = self.log.assign_leader_epoch(leadership.leader_epoch) {
                    tracing::error!(topic = %self.topic, partition = self.index, %error, "could not record the leader epoch");
                }
            }
            self.maybe_advance_high_watermark();
            return if new_term {
                Transition::BecameLeader
            } else {
                Transition::Unchanged
            };
        }
        match (leadership.leader, new_term) {
            (-1, _) => Transition::Offline,
            (leader, true) => Transition::BecameFollower { leader },
            (_, false) => Transition::Unchanged,
        }
    }

    /// This broker stops leading (it is shutting down): appends are refused
    /// and producers waiting for acks=all get NOT_LEADER_OR_FOLLOWER at once
    /// (retriable: they find the new leader), instead of holding the
    /// shutdown until their request timeout when no follower fetches.
    pub fn resign(&self) {
        let mut leadership = self.leadership.write();
        if leadership.leader == self.node_id {
            leadership.leader = -1;
        }
        drop(leadership);
        self.high_watermark_moved.notify_waiters();
    }

    pub fn leadership(&self) -> Leadership {
        self.leadership.read().clone()
    }

    /// Whether broker `id` is one of this partition's replicas.
    pub fn has_replica(&self, id: i32) -> bool {
        self.leadership.read().replicas.contains(&id)
    }

    /// Whether `id` is in the ISR.
    pub fn has_in_sync_replica(&self, id: i32) -> bool {
        self.leadership.read().isr.contains(&id)
    }

    pub fn is_leader(&self) -> bool {
        self.leadership.read().leader == self.node_id
    }

    /// On the leader: the high watermark moves to what every ISR member
    /// has (this broker's log end, each follower's fetch offset).
    pub(super) fn maybe_advance_high_watermark(&self) {
        let leadership = self.leadership.read();
        if leadership.leader != self.node_id {
            return;
        }
        let followers = self.followers.lock();
        let mut high_watermark = self.log.log_end_offset();
        for id in leadership.isr.iter().filter(|id| **id != self.node_id) {
            let theirs = followers.get(id).map_or(-1, |f| f.log_end_offset);
            high_watermark = high_watermark.min(theirs);
        }
        drop(followers);
        drop(leadership);
        if high_watermark >= 0 {
            self.advance_high_watermark(high_watermark);
        }
    }

    /// A follower's fetch, on the leader: records its progress, advances the
    /// high watermark, and reads up to the log end (not the high
    /// watermark). Returns the read and, when the follower has caught up
    /// but is not in the ISR, the AlterPartition that adds it.
    pub fn read_for_follower(
        &self,
        replica: i32,
        fetch_offset: i64,
        max_bytes: usize,
        now_ms: i64,
    ) -> Result<(FetchRead, Option<AlterPartition>), LogError> {
        let log_end = self.log.log_end_offset();
        let leadership = self.leadership();
        if leadership.replicas.contains(&replica) {
            let mut followers = self.followers.lock();
            let progress = followers.entry(replica).or_default();
            progress.log_end_offset = fetch_offset;
            if fetch_offset >= log_end {
                progress.last_caught_up_ms = now_ms;
            } else if fetch_offset >= progress.previous_fetch_leader_end {
                progress.last_caught_up_ms = progress.previous_fetch_ms;
            }
            progress.previous_fetch_leader_end = log_end;
            progress.previous_fetch_ms = now_ms;
        }
        self.maybe_advance_high_watermark();
        let high_watermark = self.high_watermark();
        let records = if max_bytes == 0 {
            None
        } else {
            self.log.read_slice(fetch_offset, max_bytes, log_end)?
        };
        let joins = !leadership.isr.contains(&replica)
            && leadership.replicas.contains(&replica)
            && fetch_offset >= high_watermark
            && !self.isr_change_in_flight.swap(true, Ordering::AcqRel);
        let expand = joins.then(|| {
            let mut isr = leadership.isr.clone();
            isr.push(replica);
            self.alter_partition(&leadership, isr)
        });
        let read = FetchRead {
            records,
            high_watermark,
            log_start_offset: self.log.log_start_offset(),
        };
        Ok((read, expand))
    }

    /// On the leader: the AlterPartition that removes ISR members that have
    /// not caught up within `lag_max_ms`, if any.
    pub fn isr_shrink(&self, now_ms: i64, lag_max_ms: i64) -> Option<AlterPartition> {
        let leadership = self.leadership();
        if leadership.leader != self.node_id {
            return None;
        }
        let followers = self.followers.lock();
        let lagging = |id: &i32| {
            let caught_up = followers.get(id).map_or(0, |f| f.last_caught_up_ms);
            *id != self.node_id && now_ms - caught_up.max(self.led_since_ms()) > lag_max_ms
        };
        if !leadership.isr.iter().any(lagging) {
            return None;
        }
        let isr: Vec<i32> = leadership
            .isr
            .iter()
            .copied()
            .filter(|id| !lagging(id))
            .collect();
        drop(followers);
        if self.isr_change_in_flight.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(self.alter_partition(&leadership, isr))
    }

    /// An ISR change was refused or failed: a later one may be tried.
    pub fn isr_change_failed(&self) {
        self.isr_change_in_flight.store(false, Ordering::Release);
    }

    fn alter_partition(&self, leadership: &Leadership, new_isr: Vec<i32>) -> AlterPartition {
        AlterPartition {
            topic_id: self.topic_id,
            partition: self.index,
            leader: self.node_id,
            leader_epoch: leadership.leader_epoch,
            partition_epoch: leadership.partition_epoch,
            new_isr,
        }
    }

    /// On a follower: applies the leader's high watermark (never beyond
    /// what this replica has) and log start offset.
    pub fn follow_leader_offsets(&self, leader_high_watermark: i64, leader_log_start: i64) {
        let high_watermark = leader_high_watermark.min(self.log.log_end_offset());
        self.advance_high_watermark(high_watermark);
        if leader_log_start > self.log.log_start_offset()
            && leader_log_start <= high_watermark
            && let Err(error) = self.log.delete_records_before(leader_log_start)
        {
            tracing::warn!(topic = %self.topic, partition = self.index, %error, "could not follow the leader's log start offset");
        }
    }

    /// On a follower: appends what was fetched from the leader.
    pub fn append_as_follower(&self, records: bytes::Bytes, now_ms: i64) -> Result<(), LogError> {
        self.log.append_as_follower(records, now_ms)
    }

    /// On a follower before fetching: cuts the log back to `offset` (where
    /// the leader says this replica's last epoch ended).
    pub fn truncate_to(&self, offset: i64) -> Result<i64, LogError> {
        let end = self.log.truncate_to(offset)?;
        self.high_watermark.fetch_min(end, Ordering::AcqRel);
        Ok(end)
    }

    /// On a follower whose log ends below the leader's log start offset:
    /// drops the log and starts it at `leader_log_start` (everything below
    /// it is committed, so that is also the high watermark from here).
    pub fn truncate_fully_and_start_at(
        &self,
        leader_log_start: i64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        self.log
            .truncate_fully_and_start_at(leader_log_start, now_ms)?;
        self.high_watermark
            .store(leader_log_start, Ordering::Release);
        Ok(())
    }

    /// The latest leader epoch in this replica's log.
    pub fn latest_leader_epoch(&self) -> Option<i32> {
        self.log.latest_leader_epoch()
    }

    /// OffsetForLeaderEpoch on the leader.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.log.end_offset_for_epoch(epoch)
    }
}

/// One partition's replication health, for metrics.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ReplicationStatus {
    pub(super) leader: bool,
    pub(super) under_replicated: bool,
    pub(super) under_min_isr: bool,
    /// On a follower: leader's high watermark (as last fetched) - log end.
    pub(super) lag_records: i64,
    /// On the leader: longest time since an in-sync follower caught up.
    pub(super) follower_lag_ms: i64,
}

impl Partition {
    pub(super) fn replication_status(&self, now_ms: i64) -> ReplicationStatus {
        let leadership = self.leadership.read();
        if leadership.leader != self.node_id {
            return ReplicationStatus {
                lag_records: (self.high_watermark() - self.log.log_end_offset()).max(0),
                ..Default::default()
            };
        }
        let followers = self.followers.lock();
        let follower_lag_ms = leadership
            .isr
            .iter()
            .filter(|id| **id != self.node_id)
            .map(|id| {
                let caught_up = followers.get(id).map_or(0, |f| f.last_caught_up_ms);
                now_ms - caught_up.max(self.led_since_ms())
            })
            .max()
            .unwrap_or(0);
        ReplicationStatus {
            leader: true,
            under_replicated: leadership.isr.len() < leadership.replicas.len(),
            under_min_isr: (leadership.isr.len() as i32)
                < self.min_insync_replicas.load(Ordering::Acquire),
            lag_records: 0,
            follower_lag_ms,
        }
    }
}

/// Follower progress by replica id.
pub(super) type Followers = HashMap<i32, FollowerProgress>;
