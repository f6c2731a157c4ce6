//! The group coordinator over the wire: rebalances, offsets that survive a
//! restart, and bad input answered with Kafka's error codes.

mod common;

use bytes::Bytes;
use common::{RawClient, start_broker};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const FAST: &[(&str, &str)] = &[("group.initial.rebalance.delay.ms", "0")];

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn join_request(group: &str, member: &str, protocols: &[&str]) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(
            protocols
                .iter()
                .map(|p| {
                    JoinGroupRequestProtocol::default()
                        .with_name(s(p))
                        .with_metadata(Bytes::from_static(b"meta"))
                })
                .collect(),
        )
}

/// Joins as a new member (v5: MEMBER_ID_REQUIRED first, then the real join).
async fn join(client: &mut RawClient, group: &str) -> JoinGroupResponse {
    let first = client.send(&join_request(group, "", &["range"]), 5).await;
    assert_eq!(first.error_code, ResponseError::MemberIdRequired.code());
    client
        .send(&join_request(group, &first.member_id, &["range"]), 5)
        .await
}

fn commit_request(
    group: &str,
    generation: i32,
    member: &str,
    offset: i64,
    metadata: &str,
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("events")))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset)
                        .with_committed_metadata(Some(s(metadata))),
                ]),
        ])
}

async fn committed(client: &mut RawClient, group: &str) -> i64 {
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(TopicName(s("events")))
                .with_partition_indexes(vec![0]),
        ]));
    client.send(&request, 5).await.topics[0].partitions[0].committed_offset
}

#[tokio::test]
async fn a_member_joins_syncs_commits_and_its_offsets_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), FAST).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    let find = client
        .send(
            &FindCoordinatorRequest::default()
                .with_key(s("g1"))
                .with_key_type(0),
            3,
        )
        .await;
    assert_eq!(find.error_code, 0);
    assert_eq!(find.port, i32::from(broker.kafka_addr().port()));

    let joined = join(&mut client, "g1").await;
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.leader, joined.member_id, "the only member leads");
    assert_eq!(joined.members.len(), 1);
    assert_eq!(
        joined
            .protocol_name
            .as_ref()
            .map(|p| p.to_string())
            .as_deref(),
        Some("range")
    );
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(s("g1")))
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone())
        .with_assignments(vec![
            SyncGroupRequestAssignment::default()
                .with_member_id(joined.member_id.clone())
                .with_assignment(Bytes::from_static(b"all of it")),
        ]);
    let synced = client.send(&sync, 3).await;
    assert_eq!(synced.error_code, 0);
    assert_eq!(&synced.assignment[..], b"all of it");
    let heartbeat = HeartbeatRequest::default()
        .with_group_id(GroupId(s("g1")))
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone());
    assert_eq!(client.send(&heartbeat, 3).await.error_code, 0);

    let member = joined.member_id.to_string();
    let commit = client
        .send(
            &commit_request("g1", joined.generation_id, &member, 42, ""),
            7,
        )
        .await;
    assert_eq!(commit.topics[0].partitions[0].error_code, 0);
    assert_eq!(committed(&mut client, "g1").await, 42);
    assert_eq!(committed(&mut client, "never-committed").await, -1);

    broker.shutdown().await;
    let broker = start_broker(dir.path(), FAST).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    assert_eq!(
        committed(&mut client, "g1").await,
        42,
        "offsets survive a restart"
    );
    // The group's members were recorded with it: the member keeps its
    // session without rejoining, and the restarted group is stable.
    assert_eq!(client.send(&heartbeat, 3).await.error_code, 0);
    let described = client
        .send(
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g1"))]),
            5,
        )
        .await;
    assert_eq!(described.groups[0].group_state.as_str(), "Stable");
    assert_eq!(described.groups[0].members[0].member_id, joined.member_id);
    assert_eq!(
        &described.groups[0].members[0].member_assignment[..],
        b"all of it"
    );
    let groups = client.send(&ListGroupsRequest::default(), 4).await;
    assert!(groups.groups.iter().any(|g| g.group_id.0.as_str() == "g1"));
    broker.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_kafka_error_codes_and_other_groups_are_unaffected() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), FAST).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    let healthy = join(&mut client, "healthy").await;
    assert_eq!(healthy.error_code, 0);

    let empty = client.send(&join_request("bad", "", &[]), 5).await;
    assert_eq!(
        empty.error_code,
        ResponseError::InconsistentGroupProtocol.code()
    );
    let no_id = client.send(&join_request("", "", &["range"]), 5).await;
    assert_eq!(no_id.error_code, ResponseError::InvalidGroupId.code());
    let short = client
        .send(
            &join_request("bad", "", &["range"]).with_session_timeout_ms(10),
            5,
        )
        .await;
    assert_eq!(
        short.error_code,
        ResponseError::InvalidSessionTimeout.code()
    );

    let member = healthy.member_id.to_string();
    let wrong_generation = client
        .send(
            &commit_request("healthy", healthy.generation_id + 7, &member, 1, ""),
            7,
        )
        .await;
    assert_eq!(
        wrong_generation.topics[0].partitions[0].error_code,
        ResponseError::IllegalGeneration.code()
    );
    let stranger = client
        .send(&commit_request("healthy", 1, "nobody", 1, ""), 7)
        .await;
    assert_eq!(
        stranger.topics[0].partitions[0].error_code,
        ResponseError::UnknownMemberId.code()
    );
    let huge = "m".repeat(20_000);
    let too_large = client
        .send(&commit_request("solo", -1, "", 5, &huge), 7)
        .await;
    assert_eq!(
        too_large.topics[0].partitions[0].error_code,
        ResponseError::OffsetMetadataTooLarge.code()
    );

    // The healthy group goes on: it syncs and heartbeats normally.
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(s("healthy")))
        .with_generation_id(healthy.generation_id)
        .with_member_id(healthy.member_id.clone());
    assert_eq!(client.send(&sync, 3).await.error_code, 0);
    let heartbeat = HeartbeatRequest::default()
        .with_group_id(GroupId(s("healthy")))
        .with_generation_id(healthy.generation_id)
        .with_member_id(healthy.member_id.clone());
    assert_eq!(client.send(&heartbeat, 3).await.error_code, 0);
    let described = client
        .send(
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("healthy"))]),
            5,
        )
        .await;
    assert_eq!(described.groups[0].group_state.as_str(), "Stable");
    assert_eq!(described.groups[0].members.len(), 1);
    broker.shutdown().await;
}

