//! Group membership over the wire: static members that restart, sessions
//! that expire, and the coordinator's lookup, listing, fetching and
//! deleting APIs.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{RawClient, start_broker};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const FAST: &[(&str, &str)] = &[
    ("group.initial.rebalance.delay.ms", "0"),
    ("group.min.session.timeout.ms", "100"),
];

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn join_request(group: &str, member: &str, session_ms: i32) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_session_timeout_ms(session_ms)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"meta")),
        ])
}

fn sync_request(group: &str, generation: i32, member: &StrBytes) -> SyncGroupRequest {
    SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(member.clone())
}

fn heartbeat(group: &str, generation: i32, member: &StrBytes) -> HeartbeatRequest {
    HeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(member.clone())
}

#[tokio::test]
async fn a_restarted_static_member_keeps_its_assignment_and_fences_its_old_id() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), FAST).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    let static_join = join_request("statics", "", 10_000).with_group_instance_id(Some(s("inst-a")));

    // A static member is not asked for a member id first.
    let first = client.send(&static_join, 5).await;
    assert_eq!(first.error_code, 0);
    let sync =
        sync_request("statics", first.generation_id, &first.member_id).with_assignments(vec![
            SyncGroupRequestAssignment::default()
                .with_member_id(first.member_id.clone())
                .with_assignment(Bytes::from_static(b"partitions of a")),
        ]);
    assert_eq!(client.send(&sync, 3).await.error_code, 0);

    // The same instance comes back without its member id: it takes its own
    // place under a new id, in the same generation (no rebalance).
    let again = client.send(&static_join, 5).await;
    assert_eq!(again.error_code, 0);
    assert_ne!(again.member_id, first.member_id);
    assert_eq!(again.generation_id, first.generation_id);
    assert_eq!(again.leader, again.member_id, "it leads as before");
    let resynced = client
        .send(
            &sync_request("statics", again.generation_id, &again.member_id),
            3,
        )
        .await;
    assert_eq!(resynced.error_code, 0);
    assert_eq!(&resynced.assignment[..], b"partitions of a");

    let stale = client
        .send(
            &heartbeat("statics", first.generation_id, &first.member_id),
            3,
        )
        .await;
    assert_eq!(stale.error_code, ResponseError::FencedInstanceId.code());
    let current = client
        .send(
            &heartbeat("statics", again.generation_id, &again.member_id),
            3,
        )
        .await;
    assert_eq!(current.error_code, 0);
    let described = client
        .send(
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("statics"))]),
            5,
        )
        .await;
    let group = &described.groups[0];
    assert_eq!(group.group_state.as_str(), "Stable");
    assert_eq!(group.members.len(), 1);
    assert_eq!(
        group.members[0].group_instance_id.as_deref(),
        Some("inst-a")
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn an_expired_session_removes_the_member_and_the_rest_rebalance_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), FAST).await;
    let mut silent = RawClient::connect(broker.kafka_addr()).await;
    let mut alive = RawClient::connect(broker.kafka_addr()).await;

    // A member with a short session joins, syncs, then goes silent.
    let a = silent.send(&join_request("expiry", "", 300), 3).await;
    assert_eq!(a.error_code, 0);
    let synced = silent
        .send(&sync_request("expiry", a.generation_id, &a.member_id), 3)
        .await;
    assert_eq!(synced.error_code, 0);

    // A second member's join waits for the first to rejoin, which it never
    // does: its session expires long before the 10 s rebalance timeout.
    let started = Instant::now();
    let b = alive.send(&join_request("expiry", "", 10_000), 3).await;
    assert_eq!(b.error_code, 0);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "completed by session expiry, not by the rebalance timeout"
    );
    assert_eq!(b.generation_id, a.generation_id + 1);
    assert_eq!(b.leader, b.member_id);
    assert_eq!(b.members.len(), 1);

    let gone = silent
        .send(&heartbeat("expiry", a.generation_id, &a.member_id), 3)
        .await;
    assert_eq!(gone.error_code, ResponseError::UnknownMemberId.code());
    broker.shutdown().await;
}

