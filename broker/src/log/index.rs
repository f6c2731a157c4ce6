//! Sparse indexes of a segment, kept in memory and appended to files in
//! Kafka's layout: `.index` holds (relative offset u32, position u32) and
//! `.timeindex` holds (timestamp i64, relative offset u32), big-endian. An
//! entry is added every `index.interval.bytes` of log.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::LogError;

/// Append-only file of fixed-size entries with their in-memory copy.
/// Entries reach the file when the segment is synced (a roll, a flush, a
/// clean shutdown), not one `write` per batch: after a crash the active
/// segment's indexes are rebuilt from its log anyway. The file is opened
/// only to write or cut it, so an index holds no file descriptor between
/// syncs, and a closed segment's indexes none at all: a partition costs one
/// descriptor per segment (its `.log`), as in Kafka.
#[derive(Debug)]
struct EntryFile<const N: usize> {
    path: PathBuf,
    entries: Vec<[u8; N]>,
    /// Entries already in the file. Invariant: `written <= entries.len()`.
    written: usize,
    /// Whether entries were written since the last fsync.
    unsynced: bool,
    /// Bytes after the last whole entry when the file was opened: a sign of
    /// damage (entries are always written whole), and the index is rebuilt.
    stray_bytes: usize,
}

impl<const N: usize> EntryFile<N> {
    /// Opens `path` (created if missing); `fresh` discards what the file
    /// holds (it is rebuilt).
    fn open(path: &Path, fresh: bool) -> Result<Self, LogError> {
        let display = path.display().to_string();
        let mut entries = Vec::new();
        let mut stray_bytes = 0;
        if fresh {
            File::create(path).map_err(LogError::io(format!("create {display}")))?;
        } else {
            let bytes = match std::fs::read(path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(LogError::io(format!("read {display}"))(e)),
            };
            let chunks = bytes.chunks_exact(N);
            stray_bytes = chunks.remainder().len();
            entries = chunks
                .map(|c| c.try_into().expect("chunk of N bytes"))
                .collect();
        }
        let written = entries.len();
        Ok(Self {
            path: path.to_owned(),
            entries,
            written,
            unsynced: false,
            stray_bytes,
        })
    }

    /// Checks that the file held whole entries only.
    fn check_shape(&self) -> Result<(), String> {
        match self.stray_bytes {
            0 => Ok(()),
            n => Err(format!(
                "size is not a multiple of {N}: {n} stray bytes after entry {}",
                self.entries.len()
            )),
        }
    }

    fn push(&mut self, entry: [u8; N]) {
        self.entries.push(entry);
    }

    fn open_for_write(&self) -> Result<File, LogError> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .map_err(LogError::io(format!("open {}", self.path.display())))
    }

    /// Writes the entries not yet in the file; returns the open file when
    /// it wrote any. A failed write is cut off again (or, if even that
    /// fails, the next start finds stray bytes and rebuilds the index).
    fn write_pending(&mut self) -> Result<Option<File>, LogError> {
        if self.written == self.entries.len() {
            return Ok(None);
        }
        let file = self.open_for_write()?;
        let at = (self.written * N) as u64;
        let pending = self.entries[self.written..].as_flattened();
        if let Err(e) = file.write_all_at(pending, at) {
            let _ = file.set_len(at);
            return Err(LogError::io(format!("write {}", self.path.display()))(e));
        }
        self.written = self.entries.len();
        self.unsynced = true;
        Ok(Some(file))
    }

    /// Writes the pending entries, then fsyncs the file.
    fn sync(&mut self) -> Result<(), LogError> {
        let file = self.write_pending()?;
        if !self.unsynced {
            return Ok(());
        }
        let file = match file {
            Some(file) => file,
            None => self.open_for_write()?,
        };
        file.sync_data()
            .map_err(LogError::io(format!("fsync {}", self.path.display())))?;
        self.unsynced = false;
        Ok(())
    }

    /// Drops entries from `keep` on (after a truncation).
    fn truncate(&mut self, keep: usize) -> Result<(), LogError> {
        self.entries.truncate(keep);
        self.written = self.written.min(keep);
        self.stray_bytes = 0;
        self.open_for_write()?
            .set_len((self.written * N) as u64)
            .map_err(LogError::io(format!("truncate {}", self.path.display())))
    }
}

