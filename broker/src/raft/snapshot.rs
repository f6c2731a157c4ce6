//! Snapshots of the metadata image: the records that rebuild it
//! ([`MetadataImage::to_records`]) plus its offset, kept on disk as
//! `snapshot.json` next to the Raft log and sent to followers that are too
//! far behind for the log. A restart is this snapshot plus the log tail.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use openraft::SnapshotMeta;
use serde::{Deserialize, Serialize};

use super::{NodeId, durable};
use crate::metadata::{MetadataImage, MetadataRecord};

const SNAPSHOT_FILE: &str = "snapshot.json";

/// The bytes of a snapshot, as built and as sent to a follower.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SnapshotPayload {
    /// The image's `offset` (records applied), which replaying the compact
    /// record list would not reproduce.
    offset: i64,
    records: Vec<MetadataRecord>,
}

impl SnapshotPayload {
    pub(super) fn of(image: &MetadataImage) -> Self {
        Self {
            offset: image.offset,
            records: image.to_records(),
        }
    }

    /// The image this snapshot describes.
    pub(super) fn image(&self) -> MetadataImage {
        let mut image = MetadataImage::empty();
        for record in &self.records {
            image.apply(record);
        }
        image.offset = self.offset;
        image
    }
}

/// A snapshot as stored on disk: openraft's metadata and the payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StoredSnapshot {
    pub(super) meta: SnapshotMeta<NodeId, openraft::BasicNode>,
    pub(super) payload: SnapshotPayload,
}

/// Where this node keeps its latest snapshot: `snapshot.json` in the
/// metadata directory, or memory only. Clones share one store.
#[derive(Debug, Clone)]
pub(super) struct SnapshotStore {
    /// `None` for the in-memory store.
    path: Option<PathBuf>,
    /// The latest snapshot once loaded or saved. Its lock also serializes
    /// saves, so a snapshot built from an older state (a build finishing
    /// after a newer snapshot was installed) never replaces a newer one,
    /// whose purged log it would need.
    latest: Arc<Mutex<Option<StoredSnapshot>>>,
}

impl SnapshotStore {
    pub(super) fn on_disk(dir: &Path) -> Self {
        Self {
            path: Some(dir.join(SNAPSHOT_FILE)),
            latest: Arc::default(),
        }
    }

    pub(super) fn in_memory() -> Self {
        Self {
            path: None,
            latest: Arc::default(),
        }
    }

    /// Where it is, for error messages.
    pub(super) fn location(&self) -> String {
        match &self.path {
            Some(path) => path.display().to_string(),
            None => "in-memory snapshot".to_owned(),
        }
    }

    /// The latest snapshot, if one was taken or installed.
    pub(super) fn load(&self) -> io::Result<Option<StoredSnapshot>> {
        let mut latest = self.latest.lock();
        if latest.is_some() {
            return Ok(latest.clone());
        }
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let Some(bytes) = durable::read_if_exists(path)? else {
            return Ok(None);
        };
        let stored: StoredSnapshot = serde_json::from_slice(&bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        *latest = Some(stored.clone());
        Ok(Some(stored))
    }

    /// Replaces the stored snapshot (durably when on disk), unless the one
    /// stored already covers more of the log.
    pub(super) fn save(&self, snapshot: &StoredSnapshot) -> io::Result<()> {
        let mut latest = self.latest.lock();
        if let Some(current) = latest.as_ref()
            && current.meta.last_log_id > snapshot.meta.last_log_id
        {
            tracing::debug!(
                kept = ?current.meta.last_log_id,
                dropped = ?snapshot.meta.last_log_id,
                "not replacing a newer metadata snapshot with an older one"
            );
            return Ok(());
        }
        if let Some(path) = &self.path {
            let bytes = serde_json::to_vec(snapshot).map_err(io::Error::other)?;
            durable::atomic_write(path, &bytes)?;
        }
        *latest = Some(snapshot.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, LogId, StoredMembership};

    use super::*;

    fn snapshot_at(index: u64) -> StoredSnapshot {
        let mut image = MetadataImage::empty();
        image.apply(&MetadataRecord::ProducerIds {
            next_producer_id: index as i64,
        });
        StoredSnapshot {
            meta: SnapshotMeta {
                last_log_id: Some(LogId::new(CommittedLeaderId::new(1, 1), index)),
                last_membership: StoredMembership::default(),
                snapshot_id: index.to_string(),
            },
            payload: SnapshotPayload::of(&image),
        }
    }

    #[test]
    fn an_older_snapshot_never_replaces_a_newer_one_and_the_newest_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::on_disk(dir.path());
        store.save(&snapshot_at(10)).unwrap();
        store.save(&snapshot_at(5)).unwrap();
        let reopened = SnapshotStore::on_disk(dir.path()).load().unwrap().unwrap();
        assert_eq!(reopened.meta.snapshot_id, "10");
        assert_eq!(reopened.payload.image().next_producer_id, 10);
        assert_eq!(reopened.payload.image().offset, 0);
        store.save(&snapshot_at(20)).unwrap();
        assert_eq!(store.load().unwrap().unwrap().meta.snapshot_id, "20");
    }
}
