//! Karst operator: runs `KafkaCluster` and `KafkaTopic` resources.
//!
//! Each controller is a pipeline of modules (see `cluster/` and `topic/`):
//! dereference (reads) -> validate (pure) -> build (pure) -> apply
//! (server-side apply, ConfigMap before StatefulSet) -> status conditions.

pub mod cluster;
pub mod context;
pub mod crd;
pub mod events;
pub mod leader;
pub mod metrics;
pub mod rack;
pub mod topic;
