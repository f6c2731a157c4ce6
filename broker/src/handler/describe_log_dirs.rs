//! DescribeLogDirs: partition sizes in this broker's data directory, and
//! (v4+) the size and free space of its volume.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};

use super::RequestContext;
use super::util::str_bytes;

pub(crate) fn handle(
    ctx: &RequestContext,
    request: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    let broker = &ctx.broker;
    let wanted = |topic: &str, partition: i32| match &request.topics {
        None => true,
        Some(list) => list
            .iter()
            .any(|t| t.topic.0.as_str() == topic && t.partitions.contains(&partition)),
    };
    let mut by_topic: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    for partition in broker.replicas.all() {
        if !wanted(&partition.topic, partition.index) {
            continue;
        }
        by_topic
            .entry(partition.topic.to_string())
            .or_default()
            .push(
                DescribeLogDirsPartition::default()
                    .with_partition_index(partition.index)
                    .with_partition_size(partition.size_bytes() as i64)
                    .with_offset_lag(0),
            );
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, mut partitions)| {
            partitions.sort_by_key(|p| p.partition_index);
            DescribeLogDirsTopic::default()
                .with_name(TopicName(str_bytes(name)))
                .with_partitions(partitions)
        })
        .collect();
    let dir = &broker.config.log_dirs[0];
    let mut result = DescribeLogDirsResult::default()
        .with_log_dir(str_bytes(dir.display().to_string()))
        .with_topics(topics);
    // v4+ (KIP-827) reports the volume's size and free space; -1 when unknown.
    if ctx.version >= 4
        && let Ok(stats) = rustix::fs::statvfs(dir)
    {
        let bytes =
            |blocks: u64| i64::try_from(blocks.saturating_mul(stats.f_frsize)).unwrap_or(i64::MAX);
        result = result
            .with_total_bytes(bytes(stats.f_blocks))
            .with_usable_bytes(bytes(stats.f_bavail));
    }
    DescribeLogDirsResponse::default().with_results(vec![result])
}
