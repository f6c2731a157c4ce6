//! The `KafkaCluster` controller: dereference -> validate -> build -> apply -> status.

pub mod broker_config;
pub mod build;
pub mod controller;
pub mod dereference;
pub mod dynamic_config;
pub mod membership;
pub mod node_id;
pub mod ownership;
pub mod quantity;
pub mod quorum;
pub mod reconcile;
pub mod rollout;
pub mod scale;
pub mod status;
pub mod storage;
pub mod validate;

pub use controller::controller;
pub use reconcile::ReconcileError;
