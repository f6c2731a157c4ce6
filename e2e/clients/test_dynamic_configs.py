"""Issue 14: dynamic broker configs. Real clients alter broker settings of
a running 3-node cluster with IncrementalAlterConfigs: the cluster-wide
default (resource name "") reaches every broker, a per-broker value wins
over it, a setting that needs a restart is refused with Kafka's message,
and a value survives a broker restart.

Both Python admin clients refuse an empty broker name before sending (it is
what `kafka-configs.sh --entity-default` sends), so the cluster-default
requests are built with kafka-python's protocol classes and sent through
its connection manager; per-broker changes and every DescribeConfigs use
confluent-kafka's public AdminClient."""

import pytest
from kafka import KafkaAdminClient
from kafka.protocol.admin import IncrementalAlterConfigsRequest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   ConfigSource, NewTopic, ResourceType)

from cluster import Cluster
from conftest import wait_until

TOPIC = "sized"
# Partition p is led by broker p + 1: a record to each partition reaches each broker.
ASSIGNMENT = [[1], [2], [3]]
LIMIT = 10_000
RECORD = b"x" * 20_000


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path).start()
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    topic = NewTopic(TOPIC, num_partitions=3, replication_factor=-1, replica_assignment=ASSIGNMENT)
    admin.create_topics([topic], request_timeout=30)[TOPIC].result(timeout=60)
    yield c
    for n in c.nodes:
        if n.proc.poll() is None:
            n.stop()


class AlterRefused(Exception):
    """An IncrementalAlterConfigs result that carried an error."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def alter(bootstrap, broker, op, name="message.max.bytes", value=None, validate_only=False):
    """One IncrementalAlterConfigs on broker resource `broker` ("" is the
    cluster default); raises AlterRefused with the result's code and message."""
    if broker:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        entry = ConfigEntry(name, value, incremental_operation=op)
        resource = ConfigResource(ResourceType.BROKER, broker, incremental_configs=[entry])
        try:
            admin.incremental_alter_configs([resource], validate_only=validate_only,
                                            request_timeout=30)[resource].result(timeout=60)
        except KafkaException as e:
            raise AlterRefused(e.args[0].code(), e.args[0].str()) from e
        return
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        request = IncrementalAlterConfigsRequest(
            resources=[(ResourceType.BROKER.value, "", [(name, op.value, value)])],
            validate_only=validate_only)
        response = admin._manager.run(admin._manager.send, request)
    finally:
        admin.close()
    (result,) = response.responses
    if result.error_code:
        raise AlterRefused(result.error_code, result.error_message)


def described(node, name="message.max.bytes"):
    """(value, source, read_only) of a setting as `node` describes itself."""
    admin = AdminClient({"bootstrap.servers": node.bootstrap})
    resource = ConfigResource(ResourceType.BROKER, str(node.node_id))
    entry = admin.describe_configs([resource], request_timeout=30)[resource].result(timeout=60)[name]
    return entry.value, ConfigSource(entry.source), entry.is_read_only


def produce_outcomes(bootstrap):
    """The error code (0: written) of one RECORD produced to each partition, by partition."""
    outcomes = {}

    def delivered(err, msg):
        outcomes[msg.partition()] = err.code() if err else 0

    producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 1_000_000,
                         "linger.ms": 0, "acks": "all"})
    for partition in range(3):
        producer.produce(TOPIC, RECORD, partition=partition, on_delivery=delivered)
    assert producer.flush(60) == 0, "every send got an answer"
    return outcomes


TOO_LARGE = KafkaError.MSG_SIZE_TOO_LARGE


