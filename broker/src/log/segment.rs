//! One segment: a `.log` file of record batches from `base_offset` on, with
//! its offset and time indexes. Files are named by the zero-padded base offset.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::LogError;
use super::batch::{self, BatchHeader, HEADER_SIZE};
use super::index::{OffsetIndex, TimeIndex};

/// `00000000000000000042` for base offset 42.
pub(crate) fn file_stem(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

/// Index density used when an index is rebuilt by scanning (Kafka's default
/// `index.interval.bytes`); the density only affects lookup cost.
const REBUILT_INDEX_INTERVAL: u64 = 4096;

#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) base_offset: i64,
    path: PathBuf,
    file: Arc<File>,
    /// Bytes of whole batches in the file. Invariant: equals the file length.
    size: u64,
    /// Offset after the last batch; `base_offset` when empty.
    pub(crate) next_offset: i64,
    index: OffsetIndex,
    time_index: TimeIndex,
    bytes_since_index_entry: u64,
    /// Wall-clock time of the first append, for `segment.ms`.
    pub(crate) created_ms: i64,
    /// Why the end of this closed segment cannot be read (naming the file),
    /// when start-up found it damaged. The bytes are left in place for the
    /// operator; reads stop before them and fail past them.
    pub(crate) damage: Option<String>,
}

impl Segment {
    fn paths(dir: &Path, base_offset: i64) -> (PathBuf, PathBuf, PathBuf) {
        let stem = file_stem(base_offset);
        (
            dir.join(format!("{stem}.log")),
            dir.join(format!("{stem}.index")),
            dir.join(format!("{stem}.timeindex")),
        )
    }

