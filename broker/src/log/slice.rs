//! A run of whole record batches in a segment file, Kafka's `FileRecords`
//! slice: fetch hands it to the connection, which sends it from the page
//! cache to the socket (`sendfile`) without copying it through the broker.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;

/// `len` bytes of a segment file from `position`, ending at a batch boundary.
/// The file handle keeps the bytes readable after retention or compaction
/// replaces the segment (its inode lives until the last handle closes).
#[derive(Debug, Clone)]
pub struct FileSlice {
    file: Arc<File>,
    position: u64,
    len: usize,
}

impl FileSlice {
    pub(crate) fn new(file: Arc<File>, position: u64, len: usize) -> Self {
        Self {
            file,
            position,
            len,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn position(&self) -> u64 {
        self.position
    }

    /// Copies the bytes into memory (for readers that decode them).
    pub fn read(&self) -> std::io::Result<Bytes> {
        let mut buf = vec![0u8; self.len];
        self.read_into(&mut buf)?;
        Ok(Bytes::from(buf))
    }

    /// Copies the bytes into `buf`, which must be exactly `len` bytes.
    pub fn read_into(&self, buf: &mut [u8]) -> std::io::Result<()> {
        debug_assert_eq!(buf.len(), self.len);
        self.file.read_exact_at(buf, self.position)
    }
}
