//! Cluster metadata, KRaft-style: every change (topic created, partitions
//! added, config changed, producer-id block allocated...) is a
//! [`MetadataRecord`] appended to a metadata log and applied to an immutable
//! in-memory [`MetadataImage`]. On one node the log is a local file
//! ([`log::MetadataLog`]); a cluster will replicate the same records with Raft,
//! so handlers never depend on how many nodes there are.

mod image;
mod log;
mod log_store;
mod records;
mod store;

pub use image::{BrokerImage, MetadataImage, PartitionImage, TopicImage};
pub use log_store::{MemoryLog, MetadataError, MetadataLog};
pub use records::{ConfigResourceKey, MetadataRecord};
pub use store::{MetadataListener, MetadataStore};

/// Directory of the metadata log inside the data directory (Kafka's name).
pub const METADATA_DIR: &str = "__cluster_metadata-0";
