//! KIP-951: a Produce (v10+) or Fetch (v16+) partition answered
//! NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH names the current leader
//! and its epoch, and the response lists those leaders' endpoints, so a
//! client redirects at once instead of refreshing its metadata first. Older
//! versions drop these tagged fields when encoding.

use std::collections::BTreeSet;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response;
use kafka_protocol::messages::{BrokerId, FetchResponse, ProduceResponse, fetch_response};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::util::str_bytes;
use crate::metadata::{BrokerImage, MetadataImage};

fn wants_hint(code: i16) -> bool {
    code == ResponseError::NotLeaderOrFollower.code()
        || code == ResponseError::FencedLeaderEpoch.code()
}

/// The partition's leader and leader epoch, if it has a live leader.
fn leader_of(image: &MetadataImage, topic: &str, id: Uuid, partition: i32) -> Option<(i32, i32)> {
    let topic = match topic.is_empty() {
        true => image.topic_by_id(&id)?,
        false => image.topic(topic)?,
    };
    let p = topic.partitions.get(partition as usize)?;
    (p.leader >= 0).then_some((p.leader, p.leader_epoch))
}

/// The endpoints of `leaders`, built by `endpoint` (each response version
/// of the protocol has its own NodeEndpoint type).
fn endpoints<T>(
    image: &MetadataImage,
    leaders: &BTreeSet<i32>,
    endpoint: impl Fn(BrokerId, StrBytes, i32, Option<StrBytes>) -> T,
) -> Vec<T> {
    leaders
        .iter()
        .filter_map(|id| image.brokers.get(id))
        .map(|b: &BrokerImage| {
            endpoint(
                BrokerId(b.node_id),
                str_bytes(b.host.clone()),
                b.port,
                b.rack.clone().map(str_bytes),
            )
        })
        .collect()
}

pub(crate) fn add_to_produce(image: &MetadataImage, response: &mut ProduceResponse) {
    let mut leaders = BTreeSet::new();
    for topic in &mut response.responses {
        for p in &mut topic.partition_responses {
            if !wants_hint(p.error_code) {
                continue;
            }
            if let Some((leader, epoch)) = leader_of(image, &topic.name.0, topic.topic_id, p.index)
            {
                p.current_leader = produce_response::LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(leader))
                    .with_leader_epoch(epoch);
                leaders.insert(leader);
            }
        }
    }
    response.node_endpoints = endpoints(image, &leaders, |id, host, port, rack| {
        produce_response::NodeEndpoint::default()
            .with_node_id(id)
            .with_host(host)
            .with_port(port)
            .with_rack(rack)
    });
}

pub(crate) fn add_to_fetch(image: &MetadataImage, response: &mut FetchResponse) {
    let mut leaders = BTreeSet::new();
    for topic in &mut response.responses {
        for p in &mut topic.partitions {
            if !wants_hint(p.error_code) {
                continue;
            }
            let found = leader_of(image, &topic.topic.0, topic.topic_id, p.partition_index);
            if let Some((leader, epoch)) = found {
                p.current_leader = fetch_response::LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(leader))
                    .with_leader_epoch(epoch);
                leaders.insert(leader);
            }
        }
    }
    response.node_endpoints = endpoints(image, &leaders, |id, host, port, rack| {
        fetch_response::NodeEndpoint::default()
            .with_node_id(id)
            .with_host(host)
            .with_port(port)
            .with_rack(rack)
    });
}
