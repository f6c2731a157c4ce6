//! The coordinator's answers to JoinGroup, SyncGroup, Heartbeat, LeaveGroup
//! and OffsetCommit: validation, state changes and timers. Group locks are
//! never held across an await.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::GroupCoordinator;
use super::records::{self, CommittedOffset, GroupSnapshot, MemberSnapshot};
use super::state::{Group, GroupState, JoinOutcome, Member, SyncOutcome};
use super::store;

/// `offset.metadata.max.bytes`: the longest metadata string of a commit.
const OFFSET_METADATA_MAX_BYTES: usize = 4096;

/// A JoinGroup request, decoded.
pub(crate) struct JoinParams {
    pub(crate) group_id: String,
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) session_timeout_ms: i32,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) protocol_type: String,
    pub(crate) protocols: Vec<(String, Bytes)>,
    /// v4+: a member without an id is first given one (MEMBER_ID_REQUIRED).
    pub(crate) require_known_member_id: bool,
}

/// A SyncGroup request, decoded.
pub(crate) struct SyncParams {
    pub(crate) group_id: String,
    pub(crate) generation: i32,
    pub(crate) member_id: String,
    pub(crate) assignments: Vec<(String, Bytes)>,
}

/// After `delay`, completes the join phase of rebalance `epoch` with the
/// members that rejoined (if that rebalance is still the current one).
pub(crate) fn schedule_join_completion(group: &Arc<Mutex<Group>>, epoch: u64, delay: Duration) {
    let group = group.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let mut g = group.lock();
        if g.rebalance_epoch == epoch {
            g.try_complete_join(Instant::now(), true);
        }
    });
}

/// Handles a JoinGroup; the receiver yields the answer once the rebalance
/// completes.
pub(crate) fn join(
    groups: &Arc<GroupCoordinator>,
    p: JoinParams,
) -> Result<oneshot::Receiver<JoinOutcome>, (ResponseError, String)> {
    let fail = |e: ResponseError| Err((e, p.member_id.clone()));
    if p.group_id.is_empty() {
        return fail(ResponseError::InvalidGroupId);
    }
    let config = &groups.config;
    if p.session_timeout_ms < config.group_min_session_timeout_ms
        || p.session_timeout_ms > config.group_max_session_timeout_ms
    {
        return fail(ResponseError::InvalidSessionTimeout);
    }
    if p.protocol_type.is_empty() || p.protocols.is_empty() {
        return fail(ResponseError::InconsistentGroupProtocol);
    }
    // The JoinGroup handler creates the offsets topic before calling here.
    if groups.image().topic(store::OFFSETS_TOPIC).is_none() {
        return fail(ResponseError::CoordinatorNotAvailable);
    }
    // Only the leader of the group's offsets partition coordinates it.
    if let Err(error) = groups.check_coordinator(&p.group_id) {
        return fail(error);
    }
    let group = groups.group_or_create(&p.group_id);
    let now = Instant::now();
    let (rx, timer) = {
        let mut g = group.lock();
        if !g.members.is_empty() {
            let same_type = g.protocol_type.as_deref() == Some(p.protocol_type.as_str());
            let shared = p
                .protocols
                .iter()
                .any(|(name, _)| g.members.values().all(|m| m.supports(name)));
            if !same_type || !shared {
                return fail(ResponseError::InconsistentGroupProtocol);
            }
        }
        if let Some(rx) = replace_static_member(&mut g, &p, now) {
            return Ok(rx);
        }
        let member_id = resolve_member(&mut g, &p, now)?;
        if !g.members.contains_key(&member_id) && g.members.len() >= config.group_max_size {
            return fail(ResponseError::GroupMaxSizeReached);
        }
        if let Some(rx) = rejoin_unchanged(&mut g, &member_id, &p, now) {
            return Ok(rx);
        }
        let (tx, rx) = oneshot::channel();
        let joined_seq = match g.members.get(&member_id) {
            Some(existing) => existing.joined_seq,
            None => g.next_join_seq(),
        };
        let previous = g.members.insert(
            member_id.clone(),
            Member {
                id: member_id.clone(),
                instance_id: p.instance_id.clone(),
                client_id: p.client_id.clone(),
                client_host: p.client_host.clone(),
                session_timeout: Duration::from_millis(p.session_timeout_ms as u64),
                rebalance_timeout: Duration::from_millis(p.rebalance_timeout_ms.max(0) as u64),
                protocols: p.protocols.clone(),
                assignment: Bytes::new(),
                join_waiter: Some(tx),
                sync_waiter: None,
                last_seen: now,
                joined_seq,
            },
        );
        if let Some(old) = previous.and_then(|m| m.join_waiter) {
            // A duplicate join from the same member replaces the older one.
            let _ = old.send(JoinOutcome::error(
                ResponseError::UnknownMemberId,
                &member_id,
            ));
        }
        g.protocol_type = Some(p.protocol_type.clone());
        let timer = match g.state {
            GroupState::Empty => {
                let delay = Duration::from_millis(config.group_initial_rebalance_delay_ms);
                g.join_not_before = (!delay.is_zero()).then(|| now + delay);
                let epoch = g.prepare_rebalance();
                Some((epoch, delay.max(Duration::from_millis(1))))
            }
            GroupState::Stable | GroupState::CompletingRebalance => {
                let epoch = g.prepare_rebalance();
                Some((epoch, g.rebalance_timeout()))
            }
            GroupState::PreparingRebalance => None,
        };
        g.try_complete_join(now, false);
        (rx, timer)
    };
    if let Some((epoch, delay)) = timer {
        schedule_join_completion(&group, epoch, delay);
    }
    Ok(rx)
}

