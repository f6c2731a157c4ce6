//! AlterReplicaLogDirs: move replicas between this broker's log dirs.
//!
//! Karst keeps every partition in its first log dir, so the only move that
//! can be asked is to where the replica already is: that succeeds as a
//! no-op. As in Kafka, a dir that is not one of this broker's log dirs gets
//! LOG_DIR_NOT_FOUND and a partition this broker does not host gets
//! REPLICA_NOT_AVAILABLE. Moves between several log dirs (JBOD) come later.

use std::path::Path;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use kafka_protocol::messages::{AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse};

use super::RequestContext;

pub(crate) fn handle(
    ctx: &RequestContext,
    request: AlterReplicaLogDirsRequest,
) -> AlterReplicaLogDirsResponse {
    let broker = &ctx.broker;
    let home = &broker.config.log_dirs[0];
    let results = request
        .dirs
        .into_iter()
        .flat_map(|dir| {
            let known = same_dir(Path::new(dir.path.as_str()), home);
            dir.topics.into_iter().map(move |topic| (known, topic))
        })
        .map(|(known, topic)| {
            let partitions = topic
                .partitions
                .iter()
                .map(|&index| {
                    let error = if !known {
                        Some(ResponseError::LogDirNotFound)
                    } else if broker.replicas.get(topic.name.0.as_str(), index).is_none() {
                        Some(ResponseError::ReplicaNotAvailable)
                    } else {
                        None
                    };
                    AlterReplicaLogDirPartitionResult::default()
                        .with_partition_index(index)
                        .with_error_code(super::util::code(error))
                })
                .collect();
            AlterReplicaLogDirTopicResult::default()
                .with_topic_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    AlterReplicaLogDirsResponse::default().with_results(results)
}

/// Whether `asked` names the log dir `home` (Kafka compares absolute paths).
fn same_dir(asked: &Path, home: &Path) -> bool {
    asked == home
        || matches!(
            (asked.canonicalize(), home.canonicalize()),
            (Ok(a), Ok(b)) if a == b
        )
}
