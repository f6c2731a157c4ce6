//! openraft's state machine: committed [`MetadataBatch`]es applied to the
//! [`MetadataImage`] with the same `apply` the single-node store uses, in
//! log order, so every controller holds the same image at the same index.
//! Each new image is published on a `watch` channel with the records that
//! made it (the delta), for the replica manager, group coordinator and
//! metrics to follow.

use std::io::Cursor;
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, BasicNode, EntryPayload, OptionalSend, RaftSnapshotBuilder, SnapshotMeta,
    StorageIOError, StoredMembership,
};
use parking_lot::Mutex;
use tokio::sync::watch;

use super::snapshot::{SnapshotPayload, SnapshotStore, StoredSnapshot};
use super::{AppliedEntry, Entry, LogId, MetadataBatch, NodeId, StorageError, TypeConfig};
use crate::metadata::{MetadataImage, MetadataRecord};

/// How an image differs from the previous one a subscriber may have seen.
#[derive(Debug, Clone)]
pub enum MetadataDelta {
    /// Nothing applied yet (the initial value of the channel).
    None,
    /// These records were applied to the previous image, in order.
    Records(Arc<[MetadataRecord]>),
    /// The image was replaced by a snapshot (at start-up, or installed from
    /// the leader): compare it with what you had.
    Snapshot,
}

/// A published image: the state after the Raft log entry `applied`.
/// A `watch` keeps only the latest value, so a slow subscriber may skip
/// updates; the image is always complete, the delta is a hint.
#[derive(Debug, Clone)]
pub struct MetadataUpdate {
    pub applied: Option<LogId>,
    pub image: Arc<MetadataImage>,
    pub delta: MetadataDelta,
}

/// The state machine; clones (the snapshot builder) share one state.
#[derive(Debug, Clone)]
pub(super) struct StateMachine {
    inner: Arc<Mutex<Applied>>,
    snapshots: SnapshotStore,
    publisher: Arc<watch::Sender<MetadataUpdate>>,
}

#[derive(Debug)]
struct Applied {
    image: Arc<MetadataImage>,
    last_applied: Option<LogId>,
    membership: StoredMembership<NodeId, BasicNode>,
}

fn read_error(store: &SnapshotStore, e: &std::io::Error) -> StorageError {
    StorageIOError::read_snapshot(None, AnyError::new(e).add_context(|| store.location())).into()
}

impl StateMachine {
    /// Starts from the stored snapshot, if any; openraft then re-applies the
    /// committed log entries after it.
    pub(super) fn open(
        snapshots: SnapshotStore,
    ) -> std::io::Result<(Self, watch::Receiver<MetadataUpdate>)> {
        let stored = snapshots.load()?;
        let (applied, delta) = match stored {
            Some(s) => (
                Applied {
                    image: Arc::new(s.payload.image()),
                    last_applied: s.meta.last_log_id,
                    membership: s.meta.last_membership,
                },
                MetadataDelta::Snapshot,
            ),
            None => (
                Applied {
                    image: Arc::new(MetadataImage::empty()),
                    last_applied: None,
                    membership: StoredMembership::default(),
                },
                MetadataDelta::None,
            ),
        };
        let (publisher, updates) = watch::channel(MetadataUpdate {
            applied: applied.last_applied,
            image: applied.image.clone(),
            delta,
        });
        let sm = Self {
            inner: Arc::new(Mutex::new(applied)),
            snapshots,
            publisher: Arc::new(publisher),
        };
        Ok((sm, updates))
    }

    fn publish(&self, applied: Option<LogId>, image: Arc<MetadataImage>, delta: MetadataDelta) {
        self.publisher.send_replace(MetadataUpdate {
            applied,
            image,
            delta,
        });
    }
}

fn snapshot_id(last: Option<LogId>) -> String {
    match last {
        Some(l) => format!("{}-{}-{}", l.leader_id.term, l.leader_id.node_id, l.index),
        None => "empty".to_owned(),
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let stored = {
            let applied = self.inner.lock();
            StoredSnapshot {
                meta: SnapshotMeta {
                    last_log_id: applied.last_applied,
                    last_membership: applied.membership.clone(),
                    snapshot_id: snapshot_id(applied.last_applied),
                },
                payload: SnapshotPayload::of(&applied.image),
            }
        };
        let signature = Some(stored.meta.signature());
        self.snapshots
            .save(&stored)
            .map_err(|e| StorageIOError::write_snapshot(signature, AnyError::new(&e)))?;
        let bytes = serde_json::to_vec(&stored.payload)
            .map_err(|e| StorageIOError::write_snapshot(None, AnyError::new(&e)))?;
        Ok(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembership<NodeId, BasicNode>), StorageError> {
        let applied = self.inner.lock();
        Ok((applied.last_applied, applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<AppliedEntry>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut replies = Vec::new();
        for entry in entries {
            let mut applied = self.inner.lock();
            applied.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Membership(m) => {
                    applied.membership = StoredMembership::new(Some(entry.log_id), m);
                }
                EntryPayload::Normal(MetadataBatch(records)) => {
                    let mut next = (*applied.image).clone();
                    for record in &records {
                        next.apply(record);
                    }
                    applied.image = Arc::new(next);
                    self.publish(
                        Some(entry.log_id),
                        applied.image.clone(),
                        MetadataDelta::Records(records.into()),
                    );
                }
            }
            replies.push(AppliedEntry {
                log_index: entry.log_id.index,
                image: Some(applied.image.clone()),
            });
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let signature = Some(meta.signature());
        let payload: SnapshotPayload = serde_json::from_slice(snapshot.get_ref())
            .map_err(|e| StorageIOError::read_snapshot(signature.clone(), AnyError::new(&e)))?;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            payload,
        };
        self.snapshots
            .save(&stored)
            .map_err(|e| StorageIOError::write_snapshot(signature, AnyError::new(&e)))?;
        let image = Arc::new(stored.payload.image());
        let mut applied = self.inner.lock();
        applied.image = image.clone();
        applied.last_applied = meta.last_log_id;
        applied.membership = meta.last_membership.clone();
        self.publish(meta.last_log_id, image, MetadataDelta::Snapshot);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let Some(stored) = self
            .snapshots
            .load()
            .map_err(|e| read_error(&self.snapshots, &e))?
        else {
            return Ok(None);
        };
        let bytes = serde_json::to_vec(&stored.payload)
            .map_err(|e| StorageIOError::read_snapshot(None, AnyError::new(&e)))?;
        Ok(Some(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}
