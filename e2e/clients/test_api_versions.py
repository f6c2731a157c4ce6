"""ApiVersions is generated from the API table: kafka-python infers the
Kafka generation the README claims (4.1, the newest the vendored
kafka-protocol crate fully knows) and sees every API the table serves at the
versions it lists."""

from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient

# (key, min, max) rows the README's table lists as served, spot-checked.
SERVED = {
    0: (3, 13),  # Produce
    1: (4, 18),  # Fetch
    2: (1, 10),  # ListOffsets
    3: (0, 13),  # Metadata
    29: (1, 3),  # DescribeAcls
    30: (1, 3),  # CreateAcls
    31: (1, 3),  # DeleteAcls
    35: (1, 4),  # DescribeLogDirs
    43: (0, 2),  # ElectLeaders
    45: (0, 1),  # AlterPartitionReassignments
    46: (0, 0),  # ListPartitionReassignments
    55: (0, 2),  # DescribeQuorum
    74: (0, 1),  # ListConfigResources
    75: (0, 0),  # DescribeTopicPartitions
}
NOT_SERVED = [17, 24, 26, 68, 76]  # SaslHandshake, AddOffsetsToTxn, EndTxn, ConsumerGroupHeartbeat, ShareGroupHeartbeat


def test_kafka_python_infers_kafka_4_1_and_sees_the_table(broker):
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap)
    assert consumer.config["api_version"] == (4, 1)
    consumer.close()

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    node = admin.describe_cluster()["controller_id"]
    data = admin.get_broker_version_data(node)
    assert data.broker_version == (4, 1)
    versions = {int(key): tuple(v) for key, v in data.api_versions.items()}
    for key, expected in SERVED.items():
        assert versions.get(key) == expected, (key, versions.get(key))
    for key in NOT_SERVED:
        assert key not in versions, key
    admin.close()
