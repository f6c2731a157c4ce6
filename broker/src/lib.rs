//! Karst broker: a Kafka-compatible broker.
//!
//! Data flows one way: socket -> frame ([`connection`]) -> decoded request ->
//! [`handler`] -> partition log ([`log`]) via the [`replica`] manager, or
//! cluster metadata ([`metadata`], changed through [`controller`]
//! decisions) -> encoded response -> socket. Cluster metadata lives as
//! records in a metadata log applied to an in-memory image, the way KRaft
//! does, so that one node and a cluster share one code path.

mod alloc_count;
mod broker;
mod clock;
pub mod config;
mod connection;
pub mod controller;
#[doc(hidden)]
pub mod doc_section;
mod frame;
pub mod group;
pub(crate) mod handler;
pub mod http;
mod lifecycle;
mod limits;
pub mod log;
pub mod metadata;
pub mod metrics;
mod node;
pub mod producer;
pub mod raft;
pub mod replica;
mod server;
mod storage_health;
mod storage_meta;

pub use broker::Broker;
pub use node::{Node, StartError};
