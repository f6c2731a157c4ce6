//! Walks every API and version the broker serves through [`super::dispatch`]
//! with requests that reach both the success and the error paths, and fails
//! when a response carries `Some("")` in a nullable string field (Kafka sends
//! null there) or cannot be encoded at the version it answers.

use std::sync::Arc;

use bytes::BytesMut;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::{Reply, RequestContext, api_table, dispatch};
use crate::Node;
use crate::broker::Broker;
use crate::config::BrokerConfig;

/// Nullable fields where Kafka itself sends an empty string.
const EMPTY_IS_KAFKAS_ANSWER: &[&str] = &[
    // OffsetFetch: a committed offset without metadata has "" (Kafka's NO_METADATA).
    "metadata",
    // DescribeConfigs / CreateTopics: a config whose value is the empty string.
    "value",
];

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn topic(name: &str) -> TopicName {
    TopicName(s(name))
}

const TOPIC: &str = "probe";
const MISSING: &str = "no-such-topic";

/// Requests for `api` that reach its answers: one that succeeds where it can
/// and ones that fail (unknown topic, invalid input).
fn probes(api: ApiKey) -> Vec<RequestKind> {
    use RequestKind as R;
    match api {
        ApiKey::Produce => vec![R::Produce(ProduceRequest::default().with_acks(1))],
        ApiKey::Fetch => vec![
            R::Fetch(FetchRequest::default()),
            R::Fetch(FetchRequest::default().with_topics(vec![
                    fetch_request::FetchTopic::default()
                        .with_topic(topic(TOPIC))
                        .with_partitions(vec![Default::default()]),
                    fetch_request::FetchTopic::default()
                        .with_topic(topic(MISSING))
                        .with_partitions(vec![Default::default()]),
                ])),
        ],
        ApiKey::ListOffsets => vec![R::ListOffsets(ListOffsetsRequest::default().with_topics(
            vec![
                list_offsets_request::ListOffsetsTopic::default()
                    .with_name(topic(MISSING))
                    .with_partitions(vec![Default::default()]),
            ],
        ))],
        ApiKey::Metadata => vec![
            R::Metadata(MetadataRequest::default()),
            R::Metadata(MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(topic(MISSING))),
            ]))),
        ],
        ApiKey::ApiVersions => vec![R::ApiVersions(
            ApiVersionsRequest::default()
                .with_client_software_name(s("probe"))
                .with_client_software_version(s("1")),
        )],
        ApiKey::CreateTopics => vec![R::CreateTopics(CreateTopicsRequest::default().with_topics(
            vec![
                create_topics_request::CreatableTopic::default()
                    .with_name(topic(TOPIC))
                    .with_num_partitions(1)
                    .with_replication_factor(1),
                create_topics_request::CreatableTopic::default()
                    .with_name(topic("not a valid name!"))
                    .with_num_partitions(1)
                    .with_replication_factor(1),
            ],
        ))],
        ApiKey::DeleteTopics => vec![R::DeleteTopics(
            DeleteTopicsRequest::default()
                .with_topic_names(vec![topic(MISSING)])
                .with_topics(vec![
                    delete_topics_request::DeleteTopicState::default()
                        .with_name(Some(topic(MISSING))),
                ]),
        )],
        ApiKey::CreatePartitions => vec![R::CreatePartitions(
            CreatePartitionsRequest::default().with_topics(vec![
                create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(topic(MISSING))
                    .with_count(3),
            ]),
        )],
        ApiKey::DescribeConfigs => vec![R::DescribeConfigs(
            DescribeConfigsRequest::default()
                .with_include_synonyms(true)
                .with_resources(vec![
                    describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(s(TOPIC))
                        .with_configuration_keys(None),
                    describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(2)
                        .with_resource_name(s(MISSING)),
                    describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(4)
                        .with_resource_name(s("1"))
                        .with_configuration_keys(None),
                ]),
        )],
        ApiKey::AlterConfigs => vec![R::AlterConfigs(
            AlterConfigsRequest::default().with_resources(vec![
                alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s(TOPIC))
                    .with_configs(vec![
                        alter_configs_request::AlterableConfig::default()
                            .with_name(s("retention.ms"))
                            .with_value(Some(s("600000"))),
                    ]),
                alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s(MISSING)),
            ]),
        )],
        ApiKey::IncrementalAlterConfigs => vec![R::IncrementalAlterConfigs(
            IncrementalAlterConfigsRequest::default().with_resources(vec![
                incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s(TOPIC))
                    .with_configs(vec![
                        incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(s("retention.ms"))
                            .with_value(Some(s("700000"))),
                    ]),
                incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s(MISSING)),
            ]),
        )],
        ApiKey::DeleteRecords => vec![R::DeleteRecords(
            DeleteRecordsRequest::default().with_topics(vec![
                delete_records_request::DeleteRecordsTopic::default()
                    .with_name(topic(MISSING))
                    .with_partitions(vec![Default::default()]),
            ]),
        )],
        ApiKey::DescribeCluster => vec![
            R::DescribeCluster(
                DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
            ),
            R::DescribeCluster(DescribeClusterRequest::default().with_endpoint_type(2)),
            R::DescribeCluster(DescribeClusterRequest::default().with_endpoint_type(9)),
        ],
        ApiKey::DescribeLogDirs => vec![R::DescribeLogDirs(
            DescribeLogDirsRequest::default().with_topics(None),
        )],
        ApiKey::InitProducerId => vec![
            R::InitProducerId(InitProducerIdRequest::default().with_transactional_id(None)),
            R::InitProducerId(
                InitProducerIdRequest::default()
                    .with_transactional_id(Some(TransactionalId(s("txn")))),
            ),
        ],
        ApiKey::FindCoordinator => vec![
            R::FindCoordinator(
                FindCoordinatorRequest::default()
                    .with_key(s("group"))
                    .with_coordinator_keys(vec![s("group"), s("")]),
            ),
            R::FindCoordinator(
                FindCoordinatorRequest::default()
                    .with_key(s("txn"))
                    .with_key_type(1)
                    .with_coordinator_keys(vec![s("txn")]),
            ),
        ],
        // An empty group id is refused at once: no rebalance to wait for.
        ApiKey::JoinGroup => vec![R::JoinGroup(
            JoinGroupRequest::default().with_protocol_type(s("consumer")),
        )],
        ApiKey::SyncGroup => vec![R::SyncGroup(SyncGroupRequest::default())],
        ApiKey::Heartbeat => vec![R::Heartbeat(HeartbeatRequest::default())],
        ApiKey::LeaveGroup => vec![R::LeaveGroup(
            LeaveGroupRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_member_id(s("m"))
                .with_members(vec![
                    leave_group_request::MemberIdentity::default().with_member_id(s("m")),
                ]),
        )],
        ApiKey::OffsetCommit => vec![R::OffsetCommit(
            OffsetCommitRequest::default().with_group_id(GroupId(s("g"))),
        )],
        ApiKey::OffsetFetch => vec![R::OffsetFetch(
            OffsetFetchRequest::default()
                .with_group_id(GroupId(s("g")))
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(topic(TOPIC))
                        .with_partition_indexes(vec![0]),
                ]))
                .with_groups(vec![
                    offset_fetch_request::OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(s("g")))
                        .with_topics(None),
                ]),
        )],
        ApiKey::OffsetDelete => vec![R::OffsetDelete(
            OffsetDeleteRequest::default().with_group_id(GroupId(s("g"))),
        )],
        ApiKey::DescribeGroups => vec![R::DescribeGroups(
            DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g"))]),
        )],
        ApiKey::ListGroups => vec![R::ListGroups(ListGroupsRequest::default())],
        ApiKey::DeleteGroups => vec![R::DeleteGroups(
            DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g"))]),
        )],
        ApiKey::CreateAcls => vec![R::CreateAcls(
            CreateAclsRequest::default().with_creations(vec![Default::default()]),
        )],
        ApiKey::DescribeAcls => vec![R::DescribeAcls(DescribeAclsRequest::default())],
        ApiKey::DeleteAcls => vec![R::DeleteAcls(
            DeleteAclsRequest::default().with_filters(vec![Default::default()]),
        )],
        ApiKey::ElectLeaders => vec![
            R::ElectLeaders(ElectLeadersRequest::default().with_topic_partitions(None)),
            R::ElectLeaders(
                ElectLeadersRequest::default().with_topic_partitions(Some(vec![
                    elect_leaders_request::TopicPartitions::default()
                        .with_topic(topic(TOPIC))
                        .with_partitions(vec![0, 7]),
                    elect_leaders_request::TopicPartitions::default()
                        .with_topic(topic(MISSING))
                        .with_partitions(vec![0]),
                ])),
            ),
        ],
        ApiKey::AlterPartitionReassignments => vec![R::AlterPartitionReassignments(
            AlterPartitionReassignmentsRequest::default().with_topics(vec![
                alter_partition_reassignments_request::ReassignableTopic::default()
                    .with_name(topic(TOPIC))
                    .with_partitions(vec![
                        alter_partition_reassignments_request::ReassignablePartition::default()
                            .with_partition_index(0)
                            .with_replicas(Some(vec![BrokerId(1)])),
                        alter_partition_reassignments_request::ReassignablePartition::default()
                            .with_partition_index(0)
                            .with_replicas(None),
                    ]),
                alter_partition_reassignments_request::ReassignableTopic::default()
                    .with_name(topic(MISSING))
                    .with_partitions(vec![Default::default()]),
            ]),
        )],
        ApiKey::ListPartitionReassignments => vec![R::ListPartitionReassignments(
            ListPartitionReassignmentsRequest::default(),
        )],
        ApiKey::DescribeTopicPartitions => vec![
            R::DescribeTopicPartitions(
                DescribeTopicPartitionsRequest::default().with_response_partition_limit(1),
            ),
            R::DescribeTopicPartitions(DescribeTopicPartitionsRequest::default().with_topics(
                vec![describe_topic_partitions_request::TopicRequest::default()
                    .with_name(topic(MISSING))],
            )),
        ],
        ApiKey::DescribeQuorum => vec![
            R::DescribeQuorum(DescribeQuorumRequest::default().with_topics(vec![
                describe_quorum_request::TopicData::default()
                    .with_topic_name(topic("__cluster_metadata"))
                    .with_partitions(vec![Default::default()]),
            ])),
            R::DescribeQuorum(DescribeQuorumRequest::default()),
        ],
        ApiKey::DescribeProducers => vec![R::DescribeProducers(
            DescribeProducersRequest::default().with_topics(vec![
                describe_producers_request::TopicRequest::default()
                    .with_name(topic(TOPIC))
                    .with_partition_indexes(vec![0, 99]),
                describe_producers_request::TopicRequest::default()
                    .with_name(topic(MISSING))
                    .with_partition_indexes(vec![0]),
            ]),
        )],
        ApiKey::ListTransactions => vec![R::ListTransactions(
            ListTransactionsRequest::default().with_state_filters(vec![s("Ongoing"), s("Bogus")]),
        )],
        ApiKey::DescribeTransactions => vec![R::DescribeTransactions(
            DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![TransactionalId(s("txn"))]),
        )],
        ApiKey::AlterReplicaLogDirs => vec![R::AlterReplicaLogDirs(
            AlterReplicaLogDirsRequest::default().with_dirs(vec![
                alter_replica_log_dirs_request::AlterReplicaLogDir::default()
                    .with_path(s("/nowhere"))
                    .with_topics(vec![
                        alter_replica_log_dirs_request::AlterReplicaLogDirTopic::default()
                            .with_name(topic(TOPIC))
                            .with_partitions(vec![0]),
                    ]),
            ]),
        )],
        ApiKey::OffsetForLeaderEpoch => vec![R::OffsetForLeaderEpoch(
            OffsetForLeaderEpochRequest::default().with_topics(vec![
                offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                    .with_topic(topic(TOPIC))
                    .with_partitions(vec![Default::default()]),
                offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                    .with_topic(topic(MISSING))
                    .with_partitions(vec![Default::default()]),
            ]),
        )],
        ApiKey::ListConfigResources => {
            vec![R::ListConfigResources(ListConfigResourcesRequest::default())]
        }
        other => panic!("{other:?} is served but has no probe in conventions_tests"),
    }
}