/// A JoinGroup answered at once with the current generation.
fn answered(outcome: JoinOutcome) -> oneshot::Receiver<JoinOutcome> {
    let (tx, rx) = oneshot::channel();
    let _ = tx.send(outcome);
    rx
}

/// A static member that restarted (same `group.instance.id`, no member id)
/// into a stable group with the same protocols takes over its old member's
/// place and assignment under a new member id, without a rebalance; the old
/// member id is fenced. As Kafka does, so that restarts do not shuffle
/// partitions.
fn replace_static_member(
    g: &mut Group,
    p: &JoinParams,
    now: Instant,
) -> Option<oneshot::Receiver<JoinOutcome>> {
    let instance = p.instance_id.as_deref()?;
    if !p.member_id.is_empty() || g.state != GroupState::Stable {
        return None;
    }
    let old_id = g
        .members
        .values()
        .find(|m| m.instance_id.as_deref() == Some(instance) && m.protocols == p.protocols)?
        .id
        .clone();
    let mut member = g.members.remove(&old_id).expect("found above");
    if let Some(w) = member.sync_waiter.take() {
        let _ = w.send(Err(ResponseError::FencedInstanceId));
    }
    let new_id = format!("{}-{}", p.client_id, uuid::Uuid::new_v4());
    tracing::info!(group = %g.id, instance, old = %old_id, new = %new_id, "static member rejoined");
    member.id = new_id.clone();
    member.client_id = p.client_id.clone();
    member.client_host = p.client_host.clone();
    member.session_timeout = Duration::from_millis(p.session_timeout_ms as u64);
    member.rebalance_timeout = Duration::from_millis(p.rebalance_timeout_ms.max(0) as u64);
    member.last_seen = now;
    g.fenced.insert(old_id.clone());
    if g.leader.as_deref() == Some(old_id.as_str()) {
        g.leader = Some(new_id.clone());
    }
    g.members.insert(new_id.clone(), member);
    Some(answered(g.current_outcome(&new_id)))
}

/// A known member rejoining with unchanged protocols gets the current
/// generation back instead of a new rebalance (while the group is stable,
/// unless it is the leader, which rejoins to reassign; or while the group
/// waits for SyncGroup), as Kafka does.
fn rejoin_unchanged(
    g: &mut Group,
    member_id: &str,
    p: &JoinParams,
    now: Instant,
) -> Option<oneshot::Receiver<JoinOutcome>> {
    let is_leader = g.leader.as_deref() == Some(member_id);
    let member = g.members.get_mut(member_id)?;
    let unchanged = member.protocols == p.protocols;
    let answer_now = match g.state {
        GroupState::Stable => unchanged && !is_leader,
        GroupState::CompletingRebalance => unchanged,
        GroupState::Empty | GroupState::PreparingRebalance => false,
    };
    if !answer_now {
        return None;
    }
    member.last_seen = now;
    Some(answered(g.current_outcome(member_id)))
}