    /// Opens (or creates) the active segment at `base_offset`. With
    /// `recover`, every batch is checked and a torn or corrupt tail is cut
    /// off, and the indexes are rebuilt; otherwise the files are trusted once
    /// they pass a sanity check. `created_ms` is used when the segment is empty.
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
        recover: bool,
        now_ms: i64,
    ) -> Result<Self, LogError> {
        Self::open_as(dir, base_offset, recover, false, now_ms)
    }

    /// Opens a closed segment: its last batch is checked whole (CRC
    /// included), which is cheap; damage is never cut off (a closed segment
    /// was acknowledged whole) but recorded in [`Self::damage`], and the
    /// readable batches before it stay served.
    pub(crate) fn open_closed(dir: &Path, base_offset: i64, now_ms: i64) -> Result<Self, LogError> {
        Self::open_as(dir, base_offset, false, true, now_ms)
    }

    fn open_as(
        dir: &Path,
        base_offset: i64,
        recover: bool,
        closed: bool,
        now_ms: i64,
    ) -> Result<Self, LogError> {
        let (log_path, index_path, time_path) = Self::paths(dir, base_offset);
        let display = log_path.display().to_string();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&log_path)
            .map_err(LogError::io(format!("open {display}")))?;
        let file_len = file
            .metadata()
            .map_err(LogError::io(format!("stat {display}")))?
            .len();
        let created_ms = file
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(now_ms, |d| d.as_millis() as i64);
        let rebuild = recover || !index_path.exists() || !time_path.exists();
        let mut segment = Self {
            base_offset,
            path: log_path,
            file: Arc::new(file),
            size: 0,
            next_offset: base_offset,
            index: OffsetIndex::open(&index_path, rebuild)?,
            time_index: TimeIndex::open(&time_path, rebuild)?,
            bytes_since_index_entry: 0,
            created_ms: if file_len == 0 { now_ms } else { created_ms },
            damage: None,
        };
        if rebuild {
            segment.scan(file_len, recover, closed)?;
        } else if let Err(reason) = segment.walk_from_index(file_len, closed) {
            // A clean start trusts the indexes; when they do not fit the log
            // the log wins: the indexes are rebuilt from it and nothing is
            // cut because of them.
            tracing::warn!(
                segment = %segment.path.display(),
                %reason,
                "index files do not match the log; rebuilding them from the log"
            );
            segment.index.clear()?;
            segment.time_index.clear()?;
            segment.next_offset = base_offset;
            segment.scan(file_len, true, closed)?;
        }
        // A later clean start trusts the index files: give them what a
        // rebuild produced (nothing is pending otherwise). Best effort: on a
        // full disk the broker still starts, the entries stay pending for
        // the next sync, and a start that finds them missing rebuilds them.
        for written in [
            segment.index.write_pending(),
            segment.time_index.write_pending(),
        ] {
            if let Err(error) = written {
                tracing::warn!(segment = %segment.path.display(), %error, "could not write rebuilt index entries yet");
            }
        }
        Ok(segment)
    }

    /// A clean start: checks the index files and walks only the batches
    /// after the last index entry to find the end, checking the last batch
    /// whole when `verify_last`. `Err` says what does not fit; the log file
    /// is never changed here.
    fn walk_from_index(&mut self, file_len: u64, verify_last: bool) -> Result<(), String> {
        let (index_path, time_path) = {
            let (_, index, time) = Self::paths(
                self.path.parent().unwrap_or(Path::new("")),
                self.base_offset,
            );
            (index, time)
        };
        self.index
            .check(file_len)
            .map_err(|e| format!("{}: {e}", index_path.display()))?;
        let (mut pos, mut next) = self
            .index
            .last()
            .map_or((0, self.base_offset), |(rel, at)| {
                (u64::from(at), self.base_offset + i64::from(rel))
            });
        let mut header_buf = [0u8; HEADER_SIZE];
        let mut exact = self.index.last().is_some();
        while pos < file_len {
            let header = (pos + HEADER_SIZE as u64 <= file_len)
                .then(|| self.file.read_exact_at(&mut header_buf, pos).ok())
                .flatten()
                .and_then(|()| BatchHeader::parse(&header_buf).ok())
                .filter(|h| {
                    if exact {
                        h.base_offset == next
                    } else {
                        h.base_offset >= next
                    }
                })
                .filter(|h| pos + h.size as u64 <= file_len)
                .ok_or_else(|| {
                    format!(
                        "{}: no whole batch at byte {pos} (offset {next}) of {file_len}",
                        index_path.display()
                    )
                })?;
            exact = false;
            if verify_last && pos + header.size as u64 == file_len {
                let mut whole = vec![0u8; header.size];
                self.file
                    .read_exact_at(&mut whole, pos)
                    .map_err(|e| format!("{}: read the last batch: {e}", self.path.display()))?;
                batch::validate(&whole, &header).map_err(|e| {
                    format!("{}: last batch at byte {pos}: {e}", self.path.display())
                })?;
            }
            pos += header.size as u64;
            next = header.last_offset() + 1;
        }
        let max_relative = u32::try_from((next - self.base_offset - 1).max(0)).unwrap_or(u32::MAX);
        self.time_index
            .check(max_relative)
            .map_err(|e| format!("{}: {e}", time_path.display()))?;
        self.next_offset = next;
        self.size = file_len;
        Ok(())
    }

    /// Walks every batch of the file to find its end and rebuild the
    /// indexes, checking CRCs when `verify`. What follows the last good
    /// batch is cut off (a torn write), or with `keep_tail` (a closed
    /// segment) left in place and reported as damage.
    fn scan(&mut self, file_len: u64, verify: bool, keep_tail: bool) -> Result<(), LogError> {
        let mut pos = 0u64;
        let mut buf = Vec::new();
        let mut header_buf = [0u8; HEADER_SIZE];
        while pos + HEADER_SIZE as u64 <= file_len {
            if self.file.read_exact_at(&mut header_buf, pos).is_err() {
                break;
            }
            let Ok(header) = BatchHeader::parse(&header_buf) else {
                break;
            };
            if pos + header.size as u64 > file_len || header.base_offset < self.next_offset {
                break;
            }
            if verify {
                buf.resize(header.size, 0);
                if self.file.read_exact_at(&mut buf, pos).is_err()
                    || batch::validate(&buf, &header).is_err()
                {
                    break;
                }
            }
            self.index_batch(&header, pos, REBUILT_INDEX_INTERVAL);
            pos += header.size as u64;
            self.next_offset = header.last_offset() + 1;
        }
        if pos < file_len && keep_tail {
            let damage = format!(
                "{}: no valid record batch at byte {pos} of {file_len}; records from offset {} \
                 up to the next segment cannot be read",
                self.path.display(),
                self.next_offset
            );
            tracing::error!("closed segment damaged: {damage}");
            self.damage = Some(damage);
        } else if pos < file_len {
            tracing::warn!(
                segment = %self.path.display(),
                valid_bytes = pos,
                file_bytes = file_len,
                "truncating a torn or corrupt log tail"
            );
            self.file
                .set_len(pos)
                .map_err(LogError::io(format!("truncate {}", self.path.display())))?;
            self.index.truncate_to_position(pos as u32)?;
            self.time_index
                .truncate_to_offset((self.next_offset - self.base_offset) as u32)?;
        }
        self.size = pos;
        Ok(())
    }

    /// Adds index entries for the batch at `position`: an offset entry when
    /// `interval` bytes passed since the last one, a time entry when its
    /// timestamp is the largest yet.
    fn index_batch(&mut self, header: &BatchHeader, position: u64, interval: u64) {
        let relative = (header.base_offset - self.base_offset) as u32;
        if position == 0 || self.bytes_since_index_entry >= interval {
            self.index.append(relative, position as u32);
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry += header.size as u64;
        self.time_index.append(header.max_timestamp, relative);
    }

    /// Records batches just written at the end of the file (offsets
    /// already assigned): size, next offset and index entries.
    pub(crate) fn appended(&mut self, headers: &[BatchHeader], index_interval_bytes: u64) {
        let mut position = self.size;
        for header in headers {
            self.index_batch(header, position, index_interval_bytes);
            position += header.size as u64;
            self.next_offset = header.last_offset() + 1;
        }
        self.size = position;
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.size == 0
    }

    pub(crate) fn file(&self) -> Arc<File> {
        self.file.clone()
    }

    /// A file position at or before the batch holding `offset`.
    pub(crate) fn position_hint(&self, offset: i64) -> u64 {
        u64::from(self.index.lookup((offset - self.base_offset).max(0) as u32))
    }

    /// The position of an indexed batch that starts at or before `limit`
    /// and below `max_offset` (0, the first batch, when none is indexed).
    pub(crate) fn batch_boundary_at_or_before(&self, limit: u64, max_offset: i64) -> u64 {
        let by_position = self
            .index
            .floor_by_position(limit.min(u64::from(u32::MAX)) as u32);
        let below = max_offset.saturating_sub(1) - self.base_offset;
        let by_offset = match u32::try_from(below) {
            Ok(relative) => self.index.lookup(relative),
            Err(_) if below < 0 => 0,
            Err(_) => u32::MAX,
        };
        u64::from(by_position.min(by_offset))
    }

    /// A relative offset at or before the first batch reaching `timestamp`.
    pub(crate) fn offset_hint_for_timestamp(&self, timestamp: i64) -> i64 {
        self.base_offset + i64::from(self.time_index.lookup(timestamp))
    }

    /// The largest timestamp in the segment and the base offset of a batch
    /// holding it, or `None` for an empty segment.
    pub(crate) fn max_timestamp(&self) -> Option<(i64, i64)> {
        self.time_index
            .last()
            .map(|(ts, rel)| (ts, self.base_offset + i64::from(rel)))
    }

    /// Makes the segment's data and indexes durable.
    pub(crate) fn sync(&mut self) -> Result<(), LogError> {
        self.file
            .sync_data()
            .map_err(LogError::io(format!("fsync {}", self.path.display())))?;
        self.index.sync()?;
        self.time_index.sync()
    }

    /// Removes the segment's files. Readers holding the file keep reading it.
    pub(crate) fn delete(self) -> Result<(), LogError> {
        let dir = self
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let (log, index, time) = Self::paths(&dir, self.base_offset);
        for path in [log, index, time] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io(format!("delete {}", path.display()))(e)),
            }
        }
        Ok(())
    }
}

