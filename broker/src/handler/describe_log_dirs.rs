//! DescribeLogDirs: partition sizes in this broker's data directory.

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
                    .with_partition_size(partition.log.size_bytes() as i64)
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
    let dir = broker.config.log_dirs[0].display().to_string();
    DescribeLogDirsResponse::default().with_results(vec![
        DescribeLogDirsResult::default()
            .with_log_dir(str_bytes(dir))
            .with_topics(topics),
    ])
}
