//! Partition replicas hosted by this broker, as leader or follower.
//!
//! [`Partition`] (partition.rs) is the only door to a partition's log; its
//! replication state (leadership from the metadata image, follower
//! progress, high watermark, ISR changes) is in leader.rs; followers fetch
//! from their leaders in fetcher.rs; the [`ReplicaManager`] keeps the hosted
//! set in step with the metadata image. On a single node the ISR is this
//! node and the high watermark follows the log end offset.

mod checkpoint;
mod fetcher;
mod leader;
mod manager;
mod metrics;
mod partition;
mod throttle;

pub use leader::{Leadership, ProduceError, Transition};
pub use manager::{ReplicaError, ReplicaManager};
pub use metrics::ReplicationMetrics;
pub use partition::{DeleteRecordsError, FetchRead, Partition, offset_spec};
