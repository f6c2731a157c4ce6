//! The Raft log's entry file, `raft.log`: one frame per log entry,
//! `length: u32 | crc32c: u32 | JSON entry`, indices contiguous.
//!
//! Recovery rules, checked on open:
//! - a torn tail (the last append cut short by a crash: an incomplete frame,
//!   or a bad frame with nothing valid after it) is cut and logged with what
//!   was cut; nothing in it was acknowledged, because appends are fsynced
//!   before they are acknowledged;
//! - a bad frame followed by a valid one is corruption of acknowledged data:
//!   the node refuses to start, naming the file and byte position, since
//!   silently dropping committed entries could lose metadata;
//! - an intact frame (checksum right) that does not decode was written by
//!   another version of Karst, never torn: refusing to start beats cutting
//!   a committed entry.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::Entry;
use super::durable;

const FRAME_HEADER: usize = 8;

/// The entry file could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum LogFileError {
    #[error("Raft log {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "Raft log {path} is corrupt at byte {position}: a damaged entry is followed by intact ones, \
         so acknowledged entries would be lost; refusing to start (restore the file, or remove this \
         controller's metadata directory to rebuild it from the quorum)"
    )]
    Corrupt { path: PathBuf, position: u64 },
    #[error(
        "Raft log {path}: the intact entry at byte {position} does not decode ({source}); \
         was it written by a newer version of Karst?"
    )]
    Undecodable {
        path: PathBuf,
        position: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "Raft log {path}: the entry at byte {position} has index {found} where {expected} was expected"
    )]
    IndexGap {
        path: PathBuf,
        position: u64,
        expected: u64,
        found: u64,
    },
}

/// The open entry file. Invariant: `positions` holds the byte position of
/// every entry in the file, by log index, and `len` is the file's length.
#[derive(Debug)]
pub(super) struct LogFile {
    file: File,
    path: PathBuf,
    positions: BTreeMap<u64, u64>,
    len: u64,
}

/// What one frame at a position turned out to be.
enum Frame {
    /// An intact entry and the position just after it.
    Entry(Box<Entry>, usize),
    /// End of file, exactly at a frame boundary.
    End,
    /// Damaged or incomplete; `next` is where the following frame would start
    /// if the length field is to be believed and fits in the file.
    Bad { next: Option<usize> },
    /// Intact (checksum right) but not an entry this version understands.
    Undecodable(serde_json::Error),
}

fn frame_at(bytes: &[u8], pos: usize) -> Frame {
    if pos == bytes.len() {
        return Frame::End;
    }
    let Some(header) = bytes.get(pos..pos + FRAME_HEADER) else {
        return Frame::Bad { next: None };
    };
    let len = u32::from_be_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_be_bytes(header[4..8].try_into().expect("4 bytes"));
    let start = pos + FRAME_HEADER;
    let Some(payload) = bytes.get(start..start + len) else {
        return Frame::Bad { next: None };
    };
    let next = start + len;
    if crc32c::crc32c(payload) != crc {
        return Frame::Bad { next: Some(next) };
    }
    match serde_json::from_slice::<Entry>(payload) {
        Ok(entry) => Frame::Entry(Box::new(entry), next),
        Err(e) => Frame::Undecodable(e),
    }
}

fn encode(entry: &Entry, buf: &mut Vec<u8>) -> io::Result<()> {
    let payload = serde_json::to_vec(entry).map_err(io::Error::other)?;
    let len = u32::try_from(payload.len()).map_err(io::Error::other)?;
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    buf.extend_from_slice(&payload);
    Ok(())
}

