//! The metadata log behind a trait, so the store does not care where records
//! are kept: a local file on a single node ([`FileLog`]), memory in tests
//! ([`MemoryLog`]), and the Raft quorum's log in a cluster.

use std::fmt::Debug;

use super::log::MetadataLog as FileLog;
use super::records::MetadataRecord;

/// The metadata log could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("metadata log {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A listener could not ready what the change needs (a partition log
    /// could not be opened), so nothing was written.
    #[error("{reason}")]
    NotPrepared { reason: String },
}

/// A durable, ordered log of metadata records.
pub trait MetadataLog: Debug + Send {
    /// Appends `records` as one unit: when this returns `Ok` they are
    /// durable and will be replayed, in order, after a restart; when it
    /// returns `Err` none of them is (a failed write leaves nothing behind).
    fn append(&mut self, records: &[MetadataRecord]) -> Result<(), MetadataError>;
}

impl MetadataLog for FileLog {
    fn append(&mut self, records: &[MetadataRecord]) -> Result<(), MetadataError> {
        FileLog::append(self, records).map_err(|source| MetadataError::Io {
            path: self.path().display().to_string(),
            source,
        })
    }
}

/// A metadata log kept in memory: what tests use to run the controller and
/// the store without a disk. Nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryLog {
    records: Vec<MetadataRecord>,
}

impl MemoryLog {
    /// Every record appended so far, in order.
    pub fn records(&self) -> &[MetadataRecord] {
        &self.records
    }
}

impl MetadataLog for MemoryLog {
    fn append(&mut self, records: &[MetadataRecord]) -> Result<(), MetadataError> {
        self.records.extend_from_slice(records);
        Ok(())
    }
}
