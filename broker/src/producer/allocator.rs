//! Producer ids for InitProducerId, handed out from blocks reserved through
//! the controller, so ids are never reused across restarts (nor, once
//! brokers form a cluster, across brokers) and a metadata write is needed
//! only once per block.

use crate::controller::{ControllerChannel, TopicError};

/// Ids reserved per metadata record.
const BLOCK_SIZE: i64 = 1000;

#[derive(Debug, Default)]
pub struct ProducerIdAllocator {
    /// Next id to hand out and the end (exclusive) of the reserved block.
    range: tokio::sync::Mutex<(i64, i64)>,
}

impl ProducerIdAllocator {
    /// A fresh producer id.
    pub async fn next(&self, controller: &ControllerChannel) -> Result<i64, TopicError> {
        let mut range = self.range.lock().await;
        if range.0 >= range.1 {
            let first = controller.allocate_producer_ids(BLOCK_SIZE).await?;
            *range = (first, first + BLOCK_SIZE);
        }
        let id = range.0;
        range.0 += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::BrokerConfig;
    use crate::metadata::MetadataStore;

    fn channel(store: MetadataStore) -> ControllerChannel {
        ControllerChannel::new(Arc::new(store), Arc::new(BrokerConfig::default()))
    }

    #[tokio::test]
    async fn ids_are_unique_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let controller = channel(MetadataStore::open(dir.path()).unwrap());
        let allocator = ProducerIdAllocator::default();
        let a = allocator.next(&controller).await.unwrap();
        let b = allocator.next(&controller).await.unwrap();
        assert_eq!(b, a + 1);
        drop(controller);
        let controller = channel(MetadataStore::open(dir.path()).unwrap());
        let c = ProducerIdAllocator::default()
            .next(&controller)
            .await
            .unwrap();
        assert!(c > b, "a restarted broker starts from a new block");
    }
}
