//! One partition replica: its log and its leader state.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::Notify;
use uuid::Uuid;

use crate::log::PartitionLog;

/// A partition this broker hosts.
#[derive(Debug)]
pub struct Partition {
    pub topic: Arc<str>,
    pub topic_id: Uuid,
    pub index: i32,
    pub log: Arc<PartitionLog>,
    pub leader_epoch: i32,
    /// Offset below which records are committed (replicated to the ISR) and
    /// visible to consumers. Invariant: log start <= high watermark <= log end.
    high_watermark: AtomicI64,
    /// Woken when the high watermark moves, for long-polling fetches.
    appended: Arc<Notify>,
}

impl Partition {
    pub(crate) fn new(
        topic: Arc<str>,
        topic_id: Uuid,
        index: i32,
        log: Arc<PartitionLog>,
        leader_epoch: i32,
        appended: Arc<Notify>,
    ) -> Self {
        let high_watermark = AtomicI64::new(log.log_end_offset());
        Self {
            topic,
            topic_id,
            index,
            log,
            leader_epoch,
            high_watermark,
            appended,
        }
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// Called after an append: on a single node the ISR is this broker alone,
    /// so everything appended is committed.
    pub(crate) fn advance_high_watermark(&self) {
        let leo = self.log.log_end_offset();
        self.high_watermark.fetch_max(leo, Ordering::AcqRel);
        self.appended.notify_waiters();
    }
}
