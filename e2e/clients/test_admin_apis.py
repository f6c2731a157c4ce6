"""Admin APIs with single-node answers, called by real clients the way ops
tools call them, and answered as a Kafka 4.x broker would: ACLs without an
authorizer, leader elections, partition reassignments, paginated topic
descriptions, the metadata quorum, transactions, log dirs, producers."""

import pytest
from confluent_kafka import ElectionType, KafkaError, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)
from kafka import KafkaProducer
from kafka import TopicPartition as PyTopicPartition
from kafka import errors as py_errors
from kafka.admin import (
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePatternFilter,
)
from kafka.admin import ResourceType as PyResourceType


def create(admin, name, partitions=1):
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    futures[name].result(timeout=30)


def node_id(admin):
    return admin.describe_cluster().result(timeout=30).controller.id


def test_acl_apis_answer_security_disabled_and_the_broker_keeps_serving(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    everything = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY
    )
    # librdkafka drops DescribeAcls' top-level error (against Kafka too) and
    # shows an empty list; kafka-python reports the code and Kafka's message.
    assert admin.describe_acls(everything).result(timeout=30) == []
    py = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    any_acl = ACLFilter(
        principal=None,
        host="*",
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(PyResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    with pytest.raises(py_errors.SecurityDisabledError, match="No Authorizer is configured."):
        py.describe_acls(any_acl)
    py.close()

    binding = AclBinding(
        ResourceType.TOPIC, "t", ResourcePatternType.LITERAL, "User:alice", "*", AclOperation.READ, AclPermissionType.ALLOW
    )
    with pytest.raises(KafkaException) as created:
        admin.create_acls([binding])[binding].result(timeout=30)
    assert created.value.args[0].code() == KafkaError.SECURITY_DISABLED, created.value

    with pytest.raises(KafkaException) as deleted:
        admin.delete_acls([everything])[everything].result(timeout=30)
    assert deleted.value.args[0].code() == KafkaError.SECURITY_DISABLED, deleted.value

    # The same connection goes on serving other admin calls.
    create(admin, "after-acls")
    assert "after-acls" in admin.list_topics(timeout=30).topics


def test_elect_leaders_is_not_needed_for_known_partitions_and_unknown_for_others(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create(admin, "elect", partitions=2)
    known, missing = TopicPartition("elect", 1), TopicPartition("no-such-topic", 0)
    results = admin.elect_leaders(ElectionType.PREFERRED, [known, missing]).result(timeout=30)
    assert results[known].code() == KafkaError.ELECTION_NOT_NEEDED, results
    assert results[missing].code() == KafkaError.UNKNOWN_TOPIC_OR_PART, results

    # kafka-python names every partition of the topic: none needs an election.
    py = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    response = py.elect_leaders(0, ["elect"], raise_errors=False)
    assert response.error_code == 0
    ((topic, partitions),) = [(r.topic, r.partition_result) for r in response.replica_election_results]
    assert topic == "elect" and sorted(p.partition_id for p in partitions) == [0, 1]
    assert {p.error_code for p in partitions} == {py_errors.ElectionNotNeededError.errno}
    py.close()


def test_describe_topics_with_partitions_and_authorized_operations(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create(admin, "described", partitions=3)
    me = node_id(admin)
    topic = admin.describe_topics(TopicCollection(["described"]), include_authorized_operations=True)[
        "described"
    ].result(timeout=30)
    assert [p.id for p in topic.partitions] == [0, 1, 2]
    assert all(p.leader.id == me and [r.id for r in p.isr] == [me] for p in topic.partitions)
    # No authorizer: every operation a topic supports, as Kafka reports.
    assert {AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE_CONFIGS} <= set(topic.authorized_operations)

    cluster = admin.describe_cluster(include_authorized_operations=True).result(timeout=30)
    assert {AclOperation.ALTER, AclOperation.IDEMPOTENT_WRITE} <= set(cluster.authorized_operations)


def test_partition_reassignments_are_a_no_op_to_the_current_replicas(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create(admin, "moved", partitions=2)
    me = node_id(admin)
    py = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    same = PyTopicPartition("moved", 0)
    elsewhere = PyTopicPartition("moved", 1)
    unknown = PyTopicPartition("no-such-topic", 0)
    results = py.alter_partition_reassignments({same: [me], elsewhere: [me + 1], unknown: [me]})
    assert results[same] is None, results
    assert results[elsewhere] is py_errors.InvalidReplicationAssignmentError, results
    assert results[unknown] is py_errors.UnknownTopicOrPartitionError, results
    # Cancelling when nothing moves.
    cancelled = py.alter_partition_reassignments({same: None})
    assert cancelled[same] is py_errors.NoReassignmentInProgressError, cancelled
    # Nothing is in progress, and the connection still serves.
    assert py.list_partition_reassignments() == {}
    assert py.list_partition_reassignments({"moved": [0, 1]}) == {}
    py.close()


def test_describe_topic_partitions_pages_with_a_cursor(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create(admin, "page-a", partitions=3)
    create(admin, "page-b", partitions=2)
    py = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    seen, cursor, pages = [], None, 0
    while True:
        page = py.describe_topic_partitions(["page-b", "page-a"], response_partition_limit=2, cursor=cursor)
        pages += 1
        for topic in page["topics"]:
            assert topic["error_code"] == 0, topic
            seen += [(topic["name"], p["partition_index"]) for p in topic["partitions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10, "the cursor never ends"
    assert seen == [("page-a", 0), ("page-a", 1), ("page-a", 2), ("page-b", 0), ("page-b", 1)]
    assert pages == 3

    missing = py.describe_topic_partitions(["no-such-topic"])
    assert missing["topics"][0]["error_code"] == py_errors.UnknownTopicOrPartitionError.errno
    py.close()


def test_metadata_quorum_has_this_node_as_its_only_voter_and_leader(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    me = node_id(admin)
    py = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    quorum = py.describe_metadata_quorum()
    (topic,) = quorum["topics"]
    assert topic["topic_name"] == "__cluster_metadata"
    (partition,) = topic["partitions"]
    assert partition["leader_id"] == me and partition["high_watermark"] > 0
    assert [v["replica_id"] for v in partition["current_voters"]] == [me]
    assert partition["observers"] == []
    py.close()


def test_no_transactions_are_listed_or_known(broker):
    py = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    me = node_id(AdminClient({"bootstrap.servers": broker.bootstrap}))
    assert py.list_transactions() == {me: []}
    with pytest.raises(py_errors.TransactionalIdNotFoundError):
        py.describe_transactions(["some-txn"])
    py.close()


def test_config_resources_and_replica_log_dirs(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create(admin, "configured")
    me = node_id(admin)
    py = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    resources = py.list_config_resources()
    assert "configured" in resources["topic"] and resources["broker"] == [str(me)], resources

    here = (("configured", 0, me), str(broker.data_dir))
    away = (("configured", 0, me), "/no/such/dir")
    moved = py.alter_replica_log_dirs(dict([here]))
    assert list(moved.values()) == [py_errors.NoError], moved
    refused = py.alter_replica_log_dirs(dict([away]))
    assert list(refused.values()) == [py_errors.LogDirNotFoundError], refused
    py.close()


def test_describe_producers_shows_an_idempotent_producers_last_batch(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create(admin, "produced", partitions=2)
    me = node_id(admin)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=True, acks="all")
    for i in range(5):
        producer.send("produced", value=b"v%d" % i, partition=0, timestamp_ms=1_000 + i)
    producer.flush()
    # A batch of its own: its max timestamp is what DescribeProducers reports.
    producer.send("produced", value=b"last", partition=0, timestamp_ms=2_000).get(timeout=30)
    producer.close()

    py = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    states = py.describe_producers([PyTopicPartition("produced", 0), PyTopicPartition("produced", 1)])
    (active,) = states[PyTopicPartition("produced", 0)].active_producers
    assert active.producer_id >= 0 and active.producer_epoch == 0
    assert (active.last_sequence, active.last_timestamp) == (5, 2_000), active
    # No transactions: Kafka's "none" for the coordinator epoch and transaction start.
    assert (active.coordinator_epoch, active.current_transaction_start_offset) == (-1, -1)
    assert states[PyTopicPartition("produced", 1)].active_producers == []

    with pytest.raises(py_errors.UnknownTopicOrPartitionError):
        py.describe_producers([PyTopicPartition("produced", 7)], broker_id=me)
    with pytest.raises(py_errors.UnknownTopicOrPartitionError):
        py.describe_producers([PyTopicPartition("never-created", 0)], broker_id=me)
    # The broker keeps serving after the errors.
    again = py.describe_producers([PyTopicPartition("produced", 0)], broker_id=me)
    assert again[PyTopicPartition("produced", 0)].active_producers == [active]
    py.close()
