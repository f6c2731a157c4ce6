"""A broker with a small file limit refuses what it could not open, whole,
and keeps serving and restarting (issue 9: one CreateTopics of 1,400
partitions used to take a 4,096-descriptor broker down for good)."""

import pathlib

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def create(admin, name, partitions):
    """CreateTopics of one topic; None on success, else the KafkaError."""
    future = admin.create_topics([NewTopic(name, partitions, 1)], request_timeout=60)[name]
    try:
        future.result(timeout=90)
        return None
    except KafkaException as e:
        return e.args[0]


def partition_dirs(data_dir: pathlib.Path, topic: str) -> int:
    return sum(1 for p in data_dir.iterdir() if p.is_dir() and p.name.rsplit("-", 1)[0] == topic)


def test_5000_partitions_on_a_1024_file_limit_are_refused_whole_and_the_broker_keeps_serving(broker_factory):
    broker = broker_factory(nofile=1024)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})

    error = create(admin, "huge", 5000)
    assert error is not None and error.code() == KafkaError.POLICY_VIOLATION, error
    assert "max.broker.partitions" in error.str()
    assert "huge" not in admin.list_topics(timeout=30).topics
    assert partition_dirs(broker.data_dir, "huge") == 0

    # What fits is created and used.
    assert create(admin, "fits", 100) is None
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    delivered = []
    for i in range(100):
        producer.produce("fits", value=f"v{i}".encode(), partition=i,
                         on_delivery=lambda err, msg: delivered.append(err))
    assert producer.flush(60) == 0
    assert delivered == [None] * 100

    # And it restarts with everything, under the same limit.
    broker.stop()
    broker.restart()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topics = admin.list_topics(timeout=30).topics
    assert "huge" not in topics
    assert len(topics["fits"].partitions) == 100
    consumer = Consumer({
        "bootstrap.servers": broker.bootstrap,
        "group.id": "limits",
        "auto.offset.reset": "earliest",
    })
    consumer.subscribe(["fits"])
    values = set()
    try:
        while len(values) < 100:
            msg = consumer.poll(30)
            if msg is None:
                pytest.fail(f"only {len(values)} of 100 records came back")
            assert msg.error() is None, msg.error()
            values.add(msg.value())
    finally:
        consumer.close()
    assert values == {f"v{i}".encode() for i in range(100)}