/// Offset index: the file position of some batches, by relative offset.
#[derive(Debug)]
pub(crate) struct OffsetIndex(EntryFile<8>);

impl OffsetIndex {
    pub(crate) fn open(path: &Path, fresh: bool) -> Result<Self, LogError> {
        EntryFile::open(path, fresh).map(Self)
    }

    fn decode(e: &[u8; 8]) -> (u32, u32) {
        (
            u32::from_be_bytes(e[..4].try_into().expect("4 bytes")),
            u32::from_be_bytes(e[4..].try_into().expect("4 bytes")),
        )
    }

    pub(crate) fn append(&mut self, relative_offset: u32, position: u32) {
        let mut e = [0u8; 8];
        e[..4].copy_from_slice(&relative_offset.to_be_bytes());
        e[4..].copy_from_slice(&position.to_be_bytes());
        self.0.push(e);
    }

    /// The position of the last indexed batch starting at or before
    /// `relative_offset` (0 when none is).
    pub(crate) fn lookup(&self, relative_offset: u32) -> u32 {
        self.floor(|(offset, _)| offset <= relative_offset)
    }

    /// The position of the last indexed batch starting at or before file
    /// position `position` (0 when none is).
    pub(crate) fn floor_by_position(&self, position: u32) -> u32 {
        self.floor(|(_, at)| at <= position)
    }

    /// The position of the last entry (relative offset, position) for which
    /// `at_or_before` holds; entries grow in both, so they are sorted for it.
    fn floor(&self, at_or_before: impl Fn((u32, u32)) -> bool) -> u32 {
        let entries = &self.0.entries;
        let i = entries.partition_point(|e| at_or_before(Self::decode(e)));
        if i == 0 {
            0
        } else {
            Self::decode(&entries[i - 1]).1
        }
    }

    /// The last entry: (relative offset, position).
    pub(crate) fn last(&self) -> Option<(u32, u32)> {
        self.0.entries.last().map(Self::decode)
    }

    /// Checks what a clean start trusts: whole entries, offsets and
    /// positions strictly increasing, every position inside the log file of
    /// `log_len` bytes. `Err` says what is wrong.
    pub(crate) fn check(&self, log_len: u64) -> Result<(), String> {
        self.0.check_shape()?;
        let mut previous: Option<(u32, u32)> = None;
        for (i, entry) in self.0.entries.iter().enumerate() {
            let (offset, position) = Self::decode(entry);
            if u64::from(position) >= log_len {
                return Err(format!(
                    "entry {i} points at byte {position}, past the end of the log ({log_len} bytes)"
                ));
            }
            if let Some((prev_offset, prev_position)) = previous
                && (offset <= prev_offset || position <= prev_position)
            {
                return Err(format!(
                    "entry {i} (offset +{offset} at byte {position}) does not follow \
                     entry {} (offset +{prev_offset} at byte {prev_position})",
                    i - 1
                ));
            }
            previous = Some((offset, position));
        }
        Ok(())
    }

    /// Drops every entry, in memory and in the file (before a rebuild).
    pub(crate) fn clear(&mut self) -> Result<(), LogError> {
        self.0.truncate(0)
    }

    /// Drops entries for positions at or past `position`.
    pub(crate) fn truncate_to_position(&mut self, position: u32) -> Result<(), LogError> {
        let keep = self
            .0
            .entries
            .partition_point(|e| Self::decode(e).1 < position);
        self.0.truncate(keep)
    }

    pub(crate) fn sync(&mut self) -> Result<(), LogError> {
        self.0.sync()
    }

    pub(crate) fn write_pending(&mut self) -> Result<(), LogError> {
        self.0.write_pending().map(drop)
    }
}

/// Time index: the first relative offset by which a timestamp was reached.
#[derive(Debug)]
pub(crate) struct TimeIndex(EntryFile<12>);