/// Whether `field` is not nullable in `version` of `api`, so "" is the only
/// way to say "none" there.
fn not_nullable_in(api: ApiKey, version: i16, field: &str) -> bool {
    api == ApiKey::JoinGroup && version < 7 && field == "protocol_name"
}

/// Each `field: Some("")` in `debug` whose field is not on the allow list.
fn empty_nullable_strings(debug: &str) -> Vec<String> {
    const NEEDLE: &str = ": Some(\"\")";
    let mut found = Vec::new();
    let mut rest = debug;
    while let Some(at) = rest.find(NEEDLE) {
        let field = rest[..at]
            .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or_default();
        if !EMPTY_IS_KAFKAS_ANSWER.contains(&field) {
            found.push(field.to_owned());
        }
        rest = &rest[at + NEEDLE.len()..];
    }
    found
}

async fn answer(broker: &Arc<Broker>, api: ApiKey, version: i16, request: RequestKind) -> String {
    let ctx = RequestContext {
        broker: broker.clone(),
        header: RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version),
        api,
        version,
        peer: "127.0.0.1:9".parse().unwrap(),
    };
    let response = match dispatch(ctx, request).await {
        Reply::Now(response) => *response,
        Reply::Later(future) => future.await,
        Reply::Fetch(reply) => {
            let debug = format!("{:?}", reply.response);
            let mut frame = crate::frame::Frame::default();
            frame.start();
            super::fetch::encode::encode(&mut frame, *reply, version)
                .unwrap_or_else(|e| panic!("{api:?} v{version} does not encode: {e:#}"));
            return debug;
        }
        Reply::None => return String::new(),
    };
    let mut buf = BytesMut::new();
    response
        .encode(&mut buf, version)
        .unwrap_or_else(|e| panic!("{api:?} v{version} does not encode: {e:#}\n{response:?}"));
    format!("{response:?}")
}

