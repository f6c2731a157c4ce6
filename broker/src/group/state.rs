//! One consumer group's membership state machine (the classic protocol):
//! Empty -> PreparingRebalance -> CompletingRebalance -> Stable, and back
//! to PreparingRebalance when members join, leave or expire. Pure state:
//! the coordinator owns timers and storage.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;

use super::records::{CommittedOffset, GroupSnapshot};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    /// The name Kafka reports (DescribeGroups, ListGroups).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::PreparingRebalance => "PreparingRebalance",
            Self::CompletingRebalance => "CompletingRebalance",
            Self::Stable => "Stable",
        }
    }
}

/// What a JoinGroup waits for.
#[derive(Debug, Clone)]
pub(crate) struct JoinOutcome {
    pub(crate) error: Option<ResponseError>,
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader: String,
    pub(crate) member_id: String,
    /// (member id, group instance id, protocol metadata); only for the leader.
    pub(crate) members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinOutcome {
    pub(crate) fn error(error: ResponseError, member_id: &str) -> Self {
        Self {
            error: Some(error),
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_owned(),
            members: Vec::new(),
        }
    }
}

/// What a SyncGroup waits for: the member's assignment, or an error.
pub(crate) type SyncOutcome = Result<Bytes, ResponseError>;

#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout: Duration,
    pub(crate) rebalance_timeout: Duration,
    pub(crate) protocols: Vec<(String, Bytes)>,
    pub(crate) assignment: Bytes,
    pub(crate) join_waiter: Option<oneshot::Sender<JoinOutcome>>,
    pub(crate) sync_waiter: Option<oneshot::Sender<SyncOutcome>>,
    pub(crate) last_seen: Instant,
    /// Order of joining: the leader is the earliest member.
    pub(crate) joined_seq: u64,
}

impl Member {
    pub(crate) fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(name, _)| name == protocol)
    }

    pub(crate) fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
}

#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) id: String,
    pub(crate) state: GroupState,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) generation: i32,
    pub(crate) leader: Option<String>,
    pub(crate) members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet joined, and
    /// when they expire (a client that never comes back is forgotten).
    pub(crate) pending: HashMap<String, Instant>,
    /// Member ids replaced by a newer member with the same instance id.
    pub(crate) fenced: HashSet<String>,
    pub(crate) offsets: HashMap<(String, i32), CommittedOffset>,
    /// A rebalance may not complete before this (initial rebalance delay).
    pub(crate) join_not_before: Option<Instant>,
    /// When members that have not sent SyncGroup after a rebalance are
    /// removed (the rebalance timeout, counted from the join's completion).
    pub(crate) sync_deadline: Option<Instant>,
    /// Bumped on every new rebalance, so that stale timers do nothing.
    pub(crate) rebalance_epoch: u64,
    next_join_seq: u64,
}

