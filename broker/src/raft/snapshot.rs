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
/// metadata directory, or memory for the in-memory store.
#[derive(Debug, Clone)]
pub(super) enum SnapshotStore {
    OnDisk { path: PathBuf },
    InMemory(Arc<Mutex<Option<StoredSnapshot>>>),
}

impl SnapshotStore {
    pub(super) fn on_disk(dir: &Path) -> Self {
        Self::OnDisk {
            path: dir.join(SNAPSHOT_FILE),
        }
    }

    pub(super) fn in_memory() -> Self {
        Self::InMemory(Arc::default())
    }

    /// Where it is, for error messages.
    pub(super) fn location(&self) -> String {
        match self {
            Self::OnDisk { path } => path.display().to_string(),
            Self::InMemory(_) => "in-memory snapshot".to_owned(),
        }
    }

    /// The latest snapshot, if one was taken or installed.
    pub(super) fn load(&self) -> io::Result<Option<StoredSnapshot>> {
        let path = match self {
            Self::OnDisk { path } => path,
            Self::InMemory(snapshot) => return Ok(snapshot.lock().clone()),
        };
        let Some(bytes) = durable::read_if_exists(path)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Replaces the stored snapshot, durably when on disk.
    pub(super) fn save(&self, snapshot: &StoredSnapshot) -> io::Result<()> {
        match self {
            Self::OnDisk { path } => {
                let bytes = serde_json::to_vec(snapshot).map_err(io::Error::other)?;
                durable::atomic_write(path, &bytes)
            }
            Self::InMemory(stored) => {
                *stored.lock() = Some(snapshot.clone());
                Ok(())
            }
        }
    }
}
