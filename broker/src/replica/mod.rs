//! Partition replicas hosted by this broker, with their leader state.
//!
//! Every partition has a leader state from day one (leader epoch, high
//! watermark, ISR); on a single node the ISR is this node and the high
//! watermark follows the log end offset. Replication will add follower fetch
//! state here without changing the handlers.

mod fetcher;
mod leader;
mod manager;
mod partition;
mod throttle;

pub use leader::{Leadership, ProduceError, Transition};
pub use manager::{ReplicaError, ReplicaManager};
pub use partition::{DeleteRecordsError, FetchRead, Partition, offset_spec};