impl Group {
    pub(crate) fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            state: GroupState::Empty,
            protocol_type: None,
            protocol_name: None,
            generation: 0,
            leader: None,
            members: BTreeMap::new(),
            pending: HashMap::new(),
            fenced: HashSet::new(),
            offsets: HashMap::new(),
            join_not_before: None,
            sync_deadline: None,
            rebalance_epoch: 0,
            next_join_seq: 0,
        }
    }

    /// Takes the state recorded after the group's last rebalance (at load):
    /// a group with members is Stable again, its members' sessions counted
    /// from `now`, so that members still alive keep heartbeating without a
    /// rebalance and dead ones expire, as Kafka does after loading a group.
    pub(crate) fn restore(&mut self, snapshot: GroupSnapshot, now: Instant) {
        for member in std::mem::take(&mut self.members).into_values() {
            drop(member.join_waiter);
            drop(member.sync_waiter);
        }
        self.generation = snapshot.generation;
        self.protocol_type = Some(snapshot.protocol_type);
        self.protocol_name = snapshot.protocol;
        self.join_not_before = None;
        self.sync_deadline = None;
        let protocol = self.protocol_name.clone().unwrap_or_default();
        // The leader first, so that it stays the earliest member.
        let mut members = snapshot.members;
        members.sort_by_key(|m| Some(&m.member_id) != snapshot.leader.as_ref());
        for m in members {
            let joined_seq = self.next_join_seq();
            self.members.insert(
                m.member_id.clone(),
                Member {
                    id: m.member_id,
                    instance_id: m.instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    session_timeout: Duration::from_millis(m.session_timeout_ms.max(0) as u64),
                    rebalance_timeout: Duration::from_millis(m.rebalance_timeout_ms.max(0) as u64),
                    protocols: vec![(protocol.clone(), m.subscription)],
                    assignment: m.assignment,
                    join_waiter: None,
                    sync_waiter: None,
                    last_seen: now,
                    joined_seq,
                },
            );
        }
        if self.members.is_empty() || self.protocol_name.is_none() {
            self.members.clear();
            self.state = GroupState::Empty;
            self.leader = None;
        } else {
            self.state = GroupState::Stable;
            self.leader = snapshot
                .leader
                .filter(|l| self.members.contains_key(l))
                .or_else(|| self.members.keys().next().cloned());
        }
    }

    pub(crate) fn next_join_seq(&mut self) -> u64 {
        self.next_join_seq += 1;
        self.next_join_seq
    }

    /// The error for a request naming `member_id`, if it is not a member.
    pub(crate) fn member_error(&self, member_id: &str) -> Option<ResponseError> {
        if self.members.contains_key(member_id) {
            None
        } else if self.fenced.contains(member_id) {
            Some(ResponseError::FencedInstanceId)
        } else {
            Some(ResponseError::UnknownMemberId)
        }
    }

    /// Protocols every member supports, ranked by members' first choices.
    pub(crate) fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().min_by_key(|m| m.joined_seq)?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(name, _)| name)
            .filter(|name| self.members.values().all(|m| m.supports(name)))
            .collect();
        let mut votes: HashMap<&String, usize> = HashMap::new();
        for member in self.members.values() {
            if let Some((name, _)) = member
                .protocols
                .iter()
                .find(|(n, _)| candidates.contains(&n))
            {
                *votes.entry(name).or_default() += 1;
            }
        }
        candidates
            .iter()
            .max_by_key(|c| {
                (
                    votes.get(*c).copied().unwrap_or(0),
                    std::cmp::Reverse(candidates.iter().position(|x| x == *c)),
                )
            })
            .map(|c| (*c).clone())
    }

    /// Starts a rebalance: members must rejoin; waiting syncs are told so.
    /// Returns the new rebalance epoch (for its timer).
    pub(crate) fn prepare_rebalance(&mut self) -> u64 {
        for member in self.members.values_mut() {
            if let Some(waiter) = member.sync_waiter.take() {
                let _ = waiter.send(Err(ResponseError::RebalanceInProgress));
            }
        }
        self.state = GroupState::PreparingRebalance;
        self.rebalance_epoch += 1;
        self.rebalance_epoch
    }

    /// The longest rebalance timeout among members: how long a rebalance
    /// waits for members to rejoin.
    pub(crate) fn rebalance_timeout(&self) -> Duration {
        self.members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// Completes the join phase if every member has rejoined (or `force`,
    /// when the rebalance timeout passed: members that did not rejoin are
    /// removed). Answers every waiting JoinGroup. Returns whether it completed.
    pub(crate) fn try_complete_join(&mut self, now: Instant, force: bool) -> bool {
        if self.state != GroupState::PreparingRebalance {
            return false;
        }
        if self.join_not_before.is_some_and(|t| now < t) {
            return false;
        }
        let all_joined = self.members.values().all(|m| m.join_waiter.is_some());
        if !all_joined && !force {
            return false;
        }
        self.members.retain(|_, m| m.join_waiter.is_some());
        self.join_not_before = None;
        self.generation += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.leader = None;
            self.protocol_name = None;
            return true;
        }
        let protocol = self.select_protocol();
        let leader_gone = self
            .leader
            .as_ref()
            .is_none_or(|l| !self.members.contains_key(l));
        if leader_gone {
            self.leader = self
                .members
                .values()
                .min_by_key(|m| m.joined_seq)
                .map(|m| m.id.clone());
        }
        self.protocol_name = protocol.clone();
        self.state = GroupState::CompletingRebalance;
        self.sync_deadline = Some(now + self.rebalance_timeout());
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let outcome = self.current_outcome(&id);
            let member = self.members.get_mut(&id).expect("listed above");
            if let Some(waiter) = member.join_waiter.take() {
                member.last_seen = now;
                let _ = waiter.send(outcome);
            }
        }
        true
    }

    /// The JoinGroup answer of the current generation for `member_id`: the
    /// leader also gets every member's metadata for the chosen protocol.
    pub(crate) fn current_outcome(&self, member_id: &str) -> JoinOutcome {
        let leader = self.leader.clone().unwrap_or_default();
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = if member_id == leader {
            self.members
                .values()
                .map(|m| {
                    (
                        m.id.clone(),
                        m.instance_id.clone(),
                        m.metadata_for(&protocol),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinOutcome {
            error: None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: Some(protocol),
            leader,
            member_id: member_id.to_owned(),
            members,
        }
    }

    /// Answers every member waiting in JoinGroup or SyncGroup with `error`:
    /// the group is being dropped by this coordinator.
    pub(crate) fn fail_waiters(&mut self, error: ResponseError) {
        for member in self.members.values_mut() {
            if let Some(waiter) = member.join_waiter.take() {
                let _ = waiter.send(JoinOutcome::error(error, &member.id));
            }
            if let Some(waiter) = member.sync_waiter.take() {
                let _ = waiter.send(Err(error));
            }
        }
    }

    /// Removes a member (left, expired or fenced) and rebalances the rest.
    /// Returns the new rebalance epoch when a rebalance started.
    pub(crate) fn remove_member(&mut self, member_id: &str, now: Instant) -> Option<u64> {
        let member = self.members.remove(member_id)?;
        if let Some(waiter) = member.join_waiter {
            let _ = waiter.send(JoinOutcome::error(
                ResponseError::UnknownMemberId,
                member_id,
            ));
        }
        if let Some(waiter) = member.sync_waiter {
            let _ = waiter.send(Err(ResponseError::UnknownMemberId));
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                if self.members.is_empty() {
                    self.state = GroupState::Empty;
                    self.generation += 1;
                    self.leader = None;
                    None
                } else {
                    Some(self.prepare_rebalance())
                }
            }
            GroupState::PreparingRebalance => {
                self.try_complete_join(now, false);
                None
            }
            GroupState::Empty => None,
        }
    }

    /// Members that have not sent SyncGroup within the rebalance timeout
    /// after the join completed (a stuck leader, say); Kafka removes them
    /// so that the others can rebalance without them.
    pub(crate) fn members_late_for_sync(&self, now: Instant) -> Vec<String> {
        if self.state != GroupState::CompletingRebalance
            || self.sync_deadline.is_none_or(|deadline| now < deadline)
        {
            return Vec::new();
        }
        self.members
            .values()
            .filter(|m| m.sync_waiter.is_none())
            .map(|m| m.id.clone())
            .collect()
    }

    /// Whether a member's subscription covers `topic`, as far as the
    /// consumer protocol's subscription metadata tells; a group with members
    /// of another protocol type is treated as subscribed to everything.
    pub(crate) fn is_subscribed_to(&self, topic: &str) -> bool {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.members.values().any(|m| {
            if self.protocol_type.as_deref() != Some("consumer") {
                return true;
            }
            subscribed_topics(&m.metadata_for(&protocol))
                .is_none_or(|topics| topics.iter().any(|t| t == topic))
        })
    }

    /// Members whose session timed out (those waiting in JoinGroup are
    /// alive); member ids handed out but never used are forgotten.
    pub(crate) fn expired_members(&mut self, now: Instant) -> Vec<String> {
        self.pending.retain(|_, deadline| now < *deadline);
        self.members
            .values()
            .filter(|m| {
                m.join_waiter.is_none() && now.duration_since(m.last_seen) > m.session_timeout
            })
            .map(|m| m.id.clone())
            .collect()
    }
}

/// The topics of a consumer protocol subscription (`ConsumerProtocolSubscription`:
/// version, then an array of topic names); None when it cannot be read.
fn subscribed_topics(mut metadata: &[u8]) -> Option<Vec<String>> {
    use bytes::Buf;
    if metadata.remaining() < 6 {
        return None;
    }
    let _version = metadata.get_i16();
    let count = metadata.get_i32();
    let mut topics = Vec::new();
    for _ in 0..count.max(0) {
        if metadata.remaining() < 2 {
            return None;
        }
        let len = usize::try_from(metadata.get_i16()).ok()?;
        if metadata.remaining() < len {
            return None;
        }
        topics.push(String::from_utf8(metadata[..len].to_vec()).ok()?);
        metadata.advance(len);
    }
    Some(topics)
}

#[cfg(test)]
mod tests {
    use super::subscribed_topics;

    #[test]
    fn consumer_subscriptions_are_read() {
        let metadata = [0, 1, 0, 0, 0, 2, 0, 1, b'a', 0, 2, b'b', b'c', 0xff, 0xff];
        assert_eq!(
            subscribed_topics(&metadata),
            Some(vec!["a".to_owned(), "bc".to_owned()])
        );
        assert_eq!(subscribed_topics(&[0, 1, 0, 0, 0, 1, 0, 5, b'a']), None);
    }
}
