//! The group coordinator for the classic consumer group protocol: group
//! membership and rebalances ([`state`]), committed offsets, and their
//! storage in `__consumer_offsets` ([`store`], [`records`]). A broker
//! coordinates the groups of the offsets partitions it leads, loading and
//! dropping them as leadership moves ([`leadership`]); on one node it
//! coordinates every group.

mod leadership;
pub(crate) mod membership;
mod records;
mod state;
pub(crate) mod store;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use crate::config::BrokerConfig;
use crate::controller::ControllerChannel;
use crate::metadata::{MetadataImage, MetadataStore};
use crate::replica::ReplicaManager;
pub(crate) use records::CommittedOffset;
pub(crate) use state::{Group, GroupState, JoinOutcome};

/// Every group this broker coordinates, and what the coordinator needs of
/// the node: its config, the metadata image, the `__consumer_offsets`
/// partitions and the controller channel (to create that topic) — not the
/// whole broker.
#[derive(Debug)]
pub struct GroupCoordinator {
    groups: Mutex<HashMap<String, Arc<Mutex<Group>>>>,
    /// The `__consumer_offsets` partitions this node leads and has loaded,
    /// with the leader epoch they were loaded at: the groups that map to
    /// them are the groups it coordinates.
    coordinated: RwLock<HashMap<i32, i32>>,
    pub(crate) config: Arc<BrokerConfig>,
    metadata: Arc<MetadataStore>,
    pub(crate) replicas: Arc<ReplicaManager>,
    controller: ControllerChannel,
}

impl GroupCoordinator {
    pub(crate) fn new(
        config: Arc<BrokerConfig>,
        metadata: Arc<MetadataStore>,
        replicas: Arc<ReplicaManager>,
        controller: ControllerChannel,
    ) -> Self {
        Self {
            groups: Mutex::new(HashMap::new()),
            coordinated: RwLock::new(HashMap::new()),
            config,
            metadata,
            replicas,
            controller,
        }
    }

    /// The current metadata image.
    pub(crate) fn image(&self) -> Arc<MetadataImage> {
        self.metadata.image()
    }

    pub(crate) fn group(&self, id: &str) -> Option<Arc<Mutex<Group>>> {
        self.groups.lock().get(id).cloned()
    }

    pub(crate) fn group_or_create(&self, id: &str) -> Arc<Mutex<Group>> {
        self.groups
            .lock()
            .entry(id.to_owned())
            .or_insert_with(|| Arc::new(Mutex::new(Group::new(id))))
            .clone()
    }

    pub(crate) fn all(&self) -> Vec<Arc<Mutex<Group>>> {
        self.groups.lock().values().cloned().collect()
    }

    pub(crate) fn remove(&self, id: &str) {
        self.groups.lock().remove(id);
    }

    /// The `__consumer_offsets` partition that holds `group_id`.
    pub(crate) fn offsets_partition(&self, group_id: &str) -> i32 {
        store::partition_for(group_id, self.config.offsets_topic_num_partitions)
    }

    /// Whether this node coordinates `group_id`: it leads the group's
    /// offsets partition and has loaded it; NOT_COORDINATOR otherwise, so
    /// that the client asks FindCoordinator again. Before `__consumer_offsets`
    /// exists no broker holds any group, and requests are answered as for a
    /// group that does not exist (FindCoordinator and JoinGroup create it).
    pub(crate) fn check_coordinator(&self, group_id: &str) -> Result<(), ResponseError> {
        if self.image().topic(store::OFFSETS_TOPIC).is_none() {
            return Ok(());
        }
        let partition = self.offsets_partition(group_id);
        match self.coordinated.read().contains_key(&partition) {
            true => Ok(()),
            false => Err(ResponseError::NotCoordinator),
        }
    }

    /// Groups whose offsets partition is `partition`, removed from memory.
    fn take_groups_of(&self, partition: i32) -> Vec<Arc<Mutex<Group>>> {
        let mut groups = self.groups.lock();
        let ids: HashSet<String> = groups
            .keys()
            .filter(|id| self.offsets_partition(id) == partition)
            .cloned()
            .collect();
        ids.iter().filter_map(|id| groups.remove(id)).collect()
    }
}

/// Expires members whose session timed out, every 100 ms, until shutdown.
pub(crate) async fn run_session_reaper(
    groups: Arc<GroupCoordinator>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let now = Instant::now();
        for group in groups.all() {
            let rebalance = {
                let mut g = group.lock();
                let mut epoch = None;
                let expired = g.expired_members(now);
                for member in &expired {
                    tracing::info!(group = %g.id, member = %member, "member session expired");
                    epoch = g.remove_member(member, now).or(epoch);
                }
                let late = g.members_late_for_sync(now);
                for member in &late {
                    tracing::info!(group = %g.id, member = %member, "member did not sync in time");
                    epoch = g.remove_member(member, now).or(epoch);
                }
                let removed = !expired.is_empty() || !late.is_empty();
                if removed && g.state == GroupState::Empty {
                    membership::persist_group(&groups, &g);
                }
                epoch.map(|e| (e, g.rebalance_timeout()))
            };
            if let Some((epoch, timeout)) = rebalance {
                membership::schedule_join_completion(&group, epoch, timeout);
            }
        }
    }
}

/// The `__consumer_offsets` key of a committed offset (for tombstones).
pub(crate) fn records_offset_key(group: &str, topic: &str, partition: i32) -> bytes::Bytes {
    records::offset_key(group, topic, partition)
}

/// The `__consumer_offsets` key of a group's metadata (for tombstones).
pub(crate) fn records_group_key(group: &str) -> bytes::Bytes {
    records::group_key(group)
}
