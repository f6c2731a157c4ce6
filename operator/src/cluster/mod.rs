//! The `KafkaCluster` controller: dereference -> validate -> build -> apply -> status.

pub mod build;
pub mod dereference;
pub mod reconcile;
pub mod status;
pub mod validate;

pub use reconcile::{ReconcileError, controller};