impl TimeIndex {
    pub(crate) fn open(path: &Path, fresh: bool) -> Result<Self, LogError> {
        EntryFile::open(path, fresh).map(Self)
    }

    fn decode(e: &[u8; 12]) -> (i64, u32) {
        (
            i64::from_be_bytes(e[..8].try_into().expect("8 bytes")),
            u32::from_be_bytes(e[8..].try_into().expect("4 bytes")),
        )
    }

    /// Records that `timestamp` is the largest so far, reached at `relative_offset`.
    /// Entries stay sorted by timestamp: smaller timestamps are not indexed.
    pub(crate) fn append(&mut self, timestamp: i64, relative_offset: u32) {
        if self.last().is_some_and(|(ts, _)| ts >= timestamp) {
            return;
        }
        let mut e = [0u8; 12];
        e[..8].copy_from_slice(&timestamp.to_be_bytes());
        e[8..].copy_from_slice(&relative_offset.to_be_bytes());
        self.0.push(e);
    }

    /// The last entry: the segment's largest timestamp so far and where.
    pub(crate) fn last(&self) -> Option<(i64, u32)> {
        self.0.entries.last().map(Self::decode)
    }

    /// The relative offset of the last entry with a timestamp below
    /// `timestamp`: a batch reaching `timestamp` starts at or after it.
    pub(crate) fn lookup(&self, timestamp: i64) -> u32 {
        let entries = &self.0.entries;
        let i = entries.partition_point(|e| Self::decode(e).0 < timestamp);
        if i == 0 {
            0
        } else {
            Self::decode(&entries[i - 1]).1
        }
    }

    /// Checks what a clean start trusts: whole entries, timestamps
    /// strictly increasing, offsets never decreasing, and no offset past
    /// `max_relative_offset`. `Err` says what is wrong.
    pub(crate) fn check(&self, max_relative_offset: u32) -> Result<(), String> {
        self.0.check_shape()?;
        let mut previous: Option<(i64, u32)> = None;
        for (i, entry) in self.0.entries.iter().enumerate() {
            let (timestamp, offset) = Self::decode(entry);
            if offset > max_relative_offset {
                return Err(format!(
                    "entry {i} names offset +{offset}, past the segment's last (+{max_relative_offset})"
                ));
            }
            if let Some((prev_timestamp, prev_offset)) = previous
                && (timestamp <= prev_timestamp || offset < prev_offset)
            {
                return Err(format!(
                    "entry {i} ({timestamp} at +{offset}) does not follow \
                     entry {} ({prev_timestamp} at +{prev_offset})",
                    i - 1
                ));
            }
            previous = Some((timestamp, offset));
        }
        Ok(())
    }

    /// Drops every entry, in memory and in the file (before a rebuild).
    pub(crate) fn clear(&mut self) -> Result<(), LogError> {
        self.0.truncate(0)
    }

    pub(crate) fn truncate_to_offset(&mut self, relative_offset: u32) -> Result<(), LogError> {
        let keep = self
            .0
            .entries
            .partition_point(|e| Self::decode(e).1 < relative_offset);
        self.0.truncate(keep)
    }

    pub(crate) fn sync(&mut self) -> Result<(), LogError> {
        self.0.sync()
    }

    pub(crate) fn write_pending(&mut self) -> Result<(), LogError> {
        self.0.write_pending().map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_find_the_floor_entry_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut index = OffsetIndex::open(&path, false).unwrap();
        index.append(10, 4096);
        index.append(20, 8192);
        index.sync().unwrap();
        assert_eq!(index.lookup(5), 0);
        assert_eq!(index.lookup(15), 4096);
        assert_eq!(index.lookup(25), 8192);
        drop(index);
        let index = OffsetIndex::open(&path, false).unwrap();
        assert_eq!(index.lookup(20), 8192);

        let mut time = TimeIndex::open(&dir.path().join("0.timeindex"), false).unwrap();
        time.append(100, 0);
        time.append(90, 3);
        time.append(200, 7);
        assert_eq!(time.last(), Some((200, 7)));
        assert_eq!(time.lookup(150), 0);
        assert_eq!(time.lookup(250), 7);
    }
}