def test_cluster_default_reaches_every_broker_and_delete_restores(cluster):
    bootstrap = cluster.bootstrap
    assert produce_outcomes(cluster.bootstrap) == {0: 0, 1: 0, 2: 0}
    default_value, source, read_only = described(cluster.brokers[0])
    assert source == ConfigSource.DEFAULT_CONFIG and not read_only

    alter(bootstrap, "", AlterConfigOpType.SET, value=str(LIMIT))
    for node in cluster.brokers:
        wait_until(lambda node=node: described(node)[:2] == (str(LIMIT), ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
                   what=f"broker {node.node_id} to report the cluster default")
    assert produce_outcomes(cluster.bootstrap) == {0: TOO_LARGE, 1: TOO_LARGE, 2: TOO_LARGE}

    alter(bootstrap, "", AlterConfigOpType.DELETE)
    for node in cluster.brokers:
        wait_until(lambda node=node: described(node)[:2] == (default_value, ConfigSource.DEFAULT_CONFIG),
                   what=f"broker {node.node_id} to report the built-in default again")
    assert produce_outcomes(cluster.bootstrap) == {0: 0, 1: 0, 2: 0}


def test_a_per_broker_value_wins_over_the_cluster_default(cluster):
    bootstrap = cluster.bootstrap
    alter(bootstrap, "", AlterConfigOpType.SET, value=str(LIMIT))
    alter(bootstrap, "2", AlterConfigOpType.SET, value="50000")
    b1, b2, b3 = cluster.brokers
    wait_until(lambda: described(b2)[:2] == ("50000", ConfigSource.DYNAMIC_BROKER_CONFIG),
               what="broker 2 to report its own value")
    for node in (b1, b3):
        wait_until(lambda node=node: described(node)[0] == str(LIMIT), what="the others keep the default")
    # Broker 2 leads partition 1.
    assert produce_outcomes(cluster.bootstrap) == {0: TOO_LARGE, 1: 0, 2: TOO_LARGE}

    # Legacy AlterConfigs (all of a resource's dynamic configs at once) works too.
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ResourceType.BROKER, "3", set_config={"message.max.bytes": "60000"})
    admin.alter_configs([resource], request_timeout=30)[resource].result(timeout=60)
    wait_until(lambda: described(b3)[:2] == ("60000", ConfigSource.DYNAMIC_BROKER_CONFIG),
               what="broker 3 to report its own value")
    assert produce_outcomes(cluster.bootstrap) == {0: TOO_LARGE, 1: 0, 2: 0}


def test_a_setting_that_needs_a_restart_is_refused_with_kafkas_message(cluster):
    bootstrap = cluster.bootstrap
    with pytest.raises(AlterRefused) as refused:
        alter(bootstrap, "", AlterConfigOpType.SET, name="log.dirs", value="/elsewhere")
    assert refused.value.code == KafkaError.INVALID_REQUEST
    assert refused.value.message == "Cannot update these configs dynamically: Set(log.dirs)"
    with pytest.raises(AlterRefused) as per_broker:
        alter(bootstrap, "1", AlterConfigOpType.SET, name="num.partitions", value="3")
    assert per_broker.value.code == KafkaError.INVALID_REQUEST
    assert "Cannot update these configs dynamically: Set(num.partitions)" in per_broker.value.message
    with pytest.raises(AlterRefused) as bad:
        alter(bootstrap, "", AlterConfigOpType.SET, value="lots")
    assert bad.value.code == KafkaError.INVALID_CONFIG
    assert "message.max.bytes" in bad.value.message
    # validate_only checks without applying.
    alter(bootstrap, "", AlterConfigOpType.SET, value=str(LIMIT), validate_only=True)
    assert described(cluster.brokers[0])[1] == ConfigSource.DEFAULT_CONFIG


def test_a_dynamic_value_survives_a_broker_restart(cluster):
    bootstrap = cluster.bootstrap
    alter(bootstrap, "", AlterConfigOpType.SET, value=str(LIMIT))
    b3 = cluster.brokers[2]
    wait_until(lambda: described(b3)[0] == str(LIMIT), what="broker 3 to apply the default")
    b3.stop()
    b3.start()
    cluster.wait_all_live()
    assert described(b3)[:2] == (str(LIMIT), ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)
    wait_until(lambda: produce_outcomes(cluster.bootstrap)[2] == TOO_LARGE,
               what="broker 3 (leader of partition 2) to refuse the large record again")
