"""Retention by size drops old segments and moves the log start offset; a
consumer at an old offset is reset by its auto.offset.reset policy."""

import os

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import wait_until


def test_size_retention_moves_log_start_and_consumers_reset(broker_factory):
    broker = broker_factory(**{"log.retention.check.interval.ms": "200"})
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    config = {"segment.bytes": "16384", "retention.bytes": "65536"}
    admin.create_topics([NewTopic("short", 1, 1, config=config)])["short"].result(30)

    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "batch.num.messages": 1})
    for i in range(2000):
        producer.produce("short", value=f"{i:06d}".encode() + b"x" * 200)
        producer.poll(0)
    assert producer.flush(30) == 0

    partition_dir = broker.data_dir / "short-0"

    def size(path):
        # Retention may delete a segment between the listing and the stat.
        try:
            return os.path.getsize(path)
        except FileNotFoundError:
            return 0

    def log_bytes():
        return sum(size(partition_dir / f) for f in os.listdir(partition_dir) if f.endswith(".log"))

    # 2000 records of ~270 bytes were written; retention keeps about
    # retention.bytes (64 KiB) plus the active segment.
    wait_until(lambda: log_bytes() <= 65536 + 2 * 16384, timeout=30, what="old segments to be deleted")
    probe = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused"})
    start, end = probe.get_watermark_offsets(TopicPartition("short", 0), timeout=10)
    probe.close()
    assert start > 0, "the log start offset moved"
    assert end == 2000

    consumer = Consumer({
        "bootstrap.servers": broker.bootstrap,
        "group.id": "unused",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    consumer.assign([TopicPartition("short", 0, 0)])  # below the log start: OFFSET_OUT_OF_RANGE
    first = None
    for _ in range(60):
        m = consumer.poll(1.0)
        if m is not None and m.error() is None:
            first = m
            break
    consumer.close()
    assert first is not None, "the consumer was reset and received a record"
    assert first.offset() == start, "reset to the earliest offset: the first retained record"
    assert int(first.value()[:6]) == first.offset()