#[tokio::test]
async fn a_second_member_triggers_a_rebalance_and_a_leaving_member_another() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), FAST).await;
    let mut first = RawClient::connect(broker.kafka_addr()).await;
    let mut second = RawClient::connect(broker.kafka_addr()).await;
    let a = join(&mut first, "pair").await;
    let sync_a = |generation, member: StrBytes| {
        SyncGroupRequest::default()
            .with_group_id(GroupId(s("pair")))
            .with_generation_id(generation)
            .with_member_id(member)
    };
    assert_eq!(
        first
            .send(&sync_a(a.generation_id, a.member_id.clone()), 3)
            .await
            .error_code,
        0
    );

    // The second member's join waits for the first to rejoin.
    let b_id = second
        .send(&join_request("pair", "", &["range"]), 5)
        .await
        .member_id;
    let b_join = tokio::spawn(async move {
        let response = second
            .send(&join_request("pair", &b_id, &["range"]), 5)
            .await;
        (second, response)
    });
    let heartbeat = HeartbeatRequest::default()
        .with_group_id(GroupId(s("pair")))
        .with_generation_id(a.generation_id)
        .with_member_id(a.member_id.clone());
    let mut told = false;
    for _ in 0..100 {
        if first.send(&heartbeat, 3).await.error_code == ResponseError::RebalanceInProgress.code() {
            told = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(told, "the first member hears of the rebalance");
    let a2 = first
        .send(&join_request("pair", &a.member_id, &["range"]), 5)
        .await;
    let (mut second, b) = b_join.await.unwrap();
    assert_eq!(a2.error_code, 0);
    assert_eq!(b.error_code, 0);
    assert_eq!(a2.generation_id, a.generation_id + 1);
    assert_eq!(a2.leader, a.member_id, "the leader stays");
    assert_eq!(a2.members.len(), 2);

    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(s("pair")))
        .with_members(vec![
            leave_group_request::MemberIdentity::default().with_member_id(b.member_id.clone()),
        ]);
    let left = second.send(&leave, 4).await;
    assert_eq!(left.members[0].error_code, 0);
    let rejoined = first
        .send(&join_request("pair", &a.member_id, &["range"]), 5)
        .await;
    assert_eq!(rejoined.error_code, 0);
    assert_eq!(rejoined.members.len(), 1);
    broker.shutdown().await;
}