/// Finds or assigns the member id of a join; errors come with the member id
/// to report.
fn resolve_member(
    g: &mut Group,
    p: &JoinParams,
    now: Instant,
) -> Result<String, (ResponseError, String)> {
    let fresh = || format!("{}-{}", p.client_id, uuid::Uuid::new_v4());
    if let Some(instance) = &p.instance_id {
        let existing = g
            .members
            .values()
            .find(|m| m.instance_id.as_deref() == Some(instance.as_str()))
            .map(|m| m.id.clone());
        return match (existing, p.member_id.is_empty()) {
            (Some(old), true) => {
                // A static member restarted: the new incarnation replaces
                // (and fences) the old member id.
                g.fenced.insert(old.clone());
                if let Some(member) = g.members.remove(&old) {
                    if let Some(w) = member.join_waiter {
                        let _ = w.send(JoinOutcome::error(ResponseError::FencedInstanceId, &old));
                    }
                    if let Some(w) = member.sync_waiter {
                        let _ = w.send(Err(ResponseError::FencedInstanceId));
                    }
                }
                Ok(fresh())
            }
            (None, true) => Ok(fresh()),
            (Some(old), false) if old == p.member_id => Ok(old),
            (Some(_), false) => Err((ResponseError::FencedInstanceId, p.member_id.clone())),
            (None, false) => Err((ResponseError::UnknownMemberId, p.member_id.clone())),
        };
    }
    if p.member_id.is_empty() {
        let id = fresh();
        if p.require_known_member_id {
            let expiry = now + Duration::from_millis(p.session_timeout_ms as u64);
            g.pending.insert(id.clone(), expiry);
            return Err((ResponseError::MemberIdRequired, id));
        }
        return Ok(id);
    }
    if g.members.contains_key(&p.member_id) || g.pending.remove(&p.member_id).is_some() {
        return Ok(p.member_id.clone());
    }
    Err((
        g.member_error(&p.member_id)
            .unwrap_or(ResponseError::UnknownMemberId),
        p.member_id.clone(),
    ))
}

/// Handles a SyncGroup: the leader's assignments are handed to every member.
pub(crate) fn sync(
    groups: &Arc<GroupCoordinator>,
    p: SyncParams,
) -> Result<oneshot::Receiver<SyncOutcome>, ResponseError> {
    groups.check_coordinator(&p.group_id)?;
    let group = groups
        .group(&p.group_id)
        .ok_or(ResponseError::UnknownMemberId)?;
    let mut g = group.lock();
    if let Some(error) = g.member_error(&p.member_id) {
        return Err(error);
    }
    if p.generation != g.generation {
        return Err(ResponseError::IllegalGeneration);
    }
    let (tx, rx) = oneshot::channel();
    match g.state {
        GroupState::Empty => return Err(ResponseError::UnknownMemberId),
        GroupState::PreparingRebalance => return Err(ResponseError::RebalanceInProgress),
        GroupState::Stable => {
            let _ = tx.send(Ok(g.members[&p.member_id].assignment.clone()));
        }
        GroupState::CompletingRebalance => {
            let member = g.members.get_mut(&p.member_id).expect("checked above");
            member.last_seen = Instant::now();
            member.sync_waiter = Some(tx);
            if g.leader.as_deref() == Some(p.member_id.as_str()) {
                for member in g.members.values_mut() {
                    member.assignment = p
                        .assignments
                        .iter()
                        .find(|(id, _)| *id == member.id)
                        .map(|(_, a)| a.clone())
                        .unwrap_or_default();
                    if let Some(waiter) = member.sync_waiter.take() {
                        let _ = waiter.send(Ok(member.assignment.clone()));
                    }
                }
                g.state = GroupState::Stable;
                persist_group(groups, &g);
            }
        }
    }
    Ok(rx)
}

/// Records the group's generation in `__consumer_offsets` (in the
/// background: members do not wait for it), after a rebalance completes or
/// the last member leaves, as Kafka does.
pub(crate) fn persist_group(groups: &Arc<GroupCoordinator>, g: &Group) {
    let snapshot = GroupSnapshot {
        protocol_type: g.protocol_type.clone().unwrap_or_default(),
        generation: g.generation,
        protocol: g.protocol_name.clone(),
        leader: g.leader.clone(),
        timestamp: crate::clock::now_ms(),
        members: g
            .members
            .values()
            .map(|m| MemberSnapshot {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout_ms: duration_ms(m.rebalance_timeout),
                session_timeout_ms: duration_ms(m.session_timeout),
                subscription: m.metadata_for(g.protocol_name.as_deref().unwrap_or_default()),
                assignment: m.assignment.clone(),
            })
            .collect(),
    };
    let id = g.id.clone();
    // Queued now, under the group's lock, so that group states are
    // recorded in the order they happened; the write and its fsync happen
    // in the background.
    let record = (
        records::group_key(&id),
        Some(records::group_value(&snapshot)),
    );
    match store::submit(groups, &id, vec![record]) {
        Ok(submitted) => {
            tokio::spawn(async move {
                if let Err(error) = submitted.durable(&id).await {
                    tracing::warn!(group = %id, ?error, "could not persist group metadata");
                }
            });
        }
        Err(error) => tracing::warn!(group = %id, ?error, "could not persist group metadata"),
    }
}

