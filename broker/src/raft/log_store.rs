//! openraft's log storage on disk: the entries in [`LogFile`] (`raft.log`)
//! and the small hard state (vote, last purged entry) in `raft-state.json`,
//! replaced atomically on every change. These writes are fsynced before
//! openraft is told they are done: a vote or entry this node acknowledged
//! survives a crash, which is what Raft's safety rests on.
//!
//! The commit point (`raft-committed.json`) only saves work at start-up
//! (the committed tail is applied at once instead of when the leader next
//! says so), so it is written without fsync, off the proposal path's disk
//! flushes, and ignored with a warning when unreadable.
//!
//! The entries are also kept in memory: the metadata log is small, and a
//! snapshot lets openraft purge what is behind it. [`LogStore::in_memory`]
//! is the same store without the files, for tests that need no restart
//! (tikv raft-rs' habit: one trait, a durable and an in-memory store, and
//! openraft's storage suite run against both).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, OptionalSend, RaftLogReader, StorageIOError, Vote};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::log_file::{LogFile, LogFileError};
use super::{Entry, LogId, NodeId, StorageError, TypeConfig, durable};

const LOG_FILE: &str = "raft.log";
const STATE_FILE: &str = "raft-state.json";
const COMMITTED_FILE: &str = "raft-committed.json";

/// Raft's persistent state besides the entries.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct HardState {
    vote: Option<Vote<NodeId>>,
    last_purged: Option<LogId>,
}

/// Raft log storage in one directory; clones share the same files.
#[derive(Debug, Clone)]
pub(super) struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    /// `None` for the in-memory store.
    disk: Option<Disk>,
    state: HardState,
    committed: Option<LogId>,
    /// Every entry after `state.last_purged`, by index.
    entries: BTreeMap<u64, Entry>,
}

/// Where an on-disk store keeps its files.
#[derive(Debug)]
struct Disk {
    file: LogFile,
    state_path: PathBuf,
    committed_path: PathBuf,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LogFileError + '_ {
    move |source| LogFileError::Io {
        path: path.to_owned(),
        source,
    }
}

impl LogStore {
    /// Opens the log in `dir` (created if missing), cutting a torn tail.
    pub(super) fn open(dir: &Path) -> Result<Self, LogFileError> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let state_path = dir.join(STATE_FILE);
        let state = match durable::read_if_exists(&state_path).map_err(io_error(&state_path))? {
            None => HardState::default(),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| LogFileError::Io {
                path: state_path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?,
        };
        let committed_path = dir.join(COMMITTED_FILE);
        let committed = read_committed(&committed_path);
        let (mut file, entries) = LogFile::open(&dir.join(LOG_FILE))?;
        let purged = state.last_purged.map(|l| l.index);
        if let Some(upto) = purged {
            // A crash between saving `last_purged` and rewriting the file.
            file.purge_upto(upto).map_err(io_error(file.path()))?;
        }
        let entries = entries
            .into_iter()
            .filter(|e| purged.is_none_or(|upto| e.log_id.index > upto))
            .map(|e| (e.log_id.index, e))
            .collect();
        Ok(Self::with(Inner {
            disk: Some(Disk {
                file,
                state_path,
                committed_path,
            }),
            state,
            committed,
            entries,
        }))
    }

    /// A store that keeps everything in memory: lost when dropped.
    pub(super) fn in_memory() -> Self {
        Self::with(Inner {
            disk: None,
            state: HardState::default(),
            committed: None,
            entries: BTreeMap::new(),
        })
    }

    fn with(inner: Inner) -> Self {
        Self {
            inner: Arc::new(Mutex::new(inner)),
        }
    }
}

/// The saved commit point, or `None` (with a warning) when missing or
/// unreadable: the leader tells this node the commit point again.
fn read_committed(path: &Path) -> Option<LogId> {
    let bytes = match durable::read_if_exists(path) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring the unreadable Raft commit point");
            return None;
        }
    };
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        tracing::warn!(path = %path.display(), error = %e, "ignoring the damaged Raft commit point");
        None
    })
}

impl Inner {
    fn save_state(&self) -> Result<(), std::io::Error> {
        let Some(disk) = &self.disk else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(&self.state).map_err(std::io::Error::other)?;
        durable::atomic_write(&disk.state_path, &bytes)
    }

    /// Replaces the commit point file without fsync (see the module doc).
    fn save_committed(&self) -> Result<(), std::io::Error> {
        let Some(disk) = &self.disk else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(&self.committed).map_err(std::io::Error::other)?;
        let tmp = disk.committed_path.with_extension("tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &disk.committed_path)
    }

    fn on_disk(
        &mut self,
        write: impl FnOnce(&mut LogFile) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        match &mut self.disk {
            Some(disk) => write(&mut disk.file),
            None => Ok(()),
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let inner = self.inner.lock();
        Ok(inner.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let inner = self.inner.lock();
        let last_purged_log_id = inner.state.last_purged;
        let last_log_id = inner
            .entries
            .last_key_value()
            .map(|(_, e)| e.log_id)
            .or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        let mut inner = self.inner.lock();
        inner.state.vote = Some(*vote);
        inner
            .save_state()
            .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        Ok(self.inner.lock().state.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let mut inner = self.inner.lock();
        inner.committed = committed;
        inner
            .save_committed()
            .map_err(|e| StorageIOError::write(AnyError::new(&e)).into())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.inner.lock().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let mut inner = self.inner.lock();
        if let Err(e) = inner.on_disk(|file| file.append(&entries)) {
            let err = StorageIOError::write_logs(AnyError::new(&e));
            callback.log_io_completed(Err(e));
            return Err(err.into());
        }
        inner
            .entries
            .extend(entries.into_iter().map(|e| (e.log_id.index, e)));
        drop(inner);
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut inner = self.inner.lock();
        inner
            .on_disk(|file| file.truncate_from(log_id.index))
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        inner.entries.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut inner = self.inner.lock();
        // Recorded first: after a crash mid-rewrite, open() finishes the purge.
        inner.state.last_purged = Some(log_id);
        inner
            .save_state()
            .map_err(|e| StorageIOError::write(AnyError::new(&e)))?;
        inner
            .on_disk(|file| file.purge_upto(log_id.index))
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        inner.entries = inner.entries.split_off(&(log_id.index + 1));
        Ok(())
    }
}
