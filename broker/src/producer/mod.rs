//! Idempotent producers: per-partition producer state (the last batches of
//! each producer id, by sequence number), so that a retried batch is
//! acknowledged with its original offsets instead of being appended twice,
//! and a gap in sequences is refused. Producer ids come from
//! [`ProducerIdAllocator`], backed by blocks recorded in the metadata log.

mod allocator;
mod state;

pub use allocator::ProducerIdAllocator;
pub use state::{ActiveProducer, BatchVerdict, ProducerStateTable, SequenceError};