fn commit(group: &str, offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(s(""))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("events")))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset),
                ]),
        ])
}

/// Committed offsets of partition 0 of `events` for each group (v8: several
/// groups in one request).
async fn fetch_many(client: &mut RawClient, groups: &[&str]) -> Vec<i64> {
    let request = OffsetFetchRequest::default().with_groups(
        groups
            .iter()
            .map(|g| {
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s(g)))
                    .with_topics(Some(vec![
                        OffsetFetchRequestTopics::default()
                            .with_name(TopicName(s("events")))
                            .with_partition_indexes(vec![0]),
                    ]))
            })
            .collect(),
    );
    let response = client.send(&request, 8).await;
    response
        .groups
        .iter()
        .map(|g| {
            assert_eq!(g.error_code, 0);
            g.topics[0].partitions[0].committed_offset
        })
        .collect()
}

async fn listed(client: &mut RawClient, state: &str) -> Vec<String> {
    let request = ListGroupsRequest::default().with_states_filter(vec![s(state)]);
    let mut ids: Vec<String> = client
        .send(&request, 4)
        .await
        .groups
        .iter()
        .map(|g| g.group_id.0.to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn groups_are_found_listed_fetched_together_and_deleted_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), FAST).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;

    let find = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![s("x"), s("y"), s("")]);
    let found = client.send(&find, 4).await;
    let codes: Vec<i16> = found.coordinators.iter().map(|c| c.error_code).collect();
    assert_eq!(codes, [0, 0, ResponseError::InvalidGroupId.code()]);
    assert_eq!(
        found.coordinators[0].port,
        i32::from(broker.kafka_addr().port())
    );
    let transactional = client
        .send(
            &FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_coordinator_keys(vec![s("tx")]),
            4,
        )
        .await;
    assert_eq!(transactional.coordinators[0].error_code, 0);

    for (group, offset) in [("x", 10), ("y", 20)] {
        let response = client.send(&commit(group, offset), 8).await;
        assert_eq!(response.topics[0].partitions[0].error_code, 0);
    }
    assert_eq!(
        fetch_many(&mut client, &["x", "y", "z"]).await,
        [10, 20, -1]
    );
    // A generation of a group that does not exist is stale, and creates nothing.
    let ghost = commit("ghost", 1)
        .with_generation_id_or_member_epoch(3)
        .with_member_id(s("m"));
    let ghost = client.send(&ghost, 8).await;
    assert_eq!(
        ghost.topics[0].partitions[0].error_code,
        ResponseError::IllegalGeneration.code()
    );
    assert_eq!(listed(&mut client, "Empty").await, ["x", "y"]);
    assert!(listed(&mut client, "Stable").await.is_empty());

    let delete =
        DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("x")), GroupId(s("nope"))]);
    let deleted = client.send(&delete, 2).await;
    let codes: Vec<i16> = deleted.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [0, ResponseError::GroupIdNotFound.code()]);
    assert_eq!(fetch_many(&mut client, &["x", "y"]).await, [-1, 20]);

    // The deletion is durable too: after a restart x stays gone.
    broker.shutdown().await;
    let broker = start_broker(dir.path(), FAST).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    assert_eq!(fetch_many(&mut client, &["x", "y"]).await, [-1, 20]);
    assert_eq!(listed(&mut client, "Empty").await, ["y"]);
    broker.shutdown().await;
}

fn offset_delete(group: &str, topics: &[&str]) -> OffsetDeleteRequest {
    use kafka_protocol::messages::offset_delete_request::{
        OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
    };
    OffsetDeleteRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(
            topics
                .iter()
                .map(|t| {
                    OffsetDeleteRequestTopic::default()
                        .with_name(TopicName(s(t)))
                        .with_partitions(vec![
                            OffsetDeleteRequestPartition::default().with_partition_index(0),
                        ])
                })
                .collect(),
        )
}

