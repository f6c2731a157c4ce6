//! Karst broker: a Kafka-compatible broker.
//!
//! Data flows one way: socket -> frame ([`connection`]) -> decoded request ->
//! [`handler`] -> partition log ([`log`]) / coordinators -> encoded response ->
//! socket. Cluster metadata lives as records in a metadata log applied to an
//! in-memory image ([`metadata`]), the way KRaft does, so that one node and a
//! cluster share one code path.

pub mod log;
