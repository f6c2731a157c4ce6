//! The metadata store: publishes the current [`MetadataImage`] to readers
//! (lock-free) and serializes writers, which compute records from the image
//! they see, persist them in the [`MetadataLog`], and publish the next image
//! with its delta to every [`MetadataListener`].

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::{Mutex, RwLock};

use super::image::MetadataImage;
use super::log::MetadataLog as FileLog;
use super::log_store::{MemoryLog, MetadataError, MetadataLog};
use super::records::MetadataRecord;

/// Something that follows metadata changes: the replica manager (become
/// leader / follower, open and delete logs), the group coordinator, metrics.
/// Called in log order, once per change, before the change is acknowledged
/// to whoever asked for it.
pub trait MetadataListener: Send + Sync {
    /// Readies what `next` needs before it is persisted (e.g. opens the logs
    /// of partitions it adds). An error refuses the change: nothing is
    /// written, and listeners already prepared are aborted.
    fn prepare(&self, _current: &MetadataImage, _next: &MetadataImage) -> Result<(), String> {
        Ok(())
    }

    /// The change `prepare` readied was not persisted: undo it.
    fn abort(&self, _current: &MetadataImage, _next: &MetadataImage) {}

    /// `image` already contains `delta`, the records just applied.
    fn publish(&self, image: &MetadataImage, delta: &[MetadataRecord]);
}

/// The log of a store that follows a quorum: every write goes through the
/// active controller, never to this store directly.
#[derive(Debug)]
struct QuorumFollower;

impl MetadataLog for QuorumFollower {
    fn append(&mut self, _records: &[MetadataRecord]) -> Result<(), MetadataError> {
        Err(MetadataError::NotPrepared {
            reason: "metadata is written through the controller quorum".into(),
        })
    }
}

/// Reads are a cheap `Arc` load; writes go through [`MetadataStore::update`].
pub struct MetadataStore {
    image: ArcSwap<MetadataImage>,
    /// In a quorum: the Raft log index of the image (0 before any).
    applied: tokio::sync::watch::Sender<u64>,
    log: Mutex<Box<dyn MetadataLog>>,
    listeners: RwLock<Vec<Arc<dyn MetadataListener>>>,
}

impl std::fmt::Debug for MetadataStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataStore")
            .field("offset", &self.image.load().offset)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl MetadataStore {
    /// Opens the single-node metadata log in `dir` and replays it into an image.
    pub fn open(dir: &Path) -> Result<Self, MetadataError> {
        let path = dir.join("metadata.log");
        let io = |source| MetadataError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let (log, records) = FileLog::open(&path).map_err(io)?;
        Ok(Self::with_log(Box::new(log), &records))
    }

    /// A store whose log lives in memory (tests).
    pub fn in_memory() -> Self {
        Self::with_log(Box::new(MemoryLog::default()), &[])
    }

    /// A store over `log`, whose existing `records` are replayed first.
    pub fn with_log(log: Box<dyn MetadataLog>, records: &[MetadataRecord]) -> Self {
        let mut image = MetadataImage::empty();
        for record in records {
            image.apply(record);
        }
        Self {
            image: ArcSwap::from_pointee(image),
            applied: tokio::sync::watch::Sender::new(0),
            log: Mutex::new(log),
            listeners: RwLock::new(Vec::new()),
        }
    }

    /// A store that follows a metadata quorum: its image comes only from
    /// [`Self::apply_committed`]; local writes are refused.
    pub fn following_quorum() -> Self {
        Self::with_log(Box::new(QuorumFollower), &[])
    }

    /// Installs an image the quorum committed and applied at `log_index`
    /// and publishes it, with the records that made it, to every listener.
    pub fn apply_committed(
        &self,
        log_index: u64,
        image: Arc<MetadataImage>,
        delta: &[MetadataRecord],
    ) {
        let _writer = self.log.lock();
        self.image.store(image.clone());
        for listener in self.listeners.read().iter() {
            listener.publish(&image, delta);
        }
        self.applied.send_replace(log_index);
    }

    /// Waits until the image holds the quorum's log entry `log_index`, or
    /// `timeout` passes; returns whether it does.
    pub async fn wait_applied(&self, log_index: u64, timeout: std::time::Duration) -> bool {
        let mut applied = self.applied.subscribe();
        tokio::time::timeout(timeout, applied.wait_for(|a| *a >= log_index))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The current image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.load_full()
    }

    /// Adds a listener and brings it up to date with the current image (as
    /// one delta of nothing: it reads what it needs from the image).
    pub fn subscribe(&self, listener: Arc<dyn MetadataListener>) {
        let _writer = self.log.lock();
        listener.publish(&self.image.load(), &[]);
        self.listeners.write().push(listener);
    }

    /// Runs `decide` on the current image while holding the writer lock, so
    /// two concurrent writers can never both create the same topic. The
    /// records it returns are persisted (fsynced), applied, and published to
    /// every listener; the new image is returned together with `decide`'s own
    /// output. Nothing is written when `decide` fails or returns no records.
    pub fn update<T, E>(
        &self,
        decide: impl FnOnce(&MetadataImage) -> Result<(Vec<MetadataRecord>, T), E>,
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
        // Listeners ready what the change needs (the logs of new partitions)
        // before it is written, so a change that is persisted has everything
        // in place, and one that is refused or fails to persist leaves no trace.
        let listeners = self.listeners.read();
        for (i, listener) in listeners.iter().enumerate() {
            if let Err(reason) = listener.prepare(&current, &next) {
                listeners[..i].iter().for_each(|l| l.abort(&current, &next));
                return Err(MetadataError::NotPrepared { reason }.into());
            }
        }
        if let Err(error) = log.append(&records) {
            listeners.iter().for_each(|l| l.abort(&current, &next));
            return Err(error.into());
        }
        let next = Arc::new(next);
        self.image.store(next.clone());
        for listener in listeners.iter() {
            listener.publish(&next, &records);
        }
        Ok((next, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(i64, usize)>>);

    impl MetadataListener for Recorder {
        fn publish(&self, image: &MetadataImage, delta: &[MetadataRecord]) {
            self.0.lock().push((image.offset, delta.len()));
        }
    }

    #[test]
    fn listeners_see_every_change_in_order_with_its_delta() {
        let store = MetadataStore::in_memory();
        let recorder = Arc::new(Recorder::default());
        store.subscribe(recorder.clone());
        for name in ["a", "b"] {
            store
                .update(|_| {
                    let record = MetadataRecord::Topic {
                        name: name.into(),
                        id: Uuid::new_v4(),
                    };
                    Ok::<_, MetadataError>((vec![record], ()))
                })
                .unwrap();
        }
        // A decision without records publishes nothing.
        store
            .update(|_| Ok::<_, MetadataError>((vec![], ())))
            .unwrap();
        let seen = recorder.0.lock().clone();
        assert_eq!(seen.iter().map(|(_, n)| *n).collect::<Vec<_>>(), [0, 1, 1]);
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
        assert_eq!(store.image().topics.len(), 2);
    }
}
