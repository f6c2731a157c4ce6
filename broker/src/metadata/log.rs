//! The single-node metadata log: a local append-only file of frames, each
//! `length: u32 | crc32c: u32 | JSON`. One append is one frame holding all
//! of its records (a JSON array), so a change is recovered whole or not at
//! all: a CreateTopics torn by a crash or a full disk never comes back half
//! applied. Appends are fsynced before they are applied, so an acknowledged
//! admin operation survives a crash, and a failed append is cut off the file
//! before anything else may be appended. A Raft log replaces this file when
//! brokers form a cluster; the records stay the same.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::records::MetadataRecord;

const FRAME_HEADER: usize = 8;

/// A file of this many bytes is kept beside the log and given up when the
/// disk is full, so that a change which frees space (deleting a topic) can
/// still be written: without it a full disk could never be emptied through
/// the Kafka API.
const RESERVE_BYTES: usize = 256 * 1024;
const RESERVE_FILE: &str = "metadata.reserve";

/// Whether an append failed because the disk (or quota) is full.
fn is_disk_full(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// Whether a change may use the reserve: it frees space (deleting topics),
/// or the broker needs it to start at all (registering its endpoint).
fn may_use_reserve(records: &[MetadataRecord]) -> bool {
    records.iter().all(|r| {
        matches!(
            r,
            MetadataRecord::RemoveTopic { .. }
                | MetadataRecord::RegisterBroker { .. }
                | MetadataRecord::FenceBroker { .. }
                | MetadataRecord::UnfenceBroker { .. }
        )
    })
}

/// Local, durable, append-only metadata log.
#[derive(Debug)]
pub(super) struct MetadataLog {
    file: File,
    path: PathBuf,
    /// Bytes of whole, fsynced frames. Invariant: when `torn` is false the
    /// file is exactly this long between appends.
    len: u64,
    /// A failed append left bytes past `len` that could not be cut yet; the
    /// next append must cut them first (or fail), never write after them.
    torn: bool,
    /// Whether the space reserve is in place.
    reserved: bool,
}

/// One decoded frame: the records of one append.
fn decode_frame(bytes: &[u8], pos: usize) -> Option<(Vec<MetadataRecord>, usize)> {
    let header = bytes.get(pos..pos + FRAME_HEADER)?;
    let len = u32::from_be_bytes(header[..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_be_bytes(header[4..].try_into().expect("4 bytes"));
    let start = pos + FRAME_HEADER;
    let payload = bytes.get(start..start.checked_add(len)?)?;
    if crc32c::crc32c(payload) != crc {
        return None;
    }
    // Logs written before appends were framed whole hold one record a frame.
    let records = if payload.first() == Some(&b'[') {
        serde_json::from_slice(payload).ok()?
    } else {
        vec![serde_json::from_slice(payload).ok()?]
    };
    Some((records, start + len))
}

/// The first position after `from` where a whole, valid frame starts.
fn next_valid_frame(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len().saturating_sub(FRAME_HEADER - 1))
        .find(|&pos| decode_frame(bytes, pos).is_some())
}

impl MetadataLog {
    /// Opens (creating if needed) the log at `path` and returns every record
    /// in it. A torn tail (a frame cut short or damaged with nothing valid
    /// after it) is cut off with a warning. A damaged frame followed by valid
    /// ones is refused with an error naming the file and the byte positions:
    /// dropping the records after it silently could undo acknowledged changes.
    pub(super) fn open(path: &Path) -> io::Result<(Self, Vec<MetadataRecord>)> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut records = Vec::new();
        let mut pos = 0usize;
        while let Some((frame, next)) = decode_frame(&bytes, pos) {
            records.extend(frame);
            pos = next;
        }
        if pos < bytes.len() {
            if let Some(resume) = next_valid_frame(&bytes, pos + 1) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "damaged frame at byte {pos} is followed by valid frames from byte \
                         {resume} (file is {} bytes); refusing to drop them. Restore the file \
                         from a backup, or cut it at byte {pos} to accept losing what follows",
                        bytes.len()
                    ),
                ));
            }
            tracing::warn!(
                path = %path.display(),
                valid_bytes = pos,
                file_bytes = bytes.len(),
                "truncating torn tail of the metadata log (an append that never completed)"
            );
            file.set_len(pos as u64)?;
            file.sync_data()?;
        }
        file.seek(SeekFrom::End(0))?;
        let mut log = Self {
            file,
            path: path.to_owned(),
            len: pos as u64,
            torn: false,
            reserved: false,
        };
        log.restore_reserve();
        Ok((log, records))
    }

    /// Appends `records` as one frame and fsyncs it. On failure (a full
    /// disk, an I/O error) the partial frame is cut off again, so the log
    /// holds exactly the appends that succeeded. On a full disk a change
    /// that removes topics or registers the broker is written into the
    /// space of the reserve.
    pub(super) fn append(&mut self, records: &[MetadataRecord]) -> io::Result<()> {
        let result = match self.append_frame(records) {
            Err(error)
                if is_disk_full(&error) && may_use_reserve(records) && self.release_reserve() =>
            {
                tracing::warn!(path = %self.path.display(), "disk full: writing a topic deletion or broker registration into the reserved space");
                self.append_frame(records)
            }
            other => other,
        };
        if result.is_ok() {
            self.restore_reserve();
        }
        result
    }

    /// Gives the reserve up; whether there was one.
    fn release_reserve(&mut self) -> bool {
        let had = std::mem::take(&mut self.reserved);
        had && std::fs::remove_file(self.reserve_path()).is_ok()
    }

    /// Puts the reserve (back) in place when it is missing and there is room.
    fn restore_reserve(&mut self) {
        if self.reserved {
            return;
        }
        let path = self.reserve_path();
        let made = std::fs::metadata(&path).is_ok_and(|m| m.len() == RESERVE_BYTES as u64)
            || File::create(&path)
                .and_then(|mut f| {
                    f.write_all(&vec![0u8; RESERVE_BYTES])?;
                    f.sync_data()
                })
                .inspect_err(|_| {
                    let _ = std::fs::remove_file(&path);
                })
                .is_ok();
        self.reserved = made;
    }

    fn reserve_path(&self) -> PathBuf {
        self.path.with_file_name(RESERVE_FILE)
    }

    fn append_frame(&mut self, records: &[MetadataRecord]) -> io::Result<()> {
        if self.torn {
            self.cut_back()?;
        }
        let payload = serde_json::to_vec(records).map_err(io::Error::other)?;
        let len = u32::try_from(payload.len()).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "metadata change too large")
        })?;
        let mut buf = Vec::with_capacity(FRAME_HEADER + payload.len());
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
        buf.extend_from_slice(&payload);
        let written = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        if let Err(error) = written {
            self.torn = true;
            if let Err(cut) = self.cut_back() {
                tracing::error!(
                    path = %self.path.display(),
                    %cut,
                    "could not cut a failed metadata append; the next append retries"
                );
            }
            return Err(error);
        }
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Cuts whatever a failed append left past the last whole frame.
    fn cut_back(&mut self) -> io::Result<()> {
        self.file.set_len(self.len)?;
        self.file.sync_data()?;
        self.torn = false;
        Ok(())
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn topic(name: &str) -> MetadataRecord {
        MetadataRecord::Topic {
            name: name.into(),
            id: Uuid::new_v4(),
        }
    }

    fn append_raw(path: &Path, bytes: &[u8]) {
        let mut f = OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(bytes).unwrap();
    }

    #[test]
    fn records_survive_reopen_and_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.log");
        let (mut log, records) = MetadataLog::open(&path).unwrap();
        assert!(records.is_empty());
        let record = topic("t");
        log.append(std::slice::from_ref(&record)).unwrap();
        drop(log);
        // A crash in the middle of the next append.
        append_raw(&path, &[0, 0, 0, 50, 1, 2]);
        let (_, records) = MetadataLog::open(&path).unwrap();
        assert_eq!(records, vec![record]);
        let (_, again) = MetadataLog::open(&path).unwrap();
        assert_eq!(again.len(), 1);
    }

    #[test]
    fn one_append_is_recovered_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.log");
        let (mut log, _) = MetadataLog::open(&path).unwrap();
        let first = [topic("a"), topic("b")];
        log.append(&first).unwrap();
        let whole = std::fs::metadata(&path).unwrap().len();
        log.append(&[topic("c"), topic("d"), topic("e")]).unwrap();
        drop(log);
        // Cut the second append in the middle of its records.
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        let full = file.metadata().unwrap().len();
        file.set_len(whole + (full - whole) / 2).unwrap();
        drop(file);
        let (_, records) = MetadataLog::open(&path).unwrap();
        assert_eq!(records, first);
    }

    #[test]
    fn a_damaged_frame_with_valid_frames_after_it_is_refused_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.log");
        let (mut log, _) = MetadataLog::open(&path).unwrap();
        log.append(&[topic("a")]).unwrap();
        let damaged_at = std::fs::metadata(&path).unwrap().len();
        log.append(&[topic("b")]).unwrap();
        log.append(&[topic("c")]).unwrap();
        drop(log);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[damaged_at as usize + FRAME_HEADER + 3] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let error = MetadataLog::open(&path).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(
            error.to_string().contains(&format!("byte {damaged_at}")),
            "{error}"
        );
        // Nothing was cut: the operator still has every byte.
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn logs_of_one_record_a_frame_still_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.log");
        let record = topic("old");
        let payload = serde_json::to_vec(&record).unwrap();
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
        frame.extend_from_slice(&payload);
        std::fs::write(&path, &frame).unwrap();
        let (mut log, records) = MetadataLog::open(&path).unwrap();
        assert_eq!(records, vec![record.clone()]);
        log.append(&[topic("new")]).unwrap();
        drop(log);
        let (_, records) = MetadataLog::open(&path).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0], record);
    }
}