impl LogFile {
    /// Opens (creating if needed) the entry file at `path` and returns its
    /// entries in index order, after cutting a torn tail.
    pub(super) fn open(path: &Path) -> Result<(Self, Vec<Entry>), LogFileError> {
        let io_err = |source| LogFileError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_err)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err)?;

        let mut entries: Vec<Entry> = Vec::new();
        let mut positions = BTreeMap::new();
        let mut pos = 0usize;
        loop {
            match frame_at(&bytes, pos) {
                Frame::End => break,
                Frame::Entry(entry, next) => {
                    let found = entry.log_id.index;
                    if let Some(prev) = entries.last()
                        && found != prev.log_id.index + 1
                    {
                        return Err(LogFileError::IndexGap {
                            path: path.to_owned(),
                            position: pos as u64,
                            expected: prev.log_id.index + 1,
                            found,
                        });
                    }
                    positions.insert(found, pos as u64);
                    entries.push(*entry);
                    pos = next;
                }
                Frame::Undecodable(source) => {
                    return Err(LogFileError::Undecodable {
                        path: path.to_owned(),
                        position: pos as u64,
                        source,
                    });
                }
                Frame::Bad { next } => {
                    let intact_after = next.is_some_and(|n| {
                        matches!(
                            frame_at(&bytes, n),
                            Frame::Entry(..) | Frame::Undecodable(_)
                        )
                    });
                    if intact_after {
                        return Err(LogFileError::Corrupt {
                            path: path.to_owned(),
                            position: pos as u64,
                        });
                    }
                    tracing::warn!(
                        path = %path.display(),
                        position = pos,
                        cut_bytes = bytes.len() - pos,
                        last_intact_index = entries.last().map(|e| e.log_id.index),
                        "cutting the torn tail of the Raft log (an append interrupted by a crash; never acknowledged)"
                    );
                    file.set_len(pos as u64).map_err(io_err)?;
                    file.sync_all().map_err(io_err)?;
                    break;
                }
            }
        }
        let log = Self {
            file,
            path: path.to_owned(),
            positions,
            len: pos as u64,
        };
        Ok((log, entries))
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entries` and fsyncs them. On failure the file is cut back to
    /// its length before the call, so a later append never lands after a
    /// half-written frame, and the error is returned.
    pub(super) fn append(&mut self, entries: &[Entry]) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut new_positions = Vec::with_capacity(entries.len());
        for entry in entries {
            new_positions.push((entry.log_id.index, self.len + buf.len() as u64));
            encode(entry, &mut buf)?;
        }
        let written = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            if let Err(cut) = self.file.set_len(self.len) {
                tracing::error!(path = %self.path.display(), error = %cut, "cannot cut a failed append from the Raft log");
            }
            return Err(e);
        }
        self.len += buf.len() as u64;
        self.positions.extend(new_positions);
        Ok(())
    }

    /// Removes the entries from `index` on (a follower's conflicting tail).
    pub(super) fn truncate_from(&mut self, index: u64) -> io::Result<()> {
        let Some(&pos) = self.positions.range(index..).next().map(|(_, p)| p) else {
            return Ok(());
        };
        self.file.set_len(pos)?;
        self.file.sync_all()?;
        self.positions.split_off(&index);
        self.len = pos;
        Ok(())
    }

    /// Removes the entries up to and including `index` (covered by a
    /// snapshot) by rewriting the file with the rest, atomically.
    pub(super) fn purge_upto(&mut self, index: u64) -> io::Result<()> {
        let kept = self.positions.split_off(&(index + 1));
        let from = kept.values().next().copied().unwrap_or(self.len);
        if from == 0 {
            self.positions = kept;
            return Ok(());
        }
        let mut bytes = Vec::new();
        File::open(&self.path)?.read_to_end(&mut bytes)?;
        let tail = bytes.get(from as usize..).unwrap_or_default();
        durable::atomic_write(&self.path, tail)?;
        self.file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)?;
        self.positions = kept.into_iter().map(|(i, p)| (i, p - from)).collect();
        self.len = tail.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use openraft::{EntryPayload, LogId};

    use super::*;
    use crate::metadata::MetadataRecord;
    use crate::raft::MetadataBatch;

    fn entry(index: u64) -> Entry {
        Entry {
            log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(MetadataBatch(vec![MetadataRecord::ProducerIds {
                next_producer_id: index as i64,
            }])),
        }
    }

    fn indices(entries: &[Entry]) -> Vec<u64> {
        entries.iter().map(|e| e.log_id.index).collect()
    }

    #[test]
    fn torn_tail_is_cut_on_open_and_later_appends_follow_the_intact_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.log");
        let (mut log, _) = LogFile::open(&path).unwrap();
        log.append(&[entry(1), entry(2)]).unwrap();
        let intact_len = std::fs::metadata(&path).unwrap().len();
        drop(log);
        // A crash in the middle of appending entry 3: header and half a payload.
        let mut torn = Vec::new();
        encode(&entry(3), &mut torn).unwrap();
        torn.truncate(torn.len() / 2);
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&torn)
            .unwrap();

        let (mut log, entries) = LogFile::open(&path).unwrap();
        assert_eq!(indices(&entries), vec![1, 2]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), intact_len);
        log.append(&[entry(3)]).unwrap();
        drop(log);
        let (_, entries) = LogFile::open(&path).unwrap();
        assert_eq!(indices(&entries), vec![1, 2, 3]);
    }

    #[test]
    fn a_damaged_last_entry_is_a_torn_tail_but_damage_before_intact_entries_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.log");
        let (mut log, _) = LogFile::open(&path).unwrap();
        log.append(&[entry(1), entry(2), entry(3)]).unwrap();
        let second = log.positions[&2] as usize;
        let third = log.positions[&3] as usize;
        drop(log);
        let clean = std::fs::read(&path).unwrap();

        // Garbage inside the last frame: cut as a torn tail.
        let mut bytes = clean.clone();
        let last = bytes.len() - 2;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let (_, entries) = LogFile::open(&path).unwrap();
        assert_eq!(indices(&entries), vec![1, 2]);

        // Garbage inside entry 2, with entry 3 intact after it: refuse.
        let mut bytes = clean;
        bytes[(second + third) / 2] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let err = LogFile::open(&path).unwrap_err();
        assert!(
            matches!(&err, LogFileError::Corrupt { position, .. } if *position == second as u64),
            "{err}"
        );
        assert!(err.to_string().contains("raft.log"), "{err}");
    }

    #[test]
    fn an_intact_entry_this_version_cannot_decode_refuses_to_start_instead_of_being_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.log");
        let (mut log, _) = LogFile::open(&path).unwrap();
        log.append(&[entry(1)]).unwrap();
        drop(log);
        let payload = br#"{"log_id":{"leader_id":{"term":1,"node_id":1},"index":2},"payload":{"Normal":[{"type":"from_the_future"}]}}"#;
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
        frame.extend_from_slice(payload);
        let before = std::fs::read(&path).unwrap().len() + frame.len();
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&frame)
            .unwrap();

        let err = LogFile::open(&path).unwrap_err();
        assert!(matches!(err, LogFileError::Undecodable { .. }), "{err}");
        assert!(err.to_string().contains("newer version"), "{err}");
        assert_eq!(
            std::fs::read(&path).unwrap().len(),
            before,
            "nothing was cut"
        );
    }

    #[test]
    fn truncate_and_purge_keep_the_file_and_positions_consistent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.log");
        let (mut log, _) = LogFile::open(&path).unwrap();
        log.append(&(1..=6).map(entry).collect::<Vec<_>>()).unwrap();
        log.truncate_from(5).unwrap();
        log.purge_upto(2).unwrap();
        log.append(&[entry(5)]).unwrap();
        drop(log);
        let (log, entries) = LogFile::open(&path).unwrap();
        assert_eq!(indices(&entries), vec![3, 4, 5]);
        assert_eq!(
            log.positions.keys().copied().collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert_eq!(log.positions[&3], 0);
    }
}