/// `write_all` for several buffers: one `writev` per call in the common case.
pub(crate) fn write_all_vectored(
    mut file: &File,
    mut pieces: &mut [IoSlice<'_>],
) -> std::io::Result<()> {
    IoSlice::advance_slices(&mut pieces, 0);
    while !pieces.is_empty() {
        match file.write_vectored(pieces) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut pieces, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads the header of the batch at `pos`, or `None` at the segment's end.
pub(crate) fn read_header(
    file: &File,
    pos: u64,
    end: u64,
) -> Result<Option<BatchHeader>, LogError> {
    if pos + HEADER_SIZE as u64 > end {
        return Ok(None);
    }
    let mut buf = [0u8; HEADER_SIZE];
    file.read_exact_at(&mut buf, pos)
        .map_err(LogError::io(format!("read batch header at byte {pos}")))?;
    BatchHeader::parse(&buf).map(Some)
}

impl Segment {
    /// Cuts the file before the batch holding `offset` (or the first batch
    /// past it, after compaction gaps) and drops the index entries of what
    /// was cut. Whole batches only: a batch is never split.
    pub(crate) fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        let mut pos = self.position_hint(offset);
        while let Some(header) =
            read_header(&self.file, pos, self.size).map_err(|e| e.in_file(&self.path))?
        {
            if header.last_offset() >= offset {
                self.file
                    .set_len(pos)
                    .map_err(LogError::io(format!("truncate {}", self.path.display())))?;
                self.size = pos;
                self.next_offset = header.base_offset.min(offset).max(self.base_offset);
                self.index.truncate_to_position(pos as u32)?;
                self.time_index
                    .truncate_to_offset((self.next_offset - self.base_offset) as u32)?;
                self.bytes_since_index_entry = 0;
                return Ok(());
            }
            pos += header.size as u64;
        }
        // Every batch is below `offset`: only a compaction gap is cut.
        self.next_offset = self.next_offset.min(offset.max(self.base_offset));
        Ok(())
    }

    /// Calls `f` with the header of every batch from the one holding
    /// `offset` to the end of the segment.
    pub(crate) fn for_each_header_from(
        &self,
        offset: i64,
        mut f: impl FnMut(&BatchHeader),
    ) -> Result<(), LogError> {
        let mut pos = self.position_hint(offset);
        while let Some(header) =
            read_header(&self.file, pos, self.size).map_err(|e| e.in_file(&self.path))?
        {
            if header.last_offset() >= offset {
                f(&header);
            }
            pos += header.size as u64;
        }
        Ok(())
    }
}