fn duration_ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// Handles a Heartbeat.
pub(crate) fn heartbeat(
    groups: &GroupCoordinator,
    group_id: &str,
    generation: i32,
    member_id: &str,
) -> Option<ResponseError> {
    if let Err(error) = groups.check_coordinator(group_id) {
        return Some(error);
    }
    let Some(group) = groups.group(group_id) else {
        return Some(ResponseError::UnknownMemberId);
    };
    let mut g = group.lock();
    if let Some(error) = g.member_error(member_id) {
        return Some(error);
    }
    if generation != g.generation {
        return Some(ResponseError::IllegalGeneration);
    }
    g.members
        .get_mut(member_id)
        .expect("checked above")
        .last_seen = Instant::now();
    (g.state == GroupState::PreparingRebalance).then_some(ResponseError::RebalanceInProgress)
}

/// Handles one member of a LeaveGroup (by member id or instance id).
pub(crate) fn leave(
    groups: &Arc<GroupCoordinator>,
    group_id: &str,
    member_id: &str,
    instance_id: Option<&str>,
) -> Option<ResponseError> {
    if let Err(error) = groups.check_coordinator(group_id) {
        return Some(error);
    }
    let Some(group) = groups.group(group_id) else {
        return Some(ResponseError::UnknownMemberId);
    };
    let (epoch, timeout) = {
        let mut g = group.lock();
        let id = match instance_id {
            Some(instance) => g
                .members
                .values()
                .find(|m| m.instance_id.as_deref() == Some(instance))
                .map(|m| m.id.clone()),
            None => g
                .members
                .contains_key(member_id)
                .then(|| member_id.to_owned()),
        };
        let Some(id) = id else {
            return Some(
                g.member_error(member_id)
                    .unwrap_or(ResponseError::UnknownMemberId),
            );
        };
        if instance_id.is_some() && !member_id.is_empty() && id != member_id {
            return Some(ResponseError::FencedInstanceId);
        }
        let Some(epoch) = g.remove_member(&id, Instant::now()) else {
            if g.state == GroupState::Empty {
                persist_group(groups, &g);
            }
            return None;
        };
        (epoch, g.rebalance_timeout())
    };
    schedule_join_completion(&group, epoch, timeout);
    None
}

/// Checks that a member may commit offsets for `generation` now; generation
/// -1 is a commit from outside the group protocol (an assign-only consumer).
pub(crate) fn check_commit(
    groups: &GroupCoordinator,
    group_id: &str,
    generation: i32,
    member_id: &str,
) -> Option<ResponseError> {
    if group_id.is_empty() {
        return Some(ResponseError::InvalidGroupId);
    }
    if let Err(error) = groups.check_coordinator(group_id) {
        return Some(error);
    }
    let group = match groups.group(group_id) {
        Some(group) => group,
        // A commit from outside group management creates the group; one
        // naming a generation of a group that does not exist is stale.
        None if generation < 0 => groups.group_or_create(group_id),
        None => return Some(ResponseError::IllegalGeneration),
    };
    let mut g = group.lock();
    if generation < 0 && member_id.is_empty() {
        return (!g.members.is_empty()).then_some(ResponseError::UnknownMemberId);
    }
    if let Some(error) = g.member_error(member_id) {
        return Some(error);
    }
    if generation != g.generation {
        return Some(ResponseError::IllegalGeneration);
    }
    g.members
        .get_mut(member_id)
        .expect("checked above")
        .last_seen = Instant::now();
    // As Kafka: members may still commit while the group prepares a
    // rebalance (before rejoining), but not between join and sync.
    (g.state == GroupState::CompletingRebalance).then_some(ResponseError::RebalanceInProgress)
}

/// Persists commits (topic, partition, offset) and then applies them;
/// returns the error of each partition (None = committed).
pub(crate) async fn commit(
    groups: &Arc<GroupCoordinator>,
    group_id: &str,
    commits: Vec<(String, i32, CommittedOffset)>,
) -> Vec<Option<ResponseError>> {
    let (ok, records): (Vec<_>, Vec<_>) = commits
        .iter()
        .map(|(topic, partition, value)| {
            let ok = value.metadata.len() <= OFFSET_METADATA_MAX_BYTES;
            let record = (
                records::offset_key(group_id, topic, *partition),
                Some(records::offset_value(value)),
            );
            (ok, record)
        })
        .unzip();
    let to_write = records
        .into_iter()
        .zip(&ok)
        .filter(|(_, ok)| **ok)
        .map(|(r, _)| r)
        .collect::<Vec<_>>();
    let stored = if to_write.is_empty() {
        Ok(())
    } else {
        store::append(groups, group_id, to_write).await
    };
    let group = groups.group_or_create(group_id);
    let mut g = group.lock();
    commits
        .into_iter()
        .zip(ok)
        .map(|((topic, partition, value), ok)| {
            if !ok {
                return Some(ResponseError::OffsetMetadataTooLarge);
            }
            match stored {
                Ok(()) => {
                    g.offsets.insert((topic, partition), value);
                    None
                }
                Err(e) => Some(e),
            }
        })
        .collect()
}
