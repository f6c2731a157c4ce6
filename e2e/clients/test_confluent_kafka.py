"""librdkafka through confluent-kafka: admin, 100,000 keyed records with
acks=all read back exactly, offsets by timestamp, topic configs."""

import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

RECORDS = 100_000
PARTITIONS = 4


def create_topic(bootstrap, name, partitions, config=None):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})])
    futures[name].result(timeout=30)
    return admin


def consume_partition(bootstrap, topic, partition, start, count, timeout=60):
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "unused-assign-only",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    consumer.assign([TopicPartition(topic, partition, start)])
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        for m in consumer.consume(num_messages=10_000, timeout=1.0):
            if m.error():
                raise KafkaException(m.error())
            got.append(m)
    consumer.close()
    return got


def test_hundred_thousand_keyed_records_come_back_in_order_per_partition(broker):
    admin = create_topic(broker.bootstrap, "orders", PARTITIONS)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5})
    delivered = {p: [] for p in range(PARTITIONS)}
    failures = []

    def on_delivery(err, msg):
        if err:
            failures.append(err)
        else:
            delivered[msg.partition()].append((msg.offset(), msg.key(), msg.value(), msg.timestamp()[1]))

    for i in range(RECORDS):
        while True:
            try:
                producer.produce("orders", key=f"key-{i % 977}".encode(), value=f"value-{i}".encode(), on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0
    assert not failures, failures[:3]
    assert sum(len(v) for v in delivered.values()) == RECORDS

    for partition, sent in delivered.items():
        sent.sort()
        assert [o for o, *_ in sent] == list(range(len(sent))), "offsets are dense from 0"
        got = consume_partition(broker.bootstrap, "orders", partition, 0, len(sent))
        assert [(m.offset(), m.key(), m.value()) for m in got] == [(o, k, v) for o, k, v, _ in sent]

    # Offsets by timestamp: the first record at or after each probe time.
    partition0 = sorted(delivered[0])
    probe = partition0[len(partition0) // 2]
    expected = next(o for o, _, _, ts in partition0 if ts >= probe[3])
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused"})
    found = consumer.offsets_for_times([TopicPartition("orders", 0, probe[3])], timeout=30)
    assert found[0].offset == expected
    late = consumer.offsets_for_times([TopicPartition("orders", 0, partition0[-1][3] + 60_000)], timeout=30)
    assert late[0].offset == -1, "no record at or after a future time"
    consumer.close()

    resource = ConfigResource(ConfigResource.Type.TOPIC, "orders")
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    assert configs["retention.ms"].value == str(7 * 24 * 3600 * 1000)
    assert configs["retention.ms"].is_default


def test_topic_configs_are_set_at_creation_and_altered(broker):
    admin = create_topic(broker.bootstrap, "configured", 1, {"retention.ms": "60000", "cleanup.policy": "delete"})
    resource = ConfigResource(ConfigResource.Type.TOPIC, "configured")
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    assert configs["retention.ms"].value == "60000"
    assert not configs["retention.ms"].is_default
    admin.incremental_alter_configs([
        ConfigResource(ConfigResource.Type.TOPIC, "configured", incremental_configs=[
            ConfigEntry("retention.ms", "120000", incremental_operation=AlterConfigOpType.SET)
        ])
    ])[ConfigResource(ConfigResource.Type.TOPIC, "configured")].result(timeout=30)
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    assert configs["retention.ms"].value == "120000"
