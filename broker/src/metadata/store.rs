//! The metadata store: publishes the current [`MetadataImage`] to readers
//! (lock-free) and serializes writers, which compute records from the image
//! they see, persist them, and publish the next image.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use super::image::MetadataImage;
use super::log::MetadataLog;
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
}

/// Reads are a cheap `Arc` load; writes go through [`MetadataStore::update`].
#[derive(Debug)]
pub struct MetadataStore {
    image: ArcSwap<MetadataImage>,
    log: Mutex<MetadataLog>,
}

impl MetadataStore {
    /// Opens the metadata log in `dir` and replays it into an image.
    pub fn open(dir: &Path) -> Result<Self, MetadataError> {
        let path = dir.join("metadata.log");
        let io = |source| MetadataError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let (log, records) = MetadataLog::open(&path).map_err(io)?;
        let mut image = MetadataImage::empty();
        for record in &records {
            image.apply(record);
        }
        Ok(Self {
            image: ArcSwap::from_pointee(image),
            log: Mutex::new(log),
        })
    }

    /// The current image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.load_full()
    }

    /// Runs `decide` on the current image while holding the writer lock, so
    /// two concurrent writers can never both create the same topic. The
    /// records it returns are persisted (fsynced) and applied; the new image
    /// is returned together with `decide`'s own output. Nothing is written
    /// when `decide` fails or returns no records.
    pub fn update<T, E>(
        &self,
        decide: impl FnOnce(&MetadataImage) -> Result<(Vec<MetadataRecord>, T), E>,
    ) -> Result<(Arc<MetadataImage>, T), E>
    where
        E: From<MetadataError>,
    {
        self.update_prepared(decide, |_, _| Ok(()), |()| {})
    }

    /// [`Self::update`] with a step between deciding and persisting:
    /// `prepare` sees the current and the next image and readies what the
    /// change needs (opens the logs of new partitions), still under the
    /// writer lock. When it fails nothing is written; when persisting fails,
    /// `undo` gets what `prepare` returned. So a change is either persisted
    /// with everything it needs in place, or leaves no trace.
    pub fn update_prepared<T, E, P>(
        &self,
        decide: impl FnOnce(&MetadataImage) -> Result<(Vec<MetadataRecord>, T), E>,
        prepare: impl FnOnce(&MetadataImage, &MetadataImage) -> Result<P, E>,
        undo: impl FnOnce(P),
    ) -> Result<(Arc<MetadataImage>, T), E>
    where
        E: From<MetadataError>,
    {
        let mut log = self.log.lock();
        let current = self.image.load_full();
        let (records, out) = decide(&current)?;
        if records.is_empty() {
            return Ok((current, out));
        }
        let mut next = (*current).clone();
        for record in &records {
            next.apply(record);
        }
        let prepared = prepare(&current, &next)?;
        if let Err(source) = log.append(&records) {
            undo(prepared);
            return Err(MetadataError::Io {
                path: log.path().display().to_string(),
                source,
            }
            .into());
        }
        let next = Arc::new(next);
        self.image.store(next.clone());
        Ok((next, out))
    }
}
