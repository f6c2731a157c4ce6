//! The leader epoch cache of a partition (Kafka's `leader-epoch-checkpoint`,
//! KIP-101): for each leader epoch, the first offset written in it. A
//! follower asks its leader where its last epoch ended (OffsetForLeaderEpoch)
//! and truncates there, so a tail written by a leader that was later
//! replaced never survives, whatever the high watermark said.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use super::LogError;

const FILE: &str = "leader-epoch-checkpoint";

/// `(epoch, start offset)` entries, both strictly increasing.
#[derive(Debug)]
pub(crate) struct LeaderEpochCache {
    path: PathBuf,
    entries: Mutex<Vec<(i32, i64)>>,
}

impl LeaderEpochCache {
    /// Loads the cache of the log in `dir` (empty when there is none).
    pub(crate) fn open(dir: &Path) -> Result<Self, LogError> {
        let path = dir.join(FILE);
        let entries = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .lines()
                .filter_map(|line| {
                    let (epoch, offset) = line.split_once(' ')?;
                    Some((epoch.parse().ok()?, offset.parse().ok()?))
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(LogError::io(format!("read {}", path.display()))(e)),
        };
        Ok(Self {
            path,
            entries: Mutex::new(entries),
        })
    }

    /// The latest epoch, if any batch or leadership was recorded.
    pub(crate) fn latest_epoch(&self) -> Option<i32> {
        self.entries.lock().last().map(|(epoch, _)| *epoch)
    }

    /// Records that `epoch` starts at `offset` (a new leader's first offset,
    /// or a follower's first batch of that epoch). Older or equal epochs are
    /// ignored.
    pub(crate) fn assign(&self, epoch: i32, offset: i64) -> Result<(), LogError> {
        let mut entries = self.entries.lock();
        if entries.last().is_some_and(|(last, _)| *last >= epoch) {
            return Ok(());
        }
        entries.push((epoch, offset));
        self.persist(&entries)
    }

    /// Where `epoch` ends: `(the largest epoch <= epoch, the start offset of
    /// the next larger epoch, or log_end_offset)`; `(-1, -1)` when the log
    /// knows no epoch that old (OffsetForLeaderEpoch's answer).
    pub(crate) fn end_offset_for(&self, epoch: i32, log_end_offset: i64) -> (i32, i64) {
        let entries = self.entries.lock();
        let Some(found) = entries.iter().rposition(|(e, _)| *e <= epoch) else {
            return (-1, -1);
        };
        let end = entries
            .get(found + 1)
            .map_or(log_end_offset, |(_, start)| *start);
        (entries[found].0, end)
    }

    /// Forgets epochs that start at or after `end_offset` (a truncation).
    pub(crate) fn truncate_from(&self, end_offset: i64) -> Result<(), LogError> {
        let mut entries = self.entries.lock();
        let before = entries.len();
        entries.retain(|(_, start)| *start < end_offset);
        if entries.len() == before {
            return Ok(());
        }
        self.persist(&entries)
    }

    /// Writes the entries atomically (write, fsync, rename).
    fn persist(&self, entries: &[(i32, i64)]) -> Result<(), LogError> {
        let text: String = entries
            .iter()
            .map(|(epoch, offset)| format!("{epoch} {offset}\n"))
            .collect();
        let tmp = self.path.with_extension("tmp");
        let io = |what: &str| LogError::io(format!("{what} {}", self.path.display()));
        let file = std::fs::File::create(&tmp).map_err(io("create"))?;
        std::io::Write::write_all(&mut &file, text.as_bytes()).map_err(io("write"))?;
        file.sync_data().map_err(io("fsync"))?;
        std::fs::rename(&tmp, &self.path).map_err(io("rename"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_ends_where_the_next_begins_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LeaderEpochCache::open(dir.path()).unwrap();
        cache.assign(0, 0).unwrap();
        cache.assign(2, 10).unwrap();
        cache.assign(1, 5).unwrap(); // older than the latest: ignored
        assert_eq!(cache.end_offset_for(0, 30), (0, 10));
        assert_eq!(cache.end_offset_for(1, 30), (0, 10));
        assert_eq!(cache.end_offset_for(2, 30), (2, 30));
        let reopened = LeaderEpochCache::open(dir.path()).unwrap();
        assert_eq!(reopened.latest_epoch(), Some(2));
        reopened.truncate_from(10).unwrap();
        assert_eq!(reopened.end_offset_for(5, 10), (0, 10));
        assert_eq!(
            LeaderEpochCache::open(dir.path()).unwrap().latest_epoch(),
            Some(0)
        );
    }
}