/// Every version of every group API is answered with a response that
/// decodes at that version (responses set only fields of that version).
#[tokio::test]
async fn every_version_of_every_group_api_is_answered() {
    use kafka_protocol::messages::leave_group_request::MemberIdentity;
    use kafka_protocol::messages::offset_delete_request::{
        OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
    };
    use kafka_protocol::messages::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopics,
    };
    use kafka_protocol::protocol::Message;

    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), FAST).await;
    let mut client = RawClient::connect(broker.kafka_addr()).await;
    let clamp =
        |v: i16, range: kafka_protocol::protocol::VersionRange| v.clamp(range.min, range.max);

    for v in 0..=9i16 {
        let group = format!("versions-{v}");

        let fv = clamp(v, FindCoordinatorRequest::VERSIONS);
        let mut find = FindCoordinatorRequest::default();
        if fv >= 4 {
            find.coordinator_keys = vec![s(&group), s("other")];
        } else {
            find.key = s(&group);
        }
        if fv >= 1 {
            find.key_type = if v % 2 == 0 { 0 } else { 1 };
        }
        let found = client.send(&find, fv).await;
        if fv >= 4 {
            assert_eq!(found.coordinators.len(), 2, "FindCoordinator v{fv}");
            assert!(found.coordinators.iter().all(|c| c.error_code == 0));
        } else {
            assert_eq!(found.error_code, 0, "FindCoordinator v{fv}");
        }

        let jv = clamp(v, JoinGroupRequest::VERSIONS);
        let mut request = join_request(&group, "", &["range", "roundrobin"]);
        if jv == 0 {
            request.rebalance_timeout_ms = -1;
        }
        let mut joined = client.send(&request, jv).await;
        if jv >= 4 {
            assert_eq!(joined.error_code, ResponseError::MemberIdRequired.code());
            request.member_id = joined.member_id.clone();
            joined = client.send(&request, jv).await;
        }
        assert_eq!(joined.error_code, 0, "JoinGroup v{jv}");
        assert_eq!(joined.generation_id, 1);
        assert_eq!(joined.leader, joined.member_id);
        let member = joined.member_id.clone();

        let sv = clamp(v, SyncGroupRequest::VERSIONS);
        let mut sync = SyncGroupRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_generation_id(1)
            .with_member_id(member.clone())
            .with_assignments(vec![
                SyncGroupRequestAssignment::default()
                    .with_member_id(member.clone())
                    .with_assignment(Bytes::from_static(b"a")),
            ]);
        if sv >= 5 {
            sync.protocol_type = Some(s("consumer"));
            sync.protocol_name = Some(s("range"));
        }
        let synced = client.send(&sync, sv).await;
        assert_eq!(synced.error_code, 0, "SyncGroup v{sv}");
        assert_eq!(&synced.assignment[..], b"a");

        let hv = clamp(v, HeartbeatRequest::VERSIONS);
        let beat = HeartbeatRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_generation_id(1)
            .with_member_id(member.clone());
        assert_eq!(
            client.send(&beat, hv).await.error_code,
            0,
            "Heartbeat v{hv}"
        );
        let stale = beat.clone().with_generation_id(7);
        assert_eq!(
            client.send(&stale, hv).await.error_code,
            ResponseError::IllegalGeneration.code()
        );

        let cv = clamp(v, OffsetCommitRequest::VERSIONS);
        let mut commit = commit_request(&group, 1, &member, 10 + i64::from(v), "m");
        if cv >= 6 {
            commit.topics[0].partitions[0].committed_leader_epoch = 0;
        }
        let committed_v = client.send(&commit, cv).await;
        assert_eq!(
            committed_v.topics[0].partitions[0].error_code, 0,
            "OffsetCommit v{cv}"
        );

        let ov = clamp(v, OffsetFetchRequest::VERSIONS);
        let offset = if ov >= 8 {
            let request = OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s(&group)))
                    .with_topics(Some(vec![
                        OffsetFetchRequestTopics::default()
                            .with_name(TopicName(s("events")))
                            .with_partition_indexes(vec![0, 1]),
                    ])),
            ]);
            let fetched = client.send(&request, ov).await;
            assert_eq!(fetched.groups[0].error_code, 0);
            let parts = &fetched.groups[0].topics[0].partitions;
            assert_eq!(parts[1].committed_offset, -1);
            parts[0].committed_offset
        } else {
            let request = OffsetFetchRequest::default()
                .with_group_id(GroupId(s(&group)))
                .with_topics(Some(vec![
                    OffsetFetchRequestTopic::default()
                        .with_name(TopicName(s("events")))
                        .with_partition_indexes(vec![0, 1]),
                ]));
            let fetched = client.send(&request, ov).await;
            assert_eq!(fetched.error_code, 0);
            assert_eq!(fetched.topics[0].partitions[1].committed_offset, -1);
            fetched.topics[0].partitions[0].committed_offset
        };
        assert_eq!(offset, 10 + i64::from(v), "OffsetFetch v{ov}");

        let dv = clamp(v, DescribeGroupsRequest::VERSIONS);
        let described = client
            .send(
                &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(&group))]),
                dv,
            )
            .await;
        assert_eq!(described.groups[0].error_code, 0, "DescribeGroups v{dv}");
        assert_eq!(described.groups[0].group_state.as_str(), "Stable");
        assert_eq!(described.groups[0].members.len(), 1);

        let lv = clamp(v, ListGroupsRequest::VERSIONS);
        let mut list = ListGroupsRequest::default();
        if lv >= 4 {
            list.states_filter = vec![s("Stable")];
        }
        let listed = client.send(&list, lv).await;
        assert_eq!(listed.error_code, 0, "ListGroups v{lv}");
        assert!(listed.groups.iter().any(|g| g.group_id.0.as_str() == group));

        let dlv = clamp(v, OffsetDeleteRequest::VERSIONS);
        let delete_offsets = OffsetDeleteRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_topics(vec![
                OffsetDeleteRequestTopic::default()
                    .with_name(TopicName(s("unsubscribed")))
                    .with_partitions(vec![
                        OffsetDeleteRequestPartition::default().with_partition_index(0),
                    ]),
            ]);
        assert_eq!(client.send(&delete_offsets, dlv).await.error_code, 0);

        let delete_groups =
            DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(&group))]);
        let gv = clamp(v, DeleteGroupsRequest::VERSIONS);
        assert_eq!(
            client.send(&delete_groups, gv).await.results[0].error_code,
            ResponseError::NonEmptyGroup.code()
        );

        let lgv = clamp(v, LeaveGroupRequest::VERSIONS);
        let mut leave = LeaveGroupRequest::default().with_group_id(GroupId(s(&group)));
        if lgv >= 3 {
            leave.members = vec![
                MemberIdentity::default().with_member_id(member.clone()),
                MemberIdentity::default().with_member_id(s("nobody")),
            ];
        } else {
            leave.member_id = member.clone();
        }
        let left = client.send(&leave, lgv).await;
        assert_eq!(left.error_code, 0, "LeaveGroup v{lgv}");
        if lgv >= 3 {
            assert_eq!(left.members.len(), 2);
            assert_eq!(left.members[0].error_code, 0);
            assert_eq!(
                left.members[1].error_code,
                ResponseError::UnknownMemberId.code()
            );
        }
        let deleted = client.send(&delete_groups, gv).await;
        assert_eq!(deleted.results[0].error_code, 0, "DeleteGroups v{gv}");
    }
    broker.shutdown().await;
}
