//! A small async Kafka client built on `kafka-protocol`.
//!
//! Two layers, so that both the operator and broker integration tests can use it:
//!
//! - [`Connection`]: one TCP connection that negotiates API versions with
//!   ApiVersions on connect and sends any [`kafka_protocol::protocol::Request`]
//!   with correlation ids and the request/response header versions Kafka
//!   prescribes for each API version. Tests use it to issue raw requests.
//! - [`AdminClient`]: typed helpers for the admin APIs the operator needs
//!   (Metadata, DescribeCluster, CreateTopics, CreatePartitions, DeleteTopics,
//!   DescribeConfigs, IncrementalAlterConfigs). Per-resource Kafka errors come
//!   back as [`Error::Kafka`] carrying the error code and the broker's message.

mod admin;
mod connection;
mod error;
mod frame;
mod versions;

pub use admin::{
    AdminClient, AlterConfigOp, BrokerMetadata, ClusterDescription, ClusterMetadata, ConfigEntry,
    ConfigSource, CreatedTopic, ElectionType, NewTopic, OngoingReassignment, PartitionMetadata,
    PartitionOutcome, TopicMetadata, TopicPartition,
};
pub use connection::Connection;
pub use error::{Error, KafkaError, Result};
pub use kafka_protocol;
pub use kafka_protocol::ResponseError;
pub use versions::{ApiVersionRange, NegotiatedVersions};
