//! The `KafkaTopic` controller: dereference -> validate -> plan -> apply
//! through the Kafka admin protocol -> status.

pub mod dereference;
pub mod error;
pub mod plan;
pub mod reconcile;
pub mod replicas;
pub mod replication;
pub mod validate;

pub use error::TopicError;
pub use reconcile::controller;