#[tokio::test]
async fn every_served_response_uses_null_not_empty_strings() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = BrokerConfig::default();
    config.set("listeners", "PLAINTEXT://127.0.0.1:0").unwrap();
    config.set("karst.http.listener", "127.0.0.1:0").unwrap();
    config
        .set("log.dirs", dir.path().to_str().unwrap())
        .unwrap();
    config.set("node.id", "1").unwrap();
    let running = Node::start(config).await.expect("broker starts");
    let broker = running.broker().clone();

    // The topic the probes name exists from the start, so that the APIs
    // walked before CreateTopics (Produce, Fetch, ListOffsets) reach it too.
    for request in probes(ApiKey::CreateTopics) {
        answer(&broker, ApiKey::CreateTopics, 7, request).await;
    }
    let mut failures = Vec::new();
    let mut answered = 0;
    for api in api_table::served_apis() {
        let range = api.valid_versions();
        for version in range.min..=range.max {
            for request in probes(api) {
                let debug = answer(&broker, api, version, request).await;
                answered += 1;
                for field in empty_nullable_strings(&debug) {
                    if not_nullable_in(api, version, &field) {
                        continue;
                    }
                    failures.push(format!("{api:?} v{version}: {field} is Some(\"\")"));
                }
            }
        }
    }
    running.shutdown().await;
    assert!(answered > 100, "walked only {answered} responses");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_scan_finds_an_empty_error_message() {
    let debug = format!(
        "{:?}",
        CreateTopicsResponse::default().with_topics(vec![Default::default()])
    );
    assert_eq!(empty_nullable_strings(&debug), vec!["error_message"]);
}
