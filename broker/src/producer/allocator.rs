//! Producer ids for InitProducerId, handed out from blocks reserved in the
//! metadata log, so ids are never reused across restarts and a metadata
//! write is needed only once per block.

use parking_lot::Mutex;

use crate::metadata::{MetadataError, MetadataRecord, MetadataStore};

/// Ids reserved per metadata record.
const BLOCK_SIZE: i64 = 1000;

#[derive(Debug, Default)]
pub struct ProducerIdAllocator {
    /// Next id to hand out and the end (exclusive) of the reserved block.
    range: Mutex<(i64, i64)>,
}

impl ProducerIdAllocator {
    /// A fresh producer id.
    pub fn next(&self, metadata: &MetadataStore) -> Result<i64, MetadataError> {
        let mut range = self.range.lock();
        if range.0 >= range.1 {
            let (_, start) = metadata.update(|image| {
                let start = image.next_producer_id;
                let record = MetadataRecord::ProducerIds {
                    next_producer_id: start + BLOCK_SIZE,
                };
                Ok::<_, MetadataError>((vec![record], start))
            })?;
            *range = (start, start + BLOCK_SIZE);
        }
        let id = range.0;
        range.0 += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataStore::open(dir.path()).unwrap();
        let allocator = ProducerIdAllocator::default();
        let a = allocator.next(&store).unwrap();
        let b = allocator.next(&store).unwrap();
        assert_eq!(b, a + 1);
        drop(store);
        let store = MetadataStore::open(dir.path()).unwrap();
        let c = ProducerIdAllocator::default().next(&store).unwrap();
        assert!(c > b, "a restarted broker starts from a new block");
    }
}