#[tokio::test]
async fn offsets_of_subscribed_topics_cannot_be_deleted_while_others_can() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), FAST).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    // A consumer subscribed to `events` (ConsumerProtocolSubscription v0).
    let mut subscription = vec![0, 0, 0, 0, 0, 1, 0, 6];
    subscription.extend_from_slice(b"events");
    subscription.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    let join = join_request("od", "", 10_000).with_protocols(vec![
        JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(Bytes::from(subscription)),
    ]);
    let member = client.send(&join, 3).await;
    assert_eq!(member.error_code, 0);
    let synced = client
        .send(
            &sync_request("od", member.generation_id, &member.member_id),
            3,
        )
        .await;
    assert_eq!(synced.error_code, 0);
    for topic in ["events", "other"] {
        let mut request = commit("od", 7)
            .with_generation_id_or_member_epoch(member.generation_id)
            .with_member_id(member.member_id.clone());
        request.topics[0].name = TopicName(s(topic));
        let response = client.send(&request, 8).await;
        assert_eq!(response.topics[0].partitions[0].error_code, 0);
    }

    let deleted = client
        .send(&offset_delete("od", &["events", "other"]), 0)
        .await;
    assert_eq!(deleted.error_code, 0);
    let codes: Vec<i16> = deleted
        .topics
        .iter()
        .map(|t| t.partitions[0].error_code)
        .collect();
    assert_eq!(codes, [ResponseError::GroupSubscribedToTopic.code(), 0]);
    assert_eq!(fetch_many(&mut client, &["od"]).await, [7], "events stays");
    let unknown = client.send(&offset_delete("nobody", &["events"]), 0).await;
    assert_eq!(unknown.error_code, ResponseError::GroupIdNotFound.code());
    broker.shutdown().await;
}

#[tokio::test]
async fn a_leader_that_never_syncs_is_removed_and_the_others_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), FAST).await;
    let mut leader = RawClient::connect(broker.kafka_addr()).await;
    let mut follower = RawClient::connect(broker.kafka_addr()).await;
    let quick = |member: &str| join_request("stuck", member, 10_000).with_rebalance_timeout_ms(300);

    let a = leader.send(&quick(""), 3).await;
    assert_eq!(
        leader
            .send(&sync_request("stuck", a.generation_id, &a.member_id), 3)
            .await
            .error_code,
        0
    );
    // The follower's join starts a rebalance; the leader rejoins, then
    // never sends SyncGroup.
    let b_join = tokio::spawn(async move {
        let b = follower.send(&quick(""), 3).await;
        (follower, b)
    });
    let mut rejoined = None;
    for _ in 0..100 {
        let beat = leader
            .send(&heartbeat("stuck", a.generation_id, &a.member_id), 3)
            .await;
        if beat.error_code == ResponseError::RebalanceInProgress.code() {
            rejoined = Some(leader.send(&quick(&a.member_id.to_string()), 3).await);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let a2 = rejoined.expect("the leader hears of the rebalance");
    let (mut follower, b) = b_join.await.unwrap();
    assert_eq!((a2.error_code, b.error_code), (0, 0));
    assert_eq!(a2.leader, a.member_id);

    let waited = follower
        .send(&sync_request("stuck", b.generation_id, &b.member_id), 3)
        .await;
    assert_eq!(
        waited.error_code,
        ResponseError::RebalanceInProgress.code(),
        "the sync is abandoned when the leader is removed"
    );
    let b2 = follower.send(&quick(&b.member_id.to_string()), 3).await;
    assert_eq!(b2.error_code, 0);
    assert_eq!(b2.leader, b.member_id, "the follower leads now");
    assert_eq!(b2.members.len(), 1);
    broker.shutdown().await;
}
