//! The single-node metadata log: a local append-only file of records, each
//! framed as `length: u32 | crc32c: u32 | JSON`. Appends are fsynced before
//! they are applied, so an acknowledged admin operation survives a crash. A
//! torn tail (crash mid-append) is truncated on open. A Raft log replaces this
//! file when brokers form a cluster; the records stay the same.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::records::MetadataRecord;

const FRAME_HEADER: usize = 8;

/// Local, durable, append-only metadata log.
#[derive(Debug)]
pub(super) struct MetadataLog {
    file: File,
    path: PathBuf,
}

impl MetadataLog {
    /// Opens (creating if needed) the log at `path` and returns every intact
    /// record in it. A torn or corrupt tail is cut off.
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
        while bytes.len() - pos >= FRAME_HEADER {
            let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_be_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes"));
            let start = pos + FRAME_HEADER;
            let Some(payload) = bytes.get(start..start + len) else {
                break;
            };
            if crc32c::crc32c(payload) != crc {
                break;
            }
            match serde_json::from_slice(payload) {
                Ok(record) => records.push(record),
                Err(_) => break,
            }
            pos = start + len;
        }
        if pos < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                valid_bytes = pos,
                file_bytes = bytes.len(),
                "truncating torn tail of the metadata log"
            );
            file.set_len(pos as u64)?;
            file.sync_data()?;
        }
        file.seek(SeekFrom::End(0))?;
        Ok((
            Self {
                file,
                path: path.to_owned(),
            },
            records,
        ))
    }

    /// Appends records and fsyncs them; all of them or (after a crash) none
    /// is recovered as a whole frame each.
    pub(super) fn append(&mut self, records: &[MetadataRecord]) -> io::Result<()> {
        let mut buf = Vec::new();
        for record in records {
            let payload = serde_json::to_vec(record).map_err(io::Error::other)?;
            buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            buf.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
            buf.extend_from_slice(&payload);
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn records_survive_reopen_and_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.log");
        let (mut log, records) = MetadataLog::open(&path).unwrap();
        assert!(records.is_empty());
        let record = MetadataRecord::Topic {
            name: "t".into(),
            id: Uuid::new_v4(),
        };
        log.append(std::slice::from_ref(&record)).unwrap();
        drop(log);
        // A crash in the middle of the next append.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0, 0, 0, 50, 1, 2]).unwrap();
        drop(f);
        let (_, records) = MetadataLog::open(&path).unwrap();
        assert_eq!(records, vec![record]);
        let (_, again) = MetadataLog::open(&path).unwrap();
        assert_eq!(again.len(), 1);
    }
}
