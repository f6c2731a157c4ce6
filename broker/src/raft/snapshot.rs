//! Snapshots of the metadata image: the records that rebuild it
//! ([`MetadataImage::to_records`]) plus its offset, kept on disk as
//! `snapshot.json` next to the Raft log and sent to followers that are too
//! far behind for the log. A restart is this snapshot plus the log tail.

use std::io;
use std::path::{Path, PathBuf};

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

/// Where this controller keeps its latest snapshot.
#[derive(Debug, Clone)]
pub(super) struct SnapshotFile {
    path: PathBuf,
}

impl SnapshotFile {
    pub(super) fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(SNAPSHOT_FILE),
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The latest snapshot, if one was taken or installed.
    pub(super) fn load(&self) -> io::Result<Option<StoredSnapshot>> {
        let Some(bytes) = durable::read_if_exists(&self.path)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Replaces the stored snapshot, durably.
    pub(super) fn save(&self, snapshot: &StoredSnapshot) -> io::Result<()> {
        let bytes = serde_json::to_vec(snapshot).map_err(io::Error::other)?;
        durable::atomic_write(&self.path, &bytes)
    }
}
