//! The group coordinator for the classic consumer group protocol: group
//! membership and rebalances ([`state`]), committed offsets, and their
//! storage in `__consumer_offsets` ([`store`], [`records`]). On one node
//! this broker coordinates every group.

pub(crate) mod membership;
mod records;
mod state;
pub(crate) mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
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

    /// Rebuilds groups from `__consumer_offsets` (at start, before serving).
    pub(crate) fn load(&self) {
        store::load(self);
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
