//! The controller's decisions, KRaft-style: admin operations are checked
//! against the current metadata image and turned into metadata records.
//! These functions are pure (image in, records out), so they are unit tested
//! without a broker, and a Raft quorum leader can run them unchanged.
//! Writers reach them only through the [`ControllerChannel`].

mod balancer;
mod brokers;
mod channel;
mod command;
mod configs;
mod election;
mod liveness;
mod partition_change;
mod placement;
mod reassignment;
mod topics;
mod wire;

pub use balancer::run_leader_balancing;
pub use brokers::Registration;
pub use channel::ControllerChannel;
pub use command::{Command, CommandOutcome, decide};
pub use election::{ElectionOutcome, ElectionType, TopicPartition};
pub use partition_change::AlterPartition;
pub use reassignment::Reassignment;

pub use configs::{ConfigChange, ConfigOp, alter_config_records};
pub use topics::{
    NewTopic, TopicError, create_partition_records, create_topic_records, delete_topic_records,
};
