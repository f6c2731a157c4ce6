//! Durability of a partition log: the group commit acks=all waits on (its
//! fsyncs run on the log flusher's threads, see [`super::flusher`]) and the
//! periodic flushes of `flush.messages` / `flush.ms`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::PartitionLog;
use crate::log::io_metrics::{FsyncCause, log_io_metrics};
use crate::log::{LogError, flusher, producer_snapshot};

/// A log's group commit: whether an fsync is wanted and queued, and who
/// waits for it.
#[derive(Debug, Default)]
pub(super) struct GroupCommit {
    /// A waiter wants an fsync that has not started yet.
    requested: AtomicBool,
    /// The log is in the flusher's queue or being fsynced there.
    queued: AtomicBool,
    /// The log end offset the running fsync covers (0 when none runs): a
    /// waiter it covers asks for no further fsync, which would only repeat
    /// it.
    syncing_to: AtomicI64,
    /// Woken after every group commit fsync, done or failed.
    flushed: Notify,
    /// Why the last failed fsync failed.
    failed: Mutex<Option<(std::io::ErrorKind, String)>>,
    /// Offsets below this one failed to sync; waiters for them get the error
    /// unless a later fsync succeeded.
    failed_through: AtomicI64,
}

impl GroupCommit {
    /// A future that resolves after the next group commit fsync of this log
    /// (tests watch the flusher with it).
    #[cfg(test)]
    pub(super) fn flushed_notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.flushed.notified()
    }

    /// Wants an fsync of `log` that starts from now on, queueing the log
    /// unless it is queued already.
    fn request(&self, log: &Arc<PartitionLog>) {
        self.requested.store(true, Ordering::Release);
        if !self.queued.swap(true, Ordering::AcqRel) {
            flusher::enqueue(log.clone());
        }
    }
}

impl PartitionLog {
    /// Asks the flusher for an fsync covering everything below `offset`,
    /// without waiting for it. Called right after an acks=all append: a
    /// connection's replies are awaited one after the other, so a group
    /// commit started only when its reply is awaited would give a producer's
    /// pipelined requests one fsync each, in a row.
    pub fn request_flush(self: &Arc<Self>, offset: i64) {
        if self.flushed_offset.load(Ordering::Acquire) < offset {
            self.group_commit.request(self);
        }
    }

    /// Resolves once everything below `offset` is on disk. Concurrent callers
    /// share fsyncs: the flusher's next fsync of this log covers everything
    /// appended before it started.
    pub async fn flush_to(self: &Arc<Self>, offset: i64) -> Result<(), LogError> {
        let commit = &self.group_commit;
        loop {
            let flushed = commit.flushed.notified();
            tokio::pin!(flushed);
            flushed.as_mut().enable();
            if self.flushed_offset.load(Ordering::Acquire) >= offset.min(self.log_end_offset()) {
                return Ok(());
            }
            if commit.failed_through.load(Ordering::Acquire) >= offset
                && let Some((kind, message)) = commit.failed.lock().clone()
            {
                return Err(LogError::io(format!("fsync {}", self.dir.display()))(
                    std::io::Error::new(kind, message),
                ));
            }
            if commit.syncing_to.load(Ordering::SeqCst) < offset {
                commit.request(self);
            }
            flushed.await;
        }
    }

    /// One group commit fsync, on a flusher thread: covers the log end as it
    /// is now, then wakes the waiters. Returns whether the log must be
    /// queued again (a waiter came while the fsync ran).
    pub(in crate::log) fn group_commit_fsync(&self) -> bool {
        let commit = &self.group_commit;
        if commit.requested.swap(false, Ordering::AcqRel) {
            let (file, target, truncations) = {
                let mut state = self.state.write();
                state.unflushed_records = 0;
                state.unflushed_since_ms = None;
                let truncations = self.truncations.load(Ordering::Acquire);
                let target = self.log_end_offset();
                commit.syncing_to.store(target, Ordering::SeqCst);
                (state.active().file(), target, truncations)
            };
            #[cfg(feature = "test-hooks")]
            crate::log::test_hooks::before_fsync(&self.dir);
            let started = Instant::now();
            let synced = file.sync_data();
            log_io_metrics().fsync_done(FsyncCause::GroupCommit, started);
            match synced {
                Ok(()) => {
                    let _state = self.state.read();
                    // A truncation that raced the fsync may have re-appended
                    // unsynced offsets below the target: the waiters retry.
                    if self.truncations.load(Ordering::Acquire) == truncations {
                        self.flushed_offset.fetch_max(target, Ordering::AcqRel);
                    }
                }
                Err(error) => {
                    tracing::error!(dir = %self.dir.display(), %error, "group commit fsync failed");
                    *commit.failed.lock() = Some((error.kind(), error.to_string()));
                    commit.failed_through.fetch_max(target, Ordering::AcqRel);
                }
            }
            // Cleared before the wake-up: a waiter the fsync did not cover
            // (a truncation raced it) then asks for another.
            commit.syncing_to.store(0, Ordering::SeqCst);
            commit.flushed.notify_waiters();
        }
        commit.queued.store(false, Ordering::Release);
        commit.requested.load(Ordering::Acquire) && !commit.queued.swap(true, Ordering::AcqRel)
    }

    /// Fsyncs when `flush.messages` or `flush.ms` asks for it (called
    /// periodically, off the request path).
    pub fn flush_if_due(&self, now_ms: i64) -> Result<(), LogError> {
        let due = {
            let state = self.state.read();
            let by_count = state.unflushed_records >= state.config.flush_messages;
            let by_time = state
                .unflushed_since_ms
                .is_some_and(|since| now_ms.saturating_sub(since) >= state.config.flush_ms);
            by_count || by_time
        };
        if due { self.flush_all() } else { Ok(()) }
    }

    /// Fsyncs the active segment and its indexes now (shutdown, periodic flush).
    pub fn flush_all(&self) -> Result<(), LogError> {
        let mut state = self.state.write();
        let target = self.log_end_offset();
        let started = Instant::now();
        state.active_mut().sync()?;
        log_io_metrics().fsync_done(FsyncCause::Periodic, started);
        producer_snapshot::write(&self.dir, target, &state.producers)?;
        state.unflushed_records = 0;
        state.unflushed_since_ms = None;
        self.flushed_offset.fetch_max(target, Ordering::AcqRel);
        Ok(())
    }
}
